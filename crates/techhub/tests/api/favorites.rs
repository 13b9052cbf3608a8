//! Favorites and bookmarks: counted exactly under concurrency, idempotent, taken back, listed
//! per user, and refused on drafts.

use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::routes::{new_article, With};

fn post(title: &str) -> Value {
    new_article(title)
        .with("body", "Some body text")
        .with("tagList", json!([]))
}

/// `favoritesCount` as the API shows it, `engagement.likes` and the length of `favoritedBy`
/// as MongoDB holds them.
async fn favorite_counts(app: &TestApp, slug: &str) -> (i64, i64, i64) {
    let article = app.get_article_ok(slug, None).await;
    let doc = app
        .mongo()
        .collection::<mongodb::bson::Document>("posts")
        .find_one(mongodb::bson::doc! { "slug": slug })
        .await
        .unwrap()
        .unwrap();
    let likes = doc
        .get_document("engagement")
        .unwrap()
        .get_i64("likes")
        .unwrap();
    let fans = doc.get_array("favoritedBy").unwrap().len() as i64;
    (article["favoritesCount"].as_i64().unwrap(), likes, fans)
}

#[tokio::test]
async fn a_hundred_concurrent_favorites_count_exactly_and_unfavorites_bring_it_back_to_zero() {
    let app = TestApp::spawn().await;
    let author = app.register("popular").await;
    let slug = app.publish(&author, post("Everyone likes this")).await;
    let tokens = app.quick_tokens("fan", 100).await;

    let path = format!("/api/articles/{slug}/favorite");
    let results = app.send_all(reqwest::Method::POST, &path, &tokens).await;
    assert!(results.iter().all(|r| r.status() == 200));
    assert_eq!(favorite_counts(&app, &slug).await, (100, 100, 100));
    // Favoriting twice changes nothing.
    let twice = app
        .send_all(reqwest::Method::POST, &path, &tokens[..10])
        .await;
    assert!(twice.iter().all(|r| r.status() == 200));
    assert_eq!(favorite_counts(&app, &slug).await, (100, 100, 100));

    let results = app.send_all(reqwest::Method::DELETE, &path, &tokens).await;
    assert!(results.iter().all(|r| r.status() == 200));
    assert_eq!(favorite_counts(&app, &slug).await, (0, 0, 0));
}

#[tokio::test]
async fn bookmarks_are_listed_per_user_and_counted_exactly() {
    let app = TestApp::spawn().await;
    let author = app.register("bookwriter").await;
    let reader = app.register("bookreader").await;
    let s1 = app.publish(&author, post("First")).await;
    let s2 = app.publish(&author, post("Second")).await;

    for slug in [&s1, &s2, &s1] {
        let response = app.bookmark(&reader, slug).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["article"]["bookmarked"], true);
        assert_eq!(
            body["article"]["engagement"]["bookmarks"], 1,
            "bookmarking twice counts once"
        );
    }
    let mine = app.bookmarks_ok(&reader).await;
    assert_eq!(mine["articlesCount"], 2);
    let titles: Vec<&str> = mine["articles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["Second", "First"],
        "most recently bookmarked first"
    );
    let theirs = app.bookmarks_ok(&author).await;
    assert_eq!(theirs["articlesCount"], 0);

    // Many readers at once: the counter matches the number of readers exactly.
    let tokens = app.quick_tokens("bm", 30).await;
    let path = format!("/api/articles/{s2}/bookmark");
    let all = app.send_all(reqwest::Method::POST, &path, &tokens).await;
    assert!(all.iter().all(|r| r.status() == 200));
    let now = app.get_article_ok(&s2, None).await;
    assert_eq!(now["engagement"]["bookmarks"], 31);

    let removed: Value = app.unbookmark(&reader, &s1).await.json().await.unwrap();
    assert_eq!(removed["article"]["bookmarked"], false);
    assert_eq!(removed["article"]["engagement"]["bookmarks"], 0);
    let not_yet = new_article("Not yet").with("status", "draft");
    let draft = app.create_article_ok(&author, not_yet).await;
    let on_draft = app.bookmark(&reader, draft["slug"].as_str().unwrap()).await;
    assert_eq!(on_draft.status(), 404, "drafts cannot be bookmarked");
}
