//! `techhub seed`: fills MySQL, MongoDB and PostgreSQL with a realistic, reproducible data set
//! of any size, for demos and load tests.
//!
//! Rows have the shapes the application writes (the same columns, documents, points, streaks
//! and progress the code paths compute), written through bulk paths: multi-row `INSERT`s in
//! MySQL, unordered `insert_many` in MongoDB, `COPY` in PostgreSQL. The skew is what a real
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

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use mongodb::bson::{doc, oid::ObjectId, Bson, Document};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Pareto, Zipf};
use serde_json::json;
use techhub_api::Stores;
use techhub_content::posts::DIFFICULTIES;
use techhub_content::schema::{COMMENTS, POSTS, USER_PROFILES};
use techhub_core::domain::Password;
use techhub_core::Config;
use techhub_learning::sessions::{self, CONTENT_TYPES};

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
}

/// The "now" every seeded time is relative to, so runs are reproducible.
fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
}

const TAGS: &[&str] = &[
    "rust",
    "javascript",
    "python",
    "typescript",
    "go",
    "react",
    "kubernetes",
    "docker",
    "postgres",
    "webdev",
    "devops",
    "tutorial",
    "beginners",
    "programming",
    "aws",
    "linux",
    "node",
    "security",
    "testing",
    "performance",
    "database",
    "api",
    "microservices",
    "graphql",
    "machinelearning",
    "ai",
    "career",
    "opensource",
    "tokio",
    "async",
    "css",
    "html",
    "java",
    "kotlin",
    "swift",
    "android",
    "ios",
    "cloud",
    "terraform",
    "redis",
    "mongodb",
    "mysql",
    "architecture",
    "algorithms",
    "datastructures",
    "functional",
    "webassembly",
    "vue",
    "svelte",
    "nextjs",
    "git",
    "vim",
    "productivity",
    "startup",
    "observability",
    "tracing",
    "compilers",
    "embedded",
    "gamedev",
    "blockchain",
];

const TOPICS: &[&str] = &[
    "ownership",
    "lifetimes",
    "async runtimes",
    "connection pools",
    "indexes",
    "caching",
    "rate limiting",
    "observability",
    "error handling",
    "testing strategies",
    "deployments",
    "migrations",
    "query planning",
    "memory layout",
    "concurrency",
    "backpressure",
    "streaming",
    "serialization",
    "type systems",
    "state management",
    "authentication",
    "pagination",
    "search ranking",
    "load balancing",
    "feature flags",
    "code review",
    "refactoring",
    "benchmarks",
    "profiling",
    "containers",
];

const OPENERS: &[&str] = &[
    "Understanding",
    "A practical guide to",
    "Lessons learned from",
    "Deep dive into",
    "Getting started with",
    "Ten tips for",
    "Why we rewrote",
    "Debugging",
    "Scaling",
    "The hidden cost of",
    "Rethinking",
    "Mastering",
    "Notes on",
    "Demystifying",
];

const WORDS: &[&str] = &[
    "the",
    "a",
    "we",
    "our",
    "service",
    "request",
    "latency",
    "throughput",
    "database",
    "query",
    "index",
    "cache",
    "memory",
    "thread",
    "task",
    "future",
    "runtime",
    "server",
    "client",
    "error",
    "result",
    "type",
    "trait",
    "function",
    "module",
    "crate",
    "package",
    "build",
    "test",
    "deploy",
    "cluster",
    "node",
    "container",
    "image",
    "network",
    "socket",
    "buffer",
    "stream",
    "batch",
    "queue",
    "event",
    "message",
    "schema",
    "table",
    "column",
    "row",
    "transaction",
    "lock",
    "deadlock",
    "retry",
    "timeout",
    "budget",
    "metric",
    "trace",
    "log",
    "profile",
    "benchmark",
    "allocation",
    "pointer",
    "borrow",
    "lifetime",
    "ownership",
    "async",
    "await",
    "tokio",
    "postgres",
    "redis",
    "mongodb",
    "kubernetes",
    "docker",
    "react",
    "typescript",
    "python",
    "golang",
    "graphql",
    "webassembly",
    "compiler",
    "parser",
    "token",
    "performance",
    "security",
    "testing",
    "microservices",
    "indexing",
    "caching",
    "faster",
    "slower",
    "simple",
    "correct",
    "robust",
    "production",
    "incident",
    "rollback",
    "migration",
];

const COMMENT_BODIES: &[&str] = &[
    "Great write-up, thanks!",
    "This saved me hours of debugging.",
    "How does this compare with the approach in the official docs?",
    "We hit exactly the same problem in production last month.",
    "Could you share the benchmark setup?",
    "Nice explanation of the trade-offs.",
    "I think the second example has a subtle race condition.",
    "Bookmarked for later, very clear.",
    "Does this still hold with the latest release?",
    "The diagrams really helped, thank you.",
];

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
    let already: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email LIKE ?")
        .bind(format!("%@{SEED_EMAIL_DOMAIN}"))
        .fetch_one(stores.mysql.pool())
        .await?;
    let profiles: u64 = stores
        .mongo
        .db()
        .collection::<Document>(USER_PROFILES)
        .count_documents(doc! { "username": { "$regex": "^dev[0-9]{6}$" } })
        .await?;
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

    let base: u64 =
        sqlx::query_scalar::<_, u64>("SELECT CAST(COALESCE(MAX(id), 0) AS UNSIGNED) FROM users")
            .fetch_one(stores.mysql.pool())
            .await?;
    let users = plan_users(&mut rng, &sizes, base);
    seed_mysql(&stores, &users, &multi, &mut summary).await?;
    seed_profiles(&stores, &users, &sizes, &mut rng, &multi, &mut summary).await?;
    let slugs = seed_posts(&stores, &users, &sizes, &mut rng, &multi, &mut summary).await?;
    seed_sessions(
        &stores,
        &users,
        &sizes,
        &slugs,
        &mut rng,
        &multi,
        &mut summary,
    )
    .await?;

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

/// One seeded user.
struct SeedUser {
    id: u64,
    name: String,
    created: DateTime<Utc>,
    plan: &'static str,
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
                    "enterprise"
                } else if roll < 0.15 {
                    "pro"
                } else {
                    "free"
                },
            }
        })
        .collect()
}

const MYSQL_BATCH: usize = 1_000;

async fn seed_mysql(
    stores: &Stores,
    users: &[SeedUser],
    multi: &MultiProgress,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let hash = techhub_accounts::password::hash(&Password::parse(SEED_PASSWORD)?).await;
    let progress = bar(multi, "mysql users+subscriptions", users.len() as u64);
    let pool = stores.mysql.pool();
    for chunk in users.chunks(MYSQL_BATCH) {
        let mut tx = pool.begin().await?;
        let mut insert = sqlx::QueryBuilder::new(
            "INSERT INTO users (id, email, username, password_hash, display_name, email_verified, \
             timezone, created_at) ",
        );
        insert.push_values(chunk, |mut row, u| {
            row.push_bind(u.id)
                .push_bind(format!("{}@{SEED_EMAIL_DOMAIN}", u.name))
                .push_bind(&u.name)
                .push_bind(&hash)
                .push_bind(&u.name)
                .push_bind(true)
                .push_bind("UTC")
                .push_bind(u.created.naive_utc());
        });
        insert.build().execute(&mut *tx).await?;
        let mut subs = sqlx::QueryBuilder::new(
            "INSERT INTO subscriptions (user_id, plan_type, billing_cycle, price, \
             current_period_start, current_period_end, created_at) ",
        );
        subs.push_values(chunk, |mut row, u| {
            let plan = techhub_core::plans::Plan::parse(u.plan).expect("known plan");
            let cycle = techhub_core::plans::BillingCycle::Monthly;
            let start = epoch() - chrono::Duration::days(10);
            let end = (u.plan != "free").then(|| (start + chrono::Duration::days(30)).naive_utc());
            row.push_bind(u.id)
                .push_bind(u.plan)
                .push_bind(cycle.as_str())
                .push_bind(plan.price(cycle))
                .push_bind(start.naive_utc())
                .push_bind(end)
                .push_bind(u.created.naive_utc());
        });
        subs.build().execute(&mut *tx).await?;
        tx.commit().await?;
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

const MONGO_BATCH: usize = 1_000;
/// `insert_many` calls in flight at once.
const MONGO_WRITERS: usize = 3;

async fn insert_batches(
    stores: &Stores,
    collection: &str,
    batches: tokio::sync::mpsc::Receiver<Vec<Document>>,
    progress: &ProgressBar,
) -> anyhow::Result<u64> {
    let coll = stores.mongo.db().collection::<Document>(collection);
    let stream = tokio_stream_from(batches);
    let mut written = 0u64;
    let mut inserts = stream
        .map(|batch| {
            let coll = coll.clone();
            async move {
                let n = batch.len() as u64;
                coll.insert_many(batch)
                    .ordered(false)
                    .await
                    .map_err(|e| anyhow::anyhow!(short_mongo_error(&e)))?;
                Ok::<u64, anyhow::Error>(n)
            }
        })
        .buffer_unordered(MONGO_WRITERS);
    while let Some(n) = inserts.next().await {
        let n = n.with_context(|| format!("inserting into {collection}"))?;
        written += n;
        progress.inc(n);
    }
    Ok(written)
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn seed_profiles(
    stores: &Stores,
    users: &[SeedUser],
    sizes: &Sizes,
    rng: &mut StdRng,
    multi: &MultiProgress,
    summary: &mut Summary,
) -> anyhow::Result<()> {
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
        let mut following: Vec<i64> = (0..n)
            .map(|_| ids[popular.sample(rng)] as i64)
            .filter(|&f| f != u.id as i64)
            .collect();
        following.sort_unstable();
        following.dedup();
        total_follows += following.len() as u64;
        let created = mongodb::bson::DateTime::from_millis(u.created.timestamp_millis());
        docs.push(doc! {
            "userId": u.id as i64,
            "username": &u.name,
            "displayName": &u.name,
            "bio": Bson::Null,
            "image": Bson::Null,
            "following": following,
            "bookmarks": [],
            "preferences": techhub_content::profiles::default_preferences(),
            "sourceVersion": 1_i64,
            "processedEvents": [],
            "createdAt": created,
            "updatedAt": created,
        });
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
    let written = insert_batches(stores, USER_PROFILES, rx, &progress).await?;
    feeder.await?;
    progress.finish();
    summary.add("mongodb user_profiles", written, t.elapsed());
    summary.add("  (follows inside profiles)", total_follows, Duration::ZERO);
    Ok(())
}

/// A post's body: a few Markdown paragraphs of tech prose around its topic.
fn body(rng: &mut StdRng, words: &Ranked, topic: &str, tags: &[String]) -> String {
    let paragraphs = rng.random_range(2..6);
    let mut out = String::with_capacity(1_500);
    out.push_str(&format!("## {topic}\n\n"));
    for p in 0..paragraphs {
        let sentences = rng.random_range(2..5);
        for _ in 0..sentences {
            let n = rng.random_range(8..18);
            for w in 0..n {
                let word = if rng.random_bool(0.08) {
                    tags[rng.random_range(0..tags.len())].as_str()
                } else if rng.random_bool(0.04) {
                    topic
                } else {
                    WORDS[words.sample(rng)]
                };
                if w == 0 {
                    let mut c = word.chars();
                    if let Some(first) = c.next() {
                        out.extend(first.to_uppercase());
                        out.push_str(c.as_str());
                    }
                } else {
                    out.push(' ');
                    out.push_str(word);
                }
            }
            out.push_str(". ");
        }
        out.push_str("\n\n");
        if p == 0 && rng.random_bool(0.5) {
            out.push_str("```rust\nlet answer = compute(&input).await?;\n```\n\n");
        }
    }
    out
}

async fn seed_posts(
    stores: &Stores,
    users: &[SeedUser],
    sizes: &Sizes,
    rng: &mut StdRng,
    multi: &MultiProgress,
    summary: &mut Summary,
) -> anyhow::Result<Vec<String>> {
    let t = Instant::now();
    let n_posts = sizes.posts as usize;
    // Comments go to popular posts: Zipf over a shuffled order of posts.
    let mut comment_counts = vec![0u32; n_posts];
    if n_posts > 0 {
        let mut order: Vec<u32> = (0..n_posts as u32).collect();
        order.shuffle(rng);
        let popular = Ranked::new(n_posts as u64, 1.05);
        for _ in 0..sizes.comments {
            comment_counts[order[popular.sample(rng)] as usize] += 1;
        }
    }
    let posts_bar = bar(multi, "mongodb posts", sizes.posts);
    let comments_bar = bar(multi, "mongodb comments", sizes.comments);
    let (post_tx, post_rx) = tokio::sync::mpsc::channel::<Vec<Document>>(6);
    let (comment_tx, comment_rx) = tokio::sync::mpsc::channel::<Vec<Document>>(6);
    let ids: Arc<Vec<(u64, String, DateTime<Utc>)>> = Arc::new(
        users
            .iter()
            .map(|u| (u.id, u.name.clone(), u.created))
            .collect(),
    );
    let mut gen_rng = StdRng::seed_from_u64(rng.random());
    // Generation runs on a blocking thread; the writers insert while it produces.
    let generator = tokio::task::spawn_blocking(move || -> Vec<String> {
        let authors = Ranked::new(ids.len() as u64, 0.9);
        let tags = Ranked::new(TAGS.len() as u64, 1.0);
        let commenters = Ranked::new(ids.len() as u64, 0.7);
        let words = Ranked::new(WORDS.len() as u64, 1.0);
        let popularity = Pareto::new(1.0, 1.16).expect("valid Pareto");
        let mut slugs = Vec::new();
        let mut posts = Vec::with_capacity(MONGO_BATCH);
        let mut comments = Vec::with_capacity(MONGO_BATCH);
        let send = |tx: &tokio::sync::mpsc::Sender<Vec<Document>>, batch: &mut Vec<Document>| {
            let full = std::mem::replace(batch, Vec::with_capacity(MONGO_BATCH));
            tx.blocking_send(full).is_ok()
        };
        for (i, &n_comments) in comment_counts.iter().enumerate() {
            let rng = &mut gen_rng;
            let (author, _, joined) = &ids[authors.sample(rng)];
            let since_join = (epoch() - *joined).num_seconds().max(3_600);
            let created = epoch() - chrono::Duration::seconds(rng.random_range(0..since_join));
            let mut post_tags: Vec<String> = (0..rng.random_range(1..=4))
                .map(|_| TAGS[tags.sample(rng)].to_string())
                .collect();
            post_tags.dedup();
            post_tags.sort();
            post_tags.dedup();
            let topic = TOPICS[rng.random_range(0..TOPICS.len())];
            let opener = OPENERS[rng.random_range(0..OPENERS.len())];
            let title = format!("{opener} {topic} in {}", post_tags[0]);
            let slug = format!("{}-{}", techhub_content::posts::slug_base(&title), i + 1);
            let description = format!(
                "{opener} {topic}: what we learned using {}.",
                post_tags.join(", ")
            );
            let body = body(rng, &words, topic, &post_tags);
            let draft = rng.random_bool(0.03);
            let (likes, views, n_comments) = if draft {
                (0u64, 0u64, 0u32)
            } else {
                let p = popularity.sample(rng);
                let likes = ((p - 1.0) * 3.0) as u64;
                let views = likes * rng.random_range(8..40) + rng.random_range(0..50);
                (likes.min(ids.len() as u64), views, n_comments)
            };
            let mut favorited: Vec<i64> = (0..likes)
                .map(|_| ids[rng.random_range(0..ids.len())].0 as i64)
                .collect();
            favorited.sort_unstable();
            favorited.dedup();
            let id = ObjectId::from_bytes(object_id_bytes(created, rng));
            let when = mongodb::bson::DateTime::from_millis(created.timestamp_millis());
            let status = if draft { "draft" } else { "published" };
            if !draft {
                slugs.push(slug.clone());
            }
            posts.push(doc! {
                "_id": id,
                "slug": &slug,
                "title": &title,
                "description": &description,
                "body": &body,
                "authorId": *author as i64,
                "status": status,
                "tags": &post_tags,
                "categories": [topic],
                "difficulty": DIFFICULTIES[rng.random_range(0..DIFFICULTIES.len())],
                "estimatedReadTime": techhub_content::posts::estimated_read_time(&body),
                "metadata": { "seo": { "title": &title, "description": &description, "keywords": &post_tags } },
                "engagement": {
                    "views": views as i64,
                    "likes": favorited.len() as i64,
                    "comments": n_comments as i64,
                    "bookmarks": 0_i64,
                },
                "favoritedBy": favorited,
                "publishedAt": if draft { Bson::Null } else { Bson::DateTime(when) },
                "version": 1_i64,
                "pendingEvents": [],
                "changedAt": when,
                "createdAt": when,
                "updatedAt": when,
            });
            if posts.len() == MONGO_BATCH && !send(&post_tx, &mut posts) {
                return slugs;
            }
            for c in 0..n_comments {
                let after = (epoch() - created).num_seconds().max(60);
                let at = created + chrono::Duration::seconds(rng.random_range(0..after));
                let at = mongodb::bson::DateTime::from_millis(at.timestamp_millis());
                comments.push(doc! {
                    "_id": ObjectId::from_bytes(object_id_bytes(created, rng)),
                    "postId": id,
                    "authorId": ids[commenters.sample(rng)].0 as i64,
                    "body": format!("{} ({})", COMMENT_BODIES[(c as usize + i) % COMMENT_BODIES.len()], c + 1),
                    "createdAt": at,
                    "updatedAt": at,
                });
                if comments.len() == MONGO_BATCH && !send(&comment_tx, &mut comments) {
                    return slugs;
                }
            }
        }
        if !posts.is_empty() {
            send(&post_tx, &mut posts);
        }
        if !comments.is_empty() {
            send(&comment_tx, &mut comments);
        }
        slugs
    });
    let (posts_written, comments_written) = tokio::try_join!(
        insert_batches(stores, POSTS, post_rx, &posts_bar),
        insert_batches(stores, COMMENTS, comment_rx, &comments_bar),
    )?;
    let slugs = generator.await?;
    posts_bar.finish();
    comments_bar.finish();
    let took = t.elapsed();
    summary.add("mongodb posts", posts_written, took);
    summary.add("mongodb comments", comments_written, took);
    Ok(slugs)
}

/// A bulk insert's error in one line: the first write error and how many there were.
fn short_mongo_error(e: &mongodb::error::Error) -> String {
    if let mongodb::error::ErrorKind::InsertMany(m) = e.kind.as_ref() {
        if let Some(errors) = &m.write_errors {
            if let Some(first) = errors.first() {
                return format!(
                    "{} of the batch's documents refused, the first: {}",
                    errors.len(),
                    first.message
                );
            }
        }
    }
    let text = e.to_string();
    text.chars().take(500).collect()
}

/// ObjectId bytes with the given creation time and random rest (reproducible from the seed).
fn object_id_bytes(at: DateTime<Utc>, rng: &mut StdRng) -> [u8; 12] {
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&(at.timestamp() as u32).to_be_bytes());
    rng.fill(&mut bytes[4..]);
    bytes
}

/// Rows of learning sessions sent per `COPY` chunk.
const COPY_CHUNK: usize = 20_000;

#[allow(clippy::too_many_arguments)]
async fn seed_sessions(
    stores: &Stores,
    users: &[SeedUser],
    sizes: &Sizes,
    slugs: &[String],
    rng: &mut StdRng,
    multi: &MultiProgress,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let t = Instant::now();
    // Sessions per user: Zipf over a shuffled order of users (a few learn daily).
    let mut counts = vec![0u32; users.len()];
    let mut order: Vec<u32> = (0..users.len() as u32).collect();
    order.shuffle(rng);
    let learners = Ranked::new(users.len() as u64, 0.8);
    for _ in 0..sizes.sessions {
        counts[order[learners.sample(rng)] as usize] += 1;
    }
    let sessions_bar = bar(multi, "postgres learning_sessions", sizes.sessions);
    let analytics_bar = bar(multi, "postgres user_analytics", users.len() as u64);
    let people: Vec<(u64, String)> = users.iter().map(|u| (u.id, u.name.clone())).collect();
    let popular_slugs: Vec<String> = slugs.iter().take(1_000).cloned().collect();
    let mut gen_rng = StdRng::seed_from_u64(rng.random());
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Vec<u8>, u64, Vec<u8>, u64)>(4);
    let generator = tokio::task::spawn_blocking(move || {
        let techs = Ranked::new(TAGS.len() as u64, 1.1);
        let mut sessions_buf = Vec::with_capacity(COPY_CHUNK * 160);
        let mut analytics_buf = Vec::with_capacity(64 * 1024);
        let (mut n_sessions, mut n_users) = (0u64, 0u64);
        for ((id, name), &count) in people.iter().zip(&counts) {
            let rng = &mut gen_rng;
            let mut times: Vec<DateTime<Utc>> = (0..count)
                .map(|_| epoch() - chrono::Duration::seconds(rng.random_range(0..180 * 86_400)))
                .collect();
            times.sort();
            let mut total = 0i64;
            let (mut streak, mut longest, mut last_day): (i32, i32, Option<NaiveDate>) =
                (0, 0, None);
            let mut progress = json!({});
            let mut last_activity: Option<DateTime<Utc>> = None;
            for started in times {
                let minutes: i32 =
                    (rng.random_range(5.0f64..60.0) * rng.random_range(0.5f64..2.0)) as i32;
                let minutes = minutes.clamp(1, 240);
                let completion: f64 = if rng.random_bool(0.6) {
                    100.0
                } else {
                    rng.random_range(0..100) as f64
                };
                let n_techs = rng.random_range(1..=3);
                let mut technologies: Vec<String> = (0..n_techs)
                    .map(|_| TAGS[techs.sample(rng)].to_string())
                    .collect();
                technologies.sort();
                technologies.dedup();
                let ended = started + chrono::Duration::minutes(minutes as i64);
                let content_type = CONTENT_TYPES[rng.random_range(0..CONTENT_TYPES.len())];
                let content_id = (content_type == "post" && !popular_slugs.is_empty())
                    .then(|| popular_slugs[rng.random_range(0..popular_slugs.len())].as_str());
                total += sessions::points(minutes, completion);
                let (s, day) = sessions::next_streak(last_day, streak, ended.date_naive());
                streak = s;
                last_day = Some(day);
                longest = longest.max(streak);
                progress =
                    sessions::add_progress(progress, &technologies, minutes, completion >= 100.0);
                last_activity = Some(last_activity.map_or(ended, |l| l.max(ended)));
                use std::io::Write;
                let _ = writeln!(
                    sessions_buf,
                    "{id}\t{content_type}\t{}\t{{{}}}\t{minutes}\t{completion:.2}\t{}\t{}\t{}\t{}\t{}",
                    content_id.unwrap_or("\\N"),
                    technologies.join(","),
                    rng.random_range(1..=10),
                    if rng.random_bool(0.7) { rng.random_range(1..=5).to_string() } else { "\\N".into() },
                    started.to_rfc3339(),
                    ended.to_rfc3339(),
                    ended.to_rfc3339(),
                );
                n_sessions += 1;
                if n_sessions % COPY_CHUNK as u64 == 0 {
                    let full =
                        std::mem::replace(&mut sessions_buf, Vec::with_capacity(COPY_CHUNK * 160));
                    if tx
                        .blocking_send((full, COPY_CHUNK as u64, Vec::new(), 0))
                        .is_err()
                    {
                        return;
                    }
                }
            }
            // The streak as of the seed's epoch: broken when the last active day is older
            // than yesterday (reads show it so; the row keeps what the sessions made it).
            use std::io::Write;
            let _ = writeln!(
                analytics_buf,
                "{id}\t{name}\tUTC\t{}\t{total}\t{streak}\t{longest}\t{}\t{}\t1",
                progress.to_string().replace('\\', "\\\\"),
                last_day.map_or("\\N".to_string(), |d| d.to_string()),
                last_activity.map_or("\\N".to_string(), |d| d.to_rfc3339()),
            );
            n_users += 1;
            if n_users % 1_000 == 0 {
                let full = std::mem::take(&mut analytics_buf);
                if tx.blocking_send((Vec::new(), 0, full, 1_000)).is_err() {
                    return;
                }
            }
        }
        let rest = n_sessions % COPY_CHUNK as u64;
        let _ = tx.blocking_send((sessions_buf, rest, analytics_buf, n_users % 1_000));
    });
    let pool = stores.postgres.pool();
    let mut written = (0u64, 0u64);
    // One COPY per table, kept open across chunks, each on its own connection without the
    // pool's per-statement time limit (a COPY lasts as long as the generator runs).
    let mut sessions_conn = unlimited(pool).await?;
    let mut analytics_conn = unlimited(pool).await?;
    let mut sessions_copy = sessions_conn
        .copy_in_raw(
            "COPY learning_sessions (user_id, content_type, content_id, technologies, duration_minutes, \
             completion_percentage, difficulty_level, rating, started_at, ended_at, created_at) FROM STDIN",
        )
        .await?;
    let mut analytics_copy = analytics_conn
        .copy_in_raw(
            "COPY user_analytics (user_id, username, timezone, learning_progress, total_points, \
             streak_days, longest_streak, last_active_day, last_activity, source_version) FROM STDIN",
        )
        .await?;
    while let Some((s, ns, a, na)) = rx.recv().await {
        if !s.is_empty() {
            sessions_copy.send(s).await?;
            written.0 += ns;
            sessions_bar.inc(ns);
        }
        if !a.is_empty() {
            analytics_copy.send(a).await?;
            written.1 += na;
            analytics_bar.inc(na);
        }
    }
    generator.await?;
    sessions_copy
        .finish()
        .await
        .context("copying learning_sessions")?;
    analytics_copy
        .finish()
        .await
        .context("copying user_analytics")?;
    sessions_bar.finish();
    analytics_bar.finish();
    let took = t.elapsed();
    summary.add("postgres learning_sessions", written.0, took);
    summary.add("postgres user_analytics", written.1, took);
    let t = Instant::now();
    sqlx::query("ANALYZE learning_sessions")
        .execute(&mut *sessions_conn)
        .await?;
    sqlx::query("ANALYZE user_analytics")
        .execute(&mut *sessions_conn)
        .await?;
    summary.add("postgres analyze", 0, t.elapsed());
    // Not back into the pool with the limit lifted.
    drop(sessions_conn.detach());
    drop(analytics_conn.detach());
    Ok(())
}

/// A connection of `pool` without a statement time limit.
async fn unlimited(
    pool: &sqlx::PgPool,
) -> anyhow::Result<sqlx::pool::PoolConnection<sqlx::Postgres>> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SET statement_timeout = 0")
        .execute(&mut *conn)
        .await?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_plans_the_same_users_and_another_seed_does_not() {
        let sizes = |rng_seed| Sizes {
            users: 50,
            posts: 0,
            comments: 0,
            sessions: 0,
            follows: 1,
            rng_seed,
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
