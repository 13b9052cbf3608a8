//! `GET`/`PUT /api/user/preferences`: the theme and the other preferences kept in the user's
//! MongoDB profile.

use serde_json::{json, Value};

use crate::helpers::{assert_documented, TestApp};
use crate::routes::expect_json;

/// The user's profile document in MongoDB, if there is one.
async fn profile(app: &TestApp, user_id: u64) -> Option<mongodb::bson::Document> {
    app.mongo()
        .collection::<mongodb::bson::Document>("user_profiles")
        .find_one(mongodb::bson::doc! { "userId": user_id as i64 })
        .await
        .unwrap()
}

#[tokio::test]
async fn preferences_start_at_the_defaults_and_a_theme_change_is_kept_in_the_profile() {
    let app = TestApp::spawn().await;
    let user = app.register("themed").await;

    let response = app.preferences(&user).await;
    let body = expect_json(response, 200, "GET /api/user/preferences").await;
    assert_documented(&body, "PreferencesResponse");
    assert_eq!(
        body["preferences"],
        json!({ "theme": "system", "emailNotifications": true, "weeklyDigest": true, "language": "en" })
    );

    let response = app
        .update_preferences(&user, json!({ "theme": "dark" }))
        .await;
    let body = expect_json(response, 200, "PUT /api/user/preferences").await;
    assert_documented(&body, "PreferencesResponse");
    assert_eq!(body["preferences"]["theme"], "dark");
    assert_eq!(body["preferences"]["weeklyDigest"], true, "the others stay");
    assert_eq!(app.preferences_ok(&user).await["theme"], "dark");

    // Any subset; the rest stays as it was.
    let changed = app
        .update_preferences_ok(
            &user,
            json!({ "weeklyDigest": false, "language": "pt-BR", "emailNotifications": false }),
        )
        .await;
    let expected = json!({ "theme": "dark", "emailNotifications": false, "weeklyDigest": false, "language": "pt-BR" });
    assert_eq!(changed, expected);
    assert_eq!(app.preferences_ok(&user).await, expected);
    let stored = profile(&app, user.id)
        .await
        .expect("the profile")
        .get_document("preferences")
        .unwrap()
        .clone();
    assert_eq!(stored.get_str("theme").unwrap(), "dark");
    assert_eq!(stored.get_str("language").unwrap(), "pt-BR");
    assert!(!stored.get_bool("weeklyDigest").unwrap());

    // Each user has their own.
    let other = app.register("plain").await;
    assert_eq!(app.preferences_ok(&other).await["theme"], "system");
}

#[tokio::test]
async fn bad_preferences_are_a_422_naming_the_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    let user = app.register("picky").await;
    let cases: [(Value, &str, &str); 6] = [
        (
            json!({ "theme": "blue" }),
            "theme",
            "must be one of system, light, dark",
        ),
        (
            json!({ "theme": "blue", "weeklyDigest": false }),
            "theme",
            "must be one of system, light, dark",
        ),
        (
            json!({ "language": "not a language" }),
            "language",
            "must be a language tag such as en or pt-BR",
        ),
        (
            json!({ "weeklyDigest": "yes" }),
            "weeklyDigest",
            "invalid type: string \"yes\", expected a boolean",
        ),
        (
            json!({ "theme": 3 }),
            "theme",
            "invalid type: integer `3`, expected a string",
        ),
        (
            json!({}),
            "preferences",
            "must contain at least one of theme, emailNotifications, weeklyDigest, language",
        ),
    ];
    for (changes, field, message) in cases {
        let response = app.update_preferences(&user, changes.clone()).await;
        let body = expect_json(response, 422, &format!("PUT {changes}")).await;
        assert_eq!(
            body,
            json!({ "errors": { field: [message] } }),
            "PUT {changes}"
        );
    }
    assert_eq!(
        app.preferences_ok(&user).await["weeklyDigest"],
        true,
        "a refused change changes nothing"
    );
    assert_eq!(app.preferences_ok(&user).await["theme"], "system");
}

#[tokio::test]
async fn preferences_need_a_token() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/api/user/preferences").await.status(), 401);
    let put = app
        .send(
            reqwest::Method::PUT,
            "/api/user/preferences",
            Some(json!({ "preferences": { "theme": "dark" } })),
            None,
        )
        .await;
    assert_eq!(put.status(), 401);
    assert_eq!(
        app.preferences(&app.forged_token(1)).await.status(),
        401,
        "a forged token"
    );
}

#[tokio::test]
async fn a_user_without_a_content_profile_yet_reads_the_defaults_and_a_change_creates_it() {
    let app = TestApp::spawn().await;
    // Inserted straight into MySQL: no event, so no profile in MongoDB.
    let token = app.quick_tokens("early", 1).await.remove(0);
    let id = app.jwt().verify(&token).expect("our own token");
    assert!(profile(&app, id).await.is_none());

    assert_eq!(app.preferences_ok(&token).await["theme"], "system");
    let changed = app
        .update_preferences_ok(&token, json!({ "theme": "light" }))
        .await;
    assert_eq!(changed["theme"], "light");
    assert_eq!(changed["language"], "en", "the defaults for the rest");
    let created = profile(&app, id).await.expect("created by the change");
    assert_eq!(created.get_str("username").unwrap(), "early0");
    assert_eq!(
        created
            .get_document("preferences")
            .unwrap()
            .get_str("theme")
            .unwrap(),
        "light"
    );
    assert_eq!(app.preferences_ok(&token).await["theme"], "light");
}
