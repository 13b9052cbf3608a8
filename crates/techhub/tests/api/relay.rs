//! The outbox relay beyond the happy path: a relay killed mid-batch and restarted, dead
//! letters, and several relays at once.

use std::process::{Command, Stdio};
use std::time::Duration;

use mongodb::bson::{doc, Document};
use sqlx::Connection;

use crate::helpers::{eventually, TestApp};
use crate::proxy::Mode;

fn techhub(app: &TestApp, args: &[&str], env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_techhub"));
    cmd.args(args).envs(app.dbs.env()).env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// A `techhub relay` process taking `batch` events at a time, whose leases run out 1.5 s
/// after it stops renewing them (after a kill -9, say).
fn short_lease_relay(app: &TestApp, batch: u32) -> std::process::Child {
    let env = [
        ("TECHHUB_RELAY_BATCH", batch.to_string()),
        ("TECHHUB_RELAY_LEASE_MS", "1500".to_string()),
    ];
    techhub(app, &["relay"], &env)
        .stdout(Stdio::null())
        .spawn()
        .expect("techhub relay starts")
}

#[tokio::test]
async fn an_event_that_keeps_failing_is_parked_reported_by_doctor_and_replayed() {
    let (proxy, app) = TestApp::spawn_behind_proxy(techhub_core::Store::Postgres, |c| {
        c.relay_max_attempts = 3;
        c.relay_max_backoff_ms = 100;
    })
    .await;
    proxy.set(Mode::Refuse);
    let user = app.register("unlucky").await;
    let mysql = app.stores.mysql.pool().clone();
    let dead_id: u64 = eventually(Duration::from_secs(10), "the event to be parked as dead", || {
        let mysql = mysql.clone();
        async move {
            sqlx::query_scalar("SELECT id FROM outbox WHERE event_type = 'user.registered' AND status = 'dead'")
                .fetch_optional(&mysql)
                .await
                .unwrap()
        }
    })
    .await;
    let attempts: u32 = sqlx::query_scalar("SELECT attempts FROM outbox WHERE id = ?")
        .bind(dead_id)
        .fetch_one(&mysql)
        .await
        .unwrap();
    assert_eq!(attempts, 3);

    // doctor names it, with the way out, and exits 1 (it talks to the stores directly).
    let doctor = techhub(&app, &["doctor"], &[]).output().unwrap();
    let report = String::from_utf8_lossy(&doctor.stdout).to_string();
    assert_eq!(doctor.status.code(), Some(1), "{report}");
    assert!(report.contains("1 dead"), "{report}");
    assert!(
        report.contains(&format!("dead #{dead_id} user.registered (3 attempts)")),
        "{report}"
    );
    assert!(
        report.contains(&format!("techhub relay --replay {dead_id}")),
        "{report}"
    );

    // PostgreSQL comes back; the replay puts the event in line and the app's relay delivers it.
    proxy.set(Mode::Forward);
    let replay = techhub(&app, &["relay", "--replay", &dead_id.to_string()], &[])
        .output()
        .unwrap();
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    eventually(
        Duration::from_secs(10),
        "the replayed event to be delivered",
        || {
            let mysql = mysql.clone();
            async move {
                let status: String =
                    sqlx::query_scalar("SELECT CAST(status AS CHAR) FROM outbox WHERE id = ?")
                        .bind(dead_id)
                        .fetch_one(&mysql)
                        .await
                        .unwrap();
                (status == "delivered").then_some(())
            }
        },
    )
    .await;
    let mut pg = sqlx::PgConnection::connect(&app.dbs.config.postgres_url)
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_analytics WHERE user_id = $1")
        .bind(user.id as i64)
        .fetch_one(&mut pg)
        .await
        .unwrap();
    assert_eq!(rows, 1);

    let missing = techhub(&app, &["relay", "--replay", "999999"], &[])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr)
        .contains("no undelivered outbox event with id 999999"));
}

#[tokio::test]
async fn two_relays_at_once_claim_every_event_exactly_once() {
    const USERS: u64 = 60;
    let app = TestApp::spawn_with(|c| c.relay = false).await;
    for i in 0..USERS {
        app.register(&format!("pair{i}")).await;
    }
    let relays: Vec<_> = (0..2)
        .map(|_| {
            techhub(
                &app,
                &["relay"],
                &[
                    ("TECHHUB_RELAY_BATCH", "5".into()),
                    ("TECHHUB_RELAY_POLL_MS", "10".into()),
                ],
            )
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
        })
        .collect();
    let mysql = app.stores.mysql.pool().clone();
    eventually(Duration::from_secs(30), "every event delivered", || {
        let mysql = mysql.clone();
        async move {
            let pending: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status <> 'delivered'")
                    .fetch_one(&mysql)
                    .await
                    .unwrap();
            (pending == 0).then_some(())
        }
    })
    .await;
    for mut relay in relays {
        relay.kill().unwrap();
        relay.wait().unwrap();
    }
    // One claim per event: no relay ever took an event another one held.
    let claimed_twice: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE attempts <> 1")
        .fetch_one(&mysql)
        .await
        .unwrap();
    assert_eq!(claimed_twice, 0);
    let deliveries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox_deliveries")
        .fetch_one(&mysql)
        .await
        .unwrap();
    // Per user: two projections and the dashboard cache drop for user.registered, one mail.
    assert_eq!(deliveries, 4 * USERS as i64);
}

#[tokio::test]
async fn relay_killed_mid_batch_and_restarted_delivers_every_event_once() {
    const USERS: u64 = 80;
    let app = TestApp::spawn_with(|c| c.relay = false).await;
    for i in 0..USERS {
        app.register(&format!("user{i}")).await;
    }
    let mysql = app.stores.mysql.pool().clone();
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(&mysql)
        .await
        .unwrap();
    assert_eq!(
        total,
        2 * USERS as i64,
        "user.registered and email.requested per user"
    );

    let relay = || short_lease_relay(&app, 10);
    let delivered = |pool: sqlx::MySqlPool| async move {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox WHERE status = 'delivered'")
            .fetch_one(&pool)
            .await
            .unwrap()
    };

    let mut first = relay();
    eventually(
        Duration::from_secs(20),
        "the first relay to deliver something",
        || {
            let mysql = mysql.clone();
            async move { (delivered(mysql).await > 0).then_some(()) }
        },
    )
    .await;
    first.kill().expect("SIGKILL"); // no chance to finish the batch or clean up
    first.wait().unwrap();
    let before_restart = delivered(mysql.clone()).await;
    assert!(
        before_restart < total,
        "killed mid-way: {before_restart} of {total} delivered"
    );

    let mut second = relay();
    eventually(
        Duration::from_secs(30),
        "every event delivered after the restart",
        || {
            let mysql = mysql.clone();
            async move { (delivered(mysql).await == total).then_some(()) }
        },
    )
    .await;
    second.kill().unwrap();
    second.wait().unwrap();

    // Effects counted: one of each per user, whatever was delivered twice.
    let mut pg = sqlx::PgConnection::connect(&app.dbs.config.postgres_url)
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_analytics")
        .fetch_one(&mut pg)
        .await
        .unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM processed_events")
        .fetch_one(&mut pg)
        .await
        .unwrap();
    assert_eq!((rows, applied), (USERS as i64, USERS as i64));
    let profiles = app
        .mongo()
        .collection::<Document>("user_profiles")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(profiles, USERS);
    let mails = std::fs::read_dir(app.config.data_dir.join("mail"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "eml")
        })
        .count();
    assert_eq!(mails as u64, USERS, "one verification email per user");
    let deliveries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox_deliveries")
        .fetch_one(&mysql)
        .await
        .unwrap();
    assert_eq!(
        deliveries,
        4 * USERS as i64,
        "per user: the two projections, the dashboard cache drop and one mail"
    );
}

#[tokio::test]
async fn new_posts_reach_the_activity_log_once_through_a_relay_killed_midway_and_restarted() {
    const POSTS: usize = 150;
    let app = TestApp::spawn_with(|c| {
        c.relay = false;
        c.rate_writes_user = "off".parse().unwrap();
    })
    .await;
    // The post whose event the first relay gets stuck on (see below).
    const STUCK_AT: usize = 100;
    let author = app.register("streamed").await;
    let mut stuck_slug = String::new();
    for i in 0..POSTS {
        let slug = app
            .publish(
                &author,
                crate::routes::new_article(&format!("Streamed {i}")),
            )
            .await;
        if i == STUCK_AT {
            stuck_slug = slug;
        }
    }
    let pg_url = app.dbs.config.postgres_url.clone();
    let created = |pg_url: String| async move {
        let mut pg = sqlx::PgConnection::connect(&pg_url).await.unwrap();
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM activity_events WHERE kind = 'post.created' AND user_id = $1",
        )
        .bind(author.id as i64)
        .fetch_one(&mut pg)
        .await
        .unwrap()
    };
    assert_eq!(created(pg_url.clone()).await, 0, "no relay ran yet");
    // A transaction of the test's holds an uncommitted activity row with the event id of post
    // STUCK_AT, so the relay's insert of that event waits on it: the batches before it are
    // delivered, and the relay is stuck mid-way however fast the machine is.
    let stuck_event = app
        .post_document(&stuck_slug)
        .await
        .get_document("createdEvent")
        .unwrap()
        .get_str("id")
        .unwrap()
        .to_string();
    let mut blocker = sqlx::PgConnection::connect(&pg_url).await.unwrap();
    let mut block = blocker.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO activity_events (event_id, user_id, kind, subject_id, details, occurred_at) \
         VALUES ($1::uuid, $2, 'post.created', 'blocker', '{}', now())",
    )
    .bind(stuck_event)
    .bind(author.id as i64)
    .execute(&mut *block)
    .await
    .unwrap();
    let relay = || short_lease_relay(&app, 5);
    let mut first = relay();
    eventually(
        Duration::from_secs(20),
        "the first relay to deliver some",
        || {
            let pg_url = pg_url.clone();
            async move { (created(pg_url).await > 0).then_some(()) }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill().expect("SIGKILL"); // its lease stays taken until it runs out
    first.wait().unwrap();
    block.rollback().await.unwrap();
    let before = created(pg_url.clone()).await;
    assert!(
        before > 0 && before <= STUCK_AT as i64,
        "killed mid-way: {before} of {POSTS}"
    );

    let mut second = relay();
    eventually(
        Duration::from_secs(30),
        "every new post's event after the restart",
        || {
            let pg_url = pg_url.clone();
            async move { (created(pg_url).await == POSTS as i64).then_some(()) }
        },
    )
    .await;
    // Nothing more comes: each post's event is recorded once, whatever was delivered twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    second.kill().unwrap();
    second.wait().unwrap();
    println!("{before} of {POSTS} delivered before the kill");
    assert_eq!(created(pg_url).await, POSTS as i64);
    let due = app
        .mongo()
        .collection::<Document>("posts")
        .count_documents(doc! { "eventsDueAt": { "$exists": true } })
        .await
        .unwrap();
    assert_eq!(due, 0, "none was handed to the due-event path");
}
