//! One error type for every handler, mapped to a status code and the RealWorld error body
//! `{"errors": {"<field>": ["<reason>"]}}` in one place. Server-side failures are logged here,
//! once, with their cause; the response says only what the client can act on.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use techhub_accounts::AccountsError;
use techhub_core::domain::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not JSON at all.
    #[error("bad request: {1}")]
    BadRequest(&'static str, String),
    /// 401, with the reason under `token` or `credentials`.
    #[error("unauthorized: {1}")]
    Unauthorized(&'static str, &'static str),
    /// 402: the payment was declined.
    #[error("payment declined: {0}")]
    PaymentRequired(String),
    /// 403, with the reason.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404: the named resource does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409: a unique field is taken, or a conflicting request is in progress.
    #[error("conflict on {0}: {1}")]
    Conflict(&'static str, String),
    /// 413: the body is larger than allowed.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 415: the body is not declared as JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 422: invalid fields, each with its reason.
    #[error("invalid input: {0:?}")]
    Invalid(Vec<FieldError>),
    /// 429: a rate limit was reached; retry after the given seconds.
    #[error("rate limited on {field}")]
    RateLimited {
        field: &'static str,
        message: String,
        limit: u64,
        retry_after_secs: u64,
    },
    /// 502: an upstream provider failed.
    #[error("upstream failure: {0}")]
    BadGateway(String),
    /// 503: a store this request needs is down.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected store error. The detail is logged, not returned.
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl ApiError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ApiError::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Invalid(vec![e])
    }
}

impl From<techhub_content::MongoError> for ApiError {
    fn from(e: techhub_content::MongoError) -> Self {
        if e.is_unavailable() {
            return ApiError::Unavailable(format!("mongodb: {e}"));
        }
        ApiError::Internal(e.into())
    }
}

impl From<techhub_learning::PgError> for ApiError {
    fn from(e: techhub_learning::PgError) -> Self {
        use techhub_learning::PgError;
        match &e {
            PgError::Timeout(_) => ApiError::Unavailable(format!("postgres: {e}")),
            PgError::Db(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed,
            ) => ApiError::Unavailable(format!("postgres: {e}")),
            _ => ApiError::Internal(e.into()),
        }
    }
}

impl From<AccountsError> for ApiError {
    fn from(e: AccountsError) -> Self {
        if e.is_unavailable() {
            return ApiError::Unavailable(format!("mysql: {e}"));
        }
        match e {
            AccountsError::Invalid(f) => ApiError::Invalid(vec![f]),
            AccountsError::Conflict { field } => {
                ApiError::Conflict(field, "has already been taken".into())
            }
            AccountsError::NotFound => ApiError::NotFound("user"),
            AccountsError::InvalidCredentials => {
                ApiError::Unauthorized("credentials", "email or password is invalid")
            }
            AccountsError::AccountInactive(status) => {
                ApiError::Forbidden(format!("account is {status}"))
            }
            AccountsError::PaymentDeclined(reason) => ApiError::PaymentRequired(reason),
            AccountsError::IdempotencyMismatch => {
                ApiError::invalid("idempotencyKey", "was already used for a different request")
            }
            AccountsError::IdempotencyInProgress => ApiError::Conflict(
                "idempotencyKey",
                "a request with this key is still in progress; retry shortly".into(),
            ),
            AccountsError::Busy => ApiError::Conflict(
                "subscription",
                "another billing change is in progress; retry shortly".into(),
            ),
            AccountsError::Provider(msg) => ApiError::BadGateway(msg),
            other @ AccountsError::Store(_) => ApiError::Internal(other.into()),
        }
    }
}

fn body(field: &str, messages: Vec<String>) -> Value {
    let mut errors = Map::new();
    errors.insert(field.to_string(), json!(messages));
    json!({ "errors": errors })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            ApiError::BadRequest(field, m) => {
                (StatusCode::BAD_REQUEST, body(field, vec![m.clone()]))
            }
            ApiError::Unauthorized(field, m) => {
                (StatusCode::UNAUTHORIZED, body(field, vec![(*m).into()]))
            }
            ApiError::PaymentRequired(m) => (
                StatusCode::PAYMENT_REQUIRED,
                body("payment", vec![m.clone()]),
            ),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, body("permission", vec![m.clone()])),
            ApiError::NotFound(what) => {
                (StatusCode::NOT_FOUND, body(what, vec!["not found".into()]))
            }
            ApiError::Conflict(field, m) => (StatusCode::CONFLICT, body(field, vec![m.clone()])),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                body("body", vec!["is too large".into()]),
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                body(
                    "body",
                    vec!["must be JSON (Content-Type: application/json)".into()],
                ),
            ),
            ApiError::Invalid(fields) => {
                let mut errors = Map::new();
                for f in fields {
                    let entry = errors
                        .entry(f.field.to_string())
                        .or_insert_with(|| json!([]));
                    entry.as_array_mut().expect("array").push(json!(f.message));
                }
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({ "errors": errors }),
                )
            }
            ApiError::RateLimited { field, message, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                body(field, vec![message.clone()]),
            ),
            ApiError::BadGateway(m) => {
                tracing::warn!(error = %m, "upstream failure");
                (
                    StatusCode::BAD_GATEWAY,
                    body(
                        "upstream",
                        vec!["the payment provider failed; try again".into()],
                    ),
                )
            }
            ApiError::Unavailable(m) => {
                tracing::warn!(error = %m, "store unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    body("service", vec!["temporarily unavailable; try again".into()]),
                )
            }
            ApiError::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    body("server", vec!["internal error".into()]),
                )
            }
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::RateLimited {
            limit,
            retry_after_secs,
            ..
        } = &self
        {
            let h = response.headers_mut();
            h.insert(header::RETRY_AFTER, (*retry_after_secs).into());
            h.insert("x-ratelimit-limit", (*limit).into());
            h.insert("x-ratelimit-remaining", 0_u64.into());
            h.insert("x-ratelimit-reset", (*retry_after_secs).into());
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Token"),
            );
        }
        response
    }
}
