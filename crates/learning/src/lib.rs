//! Learning analytics on PostgreSQL: `user_analytics` (JSONB), learning sessions, paths,
//! skill assessments and the `user_learning_insights` view. This crate owns the PostgreSQL
//! pool and its embedded migrations (`migrations/postgres`).

pub mod activity;
pub mod analytics;
pub mod bulk;
pub mod engagement;
pub mod paths;
pub mod reports;
pub mod sessions;
#[cfg(test)]
mod test_db;

use std::time::Duration;

use sqlx::migrate::{Migrate, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Connection;
use techhub_core::{MigrationReport, PoolSettings, Probe, Store};

/// Migrations embedded at compile time; `techhub migrate` and `serve` apply them.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("invalid PostgreSQL URL: {0}")]
    Url(#[source] sqlx::Error),
    #[error("PostgreSQL did not answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The learning store: a PostgreSQL connection pool plus the query timeout every call obeys.
#[derive(Clone, Debug)]
pub struct Postgres {
    pool: PgPool,
    query_timeout: Duration,
}

impl Postgres {
    /// Builds the pool without opening a connection, so the service can start (and report
    /// itself unhealthy) while PostgreSQL is down, and recover by itself when it returns.
    pub fn connect_lazy(settings: &PoolSettings) -> Result<Self, PgError> {
        let options: PgConnectOptions = settings.url.parse().map_err(PgError::Url)?;
        // A server-side limit too, so an abandoned statement does not keep running after
        // the client-side timeout fired.
        let options = options.options([(
            "statement_timeout",
            format!("{}ms", settings.query_timeout.as_millis()),
        )]);
        let pool = PgPoolOptions::new()
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
        Ok(Postgres {
            pool,
            query_timeout: settings.query_timeout,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `fut` under the configured query timeout.
    pub async fn timed<T, F>(&self, fut: F) -> Result<T, PgError>
    where
        F: std::future::Future<Output = Result<T, sqlx::Error>>,
    {
        techhub_core::bounded(self.query_timeout, fut)
            .await
            .map_err(|e| e.map_or(PgError::Timeout(self.query_timeout), PgError::Db))
    }

    /// Applies pending migrations; reports how many were applied by this call.
    pub async fn migrate(&self) -> Result<MigrationReport, PgError> {
        let mut conn = self.pool.acquire().await?;
        conn.ensure_migrations_table().await?;
        let applied = conn.list_applied_migrations().await?;
        let pending = MIGRATOR
            .iter()
            .filter(|m| !applied.iter().any(|a| a.version == m.version))
            .count();
        // Building an index on a large table may outlast the request statement timeout.
        sqlx::query("SET statement_timeout = 0")
            .execute(&mut *conn)
            .await?;
        MIGRATOR.run(&mut *conn).await?;
        sqlx::query("RESET statement_timeout")
            .execute(&mut *conn)
            .await?;
        Ok(MigrationReport {
            applied_now: pending,
            total: MIGRATOR.iter().count(),
        })
    }

    /// One `SELECT 1` round trip bounded by `timeout`; `with_version` also asks the version.
    pub async fn probe(&self, timeout: Duration, with_version: bool) -> Probe {
        techhub_core::probe(Store::Postgres, timeout, async {
            sqlx::query_scalar::<_, i32>("SELECT 1")
                .fetch_one(&self.pool)
                .await?;
            if !with_version {
                return Ok::<_, sqlx::Error>(None);
            }
            let version: String = sqlx::query_scalar("SHOW server_version")
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
