//! The RealWorld demo author `techhub demo` creates: `johndoe`, three published articles with
//! tags and Markdown bodies, comments on them by the demo accounts, and `ada` following him.
//! RealWorld front ends and their test suites expect such an author on a demo backend.
//!
//! Everything goes through the API itself, as a client would do it: the command builds the
//! router in-process ([`techhub_api::router`], over the stores of the configuration) and sends
//! it real HTTP requests (register, log in, publish, comment, follow) without a socket. So the
//! writes carry their events like any other: registration's outbox event, each new post's
//! event (read from the posts' change stream), each comment's event in the comment. No server
//! needs to run meanwhile: the events wait in the stores, and the server's relays deliver them
//! when it starts (the outbox relay from the outbox; the new posts' relay resumes its change
//! stream, or reads the posts created since its last delivery). The search index is
//! in-memory here and thrown away: every server's own index follows the posts' `changedAt`
//! from its checkpoint, so it finds the new articles by itself at its next scan, whether it
//! was running during the command or starts after it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};
use techhub_api::{AppState, Stores};
use techhub_core::Config;
use techhub_search::SearchIndex;
use tower::ServiceExt;

/// The demo author's username; the email is `johndoe@example.com`.
pub const DEMO_AUTHOR: &str = "johndoe";
/// The demo author's password.
pub const DEMO_AUTHOR_PASSWORD: &str = "johndoe-demo-password";

/// One of the demo author's articles, and the comments the demo accounts leave on it
/// (commenter, comment).
pub struct DemoArticle {
    pub title: &'static str,
    pub description: &'static str,
    pub body: &'static str,
    pub tags: &'static [&'static str],
    pub difficulty: &'static str,
    pub comments: &'static [(&'static str, &'static str)],
}

/// The demo author's articles, oldest first.
pub const DEMO_ARTICLES: &[DemoArticle] = &[
    DemoArticle {
        title: "Ownership in Rust, explained with a library card",
        description: "Moves, borrows and lifetimes without the jargon",
        body: r#"Rust's ownership rules sound strict until you notice you already follow them at the library.

## One owner at a time

A book is on exactly one card. Hand it to a friend and it is *theirs* now: you cannot read it any more. That is a **move**:

```rust
let book = String::from("The Rust Programming Language");
let friend = book; // moved
// println!("{book}"); // error: borrow of moved value
```

## Borrowing

- Many people may *read* it at once: `&book`.
- One person at a time may *annotate* it: `&mut book`, and nobody reads meanwhile.

## Lifetimes

A loan ends before the book goes back. The compiler checks the dates for you, so a reference never outlives what it points to.

Next time the borrow checker complains, ask: *who holds the card?*
"#,
        tags: &["beginners", "rust"],
        difficulty: "beginner",
        comments: &[
            (
                "ada",
                "The library card finally made `&mut` click for me. Thank you!",
            ),
            (
                "grace",
                "Nice one. A follow-up on `Rc` and shared cards would be great.",
            ),
        ],
    },
    DemoArticle {
        title: "One store per job: polyglot persistence in practice",
        description: "MySQL, PostgreSQL, MongoDB and Redis, each for what it does best",
        body: r#"TechHub keeps each kind of data in the database made for it.

| data | store | why |
|---|---|---|
| accounts, payments | MySQL | transactions, uniqueness |
| learning analytics | PostgreSQL | JSONB, window functions |
| posts, profiles | MongoDB | flexible documents |
| cache, rate limits | Redis | speed, TTLs |

## Keeping them consistent

Never write two stores and hope. Write the fact **and its event** together:

1. the MySQL change and an `outbox` row commit in one transaction;
2. a relay delivers the event at least once to every consumer;
3. each consumer records the event id with its effect, so a replay changes nothing.

> If a store is down, the event waits. Nothing is lost; it is only late.
"#,
        tags: &["architecture", "databases"],
        difficulty: "intermediate",
        comments: &[
            (
                "linus",
                "The outbox table is the part people skip, and then wonder where their events went.",
            ),
            ("ada", "How do you reconcile the stores after an outage?"),
        ],
    },
    DemoArticle {
        title: "A RealWorld backend with axum in an afternoon",
        description: "Routes, extractors and errors for the Conduit API",
        body: r#"The [RealWorld](https://github.com/gothinkster/realworld) spec describes a Medium clone's API. Here is the skeleton of one in axum.

## One router per resource

```rust
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/articles", get(list_articles).post(create_article))
        .route("/api/articles/{slug}", get(get_article))
}
```

## Errors as the spec wants them

Every error body is `{"errors": {"field": ["message"]}}`. Make that one type implementing `IntoResponse`, and map a unique-constraint violation to **409** in one place.

## Checklist

- `Authorization: Token <jwt>`, not `Bearer`
- tags sorted, slugs unique
- `422` names the field and why
"#,
        tags: &["axum", "realworld", "rust"],
        difficulty: "intermediate",
        comments: &[
            (
                "grace",
                "Bookmarked. The checklist at the end saved me an hour.",
            ),
            ("linus", "`Token` instead of `Bearer` gets everyone once."),
        ],
    },
];

/// Who follows the demo author.
pub const DEMO_FOLLOWER: &str = "ada";

/// Creates the demo author with their articles, comments and follower, unless the author
/// exists already (then nothing is written), and says what it did in `out`. The demo
/// accounts must exist (they comment and follow); they sign in with `demo_password`.
pub async fn create_author(
    config: &Config,
    stores: &Stores,
    demo_password: &str,
    out: &mut String,
) -> anyhow::Result<()> {
    // A throw-away index: see the module documentation.
    let search = Arc::new(SearchIndex::in_memory(&[])?);
    let api = Api(techhub_api::router(AppState::new(
        stores.clone(),
        config.clone(),
        search,
    )));
    let email = format!("{DEMO_AUTHOR}@example.com");
    let user = json!({ "user": { "username": DEMO_AUTHOR, "email": email, "password": DEMO_AUTHOR_PASSWORD } });
    let (status, body) = api.send(Method::POST, "/api/users", None, user).await?;
    let token = match status {
        StatusCode::CREATED => token_of(&body)?,
        StatusCode::CONFLICT => {
            writeln!(out, "{DEMO_AUTHOR} already exists")?;
            return Ok(());
        }
        _ => anyhow::bail!("registering {DEMO_AUTHOR}: {status} {body}"),
    };
    writeln!(
        out,
        "{DEMO_AUTHOR} created: {email} / {DEMO_AUTHOR_PASSWORD} (free plan; the RealWorld demo author)"
    )?;
    fill(&api, &token, demo_password, out).await.with_context(|| {
        format!(
            "{DEMO_AUTHOR} is registered, but his demo content is incomplete (later runs leave him as he is)"
        )
    })
}

/// Publishes the demo author's articles (`token` is his), with their comments, and makes
/// [`DEMO_FOLLOWER`] follow him.
async fn fill(api: &Api, token: &str, demo_password: &str, out: &mut String) -> anyhow::Result<()> {
    let mut readers = Readers::new(api, demo_password);
    for article in DEMO_ARTICLES {
        let new = json!({ "article": {
            "title": article.title, "description": article.description, "body": article.body,
            "tagList": article.tags, "difficulty": article.difficulty,
        } });
        let (status, body) = api
            .send(Method::POST, "/api/articles", Some(token), new)
            .await?;
        anyhow::ensure!(
            status == StatusCode::CREATED,
            "publishing {:?}: {status} {body}",
            article.title
        );
        let slug = body["article"]["slug"]
            .as_str()
            .context("a created article has a slug")?
            .to_string();
        let mut commenters = Vec::new();
        for (who, comment) in article.comments {
            let Some(reader) = readers.token(who, out).await? else {
                continue;
            };
            let path = format!("/api/articles/{slug}/comments");
            let comment = json!({ "comment": { "body": comment } });
            let (status, body) = api
                .send(Method::POST, &path, Some(reader.as_str()), comment)
                .await?;
            anyhow::ensure!(
                status == StatusCode::OK,
                "{who} commenting on {slug}: {status} {body}"
            );
            commenters.push(*who);
        }
        writeln!(
            out,
            "{DEMO_AUTHOR} published {slug} (tags {}; comments by {})",
            article.tags.join(", "),
            if commenters.is_empty() {
                "nobody".to_string()
            } else {
                commenters.join(", ")
            }
        )?;
    }

    if let Some(follower) = readers.token(DEMO_FOLLOWER, out).await? {
        let path = format!("/api/profiles/{DEMO_AUTHOR}/follow");
        let (status, body) = api
            .send(Method::POST, &path, Some(follower.as_str()), Value::Null)
            .await?;
        anyhow::ensure!(
            status == StatusCode::OK,
            "{DEMO_FOLLOWER} following {DEMO_AUTHOR}: {status} {body}"
        );
        writeln!(out, "{DEMO_FOLLOWER:<6} follows {DEMO_AUTHOR}")?;
    }
    Ok(())
}

/// The API's router, called without a socket.
struct Api(axum::Router);

impl Api {
    /// Sends `method path` with `body` (none when `Null`) and `token`, as a client on this
    /// machine would; returns the status and the JSON body (`Null` when there is none).
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            // The client address the rate limits count, as for a request from this machine.
            .extension(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 0))));
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Token {token}"));
        }
        let request = if body.is_null() {
            request.body(Body::empty())?
        } else {
            request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(&body)?))?
        };
        let response = self.0.clone().oneshot(request).await?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, json))
    }
}

/// The token in a `{"user": {"token": …}}` answer.
fn token_of(body: &Value) -> anyhow::Result<String> {
    body["user"]["token"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("no token in {body}"))
}

/// The demo accounts' tokens, each signed in once (by email and password, like a client).
struct Readers<'a> {
    api: &'a Api,
    password: &'a str,
    /// A token per username; `None` for one who could not sign in.
    tokens: HashMap<&'static str, Option<String>>,
}

impl<'a> Readers<'a> {
    fn new(api: &'a Api, password: &'a str) -> Self {
        Readers {
            api,
            password,
            tokens: HashMap::new(),
        }
    }

    /// `username`'s token, or `None` (said once in `out`) when the demo password no longer
    /// signs them in: someone changed it, and their part of the demo is left out.
    async fn token(
        &mut self,
        username: &'static str,
        out: &mut String,
    ) -> anyhow::Result<Option<String>> {
        if let Some(token) = self.tokens.get(username) {
            return Ok(token.clone());
        }
        let login = json!({ "user": { "email": format!("{username}@example.com"), "password": self.password } });
        let (status, body) = self
            .api
            .send(Method::POST, "/api/users/login", None, login)
            .await?;
        let token = match status {
            StatusCode::OK => Some(token_of(&body)?),
            StatusCode::UNAUTHORIZED => {
                writeln!(
                    out,
                    "{username:<6} cannot sign in with the demo password any more: left out of {DEMO_AUTHOR}'s demo"
                )?;
                None
            }
            _ => anyhow::bail!("signing in as {username}: {status} {body}"),
        };
        self.tokens.insert(username, token.clone());
        Ok(token)
    }
}
