//! Subscriptions, orders and payments. Money is `DECIMAL` in MySQL and [`Decimal`] here.
//!
//! A paid change goes: order (pending) → charge at the provider, outside any transaction →
//! one transaction that records the payment, settles the order, starts the new billing cycle
//! and writes `subscription.changed` to the outbox. Billing changes of one user are serialized
//! with a MySQL named lock, so two concurrent plan changes cannot both charge.
//!
//! Subscription rows are history: the current one is the newest `active`/`past_due` row; a
//! plan change ends it (`cancelled`) and inserts the next. Upgrades are charged in full and
//! start a new cycle at once (no proration); a move to the free plan is immediate and not
//! refunded; cancelling keeps the plan to the end of the paid cycle.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::mysql::MySqlRow;
use sqlx::{MySqlConnection, Row};
use techhub_core::domain::FieldError;
use techhub_core::events::{Event, EventPayload, SubscriptionSnapshot};
use techhub_core::plans::{BillingCycle, Plan, CURRENCY};

use crate::error::{mysql_code, AccountsError, ER_DUP_ENTRY};
use crate::payments::{Card, ChargeOutcome, ChargeRequest, PaymentProvider, PaymentSource};
use crate::{outbox, MySql};

mod idempotency;
mod renewals;

pub use idempotency::{claim_key, complete_key, release_key, KeyClaim};
pub use renewals::{renew_due, RenewalReport};

#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    pub id: u64,
    pub user_id: u64,
    pub plan: Plan,
    pub status: String,
    pub billing_cycle: BillingCycle,
    pub price: Decimal,
    pub currency: String,
    pub auto_renew: bool,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub has_payment_method: bool,
}

const SUBSCRIPTION_COLUMNS: &str = "id, user_id, CAST(plan_type AS CHAR) AS plan_type, CAST(status AS CHAR) AS status, \
     CAST(billing_cycle AS CHAR) AS billing_cycle, price, currency, auto_renew, current_period_start, \
     current_period_end, cancelled_at, payment_method_ref";

impl Subscription {
    fn from_row(row: &MySqlRow) -> Self {
        Subscription {
            id: row.get("id"),
            user_id: row.get("user_id"),
            plan: Plan::parse(row.get::<&str, _>("plan_type"))
                .expect("the ENUM only holds known plans"),
            status: row.get("status"),
            billing_cycle: BillingCycle::parse(row.get::<&str, _>("billing_cycle"))
                .expect("the ENUM only holds known cycles"),
            price: row.get("price"),
            currency: row.get("currency"),
            auto_renew: row.get("auto_renew"),
            current_period_start: row.get("current_period_start"),
            current_period_end: row.get("current_period_end"),
            cancelled_at: row.get("cancelled_at"),
            has_payment_method: row.get::<Option<String>, _>("payment_method_ref").is_some(),
        }
    }

    fn snapshot(&self) -> SubscriptionSnapshot {
        SubscriptionSnapshot {
            user_id: self.user_id,
            subscription_id: self.id,
            plan: self.plan,
            status: self.status.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    pub id: u64,
    pub order_number: String,
    pub item_type: String,
    pub description: String,
    pub subtotal: Decimal,
    pub tax: Decimal,
    pub total: Decimal,
    pub currency: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

const ORDER_COLUMNS: &str =
    "id, order_number, CAST(item_type AS CHAR) AS item_type, description, subtotal, tax, total, \
     currency, CAST(status AS CHAR) AS status, created_at";

impl Order {
    fn from_row(row: &MySqlRow) -> Self {
        Order {
            id: row.get("id"),
            order_number: row.get("order_number"),
            item_type: row.get("item_type"),
            description: row.get("description"),
            subtotal: row.get("subtotal"),
            tax: row.get("tax"),
            total: row.get("total"),
            currency: row.get("currency"),
            status: row.get("status"),
            created_at: row.get("created_at"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Payment {
    pub id: u64,
    pub order_id: Option<u64>,
    pub amount: Decimal,
    pub currency: String,
    pub status: String,
    pub provider: String,
    pub provider_reference: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

const PAYMENT_COLUMNS: &str =
    "id, order_id, amount, currency, CAST(status AS CHAR) AS status, provider, \
     provider_reference, failure_reason, created_at";

impl Payment {
    fn from_row(row: &MySqlRow) -> Self {
        Payment {
            id: row.get("id"),
            order_id: row.get("order_id"),
            amount: row.get("amount"),
            currency: row.get("currency"),
            status: row.get("status"),
            provider: row.get("provider"),
            provider_reference: row.get("provider_reference"),
            failure_reason: row.get("failure_reason"),
            created_at: row.get("created_at"),
        }
    }
}

/// The user's current subscription.
pub async fn current(db: &MySql, user_id: u64) -> Result<Subscription, AccountsError> {
    let row = db
        .timed(
            sqlx::query(&format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions \
                 WHERE user_id = ? AND status IN ('active', 'past_due') ORDER BY id DESC LIMIT 1"
            ))
            .bind(user_id)
            .fetch_optional(db.pool()),
        )
        .await?;
    row.map(|r| Subscription::from_row(&r))
        .ok_or(AccountsError::NotFound)
}

/// Runs `work` holding the user's billing lock (a MySQL named lock, held by one connection).
async fn with_billing_lock<T, F>(db: &MySql, user_id: u64, work: F) -> Result<T, AccountsError>
where
    F: std::future::Future<Output = Result<T, AccountsError>>,
{
    let mut conn = db.pool().acquire().await?;
    let name = format!("techhub.billing.{user_id}");
    let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 10)")
        .bind(&name)
        .fetch_one(&mut *conn)
        .await?;
    if got != Some(1) {
        return Err(AccountsError::Busy);
    }
    let result = work.await;
    sqlx::query("SELECT RELEASE_LOCK(?)")
        .bind(&name)
        .execute(&mut *conn)
        .await?;
    result
}

/// The outcome of a plan change.
#[derive(Clone, Debug)]
pub struct PlanChange {
    pub subscription: Subscription,
    pub order: Option<Order>,
    pub payment: Option<Payment>,
}

/// Moves the user to `plan` billed per `cycle`, charging `card` (or the saved payment method)
/// for a paid plan.
pub async fn change_plan(
    db: &MySql,
    provider: &dyn PaymentProvider,
    user_id: u64,
    plan: Plan,
    cycle: BillingCycle,
    card: Option<Card>,
) -> Result<PlanChange, AccountsError> {
    with_billing_lock(db, user_id, async {
        let cur = current(db, user_id).await?;
        let unchanged = plan == cur.plan && (plan == Plan::Free || cycle == cur.billing_cycle);
        if unchanged && cur.plan != Plan::Free && !cur.auto_renew {
            // Changing one's mind after cancelling: keep renewing, nothing to charge.
            let mut tx = db.pool().begin().await?;
            sqlx::query("UPDATE subscriptions SET auto_renew = TRUE, cancelled_at = NULL WHERE id = ?")
                .bind(cur.id)
                .execute(&mut *tx)
                .await?;
            let subscription = load_subscription(&mut tx, cur.id).await?;
            outbox::enqueue(&mut tx, &Event::new(EventPayload::SubscriptionChanged(subscription.snapshot()))).await?;
            tx.commit().await?;
            return Ok(PlanChange { subscription, order: None, payment: None });
        }
        if unchanged {
            return Err(FieldError::new("plan", "is already your plan").into());
        }
        if plan == Plan::Free {
            let mut tx = db.pool().begin().await?;
            end_subscription(&mut tx, cur.id, "cancelled").await?;
            let subscription = start_free(&mut tx, user_id).await?;
            tx.commit().await?;
            return Ok(PlanChange { subscription, order: None, payment: None });
        }

        let source = match card {
            Some(card) => PaymentSource::Card(card),
            None => match saved_method(db, cur.id).await? {
                Some(token) => PaymentSource::Saved(token),
                None => return Err(FieldError::new("card", "can't be blank").into()),
            },
        };
        let price = plan.price(cycle);
        let description = format!("TechHub {} ({})", capitalize(plan.as_str()), cycle.as_str());
        let order = create_order(db, user_id, "subscription", &description, price, None).await?;
        let outcome = charge(db, provider, &order, source).await?;
        let mut tx = db.pool().begin().await?;
        match outcome {
            ChargeOutcome::Succeeded { reference, payment_method } => {
                end_subscription(&mut tx, cur.id, "cancelled").await?;
                let now = Utc::now();
                let id = sqlx::query(
                    "INSERT INTO subscriptions (user_id, plan_type, status, billing_cycle, price, currency, auto_renew, \
                     current_period_start, current_period_end, payment_method_ref) VALUES (?, ?, 'active', ?, ?, ?, TRUE, ?, ?, ?)",
                )
                .bind(user_id)
                .bind(plan.as_str())
                .bind(cycle.as_str())
                .bind(price)
                .bind(CURRENCY)
                .bind(now)
                .bind(cycle.end_of_cycle(now))
                .bind(&payment_method)
                .execute(&mut *tx)
                .await?
                .last_insert_id();
                let payment = settle(&mut tx, user_id, Some(id), &order, Ok(reference), provider.name()).await?;
                let subscription = load_subscription(&mut tx, id).await?;
                outbox::enqueue(&mut tx, &Event::new(EventPayload::SubscriptionChanged(subscription.snapshot()))).await?;
                let order = load_order(&mut tx, order.id).await?;
                tx.commit().await?;
                Ok(PlanChange { subscription, order: Some(order), payment: Some(payment) })
            }
            ChargeOutcome::Declined { reason } => {
                settle(&mut tx, user_id, None, &order, Err(reason.clone()), provider.name()).await?;
                tx.commit().await?;
                Err(AccountsError::PaymentDeclined(reason))
            }
        }
    })
    .await
}

/// Stops renewal: the plan stays until the end of the paid cycle, then the renewal job moves
/// the user to the free plan. Cancelling twice is the same as once.
pub async fn cancel(db: &MySql, user_id: u64) -> Result<Subscription, AccountsError> {
    with_billing_lock(db, user_id, async {
        let cur = current(db, user_id).await?;
        if cur.plan == Plan::Free {
            return Err(FieldError::new("plan", "the free plan cannot be cancelled").into());
        }
        if !cur.auto_renew {
            return Ok(cur);
        }
        let mut tx = db.pool().begin().await?;
        sqlx::query(
            "UPDATE subscriptions SET auto_renew = FALSE, cancelled_at = NOW(3) WHERE id = ?",
        )
        .bind(cur.id)
        .execute(&mut *tx)
        .await?;
        let subscription = load_subscription(&mut tx, cur.id).await?;
        outbox::enqueue(
            &mut tx,
            &Event::new(EventPayload::SubscriptionChanged(subscription.snapshot())),
        )
        .await?;
        tx.commit().await?;
        Ok(subscription)
    })
    .await
}

/// A one-off payment (a course, a donation): an order of type `other`, charged to `card`.
/// A declined card is not an error here: the payment comes back with status `failed`.
pub async fn pay(
    db: &MySql,
    provider: &dyn PaymentProvider,
    user_id: u64,
    amount: Decimal,
    description: &str,
    card: Card,
) -> Result<(Order, Payment), AccountsError> {
    let order = create_order(db, user_id, "other", description, amount, None).await?;
    let outcome = charge(db, provider, &order, PaymentSource::Card(card)).await?;
    let mut tx = db.pool().begin().await?;
    let result = match outcome {
        ChargeOutcome::Succeeded { reference, .. } => Ok(reference),
        ChargeOutcome::Declined { reason } => Err(reason),
    };
    let payment = settle(&mut tx, user_id, None, &order, result, provider.name()).await?;
    let order = load_order(&mut tx, order.id).await?;
    tx.commit().await?;
    Ok((order, payment))
}

/// Validates a client-supplied amount: positive, at most two decimals, at most 100000.00.
pub fn parse_amount(raw: &Value) -> Result<Decimal, FieldError> {
    let text = match raw {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => return Err(FieldError::new("amount", "can't be blank")),
        _ => {
            return Err(FieldError::new(
                "amount",
                "must be a decimal number such as \"19.99\"",
            ))
        }
    };
    let amount: Decimal = text
        .parse()
        .map_err(|_| FieldError::new("amount", "must be a decimal number such as \"19.99\""))?;
    if amount <= Decimal::ZERO {
        return Err(FieldError::new("amount", "must be greater than 0"));
    }
    if amount.normalize().scale() > 2 {
        return Err(FieldError::new(
            "amount",
            "must have at most 2 decimal places",
        ));
    }
    if amount > Decimal::new(10_000_000, 2) {
        return Err(FieldError::new("amount", "must be at most 100000.00"));
    }
    Ok(amount.round_dp(2))
}

pub async fn payments(
    db: &MySql,
    user_id: u64,
    limit: u32,
    offset: u32,
) -> Result<Vec<Payment>, AccountsError> {
    let rows = db
        .timed(
            sqlx::query(&format!(
                "SELECT {PAYMENT_COLUMNS} FROM payment_history WHERE user_id = ? ORDER BY id DESC LIMIT ? OFFSET ?"
            ))
            .bind(user_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(db.pool()),
        )
        .await?;
    Ok(rows.iter().map(Payment::from_row).collect())
}

pub async fn orders(
    db: &MySql,
    user_id: u64,
    limit: u32,
    offset: u32,
) -> Result<Vec<Order>, AccountsError> {
    let rows = db
        .timed(
            sqlx::query(&format!(
                "SELECT {ORDER_COLUMNS} FROM orders WHERE user_id = ? ORDER BY id DESC LIMIT ? OFFSET ?"
            ))
            .bind(user_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(db.pool()),
        )
        .await?;
    Ok(rows.iter().map(Order::from_row).collect())
}

/// Charges `order.total`; a provider failure marks the order failed and is returned as such.
async fn charge(
    db: &MySql,
    provider: &dyn PaymentProvider,
    order: &Order,
    source: PaymentSource,
) -> Result<ChargeOutcome, AccountsError> {
    let request = ChargeRequest {
        amount: order.total,
        currency: order.currency.clone(),
        source,
        description: order.description.clone(),
        idempotency_key: order.order_number.clone(),
    };
    match provider.charge(&request).await {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            sqlx::query("UPDATE orders SET status = 'failed' WHERE id = ?")
                .bind(order.id)
                .execute(db.pool())
                .await?;
            Err(AccountsError::Provider(e))
        }
    }
}

/// Records the payment and settles the order, in the caller's transaction.
async fn settle(
    conn: &mut MySqlConnection,
    user_id: u64,
    subscription_id: Option<u64>,
    order: &Order,
    result: Result<String, String>,
    provider: &str,
) -> Result<Payment, AccountsError> {
    let (order_status, payment_status, reference, reason) = match &result {
        Ok(reference) => ("paid", "succeeded", Some(reference.as_str()), None),
        Err(reason) => ("failed", "failed", None, Some(reason.as_str())),
    };
    sqlx::query(
        "UPDATE orders SET status = ?, subscription_id = COALESCE(?, subscription_id) WHERE id = ?",
    )
    .bind(order_status)
    .bind(subscription_id)
    .bind(order.id)
    .execute(&mut *conn)
    .await?;
    let id = sqlx::query(
        "INSERT INTO payment_history (user_id, subscription_id, order_id, amount, currency, status, provider, \
         provider_reference, failure_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(user_id)
    .bind(subscription_id)
    .bind(order.id)
    .bind(order.total)
    .bind(&order.currency)
    .bind(payment_status)
    .bind(provider)
    .bind(reference)
    .bind(reason)
    .execute(&mut *conn)
    .await?
    .last_insert_id();
    let row = sqlx::query(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM payment_history WHERE id = ?"
    ))
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Payment::from_row(&row))
}

/// Creates a pending order; with `number`, an existing order of that number is reused.
async fn create_order(
    db: &MySql,
    user_id: u64,
    item_type: &str,
    description: &str,
    total: Decimal,
    number: Option<&str>,
) -> Result<Order, AccountsError> {
    let number = number.map(str::to_string).unwrap_or_else(|| {
        format!(
            "ORD-{}",
            &uuid::Uuid::now_v7().simple().to_string().to_uppercase()[..24]
        )
    });
    let inserted = sqlx::query(
        "INSERT INTO orders (order_number, user_id, item_type, description, subtotal, tax, total, currency, status) \
         VALUES (?, ?, ?, ?, ?, 0, ?, ?, 'pending')",
    )
    .bind(&number)
    .bind(user_id)
    .bind(item_type)
    .bind(description)
    .bind(total)
    .bind(total)
    .bind(CURRENCY)
    .execute(db.pool())
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if mysql_code(&e) == Some(ER_DUP_ENTRY) => {}
        Err(e) => return Err(e.into()),
    }
    let row = sqlx::query(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE order_number = ?"
    ))
    .bind(&number)
    .fetch_one(db.pool())
    .await?;
    Ok(Order::from_row(&row))
}

async fn end_subscription(
    conn: &mut MySqlConnection,
    id: u64,
    status: &str,
) -> Result<(), AccountsError> {
    sqlx::query("UPDATE subscriptions SET status = ?, auto_renew = FALSE, cancelled_at = COALESCE(cancelled_at, NOW(3)) WHERE id = ?")
        .bind(status)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn start_free(
    conn: &mut MySqlConnection,
    user_id: u64,
) -> Result<Subscription, AccountsError> {
    let id = sqlx::query("INSERT INTO subscriptions (user_id, plan_type, price, current_period_end) VALUES (?, 'free', 0, NULL)")
        .bind(user_id)
        .execute(&mut *conn)
        .await?
        .last_insert_id();
    let subscription = load_subscription(conn, id).await?;
    outbox::enqueue(
        conn,
        &Event::new(EventPayload::SubscriptionChanged(subscription.snapshot())),
    )
    .await?;
    Ok(subscription)
}

async fn saved_method(db: &MySql, subscription_id: u64) -> Result<Option<String>, AccountsError> {
    Ok(
        sqlx::query_scalar("SELECT payment_method_ref FROM subscriptions WHERE id = ?")
            .bind(subscription_id)
            .fetch_one(db.pool())
            .await?,
    )
}

async fn load_subscription(
    conn: &mut MySqlConnection,
    id: u64,
) -> Result<Subscription, AccountsError> {
    let row = sqlx::query(&format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?"
    ))
    .bind(id)
    .fetch_one(conn)
    .await?;
    Ok(Subscription::from_row(&row))
}

async fn load_order(conn: &mut MySqlConnection, id: u64) -> Result<Order, AccountsError> {
    let row = sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?"))
        .bind(id)
        .fetch_one(conn)
        .await?;
    Ok(Order::from_row(&row))
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_are_exact_positive_and_have_two_decimals_at_most() {
        assert_eq!(parse_amount(&json!("19.99")).unwrap().to_string(), "19.99");
        assert_eq!(parse_amount(&json!(19.99)).unwrap().to_string(), "19.99");
        assert_eq!(parse_amount(&json!("5")).unwrap().to_string(), "5");
        assert_eq!(parse_amount(&json!("5.10")).unwrap().to_string(), "5.10");
        for (raw, why) in [
            (json!("-1.00"), "must be greater than 0"),
            (json!("0"), "must be greater than 0"),
            (json!("1.999"), "must have at most 2 decimal places"),
            (json!("100000.01"), "must be at most 100000.00"),
            (json!("ten"), "must be a decimal number such as \"19.99\""),
            (json!(true), "must be a decimal number such as \"19.99\""),
            (json!(null), "can't be blank"),
        ] {
            assert_eq!(parse_amount(&raw).unwrap_err().message, why, "{raw}");
        }
    }
}
