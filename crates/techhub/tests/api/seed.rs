//! `techhub seed`: every store filled consistently, reproducibly, and usable by the API.

use std::process::{Command, Output};

use mongodb::bson::{doc, Document};
use sqlx::Connection;

use crate::helpers::{mongo_documents, TestApp, TestDatabases};

const SIZES: [&str; 10] = [
    "--users",
    "60",
    "--posts",
    "400",
    "--comments",
    "600",
    "--sessions",
    "3000",
    "--follows",
    "5",
];

/// `techhub seed` at [`SIZES`] with `args` added, over `dbs`.
fn seed(dbs: &TestDatabases, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_techhub"))
        .arg("seed")
        .args(SIZES)
        .args(args)
        .envs(dbs.env())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

async fn posts(dbs: &TestDatabases) -> Vec<Document> {
    let client = mongodb::Client::with_uri_str(&dbs.config.mongodb_url)
        .await
        .unwrap();
    mongo_documents(&client.default_database().unwrap(), "posts").await
}

#[tokio::test]
async fn seed_fills_every_store_consistently_and_the_api_serves_it() {
    let dbs = TestDatabases::create().await;
    let out = seed(&dbs, &["--rng-seed", "7"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("seeded with --rng-seed 7 in"),
        "{stdout}"
    );
    for line in [
        "mysql users + subscriptions",
        "mongodb posts",
        "postgres learning_sessions",
        "search index",
    ] {
        assert!(stdout.contains(line), "summary lacks {line}: {stdout}");
    }

    // MySQL: the accounts and a subscription each.
    let mut mysql = sqlx::MySqlConnection::connect(&dbs.config.mysql_url)
        .await
        .unwrap();
    let (users, subs): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM users WHERE email LIKE '%@seed.example.com'), \
         (SELECT COUNT(*) FROM subscriptions)",
    )
    .fetch_one(&mut mysql)
    .await
    .unwrap();
    assert_eq!((users, subs), (60, 60));

    // MongoDB: counters agree with what they count.
    let all = posts(&dbs).await;
    assert_eq!(all.len(), 400);
    let client = mongodb::Client::with_uri_str(&dbs.config.mongodb_url)
        .await
        .unwrap();
    let db = client.default_database().unwrap();
    let comments = db
        .collection::<Document>("comments")
        .count_documents(doc! {})
        .await
        .unwrap();
    let counted: i64 = all
        .iter()
        .map(|p| {
            p.get_document("engagement")
                .unwrap()
                .get_i64("comments")
                .unwrap()
        })
        .sum();
    assert_eq!(comments as i64, counted);
    assert!(
        comments > 500,
        "most of the 600 comments land on published posts"
    );
    for p in &all {
        let likes = p
            .get_document("engagement")
            .unwrap()
            .get_i64("likes")
            .unwrap();
        assert_eq!(likes as usize, p.get_array("favoritedBy").unwrap().len());
    }
    // Skew: the most prolific author wrote far more than an average one (400 / 60 ≈ 7).
    let mut by_author = std::collections::HashMap::<i64, usize>::new();
    for p in &all {
        *by_author.entry(p.get_i64("authorId").unwrap()).or_default() += 1;
    }
    assert!(*by_author.values().max().unwrap() >= 30, "{by_author:?}");
    let profiles = db
        .collection::<Document>("user_profiles")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(profiles, 60);

    // PostgreSQL: points are what the sessions earn, for every user.
    let mut pg = sqlx::PgConnection::connect(&dbs.config.postgres_url)
        .await
        .unwrap();
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM learning_sessions")
        .fetch_one(&mut pg)
        .await
        .unwrap();
    assert_eq!(sessions, 3000);
    let wrong: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM user_analytics a LEFT JOIN ( \
           SELECT user_id, SUM(FLOOR(duration_minutes * completion_percentage / 100) \
             + CASE WHEN completion_percentage >= 100 THEN 10 ELSE 0 END)::bigint AS points \
           FROM learning_sessions GROUP BY user_id) s USING (user_id) \
         WHERE a.total_points <> COALESCE(s.points, 0)",
    )
    .fetch_one(&mut pg)
    .await
    .unwrap();
    assert_eq!(wrong, 0, "users whose points differ from their sessions'");
    let analytics: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_analytics")
        .fetch_one(&mut pg)
        .await
        .unwrap();
    assert_eq!(analytics, 60);

    // Seeding again refuses instead of doubling the data.
    let again = seed(&dbs, &["--rng-seed", "7"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already hold seeded users"));
    // With --if-empty (the run script's), it succeeds and writes nothing.
    let once = seed(&dbs, &["--if-empty"]);
    assert!(
        once.status.success(),
        "{}",
        String::from_utf8_lossy(&once.stderr)
    );
    assert!(String::from_utf8_lossy(&once.stdout).starts_with("already seeded (60 seeded users"));
    assert_eq!(posts(&dbs).await.len(), 400);

    // A server over the seeded stores: seeded users log in, lists and search find posts.
    let app = TestApp::spawn_on(dbs, |_| {}).await;
    let login = app
        .login("dev000001@seed.example.com", "seed-password")
        .await;
    assert_eq!(login.status(), 200);
    let listed = app.list_articles_ok("limit=5").await;
    assert_eq!(listed["articles"].as_array().unwrap().len(), 5);
    let slug = listed["articles"][0]["slug"].as_str().unwrap().to_string();
    assert_eq!(app.get_article(&slug, None).await.status(), 200);
    let found = app.search_ok("q=performance").await;
    assert!(found["resultsCount"].as_u64().unwrap() > 0, "{found}");
}

#[tokio::test]
async fn the_same_rng_seed_writes_the_same_posts() {
    let (a, b, c) = (
        TestDatabases::create().await,
        TestDatabases::create().await,
        TestDatabases::create().await,
    );
    for (dbs, rng_seed) in [(&a, "11"), (&b, "11"), (&c, "12")] {
        let out = seed(dbs, &["--rng-seed", rng_seed]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let fields = |posts: Vec<Document>| {
        posts
            .into_iter()
            .map(|p| {
                (
                    p.get_object_id("_id").unwrap(),
                    p.get_str("slug").unwrap().to_string(),
                    p.get_i64("authorId").unwrap(),
                    p.get_array("favoritedBy").unwrap().len(),
                )
            })
            .collect::<Vec<_>>()
    };
    let (pa, pb, pc) = (
        fields(posts(&a).await),
        fields(posts(&b).await),
        fields(posts(&c).await),
    );
    assert_eq!(pa, pb);
    assert_ne!(pa, pc);
}
