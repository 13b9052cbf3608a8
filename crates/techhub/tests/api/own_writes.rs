//! Read your writes without waiting for the index: a write returns before any search index
//! shows it, and its writer's next lists, search and dashboard show it all the same, on the
//! instance that took the write and on one whose index has not seen it at all. Other readers
//! see it once that instance's index does.

use serde_json::{json, Value};

use crate::helpers::{TestApp, TestUser};
use crate::routes::{article_slugs, new_article, With};

/// The slugs of a list as `reader` sees it on `app`, and its count.
async fn listed(app: &TestApp, reader: &TestUser, query: &str) -> (Vec<String>, u64) {
    let list = app.list_articles_as(reader, query).await;
    (
        article_slugs(&list),
        list["articlesCount"].as_u64().unwrap(),
    )
}

/// The slugs `reader` finds searching `text` on `app`, and the count.
async fn found(app: &TestApp, reader: &TestUser, text: &str) -> (Vec<String>, u64) {
    let page = app.search_as(reader, &format!("q={text}")).await;
    let slugs = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["article"]["slug"].as_str().unwrap().to_string())
        .collect();
    (slugs, page["resultsCount"].as_u64().unwrap())
}

#[tokio::test]
async fn writers_read_their_writes_at_once_on_an_instance_whose_index_has_not_seen_them() {
    let app = TestApp::spawn().await;
    // Its index reads MongoDB when it starts and then only every ten minutes: it does not
    // see the writes below (nobody nudges it: they are made on `app`).
    let lagging = app
        .second_instance_with(|c| c.search_poll_ms = 600_000)
        .await;
    // Its first scan is over: from here on its index shows nothing new.
    lagging.index_caught_up().await;
    let author = app.register("rywauthor").await;
    let fan = app.register("rywfan").await;
    let older = app
        .publish(
            &author,
            new_article("Older quasar notes").with("tagList", json!(["quasar"])),
        )
        .await;
    let slug = app
        .publish(
            &author,
            new_article("Quasar field guide").with("tagList", json!(["quasar"])),
        )
        .await;

    // The writer, on the lagging instance: by tag, by author (their profile's list) and in
    // search, newest first, with the count, and on their dashboard.
    let both = vec![slug.clone(), older.clone()];
    assert_eq!(
        listed(&lagging, &author, "tag=quasar").await,
        (both.clone(), 2)
    );
    assert_eq!(
        listed(&lagging, &author, "author=rywauthor&limit=1&offset=1").await,
        (vec![older.clone()], 2)
    );
    let (hits, total) = found(&lagging, &author, "quasar").await;
    assert_eq!((hits.len(), total), (2, 2), "{hits:?}");
    let (hits, total) = found(&lagging, &author, "guide").await;
    assert_eq!((hits, total), (vec![slug.clone()], 1));
    let dashboard = lagging.dashboard_ok(&author).await.1;
    let content = &dashboard["content"];
    assert_eq!(
        content["recentPosts"][0]["slug"],
        slug.as_str(),
        "{dashboard}"
    );
    assert_eq!(content["totalPosts"], 2, "{dashboard}");
    // Their new tag is in the tag list they see there.
    let has = |tags: &Value, tag: &str| tags.as_array().unwrap().iter().any(|t| t == tag);
    assert!(has(&lagging.tags_as(&author).await, "quasar"));
    // Nobody else sees them there yet: that instance's index does not have them.
    assert!(!has(&lagging.tags_as(&fan).await, "quasar"));
    assert!(!has(&lagging.tags_ok().await, "quasar"));
    assert_eq!(listed(&lagging, &fan, "tag=quasar").await, (vec![], 0));
    assert_eq!(
        lagging.list_articles_ok("tag=quasar").await["articlesCount"],
        0
    );

    // A favorite: in the fan's favorites on the lagging instance at once, counted.
    assert_eq!(app.favorite(&fan, &slug).await.status(), 200);
    let liked = lagging.list_articles_as(&fan, "favorited=rywfan").await;
    assert_eq!(article_slugs(&liked), vec![slug.clone()]);
    assert_eq!(liked["articles"][0]["favoritesCount"], 1);
    assert_eq!(liked["articles"][0]["favorited"], true);

    // An edit that moves the post to another tag: out of the writer's old tag list, in the
    // new one.
    app.update_article_ok(&author, &slug, json!({ "tagList": ["pulsar"] }))
        .await;
    assert_eq!(
        listed(&lagging, &author, "tag=quasar").await,
        (vec![older.clone()], 1)
    );
    assert_eq!(
        listed(&lagging, &author, "tag=pulsar").await,
        (vec![slug.clone()], 1)
    );

    // A comment: on the article at once, on either instance.
    assert_eq!(
        app.add_comment(&fan, &slug, "Nice guide").await.status(),
        200
    );
    let comments: Value = lagging.list_comments(&slug).await.json().await.unwrap();
    assert_eq!(comments["comments"][0]["body"], "Nice guide");

    // A deletion: gone from the writer's lists and search at once.
    assert_eq!(app.delete_article(&author, &slug).await.status(), 204);
    assert_eq!(listed(&lagging, &author, "tag=pulsar").await, (vec![], 0));
    let (hits, _) = found(&lagging, &author, "guide").await;
    assert!(!hits.contains(&slug), "{hits:?}");
    // The fan's favorite of a deleted post is gone for them too once an index shows it; on
    // the instance that took the write, everyone sees all of it as soon as its index does.
    app.index_caught_up().await;
    assert_eq!(listed(&app, &fan, "favorited=rywfan").await, (vec![], 0));
    assert_eq!(
        app.list_articles_ok("tag=quasar").await["articlesCount"],
        1,
        "only the older post"
    );
}
