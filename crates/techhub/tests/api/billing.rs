//! Plans, payments and orders on MySQL: exact money, declines that change nothing,
//! cancellation, renewals, and Idempotency-Key under a race.

use chrono::{Duration, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use techhub_accounts::billing::{self, RenewalReport};

use crate::helpers::{TestApp, TestUser};
use crate::routes::expect_json;

fn card(number: &str) -> Value {
    json!({ "number": number, "expMonth": 12, "expYear": 2031, "cvc": "123" })
}

async fn change_plan(
    app: &TestApp,
    user: &TestUser,
    plan: &str,
    card_number: Option<&str>,
) -> reqwest::Response {
    let mut subscription = json!({ "plan": plan, "billingCycle": "monthly" });
    if let Some(n) = card_number {
        subscription["card"] = card(n);
    }
    app.change_subscription(user, subscription).await
}

#[tokio::test]
async fn new_users_are_on_the_free_plan_with_its_entitlements() {
    let app = TestApp::spawn().await;
    let user = app.register("freddie").await;
    let sub = app.subscription_ok(&user).await;
    assert_eq!(sub["plan"], "free");
    assert_eq!(sub["price"], "0.00");
    assert_eq!(sub["entitlements"]["maxDrafts"], 5);
    assert_eq!(sub["entitlements"]["maxLearningPaths"], 1);
    assert_eq!(sub["cancelAtPeriodEnd"], false);
}

#[tokio::test]
async fn the_plans_on_offer_are_public_with_prices_and_entitlements() {
    let app = TestApp::spawn().await;
    let response = app.get("/api/plans").await;
    let body = expect_json(response, 200, "listing the plans").await;
    let plans = body["plans"].as_array().expect("plans is a list");
    let names: Vec<&str> = plans.iter().map(|p| p["plan"].as_str().unwrap()).collect();
    assert_eq!(names, ["free", "pro", "enterprise"]);
    assert_eq!(plans[0]["monthlyPrice"], "0.00");
    assert_eq!(plans[1]["monthlyPrice"], "12.00");
    assert_eq!(plans[1]["yearlyPrice"], "120.00");
    assert_eq!(plans[2]["monthlyPrice"], "49.00");
    assert_eq!(plans[1]["currency"], "USD");
    assert_eq!(plans[0]["entitlements"]["maxDrafts"], 5);
    assert_eq!(plans[1]["entitlements"]["maxDrafts"], 100);
    assert!(
        plans[2]["entitlements"]["maxDrafts"].is_null(),
        "enterprise drafts are unlimited"
    );
}

#[tokio::test]
async fn upgrading_charges_the_exact_price_and_starts_a_billing_cycle() {
    let app = TestApp::spawn().await;
    let user = app.register("paula").await;
    let response = change_plan(&app, &user, "pro", Some("4242424242424242")).await;
    let body = expect_json(response, 200, "upgrading to pro").await;
    assert_eq!(body["subscription"]["plan"], "pro");
    assert_eq!(body["subscription"]["price"], "12.00");
    assert_eq!(body["subscription"]["entitlements"]["maxDrafts"], 100);
    assert_eq!(body["order"]["status"], "paid");
    assert_eq!(body["order"]["total"], "12.00");
    assert_eq!(body["payment"]["status"], "succeeded");
    assert_eq!(body["payment"]["amount"], "12.00");
    let start = chrono::DateTime::parse_from_rfc3339(
        body["subscription"]["currentPeriodStart"].as_str().unwrap(),
    )
    .unwrap();
    let end = chrono::DateTime::parse_from_rfc3339(
        body["subscription"]["currentPeriodEnd"].as_str().unwrap(),
    )
    .unwrap();
    assert!(
        (28..=31).contains(&(end - start).num_days()),
        "one month: {start} .. {end}"
    );
    assert!(
        !body.to_string().contains("4242424242424242"),
        "no card number comes back"
    );

    let stored: Decimal =
        sqlx::query_scalar("SELECT amount FROM payment_history WHERE user_id = ?")
            .bind(user.id)
            .fetch_one(app.stores.mysql.pool())
            .await
            .unwrap();
    assert_eq!(stored, Decimal::new(1200, 2));
    let payments = app.payments_ok(&user).await;
    assert_eq!(payments["payments"].as_array().unwrap().len(), 1);
    let orders = app.orders_ok(&user).await;
    assert_eq!(orders["orders"][0]["description"], "TechHub Pro (monthly)");
    assert_eq!(app.outbox_events("subscription.changed").await, 1);
    assert_eq!(app.sandbox().successful_charges(), 1);

    let again = change_plan(&app, &user, "pro", Some("4242424242424242")).await;
    assert_eq!(again.status(), 422);
    assert_eq!(
        again.json::<Value>().await.unwrap(),
        json!({ "errors": { "plan": ["is already your plan"] } })
    );
}

#[tokio::test]
async fn a_declined_card_is_a_402_and_changes_nothing_but_the_record_of_it() {
    let app = TestApp::spawn().await;
    let user = app.register("dora").await;
    let response = change_plan(&app, &user, "enterprise", Some("4000000000000002")).await;
    assert_eq!(
        expect_json(response, 402, "a declined card").await,
        json!({ "errors": { "payment": ["card_declined"] } })
    );
    assert_eq!(app.subscription_ok(&user).await["plan"], "free");
    let payments = app.payments_ok(&user).await;
    assert_eq!(payments["payments"][0]["status"], "failed");
    assert_eq!(payments["payments"][0]["failureReason"], "card_declined");
    let orders = app.orders_ok(&user).await;
    assert_eq!(orders["orders"][0]["status"], "failed");
    assert_eq!(app.sandbox().successful_charges(), 0);
}

#[tokio::test]
async fn cancelling_keeps_the_plan_until_the_cycle_ends_then_renewal_ends_it() {
    let app = TestApp::spawn().await;
    let user = app.register("carl").await;
    assert_eq!(
        change_plan(&app, &user, "pro", Some("4242424242424242"))
            .await
            .status(),
        200
    );
    let cancelled: Value = app.cancel_subscription(&user).await.json().await.unwrap();
    assert_eq!(cancelled["subscription"]["plan"], "pro");
    assert_eq!(cancelled["subscription"]["status"], "active");
    assert_eq!(cancelled["subscription"]["autoRenew"], false);
    assert_eq!(cancelled["subscription"]["cancelAtPeriodEnd"], true);

    let db = &app.stores.mysql;
    let today = billing::renew_due(db, app.payments.as_ref(), Utc::now())
        .await
        .unwrap();
    assert_eq!(today, RenewalReport::default(), "nothing is due yet");
    let later = billing::renew_due(db, app.payments.as_ref(), Utc::now() + Duration::days(32))
        .await
        .unwrap();
    assert_eq!(
        later,
        RenewalReport {
            renewed: 0,
            expired: 0,
            ended: 1
        }
    );
    assert_eq!(app.subscription_ok(&user).await["plan"], "free");
    assert_eq!(
        app.sandbox().successful_charges(),
        1,
        "no renewal charge after cancelling"
    );

    let free_cancel = app.cancel_subscription(&user).await;
    assert_eq!(free_cancel.status(), 422);
}

#[tokio::test]
async fn renewal_charges_the_saved_method_or_expires_the_plan_when_it_fails() {
    let app = TestApp::spawn().await;
    let good = app.register("goodcard").await;
    let bad = app.register("badcard").await;
    assert_eq!(
        change_plan(&app, &good, "pro", Some("4242424242424242"))
            .await
            .status(),
        200
    );
    // 0341 pays once, but its saved method is declined later.
    assert_eq!(
        change_plan(&app, &bad, "pro", Some("4000000000000341"))
            .await
            .status(),
        200
    );
    let end_before = app.subscription_ok(&good).await["currentPeriodEnd"].clone();

    let when = Utc::now() + Duration::days(32);
    let report = billing::renew_due(&app.stores.mysql, app.payments.as_ref(), when)
        .await
        .unwrap();
    assert_eq!(
        report,
        RenewalReport {
            renewed: 1,
            expired: 1,
            ended: 0
        }
    );
    // Running again for the same moment finds nothing more to do.
    let again = billing::renew_due(&app.stores.mysql, app.payments.as_ref(), when)
        .await
        .unwrap();
    assert_eq!(again, RenewalReport::default());

    let renewed = app.subscription_ok(&good).await;
    assert_eq!(renewed["plan"], "pro");
    assert_eq!(
        renewed["currentPeriodStart"], end_before,
        "the new cycle starts where the old one ended"
    );
    let payments = app.payments_ok(&good).await;
    assert_eq!(payments["payments"].as_array().unwrap().len(), 2);

    assert_eq!(app.subscription_ok(&bad).await["plan"], "free");
    let expired: String = sqlx::query_scalar(
        "SELECT CAST(status AS CHAR) FROM subscriptions WHERE user_id = ? AND plan_type = 'pro'",
    )
    .bind(bad.id)
    .fetch_one(app.stores.mysql.pool())
    .await
    .unwrap();
    assert_eq!(expired, "expired");
    assert_eq!(app.sandbox().successful_charges(), 3);
}

/// A one-off payment of `amount` dollars by a card that pays.
fn payment(amount: &str) -> Value {
    json!({ "amount": amount, "currency": "USD", "description": "Rust course",
            "card": card("4242424242424242") })
}

/// How many payments of `user` MySQL recorded.
async fn payment_rows(app: &TestApp, user: &TestUser) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM payment_history WHERE user_id = ?")
        .bind(user.id)
        .fetch_one(app.stores.mysql.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn twenty_concurrent_payments_with_one_idempotency_key_charge_once_and_answer_alike() {
    let app = TestApp::spawn().await;
    let user = app.register("ivy").await;
    let body = payment("49.90");
    let responses =
        futures::future::join_all((0..20).map(|_| app.pay(&user, "order-7f3a", &body))).await;
    let mut answers = Vec::new();
    for response in responses {
        answers.push((
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        ));
    }
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "every response identical: {answers:?}"
    );
    assert_eq!(answers[0].0, 201);
    assert_eq!(answers[0].1["payment"]["amount"], "49.90");
    assert_eq!(app.sandbox().successful_charges(), 1);
    assert_eq!(payment_rows(&app, &user).await, 1);

    // The same key with a different request is refused, and charges nothing.
    let other = app.pay(&user, "order-7f3a", &payment("10.00")).await;
    assert_eq!(other.status(), 422);
    assert_eq!(app.sandbox().successful_charges(), 1);

    // Keys belong to a user: another user's identical key is a new payment.
    let second = app.register("jack").await;
    let theirs = app.pay(&second, "order-7f3a", &payment("49.90")).await;
    assert_eq!(theirs.status(), 201);
    assert_eq!(app.sandbox().successful_charges(), 2);
}

#[tokio::test]
async fn a_declined_one_off_payment_is_replayed_as_declined() {
    let app = TestApp::spawn().await;
    let user = app.register("nina").await;
    let mut body = payment("5.00");
    body["card"] = card("4000000000009995");
    let first = expect_json(app.pay(&user, "k-1", &body).await, 402, "declined").await;
    assert_eq!(first["errors"]["payment"], json!(["insufficient_funds"]));
    let second = app.pay(&user, "k-1", &body).await;
    assert_eq!(second.status(), 402);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.json::<Value>().await.unwrap(), first);
    assert_eq!(payment_rows(&app, &user).await, 1);
}
