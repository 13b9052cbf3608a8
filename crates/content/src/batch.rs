//! Group commit for the writes on the request path. A MongoDB server spends most of a
//! single-document write on the command around it: SecantusDB takes some 2,400 `insert`
//! commands of one post a second, but 60,000 posts a second in `insert` commands of fifty.
//! So the writes concurrent requests make to one collection go out together, as one `insert`
//! or `update` command of many statements, and each caller learns what became of its own
//! statement. There is no timer: a batch leaves as soon as the previous one of its kind is
//! answered, so an idle server sends each write at once, and a busy one sends what
//! accumulated meanwhile (at most [`MAX_BATCH`]). Reads by a unique field (`_id`, a post's
//! slug, a profile's user id) are batched the same way.
//!
//! Statements are unordered: those of different requests never depend on each other, and a
//! failed one (a duplicate key, a document the validator refuses) fails alone.

use std::collections::HashMap;
use std::sync::Mutex;

use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId, Bson, Document};
use tokio::sync::{mpsc, oneshot};

use crate::{Mongo, MongoError};

/// Most statements in one command.
pub const MAX_BATCH: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Insert,
    Update,
    /// Reads by the value of a unique field, with the projection of the lane.
    Find(&'static str, Projection),
}

/// What a batched read leaves out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Projection {
    /// Nothing.
    Whole,
    /// The long fields reads of posts never show (who favorited, pending and dead events).
    Shown,
}

impl Projection {
    fn document(self) -> Option<Document> {
        match self {
            Projection::Whole => None,
            Projection::Shown => Some(crate::posts::unread_fields()),
        }
    }
}

enum Statement {
    Insert(Document),
    Update {
        filter: Document,
        update: Document,
        upsert: bool,
    },
    Find(Bson),
}

/// What became of one statement: for reads, the document found.
type Outcome = Result<Option<Document>, MongoError>;

struct Pending {
    statement: Statement,
    done: oneshot::Sender<Outcome>,
}

type Lane = mpsc::UnboundedSender<Pending>;

/// The lanes of one client, one per collection and kind of statement, each drained by its
/// own task (started on first use, again if the runtime that ran it is gone).
#[derive(Debug, Default)]
pub(crate) struct Lanes {
    lanes: Mutex<HashMap<(&'static str, Kind), Lane>>,
}

impl Mongo {
    /// Inserts `document` into `collection`, in one command with the inserts other requests
    /// make meanwhile. A duplicate key fails this insert alone ([`MongoError::is_duplicate_key`]).
    pub async fn insert_batched(
        &self,
        collection: &'static str,
        document: Document,
    ) -> Result<(), MongoError> {
        self.batched(collection, Kind::Insert, Statement::Insert(document))
            .await
            .map(drop)
    }

    /// Applies `update` to the first document of `collection` matching `filter`, in one
    /// command with the updates other requests make meanwhile. Whether it matched is not
    /// reported: put the condition in the filter, and read the document back to see.
    pub async fn update_batched(
        &self,
        collection: &'static str,
        filter: Document,
        update: Document,
    ) -> Result<(), MongoError> {
        self.update_statement(collection, filter, update, false)
            .await
    }

    /// [`Mongo::update_batched`], inserting a document when none matches `filter` (its
    /// equality fields and `update` make it). When a unique index already holds the key,
    /// this statement fails alone with a duplicate key ([`MongoError::is_duplicate_key`]).
    pub async fn upsert_batched(
        &self,
        collection: &'static str,
        filter: Document,
        update: Document,
    ) -> Result<(), MongoError> {
        self.update_statement(collection, filter, update, true)
            .await
    }

    async fn update_statement(
        &self,
        collection: &'static str,
        filter: Document,
        update: Document,
        upsert: bool,
    ) -> Result<(), MongoError> {
        let statement = Statement::Update {
            filter,
            update,
            upsert,
        };
        self.batched(collection, Kind::Update, statement)
            .await
            .map(drop)
    }

    /// The document of `collection` with this `_id`, read in one query with the reads by id
    /// other requests make meanwhile.
    pub async fn find_batched(
        &self,
        collection: &'static str,
        id: ObjectId,
        projection: Projection,
    ) -> Result<Option<Document>, MongoError> {
        self.find_one_batched(collection, "_id", Bson::ObjectId(id), projection)
            .await
    }

    /// The document of `collection` whose `field` (unique in the collection) is `value`, read
    /// in one query with the reads by that field other requests make meanwhile.
    pub async fn find_one_batched(
        &self,
        collection: &'static str,
        field: &'static str,
        value: Bson,
        projection: Projection,
    ) -> Result<Option<Document>, MongoError> {
        self.batched(
            collection,
            Kind::Find(field, projection),
            Statement::Find(value),
        )
        .await
    }

    async fn batched(&self, collection: &'static str, kind: Kind, statement: Statement) -> Outcome {
        let (done, outcome) = oneshot::channel();
        let mut pending = Pending { statement, done };
        // A lane whose task is gone (its runtime ended) is replaced once.
        for _ in 0..2 {
            match self.lane(collection, kind).send(pending) {
                Ok(()) => {
                    return outcome
                        .await
                        .unwrap_or_else(|_| Err(MongoError::Bulk("the batch was dropped".into())))
                }
                Err(mpsc::error::SendError(back)) => pending = back,
            }
        }
        Err(MongoError::Bulk("no batch lane could be started".into()))
    }

    fn lane(&self, collection: &'static str, kind: Kind) -> Lane {
        let mut lanes = self
            .batches
            .lanes
            .lock()
            .expect("batch lanes lock poisoned");
        if let Some(lane) = lanes.get(&(collection, kind)).filter(|l| !l.is_closed()) {
            return lane.clone();
        }
        let (lane, queue) = mpsc::unbounded_channel();
        tokio::spawn(drain(self.clone(), collection, kind, queue));
        lanes.insert((collection, kind), lane.clone());
        lane
    }
}

/// Sends what is queued on one lane, a batch at a time.
async fn drain(
    mongo: Mongo,
    collection: &'static str,
    kind: Kind,
    mut queue: mpsc::UnboundedReceiver<Pending>,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (statements, replies): (Vec<Statement>, Vec<_>) =
            batch.into_iter().map(|p| (p.statement, p.done)).unzip();
        let outcomes = execute(&mongo, collection, kind, statements).await;
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            // The caller may have given up (its request was dropped): nothing to tell.
            let _ = reply.send(outcome);
        }
    }
}

/// Runs one batch as one command; one outcome per statement, in order.
async fn execute(
    mongo: &Mongo,
    collection: &'static str,
    kind: Kind,
    statements: Vec<Statement>,
) -> Vec<Outcome> {
    let n = statements.len();
    if let Kind::Find(field, projection) = kind {
        let values: Vec<Bson> = statements
            .into_iter()
            .filter_map(|s| match s {
                Statement::Find(value) => Some(value),
                _ => None,
            })
            .collect();
        let found = mongo
            .timed(async {
                mongo
                    .db()
                    .collection::<Document>(collection)
                    .find(doc! { field: { "$in": &values } })
                    .with_options(
                        mongodb::options::FindOptions::builder()
                            .projection(projection.document())
                            .max_time(mongo.query_timeout())
                            .build(),
                    )
                    .await?
                    .try_collect::<Vec<Document>>()
                    .await
            })
            .await;
        return match found {
            Ok(docs) => values
                .iter()
                .map(|value| {
                    Ok(docs
                        .iter()
                        .find(|d| d.get(field).is_some_and(|v| same(v, value)))
                        .cloned())
                })
                .collect(),
            Err(e) => shared(&e, n),
        };
    }
    let command = match kind {
        Kind::Insert => {
            let documents: Vec<Bson> = statements
                .into_iter()
                .filter_map(|s| match s {
                    Statement::Insert(d) => Some(Bson::Document(d)),
                    _ => None,
                })
                .collect();
            doc! { "insert": collection, "documents": documents, "ordered": false }
        }
        _ => {
            let updates: Vec<Bson> = statements
                .into_iter()
                .filter_map(|s| match s {
                    Statement::Update {
                        filter,
                        update,
                        upsert,
                    } => Some(Bson::Document(
                        doc! { "q": filter, "u": update, "multi": false, "upsert": upsert },
                    )),
                    _ => None,
                })
                .collect();
            doc! { "update": collection, "updates": updates, "ordered": false }
        }
    };
    match mongo.timed(mongo.db().run_command(command)).await {
        Ok(reply) => {
            let mut outcomes: Vec<Outcome> = (0..n).map(|_| Ok(None)).collect();
            for e in reply
                .get_array("writeErrors")
                .map(|a| a.as_slice())
                .unwrap_or_default()
            {
                let Some(e) = e.as_document() else { continue };
                let index = match e.get("index") {
                    Some(Bson::Int32(i)) => *i as usize,
                    Some(Bson::Int64(i)) => *i as usize,
                    _ => continue,
                };
                if let Some(slot) = outcomes.get_mut(index) {
                    *slot = Err(MongoError::Write {
                        code: e.get_i32("code").unwrap_or_default(),
                        message: e.get_str("errmsg").unwrap_or_default().to_string(),
                    });
                }
            }
            outcomes
        }
        Err(e) => shared(&e, n),
    }
}

/// Whether MongoDB's `$in` matched `stored` for `wanted`: numbers are equal whatever their
/// BSON type (a long asked for matches an int stored).
fn same(stored: &Bson, wanted: &Bson) -> bool {
    let number = |b: &Bson| match b {
        Bson::Int32(v) => Some(*v as i64),
        Bson::Int64(v) => Some(*v),
        Bson::Double(v) if v.fract() == 0.0 => Some(*v as i64),
        _ => None,
    };
    match (number(stored), number(wanted)) {
        (Some(a), Some(b)) => a == b,
        _ => stored == wanted,
    }
}

/// The failure of a whole batch, for each of its `n` callers.
fn shared(e: &MongoError, n: usize) -> Vec<Outcome> {
    (0..n)
        .map(|_| {
            Err(match e {
                MongoError::Timeout(d) => MongoError::Timeout(*d),
                e if e.is_unavailable() => MongoError::Unreachable(e.to_string()),
                e => MongoError::Bulk(e.to_string()),
            })
        })
        .collect()
}
