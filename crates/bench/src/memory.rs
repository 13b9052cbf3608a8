//! Server memory from `/proc/<pid>/status`: `VmRSS` and `RssAnon` sampled during a run,
//! `VmHWM` after it. `RssAnon` is the process's own heap and stacks; the rest of `VmRSS` is
//! mostly mapped files (TechHub's search index), pages the kernel may drop at will.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::report::Memory;

/// What `/proc/<pid>/status` says of a process's memory, in KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    pub rss: u64,
    pub hwm: u64,
    /// `RssAnon` (0 where the kernel does not report it).
    pub anon: u64,
}

/// The memory of `pid`, or `None` when the process cannot be read.
pub fn read(pid: u32) -> Option<Status> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status(&status)
}

/// The memory figures in the text of a `/proc/<pid>/status` file.
pub fn parse_status(status: &str) -> Option<Status> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some(Status {
        rss: field("VmRSS:")?,
        hwm: field("VmHWM:")?,
        anon: field("RssAnon:").unwrap_or(0),
    })
}

/// Samples `VmRSS` every 250 ms until [`Sampler::finish`].
pub struct Sampler {
    pid: u32,
    before: u64,
    peak: Arc<AtomicU64>,
    anon_peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    /// Starts sampling `pid`; `None` when it cannot be read.
    pub fn start(pid: u32) -> Option<Sampler> {
        let first = read(pid)?;
        let before = first.rss;
        let peak = Arc::new(AtomicU64::new(before));
        let anon_peak = Arc::new(AtomicU64::new(first.anon));
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let (peak, anon_peak, stop) = (peak.clone(), anon_peak.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(now) = read(pid) {
                        peak.fetch_max(now.rss, Ordering::Relaxed);
                        anon_peak.fetch_max(now.anon, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            })
        };
        Some(Sampler {
            pid,
            before,
            peak,
            anon_peak,
            stop,
            task,
        })
    }

    /// Stops sampling and returns the figures.
    pub async fn finish(self) -> Option<Memory> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        let after = read(self.pid)?;
        Some(Memory {
            pid: self.pid,
            rss_before_kb: self.before,
            rss_after_kb: after.rss,
            rss_peak_kb: self.peak.load(Ordering::Relaxed).max(after.rss),
            hwm_after_kb: after.hwm,
            anon_peak_kb: self.anon_peak.load(Ordering::Relaxed).max(after.anon),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_and_hwm_from_status_text() {
        let text = "Name:\ttechhub\nVmPeak:\t  900000 kB\nVmHWM:\t   81234 kB\nVmRSS:\t   75000 kB\nRssAnon:\t   50000 kB\nRssFile:\t   25000 kB\n";
        assert_eq!(
            parse_status(text),
            Some(Status {
                rss: 75_000,
                hwm: 81_234,
                anon: 50_000
            })
        );
        assert_eq!(parse_status("Name:\tx\n"), None);
        // This very process can be read.
        let me = read(std::process::id()).unwrap();
        assert!(me.rss > 0 && me.hwm >= me.rss && me.anon > 0 && me.anon <= me.rss);
    }
}
