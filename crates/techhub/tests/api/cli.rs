//! The `techhub` binary's commands, run as a user would run them.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::Connection;

use crate::helpers::{eventually, TestApp, TestDatabases};
use crate::routes::expect_json;

fn techhub(dbs: &TestDatabases, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_techhub"));
    cmd.args(args).envs(dbs.env()).env("RUST_LOG", "warn");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().expect("techhub runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn techhub_migrate_applies_everything_once_then_reports_up_to_date() {
    let dbs = TestDatabases::create().await;

    let first = techhub(&dbs, &["migrate"], &[]);
    assert!(first.status.success(), "first run: {}", stderr(&first));
    let out = stdout(&first);
    for store in ["mysql", "postgres", "mongodb"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(store))
            .unwrap_or_else(|| panic!("{store}: {out}"));
        assert!(line.contains("applied"), "{line}");
    }

    let second = techhub(&dbs, &["migrate"], &[]);
    assert!(second.status.success(), "second run: {}", stderr(&second));
    let out = stdout(&second);
    assert_eq!(
        out.lines().filter(|l| l.contains("up to date")).count(),
        3,
        "{out}"
    );
    assert!(!out.contains("applied"), "{out}");
}

#[tokio::test]
async fn techhub_doctor_prints_every_store_with_version_and_latency() {
    let dbs = TestDatabases::create().await;
    assert!(techhub(&dbs, &["migrate"], &[]).status.success());
    let out = techhub(&dbs, &["doctor"], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    for store in ["mysql", "postgres", "mongodb", "redis"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(store))
            .unwrap_or_else(|| panic!("{store}: {text}"));
        let cells: Vec<&str> = line
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(
            cells.len(),
            5,
            "store, address, version, status, latency: {line}"
        );
        assert!(
            cells[2].chars().next().is_some_and(|c| c.is_ascii_digit()),
            "version: {line}"
        );
        assert_eq!(cells[3], "up", "{line}");
        assert!(cells[4].ends_with(" ms"), "{line}");
    }
    assert!(
        !text.contains(":techhub@"),
        "passwords are redacted: {text}"
    );
    assert!(text.contains("outbox: 0 pending, 0 dead"), "{text}");
    assert!(
        text.contains("new posts' stream: last delivery")
            && text.contains("0 posts older than 60 s not delivered"),
        "{text}"
    );
}

#[tokio::test]
async fn techhub_doctor_says_when_the_schema_is_missing() {
    let dbs = TestDatabases::create().await;
    let out = techhub(&dbs, &["doctor"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("has `techhub migrate` run?"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test]
async fn techhub_doctor_exits_nonzero_naming_the_store_that_is_down() {
    let dbs = TestDatabases::create().await;
    assert!(techhub(&dbs, &["migrate"], &[]).status.success());
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("redis://127.0.0.1:{closed}/0");
    let out = techhub(&dbs, &["doctor"], &[("TECHHUB_REDIS_URL", &url)]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let redis = text.lines().find(|l| l.starts_with("redis")).unwrap();
    assert!(redis.contains("DOWN"), "{redis}");
    for store in ["mysql", "postgres", "mongodb"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(store) && l.contains(" up ")),
            "{store}: {text}"
        );
    }
}

#[tokio::test]
async fn techhub_serve_refuses_the_default_jwt_secret_in_production_mode() {
    let dbs = TestDatabases::create().await;
    let out = techhub(
        &dbs,
        &["serve"],
        &[
            ("TECHHUB_MODE", "production"),
            ("TECHHUB_BIND", "127.0.0.1:0"),
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("TECHHUB_JWT_SECRET must be set"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn every_configuration_variable_is_in_help_and_in_the_configuration_reference() {
    let help = Command::new(env!("CARGO_BIN_EXE_techhub"))
        .arg("--help")
        .env(
            "TECHHUB_JWT_SECRET",
            "a-secret-that-must-never-be-printed-anywhere",
        )
        .output()
        .unwrap();
    let help = stdout(&help);
    assert!(
        !help.contains("a-secret-that-must-never-be-printed"),
        "{help}"
    );
    let reference = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/configuration.md"
    ))
    .unwrap();
    let vars: Vec<&str> = help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("TECHHUB_"))
        .collect();
    assert!(vars.len() >= 15, "{help}");
    for var in vars {
        assert!(
            reference.contains(&format!("`{var}`")),
            "{var} is not documented in docs/configuration.md"
        );
    }
}

#[tokio::test]
async fn techhub_demo_creates_the_accounts_and_johndoes_articles_once_and_a_server_shows_them() {
    // As `scripts/run.sh` leaves things: a server ran on these databases before (its search
    // index and relays have checkpoints), and none runs while `techhub demo` does.
    let dbs = TestApp::spawn().await.stop().await;

    let first = techhub(&dbs, &["demo"], &[]);
    let out = stdout(&first);
    assert!(first.status.success(), "{out}{}", stderr(&first));
    assert_eq!(out.matches(" created: ").count(), 4, "{out}");
    assert!(
        out.contains(
            "johndoe created: johndoe@example.com / johndoe-demo-password (free plan; the RealWorld demo author)"
        ),
        "{out}"
    );
    let published: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("johndoe published "))
        .collect();
    assert_eq!(published.len(), 3, "{out}");
    assert!(out.contains("ada    follows johndoe"), "{out}");

    let second = techhub(&dbs, &["demo"], &[]);
    let again = stdout(&second);
    assert!(second.status.success(), "{again}{}", stderr(&second));
    assert_eq!(again.matches("already exists").count(), 4, "{again}");
    assert_eq!(again.lines().count(), 4, "nothing else happens: {again}");

    let mut mysql = sqlx::MySqlConnection::connect(&dbs.config.mysql_url)
        .await
        .unwrap();
    let plans: Vec<(String, String)> = sqlx::query_as(
        "SELECT u.username, CAST(s.plan_type AS CHAR) FROM users u \
         JOIN subscriptions s ON s.user_id = u.id AND s.status = 'active' ORDER BY u.username",
    )
    .fetch_all(&mut mysql)
    .await
    .unwrap();
    let expected = [
        ("ada", "pro"),
        ("grace", "free"),
        ("johndoe", "free"),
        ("linus", "enterprise"),
    ];
    assert_eq!(plans, expected.map(|(u, p)| (u.to_string(), p.to_string())));

    // The server starts: its relays deliver what `demo` left in the stores, and its search
    // index finds the new articles by itself.
    let app = TestApp::spawn_on(dbs, |_| {}).await;
    let posts = app
        .mongo()
        .collection::<mongodb::bson::Document>("posts")
        .count_documents(mongodb::bson::doc! {})
        .await
        .unwrap();
    assert_eq!(posts, 3, "the second run wrote no article");
    let list = eventually(
        Duration::from_secs(5),
        "johndoe's articles listed",
        || async {
            let list = app.list_articles_ok("author=johndoe").await;
            (list["articlesCount"] == 3).then_some(list)
        },
    )
    .await;
    let articles = list["articles"].as_array().unwrap();
    let tags = |title: &str| -> Value {
        articles
            .iter()
            .find(|a| a["title"] == title)
            .unwrap_or_else(|| panic!("{title} in {list}"))["tagList"]
            .clone()
    };
    assert_eq!(
        tags("Ownership in Rust, explained with a library card"),
        json!(["beginners", "rust"])
    );
    assert_eq!(
        tags("One store per job: polyglot persistence in practice"),
        json!(["architecture", "databases"])
    );
    assert_eq!(
        tags("A RealWorld backend with axum in an afternoon"),
        json!(["axum", "realworld", "rust"])
    );
    assert!(articles
        .iter()
        .all(|a| a["author"]["username"] == "johndoe"));
    let listed_tags = app.tags_ok().await;
    for tag in ["rust", "databases", "realworld"] {
        assert!(
            listed_tags.as_array().unwrap().contains(&json!(tag)),
            "{tag} in {listed_tags}"
        );
    }
    // Every event the demo's writes carried is delivered (registration, new posts, comments).
    app.settled().await;

    let mut commenters = Vec::new();
    for a in articles {
        let slug = a["slug"].as_str().unwrap();
        let article = eventually(
            Duration::from_secs(5),
            "the comments counted into the article",
            || async {
                let article = app.get_article_ok(slug, None).await;
                (article["engagement"]["comments"] == 2).then_some(article)
            },
        )
        .await;
        assert_eq!(article["status"], "published");
        assert!(
            article["body"].as_str().unwrap().contains("\n## "),
            "a Markdown body: {article}"
        );
        assert!(
            article["bodyHtml"].as_str().unwrap().contains("<h2>"),
            "rendered: {article}"
        );
        let comments = expect_json(app.list_comments(slug).await, 200, "comments").await;
        for c in comments["comments"].as_array().unwrap() {
            commenters.push(c["author"]["username"].as_str().unwrap().to_string());
        }
    }
    commenters.sort();
    assert_eq!(
        commenters,
        ["ada", "ada", "grace", "grace", "linus", "linus"]
    );

    // ada follows johndoe: his profile says so to her, and her feed has his articles.
    let login = app.login("ada@example.com", "techhub-demo").await;
    let ada = expect_json(login, 200, "ada signs in").await["user"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let profile = app
        .send(
            reqwest::Method::GET,
            "/api/profiles/johndoe",
            None,
            Some(&ada),
        )
        .await;
    let profile = expect_json(profile, 200, "johndoe's profile").await;
    assert_eq!(profile["profile"]["following"], true);
    let feed = app
        .send(reqwest::Method::GET, "/api/articles/feed", None, Some(&ada))
        .await;
    assert_eq!(
        expect_json(feed, 200, "ada's feed").await["articlesCount"],
        3
    );
    // johndoe signs in with the documented password, and exists in every store.
    let login = app
        .login("johndoe@example.com", "johndoe-demo-password")
        .await;
    assert_eq!(login.status(), 200);
    let profile = app
        .mongo()
        .collection::<mongodb::bson::Document>("user_profiles")
        .find_one(mongodb::bson::doc! { "username": "johndoe" })
        .await
        .unwrap();
    assert!(profile.is_some(), "projected into MongoDB");
}
