//! End-to-end tests of discovery and the load generator against a small in-process RealWorld
//! mock: a few articles and tags, five seeded users, logins that hand out tokens, and none of
//! TechHub's own endpoints (so those scenarios must be skipped).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::client::Api;
use crate::discovery::{discover, SetupOptions};
use crate::load::{self, Model, Plan, Target};
use crate::scenarios::{Scenario, ScenarioLoad};

#[derive(Default)]
struct Counts {
    logins: AtomicU64,
    feed_ok: AtomicU64,
    /// When set, `/api/user` and `/api/dashboard` accept tokens signed with it.
    secret: Option<String>,
    /// User ids seen by `/api/dashboard`, in order.
    dashboard_users: std::sync::Mutex<Vec<u64>>,
}

/// The user id in a valid token, checked like TechHub does (HS256, `sub` and `exp` required).
fn user_of(counts: &Counts, headers: &HeaderMap) -> Option<u64> {
    let secret = counts.secret.as_ref()?;
    let token = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Token ")?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_required_spec_claims(&["exp", "sub"]);
    let key = jsonwebtoken::DecodingKey::from_secret(secret.as_bytes());
    let data = jsonwebtoken::decode::<Value>(token, &key, &v).ok()?;
    data.claims["sub"].as_str()?.parse().ok()
}

async fn current_user(State(counts): State<Arc<Counts>>, headers: HeaderMap) -> StatusCode {
    match user_of(&counts, &headers) {
        Some(_) => StatusCode::OK,
        None => StatusCode::UNAUTHORIZED,
    }
}

async fn dashboard(
    State(counts): State<Arc<Counts>>,
    headers: HeaderMap,
) -> Result<([(&'static str, &'static str); 1], Json<Value>), StatusCode> {
    let id = user_of(&counts, &headers).ok_or(StatusCode::UNAUTHORIZED)?;
    counts.dashboard_users.lock().unwrap().push(id);
    Ok(([("x-cache", "miss")], Json(json!({"dashboard": {}}))))
}

fn article(slug: &str, author: &str) -> Value {
    json!({"slug": slug, "title": slug, "author": {"username": author}})
}

async fn articles(Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    let offset: u64 = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let list = match (q.get("tag").map(String::as_str), offset) {
        (Some("go"), _) => vec![article("go-only", "dev000004")],
        (Some(_), _) => vec![article("newest", "dev000001")],
        (None, 0) => vec![
            article("newest", "dev000001"),
            article("middle", "dev000002"),
            article("oldest", "dev000001"),
        ],
        (None, _) => vec![],
    };
    let count = list.len();
    Json(json!({"articles": list, "articlesCount": count}))
}

async fn one_article(Path(slug): Path<String>) -> Result<Json<Value>, StatusCode> {
    ["newest", "middle", "oldest", "go-only"]
        .contains(&slug.as_str())
        .then(|| Json(json!({"article": article(&slug, "dev000001")})))
        .ok_or(StatusCode::NOT_FOUND)
}

async fn profile(Path(name): Path<String>) -> StatusCode {
    let seeded = name
        .strip_prefix("dev")
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| (1..=5).contains(&n));
    if seeded {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn login(State(counts): State<Arc<Counts>>, Json(body): Json<Value>) -> Json<Value> {
    counts.logins.fetch_add(1, Ordering::Relaxed);
    let email = body["user"]["email"].as_str().unwrap_or("").to_string();
    let user = email.split('@').next().unwrap_or("").to_string();
    Json(json!({"user": {"email": email, "token": format!("tok-{user}")}}))
}

async fn feed(State(counts): State<Arc<Counts>>, headers: HeaderMap) -> StatusCode {
    let ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Token tok-dev"));
    if ok {
        counts.feed_ok.fetch_add(1, Ordering::Relaxed);
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    }
}

async fn mock(secret: Option<String>) -> (String, Arc<Counts>) {
    let counts = Arc::new(Counts {
        secret,
        ..Counts::default()
    });
    let mut app = Router::new()
        .route(
            "/api/tags",
            get(|| async { Json(json!({"tags": ["rust", "go"]})) }),
        )
        .route("/api/articles", get(articles))
        .route("/api/articles/feed", get(feed))
        .route("/api/articles/{slug}", get(one_article))
        .route("/api/profiles/{name}", get(profile))
        .route("/api/users/login", post(login))
        .route("/api/user", get(current_user));
    if counts.secret.is_some() {
        app = app.route("/api/dashboard", get(dashboard));
    }
    let app = app.with_state(counts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_and_both_models_against_a_realworld_mock() {
    let (base, counts) = mock(None).await;
    let api = Api::new(&base);
    let selected = [
        Scenario::ArticleBySlug,
        Scenario::ArticlesByTag,
        Scenario::Feed,
        Scenario::Profile,
        Scenario::Search,
        Scenario::DashboardCold,
        Scenario::LearningSession,
        Scenario::Login,
        Scenario::Mixed,
    ];
    let opts = SetupOptions {
        tokens: 3,
        seeded_users: None,
        mint: true,
        unix_secs: 1_700_000_000,
        lists: true,
    };
    let world = discover(&api, &selected, &opts, "t1".into()).await.unwrap();

    assert_eq!(world.tags, ["rust", "go"]);
    assert_eq!(world.slugs, ["newest", "middle", "oldest", "go-only"]);
    assert_eq!(world.authors, ["dev000001", "dev000002", "dev000004"]);
    // Five seeded users found by probing; the mock refuses minted tokens, so three logins.
    assert_eq!(world.logins.len(), 5);
    assert_eq!(world.readers.len(), 3);
    assert_eq!(counts.logins.load(Ordering::Relaxed), 3);
    for s in [
        Scenario::ArticleBySlug,
        Scenario::Feed,
        Scenario::Login,
        Scenario::Mixed,
    ] {
        assert_eq!(world.unavailable(s), None, "{}", s.name());
    }
    for s in [
        Scenario::Search,
        Scenario::DashboardCold,
        Scenario::LearningSession,
    ] {
        assert!(world.unavailable(s).is_some(), "{}", s.name());
    }

    let world = Arc::new(world);
    let target = Target::parse(&base).await.unwrap();
    let plan = |model| Plan {
        name: "test".into(),
        connections: 4,
        warmup: Duration::from_millis(100),
        duration: Duration::from_millis(500),
        model,
        seed: 1,
    };

    let slugs: Arc<dyn load::Workload> = Arc::new(ScenarioLoad {
        scenario: Scenario::ArticleBySlug,
        world: world.clone(),
    });
    let closed = load::run(&target, slugs.clone(), &plan(Model::Closed))
        .await
        .unwrap();
    assert!(closed.requests > 50, "{closed:?}");
    assert_eq!(closed.errors, 0, "{:?}", closed.statuses);
    assert_eq!(closed.hist.len(), closed.requests);

    let open = load::run(&target, slugs, &plan(Model::Open { rate: 400.0 }))
        .await
        .unwrap();
    // 400 req/s for 0.5 s: 200 slots, all served, none missed.
    assert_eq!(open.requests, 200, "{open:?}");
    assert_eq!((open.errors, open.missed), (0, 0));

    let feed: Arc<dyn load::Workload> = Arc::new(ScenarioLoad {
        scenario: Scenario::Feed,
        world: world.clone(),
    });
    let authed = load::run(&target, feed, &plan(Model::Closed))
        .await
        .unwrap();
    assert_eq!(authed.errors, 0, "{:?}", authed.statuses);
    assert!(counts.feed_ok.load(Ordering::Relaxed) >= authed.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minted_tokens_give_every_cold_dashboard_request_a_new_user() {
    use secrecy::ExposeSecret;
    let config = techhub_core::Config::from_env().unwrap();
    let (base, counts) = mock(Some(config.jwt_secret.expose_secret().to_string())).await;
    let api = Api::new(&base);
    let opts = SetupOptions {
        tokens: 8,
        seeded_users: Some(100_000),
        mint: true,
        unix_secs: 1_700_000_000,
        lists: true,
    };
    let selected = [Scenario::DashboardCached, Scenario::DashboardCold];
    let world = discover(&api, &selected, &opts, "t2".into()).await.unwrap();
    // Minted, not logged in; writes spread over many users.
    assert_eq!(counts.logins.load(Ordering::Relaxed), 0);
    assert_eq!(world.readers.len(), 8);
    assert_eq!(world.writers.len(), 2_000);
    assert_eq!(world.unavailable(Scenario::DashboardCold), None);
    let cold = world.cold.as_ref().unwrap();
    assert_eq!(cold.count(), 100_000 - 8);

    let world = Arc::new(world);
    let target = Target::parse(&base).await.unwrap();
    let plan = Plan {
        name: "cold".into(),
        connections: 4,
        warmup: Duration::ZERO,
        duration: Duration::from_millis(400),
        model: Model::Closed,
        seed: 2,
    };
    counts.dashboard_users.lock().unwrap().clear();
    let workload: Arc<dyn load::Workload> = Arc::new(ScenarioLoad {
        scenario: Scenario::DashboardCold,
        world: world.clone(),
    });
    let m = load::run(&target, workload, &plan).await.unwrap();
    assert_eq!(m.errors, 0, "{:?}", m.statuses);
    assert_eq!(m.cache_misses, m.requests);
    let seen = counts.dashboard_users.lock().unwrap().clone();
    let distinct: std::collections::BTreeSet<_> = seen.iter().collect();
    assert!(seen.len() as u64 >= m.requests);
    assert_eq!(distinct.len(), seen.len(), "a cold user was used twice");
    assert!(seen.iter().all(|id| (9..=100_000).contains(id)));
    assert!(!world.cold.as_ref().unwrap().wrapped());
}
