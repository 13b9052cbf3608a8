//! Idempotency keys for `POST /api/payments`: the first request with a key owns it; a
//! repeat with the same body gets the first one's response again, and a repeat with another
//! body is refused, so a retried payment charges once, also when the requests race.

use serde_json::Value;
use sqlx::Row;

use crate::error::{mysql_code, ER_DUP_ENTRY};
use crate::{AccountsError, MySql};

/// What claiming an Idempotency-Key found.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyClaim {
    /// This request owns the key: do the work, then [`complete_key`] (or [`release_key`]).
    Fresh,
    /// An earlier request with the same key and body finished: send its response again.
    Replay { status: u16, body: Value },
}

/// Claims `key` for `request_hash`, waiting up to 10 s while an identical request is in
/// progress.
pub async fn claim_key(
    db: &MySql,
    user_id: u64,
    key: &str,
    request_hash: &str,
) -> Result<KeyClaim, AccountsError> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let inserted = sqlx::query("INSERT INTO idempotency_keys (user_id, idempotency_key, request_hash) VALUES (?, ?, ?)")
            .bind(user_id)
            .bind(key)
            .bind(request_hash)
            .execute(db.pool())
            .await;
        match inserted {
            Ok(_) => return Ok(KeyClaim::Fresh),
            Err(e) if mysql_code(&e) == Some(ER_DUP_ENTRY) => {}
            Err(e) => return Err(e.into()),
        }
        let row = sqlx::query(
            "SELECT request_hash, CAST(status AS CHAR) AS status, response_status, response_body \
             FROM idempotency_keys WHERE user_id = ? AND idempotency_key = ?",
        )
        .bind(user_id)
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
        if let Some(row) = row {
            if row.get::<String, _>("request_hash") != request_hash {
                return Err(AccountsError::IdempotencyMismatch);
            }
            if row.get::<String, _>("status") == "completed" {
                let status: u16 = row.get("response_status");
                let body: sqlx::types::Json<Value> = row.get("response_body");
                return Ok(KeyClaim::Replay {
                    status,
                    body: body.0,
                });
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Err(AccountsError::IdempotencyInProgress);
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Stores the response for `key`, which later requests with the key receive.
pub async fn complete_key(
    db: &MySql,
    user_id: u64,
    key: &str,
    status: u16,
    body: &Value,
) -> Result<(), AccountsError> {
    sqlx::query(
        "UPDATE idempotency_keys SET status = 'completed', response_status = ?, response_body = ? \
         WHERE user_id = ? AND idempotency_key = ?",
    )
    .bind(status)
    .bind(sqlx::types::Json(body))
    .bind(user_id)
    .bind(key)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Gives `key` up after a failure that left nothing behind, so a retry can run.
pub async fn release_key(db: &MySql, user_id: u64, key: &str) -> Result<(), AccountsError> {
    sqlx::query("DELETE FROM idempotency_keys WHERE user_id = ? AND idempotency_key = ? AND status = 'in_progress'")
        .bind(user_id)
        .bind(key)
        .execute(db.pool())
        .await?;
    Ok(())
}
