//! Posts (RealWorld articles) in the `posts` collection: [`document`] describes them, this
//! module reads them, [`writes`] changes them, [`events`] is the content relay's side and
//! [`feed`] the search index's. Only `published` posts appear in lists and feeds; a deleted
//! post stays as a tombstone (`status: deleted`, body emptied) that every read here ignores,
//! so the search index's change feed sees deletions too.

pub mod created;
pub mod document;
pub mod events;
pub mod feed;
pub mod writes;

use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId, Bson, Document};
use mongodb::options::FindOptions;
use rand::Rng;
use techhub_core::domain::PostStatus;

pub use document::{
    estimated_read_time, Engagement, Metadata, Post, PostDocument, Seo, DIFFICULTIES,
    MAX_BODY_CHARS, MAX_DESCRIPTION_CHARS, MAX_TAGS, MAX_TAG_CHARS, MAX_TITLE_CHARS,
};
pub use events::{
    comments_counted, event_parked, events_delivered, events_delivered_all, events_failed,
    favorite_transitions, favorites_counted, parked_event_posts, stuck_events, take_due, Counted,
    DueWake, Pending, Source, Toggle,
};
pub use feed::{
    any, changed_between, estimated_count, full_by_ids, published_between, published_count, Change,
    Indexable,
};
pub use writes::{add_to_counter, create, delete, update, Counter, NewPost, PostChanges, Refusal};

use crate::schema::POSTS;
use crate::{Mongo, MongoError};

/// A filter on `status` that leaves out deleted posts' tombstones.
fn not_deleted() -> Document {
    doc! { "$ne": PostStatus::Deleted.as_str() }
}

/// The fields a read of posts leaves out: long, and never shown.
pub(crate) fn unread_fields() -> Document {
    doc! { "favoritedBy": 0, "pendingEvents": 0, "deadEvents": 0, "createdEvent": 0 }
}

/// An integer field of `d` however it was stored (0 when absent).
pub(crate) fn int(d: &Document, key: &str) -> i64 {
    match d.get(key) {
        Some(Bson::Int32(v)) => *v as i64,
        Some(Bson::Int64(v)) => *v,
        Some(Bson::Double(v)) => *v as i64,
        _ => 0,
    }
}

fn to_posts(docs: Vec<Document>) -> Result<Vec<Post>, MongoError> {
    docs.into_iter().map(Post::from_document).collect()
}

/// A URL-safe slug: lower-case words joined by `-`, with a random suffix so equal titles get
/// distinct slugs.
pub fn slugify(title: &str) -> String {
    let suffix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(6)
        .map(|c| (c as char).to_ascii_lowercase())
        .collect();
    format!("{}-{suffix}", slug_base(title))
}

/// The words part of a slug: lower-case words of `title` joined by `-` (`post` when none).
pub fn slug_base(title: &str) -> String {
    let mut base = String::new();
    for word in title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !base.is_empty() {
            base.push('-');
        }
        base.extend(word.chars().flat_map(char::to_lowercase));
        if base.len() > 80 {
            break;
        }
    }
    if base.is_empty() {
        base.push_str("post");
    }
    base
}
/// The post with this slug, unless it was deleted: read with the reads by slug of other
/// requests (see [`crate::batch`]).
pub async fn by_slug(mongo: &Mongo, slug: &str) -> Result<Option<Post>, MongoError> {
    let found = mongo
        .find_one_batched(
            POSTS,
            "slug",
            Bson::from(slug),
            crate::batch::Projection::Shown,
        )
        .await?;
    Ok(found
        .map(Post::from_document)
        .transpose()?
        .filter(|p| p.status != PostStatus::Deleted))
}

/// One page of posts matching `query` in `sort` order (without bodies), and how many match
/// in all; the two reads run concurrently.
async fn page(
    mongo: &Mongo,
    query: Document,
    sort: Document,
    limit: i64,
    offset: u64,
) -> Result<(Vec<Post>, u64), MongoError> {
    let posts = mongo.db().collection::<Document>(POSTS);
    let options = FindOptions::builder()
        .sort(sort)
        .skip(offset)
        .limit(limit)
        .projection({
            let mut fields = unread_fields();
            fields.insert("body", 0);
            fields
        })
        .build();
    let (docs, count) = tokio::try_join!(
        find_docs(mongo, query.clone(), options),
        mongo.timed(
            posts
                .count_documents(query.clone())
                .max_time(mongo.query_timeout())
        ),
    )?;
    Ok((to_posts(docs)?, count))
}

pub async fn drafts(
    mongo: &Mongo,
    author_id: u64,
    limit: i64,
    offset: u64,
) -> Result<(Vec<Post>, u64), MongoError> {
    let query = doc! { "authorId": author_id as i64, "status": PostStatus::Draft.as_str() };
    page(
        mongo,
        query,
        doc! { "updatedAt": -1, "_id": -1 },
        limit,
        offset,
    )
    .await
}

/// The published posts among `ids`, in the order of `ids`; with their bodies when
/// `with_bodies` (to fill the article cache), without otherwise.
pub async fn by_ids(
    mongo: &Mongo,
    ids: &[ObjectId],
    with_bodies: bool,
) -> Result<Vec<Post>, MongoError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut projection = unread_fields();
    if !with_bodies {
        projection.insert("body", 0);
    }
    let options = FindOptions::builder().projection(projection).build();
    let mut found = find_posts(
        mongo,
        doc! { "_id": { "$in": ids }, "status": PostStatus::Published.as_str() },
        options,
    )
    .await?;
    found.sort_by_key(|p| ids.iter().position(|id| *id == p.id));
    Ok(found)
}
async fn find_posts(
    mongo: &Mongo,
    filter: Document,
    options: FindOptions,
) -> Result<Vec<Post>, MongoError> {
    to_posts(find_docs(mongo, filter, options).await?)
}

/// The raw post documents matching `filter`, read with `options`.
pub(crate) async fn find_docs(
    mongo: &Mongo,
    filter: Document,
    options: FindOptions,
) -> Result<Vec<Document>, MongoError> {
    find_docs_in(mongo, POSTS, filter, options).await
}

/// [`find_docs`] in `collection`.
pub(crate) async fn find_docs_in(
    mongo: &Mongo,
    collection: &str,
    filter: Document,
    mut options: FindOptions,
) -> Result<Vec<Document>, MongoError> {
    options.max_time.get_or_insert(mongo.query_timeout());
    let collection = mongo.db().collection::<Document>(collection);
    mongo
        .timed(async {
            collection
                .find(filter)
                .with_options(options)
                .await?
                .try_collect()
                .await
        })
        .await
}
