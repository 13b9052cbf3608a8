//! Article view counts, from Redis to MongoDB. Reads count views in Redis (see
//! `techhub_cache::counters`); [`flush_views`] moves the gathered counts onto the posts'
//! `engagement.views` in batches, and leaves each post's new total in Redis
//! (`cache:article-views:<slug>`) for article reads, which show it over their cached copy's
//! older count.

use std::time::Duration;

use mongodb::bson::oid::ObjectId;
use techhub_cache::entries::keys;
use techhub_cache::Redis;
use techhub_content::posts::{add_to_counter, Counter};
use techhub_content::Mongo;

/// Posts taken from Redis per batch.
const BATCH: usize = 500;

/// How long a flushed view total stays in Redis for article reads (longer than any cached
/// article lives).
const VIEW_TOTAL_TTL: Duration = Duration::from_secs(86_400);

/// Moves the article view counts gathered in Redis to MongoDB. Returns how many views moved.
/// A count taken from Redis whose MongoDB update then fails is lost: view counts trade that
/// small loss for cheap reads.
pub async fn flush_views(redis: &Redis, mongo: &Mongo) -> anyhow::Result<i64> {
    let mut moved = 0;
    loop {
        let batch = redis.take_views(BATCH).await?;
        if batch.is_empty() {
            return Ok(moved);
        }
        let mut totals = Vec::with_capacity(batch.len());
        for (id, views) in batch {
            let Ok(id) = ObjectId::parse_str(&id) else {
                continue;
            };
            if let Some((slug, total)) = add_to_counter(mongo, id, Counter::Views, views).await? {
                totals.push((keys::article_views(&slug), total.to_string()));
            }
            moved += views;
        }
        // Best effort: without them a cached copy's count shows until its TTL ends.
        let _ = redis.cache_many(&totals, VIEW_TOTAL_TTL).await;
    }
}
