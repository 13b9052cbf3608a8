//! Bad input gets the right 4xx with the field and the reason, and changes nothing.

use serde_json::{json, Value};

use crate::helpers::TestApp;

struct Case {
    what: &'static str,
    method: reqwest::Method,
    path: &'static str,
    /// Raw body text (so malformed JSON can be sent as is).
    body: Option<String>,
    content_type: Option<&'static str>,
    auth: Auth,
    status: u16,
    /// The field expected under `errors`.
    field: &'static str,
    /// Text the message must contain.
    message: &'static str,
}

#[derive(Clone, Copy)]
enum Auth {
    None,
    User,
    Forged,
}

// One positional row per case keeps the table below readable.
#[allow(clippy::too_many_arguments)]
fn case(
    what: &'static str,
    method: reqwest::Method,
    path: &'static str,
    body: Value,
    auth: Auth,
    status: u16,
    field: &'static str,
    message: &'static str,
) -> Case {
    Case {
        what,
        method,
        path,
        body: Some(body.to_string()),
        content_type: Some("application/json"),
        auth,
        status,
        field,
        message,
    }
}

fn user(v: Value) -> Value {
    json!({ "user": v })
}

#[tokio::test]
async fn every_bad_input_gets_a_clear_4xx_and_changes_nothing() {
    use reqwest::Method as M;
    let app = TestApp::spawn().await;
    let me = app.register("victim").await;
    let long = "x".repeat(41);
    let card =
        json!({ "number": "4242424242424242", "expMonth": 12, "expYear": 2031, "cvc": "123" });
    let pay = |amount: Value| json!({ "payment": { "amount": amount, "card": card.clone() } });
    let cases = vec![
        case(
            "empty username",
            M::POST,
            "/api/users",
            user(json!({ "username": "", "email": "a@example.com", "password": "password123" })),
            Auth::None,
            422,
            "username",
            "can't be blank",
        ),
        case(
            "missing email",
            M::POST,
            "/api/users",
            user(json!({ "username": "abc", "password": "password123" })),
            Auth::None,
            422,
            "email",
            "can't be blank",
        ),
        case(
            "too long username",
            M::POST,
            "/api/users",
            user(json!({ "username": long, "email": "a@example.com", "password": "password123" })),
            Auth::None,
            422,
            "username",
            "maximum is 40",
        ),
        case(
            "short password",
            M::POST,
            "/api/users",
            user(json!({ "username": "abc", "email": "a@example.com", "password": "short" })),
            Auth::None,
            422,
            "password",
            "minimum is 8",
        ),
        case(
            "bad email",
            M::POST,
            "/api/users",
            user(json!({ "username": "abc", "email": "not-an-email", "password": "password123" })),
            Auth::None,
            422,
            "email",
            "not a valid email",
        ),
        case(
            "email as a number",
            M::POST,
            "/api/users",
            user(json!({ "username": "abc", "email": 42, "password": "password123" })),
            Auth::None,
            422,
            "email",
            "invalid type",
        ),
        case(
            "user as an array",
            M::POST,
            "/api/users",
            json!({ "user": [] }),
            Auth::None,
            422,
            "user",
            "invalid type",
        ),
        case(
            "no user envelope",
            M::POST,
            "/api/users",
            json!({ "username": "abc" }),
            Auth::None,
            422,
            "user",
            "can't be blank",
        ),
        Case {
            what: "malformed JSON",
            method: M::POST,
            path: "/api/users",
            body: Some("{\"user\": {".into()),
            content_type: Some("application/json"),
            auth: Auth::None,
            status: 400,
            field: "body",
            message: "not valid JSON",
        },
        Case {
            what: "not JSON",
            method: M::POST,
            path: "/api/users",
            body: Some("username=abc".into()),
            content_type: Some("application/x-www-form-urlencoded"),
            auth: Auth::None,
            status: 415,
            field: "body",
            message: "must be JSON",
        },
        Case {
            what: "huge body",
            method: M::POST,
            path: "/api/users",
            body: Some(format!(
                "{{\"user\":{{\"username\":\"{}\"}}}}",
                "a".repeat(2 * 1024 * 1024)
            )),
            content_type: Some("application/json"),
            auth: Auth::None,
            status: 413,
            field: "body",
            message: "too large",
        },
        case(
            "wrong password",
            M::POST,
            "/api/users/login",
            user(json!({ "email": "victim@example.com", "password": "wrongpassword" })),
            Auth::None,
            401,
            "credentials",
            "invalid",
        ),
        case(
            "login without password",
            M::POST,
            "/api/users/login",
            user(json!({ "email": "victim@example.com" })),
            Auth::None,
            422,
            "password",
            "can't be blank",
        ),
        case(
            "update without token",
            M::PUT,
            "/api/user",
            user(json!({ "bio": "hi" })),
            Auth::None,
            401,
            "token",
            "is missing",
        ),
        case(
            "update with forged token",
            M::PUT,
            "/api/user",
            user(json!({ "bio": "hi" })),
            Auth::Forged,
            401,
            "token",
            "is invalid",
        ),
        case(
            "update with nothing",
            M::PUT,
            "/api/user",
            user(json!({})),
            Auth::User,
            422,
            "user",
            "at least one",
        ),
        case(
            "image not http",
            M::PUT,
            "/api/user",
            user(json!({ "image": "javascript:alert(1)" })),
            Auth::User,
            422,
            "image",
            "http or https",
        ),
        case(
            "bio too long",
            M::PUT,
            "/api/user",
            user(json!({ "bio": "b".repeat(5001) })),
            Auth::User,
            422,
            "bio",
            "maximum is 5000",
        ),
        case(
            "verify without token",
            M::POST,
            "/api/user/verify",
            json!({}),
            Auth::None,
            422,
            "token",
            "can't be blank",
        ),
        case(
            "unknown plan",
            M::PUT,
            "/api/subscription",
            json!({ "subscription": { "plan": "platinum", "card": card } }),
            Auth::User,
            422,
            "plan",
            "must be one of",
        ),
        case(
            "unknown cycle",
            M::PUT,
            "/api/subscription",
            json!({ "subscription": { "plan": "pro", "billingCycle": "weekly", "card": card } }),
            Auth::User,
            422,
            "billingCycle",
            "monthly or yearly",
        ),
        case(
            "paid plan without card",
            M::PUT,
            "/api/subscription",
            json!({ "subscription": { "plan": "pro" } }),
            Auth::User,
            422,
            "card",
            "can't be blank",
        ),
        case(
            "card failing Luhn",
            M::PUT,
            "/api/subscription",
            json!({ "subscription": { "plan": "pro", "card": { "number": "4242424242424241", "expMonth": 12, "expYear": 2031, "cvc": "123" } } }),
            Auth::User,
            422,
            "card.number",
            "not a valid card number",
        ),
        case(
            "expired card",
            M::PUT,
            "/api/subscription",
            json!({ "subscription": { "plan": "pro", "card": { "number": "4242424242424242", "expMonth": 1, "expYear": 2020, "cvc": "123" } } }),
            Auth::User,
            422,
            "card.expYear",
            "expired",
        ),
        case(
            "month as a string",
            M::PUT,
            "/api/subscription",
            json!({ "subscription": { "plan": "pro", "card": { "number": "4242424242424242", "expMonth": "12", "expYear": 2031, "cvc": "123" } } }),
            Auth::User,
            422,
            "expMonth",
            "invalid type",
        ),
        case(
            "subscription without token",
            M::GET,
            "/api/subscription",
            json!(null),
            Auth::None,
            401,
            "token",
            "is missing",
        ),
        case(
            "negative amount",
            M::POST,
            "/api/payments",
            pay(json!("-5.00")),
            Auth::User,
            422,
            "amount",
            "greater than 0",
        ),
        case(
            "zero amount",
            M::POST,
            "/api/payments",
            pay(json!(0)),
            Auth::User,
            422,
            "amount",
            "greater than 0",
        ),
        case(
            "three decimals",
            M::POST,
            "/api/payments",
            pay(json!("1.005")),
            Auth::User,
            422,
            "amount",
            "2 decimal places",
        ),
        case(
            "amount as words",
            M::POST,
            "/api/payments",
            pay(json!("ten dollars")),
            Auth::User,
            422,
            "amount",
            "decimal number",
        ),
        case(
            "huge amount",
            M::POST,
            "/api/payments",
            pay(json!("1000000")),
            Auth::User,
            422,
            "amount",
            "at most 100000.00",
        ),
        case(
            "other currency",
            M::POST,
            "/api/payments",
            json!({ "payment": { "amount": "5.00", "currency": "EUR", "card": card } }),
            Auth::User,
            422,
            "currency",
            "only USD",
        ),
        case(
            "payment without card",
            M::POST,
            "/api/payments",
            json!({ "payment": { "amount": "5.00" } }),
            Auth::User,
            422,
            "card",
            "can't be blank",
        ),
        case(
            "limit zero",
            M::GET,
            "/api/payments?limit=0",
            json!(null),
            Auth::User,
            422,
            "limit",
            "between 1 and 100",
        ),
        // Past what MongoDB's signed skip can hold: once a 500.
        case(
            "drafts offset past i64",
            M::GET,
            "/api/user/drafts?offset=9223372036854775808",
            json!(null),
            Auth::User,
            422,
            "offset",
            "between 0 and 10000000",
        ),
        case(
            "bookmarks offset too deep",
            M::GET,
            "/api/user/bookmarks?offset=10000001",
            json!(null),
            Auth::User,
            422,
            "offset",
            "between 0 and 10000000",
        ),
        case(
            "articles offset too deep",
            M::GET,
            "/api/articles?offset=18446744073709551615",
            json!(null),
            Auth::None,
            422,
            "offset",
            "between 0 and 10000000",
        ),
        case(
            "feed offset too deep",
            M::GET,
            "/api/articles/feed?offset=10000001",
            json!(null),
            Auth::User,
            422,
            "offset",
            "between 0 and 10000000",
        ),
    ];

    let forged = app.forged_token(me.id);
    let before = state(&app).await;
    for c in cases {
        let mut request = app.http.request(c.method.clone(), app.url(c.path));
        if c.method != reqwest::Method::GET {
            if let Some(body) = c.body.clone() {
                request = request.body(body);
            }
            if let Some(ct) = c.content_type {
                request = request.header("Content-Type", ct);
            }
        }
        request = match c.auth {
            Auth::None => request,
            Auth::User => request.header("Authorization", format!("Token {}", me.token)),
            Auth::Forged => request.header("Authorization", format!("Token {forged}")),
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(status, c.status, "{}: {text}", c.what);
        let body: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{}: not JSON: {text}", c.what));
        let messages = body["errors"][c.field]
            .as_array()
            .unwrap_or_else(|| panic!("{}: no errors.{} in {text}", c.what, c.field));
        assert!(
            messages
                .iter()
                .any(|m| m.as_str().unwrap_or("").contains(c.message)),
            "{}: errors.{} should mention {:?}: {text}",
            c.what,
            c.field,
            c.message
        );
    }
    assert_eq!(state(&app).await, before, "bad input changed stored state");
}

/// Counts of everything bad input could have written.
async fn state(app: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in [
        "users",
        "subscriptions",
        "orders",
        "payment_history",
        "outbox",
        "idempotency_keys",
        "email_verifications",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(app.stores.mysql.pool())
            .await
            .unwrap();
        counts.push(n);
    }
    let version: u32 = sqlx::query_scalar("SELECT MAX(version) FROM users")
        .fetch_one(app.stores.mysql.pool())
        .await
        .unwrap();
    counts.push(version as i64);
    counts
}
