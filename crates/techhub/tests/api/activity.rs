//! The content relay: post events carried in the post's document into the PostgreSQL activity
//! log and search within a second, cached lists dropped, and an event written while
//! PostgreSQL is down waiting in the post until it returns, then recorded exactly once.

use std::time::{Duration, Instant};

use mongodb::bson::{doc, Document};
use serde_json::{json, Value};
use sqlx::{Connection, Row};
use techhub_core::Store;

use crate::helpers::{eventually, TestApp};
use crate::proxy::Mode;
use crate::routes::{new_article, With, SEARCH_WITHIN as WITHIN};

async fn activity(pg_url: &str, user_id: u64) -> Vec<(String, String)> {
    let mut pg = sqlx::PgConnection::connect(pg_url).await.unwrap();
    sqlx::query(
        "SELECT kind, subject_id FROM activity_events WHERE user_id = $1 ORDER BY occurred_at",
    )
    .bind(user_id as i64)
    .fetch_all(&mut pg)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get("kind"), r.get("subject_id")))
    .collect()
}

/// `user_analytics.activity_summary` of the user.
async fn activity_summary(pg_url: &str, user_id: u64) -> Value {
    let mut pg = sqlx::PgConnection::connect(pg_url).await.unwrap();
    sqlx::query_scalar("SELECT activity_summary FROM user_analytics WHERE user_id = $1")
        .bind(user_id as i64)
        .fetch_one(&mut pg)
        .await
        .unwrap()
}

/// Waits until the post's document holds no pending event.
async fn pending_events_removed(app: &TestApp, slug: &str, what: &str) {
    eventually(WITHIN, what, || async {
        app.post_document(slug)
            .await
            .get_array("pendingEvents")
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_new_post_reaches_the_activity_log_and_search_within_a_second_and_cache_drops() {
    let app = TestApp::spawn().await;
    let author = app.register("writer").await;
    let id = author.id;
    // The tag list is counted (and kept) once per index commit: it must follow the new post
    // as soon as the index shows it.
    assert_eq!(app.tags_ok().await, json!([]));

    let started = Instant::now();
    let quasar = new_article("Quasar tutorial").with("tagList", json!(["astro"]));
    let post = app.create_article_ok(&author, quasar).await;
    let slug = post["slug"].as_str().unwrap().to_string();
    let post_id = app
        .post_document(&slug)
        .await
        .get_object_id("_id")
        .unwrap()
        .to_hex();
    let pg_url = app.dbs.config.postgres_url.clone();
    eventually(WITHIN, "the post.created activity", || async {
        (activity(&pg_url, id).await == [("post.created".to_string(), post_id.clone())])
            .then_some(())
    })
    .await;
    app.search_until("q=quasar", &[&slug]).await;
    println!("activity and search after {:?}", started.elapsed());
    assert!(started.elapsed() < WITHIN + Duration::from_millis(500));
    assert_eq!(app.tags_ok().await, json!(["astro"]));

    // The new post's event went out through the change stream: the post was never marked
    // due, and keeps its event as the record of its creation; the relay's cursor passed it.
    let d = app.post_document(&slug).await;
    assert!(d.get_array("pendingEvents").unwrap().is_empty(), "{d}");
    assert!(!d.contains_key("eventsDueAt"), "{d}");
    let event_id = d
        .get_document("createdEvent")
        .unwrap()
        .get_str("id")
        .unwrap();
    let recorded: Vec<String> = {
        let mut pg = sqlx::PgConnection::connect(&pg_url).await.unwrap();
        sqlx::query_scalar("SELECT event_id::text FROM activity_events WHERE user_id = $1")
            .bind(id as i64)
            .fetch_all(&mut pg)
            .await
            .unwrap()
    };
    assert_eq!(
        recorded,
        [event_id.to_string()],
        "the activity is that event"
    );
    app.settled().await;
    let cursor = techhub_content::posts::created::cursor(&app.stores.mongo)
        .await
        .unwrap()
        .unwrap();
    assert!(cursor.last_id >= Some(d.get_object_id("_id").unwrap()));
    assert_eq!(activity_summary(&pg_url, id).await["post.created"], 1);

    // An edit and a delete are logged too, in order.
    let revised = json!({ "title": "Quasar tutorial, revised" });
    app.update_article_ok(&author, &slug, revised).await;
    app.search_until("q=revised", &[&slug]).await;
    assert_eq!(app.delete_article(&author, &slug).await.status(), 204);
    eventually(WITHIN, "three activities", || async {
        let kinds: Vec<String> = activity(&pg_url, id)
            .await
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        (kinds == ["post.created", "post.updated", "post.deleted"]).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_post_written_while_postgres_is_down_reaches_the_activity_log_once_it_returns() {
    let (proxy, app) = TestApp::spawn_behind_proxy(Store::Postgres, |_| {}).await;
    let author = app.register("offline").await;
    let id = author.id;
    let pg_url = app.dbs.config.postgres_url.clone(); // direct, not through the proxy
    eventually(Duration::from_secs(2), "the analytics row", || async {
        let mut pg = sqlx::PgConnection::connect(&pg_url).await.unwrap();
        sqlx::query("SELECT 1 FROM user_analytics WHERE user_id = $1")
            .bind(id as i64)
            .fetch_optional(&mut pg)
            .await
            .unwrap()
            .map(|_| ())
    })
    .await;

    proxy.set(Mode::Refuse);
    let offline = new_article("Written offline");
    let post = app.create_article_ok(&author, offline).await;
    let slug = post["slug"].as_str().unwrap().to_string();
    // Search does not depend on PostgreSQL.
    app.search_until("q=offline", &[&slug]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(activity(&pg_url, id).await.is_empty());
    let d = app.post_document(&slug).await;
    assert_eq!(
        d.get_array("pendingEvents").unwrap().len(),
        1,
        "the event waits in the post"
    );
    assert!(d.get_i64("eventAttempts").unwrap() >= 2, "{d}");
    assert!(
        d.get_str("eventError")
            .unwrap()
            .contains("postgres.activity_events"),
        "{d}"
    );

    proxy.set(Mode::Forward);
    let back = Instant::now();
    eventually(
        Duration::from_secs(2),
        "the activity after PostgreSQL returned",
        || async { (activity(&pg_url, id).await.len() == 1).then_some(()) },
    )
    .await;
    println!(
        "activity recorded {:?} after PostgreSQL returned",
        back.elapsed()
    );
    pending_events_removed(&app, &slug, "pending events removed").await;

    // Redelivering the same event (as after a crash between effect and removal) changes nothing.
    let event = d.get_array("pendingEvents").unwrap()[0].clone();
    app.mongo()
        .collection::<Document>("posts")
        .update_one(doc! { "slug": &slug }, doc! { "$push": { "pendingEvents": event }, "$set": { "eventsDueAt": mongodb::bson::DateTime::now() } })
        .await
        .unwrap();
    pending_events_removed(&app, &slug, "the replayed event consumed").await;
    assert_eq!(activity(&pg_url, id).await.len(), 1, "recorded once");
    assert_eq!(
        activity_summary(&pg_url, id).await["post.created"],
        1,
        "counted once"
    );
}
