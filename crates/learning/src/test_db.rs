//! A fresh, migrated PostgreSQL database for one test, on the server of `TECHHUB_POSTGRES_URL`
//! (see `scripts/stores.sh`), dropped with the value. It is named as the API tests' ones are
//! ([`techhub_core::config::test_database_name`]), so their sweep removes one a crashed run
//! left behind.

use std::time::Duration;

use sqlx::{Connection, Executor};
use techhub_core::config::with_database;
use techhub_core::{Config, PoolSettings};

use crate::Postgres;

pub struct TestPg {
    pub pg: Postgres,
    name: String,
    server_url: String,
}

impl TestPg {
    pub async fn create() -> TestPg {
        let base = Config::from_env().expect("TECHHUB_* variables parse");
        let name = techhub_core::config::test_database_name();
        let mut server = sqlx::PgConnection::connect(&base.postgres_url)
            .await
            .expect("connect to PostgreSQL (scripts/stores.sh up starts it)");
        server
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .expect("create the PostgreSQL test database");
        let pg = Postgres::connect_lazy(&PoolSettings {
            url: with_database(&base.postgres_url, &name).unwrap(),
            pool_size: 4,
            connect_timeout: Duration::from_secs(5),
            query_timeout: Duration::from_secs(30),
        })
        .unwrap();
        pg.migrate().await.expect("migrate the test database");
        TestPg {
            pg,
            name,
            server_url: base.postgres_url,
        }
    }
}

impl Drop for TestPg {
    fn drop(&mut self) {
        let (url, name) = (self.server_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on; a helper thread
        // with its own runtime drops the database (FORCE ends the pool's connections).
        let cleanup = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
                        let drop = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                        let _ = conn.execute(drop.as_str()).await;
                    }
                })
        });
        let _ = cleanup.join();
    }
}
