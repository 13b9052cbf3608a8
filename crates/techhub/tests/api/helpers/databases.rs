//! `TestDatabases`: fresh databases in every store for one test, named
//! `techhub_test_<secs>_<random>`, dropped with the value; and the sweep of the ones a crashed
//! run left behind once they are an hour old (the creation time is part of the name, so a sweep
//! never touches a database another test process is still using).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{StreamExt, TryStreamExt};
use sqlx::{Connection, Executor};
use techhub_core::config::{database_name, with_database};
use techhub_core::Config;
use tokio::sync::OnceCell;

pub use techhub_core::config::TEST_DATABASE_PREFIX as TEST_PREFIX;
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// Fresh, empty databases in every store, dropped with this value.
pub struct TestDatabases {
    pub name: String,
    /// The configuration pointing at them (and at the default servers otherwise).
    pub config: Config,
    base: Config,
    /// False once handed on to another owner (see [`TestDatabases::hand_over`]).
    armed: bool,
}

impl TestDatabases {
    pub async fn create() -> Self {
        init_test_logging();
        let base = Config::from_env().expect("TECHHUB_* variables parse");
        static SWEPT: OnceCell<()> = OnceCell::const_new();
        SWEPT.get_or_init(|| sweep_stale(&base)).await;

        let name = techhub_core::config::test_database_name();

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

impl TestDatabases {
    /// The same databases under `config` (e.g. another data folder), for a server that uses
    /// them without owning them: dropping the copy drops nothing.
    pub fn borrowed(&self, config: Config) -> TestDatabases {
        TestDatabases {
            name: self.name.clone(),
            config,
            base: self.base.clone(),
            armed: false,
        }
    }

    /// Hands these databases on to a new owner: this value no longer drops them, the one
    /// returned does.
    pub fn hand_over(&mut self) -> TestDatabases {
        self.armed = false;
        TestDatabases {
            name: self.name.clone(),
            config: self.config.clone(),
            base: self.base.clone(),
            armed: true,
        }
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
    let fresh = techhub_core::config::test_database_name();
    assert!(created_at(&fresh).is_some() && !is_stale(&fresh), "{fresh}");
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

/// Every document of `collection`, by `_id`.
pub async fn mongo_documents(
    db: &mongodb::Database,
    collection: &str,
) -> Vec<mongodb::bson::Document> {
    db.collection::<mongodb::bson::Document>(collection)
        .find(mongodb::bson::doc! {})
        .sort(mongodb::bson::doc! { "_id": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
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
