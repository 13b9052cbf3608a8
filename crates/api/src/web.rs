//! The web app and the headers every response carries. `techhub serve` serves the built front
//! end (`web/dist`, see `TECHHUB_WEB_DIR`) on the same origin as the API: its hashed files
//! under `/assets/` with a year-long cache lifetime (and pre-compressed copies when the build
//! wrote them), `index.html` never cached, and every other path that is not a file answered
//! with `index.html` so the app's own routes (`/article/:slug`, `/profile/:name`, …) survive a
//! reload or a shared link. `/api/…` and `/health` never reach it: an unknown API path is still
//! the JSON 404.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;

/// The built web app in one folder.
#[derive(Clone)]
pub struct WebApp(Arc<Inner>);

struct Inner {
    files: ServeDir,
    index: Bytes,
}

/// Hashed build output: the name changes whenever the content does.
const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
/// Other files of the build (the default avatar, the icon): cached for an hour.
const SHORT: HeaderValue = HeaderValue::from_static("public, max-age=3600");
/// `index.html` names the current hashed files, so it is always revalidated.
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

impl WebApp {
    /// The app built into `dir`, or `None` when there is no `index.html` there (not built).
    pub fn load(dir: &Path) -> std::io::Result<Option<Self>> {
        let index = match std::fs::read(dir.join("index.html")) {
            Ok(bytes) => Bytes::from(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let files = ServeDir::new(dir)
            .precompressed_br()
            .precompressed_gzip()
            .append_index_html_on_directories(false);
        Ok(Some(WebApp(Arc::new(Inner { files, index }))))
    }

    /// Answers one request that no API route took.
    pub async fn handle(self, request: Request) -> Result<Response, Infallible> {
        let path = request.uri().path().to_owned();
        if path == "/api" || path.starts_with("/api/") {
            return Ok(crate::routes::not_found().await);
        }
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            return Ok((
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, "GET, HEAD")],
                "the web app only answers GET and HEAD\n",
            )
                .into_response());
        }
        if path == "/" || path == "/index.html" {
            return Ok(self.index());
        }
        let asset = path.starts_with("/assets/");
        let response = match self.0.files.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        if response.status() == StatusCode::NOT_FOUND {
            // A missing build file is a 404; any other path is one of the app's routes.
            return Ok(if asset || looks_like_file(&path) {
                (StatusCode::NOT_FOUND, "not found\n").into_response()
            } else {
                self.index()
            });
        }
        let mut response = response.map(Body::new);
        if response.status().is_success() {
            let cache = if asset { IMMUTABLE } else { SHORT };
            response.headers_mut().insert(header::CACHE_CONTROL, cache);
        }
        Ok(response)
    }

    fn index(&self) -> Response {
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (header::CACHE_CONTROL, NO_CACHE),
            ],
            self.0.index.clone(),
        )
            .into_response()
    }
}

/// Whether the last segment of `path` names a file of a type the build writes.
fn looks_like_file(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or("");
    let ext = last.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    matches!(
        ext.as_deref(),
        Some(
            "js" | "mjs"
                | "css"
                | "map"
                | "svg"
                | "png"
                | "jpg"
                | "jpeg"
                | "webp"
                | "ico"
                | "json"
                | "txt"
                | "woff"
                | "woff2"
                | "webmanifest"
                | "html"
        )
    )
}

/// The Content-Security-Policy of every response: scripts, styles, fonts and images only from
/// TechHub's own origin, no inline script, no plugin, no framing. `connect_src` adds origins
/// the app may call besides its own (a separately hosted API).
pub fn content_security_policy(connect_src: &[String]) -> HeaderValue {
    let mut connect = String::from("'self'");
    for origin in connect_src {
        connect.push(' ');
        connect.push_str(origin);
    }
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         font-src 'self'; connect-src {connect}; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).expect("origins are checked to be header-safe when configured")
}

/// The security headers added to every response that does not set them itself.
pub fn security_headers(connect_src: &[String]) -> Vec<(HeaderName, HeaderValue)> {
    vec![
        (
            header::CONTENT_SECURITY_POLICY,
            content_security_policy(connect_src),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ]
}

/// CORS for the API, as the RealWorld spec asks of a backend other front ends may use:
/// `*` allows any origin (tokens travel in the `Authorization` header, never in cookies),
/// otherwise only the listed ones.
pub fn cors(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("x-requested-with"),
        ])
        .expose_headers([header::RETRY_AFTER])
        .max_age(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_files_are_told_from_app_routes() {
        assert!(looks_like_file("/assets/index-3f2a.js"));
        assert!(looks_like_file("/favicon.ico"));
        assert!(!looks_like_file("/article/how-to-rust"));
        assert!(!looks_like_file("/profile/ada.lovelace"));
        assert!(!looks_like_file("/"));
    }

    #[test]
    fn the_policy_allows_only_the_own_origin_and_listed_api_hosts() {
        let own = content_security_policy(&[]);
        let own = own.to_str().unwrap();
        assert!(own.contains("script-src 'self';"), "{own}");
        assert!(!own.contains("unsafe-inline"), "{own}");
        assert!(own.contains("frame-ancestors 'none'"), "{own}");
        assert!(own.contains("connect-src 'self';"), "{own}");
        let wider = content_security_policy(&["https://api.example.com".into()]);
        assert!(wider
            .to_str()
            .unwrap()
            .contains("connect-src 'self' https://api.example.com;"));
    }
}
