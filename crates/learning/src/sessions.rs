//! Learning sessions and what they do to `user_analytics`: points, streaks and per-technology
//! progress, in the same transaction as the session row.
//!
//! **Points** for a session: `floor(duration_minutes × completion / 100)`, plus a bonus of 10
//! when the session was completed (100 %). A 30-minute tutorial finished: 30 + 10 = 40; 45
//! minutes at 50 %: 22.
//!
//! **Streak**: consecutive calendar days with at least one session, in the user's time zone
//! (UTC when unset or unknown), counted by the day the session ended. Another session the same
//! day keeps the streak; one the next day adds a day; a gap of a day or more starts again at 1.
//! A session dated before the last active day (recorded late) changes no streak.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};
use sqlx::Row;
use uuid::Uuid;

use crate::engagement::{self, Earned};
use crate::{PgError, Postgres};

/// Content types a session may be about.
pub const CONTENT_TYPES: [&str; 6] = [
    "post",
    "tutorial",
    "video",
    "course",
    "exercise",
    "documentation",
];
/// Bonus points for a completed session.
pub const COMPLETION_BONUS: i64 = 10;

#[derive(Clone, Debug)]
pub struct NewSession {
    pub user_id: u64,
    pub content_type: String,
    pub content_id: Option<String>,
    pub technologies: Vec<String>,
    pub duration_minutes: i32,
    /// 0 to 100.
    pub completion: f64,
    /// 1 to 10.
    pub difficulty: Option<i16>,
    /// 1 to 5.
    pub rating: Option<i16>,
    pub notes: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub id: Uuid,
    pub content_type: String,
    pub content_id: Option<String>,
    pub technologies: Vec<String>,
    pub duration_minutes: i32,
    pub completion: f64,
    pub difficulty: Option<i16>,
    pub rating: Option<i16>,
    pub notes: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Points the session earned.
    pub points: i64,
}

/// The analytics a session leaves behind.
#[derive(Clone, Debug, PartialEq)]
pub struct Standing {
    pub total_points: i64,
    pub streak_days: i32,
    pub longest_streak: i32,
    pub learning_progress: Value,
}

/// Points for one session (see the module docs).
pub fn points(duration_minutes: i32, completion: f64) -> i64 {
    let base = (duration_minutes as f64 * completion / 100.0).floor() as i64;
    base + if completion >= 100.0 {
        COMPLETION_BONUS
    } else {
        0
    }
}

/// The streak after activity on `day`, given the last active day and the current streak.
/// Returns `(streak, last_active_day)`.
pub fn next_streak(last: Option<NaiveDate>, streak: i32, day: NaiveDate) -> (i32, NaiveDate) {
    match last {
        None => (1, day),
        Some(last) if day == last => (streak.max(1), last),
        Some(last) if day < last => (streak, last),
        Some(last) if day == last.succ_opt().unwrap_or(last) => (streak + 1, day),
        Some(_) => (1, day),
    }
}

/// `progress` with the session's minutes and count added to each technology.
pub fn add_progress(
    mut progress: Value,
    technologies: &[String],
    minutes: i32,
    completed: bool,
) -> Value {
    if !progress.is_object() {
        progress = json!({});
    }
    let map = progress.as_object_mut().expect("object");
    for tech in technologies {
        let entry = map
            .entry(tech.clone())
            .or_insert_with(|| json!({ "minutes": 0, "sessions": 0, "completed": 0 }));
        let get = |e: &Value, k: &str| e.get(k).and_then(Value::as_i64).unwrap_or(0);
        *entry = json!({
            "minutes": get(entry, "minutes") + minutes as i64,
            "sessions": get(entry, "sessions") + 1,
            "completed": get(entry, "completed") + completed as i64,
        });
    }
    progress
}

/// Records the session, updates the user's analytics and moves their engagement score, in one
/// transaction of two statements (the analytics row locked with the score's stored sums, then
/// the session inserted and the row updated, score included, in one) and one commit. When the
/// stored sums are missing or no longer exact, [`engagement::add_on`] recomputes the score from
/// the history, the new session included, in two more.
pub async fn record(pg: &Postgres, new: &NewSession) -> Result<(Session, Standing), PgError> {
    let earned = points(new.duration_minutes, new.completion);
    let work = async {
        let mut tx = pg.pool().begin().await?;
        let uid = new.user_id as i64;
        let select = format!(
            "SELECT total_points::bigint AS total_points, streak_days, longest_streak, last_active_day, learning_progress, \
             local_day($2::timestamptz, timezone) AS day, {}, now() AS now \
             FROM user_analytics WHERE user_id = $1 FOR UPDATE",
            engagement::SUMS_COLUMNS
        );
        let locked = || sqlx::query(&select).bind(uid).bind(new.ended_at);
        let row = match locked().fetch_optional(&mut *tx).await? {
            Some(row) => row,
            None => {
                // The analytics row may not exist yet (its registration event may still be
                // on its way).
                sqlx::query(
                    "INSERT INTO user_analytics (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING",
                )
                .bind(uid)
                .execute(&mut *tx)
                .await?;
                locked().fetch_one(&mut *tx).await?
            }
        };
        let day: NaiveDate = row.get("day");
        let (streak, last_day) =
            next_streak(row.get("last_active_day"), row.get("streak_days"), day);
        let longest = streak.max(row.get::<i32, _>("longest_streak"));
        let progress = add_progress(
            row.get("learning_progress"),
            &new.technologies,
            new.duration_minutes,
            new.completion >= 100.0,
        );
        let total: i64 = row.get::<i64, _>("total_points") + earned;
        // The score moves in the same update when the stored sums allow it; otherwise it is
        // recomputed from the history once the session is in it.
        let minutes = [(Earned::Minutes(new.duration_minutes), new.ended_at)];
        let running =
            engagement::Sums::stored(&row).and_then(|s| s.moved(row.get("now"), &minutes));
        let id: Uuid = sqlx::query_scalar(
            "WITH analytics AS (UPDATE user_analytics SET total_points = $12, streak_days = $13, longest_streak = $14, \
               last_active_day = $15, learning_progress = $16, last_activity = GREATEST(last_activity, $11), updated_at = now(), \
               engagement_score = CASE WHEN $17 THEN $18::float8::numeric(5,2) ELSE engagement_score END, \
               engagement_posts = CASE WHEN $17 THEN $19 ELSE engagement_posts END, \
               engagement_comments = CASE WHEN $17 THEN $20 ELSE engagement_comments END, \
               engagement_likes = CASE WHEN $17 THEN $21 ELSE engagement_likes END, \
               engagement_minutes = CASE WHEN $17 THEN $22 ELSE engagement_minutes END, \
               engagement_at = CASE WHEN $17 THEN $23 ELSE engagement_at END, \
               engagement_exact_until = CASE WHEN $17 THEN $24 ELSE engagement_exact_until END \
               WHERE user_id = $1) \
             INSERT INTO learning_sessions (user_id, content_type, content_id, technologies, duration_minutes, \
             completion_percentage, difficulty_level, rating, notes, started_at, ended_at) \
             VALUES ($1, $2, $3, $4, $5, $6::float8::numeric(5,2), $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(uid)
        .bind(&new.content_type)
        .bind(&new.content_id)
        .bind(&new.technologies)
        .bind(new.duration_minutes)
        .bind(new.completion)
        .bind(new.difficulty)
        .bind(new.rating)
        .bind(&new.notes)
        .bind(new.started_at)
        .bind(new.ended_at)
        .bind(total as i32)
        .bind(streak)
        .bind(longest)
        .bind(last_day)
        .bind(&progress)
        .bind(running.is_some())
        .bind(running.map(|s| s.score(streak)))
        .bind(running.map(|s| s.posts))
        .bind(running.map(|s| s.comments))
        .bind(running.map(|s| s.likes))
        .bind(running.map(|s| s.minutes))
        .bind(running.map(|s| s.at))
        .bind(running.and_then(|s| s.exact_until))
        .fetch_one(&mut *tx)
        .await?;
        if running.is_none() {
            let minutes = [(new.user_id, minutes.to_vec())];
            engagement::add_on(&mut tx, &minutes.into_iter().collect()).await?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>((
            Session {
                id,
                content_type: new.content_type.clone(),
                content_id: new.content_id.clone(),
                technologies: new.technologies.clone(),
                duration_minutes: new.duration_minutes,
                completion: new.completion,
                difficulty: new.difficulty,
                rating: new.rating,
                notes: new.notes.clone(),
                started_at: new.started_at,
                ended_at: Some(new.ended_at),
                points: earned,
            },
            Standing {
                total_points: total,
                streak_days: streak,
                longest_streak: longest,
                learning_progress: progress,
            },
        ))
    };
    pg.timed(work).await
}

/// The user's sessions, newest first, and how many there are.
pub async fn list(
    pg: &Postgres,
    user_id: u64,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Session>, i64), PgError> {
    let rows = pg
        .timed(
            sqlx::query(
                "SELECT id, content_type, content_id, technologies, duration_minutes, completion_percentage::float8 AS completion, \
                 difficulty_level, rating, notes, started_at, ended_at, count(*) OVER () AS total \
                 FROM learning_sessions WHERE user_id = $1 ORDER BY started_at DESC, id LIMIT $2 OFFSET $3",
            )
            .bind(user_id as i64)
            .bind(limit)
            .bind(offset)
            .fetch_all(pg.pool()),
        )
        .await?;
    let total = rows.first().map(|r| r.get::<i64, _>("total")).unwrap_or(0);
    let total = if rows.is_empty() && offset > 0 {
        count(pg, user_id).await?
    } else {
        total
    };
    Ok((
        rows.iter()
            .map(|r| {
                let completion: f64 = r.get("completion");
                let minutes: i32 = r.get("duration_minutes");
                Session {
                    id: r.get("id"),
                    content_type: r.get("content_type"),
                    content_id: r.get("content_id"),
                    technologies: r.get("technologies"),
                    duration_minutes: minutes,
                    completion,
                    difficulty: r.get("difficulty_level"),
                    rating: r.get("rating"),
                    notes: r.get("notes"),
                    started_at: r.get("started_at"),
                    ended_at: r.get("ended_at"),
                    points: points(minutes, completion),
                }
            })
            .collect(),
        total,
    ))
}

async fn count(pg: &Postgres, user_id: u64) -> Result<i64, PgError> {
    pg.timed(
        sqlx::query_scalar("SELECT count(*) FROM learning_sessions WHERE user_id = $1")
            .bind(user_id as i64)
            .fetch_one(pg.pool()),
    )
    .await
}

/// The user's analytics summary for the dashboard: standing plus this week's sessions
/// (the last 7 days).
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub total_points: i64,
    pub streak_days: i32,
    pub longest_streak: i32,
    pub engagement_score: f64,
    pub learning_progress: Value,
    pub activity_summary: Value,
    pub last_activity: Option<DateTime<Utc>>,
    pub sessions_this_week: i64,
    pub minutes_this_week: i64,
}

pub async fn summary(pg: &Postgres, user_id: u64) -> Result<Summary, PgError> {
    let row = pg
        .timed(
            sqlx::query(
                "SELECT COALESCE(a.total_points, 0)::bigint AS total_points, COALESCE(a.streak_days, 0) AS streak_days, \
                 COALESCE(a.longest_streak, 0) AS longest_streak, COALESCE(a.engagement_score, 0)::float8 AS engagement_score, \
                 COALESCE(a.learning_progress, '{}'::jsonb) AS learning_progress, COALESCE(a.activity_summary, '{}'::jsonb) AS activity_summary, \
                 a.last_activity, w.n AS sessions, w.minutes \
                 FROM (SELECT count(*) AS n, COALESCE(sum(duration_minutes), 0)::bigint AS minutes FROM learning_sessions \
                       WHERE user_id = $1 AND started_at >= now() - interval '7 days') w \
                 LEFT JOIN user_analytics a ON a.user_id = $1",
            )
            .bind(user_id as i64)
            .fetch_one(pg.pool()),
        )
        .await?;
    Ok(Summary {
        total_points: row.get("total_points"),
        streak_days: row.get("streak_days"),
        longest_streak: row.get("longest_streak"),
        engagement_score: row.get("engagement_score"),
        learning_progress: row.get("learning_progress"),
        activity_summary: row.get("activity_summary"),
        last_activity: row.get("last_activity"),
        sessions_this_week: row.get("sessions"),
        minutes_this_week: row.get("minutes"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn points_are_minutes_times_completion_plus_a_bonus_when_finished() {
        assert_eq!(points(30, 100.0), 40);
        assert_eq!(points(45, 50.0), 22);
        assert_eq!(points(1, 99.0), 0);
        assert_eq!(points(90, 0.0), 0);
    }

    #[test]
    fn streaks_count_consecutive_days_and_reset_after_a_gap() {
        let (s, last) = next_streak(None, 0, day("2026-11-20"));
        assert_eq!((s, last), (1, day("2026-11-20")));
        assert_eq!(
            next_streak(Some(last), 1, day("2026-11-20")),
            (1, day("2026-11-20")),
            "same day"
        );
        assert_eq!(
            next_streak(Some(last), 1, day("2026-11-21")),
            (2, day("2026-11-21")),
            "next day"
        );
        assert_eq!(
            next_streak(Some(day("2026-11-21")), 2, day("2026-11-23")),
            (1, day("2026-11-23")),
            "a missed day"
        );
        assert_eq!(
            next_streak(Some(day("2026-11-21")), 2, day("2026-11-19")),
            (2, day("2026-11-21")),
            "late record"
        );
        assert_eq!(
            next_streak(Some(day("2026-12-31")), 5, day("2027-01-01")),
            (6, day("2027-01-01")),
            "year end"
        );
    }

    #[test]
    fn progress_adds_minutes_sessions_and_completions_per_technology() {
        let p = add_progress(json!({}), &["rust".into(), "sql".into()], 30, true);
        let p = add_progress(p, &["rust".into()], 15, false);
        assert_eq!(
            p["rust"],
            json!({ "minutes": 45, "sessions": 2, "completed": 1 })
        );
        assert_eq!(
            p["sql"],
            json!({ "minutes": 30, "sessions": 1, "completed": 1 })
        );
    }
}
