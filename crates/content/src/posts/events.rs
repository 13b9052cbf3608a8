//! The content relay's side of the posts, comments and favorites collections: every content
//! change pushes its event onto the document's `pendingEvents` and sets `eventsDueAt` in the
//! same single-document write (a post's change in the post, a new comment in the comment
//! itself, a favorite in its favorite document); the relay reads the documents with events due
//! ([`take_due`]), delivers them, and removes them here ([`events_delivered_all`],
//! [`comments_counted`], [`favorites_counted`]), or records the failure for a retry
//! ([`events_failed`]); an unreadable event is parked in `deadEvents` ([`event_parked`]).

use std::collections::BTreeMap;

use mongodb::bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use mongodb::options::FindOptions;
use techhub_core::events::Event;

use super::document::event_from_bson;
use super::{find_docs, find_docs_in, int};
use crate::schema::{COMMENTS, FAVORITES, POSTS};
use crate::{Mongo, MongoError};

/// Where pending events are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A post's own events (created, changed, published, deleted), in the order they were
    /// written. Read, not claimed: consumers are idempotent, and a post's events leave it
    /// only while it holds exactly the events delivered ([`events_delivered_all`]), so one
    /// that changed meanwhile stays due for its new ones.
    Posts,
    /// A new comment's `comment.created`, one per comment. No lease: the order of comments
    /// does not matter, consumers are idempotent, and the post's comment count moves in the
    /// transaction that removes the event ([`comments_counted`]), which only one relay wins.
    Comments,
    /// A favorite's change (`post.liked`, `post.unliked`), one document per user and post. No
    /// lease, as for comments: the post's projection of favorites moves in the transaction
    /// that removes the events ([`favorites_counted`]), for the documents still as read.
    Favorites,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Posts, Source::Comments, Source::Favorites];

    pub fn collection(self) -> &'static str {
        match self {
            Source::Posts => POSTS,
            Source::Comments => COMMENTS,
            Source::Favorites => FAVORITES,
        }
    }
}

/// A favorite document as the relay read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Toggle {
    pub user_id: u64,
    /// Whether the user favorites the post now.
    pub on: bool,
    /// Whether the post's projection includes the user.
    pub counted: bool,
    /// The document's change number: the count moves only while it is unchanged.
    pub seq: i64,
}

/// A document with events due, as the relay took it.
#[derive(Debug)]
pub struct Pending {
    pub source: Source,
    /// The document's id (the post's, the comment's, or the favorite's string key).
    pub id: Bson,
    /// The post the events are about (the comment's or favorite's post for those).
    pub post_id: ObjectId,
    /// For a favorite, its state as read.
    pub toggle: Option<Toggle>,
    /// Its `eventsDueAt` as read: a failure is recorded only while it is unchanged.
    pub due_at: DateTime,
    /// How many deliveries of these events failed so far.
    pub attempts: i64,
    /// In the order they were written; an unreadable one is an `Err` with the reason.
    pub events: Vec<Result<Event, String>>,
}

impl Pending {
    /// The filter matching the document only while it is due as the relay read it.
    fn as_taken(&self) -> Document {
        doc! { "_id": &self.id, "eventsDueAt": self.due_at }
    }
}

fn pending_from(source: Source, d: &Document) -> Result<Pending, MongoError> {
    let corrupt = |e: mongodb::bson::document::ValueAccessError| MongoError::Corrupt(e.to_string());
    let id = d
        .get("_id")
        .cloned()
        .ok_or_else(|| MongoError::Corrupt("a document without _id".into()))?;
    let post_id = match source {
        Source::Posts => d.get_object_id("_id").map_err(corrupt)?,
        Source::Comments | Source::Favorites => d.get_object_id("postId").map_err(corrupt)?,
    };
    let toggle = match source {
        Source::Favorites => Some(Toggle {
            user_id: int(d, "userId") as u64,
            on: d.get_bool("on").map_err(corrupt)?,
            counted: d.get_bool("counted").map_err(corrupt)?,
            seq: int(d, "seq"),
        }),
        _ => None,
    };
    let due_at = *d.get_datetime("eventsDueAt").map_err(corrupt)?;
    Ok(Pending {
        source,
        id,
        post_id,
        toggle,
        due_at,
        attempts: int(d, "eventAttempts"),
        events: d
            .get_array("pendingEvents")
            .map(|a| a.iter().map(event_from_bson).collect())
            .unwrap_or_default(),
    })
}

/// Reads up to `limit` documents of `source` with events due, in one read whatever the batch.
///
/// Nothing is claimed: a claim (an update stamping the due posts with a lease, then a read of
/// those it won) cost SecantusDB two more passes over every post, about a third of a new
/// post's cost there, for what idempotent consumers already give. Two relays that read the
/// same document deliver its events twice, and only the removal decides what is finished:
/// comments and favorites are counted in the transaction that removes their events
/// ([`comments_counted`], [`favorites_counted`]); a post's events leave it only while it holds
/// exactly those delivered ([`events_delivered_all`]).
pub async fn take_due(
    mongo: &Mongo,
    source: Source,
    limit: usize,
) -> Result<Vec<Pending>, MongoError> {
    let now = DateTime::now();
    // Bounded on both sides: SecantusDB reads an open-ended range (and one sorted) by walking
    // the whole index, documents without the field included; a closed range comes straight
    // from the (sparse) index.
    let due = doc! { "eventsDueAt": { "$gte": DateTime::MIN, "$lte": now } };
    let projection = match source {
        Source::Posts => doc! { "eventsDueAt": 1, "pendingEvents": 1, "eventAttempts": 1 },
        Source::Comments | Source::Favorites => doc! {
            "postId": 1, "eventsDueAt": 1, "pendingEvents": 1, "eventAttempts": 1,
            "userId": 1, "on": 1, "counted": 1, "seq": 1,
        },
    };
    let options = FindOptions::builder()
        .projection(projection)
        .limit(limit as i64)
        .build();
    let found = find_docs_in(mongo, source.collection(), due, options).await?;
    found.iter().map(|d| pending_from(source, d)).collect()
}

/// The fields that mark a document due, removed once its events are all delivered
/// (`eventsClaim` is left by relays of earlier versions, which claimed posts).
fn done_fields() -> Document {
    doc! { "eventsDueAt": "", "eventsClaim": "", "eventAttempts": "", "eventError": "" }
}

/// What a comment or a favorite drops once its events are delivered and counted: the marks of
/// [`done_fields`] and its events array (a post keeps an empty one).
fn done_small_fields() -> Document {
    let mut unset = done_fields();
    unset.insert("pendingEvents", "");
    unset
}

/// Finishes the posts `done`, whose events were all delivered (`event_ids`, theirs): a post
/// still holding exactly the events read stops being due, in one update per number of events
/// (one for a burst of new posts), matched by its last event's id and the absence of one
/// after it (events are only appended, and removed from the front once delivered, so that
/// pins the whole array). A post that changed meanwhile (an edit added an event, another
/// relay finished it first) is only stripped of the delivered events and stays due for the
/// rest, if any.
pub async fn events_delivered_all(
    mongo: &Mongo,
    done: &[&Pending],
    event_ids: &[String],
) -> Result<(), MongoError> {
    if done.is_empty() {
        return Ok(());
    }
    debug_assert!(done.iter().all(|p| p.source == Source::Posts));
    let posts = mongo.db().collection::<Document>(POSTS);
    // Posts by how many events they hold (the readable ones: unreadable ones were parked
    // before delivery): (ids, their last events' ids).
    let mut by_count: BTreeMap<usize, (Vec<&Bson>, Vec<String>)> = BTreeMap::new();
    for post in done {
        let readable: Vec<&Event> = post.events.iter().filter_map(|e| e.as_ref().ok()).collect();
        let (ids, last) = by_count.entry(readable.len()).or_default();
        ids.push(&post.id);
        if let Some(event) = readable.last() {
            last.push(event.id.to_string());
        }
    }
    let finish = doc! { "$set": { "pendingEvents": [] }, "$unset": done_fields() };
    let mut finished = 0;
    for (count, (ids, last)) in &by_count {
        let mut exactly = doc! { "_id": { "$in": ids } };
        if let Some(at) = count.checked_sub(1) {
            exactly.insert(format!("pendingEvents.{at}.id"), doc! { "$in": last });
        }
        exactly.insert(format!("pendingEvents.{count}"), doc! { "$exists": false });
        finished += mongo
            .timed(posts.update_many(exactly, finish.clone()))
            .await?
            .matched_count;
    }
    if finished < done.len() as u64 && !event_ids.is_empty() {
        let ids: Vec<&Bson> = done.iter().map(|p| &p.id).collect();
        let still_carrying =
            doc! { "_id": { "$in": &ids }, "pendingEvents.id": { "$in": event_ids } };
        let pull = doc! { "pendingEvents": { "id": { "$in": event_ids } } };
        mongo
            .timed(posts.update_many(still_carrying, doc! { "$pull": pull }))
            .await?;
    }
    Ok(())
}

/// Finishes delivered `comments`: their events leave them and their posts'
/// `engagement.comments` move by as many, in one transaction, so a comment is counted exactly
/// once, when its event leaves it, whichever relay (or how many) delivered it. When the
/// update matches fewer comments than given (another relay finished some, or one was
/// deleted), the transaction is undone and each comment is finished in its own. Returns how
/// much each post's count moved.
pub async fn comments_counted(
    mongo: &Mongo,
    comments: &[&Pending],
) -> Result<BTreeMap<ObjectId, i64>, MongoError> {
    debug_assert!(comments.iter().all(|c| c.source == Source::Comments));
    let per_post = |comments: &[&Pending]| {
        let mut moves = BTreeMap::new();
        for comment in comments {
            *moves.entry(comment.post_id).or_insert(0_i64) += 1;
        }
        moves
    };
    if comments.is_empty() {
        return Ok(BTreeMap::new());
    }
    let all = per_post(comments);
    if count_together(mongo, comments, &all).await? {
        return Ok(all);
    }
    let mut moved = BTreeMap::new();
    for comment in comments {
        let one = per_post(&[comment]);
        if count_together(mongo, &[comment], &one).await? {
            *moved.entry(comment.post_id).or_insert(0) += 1;
        }
    }
    Ok(moved)
}

/// One transaction of [`comments_counted`]: true when it finished every one of `comments`.
async fn count_together(
    mongo: &Mongo,
    comments: &[&Pending],
    moves: &BTreeMap<ObjectId, i64>,
) -> Result<bool, MongoError> {
    let ids: Vec<Bson> = comments.iter().map(|c| c.id.clone()).collect();
    let updates: Vec<Bson> = moves
        .iter()
        .map(|(post, n)| {
            Bson::Document(
                doc! { "q": { "_id": post }, "u": { "$inc": { "engagement.comments": n } } },
            )
        })
        .collect();
    let db = mongo.db().clone();
    let unset = done_small_fields();
    let done = mongo
        .transaction(move |session| {
            let (db, ids, updates, unset) =
                (db.clone(), ids.clone(), updates.clone(), unset.clone());
            Box::pin(async move {
                let cleared = db
                    .collection::<Document>(COMMENTS)
                    .update_many(
                        doc! { "_id": { "$in": &ids }, "pendingEvents": { "$exists": true } },
                        doc! { "$unset": unset },
                    )
                    .session(&mut *session)
                    .await?;
                if cleared.modified_count != ids.len() as u64 {
                    return Ok(None);
                }
                update_in(&db, session, POSTS, updates, "moving comment counts").await?;
                Ok(Some(()))
            })
        })
        .await?;
    Ok(done.is_some())
}

/// Finishes delivered `favorites` (documents of [`Source::Favorites`]): their events leave
/// them and their posts' projections (`favoritedBy`, `engagement.likes`, `changeSeq`,
/// `changedAt`) take the users they add or remove, in one transaction for the lot, so a
/// favorite is counted exactly once whichever relay (or how many) delivered it. Only documents
/// still due and as the relay read them (same `seq`) are finished; one that changed meanwhile
/// (its user clicked again, or another relay finished it) is left out of the transaction and
/// stays due with its new events. Should the transaction keep conflicting (clicks while it
/// runs), the favorites are finished post by post, then one by one. A post's new change number
/// becomes the `countedSeq` of the favorites that moved it (see
/// [`crate::favorites::Favorite::counted_in`]). A deleted post's projection stays empty.
/// Returns the favorites finished.
pub async fn favorites_counted<'a>(
    mongo: &Mongo,
    favorites: &[&'a Pending],
) -> Result<Vec<&'a Pending>, MongoError> {
    debug_assert!(favorites.iter().all(|f| f.toggle.is_some()));
    if favorites.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(done) = unless_conflicted(count_favorites_together(mongo, favorites).await)? {
        return Ok(done);
    }
    // Post by post, then favorite by favorite within a post whose transaction conflicted.
    let mut by_post: BTreeMap<ObjectId, Vec<&'a Pending>> = BTreeMap::new();
    for favorite in favorites {
        by_post.entry(favorite.post_id).or_default().push(favorite);
    }
    let mut done = Vec::new();
    for group in by_post.into_values() {
        if group.len() > 1 {
            if let Some(finished) =
                unless_conflicted(count_favorites_together(mongo, &group).await)?
            {
                done.extend(finished);
                continue;
            }
        }
        for favorite in group {
            if let Some(finished) =
                unless_conflicted(count_favorites_together(mongo, &[favorite]).await)?
            {
                done.extend(finished);
            }
        }
    }
    Ok(done)
}

/// What a transaction of [`favorites_counted`] finished, or `None` when it kept conflicting
/// (a user clicked while it ran): then it finished nothing, and its favorites stay due; other
/// failures are the caller's.
fn unless_conflicted<T>(outcome: Result<T, MongoError>) -> Result<Option<T>, MongoError> {
    match outcome {
        Err(MongoError::Db(e))
            if e.contains_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR)
                || e.to_string().contains("WriteConflict") =>
        {
            Ok(None)
        }
        other => other.map(Some),
    }
}

/// One transaction of [`favorites_counted`]: finishes those of `favorites` still as the relay
/// read them, and returns them.
async fn count_favorites_together<'a>(
    mongo: &Mongo,
    favorites: &[&'a Pending],
) -> Result<Vec<&'a Pending>, MongoError> {
    let (kept, read): (Vec<&'a Pending>, Vec<(Bson, ObjectId, Toggle)>) = favorites
        .iter()
        .filter_map(|f| Some((*f, (f.id.clone(), f.post_id, f.toggle?))))
        .unzip();
    let db = mongo.db().clone();
    let unset = done_small_fields();
    let finished = mongo
        .transaction(move |session| {
            let (db, read, unset) = (db.clone(), read.clone(), unset.clone());
            Box::pin(async move {
                // The favorites as they are in the transaction: those still due (not finished
                // by another relay meanwhile) and as the relay delivered them (same `seq`) are
                // finished; a click after this read makes the transaction conflict.
                let keys: Vec<&Bson> = read.iter().map(|(id, _, _)| id).collect();
                let filter = doc! { "_id": { "$in": &keys }, "eventsDueAt": { "$exists": true } };
                let mut now_seqs = std::collections::HashMap::new();
                for f in find_in(&db, session, FAVORITES, filter, "seq").await? {
                    if let Some(id) = f.get("_id") {
                        now_seqs.insert(id.to_string(), int(&f, "seq"));
                    }
                }
                let unchanged: Vec<usize> = (0..read.len())
                    .filter(|&i| now_seqs.get(&read[i].0.to_string()) == Some(&read[i].2.seq))
                    .collect();
                // Per post, the users its projection gains and loses.
                let mut moves: BTreeMap<ObjectId, (Vec<i64>, Vec<i64>)> = BTreeMap::new();
                for &i in &unchanged {
                    let (_, post, t) = &read[i];
                    if t.on != t.counted {
                        let (adds, removes) = moves.entry(*post).or_default();
                        (if t.on { adds } else { removes }).push(t.user_id as i64);
                    }
                }
                // The posts' change numbers, read in the transaction: each moves by one.
                let ids: Vec<ObjectId> = moves.keys().copied().collect();
                let mut seqs = std::collections::HashMap::new();
                if !ids.is_empty() {
                    let filter = doc! { "_id": { "$in": &ids }, "status": super::not_deleted() };
                    for post in find_in(&db, session, POSTS, filter, "changeSeq").await? {
                        if let Ok(id) = post.get_object_id("_id") {
                            seqs.insert(id, int(&post, "changeSeq") + 1);
                        }
                    }
                }
                // One multi-document statement per post and state finishes them (far cheaper
                // in SecantusDB than a statement per favorite), all in one command: a round
                // trip per statement cost a batch of popular posts half a second.
                let mut groups: BTreeMap<(ObjectId, Option<bool>), Vec<&Bson>> = BTreeMap::new();
                for &i in &unchanged {
                    let (id, post, t) = &read[i];
                    let moved = (t.on != t.counted).then_some(t.on);
                    groups.entry((*post, moved)).or_default().push(id);
                }
                let finishing: Vec<Bson> = groups
                    .into_iter()
                    .map(|((post, moved), ids)| {
                        let mut u = doc! { "$unset": unset.clone() };
                        if let Some(on) = moved {
                            let seq = seqs.get(&post).copied().unwrap_or(0);
                            u.insert("$set", doc! { "counted": on, "countedSeq": seq });
                        }
                        Bson::Document(
                            doc! { "q": { "_id": { "$in": ids } }, "u": u, "multi": true },
                        )
                    })
                    .collect();
                if !finishing.is_empty() {
                    update_in(&db, session, FAVORITES, finishing, "finishing favorites").await?;
                }
                let now = DateTime::now();
                let mut updates = Vec::new();
                for (post, (adds, removes)) in &moves {
                    if !seqs.contains_key(post) {
                        continue;
                    }
                    let delta = adds.len() as i64 - removes.len() as i64;
                    let mut u = doc! {
                        "$inc": { "engagement.likes": delta, "changeSeq": 1_i64 },
                        "$set": { "changedAt": now },
                    };
                    match (adds.is_empty(), removes.is_empty()) {
                        (false, true) => {
                            u.insert("$addToSet", doc! { "favoritedBy": { "$each": adds } });
                        }
                        (true, false) => {
                            u.insert("$pull", doc! { "favoritedBy": { "$in": removes } });
                        }
                        _ => {
                            // One path cannot be added to and pulled from in one update.
                            updates.push(Bson::Document(doc! {
                                "q": { "_id": post },
                                "u": { "$pull": { "favoritedBy": { "$in": removes } } },
                            }));
                            u.insert("$addToSet", doc! { "favoritedBy": { "$each": adds } });
                        }
                    }
                    updates.push(Bson::Document(doc! { "q": { "_id": post }, "u": u }));
                }
                if !updates.is_empty() {
                    update_in(&db, session, POSTS, updates, "counting favorites").await?;
                }
                // Nothing left to finish: nothing to commit.
                Ok((!unchanged.is_empty()).then_some(unchanged))
            })
        })
        .await?;
    Ok(finished
        .unwrap_or_default()
        .into_iter()
        .map(|i| kept[i])
        .collect())
}

/// The documents of `collection` matching `filter`, with `_id` and `field`, read in the
/// transaction of `session`.
async fn find_in(
    db: &mongodb::Database,
    session: &mut mongodb::ClientSession,
    collection: &str,
    filter: Document,
    field: &str,
) -> mongodb::error::Result<Vec<Document>> {
    let mut cursor = db
        .collection::<Document>(collection)
        .find(filter)
        .projection(doc! { field: 1 })
        .session(&mut *session)
        .await?;
    let mut found = Vec::new();
    while let Some(d) = cursor.next(&mut *session).await.transpose()? {
        found.push(d);
    }
    Ok(found)
}

/// Runs `updates` (update statements, in order) on `collection` in the transaction of
/// `session`, in one command; a statement MongoDB refuses fails the transaction, saying what
/// it was `doing`.
async fn update_in(
    db: &mongodb::Database,
    session: &mut mongodb::ClientSession,
    collection: &str,
    updates: Vec<Bson>,
    doing: &str,
) -> mongodb::error::Result<()> {
    let reply = db
        .run_command(doc! { "update": collection, "updates": updates, "ordered": true })
        .session(session)
        .await?;
    match reply.get_array("writeErrors") {
        Ok(errors) => Err(mongodb::error::Error::custom(format!(
            "{doing}: {errors:?}"
        ))),
        Err(_) => Ok(()),
    }
}

/// Removes the delivered events `event_ids` from a document whose other events are not yet
/// delivered: it stays due for those (posts delivered whole are finished by
/// [`events_delivered_all`]; a comment has one event, finished by [`comments_counted`]).
pub async fn events_delivered(
    mongo: &Mongo,
    pending: &Pending,
    event_ids: &[String],
) -> Result<(), MongoError> {
    if event_ids.is_empty() {
        return Ok(());
    }
    let collection = mongo
        .db()
        .collection::<Document>(pending.source.collection());
    let pull = doc! { "pendingEvents": { "id": { "$in": event_ids } } };
    mongo
        .timed(collection.update_one(doc! { "_id": &pending.id }, doc! { "$pull": pull }))
        .await?;
    Ok(())
}

/// Moves an unreadable event out of the way into the document's `deadEvents`, with the
/// reason, where `techhub doctor` reports it.
pub async fn event_parked(
    mongo: &Mongo,
    pending: &Pending,
    index: usize,
    reason: &str,
) -> Result<(), MongoError> {
    let collection = mongo
        .db()
        .collection::<Document>(pending.source.collection());
    let found = mongo
        .timed(
            collection
                .find_one(doc! { "_id": &pending.id })
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
        .timed(collection.update_one(
            doc! { "_id": &pending.id },
            doc! {
                "$pull": { "pendingEvents": raw.clone() },
                "$push": { "deadEvents": { "event": raw, "reason": reason, "at": DateTime::now() } },
            },
        ))
        .await?;
    Ok(())
}

/// How many posts, comments and favorites hold events that could not be read (parked in
/// `deadEvents`).
pub async fn parked_event_posts(mongo: &Mongo) -> Result<u64, MongoError> {
    let mut parked = 0;
    for source in Source::ALL {
        let collection = mongo.db().collection::<Document>(source.collection());
        parked += mongo
            .timed(collection.count_documents(doc! { "deadEvents.0": { "$exists": true } }))
            .await?;
    }
    Ok(parked)
}

/// Puts the document's events back to be retried at `retry_at`, counting the failed attempt.
pub async fn events_failed(
    mongo: &Mongo,
    pending: &Pending,
    retry_at: DateTime,
    error: &str,
) -> Result<(), MongoError> {
    let collection = mongo
        .db()
        .collection::<Document>(pending.source.collection());
    mongo
        .timed(collection.update_one(
            pending.as_taken(),
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
