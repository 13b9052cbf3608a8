//! The HTTP surface of TechHub. [`router`] builds the whole URL space from one module per
//! resource, so tests can drive it without a socket and `serve` can mount it on one.

pub mod health;
pub mod stores;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use techhub_core::Config;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use stores::Stores;

/// Everything a handler may need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub stores: Stores,
    pub config: Arc<Config>,
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .fallback(not_found)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "errors": { "path": ["no such endpoint"] } })),
    )
        .into_response()
}
