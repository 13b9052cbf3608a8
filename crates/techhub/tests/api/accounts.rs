//! Accounts on MySQL and the registration flow across the stores: registering (also while
//! PostgreSQL is down, and fifty at once with one email), logging in, profile changes reaching
//! MongoDB and PostgreSQL, unique names and emails, and email verification.

use std::time::{Duration, Instant};

use mongodb::bson::{doc, Document};
use serde_json::{json, Value};
use sqlx::Row;
use techhub_core::Store;

use crate::helpers::{eventually, token_in, TestApp};
use crate::proxy::Mode;
use crate::routes::expect_json;

async fn analytics_rows(pool: &sqlx::PgPool, user_id: u64) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM user_analytics WHERE user_id = $1")
        .bind(user_id as i64)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn registration_returns_a_token_and_reaches_postgres_and_mongodb_within_a_second() {
    let app = TestApp::spawn().await;
    let started = Instant::now();
    let ada = json!({ "username": "Ada", "email": " ADA@Example.com ", "password": "password123" });
    let body = expect_json(app.create_user(ada).await, 201, "registering Ada").await;
    let user = &body["user"];
    assert_eq!(user["email"], "ada@example.com", "normalised");
    assert_eq!(user["username"], "Ada");
    assert!(user["bio"].is_null() && user["image"].is_null());
    assert_eq!(user["emailVerified"], false);
    assert!(user["token"].as_str().unwrap().split('.').count() == 3);

    let id: u64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'ada@example.com'")
        .fetch_one(app.stores.mysql.pool())
        .await
        .unwrap();
    let pg = app.stores.postgres.pool().clone();
    let profiles = app.mongo().collection::<Document>("user_profiles");
    eventually(Duration::from_secs(1), "analytics row and profile", || {
        let (pg, profiles) = (pg.clone(), profiles.clone());
        async move {
            let row = analytics_rows(&pg, id).await == 1;
            let profile = profiles
                .find_one(doc! { "userId": id as i64 })
                .await
                .unwrap();
            (row && profile.is_some()).then_some(())
        }
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    let profile = profiles
        .find_one(doc! { "userId": id as i64 })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(profile.get_str("username").unwrap(), "Ada");
    assert!(profile.get_array("following").unwrap().is_empty());
    assert!(profile.get_array("bookmarks").unwrap().is_empty());
    assert_eq!(
        profile
            .get_document("preferences")
            .unwrap()
            .get_str("theme")
            .unwrap(),
        "system"
    );

    // Every user starts on the free plan.
    let plan: String =
        sqlx::query_scalar("SELECT CAST(plan_type AS CHAR) FROM subscriptions WHERE user_id = ?")
            .bind(id)
            .fetch_one(app.stores.mysql.pool())
            .await
            .unwrap();
    assert_eq!(plan, "free");
}

#[tokio::test]
async fn registration_succeeds_while_postgres_is_down_and_the_row_appears_exactly_once_after() {
    let (proxy, app) = TestApp::spawn_behind_proxy(Store::Postgres, |_| {}).await;
    // A direct connection, around the proxy, to look at PostgreSQL ourselves.
    let direct = sqlx::PgPool::connect(&app.dbs.config.postgres_url)
        .await
        .unwrap();

    proxy.set(Mode::Refuse);
    let user = app.register("grace").await;

    // MongoDB is up, so the profile arrives; the analytics row cannot.
    let profiles = app.mongo().collection::<Document>("user_profiles");
    eventually(Duration::from_secs(2), "the profile", || {
        let profiles = profiles.clone();
        async move {
            profiles
                .find_one(doc! { "userId": user.id as i64 })
                .await
                .unwrap()
                .map(|_| ())
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(analytics_rows(&direct, user.id).await, 0);
    let attempts: u32 =
        sqlx::query_scalar("SELECT attempts FROM outbox WHERE event_type = 'user.registered'")
            .fetch_one(app.stores.mysql.pool())
            .await
            .unwrap();
    assert!(
        attempts >= 2,
        "the relay kept retrying: {attempts} attempts"
    );

    proxy.set(Mode::Forward);
    eventually(
        Duration::from_secs(10),
        "the analytics row after PostgreSQL returns",
        || {
            let direct = direct.clone();
            async move { (analytics_rows(&direct, user.id).await > 0).then_some(()) }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(analytics_rows(&direct, user.id).await, 1, "exactly once");
    let applied: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM processed_events WHERE consumer = 'postgres.user_analytics'",
    )
    .fetch_one(&direct)
    .await
    .unwrap();
    assert_eq!(applied, 1);
    let status: String = sqlx::query_scalar(
        "SELECT CAST(status AS CHAR) FROM outbox WHERE event_type = 'user.registered'",
    )
    .fetch_one(app.stores.mysql.pool())
    .await
    .unwrap();
    assert_eq!(status, "delivered");
}

#[tokio::test]
async fn fifty_concurrent_registrations_with_one_email_create_exactly_one_user() {
    let app = TestApp::spawn().await;
    let responses = futures::future::join_all((0..50).map(|i| {
        app.create_user(
            json!({ "username": format!("racer{i}"), "email": "same@example.com",
                                "password": "password123" }),
        )
    }))
    .await;
    let mut created = 0;
    for response in responses {
        match response.status().as_u16() {
            201 => created += 1,
            409 => {
                let body: Value = response.json().await.unwrap();
                assert_eq!(
                    body,
                    json!({ "errors": { "email": ["has already been taken"] } })
                );
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(created, 1);
    let rows: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email = 'same@example.com'")
            .fetch_one(app.stores.mysql.pool())
            .await
            .unwrap();
    assert_eq!(rows, 1);
    assert_eq!(
        app.outbox_events("user.registered").await,
        1,
        "no event for a registration that failed"
    );
}

#[tokio::test]
async fn login_with_the_right_password_only() {
    let app = TestApp::spawn().await;
    let user = app.register("linus").await;
    let ok = app.login(" LINUS@example.com", "password123").await;
    let body = expect_json(ok, 200, "logging in").await;
    let token = body["user"]["token"].as_str().unwrap().to_string();
    let me = app.current_user_ok(&token).await;
    assert_eq!(me["username"], "linus");
    assert_eq!(me["token"], token.as_str());

    let wrong = app.login(&user.email, "password124").await;
    assert_eq!(wrong.status(), 401);
    let unknown = app.login("nobody@example.com", "password123").await;
    assert_eq!(unknown.status(), 401);
    // The same answer either way: nothing tells which emails exist.
    let (a, b): (Value, Value) = (wrong.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(a, b);
    assert_eq!(
        a,
        json!({ "errors": { "credentials": ["email or password is invalid"] } })
    );
}

#[tokio::test]
async fn profile_changes_flow_to_mongodb_and_postgres() {
    let app = TestApp::spawn().await;
    let user = app.register("margaret").await;
    let changes = json!({ "username": "mhamilton", "bio": "Apollo guidance",
                          "image": "https://example.com/m.png" });
    let updated = app.update_user_ok(&user, changes).await;
    assert_eq!(updated["username"], "mhamilton");
    assert_eq!(updated["bio"], "Apollo guidance");

    let profiles = app.mongo().collection::<Document>("user_profiles");
    let profile = eventually(Duration::from_secs(2), "the renamed profile", || {
        let profiles = profiles.clone();
        async move {
            profiles
                .find_one(doc! { "userId": user.id as i64, "username": "mhamilton" })
                .await
                .unwrap()
        }
    })
    .await;
    assert_eq!(profile.get_str("bio").unwrap(), "Apollo guidance");
    assert_eq!(
        profile.get_str("image").unwrap(),
        "https://example.com/m.png"
    );
    assert_eq!(profile.get_i64("sourceVersion").unwrap(), 2);

    let pg = app.stores.postgres.pool().clone();
    eventually(Duration::from_secs(2), "the renamed analytics row", || {
        let pg = pg.clone();
        async move {
            let row = sqlx::query("SELECT username FROM user_analytics WHERE user_id = $1")
                .bind(user.id as i64)
                .fetch_optional(&pg)
                .await
                .unwrap()?;
            (row.get::<String, _>("username") == "mhamilton").then_some(())
        }
    })
    .await;

    // Clearing the bio with null, and an update that changes nothing, keep working.
    let cleared = app.update_user_ok(&user, json!({ "bio": null })).await;
    assert!(cleared["bio"].is_null());
    let same = app.update_user(&user, json!({ "email": user.email })).await;
    assert_eq!(
        same.status(),
        200,
        "re-sending one's own email is not a conflict"
    );
}

#[tokio::test]
async fn taking_someone_elses_username_or_email_is_a_409() {
    let app = TestApp::spawn().await;
    let a = app.register("alice").await;
    let b = app.register("bob").await;
    for (changes, field) in [
        (json!({ "username": "ALICE" }), "username"),
        (json!({ "email": a.email }), "email"),
    ] {
        let response = app.update_user(&b, changes).await;
        let errors = expect_json(response, 409, field).await;
        assert_eq!(errors["errors"][field], json!(["has already been taken"]));
    }
    let bob = json!({ "username": "Bob", "email": "new@example.com", "password": "password123" });
    let dup = app.create_user(bob).await;
    assert_eq!(dup.status(), 409, "usernames are unique regardless of case");
}

#[tokio::test]
async fn email_verification_through_the_mail_sink() {
    let app = TestApp::spawn().await;
    let user = app.register("barbara").await;
    let mails = app.mail_to(&user.email).await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("Subject: Confirm your TechHub email address"));
    let token = token_in(&mails[0]);
    // Cached before the confirmation: the confirmation must not leave it stale.
    let (_, before) = app.dashboard_ok(&user).await;
    assert_eq!(before["account"]["emailVerified"], false);

    let wrong = app.verify_email("not-the-token").await;
    assert_eq!(
        expect_json(wrong, 422, "a wrong token").await,
        json!({ "errors": { "token": ["is invalid or has expired"] } })
    );

    let ok = expect_json(app.verify_email(&token).await, 200, "the mailed token").await;
    assert_eq!(ok["user"]["emailVerified"], true);
    let (cache, after) = app.dashboard_ok(&user).await;
    assert_eq!(cache, "miss", "confirming drops the cached dashboard");
    assert_eq!(after["account"]["emailVerified"], true);
    let again = app.verify_email(&token).await;
    assert_eq!(again.status(), 422, "a token works once");

    // A new address must be verified again, with a new token; the old one proves nothing.
    let new_address = json!({ "email": "barbara.l@example.com" });
    let changed = app.update_user_ok(&user, new_address).await;
    assert_eq!(changed["emailVerified"], false);
    let second = token_in(&app.mail_to("barbara.l@example.com").await[0]);
    assert_ne!(second, token);
    let ok: Value = app.verify_email(&second).await.json().await.unwrap();
    assert_eq!(ok["user"]["emailVerified"], true);
}
