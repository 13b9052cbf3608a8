//! The posts collection as the search index follows it: `changedAt` moves with every change
//! search cares about (create, edit, status, favorites, delete), so each server's index reads
//! the posts changed since its checkpoint ([`changed_between`], window by window) and loads them whole
//! ([`full_by_ids`]); a rebuild reads the published posts window by window
//! ([`published_between`]).

use mongodb::bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use mongodb::options::FindOptions;

use techhub_core::domain::PostStatus;

use super::{find_docs, Post};
use crate::schema::POSTS;
use crate::{Mongo, MongoError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Change {
    pub id: ObjectId,
    pub changed_at: DateTime,
}

/// Every post whose last change lies in `[from, to)`, oldest change first, read whole (no
/// limit). The search index reads the change feed window by window with this: SecantusDB
/// walks every index entry of a range before applying a limit, so pages of a limit each over
/// everything after a point (as this read once was) cost the square of the changes read
/// (34 pages of 1,000 ids took 7 s under a burst of new posts; the same 34,000 ids in one
/// read, 0.24 s). Windows cut between milliseconds, never through one, so none is read twice.
pub async fn changed_between(
    mongo: &Mongo,
    from: DateTime,
    to: DateTime,
) -> Result<Vec<Change>, MongoError> {
    let options = FindOptions::builder()
        .sort(doc! { "changedAt": 1, "_id": 1 })
        .projection(doc! { "_id": 1, "changedAt": 1 })
        .batch_size(10_000)
        .build();
    let filter = doc! { "changedAt": { "$gte": from, "$lt": to } };
    let docs = find_docs(mongo, filter, options).await?;
    docs.iter()
        .map(|d| {
            Ok(Change {
                id: d
                    .get_object_id("_id")
                    .map_err(|e| MongoError::Corrupt(e.to_string()))?,
                changed_at: *d
                    .get_datetime("changedAt")
                    .map_err(|e| MongoError::Corrupt(e.to_string()))?,
            })
        })
        .collect()
}

/// A post with the users who favorited it, as the search index holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Indexable {
    pub post: Post,
    pub favorited_by: Vec<u64>,
}

fn to_indexable(docs: Vec<Document>) -> Result<Vec<Indexable>, MongoError> {
    docs.into_iter()
        .map(|mut d| {
            let favorited_by = match d.remove("favoritedBy") {
                Some(Bson::Array(fans)) => fans
                    .iter()
                    .filter_map(|v| match v {
                        Bson::Int64(u) => Some(*u as u64),
                        Bson::Int32(u) => Some(*u as u64),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Ok(Indexable {
                post: Post::from_document(d)?,
                favorited_by,
            })
        })
        .collect()
}

/// The posts with these ids in any status (tombstones included), with bodies and fans.
pub async fn full_by_ids(mongo: &Mongo, ids: &[ObjectId]) -> Result<Vec<Indexable>, MongoError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let options = FindOptions::builder()
        .projection(doc! { "pendingEvents": 0, "deadEvents": 0 })
        .build();
    to_indexable(find_docs(mongo, doc! { "_id": { "$in": ids } }, options).await?)
}

/// The published posts whose ids lie in `[from, to)`, with bodies, unsorted (for rebuilding
/// the search index window by window). A range bounded on both sides is read straight from
/// the `_id` index on MongoDB and SecantusDB alike; an open-ended or sorted read of a large
/// collection is not (SecantusDB materialises and sorts the whole match first).
pub async fn published_between(
    mongo: &Mongo,
    from: ObjectId,
    to: ObjectId,
) -> Result<Vec<Indexable>, MongoError> {
    let options = FindOptions::builder()
        .projection(doc! { "pendingEvents": 0, "deadEvents": 0 })
        .build();
    to_indexable(
        find_docs(
            mongo,
            doc! { "_id": { "$gte": from, "$lt": to }, "status": PostStatus::Published.as_str() },
            options,
        )
        .await?,
    )
}

/// About how many posts there are, deleted ones included (collection metadata), e.g. for a
/// progress bar. Not time-limited: SecantusDB takes seconds for it at a million posts.
pub async fn estimated_count(mongo: &Mongo) -> Result<u64, MongoError> {
    let posts = mongo.db().collection::<Document>(POSTS);
    Ok(posts.estimated_document_count().await?)
}

/// Whether the posts collection holds any document (deleted ones included).
pub async fn any(mongo: &Mongo) -> Result<bool, MongoError> {
    let posts = mongo.db().collection::<Document>(POSTS);
    let found = mongo
        .timed(posts.find_one(doc! {}).projection(doc! { "_id": 1 }))
        .await?;
    Ok(found.is_some())
}

/// How many posts are published.
pub async fn published_count(mongo: &Mongo) -> Result<u64, MongoError> {
    let posts = mongo.db().collection::<Document>(POSTS);
    mongo
        .timed(posts.count_documents(doc! { "status": PostStatus::Published.as_str() }))
        .await
}
