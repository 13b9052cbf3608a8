//! Bulk writes for `techhub seed`: documents arrive in batches on a channel and go to MongoDB
//! in unordered `insert_many` calls, a few in flight at once, so generating the next batches
//! overlaps writing these. Each document is built by its own type ([`crate::posts::PostDocument`],
//! [`crate::profiles::ProfileDocument`], [`crate::comments::Comment`]), as the application
//! writes it.

use futures::StreamExt;
use mongodb::bson::Document;

use crate::{Mongo, MongoError};

/// Documents per `insert_many` call.
pub const BATCH: usize = 1_000;
/// `insert_many` calls in flight at once.
const WRITERS: usize = 3;

/// Inserts every batch `batches` delivers into `collection`, calling `inserted` with the size
/// of each batch once it is written. Returns how many documents were written. Not
/// time-limited: a batch takes as long as the store needs.
pub async fn insert_batches(
    mongo: &Mongo,
    collection: &str,
    mut batches: tokio::sync::mpsc::Receiver<Vec<Document>>,
    mut inserted: impl FnMut(u64),
) -> Result<u64, MongoError> {
    let coll = mongo.db().collection::<Document>(collection);
    let stream = futures::stream::poll_fn(move |cx| batches.poll_recv(cx));
    let mut inserts = stream
        .map(|batch| {
            let coll = coll.clone();
            async move {
                let n = batch.len() as u64;
                coll.insert_many(batch)
                    .ordered(false)
                    .await
                    .map_err(|e| MongoError::Bulk(in_one_line(&e)))?;
                Ok::<u64, MongoError>(n)
            }
        })
        .buffer_unordered(WRITERS);
    let mut written = 0u64;
    while let Some(n) = inserts.next().await {
        let n = n?;
        written += n;
        inserted(n);
    }
    Ok(written)
}

/// A bulk insert's error in one line: the first write error and how many there were.
fn in_one_line(e: &mongodb::error::Error) -> String {
    if let mongodb::error::ErrorKind::InsertMany(m) = e.kind.as_ref() {
        if let Some(errors) = &m.write_errors {
            if let Some(first) = errors.first() {
                return format!(
                    "{} of the batch's documents refused, the first: {}",
                    errors.len(),
                    first.message
                );
            }
        }
    }
    e.to_string().chars().take(500).collect()
}
