//! Results and how they are shown: the stdout table, the JSON files and the SVG chart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::load::Measured;
use crate::scenarios::Scenario;

/// Latency percentiles in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50_ms: Option<f64>,
    /// 90th percentile.
    pub p90_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// 99.9th percentile.
    pub p999_ms: Option<f64>,
    /// Slowest request.
    pub max_ms: Option<f64>,
}

impl Percentiles {
    /// Percentiles of a histogram of microseconds; all `None` when it is empty.
    pub fn from_hist(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| Some(us as f64 / 1000.0);
        Percentiles {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }

    /// `(label, value)` pairs of the four percentiles the chart shows.
    fn charted(&self) -> [(&'static str, Option<f64>); 4] {
        [
            ("p50", self.p50_ms),
            ("p90", self.p90_ms),
            ("p99", self.p99_ms),
            ("p99.9", self.p999_ms),
        ]
    }
}

/// Memory of a server process over one run (from `/proc/<pid>/status`, in KiB).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Memory {
    /// Process sampled.
    pub pid: u32,
    /// `VmRSS` before the run.
    pub rss_before_kb: u64,
    /// `VmRSS` after the run.
    pub rss_after_kb: u64,
    /// Largest `VmRSS` sampled (every 250 ms) during the run.
    pub rss_peak_kb: u64,
    /// `VmHWM` (peak RSS since the process started) after the run.
    pub hwm_after_kb: u64,
    /// Largest `RssAnon` sampled: the resident heap and stacks, without mapped files.
    pub anon_peak_kb: u64,
}

/// One scenario under one model (or one wrk cross-check).
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Scenario name.
    pub scenario: String,
    /// `closed`, `open` or `wrk`.
    pub model: String,
    /// Connections used.
    pub connections: usize,
    /// Measurement window, seconds.
    pub duration_s: f64,
    /// Open model: the arrival rate asked for.
    pub target_rps: Option<f64>,
    /// Requests completed in the window.
    pub requests: u64,
    /// Completed requests per second.
    pub rps: f64,
    /// Latency percentiles.
    #[serde(flatten)]
    pub latency: Percentiles,
    /// Non-2xx answers plus I/O errors and timeouts.
    pub errors: u64,
    /// Count per status (`"200"`, `"429"`, `"io"`, `"timeout"`).
    pub statuses: BTreeMap<String, u64>,
    /// Answers with `X-Cache: hit`.
    pub cache_hits: u64,
    /// Answers with `X-Cache: miss`.
    pub cache_misses: u64,
    /// Open model: requests started over 1 ms late because no connection was free.
    pub late: u64,
    /// Open model: requests due in the window that never completed.
    pub missed: u64,
    /// The floor scenario this one is compared with.
    pub floor: Option<String>,
    /// Closed model: requests/s divided by the floor's closed-model requests/s.
    pub ratio_to_floor: Option<f64>,
    /// Server memory over the run, when its pid is known.
    pub server_memory: Option<Memory>,
    /// Seconds waited before the run for the machine to go quiet (the work the previous run
    /// left behind), when the bench waited.
    pub settled_s: Option<f64>,
    /// The window second by second ([`crate::load::Measured::per_second`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_second: Vec<Second>,
}

/// One second of a run's window.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Second {
    /// Requests due (open model) or sent (closed) in it that completed.
    pub requests: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
}

impl Second {
    /// Each second of `per_second` (histograms of microseconds).
    pub fn all(per_second: &[Histogram<u64>]) -> Vec<Second> {
        let ms = |us: u64| us as f64 / 1000.0;
        per_second
            .iter()
            .map(|h| Second {
                requests: h.len(),
                p50_ms: ms(h.value_at_quantile(0.50)),
                p99_ms: ms(h.value_at_quantile(0.99)),
                max_ms: ms(h.max()),
            })
            .collect()
    }
}

impl Row {
    /// A row for a load-generator run.
    pub fn measured(
        scenario: Scenario,
        model: &str,
        connections: usize,
        target_rps: Option<f64>,
        m: &Measured,
        server_memory: Option<Memory>,
    ) -> Row {
        Row {
            scenario: scenario.name().to_string(),
            model: model.to_string(),
            connections,
            duration_s: m.window.as_secs_f64(),
            target_rps,
            requests: m.requests,
            rps: m.rps(),
            latency: Percentiles::from_hist(&m.hist),
            errors: m.errors,
            statuses: m.statuses.clone(),
            cache_hits: m.cache_hits,
            cache_misses: m.cache_misses,
            late: m.late,
            missed: m.missed,
            floor: scenario.floor().map(|f| f.name().to_string()),
            ratio_to_floor: None,
            server_memory,
            settled_s: None,
            per_second: Second::all(&m.per_second),
        }
    }
}

/// A scenario that did not run, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    /// Scenario name.
    pub scenario: String,
    /// Reason.
    pub reason: String,
}

/// Facts about the run.
#[derive(Clone, Debug, Serialize)]
pub struct Meta {
    /// Start time, unix seconds.
    pub unix_time: u64,
    /// Run id used in generated names.
    pub run_id: String,
    /// `git rev-parse HEAD` of the working directory, when it works.
    pub git_commit: Option<String>,
    /// Cores available to the bench.
    pub cores: usize,
    /// Connections per run.
    pub connections: usize,
    /// Measurement window, seconds.
    pub duration_s: f64,
    /// Warm-up, seconds.
    pub warmup_s: f64,
    /// Open-model rate as a fraction of the closed-model peak.
    pub rate_fraction: f64,
    /// The busy share of all CPUs below which the machine counted as quiet before each run;
    /// absent when the bench did not wait.
    pub settle_below: Option<f64>,
    /// Server under test.
    pub base_url: String,
    /// Floor server, when one was used.
    pub floor_url: Option<String>,
    /// Server process whose memory was sampled (`--server-pid`).
    pub server_pid: Option<u32>,
    /// Floor process started by the bench (its memory is reported for the floor scenarios).
    pub floor_pid: Option<u32>,
    /// Bench version.
    pub bench_version: String,
    /// One Argon2id hash's cost, measured when `register` or `login` ran.
    pub argon2: Option<crate::argon2_cost::Argon2Cost>,
}

/// Everything written to the JSON file.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Run facts.
    pub meta: Meta,
    /// One row per scenario and model, then the wrk cross-checks.
    pub results: Vec<Row>,
    /// Scenarios that did not run.
    pub skipped: Vec<Skipped>,
}

/// Sets `ratio_to_floor` on every closed-model row whose floor has a closed-model row.
pub fn apply_ratios(rows: &mut [Row]) {
    let floors: BTreeMap<String, f64> = rows
        .iter()
        .filter(|r| r.model == "closed" && r.floor.is_none())
        .map(|r| (r.scenario.clone(), r.rps))
        .collect();
    for row in rows.iter_mut().filter(|r| r.model == "closed") {
        row.ratio_to_floor = row
            .floor
            .as_ref()
            .and_then(|f| floors.get(f))
            .filter(|rps| **rps > 0.0)
            .map(|rps| row.rps / rps);
    }
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into())
}

/// The results as a fixed-width text table (latencies in ms with 2 decimals).
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:<6} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7} {:>11}",
        "scenario",
        "model",
        "req/s",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
        "errors",
        "ratio",
        "MB rss/anon"
    );
    for r in rows {
        let ratio = r
            .ratio_to_floor
            .map(|x| format!("{x:.2}"))
            .unwrap_or_else(|| "-".into());
        let memory = r
            .server_memory
            .map(|m| format!("{}/{}", m.rss_peak_kb / 1024, m.anon_peak_kb / 1024))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<18} {:<6} {:>10.1} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7} {:>11}",
            r.scenario,
            r.model,
            r.rps,
            ms(r.latency.p50_ms),
            ms(r.latency.p90_ms),
            ms(r.latency.p99_ms),
            ms(r.latency.p999_ms),
            ms(r.latency.max_ms),
            r.errors,
            ratio,
            memory
        );
    }
    let _ = writeln!(
        out,
        "(latencies in ms; ratio = closed-model req/s / the floor's: cached reads vs floor-redis, the rest vs floor-pg;\n MB = the server's peak resident memory during the run / of it anonymous, i.e. without mapped files)"
    );
    out
}

/// Writes `bench-<unix>.json`, `latest.json` and `latest.svg` into `dir`; returns the paths.
pub fn write_files(dir: &Path, report: &Report) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::to_string_pretty(report)?;
    let stamped = dir.join(format!("bench-{}.json", report.meta.unix_time));
    let latest = dir.join("latest.json");
    let chart = dir.join("latest.svg");
    for (path, text) in [
        (&stamped, json.as_str()),
        (&latest, json.as_str()),
        (&chart, svg(&report.results).as_str()),
    ] {
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(vec![stamped, latest, chart])
}

const COLORS: [&str; 4] = ["#4e79a7", "#59a14f", "#f28e2b", "#e15759"];

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The decades `[10^a, 10^b]` that cover every value (ms), at least one decade wide.
fn decades(values: impl Iterator<Item = f64>) -> (i32, i32) {
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for v in values.filter(|v| *v > 0.0) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (-1, 1);
    }
    let a = lo.log10().floor() as i32;
    let b = (hi.log10().ceil() as i32).max(a + 1);
    (a, b)
}

/// Vertical position of `v` on a log axis from `10^a` (at `bottom`) to `10^b` (at `top`).
fn log_y(v: f64, (a, b): (i32, i32), top: f64, bottom: f64) -> f64 {
    let lv = v.max(10f64.powi(a)).log10();
    bottom - (lv - a as f64) / (b - a) as f64 * (bottom - top)
}

/// A grouped bar chart of p50/p90/p99/p99.9 per scenario and model, log-scale y axis.
pub fn svg(rows: &[Row]) -> String {
    let rows: Vec<&Row> = rows.iter().filter(|r| r.latency.p50_ms.is_some()).collect();
    let (left, top, bottom) = (70.0, 50.0, 380.0);
    let bar = 11.0;
    let group = bar * 4.0 + 14.0;
    let width = (left + 20.0 + group * rows.len().max(1) as f64).max(640.0);
    let height = 520.0;
    let range = decades(
        rows.iter()
            .flat_map(|r| r.latency.charted().map(|(_, v)| v.unwrap_or(0.0))),
    );

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{left}" y="20" font-size="15">TechHub bench: latency percentiles (ms, log scale)</text>"#
    );
    for d in range.0..=range.1 {
        let v = 10f64.powi(d);
        let y = log_y(v, range, top, bottom);
        let label = if d < 0 {
            format!("{v:.*}", (-d) as usize)
        } else {
            format!("{v:.0}")
        };
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ccc"/><text x="{:.1}" y="{:.1}" text-anchor="end">{label} ms</text>"##,
            width - 10.0,
            left - 6.0,
            y + 4.0
        );
        if d < range.1 {
            for minor in [2.0, 5.0] {
                let y = log_y(v * minor, range, top, bottom);
                let _ = writeln!(
                    s,
                    r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#eee"/>"##,
                    width - 10.0
                );
            }
        }
    }
    let _ = writeln!(
        s,
        r##"<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#333"/><line x1="{left}" y1="{bottom}" x2="{:.1}" y2="{bottom}" stroke="#333"/>"##,
        width - 10.0
    );
    for (i, row) in rows.iter().enumerate() {
        let x0 = left + 8.0 + group * i as f64;
        for (j, (name, v)) in row.latency.charted().into_iter().enumerate() {
            let Some(v) = v else { continue };
            let y = log_y(v, range, top, bottom);
            let _ = writeln!(
                s,
                r#"<rect x="{:.1}" y="{y:.1}" width="{bar}" height="{:.1}" fill="{}"><title>{} {} {name}: {v:.2} ms</title></rect>"#,
                x0 + bar * j as f64,
                bottom - y,
                COLORS[j],
                xml_escape(&row.scenario),
                row.model,
            );
        }
        let lx = x0 + bar * 2.0;
        let _ = writeln!(
            s,
            r#"<text x="{lx:.1}" y="{:.1}" text-anchor="end" transform="rotate(-50 {lx:.1} {:.1})">{} ({})</text>"#,
            bottom + 14.0,
            bottom + 14.0,
            xml_escape(&row.scenario),
            row.model
        );
    }
    for (j, name) in ["p50", "p90", "p99", "p99.9"].iter().enumerate() {
        let x = left + 62.0 * j as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{x:.1}" y="29" width="10" height="10" fill="{}"/><text x="{:.1}" y="38">{name}</text>"#,
            COLORS[j],
            x + 14.0
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scenario: &str, model: &str, rps: f64, floor: Option<&str>) -> Row {
        Row {
            scenario: scenario.into(),
            model: model.into(),
            connections: 64,
            duration_s: 10.0,
            target_rps: None,
            requests: (rps * 10.0) as u64,
            rps,
            latency: Percentiles {
                p50_ms: Some(1.0),
                p90_ms: Some(2.5),
                p99_ms: Some(10.0),
                p999_ms: Some(40.0),
                max_ms: Some(123.456),
            },
            errors: 0,
            statuses: BTreeMap::new(),
            cache_hits: 0,
            cache_misses: 0,
            late: 0,
            missed: 0,
            floor: floor.map(Into::into),
            ratio_to_floor: None,
            server_memory: None,
            settled_s: None,
            per_second: Vec::new(),
        }
    }

    #[test]
    fn percentiles_come_from_the_histogram_in_ms() {
        let mut h = crate::load::new_histogram();
        for us in 1..=1000u64 {
            h.record(us * 10).unwrap(); // 10 µs .. 10 ms, uniform
        }
        let p = Percentiles::from_hist(&h);
        let close = |got: Option<f64>, want: f64| (got.unwrap() - want).abs() / want < 0.01;
        assert!(close(p.p50_ms, 5.0), "{p:?}");
        assert!(close(p.p90_ms, 9.0), "{p:?}");
        assert!(close(p.p99_ms, 9.9), "{p:?}");
        assert!(close(p.max_ms, 10.0), "{p:?}");
        assert_eq!(
            Percentiles::from_hist(&crate::load::new_histogram()),
            Percentiles::default()
        );
    }

    #[test]
    fn ratios_divide_closed_rps_by_the_matching_floor() {
        let mut rows = vec![
            row("floor-redis", "closed", 20_000.0, None),
            row("floor-pg", "closed", 8_000.0, None),
            row("article-by-slug", "closed", 5_000.0, Some("floor-redis")),
            row("article-by-slug", "open", 3_500.0, Some("floor-redis")),
            row("search", "closed", 2_000.0, Some("floor-pg")),
            row("feed", "closed", 100.0, Some("floor-missing")),
        ];
        apply_ratios(&mut rows);
        assert_eq!(rows[0].ratio_to_floor, None);
        assert_eq!(rows[2].ratio_to_floor, Some(0.25));
        assert_eq!(rows[3].ratio_to_floor, None);
        assert_eq!(rows[4].ratio_to_floor, Some(0.25));
        assert_eq!(rows[5].ratio_to_floor, None);
    }

    #[test]
    fn table_shows_two_decimals_and_dashes() {
        let mut rows = vec![
            row("floor-pg", "closed", 8_000.0, None),
            row("search", "closed", 2_000.0, Some("floor-pg")),
        ];
        rows[1].latency.p999_ms = None;
        rows[1].server_memory = Some(Memory {
            pid: 1,
            rss_before_kb: 0,
            rss_after_kb: 0,
            rss_peak_kb: 400 * 1024,
            hwm_after_kb: 0,
            anon_peak_kb: 150 * 1024,
        });
        apply_ratios(&mut rows);
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("scenario"));
        assert!(lines[0].trim_end().ends_with("MB rss/anon"), "{}", lines[0]);
        let search = lines[2];
        assert!(search.starts_with("search "), "{search}");
        assert!(search.contains(" 2000.0 "), "{search}");
        assert!(search.contains(" 123.46 "), "{search}");
        assert!(search.contains(" 2.50 "), "{search}");
        assert!(search.contains(" - "), "{search}");
        assert!(search.trim_end().ends_with(" 0.25     400/150"), "{search}");
        assert!(
            lines[1].trim_end().ends_with("-           -"),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn log_axis_covers_whole_decades_and_orders_bars() {
        assert_eq!(decades([0.35, 12.0].into_iter()), (-1, 2));
        assert_eq!(decades([1.0].into_iter()), (0, 1));
        let r = (-1, 2);
        assert_eq!(log_y(0.1, r, 0.0, 300.0), 300.0);
        assert_eq!(log_y(100.0, r, 0.0, 300.0), 0.0);
        assert!((log_y(1.0, r, 0.0, 300.0) - 200.0).abs() < 1e-9);
        // Values under the axis sit on it instead of going off the chart.
        assert_eq!(log_y(0.001, r, 0.0, 300.0), 300.0);
    }

    #[test]
    fn svg_has_one_bar_per_percentile_and_escapes_names() {
        let rows = vec![
            row("floor-redis", "closed", 1.0, None),
            row("a<b", "open", 1.0, None),
        ];
        let s = svg(&rows);
        assert!(s.starts_with("<svg"));
        assert!(s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<title>").count(), 8);
        assert!(s.contains("a&lt;b (open)"));
        assert!(!s.contains("a<b"));
    }
}
