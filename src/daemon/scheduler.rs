//! Runs each probe on its own interval and publishes what it observes on the bus. Ticks are
//! aligned to the wall clock plus a per-probe offset derived from the probe's name, so a
//! thousand checks with the same interval are spread over it instead of all firing at :00
//! (as Prometheus spreads its scrapes), and each probe keeps the same phase across restarts.
//! A probe that overruns its interval skips the ticks it missed instead of piling up runs.
//! The first run is immediate. How late each run starts is recorded in `MillisHistogram`.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::bus::Bus;
use crate::clock::{SharedClock, UnixMillis};
use crate::exporter::MillisHistogram;
use crate::maintenance::MaintenanceMute;
use crate::probes::Probe;

/// The next tick strictly after `now_ms` for a probe running every `interval_ms`, shifted
/// by `offset_ms` (taken modulo the interval).
pub fn next_tick(now_ms: UnixMillis, interval_ms: i64, offset_ms: i64) -> UnixMillis {
    let interval_ms = interval_ms.max(1);
    let offset_ms = offset_ms.rem_euclid(interval_ms);
    ((now_ms - offset_ms).div_euclid(interval_ms) + 1) * interval_ms + offset_ms
}

/// A stable phase in `0..interval_ms` from the probe's name (FNV-1a: stable across builds,
/// unlike the std hasher).
pub fn phase_offset(name: &str, interval_ms: i64) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % interval_ms.max(1) as u64) as i64
}

/// The running probe tasks; dropping it does not stop them, `stop` does.
pub struct Scheduler {
    tasks: Vec<JoinHandle<()>>,
}

impl Scheduler {
    pub fn start(
        probes: Vec<Box<dyn Probe>>,
        bus: &Bus,
        clock: &SharedClock,
        lateness: &Arc<MillisHistogram>,
        durations: &Arc<MillisHistogram>,
        maintenance: &MaintenanceMute,
    ) -> Scheduler {
        let tasks = probes
            .into_iter()
            .map(|probe| {
                tokio::spawn(run_probe(
                    probe,
                    bus.clone(),
                    clock.clone(),
                    lateness.clone(),
                    durations.clone(),
                    maintenance.clone(),
                ))
            })
            .collect();
        Scheduler { tasks }
    }

    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

async fn run_probe(
    mut probe: Box<dyn Probe>,
    bus: Bus,
    clock: SharedClock,
    lateness: Arc<MillisHistogram>,
    durations: Arc<MillisHistogram>,
    maintenance: MaintenanceMute,
) {
    let interval_ms = probe.interval().as_millis().max(1) as i64;
    let offset_ms = phase_offset(probe.name(), interval_ms);
    // The first run happens at once, so a fresh start shows data immediately; later runs
    // land on their ticks.
    let mut tick = clock.now_ms();
    loop {
        let started = std::time::Instant::now();
        let mut observation = probe.run(tick).await;
        durations.record(started.elapsed().as_millis() as u64);
        maintenance.mark(&mut observation);
        tracing::debug!(
            probe = probe.name(),
            samples = observation.samples.len(),
            checks = observation.checks.len(),
            "probe ran"
        );
        bus.publish_observation(observation);
        let now = clock.now_ms();
        tick = next_tick(now, interval_ms, offset_ms);
        tokio::time::sleep(Duration::from_millis((tick - now).max(0) as u64)).await;
        lateness.record((clock.now_ms() - tick).max(0) as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_align_to_the_interval_plus_offset_and_never_repeat() {
        assert_eq!(next_tick(0, 10_000, 0), 10_000);
        assert_eq!(next_tick(9_999, 10_000, 0), 10_000);
        assert_eq!(next_tick(10_000, 10_000, 0), 20_000);
        assert_eq!(next_tick(10_001, 1_000, 0), 11_000);
        assert_eq!(next_tick(5, 0, 0), 6);
        assert_eq!(next_tick(0, 10_000, 3_000), 3_000);
        assert_eq!(next_tick(3_000, 10_000, 3_000), 13_000);
        assert_eq!(
            next_tick(12_999, 10_000, 13_000),
            13_000,
            "offset taken modulo"
        );
    }

    #[test]
    fn offsets_are_stable_and_spread_over_the_interval() {
        assert_eq!(phase_offset("app", 10_000), phase_offset("app", 10_000));
        let offsets: std::collections::BTreeSet<i64> = (0..1000)
            .map(|i| phase_offset(&format!("check-{i}"), 10_000) / 1000)
            .collect();
        assert_eq!(
            offsets.len(),
            10,
            "every second of the interval gets checks"
        );
    }

    #[test]
    fn lateness_buckets_are_cumulative() {
        let lateness = MillisHistogram::default();
        for ms in [0, 3, 3, 70, 9_000] {
            lateness.record(ms);
        }
        let (buckets, sum) = lateness.cumulative();
        assert_eq!(buckets[0], (Some(0.001), 1));
        assert_eq!(buckets[1], (Some(0.005), 3));
        assert_eq!(buckets[5], (Some(0.1), 4));
        assert_eq!(buckets.last(), Some(&(None, 5)));
        assert_eq!(sum, 9.076);
    }
}
