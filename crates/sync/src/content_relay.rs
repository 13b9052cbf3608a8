//! The content relay: delivers the events MongoDB posts carry in `pendingEvents` (written in
//! the same document write as the change) to every consumer that wants them, then removes
//! them. Posts are claimed with a lease, one atomic update each, so several relays never work
//! on the same post; a post's events are delivered in order; different posts concurrently.
//! A failed delivery is retried with the same doubling back-off as the outbox relay; an
//! unreadable event is parked in the post's `deadEvents` for `techhub doctor` to report.

use std::sync::Arc;

use mongodb::bson::DateTime;
use techhub_content::posts::{self, PendingPost};
use techhub_content::Mongo;
use tokio::sync::Notify;

use crate::relay::{drive, Consumer, RelaySettings};

pub struct ContentRelay {
    mongo: Mongo,
    consumers: Vec<Arc<dyn Consumer>>,
    settings: RelaySettings,
    wake: Arc<Notify>,
}

impl ContentRelay {
    /// `wake` is notified by writers in this process so their events go out at once rather
    /// than at the next poll.
    pub fn new(
        mongo: Mongo,
        consumers: Vec<Arc<dyn Consumer>>,
        settings: RelaySettings,
        wake: Arc<Notify>,
    ) -> Self {
        ContentRelay {
            mongo,
            consumers,
            settings,
            wake,
        }
    }

    /// Claims one batch of posts with due events and delivers them. Returns how many posts.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let claimed = posts::claim_pending(
            &self.mongo,
            self.settings.lease,
            self.settings.batch as usize,
        )
        .await?;
        let outcomes =
            futures::future::join_all(claimed.iter().map(|post| self.deliver(post))).await;
        // The posts delivered whole are finished together, in one update.
        let mut done = Vec::new();
        let mut event_ids = Vec::new();
        for (post, outcome) in claimed.iter().zip(outcomes) {
            if let Some(mut ids) = outcome {
                done.push(post);
                event_ids.append(&mut ids);
            }
        }
        if let Err(e) = posts::events_delivered_all(&self.mongo, &done, &event_ids).await {
            // The lease runs out and the events are delivered again; consumers are idempotent.
            tracing::warn!(posts = done.len(), error = %e, "could not record content deliveries");
        }
        Ok(claimed.len())
    }

    /// Runs until `shutdown` resolves.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        let wake = Some(self.wake.as_ref());
        drive("content relay", &self.settings, wake, shutdown, || {
            self.run_once()
        })
        .await
    }

    /// Delivers the post's events in order. Returns the delivered event ids when all were
    /// delivered (the caller records that, for all such posts at once); otherwise records
    /// what was delivered and the retry itself, and returns `None`.
    async fn deliver(&self, post: &PendingPost) -> Option<Vec<String>> {
        let mut delivered = Vec::new();
        let mut failure = None;
        for (index, event) in post.events.iter().enumerate() {
            let event = match event {
                Ok(event) => event,
                Err(reason) => {
                    tracing::error!(post.id = %post.id, %reason, "unreadable content event parked");
                    if let Err(e) = posts::event_parked(&self.mongo, post, index, reason).await {
                        failure = Some(format!("parking an unreadable event: {e}"));
                        break;
                    }
                    continue;
                }
            };
            let outcomes = futures::future::join_all(
                self.consumers
                    .iter()
                    .filter(|c| c.wants(&event.payload))
                    .map(|c| async move {
                        c.apply(event)
                            .await
                            .map_err(|e| format!("{}: {e:#}", c.name()))
                    }),
            )
            .await;
            let errors: Vec<String> = outcomes.into_iter().filter_map(Result::err).collect();
            if errors.is_empty() {
                delivered.push(event.id.to_string());
            } else {
                failure = Some(errors.join("; "));
                break;
            }
        }
        let outcome = match failure {
            None => return Some(delivered),
            Some(error) => {
                let attempts = post.attempts as u32 + 1;
                let retry_in = self.settings.backoff(attempts);
                tracing::warn!(post.id = %post.id, attempts, ?retry_in, %error, "content event delivery failed; will retry");
                let retry_at = DateTime::from_millis(
                    DateTime::now().timestamp_millis() + retry_in.as_millis() as i64,
                );
                match posts::events_delivered(&self.mongo, post, &delivered).await {
                    Ok(()) => posts::events_failed(&self.mongo, post, retry_at, &error).await,
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = outcome {
            // The lease runs out and the events are delivered again; consumers are idempotent.
            tracing::warn!(post.id = %post.id, error = %e, "could not record the content delivery outcome");
        }
        None
    }
}
