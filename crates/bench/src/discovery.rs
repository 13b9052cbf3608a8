//! Discovery: before a run, what the scenarios draw from is found on the server itself —
//! slugs and authors from the article lists (or search, when the lists do not answer at the
//! data set's size), tags, and tokens: minted with TechHub's JWT secret when allowed, else
//! from logging in seeded users, else from registering users.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::Result;
use futures::StreamExt;
use hyper::header::HeaderValue;
use hyper::StatusCode;
use serde_json::json;

use crate::client::Api;
use crate::scenarios::Scenario::{self, *};
use crate::scenarios::{auth_header, encode, ColdUsers, Minter, World, SEARCH_WORDS};

/// Options of the discovery step.
pub struct SetupOptions {
    /// Tokens wanted for authenticated reads.
    pub tokens: usize,
    /// Seeded users (`dev000001`..), or `None` to probe.
    pub seeded_users: Option<u64>,
    /// Whether the bench may mint tokens with TechHub's JWT secret.
    pub mint: bool,
    /// Unix time of the run (rotates the cold users).
    pub unix_secs: u64,
    /// Whether discovery may page through the article lists (else search only).
    pub lists: bool,
}

/// Seeded username `i` (from 1).
pub fn seeded_username(i: u64) -> String {
    format!("dev{i:06}")
}

/// Seeded email `i` (from 1).
pub fn seeded_email(i: u64) -> String {
    format!("dev{i:06}@seed.example.com")
}

/// Password of every seeded user.
pub const SEEDED_PASSWORD: &str = "seed-password";

/// Most writer tokens minted (writes spread over this many users).
const MAX_WRITERS: u64 = 2_000;

/// Finds slugs, tags, authors and tokens on the server for the `selected` scenarios.
pub async fn discover(
    api: &Api,
    selected: &[Scenario],
    opts: &SetupOptions,
    run_id: String,
) -> Result<World> {
    let mut world = World::new(run_id);
    if selected.iter().all(|s| s.is_floor()) {
        return Ok(world.finish());
    }

    // Tags, most used first (the tag list is an aggregation over every post: skipped with
    // the lists).
    if opts.lists {
        let tags = api.get("/api/tags", None).await?;
        if tags.status == StatusCode::OK {
            if let Some(list) = tags.json()["tags"].as_array() {
                world.tags = list
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect();
            }
        } else {
            eprintln!(
                "[bench] GET /api/tags answered {}: {}",
                tags.status,
                tags.snippet()
            );
        }
    }

    // Slugs and authors: the newest 20 pages of 100, then the first page of the top tags.
    let mut found = Found::default();
    for k in 0..if opts.lists { 20 } else { 0 } {
        let n = found
            .add_page(api, &format!("/api/articles?limit=100&offset={}", k * 100))
            .await?;
        if n < 100 {
            break;
        }
    }
    for tag in world.tags.iter().take(if opts.lists { 5 } else { 0 }) {
        found
            .add_page(api, &format!("/api/articles?tag={}&limit=100", encode(tag)))
            .await?;
    }
    if found.slugs.is_empty() && !selected.iter().all(|s| s.is_floor()) {
        // Lists did not answer (or are empty): TechHub's search also names articles.
        eprintln!("[bench] discovery: no articles from the lists; asking /api/search");
        for word in SEARCH_WORDS {
            found
                .add_page(api, &format!("/api/search?q={word}&limit=100"))
                .await?;
        }
    }
    let Found { slugs, authors, .. } = found;
    world.slugs = slugs;
    world.authors = authors.into_iter().collect();
    eprintln!(
        "[bench] discovery: {} slugs, {} tags, {} authors",
        world.slugs.len(),
        world.tags.len(),
        world.authors.len()
    );

    let needs_users = selected.iter().any(|s| s.needs_tokens() || *s == Login);
    if needs_users {
        users(api, selected, opts, &mut world).await?;
    }

    // TechHub-only endpoints.
    let wants = |s: &[Scenario]| selected.iter().any(|x| s.contains(x));
    let reader = world.readers.first().cloned();
    if wants(&[DashboardCached, DashboardCold, Mixed]) {
        world.features.dashboard = match &reader {
            Some(auth) => {
                api.get("/api/dashboard", Some(auth)).await?.status != StatusCode::NOT_FOUND
            }
            None => false,
        };
    }
    if wants(&[Search, Mixed]) {
        world.features.search =
            api.get("/api/search?q=rust", None).await?.status != StatusCode::NOT_FOUND;
    }
    if wants(&[LearningSession, Mixed]) {
        world.features.learning = match &reader {
            Some(auth) => {
                api.get("/api/learning/sessions", Some(auth)).await?.status != StatusCode::NOT_FOUND
            }
            None => false,
        };
    }
    Ok(world.finish())
}

/// Slugs (in discovery order, deduplicated) and author usernames.
#[derive(Default)]
struct Found {
    slugs: Vec<String>,
    seen: std::collections::HashSet<String>,
    authors: BTreeSet<String>,
}

impl Found {
    /// Adds one page of articles; returns how many articles it had (0 on a non-200 answer).
    async fn add_page(&mut self, api: &Api, path: &str) -> Result<usize> {
        let page = api.get(path, None).await?;
        if page.status != StatusCode::OK {
            eprintln!(
                "[bench] GET {path} answered {}: {}",
                page.status,
                page.snippet()
            );
            return Ok(0);
        }
        let body = page.json();
        // A RealWorld list (`articles`) or a TechHub search page (`results[].article`).
        let articles: Vec<&serde_json::Value> = match body["articles"].as_array() {
            Some(list) => list.iter().collect(),
            None => body["results"]
                .as_array()
                .map(|r| r.iter().map(|hit| &hit["article"]).collect())
                .unwrap_or_default(),
        };
        for a in articles.iter().copied() {
            if let Some(slug) = a["slug"].as_str() {
                if self.seen.insert(slug.to_string()) {
                    self.slugs.push(slug.to_string());
                }
            }
            if let Some(name) = a["author"]["username"].as_str() {
                self.authors.insert(name.to_string());
            }
        }
        Ok(articles.len())
    }
}

/// Counts seeded users, then gets tokens: minted when the server accepts TechHub's JWT secret,
/// else by logging in seeded users, else by registering bench users.
async fn users(
    api: &Api,
    selected: &[Scenario],
    opts: &SetupOptions,
    world: &mut World,
) -> Result<()> {
    let seeded = match opts.seeded_users {
        Some(n) => n,
        None => count_seeded(api).await?,
    };
    eprintln!("[bench] seeded users: {seeded}");
    world.logins = (1..=seeded.min(1_000))
        .map(|i| (seeded_email(i), SEEDED_PASSWORD.to_string()))
        .collect();
    let wanted = opts.tokens.max(1) as u64;

    let minter = if opts.mint && seeded > 0 {
        match techhub_core::Config::from_env() {
            Ok(config) => {
                use secrecy::ExposeSecret;
                let minter = Minter::new(config.jwt_secret.expose_secret());
                let probe = api
                    .get("/api/user", Some(&auth_header(&minter.token(1))))
                    .await?;
                if probe.status == StatusCode::OK {
                    Some(minter)
                } else {
                    eprintln!(
                        "[bench] a token minted with TECHHUB_JWT_SECRET was refused ({}); logging in instead",
                        probe.status
                    );
                    None
                }
            }
            Err(e) => {
                eprintln!("[bench] no TechHub configuration ({e}); logging in instead");
                None
            }
        }
    } else {
        None
    };

    if let Some(minter) = minter {
        world.readers = (1..=seeded.min(wanted))
            .map(|id| auth_header(&minter.token(id)))
            .collect();
        world.writers = (1..=seeded.min(MAX_WRITERS))
            .map(|id| auth_header(&minter.token(id)))
            .collect();
        eprintln!(
            "[bench] tokens: minted for {} readers and {} writers (TECHHUB_JWT_SECRET is accepted)",
            world.readers.len(),
            world.writers.len()
        );
        if selected.contains(&DashboardCold) {
            // Cold users are the ones not in the cached-dashboard set, starting at a point that
            // moves with the clock so back-to-back runs do not reuse the same users first.
            let first = world.readers.len() as u64 + 1;
            if seeded >= first {
                let count = seeded - first + 1;
                let offset = (opts.unix_secs / 10) * 997 % count;
                world.cold = Some(ColdUsers::new(minter, first, count, offset));
            }
        }
        return Ok(());
    }

    if seeded > 0 {
        world.readers = login_many(api, seeded.min(wanted)).await;
    }
    if world.readers.is_empty() {
        let (tokens, logins) = register_many(api, &world.run_id, wanted).await;
        world.readers = tokens;
        if world.logins.is_empty() {
            world.logins = logins;
        }
    }
    world.writers = world.readers.clone();
    Ok(())
}

/// Largest `n` such that `dev000001..=dev{n}` have profiles (exponential then binary search).
async fn count_seeded(api: &Api) -> Result<u64> {
    let exists = |i: u64| async move {
        let path = format!("/api/profiles/{}", seeded_username(i));
        Ok::<_, anyhow::Error>(api.get(&path, None).await?.status == StatusCode::OK)
    };
    if !exists(1).await? {
        return Ok(0);
    }
    let (mut lo, mut hi) = (1u64, 2u64);
    while hi <= 10_000_000 && exists(hi).await? {
        lo = hi;
        hi *= 2;
    }
    // exists(lo) and !exists(hi)
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if exists(mid).await? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// Concurrent logins during set-up (each costs a password hash on the server).
const LOGIN_CONCURRENCY: usize = 4;

/// Logs in seeded users `1..=n`; stops early when the server rate-limits.
async fn login_many(api: &Api, n: u64) -> Vec<HeaderValue> {
    eprintln!("[bench] logging in {n} seeded users ({LOGIN_CONCURRENCY} at a time)");
    let limited = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let results: Vec<Option<HeaderValue>> = futures::stream::iter(1..=n)
        .map(|i| {
            let limited = &limited;
            let done = &done;
            async move {
                if limited.load(Ordering::Relaxed) {
                    return None;
                }
                let body = json!({"user": {"email": seeded_email(i), "password": SEEDED_PASSWORD}});
                let answer = api.post("/api/users/login", &body).await.ok()?;
                let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                if finished.is_multiple_of(16) || finished == n {
                    eprintln!("[bench]   {finished}/{n} logins");
                }
                if answer.status == StatusCode::TOO_MANY_REQUESTS {
                    if !limited.swap(true, Ordering::Relaxed) {
                        eprintln!("[bench] logins are rate-limited (429); using the tokens so far");
                    }
                    return None;
                }
                if answer.status != StatusCode::OK {
                    return None;
                }
                answer.json()["user"]["token"].as_str().map(auth_header)
            }
        })
        .buffer_unordered(LOGIN_CONCURRENCY)
        .collect()
        .await;
    let tokens: Vec<_> = results.into_iter().flatten().collect();
    eprintln!("[bench] tokens: {} from logins", tokens.len());
    tokens
}

/// Registers `n` bench users; returns their tokens and credentials.
async fn register_many(
    api: &Api,
    run_id: &str,
    n: u64,
) -> (Vec<HeaderValue>, Vec<(String, String)>) {
    eprintln!("[bench] registering {n} bench users");
    let mut tokens = Vec::new();
    let mut logins = Vec::new();
    for i in 0..n {
        let name = format!("b{run_id}u{i}");
        let email = format!("{name}@bench.example.com");
        let body =
            json!({"user": {"username": name, "email": email, "password": "bench-password-1"}});
        let answer = match api.post("/api/users", &body).await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("[bench] register failed: {e:#}");
                break;
            }
        };
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            eprintln!("[bench] registrations are rate-limited (429) after {i}");
            break;
        }
        if let Some(t) = answer.json()["user"]["token"].as_str() {
            tokens.push(auth_header(t));
            logins.push((email, "bench-password-1".to_string()));
        } else {
            eprintln!(
                "[bench] register answered {}: {}",
                answer.status,
                answer.snippet()
            );
            break;
        }
    }
    eprintln!("[bench] tokens: {} from registrations", tokens.len());
    (tokens, logins)
}
