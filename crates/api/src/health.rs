//! `GET /health`: every store's status and round-trip latency. 200 when all four answer,
//! 503 naming the failing ones otherwise. It holds no state, so it recovers as soon as the
//! store does.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use techhub_core::Probe;
use utoipa::ToSchema;

use crate::AppState;

/// The health of TechHub's stores.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthReport {
    /// `ok` when every store answers, `unavailable` otherwise.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// Keyed by store: `mysql`, `postgres`, `mongodb`, `redis`.
    pub stores: BTreeMap<&'static str, StoreHealth>,
    /// The stores that did not answer; absent when all did.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<&'static str>,
}

/// One store's probe.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoreHealth {
    /// `up` or `down`.
    #[schema(example = "up")]
    pub status: &'static str,
    /// Round-trip time of the probe in milliseconds (the time waited, when it failed).
    #[schema(example = 0.42)]
    pub latency_ms: f64,
    /// Why the store is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&Probe> for StoreHealth {
    fn from(p: &Probe) -> Self {
        StoreHealth {
            status: if p.is_up() { "up" } else { "down" },
            latency_ms: p.latency_ms,
            error: p.error.clone(),
        }
    }
}

/// Status and latency of every store.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "All four stores answer", body = HealthReport),
        (status = 503, description = "At least one store is down; `failing` names it", body = HealthReport),
    )
)]
pub(crate) async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let probes = state
        .stores
        .probe_all(state.config.health_timeout(), false)
        .await;
    let report = HealthReport {
        failing: probes
            .iter()
            .filter(|p| !p.is_up())
            .map(|p| p.store.as_str())
            .collect(),
        stores: probes
            .iter()
            .map(|p| (p.store.as_str(), StoreHealth::from(p)))
            .collect(),
        status: "ok",
    };
    let (code, status) = if report.failing.is_empty() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    (
        code,
        [(header::CACHE_CONTROL, "no-store")],
        Json(HealthReport { status, ..report }),
    )
}
