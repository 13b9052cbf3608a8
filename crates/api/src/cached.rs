//! Cache-aside with stampede protection. A read looks in Redis first (`X-Cache: hit`); on a
//! miss, concurrent requests for the same key in this process share one load ("single
//! flight"): the first runs it, the others wait for its result, so a cold key costs one trip to
//! the stores however many requests arrive at once. The loader re-checks Redis before going to
//! the stores, so a request that missed just before another filled the key does not load again.
//! Redis being down only means every request loads (`X-Cache: miss`), never an error.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
        .get_or_init(|| async {
            if let Ok(Some(json)) = redis.cached(key).await {
                return Ok(Loaded {
                    json,
                    cacheable: false,
                });
            }
            flights.loads.fetch_add(1, Ordering::Relaxed);
            match load().await {
                Ok(loaded) => {
                    if loaded.cacheable {
                        if let Err(e) = redis.cache(key, &loaded.json, ttl).await {
                            tracing::debug!(error = %e, key, "not cached");
                        }
                    }
                    Ok(loaded)
                }
                Err(e) => Err(Arc::new(e)),
            }
        })
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
