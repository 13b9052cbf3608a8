//! Waiting for the machine to go quiet before a run.
//!
//! A write run leaves work behind it: the relays deliver, count and index what it wrote for
//! seconds after its window closes. The next run would otherwise measure that work as well as
//! its own, so before each run the bench waits until the machine's CPUs are nearly idle (from
//! `/proc/stat`, every process counted: TechHub, its stores, the floor) and reports how long
//! that took: how long the previous run's background work went on.

use std::time::{Duration, Instant};

/// One window's CPU time, in clock ticks, summed over every CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTimes {
    /// Ticks spent running anything (user, nice, system, irq, softirq, steal).
    pub busy: u64,
    /// Every tick, idle and I/O wait included.
    pub total: u64,
}

/// The machine-wide line (`cpu  …`) of a `/proc/stat` text.
pub fn parse_stat(stat: &str) -> Option<CpuTimes> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is
    // already counted in user and nice.
    if fields.len() < 8 {
        return None;
    }
    let idle = fields[3] + fields[4];
    let busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7];
    Some(CpuTimes {
        busy,
        total: busy + idle,
    })
}

fn read() -> Option<CpuTimes> {
    parse_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// The share of all CPUs busy between two readings (0.0 when no tick passed).
pub fn busy_share(before: CpuTimes, after: CpuTimes) -> f64 {
    let total = after.total.saturating_sub(before.total);
    if total == 0 {
        return 0.0;
    }
    after.busy.saturating_sub(before.busy) as f64 / total as f64
}

/// How the wait before a run ended.
#[derive(Clone, Copy, Debug)]
pub struct Settled {
    /// Time waited, the quiet window included.
    pub waited: Duration,
    /// The busy share of the last window.
    pub busy: f64,
    /// False when `max` passed before a window was quiet.
    pub quiet: bool,
}

/// Waits until a whole `window` has the machine's CPUs below `threshold` busy (a share of all
/// of them), or `max` has passed. `None` where `/proc/stat` cannot be read.
pub async fn settle(threshold: f64, window: Duration, max: Duration) -> Option<Settled> {
    let start = Instant::now();
    let mut before = read()?;
    loop {
        tokio::time::sleep(window).await;
        let after = read()?;
        let busy = busy_share(before, after);
        let waited = start.elapsed();
        if busy < threshold || waited >= max {
            return Some(Settled {
                waited,
                busy,
                quiet: busy < threshold,
            });
        }
        before = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  100 5 50 1000 20 3 2 1 0 0\n\
                        cpu0 50 2 25 500 10 1 1 0 0 0\n\
                        intr 12345\n";

    #[test]
    fn the_machine_line_counts_busy_and_idle_ticks() {
        assert_eq!(
            parse_stat(STAT),
            Some(CpuTimes {
                busy: 100 + 5 + 50 + 3 + 2 + 1,
                total: 161 + 1000 + 20,
            })
        );
        assert_eq!(parse_stat("cpu0 1 2 3 4 5 6 7 8\n"), None);
        assert_eq!(parse_stat("cpu  1 2 3\n"), None);
        assert_eq!(parse_stat("cpu  1 x 3 4 5 6 7 8\n"), None);
    }

    #[test]
    fn the_busy_share_is_of_the_ticks_between_readings() {
        let a = CpuTimes {
            busy: 100,
            total: 1000,
        };
        let b = CpuTimes {
            busy: 150,
            total: 1200,
        };
        assert!((busy_share(a, b) - 0.25).abs() < 1e-9);
        assert_eq!(busy_share(a, a), 0.0);
    }
}
