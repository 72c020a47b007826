//! Latest values and check results, and the detection of status changes between runs.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::clock::UnixMillis;
use crate::model::{CheckResult, Event, EventKind, Observation, SeriesKey, Status};

#[derive(Debug, Clone, PartialEq)]
pub struct LatestValue {
    pub value: f64,
    pub at_ms: UnixMillis,
}

/// A check whose status differs from its previous run.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub check: String,
    pub from: Option<Status>,
    pub to: Status,
    pub detail: String,
    pub at_ms: UnixMillis,
}

impl StatusChange {
    pub fn to_event(&self) -> Event {
        let from = self.from.map_or("new", Status::as_str);
        Event {
            at_ms: self.at_ms,
            kind: EventKind::StatusChanged,
            subject: self.check.clone(),
            message: format!("{} -> {}: {}", from, self.to, self.detail),
        }
    }
}

/// Maintenance as /metrics shows it: the open period, and totals over every period the store
/// recorded (seeded from the store at start, so the counters survive restarts).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MaintenanceFigures {
    /// The open period: mode, planned, start, blocked requests so far.
    pub open: Option<OpenMaintenance>,
    /// Closed periods.
    pub periods_closed: u64,
    pub planned_ms_closed: u64,
    pub unplanned_ms_closed: u64,
    pub emergency_ms_closed: u64,
    pub blocked_requests_closed: u64,
    pub invalidated_sessions_closed: u64,
    /// Active sessions when the latest period started.
    pub sessions_at_start: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OpenMaintenance {
    pub mode: crate::config::maintenance::Mode,
    pub planned: bool,
    pub start_ms: UnixMillis,
    pub blocked_requests: u64,
    pub invalidated_sessions: u64,
}

/// Counters about Lookout's own pipeline, served on /metrics.
#[derive(Debug, Default)]
pub struct SelfMetrics {
    pub observations_total: AtomicU64,
    pub samples_total: AtomicU64,
    pub store_flushes_total: AtomicU64,
    pub store_errors_total: AtomicU64,
    pub reloads_total: AtomicU64,
    pub reload_failures_total: AtomicU64,
    /// Messages the store writer and the alert loop took from the bus (`daemon::health`
    /// watches them grow).
    pub store_writer_taken_total: AtomicU64,
    pub alert_loop_taken_total: AtomicU64,
    /// Samples waiting in memory for the store, and those dropped because the buffer was full
    /// (set by `daemon::health` from `Store::write_health`).
    pub store_buffered_samples: AtomicU64,
    pub store_dropped_samples: AtomicU64,
    /// Notices held in memory while the store cannot write (`notify::held`), and those
    /// dropped because too many were held.
    pub notices_held: AtomicU64,
    pub notices_held_dropped: AtomicU64,
    /// The pipeline's latest verdict, for /healthz.
    pub health: super::health::Published,
    /// The dead-man heartbeat's pings (`[heartbeat]`).
    pub heartbeat: super::HeartbeatMetrics,
}

impl Snapshot {
    /// Replaces the alert counts with those of `alerts`.
    pub fn set_flapping(&self, count: usize) {
        self.alerts_flapping.store(count as u64, Ordering::Relaxed);
    }

    pub fn set_alerts(&self, alerts: &[crate::alert::AlertView]) {
        let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
        for alert in alerts {
            *counts
                .entry((alert.state.clone(), alert.severity.as_str().to_string()))
                .or_default() += 1;
        }
        if let Ok(mut current) = self.alerts.write() {
            *current = counts;
        }
    }
}

impl SelfMetrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug)]
struct SeriesEntry {
    latest: LatestValue,
    /// `lookout_name{labels}` as /metrics writes it, rendered once when the series first
    /// appears: a scrape then only formats the values.
    exposed: Box<str>,
    /// Where `name` ends in `exposed`. The scrape reads the family name from here rather
    /// than from the key: the key's name is another heap object, and chasing it for 10,000
    /// series was a cache miss each (a third of a scrape in a long-running daemon).
    name_end: usize,
}

/// How many entries a scrape's walk reads per hold of the read lock: about 0.1 ms of rendering.
const WALK_CHUNK: usize = 256;

#[derive(Debug, Default)]
struct Latest {
    /// Hashed: a hub applies 15,000 samples a second to 150,000 series, where a sorted map's
    /// key comparisons took a third of its CPU.
    series: HashMap<Arc<SeriesKey>, SeriesEntry, foldhash::fast::RandomState>,
    /// The keys of `series` in order, for a scrape's walk; rebuilt by the first walk after the
    /// set of series changed (rarely, once a daemon or hub runs).
    order: Vec<Arc<SeriesKey>>,
    order_stale: bool,
    checks: BTreeMap<String, CheckResult>,
    /// When each probe last reported, to show staleness.
    sources: BTreeMap<String, UnixMillis>,
}

#[derive(Debug, Default)]
pub struct Snapshot {
    latest: RwLock<Latest>,
    /// Written by the maintenance loop.
    pub maintenance: RwLock<MaintenanceFigures>,
    pub self_metrics: SelfMetrics,
    /// How late probe runs start after their scheduled tick.
    pub lateness: Arc<super::MillisHistogram>,
    /// How long probe runs take (a system collection; a check's attempts and retries).
    pub probe_durations: Arc<super::MillisHistogram>,
    /// Pending and firing alerts by (state, severity), as of the latest evaluation.
    pub alerts: RwLock<BTreeMap<(String, String), u64>>,
    /// Alerts flapping now (quiet until stable; see `alert::flap`).
    pub alerts_flapping: AtomicU64,
    /// Deliveries per notifier, shared with the outbox worker.
    pub notifications: Arc<crate::notify::outbox::OutboxMetrics>,
    /// Remote write per endpoint, shared with its consumers and senders.
    pub remote_write: Arc<super::remote_write::RemoteWriteMetrics>,
    /// The receivers (`[receive]`), shared with the web.
    pub receive: Arc<super::receive::ReceiveMetrics>,
}

impl Snapshot {
    pub fn new() -> Arc<Snapshot> {
        Arc::new(Snapshot::default())
    }

    /// Take in one observation; returns the checks whose status changed (first sightings
    /// included, so the timeline shows what each check started as).
    pub fn apply(&self, observation: &Observation) -> Vec<StatusChange> {
        let mut latest = self.latest.write().unwrap_or_else(|p| p.into_inner());
        let source = latest
            .sources
            .entry(observation.source.clone())
            .or_default();
        *source = (*source).max(observation.at_ms);
        for sample in &observation.samples {
            let value = LatestValue {
                value: sample.value,
                at_ms: observation.at_ms,
            };
            if let Some(entry) = latest.series.get_mut(&*sample.series) {
                // A late sample (an agent's backlog) is history, not the latest value.
                if entry.latest.at_ms <= value.at_ms {
                    entry.latest = value;
                }
            } else {
                let (exposed, name_end) = super::prometheus_text::exposed_series(&sample.series);
                latest.series.insert(
                    sample.series.clone(),
                    SeriesEntry {
                        latest: value,
                        exposed: exposed.into(),
                        name_end,
                    },
                );
                latest.order_stale = true;
            }
        }
        let mut changes = Vec::new();
        for result in &observation.checks {
            let previous = latest.checks.insert(result.check.clone(), result.clone());
            let from = previous.map(|p| p.status);
            if from != Some(result.status) {
                changes.push(StatusChange {
                    check: result.check.clone(),
                    from,
                    to: result.status,
                    detail: result.detail.clone(),
                    at_ms: result.at_ms,
                });
            }
        }
        SelfMetrics::inc(&self.self_metrics.observations_total);
        self.self_metrics
            .samples_total
            .fetch_add(observation.samples.len() as u64, Ordering::Relaxed);
        changes
    }

    /// Seed the check states from the store at start-up, so a restart does not report every
    /// check as changed.
    pub fn seed_checks(&self, results: impl IntoIterator<Item = CheckResult>) {
        let mut latest = self.latest.write().unwrap_or_else(|p| p.into_inner());
        for result in results {
            latest.checks.entry(result.check.clone()).or_insert(result);
        }
    }

    /// Latest series values sorted by series key.
    pub fn series(&self) -> Vec<(Arc<SeriesKey>, LatestValue)> {
        self.sort_series();
        let latest = self.latest.read().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<_> = latest
            .order
            .iter()
            .filter_map(|k| Some((k.clone(), latest.series.get(k)?.latest.clone())))
            .collect();
        // Added since the order was built (between the two locks): at their place.
        if all.len() < latest.series.len() {
            all = latest
                .series
                .iter()
                .map(|(k, v)| (k.clone(), v.latest.clone()))
                .collect();
            all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        all
    }

    /// Rebuilds the sorted key list if the set of series changed since it was built.
    fn sort_series(&self) {
        let stale = self
            .latest
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .order_stale;
        if stale {
            let mut latest = self.latest.write().unwrap_or_else(|p| p.into_inner());
            if latest.order_stale {
                let mut order: Vec<Arc<SeriesKey>> = latest.series.keys().cloned().collect();
                order.sort_unstable();
                latest.order = order;
                latest.order_stale = false;
            }
        }
    }

    /// Visits the latest series values in key order without copying them (the scrape path).
    /// `visit` gets the series' name (without the `lookout_` prefix), its value and
    /// `lookout_name{labels}` as /metrics writes it. Takes the read lock for `WALK_CHUNK`
    /// series at a time (see `walk_in_chunks`); a series added behind the walk meanwhile is
    /// left for the next scrape.
    #[inline]
    pub fn for_each_series(&self, mut visit: impl FnMut(&str, &LatestValue, &str)) {
        self.sort_series();
        let mut after: Option<Arc<SeriesKey>> = None;
        loop {
            let latest = self.latest.read().unwrap_or_else(|p| p.into_inner());
            // Where to go on: past the last key visited (the order may have been rebuilt).
            let start = after
                .as_ref()
                .map_or(0, |last| latest.order.partition_point(|k| k <= last));
            let chunk = &latest.order[start.min(latest.order.len())..];
            let chunk = &chunk[..chunk.len().min(WALK_CHUNK)];
            for key in chunk {
                // Gone since the order was built: forgotten as stale.
                if let Some(entry) = latest.series.get(key) {
                    let name = &entry.exposed[super::prometheus_text::PREFIX.len()..entry.name_end];
                    visit(name, &entry.latest, &entry.exposed);
                }
            }
            if chunk.len() < WALK_CHUNK {
                return;
            }
            after = chunk.last().cloned();
        }
    }

    /// Visits the latest result of each check without copying it (the scrape path).
    #[inline]
    pub fn for_each_check(&self, mut visit: impl FnMut(&CheckResult)) {
        self.walk_in_chunks(|latest| &latest.checks, |_, result| visit(result));
    }

    /// Walks one of the maps in key order, taking the read lock for `WALK_CHUNK` entries at a
    /// time: rendering 10,000 series takes milliseconds, and holding the lock that long would
    /// stall the bus consumer's `apply` (and the async worker it runs on) for all of them. An
    /// entry added behind the walk meanwhile is left for the next scrape.
    fn walk_in_chunks<K: Ord + Clone, V>(
        &self,
        map: impl Fn(&Latest) -> &BTreeMap<K, V>,
        mut visit: impl FnMut(&K, &V),
    ) {
        use std::ops::Bound::{Excluded, Unbounded};
        let mut after: Option<K> = None;
        loop {
            let latest = self.latest.read().unwrap_or_else(|p| p.into_inner());
            let entries = match &after {
                None => map(&latest).range::<K, _>(..),
                Some(last) => map(&latest).range::<K, _>((Excluded(last), Unbounded)),
            };
            let mut visited = 0;
            for (key, value) in entries {
                visit(key, value);
                visited += 1;
                if visited == WALK_CHUNK {
                    after = Some(key.clone());
                    break;
                }
            }
            if visited < WALK_CHUNK {
                return;
            }
        }
    }

    pub fn has_checks(&self) -> bool {
        let latest = self.latest.read().unwrap_or_else(|p| p.into_inner());
        !latest.checks.is_empty()
    }

    pub fn checks(&self) -> Vec<CheckResult> {
        let latest = self.latest.read().unwrap_or_else(|p| p.into_inner());
        latest.checks.values().cloned().collect()
    }

    pub fn sources(&self) -> BTreeMap<String, UnixMillis> {
        let latest = self.latest.read().unwrap_or_else(|p| p.into_inner());
        latest.sources.clone()
    }

    /// Forget series that no probe reported since `cutoff_ms` (an unmounted filesystem, a
    /// removed interface), so /metrics does not serve stale values forever.
    pub fn forget_older_than(&self, cutoff_ms: UnixMillis) {
        let mut latest = self.latest.write().unwrap_or_else(|p| p.into_inner());
        let before = latest.series.len();
        latest.series.retain(|_, v| v.latest.at_ms >= cutoff_ms);
        if latest.series.len() != before {
            latest.order_stale = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Layer, Sample};

    fn check(name: &str, status: Status, at_ms: i64) -> CheckResult {
        CheckResult {
            underlying: None,
            check: name.into(),
            layer: Layer::System,
            status,
            value: Some(0.5),
            detail: format!("{name} is {status}"),
            at_ms,
        }
    }

    fn observation(at_ms: i64, checks: Vec<CheckResult>) -> Observation {
        Observation {
            source: "system".into(),
            at_ms,
            samples: vec![Sample {
                series: Arc::new(SeriesKey::new("load1")),
                value: at_ms as f64,
            }],
            checks,
        }
    }

    /// An agent's backlog arrives after newer samples: it is history for the store, never the
    /// latest value /metrics and the dashboard show.
    #[test]
    fn a_late_sample_does_not_replace_the_latest_value() {
        let snapshot = Snapshot::default();
        snapshot.apply(&observation(2_000, vec![]));
        snapshot.apply(&observation(1_000, vec![]));
        let series = snapshot.series();
        assert_eq!(
            (series[0].1.value, series[0].1.at_ms),
            (2_000.0, 2_000),
            "the late sample replaced the latest"
        );
    }

    #[test]
    fn reports_first_sighting_and_each_change_but_not_repeats() {
        let snapshot = Snapshot::default();
        let first = snapshot.apply(&observation(1, vec![check("cpu", Status::Ok, 1)]));
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].from, None);
        let same = snapshot.apply(&observation(2, vec![check("cpu", Status::Ok, 2)]));
        assert!(same.is_empty());
        let worse = snapshot.apply(&observation(3, vec![check("cpu", Status::Critical, 3)]));
        assert_eq!(worse.len(), 1);
        assert_eq!(worse[0].from, Some(Status::Ok));
        assert_eq!(worse[0].to, Status::Critical);
        assert_eq!(
            worse[0].to_event().message,
            "ok -> critical: cpu is critical"
        );
    }

    #[test]
    fn seeded_checks_do_not_count_as_changes_after_restart() {
        let snapshot = Snapshot::default();
        snapshot.seed_checks([check("memory", Status::Warning, 1)]);
        let changes = snapshot.apply(&observation(2, vec![check("memory", Status::Warning, 2)]));
        assert!(changes.is_empty());
    }

    #[test]
    fn series_stay_in_key_order_as_they_come_and_go() {
        let snapshot = Snapshot::default();
        let key = |n: &str| Arc::new(SeriesKey::new("up").with("n", n));
        let apply = |at_ms: i64, names: &[&str]| {
            snapshot.apply(&Observation {
                source: "system".into(),
                at_ms,
                samples: names
                    .iter()
                    .map(|n| Sample {
                        series: key(n),
                        value: 1.0,
                    })
                    .collect(),
                checks: vec![],
            });
        };
        let names = |snapshot: &Snapshot| -> Vec<String> {
            let listed: Vec<String> = snapshot
                .series()
                .iter()
                .map(|(k, _)| k.label("n").unwrap().to_string())
                .collect();
            let mut walked = Vec::new();
            snapshot.for_each_series(|_, _, exposed| walked.push(exposed.to_string()));
            assert_eq!(walked.len(), listed.len());
            listed
        };
        apply(1, &["c", "a", "b"]);
        assert_eq!(names(&snapshot), ["a", "b", "c"]);
        apply(2, &["b", "d"]);
        assert_eq!(names(&snapshot), ["a", "b", "c", "d"]);
        snapshot.forget_older_than(2);
        assert_eq!(names(&snapshot), ["b", "d"]);
        apply(3, &["a"]);
        assert_eq!(names(&snapshot), ["a", "b", "d"]);
    }

    #[test]
    fn the_chunked_walks_visit_every_entry_once_in_order() {
        for count in [0, 1, WALK_CHUNK, 2 * WALK_CHUNK, 3 * WALK_CHUNK + 1] {
            let snapshot = Snapshot::default();
            snapshot.apply(&Observation {
                source: "system".into(),
                at_ms: 1,
                samples: (0..count)
                    .map(|i| Sample {
                        series: Arc::new(SeriesKey::new("up").with("n", format!("{i:05}"))),
                        value: i as f64,
                    })
                    .collect(),
                checks: (0..count)
                    .map(|i| check(&format!("c{i:05}"), Status::Ok, 1))
                    .collect(),
            });
            let mut values = Vec::new();
            snapshot.for_each_series(|name, latest, exposed| {
                assert_eq!(name, "up");
                assert_eq!(exposed, format!("lookout_up{{n=\"{:05}\"}}", latest.value));
                values.push(latest.value);
            });
            assert_eq!(values, (0..count).map(|i| i as f64).collect::<Vec<_>>());
            let mut checks = Vec::new();
            snapshot.for_each_check(|result| checks.push(result.check.clone()));
            assert_eq!(
                checks,
                (0..count).map(|i| format!("c{i:05}")).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn keeps_latest_value_and_forgets_stale_series() {
        let snapshot = Snapshot::default();
        snapshot.apply(&observation(10, vec![]));
        snapshot.apply(&observation(20, vec![]));
        let series = snapshot.series();
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].1.value, 20.0);
        snapshot.forget_older_than(21);
        assert!(snapshot.series().is_empty());
    }
}
