//! Redis: the cache ([`entries`], and [`aside`], cache-aside with loads shared in a process
//! and claimed across instances), hot counters ([`counters`]) and rate limits ([`limits`]).
//! This crate owns the Redis connections and the key prefix every key TechHub writes carries,
//! so several deployments (or parallel tests) can share one Redis without seeing each other's
//! keys.
//!
//! A "pool" here is a fixed set of multiplexed connections used round-robin: one Redis
//! connection already pipelines many concurrent requests, so a handful is plenty.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub mod aside;
pub mod counters;
pub mod entries;
pub mod limits;
pub mod own_writes;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use techhub_core::{PoolSettings, Probe, Store};

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("invalid Redis URL: {0}")]
    Url(#[source] redis::RedisError),
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}

/// The Redis store: a few multiplexed connections and the key prefix.
#[derive(Clone)]
pub struct Redis {
    connections: Arc<[ConnectionManager]>,
    next: Arc<AtomicUsize>,
    prefix: Arc<str>,
    query_timeout: Duration,
    /// Views counted in this process, not yet in Redis (see [`counters`]).
    views: Arc<counters::ViewBuffer>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("connections", &self.connections.len())
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Redis {
    /// Creates the connections without opening them: they connect on first use and
    /// reconnect by themselves after Redis comes back.
    pub fn connect_lazy(settings: &PoolSettings, prefix: &str) -> Result<Self, RedisError> {
        let client = redis::Client::open(settings.url.as_str()).map_err(RedisError::Url)?;
        // Fail fast while Redis is down: one quick reconnect attempt per request instead of
        // the default exponential back-off, which would hold requests for seconds.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.query_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100));
        let connections = (0..settings.pool_size.max(1))
            .map(|_| ConnectionManager::new_lazy_with_config(client.clone(), config.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(RedisError::Url)?;
        Ok(Redis {
            connections: connections.into(),
            next: Arc::new(AtomicUsize::new(0)),
            prefix: prefix.into(),
            query_timeout: settings.query_timeout,
            views: Arc::default(),
        })
    }

    /// A connection handle (cheap to clone; requests on it are pipelined).
    pub fn conn(&self) -> ConnectionManager {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        self.connections[i].clone()
    }

    /// The prefix every TechHub key starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `prefix` + `key`: the only way code in TechHub should name a Redis key.
    pub fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// Runs `fut` under the configured query timeout.
    pub async fn timed<T, F>(&self, fut: F) -> Result<T, RedisError>
    where
        F: std::future::Future<Output = Result<T, redis::RedisError>>,
    {
        techhub_core::bounded(self.query_timeout, fut)
            .await
            .map_err(|e| e.map_or(RedisError::Timeout(self.query_timeout), RedisError::Redis))
    }

    /// One `PING` round trip bounded by `timeout`; `with_version` also reads `INFO server`.
    pub async fn probe(&self, timeout: Duration, with_version: bool) -> Probe {
        let mut conn = self.conn();
        techhub_core::probe(Store::Redis, timeout, async move {
            let _: String = redis::cmd("PING").query_async(&mut conn).await?;
            if !with_version {
                return Ok::<_, redis::RedisError>(None);
            }
            let info: String = redis::cmd("INFO")
                .arg("server")
                .query_async(&mut conn)
                .await?;
            Ok(parse_info_field(&info, "redis_version"))
        })
        .await
    }
}

/// Reads `field:value` from the text `INFO` returns.
fn parse_info_field(info: &str, field: &str) -> Option<String> {
    info.lines()
        .filter_map(|line| line.trim_end().split_once(':'))
        .find(|(name, _)| *name == field)
        .map(|(_, value)| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_info_field_finds_the_version_line() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n";
        assert_eq!(
            parse_info_field(info, "redis_version").as_deref(),
            Some("7.0.15")
        );
        assert_eq!(parse_info_field(info, "missing"), None);
    }
}
