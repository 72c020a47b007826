//! Routing: which notifiers get a notice, in which group, and when it is due (`group_wait`,
//! `group_wait_critical`, `group_interval`, `resolve_wait`, held notices).

use super::{Engine, UnsentResolution};
use crate::alert::group::{GroupTiming, group_key, group_labels};
use crate::alert::records::{AlertBatch, OutboxEntry};
use crate::alert::{AlertState, Severity};
use crate::clock::UnixMillis;
use crate::model::{AlertNotice, NoticeKind};

impl Engine {
    pub(super) fn timing(&self) -> GroupTiming {
        GroupTiming {
            group_wait: self.settings.group_wait,
            group_wait_critical: self.settings.group_wait_critical,
            group_interval: self.settings.group_interval,
        }
    }

    pub(super) fn enqueue(
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
                    && crate::alert::group::group_labels(&self.settings.group_by, &a.labels)
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
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

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
}
