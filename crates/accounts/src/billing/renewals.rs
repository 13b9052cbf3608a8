//! Renewals: every paid subscription whose cycle ended is charged again with its saved
//! payment method and extended, expired to the free plan when the payment fails, or ended
//! when it was cancelled. The renewal job (`techhub serve`) runs [`renew_due`].

use chrono::{DateTime, Utc};
use techhub_core::events::{Event, EventPayload};

use super::{
    capitalize, charge, create_order, end_subscription, load_subscription, saved_method, settle,
    start_free, with_billing_lock,
};
use crate::payments::{ChargeOutcome, PaymentProvider, PaymentSource};
use crate::{outbox, AccountsError, MySql};

/// What one run of the renewal job did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RenewalReport {
    /// Charged and extended by one cycle.
    pub renewed: u32,
    /// Payment failed: moved to the free plan.
    pub expired: u32,
    /// Cancelled earlier and now at the end of the cycle: moved to the free plan.
    pub ended: u32,
}

/// Renews every paid subscription whose cycle ended by `now`: charges the saved payment
/// method and extends the cycle, or expires the subscription (free plan) when the payment
/// fails, or ends it when it was cancelled. Safe to run from several instances at once: rows
/// are claimed with `SKIP LOCKED` and charges are idempotent per cycle.
pub async fn renew_due(
    db: &MySql,
    provider: &dyn PaymentProvider,
    now: DateTime<Utc>,
) -> Result<RenewalReport, AccountsError> {
    let mut report = RenewalReport::default();
    loop {
        let mut tx = db.pool().begin().await?;
        let due: Vec<u64> = sqlx::query_scalar(
            "SELECT id FROM subscriptions WHERE status IN ('active', 'past_due') AND plan_type <> 'free' \
             AND current_period_end <= ? ORDER BY current_period_end LIMIT 50 FOR UPDATE SKIP LOCKED",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        for id in &due {
            sqlx::query("UPDATE subscriptions SET status = 'past_due' WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if due.is_empty() {
            return Ok(report);
        }
        for id in due {
            let user_id: u64 = sqlx::query_scalar("SELECT user_id FROM subscriptions WHERE id = ?")
                .bind(id)
                .fetch_one(db.pool())
                .await?;
            match with_billing_lock(db, user_id, renew_one(db, provider, id)).await {
                Ok(Renewal::Renewed) => report.renewed += 1,
                Ok(Renewal::Expired) => report.expired += 1,
                Ok(Renewal::Ended) => report.ended += 1,
                Err(e) => {
                    tracing::warn!(subscription.id = id, error = %e, "renewal failed; the next run retries")
                }
            }
        }
    }
}

enum Renewal {
    Renewed,
    Expired,
    Ended,
}

async fn renew_one(
    db: &MySql,
    provider: &dyn PaymentProvider,
    id: u64,
) -> Result<Renewal, AccountsError> {
    let mut conn = db.pool().acquire().await?;
    let sub = load_subscription(&mut conn, id).await?;
    let method = saved_method(db, id).await?;
    drop(conn);
    let end = sub
        .current_period_end
        .expect("paid subscriptions have a cycle end");
    if !sub.auto_renew {
        let mut tx = db.pool().begin().await?;
        end_subscription(&mut tx, id, "cancelled").await?;
        start_free(&mut tx, sub.user_id).await?;
        tx.commit().await?;
        return Ok(Renewal::Ended);
    }
    let price = sub.plan.price(sub.billing_cycle);
    let description = format!(
        "TechHub {} ({}) renewal",
        capitalize(sub.plan.as_str()),
        sub.billing_cycle.as_str()
    );
    // One order per subscription cycle, whatever the number of runs.
    let number = format!("R{}-{}", sub.id, end.timestamp());
    let order = create_order(
        db,
        sub.user_id,
        "subscription",
        &description,
        price,
        Some(&number),
    )
    .await?;
    let outcome = match method {
        Some(token) => charge(db, provider, &order, PaymentSource::Saved(token)).await?,
        None => ChargeOutcome::Declined {
            reason: "no saved payment method".into(),
        },
    };
    let mut tx = db.pool().begin().await?;
    let renewal = match outcome {
        ChargeOutcome::Succeeded { reference, .. } => {
            sqlx::query(
                "UPDATE subscriptions SET status = 'active', current_period_start = ?, current_period_end = ? WHERE id = ?",
            )
            .bind(end)
            .bind(sub.billing_cycle.end_of_cycle(end))
            .bind(id)
            .execute(&mut *tx)
            .await?;
            settle(
                &mut tx,
                sub.user_id,
                Some(id),
                &order,
                Ok(reference),
                provider.name(),
            )
            .await?;
            let renewed = load_subscription(&mut tx, id).await?;
            outbox::enqueue(
                &mut tx,
                &Event::new(EventPayload::SubscriptionChanged(renewed.snapshot())),
            )
            .await?;
            Renewal::Renewed
        }
        ChargeOutcome::Declined { reason } => {
            settle(
                &mut tx,
                sub.user_id,
                Some(id),
                &order,
                Err(reason),
                provider.name(),
            )
            .await?;
            end_subscription(&mut tx, id, "expired").await?;
            start_free(&mut tx, sub.user_id).await?;
            Renewal::Expired
        }
    };
    tx.commit().await?;
    Ok(renewal)
}
