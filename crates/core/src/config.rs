//! Typed configuration. Every field is read from one `TECHHUB_*` environment variable (or
//! the matching `--flag`) and has a default that works with the local servers started by
//! `scripts/stores.sh`. `techhub --help` lists them all; `docs/configuration.md` has the same table.
//!
//! Secrets (the JWT secret, passwords inside store URLs) never appear in `Debug` output, in
//! `--help` env values, or in anything `doctor` and `/health` print: use [`redact_url`].

use std::time::Duration;

use clap::{Args, Parser, ValueEnum};
use secrecy::{ExposeSecret, SecretString};

/// The JWT secret used when `TECHHUB_JWT_SECRET` is not set. Only `local` mode accepts it.
pub const DEFAULT_JWT_SECRET: &str = "techhub-local-development-secret-do-not-use-in-production";

/// Where TechHub runs. `local` allows development defaults such as the built-in JWT secret;
/// `production` refuses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Local,
    Production,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Args)]
pub struct Config {
    /// MySQL / MariaDB URL of the accounts database (users, billing, outbox).
    #[arg(
        long,
        env = "TECHHUB_MYSQL_URL",
        default_value = "mysql://techhub:techhub@127.0.0.1:3306/techhub",
        hide_env_values = true
    )]
    pub mysql_url: String,

    /// PostgreSQL URL of the learning-analytics database.
    #[arg(
        long,
        env = "TECHHUB_POSTGRES_URL",
        default_value = "postgres://techhub:techhub@127.0.0.1:5432/techhub",
        hide_env_values = true
    )]
    pub postgres_url: String,

    /// MongoDB URL of the content database; the path names the database. Production uses
    /// MongoDB 7+; locally it is SecantusDB.
    #[arg(
        long,
        env = "TECHHUB_MONGODB_URL",
        default_value = "mongodb://127.0.0.1:27017/techhub?directConnection=true",
        hide_env_values = true
    )]
    pub mongodb_url: String,

    /// Redis URL for the cache, counters and rate limits.
    #[arg(
        long,
        env = "TECHHUB_REDIS_URL",
        default_value = "redis://127.0.0.1:6379/0",
        hide_env_values = true
    )]
    pub redis_url: String,

    /// Prefix of every Redis key TechHub writes, so several deployments (or tests) can share
    /// one Redis.
    #[arg(long, env = "TECHHUB_REDIS_PREFIX", default_value = "techhub:")]
    pub redis_prefix: String,

    /// Address the HTTP server listens on.
    #[arg(long, env = "TECHHUB_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,

    /// Secret that signs JSON Web Tokens. Required in production mode.
    #[arg(long, env = "TECHHUB_JWT_SECRET", default_value = DEFAULT_JWT_SECRET, hide_default_value = true, hide_env_values = true)]
    pub jwt_secret: SecretString,

    /// `local` accepts development defaults; `production` refuses them.
    #[arg(long, env = "TECHHUB_MODE", value_enum, default_value = "local")]
    pub mode: Mode,

    /// Folder for local state: the mail sink, the search index.
    #[arg(long, env = "TECHHUB_DATA_DIR", default_value = ".data")]
    pub data_dir: std::path::PathBuf,

    /// Maximum connections in the MySQL pool.
    #[arg(long, env = "TECHHUB_MYSQL_POOL_SIZE", default_value_t = 16)]
    pub mysql_pool_size: u32,

    /// Maximum connections in the PostgreSQL pool.
    #[arg(long, env = "TECHHUB_POSTGRES_POOL_SIZE", default_value_t = 16)]
    pub postgres_pool_size: u32,

    /// Maximum connections per MongoDB server in the driver's pool.
    #[arg(long, env = "TECHHUB_MONGODB_POOL_SIZE", default_value_t = 32)]
    pub mongodb_pool_size: u32,

    /// Number of multiplexed Redis connections requests are spread over.
    #[arg(long, env = "TECHHUB_REDIS_POOL_SIZE", default_value_t = 4)]
    pub redis_pool_size: u32,

    /// How long to wait for a store connection (new or from a pool) before failing, in ms.
    #[arg(long, env = "TECHHUB_CONNECT_TIMEOUT_MS", default_value_t = 1000)]
    pub connect_timeout_ms: u64,

    /// How long one store round trip may take before the request fails, in ms.
    #[arg(long, env = "TECHHUB_QUERY_TIMEOUT_MS", default_value_t = 1500)]
    pub query_timeout_ms: u64,

    /// How long `/health` and `doctor` wait for each store, in ms.
    #[arg(long, env = "TECHHUB_HEALTH_TIMEOUT_MS", default_value_t = 1000)]
    pub health_timeout_ms: u64,

    /// How long an issued JWT stays valid, in seconds.
    #[arg(long, env = "TECHHUB_JWT_TTL_SECS", default_value_t = 7 * 24 * 3600)]
    pub jwt_ttl_secs: u64,

    /// The address people reach TechHub at; links in emails point here.
    #[arg(
        long,
        env = "TECHHUB_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,

    /// SMTP server for outgoing mail, e.g. `smtps://user:password@mail.example.com:465`. When
    /// unset, mail is written as `.eml` files under `TECHHUB_DATA_DIR/mail`.
    #[arg(long, env = "TECHHUB_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// Sender of outgoing mail.
    #[arg(
        long,
        env = "TECHHUB_MAIL_FROM",
        default_value = "TechHub <no-reply@techhub.localhost>"
    )]
    pub mail_from: String,

    /// Run the outbox and content relays inside `serve` (`techhub relay` runs them on their own).
    #[arg(long, env = "TECHHUB_RELAY", default_value_t = true, action = clap::ArgAction::Set)]
    pub relay: bool,

    /// Outbox events the relay claims at once; the content relay takes 4 times as many posts,
    /// 5 times as many comments and favorites.
    #[arg(long, env = "TECHHUB_RELAY_BATCH", default_value_t = 100)]
    pub relay_batch: u32,

    /// How often an idle relay looks for new events, in ms.
    #[arg(long, env = "TECHHUB_RELAY_POLL_MS", default_value_t = 100)]
    pub relay_poll_ms: u64,

    /// How long a claimed event stays reserved for the relay that claimed it, in ms; after a
    /// crash, another relay takes it once this runs out.
    #[arg(long, env = "TECHHUB_RELAY_LEASE_MS", default_value_t = 30_000)]
    pub relay_lease_ms: u64,

    /// Delivery attempts before an event is parked as dead.
    #[arg(long, env = "TECHHUB_RELAY_MAX_ATTEMPTS", default_value_t = 12)]
    pub relay_max_attempts: u32,

    /// Longest wait between two delivery attempts of one event, in ms (the wait doubles from
    /// 250 ms up to this).
    #[arg(long, env = "TECHHUB_RELAY_MAX_BACKOFF_MS", default_value_t = 300_000)]
    pub relay_max_backoff_ms: u64,

    /// How often `serve` runs the subscription renewal job, in seconds (0 turns it off).
    #[arg(long, env = "TECHHUB_RENEWAL_INTERVAL_SECS", default_value_t = 60)]
    pub renewal_interval_secs: u64,

    /// How often `serve` moves article view counts from Redis to MongoDB, in seconds (0: never).
    #[arg(long, env = "TECHHUB_VIEW_FLUSH_SECS", default_value_t = 5)]
    pub view_flush_secs: u64,

    /// How often the search indexer looks for posts changed by other servers, in milliseconds
    /// (changes made through this server are indexed at once).
    #[arg(long, env = "TECHHUB_SEARCH_POLL_MS", default_value_t = 500)]
    pub search_poll_ms: u64,

    /// How often `serve` recomputes engagement scores (they decay with time), in seconds (0: never).
    #[arg(long, env = "TECHHUB_ENGAGEMENT_INTERVAL_SECS", default_value_t = 3600)]
    pub engagement_interval_secs: u64,

    /// Login attempts allowed per account (email) per window: `<count>/<seconds>`, or `off`.
    #[arg(long, env = "TECHHUB_RATE_LOGIN_ACCOUNT", default_value = "10/300")]
    pub rate_login_account: RateLimit,

    /// Login attempts allowed per client IP per window.
    #[arg(long, env = "TECHHUB_RATE_LOGIN_IP", default_value = "50/300")]
    pub rate_login_ip: RateLimit,

    /// Registrations allowed per client IP per window.
    #[arg(long, env = "TECHHUB_RATE_REGISTER_IP", default_value = "20/3600")]
    pub rate_register_ip: RateLimit,

    /// Writes (POST, PUT, PATCH, DELETE with a token) allowed per user per window.
    #[arg(long, env = "TECHHUB_RATE_WRITES_USER", default_value = "120/60")]
    pub rate_writes_user: RateLimit,

    /// Folder of the built web app (`npm run build` in `web/` writes `web/dist`). `serve`
    /// serves it at `/` when it holds an `index.html`; without one, TechHub is the API only.
    #[arg(long, env = "TECHHUB_WEB_DIR", default_value = "web/dist")]
    pub web_dir: std::path::PathBuf,

    /// Origins whose pages may call the API from a browser (CORS): `*` for any, or a
    /// comma-separated list such as `https://app.example.com,http://localhost:5173`.
    #[arg(
        long,
        env = "TECHHUB_CORS_ORIGINS",
        default_value = "*",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,

    /// Origins the web app may call besides its own (the Content-Security-Policy's
    /// `connect-src`), for an app built against a separately hosted API; comma-separated.
    #[arg(long, env = "TECHHUB_CSP_CONNECT_SRC", value_delimiter = ',')]
    pub csp_connect_src: Vec<String>,

    /// Log format: `text` for people, `json` for log shippers. Filter with `RUST_LOG`.
    #[arg(long, env = "TECHHUB_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// Parses only the environment (no command-line arguments); used by tests and library callers.
#[derive(Parser)]
struct EnvOnly {
    #[command(flatten)]
    config: Config,
}

impl Config {
    /// Reads the configuration from `TECHHUB_*` environment variables and defaults.
    pub fn from_env() -> Result<Self, clap::Error> {
        EnvOnly::try_parse_from(["techhub"]).map(|e| e.config)
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub fn query_timeout(&self) -> Duration {
        Duration::from_millis(self.query_timeout_ms)
    }

    pub fn health_timeout(&self) -> Duration {
        Duration::from_millis(self.health_timeout_ms)
    }

    /// Pool settings for one store.
    pub fn pool(&self, store: crate::Store) -> crate::store::PoolSettings {
        use crate::Store;
        let (url, pool_size) = match store {
            Store::Mysql => (&self.mysql_url, self.mysql_pool_size),
            Store::Postgres => (&self.postgres_url, self.postgres_pool_size),
            Store::Mongodb => (&self.mongodb_url, self.mongodb_pool_size),
            Store::Redis => (&self.redis_url, self.redis_pool_size),
        };
        crate::store::PoolSettings {
            url: url.clone(),
            pool_size,
            connect_timeout: self.connect_timeout(),
            query_timeout: self.query_timeout(),
        }
    }

    /// True when the JWT secret is the built-in development one.
    pub fn uses_default_jwt_secret(&self) -> bool {
        self.jwt_secret.expose_secret() == DEFAULT_JWT_SECRET
    }

    /// Checks combinations that cannot be expressed per field. `serve` calls it before
    /// touching any store.
    pub fn validate(&self) -> Result<(), String> {
        for origin in &self.cors_origins {
            if origin != "*" && !is_origin(origin) {
                return Err(format!(
                    "TECHHUB_CORS_ORIGINS: {origin:?} is not an origin (scheme://host[:port], or *)"
                ));
            }
        }
        for origin in &self.csp_connect_src {
            if !is_origin(origin) {
                return Err(format!(
                    "TECHHUB_CSP_CONNECT_SRC: {origin:?} is not an origin (scheme://host[:port])"
                ));
            }
        }
        if self.mode == Mode::Production && self.uses_default_jwt_secret() {
            return Err("TECHHUB_JWT_SECRET must be set in production mode".into());
        }
        if self.jwt_secret.expose_secret().len() < 32 {
            return Err("TECHHUB_JWT_SECRET must be at least 32 characters".into());
        }
        for (name, size) in [
            ("TECHHUB_MYSQL_POOL_SIZE", self.mysql_pool_size),
            ("TECHHUB_POSTGRES_POOL_SIZE", self.postgres_pool_size),
            ("TECHHUB_MONGODB_POOL_SIZE", self.mongodb_pool_size),
            ("TECHHUB_REDIS_POOL_SIZE", self.redis_pool_size),
        ] {
            if size == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        for (name, n) in [
            ("TECHHUB_JWT_TTL_SECS", self.jwt_ttl_secs),
            ("TECHHUB_RELAY_BATCH", self.relay_batch as u64),
            ("TECHHUB_RELAY_POLL_MS", self.relay_poll_ms),
            ("TECHHUB_RELAY_LEASE_MS", self.relay_lease_ms),
            ("TECHHUB_RELAY_MAX_ATTEMPTS", self.relay_max_attempts as u64),
            ("TECHHUB_RELAY_MAX_BACKOFF_MS", self.relay_max_backoff_ms),
        ] {
            if n == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        for (name, ms) in [
            ("TECHHUB_CONNECT_TIMEOUT_MS", self.connect_timeout_ms),
            ("TECHHUB_QUERY_TIMEOUT_MS", self.query_timeout_ms),
            ("TECHHUB_HEALTH_TIMEOUT_MS", self.health_timeout_ms),
        ] {
            if ms == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("mysql_url", &redact_url(&self.mysql_url))
            .field("postgres_url", &redact_url(&self.postgres_url))
            .field("mongodb_url", &redact_url(&self.mongodb_url))
            .field("redis_url", &redact_url(&self.redis_url))
            .field("redis_prefix", &self.redis_prefix)
            .field("bind", &self.bind)
            .field("jwt_secret", &"[redacted]")
            .field("mode", &self.mode)
            .field("data_dir", &self.data_dir)
            .field("mysql_pool_size", &self.mysql_pool_size)
            .field("postgres_pool_size", &self.postgres_pool_size)
            .field("mongodb_pool_size", &self.mongodb_pool_size)
            .field("redis_pool_size", &self.redis_pool_size)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("query_timeout_ms", &self.query_timeout_ms)
            .field("health_timeout_ms", &self.health_timeout_ms)
            .field("log_format", &self.log_format)
            .field("jwt_ttl_secs", &self.jwt_ttl_secs)
            .field("public_url", &self.public_url)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("mail_from", &self.mail_from)
            .field("relay", &self.relay)
            .field("relay_batch", &self.relay_batch)
            .field("relay_poll_ms", &self.relay_poll_ms)
            .field("relay_lease_ms", &self.relay_lease_ms)
            .field("relay_max_attempts", &self.relay_max_attempts)
            .field("relay_max_backoff_ms", &self.relay_max_backoff_ms)
            .field("renewal_interval_secs", &self.renewal_interval_secs)
            .field("view_flush_secs", &self.view_flush_secs)
            .field("search_poll_ms", &self.search_poll_ms)
            .field("engagement_interval_secs", &self.engagement_interval_secs)
            .field("rate_login_account", &self.rate_login_account)
            .field("rate_login_ip", &self.rate_login_ip)
            .field("rate_register_ip", &self.rate_register_ip)
            .field("rate_writes_user", &self.rate_writes_user)
            .finish()
    }
}

/// Returns the URL with any password replaced by `***`, safe to print or log. A string that
/// does not parse as a URL is replaced whole, since it might hold a secret in any position.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        }
        Err(_) => "[unparseable url]".to_string(),
    }
}

/// The database name in a store URL's path (`mysql://host/techhub` → `techhub`).
pub fn database_name(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw).ok()?;
    let name = url.path().trim_start_matches('/');
    (!name.is_empty()).then(|| name.to_string())
}

/// How the names of tests' throw-away databases begin (in every store).
pub const TEST_DATABASE_PREFIX: &str = "techhub_test_";

/// A fresh name for a test's throw-away databases: `techhub_test_<unix secs>_<8 random>`. The
/// test harness sweeps away those a crashed run left behind by the age in their name.
pub fn test_database_name() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{TEST_DATABASE_PREFIX}{secs}_{}", &suffix[..8])
}

/// The URL with its database path replaced by `name`, keeping credentials and query.
pub fn with_database(raw: &str, name: &str) -> Result<String, url::ParseError> {
    let mut url = url::Url::parse(raw)?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_the_password_and_keeps_the_rest() {
        let redacted = redact_url("mysql://techhub:s3cret@db.internal:3306/techhub");
        assert_eq!(redacted, "mysql://techhub:***@db.internal:3306/techhub");
        assert!(!redacted.contains("s3cret"));
    }

    #[test]
    fn redact_url_leaves_passwordless_urls_alone() {
        assert_eq!(
            redact_url("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
    }

    #[test]
    fn redact_url_hides_unparseable_input_whole() {
        assert_eq!(redact_url("not a url with s3cret"), "[unparseable url]");
    }

    #[test]
    fn database_name_and_with_database_round_trip() {
        let url = "postgres://u:p@127.0.0.1:5432/techhub?sslmode=disable";
        assert_eq!(database_name(url).as_deref(), Some("techhub"));
        let other = with_database(url, "techhub_test_x").unwrap();
        assert_eq!(
            other,
            "postgres://u:p@127.0.0.1:5432/techhub_test_x?sslmode=disable"
        );
        assert_eq!(database_name("redis://127.0.0.1:6379"), None);
    }

    #[test]
    fn debug_output_never_contains_secrets() {
        let mut config = Config::from_env().unwrap();
        config.mysql_url = "mysql://u:hunter2hunter2@h/db".into();
        config.jwt_secret = SecretString::from("a-very-secret-jwt-key-of-sufficient-length");
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2hunter2"), "{printed}");
        assert!(!printed.contains("a-very-secret-jwt-key"), "{printed}");
    }

    #[test]
    fn production_mode_refuses_the_default_jwt_secret() {
        let mut config = Config::from_env().unwrap();
        config.mode = Mode::Production;
        config.jwt_secret = SecretString::from(DEFAULT_JWT_SECRET);
        let err = config.validate().unwrap_err();
        assert!(err.contains("TECHHUB_JWT_SECRET"), "{err}");

        config.jwt_secret = SecretString::from("x".repeat(48));
        config.validate().unwrap();
    }

    #[test]
    fn zero_pool_size_is_rejected_with_the_variable_name() {
        let mut config = Config::from_env().unwrap();
        config.redis_pool_size = 0;
        assert!(config
            .validate()
            .unwrap_err()
            .contains("TECHHUB_REDIS_POOL_SIZE"));
    }
}

/// A rate limit: at most `max` requests per `window`, counted in Redis so every instance shares
/// it. Written `<count>/<seconds>` (`10/300`), or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// 0 means no limit.
    pub max: u64,
    pub window: std::time::Duration,
}

impl RateLimit {
    pub const OFF: RateLimit = RateLimit {
        max: 0,
        window: std::time::Duration::from_secs(1),
    };

    pub fn is_off(&self) -> bool {
        self.max == 0
    }
}

impl std::str::FromStr for RateLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("off") {
            return Ok(RateLimit::OFF);
        }
        let (max, secs) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected <count>/<seconds> or off"))?;
        let max: u64 = max
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: the count must be a whole number"))?;
        let secs: u64 = secs
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: the window must be whole seconds"))?;
        if max == 0 || secs == 0 {
            return Err(format!(
                "{s:?}: count and window must be above 0 (or write off)"
            ));
        }
        Ok(RateLimit {
            max,
            window: std::time::Duration::from_secs(secs),
        })
    }
}

#[cfg(test)]
mod rate_limit_tests {
    use super::RateLimit;

    #[test]
    fn rate_limits_parse() {
        let l: RateLimit = "10/300".parse().unwrap();
        assert_eq!((l.max, l.window.as_secs()), (10, 300));
        assert!("off".parse::<RateLimit>().unwrap().is_off());
        for bad in ["10", "x/10", "10/0", "0/10", "10/ten", ""] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
    }
}

/// `http(s)://host[:port]` with nothing else (no path, no spaces, no `;`): safe to put in a
/// header and unable to add a policy directive.
fn is_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod origin_tests {
    use super::is_origin;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for ok in [
            "http://127.0.0.1:8080",
            "https://app.example.com",
            "http://localhost:5173",
        ] {
            assert!(is_origin(ok), "{ok}");
        }
        for bad in [
            "app.example.com",
            "https://",
            "https://a.example.com/path",
            "https://a.example.com; script-src *",
            "javascript:alert(1)",
            "https://a.example.com:port",
        ] {
            assert!(!is_origin(bad), "{bad}");
        }
    }
}
