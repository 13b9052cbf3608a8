//! `TestApp`: a TechHub server on a random port with its own MySQL database, PostgreSQL
//! database, MongoDB database and Redis key prefix ([`TestDatabases`], in `databases`), dropped
//! when the `TestApp` is; the users it registers, the mail it sent, and `eventually`.
//! The methods for the API's routes are in `crate::routes`; answers are checked against the
//! OpenAPI document's schemas by [`assert_documented`] (in `contract`).

mod contract;
mod databases;

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::Connection;
use techhub::Application;
use techhub_api::Stores;
use techhub_core::Config;

pub use contract::assert_documented;
pub use databases::*;

/// A running TechHub on `127.0.0.1:<random port>` over its own [`TestDatabases`].
pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub stores: Stores,
    pub config: Config,
    pub payments: std::sync::Arc<dyn techhub_accounts::payments::PaymentProvider>,
    search: std::sync::Arc<techhub_search::SearchIndex>,
    /// Loads of cached entries that went to the stores.
    pub flights: std::sync::Arc<techhub_api::cached::Flights>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    // Last: dropped after the server stopped.
    pub dbs: TestDatabases,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Like [`TestApp::spawn`], letting the test adjust the configuration (already pointing
    /// at the test databases) first.
    pub async fn spawn_with(customize: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_on(TestDatabases::create().await, customize).await
    }

    /// A server over existing test databases (and data folder), e.g. after [`TestApp::stop`].
    pub async fn spawn_on(dbs: TestDatabases, customize: impl FnOnce(&mut Config)) -> Self {
        let mut config = dbs.config.clone();
        customize(&mut config);
        let app = Application::build(config.clone())
            .await
            .expect("the application builds");
        let address = format!("http://{}", app.local_addr());
        let stores = app.stores().clone();
        let payments = app.payments();
        let search = app.search();
        let flights = app.flights();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        TestApp {
            address,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            stores,
            config,
            payments,
            search,
            flights,
            shutdown: Some(tx),
            server: Some(server),
            dbs,
        }
    }

    /// Another server over the same databases and Redis prefix (its own search index folder),
    /// as a second instance behind a load balancer would be. The databases stay this one's.
    pub async fn second_instance(&self) -> TestApp {
        self.second_instance_with(|_| {}).await
    }

    /// [`TestApp::second_instance`], letting the test adjust its configuration first.
    pub async fn second_instance_with(&self, customize: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = self.dbs.config.clone();
        config.data_dir = config.data_dir.join("second-instance");
        TestApp::spawn_on(self.dbs.borrowed(config), customize).await
    }

    /// Waits until this server's search index shows every write made so far (at most 5 s):
    /// what readers other than the writer see once it does.
    pub async fn index_caught_up(&self) {
        let written = self.search.write_ticket();
        assert!(
            self.search
                .covered(written, std::time::Duration::from_secs(5))
                .await,
            "the search index did not catch up within 5 s"
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// Signs tokens exactly as the app does.
    pub fn jwt(&self) -> techhub_api::auth::Jwt {
        techhub_api::auth::Jwt::from_config(&self.config)
    }

    /// A well-formed token for `user_id`, signed with another secret than the app's.
    pub fn forged_token(&self, user_id: u64) -> String {
        let mut other = self.config.clone();
        other.jwt_secret = "an-entirely-different-secret-of-sufficient-length"
            .to_string()
            .into();
        techhub_api::auth::Jwt::from_config(&other).issue(user_id)
    }

    /// The built-in sandbox payment provider the app charges.
    pub fn sandbox(&self) -> &techhub_accounts::payments::SandboxProvider {
        let any: &dyn std::any::Any = self.payments.as_ref();
        any.downcast_ref()
            .expect("the test app uses the sandbox provider")
    }

    pub fn mongo(&self) -> &mongodb::Database {
        self.stores.mongo.db()
    }

    /// A request to `path` with a JSON `body` and a token, if given: the routes' methods in
    /// `crate::routes` all go through this.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.http.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(token) = token {
            request = request.header("Authorization", format!("Token {token}"));
        }
        request.send().await.expect("request sent")
    }

    /// `n` accounts named `<prefix><i>`, inserted straight into MySQL (registering through the
    /// API would spend the time on Argon2), and a token for each.
    pub async fn quick_tokens(&self, prefix: &str, n: usize) -> Vec<String> {
        let mut tokens = Vec::with_capacity(n);
        for i in 0..n {
            let id = sqlx::query(
                "INSERT INTO users (email, username, password_hash) VALUES (?, ?, 'x')",
            )
            .bind(format!("{prefix}{i}@example.com"))
            .bind(format!("{prefix}{i}"))
            .execute(self.stores.mysql.pool())
            .await
            .unwrap()
            .last_insert_id();
            tokens.push(self.jwt().issue(id));
        }
        tokens
    }

    /// The same request sent once with each token, all at once.
    pub async fn send_all(
        &self,
        method: reqwest::Method,
        path: &str,
        tokens: &[String],
    ) -> Vec<reqwest::Response> {
        futures::future::join_all(
            tokens
                .iter()
                .map(|t| self.send(method.clone(), path, None, Some(t))),
        )
        .await
    }

    /// Registers `username` (email `<username>@example.com`, password `password123`).
    pub async fn register(&self, username: &str) -> TestUser {
        let email = format!("{username}@example.com");
        let response = self
            .create_user(json!({ "username": username, "email": email, "password": "password123" }))
            .await;
        assert_eq!(response.status(), 201, "registering {username}");
        let body: Value = response.json().await.unwrap();
        let id: u64 = sqlx::query_scalar("SELECT id FROM users WHERE username = ?")
            .bind(username)
            .fetch_one(self.stores.mysql.pool())
            .await
            .unwrap();
        TestUser {
            id,
            email,
            token: body["user"]["token"].as_str().unwrap().to_string(),
        }
    }

    /// The mail the file sink wrote to `to`, oldest first, waiting up to 5 s for at least one.
    pub async fn mail_to(&self, to: &str) -> Vec<String> {
        let dir = self.config.data_dir.join("mail");
        let needle = format!("To: {to}");
        eventually(Duration::from_secs(5), &format!("mail to {to}"), || {
            let dir = dir.clone();
            let needle = needle.clone();
            async move {
                let mut found: Vec<(std::time::SystemTime, String)> = Vec::new();
                for entry in std::fs::read_dir(&dir).ok()?.flatten() {
                    let path = entry.path();
                    if path.extension().is_some_and(|e| e == "eml") {
                        let text = std::fs::read_to_string(&path).ok()?;
                        if text.lines().any(|l| l == needle) {
                            found.push((entry.metadata().ok()?.modified().ok()?, text));
                        }
                    }
                }
                found.sort();
                (!found.is_empty()).then(|| found.into_iter().map(|(_, t)| t).collect())
            }
        })
        .await
    }
}

/// A registered user and their token.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: u64,
    pub email: String,
    pub token: String,
}

/// The verification token in a verification email, read as a mail client would (the body is
/// quoted-printable).
pub fn token_in(mail: &str) -> String {
    let body = decode_quoted_printable(mail);
    let line = body
        .lines()
        .find(|l| l.contains("verify-email?token="))
        .unwrap_or_else(|| panic!("no verification link in {body}"));
    line.split("token=").nth(1).unwrap().trim().to_string()
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl TestApp {
    /// Waits until every event so far is delivered (the outbox, the pending events of posts,
    /// comments and favorites, and new posts' events on the change stream), so the invalidations they carry cannot land in the middle of a
    /// cache assertion.
    pub async fn settled(&self) {
        let mysql_url = self.dbs.config.mysql_url.clone();
        eventually(Duration::from_secs(3), "all events delivered", || async {
            let mut db = sqlx::MySqlConnection::connect(&mysql_url).await.unwrap();
            let pending: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status <> 'delivered'")
                    .fetch_one(&mut db)
                    .await
                    .unwrap();
            let mut due = 0;
            for collection in ["posts", "comments", "favorite_clicks"] {
                due += self
                    .mongo()
                    .collection::<mongodb::bson::Document>(collection)
                    .count_documents(mongodb::bson::doc! { "eventsDueAt": { "$exists": true } })
                    .await
                    .unwrap();
            }
            // New posts' events go out through the change stream: delivered once the
            // relay's cursor reached the newest post that carries one.
            let newest = self
                .mongo()
                .collection::<mongodb::bson::Document>("posts")
                .find_one(mongodb::bson::doc! { "createdEvent": { "$exists": true } })
                .sort(mongodb::bson::doc! { "_id": -1 })
                .projection(mongodb::bson::doc! { "_id": 1 })
                .await
                .unwrap()
                .map(|d| d.get_object_id("_id").unwrap());
            let cursor = techhub_content::posts::created::cursor(&self.stores.mongo)
                .await
                .unwrap()
                .and_then(|c| c.last_id);
            let streamed = newest.is_none_or(|newest| cursor.is_some_and(|last| last >= newest));
            (pending == 0 && due == 0 && streamed).then_some(())
        })
        .await;
    }

    /// How many events of `event_type` the outbox holds.
    pub async fn outbox_events(&self, event_type: &str) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE event_type = ?")
            .bind(event_type)
            .fetch_one(self.stores.mysql.pool())
            .await
            .unwrap()
    }

    /// The post's document in MongoDB.
    pub async fn post_document(&self, slug: &str) -> mongodb::bson::Document {
        self.mongo()
            .collection::<mongodb::bson::Document>("posts")
            .find_one(mongodb::bson::doc! { "slug": slug })
            .await
            .unwrap()
            .expect("post document")
    }

    /// The checkpoint this server's search index last committed.
    pub fn search_checkpoint(&self) -> Option<techhub_search::index::Checkpoint> {
        self.search.checkpoint()
    }

    /// Stops the server cleanly (workers finish, the search index is released) and hands
    /// back its databases and data folder, still there.
    pub async fn stop(mut self) -> TestDatabases {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
        self.dbs.hand_over()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
