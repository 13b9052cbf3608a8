//! Read models over the learning data: a user's insights (the `user_learning_insights` view
//! plus weekly trends), a post's activity over time, and the admin reports. Every query is
//! parameterized; the report period is one of a fixed set.

use serde_json::Value;

use crate::{PgError, Postgres};

/// The user's `user_learning_insights` row as JSON (None before any analytics exist).
pub async fn insights(pg: &Postgres, user_id: u64) -> Result<Option<Value>, PgError> {
    pg.timed(
        sqlx::query_scalar(
            "SELECT to_jsonb(i) - 'user_id' FROM user_learning_insights i WHERE user_id = $1",
        )
        .bind(user_id as i64)
        .fetch_optional(pg.pool()),
    )
    .await
}

/// Sessions, minutes, points-worthy completion and average rating per week (weeks start on
/// Monday, UTC) over the last `weeks` weeks, oldest first; weeks without sessions included.
pub async fn weekly_trends(pg: &Postgres, user_id: u64, weeks: i32) -> Result<Value, PgError> {
    pg.timed(
        sqlx::query_scalar(
            "SELECT COALESCE(jsonb_agg(jsonb_build_object('week', w.week::date, 'sessions', COALESCE(s.n, 0), \
                 'minutes', COALESCE(s.minutes, 0), 'avgCompletion', s.completion, 'avgRating', s.rating) ORDER BY w.week), '[]'::jsonb) \
             FROM generate_series(date_trunc('week', now()) - make_interval(weeks => $2 - 1), date_trunc('week', now()), interval '1 week') AS w(week) \
             LEFT JOIN (SELECT date_trunc('week', started_at) AS week, count(*) AS n, sum(duration_minutes)::bigint AS minutes, \
                        round(avg(completion_percentage), 2)::float8 AS completion, round(avg(rating), 2)::float8 AS rating \
                        FROM learning_sessions WHERE user_id = $1 AND started_at >= date_trunc('week', now()) - make_interval(weeks => $2 - 1) \
                        GROUP BY 1) s ON s.week = w.week",
        )
        .bind(user_id as i64)
        .bind(weeks)
        .fetch_one(pg.pool()),
    )
    .await
}

/// Likes and comments a post received per day over the last `days` days (from the activity
/// log), oldest first, days without any included.
pub async fn post_daily(pg: &Postgres, post_id: &str, days: i32) -> Result<Value, PgError> {
    pg.timed(
        sqlx::query_scalar(
            "SELECT COALESCE(jsonb_agg(jsonb_build_object('day', d.day::date, 'likes', COALESCE(a.likes, 0), \
                 'comments', COALESCE(a.comments, 0)) ORDER BY d.day), '[]'::jsonb) \
             FROM generate_series(date_trunc('day', now()) - make_interval(days => $2 - 1), date_trunc('day', now()), interval '1 day') AS d(day) \
             LEFT JOIN (SELECT date_trunc('day', occurred_at) AS day, \
                        count(*) FILTER (WHERE kind = 'post.liked') AS likes, count(*) FILTER (WHERE kind = 'comment.created') AS comments \
                        FROM activity_events WHERE subject_id = $1 AND occurred_at >= date_trunc('day', now()) - make_interval(days => $2 - 1) \
                        GROUP BY 1) a ON a.day = d.day",
        )
        .bind(post_id)
        .bind(days)
        .fetch_one(pg.pool()),
    )
    .await
}

/// Report periods.
pub const PERIODS: [&str; 3] = ["day", "week", "month"];

/// Distinct active users (any activity or learning session) per period, the last `count`
/// periods, oldest first.
pub async fn active_users(pg: &Postgres, period: &str, count: i32) -> Result<Value, PgError> {
    assert!(PERIODS.contains(&period), "period checked by the caller");
    pg.timed(
        sqlx::query_scalar(
            "WITH span AS (SELECT date_trunc($1, now()) - ($2 - 1) * ('1 ' || $1)::interval AS since), \
             acts AS (SELECT user_id, occurred_at AS at FROM activity_events, span WHERE occurred_at >= span.since \
                      UNION ALL SELECT user_id, started_at FROM learning_sessions, span WHERE started_at >= span.since) \
             SELECT COALESCE(jsonb_agg(jsonb_build_object('period', p.start::date, 'activeUsers', COALESCE(c.n, 0)) ORDER BY p.start), '[]'::jsonb) \
             FROM span, generate_series(span.since, date_trunc($1, now()), ('1 ' || $1)::interval) AS p(start) \
             LEFT JOIN (SELECT date_trunc($1, at) AS start, count(DISTINCT user_id) AS n FROM acts GROUP BY 1) c ON c.start = p.start",
        )
        .bind(period)
        .bind(count)
        .fetch_one(pg.pool()),
    )
    .await
}

/// The technologies studied most since Monday (UTC): sessions, minutes and learners each.
pub async fn top_technologies(pg: &Postgres, limit: i64) -> Result<Value, PgError> {
    pg.timed(
        sqlx::query_scalar(
            "SELECT COALESCE(jsonb_agg(t ORDER BY t.sessions DESC, t.technology), '[]'::jsonb) FROM ( \
               SELECT tech AS technology, count(*) AS sessions, sum(duration_minutes)::bigint AS minutes, count(DISTINCT user_id) AS learners \
               FROM learning_sessions, unnest(technologies) AS tech WHERE started_at >= date_trunc('week', now()) \
               GROUP BY tech ORDER BY count(*) DESC, tech LIMIT $1) t",
        )
        .bind(limit)
        .fetch_one(pg.pool()),
    )
    .await
}

/// Users per engagement-score band of 10 (0–10, 10–20, … 90–100).
pub async fn engagement_distribution(pg: &Postgres) -> Result<Value, PgError> {
    pg.timed(
        sqlx::query_scalar(
            "SELECT jsonb_agg(jsonb_build_object('from', b * 10, 'to', b * 10 + 10, 'users', COALESCE(c.n, 0)) ORDER BY b) \
             FROM generate_series(0, 9) AS b LEFT JOIN ( \
               SELECT LEAST(floor(engagement_score / 10)::int, 9) AS band, count(*) AS n FROM user_analytics GROUP BY 1) c ON c.band = b",
        )
        .fetch_one(pg.pool()),
    )
    .await
}
