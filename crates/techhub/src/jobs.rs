//! The background jobs of a TechHub process, started, named and stopped in one place: the
//! relays, the search indexer and the periodic work (renewals, engagement decay, view counts).
//! Each job gets a [`Stop`] it must return on; [`Jobs::stop`] signals every job, waits for all
//! of them to finish and logs each by name, so a clean shutdown loses no work a job was in the
//! middle of (the view flush makes a last run, for instance).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

/// Resolves once the jobs are told to stop.
#[derive(Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Waits for the stop signal (or for the [`Jobs`] to be gone).
    pub async fn requested(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// How a periodic job runs.
#[derive(Clone, Copy, Debug)]
pub struct Every {
    pub period: Duration,
    /// Run once at start, before the first pause.
    pub at_start: bool,
    /// Run once more after the stop signal (work gathered since the last run is not lost).
    pub at_stop: bool,
}

impl Every {
    /// Every `period`, first after one period, no last run.
    pub fn period(period: Duration) -> Self {
        Every {
            period,
            at_start: false,
            at_stop: false,
        }
    }
}

/// The running jobs. Dropping it aborts them (an aborted server); [`Jobs::stop`] stops them
/// cleanly.
pub struct Jobs {
    running: JoinSet<()>,
    stop: Arc<watch::Sender<bool>>,
}

/// Tells the jobs to stop without waiting for them (see [`Jobs::stopper`]).
#[derive(Clone)]
pub struct Stopper(Arc<watch::Sender<bool>>);

impl Stopper {
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs {
            running: JoinSet::new(),
            stop: Arc::new(watch::channel(false).0),
        }
    }
}

impl Jobs {
    /// A job that runs until the [`Stop`] it is given resolves.
    pub fn spawn<F, Fut>(&mut self, name: &'static str, job: F)
    where
        F: FnOnce(Stop) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let run = job(Stop(self.stop.subscribe()));
        tracing::debug!(job = name, "background job started");
        self.running.spawn(async move {
            run.await;
            tracing::debug!(job = name, "background job stopped");
        });
    }

    /// A job that runs `tick` as `every` says until stopped. A failed run is logged with the
    /// job's name and retried at the next period.
    pub fn every<F, Fut>(&mut self, name: &'static str, every: Every, mut tick: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send,
    {
        self.spawn(name, move |stop| async move {
            let run = |result: anyhow::Result<()>| {
                if let Err(e) = result {
                    tracing::warn!(job = name, error = %format!("{e:#}"), "background job failed; the next run retries");
                }
            };
            if every.at_start {
                run(tick().await);
            }
            let stopped = stop.requested();
            tokio::pin!(stopped);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(every.period) => run(tick().await),
                }
            }
            if every.at_stop {
                run(tick().await);
            }
        });
    }

    /// A handle that tells every job to stop, e.g. from a shutdown signal.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.stop.clone())
    }

    /// Runs until `shutdown` resolves, then stops every job. A job that panics meanwhile
    /// takes the caller down with it at once (as it would if it ran on the caller's task).
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(ended) = self.running.join_next() => rethrow(ended),
            }
        }
        self.stop().await
    }

    /// Tells every job to stop and waits until all have. A job that panicked panics here.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while let Some(ended) = self.running.join_next().await {
            rethrow(ended);
        }
    }
}

/// Passes on a job's panic; a job that returned (or was cancelled) is done.
fn rethrow(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_periodic_job_runs_each_period_and_once_more_when_stopped() {
        let runs = Arc::new(AtomicU32::new(0));
        let mut jobs = Jobs::default();
        let counted = runs.clone();
        let every = Every {
            period: Duration::from_secs(10),
            at_start: true,
            at_stop: true,
        };
        jobs.every("count", every, move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                anyhow::ensure!(counted.load(Ordering::SeqCst) != 2, "the second run fails");
                Ok(())
            }
        });
        tokio::time::sleep(Duration::from_secs(25)).await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            3,
            "at start, at 10 s (failed) and at 20 s"
        );
        jobs.stop().await;
        assert_eq!(runs.load(Ordering::SeqCst), 4, "a last run at stop");
    }

    #[tokio::test]
    #[should_panic(expected = "the relay broke")]
    async fn a_job_that_panics_takes_run_until_down_with_it() {
        let mut jobs = Jobs::default();
        jobs.spawn("broken", |_| async { panic!("the relay broke") });
        jobs.run_until(std::future::pending()).await;
    }

    #[tokio::test]
    async fn stop_waits_for_every_job_and_a_stopper_signals_them() {
        let mut jobs = Jobs::default();
        let done = Arc::new(AtomicU32::new(0));
        for _ in 0..3 {
            let done = done.clone();
            jobs.spawn("wait", move |stop| async move {
                stop.requested().await;
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        let stopper = jobs.stopper();
        stopper.stop();
        jobs.stop().await;
        assert_eq!(done.load(Ordering::SeqCst), 3);
    }
}
