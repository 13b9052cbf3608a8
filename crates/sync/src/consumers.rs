//! The consumers of outbox events. Each lives with the store it writes to; these adapters
//! only route events to them.

use std::sync::Arc;

use futures::future::BoxFuture;
use techhub_cache::Redis;
use techhub_content::Mongo;
use techhub_core::events::{Event, EventPayload};
use techhub_learning::Postgres;

use crate::mail::{render, MailSender};
use crate::relay::Consumer;

/// `user.registered` / `user.updated` → the PostgreSQL `user_analytics` row.
pub struct AnalyticsProjection(pub Postgres);

impl Consumer for AnalyticsProjection {
    fn name(&self) -> &'static str {
        "postgres.user_analytics"
    }

    fn wants(&self, payload: &EventPayload) -> bool {
        payload.user_snapshot().is_some()
    }

    fn apply<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            if let Some(user) = event.payload.user_snapshot() {
                techhub_learning::analytics::apply_user_snapshot(
                    &self.0,
                    self.name(),
                    event.id,
                    user,
                )
                .await?;
            }
            Ok(())
        })
    }
}

/// `user.registered` / `user.updated` → the MongoDB `user_profiles` document.
pub struct ProfileProjection(pub Mongo);

impl Consumer for ProfileProjection {
    fn name(&self) -> &'static str {
        "mongodb.user_profiles"
    }

    fn wants(&self, payload: &EventPayload) -> bool {
        payload.user_snapshot().is_some()
    }

    fn apply<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            if let Some(user) = event.payload.user_snapshot() {
                techhub_content::profiles::apply_user_snapshot(&self.0, event.id, user).await?;
            }
            Ok(())
        })
    }
}

/// `email.requested` → the mail sender, keyed by the event id.
pub struct Mailer {
    pub sender: Arc<dyn MailSender>,
    pub public_url: String,
}

impl Consumer for Mailer {
    fn name(&self) -> &'static str {
        "mail"
    }

    fn wants(&self, payload: &EventPayload) -> bool {
        matches!(payload, EventPayload::EmailRequested(_))
    }

    fn apply<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            if let EventPayload::EmailRequested(request) = &event.payload {
                self.sender
                    .send(event.id, &render(request, &self.public_url))
                    .await?;
            }
            Ok(())
        })
    }
}

/// Post events, likes and comments → the PostgreSQL activity log of whose activity it is (the
/// author; the commenter for comments), its per-kind counters, and that user's engagement score.
/// A batch is one transaction ([`techhub_learning::activity::record_all`]).
pub struct ActivityLog(pub Postgres);

impl ActivityLog {
    /// What the event records in the log, if it is an activity.
    fn activity(event: &Event) -> Option<techhub_learning::activity::Activity<'_>> {
        let (user_id, subject) = event.payload.activity()?;
        let details = match &event.payload {
            EventPayload::PostLiked(r) | EventPayload::CommentCreated(r) => serde_json::json!({
                "slug": r.slug, "authorId": r.author_id, "actorId": r.actor_id,
            }),
            other => {
                let post = other.post_snapshot().expect("post events carry a snapshot");
                serde_json::json!({
                    "slug": post.slug, "title": post.title, "tags": post.tags,
                    "status": post.status, "version": post.version,
                })
            }
        };
        Some(techhub_learning::activity::Activity {
            event_id: event.id,
            user_id,
            kind: event.payload.event_type(),
            subject_id: subject,
            details,
            occurred_at: event.occurred_at,
        })
    }
}

impl Consumer for ActivityLog {
    fn name(&self) -> &'static str {
        "postgres.activity_events"
    }

    fn wants(&self, payload: &EventPayload) -> bool {
        payload.activity().is_some()
    }

    fn apply<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            if let Some(activity) = Self::activity(event) {
                techhub_learning::activity::record(&self.0, &activity).await?;
            }
            Ok(())
        })
    }

    fn apply_batch<'a>(&'a self, events: &'a [&'a Event]) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let activities: Vec<_> = events.iter().filter_map(|e| Self::activity(e)).collect();
            techhub_learning::activity::record_all(&self.0, &activities).await?;
            Ok(())
        })
    }
}

/// Favorites counted into their posts → nudge this server's search index: its lists of what
/// a user favorited follow the posts' `favoritedBy`, which moved without a request of this
/// server waking the index.
pub struct IndexNudge(pub Arc<tokio::sync::Notify>);

impl Consumer for IndexNudge {
    fn name(&self) -> &'static str {
        "search.nudge"
    }

    fn wants(&self, payload: &EventPayload) -> bool {
        matches!(
            payload,
            EventPayload::PostLiked(_) | EventPayload::PostUnliked(_)
        )
    }

    fn apply<'a>(&'a self, _: &'a Event) -> BoxFuture<'a, anyhow::Result<()>> {
        self.0.notify_one();
        Box::pin(async { Ok(()) })
    }
}

/// Post, profile and subscription events → drop the Redis cache entries computed from what
/// changed (the post, the user's dashboard and profile). Deleting a key is idempotent.
pub struct CacheInvalidation(pub Redis);

impl CacheInvalidation {
    /// The cache keys a post event makes stale.
    pub fn keys_for(payload: &EventPayload) -> Vec<String> {
        use techhub_cache::entries::keys;
        if let Some(post) = payload.post_snapshot() {
            return vec![keys::dashboard(post.author_id), keys::article(&post.slug)];
        }
        if let Some(r) = payload.reaction() {
            return vec![keys::dashboard(r.author_id), keys::article(&r.slug)];
        }
        match payload {
            EventPayload::UserRegistered(u) | EventPayload::UserUpdated(u) => {
                let mut stale = vec![
                    keys::dashboard(u.user_id),
                    keys::user(u.user_id),
                    keys::account(u.user_id),
                    keys::profile(&u.username),
                ];
                stale.extend(u.previous_username.as_deref().map(keys::profile));
                stale
            }
            EventPayload::SubscriptionChanged(s) => vec![keys::dashboard(s.user_id)],
            _ => Vec::new(),
        }
    }

    /// The union of [`CacheInvalidation::keys_for`] of `events`, each key once, in the order
    /// first met.
    pub fn keys_for_all(events: &[&Event]) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        events
            .iter()
            .flat_map(|e| Self::keys_for(&e.payload))
            .filter(|key| seen.insert(key.clone()))
            .collect()
    }
}

impl Consumer for CacheInvalidation {
    fn name(&self) -> &'static str {
        "redis.cache"
    }

    fn wants(&self, payload: &EventPayload) -> bool {
        !Self::keys_for(payload).is_empty()
    }

    fn apply<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.0.invalidate(&Self::keys_for(&event.payload)).await?;
            Ok(())
        })
    }

    /// One `DEL` of every key the batch makes stale, each once.
    fn apply_batch<'a>(&'a self, events: &'a [&'a Event]) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.0.invalidate(&Self::keys_for_all(events)).await?;
            Ok(())
        })
    }
}

/// [`CacheInvalidation`] as the content relay delivers events, without favorites and
/// comments: those change their post only when the relay counts them, and the post's entries
/// follow then (the relay's consumers after counting). Dropping them on every click's delivery
/// made each favorite of a popular post a cache miss, and a read of the post from MongoDB, for
/// nothing; a comment's dropped them twice, a few milliseconds apart.
pub struct DeliveredInvalidation(pub CacheInvalidation);

impl Consumer for DeliveredInvalidation {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn wants(&self, payload: &EventPayload) -> bool {
        payload.reaction().is_none() && self.0.wants(payload)
    }

    fn apply<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, anyhow::Result<()>> {
        self.0.apply(event)
    }

    fn apply_batch<'a>(&'a self, events: &'a [&'a Event]) -> BoxFuture<'a, anyhow::Result<()>> {
        self.0.apply_batch(events)
    }
}

#[cfg(test)]
mod tests {
    use techhub_cache::entries::keys;
    use techhub_core::events::{Event, EventPayload, Reaction, UserSnapshot};

    use super::CacheInvalidation;

    fn user(previous_username: Option<&str>) -> UserSnapshot {
        UserSnapshot {
            user_id: 7,
            version: 2,
            username: "lovelace".into(),
            email: "ada@example.com".into(),
            bio: None,
            image: None,
            timezone: "UTC".into(),
            previous_username: previous_username.map(str::to_string),
        }
    }

    #[test]
    fn a_rename_drops_the_profile_under_both_names() {
        let keys_for = CacheInvalidation::keys_for;
        assert_eq!(
            keys_for(&EventPayload::UserUpdated(user(Some("ada")))),
            vec![
                keys::dashboard(7),
                keys::user(7),
                keys::account(7),
                keys::profile("lovelace"),
                keys::profile("ada")
            ]
        );
        assert_eq!(
            keys_for(&EventPayload::UserUpdated(user(None))),
            vec![
                keys::dashboard(7),
                keys::user(7),
                keys::account(7),
                keys::profile("lovelace")
            ]
        );
    }

    #[test]
    fn a_batch_drops_each_stale_key_once() {
        let like = |slug: &str, author_id| {
            Event::new(EventPayload::PostLiked(Reaction {
                post_id: format!("{slug}-id"),
                slug: slug.into(),
                author_id,
                actor_id: 9,
            }))
        };
        let (a, b, c) = (like("a", 1), like("b", 1), like("a", 2));
        let keys = CacheInvalidation::keys_for_all(&[&a, &b, &c, &a]);
        assert_eq!(
            keys,
            vec![
                keys::dashboard(1),
                keys::article("a"),
                keys::article("b"),
                keys::dashboard(2),
            ]
        );
    }

    #[test]
    fn a_snapshot_written_before_renames_were_recorded_still_reads() {
        let old = serde_json::json!({
            "user_id": 7, "version": 1, "username": "ada", "email": "ada@example.com",
            "bio": null, "image": null, "timezone": "UTC"
        });
        let snapshot: UserSnapshot = serde_json::from_value(old).unwrap();
        assert_eq!(snapshot.previous_username, None);
    }
}
