//! Drafts: seen by their author only, never in lists, feeds or search until published (and
//! out of search again when taken back), the free plan's limit of five, and deleted posts
//! leaving every read and search.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::routes::{article_slugs, expect_json, new_article, result_slugs, With};

fn draft(title: &str) -> Value {
    new_article(title).with("status", "draft")
}

fn zephyr(title: &str) -> Value {
    new_article(title).with("tagList", json!(["zephyr"]))
}

#[tokio::test]
async fn a_draft_never_appears_in_lists_or_feeds_until_published() {
    let app = TestApp::spawn().await;
    let author = app.register("drafter").await;
    let fan = app.register("fan").await;
    app.follow_ok(&fan, "drafter").await;
    let created = app
        .create_article_ok(&author, draft("Work in progress"))
        .await;
    assert_eq!(created["status"], "draft");
    assert!(created["publishedAt"].is_null());
    let slug = created["slug"].as_str().unwrap().to_string();

    assert_eq!(app.list_articles_ok("").await["articlesCount"], 0);
    let by_author = app.list_articles_ok("author=drafter").await;
    assert_eq!(by_author["articlesCount"], 0);
    assert_eq!(app.feed_ok(&fan).await["articlesCount"], 0);
    assert_eq!(
        app.get_article(&slug, None).await.status(),
        404,
        "hidden from others"
    );
    assert_eq!(
        app.get_article(&slug, Some(&author)).await.status(),
        200,
        "the author sees it"
    );
    let drafts = app.drafts_ok(&author).await;
    assert_eq!(drafts["articlesCount"], 1);
    assert_eq!(drafts["articles"][0]["slug"], slug.as_str());

    let publish = json!({ "status": "published" });
    let published: Value = app
        .update_article(&author, &slug, publish)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(published["article"]["status"], "published");
    assert!(published["article"]["publishedAt"].as_str().is_some());
    // The fan sees it once the index shows it.
    app.index_caught_up().await;
    assert_eq!(app.feed_ok(&fan).await["articlesCount"], 1);
    assert_eq!(app.drafts_ok(&author).await["articlesCount"], 0);
}

#[tokio::test]
async fn the_free_plan_allows_five_drafts_then_403_with_the_reason() {
    let app = TestApp::spawn().await;
    let author = app.register("prolific").await;
    for i in 0..5 {
        let created = app
            .create_article(&author, draft(&format!("Draft {i}")))
            .await;
        assert_eq!(created.status(), 201);
    }
    let sixth = app.create_article(&author, draft("One too many")).await;
    let body = expect_json(sixth, 403, "the sixth draft").await;
    assert_eq!(
        body["errors"]["permission"],
        json!(["the free plan allows 5 drafts; publish or delete one, or upgrade"])
    );
    // Publishing is not limited.
    let out_now = new_article("Out now");
    assert_eq!(app.create_article(&author, out_now).await.status(), 201);
}

#[tokio::test]
async fn drafts_never_appear_in_lists_feeds_or_search_and_deletion_removes_from_search() {
    let app = TestApp::spawn().await;
    let author = app.register("author").await;
    let reader = app.register("reader").await;
    assert_eq!(app.follow(&reader, "author").await.status(), 200);
    let published = app.publish(&author, zephyr("Zephyrine published")).await;
    let unpublished = zephyr("Zephyrine draft").with("status", "draft");
    let draft = app.publish(&author, unpublished).await;

    app.search_until("q=zephyrine", &[&published]).await;
    for query in ["", "author=author", "tag=zephyr"] {
        let list = app.list_articles_ok(query).await;
        assert_eq!(article_slugs(&list), [published.as_str()], "?{query}");
    }
    let feed = app.feed_ok(&reader).await;
    assert_eq!(feed["articlesCount"], 1);
    assert_eq!(feed["articles"][0]["slug"], published.as_str());
    // Even after the indexer has had every chance, the draft is not in search.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        result_slugs(&app.search_ok("q=zephyrine").await),
        [published.as_str()]
    );
    assert_eq!(app.search_ok("q=draft").await["resultsCount"], 0);

    // Publishing the draft makes it searchable; taking it back to draft removes it again.
    let publish = json!({ "status": "published" });
    app.update_article_ok(&author, &draft, publish).await;
    app.search_until("q=draft", &[&draft]).await;
    let unpublish = json!({ "status": "draft" });
    app.update_article_ok(&author, &draft, unpublish).await;
    app.search_until("q=draft", &[]).await;

    // Deleting a published post removes it from search, and every read forgets it.
    assert_eq!(app.delete_article(&author, &published).await.status(), 204);
    app.search_until("q=zephyrine", &[]).await;
    assert_eq!(app.get_article(&published, None).await.status(), 404);
    assert_eq!(app.favorite(&reader, &published).await.status(), 404);
    assert_eq!(
        app.delete_article(&author, &published).await.status(),
        404,
        "a deleted post cannot be deleted twice"
    );
    // Search hides what is no longer published even before the index shows it; the list's
    // count is the index's: its author's is right at once, everyone's once the index shows it.
    let list = app.list_articles_as(&author, "author=author").await;
    assert_eq!(list["articlesCount"], 0);
    app.index_caught_up().await;
    let list = app.list_articles_ok("author=author").await;
    assert_eq!(list["articlesCount"], 0);
    // The tombstone left for the change feed carries no body.
    let tomb = app.post_document(&published).await;
    assert_eq!(tomb.get_str("status").unwrap(), "deleted");
    assert_eq!(tomb.get_str("body").unwrap(), "");
}
