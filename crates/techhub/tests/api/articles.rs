//! Articles and their comments beyond what the official RealWorld suite checks: slugs, tags,
//! bodies rendered and sanitised, owners only editing or deleting, optimistic versions, view
//! counts kept in Redis and flushed to MongoDB, and reading while Redis is down.

use serde_json::{json, Value};

use crate::helpers::{TestApp, TestUser};
use crate::routes::{expect_json, new_article, With};

/// Publishes an article with the body "Some body text" and returns it.
async fn create_article(app: &TestApp, user: &TestUser, title: &str, tags: &[&str]) -> Value {
    let post = new_article(title)
        .with("body", "Some body text")
        .with("tagList", json!(tags));
    app.create_article_ok(user, post).await
}

#[tokio::test]
async fn duplicate_titles_get_distinct_slugs_and_lists_leave_out_the_body() {
    let app = TestApp::spawn().await;
    let user = app.register("writer").await;
    let a = create_article(&app, &user, "Hello, World!", &["rust", "rust", " intro "]).await;
    let b = create_article(&app, &user, "Hello, World!", &[]).await;
    let (sa, sb) = (a["slug"].as_str().unwrap(), b["slug"].as_str().unwrap());
    assert_ne!(sa, sb);
    assert!(
        sa.starts_with("hello-world-") && sb.starts_with("hello-world-"),
        "{sa} {sb}"
    );
    assert_eq!(
        a["tagList"],
        json!(["intro", "rust"]),
        "trimmed, de-duplicated, sorted"
    );
    assert!(
        a["createdAt"].as_str().unwrap().ends_with('Z')
            && a["createdAt"].as_str().unwrap().contains('.')
    );

    let list = app.list_articles_as(&user, "author=writer").await;
    assert_eq!(list["articlesCount"], 2);
    for article in list["articles"].as_array().unwrap() {
        assert!(
            article.get("body").is_none(),
            "lists leave out body: {article}"
        );
        assert_eq!(article["author"]["username"], "writer");
    }
    assert_eq!(app.get_article_ok(sa, None).await["body"], "Some body text");
    // Tags are everyone's: counted from the index once it shows the posts.
    app.index_caught_up().await;
    assert_eq!(app.tags_ok().await, json!(["intro", "rust"]));
}

/// The article's `engagement.comments` as MongoDB holds it.
async fn comment_count(app: &TestApp, slug: &str) -> i64 {
    let post = app.post_document(slug).await;
    post.get_document("engagement")
        .unwrap()
        .get_i64("comments")
        .unwrap()
}

#[tokio::test]
async fn comment_counts_move_once_per_comment_whether_deleted_before_or_after_counting() {
    let app = TestApp::spawn().await;
    let owner = app.register("owner").await;
    let other = app.register("other").await;
    let slug = create_article(&app, &owner, "Counted", &[]).await["slug"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ids = Vec::new();
    for (user, body) in [(&owner, "one"), (&other, "two"), (&other, "three")] {
        let comment = expect_json(app.add_comment(user, &slug, body).await, 200, "comment").await;
        ids.push(comment["comment"]["id"].as_str().unwrap().to_string());
    }
    // Each comment carries its event until the relay counts it.
    app.settled().await;
    assert_eq!(comment_count(&app, &slug).await, 3);
    // A counted comment deleted takes the count down with it.
    assert_eq!(
        app.delete_comment(&other, &slug, &ids[1]).await.status(),
        204
    );
    assert_eq!(comment_count(&app, &slug).await, 2);
    // One deleted at once, counted or not yet, moves the count by nothing in the end.
    let quick = expect_json(app.add_comment(&owner, &slug, "gone").await, 200, "comment").await;
    let quick = quick["comment"]["id"].as_str().unwrap();
    assert_eq!(app.delete_comment(&owner, &slug, quick).await.status(), 204);
    app.settled().await;
    assert_eq!(comment_count(&app, &slug).await, 2);
    let article = app.get_article_ok(&slug, None).await;
    assert_eq!(article["engagement"]["comments"], 2);
    let listed = expect_json(
        app.get(&format!("/api/articles/{slug}/comments")).await,
        200,
        "comments",
    )
    .await;
    let bodies: Vec<&str> = listed["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["one", "three"]);
}

#[tokio::test]
async fn editing_someone_elses_article_or_comment_is_403() {
    let app = TestApp::spawn().await;
    let owner = app.register("owner").await;
    let other = app.register("other").await;
    let article = create_article(&app, &owner, "Mine", &[]).await;
    let slug = article["slug"].as_str().unwrap();

    let hijack = json!({ "body": "hijacked" });
    assert_eq!(app.update_article(&other, slug, hijack).await.status(), 403);
    assert_eq!(app.delete_article(&other, slug).await.status(), 403);
    let still = app.get_article_ok(slug, None).await;
    assert_eq!(still["body"], "Some body text");

    let comment: Value = app
        .add_comment(&owner, slug, "first!")
        .await
        .json()
        .await
        .unwrap();
    let id = comment["comment"]["id"].as_str().unwrap();
    assert_eq!(app.delete_comment(&other, slug, id).await.status(), 403);
    assert_eq!(app.delete_comment(&owner, slug, id).await.status(), 204);
    assert_eq!(app.delete_comment(&owner, slug, id).await.status(), 404);

    assert_eq!(app.delete_article(&owner, slug).await.status(), 204);
    assert_eq!(app.get_article(slug, None).await.status(), 404);
}

#[tokio::test]
async fn an_update_with_a_stale_version_gets_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let author = app.register("editor").await;
    let article = create_article(&app, &author, "Versioned", &[]).await;
    let slug = article["slug"].as_str().unwrap();
    assert_eq!(article["version"], 1);
    let first = json!({ "body": "first edit", "version": 1 });
    let first = app.update_article_ok(&author, slug, first).await;
    assert_eq!(first["version"], 2);
    let lost = json!({ "body": "lost update", "version": 1 });
    let stale = app.update_article(&author, slug, lost).await;
    let body = expect_json(stale, 409, "a stale version").await;
    assert_eq!(
        body["errors"]["version"],
        json!(["the article changed since you read it; the current version is 2"])
    );
    assert_eq!(app.get_article_ok(slug, None).await["body"], "first edit");
}

#[tokio::test]
async fn body_html_is_rendered_and_sanitised_while_the_body_is_kept_as_written() {
    let app = TestApp::spawn().await;
    let author = app.register("mischief").await;
    let evil =
        "# Hi\n\n<script>alert(1)</script>\n\n[x](javascript:alert(2))\n\n<img src=x onerror=alert(3)>";
    let created: Value = app
        .create_article(
            &author,
            json!({ "title": "Hi", "description": "d", "body": evil }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["article"]["body"], evil, "stored as written");
    let html = created["article"]["bodyHtml"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(html.contains("<h1>hi</h1>"), "{html}");
    for banned in ["<script", "alert(1)", "javascript:", "onerror"] {
        assert!(!html.contains(banned), "{banned} survived: {html}");
    }
    assert!(
        html.contains("<a rel=\"noopener noreferrer nofollow\">x</a>"),
        "the link stays, without its href: {html}"
    );
    let list = app.list_articles_ok("").await;
    assert!(
        list["articles"][0].get("bodyHtml").is_none(),
        "lists leave out bodies"
    );
    assert_eq!(created["article"]["estimatedReadTime"], 1);
    assert_eq!(created["article"]["metadata"]["seo"]["title"], "Hi");
    assert_eq!(
        created["article"]["engagement"],
        json!({ "views": 0, "likes": 0, "comments": 0, "bookmarks": 0 })
    );
}

#[tokio::test]
async fn views_are_counted_in_redis_and_flushed_to_mongodb_exactly() {
    let app = TestApp::spawn_with(|c| c.view_flush_secs = 0).await; // flushed by hand below
    let author = app.register("viewed").await;
    let article = create_article(&app, &author, "Read me", &[]).await;
    let slug = article["slug"].as_str().unwrap();
    // The post's created event drops its cached copy when the relay delivers it: on a loaded
    // machine that came after the reads below had cached it, and the read after the flush missed.
    app.settled().await;
    let reads = futures::future::join_all((0..25).map(|_| app.get_article(slug, None))).await;
    assert!(reads.iter().all(|r| r.status() == 200));
    let before = app.get_article_ok(slug, None).await;
    assert_eq!(before["engagement"]["views"], 0, "not flushed yet");

    let moved = techhub_sync::views::flush_views(&app.stores.redis, &app.stores.mongo)
        .await
        .unwrap();
    assert_eq!(moved, 26, "25 concurrent reads and the one above");
    // The flush leaves the cached article in place (the total is read beside it), so popular
    // posts are not all sent to MongoDB after every flush.
    let after = app.get_article(slug, None).await;
    assert_eq!(
        after.headers()["x-cache"],
        "hit",
        "still cached after the flush"
    );
    let after: Value = after.json().await.unwrap();
    assert_eq!(after["article"]["engagement"]["views"], 26);
    // MongoDB has the same total, and a read that loads the post from it again agrees.
    app.stores
        .redis
        .invalidate(&[techhub_cache::entries::keys::article(slug)])
        .await
        .unwrap();
    let reloaded = app.get_article(slug, None).await;
    assert_eq!(reloaded.headers()["x-cache"], "miss");
    let reloaded: Value = reloaded.json().await.unwrap();
    assert_eq!(reloaded["article"]["engagement"]["views"], 26);
    assert_eq!(
        techhub_sync::views::flush_views(&app.stores.redis, &app.stores.mongo)
            .await
            .unwrap(),
        2,
        "only the two reads since"
    );
    // Drafts read by their author are not counted.
    let private = new_article("Private").with("status", "draft");
    let d = app.create_article_ok(&author, private).await;
    app.get_article(d["slug"].as_str().unwrap(), Some(&author))
        .await;
    assert_eq!(
        techhub_sync::views::flush_views(&app.stores.redis, &app.stores.mongo)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn reading_an_article_works_while_redis_is_down() {
    let (proxy, app) = TestApp::spawn_behind_proxy(techhub_core::Store::Redis, |_| {}).await;
    let author = app.register("resilient").await;
    let article = create_article(&app, &author, "Still readable", &[]).await;
    proxy.set(crate::proxy::Mode::Refuse);
    let started = std::time::Instant::now();
    let read = app
        .get_article(article["slug"].as_str().unwrap(), None)
        .await;
    assert_eq!(read.status(), 200);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// Writing a post checks that the author's account is active, from its status cached in
/// Redis (one MySQL read per post was a fifth of the machine in the create-post benchmark):
/// an account no longer active, once its cached status is dropped (as its `user.updated`
/// event drops it), may not post, with a 403 that says why.
#[tokio::test]
async fn a_post_needs_an_active_account_whose_status_is_cached_until_dropped() {
    use sqlx::Connection;
    use techhub_cache::entries::keys;

    let app = TestApp::spawn().await;
    let author = app.register("status").await;
    // The registration's event drops the account's entry too: let it be delivered first.
    app.settled().await;
    create_article(&app, &author, "While active", &[]).await;
    let key = keys::account(author.id);
    let redis = &app.stores.redis;
    assert_eq!(
        redis.cached(&key).await.unwrap().as_deref(),
        Some("\"active\"")
    );

    let mut db = sqlx::MySqlConnection::connect(&app.dbs.config.mysql_url)
        .await
        .unwrap();
    sqlx::query("UPDATE users SET status = 'suspended' WHERE id = ?")
        .bind(author.id)
        .execute(&mut db)
        .await
        .unwrap();
    redis.invalidate(std::slice::from_ref(&key)).await.unwrap();
    let refused = app
        .create_article(&author, new_article("While suspended"))
        .await;
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["errors"]["permission"][0].as_str(),
        Some("your account is suspended")
    );
    // The user's `user.updated` event drops it too.
    let updated =
        techhub_core::events::EventPayload::UserUpdated(techhub_core::events::UserSnapshot {
            user_id: author.id,
            version: 2,
            username: "status".into(),
            email: author.email.clone(),
            bio: None,
            image: None,
            timezone: "UTC".into(),
            previous_username: None,
        });
    assert!(techhub_sync::consumers::CacheInvalidation::keys_for(&updated).contains(&key));
}
