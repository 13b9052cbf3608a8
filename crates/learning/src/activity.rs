//! The activity log: what users did on the platform (posts written, published, edited,
//! deleted, likes and comments), recorded from content events. The event id is the primary
//! key, so recording an event twice changes nothing; the per-kind counters in
//! `user_analytics.activity_summary` move in the same transaction, only when the event is
//! new, and the user's engagement score moves there too.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use crate::engagement::{self, Earned};
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

/// Records `activity` once and recomputes its user's engagement score (see [`record_all`]).
/// Returns false when the event was already recorded.
pub async fn record(pg: &Postgres, activity: &Activity<'_>) -> Result<bool, PgError> {
    Ok(record_all(pg, std::slice::from_ref(activity)).await? == 1)
}

/// Records `activities` once each and recomputes their users' engagement scores, in one
/// transaction: one multi-row insert (an event already recorded is skipped), one
/// upsert moving the counters of every (user, kind) by the number of fresh rows, then
/// [`engagement::add_on`] for the users with fresh rows. Returns how many were
/// fresh; replaying a batch changes nothing (the log, the counters, the score).
pub async fn record_all(pg: &Postgres, activities: &[Activity<'_>]) -> Result<u64, PgError> {
    if activities.is_empty() {
        return Ok(0);
    }
    let work = async {
        let mut tx = pg.pool().begin().await?;
        let fresh = record_all_on(&mut tx, activities).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(fresh)
    };
    pg.timed(work).await
}

/// [`record_all`] on `conn` (a transaction's).
pub(crate) async fn record_all_on(
    conn: &mut sqlx::PgConnection,
    activities: &[Activity<'_>],
) -> Result<u64, sqlx::Error> {
    // Rows go in in event-id order and users are locked in id order, so two transactions
    // recording overlapping batches (a relay replaying after a lease ran out) wait for each
    // other rather than deadlock.
    let mut rows: Vec<&Activity> = activities.iter().collect();
    rows.sort_by_key(|a| a.event_id);
    rows.dedup_by_key(|a| a.event_id);
    let inserted = sqlx::query(
        "INSERT INTO activity_events (event_id, user_id, kind, subject_id, details, occurred_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::text[], $4::text[], $5::jsonb[], $6::timestamptz[]) \
         ON CONFLICT (event_id) DO NOTHING \
         RETURNING user_id, kind, occurred_at, CASE WHEN kind = 'post.created' THEN details->>'status' END AS status",
    )
    .bind(rows.iter().map(|a| a.event_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|a| a.user_id as i64).collect::<Vec<_>>())
    .bind(rows.iter().map(|a| a.kind).collect::<Vec<_>>())
    .bind(rows.iter().map(|a| a.subject_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|a| a.details.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|a| a.occurred_at).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;

    // Per user: how many fresh rows of each kind, the latest, and what they earned.
    let mut fresh: BTreeMap<i64, (BTreeMap<String, i64>, DateTime<Utc>)> = BTreeMap::new();
    let mut earned: BTreeMap<u64, Vec<(Earned, DateTime<Utc>)>> = BTreeMap::new();
    for row in &inserted {
        let (user_id, kind, at): (i64, String, DateTime<Utc>) =
            (row.get("user_id"), row.get("kind"), row.get("occurred_at"));
        let new = earned.entry(user_id as u64).or_default();
        if let Some(what) = Earned::of_activity(&kind, row.get::<Option<&str>, _>("status")) {
            new.push((what, at));
        }
        let (counts, last) = fresh.entry(user_id).or_insert((BTreeMap::new(), at));
        *counts.entry(kind).or_insert(0) += 1;
        *last = (*last).max(at);
    }
    if !fresh.is_empty() {
        // The row may not exist yet: the registration event travels through another relay.
        // Create it bare; the registration projection fills in the rest (its version guard
        // accepts any snapshot over this version-0 row).
        let users: Vec<i64> = fresh.keys().copied().collect();
        let added: Vec<serde_json::Value> = fresh
            .values()
            .map(|(counts, _)| serde_json::json!(counts))
            .collect();
        let lasts: Vec<DateTime<Utc>> = fresh.values().map(|(_, last)| *last).collect();
        sqlx::query(
            "INSERT INTO user_analytics (user_id, activity_summary, last_activity) \
             SELECT * FROM UNNEST($1::int8[], $2::jsonb[], $3::timestamptz[]) \
             ON CONFLICT (user_id) DO UPDATE SET \
             activity_summary = user_analytics.activity_summary || COALESCE(( \
                 SELECT jsonb_object_agg(added.key, \
                     COALESCE((user_analytics.activity_summary->>added.key)::bigint, 0) + added.value::bigint) \
                 FROM jsonb_each_text(EXCLUDED.activity_summary) AS added), '{}'::jsonb), \
             last_activity = GREATEST(user_analytics.last_activity, EXCLUDED.last_activity), updated_at = now()",
        )
        .bind(users)
        .bind(added)
        .bind(lasts)
        .execute(&mut *conn)
        .await?;
    }

    // Only users with fresh rows: a replayed event's score moved in the transaction that
    // recorded it. Their rows are locked already, in id order, by the upsert above.
    engagement::add_on(&mut *conn, &earned).await?;
    Ok(inserted.len() as u64)
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

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};
    use serde_json::{json, Value};
    use uuid::Uuid;

    use super::*;
    use crate::engagement::{score, Input};
    use crate::test_db::TestPg;

    fn activity<'a>(
        user_id: u64,
        kind: &'a str,
        details: Value,
        occurred_at: DateTime<Utc>,
    ) -> Activity<'a> {
        Activity {
            event_id: Uuid::now_v7(),
            user_id,
            kind,
            subject_id: "post-1",
            details,
            occurred_at,
        }
    }

    /// `days` before `now`, to the microsecond (PostgreSQL's precision).
    fn ago(now: DateTime<Utc>, days: f64) -> DateTime<Utc> {
        now - Duration::microseconds((days * 86_400_000_000.0).round() as i64)
    }

    async fn stored(conn: &mut sqlx::PgConnection, user_id: u64) -> (f64, Value) {
        let row = sqlx::query(
            "SELECT engagement_score::float8 AS score, activity_summary FROM user_analytics WHERE user_id = $1",
        )
        .bind(user_id as i64)
        .fetch_one(conn)
        .await
        .unwrap();
        (row.get("score"), row.get("activity_summary"))
    }

    async fn logged(pg: &Postgres) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM activity_events")
            .fetch_one(pg.pool())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_stored_score_is_score_of_the_recorded_activities() {
        let db = TestPg::create().await;
        let mut tx = db.pg.pool().begin().await.unwrap();
        // now() is the transaction's start: the recompute sees exactly these ages.
        let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        let published = json!({ "status": "published" });
        let draft = json!({ "status": "draft" });
        let reaction = json!({ "slug": "a", "authorId": 1, "actorId": 2 });
        let (ada, bob) = (1, 2);
        let at = |days| ago(now, days);
        let batch = [
            activity(ada, "post.published", published.clone(), at(0.0)),
            // Written published: counts as published.
            activity(ada, "post.created", published.clone(), at(3.5)),
            // A draft, an edit, a deletion: no points.
            activity(ada, "post.created", draft.clone(), at(1.0)),
            activity(ada, "post.updated", published.clone(), at(2.0)),
            activity(ada, "post.deleted", published.clone(), at(2.5)),
            activity(ada, "comment.created", reaction.clone(), at(7.0)),
            activity(ada, "comment.created", reaction.clone(), at(13.25)),
            activity(ada, "post.liked", reaction.clone(), at(0.5)),
            activity(ada, "post.liked", reaction.clone(), at(0.5)),
            activity(ada, "post.liked", reaction.clone(), at(0.5)),
            // Just inside the window, just outside, and stamped a little in the future.
            activity(ada, "post.liked", reaction.clone(), at(29.5)),
            activity(ada, "post.liked", reaction.clone(), at(30.5)),
            activity(ada, "post.liked", reaction.clone(), at(-0.25)),
            activity(ada, "post.published", published.clone(), at(45.0)),
            // Another user in the same batch.
            activity(bob, "post.published", published.clone(), at(7.0)),
            activity(bob, "comment.created", reaction.clone(), at(0.0)),
        ];
        assert_eq!(record_all_on(&mut tx, &batch).await.unwrap(), 16);

        let by_hand = [
            Input::PostPublished { age_days: 0.0 },
            Input::PostPublished { age_days: 3.5 },
            Input::CommentWritten { age_days: 7.0 },
            Input::CommentWritten { age_days: 13.25 },
            Input::LikeReceived { age_days: 0.5 },
            Input::LikeReceived { age_days: 0.5 },
            Input::LikeReceived { age_days: 0.5 },
            Input::LikeReceived { age_days: 29.5 },
            Input::LikeReceived { age_days: 30.5 },
            Input::LikeReceived { age_days: -0.25 },
            Input::PostPublished { age_days: 45.0 },
        ];
        let expected = score(&by_hand, 0);
        // The inputs are such that the window's edge shows in the score.
        assert_ne!(expected, score(&by_hand[..7], 0));
        let (ada_score, ada_summary) = stored(&mut tx, ada).await;
        assert_eq!(ada_score, expected);
        assert_eq!(
            ada_summary,
            json!({
                "post.published": 2, "post.created": 2, "post.updated": 1, "post.deleted": 1,
                "comment.created": 2, "post.liked": 6,
            })
        );
        let bob_expected = score(
            &[
                Input::PostPublished { age_days: 7.0 },
                Input::CommentWritten { age_days: 0.0 },
            ],
            0,
        );
        assert_eq!(stored(&mut tx, bob).await.0, bob_expected);
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn a_replayed_batch_changes_nothing_and_only_fresh_events_count() {
        let db = TestPg::create().await;
        let pg = &db.pg;
        let now = Utc::now();
        let published = json!({ "status": "published" });
        let reaction = json!({ "slug": "a", "authorId": 1, "actorId": 2 });
        let batch = [
            activity(1, "post.created", published.clone(), ago(now, 1.0)),
            activity(1, "post.liked", reaction.clone(), ago(now, 0.5)),
            activity(1, "post.liked", reaction.clone(), ago(now, 0.2)),
            activity(2, "comment.created", reaction.clone(), now),
        ];
        assert_eq!(record_all(pg, &batch).await.unwrap(), 4);
        let mut conn = pg.pool().acquire().await.unwrap();
        let (_, summary) = stored(&mut conn, 1).await;
        assert_eq!(summary, json!({ "post.created": 1, "post.liked": 2 }));
        let before = (
            stored(&mut conn, 1).await,
            stored(&mut conn, 2).await,
            logged(pg).await,
        );

        // The same events again, in another order, one of them twice: nothing moves.
        let replay = [
            batch[3].clone(),
            batch[1].clone(),
            batch[0].clone(),
            batch[2].clone(),
            batch[1].clone(),
        ];
        assert_eq!(record_all(pg, &replay).await.unwrap(), 0);
        assert!(!record(pg, &batch[0]).await.unwrap());
        let after = (
            stored(&mut conn, 1).await,
            stored(&mut conn, 2).await,
            logged(pg).await,
        );
        assert_eq!(after, before);

        // Replays mixed with a fresh event: only the fresh one counts.
        let fresh = activity(1, "post.liked", reaction.clone(), now);
        let mixed = [batch[1].clone(), fresh.clone(), batch[2].clone()];
        assert_eq!(record_all(pg, &mixed).await.unwrap(), 1);
        let (_, summary) = stored(&mut conn, 1).await;
        assert_eq!(summary, json!({ "post.created": 1, "post.liked": 3 }));
        assert_eq!(logged(pg).await, 5);
        assert!(!record(pg, &fresh).await.unwrap());
        assert!(record(pg, &activity(2, "post.liked", reaction, now))
            .await
            .unwrap());
        assert_eq!(
            stored(&mut conn, 2).await.1,
            json!({ "comment.created": 1, "post.liked": 1 })
        );
    }
}
