//! The self probe: Lookout's own health as samples and one check result, every
//! `system.interval`, so that the alert engine watches the watcher with the same rules as
//! everything else (the built-in `collection_late`, `store_errors`, `outbox_backlog` and
//! `outbox_stuck`, overridable by name). It runs only in the daemon (`lookout serve`): it reads
//! the pipeline's counters (`exporter::SelfMetrics`, the lateness histogram) and the outbox.
//!
//! | series | what |
//! |---|---|
//! | `self_schedule_late_ratio` | share of the probe and check runs started since the previous self run that started more than 1 s after their tick |
//! | `self_store_errors_per_minute` | failed store operations in the last minute |
//! | `self_outbox_pending` | outbox rows that are due and not delivered |
//! | `self_outbox_oldest_seconds` | how long the oldest of those has been due (0: none) |
//! | `self_fd_exhausted_per_minute` | probe runs and reads that could not get a file descriptor in the last minute (`fds`) |
//!
//! The check result `lookout:self` (layer system) is the worst of the first four against the
//! levels of those rules (instantly, without their `for`), with every figure in its detail. A
//! rule that is disabled does not count. Running out of file descriptors makes it critical
//! at once, with advice: the probes concerned said "unknown", not what they watch.
//!
//! The check result `lookout:store` (layer system) tells whether the store takes writes
//! (`Store::write_health`): critical once writes have failed for a flush interval, the detail
//! saying why ("store cannot write: disk full; ..."); the built-in `store_unwritable` rule
//! turns it into a notice to the operator, delivered from memory if need be.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::alert::Thresholds;
use crate::alert::render::format_value;
use crate::clock::UnixMillis;
use crate::config::watch::{
    SELF_CHECK, SELF_OUTBOX_OLDEST, SELF_OUTBOX_PENDING, SELF_SCHEDULE_LATE, SELF_STORE_ERRORS,
    STORE_CHECK,
};
use crate::config::{Config, RuleConfig, RuleSource, ValueUnit};
use crate::exporter::Snapshot;
use crate::fds::OUT_OF_DESCRIPTORS;
use crate::model::{CheckResult, Layer, Observation, Sample, SeriesKey, Status};
use crate::probes::{Probe, ProbeFuture};
use crate::store::{Store, WriteHealth};

/// The series of probe runs and reads that found no file descriptor.
pub const SELF_FD_EXHAUSTED: &str = "self_fd_exhausted_per_minute";

/// A run starting later than this after its tick is late.
const LATE_MS: f64 = 1000.0;
/// The window of `self_store_errors_per_minute`.
const ERROR_WINDOW_MS: i64 = 60_000;

/// One reading of the lateness histogram: runs in total, and of those, runs at most 1 s late.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Runs {
    pub total: u64,
    pub on_time: u64,
}

/// The share of the runs between two readings that were late (0 when there were none).
pub fn late_ratio(before: Runs, now: Runs) -> f64 {
    let runs = now.total.saturating_sub(before.total);
    if runs == 0 {
        return 0.0;
    }
    let on_time = now.on_time.saturating_sub(before.on_time);
    runs.saturating_sub(on_time) as f64 / runs as f64
}

/// Readings of a counter, to tell how much it grew over the last minute.
#[derive(Debug, Clone)]
pub struct Window {
    /// (when, counter); the first is the newest reading at least a window old (the baseline).
    readings: VecDeque<(UnixMillis, u64)>,
}

impl Default for Window {
    /// The counter starts at 0 with the process, before any reading.
    fn default() -> Window {
        Window::starting_at(0)
    }
}

impl Window {
    /// Counting from `counter`, its value now: a probe made again by a reload does not count
    /// again what happened before it.
    pub fn starting_at(counter: u64) -> Window {
        Window {
            readings: VecDeque::from([(UnixMillis::MIN, counter)]),
        }
    }

    /// Records `counter` at `at_ms`; returns its growth over the last minute.
    pub fn push(&mut self, at_ms: UnixMillis, counter: u64) -> u64 {
        self.readings.push_back((at_ms, counter));
        while self
            .readings
            .get(1)
            .is_some_and(|(at, _)| *at <= at_ms - ERROR_WINDOW_MS)
        {
            self.readings.pop_front();
        }
        counter.saturating_sub(self.readings.front().map_or(0, |(_, c)| *c))
    }
}

/// What one self run found.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub late_ratio: f64,
    pub store_errors: u64,
    /// `None` when the outbox could not be read.
    pub outbox: Option<(u64, f64)>,
    /// Probe runs and reads that found no file descriptor, in the last minute.
    pub fd_exhausted: u64,
}

/// The rules whose levels give `lookout:self` its status: by name, enabled ones only.
#[derive(Debug, Clone, Default)]
pub struct Levels {
    late: Option<Thresholds>,
    store: Option<Thresholds>,
    backlog: Option<Thresholds>,
    stuck: Option<Thresholds>,
}

impl Levels {
    pub fn from_rules(rules: &[RuleConfig]) -> Levels {
        let find = |series: &str| {
            rules
                .iter()
                .filter(|r| r.enabled)
                .find(|r| matches!(&r.source, RuleSource::Metric { name, rate: None, .. } if name == series))
                .map(|r| Thresholds {
                    comparison: r.comparison,
                    warning: r.warning,
                    critical: r.critical,
                    warning_clear: None,
                    critical_clear: None,
                })
        };
        Levels {
            late: find(SELF_SCHEDULE_LATE),
            store: find(SELF_STORE_ERRORS),
            backlog: find(SELF_OUTBOX_PENDING),
            stuck: find(SELF_OUTBOX_OLDEST),
        }
    }
}

/// The status of `lookout:self` and its one-line detail.
pub fn assess(figures: &Figures, levels: &Levels) -> (Status, String) {
    let level = |thresholds: &Option<Thresholds>, value: f64| match thresholds
        .as_ref()
        .and_then(|t| t.classify(value, None))
    {
        Some(crate::alert::Severity::Critical) => Status::Critical,
        Some(_) => Status::Warning,
        None => Status::Ok,
    };
    let mut status = level(&levels.late, figures.late_ratio)
        .max(level(&levels.store, figures.store_errors as f64));
    let outbox = match figures.outbox {
        Some((pending, oldest)) => {
            status = status
                .max(level(&levels.backlog, pending as f64))
                .max(level(&levels.stuck, oldest));
            if pending == 0 {
                "outbox empty".to_string()
            } else {
                format!(
                    "{pending} notification(s) waiting, the oldest for {}",
                    format_value(oldest, ValueUnit::Seconds)
                )
            }
        }
        None => {
            status = status.max(Status::Unknown);
            "outbox unreadable".to_string()
        }
    };
    let mut detail = format!(
        "{} of runs late; {} store error(s) in the last minute; {outbox}",
        format_value(figures.late_ratio, ValueUnit::Percent),
        figures.store_errors
    );
    if figures.fd_exhausted > 0 {
        status = Status::Critical;
        detail = format!(
            "{OUT_OF_DESCRIPTORS} {} time(s) in the last minute (probes said unknown); raise \
             LimitNOFILE= (ulimit -n) or lower server.max_connections; {detail}",
            figures.fd_exhausted
        );
    }
    (status, detail)
}

/// The status of `lookout:store` at `now_ms` and its detail: critical once writes have failed
/// for longer than `hold_ms` (a flush that fails once and succeeds at the next try is not
/// worth a notice).
pub fn store_status(health: &WriteHealth, now_ms: UnixMillis, hold_ms: i64) -> (Status, String) {
    match health.failing_since_ms {
        Some(since) if now_ms.saturating_sub(since) >= hold_ms => (
            Status::Critical,
            format!(
                "store cannot write: {}; {} samples kept in memory{}",
                health.reason,
                health.buffered_samples,
                if health.dropped_samples > 0 {
                    format!(" ({} dropped)", health.dropped_samples)
                } else {
                    String::new()
                }
            ),
        ),
        _ => (Status::Ok, "store takes writes".to_string()),
    }
}

pub struct OwnProbe {
    interval: Duration,
    /// How long writes may fail before `lookout:store` is critical: one flush interval.
    store_hold_ms: i64,
    snapshot: Arc<Snapshot>,
    store: Store,
    levels: Levels,
    runs: Runs,
    errors: Window,
    exhausted: Window,
}

impl OwnProbe {
    pub fn new(config: &Config, snapshot: Arc<Snapshot>, store: Store) -> OwnProbe {
        OwnProbe {
            interval: config.system.interval,
            store_hold_ms: config.storage.flush_interval.as_millis() as i64,
            levels: Levels::from_rules(&config.alerts.rules),
            runs: runs(&snapshot),
            errors: Window::starting_at(
                snapshot
                    .self_metrics
                    .store_errors_total
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
            exhausted: Window::starting_at(crate::fds::exhaustion_total()),
            snapshot,
            store,
        }
    }

    async fn measure(&mut self, at_ms: UnixMillis) -> Observation {
        let now = runs(&self.snapshot);
        let late = late_ratio(self.runs, now);
        self.runs = now;
        let total_errors = self
            .snapshot
            .self_metrics
            .store_errors_total
            .load(std::sync::atomic::Ordering::Relaxed);
        let store_errors = self.errors.push(at_ms, total_errors);
        let outbox = match self.store.outbox_backlog(at_ms).await {
            Ok((pending, oldest)) => Some((
                pending,
                oldest.map_or(0.0, |due| (at_ms - due).max(0) as f64 / 1000.0),
            )),
            Err(error) => {
                tracing::warn!(%error, "self probe: could not read the outbox");
                None
            }
        };
        let fd_exhausted = self.exhausted.push(at_ms, crate::fds::exhaustion_total());
        let figures = Figures {
            late_ratio: late,
            store_errors,
            outbox,
            fd_exhausted,
        };
        let sample = |name: &str, value: f64| Sample {
            series: Arc::new(SeriesKey::new(name)),
            value,
        };
        let mut samples = vec![
            sample(SELF_SCHEDULE_LATE, figures.late_ratio),
            sample(SELF_STORE_ERRORS, figures.store_errors as f64),
            sample(SELF_FD_EXHAUSTED, figures.fd_exhausted as f64),
        ];
        if let Some((pending, oldest)) = figures.outbox {
            samples.push(sample(SELF_OUTBOX_PENDING, pending as f64));
            samples.push(sample(SELF_OUTBOX_OLDEST, oldest));
        }
        let (status, detail) = assess(&figures, &self.levels);
        let (store_status, store_detail) =
            store_status(&self.store.write_health(), at_ms, self.store_hold_ms);
        let result = |check: &str, status, detail| CheckResult {
            check: check.to_string(),
            layer: Layer::System,
            status,
            value: None,
            detail,
            at_ms,
            underlying: None,
        };
        Observation {
            source: "lookout".to_string(),
            at_ms,
            samples,
            checks: vec![
                result(SELF_CHECK, status, detail),
                result(STORE_CHECK, store_status, store_detail),
            ],
        }
    }
}

fn runs(snapshot: &Snapshot) -> Runs {
    let (buckets, _) = snapshot.lateness.cumulative();
    Runs {
        total: buckets.last().map_or(0, |(_, n)| *n),
        on_time: buckets
            .iter()
            .find(|(bound, _)| bound.is_some_and(|b| b * 1000.0 >= LATE_MS))
            .map_or(0, |(_, n)| *n),
    }
}

impl Probe for OwnProbe {
    fn name(&self) -> &str {
        "lookout"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn run(&mut self, at_ms: UnixMillis) -> ProbeFuture<'_> {
        Box::pin(self.measure(at_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Severity;
    use crate::alert::records::{AlertBatch, OutboxEntry};
    use crate::clock::ManualClock;
    use crate::model::{AlertNotice, Category, NoticeKind};

    #[test]
    fn the_store_check_is_critical_once_writes_failed_for_a_flush_interval() {
        let health = |since: Option<i64>, dropped| WriteHealth {
            failing_since_ms: since,
            reason: "disk full".into(),
            buffered_samples: 500,
            dropped_samples: dropped,
            ..WriteHealth::default()
        };
        // (failing since, dropped, now, status, detail)
        let cases = [
            (None, 0, 50_000, Status::Ok, "store takes writes"),
            (Some(45_000), 0, 50_000, Status::Ok, "store takes writes"),
            (
                Some(40_000),
                0,
                50_000,
                Status::Critical,
                "store cannot write: disk full; 500 samples kept in memory",
            ),
            (
                Some(10_000),
                7,
                50_000,
                Status::Critical,
                "store cannot write: disk full; 500 samples kept in memory (7 dropped)",
            ),
        ];
        for (since, dropped, now, status, detail) in cases {
            assert_eq!(
                store_status(&health(since, dropped), now, 10_000),
                (status, detail.to_string()),
                "{since:?} at {now}"
            );
        }
    }

    #[test]
    fn late_runs_are_counted_between_readings() {
        // (before, now, ratio)
        let cases = [
            ((0, 0), (0, 0), 0.0),
            ((10, 10), (20, 20), 0.0),
            ((10, 10), (20, 15), 0.5),
            ((10, 8), (14, 8), 1.0),
        ];
        for ((bt, bo), (nt, no), ratio) in cases {
            let before = Runs {
                total: bt,
                on_time: bo,
            };
            let now = Runs {
                total: nt,
                on_time: no,
            };
            assert_eq!(late_ratio(before, now), ratio, "{before:?} -> {now:?}");
        }
    }

    #[test]
    fn store_errors_count_over_the_last_minute() {
        let mut window = Window::default();
        // (at seconds, counter, errors in the last minute)
        let steps = [
            (10, 0, 0),
            (20, 2, 2),
            (40, 5, 5),
            (70, 5, 5),
            (80, 5, 3),
            (100, 6, 1),
            (160, 6, 0),
            (170, 7, 1),
        ];
        for (at, counter, expected) in steps {
            assert_eq!(window.push(at * 1000, counter), expected, "at {at}s");
        }
        // Made again after a reload, with 40 errors behind it: those are not news.
        let mut window = Window::starting_at(40);
        assert_eq!(window.push(1_000, 40), 0);
        assert_eq!(window.push(2_000, 41), 1);
    }

    fn levels() -> Levels {
        Levels::from_rules(&crate::config::alerts::builtin_rules())
    }

    #[test]
    fn the_self_check_is_the_worst_figure_against_the_rules_levels() {
        let figures = |late: f64, errors: u64, outbox: Option<(u64, f64)>| Figures {
            late_ratio: late,
            store_errors: errors,
            outbox,
            fd_exhausted: 0,
        };
        // (figures, status, detail)
        let cases = [
            (
                figures(0.0, 0, Some((0, 0.0))),
                Status::Ok,
                "0.0% of runs late; 0 store error(s) in the last minute; outbox empty",
            ),
            (
                figures(0.2, 0, Some((0, 0.0))),
                Status::Warning,
                "20.0% of runs late; 0 store error(s) in the last minute; outbox empty",
            ),
            (
                figures(0.0, 7, Some((0, 0.0))),
                Status::Critical,
                "0.0% of runs late; 7 store error(s) in the last minute; outbox empty",
            ),
            (
                figures(0.0, 0, Some((3, 700.0))),
                Status::Warning,
                "0.0% of runs late; 0 store error(s) in the last minute; 3 notification(s) waiting, the oldest for 11m 40s",
            ),
            (
                figures(0.0, 0, Some((2000, 1.0))),
                Status::Critical,
                "0.0% of runs late; 0 store error(s) in the last minute; 2000 notification(s) waiting, the oldest for 1.00 s",
            ),
            (
                figures(0.0, 0, None),
                Status::Unknown,
                "0.0% of runs late; 0 store error(s) in the last minute; outbox unreadable",
            ),
        ];
        for (figures, status, detail) in cases {
            assert_eq!(assess(&figures, &levels()), (status, detail.to_string()));
        }
        // Out of descriptors: critical at once, whatever else, with what to do.
        let starved = Figures {
            fd_exhausted: 3,
            ..figures(0.0, 0, Some((0, 0.0)))
        };
        assert_eq!(
            assess(&starved, &levels()),
            (
                Status::Critical,
                "lookout ran out of file descriptors 3 time(s) in the last minute (probes said \
                 unknown); raise LimitNOFILE= (ulimit -n) or lower server.max_connections; 0.0% \
                 of runs late; 0 store error(s) in the last minute; outbox empty"
                    .to_string()
            )
        );
        // A disabled rule does not count; an overridden level does.
        let mut rules = crate::config::alerts::builtin_rules();
        for rule in &mut rules {
            if rule.name == "store_errors" {
                rule.enabled = false;
            }
            if rule.name == "collection_late" {
                rule.warning = Some(0.01);
            }
        }
        let levels = Levels::from_rules(&rules);
        assert_eq!(
            assess(&figures(0.0, 50, Some((0, 0.0))), &levels).0,
            Status::Ok
        );
        assert_eq!(
            assess(&figures(0.02, 0, Some((0, 0.0))), &levels).0,
            Status::Warning
        );
    }

    #[tokio::test]
    async fn a_run_reports_the_outbox_backlog_and_the_store_errors() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(1_000_000_000);
        let store = Store::open(dir.path(), Default::default(), clock.clone())
            .await
            .unwrap();
        let snapshot = Arc::new(Snapshot::default());
        let mut probe = OwnProbe::new(
            &crate::config::embedded_default(),
            snapshot.clone(),
            store.clone(),
        );
        let notice = |due: i64| OutboxEntry {
            notifier: "hook".into(),
            group_key: "g".into(),
            group_labels: Default::default(),
            due_ms: due,
            notice: AlertNotice {
                alert_id: format!("a{due}"),
                rule: "cpu_usage".into(),
                kind: NoticeKind::Firing,
                severity: Severity::Warning,
                previous_severity: None,
                category: Category::Resource,
                labels: Default::default(),
                summary: String::new(),
                description: String::new(),
                value: String::new(),
                threshold: String::new(),
                since_ms: due,
                at_ms: due,
                runbook_url: None,
                explains: Vec::new(),
                resolved_while_muted: None,
            },
        };
        let now = 1_000_000_000;
        store
            .commit_alerts(&AlertBatch {
                // Due 12 minutes ago, 1 minute ago, and in the future (waiting for its group).
                outbox: vec![
                    notice(now - 720_000),
                    notice(now - 60_000),
                    notice(now + 5_000),
                ],
                ..AlertBatch::default()
            })
            .await
            .unwrap();
        for _ in 0..3 {
            crate::exporter::SelfMetrics::inc(&snapshot.self_metrics.store_errors_total);
        }
        snapshot.lateness.record(5);
        snapshot.lateness.record(3_000);
        let observation = probe.run(now).await;
        let value = |name: &str| {
            observation
                .samples
                .iter()
                .find(|s| s.series.name() == name)
                .map(|s| s.value)
                .unwrap_or_else(|| panic!("no {name}"))
        };
        assert_eq!(value(SELF_OUTBOX_PENDING), 2.0);
        assert_eq!(value(SELF_OUTBOX_OLDEST), 720.0);
        assert_eq!(value(SELF_STORE_ERRORS), 3.0);
        assert_eq!(value(SELF_SCHEDULE_LATE), 0.5);
        let check = &observation.checks[0];
        // Half the runs late is critical (collection_late: 50%).
        assert_eq!(
            (check.check.as_str(), check.status),
            (SELF_CHECK, Status::Critical)
        );
        assert_eq!(observation.source, "lookout");
        store.close().await.unwrap();
    }
}
