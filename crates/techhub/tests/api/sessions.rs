//! Learning sessions: the points a session earns, streaks in the user's time zone, progress per
//! technology, the session list, and the sessions refused with 404 or 422.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{eventually, TestApp};
use crate::routes::{expect_json, new_article, With};

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
        eventually(Duration::from_secs(3), "analytics row projected", || {
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
            let session = json!({ "contentType": "video", "durationMinutes": 10,
                                  "completion": 50, "endedAt": ended });
            let r = app.record_session(&user, session).await;
            let body = expect_json(r, 201, &format!("{name} at {ended}")).await;
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
    let first = app
        .record_session_ok(
            &user,
            json!({ "contentType": "tutorial", "technologies": ["Rust", "rust", "sql"],
                    "durationMinutes": 30, "completion": 100, "rating": 5,
                    "endedAt": "2026-11-10T23:30:00Z" }),
        )
        .await;
    assert_eq!(first["session"]["points"], 40);
    assert_eq!(first["session"]["technologies"], json!(["rust", "sql"]));
    assert_eq!(first["session"]["startedAt"], "2026-11-10T23:00:00.000Z");
    assert_eq!(first["standing"]["totalPoints"], 40);
    assert_eq!(first["standing"]["streakDays"], 1);
    // Day 2, 00:30 UTC, an hour later but across midnight: 45 min at 50 % → 22; streak 2.
    let second = app
        .record_session_ok(
            &user,
            json!({ "contentType": "video", "technologies": ["rust"],
                    "durationMinutes": 45, "completion": 50, "endedAt": "2026-11-11T00:30:00Z" }),
        )
        .await;
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
    let third = app
        .record_session_ok(
            &user,
            json!({ "contentType": "exercise", "durationMinutes": 10, "completion": 100,
                    "endedAt": "2026-11-11T20:00:00Z" }),
        )
        .await;
    assert_eq!(
        (
            third["standing"]["streakDays"].as_i64(),
            third["standing"]["totalPoints"].as_i64()
        ),
        (Some(2), Some(82))
    );
    // Day 3 skipped, day 4: the streak starts again; the longest stays 2.
    let fourth = app
        .record_session_ok(
            &user,
            json!({ "contentType": "course", "durationMinutes": 60, "completion": 25,
                    "endedAt": "2026-11-13T09:00:00Z" }),
        )
        .await;
    assert_eq!(fourth["standing"]["streakDays"], 1);
    assert_eq!(fourth["standing"]["longestStreak"], 2);
    assert_eq!(fourth["standing"]["totalPoints"], 97);

    let list = app.list_sessions_ok(&user, "limit=2").await;
    assert_eq!(list["sessionsCount"], 4);
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(list["sessions"][0]["contentType"], "course", "newest first");

    // Reading a post: its tags become the technologies; an unknown post is a 404.
    let post = new_article("Post to read").with("tagList", json!(["rust"]));
    let slug = app.publish(&user, post).await;
    let read = app
        .record_session_ok(
            &user,
            json!({ "contentType": "post", "contentId": slug, "durationMinutes": 5 }),
        )
        .await;
    assert_eq!(read["session"]["technologies"], json!(["rust"]));
    let unknown = json!({ "contentType": "post", "contentId": "nope", "durationMinutes": 5 });
    assert_eq!(app.record_session(&user, unknown).await.status(), 404);

    // A ten-minute video, valid as it is.
    let video = || json!({ "contentType": "video", "durationMinutes": 10 });
    for (body, field) in [
        (json!({ "durationMinutes": 10 }), "contentType"),
        (video().with("contentType", "podcast"), "contentType"),
        (json!({ "contentType": "video" }), "durationMinutes"),
        (video().with("durationMinutes", 0), "durationMinutes"),
        (video().with("durationMinutes", 1441), "durationMinutes"),
        (video().with("completion", 101), "completion"),
        (video().with("rating", 6), "rating"),
        (video().with("difficulty", 0), "difficulty"),
        (video().with("endedAt", "2099-01-01T00:00:00Z"), "endedAt"),
        (
            video()
                .with("startedAt", "2026-11-12T00:00:00Z")
                .with("endedAt", "2026-11-11T00:00:00Z"),
            "startedAt",
        ),
    ] {
        let r = app.record_session(&user, body.clone()).await;
        let err = expect_json(r, 422, &body.to_string()).await;
        assert!(err["errors"][field].is_array(), "{body}: {err}");
    }
    let list = app.list_sessions_ok(&user, "").await;
    assert_eq!(
        list["sessionsCount"], 5,
        "refused sessions were not recorded"
    );
}
