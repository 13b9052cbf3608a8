//! The schemas really constrain data in each store: uniqueness, CHECKs, foreign keys,
//! `$jsonSchema` validators and unique indexes, not only in application code.

use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use sqlx::Row;
use techhub_content::schema::{
    COMMENTS, FAVORITES, FAVORITE_CLICKS, NOTIFICATIONS, POSTS, USER_PROFILES,
};

use crate::helpers::{mongo_collection_names, mongo_index_names, mongo_indexes, TestApp};

async fn insert_user(app: &TestApp, email: &str, username: &str) -> Result<u64, sqlx::Error> {
    sqlx::query("INSERT INTO users (email, username, password_hash) VALUES (?, ?, 'x')")
        .bind(email)
        .bind(username)
        .execute(app.stores.mysql.pool())
        .await
        .map(|r| r.last_insert_id())
}

fn db_error(e: sqlx::Error) -> Box<dyn sqlx::error::DatabaseError> {
    match e {
        sqlx::Error::Database(db) => db,
        other => panic!("expected a database error, got {other:?}"),
    }
}

#[tokio::test]
async fn mysql_rejects_a_duplicate_email() {
    let app = TestApp::spawn().await;
    insert_user(&app, "ada@example.com", "ada").await.unwrap();
    let err = db_error(
        insert_user(&app, "ada@example.com", "ada2")
            .await
            .unwrap_err(),
    );
    assert!(err.is_unique_violation(), "{err}");
    assert!(
        err.message().contains("uq_users_email"),
        "{}",
        err.message()
    );
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(app.stores.mysql.pool())
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn mysql_rejects_a_duplicate_username() {
    let app = TestApp::spawn().await;
    insert_user(&app, "a@example.com", "grace").await.unwrap();
    let err = db_error(
        insert_user(&app, "b@example.com", "grace")
            .await
            .unwrap_err(),
    );
    assert!(err.is_unique_violation(), "{err}");
    assert!(
        err.message().contains("uq_users_username"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn mysql_enforces_enums_checks_and_foreign_keys() {
    let app = TestApp::spawn().await;
    let pool = app.stores.mysql.pool();
    let user = insert_user(&app, "c@example.com", "carol").await.unwrap();

    // Money is DECIMAL and exact.
    sqlx::query("INSERT INTO subscriptions (user_id, plan_type, price) VALUES (?, 'pro', 19.99)")
        .bind(user)
        .execute(pool)
        .await
        .unwrap();
    let price: String =
        sqlx::query_scalar("SELECT CAST(price AS CHAR) FROM subscriptions WHERE user_id = ?")
            .bind(user)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(price, "19.99");

    let negative = sqlx::query("INSERT INTO subscriptions (user_id, price) VALUES (?, -1.00)")
        .bind(user)
        .execute(pool)
        .await
        .unwrap_err();
    assert!(db_error(negative)
        .message()
        .contains("chk_subscriptions_price"));

    // An unknown plan is rejected (strict SQL mode turns the ENUM truncation into an error).
    let unknown_plan =
        sqlx::query("INSERT INTO subscriptions (user_id, plan_type) VALUES (?, 'platinum')")
            .bind(user)
            .execute(pool)
            .await
            .unwrap_err();
    assert!(db_error(unknown_plan).message().contains("plan_type"));

    let orphan = sqlx::query("INSERT INTO subscriptions (user_id) VALUES (987654)")
        .execute(pool)
        .await
        .unwrap_err();
    assert!(db_error(orphan).is_foreign_key_violation());

    let bad_total = sqlx::query(
        "INSERT INTO orders (order_number, user_id, description, subtotal, tax, total) VALUES ('O-1', ?, 'pro', 10.00, 1.00, 12.00)",
    )
    .bind(user)
    .execute(pool)
    .await
    .unwrap_err();
    assert!(db_error(bad_total).message().contains("chk_orders_amounts"));

    sqlx::query("INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, payload) VALUES ('e1', 'user', '1', 'user.registered', '{}')")
        .execute(pool)
        .await
        .unwrap();
    let dup_event = sqlx::query("INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, payload) VALUES ('e1', 'user', '1', 'user.registered', '{}')")
        .execute(pool)
        .await
        .unwrap_err();
    assert!(db_error(dup_event).is_unique_violation());
}

#[tokio::test]
async fn postgres_rejects_a_check_violation() {
    let app = TestApp::spawn().await;
    let pool = app.stores.postgres.pool();
    let insert = |rating: i16| {
        sqlx::query(
            "INSERT INTO learning_sessions (user_id, content_type, technologies, duration_minutes, rating, started_at) \
             VALUES (1, 'tutorial', ARRAY['rust'], 30, $1, now())",
        )
        .bind(rating)
        .execute(pool)
    };
    insert(5).await.unwrap();
    let err = db_error(insert(6).await.unwrap_err());
    assert_eq!(
        err.code().as_deref(),
        Some("23514"),
        "check_violation: {err}"
    );
    assert_eq!(err.constraint(), Some("learning_sessions_rating_check"));

    let ended_before_start = sqlx::query(
        "INSERT INTO learning_sessions (user_id, content_type, duration_minutes, started_at, ended_at) \
         VALUES (1, 'video', 10, now(), now() - interval '1 hour')",
    )
    .execute(pool)
    .await
    .unwrap_err();
    assert_eq!(
        db_error(ended_before_start).constraint(),
        Some("chk_learning_sessions_time")
    );

    let bad_score = sqlx::query(
        "INSERT INTO skill_assessments (user_id, skill_area, score) VALUES (1, 'rust', 101)",
    )
    .execute(pool)
    .await
    .unwrap_err();
    assert_eq!(
        db_error(bad_score).constraint(),
        Some("skill_assessments_score_check")
    );

    let milestones_not_array = sqlx::query(
        "INSERT INTO learning_paths (user_id, title, milestones) VALUES (1, 'Rust', '{}'::jsonb)",
    )
    .execute(pool)
    .await
    .unwrap_err();
    assert_eq!(
        db_error(milestones_not_array).constraint(),
        Some("learning_paths_milestones_check")
    );

    sqlx::query("INSERT INTO user_analytics (user_id) VALUES (1)")
        .execute(pool)
        .await
        .unwrap();
    let dup = db_error(
        sqlx::query("INSERT INTO user_analytics (user_id) VALUES (1)")
            .execute(pool)
            .await
            .unwrap_err(),
    );
    assert!(dup.is_unique_violation());
}

#[tokio::test]
async fn postgres_has_its_extensions_gin_indexes_and_the_insights_view() {
    let app = TestApp::spawn().await;
    let pool = app.stores.postgres.pool();
    let extensions: Vec<String> =
        sqlx::query_scalar("SELECT extname::text FROM pg_extension WHERE extname IN ('uuid-ossp', 'pg_trgm') ORDER BY 1")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(extensions, ["pg_trgm", "uuid-ossp"]);

    let gin: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() AND indexdef LIKE '%USING gin%' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for expected in [
        "idx_learning_paths_milestones",
        "idx_learning_paths_title_trgm",
        "idx_learning_sessions_technologies",
        "idx_user_analytics_learning_progress",
        "idx_user_analytics_skill_metrics",
    ] {
        assert!(
            gin.iter().any(|g| g == expected),
            "{expected} missing from {gin:?}"
        );
    }

    sqlx::query(
        "INSERT INTO user_analytics (user_id, username, total_points) VALUES (7, 'ada', 40)",
    )
    .execute(pool)
    .await
    .unwrap();
    for (techs, minutes, days_ago) in [
        (vec!["rust", "sql"], 30, 1),
        (vec!["rust"], 45, 2),
        (vec!["go"], 20, 40),
    ] {
        sqlx::query(
            "INSERT INTO learning_sessions (user_id, content_type, technologies, duration_minutes, rating, started_at) \
             VALUES (7, 'tutorial', $1, $2, 4, now() - make_interval(days => $3))",
        )
        .bind(techs)
        .bind(minutes)
        .bind(days_ago)
        .execute(pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO learning_paths (user_id, title, status) VALUES (7, 'Rust', 'active'), (7, 'SQL', 'completed')",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO skill_assessments (user_id, skill_area, score, taken_at) VALUES (7, 'rust', 50, now() - interval '1 day'), (7, 'rust', 80, now()), (7, 'sql', 60, now())")
        .execute(pool)
        .await
        .unwrap();

    let row = sqlx::query("SELECT * FROM user_learning_insights WHERE user_id = 7")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(row.get::<i32, _>("total_points"), 40);
    assert_eq!(
        row.get::<i32, _>("sessions_30d"),
        2,
        "the 40-day-old session is outside the window"
    );
    assert_eq!(row.get::<i32, _>("minutes_30d"), 75);
    assert_eq!(
        row.get::<Vec<String>, _>("top_technologies"),
        ["rust", "sql"]
    );
    assert_eq!(row.get::<i32, _>("active_paths"), 1);
    assert_eq!(row.get::<i32, _>("completed_paths"), 1);
    assert_eq!(row.get::<i32, _>("skill_areas_assessed"), 2);
    // Latest score per area: rust 80, sql 60.
    let avg: f64 = sqlx::query_scalar(
        "SELECT avg_assessment_score::float8 FROM user_learning_insights WHERE user_id = 7",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(avg, 70.0);
}

fn valid_post(slug: &str) -> Document {
    let now = DateTime::now();
    doc! {
        "slug": slug,
        "title": "How to train your dragon",
        "description": "Ever wonder how?",
        "body": "You have to believe",
        "authorId": 1_i64,
        "status": "published",
        "tags": ["dragons", "training"],
        "categories": ["tutorial"],
        "difficulty": "beginner",
        "estimatedReadTime": 1,
        "metadata": { "seo": { "title": "How to train your dragon", "description": "Ever wonder how?" } },
        "engagement": { "views": 0, "likes": 0, "comments": 0, "bookmarks": 0 },
        "favoritedBy": [],
        "publishedAt": now,
        "version": 1,
        "pendingEvents": [],
        "createdAt": now,
        "updatedAt": now,
    }
}

/// MongoDB error code of a failed write.
fn mongo_code(err: &mongodb::error::Error) -> i32 {
    use mongodb::error::{ErrorKind, WriteFailure};
    match err.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code,
        ErrorKind::InsertMany(e) => e
            .write_errors
            .as_ref()
            .and_then(|w| w.first())
            .map_or(-1, |w| w.code),
        ErrorKind::Command(e) => e.code,
        other => panic!("unexpected MongoDB error: {other:?}"),
    }
}

const DOCUMENT_VALIDATION_FAILURE: i32 = 121;
const DUPLICATE_KEY: i32 = 11000;

#[tokio::test]
async fn mongodb_validator_rejects_invalid_posts_and_accepts_valid_ones() {
    let app = TestApp::spawn().await;
    let posts = app.mongo().collection::<Document>(POSTS);
    posts
        .insert_one(valid_post("how-to-train-your-dragon"))
        .await
        .expect("a valid post is accepted");

    let mut cases: Vec<(&str, Document)> = Vec::new();
    let mut missing_title = valid_post("a");
    missing_title.remove("title");
    cases.push(("missing title", missing_title));
    let mut long_title = valid_post("b");
    long_title.insert("title", "x".repeat(201));
    cases.push(("title over 200 characters", long_title));
    let mut bad_status = valid_post("c");
    bad_status.insert("status", "hidden");
    cases.push(("unknown status", bad_status));
    let mut too_many_tags = valid_post("d");
    too_many_tags.insert("tags", (0..11).map(|i| format!("t{i}")).collect::<Vec<_>>());
    cases.push(("11 tags", too_many_tags));
    let mut negative_likes = valid_post("e");
    negative_likes.insert(
        "engagement",
        doc! { "views": 0, "likes": -1, "comments": 0, "bookmarks": 0 },
    );
    cases.push(("negative likes", negative_likes));
    let mut string_author = valid_post("f");
    string_author.insert("authorId", "1");
    cases.push(("authorId as a string", string_author));

    for (what, post) in cases {
        let err = posts.insert_one(post).await.expect_err(what);
        assert_eq!(
            mongo_code(&err),
            DOCUMENT_VALIDATION_FAILURE,
            "{what}: {err}"
        );
    }
    assert_eq!(
        posts.count_documents(doc! {}).await.unwrap(),
        1,
        "no invalid post was stored"
    );
}

#[tokio::test]
async fn mongodb_rejects_a_duplicate_slug() {
    let app = TestApp::spawn().await;
    let posts = app.mongo().collection::<Document>(POSTS);
    posts.insert_one(valid_post("same-slug")).await.unwrap();
    let err = posts.insert_one(valid_post("same-slug")).await.unwrap_err();
    assert_eq!(mongo_code(&err), DUPLICATE_KEY, "{err}");
    assert_eq!(
        posts
            .count_documents(doc! { "slug": "same-slug" })
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn mongodb_profiles_comments_and_notifications_are_constrained() {
    let app = TestApp::spawn().await;
    let db = app.mongo();
    let profile = |user_id: i64, username: &str| {
        doc! { "userId": user_id, "username": username, "following": [], "bookmarks": [],
        "preferences": { "theme": "system" }, "createdAt": DateTime::now() }
    };
    let profiles = db.collection::<Document>(USER_PROFILES);
    profiles.insert_one(profile(1, "ada")).await.unwrap();
    assert_eq!(
        mongo_code(&profiles.insert_one(profile(1, "other")).await.unwrap_err()),
        DUPLICATE_KEY
    );
    assert_eq!(
        mongo_code(&profiles.insert_one(profile(2, "ada")).await.unwrap_err()),
        DUPLICATE_KEY
    );
    let mut no_following = profile(3, "bob");
    no_following.remove("following");
    assert_eq!(
        mongo_code(&profiles.insert_one(no_following).await.unwrap_err()),
        DOCUMENT_VALIDATION_FAILURE
    );

    let comments = db.collection::<Document>(COMMENTS);
    let now = DateTime::now();
    comments
        .insert_one(doc! { "postId": ObjectId::new(), "authorId": 1_i64, "body": "Nice", "createdAt": now, "updatedAt": now })
        .await
        .unwrap();
    let empty = doc! { "postId": ObjectId::new(), "authorId": 1_i64, "body": "", "createdAt": now, "updatedAt": now };
    assert_eq!(
        mongo_code(&comments.insert_one(empty).await.unwrap_err()),
        DOCUMENT_VALIDATION_FAILURE
    );

    let notifications = db.collection::<Document>(NOTIFICATIONS);
    let no_read_flag = doc! { "userId": 1_i64, "type": "follow", "createdAt": now };
    assert_eq!(
        mongo_code(&notifications.insert_one(no_read_flag).await.unwrap_err()),
        DOCUMENT_VALIDATION_FAILURE
    );
}

#[tokio::test]
async fn mongodb_has_the_collections_and_indexes() {
    let app = TestApp::spawn().await;
    let db = app.mongo();
    let names = mongo_collection_names(db).await;
    for c in [
        COMMENTS,
        FAVORITES,
        FAVORITE_CLICKS,
        NOTIFICATIONS,
        POSTS,
        USER_PROFILES,
    ] {
        assert!(names.iter().any(|n| n == c), "{c} missing from {names:?}");
    }
    let posts = mongo_index_names(db, POSTS).await;
    for i in [
        "uq_posts_slug",
        "idx_posts_author_published",
        "idx_posts_changed",
        "idx_posts_events_due_sparse",
    ] {
        assert!(posts.contains(&i.to_string()), "{i} missing from {posts:?}");
    }
    // The due-event index holds only posts with events due (migration 3 replaced the full one),
    // and none reads posts by tag or status (migration 8: lists come from the search index).
    for gone in [
        "idx_posts_events_due",
        "idx_posts_tags",
        "idx_posts_status_published",
    ] {
        assert!(!posts.contains(&gone.to_string()), "{gone} in {posts:?}");
    }
    let clicks = mongo_index_names(db, FAVORITE_CLICKS).await;
    for i in [
        "idx_favorite_clicks_events_due_sparse",
        "idx_favorite_clicks_pair",
    ] {
        assert!(
            clicks.contains(&i.to_string()),
            "{i} missing from {clicks:?}"
        );
    }
    let due = mongo_indexes(db, POSTS)
        .await
        .into_iter()
        .find(|i| {
            i.options.as_ref().and_then(|o| o.name.as_deref())
                == Some("idx_posts_events_due_sparse")
        })
        .unwrap();
    assert_eq!(due.options.and_then(|o| o.sparse), Some(true));
    let profiles = mongo_index_names(db, USER_PROFILES).await;
    for i in ["uq_user_profiles_user_id", "uq_user_profiles_username"] {
        assert!(
            profiles.contains(&i.to_string()),
            "{i} missing from {profiles:?}"
        );
    }
}

#[tokio::test]
async fn redis_keys_carry_the_configured_prefix() {
    let app = TestApp::spawn().await;
    let redis = &app.stores.redis;
    assert!(redis.prefix().starts_with("techhub_test_"));
    let key = redis.key("greeting");
    let mut conn = redis.conn();
    let _: () = redis::AsyncCommands::set_ex(&mut conn, &key, "hello", 60)
        .await
        .unwrap();
    let value: String = redis
        .timed(redis::AsyncCommands::get(&mut conn, &key))
        .await
        .unwrap();
    assert_eq!(value, "hello");
    assert_eq!(key, format!("{}greeting", app.config.redis_prefix));
}
