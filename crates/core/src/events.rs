//! Domain events: what one store tells the others. Each is written to an outbox in the same
//! transaction as the change it describes, and delivered at least once to every consumer;
//! consumers use [`Event::id`] to apply each event once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An event with its identity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub payload: EventPayload,
}

impl Event {
    pub fn new(payload: EventPayload) -> Self {
        Event {
            id: Uuid::now_v7(),
            occurred_at: Utc::now(),
            payload,
        }
    }
}

/// The facts TechHub publishes. The serde tag is the `event_type` column of the outbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum EventPayload {
    /// A user registered: PostgreSQL creates the analytics row, MongoDB the content profile.
    #[serde(rename = "user.registered")]
    UserRegistered(UserSnapshot),
    /// A user's public profile or email changed: the content profile follows.
    #[serde(rename = "user.updated")]
    UserUpdated(UserSnapshot),
    /// An email must be sent.
    #[serde(rename = "email.requested")]
    EmailRequested(EmailRequest),
    /// A subscription was created, changed, renewed, cancelled or expired.
    #[serde(rename = "subscription.changed")]
    SubscriptionChanged(SubscriptionSnapshot),
    /// A post was written (draft or published). Carried in the post's MongoDB document.
    #[serde(rename = "post.created")]
    PostCreated(PostSnapshot),
    /// A post was edited; `status` tells whether it is (still) published.
    #[serde(rename = "post.updated")]
    PostUpdated(PostSnapshot),
    /// A post went from draft (or archived) to published.
    #[serde(rename = "post.published")]
    PostPublished(PostSnapshot),
    /// A post was deleted by its author.
    #[serde(rename = "post.deleted")]
    PostDeleted(PostSnapshot),
    /// Someone favorited a post (a like received by its author).
    #[serde(rename = "post.liked")]
    PostLiked(Reaction),
    /// Someone removed their favorite of a post. Not an activity: it tells the post's
    /// favorites count and cached copies to follow.
    #[serde(rename = "post.unliked")]
    PostUnliked(Reaction),
    /// Someone commented on a post.
    #[serde(rename = "comment.created")]
    CommentCreated(Reaction),
}

impl EventPayload {
    /// The event type, as stored in the outbox's `event_type` column.
    pub fn event_type(&self) -> &'static str {
        match self {
            EventPayload::UserRegistered(_) => "user.registered",
            EventPayload::UserUpdated(_) => "user.updated",
            EventPayload::EmailRequested(_) => "email.requested",
            EventPayload::SubscriptionChanged(_) => "subscription.changed",
            EventPayload::PostCreated(_) => "post.created",
            EventPayload::PostUpdated(_) => "post.updated",
            EventPayload::PostPublished(_) => "post.published",
            EventPayload::PostDeleted(_) => "post.deleted",
            EventPayload::PostLiked(_) => "post.liked",
            EventPayload::PostUnliked(_) => "post.unliked",
            EventPayload::CommentCreated(_) => "comment.created",
        }
    }

    /// The aggregate the event is about: `(type, id)`.
    pub fn aggregate(&self) -> (&'static str, String) {
        match self {
            EventPayload::UserRegistered(u) | EventPayload::UserUpdated(u) => {
                ("user", u.user_id.to_string())
            }
            EventPayload::EmailRequested(e) => ("user", e.user_id.to_string()),
            EventPayload::SubscriptionChanged(s) => ("user", s.user_id.to_string()),
            EventPayload::PostCreated(p)
            | EventPayload::PostUpdated(p)
            | EventPayload::PostPublished(p)
            | EventPayload::PostDeleted(p) => ("post", p.post_id.clone()),
            EventPayload::PostLiked(r)
            | EventPayload::PostUnliked(r)
            | EventPayload::CommentCreated(r) => ("post", r.post_id.clone()),
        }
    }

    /// Whose activity the event is, and about what: the author for post changes and likes
    /// received, the commenter for comments.
    pub fn activity(&self) -> Option<(u64, &str)> {
        match self {
            EventPayload::PostCreated(p)
            | EventPayload::PostUpdated(p)
            | EventPayload::PostPublished(p)
            | EventPayload::PostDeleted(p) => Some((p.author_id, &p.post_id)),
            EventPayload::PostLiked(r) => Some((r.author_id, &r.post_id)),
            EventPayload::CommentCreated(r) => Some((r.actor_id, &r.post_id)),
            _ => None,
        }
    }

    /// The post snapshot of a `post.*` event.
    pub fn post_snapshot(&self) -> Option<&PostSnapshot> {
        match self {
            EventPayload::PostCreated(p)
            | EventPayload::PostUpdated(p)
            | EventPayload::PostPublished(p)
            | EventPayload::PostDeleted(p) => Some(p),
            _ => None,
        }
    }

    /// The reaction of a `post.liked`, `post.unliked` or `comment.created` event.
    pub fn reaction(&self) -> Option<&Reaction> {
        match self {
            EventPayload::PostLiked(r)
            | EventPayload::PostUnliked(r)
            | EventPayload::CommentCreated(r) => Some(r),
            _ => None,
        }
    }

    /// The user snapshot of a `user.registered` or `user.updated` event.
    pub fn user_snapshot(&self) -> Option<&UserSnapshot> {
        match self {
            EventPayload::UserRegistered(u) | EventPayload::UserUpdated(u) => Some(u),
            _ => None,
        }
    }

    /// The `data` part alone, as stored in the outbox's `payload` column.
    pub fn data(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("events serialize");
        v.get_mut("data")
            .map(serde_json::Value::take)
            .unwrap_or_default()
    }

    /// Rebuilds a payload from the outbox's `event_type` and `payload` columns.
    pub fn from_parts(
        event_type: &str,
        data: serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        serde_json::from_value(serde_json::json!({ "type": event_type, "data": data }))
    }
}

/// The public state of a user after a change. `version` increases with every change, so a
/// consumer can ignore an older snapshot that arrives after a newer one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSnapshot {
    pub user_id: u64,
    pub version: u32,
    pub username: String,
    pub email: String,
    pub bio: Option<String>,
    pub image: Option<String>,
    pub timezone: String,
    /// The username before this change, when this change renamed the user (so caches keyed
    /// by the old name can be dropped). Absent in events written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_username: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailRequest {
    pub user_id: u64,
    pub to: String,
    pub template: EmailTemplate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EmailTemplate {
    /// Confirm the address with `token` (`POST /api/user/verify`).
    VerifyEmail { username: String, token: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionSnapshot {
    pub user_id: u64,
    pub subscription_id: u64,
    pub plan: crate::plans::Plan,
    pub status: String,
}

/// A post as its events describe it: enough for the activity log and cache keys, without
/// the body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostSnapshot {
    /// The MongoDB `_id`, hex.
    pub post_id: String,
    pub slug: String,
    pub author_id: u64,
    pub title: String,
    pub tags: Vec<String>,
    pub status: crate::domain::PostStatus,
    pub version: i64,
}

/// A reaction to a post: who (`actor_id`) did something to whose (`author_id`) post.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub post_id: String,
    pub slug: String,
    pub author_id: u64,
    pub actor_id: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_through_the_outbox_columns() {
        let payload = EventPayload::UserRegistered(UserSnapshot {
            user_id: 7,
            version: 1,
            username: "ada".into(),
            email: "ada@example.com".into(),
            bio: None,
            image: None,
            timezone: "UTC".into(),
            previous_username: None,
        });
        assert_eq!(payload.event_type(), "user.registered");
        assert_eq!(payload.aggregate(), ("user", "7".to_string()));
        let data = payload.data();
        assert_eq!(data["username"], "ada");
        assert_eq!(
            EventPayload::from_parts("user.registered", data).unwrap(),
            payload
        );
        assert!(EventPayload::from_parts("user.exploded", serde_json::json!({})).is_err());
    }
}
