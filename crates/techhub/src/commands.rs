//! The operational commands behind `techhub migrate`, `doctor`, `demo`, `relay`, `admin`,
//! `reindex`.

use std::fmt::Write as _;

use anyhow::Context;
use techhub_accounts::payments::{Card, SandboxProvider};
use techhub_accounts::users::{self, NewUser};
use techhub_accounts::{billing, outbox, AccountsError};
use techhub_api::Stores;
use techhub_core::config::redact_url;
use techhub_core::domain::{Email, Password, Username};
use techhub_core::plans::{BillingCycle, Plan};
use techhub_core::{Config, Probe, Store};

/// Applies every store's pending migrations and prints what changed.
pub async fn migrate(config: &Config) -> anyhow::Result<String> {
    let stores = Stores::connect(config).await?;
    let reports = stores.migrate_all().await.context("migration failed")?;
    let mut out = String::new();
    for (store, report) in reports {
        let what = match report.applied_now {
            0 => "up to date".to_string(),
            1 => "applied 1 migration".to_string(),
            n => format!("applied {n} migrations"),
        };
        writeln!(out, "{store:<9} {what} ({} known)", report.total)?;
    }
    stores.close().await;
    Ok(out)
}

/// Demo accounts `techhub demo` creates: username, plan. Email `<username>@example.com`,
/// password [`DEMO_PASSWORD`]. Besides them it creates the RealWorld demo author
/// ([`crate::demo`]).
pub const DEMO_USERS: &[(&str, Plan)] = &[
    ("ada", Plan::Pro),
    ("grace", Plan::Free),
    ("linus", Plan::Enterprise),
];
pub const DEMO_PASSWORD: &str = "techhub-demo";

/// Creates the demo accounts that do not exist yet, through the same code paths as the API
/// (registration with its events, a plan paid with a sandbox test card), then the RealWorld
/// demo author with their articles, comments and a follower, through the API itself
/// ([`crate::demo`]) unless the author exists. Safe to run again: a second run writes nothing.
pub async fn demo(config: &Config) -> anyhow::Result<String> {
    let stores = Stores::connect(config).await?;
    let sandbox = SandboxProvider::default();
    let mut out = String::new();
    for (name, plan) in DEMO_USERS {
        let email = Email::parse(&format!("{name}@example.com"))?;
        let new = NewUser {
            email: email.clone(),
            username: Username::parse(name)?,
            password: Password::parse(DEMO_PASSWORD)?,
        };
        let user = match users::register(&stores.mysql, new).await {
            Ok(user) => user,
            Err(AccountsError::Conflict { .. }) => {
                writeln!(out, "{name:<6} already exists")?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if *plan != Plan::Free {
            let card = Card::parse(
                "4242424242424242",
                12,
                2099,
                "123",
                chrono::Utc::now().date_naive(),
            )?;
            billing::change_plan(
                &stores.mysql,
                &sandbox,
                user.id,
                *plan,
                BillingCycle::Monthly,
                Some(card),
            )
            .await?;
        }
        writeln!(
            out,
            "{name:<6} created: {email} / {DEMO_PASSWORD} ({} plan)",
            plan.as_str()
        )?;
    }
    let author = crate::demo::create_author(config, &stores, DEMO_PASSWORD, &mut out).await;
    stores.close().await;
    author?;
    Ok(out)
}

/// Runs the outbox relay until `shutdown` resolves.
pub async fn relay(
    config: &Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let stores = Stores::connect(config).await?;
    let relay = crate::build_relay(config, &stores)?;
    let content =
        crate::build_content_relay(config, &stores, Default::default(), Default::default());
    let mut jobs = crate::jobs::Jobs::default();
    jobs.spawn("outbox relay", move |stop| async move {
        relay.run(stop.requested()).await
    });
    jobs.spawn("content relay", move |stop| async move {
        content.run(stop.requested()).await
    });
    tracing::info!("outbox and content relays running");
    jobs.run_until(shutdown).await;
    stores.close().await;
    Ok(())
}

/// Grants or revokes the admin role, and drops the user's cached dashboard, which shows it.
pub async fn admin(config: &Config, username: &str, grant: bool) -> anyhow::Result<String> {
    let stores = Stores::connect(config).await?;
    let found = techhub_accounts::users::set_admin(&stores.mysql, username, grant).await;
    if let Ok(Some(user)) = users::find_by_username(&stores.mysql, username).await {
        let stale = [techhub_cache::entries::keys::dashboard(user.id)];
        if let Err(e) = stores.redis.invalidate(&stale).await {
            // The entry expires by itself: a dashboard is cached for 5 minutes.
            tracing::warn!(error = %e, "the user's cached dashboard could not be dropped");
        }
    }
    stores.close().await;
    anyhow::ensure!(found?, "no user named {username:?}");
    Ok(if grant {
        format!("{username} is now an admin")
    } else {
        format!("{username} is no longer an admin")
    })
}

/// Rebuilds this machine's search index (`TECHHUB_DATA_DIR/search`) from the published posts
/// in MongoDB, drawing a progress bar on standard error. A server using the same folder must
/// be stopped first (the index allows one writer); it catches up on anything newer when it
/// starts again.
pub async fn reindex(config: &Config) -> anyhow::Result<String> {
    let stores = Stores::connect(config).await?;
    let index = crate::open_search_index(config).await?;
    let mut indexer = techhub_search::Indexer::new(index.clone(), stores.mongo.clone());
    let started = std::time::Instant::now();
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "indexing posts {bar:40} {pos}/{len} ({per_sec}, {eta} left)",
        )
        .expect("valid progress template"),
    );
    let done = indexer
        .rebuild(|done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .await;
    bar.finish_and_clear();
    stores.close().await;
    let done = done.context("rebuilding the search index")?;
    Ok(format!(
        "search index rebuilt: {done} published posts in {:.1} s ({})\n",
        started.elapsed().as_secs_f64(),
        index.dir().display()
    ))
}

/// Puts outbox event `id` back in line for delivery.
pub async fn replay(config: &Config, id: u64) -> anyhow::Result<String> {
    let stores = Stores::connect(config).await?;
    let queued = outbox::replay(&stores.mysql, id)
        .await
        .context("replaying the event")?;
    stores.close().await;
    anyhow::ensure!(queued, "no undelivered outbox event with id {id}");
    Ok(format!("outbox event {id} queued for delivery"))
}

/// Probes every store (address, version, status, latency) and reports the outbox. Returns the
/// report and whether everything is healthy (all stores up, no dead outbox events).
pub async fn doctor(config: &Config) -> anyhow::Result<(String, bool)> {
    let stores = Stores::connect(config).await?;
    // The first probe opens the connections and reads versions; the second measures a
    // warm round trip, which is the latency requests see.
    let first = stores.probe_all(config.health_timeout(), true).await;
    let warm = stores.probe_all(config.health_timeout(), false).await;
    let probes: Vec<Probe> = first
        .into_iter()
        .zip(warm)
        .map(|(first, warm)| {
            if first.is_up() {
                Probe {
                    version: first.version,
                    ..warm
                }
            } else {
                first
            }
        })
        .collect();
    let mut report = doctor_table(config, &probes);
    let mut healthy = probes.iter().all(Probe::is_up);
    if probes[0].is_up() {
        let stats = match outbox::stats(&stores.mysql).await {
            Ok(stats) => stats,
            Err(e) => {
                writeln!(
                    report,
                    "
outbox: cannot be read ({e}); has `techhub migrate` run?"
                )?;
                stores.close().await;
                return Ok((report, false));
            }
        };
        let oldest = stats
            .oldest_pending_secs
            .map(|s| format!(", oldest {s:.1} s"))
            .unwrap_or_default();
        writeln!(
            report,
            "\noutbox: {} pending{oldest}, {} dead",
            stats.pending, stats.dead
        )?;
        for dead in outbox::dead_letters(&stores.mysql, 20).await? {
            writeln!(
                report,
                "  dead #{} {} ({} attempts): {} — retry with `techhub relay --replay {}`",
                dead.outbox_id,
                dead.event_type,
                dead.attempts,
                dead.last_error.as_deref().unwrap_or("-"),
                dead.outbox_id
            )?;
        }
        healthy &= stats.dead == 0;
    }
    if probes[2].is_up() {
        use techhub_content::posts;
        let stuck = posts::stuck_events(&stores.mongo, std::time::Duration::from_secs(60)).await?;
        let parked = posts::parked_event_posts(&stores.mongo).await?;
        writeln!(
            report,
            "content events: {} posts with failing deliveries, {parked} posts with unreadable events parked",
            stuck.len()
        )?;
        for (slug, attempts, error) in &stuck {
            writeln!(report, "  post {slug} ({attempts} attempts): {error}")?;
        }
        healthy &= stuck.is_empty() && parked == 0;
        let cursor = posts::created::cursor(&stores.mongo)
            .await?
            .unwrap_or_default();
        let waiting =
            posts::created::undelivered(&stores.mongo, &cursor, std::time::Duration::from_secs(60))
                .await?;
        let last = cursor
            .delivered_at
            .map(|at| {
                let now = mongodb::bson::DateTime::now().timestamp_millis();
                let secs = (now - at.timestamp_millis()) as f64 / 1000.0;
                format!("last delivery {secs:.1} s ago")
            })
            .unwrap_or_else(|| "no delivery yet".into());
        writeln!(
            report,
            "new posts' stream: {last}, {waiting} posts older than 60 s not delivered"
        )?;
        if waiting > 0 {
            writeln!(
                report,
                "  no relay follows the posts' change stream: is a relay running (`techhub serve` or `techhub relay`), and is MongoDB a replica set?"
            )?;
        }
        healthy &= waiting == 0;
    }
    stores.close().await;
    Ok((report, healthy))
}

fn doctor_table(config: &Config, probes: &[Probe]) -> String {
    let address = |store: Store| match store {
        Store::Mysql => redact_url(&config.mysql_url),
        Store::Postgres => redact_url(&config.postgres_url),
        Store::Mongodb => redact_url(&config.mongodb_url),
        Store::Redis => redact_url(&config.redis_url),
    };
    let rows: Vec<[String; 5]> = probes
        .iter()
        .map(|p| {
            [
                p.store.to_string(),
                address(p.store),
                p.version.clone().unwrap_or_else(|| "-".into()),
                if p.is_up() {
                    "up".into()
                } else {
                    format!("DOWN: {}", p.error.as_deref().unwrap_or(""))
                },
                format!("{:.2} ms", p.latency_ms),
            ]
        })
        .collect();
    let header = ["store", "address", "version", "status", "latency"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn doctor_table_lists_each_store_and_hides_passwords() {
        let mut config = Config::from_env().unwrap();
        config.mysql_url = "mysql://techhub:hunter2@127.0.0.1:3306/techhub".into();
        let probes = vec![
            Probe::up(
                Store::Mysql,
                Duration::from_micros(800),
                Some("10.11.19-MariaDB".into()),
            ),
            Probe::down(Store::Redis, Duration::from_millis(3), "connection refused"),
        ];
        let table = doctor_table(&config, &probes);
        assert!(!table.contains("hunter2"), "{table}");
        assert!(
            table.contains("mysql://techhub:***@127.0.0.1:3306/techhub"),
            "{table}"
        );
        assert!(table.contains("10.11.19-MariaDB"), "{table}");
        assert!(table.contains("0.80 ms"), "{table}");
        assert!(table.contains("DOWN: connection refused"), "{table}");
        assert_eq!(table.lines().count(), 3);
    }
}
