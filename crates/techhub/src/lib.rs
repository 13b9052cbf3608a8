//! The TechHub application: wiring of config, stores, background workers and the HTTP server,
//! plus the operational commands. `main.rs` only parses the command line and calls into here,
//! so the integration tests start exactly what `techhub serve` starts.

pub mod commands;
pub mod counted;
pub mod demo;
pub mod jobs;
pub mod seed;
pub mod telemetry;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use jobs::{Every, Jobs};
use techhub_api::{AppState, Stores};
use techhub_core::Config;
use techhub_search::{Indexer, SearchIndex};
use techhub_sync::consumers::{
    ActivityLog, AnalyticsProjection, CacheInvalidation, DeliveredInvalidation, IndexNudge, Mailer,
    ProfileProjection,
};
use techhub_sync::mail::{FileSink, MailSender, Smtp};
use techhub_sync::{ContentRelay, Relay, RelaySettings};
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

    /// Serves until `shutdown` resolves, then finishes in-flight requests and stops the
    /// background jobs ([`Application::start_jobs`]).
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stores = self.state.stores.clone();
        let jobs = self.start_jobs()?;
        let stopper = jobs.stopper();
        let web_dir = &self.state.config.web_dir;
        let web = techhub_api::web::WebApp::load(web_dir)
            .with_context(|| format!("reading the web app in {}", web_dir.display()))?;
        match &web {
            Some(_) => tracing::info!(dir = %web_dir.display(), "serving the web app at /"),
            None => tracing::info!(
                dir = %web_dir.display(),
                "no web app built there (npm run build in web/); serving the API only"
            ),
        }
        let router = techhub_api::router_with(self.state.clone(), web);
        let served = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            stopper.stop();
        })
        .await
        .context("serving HTTP");
        jobs.stop().await;
        // The views of the last requests (all answered by now) reach Redis before we go.
        if let Err(e) = stores.redis.push_views().await {
            tracing::warn!(error = %e, "the last view counts could not be pushed to Redis");
        }
        stores.close().await;
        served
    }

    /// Starts what runs beside the HTTP server: the outbox and content relays (unless
    /// `TECHHUB_RELAY=false`), the search indexer, subscription renewals, the engagement
    /// scores' decay, and the view counts' push to Redis and flush to MongoDB.
    fn start_jobs(&self) -> anyhow::Result<Jobs> {
        let config = &self.state.config;
        let stores = &self.state.stores;
        let mut jobs = Jobs::default();
        if config.relay {
            let relay = build_relay(config, stores)?;
            jobs.spawn("outbox relay", move |stop| async move {
                relay.run(stop.requested()).await
            });
            let content = build_content_relay(
                config,
                stores,
                self.state.wake.content_relay.clone(),
                self.state.wake.search.clone(),
            );
            jobs.spawn("content relay", move |stop| async move {
                content.run(stop.requested()).await
            });
        }
        let indexer = Indexer::new(self.state.search.clone(), stores.mongo.clone());
        let wake = self.state.wake.search.clone();
        let poll = Duration::from_millis(config.search_poll_ms);
        jobs.spawn("search indexer", move |stop| async move {
            indexer.run(wake, poll, stop.requested()).await
        });
        if config.renewal_interval_secs > 0 {
            let (db, payments) = (stores.mysql.clone(), self.state.payments.clone());
            let every = Every {
                at_start: true,
                ..Every::period(Duration::from_secs(config.renewal_interval_secs))
            };
            jobs.every("subscription renewals", every, move || {
                let (db, payments) = (db.clone(), payments.clone());
                async move {
                    let now = chrono::Utc::now();
                    let r =
                        techhub_accounts::billing::renew_due(&db, payments.as_ref(), now).await?;
                    if r != Default::default() {
                        tracing::info!(
                            renewed = r.renewed,
                            expired = r.expired,
                            ended = r.ended,
                            "subscription renewals"
                        );
                    }
                    Ok(())
                }
            });
        }
        if config.engagement_interval_secs > 0 {
            let pg = stores.postgres.clone();
            let every = Every::period(Duration::from_secs(config.engagement_interval_secs));
            jobs.every("engagement decay", every, move || {
                let pg = pg.clone();
                async move {
                    let n = techhub_learning::engagement::recompute_all(&pg).await?;
                    tracing::debug!(users = n, "engagement scores recomputed");
                    Ok(())
                }
            });
        }
        let redis = stores.redis.clone();
        let every = Every::period(techhub_cache::counters::VIEW_PUSH_EVERY);
        jobs.every("view push", every, move || {
            let redis = redis.clone();
            async move {
                // Four times a second: a Redis outage is logged once per push at debug level
                // (the counts stay in the buffer for the next push).
                if let Err(e) = redis.push_views().await {
                    tracing::debug!(error = %e, "view counts not pushed to Redis; kept for the next push");
                }
                Ok(())
            }
        });
        if config.view_flush_secs > 0 {
            let (redis, mongo) = (stores.redis.clone(), stores.mongo.clone());
            let every = Every {
                // A last flush, so a clean shutdown loses no views.
                at_stop: true,
                ..Every::period(Duration::from_secs(config.view_flush_secs))
            };
            jobs.every("view flush", every, move || {
                let (redis, mongo) = (redis.clone(), mongo.clone());
                async move {
                    techhub_sync::views::flush_views(&redis, &mongo)
                        .await
                        .map(drop)
                }
            });
        }
        Ok(jobs)
    }
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

/// The content relay with its consumers: the PostgreSQL activity log and cache invalidation
/// (for comments and favorites only once they are counted, when their posts' cached articles
/// are refreshed in place: [`counted::CountedArticles`]), with a nudge to `search`, the search
/// indexer's wake-up, once favorites are counted.
pub fn build_content_relay(
    config: &Config,
    stores: &Stores,
    wake: Arc<techhub_content::posts::DueWake>,
    search: Arc<tokio::sync::Notify>,
) -> ContentRelay {
    ContentRelay::new(
        stores.mongo.clone(),
        vec![
            Arc::new(ActivityLog(stores.postgres.clone())),
            Arc::new(DeliveredInvalidation(CacheInvalidation(
                stores.redis.clone(),
            ))),
        ],
        RelaySettings::from_config(config),
        wake,
    )
    .after_counting(vec![
        Arc::new(counted::CountedArticles {
            redis: stores.redis.clone(),
            mongo: stores.mongo.clone(),
        }),
        Arc::new(IndexNudge(search)),
    ])
}
