//! The TechHub application: wiring of config, stores and the HTTP server, plus the
//! operational commands. `main.rs` only parses the command line and calls into here, so the
//! integration tests start exactly what `techhub serve` starts.

pub mod commands;
pub mod telemetry;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use techhub_api::{AppState, Stores};
use techhub_core::Config;
use tokio::net::TcpListener;

/// A bound, migrated, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Connects the stores, applies pending migrations and binds `config.bind`
    /// (`127.0.0.1:0` picks a free port).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        config.validate().map_err(anyhow::Error::msg)?;
        let stores = Stores::connect(&config)
            .await
            .context("configuring the stores")?;
        for (store, report) in stores.migrate_all().await.context("applying migrations")? {
            tracing::info!(%store, applied = report.applied_now, known = report.total, "schema ready");
        }
        let listener = TcpListener::bind(&config.bind)
            .await
            .with_context(|| format!("binding {}", config.bind))?;
        Ok(Application {
            listener,
            state: AppState {
                stores,
                config: Arc::new(config),
            },
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn stores(&self) -> &Stores {
        &self.state.stores
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = techhub_api::router(self.state.clone());
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP")?;
        self.state.stores.close().await;
        Ok(())
    }
}
