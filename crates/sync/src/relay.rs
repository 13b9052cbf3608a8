//! The outbox relay: claims due events in batches, delivers each to every consumer that wants
//! it and has not applied it yet, and records the outcome. Failures are retried with doubling
//! back-off; an event that still fails after `max_attempts` is parked as dead, for
//! `techhub doctor` to report and `techhub relay --replay <id>` to retry.
//!
//! Events of one aggregate (one user) are delivered in outbox order; different aggregates in
//! a batch are delivered concurrently.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use techhub_accounts::outbox::{self, Claimed};
use techhub_accounts::MySql;
use techhub_core::events::{Event, EventPayload};
use techhub_core::Config;

/// Applies events to one store or system. `apply` and `apply_batch` must be idempotent: the
/// relays deliver at least once.
pub trait Consumer: Send + Sync {
    /// Stable name, recorded per delivered event.
    fn name(&self) -> &'static str;
    fn wants(&self, payload: &EventPayload) -> bool;
    fn apply<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, anyhow::Result<()>>;

    /// Applies `events` (all wanted, in delivery order) as one unit of work, e.g. one
    /// transaction; an error means none or only some were applied, and the caller delivers
    /// them again one by one with [`Consumer::apply`]. By default, `apply` on each in turn.
    fn apply_batch<'a>(&'a self, events: &'a [&'a Event]) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            for event in events {
                self.apply(event).await?;
            }
            Ok(())
        })
    }
}

#[derive(Clone, Debug)]
pub struct RelaySettings {
    pub batch: u32,
    pub poll: Duration,
    pub lease: Duration,
    pub max_attempts: u32,
    pub max_backoff: Duration,
}

impl RelaySettings {
    pub fn from_config(config: &Config) -> Self {
        RelaySettings {
            batch: config.relay_batch,
            poll: Duration::from_millis(config.relay_poll_ms),
            lease: Duration::from_millis(config.relay_lease_ms),
            max_attempts: config.relay_max_attempts,
            max_backoff: Duration::from_millis(config.relay_max_backoff_ms),
        }
    }

    /// Wait before attempt `attempts + 1`: 250 ms, doubling, capped at `max_backoff`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(20);
        Duration::from_millis(250u64.saturating_mul(1 << exp)).min(self.max_backoff)
    }
}

/// The longest pause after failed claims in a row.
pub const MAX_CLAIM_PAUSE: Duration = Duration::from_secs(10);

/// The loop both relays run until `shutdown`: one batch (`once`, returning how many items it
/// claimed), then the next at once after a full batch, or after `poll` (or a nudge on `wake`)
/// otherwise. After a failure it waits [`RelaySettings::backoff`] of the failures in a row
/// (from 500 ms, doubling, at most [`MAX_CLAIM_PAUSE`]; nudges ignored meanwhile), so a
/// struggling store is not hammered with the claim that just failed, and work resumes within
/// seconds of it answering again.
pub(crate) async fn drive<F, Fut>(
    what: &str,
    settings: &RelaySettings,
    wake: Option<&tokio::sync::Notify>,
    shutdown: impl std::future::Future<Output = ()>,
    mut once: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    tokio::pin!(shutdown);
    let mut failures = 0u32;
    loop {
        let pause = match once().await {
            Ok(n) => {
                failures = 0;
                if n as u32 >= settings.batch {
                    Duration::ZERO
                } else {
                    settings.poll
                }
            }
            Err(e) => {
                failures += 1;
                let pause = settings
                    .backoff(failures + 1)
                    .min(MAX_CLAIM_PAUSE)
                    .max(settings.poll)
                    .max(Duration::from_millis(500));
                tracing::warn!(error = %format!("{e:#}"), failures, retry_in = ?pause, "{what} could not claim work");
                pause
            }
        };
        let backing_off = failures > 0;
        let nudged = async {
            match wake {
                Some(w) if !backing_off => w.notified().await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut shutdown => return,
            _ = nudged => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

pub struct Relay {
    db: MySql,
    consumers: Vec<Arc<dyn Consumer>>,
    settings: RelaySettings,
}

impl Relay {
    pub fn new(db: MySql, consumers: Vec<Arc<dyn Consumer>>, settings: RelaySettings) -> Self {
        Relay {
            db,
            consumers,
            settings,
        }
    }

    /// Claims one batch and delivers it. Returns how many events were claimed.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let claimed = outbox::claim(&self.db, self.settings.batch, self.settings.lease).await?;
        let count = claimed.len();
        let mut groups: Vec<(String, Vec<Claimed>)> = Vec::new();
        for c in claimed {
            match groups
                .iter_mut()
                .find(|(aggregate, _)| *aggregate == c.aggregate)
            {
                Some((_, group)) => group.push(c),
                None => groups.push((c.aggregate.clone(), vec![c])),
            }
        }
        futures::future::join_all(groups.into_iter().map(|(_, group)| async move {
            for claimed in group {
                self.deliver(claimed).await;
            }
        }))
        .await;
        Ok(count)
    }

    /// Runs until `shutdown` resolves: a full batch is followed by the next one at once, an
    /// empty or partial one by a pause of `poll`.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        drive("outbox relay", &self.settings, None, shutdown, || {
            self.run_once()
        })
        .await
    }

    async fn deliver(&self, claimed: Claimed) {
        let id = claimed.outbox_id;
        let event = match claimed.event {
            Ok(event) => event,
            Err(poison) => {
                tracing::error!(outbox.id = id, error = %poison, "unreadable outbox event parked as dead");
                self.record(
                    outbox::failed(&self.db, id, &poison, Duration::ZERO, true).await,
                    id,
                );
                return;
            }
        };
        let mut errors = Vec::new();
        for consumer in &self.consumers {
            let name = consumer.name();
            if !consumer.wants(&event.payload) || claimed.delivered_to.iter().any(|d| d == name) {
                continue;
            }
            match consumer.apply(&event).await {
                Ok(()) => {
                    if let Err(e) = outbox::consumer_done(&self.db, id, name).await {
                        errors.push(format!("{name}: applied, but not recorded: {e}"));
                    }
                }
                Err(e) => errors.push(format!("{name}: {e:#}")),
            }
        }
        if errors.is_empty() {
            self.record(outbox::delivered(&self.db, id).await, id);
            return;
        }
        let error = errors.join("; ");
        let dead = claimed.attempts >= self.settings.max_attempts;
        let retry_in = self.settings.backoff(claimed.attempts);
        if dead {
            tracing::error!(outbox.id = id, event = event.payload.event_type(), attempts = claimed.attempts, %error, "outbox event parked as dead");
        } else {
            tracing::warn!(outbox.id = id, event = event.payload.event_type(), attempts = claimed.attempts, ?retry_in, %error, "outbox delivery failed; will retry");
        }
        self.record(
            outbox::failed(&self.db, id, &error, retry_in, dead).await,
            id,
        );
    }

    fn record<E: std::fmt::Display>(&self, result: Result<(), E>, id: u64) {
        if let Err(e) = result {
            // The lease runs out and the event is delivered again; consumers are idempotent.
            tracing::warn!(outbox.id = id, error = %e, "could not record the delivery outcome");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_250ms_and_is_capped() {
        let s = RelaySettings {
            batch: 10,
            poll: Duration::from_millis(100),
            lease: Duration::from_secs(30),
            max_attempts: 5,
            max_backoff: Duration::from_secs(5),
        };
        assert_eq!(s.backoff(1), Duration::from_millis(250));
        assert_eq!(s.backoff(2), Duration::from_millis(500));
        assert_eq!(s.backoff(4), Duration::from_millis(2000));
        assert_eq!(s.backoff(5), Duration::from_secs(4));
        assert_eq!(s.backoff(6), Duration::from_secs(5));
        assert_eq!(s.backoff(60), Duration::from_secs(5));
    }
}
