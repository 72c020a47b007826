//! Prometheus remote write 1.0: Lookout's samples pushed to the `[[remote_write]]` endpoints
//! (Prometheus with `--web.enable-remote-write-receiver`, Mimir, VictoriaMetrics, ...).
//!
//! ```text
//! bus --> consumer (one per endpoint) --batches--> store: remote_write_queue --> sender --> POST
//! ```
//!
//! - `batch`: observations to samples named as /metrics names them (`lookout_...`, check
//!   statuses included), the endpoint's external labels and name filter; batches of at most
//!   `batch_size` samples grouped by series. Pure.
//! - `proto`: the protobuf messages (prost derive, no build script) and snappy block
//!   compression.
//! - `consumer`: subscribes to the bus and appends encoded batches to the durable queue (a
//!   full batch at once, the rest every `flush_interval`); the queue is capped per endpoint
//!   (`max_queued_samples`, oldest dropped first and counted).
//! - `sender`: drains the queue of its endpoint in order: 2xx deletes the batch; 5xx, 429 and
//!   network errors keep it and back off (`retry`, capped exponential); other 4xx drop it
//!   (counted as failed, logged with the reason). Rows survive restarts: a restarted daemon
//!   sends what the previous one could not.
//! - `http`: the POST (headers of the spec, bearer or basic auth, configured headers).
//! - `metrics`: per endpoint, served on /metrics as `lookout_remote_write_*`.
//!
//! Endpoints are known by their `endpoint` label: the configured name, or the URL as written
//! with credentials masked. Secrets (tokens, passwords, header values) never reach a log line,
//! an error or a metric. A reload that changes `[[remote_write]]` swaps consumers and senders
//! without losing or double-queueing a sample (`switch_collecting`, then `switch_sending`).

mod batch;
mod consumer;
mod http;
mod metrics;
pub mod proto;
mod retry;
mod sender;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use batch::{Batch, Batcher, LabelledSample, Shaping, samples_of};
pub use http::{HttpTransport, Transport};
pub use metrics::{EndpointFigures, EndpointMetrics, RemoteWriteMetrics};
pub use retry::{Backoff, Outcome, Verdict, verdict};
pub use sender::{MIN_BACKOFF, Sender, Step};

use crate::bus::Bus;
use crate::clock::SharedClock;
use crate::config::RemoteWriteConfig;
use crate::exporter::MetricsPage;
use crate::store::Store;

/// How long a stop waits for a request in flight before abandoning it (the batch stays queued).
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Resolves once `stop` is true (or its sender is gone); the guard never crosses an await.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

struct Task {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl Task {
    async fn stop(mut self, grace: Option<Duration>) {
        let _ = self.stop.send(true);
        match grace {
            None => {
                let _ = (&mut self.handle).await;
            }
            Some(grace) => {
                if tokio::time::timeout(grace, &mut self.handle).await.is_err() {
                    self.handle.abort();
                }
            }
        }
    }
}

/// Deletes the queues of endpoints no longer configured (logged, with their sample counts);
/// returns the configured endpoints.
async fn forget_removed_endpoints(configs: &[RemoteWriteConfig], store: &Store) -> Vec<String> {
    let endpoints: Vec<String> = configs.iter().map(|c| c.endpoint().to_string()).collect();
    match store.rw_forget_others(&endpoints).await {
        Ok(gone) => {
            for (endpoint, samples) in gone {
                tracing::warn!(
                    %endpoint,
                    samples,
                    "remote write: dropped the queue of an endpoint no longer configured"
                );
            }
        }
        Err(error) => {
            tracing::error!(%error, "remote write: cannot clean the queues of removed endpoints");
        }
    }
    endpoints
}

/// What `push_once` did for one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct PushReport {
    pub endpoint: String,
    pub samples_sent: u64,
    /// Refused for good (a 4xx other than 429) and dropped.
    pub samples_failed: u64,
    /// Still in the store's queue, for the next run.
    pub samples_queued: u64,
    /// Why the queue was not emptied: the endpoint is unavailable, or time ran out.
    pub stopped: Option<String>,
}

/// Cron mode (`lookout collect`): queues the samples of `observations` for every endpoint,
/// then sends that endpoint's queue (earlier runs' leftovers first) until it is empty, the
/// endpoint fails (what is left stays queued for the next run), or `within` passes.
pub async fn push_once(
    configs: &[RemoteWriteConfig],
    store: &Store,
    clock: &SharedClock,
    observations: &[crate::model::Observation],
    within: Duration,
) -> Vec<PushReport> {
    forget_removed_endpoints(configs, store).await;
    let metrics = RemoteWriteMetrics::default();
    let mut reports = Vec::new();
    for config in configs {
        let endpoint = config.endpoint().to_string();
        let endpoint_metrics = metrics.endpoint(&endpoint);
        let consumer = consumer::Consumer::for_endpoint(
            config,
            store,
            endpoint_metrics.clone(),
            Arc::new(Notify::new()),
            None,
        );
        let mut stopped = (!consumer.queue_once(observations).await)
            .then(|| "the store did not take this run's samples".to_string());
        let mut sender = Sender::new(
            endpoint.clone(),
            store.clone(),
            HttpTransport::new(config),
            clock.clone(),
            config.max_backoff,
            endpoint_metrics.clone(),
        );
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, sender.step()).await {
                Ok(Step::Progress) => {}
                Ok(Step::Idle) => break,
                Ok(Step::WaitUntil(_)) => {
                    stopped.get_or_insert_with(|| "the endpoint is unavailable".to_string());
                    break;
                }
                Err(_) => {
                    stopped.get_or_insert_with(|| format!("not done within {within:?}"));
                    break;
                }
            }
        }
        let figures = endpoint_metrics.figures();
        reports.push(PushReport {
            samples_queued: store
                .rw_queued(&endpoint)
                .await
                .unwrap_or(figures.samples_queued),
            endpoint,
            samples_sent: figures.samples_sent,
            samples_failed: figures.samples_failed,
            stopped,
        });
    }
    reports
}

/// The running consumers and senders of every endpoint.
pub struct RemoteWrite {
    consumers: Vec<Task>,
    senders: Vec<Task>,
    computed: Option<Arc<MetricsPage>>,
    /// Each new consumer's wake-up, waiting for its sender (`start_sending`).
    wakes: Vec<Arc<Notify>>,
}

impl RemoteWrite {
    /// Starts one consumer and one sender per endpoint. Queues left in the store by
    /// endpoints no longer configured are deleted (logged, with their sample counts).
    pub async fn start(
        configs: &[RemoteWriteConfig],
        store: &Store,
        bus: &Bus,
        clock: &SharedClock,
        metrics: &Arc<RemoteWriteMetrics>,
        computed: Option<Arc<MetricsPage>>,
    ) -> RemoteWrite {
        let mut running = RemoteWrite {
            consumers: Vec::new(),
            senders: Vec::new(),
            computed,
            wakes: Vec::new(),
        };
        running.start_collecting(configs, store, bus, metrics).await;
        running.start_sending(configs, store, clock, metrics);
        running
    }

    /// A reload with changed `[[remote_write]]`, first step, while the probes are stopped:
    /// the old consumers queue what was published, then the new ones subscribe, so no sample
    /// is lost or queued twice. Queues of removed endpoints are deleted.
    pub async fn switch_collecting(
        &mut self,
        configs: &[RemoteWriteConfig],
        store: &Store,
        bus: &Bus,
        metrics: &Arc<RemoteWriteMetrics>,
    ) {
        self.stop_collecting().await;
        self.start_collecting(configs, store, bus, metrics).await;
    }

    /// Second step, with the probes running again: the old senders finish a request in
    /// flight (or leave its batch queued), then the new ones drain the queues, kept ones
    /// included.
    pub async fn switch_sending(
        &mut self,
        configs: &[RemoteWriteConfig],
        store: &Store,
        clock: &SharedClock,
        metrics: &Arc<RemoteWriteMetrics>,
    ) {
        for task in self.senders.drain(..) {
            task.stop(Some(STOP_GRACE)).await;
        }
        self.start_sending(configs, store, clock, metrics);
    }

    async fn start_collecting(
        &mut self,
        configs: &[RemoteWriteConfig],
        store: &Store,
        bus: &Bus,
        metrics: &Arc<RemoteWriteMetrics>,
    ) {
        let endpoints = forget_removed_endpoints(configs, store).await;
        metrics.retain(&endpoints);
        self.wakes.clear();
        for config in configs {
            let wake = Arc::new(Notify::new());
            let consumer = consumer::Consumer::for_endpoint(
                config,
                store,
                metrics.endpoint(config.endpoint()),
                wake.clone(),
                self.computed.clone(),
            );
            let (stop, stop_rx) = watch::channel(false);
            self.consumers.push(Task {
                stop,
                handle: tokio::spawn(consumer.run(bus.subscribe(), stop_rx)),
            });
            self.wakes.push(wake);
        }
    }

    fn start_sending(
        &mut self,
        configs: &[RemoteWriteConfig],
        store: &Store,
        clock: &SharedClock,
        metrics: &Arc<RemoteWriteMetrics>,
    ) {
        for (config, wake) in configs.iter().zip(self.wakes.drain(..)) {
            let endpoint = config.endpoint().to_string();
            let sender = Sender::new(
                endpoint.clone(),
                store.clone(),
                HttpTransport::new(config),
                clock.clone(),
                config.max_backoff,
                metrics.endpoint(&endpoint),
            );
            let (stop, stop_rx) = watch::channel(false);
            self.senders.push(Task {
                stop,
                handle: tokio::spawn(sender.run(wake, stop_rx)),
            });
            tracing::info!(%endpoint, batch_size = config.batch_size, "remote write started");
        }
    }

    /// Stops the consumers after they queued everything already published; call once the
    /// probes are stopped.
    pub async fn stop_collecting(&mut self) {
        for task in self.consumers.drain(..) {
            task.stop(None).await;
        }
    }

    /// Stops everything; a request in flight gets a few seconds to finish. What is not sent
    /// stays queued for the next start.
    pub async fn stop(mut self) {
        self.stop_collecting().await;
        for task in self.senders.drain(..) {
            task.stop(Some(STOP_GRACE)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::model::{Observation, Sample, SeriesKey};
    use crate::store::StoreOptions;

    fn observation(at_ms: i64, series: usize) -> Observation {
        Observation {
            source: "system".into(),
            at_ms,
            samples: (0..series)
                .map(|n| Sample {
                    series: Arc::new(SeriesKey::new("load1").with("n", n.to_string())),
                    value: n as f64,
                })
                .collect(),
            checks: Vec::new(),
        }
    }

    /// Everything published before the stop is queued, in batches of at most batch_size,
    /// as valid remote-write bodies; samples of one series stay in time order across them.
    #[tokio::test]
    async fn the_consumer_queues_every_published_sample_in_bounded_batches() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default(), ManualClock::new(0))
            .await
            .unwrap();
        let bus = Bus::new(64);
        let metrics = Arc::new(EndpointMetrics::default());
        let consumer = consumer::Consumer {
            endpoint: "prom".into(),
            shaping: Shaping::default(),
            batch_size: 7,
            flush_interval: Duration::from_secs(3600),
            max_queued_samples: 1_000,
            store: store.clone(),
            metrics: metrics.clone(),
            wake: Arc::new(Notify::new()),
            computed: None,
        };
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(consumer.run(bus.subscribe(), stop_rx));
        for tick in 0..4 {
            bus.publish_observation(observation(1_000 * (tick + 1), 5));
        }
        let _ = stop.send(true);
        task.await.unwrap();
        assert_eq!(store.rw_queued("prom").await.unwrap(), 20);
        assert_eq!(metrics.figures().samples_queued, 20);
        let mut sizes = Vec::new();
        let mut seen: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
        while let Some(batch) = store.rw_oldest("prom").await.unwrap() {
            let request = proto::decode(&batch.body).unwrap();
            let count: usize = request.timeseries.iter().map(|s| s.samples.len()).sum();
            assert_eq!(count as u64, batch.samples);
            sizes.push(count);
            for series in request.timeseries {
                let n = series.labels.iter().find(|l| l.name == "n").unwrap();
                seen.entry(n.value.clone())
                    .or_default()
                    .extend(series.samples.iter().map(|s| s.timestamp));
            }
            store.rw_remove(batch.id).await.unwrap();
        }
        assert_eq!(sizes, [7, 7, 6]);
        for times in seen.values() {
            assert_eq!(times, &[1_000, 2_000, 3_000, 4_000]);
        }
    }
}
