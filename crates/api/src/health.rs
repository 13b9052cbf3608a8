//! `GET /health`: every store's status and round-trip latency, and how far this server's
//! content relay is behind the writes. 200 when all four stores answer, 503 naming the
//! failing ones otherwise. It holds no state, so it recovers as soon as the
//! store does.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use techhub_content::posts::Source;
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
    /// Keyed by the collection whose documents carry content events (`posts`, `comments`,
    /// `favorite_clicks`): how far behind them this server's content relay was at its last
    /// batch, and how long a write of that kind waits for it now. Zeros when the relay runs
    /// in another process. It does not change `status`.
    pub content_relay: BTreeMap<&'static str, RelayPace>,
}

/// How far behind one kind of content write this server's content relay is.
#[derive(Debug, Serialize, ToSchema)]
pub struct RelayPace {
    /// How long the oldest document of its last delivered batch had been due, in
    /// milliseconds (0 when it took none, or its delivery failed).
    #[schema(example = 180)]
    pub lag_ms: u64,
    /// How long a write of this kind waits before it is made, in milliseconds: 0 until the
    /// lag passes 500 ms, then a fortieth of the excess, at most 200.
    #[schema(example = 0.0)]
    pub pace_ms: f64,
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
        content_relay: Source::ALL
            .iter()
            .map(|&source| {
                let wake = &state.wake.content_relay;
                let pace = RelayPace {
                    lag_ms: u64::try_from(wake.lag(source).as_millis()).unwrap_or(u64::MAX),
                    pace_ms: wake.pace(source).as_secs_f64() * 1000.0,
                };
                (source.collection(), pace)
            })
            .collect(),
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
