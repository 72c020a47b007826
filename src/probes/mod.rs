//! Probes: the sources of the pipeline. Each probe runs on its own interval and turns what it
//! measures into an `Observation` (samples + check results). A probe never returns an error:
//! a target that is down or slow is a check result with a status, not a failure of Lookout.
//!
//! Adding a probe = one file implementing `Probe` + one line in `build_probes`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::clock::UnixMillis;
use crate::config::Config;
use crate::model::Observation;

pub mod checks;
pub mod system;

pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = Observation> + Send + 'a>>;

pub trait Probe: Send {
    /// Stable name, used as the observation's `source`.
    fn name(&self) -> &str;
    /// How often the scheduler runs this probe.
    fn interval(&self) -> Duration;
    /// Measure once, stamping the observation with `at_ms` (the scheduled tick, so that series
    /// from one probe share exact timestamps and compress well).
    fn run(&mut self, at_ms: UnixMillis) -> ProbeFuture<'_>;
}

/// Every probe the config asks for. The one place a new probe kind is registered.
pub fn build_probes(config: &Config) -> Vec<Box<dyn Probe>> {
    let mut probes: Vec<Box<dyn Probe>> = Vec::new();
    if config.system.enabled {
        probes.push(Box::new(system::SystemProbe::new(&config.system)));
    }
    for check in config.checks.iter().filter(|c| c.enabled) {
        probes.push(Box::new(checks::CheckProbe::from_config(check)));
    }
    probes
}
