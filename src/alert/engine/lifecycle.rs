//! Lifecycle: what a state change tells people (firing, escalated, de-escalated, repeat,
//! resolved, flapping), whether it was told (`told`), a resolution withdrawing an untold
//! firing, a firing continuing an unsent resolution, and the notice's rendered text.

use std::collections::BTreeMap;

use super::{Engine, LiveAlert};
use crate::alert::flap::FlapChange;
use crate::alert::mute::{MuteReason, Untold};
use crate::alert::records::{AlertBatch, HistoryEntry};
use crate::alert::render::{TemplateContext, format_threshold, format_value, per_second, render};
use crate::alert::{AlertState, Notification, Severity};
use crate::clock::UnixMillis;
use crate::config::{RuleConfig, RuleSource, ValueUnit};
use crate::model::{AlertNotice, NoticeKind};

impl Engine {
    /// Tells what `notification` says of the live alert `id` (or records why it is not
    /// told). `not_before`: the earliest its notice may go out (a symptom whose cause just
    /// recovered gets the time to report once more).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn notify(
        &mut self,
        id: &str,
        notification: Notification,
        flap: FlapChange,
        since_ms: UnixMillis,
        not_before: Option<UnixMillis>,
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
        let mut untold = self
            .mute_reason(id, rule, &labels, now_ms)
            .map(Untold::from);
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
                untold = Some(Untold::ResolvedBeforeFiringSent);
            } else if alert.told {
                // People were told it fires: they hear that it stopped, whatever mutes it now.
                if let Some(muted) = untold.take() {
                    resolved_while_muted = Some(muted.to_string());
                }
                if !rule.send_resolved.unwrap_or(self.settings.send_resolved) {
                    untold = Some(Untold::SendResolvedOff);
                }
            } else if untold.is_none() {
                untold = Some(Untold::FiringNotTold);
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
            && matches!(
                untold.as_ref().and_then(Untold::mute),
                Some(MuteReason::Flapping { .. })
            )
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
                muted_by: None,
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
        let told = untold.is_none();
        if told {
            let hold_until = if kind == NoticeKind::Resolved {
                now_ms
            } else {
                self.known_at(&notice.labels, since_ms)
                    .max(not_before.unwrap_or(now_ms))
            };
            self.enqueue(&notifiers, &notice, hold_until, now_ms, batch);
        }
        let summary = notice.summary.clone();
        let muted_by = untold.as_ref().and_then(Untold::mute).cloned();
        batch.history.push(HistoryEntry {
            notice,
            muted_by: untold,
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
    pub(super) fn continue_firing(
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
                muted_by: Some(Untold::ContinuesFiring),
            });
        }
        self.upsert(id, batch);
        if severity > unsent.severity {
            self.notify(
                id,
                Notification::Escalated {
                    from: unsent.severity,
                    to: severity,
                },
                FlapChange::Steady,
                unsent.since_ms,
                None,
                now_ms,
                batch,
            );
        }
        true
    }

    /// A notice about the current state of a live alert (for withdrawals and releases).
    pub(super) fn retold(
        &self,
        id: &str,
        kind: NoticeKind,
        now_ms: UnixMillis,
    ) -> Option<AlertNotice> {
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
    pub(super) fn notice(
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
        let is_no_data = matches!(
            rule.source,
            RuleSource::NoData { .. } | RuleSource::HostSilent { .. }
        );
        let is_rate = matches!(rule.source, RuleSource::Metric { rate: Some(_), .. });
        let value = if is_no_data {
            alert
                .detail
                .strip_prefix("no result for ")
                .or_else(|| alert.detail.strip_prefix("no data for "))
                .unwrap_or(&alert.detail)
                .to_string()
        } else if is_rate {
            per_second(format_value(alert.value, rule.unit), rule.unit)
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
            (false, Some(level)) if is_rate => {
                per_second(format_threshold(level, rule.unit), rule.unit)
            }
            (false, Some(level)) => format_threshold(level, rule.unit),
        };
        let context = TemplateContext {
            value: &value,
            threshold: &threshold,
            severity: severity.as_str(),
            rule: &rule.name,
            host: labels.get("host").unwrap_or(&self.settings.host),
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
}

/// What a flapping notice calls the alert: its check, else its rule and distinguishing
/// labels ("app", "cpu_usage", "disk_usage{mountpoint=/}").
pub(super) fn subject_of(notice: &AlertNotice) -> String {
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

#[cfg(test)]
mod tests {
    use super::super::testing::*;

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
}
