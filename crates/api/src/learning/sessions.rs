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

use crate::cached;
use crate::error::ApiError;
use crate::extract::{ApiJson, AuthUser};
use crate::validate::{in_range, one_of, page_limit, required, Fields};
use crate::{iso, AppState};
use techhub_core::domain::FieldError;

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

/// Record a learning session.
#[utoipa::path(post, path = "/api/learning/sessions", tag = "learning", request_body = NewSessionRequest,
    responses((status = 201, body = SessionResponse), (status = 401), (status = 404), (status = 422)),
    security(("token" = [])))]
pub(crate) async fn record_session(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<NewSessionRequest>,
) -> Result<(StatusCode, Json<SessionResponse>), ApiError> {
    let s = req.session;
    let mut fields = Fields::default();
    let content_type = fields.check(
        required("contentType", &s.content_type)
            .and_then(|t| one_of("contentType", t, &CONTENT_TYPES)),
    );
    let Some(duration) = s.duration_minutes else {
        fields.push(FieldError::new("durationMinutes", "can't be blank"));
        return Err(fields.into_error());
    };
    fields.check(in_range("durationMinutes", Some(duration), 1, 1440));
    let completion = s.completion.unwrap_or(100.0);
    if !completion.is_finite() {
        fields.push(FieldError::new("completion", "must be a number"));
    }
    fields.check(in_range("completion", Some(completion), 0.0, 100.0));
    fields.check(in_range("difficulty", s.difficulty, 1, 10));
    fields.check(in_range("rating", s.rating, 1, 5));
    if s.notes.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        fields.push(FieldError::new(
            "notes",
            "is too long (maximum is 2000 characters)",
        ));
    }
    let mut technologies: Vec<String> = Vec::new();
    for t in s.technologies.unwrap_or_default() {
        let t = t.trim().to_lowercase();
        if t.is_empty() || t.chars().count() > 50 {
            fields.push(FieldError::new(
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
        fields.push(FieldError::new("technologies", "at most 20"));
    }
    let now = Utc::now();
    let ended_at = s.ended_at.unwrap_or(now);
    if ended_at > now + ChronoDuration::minutes(5) {
        fields.push(FieldError::new("endedAt", "must not be in the future"));
    }
    let started_at = s
        .started_at
        .unwrap_or(ended_at - ChronoDuration::minutes(duration.max(0) as i64));
    if started_at > ended_at {
        fields.push(FieldError::new("startedAt", "must not be after endedAt"));
    }
    let Some(content_type) = content_type else {
        return Err(fields.into_error());
    };
    fields.finish()?;
    // Reading a post: it must exist (published, or the reader's own), and lends its tags.
    if content_type == "post" {
        if let Some(slug) = s.content_id.as_deref() {
            let post = techhub_content::posts::by_slug(&state.stores.mongo, slug)
                .await?
                .filter(|p| p.status.is_published() || p.author_id == auth.id)
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
pub(crate) async fn list_sessions(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<SessionsQuery>,
) -> Result<Json<SessionsResponse>, ApiError> {
    let limit = page_limit(q.limit)? as i64;
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
