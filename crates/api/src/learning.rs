//! Learning sessions: `POST`/`GET /api/learning/sessions`. Recording one updates the user's
//! analytics (points, streak, per-technology progress) in the same PostgreSQL transaction and
//! drops the cached dashboard.

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
use crate::AppState;
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

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
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
