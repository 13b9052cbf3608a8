//! Lists and feeds: the feed of followed authors, following (not oneself), and article lists
//! read from the search index that still show each write at once.

use serde_json::json;

use crate::helpers::{TestApp, TestUser};
use crate::routes::{article_slugs, new_article, With};

/// The slugs of a list as `reader` sees it, and its count.
async fn listed(app: &TestApp, reader: &TestUser, query: &str) -> (Vec<String>, u64) {
    let list = app.list_articles_as(reader, query).await;
    (
        article_slugs(&list),
        list["articlesCount"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn the_feed_shows_followed_authors_only() {
    let app = TestApp::spawn().await;
    let reader = app.register("reader").await;
    let followed = app.register("followed").await;
    let stranger = app.register("stranger").await;
    let post = |title: &str| {
        new_article(title)
            .with("body", "Some body text")
            .with("tagList", json!([]))
    };
    app.publish(&followed, post("From a friend")).await;
    app.publish(&stranger, post("From a stranger")).await;
    // The reader is not the writer: they see the posts once the index does.
    app.index_caught_up().await;

    assert_eq!(app.feed_ok(&reader).await["articlesCount"], 0);
    let follow = app.follow_ok(&reader, "followed").await;
    assert_eq!(follow["following"], true);
    let feed = app.feed_ok(&reader).await;
    assert_eq!(feed["articlesCount"], 1);
    assert_eq!(feed["articles"][0]["title"], "From a friend");
    assert_eq!(feed["articles"][0]["author"]["following"], true);
    let me = app.follow(&reader, "reader").await;
    assert_eq!(me.status(), 422, "no following oneself");
    assert_eq!(app.get_profile("nobody", None).await.status(), 404);
}

/// Lists and counts come from the search index, which follows MongoDB a moment behind; a
/// write returns before the index shows it, and its writer's very next read, without waiting
/// or retrying, sees it all the same (see `own_writes.rs` for another instance). Other readers
/// see it once the index does.
#[tokio::test]
async fn lists_show_each_write_to_its_writer_at_once_and_to_everyone_once_indexed() {
    let app = TestApp::spawn().await;
    let author = app.register("lister").await;
    let fan = app.register("lumenfan").await;
    let mut slugs = Vec::new();
    for i in 0..3 {
        let part = new_article(&format!("Lumen part {i}"))
            .with("tagList", json!(["lumen", format!("part{i}")]));
        slugs.insert(0, app.publish(&author, part).await);
        let (page, count) = listed(&app, &author, "tag=lumen").await;
        assert_eq!((page, count), (slugs.clone(), i + 1), "after post {i}");
    }
    // Paging keeps the order, and the count is the whole match.
    assert_eq!(
        listed(&app, &author, "tag=lumen&limit=1&offset=1").await,
        (vec![slugs[1].clone()], 3)
    );
    assert_eq!(
        listed(&app, &author, "author=lister&limit=2").await,
        (slugs[..2].to_vec(), 3)
    );
    // Everyone, once the index shows the writes: the same lists, and the tag counts.
    app.index_caught_up().await;
    let anyone = app.list_articles_ok("tag=lumen").await;
    assert_eq!(
        (article_slugs(&anyone), &anyone["articlesCount"]),
        (slugs.clone(), &json!(3))
    );
    let tags = app.tags_ok().await;
    assert_eq!(tags[0], "lumen", "the most used tag first: {tags}");

    // An edit that drops the tag takes the post out of the tag's list at once.
    let retagged = json!({ "tagList": ["other"] });
    app.update_article_ok(&author, &slugs[0], retagged).await;
    assert_eq!(
        listed(&app, &author, "tag=lumen").await,
        (slugs[1..].to_vec(), 2)
    );

    // Favorites: listed at once, and gone at once when taken back.
    assert_eq!(app.favorite(&fan, &slugs[2]).await.status(), 200);
    assert_eq!(
        listed(&app, &fan, "favorited=lumenfan").await,
        (vec![slugs[2].clone()], 1)
    );
    assert_eq!(app.unfavorite(&fan, &slugs[2]).await.status(), 200);
    assert_eq!(listed(&app, &fan, "favorited=lumenfan").await, (vec![], 0));

    // A deleted post leaves the author's list and its count at once.
    assert_eq!(app.delete_article(&author, &slugs[1]).await.status(), 204);
    assert_eq!(
        listed(&app, &author, "author=lister").await,
        (vec![slugs[0].clone(), slugs[2].clone()], 2)
    );
    app.index_caught_up().await;
    assert_eq!(
        app.list_articles_ok("author=lister").await["articlesCount"],
        2
    );
    assert_eq!(app.tags_ok().await[0], "lumen");
}
