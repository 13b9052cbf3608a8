//! `GET`/`PUT /api/user/preferences`: the caller's preferences (the web app's colour theme,
//! language, email choices). They live in the user's MongoDB profile only, which owns them,
//! so a change is one write there and nothing else follows from it.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use techhub_accounts::users;
use techhub_content::profiles::{self, PreferenceChanges, Preferences};
use techhub_core::domain::{language_tag, Theme};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{ApiJson, AuthUser};
use crate::validate::Fields;
use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct PreferencesResponse {
    preferences: PreferencesBody,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreferencesBody {
    /// The web app's colour theme; `system` follows the device's setting.
    theme: Theme,
    /// Whether to email notifications.
    email_notifications: bool,
    /// Whether to email the weekly digest.
    weekly_digest: bool,
    /// A language tag such as `en` or `pt-BR`.
    #[schema(example = "en")]
    language: String,
}

impl From<Preferences> for PreferencesResponse {
    fn from(p: Preferences) -> Self {
        PreferencesResponse {
            preferences: PreferencesBody {
                theme: p.theme,
                email_notifications: p.email_notifications,
                weekly_digest: p.weekly_digest,
                language: p.language,
            },
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct UpdatePreferencesRequest {
    preferences: UpdatePreferencesBody,
}

/// The preferences to change, at least one; those left out stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePreferencesBody {
    /// `system`, `light` or `dark`.
    #[schema(value_type = Option<Theme>)]
    theme: Option<String>,
    email_notifications: Option<bool>,
    weekly_digest: Option<bool>,
    /// A language tag such as `en` or `pt-BR` (at most 35 characters).
    #[schema(example = "en")]
    language: Option<String>,
}

impl UpdatePreferencesBody {
    /// The changes asked for, or the 422 naming every bad field.
    fn parse(self) -> Result<PreferenceChanges, ApiError> {
        let mut fields = Fields::default();
        let changes = PreferenceChanges {
            theme: self.theme.and_then(|t| fields.check(Theme::parse(&t))),
            language: self.language.and_then(|l| fields.check(language_tag(&l))),
            email_notifications: self.email_notifications,
            weekly_digest: self.weekly_digest,
        };
        fields.finish()?;
        if changes.is_empty() {
            return Err(ApiError::invalid(
                "preferences",
                "must contain at least one of theme, emailNotifications, weeklyDigest, language",
            ));
        }
        Ok(changes)
    }
}

/// The caller's preferences (the defaults until they change one).
#[utoipa::path(get, path = "/api/user/preferences", tag = "users",
    responses((status = 200, body = PreferencesResponse), (status = 401, description = "Missing or invalid token")),
    security(("token" = [])))]
pub(crate) async fn get_preferences(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<PreferencesResponse>, ApiError> {
    let prefs = profiles::preferences(&state.stores.mongo, auth.id).await?;
    Ok(Json(prefs.into()))
}

/// Change some of the caller's preferences; answers with all of them.
#[utoipa::path(put, path = "/api/user/preferences", tag = "users", request_body = UpdatePreferencesRequest,
    responses(
        (status = 200, body = PreferencesResponse),
        (status = 401, description = "Missing or invalid token"),
        (status = 422, description = "Invalid field, e.g. `{\"errors\":{\"theme\":[\"must be one of system, light, dark\"]}}`"),
    ),
    security(("token" = [])))]
pub(crate) async fn update_preferences(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<UpdatePreferencesRequest>,
) -> Result<Json<PreferencesResponse>, ApiError> {
    let changes = req.preferences.parse()?;
    // The username, should the profile have to be created here (see `set_preferences`).
    let me = users::find(&state.stores.mysql, auth.id)
        .await
        .map_err(|e| match e {
            techhub_accounts::AccountsError::NotFound => {
                ApiError::Unauthorized("token", "names no user")
            }
            other => other.into(),
        })?;
    let prefs =
        profiles::set_preferences(&state.stores.mongo, me.id, &me.username, &changes).await?;
    Ok(Json(prefs.into()))
}
