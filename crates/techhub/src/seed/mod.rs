//! `techhub seed`: fills MySQL, MongoDB and PostgreSQL with a realistic, reproducible data set
//! of any size, for demos and load tests.
//!
//! Rows have the shapes the application writes (the same columns, document types, points,
//! streaks and progress the code paths compute), written through the store crates' bulk
//! writers: multi-row `INSERT`s in MySQL ([`techhub_accounts::bulk`]), unordered
//! `insert_many` in MongoDB ([`techhub_content::bulk`]), `COPY` in PostgreSQL
//! ([`techhub_learning::bulk`]). This module only decides what to write. The skew is what a real
//! community has: authors are Zipf-distributed (a few write most posts), tags too, likes and
//! views follow a Pareto law, comments go to popular posts, learners range from occasional to
//! daily, and sessions spread over the last six months. Everything comes from one
//! `--rng-seed`, so two runs with the same sizes and seed write the same data (ids, times and
//! all; times are relative to a fixed epoch, not to the clock).
//!
//! Seeded users are `dev000001`, `dev000002`, … with email `<name>@seed.example.com` and the
//! password [`SEED_PASSWORD`] (hashed once with Argon2id: every seeded user shares the hash).
//! They are written straight into every store, consistent with each other, without events:
//! their MySQL `version`, MongoDB `sourceVersion` and PostgreSQL `source_version` are all 1,
//! so the user's first real change flows through the outbox as usual. The seed ends by
//! rebuilding the search index from MongoDB and dropping every cached entry in Redis, so the
//! index and the caches agree with the stores.

mod learning;
mod posts;
mod vocabulary;

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use learning::seed_sessions;
use mongodb::bson::Document;
use posts::seed_posts;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Pareto, Zipf};
use techhub_accounts::bulk::{self as accounts_bulk, SeededAccount};
use techhub_api::Stores;
use techhub_content::bulk::{insert_batches, BATCH as MONGO_BATCH};
use techhub_content::profiles::{self, ProfileDocument};
use techhub_content::schema::USER_PROFILES;
use techhub_core::domain::Password;
use techhub_core::plans::Plan;
use techhub_core::Config;

/// The password of every seeded user.
pub const SEED_PASSWORD: &str = "seed-password";
/// Seeded emails end with this.
pub const SEED_EMAIL_DOMAIN: &str = "seed.example.com";

/// How much to write.
#[derive(Clone, Debug, clap::Args)]
pub struct Sizes {
    /// Users (MySQL accounts and subscriptions, MongoDB profiles, PostgreSQL analytics).
    #[arg(long, default_value_t = 1_000)]
    pub users: u64,
    /// Posts (MongoDB); about 3 % are drafts.
    #[arg(long, default_value_t = 10_000)]
    pub posts: u64,
    /// Comments (MongoDB), mostly on popular posts.
    #[arg(long, default_value_t = 20_000)]
    pub comments: u64,
    /// Learning sessions (PostgreSQL) over the last six months.
    #[arg(long, default_value_t = 100_000)]
    pub sessions: u64,
    /// Users each user follows, on average (popular authors get most follows).
    #[arg(long, default_value_t = 20)]
    pub follows: u64,
    /// Seed of the random generator: the same seed and sizes write the same data.
    #[arg(long, default_value_t = 42)]
    pub rng_seed: u64,
    /// Do nothing, successfully, when the databases already hold seeded users (what
    /// `scripts/run.sh` uses to seed its demo community once).
    #[arg(long)]
    pub if_empty: bool,
}

/// The "now" every seeded time is relative to, so runs are reproducible.
fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
}

/// Rows written per store, and how long each step took.
#[derive(Default)]
struct Summary {
    lines: Vec<(String, u64, Duration)>,
}

impl Summary {
    fn add(&mut self, what: &str, rows: u64, took: Duration) {
        self.lines.push((what.to_string(), rows, took));
    }
}

fn bar(multi: &MultiProgress, what: &str, len: u64) -> ProgressBar {
    let bar = multi.add(ProgressBar::new(len));
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        // No terminal to draw on (a log file, CI): a line every ten seconds instead.
        let (quiet, what) = (bar.clone(), what.to_string());
        let started = Instant::now();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            tick.tick().await;
            loop {
                tick.tick().await;
                if quiet.is_finished() {
                    break;
                }
                if quiet.position() > 0 {
                    eprintln!(
                        "[seed] {what}: {}/{} after {} s",
                        quiet.position(),
                        quiet.length().unwrap_or(0),
                        started.elapsed().as_secs()
                    );
                }
            }
        });
    }
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what:<28} {{bar:32}} {{human_pos:>11}}/{{human_len:<11}} {{per_sec:>12}} {{elapsed:>4}} (eta {{eta}})"
        ))
        .expect("valid progress template"),
    );
    bar
}

/// A Zipf sampler over `0..n` (rank 0 the most popular).
struct Ranked(Zipf<f64>);

impl Ranked {
    fn new(n: u64, exponent: f64) -> Self {
        Ranked(Zipf::new(n.max(1) as f64, exponent).expect("valid Zipf parameters"))
    }
    fn sample(&self, rng: &mut StdRng) -> usize {
        self.0.sample(rng) as usize - 1
    }
}

fn username(i: u64) -> String {
    format!("dev{i:06}")
}

/// Fills every store; returns the summary to print.
pub async fn seed(config: &Config, sizes: Sizes) -> anyhow::Result<String> {
    anyhow::ensure!(sizes.users >= 2, "--users must be at least 2");
    let started = Instant::now();
    let stores = Stores::connect(config).await?;
    stores
        .migrate_all()
        .await
        .context("migrating before seeding")?;
    let already = accounts_bulk::count_at_domain(&stores.mysql, SEED_EMAIL_DOMAIN).await?;
    let profiles = profiles::count_named_like(&stores.mongo, "^dev[0-9]{6}$").await?;
    if sizes.if_empty && (already > 0 || profiles > 0) {
        return Ok(format!(
            "already seeded ({already} seeded users in MySQL, {profiles} in MongoDB): nothing written\n"
        ));
    }
    anyhow::ensure!(
        already == 0 && profiles == 0,
        "the databases already hold seeded users ({already} in MySQL, {profiles} in MongoDB); \
         seed empty databases (drop and recreate them) to seed again"
    );
    // Held for the whole seed, so no server starts indexing half-written data; a running
    // server holding it is reported before anything is written.
    let index = crate::open_search_index(config).await.context(
        "the search index is in use: stop the TechHub server on this machine before seeding",
    )?;

    let multi = MultiProgress::new();
    let mut summary = Summary::default();
    let mut rng = StdRng::seed_from_u64(sizes.rng_seed);

    let base = accounts_bulk::max_user_id(&stores.mysql).await?;
    let users = plan_users(&mut rng, &sizes, base);
    let step = Step {
        stores: &stores,
        users: &users,
        sizes: &sizes,
        multi: &multi,
    };
    seed_mysql(&step, &mut summary).await?;
    seed_profiles(&step, &mut rng, &mut summary).await?;
    let slugs = seed_posts(&step, &mut rng, &mut summary).await?;
    seed_sessions(&step, &slugs, &mut rng, &mut summary).await?;

    // The search index, from what MongoDB now holds.
    let t = Instant::now();
    let indexing = bar(&multi, "search index", 0);
    let mut indexer = techhub_search::Indexer::new(index.clone(), stores.mongo.clone());
    let indexed = indexer
        .rebuild(|done, total| {
            indexing.set_length(total);
            indexing.set_position(done);
        })
        .await
        .context("rebuilding the search index")?;
    indexing.finish();
    summary.add("search index (published posts)", indexed, t.elapsed());

    let t = Instant::now();
    let dropped = stores
        .redis
        .drop_all_cached()
        .await
        .context("dropping cached entries")?;
    summary.add("redis cached entries dropped", dropped, t.elapsed());
    stores.close().await;

    let mut out = format!(
        "seeded with --rng-seed {} in {:.1} s:\n",
        sizes.rng_seed,
        started.elapsed().as_secs_f64()
    );
    for (what, rows, took) in &summary.lines {
        let secs = took.as_secs_f64();
        let rate = if secs > 0.0 { *rows as f64 / secs } else { 0.0 };
        out.push_str(&format!(
            "  {what:<34} {rows:>12} rows {secs:>8.1} s {rate:>11.0} rows/s\n"
        ));
    }
    out.push_str(&format!(
        "seeded users log in as dev000001@{SEED_EMAIL_DOMAIN} … with password {SEED_PASSWORD}\n"
    ));
    Ok(out)
}

/// What every seeding step works from.
struct Step<'a> {
    stores: &'a Stores,
    users: &'a [SeedUser],
    sizes: &'a Sizes,
    multi: &'a MultiProgress,
}

/// One seeded user.
struct SeedUser {
    id: u64,
    name: String,
    created: DateTime<Utc>,
    plan: Plan,
}

fn plan_users(rng: &mut StdRng, sizes: &Sizes, base: u64) -> Vec<SeedUser> {
    let two_years = 730 * 86_400;
    (1..=sizes.users)
        .map(|i| {
            let roll: f64 = rng.random();
            SeedUser {
                id: base + i,
                name: username(i),
                created: epoch() - chrono::Duration::seconds(rng.random_range(0..two_years)),
                plan: if roll < 0.03 {
                    Plan::Enterprise
                } else if roll < 0.15 {
                    Plan::Pro
                } else {
                    Plan::Free
                },
            }
        })
        .collect()
}

const MYSQL_BATCH: usize = 1_000;

async fn seed_mysql(step: &Step<'_>, summary: &mut Summary) -> anyhow::Result<()> {
    let (stores, users, multi) = (step.stores, step.users, step.multi);
    let t = Instant::now();
    let hash = techhub_accounts::password::hash(&Password::parse(SEED_PASSWORD)?).await;
    let progress = bar(multi, "mysql users+subscriptions", users.len() as u64);
    // Every seeded plan's current cycle started ten days before the epoch.
    let period_start = epoch() - chrono::Duration::days(10);
    for chunk in users.chunks(MYSQL_BATCH) {
        let accounts: Vec<SeededAccount> = chunk
            .iter()
            .map(|u| SeededAccount {
                id: u.id,
                email: format!("{}@{SEED_EMAIL_DOMAIN}", u.name),
                username: &u.name,
                password_hash: &hash,
                created_at: u.created,
                plan: u.plan,
                period_start,
            })
            .collect();
        accounts_bulk::insert_accounts(&stores.mysql, &accounts).await?;
        progress.inc(chunk.len() as u64);
    }
    progress.finish();
    summary.add(
        "mysql users + subscriptions",
        users.len() as u64 * 2,
        t.elapsed(),
    );
    Ok(())
}

/// Inserts the batches `batches` delivers into `collection`, moving `progress`.
async fn insert_all(
    stores: &Stores,
    collection: &str,
    batches: tokio::sync::mpsc::Receiver<Vec<Document>>,
    progress: &ProgressBar,
) -> anyhow::Result<u64> {
    insert_batches(&stores.mongo, collection, batches, |n| progress.inc(n))
        .await
        .with_context(|| format!("inserting into {collection}"))
}

async fn seed_profiles(
    step: &Step<'_>,
    rng: &mut StdRng,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let (stores, users, sizes, multi) = (step.stores, step.users, step.sizes, step.multi);
    let t = Instant::now();
    let progress = bar(multi, "mongodb user_profiles", users.len() as u64);
    // Who follows whom: a Pareto number of follows per user, towards popular authors.
    let popular = Ranked::new(users.len() as u64, 1.0);
    let follows = Pareto::new(1.0, 1.5).expect("valid Pareto");
    let mean_follows = (sizes.follows as f64 / 3.0).max(0.0);
    let ids: Vec<u64> = users.iter().map(|u| u.id).collect();
    let mut docs: Vec<Document> = Vec::with_capacity(users.len());
    let mut total_follows = 0u64;
    for u in users {
        let n = ((follows.sample(rng) * mean_follows) as usize)
            .min(users.len() - 1)
            .min(5_000);
        let mut following: Vec<u64> = (0..n)
            .map(|_| ids[popular.sample(rng)])
            .filter(|&f| f != u.id)
            .collect();
        following.sort_unstable();
        following.dedup();
        total_follows += following.len() as u64;
        let created = mongodb::bson::DateTime::from_millis(u.created.timestamp_millis());
        // Consistent with the accounts row (version 1), so no projection is pending.
        let profile = ProfileDocument {
            following,
            source_version: 1,
            ..ProfileDocument::new(u.id, &u.name, created)
        };
        docs.push(profile.to_bson()?);
    }
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let feeder = tokio::spawn(async move {
        let mut docs = docs.into_iter().peekable();
        while docs.peek().is_some() {
            let batch: Vec<Document> = docs.by_ref().take(MONGO_BATCH).collect();
            if tx.send(batch).await.is_err() {
                break;
            }
        }
    });
    let written = insert_all(stores, USER_PROFILES, rx, &progress).await?;
    feeder.await?;
    progress.finish();
    summary.add("mongodb user_profiles", written, t.elapsed());
    summary.add("  (follows inside profiles)", total_follows, Duration::ZERO);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::posts::object_id_bytes;
    use super::*;
    use mongodb::bson::oid::ObjectId;

    #[test]
    fn the_same_seed_plans_the_same_users_and_another_seed_does_not() {
        let sizes = |rng_seed| Sizes {
            users: 50,
            posts: 0,
            comments: 0,
            sessions: 0,
            follows: 1,
            rng_seed,
            if_empty: false,
        };
        let plan = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            plan_users(&mut rng, &sizes(seed), 10)
                .into_iter()
                .map(|u| (u.id, u.name, u.created, u.plan))
                .collect::<Vec<_>>()
        };
        assert_eq!(plan(1), plan(1));
        assert_ne!(plan(1), plan(2));
        let users = plan(1);
        assert_eq!(users[0].0, 11, "ids continue after the existing ones");
        assert_eq!(users[0].1, "dev000001");
        assert!(users.iter().all(|u| u.2 <= epoch()));
    }

    #[test]
    fn zipf_ranks_favour_the_first_items() {
        let mut rng = StdRng::seed_from_u64(7);
        let ranked = Ranked::new(100, 1.0);
        let mut hits = [0u32; 100];
        for _ in 0..100_000 {
            hits[ranked.sample(&mut rng)] += 1;
        }
        // With s = 1 and n = 100 the first rank gets 1/H(100) ≈ 19 % of the samples.
        assert!((17_000..21_500).contains(&hits[0]), "{}", hits[0]);
        assert!(hits[0] > hits[1] && hits[1] > hits[9] && hits[9] > hits[99]);
    }

    #[test]
    fn object_ids_carry_the_creation_time() {
        let mut rng = StdRng::seed_from_u64(1);
        let at = epoch() - chrono::Duration::days(3);
        let id = ObjectId::from_bytes(object_id_bytes(at, &mut rng));
        assert_eq!(id.timestamp().timestamp_millis(), at.timestamp_millis());
    }
}
