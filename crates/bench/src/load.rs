//! The load generator: one HTTP/1.1 keep-alive connection per virtual user (raw
//! `hyper::client::conn::http1`, the cheapest client there is), driven in one of two models.
//!
//! * **Closed**: every virtual user sends its next request as soon as the previous one
//!   answered. The completions counted inside the measurement window give peak requests/s.
//! * **Open**: requests are due at fixed intervals (`1 / rate`) whatever the answers. A free
//!   connection takes the next due slot (sleeping until it is due); when no connection is free
//!   in time the slot waits, and its latency is counted from the slot's *intended* send time,
//!   so a slow server cannot hide its queueing (no coordinated omission). The timer's wake-up
//!   lag (tokio's timer ticks every millisecond) is not counted when a connection was idle and
//!   waiting for the slot.
//!
//! Latencies go into an HDR histogram in microseconds.
//!
//! (About 640 lines with the unit tests: both models share the worker statistics and the
//! connection handling, so they stay together.)

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How long one request may take before it counts as an error and its connection is replaced.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an open-model run may go on past its end to finish slots that were already due.
const OPEN_GRACE: Duration = Duration::from_secs(5);

/// How many failed requests (per process) are printed to stderr.
const PRINTED_ERRORS: usize = 5;

/// Where requests go: the socket address and the `Host` header.
#[derive(Clone, Debug)]
pub struct Target {
    /// Resolved address of the server.
    pub addr: SocketAddr,
    /// Value of the `Host` header (`host:port`).
    pub host: HeaderValue,
    /// The base URL as given, without a trailing slash (for messages and wrk).
    pub base: String,
}

impl Target {
    /// Parses an `http://host[:port]` base URL (no path) and resolves the host.
    pub async fn parse(base: &str) -> Result<Target> {
        let base = base.trim_end_matches('/');
        let rest = base
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("{base}: only http:// base URLs are supported"))?;
        if rest.contains('/') {
            bail!("{base}: the base URL must not have a path");
        }
        let authority = if rest.contains(':') && !rest.ends_with(']') {
            rest.to_string()
        } else {
            format!("{rest}:80")
        };
        let addr = tokio::net::lookup_host(&authority)
            .await
            .with_context(|| format!("resolving {authority}"))?
            .next()
            .ok_or_else(|| anyhow!("{authority} resolves to no address"))?;
        Ok(Target {
            addr,
            host: HeaderValue::from_str(rest)?,
            base: base.to_string(),
        })
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

/// One request to send.
#[derive(Clone, Debug)]
pub struct Req {
    /// HTTP method.
    pub method: Method,
    /// Path and query, starting with `/`.
    pub path: String,
    /// JSON body, if any.
    pub body: Option<Bytes>,
    /// Complete `Authorization` header value (`Token <jwt>`), if any.
    pub auth: Option<HeaderValue>,
}

impl Req {
    /// A `GET` without body.
    pub fn get(path: String, auth: Option<HeaderValue>) -> Req {
        Req {
            method: Method::GET,
            path,
            body: None,
            auth,
        }
    }

    /// A request with a JSON body.
    pub fn json(method: Method, path: String, body: Bytes, auth: Option<HeaderValue>) -> Req {
        Req {
            method,
            path,
            body: Some(body),
            auth,
        }
    }
}

/// Per-virtual-user state handed to [`Workload::next`].
pub struct Vu {
    /// The user's own random number generator.
    pub rng: SmallRng,
    /// A favorite this user added and must remove next (`DELETE` path and token).
    pub unfavorite: Option<(String, HeaderValue)>,
}

impl Vu {
    fn new(id: usize, seed: u64) -> Vu {
        Vu {
            rng: SmallRng::seed_from_u64(seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            unfavorite: None,
        }
    }
}

/// Produces the requests of one scenario.
pub trait Workload: Send + Sync {
    /// The next request for virtual user `vu`.
    fn next(&self, vu: &mut Vu) -> Req;
}

/// How requests are paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Model {
    /// Each connection sends as soon as its previous request answered.
    Closed,
    /// Requests are due at a fixed rate (requests/s), spread over the connections.
    Open {
        /// Arrival rate in requests per second.
        rate: f64,
    },
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Scenario name, for messages.
    pub name: String,
    /// Number of connections (virtual users).
    pub connections: usize,
    /// Time before measuring starts.
    pub warmup: Duration,
    /// Measurement window.
    pub duration: Duration,
    /// Pacing.
    pub model: Model,
    /// Seed of the virtual users' random number generators.
    pub seed: u64,
}

/// The figures of one run.
#[derive(Debug)]
pub struct Measured {
    /// Latencies of the requests completed in the window, microseconds.
    pub hist: Histogram<u64>,
    /// Requests completed (any outcome) in the window.
    pub requests: u64,
    /// Non-2xx answers and I/O errors or timeouts in the window.
    pub errors: u64,
    /// Count per HTTP status (`"200"`), plus `"io"` and `"timeout"`.
    pub statuses: BTreeMap<String, u64>,
    /// Answers with `X-Cache: hit` / `miss` in the window.
    pub cache_hits: u64,
    /// See `cache_hits`.
    pub cache_misses: u64,
    /// Open model: slots started more than 1 ms after they were due because no connection was
    /// free.
    pub late: u64,
    /// Open model: slots due in the window that were never completed before the grace period
    /// ran out.
    pub missed: u64,
    /// Length of the measurement window.
    pub window: Duration,
    /// The window second by second, by when each request was due (open model) or sent
    /// (closed): a p99 from one stall and one from a backlog that built up look alike in
    /// the window's figures and not here.
    pub per_second: Vec<Histogram<u64>>,
}

impl Measured {
    /// Completed requests per second in the window.
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.window.as_secs_f64()
    }
}

/// Shared counter that limits how many failures get printed.
static PRINTED: AtomicUsize = AtomicUsize::new(0);

struct WorkerStats {
    hist: Histogram<u64>,
    requests: u64,
    errors: u64,
    statuses: BTreeMap<String, u64>,
    cache_hits: u64,
    cache_misses: u64,
    late: u64,
    /// [`Measured::per_second`].
    per_second: Vec<Histogram<u64>>,
}

impl WorkerStats {
    fn new() -> WorkerStats {
        WorkerStats {
            hist: new_histogram(),
            requests: 0,
            errors: 0,
            statuses: BTreeMap::new(),
            cache_hits: 0,
            cache_misses: 0,
            late: 0,
            per_second: Vec::new(),
        }
    }

    /// Records one request, timed `latency`, that was due (or sent) `since` after the window
    /// opened.
    fn record(&mut self, outcome: &Outcome, latency: Duration, since: Duration) {
        let second = since.as_secs() as usize;
        if self.per_second.len() <= second {
            self.per_second.resize_with(second + 1, second_histogram);
        }
        self.per_second[second].saturating_record(micros(latency));
        self.requests += 1;
        let key = match outcome {
            Outcome::Answer { status, cache, .. } => {
                match cache {
                    Some(CacheState::Hit) => self.cache_hits += 1,
                    Some(CacheState::Miss) => self.cache_misses += 1,
                    None => {}
                }
                if !(200..300).contains(status) {
                    self.errors += 1;
                }
                status.to_string()
            }
            Outcome::Io(_) => {
                self.errors += 1;
                "io".to_string()
            }
            Outcome::Timeout => {
                self.errors += 1;
                "timeout".to_string()
            }
        };
        *self.statuses.entry(key).or_default() += 1;
        self.hist.saturating_record(micros(latency));
    }

    /// Adds `other`'s figures to these.
    fn add(&mut self, other: WorkerStats) -> Result<()> {
        self.hist.add(&other.hist).context("merging histograms")?;
        if self.per_second.len() < other.per_second.len() {
            self.per_second
                .resize_with(other.per_second.len(), second_histogram);
        }
        for (mine, theirs) in self.per_second.iter_mut().zip(&other.per_second) {
            mine.add(theirs).context("merging histograms")?;
        }
        self.requests += other.requests;
        self.errors += other.errors;
        self.cache_hits += other.cache_hits;
        self.cache_misses += other.cache_misses;
        self.late += other.late;
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        Ok(())
    }
}

fn micros(latency: Duration) -> u64 {
    latency.as_micros().clamp(1, u64::MAX as u128) as u64
}

/// A histogram for 1 µs .. 1 h at 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// A smaller one for one second of a run (2 significant digits: 1 % is plenty there).
fn second_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid histogram bounds")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum CacheState {
    Hit,
    Miss,
}

enum Outcome {
    Answer {
        status: u16,
        cache: Option<CacheState>,
        body: Bytes,
    },
    Io(String),
    Timeout,
}

impl Outcome {
    fn is_io(&self) -> bool {
        !matches!(self, Outcome::Answer { .. })
    }
}

type Sender = SendRequest<Full<Bytes>>;

/// Opens one keep-alive HTTP/1.1 connection.
async fn connect(target: &Target) -> Result<Sender> {
    let stream = TcpStream::connect(target.addr)
        .await
        .with_context(|| format!("connecting to {}", target.addr))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Keeps trying to connect until `until`; `None` when it could not.
async fn reconnect(target: &Target, until: Instant) -> Option<Sender> {
    loop {
        if let Ok(s) = connect(target).await {
            return Some(s);
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn send(sender: &mut Sender, target: &Target, req: &Req) -> Outcome {
    match send_inner(sender, target, req).await {
        Ok(o) => o,
        Err(e) => Outcome::Io(format!("{e:#}")),
    }
}

async fn send_inner(sender: &mut Sender, target: &Target, req: &Req) -> Result<Outcome> {
    sender.ready().await?;
    let mut builder = Request::builder()
        .method(req.method.clone())
        .uri(req.path.as_str())
        .header(HOST, target.host.clone());
    if let Some(auth) = &req.auth {
        builder = builder.header(AUTHORIZATION, auth.clone());
    }
    let body = match &req.body {
        Some(b) => {
            builder = builder.header(CONTENT_TYPE, "application/json");
            Full::new(b.clone())
        }
        None => Full::new(Bytes::new()),
    };
    let resp = sender.send_request(builder.body(body)?).await?;
    let status = resp.status().as_u16();
    let cache = match resp.headers().get("x-cache").map(|v| v.as_bytes()) {
        Some(b"hit") => Some(CacheState::Hit),
        Some(b"miss") => Some(CacheState::Miss),
        _ => None,
    };
    let body = resp.into_body().collect().await?.to_bytes();
    Ok(Outcome::Answer {
        status,
        cache,
        body,
    })
}

/// Prints the first few failures of the process to stderr.
fn report_failure(name: &str, req: &Req, outcome: &Outcome) {
    let failed = match outcome {
        Outcome::Answer { status, .. } => !(200..300).contains(status),
        _ => true,
    };
    if !failed || PRINTED.fetch_add(1, Ordering::Relaxed) >= PRINTED_ERRORS {
        return;
    }
    let what = match outcome {
        Outcome::Answer { status, body, .. } => {
            let text = String::from_utf8_lossy(body);
            let short: String = text.chars().take(300).collect();
            format!("HTTP {status}: {short}")
        }
        Outcome::Io(e) => format!("I/O error: {e}"),
        Outcome::Timeout => format!("no answer within {REQUEST_TIMEOUT:?}"),
    };
    eprintln!("[bench] {name}: {} {} failed: {what}", req.method, req.path);
}

/// Runs `plan` against `target` and returns the figures of the measurement window.
pub async fn run(target: &Target, workload: Arc<dyn Workload>, plan: &Plan) -> Result<Measured> {
    if plan.connections == 0 {
        bail!("at least one connection is needed");
    }
    // Open every connection before the clock starts.
    let senders = futures::future::try_join_all((0..plan.connections).map(|_| connect(target)))
        .await
        .with_context(|| format!("opening {} connections", plan.connections))?;

    let start = Instant::now();
    let warm_end = start + plan.warmup;
    let end = warm_end + plan.duration;
    // The open model's schedule, shared by every worker (one ticket counter hands out slots).
    let slots = match plan.model {
        Model::Closed => None,
        Model::Open { rate } => Some(OpenSlots {
            start,
            warm_end,
            end,
            rate,
            ticket: Arc::new(AtomicU64::new(0)),
        }),
    };

    let mut tasks = Vec::with_capacity(plan.connections);
    for (id, sender) in senders.into_iter().enumerate() {
        let target = target.clone();
        let workload = workload.clone();
        let name = plan.name.clone();
        let vu = Vu::new(id, plan.seed);
        let task = match &slots {
            None => tokio::spawn(closed_worker(
                target, workload, name, vu, sender, warm_end, end,
            )),
            Some(slots) => tokio::spawn(open_worker(
                target,
                workload,
                name,
                vu,
                sender,
                slots.clone(),
            )),
        };
        tasks.push(task);
    }

    let mut total = WorkerStats::new();
    for task in tasks {
        total.add(task.await.context("a load worker panicked")?)?;
    }
    let missed = match &slots {
        None => 0,
        Some(slots) => {
            let due = slots.first_at_or_after(end) - slots.first_at_or_after(warm_end);
            due.saturating_sub(total.requests)
        }
    };
    Ok(Measured {
        hist: total.hist,
        requests: total.requests,
        errors: total.errors,
        statuses: total.statuses,
        cache_hits: total.cache_hits,
        cache_misses: total.cache_misses,
        late: total.late,
        missed,
        window: plan.duration,
        per_second: total.per_second,
    })
}

async fn closed_worker(
    target: Target,
    workload: Arc<dyn Workload>,
    name: String,
    mut vu: Vu,
    sender: Sender,
    warm_end: Instant,
    end: Instant,
) -> WorkerStats {
    let mut stats = WorkerStats::new();
    let mut sender = Some(sender);
    loop {
        if Instant::now() >= end {
            break;
        }
        // A connection the server closed (keep-alive ended) is replaced without counting an
        // error; one that fails mid-request counts as an I/O error.
        if sender.as_ref().is_none_or(|s| s.is_closed()) {
            sender = reconnect(&target, end).await;
        }
        let Some(conn) = sender.as_mut() else { break };
        let req = workload.next(&mut vu);
        let t0 = Instant::now();
        // Requests still in flight at the end are dropped, not counted.
        let deadline = (t0 + REQUEST_TIMEOUT).min(end);
        let outcome = match tokio::time::timeout_at(deadline, send(conn, &target, &req)).await {
            Ok(o) => o,
            Err(_) if Instant::now() >= end => break,
            Err(_) => Outcome::Timeout,
        };
        let done = Instant::now();
        if outcome.is_io() {
            sender = None;
        }
        if done >= warm_end && done < end {
            report_failure(&name, &req, &outcome);
            stats.record(&outcome, done - t0, t0.saturating_duration_since(warm_end));
        }
    }
    stats
}

#[derive(Clone)]
struct OpenSlots {
    start: Instant,
    warm_end: Instant,
    end: Instant,
    rate: f64,
    ticket: Arc<AtomicU64>,
}

impl OpenSlots {
    fn due(&self, k: u64) -> Instant {
        self.start + Duration::from_secs_f64(k as f64 / self.rate)
    }

    /// The first slot due at or after `t`.
    fn first_at_or_after(&self, t: Instant) -> u64 {
        let guess = ((t - self.start).as_secs_f64() * self.rate).ceil() as u64;
        let mut k = guess.saturating_sub(2);
        while self.due(k) < t {
            k += 1;
        }
        k
    }
}

async fn open_worker(
    target: Target,
    workload: Arc<dyn Workload>,
    name: String,
    mut vu: Vu,
    sender: Sender,
    slots: OpenSlots,
) -> WorkerStats {
    let mut stats = WorkerStats::new();
    let mut sender = Some(sender);
    let hard_end = slots.end + OPEN_GRACE;
    loop {
        let due = slots.due(slots.ticket.fetch_add(1, Ordering::Relaxed));
        if due >= slots.end {
            break;
        }
        let taken = Instant::now();
        if taken >= hard_end {
            break;
        }
        if due > taken {
            tokio::time::sleep_until(due).await;
        }
        // A connection the server closed (keep-alive ended) is replaced without counting an
        // error; one that fails mid-request counts as an I/O error.
        if sender.as_ref().is_none_or(|s| s.is_closed()) {
            sender = reconnect(&target, hard_end).await;
        }
        let Some(conn) = sender.as_mut() else { break };
        let req = workload.next(&mut vu);
        let sent = Instant::now();
        // An idle connection that waited for the slot starts the clock when it really sends
        // (the timer's lag is ours, not the server's); a slot that found no free connection in
        // time is timed from when it was due.
        let from = if taken > due { due } else { sent };
        let deadline = (sent + REQUEST_TIMEOUT).min(hard_end);
        let outcome = match tokio::time::timeout_at(deadline, send(conn, &target, &req)).await {
            Ok(o) => o,
            Err(_) => Outcome::Timeout,
        };
        let done = Instant::now();
        if outcome.is_io() {
            sender = None;
        }
        if due >= slots.warm_end {
            if taken > due + Duration::from_millis(1) {
                stats.late += 1;
            }
            report_failure(&name, &req, &outcome);
            stats.record(&outcome, done - from, due - slots.warm_end);
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn target_parsing_adds_the_default_port_and_rejects_paths() {
        let t = Target::parse("http://127.0.0.1:8080/").await.unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(t.host, "127.0.0.1:8080");
        assert_eq!(t.url("/api/tags"), "http://127.0.0.1:8080/api/tags");
        let t = Target::parse("http://127.0.0.1").await.unwrap();
        assert_eq!(t.addr.port(), 80);
        assert!(Target::parse("https://127.0.0.1").await.is_err());
        assert!(Target::parse("http://127.0.0.1:80/api").await.is_err());
    }

    #[test]
    fn open_slots_are_evenly_spaced() {
        let start = Instant::now();
        let slots = OpenSlots {
            start,
            warm_end: start,
            end: start + Duration::from_secs(1),
            rate: 400.0,
            ticket: Arc::new(AtomicU64::new(0)),
        };
        assert_eq!(slots.due(0), start);
        assert_eq!(slots.due(4) - slots.due(3), Duration::from_micros(2500));
        assert_eq!(slots.due(400) - start, Duration::from_secs(1));
        // Slots 400..800 are due in [1 s, 2 s).
        let one = start + Duration::from_secs(1);
        assert_eq!(slots.first_at_or_after(one), 400);
        assert_eq!(slots.first_at_or_after(one + Duration::from_nanos(1)), 401);
        assert_eq!(slots.first_at_or_after(start + Duration::from_secs(2)), 800);
        assert_eq!(slots.first_at_or_after(start), 0);
    }

    #[test]
    fn stats_count_non_2xx_and_io_as_errors_and_read_x_cache() {
        let mut s = WorkerStats::new();
        let ok = Outcome::Answer {
            status: 200,
            cache: Some(CacheState::Hit),
            body: Bytes::new(),
        };
        let missing = Outcome::Answer {
            status: 404,
            cache: Some(CacheState::Miss),
            body: Bytes::new(),
        };
        let second = Duration::from_secs(1);
        s.record(&ok, Duration::from_micros(500), Duration::ZERO);
        s.record(&missing, Duration::from_micros(700), second * 2);
        s.record(
            &Outcome::Io("reset".into()),
            Duration::from_millis(2),
            second * 2,
        );
        s.record(&Outcome::Timeout, Duration::from_secs(10), second * 5 / 2);
        assert_eq!(s.requests, 4);
        assert_eq!(s.errors, 3);
        assert_eq!((s.cache_hits, s.cache_misses), (1, 1));
        assert_eq!(s.statuses["200"], 1);
        assert_eq!(s.statuses["io"], 1);
        assert_eq!(s.statuses["timeout"], 1);
        assert_eq!(s.hist.len(), 4);
        // Second by second: one in the first, none in the second, three in the third.
        let counts: Vec<u64> = s.per_second.iter().map(|h| h.len()).collect();
        assert_eq!(counts, [1, 0, 3]);
        assert_eq!(
            s.per_second[2].max(),
            s.per_second[2].highest_equivalent(10_000_000)
        );
        let mut other = WorkerStats::new();
        other.record(&ok, Duration::from_millis(40), second * 4);
        s.add(other).unwrap();
        let counts: Vec<u64> = s.per_second.iter().map(|h| h.len()).collect();
        assert_eq!(counts, [1, 0, 3, 0, 1]);
        assert_eq!(s.requests, 5);
    }
}
