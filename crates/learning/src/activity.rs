//! The activity log: what users did on the platform (posts written, published, edited,
//! deleted), recorded from content events. The event id is the primary key, so recording an
//! event twice changes nothing; the per-kind counters in `user_analytics.activity_summary`
//! move in the same transaction, only when the event is new.

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use crate::{PgError, Postgres};

/// One activity to record.
#[derive(Clone, Debug)]
pub struct Activity<'a> {
    pub event_id: Uuid,
    pub user_id: u64,
    /// The event type, e.g. `post.created`.
    pub kind: &'a str,
    /// What it is about, e.g. the post id.
    pub subject_id: &'a str,
    pub details: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
}

/// Records `activity` once. Returns false when the event was already recorded.
pub async fn record(pg: &Postgres, activity: &Activity<'_>) -> Result<bool, PgError> {
    let work = async {
        let mut tx = pg.pool().begin().await?;
        let fresh = sqlx::query(
            "INSERT INTO activity_events (event_id, user_id, kind, subject_id, details, occurred_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(activity.event_id)
        .bind(activity.user_id as i64)
        .bind(activity.kind)
        .bind(activity.subject_id)
        .bind(&activity.details)
        .bind(activity.occurred_at)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if fresh {
            // The row may not exist yet: the registration event travels through another
            // relay. Create it bare; the registration projection fills in the rest (its
            // version guard accepts any snapshot over this version-0 row).
            sqlx::query(
                "INSERT INTO user_analytics (user_id, activity_summary, last_activity) \
                 VALUES ($1, jsonb_build_object($2::text, 1), $3) \
                 ON CONFLICT (user_id) DO UPDATE SET \
                 activity_summary = jsonb_set(user_analytics.activity_summary, ARRAY[$2::text], \
                     to_jsonb(COALESCE((user_analytics.activity_summary->>$2)::bigint, 0) + 1)), \
                 last_activity = GREATEST(user_analytics.last_activity, $3), updated_at = now()",
            )
            .bind(activity.user_id as i64)
            .bind(activity.kind)
            .bind(activity.occurred_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(fresh)
    };
    pg.timed(work).await
}

/// A recorded activity, newest first in [`recent`].
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub event_id: Uuid,
    pub kind: String,
    pub subject_id: String,
    pub details: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
}

/// The user's most recent activities.
pub async fn recent(pg: &Postgres, user_id: u64, limit: i64) -> Result<Vec<Recorded>, PgError> {
    let rows = pg
        .timed(
            sqlx::query(
                "SELECT event_id, kind, subject_id, details, occurred_at FROM activity_events \
                 WHERE user_id = $1 ORDER BY occurred_at DESC, event_id DESC LIMIT $2",
            )
            .bind(user_id as i64)
            .bind(limit)
            .fetch_all(pg.pool()),
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Recorded {
            event_id: r.get("event_id"),
            kind: r.get("kind"),
            subject_id: r.get("subject_id"),
            details: r.get("details"),
            occurred_at: r.get("occurred_at"),
        })
        .collect())
}
