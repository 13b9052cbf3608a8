//! The content relay: delivers the events MongoDB posts, comments and favorites carry in
//! `pendingEvents` (written in the same document write as the change) to every consumer that
//! wants them, then removes them; new posts' events it reads from the posts' change stream
//! instead (`ContentRelay::follow_created`), so a new post is not written again once delivered. Nothing is claimed (consumers are idempotent): a post's
//! events, delivered in order, leave it only while it holds exactly those delivered, so one
//! that changed meanwhile stays due. New comments carry their one `comment.created` each,
//! favorite clicks their `post.liked` or `post.unliked` (delivered only for the clicks that
//! change their favorites): their posts' counts (and `favoritedBy`) move in the transaction
//! that removes the delivered events or clicks, which only one relay wins, and
//! the consumers in [`ContentRelay::after_counting`] (the cache, the search index) hear of
//! them then.
//! Each consumer gets the events of a whole batch at once ([`Consumer::apply_batch`]),
//! falling back to document by document, event by event, when that fails.
//! A failed delivery is retried with the same doubling back-off as the outbox relay; an
//! unreadable event is parked in the post's `deadEvents` for `techhub doctor` to report.

use std::sync::Arc;

use mongodb::bson::DateTime;
use techhub_content::posts::{self, DueWake, Pending, Source};
use techhub_content::Mongo;
use techhub_core::events::Event;

use crate::due_window::DueWindow;
use crate::relay::{drive, Consumer, RelaySettings};

/// How many posts the relay takes in a batch, per outbox event the outbox relay takes
/// (`TECHHUB_RELAY_BATCH`). Each batch costs a few MongoDB commands and one PostgreSQL
/// transaction whatever its size: at 100 posts a batch the relay fell behind a burst of new
/// posts (11,531 of some 19,000 still due after a 10 s benchmark run at 1,745 a second), at
/// 400 it kept up.
pub(crate) const POSTS_PER_EVENT_BATCH: usize = 4;
/// How many comments (or favorites) the relay takes in a batch, per outbox event.
const SMALL_PER_POST_BATCH: usize = 5;

pub struct ContentRelay {
    pub(crate) mongo: Mongo,
    consumers: Vec<Arc<dyn Consumer>>,
    /// Told of comments once their posts' counts moved.
    counted: Vec<Arc<dyn Consumer>>,
    pub(crate) settings: RelaySettings,
    /// Who this relay is, as the holder of the new posts' stream lease.
    pub(crate) holder: String,
    wake: Arc<DueWake>,
    /// Per source (in [`Source::ALL`]'s order), which due documents to read next.
    windows: [std::sync::Mutex<DueWindow>; 3],
    /// Per source, whether its last batch was full or failed: it is read again at once.
    behind: [std::sync::atomic::AtomicBool; 3],
    /// When every source was last read (see [`ContentRelay::run_once`]).
    all_read: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How many windows behind the present one batch may read while they find nothing.
const MAX_EMPTY_WINDOWS: usize = 32;

impl ContentRelay {
    /// `wake` is flagged by writers in this process so their events go out at once rather
    /// than at the next poll.
    pub fn new(
        mongo: Mongo,
        consumers: Vec<Arc<dyn Consumer>>,
        settings: RelaySettings,
        wake: Arc<DueWake>,
    ) -> Self {
        ContentRelay {
            mongo,
            consumers,
            counted: Vec::new(),
            settings,
            holder: uuid::Uuid::new_v4().to_string(),
            wake,
            windows: Default::default(),
            behind: Default::default(),
            all_read: Default::default(),
        }
    }

    /// Consumers that also get the events of delivered comments after their posts'
    /// `engagement.comments` moved (the cache, whose entries show the counts), once per
    /// batch. A crash between the two leaves them to their own expiry.
    pub fn after_counting(mut self, consumers: Vec<Arc<dyn Consumer>>) -> Self {
        self.counted = consumers;
        self
    }

    /// Takes one batch each of posts, comments and favorites with due events and delivers
    /// them. Returns how many documents.
    ///
    /// Every source is read once per poll interval (the writes of other processes); between
    /// those, only the sources a write of this process flagged ([`DueWake::due`]) and those
    /// whose last batch was full or failed. Each read of a source costs MongoDB a query
    /// whether or not anything is due: a burst of new posts woke the relay some 100 times a
    /// second, and reading comments and favorite clicks each time was a third of
    /// SecantusDB's time on queries.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let all = {
            let mut at = self.all_read.lock().expect("all read lock");
            let due = at.is_none_or(|at| at.elapsed() >= self.settings.poll);
            if due {
                *at = Some(std::time::Instant::now());
            }
            due
        };
        let mut taken = 0;
        for source in Source::ALL {
            let behind = &self.behind[source.slot()];
            let flagged = self.wake.take(source);
            if !(all || flagged || behind.load(std::sync::atomic::Ordering::Acquire)) {
                continue;
            }
            // Read again at once unless it finishes with a batch that was not full.
            behind.store(true, std::sync::atomic::Ordering::Release);
            let n = match self.run_source(source).await {
                Ok(n) => n,
                Err(e) => {
                    self.wake.relay_lag(source, std::time::Duration::ZERO);
                    return Err(e);
                }
            };
            behind.store(
                n >= self.limit(source),
                std::sync::atomic::Ordering::Release,
            );
            taken += n;
        }
        Ok(taken)
    }

    /// How many documents of `source` a batch takes at most.
    fn limit(&self, source: Source) -> usize {
        // A comment or a favorite is a small document with one small event: more of them go
        // in a batch, and each batch costs PostgreSQL a score per user whatever its size.
        let batch = self.settings.batch as usize;
        match source {
            Source::Posts => batch * POSTS_PER_EVENT_BATCH,
            Source::Comments | Source::Favorites => batch * SMALL_PER_POST_BATCH,
        }
    }

    /// Takes one batch of `source` with due events and delivers them. Returns how many.
    ///
    /// Unreadable events are parked first. Then each consumer gets the events it wants of all
    /// the documents taken in one [`Consumer::apply_batch`] (in post order, each post's in its
    /// order), so a batch costs a store one unit of work rather than one per event. Should a
    /// consumer's batch fail, its events are delivered to it again post by post, event by
    /// event, so one event it cannot apply holds back only its own post, which is retried
    /// with back-off.
    async fn run_source(&self, source: Source) -> anyhow::Result<usize> {
        let limit = self.limit(source);
        let started = std::time::Instant::now();
        let mut taken = self.take_due(source, limit).await?;
        // How long the oldest of them has been due: what the writers are paced by.
        let lag = taken
            .iter()
            .map(|p| p.due_at.timestamp_millis())
            .min()
            .map_or(0, |due| {
                u64::try_from(DateTime::now().timestamp_millis() - due).unwrap_or(0)
            });
        if taken.is_empty() {
            self.wake.relay_lag(source, std::time::Duration::ZERO);
            return Ok(0);
        }
        if source == Source::Favorites {
            // Only the clicks that change their favorites have events to deliver.
            posts::favorite_transitions(&self.mongo, &mut taken).await?;
        }
        let read = started.elapsed();
        let readable =
            futures::future::join_all(taken.iter().map(|post| self.readable(post))).await;
        let failed = self.deliver_batch(&readable).await;
        let lag = if failed.is_empty() { lag } else { 0 };
        self.wake
            .relay_lag(source, std::time::Duration::from_millis(lag));
        let outcomes = futures::future::join_all(readable.iter().map(|post| async {
            if failed.is_empty() {
                let delivered = post.events.iter().map(|e| e.id.to_string()).collect();
                self.conclude(post.post, delivered, post.failure.clone())
                    .await
            } else {
                self.deliver(post, &failed).await
            }
        }))
        .await;
        let delivered = started.elapsed();
        // The posts delivered whole are finished together, in one update.
        let mut done = Vec::new();
        let mut event_ids = Vec::new();
        for (post, outcome) in taken.iter().zip(outcomes) {
            if let Some(mut ids) = outcome {
                done.push(post);
                event_ids.append(&mut ids);
            }
        }
        match source {
            Source::Posts => {
                if let Err(e) = posts::events_delivered_all(&self.mongo, &done, &event_ids).await {
                    // They stay due and are delivered again; consumers are idempotent.
                    tracing::warn!(posts = done.len(), error = %e, "could not record content deliveries");
                }
            }
            Source::Comments => self.count(&done).await,
            Source::Favorites => self.count_favorites(&done).await,
        }
        tracing::debug!(
            ?source,
            documents = taken.len(),
            lag_ms = lag,
            read_ms = read.as_millis() as u64,
            deliver_ms = (delivered - read).as_millis() as u64,
            finish_ms = (started.elapsed() - delivered).as_millis() as u64,
            "content relay batch"
        );
        Ok(taken.len())
    }

    /// Reads up to `limit` documents of `source` with events due, window by window (see
    /// [`crate::due_window`]) until one finds some or reaches the present.
    async fn take_due(&self, source: Source, limit: usize) -> anyhow::Result<Vec<Pending>> {
        let slot = source.slot();
        for _ in 0..MAX_EMPTY_WINDOWS {
            let now = DateTime::now();
            let range = self.windows[slot].lock().expect("window lock").next(now);
            let taken = posts::take_due(&self.mongo, source, range.0, range.1, limit).await?;
            let found: Vec<DateTime> = taken.iter().map(|p| p.due_at).collect();
            let behind = self.windows[slot]
                .lock()
                .expect("window lock")
                .read(range, now, &found, limit);
            if !taken.is_empty() || !behind {
                return Ok(taken);
            }
        }
        Ok(Vec::new())
    }

    /// Folds the delivered favorite clicks into their favorites and posts' projections and
    /// deletes them ([`posts::favorites_counted`]), then tells
    /// [`ContentRelay::after_counting`]'s consumers.
    async fn count_favorites(&self, favorites: &[&Pending]) {
        let folded = posts::favorites_counted(&self.mongo, favorites).await;
        if let Some(e) = &folded.failed {
            // Those of the failed chunk stay due and are delivered again; consumers are
            // idempotent and the projection moves only with the removal.
            tracing::warn!(favorites = favorites.len(), error = %e, "could not count some delivered favorites");
        }
        self.tell_counted(&folded.done).await;
    }

    /// Moves the posts' comment counts for the delivered `comments` and removes their events
    /// ([`posts::comments_counted`]), then tells [`ContentRelay::after_counting`]'s consumers.
    async fn count(&self, comments: &[&Pending]) {
        let moved = posts::comments_counted(&self.mongo, comments).await;
        if let Some(e) = &moved.failed {
            // Those of the failed chunk stay due and are delivered again; consumers are
            // idempotent and the count moves only with the removal.
            tracing::warn!(comments = comments.len(), error = %e, "could not count some delivered comments");
        }
        let counted: Vec<&Pending> = comments
            .iter()
            .copied()
            .filter(|c| moved.done.contains_key(&c.post_id))
            .collect();
        self.tell_counted(&counted).await;
    }

    /// Gives [`ContentRelay::after_counting`]'s consumers the events of `counted`.
    async fn tell_counted(&self, counted: &[&Pending]) {
        let events: Vec<&Event> = counted
            .iter()
            .flat_map(|c| c.events.iter().filter_map(|e| e.as_ref().ok()))
            .collect();
        for consumer in &self.counted {
            let wanted: Vec<&Event> = events
                .iter()
                .copied()
                .filter(|e| consumer.wants(&e.payload))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            if let Err(e) = consumer.apply_batch(&wanted).await {
                tracing::warn!(consumer = consumer.name(), error = %format!("{e:#}"), "could not tell of counted comments or favorites");
            }
        }
    }

    /// Runs until `shutdown` resolves: the due-event batches, and beside them the new posts'
    /// change stream ([`ContentRelay::follow_created`]).
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        use futures::FutureExt;
        let shutdown = shutdown.shared();
        let wake = Some(self.wake.notify());
        let due = drive(
            "content relay",
            &self.settings,
            wake,
            shutdown.clone(),
            || self.run_once(),
        );
        tokio::join!(due, self.follow_created(shutdown));
    }

    /// Parks the post's unreadable events, in order, and returns the readable ones. Should
    /// parking fail, only the events before the unparked one are returned, with the failure:
    /// the post is retried after those are delivered.
    async fn readable<'a>(&self, post: &'a Pending) -> Readable<'a> {
        let mut events = Vec::with_capacity(post.events.len());
        let mut parked = 0;
        for (index, event) in post.events.iter().enumerate() {
            match event {
                Ok(event) => events.push(event),
                Err(reason) => {
                    tracing::error!(post.id = %post.id, %reason, "unreadable content event parked");
                    // Each one parked leaves the document's array, moving those after it up.
                    let at = index - parked;
                    if let Err(e) = posts::event_parked(&self.mongo, post, at, reason).await {
                        return Readable {
                            post,
                            events,
                            failure: Some(format!("parking an unreadable event: {e}")),
                        };
                    }
                    parked += 1;
                }
            }
        }
        Readable {
            post,
            events,
            failure: None,
        }
    }

    /// One [`Consumer::apply_batch`] per consumer, concurrently, of the events it wants of
    /// all `posts`. Returns the consumers whose batch failed.
    pub(crate) async fn deliver_batch(&self, posts: &[Readable<'_>]) -> Vec<&Arc<dyn Consumer>> {
        let outcomes = futures::future::join_all(self.consumers.iter().map(|c| async move {
            let wanted: Vec<&Event> = posts
                .iter()
                .flat_map(|post| post.events.iter().copied())
                .filter(|event| c.wants(&event.payload))
                .collect();
            if wanted.is_empty() {
                return None;
            }
            match c.apply_batch(&wanted).await {
                Ok(()) => None,
                Err(e) => {
                    tracing::warn!(consumer = c.name(), events = wanted.len(), error = %format!("{e:#}"), "content batch delivery failed; delivering post by post");
                    Some(c)
                }
            }
        }))
        .await;
        outcomes.into_iter().flatten().collect()
    }

    /// Delivers the post's readable events in order, one by one, to `consumers` (those whose
    /// batch failed: the others applied them all already). Returns the delivered event ids
    /// when all were delivered (the caller records that, for all such posts at once);
    /// otherwise records what was delivered and the retry itself, and returns `None`.
    async fn deliver(
        &self,
        post: &Readable<'_>,
        consumers: &[&Arc<dyn Consumer>],
    ) -> Option<Vec<String>> {
        let (delivered, failure) = self.deliver_each(post, consumers).await;
        self.conclude(post.post, delivered, failure).await
    }

    /// Delivers the post's readable events in order, one by one, to `consumers`, up to the
    /// first that fails. Returns the ids of those delivered, and the failure (or the reason
    /// the post's later events were not taken), if any.
    pub(crate) async fn deliver_each(
        &self,
        post: &Readable<'_>,
        consumers: &[&Arc<dyn Consumer>],
    ) -> (Vec<String>, Option<String>) {
        let mut delivered = Vec::new();
        let mut failure = None;
        for event in &post.events {
            let outcomes = futures::future::join_all(
                consumers
                    .iter()
                    .filter(|c| c.wants(&event.payload))
                    .map(|c| async move {
                        c.apply(event)
                            .await
                            .map_err(|e| format!("{}: {e:#}", c.name()))
                    }),
            )
            .await;
            let errors: Vec<String> = outcomes.into_iter().filter_map(Result::err).collect();
            if errors.is_empty() {
                delivered.push(event.id.to_string());
            } else {
                failure = Some(errors.join("; "));
                break;
            }
        }
        (delivered, failure.or_else(|| post.failure.clone()))
    }

    /// Returns `delivered` when the post is done (no `failure`); otherwise removes the
    /// delivered events, puts the rest back to be retried with back-off, and returns `None`.
    async fn conclude(
        &self,
        post: &Pending,
        delivered: Vec<String>,
        failure: Option<String>,
    ) -> Option<Vec<String>> {
        let Some(error) = failure else {
            return Some(delivered);
        };
        let attempts = post.attempts as u32 + 1;
        let retry_in = self.settings.backoff(attempts);
        tracing::warn!(post.id = %post.id, attempts, ?retry_in, %error, "content event delivery failed; will retry");
        let retry_at =
            DateTime::from_millis(DateTime::now().timestamp_millis() + retry_in.as_millis() as i64);
        let outcome = match posts::events_delivered(&self.mongo, post, &delivered).await {
            Ok(()) => posts::events_failed(&self.mongo, post, retry_at, &error).await,
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            // The lease runs out and the events are delivered again; consumers are idempotent.
            tracing::warn!(post.id = %post.id, error = %e, "could not record the content delivery outcome");
        }
        None
    }
}

/// A taken document's events that could be read (unreadable ones parked), in order.
pub(crate) struct Readable<'a> {
    pub(crate) post: &'a Pending,
    pub(crate) events: Vec<&'a Event>,
    /// Why the events after these were not taken (an unreadable one could not be parked).
    pub(crate) failure: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use futures::future::BoxFuture;
    use futures::TryStreamExt;
    use mongodb::bson::{doc, oid::ObjectId, Bson, Document};
    use techhub_content::schema::{COMMENTS, FAVORITES, FAVORITE_CLICKS, POSTS};
    use techhub_core::config::with_database;
    use techhub_core::events::{EventPayload, Reaction};
    use techhub_core::{Config, Store};
    use uuid::Uuid;

    use super::*;

    /// Records what it is given; fails any batch holding `poison`, and `poison` itself.
    struct Recorder {
        name: &'static str,
        likes_only: bool,
        poison: Option<Uuid>,
        batches: Mutex<Vec<Vec<Uuid>>>,
        applied: Mutex<Vec<Uuid>>,
    }

    impl Recorder {
        fn new(name: &'static str, likes_only: bool, poison: Option<Uuid>) -> Arc<Recorder> {
            Arc::new(Recorder {
                name,
                likes_only,
                poison,
                batches: Mutex::default(),
                applied: Mutex::default(),
            })
        }

        /// Every event `recorders` were given in batches, in order, recorder after recorder.
        fn batched(recorders: &[&Arc<Recorder>]) -> Vec<Uuid> {
            recorders
                .iter()
                .flat_map(|r| r.batches.lock().unwrap().concat())
                .collect()
        }
    }

    impl Consumer for Recorder {
        fn name(&self) -> &'static str {
            self.name
        }

        fn wants(&self, payload: &EventPayload) -> bool {
            !self.likes_only || matches!(payload, EventPayload::PostLiked(_))
        }

        fn apply<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, anyhow::Result<()>> {
            Box::pin(async move {
                anyhow::ensure!(Some(event.id) != self.poison, "poisoned");
                self.applied.lock().unwrap().push(event.id);
                Ok(())
            })
        }

        fn apply_batch<'a>(&'a self, events: &'a [&'a Event]) -> BoxFuture<'a, anyhow::Result<()>> {
            Box::pin(async move {
                self.batches
                    .lock()
                    .unwrap()
                    .push(events.iter().map(|e| e.id).collect());
                anyhow::ensure!(
                    events.iter().all(|e| Some(e.id) != self.poison),
                    "poisoned batch"
                );
                Ok(())
            })
        }
    }

    fn like() -> Event {
        Event::new(EventPayload::PostLiked(Reaction {
            post_id: "p".into(),
            slug: "p".into(),
            author_id: 1,
            actor_id: 2,
        }))
    }

    fn comment() -> Event {
        Event::new(EventPayload::CommentCreated(Reaction {
            post_id: "p".into(),
            slug: "p".into(),
            author_id: 1,
            actor_id: 2,
        }))
    }

    fn stored(event: &Event) -> Bson {
        mongodb::bson::to_bson(&serde_json::to_value(event).unwrap()).unwrap()
    }

    /// A fresh database (named so the API tests' sweep removes one a crashed run left), with
    /// one due post per list of pending events.
    async fn database() -> Mongo {
        let base = Config::from_env().unwrap();
        let name = techhub_core::config::test_database_name();
        let mut settings = base.pool(Store::Mongodb);
        settings.url = with_database(&base.mongodb_url, &name).unwrap();
        Mongo::connect(&settings).await.unwrap()
    }

    async fn posts_with(pending: Vec<Vec<Bson>>) -> (Mongo, Vec<ObjectId>) {
        let mongo = database().await;
        let due = DateTime::from_millis(DateTime::now().timestamp_millis() - 1000);
        let docs: Vec<Document> = pending
            .into_iter()
            .map(|events| doc! { "_id": ObjectId::new(), "pendingEvents": events, "eventsDueAt": due })
            .collect();
        let ids = docs
            .iter()
            .map(|d| d.get_object_id("_id").unwrap())
            .collect();
        mongo
            .db()
            .collection::<Document>(POSTS)
            .insert_many(docs)
            .await
            .unwrap();
        (mongo, ids)
    }

    async fn post(mongo: &Mongo, id: ObjectId) -> Document {
        mongo
            .db()
            .collection::<Document>(POSTS)
            .find_one(doc! { "_id": id })
            .await
            .unwrap()
            .unwrap()
    }

    /// The ids of the post's undelivered events.
    fn pending_ids(post: &Document) -> Vec<String> {
        post.get_array("pendingEvents")
            .map(|events| {
                events
                    .iter()
                    .map(|e| e.as_document().unwrap().get_str("id").unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The tests' relay settings, reading every source each `poll`.
    fn settings(poll: Duration) -> RelaySettings {
        RelaySettings {
            batch: 100,
            poll,
            lease: Duration::from_secs(30),
            max_attempts: 5,
            max_backoff: Duration::from_secs(5),
        }
    }

    fn relay(mongo: &Mongo, consumers: Vec<Arc<dyn Consumer>>) -> ContentRelay {
        let settings = settings(Duration::from_millis(50));
        ContentRelay::new(mongo.clone(), consumers, settings, Arc::default())
    }

    #[tokio::test]
    async fn a_batch_goes_to_each_consumer_at_once_in_post_order() {
        let (a1, c1, a2, a3) = (like(), comment(), like(), like());
        let pending = vec![
            vec![stored(&a1), stored(&c1)],
            vec![stored(&a2), stored(&a3)],
        ];
        let (mongo, ids) = posts_with(pending).await;
        let (all, likes) = (
            Recorder::new("all", false, None),
            Recorder::new("likes", true, None),
        );
        let relay = relay(
            &mongo,
            vec![all.clone() as Arc<dyn Consumer>, likes.clone()],
        );

        assert_eq!(relay.run_once().await.unwrap(), 2);
        assert_eq!(
            *all.batches.lock().unwrap(),
            vec![vec![a1.id, c1.id, a2.id, a3.id]]
        );
        assert_eq!(
            *likes.batches.lock().unwrap(),
            vec![vec![a1.id, a2.id, a3.id]]
        );
        assert!(all.applied.lock().unwrap().is_empty() && likes.applied.lock().unwrap().is_empty());
        for id in ids {
            let post = post(&mongo, id).await;
            assert!(
                pending_ids(&post).is_empty() && !post.contains_key("eventsDueAt"),
                "{post}"
            );
        }
        assert_eq!(relay.run_once().await.unwrap(), 0);
        mongo.db().drop().await.unwrap();
    }

    /// Stands for a request arriving while a batch is delivered: when given its first batch,
    /// applies `update` to the document `filter` matches in `collection`, as the request's
    /// write would (making the document due again), or inserts `update` when there is no
    /// `filter` (a new click).
    struct Meanwhile {
        mongo: Mongo,
        collection: &'static str,
        filter: Option<Document>,
        update: Mutex<Option<Document>>,
    }

    impl Meanwhile {
        fn new(
            mongo: &Mongo,
            collection: &'static str,
            filter: Document,
            update: Document,
        ) -> Arc<Self> {
            Arc::new(Meanwhile {
                mongo: mongo.clone(),
                collection,
                filter: Some(filter),
                update: Mutex::new(Some(update)),
            })
        }

        fn inserting(mongo: &Mongo, collection: &'static str, document: Document) -> Arc<Self> {
            Arc::new(Meanwhile {
                mongo: mongo.clone(),
                collection,
                filter: None,
                update: Mutex::new(Some(document)),
            })
        }
    }

    impl Consumer for Meanwhile {
        fn name(&self) -> &'static str {
            "meanwhile"
        }

        fn wants(&self, _: &EventPayload) -> bool {
            true
        }

        fn apply<'a>(&'a self, _: &'a Event) -> BoxFuture<'a, anyhow::Result<()>> {
            Box::pin(async { Ok(()) })
        }

        fn apply_batch<'a>(&'a self, _: &'a [&'a Event]) -> BoxFuture<'a, anyhow::Result<()>> {
            Box::pin(async move {
                let update = self.update.lock().unwrap().take();
                let collection = self.mongo.db().collection::<Document>(self.collection);
                match (update, &self.filter) {
                    (Some(update), Some(filter)) => {
                        collection.update_one(filter.clone(), update).await?;
                    }
                    (Some(document), None) => {
                        collection.insert_one(document).await?;
                    }
                    (None, _) => {}
                }
                Ok(())
            })
        }
    }

    #[tokio::test]
    async fn an_event_arriving_during_delivery_keeps_its_post_due_and_the_others_finish() {
        let (a1, a2, a3, late) = (like(), like(), like(), like());
        let pending = vec![vec![stored(&a1)], vec![stored(&a2), stored(&a3)]];
        let (mongo, ids) = posts_with(pending).await;
        // A favorite of the second post, as the request made them: pushed with the post due.
        let favorite = doc! {
            "$push": { "pendingEvents": stored(&late) },
            "$set": { "eventsDueAt": DateTime::now() },
        };
        let meanwhile = Meanwhile::new(&mongo, POSTS, doc! { "_id": ids[1] }, favorite);
        let relay = relay(&mongo, vec![meanwhile as Arc<dyn Consumer>]);

        assert_eq!(relay.run_once().await.unwrap(), 2);
        let (quiet, popular) = (post(&mongo, ids[0]).await, post(&mongo, ids[1]).await);
        assert!(pending_ids(&quiet).is_empty() && !quiet.contains_key("eventsDueAt"));
        // The delivered events left; the late one stays, due.
        assert_eq!(pending_ids(&popular), vec![late.id.to_string()]);
        assert!(popular.get_datetime("eventsDueAt").unwrap() <= &DateTime::now());
        // The request that pushed it flagged posts, as every write does.
        relay.wake.due(Source::Posts);
        assert_eq!(
            relay.run_once().await.unwrap(),
            1,
            "the late event goes next"
        );
        let popular = post(&mongo, ids[1]).await;
        assert!(pending_ids(&popular).is_empty() && !popular.contains_key("eventsDueAt"));
        mongo.db().drop().await.unwrap();
    }

    #[tokio::test]
    async fn posts_read_by_two_relays_at_once_are_all_finished_with_every_event_heard() {
        // Twenty posts with one or two events each, read and delivered by two relays at the
        // same time: consumers may hear an event twice (they are idempotent), but whichever
        // relay finishes a post, none is finished with an event unheard, and all are finished.
        let events: Vec<Vec<Event>> = (0..20)
            .map(|i| (0..1 + i % 2).map(|_| like()).collect())
            .collect();
        let pending = events
            .iter()
            .map(|post| post.iter().map(stored).collect())
            .collect();
        let (mongo, ids) = posts_with(pending).await;
        let (heard_one, heard_two) = (
            Recorder::new("one", false, None),
            Recorder::new("two", false, None),
        );
        let one = relay(&mongo, vec![heard_one.clone() as Arc<dyn Consumer>]);
        let two = relay(&mongo, vec![heard_two.clone() as Arc<dyn Consumer>]);

        let (taken_one, taken_two) = tokio::join!(one.run_once(), two.run_once());
        assert!(taken_one.unwrap() + taken_two.unwrap() >= ids.len());
        let heard = Recorder::batched(&[&heard_one, &heard_two]);
        for event in events.iter().flatten() {
            assert!(heard.contains(&event.id), "event {} unheard", event.id);
        }
        for id in &ids {
            let post = post(&mongo, *id).await;
            assert!(
                pending_ids(&post).is_empty() && !post.contains_key("eventsDueAt"),
                "{post:?} still due"
            );
        }
        assert_eq!(
            one.run_once().await.unwrap() + two.run_once().await.unwrap(),
            0
        );
        mongo.db().drop().await.unwrap();
    }

    #[tokio::test]
    async fn a_failed_batch_is_delivered_post_by_post_and_only_the_poisoned_post_waits() {
        let (a1, c1, a2, a3, a4, a5) = (like(), comment(), like(), like(), like(), like());
        let unreadable = |n: i32| Bson::Document(doc! { "id": format!("bad-{n}"), "payload": n });
        let pending = vec![
            vec![stored(&a1), stored(&c1)],
            vec![stored(&a2), stored(&a3)],
            vec![unreadable(1), stored(&a4), unreadable(2), stored(&a5)],
        ];
        let (mongo, ids) = posts_with(pending).await;
        let all = Recorder::new("all", false, None);
        let likes = Recorder::new("likes", true, Some(a3.id));
        let relay = relay(
            &mongo,
            vec![all.clone() as Arc<dyn Consumer>, likes.clone()],
        );

        assert_eq!(relay.run_once().await.unwrap(), 3);
        // The consumer whose batch went through is not asked again.
        let everything = vec![a1.id, c1.id, a2.id, a3.id, a4.id, a5.id];
        assert_eq!(*all.batches.lock().unwrap(), vec![everything]);
        assert!(all.applied.lock().unwrap().is_empty());
        // The other gets its events again one by one, each post's in order, up to the
        // poisoned one.
        let wanted = vec![a1.id, a2.id, a3.id, a4.id, a5.id];
        assert_eq!(*likes.batches.lock().unwrap(), vec![wanted]);
        let mut applied = likes.applied.lock().unwrap().clone();
        let order = |x: Uuid, y: Uuid| {
            applied.iter().position(|e| *e == x) < applied.iter().position(|e| *e == y)
        };
        assert!(order(a4.id, a5.id));
        applied.sort();
        let mut expected = vec![a1.id, a2.id, a4.id, a5.id];
        expected.sort();
        assert_eq!(applied, expected);

        let (first, poisoned, parked) = (
            post(&mongo, ids[0]).await,
            post(&mongo, ids[1]).await,
            post(&mongo, ids[2]).await,
        );
        assert!(pending_ids(&first).is_empty() && !first.contains_key("eventsDueAt"));
        // Only what failed stays, to be retried later.
        assert_eq!(pending_ids(&poisoned), vec![a3.id.to_string()]);
        assert_eq!(poisoned.get_i64("eventAttempts").unwrap(), 1);
        assert!(poisoned
            .get_str("eventError")
            .unwrap()
            .contains("likes: poisoned"));
        assert!(poisoned.get_datetime("eventsDueAt").unwrap() > &DateTime::now());
        // Both unreadable events parked, and nothing else.
        assert!(pending_ids(&parked).is_empty() && !parked.contains_key("eventsDueAt"));
        let dead: Vec<&str> = parked
            .get_array("deadEvents")
            .unwrap()
            .iter()
            .map(|d| {
                let event = d.as_document().unwrap().get_document("event").unwrap();
                event.get_str("id").unwrap()
            })
            .collect();
        assert_eq!(dead, ["bad-1", "bad-2"]);

        assert_eq!(
            relay.run_once().await.unwrap(),
            0,
            "the retry waits its back-off"
        );
        mongo.db().drop().await.unwrap();
    }

    #[tokio::test]
    async fn between_polls_a_relay_reads_only_the_sources_its_writers_flagged() {
        let first = like();
        let (mongo, ids) = posts_with(vec![vec![stored(&first)]]).await;
        let heard = Recorder::new("heard", false, None);
        let wake = Arc::new(DueWake::default());
        let relay = ContentRelay::new(
            mongo.clone(),
            vec![heard.clone() as Arc<dyn Consumer>],
            settings(Duration::from_secs(600)),
            wake.clone(),
        );
        // The first run reads every source.
        assert_eq!(relay.run_once().await.unwrap(), 1);
        assert_eq!(Recorder::batched(&[&heard]), vec![first.id]);

        // Another post and a comment fall due; only comments are flagged.
        let (edit, new_comment) = (like(), comment());
        let due = DateTime::from_millis(DateTime::now().timestamp_millis() - 1000);
        let posts = mongo.db().collection::<Document>(POSTS);
        posts
            .update_one(
                doc! { "_id": ids[0] },
                doc! { "$set": { "pendingEvents": [stored(&edit)], "eventsDueAt": due, "engagement": { "comments": 0_i64 } } },
            )
            .await
            .unwrap();
        mongo
            .db()
            .collection::<Document>(COMMENTS)
            .insert_one(doc! { "_id": ObjectId::new(), "postId": ids[0], "pendingEvents": [stored(&new_comment)], "eventsDueAt": due })
            .await
            .unwrap();
        wake.due(Source::Comments);
        assert_eq!(relay.run_once().await.unwrap(), 1, "the comment only");
        assert_eq!(Recorder::batched(&[&heard]), vec![first.id, new_comment.id]);
        assert_eq!(relay.run_once().await.unwrap(), 0, "nothing flagged");
        assert_eq!(
            pending_ids(&post(&mongo, ids[0]).await),
            vec![edit.id.to_string()]
        );

        wake.due(Source::Posts);
        assert_eq!(relay.run_once().await.unwrap(), 1, "the edited post");
        assert_eq!(
            Recorder::batched(&[&heard]),
            vec![first.id, new_comment.id, edit.id]
        );
        assert!(pending_ids(&post(&mongo, ids[0]).await).is_empty());
        mongo.db().drop().await.unwrap();
    }

    #[tokio::test]
    async fn comments_delivered_by_two_relays_at_once_are_counted_once() {
        let mongo = database().await;
        let post_id = ObjectId::new();
        let posts = mongo.db().collection::<Document>(POSTS);
        posts
            .insert_one(doc! { "_id": post_id, "engagement": { "comments": 5_i64 } })
            .await
            .unwrap();
        let events: Vec<Event> = (0..20).map(|_| comment()).collect();
        let poisoned = events[7].id;
        let due = DateTime::from_millis(DateTime::now().timestamp_millis() - 1000);
        let docs: Vec<Document> = events
            .iter()
            .map(|e| doc! { "_id": ObjectId::new(), "postId": post_id, "pendingEvents": [stored(e)], "eventsDueAt": due })
            .collect();
        let comments = mongo.db().collection::<Document>(COMMENTS);
        comments.insert_many(docs).await.unwrap();
        let (one, two) = (
            Recorder::new("one", false, Some(poisoned)),
            Recorder::new("two", false, Some(poisoned)),
        );
        let told = Recorder::new("told", false, None);
        let relay_one = relay(&mongo, vec![one.clone() as Arc<dyn Consumer>])
            .after_counting(vec![told.clone() as Arc<dyn Consumer>]);
        let relay_two = relay(&mongo, vec![two.clone() as Arc<dyn Consumer>])
            .after_counting(vec![told.clone() as Arc<dyn Consumer>]);

        let (a, b) = tokio::join!(relay_one.run_once(), relay_two.run_once());
        assert!(a.unwrap() + b.unwrap() >= 20);
        // Every comment but the poisoned one counted, once, however many relays delivered it.
        let post = posts
            .find_one(doc! { "_id": post_id })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            post.get_document("engagement")
                .unwrap()
                .get_i64("comments")
                .unwrap(),
            5 + 19
        );
        let left: Vec<Document> = comments
            .find(doc! { "pendingEvents": { "$exists": true } })
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(pending_ids(&left[0]), vec![poisoned.to_string()]);
        assert_eq!(left[0].get_i64("eventAttempts").unwrap(), 1);
        // The consumers after counting heard of each counted comment once or more (each
        // relay tells of what its own transaction counted) and never of the poisoned one.
        let mut heard = Recorder::batched(&[&told]);
        heard.sort();
        heard.dedup();
        let mut counted: Vec<Uuid> = events
            .iter()
            .map(|e| e.id)
            .filter(|id| *id != poisoned)
            .collect();
        counted.sort();
        assert_eq!(heard, counted);
        // Nothing is due before the poisoned comment's back-off runs out.
        assert_eq!(relay_one.run_once().await.unwrap(), 0);
        mongo.db().drop().await.unwrap();
    }

    fn unlike() -> Event {
        Event::new(EventPayload::PostUnliked(Reaction {
            post_id: "p".into(),
            slug: "p".into(),
            author_id: 1,
            actor_id: 2,
        }))
    }

    /// A click as a request inserts it, made `ago_ms` ago and due now, with its event.
    fn click_doc(post: ObjectId, user: u64, on: bool, ago_ms: i64, event: &Event) -> Document {
        let now = DateTime::now().timestamp_millis();
        doc! {
            "_id": ObjectId::new(), "pair": techhub_content::favorites::key(post, user),
            "postId": post, "userId": user as i64, "on": on,
            "at": DateTime::from_millis(now - ago_ms),
            "pendingEvents": [stored(event)], "eventsDueAt": DateTime::from_millis(now - 1),
        }
    }

    /// A favorite its post counts (`on`) or counted out, at the post's change number `seq`.
    fn favorite_doc(post: ObjectId, user: u64, on: bool, seq: i64) -> Document {
        doc! {
            "_id": techhub_content::favorites::key(post, user), "postId": post,
            "userId": user as i64, "on": on, "counted": on, "countedSeq": seq,
            "seq": 1_i64, "at": DateTime::from_millis(DateTime::now().timestamp_millis() - 60_000),
        }
    }

    async fn published_post(mongo: &Mongo, seq: i64, fans: &[i64]) -> ObjectId {
        let post_id = ObjectId::new();
        mongo
            .db()
            .collection::<Document>(POSTS)
            .insert_one(doc! {
                "_id": post_id, "status": "published", "changeSeq": seq,
                "engagement": { "likes": fans.len() as i64 }, "favoritedBy": fans,
            })
            .await
            .unwrap();
        post_id
    }

    /// The post `post_id`'s `favoritedBy` (sorted), its like count and its change number.
    async fn fans_of(mongo: &Mongo, post_id: ObjectId) -> (Vec<i64>, i64, i64) {
        let post = post(mongo, post_id).await;
        let mut fans: Vec<i64> = post
            .get_array("favoritedBy")
            .unwrap()
            .iter()
            .map(|u| u.as_i64().unwrap())
            .collect();
        fans.sort_unstable();
        let likes = post
            .get_document("engagement")
            .unwrap()
            .get_i64("likes")
            .unwrap();
        (fans, likes, post.get_i64("changeSeq").unwrap())
    }

    async fn all_in(mongo: &Mongo, collection: &str) -> Vec<Document> {
        mongo
            .db()
            .collection::<Document>(collection)
            .find(doc! {})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_click_during_delivery_is_folded_after_the_batch_it_missed() {
        let mongo = database().await;
        let post_id = published_post(&mongo, 1, &[]).await;
        let clicks: Vec<Document> = (1..=10)
            .map(|u| click_doc(post_id, u, true, 500, &like()))
            .collect();
        let clicks_of = mongo.db().collection::<Document>(FAVORITE_CLICKS);
        clicks_of.insert_many(clicks).await.unwrap();
        // User 7 takes theirs back while the batch is delivered: a click after the batch's.
        let late = unlike();
        let clicker = Meanwhile::inserting(
            &mongo,
            FAVORITE_CLICKS,
            click_doc(post_id, 7, false, 0, &late),
        );
        let heard = Recorder::new("heard", false, None);
        let relay = relay(&mongo, vec![clicker as Arc<dyn Consumer>, heard.clone()]);

        assert_eq!(relay.run_once().await.unwrap(), 10);
        // The ten are folded, user 7's first click with them; the click made meanwhile waits.
        let (fans, likes, seq) = fans_of(&mongo, post_id).await;
        assert_eq!(fans, (1..=10).collect::<Vec<i64>>());
        assert_eq!(
            (likes, seq),
            (10, 2),
            "one change of the post for the batch"
        );
        let left = all_in(&mongo, FAVORITE_CLICKS).await;
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(!left[0].get_bool("on").unwrap());
        // The next pass folds it (its request flagged favorites): the post loses user 7,
        // whose favorite records when.
        relay.wake.due(Source::Favorites);
        while relay.run_once().await.unwrap() > 0 {}
        let (fans, likes, seq) = fans_of(&mongo, post_id).await;
        assert_eq!(fans, [1, 2, 3, 4, 5, 6, 8, 9, 10]);
        assert_eq!((likes, seq), (9, 3));
        assert!(all_in(&mongo, FAVORITE_CLICKS).await.is_empty());
        let favorites = all_in(&mongo, FAVORITES).await;
        assert_eq!(favorites.len(), 10);
        for f in &favorites {
            let user = f.get_i64("userId").unwrap();
            let on = user != 7;
            assert_eq!(
                (f.get_bool("on").unwrap(), f.get_bool("counted").unwrap()),
                (on, on),
                "{f}"
            );
            assert_eq!(
                f.get_i64("countedSeq").unwrap(),
                if on { 2 } else { 3 },
                "{f}"
            );
        }
        let heard_ids = Recorder::batched(&[&heard]);
        assert!(heard_ids.contains(&late.id), "the take-back is heard");
        assert_eq!(
            heard_ids.len(),
            11,
            "ten likes and the take-back: {heard_ids:?}"
        );
        mongo.db().drop().await.unwrap();
    }

    #[tokio::test]
    async fn clicks_folded_by_two_relays_at_once_count_once_and_only_changes_are_heard() {
        let mongo = database().await;
        let post_id = published_post(&mongo, 4, &[1, 2, 3]).await;
        let favorites = mongo.db().collection::<Document>(FAVORITES);
        let counted: Vec<Document> = (1..=3).map(|u| favorite_doc(post_id, u, true, 4)).collect();
        favorites.insert_many(counted).await.unwrap();
        // User 2 takes theirs back; 4-23 are new; 24 clicks on then off; 1 favorites again
        // (no change) and 25 takes back a favorite they never had (none either).
        let mut changes = vec![unlike()];
        let mut clicks = vec![click_doc(post_id, 2, false, 900, &changes[0])];
        for u in 4..24 {
            let event = like();
            clicks.push(click_doc(post_id, u, true, 800, &event));
            changes.push(event);
        }
        let (on, off) = (like(), unlike());
        clicks.push(click_doc(post_id, 24, true, 700, &on));
        clicks.push(click_doc(post_id, 24, false, 600, &off));
        changes.extend([on, off]);
        let (again, never) = (like(), unlike());
        clicks.push(click_doc(post_id, 1, true, 500, &again));
        clicks.push(click_doc(post_id, 25, false, 500, &never));
        // User 26's earlier click waits out a failed delivery: their later one waits with it.
        let mut waiting = click_doc(post_id, 26, true, 400, &like());
        let retry_at = DateTime::from_millis(DateTime::now().timestamp_millis() + 60_000);
        waiting.insert("eventsDueAt", retry_at);
        clicks.push(waiting);
        clicks.push(click_doc(post_id, 26, false, 300, &unlike()));
        mongo
            .db()
            .collection::<Document>(FAVORITE_CLICKS)
            .insert_many(clicks)
            .await
            .unwrap();
        let (one, two) = (
            Recorder::new("one", false, None),
            Recorder::new("two", false, None),
        );
        let relay_one = relay(&mongo, vec![one.clone() as Arc<dyn Consumer>]);
        let relay_two = relay(&mongo, vec![two.clone() as Arc<dyn Consumer>]);

        let (a, b) = tokio::join!(relay_one.run_once(), relay_two.run_once());
        assert!(a.unwrap() + b.unwrap() >= 26);
        while relay_one.run_once().await.unwrap() > 0 {}
        let (fans, likes, seq) = fans_of(&mongo, post_id).await;
        let want: Vec<i64> = [1, 3].into_iter().chain(4..24).collect();
        assert_eq!(fans, want, "2 took theirs back, 24 never counted, 26 waits");
        assert_eq!(likes, want.len() as i64, "the count is the list's length");
        assert!(seq > 4, "the post changed: {seq}");
        let all = all_in(&mongo, FAVORITES).await;
        assert_eq!(
            all.len(),
            23,
            "1-3 and 4-23: nothing changed for 24 and 25: {all:?}"
        );
        for f in &all {
            assert_eq!(
                f.get_bool("on").unwrap(),
                f.get_bool("counted").unwrap(),
                "{f}"
            );
            assert!(f.get_i64("countedSeq").unwrap() <= seq, "{f}");
        }
        let left = all_in(&mongo, FAVORITE_CLICKS).await;
        assert_eq!(left.len(), 2, "user 26's clicks wait: {left:?}");
        for click in &left {
            assert_eq!(click.get_i64("userId").unwrap(), 26);
            assert_eq!(
                *click.get_datetime("eventsDueAt").unwrap(),
                retry_at,
                "{click}"
            );
        }
        // Each change is heard (by one relay or both), and no click that changed nothing.
        let heard = Recorder::batched(&[&one, &two]);
        for change in &changes {
            assert!(heard.contains(&change.id), "{change:?} not heard");
        }
        assert!(!heard.contains(&again.id) && !heard.contains(&never.id));
        mongo.db().drop().await.unwrap();
    }

    /// Creates `n` published posts as a request does (each with its `post.created` in
    /// `createdEvent`); returns their ids and events' ids.
    async fn create_posts(mongo: &Mongo, n: usize, title: &str) -> Vec<(ObjectId, Uuid)> {
        let mut made = Vec::new();
        for i in 0..n {
            let post = posts::create(
                mongo,
                posts::NewPost {
                    author_id: 7,
                    title: format!("{title} {i}"),
                    description: String::new(),
                    body: "body".into(),
                    tags: vec![],
                    status: techhub_core::domain::PostStatus::Published,
                    categories: vec![],
                    difficulty: None,
                },
            )
            .await
            .unwrap();
            let d = self::post(mongo, post.id).await;
            let event = d
                .get_document("createdEvent")
                .unwrap()
                .get_str("id")
                .unwrap();
            made.push((post.id, event.parse().unwrap()));
        }
        made
    }

    /// Runs `relay`'s follower of new posts until the returned sender is dropped or sent to.
    fn following(
        relay: Arc<ContentRelay>,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            relay
                .follow_created(async move {
                    let _ = stopped.await;
                })
                .await
        });
        (stop, task)
    }

    async fn heard_all(recorders: &[&Arc<Recorder>], want: &[Uuid]) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let heard = Recorder::batched(recorders);
            if want.iter().all(|id| heard.contains(id)) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "heard {} of {}",
                heard.len(),
                want.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn new_posts_are_delivered_from_the_change_stream_without_a_write_to_them() {
        let mongo = database().await;
        let all = Recorder::new("all", false, None);
        let relay = Arc::new(relay(&mongo, vec![all.clone()]));
        let (stop, task) = following(relay.clone());
        // The stream is open once the lease is taken.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let made = create_posts(&mongo, 30, "Streamed").await;
        let want: Vec<Uuid> = made.iter().map(|(_, e)| *e).collect();
        heard_all(&[&all], &want).await;
        let heard = Recorder::batched(&[&all]);
        assert_eq!(heard.len(), want.len(), "each once: {heard:?}");
        assert!(
            all.batches.lock().unwrap().len() < want.len(),
            "delivered in batches, not one by one"
        );
        for (id, event) in &made {
            let d = post(&mongo, *id).await;
            assert!(!d.contains_key("eventsDueAt"), "never marked due: {d}");
            assert_eq!(pending_ids(&d), Vec::<String>::new());
            assert_eq!(
                d.get_document("createdEvent")
                    .unwrap()
                    .get_str("id")
                    .unwrap(),
                event.to_string(),
                "the event stays as the post's record"
            );
        }
        let newest = made.iter().map(|(id, _)| *id).max();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let cursor = posts::created::cursor(&mongo).await.unwrap().unwrap();
        assert_eq!(cursor.last_id, newest, "the cursor says how far it got");
        assert!(cursor.token.is_some());
        stop.send(()).unwrap();
        task.await.unwrap();
        mongo.db().drop().await.unwrap();
    }

    #[tokio::test]
    async fn a_relay_resumes_where_the_last_stopped_and_one_follows_at_a_time() {
        let mongo = database().await;
        let (one, two) = (
            Recorder::new("one", false, None),
            Recorder::new("two", false, None),
        );
        // A short lease: the one waiting looks for it every half lease.
        let short = |consumers: Vec<Arc<dyn Consumer>>| {
            let mut relay = relay(&mongo, consumers);
            relay.settings.lease = Duration::from_secs(1);
            Arc::new(relay)
        };
        let (relay_one, relay_two) = (short(vec![one.clone()]), short(vec![two.clone()]));
        let (stop_one, task_one) = following(relay_one.clone());
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (stop_two, task_two) = following(relay_two.clone());
        let first = create_posts(&mongo, 10, "First").await;
        let want: Vec<Uuid> = first.iter().map(|(_, e)| *e).collect();
        heard_all(&[&one, &two], &want).await;
        assert_eq!(
            Recorder::batched(&[&two]),
            Vec::<Uuid>::new(),
            "the second waits for the lease"
        );
        // The first stops (and gives up its lease); posts created meanwhile wait in the stream.
        stop_one.send(()).unwrap();
        task_one.await.unwrap();
        let second = create_posts(&mongo, 10, "Second").await;
        let later: Vec<Uuid> = second.iter().map(|(_, e)| *e).collect();
        heard_all(&[&two], &later).await;
        assert_eq!(
            Recorder::batched(&[&two]),
            later,
            "the second resumed from the first's token: only the new ones, in order"
        );
        stop_two.send(()).unwrap();
        task_two.await.unwrap();
        mongo.db().drop().await.unwrap();
    }

    #[tokio::test]
    async fn a_relay_that_cannot_resume_reads_the_posts_created_since_its_last_delivery() {
        let mongo = database().await;
        let made = create_posts(&mongo, 5, "Unfollowed").await;
        // A cursor whose token MongoDB's history does not hold, last delivered a while ago.
        let past = DateTime::from_millis(DateTime::now().timestamp_millis() - 10_000);
        mongo
            .db()
            .collection::<Document>(techhub_content::schema::RELAY_CURSORS)
            .insert_one(doc! {
                "_id": posts::created::CURSOR,
                "deliveredAt": past,
                "token": { "_data": "8200000001000000012B0229296E04" },
            })
            .await
            .unwrap();
        let all = Recorder::new("all", false, None);
        let (stop, task) = following(Arc::new(relay(&mongo, vec![all.clone()])));
        let want: Vec<Uuid> = made.iter().map(|(_, e)| *e).collect();
        heard_all(&[&all], &want).await;
        // And it follows the stream from there.
        let more = create_posts(&mongo, 3, "Followed").await;
        let more: Vec<Uuid> = more.iter().map(|(_, e)| *e).collect();
        heard_all(&[&all], &more).await;
        stop.send(()).unwrap();
        task.await.unwrap();
        mongo.db().drop().await.unwrap();
    }

    #[tokio::test]
    async fn a_new_post_whose_event_fails_is_handed_to_the_due_path_and_the_rest_go_on() {
        let mongo = database().await;
        // The poison is known only once the post exists: a consumer that fails on one post's
        // event, made first and followed by the relay afterwards (a rescan).
        let made = create_posts(&mongo, 4, "Handed").await;
        let poison = made[1].1;
        let all = Recorder::new("all", false, Some(poison));
        let relay = Arc::new(relay(&mongo, vec![all.clone()]));
        let (stop, task) = following(relay.clone());
        let others: Vec<Uuid> = made
            .iter()
            .map(|(_, e)| *e)
            .filter(|e| *e != poison)
            .collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !others
            .iter()
            .all(|e| all.applied.lock().unwrap().contains(e))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the others were not delivered"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let d = post(&mongo, made[1].0).await;
        assert_eq!(pending_ids(&d), vec![poison.to_string()], "{d}");
        assert!(d.contains_key("eventsDueAt"), "{d}");
        assert_eq!(d.get_i64("eventAttempts").unwrap(), 1, "{d}");
        assert!(d.get_str("eventError").unwrap().contains("poisoned"), "{d}");
        for (id, _) in made.iter().filter(|(_, e)| *e != poison) {
            assert_eq!(pending_ids(&post(&mongo, *id).await), Vec::<String>::new());
        }
        stop.send(()).unwrap();
        task.await.unwrap();
        mongo.db().drop().await.unwrap();
    }

    #[tokio::test]
    async fn posts_no_relay_followed_are_counted_as_undelivered_until_one_does() {
        let mongo = database().await;
        techhub_content::posts::created::ensure_cursor(mongo.db())
            .await
            .unwrap();
        let made = create_posts(&mongo, 3, "Waiting").await;
        // Ids carry whole seconds: the posts are older than 0 s once the second has passed.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let undelivered = |older_than| {
            let mongo = &mongo;
            async move {
                let cursor = posts::created::cursor(mongo).await.unwrap().unwrap();
                posts::created::undelivered(mongo, &cursor, older_than)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(undelivered(Duration::ZERO).await, 3);
        assert_eq!(
            undelivered(Duration::from_secs(60)).await,
            0,
            "none is a minute old"
        );
        let all = Recorder::new("all", false, None);
        let (stop, task) = following(Arc::new(relay(&mongo, vec![all.clone()])));
        let want: Vec<Uuid> = made.iter().map(|(_, e)| *e).collect();
        heard_all(&[&all], &want).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while undelivered(Duration::ZERO).await > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the cursor never passed them"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send(()).unwrap();
        task.await.unwrap();
        mongo.db().drop().await.unwrap();
    }
}
