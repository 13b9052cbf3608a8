//! Which due documents the content relay reads next. SecantusDB answers a read of a date range
//! by walking every entry in the range before it applies the limit: a read of everything due
//! cost as much as the backlog (45 ms with 29,000 favorite clicks due, whether 50 or 500 were
//! taken), so a relay that fell behind slowed down the further it fell. The relay reads a
//! window instead: the documents due since it last found everything due (less a margin for
//! writes that become visible late), and when a read is full, the next starts where it ended
//! and covers as long a span as it did, so each read walks about a batch. Once in a while a read reaches back to
//! the beginning, for documents no window covered.

use std::time::{Duration, Instant};

use mongodb::bson::DateTime;

/// How far behind the time of a read that found everything due the next window starts: a
/// document may become visible this long after it is due (a favorite click is due 100 ms
/// after it was made, and its insert can take longer under load).
pub(crate) const MARGIN: Duration = Duration::from_secs(2);
/// How often a read reaches back to the beginning of time, for documents due before the window
/// when they became visible (a slower write, another instance's clock running behind).
pub(crate) const SWEEP: Duration = Duration::from_secs(10);
/// How wide the first window behind the present is, doubling while it finds nothing.
const FIRST_SPAN_MS: i64 = 1_000;

/// A source's window: its start, and its span when it does not reach to the present.
#[derive(Debug, Default)]
pub(crate) struct DueWindow {
    from: Option<DateTime>,
    span_ms: Option<i64>,
    swept: Option<Instant>,
}

impl DueWindow {
    /// The range of due times to read at `now`.
    pub(crate) fn next(&mut self, now: DateTime) -> (DateTime, DateTime) {
        if self.swept.is_none_or(|at| at.elapsed() >= SWEEP) {
            self.from = None;
            self.span_ms = None;
        }
        let from = self.from.unwrap_or(DateTime::MIN);
        let to = match self.span_ms {
            Some(span) => {
                DateTime::from_millis(from.timestamp_millis().saturating_add(span)).min(now)
            }
            None => now,
        };
        (from, to)
    }

    /// Records that a read of `range` at `now` found documents due at `found` (at most
    /// `limit`). Returns whether the next window, behind the present, may be read at once.
    pub(crate) fn read(
        &mut self,
        (from, to): (DateTime, DateTime),
        now: DateTime,
        found: &[DateTime],
        limit: usize,
    ) -> bool {
        if from == DateTime::MIN {
            self.swept = Some(Instant::now());
        }
        let settled = DateTime::from_millis(now.timestamp_millis() - MARGIN.as_millis() as i64);
        match (found.iter().min(), found.iter().max()) {
            (Some(&oldest), Some(&newest)) if found.len() >= limit => {
                // More in this window. A read returns the oldest due first (index order), so
                // all before the newest found were read: the next window starts there (its
                // own time included, for documents due then that did not fit) and spans
                // what this read took.
                self.from = Some(newest);
                let span = newest.timestamp_millis() - oldest.timestamp_millis();
                self.span_ms = Some(span.max(1));
                true
            }
            _ if to < settled => {
                // All of this window was read, and it lies behind: the next follows it, wider.
                self.from = Some(to);
                self.span_ms = Some(self.span_ms.map_or(FIRST_SPAN_MS, |s| s.saturating_mul(2)));
                true
            }
            _ => {
                self.from = Some(to.min(settled));
                self.span_ms = None;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime {
        DateTime::from_millis(ms)
    }

    #[test]
    fn a_window_that_found_all_moves_up_to_the_margin_behind_the_present() {
        let mut w = DueWindow::default();
        let now = at(100_000);
        let range = w.next(now);
        assert_eq!(
            range,
            (DateTime::MIN, now),
            "the first read sweeps from the beginning"
        );
        assert!(!w.read(range, now, &[at(99_950)], 500));
        let later = at(100_300);
        assert_eq!(w.next(later), (at(98_000), later));
    }

    #[test]
    fn a_full_read_narrows_the_window_to_what_it_took_and_a_backlog_is_walked_in_steps() {
        let mut w = DueWindow::default();
        let now = at(1_000_000);
        let range = w.next(now);
        let full: Vec<DateTime> = (0..4).map(|i| at(10_000 + i * 100)).collect();
        assert!(w.read(range, now, &full, 4));
        assert_eq!(w.next(now), (at(10_300), at(10_600)));
        // A window not full: the next follows it, twice as wide each time.
        assert!(w.read((at(10_300), at(10_600)), now, &[at(10_300)], 4));
        assert_eq!(w.next(now), (at(10_600), at(11_200)));
        assert!(w.read((at(10_600), at(11_200)), now, &[], 4));
        assert_eq!(w.next(now), (at(11_200), at(12_400)));
        // A window reaching the present ends the walk.
        let near = (at(997_500), now);
        assert!(!w.read(near, now, &[], 4));
        assert_eq!(w.next(now), (at(998_000), now));
    }

    #[test]
    fn the_window_reaches_back_to_the_beginning_once_a_sweep_is_due() {
        let mut w = DueWindow::default();
        let now = at(50_000);
        let range = w.next(now);
        w.read(range, now, &[], 500);
        assert_ne!(w.next(now).0, DateTime::MIN);
        w.swept = Some(Instant::now() - SWEEP);
        assert_eq!(w.next(now).0, DateTime::MIN);
    }
}
