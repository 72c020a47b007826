//! Muting: why an alert is not told now (silence, inhibition, the connectivity gate, a mute
//! source such as maintenance, flapping), and telling the firing alerts whose mute lifted.

use std::collections::BTreeMap;

use super::Engine;
use crate::alert::flap::FlapChange;
use crate::alert::inhibit::{Firing, inhibited_by};
use crate::alert::matcher::all_match;
use crate::alert::mute::{GateHold, MuteReason};
use crate::alert::records::AlertBatch;
use crate::alert::silence::muting;
use crate::alert::{AlertState, Notification, Severity};
use crate::clock::UnixMillis;
use crate::config::RuleConfig;

impl Engine {
    /// Why `labels` should not be told now, or `None` when it should.
    pub(super) fn mute_reason(
        &self,
        id: &str,
        rule: &RuleConfig,
        labels: &BTreeMap<String, String>,
        now_ms: UnixMillis,
    ) -> Option<MuteReason> {
        let silences = muting(&self.silences, labels, now_ms);
        if let Some(first) = silences.first() {
            return Some(MuteReason::Silence {
                id: first.to_string(),
            });
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
                return Some(reason);
            }
        }
        if let Some(hold) = self.held_by_gate(labels, now_ms) {
            return Some(MuteReason::Gate { hold });
        }
        if let Some(reason) = self
            .mute_sources
            .iter()
            .find_map(|source| source.mutes(rule, labels, now_ms))
        {
            return Some(reason);
        }
        self.recent
            .get(id)
            .filter(|recent| recent.flap.is_flapping())
            .map(|recent| recent.flap.mute_reason())
    }

    /// Why the connectivity gate holds an alert with `labels` now, if it does.
    pub(super) fn held_by_gate(
        &self,
        labels: &BTreeMap<String, String>,
        now_ms: UnixMillis,
    ) -> Option<GateHold> {
        self.gate
            .as_ref()?
            .holds(labels.get("check").map(String::as_str), now_ms)
    }

    /// Firing alerts that were muted and no longer are get told now; the shown mute reason of
    /// every firing alert is kept current.
    pub(super) fn retell_unmuted(&mut self, now_ms: UnixMillis, batch: &mut AlertBatch) {
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
            if reason.is_none() && !told {
                let mut since = now_ms;
                // Its cause just recovered: it reports once more before it is told.
                let was_inhibited = matches!(alert.muted_by, Some(MuteReason::Inhibited { .. }));
                let report_within_ms = alert
                    .labels
                    .get("check")
                    .and_then(|check| self.checks.get(check))
                    .map_or(0, |meta| meta.report_within_ms);
                let not_before = was_inhibited.then_some(now_ms + report_within_ms);
                if let Some(alert) = self.live.get_mut(&id)
                    && let AlertState::Firing {
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
                self.notify(
                    &id,
                    Notification::Firing(severity),
                    FlapChange::Steady,
                    since,
                    not_before,
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
            self.upsert(&id, batch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

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
        assert_eq!(text(batch.history[0].muted_by.as_ref()), "silenced by s1");
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
        ) -> Option<MuteReason> {
            (rule.maintenance_affected && now_ms < 5 * MIN).then(|| MuteReason::Maintenance {
                detail: String::new(),
            })
        }
    }

    #[test]
    fn a_mute_source_mutes_only_the_rules_it_affects() {
        let mut engine = engine(0);
        engine.add_mute_source(Arc::new(Maintenance));
        let batch = engine.observe(&check("db", Status::Critical, S), S);
        assert_eq!(text(batch.history[0].muted_by.as_ref()), "maintenance");
        engine.observe(&sample("memory_usage_ratio", &[], 0.99, 0), 0);
        let batch = engine.observe(&sample("memory_usage_ratio", &[], 0.99, 2 * MIN), 2 * MIN);
        assert_eq!(
            told(&batch),
            vec![(NoticeKind::Firing, Severity::Critical, String::new())],
            "memory is not affected by maintenance"
        );
    }
}
