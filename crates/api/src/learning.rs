//! Learning sessions: `POST`/`GET /api/learning/sessions`. Recording one updates the user's
//! analytics (points, streak, per-technology progress) and engagement score in the same
//! PostgreSQL transaction and drops the cached dashboard.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};
use techhub_cache::entries::keys;
use techhub_learning::sessions::{self, NewSession, Session, Standing, CONTENT_TYPES};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::cached;
use crate::content::{one_of, page};
use crate::error::ApiError;
use crate::extract::{ApiJson, AuthUser};
use crate::{iso, AppState};
use techhub_core::domain::FieldError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(record_session, list_sessions))
}

#[derive(Deserialize, ToSchema)]
pub struct NewSessionRequest {
    session: NewSessionBody,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewSessionBody {
    /// post, tutorial, video, course, exercise or documentation.
    content_type: Option<String>,
    /// For a post: its slug (its tags become the technologies when none are given).
    content_id: Option<String>,
    technologies: Option<Vec<String>>,
    /// 1 to 1440.
    duration_minutes: Option<i32>,
    /// 0 to 100, default 100.
    completion: Option<f64>,
    /// 1 to 10.
    difficulty: Option<i16>,
    /// 1 to 5.
    rating: Option<i16>,
    notes: Option<String>,
    /// Default: `endedAt` minus the duration.
    #[schema(value_type = Option<String>, format = DateTime)]
    started_at: Option<DateTime<Utc>>,
    /// Default: now. Not in the future.
    #[schema(value_type = Option<String>, format = DateTime)]
    ended_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionBody {
    id: String,
    content_type: String,
    content_id: Option<String>,
    technologies: Vec<String>,
    duration_minutes: i32,
    completion: f64,
    difficulty: Option<i16>,
    rating: Option<i16>,
    notes: Option<String>,
    started_at: String,
    ended_at: Option<String>,
    points: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StandingBody {
    total_points: i64,
    streak_days: i32,
    longest_streak: i32,
    #[schema(value_type = Object)]
    learning_progress: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct SessionResponse {
    session: SessionBody,
    standing: StandingBody,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionsResponse {
    sessions: Vec<SessionBody>,
    sessions_count: i64,
}

fn body(s: Session) -> SessionBody {
    SessionBody {
        id: s.id.to_string(),
        content_type: s.content_type,
        content_id: s.content_id,
        technologies: s.technologies,
        duration_minutes: s.duration_minutes,
        completion: s.completion,
        difficulty: s.difficulty,
        rating: s.rating,
        notes: s.notes,
        started_at: iso(s.started_at),
        ended_at: s.ended_at.map(iso),
        points: s.points,
    }
}

fn standing(s: Standing) -> StandingBody {
    StandingBody {
        total_points: s.total_points,
        streak_days: s.streak_days,
        longest_streak: s.longest_streak,
        learning_progress: s.learning_progress,
    }
}

fn in_range<T: PartialOrd + std::fmt::Display + Copy>(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    v: Option<T>,
    lo: T,
    hi: T,
) {
    if let Some(v) = v {
        if v < lo || v > hi {
            errors.push(FieldError::new(
                field,
                format!("must be between {lo} and {hi}"),
            ));
        }
    }
}

/// Record a learning session.
#[utoipa::path(post, path = "/api/learning/sessions", tag = "learning", request_body = NewSessionRequest,
    responses((status = 201, body = SessionResponse), (status = 401), (status = 404), (status = 422)),
    security(("token" = [])))]
async fn record_session(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<NewSessionRequest>,
) -> Result<(StatusCode, Json<SessionResponse>), ApiError> {
    let s = req.session;
    let mut errors = Vec::new();
    let content_type = match s.content_type.as_deref() {
        None => {
            errors.push(FieldError::new("contentType", "can't be blank"));
            None
        }
        Some(t) => one_of("contentType", t, &CONTENT_TYPES)
            .map_err(|e| errors.push(e))
            .ok(),
    };
    let Some(duration) = s.duration_minutes else {
        errors.push(FieldError::new("durationMinutes", "can't be blank"));
        return Err(ApiError::Invalid(errors));
    };
    in_range(&mut errors, "durationMinutes", Some(duration), 1, 1440);
    let completion = s.completion.unwrap_or(100.0);
    if !completion.is_finite() {
        errors.push(FieldError::new("completion", "must be a number"));
    }
    in_range(&mut errors, "completion", Some(completion), 0.0, 100.0);
    in_range(&mut errors, "difficulty", s.difficulty, 1, 10);
    in_range(&mut errors, "rating", s.rating, 1, 5);
    if s.notes.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        errors.push(FieldError::new(
            "notes",
            "is too long (maximum is 2000 characters)",
        ));
    }
    let mut technologies: Vec<String> = Vec::new();
    for t in s.technologies.unwrap_or_default() {
        let t = t.trim().to_lowercase();
        if t.is_empty() || t.chars().count() > 50 {
            errors.push(FieldError::new(
                "technologies",
                "each must be 1 to 50 characters",
            ));
            break;
        }
        if !technologies.contains(&t) {
            technologies.push(t);
        }
    }
    if technologies.len() > 20 {
        errors.push(FieldError::new("technologies", "at most 20"));
    }
    let now = Utc::now();
    let ended_at = s.ended_at.unwrap_or(now);
    if ended_at > now + ChronoDuration::minutes(5) {
        errors.push(FieldError::new("endedAt", "must not be in the future"));
    }
    let started_at = s
        .started_at
        .unwrap_or(ended_at - ChronoDuration::minutes(duration.max(0) as i64));
    if started_at > ended_at {
        errors.push(FieldError::new("startedAt", "must not be after endedAt"));
    }
    let content_type = match content_type {
        Some(t) if errors.is_empty() => t,
        _ => return Err(ApiError::Invalid(errors)),
    };
    // Reading a post: it must exist (published, or the reader's own), and lends its tags.
    if content_type == "post" {
        if let Some(slug) = s.content_id.as_deref() {
            let post = techhub_content::posts::by_slug(&state.stores.mongo, slug)
                .await?
                .filter(|p| p.status == "published" || p.author_id == auth.id)
                .ok_or(ApiError::NotFound("article"))?;
            if technologies.is_empty() {
                technologies = post.tags;
            }
        }
    }
    let new = NewSession {
        user_id: auth.id,
        content_type,
        content_id: s.content_id,
        technologies,
        duration_minutes: duration,
        completion,
        difficulty: s.difficulty,
        rating: s.rating,
        notes: s.notes,
        started_at,
        ended_at,
    };
    // The engagement score is recomputed in the same transaction.
    let (session, after) = sessions::record(&state.stores.postgres, &new).await?;
    cached::invalidate(&state, &[keys::dashboard(auth.id)]).await;
    Ok((
        StatusCode::CREATED,
        Json(SessionResponse {
            session: body(session),
            standing: standing(after),
        }),
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct SessionsQuery {
    /// 1 to 100, default 20.
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The caller's learning sessions, newest first.
#[utoipa::path(get, path = "/api/learning/sessions", tag = "learning", params(SessionsQuery),
    responses((status = 200, body = SessionsResponse), (status = 401), (status = 422)),
    security(("token" = [])))]
async fn list_sessions(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<SessionsQuery>,
) -> Result<Json<SessionsResponse>, ApiError> {
    let limit = page(q.limit)?;
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid("offset", "must not be negative"));
    }
    let (found, total) = sessions::list(&state.stores.postgres, auth.id, limit, offset).await?;
    Ok(Json(SessionsResponse {
        sessions: found.into_iter().map(body).collect(),
        sessions_count: total,
    }))
}

// ---- Learning paths and skill assessments ----------------------------------------------

use techhub_learning::paths::{
    self, Assessment, LimitReached, Milestone, NewPath, Path as LearningPath, ASSESSMENT_TYPES,
};

pub fn paths_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_path, list_paths))
        .routes(routes!(set_milestone))
        .routes(routes!(create_assessment, list_assessments))
}

/// MySQL decides: the account must be active; returns the plan's entitlements.
async fn entitlements(
    state: &AppState,
    user_id: u64,
) -> Result<(techhub_core::plans::Plan, techhub_core::plans::Entitlements), ApiError> {
    let mysql = &state.stores.mysql;
    let (user, sub) = tokio::try_join!(
        techhub_accounts::users::find(mysql, user_id),
        techhub_accounts::billing::current(mysql, user_id)
    )?;
    if user.status != "active" {
        return Err(ApiError::Forbidden(format!(
            "your account is {}",
            user.status
        )));
    }
    Ok((sub.plan, sub.plan.entitlements()))
}

fn limit_reached(plan: techhub_core::plans::Plan, what: &str, l: LimitReached) -> ApiError {
    ApiError::Forbidden(format!(
        "the {} plan allows {} {what}; upgrade for more",
        plan.as_str(),
        l.limit
    ))
}

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
async fn create_path(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<NewPathRequest>,
) -> Result<(StatusCode, Json<PathResponse>), ApiError> {
    let p = req.path;
    let mut errors = Vec::new();
    let title = p.title.as_deref().unwrap_or("").trim().to_string();
    if title.is_empty() || title.chars().count() > 200 {
        errors.push(FieldError::new("title", "must be 1 to 200 characters"));
    }
    if p.description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 2000)
    {
        errors.push(FieldError::new(
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
        errors.push(FieldError::new("milestones", "at most 50"));
    }
    if milestones
        .iter()
        .any(|m| m.title.is_empty() || m.title.chars().count() > 200)
    {
        errors.push(FieldError::new(
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
        errors.push(FieldError::new(
            "targetTechnologies",
            "at most 20, each 1 to 50 characters",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let (plan, allowed) = entitlements(&state, auth.id).await?;
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
        .map_err(|l| limit_reached(plan, "learning paths", l))?;
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
async fn list_paths(
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
async fn set_milestone(
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
async fn create_assessment(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<NewAssessmentRequest>,
) -> Result<(StatusCode, Json<AssessmentResponse>), ApiError> {
    let a = req.assessment;
    let mut errors = Vec::new();
    let area = a.skill_area.as_deref().unwrap_or("").trim().to_lowercase();
    if area.is_empty() || area.chars().count() > 100 {
        errors.push(FieldError::new("skillArea", "must be 1 to 100 characters"));
    }
    match a.score {
        None => errors.push(FieldError::new("score", "can't be blank")),
        Some(s) if !(0..=100).contains(&s) => {
            errors.push(FieldError::new("score", "must be between 0 and 100"))
        }
        _ => {}
    }
    let kind = match one_of(
        "type",
        a.kind.as_deref().unwrap_or("quiz"),
        &ASSESSMENT_TYPES,
    ) {
        Ok(k) => k,
        Err(e) => {
            errors.push(e);
            String::new()
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let (plan, allowed) = entitlements(&state, auth.id).await?;
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
    .map_err(|l| limit_reached(plan, "skill assessments a month", l))?;
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
async fn list_assessments(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<AssessmentsResponse>, ApiError> {
    let found = paths::assessments(&state.stores.postgres, auth.id).await?;
    Ok(Json(AssessmentsResponse {
        assessments: found.into_iter().map(assessment_body).collect(),
    }))
}
