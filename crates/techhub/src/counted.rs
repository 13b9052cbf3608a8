//! What the content relay does once it has counted comments and favorites into their posts
//! ([`techhub_sync::ContentRelay::after_counting`]): their posts' cached articles are brought up
//! to date in place ([`techhub_api::articles::refresh_counted`]) and their authors' dashboards
//! dropped.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;
use mongodb::bson::oid::ObjectId;
use techhub_cache::entries::keys;
use techhub_cache::Redis;
use techhub_content::Mongo;
use techhub_core::events::{Event, EventPayload};
use techhub_sync::relay::Consumer;

/// Counted comments and favorites → their posts' article entries refreshed, their authors'
/// dashboards dropped. Idempotent: a refresh reads the posts as they are.
pub struct CountedArticles {
    pub redis: Redis,
    pub mongo: Mongo,
}

impl Consumer for CountedArticles {
    fn name(&self) -> &'static str {
        "redis.cache.counted"
    }

    fn wants(&self, payload: &EventPayload) -> bool {
        payload.reaction().is_some()
    }

    fn apply<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move { self.apply_batch(&[event]).await })
    }

    /// One `DEL` of the dashboards, and one refresh (a lease, an `MGET`, one MongoDB read and
    /// one script) of the articles, each once.
    fn apply_batch<'a>(&'a self, events: &'a [&'a Event]) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let mut posts: BTreeMap<String, ObjectId> = BTreeMap::new();
            let mut dropped = BTreeSet::new();
            for r in events.iter().filter_map(|e| e.payload.reaction()) {
                dropped.insert(keys::dashboard(r.author_id));
                match ObjectId::parse_str(&r.post_id) {
                    Ok(id) => {
                        posts.insert(r.slug.clone(), id);
                    }
                    // Not a post id: nothing to read back, so its entry is only dropped.
                    Err(_) => {
                        dropped.insert(keys::article(&r.slug));
                    }
                }
            }
            let dropped: Vec<String> = dropped.into_iter().collect();
            self.redis.invalidate(&dropped).await?;
            let posts: Vec<(ObjectId, String)> =
                posts.into_iter().map(|(slug, id)| (id, slug)).collect();
            techhub_api::articles::refresh_counted(&self.redis, &self.mongo, &posts).await?;
            Ok(())
        })
    }
}
