//! The alert engine: rules applied to what the probes observe.
//!
//! `observe` evaluates each sample and check result against the rules that watch it, as it
//! arrives (no evaluation-interval delay); `tick` moves time-driven things on: `for` timers,
//! "no data", cooldown repeats, series that stopped reporting, mutes that lifted. Both return an
//! `AlertBatch` — the new state, history and outbox rows — which the caller commits to the
//! store in one transaction before anything is sent.
//!
//! Pure apart from the mute sources it is given: time comes in as `now_ms`, so every timing
//! rule is tested exactly.
//!
//! This file holds the engine's state (`Engine`, each `LiveAlert`, what is `Recent`), its
//! set-up (`new`, `reconfigure`, `restore`) and the orchestration of `observe` and `tick`;
//! the jobs live beside it: `evaluate` (rules -> states), `holds` (dependency holds, the
//! gate's withdrawals, releases, flap ends), `mute` (why an alert is quiet, retelling when a
//! mute lifts), `route` (groups, notifiers, due times), `lifecycle` (what a state change
//! tells, and the notice's text) and `rate` (the windows of rate rules, `alert::rate`).

mod evaluate;
mod holds;
mod hosts;
mod lifecycle;
mod mute;
mod rate;
mod route;
#[cfg(test)]
mod testing;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::connectivity::Gate;
use super::flap::FlapTracker;
use super::group::Grouper;
use super::inhibit::dependency_closure;
use super::mute::{MuteReason, MuteSource};
use super::rate::Rates;
use super::records::{AlertBatch, StoredAlert};
use super::silence::Silence;
use super::{AlertState, AlertTracker, Severity};
use crate::clock::UnixMillis;
use crate::config::{AlertsConfig, Config, RuleConfig, RuleSource};
use crate::model::Observation;
use crate::model::{AlertNotice, NoticeKind};

/// A series that has not reported for this long (and at least 3 of its intervals) is taken to
/// be gone — an unmounted filesystem, a removed check — and its alert resolves.
const STALE_AFTER_MS: i64 = 5 * 60_000;

/// What the engine knows about a check, for check-status and no-data rules.
#[derive(Debug, Clone)]
struct CheckMeta {
    labels: BTreeMap<String, String>,
    interval_ms: i64,
    /// Interval + (1 + retries) × timeout: by then a run started at the latest tick has
    /// reported, a failure included (a failure is confirmed by its retries).
    report_within_ms: i64,
    last_seen_ms: UnixMillis,
    /// A check an agent runs (from a receiver): its host's silence is `host_down`'s, not
    /// no-data's.
    received: bool,
}

#[derive(Debug, Clone)]
struct LiveAlert {
    rule: usize,
    /// Without `severity` (that changes with escalation; the identity does not).
    labels: BTreeMap<String, String>,
    tracker: AlertTracker,
    value: f64,
    detail: String,
    last_seen_ms: UnixMillis,
    /// How often this alert's source reports, for staleness.
    interval_ms: i64,
    muted_by: Option<MuteReason>,
    /// The current firing was told to the notifiers (not muted when it happened, or later
    /// when the mute lifted). A resolution is only told for a firing that was.
    told: bool,
    /// Its latest told notice waits in the outbox for its dependencies to report.
    held: bool,
    /// When its latest told notice is due to go out; before then it can still be withdrawn.
    due_ms: Option<UnixMillis>,
    /// When the told firing of this episode is due to go out (a resolution before then
    /// withdraws both).
    firing_due_ms: Option<UnixMillis>,
    /// Who acknowledged the firing, and when: its repeats stop until it escalates or resolves.
    acknowledged: Option<(String, UnixMillis)>,
    summary: String,
}

impl LiveAlert {
    /// Its firing was told and has not gone out yet: it can still be withdrawn.
    fn unsent_firing(&self, now_ms: UnixMillis) -> bool {
        self.told
            && self.due_ms.is_some_and(|due| due > now_ms)
            && matches!(self.tracker.state, AlertState::Firing { .. })
    }
}

pub struct Engine {
    settings: AlertsConfig,
    rules: Vec<RuleConfig>,
    /// Metric name -> indices of the metric rules watching it.
    metric_rules: HashMap<String, Arc<[usize]>>,
    /// Live (pending or firing) alerts per rule index: a rule with none and a good value
    /// needs no alert id, which keeps the quiet path free of allocations.
    live_per_rule: Vec<usize>,
    notifiers: Vec<String>,
    checks: HashMap<String, CheckMeta>,
    depends_on: HashMap<String, HashSet<String>>,
    /// Checks some other check depends on.
    dependencies: HashSet<String>,
    system_interval_ms: i64,
    live: HashMap<String, LiveAlert>,
    grouper: Grouper,
    silences: Vec<Silence>,
    mute_sources: Vec<Arc<dyn MuteSource>>,
    /// `[alerts.connectivity]`: the canaries' verdict and what it holds.
    gate: Option<Gate>,
    /// The rate windows of the series rate rules watch (`rate = "5m"`).
    rates: Rates,
    /// What is remembered of an alert beyond its live state (which ends when it resolves):
    /// its recent changes (flap detection) and its resolution not sent yet.
    recent: HashMap<String, Recent>,
    /// The hosts the hub receives from, for host_down (`hosts`).
    hosts: HashMap<String, hosts::HostWatch>,
    /// The hub's network as its hosts tell it, without canaries.
    hosts_net: hosts::HostsNet,
}

/// An alert's recent past, kept while it matters (see `Engine::prune_recent`).
#[derive(Debug, Clone, Default)]
struct Recent {
    flap: FlapTracker,
    /// People were told this alert fires (directly, or by its flapping notice) and then it
    /// flapped: its final state is owed to them when the flap ends.
    owed: bool,
    /// The latest resolution a flap kept back: told when the flap ends with the alert
    /// resolved.
    resolution: Option<(Vec<String>, AlertNotice)>,
    /// A told resolution that has not gone out yet: if the alert fires again before it is
    /// due, it is withdrawn and the firing continues as told (no resolved-then-firing pair).
    unsent_resolution: Option<UnsentResolution>,
    /// Set when a flap ended with the alert firing: added to the notice that tells it.
    final_note: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct UnsentResolution {
    due_ms: UnixMillis,
    since_ms: UnixMillis,
    severity: Severity,
}

/// A live alert as listings show it.
pub type AlertView = StoredAlert;

impl Engine {
    pub fn new(config: &Config, now_ms: UnixMillis) -> Engine {
        let mut engine = Engine {
            settings: config.alerts.clone(),
            rules: Vec::new(),
            metric_rules: HashMap::new(),
            live_per_rule: Vec::new(),
            notifiers: Vec::new(),
            checks: HashMap::new(),
            depends_on: HashMap::new(),
            dependencies: HashSet::new(),
            system_interval_ms: 10_000,
            live: HashMap::new(),
            grouper: Grouper::default(),
            silences: Vec::new(),
            mute_sources: Vec::new(),
            gate: None,
            rates: Rates::default(),
            recent: HashMap::new(),
            hosts: HashMap::new(),
            hosts_net: hosts::HostsNet::default(),
        };
        engine.reconfigure(config, now_ms);
        engine
    }

    /// Takes a new config (SIGHUP): live alerts of rules that still exist carry on; those of
    /// removed or disabled rules are dropped (their ids are returned for the store).
    pub fn reconfigure(&mut self, config: &Config, now_ms: UnixMillis) -> AlertBatch {
        let old_rules = std::mem::take(&mut self.rules);
        self.settings = config.alerts.clone();
        self.rules = config
            .alerts
            .rules
            .iter()
            .filter(|r| r.enabled)
            .cloned()
            .collect();
        let mut metric_rules: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, rule) in self.rules.iter().enumerate() {
            if let RuleSource::Metric { name, .. } = &rule.source {
                metric_rules.entry(name.clone()).or_default().push(index);
            }
        }
        let windows = self.rules.iter().filter_map(|rule| match &rule.source {
            RuleSource::Metric {
                rate: Some(window), ..
            } => Some(window.as_millis() as i64),
            _ => None,
        });
        self.rates.retain_windows(&windows.collect());
        self.metric_rules = metric_rules
            .into_iter()
            .map(|(name, indices)| (name, indices.into()))
            .collect();
        self.notifiers = config.notifiers.iter().map(|n| n.name.clone()).collect();
        self.system_interval_ms = config.system.interval.as_millis() as i64;
        let previous = std::mem::take(&mut self.checks);
        for check in config.checks.iter().filter(|c| c.enabled) {
            let labels: BTreeMap<String, String> = [
                ("check", check.name.as_str()),
                ("layer", check.layer.as_str()),
                ("type", check.kind.type_name()),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            let last_seen_ms = previous
                .get(&check.name)
                .map_or(now_ms, |meta| meta.last_seen_ms);
            self.checks.insert(
                check.name.clone(),
                CheckMeta {
                    labels,
                    interval_ms: check.interval.as_millis() as i64,
                    report_within_ms: (check.interval + check.timeout * (1 + check.retries))
                        .as_millis() as i64,
                    last_seen_ms,
                    received: false,
                },
            );
        }
        // Declared (`depends_on`) and implied by the layers (an application check waits for
        // the database and Redis checks), acyclic by construction.
        let direct = crate::config::effective_dependencies(config);
        self.depends_on = dependency_closure(&direct);
        self.dependencies = self.depends_on.values().flatten().cloned().collect();
        let previous_gate = self.gate.take();
        self.gate = config.alerts.connectivity.as_ref().map(|settings| {
            let mut gate = Gate::new(settings);
            if let Some(previous) = &previous_gate {
                gate.carry_over(previous);
            }
            gate
        });

        let mut batch = AlertBatch::default();
        let live = std::mem::take(&mut self.live);
        for (id, mut alert) in live {
            let name = &old_rules[alert.rule].name;
            match self.rules.iter().position(|r| &r.name == name) {
                Some(index) => {
                    alert.rule = index;
                    alert.tracker.hold_for = self.rules[index].hold_for;
                    alert.tracker.hold_for_critical = self.rules[index].hold_for_critical;
                    alert.tracker.cooldowns = self.settings.severity_cooldowns(&self.rules[index]);
                    self.live.insert(id, alert);
                }
                None => batch.removed.push(id),
            }
        }
        self.recount();
        batch
    }

    fn recount(&mut self) {
        self.live_per_rule = vec![0; self.rules.len()];
        for alert in self.live.values() {
            self.live_per_rule[alert.rule] += 1;
        }
    }

    /// Continues from the state a previous run persisted: what was firing still fires, and
    /// what was told is not told again.
    pub fn restore(&mut self, stored: Vec<StoredAlert>) -> AlertBatch {
        let mut batch = AlertBatch::default();
        for alert in stored {
            let Some(rule) = self.rules.iter().position(|r| r.name == alert.rule) else {
                batch.removed.push(alert.id);
                continue;
            };
            let state = match (alert.state.as_str(), alert.last_notified_ms) {
                ("firing", Some(last_notified_ms)) => AlertState::Firing {
                    since_ms: alert.since_ms,
                    severity: alert.severity,
                    last_notified_ms,
                },
                _ => AlertState::Pending {
                    since_ms: alert.since_ms,
                    severity: alert.severity,
                    critical_since_ms: (alert.severity == Severity::Critical)
                        .then_some(alert.since_ms),
                },
            };
            let mut tracker = AlertTracker::new(
                self.rules[rule].hold_for,
                self.settings.severity_cooldowns(&self.rules[rule]),
            )
            .with_critical_hold(self.rules[rule].hold_for_critical);
            tracker.state = state;
            let interval_ms = self.interval_for(&alert.labels);
            self.live.insert(
                alert.id,
                LiveAlert {
                    rule,
                    labels: alert.labels,
                    tracker,
                    value: alert.value.unwrap_or(f64::NAN),
                    detail: String::new(),
                    // Staleness counts from the restart, not from before the downtime.
                    last_seen_ms: alert.since_ms.max(alert.last_notified_ms.unwrap_or(0)),
                    interval_ms,
                    told: alert.told,
                    held: false,
                    due_ms: None,
                    firing_due_ms: None,
                    acknowledged: alert.acknowledged_by.zip(alert.acknowledged_ms),
                    muted_by: alert.muted_by,
                    summary: alert.summary,
                },
            );
        }
        self.recount();
        batch
    }

    pub fn set_silences(&mut self, silences: Vec<Silence>) {
        self.silences = silences;
    }

    pub fn add_mute_source(&mut self, source: Arc<dyn MuteSource>) {
        self.mute_sources.push(source);
    }

    /// Pending and firing alerts, worst first.
    pub fn alerts(&self) -> Vec<AlertView> {
        let mut views: Vec<AlertView> = self
            .live
            .iter()
            .filter_map(|(id, alert)| self.stored(id, alert))
            .collect();
        views.sort_by(|a, b| {
            (b.state == "firing", b.severity, &a.id).cmp(&(a.state == "firing", a.severity, &b.id))
        });
        views
    }

    /// How many alerts are flapping now (firing or not).
    pub fn flapping_count(&self) -> usize {
        self.recent
            .values()
            .filter(|r| r.flap.is_flapping())
            .count()
    }

    /// The metric names some enabled rule watches (cron mode reads only these from the store).
    pub fn watched_metrics(&self) -> Vec<String> {
        let mut names: Vec<String> = self.metric_rules.keys().cloned().collect();
        names.sort();
        names
    }

    pub fn settings(&self) -> &AlertsConfig {
        &self.settings
    }

    /// Evaluates what one probe run observed.
    pub fn observe(&mut self, observation: &Observation, now_ms: UnixMillis) -> AlertBatch {
        let mut batch = AlertBatch::default();
        let received = observation.source.starts_with("receive:");
        if received {
            self.hear_hosts(observation, now_ms, &mut batch);
        }
        self.observe_samples(observation, now_ms, &mut batch);
        for result in &observation.checks {
            self.observe_check(result, received, now_ms, &mut batch);
        }
        batch
    }

    /// Time-driven changes: `for` elapsed, no data, cooldown repeats, stale series, lifted mutes.
    pub fn tick(&mut self, now_ms: UnixMillis) -> AlertBatch {
        let mut batch = AlertBatch::default();
        self.evaluate_no_data(now_ms, &mut batch);
        self.evaluate_hosts(now_ms, &mut batch);
        self.evaluate_always(now_ms, &mut batch);
        self.evaluate_live(now_ms, &mut batch);
        self.settle_flaps(now_ms, &mut batch);
        self.retell_unmuted(now_ms, &mut batch);
        let timing = self.timing();
        self.grouper.prune(&timing, now_ms);
        self.prune_recent(now_ms);
        self.rates.prune(now_ms, STALE_AFTER_MS);
        batch
    }

    /// Forgets what no longer matters: flap trackers with no change in their window, and
    /// resolutions that have gone out (bounded memory).
    fn prune_recent(&mut self, now_ms: UnixMillis) {
        let settings = &self.settings.flapping;
        for recent in self.recent.values_mut() {
            if recent
                .unsent_resolution
                .is_some_and(|unsent| unsent.due_ms <= now_ms)
            {
                recent.unsent_resolution = None;
            }
        }
        let live = &self.live;
        self.recent.retain(|id, recent| {
            !recent.flap.is_idle(settings, now_ms)
                || recent.unsent_resolution.is_some()
                || recent.owed
                || live.contains_key(id) && recent.final_note.is_some()
        });
    }

    fn check_interval(&self, check: Option<&str>) -> i64 {
        check
            .and_then(|name| self.checks.get(name))
            .map_or(self.system_interval_ms, |meta| meta.interval_ms)
    }

    fn interval_for(&self, labels: &BTreeMap<String, String>) -> i64 {
        self.check_interval(labels.get("check").map(String::as_str))
    }

    /// The alert's current state replaces what the batch had for it (nothing when it is not
    /// live).
    fn upsert(&self, id: &str, batch: &mut AlertBatch) {
        if let Some(stored) = self.live.get(id).and_then(|alert| self.stored(id, alert)) {
            batch.upserts.retain(|u| u.id != id);
            batch.upserts.push(stored);
        }
    }

    fn stored(&self, id: &str, alert: &LiveAlert) -> Option<StoredAlert> {
        let (state, severity, since_ms, last_notified_ms) = match alert.tracker.state {
            AlertState::Inactive => return None,
            AlertState::Pending {
                since_ms, severity, ..
            } => ("pending", severity, since_ms, None),
            AlertState::Firing {
                since_ms,
                severity,
                last_notified_ms,
            } => ("firing", severity, since_ms, Some(last_notified_ms)),
        };
        Some(StoredAlert {
            id: id.to_string(),
            rule: self.rules[alert.rule].name.clone(),
            labels: alert.labels.clone(),
            state: state.to_string(),
            severity,
            since_ms,
            last_notified_ms,
            value: (!alert.value.is_nan()).then_some(alert.value),
            summary: if alert.summary.is_empty() {
                // Pending: nothing told yet, but listings still say what it is about.
                let rule = &self.rules[alert.rule];
                let mut labels = alert.labels.clone();
                labels.insert("severity".to_string(), severity.as_str().to_string());
                self.notice(
                    id,
                    alert,
                    rule,
                    NoticeKind::Firing,
                    severity,
                    None,
                    labels,
                    since_ms,
                    since_ms,
                )
                .summary
            } else {
                alert.summary.clone()
            },
            muted_by: alert.muted_by.clone(),
            told: alert.told,
            flapping: self.recent.get(id).is_some_and(|r| r.flap.is_flapping()),
            acknowledged_by: alert.acknowledged.as_ref().map(|(by, _)| by.clone()),
            acknowledged_ms: alert.acknowledged.as_ref().map(|(_, at)| *at),
        })
    }

    /// `by` is on it: the firing alert `id` stops repeating until it escalates or resolves.
    pub fn acknowledge(
        &mut self,
        id: &str,
        by: &str,
        now_ms: UnixMillis,
    ) -> Result<AlertBatch, String> {
        let Some(alert) = self.live.get_mut(id) else {
            return Err(format!("no pending or firing alert \"{id}\""));
        };
        if !matches!(alert.tracker.state, AlertState::Firing { .. }) {
            return Err(format!(
                "alert \"{id}\" is pending, not firing: nothing to acknowledge yet"
            ));
        }
        alert.acknowledged = Some((by.to_string(), now_ms));
        let mut batch = AlertBatch::default();
        self.upsert(id, &mut batch);
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;

    #[test]
    fn a_restart_neither_retells_nor_forgets_what_fires() {
        let mut engine = engine(0);
        let batch = engine.observe(&check("db", Status::Critical, 0), 0);
        let stored = batch.upserts.clone();
        let mut restarted = self::engine(MIN);
        restarted.restore(stored);
        assert_eq!(restarted.alerts().len(), 1);
        assert!(
            restarted
                .observe(&check("db", Status::Critical, MIN), MIN)
                .is_empty()
        );
        assert!(restarted.tick(MIN).is_empty());
        let batch = restarted.observe(&check("db", Status::Ok, 2 * MIN), 2 * MIN);
        assert_eq!(
            told(&batch),
            vec![(NoticeKind::Resolved, Severity::Critical, String::new())]
        );
    }

    #[test]
    fn a_reload_keeps_firing_alerts_of_rules_that_remain() {
        let mut engine = engine(0);
        engine.observe(&check("db", Status::Critical, 0), 0);
        let batch = engine.reconfigure(&config(""), MIN);
        assert!(batch.removed.is_empty());
        assert_eq!(engine.alerts().len(), 1);
        let mut disabled = config("");
        for rule in &mut disabled.alerts.rules {
            rule.enabled = rule.name != "check_failed";
        }
        let batch = engine.reconfigure(&disabled, MIN);
        assert_eq!(batch.removed, vec!["check_failed:check=db".to_string()]);
        assert!(engine.alerts().is_empty());
    }

    #[test]
    fn an_acknowledged_alert_stops_repeating_until_it_escalates() {
        let mut engine = engine(0);
        engine.observe(&sample("cpu_usage_ratio", &[], 0.9, 0), 0);
        assert!(
            engine
                .acknowledge("cpu_usage:cpu_usage_ratio", "ada", S)
                .unwrap_err()
                .contains("pending"),
            "nothing to acknowledge while pending"
        );
        engine.observe(&sample("cpu_usage_ratio", &[], 0.9, 2 * MIN), 2 * MIN);
        let batch = engine
            .acknowledge("cpu_usage:cpu_usage_ratio", "ada", 3 * MIN)
            .unwrap();
        assert_eq!(batch.upserts[0].acknowledged_by.as_deref(), Some("ada"));
        assert!(engine.acknowledge("nope", "ada", 3 * MIN).is_err());
        // The warning cooldown (30m) passes: no repeat for an acknowledged alert.
        let batch = engine.observe(&sample("cpu_usage_ratio", &[], 0.9, 40 * MIN), 40 * MIN);
        assert!(told(&batch).is_empty(), "acknowledged: no reminder");
        // Worse than what was acknowledged: told, and the acknowledgement is gone.
        let batch = engine.observe(&sample("cpu_usage_ratio", &[], 0.97, 41 * MIN), 41 * MIN);
        assert_eq!(
            told(&batch),
            vec![(NoticeKind::Escalated, Severity::Critical, String::new())]
        );
        assert_eq!(engine.alerts()[0].acknowledged_by, None);
    }

    #[test]
    fn pending_alerts_are_listed_with_their_summary() {
        let mut engine = engine(0);
        let batch = engine.observe(&sample("cpu_usage_ratio", &[], 0.9, 0), 0);
        assert_eq!(batch.upserts[0].state, "pending");
        assert_eq!(batch.upserts[0].summary, "CPU usage 90.0% on web1");
    }
}
