//! `user_analytics`: one row per user, created when the user registers and kept in step with
//! the account's username and time zone.

use sqlx::Row;
use techhub_core::events::UserSnapshot;
use uuid::Uuid;

use crate::{PgError, Postgres};

/// Records `event_id` for `consumer` and applies `snapshot` to the user's analytics row, in
/// one transaction. Returns false when the event was already applied (nothing changes). An
/// older snapshot than the row's never overwrites it.
pub async fn apply_user_snapshot(
    pg: &Postgres,
    consumer: &str,
    event_id: Uuid,
    snapshot: &UserSnapshot,
) -> Result<bool, PgError> {
    let work = async {
        let mut tx = pg.pool().begin().await?;
        let fresh = sqlx::query("INSERT INTO processed_events (event_id, consumer) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(event_id)
            .bind(consumer)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if fresh {
            sqlx::query(
                "INSERT INTO user_analytics (user_id, username, timezone, source_version) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id) DO UPDATE SET username = EXCLUDED.username, timezone = EXCLUDED.timezone, \
                 source_version = EXCLUDED.source_version, updated_at = now() \
                 WHERE user_analytics.source_version < EXCLUDED.source_version",
            )
            .bind(snapshot.user_id as i64)
            .bind(&snapshot.username)
            .bind(&snapshot.timezone)
            .bind(snapshot.version as i32)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(fresh)
    };
    pg.timed(work).await
}

/// Whether the user has an analytics row (used by reconciliation and tests).
pub async fn exists(pg: &Postgres, user_id: u64) -> Result<bool, PgError> {
    let row = pg
        .timed(
            sqlx::query("SELECT 1 AS one FROM user_analytics WHERE user_id = $1")
                .bind(user_id as i64)
                .fetch_optional(pg.pool()),
        )
        .await?;
    Ok(row.map(|r| r.get::<i32, _>("one") == 1).unwrap_or(false))
}
