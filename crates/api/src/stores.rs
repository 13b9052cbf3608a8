//! The four store handles, built once at start-up and shared by every request.

use std::time::Duration;

use techhub_accounts::MySql;
use techhub_cache::Redis;
use techhub_content::Mongo;
use techhub_core::{Config, MigrationReport, Probe, Store};
use techhub_learning::Postgres;

#[derive(Clone, Debug)]
pub struct Stores {
    pub mysql: MySql,
    pub postgres: Postgres,
    pub mongo: Mongo,
    pub redis: Redis,
}

#[derive(Debug, thiserror::Error)]
pub enum StoresError {
    #[error("mysql: {0}")]
    Mysql(#[from] techhub_accounts::MySqlError),
    #[error("postgres: {0}")]
    Postgres(#[from] techhub_learning::PgError),
    #[error("mongodb: {0}")]
    Mongo(#[from] techhub_content::MongoError),
    #[error("redis: {0}")]
    Redis(#[from] techhub_cache::RedisError),
}

impl Stores {
    /// Builds every client without waiting for any store: pools connect on first use and
    /// reconnect by themselves, so a store that is down at start-up or later only makes the
    /// requests that need it fail, fast.
    pub async fn connect(config: &Config) -> Result<Self, StoresError> {
        Ok(Stores {
            mysql: MySql::connect_lazy(&config.pool(Store::Mysql))?,
            postgres: Postgres::connect_lazy(&config.pool(Store::Postgres))?,
            mongo: Mongo::connect(&config.pool(Store::Mongodb)).await?,
            redis: Redis::connect_lazy(&config.pool(Store::Redis), &config.redis_prefix)?,
        })
    }

    /// Probes all four stores concurrently, each bounded by `timeout`, in [`Store::ALL`] order.
    pub async fn probe_all(&self, timeout: Duration, with_version: bool) -> Vec<Probe> {
        let (mysql, postgres, mongo, redis) = tokio::join!(
            self.mysql.probe(timeout, with_version),
            self.postgres.probe(timeout, with_version),
            self.mongo.probe(timeout, with_version),
            self.redis.probe(timeout, with_version),
        );
        vec![mysql, postgres, mongo, redis]
    }

    /// Applies the pending migrations of MySQL, PostgreSQL and MongoDB, in that order.
    pub async fn migrate_all(&self) -> Result<Vec<(Store, MigrationReport)>, StoresError> {
        Ok(vec![
            (Store::Mysql, self.mysql.migrate().await?),
            (Store::Postgres, self.postgres.migrate().await?),
            (Store::Mongodb, self.mongo.migrate().await?),
        ])
    }

    pub async fn close(&self) {
        self.mysql.close().await;
        self.postgres.close().await;
    }
}
