//! Accounts on MySQL and the registration flow across the stores.

use std::time::{Duration, Instant};

use mongodb::bson::{doc, Document};
use serde_json::{json, Value};
use sqlx::{Connection, Row};

use crate::helpers::{eventually, token_in, TestApp};
use crate::proxy::{Mode, TcpProxy};

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
    let response = app
        .post("/api/users", json!({ "user": { "username": "Ada", "email": " ADA@Example.com ", "password": "password123" } }), None)
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
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
    let defaults = techhub_core::Config::from_env().unwrap();
    let proxy = TcpProxy::in_front_of(&defaults.postgres_url).await;
    let app = TestApp::spawn_with(|c| c.postgres_url = proxy.url_for(&c.postgres_url)).await;
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
        app.post(
            "/api/users",
            json!({ "user": { "username": format!("racer{i}"), "email": "same@example.com", "password": "password123" } }),
            None,
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
    let events: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE event_type = 'user.registered'")
            .fetch_one(app.stores.mysql.pool())
            .await
            .unwrap();
    assert_eq!(events, 1, "no event for a registration that failed");
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

    let relay = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_techhub"))
            .arg("relay")
            .envs(app.dbs.env())
            .env("TECHHUB_RELAY_BATCH", "10")
            .env("TECHHUB_RELAY_LEASE_MS", "1500")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("techhub relay starts")
    };
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
async fn login_with_the_right_password_only() {
    let app = TestApp::spawn().await;
    let user = app.register("linus").await;
    let login = |email: &str, password: &str| {
        app.post(
            "/api/users/login",
            json!({ "user": { "email": email, "password": password } }),
            None,
        )
    };
    let ok = login(" LINUS@example.com", "password123").await;
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    let token = body["user"]["token"].as_str().unwrap().to_string();
    let me: Value = app
        .get_auth("/api/user", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["username"], "linus");
    assert_eq!(me["user"]["token"], token.as_str());

    let wrong = login(&user.email, "password124").await;
    assert_eq!(wrong.status(), 401);
    let unknown = login("nobody@example.com", "password123").await;
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
    let response = app
        .put(
            "/api/user",
            json!({ "user": { "username": "mhamilton", "bio": "Apollo guidance", "image": "https://example.com/m.png" } }),
            Some(&user.token),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["username"], "mhamilton");
    assert_eq!(body["user"]["bio"], "Apollo guidance");

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
    let cleared: Value = app
        .put(
            "/api/user",
            json!({ "user": { "bio": null } }),
            Some(&user.token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(cleared["user"]["bio"].is_null());
    let same = app
        .put(
            "/api/user",
            json!({ "user": { "email": user.email } }),
            Some(&user.token),
        )
        .await;
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
    for (body, field) in [
        (json!({ "user": { "username": "ALICE" } }), "username"),
        (json!({ "user": { "email": a.email } }), "email"),
    ] {
        let response = app.put("/api/user", body, Some(&b.token)).await;
        assert_eq!(response.status(), 409);
        let errors: Value = response.json().await.unwrap();
        assert_eq!(errors["errors"][field], json!(["has already been taken"]));
    }
    let dup = app
        .post("/api/users", json!({ "user": { "username": "Bob", "email": "new@example.com", "password": "password123" } }), None)
        .await;
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

    let wrong = app
        .post(
            "/api/user/verify",
            json!({ "token": "not-the-token" }),
            None,
        )
        .await;
    assert_eq!(wrong.status(), 422);
    assert_eq!(
        wrong.json::<Value>().await.unwrap(),
        json!({ "errors": { "token": ["is invalid or has expired"] } })
    );

    let ok = app
        .post("/api/user/verify", json!({ "token": token }), None)
        .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.json::<Value>().await.unwrap()["user"]["emailVerified"],
        true
    );
    let again = app
        .post("/api/user/verify", json!({ "token": token }), None)
        .await;
    assert_eq!(again.status(), 422, "a token works once");

    // A new address must be verified again, with a new token; the old one proves nothing.
    let changed: Value = app
        .put(
            "/api/user",
            json!({ "user": { "email": "barbara.l@example.com" } }),
            Some(&user.token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(changed["user"]["emailVerified"], false);
    let second = token_in(&app.mail_to("barbara.l@example.com").await[0]);
    assert_ne!(second, token);
    let ok = app
        .post("/api/user/verify", json!({ "token": second }), None)
        .await;
    assert_eq!(
        ok.json::<Value>().await.unwrap()["user"]["emailVerified"],
        true
    );
}

#[tokio::test]
async fn missing_forged_expired_and_malformed_tokens_get_401() {
    let app = TestApp::spawn().await;
    let user = app.register("mallory").await;
    let forged = {
        let mut other = app.config.clone();
        other.jwt_secret = "an-entirely-different-secret-of-sufficient-length"
            .to_string()
            .into();
        techhub_api::auth::Jwt::from_config(&other).issue(user.id)
    };
    let expired = {
        let mut short = app.config.clone();
        short.jwt_ttl_secs = 1;
        let token = techhub_api::auth::Jwt::from_config(&short).issue(user.id);
        tokio::time::sleep(Duration::from_millis(7000)).await; // past the 5 s leeway
        token
    };
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "is missing"),
        ("forged", Some(format!("Token {forged}")), "is invalid"),
        ("expired", Some(format!("Token {expired}")), "has expired"),
        ("garbage", Some("Token abc.def.ghi".into()), "is invalid"),
        (
            "wrong scheme",
            Some(format!("Basic {}", user.token)),
            "must be sent as 'Authorization: Token <jwt>'",
        ),
        (
            "empty",
            Some("Token ".into()),
            "must be sent as 'Authorization: Token <jwt>'",
        ),
    ];
    for (what, header, message) in cases {
        let mut request = app.http.get(app.url("/api/user"));
        if let Some(h) = header {
            request = request.header("Authorization", h);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{what}");
        assert_eq!(response.headers()["www-authenticate"], "Token", "{what}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({ "errors": { "token": [message] } }), "{what}");
    }
    let ok = app.get_auth("/api/user", &user.token).await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn the_eleventh_login_attempt_in_the_window_gets_429_with_retry_after() {
    let app = TestApp::spawn_with(|c| {
        c.rate_login_account = "10/300".parse().unwrap();
        c.rate_login_ip = "15/300".parse().unwrap();
        c.rate_register_ip = "3/3600".parse().unwrap();
        c.rate_writes_user = "3/60".parse().unwrap();
    })
    .await;
    let user = app.register("limited").await;
    let attempt = |email: String, password: &'static str| {
        let app = &app;
        async move {
            app.post(
                "/api/users/login",
                serde_json::json!({ "user": { "email": email, "password": password } }),
                None,
            )
            .await
        }
    };
    // Ten attempts, right or wrong, are answered normally.
    for i in 0..10 {
        let password = if i % 2 == 0 {
            "wrong-password"
        } else {
            "password123"
        };
        let status = attempt(user.email.clone(), password).await.status();
        assert!(
            status == 200 || status == 401,
            "attempt {}: {status}",
            i + 1
        );
    }
    // The 11th, even with the right password and a differently cased email, is refused.
    let eleventh = attempt(user.email.to_uppercase(), "password123").await;
    assert_eq!(eleventh.status(), 429);
    let retry: u64 = eleventh.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    assert_eq!(eleventh.headers()["x-ratelimit-limit"], "10");
    assert_eq!(eleventh.headers()["x-ratelimit-remaining"], "0");
    let body: serde_json::Value = eleventh.json().await.unwrap();
    assert!(
        body["errors"]["rate_limit"][0]
            .as_str()
            .unwrap()
            .contains("this account"),
        "{body}"
    );
    // Another account from the same address still may, until the per-address limit (15).
    let other = app.register("other").await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            attempt(other.email.clone(), "wrong-password")
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 429],
        "the 16th attempt from this address"
    );

    // Registrations per address: two more fit (3 per hour), the fourth does not.
    let reg = |name: &'static str| {
        let app = &app;
        async move {
            app.post(
                "/api/users",
                serde_json::json!({ "user": { "username": name, "email": format!("{name}@example.com"), "password": "long enough password" } }),
                None,
            )
            .await
            .status()
        }
    };
    assert_eq!(
        reg("third").await,
        201,
        "two registrations so far; the third fits"
    );
    assert_eq!(reg("fourth").await, 429);

    // Writes per user: three follows fit, with the remaining count in the headers.
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = app
            .post(
                "/api/profiles/other/follow",
                serde_json::json!({}),
                Some(&user.token),
            )
            .await;
        assert_eq!(r.status(), 200);
        remaining.push(
            r.headers()["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let fourth = app
        .post(
            "/api/profiles/other/follow",
            serde_json::json!({}),
            Some(&user.token),
        )
        .await;
    assert_eq!(fourth.status(), 429);
    assert!(fourth.headers().contains_key("retry-after"));
    // Reads are not writes.
    let read = app.get_auth("/api/user", &user.token).await;
    let status = read.status();
    assert_eq!(status, 200, "{}", read.text().await.unwrap_or_default());
}
