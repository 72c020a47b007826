//! Whether the pipeline moves: the one verdict behind `/healthz` and the systemd watchdog.
//!
//! A task (`spawn`) judges every tick (1 s, or half the systemd watchdog interval when that is
//! shorter) from counters the pipeline keeps anyway: probe results reaching the snapshot
//! (`observations_total`), messages taken by the store writer and by the alert loop, and the
//! store's `WriteHealth`. `Monitor::judge` (pure, time as `now`) says:
//!
//! - **Stuck** when a bus consumer has taken nothing for three system intervals plus the
//!   store's busy timeout (the self probe publishes every system interval, so each consumer
//!   always has something to take): the daemon no longer works. The watchdog is not fed, so
//!   systemd (`WatchdogSec=`, `Restart=on-failure`) restarts it.
//! - **Degraded** when the store has not taken a write for three flush intervals plus the
//!   busy timeout (a full or read-only disk): the pipeline still moves (alerts go out from
//!   memory, samples wait in a bounded buffer), so the watchdog is still fed, since a restart
//!   cannot give the disk space back, but `/healthz` answers 503 with the reason.
//! - **Healthy** otherwise.
//!
//! The verdict is published in `SelfMetrics::health`, with the store's buffer and the held
//! notices as gauges for /metrics, so `/healthz` only reads it (no store access, no lock held
//! while rendering).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::{SharedClock, UnixMillis};
use crate::config::Config;
use crate::exporter::Snapshot;
pub use crate::exporter::health::{Published, Verdict};
use crate::notify::held::HeldOutbox;
use crate::store::{BUSY_TIMEOUT, Store, WriteHealth};

use super::systemd::Systemd;

/// The longest pause between two judgements.
const TICK: Duration = Duration::from_secs(1);

/// Counters that grow while the pipeline moves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Probe results applied to the snapshot.
    pub observations: u64,
    /// Messages the store writer took from the bus.
    pub stored: u64,
    /// Messages the alert loop took from the bus.
    pub alerted: u64,
}

/// How long each part may stand still.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub consumers_ms: i64,
    pub store_ms: i64,
}

impl Bounds {
    pub fn new(config: &Config) -> Bounds {
        let busy = BUSY_TIMEOUT.as_millis() as i64;
        Bounds {
            consumers_ms: 3 * config.system.interval.as_millis() as i64 + busy,
            store_ms: 3 * config.storage.flush_interval.as_millis() as i64 + busy,
        }
    }
}

/// When each counter last grew.
#[derive(Debug, Clone)]
pub struct Monitor {
    /// (value, since) for observations, stored, alerted.
    last: [(u64, UnixMillis); 3],
}

impl Monitor {
    /// Counting from `now_ms`: a fresh start is healthy until the counters had time to move.
    pub fn new(now_ms: UnixMillis) -> Monitor {
        Monitor {
            last: [(0, now_ms); 3],
        }
    }

    pub fn judge(
        &mut self,
        now_ms: UnixMillis,
        bounds: Bounds,
        progress: Progress,
        store: &WriteHealth,
    ) -> Verdict {
        let values = [progress.observations, progress.stored, progress.alerted];
        for ((last, since), value) in self.last.iter_mut().zip(values) {
            if value != *last {
                *last = value;
                *since = now_ms;
            }
        }
        let still = |since: UnixMillis| {
            humantime::format_duration(Duration::from_secs(
                (now_ms.saturating_sub(since).max(0) / 1000) as u64,
            ))
        };
        let parts = [
            "no probe result has reached the pipeline",
            "the store writer has taken nothing from the bus",
            "the alert loop has taken nothing from the bus",
        ];
        for ((_, since), part) in self.last.iter().zip(parts) {
            if now_ms.saturating_sub(*since) > bounds.consumers_ms {
                return Verdict::Stuck(format!("{part} for {}", still(*since)));
            }
        }
        if let Some(since) = store.failing_since_ms
            && now_ms.saturating_sub(since) > bounds.store_ms
        {
            return Verdict::Degraded(format!(
                "store cannot write: {} for {}; {} samples kept in memory ({} dropped so far)",
                store.reason,
                still(since),
                store.buffered_samples,
                store.dropped_samples
            ));
        }
        Verdict::Healthy
    }
}

/// How often to judge: every second, or half the watchdog interval if that is shorter.
fn tick(systemd: &Systemd) -> Duration {
    systemd.watchdog().map_or(TICK, |every| every.min(TICK))
}

/// Judges every tick, publishes the verdict and the gauges, feeds the watchdog while the
/// pipeline moves, and logs each change of verdict. `bounds` follows reloads.
pub fn spawn(
    snapshot: Arc<Snapshot>,
    store: Store,
    held: Arc<HeldOutbox>,
    clock: SharedClock,
    systemd: Arc<Systemd>,
    bounds: watch::Receiver<Bounds>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let metrics = &snapshot.self_metrics;
        let mut monitor = Monitor::new(clock.now_ms());
        let mut every = tokio::time::interval(tick(&systemd));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut previous = Verdict::Healthy;
        loop {
            every.tick().await;
            let store_health = store.write_health();
            metrics
                .store_buffered_samples
                .store(store_health.buffered_samples, Ordering::Relaxed);
            metrics
                .store_dropped_samples
                .store(store_health.dropped_samples, Ordering::Relaxed);
            metrics
                .notices_held
                .store(held.len() as u64, Ordering::Relaxed);
            metrics
                .notices_held_dropped
                .store(held.dropped(), Ordering::Relaxed);
            let progress = Progress {
                observations: metrics.observations_total.load(Ordering::Relaxed),
                stored: metrics.store_writer_taken_total.load(Ordering::Relaxed),
                alerted: metrics.alert_loop_taken_total.load(Ordering::Relaxed),
            };
            let verdict = monitor.judge(clock.now_ms(), *bounds.borrow(), progress, &store_health);
            if verdict.feeds_watchdog() && systemd.watchdog().is_some() {
                systemd.ping();
            }
            if std::mem::discriminant(&verdict) != std::mem::discriminant(&previous) {
                match &verdict {
                    Verdict::Healthy => tracing::info!("pipeline healthy again"),
                    Verdict::Degraded(why) => {
                        tracing::error!(reason = %why, "pipeline degraded: /healthz answers 503")
                    }
                    Verdict::Stuck(why) => tracing::error!(
                        reason = %why,
                        "pipeline stuck: /healthz answers 503 and the systemd watchdog is no longer fed"
                    ),
                }
            }
            previous = verdict.clone();
            metrics.health.set(verdict);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000;

    fn failing(since: Option<UnixMillis>) -> WriteHealth {
        WriteHealth {
            failing_since_ms: since,
            reason: "disk full".into(),
            buffered_samples: 120,
            dropped_samples: 3,
            ..WriteHealth::default()
        }
    }

    #[test]
    fn healthy_degraded_and_stuck_over_time() {
        // system.interval 10 s, flush_interval 10 s: each part may stand still 35 s.
        let bounds = Bounds::new(&crate::config::embedded_default());
        assert_eq!(
            bounds,
            Bounds {
                consumers_ms: 35 * S,
                store_ms: 35 * S
            }
        );
        let p = |o, s, a| Progress {
            observations: o,
            stored: s,
            alerted: a,
        };
        let mut monitor = Monitor::new(0);
        // (at, progress, store failing since, verdict)
        let steps: Vec<(i64, Progress, Option<i64>, Verdict)> = vec![
            (0, p(0, 0, 0), None, Verdict::Healthy),
            (35 * S, p(0, 0, 0), None, Verdict::Healthy),
            (36 * S, p(1, 1, 1), None, Verdict::Healthy),
            // The disk fills at 40 s: degraded only past the bound.
            (50 * S, p(2, 2, 2), Some(40 * S), Verdict::Healthy),
            (
                76 * S,
                p(3, 3, 3),
                Some(40 * S),
                Verdict::Degraded(
                    "store cannot write: disk full for 36s; 120 samples kept in memory (3 dropped so far)"
                        .into(),
                ),
            ),
            // Space is back: healthy at once.
            (77 * S, p(4, 4, 4), None, Verdict::Healthy),
            // The alert loop stops taking messages: stuck after the bound.
            (100 * S, p(5, 5, 4), None, Verdict::Healthy),
            (
                113 * S,
                p(6, 6, 4),
                None,
                Verdict::Stuck("the alert loop has taken nothing from the bus for 36s".into()),
            ),
            // Nothing reaches the pipeline at all: the first part is named; stuck beats degraded.
            (
                200 * S,
                p(6, 6, 4),
                Some(150 * S),
                Verdict::Stuck("no probe result has reached the pipeline for 1m 27s".into()),
            ),
        ];
        for (at, progress, since, expected) in steps {
            assert_eq!(
                monitor.judge(at, bounds, progress, &failing(since)),
                expected,
                "at {at} ms"
            );
        }
    }

    #[test]
    fn only_a_stuck_pipeline_starves_the_watchdog() {
        assert!(Verdict::Healthy.feeds_watchdog());
        assert!(Verdict::Degraded("disk full".into()).feeds_watchdog());
        assert!(!Verdict::Stuck("no probe".into()).feeds_watchdog());
        assert_eq!(Verdict::Healthy.reason(), None);
        assert_eq!(Verdict::Stuck("x".into()).reason(), Some("x"));
    }
}
