//! The RealWorld content API beyond what the official suite checks.

use serde_json::{json, Value};

use crate::helpers::{TestApp, TestUser};

async fn create_article(app: &TestApp, user: &TestUser, title: &str, tags: &[&str]) -> Value {
    let response = app
        .post(
            "/api/articles",
            json!({ "article": { "title": title, "description": "d", "body": "Some body text", "tagList": tags } }),
            Some(&user.token),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["article"].clone()
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

    let list: Value = app
        .get("/api/articles?author=writer")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["articlesCount"], 2);
    for article in list["articles"].as_array().unwrap() {
        assert!(
            article.get("body").is_none(),
            "lists leave out body: {article}"
        );
        assert_eq!(article["author"]["username"], "writer");
    }
    let one: Value = app
        .get(&format!("/api/articles/{sa}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["article"]["body"], "Some body text");
    let tags: Value = app.get("/api/tags").await.json().await.unwrap();
    assert_eq!(tags["tags"], json!(["intro", "rust"]));
}

#[tokio::test]
async fn editing_someone_elses_article_or_comment_is_403() {
    let app = TestApp::spawn().await;
    let owner = app.register("owner").await;
    let other = app.register("other").await;
    let article = create_article(&app, &owner, "Mine", &[]).await;
    let slug = article["slug"].as_str().unwrap();

    let edit = app
        .put(
            &format!("/api/articles/{slug}"),
            json!({ "article": { "body": "hijacked" } }),
            Some(&other.token),
        )
        .await;
    assert_eq!(edit.status(), 403);
    let delete = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/articles/{slug}"),
            None,
            Some(&other.token),
        )
        .await;
    assert_eq!(delete.status(), 403);
    let still: Value = app
        .get(&format!("/api/articles/{slug}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still["article"]["body"], "Some body text");

    let comment: Value = app
        .post(
            &format!("/api/articles/{slug}/comments"),
            json!({ "comment": { "body": "first!" } }),
            Some(&owner.token),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = comment["comment"]["id"].as_str().unwrap();
    let path = format!("/api/articles/{slug}/comments/{id}");
    assert_eq!(
        app.send(reqwest::Method::DELETE, &path, None, Some(&other.token))
            .await
            .status(),
        403
    );
    assert_eq!(
        app.send(reqwest::Method::DELETE, &path, None, Some(&owner.token))
            .await
            .status(),
        204
    );
    assert_eq!(
        app.send(reqwest::Method::DELETE, &path, None, Some(&owner.token))
            .await
            .status(),
        404
    );

    assert_eq!(
        app.send(
            reqwest::Method::DELETE,
            &format!("/api/articles/{slug}"),
            None,
            Some(&owner.token)
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        app.get(&format!("/api/articles/{slug}")).await.status(),
        404
    );
}

#[tokio::test]
async fn a_hundred_concurrent_favorites_count_exactly_and_unfavorites_bring_it_back_to_zero() {
    let app = TestApp::spawn().await;
    let author = app.register("popular").await;
    let article = create_article(&app, &author, "Everyone likes this", &[]).await;
    let slug = article["slug"].as_str().unwrap().to_string();
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
async fn the_feed_shows_followed_authors_only() {
    let app = TestApp::spawn().await;
    let reader = app.register("reader").await;
    let followed = app.register("followed").await;
    let stranger = app.register("stranger").await;
    create_article(&app, &followed, "From a friend", &[]).await;
    create_article(&app, &stranger, "From a stranger", &[]).await;

    let empty: Value = app
        .get_auth("/api/articles/feed", &reader.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["articlesCount"], 0);
    let follow: Value = app
        .post(
            "/api/profiles/followed/follow",
            json!({}),
            Some(&reader.token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(follow["profile"]["following"], true);
    let feed: Value = app
        .get_auth("/api/articles/feed", &reader.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(feed["articlesCount"], 1);
    assert_eq!(feed["articles"][0]["title"], "From a friend");
    assert_eq!(feed["articles"][0]["author"]["following"], true);
    let me = app
        .post(
            "/api/profiles/reader/follow",
            json!({}),
            Some(&reader.token),
        )
        .await;
    assert_eq!(me.status(), 422, "no following oneself");
    assert_eq!(app.get("/api/profiles/nobody").await.status(), 404);
}

/// `favoritesCount` as the API shows it, `engagement.likes` and the length of `favoritedBy`
/// as MongoDB holds them.
async fn favorite_counts(app: &TestApp, slug: &str) -> (i64, i64, i64) {
    let a: Value = app
        .get(&format!("/api/articles/{slug}"))
        .await
        .json()
        .await
        .unwrap();
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
    (
        a["article"]["favoritesCount"].as_i64().unwrap(),
        likes,
        fans,
    )
}

async fn draft(app: &TestApp, user: &TestUser, title: &str) -> reqwest::Response {
    app.post(
        "/api/articles",
        json!({ "article": { "title": title, "description": "d", "body": "b", "status": "draft" } }),
        Some(&user.token),
    )
    .await
}

#[tokio::test]
async fn a_draft_never_appears_in_lists_or_feeds_until_published() {
    let app = TestApp::spawn().await;
    let author = app.register("drafter").await;
    let fan = app.register("fan").await;
    app.post("/api/profiles/drafter/follow", json!({}), Some(&fan.token))
        .await;
    let created: Value = draft(&app, &author, "Work in progress")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["article"]["status"], "draft");
    assert!(created["article"]["publishedAt"].is_null());
    let slug = created["article"]["slug"].as_str().unwrap().to_string();

    let all: Value = app.get("/api/articles").await.json().await.unwrap();
    assert_eq!(all["articlesCount"], 0);
    let by_author: Value = app
        .get("/api/articles?author=drafter")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_author["articlesCount"], 0);
    let feed: Value = app
        .get_auth("/api/articles/feed", &fan.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(feed["articlesCount"], 0);
    assert_eq!(
        app.get(&format!("/api/articles/{slug}")).await.status(),
        404,
        "hidden from others"
    );
    assert_eq!(
        app.get_auth(&format!("/api/articles/{slug}"), &author.token)
            .await
            .status(),
        200,
        "the author sees it"
    );
    let drafts: Value = app
        .get_auth("/api/user/drafts", &author.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(drafts["articlesCount"], 1);
    assert_eq!(drafts["articles"][0]["slug"], slug.as_str());

    let published: Value = app
        .put(
            &format!("/api/articles/{slug}"),
            json!({ "article": { "status": "published" } }),
            Some(&author.token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(published["article"]["status"], "published");
    assert!(published["article"]["publishedAt"].as_str().is_some());
    let feed: Value = app
        .get_auth("/api/articles/feed", &fan.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(feed["articlesCount"], 1);
    let drafts: Value = app
        .get_auth("/api/user/drafts", &author.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(drafts["articlesCount"], 0);
}

#[tokio::test]
async fn the_free_plan_allows_five_drafts_then_403_with_the_reason() {
    let app = TestApp::spawn().await;
    let author = app.register("prolific").await;
    for i in 0..5 {
        assert_eq!(
            draft(&app, &author, &format!("Draft {i}")).await.status(),
            201
        );
    }
    let sixth = draft(&app, &author, "One too many").await;
    assert_eq!(sixth.status(), 403);
    let body: Value = sixth.json().await.unwrap();
    assert_eq!(
        body["errors"]["permission"],
        json!(["the free plan allows 5 drafts; publish or delete one, or upgrade"])
    );
    // Publishing is not limited.
    let published = app
        .post(
            "/api/articles",
            json!({ "article": { "title": "Out now", "description": "d", "body": "b" } }),
            Some(&author.token),
        )
        .await;
    assert_eq!(published.status(), 201);
}

#[tokio::test]
async fn an_update_with_a_stale_version_gets_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let author = app.register("editor").await;
    let article = create_article(&app, &author, "Versioned", &[]).await;
    let slug = article["slug"].as_str().unwrap();
    assert_eq!(article["version"], 1);
    let path = format!("/api/articles/{slug}");
    let first = app
        .put(
            &path,
            json!({ "article": { "body": "first edit", "version": 1 } }),
            Some(&author.token),
        )
        .await;
    assert_eq!(first.status(), 200);
    assert_eq!(
        first.json::<Value>().await.unwrap()["article"]["version"],
        2
    );
    let stale = app
        .put(
            &path,
            json!({ "article": { "body": "lost update", "version": 1 } }),
            Some(&author.token),
        )
        .await;
    assert_eq!(stale.status(), 409);
    let body: Value = stale.json().await.unwrap();
    assert_eq!(
        body["errors"]["version"],
        json!(["the article changed since you read it; the current version is 2"])
    );
    let now: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(now["article"]["body"], "first edit");
}

#[tokio::test]
async fn body_html_is_rendered_and_sanitised_while_the_body_is_kept_as_written() {
    let app = TestApp::spawn().await;
    let author = app.register("mischief").await;
    let evil =
        "# Hi\n\n<script>alert(1)</script>\n\n[x](javascript:alert(2))\n\n<img src=x onerror=alert(3)>";
    let created: Value = app
        .post(
            "/api/articles",
            json!({ "article": { "title": "Hi", "description": "d", "body": evil } }),
            Some(&author.token),
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
    let list: Value = app.get("/api/articles").await.json().await.unwrap();
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
async fn bookmarks_are_listed_per_user_and_counted_exactly() {
    let app = TestApp::spawn().await;
    let author = app.register("bookwriter").await;
    let reader = app.register("bookreader").await;
    let first = create_article(&app, &author, "First", &[]).await;
    let second = create_article(&app, &author, "Second", &[]).await;
    let (s1, s2) = (
        first["slug"].as_str().unwrap(),
        second["slug"].as_str().unwrap(),
    );

    for slug in [s1, s2, s1] {
        let response = app
            .post(
                &format!("/api/articles/{slug}/bookmark"),
                json!({}),
                Some(&reader.token),
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["article"]["bookmarked"], true);
        assert_eq!(
            body["article"]["engagement"]["bookmarks"], 1,
            "bookmarking twice counts once"
        );
    }
    let mine: Value = app
        .get_auth("/api/user/bookmarks", &reader.token)
        .await
        .json()
        .await
        .unwrap();
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
    let theirs: Value = app
        .get_auth("/api/user/bookmarks", &author.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["articlesCount"], 0);

    // Many readers at once: the counter matches the number of readers exactly.
    let tokens = app.quick_tokens("bm", 30).await;
    let path = format!("/api/articles/{s2}/bookmark");
    let all = app.send_all(reqwest::Method::POST, &path, &tokens).await;
    assert!(all.iter().all(|r| r.status() == 200));
    let now: Value = app
        .get(&format!("/api/articles/{s2}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["article"]["engagement"]["bookmarks"], 31);

    let removed: Value = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/articles/{s1}/bookmark"),
            None,
            Some(&reader.token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(removed["article"]["bookmarked"], false);
    assert_eq!(removed["article"]["engagement"]["bookmarks"], 0);
    let draft_slug = draft(&app, &author, "Not yet")
        .await
        .json::<Value>()
        .await
        .unwrap()["article"]["slug"]
        .clone();
    let on_draft = app
        .post(
            &format!("/api/articles/{}/bookmark", draft_slug.as_str().unwrap()),
            json!({}),
            Some(&reader.token),
        )
        .await;
    assert_eq!(on_draft.status(), 404, "drafts cannot be bookmarked");
}

#[tokio::test]
async fn views_are_counted_in_redis_and_flushed_to_mongodb_exactly() {
    let app = TestApp::spawn_with(|c| c.view_flush_secs = 0).await; // flushed by hand below
    let author = app.register("viewed").await;
    let article = create_article(&app, &author, "Read me", &[]).await;
    let path = format!("/api/articles/{}", article["slug"].as_str().unwrap());
    let reads = futures::future::join_all((0..25).map(|_| app.get(&path))).await;
    assert!(reads.iter().all(|r| r.status() == 200));
    let before: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(
        before["article"]["engagement"]["views"], 0,
        "not flushed yet"
    );

    let moved = techhub::flush_views(&app.stores).await.unwrap();
    assert_eq!(moved, 26, "25 concurrent reads and the one above");
    // The flush leaves the cached article in place (the total is read beside it), so popular
    // posts are not all sent to MongoDB after every flush.
    let after = app.get(&path).await;
    assert_eq!(
        after.headers()["x-cache"],
        "hit",
        "still cached after the flush"
    );
    let after: Value = after.json().await.unwrap();
    assert_eq!(after["article"]["engagement"]["views"], 26);
    // MongoDB has the same total, and a read that loads the post from it again agrees.
    let slug = article["slug"].as_str().unwrap();
    app.stores
        .redis
        .invalidate(&[techhub_cache::entries::keys::article(slug)])
        .await
        .unwrap();
    let reloaded = app.get(&path).await;
    assert_eq!(reloaded.headers()["x-cache"], "miss");
    let reloaded: Value = reloaded.json().await.unwrap();
    assert_eq!(reloaded["article"]["engagement"]["views"], 26);
    assert_eq!(
        techhub::flush_views(&app.stores).await.unwrap(),
        2,
        "only the two reads since"
    );
    // Drafts read by their author are not counted.
    let d: Value = draft(&app, &author, "Private").await.json().await.unwrap();
    app.get_auth(
        &format!("/api/articles/{}", d["article"]["slug"].as_str().unwrap()),
        &author.token,
    )
    .await;
    assert_eq!(techhub::flush_views(&app.stores).await.unwrap(), 0);
}

#[tokio::test]
async fn reading_an_article_works_while_redis_is_down() {
    let defaults = techhub_core::Config::from_env().unwrap();
    let proxy = crate::proxy::TcpProxy::in_front_of(&defaults.redis_url).await;
    let app = TestApp::spawn_with(|c| c.redis_url = proxy.url_for(&c.redis_url)).await;
    let author = app.register("resilient").await;
    let article = create_article(&app, &author, "Still readable", &[]).await;
    proxy.set(crate::proxy::Mode::Refuse);
    let started = std::time::Instant::now();
    let read = app
        .get(&format!(
            "/api/articles/{}",
            article["slug"].as_str().unwrap()
        ))
        .await;
    assert_eq!(read.status(), 200);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
