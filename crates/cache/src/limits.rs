//! Rate limits shared by every instance: a fixed-window counter per bucket in Redis (`INCR`
//! and `EXPIRE` in one pipelined round trip). The window index is part of the key, so a new
//! window starts from zero and old counters expire by themselves.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use techhub_core::RateLimit;

use crate::{Redis, RedisError};

/// The outcome of counting one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub limit: u64,
    /// Requests left in this window after this one.
    pub remaining: u64,
    /// Until the window ends.
    pub reset: Duration,
}

impl Redis {
    /// Counts one request against `bucket` (e.g. `login:ip:127.0.0.1`) under `limit`.
    pub async fn hit(&self, bucket: &str, limit: RateLimit) -> Result<Verdict, RedisError> {
        let window = limit.window.as_secs().max(1);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let index = now / window;
        let key = self.key(&format!("rl:{bucket}:{window}:{index}"));
        let mut conn = self.conn();
        let mut pipe = redis::pipe();
        pipe.incr(&key, 1_u64)
            .expire(&key, window as i64 + 1)
            .ignore();
        let (count,): (u64,) = self.timed(pipe.query_async(&mut conn)).await?;
        Ok(Verdict {
            allowed: count <= limit.max,
            limit: limit.max,
            remaining: limit.max.saturating_sub(count),
            reset: Duration::from_secs((index + 1) * window - now),
        })
    }
}
