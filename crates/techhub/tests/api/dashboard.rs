//! The dashboard: one answer combining MySQL, PostgreSQL and MongoDB, cached until a change,
//! a degraded answer within two seconds when PostgreSQL hangs or refuses, and every endpoint
//! still answering while Redis is down.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use techhub_core::Store;

use crate::helpers::{assert_documented, eventually, TestApp};
use crate::proxy::Mode;
use crate::routes::{answer, new_article, With};

/// A post tagged `rust`.
fn post(title: &str) -> Value {
    new_article(title).with("tagList", json!(["rust"]))
}

#[tokio::test]
async fn the_dashboard_combines_three_stores_is_cached_and_a_change_makes_the_next_call_a_miss() {
    let app = TestApp::spawn().await;
    let user = app.register("dash").await;
    let slug = app.publish(&user, post("First post")).await;
    let tutorial = json!({ "contentType": "tutorial", "durationMinutes": 30 });
    app.record_session_ok(&user, tutorial).await;
    app.settled().await;

    let (cache, d) = app.dashboard_ok(&user).await;
    assert_eq!(cache, "miss");
    assert_eq!(d["degraded"], json!([]));
    assert_documented(&d, "DashboardBody");
    assert_eq!(d["account"]["username"], "dash", "MySQL");
    assert_eq!(d["account"]["role"], "user", "MySQL");
    assert_eq!(d["subscription"]["plan"], "free", "MySQL");
    assert_eq!(d["learning"]["totalPoints"], 40, "PostgreSQL");
    assert_eq!(d["learning"]["sessionsThisWeek"], 1);
    assert_eq!(d["learning"]["minutesThisWeek"], 30);
    assert_eq!(d["content"]["totalPosts"], 1, "MongoDB");
    assert_eq!(d["content"]["recentPosts"][0]["slug"], slug.as_str());

    let (cache, again) = app.dashboard_ok(&user).await;
    assert_eq!(cache, "hit");
    assert_eq!(again, d);

    // A new session: the next call is a miss and shows it.
    let video = json!({ "contentType": "video", "durationMinutes": 45, "completion": 50 });
    app.record_session_ok(&user, video).await;
    let (cache, d) = app.dashboard_ok(&user).await;
    assert_eq!(cache, "miss");
    assert_eq!(d["learning"]["totalPoints"], 62);
    assert_eq!(app.dashboard_ok(&user).await.0, "hit");

    // A new post: the same.
    let second = app.publish(&user, post("Second post")).await;
    app.settled().await;
    let (cache, d) = app.dashboard_ok(&user).await;
    assert_eq!(cache, "miss");
    assert_eq!(d["content"]["totalPosts"], 2);
    assert_eq!(d["content"]["recentPosts"][0]["slug"], second.as_str());
    assert_eq!(app.dashboard_ok(&user).await.0, "hit");

    // Another user's dashboard is theirs alone.
    let other = app.register("other").await;
    let (_, theirs) = app.dashboard_ok(&other).await;
    assert_eq!(theirs["account"]["username"], "other");
    assert_eq!(theirs["content"]["totalPosts"], 0);
    assert_eq!(app.get("/api/dashboard").await.status(), 401);
}

#[tokio::test]
async fn with_postgres_hanging_or_refusing_the_dashboard_answers_degraded_within_two_seconds() {
    let (proxy, app) = TestApp::spawn_behind_proxy(Store::Postgres, |_| {}).await;
    let user = app.register("degraded").await;
    for mode in [Mode::Blackhole, Mode::Refuse] {
        proxy.set(mode);
        let started = Instant::now();
        let (cache, d) = app.dashboard_ok(&user).await;
        let took = started.elapsed();
        println!("{mode:?}: degraded dashboard in {took:?}");
        assert!(took < Duration::from_secs(2), "{mode:?}: {took:?}");
        assert_eq!(cache, "miss");
        assert_eq!(d["degraded"], json!(["postgres"]));
        assert_documented(&d, "DashboardBody");
        assert_eq!(d["learning"], Value::Null);
        assert_eq!(d["account"]["username"], "degraded");
        assert_eq!(d["content"]["totalPosts"], 0);
    }
    proxy.set(Mode::Forward);
    // A degraded answer was not cached: the next call is complete.
    let d = eventually(Duration::from_secs(5), "a complete dashboard", || async {
        let (_, d) = app.dashboard_ok(&user).await;
        (d["degraded"] == json!([])).then_some(d)
    })
    .await;
    assert_eq!(d["learning"]["totalPoints"], 0);
}

#[tokio::test]
async fn with_redis_down_every_endpoint_still_answers_correctly() {
    let (proxy, app) = TestApp::spawn_behind_proxy(Store::Redis, |_| {}).await;
    let user = app.register("noredis").await;
    proxy.set(Mode::Refuse);
    let started = Instant::now();
    let slug = app.publish(&user, post("Written without Redis")).await;
    let (cache, d) = app.dashboard_ok(&user).await;
    assert_eq!(cache, "miss");
    assert_eq!(d["content"]["totalPosts"], 1);
    assert_eq!(
        app.dashboard_ok(&user).await.0,
        "miss",
        "nothing can be cached"
    );
    let video = json!({ "contentType": "video", "durationMinutes": 5 });
    app.record_session_ok(&user, video).await;
    assert_eq!(app.tags_ok().await, json!(["rust"]));
    assert_eq!(app.get_article(&slug, None).await.status(), 200);
    let (status, cache, seen) = answer(app.get_profile("noredis", None).await).await;
    assert_eq!((status, cache.as_str()), (200, "miss"));
    assert_eq!(seen["profile"]["username"], "noredis");
    let login = app.login(&user.email, "password123").await;
    assert_eq!(
        login.status(),
        200,
        "rate limits let requests through without Redis"
    );
    eventually(Duration::from_secs(2), "the post in search", || async {
        let found = app.search_ok("q=redis").await;
        (found["resultsCount"] == 1).then_some(())
    })
    .await;
    println!(
        "all endpoints answered without Redis in {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}
