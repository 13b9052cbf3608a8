//! Which writes of this process the index shows, so a write can return once lists show it
//! (read your writes). The indexer numbers its scans of MongoDB ([`SearchIndex::begin_scan`])
//! and marks each covered once what it read is searchable; a write waits for a scan that
//! started after it finished ([`SearchIndex::covered`]). Writes in flight are registered
//! ([`SearchIndex::write_starting`]) so the indexer's short scans, which read a fraction of a
//! second of the change feed, reach back far enough to see them.

use std::collections::{BTreeMap, HashMap};

use mongodb::bson::{oid::ObjectId, DateTime};
use techhub_content::posts::Post;

use super::SearchIndex;

/// The most created posts kept for the indexer at once; beyond it, it reads them back.
const CREATED_MAX: usize = 4_096;

/// Posts this process created, by id, with the `changedAt` they were written with.
#[derive(Default)]
pub(crate) struct Created(HashMap<ObjectId, (DateTime, Post)>);

impl SearchIndex {
    /// The indexer starts reading MongoDB for changes: returns the scan's number, to pass to
    /// [`SearchIndex::mark_covered`] once what it read is searchable. Scans are numbered, not
    /// timed: a scan that started after a write finished sees it, and a clock's millisecond is
    /// too coarse to tell "after" (a nudged indexer often starts within the write's).
    pub fn begin_scan(&self) -> u64 {
        self.scans.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
    }

    /// What scan `scan` read is now searchable.
    pub fn mark_covered(&self, scan: u64) {
        self.covered.send_if_modified(|c| {
            let newer = scan > *c;
            if newer {
                *c = scan;
            }
            newer
        });
    }

    /// For a write that just finished: the ticket to wait on with [`SearchIndex::covered`].
    pub fn write_ticket(&self) -> u64 {
        self.scans.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Registers a content write of this process about to stamp `changedAt` (held until the
    /// write is done), so the indexer's short scans reach back to it: a scan that starts after
    /// the write finished reads from no later than its stamp (see
    /// [`SearchIndex::short_scan_from`]). Writes of other processes are found by the
    /// indexer's full scans.
    pub fn write_starting(self: &std::sync::Arc<Self>) -> LocalWrite {
        let stamp = now_ms();
        let mut w = self.writes.lock().expect("local writes lock poisoned");
        let id = w.next;
        w.next += 1;
        w.in_flight.insert(id, stamp);
        LocalWrite {
            index: self.clone(),
            id,
            stamp,
        }
    }

    /// Where a short scan starting now must begin reading (Unix ms) to see every write of
    /// this process that finished before it: no later than the previous scan's start
    /// (`previous_start_ms`), nor than the stamp of a write in flight or finished since that
    /// scan began reading. Resets the finished writes for the next scan.
    pub fn short_scan_from(&self, previous_start_ms: i64) -> i64 {
        let mut w = self.writes.lock().expect("local writes lock poisoned");
        let in_flight = w.in_flight.values().copied().min().unwrap_or(i64::MAX);
        let from = previous_start_ms.min(in_flight).min(w.finished_min);
        w.finished_min = i64::MAX;
        // A millisecond clock: the same instant may be stamped on either side.
        from - SHORT_SCAN_MARGIN_MS
    }

    /// Waits until a scan that started after the write of `ticket` is searchable, at most
    /// `limit`. False if none is by then (the indexer is behind or failing).
    pub async fn covered(&self, ticket: u64, limit: std::time::Duration) -> bool {
        let mut rx = self.covered.subscribe();
        let reached = tokio::time::timeout(limit, rx.wait_for(|c| *c > ticket)).await;
        matches!(reached, Ok(Ok(_)))
    }
}

/// How far before its computed start a short scan reads (see
/// [`SearchIndex::short_scan_from`]).
const SHORT_SCAN_MARGIN_MS: i64 = 50;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Content writes of this process: the stamps of those in flight, and the oldest stamp of
/// those finished since the last short scan began.
pub(super) struct LocalWrites {
    pub(super) next: u64,
    pub(super) in_flight: BTreeMap<u64, i64>,
    pub(super) finished_min: i64,
}

/// A content write in flight (see [`SearchIndex::write_starting`]); drop it once the write
/// is done, whatever its outcome.
pub struct LocalWrite {
    index: std::sync::Arc<SearchIndex>,
    id: u64,
    stamp: i64,
}

impl Drop for LocalWrite {
    fn drop(&mut self) {
        let mut w = self
            .index
            .writes
            .lock()
            .expect("local writes lock poisoned");
        w.in_flight.remove(&self.id);
        w.finished_min = w.finished_min.min(self.stamp);
    }
}

impl SearchIndex {
    /// Hands the indexer a post this process just created, as written with `changedAt` =
    /// `changed_at`, so its next scan indexes it from here instead of reading it back from
    /// MongoDB (a whole post, body included, per created post: about a quarter of the
    /// database's time under a burst of new posts). The scan still finds the post through
    /// the change feed, and takes it from here only at that same `changedAt`: a post changed
    /// since (a favorite counted, an edit) is read as it is now.
    pub fn created(&self, post: &Post, changed_at: DateTime) {
        let mut created = self.created.lock().expect("created posts lock poisoned");
        if created.0.len() < CREATED_MAX {
            created.0.insert(post.id, (changed_at, post.clone()));
        }
    }

    /// The post `id` as this process created it, if it is still as written at `changed_at`;
    /// forgets it either way.
    pub fn take_created(&self, id: ObjectId, changed_at: DateTime) -> Option<Post> {
        let mut created = self.created.lock().expect("created posts lock poisoned");
        match created.0.remove(&id) {
            Some((at, post)) if at == changed_at => Some(post),
            _ => None,
        }
    }

    /// Forgets created posts written before `horizon_ms` (the change feed's scans no longer
    /// reach them).
    pub fn forget_created_before(&self, horizon_ms: i64) {
        let mut created = self.created.lock().expect("created posts lock poisoned");
        created
            .0
            .retain(|_, (at, _)| at.timestamp_millis() >= horizon_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A short scan reaches back to every write of this process that was in flight, or
    /// finished, since the previous scan began; then only to the previous scan's start.
    #[test]
    fn short_scans_reach_back_to_local_writes_in_flight_or_finished_since_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let index = std::sync::Arc::new(SearchIndex::open(dir.path()).unwrap());
        let later = now_ms() + 60_000; // a previous scan "after" every stamp below
        assert_eq!(index.short_scan_from(later), later - SHORT_SCAN_MARGIN_MS);
        let before = now_ms();
        let first = index.write_starting();
        let second = index.write_starting();
        let reach = index.short_scan_from(later);
        assert!(
            (before - SHORT_SCAN_MARGIN_MS..=now_ms() - SHORT_SCAN_MARGIN_MS).contains(&reach),
            "in flight: {reach}"
        );
        drop(first);
        drop(second);
        let finished = index.short_scan_from(later);
        assert_eq!(finished, reach, "finished since the last scan began");
        assert_eq!(
            index.short_scan_from(later),
            later - SHORT_SCAN_MARGIN_MS,
            "already seen by the last scan"
        );
        assert_eq!(index.short_scan_from(0), -SHORT_SCAN_MARGIN_MS);
    }

    #[tokio::test]
    async fn covered_waits_for_a_scan_that_started_after_the_write() {
        let dir = tempfile::tempdir().unwrap();
        let index = std::sync::Arc::new(SearchIndex::open(dir.path()).unwrap());
        let short = std::time::Duration::from_millis(50);
        let before = index.write_ticket();
        assert!(!index.covered(before, short).await, "nothing scanned yet");
        // A scan that was running while the write finished may have missed it.
        let running = index.begin_scan();
        let ticket = index.write_ticket();
        index.mark_covered(running);
        assert!(
            index.covered(before, short).await,
            "an earlier write is covered"
        );
        assert!(
            !index.covered(ticket, short).await,
            "the scan began before the write"
        );
        let waiting = {
            let index = index.clone();
            tokio::spawn(async move {
                index
                    .covered(ticket, std::time::Duration::from_secs(5))
                    .await
            })
        };
        tokio::time::sleep(short).await;
        assert!(!waiting.is_finished());
        let next = index.begin_scan();
        index.mark_covered(running); // an older scan never moves it back
        tokio::time::sleep(short).await;
        assert!(
            !waiting.is_finished(),
            "the next scan is not searchable yet"
        );
        index.mark_covered(next);
        assert!(waiting.await.unwrap());
    }

    #[test]
    fn a_created_post_is_taken_once_and_only_as_written() {
        use mongodb::bson::doc;
        let index = SearchIndex::in_memory(&[]).unwrap();
        let at = DateTime::from_millis(1_000_000);
        let post: Post = mongodb::bson::from_document(doc! {
            "_id": ObjectId::new(), "slug": "s", "title": "t", "description": "d",
            "authorId": 1_i64, "status": "published", "tags": [], "engagement": {},
            "publishedAt": at, "version": 1_i64, "changeSeq": 1_i64,
            "createdAt": at, "updatedAt": at,
        })
        .unwrap();
        index.created(&post, at);
        assert_eq!(index.take_created(post.id, at), Some(post.clone()));
        assert_eq!(index.take_created(post.id, at), None, "taken once");
        index.created(&post, at);
        let later = DateTime::from_millis(1_000_001);
        assert_eq!(
            index.take_created(post.id, later),
            None,
            "changed since it was written: read it"
        );
        assert_eq!(index.take_created(post.id, at), None, "and forgotten");
        index.created(&post, at);
        index.forget_created_before(later.timestamp_millis());
        assert_eq!(
            index.take_created(post.id, at),
            None,
            "out of the scans' reach"
        );
    }
}
