//! The sender of one endpoint: drains its queue in the store, oldest batch first, one request
//! at a time (so each series reaches the endpoint in time order, as Prometheus requires).
//! `step` is one attempt, driven by the clock it is given (tested with `ManualClock`, no
//! sleeping); `run` loops over it, sleeping through backoffs and waking when the consumer
//! queued something.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::http::Transport;
use super::metrics::EndpointMetrics;
use super::retry::{Backoff, Verdict, verdict};
use crate::clock::{SharedClock, UnixMillis};
use crate::store::Store;

/// The first retry comes this long after a failure, then twice as long each time up to the
/// endpoint's `max_backoff` (Prometheus starts at 30ms; a batch here is seconds of data).
pub const MIN_BACKOFF: Duration = Duration::from_millis(500);

/// A failing endpoint is logged at its first failure and then every this many attempts.
const LOG_EVERY: u32 = 10;

/// What `step` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A batch was delivered, or refused for good and dropped: try the next one at once.
    Progress,
    /// Nothing queued.
    Idle,
    /// Backing off: try again at this time.
    WaitUntil(UnixMillis),
}

pub struct Sender<T: Transport> {
    endpoint: String,
    store: Store,
    transport: T,
    clock: SharedClock,
    backoff: Backoff,
    metrics: Arc<EndpointMetrics>,
}

impl<T: Transport> Sender<T> {
    pub fn new(
        endpoint: impl Into<String>,
        store: Store,
        transport: T,
        clock: SharedClock,
        max_backoff: Duration,
        metrics: Arc<EndpointMetrics>,
    ) -> Sender<T> {
        Sender {
            endpoint: endpoint.into(),
            store,
            transport,
            clock,
            backoff: Backoff::new(MIN_BACKOFF, max_backoff),
            metrics,
        }
    }

    /// One attempt at the oldest queued batch, unless backing off.
    pub async fn step(&mut self) -> Step {
        let now = self.clock.now_ms();
        if !self.backoff.ready(now) {
            return Step::WaitUntil(self.backoff.next_attempt_ms());
        }
        let batch = match self.store.rw_oldest(&self.endpoint).await {
            Ok(Some(batch)) => batch,
            Ok(None) => {
                self.metrics.samples_queued.store(0, Ordering::Relaxed);
                return Step::Idle;
            }
            Err(error) => {
                tracing::error!(endpoint = %self.endpoint, %error, "remote write: cannot read the queue; will retry");
                self.backoff.failed(now);
                return Step::WaitUntil(self.backoff.next_attempt_ms());
            }
        };
        let outcome = self.transport.post(batch.body).await;
        let now = self.clock.now_ms();
        let samples = batch.samples;
        match verdict(&outcome) {
            Verdict::Delivered => {
                let failures = self.backoff.answered();
                if failures > 0 {
                    tracing::info!(
                        endpoint = %self.endpoint,
                        failed_attempts = failures,
                        "remote write delivers again"
                    );
                }
                EndpointMetrics::add(&self.metrics.samples_sent, samples);
                self.metrics.last_success_ms.store(now, Ordering::Relaxed);
            }
            Verdict::Reject(reason) => {
                self.backoff.answered();
                EndpointMetrics::add(&self.metrics.samples_failed, samples);
                tracing::warn!(
                    endpoint = %self.endpoint,
                    samples,
                    first_ms = batch.first_ms,
                    last_ms = batch.last_ms,
                    %reason,
                    "remote write endpoint refused a batch; dropped, as a retry would be refused too"
                );
            }
            Verdict::Retry(reason) => {
                let delay = self.backoff.failed(now);
                let attempt = self.backoff.failures();
                EndpointMetrics::add(&self.metrics.samples_retried, samples);
                if attempt == 1 || attempt.is_multiple_of(LOG_EVERY) {
                    tracing::warn!(
                        endpoint = %self.endpoint,
                        attempt,
                        retry_in = %crate::base::units::format_duration(delay),
                        %reason,
                        "remote write failed; the batch stays queued and is retried"
                    );
                }
                return Step::WaitUntil(self.backoff.next_attempt_ms());
            }
        }
        if let Err(error) = self.store.rw_remove(batch.id).await {
            // Sent or refused, but still queued: it would go again (a receiver takes an
            // identical sample twice without complaint). Back off so a broken store is not
            // a loop of resends.
            tracing::error!(endpoint = %self.endpoint, %error, "remote write: cannot remove a finished batch from the queue");
            self.backoff.failed(now);
            return Step::WaitUntil(self.backoff.next_attempt_ms());
        }
        self.refresh_queued().await;
        Step::Progress
    }

    /// Sets the queued gauge from the store.
    pub async fn refresh_queued(&self) {
        if let Ok(queued) = self.store.rw_queued(&self.endpoint).await {
            self.metrics.samples_queued.store(queued, Ordering::Relaxed);
        }
    }

    /// Sends until `stop`; `wake` says the consumer queued something. A request in flight is
    /// finished first (the caller bounds how long it waits for that).
    pub async fn run(mut self, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        self.refresh_queued().await;
        loop {
            if *stop.borrow() {
                return;
            }
            match self.step().await {
                Step::Progress => {}
                Step::Idle => {
                    tokio::select! {
                        _ = wake.notified() => {}
                        _ = super::stopped(&mut stop) => return,
                    }
                }
                Step::WaitUntil(at_ms) => {
                    let wait = (at_ms - self.clock.now_ms()).clamp(10, 3_600_000);
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
                        _ = super::stopped(&mut stop) => return,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Mutex;

    use super::super::retry::Outcome;
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::store::{NewBatch, StoreOptions};

    /// Answers from a script; records the bodies it was given.
    #[derive(Clone, Default)]
    struct Scripted {
        answers: Arc<Mutex<VecDeque<Outcome>>>,
        bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    }

    impl Scripted {
        fn then(&self, outcome: Outcome) -> &Self {
            self.answers.lock().unwrap().push_back(outcome);
            self
        }

        fn sent(&self) -> Vec<u8> {
            self.bodies
                .lock()
                .unwrap()
                .iter()
                .map(|body| body[0])
                .collect()
        }
    }

    impl Transport for Scripted {
        fn post(&mut self, body: Vec<u8>) -> Pin<Box<dyn Future<Output = Outcome> + Send + '_>> {
            self.bodies.lock().unwrap().push(body);
            let answer = self
                .answers
                .lock()
                .unwrap()
                .pop_front()
                .expect("an answer is scripted");
            Box::pin(async move { answer })
        }
    }

    fn status(status: u16) -> Outcome {
        Outcome::Answer {
            status,
            body: String::new(),
        }
    }

    fn batch(tag: u8, samples: u64) -> NewBatch {
        NewBatch {
            first_ms: 0,
            last_ms: 0,
            samples,
            body: vec![tag],
        }
    }

    const T0: i64 = 1_700_000_000_000;

    async fn setup() -> (
        tempfile::TempDir,
        Store,
        Arc<ManualClock>,
        Scripted,
        Sender<Scripted>,
        Arc<EndpointMetrics>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = Store::open(dir.path(), StoreOptions::default(), clock.clone())
            .await
            .unwrap();
        let transport = Scripted::default();
        let metrics = Arc::new(EndpointMetrics::default());
        let sender = Sender::new(
            "prom",
            store.clone(),
            transport.clone(),
            clock.clone(),
            Duration::from_secs(2),
            metrics.clone(),
        );
        (dir, store, clock, transport, sender, metrics)
    }

    #[tokio::test]
    async fn batches_go_in_order_and_leave_the_queue_once_delivered() {
        let (_dir, store, clock, transport, mut sender, metrics) = setup().await;
        assert_eq!(sender.step().await, Step::Idle);
        store
            .rw_append("prom", &[batch(1, 10), batch(2, 20)], 1_000)
            .await
            .unwrap();
        store
            .rw_append("other", &[batch(9, 5)], 1_000)
            .await
            .unwrap();
        transport.then(status(204)).then(status(200));
        clock.advance(Duration::from_secs(1));
        assert_eq!(sender.step().await, Step::Progress);
        assert_eq!(metrics.figures().samples_queued, 20);
        assert_eq!(sender.step().await, Step::Progress);
        assert_eq!(sender.step().await, Step::Idle);
        assert_eq!(transport.sent(), [1, 2]);
        let figures = metrics.figures();
        assert_eq!(
            (
                figures.samples_sent,
                figures.samples_queued,
                figures.last_success_ms
            ),
            (30, 0, T0 + 1_000)
        );
        // Another endpoint's queue is not this sender's business.
        assert_eq!(store.rw_queued("other").await.unwrap(), 5);
    }

    #[tokio::test]
    async fn failures_keep_the_batch_and_back_off_exponentially_on_the_clock() {
        let (_dir, store, clock, transport, mut sender, metrics) = setup().await;
        store
            .rw_append("prom", &[batch(1, 10)], 1_000)
            .await
            .unwrap();
        transport
            .then(Outcome::Transport(
                "connection refused to 127.0.0.1:9".into(),
            ))
            .then(status(503))
            .then(status(429))
            .then(status(500))
            .then(status(204));
        let mut waits = Vec::new();
        for _ in 0..4 {
            let Step::WaitUntil(at) = sender.step().await else {
                panic!("expected a backoff")
            };
            waits.push(at - clock.now_ms());
            // Not yet: no request is made before the backoff is over.
            assert_eq!(sender.step().await, Step::WaitUntil(at));
            clock.set(at);
        }
        // 500ms, doubling, capped at max_backoff (2s).
        assert_eq!(waits, [500, 1_000, 2_000, 2_000]);
        assert_eq!(store.rw_queued("prom").await.unwrap(), 10);
        assert_eq!(metrics.figures().samples_retried, 40);
        assert_eq!(sender.step().await, Step::Progress);
        assert_eq!(transport.sent(), [1, 1, 1, 1, 1]);
        let figures = metrics.figures();
        assert_eq!((figures.samples_sent, figures.samples_failed), (10, 0));
        // The backoff starts over after a success.
        store
            .rw_append("prom", &[batch(2, 1)], 1_000)
            .await
            .unwrap();
        transport.then(status(502));
        let Step::WaitUntil(at) = sender.step().await else {
            panic!("expected a backoff")
        };
        assert_eq!(at - clock.now_ms(), 500);
    }

    #[tokio::test]
    async fn a_refused_batch_is_dropped_and_counted_as_failed() {
        let (_dir, store, _clock, transport, mut sender, metrics) = setup().await;
        store
            .rw_append("prom", &[batch(1, 10), batch(2, 20)], 1_000)
            .await
            .unwrap();
        transport
            .then(Outcome::Answer {
                status: 400,
                body: "out of order sample".into(),
            })
            .then(status(204));
        assert_eq!(sender.step().await, Step::Progress);
        assert_eq!(sender.step().await, Step::Progress);
        assert_eq!(transport.sent(), [1, 2]);
        let figures = metrics.figures();
        assert_eq!(
            (
                figures.samples_failed,
                figures.samples_sent,
                figures.samples_queued
            ),
            (10, 20, 0)
        );
    }
}
