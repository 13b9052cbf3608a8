//! Comments on posts, in the `comments` collection. A post's `engagement.comments` counter
//! moves with each comment that is added or removed.

use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use serde::{Deserialize, Serialize};

use crate::posts::Refusal;
use crate::schema::{COMMENTS, POSTS};
use crate::{Mongo, MongoError};

/// Longest comment accepted, in characters.
pub const MAX_COMMENT_CHARS: i64 = 10_000;

/// A comment document, as written and read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub post_id: ObjectId,
    pub author_id: u64,
    pub body: String,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

impl Comment {
    /// A new comment by `author_id` on `post_id`, written at `at`.
    pub fn new(post_id: ObjectId, author_id: u64, body: &str, at: DateTime) -> Self {
        Comment {
            id: ObjectId::new(),
            post_id,
            author_id,
            body: body.to_string(),
            created_at: at,
            updated_at: at,
        }
    }

    pub fn to_bson(&self) -> Result<Document, MongoError> {
        mongodb::bson::to_document(self)
            .map_err(|e| MongoError::Corrupt(format!("comment {}: {e}", self.id)))
    }

    fn from_document(d: Document) -> Result<Self, MongoError> {
        let id = d.get("_id").cloned();
        mongodb::bson::from_document(d)
            .map_err(|e| MongoError::Corrupt(format!("comment {id:?}: {e}")))
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
    let comment = Comment::new(post_id, author_id, body, now);
    // Both batched with the writes of other requests (see [`crate::batch`]); the post is
    // updated only once the comment is in.
    mongo.insert_batched(COMMENTS, comment.to_bson()?).await?;
    // The counter and the comment's event move together, in one update of the post.
    let event = techhub_core::events::Event::new(
        techhub_core::events::EventPayload::CommentCreated(techhub_core::events::Reaction {
            post_id: post_id.to_hex(),
            slug: post_slug.to_string(),
            author_id: post_author,
            actor_id: author_id,
        }),
    );
    mongo
        .update_batched(
            POSTS,
            doc! { "_id": post_id },
            doc! {
                "$inc": { "engagement.comments": 1_i64 },
                "$push": { "pendingEvents": crate::posts::document::event_bson(&event) },
                "$set": { "eventsDueAt": now },
            },
        )
        .await?;
    Ok(comment)
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
    docs.into_iter().map(Comment::from_document).collect()
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
    if Comment::from_document(found)?.author_id != author_id {
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
