//! What people are told about maintenance (the seed's "maintenance mode events"): started
//! (mode, reason, planned end), ended (duration, overrun, user impact, what was muted),
//! unplanned (active with no planned window: warning), overrun (warning). Emergency mode is
//! critical, test mode info. Pure: notices for the outbox, rendered like every alert notice.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Mode, Period};
use crate::alert::Severity;
use crate::alert::records::{AlertBatch, HistoryEntry, OutboxEntry};
use crate::base::units::format_duration;
use crate::clock::{UnixMillis, format_rfc3339};
use crate::model::{AlertNotice, Category, NoticeKind};

/// The rule names maintenance notices carry (they are not configurable rules).
pub const STARTED: &str = "maintenance_started";
pub const UNPLANNED: &str = "maintenance_unplanned";
pub const OVERRUN: &str = "maintenance_overrun";
pub const ENDED: &str = "maintenance_ended";

/// The severity of a period's notices: emergency is critical; a period nobody planned is a
/// warning; test mode and planned normal maintenance are information.
pub fn severity(period: &Period) -> Severity {
    match (period.mode, period.planned) {
        (Mode::Emergency, _) => Severity::Critical,
        (_, false) => Severity::Warning,
        (Mode::Test, true) | (Mode::Normal, true) => Severity::Info,
    }
}

pub fn started(period: &Period, host: &str, now_ms: UnixMillis) -> AlertNotice {
    let rule = if period.planned { STARTED } else { UNPLANNED };
    let what = if period.planned {
        "Maintenance started"
    } else {
        "Unplanned maintenance"
    };
    let until = period
        .planned_end_ms
        .map(|end| format!(", planned until {}", format_rfc3339(end)))
        .unwrap_or_default();
    let mut lines = vec![
        format!("Mode: {}", period.mode.as_str()),
        format!("Reason: {}", period.reason),
        format!("Known from: {}", period.origin.as_str()),
        format!("Started: {}", format_rfc3339(period.start_ms)),
        match period.planned_end_ms {
            Some(end) => format!("Planned end: {}", format_rfc3339(end)),
            None => "Planned end: not known".to_string(),
        },
    ];
    if !period.planned {
        lines.push(
            "No maintenance window was planned for this time: the app put itself into maintenance."
                .to_string(),
        );
    }
    lines.extend(impact_lines(period));
    notice(
        period,
        host,
        rule,
        NoticeKind::Firing,
        severity(period),
        format!(
            "{what} on {host} ({} mode: {}{until})",
            period.mode.as_str(),
            period.reason
        ),
        lines,
        now_ms,
    )
}

pub fn overrun(period: &Period, host: &str, now_ms: UnixMillis) -> AlertNotice {
    let overrun = period.overrun(now_ms);
    let planned_end = period.planned_end_ms.unwrap_or(now_ms);
    let mut lines = vec![
        format!("Mode: {}", period.mode.as_str()),
        format!("Reason: {}", period.reason),
        format!("Started: {}", format_rfc3339(period.start_ms)),
        format!("Planned end: {}", format_rfc3339(planned_end)),
        format!("Running over by: {}", format_duration(round_secs(overrun))),
    ];
    lines.extend(impact_lines(period));
    notice(
        period,
        host,
        OVERRUN,
        NoticeKind::Firing,
        Severity::Warning.max(severity(period)),
        format!(
            "Maintenance overrun on {host}: still in maintenance {} past its planned end",
            format_duration(round_secs(overrun))
        ),
        lines,
        now_ms,
    )
}

pub fn ended(period: &Period, host: &str, now_ms: UnixMillis) -> AlertNotice {
    let end = period.end_ms.unwrap_or(now_ms);
    let duration = round_secs(period.duration(end));
    let overrun = period.overrun(end);
    let mut lines = vec![
        format!("Mode: {}", period.mode.as_str()),
        format!("Reason: {}", period.reason),
        format!(
            "From {} to {} ({})",
            format_rfc3339(period.start_ms),
            format_rfc3339(end),
            format_duration(duration)
        ),
        if overrun.is_zero() {
            "Overrun: none".to_string()
        } else {
            format!(
                "Overrun: {} past the planned end",
                format_duration(round_secs(overrun))
            )
        },
    ];
    lines.extend(impact_lines(period));
    if period.muted.is_empty() {
        lines.push("Alerts muted by this maintenance: none".to_string());
    } else {
        lines.push(format!(
            "Alerts muted by this maintenance ({}):",
            period.muted.len()
        ));
        lines.extend(period.muted.iter().map(|m| format!("  - {m}")));
    }
    let overrun_text = if overrun.is_zero() {
        String::new()
    } else {
        format!(", {} over plan", format_duration(round_secs(overrun)))
    };
    notice(
        period,
        host,
        ENDED,
        NoticeKind::Resolved,
        severity(period),
        format!(
            "Maintenance ended on {host} after {}{overrun_text} ({} mode: {})",
            format_duration(duration),
            period.mode.as_str(),
            period.reason
        ),
        lines,
        now_ms,
    )
}

/// The user-impact lines of a message, each only when known.
pub fn impact_lines(period: &Period) -> Vec<String> {
    let impact = &period.impact;
    let mut lines = vec![format!("Blocked requests: {}", impact.blocked_requests)];
    if let Some(sessions) = impact.sessions_at_start {
        lines.push(format!("Active sessions at start: {sessions}"));
    }
    if let Some(jobs) = impact.active_jobs {
        lines.push(format!("Running jobs: {jobs}"));
    }
    if let Some(invalidated) = impact.invalidated_sessions {
        lines.push(format!("Invalidated sessions: {invalidated}"));
    }
    if !impact.blocked_operations.is_empty() {
        lines.push(format!(
            "Blocked operations: {}",
            impact.blocked_operations.join(", ")
        ));
    }
    lines
}

fn round_secs(duration: Duration) -> Duration {
    Duration::from_secs(duration.as_secs())
}

#[allow(clippy::too_many_arguments)]
fn notice(
    period: &Period,
    host: &str,
    rule: &str,
    kind: NoticeKind,
    severity: Severity,
    summary: String,
    description: Vec<String>,
    now_ms: UnixMillis,
) -> AlertNotice {
    let labels: BTreeMap<String, String> = [
        ("alertname", rule),
        ("severity", severity.as_str()),
        ("host", host),
        ("mode", period.mode.as_str()),
        ("origin", period.origin.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    AlertNotice {
        // One id per period and kind of news: receivers dedupe on it.
        alert_id: format!("{rule}:period={}:start={}", period.id, period.start_ms),
        rule: rule.to_string(),
        kind,
        severity,
        previous_severity: None,
        category: Category::Maintenance,
        labels,
        summary,
        description: description.join("\n"),
        value: period.mode.as_str().to_string(),
        threshold: String::new(),
        since_ms: period.start_ms,
        at_ms: now_ms,
        runbook_url: None,
        explains: Vec::new(),
        resolved_while_muted: None,
    }
}

/// The lines of "Alerts muted by this maintenance" from the history entries maintenance
/// muted (oldest first): one per alert, in the order they were first muted, each naming what
/// was muted — the latest firing (or escalation, repeat...) of the alert that was muted, as
/// "critical check_failed: app is critical". An alert of which only a resolution was muted
/// (it had fired before) is named by its rule and check: "critical check_failed (app):
/// resolved while muted" — never by its "app is ok" summary, which would read as if an "ok"
/// had been muted.
pub fn muted_lines(entries: &[HistoryEntry]) -> Vec<String> {
    let mut alerts: Vec<(&str, Option<&AlertNotice>, &AlertNotice)> = Vec::new();
    for entry in entries {
        let notice = &entry.notice;
        let firing = (notice.kind != NoticeKind::Resolved).then_some(notice);
        match alerts.iter_mut().find(|(id, _, _)| *id == notice.alert_id) {
            Some((_, latest_firing, _)) => {
                if firing.is_some() {
                    *latest_firing = firing;
                }
            }
            None => alerts.push((&notice.alert_id, firing, notice)),
        }
    }
    alerts
        .into_iter()
        .map(|(_, firing, first)| match firing {
            Some(n) => format!("{} {}: {}", n.severity.as_str(), n.rule, n.summary),
            None => {
                let name = first
                    .labels
                    .get("check")
                    .map(|check| format!(" ({check})"))
                    .unwrap_or_default();
                format!(
                    "{} {}{name}: resolved while muted",
                    first.severity.as_str(),
                    first.rule
                )
            }
        })
        .collect()
}

/// The notices as one batch for the store: in the alert history, and in the outbox for each
/// notifier, due at once (maintenance news is not grouped with alerts).
pub fn batch(notices: Vec<AlertNotice>, notifiers: &[String], host: &str) -> AlertBatch {
    let group_labels: BTreeMap<String, String> = [("host".to_string(), host.to_string())]
        .into_iter()
        .collect();
    let mut batch = AlertBatch::default();
    for notice in notices {
        for notifier in notifiers {
            batch.outbox.push(OutboxEntry {
                notifier: notifier.clone(),
                group_key: format!("maintenance:{host}"),
                group_labels: group_labels.clone(),
                due_ms: notice.at_ms,
                notice: notice.clone(),
            });
        }
        batch.history.push(HistoryEntry {
            notice,
            muted_by: None,
        });
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::mute::MuteReason;
    use crate::maintenance::{Impact, Origin};

    const MIN: i64 = 60_000;

    fn period(mode: Mode, planned: bool) -> Period {
        Period {
            id: 3,
            start_ms: 0,
            end_ms: None,
            planned_end_ms: planned.then_some(30 * MIN),
            mode,
            reason: "database upgrade".into(),
            origin: if planned {
                Origin::Cli
            } else {
                Origin::Detected
            },
            planned,
            impact: Impact {
                blocked_requests: 12,
                sessions_at_start: Some(40),
                active_jobs: Some(2),
                ..Impact::default()
            },
            muted: Vec::new(),
        }
    }

    /// Regression (issue 16, finding 8): the end notice listed an alert muted while firing
    /// and then resolved by its newest summary, "app is ok".
    #[test]
    fn muted_alerts_are_listed_by_what_was_muted() {
        let entry = |alert: &str, kind: NoticeKind, summary: &str| {
            let mut labels = BTreeMap::new();
            labels.insert("check".to_string(), alert.to_string());
            HistoryEntry {
                notice: AlertNotice {
                    alert_id: format!("check_failed:check={alert}"),
                    rule: "check_failed".into(),
                    kind,
                    severity: Severity::Critical,
                    previous_severity: None,
                    category: Category::Failure,
                    labels,
                    summary: summary.into(),
                    description: String::new(),
                    value: String::new(),
                    threshold: String::new(),
                    since_ms: 0,
                    at_ms: 0,
                    runbook_url: None,
                    explains: Vec::new(),
                    resolved_while_muted: None,
                },
                muted_by: Some(
                    MuteReason::Maintenance {
                        detail: String::new(),
                    }
                    .into(),
                ),
            }
        };
        let entries = [
            entry("app", NoticeKind::Firing, "app is critical"),
            entry("db", NoticeKind::Resolved, "db is ok"),
            entry("app", NoticeKind::Resolved, "app is ok"),
            entry("cache", NoticeKind::Firing, "cache is critical"),
            entry("cache", NoticeKind::Repeat, "cache is still critical"),
        ];
        assert_eq!(
            muted_lines(&entries),
            [
                "critical check_failed: app is critical",
                "critical check_failed (db): resolved while muted",
                "critical check_failed: cache is still critical",
            ]
        );
        assert!(muted_lines(&[]).is_empty());
    }

    #[test]
    fn severities_follow_mode_and_plan() {
        let cases = [
            (Mode::Normal, true, Severity::Info),
            (Mode::Test, true, Severity::Info),
            (Mode::Normal, false, Severity::Warning),
            (Mode::Test, false, Severity::Warning),
            (Mode::Emergency, true, Severity::Critical),
            (Mode::Emergency, false, Severity::Critical),
        ];
        for (mode, planned, expected) in cases {
            assert_eq!(
                severity(&period(mode, planned)),
                expected,
                "{mode:?} planned={planned}"
            );
        }
    }

    #[test]
    fn start_and_unplanned_messages() {
        let n = started(&period(Mode::Normal, true), "web1", 0);
        assert_eq!(n.rule, STARTED);
        assert_eq!(
            n.summary,
            "Maintenance started on web1 (normal mode: database upgrade, planned until 1970-01-01T00:30:00.000Z)"
        );
        assert!(
            n.description.contains("Active sessions at start: 40"),
            "{}",
            n.description
        );
        let n = started(&period(Mode::Normal, false), "web1", 0);
        assert_eq!(
            (n.rule.as_str(), n.severity),
            (UNPLANNED, Severity::Warning)
        );
        assert_eq!(
            n.summary,
            "Unplanned maintenance on web1 (normal mode: database upgrade)"
        );
    }

    #[test]
    fn the_end_message_tells_duration_overrun_impact_and_what_was_muted() {
        let mut p = period(Mode::Normal, true);
        p.end_ms = Some(42 * MIN);
        p.muted = vec!["check_failed: app is down".into()];
        let n = ended(&p, "web1", 42 * MIN);
        assert_eq!(n.kind, NoticeKind::Resolved);
        assert_eq!(
            n.summary,
            "Maintenance ended on web1 after 42m, 12m over plan (normal mode: database upgrade)"
        );
        for line in [
            "Overrun: 12m past the planned end",
            "Blocked requests: 12",
            "Running jobs: 2",
            "Alerts muted by this maintenance (1):\n  - check_failed: app is down",
        ] {
            assert!(
                n.description.contains(line),
                "{line:?} in {}",
                n.description
            );
        }
    }

    #[test]
    fn overrun_is_a_warning_even_for_planned_test_maintenance() {
        let n = overrun(&period(Mode::Test, true), "web1", 40 * MIN);
        assert_eq!((n.severity, n.rule.as_str()), (Severity::Warning, OVERRUN));
        assert_eq!(
            n.summary,
            "Maintenance overrun on web1: still in maintenance 10m past its planned end"
        );
    }

    #[test]
    fn a_batch_goes_to_every_notifier_and_into_the_history() {
        let b = batch(
            vec![started(&period(Mode::Normal, true), "web1", 5)],
            &["mail".to_string(), "hook".to_string()],
            "web1",
        );
        assert_eq!(b.history.len(), 1);
        assert_eq!(b.outbox.len(), 2);
        assert_eq!(b.outbox[1].notifier, "hook");
        assert_eq!(b.outbox[0].due_ms, 5);
    }
}
