//! Analytics on PostgreSQL: engagement scores moved by likes, comments and sessions, a user's
//! insights and weekly trends, an article's analytics (its author only), and the admin reports
//! (admins only).

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{assert_documented, eventually, TestApp};
use crate::routes::expect_json;
use crate::routes::{new_article, With};

fn post(title: &str) -> Value {
    new_article(title).with("tagList", json!(["rust"]))
}

/// The user's engagement score and activity summary in `user_analytics`, if there is a row.
async fn score(pg_url: &str, user: u64) -> Option<(f64, Value)> {
    use sqlx::Connection;
    let mut pg = sqlx::PgConnection::connect(pg_url).await.unwrap();
    sqlx::query_as(
        "SELECT engagement_score::float8, activity_summary FROM user_analytics WHERE user_id = $1",
    )
    .bind(user as i64)
    .fetch_optional(&mut pg)
    .await
    .unwrap()
}

/// Waits up to 2 s for the user's score to be `expected` (to 0.005), and returns the row.
async fn score_reaches(pg_url: &str, user: u64, expected: f64, what: &str) -> (f64, Value) {
    eventually(Duration::from_secs(2), what, || async {
        score(pg_url, user)
            .await
            .filter(|(s, _)| (*s - expected).abs() < 0.005)
    })
    .await
}

#[tokio::test]
async fn likes_and_comments_reach_the_activity_log_and_move_engagement_scores_by_the_formula() {
    let app = TestApp::spawn().await;
    let author = app.register("author").await;
    let fan = app.register("fan").await;
    let slug = app.publish(&author, post("Liked post")).await;
    assert_eq!(app.favorite(&fan, &slug).await.status(), 200);
    // A second favorite by the same user is no new like.
    assert_eq!(app.favorite(&fan, &slug).await.status(), 200);
    assert_eq!(app.add_comment(&fan, &slug, "Nice").await.status(), 200);

    let pg_url = app.dbs.config.postgres_url.clone();
    // Author: one post published (10) + one like received (1) = raw 11 → 100 × (1 − e^−0.11) = 10.42.
    let (author_score, author_summary) =
        score_reaches(&pg_url, author.id, 10.42, "the author's score").await;
    assert_eq!(author_summary["post.created"], 1);
    assert_eq!(author_summary["post.liked"], 1);
    // Fan: one comment written (3) → 100 × (1 − e^−0.03) = 2.96.
    let (fan_score, fan_summary) = score_reaches(&pg_url, fan.id, 2.96, "the fan's score").await;
    assert_eq!(fan_summary["comment.created"], 1);
    println!("engagement: author {author_score}, fan {fan_score}");
    // A session moves the score at once: + 30 minutes × 0.2 = 6, and a one-day streak (2):
    // raw 11 → 10.42.
    let half_video = json!({ "contentType": "video", "durationMinutes": 30, "completion": 50 });
    app.record_session_ok(&fan, half_video).await;
    let (s, _) = score(&pg_url, fan.id).await.unwrap();
    assert!((s - 10.42).abs() < 0.005, "{s}");
    // A 20-minute session that ended a week ago counts half (PostgreSQL sums the decayed
    // minutes): + 20 × 0.5 × 0.2 = 2, the streak unchanged: raw 13 → 12.19.
    let week_ago = (chrono::Utc::now() - chrono::Duration::days(7)).to_rfc3339();
    let old_video = json!({ "contentType": "video", "durationMinutes": 20, "endedAt": week_ago });
    app.record_session_ok(&fan, old_video).await;
    let (s, _) = score(&pg_url, fan.id).await.unwrap();
    assert!((s - 12.19).abs() < 0.005, "{s}");
}

#[tokio::test]
async fn insights_article_analytics_for_the_author_only_and_admin_reports_for_admins_only() {
    let app = TestApp::spawn().await;
    let author = app.register("analyst").await;
    let reader = app.register("reader").await;
    let slug = app.publish(&author, post("Measured post")).await;
    for _ in 0..3 {
        assert_eq!(app.get_article(&slug, None).await.status(), 200);
    }
    assert_eq!(app.favorite(&reader, &slug).await.status(), 200);
    assert_eq!(app.add_comment(&reader, &slug, "Hi").await.status(), 200);
    let tutorial = json!({ "contentType": "tutorial", "technologies": ["rust"],
                           "durationMinutes": 30, "rating": 4 });
    app.record_session_ok(&author, tutorial).await;
    let video = json!({ "contentType": "video", "technologies": ["rust", "go"],
                        "durationMinutes": 10 });
    app.record_session_ok(&reader, video).await;

    let insights = app.insights_ok(&author, "weeks=4").await;
    assert_documented(&insights, "InsightsResponse");
    assert_eq!(insights["insights"]["sessions_30d"], 1);
    assert_eq!(insights["insights"]["minutes_30d"], 30);
    assert_eq!(insights["insights"]["top_technologies"], json!(["rust"]));
    let weeks = insights["weeklyTrends"].as_array().unwrap();
    assert_eq!(weeks.len(), 4);
    assert_eq!(weeks[3]["sessions"], 1, "this week");
    assert_eq!(weeks[3]["minutes"], 30);
    assert_eq!(weeks[0]["sessions"], 0);
    let clipped = app.insights_ok(&author, "weeks=52").await;
    assert_eq!(
        clipped["weeks"], 4,
        "the free plan keeps 30 days of analytics"
    );
    assert_eq!(app.insights(&author, "weeks=0").await.status(), 422);

    let week = format!("{slug}?days=7");
    let stats: Value = eventually(
        Duration::from_secs(2),
        "the like and comment in the activity log and the post's counts",
        || async {
            let s: Value = app
                .article_analytics(&author, &week)
                .await
                .json()
                .await
                .unwrap();
            let today = s["daily"].as_array().unwrap().last().cloned().unwrap();
            // The relay logs the activity, then counts it into the post: wait for both.
            let counted = s["totals"]["likes"] == 1 && s["totals"]["comments"] == 1;
            (today["likes"] == 1 && today["comments"] == 1 && counted).then_some(s)
        },
    )
    .await;
    assert_documented(&stats, "ArticleAnalyticsResponse");
    assert_eq!(stats["days"], 7);
    assert_eq!(stats["daily"].as_array().unwrap().len(), 7);
    let today = stats["daily"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(today["views"], 3);
    assert_eq!(stats["totals"]["likes"], 1);
    assert_eq!(stats["totals"]["comments"], 1);
    assert_eq!(
        app.article_analytics(&reader, &week).await.status(),
        403,
        "not the author"
    );
    assert_eq!(app.article_analytics(&author, "nope").await.status(), 404);

    // Admin reports: 403 until the role is granted in MySQL (by `techhub admin`).
    for report in ["active-users", "top-technologies", "engagement"] {
        let status = app.admin_report(&author, report).await.status();
        assert_eq!(status, 403, "/api/admin/reports/{report}");
    }
    let (_, dashboard) = app.dashboard_ok(&author).await;
    assert_eq!(dashboard["account"]["role"], "user");
    let granted = std::process::Command::new(env!("CARGO_BIN_EXE_techhub"))
        .args(["admin", "analyst"])
        .envs(app.dbs.env())
        .output()
        .unwrap();
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&granted.stdout).trim(),
        "analyst is now an admin"
    );
    // The dashboard cached before shows the new role at once (the command drops it).
    let (cache, dashboard) = app.dashboard_ok(&author).await;
    assert_eq!(
        (cache.as_str(), &dashboard["account"]["role"]),
        ("miss", &json!("admin"))
    );
    let active = app
        .admin_report_ok(&author, "active-users?period=day&count=3")
        .await;
    assert_documented(&active, "ActiveUsersReport");
    let days = active["activeUsers"].as_array().unwrap();
    assert_eq!(days.len(), 3);
    assert_eq!(
        days[2]["activeUsers"], 2,
        "author and reader were active today"
    );
    let top = app.admin_report_ok(&author, "top-technologies").await;
    assert_documented(&top, "TopTechnologiesReport");
    assert_eq!(top["technologies"][0]["technology"], "rust");
    assert_eq!(top["technologies"][0]["sessions"], 2);
    assert_eq!(top["technologies"][0]["learners"], 2);
    assert_eq!(top["technologies"][1]["technology"], "go");
    let bands = app.admin_report_ok(&author, "engagement").await;
    assert_documented(&bands, "EngagementReport");
    let bands = bands["distribution"].as_array().unwrap();
    assert_eq!(bands.len(), 10);
    assert_eq!(
        bands
            .iter()
            .map(|b| b["users"].as_i64().unwrap())
            .sum::<i64>(),
        2
    );
    let by_year = app.admin_report(&author, "active-users?period=year").await;
    assert_eq!(by_year.status(), 422);
    assert_eq!(app.admin_report(&reader, "engagement").await.status(), 403);

    // Before a user's analytics exist (the relay has not projected the registration yet, as
    // here where their row is taken away): zeros, in the same shape.
    let early = app.register("early").await;
    app.settled().await;
    sqlx::query("DELETE FROM user_analytics WHERE user_id = $1")
        .bind(early.id as i64)
        .execute(app.stores.postgres.pool())
        .await
        .unwrap();
    let response = app.insights(&early, "weeks=4").await;
    let empty = expect_json(response, 200, "insights without analytics").await;
    assert_documented(&empty, "InsightsResponse");
    assert_eq!(empty["insights"]["total_points"], 0);
    assert_eq!(empty["insights"]["top_technologies"], json!([]));
    assert_eq!(empty["weeklyTrends"].as_array().unwrap().len(), 4);
}
