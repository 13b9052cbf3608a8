//! Accounts and billing on MySQL / MariaDB: the single source of truth for identity and money.
//! This crate owns the MySQL pool, its embedded migrations (`migrations/mysql`), users and
//! their passwords, subscriptions, payments and orders ([`billing`]), the transactional
//! outbox, and the bulk writes the seed uses ([`bulk`]).

pub mod billing;
pub mod bulk;
pub mod error;
pub mod outbox;
pub mod password;
pub mod payments;
pub mod users;

pub use error::AccountsError;

use std::time::Duration;

use sqlx::migrate::{Migrate, Migrator};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::Connection;
use techhub_core::{MigrationReport, PoolSettings, Probe, Store};

/// Migrations embedded at compile time; `techhub migrate` and `serve` apply them.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/mysql");

#[derive(Debug, thiserror::Error)]
pub enum MySqlError {
    #[error("invalid MySQL URL: {0}")]
    Url(#[source] sqlx::Error),
    #[error("MySQL did not answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The accounts store: a MySQL connection pool plus the query timeout every call obeys.
#[derive(Clone, Debug)]
pub struct MySql {
    pool: MySqlPool,
    query_timeout: Duration,
}

impl MySql {
    /// Builds the pool without opening a connection, so the service can start (and report
    /// itself unhealthy) while MySQL is down, and recover by itself when it returns.
    pub fn connect_lazy(settings: &PoolSettings) -> Result<Self, MySqlError> {
        let options: MySqlConnectOptions = settings.url.parse().map_err(MySqlError::Url)?;
        let pool = MySqlPoolOptions::new()
            .max_connections(settings.pool_size)
            .min_connections(0)
            .acquire_timeout(settings.connect_timeout)
            .idle_timeout(Some(Duration::from_secs(300)))
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > techhub_core::store::PING_AFTER_IDLE {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(options);
        Ok(MySql {
            pool,
            query_timeout: settings.query_timeout,
        })
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// Runs `fut` under the configured query timeout.
    pub async fn timed<T, F>(&self, fut: F) -> Result<T, MySqlError>
    where
        F: std::future::Future<Output = Result<T, sqlx::Error>>,
    {
        techhub_core::bounded(self.query_timeout, fut)
            .await
            .map_err(|e| e.map_or(MySqlError::Timeout(self.query_timeout), MySqlError::Db))
    }

    /// Applies pending migrations; reports how many were applied by this call.
    pub async fn migrate(&self) -> Result<MigrationReport, MySqlError> {
        let mut conn = self.pool.acquire().await?;
        conn.ensure_migrations_table().await?;
        let applied = conn.list_applied_migrations().await?;
        drop(conn);
        let pending = MIGRATOR
            .iter()
            .filter(|m| !applied.iter().any(|a| a.version == m.version))
            .count();
        MIGRATOR.run(&self.pool).await?;
        Ok(MigrationReport {
            applied_now: pending,
            total: MIGRATOR.iter().count(),
        })
    }

    /// One `SELECT 1` round trip bounded by `timeout`; `with_version` also asks the version.
    pub async fn probe(&self, timeout: Duration, with_version: bool) -> Probe {
        techhub_core::probe(Store::Mysql, timeout, async {
            sqlx::query_scalar::<_, i32>("SELECT 1")
                .fetch_one(&self.pool)
                .await?;
            if !with_version {
                return Ok::<_, sqlx::Error>(None);
            }
            let version: String = sqlx::query_scalar("SELECT VERSION()")
                .fetch_one(&self.pool)
                .await?;
            Ok(Some(version))
        })
        .await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
