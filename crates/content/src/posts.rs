//! Posts (RealWorld articles) in the `posts` collection. Only `published` posts appear in
//! lists and feeds. `engagement.likes` is the favorites count, changed together with
//! `favoritedBy` in one single-document update, so the two never disagree.
//!
//! Every content change carries its event in the same single-document write: the event is
//! pushed onto the post's `pendingEvents` and `eventsDueAt` is set, for the content relay
//! ([`claim_pending`]) to deliver and then remove. `changedAt` moves with every change that
//! search cares about (create, edit, status, delete), so each server's search index can follow
//! the collection as a change feed ([`changed_since`]). Deleting a post keeps a tombstone
//! (`status: "deleted"`, body emptied) so that feed sees deletions too.

use std::collections::HashSet;

use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use mongodb::options::FindOptions;
use rand::Rng;
use techhub_core::events::{Event, EventPayload, PostSnapshot, Reaction};

use crate::schema::{COMMENTS, POSTS};
use crate::{Mongo, MongoError};

/// A post as the API needs it (without `favoritedBy`, which can be long). Serializable, so a
/// published post can be cached.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Post {
    pub id: ObjectId,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub body: String,
    pub author_id: u64,
    pub tags: Vec<String>,
    pub status: String,
    pub favorites_count: i64,
    pub categories: Vec<String>,
    pub difficulty: Option<String>,
    pub estimated_read_time: i64,
    pub seo: Seo,
    pub engagement: Engagement,
    pub published_at: Option<DateTime>,
    pub version: i64,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Seo {
    pub title: String,
    pub description: String,
    pub keywords: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Engagement {
    pub views: i64,
    pub likes: i64,
    pub comments: i64,
    pub bookmarks: i64,
}

fn strings(d: &Document, key: &str) -> Vec<String> {
    d.get_array(key)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl Post {
    fn from_doc(d: &Document) -> Result<Self, mongodb::bson::document::ValueAccessError> {
        let engagement = d.get_document("engagement")?;
        Ok(Post {
            id: d.get_object_id("_id")?,
            slug: d.get_str("slug")?.to_string(),
            title: d.get_str("title")?.to_string(),
            description: d.get_str("description")?.to_string(),
            body: d.get_str("body").unwrap_or_default().to_string(),
            author_id: int(d, "authorId") as u64,
            tags: strings(d, "tags"),
            status: d.get_str("status")?.to_string(),
            favorites_count: int(engagement, "likes"),
            categories: strings(d, "categories"),
            difficulty: d.get_str("difficulty").ok().map(str::to_string),
            estimated_read_time: int(d, "estimatedReadTime"),
            seo: d
                .get_document("metadata")
                .and_then(|m| m.get_document("seo"))
                .map(|seo| Seo {
                    title: seo.get_str("title").unwrap_or_default().to_string(),
                    description: seo.get_str("description").unwrap_or_default().to_string(),
                    keywords: strings(seo, "keywords"),
                })
                .unwrap_or_default(),
            engagement: Engagement {
                views: int(engagement, "views"),
                likes: int(engagement, "likes"),
                comments: int(engagement, "comments"),
                bookmarks: int(engagement, "bookmarks"),
            },
            published_at: d.get_datetime("publishedAt").ok().copied(),
            version: int(d, "version"),
            created_at: *d.get_datetime("createdAt")?,
            updated_at: *d.get_datetime("updatedAt")?,
        })
    }
}

fn int(d: &Document, key: &str) -> i64 {
    match d.get(key) {
        Some(Bson::Int32(v)) => *v as i64,
        Some(Bson::Int64(v)) => *v,
        Some(Bson::Double(v)) => *v as i64,
        _ => 0,
    }
}

fn to_posts(docs: Vec<Document>) -> Result<Vec<Post>, MongoError> {
    docs.iter()
        .map(|d| {
            Post::from_doc(d)
                .map_err(|e| MongoError::Corrupt(format!("post {:?}: {e}", d.get("_id"))))
        })
        .collect()
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

pub struct NewPost {
    pub author_id: u64,
    pub title: String,
    pub description: String,
    pub body: String,
    pub tags: Vec<String>,
    /// `published` or `draft`.
    pub status: String,
    pub categories: Vec<String>,
    /// `beginner`, `intermediate` or `advanced`.
    pub difficulty: Option<String>,
}

/// Post statuses an author may set; only `published` posts are listed.
pub const STATUSES: [&str; 3] = ["draft", "published", "archived"];
/// The status of a deleted post's tombstone; never returned by any read.
pub const DELETED: &str = "deleted";

/// How a pending event is stored inside the post document.
pub(crate) fn event_bson(event: &Event) -> Bson {
    let json = serde_json::to_value(event).expect("events serialize");
    mongodb::bson::to_bson(&json).expect("JSON converts to BSON")
}

fn event_from_bson(b: &Bson) -> Result<Event, String> {
    let json = b.clone().into_relaxed_extjson();
    serde_json::from_value(json).map_err(|e| format!("unreadable pending event: {e}"))
}

fn snapshot(
    id: ObjectId,
    slug: &str,
    author_id: u64,
    title: &str,
    tags: &[String],
    status: &str,
    version: i64,
) -> PostSnapshot {
    PostSnapshot {
        post_id: id.to_hex(),
        slug: slug.to_string(),
        author_id,
        title: title.to_string(),
        tags: tags.to_vec(),
        status: status.to_string(),
        version,
    }
}
/// Difficulty levels.
pub const DIFFICULTIES: [&str; 3] = ["beginner", "intermediate", "advanced"];

/// Reading time in minutes at 200 words a minute, at least 1.
pub fn estimated_read_time(body: &str) -> i32 {
    let words = body.split_whitespace().count() as i32;
    ((words + 199) / 200).max(1)
}

pub async fn create(mongo: &Mongo, new: NewPost) -> Result<Post, MongoError> {
    let posts = mongo.db().collection::<Document>(POSTS);
    let now = DateTime::now();
    loop {
        let slug = slugify(&new.title);
        let id = ObjectId::new();
        let event = Event::new(EventPayload::PostCreated(snapshot(
            id,
            &slug,
            new.author_id,
            &new.title,
            &new.tags,
            &new.status,
            1,
        )));
        let post = doc! {
            "_id": id,
            "slug": &slug,
            "title": &new.title,
            "description": &new.description,
            "body": &new.body,
            "authorId": new.author_id as i64,
            "status": &new.status,
            "tags": &new.tags,
            "categories": &new.categories,
            "difficulty": new.difficulty.clone().map(Bson::String).unwrap_or(Bson::Null),
            "estimatedReadTime": estimated_read_time(&new.body),
            "metadata": { "seo": { "title": &new.title, "description": &new.description, "keywords": &new.tags } },
            "engagement": { "views": 0_i64, "likes": 0_i64, "comments": 0_i64, "bookmarks": 0_i64 },
            "favoritedBy": [],
            "publishedAt": if new.status == "published" { Bson::DateTime(now) } else { Bson::Null },
            "version": 1_i64,
            "pendingEvents": [event_bson(&event)],
            "eventsDueAt": now,
            "changedAt": now,
            "createdAt": now,
            "updatedAt": now,
        };
        // What is read back is what was written: no second trip to MongoDB for it.
        let written = Post::from_doc(&post)
            .map_err(|e| MongoError::Corrupt(format!("new post {id}: {e}")))?;
        match mongo.timed(posts.insert_one(post)).await {
            Ok(_) => return Ok(written),
            // A suffix collision: one in two billion; draw another.
            Err(e) if e.is_duplicate_key() => continue,
            Err(e) => return Err(e),
        }
    }
}

pub async fn by_slug(mongo: &Mongo, slug: &str) -> Result<Option<Post>, MongoError> {
    let posts = mongo.db().collection::<Document>(POSTS);
    let found = mongo
        .timed(
            posts
                .find_one(doc! { "slug": slug, "status": { "$ne": DELETED } })
                .projection(doc! { "favoritedBy": 0, "pendingEvents": 0 }),
        )
        .await?;
    found
        .map(|d| to_posts(vec![d]).map(|mut v| v.remove(0)))
        .transpose()
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
        .projection(doc! { "body": 0, "favoritedBy": 0, "pendingEvents": 0 })
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

/// The subset of `ids` that `user_id` has favorited.
pub async fn favorited_among(
    mongo: &Mongo,
    ids: &[ObjectId],
    user_id: u64,
) -> Result<HashSet<ObjectId>, MongoError> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let options = FindOptions::builder().projection(doc! { "_id": 1 }).build();
    let docs = find_docs(
        mongo,
        doc! { "_id": { "$in": ids }, "favoritedBy": user_id as i64 },
        options,
    )
    .await?;
    Ok(docs
        .iter()
        .filter_map(|d| d.get_object_id("_id").ok())
        .collect())
}

/// Changes to a post; `None` keeps a field.
#[derive(Default)]
pub struct PostChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub body: Option<String>,
    pub tags: Option<Vec<String>>,
    pub status: Option<String>,
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
    if let Some(status) = &changes.status {
        set.insert("status", status);
        if status == "published" && current.published_at.is_none() {
            set.insert("publishedAt", DateTime::now());
        }
    }
    // Compare-and-set on the version: the one the client read, or the one just loaded.
    let version = changes.expected_version.unwrap_or(current.version);
    let status = changes.status.as_deref().unwrap_or(&current.status);
    let after = snapshot(
        current.id,
        &current.slug,
        author_id,
        changes.title.as_deref().unwrap_or(&current.title),
        changes.tags.as_deref().unwrap_or(&current.tags),
        status,
        version + 1,
    );
    let event = Event::new(if status == "published" && current.status != "published" {
        EventPayload::PostPublished(after)
    } else {
        EventPayload::PostUpdated(after)
    });
    let posts = mongo.db().collection::<Document>(POSTS);
    let done = mongo
        .timed(posts.update_one(
            doc! { "_id": current.id, "version": version, "status": { "$ne": DELETED } },
            doc! {
                "$set": set,
                "$inc": { "version": 1_i64 },
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
/// tombstone carrying the `post.deleted` event; every read ignores it.
pub async fn delete(
    mongo: &Mongo,
    slug: &str,
    author_id: u64,
) -> Result<Result<(), Refusal>, MongoError> {
    let Some(current) = by_slug(mongo, slug).await? else {
        return Ok(Err(Refusal::NotFound));
    };
    if current.author_id != author_id {
        return Ok(Err(Refusal::NotYours));
    }
    let event = Event::new(EventPayload::PostDeleted(snapshot(
        current.id,
        &current.slug,
        author_id,
        &current.title,
        &current.tags,
        DELETED,
        current.version + 1,
    )));
    let now = DateTime::now();
    let posts = mongo.db().collection::<Document>(POSTS);
    mongo
        .timed(posts.update_one(
            doc! { "_id": current.id, "authorId": author_id as i64, "status": { "$ne": DELETED } },
            doc! {
                "$set": {
                    "status": DELETED, "body": "", "favoritedBy": [],
                    "updatedAt": now, "changedAt": now, "eventsDueAt": now,
                },
                "$inc": { "version": 1_i64 },
                "$push": { "pendingEvents": event_bson(&event) },
            },
        ))
        .await?;
    let comments = mongo.db().collection::<Document>(COMMENTS);
    mongo
        .timed(comments.delete_many(doc! { "postId": current.id }))
        .await?;
    Ok(Ok(()))
}

/// Adds or removes `user_id`'s favorite. Only a real change moves the counter: the filter
/// matches only when the user is (not) in `favoritedBy` yet, in one atomic update.
pub async fn set_favorite(
    mongo: &Mongo,
    slug: &str,
    user_id: u64,
    favorite: bool,
) -> Result<Option<Post>, MongoError> {
    let posts = mongo.db().collection::<Document>(POSTS);
    let uid = user_id as i64;
    let (filter, update) = if favorite {
        // The like is an event for its author's activity, carried in the same update.
        let Some(post) = by_slug(mongo, slug).await? else {
            return Ok(None);
        };
        let event = Event::new(EventPayload::PostLiked(Reaction {
            post_id: post.id.to_hex(),
            slug: post.slug.clone(),
            author_id: post.author_id,
            actor_id: user_id,
        }));
        (
            doc! { "_id": post.id, "status": { "$ne": DELETED }, "favoritedBy": { "$ne": uid } },
            doc! {
                "$push": { "favoritedBy": uid, "pendingEvents": event_bson(&event) },
                "$inc": { "engagement.likes": 1_i64 },
                // The index lists what a user favorited: it follows `changedAt`.
                "$set": { "eventsDueAt": DateTime::now(), "changedAt": DateTime::now() },
            },
        )
    } else {
        (
            doc! { "slug": slug, "status": { "$ne": DELETED }, "favoritedBy": uid },
            doc! {
                "$pull": { "favoritedBy": uid },
                "$inc": { "engagement.likes": -1_i64 },
                "$set": { "changedAt": DateTime::now() },
            },
        )
    };
    // The post as the update left it, in the same operation.
    let changed = mongo
        .timed(
            posts
                .find_one_and_update(filter, update)
                .projection(doc! { "favoritedBy": 0, "pendingEvents": 0 })
                .return_document(mongodb::options::ReturnDocument::After),
        )
        .await?;
    match changed {
        Some(d) => to_posts(vec![d]).map(|mut v| v.pop()),
        // Nothing to change (already so, or no such post): the post as it is.
        None => by_slug(mongo, slug).await,
    }
}

/// The author's unpublished drafts, newest first.
pub async fn drafts(
    mongo: &Mongo,
    author_id: u64,
    limit: i64,
    offset: u64,
) -> Result<(Vec<Post>, u64), MongoError> {
    let query = doc! { "authorId": author_id as i64, "status": "draft" };
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
    let mut projection = doc! { "favoritedBy": 0, "pendingEvents": 0, "deadEvents": 0 };
    if !with_bodies {
        projection.insert("body", 0);
    }
    let options = FindOptions::builder().projection(projection).build();
    let mut found = find_posts(
        mongo,
        doc! { "_id": { "$in": ids }, "status": "published" },
        options,
    )
    .await?;
    found.sort_by_key(|p| ids.iter().position(|id| *id == p.id));
    Ok(found)
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

/// A post whose pending events this relay has claimed until `lease_until`, under `claim`.
#[derive(Debug)]
pub struct PendingPost {
    pub id: ObjectId,
    pub lease_until: DateTime,
    /// The claim that took it (see [`claim_pending`]).
    pub claim: ObjectId,
    /// How many deliveries of these events failed so far.
    pub attempts: i64,
    /// In the order they were written; an unreadable one is an `Err` with the reason.
    pub events: Vec<Result<Event, String>>,
}

/// Claims up to `limit` posts with events due, all until now + `lease`, in three operations
/// whatever the batch: the ids of due posts, one update of those still due (atomic per
/// document: a post another relay claimed meanwhile is no longer due, so two relays never
/// hold the same post) stamping them with a fresh claim id, and a read of the posts carrying
/// that id. One `findAndModify` per post capped the relay near 50 posts a second on
/// SecantusDB, below the rate posts were written in the benchmark.
pub async fn claim_pending(
    mongo: &Mongo,
    lease: std::time::Duration,
    limit: usize,
) -> Result<Vec<PendingPost>, MongoError> {
    let posts = mongo.db().collection::<Document>(POSTS);
    let now = DateTime::now();
    let until = DateTime::from_millis(now.timestamp_millis() + lease.as_millis() as i64);
    // Bounded on both sides: SecantusDB reads an open-ended range (and one sorted) by walking
    // the whole index, posts without the field included; a closed range comes straight from
    // the (sparse) index.
    let due = doc! { "eventsDueAt": { "$gte": DateTime::MIN, "$lte": now } };
    let options = FindOptions::builder()
        .projection(doc! { "_id": 1 })
        .limit(limit as i64)
        .build();
    let ids: Vec<ObjectId> = find_docs(mongo, due.clone(), options)
        .await?
        .iter()
        .filter_map(|d| d.get_object_id("_id").ok())
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let claim = ObjectId::new();
    let mut still_due = due;
    still_due.insert("_id", doc! { "$in": &ids });
    mongo
        .timed(posts.update_many(
            still_due,
            doc! { "$set": { "eventsDueAt": until, "eventsClaim": claim } },
        ))
        .await?;
    let options = FindOptions::builder()
        .projection(doc! { "pendingEvents": 1, "eventAttempts": 1 })
        .build();
    let won = find_docs(
        mongo,
        doc! { "_id": { "$in": &ids }, "eventsClaim": claim },
        options,
    )
    .await?;
    won.iter()
        .map(|d| {
            Ok(PendingPost {
                id: d
                    .get_object_id("_id")
                    .map_err(|e| MongoError::Corrupt(e.to_string()))?,
                lease_until: until,
                claim,
                attempts: int(d, "eventAttempts"),
                events: d
                    .get_array("pendingEvents")
                    .map(|a| a.iter().map(event_from_bson).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The fields that mark a post due (or claimed), removed once its events are all delivered.
fn done_fields() -> Document {
    doc! { "eventsDueAt": "", "eventsClaim": "", "eventAttempts": "", "eventError": "" }
}

/// Removes the delivered events `event_ids` from `posts` (all taken by one claim), in one
/// update for the lot: each post whose claim still holds (no new event arrived since; a write
/// that adds events makes the post due again) stops being due. When some did not (the update
/// matched fewer), each post is stripped of the delivered events alone and stays due for the
/// rest; removing an event already removed changes nothing.
pub async fn events_delivered_all(
    mongo: &Mongo,
    done: &[&PendingPost],
    event_ids: &[String],
) -> Result<(), MongoError> {
    let Some(first) = done.first() else {
        return Ok(());
    };
    let posts = mongo.db().collection::<Document>(POSTS);
    let ids: Vec<ObjectId> = done.iter().map(|p| p.id).collect();
    let pull = doc! { "pendingEvents": { "id": { "$in": event_ids } } };
    let finished = mongo
        .timed(posts.update_many(
            doc! { "_id": { "$in": &ids }, "eventsDueAt": first.lease_until, "eventsClaim": first.claim },
            doc! { "$pull": pull.clone(), "$unset": done_fields() },
        ))
        .await?;
    if finished.matched_count < ids.len() as u64 && !event_ids.is_empty() {
        mongo
            .timed(posts.update_many(doc! { "_id": { "$in": &ids } }, doc! { "$pull": pull }))
            .await?;
    }
    Ok(())
}

/// Removes the delivered events `event_ids` from a post whose other events are not yet
/// delivered: it stays due for those (posts delivered whole are finished by
/// [`events_delivered_all`]).
pub async fn events_delivered(
    mongo: &Mongo,
    post: &PendingPost,
    event_ids: &[String],
) -> Result<(), MongoError> {
    if event_ids.is_empty() {
        return Ok(());
    }
    let posts = mongo.db().collection::<Document>(POSTS);
    let pull = doc! { "pendingEvents": { "id": { "$in": event_ids } } };
    mongo
        .timed(posts.update_one(doc! { "_id": post.id }, doc! { "$pull": pull }))
        .await?;
    Ok(())
}

/// Moves an unreadable event out of the way into the post's `deadEvents`, with the reason,
/// where `techhub doctor` reports it.
pub async fn event_parked(
    mongo: &Mongo,
    post: &PendingPost,
    index: usize,
    reason: &str,
) -> Result<(), MongoError> {
    let posts = mongo.db().collection::<Document>(POSTS);
    let found = mongo
        .timed(
            posts
                .find_one(doc! { "_id": post.id })
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
        .timed(posts.update_one(
            doc! { "_id": post.id },
            doc! {
                "$pull": { "pendingEvents": raw.clone() },
                "$push": { "deadEvents": { "event": raw, "reason": reason, "at": DateTime::now() } },
            },
        ))
        .await?;
    Ok(())
}

/// How many posts hold events that could not be read (parked in `deadEvents`).
pub async fn parked_event_posts(mongo: &Mongo) -> Result<u64, MongoError> {
    let posts = mongo.db().collection::<Document>(POSTS);
    mongo
        .timed(posts.count_documents(doc! { "deadEvents.0": { "$exists": true } }))
        .await
}

/// Puts the post's events back to be retried at `retry_at`, counting the failed attempt.
pub async fn events_failed(
    mongo: &Mongo,
    post: &PendingPost,
    retry_at: DateTime,
    error: &str,
) -> Result<(), MongoError> {
    let posts = mongo.db().collection::<Document>(POSTS);
    mongo
        .timed(posts.update_one(
            doc! { "_id": post.id, "eventsDueAt": post.lease_until, "eventsClaim": post.claim },
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

/// A change in the posts collection, as the search index follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Change {
    pub id: ObjectId,
    pub changed_at: DateTime,
}

/// Posts changed at or after `since`, oldest change first, continuing after `after` (the last
/// change of the previous page) when given.
pub async fn changed_since(
    mongo: &Mongo,
    since: DateTime,
    after: Option<Change>,
    limit: i64,
) -> Result<Vec<Change>, MongoError> {
    // Bounded on both sides (a day ahead covers clocks running ahead): see `claim_pending`.
    let until = DateTime::from_millis(DateTime::now().timestamp_millis() + 86_400_000);
    let filter = match after {
        None => doc! { "changedAt": { "$gte": since, "$lte": until } },
        Some(a) => doc! { "$or": [
            { "changedAt": { "$gt": a.changed_at, "$lte": until } },
            { "changedAt": a.changed_at, "_id": { "$gt": a.id } },
        ] },
    };
    let options = FindOptions::builder()
        .sort(doc! { "changedAt": 1, "_id": 1 })
        .limit(limit)
        .projection(doc! { "_id": 1, "changedAt": 1 })
        .build();
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
    let favorited_by = |d: &Document| {
        d.get_array("favoritedBy")
            .map(|a| {
                a.iter()
                    .filter_map(|v| match v {
                        Bson::Int64(u) => Some(*u as u64),
                        Bson::Int32(u) => Some(*u as u64),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let fans: Vec<Vec<u64>> = docs.iter().map(favorited_by).collect();
    Ok(to_posts(docs)?
        .into_iter()
        .zip(fans)
        .map(|(post, favorited_by)| Indexable { post, favorited_by })
        .collect())
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

/// Posts matching `filter`, read with `options` (projection, sort, limit).
async fn find_posts(
    mongo: &Mongo,
    filter: Document,
    options: FindOptions,
) -> Result<Vec<Post>, MongoError> {
    to_posts(find_docs(mongo, filter, options).await?)
}

/// The raw post documents matching `filter`, read with `options`.
async fn find_docs(
    mongo: &Mongo,
    filter: Document,
    mut options: FindOptions,
) -> Result<Vec<Document>, MongoError> {
    options.max_time.get_or_insert(mongo.query_timeout());
    let posts = mongo.db().collection::<Document>(POSTS);
    mongo
        .timed(async {
            posts
                .find(filter)
                .with_options(options)
                .await?
                .try_collect()
                .await
        })
        .await
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
            doc! { "_id": { "$gte": from, "$lt": to }, "status": "published" },
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
        .timed(posts.count_documents(doc! { "status": "published" }))
        .await
}
