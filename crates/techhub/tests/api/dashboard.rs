//! Learning sessions, the cross-store dashboard, its cache, and outages of PostgreSQL and Redis.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{TestApp, TestUser};
use crate::proxy::{Mode, TcpProxy};

async fn session(app: &TestApp, user: &TestUser, body: Value) -> reqwest::Response {
    app.post(
        "/api/learning/sessions",
        json!({ "session": body }),
        Some(&user.token),
    )
    .await
}

async fn dashboard(app: &TestApp, user: &TestUser) -> (String, Value) {
    let r = app.get_auth("/api/dashboard", &user.token).await;
    assert_eq!(r.status(), 200);
    let cache = r
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (cache, r.json::<Value>().await.unwrap()["dashboard"].clone())
}

/// Waits until every event so far is delivered (the outbox and the posts' pending events), so
/// the invalidations they carry cannot land in the middle of a cache assertion.
async fn settled(app: &TestApp) {
    use sqlx::Connection;
    let mysql_url = app.dbs.config.mysql_url.clone();
    crate::helpers::eventually(Duration::from_secs(3), "all events delivered", || async {
        let mut db = sqlx::MySqlConnection::connect(&mysql_url).await.unwrap();
        let pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status <> 'delivered'")
                .fetch_one(&mut db)
                .await
                .unwrap();
        let due = app
            .mongo()
            .collection::<mongodb::bson::Document>("posts")
            .count_documents(mongodb::bson::doc! { "eventsDueAt": { "$exists": true } })
            .await
            .unwrap();
        (pending == 0 && due == 0).then_some(())
    })
    .await;
}

async fn publish(app: &TestApp, user: &TestUser, title: &str) -> String {
    let r = app
        .post("/api/articles", json!({ "article": { "title": title, "description": "d", "body": "b", "tagList": ["rust"] } }), Some(&user.token))
        .await;
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["article"]["slug"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Streak days are calendar days in the user's time zone (`user_analytics.timezone`), and a
/// zone PostgreSQL does not know counts as UTC rather than failing the session.
#[tokio::test]
async fn streak_days_follow_the_users_time_zone_and_an_unknown_zone_counts_as_utc() {
    let app = TestApp::spawn().await;
    let pg = app.stores.postgres.pool().clone();
    let mut streaks = Vec::new();
    for (name, zone) in [("tokyo", "Asia/Tokyo"), ("nowhere", "Not/A_Zone")] {
        let user = app.register(name).await;
        // The projection of the registration sets the zone: set ours after it has landed.
        crate::helpers::eventually(Duration::from_secs(3), "analytics row projected", || {
            let pg = pg.clone();
            async move {
                let named: Option<Option<String>> =
                    sqlx::query_scalar("SELECT username FROM user_analytics WHERE user_id = $1")
                        .bind(user.id as i64)
                        .fetch_optional(&pg)
                        .await
                        .unwrap();
                named.flatten().map(|_| ())
            }
        })
        .await;
        sqlx::query("UPDATE user_analytics SET timezone = $2 WHERE user_id = $1")
            .bind(user.id as i64)
            .bind(zone)
            .execute(&pg)
            .await
            .unwrap();
        // 01:00, 15:30 UTC on the 11th and 00:30 UTC on the 12th; in Tokyo (UTC+9) 10:00 on
        // the 11th, then 00:30 and 09:30 on the 12th.
        let mut standing = Vec::new();
        for ended in [
            "2026-11-11T01:00:00Z",
            "2026-11-11T15:30:00Z",
            "2026-11-12T00:30:00Z",
        ] {
            let r = session(
                &app,
                &user,
                json!({ "contentType": "video", "durationMinutes": 10,
                "completion": 50, "endedAt": ended }),
            )
            .await;
            assert_eq!(r.status(), 201, "{name} at {ended}");
            let body: Value = r.json().await.unwrap();
            standing.push(body["standing"]["streakDays"].as_i64().unwrap());
        }
        let day: chrono::NaiveDate =
            sqlx::query_scalar("SELECT last_active_day FROM user_analytics WHERE user_id = $1")
                .bind(user.id as i64)
                .fetch_one(&pg)
                .await
                .unwrap();
        streaks.push((name, standing, day.to_string()));
    }
    assert_eq!(
        streaks,
        [
            // Tokyo: the 11th (10:00), then the 12th twice.
            ("tokyo", vec![1, 2, 2], "2026-11-12".to_string()),
            // UTC: the 11th twice, then the 12th.
            ("nowhere", vec![1, 1, 2], "2026-11-12".to_string()),
        ]
    );
}

#[tokio::test]
async fn sessions_move_points_streak_and_progress_as_computed_by_hand() {
    let app = TestApp::spawn().await;
    let user = app.register("learner").await;
    // Day 1, 23:30 UTC: 30 minutes, finished → 30 + 10 bonus = 40 points, streak 1.
    let r = session(
        &app,
        &user,
        json!({ "contentType": "tutorial", "technologies": ["Rust", "rust", "sql"],
        "durationMinutes": 30, "completion": 100, "rating": 5, "endedAt": "2026-11-10T23:30:00Z" }),
    )
    .await;
    assert_eq!(r.status(), 201);
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["session"]["points"], 40);
    assert_eq!(first["session"]["technologies"], json!(["rust", "sql"]));
    assert_eq!(first["session"]["startedAt"], "2026-11-10T23:00:00.000Z");
    assert_eq!(first["standing"]["totalPoints"], 40);
    assert_eq!(first["standing"]["streakDays"], 1);
    // Day 2, 00:30 UTC, an hour later but across midnight: 45 min at 50 % → 22; streak 2.
    let second: Value = session(
        &app,
        &user,
        json!({ "contentType": "video", "technologies": ["rust"],
        "durationMinutes": 45, "completion": 50, "endedAt": "2026-11-11T00:30:00Z" }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(second["session"]["points"], 22);
    assert_eq!(second["standing"]["totalPoints"], 62);
    assert_eq!(second["standing"]["streakDays"], 2);
    assert_eq!(
        second["standing"]["learningProgress"]["rust"],
        json!({ "minutes": 75, "sessions": 2, "completed": 1 })
    );
    assert_eq!(
        second["standing"]["learningProgress"]["sql"],
        json!({ "minutes": 30, "sessions": 1, "completed": 1 })
    );
    // Same day again: streak stays 2.
    let third: Value = session(
        &app,
        &user,
        json!({ "contentType": "exercise", "durationMinutes": 10, "completion": 100,
        "endedAt": "2026-11-11T20:00:00Z" }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (
            third["standing"]["streakDays"].as_i64(),
            third["standing"]["totalPoints"].as_i64()
        ),
        (Some(2), Some(82))
    );
    // Day 3 skipped, day 4: the streak starts again; the longest stays 2.
    let fourth: Value = session(
        &app,
        &user,
        json!({ "contentType": "course", "durationMinutes": 60, "completion": 25,
        "endedAt": "2026-11-13T09:00:00Z" }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(fourth["standing"]["streakDays"], 1);
    assert_eq!(fourth["standing"]["longestStreak"], 2);
    assert_eq!(fourth["standing"]["totalPoints"], 97);

    let list: Value = app
        .get_auth("/api/learning/sessions?limit=2", &user.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["sessionsCount"], 4);
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(list["sessions"][0]["contentType"], "course", "newest first");

    // Reading a post: its tags become the technologies; an unknown post is a 404.
    let slug = publish(&app, &user, "Post to read").await;
    let read: Value = session(
        &app,
        &user,
        json!({ "contentType": "post", "contentId": slug, "durationMinutes": 5 }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(read["session"]["technologies"], json!(["rust"]));
    assert_eq!(
        session(
            &app,
            &user,
            json!({ "contentType": "post", "contentId": "nope", "durationMinutes": 5 })
        )
        .await
        .status(),
        404
    );

    for (body, field) in [
        (json!({ "durationMinutes": 10 }), "contentType"),
        (
            json!({ "contentType": "podcast", "durationMinutes": 10 }),
            "contentType",
        ),
        (json!({ "contentType": "video" }), "durationMinutes"),
        (
            json!({ "contentType": "video", "durationMinutes": 0 }),
            "durationMinutes",
        ),
        (
            json!({ "contentType": "video", "durationMinutes": 1441 }),
            "durationMinutes",
        ),
        (
            json!({ "contentType": "video", "durationMinutes": 10, "completion": 101 }),
            "completion",
        ),
        (
            json!({ "contentType": "video", "durationMinutes": 10, "rating": 6 }),
            "rating",
        ),
        (
            json!({ "contentType": "video", "durationMinutes": 10, "difficulty": 0 }),
            "difficulty",
        ),
        (
            json!({ "contentType": "video", "durationMinutes": 10, "endedAt": "2099-01-01T00:00:00Z" }),
            "endedAt",
        ),
        (
            json!({ "contentType": "video", "durationMinutes": 10, "startedAt": "2026-11-12T00:00:00Z", "endedAt": "2026-11-11T00:00:00Z" }),
            "startedAt",
        ),
    ] {
        let r = session(&app, &user, body.clone()).await;
        assert_eq!(r.status(), 422, "{body}");
        let err: Value = r.json().await.unwrap();
        assert!(err["errors"][field].is_array(), "{body}: {err}");
    }
    let list: Value = app
        .get_auth("/api/learning/sessions", &user.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["sessionsCount"], 5,
        "refused sessions were not recorded"
    );
}

#[tokio::test]
async fn the_dashboard_combines_three_stores_is_cached_and_a_change_makes_the_next_call_a_miss() {
    let app = TestApp::spawn().await;
    let user = app.register("dash").await;
    let slug = publish(&app, &user, "First post").await;
    assert_eq!(
        session(
            &app,
            &user,
            json!({ "contentType": "tutorial", "durationMinutes": 30 })
        )
        .await
        .status(),
        201
    );
    settled(&app).await;

    let (cache, d) = dashboard(&app, &user).await;
    assert_eq!(cache, "miss");
    assert_eq!(d["degraded"], json!([]));
    assert_eq!(d["account"]["username"], "dash", "MySQL");
    assert_eq!(d["subscription"]["plan"], "free", "MySQL");
    assert_eq!(d["learning"]["totalPoints"], 40, "PostgreSQL");
    assert_eq!(d["learning"]["sessionsThisWeek"], 1);
    assert_eq!(d["learning"]["minutesThisWeek"], 30);
    assert_eq!(d["content"]["totalPosts"], 1, "MongoDB");
    assert_eq!(d["content"]["recentPosts"][0]["slug"], slug.as_str());

    let (cache, again) = dashboard(&app, &user).await;
    assert_eq!(cache, "hit");
    assert_eq!(again, d);

    // A new session: the next call is a miss and shows it.
    assert_eq!(
        session(
            &app,
            &user,
            json!({ "contentType": "video", "durationMinutes": 45, "completion": 50 })
        )
        .await
        .status(),
        201
    );
    let (cache, d) = dashboard(&app, &user).await;
    assert_eq!(cache, "miss");
    assert_eq!(d["learning"]["totalPoints"], 62);
    assert_eq!(dashboard(&app, &user).await.0, "hit");

    // A new post: the same.
    let second = publish(&app, &user, "Second post").await;
    settled(&app).await;
    let (cache, d) = dashboard(&app, &user).await;
    assert_eq!(cache, "miss");
    assert_eq!(d["content"]["totalPosts"], 2);
    assert_eq!(d["content"]["recentPosts"][0]["slug"], second.as_str());
    assert_eq!(dashboard(&app, &user).await.0, "hit");

    // Another user's dashboard is theirs alone.
    let other = app.register("other").await;
    let (_, theirs) = dashboard(&app, &other).await;
    assert_eq!(theirs["account"]["username"], "other");
    assert_eq!(theirs["content"]["totalPosts"], 0);
    assert_eq!(app.get("/api/dashboard").await.status(), 401);
}

#[tokio::test]
async fn a_hundred_concurrent_misses_on_one_cold_key_make_one_trip_to_the_stores() {
    let app = TestApp::spawn().await;
    let user = app.register("crowd").await;
    // Let the registration's events (which also drop this dashboard key) be delivered first.
    settled(&app).await;
    let before = app.flights.loads();
    let url = app.url("/api/dashboard");
    let requests = (0..100).map(|_| {
        let (http, url, token) = (app.http.clone(), url.clone(), user.token.clone());
        async move {
            let r = http
                .get(url)
                .header("Authorization", format!("Token {token}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()["dashboard"]["account"]["username"].clone()
        }
    });
    let names = futures::future::join_all(requests).await;
    assert!(names.iter().all(|n| n == "crowd"));
    assert_eq!(
        app.flights.loads() - before,
        1,
        "one load for 100 concurrent misses"
    );
    assert_eq!(dashboard(&app, &user).await.0, "hit");
}

#[tokio::test]
async fn with_postgres_hanging_or_refusing_the_dashboard_answers_degraded_within_two_seconds() {
    let defaults = techhub_core::Config::from_env().unwrap();
    let proxy = TcpProxy::in_front_of(&defaults.postgres_url).await;
    let app = TestApp::spawn_with(|c| c.postgres_url = proxy.url_for(&c.postgres_url)).await;
    let user = app.register("degraded").await;
    for mode in [Mode::Blackhole, Mode::Refuse] {
        proxy.set(mode);
        let started = Instant::now();
        let (cache, d) = dashboard(&app, &user).await;
        let took = started.elapsed();
        println!("{mode:?}: degraded dashboard in {took:?}");
        assert!(took < Duration::from_secs(2), "{mode:?}: {took:?}");
        assert_eq!(cache, "miss");
        assert_eq!(d["degraded"], json!(["postgres"]));
        assert_eq!(d["learning"], Value::Null);
        assert_eq!(d["account"]["username"], "degraded");
        assert_eq!(d["content"]["totalPosts"], 0);
    }
    proxy.set(Mode::Forward);
    // A degraded answer was not cached: the next call is complete.
    let d = crate::helpers::eventually(Duration::from_secs(5), "a complete dashboard", || async {
        let (_, d) = dashboard(&app, &user).await;
        (d["degraded"] == json!([])).then_some(d)
    })
    .await;
    assert_eq!(d["learning"]["totalPoints"], 0);
}

#[tokio::test]
async fn with_redis_down_every_endpoint_still_answers_correctly() {
    let defaults = techhub_core::Config::from_env().unwrap();
    let proxy = TcpProxy::in_front_of(&defaults.redis_url).await;
    let app = TestApp::spawn_with(|c| c.redis_url = proxy.url_for(&c.redis_url)).await;
    let user = app.register("noredis").await;
    proxy.set(Mode::Refuse);
    let started = Instant::now();
    let slug = publish(&app, &user, "Written without Redis").await;
    let (cache, d) = dashboard(&app, &user).await;
    assert_eq!(cache, "miss");
    assert_eq!(d["content"]["totalPosts"], 1);
    assert_eq!(
        dashboard(&app, &user).await.0,
        "miss",
        "nothing can be cached"
    );
    assert_eq!(
        session(
            &app,
            &user,
            json!({ "contentType": "video", "durationMinutes": 5 })
        )
        .await
        .status(),
        201
    );
    let tags: Value = app.get("/api/tags").await.json().await.unwrap();
    assert_eq!(tags["tags"], json!(["rust"]));
    assert_eq!(
        app.get(&format!("/api/articles/{slug}")).await.status(),
        200
    );
    let (status, cache, seen) = profile(&app, "noredis", None).await;
    assert_eq!((status, cache.as_str()), (200, "miss"));
    assert_eq!(seen["profile"]["username"], "noredis");
    let login = app
        .post(
            "/api/users/login",
            json!({ "user": { "email": user.email, "password": "password123" } }),
            None,
        )
        .await;
    assert_eq!(
        login.status(),
        200,
        "rate limits let requests through without Redis"
    );
    crate::helpers::eventually(Duration::from_secs(2), "the post in search", || async {
        let found: Value = app.get("/api/search?q=redis").await.json().await.unwrap();
        (found["resultsCount"] == 1).then_some(())
    })
    .await;
    println!(
        "all endpoints answered without Redis in {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn paths_derive_completion_and_the_free_plan_limits_paths_and_assessments_with_403() {
    let app = TestApp::spawn().await;
    let user = app.register("planner").await;
    let other = app.register("nosy").await;
    let new_path = || {
        json!({ "path": { "title": "Learn Rust", "targetTechnologies": ["Rust"],
        "milestones": [{ "title": "The Book", "completed": true }, { "title": "Async" }, { "title": "A project" }] } })
    };
    // Five at once from a free user (1 path allowed): exactly one is created.
    let responses = futures::future::join_all(
        (0..5).map(|_| app.post("/api/learning/paths", new_path(), Some(&user.token))),
    )
    .await;
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort();
    assert_eq!(statuses, [201, 403, 403, 403, 403]);
    let refused = responses.into_iter().find(|r| r.status() == 403).unwrap();
    let reason: Value = refused.json().await.unwrap();
    assert_eq!(
        reason["errors"]["permission"][0],
        "the free plan allows 1 learning paths; upgrade for more"
    );

    let list: Value = app
        .get_auth("/api/learning/paths", &user.token)
        .await
        .json()
        .await
        .unwrap();
    let path = &list["paths"][0];
    assert_eq!(list["paths"].as_array().unwrap().len(), 1);
    assert_eq!(path["completionPercentage"], 33.33);
    assert_eq!(path["status"], "active");
    assert_eq!(path["targetTechnologies"], json!(["rust"]));
    let id = path["id"].as_str().unwrap();
    let done = |i: usize, token: &str| {
        let (app, token, url) = (
            &app,
            token.to_string(),
            format!("/api/learning/paths/{id}/milestones/{i}"),
        );
        async move {
            app.put(
                &url,
                json!({ "milestone": { "completed": true } }),
                Some(&token),
            )
            .await
        }
    };
    let r: Value = done(1, &user.token).await.json().await.unwrap();
    assert_eq!(r["path"]["completionPercentage"], 66.67);
    assert_eq!(done(1, &other.token).await.status(), 404, "not your path");
    assert_eq!(
        done(9, &user.token).await.status(),
        404,
        "no such milestone"
    );
    let r: Value = done(2, &user.token).await.json().await.unwrap();
    assert_eq!(
        (
            r["path"]["completionPercentage"].as_f64(),
            r["path"]["status"].as_str()
        ),
        (Some(100.0), Some("completed"))
    );

    // Assessments: 3 a month on the free plan; skill metrics follow.
    let assess = |score: i64| {
        app.post(
            "/api/assessments",
            json!({ "assessment": { "skillArea": "Rust", "score": score } }),
            Some(&user.token),
        )
    };
    let mut last = Value::Null;
    for score in [60, 90, 70] {
        let r = assess(score).await;
        assert_eq!(r.status(), 201);
        last = r.json().await.unwrap();
    }
    assert_eq!(
        last["skill"],
        json!({ "latest": 70, "best": 90, "attempts": 3, "average": 73.33 })
    );
    let fourth = assess(80).await;
    assert_eq!(fourth.status(), 403);
    let reason: Value = fourth.json().await.unwrap();
    assert_eq!(
        reason["errors"]["permission"][0],
        "the free plan allows 3 skill assessments a month; upgrade for more"
    );
    for bad in [
        json!({ "skillArea": "rust", "score": 101 }),
        json!({ "skillArea": "", "score": 5 }),
        json!({ "skillArea": "rust" }),
        json!({ "skillArea": "rust", "score": 5, "type": "exam" }),
    ] {
        let r = app
            .post(
                "/api/assessments",
                json!({ "assessment": bad }),
                Some(&other.token),
            )
            .await;
        assert_eq!(r.status(), 422, "{bad}");
    }
    let list: Value = app
        .get_auth("/api/assessments", &user.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["assessments"].as_array().unwrap().len(), 3);
    let (_, d) = dashboard(&app, &user).await;
    assert_eq!(d["degraded"], json!([]));
}

#[tokio::test]
async fn likes_and_comments_reach_the_activity_log_and_move_engagement_scores_by_the_formula() {
    let app = TestApp::spawn().await;
    let author = app.register("author").await;
    let fan = app.register("fan").await;
    let slug = publish(&app, &author, "Liked post").await;
    assert_eq!(
        app.post(
            &format!("/api/articles/{slug}/favorite"),
            json!({}),
            Some(&fan.token)
        )
        .await
        .status(),
        200
    );
    // A second favorite by the same user is no new like.
    assert_eq!(
        app.post(
            &format!("/api/articles/{slug}/favorite"),
            json!({}),
            Some(&fan.token)
        )
        .await
        .status(),
        200
    );
    let comment = app
        .post(
            &format!("/api/articles/{slug}/comments"),
            json!({ "comment": { "body": "Nice" } }),
            Some(&fan.token),
        )
        .await;
    assert_eq!(comment.status(), 200);

    let pg_url = app.dbs.config.postgres_url.clone();
    let score = |user: u64| {
        let pg_url = pg_url.clone();
        async move {
            use sqlx::Connection;
            let mut pg = sqlx::PgConnection::connect(&pg_url).await.unwrap();
            let row: Option<(f64, Value)> = sqlx::query_as(
                "SELECT engagement_score::float8, activity_summary FROM user_analytics WHERE user_id = $1",
            )
            .bind(user as i64)
            .fetch_optional(&mut pg)
            .await
            .unwrap();
            row
        }
    };
    // Author: one post published (10) + one like received (1) = raw 11 → 100 × (1 − e^−0.11) = 10.42.
    let (author_score, author_summary) =
        crate::helpers::eventually(Duration::from_secs(2), "the author's score", || async {
            score(author.id)
                .await
                .filter(|(s, _)| (*s - 10.42).abs() < 0.005)
        })
        .await;
    assert_eq!(author_summary["post.created"], 1);
    assert_eq!(author_summary["post.liked"], 1);
    // Fan: one comment written (3) → 100 × (1 − e^−0.03) = 2.96.
    let (fan_score, fan_summary) =
        crate::helpers::eventually(Duration::from_secs(2), "the fan's score", || async {
            score(fan.id)
                .await
                .filter(|(s, _)| (*s - 2.96).abs() < 0.005)
        })
        .await;
    assert_eq!(fan_summary["comment.created"], 1);
    println!("engagement: author {author_score}, fan {fan_score}");
    // A session moves the score at once: + 30 minutes × 0.2 = 6, and a one-day streak (2):
    // raw 11 → 10.42.
    assert_eq!(
        session(
            &app,
            &fan,
            json!({ "contentType": "video", "durationMinutes": 30, "completion": 50 })
        )
        .await
        .status(),
        201
    );
    let (s, _) = score(fan.id).await.unwrap();
    assert!((s - 10.42).abs() < 0.005, "{s}");
    // A 20-minute session that ended a week ago counts half (PostgreSQL sums the decayed
    // minutes): + 20 × 0.5 × 0.2 = 2, the streak unchanged: raw 13 → 12.19.
    let week_ago = (chrono::Utc::now() - chrono::Duration::days(7)).to_rfc3339();
    assert_eq!(
        session(
            &app,
            &fan,
            json!({ "contentType": "video", "durationMinutes": 20, "endedAt": week_ago })
        )
        .await
        .status(),
        201
    );
    let (s, _) = score(fan.id).await.unwrap();
    assert!((s - 12.19).abs() < 0.005, "{s}");
}

#[tokio::test]
async fn insights_article_analytics_for_the_author_only_and_admin_reports_for_admins_only() {
    let app = TestApp::spawn().await;
    let author = app.register("analyst").await;
    let reader = app.register("reader").await;
    let slug = publish(&app, &author, "Measured post").await;
    for _ in 0..3 {
        assert_eq!(
            app.get(&format!("/api/articles/{slug}")).await.status(),
            200
        );
    }
    assert_eq!(
        app.post(
            &format!("/api/articles/{slug}/favorite"),
            json!({}),
            Some(&reader.token)
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        app.post(
            &format!("/api/articles/{slug}/comments"),
            json!({ "comment": { "body": "Hi" } }),
            Some(&reader.token)
        )
        .await
        .status(),
        200
    );
    assert_eq!(session(&app, &author, json!({ "contentType": "tutorial", "technologies": ["rust"], "durationMinutes": 30, "rating": 4 })).await.status(), 201);
    assert_eq!(
        session(
            &app,
            &reader,
            json!({ "contentType": "video", "technologies": ["rust", "go"], "durationMinutes": 10 })
        )
        .await
        .status(),
        201
    );

    let insights: Value = app
        .get_auth("/api/analytics/insights?weeks=4", &author.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(insights["insights"]["sessions_30d"], 1);
    assert_eq!(insights["insights"]["minutes_30d"], 30);
    assert_eq!(insights["insights"]["top_technologies"], json!(["rust"]));
    let weeks = insights["weeklyTrends"].as_array().unwrap();
    assert_eq!(weeks.len(), 4);
    assert_eq!(weeks[3]["sessions"], 1, "this week");
    assert_eq!(weeks[3]["minutes"], 30);
    assert_eq!(weeks[0]["sessions"], 0);
    let clipped: Value = app
        .get_auth("/api/analytics/insights?weeks=52", &author.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        clipped["weeks"], 4,
        "the free plan keeps 30 days of analytics"
    );
    assert_eq!(
        app.get_auth("/api/analytics/insights?weeks=0", &author.token)
            .await
            .status(),
        422
    );

    let url = format!("/api/analytics/articles/{slug}?days=7");
    let stats: Value = crate::helpers::eventually(
        Duration::from_secs(2),
        "the like and comment in the activity log",
        || async {
            let s: Value = app
                .get_auth(&url, &author.token)
                .await
                .json()
                .await
                .unwrap();
            let today = s["daily"].as_array().unwrap().last().cloned().unwrap();
            (today["likes"] == 1 && today["comments"] == 1).then_some(s)
        },
    )
    .await;
    assert_eq!(stats["daily"].as_array().unwrap().len(), 7);
    let today = stats["daily"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(today["views"], 3);
    assert_eq!(stats["totals"]["likes"], 1);
    assert_eq!(stats["totals"]["comments"], 1);
    assert_eq!(
        app.get_auth(&url, &reader.token).await.status(),
        403,
        "not the author"
    );
    assert_eq!(
        app.get_auth("/api/analytics/articles/nope", &author.token)
            .await
            .status(),
        404
    );

    // Admin reports: 403 until the role is granted in MySQL (by `techhub admin`).
    for path in [
        "/api/admin/reports/active-users",
        "/api/admin/reports/top-technologies",
        "/api/admin/reports/engagement",
    ] {
        assert_eq!(
            app.get_auth(path, &author.token).await.status(),
            403,
            "{path}"
        );
    }
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
    let active: Value = app
        .get_auth(
            "/api/admin/reports/active-users?period=day&count=3",
            &author.token,
        )
        .await
        .json()
        .await
        .unwrap();
    let days = active["activeUsers"].as_array().unwrap();
    assert_eq!(days.len(), 3);
    assert_eq!(
        days[2]["activeUsers"], 2,
        "author and reader were active today"
    );
    let top: Value = app
        .get_auth("/api/admin/reports/top-technologies", &author.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(top["technologies"][0]["technology"], "rust");
    assert_eq!(top["technologies"][0]["sessions"], 2);
    assert_eq!(top["technologies"][0]["learners"], 2);
    assert_eq!(top["technologies"][1]["technology"], "go");
    let bands: Value = app
        .get_auth("/api/admin/reports/engagement", &author.token)
        .await
        .json()
        .await
        .unwrap();
    let bands = bands["distribution"].as_array().unwrap();
    assert_eq!(bands.len(), 10);
    assert_eq!(
        bands
            .iter()
            .map(|b| b["users"].as_i64().unwrap())
            .sum::<i64>(),
        2
    );
    assert_eq!(
        app.get_auth("/api/admin/reports/active-users?period=year", &author.token)
            .await
            .status(),
        422
    );
    assert_eq!(
        app.get_auth("/api/admin/reports/engagement", &reader.token)
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn a_published_article_is_served_from_the_cache_until_a_change_drops_it() {
    let app = TestApp::spawn().await;
    let author = app.register("writer").await;
    let reader = app.register("reader").await;
    let slug = publish(&app, &author, "Cached post").await;
    settled(&app).await;
    let get = |token: Option<String>| {
        let (app, url) = (&app, format!("/api/articles/{slug}"));
        async move {
            let r = match token {
                Some(t) => app.get_auth(&url, &t).await,
                None => app.get(&url).await,
            };
            let status = r.status().as_u16();
            let cache = r
                .headers()
                .get("x-cache")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            let body: Value = r.json().await.unwrap();
            (status, cache, body["article"].clone())
        }
    };
    let (_, first, _) = get(None).await;
    let (_, second, article) = get(None).await;
    assert_eq!((first.as_str(), second.as_str()), ("miss", "hit"));
    assert_eq!(article["favorited"], false);
    // Viewer flags are per request even on a hit.
    assert_eq!(
        app.post(
            &format!("/api/articles/{slug}/favorite"),
            json!({}),
            Some(&reader.token)
        )
        .await
        .status(),
        200
    );
    let (_, cache, article) = get(Some(reader.token.clone())).await;
    assert_eq!(cache, "miss", "a favorite drops the cached copy");
    assert_eq!(
        (
            article["favorited"].as_bool(),
            article["favoritesCount"].as_i64()
        ),
        (Some(true), Some(1))
    );
    // The like's event drops the entry once more (the relay's copy of the invalidation); after
    // that the cache serves hits again, with the anonymous reader's own flags.
    crate::helpers::eventually(Duration::from_secs(2), "a hit again", || async {
        let (_, cache, article) = get(None).await;
        assert_eq!(article["favorited"], false);
        assert_eq!(article["favoritesCount"], 1);
        (cache == "hit").then_some(())
    })
    .await;
    // An edit and a comment drop it too.
    assert_eq!(
        app.put(
            &format!("/api/articles/{slug}"),
            json!({ "article": { "title": "Cached post, edited" } }),
            Some(&author.token)
        )
        .await
        .status(),
        200
    );
    let (_, cache, article) = get(None).await;
    assert_eq!(
        (cache.as_str(), article["title"].as_str()),
        ("miss", Some("Cached post, edited"))
    );
    assert_eq!(
        app.post(
            &format!("/api/articles/{slug}/comments"),
            json!({ "comment": { "body": "c" } }),
            Some(&reader.token)
        )
        .await
        .status(),
        200
    );
    let (_, cache, article) = get(None).await;
    assert_eq!(
        (cache.as_str(), article["engagement"]["comments"].as_i64()),
        ("miss", Some(1))
    );
    // Drafts are never cached.
    let draft = app
        .post("/api/articles", json!({ "article": { "title": "Draft", "description": "d", "body": "b", "status": "draft" } }), Some(&author.token))
        .await
        .json::<Value>()
        .await
        .unwrap()["article"]["slug"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..2 {
        let r = app
            .get_auth(&format!("/api/articles/{draft}"), &author.token)
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-cache"], "miss");
    }
    assert_eq!(
        app.get(&format!("/api/articles/{draft}")).await.status(),
        404
    );
    // A deleted post is gone at once, cached or not.
    let _ = get(None).await;
    assert_eq!(
        app.send(
            reqwest::Method::DELETE,
            &format!("/api/articles/{slug}"),
            None,
            Some(&author.token)
        )
        .await
        .status(),
        204
    );
    assert_eq!(get(None).await.0, 404);
}

async fn profile(app: &TestApp, name: &str, viewer: Option<&TestUser>) -> (u16, String, Value) {
    let r = match viewer {
        Some(v) => {
            app.get_auth(&format!("/api/profiles/{name}"), &v.token)
                .await
        }
        None => app.get(&format!("/api/profiles/{name}")).await,
    };
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        status,
        cache,
        r.json::<Value>().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn profiles_are_cached_per_name_and_edits_and_renames_drop_them() {
    let app = TestApp::spawn().await;
    let ada = app.register("ada").await;
    let fan = app.register("fan").await;
    settled(&app).await;

    let (status, cache, first) = profile(&app, "ada", None).await;
    assert_eq!((status, cache.as_str()), (200, "miss"));
    assert_eq!(first["profile"]["username"], "ada");
    assert_eq!(first["profile"]["following"], false);
    let (_, cache, _) = profile(&app, "ada", None).await;
    assert_eq!(cache, "hit");

    // `following` is the viewer's own, even when the profile comes from the cache.
    let r = app
        .post("/api/profiles/ada/follow", json!({}), Some(&fan.token))
        .await;
    assert_eq!(r.status(), 200);
    let (_, cache, seen) = profile(&app, "ada", Some(&fan)).await;
    assert_eq!(cache, "hit");
    assert_eq!(seen["profile"]["following"], true);
    assert_eq!(
        profile(&app, "ada", None).await.2["profile"]["following"],
        false
    );

    // Another spelling finds the same user (names compare case-insensitively) but is never
    // cached: only the exact name is, so a rename knows every key to drop.
    for _ in 0..2 {
        let (status, cache, other) = profile(&app, "ADA", None).await;
        assert_eq!((status, cache.as_str()), (200, "miss"));
        assert_eq!(other["profile"]["username"], "ada");
    }
    // Unknown names are not cached either (a registration would have to drop them).
    assert_eq!(profile(&app, "nobody", None).await.0, 404);
    for name in ["nobody", "ADA"] {
        let key = techhub_cache::entries::keys::profile(name);
        assert_eq!(app.stores.redis.cached(&key).await.unwrap(), None, "{name}");
    }

    // An edit shows at once.
    let r = app
        .put(
            "/api/user",
            json!({ "user": { "bio": "compilers" } }),
            Some(&ada.token),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (_, cache, edited) = profile(&app, "ada", None).await;
    assert_eq!(cache, "miss");
    assert_eq!(edited["profile"]["bio"], "compilers");

    // A rename: the old name is gone at once, the new one answers.
    assert_eq!(profile(&app, "ada", None).await.1, "hit");
    let r = app
        .put(
            "/api/user",
            json!({ "user": { "username": "lovelace" } }),
            Some(&ada.token),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(profile(&app, "ada", None).await.0, 404);
    let (status, _, renamed) = profile(&app, "lovelace", None).await;
    assert_eq!(status, 200);
    assert_eq!(renamed["profile"]["bio"], "compilers");

    // The event tells every other instance (and the cache consumer) both names.
    use sqlx::Connection;
    let mut db = sqlx::MySqlConnection::connect(&app.dbs.config.mysql_url)
        .await
        .unwrap();
    let payload: String = sqlx::query_scalar(
        "SELECT CAST(payload AS CHAR) FROM outbox WHERE event_type = 'user.updated' \
         ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    let payload: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["username"], "lovelace");
    assert_eq!(payload["previous_username"], "ada");
}

/// Requests `path` `n` times at once on each of `apps`, all must answer 200.
async fn crowd(apps: &[&TestApp], path: &str, token: &str, n: usize) {
    let requests = apps.iter().flat_map(|app| {
        (0..n).map(|_| {
            let (http, url, token) = (app.http.clone(), app.url(path), token.to_string());
            async move {
                let r = http
                    .get(url)
                    .header("Authorization", format!("Token {token}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        })
    });
    futures::future::join_all(requests).await;
}

#[tokio::test]
async fn a_hundred_misses_split_over_two_instances_make_one_trip_to_the_stores() {
    let app = TestApp::spawn().await;
    let second = app.second_instance().await;
    let user = app.register("crowd").await;
    settled(&app).await;
    let before = app.flights.loads() + second.flights.loads();
    crowd(&[&app, &second], "/api/dashboard", &user.token, 50).await;
    let loads = app.flights.loads() + second.flights.loads() - before;
    assert_eq!(loads, 1, "one load for 100 misses on two instances");
    // The claim was released: the next cold key loads at once.
    let (took, cache) = {
        let started = Instant::now();
        let (_, cache, _) = profile(&second, "crowd", None).await;
        (started.elapsed(), cache)
    };
    assert_eq!(cache, "miss");
    assert!(took < Duration::from_millis(500), "{took:?}");
}

#[tokio::test]
async fn a_claim_left_by_a_dead_instance_delays_a_miss_by_at_most_the_wait() {
    use techhub_cache::entries::keys;
    let app = TestApp::spawn().await;
    app.register("orphan").await;
    settled(&app).await;
    // An instance claimed the key and died before loading it; the claim would last a minute.
    let key = keys::profile("orphan");
    assert!(app
        .stores
        .redis
        .claim_load(&key, "dead-instance", Duration::from_secs(60))
        .await
        .unwrap());
    let started = Instant::now();
    let (status, cache, body) = profile(&app, "orphan", None).await;
    let took = started.elapsed();
    assert_eq!((status, cache.as_str()), (200, "miss"));
    assert_eq!(body["profile"]["username"], "orphan");
    let wait = techhub_api::cached::WAIT;
    assert!(
        took >= wait && took < wait + Duration::from_millis(800),
        "waited {took:?}, the wait is {wait:?}"
    );
}
