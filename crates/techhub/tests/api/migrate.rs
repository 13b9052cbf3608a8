//! Migrations are idempotent: a second run applies nothing and changes nothing.

use futures::TryStreamExt;
use mongodb::bson::Document;

use crate::helpers::{mongo_collection_names, mongo_documents, TestApp};
use crate::routes::{new_article, With};

/// Everything that describes the MySQL schema, including when each migration was applied.
async fn mysql_schema(app: &TestApp) -> Vec<String> {
    let pool = app.stores.mysql.pool();
    let mut out = Vec::new();
    for sql in [
        "SELECT CONCAT_WS('|', table_name, column_name, column_type, is_nullable, IFNULL(column_default, 'NULL'), extra) \
         FROM information_schema.columns WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position",
        "SELECT CONCAT_WS('|', table_name, index_name, seq_in_index, column_name, non_unique) \
         FROM information_schema.statistics WHERE table_schema = DATABASE() ORDER BY table_name, index_name, seq_in_index",
        "SELECT CONCAT_WS('|', table_name, constraint_name, check_clause) \
         FROM information_schema.check_constraints WHERE constraint_schema = DATABASE() ORDER BY table_name, constraint_name",
        "SELECT CONCAT_WS('|', version, HEX(checksum), CAST(installed_on AS CHAR)) FROM _sqlx_migrations ORDER BY version",
    ] {
        out.extend(sqlx::query_scalar::<_, String>(sql).fetch_all(pool).await.unwrap());
    }
    out
}

async fn postgres_schema(app: &TestApp) -> Vec<String> {
    let pool = app.stores.postgres.pool();
    let mut out = Vec::new();
    for sql in [
        "SELECT concat_ws('|', table_name, column_name, data_type, is_nullable, column_default) \
         FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
        "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname",
        "SELECT conname || '|' || pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE connamespace = current_schema()::regnamespace ORDER BY conname",
        "SELECT pg_get_viewdef('user_learning_insights'::regclass)",
        "SELECT concat_ws('|', version, encode(checksum, 'hex'), installed_on) FROM _sqlx_migrations ORDER BY version",
    ] {
        out.extend(sqlx::query_scalar::<_, String>(sql).fetch_all(pool).await.unwrap());
    }
    out
}

async fn mongo_schema(app: &TestApp) -> Vec<String> {
    let db = app.mongo();
    let mut out = Vec::new();
    for spec in db
        .list_collections()
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
    {
        out.push(format!("{} {:?}", spec.name, spec.options.validator));
    }
    out.sort();
    for name in mongo_collection_names(db).await {
        let indexes: Vec<_> = db
            .collection::<Document>(&name)
            .list_indexes()
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        for index in indexes {
            out.push(format!(
                "{name} {:?} {:?}",
                index.keys,
                index.options.and_then(|o| o.unique)
            ));
        }
    }
    let recorded = mongo_documents(db, "_migrations").await;
    out.extend(recorded.iter().map(|d| d.to_string()));
    out
}

#[tokio::test]
async fn migrating_twice_changes_nothing() {
    // The app migrated at start-up; this is the second run.
    let app = TestApp::spawn().await;
    let before = (
        mysql_schema(&app).await,
        postgres_schema(&app).await,
        mongo_schema(&app).await,
    );
    assert!(
        before
            .0
            .iter()
            .any(|c| c.starts_with("users|email|varchar(255)")),
        "{:?}",
        before.0
    );
    assert!(
        before
            .1
            .iter()
            .any(|c| c.starts_with("learning_sessions|technologies|ARRAY")),
        "{:?}",
        before.1
    );
    assert!(
        before.2.iter().any(|c| c.starts_with("posts ")),
        "{:?}",
        before.2
    );

    let reports = app
        .stores
        .migrate_all()
        .await
        .expect("second migration run succeeds");
    for (store, report) in &reports {
        assert_eq!(
            report.applied_now, 0,
            "{store} applied something the second time"
        );
        assert!(report.total >= 1);
    }

    let after = (
        mysql_schema(&app).await,
        postgres_schema(&app).await,
        mongo_schema(&app).await,
    );
    assert_eq!(before.0, after.0, "MySQL schema changed");
    assert_eq!(before.1, after.1, "PostgreSQL schema changed");
    assert_eq!(before.2, after.2, "MongoDB schema changed");
}

#[tokio::test]
async fn a_favorite_carrying_events_from_before_clicks_were_documents_becomes_a_click() {
    use mongodb::bson::{doc, DateTime};
    use serde_json::json;

    // No relay: what the migration leaves is seen as it left it.
    let app = TestApp::spawn_with(|c| c.relay = false).await;
    let author = app.register("upgrader").await;
    let fan = app.register("oldfan").await;
    let article = new_article("Before clicks").with("tagList", json!([]));
    let slug = app.publish(&author, article).await;
    let post = app.post_document(&slug).await;
    let post_id = post.get_object_id("_id").unwrap();
    let fan_id = fan.id as i64;
    // A favorite as the previous version left it: on, not yet counted, its event due.
    let key = format!("{}:{fan_id}", post_id.to_hex());
    let event = doc! { "id": "4c3c2b4e-8d7e-4a0e-9d55-0c3f7a1e2b11", "type": "post.liked" };
    let favorites = app.mongo().collection::<Document>("favorites");
    favorites
        .insert_one(doc! {
            "_id": &key, "postId": post_id, "userId": fan_id, "on": true, "counted": false,
            "countedSeq": 0_i64, "seq": 1_i64, "at": DateTime::now(),
            "pendingEvents": [event.clone()], "eventsDueAt": DateTime::now(),
        })
        .await
        .unwrap();
    app.mongo()
        .collection::<Document>("_migrations")
        .delete_one(doc! { "_id": 7 })
        .await
        .unwrap();

    let reports = app.stores.migrate_all().await.expect("the step runs again");
    assert!(
        reports.iter().any(|(_, r)| r.applied_now == 1),
        "{reports:?}"
    );
    let favorite = favorites
        .find_one(doc! { "_id": &key })
        .await
        .unwrap()
        .unwrap();
    assert!(
        favorite.get_bool("on").unwrap(),
        "its user's last click: {favorite}"
    );
    assert!(!favorite.get_bool("counted").unwrap());
    assert!(!favorite.contains_key("pendingEvents") && !favorite.contains_key("eventsDueAt"));
    let clicks = mongo_documents(app.mongo(), "favorite_clicks").await;
    assert_eq!(clicks.len(), 1, "{clicks:?}");
    let click = &clicks[0];
    assert_eq!(click.get_str("pair").unwrap(), key);
    assert!(click.get_bool("on").unwrap());
    assert_eq!(click.get_array("pendingEvents").unwrap()[0], event.into());
    assert!(click.contains_key("eventsDueAt"));
    // The favoriter still reads it as they left it, counted; nobody else yet.
    let read = app.get_article_ok(&slug, Some(&fan)).await;
    assert_eq!(read["favorited"], true);
    assert_eq!(read["favoritesCount"], 1);
    assert_eq!(app.get_article_ok(&slug, None).await["favoritesCount"], 0);
}
