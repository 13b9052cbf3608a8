//! Favorites. A click (a favorite, or taking one back) is a document of its own in
//! `favorite_clicks`, inserted and never changed ([`click`]): the favorite it is about
//! (`pair`, the key below), `on`, `at`, and its event (`post.liked`, `post.unliked`) in
//! `pendingEvents`, due once left alone for [`SETTLE`]. The relay folds clicks in batches
//! ([`crate::posts::favorites_counted`]): in one transaction it moves the favorites they
//! change and their posts' `favoritedBy` and `engagement.likes`, and deletes the clicks. A
//! click that changes nothing (favoriting a post one favorites already, or a click taken back
//! within the same batch) is folded without its event.
//!
//! The favorite itself is one small document per user and post in `favorites` (`_id`
//! `<post hex id>:<user id>`), written only by that fold: whether the user favorites the post
//! (`on`, which the post's projection then counts: `counted`), the post's change number at
//! which that last changed (`countedSeq`), and the time of the last click folded in (`at`).
//! An unfavorited document stays (`on: false`): a copy of its post older than `countedSeq`
//! still counts the user ([`Favorite::counted_in`]).
//!
//! Why a click is an insert: SecantusDB takes a collection's writes one at a time, and an
//! update of a document that pushes an event cost it 113-121 µs, an insert carrying one
//! 30 µs (docs/performance.md). A favorite used to be two such updates (the click's, and the
//! relay's finishing one); it is now an insert, and the relay's share is a delete in bulk,
//! with one update per favorite whose state the batch changed.
//!
//! A reader's own favorite is the favorite as folded with their last click not yet folded
//! ([`Favorite::clicked`]): the API records each click for its user in Redis, next to their
//! other own writes, and reads it back with the favorites (falling back to [`clicks_among`]
//! when Redis cannot say). Counts then include it at once ([`Favorite::adjustment`]); others
//! see it once it is folded, moments later.

use std::collections::HashMap;

use mongodb::bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use techhub_core::domain::FavoriteClick;
use techhub_core::events::{Event, EventPayload, Reaction};

use crate::posts::document::event_bson;
use crate::posts::find_docs_in;
use crate::posts::Post;
use crate::schema::{FAVORITES, FAVORITE_CLICKS};
use crate::{Mongo, MongoError};

/// How long a click waits before the relay folds it into its post: clicks in quick succession
/// (a favorite taken back at once) are mostly folded in one batch, which moves the post once,
/// as they ended, or not at all.
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
    /// When the last click folded into it was made (Unix milliseconds; 0 for none).
    pub at_ms: i64,
}

impl Favorite {
    fn from_document(d: &Document) -> Self {
        Favorite {
            on: d.get_bool("on").unwrap_or(false),
            counted: d.get_bool("counted").unwrap_or(false),
            counted_seq: crate::posts::int(d, "countedSeq"),
            at_ms: d.get_datetime("at").map_or(0, |at| at.timestamp_millis()),
        }
    }

    /// The favorite as its user sees it after `click`, their last: the click decides unless
    /// the favorite already holds a later one (a record of a click outlives its folding).
    pub fn clicked(mut self, click: Option<FavoriteClick>) -> Self {
        if let Some(click) = click.filter(|c| c.at_ms > self.at_ms) {
            self.on = click.on;
        }
        self
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

/// Records `user_id`'s click on `post` (favoriting it when `on`, taking the favorite back
/// otherwise) with its event: one insert, batched with those of other requests (see
/// [`crate::batch`]). Returns the click as its user's reads take it until it is folded.
pub async fn click(
    mongo: &Mongo,
    post: &Post,
    user_id: u64,
    on: bool,
) -> Result<FavoriteClick, MongoError> {
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
    let document = doc! {
        "_id": ObjectId::new(), "pair": key(post.id, user_id), "postId": post.id,
        "userId": user_id as i64, "on": on, "at": now,
        "pendingEvents": [event_bson(&event)], "eventsDueAt": due,
    };
    mongo.insert_batched(FAVORITE_CLICKS, document).await?;
    Ok(FavoriteClick {
        on,
        at_ms: now.timestamp_millis(),
    })
}

/// `user_id`'s favorite of `post_id` as last folded (default: none), read with the reads of
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

/// `user_id`'s favorites among `post_ids` (by post) as last folded, whatever their state: one
/// that is off still adjusts an older copy of its post that counts it.
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
        .projection(doc! { "postId": 1, "on": 1, "counted": 1, "countedSeq": 1, "at": 1 })
        .build();
    let filter = doc! { "_id": { "$in": keys } };
    let docs = find_docs_in(mongo, FAVORITES, filter, options).await?;
    Ok(docs
        .iter()
        .filter_map(|d| Some((d.get_object_id("postId").ok()?, Favorite::from_document(d))))
        .collect())
}

/// `user_id`'s last click not yet folded on each of `post_ids` that has one, read from MongoDB:
/// for when the record of their clicks in Redis cannot be read.
pub async fn clicks_among(
    mongo: &Mongo,
    post_ids: &[ObjectId],
    user_id: u64,
) -> Result<HashMap<ObjectId, FavoriteClick>, MongoError> {
    if post_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let pairs: Vec<String> = post_ids.iter().map(|p| key(*p, user_id)).collect();
    let options = mongodb::options::FindOptions::builder()
        .projection(doc! { "postId": 1, "on": 1, "at": 1 })
        .build();
    let filter = doc! { "pair": { "$in": pairs } };
    let docs = find_docs_in(mongo, FAVORITE_CLICKS, filter, options).await?;
    let mut last: HashMap<ObjectId, FavoriteClick> = HashMap::new();
    for d in &docs {
        let (Ok(post), Ok(on), Ok(at)) = (
            d.get_object_id("postId"),
            d.get_bool("on"),
            d.get_datetime("at"),
        ) else {
            continue;
        };
        let click = FavoriteClick {
            on,
            at_ms: at.timestamp_millis(),
        };
        last.entry(post)
            .and_modify(|c| {
                if click.at_ms >= c.at_ms {
                    *c = click;
                }
            })
            .or_insert(click);
    }
    Ok(last)
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
            at_ms: 0,
        };
        assert!(counted_at_5.counted_in(5) && counted_at_5.counted_in(9));
        assert!(!counted_at_5.counted_in(4));
        assert_eq!(counted_at_5.adjustment(4), 1, "an older copy lacks it");
        assert_eq!(counted_at_5.adjustment(5), 0);
        let pending = Favorite {
            on: true,
            counted: false,
            counted_seq: 0,
            at_ms: 0,
        };
        assert_eq!(pending.adjustment(3), 1);
        let removal_pending = Favorite {
            on: false,
            counted: true,
            counted_seq: 2,
            at_ms: 0,
        };
        assert_eq!(removal_pending.adjustment(3), -1);
        let removal_counted = Favorite {
            on: false,
            counted: false,
            counted_seq: 7,
            at_ms: 0,
        };
        assert_eq!(
            removal_counted.adjustment(6),
            -1,
            "the copy still counts it"
        );
        assert_eq!(removal_counted.adjustment(7), 0);
    }

    #[test]
    fn a_click_decides_unless_the_favorite_folded_a_later_one() {
        let folded_at_100 = Favorite {
            on: true,
            counted: true,
            counted_seq: 3,
            at_ms: 100,
        };
        let off = |at_ms| Some(FavoriteClick { on: false, at_ms });
        assert!(!folded_at_100.clicked(off(101)).on, "a later click decides");
        assert!(
            folded_at_100.clicked(off(100)).on,
            "the favorite holds that click already"
        );
        assert!(folded_at_100.clicked(off(99)).on, "an older click is stale");
        assert!(folded_at_100.clicked(None).on);
        assert!(
            Favorite::default()
                .clicked(Some(FavoriteClick { on: true, at_ms: 1 }))
                .on
        );
    }
}
