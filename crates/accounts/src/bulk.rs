//! Bulk writes for `techhub seed`: many accounts at once, in multi-row `INSERT`s of users and
//! their subscriptions, one transaction per call. They bypass registration (no outbox events,
//! no email verification): the seed writes every store itself, consistent with each other.

use chrono::{DateTime, Utc};
use techhub_core::plans::{BillingCycle, Plan};

use crate::{AccountsError, MySql};

/// One account to write: a verified user in UTC on a monthly plan whose current cycle started
/// at `period_start` (free plans have no end).
pub struct SeededAccount<'a> {
    pub id: u64,
    pub email: String,
    pub username: &'a str,
    /// An Argon2id hash ([`crate::password::hash`]).
    pub password_hash: &'a str,
    pub created_at: DateTime<Utc>,
    pub plan: Plan,
    pub period_start: DateTime<Utc>,
}

/// Writes `accounts` (users and their subscriptions) in one transaction.
pub async fn insert_accounts(
    db: &MySql,
    accounts: &[SeededAccount<'_>],
) -> Result<(), AccountsError> {
    if accounts.is_empty() {
        return Ok(());
    }
    let mut tx = db.pool().begin().await?;
    let mut users = sqlx::QueryBuilder::new(
        "INSERT INTO users (id, email, username, password_hash, display_name, email_verified, \
         timezone, created_at) ",
    );
    users.push_values(accounts, |mut row, a| {
        row.push_bind(a.id)
            .push_bind(&a.email)
            .push_bind(a.username)
            .push_bind(a.password_hash)
            .push_bind(a.username)
            .push_bind(true)
            .push_bind("UTC")
            .push_bind(a.created_at.naive_utc());
    });
    users.build().execute(&mut *tx).await?;
    let mut subscriptions = sqlx::QueryBuilder::new(
        "INSERT INTO subscriptions (user_id, plan_type, billing_cycle, price, \
         current_period_start, current_period_end, created_at) ",
    );
    subscriptions.push_values(accounts, |mut row, a| {
        let cycle = BillingCycle::Monthly;
        let end = (a.plan != Plan::Free)
            .then(|| (a.period_start + chrono::Duration::days(30)).naive_utc());
        row.push_bind(a.id)
            .push_bind(a.plan.as_str())
            .push_bind(cycle.as_str())
            .push_bind(a.plan.price(cycle))
            .push_bind(a.period_start.naive_utc())
            .push_bind(end)
            .push_bind(a.created_at.naive_utc());
    });
    subscriptions.build().execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// How many users have an email address at `domain`.
pub async fn count_at_domain(db: &MySql, domain: &str) -> Result<i64, AccountsError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email LIKE ?")
            .bind(format!("%@{domain}"))
            .fetch_one(db.pool())
            .await?,
    )
}

/// The largest user id so far (0 when there are none).
pub async fn max_user_id(db: &MySql) -> Result<u64, AccountsError> {
    Ok(
        sqlx::query_scalar::<_, u64>("SELECT CAST(COALESCE(MAX(id), 0) AS UNSIGNED) FROM users")
            .fetch_one(db.pool())
            .await?,
    )
}
