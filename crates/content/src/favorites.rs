//! Favorites, in the `favorites` collection: one small document per user and post (`_id`
//! `<post hex id>:<user id>`) says whether the user favorites the post (`on`). It is the fact;
//! the post's `favoritedBy` and `engagement.likes` are its projection, moved by the content
//! relay in batches ([`crate::posts::favorites_counted`]), so a favorite costs one small
//! write, batched with those of other requests, instead of a rewrite of a post that popular
//! posts get hundreds of times a second.
//!
//! Each change bumps `seq` and carries its event (`post.liked`, `post.unliked`) in
//! `pendingEvents`, due once the favorite has been left alone for [`SETTLE`]. The relay
//! delivers the events, then in one transaction moves the posts' projections for the
//! documents still as it read them (same `seq`) and marks them `counted` (whether the post's
//! projection includes the user) at the post's change number `countedSeq`. A reader's own favorites are read from here, so they see their change at once,
//! with counts that include it ([`Favorite::adjustment`]); others see it once it is counted,
//! moments later. An unfavorited document stays (`on: false`): a later favorite reuses it.

use std::collections::HashMap;

use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use techhub_core::events::{Event, EventPayload, Reaction};

use crate::posts::document::event_bson;
use crate::posts::Post;
use crate::schema::FAVORITES;
use crate::{Mongo, MongoError};

/// How long a favorite is left alone before the relay counts it into its post: clicks in quick
/// succession (a favorite taken back at once) are counted once, as they ended, and the relay's
/// transaction does not race its user's next click.
pub const SETTLE: std::time::Duration = std::time::Duration::from_millis(100);

/// The `_id` of `user_id`'s favorite of `post_id`.
pub fn key(post_id: ObjectId, user_id: u64) -> String {
    format!("{}:{user_id}", post_id.to_hex())
}

/// A user's favorite of one post, as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Favorite {
    /// Whether the user favorites the post.
    pub on: bool,
    /// Whether the post's `favoritedBy` and `engagement.likes` include the user.
    pub counted: bool,
    /// The post's `changeSeq` when `counted` last changed (0 when it never did).
    pub counted_seq: i64,
}

impl Favorite {
    fn from_document(d: &Document) -> Self {
        Favorite {
            on: d.get_bool("on").unwrap_or(false),
            counted: d.get_bool("counted").unwrap_or(false),
            counted_seq: crate::posts::int(d, "countedSeq"),
        }
    }

    /// Whether a copy of the post at change number `seq` counts this favorite: a copy older
    /// than the last change of `counted` holds the other state. Read the post before the
    /// favorite: a copy can then be at most one change behind.
    pub fn counted_in(&self, seq: i64) -> bool {
        if self.counted_seq > seq {
            !self.counted
        } else {
            self.counted
        }
    }

    /// What to add to the favorites count of a copy of the post at `seq` for its reader to
    /// see their own favorite counted (or their removal not): -1, 0 or 1.
    pub fn adjustment(&self, seq: i64) -> i64 {
        self.on as i64 - self.counted_in(seq) as i64
    }
}

/// Sets `user_id`'s favorite of `post` to `on`, in one statement batched with those of other
/// requests (see [`crate::batch`]). Only a change is written (with its event): favoriting a
/// post one favorites already, or removing a favorite one does not have, writes nothing.
pub async fn set(mongo: &Mongo, post: &Post, user_id: u64, on: bool) -> Result<(), MongoError> {
    let now = DateTime::now();
    let due = DateTime::from_millis(now.timestamp_millis() + SETTLE.as_millis() as i64);
    let reaction = Reaction {
        post_id: post.id.to_hex(),
        slug: post.slug.clone(),
        author_id: post.author_id,
        actor_id: user_id,
    };
    let event = Event::new(if on {
        EventPayload::PostLiked(reaction)
    } else {
        EventPayload::PostUnliked(reaction)
    });
    let update = doc! {
        "$set": { "on": on, "at": now, "eventsDueAt": due },
        "$inc": { "seq": 1_i64 },
        "$push": { "pendingEvents": event_bson(&event) },
    };
    let id = key(post.id, user_id);
    if on {
        // A new document, or one that is off; one that is on already makes the insert
        // collide on `_id`: nothing to change.
        let mut update = update;
        update.insert(
            "$setOnInsert",
            doc! { "postId": post.id, "userId": user_id as i64, "counted": false, "countedSeq": 0_i64 },
        );
        match mongo
            .upsert_batched(FAVORITES, doc! { "_id": id, "on": false }, update)
            .await
        {
            Err(e) if e.is_duplicate_key() => Ok(()),
            other => other,
        }
    } else {
        mongo
            .update_batched(FAVORITES, doc! { "_id": id, "on": true }, update)
            .await
    }
}

/// `user_id`'s favorite of `post_id` as it is now (default: none), read with the reads of
/// other requests.
pub async fn one(mongo: &Mongo, post_id: ObjectId, user_id: u64) -> Result<Favorite, MongoError> {
    let found = mongo
        .find_one_batched(
            FAVORITES,
            "_id",
            Bson::String(key(post_id, user_id)),
            crate::batch::Projection::Whole,
        )
        .await?;
    Ok(found
        .as_ref()
        .map(Favorite::from_document)
        .unwrap_or_default())
}

/// `user_id`'s favorites among `post_ids` (by post), whatever their state: one that is off
/// still adjusts an older copy of its post that counts it.
pub async fn among(
    mongo: &Mongo,
    post_ids: &[ObjectId],
    user_id: u64,
) -> Result<HashMap<ObjectId, Favorite>, MongoError> {
    if post_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let keys: Vec<String> = post_ids.iter().map(|p| key(*p, user_id)).collect();
    let options = mongodb::options::FindOptions::builder()
        .projection(doc! { "postId": 1, "on": 1, "counted": 1, "countedSeq": 1 })
        .max_time(mongo.query_timeout())
        .build();
    let docs: Vec<Document> = mongo
        .timed(async {
            mongo
                .db()
                .collection::<Document>(FAVORITES)
                .find(doc! { "_id": { "$in": keys } })
                .with_options(options)
                .await?
                .try_collect()
                .await
        })
        .await?;
    Ok(docs
        .iter()
        .filter_map(|d| Some((d.get_object_id("postId").ok()?, Favorite::from_document(d))))
        .collect())
}

/// Favorite documents for favorites a post's projection already holds (the seed writes
/// `favoritedBy` and these together; the migration derives these from `favoritedBy`).
pub fn counted_documents(post_id: ObjectId, change_seq: i64, users: &[u64]) -> Vec<Document> {
    let at = DateTime::now();
    users
        .iter()
        .map(|u| {
            doc! {
                "_id": key(post_id, *u), "postId": post_id, "userId": *u as i64, "on": true,
                "counted": true, "countedSeq": change_seq, "seq": 1_i64, "at": at,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_older_than_the_count_holds_the_other_state() {
        let counted_at_5 = Favorite {
            on: true,
            counted: true,
            counted_seq: 5,
        };
        assert!(counted_at_5.counted_in(5) && counted_at_5.counted_in(9));
        assert!(!counted_at_5.counted_in(4));
        assert_eq!(counted_at_5.adjustment(4), 1, "an older copy lacks it");
        assert_eq!(counted_at_5.adjustment(5), 0);
        let pending = Favorite {
            on: true,
            counted: false,
            counted_seq: 0,
        };
        assert_eq!(pending.adjustment(3), 1);
        let removal_pending = Favorite {
            on: false,
            counted: true,
            counted_seq: 2,
        };
        assert_eq!(removal_pending.adjustment(3), -1);
        let removal_counted = Favorite {
            on: false,
            counted: false,
            counted_seq: 7,
        };
        assert_eq!(
            removal_counted.adjustment(6),
            -1,
            "the copy still counts it"
        );
        assert_eq!(removal_counted.adjustment(7), 0);
    }
}
