//! Accounts in RealWorld shapes: `POST /api/users` (register), `POST /api/users/login`,
//! `GET`/`PUT /api/user`, and TechHub's `POST /api/user/verify` (confirm the email address).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use techhub_accounts::users::{self, NewUser, User, UserChanges};
use techhub_cache::entries::keys;
use techhub_core::domain::{bounded_text, image_url, Email, Password, Username};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{ApiJson, AuthUser};
use crate::limits::{enforce, ClientIp};
use crate::validate::{required, Fields};
use crate::AppState;

/// Longest bio accepted, in characters.
pub const MAX_BIO_CHARS: usize = 5000;

#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    user: NewUserBody,
}

#[derive(Deserialize, ToSchema)]
pub struct NewUserBody {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    user: LoginBody,
}

#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    email: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateUserRequest {
    user: UpdateUserBody,
}

/// Fields to change; at least one. `bio` and `image` may be `null` to clear them.
#[derive(Deserialize, ToSchema)]
pub struct UpdateUserBody {
    email: Option<String>,
    username: Option<String>,
    password: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    image: Option<Option<String>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyRequest {
    /// The token from the verification email.
    token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    user: UserBody,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserBody {
    email: String,
    token: String,
    username: String,
    bio: Option<String>,
    image: Option<String>,
    /// TechHub: whether the email address is confirmed.
    email_verified: bool,
}

impl UserResponse {
    fn new(user: User, token: String) -> Json<Self> {
        Json(UserResponse {
            user: UserBody {
                email: user.email,
                token,
                username: user.username,
                bio: user.bio,
                image: user.image,
                email_verified: user.email_verified,
            },
        })
    }
}

/// Register. Returns the user with a token at once; the analytics row and the content profile
/// follow through the outbox, and a verification email is sent.
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered", body = UserResponse),
        (status = 429, description = "Too many registrations from this address (TECHHUB_RATE_REGISTER_IP); see Retry-After"),
        (status = 409, description = "Email or username already taken"),
        (status = 422, description = "Invalid field"),
    ))]
pub(crate) async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    let limit = state.config.rate_register_ip;
    enforce(
        &state,
        &format!("register:ip:{}", ip.bucket()),
        limit,
        "rate_limit",
        "registrations from this address",
    )
    .await?;
    let body = req.user;
    let mut fields = Fields::default();
    let username = fields.check(required("username", &body.username).and_then(Username::parse));
    let email = fields.check(required("email", &body.email).and_then(Email::parse));
    let password = fields.check(required("password", &body.password).and_then(Password::parse));
    let (Some(username), Some(email), Some(password)) = (username, email, password) else {
        return Err(fields.into_error());
    };
    let user = users::register(
        &state.stores.mysql,
        NewUser {
            email,
            username,
            password,
        },
    )
    .await?;
    let token = state.jwt.issue(user.id);
    Ok((StatusCode::CREATED, UserResponse::new(user, token)))
}

/// Log in with email and password.
#[utoipa::path(post, path = "/api/users/login", tag = "users", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = UserResponse),
        (status = 429, description = "Too many attempts for this account or from this address (TECHHUB_RATE_LOGIN_*); see Retry-After"),
        (status = 401, description = "Email or password is invalid"),
        (status = 422, description = "Missing field"),
    ))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    let mut fields = Fields::default();
    let email = fields.check(required("email", &req.user.email));
    let password = fields.check(required("password", &req.user.password));
    let (Some(email), Some(password)) = (email, password) else {
        return Err(fields.into_error());
    };
    // Both limits count every attempt, before the password is checked.
    let config = &state.config;
    enforce(
        &state,
        &format!("login:ip:{}", ip.bucket()),
        config.rate_login_ip,
        "rate_limit",
        "login attempts from this address",
    )
    .await?;
    let account = email.trim().to_lowercase();
    enforce(
        &state,
        &format!("login:account:{account}"),
        config.rate_login_account,
        "rate_limit",
        "login attempts for this account",
    )
    .await?;
    let user = users::login(&state.stores.mysql, email, password).await?;
    let token = state.jwt.issue(user.id);
    Ok(UserResponse::new(user, token))
}

/// The logged-in user.
#[utoipa::path(get, path = "/api/user", tag = "users",
    responses((status = 200, body = UserResponse), (status = 401, description = "Missing or invalid token")),
    security(("token" = [])))]
pub(crate) async fn current_user(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<UserResponse>, ApiError> {
    let user = users::find(&state.stores.mysql, auth.id)
        .await
        .map_err(|e| match e {
            techhub_accounts::AccountsError::NotFound => {
                ApiError::Unauthorized("token", "names no user")
            }
            other => other.into(),
        })?;
    Ok(UserResponse::new(user, auth.token))
}

/// Change email, username, password, bio or image. A new email must be verified again.
#[utoipa::path(put, path = "/api/user", tag = "users", request_body = UpdateUserRequest,
    responses(
        (status = 200, body = UserResponse),
        (status = 401, description = "Missing or invalid token"),
        (status = 409, description = "Email or username already taken"),
        (status = 422, description = "Invalid field"),
    ),
    security(("token" = [])))]
pub(crate) async fn update_user(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<UpdateUserRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    let body = req.user;
    let mut fields = Fields::default();
    let changes = UserChanges {
        email: body
            .email
            .as_deref()
            .and_then(|e| fields.check(Email::parse(e))),
        username: body
            .username
            .as_deref()
            .and_then(|u| fields.check(Username::parse(u))),
        password: body
            .password
            .as_deref()
            .and_then(|p| fields.check(Password::parse(p))),
        bio: body.bio.map(|bio| {
            bio.and_then(|b| fields.check(bounded_text("bio", &b, MAX_BIO_CHARS)))
                .filter(|b| !b.is_empty())
        }),
        image: body.image.map(|image| {
            image
                .and_then(|i| fields.check(image_url(&i)))
                .filter(|i| !i.is_empty())
        }),
    };
    fields.finish()?;
    if changes.email.is_none()
        && changes.username.is_none()
        && changes.password.is_none()
        && changes.bio.is_none()
        && changes.image.is_none()
    {
        return Err(ApiError::invalid(
            "user",
            "must contain at least one of email, username, password, bio, image",
        ));
    }
    let updated = users::update(&state.stores.mysql, auth.id, changes).await?;
    // The `user.updated` event drops these too; dropping them now makes the change visible to
    // this user's next read at once.
    let mut stale = vec![
        keys::profile(&updated.user.username),
        keys::user(updated.user.id),
        keys::dashboard(updated.user.id),
    ];
    stale.extend(updated.previous_username.as_deref().map(keys::profile));
    crate::cached::invalidate(&state, &stale).await;
    Ok(UserResponse::new(updated.user, auth.token))
}

/// Confirm an email address with the token from the verification email.
#[utoipa::path(post, path = "/api/user/verify", tag = "users", request_body = VerifyRequest,
    responses(
        (status = 200, description = "Email confirmed", body = UserResponse),
        (status = 422, description = "Token invalid, used or expired"),
    ))]
pub(crate) async fn verify_email(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    let token = required("token", &req.token)?;
    let user = users::verify_email(&state.stores.mysql, token).await?;
    // The cached user and dashboard still say "not confirmed": drop them.
    crate::cached::invalidate(&state, &[keys::user(user.id), keys::dashboard(user.id)]).await;
    let jwt = state.jwt.issue(user.id);
    Ok(UserResponse::new(user, jwt))
}
