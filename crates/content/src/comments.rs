//! Comments on posts, in the `comments` collection. A new comment carries its own
//! `comment.created` event (`pendingEvents`, `eventsDueAt`), so adding one is a single insert;
//! its post's `engagement.comments` moves when the content relay delivers that event, in the
//! transaction that removes it ([`crate::posts::comments_counted`]), and back when a counted
//! comment is deleted, in the transaction that deletes it.

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

/// Adds `author_id`'s comment to the post, with its event: one insert, batched with the
/// inserts of other requests (see [`crate::batch`]).
pub async fn add(
    mongo: &Mongo,
    post_id: ObjectId,
    post_slug: &str,
    post_author: u64,
    author_id: u64,
    body: &str,
) -> Result<Comment, MongoError> {
    use techhub_core::events::{Event, EventPayload, Reaction};
    let now = DateTime::now();
    let comment = Comment::new(post_id, author_id, body, now);
    let event = Event::new(EventPayload::CommentCreated(Reaction {
        post_id: post_id.to_hex(),
        slug: post_slug.to_string(),
        author_id: post_author,
        actor_id: author_id,
    }));
    let mut document = comment.to_bson()?;
    document.insert(
        "pendingEvents",
        vec![crate::posts::document::event_bson(&event)],
    );
    document.insert("eventsDueAt", now);
    mongo.insert_batched(COMMENTS, document).await?;
    Ok(comment)
}

/// The post's comments, oldest first.
pub async fn for_post(mongo: &Mongo, post_id: ObjectId) -> Result<Vec<Comment>, MongoError> {
    let comments = mongo.db().collection::<Document>(COMMENTS);
    let docs: Vec<Document> = mongo
        .timed(async {
            comments
                .find(doc! { "postId": post_id })
                .projection(doc! { "pendingEvents": 0, "deadEvents": 0 })
                .sort(doc! { "createdAt": 1, "_id": 1 })
                .await?
                .try_collect()
                .await
        })
        .await?;
    docs.into_iter().map(Comment::from_document).collect()
}

/// Deletes the comment if `author_id` wrote it. A comment already counted (its event
/// delivered) takes its post's count down with it, in one transaction; one not yet counted
/// goes alone, and with it its event: it is never counted.
pub async fn delete(
    mongo: &Mongo,
    post_id: ObjectId,
    comment_id: ObjectId,
    author_id: u64,
) -> Result<Result<(), Refusal>, MongoError> {
    let comments = mongo.db().collection::<Document>(COMMENTS);
    let Some(found) = mongo
        .timed(
            comments
                .find_one(doc! { "_id": comment_id, "postId": post_id })
                .projection(doc! { "pendingEvents": 0, "deadEvents": 0 }),
        )
        .await?
    else {
        return Ok(Err(Refusal::NotFound));
    };
    if Comment::from_document(found)?.author_id != author_id {
        return Ok(Err(Refusal::NotYours));
    }
    // The relay may count it between two tries: the second then finds it counted.
    for _ in 0..2 {
        let uncounted = mongo
            .timed(
                comments
                    .delete_one(doc! { "_id": comment_id, "pendingEvents": { "$exists": true } }),
            )
            .await?;
        if uncounted.deleted_count == 1 {
            return Ok(Ok(()));
        }
        let db = mongo.db().clone();
        let counted = mongo
            .transaction(move |session| {
                let db = db.clone();
                Box::pin(async move {
                    let deleted = db
                        .collection::<Document>(COMMENTS)
                        .delete_one(
                            doc! { "_id": comment_id, "pendingEvents": { "$exists": false } },
                        )
                        .session(&mut *session)
                        .await?;
                    if deleted.deleted_count == 0 {
                        return Ok(None);
                    }
                    db.collection::<Document>(POSTS)
                        .update_one(
                            doc! { "_id": post_id },
                            doc! { "$inc": { "engagement.comments": -1_i64 } },
                        )
                        .session(&mut *session)
                        .await?;
                    Ok(Some(()))
                })
            })
            .await?;
        if counted.is_some() {
            return Ok(Ok(()));
        }
    }
    // Deleted meanwhile by another request.
    Ok(Ok(()))
}
