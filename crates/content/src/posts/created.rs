//! New posts' `post.created` events, delivered by following the posts collection's change
//! stream rather than by marking each post due and finishing it after delivery.
//!
//! A new post carries its event in `createdEvent`, written in the post's own insert (the
//! outbox is the document, as for every content change), with no `eventsDueAt`: the relay
//! reads inserts from MongoDB's change stream in commit order ([`open`]), delivers them, and
//! records how far it got in one cursor document ([`CURSOR`] in `relay_cursors`) per batch,
//! with the resume token to continue from. So a created post is written once, by the request;
//! finishing it was a second write of the whole post (SecantusDB rewrites the document), and
//! finding it due a read of the index of due posts.
//!
//! One relay follows the stream at a time: the cursor document is also a lease
//! ([`take_lease`], renewed with every save). A relay that loses it stops; another takes
//! over from the saved token after the lease runs out. When the token cannot be resumed
//! (none yet, or MongoDB's history no longer holds it), the stream starts afresh and the
//! posts created since [`RESCAN`] before the last delivery are read by id and delivered
//! again ([`created_since`]; consumers are idempotent). An event whose delivery fails is
//! handed to the due-event path ([`created_event_failed`]), which retries it with back-off
//! and parks it if it cannot be read, so one failing post never holds the stream back.
//!
//! Change streams need a replica set (a single-node one will do); SecantusDB advertises one.

use std::time::Duration;

use mongodb::bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use mongodb::change_stream::event::ResumeToken;
use mongodb::change_stream::ChangeStream;
use mongodb::options::{FindOneAndUpdateOptions, FindOptions, ReturnDocument};
use techhub_core::events::Event;

use super::document::event_from_bson;
use super::find_docs;
use crate::schema::{POSTS, RELAY_CURSORS};
use crate::{Mongo, MongoError};

/// The cursor document of the relay that follows new posts.
pub const CURSOR: &str = "posts.created";

/// How far before the last delivery a relay that cannot resume the stream reads new posts
/// again: a post's id is stamped by its writer's clock before the insert commits, so one
/// committed after the last delivered may carry an earlier stamp (by the insert's latency
/// and the clocks' difference, seconds at worst).
pub const RESCAN: Duration = Duration::from_secs(60);

/// How far the relay got, as its cursor document holds it.
#[derive(Clone, Debug, Default)]
pub struct Cursor {
    /// Where the stream continues, when one was saved.
    pub token: Option<ResumeToken>,
    /// When the relay last delivered a batch (or the cursor was made).
    pub delivered_at: Option<DateTime>,
    /// The highest post id delivered so far.
    pub last_id: Option<ObjectId>,
}

/// A new post's event as the stream (or a rescan) gives it.
#[derive(Debug)]
pub struct Created {
    pub post_id: ObjectId,
    /// The event as stored, handed on as it is when its delivery fails.
    pub raw: Bson,
    /// The event, or why it cannot be read.
    pub event: Result<Event, String>,
}

fn cursors(mongo: &Mongo) -> mongodb::Collection<Document> {
    mongo.db().collection::<Document>(RELAY_CURSORS)
}

fn cursor_from(d: &Document) -> Cursor {
    Cursor {
        token: d
            .get("token")
            .filter(|t| !matches!(t, Bson::Null))
            .and_then(|t| mongodb::bson::from_bson(t.clone()).ok()),
        delivered_at: d.get_datetime("deliveredAt").ok().copied(),
        last_id: d.get_object_id("lastId").ok(),
    }
}

/// Takes (or renews) the lease on the cursor for `holder` until `ttl` from now and returns the
/// cursor, or `None` while another holder's lease runs. A missing cursor document is made,
/// starting now.
pub async fn take_lease(
    mongo: &Mongo,
    holder: &str,
    ttl: Duration,
) -> Result<Option<Cursor>, MongoError> {
    let now = DateTime::now();
    let until = DateTime::from_millis(now.timestamp_millis() + ttl.as_millis() as i64);
    let free = doc! {
        "_id": CURSOR,
        "$or": [{ "holder": holder }, { "leaseUntil": { "$lt": now } }, { "holder": { "$exists": false } }],
    };
    let options = FindOneAndUpdateOptions::builder()
        .return_document(ReturnDocument::After)
        .build();
    let taken = mongo
        .timed(
            cursors(mongo)
                .find_one_and_update(
                    free,
                    doc! { "$set": { "holder": holder, "leaseUntil": until } },
                )
                .with_options(options),
        )
        .await?;
    if let Some(d) = taken {
        return Ok(Some(cursor_from(&d)));
    }
    let fresh = doc! { "_id": CURSOR, "deliveredAt": now, "holder": holder, "leaseUntil": until };
    match mongo.timed(cursors(mongo).insert_one(fresh)).await {
        Ok(_) => Ok(Some(Cursor {
            delivered_at: Some(now),
            ..Cursor::default()
        })),
        // It exists, under another holder's lease.
        Err(e) if e.is_duplicate_key() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Makes the cursor document if there is none, starting now: posts created before it carried
/// due events, which the due-event path delivers (content migration 9).
pub async fn ensure_cursor(db: &mongodb::Database) -> mongodb::error::Result<()> {
    db.collection::<Document>(RELAY_CURSORS)
        .update_one(
            doc! { "_id": CURSOR },
            doc! { "$setOnInsert": { "deliveredAt": DateTime::now() } },
        )
        .upsert(true)
        .await?;
    Ok(())
}

/// Saves how far `holder` got (`token`; and, after a delivery, the highest post id it
/// delivered) and renews its lease. Returns whether `holder` still held the lease: when not,
/// nothing was saved and it must stop following.
pub async fn save(
    mongo: &Mongo,
    holder: &str,
    ttl: Duration,
    token: Option<&ResumeToken>,
    delivered: Option<ObjectId>,
) -> Result<bool, MongoError> {
    let now = DateTime::now();
    let until = DateTime::from_millis(now.timestamp_millis() + ttl.as_millis() as i64);
    let mut set = doc! { "leaseUntil": until };
    if let Some(token) = token {
        let token = mongodb::bson::to_bson(token)
            .map_err(|e| MongoError::Corrupt(format!("a resume token: {e}")))?;
        set.insert("token", token);
    }
    let mut update = doc! { "$set": set };
    if let Some(id) = delivered {
        update
            .get_document_mut("$set")
            .expect("set above")
            .insert("deliveredAt", now);
        update.insert("$max", doc! { "lastId": id });
    }
    let saved = mongo
        .timed(cursors(mongo).update_one(doc! { "_id": CURSOR, "holder": holder }, update))
        .await?;
    Ok(saved.matched_count == 1)
}

/// Gives up the lease (on shutdown), so another relay need not wait for it to run out.
pub async fn release(mongo: &Mongo, holder: &str) -> Result<(), MongoError> {
    mongo
        .timed(cursors(mongo).update_one(
            doc! { "_id": CURSOR, "holder": holder },
            doc! { "$unset": { "holder": "", "leaseUntil": "" } },
        ))
        .await?;
    Ok(())
}

/// The cursor as saved, for `techhub doctor` and tests.
pub async fn cursor(mongo: &Mongo) -> Result<Option<Cursor>, MongoError> {
    let found = mongo
        .timed(cursors(mongo).find_one(doc! { "_id": CURSOR }))
        .await?;
    Ok(found.as_ref().map(cursor_from))
}

/// The stream of new posts that carry a `createdEvent`, from `token` (or from now), each
/// change projected to the post's id and event. MongoDB answers a token its history no
/// longer holds with an error, here or at the first read.
pub async fn open(
    mongo: &Mongo,
    token: Option<ResumeToken>,
    await_for: Duration,
    batch: u32,
) -> Result<ChangeStream<mongodb::change_stream::event::ChangeStreamEvent<Document>>, MongoError> {
    let pipeline = [
        doc! { "$match": { "operationType": "insert", "fullDocument.createdEvent": { "$exists": true } } },
        doc! { "$project": { "operationType": 1, "fullDocument._id": 1, "fullDocument.createdEvent": 1 } },
    ];
    let stream = mongo
        .streams()?
        .collection::<Document>(POSTS)
        .watch()
        .pipeline(pipeline)
        .resume_after(token)
        .max_await_time(await_for)
        .batch_size(batch)
        .await?;
    Ok(stream)
}

/// The post id and event of a change the stream gave.
pub fn created_from(full: &Document) -> Result<Created, MongoError> {
    let post_id = full
        .get_object_id("_id")
        .map_err(|e| MongoError::Corrupt(format!("a new post's change: {e}")))?;
    let raw = full.get("createdEvent").cloned().unwrap_or(Bson::Null);
    let event = event_from_bson(&raw);
    Ok(Created {
        post_id,
        raw,
        event,
    })
}

/// The lowest post id stamped in `at`'s second: ids carry their writer's clock in seconds.
fn first_id_at(at: DateTime) -> ObjectId {
    ObjectId::from_parts((at.timestamp_millis() / 1000).max(0) as u32, [0; 5], [0; 3])
}

/// New posts with a `createdEvent` whose id is after `after` (or stamped at or after `from`
/// when not given), in id order, at most `limit`: what a relay that could not resume the
/// stream delivers again.
pub async fn created_since(
    mongo: &Mongo,
    from: DateTime,
    after: Option<ObjectId>,
    limit: i64,
) -> Result<Vec<Created>, MongoError> {
    let lower = match after {
        Some(id) => doc! { "$gt": id },
        None => doc! { "$gte": first_id_at(from) },
    };
    let options = FindOptions::builder()
        .sort(doc! { "_id": 1 })
        .limit(limit)
        .projection(doc! { "_id": 1, "createdEvent": 1 })
        .build();
    let filter = doc! { "_id": lower, "createdEvent": { "$exists": true } };
    find_docs(mongo, filter, options)
        .await?
        .iter()
        .map(created_from)
        .collect()
}

/// Hands a new post's event whose delivery failed (or that cannot be read) to the due-event
/// path: it goes first in the post's `pendingEvents` (unless already there), due at
/// `retry_at` at the latest, with the attempt and its error recorded; the relay retries it
/// with back-off from there, or parks it if it cannot be read.
pub async fn created_event_failed(
    mongo: &Mongo,
    created: &Created,
    retry_at: DateTime,
    error: &str,
) -> Result<(), MongoError> {
    let mut filter = doc! { "_id": created.post_id };
    if let Some(id) = created.raw.as_document().and_then(|d| d.get("id")) {
        filter.insert("pendingEvents.id", doc! { "$ne": id.clone() });
    }
    mongo
        .timed(mongo.db().collection::<Document>(POSTS).update_one(
            filter,
            doc! {
                "$push": { "pendingEvents": { "$each": [created.raw.clone()], "$position": 0 } },
                "$min": { "eventsDueAt": retry_at },
                "$set": { "eventError": error },
                "$inc": { "eventAttempts": 1_i64 },
            },
        ))
        .await?;
    Ok(())
}

/// How many new posts made more than `older_than` ago the stream's relay has not delivered
/// yet (created after the highest post id `cursor` holds, or after the cursor was made), for
/// `techhub doctor`: more than none means no relay follows the stream (none runs, or MongoDB
/// is not a replica set) or it fails.
pub async fn undelivered(
    mongo: &Mongo,
    cursor: &Cursor,
    older_than: Duration,
) -> Result<u64, MongoError> {
    let after = match (cursor.last_id, cursor.delivered_at) {
        (Some(id), _) => doc! { "$gt": id },
        (None, Some(at)) => doc! { "$gte": first_id_at(at) },
        (None, None) => return Ok(0),
    };
    let before = first_id_at(DateTime::from_millis(
        DateTime::now().timestamp_millis() - older_than.as_millis() as i64,
    ));
    let mut range = after;
    range.insert("$lt", before);
    let filter = doc! { "_id": range, "createdEvent": { "$exists": true } };
    mongo
        .timed(
            mongo
                .db()
                .collection::<Document>(POSTS)
                .count_documents(filter),
        )
        .await
}
