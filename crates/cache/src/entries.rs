//! Cache-aside entries: a value computed from another store, kept in Redis for a while, and
//! dropped by whoever changes what it was computed from. Values are opaque strings (callers
//! store JSON). Redis being down never fails a read: callers treat an error like a miss.
//!
//! Loading a missing entry can be *claimed* ([`Redis::claim_load`]): a short-lived lock key
//! next to the entry, set only if absent, so that of all the instances missing the same key at
//! once one goes to the stores and the others wait for the entry to appear.

use std::time::Duration;

use redis::AsyncCommands;

use crate::{Redis, RedisError};

/// The keys TechHub caches, in one place so writers and invalidators agree on the names.
pub mod keys {
    /// A published post by slug with its rendered body (the viewer-independent part of
    /// `GET /api/articles/{slug}`). `v3`: the entry's shape changed (the post under its
    /// document's field names), so entries an older server wrote are never read as the new
    /// shape.
    pub fn article(slug: &str) -> String {
        format!("cache:article:v3:{slug}")
    }

    /// A published post's view count as of the last flush to MongoDB, by slug: article reads
    /// show the larger of it and their cached copy's, so a flush need not drop the cached
    /// copies of every post read since the last one (which sent the next reads of all the
    /// popular posts to MongoDB at once, every flush).
    pub fn article_views(slug: &str) -> String {
        format!("cache:article-views:{slug}")
    }

    /// `GET /api/dashboard` of one user.
    pub fn dashboard(user_id: u64) -> String {
        format!("cache:dashboard:{user_id}")
    }

    /// The public profile of the user with exactly this username (`GET /api/profiles/{name}`
    /// without the viewer's `following`).
    pub fn profile(username: &str) -> String {
        format!("cache:profile:{username}")
    }

    /// The public profile of user `id` (authors shown next to posts).
    pub fn user(id: u64) -> String {
        format!("cache:user:{id}")
    }

    /// The claim on loading the entry `key` (see [`super::Redis::claim_load`]).
    pub fn load_claim(key: &str) -> String {
        format!("claim:{key}")
    }
}

/// Deletes the claim only if it still holds this claimant's token (an expired claim taken
/// over by another instance is left alone).
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

impl Redis {
    /// The cached value under `key`, if any.
    pub async fn cached(&self, key: &str) -> Result<Option<String>, RedisError> {
        let mut conn = self.conn();
        self.timed(conn.get(self.key(key))).await
    }

    /// The cached values under `keys`, in order (`None` where missing), in one round trip.
    pub async fn cached_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, RedisError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn();
        let full: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        self.timed(redis::cmd("MGET").arg(full).query_async(&mut conn))
            .await
    }

    /// Caches each `(key, value)` for `ttl`, in one round trip.
    pub async fn cache_many(
        &self,
        entries: &[(String, String)],
        ttl: Duration,
    ) -> Result<(), RedisError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let mut pipe = redis::pipe();
        for (key, value) in entries {
            pipe.set_ex(self.key(key), value, ttl.as_secs().max(1))
                .ignore();
        }
        self.timed(pipe.query_async(&mut conn)).await
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

    /// Claims the loading of `key` for `ttl`: true when this caller holds the claim now (no
    /// other instance does). `token` identifies the claimant for [`Redis::release_load`].
    pub async fn claim_load(
        &self,
        key: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, RedisError> {
        let mut conn = self.conn();
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::PX(ttl.as_millis().max(1) as u64));
        let set: Option<String> = self
            .timed(conn.set_options(self.key(&keys::load_claim(key)), token, options))
            .await?;
        Ok(set.is_some())
    }

    /// Gives up the claim on `key` taken with `token` (after the entry was cached, or the load
    /// failed), so a waiting instance stops waiting.
    pub async fn release_load(&self, key: &str, token: &str) -> Result<(), RedisError> {
        let mut conn = self.conn();
        let script = redis::Script::new(RELEASE);
        let mut invocation = script.key(self.key(&keys::load_claim(key)));
        invocation.arg(token);
        self.timed(invocation.invoke_async::<i64>(&mut conn))
            .await
            .map(|_| ())
    }

    /// The entry under `key` and whether some instance holds the claim on loading it, in one
    /// round trip.
    pub async fn peek(&self, key: &str) -> Result<(Option<String>, bool), RedisError> {
        let mut conn = self.conn();
        let mut pipe = redis::pipe();
        pipe.get(self.key(key))
            .exists(self.key(&keys::load_claim(key)));
        self.timed(pipe.query_async(&mut conn)).await
    }

    /// Drops every cached entry (keys under `cache:`), e.g. after a bulk load changed the
    /// stores behind them. Returns how many were dropped.
    pub async fn drop_all_cached(&self) -> Result<u64, RedisError> {
        let mut conn = self.conn();
        let pattern = self.key("cache:*");
        let mut cursor: u64 = 0;
        let mut dropped = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .timed(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1_000)
                        .query_async(&mut conn),
                )
                .await?;
            if !keys.is_empty() {
                dropped += self.timed(conn.del::<_, u64>(keys)).await?;
            }
            if next == 0 {
                return Ok(dropped);
            }
            cursor = next;
        }
    }
}
