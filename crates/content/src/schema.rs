//! The content database's schema: collections with `$jsonSchema` validators, and indexes.
//!
//! MongoDB has no migration tool of its own, so each step here is numbered and recorded in
//! the `_migrations` collection once applied; `techhub migrate` runs only the missing ones,
//! and every step is itself idempotent (a collection that exists gets its validator set with
//! `collMod`; `createIndexes` with an identical spec is a no-op).

use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::options::{IndexOptions, ValidationAction, ValidationLevel};
use mongodb::{Database, IndexModel};
use techhub_core::domain::PostStatus;
use techhub_core::MigrationReport;

use crate::posts::{
    DIFFICULTIES, MAX_BODY_CHARS, MAX_DESCRIPTION_CHARS, MAX_TAGS, MAX_TAG_CHARS, MAX_TITLE_CHARS,
};

pub const POSTS: &str = "posts";
pub const COMMENTS: &str = "comments";
pub const FAVORITES: &str = "favorites";
pub const FAVORITE_CLICKS: &str = "favorite_clicks";
pub const USER_PROFILES: &str = "user_profiles";
pub const NOTIFICATIONS: &str = "notifications";
/// Where relays that follow a change stream keep how far they got (see [`crate::posts::created`]).
pub const RELAY_CURSORS: &str = "relay_cursors";
pub const MIGRATIONS: &str = "_migrations";

struct Step {
    version: i32,
    name: &'static str,
}

const STEPS: &[Step] = &[
    Step {
        version: 1,
        name: "content collections, validators and indexes",
    },
    Step {
        version: 2,
        name: "post events: deleted tombstones, change-feed and due-event indexes",
    },
    Step {
        version: 3,
        name: "due-event index holds only posts with events due (sparse)",
    },
    Step {
        version: 4,
        name: "posts count their indexed changes (changeSeq, read your writes)",
    },
    Step {
        version: 5,
        name: "comments carry their own events (due-event index on comments)",
    },
    Step {
        version: 6,
        name: "favorites: one document per user and post, counted into posts by the relay",
    },
    Step {
        version: 7,
        name: "favorite clicks: each click a document of its own, folded in by the relay",
    },
    Step {
        version: 8,
        name: "posts: no indexes by tag or by status (lists come from the search index)",
    },
    Step {
        version: 9,
        name: "new posts' events followed by the change stream (createdEvent, relay cursor)",
    },
];

/// Applies the steps not yet recorded in `_migrations`.
pub async fn migrate(db: &Database) -> mongodb::error::Result<MigrationReport> {
    let recorded = db.collection::<Document>(MIGRATIONS);
    let mut applied_now = 0;
    for step in STEPS {
        if recorded
            .find_one(doc! { "_id": step.version })
            .await?
            .is_some()
        {
            continue;
        }
        match step.version {
            1 => initial_schema(db).await?,
            2 => post_events(db).await?,
            3 => sparse_events_due(db).await?,
            4 => ensure_collection(db, POSTS, posts_validator()).await?,
            5 => comment_events(db).await?,
            6 => favorites(db).await?,
            7 => favorite_clicks(db).await?,
            8 => drop_list_indexes(db).await?,
            9 => created_events(db).await?,
            v => unreachable!("no code for content migration {v}"),
        }
        recorded
            .insert_one(
                doc! { "_id": step.version, "name": step.name, "appliedAt": DateTime::now() },
            )
            .await?;
        tracing::info!(
            version = step.version,
            name = step.name,
            "applied content migration"
        );
        applied_now += 1;
    }
    Ok(MigrationReport {
        applied_now,
        total: STEPS.len(),
    })
}

async fn initial_schema(db: &Database) -> mongodb::error::Result<()> {
    ensure_collection(db, POSTS, posts_validator()).await?;
    ensure_indexes(
        db,
        POSTS,
        vec![
            index(doc! { "slug": 1 }, "uq_posts_slug", true),
            index(
                doc! { "authorId": 1, "publishedAt": -1 },
                "idx_posts_author_published",
                false,
            ),
        ],
    )
    .await?;

    ensure_collection(db, COMMENTS, comments_validator()).await?;
    ensure_indexes(
        db,
        COMMENTS,
        vec![
            index(
                doc! { "postId": 1, "createdAt": -1 },
                "idx_comments_post_created",
                false,
            ),
            index(
                doc! { "authorId": 1, "createdAt": -1 },
                "idx_comments_author_created",
                false,
            ),
        ],
    )
    .await?;

    ensure_collection(db, USER_PROFILES, profiles_validator()).await?;
    ensure_indexes(
        db,
        USER_PROFILES,
        vec![
            index(doc! { "userId": 1 }, "uq_user_profiles_user_id", true),
            index(doc! { "username": 1 }, "uq_user_profiles_username", true),
        ],
    )
    .await?;

    ensure_collection(db, NOTIFICATIONS, notifications_validator()).await?;
    ensure_indexes(
        db,
        NOTIFICATIONS,
        vec![
            index(
                doc! { "userId": 1, "createdAt": -1 },
                "idx_notifications_user_created",
                false,
            ),
            index(
                doc! { "userId": 1, "read": 1 },
                "idx_notifications_user_read",
                false,
            ),
        ],
    )
    .await?;
    Ok(())
}

/// Deleted posts stay as tombstones (status `deleted`), so the validator accepts that status;
/// `changedAt` is the change feed the search index follows; `eventsDueAt` finds posts whose
/// pending events the relay must deliver.
async fn post_events(db: &Database) -> mongodb::error::Result<()> {
    ensure_collection(db, POSTS, posts_validator()).await?;
    ensure_indexes(
        db,
        POSTS,
        vec![
            index(
                doc! { "changedAt": 1, "_id": 1 },
                "idx_posts_changed",
                false,
            ),
            index(doc! { "eventsDueAt": 1 }, "idx_posts_events_due", false),
        ],
    )
    .await
}

/// Posts with events due are a handful among millions, and the index that finds them held an
/// entry for every post: SecantusDB walked the million missing-field entries on each relay
/// claim (seconds). A sparse index holds only the posts that carry the field; MongoDB and
/// SecantusDB both use it for the relay's closed date range, which no missing field matches.
async fn sparse_events_due(db: &Database) -> mongodb::error::Result<()> {
    drop_indexes(db, POSTS, &["idx_posts_events_due"]).await?;
    db.collection::<Document>(POSTS)
        .create_index(sparse_events_due_index("idx_posts_events_due_sparse"))
        .await?;
    Ok(())
}

/// Comments carry their `comment.created` until the relay delivers it: the validator knows
/// the fields, and a sparse index finds the comments with events due.
async fn comment_events(db: &Database) -> mongodb::error::Result<()> {
    ensure_collection(db, COMMENTS, comments_validator()).await?;
    db.collection::<Document>(COMMENTS)
        .create_index(sparse_events_due_index("idx_comments_events_due_sparse"))
        .await?;
    Ok(())
}

/// Favorites get their own collection (see [`crate::favorites`]), with a sparse index on
/// their due events; the favorites posts already list (`favoritedBy`) become documents there,
/// counted.
async fn favorites(db: &Database) -> mongodb::error::Result<()> {
    use futures::TryStreamExt;
    ensure_collection(db, FAVORITES, favorites_validator()).await?;
    let favorites = db.collection::<Document>(FAVORITES);
    favorites
        .create_index(sparse_events_due_index("idx_favorites_events_due_sparse"))
        .await?;
    let mut posts = db
        .collection::<Document>(POSTS)
        .find(doc! { "favoritedBy.0": { "$exists": true } })
        .projection(doc! { "favoritedBy": 1, "changeSeq": 1 })
        .await?;
    let mut documents = Vec::new();
    while let Some(post) = posts.try_next().await? {
        let (Ok(id), Ok(users)) = (post.get_object_id("_id"), post.get_array("favoritedBy")) else {
            continue;
        };
        let users: Vec<u64> = users
            .iter()
            .filter_map(|u| match u {
                Bson::Int32(v) => Some(*v as u64),
                Bson::Int64(v) => Some(*v as u64),
                _ => None,
            })
            .collect();
        let seq = crate::posts::int(&post, "changeSeq");
        documents.extend(crate::favorites::counted_documents(id, seq, &users));
        if documents.len() >= 1000 {
            insert_new(&favorites, std::mem::take(&mut documents)).await?;
        }
    }
    insert_new(&favorites, documents).await
}

/// Lists, feeds and tag pages come from the search index: no query reads posts by tag or by
/// status and publication date any more, and each of those indexes cost every post's insert
/// and update (SecantusDB, 5,000 posts: insert 94-105 µs a post with them, 76 without; the
/// relay's finishing update 76-93 µs, 50-66 without). Databases created before this step
/// have them; newer ones never do.
async fn drop_list_indexes(db: &Database) -> mongodb::error::Result<()> {
    drop_indexes(db, POSTS, &["idx_posts_tags", "idx_posts_status_published"]).await
}

/// New posts carry their `post.created` in `createdEvent`, which the relay reads from the
/// change stream (see [`crate::posts::created`]); its cursor starts now, since posts created
/// before carried due events, which the due-event path delivers.
async fn created_events(db: &Database) -> mongodb::error::Result<()> {
    ensure_collection(db, POSTS, posts_validator()).await?;
    crate::posts::created::ensure_cursor(db).await
}

/// Drops those of the indexes `names` that `collection` has (a step run again has none).
async fn drop_indexes(
    db: &Database,
    collection: &str,
    names: &[&str],
) -> mongodb::error::Result<()> {
    let collection = db.collection::<Document>(collection);
    let present = collection.list_index_names().await?;
    for name in names {
        if present.iter().any(|n| n == name) {
            collection.drop_index(*name).await?;
        }
    }
    Ok(())
}

/// Clicks get their own collection (see [`crate::favorites`]), with a sparse index on their
/// due events and one on the favorite they are about (`pair`, the favorite's `_id`). A
/// favorite still carrying events from before becomes, in one transaction each, a click
/// with those events, and the favorite drops them: the relay then folds the click in as it
/// folds new ones (by `counted`, what the post holds). The favorite keeps its `on` (its
/// user's last click) until then, so its user still reads it as they left it.
async fn favorite_clicks(db: &Database) -> mongodb::error::Result<()> {
    use futures::TryStreamExt;
    ensure_collection(db, FAVORITE_CLICKS, favorite_clicks_validator()).await?;
    ensure_indexes(
        db,
        FAVORITE_CLICKS,
        vec![
            sparse_events_due_index("idx_favorite_clicks_events_due_sparse"),
            index(doc! { "pair": 1 }, "idx_favorite_clicks_pair", false),
        ],
    )
    .await?;
    let favorites = db.collection::<Document>(FAVORITES);
    let clicks = db.collection::<Document>(FAVORITE_CLICKS);
    let carrying: Vec<Document> = favorites
        .find(doc! { "eventsDueAt": { "$exists": true } })
        .await?
        .try_collect()
        .await?;
    let mut session = db.client().start_session().await?;
    for favorite in carrying {
        let (Ok(key), Ok(post), Ok(on)) = (
            favorite.get_str("_id"),
            favorite.get_object_id("postId"),
            favorite.get_bool("on"),
        ) else {
            continue;
        };
        let click = doc! {
            "pair": key, "postId": post, "userId": favorite.get("userId").cloned().unwrap_or(Bson::Null),
            "on": on, "at": favorite.get("at").cloned().unwrap_or(Bson::DateTime(DateTime::now())),
            "pendingEvents": favorite.get_array("pendingEvents").cloned().unwrap_or_default(),
            "eventsDueAt": DateTime::now(),
        };
        session.start_transaction().await?;
        clicks.insert_one(click).session(&mut session).await?;
        favorites
            .update_one(
                doc! { "_id": key },
                doc! {
                    "$unset": {
                        "pendingEvents": "", "eventsDueAt": "", "eventAttempts": "",
                        "eventError": "",
                    },
                },
            )
            .session(&mut session)
            .await?;
        session.commit_transaction().await?;
    }
    Ok(())
}

/// Inserts `documents`, leaving those whose `_id` is there already (a step run again).
async fn insert_new(
    collection: &mongodb::Collection<Document>,
    documents: Vec<Document>,
) -> mongodb::error::Result<()> {
    if documents.is_empty() {
        return Ok(());
    }
    match collection.insert_many(documents).ordered(false).await {
        Err(e) if e.to_string().contains("E11000") => Ok(()),
        other => other.map(drop),
    }
}

/// A sparse index on `eventsDueAt`: it holds only the documents with events due.
fn sparse_events_due_index(name: &str) -> IndexModel {
    IndexModel::builder()
        .keys(doc! { "eventsDueAt": 1 })
        .options(
            IndexOptions::builder()
                .name(name.to_string())
                .sparse(true)
                .build(),
        )
        .build()
}

/// Creates `name` with `validator`, or sets the validator on an existing collection.
async fn ensure_collection(
    db: &Database,
    name: &str,
    validator: Document,
) -> mongodb::error::Result<()> {
    let exists = db
        .list_collection_names()
        .filter(doc! { "name": name })
        .await?
        .iter()
        .any(|n| n == name);
    if exists {
        db.run_command(doc! {
            "collMod": name,
            "validator": validator,
            "validationLevel": "strict",
            "validationAction": "error",
        })
        .await?;
    } else {
        db.create_collection(name)
            .validator(validator)
            .validation_level(ValidationLevel::Strict)
            .validation_action(ValidationAction::Error)
            .await?;
    }
    Ok(())
}

async fn ensure_indexes(
    db: &Database,
    collection: &str,
    indexes: Vec<IndexModel>,
) -> mongodb::error::Result<()> {
    db.collection::<Document>(collection)
        .create_indexes(indexes)
        .await?;
    Ok(())
}

fn index(keys: Document, name: &str, unique: bool) -> IndexModel {
    IndexModel::builder()
        .keys(keys)
        .options(
            IndexOptions::builder()
                .name(name.to_string())
                .unique(unique)
                .build(),
        )
        .build()
}

fn string(min: i64, max: i64) -> Document {
    doc! { "bsonType": "string", "minLength": min, "maxLength": max }
}

fn non_negative_int() -> Document {
    doc! { "bsonType": ["int", "long"], "minimum": 0 }
}

fn user_id() -> Document {
    doc! { "bsonType": ["int", "long"], "minimum": 1 }
}

fn string_array(max_items: i64, max_len: i64) -> Document {
    doc! { "bsonType": "array", "maxItems": max_items, "items": string(1, max_len) }
}

/// Posts: the RealWorld article plus TechHub's status, taxonomy, SEO, engagement counters,
/// optimistic-concurrency `version` and the pending events carried with each write: the
/// fields of [`crate::posts::PostDocument`] (a test checks the two name the same fields).
pub fn posts_validator() -> Document {
    let statuses: Vec<&str> = PostStatus::ALL.iter().map(|s| s.as_str()).collect();
    let mut difficulties: Vec<Bson> = DIFFICULTIES.iter().map(|d| Bson::from(*d)).collect();
    difficulties.push(Bson::Null);
    doc! { "$jsonSchema": {
        "bsonType": "object",
        "required": ["slug", "title", "description", "body", "authorId", "status", "tags",
                     "engagement", "version", "createdAt", "updatedAt"],
        "properties": {
            "slug": string(1, 300),
            "title": string(1, MAX_TITLE_CHARS),
            "description": string(0, MAX_DESCRIPTION_CHARS),
            "body": string(0, MAX_BODY_CHARS),
            "authorId": user_id(),
            "status": { "enum": statuses },
            "tags": string_array(MAX_TAGS, MAX_TAG_CHARS),
            "categories": string_array(MAX_TAGS, MAX_TAG_CHARS),
            "difficulty": { "enum": difficulties },
            "estimatedReadTime": non_negative_int(),
            "metadata": { "bsonType": "object", "properties": {
                "seo": { "bsonType": "object", "properties": {
                    "title": string(0, 300),
                    "description": string(0, 1000),
                    "keywords": string_array(20, 50),
                } },
            } },
            "engagement": {
                "bsonType": "object",
                "required": ["views", "likes", "comments", "bookmarks"],
                "properties": {
                    "views": non_negative_int(),
                    "likes": non_negative_int(),
                    "comments": non_negative_int(),
                    "bookmarks": non_negative_int(),
                },
            },
            "favoritedBy": { "bsonType": "array", "items": user_id() },
            "publishedAt": { "bsonType": ["date", "null"] },
            "version": { "bsonType": ["int", "long"], "minimum": 1 },
            "changeSeq": non_negative_int(),
            "pendingEvents": { "bsonType": "array", "items": { "bsonType": "object", "required": ["id", "payload"] } },
            "createdEvent": { "bsonType": "object", "required": ["id", "payload"] },
            "eventsDueAt": { "bsonType": "date" },
            "changedAt": { "bsonType": "date" },
            "createdAt": { "bsonType": "date" },
            "updatedAt": { "bsonType": "date" },
        },
    } }
}

pub fn comments_validator() -> Document {
    doc! { "$jsonSchema": {
        "bsonType": "object",
        "required": ["postId", "authorId", "body", "createdAt", "updatedAt"],
        "properties": {
            "postId": { "bsonType": "objectId" },
            "authorId": user_id(),
            "body": string(1, crate::comments::MAX_COMMENT_CHARS),
            "createdAt": { "bsonType": "date" },
            "updatedAt": { "bsonType": "date" },
            "pendingEvents": { "bsonType": "array" },
            "eventsDueAt": { "bsonType": "date" },
            "deadEvents": { "bsonType": "array" },
        },
    } }
}

/// Favorites: the fields of [`crate::favorites`].
pub fn favorites_validator() -> Document {
    doc! { "$jsonSchema": {
        "bsonType": "object",
        "required": ["postId", "userId", "on", "counted", "seq", "at"],
        "properties": {
            "_id": string(26, 60),
            "postId": { "bsonType": "objectId" },
            "userId": user_id(),
            "on": { "bsonType": "bool" },
            "counted": { "bsonType": "bool" },
            "countedSeq": non_negative_int(),
            "seq": non_negative_int(),
            "at": { "bsonType": "date" },
            "pendingEvents": { "bsonType": "array" },
            "eventsDueAt": { "bsonType": "date" },
            "eventAttempts": non_negative_int(),
            "eventError": { "bsonType": "string" },
            "deadEvents": { "bsonType": "array" },
        },
    } }
}

/// Favorite clicks: the fields of [`crate::favorites::click`].
pub fn favorite_clicks_validator() -> Document {
    doc! { "$jsonSchema": {
        "bsonType": "object",
        "required": ["pair", "postId", "userId", "on", "at"],
        "properties": {
            "pair": string(26, 60),
            "postId": { "bsonType": "objectId" },
            "userId": user_id(),
            "on": { "bsonType": "bool" },
            "at": { "bsonType": "date" },
            "pendingEvents": { "bsonType": "array" },
            "eventsDueAt": { "bsonType": "date" },
            "eventAttempts": non_negative_int(),
            "eventError": { "bsonType": "string" },
            "deadEvents": { "bsonType": "array" },
        },
    } }
}

pub fn profiles_validator() -> Document {
    doc! { "$jsonSchema": {
        "bsonType": "object",
        "required": ["userId", "username", "following", "bookmarks", "preferences", "createdAt"],
        "properties": {
            "userId": user_id(),
            "username": string(1, 40),
            "displayName": { "bsonType": ["string", "null"], "maxLength": 100 },
            "bio": { "bsonType": ["string", "null"], "maxLength": 5000 },
            "image": { "bsonType": ["string", "null"], "maxLength": 2048 },
            "following": { "bsonType": "array", "items": user_id() },
            "bookmarks": { "bsonType": "array" },
            "preferences": { "bsonType": "object" },
            "createdAt": { "bsonType": "date" },
        },
    } }
}

pub fn notifications_validator() -> Document {
    doc! { "$jsonSchema": {
        "bsonType": "object",
        "required": ["userId", "type", "read", "createdAt"],
        "properties": {
            "userId": user_id(),
            "type": string(1, 50),
            "read": { "bsonType": "bool" },
            "payload": { "bsonType": "object" },
            "createdAt": { "bsonType": "date" },
        },
    } }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn schema_of(validator: &Document) -> &Document {
        validator.get_document("$jsonSchema").unwrap()
    }

    #[test]
    fn the_posts_validator_knows_exactly_the_fields_of_a_post_document() {
        let validator = posts_validator();
        let schema = schema_of(&validator);
        let known: BTreeSet<String> = schema
            .get_document("properties")
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let written = crate::posts::document::tests::sample().to_bson().unwrap();
        let fields: BTreeSet<String> = written.keys().filter(|k| *k != "_id").cloned().collect();
        assert_eq!(known, fields, "validator properties vs PostDocument fields");
        for required in schema.get_array("required").unwrap() {
            let name = required.as_str().unwrap();
            assert!(
                written.contains_key(name),
                "{name} is required but not written"
            );
        }
        let statuses: Vec<&str> = schema
            .get_document("properties")
            .unwrap()
            .get_document("status")
            .unwrap()
            .get_array("enum")
            .unwrap()
            .iter()
            .filter_map(|s| s.as_str())
            .collect();
        assert_eq!(statuses, ["draft", "published", "archived", "deleted"]);
    }
}
