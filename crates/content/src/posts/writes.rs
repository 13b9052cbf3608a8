//! Writes to posts. Every change carries its event in the same single-document write (see
//! [`super::events`]; a new post's in `createdEvent`, see [`super::created`]) and stamps `changedAt` when search cares about it (see [`super::feed`]);
//! only an author changes their posts, and an edit is a compare-and-set on the version the
//! client read, so a concurrent edit is refused rather than lost.

use mongodb::bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use techhub_core::domain::PostStatus;
use techhub_core::events::{Event, EventPayload, PostSnapshot};

use super::document::{event_bson, Engagement, Metadata, PostDocument, Seo};
use super::{by_slug, estimated_read_time, int, not_deleted, slugify, Post};
use crate::schema::{COMMENTS, POSTS};
use crate::{Mongo, MongoError};

pub struct NewPost {
    pub author_id: u64,
    pub title: String,
    pub description: String,
    pub body: String,
    pub tags: Vec<String>,
    /// [`PostStatus::Published`] or [`PostStatus::Draft`].
    pub status: PostStatus,
    pub categories: Vec<String>,
    /// `beginner`, `intermediate` or `advanced`.
    pub difficulty: Option<String>,
}

/// The post as its events describe it.
pub(crate) fn snapshot(post: &Post) -> PostSnapshot {
    PostSnapshot {
        post_id: post.id.to_hex(),
        slug: post.slug.clone(),
        author_id: post.author_id,
        title: post.title.clone(),
        tags: post.tags.clone(),
        status: post.status,
        version: post.version,
    }
}

/// Writes a new post with its `post.created` event, under a fresh slug drawn from the title.
/// Its `changedAt` is its `createdAt`.
pub async fn create(mongo: &Mongo, new: NewPost) -> Result<Post, MongoError> {
    let now = DateTime::now();
    loop {
        let post = Post {
            id: ObjectId::new(),
            slug: slugify(&new.title),
            title: new.title.clone(),
            description: new.description.clone(),
            body: new.body.clone(),
            author_id: new.author_id,
            status: new.status,
            tags: new.tags.clone(),
            categories: new.categories.clone(),
            difficulty: new.difficulty.clone(),
            estimated_read_time: estimated_read_time(&new.body),
            metadata: Metadata {
                seo: Seo {
                    title: new.title.clone(),
                    description: new.description.clone(),
                    keywords: new.tags.clone(),
                },
            },
            engagement: Engagement::default(),
            published_at: new.status.is_published().then_some(now),
            version: 1,
            change_seq: 1,
            created_at: now,
            updated_at: now,
        };
        let event = Event::new(EventPayload::PostCreated(snapshot(&post)));
        // The event goes with the insert; the relay reads it from the change stream, so
        // the post is not marked due (see [`super::created`]).
        let document = PostDocument {
            post,
            favorited_by: Vec::new(),
            pending_events: Vec::new(),
            events_due_at: None,
            created_event: Some(event_bson(&event)),
            changed_at: now,
        };
        // Batched with the posts other requests create meanwhile (see [`crate::batch`]).
        match mongo.insert_batched(POSTS, document.to_bson()?).await {
            // What is read back is what was written: no second trip to MongoDB for it.
            Ok(_) => return Ok(document.post),
            // A suffix collision: one in two billion; draw another.
            Err(e) if e.is_duplicate_key() => continue,
            Err(e) => return Err(e),
        }
    }
}

#[derive(Default)]
pub struct PostChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub body: Option<String>,
    pub tags: Option<Vec<String>>,
    pub status: Option<PostStatus>,
    pub categories: Option<Vec<String>>,
    pub difficulty: Option<Option<String>>,
    /// When set, the change applies only if the post still has this version.
    pub expected_version: Option<i64>,
}

/// Why a change to a post was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    NotYours,
    /// The post changed since the version the client read.
    Stale {
        current: i64,
    },
}

/// Applies `changes` to the post if `author_id` wrote it. The title change keeps the slug, so
/// links keep working.
pub async fn update(
    mongo: &Mongo,
    slug: &str,
    author_id: u64,
    changes: PostChanges,
) -> Result<Result<Post, Refusal>, MongoError> {
    let Some(current) = by_slug(mongo, slug).await? else {
        return Ok(Err(Refusal::NotFound));
    };
    if current.author_id != author_id {
        return Ok(Err(Refusal::NotYours));
    }
    let now = DateTime::now();
    let mut set = doc! { "updatedAt": now, "changedAt": now, "eventsDueAt": now };
    if let Some(title) = &changes.title {
        set.insert("title", title);
        set.insert("metadata.seo.title", title);
    }
    if let Some(description) = &changes.description {
        set.insert("description", description);
        set.insert("metadata.seo.description", description);
    }
    if let Some(body) = &changes.body {
        set.insert("body", body);
        set.insert("estimatedReadTime", estimated_read_time(body));
    }
    if let Some(tags) = &changes.tags {
        set.insert("tags", tags);
        set.insert("metadata.seo.keywords", tags);
    }
    if let Some(categories) = &changes.categories {
        set.insert("categories", categories);
    }
    if let Some(difficulty) = &changes.difficulty {
        set.insert(
            "difficulty",
            difficulty.clone().map(Bson::String).unwrap_or(Bson::Null),
        );
    }
    if let Some(status) = changes.status {
        set.insert("status", status.as_str());
        if status.is_published() && current.published_at.is_none() {
            set.insert("publishedAt", DateTime::now());
        }
    }
    // Compare-and-set on the version: the one the client read, or the one just loaded.
    let version = changes.expected_version.unwrap_or(current.version);
    let mut after = current.clone();
    after.title = changes.title.clone().unwrap_or(after.title);
    after.tags = changes.tags.clone().unwrap_or(after.tags);
    after.status = changes.status.unwrap_or(after.status);
    after.version = version + 1;
    let published_now = after.status.is_published() && !current.status.is_published();
    let event = Event::new(if published_now {
        EventPayload::PostPublished(snapshot(&after))
    } else {
        EventPayload::PostUpdated(snapshot(&after))
    });
    let posts = mongo.db().collection::<Document>(POSTS);
    let done = mongo
        .timed(posts.update_one(
            doc! { "_id": current.id, "version": version, "status": not_deleted() },
            doc! {
                "$set": set,
                "$inc": { "version": 1_i64, "changeSeq": 1_i64 },
                "$push": { "pendingEvents": event_bson(&event) },
            },
        ))
        .await?;
    if done.matched_count == 0 {
        let now = by_slug(mongo, slug)
            .await?
            .ok_or(MongoError::Corrupt("post vanished".into()))?;
        return Ok(Err(Refusal::Stale {
            current: now.version,
        }));
    }
    Ok(by_slug(mongo, slug).await?.ok_or(Refusal::NotFound))
}

/// Deletes the post (and its comments) if `author_id` wrote it. The post document stays as a
/// tombstone carrying the `post.deleted` event; every read ignores it. Returns the post's id
/// and its change number after the deletion (see [`Post::change_seq`]).
pub async fn delete(
    mongo: &Mongo,
    slug: &str,
    author_id: u64,
) -> Result<Result<(ObjectId, i64), Refusal>, MongoError> {
    let Some(current) = by_slug(mongo, slug).await? else {
        return Ok(Err(Refusal::NotFound));
    };
    if current.author_id != author_id {
        return Ok(Err(Refusal::NotYours));
    }
    let mut tombstone = current.clone();
    tombstone.status = PostStatus::Deleted;
    tombstone.version += 1;
    let event = Event::new(EventPayload::PostDeleted(snapshot(&tombstone)));
    let now = DateTime::now();
    let posts = mongo.db().collection::<Document>(POSTS);
    let deleted = mongo
        .timed(
            posts
                .find_one_and_update(
                    doc! { "_id": current.id, "authorId": author_id as i64, "status": not_deleted() },
                    doc! {
                        "$set": {
                            "status": PostStatus::Deleted.as_str(), "body": "", "favoritedBy": [],
                            "updatedAt": now, "changedAt": now, "eventsDueAt": now,
                        },
                        "$inc": { "version": 1_i64, "changeSeq": 1_i64 },
                        "$push": { "pendingEvents": event_bson(&event) },
                    },
                )
                .projection(doc! { "changeSeq": 1 })
                .return_document(mongodb::options::ReturnDocument::After),
        )
        .await?;
    // Deleted meanwhile by another request of the author: gone all the same.
    let Some(deleted) = deleted else {
        return Ok(Err(Refusal::NotFound));
    };
    let comments = mongo.db().collection::<Document>(COMMENTS);
    mongo
        .timed(comments.delete_many(doc! { "postId": current.id }))
        .await?;
    Ok(Ok((current.id, int(&deleted, "changeSeq"))))
}

/// An `engagement` counter that moves outside the favorite/comment writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    Views,
    Bookmarks,
}

/// Moves one of the post's `engagement` counters by `delta`. Returns the post's slug (for
/// cache invalidation), `None` when there is no such post.
pub async fn add_to_counter(
    mongo: &Mongo,
    post_id: ObjectId,
    counter: Counter,
    delta: i64,
) -> Result<Option<(String, i64)>, MongoError> {
    let field = match counter {
        Counter::Views => "engagement.views",
        Counter::Bookmarks => "engagement.bookmarks",
    };
    let posts = mongo.db().collection::<Document>(POSTS);
    let found = mongo
        .timed(
            posts
                .find_one_and_update(doc! { "_id": post_id }, doc! { "$inc": { field: delta } })
                .projection(doc! { "slug": 1, field: 1 })
                .return_document(mongodb::options::ReturnDocument::After),
        )
        .await?;
    Ok(found.and_then(|d| {
        let slug = d.get_str("slug").ok()?.to_string();
        let (group, name) = field.split_once('.')?;
        let count = d.get_document(group).map_or(0, |g| int(g, name));
        Some((slug, count))
    }))
}
