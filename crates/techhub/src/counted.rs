//! What the content relay does once it has counted comments and favorites into their posts
//! ([`techhub_sync::ContentRelay::after_counting`]): their posts' cached articles are brought up
//! to date in place ([`techhub_api::articles::refresh_counted`]) and their authors' dashboards
//! dropped.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use mongodb::bson::oid::ObjectId;
use techhub_cache::entries::keys;
use techhub_cache::Redis;
use techhub_content::Mongo;
use techhub_core::events::{Event, EventPayload, Reaction};
use techhub_sync::relay::Consumer;

/// Counted comments and favorites → their posts' article entries refreshed, their authors'
/// dashboards dropped. Idempotent: a refresh reads the posts as they are.
pub struct CountedArticles {
    pub redis: Redis,
    pub mongo: Mongo,
}

fn reaction(payload: &EventPayload) -> Option<&Reaction> {
    match payload {
        EventPayload::PostLiked(r)
        | EventPayload::PostUnliked(r)
        | EventPayload::CommentCreated(r) => Some(r),
        _ => None,
    }
}

impl Consumer for CountedArticles {
    fn name(&self) -> &'static str {
        "redis.cache.counted"
    }

    fn wants(&self, payload: &EventPayload) -> bool {
        reaction(payload).is_some()
    }

    fn apply<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move { self.apply_batch(&[event]).await })
    }

    /// One `DEL` of the dashboards, and one refresh (a lease, an `MGET`, one MongoDB read and
    /// one script) of the articles, each once.
    fn apply_batch<'a>(&'a self, events: &'a [&'a Event]) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let mut posts: BTreeMap<String, ObjectId> = BTreeMap::new();
            let mut dashboards = Vec::new();
            for r in events.iter().filter_map(|e| reaction(&e.payload)) {
                let dashboard = keys::dashboard(r.author_id);
                if !dashboards.contains(&dashboard) {
                    dashboards.push(dashboard);
                }
                match ObjectId::parse_str(&r.post_id) {
                    Ok(id) => {
                        posts.insert(r.slug.clone(), id);
                    }
                    // Not a post id: nothing to read back, so its entry is only dropped.
                    Err(_) => dashboards.push(keys::article(&r.slug)),
                }
            }
            self.redis.invalidate(&dashboards).await?;
            let posts: Vec<(ObjectId, String)> =
                posts.into_iter().map(|(slug, id)| (id, slug)).collect();
            techhub_api::articles::refresh_counted(&self.redis, &self.mongo, &posts).await?;
            Ok(())
        })
    }
}
