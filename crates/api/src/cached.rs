//! Cache-aside for handlers: [`load`] answers from Redis or loads once for all concurrent
//! callers, on every instance ([`techhub_cache::aside`] has the protocol), and
//! [`invalidate`] drops entries after a write. Redis being down only means every request
//! loads (`X-Cache: miss`), never an error.

use std::future::Future;
use std::time::Duration;

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

pub use techhub_cache::aside::{Loaded, CLAIM, WAIT};

use crate::error::ApiError;
use crate::AppState;

/// This process's loads in flight, whose errors are API errors.
pub type Flights = techhub_cache::aside::Flights<ApiError>;

/// The answer for what [`load`] returned: the JSON with `X-Cache: hit|miss`.
pub fn answer((json, hit): (String, bool)) -> Response {
    let mut response = (
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response();
    response.headers_mut().insert(
        "x-cache",
        HeaderValue::from_static(if hit { "hit" } else { "miss" }),
    );
    response
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
    techhub_cache::aside::load(&state.stores.redis, &state.flights, key, ttl, load)
        .await
        .map_err(|e| shared_error(&e))
}

/// The loader's error, for each caller that waited on it: the same status and message.
fn shared_error(e: &ApiError) -> ApiError {
    match e {
        ApiError::Unavailable(m) => ApiError::Unavailable(m.clone()),
        ApiError::NotFound(what) => ApiError::NotFound(what),
        other => ApiError::Internal(anyhow::anyhow!("{other}")),
    }
}

/// Drops `keys` from the cache now; failures are logged (the events that caused the change
/// drop them again, and TTLs bound what is left).
pub async fn invalidate(state: &AppState, keys: &[String]) {
    if let Err(e) = state.stores.redis.invalidate(keys).await {
        tracing::debug!(error = %e, "cache not invalidated now");
    }
}
