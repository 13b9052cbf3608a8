//! Cache-aside with stampede protection. A read looks in Redis first (a hit); on a miss,
//! protection works at two levels, so a cold key costs one trip to the stores however many
//! requests arrive at once, on however many instances:
//!
//! - in this process, concurrent requests for the same key share one load ("single flight"):
//!   the first runs it, the others wait for its result;
//! - across instances, that one load first claims the key in Redis
//!   ([`Redis::claim_load`], `SET NX` with a short expiry). The instance holding the claim
//!   re-checks the cache, loads, caches, and releases the claim; the others poll the cache
//!   until the entry appears. When the claim is released without an entry (the load failed,
//!   or its answer may not be cached) one of them claims it in turn; when the claimant is too
//!   slow ([`WAIT`]) or Redis cannot be asked, they load themselves rather than wait longer.
//!
//! The claim is the load's lease too: an invalidation drops it with the entry, and the load
//! caches its answer only while the claim holds ([`Redis::cache_claimed`]), so an answer read
//! before a write is never cached after the writer dropped the entry.
//!
//! Redis being down only means every request loads (a miss), never an error.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::Redis;

/// What a loader produced: the JSON and whether it may be cached (a degraded answer may not).
#[derive(Clone, Debug)]
pub struct Loaded {
    pub json: String,
    pub cacheable: bool,
}

/// One load shared by the callers that missed the same key at once; its error is shared too.
type Flight<E> = Arc<OnceCell<Result<Loaded, Arc<E>>>>;

/// The loads in flight in this process, by key, and how many went to the stores.
pub struct Flights<E> {
    inflight: Mutex<HashMap<String, Flight<E>>>,
    loads: AtomicU64,
}

impl<E> Default for Flights<E> {
    fn default() -> Self {
        Flights {
            inflight: Mutex::default(),
            loads: AtomicU64::new(0),
        }
    }
}

impl<E> Flights<E> {
    /// How many loads went to the stores (for tests and metrics).
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }
}

/// How long a claim on loading a key lasts unless released: longer than any load takes (the
/// dashboard gives each store one second). Batch fills lease their keys for as long.
pub const CLAIM: Duration = Duration::from_secs(5);
/// How long an instance waits for another's load before loading itself.
pub const WAIT: Duration = Duration::from_secs(2);
/// How often a waiting instance looks for the entry.
const POLL: Duration = Duration::from_millis(10);

/// The JSON under `key` and whether it came from the cache: from Redis, or loaded once for
/// all concurrent callers (and cached for `ttl` when the loader says it may be). Every caller
/// waiting on a load that failed gets its error.
pub async fn load<E, F, Fut>(
    redis: &Redis,
    flights: &Flights<E>,
    key: &str,
    ttl: Duration,
    load: F,
) -> Result<(String, bool), Arc<E>>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Loaded, E>>,
{
    if let Ok(Some(json)) = redis.cached(key).await {
        return Ok((json, true));
    }
    let cell: Flight<E> = flights
        .inflight
        .lock()
        .expect("flights lock")
        .entry(key.to_string())
        .or_default()
        .clone();
    let outcome = cell
        .get_or_init(|| async { fill(redis, flights, key, ttl, load).await.map_err(Arc::new) })
        .await
        .clone();
    {
        let mut inflight = flights.inflight.lock().expect("flights lock");
        if inflight.get(key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            inflight.remove(key);
        }
    }
    outcome.map(|loaded| (loaded.json, false))
}

/// The one load of `key` in this process: claims it across instances, or waits for the
/// instance that holds the claim (see the module docs).
async fn fill<E, F, Fut>(
    redis: &Redis,
    flights: &Flights<E>,
    key: &str,
    ttl: Duration,
    load: F,
) -> Result<Loaded, E>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Loaded, E>>,
{
    let token = uuid::Uuid::new_v4().to_string();
    let deadline = Instant::now() + WAIT;
    loop {
        match redis.claim_load(key, &token, CLAIM).await {
            Ok(true) => {
                // Whoever held the claim before cached before releasing it.
                if let Ok(Some(json)) = redis.cached(key).await {
                    release(redis, key, &token).await;
                    return Ok(Loaded {
                        json,
                        cacheable: false,
                    });
                }
                let loaded = run(flights, load()).await;
                match &loaded {
                    Ok(l) if l.cacheable => {
                        // Caching gives up the claim; an invalidation since took it away.
                        match redis.cache_claimed(key, &token, &l.json, ttl).await {
                            Ok(true) => {}
                            Ok(false) => tracing::debug!(key, "changed while loading; not cached"),
                            Err(e) => tracing::debug!(error = %e, key, "not cached"),
                        }
                    }
                    _ => release(redis, key, &token).await,
                }
                return loaded;
            }
            Ok(false) => {}
            Err(e) => {
                tracing::debug!(error = %e, key, "no load claim; loading");
                return run(flights, load()).await;
            }
        }
        // Another instance is loading: wait for its entry.
        loop {
            tokio::time::sleep(POLL).await;
            match redis.peek(key).await {
                Ok((Some(json), _)) => {
                    return Ok(Loaded {
                        json,
                        cacheable: false,
                    })
                }
                Ok((None, true)) if Instant::now() < deadline => continue,
                // Released without an entry: claim it in turn.
                Ok((None, false)) if Instant::now() < deadline => break,
                Ok(_) => {
                    // The claimant is stuck or gone: load without caching (only a claim
                    // makes caching safe), until its claim expires and the next load takes it.
                    tracing::debug!(key, "waited long enough for another instance; loading");
                    return run(flights, load()).await;
                }
                Err(e) => {
                    tracing::debug!(error = %e, key, "cannot watch the claim; loading");
                    return run(flights, load()).await;
                }
            }
        }
    }
}

/// Goes to the stores (`loading`), counted.
async fn run<E>(
    flights: &Flights<E>,
    loading: impl Future<Output = Result<Loaded, E>>,
) -> Result<Loaded, E> {
    flights.loads.fetch_add(1, Ordering::Relaxed);
    loading.await
}

/// Gives up the claim on `key`, so waiting instances stop waiting.
async fn release(redis: &Redis, key: &str, token: &str) {
    if let Err(e) = redis.release_load(key, token).await {
        // The claim expires by itself; waiting instances load when it does.
        tracing::debug!(error = %e, key, "load claim not released");
    }
}
