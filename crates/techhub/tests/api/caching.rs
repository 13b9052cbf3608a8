//! The Redis cache in front of the stores: published articles and profiles served from it
//! until a change drops them (viewer flags still per request), single flight (a crowd of misses
//! on one cold key makes one trip to the stores, on one instance or two), and a load claim left
//! by a dead instance delaying a miss by at most the wait, and loads overtaken by a change
//! caching nothing (the claim is the load's lease).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{eventually, TestApp, TestUser};
use crate::routes::{answer, new_article, x_cache, With};

/// `GET /api/articles/<slug>`: its status, `X-Cache` and the article.
async fn read_article(
    app: &TestApp,
    slug: &str,
    viewer: Option<&TestUser>,
) -> (u16, String, Value) {
    let r = app.get_article(slug, viewer).await;
    let (status, cache) = (r.status().as_u16(), x_cache(&r));
    let body: Value = r.json().await.unwrap();
    (status, cache, body["article"].clone())
}

/// `GET /api/profiles/<name>`: its status, `X-Cache` and body.
async fn profile(app: &TestApp, name: &str, viewer: Option<&TestUser>) -> (u16, String, Value) {
    answer(app.get_profile(name, viewer).await).await
}

/// Requests the dashboard `n` times at once on each of `apps`; all must answer 200.
async fn crowd(apps: &[&TestApp], user: &TestUser, n: usize) {
    let requests = apps.iter().flat_map(|app| {
        (0..n).map(move |_| async move {
            assert_eq!(app.dashboard(user).await.status(), 200);
        })
    });
    futures::future::join_all(requests).await;
}

#[tokio::test]
async fn a_published_article_is_served_from_the_cache_until_a_change_drops_it() {
    let app = TestApp::spawn().await;
    let author = app.register("writer").await;
    let reader = app.register("reader").await;
    let post = new_article("Cached post").with("tagList", json!(["rust"]));
    let slug = app.publish(&author, post).await;
    app.settled().await;
    let (_, first, _) = read_article(&app, &slug, None).await;
    let (_, second, article) = read_article(&app, &slug, None).await;
    assert_eq!((first.as_str(), second.as_str()), ("miss", "hit"));
    assert_eq!(article["favorited"], false);
    // Viewer flags are per request even on a hit, and the favoriter's count holds their
    // favorite at once, whether or not the cached copy does yet.
    assert_eq!(app.favorite(&reader, &slug).await.status(), 200);
    let (_, _, article) = read_article(&app, &slug, Some(&reader)).await;
    assert_eq!(
        (
            article["favorited"].as_bool(),
            article["favoritesCount"].as_i64()
        ),
        (Some(true), Some(1))
    );
    // Counting the favorite into the post drops the entry (the relay); after that the cache
    // serves hits again, counted, with the anonymous reader's own flags.
    eventually(Duration::from_secs(5), "a counted hit", || async {
        let (_, cache, article) = read_article(&app, &slug, None).await;
        assert_eq!(article["favorited"], false);
        (cache == "hit" && article["favoritesCount"] == 1).then_some(())
    })
    .await;
    // An edit drops it too.
    let retitled = json!({ "title": "Cached post, edited" });
    app.update_article_ok(&author, &slug, retitled).await;
    let (_, cache, article) = read_article(&app, &slug, None).await;
    assert_eq!(
        (cache.as_str(), article["title"].as_str()),
        ("miss", Some("Cached post, edited"))
    );
    // A comment is counted by the relay, which then refreshes the cached copy in place (one
    // that showed 0 would otherwise stay until it expires): the first read that shows the
    // count is a hit, neither dropped at the comment's delivery nor after its count.
    app.settled().await;
    let _ = read_article(&app, &slug, None).await;
    assert_eq!(read_article(&app, &slug, None).await.1, "hit");
    assert_eq!(app.add_comment(&reader, &slug, "c").await.status(), 200);
    let cache = eventually(Duration::from_secs(5), "the comment counted", || async {
        let (_, cache, article) = read_article(&app, &slug, None).await;
        (article["engagement"]["comments"] == 1).then_some(cache)
    })
    .await;
    assert_eq!(cache, "hit");
    // Drafts are never cached.
    let draft = new_article("Draft").with("status", "draft");
    let draft = app.publish(&author, draft).await;
    for _ in 0..2 {
        let r = app.get_article(&draft, Some(&author)).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-cache"], "miss");
    }
    assert_eq!(app.get_article(&draft, None).await.status(), 404);
    // A deleted post is gone at once, cached or not.
    let _ = read_article(&app, &slug, None).await;
    assert_eq!(app.delete_article(&author, &slug).await.status(), 204);
    assert_eq!(read_article(&app, &slug, None).await.0, 404);
}

#[tokio::test]
async fn profiles_are_cached_per_name_and_edits_and_renames_drop_them() {
    let app = TestApp::spawn().await;
    let ada = app.register("ada").await;
    let fan = app.register("fan").await;
    app.settled().await;

    let (status, cache, first) = profile(&app, "ada", None).await;
    assert_eq!((status, cache.as_str()), (200, "miss"));
    assert_eq!(first["profile"]["username"], "ada");
    assert_eq!(first["profile"]["following"], false);
    let (_, cache, _) = profile(&app, "ada", None).await;
    assert_eq!(cache, "hit");

    // `following` is the viewer's own, even when the profile comes from the cache.
    assert_eq!(app.follow(&fan, "ada").await.status(), 200);
    let (_, cache, seen) = profile(&app, "ada", Some(&fan)).await;
    assert_eq!(cache, "hit");
    assert_eq!(seen["profile"]["following"], true);
    assert_eq!(
        profile(&app, "ada", None).await.2["profile"]["following"],
        false
    );

    // Another spelling finds the same user (names compare case-insensitively) but is never
    // cached: only the exact name is, so a rename knows every key to drop.
    for _ in 0..2 {
        let (status, cache, other) = profile(&app, "ADA", None).await;
        assert_eq!((status, cache.as_str()), (200, "miss"));
        assert_eq!(other["profile"]["username"], "ada");
    }
    // Unknown names are not cached either (a registration would have to drop them).
    assert_eq!(profile(&app, "nobody", None).await.0, 404);
    for name in ["nobody", "ADA"] {
        let key = techhub_cache::entries::keys::profile(name);
        assert_eq!(app.stores.redis.cached(&key).await.unwrap(), None, "{name}");
    }

    // An edit shows at once.
    app.update_user_ok(&ada, json!({ "bio": "compilers" }))
        .await;
    let (_, cache, edited) = profile(&app, "ada", None).await;
    assert_eq!(cache, "miss");
    assert_eq!(edited["profile"]["bio"], "compilers");

    // A rename: the old name is gone at once, the new one answers.
    assert_eq!(profile(&app, "ada", None).await.1, "hit");
    app.update_user_ok(&ada, json!({ "username": "lovelace" }))
        .await;
    assert_eq!(profile(&app, "ada", None).await.0, 404);
    let (status, _, renamed) = profile(&app, "lovelace", None).await;
    assert_eq!(status, 200);
    assert_eq!(renamed["profile"]["bio"], "compilers");

    // The event tells every other instance (and the cache consumer) both names.
    use sqlx::Connection;
    let mut db = sqlx::MySqlConnection::connect(&app.dbs.config.mysql_url)
        .await
        .unwrap();
    let payload: String = sqlx::query_scalar(
        "SELECT CAST(payload AS CHAR) FROM outbox WHERE event_type = 'user.updated' \
         ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    let payload: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["username"], "lovelace");
    assert_eq!(payload["previous_username"], "ada");
}

#[tokio::test]
async fn a_hundred_concurrent_misses_on_one_cold_key_make_one_trip_to_the_stores() {
    let app = TestApp::spawn().await;
    let user = app.register("crowd").await;
    // Let the registration's events (which also drop this dashboard key) be delivered first.
    app.settled().await;
    let before = app.flights.loads();
    let requests = (0..100).map(|_| async {
        let r = app.dashboard(&user).await;
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["dashboard"]["account"]["username"].clone()
    });
    let names = futures::future::join_all(requests).await;
    assert!(names.iter().all(|n| n == "crowd"));
    assert_eq!(
        app.flights.loads() - before,
        1,
        "one load for 100 concurrent misses"
    );
    assert_eq!(app.dashboard_ok(&user).await.0, "hit");
}

#[tokio::test]
async fn a_hundred_misses_split_over_two_instances_make_one_trip_to_the_stores() {
    let app = TestApp::spawn().await;
    let second = app.second_instance().await;
    let user = app.register("crowd").await;
    app.settled().await;
    let before = app.flights.loads() + second.flights.loads();
    crowd(&[&app, &second], &user, 50).await;
    let loads = app.flights.loads() + second.flights.loads() - before;
    assert_eq!(loads, 1, "one load for 100 misses on two instances");
    // The claim was released: the next cold key loads at once.
    let (took, cache) = {
        let started = Instant::now();
        let (_, cache, _) = profile(&second, "crowd", None).await;
        (started.elapsed(), cache)
    };
    assert_eq!(cache, "miss");
    assert!(took < Duration::from_millis(500), "{took:?}");
}

#[tokio::test]
async fn a_claim_left_by_a_dead_instance_delays_a_miss_by_at_most_the_wait() {
    use techhub_cache::entries::keys;
    let app = TestApp::spawn().await;
    app.register("orphan").await;
    app.settled().await;
    // An instance claimed the key and died before loading it; the claim would last a minute.
    let key = keys::profile("orphan");
    assert!(app
        .stores
        .redis
        .claim_load(&key, "dead-instance", Duration::from_secs(60))
        .await
        .unwrap());
    let started = Instant::now();
    let (status, cache, body) = profile(&app, "orphan", None).await;
    let took = started.elapsed();
    assert_eq!((status, cache.as_str()), (200, "miss"));
    assert_eq!(body["profile"]["username"], "orphan");
    let wait = techhub_api::cached::WAIT;
    assert!(
        took >= wait && took < wait + Duration::from_millis(800),
        "waited {took:?}, the wait is {wait:?}"
    );
}

/// A load that read the stores before a write, and would cache after the writer dropped the
/// entry, caches nothing: the invalidation took its claim away. Without it, that stale copy
/// was served until it expired (a comment counted but shown as 0 for a minute).
#[tokio::test]
async fn a_load_overtaken_by_an_invalidation_caches_nothing() {
    use techhub_cache::aside::{self, Flights, Loaded};
    let app = TestApp::spawn().await;
    let redis = &app.stores.redis;
    let flights = Flights::<String>::default();
    let key = "cache:test:overtaken".to_string();
    let (json, hit) = aside::load(redis, &flights, &key, Duration::from_secs(60), || async {
        // The writer commits and drops the entry while this load is on its way back.
        redis.invalidate(std::slice::from_ref(&key)).await.unwrap();
        Ok::<_, String>(Loaded {
            json: "read before the write".into(),
            cacheable: true,
        })
    })
    .await
    .unwrap();
    assert_eq!((json.as_str(), hit), ("read before the write", false));
    assert_eq!(
        redis.cached(&key).await.unwrap(),
        None,
        "nothing stale cached"
    );
    // Undisturbed, the next load caches, and the one after hits.
    let fresh = || async {
        Ok::<_, String>(Loaded {
            json: "after the write".into(),
            cacheable: true,
        })
    };
    let ttl = Duration::from_secs(60);
    let first = aside::load(redis, &flights, &key, ttl, fresh)
        .await
        .unwrap();
    let second = aside::load(redis, &flights, &key, ttl, fresh)
        .await
        .unwrap();
    assert_eq!(
        (first, second),
        (
            ("after the write".to_string(), false),
            ("after the write".to_string(), true)
        )
    );
    assert_eq!(flights.loads(), 2);
    // A content write drops its entries in the round trip that records it for its writer;
    // the claims go with them there too.
    assert!(redis.claim_load(&key, "a loader", ttl).await.unwrap());
    let stale = std::slice::from_ref(&key);
    redis
        .record_own_write(1, "post", 1, None, stale)
        .await
        .unwrap();
    assert_eq!(redis.cached(&key).await.unwrap(), None);
    assert!(
        redis
            .claim_load(&key, "the next loader", ttl)
            .await
            .unwrap(),
        "the claim went with the entry"
    );
}

/// A batch fill (a list's missing articles or authors) leases its keys before reading: it
/// caches only those no invalidation dropped meanwhile and no other loader had claimed, and
/// gives up every lease it took.
#[tokio::test]
async fn a_batch_fill_caches_only_the_entries_whose_lease_held() {
    let app = TestApp::spawn().await;
    let redis = &app.stores.redis;
    let ttl = Duration::from_secs(60);
    let [changed, kept, claimed] =
        ["changed", "kept", "claimed"].map(|k| format!("cache:test:{k}"));
    assert!(redis
        .claim_load(&claimed, "another loader", ttl)
        .await
        .unwrap());
    let keys = [changed.clone(), kept.clone(), claimed.clone()];
    let lease = redis.lease_many(&keys, ttl).await.unwrap();
    assert_eq!(lease.keys(), [changed.clone(), kept.clone()]);
    redis
        .invalidate(std::slice::from_ref(&changed))
        .await
        .unwrap();
    let entries: Vec<(String, String)> = keys
        .iter()
        .map(|k| (k.clone(), format!("{k} as read")))
        .collect();
    assert_eq!(redis.cache_leased(&lease, &entries, ttl).await.unwrap(), 1);
    let cached = redis.cached_many(&keys).await.unwrap();
    assert_eq!(cached, [None, Some(format!("{kept} as read")), None]);
    // Its leases are given up; the other loader's claim is left alone.
    let again = redis.lease_many(&keys, ttl).await.unwrap();
    assert_eq!(again.keys(), [changed, kept]);
}

/// The article cache's entry for `slug`, which must be there.
async fn cached_article(app: &TestApp, slug: &str) -> Value {
    let key = techhub_cache::entries::keys::article(slug);
    let json = app.stores.redis.cached(&key).await.unwrap().unwrap();
    serde_json::from_str(&json).unwrap()
}

/// Once the relay has counted comments or favorites, their posts' cached articles are read
/// back from MongoDB in one read and cached in place, rendered bodies kept: only entries that
/// are cached, and one whose post is no longer published under its slug is dropped.
#[tokio::test]
async fn counted_posts_cached_articles_are_refreshed_in_place_and_gone_ones_dropped() {
    use mongodb::bson::{doc, oid::ObjectId, Document};
    use techhub_cache::entries::keys;

    let app = TestApp::spawn().await;
    let author = app.register("counted").await;
    let cached = app.publish(&author, new_article("Cached")).await;
    let cold = app.publish(&author, new_article("Cold")).await;
    let gone = app.publish(&author, new_article("Gone")).await;
    app.settled().await;
    for slug in [&cached, &gone] {
        let _ = read_article(&app, slug, None).await;
        assert_eq!(read_article(&app, slug, None).await.1, "hit");
    }
    let posts = app.mongo().collection::<Document>("posts");
    let mut counted = Vec::new();
    for slug in [&cached, &cold, &gone] {
        let post = posts
            .find_one(doc! { "slug": slug })
            .await
            .unwrap()
            .unwrap();
        let id: ObjectId = post.get_object_id("_id").unwrap();
        posts
            .update_one(
                doc! { "_id": id },
                doc! { "$inc": { "engagement.comments": 7_i64 } },
            )
            .await
            .unwrap();
        counted.push((id, slug.clone()));
    }
    posts
        .update_one(
            doc! { "slug": &gone },
            doc! { "$set": { "status": "draft" } },
        )
        .await
        .unwrap();
    let before = cached_article(&app, &cached).await;

    let refreshed =
        techhub_api::articles::refresh_counted(&app.stores.redis, &app.stores.mongo, &counted)
            .await
            .unwrap();
    assert_eq!(refreshed, 1);
    let (_, cache, article) = read_article(&app, &cached, None).await;
    assert_eq!(cache, "hit");
    assert_eq!(article["engagement"]["comments"], 7);
    let after = cached_article(&app, &cached).await;
    assert_eq!(after["body_html"], before["body_html"]);
    let redis = &app.stores.redis;
    assert_eq!(redis.cached(&keys::article(&cold)).await.unwrap(), None);
    assert_eq!(redis.cached(&keys::article(&gone)).await.unwrap(), None);
    // Every lease it took is given up.
    let keys: Vec<String> = counted.iter().map(|(_, s)| keys::article(s)).collect();
    assert_eq!(
        redis
            .lease_many(&keys, Duration::from_secs(5))
            .await
            .unwrap()
            .keys(),
        keys
    );
}

#[tokio::test]
async fn a_readers_follows_and_bookmarks_are_cached_and_their_own_changes_show_at_once_anywhere() {
    let app = TestApp::spawn().await;
    let second = app.second_instance().await;
    let author = app.register("followee").await;
    let reader = app.register("follower").await;
    let slug = app
        .publish(&author, new_article("Flags").with("tagList", json!([])))
        .await;
    app.settled().await;
    let key = techhub_cache::entries::keys::viewer(reader.id);
    let cached = || async { app.stores.redis.cached(&key).await.unwrap() };
    // The first signed-in read caches the reader's (empty) follows and bookmarks.
    let (_, _, article) = read_article(&app, &slug, Some(&reader)).await;
    assert_eq!(article["author"]["following"], false);
    assert_eq!(article["bookmarked"], false);
    assert!(cached().await.is_some(), "the reader's flags are cached");
    // Following and bookmarking on one instance: the next read on the other shows both.
    app.follow_ok(&reader, "followee").await;
    assert_eq!(app.bookmark(&reader, &slug).await.status(), 200);
    let (_, _, article) = read_article(&second, &slug, Some(&reader)).await;
    assert_eq!(article["author"]["following"], true);
    assert_eq!(article["bookmarked"], true);
    // And taking them back.
    assert_eq!(app.unbookmark(&reader, &slug).await.status(), 200);
    let (_, _, article) = read_article(&second, &slug, Some(&reader)).await;
    assert_eq!(article["bookmarked"], false);
    assert_eq!(article["author"]["following"], true);
}
