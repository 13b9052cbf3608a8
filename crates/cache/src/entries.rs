//! Cache-aside entries: a value computed from another store, kept in Redis for a while, and
//! dropped by whoever changes what it was computed from. Values are opaque strings (callers
//! store JSON). Redis being down never fails a read: callers treat an error like a miss.
//!
//! Loading a missing entry can be *claimed* ([`Redis::claim_load`]): a short-lived lock key
//! next to the entry, set only if absent, so that of all the instances missing the same key at
//! once one goes to the stores and the others wait for the entry to appear.
//!
//! The claim is also the loader's *lease* on the entry: [`Redis::invalidate`] drops the claim
//! with the entry, and a loader caches what it loaded only while its claim still holds
//! ([`Redis::cache_claimed`], [`Redis::cache_leased`]). So a load that read the stores before
//! a write, and would cache its answer after the writer dropped the entry, caches nothing:
//! without the lease that stale copy would be served until it expired. Batch fills (lists)
//! take their leases with [`Redis::lease_many`] before reading the stores.

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

    /// The status of user `id`'s account (`active`, or why it may not write), which every
    /// post written checks. Whatever changes `users.status` must drop it (the user's
    /// `user.updated` event does).
    pub fn account(id: u64) -> String {
        format!("cache:account:{id}")
    }

    /// Whom user `id` follows and what they bookmarked, as their signed-in reads render
    /// articles with (dropped by their follows and bookmarks).
    pub fn viewer(id: u64) -> String {
        format!("cache:viewer:{id}")
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

/// For each (entry, claim) pair in `KEYS`: when the claim still holds the token `ARGV[1]`,
/// caches the pair's value (`ARGV[3]` onwards, in order; empty means nothing to cache) for
/// `ARGV[2]` seconds and gives up the claim. Returns how many entries were cached.
const CACHE_IF_CLAIMED: &str = r#"
local cached = 0
for i = 1, #KEYS, 2 do
  if redis.call('GET', KEYS[i + 1]) == ARGV[1] then
    local value = ARGV[2 + (i + 1) / 2]
    if value ~= '' then
      redis.call('SET', KEYS[i], value, 'EX', ARGV[2])
      cached = cached + 1
    end
    redis.call('DEL', KEYS[i + 1])
  end
end
return cached
"#;

/// The entries a batch fill holds the lease on (see the module docs), taken with one token.
#[derive(Debug)]
pub struct Lease {
    token: String,
    keys: Vec<String>,
}

impl Lease {
    /// The entry keys this lease holds.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }
}

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

    /// Drops the cached values under `keys`, and the claims on loading them so that a load
    /// in flight does not cache what it read before the change (see the module docs).
    pub async fn invalidate(&self, keys: &[String]) -> Result<(), RedisError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let mut pipe = redis::pipe();
        self.drop_entries(&mut pipe, keys);
        self.timed(pipe.query_async(&mut conn)).await
    }

    /// Adds to `pipe` what invalidating `keys` takes: a `DEL` of the entries and one of their
    /// claims (replies ignored).
    pub(crate) fn drop_entries(&self, pipe: &mut redis::Pipeline, keys: &[String]) {
        pipe.del(keys.iter().map(|k| self.key(k)).collect::<Vec<_>>())
            .ignore()
            .del(
                keys.iter()
                    .map(|k| self.key(&keys::load_claim(k)))
                    .collect::<Vec<_>>(),
            )
            .ignore();
    }

    /// Caches `value` under `key` for `ttl` if the claim taken with `token` still holds (no
    /// invalidation dropped it since), and gives up the claim. True when it was cached.
    pub async fn cache_claimed(
        &self,
        key: &str,
        token: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, RedisError> {
        let entry = [(key.to_string(), value.to_string())];
        let cached = self
            .cache_if_claimed(token, &entry, std::slice::from_ref(&entry[0].0), ttl)
            .await?;
        Ok(cached == 1)
    }

    /// Leases the entries `keys` for a batch fill (one round trip): the ones no other loader
    /// has claimed. Cache what was loaded with [`Redis::cache_leased`].
    pub async fn lease_many(&self, keys: &[String], ttl: Duration) -> Result<Lease, RedisError> {
        let token = uuid::Uuid::new_v4().to_string();
        if keys.is_empty() {
            return Ok(Lease {
                token,
                keys: Vec::new(),
            });
        }
        let mut conn = self.conn();
        let mut pipe = redis::pipe();
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::PX(ttl.as_millis().max(1) as u64));
        for key in keys {
            pipe.set_options(self.key(&keys::load_claim(key)), &token, options.clone());
        }
        let set: Vec<Option<String>> = self.timed(pipe.query_async(&mut conn)).await?;
        let keys = keys
            .iter()
            .zip(set)
            .filter(|(_, set)| set.is_some())
            .map(|(key, _)| key.clone())
            .collect();
        Ok(Lease { token, keys })
    }

    /// Caches each of `entries` for `ttl` whose lease still holds, and gives up every lease
    /// in `lease` (the entries not loaded too); returns how many were cached.
    pub async fn cache_leased(
        &self,
        lease: &Lease,
        entries: &[(String, String)],
        ttl: Duration,
    ) -> Result<u64, RedisError> {
        self.cache_if_claimed(&lease.token, entries, &lease.keys, ttl)
            .await
    }

    /// Runs [`CACHE_IF_CLAIMED`] over the claims on `claimed`, with the values `entries`
    /// has for them.
    async fn cache_if_claimed(
        &self,
        token: &str,
        entries: &[(String, String)],
        claimed: &[String],
        ttl: Duration,
    ) -> Result<u64, RedisError> {
        if claimed.is_empty() {
            return Ok(0);
        }
        let values: std::collections::HashMap<&str, &str> = entries
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let script = redis::Script::new(CACHE_IF_CLAIMED);
        let mut invocation = script.prepare_invoke();
        invocation.arg(token).arg(ttl.as_secs().max(1));
        for key in claimed {
            invocation
                .key(self.key(key))
                .key(self.key(&keys::load_claim(key)))
                .arg(values.get(key.as_str()).copied().unwrap_or(""));
        }
        let mut conn = self.conn();
        self.timed(invocation.invoke_async::<u64>(&mut conn)).await
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
