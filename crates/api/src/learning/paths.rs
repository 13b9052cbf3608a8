//! Learning paths: `POST`/`GET /api/learning/paths` and `PUT
//! /api/learning/paths/{id}/milestones/{index}`. Completion is derived from the milestones;
//! the plan limits how many paths a user keeps.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use techhub_cache::entries::keys;
use techhub_core::domain::FieldError;
use techhub_learning::paths::{self, Milestone, NewPath, Path as LearningPath};
use utoipa::ToSchema;

use crate::cached;
use crate::error::ApiError;
use crate::extract::{ApiJson, AuthUser};
use crate::policy::{active_plan, limit_reached};
use crate::validate::Fields;
use crate::{iso, AppState};

#[derive(Deserialize, ToSchema)]
pub struct NewPathRequest {
    path: NewPathBody,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewPathBody {
    title: Option<String>,
    description: Option<String>,
    target_technologies: Option<Vec<String>>,
    /// In order; `completed` defaults to false. At most 50.
    milestones: Option<Vec<MilestoneBody>>,
    /// `YYYY-MM-DD`.
    #[schema(value_type = Option<String>, format = Date)]
    target_completion_date: Option<chrono::NaiveDate>,
}

#[derive(Deserialize, Serialize, ToSchema, Clone)]
pub struct MilestoneBody {
    title: String,
    #[serde(default)]
    completed: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PathBody {
    id: String,
    title: String,
    description: Option<String>,
    target_technologies: Vec<String>,
    milestones: Vec<MilestoneBody>,
    /// `active` or `completed` (all milestones done).
    status: String,
    /// Derived: completed milestones / all × 100.
    completion_percentage: f64,
    target_completion_date: Option<String>,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct PathResponse {
    path: PathBody,
}

#[derive(Serialize, ToSchema)]
pub struct PathsResponse {
    paths: Vec<PathBody>,
}

fn path_body(p: LearningPath) -> PathBody {
    PathBody {
        id: p.id.to_string(),
        title: p.title,
        description: p.description,
        target_technologies: p.target_technologies,
        milestones: p
            .milestones
            .into_iter()
            .map(|m| MilestoneBody {
                title: m.title,
                completed: m.completed,
            })
            .collect(),
        status: p.status,
        completion_percentage: p.completion,
        target_completion_date: p.target_completion_date.map(|d| d.to_string()),
        created_at: iso(p.created_at),
        updated_at: iso(p.updated_at),
    }
}

/// Create a learning path (the plan limits how many).
#[utoipa::path(post, path = "/api/learning/paths", tag = "learning", request_body = NewPathRequest,
    responses((status = 201, body = PathResponse), (status = 401), (status = 403, description = "Plan limit reached or account inactive"), (status = 422)),
    security(("token" = [])))]
pub(crate) async fn create_path(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<NewPathRequest>,
) -> Result<(StatusCode, Json<PathResponse>), ApiError> {
    let p = req.path;
    let mut fields = Fields::default();
    let title = p.title.as_deref().unwrap_or("").trim().to_string();
    if title.is_empty() || title.chars().count() > 200 {
        fields.push(FieldError::new("title", "must be 1 to 200 characters"));
    }
    if p.description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 2000)
    {
        fields.push(FieldError::new(
            "description",
            "is too long (maximum is 2000 characters)",
        ));
    }
    let milestones: Vec<Milestone> = p
        .milestones
        .unwrap_or_default()
        .into_iter()
        .map(|m| Milestone {
            title: m.title.trim().to_string(),
            completed: m.completed,
        })
        .collect();
    if milestones.len() > 50 {
        fields.push(FieldError::new("milestones", "at most 50"));
    }
    if milestones
        .iter()
        .any(|m| m.title.is_empty() || m.title.chars().count() > 200)
    {
        fields.push(FieldError::new(
            "milestones",
            "each needs a title of 1 to 200 characters",
        ));
    }
    let technologies: Vec<String> = p
        .target_technologies
        .unwrap_or_default()
        .iter()
        .map(|t| t.trim().to_lowercase())
        .collect();
    if technologies.len() > 20
        || technologies
            .iter()
            .any(|t| t.is_empty() || t.chars().count() > 50)
    {
        fields.push(FieldError::new(
            "targetTechnologies",
            "at most 20, each 1 to 50 characters",
        ));
    }
    fields.finish()?;
    let (plan, allowed) = active_plan(&state, auth.id).await?;
    let new = NewPath {
        user_id: auth.id,
        title,
        description: p.description,
        target_technologies: technologies,
        milestones,
        target_completion_date: p.target_completion_date,
    };
    let path = paths::create(&state.stores.postgres, &new, allowed.max_learning_paths)
        .await?
        .map_err(|l| limit_reached(plan, "learning paths", l.limit))?;
    cached::invalidate(&state, &[keys::dashboard(auth.id)]).await;
    Ok((
        StatusCode::CREATED,
        Json(PathResponse {
            path: path_body(path),
        }),
    ))
}

/// The caller's learning paths, newest first.
#[utoipa::path(get, path = "/api/learning/paths", tag = "learning",
    responses((status = 200, body = PathsResponse), (status = 401)), security(("token" = [])))]
pub(crate) async fn list_paths(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<PathsResponse>, ApiError> {
    let found = paths::list(&state.stores.postgres, auth.id).await?;
    Ok(Json(PathsResponse {
        paths: found.into_iter().map(path_body).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct MilestoneRequest {
    milestone: MilestoneChange,
}

#[derive(Deserialize, ToSchema)]
pub struct MilestoneChange {
    completed: bool,
}

/// Mark a milestone (by position, from 0) done or not; completion follows.
#[utoipa::path(put, path = "/api/learning/paths/{id}/milestones/{index}", tag = "learning", request_body = MilestoneRequest,
    responses((status = 200, body = PathResponse), (status = 401), (status = 404)), security(("token" = [])))]
pub(crate) async fn set_milestone(
    State(state): State<AppState>,
    auth: AuthUser,
    axum::extract::Path((id, index)): axum::extract::Path<(String, usize)>,
    ApiJson(req): ApiJson<MilestoneRequest>,
) -> Result<Json<PathResponse>, ApiError> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("path"))?;
    let path = paths::set_milestone(
        &state.stores.postgres,
        auth.id,
        id,
        index,
        req.milestone.completed,
    )
    .await?
    .ok_or(ApiError::NotFound("path"))?;
    cached::invalidate(&state, &[keys::dashboard(auth.id)]).await;
    Ok(Json(PathResponse {
        path: path_body(path),
    }))
}
