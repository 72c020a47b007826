//! Rules -> states: each rule applied to the values of its sources (samples, check results,
//! silence for "no data", the always-firing Watchdog), with the thresholds and hysteresis of
//! `state`; a change of state is handed to `lifecycle` to be told.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{CheckMeta, Engine, LiveAlert, STALE_AFTER_MS};
use crate::alert::flap::FlapChange;
use crate::alert::matcher::all_match;
use crate::alert::records::AlertBatch;
use crate::alert::{AlertState, AlertTracker, Comparison, Severity, Thresholds};
use crate::clock::UnixMillis;
use crate::config::{RuleConfig, RuleSource};
use crate::model::{CheckResult, Observation};

impl Engine {
    /// The samples of one probe run, against the metric rules that watch their series.
    pub(super) fn observe_samples(
        &mut self,
        observation: &Observation,
        now_ms: UnixMillis,
        batch: &mut AlertBatch,
    ) {
        if !self.metric_rules.is_empty() {
            for sample in &observation.samples {
                let Some(rules) = self.metric_rules.get(sample.series.name()) else {
                    continue;
                };
                for &index in rules.clone().iter() {
                    let RuleSource::Metric { matchers, rate, .. } = &self.rules[index].source
                    else {
                        continue;
                    };
                    // A rate rule's value is the rate, known once the sample is in its window.
                    if rate.is_none() && self.quiet(index, sample.value) {
                        continue;
                    }
                    if !all_match(matchers, &*sample.series) {
                        continue;
                    }
                    let value = match rate {
                        None => sample.value,
                        Some(window) => {
                            let window_ms = window.as_millis() as i64;
                            match self.rates.observe(
                                window_ms,
                                &sample.series,
                                observation.at_ms,
                                sample.value,
                                now_ms,
                            ) {
                                Some(rate) if !self.quiet(index, rate) => rate,
                                _ => continue,
                            }
                        }
                    };
                    let id = format!("{}:{}", self.rules[index].name, sample.series);
                    let labels = &sample.series.labels_map();
                    let interval_ms = if observation.source == "system" {
                        self.system_interval_ms
                    } else {
                        self.check_interval(sample.series.label("check"))
                    };
                    self.evaluate(
                        index,
                        id,
                        labels,
                        value,
                        String::new(),
                        interval_ms,
                        now_ms,
                        batch,
                    );
                }
            }
        }
    }

    /// No data: a check silent for `missed_intervals` of its intervals.
    pub(super) fn evaluate_no_data(&mut self, now_ms: UnixMillis, batch: &mut AlertBatch) {
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
                    .filter(|(_, meta)| !meta.received)
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
                            batch,
                        );
                    }
                }
            }
        }
    }

    /// Always-firing rules (the Watchdog): fire while the engine runs.
    pub(super) fn evaluate_always(&mut self, now_ms: UnixMillis, batch: &mut AlertBatch) {
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
                batch,
            );
        }
    }

    /// `for` timers and cooldowns run on the last value; series that went away resolve.
    pub(super) fn evaluate_live(&mut self, now_ms: UnixMillis, batch: &mut AlertBatch) {
        let ids: Vec<String> = self.live.keys().cloned().collect();
        for id in ids {
            let Some(alert) = self.live.get(&id) else {
                continue;
            };
            if matches!(
                self.rules[alert.rule].source,
                RuleSource::NoData { .. } | RuleSource::HostSilent { .. } | RuleSource::Always
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
                batch,
            );
            // A tick is not a sighting: keep the time the source last reported.
            if let Some(alert) = self.live.get_mut(&id) {
                alert.last_seen_ms = last_seen_ms;
                if value.is_nan() {
                    alert.value = f64::NAN;
                }
            }
        }
    }

    /// Nothing to do for `value` under rule `index`: no live alert of the rule, and a value
    /// that asks for none.
    pub(super) fn quiet(&self, index: usize, value: f64) -> bool {
        self.live_per_rule[index] == 0
            && thresholds_of(&self.rules[index])
                .classify(value, None)
                .is_none()
    }

    pub(super) fn observe_check(
        &mut self,
        result: &CheckResult,
        received: bool,
        now_ms: UnixMillis,
        batch: &mut AlertBatch,
    ) {
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
                // Not a [[check]] of the config: a system check (cpu, memory, disk:<mount>),
                // or a check an agent runs (`web-1/app`, from a receiver), with its host.
                let host = received
                    .then(|| result.check.split_once('/').map(|(host, _)| host))
                    .flatten();
                let kind = match (host, result.layer) {
                    (Some(_), layer) if layer != crate::model::Layer::System => "agent",
                    _ => "system",
                };
                let mut labels: BTreeMap<String, String> = [
                    ("check", result.check.as_str()),
                    ("layer", result.layer.as_str()),
                    ("type", kind),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
                if let Some(host) = host {
                    labels.insert("host".to_string(), host.to_string());
                }
                let meta = CheckMeta {
                    labels,
                    interval_ms: self.system_interval_ms,
                    report_within_ms: self.system_interval_ms,
                    last_seen_ms: now_ms,
                    received: host.is_some(),
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

    /// One rule applied to one value of one source.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn evaluate(
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
            // A received series' host is its own; everything else is this Lookout's.
            labels
                .entry("host".to_string())
                .or_insert_with(|| self.settings.host.clone());
            LiveAlert {
                rule: rule_index,
                labels,
                tracker: AlertTracker::new(hold_for, cooldowns)
                    .with_critical_hold(hold_for_critical),
                value,
                detail: String::new(),
                last_seen_ms: now_ms,
                interval_ms,
                muted_by: None,
                told: false,
                held: false,
                due_ms: None,
                firing_due_ms: None,
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
            self.notify(&id, notification, flap, since_ms, None, now_ms, batch);
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
            self.upsert(&id, batch);
        }
    }
}

/// The rule's thresholds; discrete values (statuses, no-data flags) clear as soon as they are
/// below the level, with no hysteresis margin.
pub(super) fn thresholds_of(rule: &RuleConfig) -> Thresholds {
    let discrete = matches!(
        rule.source,
        RuleSource::CheckStatus { .. } | RuleSource::NoData { .. } | RuleSource::HostSilent { .. }
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
    use super::super::testing::*;

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
}
