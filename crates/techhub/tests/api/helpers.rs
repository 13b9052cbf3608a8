//! `TestApp`: a TechHub server on a random port with its own MySQL database, PostgreSQL
//! database, MongoDB database and Redis key prefix, all named `techhub_test_<secs>_<random>`.
//! They are dropped when the `TestApp` is; the ones a crashed run left behind are swept
//! once they are an hour old (the creation time is part of the name, so a sweep never touches
//! a database another test process is still using).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{StreamExt, TryStreamExt};
use rand::Rng;
use serde_json::{json, Value};
use sqlx::{Connection, Executor};
use techhub::Application;
use techhub_api::Stores;
use techhub_core::config::{database_name, with_database};
use techhub_core::Config;
use tokio::sync::OnceCell;

pub const TEST_PREFIX: &str = "techhub_test_";
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// Fresh, empty databases in every store, dropped with this value.
pub struct TestDatabases {
    pub name: String,
    /// The configuration pointing at them (and at the default servers otherwise).
    pub config: Config,
    base: Config,
    /// False once handed on to another owner (see [`TestApp::stop`]).
    armed: bool,
}

impl TestDatabases {
    pub async fn create() -> Self {
        init_test_logging();
        let base = Config::from_env().expect("TECHHUB_* variables parse");
        static SWEPT: OnceCell<()> = OnceCell::const_new();
        SWEPT.get_or_init(|| sweep_stale(&base)).await;

        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let suffix: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(8)
            .map(|c| (c as char).to_ascii_lowercase())
            .collect();
        let name = format!("{TEST_PREFIX}{secs}_{suffix}");

        let mut mysql = sqlx::MySqlConnection::connect(&base.mysql_url)
            .await
            .expect("connect to MySQL");
        mysql
            .execute(
                format!(
                    "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
                .as_str(),
            )
            .await
            .expect("create the MySQL test database");
        let mut pg = sqlx::PgConnection::connect(&base.postgres_url)
            .await
            .expect("connect to PostgreSQL");
        pg.execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .expect("create the PostgreSQL test database");

        let mut config = base.clone();
        config.mysql_url = with_database(&base.mysql_url, &name).unwrap();
        config.postgres_url = with_database(&base.postgres_url, &name).unwrap();
        config.mongodb_url = with_database(&base.mongodb_url, &name).unwrap();
        config.redis_prefix = format!("{name}:");
        config.bind = "127.0.0.1:0".into();
        config.data_dir = std::env::temp_dir().join(&name);
        // Quick retries, so tests of outages see recovery in seconds.
        config.relay_poll_ms = 50;
        config.relay_max_backoff_ms = 500;
        config.search_poll_ms = 100;
        // Tests register many users from one address; the rate-limit test sets its own.
        config.rate_register_ip = techhub_core::RateLimit::OFF;
        config.rate_login_ip = techhub_core::RateLimit::OFF;
        TestDatabases {
            name,
            config,
            base,
            armed: true,
        }
    }

    /// The environment a `techhub` child process needs to use these databases.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TECHHUB_MYSQL_URL", self.config.mysql_url.clone()),
            ("TECHHUB_POSTGRES_URL", self.config.postgres_url.clone()),
            ("TECHHUB_MONGODB_URL", self.config.mongodb_url.clone()),
            ("TECHHUB_REDIS_URL", self.config.redis_url.clone()),
            ("TECHHUB_REDIS_PREFIX", self.config.redis_prefix.clone()),
            (
                "TECHHUB_DATA_DIR",
                self.config.data_dir.display().to_string(),
            ),
        ]
    }
}

impl Drop for TestDatabases {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let base = self.base.clone();
        let name = self.name.clone();
        let _ = std::fs::remove_dir_all(&self.config.data_dir);
        // Drop runs inside the test's runtime, which cannot be blocked on; a helper thread
        // with its own runtime does the async clean-up.
        let cleanup = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(drop_databases(&base, &[name]))
        });
        let _ = cleanup.join();
    }
}

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
        let mut config = self.dbs.config.clone();
        config.data_dir = config.data_dir.join("second-instance");
        let dbs = TestDatabases {
            name: self.dbs.name.clone(),
            config,
            base: self.dbs.base.clone(),
            armed: false,
        };
        TestApp::spawn_on(dbs, |_| {}).await
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

    /// The built-in sandbox payment provider the app charges.
    pub fn sandbox(&self) -> &techhub_accounts::payments::SandboxProvider {
        let any: &dyn std::any::Any = self.payments.as_ref();
        any.downcast_ref()
            .expect("the test app uses the sandbox provider")
    }

    pub fn mongo(&self) -> &mongodb::Database {
        self.stores.mongo.db()
    }

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

    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> reqwest::Response {
        self.send(reqwest::Method::POST, path, Some(body), token)
            .await
    }

    pub async fn put(&self, path: &str, body: Value, token: Option<&str>) -> reqwest::Response {
        self.send(reqwest::Method::PUT, path, Some(body), token)
            .await
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> reqwest::Response {
        self.send(reqwest::Method::GET, path, None, Some(token))
            .await
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
            .post(
                "/api/users",
                json!({ "user": { "username": username, "email": email, "password": "password123" } }),
                None,
            )
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
        self.dbs.armed = false;
        TestDatabases {
            name: self.dbs.name.clone(),
            config: self.dbs.config.clone(),
            base: self.dbs.base.clone(),
            armed: true,
        }
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

fn init_test_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        techhub::telemetry::init(techhub_core::config::LogFormat::Text);
    }
}

/// The creation time encoded in a test database name, if it is one.
fn created_at(name: &str) -> Option<SystemTime> {
    let secs: u64 = name
        .strip_prefix(TEST_PREFIX)?
        .split('_')
        .next()?
        .parse()
        .ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

fn is_stale(name: &str) -> bool {
    created_at(name).is_some_and(|t| t.elapsed().unwrap_or_default() > STALE_AFTER)
}

/// Drops test databases (and Redis keys) that crashed runs left behind.
pub async fn sweep_stale(base: &Config) {
    let mut stale: Vec<String> = Vec::new();
    if let Ok(mut conn) = sqlx::MySqlConnection::connect(&base.mysql_url).await {
        let names: Vec<String> = sqlx::query_scalar("SHOW DATABASES LIKE 'techhub\\_test\\_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
        stale.extend(names);
    }
    if let Ok(mut conn) = sqlx::PgConnection::connect(&base.postgres_url).await {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT datname FROM pg_database WHERE datname LIKE 'techhub\\_test\\_%'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
        stale.extend(names);
    }
    if let Ok(client) = mongodb::Client::with_uri_str(&base.mongodb_url).await {
        if let Ok(names) = client.list_database_names().await {
            stale.extend(names);
        }
    }
    if let Ok(client) = redis::Client::open(base.redis_url.as_str()) {
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
            let keys = redis_keys(&mut conn, &format!("{TEST_PREFIX}*")).await;
            stale.extend(
                keys.into_iter()
                    .filter_map(|k| k.split(':').next().map(str::to_string)),
            );
        }
    }
    stale.retain(|n| is_stale(n));
    stale.sort();
    stale.dedup();
    if !stale.is_empty() {
        drop_databases(base, &stale).await;
    }
}

/// Drops the named test databases in every store, and their Redis keys. Best effort: a
/// failure here must not fail the test that just passed.
pub async fn drop_databases(base: &Config, names: &[String]) {
    for name in names.iter().filter(|n| n.starts_with(TEST_PREFIX)) {
        if let Ok(mut conn) = sqlx::MySqlConnection::connect(&base.mysql_url).await {
            // Like PostgreSQL's WITH (FORCE): a connection the stopped app left mid-transaction
            // would otherwise hold a metadata lock that DROP DATABASE waits on.
            let others: Vec<u64> = sqlx::query_scalar(
                "SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()",
            )
            .bind(name)
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
            for id in others {
                let _ = conn.execute(format!("KILL {id}").as_str()).await;
            }
            let _ = conn.execute("SET SESSION lock_wait_timeout = 10").await;
            let _ = conn
                .execute(format!("DROP DATABASE IF EXISTS `{name}`").as_str())
                .await;
        }
        if let Ok(mut conn) = sqlx::PgConnection::connect(&base.postgres_url).await {
            let _ = conn
                .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
                .await;
        }
        if let Ok(client) = mongodb::Client::with_uri_str(&base.mongodb_url).await {
            let _ = client.database(name).drop().await;
        }
        if let Ok(client) = redis::Client::open(base.redis_url.as_str()) {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                let keys = redis_keys(&mut conn, &format!("{name}:*")).await;
                if !keys.is_empty() {
                    let _: Result<(), _> = redis::AsyncCommands::del(&mut conn, keys).await;
                }
            }
        }
    }
}

/// Every key matching `pattern`, by SCAN (never KEYS, which blocks Redis).
async fn redis_keys(conn: &mut redis::aio::MultiplexedConnection, pattern: &str) -> Vec<String> {
    let Ok(iter) = redis::AsyncCommands::scan_match::<_, String>(conn, pattern).await else {
        return Vec::new();
    };
    iter.filter_map(|k| async move { k.ok() }).collect().await
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

#[test]
fn test_database_names_carry_their_age() {
    let old = format!("{TEST_PREFIX}1000_abcdefgh");
    assert!(is_stale(&old));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(!is_stale(&format!("{TEST_PREFIX}{now}_abcdefgh")));
    assert!(!is_stale("techhub"), "never a non-test database");
    assert_eq!(
        database_name("mysql://u@h/techhub_test_1_x").as_deref(),
        Some("techhub_test_1_x")
    );
}

#[allow(dead_code)]
pub async fn mongo_collection_names(db: &mongodb::Database) -> Vec<String> {
    let mut names: Vec<String> = db.list_collection_names().await.unwrap();
    names.sort();
    names
}

#[allow(dead_code)]
pub async fn mongo_indexes(db: &mongodb::Database, collection: &str) -> Vec<mongodb::IndexModel> {
    db.collection::<mongodb::bson::Document>(collection)
        .list_indexes()
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
}

#[allow(dead_code)]
pub async fn mongo_index_names(db: &mongodb::Database, collection: &str) -> Vec<String> {
    let mut names: Vec<String> = mongo_indexes(db, collection)
        .await
        .into_iter()
        .filter_map(|i| i.options.and_then(|o| o.name))
        .collect();
    names.sort();
    names
}
