//! The content relay's follower of new posts: reads their `post.created` events from the
//! posts' change stream and delivers them a batch at a time, with no write to the posts
//! (see [`techhub_content::posts::created`] for the cursor, the lease and the rescan).

use std::time::{Duration, Instant};

use mongodb::bson::{oid::ObjectId, Bson, DateTime};
use techhub_content::posts::created::{self, Created};
use techhub_content::posts::{Pending, Source};
use techhub_core::events::Event;

use crate::content_relay::{ContentRelay, Readable};
use crate::relay::MAX_CLAIM_PAUSE;

/// How long one read of the stream waits for new posts.
const STREAM_AWAIT: Duration = Duration::from_millis(100);
/// How long a batch keeps gathering new posts after its first.
const GATHER: Duration = Duration::from_millis(50);

/// Why following stopped without an error.
enum Stopped {
    /// Another relay holds the lease.
    Held,
    /// This relay lost the lease it held (it ran out, and another took it).
    Lost,
}

impl ContentRelay {
    /// Follows new posts until `shutdown` resolves: takes the stream's lease when it is free,
    /// and while it holds it delivers what the stream gives, saving its cursor per batch.
    /// Without the lease it looks again every half lease; after a failure it waits with the
    /// same doubling back-off as the due-event batches.
    pub async fn follow_created(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut failures = 0u32;
        // Whether the saved token is to be resumed: not after a stream resumed from it failed
        // before its first read (MongoDB's history may no longer hold it).
        let mut resume = true;
        loop {
            let outcome = tokio::select! {
                _ = &mut shutdown => break,
                outcome = self.follow(resume) => outcome,
            };
            let pause = match outcome {
                Ok(Stopped::Held) | Ok(Stopped::Lost) => {
                    failures = 0;
                    resume = true;
                    self.settings.lease / 2
                }
                Err((e, read_any)) => {
                    failures += 1;
                    resume = read_any;
                    let pause = self
                        .settings
                        .backoff(failures + 1)
                        .min(MAX_CLAIM_PAUSE)
                        .max(Duration::from_millis(500));
                    tracing::warn!(error = %format!("{e:#}"), failures, retry_in = ?pause, resume, "following new posts failed");
                    pause
                }
            };
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(pause) => {}
            }
        }
        if let Err(e) = created::release(&self.mongo, &self.holder).await {
            tracing::debug!(error = %e, "could not release the new posts' lease");
        }
    }

    /// Takes the lease and follows the stream while it holds it. An error comes with whether
    /// the stream was read at least once.
    async fn follow(&self, resume: bool) -> Result<Stopped, (anyhow::Error, bool)> {
        let lease = self.settings.lease;
        let limit = self.settings.batch * crate::content_relay::POSTS_PER_EVENT_BATCH as u32;
        let failed = |e: techhub_content::MongoError| (anyhow::Error::from(e), false);
        let Some(cursor) = created::take_lease(&self.mongo, &self.holder, lease)
            .await
            .map_err(failed)?
        else {
            return Ok(Stopped::Held);
        };
        let token = cursor.token.clone().filter(|_| resume);
        let resumed = token.is_some();
        let mut stream = match created::open(&self.mongo, token, STREAM_AWAIT, limit).await {
            Ok(stream) => stream,
            Err(e) if resumed => {
                tracing::warn!(error = %e, "the new posts' stream could not be resumed; reading the posts created since the last delivery");
                return Err((e.into(), false));
            }
            Err(e) => return Err(failed(e)),
        };
        if !resumed {
            // The stream starts now: what was created since a little before the last delivery
            // is read by id and delivered again (consumers are idempotent).
            let since = cursor
                .delivered_at
                .unwrap_or_else(DateTime::now)
                .timestamp_millis()
                - created::RESCAN.as_millis() as i64;
            let mut after = None;
            loop {
                let page = created::created_since(
                    &self.mongo,
                    DateTime::from_millis(since),
                    after,
                    limit as i64,
                )
                .await
                .map_err(failed)?;
                let Some(last) = page.last().map(|c| c.post_id) else {
                    break;
                };
                self.deliver_created(&page).await.map_err(failed)?;
                after = Some(last);
                if !created::save(&self.mongo, &self.holder, lease, None, Some(last))
                    .await
                    .map_err(failed)?
                {
                    return Ok(Stopped::Lost);
                }
            }
            tracing::info!("new posts followed from a fresh change stream");
        }
        let mut read_any = false;
        let mut saved = Instant::now();
        loop {
            let mut batch: Vec<Created> = Vec::new();
            let mut first = None;
            while batch.len() < limit as usize
                && first.is_none_or(|f: Instant| f.elapsed() < GATHER)
            {
                let change = stream
                    .next_if_any()
                    .await
                    .map_err(|e| (anyhow::Error::from(e), read_any))?;
                read_any = true;
                let Some(change) = change else { break };
                let Some(full) = change.full_document else {
                    continue;
                };
                batch.push(created::created_from(&full).map_err(|e| (e.into(), true))?);
                first.get_or_insert_with(Instant::now);
            }
            let delivered = batch.iter().map(|c| c.post_id).max();
            if !batch.is_empty() {
                // Not handed on, the batch is read again from the saved token.
                self.deliver_created(&batch)
                    .await
                    .map_err(|e| (e.into(), true))?;
            }
            // Saved after every batch, and while idle often enough to keep the lease.
            if delivered.is_some() || saved.elapsed() >= lease / 3 {
                let token = stream.resume_token();
                let still =
                    created::save(&self.mongo, &self.holder, lease, token.as_ref(), delivered)
                        .await
                        .map_err(|e| (e.into(), true))?;
                if !still {
                    return Ok(Stopped::Lost);
                }
                saved = Instant::now();
            }
        }
    }

    /// Delivers new posts' events: each consumer gets the batch's at once, as for due posts;
    /// should a consumer's batch fail, post by post. A post whose event is unreadable or
    /// still fails is handed to the due-event path ([`created::created_event_failed`]), which
    /// retries (or parks) it. An error means one could not be handed on: the caller must
    /// not save its cursor past the batch.
    async fn deliver_created(&self, batch: &[Created]) -> Result<(), techhub_content::MongoError> {
        let mut handed: Vec<(&Created, String)> = Vec::new();
        let mut readable: Vec<(&Created, Pending)> = Vec::new();
        for created in batch {
            match &created.event {
                Ok(event) => readable.push((created, pending(created.post_id, event))),
                Err(reason) => handed.push((created, reason.clone())),
            }
        }
        let posts: Vec<Readable<'_>> = readable
            .iter()
            .map(|(_, pending)| Readable {
                post: pending,
                events: pending
                    .events
                    .iter()
                    .filter_map(|e| e.as_ref().ok())
                    .collect(),
                failure: None,
            })
            .collect();
        let failed = self.deliver_batch(&posts).await;
        if !failed.is_empty() {
            let outcomes = futures::future::join_all(
                posts.iter().map(|post| self.deliver_each(post, &failed)),
            )
            .await;
            for ((created, _), (_, failure)) in readable.iter().zip(outcomes) {
                if let Some(error) = failure {
                    handed.push((created, error));
                }
            }
        }
        for (created, error) in handed {
            let retry_in = self.settings.backoff(1);
            tracing::warn!(post.id = %created.post_id, ?retry_in, %error, "new post's event not delivered; handed to the due-event path");
            let retry_at = DateTime::from_millis(
                DateTime::now().timestamp_millis() + retry_in.as_millis() as i64,
            );
            created::created_event_failed(&self.mongo, created, retry_at, &error).await?;
        }
        Ok(())
    }
}

/// A new post's event in the shape the delivery takes.
fn pending(post_id: ObjectId, event: &Event) -> Pending {
    Pending {
        source: Source::Posts,
        id: Bson::ObjectId(post_id),
        post_id,
        toggle: None,
        due_at: DateTime::now(),
        attempts: 0,
        events: vec![Ok(event.clone())],
    }
}
