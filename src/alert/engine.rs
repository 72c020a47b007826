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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::connectivity::{Change, Gate};
use super::flap::{FlapChange, FlapTracker};
use super::group::{GroupTiming, Grouper, group_key, group_labels};
use super::inhibit::{Firing, dependency_closure, inhibited_by};
use super::matcher::all_match;
use super::mute::MuteSource;
use super::notice::{AlertNotice, NoticeKind};
use super::records::{AlertBatch, HistoryEntry, OutboxEntry, StoredAlert};
use super::render::{TemplateContext, format_threshold, format_value, render};
use super::silence::{Silence, muting};
use super::{AlertState, AlertTracker, Comparison, Notification, Severity, Thresholds};
use crate::clock::UnixMillis;
use crate::config::{AlertsConfig, Config, RuleConfig, RuleSource, ValueUnit};
use crate::model::{CheckResult, Layer, Observation, Status};

/// A series that has not reported for this long (and at least 3 of its intervals) is taken to
/// be gone — an unmounted filesystem, a removed check — and its alert resolves.
const STALE_AFTER_MS: i64 = 5 * 60_000;

/// The start of the mute reason of a flapping alert: "flapping: 7 changes in 12s".
pub const FLAPPING: &str = "flapping: ";

/// What the engine knows about a check, for check-status and no-data rules.
#[derive(Debug, Clone)]
struct CheckMeta {
    labels: BTreeMap<String, String>,
    interval_ms: i64,
    /// Interval + (1 + retries) × timeout: by then a run started at the latest tick has
    /// reported, a failure included (a failure is confirmed by its retries).
    report_within_ms: i64,
    last_seen_ms: UnixMillis,
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
    muted_by: String,
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
    /// Its next notice waits until then: its inhibition just lifted, and it gets the time to
    /// report once more before it is told (a symptom recovering right after its cause is
    /// not news).
    hold_until_ms: Option<UnixMillis>,
    /// Who acknowledged the firing, and when: its repeats stop until it escalates or resolves.
    acknowledged: Option<(String, UnixMillis)>,
    summary: String,
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
    /// What is remembered of an alert beyond its live state (which ends when it resolves):
    /// its recent changes (flap detection) and its resolution not sent yet.
    recent: HashMap<String, Recent>,
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
            recent: HashMap::new(),
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

    /// Nothing to do for `value` under rule `index`: no live alert of the rule, and a value
    /// that asks for none.
    fn quiet(&self, index: usize, value: f64) -> bool {
        self.live_per_rule[index] == 0
            && thresholds_of(&self.rules[index])
                .classify(value, None)
                .is_none()
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
                    hold_until_ms: None,
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
        if !self.metric_rules.is_empty() {
            for sample in &observation.samples {
                let Some(rules) = self.metric_rules.get(&sample.series.name) else {
                    continue;
                };
                for &index in rules.clone().iter() {
                    if self.quiet(index, sample.value) {
                        continue;
                    }
                    let RuleSource::Metric { matchers, .. } = &self.rules[index].source else {
                        continue;
                    };
                    if !all_match(matchers, &sample.series.labels) {
                        continue;
                    }
                    let id = format!("{}:{}", self.rules[index].name, sample.series);
                    let labels = &sample.series.labels;
                    let interval_ms = if observation.source == "system" {
                        self.system_interval_ms
                    } else {
                        self.check_interval(labels.get("check"))
                    };
                    self.evaluate(
                        index,
                        id,
                        labels,
                        sample.value,
                        String::new(),
                        interval_ms,
                        now_ms,
                        &mut batch,
                    );
                }
            }
        }
        for result in &observation.checks {
            self.observe_check(result, now_ms, &mut batch);
        }
        batch
    }

    fn observe_check(&mut self, result: &CheckResult, now_ms: UnixMillis, batch: &mut AlertBatch) {
        // A canary: the gate first, so that this very result's alert is already held when it
        // is the one that closes the gate.
        let is_canary = self
            .gate
            .as_ref()
            .is_some_and(|gate| gate.is_canary(&result.check));
        if is_canary {
            self.observe_canary(result, now_ms, batch);
        }
        let interval_ms = match self.checks.get_mut(&result.check) {
            Some(meta) => {
                meta.last_seen_ms = meta.last_seen_ms.max(result.at_ms).max(now_ms);
                meta.interval_ms
            }
            None => {
                // Not a [[check]] of the config: a system check (cpu, memory, disk:<mount>).
                let labels = [
                    ("check", result.check.as_str()),
                    ("layer", result.layer.as_str()),
                    ("type", "system"),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
                let meta = CheckMeta {
                    labels,
                    interval_ms: self.system_interval_ms,
                    report_within_ms: self.system_interval_ms,
                    last_seen_ms: now_ms,
                };
                self.checks.insert(result.check.clone(), meta);
                self.system_interval_ms
            }
        };
        let status = crate::config::alerts::status_value(result.found());
        for index in 0..self.rules.len() {
            let value = match &self.rules[index].source {
                RuleSource::CheckStatus { .. } if !self.quiet(index, status) => status,
                // A result arrived: a check with a no-data alert has data again.
                RuleSource::NoData { .. } if self.live_per_rule[index] > 0 => 0.0,
                _ => continue,
            };
            let (RuleSource::CheckStatus { matchers } | RuleSource::NoData { matchers, .. }) =
                &self.rules[index].source
            else {
                continue;
            };
            let labels = &self.checks[&result.check].labels;
            if !all_match(matchers, labels) {
                continue;
            }
            let labels = labels.clone();
            let id = format!("{}:check={}", self.rules[index].name, result.check);
            if value == 0.0
                && matches!(self.rules[index].source, RuleSource::NoData { .. })
                && !self.live.contains_key(&id)
            {
                continue;
            }
            self.evaluate(
                index,
                id,
                &labels,
                value,
                result.detail.clone(),
                interval_ms,
                now_ms,
                batch,
            );
        }
        // After this result's own rules: a dependency that just failed withdraws its
        // dependents instead of releasing them; a dependent that reported may release the
        // cause that waited for it.
        let is_dependent = self
            .depends_on
            .get(&result.check)
            .is_some_and(|deps| !deps.is_empty());
        if self.dependencies.contains(&result.check) || is_canary || is_dependent {
            self.release_held(now_ms, batch);
        }
    }

    /// A canary's result: the gate's verdict, as the check result `lookout:connectivity`
    /// (which the `connectivity_lost` rule watches); when it closes, the notices of held
    /// checks not sent yet are withdrawn.
    fn observe_canary(&mut self, result: &CheckResult, now_ms: UnixMillis, batch: &mut AlertBatch) {
        let Some(gate) = self.gate.as_mut() else {
            return;
        };
        let failing = result.found() >= Status::Unknown;
        let change = gate.observe(&result.check, failing, &result.detail, now_ms);
        let verdict = gate.verdict();
        if change == Some(Change::Lost) {
            self.withdraw_held(now_ms, batch);
        }
        if let Some((status, detail)) = verdict {
            let synthetic = CheckResult {
                check: crate::config::watch::CONNECTIVITY_CHECK.to_string(),
                layer: Layer::System,
                status,
                value: None,
                detail,
                at_ms: result.at_ms,
                underlying: None,
            };
            self.observe_check(&synthetic, now_ms, batch);
        }
    }

    /// The gate just closed: told firing notices of held checks that have not gone out yet
    /// are withdrawn (they count as not told, so only those still firing after the grace are).
    fn withdraw_held(&mut self, now_ms: UnixMillis, batch: &mut AlertBatch) {
        let Some(gate) = &self.gate else {
            return;
        };
        let reason = super::connectivity::HELD_LOST;
        let targets: Vec<String> = self
            .live
            .iter()
            .filter(|(_, a)| {
                a.told
                    && a.due_ms.is_some_and(|due| due > now_ms)
                    && matches!(a.tracker.state, AlertState::Firing { .. })
                    && a.labels.get("check").is_some_and(|c| gate.is_held(c))
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in targets {
            batch.outbox.retain(|e| e.notice.alert_id != id);
            batch.retract.push(id.clone());
            if let Some(alert) = self.live.get_mut(&id) {
                alert.told = false;
                alert.held = false;
                alert.muted_by = reason.to_string();
            }
            if let Some(entry) = self.retold(&id, NoticeKind::Firing, now_ms) {
                batch.history.push(HistoryEntry {
                    notice: entry,
                    muted_by: format!("{reason} (withdrawn before sending)"),
                });
            }
            if let Some(stored) = self.stored(&id, &self.live[&id]) {
                batch.upserts.retain(|u| u.id != id);
                batch.upserts.push(stored);
            }
        }
    }

    /// Time-driven changes: `for` elapsed, no data, cooldown repeats, stale series, lifted mutes.
    pub fn tick(&mut self, now_ms: UnixMillis) -> AlertBatch {
        let mut batch = AlertBatch::default();

        // No data: a check silent for `missed_intervals` of its intervals.
        let no_data_rules: Vec<(usize, u32)> = self
            .rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r.source {
                RuleSource::NoData {
                    missed_intervals, ..
                } => Some((i, missed_intervals)),
                _ => None,
            })
            .collect();
        if !no_data_rules.is_empty() {
            for (index, missed_intervals) in no_data_rules {
                let RuleSource::NoData { matchers, .. } = &self.rules[index].source else {
                    continue;
                };
                let has_live = self.live_per_rule[index] > 0;
                // Only checks that are silent, or that have an alert to clear, are evaluated.
                let due: Vec<(String, CheckMeta)> = self
                    .checks
                    .iter()
                    .filter(|(_, meta)| {
                        let missing = now_ms - meta.last_seen_ms
                            >= meta.interval_ms * i64::from(missed_intervals);
                        (missing || has_live) && all_match(matchers, &meta.labels)
                    })
                    .map(|(name, meta)| (name.clone(), meta.clone()))
                    .collect();
                for (name, meta) in due {
                    let silent_ms = now_ms - meta.last_seen_ms;
                    let missing = silent_ms >= meta.interval_ms * i64::from(missed_intervals);
                    let id = format!("{}:check={name}", self.rules[index].name);
                    if missing || self.live.contains_key(&id) {
                        let detail = format!(
                            "no result for {}",
                            humantime::format_duration(Duration::from_secs(
                                (silent_ms.max(0) / 1000) as u64
                            ))
                        );
                        self.evaluate(
                            index,
                            id,
                            &meta.labels,
                            if missing { 1.0 } else { 0.0 },
                            detail,
                            meta.interval_ms,
                            now_ms,
                            &mut batch,
                        );
                    }
                }
            }
        }

        // Always-firing rules (the Watchdog): fire while the engine runs.
        let always: Vec<usize> = (0..self.rules.len())
            .filter(|&i| self.rules[i].source == RuleSource::Always)
            .collect();
        for index in always {
            let id = self.rules[index].name.clone();
            let interval_ms = self.system_interval_ms;
            self.evaluate(
                index,
                id,
                &BTreeMap::new(),
                1.0,
                String::new(),
                interval_ms,
                now_ms,
                &mut batch,
            );
        }

        // `for` timers and cooldowns run on the last value; series that went away resolve.
        let ids: Vec<String> = self.live.keys().cloned().collect();
        for id in ids {
            let Some(alert) = self.live.get(&id) else {
                continue;
            };
            if matches!(
                self.rules[alert.rule].source,
                RuleSource::NoData { .. } | RuleSource::Always
            ) {
                continue;
            }
            let stale_ms = STALE_AFTER_MS.max(alert.interval_ms * 3);
            let value = if now_ms - alert.last_seen_ms > stale_ms {
                f64::NAN
            } else {
                alert.value
            };
            let (rule, labels, detail, interval_ms, last_seen_ms) = (
                alert.rule,
                alert.labels.clone(),
                alert.detail.clone(),
                alert.interval_ms,
                alert.last_seen_ms,
            );
            self.evaluate(
                rule,
                id.clone(),
                &labels,
                value,
                detail,
                interval_ms,
                now_ms,
                &mut batch,
            );
            // A tick is not a sighting: keep the time the source last reported.
            if let Some(alert) = self.live.get_mut(&id) {
                alert.last_seen_ms = last_seen_ms;
                if value.is_nan() {
                    alert.value = f64::NAN;
                }
            }
        }

        self.settle_flaps(now_ms, &mut batch);
        self.retell_unmuted(now_ms, &mut batch);
        let timing = self.timing();
        self.grouper.prune(&timing, now_ms);
        self.prune_recent(now_ms);
        batch
    }

    /// Flaps that have been stable for `stable_for` end, and their final state is told once
    /// to those who were told anything of them: a firing alert by `retell_unmuted` (its mute
    /// lifted), a resolved one here, with the resolution the flap kept back.
    fn settle_flaps(&mut self, now_ms: UnixMillis, batch: &mut AlertBatch) {
        let settings = self.settings.flapping.clone();
        let ended: Vec<(String, String)> = self
            .recent
            .iter_mut()
            .filter_map(|(id, recent)| {
                recent
                    .flap
                    .settle(&settings, now_ms)
                    .map(|description| (id.clone(), description))
            })
            .collect();
        for (id, description) in ended {
            let Some(recent) = self.recent.get_mut(&id) else {
                continue;
            };
            let owed = std::mem::take(&mut recent.owed);
            let resolution = recent.resolution.take();
            tracing::info!(alert = %id, flap = %description, "flapping ended");
            // Still firing: told again by `retell_unmuted` (its flapping mute lifted). Not
            // firing (gone, or only pending again): the resolution it owes is told here.
            if let Some(alert) = self.live.get_mut(&id)
                && matches!(alert.tracker.state, AlertState::Firing { .. })
            {
                if owed || !alert.told {
                    alert.told = false;
                    recent.final_note = Some(description);
                }
                continue;
            }
            let Some((notifiers, mut notice)) = resolution.filter(|_| owed) else {
                continue;
            };
            notice.summary = format!("{} (after flapping: {description})", notice.summary);
            notice.at_ms = now_ms;
            self.enqueue(&notifiers, &notice, now_ms, now_ms, batch);
            batch.history.push(HistoryEntry {
                notice,
                muted_by: String::new(),
            });
        }
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

    fn timing(&self) -> GroupTiming {
        GroupTiming {
            group_wait: self.settings.group_wait,
            group_wait_critical: self.settings.group_wait_critical,
            group_interval: self.settings.group_interval,
        }
    }

    fn check_interval(&self, check: Option<&String>) -> i64 {
        check
            .and_then(|name| self.checks.get(name))
            .map_or(self.system_interval_ms, |meta| meta.interval_ms)
    }

    fn interval_for(&self, labels: &BTreeMap<String, String>) -> i64 {
        self.check_interval(labels.get("check"))
    }

    /// One rule applied to one value of one source.
    #[allow(clippy::too_many_arguments)]
    fn evaluate(
        &mut self,
        rule_index: usize,
        id: String,
        source_labels: &BTreeMap<String, String>,
        value: f64,
        detail: String,
        interval_ms: i64,
        now_ms: UnixMillis,
        batch: &mut AlertBatch,
    ) {
        let rule = &self.rules[rule_index];
        let thresholds = thresholds_of(rule);
        // Hysteresis holds a firing alert only: a pending one resets under the threshold.
        let live = self.live.get(&id);
        let firing = live.and_then(|a| a.tracker.firing_severity());
        let wanted = if rule.source == RuleSource::Always {
            Some(Severity::Info)
        } else {
            thresholds.classify(value, firing)
        };
        if wanted.is_none() && live.is_none() {
            return;
        }
        let cooldowns = self.settings.severity_cooldowns(rule);
        let hold_for = rule.hold_for;
        let hold_for_critical = rule.hold_for_critical;
        if live.is_none() {
            self.live_per_rule[rule_index] += 1;
        }
        let alert = self.live.entry(id.clone()).or_insert_with(|| {
            let mut labels = source_labels.clone();
            labels.extend(rule.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
            labels.insert("alertname".to_string(), rule.name.clone());
            labels.insert("host".to_string(), self.settings.host.clone());
            LiveAlert {
                rule: rule_index,
                labels,
                tracker: AlertTracker::new(hold_for, cooldowns)
                    .with_critical_hold(hold_for_critical),
                value,
                detail: String::new(),
                last_seen_ms: now_ms,
                interval_ms,
                muted_by: String::new(),
                told: false,
                held: false,
                due_ms: None,
                firing_due_ms: None,
                hold_until_ms: None,
                acknowledged: None,
                summary: String::new(),
            }
        });
        let before = alert.tracker.state;
        alert.value = value;
        alert.detail = detail;
        alert.last_seen_ms = now_ms;
        let notification = alert.tracker.step(wanted, now_ms);
        let after = alert.tracker.state;
        // A change of the firing state is what flap detection counts.
        let was_firing = matches!(before, AlertState::Firing { .. });
        let flap = if was_firing != matches!(after, AlertState::Firing { .. }) {
            let settings = &self.settings.flapping;
            self.recent
                .entry(id.clone())
                .or_default()
                .flap
                .record(settings, now_ms)
        } else {
            FlapChange::Steady
        };
        if let Some(notification) = notification {
            let since_ms = match (before, after) {
                (_, AlertState::Firing { since_ms, .. }) => since_ms,
                (AlertState::Firing { since_ms, .. }, _) => since_ms,
                _ => now_ms,
            };
            self.notify(&id, notification, flap, since_ms, now_ms, batch);
        }
        let Some(alert) = self.live.get(&id) else {
            return;
        };
        if alert.tracker.state == AlertState::Inactive {
            self.live.remove(&id);
            self.live_per_rule[rule_index] -= 1;
            if before != AlertState::Inactive {
                batch.removed.push(id);
            }
        } else if before != after || notification.is_some() {
            if let Some(stored) = self.stored(&id, alert) {
                batch.upserts.retain(|u| u.id != id);
                batch.upserts.push(stored);
            }
        }
    }

    /// Why `labels` should not be told now, or "" when it should.
    fn mute_reason(
        &self,
        id: &str,
        rule: &RuleConfig,
        labels: &BTreeMap<String, String>,
        now_ms: UnixMillis,
    ) -> String {
        let silences = muting(&self.silences, labels, now_ms);
        if let Some(first) = silences.first() {
            return format!("silenced by {first}");
        }
        // Most alerts no inhibition could touch; only for the others is the list of firing
        // alerts gathered (this runs for every firing alert on every tick).
        let could_be_inhibited = self
            .settings
            .inhibit
            .iter()
            .any(|rule| all_match(&rule.target, labels))
            || labels
                .get("check")
                .and_then(|check| self.depends_on.get(check))
                .is_some_and(|deps| !deps.is_empty());
        if could_be_inhibited {
            let firing: Vec<Firing<'_>> = self
                .live
                .iter()
                .filter(|(_, a)| matches!(a.tracker.state, AlertState::Firing { .. }))
                .map(|(id, a)| Firing {
                    id: id.as_str(),
                    labels: &a.labels,
                })
                .collect();
            if let Some(reason) = inhibited_by(
                id,
                labels,
                &firing,
                &self.settings.inhibit,
                &self.depends_on,
            ) {
                return reason;
            }
        }
        if let Some(reason) = self.held_by_gate(labels, now_ms) {
            return reason.to_string();
        }
        if let Some(reason) = self
            .mute_sources
            .iter()
            .find_map(|source| source.mutes(rule, labels, now_ms))
        {
            return reason;
        }
        match self.recent.get(id) {
            Some(recent) if recent.flap.is_flapping() => {
                format!("{FLAPPING}{}", recent.flap.describe())
            }
            _ => String::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn notify(
        &mut self,
        id: &str,
        notification: Notification,
        flap: FlapChange,
        since_ms: UnixMillis,
        now_ms: UnixMillis,
        batch: &mut AlertBatch,
    ) {
        let Some(alert) = self.live.get_mut(id) else {
            return;
        };
        match notification {
            // Someone is on it: no reminders.
            Notification::Repeat(_) if alert.acknowledged.is_some() => return,
            // Worse than what was acknowledged: news again.
            Notification::Escalated { .. } => alert.acknowledged = None,
            _ => {}
        }
        if let Notification::Firing(severity) = notification
            && self.continue_firing(id, severity, flap, now_ms, batch)
        {
            return;
        }
        let alert = &self.live[id];
        let rule = &self.rules[alert.rule];
        let (kind, severity, previous) = match notification {
            Notification::Firing(s) => (NoticeKind::Firing, s, None),
            Notification::Escalated { from, to } => (NoticeKind::Escalated, to, Some(from)),
            Notification::DeEscalated { from, to } => (NoticeKind::DeEscalated, to, Some(from)),
            Notification::Repeat(s) => (NoticeKind::Repeat, s, None),
            Notification::Resolved { was } => (NoticeKind::Resolved, was, None),
        };
        let mut labels = alert.labels.clone();
        labels.insert("severity".to_string(), severity.as_str().to_string());
        let mut muted_by = self.mute_reason(id, rule, &labels, now_ms);
        let flapping = self.recent.get(id).is_some_and(|r| r.flap.is_flapping());
        let mut resolved_while_muted = None;
        let mut withdraw_firing = false;
        if kind == NoticeKind::Resolved {
            if flapping {
                // Kept for the end of the flap; owed if people were told it fires.
                if alert.told
                    && let Some(recent) = self.recent.get_mut(id)
                {
                    recent.owed = true;
                }
            } else if alert.told && alert.firing_due_ms.is_some_and(|due| due > now_ms) {
                // Over before anyone was told: neither the firing nor this goes out.
                withdraw_firing = true;
                muted_by = "resolved before its firing went out".to_string();
            } else if alert.told {
                // People were told it fires: they hear that it stopped, whatever mutes it now.
                if !muted_by.is_empty() {
                    resolved_while_muted = Some(std::mem::take(&mut muted_by));
                }
                if !rule.send_resolved.unwrap_or(self.settings.send_resolved) {
                    muted_by = "send_resolved = false".to_string();
                }
            } else if muted_by.is_empty() {
                muted_by = "its firing was not told".to_string();
            }
        }
        // An escalation of an alert nobody was told about is news: tell it as a firing.
        let kind = match kind {
            NoticeKind::Escalated | NoticeKind::DeEscalated | NoticeKind::Repeat if !alert.told => {
                NoticeKind::Firing
            }
            kind => kind,
        };
        let mut notice = self.notice(
            id, alert, rule, kind, severity, previous, labels, since_ms, now_ms,
        );
        notice.resolved_while_muted = resolved_while_muted;
        if let Some(note) = self
            .recent
            .get_mut(id)
            .and_then(|recent| recent.final_note.take())
        {
            notice.summary = format!("{} (after flapping: {note})", notice.summary);
        }
        let notifiers = rule.notifiers.clone();
        if withdraw_firing {
            batch.outbox.retain(|e| e.notice.alert_id != id);
            batch.retract.push(id.to_string());
        }
        // A flap starts with this firing, while people know the alert as fine: they are told
        // once that it flaps, instead of at every change.
        if flap == FlapChange::Started
            && kind == NoticeKind::Firing
            && muted_by.starts_with(FLAPPING)
        {
            let mut flapping_notice = notice.clone();
            flapping_notice.kind = NoticeKind::Flapping;
            flapping_notice.summary = format!(
                "{} is flapping: {}",
                subject_of(&notice),
                self.recent[id].flap.describe()
            );
            self.enqueue(&notifiers, &flapping_notice, now_ms, now_ms, batch);
            batch.history.push(HistoryEntry {
                notice: flapping_notice,
                muted_by: String::new(),
            });
            if let Some(recent) = self.recent.get_mut(id) {
                recent.owed = true;
            }
        }
        if kind == NoticeKind::Resolved
            && flapping
            && let Some(recent) = self.recent.get_mut(id)
            && recent.owed
        {
            recent.resolution = Some((notifiers.clone(), notice.clone()));
        }
        let told = muted_by.is_empty();
        let retell_hold = self
            .live
            .get_mut(id)
            .and_then(|alert| alert.hold_until_ms.take());
        if told {
            let hold_until = if kind == NoticeKind::Resolved {
                now_ms
            } else {
                self.known_at(&notice.labels, since_ms)
                    .max(retell_hold.unwrap_or(now_ms))
            };
            self.enqueue(&notifiers, &notice, hold_until, now_ms, batch);
        }
        let summary = notice.summary.clone();
        batch.history.push(HistoryEntry {
            notice,
            muted_by: muted_by.clone(),
        });
        if let Some(alert) = self.live.get_mut(id) {
            alert.summary = summary;
            alert.muted_by = muted_by;
            if kind != NoticeKind::Resolved {
                alert.told = alert.told || told;
            }
        }
        if kind != NoticeKind::Resolved {
            let withdrawn = self.withdraw_inhibited(id, now_ms, batch);
            if told {
                self.explain_symptoms(id, &withdrawn, batch);
            }
        }
    }

    /// The alert fires again while its told resolution has not gone out: the resolution is
    /// withdrawn, and people keep knowing it as firing since it first fired (no "resolved"
    /// then "firing" pair for a blip). Returns false when that resolution has gone out (or
    /// there was none): then this firing is news.
    fn continue_firing(
        &mut self,
        id: &str,
        severity: Severity,
        flap: FlapChange,
        now_ms: UnixMillis,
        batch: &mut AlertBatch,
    ) -> bool {
        let Some(recent) = self.recent.get_mut(id) else {
            return false;
        };
        let Some(unsent) = recent.unsent_resolution.take() else {
            return false;
        };
        if unsent.due_ms <= now_ms {
            return false;
        }
        if flap != FlapChange::Steady {
            recent.owed = true;
        }
        batch.outbox.retain(|e| e.notice.alert_id != id);
        batch.retract.push(id.to_string());
        let Some(alert) = self.live.get_mut(id) else {
            return false;
        };
        alert.told = true;
        alert.firing_due_ms = None;
        alert.tracker.state = AlertState::Firing {
            since_ms: unsent.since_ms,
            severity,
            last_notified_ms: now_ms,
        };
        if let Some(notice) = self.retold(id, NoticeKind::Firing, now_ms) {
            batch.history.push(HistoryEntry {
                notice,
                muted_by: "continues the firing told before (its resolution was withdrawn before it went out)"
                    .to_string(),
            });
        }
        if let Some(stored) = self.stored(id, &self.live[id]) {
            batch.upserts.retain(|u| u.id != id);
            batch.upserts.push(stored);
        }
        if severity > unsent.severity {
            self.notify(
                id,
                Notification::Escalated {
                    from: unsent.severity,
                    to: severity,
                },
                FlapChange::Steady,
                unsent.since_ms,
                now_ms,
                batch,
            );
        }
        true
    }

    /// `source` was just told: the alerts it explains (inhibits) — those withdrawn now and
    /// those already muted by it — are listed in its notice ("Also explains: ..."), so one
    /// message names the cause and its symptoms.
    fn explain_symptoms(&mut self, source: &str, withdrawn: &[String], batch: &mut AlertBatch) {
        let Some(alert) = self.live.get(source) else {
            return;
        };
        let mine = super::inhibit::describe(&alert.labels);
        let mut explains: Vec<(String, String)> = self
            .live
            .iter()
            .filter(|(id, a)| {
                id.as_str() != source
                    && matches!(a.tracker.state, AlertState::Firing { .. })
                    && (withdrawn.contains(id) || a.muted_by == mine)
            })
            .map(|(id, a)| (id.clone(), a.summary.clone()))
            .collect();
        if explains.is_empty() {
            return;
        }
        explains.sort();
        let explains: Vec<String> = explains.into_iter().map(|(_, summary)| summary).collect();
        for entry in batch
            .outbox
            .iter_mut()
            .filter(|e| e.notice.alert_id == source && e.notice.kind != NoticeKind::Resolved)
        {
            entry.notice.explains = explains.clone();
        }
        if let Some(entry) = batch
            .history
            .iter_mut()
            .rev()
            .find(|e| e.notice.alert_id == source && e.muted_by.is_empty())
        {
            entry.notice.explains = explains;
        }
    }

    /// Why the connectivity gate holds an alert with `labels` now, if it does.
    fn held_by_gate(
        &self,
        labels: &BTreeMap<String, String>,
        now_ms: UnixMillis,
    ) -> Option<&'static str> {
        self.gate
            .as_ref()?
            .holds(labels.get("check").map(String::as_str), now_ms)
    }

    /// When what a failure's notice waits for is known: its dependencies (is it a symptom?)
    /// and its dependents (which symptoms does it explain?).
    fn known_at(&self, labels: &BTreeMap<String, String>, since_ms: UnixMillis) -> UnixMillis {
        self.dependencies_known_at(labels, since_ms)
            .max(self.dependents_known_at(labels, since_ms))
    }

    /// When the checks that depend on a failed check will all have reported since it failed:
    /// a cause's notice waits for them so that it lists the symptoms it explains (the app
    /// failing a second after its database) instead of leaving them for a message of their
    /// own. Only for dependents that report within `group_wait` (interval + (1 + retries) ×
    /// timeout): a cause is never held longer for symptoms checked less often.
    fn dependents_known_at(
        &self,
        labels: &BTreeMap<String, String>,
        since_ms: UnixMillis,
    ) -> UnixMillis {
        if labels.get("alertname").map(String::as_str) != Some("check_failed") {
            return since_ms;
        }
        let Some(check) = labels
            .get("check")
            .filter(|c| self.dependencies.contains(*c))
        else {
            return since_ms;
        };
        let wait_ms = self.settings.group_wait.as_millis() as i64;
        self.depends_on
            .iter()
            .filter(|(_, deps)| deps.contains(check))
            .filter_map(|(dependent, _)| self.checks.get(dependent))
            .filter(|meta| meta.last_seen_ms < since_ms && meta.report_within_ms <= wait_ms)
            .map(|meta| since_ms + meta.report_within_ms)
            .max()
            .unwrap_or(since_ms)
    }

    /// When a failure's dependencies will all have reported since it began (`since_ms`):
    /// until then its notice waits, so that when the database is down, the app that depends
    /// on it is not told before the database is known to be the cause.
    fn dependencies_known_at(
        &self,
        labels: &BTreeMap<String, String>,
        since_ms: UnixMillis,
    ) -> UnixMillis {
        let check = labels.get("check");
        let mut deps: Vec<&String> = check
            .and_then(|c| self.depends_on.get(c))
            .into_iter()
            .flatten()
            .collect();
        // A held check waits for the canaries too: if they all fail, it is not news.
        if let (Some(gate), Some(check)) = (&self.gate, check)
            && gate.is_held(check)
        {
            deps.extend(gate.canaries().iter().filter(|c| *c != check));
        }
        deps.into_iter()
            .filter_map(|dep| self.checks.get(dep))
            .filter(|meta| meta.last_seen_ms < since_ms)
            .map(|meta| since_ms + meta.report_within_ms)
            .max()
            .unwrap_or(since_ms)
    }

    /// `source` just fired (or changed): alerts it now inhibits whose notices are not sent
    /// yet are withdrawn and count as not told.
    fn withdraw_inhibited(
        &mut self,
        source: &str,
        now_ms: UnixMillis,
        batch: &mut AlertBatch,
    ) -> Vec<String> {
        let Some(alert) = self.live.get(source) else {
            return Vec::new();
        };
        if !matches!(alert.tracker.state, AlertState::Firing { .. }) {
            return Vec::new();
        }
        // Most alerts inhibit nothing: skip the scan of every live alert for them (a burst of
        // hundreds of firings would otherwise scan hundreds of alerts each).
        let labels = &alert.labels;
        let can_inhibit = self
            .settings
            .inhibit
            .iter()
            .any(|rule| all_match(&rule.source, labels))
            || (labels.get("alertname").map(String::as_str) == Some("check_failed")
                && labels
                    .get("check")
                    .is_some_and(|check| self.dependencies.contains(check)));
        if !can_inhibit {
            return Vec::new();
        }
        let targets: Vec<(String, String)> = self
            .live
            .iter()
            .filter(|(id, a)| {
                id.as_str() != source
                    && a.told
                    && a.due_ms.is_some_and(|due| due > now_ms)
                    && matches!(a.tracker.state, AlertState::Firing { .. })
            })
            .filter_map(|(id, a)| {
                let mut labels = a.labels.clone();
                let severity = a.tracker.severity().unwrap_or(Severity::Warning);
                labels.insert("severity".to_string(), severity.as_str().to_string());
                let firing = [Firing {
                    id: source,
                    labels: &self.live[source].labels,
                }];
                inhibited_by(
                    id,
                    &labels,
                    &firing,
                    &self.settings.inhibit,
                    &self.depends_on,
                )
                .map(|reason| (id.clone(), reason))
            })
            .collect();
        let mut withdrawn = Vec::new();
        for (id, reason) in targets {
            batch.outbox.retain(|e| e.notice.alert_id != id);
            batch.retract.push(id.clone());
            let Some(alert) = self.live.get_mut(&id) else {
                continue;
            };
            alert.told = false;
            alert.held = false;
            alert.firing_due_ms = None;
            alert.muted_by = reason.clone();
            withdrawn.push(id.clone());
            tracing::debug!(alert = %id, %reason, "withdrawn before sending");
            let muted_by = format!("{reason} (withdrawn before sending)");
            if let Some(entry) = self.retold(&id, NoticeKind::Firing, now_ms) {
                batch.history.push(HistoryEntry {
                    notice: entry,
                    muted_by,
                });
            }
            if let Some(stored) = self.stored(&id, &self.live[&id]) {
                batch.upserts.retain(|u| u.id != id);
                batch.upserts.push(stored);
            }
        }
        withdrawn
    }

    /// Held notices whose dependencies have all reported (and did not turn out to be the
    /// cause) go out now instead of at the end of their wait.
    fn release_held(&mut self, now_ms: UnixMillis, batch: &mut AlertBatch) {
        let ready: Vec<String> = self
            .live
            .iter()
            // Only what has not gone out yet: a hold that ran out was sent, and is not sent twice.
            .filter(|(_, a)| a.held && a.due_ms.is_some_and(|due| due > now_ms))
            .filter_map(|(id, a)| match a.tracker.state {
                AlertState::Firing { since_ms, .. }
                    if self.known_at(&a.labels, since_ms) <= now_ms =>
                {
                    Some(id.clone())
                }
                _ => None,
            })
            .collect();
        for id in ready {
            let Some(notice) = self.retold(&id, NoticeKind::Firing, now_ms) else {
                continue;
            };
            let queued: Vec<OutboxEntry> = batch
                .outbox
                .iter()
                .filter(|e| e.notice.alert_id == id)
                .cloned()
                .collect();
            batch.outbox.retain(|e| e.notice.alert_id != id);
            batch.retract.push(id.clone());
            let rule_notifiers = self.rules[self.live[&id].rule].notifiers.clone();
            // The notice as first decided (its time and text), just sent sooner.
            let notice = queued.first().map_or(notice, |e| e.notice.clone());
            self.enqueue(&rule_notifiers, &notice, now_ms, now_ms, batch);
            // A cause that waited for its dependents lists the symptoms they showed.
            self.explain_symptoms(&id, &[], batch);
        }
    }

    /// A notice about the current state of a live alert (for withdrawals and releases).
    fn retold(&self, id: &str, kind: NoticeKind, now_ms: UnixMillis) -> Option<AlertNotice> {
        let alert = self.live.get(id)?;
        let AlertState::Firing {
            since_ms, severity, ..
        } = alert.tracker.state
        else {
            return None;
        };
        let rule = &self.rules[alert.rule];
        let mut labels = alert.labels.clone();
        labels.insert("severity".to_string(), severity.as_str().to_string());
        Some(self.notice(
            id, alert, rule, kind, severity, None, labels, since_ms, now_ms,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn notice(
        &self,
        id: &str,
        alert: &LiveAlert,
        rule: &RuleConfig,
        kind: NoticeKind,
        severity: Severity,
        previous: Option<Severity>,
        labels: BTreeMap<String, String>,
        since_ms: UnixMillis,
        now_ms: UnixMillis,
    ) -> AlertNotice {
        let is_no_data = matches!(rule.source, RuleSource::NoData { .. });
        let value = if is_no_data {
            alert
                .detail
                .strip_prefix("no result for ")
                .unwrap_or(&alert.detail)
                .to_string()
        } else {
            format_value(alert.value, rule.unit)
        };
        let level = match severity {
            Severity::Critical => rule.critical,
            _ => rule.warning,
        };
        // A status is its own threshold ("critical" at "critical" says nothing).
        let threshold = match (is_no_data || rule.unit == ValueUnit::Status, level) {
            (true, _) | (_, None) => String::new(),
            (false, Some(level)) => format_threshold(level, rule.unit),
        };
        let context = TemplateContext {
            value: &value,
            threshold: &threshold,
            severity: severity.as_str(),
            rule: &rule.name,
            host: &self.settings.host,
            detail: &alert.detail,
            labels: &labels,
        };
        AlertNotice {
            alert_id: id.to_string(),
            rule: rule.name.clone(),
            kind,
            severity,
            previous_severity: previous,
            category: rule.category,
            summary: render(
                if kind == NoticeKind::Resolved && !rule.summary_resolved.is_empty() {
                    &rule.summary_resolved
                } else {
                    &rule.summary
                },
                &context,
            ),
            // A resolution says it is over, and what its source reports now — not the
            // firing's "... failed: HTTP 200".
            description: if kind == NoticeKind::Resolved && !rule.summary_resolved.is_empty() {
                let over = render(&rule.summary_resolved, &context);
                match alert.detail.trim() {
                    "" => over,
                    now if over.contains(now) => over,
                    now => format!("{over}. Now: {now}"),
                }
            } else {
                render(&rule.description, &context)
            },
            value,
            threshold,
            since_ms,
            at_ms: now_ms,
            runbook_url: rule.runbook_url.clone(),
            explains: Vec::new(),
            resolved_while_muted: None,
            labels,
        }
    }

    fn enqueue(
        &mut self,
        rule_notifiers: &[String],
        notice: &AlertNotice,
        hold_until_ms: UnixMillis,
        now_ms: UnixMillis,
        batch: &mut AlertBatch,
    ) {
        let group_labels = group_labels(&self.settings.group_by, &notice.labels);
        let mut key = group_key(&group_labels);
        let timing = self.timing();
        let held = hold_until_ms > now_ms;
        let due_ms = if held {
            // Held for its dependencies: a group of its own, so that no batch of its group
            // takes it along before its dependencies have spoken.
            key = format!("{key} held:{}", notice.alert_id);
            hold_until_ms.max(now_ms + timing.group_wait_critical.as_millis() as i64)
        } else if notice.kind == NoticeKind::Resolved {
            // The group's only incident resolved: told within `group_wait`, not a whole
            // `group_interval` after its firing; next to other firing alerts it is batched.
            let lone = !self.live.iter().any(|(id, a)| {
                *id != notice.alert_id
                    && a.told
                    && matches!(a.tracker.state, AlertState::Firing { .. })
                    && super::group::group_labels(&self.settings.group_by, &a.labels)
                        == group_labels
            });
            let not_before = now_ms + self.settings.resolve_wait.as_millis() as i64;
            self.grouper
                .due_resolution(&key, lone, not_before, &timing, now_ms)
        } else {
            let urgent = notice.severity == Severity::Critical
                && matches!(notice.kind, NoticeKind::Firing | NoticeKind::Escalated);
            self.grouper.due(&key, urgent, &timing, now_ms)
        };
        let targets: Vec<&String> = if rule_notifiers.is_empty() {
            self.notifiers.iter().collect()
        } else {
            rule_notifiers.iter().collect()
        };
        for notifier in targets {
            batch.outbox.push(OutboxEntry {
                notifier: notifier.clone(),
                group_key: key.clone(),
                group_labels: group_labels.clone(),
                due_ms,
                notice: notice.clone(),
            });
        }
        if let Some(alert) = self.live.get_mut(&notice.alert_id) {
            alert.held = held;
            alert.due_ms = Some(due_ms);
            if notice.kind == NoticeKind::Firing {
                alert.firing_due_ms = Some(due_ms);
            }
        }
        if notice.kind == NoticeKind::Resolved {
            let recent = self.recent.entry(notice.alert_id.clone()).or_default();
            recent.unsent_resolution = Some(UnsentResolution {
                due_ms,
                since_ms: notice.since_ms,
                severity: notice.severity,
            });
        }
    }

    /// Firing alerts that were muted and no longer are get told now; the shown mute reason of
    /// every firing alert is kept current.
    fn retell_unmuted(&mut self, now_ms: UnixMillis, batch: &mut AlertBatch) {
        let ids: Vec<String> = self
            .live
            .iter()
            .filter(|(_, a)| matches!(a.tracker.state, AlertState::Firing { .. }))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            let alert = &self.live[&id];
            let rule = &self.rules[alert.rule];
            let mut labels = alert.labels.clone();
            let severity = alert.tracker.severity().unwrap_or(Severity::Warning);
            labels.insert("severity".to_string(), severity.as_str().to_string());
            let reason = self.mute_reason(&id, rule, &labels, now_ms);
            let told = alert.told;
            let changed = reason != alert.muted_by;
            if reason.is_empty() && !told {
                let mut since = now_ms;
                // Its cause just recovered: it reports once more before it is told.
                let was_inhibited = alert.muted_by.starts_with("inhibited by");
                let report_within_ms = alert
                    .labels
                    .get("check")
                    .and_then(|check| self.checks.get(check))
                    .map_or(0, |meta| meta.report_within_ms);
                if let Some(alert) = self.live.get_mut(&id) {
                    if was_inhibited {
                        alert.hold_until_ms = Some(now_ms + report_within_ms);
                    }
                    if let AlertState::Firing {
                        since_ms, severity, ..
                    } = alert.tracker.state
                    {
                        since = since_ms;
                        alert.tracker.state = AlertState::Firing {
                            since_ms,
                            severity,
                            last_notified_ms: now_ms,
                        };
                    }
                }
                self.notify(
                    &id,
                    Notification::Firing(severity),
                    FlapChange::Steady,
                    since,
                    now_ms,
                    batch,
                );
            } else if changed {
                if let Some(alert) = self.live.get_mut(&id) {
                    alert.muted_by = reason;
                }
            } else {
                continue;
            }
            if let Some(stored) = self.live.get(&id).and_then(|a| self.stored(&id, a)) {
                batch.upserts.retain(|u| u.id != id);
                batch.upserts.push(stored);
            }
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
        if let Some(stored) = self.stored(id, &self.live[id]) {
            batch.upserts.push(stored);
        }
        Ok(batch)
    }
}

/// What a flapping notice calls the alert: its check, else its rule and distinguishing
/// labels ("app", "cpu_usage", "disk_usage{mountpoint=/}").
fn subject_of(notice: &AlertNotice) -> String {
    if let Some(check) = notice.labels.get("check") {
        return check.clone();
    }
    let extra: Vec<String> = notice
        .labels
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "alertname" | "severity" | "host"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if extra.is_empty() {
        notice.rule.clone()
    } else {
        format!("{}{{{}}}", notice.rule, extra.join(","))
    }
}

/// The rule's thresholds; discrete values (statuses, no-data flags) clear as soon as they are
/// below the level, with no hysteresis margin.
fn thresholds_of(rule: &RuleConfig) -> Thresholds {
    let discrete = matches!(
        rule.source,
        RuleSource::CheckStatus { .. } | RuleSource::NoData { .. }
    );
    let clear = |level: Option<f64>, given: Option<f64>| {
        given.or_else(|| {
            level.filter(|_| discrete).map(|l| match rule.comparison {
                Comparison::Above => l - 0.5,
                Comparison::Below => l + 0.5,
            })
        })
    };
    Thresholds {
        comparison: rule.comparison,
        warning: rule.warning,
        critical: rule.critical,
        warning_clear: clear(rule.warning, rule.warning_clear),
        critical_clear: clear(rule.critical, rule.critical_clear),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::alert::matcher::Matcher;
    use crate::config::test_support::no_env;
    use crate::model::{Layer, Sample, SeriesKey, Status};

    const S: i64 = 1_000;
    const MIN: i64 = 60 * S;

    fn config(extra: &str) -> Config {
        let text = format!(
            r#"
[[check]]
name = "db"
type = "tcp"
address = "127.0.0.1:5432"
interval = "30s"

[[check]]
name = "app"
type = "tcp"
address = "127.0.0.1:5000"
interval = "30s"
depends_on = ["db"]
{extra}
"#
        );
        let mut config = crate::config::from_str(&text, "lookout.toml", &no_env).unwrap();
        config.alerts.host = "web1".to_string();
        config
    }

    fn engine(now_ms: i64) -> Engine {
        let mut engine = Engine::new(&config(""), now_ms);
        engine.notifiers = vec!["mail".to_string(), "hook".to_string()];
        engine
    }

    fn sample(name: &str, labels: &[(&str, &str)], value: f64, at_ms: i64) -> Observation {
        let mut key = SeriesKey::new(name);
        for (k, v) in labels {
            key = key.with(*k, *v);
        }
        Observation {
            source: "system".to_string(),
            at_ms,
            samples: vec![Sample {
                series: Arc::new(key),
                value,
            }],
            checks: Vec::new(),
        }
    }

    fn check(name: &str, status: Status, at_ms: i64) -> Observation {
        Observation {
            source: format!("check:{name}"),
            at_ms,
            samples: Vec::new(),
            checks: vec![CheckResult {
                underlying: None,
                check: name.to_string(),
                layer: Layer::Application,
                status,
                value: None,
                detail: format!("{name} said {status}"),
                at_ms,
            }],
        }
    }

    /// (kind, severity, muted_by) of each notice in the batch's history.
    fn told(batch: &AlertBatch) -> Vec<(NoticeKind, Severity, String)> {
        batch
            .history
            .iter()
            .map(|h| (h.notice.kind, h.notice.severity, h.muted_by.clone()))
            .collect()
    }

    /// `told`, for one rule only (ticks also run "no data" for the checks a test ignores).
    fn told_by(batch: &AlertBatch, rule: &str) -> Vec<(NoticeKind, Severity, String)> {
        batch
            .history
            .iter()
            .filter(|h| h.notice.rule == rule)
            .map(|h| (h.notice.kind, h.notice.severity, h.muted_by.clone()))
            .collect()
    }

    #[test]
    fn cpu_fires_after_its_for_escalates_de_escalates_and_resolves_with_hysteresis() {
        use NoticeKind::*;
        use Severity::*;
        let mut engine = engine(0);
        let cpu = |engine: &mut Engine, value: f64, at: i64| {
            told(&engine.observe(&sample("cpu_usage_ratio", &[], value, at), at))
        };
        // (value, at, expected notices, why)
        type Step = (f64, i64, Vec<(NoticeKind, Severity)>, &'static str);
        let steps: Vec<Step> = vec![
            (0.50, 0, vec![], "fine"),
            (0.85, 10 * S, vec![], "over 80%: pending for 2m"),
            (0.86, MIN + 10 * S, vec![], "still pending"),
            (
                0.84,
                2 * MIN + 10 * S,
                vec![(Firing, Warning)],
                "held 2m: fires",
            ),
            (
                0.97,
                2 * MIN + 20 * S,
                vec![(Escalated, Critical)],
                "escalation is told at once",
            ),
            (
                0.93,
                2 * MIN + 30 * S,
                vec![],
                "hysteresis: critical clears below 89.06%",
            ),
            (
                0.80,
                2 * MIN + 40 * S,
                vec![(DeEscalated, Warning)],
                "below the clear level",
            ),
            (0.76, 2 * MIN + 50 * S, vec![], "warning holds above 75%"),
            (
                0.74,
                3 * MIN,
                vec![(Resolved, Warning)],
                "resolved below 75%",
            ),
            (
                0.79,
                3 * MIN + 10 * S,
                vec![],
                "a new pending, not a firing",
            ),
        ];
        for (value, at, expected, why) in steps {
            let got: Vec<(NoticeKind, Severity)> = cpu(&mut engine, value, at)
                .into_iter()
                .map(|(k, s, _)| (k, s))
                .collect();
            assert_eq!(got, expected, "{why} (value {value} at {at} ms)");
        }
    }

    #[test]
    fn a_notice_goes_to_every_notifier_with_rendered_text_and_grouping_due_time() {
        let mut engine = engine(0);
        engine.observe(&sample("cpu_usage_ratio", &[], 0.9, 0), 0);
        let batch = engine.observe(&sample("cpu_usage_ratio", &[], 0.91, 2 * MIN), 2 * MIN);
        assert_eq!(batch.outbox.len(), 2);
        let entry = &batch.outbox[0];
        assert_eq!(entry.notifier, "mail");
        assert_eq!(entry.group_key, "{host=web1}");
        assert_eq!(entry.due_ms, 2 * MIN + 10 * S, "a warning waits group_wait");
        let notice = &entry.notice;
        assert_eq!(notice.summary, "CPU usage 91.0% on web1");
        assert_eq!(notice.value, "91.0%");
        assert_eq!(notice.threshold, "80%");
        assert_eq!(notice.since_ms, 2 * MIN);
        assert_eq!(notice.labels["alertname"], "cpu_usage");
        assert_eq!(notice.labels["severity"], "warning");
        assert_eq!(batch.upserts.len(), 1);
        assert_eq!(batch.upserts[0].state, "firing");
    }

    #[test]
    fn a_failed_check_is_critical_at_once_and_resolves_when_it_recovers() {
        let mut engine = engine(0);
        let batch = engine.observe(&check("db", Status::Critical, 5 * S), 5 * S);
        assert_eq!(
            told(&batch),
            vec![(NoticeKind::Firing, Severity::Critical, String::new())]
        );
        assert_eq!(batch.outbox[0].due_ms, 5 * S, "critical: no group wait");
        assert_eq!(batch.outbox[0].notice.summary, "db is critical");
        assert!(
            engine
                .observe(&check("db", Status::Critical, 35 * S), 35 * S)
                .is_empty()
        );
        let batch = engine.observe(&check("db", Status::Ok, 65 * S), 65 * S);
        assert_eq!(
            told(&batch),
            vec![(NoticeKind::Resolved, Severity::Critical, String::new())]
        );
        assert_eq!(batch.outbox[0].notice.since_ms, 5 * S);
        // Worded as over, not as the firing's "failed: db said ok".
        assert_eq!(batch.outbox[0].notice.summary, "db is ok again");
        assert_eq!(
            batch.outbox[0].notice.description,
            "db is ok again. Now: db said ok"
        );
        assert_eq!(batch.removed, vec!["check_failed:check=db".to_string()]);
        assert!(engine.alerts().is_empty());
    }

    #[test]
    fn system_checks_do_not_bypass_their_for() {
        let mut engine = engine(0);
        let mut observation = check("cpu", Status::Critical, 0);
        observation.checks[0].layer = Layer::System;
        assert!(engine.observe(&observation, 0).is_empty());
    }

    #[test]
    fn still_firing_alerts_repeat_after_their_severity_cooldown() {
        let mut engine = engine(0);
        engine.observe(&check("db", Status::Critical, 0), 0);
        for at in [MIN, 4 * MIN + 59 * S] {
            engine.observe(&check("db", Status::Critical, at), at);
            assert!(
                told_by(&engine.tick(at), "check_failed").is_empty(),
                "within 5m at {at}"
            );
        }
        let batch = engine.observe(&check("db", Status::Critical, 5 * MIN), 5 * MIN);
        assert_eq!(
            told_by(&batch, "check_failed"),
            vec![(NoticeKind::Repeat, Severity::Critical, String::new())]
        );
        assert!(told_by(&engine.tick(6 * MIN), "check_failed").is_empty());
        // The tick repeats too, when no new result comes (the check's series is not yet stale).
        assert_eq!(
            told_by(&engine.tick(10 * MIN), "check_failed"),
            vec![(NoticeKind::Repeat, Severity::Critical, String::new())]
        );
    }

    #[test]
    fn a_check_with_no_result_for_three_intervals_is_no_data() {
        let mut engine = engine(0);
        engine.observe(&check("db", Status::Ok, 0), 0);
        engine.observe(&check("app", Status::Ok, 0), 0);
        assert!(engine.tick(89 * S).is_empty());
        engine.observe(&check("app", Status::Ok, 60 * S), 60 * S);
        let batch = engine.tick(90 * S);
        assert_eq!(
            told(&batch),
            vec![(NoticeKind::Firing, Severity::Warning, String::new())]
        );
        let notice = &batch.history[0].notice;
        assert_eq!(notice.labels["check"], "db");
        assert_eq!(notice.summary, "No data from db");
        assert_eq!(notice.value, "1m 30s");
        let batch = engine.observe(&check("db", Status::Ok, 100 * S), 100 * S);
        assert_eq!(
            told(&batch),
            vec![(NoticeKind::Resolved, Severity::Warning, String::new())]
        );
    }

    #[test]
    fn a_down_check_inhibits_its_dependents_and_an_inhibition_lifting_tells_them() {
        let mut engine = engine(0);
        engine.observe(&check("db", Status::Critical, 0), 0);
        let batch = engine.observe(&check("app", Status::Critical, S), S);
        assert_eq!(
            told(&batch),
            vec![(
                NoticeKind::Firing,
                Severity::Critical,
                "inhibited by check_failed{check=db}".to_string()
            )]
        );
        assert!(
            batch.outbox.is_empty(),
            "an inhibited alert is recorded, not sent"
        );
        assert_eq!(
            engine
                .alerts()
                .iter()
                .find(|a| a.rule == "check_failed" && a.labels["check"] == "app")
                .unwrap()
                .muted_by,
            "inhibited by check_failed{check=db}"
        );
        // db recovers, app is still down: now app is news.
        engine.observe(&check("db", Status::Ok, 30 * S), 30 * S);
        let batch = engine.tick(31 * S);
        assert_eq!(
            told(&batch),
            vec![(NoticeKind::Firing, Severity::Critical, String::new())]
        );
        assert_eq!(batch.outbox[0].notice.labels["check"], "app");
        assert_eq!(
            batch.outbox[0].due_ms,
            31 * S + 40 * S,
            "app reports once more (30s + 2 × 5s) before it is told"
        );
    }

    #[test]
    fn a_symptom_recovering_right_after_its_cause_is_never_told() {
        let mut engine = engine(0);
        let mut receiver = Receiver::default();
        receiver.take(engine.observe(&check("db", Status::Critical, 0), 0), 0);
        receiver.take(engine.observe(&check("app", Status::Critical, S), S), S);
        receiver.take(
            engine.observe(&check("db", Status::Ok, 30 * S), 30 * S),
            30 * S,
        );
        receiver.take(engine.tick(31 * S), 31 * S);
        receiver.take(
            engine.observe(&check("app", Status::Ok, 33 * S), 33 * S),
            33 * S,
        );
        receiver.take(engine.tick(200 * S), 200 * S);
        assert_eq!(
            receiver.kinds(),
            vec![
                (NoticeKind::Firing, "db".to_string()),
                (NoticeKind::Resolved, "db".to_string())
            ],
            "{:#?}",
            receiver.log()
        );
    }

    #[test]
    fn a_dependent_failing_first_waits_for_its_dependency_and_is_withdrawn_when_it_is_the_cause() {
        // Regression: db and app failing in the same tick, app's result first, used to mail
        // both; the database is the news, the app is its consequence.
        let mut engine = engine(0);
        engine.observe(&check("db", Status::Ok, 0), 0);
        let batch = engine.observe(&check("app", Status::Critical, 10 * S), 10 * S);
        assert_eq!(
            told(&batch),
            vec![(NoticeKind::Firing, Severity::Critical, String::new())]
        );
        assert_eq!(
            batch.outbox[0].due_ms,
            10 * S + 40 * S,
            "held until db (30s interval + (1 + 1 retry) × 5s timeout) has reported"
        );
        let batch = engine.observe(&check("db", Status::Critical, 11 * S), 11 * S);
        assert_eq!(batch.retract, vec!["check_failed:check=app".to_string()]);
        assert!(
            batch
                .outbox
                .iter()
                .all(|e| e.notice.labels["check"] == "db")
        );
        assert_eq!(batch.outbox[0].due_ms, 11 * S, "the cause goes out at once");
        let app = engine
            .alerts()
            .into_iter()
            .find(|a| a.labels["check"] == "app")
            .unwrap();
        assert_eq!(app.muted_by, "inhibited by check_failed{check=db}");
        assert!(batch.history.iter().any(
            |h| h.muted_by == "inhibited by check_failed{check=db} (withdrawn before sending)"
        ));
        // Both recover: app's resolution is not told (its firing never was).
        engine.observe(&check("db", Status::Ok, 40 * S), 40 * S);
        let batch = engine.observe(&check("app", Status::Ok, 41 * S), 41 * S);
        assert!(batch.outbox.is_empty());
    }

    #[test]
    fn a_held_dependent_goes_out_as_soon_as_its_dependency_reports_healthy() {
        let mut engine = engine(0);
        engine.observe(&check("db", Status::Ok, 0), 0);
        let batch = engine.observe(&check("app", Status::Critical, 10 * S), 10 * S);
        let first = batch.outbox[0].clone();
        let batch = engine.observe(&check("db", Status::Ok, 12 * S), 12 * S);
        assert_eq!(batch.retract, vec!["check_failed:check=app".to_string()]);
        assert_eq!(batch.outbox.len(), 2, "re-queued for both notifiers");
        assert_eq!(batch.outbox[0].due_ms, 12 * S);
        let again = &batch.outbox[0].notice;
        assert_eq!(
            (again.kind, again.since_ms, &again.summary),
            (
                first.notice.kind,
                first.notice.since_ms,
                &first.notice.summary
            ),
            "the same news, sooner"
        );
        // Without dependencies nothing is held (after the group's burst limit of group_wait).
        let batch = engine.observe(&check("db", Status::Critical, 25 * S), 25 * S);
        assert_eq!(batch.outbox[0].due_ms, 25 * S);
        assert!(
            batch.retract.is_empty(),
            "app was already sent: nothing to withdraw"
        );
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

    #[test]
    fn a_resolution_of_a_firing_nobody_was_told_about_is_not_sent() {
        let mut engine = engine(0);
        engine.observe(&check("db", Status::Critical, 0), 0);
        engine.observe(&check("app", Status::Critical, S), S);
        let batch = engine.observe(&check("app", Status::Ok, 2 * S), 2 * S);
        assert_eq!(
            told(&batch),
            vec![(
                NoticeKind::Resolved,
                Severity::Critical,
                "inhibited by check_failed{check=db}".to_string()
            )]
        );
        assert!(batch.outbox.is_empty());
    }

    #[test]
    fn silences_mute_matching_alerts_until_they_end() {
        let mut engine = engine(0);
        engine.set_silences(vec![Silence {
            id: "s1".to_string(),
            matchers: vec![Matcher::parse("check=\"db\"").unwrap()],
            starts_ms: 0,
            ends_ms: 10 * MIN,
            author: "ops".to_string(),
            comment: "db upgrade".to_string(),
        }]);
        let batch = engine.observe(&check("db", Status::Critical, S), S);
        assert_eq!(batch.history[0].muted_by, "silenced by s1");
        assert!(batch.outbox.is_empty());
        for at in (30 * S..10 * MIN).step_by(30_000) {
            engine.observe(&check("db", Status::Critical, at), at);
            assert!(
                told_by(&engine.tick(at), "check_failed").is_empty(),
                "silenced at {at}"
            );
        }
        engine.observe(&check("db", Status::Critical, 10 * MIN), 10 * MIN);
        let batch = engine.tick(10 * MIN);
        assert_eq!(
            told_by(&batch, "check_failed"),
            vec![(NoticeKind::Firing, Severity::Critical, String::new())]
        );
        assert_eq!(batch.outbox.len(), 2);
        assert_eq!(
            batch.outbox[0].notice.since_ms, S,
            "since the alert started"
        );
    }

    struct Maintenance;
    impl MuteSource for Maintenance {
        fn mutes(
            &self,
            rule: &RuleConfig,
            _labels: &BTreeMap<String, String>,
            now_ms: UnixMillis,
        ) -> Option<String> {
            (rule.maintenance_affected && now_ms < 5 * MIN).then(|| "maintenance".to_string())
        }
    }

    #[test]
    fn a_mute_source_mutes_only_the_rules_it_affects() {
        let mut engine = engine(0);
        engine.add_mute_source(Arc::new(Maintenance));
        let batch = engine.observe(&check("db", Status::Critical, S), S);
        assert_eq!(batch.history[0].muted_by, "maintenance");
        engine.observe(&sample("memory_usage_ratio", &[], 0.99, 0), 0);
        let batch = engine.observe(&sample("memory_usage_ratio", &[], 0.99, 2 * MIN), 2 * MIN);
        assert_eq!(
            told(&batch),
            vec![(NoticeKind::Firing, Severity::Critical, String::new())],
            "memory is not affected by maintenance"
        );
    }

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
    fn an_alert_whose_series_stops_reporting_resolves() {
        let mut engine = engine(0);
        let disk = |value: f64, at: i64| {
            sample(
                "filesystem_usage_ratio",
                &[("mountpoint", "/mnt/usb"), ("device", "/dev/sdb1")],
                value,
                at,
            )
        };
        engine.observe(&disk(0.92, 0), 0);
        let batch = engine.observe(&disk(0.92, 2 * MIN), 2 * MIN);
        assert_eq!(
            batch.history[0].notice.summary,
            "Disk /mnt/usb 92.0% full on web1"
        );
        assert!(
            told_by(&engine.tick(7 * MIN), "disk_usage").is_empty(),
            "5 minutes of silence is not yet gone"
        );
        let batch = engine.tick(7 * MIN + S);
        assert_eq!(
            told_by(&batch, "disk_usage"),
            vec![(NoticeKind::Resolved, Severity::Warning, String::new())]
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

    // ---- Watching the watcher.

    fn result(name: &str, status: Status, at_ms: i64) -> Observation {
        let mut observation = check(name, status, at_ms);
        observation.checks[0].detail = format!("{name} {status}");
        observation
    }

    #[test]
    fn the_watchdog_always_fires_at_info_only_to_its_notifiers_and_repeats() {
        let text = "[[alerts.rule]]\nname = \"Watchdog\"\nenabled = true\nnotifiers = [\"am\"]\n\
                    [[notifier]]\nname = \"am\"\ntype = \"alertmanager\"\nurls = [\"http://127.0.0.1:9093\"]\n";
        let mut engine = Engine::new(&config(text), 0);
        engine.notifiers = vec!["mail".to_string(), "am".to_string()];
        let batch = engine.tick(0);
        assert_eq!(
            told_by(&batch, "Watchdog"),
            vec![(NoticeKind::Firing, Severity::Info, String::new())]
        );
        let targets: Vec<&str> = batch.outbox.iter().map(|e| e.notifier.as_str()).collect();
        assert_eq!(targets, ["am"], "never the mail");
        let notice = &batch.outbox[0].notice;
        assert_eq!(notice.labels["alertname"], "Watchdog");
        assert_eq!(notice.labels["severity"], "info");
        assert_eq!(notice.summary, "Watchdog: Lookout on web1 is alive");
        // (at, repeats) : it never resolves; it repeats after the info cooldown (15m).
        for (at, expected) in [
            (MIN, 0),
            (14 * MIN, 0),
            (15 * MIN, 1),
            (16 * MIN, 0),
            (60 * MIN, 1),
        ] {
            let told = told_by(&engine.tick(at), "Watchdog");
            assert_eq!(told.len(), expected, "at {at}: {told:?}");
            assert!(told.iter().all(|(kind, _, _)| *kind == NoticeKind::Repeat));
        }
        assert!(
            engine
                .alerts()
                .iter()
                .any(|a| a.rule == "Watchdog" && a.state == "firing")
        );
        // Off by default.
        assert!(told_by(&self::engine(0).tick(0), "Watchdog").is_empty());
    }

    /// db, app (depends on db), and the canaries gw and dns, every 10 s; grace 30 s.
    fn gated_engine() -> Engine {
        let extra = "[[check]]\nname = \"gw\"\ntype = \"tcp\"\naddress = \"10.0.0.1:53\"\ninterval = \"10s\"\n\
                     [[check]]\nname = \"dns\"\ntype = \"tcp\"\naddress = \"9.9.9.9:53\"\ninterval = \"10s\"\n\
                     [alerts.connectivity]\ncanaries = [\"gw\", \"dns\"]\ngrace = \"30s\"\n";
        let mut engine = Engine::new(&config(extra), 0);
        engine.notifiers = vec!["hook".to_string()];
        for name in ["db", "app", "gw", "dns"] {
            engine.observe(&result(name, Status::Ok, 0), 0);
        }
        engine
    }

    /// (rule, check, kind) of the notices the batch sends.
    fn sent(batch: &AlertBatch) -> Vec<(String, String, NoticeKind)> {
        batch
            .outbox
            .iter()
            .map(|e| {
                let n = &e.notice;
                let check = n.labels.get("check").cloned().unwrap_or_default();
                (n.rule.clone(), check, n.kind)
            })
            .collect()
    }

    #[test]
    fn when_every_canary_fails_one_connectivity_alert_goes_out_and_the_checks_are_held() {
        let mut engine = gated_engine();
        let owned = |v: &[(&str, &str, NoticeKind)]| -> Vec<(String, String, NoticeKind)> {
            v.iter()
                .map(|(a, b, k)| (a.to_string(), b.to_string(), *k))
                .collect()
        };
        engine.observe(&result("db", Status::Ok, 9 * S), 9 * S);
        // app fails: its notice waits for the canaries (they have not reported since).
        let batch = engine.observe(&result("app", Status::Critical, 10 * S), 10 * S);
        assert!(
            batch.outbox[0].due_ms > 10 * S,
            "until db, gw and dns report"
        );
        let batch = engine.observe(&result("gw", Status::Critical, 11 * S), 11 * S);
        assert!(
            batch.outbox.iter().all(|e| e.due_ms > 11 * S),
            "gw waits for dns"
        );
        // dns fails too: the gate closes. Withdrawn: app's and gw's notices; sent: one alert.
        let batch = engine.observe(&result("dns", Status::Critical, 12 * S), 12 * S);
        assert_eq!(
            sent(&batch),
            owned(&[(
                "connectivity_lost",
                "lookout:connectivity",
                NoticeKind::Firing
            )])
        );
        let mut retracted = batch.retract.clone();
        retracted.sort();
        assert_eq!(
            retracted,
            ["check_failed:check=app", "check_failed:check=gw"]
        );
        let notice = &batch.outbox[0].notice;
        assert_eq!(notice.severity, Severity::Critical);
        assert_eq!(
            notice.summary,
            "Monitoring connectivity lost: every canary fails: gw (gw critical), dns (dns critical)"
        );
        assert!(
            batch
                .history
                .iter()
                .any(
                    |h| h.notice.labels.get("check").map(String::as_str) == Some("dns")
                        && h.muted_by == "held: monitoring connectivity lost"
                )
        );
        // While lost: results and ticks keep state but send nothing; db is local to nothing
        // here but is a network check too, so its failure is held as well.
        for at in [20 * S, 25 * S, 28 * S] {
            for name in ["gw", "dns", "app"] {
                assert!(sent(&engine.observe(&result(name, Status::Critical, at), at)).is_empty());
            }
            assert!(
                sent(&engine.observe(&result("db", Status::Critical, at), at)).is_empty(),
                "db held at {at}"
            );
            assert!(sent(&engine.tick(at)).is_empty());
        }
        // gw answers: "restored", and nothing else yet.
        let batch = engine.observe(&result("gw", Status::Ok, 30 * S), 30 * S);
        assert_eq!(
            sent(&batch),
            owned(&[(
                "connectivity_lost",
                "lookout:connectivity",
                NoticeKind::Resolved
            )])
        );
        assert_eq!(
            batch.outbox[0].notice.summary,
            "Monitoring connectivity restored: gw answer(s) again"
        );
        // app and db recover within the grace: never told. dns stays down.
        for at in [31 * S, 40 * S, 50 * S, 59 * S] {
            for (name, status) in [
                ("app", Status::Ok),
                ("db", Status::Ok),
                ("dns", Status::Critical),
                ("gw", Status::Ok),
            ] {
                assert!(
                    sent(&engine.observe(&result(name, status, at), at)).is_empty(),
                    "{name} at {at}"
                );
            }
            assert!(sent(&engine.tick(at)).is_empty(), "tick at {at}");
        }
        // The grace is over: only what still fires is told.
        let batch = engine.tick(60 * S);
        assert_eq!(
            sent(&batch),
            owned(&[("check_failed", "dns", NoticeKind::Firing)])
        );
    }

    #[test]
    fn a_check_failing_while_the_canaries_answer_is_told_as_soon_as_they_reported() {
        let mut engine = gated_engine();
        engine.observe(&result("db", Status::Ok, 9 * S), 9 * S);
        let batch = engine.observe(&result("app", Status::Critical, 10 * S), 10 * S);
        assert_eq!(
            batch.outbox[0].due_ms,
            10 * S + 40 * S,
            "held for db (30s + 2 × 5s) and the canaries (10s + 2 × 5s)"
        );
        engine.observe(&result("db", Status::Ok, 11 * S), 11 * S);
        engine.observe(&result("gw", Status::Ok, 11 * S), 11 * S);
        let batch = engine.observe(&result("dns", Status::Ok, 12 * S), 12 * S);
        assert_eq!(batch.retract, vec!["check_failed:check=app".to_string()]);
        assert_eq!(batch.outbox.len(), 1);
        assert_eq!(
            batch.outbox[0].due_ms,
            12 * S,
            "released: the network is fine"
        );
        assert_eq!(batch.outbox[0].notice.labels["check"], "app");
    }

    #[test]
    fn an_alert_told_before_the_loss_still_tells_its_recovery() {
        let mut engine = gated_engine();
        for name in ["gw", "dns", "db"] {
            engine.observe(&result(name, Status::Ok, 9 * S), 9 * S);
        }
        // db fails and is told (the canaries reported after it began).
        engine.observe(&result("db", Status::Critical, 10 * S), 10 * S);
        engine.observe(&result("gw", Status::Ok, 11 * S), 11 * S);
        let batch = engine.observe(&result("dns", Status::Ok, 12 * S), 12 * S);
        assert_eq!(sent(&batch).len(), 1, "db released");
        engine.observe(&result("gw", Status::Critical, 20 * S), 20 * S);
        engine.observe(&result("dns", Status::Critical, 20 * S), 20 * S);
        engine.observe(&result("gw", Status::Ok, 30 * S), 30 * S);
        let batch = engine.observe(&result("db", Status::Ok, 31 * S), 31 * S);
        assert_eq!(
            sent(&batch),
            vec![(
                "check_failed".to_string(),
                "db".to_string(),
                NoticeKind::Resolved
            )],
            "people were told db was down: they hear it is back"
        );
    }

    // ---- Alert trust (issue 16): flaps, told resolutions, root cause first.

    /// What receivers get: the engine's outbox rows applied as the store and outbox worker
    /// do (a retraction withdraws rows not yet due; due rows go out at the next `flush`).
    #[derive(Default)]
    struct Receiver {
        queued: Vec<OutboxEntry>,
        sent: Vec<(i64, AlertNotice)>,
    }

    impl Receiver {
        fn take(&mut self, batch: AlertBatch, now_ms: i64) {
            self.flush(now_ms - 1);
            self.queued
                .retain(|e| !(batch.retract.contains(&e.notice.alert_id) && e.due_ms > now_ms - 1));
            // The checks a test does not run would add their "no data" alerts.
            self.queued.extend(
                batch.outbox.into_iter().filter(|e| {
                    e.notifier == "mail" && !e.notice.summary.starts_with("No data from")
                }),
            );
            self.flush(now_ms);
        }

        fn flush(&mut self, now_ms: i64) {
            let (due, later): (Vec<OutboxEntry>, Vec<OutboxEntry>) =
                self.queued.drain(..).partition(|e| e.due_ms <= now_ms);
            self.queued = later;
            self.sent
                .extend(due.into_iter().map(|e| (e.due_ms, e.notice)));
        }

        /// (due s, kind, summary), for failure messages.
        fn log(&self) -> Vec<(i64, NoticeKind, String)> {
            self.sent
                .iter()
                .map(|(at, n)| (at / S, n.kind, n.summary.clone()))
                .collect()
        }

        fn kinds(&self) -> Vec<(NoticeKind, String)> {
            self.sent
                .iter()
                .map(|(_, n)| (n.kind, n.labels.get("check").cloned().unwrap_or_default()))
                .collect()
        }
    }

    /// Runs `app`'s statuses, one per second from `start_s`, with ticks in between.
    fn run(
        engine: &mut Engine,
        receiver: &mut Receiver,
        check_name: &str,
        statuses: impl IntoIterator<Item = Status>,
        start_s: i64,
    ) -> i64 {
        let mut at = start_s * S;
        for status in statuses {
            let batch = engine.observe(&check(check_name, status, at), at);
            receiver.take(batch, at);
            let batch = engine.tick(at + S / 2);
            receiver.take(batch, at + S / 2);
            at += S;
        }
        at
    }

    fn lone_engine(extra: &str) -> Engine {
        let text = format!(
            "[alerts]\ngroup_wait = \"10s\"\n{extra}\n[[check]]\nname = \"web\"\ntype = \"tcp\"\n\
             address = \"127.0.0.1:5000\"\ninterval = \"1s\"\ntimeout = \"1s\"\n"
        );
        let mut engine = Engine::new(&config(&text), 0);
        engine.notifiers = vec!["mail".to_string()];
        engine
    }

    fn flapping(period_s: usize, for_s: usize) -> Vec<Status> {
        (0..for_s)
            .map(|i| {
                if (i / period_s) % 2 == 0 {
                    Status::Critical
                } else {
                    Status::Ok
                }
            })
            .collect()
    }

    #[test]
    fn a_check_flapping_every_2_or_5_seconds_for_90_seconds_is_told_twice_at_most() {
        for period in [2, 5] {
            let mut engine = lone_engine("");
            let mut receiver = Receiver::default();
            let end = run(&mut engine, &mut receiver, "web", flapping(period, 90), 0);
            // Then healthy for three minutes.
            let end = run(
                &mut engine,
                &mut receiver,
                "web",
                vec![Status::Ok; 180],
                end / S,
            );
            receiver.flush(end);
            let kinds = receiver.kinds();
            assert_eq!(
                kinds,
                vec![
                    (NoticeKind::Firing, "web".to_string()),
                    (NoticeKind::Resolved, "web".to_string())
                ],
                "flap every {period}s: {:#?}",
                receiver.log()
            );
            let (first_at, _) = receiver.sent[0];
            assert_eq!(first_at, 0, "the first failure is told at once");
            let (_, last) = &receiver.sent[1];
            assert!(
                last.summary.contains("after flapping"),
                "the final state says it flapped: {}",
                last.summary
            );
        }
    }

    #[test]
    fn a_slow_flap_is_told_once_as_flapping_then_its_final_state_once() {
        // Down 20 s, up 20 s: each resolution goes out before the next failure.
        let mut engine = lone_engine("");
        let mut receiver = Receiver::default();
        let end = run(&mut engine, &mut receiver, "web", flapping(20, 400), 0);
        let flapping_alert = engine.alerts().into_iter().find(|a| a.flapping);
        assert!(
            flapping_alert.is_some() || engine.recent.values().any(|r| r.flap.is_flapping()),
            "shown as flapping"
        );
        let end = run(
            &mut engine,
            &mut receiver,
            "web",
            vec![Status::Ok; 200],
            end / S,
        );
        receiver.flush(end);
        let kinds: Vec<NoticeKind> = receiver.kinds().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            kinds,
            vec![
                NoticeKind::Firing,
                NoticeKind::Resolved,
                NoticeKind::Firing,
                NoticeKind::Resolved,
                NoticeKind::Flapping,
                NoticeKind::Resolved,
            ],
            "{:#?}",
            receiver.log()
        );
        assert!(
            receiver.sent[4]
                .1
                .summary
                .starts_with("web is flapping: 5 changes in")
        );
    }

    #[test]
    fn a_flap_that_ends_with_the_alert_only_pending_still_tells_its_resolution() {
        let text = "[alerts]\ngroup_wait = \"1s\"\n[[alerts.rule]]\nname = \"load\"\nmetric = \"load\"\n\
                    unit = \"number\"\ncritical = 90\nfor = \"5s\"\nfor_critical = \"5s\"\n";
        let mut engine = Engine::new(&config(text), 0);
        engine.notifiers = vec!["mail".to_string()];
        let mut receiver = Receiver::default();
        let feed =
            |engine: &mut Engine, receiver: &mut Receiver, value: f64, from: i64, to: i64| {
                for at in from..to {
                    receiver.take(
                        engine.observe(&sample("load", &[], value, at * S), at * S),
                        at * S,
                    );
                    receiver.take(engine.tick(at * S + S / 2), at * S + S / 2);
                }
            };
        // High 6 s (fires after 5 s), low 12 s (its resolution goes out), three times: the
        // fifth change (the third firing) makes it a flap, told as flapping.
        for cycle in 0..3 {
            let start = cycle * 18;
            feed(&mut engine, &mut receiver, 95.0, start, start + 6);
            feed(&mut engine, &mut receiver, 10.0, start + 6, start + 18);
        }
        // Then only short rises, never long enough to fire: pending when the flap settles.
        for cycle in 0..40 {
            let start = 54 + cycle * 6;
            feed(&mut engine, &mut receiver, 95.0, start, start + 3);
            feed(&mut engine, &mut receiver, 10.0, start + 3, start + 6);
        }
        receiver.flush(400 * S);
        let kinds: Vec<NoticeKind> = receiver.kinds().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            kinds,
            vec![
                NoticeKind::Firing,
                NoticeKind::Resolved,
                NoticeKind::Firing,
                NoticeKind::Resolved,
                NoticeKind::Flapping,
                NoticeKind::Resolved,
            ],
            "{:#?}",
            receiver.log()
        );
    }

    #[test]
    fn a_flap_that_ends_failing_is_told_failing_once() {
        let mut engine = lone_engine("");
        let mut receiver = Receiver::default();
        let end = run(&mut engine, &mut receiver, "web", flapping(2, 30), 0);
        let end = run(
            &mut engine,
            &mut receiver,
            "web",
            vec![Status::Critical; 200],
            end / S,
        );
        receiver.flush(end);
        let kinds: Vec<NoticeKind> = receiver.kinds().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            kinds,
            vec![NoticeKind::Firing, NoticeKind::Firing],
            "{:#?}",
            receiver.log()
        );
        assert!(receiver.sent[1].1.summary.contains("after flapping"));
    }

    #[test]
    fn a_short_outage_is_resolved_within_group_wait_and_a_blip_does_not_resolve_at_all() {
        let mut engine = lone_engine("");
        let mut receiver = Receiver::default();
        let mut statuses = vec![Status::Critical; 20];
        statuses.extend(vec![Status::Ok; 30]);
        let end = run(&mut engine, &mut receiver, "web", statuses, 0);
        receiver.flush(end);
        assert_eq!(receiver.sent.len(), 2);
        assert_eq!(receiver.sent[1].1.kind, NoticeKind::Resolved);
        assert_eq!(
            receiver.sent[1].0,
            30 * S,
            "recovered at 20 s, told at 30 s"
        );

        // Down, up for 3 s, down again: one incident, not three notices.
        let mut engine = lone_engine("");
        let mut receiver = Receiver::default();
        let mut statuses = vec![Status::Critical; 5];
        statuses.extend(vec![Status::Ok; 3]);
        statuses.extend(vec![Status::Critical; 5]);
        statuses.extend(vec![Status::Ok; 30]);
        let end = run(&mut engine, &mut receiver, "web", statuses, 0);
        receiver.flush(end);
        let kinds: Vec<NoticeKind> = receiver.kinds().into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, vec![NoticeKind::Firing, NoticeKind::Resolved]);
        assert_eq!(
            receiver.sent[1].1.since_ms, 0,
            "the resolution is of the incident that began at 0"
        );
    }

    #[test]
    fn a_told_alert_resolution_is_told_even_when_a_silence_came_later() {
        let mut engine = lone_engine("");
        let mut receiver = Receiver::default();
        let end = run(
            &mut engine,
            &mut receiver,
            "web",
            vec![Status::Critical; 3],
            0,
        );
        engine.set_silences(vec![Silence {
            id: "s1".to_string(),
            matchers: vec![Matcher::parse("check=\"web\"").unwrap()],
            starts_ms: 0,
            ends_ms: 3_600_000,
            author: "ops".to_string(),
            comment: "looking".to_string(),
        }]);
        let end = run(
            &mut engine,
            &mut receiver,
            "web",
            vec![Status::Critical; 3],
            end / S,
        );
        let end = run(
            &mut engine,
            &mut receiver,
            "web",
            vec![Status::Ok; 20],
            end / S,
        );
        receiver.flush(end);
        let kinds: Vec<NoticeKind> = receiver.kinds().into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, vec![NoticeKind::Firing, NoticeKind::Resolved]);
        let note = receiver.sent[1].1.resolved_while_muted.clone();
        assert!(
            note.as_deref()
                .is_some_and(|n| n.starts_with("silenced by")),
            "{note:?}"
        );
    }

    #[test]
    fn implied_by_layers_the_database_is_told_first_with_the_app_symptoms_it_explains() {
        let text = "[[check]]\nname = \"pg\"\ntype = \"tcp\"\naddress = \"127.0.0.1:5432\"\n\
                    layer = \"database\"\ninterval = \"1s\"\ntimeout = \"1s\"\nretries = 1\n\
                    [[check]]\nname = \"web\"\ntype = \"tcp\"\naddress = \"127.0.0.1:5000\"\n\
                    layer = \"application\"\ninterval = \"1s\"\ntimeout = \"1s\"\n";
        let mut engine = Engine::new(&config(text), 0);
        engine.notifiers = vec!["mail".to_string()];
        let mut receiver = Receiver::default();
        receiver.take(engine.observe(&check("pg", Status::Ok, 0), 0), 0);
        // The app fails first; the database's failure is confirmed 2 s later (its retry).
        receiver.take(engine.observe(&check("web", Status::Critical, S), S), S);
        assert_eq!(receiver.sent.len(), 0, "held for pg (1s + 2 × 1s)");
        receiver.take(engine.tick(2 * S), 2 * S);
        receiver.take(
            engine.observe(&check("pg", Status::Critical, 3 * S), 3 * S),
            3 * S,
        );
        receiver.take(engine.tick(10 * S), 10 * S);
        let kinds = receiver.kinds();
        assert_eq!(kinds, vec![(NoticeKind::Firing, "pg".to_string())]);
        assert_eq!(
            receiver.sent[0].1.explains.len(),
            1,
            "{:?}",
            receiver.sent[0].1
        );
        assert!(receiver.sent[0].1.explains[0].contains("web"));

        // The database fails first, the app a moment later: the database's notice waits for
        // the app's report (due within group_wait) and lists it.
        let mut engine = Engine::new(&config(text), 0);
        engine.notifiers = vec!["mail".to_string()];
        let mut receiver = Receiver::default();
        receiver.take(engine.observe(&check("pg", Status::Ok, 0), 0), 0);
        receiver.take(engine.observe(&check("web", Status::Ok, 0), 0), 0);
        receiver.take(
            engine.observe(&check("pg", Status::Critical, 10 * S), 10 * S),
            10 * S,
        );
        assert_eq!(receiver.sent.len(), 0, "waits for web to report");
        receiver.take(
            engine.observe(&check("web", Status::Critical, 10 * S + 300), 10 * S + 300),
            10 * S + 300,
        );
        receiver.take(engine.tick(20 * S), 20 * S);
        assert_eq!(
            receiver.kinds(),
            vec![(NoticeKind::Firing, "pg".to_string())],
            "{:#?}",
            receiver.log()
        );
        assert_eq!(receiver.sent[0].0, 10 * S + 300, "released by web's report");
        assert_eq!(
            receiver.sent[0].1.explains,
            vec!["web is critical".to_string()]
        );
    }

    #[test]
    fn a_hold_that_ran_out_is_not_sent_again_when_the_dependency_reports() {
        let mut engine = engine(0);
        let mut receiver = Receiver::default();
        receiver.take(engine.observe(&check("db", Status::Ok, 0), 0), 0);
        receiver.take(engine.observe(&check("app", Status::Critical, S), S), S);
        // db stays silent past the hold: app goes out.
        receiver.take(engine.tick(120 * S), 120 * S);
        assert_eq!(
            receiver.kinds(),
            vec![(NoticeKind::Firing, "app".to_string())]
        );
        // db finally reports healthy: nothing is re-sent.
        let batch = engine.observe(&check("db", Status::Ok, 121 * S), 121 * S);
        assert!(batch.outbox.is_empty(), "{:?}", batch.outbox);
        receiver.take(batch, 121 * S);
        receiver.take(engine.tick(200 * S), 200 * S);
        assert_eq!(receiver.sent.len(), 1);
        // db now fails: app was told, so its later resolution is told, though inhibited.
        receiver.take(
            engine.observe(&check("db", Status::Critical, 201 * S), 201 * S),
            201 * S,
        );
        receiver.take(
            engine.observe(&check("app", Status::Ok, 202 * S), 202 * S),
            202 * S,
        );
        receiver.take(engine.tick(300 * S), 300 * S);
        let kinds = receiver.kinds();
        assert!(
            kinds.contains(&(NoticeKind::Resolved, "app".to_string())),
            "{kinds:?}"
        );
    }
}
