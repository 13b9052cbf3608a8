//! Bulk writes for `techhub seed`: learning sessions and analytics rows streamed into
//! PostgreSQL with `COPY … FROM STDIN`. Rows are encoded into COPY's text format by
//! [`CopyRows`] (so the seed can encode on a blocking thread while the last chunk is sent),
//! and sent by [`copy_learning`], which keeps one `COPY` per table open across chunks, each on
//! its own connection without the pool's statement time limit (a COPY lasts as long as the
//! generator runs).

use std::io::Write;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::pool::PoolConnection;
use sqlx::Postgres as Pg;

use crate::{PgError, Postgres};

/// One learning session, as `learning_sessions` stores it.
pub struct SessionRow<'a> {
    pub user_id: u64,
    pub content_type: &'a str,
    pub content_id: Option<&'a str>,
    pub technologies: &'a [String],
    pub duration_minutes: i32,
    pub completion: f64,
    pub difficulty: i16,
    pub rating: Option<i16>,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
}

/// One user's analytics, as `user_analytics` stores it.
pub struct AnalyticsRow<'a> {
    pub user_id: u64,
    pub username: &'a str,
    pub timezone: &'a str,
    pub learning_progress: &'a serde_json::Value,
    pub total_points: i64,
    pub streak_days: i32,
    pub longest_streak: i32,
    pub last_active_day: Option<NaiveDate>,
    pub last_activity: Option<DateTime<Utc>>,
    pub source_version: i64,
}

const SESSION_COLUMNS: &str = "learning_sessions (user_id, content_type, content_id, \
    technologies, duration_minutes, completion_percentage, difficulty_level, rating, started_at, \
    ended_at, created_at)";
const ANALYTICS_COLUMNS: &str = "user_analytics (user_id, username, timezone, learning_progress, \
    total_points, streak_days, longest_streak, last_active_day, last_activity, source_version)";

/// Rows encoded in COPY's text format, and how many.
#[derive(Default)]
pub struct CopyRows {
    buf: Vec<u8>,
    rows: u64,
}

/// A text field escaped for COPY's text format.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// A `TEXT[]` literal (`{"a","b"}`) escaped for COPY's text format.
fn text_array(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|i| format!("\"{}\"", i.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    text(&format!("{{{}}}", quoted.join(",")))
}

fn or_null<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "\\N".to_string(), |v| text(&v.to_string()))
}

impl CopyRows {
    pub fn len(&self) -> u64 {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The encoded rows so far, leaving this empty.
    pub fn take(&mut self) -> CopyRows {
        std::mem::take(self)
    }

    pub fn push_session(&mut self, s: &SessionRow<'_>) {
        let _ = writeln!(
            self.buf,
            "{}\t{}\t{}\t{}\t{}\t{:.2}\t{}\t{}\t{}\t{}\t{}",
            s.user_id,
            text(s.content_type),
            or_null(s.content_id),
            text_array(s.technologies),
            s.duration_minutes,
            s.completion,
            s.difficulty,
            or_null(s.rating),
            s.started_at.to_rfc3339(),
            s.ended_at.to_rfc3339(),
            s.ended_at.to_rfc3339(),
        );
        self.rows += 1;
    }

    pub fn push_analytics(&mut self, a: &AnalyticsRow<'_>) {
        let _ = writeln!(
            self.buf,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            a.user_id,
            text(a.username),
            text(a.timezone),
            text(&a.learning_progress.to_string()),
            a.total_points,
            a.streak_days,
            a.longest_streak,
            or_null(a.last_active_day),
            or_null(a.last_activity.map(|t| t.to_rfc3339())),
            a.source_version,
        );
        self.rows += 1;
    }
}

/// Encoded rows for both tables, as the seed sends them.
#[derive(Default)]
pub struct Chunk {
    pub sessions: CopyRows,
    pub analytics: CopyRows,
}

/// A connection of `pg`'s pool without a statement time limit.
async fn unlimited(pg: &Postgres) -> Result<PoolConnection<Pg>, PgError> {
    let mut conn = pg.pool().acquire().await?;
    sqlx::query("SET statement_timeout = 0")
        .execute(&mut *conn)
        .await?;
    Ok(conn)
}

/// Copies every chunk `chunks` delivers into `learning_sessions` and `user_analytics`, one
/// `COPY` per table kept open until the channel closes, calling `sent` with each chunk's row
/// counts (sessions, analytics) once it is sent. Returns the rows copied into each table.
pub async fn copy_learning(
    pg: &Postgres,
    mut chunks: tokio::sync::mpsc::Receiver<Chunk>,
    mut sent: impl FnMut(u64, u64),
) -> Result<(u64, u64), PgError> {
    let mut sessions_conn = unlimited(pg).await?;
    let mut analytics_conn = unlimited(pg).await?;
    let mut sessions = sessions_conn
        .copy_in_raw(&format!("COPY {SESSION_COLUMNS} FROM STDIN"))
        .await?;
    let mut analytics = analytics_conn
        .copy_in_raw(&format!("COPY {ANALYTICS_COLUMNS} FROM STDIN"))
        .await?;
    let mut copied = (0, 0);
    while let Some(chunk) = chunks.recv().await {
        let counts = (chunk.sessions.len(), chunk.analytics.len());
        if !chunk.sessions.is_empty() {
            sessions.send(chunk.sessions.buf).await?;
        }
        if !chunk.analytics.is_empty() {
            analytics.send(chunk.analytics.buf).await?;
        }
        copied = (copied.0 + counts.0, copied.1 + counts.1);
        sent(counts.0, counts.1);
    }
    sessions.finish().await?;
    analytics.finish().await?;
    // Not back into the pool with the limit lifted.
    drop(sessions_conn.detach());
    drop(analytics_conn.detach());
    Ok(copied)
}

/// Refreshes the planner's statistics of both tables after a bulk load.
pub async fn analyze(pg: &Postgres) -> Result<(), PgError> {
    let mut conn = unlimited(pg).await?;
    for table in ["learning_sessions", "user_analytics"] {
        sqlx::query(&format!("ANALYZE {table}"))
            .execute(&mut *conn)
            .await?;
    }
    drop(conn.detach());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_escaped_for_copy_text_and_arrays_quoted() {
        assert_eq!(text("a\tb\nc\\d"), "a\\tb\\nc\\\\d");
        assert_eq!(
            text_array(&["rust".into(), "c,d".into(), "q\"x".into()]),
            "{\"rust\",\"c,d\",\"q\\\\\"x\"}"
        );
        assert_eq!(or_null::<i16>(None), "\\N");
        let mut rows = CopyRows::default();
        let at = DateTime::from_timestamp(0, 0).unwrap();
        rows.push_session(&SessionRow {
            user_id: 7,
            content_type: "post",
            content_id: None,
            technologies: &["rust".into()],
            duration_minutes: 30,
            completion: 100.0,
            difficulty: 3,
            rating: Some(5),
            started_at: at,
            ended_at: at,
        });
        assert_eq!(rows.len(), 1);
        let line = String::from_utf8(rows.take().buf).unwrap();
        assert_eq!(line.split('\t').count(), 11, "{line}");
        assert!(
            line.starts_with("7\tpost\t\\N\t{\"rust\"}\t30\t100.00\t3\t5\t"),
            "{line}"
        );
        assert!(rows.is_empty());
    }
}
