//! Every route TechHub answers, in one table: method, path, handler. Read this file to see
//! the whole URL surface. Besides the table, [`all`] serves the OpenAPI document itself at
//! `GET /api/openapi.json` and answers anything else with the JSON 404.
//!
//! The OpenAPI document is still generated from the handlers: each carries a
//! `#[utoipa::path]` attribute with its responses, and the table registers it through
//! `utoipa-axum`, which routes the handler and adds its operation to the document in one step.
//! Method and path are written twice (here and in the attribute), so building the router
//! checks that they agree and panics naming the row when they do not: any test that starts a
//! server catches a row that drifted from its handler.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::path::PathItem;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

use crate::AppState;
use crate::{
    analytics, articles, billing, dashboard, health, learning, preferences, profiles, search, users,
};

/// Declares [`ROUTES`] and [`documented`] from one list of `METHOD "path" => handler` rows.
macro_rules! route_table {
    ($( $method:ident $path:literal => $($handler:ident)::+ ),* $(,)?) => {
        /// Method and path of every route, in the table's order.
        pub const ROUTES: &[(&str, &str)] = &[$( (stringify!($method), $path) ),*];

        /// The router of every documented route, with its OpenAPI document.
        pub(crate) fn documented() -> OpenApiRouter<AppState> {
            let router = OpenApiRouter::with_openapi(ApiDoc::openapi());
            $(
                let router = router.routes(checked(
                    stringify!($method),
                    $path,
                    utoipa_axum::routes!($($handler)::+),
                ));
            )*
            router
        }
    };
}

route_table! {
    GET    "/health"                                     => health::health,

    POST   "/api/users"                                  => users::register,
    POST   "/api/users/login"                            => users::login,
    GET    "/api/user"                                   => users::current_user,
    PUT    "/api/user"                                   => users::update_user,
    POST   "/api/user/verify"                            => users::verify_email,
    GET    "/api/user/preferences"                       => preferences::get_preferences,
    PUT    "/api/user/preferences"                       => preferences::update_preferences,

    GET    "/api/plans"                                  => billing::list_plans,
    GET    "/api/subscription"                           => billing::get_subscription,
    PUT    "/api/subscription"                           => billing::change_subscription,
    DELETE "/api/subscription"                           => billing::cancel_subscription,
    GET    "/api/payments"                               => billing::list_payments,
    POST   "/api/payments"                               => billing::create_payment,
    GET    "/api/orders"                                 => billing::list_orders,

    GET    "/api/profiles/{username}"                    => profiles::get_profile,
    POST   "/api/profiles/{username}/follow"             => profiles::follow,
    DELETE "/api/profiles/{username}/follow"             => profiles::unfollow,

    GET    "/api/articles"                               => articles::listing::list_articles,
    GET    "/api/articles/feed"                          => articles::listing::feed,
    POST   "/api/articles"                               => articles::create_article,
    GET    "/api/articles/{slug}"                        => articles::get_article,
    PUT    "/api/articles/{slug}"                        => articles::update_article,
    DELETE "/api/articles/{slug}"                        => articles::delete_article,
    POST   "/api/articles/{slug}/favorite"               => articles::favorite,
    DELETE "/api/articles/{slug}/favorite"               => articles::unfavorite,
    GET    "/api/articles/{slug}/comments"               => articles::comments::list_comments,
    POST   "/api/articles/{slug}/comments"               => articles::comments::add_comment,
    DELETE "/api/articles/{slug}/comments/{id}"          => articles::comments::delete_comment,
    POST   "/api/articles/{slug}/bookmark"               => articles::bookmarks::bookmark,
    DELETE "/api/articles/{slug}/bookmark"               => articles::bookmarks::unbookmark,
    GET    "/api/user/bookmarks"                         => articles::bookmarks::my_bookmarks,
    GET    "/api/user/drafts"                            => articles::listing::my_drafts,
    GET    "/api/tags"                                   => articles::listing::list_tags,

    GET    "/api/search"                                 => search::search,

    POST   "/api/learning/sessions"                      => learning::sessions::record_session,
    GET    "/api/learning/sessions"                      => learning::sessions::list_sessions,
    POST   "/api/learning/paths"                         => learning::paths::create_path,
    GET    "/api/learning/paths"                         => learning::paths::list_paths,
    PUT    "/api/learning/paths/{id}/milestones/{index}" => learning::paths::set_milestone,
    POST   "/api/assessments"                            => learning::assessments::create_assessment,
    GET    "/api/assessments"                            => learning::assessments::list_assessments,

    GET    "/api/dashboard"                              => dashboard::dashboard,
    GET    "/api/analytics/insights"                     => analytics::insights,
    GET    "/api/analytics/articles/{slug}"              => analytics::article_analytics,
    GET    "/api/admin/reports/active-users"             => analytics::active_users,
    GET    "/api/admin/reports/top-technologies"         => analytics::top_technologies,
    GET    "/api/admin/reports/engagement"               => analytics::engagement_distribution,
}

/// Every route: the table, the OpenAPI document at `GET /api/openapi.json`, and the JSON
/// 404 for anything else.
pub(crate) fn all() -> Router<AppState> {
    let (routes, doc) = documented().split_for_parts();
    let doc = Arc::new(doc);
    routes
        .route(
            "/api/openapi.json",
            get(move || async move { Json(doc.as_ref().clone()) }),
        )
        .fallback(not_found)
}

pub(crate) async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "errors": { "path": ["no such endpoint"] } })),
    )
        .into_response()
}

/// The route as `utoipa-axum` built it from the handler's attribute, after checking that the
/// attribute documents exactly `method path`.
fn checked(
    method: &str,
    path: &str,
    route: UtoipaMethodRouter<AppState>,
) -> UtoipaMethodRouter<AppState> {
    let documented: Vec<String> = route
        .1
        .paths
        .iter()
        .flat_map(|(p, item)| methods(item).into_iter().map(move |m| format!("{m} {p}")))
        .collect();
    assert!(
        documented == [format!("{method} {path}")],
        "routes.rs routes `{method} {path}` to a handler whose #[utoipa::path] documents {documented:?}"
    );
    route
}

/// The methods a path item documents.
fn methods(item: &PathItem) -> Vec<&'static str> {
    [
        ("GET", item.get.is_some()),
        ("PUT", item.put.is_some()),
        ("POST", item.post.is_some()),
        ("DELETE", item.delete.is_some()),
        ("PATCH", item.patch.is_some()),
        ("HEAD", item.head.is_some()),
        ("OPTIONS", item.options.is_some()),
        ("TRACE", item.trace.is_some()),
    ]
    .into_iter()
    .filter_map(|(m, present)| present.then_some(m))
    .collect()
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
        (name = "users", description = "Registration, login, the current user (RealWorld) and their preferences"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_and_the_handlers_document_the_same_routes() {
        // Building the router checks every row against its handler's attribute.
        let doc = documented().into_openapi();
        let mut served: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        served.sort();
        let mut in_doc: Vec<(String, String)> = doc
            .paths
            .paths
            .iter()
            .flat_map(|(p, item)| {
                methods(item)
                    .into_iter()
                    .map(|m| (m.to_string(), p.clone()))
            })
            .collect();
        in_doc.sort();
        assert_eq!(
            served, in_doc,
            "every route is in the document and nothing else"
        );
        let distinct: std::collections::BTreeSet<_> = served.iter().collect();
        assert_eq!(distinct.len(), served.len(), "a route is listed twice");
    }

    #[test]
    #[should_panic(expected = "routes.rs routes `POST /health`")]
    fn a_row_whose_method_differs_from_its_handler_stops_the_router() {
        let _ = checked("POST", "/health", utoipa_axum::routes!(health::health));
    }

    #[test]
    #[should_panic(expected = "routes.rs routes `GET /api/healthz`")]
    fn a_row_whose_path_differs_from_its_handler_stops_the_router() {
        let _ = checked("GET", "/api/healthz", utoipa_axum::routes!(health::health));
    }
}
