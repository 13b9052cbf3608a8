//! The engagement score: how active a user has been lately, 0 to 100.
//!
//! Over the last 30 days, each thing the user did earns points that halve every 7 days
//! (`points × 0.5^(age in days / 7)`):
//!
//! | activity | points |
//! |---|---|
//! | a post published | 10 |
//! | a comment written | 3 |
//! | a like received on one of their posts | 1 |
//! | a minute of learning (sessions, by end time) | 0.2 |
//!
//! plus 2 per day of the current streak (at most 30 days; no decay: a streak is current by
//! definition). The sum `raw` is scaled to `100 × (1 − e^(−raw / 100))`, rounded to two
//! decimals: 0 for nothing, about 63 for a raw 100, approaching 100. So one post published
//! today is 9.52; a 30-minute session today adds 6 raw points.
//!
//! It is recomputed when the user's activity changes (content events, sessions) and by a
//! periodic job in `serve` (`TECHHUB_ENGAGEMENT_INTERVAL_SECS`), since decay moves it even
//! when nothing happens.

use sqlx::Row;
use techhub_core::domain::PostStatus;

use crate::{PgError, Postgres};

pub const WINDOW_DAYS: f64 = 30.0;
pub const HALF_LIFE_DAYS: f64 = 7.0;
pub const POST_PUBLISHED: f64 = 10.0;
pub const COMMENT_WRITTEN: f64 = 3.0;
pub const LIKE_RECEIVED: f64 = 1.0;
pub const PER_LEARNING_MINUTE: f64 = 0.2;
pub const PER_STREAK_DAY: f64 = 2.0;
pub const MAX_STREAK_DAYS: i32 = 30;
pub const SCALE: f64 = 100.0;

/// One input: what happened, how many days ago.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Input {
    PostPublished {
        age_days: f64,
    },
    CommentWritten {
        age_days: f64,
    },
    LikeReceived {
        age_days: f64,
    },
    Learning {
        minutes: i32,
        age_days: f64,
    },
    /// Minutes of learning, each already decayed by its age, summed.
    DecayedMinutes(f64),
}

/// `points` decayed over `age_days`; nothing outside the window.
pub fn decayed(points: f64, age_days: f64) -> f64 {
    if !(0.0..=WINDOW_DAYS).contains(&age_days.max(0.0)) {
        return 0.0;
    }
    points * 0.5_f64.powf(age_days.max(0.0) / HALF_LIFE_DAYS)
}

/// The score for `inputs` and the current streak.
pub fn score(inputs: &[Input], streak_days: i32) -> f64 {
    let raw: f64 = inputs
        .iter()
        .map(|i| match *i {
            Input::PostPublished { age_days } => decayed(POST_PUBLISHED, age_days),
            Input::CommentWritten { age_days } => decayed(COMMENT_WRITTEN, age_days),
            Input::LikeReceived { age_days } => decayed(LIKE_RECEIVED, age_days),
            Input::Learning { minutes, age_days } => {
                decayed(PER_LEARNING_MINUTE * minutes as f64, age_days)
            }
            Input::DecayedMinutes(minutes) => PER_LEARNING_MINUTE * minutes,
        })
        .sum::<f64>()
        + PER_STREAK_DAY * streak_days.clamp(0, MAX_STREAK_DAYS) as f64;
    let scaled = 100.0 * (1.0 - (-raw / SCALE).exp());
    (scaled * 100.0).round() / 100.0
}

/// Reads the user's inputs, computes the score and stores it. Returns it.
pub async fn recompute(pg: &Postgres, user_id: u64) -> Result<f64, PgError> {
    let work = async {
        let mut conn = pg.pool().acquire().await?;
        recompute_on(&mut conn, user_id, None).await
    };
    pg.timed(work).await
}

/// [`recompute`] on `conn` (a transaction's, so it sees that transaction's writes), with the
/// user's current streak when the caller knows it. Three statements whatever the user's
/// history: the sessions' decayed minutes are summed by PostgreSQL, not read row by row (a
/// prolific learner has thousands of sessions in the window).
pub(crate) async fn recompute_on(
    conn: &mut sqlx::PgConnection,
    user_id: u64,
    streak: Option<i32>,
) -> Result<f64, sqlx::Error> {
    let uid = user_id as i64;
    let events = sqlx::query(
        "SELECT kind, details->>'status' AS status, extract(epoch FROM now() - occurred_at)::float8 / 86400 AS age \
         FROM activity_events WHERE user_id = $1 AND occurred_at > now() - interval '30 days'",
    )
    .bind(uid)
    .fetch_all(&mut *conn)
    .await?;
    let row = sqlx::query(
        "SELECT COALESCE(sum(duration_minutes * power(0.5, \
           greatest(extract(epoch FROM now() - COALESCE(ended_at, started_at))::float8 / 86400, 0) / $2)), 0)::float8 AS minutes, \
         (SELECT streak_days FROM user_analytics WHERE user_id = $1) AS streak \
         FROM learning_sessions WHERE user_id = $1 AND COALESCE(ended_at, started_at) > now() - interval '30 days'",
    )
    .bind(uid)
    .bind(HALF_LIFE_DAYS)
    .fetch_one(&mut *conn)
    .await?;
    let streak = streak.or(row.get::<Option<i32>, _>("streak"));
    let mut inputs = Vec::with_capacity(events.len() + 1);
    for e in &events {
        let age_days: f64 = e.get("age");
        let kind: String = e.get("kind");
        let status: Option<String> = e.get("status");
        match kind.as_str() {
            "post.published" => inputs.push(Input::PostPublished { age_days }),
            "post.created" if status.as_deref() == Some(PostStatus::Published.as_str()) => {
                inputs.push(Input::PostPublished { age_days })
            }
            "comment.created" => inputs.push(Input::CommentWritten { age_days }),
            "post.liked" => inputs.push(Input::LikeReceived { age_days }),
            _ => {}
        }
    }
    inputs.push(Input::DecayedMinutes(row.get("minutes")));
    let value = score(&inputs, streak.unwrap_or(0));
    sqlx::query("UPDATE user_analytics SET engagement_score = $2::float8::numeric(5,2), updated_at = now() WHERE user_id = $1")
        .bind(uid)
        .bind(value)
        .execute(&mut *conn)
        .await?;
    Ok(value)
}

/// Recomputes every user active in the window or with a score left to decay. Returns how many.
pub async fn recompute_all(pg: &Postgres) -> Result<usize, PgError> {
    let users: Vec<i64> = pg
        .timed(
            sqlx::query_scalar(
                "SELECT user_id FROM user_analytics WHERE engagement_score > 0 OR last_activity > now() - interval '31 days'",
            )
            .fetch_all(pg.pool()),
        )
        .await?;
    for user in &users {
        recompute(pg, *user as u64).await?;
    }
    Ok(users.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_scores_zero() {
        assert_eq!(score(&[], 0), 0.0);
    }

    #[test]
    fn one_post_published_today_is_9_52() {
        // raw 10 → 100 × (1 − e^−0.1) = 9.516…
        assert_eq!(score(&[Input::PostPublished { age_days: 0.0 }], 0), 9.52);
    }

    #[test]
    fn points_halve_every_week_and_vanish_after_thirty_days() {
        assert_eq!(decayed(10.0, 7.0), 5.0);
        assert_eq!(decayed(10.0, 14.0), 2.5);
        assert_eq!(decayed(10.0, 31.0), 0.0);
        // A post a week old: raw 5 → 100 × (1 − e^−0.05) = 4.877…
        assert_eq!(score(&[Input::PostPublished { age_days: 7.0 }], 0), 4.88);
    }

    #[test]
    fn a_mixed_week_by_hand() {
        // Today: a 30-minute session (6) and two likes received (2); a week ago: a comment
        // (3 × 0.5 = 1.5); streak of 3 days (6). raw = 15.5 → 100 × (1 − e^−0.155) = 14.358…
        let inputs = [
            Input::Learning {
                minutes: 30,
                age_days: 0.0,
            },
            Input::LikeReceived { age_days: 0.0 },
            Input::LikeReceived { age_days: 0.0 },
            Input::CommentWritten { age_days: 7.0 },
        ];
        assert_eq!(score(&inputs, 3), 14.36);
    }

    #[test]
    fn minutes_summed_after_decay_score_as_the_sessions_they_came_from() {
        // A 30-minute session today and a 20-minute one a week ago: 30 + 20 × 0.5 = 40
        // decayed minutes.
        let sessions = [
            Input::Learning {
                minutes: 30,
                age_days: 0.0,
            },
            Input::Learning {
                minutes: 20,
                age_days: 7.0,
            },
        ];
        assert_eq!(
            score(&[Input::DecayedMinutes(40.0)], 2),
            score(&sessions, 2)
        );
        assert_ne!(
            score(&[Input::DecayedMinutes(50.0)], 2),
            score(&sessions, 2)
        );
    }

    #[test]
    fn the_streak_counts_at_most_thirty_days_and_the_score_stays_below_100() {
        assert_eq!(score(&[], 30), score(&[], 400));
        let lots: Vec<Input> = (0..1000)
            .map(|_| Input::PostPublished { age_days: 0.0 })
            .collect();
        let s = score(&lots, 30);
        assert!(s <= 100.0 && s > 99.9, "{s}");
    }
}
