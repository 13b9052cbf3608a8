//! One `TestApp` method per route of the API, so tests read as what a client does:
//! `app.create_article(&ada, body)`, `app.favorite(&fan, &slug)`, `app.dashboard(&ada)`.
//!
//! Each route has a method returning the `reqwest::Response` as it came, for tests that look at
//! the status or the headers themselves. Routes whose answer many tests only read have a second
//! method, `<route>_ok`, that asserts the success status (200, or 201 for a creation) and returns
//! the parsed body; where that body is one resource in its envelope (`{"article": …}`,
//! `{"profile": …}`, `{"user": …}`, `{"subscription": …}`), the resource itself.
//!
//! Request bodies are given without their envelope: `create_article(&u, json!({"title": …}))`
//! sends `{"article": {"title": …}}`.

use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::{eventually, TestApp, TestUser};

/// Changes must reach search (and the activity log) within this (the target).
pub const SEARCH_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Whose token a request carries: a registered [`TestUser`], or a bare token.
pub trait Token {
    fn token(&self) -> &str;
}

impl Token for TestUser {
    fn token(&self) -> &str {
        &self.token
    }
}

impl Token for str {
    fn token(&self) -> &str {
        self
    }
}

impl Token for String {
    fn token(&self) -> &str {
        self
    }
}

/// An article to create: `title`, the description "d" and the body "b"; `.with(…)` sets other
/// fields.
pub fn new_article(title: &str) -> Value {
    json!({ "title": title, "description": "d", "body": "b" })
}

/// Sets a field of a JSON object, to build request bodies: `new_article("x").with("status", "draft")`.
pub trait With {
    fn with(self, field: &str, value: impl Into<Value>) -> Value;
}

impl With for Value {
    fn with(mut self, field: &str, value: impl Into<Value>) -> Value {
        self[field] = value.into();
        self
    }
}

/// The `X-Cache` header of a response (`hit`, `miss`), or "" without one.
pub fn x_cache(response: &Response) -> String {
    response
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// A response read whole: its status, its `X-Cache` header ("" without one) and its body
/// (`Null` when it is not JSON).
pub async fn answer(response: Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let cache = x_cache(&response);
    (status, cache, response.json().await.unwrap_or(Value::Null))
}

/// Asserts `response` has `status` and returns its body as JSON.
pub async fn expect_json(response: Response, status: u16, what: &str) -> Value {
    let actual = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "{what}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: not JSON: {text}"))
}

/// The slugs of the articles in a list answer (`{"articles": [...]}`), in order.
pub fn article_slugs(list: &Value) -> Vec<String> {
    list["articles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["slug"].as_str().unwrap().to_string())
        .collect()
}

/// The slugs of the articles in a search answer (`{"results": [{"article": ...}]}`), in order.
pub fn result_slugs(found: &Value) -> Vec<String> {
    found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["article"]["slug"].as_str().unwrap().to_string())
        .collect()
}

/// `path`, with `?query` unless `query` is empty.
fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

/// A request with `viewer`'s token if there is one, anonymous otherwise.
fn viewer_token(viewer: Option<&TestUser>) -> Option<&str> {
    viewer.map(|v| v.token.as_str())
}

impl TestApp {
    /// `GET path`, 200: the body.
    async fn get_ok(&self, path: &str, token: Option<&str>) -> Value {
        let response = self.send(Method::GET, path, None, token).await;
        expect_json(response, 200, &format!("GET {path}")).await
    }

    // Accounts: `/api/users`, `/api/user`.

    /// `POST /api/users` with `user` as the registration.
    pub async fn create_user(&self, user: Value) -> Response {
        self.send(
            Method::POST,
            "/api/users",
            Some(json!({ "user": user })),
            None,
        )
        .await
    }

    /// `POST /api/users/login`.
    pub async fn login(&self, email: &str, password: &str) -> Response {
        let body = json!({ "user": { "email": email, "password": password } });
        self.send(Method::POST, "/api/users/login", Some(body), None)
            .await
    }

    /// `GET /api/user`.
    pub async fn current_user(&self, user: &(impl Token + ?Sized)) -> Response {
        self.send(Method::GET, "/api/user", None, Some(user.token()))
            .await
    }

    /// `GET /api/user`, 200: the user.
    pub async fn current_user_ok(&self, user: &(impl Token + ?Sized)) -> Value {
        expect_json(self.current_user(user).await, 200, "GET /api/user").await["user"].clone()
    }

    /// `PUT /api/user` with `changes`.
    pub async fn update_user(&self, user: &TestUser, changes: Value) -> Response {
        let body = json!({ "user": changes });
        self.send(Method::PUT, "/api/user", Some(body), Some(&user.token))
            .await
    }

    /// `PUT /api/user`, 200: the user.
    pub async fn update_user_ok(&self, user: &TestUser, changes: Value) -> Value {
        let response = self.update_user(user, changes).await;
        expect_json(response, 200, "PUT /api/user").await["user"].clone()
    }

    /// `POST /api/user/verify` with the token from a verification email.
    pub async fn verify_email(&self, token: &str) -> Response {
        let body = json!({ "token": token });
        self.send(Method::POST, "/api/user/verify", Some(body), None)
            .await
    }

    /// `GET /api/user/preferences`.
    pub async fn preferences(&self, user: &(impl Token + ?Sized)) -> Response {
        self.send(
            Method::GET,
            "/api/user/preferences",
            None,
            Some(user.token()),
        )
        .await
    }

    /// `GET /api/user/preferences`, 200: the preferences.
    pub async fn preferences_ok(&self, user: &(impl Token + ?Sized)) -> Value {
        let response = self.preferences(user).await;
        expect_json(response, 200, "GET /api/user/preferences").await["preferences"].clone()
    }

    /// `PUT /api/user/preferences` with `changes`.
    pub async fn update_preferences(
        &self,
        user: &(impl Token + ?Sized),
        changes: Value,
    ) -> Response {
        let body = json!({ "preferences": changes });
        self.send(
            Method::PUT,
            "/api/user/preferences",
            Some(body),
            Some(user.token()),
        )
        .await
    }

    /// `PUT /api/user/preferences`, 200: the preferences.
    pub async fn update_preferences_ok(
        &self,
        user: &(impl Token + ?Sized),
        changes: Value,
    ) -> Value {
        let response = self.update_preferences(user, changes).await;
        expect_json(response, 200, "PUT /api/user/preferences").await["preferences"].clone()
    }

    /// `GET /api/user/drafts`, 200: the list.
    pub async fn drafts_ok(&self, user: &TestUser) -> Value {
        self.get_ok("/api/user/drafts", Some(&user.token)).await
    }

    /// `GET /api/user/bookmarks`, 200: the list.
    pub async fn bookmarks_ok(&self, user: &TestUser) -> Value {
        self.get_ok("/api/user/bookmarks", Some(&user.token)).await
    }

    // Profiles.

    /// `GET /api/profiles/<name>`, as `viewer` or anonymously.
    pub async fn get_profile(&self, name: &str, viewer: Option<&TestUser>) -> Response {
        let path = format!("/api/profiles/{name}");
        self.send(Method::GET, &path, None, viewer_token(viewer))
            .await
    }

    /// `POST /api/profiles/<name>/follow`.
    pub async fn follow(&self, user: &(impl Token + ?Sized), name: &str) -> Response {
        let path = format!("/api/profiles/{name}/follow");
        self.send(Method::POST, &path, Some(json!({})), Some(user.token()))
            .await
    }

    /// `POST /api/profiles/<name>/follow`, 200: the profile.
    pub async fn follow_ok(&self, user: &TestUser, name: &str) -> Value {
        let response = self.follow(user, name).await;
        expect_json(response, 200, "follow").await["profile"].clone()
    }

    // Articles.

    /// `POST /api/articles` with `article`.
    pub async fn create_article(&self, user: &TestUser, article: Value) -> Response {
        let body = json!({ "article": article });
        self.send(Method::POST, "/api/articles", Some(body), Some(&user.token))
            .await
    }

    /// `POST /api/articles`, 201: the article.
    pub async fn create_article_ok(&self, user: &TestUser, article: Value) -> Value {
        let response = self.create_article(user, article).await;
        expect_json(response, 201, "POST /api/articles").await["article"].clone()
    }

    /// `POST /api/articles`, 201: the new article's slug.
    pub async fn publish(&self, user: &TestUser, article: Value) -> String {
        let article = self.create_article_ok(user, article).await;
        article["slug"].as_str().unwrap().to_string()
    }

    /// `GET /api/articles/<slug>`, as `viewer` or anonymously.
    pub async fn get_article(&self, slug: &str, viewer: Option<&TestUser>) -> Response {
        let path = format!("/api/articles/{slug}");
        self.send(Method::GET, &path, None, viewer_token(viewer))
            .await
    }

    /// `GET /api/articles/<slug>`, 200: the article.
    pub async fn get_article_ok(&self, slug: &str, viewer: Option<&TestUser>) -> Value {
        let response = self.get_article(slug, viewer).await;
        expect_json(response, 200, &format!("GET /api/articles/{slug}")).await["article"].clone()
    }

    /// `PUT /api/articles/<slug>` with `changes`.
    pub async fn update_article(&self, user: &TestUser, slug: &str, changes: Value) -> Response {
        let path = format!("/api/articles/{slug}");
        let body = json!({ "article": changes });
        self.send(Method::PUT, &path, Some(body), Some(&user.token))
            .await
    }

    /// `PUT /api/articles/<slug>`, 200: the article.
    pub async fn update_article_ok(&self, user: &TestUser, slug: &str, changes: Value) -> Value {
        let response = self.update_article(user, slug, changes).await;
        expect_json(response, 200, &format!("PUT /api/articles/{slug}")).await["article"].clone()
    }

    /// `DELETE /api/articles/<slug>`.
    pub async fn delete_article(&self, user: &TestUser, slug: &str) -> Response {
        let path = format!("/api/articles/{slug}");
        self.send(Method::DELETE, &path, None, Some(&user.token))
            .await
    }

    /// `GET /api/articles?<query>`.
    pub async fn list_articles(&self, query: &str) -> Response {
        let path = with_query("/api/articles", query);
        self.send(Method::GET, &path, None, None).await
    }

    /// `GET /api/articles?<query>`, 200: the list.
    pub async fn list_articles_ok(&self, query: &str) -> Value {
        let response = self.list_articles(query).await;
        expect_json(response, 200, &format!("GET /api/articles?{query}")).await
    }

    /// `GET /api/articles?<query>` as `reader`, 200: the list.
    pub async fn list_articles_as(&self, reader: &TestUser, query: &str) -> Value {
        let path = with_query("/api/articles", query);
        let response = self
            .send(Method::GET, &path, None, Some(&reader.token))
            .await;
        expect_json(response, 200, &format!("GET {path} as user {}", reader.id)).await
    }

    /// `GET /api/search?<query>` as `reader`, 200: the results.
    pub async fn search_as(&self, reader: &TestUser, query: &str) -> Value {
        let path = format!("/api/search?{query}");
        let response = self
            .send(Method::GET, &path, None, Some(&reader.token))
            .await;
        expect_json(response, 200, &format!("GET {path} as user {}", reader.id)).await
    }

    /// `GET /api/articles/feed`, 200: the list.
    pub async fn feed_ok(&self, user: &TestUser) -> Value {
        self.get_ok("/api/articles/feed", Some(&user.token)).await
    }

    /// `GET /api/tags`, 200: the tags.
    pub async fn tags_ok(&self) -> Value {
        self.get_ok("/api/tags", None).await["tags"].clone()
    }

    /// `GET /api/tags` as `reader`, 200: the tags they see (their own new ones included).
    pub async fn tags_as(&self, reader: &TestUser) -> Value {
        self.get_ok("/api/tags", Some(&reader.token)).await["tags"].clone()
    }

    // Favorites and bookmarks.

    /// `POST /api/articles/<slug>/favorite`.
    pub async fn favorite(&self, user: &TestUser, slug: &str) -> Response {
        let path = format!("/api/articles/{slug}/favorite");
        self.send(Method::POST, &path, Some(json!({})), Some(&user.token))
            .await
    }

    /// `DELETE /api/articles/<slug>/favorite`.
    pub async fn unfavorite(&self, user: &TestUser, slug: &str) -> Response {
        let path = format!("/api/articles/{slug}/favorite");
        self.send(Method::DELETE, &path, None, Some(&user.token))
            .await
    }

    /// `POST /api/articles/<slug>/bookmark`.
    pub async fn bookmark(&self, user: &TestUser, slug: &str) -> Response {
        let path = format!("/api/articles/{slug}/bookmark");
        self.send(Method::POST, &path, Some(json!({})), Some(&user.token))
            .await
    }

    /// `DELETE /api/articles/<slug>/bookmark`.
    pub async fn unbookmark(&self, user: &TestUser, slug: &str) -> Response {
        let path = format!("/api/articles/{slug}/bookmark");
        self.send(Method::DELETE, &path, None, Some(&user.token))
            .await
    }

    // Comments.

    /// `POST /api/articles/<slug>/comments` with the comment `body`.
    pub async fn add_comment(&self, user: &TestUser, slug: &str, body: &str) -> Response {
        let path = format!("/api/articles/{slug}/comments");
        let body = json!({ "comment": { "body": body } });
        self.send(Method::POST, &path, Some(body), Some(&user.token))
            .await
    }

    /// `GET /api/articles/<slug>/comments`.
    pub async fn list_comments(&self, slug: &str) -> Response {
        let path = format!("/api/articles/{slug}/comments");
        self.send(Method::GET, &path, None, None).await
    }

    /// `DELETE /api/articles/<slug>/comments/<id>`.
    pub async fn delete_comment(&self, user: &TestUser, slug: &str, id: &str) -> Response {
        let path = format!("/api/articles/{slug}/comments/{id}");
        self.send(Method::DELETE, &path, None, Some(&user.token))
            .await
    }

    // Search.

    /// `GET /api/search?<query>`.
    pub async fn search(&self, query: &str) -> Response {
        let path = format!("/api/search?{query}");
        self.send(Method::GET, &path, None, None).await
    }

    /// `GET /api/search?<query>`, 200: the results.
    pub async fn search_ok(&self, query: &str) -> Value {
        expect_json(self.search(query).await, 200, &format!("search {query}")).await
    }

    /// Waits up to [`SEARCH_WITHIN`] until searching `query` finds exactly `expected`, in
    /// order, and returns that answer.
    pub async fn search_until(&self, query: &str, expected: &[&str]) -> Value {
        eventually(
            SEARCH_WITHIN,
            &format!("search {query} → {expected:?}"),
            || async {
                let found = self.search_ok(query).await;
                (result_slugs(&found) == expected).then_some(found)
            },
        )
        .await
    }

    // Learning: sessions, paths, assessments.

    /// `POST /api/learning/sessions` with `session`.
    pub async fn record_session(&self, user: &TestUser, session: Value) -> Response {
        let body = json!({ "session": session });
        self.send(
            Method::POST,
            "/api/learning/sessions",
            Some(body),
            Some(&user.token),
        )
        .await
    }

    /// `POST /api/learning/sessions`, 201: `{"session": …, "standing": …}`.
    pub async fn record_session_ok(&self, user: &TestUser, session: Value) -> Value {
        let response = self.record_session(user, session).await;
        expect_json(response, 201, "POST /api/learning/sessions").await
    }

    /// `GET /api/learning/sessions?<query>`, 200: the list.
    pub async fn list_sessions_ok(&self, user: &TestUser, query: &str) -> Value {
        let path = with_query("/api/learning/sessions", query);
        self.get_ok(&path, Some(&user.token)).await
    }

    /// `POST /api/learning/paths` with `path`.
    pub async fn create_path(&self, user: &TestUser, path: Value) -> Response {
        let body = json!({ "path": path });
        self.send(
            Method::POST,
            "/api/learning/paths",
            Some(body),
            Some(&user.token),
        )
        .await
    }

    /// `GET /api/learning/paths`, 200: the list.
    pub async fn list_paths_ok(&self, user: &TestUser) -> Value {
        self.get_ok("/api/learning/paths", Some(&user.token)).await
    }

    /// `PUT /api/learning/paths/<id>/milestones/<index>` with `changes`.
    pub async fn update_milestone(
        &self,
        user: &TestUser,
        path_id: &str,
        index: usize,
        changes: Value,
    ) -> Response {
        let path = format!("/api/learning/paths/{path_id}/milestones/{index}");
        let body = json!({ "milestone": changes });
        self.send(Method::PUT, &path, Some(body), Some(&user.token))
            .await
    }

    /// `POST /api/assessments` with `assessment`.
    pub async fn record_assessment(&self, user: &TestUser, assessment: Value) -> Response {
        let body = json!({ "assessment": assessment });
        self.send(
            Method::POST,
            "/api/assessments",
            Some(body),
            Some(&user.token),
        )
        .await
    }

    /// `GET /api/assessments`, 200: the list.
    pub async fn list_assessments_ok(&self, user: &TestUser) -> Value {
        self.get_ok("/api/assessments", Some(&user.token)).await
    }

    // The dashboard and analytics.

    /// `GET /api/dashboard`.
    pub async fn dashboard(&self, user: &TestUser) -> Response {
        self.send(Method::GET, "/api/dashboard", None, Some(&user.token))
            .await
    }

    /// `GET /api/dashboard`, 200: its `X-Cache` and the dashboard.
    pub async fn dashboard_ok(&self, user: &TestUser) -> (String, Value) {
        let response = self.dashboard(user).await;
        let cache = x_cache(&response);
        let body = expect_json(response, 200, "GET /api/dashboard").await;
        (cache, body["dashboard"].clone())
    }

    /// `GET /api/analytics/insights?<query>`.
    pub async fn insights(&self, user: &TestUser, query: &str) -> Response {
        let path = with_query("/api/analytics/insights", query);
        self.send(Method::GET, &path, None, Some(&user.token)).await
    }

    /// `GET /api/analytics/insights?<query>`, 200: the body.
    pub async fn insights_ok(&self, user: &TestUser, query: &str) -> Value {
        let response = self.insights(user, query).await;
        expect_json(response, 200, "GET /api/analytics/insights").await
    }

    /// `GET /api/analytics/articles/<slug_and_query>`, e.g. `"my-post?days=7"`.
    pub async fn article_analytics(&self, user: &TestUser, slug_and_query: &str) -> Response {
        let path = format!("/api/analytics/articles/{slug_and_query}");
        self.send(Method::GET, &path, None, Some(&user.token)).await
    }

    /// `GET /api/admin/reports/<report_and_query>`, e.g. `"active-users?period=day"`.
    pub async fn admin_report(&self, user: &TestUser, report_and_query: &str) -> Response {
        let path = format!("/api/admin/reports/{report_and_query}");
        self.send(Method::GET, &path, None, Some(&user.token)).await
    }

    /// `GET /api/admin/reports/<report_and_query>`, 200: the report.
    pub async fn admin_report_ok(&self, user: &TestUser, report_and_query: &str) -> Value {
        let response = self.admin_report(user, report_and_query).await;
        expect_json(response, 200, report_and_query).await
    }

    // Subscriptions and payments.

    /// `GET /api/subscription`, 200: the subscription.
    pub async fn subscription_ok(&self, user: &TestUser) -> Value {
        self.get_ok("/api/subscription", Some(&user.token)).await["subscription"].clone()
    }

    /// `PUT /api/subscription` with `subscription`.
    pub async fn change_subscription(&self, user: &TestUser, subscription: Value) -> Response {
        let body = json!({ "subscription": subscription });
        self.send(
            Method::PUT,
            "/api/subscription",
            Some(body),
            Some(&user.token),
        )
        .await
    }

    /// `DELETE /api/subscription`.
    pub async fn cancel_subscription(&self, user: &TestUser) -> Response {
        self.send(Method::DELETE, "/api/subscription", None, Some(&user.token))
            .await
    }

    /// `GET /api/payments`, 200: the list.
    pub async fn payments_ok(&self, user: &TestUser) -> Value {
        self.get_ok("/api/payments", Some(&user.token)).await
    }

    /// `POST /api/payments` with `payment`, under `Idempotency-Key: key`.
    pub async fn pay(&self, user: &TestUser, key: &str, payment: &Value) -> Response {
        self.http
            .post(self.url("/api/payments"))
            .header("Authorization", format!("Token {}", user.token))
            .header("Idempotency-Key", key)
            .json(&json!({ "payment": payment }))
            .send()
            .await
            .unwrap()
    }

    /// `GET /api/orders`, 200: the list.
    pub async fn orders_ok(&self, user: &TestUser) -> Value {
        self.get_ok("/api/orders", Some(&user.token)).await
    }
}
