//! Cache-aside with stampede protection. A read looks in Redis first (`X-Cache: hit`); on a
//! miss, protection works at two levels, so a cold key costs one trip to the stores however
//! many requests arrive at once, on however many instances:
//!
//! - in this process, concurrent requests for the same key share one load ("single flight"):
//!   the first runs it, the others wait for its result;
//! - across instances, that one load first claims the key in Redis (`SET NX` with a short
//!   expiry). The instance holding the claim re-checks the cache, loads, caches, and releases
//!   the claim; the others poll the cache until the entry appears. When the claim is released
//!   without an entry (the load failed, or its answer may not be cached) one of them claims it
//!   in turn; when the claimant is too slow ([`WAIT`]) or Redis cannot be asked, they load
//!   themselves rather than wait longer.
//!
//! Redis being down only means every request loads (`X-Cache: miss`), never an error.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use tokio::sync::OnceCell;

use crate::error::ApiError;
use crate::AppState;

type Shared = Arc<OnceCell<Result<Loaded, Arc<ApiError>>>>;

/// What a loader produced: the JSON and whether it may be cached (a degraded answer may not).
#[derive(Clone, Debug)]
pub struct Loaded {
    pub json: String,
    pub cacheable: bool,
}

#[derive(Default)]
pub struct Flights {
    inflight: Mutex<HashMap<String, Shared>>,
    loads: AtomicU64,
}

impl Flights {
    /// How many loads went to the stores (for tests and metrics).
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }
}

/// Serves `key` from Redis, or loads it once for all concurrent callers and caches it for `ttl`.
pub async fn serve<F, Fut>(
    state: &AppState,
    key: &str,
    ttl: Duration,
    load_it: F,
) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Loaded, ApiError>>,
{
    let (json, hit) = load(state, key, ttl, load_it).await?;
    Ok(respond(json, if hit { "hit" } else { "miss" }))
}

/// The JSON under `key` and whether it came from the cache: from Redis, or loaded once for all
/// concurrent callers (and cached for `ttl` when the loader says it may be).
pub async fn load<F, Fut>(
    state: &AppState,
    key: &str,
    ttl: Duration,
    load: F,
) -> Result<(String, bool), ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Loaded, ApiError>>,
{
    let redis = &state.stores.redis;
    if let Ok(Some(json)) = redis.cached(key).await {
        return Ok((json, true));
    }
    let flights = &state.flights;
    let cell: Shared = flights
        .inflight
        .lock()
        .expect("flights lock")
        .entry(key.to_string())
        .or_default()
        .clone();
    let outcome = cell
        .get_or_init(|| async { fill(state, key, ttl, load).await.map_err(Arc::new) })
        .await
        .clone();
    {
        let mut inflight = flights.inflight.lock().expect("flights lock");
        if inflight.get(key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            inflight.remove(key);
        }
    }
    match outcome {
        Ok(loaded) => Ok((loaded.json, false)),
        Err(e) => Err(shared_error(&e)),
    }
}

/// How long a claim on loading a key lasts unless released: longer than any load takes (the
/// dashboard gives each store one second).
const CLAIM: Duration = Duration::from_secs(5);
/// How long an instance waits for another's load before loading itself.
pub const WAIT: Duration = Duration::from_secs(2);
/// How often a waiting instance looks for the entry.
const POLL: Duration = Duration::from_millis(10);

/// The one load of `key` in this process: claims it across instances, or waits for the
/// instance that holds the claim (see the module docs).
async fn fill<F, Fut>(
    state: &AppState,
    key: &str,
    ttl: Duration,
    load: F,
) -> Result<Loaded, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Loaded, ApiError>>,
{
    let redis = &state.stores.redis;
    let token = uuid::Uuid::new_v4().to_string();
    let deadline = Instant::now() + WAIT;
    loop {
        match redis.claim_load(key, &token, CLAIM).await {
            Ok(true) => {
                // Whoever held the claim before cached before releasing it.
                if let Ok(Some(json)) = redis.cached(key).await {
                    release(state, key, &token).await;
                    return Ok(Loaded {
                        json,
                        cacheable: false,
                    });
                }
                let loaded = run(state, key, ttl, load).await;
                release(state, key, &token).await;
                return loaded;
            }
            Ok(false) => {}
            Err(e) => {
                tracing::debug!(error = %e, key, "no load claim; loading");
                return run(state, key, ttl, load).await;
            }
        }
        // Another instance is loading: wait for its entry.
        loop {
            tokio::time::sleep(POLL).await;
            match redis.peek(key).await {
                Ok((Some(json), _)) => {
                    return Ok(Loaded {
                        json,
                        cacheable: false,
                    })
                }
                Ok((None, true)) if Instant::now() < deadline => continue,
                // Released without an entry: claim it in turn.
                Ok((None, false)) if Instant::now() < deadline => break,
                Ok(_) => {
                    tracing::debug!(key, "waited long enough for another instance; loading");
                    return run(state, key, ttl, load).await;
                }
                Err(e) => {
                    tracing::debug!(error = %e, key, "cannot watch the claim; loading");
                    return run(state, key, ttl, load).await;
                }
            }
        }
    }
}

/// Goes to the stores and caches what may be cached.
async fn run<F, Fut>(
    state: &AppState,
    key: &str,
    ttl: Duration,
    load: F,
) -> Result<Loaded, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Loaded, ApiError>>,
{
    state.flights.loads.fetch_add(1, Ordering::Relaxed);
    let loaded = load().await?;
    if loaded.cacheable {
        if let Err(e) = state.stores.redis.cache(key, &loaded.json, ttl).await {
            tracing::debug!(error = %e, key, "not cached");
        }
    }
    Ok(loaded)
}

async fn release(state: &AppState, key: &str, token: &str) {
    if let Err(e) = state.stores.redis.release_load(key, token).await {
        // The claim expires by itself; waiting instances load when it does.
        tracing::debug!(error = %e, key, "load claim not released");
    }
}

/// The loader's error, for each caller that waited on it: the same status and message.
fn shared_error(e: &ApiError) -> ApiError {
    match e {
        ApiError::Unavailable(m) => ApiError::Unavailable(m.clone()),
        ApiError::NotFound(what) => ApiError::NotFound(what),
        other => ApiError::Internal(anyhow::anyhow!("{other}")),
    }
}

fn respond(json: String, cache: &'static str) -> Response {
    let mut response = (
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response();
    response
        .headers_mut()
        .insert("x-cache", HeaderValue::from_static(cache));
    response
}

/// Drops `keys` from the cache now; failures are logged (the events that caused the change
/// drop them again, and TTLs bound what is left).
pub async fn invalidate(state: &AppState, keys: &[String]) {
    if let Err(e) = state.stores.redis.invalidate(keys).await {
        tracing::debug!(error = %e, "cache not invalidated now");
    }
}
