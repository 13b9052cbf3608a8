//! `GET /health`: every store's status and round-trip latency. 200 when all four answer,
//! 503 naming the failing ones otherwise. It holds no state, so it recovers as soon as the
//! store does.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let probes = state
        .stores
        .probe_all(state.config.health_timeout(), false)
        .await;
    let failing: Vec<&str> = probes
        .iter()
        .filter(|p| !p.is_up())
        .map(|p| p.store.as_str())
        .collect();
    let stores: Map<String, Value> = probes
        .iter()
        .map(|p| {
            let mut v = serde_json::to_value(p).expect("probe serializes");
            if let Value::Object(m) = &mut v {
                m.remove("store");
            }
            (p.store.as_str().to_string(), v)
        })
        .collect();
    let (code, status) = if failing.is_empty() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    let mut body = json!({ "status": status, "stores": stores });
    if !failing.is_empty() {
        body["failing"] = json!(failing);
    }
    (code, [("cache-control", "no-store")], Json(body))
}
