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
//! It moves when the user's activity changes (content events, sessions): from the sums of
//! decay factors stored with it ([`Sums`]) when they are still exact, which costs a batch of
//! events two statements however many users and however long their history, or else from
//! the history itself. A periodic job in `serve` (`TECHHUB_ENGAGEMENT_INTERVAL_SECS`)
//! recomputes every active user from their history, since decay moves the score even when
//! nothing happens.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
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

/// Reads the user's inputs, computes the score and stores it. Returns it. The user's row is
/// locked first, so a batch of events recorded meanwhile is either in the history read or
/// moves the sums stored here, never lost between the two.
pub async fn recompute(pg: &Postgres, user_id: u64) -> Result<f64, PgError> {
    let work = async {
        let mut tx = pg.pool().begin().await?;
        sqlx::query("SELECT 1 FROM user_analytics WHERE user_id = $1 FOR UPDATE")
            .bind(user_id as i64)
            .execute(&mut *tx)
            .await?;
        let value = recompute_on(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(value)
    };
    pg.timed(work).await
}

/// What one activity earns, before decay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Earned {
    Post,
    Comment,
    Like,
    /// A learning session of so many minutes (dated by its end).
    Minutes(i32),
}

impl Earned {
    /// What a row of the activity log earns (`status` is a `post.created` row's): the rule
    /// [`INPUTS`] applies in SQL.
    pub fn of_activity(kind: &str, status: Option<&str>) -> Option<Earned> {
        match kind {
            "post.published" => Some(Earned::Post),
            "post.created" if status == Some(PostStatus::Published.as_str()) => Some(Earned::Post),
            "comment.created" => Some(Earned::Comment),
            "post.liked" => Some(Earned::Like),
            _ => None,
        }
    }
}

/// A user's score inputs as of `at`: per kind, the sum of the decay factors of what they
/// did in the window, and their decayed minutes of learning. Decaying them to a later time is
/// one multiplication (every factor halves every [`HALF_LIFE_DAYS`]), so a batch of new
/// activity moves the score without rereading the user's history — as long as nothing in
/// the sums leaves the window or was stamped ahead of `at` (such an input counts in full
/// until its time comes, then decays): `exact_until` is the first time one of those happens
/// (`None`: never), and past it only a full recompute ([`full_sums`]) is exact.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sums {
    pub posts: f64,
    pub comments: f64,
    pub likes: f64,
    pub minutes: f64,
    pub at: DateTime<Utc>,
    pub exact_until: Option<DateTime<Utc>>,
}

/// Days from `then` to `now`, as PostgreSQL computes them in [`INPUTS`]
/// (`extract(epoch FROM now - then)::float8 / 86400`: microseconds to seconds, then days).
fn days_between(now: DateTime<Utc>, then: DateTime<Utc>) -> f64 {
    let micros = (now - then).num_microseconds().unwrap_or(i64::MAX);
    micros as f64 / 1_000_000.0 / 86_400.0
}

fn window() -> chrono::Duration {
    chrono::Duration::days(WINDOW_DAYS as i64)
}

/// The columns of `user_analytics` that hold a user's [`Sums`] (read by [`Sums::stored`]).
pub(crate) const SUMS_COLUMNS: &str = "engagement_posts, engagement_comments, engagement_likes, \
    engagement_minutes, engagement_at, engagement_exact_until";

impl Sums {
    /// The sums a `user_analytics` row read with [`SUMS_COLUMNS`] holds, if any.
    pub(crate) fn stored(row: &sqlx::postgres::PgRow) -> Option<Sums> {
        Some(Sums {
            posts: row.get::<Option<f64>, _>("engagement_posts")?,
            comments: row.get::<Option<f64>, _>("engagement_comments")?,
            likes: row.get::<Option<f64>, _>("engagement_likes")?,
            minutes: row.get::<Option<f64>, _>("engagement_minutes")?,
            at: row.get::<Option<DateTime<Utc>>, _>("engagement_at")?,
            exact_until: row.get("engagement_exact_until"),
        })
    }

    /// The sums decayed to `now` with `earned` added, or `None` when that is not exact (see
    /// [`Sums::advanced`], [`Sums::add`]).
    pub fn moved(&self, now: DateTime<Utc>, earned: &[(Earned, DateTime<Utc>)]) -> Option<Sums> {
        let mut sums = self.advanced(now)?;
        earned
            .iter()
            .all(|(what, when)| sums.add(*what, *when))
            .then_some(sums)
    }

    /// The sums as of `now`, or `None` when decaying them there is not exact.
    pub fn advanced(&self, now: DateTime<Utc>) -> Option<Sums> {
        if now < self.at || self.exact_until.is_some_and(|until| now >= until) {
            return None;
        }
        let factor = 0.5_f64.powf(days_between(now, self.at) / HALF_LIFE_DAYS);
        Some(Sums {
            posts: self.posts * factor,
            comments: self.comments * factor,
            likes: self.likes * factor,
            minutes: self.minutes * factor,
            at: now,
            exact_until: self.exact_until,
        })
    }

    /// Adds what was earned at `when` to sums as of their `at`. False (and nothing added)
    /// when `when` is after `at`: only a full recompute counts such an input right.
    pub fn add(&mut self, earned: Earned, when: DateTime<Utc>) -> bool {
        if when > self.at {
            return false;
        }
        let factor = decayed(1.0, days_between(self.at, when));
        if factor == 0.0 {
            // Outside the window already: it never counts.
            return true;
        }
        match earned {
            Earned::Post => self.posts += factor,
            Earned::Comment => self.comments += factor,
            Earned::Like => self.likes += factor,
            Earned::Minutes(minutes) => self.minutes += minutes as f64 * factor,
        }
        let leaves = when + window();
        self.exact_until = Some(self.exact_until.map_or(leaves, |until| until.min(leaves)));
        true
    }

    /// The score these sums and `streak_days` make.
    pub fn score(&self, streak_days: i32) -> f64 {
        score(
            &[
                Input::DecayedSum {
                    points: POST_PUBLISHED,
                    factors: self.posts,
                },
                Input::DecayedSum {
                    points: COMMENT_WRITTEN,
                    factors: self.comments,
                },
                Input::DecayedSum {
                    points: LIKE_RECEIVED,
                    factors: self.likes,
                },
                Input::DecayedMinutes(self.minutes),
            ],
            streak_days,
        )
    }
}

/// The decay factors of the user's activities in the window, summed per kind of input, the
/// sessions' decayed minutes, when that stops being exact, the stored streak and the
/// transaction's time: one row whatever the user's history, so a prolific user costs
/// PostgreSQL an index range scan, not a transfer of every row.
///
/// Each factor is what [`decayed`] applies, computed the same way: the age in days is
/// `extract(epoch FROM now() - occurred_at) / 86400` (as an `f64`), clamped at 0 (an event
/// stamped a little in the future counts in full), and nothing older than [`WINDOW_DAYS`]
/// counts (the range condition serves the index; the `age <= $4` filter is `decayed`'s own
/// cut-off). `power(float8, float8)` is the C library's `pow`, as is `f64::powf`. What a row
/// earns is [`Earned::of_activity`]'s rule; only a `post.created` row's status is read: taking
/// it out of every row's `details` was most of the query's time for a user with thousands of
/// comments. `exact_until` is [`Sums::exact_until`]: the oldest counted input's time plus the
/// window, or the first one stamped ahead, whichever is sooner.
const INPUTS: &str = "\
WITH s AS (SELECT COALESCE(sum(duration_minutes * power(0.5::float8, \
                    greatest(extract(epoch FROM now() - at)::float8 / 86400, 0) / $2)), 0)::float8 AS minutes, \
                  min(at) AS oldest, min(at) FILTER (WHERE at > now()) AS ahead \
           FROM (SELECT duration_minutes, COALESCE(ended_at, started_at) AS at FROM learning_sessions \
                 WHERE user_id = $1 AND COALESCE(ended_at, started_at) > now() - interval '30 days') t) \
SELECT COALESCE(sum(e.factor) FILTER (WHERE e.earns = 'post'), 0)::float8 AS posts, \
       COALESCE(sum(e.factor) FILTER (WHERE e.earns = 'comment'), 0)::float8 AS comments, \
       COALESCE(sum(e.factor) FILTER (WHERE e.earns = 'like'), 0)::float8 AS likes, \
       (SELECT minutes FROM s) AS minutes, \
       least(min(e.occurred_at) FILTER (WHERE e.earns IS NOT NULL) + interval '30 days', \
             min(e.occurred_at) FILTER (WHERE e.earns IS NOT NULL AND e.occurred_at > now()), \
             (SELECT oldest FROM s) + interval '30 days', (SELECT ahead FROM s)) AS exact_until, \
       (SELECT streak_days FROM user_analytics WHERE user_id = $1) AS streak, \
       now() AS now \
FROM (SELECT a.earns, a.occurred_at, power(0.5::float8, a.age / $2) AS factor \
      FROM (SELECT CASE WHEN kind = 'post.published' THEN 'post' \
                        WHEN kind = 'post.created' THEN CASE WHEN details->>'status' = $3 THEN 'post' END \
                        WHEN kind = 'comment.created' THEN 'comment' \
                        WHEN kind = 'post.liked' THEN 'like' END AS earns, \
                   occurred_at, greatest(extract(epoch FROM now() - occurred_at)::float8 / 86400, 0) AS age \
            FROM activity_events WHERE user_id = $1 AND occurred_at > now() - interval '30 days') a \
      WHERE a.age <= $4) e";

/// The user's sums computed from their whole history in the window ([`INPUTS`]), on
/// `conn` (a transaction's, so it sees that transaction's writes), with their stored streak.
pub async fn full_sums(
    conn: &mut sqlx::PgConnection,
    user_id: u64,
) -> Result<(Sums, Option<i32>), sqlx::Error> {
    let row = sqlx::query(INPUTS)
        .bind(user_id as i64)
        .bind(HALF_LIFE_DAYS)
        .bind(PostStatus::Published.as_str())
        .bind(WINDOW_DAYS)
        .fetch_one(&mut *conn)
        .await?;
    let sums = Sums {
        posts: row.get("posts"),
        comments: row.get("comments"),
        likes: row.get("likes"),
        minutes: row.get("minutes"),
        at: row.get("now"),
        exact_until: row.get("exact_until"),
    };
    Ok((sums, row.get("streak")))
}

/// Recomputes the user's score from their whole history and stores it with its sums, on
/// `conn` (a transaction's, so it sees that transaction's writes). Two statements.
pub(crate) async fn recompute_on(
    conn: &mut sqlx::PgConnection,
    user_id: u64,
) -> Result<f64, sqlx::Error> {
    let (sums, streak) = full_sums(conn, user_id).await?;
    let value = sums.score(streak.unwrap_or(0));
    store(conn, &[(user_id as i64, sums, value)]).await?;
    Ok(value)
}

/// How [`add_on`] moved its users' scores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moved {
    /// From their stored sums.
    pub running: usize,
    /// From their history, their stored sums being missing or no longer exact.
    pub recomputed: usize,
}

/// Moves the scores of the users in `earned` by what each newly earned and when (an empty
/// list: only the decay since the last change), on `conn` (a transaction's, whose writes it
/// sees, and which must have locked these users' `user_analytics` rows, in id order, so two
/// batches do not interleave their sums). A user whose stored sums stay exact
/// ([`Sums::advanced`], [`Sums::add`]) costs nothing beyond the batch's one read and one
/// write; any other is recomputed from their history ([`full_sums`]). Either way the score
/// is what a full recompute at the transaction's time gives, up to floating-point rounding.
/// A user without a `user_analytics` row is left alone.
pub(crate) async fn add_on(
    conn: &mut sqlx::PgConnection,
    earned: &BTreeMap<u64, Vec<(Earned, DateTime<Utc>)>>,
) -> Result<Moved, sqlx::Error> {
    if earned.is_empty() {
        return Ok(Moved::default());
    }
    let users: Vec<i64> = earned.keys().map(|u| *u as i64).collect();
    let rows = sqlx::query(&format!(
        "SELECT user_id, {SUMS_COLUMNS}, streak_days, now() AS now FROM user_analytics WHERE user_id = ANY($1)"
    ))
    .bind(&users)
    .fetch_all(&mut *conn)
    .await?;
    let mut moved = Moved::default();
    let mut updates = Vec::with_capacity(rows.len());
    for row in rows {
        let user: i64 = row.get("user_id");
        let now: DateTime<Utc> = row.get("now");
        let new = earned.get(&(user as u64)).map(Vec::as_slice).unwrap_or(&[]);
        let running = Sums::stored(&row).and_then(|s| s.moved(now, new));
        let (sums, streak) = match running {
            Some(sums) => {
                moved.running += 1;
                (sums, row.get::<i32, _>("streak_days"))
            }
            None => {
                moved.recomputed += 1;
                let (sums, streak) = full_sums(conn, user as u64).await?;
                (sums, streak.unwrap_or(0))
            }
        };
        updates.push((user, sums, sums.score(streak)));
    }
    store(conn, &updates).await?;
    Ok(moved)
}

/// Stores each user's score and the sums it came from, in one statement.
async fn store(
    conn: &mut sqlx::PgConnection,
    updates: &[(i64, Sums, f64)],
) -> Result<(), sqlx::Error> {
    if updates.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&Sums) -> f64| updates.iter().map(|(_, s, _)| f(s)).collect::<Vec<_>>();
    sqlx::query(
        "UPDATE user_analytics u SET engagement_score = v.score::numeric(5,2), engagement_posts = v.posts, \
         engagement_comments = v.comments, engagement_likes = v.likes, engagement_minutes = v.minutes, \
         engagement_at = v.at, engagement_exact_until = v.exact_until, updated_at = now() \
         FROM UNNEST($1::int8[], $2::float8[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], \
                     $7::timestamptz[], $8::timestamptz[]) \
              AS v(user_id, score, posts, comments, likes, minutes, at, exact_until) \
         WHERE u.user_id = v.user_id",
    )
    .bind(updates.iter().map(|(u, _, _)| *u).collect::<Vec<_>>())
    .bind(updates.iter().map(|(_, _, score)| *score).collect::<Vec<_>>())
    .bind(column(|s| s.posts))
    .bind(column(|s| s.comments))
    .bind(column(|s| s.likes))
    .bind(column(|s| s.minutes))
    .bind(updates.iter().map(|(_, s, _)| s.at).collect::<Vec<_>>())
    .bind(updates.iter().map(|(_, s, _)| s.exact_until).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Recomputes every user active in the window or with a score left to decay, from their
/// history (which also makes their stored sums exact again). Returns how many.
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
    use chrono::Duration;
    use uuid::Uuid;

    use super::*;
    use crate::test_db::TestPg;

    /// Logs `rows` (kind, status, when) for `user` the way the activity log does (the
    /// analytics row locked first) and moves their score with [`add_on`]; `minutes` are
    /// sessions (length, end) recorded alongside.
    async fn log(
        conn: &mut sqlx::PgConnection,
        user: u64,
        rows: &[(&str, Option<&str>, DateTime<Utc>)],
        minutes: &[(i32, DateTime<Utc>)],
    ) -> Moved {
        sqlx::query(
            "INSERT INTO user_analytics (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user as i64)
        .execute(&mut *conn)
        .await
        .unwrap();
        sqlx::query("SELECT 1 FROM user_analytics WHERE user_id = $1 FOR UPDATE")
            .bind(user as i64)
            .execute(&mut *conn)
            .await
            .unwrap();
        let mut earned = Vec::new();
        for (kind, status, when) in rows {
            sqlx::query(
                "INSERT INTO activity_events (event_id, user_id, kind, subject_id, details, occurred_at) \
                 VALUES ($1, $2, $3, 'post-1', $4, $5)",
            )
            .bind(Uuid::now_v7())
            .bind(user as i64)
            .bind(kind)
            .bind(serde_json::json!({ "status": status }))
            .bind(when)
            .execute(&mut *conn)
            .await
            .unwrap();
            earned.extend(Earned::of_activity(kind, *status).map(|e| (e, *when)));
        }
        for (length, end) in minutes {
            sqlx::query(
                "INSERT INTO learning_sessions (user_id, content_type, duration_minutes, started_at, ended_at) \
                 VALUES ($1, 'post', $2, $3, $3)",
            )
            .bind(user as i64)
            .bind(length)
            .bind(end)
            .execute(&mut *conn)
            .await
            .unwrap();
            earned.push((Earned::Minutes(*length), *end));
        }
        add_on(conn, &[(user, earned)].into_iter().collect())
            .await
            .unwrap()
    }

    /// When the stored sums were written, as [`matches_history`] checks them.
    #[derive(Clone, Copy, PartialEq)]
    enum Stored {
        /// In this transaction: at its time, to the last rounding.
        Here,
        /// By an earlier one: decayed to this one's time first.
        Earlier,
    }

    /// The stored score, streak and sums are what a full recompute in this transaction gives
    /// (the sums to rounding; see [`Stored`]). Returns the score.
    async fn matches_history(conn: &mut sqlx::PgConnection, user: u64, when: Stored) -> f64 {
        let row = sqlx::query(&format!(
            "SELECT engagement_score::float8 AS score, streak_days, {SUMS_COLUMNS} FROM user_analytics WHERE user_id = $1"
        ))
        .bind(user as i64)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        let stored = Sums::stored(&row).expect("sums stored");
        let (full, streak) = full_sums(conn, user).await.unwrap();
        let tolerance = match when {
            Stored::Here => {
                assert_eq!(stored.at, full.at);
                1e-12
            }
            Stored::Earlier => 1e-9,
        };
        let now = stored.advanced(full.at).expect("still exact");
        assert_eq!(stored.exact_until, full.exact_until);
        for (got, want) in [
            (now.posts, full.posts),
            (now.comments, full.comments),
            (now.likes, full.likes),
            (now.minutes, full.minutes),
        ] {
            assert!(
                (got - want).abs() <= tolerance * want.abs().max(1.0),
                "{now:?} vs {full:?}"
            );
        }
        // Stored at its own time, the score is what the history gave then; moments later the
        // decay is far below a hundredth.
        let score: f64 = row.get("score");
        assert_eq!(score, full.score(streak.unwrap_or(0)));
        assert_eq!(row.get::<i32, _>("streak_days"), streak.unwrap_or(0));
        score
    }

    async fn now(conn: &mut sqlx::PgConnection) -> DateTime<Utc> {
        sqlx::query_scalar("SELECT now()")
            .fetch_one(conn)
            .await
            .unwrap()
    }

    fn days(n: f64) -> Duration {
        Duration::microseconds((n * 86_400_000_000.0) as i64)
    }

    #[tokio::test]
    async fn running_sums_score_as_the_history_does() {
        let db = TestPg::create().await;
        let user = 7;
        let published = Some("published");

        let mut tx = db.pg.pool().begin().await.unwrap();
        let t = now(&mut tx).await;
        let first = [
            ("post.published", published, t - days(3.0)),
            ("comment.created", None, t - days(10.0)),
            ("post.created", Some("draft"), t - days(1.0)),
            ("post.liked", None, t - days(0.5)),
        ];
        // No sums yet: from the history.
        let moved = log(&mut tx, user, &first, &[]).await;
        assert_eq!(
            moved,
            Moved {
                running: 0,
                recomputed: 1
            }
        );
        let before = matches_history(&mut tx, user, Stored::Here).await;
        tx.commit().await.unwrap();

        let mut tx = db.pg.pool().begin().await.unwrap();
        let t = now(&mut tx).await;
        let second = [
            ("post.liked", None, t - Duration::hours(1)),
            ("comment.created", None, t - days(20.0)),
            ("post.created", published, t - days(2.0)),
            ("post.updated", published, t),
            // Recorded late, outside the window: it never counts.
            ("post.published", published, t - days(45.0)),
        ];
        // From the stored sums, decayed to now, with the new ones added.
        let moved = log(&mut tx, user, &second, &[(30, t - days(1.0))]).await;
        assert_eq!(
            moved,
            Moved {
                running: 1,
                recomputed: 0
            }
        );
        let after = matches_history(&mut tx, user, Stored::Here).await;
        assert!(after > before, "{after} > {before}");
        tx.commit().await.unwrap();

        // Nothing new: only the decay.
        let mut tx = db.pg.pool().begin().await.unwrap();
        assert_eq!(
            log(&mut tx, user, &[], &[]).await,
            Moved {
                running: 1,
                recomputed: 0
            }
        );
        matches_history(&mut tx, user, Stored::Here).await;
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn sessions_move_the_score_as_the_history_does() {
        let db = TestPg::create().await;
        let user = 9;
        let session = |minutes: i32, ago_days: f64| {
            let end = Utc::now() - days(ago_days);
            crate::sessions::NewSession {
                user_id: user,
                content_type: "video".into(),
                content_id: None,
                technologies: vec!["rust".into()],
                duration_minutes: minutes,
                completion: 100.0,
                difficulty: None,
                rating: None,
                notes: None,
                started_at: end - Duration::minutes(minutes as i64),
                ended_at: end,
            }
        };
        let mut scores = Vec::new();
        // The first from the history (no sums yet), the rest in the session's own update.
        for (minutes, ago) in [(30, 2.0), (45, 0.0), (20, 10.0), (60, 0.5)] {
            crate::sessions::record(&db.pg, &session(minutes, ago))
                .await
                .unwrap();
            let mut conn = db.pg.pool().acquire().await.unwrap();
            let mut tx = sqlx::Connection::begin(&mut *conn).await.unwrap();
            scores.push(matches_history(&mut tx, user, Stored::Earlier).await);
            tx.commit().await.unwrap();
        }
        assert!(scores.windows(2).all(|w| w[1] > w[0]), "{scores:?}");
    }

    #[tokio::test]
    async fn an_input_leaving_the_window_or_stamped_ahead_makes_the_next_change_recompute() {
        let db = TestPg::create().await;
        let user = 8;
        let mut tx = db.pg.pool().begin().await.unwrap();
        let t0 = now(&mut tx).await;
        let edge = [
            // Leaves the window a second from now.
            (
                "post.liked",
                None,
                t0 - days(WINDOW_DAYS) + Duration::seconds(1),
            ),
            // Stamped two seconds ahead: counts in full until then.
            ("comment.created", None, t0 + Duration::seconds(2)),
            ("post.liked", None, t0 - days(1.0)),
        ];
        log(&mut tx, user, &edge, &[]).await;
        matches_history(&mut tx, user, Stored::Here).await;
        tx.commit().await.unwrap();

        // Past the first like's exit: the sums are no longer exact.
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        let mut tx = db.pg.pool().begin().await.unwrap();
        let t1 = now(&mut tx).await;
        assert!(
            t1 < t0 + Duration::seconds(2),
            "the test ran too slowly to see the second edge"
        );
        let like = [("post.liked", None, t1 - Duration::minutes(5))];
        assert_eq!(
            log(&mut tx, user, &like, &[]).await,
            Moved {
                running: 0,
                recomputed: 1
            }
        );
        matches_history(&mut tx, user, Stored::Here).await;
        tx.commit().await.unwrap();

        // Past the comment's own time: it has started to decay.
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        let mut tx = db.pg.pool().begin().await.unwrap();
        assert_eq!(
            log(&mut tx, user, &[], &[]).await,
            Moved {
                running: 0,
                recomputed: 1
            }
        );
        matches_history(&mut tx, user, Stored::Here).await;
        tx.commit().await.unwrap();

        // Exact again for a month: the next change runs on the sums.
        let mut tx = db.pg.pool().begin().await.unwrap();
        let t3 = now(&mut tx).await;
        let like = [("post.liked", None, t3)];
        assert_eq!(
            log(&mut tx, user, &like, &[]).await,
            Moved {
                running: 1,
                recomputed: 0
            }
        );
        matches_history(&mut tx, user, Stored::Here).await;
        tx.commit().await.unwrap();
    }

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
