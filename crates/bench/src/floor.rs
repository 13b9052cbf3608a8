//! The floor: a minimal axum server that does the least a TechHub read can do, so TechHub's
//! throughput can be read as a fraction of it.
//!
//! * `GET /redis/{id}`: one Redis `GET bench:floor:<id>`, the value is the body.
//! * `GET /pg/{id}`: one primary-key `SELECT payload FROM bench_floor WHERE id = $1` in the
//!   database `techhub_bench_floor`, the payload is the body.
//!
//! Stores, pool sizes and pool settings come from TechHub's own configuration
//! (`techhub_core::Config::from_env()`, i.e. the `TECHHUB_*` variables), so the floor pays the
//! same connection costs TechHub pays. At start it creates the database and table when missing
//! and writes the same ~300-byte JSON payload for ids `0..ROWS` to both stores.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::ConnectOptions;
use techhub_core::Config;

/// Number of ids pre-filled in both stores (`0..ROWS`).
pub const ROWS: u32 = 10_000;

/// Name of the floor's own PostgreSQL database.
pub const DATABASE: &str = "techhub_bench_floor";

/// Redis key of one floor value.
pub fn redis_key(id: u32) -> String {
    format!("bench:floor:{id}")
}

/// The value stored for `id`: a JSON object of about 300 bytes.
pub fn payload(id: u32) -> String {
    let head = format!(
        r#"{{"id":{id},"slug":"floor-article-{id}","title":"Floor article number {id}","tags":["rust","bench"],"body":""#
    );
    let filler = 300usize.saturating_sub(head.len() + 2);
    let body: String = "lorem ipsum dolor sit amet "
        .chars()
        .cycle()
        .take(filler)
        .collect();
    format!("{head}{body}\"}}")
}

#[derive(Clone)]
struct Floor {
    redis: Arc<[ConnectionManager]>,
    next: Arc<AtomicUsize>,
    pg: PgPool,
}

impl Floor {
    fn redis(&self) -> ConnectionManager {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.redis.len();
        self.redis[i].clone()
    }
}

/// Runs the floor server on `127.0.0.1:port` until the process is killed.
pub async fn serve(port: u16) -> Result<()> {
    let config = Config::from_env().context("reading TECHHUB_* configuration")?;
    let redis = connect_redis(&config).await?;
    fill_redis(&redis[0]).await?;
    let pg = prepare_postgres(&config).await?;
    let floor = Floor {
        redis,
        next: Arc::new(AtomicUsize::new(0)),
        pg,
    };
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/redis/{id}", get(by_redis))
        .route("/pg/{id}", get(by_pg))
        .with_state(floor);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    eprintln!(
        "[floor] listening on http://{addr} (redis pool {}, postgres pool {})",
        config.redis_pool_size, config.postgres_pool_size
    );
    axum::serve(listener, app).await?;
    Ok(())
}

async fn by_redis(State(floor): State<Floor>, Path(id): Path<u32>) -> Response {
    let mut conn = floor.redis();
    match redis::cmd("GET")
        .arg(redis_key(id))
        .query_async::<Option<Vec<u8>>>(&mut conn)
        .await
    {
        Ok(Some(v)) => ([(header::CONTENT_TYPE, "application/json")], v).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn by_pg(State(floor): State<Floor>, Path(id): Path<i32>) -> Response {
    match sqlx::query_scalar::<_, String>("SELECT payload FROM bench_floor WHERE id = $1")
        .bind(id)
        .fetch_optional(&floor.pg)
        .await
    {
        Ok(Some(v)) => ([(header::CONTENT_TYPE, "application/json")], v).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// `redis_pool_size` multiplexed connections used round-robin, set up like TechHub's.
async fn connect_redis(config: &Config) -> Result<Arc<[ConnectionManager]>> {
    let client = redis::Client::open(config.redis_url.as_str()).context("Redis URL")?;
    let settings = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.connect_timeout()))
        .set_response_timeout(Some(config.query_timeout()))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(10))
        .set_max_delay(Duration::from_millis(100));
    let mut conns = Vec::new();
    for _ in 0..config.redis_pool_size.max(1) {
        let conn = ConnectionManager::new_with_config(client.clone(), settings.clone())
            .await
            .context("connecting to Redis")?;
        conns.push(conn);
    }
    Ok(conns.into())
}

async fn fill_redis(conn: &ConnectionManager) -> Result<()> {
    let mut conn = conn.clone();
    let mut pipe = redis::pipe();
    for id in 0..ROWS {
        pipe.cmd("SET").arg(redis_key(id)).arg(payload(id)).ignore();
    }
    pipe.query_async::<()>(&mut conn)
        .await
        .context("filling Redis")?;
    Ok(())
}

/// Creates the floor database and table when missing, fills them, and returns a pool sized
/// like TechHub's PostgreSQL pool. It keeps sqlx's default of pinging a connection before
/// every query, as the reference figure for this machine does, where TechHub pings only
/// connections idle for a while (`techhub_core::store::PING_AFTER_IDLE`).
async fn prepare_postgres(config: &Config) -> Result<PgPool> {
    create_database(config).await?;
    let url = techhub_core::config::with_database(&config.postgres_url, DATABASE)?;
    let options: PgConnectOptions = url.parse().context("PostgreSQL URL")?;
    let options = options.disable_statement_logging();
    let pool = PgPoolOptions::new()
        .max_connections(config.postgres_pool_size)
        .min_connections(0)
        .acquire_timeout(config.connect_timeout())
        .idle_timeout(Some(Duration::from_secs(300)))
        .test_before_acquire(true)
        .connect_with(options)
        .await
        .with_context(|| format!("connecting to database {DATABASE}"))?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench_floor (id INT PRIMARY KEY, payload TEXT NOT NULL)",
    )
    .execute(&pool)
    .await?;
    let (ids, payloads): (Vec<i32>, Vec<String>) =
        (0..ROWS).map(|id| (id as i32, payload(id))).unzip();
    // Upsert only rows that are missing or different, so a restart does not rewrite the table.
    sqlx::query(
        "INSERT INTO bench_floor (id, payload) SELECT * FROM UNNEST($1::int[], $2::text[]) \
         ON CONFLICT (id) DO UPDATE SET payload = EXCLUDED.payload \
         WHERE bench_floor.payload IS DISTINCT FROM EXCLUDED.payload",
    )
    .bind(&ids)
    .bind(&payloads)
    .execute(&pool)
    .await
    .context("filling bench_floor")?;
    Ok(pool)
}

/// Connects to the configured server (its own database, else `postgres`) and creates
/// [`DATABASE`] unless it exists.
async fn create_database(config: &Config) -> Result<()> {
    let mut last_error = None;
    let admin_urls = [
        config.postgres_url.clone(),
        techhub_core::config::with_database(&config.postgres_url, "postgres")?,
    ];
    for url in admin_urls {
        let options: PgConnectOptions = match url.parse() {
            Ok(o) => o,
            Err(e) => {
                last_error = Some(anyhow::Error::from(e));
                continue;
            }
        };
        let mut conn = match options.disable_statement_logging().connect().await {
            Ok(c) => c,
            Err(e) => {
                last_error = Some(e.into());
                continue;
            }
        };
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                .bind(DATABASE)
                .fetch_optional(&mut conn)
                .await?;
        if exists.is_none() {
            eprintln!("[floor] creating database {DATABASE}");
            if let Err(e) = sqlx::query(&format!("CREATE DATABASE {DATABASE}"))
                .execute(&mut conn)
                .await
            {
                // 42P04: created meanwhile by another floor.
                let duplicate = e
                    .as_database_error()
                    .and_then(|d| d.code())
                    .is_some_and(|c| c == "42P04");
                if !duplicate {
                    return Err(e).context(format!("creating database {DATABASE}"));
                }
            }
        }
        return Ok(());
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no PostgreSQL URL to try")))
        .context("connecting to the PostgreSQL server of TECHHUB_POSTGRES_URL")
}

/// A floor server running as a child process of the bench.
pub struct FloorProcess {
    child: tokio::process::Child,
    /// Base URL of the floor (`http://127.0.0.1:<port>`).
    pub base: String,
    /// Process id, for memory sampling.
    pub pid: u32,
}

impl FloorProcess {
    /// Starts `<this executable> floor --port <free port>` and waits until it answers
    /// `/health` (the first start fills PostgreSQL, so this may take a few seconds).
    pub async fn spawn() -> Result<FloorProcess> {
        let port = free_port()?;
        let exe = std::env::current_exe().context("locating the bench executable")?;
        let mut child = tokio::process::Command::new(exe)
            .args(["floor", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the floor server")?;
        let pid = child.id().unwrap_or(0);
        let base = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = child.try_wait()? {
                bail!("the floor server exited during start-up ({status})");
            }
            if health_ok(port).await {
                return Ok(FloorProcess { child, base, pid });
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("the floor server did not answer on port {port} within 120 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Kills the floor and waits for it to exit.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// True when `GET /health` on the port answers 200 (a bare HTTP/1.0 exchange, no client).
async fn health_ok(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(
            buf.starts_with(b"HTTP/1.0 200") || buf.starts_with(b"HTTP/1.1 200"),
        )
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Ok(true))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_valid_json_of_about_300_bytes() {
        for id in [0, 7, 9_999] {
            let p = payload(id);
            assert!((295..=305).contains(&p.len()), "{} bytes", p.len());
            let v: serde_json::Value = serde_json::from_str(&p).unwrap();
            assert_eq!(v["id"], id);
        }
        assert_eq!(redis_key(42), "bench:floor:42");
    }
}
