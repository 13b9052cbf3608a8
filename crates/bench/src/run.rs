//! `techhub-bench run`: start the floor, discover, run every scenario closed then open, add
//! wrk cross-checks, and write the reports.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use crate::argon2_cost;
use crate::client::Api;
use crate::discovery::{self, SetupOptions};
use crate::floor::FloorProcess;
use crate::load::{self, Model, Plan, Target};
use crate::memory::Sampler;
use crate::report::{self, Meta, Report, Row, Skipped};
use crate::scenarios::{self, encode, Scenario, ScenarioLoad, World};
use crate::settle;
use crate::wrk;
use crate::RunArgs;

/// Runs the benchmark described by `args`.
pub async fn run(args: RunArgs) -> Result<()> {
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if !(args.rate_fraction > 0.0 && args.rate_fraction <= 10.0) {
        bail!("--rate-fraction must be in (0, 10]");
    }
    if !(0.0..1.0).contains(&args.settle_below) {
        bail!("--settle-below must be in [0, 1): a share of all CPUs");
    }
    if args.open_rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        bail!("--open-rate must be above 0");
    }
    if !(0.0..=10.0).contains(&args.slug_skew) {
        bail!("--slug-skew must be in [0, 10]");
    }
    if args.duration.is_zero() {
        bail!("--duration must be longer than 0");
    }
    let selected =
        scenarios::select(&args.scenarios, !args.no_floor).map_err(anyhow::Error::msg)?;
    if selected.is_empty() {
        bail!("no scenario left to run (only floor scenarios were chosen, with --no-floor)");
    }

    if selected.iter().any(|s| !s.is_floor()) {
        // Fail before starting the floor when the server under test is not there.
        Api::new(&args.base_url)
            .get("/api/tags", None)
            .await
            .with_context(|| {
                format!(
                    "no server answers at {} (start TechHub or pass --base-url)",
                    args.base_url
                )
            })?;
    }

    let mut floor = None;
    let floor_target = if selected.iter().any(|s| s.is_floor()) {
        let base = match &args.floor_url {
            Some(url) => url.clone(),
            None => {
                eprintln!("[bench] starting the floor server");
                let process = FloorProcess::spawn().await?;
                eprintln!("[bench] floor at {} (pid {})", process.base, process.pid);
                let base = process.base.clone();
                floor = Some(process);
                base
            }
        };
        Some(Target::parse(&base).await?)
    } else {
        None
    };
    let floor_pid = floor.as_ref().map(|f| f.pid);

    let outcome = run_all(&args, &selected, floor_target, floor_pid).await;
    if let Some(process) = floor {
        process.stop().await;
    }
    outcome
}

async fn run_all(
    args: &RunArgs,
    selected: &[Scenario],
    floor_target: Option<Target>,
    floor_pid: Option<u32>,
) -> Result<()> {
    let unix_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let run_id = scenarios::run_id(unix_time);

    let needs_server = selected.iter().any(|s| !s.is_floor());
    let target = if needs_server {
        Some(Target::parse(&args.base_url).await?)
    } else {
        None
    };
    let api = Api::new(&args.base_url);
    let world = if needs_server {
        let setup = SetupOptions {
            tokens: args.tokens,
            seeded_users: args.seeded_users,
            mint: !args.no_mint,
            unix_secs: unix_time,
            lists: !args.discover_by_search,
        };
        discovery::discover(&api, selected, &setup, run_id.clone()).await?
    } else {
        World::new(run_id.clone()).finish()
    };
    let world = Arc::new(world.with_slug_skew(args.slug_skew));

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Argon2's cost, timed while the server is idle, for reading register and login.
    let argon2 = if selected
        .iter()
        .any(|s| matches!(s, Scenario::Register | Scenario::Login))
    {
        let cost =
            tokio::task::spawn_blocking(move || argon2_cost::measure(argon2_cost::HASHES, cores))
                .await
                .context("timing argon2")?;
        eprintln!("[bench] {}", cost.line(&[]));
        Some(cost)
    } else {
        None
    };

    let mut rows: Vec<Row> = Vec::new();
    let mut skipped: Vec<Skipped> = Vec::new();
    for (index, &scenario) in selected.iter().enumerate() {
        let name = scenario.name();
        if let Some(reason) = world.unavailable(scenario) {
            let kind = if scenario.techhub_only() {
                " (TechHub-only scenario)"
            } else {
                ""
            };
            eprintln!("[bench] {name}: skipped{kind}: {reason}");
            skipped.push(Skipped {
                scenario: name.into(),
                reason,
            });
            continue;
        }
        let (tgt, pid) = if scenario.is_floor() {
            (
                floor_target
                    .clone()
                    .expect("floor target exists for floor scenarios"),
                floor_pid,
            )
        } else {
            (
                target
                    .clone()
                    .expect("server target exists for server scenarios"),
                args.server_pid,
            )
        };
        let workload: Arc<dyn load::Workload> = Arc::new(ScenarioLoad {
            scenario,
            world: world.clone(),
        });
        let mut plan = Plan {
            name: name.into(),
            connections: args.connections,
            warmup: args.warmup,
            duration: args.duration,
            model: Model::Closed,
            seed: unix_time ^ ((index as u64) << 32),
        };

        eprintln!(
            "[bench] {name} closed {} conns, warmup {} + {} ...",
            args.connections,
            secs(args.warmup),
            secs(args.duration)
        );
        let settled = settle_before(args, name, "closed").await;
        let (closed, memory) = measure(&tgt, workload.clone(), &plan, pid).await?;
        eprintln!("[bench] {name} closed: {}", summary(&closed));
        let peak = closed.rps();
        rows.push(Row {
            settled_s: settled,
            ..Row::measured(scenario, "closed", args.connections, None, &closed, memory)
        });

        if !args.no_open {
            let rate = args.open_rate.unwrap_or(peak * args.rate_fraction);
            if rate < 1.0 {
                eprintln!(
                    "[bench] {name} open: skipped (closed-model peak {peak:.1} req/s is too low)"
                );
            } else {
                plan.model = Model::Open { rate };
                eprintln!(
                    "[bench] {name} open {rate:.0} req/s ({:.0} % of peak) over {} conns, warmup {} + {} ...",
                    rate / peak.max(f64::MIN_POSITIVE) * 100.0,
                    args.connections,
                    secs(args.warmup),
                    secs(args.duration)
                );
                let settled = settle_before(args, name, "open").await;
                let (open, memory) = measure(&tgt, workload.clone(), &plan, pid).await?;
                eprintln!("[bench] {name} open: {}", summary(&open));
                eprintln!(
                    "[bench] {name} open, p99 second by second: {}",
                    by_second(&open)
                );
                if open.late * 10 > open.requests {
                    eprintln!(
                        "[bench] {name} open: {} of {} requests found no free connection within 1 ms of \
                         their due time: the system (server and bench share the cores) did not keep \
                         up with this rate; its latencies include that queueing",
                        open.late, open.requests
                    );
                }
                if open.missed > 0 {
                    eprintln!(
                        "[bench] {name} open: {} requests due in the window never completed (server slower than the rate)",
                        open.missed
                    );
                }
                rows.push(Row {
                    settled_s: settled,
                    ..Row::measured(
                        scenario,
                        "open",
                        args.connections,
                        Some(rate),
                        &open,
                        memory,
                    )
                });
            }
        }
        if scenario == Scenario::DashboardCold {
            if let Some(cold) = &world.cold {
                if cold.wrapped() {
                    eprintln!(
                        "[bench] dashboard-cold: used all {} users; later requests repeated users (cache hits possible)",
                        cold.count()
                    );
                }
            }
        }
        let limited = rows
            .iter()
            .rev()
            .take_while(|r| r.scenario == name)
            .any(|r| r.statuses.contains_key("429"));
        if limited {
            eprintln!(
                "[bench] {name}: the server rate-limited requests (429); start it with \
                 TECHHUB_RATE_LOGIN_ACCOUNT=off TECHHUB_RATE_LOGIN_IP=off \
                 TECHHUB_RATE_REGISTER_IP=off TECHHUB_RATE_WRITES_USER=off to measure the endpoint itself"
            );
        }
    }

    if args.wrk {
        rows.extend(
            wrk_checks(
                args,
                selected,
                floor_target.as_ref(),
                target.as_ref(),
                &world,
            )
            .await,
        );
    }

    report::apply_ratios(&mut rows);
    print!("{}", report::table(&rows));
    if let Some(cost) = &argon2 {
        let reached: Vec<(&str, f64)> = rows
            .iter()
            .filter(|r| r.model == "closed" && (r.scenario == "register" || r.scenario == "login"))
            .map(|r| (r.scenario.as_str(), r.rps))
            .collect();
        println!("{}", cost.line(&reached));
    }

    let report = Report {
        meta: Meta {
            unix_time,
            run_id,
            git_commit: git_commit(),
            cores,
            connections: args.connections,
            duration_s: args.duration.as_secs_f64(),
            warmup_s: args.warmup.as_secs_f64(),
            rate_fraction: args.rate_fraction,
            settle_below: (args.settle_below > 0.0).then_some(args.settle_below),
            base_url: args.base_url.clone(),
            floor_url: floor_target.as_ref().map(|t| t.base.clone()),
            server_pid: args.server_pid,
            floor_pid,
            bench_version: env!("CARGO_PKG_VERSION").into(),
            argon2,
        },
        results: rows,
        skipped,
    };
    let files = report::write_files(&args.out, &report)?;
    for f in files {
        eprintln!("[bench] wrote {}", f.display());
    }
    Ok(())
}

/// Waits for the work the previous run left behind (see [`settle`]) and says how long it
/// took; `None` when the bench does not wait.
async fn settle_before(args: &RunArgs, name: &str, model: &str) -> Option<f64> {
    if args.settle_below <= 0.0 {
        return None;
    }
    let settled =
        settle::settle(args.settle_below, Duration::from_secs(1), args.settle_max).await?;
    let waited = settled.waited.as_secs_f64();
    if settled.quiet {
        eprintln!(
            "[bench] {name} {model}: machine quiet after {waited:.1} s ({:.0} % busy)",
            settled.busy * 100.0
        );
    } else {
        eprintln!(
            "[bench] {name} {model}: machine still {:.0} % busy after {waited:.1} s; measuring anyway",
            settled.busy * 100.0
        );
    }
    Some(waited)
}

/// Runs one plan, sampling the server's memory when its pid is known.
async fn measure(
    target: &Target,
    workload: Arc<dyn load::Workload>,
    plan: &Plan,
    pid: Option<u32>,
) -> Result<(load::Measured, Option<report::Memory>)> {
    let sampler = pid.and_then(Sampler::start);
    let measured = load::run(target, workload, plan).await?;
    let memory = match sampler {
        Some(s) => s.finish().await,
        None => None,
    };
    Ok((measured, memory))
}

async fn wrk_checks(
    args: &RunArgs,
    selected: &[Scenario],
    floor_target: Option<&Target>,
    target: Option<&Target>,
    world: &World,
) -> Vec<Row> {
    if !wrk::available() {
        eprintln!("[bench] --wrk: no wrk on PATH; skipping the cross-check");
        return Vec::new();
    }
    let mut checks = Vec::new();
    if let Some(floor) = floor_target {
        checks.push((Scenario::FloorRedis, floor.url("/redis/1")));
    }
    if let Some(target) = target.filter(|_| selected.contains(&Scenario::ArticleBySlug)) {
        if let Some(slug) = world.slugs.first() {
            checks.push((
                Scenario::ArticleBySlug,
                target.url(&format!("/api/articles/{}", encode(slug))),
            ));
        }
    }
    let mut rows = Vec::new();
    for (scenario, url) in checks {
        eprintln!(
            "[bench] wrk -t2 -c{} -d{} --latency {url}",
            args.connections,
            secs(args.duration)
        );
        match wrk::run(args.connections, args.duration, &url).await {
            Ok(w) => {
                eprintln!("[bench] wrk {}: {:.1} req/s", scenario.name(), w.rps);
                rows.push(Row {
                    scenario: scenario.name().into(),
                    model: "wrk".into(),
                    connections: args.connections,
                    duration_s: args.duration.as_secs_f64(),
                    target_rps: None,
                    requests: w.requests,
                    rps: w.rps,
                    latency: w.latency,
                    errors: w.errors,
                    statuses: Default::default(),
                    cache_hits: 0,
                    cache_misses: 0,
                    late: 0,
                    missed: 0,
                    floor: None,
                    ratio_to_floor: None,
                    server_memory: None,
                    settled_s: None,
                    per_second: Vec::new(),
                });
            }
            Err(e) => eprintln!("[bench] wrk {}: {e:#}", scenario.name()),
        }
    }
    rows
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// The p99 of each second of `m`'s window, in ms.
fn by_second(m: &load::Measured) -> String {
    let seconds = report::Second::all(&m.per_second);
    let p99: Vec<String> = seconds.iter().map(|s| format!("{:.0}", s.p99_ms)).collect();
    format!("{} ms", p99.join(" "))
}

fn summary(m: &load::Measured) -> String {
    let p = report::Percentiles::from_hist(&m.hist);
    let f = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into());
    let mut s = format!(
        "{:.1} req/s, p50 {} ms, p99 {} ms, max {} ms, {} errors",
        m.rps(),
        f(p.p50_ms),
        f(p.p99_ms),
        f(p.max_ms),
        m.errors
    );
    if m.cache_hits + m.cache_misses > 0 {
        s.push_str(&format!(
            ", X-Cache {} hit / {} miss",
            m.cache_hits, m.cache_misses
        ));
    }
    if m.late > 0 {
        s.push_str(&format!(", {} started late", m.late));
    }
    s
}

fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}
