//! Keeps one server's index in step with MongoDB by following the posts collection as a
//! change feed: every content change sets the post's `changedAt` in the same write, so the
//! indexer reads the posts changed since its checkpoint, applies them (published → indexed,
//! anything else → removed) and commits the new checkpoint with them. The feed is per
//! instance, so every server's embedded index sees every change, and a server that was down
//! catches up from the checkpoint its last commit stored.
//!
//! A write stamped `changedAt = t` may become visible a moment after one stamped later (a write
//! in flight, clocks of other servers). The checkpoint is therefore [`OVERLAP`] before the
//! start of the scan that reached it, and three depths of scan share the work:
//!
//! - a **deep** scan, every [`OVERLAP`], reads from the checkpoint and moves it;
//! - a **recent** scan, every poll in between, reads from [`LATE`] before the previous deep or
//!   recent scan began: other servers' writes show within a poll, unless they took longer than
//!   [`LATE`] to land, and then within the next deep scan;
//! - a **short** scan, on a nudge from a write of this process, reads only from where that
//!   write could have been stamped.
//!
//! Posts already applied at the same `changedAt` are skipped, so rereading costs an id-only
//! read, not re-indexing. Each full scan used to read back twice [`OVERLAP`], so at a poll of
//! 500 ms every change was read about twenty times.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mongodb::bson::{oid::ObjectId, DateTime};
use techhub_content::posts::{self, Change, Indexable};
use techhub_content::render::markdown_to_text;
use techhub_content::Mongo;
use tokio::sync::Notify;

use crate::index::{IndexChange, IndexedPost, SearchIndex};

/// How far back each scan looks before the checkpoint, covering writes in flight and clock
/// differences between servers.
pub const OVERLAP: Duration = Duration::from_secs(5);
/// How far back a recent scan reads before the previous full scan's start: writes that take
/// longer to land are left to the next deep scan.
pub const LATE: Duration = Duration::from_secs(1);
/// The first window of the change feed a scan reads, in ms (the span a deep scan reads back
/// in a burst: some 27,000 changes, 0.2 s of SecantusDB's time, at 2,700 new posts a second).
const FIRST_WINDOW_MS: i64 = 10_000;
/// Changes a window of the feed aims to hold: later windows halve above twice this and
/// double below a quarter of it.
const WINDOW_CHANGES: usize = 20_000;
/// A day in ms: how far ahead of a scan's start its last read of the feed reaches (clocks
/// running ahead), and the widest window it reads.
const DAY_MS: i64 = 86_400_000;
/// Posts loaded per MongoDB read.
const LOAD: usize = 200;
/// Posts a rebuild aims to read per `_id` window.
const WINDOW_DOCS: usize = 2_000;
/// The widest `_id` window a rebuild reads at once (30 days): empty years cost a few hundred
/// empty range reads, and a window never jumps from empty years onto the whole collection.
const MAX_WINDOW_SECS: u32 = 30 * 86_400;

/// The least pause between the end of a scan and the start of one a write nudged: the writes
/// of a burst share one scan and one commit (writes do not wait for the index, so this only
/// delays what readers other than the writer see, by at most this much). At 20 ms a burst of
/// favorites cost some 13 commits a second, a fifth of the server's time per favorite.
const NUDGE_GAP: Duration = Duration::from_millis(150);

/// The longest pause between failed catch-ups (writes wait for the index at most 2 s, and
/// lists should follow MongoDB again within seconds of it answering).
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The pause after `failures` failed passes in a row: `poll`, then from a second on, doubling
/// per failure, up to [`MAX_BACKOFF`].
fn backoff(poll: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return poll;
    }
    let doubled = Duration::from_secs(1).saturating_mul(1 << (failures - 1).min(16));
    doubled.max(poll).min(MAX_BACKOFF)
}

/// The scan after a pause: short after a nudge until a poll has passed since the last full
/// scan (`since_full`), deep once [`OVERLAP`] has passed since the last deep one (`since_deep`,
/// `None` before the first), else recent.
fn depth(
    nudged: bool,
    since_full: Duration,
    since_deep: Option<Duration>,
    poll: Duration,
) -> Depth {
    if nudged && since_full < poll {
        Depth::Short
    } else if since_deep.is_none_or(|d| d >= OVERLAP) {
        Depth::Deep
    } else {
        Depth::Recent
    }
}

/// The next window's width after one of `width` held `found` documents: doubled (up to `max`)
/// below a quarter of `aim`, halved above twice `aim`, else the same.
fn adapted_width(width: i64, found: usize, aim: usize, max: i64) -> i64 {
    match found {
        n if n < aim / 4 => width.saturating_mul(2).min(max),
        n if n > aim * 2 => (width / 2).max(1),
        _ => width,
    }
}

/// The smallest ObjectId created at `secs` (Unix time).
fn object_id_at(secs: u32) -> ObjectId {
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&secs.to_be_bytes());
    ObjectId::from_bytes(bytes)
}

pub fn indexed(found: &Indexable) -> IndexedPost {
    let post = &found.post;
    IndexedPost {
        favorited_by: found.favorited_by.clone(),
        slug: post.slug.clone(),
        id: post.id.to_hex(),
        author_id: post.author_id,
        title: post.title.clone(),
        tags: post.tags.clone(),
        difficulty: post.difficulty.clone(),
        body_text: markdown_to_text(&post.body),
        published_ms: post
            .published_at
            .map(|t| t.timestamp_millis())
            .unwrap_or_else(|| post.created_at.timestamp_millis()),
        change_seq: post.change_seq,
    }
}

/// How far back a scan reads: see the module's documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Depth {
    Deep,
    Recent,
    Short,
}

pub struct Indexer {
    index: Arc<SearchIndex>,
    mongo: Mongo,
    /// Changes before this (Unix ms) are applied.
    low_ms: i64,
    /// When the last scan (short or full) started, Unix ms.
    last_scan_ms: i64,
    /// When the last full (deep or recent) scan started, Unix ms and as an instant.
    last_full_ms: i64,
    last_full: std::time::Instant,
    /// When the last deep scan started (`None`: none yet).
    last_deep: Option<std::time::Instant>,
    /// Posts applied at or after `low_ms - OVERLAP`, with the `changedAt` applied.
    seen: HashMap<ObjectId, DateTime>,
}

/// What one catch-up did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub indexed: usize,
    pub removed: usize,
}

fn now_ms() -> i64 {
    DateTime::now().timestamp_millis()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f).await?
}

impl Indexer {
    /// An indexer resuming from the index's checkpoint. An index without one (new, or of an
    /// older schema) is rebuilt first: see [`Indexer::rebuild`].
    pub fn new(index: Arc<SearchIndex>, mongo: Mongo) -> Self {
        let low_ms = index.checkpoint().map(|c| c.low_ms).unwrap_or(0);
        Indexer {
            index,
            mongo,
            low_ms,
            last_scan_ms: 0,
            last_full_ms: 0,
            last_full: std::time::Instant::now(),
            last_deep: None,
            seen: HashMap::new(),
        }
    }

    pub fn needs_rebuild(&self) -> bool {
        self.index.checkpoint().is_none()
    }

    /// Rebuilds the index from every published post in MongoDB, reporting `(done, total)` after
    /// each page, and commits once at the end (searches see the old index until then).
    /// Changes made during the rebuild are picked up by the next [`Indexer::catch_up`].
    pub async fn rebuild(&mut self, mut progress: impl FnMut(u64, u64)) -> anyhow::Result<u64> {
        let scan = self.index.begin_scan();
        let started = now_ms();
        let mut total = posts::estimated_count(&self.mongo).await?;
        progress(0, total);
        let index = self.index.clone();
        blocking(move || index.clear_uncommitted()).await?;
        let mut done = 0;
        // Ids carry their creation second: walk time windows from the first ObjectId second to
        // a day from now, widening empty windows and narrowing crowded ones.
        let end = (now_ms() / 1000 + 86_400) as u32;
        let (mut from, mut width) = (0u32, 86_400u32);
        // No posts at all (a new installation): nothing to walk (the walk from 1970 reads
        // some 700 empty windows, most of a second).
        if total == 0 && !posts::any(&self.mongo).await? {
            from = end;
        }
        while from < end {
            let to = from.saturating_add(width).min(end);
            let page =
                match posts::published_between(&self.mongo, object_id_at(from), object_id_at(to))
                    .await
                {
                    Ok(page) => page,
                    // Too crowded to read in time: the same start, half the window.
                    Err(techhub_content::MongoError::Timeout(_)) if width > 1 => {
                        width /= 2;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
            done += page.len() as u64;
            let docs: Vec<IndexedPost> = page.iter().map(indexed).collect();
            if !docs.is_empty() {
                let index = self.index.clone();
                blocking(move || index.add_uncommitted(&docs)).await?;
            }
            total = total.max(done);
            progress(done, total);
            from = to;
            width = adapted_width(
                width.into(),
                page.len(),
                WINDOW_DOCS,
                MAX_WINDOW_SECS.into(),
            ) as u32;
        }
        progress(done, done);
        let low_ms = started - OVERLAP.as_millis() as i64;
        let index = self.index.clone();
        blocking(move || index.apply(false, &[], low_ms)).await?;
        self.index.mark_covered(scan);
        self.low_ms = low_ms;
        self.seen.clear();
        Ok(done)
    }

    /// Applies every change since the checkpoint, whichever process made it, and moves the
    /// checkpoint (the deep scan). Commits only when something changed.
    pub async fn catch_up(&mut self) -> anyhow::Result<Progress> {
        self.scan(Depth::Deep).await
    }

    /// Applies the changes of every process stamped since [`LATE`] before the previous full
    /// scan began (the recent scan); the checkpoint stays.
    pub async fn catch_up_recent(&mut self) -> anyhow::Result<Progress> {
        self.scan(Depth::Recent).await
    }

    /// Applies the changes of this process's writes finished since the last scan (see
    /// [`SearchIndex::short_scan_from`]): the short scan a write's nudge asks for, reading
    /// a fraction of a second of the change feed instead of [`OVERLAP`]s of it (at 150 posts
    /// a second the full scan read some 1,500 changes, 75 ms of SecantusDB's time, for each
    /// nudge). Changes of other processes wait for the next full scan.
    pub async fn catch_up_local(&mut self) -> anyhow::Result<Progress> {
        self.scan(Depth::Short).await
    }

    /// The scan the run loop does next (see [`depth`]).
    fn next_depth(&self, nudged: bool, poll: Duration) -> Depth {
        depth(
            nudged,
            self.last_full.elapsed(),
            self.last_deep.map(|at| at.elapsed()),
            poll,
        )
    }

    async fn scan(&mut self, depth: Depth) -> anyhow::Result<Progress> {
        let scan = self.index.begin_scan();
        let from = match depth {
            Depth::Deep => self.low_ms,
            // Never later than a short scan would start: a write of this process in flight
            // since before the previous scan must be read by whichever scan comes next.
            Depth::Recent => (self.last_full_ms - LATE.as_millis() as i64)
                .max(self.low_ms)
                .min(self.index.short_scan_from(self.last_scan_ms)),
            Depth::Short => self.index.short_scan_from(self.last_scan_ms),
        };
        let scan_started = now_ms();
        let clock = std::time::Instant::now();
        self.last_scan_ms = scan_started;
        if depth != Depth::Short {
            self.last_full = clock;
            self.last_full_ms = scan_started;
        }
        if depth == Depth::Deep {
            self.last_deep = Some(clock);
        }
        let back_ms = scan_started - from;
        let mut fresh: Vec<Change> = Vec::new();
        let mut read = 0usize;
        // Windows of the feed up to this scan's start, then one read of everything after it
        // (what was written during the scan, and clocks running ahead by up to a day).
        let (mut from, mut width) = (from, (scan_started - from).clamp(1, FIRST_WINDOW_MS));
        loop {
            let last = from >= scan_started;
            let to = if last {
                scan_started + DAY_MS
            } else {
                (from + width).min(scan_started)
            };
            let window = posts::changed_between(
                &self.mongo,
                DateTime::from_millis(from),
                DateTime::from_millis(to),
            )
            .await;
            let window = match window {
                Ok(window) => window,
                // Too crowded to read in time: the same start, half the window.
                Err(techhub_content::MongoError::Timeout(_)) if !last && width > 1 => {
                    width /= 2;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            read += window.len();
            width = adapted_width(width, window.len(), WINDOW_CHANGES, DAY_MS);
            fresh.extend(
                window
                    .into_iter()
                    .filter(|c| self.seen.get(&c.id) != Some(&c.changed_at)),
            );
            if last {
                break;
            }
            from = to;
        }
        tracing::debug!(
            ?depth,
            back_ms,
            read,
            fresh = fresh.len(),
            "search index scan read"
        );
        // Changes stamped before this are visible by now: the next full scan may start here.
        let new_low = if depth == Depth::Deep {
            self.low_ms.max(scan_started - OVERLAP.as_millis() as i64)
        } else {
            self.low_ms
        };
        let mut progress = Progress::default();
        if !fresh.is_empty() {
            let mut changes = Vec::with_capacity(fresh.len());
            let mut shown = Vec::with_capacity(fresh.len());
            for chunk in fresh.chunks(LOAD) {
                let ids: Vec<ObjectId> = chunk.iter().map(|c| c.id).collect();
                // Posts this process created come as written; the rest are read.
                let mut loaded = Vec::new();
                let mut unread = Vec::new();
                for c in chunk {
                    match self.index.take_created(c.id, c.changed_at) {
                        Some(post) => loaded.push(Indexable {
                            post,
                            favorited_by: Vec::new(),
                        }),
                        None => unread.push(c.id),
                    }
                }
                if !unread.is_empty() {
                    loaded.extend(posts::full_by_ids(&self.mongo, &unread).await?);
                }
                for id in &ids {
                    let found = loaded.iter().find(|p| p.post.id == *id);
                    // A post gone from MongoDB shows every change it had.
                    shown.push((id.to_hex(), found.map_or(i64::MAX, |p| p.post.change_seq)));
                    match found {
                        Some(p) if p.post.status.is_published() => {
                            progress.indexed += 1;
                            changes.push(IndexChange::Upsert(indexed(p)));
                        }
                        _ => {
                            progress.removed += 1;
                            changes.push(IndexChange::Remove(id.to_hex()));
                        }
                    }
                }
            }
            let loaded = clock.elapsed();
            let index = self.index.clone();
            blocking(move || index.apply(false, &changes, new_low)).await?;
            self.index.record_shown(&shown);
            tracing::debug!(
                indexed = progress.indexed,
                removed = progress.removed,
                read_ms = loaded.as_millis() as u64,
                commit_ms = (clock.elapsed() - loaded).as_millis() as u64,
                "search index caught up"
            );
            for c in &fresh {
                self.seen.insert(c.id, c.changed_at);
            }
        }
        self.index.mark_covered(scan);
        self.low_ms = new_low;
        let horizon = self.low_ms - OVERLAP.as_millis() as i64;
        self.seen.retain(|_, at| at.timestamp_millis() >= horizon);
        self.index.forget_created_before(horizon);
        Ok(progress)
    }

    /// Rebuilds if needed, then follows the feed until `shutdown`: at once when `wake` is
    /// notified (a change in this process), otherwise every `poll` (changes made elsewhere).
    pub async fn run(
        mut self,
        wake: Arc<Notify>,
        poll: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut built = !self.needs_rebuild();
        let mut failures = 0u32;
        let mut nudged_last = false;
        loop {
            let mut failed = false;
            if !built {
                // A line per 50,000 posts (pages rarely end on a round number).
                let mut logged = None;
                match self
                    .rebuild(|done, total| {
                        let step = done / 50_000;
                        if logged != Some(step) || done == total {
                            logged = Some(step);
                            tracing::info!(done, total, "building the search index");
                        }
                    })
                    .await
                {
                    Ok(n) => {
                        tracing::info!(posts = n, dir = %self.index.dir().display(), "search index built");
                        built = true;
                    }
                    Err(e) => {
                        failed = true;
                        tracing::warn!(error = %format!("{e:#}"), "search index not built yet; retrying")
                    }
                }
            }
            if built {
                let scanned = self.scan(self.next_depth(nudged_last, poll)).await;
                match scanned {
                    Ok(p) if p != Progress::default() => {
                        tracing::debug!(
                            indexed = p.indexed,
                            removed = p.removed,
                            "search index updated"
                        )
                    }
                    Ok(_) => {}
                    Err(e) => {
                        failed = true;
                        tracing::warn!(error = %format!("{e:#}"), "search index not updated; retrying")
                    }
                }
            }
            // After failures in a row: wait longer each time (doubling up to 10 s) and
            // ignore nudges, so a struggling MongoDB is not asked the same thing every poll.
            failures = if failed { failures + 1 } else { 0 };
            let pause = backoff(poll, failures);
            let nudged = async {
                if failures == 0 {
                    wake.notified().await
                } else {
                    std::future::pending().await
                }
            };
            let scanned_at = std::time::Instant::now();
            tokio::select! {
                _ = &mut shutdown => return,
                _ = nudged => nudged_last = true,
                _ = tokio::time::sleep(pause) => nudged_last = false,
            }
            if nudged_last {
                let gap = NUDGE_GAP.saturating_sub(scanned_at.elapsed());
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = tokio::time::sleep(gap) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nudge_scans_short_until_a_poll_then_deep_every_overlap_and_recent_between() {
        let poll = Duration::from_millis(500);
        let ms = Duration::from_millis;
        assert_eq!(
            depth(false, ms(0), None, poll),
            Depth::Deep,
            "the first scan is deep"
        );
        assert_eq!(depth(true, ms(100), Some(ms(100)), poll), Depth::Short);
        // A nudge waits for no deep scan until a poll has passed.
        assert_eq!(depth(true, ms(499), Some(OVERLAP), poll), Depth::Short);
        assert_eq!(depth(true, ms(500), Some(ms(2_000)), poll), Depth::Recent);
        assert_eq!(depth(false, ms(500), Some(ms(4_999)), poll), Depth::Recent);
        assert_eq!(depth(false, ms(500), Some(OVERLAP), poll), Depth::Deep);
        assert_eq!(depth(true, ms(900), Some(ms(7_000)), poll), Depth::Deep);
    }

    #[test]
    fn a_window_doubles_when_sparse_halves_when_crowded_and_stays_within_bounds() {
        assert_eq!(adapted_width(100, 4, 20, 1_000), 200);
        assert_eq!(adapted_width(800, 0, 20, 1_000), 1_000);
        assert_eq!(adapted_width(100, 41, 20, 1_000), 50);
        assert_eq!(adapted_width(1, 1_000, 20, 1_000), 1);
        assert_eq!(adapted_width(100, 5, 20, 1_000), 100);
        assert_eq!(adapted_width(100, 40, 20, 1_000), 100);
    }

    #[test]
    fn backoff_is_the_poll_then_doubles_from_a_second_up_to_ten() {
        let poll = Duration::from_millis(200);
        assert_eq!(backoff(poll, 0), poll);
        assert_eq!(backoff(poll, 1), Duration::from_secs(1));
        assert_eq!(backoff(poll, 3), Duration::from_secs(4));
        assert_eq!(backoff(poll, 5), MAX_BACKOFF);
        assert_eq!(backoff(poll, 40), MAX_BACKOFF);
        assert_eq!(backoff(Duration::from_secs(3), 1), Duration::from_secs(3));
    }
}
