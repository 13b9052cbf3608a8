//! Authentication and rate limits: missing, forged, expired and malformed tokens get 401 with
//! the reason; logins, registrations and writes past their limits get 429 with Retry-After.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::TestApp;

#[tokio::test]
async fn missing_forged_expired_and_malformed_tokens_get_401() {
    let app = TestApp::spawn().await;
    let user = app.register("mallory").await;
    let forged = app.forged_token(user.id);
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
    assert_eq!(app.current_user(&user).await.status(), 200);
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
        async move { app.login(&email, password).await }
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
    let body: Value = eleventh.json().await.unwrap();
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
        let email = format!("{name}@example.com");
        let user = json!({ "username": name, "email": email, "password": "long enough password" });
        async move { app.create_user(user).await.status() }
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
        let r = app.follow(&user, "other").await;
        assert_eq!(r.status(), 200);
        remaining.push(
            r.headers()["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let fourth = app.follow(&user, "other").await;
    assert_eq!(fourth.status(), 429);
    assert!(fourth.headers().contains_key("retry-after"));
    // Reads are not writes.
    let read = app.current_user(&user).await;
    let status = read.status();
    assert_eq!(status, 200, "{}", read.text().await.unwrap_or_default());
}
