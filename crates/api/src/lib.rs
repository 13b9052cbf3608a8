//! The HTTP surface of TechHub. [`router`] builds the whole URL space from one module per
//! resource, so tests can drive it without a socket and `serve` can mount it on one. Each
//! module registers its handlers through `utoipa-axum`, so the OpenAPI document ([`openapi`])
//! is generated from the same routes the server answers: a route cannot go undocumented.

pub mod analytics;
pub mod auth;
pub mod billing;
pub mod cached;
pub mod content;
pub mod dashboard;
pub mod error;
pub mod extract;
pub mod health;
pub mod learning;
pub mod limits;
pub mod search;
pub mod stores;
pub mod users;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use techhub_accounts::payments::{PaymentProvider, SandboxProvider};
use techhub_core::Config;
use techhub_search::SearchIndex;
use tokio::sync::Notify;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use stores::Stores;

/// Everything a handler may need, behind one `Arc`: axum clones the state for every request
/// (and each `State` extractor), and cloning the parts one by one meant about fifteen atomic
/// increments and decrements per clone (3 % of the CPU serving cached articles).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
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
    pub article_authors: ArticleAuthors,
}

/// The author of each published article this process has served, by slug, so the next read
/// fetches the article and its author's profile from Redis in one `MGET` instead of two
/// round trips. A post's author never changes, so an entry never goes stale; a wrong one
/// (a slug reused after a deletion) only costs the profile read it was meant to save, since
/// the article's own author id decides. Bounded: when full it starts over.
#[derive(Default)]
pub struct ArticleAuthors(std::sync::RwLock<HashMap<String, u64>>);

/// At most this many slugs are remembered (about 10 MB).
const MAX_ARTICLE_AUTHORS: usize = 100_000;

impl ArticleAuthors {
    pub fn get(&self, slug: &str) -> Option<u64> {
        self.0
            .read()
            .expect("article authors lock")
            .get(slug)
            .copied()
    }

    pub fn remember(&self, slug: &str, author: u64) {
        if self.get(slug) == Some(author) {
            return;
        }
        let mut map = self.0.write().expect("article authors lock");
        if map.len() >= MAX_ARTICLE_AUTHORS {
            map.clear();
        }
        map.insert(slug.to_string(), author);
    }
}

/// Signals from request handlers to this process's background workers, so work a request
/// created starts at once instead of at the workers' next poll.
#[derive(Clone, Default)]
pub struct Wakeups {
    /// The content relay (posts with pending events).
    pub content_relay: Arc<Notify>,
    /// The search indexer (posts changed).
    pub search: Arc<Notify>,
}

impl Wakeups {
    /// A post changed: its events and the search index have work.
    pub fn content_changed(&self) {
        self.content_relay.notify_one();
        self.search.notify_one();
    }
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
        AppState(Arc::new(Shared {
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

#[derive(OpenApi)]
#[openapi(
    info(
        title = "TechHub API",
        description = "A developer community platform on MySQL, PostgreSQL, MongoDB and Redis. \
                       The content API speaks RealWorld (Conduit).",
        license(name = "MIT")
    ),
    tags(
        (name = "operations", description = "Health and operations"),
        (name = "users", description = "Registration, login, the current user (RealWorld)"),
        (name = "billing", description = "Plans, subscriptions, payments and orders"),
        (name = "profiles", description = "Profiles and follows (RealWorld)"),
        (name = "articles", description = "Articles, favorites and tags (RealWorld)"),
        (name = "comments", description = "Comments on articles (RealWorld)"),
        (name = "search", description = "Ranked full-text search over published posts"),
        (name = "learning", description = "Learning sessions, points, streaks and progress"),
        (name = "dashboard", description = "The personal dashboard across the three databases"),
        (name = "analytics", description = "Learning insights and article analytics"),
        (name = "admin", description = "Reports for administrators (MySQL role admin)"),
    ),
    modifiers(&TokenAuth)
)]
struct ApiDoc;

/// Declares the `Authorization: Token <jwt>` scheme.
struct TokenAuth;

impl utoipa::Modify for TokenAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <jwt>`, the token returned by register or login",
            ))),
        );
    }
}

/// Every documented route, with its OpenAPI description.
fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(users::router())
        .merge(billing::router())
        .merge(content::router())
        .merge(search::router())
        .merge(learning::router())
        .merge(learning::paths_router())
        .merge(dashboard::router())
        .merge(analytics::router())
}

/// The OpenAPI document of [`router`], as served at `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented().into_openapi()
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let (routes, doc) = documented().split_for_parts();
    let doc = Arc::new(doc);
    routes
        .route(
            "/api/openapi.json",
            get(move || async move { Json(doc.as_ref().clone()) }),
        )
        .fallback(not_found)
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
        .with_state(state)
}

/// A timestamp as the API writes it: ISO 8601 in UTC with milliseconds.
pub(crate) fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "errors": { "path": ["no such endpoint"] } })),
    )
        .into_response()
}
