//! Server memory from `/proc/<pid>/status`: `VmRSS` sampled during a run, `VmHWM` after it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::report::Memory;

/// `(VmRSS, VmHWM)` of `pid` in KiB, or `None` when the process cannot be read.
pub fn read(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status(&status)
}

/// `(VmRSS, VmHWM)` in KiB from the text of a `/proc/<pid>/status` file.
pub fn parse_status(status: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Samples `VmRSS` every 250 ms until [`Sampler::finish`].
pub struct Sampler {
    pid: u32,
    before: u64,
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    /// Starts sampling `pid`; `None` when it cannot be read.
    pub fn start(pid: u32) -> Option<Sampler> {
        let (before, _) = read(pid)?;
        let peak = Arc::new(AtomicU64::new(before));
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let (peak, stop) = (peak.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Some((rss, _)) = read(pid) {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            })
        };
        Some(Sampler {
            pid,
            before,
            peak,
            stop,
            task,
        })
    }

    /// Stops sampling and returns the figures.
    pub async fn finish(self) -> Option<Memory> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        let (after, hwm) = read(self.pid)?;
        Some(Memory {
            pid: self.pid,
            rss_before_kb: self.before,
            rss_after_kb: after,
            rss_peak_kb: self.peak.load(Ordering::Relaxed).max(after),
            hwm_after_kb: hwm,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_and_hwm_from_status_text() {
        let text =
            "Name:\ttechhub\nVmPeak:\t  900000 kB\nVmHWM:\t   81234 kB\nVmRSS:\t   75000 kB\n";
        assert_eq!(parse_status(text), Some((75_000, 81_234)));
        assert_eq!(parse_status("Name:\tx\n"), None);
        // This very process can be read.
        let (rss, hwm) = read(std::process::id()).unwrap();
        assert!(rss > 0 && hwm >= rss);
    }
}
