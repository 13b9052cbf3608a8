//! The web app served beside the API: its files, deep links answered with `index.html`, cache
//! lifetimes, pre-compressed copies, security headers, CORS, and the API's JSON 404 untouched.
//! The app here is a small stand-in build written by the test; the real one is exercised by
//! the browser suites (`scripts/web-e2e.sh`).

use std::path::PathBuf;

use crate::helpers::TestApp;

const INDEX: &str =
    "<!doctype html><title>t</title><script type=\"module\" src=\"/assets/app-3f2a.js\"></script>";
const SCRIPT: &str = "console.log('techhub web test');";

/// A build folder like `npm run build` writes: index.html, a hashed script with a brotli
/// copy, and a root file.
fn build_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("techhub-web-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), INDEX).unwrap();
    std::fs::write(dir.join("assets/app-3f2a.js"), SCRIPT).unwrap();
    // Not real brotli: the server must send the file as it is, never recompress it.
    std::fs::write(dir.join("assets/app-3f2a.js.br"), b"pretend-brotli-bytes").unwrap();
    std::fs::write(
        dir.join("default-avatar.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .unwrap();
    dir
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn the_app_its_routes_and_its_files_are_served_with_their_cache_lifetimes() {
    let dir = build_dir();
    let app = TestApp::spawn_with(|c| c.web_dir = dir.clone()).await;

    for path in [
        "/",
        "/article/how-to-rust",
        "/profile/ada.lovelace",
        "/tag/rust?page=2",
        "/settings",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            header(&response, "content-type"),
            "text/html; charset=utf-8",
            "{path}"
        );
        assert_eq!(header(&response, "cache-control"), "no-cache", "{path}");
        assert_eq!(response.text().await.unwrap(), INDEX, "{path}");
    }

    let script = app.get("/assets/app-3f2a.js").await;
    assert_eq!(script.status(), 200);
    assert_eq!(
        header(&script, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert!(header(&script, "content-type").contains("javascript"));
    assert_eq!(script.text().await.unwrap(), SCRIPT);

    let compressed = app
        .http
        .get(app.url("/assets/app-3f2a.js"))
        .header("accept-encoding", "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&compressed, "content-encoding"), "br");
    assert_eq!(
        compressed.bytes().await.unwrap().as_ref(),
        b"pretend-brotli-bytes"
    );

    let avatar = app.get("/default-avatar.svg").await;
    assert_eq!(avatar.status(), 200);
    assert_eq!(header(&avatar, "cache-control"), "public, max-age=3600");

    // A build file that is not there is a 404, not the app.
    for path in [
        "/assets/app-0000.js",
        "/missing.css",
        "/assets/..%2F..%2F..%2Fetc%2Fpasswd",
    ] {
        assert_eq!(app.get(path).await.status(), 404, "{path}");
    }
    // A path that climbs out is never a file outside the build.
    let climbing = app.get("/%2E%2E/%2E%2E/etc/passwd").await;
    assert!(!climbing.text().await.unwrap().contains("root:"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn the_api_keeps_its_json_404_and_other_methods_are_refused() {
    let dir = build_dir();
    let app = TestApp::spawn_with(|c| c.web_dir = dir.clone()).await;

    let missing = app.get("/api/no-such-thing").await;
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["errors"]["path"][0], "no such endpoint");
    assert_eq!(app.get("/health").await.status(), 200);
    assert_eq!(app.get("/api/tags").await.status(), 200);

    let post = app.http.post(app.url("/article/x")).send().await.unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(header(&post, "allow"), "GET, HEAD");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let dir = build_dir();
    let app = TestApp::spawn_with(|c| c.web_dir = dir.clone()).await;
    for path in ["/", "/api/tags", "/api/no-such-thing"] {
        let response = app.get(path).await;
        let csp = header(&response, "content-security-policy");
        assert!(csp.contains("script-src 'self';"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(
            header(&response, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
        assert_eq!(header(&response, "x-frame-options"), "DENY", "{path}");
        assert_eq!(
            header(&response, "referrer-policy"),
            "strict-origin-when-cross-origin",
            "{path}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn other_front_ends_may_call_the_api_from_the_origins_allowed() {
    let any = TestApp::spawn().await;
    let preflight = any
        .http
        .request(reqwest::Method::OPTIONS, any.url("/api/articles"))
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(header(&preflight, "access-control-allow-origin"), "*");
    let allowed = header(&preflight, "access-control-allow-headers").to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert!(header(&preflight, "access-control-allow-methods").contains("DELETE"));

    let listed =
        TestApp::spawn_with(|c| c.cors_origins = vec!["https://app.example.com".into()]).await;
    let from = |origin: &'static str| {
        listed
            .http
            .get(listed.url("/api/tags"))
            .header("origin", origin)
            .send()
    };
    let ok = from("https://app.example.com").await.unwrap();
    assert_eq!(
        header(&ok, "access-control-allow-origin"),
        "https://app.example.com"
    );
    let other = from("https://evil.example.net").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn without_a_build_the_server_is_the_api_only() {
    let app = TestApp::spawn_with(|c| c.web_dir = PathBuf::from("/nonexistent/techhub-web")).await;
    let root = app.get("/").await;
    assert_eq!(root.status(), 404);
    let body: serde_json::Value = root.json().await.unwrap();
    assert_eq!(body["errors"]["path"][0], "no such endpoint");
}
