//! Comments on posts, in the `comments` collection. A post's `engagement.comments` counter
//! moves with each comment that is added or removed.

use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};

use crate::posts::Refusal;
use crate::schema::{COMMENTS, POSTS};
use crate::{Mongo, MongoError};

/// Longest comment accepted, in characters.
pub const MAX_COMMENT_CHARS: i64 = 10_000;

#[derive(Clone, Debug, PartialEq)]
pub struct Comment {
    pub id: ObjectId,
    pub post_id: ObjectId,
    pub author_id: u64,
    pub body: String,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

impl Comment {
    fn from_doc(d: &Document) -> Result<Self, MongoError> {
        let corrupt = |e: mongodb::bson::document::ValueAccessError| {
            MongoError::Corrupt(format!("comment: {e}"))
        };
        Ok(Comment {
            id: d.get_object_id("_id").map_err(corrupt)?,
            post_id: d.get_object_id("postId").map_err(corrupt)?,
            author_id: d.get_i64("authorId").map_err(corrupt)? as u64,
            body: d.get_str("body").map_err(corrupt)?.to_string(),
            created_at: *d.get_datetime("createdAt").map_err(corrupt)?,
            updated_at: *d.get_datetime("updatedAt").map_err(corrupt)?,
        })
    }
}

pub async fn add(
    mongo: &Mongo,
    post_id: ObjectId,
    post_slug: &str,
    post_author: u64,
    author_id: u64,
    body: &str,
) -> Result<Comment, MongoError> {
    let now = DateTime::now();
    let comment = doc! { "postId": post_id, "authorId": author_id as i64, "body": body, "createdAt": now, "updatedAt": now };
    let comments = mongo.db().collection::<Document>(COMMENTS);
    let id = mongo
        .timed(comments.insert_one(comment))
        .await?
        .inserted_id
        .as_object_id()
        .ok_or_else(|| MongoError::Corrupt("comment id is not an ObjectId".into()))?;
    // The counter and the comment's event move together, in one update of the post.
    let posts = mongo.db().collection::<Document>(POSTS);
    let event = techhub_core::events::Event::new(
        techhub_core::events::EventPayload::CommentCreated(techhub_core::events::Reaction {
            post_id: post_id.to_hex(),
            slug: post_slug.to_string(),
            author_id: post_author,
            actor_id: author_id,
        }),
    );
    mongo
        .timed(posts.update_one(
            doc! { "_id": post_id },
            doc! {
                "$inc": { "engagement.comments": 1_i64 },
                "$push": { "pendingEvents": crate::posts::document::event_bson(&event) },
                "$set": { "eventsDueAt": now },
            },
        ))
        .await?;
    Ok(Comment {
        id,
        post_id,
        author_id,
        body: body.to_string(),
        created_at: now,
        updated_at: now,
    })
}

/// The post's comments, oldest first.
pub async fn for_post(mongo: &Mongo, post_id: ObjectId) -> Result<Vec<Comment>, MongoError> {
    let comments = mongo.db().collection::<Document>(COMMENTS);
    let docs: Vec<Document> = mongo
        .timed(async {
            comments
                .find(doc! { "postId": post_id })
                .sort(doc! { "createdAt": 1, "_id": 1 })
                .await?
                .try_collect()
                .await
        })
        .await?;
    docs.iter().map(Comment::from_doc).collect()
}

/// Deletes the comment if `author_id` wrote it.
pub async fn delete(
    mongo: &Mongo,
    post_id: ObjectId,
    comment_id: ObjectId,
    author_id: u64,
) -> Result<Result<(), Refusal>, MongoError> {
    let comments = mongo.db().collection::<Document>(COMMENTS);
    let Some(found) = mongo
        .timed(comments.find_one(doc! { "_id": comment_id, "postId": post_id }))
        .await?
    else {
        return Ok(Err(Refusal::NotFound));
    };
    if Comment::from_doc(&found)?.author_id != author_id {
        return Ok(Err(Refusal::NotYours));
    }
    let deleted = mongo
        .timed(comments.delete_one(doc! { "_id": comment_id }))
        .await?;
    if deleted.deleted_count == 1 {
        let posts = mongo.db().collection::<Document>(POSTS);
        mongo
            .timed(posts.update_one(
                doc! { "_id": post_id },
                doc! { "$inc": { "engagement.comments": -1_i64 } },
            ))
            .await?;
    }
    Ok(Ok(()))
}
