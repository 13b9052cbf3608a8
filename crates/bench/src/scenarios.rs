//! The scenarios: their names, which floor each is compared with, what they need, and the
//! requests they send. [`World`] holds what discovery found on the server (slugs, tags,
//! authors, tokens) and builds every request.
//!
//! RealWorld scenarios only use RealWorld-spec endpoints, so they run against any RealWorld
//! server; the TechHub-only ones (dashboards, search, learning sessions) are skipped when a
//! probe answers 404.
//!
//! (About 640 lines, a sixth of them the unit tests: a scenario's name, floor, needs and
//! request are kept side by side, so adding one touches one file.)

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Result;
use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::Method;
use rand::Rng;
use serde_json::{json, Value};

use crate::floor;
use crate::load::{Req, Vu, Workload};
pub use crate::tokens::{auth_header, ColdUsers, Minter};
use crate::zipf::Zipf;

/// One benchmark scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// Floor: one Redis GET.
    FloorRedis,
    /// Floor: one PostgreSQL primary-key SELECT.
    FloorPg,
    /// `GET /api/articles/{slug}`, Zipf-distributed slugs.
    ArticleBySlug,
    /// `GET /api/articles?tag=..&limit=20&offset=0|20|40`.
    ArticlesByTag,
    /// `GET /api/articles/feed?limit=20`, authenticated.
    Feed,
    /// `GET /api/dashboard` for a small set of users (cache hits).
    DashboardCached,
    /// `GET /api/dashboard`, each request as a user not used before (cache misses).
    DashboardCold,
    /// `GET /api/search?q=<tech word>`.
    Search,
    /// `GET /api/profiles/{username}` of article authors.
    Profile,
    /// `POST /api/users`.
    Register,
    /// `POST /api/users/login` as seeded users.
    Login,
    /// `POST /api/articles`.
    CreatePost,
    /// `POST /api/articles/{slug}/comments`.
    Comment,
    /// `POST` then `DELETE /api/articles/{slug}/favorite`.
    Favorite,
    /// `POST /api/learning/sessions`.
    LearningSession,
    /// 90 % reads, 10 % writes.
    Mixed,
}

use Scenario::*;

/// Reads that `mixed` picks from (uniformly), 90 % of its requests.
pub const MIXED_READS: [Scenario; 6] = [
    ArticleBySlug,
    ArticlesByTag,
    Feed,
    DashboardCached,
    Search,
    Profile,
];

/// Writes that `mixed` picks from (uniformly), 10 % of its requests.
pub const MIXED_WRITES: [Scenario; 4] = [Comment, Favorite, LearningSession, CreatePost];

/// Words the `search` scenario looks up.
pub const SEARCH_WORDS: [&str; 20] = [
    "rust",
    "async",
    "tokio",
    "postgres",
    "kubernetes",
    "docker",
    "react",
    "typescript",
    "python",
    "golang",
    "ownership",
    "lifetimes",
    "indexing",
    "caching",
    "microservices",
    "graphql",
    "testing",
    "performance",
    "security",
    "webassembly",
];

impl Scenario {
    /// Every scenario, in the order they run.
    pub const ALL: [Scenario; 16] = [
        FloorRedis,
        FloorPg,
        ArticleBySlug,
        ArticlesByTag,
        Feed,
        DashboardCached,
        DashboardCold,
        Search,
        Profile,
        Register,
        Login,
        CreatePost,
        Comment,
        Favorite,
        LearningSession,
        Mixed,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            FloorRedis => "floor-redis",
            FloorPg => "floor-pg",
            ArticleBySlug => "article-by-slug",
            ArticlesByTag => "articles-by-tag",
            Feed => "feed",
            DashboardCached => "dashboard-cached",
            DashboardCold => "dashboard-cold",
            Search => "search",
            Profile => "profile",
            Register => "register",
            Login => "login",
            CreatePost => "create-post",
            Comment => "comment",
            Favorite => "favorite",
            LearningSession => "learning-session",
            Mixed => "mixed",
        }
    }

    /// The scenario called `name`.
    pub fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name.trim())
    }

    /// True for the floor's own scenarios (sent to the floor server, not the base URL).
    pub fn is_floor(self) -> bool {
        matches!(self, FloorRedis | FloorPg)
    }

    /// The floor scenario this one's closed-model requests/s is divided by: reads TechHub
    /// serves from its Redis cache go against `floor-redis`, everything else against
    /// `floor-pg`. `None` for the floors themselves.
    pub fn floor(self) -> Option<Scenario> {
        match self {
            FloorRedis | FloorPg => None,
            ArticleBySlug | DashboardCached | Profile => Some(FloorRedis),
            _ => Some(FloorPg),
        }
    }

    /// True for endpoints outside the RealWorld spec.
    pub fn techhub_only(self) -> bool {
        matches!(
            self,
            DashboardCached | DashboardCold | Search | LearningSession
        )
    }

    /// True when the scenario needs user tokens.
    pub fn needs_tokens(self) -> bool {
        matches!(
            self,
            Feed | DashboardCached
                | DashboardCold
                | CreatePost
                | Comment
                | Favorite
                | LearningSession
                | Mixed
        )
    }
}

/// Parses a comma-separated list of scenario names (empty or `all`: every scenario) and adds
/// the floors the chosen ones are compared with when `with_floors`. The result is in run order.
pub fn select(list: &[String], with_floors: bool) -> Result<Vec<Scenario>, String> {
    let mut chosen = BTreeSet::new();
    for name in list.iter().flat_map(|s| s.split(',')) {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        if name == "all" {
            chosen.extend(Scenario::ALL);
            continue;
        }
        let s = Scenario::parse(name).ok_or_else(|| {
            let names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
            format!("unknown scenario {name:?}; known: {}", names.join(", "))
        })?;
        chosen.insert(s);
    }
    if chosen.is_empty() {
        chosen.extend(Scenario::ALL);
    }
    if with_floors {
        let floors: Vec<_> = chosen.iter().filter_map(|s| s.floor()).collect();
        chosen.extend(floors);
    } else {
        chosen.retain(|s| !s.is_floor());
    }
    Ok(Scenario::ALL
        .into_iter()
        .filter(|s| chosen.contains(s))
        .collect())
}

/// Percent-encodes a path segment or query value (everything but RFC 3986 unreserved bytes).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A run id made of lowercase letters and digits (the unix time in base 36).
pub fn run_id(unix_secs: u64) -> String {
    let mut n = unix_secs;
    let mut digits = Vec::new();
    loop {
        let d = (n % 36) as u32;
        digits.push(char::from_digit(d, 36).expect("digit below 36"));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().collect()
}

/// Which TechHub-only endpoints the server has.
#[derive(Clone, Copy, Debug, Default)]
pub struct Features {
    /// `GET /api/dashboard`.
    pub dashboard: bool,
    /// `GET /api/search`.
    pub search: bool,
    /// `/api/learning/sessions`.
    pub learning: bool,
}

/// Everything the scenarios draw from.
pub struct World {
    /// Discovered article slugs, newest first (rank 0 is the most popular under Zipf).
    pub slugs: Vec<String>,
    slug_zipf: Zipf,
    /// Tags, most used first.
    pub tags: Vec<String>,
    tag_zipf: Zipf,
    /// Usernames of discovered article authors.
    pub authors: Vec<String>,
    /// Tokens for authenticated reads (a small set).
    pub readers: Vec<HeaderValue>,
    /// Tokens writes are spread over (as many users as there are, to stay under per-user
    /// write limits).
    pub writers: Vec<HeaderValue>,
    /// Email and password pairs for `login`.
    pub logins: Vec<(String, String)>,
    /// Users for `dashboard-cold`.
    pub cold: Option<ColdUsers>,
    /// TechHub-only endpoints present.
    pub features: Features,
    /// Unique id of this run, in usernames and titles.
    pub run_id: String,
    counter: AtomicU64,
    mixed_reads: Vec<Scenario>,
    mixed_writes: Vec<Scenario>,
}

/// Users that `dashboard-cached` cycles through.
const CACHED_DASHBOARD_USERS: usize = 8;

/// Article body of `create-post`, about 500 characters of Markdown.
const POST_BODY: &str = "## Benchmark post\n\nThis article was written by the TechHub load \
benchmark. It exercises the *create* path: validation, Markdown rendering, slug generation, \
tag counting, the outbox and the search indexer.\n\n```rust\nfn main() {\n    println!(\"hello, \
bench\");\n}\n```\n\nA list, so the renderer has something to do:\n\n- ownership\n- lifetimes\n- \
async and tokio\n\nAnd a [link](https://example.com/bench) plus `inline code`, then a closing \
paragraph that pads the body to roughly five hundred characters in all.";

impl World {
    /// An empty world for `run_id`; fill the public fields, then call [`World::finish`].
    pub fn new(run_id: String) -> World {
        World {
            slugs: Vec::new(),
            slug_zipf: Zipf::new(1, 1.0),
            tags: Vec::new(),
            tag_zipf: Zipf::new(1, 1.0),
            authors: Vec::new(),
            readers: Vec::new(),
            writers: Vec::new(),
            logins: Vec::new(),
            cold: None,
            features: Features::default(),
            run_id,
            counter: AtomicU64::new(0),
            mixed_reads: Vec::new(),
            mixed_writes: Vec::new(),
        }
    }

    /// The same world with articles drawn with Zipf exponent `s` (`--slug-skew`).
    pub fn with_slug_skew(mut self, s: f64) -> World {
        self.slug_zipf = Zipf::new(self.slugs.len(), s);
        self
    }

    /// Builds the samplers and the `mixed` lists from the public fields.
    pub fn finish(mut self) -> World {
        self.slug_zipf = Zipf::new(self.slugs.len(), 1.0);
        self.tag_zipf = Zipf::new(self.tags.len(), 1.0);
        self.mixed_reads = MIXED_READS
            .into_iter()
            .filter(|s| self.unavailable(*s).is_none())
            .collect();
        self.mixed_writes = MIXED_WRITES
            .into_iter()
            .filter(|s| self.unavailable(*s).is_none())
            .collect();
        self
    }

    /// Why `scenario` cannot run on this server, or `None` when it can.
    pub fn unavailable(&self, scenario: Scenario) -> Option<String> {
        let f = self.features;
        let missing = |what: &str| Some(format!("the server has no {what}"));
        let none_found = |what: &str| Some(format!("discovery found no {what}"));
        match scenario {
            FloorRedis | FloorPg | Register => None,
            ArticleBySlug | Comment | Favorite if self.slugs.is_empty() => none_found("articles"),
            ArticlesByTag if self.tags.is_empty() => none_found("tags"),
            Profile if self.authors.is_empty() => none_found("article authors"),
            DashboardCached | DashboardCold if !f.dashboard => missing("GET /api/dashboard (404)"),
            Search if !f.search => missing("GET /api/search (404)"),
            LearningSession if !f.learning => missing("/api/learning/sessions (404)"),
            DashboardCold if self.cold.is_none() => Some(
                "needs thousands of users: the bench could not mint tokens (TECHHUB_JWT_SECRET \
                 not accepted, or no seeded users)"
                    .into(),
            ),
            Login if self.logins.is_empty() => Some("no known user credentials".into()),
            s if s.needs_tokens() && self.readers.is_empty() => {
                Some("no user tokens (login and register both failed)".into())
            }
            Mixed if self.mixed_reads.is_empty() => Some("none of its reads can run".into()),
            _ => None,
        }
    }

    fn n(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    fn slug(&self, vu: &mut Vu) -> &str {
        &self.slugs[self.slug_zipf.sample(&mut vu.rng)]
    }

    fn pick<'a, T>(items: &'a [T], vu: &mut Vu) -> &'a T {
        &items[vu.rng.random_range(0..items.len())]
    }

    fn writer(&self, vu: &mut Vu) -> HeaderValue {
        Self::pick(&self.writers, vu).clone()
    }

    /// The next request of `scenario` for `vu`.
    pub fn request(&self, scenario: Scenario, vu: &mut Vu) -> Req {
        match scenario {
            FloorRedis => Req::get(
                format!("/redis/{}", vu.rng.random_range(0..floor::ROWS)),
                None,
            ),
            FloorPg => Req::get(format!("/pg/{}", vu.rng.random_range(0..floor::ROWS)), None),
            ArticleBySlug => Req::get(format!("/api/articles/{}", encode(self.slug(vu))), None),
            ArticlesByTag => {
                let tag = &self.tags[self.tag_zipf.sample(&mut vu.rng)];
                let offset = 20 * vu.rng.random_range(0..3);
                Req::get(
                    format!("/api/articles?tag={}&limit=20&offset={offset}", encode(tag)),
                    None,
                )
            }
            Feed => Req::get(
                "/api/articles/feed?limit=20".into(),
                Some(Self::pick(&self.readers, vu).clone()),
            ),
            DashboardCached => {
                let set = &self.readers[..self.readers.len().min(CACHED_DASHBOARD_USERS)];
                Req::get("/api/dashboard".into(), Some(Self::pick(set, vu).clone()))
            }
            DashboardCold => {
                let auth = self.cold.as_ref().map(|c| c.next_auth());
                Req::get("/api/dashboard".into(), auth)
            }
            Search => Req::get(
                format!("/api/search?q={}", Self::pick(&SEARCH_WORDS, vu)),
                None,
            ),
            Profile => Req::get(
                format!(
                    "/api/profiles/{}",
                    encode(Self::pick(&self.authors, vu).as_str())
                ),
                None,
            ),
            Register => {
                let name = format!("b{}{}", self.run_id, self.n());
                let body = json!({"user": {
                    "username": name,
                    "email": format!("{name}@bench.example.com"),
                    "password": "bench-password-1",
                }});
                Req::json(Method::POST, "/api/users".into(), to_bytes(&body), None)
            }
            Login => {
                let (email, password) = Self::pick(&self.logins, vu);
                let body = json!({"user": {"email": email, "password": password}});
                Req::json(
                    Method::POST,
                    "/api/users/login".into(),
                    to_bytes(&body),
                    None,
                )
            }
            CreatePost => {
                let body = json!({"article": {
                    "title": format!("Bench {} {}", self.run_id, self.n()),
                    "description": "d",
                    "body": POST_BODY,
                    "tagList": ["rust", "bench"],
                }});
                let auth = self.writer(vu);
                Req::json(
                    Method::POST,
                    "/api/articles".into(),
                    to_bytes(&body),
                    Some(auth),
                )
            }
            Comment => {
                let path = format!("/api/articles/{}/comments", encode(self.slug(vu)));
                let body = json!({"comment": {"body": format!(
                    "Bench comment {} {}: thanks for the article, the examples helped.",
                    self.run_id,
                    self.n()
                )}});
                let auth = self.writer(vu);
                Req::json(Method::POST, path, to_bytes(&body), Some(auth))
            }
            Favorite => {
                if let Some((path, auth)) = vu.unfavorite.take() {
                    return Req {
                        method: Method::DELETE,
                        path,
                        body: None,
                        auth: Some(auth),
                    };
                }
                let path = format!("/api/articles/{}/favorite", encode(self.slug(vu)));
                let auth = self.writer(vu);
                vu.unfavorite = Some((path.clone(), auth.clone()));
                Req {
                    method: Method::POST,
                    path,
                    body: None,
                    auth: Some(auth),
                }
            }
            LearningSession => {
                let body = Bytes::from_static(
                    br#"{"session":{"contentType":"video","technologies":["rust"],"durationMinutes":30,"completion":100,"difficulty":5,"rating":4}}"#,
                );
                let auth = self.writer(vu);
                Req::json(
                    Method::POST,
                    "/api/learning/sessions".into(),
                    body,
                    Some(auth),
                )
            }
            Mixed => {
                // A favorite is always followed by its removal, whatever was drawn.
                if vu.unfavorite.is_some() {
                    return self.request(Favorite, vu);
                }
                let pick = if vu.rng.random_range(0..100) < 90 || self.mixed_writes.is_empty() {
                    *Self::pick(&self.mixed_reads, vu)
                } else {
                    *Self::pick(&self.mixed_writes, vu)
                };
                self.request(pick, vu)
            }
        }
    }
}

fn to_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).expect("JSON values serialize"))
}

/// The requests of one scenario, for the load generator.
pub struct ScenarioLoad {
    /// Which scenario.
    pub scenario: Scenario,
    /// What it draws from.
    pub world: Arc<World>,
}

impl Workload for ScenarioLoad {
    fn next(&self, vu: &mut Vu) -> Req {
        self.world.request(self.scenario, vu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_floors_map_cached_reads_to_redis() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::parse(s.name()), Some(s));
        }
        assert_eq!(ArticleBySlug.floor(), Some(FloorRedis));
        assert_eq!(DashboardCached.floor(), Some(FloorRedis));
        assert_eq!(Profile.floor(), Some(FloorRedis));
        for s in [
            ArticlesByTag,
            Feed,
            DashboardCold,
            Search,
            CreatePost,
            Mixed,
        ] {
            assert_eq!(s.floor(), Some(FloorPg), "{}", s.name());
        }
        assert_eq!(FloorRedis.floor(), None);
        assert_eq!(Scenario::parse("nope"), None);
    }

    #[test]
    fn select_adds_the_needed_floors_in_run_order() {
        let got = select(&["search,profile".into()], true).unwrap();
        assert_eq!(got, vec![FloorRedis, FloorPg, Search, Profile]);
        let got = select(&["search".into(), "floor-redis".into()], false).unwrap();
        assert_eq!(got, vec![Search]);
        assert_eq!(select(&[], true).unwrap().len(), Scenario::ALL.len());
        assert!(select(&["article".into()], true).is_err());
    }

    #[test]
    fn encode_escapes_reserved_characters() {
        assert_eq!(encode("how-to-rust_2"), "how-to-rust_2");
        assert_eq!(encode("c++"), "c%2B%2B");
        assert_eq!(encode("a b/é"), "a%20b%2F%C3%A9");
    }

    #[test]
    fn run_id_is_base36_and_usernames_fit_the_rules() {
        assert_eq!(run_id(0), "0");
        assert_eq!(run_id(35), "z");
        assert_eq!(run_id(36), "10");
        let id = run_id(1_800_000_000);
        let username = format!("b{id}{}", u64::MAX);
        assert!(username.len() <= 40, "{username}");
        assert!(username.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn minted_tokens_carry_the_user_id() {
        let m = Minter::new("secret");
        let token = m.token(42);
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.set_required_spec_claims(&["exp", "sub"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(b"secret"),
            &v,
        )
        .unwrap();
        assert_eq!(data.claims["sub"], "42");
    }

    fn world() -> World {
        let mut w = World::new("abc".into());
        w.slugs = vec!["first".into(), "second".into()];
        w.tags = vec!["c++".into()];
        w.authors = vec!["dev000001".into()];
        w.readers = vec![auth_header("r")];
        w.writers = vec![auth_header("w")];
        w.features = Features {
            dashboard: true,
            search: false,
            learning: true,
        };
        w.finish()
    }

    #[test]
    fn slug_skew_zero_draws_every_article_alike() {
        let skewed = world();
        let (first, second) = (
            skewed.slug_zipf.probability(0),
            skewed.slug_zipf.probability(1),
        );
        assert!((first - 2.0 / 3.0).abs() < 1e-9 && (second - 1.0 / 3.0).abs() < 1e-9);
        let uniform = world().with_slug_skew(0.0);
        assert_eq!(
            (
                uniform.slug_zipf.probability(0),
                uniform.slug_zipf.probability(1)
            ),
            (0.5, 0.5)
        );
    }

    #[test]
    fn requests_have_the_right_shape() {
        let w = world();
        let mut vu = Vu {
            rng: rand::SeedableRng::seed_from_u64(1),
            unfavorite: None,
        };
        let r = w.request(ArticlesByTag, &mut vu);
        assert!(r
            .path
            .starts_with("/api/articles?tag=c%2B%2B&limit=20&offset="));
        let r = w.request(Register, &mut vu);
        let body: Value = serde_json::from_slice(r.body.as_ref().unwrap()).unwrap();
        assert_eq!(body["user"]["username"], "babc0");
        assert_eq!(body["user"]["email"], "babc0@bench.example.com");
        // A favorite is undone by the same user's next request, even in `mixed`.
        let add = w.request(Favorite, &mut vu);
        assert_eq!(add.method, Method::POST);
        let undo = w.request(Mixed, &mut vu);
        assert_eq!(undo.method, Method::DELETE);
        assert_eq!(undo.path, add.path);
        assert_eq!(undo.auth, Some(auth_header("w")));
        // Search is missing on this server: skipped, and never drawn by `mixed`.
        assert!(w.unavailable(Search).is_some());
        assert!(w.unavailable(DashboardCold).is_some());
        for _ in 0..500 {
            let r = w.request(Mixed, &mut vu);
            assert!(!r.path.starts_with("/api/search"), "{}", r.path);
        }
    }
}
