//! A writer's own recent writes, so that they read them at once on every instance without the
//! write waiting for any search index (read your writes). Each content write that the index
//! lists records, per user, the post and the change number it left the post at
//! ([`Redis::record_own_write`], in the same round trip as the write's cache invalidation);
//! the writer's list, feed and search reads fetch theirs ([`Redis::own_writes`]) and overlay
//! those the local index does not show yet. Entries last [`WINDOW`]: far longer than any index
//! takes to catch up when it is working. Everyone else sees a write when the index shows it.

use std::collections::HashMap;
use std::time::Duration;

use crate::{Redis, RedisError};

/// How long a write is overlaid on its writer's reads.
pub const WINDOW: Duration = Duration::from_secs(30);

fn key(user_id: u64) -> String {
    format!("own-writes:{user_id}")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Redis {
    /// Records that `user_id` left post `post_id` (hex) at change number `seq`, and drops the
    /// cache entries `stale`, in one round trip.
    pub async fn record_own_write(
        &self,
        user_id: u64,
        post_id: &str,
        seq: i64,
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
        let mut conn = self.conn();
        self.timed(pipe.query_async::<()>(&mut conn)).await
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
