//! `techhub-bench populate`: a community written through any RealWorld API (users, articles,
//! favorites, comments, follows), so TechHub and another RealWorld server can be measured over
//! the same data set made the same way. What it writes is drawn from `--rng-seed` before the
//! first request, so two servers populated with the same options get the same community.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use hyper::header::HeaderValue;
use hyper::Method;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::client::Api;
use crate::tokens::auth_header;

/// Options of `techhub-bench populate`.
#[derive(Args, Clone, Debug)]
pub struct PopulateArgs {
    /// Server to populate.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub base_url: String,
    /// Users registered (each costs the server a password hash).
    #[arg(long, default_value_t = 200)]
    pub users: usize,
    /// Articles written, by users drawn at random.
    #[arg(long, default_value_t = 3000)]
    pub articles: usize,
    /// Favorite clicks (a user and an article drawn at random; repeats change nothing).
    #[arg(long, default_value_t = 5100)]
    pub favorites: usize,
    /// Comments, each by a random user on a random article.
    #[arg(long, default_value_t = 5100)]
    pub comments: usize,
    /// Follows between two distinct random users (repeats change nothing).
    #[arg(long, default_value_t = 5100)]
    pub follows: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Seed of what is written.
    #[arg(long, default_value_t = 7)]
    pub rng_seed: u64,
    /// Prefix of usernames, emails and titles (change it to populate one server twice).
    #[arg(long, default_value = "pop")]
    pub prefix: String,
}

/// The tags articles draw two of.
const TAGS: [&str; 10] = [
    "rust", "go", "web", "db", "async", "perf", "test", "ops", "ml", "security",
];

/// Password of every populated user.
pub const PASSWORD: &str = "populated-password-1";

/// What a populated community holds, as the server answered.
#[derive(Debug, PartialEq, Eq)]
pub struct Populated {
    pub users: usize,
    pub articles: usize,
    pub favorites: usize,
    pub comments: usize,
    pub follows: usize,
}

/// A request of a later phase: who sends it (an index into the users) and on what.
struct Draw {
    user: usize,
    target: usize,
}

/// Writes the community and prints a line per phase.
pub async fn populate(args: &PopulateArgs) -> Result<Populated> {
    if args.users < 2 || args.articles == 0 {
        bail!("populate needs at least 2 users and 1 article");
    }
    let api = Api::new(&args.base_url);
    let mut rng = SmallRng::seed_from_u64(args.rng_seed);
    let authors: Vec<usize> = (0..args.articles)
        .map(|_| rng.random_range(0..args.users))
        .collect();
    let tags: Vec<[&str; 2]> = (0..args.articles)
        .map(|_| {
            let first = rng.random_range(0..TAGS.len());
            let second = (first + rng.random_range(1..TAGS.len())) % TAGS.len();
            [TAGS[first], TAGS[second]]
        })
        .collect();
    let mut draws = |n: usize, targets: usize| -> Vec<Draw> {
        (0..n)
            .map(|_| Draw {
                user: rng.random_range(0..args.users),
                target: rng.random_range(0..targets),
            })
            .collect()
    };
    let favorites = draws(args.favorites, args.articles);
    let comments = draws(args.comments, args.articles);
    let follows: Vec<Draw> = draws(args.follows, args.users)
        .into_iter()
        .filter(|d| d.user != d.target)
        .collect();

    let started = Instant::now();
    let users: Vec<(HeaderValue, String)> = phase(args, "users", 0..args.users, |i| {
        let api = &api;
        let name = format!("{}user{i}", args.prefix);
        async move {
            let body = json!({"user": {
                "username": name,
                "email": format!("{name}@populate.example.com"),
                "password": PASSWORD,
            }});
            let user = post(api, "/api/users", Some(&body), None, "user").await?;
            let token = user["token"]
                .as_str()
                .context("registration without a token")?;
            Ok((auth_header(token), name))
        }
    })
    .await?;

    let body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(20);
    let slugs: Vec<String> = phase(args, "articles", 0..args.articles, |i| {
        let (api, users, body, authors) = (&api, &users, &body, &authors);
        let article = json!({"article": {
            "title": format!("{} article {i}", args.prefix),
            "description": "written by techhub-bench populate",
            "body": body,
            "tagList": tags[i],
        }});
        async move {
            let auth = &users[authors[i]].0;
            let a = post(api, "/api/articles", Some(&article), Some(auth), "article").await?;
            Ok(a["slug"]
                .as_str()
                .context("article without a slug")?
                .to_string())
        }
    })
    .await?;

    let clicked = phase(args, "favorites", favorites.iter(), |d| {
        let (api, users, slugs) = (&api, &users, &slugs);
        async move {
            let path = format!("/api/articles/{}/favorite", slugs[d.target]);
            post(api, &path, None, Some(&users[d.user].0), "article").await
        }
    })
    .await?;

    let commented = phase(args, "comments", comments.iter().enumerate(), |(i, d)| {
        let (api, users, slugs) = (&api, &users, &slugs);
        let comment =
            json!({"comment": {"body": format!("comment {i} from techhub-bench populate")}});
        async move {
            let path = format!("/api/articles/{}/comments", slugs[d.target]);
            post(
                api,
                &path,
                Some(&comment),
                Some(&users[d.user].0),
                "comment",
            )
            .await
        }
    })
    .await?;

    let followed = phase(args, "follows", follows.iter(), |d| {
        let (api, users) = (&api, &users);
        async move {
            let path = format!("/api/profiles/{}/follow", users[d.target].1);
            post(api, &path, None, Some(&users[d.user].0), "profile").await
        }
    })
    .await?;

    eprintln!(
        "[populate] done in {:.1} s: {} users, {} articles, {} favorite clicks, {} comments, {} follows",
        started.elapsed().as_secs_f64(),
        users.len(),
        slugs.len(),
        clicked.len(),
        commented.len(),
        followed.len()
    );
    Ok(Populated {
        users: users.len(),
        articles: slugs.len(),
        favorites: clicked.len(),
        comments: commented.len(),
        follows: followed.len(),
    })
}

/// Runs `make` over `items`, `--concurrency` at a time, keeping their order; prints progress
/// every tenth and stops at the first failure.
async fn phase<I, T, F, Fut>(args: &PopulateArgs, name: &str, items: I, make: F) -> Result<Vec<T>>
where
    I: IntoIterator,
    I::IntoIter: ExactSizeIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let items = items.into_iter();
    let total = items.len();
    let started = Instant::now();
    let step = (total / 10).max(1);
    let mut done = 0usize;
    let results = futures::stream::iter(items.map(make))
        .buffered(args.concurrency.max(1))
        .inspect_ok(|_| {
            done += 1;
            if done.is_multiple_of(step) || done == total {
                eprintln!(
                    "[populate] {name}: {done}/{total} after {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
        })
        .try_collect()
        .await
        .with_context(|| format!("populating {name}"))?;
    Ok(results)
}

/// Sends one `POST` (every write of a community is one) and returns the object under `key`
/// in its answer; any status but 2xx is an error that names the request and what the server
/// said.
async fn post(
    api: &Api,
    path: &str,
    body: Option<&Value>,
    auth: Option<&HeaderValue>,
    key: &str,
) -> Result<Value> {
    let answer = api.call(Method::POST, path, body, auth).await?;
    if !answer.status.is_success() {
        bail!(
            "POST {path} answered {}: {}",
            answer.status,
            answer.snippet()
        );
    }
    let mut json = answer.json();
    match json.get_mut(key) {
        Some(v) => Ok(v.take()),
        None => bail!("POST {path}: no {key:?} in {}", answer.snippet()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::{Arc, Mutex};

    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use axum::{Json, Router};
    use serde_json::{json, Value};

    use super::*;

    /// What the mock was sent, checked as a RealWorld server would: tokens it issued, articles
    /// it holds, users it knows.
    #[derive(Default)]
    struct Written {
        users: BTreeMap<String, String>,
        /// Slug to (title, author).
        articles: BTreeMap<String, (String, String)>,
        favorites: usize,
        comments: usize,
        follows: BTreeSet<(String, String)>,
        /// Refuse the article with this title.
        refuse: Option<String>,
    }

    type Shared = Arc<Mutex<Written>>;

    fn user_of(w: &Written, headers: &HeaderMap) -> Result<String, StatusCode> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Token "))
            .ok_or(StatusCode::UNAUTHORIZED)?;
        w.users
            .iter()
            .find(|(_, t)| t.as_str() == token)
            .map(|(name, _)| name.clone())
            .ok_or(StatusCode::UNAUTHORIZED)
    }

    async fn register(State(s): State<Shared>, Json(b): Json<Value>) -> Json<Value> {
        let name = b["user"]["username"].as_str().unwrap().to_string();
        let token = format!("t-{name}");
        s.lock().unwrap().users.insert(name.clone(), token.clone());
        Json(json!({"user": {"username": name, "token": token}}))
    }

    async fn article(
        State(s): State<Shared>,
        headers: HeaderMap,
        Json(b): Json<Value>,
    ) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
        let mut w = s.lock().unwrap();
        let author = user_of(&w, &headers).map_err(|c| (c, Json(json!({}))))?;
        let title = b["article"]["title"].as_str().unwrap().to_string();
        if w.refuse.as_deref() == Some(title.as_str()) {
            let errors = json!({"errors": {"title": ["is refused"]}});
            return Err((StatusCode::UNPROCESSABLE_ENTITY, Json(errors)));
        }
        let slug = title.replace(' ', "-");
        w.articles.insert(slug.clone(), (title, author));
        Ok(Json(json!({"article": {"slug": slug}})))
    }

    async fn favorite(
        State(s): State<Shared>,
        headers: HeaderMap,
        Path(slug): Path<String>,
    ) -> Result<Json<Value>, StatusCode> {
        let mut w = s.lock().unwrap();
        user_of(&w, &headers)?;
        w.articles.get(&slug).ok_or(StatusCode::NOT_FOUND)?;
        w.favorites += 1;
        Ok(Json(json!({"article": {"slug": slug}})))
    }

    async fn comment(
        State(s): State<Shared>,
        headers: HeaderMap,
        Path(slug): Path<String>,
    ) -> Result<Json<Value>, StatusCode> {
        let mut w = s.lock().unwrap();
        user_of(&w, &headers)?;
        w.articles.get(&slug).ok_or(StatusCode::NOT_FOUND)?;
        w.comments += 1;
        Ok(Json(json!({"comment": {"id": w.comments}})))
    }

    async fn follow(
        State(s): State<Shared>,
        headers: HeaderMap,
        Path(name): Path<String>,
    ) -> Result<Json<Value>, StatusCode> {
        let mut w = s.lock().unwrap();
        let follower = user_of(&w, &headers)?;
        if !w.users.contains_key(&name) || name == follower {
            return Err(StatusCode::NOT_FOUND);
        }
        w.follows.insert((follower, name.clone()));
        Ok(Json(json!({"profile": {"username": name}})))
    }

    async fn mock(refuse: Option<&str>) -> (String, Shared) {
        let shared = Shared::default();
        shared.lock().unwrap().refuse = refuse.map(str::to_string);
        let app = Router::new()
            .route("/api/users", post(register))
            .route("/api/articles", post(article))
            .route("/api/articles/{slug}/favorite", post(favorite))
            .route("/api/articles/{slug}/comments", post(comment))
            .route("/api/profiles/{name}/follow", post(follow))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (base, shared)
    }

    fn args(base: &str, seed: u64) -> PopulateArgs {
        PopulateArgs {
            base_url: base.to_string(),
            users: 6,
            articles: 30,
            favorites: 40,
            comments: 25,
            follows: 20,
            concurrency: 4,
            rng_seed: seed,
            prefix: "p".into(),
        }
    }

    /// Title to author, as the mock holds them.
    fn authorship(shared: &Shared) -> BTreeMap<String, String> {
        let w = shared.lock().unwrap();
        w.articles
            .values()
            .map(|(t, a)| (t.clone(), a.clone()))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_the_community_it_reports_and_the_same_one_for_the_same_seed() {
        let (base, shared) = mock(None).await;
        let populated = populate(&args(&base, 7)).await.unwrap();
        {
            let w = shared.lock().unwrap();
            assert_eq!(populated.users, 6);
            assert_eq!(w.users.len(), 6);
            assert_eq!(populated.articles, 30);
            assert_eq!(w.articles.len(), 30);
            // Every favorite and comment named an article the server had, with a token it
            // issued (the mock refuses anything else, which would fail populate).
            assert_eq!((populated.favorites, w.favorites), (40, 40));
            assert_eq!((populated.comments, w.comments), (25, 25));
            // Self-follows are never sent; the rest arrive (repeats count once on the server).
            assert!(populated.follows <= 20 && populated.follows > 10);
            assert!(w.follows.len() <= populated.follows && !w.follows.is_empty());
            // Articles are spread over several authors, not all by one.
            let authors: BTreeSet<&String> = w.articles.values().map(|(_, a)| a).collect();
            assert!(authors.len() >= 3, "authors: {authors:?}");
        }

        let (again, shared_again) = mock(None).await;
        populate(&args(&again, 7)).await.unwrap();
        assert_eq!(authorship(&shared), authorship(&shared_again));

        let (other, shared_other) = mock(None).await;
        populate(&args(&other, 8)).await.unwrap();
        assert_ne!(authorship(&shared), authorship(&shared_other));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_write_stops_it_with_what_the_server_said() {
        let (base, shared) = mock(Some("p article 5")).await;
        let e = populate(&args(&base, 7)).await.unwrap_err();
        let message = format!("{e:#}");
        assert!(message.contains("populating articles"), "{message}");
        assert!(message.contains("422"), "{message}");
        assert!(message.contains("is refused"), "{message}");
        // Nothing after the articles was sent.
        assert_eq!(shared.lock().unwrap().favorites, 0);
    }
}
