//! The test harness itself: leftovers of crashed runs are swept, fresh ones are not.

use std::time::{SystemTime, UNIX_EPOCH};

use mongodb::bson::doc;
use sqlx::{Connection, Executor};
use techhub_core::Config;

use crate::helpers::{drop_databases, sweep_stale, TEST_PREFIX};

async fn exists_everywhere(config: &Config, name: &str) -> [bool; 4] {
    let mut mysql = sqlx::MySqlConnection::connect(&config.mysql_url)
        .await
        .unwrap();
    let in_mysql: Option<String> = sqlx::query_scalar(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?",
    )
    .bind(name)
    .fetch_optional(&mut mysql)
    .await
    .unwrap();
    let mut pg = sqlx::PgConnection::connect(&config.postgres_url)
        .await
        .unwrap();
    let in_pg: Option<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname = $1")
            .bind(name)
            .fetch_optional(&mut pg)
            .await
            .unwrap();
    let mongo = mongodb::Client::with_uri_str(&config.mongodb_url)
        .await
        .unwrap();
    let in_mongo = mongo
        .list_database_names()
        .await
        .unwrap()
        .iter()
        .any(|n| n == name);
    let mut redis = redis::Client::open(config.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let in_redis: bool = redis::AsyncCommands::exists(&mut redis, format!("{name}:leftover"))
        .await
        .unwrap();
    [in_mysql.is_some(), in_pg.is_some(), in_mongo, in_redis]
}

async fn leave_behind(config: &Config, name: &str) {
    let mut mysql = sqlx::MySqlConnection::connect(&config.mysql_url)
        .await
        .unwrap();
    mysql
        .execute(format!("CREATE DATABASE `{name}`").as_str())
        .await
        .unwrap();
    let mut pg = sqlx::PgConnection::connect(&config.postgres_url)
        .await
        .unwrap();
    pg.execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .unwrap();
    let mongo = mongodb::Client::with_uri_str(&config.mongodb_url)
        .await
        .unwrap();
    mongo
        .database(name)
        .collection("posts")
        .insert_one(doc! { "x": 1 })
        .await
        .unwrap();
    let mut redis = redis::Client::open(config.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::AsyncCommands::set(&mut redis, format!("{name}:leftover"), 1)
        .await
        .unwrap();
}

#[tokio::test]
async fn sweep_drops_stale_test_databases_in_every_store_and_keeps_fresh_ones() {
    let config = Config::from_env().unwrap();
    let tag: u32 = rand::random::<u32>() % 1_000_000;
    // Named as if created two hours ago (stale) and right now (fresh).
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let stale = format!("{TEST_PREFIX}{}_sweep{tag}", now - 7200);
    let fresh = format!("{TEST_PREFIX}{now}_sweep{tag}");
    // Each creation unwraps, so both exist now. (No check here: another test process starting
    // right now may legitimately sweep the stale one first.)
    leave_behind(&config, &stale).await;
    leave_behind(&config, &fresh).await;

    sweep_stale(&config).await;

    assert_eq!(
        exists_everywhere(&config, &stale).await,
        [false; 4],
        "stale leftovers survived the sweep"
    );
    assert_eq!(
        exists_everywhere(&config, &fresh).await,
        [true; 4],
        "a fresh database was swept"
    );

    // The fresh one belongs to no TestDatabases, so it goes by hand.
    drop_databases(&config, std::slice::from_ref(&fresh)).await;
    assert_eq!(exists_everywhere(&config, &fresh).await, [false; 4]);
}
