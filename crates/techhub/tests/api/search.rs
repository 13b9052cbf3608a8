//! Search and the content creation flow: the Tantivy index fed by the posts change feed, the
//! content relay into the PostgreSQL activity log, restarts and outages.

use std::process::Command;
use std::time::{Duration, Instant};

use mongodb::bson::{doc, Document};
use serde_json::{json, Value};
use sqlx::{Connection, Row};

use crate::helpers::{eventually, TestApp, TestUser};
use crate::proxy::{Mode, TcpProxy};

/// Changes must reach search and the activity log within this (the target).
const WITHIN: Duration = Duration::from_secs(1);

async fn write(app: &TestApp, user: &TestUser, article: Value) -> Value {
    let response = app
        .post(
            "/api/articles",
            json!({ "article": article }),
            Some(&user.token),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["article"].clone()
}

async fn search(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("/api/search?{query}")).await;
    assert_eq!(response.status(), 200, "search {query}");
    response.json().await.unwrap()
}

fn slugs(found: &Value) -> Vec<String> {
    found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["article"]["slug"].as_str().unwrap().to_string())
        .collect()
}

/// Waits until searching `query` returns exactly `expected` (in order).
async fn search_until(app: &TestApp, query: &str, expected: &[&str]) -> Value {
    eventually(
        WITHIN,
        &format!("search {query} → {expected:?}"),
        || async {
            let found = search(app, query).await;
            (slugs(&found) == expected).then_some(found)
        },
    )
    .await
}

async fn activity(pg_url: &str, user_id: u64) -> Vec<(String, String)> {
    let mut pg = sqlx::PgConnection::connect(pg_url).await.unwrap();
    sqlx::query(
        "SELECT kind, subject_id FROM activity_events WHERE user_id = $1 ORDER BY occurred_at",
    )
    .bind(user_id as i64)
    .fetch_all(&mut pg)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get("kind"), r.get("subject_id")))
    .collect()
}

async fn post_doc(app: &TestApp, slug: &str) -> Document {
    app.mongo()
        .collection::<Document>("posts")
        .find_one(doc! { "slug": slug })
        .await
        .unwrap()
        .expect("post document")
}

#[tokio::test]
async fn title_matches_rank_above_tags_above_body_and_typos_still_find() {
    let app = TestApp::spawn().await;
    let ada = app.register("ada").await;
    let grace = app.register("grace").await;
    let body_only = write(
        &app,
        &ada,
        json!({ "title": "Weekly notes", "description": "d",
        "body": "Somewhere in here we mention **ownership** once, <script>alert(1)</script>.",
        "difficulty": "beginner" }),
    )
    .await;
    let in_title = write(
        &app,
        &grace,
        json!({ "title": "Ownership in practice", "description": "d",
        "body": "Moves and borrows.", "tagList": ["rust"], "difficulty": "advanced" }),
    )
    .await;
    let in_tags = write(
        &app,
        &ada,
        json!({ "title": "Links of the week", "description": "d",
        "body": "Nothing relevant.", "tagList": ["ownership"] }),
    )
    .await;
    let slug = |a: &Value| a["slug"].as_str().unwrap().to_string();
    let (body_only, in_title, in_tags) = (slug(&body_only), slug(&in_title), slug(&in_tags));

    let started = Instant::now();
    let found = search_until(&app, "q=ownership", &[&in_title, &in_tags, &body_only]).await;
    println!("three new posts searchable after {:?}", started.elapsed());
    assert_eq!(found["resultsCount"], 3);
    let first = &found["results"][0];
    assert_eq!(
        first["highlights"]["title"],
        "<mark>Ownership</mark> in practice"
    );
    assert_eq!(first["article"]["author"]["username"], "grace");
    assert!(
        first["article"].get("body").is_none(),
        "results leave out the body"
    );
    let scores: Vec<f64> = found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["score"].as_f64().unwrap())
        .collect();
    assert!(scores[0] > scores[1] && scores[1] > scores[2], "{scores:?}");
    let snippet = found["results"][2]["highlights"]["body"].as_str().unwrap();
    assert!(snippet.contains("<mark>ownership</mark>"), "{snippet}");
    assert!(
        !snippet.contains("<script"),
        "snippets carry no markup from the body: {snippet}"
    );

    // A typo (one letter dropped, or two swapped) in a word of five letters or more.
    assert_eq!(slugs(&search(&app, "q=ownrship").await)[0], in_title);
    let swapped = search(&app, "q=onwership").await;
    assert_eq!(
        slugs(&swapped),
        [in_title.clone(), in_tags.clone(), body_only.clone()]
    );
    assert_eq!(
        swapped["results"][0]["highlights"]["title"],
        "<mark>Ownership</mark> in practice"
    );
    // Shorter words must be spelt right; every word must match.
    assert_eq!(
        search(&app, "q=borow").await["resultsCount"],
        0,
        "5 letters, 2 edits"
    );
    assert_eq!(
        search(&app, "q=ownership%20borrows").await["resultsCount"],
        1
    );

    // Filters.
    assert_eq!(
        slugs(&search(&app, "q=ownership&tag=rust").await),
        [in_title.as_str()]
    );
    assert_eq!(
        slugs(&search(&app, "q=ownership&difficulty=beginner").await),
        [body_only.as_str()]
    );
    assert_eq!(
        slugs(&search(&app, "q=ownership&author=ada").await),
        [in_tags.clone(), body_only.clone()]
    );
    assert_eq!(
        search(&app, "q=ownership&author=nobody").await["resultsCount"],
        0
    );
    let paged = search(&app, "q=ownership&limit=1&offset=1").await;
    assert_eq!(slugs(&paged), [in_tags.as_str()]);
    assert_eq!(paged["resultsCount"], 3);

    // Bad input: 422 naming the field.
    for (query, field) in [
        ("", "q"),
        ("q=%20%20", "q"),
        ("q=%21%21%21", "q"),
        (&format!("q={}", "a".repeat(201)) as &str, "q"),
        ("q=rust&limit=0", "limit"),
        ("q=rust&limit=101", "limit"),
        ("q=rust&offset=10001", "offset"),
        ("q=rust&difficulty=expert", "difficulty"),
    ] {
        let response = app.get(&format!("/api/search?{query}")).await;
        assert_eq!(response.status(), 422, "{query}");
        let body: Value = response.json().await.unwrap();
        assert!(body["errors"][field].is_array(), "{query}: {body}");
    }
}

#[tokio::test]
async fn drafts_never_appear_in_lists_feeds_or_search_and_deletion_removes_from_search() {
    let app = TestApp::spawn().await;
    let author = app.register("author").await;
    let reader = app.register("reader").await;
    assert_eq!(
        app.post(
            "/api/profiles/author/follow",
            json!({}),
            Some(&reader.token)
        )
        .await
        .status(),
        200
    );
    let published = write(
        &app,
        &author,
        json!({ "title": "Zephyrine published", "description": "d",
        "body": "b", "tagList": ["zephyr"] }),
    )
    .await;
    let draft = write(
        &app,
        &author,
        json!({ "title": "Zephyrine draft", "description": "d",
        "body": "b", "tagList": ["zephyr"], "status": "draft" }),
    )
    .await;
    let (published, draft) = (
        published["slug"].as_str().unwrap().to_string(),
        draft["slug"].as_str().unwrap().to_string(),
    );

    search_until(&app, "q=zephyrine", &[&published]).await;
    for path in [
        "/api/articles",
        "/api/articles?author=author",
        "/api/articles?tag=zephyr",
    ] {
        let list: Value = app.get(path).await.json().await.unwrap();
        let listed: Vec<&str> = list["articles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["slug"].as_str().unwrap())
            .collect();
        assert_eq!(listed, [published.as_str()], "{path}");
    }
    let feed: Value = app
        .get_auth("/api/articles/feed", &reader.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(feed["articlesCount"], 1);
    assert_eq!(feed["articles"][0]["slug"], published.as_str());
    // Even after the indexer has had every chance, the draft is not in search.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        slugs(&search(&app, "q=zephyrine").await),
        [published.as_str()]
    );
    assert_eq!(search(&app, "q=draft").await["resultsCount"], 0);

    // Publishing the draft makes it searchable; taking it back to draft removes it again.
    let publish = app
        .put(
            &format!("/api/articles/{draft}"),
            json!({ "article": { "status": "published" } }),
            Some(&author.token),
        )
        .await;
    assert_eq!(publish.status(), 200);
    search_until(&app, "q=draft", &[&draft]).await;
    let unpublish = app
        .put(
            &format!("/api/articles/{draft}"),
            json!({ "article": { "status": "draft" } }),
            Some(&author.token),
        )
        .await;
    assert_eq!(unpublish.status(), 200);
    search_until(&app, "q=draft", &[]).await;

    // Deleting a published post removes it from search, and every read forgets it.
    let deleted = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/articles/{published}"),
            None,
            Some(&author.token),
        )
        .await;
    assert_eq!(deleted.status(), 204);
    search_until(&app, "q=zephyrine", &[]).await;
    assert_eq!(
        app.get(&format!("/api/articles/{published}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.post(
            &format!("/api/articles/{published}/favorite"),
            json!({}),
            Some(&reader.token)
        )
        .await
        .status(),
        404
    );
    let again = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/articles/{published}"),
            None,
            Some(&author.token),
        )
        .await;
    assert_eq!(
        again.status(),
        404,
        "a deleted post cannot be deleted twice"
    );
    let list: Value = app
        .get("/api/articles?author=author")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["articlesCount"], 0);
    // The tombstone left for the change feed carries no body.
    let tomb = post_doc(&app, &published).await;
    assert_eq!(tomb.get_str("status").unwrap(), "deleted");
    assert_eq!(tomb.get_str("body").unwrap(), "");
}

#[tokio::test]
async fn a_new_post_reaches_the_activity_log_and_search_within_a_second_and_cache_drops() {
    let app = TestApp::spawn().await;
    let author = app.register("writer").await;
    let id = author.id;
    // The tag list is cached; the new post's event must drop it.
    assert_eq!(
        app.get("/api/tags").await.json::<Value>().await.unwrap()["tags"],
        json!([])
    );

    let started = Instant::now();
    let post = write(&app, &author, json!({ "title": "Quasar tutorial", "description": "d", "body": "b", "tagList": ["astro"] })).await;
    let slug = post["slug"].as_str().unwrap().to_string();
    let post_id = post_doc(&app, &slug)
        .await
        .get_object_id("_id")
        .unwrap()
        .to_hex();
    let pg_url = app.dbs.config.postgres_url.clone();
    eventually(WITHIN, "the post.created activity", || async {
        (activity(&pg_url, id).await == [("post.created".to_string(), post_id.clone())])
            .then_some(())
    })
    .await;
    search_until(&app, "q=quasar", &[&slug]).await;
    println!("activity and search after {:?}", started.elapsed());
    assert!(started.elapsed() < WITHIN + Duration::from_millis(500));
    assert_eq!(
        app.get("/api/tags").await.json::<Value>().await.unwrap()["tags"],
        json!(["astro"])
    );

    // Delivered events leave the document; the counter in user_analytics moved once.
    eventually(WITHIN, "pending events removed", || async {
        let d = post_doc(&app, &slug).await;
        (d.get_array("pendingEvents").unwrap().is_empty() && !d.contains_key("eventsDueAt"))
            .then_some(())
    })
    .await;
    let mut pg = sqlx::PgConnection::connect(&pg_url).await.unwrap();
    let summary: Value =
        sqlx::query_scalar("SELECT activity_summary FROM user_analytics WHERE user_id = $1")
            .bind(id as i64)
            .fetch_one(&mut pg)
            .await
            .unwrap();
    assert_eq!(summary["post.created"], 1);

    // An edit and a delete are logged too, in order.
    let edit = app
        .put(
            &format!("/api/articles/{slug}"),
            json!({ "article": { "title": "Quasar tutorial, revised" } }),
            Some(&author.token),
        )
        .await;
    assert_eq!(edit.status(), 200);
    search_until(&app, "q=revised", &[&slug]).await;
    let deleted = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/articles/{slug}"),
            None,
            Some(&author.token),
        )
        .await;
    assert_eq!(deleted.status(), 204);
    eventually(WITHIN, "three activities", || async {
        let kinds: Vec<String> = activity(&pg_url, id)
            .await
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        (kinds == ["post.created", "post.updated", "post.deleted"]).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_post_written_while_postgres_is_down_reaches_the_activity_log_once_it_returns() {
    let defaults = techhub_core::Config::from_env().unwrap();
    let proxy = TcpProxy::in_front_of(&defaults.postgres_url).await;
    let app = TestApp::spawn_with(|c| c.postgres_url = proxy.url_for(&c.postgres_url)).await;
    let author = app.register("offline").await;
    let id = author.id;
    let pg_url = app.dbs.config.postgres_url.clone(); // direct, not through the proxy
    eventually(Duration::from_secs(2), "the analytics row", || async {
        let mut pg = sqlx::PgConnection::connect(&pg_url).await.unwrap();
        sqlx::query("SELECT 1 FROM user_analytics WHERE user_id = $1")
            .bind(id as i64)
            .fetch_optional(&mut pg)
            .await
            .unwrap()
            .map(|_| ())
    })
    .await;

    proxy.set(Mode::Refuse);
    let post = write(
        &app,
        &author,
        json!({ "title": "Written offline", "description": "d", "body": "b" }),
    )
    .await;
    let slug = post["slug"].as_str().unwrap().to_string();
    // Search does not depend on PostgreSQL.
    search_until(&app, "q=offline", &[&slug]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(activity(&pg_url, id).await.is_empty());
    let d = post_doc(&app, &slug).await;
    assert_eq!(
        d.get_array("pendingEvents").unwrap().len(),
        1,
        "the event waits in the post"
    );
    assert!(d.get_i64("eventAttempts").unwrap() >= 2, "{d}");
    assert!(
        d.get_str("eventError")
            .unwrap()
            .contains("postgres.activity_events"),
        "{d}"
    );

    proxy.set(Mode::Forward);
    let back = Instant::now();
    eventually(
        Duration::from_secs(2),
        "the activity after PostgreSQL returned",
        || async { (activity(&pg_url, id).await.len() == 1).then_some(()) },
    )
    .await;
    println!(
        "activity recorded {:?} after PostgreSQL returned",
        back.elapsed()
    );
    eventually(WITHIN, "pending events removed", || async {
        post_doc(&app, &slug)
            .await
            .get_array("pendingEvents")
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;

    // Redelivering the same event (as after a crash between effect and removal) changes nothing.
    let event = d.get_array("pendingEvents").unwrap()[0].clone();
    app.mongo()
        .collection::<Document>("posts")
        .update_one(doc! { "slug": &slug }, doc! { "$push": { "pendingEvents": event }, "$set": { "eventsDueAt": mongodb::bson::DateTime::now() } })
        .await
        .unwrap();
    eventually(WITHIN, "the replayed event consumed", || async {
        post_doc(&app, &slug)
            .await
            .get_array("pendingEvents")
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
    assert_eq!(activity(&pg_url, id).await.len(), 1, "recorded once");
    let mut pg = sqlx::PgConnection::connect(&pg_url).await.unwrap();
    let summary: Value =
        sqlx::query_scalar("SELECT activity_summary FROM user_analytics WHERE user_id = $1")
            .bind(id as i64)
            .fetch_one(&mut pg)
            .await
            .unwrap();
    assert_eq!(summary["post.created"], 1, "counted once");
}

#[tokio::test]
async fn the_index_survives_a_restart_and_catches_up_on_changes_made_while_down() {
    let app = TestApp::spawn().await;
    let author = app.register("keeper").await;
    let kept = write(
        &app,
        &author,
        json!({ "title": "Wombat care", "description": "d", "body": "b" }),
    )
    .await;
    let gone = write(
        &app,
        &author,
        json!({ "title": "Wombat myths", "description": "d", "body": "b" }),
    )
    .await;
    let (kept, gone) = (
        kept["slug"].as_str().unwrap().to_string(),
        gone["slug"].as_str().unwrap().to_string(),
    );
    eventually(WITHIN, "both indexed", || async {
        (search(&app, "q=wombat").await["resultsCount"] == 2).then_some(())
    })
    .await;
    assert!(app.search_checkpoint().is_some());
    let dbs = app.stop().await;

    // Another server (its own index folder) changes things while the first is down.
    let other_dir = dbs.config.data_dir.join("other");
    let other = TestApp::spawn_on(dbs, |c| c.data_dir = other_dir).await;
    let added = write(
        &other,
        &author,
        json!({ "title": "Wombat burrows", "description": "d", "body": "b" }),
    )
    .await;
    let added = added["slug"].as_str().unwrap().to_string();
    assert_eq!(
        other
            .put(
                &format!("/api/articles/{kept}"),
                json!({ "article": { "title": "Marsupial care" } }),
                Some(&author.token)
            )
            .await
            .status(),
        200
    );
    assert_eq!(
        other
            .send(
                reqwest::Method::DELETE,
                &format!("/api/articles/{gone}"),
                None,
                Some(&author.token)
            )
            .await
            .status(),
        204
    );
    let dbs = other.stop().await;

    // The first server again, on its own index: it resumes from its checkpoint.
    let app = TestApp::spawn_on(dbs, |_| {}).await;
    assert!(
        app.search_checkpoint().is_some(),
        "the index was kept, not rebuilt"
    );
    search_until(&app, "q=wombat", &[&added]).await;
    search_until(&app, "q=marsupial", &[&kept]).await;
}

#[tokio::test]
async fn techhub_reindex_rebuilds_from_mongodb_and_refuses_while_a_server_holds_the_index() {
    let app = TestApp::spawn().await;
    let author = app.register("bulk").await;
    for i in 0..5 {
        write(
            &app,
            &author,
            json!({ "title": format!("Numbat note {i}"), "description": "d", "body": "b" }),
        )
        .await;
    }
    write(
        &app,
        &author,
        json!({ "title": "Numbat draft", "description": "d", "body": "b", "status": "draft" }),
    )
    .await;
    eventually(WITHIN, "five indexed", || async {
        (search(&app, "q=numbat").await["resultsCount"] == 5).then_some(())
    })
    .await;

    let run = |dir: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_techhub"))
            .arg("reindex")
            .envs(app.dbs.env())
            .env("TECHHUB_DATA_DIR", dir)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    // The running server holds its index: reindex says so instead of corrupting it.
    let busy = run(&app.config.data_dir);
    assert!(!busy.status.success());
    let err = String::from_utf8_lossy(&busy.stderr);
    assert!(err.contains("in use by another TechHub process"), "{err}");

    // A fresh folder: built from MongoDB, drafts left out.
    let dir = app.config.data_dir.join("rebuilt");
    let built = run(&dir);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let out = String::from_utf8_lossy(&built.stdout);
    assert!(
        out.starts_with("search index rebuilt: 5 published posts"),
        "{out}"
    );
    let index = techhub_search::SearchIndex::open(&dir.join("search")).unwrap();
    assert_eq!(index.len(), 5);
    assert!(index.checkpoint().is_some());
    let page = index
        .search(&techhub_search::SearchQuery {
            text: "numbat".into(),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.total, 5);
}

/// The slugs of a list, and its count.
async fn listed(app: &TestApp, path: &str) -> (Vec<String>, u64) {
    let list: Value = app.get(path).await.json().await.unwrap();
    let slugs = list["articles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["slug"].as_str().unwrap().to_string())
        .collect();
    (slugs, list["articlesCount"].as_u64().unwrap())
}

/// Lists and counts come from the search index, which follows MongoDB; every write through
/// the API returns only once the index shows it, so the very next read, without waiting or
/// retrying, sees it.
#[tokio::test]
async fn lists_read_from_the_index_show_each_write_at_once() {
    let app = TestApp::spawn().await;
    let author = app.register("lister").await;
    let fan = app.register("lumenfan").await;
    let mut slugs = Vec::new();
    for i in 0..3 {
        let post = write(
            &app,
            &author,
            json!({ "title": format!("Lumen part {i}"), "description": "d", "body": "b",
                    "tagList": ["lumen", format!("part{i}")] }),
        )
        .await;
        slugs.insert(0, post["slug"].as_str().unwrap().to_string());
        let (page, count) = listed(&app, "/api/articles?tag=lumen").await;
        assert_eq!((page, count), (slugs.clone(), i + 1), "after post {i}");
    }
    // Paging keeps the order, and the count is the whole match.
    assert_eq!(
        listed(&app, "/api/articles?tag=lumen&limit=1&offset=1").await,
        (vec![slugs[1].clone()], 3)
    );
    assert_eq!(
        listed(&app, "/api/articles?author=lister&limit=2").await,
        (slugs[..2].to_vec(), 3)
    );
    let tags: Value = app.get("/api/tags").await.json().await.unwrap();
    assert_eq!(tags["tags"][0], "lumen", "the most used tag first: {tags}");

    // An edit that drops the tag takes the post out of the tag's list at once.
    let edited = app
        .put(
            &format!("/api/articles/{}", slugs[0]),
            json!({ "article": { "tagList": ["other"] } }),
            Some(&author.token),
        )
        .await;
    assert_eq!(edited.status(), 200);
    assert_eq!(
        listed(&app, "/api/articles?tag=lumen").await,
        (slugs[1..].to_vec(), 2)
    );

    // Favorites: listed at once, and gone at once when taken back.
    let path = format!("/api/articles/{}/favorite", slugs[2]);
    assert_eq!(
        app.post(&path, json!({}), Some(&fan.token)).await.status(),
        200
    );
    assert_eq!(
        listed(&app, "/api/articles?favorited=lumenfan").await,
        (vec![slugs[2].clone()], 1)
    );
    let taken_back = app
        .send(reqwest::Method::DELETE, &path, None, Some(&fan.token))
        .await;
    assert_eq!(taken_back.status(), 200);
    assert_eq!(
        listed(&app, "/api/articles?favorited=lumenfan").await,
        (vec![], 0)
    );

    // A deleted post leaves the author's list and its count at once.
    let deleted = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/articles/{}", slugs[1]),
            None,
            Some(&author.token),
        )
        .await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        listed(&app, "/api/articles?author=lister").await,
        (vec![slugs[0].clone(), slugs[2].clone()], 2)
    );
}
