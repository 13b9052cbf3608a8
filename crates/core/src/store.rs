//! The four stores TechHub runs on, and the result of probing one.

use std::time::Duration;

use serde::Serialize;

/// One of TechHub's backing stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Store {
    Mysql,
    Postgres,
    Mongodb,
    Redis,
}

impl Store {
    pub const ALL: [Store; 4] = [Store::Mysql, Store::Postgres, Store::Mongodb, Store::Redis];

    pub fn as_str(self) -> &'static str {
        match self {
            Store::Mysql => "mysql",
            Store::Postgres => "postgres",
            Store::Mongodb => "mongodb",
            Store::Redis => "redis",
        }
    }
}

impl std::fmt::Display for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreStatus {
    Up,
    Down,
}

/// The outcome of one round trip to a store.
#[derive(Clone, Debug, Serialize)]
pub struct Probe {
    pub store: Store,
    pub status: StoreStatus,
    /// Round-trip time of the probe, in milliseconds (also set when it failed).
    pub latency_ms: f64,
    /// Server version, when the probe asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why the store is down; never contains credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Probe {
    pub fn up(store: Store, latency: Duration, version: Option<String>) -> Self {
        Probe {
            store,
            status: StoreStatus::Up,
            latency_ms: millis(latency),
            version,
            error: None,
        }
    }

    pub fn down(store: Store, latency: Duration, error: impl Into<String>) -> Self {
        Probe {
            store,
            status: StoreStatus::Down,
            latency_ms: millis(latency),
            version: None,
            error: Some(error.into()),
        }
    }

    pub fn is_up(&self) -> bool {
        self.status == StoreStatus::Up
    }
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

/// Runs one probe round trip `work` (which yields the server version when asked for it)
/// under `timeout`, and turns the outcome into a [`Probe`]. Each store crate supplies the
/// round trip; timing and failure reporting are the same for all of them.
pub async fn probe<F, E>(store: Store, timeout: Duration, work: F) -> Probe
where
    F: std::future::Future<Output = Result<Option<String>, E>>,
    E: std::fmt::Display,
{
    let started = std::time::Instant::now();
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(version)) => Probe::up(store, started.elapsed(), version),
        Ok(Err(e)) => Probe::down(store, started.elapsed(), e.to_string()),
        Err(_) => Probe::down(
            store,
            started.elapsed(),
            format!("no answer within {} ms", timeout.as_millis()),
        ),
    }
}

/// Runs `fut` under `timeout`; `Err(None)` means it timed out.
pub async fn bounded<T, E, F>(timeout: Duration, fut: F) -> Result<T, Option<E>>
where
    F: std::future::Future<Output = Result<T, E>>,
{
    match tokio::time::timeout(timeout, fut).await {
        Ok(result) => result.map_err(Some),
        Err(_) => Err(None),
    }
}

/// A pooled SQL connection idle for longer than this is pinged before it is handed out; a busy
/// one is not. A ping is a full round trip: pinging before every query (sqlx's default) doubled
/// the round trips of a one-query request, while a connection the server dropped is almost
/// always one that sat idle. One that breaks anyway fails its query, and the pool drops it.
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Connection settings of one store's pool. `Debug` redacts the URL's password.
#[derive(Clone)]
pub struct PoolSettings {
    pub url: String,
    pub pool_size: u32,
    pub connect_timeout: Duration,
    pub query_timeout: Duration,
}

impl std::fmt::Debug for PoolSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolSettings")
            .field("url", &crate::config::redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("query_timeout", &self.query_timeout)
            .finish()
    }
}

/// What one store's migration run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MigrationReport {
    /// Migrations applied by this run (0 when the schema was already current).
    pub applied_now: usize,
    /// Migrations the binary knows of.
    pub total: usize,
}
