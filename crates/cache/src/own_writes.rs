//! A writer's own recent writes, so that they read them at once on every instance without the
//! write waiting for any search index (read your writes). Each content write that the index
//! lists records, per user, the post and the change number it left the post at
//! ([`Redis::record_own_write`], in the same round trip as the write's cache invalidation);
//! the writer's list, feed and search reads fetch theirs ([`Redis::own_writes`]) and overlay
//! those the local index does not show yet. Entries last [`WINDOW`]: far longer than any index
//! takes to catch up when it is working. Everyone else sees a write when the index shows it.
//!
//! A favorite click also records the click itself, which the writer's
//! reads of their favorites take until the relay folds it ([`Redis::favorite_clicks`]).

use std::collections::HashMap;
use std::time::Duration;

use techhub_core::domain::FavoriteClick;

use crate::{Redis, RedisError};

/// How long a write is overlaid on its writer's reads.
pub const WINDOW: Duration = Duration::from_secs(30);

/// How long a favorite click is kept for its writer's reads: far longer than the relay takes
/// to fold it when it is working. A click outliving its folding does no harm: the favorite
/// then holds it, or a later one.
pub const CLICK_WINDOW: Duration = Duration::from_secs(300);

fn key(user_id: u64) -> String {
    format!("own-writes:{user_id}")
}

fn click_key(user_id: u64, post_id: &str) -> String {
    format!("favorite-click:{user_id}:{post_id}")
}

/// A click as stored: `1:<ms>` or `0:<ms>`.
fn encode(click: FavoriteClick) -> String {
    format!("{}:{}", u8::from(click.on), click.at_ms)
}

fn decode(value: &str) -> Option<FavoriteClick> {
    let (on, at) = value.split_once(':')?;
    Some(FavoriteClick {
        on: match on {
            "1" => true,
            "0" => false,
            _ => return None,
        },
        at_ms: at.parse().ok()?,
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Redis {
    /// Records that `user_id` left post `post_id` (hex) at change number `seq`, with their
    /// favorite `click` on it if that was the write, and drops the cache entries `stale`, in
    /// one round trip.
    pub async fn record_own_write(
        &self,
        user_id: u64,
        post_id: &str,
        seq: i64,
        click: Option<FavoriteClick>,
        stale: &[String],
    ) -> Result<(), RedisError> {
        let now = now_ms();
        let key = self.key(&key(user_id));
        let mut pipe = redis::pipe();
        if !stale.is_empty() {
            // Dropped as [`Redis::invalidate`] drops them, claims with them.
            self.drop_entries(&mut pipe, stale);
        }
        pipe.zadd(&key, format!("{post_id}:{seq}"), now)
            .ignore()
            .zrembyscore(&key, "-inf", now - WINDOW.as_millis() as i64)
            .ignore()
            .pexpire(&key, WINDOW.as_millis() as i64)
            .ignore();
        if let Some(click) = click {
            let ttl = CLICK_WINDOW.as_millis() as u64;
            pipe.pset_ex(self.key(&click_key(user_id, post_id)), encode(click), ttl)
                .ignore();
        }
        let mut conn = self.conn();
        self.timed(pipe.query_async::<()>(&mut conn)).await
    }

    /// `user_id`'s last favorite click on each of `post_ids` (hex) made in the last
    /// [`CLICK_WINDOW`], in their order (`None` where there is none), in one read.
    pub async fn favorite_clicks(
        &self,
        user_id: u64,
        post_ids: &[String],
    ) -> Result<Vec<Option<FavoriteClick>>, RedisError> {
        if post_ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = post_ids
            .iter()
            .map(|p| self.key(&click_key(user_id, p)))
            .collect();
        let mut conn = self.conn();
        let values: Vec<Option<String>> = self
            .timed(redis::cmd("MGET").arg(&keys).query_async(&mut conn))
            .await?;
        Ok(values
            .iter()
            .map(|v| v.as_deref().and_then(decode))
            .collect())
    }

    /// The posts `user_id` wrote in the last [`WINDOW`] (hex ids), each with the highest
    /// change number they left it at.
    pub async fn own_writes(&self, user_id: u64) -> Result<Vec<(String, i64)>, RedisError> {
        let since = now_ms() - WINDOW.as_millis() as i64;
        let mut conn = self.conn();
        let members: Vec<String> = self
            .timed(
                redis::cmd("ZRANGEBYSCORE")
                    .arg(self.key(&key(user_id)))
                    .arg(since)
                    .arg("+inf")
                    .query_async(&mut conn),
            )
            .await?;
        Ok(latest(&members))
    }
}

/// `post:seq` members, the highest `seq` per post; unreadable members are skipped.
fn latest(members: &[String]) -> Vec<(String, i64)> {
    let mut latest: HashMap<&str, i64> = HashMap::new();
    for m in members {
        let Some((post, seq)) = m.rsplit_once(':') else {
            continue;
        };
        let Ok(seq) = seq.parse::<i64>() else {
            continue;
        };
        let at = latest.entry(post).or_insert(seq);
        *at = (*at).max(seq);
    }
    let mut out: Vec<(String, i64)> = latest
        .into_iter()
        .map(|(p, s)| (p.to_string(), s))
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::{decode, encode, FavoriteClick};

    #[test]
    fn a_click_reads_back_as_written_and_junk_as_none() {
        for click in [
            FavoriteClick {
                on: true,
                at_ms: 1_733_000_000_123,
            },
            FavoriteClick {
                on: false,
                at_ms: 0,
            },
        ] {
            assert_eq!(decode(&encode(click)), Some(click));
        }
        for junk in ["", "1", "2:5", "1:x", "on:5"] {
            assert_eq!(decode(junk), None, "{junk}");
        }
    }

    #[test]
    fn the_latest_change_per_post_wins_and_junk_is_skipped() {
        let members: Vec<String> = ["a:1", "b:4", "a:3", "junk", "c:x", "a:2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            super::latest(&members),
            vec![("a".to_string(), 3), ("b".to_string(), 4)]
        );
    }
}
