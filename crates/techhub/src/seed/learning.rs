//! Seeded learning: sessions over the last six months (a few learners daily, most now and
//! then), each user's points, streaks and progress computed by the learning crate's own
//! functions, copied into PostgreSQL.

use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;
use techhub_learning::bulk::{AnalyticsRow, Chunk, SessionRow};
use techhub_learning::sessions::{self, CONTENT_TYPES};

use super::vocabulary::TAGS;
use super::{bar, epoch, Ranked, Step, Summary};

/// Rows of learning sessions sent per `COPY` chunk.
const COPY_CHUNK: usize = 20_000;

pub(super) async fn seed_sessions(
    step: &Step<'_>,
    slugs: &[String],
    rng: &mut StdRng,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let (stores, users, sizes, multi) = (step.stores, step.users, step.sizes, step.multi);
    let t = Instant::now();
    // Sessions per user: Zipf over a shuffled order of users (a few learn daily).
    let mut counts = vec![0u32; users.len()];
    let mut order: Vec<u32> = (0..users.len() as u32).collect();
    order.shuffle(rng);
    let learners = Ranked::new(users.len() as u64, 0.8);
    for _ in 0..sizes.sessions {
        counts[order[learners.sample(rng)] as usize] += 1;
    }
    let sessions_bar = bar(multi, "postgres learning_sessions", sizes.sessions);
    let analytics_bar = bar(multi, "postgres user_analytics", users.len() as u64);
    let people: Vec<(u64, String)> = users.iter().map(|u| (u.id, u.name.clone())).collect();
    let popular_slugs: Vec<String> = slugs.iter().take(1_000).cloned().collect();
    let mut gen_rng = StdRng::seed_from_u64(rng.random());
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(4);
    let generator = tokio::task::spawn_blocking(move || {
        let techs = Ranked::new(TAGS.len() as u64, 1.1);
        let mut chunk = Chunk::default();
        for ((id, name), &count) in people.iter().zip(&counts) {
            let rng = &mut gen_rng;
            let mut times: Vec<DateTime<Utc>> = (0..count)
                .map(|_| epoch() - chrono::Duration::seconds(rng.random_range(0..180 * 86_400)))
                .collect();
            times.sort();
            let mut total = 0i64;
            let (mut streak, mut longest, mut last_day): (i32, i32, Option<NaiveDate>) =
                (0, 0, None);
            let mut progress = json!({});
            let mut last_activity: Option<DateTime<Utc>> = None;
            for started in times {
                let minutes: i32 =
                    (rng.random_range(5.0f64..60.0) * rng.random_range(0.5f64..2.0)) as i32;
                let minutes = minutes.clamp(1, 240);
                let completion: f64 = if rng.random_bool(0.6) {
                    100.0
                } else {
                    rng.random_range(0..100) as f64
                };
                let n_techs = rng.random_range(1..=3);
                let mut technologies: Vec<String> = (0..n_techs)
                    .map(|_| TAGS[techs.sample(rng)].to_string())
                    .collect();
                technologies.sort();
                technologies.dedup();
                let ended = started + chrono::Duration::minutes(minutes as i64);
                let content_type = CONTENT_TYPES[rng.random_range(0..CONTENT_TYPES.len())];
                let content_id = (content_type == "post" && !popular_slugs.is_empty())
                    .then(|| popular_slugs[rng.random_range(0..popular_slugs.len())].as_str());
                total += sessions::points(minutes, completion);
                let (s, day) = sessions::next_streak(last_day, streak, ended.date_naive());
                streak = s;
                last_day = Some(day);
                longest = longest.max(streak);
                progress =
                    sessions::add_progress(progress, &technologies, minutes, completion >= 100.0);
                last_activity = Some(last_activity.map_or(ended, |l| l.max(ended)));
                let difficulty = rng.random_range(1..=10) as i16;
                let rating = rng.random_bool(0.7).then(|| rng.random_range(1..=5) as i16);
                chunk.sessions.push_session(&SessionRow {
                    user_id: *id,
                    content_type,
                    content_id,
                    technologies: &technologies,
                    duration_minutes: minutes,
                    completion,
                    difficulty,
                    rating,
                    started_at: started,
                    ended_at: ended,
                });
                if chunk.sessions.len() == COPY_CHUNK as u64
                    && tx.blocking_send(take(&mut chunk)).is_err()
                {
                    return;
                }
            }
            // The streak as of the seed's epoch: broken when the last active day is older
            // than yesterday (reads show it so; the row keeps what the sessions made it).
            chunk.analytics.push_analytics(&AnalyticsRow {
                user_id: *id,
                username: name,
                timezone: "UTC",
                learning_progress: &progress,
                total_points: total,
                streak_days: streak,
                longest_streak: longest,
                last_active_day: last_day,
                last_activity,
                source_version: 1,
            });
            if chunk.analytics.len() == 1_000 && tx.blocking_send(take(&mut chunk)).is_err() {
                return;
            }
        }
        let _ = tx.blocking_send(chunk);
    });
    let written =
        techhub_learning::bulk::copy_learning(&stores.postgres, rx, |sessions, analytics| {
            sessions_bar.inc(sessions);
            analytics_bar.inc(analytics);
        })
        .await
        .context("copying learning_sessions and user_analytics")?;
    generator.await?;
    sessions_bar.finish();
    analytics_bar.finish();
    let took = t.elapsed();
    summary.add("postgres learning_sessions", written.0, took);
    summary.add("postgres user_analytics", written.1, took);
    let t = Instant::now();
    techhub_learning::bulk::analyze(&stores.postgres).await?;
    summary.add("postgres analyze", 0, t.elapsed());
    Ok(())
}

/// The rows gathered so far, leaving `chunk` empty.
fn take(chunk: &mut Chunk) -> Chunk {
    Chunk {
        sessions: chunk.sessions.take(),
        analytics: chunk.analytics.take(),
    }
}
