//! What the tests of the alert tables share: a store in a directory, and alerts, notices and
//! outbox rows to write into it.

use std::collections::BTreeMap;
pub(super) use std::sync::Arc;

pub(super) use super::{Store, StoreOptions};
pub(super) use crate::alert::Severity;
pub(super) use crate::alert::mute::MuteReason;
pub(super) use crate::alert::records::{
    AlertBatch, HistoryEntry, OutboxEntry, OutboxState, StoredAlert,
};
pub(super) use crate::alert::silence::{Silence, SilenceState};
pub(super) use crate::clock::ManualClock;
pub(super) use crate::model::{AlertNotice, Category, NoticeKind};

pub(super) const T0: i64 = 1_700_000_000_000;

pub(super) async fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Store {
    Store::open(dir, StoreOptions::default(), clock.clone())
        .await
        .expect("open store")
}

pub(super) fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn notice(
    alert_id: &str,
    kind: NoticeKind,
    severity: Severity,
    at_ms: i64,
) -> AlertNotice {
    AlertNotice {
        alert_id: alert_id.into(),
        rule: "cpu_high".into(),
        kind,
        severity,
        previous_severity: None,
        category: Category::Resource,
        labels: labels(&[("alertname", "cpu_high"), ("host", "web1")]),
        summary: format!("CPU high ({alert_id})"),
        description: "line one\nline two".into(),
        value: "97.0%".into(),
        threshold: "95%".into(),
        since_ms: at_ms - 60_000,
        at_ms,
        runbook_url: Some("https://runbooks.example.org/cpu".into()),
        explains: Vec::new(),
        resolved_while_muted: None,
    }
}

pub(super) fn alert(id: &str, state: &str, severity: Severity) -> StoredAlert {
    StoredAlert {
        id: id.into(),
        rule: "cpu_high".into(),
        labels: labels(&[("host", id)]),
        state: state.into(),
        severity,
        since_ms: T0 - 120_000,
        last_notified_ms: (state == "firing").then_some(T0 - 60_000),
        value: Some(97.5),
        summary: format!("CPU 97.5% on {id}"),
        muted_by: None,
        acknowledged_by: None,
        acknowledged_ms: None,
        told: true,
        flapping: false,
    }
}

pub(super) fn entry(notifier: &str, group: &str, alert_id: &str, due_ms: i64) -> OutboxEntry {
    OutboxEntry {
        notifier: notifier.into(),
        group_key: group.into(),
        group_labels: labels(&[("host", group)]),
        due_ms,
        notice: notice(alert_id, NoticeKind::Firing, Severity::Critical, T0),
    }
}
