//! The content relay's side of the posts collection: every content change pushes its event
//! onto the post's `pendingEvents` and sets `eventsDueAt` in the same single-document write;
//! the relay claims posts with events due ([`claim_pending`]), delivers them, and removes
//! them here ([`events_delivered_all`]), or records the failure for a retry
//! ([`events_failed`]); an unreadable event is parked in `deadEvents` ([`event_parked`]).

use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use mongodb::options::FindOptions;
use techhub_core::events::Event;

use super::document::event_from_bson;
use super::{find_docs, int};
use crate::schema::POSTS;
use crate::{Mongo, MongoError};

#[derive(Debug)]
pub struct PendingPost {
    pub id: ObjectId,
    pub lease_until: DateTime,
    /// The claim that took it (see [`claim_pending`]).
    pub claim: ObjectId,
    /// How many deliveries of these events failed so far.
    pub attempts: i64,
    /// In the order they were written; an unreadable one is an `Err` with the reason.
    pub events: Vec<Result<Event, String>>,
}

/// Claims up to `limit` posts with events due, all until now + `lease`, in three operations
/// whatever the batch: the ids of due posts, one update of those still due (atomic per
/// document: a post another relay claimed meanwhile is no longer due, so two relays never
/// hold the same post) stamping them with a fresh claim id, and a read of the posts carrying
/// that id. One `findAndModify` per post capped the relay near 50 posts a second on
/// SecantusDB, below the rate posts were written in the benchmark.
pub async fn claim_pending(
    mongo: &Mongo,
    lease: std::time::Duration,
    limit: usize,
) -> Result<Vec<PendingPost>, MongoError> {
    let posts = mongo.db().collection::<Document>(POSTS);
    let now = DateTime::now();
    let until = DateTime::from_millis(now.timestamp_millis() + lease.as_millis() as i64);
    // Bounded on both sides: SecantusDB reads an open-ended range (and one sorted) by walking
    // the whole index, posts without the field included; a closed range comes straight from
    // the (sparse) index.
    let due = doc! { "eventsDueAt": { "$gte": DateTime::MIN, "$lte": now } };
    let options = FindOptions::builder()
        .projection(doc! { "_id": 1 })
        .limit(limit as i64)
        .build();
    let ids: Vec<ObjectId> = find_docs(mongo, due.clone(), options)
        .await?
        .iter()
        .filter_map(|d| d.get_object_id("_id").ok())
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let claim = ObjectId::new();
    let mut still_due = due;
    still_due.insert("_id", doc! { "$in": &ids });
    mongo
        .timed(posts.update_many(
            still_due,
            doc! { "$set": { "eventsDueAt": until, "eventsClaim": claim } },
        ))
        .await?;
    let options = FindOptions::builder()
        .projection(doc! { "pendingEvents": 1, "eventAttempts": 1 })
        .build();
    let won = find_docs(
        mongo,
        doc! { "_id": { "$in": &ids }, "eventsClaim": claim },
        options,
    )
    .await?;
    won.iter()
        .map(|d| {
            Ok(PendingPost {
                id: d
                    .get_object_id("_id")
                    .map_err(|e| MongoError::Corrupt(e.to_string()))?,
                lease_until: until,
                claim,
                attempts: int(d, "eventAttempts"),
                events: d
                    .get_array("pendingEvents")
                    .map(|a| a.iter().map(event_from_bson).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The fields that mark a post due (or claimed), removed once its events are all delivered.
fn done_fields() -> Document {
    doc! { "eventsDueAt": "", "eventsClaim": "", "eventAttempts": "", "eventError": "" }
}

/// Removes the delivered events `event_ids` from `posts` (all taken by one claim), in one
/// update for the lot: each post whose claim still holds (no new event arrived since; a write
/// that adds events makes the post due again) stops being due. When some did not (the update
/// matched fewer), each post is stripped of the delivered events alone and stays due for the
/// rest; removing an event already removed changes nothing.
pub async fn events_delivered_all(
    mongo: &Mongo,
    done: &[&PendingPost],
    event_ids: &[String],
) -> Result<(), MongoError> {
    let Some(first) = done.first() else {
        return Ok(());
    };
    let posts = mongo.db().collection::<Document>(POSTS);
    let ids: Vec<ObjectId> = done.iter().map(|p| p.id).collect();
    let pull = doc! { "pendingEvents": { "id": { "$in": event_ids } } };
    let finished = mongo
        .timed(posts.update_many(
            doc! { "_id": { "$in": &ids }, "eventsDueAt": first.lease_until, "eventsClaim": first.claim },
            doc! { "$pull": pull.clone(), "$unset": done_fields() },
        ))
        .await?;
    if finished.matched_count < ids.len() as u64 && !event_ids.is_empty() {
        mongo
            .timed(posts.update_many(doc! { "_id": { "$in": &ids } }, doc! { "$pull": pull }))
            .await?;
    }
    Ok(())
}

/// Removes the delivered events `event_ids` from a post whose other events are not yet
/// delivered: it stays due for those (posts delivered whole are finished by
/// [`events_delivered_all`]).
pub async fn events_delivered(
    mongo: &Mongo,
    post: &PendingPost,
    event_ids: &[String],
) -> Result<(), MongoError> {
    if event_ids.is_empty() {
        return Ok(());
    }
    let posts = mongo.db().collection::<Document>(POSTS);
    let pull = doc! { "pendingEvents": { "id": { "$in": event_ids } } };
    mongo
        .timed(posts.update_one(doc! { "_id": post.id }, doc! { "$pull": pull }))
        .await?;
    Ok(())
}

/// Moves an unreadable event out of the way into the post's `deadEvents`, with the reason,
/// where `techhub doctor` reports it.
pub async fn event_parked(
    mongo: &Mongo,
    post: &PendingPost,
    index: usize,
    reason: &str,
) -> Result<(), MongoError> {
    let posts = mongo.db().collection::<Document>(POSTS);
    let found = mongo
        .timed(
            posts
                .find_one(doc! { "_id": post.id })
                .projection(doc! { "pendingEvents": 1 }),
        )
        .await?;
    let Some(raw) = found
        .as_ref()
        .and_then(|d| d.get_array("pendingEvents").ok())
        .and_then(|a| a.get(index).cloned())
    else {
        return Ok(());
    };
    mongo
        .timed(posts.update_one(
            doc! { "_id": post.id },
            doc! {
                "$pull": { "pendingEvents": raw.clone() },
                "$push": { "deadEvents": { "event": raw, "reason": reason, "at": DateTime::now() } },
            },
        ))
        .await?;
    Ok(())
}

/// How many posts hold events that could not be read (parked in `deadEvents`).
pub async fn parked_event_posts(mongo: &Mongo) -> Result<u64, MongoError> {
    let posts = mongo.db().collection::<Document>(POSTS);
    mongo
        .timed(posts.count_documents(doc! { "deadEvents.0": { "$exists": true } }))
        .await
}

/// Puts the post's events back to be retried at `retry_at`, counting the failed attempt.
pub async fn events_failed(
    mongo: &Mongo,
    post: &PendingPost,
    retry_at: DateTime,
    error: &str,
) -> Result<(), MongoError> {
    let posts = mongo.db().collection::<Document>(POSTS);
    mongo
        .timed(posts.update_one(
            doc! { "_id": post.id, "eventsDueAt": post.lease_until, "eventsClaim": post.claim },
            doc! {
                "$set": { "eventsDueAt": retry_at, "eventError": error },
                "$inc": { "eventAttempts": 1_i64 },
            },
        ))
        .await?;
    Ok(())
}

/// Posts whose events have been waiting longer than `older_than`, with their attempts and
/// last error, for `techhub doctor`.
pub async fn stuck_events(
    mongo: &Mongo,
    older_than: std::time::Duration,
) -> Result<Vec<(String, i64, String)>, MongoError> {
    let cutoff =
        DateTime::from_millis(DateTime::now().timestamp_millis() - older_than.as_millis() as i64);
    let options = FindOptions::builder()
        .projection(doc! { "slug": 1, "eventAttempts": 1, "eventError": 1 })
        .limit(100)
        .build();
    let docs = find_docs(
        mongo,
        doc! { "eventsDueAt": { "$ne": null }, "changedAt": { "$lte": cutoff }, "eventAttempts": { "$gte": 1 } },
        options,
    )
    .await?;
    Ok(docs
        .iter()
        .map(|d| {
            (
                d.get_str("slug").unwrap_or_default().to_string(),
                int(d, "eventAttempts"),
                d.get_str("eventError").unwrap_or_default().to_string(),
            )
        })
        .collect())
}
