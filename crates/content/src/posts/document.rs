//! The post document: the one description of what a post in the `posts` collection holds.
//! [`Post`] is the part reads return, and what the article cache holds, under the same field
//! names; [`PostDocument`] is the whole document as it is inserted, with the fields only
//! writers, the content relay and the search index's change feed use. The `$jsonSchema`
//! validator ([`crate::schema::posts_validator`]) describes these same fields: a test below
//! checks that it knows exactly the fields a `PostDocument` has, so the validator, the writers,
//! the seed and the readers cannot disagree on a name.

use mongodb::bson::{oid::ObjectId, Bson, DateTime, Document};
use serde::{Deserialize, Serialize};
use techhub_core::domain::PostStatus;
use techhub_core::events::Event;

use crate::MongoError;

/// Largest post body accepted, in characters.
pub const MAX_BODY_CHARS: i64 = 100_000;
/// Longest title accepted, in characters.
pub const MAX_TITLE_CHARS: i64 = 200;
/// Longest description accepted, in characters.
pub const MAX_DESCRIPTION_CHARS: i64 = 1_000;
/// Most tags (and most categories) a post may carry.
pub const MAX_TAGS: i64 = 10;
/// Longest tag (and category) accepted, in characters.
pub const MAX_TAG_CHARS: i64 = 50;
/// Difficulty levels.
pub const DIFFICULTIES: [&str; 3] = ["beginner", "intermediate", "advanced"];

/// A post as reads return it: everything but who favorited it and the events it carries.
/// Lists read it without the body (left empty).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Post {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub slug: String,
    pub title: String,
    pub description: String,
    #[serde(default)]
    pub body: String,
    pub author_id: u64,
    pub status: PostStatus,
    pub tags: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    /// One of [`DIFFICULTIES`].
    #[serde(default)]
    pub difficulty: Option<String>,
    /// Minutes, at 200 words a minute.
    #[serde(default)]
    pub estimated_read_time: i64,
    #[serde(default)]
    pub metadata: Metadata,
    /// `likes` is the favorites count: it moves in the same update as `favoritedBy`, when the
    /// relay counts favorites (see [`crate::favorites`]).
    pub engagement: Engagement,
    pub published_at: Option<DateTime>,
    /// Increases with every change (optimistic concurrency).
    pub version: i64,
    /// Increases with every change search cares about (each one that stamps `changedAt`):
    /// a writer reads their own writes by comparing it with the one the index shows.
    #[serde(default)]
    pub change_seq: i64,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub seo: Seo,
}

/// Search-engine metadata: defaults from the title, description and tags.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seo {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub keywords: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Engagement {
    #[serde(default)]
    pub views: i64,
    #[serde(default)]
    pub likes: i64,
    #[serde(default)]
    pub comments: i64,
    #[serde(default)]
    pub bookmarks: i64,
}

/// A whole post document, as it is inserted.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostDocument {
    #[serde(flatten)]
    pub post: Post,
    /// Who favorited it, as counted from their favorite documents (`engagement.likes` counts
    /// them; see [`crate::favorites`]).
    pub favorited_by: Vec<u64>,
    /// Events not yet delivered by the content relay, oldest first (see [`event_bson`]).
    pub pending_events: Vec<Bson>,
    /// When the relay should deliver `pending_events`; absent when there are none (the
    /// index that finds due posts is sparse).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_due_at: Option<DateTime>,
    /// A new post's `post.created`, delivered by the relay that follows the change stream
    /// (see [`super::created`]) and kept, as the post's record of its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_event: Option<Bson>,
    /// When search last had a reason to look at the post: the index's change feed.
    pub changed_at: DateTime,
}

impl Post {
    /// A post read from MongoDB; a document of another shape is [`MongoError::Corrupt`].
    pub(crate) fn from_document(d: Document) -> Result<Self, MongoError> {
        let id = d.get("_id").cloned();
        mongodb::bson::from_document(d)
            .map_err(|e| MongoError::Corrupt(format!("post {id:?}: {e}")))
    }

    /// The favorites count (`engagement.likes`).
    pub fn favorites_count(&self) -> i64 {
        self.engagement.likes
    }
}

impl PostDocument {
    /// The document to insert, in BSON.
    pub fn to_bson(&self) -> Result<Document, MongoError> {
        mongodb::bson::to_document(self)
            .map_err(|e| MongoError::Corrupt(format!("post {}: {e}", self.post.id)))
    }
}

/// Reading time in minutes at 200 words a minute, at least 1.
pub fn estimated_read_time(body: &str) -> i64 {
    let words = body.split_whitespace().count() as i64;
    ((words + 199) / 200).max(1)
}

/// How a pending event is stored inside the post document.
pub(crate) fn event_bson(event: &Event) -> Bson {
    let json = serde_json::to_value(event).expect("events serialize");
    mongodb::bson::to_bson(&json).expect("JSON converts to BSON")
}

/// A pending event as the post document stores it, or why it cannot be read.
pub(crate) fn event_from_bson(b: &Bson) -> Result<Event, String> {
    let json = b.clone().into_relaxed_extjson();
    serde_json::from_value(json).map_err(|e| format!("unreadable pending event: {e}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use techhub_core::events::{EventPayload, Reaction};

    pub(crate) fn sample() -> PostDocument {
        let now = DateTime::from_millis(1_700_000_000_000);
        let mut sample = PostDocument {
            post: Post {
                id: ObjectId::from_bytes([7; 12]),
                slug: "hello-abc123".into(),
                title: "Hello".into(),
                description: "A greeting".into(),
                body: "Hi *there*".into(),
                author_id: 42,
                status: PostStatus::Published,
                tags: vec!["rust".into()],
                categories: vec!["intro".into()],
                difficulty: Some("beginner".into()),
                estimated_read_time: 1,
                metadata: Metadata {
                    seo: Seo {
                        title: "Hello".into(),
                        description: "A greeting".into(),
                        keywords: vec!["rust".into()],
                    },
                },
                engagement: Engagement {
                    views: 3,
                    likes: 1,
                    comments: 0,
                    bookmarks: 0,
                },
                published_at: Some(now),
                version: 1,
                change_seq: 1,
                created_at: now,
                updated_at: now,
            },
            favorited_by: vec![9],
            pending_events: vec![event_bson(&Event::new(EventPayload::PostLiked(Reaction {
                post_id: "07".repeat(12),
                slug: "hello-abc123".into(),
                author_id: 42,
                actor_id: 9,
            })))],
            events_due_at: Some(now),
            created_event: None,
            changed_at: now,
        };
        let created = super::super::writes::snapshot(&sample.post);
        sample.created_event = Some(event_bson(&Event::new(EventPayload::PostCreated(created))));
        sample
    }

    #[test]
    fn a_document_round_trips_through_bson_and_reads_back_as_its_post() {
        let doc = sample();
        let bson = doc.to_bson().unwrap();
        assert_eq!(bson.get_i64("authorId").unwrap(), 42, "ids are BSON longs");
        assert_eq!(bson.get_str("status").unwrap(), "published");
        assert_eq!(
            bson.get_document("metadata")
                .unwrap()
                .get_document("seo")
                .unwrap()
                .get_str("title")
                .unwrap(),
            "Hello"
        );
        assert_eq!(Post::from_document(bson).unwrap(), doc.post);
    }

    #[test]
    fn the_article_cache_holds_the_post_in_json_and_reads_it_back() {
        let post = sample().post;
        let json = serde_json::to_string(&post).unwrap();
        assert!(json.contains("\"authorId\":42"), "{json}");
        assert_eq!(serde_json::from_str::<Post>(&json).unwrap(), post);
    }

    #[test]
    fn a_list_read_without_the_body_still_parses_and_a_foreign_shape_is_corrupt() {
        let mut bson = sample().to_bson().unwrap();
        bson.remove("body");
        assert_eq!(Post::from_document(bson.clone()).unwrap().body, "");
        bson.insert("status", "sideways");
        assert!(matches!(
            Post::from_document(bson),
            Err(MongoError::Corrupt(_))
        ));
    }

    #[test]
    fn events_round_trip_through_their_stored_form() {
        let event = Event::new(EventPayload::PostLiked(Reaction {
            post_id: "p".into(),
            slug: "s".into(),
            author_id: 1,
            actor_id: 2,
        }));
        assert_eq!(event_from_bson(&event_bson(&event)).unwrap(), event);
        assert!(event_from_bson(&Bson::String("x".into())).is_err());
    }

    #[test]
    fn reading_time_is_200_words_a_minute_and_at_least_one() {
        assert_eq!(estimated_read_time(""), 1);
        assert_eq!(estimated_read_time(&"word ".repeat(200)), 1);
        assert_eq!(estimated_read_time(&"word ".repeat(201)), 2);
    }
}
