//! The content relay's side of the posts, comments and favorites collections: every content
//! change pushes its event onto the document's `pendingEvents` and sets `eventsDueAt` in the
//! same single-document write (a post's edit or deletion in the post, a new comment in the
//! comment itself, a favorite's click in the click; a new post's event goes out through the
//! change stream instead, see [`super::created`], and comes here only if it fails); the relay reads the documents with events due
//! ([`take_due`]), delivers them, and removes them here ([`events_delivered_all`],
//! [`comments_counted`], [`favorites_counted`]), or records the failure for a retry
//! ([`events_failed`]); an unreadable event is parked in `deadEvents` ([`event_parked`]).

use std::collections::BTreeMap;

use mongodb::bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use mongodb::options::FindOptions;
use techhub_core::events::Event;

use super::document::event_from_bson;
use super::{find_docs, find_docs_in, int};
use crate::schema::{COMMENTS, FAVORITES, FAVORITE_CLICKS, POSTS};
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
    /// A favorite click's `post.liked` or `post.unliked`, one document per click (see
    /// [`crate::favorites`]). No lease, as for comments: the favorites and their posts'
    /// projections move in the transaction that deletes the clicks ([`favorites_counted`]).
    Favorites,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Posts, Source::Comments, Source::Favorites];

    /// Its place in [`Source::ALL`].
    pub fn slot(self) -> usize {
        self as usize
    }

    pub fn collection(self) -> &'static str {
        match self {
            Source::Posts => POSTS,
            Source::Comments => COMMENTS,
            Source::Favorites => FAVORITE_CLICKS,
        }
    }
}

/// How writers in a process tell its content relay which sources have new events due, so
/// that a burst of one kind of write makes the relay read only that source, and how the relay
/// tells them how far behind it is ([`DueWake::pace`]). A new post's event comes through the
/// change stream and wakes nothing here. The relay still reads every source at its poll
/// interval, for the writes of other processes.
#[derive(Debug, Default)]
pub struct DueWake {
    notify: tokio::sync::Notify,
    flagged: [std::sync::atomic::AtomicBool; 3],
    /// Per source, [`DueWake::relay_lag`] in milliseconds.
    lag_ms: [std::sync::atomic::AtomicU64; 3],
}

/// The relay lag from which writers are paced ([`DueWake::pace`]). The relay polls every
/// 100 ms and a favorite is due 100 ms after its click, so a relay that keeps up stays well
/// under it.
pub const PACE_FROM: std::time::Duration = std::time::Duration::from_millis(500);

/// How much of the relay lag over [`PACE_FROM`] a writer waits: one part in this many.
pub const PACE_GAIN: u32 = 40;

/// The longest a writer is paced, however far behind the relay is: a write is slowed, never
/// refused.
pub const PACE_MAX: std::time::Duration = std::time::Duration::from_millis(200);

impl DueWake {
    /// A write of this process left events due in `source`.
    pub fn due(&self, source: Source) {
        self.flagged[source.slot()].store(true, std::sync::atomic::Ordering::Release);
        self.notify.notify_one();
    }

    /// Whether `source` was flagged since the last call (clears the flag).
    pub fn take(&self, source: Source) -> bool {
        self.flagged[source.slot()].swap(false, std::sync::atomic::Ordering::AcqRel)
    }

    /// What the relay waits on between batches.
    pub fn notify(&self) -> &tokio::sync::Notify {
        &self.notify
    }

    /// The relay's last batch of `source` was delivered, and the oldest document in it had
    /// been due `lag` when it was taken (zero when it took none, or could not deliver them:
    /// a store that is down is not a reason to slow the writers).
    pub fn relay_lag(&self, source: Source, lag: std::time::Duration) {
        let ms = u64::try_from(lag.as_millis()).unwrap_or(u64::MAX);
        self.lag_ms[source.slot()].store(ms, std::sync::atomic::Ordering::Release);
    }

    /// The relay lag of `source` last recorded ([`DueWake::relay_lag`]).
    pub fn lag(&self, source: Source) -> std::time::Duration {
        let ms = self.lag_ms[source.slot()].load(std::sync::atomic::Ordering::Acquire);
        std::time::Duration::from_millis(ms)
    }

    /// How long a writer of `source` waits before its write: nothing while the relay keeps
    /// up; once it is more than [`PACE_FROM`] behind, a [`PACE_GAIN`]th of the excess, at
    /// most [`PACE_MAX`]. Writes can come faster than the relay delivers their events (at the
    /// closed-model peak, favorites came about twice as fast, leaving 10-20 s of work behind
    /// 10-20 s of load, and other readers saw them that late); pacing the writers holds the
    /// lag to a second or two instead, as a storage engine slows its writers when compaction
    /// falls behind. The lag is read from the relay's batches, so it trails the writes by
    /// about itself: a tenth of the excess made writers and relay take turns (the lag swung
    /// between 0.35 and 1.7 s every 3-4 s), a fortieth holds it at 1.2-2.0 s.
    pub fn pace(&self, source: Source) -> std::time::Duration {
        let over = self.lag(source).saturating_sub(PACE_FROM);
        (over / PACE_GAIN).min(PACE_MAX)
    }
}

/// A favorite click as the relay read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Toggle {
    pub user_id: u64,
    /// Whether the click favorites the post (or takes the favorite back).
    pub on: bool,
    /// When it was made: a favorite's clicks are folded in this order.
    pub at: DateTime,
    /// Whether the favorite was on (counted) when the relay read it before delivering the
    /// batch ([`favorite_transitions`]): the click is folded only while it still is, so the
    /// events delivered are those of the changes folded.
    pub was_on: bool,
}

/// A document with events due, as the relay took it.
#[derive(Debug)]
pub struct Pending {
    pub source: Source,
    /// The document's id (the post's, the comment's, or the favorite's string key).
    pub id: Bson,
    /// The post the events are about (the comment's or favorite's post for those).
    pub post_id: ObjectId,
    /// For a favorite click, the click.
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
            at: *d.get_datetime("at").map_err(corrupt)?,
            was_on: false,
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
///
/// Only documents due in `from..=to` are read (see the relay's window over them): bounded on
/// both sides, since SecantusDB reads an open-ended range (and one sorted) by walking the whole
/// index, documents without the field included; a closed range comes straight from the
/// (sparse) index, though every entry in it is read before the limit applies.
pub async fn take_due(
    mongo: &Mongo,
    source: Source,
    from: DateTime,
    to: DateTime,
    limit: usize,
) -> Result<Vec<Pending>, MongoError> {
    let due = doc! { "eventsDueAt": { "$gte": from, "$lte": to } };
    let projection = match source {
        Source::Posts => doc! { "eventsDueAt": 1, "pendingEvents": 1, "eventAttempts": 1 },
        Source::Comments => {
            doc! { "postId": 1, "eventsDueAt": 1, "pendingEvents": 1, "eventAttempts": 1 }
        }
        Source::Favorites => doc! {
            "postId": 1, "eventsDueAt": 1, "pendingEvents": 1, "eventAttempts": 1,
            "userId": 1, "on": 1, "at": 1,
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

/// What a count in chunks finished ([`comments_counted`], [`favorites_counted`]), and the
/// error that stopped a chunk, if one did: that chunk's documents stay due and are counted by
/// a later batch, while the chunks before and after it stand.
#[derive(Debug)]
pub struct Counted<T> {
    pub done: T,
    pub failed: Option<MongoError>,
}

/// The posts of `pending`, each with its documents, in chunks of [`COUNT_CHUNK_POSTS`] posts.
fn by_post_chunks<'p>(pending: &[&'p Pending]) -> Vec<Vec<(ObjectId, Vec<&'p Pending>)>> {
    let mut by_post: BTreeMap<ObjectId, Vec<&Pending>> = BTreeMap::new();
    for one in pending {
        by_post.entry(one.post_id).or_default().push(one);
    }
    let posts: Vec<(ObjectId, Vec<&Pending>)> = by_post.into_iter().collect();
    posts.chunks(COUNT_CHUNK_POSTS).map(<[_]>::to_vec).collect()
}

/// Finishes delivered `comments`: their events leave them and their posts'
/// `engagement.comments` move by as many, in one transaction per [`COUNT_CHUNK_POSTS`] posts
/// (every comment of a post in the same one), so a comment is counted exactly once, when its
/// event leaves it, whichever relay (or how many) delivered it. When a transaction's update
/// matches fewer comments than given (another relay finished some, or one was deleted), it is
/// undone and each of its comments is finished in its own. Returns how much each post's count
/// moved.
pub async fn comments_counted(
    mongo: &Mongo,
    comments: &[&Pending],
) -> Counted<BTreeMap<ObjectId, i64>> {
    debug_assert!(comments.iter().all(|c| c.source == Source::Comments));
    let mut moved = BTreeMap::new();
    let mut failed = None;
    for chunk in by_post_chunks(comments) {
        if let Err(e) = count_chunk(mongo, &chunk, &mut moved).await {
            failed.get_or_insert(e);
        }
    }
    Counted {
        done: moved,
        failed,
    }
}

/// One chunk of [`comments_counted`], adding what it moved to `moved`.
async fn count_chunk(
    mongo: &Mongo,
    chunk: &[(ObjectId, Vec<&Pending>)],
    moved: &mut BTreeMap<ObjectId, i64>,
) -> Result<(), MongoError> {
    let together: Vec<&Pending> = chunk.iter().flat_map(|(_, c)| c.iter().copied()).collect();
    let moves: BTreeMap<ObjectId, i64> = chunk
        .iter()
        .map(|(post, c)| (*post, c.len() as i64))
        .collect();
    if count_together(mongo, &together, &moves).await? {
        moved.extend(moves);
        return Ok(());
    }
    for comment in together {
        let one = BTreeMap::from([(comment.post_id, 1)]);
        if count_together(mongo, &[comment], &one).await? {
            *moved.entry(comment.post_id).or_insert(0) += 1;
        }
    }
    Ok(())
}

/// How many posts one transaction of [`comments_counted`] or [`favorites_counted`] moves the
/// counts of. The comments' and clicks' writes wait while a transaction holds them, so its
/// length is what a writer's request may wait; each transaction also costs MongoDB a few
/// round trips of its own, so shorter ones fold fewer a second. At a million posts, before
/// the writers were paced ([`DueWake::pace`]), one transaction for a whole relay batch (500
/// comments) spent 147 ms updating its posts and 53 ms its comments, and the comments'
/// open-model p99 was 127-318 ms; 12 posts a transaction gave 62-70 ms, 32 gave 109-131 ms.
/// Paced, the relay's batches stay small, and 40 posts a transaction sustained 12 % more
/// comments and 37 % more favorites a second than 12 at a million posts, with open-model
/// p99s of 31.5 and 33.2 ms (18.5 and 14.8 with 12).
pub const COUNT_CHUNK_POSTS: usize = 40;

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

/// The favorite a click is about (its `pair`).
fn pair_of(click: &Pending) -> Option<(String, Toggle)> {
    let toggle = click.toggle?;
    Some((crate::favorites::key(click.post_id, toggle.user_id), toggle))
}

/// How long each step of a transaction took, for its debug line.
struct Steps {
    last: std::time::Instant,
    taken: Vec<(&'static str, u128)>,
}

impl Default for Steps {
    fn default() -> Self {
        Steps {
            last: std::time::Instant::now(),
            taken: Vec::new(),
        }
    }
}

impl Steps {
    fn mark(&mut self, step: &'static str) {
        let now = std::time::Instant::now();
        self.taken.push((step, (now - self.last).as_micros()));
        self.last = now;
    }
}

impl std::fmt::Display for Steps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (step, us)) in self.taken.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{step} {:.1} ms", *us as f64 / 1000.0)?;
        }
        Ok(())
    }
}

/// A favorite whose state a fold changes.
struct Moved<'a> {
    pair: &'a String,
    post: ObjectId,
    user: u64,
    /// Its new state.
    on: bool,
    /// When the last click folded into it was made (Unix milliseconds).
    at: i64,
    /// Whether its document exists (updated) or not yet (inserted).
    exists: bool,
}

/// A click of a favorite still there, as the relay's transaction reads it.
struct Present {
    /// [`click_order`].
    order: (i64, String),
    on: bool,
    /// When it is due (a click after one that waits is made due with it).
    due: Option<DateTime>,
}

/// A click's order among its favorite's clicks: when it was made, then its id.
fn click_order(at: DateTime, id: &Bson) -> (i64, String) {
    (at.timestamp_millis(), id.to_string())
}

/// Before delivering `clicks` (of [`Source::Favorites`]): reads whether their favorites are on
/// now (one read), records it in each click ([`Toggle::was_on`]), and leaves out the events of
/// the clicks that change nothing, in the order each favorite's clicks were made (a favorite
/// of a post one favorites already, a second click of a double click). Only the changes are
/// delivered; [`favorites_counted`] folds the clicks only while their favorites are still as
/// read here.
pub async fn favorite_transitions(mongo: &Mongo, clicks: &mut [Pending]) -> Result<(), MongoError> {
    let mut by_pair: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, click) in clicks.iter().enumerate() {
        if let Some((pair, _)) = pair_of(click) {
            by_pair.entry(pair).or_default().push(i);
        }
    }
    if by_pair.is_empty() {
        return Ok(());
    }
    let keys: Vec<&String> = by_pair.keys().collect();
    let options = FindOptions::builder()
        .projection(doc! { "counted": 1 })
        .build();
    let found = find_docs_in(mongo, FAVORITES, doc! { "_id": { "$in": keys } }, options).await?;
    let counted: std::collections::HashMap<String, bool> = found
        .iter()
        .filter_map(|d| {
            Some((
                d.get_str("_id").ok()?.to_string(),
                d.get_bool("counted").ok()?,
            ))
        })
        .collect();
    for (pair, mut members) in by_pair {
        let was_on = counted.get(&pair).copied().unwrap_or(false);
        members.sort_by_key(|&i| {
            let at = clicks[i].toggle.map_or(DateTime::MIN, |t| t.at);
            click_order(at, &clicks[i].id)
        });
        let mut on = was_on;
        for i in members {
            let click = &mut clicks[i];
            let Some(toggle) = click.toggle.as_mut() else {
                continue;
            };
            toggle.was_on = was_on;
            if toggle.on == on {
                click.events.clear();
            } else {
                on = toggle.on;
            }
        }
    }
    Ok(())
}

/// Folds delivered `clicks` (of [`Source::Favorites`]) into their favorites and posts, in one
/// transaction per [`COUNT_CHUNK_POSTS`] posts (every click of a post in the same one): each
/// favorite takes its clicks in the order they were made, up to the first that is not among these
/// (one made meanwhile, or one held back by a failed delivery), and only while it is still as
/// [`favorite_transitions`] read it. Clicks after one that waits are made due when it is (or now),
/// so they are folded after it, together. Those whose state changes move their posts' projections
/// (`favoritedBy`, `engagement.likes`, `changeSeq`, `changedAt`) and take the post's new change
/// number as `countedSeq` (see [`crate::favorites::Favorite::counted_in`]); the clicks folded are
/// deleted. A favorite is so counted exactly once whichever relay (or how many) delivered its
/// clicks: two relays' transactions conflict, and the one run again finds the clicks gone. A
/// deleted post's projection stays empty. Returns the clicks folded into posts that changed (what
/// caches and indexes must hear of): those that changed nothing in the end (a favorite taken back
/// in the same batch) are folded and deleted too, but nobody else could see them.
pub async fn favorites_counted<'a>(
    mongo: &Mongo,
    clicks: &[&'a Pending],
) -> Counted<Vec<&'a Pending>> {
    let mut folded = Vec::new();
    let mut failed = None;
    for chunk in by_post_chunks(clicks) {
        let together: Vec<&Pending> = chunk.into_iter().flat_map(|(_, c)| c).collect();
        match fold_chunk(mongo, &together).await {
            Ok(mut done) => folded.append(&mut done),
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    Counted {
        done: folded,
        failed,
    }
}

/// One transaction of [`favorites_counted`], over the clicks of a few posts.
async fn fold_chunk<'a>(
    mongo: &Mongo,
    clicks: &[&'a Pending],
) -> Result<Vec<&'a Pending>, MongoError> {
    let mut batch: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut pairs: BTreeMap<String, (ObjectId, Toggle)> = BTreeMap::new();
    for (i, click) in clicks.iter().enumerate() {
        if let Some((pair, toggle)) = pair_of(click) {
            batch.insert(click.id.to_string(), i);
            pairs.insert(pair, (click.post_id, toggle));
        }
    }
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let click_ids: Vec<Bson> = clicks.iter().map(|c| c.id.clone()).collect();
    let post_ids: Vec<ObjectId> = clicks.iter().map(|c| c.post_id).collect();
    let db = mongo.db().clone();
    let folded = mongo
        .transaction(move |session| {
            let (db, batch, pairs, click_ids, post_ids) = (
                db.clone(),
                batch.clone(),
                pairs.clone(),
                click_ids.clone(),
                post_ids.clone(),
            );
            Box::pin(async move {
                let mut steps = Steps::default();
                let keys: Vec<&String> = pairs.keys().collect();
                // Every click of these favorites still there, and the favorites as they are.
                let mut present: BTreeMap<String, Vec<Present>> = BTreeMap::new();
                let filter = doc! { "pair": { "$in": &keys } };
                let projection = doc! { "pair": 1, "on": 1, "at": 1, "eventsDueAt": 1 };
                for c in find_in(&db, session, FAVORITE_CLICKS, filter, projection).await? {
                    let (Ok(pair), Ok(on), Ok(at), Some(id)) = (
                        c.get_str("pair"),
                        c.get_bool("on"),
                        c.get_datetime("at"),
                        c.get("_id"),
                    ) else {
                        continue;
                    };
                    let due = c.get_datetime("eventsDueAt").ok().copied();
                    let order = click_order(*at, id);
                    let click = Present { order, on, due };
                    present.entry(pair.to_string()).or_default().push(click);
                }
                steps.mark("clicks read");
                let filter = doc! { "_id": { "$in": &keys } };
                let mut counted = std::collections::HashMap::new();
                for f in find_in(&db, session, FAVORITES, filter, doc! { "counted": 1 }).await? {
                    if let (Ok(id), Ok(on)) = (f.get_str("_id"), f.get_bool("counted")) {
                        counted.insert(id.to_string(), on);
                    }
                }
                steps.mark("favorites read");
                // Per favorite: the clicks folded, and the state it ends in when that moves.
                let mut folded: Vec<usize> = Vec::new();
                let mut deferred: Vec<(usize, DateTime)> = Vec::new();
                let mut changed: Vec<Moved> = Vec::new();
                let mut moves: BTreeMap<ObjectId, (Vec<i64>, Vec<i64>)> = BTreeMap::new();
                for (pair, (post, toggle)) in &pairs {
                    let Some(mut its) = present.remove(pair) else {
                        continue;
                    };
                    let now = counted.get(pair).copied();
                    if now.unwrap_or(false) != toggle.was_on {
                        continue;
                    }
                    its.sort_by(|a, b| a.order.cmp(&b.order));
                    // The batch's clicks are folded up to the first that is not in it.
                    let mut last = None;
                    let mut waiting_until = None;
                    for Present {
                        order: (at, id),
                        on,
                        due,
                    } in its
                    {
                        match (batch.get(&id), waiting_until) {
                            (Some(&i), None) => {
                                folded.push(i);
                                last = Some((at, on));
                            }
                            // Made after a click that waits: it waits as long.
                            (Some(&i), Some(until)) => deferred.push((i, until)),
                            (None, None) => {
                                let now = DateTime::now();
                                waiting_until = Some(due.map_or(now, |d| d.max(now)));
                            }
                            (None, Some(_)) => {}
                        }
                    }
                    let Some((at, on)) = last else {
                        continue;
                    };
                    if on != toggle.was_on {
                        changed.push(Moved {
                            pair,
                            post: *post,
                            user: toggle.user_id,
                            on,
                            at,
                            exists: now.is_some(),
                        });
                        let (adds, removes) = moves.entry(*post).or_default();
                        (if on { adds } else { removes }).push(toggle.user_id as i64);
                    }
                }
                if folded.is_empty() && deferred.is_empty() {
                    return Ok(None);
                }
                if !deferred.is_empty() {
                    let later: Vec<Bson> = deferred
                        .iter()
                        .map(|&(i, until)| {
                            Bson::Document(doc! {
                                "q": { "_id": &click_ids[i] },
                                "u": { "$set": { "eventsDueAt": until } },
                            })
                        })
                        .collect();
                    update_in(&db, session, FAVORITE_CLICKS, later, "deferring clicks").await?;
                }
                // The posts' change numbers, read in the transaction: each moves by one.
                let ids: Vec<ObjectId> = moves.keys().copied().collect();
                let mut seqs = std::collections::HashMap::new();
                if !ids.is_empty() {
                    let filter = doc! { "_id": { "$in": &ids }, "status": super::not_deleted() };
                    let projection = doc! { "changeSeq": 1 };
                    for post in find_in(&db, session, POSTS, filter, projection).await? {
                        if let Ok(id) = post.get_object_id("_id") {
                            seqs.insert(id, int(&post, "changeSeq") + 1);
                        }
                    }
                }
                steps.mark("posts read");
                // The favorites that changed: new ones inserted, the others updated, each
                // kind in one command.
                let changed_count = changed.len();
                let mut inserts = Vec::new();
                let mut updates = Vec::new();
                for Moved {
                    pair,
                    post,
                    user,
                    on,
                    at,
                    exists,
                } in changed
                {
                    let seq = seqs.get(&post).copied().unwrap_or(0);
                    let at = DateTime::from_millis(at);
                    if !exists {
                        inserts.push(doc! {
                            "_id": pair, "postId": post, "userId": user as i64, "on": on,
                            "counted": on, "countedSeq": seq, "seq": 1_i64, "at": at,
                        });
                    } else {
                        updates.push(Bson::Document(doc! {
                            "q": { "_id": pair },
                            "u": {
                                "$set": { "on": on, "counted": on, "countedSeq": seq, "at": at },
                                "$inc": { "seq": 1_i64 },
                            },
                        }));
                    }
                }
                if !inserts.is_empty() {
                    db.collection::<Document>(FAVORITES)
                        .insert_many(inserts)
                        .session(&mut *session)
                        .await?;
                }
                if !updates.is_empty() {
                    update_in(&db, session, FAVORITES, updates, "moving favorites").await?;
                }
                steps.mark("favorites written");
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
                steps.mark("posts written");
                let gone: Vec<&Bson> = folded.iter().map(|&i| &click_ids[i]).collect();
                db.collection::<Document>(FAVORITE_CLICKS)
                    .delete_many(doc! { "_id": { "$in": gone } })
                    .session(&mut *session)
                    .await?;
                steps.mark("clicks deleted");
                tracing::debug!(
                    clicks = folded.len(),
                    changed = changed_count,
                    posts = seqs.len(),
                    steps = %steps,
                    "favorites fold"
                );
                // What readers other than the clickers see changed: the posts that moved.
                let moved: Vec<usize> = folded
                    .into_iter()
                    .filter(|&i| seqs.contains_key(&post_ids[i]))
                    .collect();
                Ok(Some(moved))
            })
        })
        .await?;
    Ok(folded
        .unwrap_or_default()
        .into_iter()
        .map(|i| clicks[i])
        .collect())
}

/// The documents of `collection` matching `filter`, with `_id` and the fields of
/// `projection`, read in the transaction of `session`.
async fn find_in(
    db: &mongodb::Database,
    session: &mut mongodb::ClientSession,
    collection: &str,
    filter: Document,
    projection: Document,
) -> mongodb::error::Result<Vec<Document>> {
    let mut cursor = db
        .collection::<Document>(collection)
        .find(filter)
        .projection(projection)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn writers_are_paced_by_a_share_of_the_relay_lag_over_the_threshold_up_to_the_cap() {
        let wake = DueWake::default();
        assert_eq!(wake.pace(Source::Favorites), Duration::ZERO);
        wake.relay_lag(Source::Favorites, PACE_FROM);
        assert_eq!(wake.pace(Source::Favorites), Duration::ZERO);
        let over = Duration::from_millis(400);
        wake.relay_lag(Source::Favorites, PACE_FROM + over);
        assert_eq!(wake.pace(Source::Favorites), over / PACE_GAIN);
        assert_eq!(wake.lag(Source::Favorites), PACE_FROM + over);
        assert!(!wake.pace(Source::Favorites).is_zero());
        // Each source is paced by its own lag.
        assert_eq!(wake.pace(Source::Comments), Duration::ZERO);
        wake.relay_lag(Source::Comments, Duration::from_secs(60));
        assert_eq!(wake.pace(Source::Comments), PACE_MAX);
        wake.relay_lag(Source::Favorites, Duration::ZERO);
        assert_eq!(wake.pace(Source::Favorites), Duration::ZERO);
        assert_eq!(wake.pace(Source::Comments), PACE_MAX);
    }
}
