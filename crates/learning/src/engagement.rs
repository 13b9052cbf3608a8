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
    /// Activities of one kind worth `points` each: `factors` is the sum of their decay
    /// factors (`0.5^(age / 7)`, 0 outside the window), so this scores as those activities
    /// one by one.
    DecayedSum {
        points: f64,
        factors: f64,
    },
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
            Input::DecayedSum { points, factors } => points * factors,
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

/// The decay factors of the user's activities in the window, summed per kind of input, the
/// sessions' decayed minutes and the stored streak: one row whatever the user's history, so a
/// prolific user costs PostgreSQL an index range scan, not a transfer of every row.
///
/// Each factor is what [`decayed`] applies, computed the same way: the age in days is
/// `extract(epoch FROM now() - occurred_at) / 86400` (as an `f64`), clamped at 0 (an event
/// stamped a little in the future counts in full), and nothing older than [`WINDOW_DAYS`]
/// counts (the range condition serves the index; the `age <= $4` filter is `decayed`'s own
/// cut-off). `power(float8, float8)` is the C library's `pow`, as is `f64::powf`. Only a
/// `post.created` row's status is read: taking it out of every row's `details` was most of
/// the query's time for a user with thousands of comments.
const INPUTS: &str = "\
SELECT COALESCE(sum(e.factor) FILTER (WHERE e.kind = 'post.published' OR (e.kind = 'post.created' AND e.status = $3)), 0)::float8 AS posts, \
       COALESCE(sum(e.factor) FILTER (WHERE e.kind = 'comment.created'), 0)::float8 AS comments, \
       COALESCE(sum(e.factor) FILTER (WHERE e.kind = 'post.liked'), 0)::float8 AS likes, \
       (SELECT COALESCE(sum(duration_minutes * power(0.5::float8, \
                  greatest(extract(epoch FROM now() - COALESCE(ended_at, started_at))::float8 / 86400, 0) / $2)), 0)::float8 \
          FROM learning_sessions WHERE user_id = $1 AND COALESCE(ended_at, started_at) > now() - interval '30 days') AS minutes, \
       (SELECT streak_days FROM user_analytics WHERE user_id = $1) AS streak \
FROM (SELECT a.kind, a.status, power(0.5::float8, a.age / $2) AS factor \
      FROM (SELECT kind, CASE WHEN kind = 'post.created' THEN details->>'status' END AS status, \
                   greatest(extract(epoch FROM now() - occurred_at)::float8 / 86400, 0) AS age \
            FROM activity_events WHERE user_id = $1 AND occurred_at > now() - interval '30 days') a \
      WHERE a.age <= $4) e";

/// [`recompute`] on `conn` (a transaction's, so it sees that transaction's writes), with the
/// user's current streak when the caller knows it. Two statements whatever the user's
/// history: PostgreSQL sums the decay factors per kind of input ([`INPUTS`]), and the score
/// is stored.
pub(crate) async fn recompute_on(
    conn: &mut sqlx::PgConnection,
    user_id: u64,
    streak: Option<i32>,
) -> Result<f64, sqlx::Error> {
    let uid = user_id as i64;
    let row = sqlx::query(INPUTS)
        .bind(uid)
        .bind(HALF_LIFE_DAYS)
        .bind(PostStatus::Published.as_str())
        .bind(WINDOW_DAYS)
        .fetch_one(&mut *conn)
        .await?;
    let streak = streak.or(row.get::<Option<i32>, _>("streak"));
    let inputs = [
        Input::DecayedSum {
            points: POST_PUBLISHED,
            factors: row.get("posts"),
        },
        Input::DecayedSum {
            points: COMMENT_WRITTEN,
            factors: row.get("comments"),
        },
        Input::DecayedSum {
            points: LIKE_RECEIVED,
            factors: row.get("likes"),
        },
        Input::DecayedMinutes(row.get("minutes")),
    ];
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
    fn decay_factors_summed_per_kind_score_as_the_activities_they_came_from() {
        // Two posts (today, a week ago) and three likes (today, two weeks ago, 40 days ago).
        let one_by_one = [
            Input::PostPublished { age_days: 0.0 },
            Input::PostPublished { age_days: 7.0 },
            Input::LikeReceived { age_days: 0.0 },
            Input::LikeReceived { age_days: 14.0 },
            Input::LikeReceived { age_days: 40.0 },
        ];
        let summed = [
            Input::DecayedSum {
                points: POST_PUBLISHED,
                factors: 1.5,
            },
            Input::DecayedSum {
                points: LIKE_RECEIVED,
                factors: 1.25,
            },
        ];
        assert_eq!(score(&summed, 1), score(&one_by_one, 1));
        // raw 15 + 1.25 + a day of streak 2 = 18.25 → 100 × (1 − e^−0.1825) = 16.68…
        assert_eq!(score(&summed, 1), 16.68);
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
