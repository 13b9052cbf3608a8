//! The OpenAPI document is generated from the routes themselves; the committed copy in
//! `docs/openapi.json` must match it, so the document in the repository is true to the code.

use serde_json::Value;

use crate::helpers::TestApp;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");

#[tokio::test]
async fn served_openapi_document_matches_the_committed_one() {
    let app = TestApp::spawn().await;
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), 200);
    let served: Value = response.json().await.unwrap();
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(COMMITTED).unwrap()).unwrap();
    assert_eq!(
        served, committed,
        "docs/openapi.json is stale: run `cargo run -q -p techhub -- openapi > docs/openapi.json`"
    );
    assert!(served["paths"]["/health"]["get"]["responses"]["503"].is_object());
}

#[tokio::test]
async fn every_documented_get_route_is_served() {
    let app = TestApp::spawn().await;
    let doc = techhub_api::openapi();
    let mut checked = 0;
    for (path, item) in &doc.paths.paths {
        if item.get.is_some() && !path.contains('{') {
            let status = app.get(path).await.status();
            assert_ne!(status, 404, "{path} is documented but not served");
            checked += 1;
        }
    }
    assert!(checked >= 1);
}
