//! `GET /health`: per-store status and latency; 503 naming a failing store, fast, and back to
//! 200 by itself when the store returns.

use std::time::{Duration, Instant};

use serde_json::Value;
use techhub_core::Store;

use crate::helpers::{eventually, TestApp};
use crate::proxy::Mode;
use crate::routes::{new_article, With};

#[tokio::test]
async fn health_is_200_with_all_four_stores_up_and_their_latency() {
    let app = TestApp::spawn().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert!(body.get("failing").is_none(), "{body}");
    for store in Store::ALL {
        let entry = &body["stores"][store.as_str()];
        assert_eq!(entry["status"], "up", "{store}: {body}");
        let latency = entry["latency_ms"]
            .as_f64()
            .unwrap_or_else(|| panic!("{store} latency: {body}"));
        assert!(
            (0.0..1000.0).contains(&latency),
            "{store} latency {latency}"
        );
    }
    // An idle server's content relay keeps up, and no write is paced.
    for kind in ["posts", "comments", "favorite_clicks"] {
        let relay = &body["content_relay"][kind];
        let lag = relay["lag_ms"]
            .as_u64()
            .unwrap_or_else(|| panic!("{kind} lag: {body}"));
        assert!(lag < 500, "{kind} lag {lag} ms: {body}");
        assert_eq!(relay["pace_ms"].as_f64(), Some(0.0), "{kind}: {body}");
    }
}

/// Reads `/health`, checking that it answered within 2 s whatever the stores do.
async fn health(app: &TestApp) -> (u16, Value) {
    let started = Instant::now();
    let response = app.get("/health").await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(2), "/health took {elapsed:?}");
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Puts `store` behind a proxy, breaks it in `mode`, and checks `/health` names it and
/// recovers once the proxy forwards again.
async fn health_names_failing_store_and_recovers(store: Store, mode: Mode) {
    let (proxy, app) = TestApp::spawn_behind_proxy(store, |_| {}).await;

    let (status, body) = health(&app).await;
    assert_eq!(status, 200, "healthy through the proxy first: {body}");

    proxy.set(mode);
    let body = eventually(
        Duration::from_secs(10),
        "/health to report the store down",
        || async {
            let (status, body) = health(&app).await;
            (status == 503).then_some(body)
        },
    )
    .await;
    assert_eq!(body["status"], "unavailable");
    assert_eq!(
        body["failing"],
        serde_json::json!([store.as_str()]),
        "{body}"
    );
    assert_eq!(body["stores"][store.as_str()]["status"], "down");
    assert!(body["stores"][store.as_str()]["error"]
        .as_str()
        .is_some_and(|e| !e.is_empty()));
    for other in Store::ALL.into_iter().filter(|s| *s != store) {
        assert_eq!(
            body["stores"][other.as_str()]["status"],
            "up",
            "{other}: {body}"
        );
    }

    proxy.set(Mode::Forward);
    eventually(Duration::from_secs(15), "/health to recover", || async {
        let (status, body) = health(&app).await;
        (status == 200 && body["status"] == "ok").then_some(())
    })
    .await;
}

#[tokio::test]
async fn health_names_mysql_when_it_is_down_and_recovers() {
    health_names_failing_store_and_recovers(Store::Mysql, Mode::Refuse).await;
}

#[tokio::test]
async fn health_names_postgres_when_it_is_down_and_recovers() {
    health_names_failing_store_and_recovers(Store::Postgres, Mode::Refuse).await;
}

#[tokio::test]
async fn health_names_mongodb_when_it_is_down_and_recovers() {
    health_names_failing_store_and_recovers(Store::Mongodb, Mode::Refuse).await;
}

#[tokio::test]
async fn health_names_redis_when_it_is_down_and_recovers() {
    health_names_failing_store_and_recovers(Store::Redis, Mode::Refuse).await;
}

#[tokio::test]
async fn health_fails_fast_when_postgres_hangs() {
    health_names_failing_store_and_recovers(Store::Postgres, Mode::Blackhole).await;
}

#[tokio::test]
async fn health_fails_fast_when_mongodb_hangs() {
    health_names_failing_store_and_recovers(Store::Mongodb, Mode::Blackhole).await;
}

#[tokio::test]
async fn health_fails_fast_when_mysql_hangs() {
    health_names_failing_store_and_recovers(Store::Mysql, Mode::Blackhole).await;
}

#[tokio::test]
async fn health_fails_fast_when_redis_hangs() {
    health_names_failing_store_and_recovers(Store::Redis, Mode::Blackhole).await;
}

/// Clients that give up in the middle of MongoDB reads (a load generator stopping, a crowd
/// closing tabs) must not leave the server unable to reach MongoDB: the requests that follow
/// are answered at once. (With more requests in flight than pooled connections, the driver
/// kept the abandoned requests in its wait queue and served the live ones behind them one per
/// pool event: every MongoDB operation timed out for tens of seconds.)
#[tokio::test]
async fn mongodb_reads_work_at_once_after_a_crowd_of_clients_gives_up_mid_request() {
    // One pooled connection: nearly every request of the crowd waits for it.
    let app = TestApp::spawn_with(|c| c.mongodb_pool_size = 1).await;
    let author = app.register("crowded").await;
    let crowded = new_article("Crowded").with("tagList", serde_json::json!([]));
    let created = app.create_article_ok(&author, crowded).await;
    let slug = created["slug"].as_str().unwrap();
    // Comments are read from MongoDB on every request (no cache).
    assert_eq!(app.list_comments(slug).await.status(), 200);

    // 300 requests at once from clients that hang up after 50 ms.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(50))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url = app.url(&format!("/api/articles/{slug}/comments"));
    let abandoned = futures::future::join_all((0..300).map(|_| impatient.get(&url).send())).await;
    let gave_up = abandoned.iter().filter(|r| r.is_err()).count();
    assert!(gave_up > 150, "only {gave_up} of 300 requests were cut off");

    let started = Instant::now();
    for i in 0..10 {
        let r = app.list_comments(slug).await;
        assert_eq!(r.status(), 200, "read {i} after the crowd left");
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "ten reads took {:?}",
        started.elapsed()
    );
}
