//! Rate limits (configured by `TECHHUB_RATE_*`, counted in Redis so all instances share them):
//! login attempts per account and per client IP, registrations per IP, and writes per user.
//! Over the limit: 429 with `Retry-After` and `X-RateLimit-Limit/Remaining/Reset`. Allowed
//! writes carry the same `X-RateLimit-*` headers. If Redis is down the request is let through
//! (and logged): a limit must not turn a cache outage into a full outage.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use techhub_cache::limits::Verdict;
use techhub_core::RateLimit;

use crate::error::ApiError;
use crate::AppState;

/// The client's address: the TCP peer. (Behind a reverse proxy, that is the proxy.)
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

impl ClientIp {
    pub fn bucket(&self) -> String {
        self.0
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "unknown".into())
    }
}

/// Counts one request in `bucket`; `Err(429)` when over `limit`. `what` words the message.
pub async fn enforce(
    state: &AppState,
    bucket: &str,
    limit: RateLimit,
    field: &'static str,
    what: &str,
) -> Result<Option<Verdict>, ApiError> {
    if limit.is_off() {
        return Ok(None);
    }
    match state.stores.redis.hit(bucket, limit).await {
        Ok(v) if v.allowed => Ok(Some(v)),
        Ok(v) => {
            let secs = v.reset.as_secs().max(1);
            Err(ApiError::RateLimited {
                field,
                message: format!("too many {what}; try again in {secs} s"),
                limit: v.limit,
                retry_after_secs: secs,
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, bucket, "rate limit not checked: Redis unavailable");
            Ok(None)
        }
    }
}

/// Middleware: counts every authenticated write against the user's write limit.
pub async fn writes(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let is_write = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let user = is_write
        .then(|| crate::extract::token_user(&state, request.headers()))
        .flatten();
    let Some(user) = user else {
        return next.run(request).await;
    };
    let limit = state.config.rate_writes_user;
    match enforce(
        &state,
        &format!("writes:user:{user}"),
        limit,
        "rate_limit",
        "writes",
    )
    .await
    {
        Ok(verdict) => {
            let mut response = next.run(request).await;
            if let Some(v) = verdict {
                let h = response.headers_mut();
                h.insert("x-ratelimit-limit", v.limit.into());
                h.insert("x-ratelimit-remaining", v.remaining.into());
                h.insert("x-ratelimit-reset", v.reset.as_secs().into());
            }
            response
        }
        Err(e) => e.into_response(),
    }
}
