//! The transactional outbox. A change that other stores must learn of calls [`enqueue`] inside
//! its own transaction, so the fact and its event commit (or roll back) together. The relay
//! (`techhub-sync`) then [`claim`]s batches, delivers them and records the outcome.
//!
//! Claiming is a lease: the claimed rows' `next_attempt_at` moves `lease` into the future in
//! the same transaction that locked them (`FOR UPDATE SKIP LOCKED`), so concurrent relays never
//! take the same row, and a relay that dies mid-batch only delays its rows until the lease
//! runs out, when any relay takes them again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{MySqlConnection, Row};
use techhub_core::events::{Event, EventPayload};
use uuid::Uuid;

use crate::MySql;

/// Writes `event` to the outbox on `conn`, which must be inside the caller's transaction.
pub async fn enqueue(conn: &mut MySqlConnection, event: &Event) -> Result<(), sqlx::Error> {
    let (aggregate_type, aggregate_id) = event.payload.aggregate();
    sqlx::query(
        "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, payload, created_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(event.id.to_string())
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(event.payload.event_type())
    .bind(sqlx::types::Json(event.payload.data()))
    .bind(event.occurred_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A claimed outbox row: the event, how often delivery was tried, and which consumers
/// already applied it.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub outbox_id: u64,
    pub aggregate: String,
    pub attempts: u32,
    pub delivered_to: Vec<String>,
    /// `Err` when the stored payload no longer parses: a poison event.
    pub event: Result<Event, String>,
}

/// Claims up to `batch` due events for `lease`.
pub async fn claim(db: &MySql, batch: u32, lease: Duration) -> Result<Vec<Claimed>, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    let rows = sqlx::query(
        "SELECT id, event_id, aggregate_type, aggregate_id, event_type, payload, attempts, created_at \
         FROM outbox WHERE status = 'pending' AND next_attempt_at <= NOW(3) \
         ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED",
    )
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        tx.commit().await?;
        return Ok(Vec::new());
    }
    let ids: Vec<u64> = rows.iter().map(|r| r.get::<u64, _>("id")).collect();
    let placeholders = vec!["?"; ids.len()].join(",");
    let lease_sql = format!(
        "UPDATE outbox SET next_attempt_at = NOW(3) + INTERVAL ? MICROSECOND, attempts = attempts + 1 \
         WHERE id IN ({placeholders})"
    );
    let mut update = sqlx::query(&lease_sql).bind(lease.as_micros() as u64);
    for id in &ids {
        update = update.bind(id);
    }
    update.execute(&mut *tx).await?;
    let done_sql = format!(
        "SELECT outbox_id, consumer FROM outbox_deliveries WHERE outbox_id IN ({placeholders})"
    );
    let mut done_query = sqlx::query(&done_sql);
    for id in &ids {
        done_query = done_query.bind(id);
    }
    let done = done_query.fetch_all(&mut *tx).await?;
    tx.commit().await?;

    Ok(rows
        .into_iter()
        .map(|row| {
            let outbox_id: u64 = row.get("id");
            let event_type: String = row.get("event_type");
            let payload: sqlx::types::Json<serde_json::Value> = row.get("payload");
            let event_id: String = row.get("event_id");
            let occurred_at: DateTime<Utc> = row.get("created_at");
            let event = Uuid::parse_str(&event_id)
                .map_err(|e| format!("bad event id {event_id}: {e}"))
                .and_then(|id| {
                    EventPayload::from_parts(&event_type, payload.0)
                        .map(|payload| Event {
                            id,
                            occurred_at,
                            payload,
                        })
                        .map_err(|e| format!("cannot read {event_type} payload: {e}"))
                });
            Claimed {
                outbox_id,
                aggregate: format!(
                    "{}:{}",
                    row.get::<String, _>("aggregate_type"),
                    row.get::<String, _>("aggregate_id")
                ),
                attempts: row.get::<u32, _>("attempts") + 1,
                delivered_to: done
                    .iter()
                    .filter(|d| d.get::<u64, _>("outbox_id") == outbox_id)
                    .map(|d| d.get::<String, _>("consumer"))
                    .collect(),
                event,
            }
        })
        .collect())
}

/// Records that `consumer` applied the event, so a retry skips it.
pub async fn consumer_done(db: &MySql, outbox_id: u64, consumer: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT IGNORE INTO outbox_deliveries (outbox_id, consumer) VALUES (?, ?)")
        .bind(outbox_id)
        .bind(consumer)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Every consumer applied the event.
pub async fn delivered(db: &MySql, outbox_id: u64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbox SET status = 'delivered', delivered_at = NOW(3), last_error = NULL WHERE id = ?")
        .bind(outbox_id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Delivery failed: try again after `retry_in`, or park the event as dead when `dead`.
pub async fn failed(
    db: &MySql,
    outbox_id: u64,
    error: &str,
    retry_in: Duration,
    dead: bool,
) -> Result<(), sqlx::Error> {
    let error: String = error.chars().take(2000).collect();
    sqlx::query(
        "UPDATE outbox SET status = IF(?, 'dead', 'pending'), last_error = ?, \
         next_attempt_at = NOW(3) + INTERVAL ? MICROSECOND WHERE id = ?",
    )
    .bind(dead)
    .bind(error)
    .bind(retry_in.as_micros() as u64)
    .bind(outbox_id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A parked event, as `techhub doctor` reports it.
#[derive(Clone, Debug, Serialize)]
pub struct DeadLetter {
    pub outbox_id: u64,
    pub event_id: String,
    pub event_type: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn dead_letters(db: &MySql, limit: u32) -> Result<Vec<DeadLetter>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, event_id, event_type, attempts, last_error, created_at FROM outbox \
         WHERE status = 'dead' ORDER BY id LIMIT ?",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|r| DeadLetter {
            outbox_id: r.get("id"),
            event_id: r.get("event_id"),
            event_type: r.get("event_type"),
            attempts: r.get("attempts"),
            last_error: r.get("last_error"),
            created_at: r.get("created_at"),
        })
        .collect())
}

/// Counts by status, and the age of the oldest pending event.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct OutboxStats {
    pub pending: u64,
    pub dead: u64,
    pub oldest_pending_secs: Option<f64>,
}

pub async fn stats(db: &MySql) -> Result<OutboxStats, sqlx::Error> {
    let row = sqlx::query(
        "SELECT COALESCE(SUM(status = 'pending'), 0) AS pending, COALESCE(SUM(status = 'dead'), 0) AS dead, \
         TIMESTAMPDIFF(MICROSECOND, MIN(IF(status = 'pending', created_at, NULL)), NOW(3)) AS oldest \
         FROM outbox WHERE status <> 'delivered'",
    )
    .fetch_one(db.pool())
    .await?;
    let as_u64 = |v: rust_decimal::Decimal| u64::try_from(v).unwrap_or(0);
    Ok(OutboxStats {
        pending: as_u64(row.get("pending")),
        dead: as_u64(row.get("dead")),
        oldest_pending_secs: row
            .get::<Option<i64>, _>("oldest")
            .map(|us| us as f64 / 1e6),
    })
}

/// Puts a dead (or pending) event back in line for immediate delivery. Returns false when no
/// such event exists or it was already delivered.
pub async fn replay(db: &MySql, outbox_id: u64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = NOW(3), last_error = NULL \
         WHERE id = ? AND status <> 'delivered'",
    )
    .bind(outbox_id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}
