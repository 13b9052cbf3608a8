//! Cache-aside entries: a value computed from another store, kept in Redis for a while, and
//! dropped by whoever changes what it was computed from. Values are opaque strings (callers
//! store JSON). Redis being down never fails a read: callers treat an error like a miss.

use std::time::Duration;

use redis::AsyncCommands;

use crate::{Redis, RedisError};

/// The keys TechHub caches, in one place so writers and invalidators agree on the names.
pub mod keys {
    /// `GET /api/tags`: the response body (tags of published posts, most used first).
    pub const TAGS: &str = "cache:tags:response";

    /// A published post by slug (the viewer-independent part of `GET /api/articles/{slug}`).
    pub fn article(slug: &str) -> String {
        format!("cache:article:{slug}")
    }

    /// `GET /api/dashboard` of one user.
    pub fn dashboard(user_id: u64) -> String {
        format!("cache:dashboard:{user_id}")
    }
}

impl Redis {
    /// The cached value under `key`, if any.
    pub async fn cached(&self, key: &str) -> Result<Option<String>, RedisError> {
        let mut conn = self.conn();
        self.timed(conn.get(self.key(key))).await
    }

    /// Caches `value` under `key` for `ttl`.
    pub async fn cache(&self, key: &str, value: &str, ttl: Duration) -> Result<(), RedisError> {
        let mut conn = self.conn();
        self.timed(conn.set_ex::<_, _, ()>(self.key(key), value, ttl.as_secs().max(1)))
            .await
    }

    /// Drops the cached values under `keys`; returns how many existed.
    pub async fn invalidate(&self, keys: &[String]) -> Result<u64, RedisError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn();
        let full: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        self.timed(conn.del(full)).await
    }
}
