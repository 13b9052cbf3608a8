//! Search: the Tantivy index fed by the posts change feed — ranking, highlights, typos,
//! filters, paging and bad queries; the index kept across a restart and catching up on what
//! changed while it was down; scans of three depths, a write that lands late read by the deep
//! one; and `techhub reindex`.

use std::process::Command;
use std::time::Instant;

use serde_json::json;

use crate::helpers::{eventually, TestApp};
use crate::routes::{
    expect_json, new_article, result_slugs as slugs, With, SEARCH_WITHIN as WITHIN,
};

#[tokio::test]
async fn title_matches_rank_above_tags_above_body_and_typos_still_find() {
    let app = TestApp::spawn().await;
    let ada = app.register("ada").await;
    let grace = app.register("grace").await;
    let weekly = json!({ "title": "Weekly notes", "description": "d",
        "body": "Somewhere in here we mention **ownership** once, <script>alert(1)</script>.",
        "difficulty": "beginner" });
    let practice = json!({ "title": "Ownership in practice", "description": "d",
        "body": "Moves and borrows.", "tagList": ["rust"], "difficulty": "advanced" });
    let links = json!({ "title": "Links of the week", "description": "d",
        "body": "Nothing relevant.", "tagList": ["ownership"] });
    let body_only = app.publish(&ada, weekly).await;
    let in_title = app.publish(&grace, practice).await;
    let in_tags = app.publish(&ada, links).await;

    let started = Instant::now();
    let found = app
        .search_until("q=ownership", &[&in_title, &in_tags, &body_only])
        .await;
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
    assert_eq!(slugs(&app.search_ok("q=ownrship").await)[0], in_title);
    let swapped = app.search_ok("q=onwership").await;
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
        app.search_ok("q=borow").await["resultsCount"],
        0,
        "5 letters, 2 edits"
    );
    assert_eq!(
        app.search_ok("q=ownership%20borrows").await["resultsCount"],
        1
    );

    // Filters.
    let only = |query: &'static str| {
        let app = &app;
        async move { slugs(&app.search_ok(query).await) }
    };
    assert_eq!(only("q=ownership&tag=rust").await, [in_title.as_str()]);
    assert_eq!(
        only("q=ownership&difficulty=beginner").await,
        [body_only.as_str()]
    );
    assert_eq!(
        only("q=ownership&author=ada").await,
        [in_tags.clone(), body_only.clone()]
    );
    assert_eq!(
        app.search_ok("q=ownership&author=nobody").await["resultsCount"],
        0
    );
    let paged = app.search_ok("q=ownership&limit=1&offset=1").await;
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
        let body = expect_json(app.search(query).await, 422, query).await;
        assert!(body["errors"][field].is_array(), "{query}: {body}");
    }
}

#[tokio::test]
async fn the_index_survives_a_restart_and_catches_up_on_changes_made_while_down() {
    let app = TestApp::spawn().await;
    let author = app.register("keeper").await;
    let kept = app.publish(&author, new_article("Wombat care")).await;
    let gone = app.publish(&author, new_article("Wombat myths")).await;
    eventually(WITHIN, "both indexed", || async {
        (app.search_ok("q=wombat").await["resultsCount"] == 2).then_some(())
    })
    .await;
    assert!(app.search_checkpoint().is_some());
    let dbs = app.stop().await;

    // Another server (its own index folder) changes things while the first is down.
    let other_dir = dbs.config.data_dir.join("other");
    let other = TestApp::spawn_on(dbs, |c| c.data_dir = other_dir).await;
    let added = other.publish(&author, new_article("Wombat burrows")).await;
    let retitled = json!({ "title": "Marsupial care" });
    other.update_article_ok(&author, &kept, retitled).await;
    assert_eq!(other.delete_article(&author, &gone).await.status(), 204);
    let dbs = other.stop().await;

    // The first server again, on its own index: it resumes from its checkpoint.
    let app = TestApp::spawn_on(dbs, |_| {}).await;
    assert!(
        app.search_checkpoint().is_some(),
        "the index was kept, not rebuilt"
    );
    app.search_until("q=wombat", &[&added]).await;
    app.search_until("q=marsupial", &[&kept]).await;
}

#[tokio::test]
async fn techhub_reindex_rebuilds_from_mongodb_and_refuses_while_a_server_holds_the_index() {
    let app = TestApp::spawn().await;
    let author = app.register("bulk").await;
    for i in 0..5 {
        app.publish(&author, new_article(&format!("Numbat note {i}")))
            .await;
    }
    let draft = new_article("Numbat draft").with("status", "draft");
    app.publish(&author, draft).await;
    eventually(WITHIN, "five indexed", || async {
        (app.search_ok("q=numbat").await["resultsCount"] == 5).then_some(())
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

#[tokio::test]
async fn the_change_feed_read_in_windows_gives_each_change_once_in_order_whatever_the_edges() {
    use mongodb::bson::{doc, DateTime, Document};
    use techhub_content::posts::changed_between;

    let app = TestApp::spawn().await;
    let author = app.register("feeder").await;
    let mut slugs = Vec::new();
    for i in 0..8 {
        slugs.push(
            app.publish(&author, new_article(&format!("Feed {i}")))
                .await,
        );
    }
    // Five posts changed in one millisecond, three in one 7 ms later (a bulk write stamps many
    // posts alike): windows with edges on, around and between those milliseconds must give
    // every change once, oldest first.
    let posts = app.mongo().collection::<Document>("posts");
    let since = DateTime::now().timestamp_millis() + 60_000;
    let later = since + 7;
    for (i, slug) in slugs.iter().enumerate() {
        let at = DateTime::from_millis(if i < 5 { since } else { later });
        posts
            .update_one(doc! { "slug": slug }, doc! { "$set": { "changedAt": at } })
            .await
            .unwrap();
    }
    let mongo = app.stores.mongo.clone();
    let read = |from: i64, to: i64| {
        let mongo = mongo.clone();
        async move {
            changed_between(
                &mongo,
                DateTime::from_millis(from),
                DateTime::from_millis(to),
            )
            .await
            .unwrap()
        }
    };
    let whole = read(since, since + 1_000).await;
    assert_eq!(whole.len(), 8, "{whole:?}");
    let mut order: Vec<(DateTime, _)> = whole.iter().map(|c| (c.changed_at, c.id)).collect();
    order.sort();
    assert_eq!(
        order,
        whole
            .iter()
            .map(|c| (c.changed_at, c.id))
            .collect::<Vec<_>>(),
        "oldest change first, then by id"
    );
    assert!(
        read(since - 1_000, since).await.is_empty(),
        "the end is left out"
    );
    assert_eq!(read(since, since + 1).await.len(), 5, "the start is in");
    for edges in [
        vec![since, since + 1, later, later + 1],
        vec![since - 5, since + 3, later + 2],
        vec![since, later, later + 1],
    ] {
        let mut windowed = Vec::new();
        for pair in edges.windows(2) {
            windowed.extend(read(pair[0], pair[1]).await);
        }
        assert_eq!(windowed, whole, "windows {edges:?}");
    }
}

#[tokio::test]
async fn a_recent_scan_leaves_a_write_that_landed_late_to_the_deep_scan_which_indexes_it() {
    use mongodb::bson::{doc, DateTime, Document};
    use techhub_search::{Indexer, SearchIndex, SearchQuery};

    let app = TestApp::spawn().await;
    let author = app.register("latecomer").await;
    let late = app.publish(&author, new_article("Early bird")).await;
    let fresh = app.publish(&author, new_article("Second bird")).await;

    // An indexer of its own over the same MongoDB, built and caught up.
    let dir = app.config.data_dir.join("depths");
    let index = std::sync::Arc::new(SearchIndex::open(&dir).unwrap());
    let mut indexer = Indexer::new(index.clone(), app.stores.mongo.clone());
    indexer.rebuild(|_, _| {}).await.unwrap();
    let before_deep = DateTime::now().timestamp_millis();
    indexer.catch_up().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    // One write lands 2.5 s after its stamp (more than `LATE`, less than `OVERLAP`), one at once.
    let posts = app.mongo().collection::<Document>("posts");
    let stamp = |ms: i64| doc! { "$set": { "title": "Quokka sighting", "changedAt": DateTime::from_millis(ms) } };
    posts
        .update_one(doc! { "slug": &late }, stamp(before_deep - 2_500))
        .await
        .unwrap();
    posts
        .update_one(
            doc! { "slug": &fresh },
            stamp(DateTime::now().timestamp_millis()),
        )
        .await
        .unwrap();
    let found = |index: &SearchIndex| {
        let mut slugs: Vec<String> = index
            .search(&SearchQuery {
                text: "quokka".into(),
                limit: 10,
                ..Default::default()
            })
            .unwrap()
            .hits
            .into_iter()
            .map(|h| h.slug)
            .collect();
        slugs.sort();
        slugs
    };

    let recent = indexer.catch_up_recent().await.unwrap();
    assert_eq!(
        recent.indexed, 1,
        "the recent scan reads back one second only"
    );
    assert_eq!(found(&index), vec![fresh.clone()]);
    let deep = indexer.catch_up().await.unwrap();
    assert_eq!(
        deep.indexed, 1,
        "the deep scan reads the late write, and skips the other"
    );
    let mut both = vec![late, fresh];
    both.sort();
    assert_eq!(found(&index), both);
}
