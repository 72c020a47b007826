//! Health checks of the application, its database, Redis and logs (`[[check]]` in the config).
//!
//! A check type implements `Check`: one attempt that returns an `Outcome` (status, one-line
//! reason, headline value, samples), never an error. `CheckProbe` wraps any check into a
//! `Probe` and adds what every type shares: the per-attempt timeout, the immediate retry that
//! confirms a failure (`retries`), the consecutive successes that confirm recovery
//! (`recover_after`), the failed-run ratio over `error_window`, and the common series:
//!
//! | series | labels | meaning |
//! |---|---|---|
//! | `check_up` | `check`, `type` | 1 when the last attempt got an answer that is not critical/unknown |
//! | `check_duration_seconds` | `check` | how long the last attempt took |
//! | `check_error_ratio` | `check` | share of failed runs (critical or unknown) within `error_window` |
//!
//! An attempt that failed for lack of a file descriptor (`EMFILE`/`ENFILE`, seen in its
//! reason) is Lookout's own problem: `Unknown` with "lookout ran out of file descriptors",
//! never `Critical` (`own_fault`).
//!
//! Each type's own series carry a `check` label too (added here). Timeouts are not retried:
//! a target that did not answer within the timeout will not answer a retry sent at once, and
//! retrying would double the time to report it.
//!
//! The types themselves (their keys, their `Check`) are `crate::checks`, one folder each;
//! this module runs any of them.

mod confirm;
mod error_rate;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::checks::{Check, Outcome, Schedule};
use crate::clock::UnixMillis;
use crate::config::CheckConfig;
use crate::model::{CheckResult, Observation, Sample, SeriesKey};
use crate::probes::{Probe, ProbeFuture};

pub use confirm::{Confirmation, Verdict};
pub use error_rate::ErrorWindow;

/// The implementation of a configured check (its type builds it: `crate::checks`).
pub fn build_check(config: &CheckConfig) -> Box<dyn Check> {
    config.kind.build(Schedule {
        interval: config.interval,
        timeout: config.timeout,
    })
}

/// Runs a check with timeout, retry, recovery confirmation and the shared series.
pub struct CheckProbe {
    config: CheckConfig,
    check: Box<dyn Check>,
    confirmation: Confirmation,
    errors: ErrorWindow,
    up: Arc<SeriesKey>,
    duration: Arc<SeriesKey>,
    error_ratio: Arc<SeriesKey>,
}

impl CheckProbe {
    pub fn new(config: CheckConfig, check: Box<dyn Check>) -> CheckProbe {
        let name = config.name.clone();
        CheckProbe {
            confirmation: Confirmation::new(config.recover_after),
            errors: ErrorWindow::new(config.error_window),
            up: Arc::new(
                SeriesKey::new("check_up")
                    .with("check", &name)
                    .with("type", config.kind.type_name()),
            ),
            duration: Arc::new(SeriesKey::new("check_duration_seconds").with("check", &name)),
            error_ratio: Arc::new(SeriesKey::new("check_error_ratio").with("check", &name)),
            config,
            check,
        }
    }

    pub fn from_config(config: &CheckConfig) -> CheckProbe {
        CheckProbe::new(config.clone(), build_check(config))
    }

    /// One attempt bounded by the timeout; a timeout is a critical outcome.
    async fn attempt(&mut self, at_ms: UnixMillis) -> (Outcome, Duration, bool) {
        let started = Instant::now();
        let timeout = self.config.timeout;
        match tokio::time::timeout(timeout, self.check.attempt(at_ms)).await {
            Ok(outcome) => (own_fault(outcome), started.elapsed(), false),
            Err(_) => (
                Outcome::critical(format!(
                    "timeout: no answer within {}",
                    crate::base::units::format_duration(timeout)
                )),
                started.elapsed(),
                true,
            ),
        }
    }

    async fn run_once(&mut self, at_ms: UnixMillis) -> Observation {
        let (mut outcome, mut took, mut timed_out) = self.attempt(at_ms).await;
        let mut retried = 0;
        while retried < self.config.retries
            && !timed_out
            && self.confirmation.should_retry(outcome.status)
        {
            retried += 1;
            (outcome, took, timed_out) = self.attempt(at_ms).await;
        }
        let error_ratio = self.errors.record(at_ms, outcome.failed());
        let verdict = self.confirmation.settle(outcome.status);
        let mut detail = outcome.reason.clone();
        if let Some((done, needed)) = verdict.recovering {
            detail = format!("recovering ({done} of {needed} successful runs): {detail}");
        } else if retried > 0 && outcome.status == verdict.status && outcome.failed() {
            let runs = if retried == 1 { "retry" } else { "retries" };
            detail = format!("{detail} (confirmed by {retried} {runs})");
        }

        let mut samples = Vec::with_capacity(outcome.samples.len() + 3);
        samples.push(Sample {
            series: self.up.clone(),
            value: if outcome.failed() { 0.0 } else { 1.0 },
        });
        samples.push(Sample {
            series: self.duration.clone(),
            value: took.as_secs_f64(),
        });
        samples.push(Sample {
            series: self.error_ratio.clone(),
            value: error_ratio,
        });
        for (series, value) in outcome.samples {
            samples.push(Sample {
                series: Arc::new(series.with("check", &self.config.name)),
                value,
            });
        }
        Observation {
            source: format!("check:{}", self.config.name),
            at_ms,
            samples,
            checks: vec![CheckResult {
                underlying: None,
                check: self.config.name.clone(),
                layer: self.config.layer,
                status: verdict.status,
                value: outcome.value,
                detail,
                at_ms,
            }],
        }
    }
}

/// An attempt that failed because Lookout had no file descriptor left (a socket, a file, the
/// resolver's) found nothing about the target: it is Unknown and says so, never Critical, and
/// is counted for `lookout:self` (`fds`). Every check type reports its I/O errors in its
/// reason, so this one place covers them all (HTTP, Prometheus, TCP, SQL, Redis, log).
fn own_fault(outcome: Outcome) -> Outcome {
    if outcome.failed() && crate::fds::mentions_exhaustion(&outcome.reason) {
        crate::fds::record_exhaustion();
        Outcome::unknown(crate::fds::spoiled_detail(&outcome.reason))
    } else {
        outcome
    }
}

impl Probe for CheckProbe {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    fn run(&mut self, at_ms: UnixMillis) -> ProbeFuture<'_> {
        Box::pin(self.run_once(at_ms))
    }
}

#[cfg(test)]
mod tests;
