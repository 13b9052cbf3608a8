//! Skill assessments: `POST`/`GET /api/assessments`. Each score updates the area's skill
//! metrics (latest, best, attempts, average); the plan limits assessments per calendar month.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use techhub_cache::entries::keys;
use techhub_core::domain::FieldError;
use techhub_learning::paths::{self, Assessment, ASSESSMENT_TYPES};
use utoipa::ToSchema;

use crate::cached;
use crate::error::ApiError;
use crate::extract::{ApiJson, AuthUser};
use crate::policy::{active_plan, limit_reached};
use crate::validate::{one_of, Fields};
use crate::{iso, AppState};

#[derive(Deserialize, ToSchema)]
pub struct NewAssessmentRequest {
    assessment: NewAssessmentBody,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewAssessmentBody {
    skill_area: Option<String>,
    /// 0 to 100.
    score: Option<i32>,
    /// quiz (default), project, peer_review or self.
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssessmentBody {
    id: String,
    skill_area: String,
    score: i32,
    #[serde(rename = "type")]
    kind: String,
    taken_at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssessmentResponse {
    assessment: AssessmentBody,
    /// The area's metrics after this score: latest, best, attempts, average.
    #[schema(value_type = Object)]
    skill: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct AssessmentsResponse {
    assessments: Vec<AssessmentBody>,
}

fn assessment_body(a: Assessment) -> AssessmentBody {
    AssessmentBody {
        id: a.id.to_string(),
        skill_area: a.skill_area,
        score: a.score,
        kind: a.assessment_type,
        taken_at: iso(a.taken_at),
    }
}

/// Record a skill assessment (the plan limits how many a month).
#[utoipa::path(post, path = "/api/assessments", tag = "learning", request_body = NewAssessmentRequest,
    responses((status = 201, body = AssessmentResponse), (status = 401), (status = 403, description = "Monthly plan limit reached or account inactive"), (status = 422)),
    security(("token" = [])))]
pub(crate) async fn create_assessment(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<NewAssessmentRequest>,
) -> Result<(StatusCode, Json<AssessmentResponse>), ApiError> {
    let a = req.assessment;
    let mut fields = Fields::default();
    let area = a.skill_area.as_deref().unwrap_or("").trim().to_lowercase();
    if area.is_empty() || area.chars().count() > 100 {
        fields.push(FieldError::new("skillArea", "must be 1 to 100 characters"));
    }
    match a.score {
        None => fields.push(FieldError::new("score", "can't be blank")),
        Some(s) if !(0..=100).contains(&s) => {
            fields.push(FieldError::new("score", "must be between 0 and 100"))
        }
        _ => {}
    }
    let kind = fields.check(one_of(
        "type",
        a.kind.as_deref().unwrap_or("quiz"),
        &ASSESSMENT_TYPES,
    ));
    fields.finish()?;
    let kind = kind.unwrap_or_default();
    let (plan, allowed) = active_plan(&state, auth.id).await?;
    let score = a.score.unwrap_or_default();
    let (assessment, skill) = paths::assess(
        &state.stores.postgres,
        auth.id,
        &area,
        score,
        &kind,
        allowed.assessments_per_month,
    )
    .await?
    .map_err(|l| limit_reached(plan, "skill assessments a month", l.limit))?;
    cached::invalidate(&state, &[keys::dashboard(auth.id)]).await;
    Ok((
        StatusCode::CREATED,
        Json(AssessmentResponse {
            assessment: assessment_body(assessment),
            skill,
        }),
    ))
}

/// The caller's assessments, newest first (up to 100).
#[utoipa::path(get, path = "/api/assessments", tag = "learning",
    responses((status = 200, body = AssessmentsResponse), (status = 401)), security(("token" = [])))]
pub(crate) async fn list_assessments(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<AssessmentsResponse>, ApiError> {
    let found = paths::assessments(&state.stores.postgres, auth.id).await?;
    Ok(Json(AssessmentsResponse {
        assessments: found.into_iter().map(assessment_body).collect(),
    }))
}
