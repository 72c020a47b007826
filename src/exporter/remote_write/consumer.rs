//! The bus consumer of one endpoint: turns observations into samples (`batch::samples_of`),
//! cuts them into batches and queues them in the store: a full batch at once, the rest every
//! `flush_interval` (the most a crash can lose), everything left at a graceful stop. Each
//! write wakes the sender.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::batch::{Batch, Batcher, Shaping, computed_samples_of, samples_of};
use super::metrics::EndpointMetrics;
use crate::bus::Subscription;
use crate::model::BusMessage;
use crate::store::{NewBatch, Store};

pub struct Consumer {
    pub endpoint: String,
    pub shaping: Shaping,
    pub batch_size: usize,
    pub flush_interval: Duration,
    pub max_queued_samples: u64,
    pub store: Store,
    pub metrics: Arc<EndpointMetrics>,
    pub wake: Arc<Notify>,
    /// The page whose families computed at render time (alerts, maintenance, Lookout's own
    /// counters) are sampled at each flush, so a Prometheus fed only by remote write gets them
    /// too; `None` in cron mode and in tests about observations only.
    pub computed: Option<Arc<crate::exporter::MetricsPage>>,
}

impl Consumer {
    /// The consumer of `config`'s endpoint.
    pub fn for_endpoint(
        config: &crate::config::RemoteWriteConfig,
        store: &Store,
        metrics: Arc<EndpointMetrics>,
        wake: Arc<Notify>,
        computed: Option<Arc<crate::exporter::MetricsPage>>,
    ) -> Consumer {
        Consumer {
            endpoint: config.endpoint().to_string(),
            shaping: Shaping {
                labels: config.labels.clone(),
                name_prefixes: config.name_prefixes.clone(),
            },
            batch_size: config.batch_size,
            flush_interval: config.flush_interval,
            max_queued_samples: config.max_queued_samples,
            store: store.clone(),
            metrics,
            wake,
            computed,
        }
    }

    /// Runs until `stop`, then takes in what is already on the bus and queues everything.
    pub async fn run(self, mut subscription: Subscription, mut stop: watch::Receiver<bool>) {
        let mut batcher = Batcher::new(self.batch_size);
        // Encoded batches the store could not take yet (it is retried at the next flush).
        let mut unsaved: Vec<NewBatch> = Vec::new();
        let mut timer = tokio::time::interval(self.flush_interval);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        timer.tick().await;
        loop {
            tokio::select! {
                message = subscription.recv() => match message {
                    Some(message) => {
                        self.take(&mut batcher, &message);
                        if batcher.has_full() {
                            let full = batcher.take_full();
                            self.queue(&mut unsaved, full).await;
                        }
                    }
                    None => break,
                },
                _ = timer.tick() => {
                    if let Some(computed) = &self.computed {
                        let (at_ms, samples) = computed.computed_samples();
                        for sample in computed_samples_of(&samples, at_ms, &self.shaping) {
                            batcher.push(sample);
                        }
                    }
                    let all = batcher.take_all();
                    self.queue(&mut unsaved, all).await;
                }
                _ = super::stopped(&mut stop) => break,
            }
        }
        while let Some(message) = subscription.try_recv() {
            self.take(&mut batcher, &message);
        }
        let all = batcher.take_all();
        self.queue(&mut unsaved, all).await;
        if !unsaved.is_empty() {
            let samples: u64 = unsaved.iter().map(|b| b.samples).sum();
            EndpointMetrics::add(&self.metrics.samples_dropped, samples);
            tracing::error!(endpoint = %self.endpoint, samples, "remote write: samples lost at stop, the store did not take them");
        }
    }

    fn take(&self, batcher: &mut Batcher, message: &BusMessage) {
        if let BusMessage::Observation(observation) = message {
            for sample in samples_of(observation, &self.shaping) {
                batcher.push(sample);
            }
        }
    }

    /// Cron mode: queues the samples of `observations` at once; false when the store refused
    /// them (logged).
    pub async fn queue_once(&self, observations: &[crate::model::Observation]) -> bool {
        let mut batcher = Batcher::new(self.batch_size);
        for observation in observations {
            for sample in samples_of(observation, &self.shaping) {
                batcher.push(sample);
            }
        }
        let mut unsaved = Vec::new();
        self.queue(&mut unsaved, batcher.take_all()).await;
        unsaved.is_empty()
    }

    /// Encodes `batches` and appends them (after any the store refused before) to the queue.
    async fn queue(&self, unsaved: &mut Vec<NewBatch>, batches: Vec<Batch>) {
        unsaved.extend(batches.iter().map(|batch| {
            let (first_ms, last_ms) = batch.span_ms();
            NewBatch {
                first_ms,
                last_ms,
                samples: batch.len() as u64,
                body: batch.encode(),
            }
        }));
        if unsaved.is_empty() {
            return;
        }
        match self
            .store
            .rw_append(&self.endpoint, unsaved, self.max_queued_samples)
            .await
        {
            Ok(state) => {
                unsaved.clear();
                self.metrics
                    .samples_queued
                    .store(state.queued, Ordering::Relaxed);
                if state.dropped > 0 {
                    EndpointMetrics::add(&self.metrics.samples_dropped, state.dropped);
                    tracing::warn!(
                        endpoint = %self.endpoint,
                        dropped = state.dropped,
                        max_queued_samples = self.max_queued_samples,
                        "remote write queue full; the oldest samples were dropped"
                    );
                }
                self.wake.notify_one();
            }
            Err(error) => {
                // Bounded like the queue: past the cap, the oldest unsaved batches go.
                let mut held: u64 = unsaved.iter().map(|b| b.samples).sum();
                let mut dropped = 0;
                while held > self.max_queued_samples && unsaved.len() > 1 {
                    let oldest = unsaved.remove(0);
                    held -= oldest.samples;
                    dropped += oldest.samples;
                }
                EndpointMetrics::add(&self.metrics.samples_dropped, dropped);
                tracing::error!(
                    endpoint = %self.endpoint,
                    %error,
                    held,
                    dropped,
                    "remote write: cannot queue samples in the store; kept in memory and retried"
                );
            }
        }
    }
}
