//! Learning paths (a goal with ordered milestones) and skill assessments. A path's completion
//! is derived from its milestones (completed / all × 100), never set directly; a path whose
//! milestones are all done is `completed`. An assessment's score (0–100) updates the user's
//! `skill_metrics` for that skill area (latest, best, attempts, average) in the same
//! transaction. Both are limited by the plan's entitlements: the caller passes the limit, and
//! the count and insert run under a per-user advisory lock, so concurrent requests cannot
//! overshoot it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::Row;
use uuid::Uuid;

use crate::{PgError, Postgres};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    pub title: String,
    #[serde(default)]
    pub completed: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Path {
    pub id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub target_technologies: Vec<String>,
    pub milestones: Vec<Milestone>,
    pub status: String,
    pub completion: f64,
    pub target_completion_date: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub struct NewPath {
    pub user_id: u64,
    pub title: String,
    pub description: Option<String>,
    pub target_technologies: Vec<String>,
    pub milestones: Vec<Milestone>,
    pub target_completion_date: Option<NaiveDate>,
}

/// Completion percentage of `milestones`, two decimals.
pub fn completion(milestones: &[Milestone]) -> f64 {
    if milestones.is_empty() {
        return 0.0;
    }
    let done = milestones.iter().filter(|m| m.completed).count() as f64;
    (done * 10000.0 / milestones.len() as f64).round() / 100.0
}

fn status_for(milestones: &[Milestone]) -> &'static str {
    if !milestones.is_empty() && milestones.iter().all(|m| m.completed) {
        "completed"
    } else {
        "active"
    }
}

/// Why a limited creation was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct LimitReached {
    pub limit: u32,
}

const PATH_COLUMNS: &str = "id, title, description, target_technologies, milestones, status, \
     completion_percentage::float8 AS completion, target_completion_date, created_at, updated_at";

fn path_from(r: &sqlx::postgres::PgRow) -> Path {
    Path {
        id: r.get("id"),
        title: r.get("title"),
        description: r.get("description"),
        target_technologies: r.get("target_technologies"),
        milestones: serde_json::from_value(r.get::<Value, _>("milestones")).unwrap_or_default(),
        status: r.get("status"),
        completion: r.get("completion"),
        target_completion_date: r.get("target_completion_date"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

/// Creates the path unless the user already has `max` paths (not abandoned).
pub async fn create(
    pg: &Postgres,
    new: &NewPath,
    max: Option<u32>,
) -> Result<Result<Path, LimitReached>, PgError> {
    let work = async {
        let mut tx = pg.pool().begin().await?;
        let uid = new.user_id as i64;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('learning_paths'), $1::int)")
            .bind((uid % i32::MAX as i64) as i32)
            .execute(&mut *tx)
            .await?;
        if let Some(max) = max {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM learning_paths WHERE user_id = $1 AND status <> 'abandoned'",
            )
            .bind(uid)
            .fetch_one(&mut *tx)
            .await?;
            if n >= max as i64 {
                return Ok(Err(LimitReached { limit: max }));
            }
        }
        let row = sqlx::query(&format!(
            "INSERT INTO learning_paths (user_id, title, description, target_technologies, milestones, status, \
             completion_percentage, target_completion_date) VALUES ($1, $2, $3, $4, $5, $6, $7::float8::numeric(5,2), $8) \
             RETURNING {PATH_COLUMNS}"
        ))
        .bind(uid)
        .bind(&new.title)
        .bind(&new.description)
        .bind(&new.target_technologies)
        .bind(serde_json::to_value(&new.milestones).expect("milestones serialize"))
        .bind(status_for(&new.milestones))
        .bind(completion(&new.milestones))
        .bind(new.target_completion_date)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Ok(path_from(&row)))
    };
    pg.timed(work).await
}

pub async fn list(pg: &Postgres, user_id: u64) -> Result<Vec<Path>, PgError> {
    let rows = pg
        .timed(
            sqlx::query(&format!("SELECT {PATH_COLUMNS} FROM learning_paths WHERE user_id = $1 ORDER BY created_at DESC, id"))
                .bind(user_id as i64)
                .fetch_all(pg.pool()),
        )
        .await?;
    Ok(rows.iter().map(path_from).collect())
}

/// Marks milestone `index` of the user's path done or not, and re-derives completion and
/// status. `None` when the path is not the user's or has no such milestone.
pub async fn set_milestone(
    pg: &Postgres,
    user_id: u64,
    path_id: Uuid,
    index: usize,
    completed: bool,
) -> Result<Option<Path>, PgError> {
    let work = async {
        let mut tx = pg.pool().begin().await?;
        let Some(row) = sqlx::query(&format!(
            "SELECT {PATH_COLUMNS} FROM learning_paths WHERE id = $1 AND user_id = $2 FOR UPDATE"
        ))
        .bind(path_id)
        .bind(user_id as i64)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let mut path = path_from(&row);
        let Some(m) = path.milestones.get_mut(index) else {
            return Ok(None);
        };
        m.completed = completed;
        let row = sqlx::query(&format!(
            "UPDATE learning_paths SET milestones = $2, completion_percentage = $3::float8::numeric(5,2), status = $4, \
             updated_at = now() WHERE id = $1 RETURNING {PATH_COLUMNS}"
        ))
        .bind(path_id)
        .bind(serde_json::to_value(&path.milestones).expect("milestones serialize"))
        .bind(completion(&path.milestones))
        .bind(status_for(&path.milestones))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Some(path_from(&row)))
    };
    pg.timed(work).await
}

#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    pub id: Uuid,
    pub skill_area: String,
    pub score: i32,
    pub assessment_type: String,
    pub taken_at: DateTime<Utc>,
}

/// Assessment kinds.
pub const ASSESSMENT_TYPES: [&str; 4] = ["quiz", "project", "peer_review", "self"];

/// `metrics` with a new `score` in `area`: latest, best, attempts and the running average.
pub fn add_score(mut metrics: Value, area: &str, score: i32) -> Value {
    if !metrics.is_object() {
        metrics = json!({});
    }
    let map = metrics.as_object_mut().expect("object");
    let old = map.get(area).cloned().unwrap_or(json!({}));
    let attempts = old.get("attempts").and_then(Value::as_i64).unwrap_or(0);
    let average = old.get("average").and_then(Value::as_f64).unwrap_or(0.0);
    let best = old
        .get("best")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .max(score as i64);
    let new_average = (average * attempts as f64 + score as f64) / (attempts + 1) as f64;
    map.insert(
        area.to_string(),
        json!({ "latest": score, "best": best, "attempts": attempts + 1, "average": (new_average * 100.0).round() / 100.0 }),
    );
    metrics
}

/// Records an assessment unless the user took `per_month` already this calendar month (UTC),
/// and updates `skill_metrics`. Returns the assessment and the area's metrics.
pub async fn assess(
    pg: &Postgres,
    user_id: u64,
    skill_area: &str,
    score: i32,
    assessment_type: &str,
    per_month: Option<u32>,
) -> Result<Result<(Assessment, Value), LimitReached>, PgError> {
    let work = async {
        let mut tx = pg.pool().begin().await?;
        let uid = user_id as i64;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('skill_assessments'), $1::int)")
            .bind((uid % i32::MAX as i64) as i32)
            .execute(&mut *tx)
            .await?;
        if let Some(max) = per_month {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM skill_assessments WHERE user_id = $1 AND taken_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
            )
            .bind(uid)
            .fetch_one(&mut *tx)
            .await?;
            if n >= max as i64 {
                return Ok(Err(LimitReached { limit: max }));
            }
        }
        sqlx::query(
            "INSERT INTO user_analytics (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(uid)
        .execute(&mut *tx)
        .await?;
        let metrics: Value = sqlx::query_scalar(
            "SELECT skill_metrics FROM user_analytics WHERE user_id = $1 FOR UPDATE",
        )
        .bind(uid)
        .fetch_one(&mut *tx)
        .await?;
        let metrics = add_score(metrics, skill_area, score);
        sqlx::query("UPDATE user_analytics SET skill_metrics = $2, last_activity = GREATEST(last_activity, now()), updated_at = now() WHERE user_id = $1")
            .bind(uid)
            .bind(&metrics)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(
            "INSERT INTO skill_assessments (user_id, skill_area, score, assessment_type) VALUES ($1, $2, $3, $4) \
             RETURNING id, skill_area, score, assessment_type, taken_at",
        )
        .bind(uid)
        .bind(skill_area)
        .bind(score)
        .bind(assessment_type)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Ok((
            Assessment {
                id: row.get("id"),
                skill_area: row.get("skill_area"),
                score: row.get("score"),
                assessment_type: row.get("assessment_type"),
                taken_at: row.get("taken_at"),
            },
            metrics[skill_area].clone(),
        )))
    };
    pg.timed(work).await
}

pub async fn assessments(pg: &Postgres, user_id: u64) -> Result<Vec<Assessment>, PgError> {
    let rows = pg
        .timed(
            sqlx::query("SELECT id, skill_area, score, assessment_type, taken_at FROM skill_assessments WHERE user_id = $1 ORDER BY taken_at DESC, id LIMIT 100")
                .bind(user_id as i64)
                .fetch_all(pg.pool()),
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Assessment {
            id: r.get("id"),
            skill_area: r.get("skill_area"),
            score: r.get("score"),
            assessment_type: r.get("assessment_type"),
            taken_at: r.get("taken_at"),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(done: bool) -> Milestone {
        Milestone {
            title: "x".into(),
            completed: done,
        }
    }

    #[test]
    fn completion_is_derived_from_milestones() {
        assert_eq!(completion(&[]), 0.0);
        assert_eq!(completion(&[m(true), m(false), m(false)]), 33.33);
        assert_eq!(completion(&[m(true), m(true), m(false)]), 66.67);
        assert_eq!(completion(&[m(true), m(true)]), 100.0);
        assert_eq!(status_for(&[m(true), m(true)]), "completed");
        assert_eq!(status_for(&[]), "active");
    }

    #[test]
    fn skill_metrics_keep_latest_best_attempts_and_average() {
        let s = add_score(json!({}), "rust", 60);
        let s = add_score(s, "rust", 90);
        let s = add_score(s, "rust", 70);
        assert_eq!(
            s["rust"],
            json!({ "latest": 70, "best": 90, "attempts": 3, "average": 73.33 })
        );
    }
}
