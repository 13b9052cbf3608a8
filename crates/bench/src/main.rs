//! `techhub-bench`: load benchmark for TechHub.
//!
//! * `techhub-bench run`: starts a floor server (this same binary, `floor` subcommand), then
//!   measures each scenario in a closed model (peak requests/s) and an open model (latency at
//!   a fixed fraction of that peak), and writes a table, JSON and an SVG chart.
//! * `techhub-bench floor --port N`: the floor server alone.
//! * `techhub-bench populate`: a small community written through any RealWorld API, to
//!   measure TechHub and another RealWorld server over the same data.

mod argon2_cost;
mod client;
mod discovery;
mod floor;
mod load;
mod memory;
#[cfg(test)]
mod mock_tests;
mod populate;
mod report;
mod run;
mod scenarios;
mod settle;
mod tokens;
mod wrk;
mod zipf;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "techhub-bench", version, about = "Load benchmark for TechHub")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the benchmark.
    Run(RunArgs),
    /// Serve the floor (reference) server: `GET /redis/{id}` and `GET /pg/{id}`.
    Floor(FloorArgs),
    /// Write a community through a RealWorld API (users, articles, favorites, comments, follows).
    Populate(populate::PopulateArgs),
}

/// Options of `techhub-bench run`.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// Server under test.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub base_url: String,
    /// Measurement window of each run (`10s`, `500ms`, `1m`).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Warm-up before each measurement window (not counted).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Concurrent connections (virtual users), one keep-alive connection each.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Comma-separated scenarios (default: all). The floors the chosen ones are compared with
    /// are added unless --no-floor.
    #[arg(long, value_delimiter = ',')]
    pub scenarios: Vec<String>,
    /// Folder for `bench-<unix>.json`, `latest.json` and `latest.svg`.
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// Do not start the floor server (no floor scenarios, no ratios).
    #[arg(long)]
    pub no_floor: bool,
    /// Use a floor server already running at this URL instead of starting one.
    #[arg(long)]
    pub floor_url: Option<String>,
    /// Open-model arrival rate as a fraction of the closed-model peak.
    #[arg(long, default_value_t = 0.7)]
    pub rate_fraction: f64,
    /// Open-model arrival rate in requests/s for every scenario (overrides --rate-fraction).
    #[arg(long)]
    pub open_rate: Option<f64>,
    /// Run only the closed model.
    #[arg(long)]
    pub no_open: bool,
    /// PID of the server under test: its memory (VmRSS, VmHWM) is reported per run.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Number of seeded users (`dev000001`..); probed through profiles when not given.
    #[arg(long)]
    pub seeded_users: Option<u64>,
    /// Tokens to get for authenticated reads.
    #[arg(long, default_value_t = 64)]
    pub tokens: usize,
    /// Never mint tokens with TECHHUB_JWT_SECRET (log in or register instead;
    /// dashboard-cold is then skipped).
    #[arg(long)]
    pub no_mint: bool,
    /// Find articles through `/api/search` only, never through the article lists (for servers
    /// whose lists do not answer at the data set's size).
    #[arg(long)]
    pub discover_by_search: bool,
    /// Zipf exponent of the article each single-article request draws (reads, comments,
    /// favorites): 1.0 sends a few popular articles most requests; 0.0 draws uniformly, which
    /// tells the cost of contention on popular articles from the cost of each request.
    #[arg(long, default_value_t = 1.0)]
    pub slug_skew: f64,
    /// Also run `wrk` (when on PATH) against floor-redis and the most popular article.
    #[arg(long)]
    pub wrk: bool,
    /// Before each run, wait until the machine's CPUs are less than this share busy over one
    /// second (the previous run's background work done); 0 does not wait.
    #[arg(long, default_value_t = 0.15)]
    pub settle_below: f64,
    /// The longest wait for the machine to go quiet before a run.
    #[arg(long, default_value = "90s", value_parser = parse_duration)]
    pub settle_max: Duration,
}

#[derive(Args)]
struct FloorArgs {
    /// Port to listen on (127.0.0.1).
    #[arg(long)]
    port: u16,
}

/// Parses `10s`, `500ms`, `2m`, `1.5s` or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a duration such as 10s, 500ms or 2m"))?;
    let secs = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        other => return Err(format!("{s:?}: unknown unit {other:?} (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

/// The same allocator as the `techhub` binary, so the floor server (this binary) and TechHub
/// differ in what they do per request, not in their malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Run(args) => runtime.block_on(run::run(args)),
        Command::Floor(args) => runtime.block_on(floor::serve(args.port)),
        Command::Populate(args) => runtime.block_on(populate::populate(&args)).map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("10h").is_err());
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn cli_accepts_the_documented_options() {
        let cli = Cli::try_parse_from([
            "techhub-bench",
            "run",
            "--duration",
            "3s",
            "--warmup",
            "1s",
            "--scenarios",
            "floor-redis,search",
            "--no-floor",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("expected run")
        };
        assert_eq!(args.duration, Duration::from_secs(3));
        assert_eq!(args.scenarios, vec!["floor-redis", "search"]);
        assert!(args.no_floor);
        assert_eq!(args.connections, 64);
        assert_eq!(args.rate_fraction, 0.7);
        assert_eq!(args.settle_below, 0.15);
        assert_eq!(args.settle_max, Duration::from_secs(90));
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
