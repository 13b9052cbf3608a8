//! Learning paths and skill assessments: completion derived from the milestones, skill
//! metrics, and the free plan's limits on both (403 with the reason, even under a race).

use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::routes::expect_json;

#[tokio::test]
async fn paths_derive_completion_and_the_free_plan_limits_paths_and_assessments_with_403() {
    let app = TestApp::spawn().await;
    let user = app.register("planner").await;
    let other = app.register("nosy").await;
    let new_path = || {
        json!({ "title": "Learn Rust", "targetTechnologies": ["Rust"],
        "milestones": [{ "title": "The Book", "completed": true }, { "title": "Async" }, { "title": "A project" }] })
    };
    // Five at once from a free user (1 path allowed): exactly one is created.
    let responses =
        futures::future::join_all((0..5).map(|_| app.create_path(&user, new_path()))).await;
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort();
    assert_eq!(statuses, [201, 403, 403, 403, 403]);
    let refused = responses.into_iter().find(|r| r.status() == 403).unwrap();
    let reason: Value = refused.json().await.unwrap();
    assert_eq!(
        reason["errors"]["permission"][0],
        "the free plan allows 1 learning paths; upgrade for more"
    );

    let list = app.list_paths_ok(&user).await;
    let path = &list["paths"][0];
    assert_eq!(list["paths"].as_array().unwrap().len(), 1);
    assert_eq!(path["completionPercentage"], 33.33);
    assert_eq!(path["status"], "active");
    assert_eq!(path["targetTechnologies"], json!(["rust"]));
    let id = path["id"].as_str().unwrap();
    let complete =
        |user, index| app.update_milestone(user, id, index, json!({ "completed": true }));
    let r: Value = complete(&user, 1).await.json().await.unwrap();
    assert_eq!(r["path"]["completionPercentage"], 66.67);
    assert_eq!(complete(&other, 1).await.status(), 404, "not your path");
    assert_eq!(complete(&user, 9).await.status(), 404, "no such milestone");
    let r: Value = complete(&user, 2).await.json().await.unwrap();
    assert_eq!(
        (
            r["path"]["completionPercentage"].as_f64(),
            r["path"]["status"].as_str()
        ),
        (Some(100.0), Some("completed"))
    );

    // Assessments: 3 a month on the free plan; skill metrics follow.
    let rust_score = |score: i64| json!({ "skillArea": "Rust", "score": score });
    let mut last = Value::Null;
    for score in [60, 90, 70] {
        let r = app.record_assessment(&user, rust_score(score)).await;
        last = expect_json(r, 201, "an assessment").await;
    }
    assert_eq!(
        last["skill"],
        json!({ "latest": 70, "best": 90, "attempts": 3, "average": 73.33 })
    );
    let fourth = app.record_assessment(&user, rust_score(80)).await;
    let reason = expect_json(fourth, 403, "the fourth assessment").await;
    assert_eq!(
        reason["errors"]["permission"][0],
        "the free plan allows 3 skill assessments a month; upgrade for more"
    );
    for bad in [
        json!({ "skillArea": "rust", "score": 101 }),
        json!({ "skillArea": "", "score": 5 }),
        json!({ "skillArea": "rust" }),
        json!({ "skillArea": "rust", "score": 5, "type": "exam" }),
    ] {
        let r = app.record_assessment(&other, bad.clone()).await;
        assert_eq!(r.status(), 422, "{bad}");
    }
    let list = app.list_assessments_ok(&user).await;
    assert_eq!(list["assessments"].as_array().unwrap().len(), 3);
    let (_, d) = app.dashboard_ok(&user).await;
    assert_eq!(d["degraded"], json!([]));
}
