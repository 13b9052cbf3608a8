//! Optional cross-check with `wrk`: the same URL hammered by a well-known generator, so a
//! bottleneck in the bench's own generator would show as a gap between the two.

use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::report::Percentiles;

/// What `wrk --latency` printed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WrkOutput {
    /// `Requests/sec:`.
    pub rps: f64,
    /// Total requests (`N requests in ...`).
    pub requests: u64,
    /// `Non-2xx or 3xx responses:` plus socket errors.
    pub errors: u64,
    /// p50/p90/p99 from the latency distribution, max from the thread stats (no p99.9).
    pub latency: Percentiles,
}

/// True when a `wrk` executable is on `PATH`.
pub fn available() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("wrk").is_file()))
}

/// Runs `wrk -t2 -c<connections> -d<duration> --latency <url>`.
pub async fn run(connections: usize, duration: Duration, url: &str) -> Result<WrkOutput> {
    let output = tokio::process::Command::new("wrk")
        .arg("-t2")
        .arg(format!("-c{}", connections.max(2)))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--latency")
        .arg(url)
        .output()
        .await
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse(&text).with_context(|| format!("no Requests/sec line in wrk's output:\n{text}"))
}

/// A wrk duration (`812.00us`, `1.23ms`, `2.00s`, `1.00m`) in milliseconds.
fn duration_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    let factor = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return None,
    };
    Some(v * factor)
}

/// Parses wrk's report; `None` without a `Requests/sec:` line.
pub fn parse(text: &str) -> Option<WrkOutput> {
    let mut out = WrkOutput::default();
    let mut found_rps = false;
    let mut in_distribution = false;
    for line in text.lines() {
        let t = line.trim();
        let mut words = t.split_whitespace();
        let first = words.next().unwrap_or("");
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            out.rps = v.trim().parse().ok()?;
            found_rps = true;
        } else if t == "Latency Distribution" {
            in_distribution = true;
        } else if first == "Latency" && !in_distribution {
            // "Latency  1.23ms  456.78us  12.34ms  89.01%": avg, stdev, max, +/- stdev.
            out.latency.max_ms = words.nth(2).and_then(duration_ms);
        } else if in_distribution && first.ends_with('%') {
            let value = words.next().and_then(duration_ms);
            match first {
                "50%" => out.latency.p50_ms = value,
                "90%" => out.latency.p90_ms = value,
                "99%" => out.latency.p99_ms = value,
                _ => {}
            }
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            out.errors += v.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(v) = t.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            out.errors += v
                .split(',')
                .filter_map(|p| p.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        } else if t.contains(" requests in ") {
            in_distribution = false;
            out.requests = first.parse().unwrap_or(0);
        }
    }
    found_rps.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Running 10s test @ http://127.0.0.1:18099/redis/1
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.23ms  456.78us  12.34ms   89.01%
    Req/Sec    25.12k     1.23k   28.00k    70.00%
  Latency Distribution
     50%  812.00us
     75%    1.40ms
     90%    1.80ms
     99%    3.20ms
  500123 requests in 10.00s, 60.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 12
Requests/sec:  50012.34
Transfer/sec:      6.00MB
";

    #[test]
    fn parses_rate_latency_and_errors() {
        let w = parse(SAMPLE).unwrap();
        assert_eq!(w.rps, 50012.34);
        assert_eq!(w.requests, 500123);
        assert_eq!(w.errors, 17);
        assert_eq!(w.latency.p50_ms, Some(0.812));
        assert_eq!(w.latency.p90_ms, Some(1.8));
        assert_eq!(w.latency.p99_ms, Some(3.2));
        assert_eq!(w.latency.max_ms, Some(12.34));
        assert_eq!(w.latency.p999_ms, None);
    }

    #[test]
    fn output_without_a_rate_is_rejected() {
        assert_eq!(
            parse("unable to connect to 127.0.0.1:1 Connection refused"),
            None
        );
        assert_eq!(parse("Requests/sec: lots"), None);
    }

    #[test]
    fn durations_convert_to_ms() {
        assert_eq!(duration_ms("250.00us"), Some(0.25));
        assert_eq!(duration_ms("2.00s"), Some(2000.0));
        assert_eq!(duration_ms("1.50m"), Some(90_000.0));
        assert_eq!(duration_ms("3.00parsecs"), None);
    }
}
