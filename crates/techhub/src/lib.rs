//! The TechHub application: wiring of config, stores, background workers and the HTTP server,
//! plus the operational commands. `main.rs` only parses the command line and calls into here,
//! so the integration tests start exactly what `techhub serve` starts.

pub mod commands;
pub mod seed;
pub mod telemetry;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use techhub_api::{AppState, Stores};
use techhub_core::Config;
use techhub_search::{Indexer, SearchIndex};
use techhub_sync::consumers::{
    ActivityLog, AnalyticsProjection, CacheInvalidation, Mailer, ProfileProjection,
};
use techhub_sync::mail::{FileSink, MailSender, Smtp};
use techhub_sync::{ContentRelay, Relay, RelaySettings};
use tokio::net::TcpListener;
use tokio::sync::watch;

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
        // SecantusDB opens a large collection on its first use after a restart (seconds);
        // do that here, untimed, rather than in the first requests and worker polls.
        let took = stores
            .mongo
            .warm_up()
            .await
            .context("opening the MongoDB collections")?;
        tracing::info!(?took, "MongoDB collections open");
        let search = open_search_index(&config).await?;
        let listener = TcpListener::bind(&config.bind)
            .await
            .with_context(|| format!("binding {}", config.bind))?;
        Ok(Application {
            listener,
            state: AppState::new(stores, config, search),
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

    /// The payment provider requests use (the sandbox unless replaced).
    pub fn payments(&self) -> Arc<dyn techhub_accounts::payments::PaymentProvider> {
        self.state.payments.clone()
    }

    /// The single-flight loads of cached entries (their count, for tests).
    pub fn flights(&self) -> Arc<techhub_api::cached::Flights> {
        self.state.flights.clone()
    }

    /// This server's search index.
    pub fn search(&self) -> Arc<SearchIndex> {
        self.state.search.clone()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests. Alongside: the
    /// outbox and content relays (unless `TECHHUB_RELAY=false`), the search indexer, the
    /// renewal job, the push of view counts to Redis and their flush to MongoDB.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let config = self.state.config.clone();
        let stores = self.state.stores.clone();
        let (stop_tx, stop_rx) = watch::channel(false);
        // Dropping this future (an aborted server) aborts the workers with it.
        let mut workers = tokio::task::JoinSet::new();
        if config.relay {
            let relay = build_relay(&config, &stores)?;
            let stop = stopped(stop_rx.clone());
            workers.spawn(async move { relay.run(stop).await });
            let content =
                build_content_relay(&config, &stores, self.state.wake.content_relay.clone());
            let stop = stopped(stop_rx.clone());
            workers.spawn(async move { content.run(stop).await });
        }
        {
            let indexer = Indexer::new(self.state.search.clone(), stores.mongo.clone());
            let wake = self.state.wake.search.clone();
            let poll = std::time::Duration::from_millis(config.search_poll_ms);
            let stop = stopped(stop_rx.clone());
            workers.spawn(async move { indexer.run(wake, poll, stop).await });
        }
        if config.renewal_interval_secs > 0 {
            let (db, payments) = (stores.mysql.clone(), self.state.payments.clone());
            let every = std::time::Duration::from_secs(config.renewal_interval_secs);
            let stop = stopped(stop_rx.clone());
            workers.spawn(async move {
                tokio::pin!(stop);
                loop {
                    match techhub_accounts::billing::renew_due(
                        &db,
                        payments.as_ref(),
                        chrono::Utc::now(),
                    )
                    .await
                    {
                        Ok(r) if r != Default::default() => tracing::info!(
                            renewed = r.renewed,
                            expired = r.expired,
                            ended = r.ended,
                            "subscription renewals"
                        ),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "subscription renewal run failed"),
                    }
                    tokio::select! {
                        _ = &mut stop => return,
                        _ = tokio::time::sleep(every) => {}
                    }
                }
            });
        }
        if config.engagement_interval_secs > 0 {
            let pg = stores.postgres.clone();
            let every = std::time::Duration::from_secs(config.engagement_interval_secs);
            let stop = stopped(stop_rx.clone());
            workers.spawn(async move {
                tokio::pin!(stop);
                loop {
                    tokio::select! {
                        _ = &mut stop => return,
                        _ = tokio::time::sleep(every) => {}
                    }
                    match techhub_learning::engagement::recompute_all(&pg).await {
                        Ok(n) => tracing::debug!(users = n, "engagement scores recomputed"),
                        Err(e) => tracing::warn!(error = %e, "engagement scores not recomputed; the next run retries"),
                    }
                }
            });
        }
        {
            // Views counted by this process's requests go to Redis in batches.
            let redis = stores.redis.clone();
            let stop = stopped(stop_rx.clone());
            workers.spawn(async move {
                tokio::pin!(stop);
                loop {
                    tokio::select! {
                        _ = &mut stop => return,
                        _ = tokio::time::sleep(techhub_cache::counters::VIEW_PUSH_EVERY) => {}
                    }
                    if let Err(e) = redis.push_views().await {
                        tracing::debug!(error = %e, "view counts not pushed to Redis; kept for the next push");
                    }
                }
            });
        }
        if config.view_flush_secs > 0 {
            let stores = stores.clone();
            let every = std::time::Duration::from_secs(config.view_flush_secs);
            let stop = stopped(stop_rx.clone());
            workers.spawn(async move {
                tokio::pin!(stop);
                loop {
                    tokio::select! {
                        _ = &mut stop => break,
                        _ = tokio::time::sleep(every) => {}
                    }
                    if let Err(e) = flush_views(&stores).await {
                        tracing::warn!(error = %format!("{e:#}"), "view counts not flushed; the next run retries");
                    }
                }
                // A last flush, so a clean shutdown loses no views.
                let _ = flush_views(&stores).await;
            });
        }
        let router = techhub_api::router(self.state.clone());
        let served = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        })
        .await
        .context("serving HTTP");
        workers.join_all().await;
        // The views of the last requests (all answered by now) reach Redis before we go.
        if let Err(e) = stores.redis.push_views().await {
            tracing::warn!(error = %e, "the last view counts could not be pushed to Redis");
        }
        stores.close().await;
        served
    }
}

/// Resolves once `rx` turns true (or its sender is gone).
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// The mail sender the configuration asks for: SMTP, or `.eml` files in the data folder.
pub fn mail_sender(config: &Config) -> anyhow::Result<Arc<dyn MailSender>> {
    Ok(match &config.smtp_url {
        Some(url) => Arc::new(Smtp::new(url, &config.mail_from)?),
        None => Arc::new(FileSink::new(
            config.data_dir.join("mail"),
            &config.mail_from,
        )),
    })
}

/// The relay with every consumer: the PostgreSQL and MongoDB projections and the mailer.
pub fn build_relay(config: &Config, stores: &Stores) -> anyhow::Result<Relay> {
    Ok(Relay::new(
        stores.mysql.clone(),
        vec![
            Arc::new(AnalyticsProjection(stores.postgres.clone())),
            Arc::new(ProfileProjection(stores.mongo.clone())),
            Arc::new(Mailer {
                sender: mail_sender(config)?,
                public_url: config.public_url.clone(),
            }),
            Arc::new(CacheInvalidation(stores.redis.clone())),
        ],
        RelaySettings::from_config(config),
    ))
}

/// Opens (or creates) the search index in `TECHHUB_DATA_DIR/search`.
pub async fn open_search_index(config: &Config) -> anyhow::Result<Arc<SearchIndex>> {
    let dir = config.data_dir.join("search");
    tokio::task::spawn_blocking(move || SearchIndex::open(&dir).map(Arc::new)).await?
}

/// The content relay with its consumers: the PostgreSQL activity log and cache invalidation.
pub fn build_content_relay(
    config: &Config,
    stores: &Stores,
    wake: Arc<tokio::sync::Notify>,
) -> ContentRelay {
    ContentRelay::new(
        stores.mongo.clone(),
        vec![
            Arc::new(ActivityLog(stores.postgres.clone())),
            Arc::new(CacheInvalidation(stores.redis.clone())),
        ],
        RelaySettings::from_config(config),
        wake,
    )
}

/// How long a flushed view total stays in Redis for article reads (longer than any cached
/// article lives).
const VIEW_TOTAL_TTL: std::time::Duration = std::time::Duration::from_secs(86_400);

/// Moves the article view counts gathered in Redis to MongoDB. Returns how many views moved.
/// A count taken from Redis whose MongoDB update then fails is lost: view counts trade that
/// small loss for cheap reads.
pub async fn flush_views(stores: &Stores) -> anyhow::Result<i64> {
    let mut moved = 0;
    loop {
        let batch = stores.redis.take_views(500).await?;
        if batch.is_empty() {
            return Ok(moved);
        }
        let mut totals = Vec::with_capacity(batch.len());
        for (id, views) in batch {
            let Ok(id) = mongodb::bson::oid::ObjectId::parse_str(&id) else {
                continue;
            };
            use techhub_content::posts::{add_to_counter, Counter};
            if let Some((slug, total)) =
                add_to_counter(&stores.mongo, id, Counter::Views, views).await?
            {
                totals.push((
                    techhub_cache::entries::keys::article_views(&slug),
                    total.to_string(),
                ));
            }
            moved += views;
        }
        // Article reads show these totals over their cached copies' older counts (best
        // effort: without them a copy's count shows until its TTL ends).
        let _ = stores.redis.cache_many(&totals, VIEW_TOTAL_TTL).await;
    }
}
