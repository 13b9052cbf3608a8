//! Favorites and bookmarks: counted exactly under concurrency, idempotent, taken back, listed
//! per user, and refused on drafts. A favorite is counted into its post by the content relay,
//! moments after the request: its writer sees it at once, everyone once it is counted.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{eventually, TestApp};
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

/// Waits until [`favorite_counts`] are `want` (the relay counts favorites moments after).
async fn counted(app: &TestApp, slug: &str, want: (i64, i64, i64)) {
    eventually(Duration::from_secs(5), "the favorites counted", || async {
        (favorite_counts(app, slug).await == want).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_hundred_concurrent_favorites_count_exactly_and_unfavorites_bring_it_back_to_zero() {
    let app = TestApp::spawn().await;
    let author = app.register("popular").await;
    let slug = app.publish(&author, post("Everyone likes this")).await;
    let tokens = app.quick_tokens("fan", 100).await;

    let path = format!("/api/articles/{slug}/favorite");
    let results = app.send_all(reqwest::Method::POST, &path, &tokens).await;
    for response in results {
        assert_eq!(response.status(), 200);
        let article: Value = response.json().await.unwrap();
        assert_eq!(article["article"]["favorited"], true);
        let count = article["article"]["favoritesCount"].as_i64().unwrap();
        assert!((1..=100).contains(&count), "{count}: each counts its own");
    }
    counted(&app, &slug, (100, 100, 100)).await;
    // Favoriting twice changes nothing.
    let twice = app
        .send_all(reqwest::Method::POST, &path, &tokens[..10])
        .await;
    assert!(twice.iter().all(|r| r.status() == 200));
    app.settled().await;
    assert_eq!(favorite_counts(&app, &slug).await, (100, 100, 100));

    let results = app.send_all(reqwest::Method::DELETE, &path, &tokens).await;
    assert!(results.iter().all(|r| r.status() == 200));
    counted(&app, &slug, (0, 0, 0)).await;
}

#[tokio::test]
async fn a_favoriter_sees_their_favorite_at_once_and_toggling_fast_ends_as_the_last_click() {
    let app = TestApp::spawn().await;
    let author = app.register("toggled").await;
    let fan = app.register("toggler").await;
    let slug = app.publish(&author, post("Click me")).await;
    app.settled().await;
    // Ten clicks in a row, each answered as it left things, and each read back by the
    // clicker at once, counted, before the relay may have counted it into the post.
    for click in 0..10 {
        let on = click % 2 == 0;
        let response = if on {
            app.favorite(&fan, &slug).await
        } else {
            app.unfavorite(&fan, &slug).await
        };
        assert_eq!(response.status(), 200);
        let answered: Value = response.json().await.unwrap();
        let read = app.get_article_ok(&slug, Some(&fan)).await;
        for article in [&answered["article"], &read] {
            assert_eq!(article["favorited"], on, "click {click}");
            assert_eq!(article["favoritesCount"], i64::from(on), "click {click}");
        }
    }
    // The last click took it back: nothing stays counted, and no event stays due.
    app.settled().await;
    counted(&app, &slug, (0, 0, 0)).await;
    assert_eq!(app.favorite(&fan, &slug).await.status(), 200);
    counted(&app, &slug, (1, 1, 1)).await;
    // Counted means finished: the favorite documents carry no event any more.
    app.settled().await;
}

#[tokio::test]
async fn a_favoriter_reads_their_unfolded_clicks_on_another_instance_even_without_redis() {
    // No relay anywhere: the clicks stay unfolded, so only the click records can show them.
    let app = TestApp::spawn_with(|c| c.relay = false).await;
    let other = app.second_instance_with(|c| c.relay = false).await;
    let no_redis = app
        .second_instance_with(|c| {
            c.relay = false;
            c.redis_url = "redis://127.0.0.1:1".into();
            c.data_dir = c.data_dir.join("no-redis");
        })
        .await;
    let author = app.register("clicked").await;
    let fan = app.register("clicker").await;
    let slug = app.publish(&author, post("Click records")).await;
    for (click, on) in [true, false, true].into_iter().enumerate() {
        let response = if on {
            app.favorite(&fan, &slug).await
        } else {
            app.unfavorite(&fan, &slug).await
        };
        assert_eq!(response.status(), 200);
        // Another instance reads the click from Redis, one without Redis from MongoDB.
        for reader in [&app, &other, &no_redis] {
            let read = reader.get_article_ok(&slug, Some(&fan)).await;
            assert_eq!(read["favorited"], on, "click {click}");
            assert_eq!(read["favoritesCount"], i64::from(on), "click {click}");
        }
        // Nobody else sees an unfolded click.
        let anonymous = other.get_article_ok(&slug, None).await;
        assert_eq!(anonymous["favoritesCount"], 0, "click {click}");
    }
    let clicks = app
        .mongo()
        .collection::<mongodb::bson::Document>("favorite_clicks")
        .count_documents(mongodb::bson::doc! {})
        .await
        .unwrap();
    assert_eq!(
        clicks, 3,
        "each click is a document until the relay folds it"
    );
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
