//! The bus consumers of the daemon: the store writer and the snapshot updater.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::bus::{Bus, Subscription};
use crate::exporter::{SelfMetrics, Snapshot};
use crate::model::BusMessage;
use crate::store::Store;

/// How often the store seals, rolls up and applies retention.
const MAINTAIN_EVERY: Duration = Duration::from_secs(60);

/// How long a series stays in the snapshot (and on /metrics) after its last sample: an
/// unmounted filesystem or a removed check must not be served forever, but a slow check must
/// not blink out between its runs: 5 minutes, or three intervals of the slowest probe.
pub fn stale_after(config: &crate::config::Config) -> Duration {
    let slowest = config
        .checks
        .iter()
        .map(|c| c.interval)
        .chain([config.system.interval])
        .max()
        .unwrap_or_default();
    (slowest * 3).max(Duration::from_secs(300))
}

/// Keeps the snapshot current and turns status changes into events on the bus; every minute
/// forgets series not reported for `stale_after`.
/// Ends, after taking in everything already published, when `stop` flips to true.
pub async fn update_snapshot(
    mut subscription: Subscription,
    snapshot: Arc<Snapshot>,
    bus: Bus,
    clock: crate::clock::SharedClock,
    stale_after: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut sweep = tokio::time::interval(Duration::from_secs(60));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let apply = |message: BusMessage| {
        if let BusMessage::Observation(observation) = message {
            for change in snapshot.apply(&observation) {
                tracing::info!(
                    check = %change.check,
                    from = change.from.map_or("new", |s| s.as_str()),
                    to = %change.to,
                    detail = crate::logs::without_matched_line(&change.detail),
                    "check status changed"
                );
                bus.publish_event(change.to_event());
            }
        }
    };
    loop {
        tokio::select! {
            message = subscription.recv() => match message {
                Some(message) => apply(message),
                None => return,
            },
            _ = sweep.tick() => {
                snapshot.forget_older_than(clock.now_ms() - stale_after.as_millis() as i64);
            }
            _ = stopped(&mut stop) => {
                while let Some(message) = subscription.try_recv() {
                    apply(message);
                }
                return;
            }
        }
    }
}

/// Buffers samples into the store; flushes every `flush_interval` and maintains every minute in
/// tasks of their own, so that taking from the bus never waits behind a flush or the hourly
/// seal (a receiver publishing 15,000 samples a second would otherwise stall for as long).
/// On `stop`, drains the bus and flushes once more, so nothing published is lost.
pub async fn write_store(
    mut subscription: Subscription,
    store: Store,
    snapshot: Arc<Snapshot>,
    flush_interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let metrics = &snapshot.self_metrics;
    let flusher = tokio::spawn(flush_every(
        store.clone(),
        snapshot.clone(),
        flush_interval,
        stop.clone(),
    ));
    let maintainer = tokio::spawn(maintain_every(
        store.clone(),
        snapshot.clone(),
        stop.clone(),
    ));
    loop {
        tokio::select! {
            message = subscription.recv() => match message {
                Some(message) => take(&store, metrics, message).await,
                None => break,
            },
            _ = stopped(&mut stop) => break,
        }
    }
    while let Some(message) = subscription.try_recv() {
        take(&store, metrics, message).await;
    }
    // Both end at `stop`: a maintenance under way finishes its transaction first.
    let _ = flusher.await;
    let _ = maintainer.await;
    flush(&store, metrics).await;
}

async fn flush_every(
    store: Store,
    snapshot: Arc<Snapshot>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut timer = tokio::time::interval(every);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = timer.tick() => flush(&store, &snapshot.self_metrics).await,
            _ = stopped(&mut stop) => return,
        }
    }
}

async fn maintain_every(store: Store, snapshot: Arc<Snapshot>, mut stop: watch::Receiver<bool>) {
    let mut timer = tokio::time::interval(MAINTAIN_EVERY);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = timer.tick() => {
                if let Err(error) = store.maintain().await {
                    SelfMetrics::inc(&snapshot.self_metrics.store_errors_total);
                    tracing::error!(%error, "store maintenance failed; will retry");
                }
            }
            _ = stopped(&mut stop) => return,
        }
    }
}

/// Resolves once `stop` is true (or its sender is gone); the guard never crosses an await.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn take(store: &Store, metrics: &SelfMetrics, message: BusMessage) {
    SelfMetrics::inc(&metrics.store_writer_taken_total);
    match message {
        BusMessage::Observation(observation) => store.ingest(&observation),
        BusMessage::Event(event) => {
            if let Err(error) = store.record_event(&event).await {
                SelfMetrics::inc(&metrics.store_errors_total);
                tracing::error!(%error, kind = event.kind.as_str(), "could not record event; kept in memory for the next flush");
            }
        }
    }
}

async fn flush(store: &Store, metrics: &SelfMetrics) {
    match store.flush().await {
        Ok(_) => SelfMetrics::inc(&metrics.store_flushes_total),
        Err(error) => {
            SelfMetrics::inc(&metrics.store_errors_total);
            tracing::error!(%error, "store flush failed; samples stay buffered and are retried");
        }
    }
}
