//! Hot counters kept in Redis and flushed to their store in batches: a post read costs no
//! MongoDB update (SecantusDB manages about 1.5k `$inc` a second; Redis, tens of thousands).
//!
//! Views are gathered in this process first ([`Redis::count_view`] only adds to a map) and
//! pushed to Redis in one pipeline every [`VIEW_PUSH_EVERY`] ([`Redis::push_views`]), so a
//! read of a popular article makes no Redis call for its view: four commands per read had
//! been most of the Redis work behind `GET /api/articles/{slug}`. A process that dies loses
//! the views of its last push interval; a clean shutdown pushes them (see `techhub serve`).
//! Readers of the counts ([`Redis::take_views`], [`Redis::daily_views`]) push this process's
//! views first, so they see every view it counted.

use std::collections::HashMap;
use std::time::Duration;

use redis::AsyncCommands;

use crate::{Redis, RedisError};

const DIRTY: &str = "views:dirty";

/// How often the views gathered in this process go to Redis.
pub const VIEW_PUSH_EVERY: Duration = Duration::from_millis(250);

/// At most this many distinct posts wait in the buffer (while Redis is down, say); views of
/// further posts are dropped, with a warning, rather than growing the process without end.
const MAX_BUFFERED_POSTS: usize = 100_000;

fn view_key(id: &str) -> String {
    format!("views:{id}")
}

fn daily_key(id: &str) -> String {
    format!("views:daily:{id}")
}

/// Views counted in this process and not yet pushed to Redis: post id → views.
#[derive(Default)]
pub(crate) struct ViewBuffer {
    counts: std::sync::Mutex<HashMap<String, i64>>,
}

impl ViewBuffer {
    fn add(&self, counts: impl IntoIterator<Item = (String, i64)>) {
        let mut map = self.counts.lock().expect("view buffer lock poisoned");
        let mut dropped = 0;
        for (id, n) in counts {
            let room = map.len() < MAX_BUFFERED_POSTS;
            match map.get_mut(&id) {
                Some(count) => *count += n,
                None if room => {
                    map.insert(id, n);
                }
                None => dropped += n,
            }
        }
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "view buffer full (Redis unreachable?): views of further posts dropped"
            );
        }
    }

    fn take(&self) -> HashMap<String, i64> {
        std::mem::take(&mut *self.counts.lock().expect("view buffer lock poisoned"))
    }
}

impl Redis {
    /// Views of `post_id` per UTC day (`YYYY-MM-DD` → count), as counted by [`Redis::count_view`].
    pub async fn daily_views(
        &self,
        post_id: &str,
    ) -> Result<std::collections::HashMap<String, i64>, RedisError> {
        self.push_views().await?;
        let mut conn = self.conn();
        self.timed(conn.hgetall(self.key(&daily_key(post_id))))
            .await
    }

    /// Counts one view of `post_id` (in this process; see the module docs).
    pub fn count_view(&self, post_id: &str) {
        self.views.add([(post_id.to_string(), 1)]);
    }

    /// Pushes the views counted in this process to Redis in one pipeline: the count per post,
    /// the set of posts with counts to flush, and the views per UTC day (kept 100 days, for
    /// the author's article analytics). Returns how many views it pushed. When Redis fails,
    /// the views go back into the buffer for the next push.
    pub async fn push_views(&self) -> Result<i64, RedisError> {
        let counts = self.views.take();
        if counts.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        let today = chrono::Utc::now().date_naive().to_string();
        let mut pushed = 0;
        for (id, n) in &counts {
            pipe.incr(self.key(&view_key(id)), *n).ignore();
            pipe.sadd(self.key(DIRTY), id).ignore();
            let daily = self.key(&daily_key(id));
            pipe.hincr(&daily, &today, *n).ignore();
            pipe.expire(&daily, 100 * 86_400).ignore();
            pushed += n;
        }
        let mut conn = self.conn();
        match self.timed(pipe.query_async::<()>(&mut conn)).await {
            Ok(()) => Ok(pushed),
            Err(e) => {
                // Not applied (a timeout may have applied it: then these views count twice,
                // the lesser harm for a view counter than losing them).
                self.views.add(counts);
                Err(e)
            }
        }
    }

    /// Takes up to `batch` pending view counts: `(post id, views since the last take)`. Each
    /// count is read and reset in one `GETDEL`, so a view counted meanwhile is kept for the
    /// next take.
    pub async fn take_views(&self, batch: usize) -> Result<Vec<(String, i64)>, RedisError> {
        self.push_views().await?;
        let mut conn = self.conn();
        let ids: Vec<String> = self
            .timed(
                redis::cmd("SPOP")
                    .arg(self.key(DIRTY))
                    .arg(batch)
                    .query_async(&mut conn),
            )
            .await?;
        let mut taken = Vec::with_capacity(ids.len());
        for id in ids {
            let n: Option<i64> = self.timed(conn.get_del(self.key(&view_key(&id)))).await?;
            if let Some(n) = n.filter(|n| *n > 0) {
                taken.push((id, n));
            }
        }
        Ok(taken)
    }
}
