//! Runs each probe on its own interval, on ticks aligned to the wall clock (a 10 s probe runs
//! at :00, :10, :20 ...), and publishes what it observes on the bus. A probe that overruns its
//! interval skips the ticks it missed instead of piling up runs. The first run is immediate.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::bus::Bus;
use crate::clock::{SharedClock, UnixMillis};
use crate::probes::Probe;

/// The next tick strictly after `now_ms` for a probe running every `interval_ms`.
pub fn next_tick(now_ms: UnixMillis, interval_ms: i64) -> UnixMillis {
    let interval_ms = interval_ms.max(1);
    (now_ms.div_euclid(interval_ms) + 1) * interval_ms
}

/// The running probe tasks; dropping it does not stop them, `stop` does.
pub struct Scheduler {
    tasks: Vec<JoinHandle<()>>,
}

impl Scheduler {
    pub fn start(probes: Vec<Box<dyn Probe>>, bus: &Bus, clock: &SharedClock) -> Scheduler {
        let tasks = probes
            .into_iter()
            .map(|probe| tokio::spawn(run_probe(probe, bus.clone(), clock.clone())))
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

async fn run_probe(mut probe: Box<dyn Probe>, bus: Bus, clock: SharedClock) {
    let interval_ms = probe.interval().as_millis().max(1) as i64;
    // The first run happens at once, so a fresh start shows data immediately; later runs
    // land on aligned ticks.
    let mut tick = clock.now_ms();
    loop {
        let observation = probe.run(tick).await;
        tracing::debug!(
            probe = probe.name(),
            samples = observation.samples.len(),
            checks = observation.checks.len(),
            "probe ran"
        );
        bus.publish_observation(observation);
        let now = clock.now_ms();
        tick = next_tick(now, interval_ms);
        tokio::time::sleep(Duration::from_millis((tick - now).max(0) as u64)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::next_tick;

    #[test]
    fn ticks_align_to_multiples_of_the_interval_and_never_repeat() {
        assert_eq!(next_tick(0, 10_000), 10_000);
        assert_eq!(next_tick(9_999, 10_000), 10_000);
        assert_eq!(next_tick(10_000, 10_000), 20_000);
        assert_eq!(next_tick(10_001, 1_000), 11_000);
        assert_eq!(next_tick(5, 0), 6);
    }
}
