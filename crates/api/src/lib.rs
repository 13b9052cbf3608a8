//! The HTTP surface of TechHub. [`routes`] lists every route (method, path, handler) in one
//! table; the handlers live in one module per resource; [`router`] wraps the table in the
//! layers every request passes (write rate limit, body limit, timeout, tracing), so tests can
//! drive it without a socket and `serve` can mount it on one. The OpenAPI document
//! ([`openapi`]) is generated from the handlers the table routes: a route cannot go
//! undocumented.

pub mod analytics;
pub mod articles;
pub mod auth;
pub mod billing;
pub mod cached;
pub mod dashboard;
pub mod error;
pub mod extract;
pub mod health;
pub mod learning;
pub mod limits;
mod own_writes;
mod policy;
pub mod preferences;
pub mod profiles;
pub mod routes;
pub mod search;
pub mod stores;
pub mod users;
mod validate;
pub mod web;
mod write_path;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::Router;
use techhub_accounts::payments::{PaymentProvider, SandboxProvider};
use techhub_core::Config;
use techhub_search::SearchIndex;
use tokio::sync::Notify;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use stores::Stores;

/// Everything a handler may need, behind one `Arc`: axum clones the state for every request
/// (and each `State` extractor), and cloning the parts one by one meant about fifteen atomic
/// increments and decrements per clone (3 % of the CPU serving cached articles).
#[derive(Clone)]
pub struct AppState(Arc<AppContext>);

impl std::ops::Deref for AppState {
    type Target = AppContext;

    fn deref(&self) -> &AppContext {
        &self.0
    }
}

/// What every handler may use: the stores, configuration, token keys, the payment provider,
/// this server's search index and the in-process state of its caches.
pub struct AppContext {
    pub stores: Stores,
    pub config: Arc<Config>,
    pub jwt: Arc<auth::Jwt>,
    pub payments: Arc<dyn PaymentProvider>,
    /// This server's search index.
    pub search: Arc<SearchIndex>,
    pub wake: Wakeups,
    /// Single-flight loads of cached entries.
    pub flights: Arc<cached::Flights>,
    /// The authors of articles this process has served, by slug.
    pub article_authors: articles::cache::ArticleAuthors,
}

/// Signals from request handlers to this process's background workers, so work a request
/// created starts at once instead of at the workers' next poll.
#[derive(Clone, Default)]
pub struct Wakeups {
    /// The content relay (documents with events due, by kind).
    pub content_relay: Arc<techhub_content::posts::DueWake>,
    /// The search indexer (posts changed).
    pub search: Arc<Notify>,
}

impl AppState {
    /// State with the built-in sandbox payment provider.
    pub fn new(stores: Stores, config: Config, search: Arc<SearchIndex>) -> Self {
        Self::with_payments(stores, config, search, Arc::new(SandboxProvider::default()))
    }

    pub fn with_payments(
        stores: Stores,
        config: Config,
        search: Arc<SearchIndex>,
        payments: Arc<dyn PaymentProvider>,
    ) -> Self {
        AppState(Arc::new(AppContext {
            jwt: Arc::new(auth::Jwt::from_config(&config)),
            stores,
            config: Arc::new(config),
            payments,
            search,
            wake: Wakeups::default(),
            flights: Default::default(),
            article_authors: Default::default(),
        }))
    }
}

/// The OpenAPI document of [`router`], as served at `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes::documented().into_openapi()
}

/// The whole HTTP surface: every route ([`routes`]) behind the layers every request passes.
pub fn router(state: AppState) -> Router {
    router_with(state, None)
}

/// [`router`], answering what no API route takes with the web app `web` (see [`web`]).
pub fn router_with(state: AppState, web: Option<web::WebApp>) -> Router {
    let mut routes = routes::all();
    if let Some(web) = web {
        routes = routes.fallback_service(tower::service_fn(move |request| {
            web.clone().handle(request)
        }));
    }
    let security = web::security_headers(&state.config.csp_connect_src);
    let cors = web::cors(&state.config.cors_origins);
    let mut router = routes
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::writes,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(
            extract::MAX_BODY_BYTES,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .layer(TraceLayer::new_for_http())
        .layer(cors)
        .with_state(state);
    for (name, value) in security {
        router = router.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    router
}

/// A timestamp as the API writes it: ISO 8601 in UTC with milliseconds.
pub(crate) fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
