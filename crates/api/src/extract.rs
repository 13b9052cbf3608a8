//! Extractors: JSON bodies whose errors name the offending field, and the authenticated user.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::AppState;

/// Largest JSON body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body. Not JSON → 415; unparseable → 400; wrong shape → 422 naming the field
/// (`{"errors":{"email":["invalid type: integer `5`, expected a string"]}}`).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("body", "could not be read".into())
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

/// Deserializes `bytes`, turning serde's error into a field-level one.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => Ok(v),
        Err(err) => {
            let inner = err.inner();
            if inner.is_syntax() || inner.is_eof() || inner.is_io() {
                return Err(ApiError::BadRequest(
                    "body",
                    format!("is not valid JSON: {inner}"),
                ));
            }
            let message = inner.to_string();
            // serde reports a missing field on its parent; name the field itself.
            if let Some(missing) = message
                .strip_prefix("missing field `")
                .and_then(|m| m.split('`').next())
            {
                return Err(ApiError::invalid(leak(missing), "can't be blank"));
            }
            let field = err
                .path()
                .iter()
                .filter_map(|segment| match segment {
                    serde_path_to_error::Segment::Map { key } => Some(key.as_str()),
                    _ => None,
                })
                .next_back()
                .unwrap_or("body");
            let mut reason = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_string();
            // serde names internal types ("expected struct NewUserBody"); say what to send.
            if reason.contains("expected struct") || reason.starts_with("invalid length") {
                reason = "invalid type: must be a JSON object".into();
            }
            Err(ApiError::invalid(leak(field), reason))
        }
    }
}

/// Field names in errors are `&'static str`; names from a request body come from a small,
/// fixed set (the request types' fields), so interning them costs nothing that grows.
fn leak(name: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let name: String = name.chars().take(64).collect();
    let mut names = NAMES.lock().expect("field-name table poisoned");
    let names = names.get_or_insert_with(HashSet::new);
    if let Some(known) = names.get(name.as_str()) {
        return known;
    }
    if names.len() >= 512 {
        return "body";
    }
    let leaked: &'static str = Box::leak(name.into_boxed_str());
    names.insert(leaked);
    leaked
}

/// The user a valid `Authorization: Token <jwt>` header names. Missing or invalid → 401.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub id: u64,
    pub token: String,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match MaybeAuthUser::from_request_parts(parts, state).await? {
            MaybeAuthUser(Some(user)) => Ok(user),
            MaybeAuthUser(None) => Err(ApiError::Unauthorized("token", "is missing")),
        }
    }
}

/// Like [`AuthUser`], for endpoints that also serve anonymous readers. A header that is
/// present but invalid is still a 401, never silently ignored.
#[derive(Clone, Debug)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeAuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return Ok(MaybeAuthUser(None));
        };
        let header = header
            .to_str()
            .map_err(|_| ApiError::Unauthorized("token", "is malformed"))?;
        let token = token_in(header).ok_or(ApiError::Unauthorized(
            "token",
            "must be sent as 'Authorization: Token <jwt>'",
        ))?;
        let id = state.jwt.verify(token)?;
        Ok(MaybeAuthUser(Some(AuthUser {
            id,
            token: token.to_string(),
        })))
    }
}

/// The user id a valid token in `headers` names, if any (for middleware; handlers use
/// [`AuthUser`], which also reports why a token is refused).
pub fn token_user(state: &AppState, headers: &axum::http::HeaderMap) -> Option<u64> {
    let header = headers.get(AUTHORIZATION)?.to_str().ok()?;
    state.jwt.verify(token_in(header)?).ok()
}

/// The token of an `Authorization: Token <jwt>` (or `Bearer <jwt>`) header value, if any.
fn token_in(header: &str) -> Option<&str> {
    header
        .strip_prefix("Token ")
        .or_else(|| header.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}
