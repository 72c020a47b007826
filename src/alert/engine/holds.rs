//! Holds: a notice that waits, or is taken back, before it goes out. Dependency holds (a
//! failure waits for the checks it depends on, and a cause for its symptoms), withdrawals of
//! notices made moot (inhibited by a cause, or held by the connectivity gate), their release,
//! the gate's canaries, and the end of flaps (`for`/`for_critical` themselves run in
//! `state::AlertTracker`).

use std::collections::BTreeMap;

use super::Engine;
use crate::alert::connectivity::Change;
use crate::alert::inhibit::{Firing, inhibited_by};
use crate::alert::matcher::all_match;
use crate::alert::mute::{GateHold, MuteReason, Untold};
use crate::alert::records::{AlertBatch, HistoryEntry, OutboxEntry};
use crate::alert::{AlertState, Severity};
use crate::clock::UnixMillis;
use crate::model::NoticeKind;
use crate::model::{CheckResult, Status};

impl Engine {
    /// A canary's result: the gate's verdict, as the check result `lookout:connectivity`
    /// (which the `connectivity_lost` rule watches); when it closes, the notices of held
    /// checks not sent yet are withdrawn.
    pub(super) fn observe_canary(
        &mut self,
        result: &CheckResult,
        now_ms: UnixMillis,
        batch: &mut AlertBatch,
    ) {
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
            let synthetic = super::hosts::connectivity_result(status, detail, result.at_ms);
            self.observe_check(&synthetic, false, now_ms, batch);
        }
    }

    /// The gate just closed: told firing notices of held checks that have not gone out yet
    /// are withdrawn (they count as not told, so only those still firing after the grace are).
    pub(super) fn withdraw_held(&mut self, now_ms: UnixMillis, batch: &mut AlertBatch) {
        let Some(gate) = &self.gate else {
            return;
        };
        let targets: Vec<String> = self
            .live
            .iter()
            .filter(|(_, a)| {
                a.unsent_firing(now_ms) && a.labels.get("check").is_some_and(|c| gate.is_held(c))
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in targets {
            let reason = MuteReason::Gate {
                hold: GateHold::Lost,
            };
            self.withdraw(&id, reason, now_ms, batch);
        }
    }

    /// `source` just fired (or changed): alerts it now inhibits whose notices are not sent
    /// yet are withdrawn and count as not told.
    pub(super) fn withdraw_inhibited(
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
        let targets: Vec<(String, MuteReason)> = self
            .live
            .iter()
            .filter(|(id, a)| id.as_str() != source && a.unsent_firing(now_ms))
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
            if self.withdraw(&id, reason, now_ms, batch) {
                withdrawn.push(id);
            }
        }
        withdrawn
    }

    /// Takes back the told firing of `id` that has not gone out: its outbox rows are
    /// withdrawn, it counts as not told, and `reason` mutes it. False when it is not live.
    fn withdraw(
        &mut self,
        id: &str,
        reason: MuteReason,
        now_ms: UnixMillis,
        batch: &mut AlertBatch,
    ) -> bool {
        batch.outbox.retain(|e| e.notice.alert_id != id);
        batch.retract.push(id.to_string());
        let Some(alert) = self.live.get_mut(id) else {
            return false;
        };
        alert.told = false;
        alert.held = false;
        alert.firing_due_ms = None;
        tracing::debug!(alert = %id, %reason, "withdrawn before sending");
        alert.muted_by = Some(reason.clone());
        if let Some(entry) = self.retold(id, NoticeKind::Firing, now_ms) {
            batch.history.push(HistoryEntry {
                notice: entry,
                muted_by: Some(Untold::Withdrawn { reason }),
            });
        }
        self.upsert(id, batch);
        true
    }

    /// Held notices whose dependencies have all reported (and did not turn out to be the
    /// cause) go out now instead of at the end of their wait.
    pub(super) fn release_held(&mut self, now_ms: UnixMillis, batch: &mut AlertBatch) {
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

    /// When what a failure's notice waits for is known: its dependencies (is it a symptom?)
    /// and its dependents (which symptoms does it explain?).
    pub(super) fn known_at(
        &self,
        labels: &BTreeMap<String, String>,
        since_ms: UnixMillis,
    ) -> UnixMillis {
        self.dependencies_known_at(labels, since_ms)
            .max(self.dependents_known_at(labels, since_ms))
    }

    /// When the checks that depend on a failed check will all have reported since it failed:
    /// a cause's notice waits for them so that it lists the symptoms it explains (the app
    /// failing a second after its database) instead of leaving them for a message of their
    /// own. Only for dependents that report within `group_wait` (interval + (1 + retries) ×
    /// timeout): a cause is never held longer for symptoms checked less often.
    pub(super) fn dependents_known_at(
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
    pub(super) fn dependencies_known_at(
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

    /// Flaps that have been stable for `stable_for` end, and their final state is told once
    /// to those who were told anything of them: a firing alert by `retell_unmuted` (its mute
    /// lifted), a resolved one here, with the resolution the flap kept back.
    pub(super) fn settle_flaps(&mut self, now_ms: UnixMillis, batch: &mut AlertBatch) {
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
                muted_by: None,
            });
        }
    }

    /// `source` was just told: the alerts it explains (inhibits) — those withdrawn now and
    /// those already muted by it — are listed in its notice ("Also explains: ..."), so one
    /// message names the cause and its symptoms.
    pub(super) fn explain_symptoms(
        &mut self,
        source: &str,
        withdrawn: &[String],
        batch: &mut AlertBatch,
    ) {
        let Some(alert) = self.live.get(source) else {
            return;
        };
        let mine = Some(MuteReason::inhibited_by(&alert.labels));
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
            .find(|e| e.notice.alert_id == source && e.muted_by.is_none())
        {
            entry.notice.explains = explains;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

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
                .muted_by
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
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
        assert_eq!(
            text(app.muted_by.as_ref()),
            "inhibited by check_failed{check=db}"
        );
        assert!(batch.history.iter().any(|h| text(h.muted_by.as_ref())
            == "inhibited by check_failed{check=db} (withdrawn before sending)"));
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
                        && text(h.muted_by.as_ref()) == "held: monitoring connectivity lost"
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
}
