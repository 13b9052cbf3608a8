//! Content on MongoDB: user profiles ([`profiles`]), posts ([`posts`]), comments
//! ([`comments`]) and the bulk writes the seed uses ([`bulk`]). This crate owns the MongoDB
//! client and the collections' `$jsonSchema` validators and indexes ([`schema`]; the
//! `notifications` collection is created there for the notifications still to come).
//!
//! Only features that both MongoDB 7+ (production) and SecantusDB (local) support are used:
//! CRUD, unique and compound indexes, `$jsonSchema` validators, aggregation with `$lookup`,
//! transactions. No text indexes: search lives in the Tantivy index.

pub mod batch;
pub mod bulk;
pub mod comments;
pub mod favorites;
pub mod posts;
pub mod profiles;
pub mod render;
pub mod schema;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mongodb::bson::{doc, oid::ObjectId, Document};
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};
use techhub_core::{MigrationReport, PoolSettings, Probe, Store};

/// Database used when the URL names none.
pub const DEFAULT_DATABASE: &str = "techhub";

#[derive(Debug, thiserror::Error)]
pub enum MongoError {
    #[error("invalid MongoDB URL: {0}")]
    Url(#[source] mongodb::error::Error),
    #[error("MongoDB did not answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Db(#[from] mongodb::error::Error),
    /// A stored document does not have the shape the code expects.
    #[error("unexpected document: {0}")]
    Corrupt(String),
    /// A bulk insert failed (see [`bulk`]), in one line.
    #[error("bulk insert failed: {0}")]
    Bulk(String),
    /// One statement of a batched write failed (see [`batch`]).
    #[error("MongoDB refused the write (code {code}): {message}")]
    Write { code: i32, message: String },
    /// A batch could not reach MongoDB (see [`batch`]).
    #[error("MongoDB is unreachable: {0}")]
    Unreachable(String),
}

impl MongoError {
    /// A unique index rejected the write.
    pub fn is_duplicate_key(&self) -> bool {
        match self {
            MongoError::Db(e) => e.to_string().contains("E11000"),
            MongoError::Write { code, .. } => *code == 11000,
            _ => false,
        }
    }

    /// The server is unreachable or too slow, as opposed to a bad request.
    pub fn is_unavailable(&self) -> bool {
        use mongodb::error::ErrorKind;
        match self {
            MongoError::Timeout(_) | MongoError::Unreachable(_) => true,
            MongoError::Db(e) => matches!(
                *e.kind,
                ErrorKind::ServerSelection { .. }
                    | ErrorKind::Io(_)
                    | ErrorKind::ConnectionPoolCleared { .. }
            ),
            _ => false,
        }
    }
}

/// The content store: a MongoDB client bound to one database.
#[derive(Clone, Debug)]
pub struct Mongo {
    client: Client,
    db: Database,
    query_timeout: Duration,
    /// A background [`Mongo::warm_up`] is running.
    warming: Arc<AtomicBool>,
    /// Permits for operations in flight, fewer than the driver's pool has connections (see
    /// [`Mongo::timed`]).
    gate: Arc<tokio::sync::Semaphore>,
    /// Writes and reads by id of concurrent requests, sent together (see [`batch`]).
    batches: Arc<batch::Lanes>,
    /// How [`Mongo::streams`] connects: as this client, with one connection.
    stream_options: Arc<ClientOptions>,
    /// The database on a client of its own for change streams, made on first use.
    streams: Arc<std::sync::OnceLock<Database>>,
}

/// How many times [`Mongo::transaction`] runs a transaction that failed transiently.
pub const TRANSACTION_ATTEMPTS: u32 = 5;

/// How long the first read of a collection may take (see [`Mongo::warm_up`]).
pub const WARM_UP_LIMIT: Duration = Duration::from_secs(300);

impl Mongo {
    /// Creates the client. The driver connects in the background, so this succeeds while
    /// MongoDB is down; operations then fail after the server-selection timeout (the
    /// configured connect timeout) instead of the driver's 30 s default.
    pub async fn connect(settings: &PoolSettings) -> Result<Self, MongoError> {
        let mut options = ClientOptions::parse(&settings.url)
            .await
            .map_err(MongoError::Url)?;
        options.app_name = Some("techhub".into());
        options.max_pool_size = Some(settings.pool_size);
        options.connect_timeout = Some(settings.connect_timeout);
        options.server_selection_timeout = Some(settings.connect_timeout);
        // Notice a returning server quickly; 500 ms is the driver's minimum.
        options.heartbeat_freq = Some(Duration::from_secs(1));
        // The driver's own view of the server, logged: a cleared pool or failed heartbeats
        // explain a run of timeouts that the queries alone do not.
        options.sdam_event_handler = Some(mongodb::event::EventHandler::callback(
            |event: mongodb::event::sdam::SdamEvent| {
                use mongodb::event::sdam::SdamEvent;
                use mongodb::ServerType;
                match event {
                    SdamEvent::ServerHeartbeatFailed(e) => tracing::warn!(
                        server = %e.server_address,
                        awaited = e.awaited,
                        took = ?e.duration,
                        error = %e.failure,
                        "MongoDB heartbeat failed"
                    ),
                    // Discovering a server at start (from Unknown) is expected: not a
                    // warning. Any other change (a primary lost, a server gone) is.
                    SdamEvent::ServerDescriptionChanged(e)
                        if e.previous_description.server_type() == ServerType::Unknown
                            && e.new_description.server_type() != ServerType::Unknown =>
                    {
                        tracing::info!(
                            server = %e.address,
                            to = ?e.new_description.server_type(),
                            "MongoDB server discovered"
                        )
                    }
                    SdamEvent::ServerDescriptionChanged(e)
                        if e.previous_description.server_type()
                            != e.new_description.server_type() =>
                    {
                        tracing::warn!(
                            server = %e.address,
                            from = ?e.previous_description.server_type(),
                            to = ?e.new_description.server_type(),
                            "MongoDB server type changed"
                        )
                    }
                    _ => {}
                }
            },
        ));
        options.cmap_event_handler = Some(mongodb::event::EventHandler::callback(
            |event: mongodb::event::cmap::CmapEvent| {
                use mongodb::event::cmap::CmapEvent;
                match event {
                    CmapEvent::PoolCleared(e) => {
                        tracing::warn!(server = %e.address, "MongoDB connection pool cleared")
                    }
                    CmapEvent::ConnectionCheckoutFailed(e) => tracing::debug!(
                        server = %e.address,
                        reason = ?e.reason,
                        took = ?e.duration,
                        "MongoDB connection checkout failed"
                    ),
                    CmapEvent::ConnectionClosed(e) => tracing::debug!(
                        server = %e.address,
                        reason = ?e.reason,
                        "MongoDB connection closed"
                    ),
                    _ => {}
                }
            },
        ));
        let name = options
            .default_database
            .clone()
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
        let mut stream_options = options.clone();
        stream_options.max_pool_size = Some(1);
        stream_options.app_name = Some("techhub-streams".into());
        let client = Client::with_options(options).map_err(MongoError::Url)?;
        let db = client.database(&name);
        Ok(Mongo {
            stream_options: Arc::new(stream_options),
            streams: Arc::default(),
            client,
            db,
            query_timeout: settings.query_timeout,
            warming: Arc::default(),
            // Two connections stay free for what does not pass the gate (health probes,
            // migrations, the warm-up).
            gate: Arc::new(tokio::sync::Semaphore::new(
                (settings.pool_size as usize).saturating_sub(2).max(1),
            )),
            batches: Arc::default(),
        })
    }

    /// The database on a client of its own, with one connection, for change streams: a
    /// stream's reads wait for changes on the server, and on the shared pool they would hold
    /// a connection requests need (with a pool of one, every request waited for them).
    pub fn streams(&self) -> Result<Database, MongoError> {
        if let Some(db) = self.streams.get() {
            return Ok(db.clone());
        }
        let client =
            Client::with_options((*self.stream_options).clone()).map_err(MongoError::Url)?;
        let db = client.database(self.db.name());
        Ok(self.streams.get_or_init(|| db).clone())
    }

    /// Reads one (absent) document from every content collection without a time limit (at
    /// most [`WARM_UP_LIMIT`]), returning how long that took. SecantusDB opens a large
    /// collection on its first use after a restart, and that first operation takes seconds
    /// (10-16 s for a million posts); one stopped by a time limit leaves it unopened, so
    /// every timed query would time out again. MongoDB answers at once.
    pub async fn warm_up(&self) -> Result<Duration, MongoError> {
        let started = Instant::now();
        let nothing = ObjectId::from_bytes([0; 12]);
        for name in [
            schema::POSTS,
            schema::COMMENTS,
            schema::FAVORITES,
            schema::FAVORITE_CLICKS,
            schema::USER_PROFILES,
            schema::NOTIFICATIONS,
        ] {
            let collection = self.db.collection::<Document>(name);
            techhub_core::bounded(WARM_UP_LIMIT, async {
                collection.find_one(doc! { "_id": nothing }).await
            })
            .await
            .map_err(|e| match e {
                Some(e) => MongoError::Db(e),
                None => MongoError::Timeout(WARM_UP_LIMIT),
            })?;
        }
        Ok(started.elapsed())
    }

    /// After a timeout: warm the collections up in the background (one run at a time), in
    /// case the store restarted and is opening them (see [`Mongo::warm_up`]).
    fn warm_up_in_background(&self) {
        if self.warming.swap(true, Ordering::AcqRel) {
            return;
        }
        let mongo = self.clone();
        tokio::spawn(async move {
            match mongo.warm_up().await {
                Ok(took) if took > mongo.query_timeout => {
                    tracing::warn!(
                        ?took,
                        "MongoDB opened the content collections again (a restart?)"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "MongoDB warm-up after a timeout failed"),
            }
            mongo.warming.store(false, Ordering::Release);
        });
    }

    /// Runs `body` in a multi-document transaction and commits what it did, or aborts it
    /// when it returns `None` (nothing of it happens). A transaction MongoDB calls transient
    /// (it met a concurrent write to the same document) is run again, up to
    /// [`TRANSACTION_ATTEMPTS`] times; a commit whose outcome is unknown is retried as the
    /// driver documents. `body` may run more than once, so it takes what it needs by value.
    /// The whole of it runs under one [`Mongo::timed`] permit and limit.
    ///
    /// Transactions need a replica set: SecantusDB is one, and production MongoDB must be.
    pub async fn transaction<T, F>(&self, mut body: F) -> Result<Option<T>, MongoError>
    where
        T: Send,
        F: for<'s> FnMut(
                &'s mut mongodb::ClientSession,
            )
                -> futures::future::BoxFuture<'s, mongodb::error::Result<Option<T>>>
            + Send,
    {
        use mongodb::error::{TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
        let client = self.client.clone();
        let attempts = async move {
            let mut session = client.start_session().await?;
            let mut attempt = 1;
            loop {
                session.start_transaction().await?;
                let outcome = match body(&mut session).await {
                    Ok(Some(done)) => loop {
                        match session.commit_transaction().await {
                            Ok(()) => break Ok(Some(done)),
                            Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => {
                                continue
                            }
                            Err(e) => break Err(e),
                        }
                    },
                    Ok(None) => session.abort_transaction().await.map(|()| None),
                    Err(e) => {
                        // Already aborted by the server, or ours to abort; either way gone.
                        let _ = session.abort_transaction().await;
                        Err(e)
                    }
                };
                match outcome {
                    Err(e)
                        if e.contains_label(TRANSIENT_TRANSACTION_ERROR)
                            && attempt < TRANSACTION_ATTEMPTS =>
                    {
                        attempt += 1;
                    }
                    outcome => return outcome,
                }
            }
        };
        self.timed(attempts).await
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    /// Runs `fut` under the configured query timeout (waiting for a permit included).
    ///
    /// At most a permit per pooled connection (less two) is in flight: operations beyond it
    /// wait here, not in the driver's wait queue. The driver (3.9) serves that queue one
    /// request per pool event and keeps requests whose callers gave up: after 64 clients
    /// disconnected at once, live requests queued behind the dead ones, each timing out before
    /// its turn, and every MongoDB operation of the server failed for 40 s and more although
    /// MongoDB answered (seen at the end of benchmark runs). A semaphore forgets a waiter that
    /// gives up.
    pub async fn timed<T, F>(&self, action: F) -> Result<T, MongoError>
    where
        F: std::future::IntoFuture<Output = Result<T, mongodb::error::Error>>,
    {
        let action = async {
            let _permit = self
                .gate
                .acquire()
                .await
                .expect("the MongoDB gate is never closed");
            action.await
        };
        let outcome = techhub_core::bounded(self.query_timeout, action)
            .await
            .map_err(|e| match e {
                // The server gave up at our `maxTimeMS`: the same as our own time limit.
                Some(e) if is_execution_timeout(&e) => MongoError::Timeout(self.query_timeout),
                Some(e) => MongoError::Db(e),
                None => MongoError::Timeout(self.query_timeout),
            });
        if matches!(outcome, Err(MongoError::Timeout(_))) {
            self.warm_up_in_background();
        }
        outcome
    }

    /// How long a query may take: [`Mongo::timed`] gives up after it, and reads that may
    /// touch many documents pass it to the server as `maxTimeMS`, so the server stops working
    /// on a read nobody waits for any more.
    pub fn query_timeout(&self) -> Duration {
        self.query_timeout
    }

    /// Creates the collections, validators and indexes that are missing.
    pub async fn migrate(&self) -> Result<MigrationReport, MongoError> {
        schema::migrate(&self.db).await.map_err(MongoError::Db)
    }

    /// One `ping` round trip bounded by `timeout`; `with_version` also runs `buildInfo`.
    pub async fn probe(&self, timeout: Duration, with_version: bool) -> Probe {
        techhub_core::probe(Store::Mongodb, timeout, async {
            self.db
                .run_command(doc! { "ping": 1 })
                .await
                .map_err(describe)?;
            if !with_version {
                return Ok::<_, String>(None);
            }
            let info: Document = self
                .db
                .run_command(doc! { "buildInfo": 1 })
                .await
                .map_err(describe)?;
            Ok(info.get_str("version").ok().map(str::to_string))
        })
        .await
    }

    pub async fn close(self) {
        self.client.shutdown().await;
    }
}

/// A one-line description of a driver error for health output; the driver's own text for a
/// server-selection failure spells out the whole topology.
fn describe(e: mongodb::error::Error) -> String {
    use mongodb::error::ErrorKind;
    match e.kind.as_ref() {
        ErrorKind::ServerSelection { .. } => {
            "no server available (unreachable or not answering)".into()
        }
        ErrorKind::Io(io) => format!("connection failed: {io}"),
        _ => e.to_string(),
    }
}

/// MongoDB's `MaxTimeMSExpired` (50): the server stopped a read at its `maxTimeMS`.
fn is_execution_timeout(e: &mongodb::error::Error) -> bool {
    matches!(e.kind.as_ref(), mongodb::error::ErrorKind::Command(c) if c.code == 50)
}
