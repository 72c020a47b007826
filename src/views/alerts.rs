//! Alerts on the wire: the pending and firing alerts, the notice history and the outbox, as
//! `/api/v1/alerts*` and `/api/v1/outbox` show them and as `lookout alerts list|history|outbox
//! --json` print them. Each concept is built here from the engine's and the store's records
//! (`StoredAlert`, `HistoryEntry`, `OutboxRow`), whose own serde is their storage format;
//! enums go out as their words (`Severity::as_str`...), never through their storage serde.
//! The CLI's shapes (`*LineView`) predate this module and are kept as published: they are
//! built from the same view (or the same record) by one function each.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::alert::records::{HistoryEntry, OutboxRow, OutboxState, StoredAlert};
use crate::clock::format_rfc3339;
use crate::store::{Delivery, NoticeDelivery};

/// "pending", "delivered" or "failed".
pub fn outbox_state(state: OutboxState) -> &'static str {
    match state {
        OutboxState::Pending => "pending",
        OutboxState::Delivered => "delivered",
        OutboxState::Failed => "failed",
    }
}

/// One pending or firing alert (`/api/v1/alerts`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveAlertView {
    pub id: String,
    pub rule: String,
    /// "pending" or "firing".
    pub state: String,
    pub severity: &'static str,
    pub since: String,
    /// `null` when not a finite number.
    pub value: Option<f64>,
    pub summary: String,
    /// Why it is not being told: a silence, an inhibition, maintenance; "" when it is.
    pub muted_by: String,
    /// It keeps changing between firing and not: quiet until it is stable (`muted_by` says
    /// how many changes).
    pub flapping: bool,
    pub labels: BTreeMap<String, String>,
    /// Who acknowledged it ("" when nobody has), and when.
    pub acknowledged_by: String,
    pub acknowledged_at: Option<String>,
}

impl From<&StoredAlert> for ActiveAlertView {
    fn from(a: &StoredAlert) -> Self {
        ActiveAlertView {
            id: a.id.clone(),
            rule: a.rule.clone(),
            state: a.state.clone(),
            severity: a.severity.as_str(),
            since: format_rfc3339(a.since_ms),
            value: a.value.filter(|v| v.is_finite()),
            summary: a.summary.clone(),
            muted_by: crate::alert::mute::text(a.muted_by.as_ref()),
            flapping: a.flapping,
            labels: a.labels.clone(),
            acknowledged_by: a.acknowledged_by.clone().unwrap_or_default(),
            acknowledged_at: a.acknowledged_ms.map(format_rfc3339),
        }
    }
}

/// `GET /api/v1/alerts` (and the answer of `POST /api/v1/alerts/ack`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertsView {
    pub alerts: Vec<ActiveAlertView>,
}

/// An alert as `lookout alerts list --json` prints it: the `ActiveAlertView` without the
/// flapping and acknowledgement fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveAlertLineView {
    pub id: String,
    pub rule: String,
    pub state: String,
    pub severity: &'static str,
    pub since: String,
    pub value: Option<f64>,
    pub summary: String,
    pub muted_by: String,
    pub labels: BTreeMap<String, String>,
}

impl From<ActiveAlertView> for ActiveAlertLineView {
    fn from(a: ActiveAlertView) -> Self {
        ActiveAlertLineView {
            id: a.id,
            rule: a.rule,
            state: a.state,
            severity: a.severity,
            since: a.since,
            value: a.value,
            summary: a.summary,
            muted_by: a.muted_by,
            labels: a.labels,
        }
    }
}

/// One notice of the alert history (`/api/v1/alerts/history`), sent or muted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoticeView {
    pub at: String,
    /// "firing", "resolved", "repeat", ...
    pub kind: &'static str,
    pub severity: &'static str,
    pub rule: String,
    pub alert_id: String,
    pub summary: String,
    pub value: String,
    /// Delivered to every notifier it was queued for.
    pub sent: bool,
    pub muted_by: String,
    /// What became of it: "delivered", "pending", "failed", "muted" or "not queued" (no
    /// notifier, or its outbox rows were pruned).
    pub delivery: &'static str,
    pub labels: BTreeMap<String, String>,
}

impl NoticeView {
    /// `h`, with what became of it according to the outbox rows `all` (of every notice).
    pub fn new(h: &HistoryEntry, all: &[NoticeDelivery]) -> NoticeView {
        let delivery = NoticeDelivery::summary(h, &NoticeDelivery::of(h, all));
        NoticeView {
            at: format_rfc3339(h.notice.at_ms),
            kind: h.notice.kind.as_str(),
            severity: h.notice.severity.as_str(),
            rule: h.notice.rule.clone(),
            alert_id: h.notice.alert_id.clone(),
            summary: h.notice.summary.clone(),
            value: h.notice.value.clone(),
            sent: delivery == Delivery::Delivered,
            muted_by: crate::alert::mute::text(h.muted_by.as_ref()),
            delivery: delivery.as_str(),
            labels: h.notice.labels.clone(),
        }
    }
}

/// `GET /api/v1/alerts/history`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryView {
    pub history: Vec<NoticeView>,
}

/// One notifier's outbox row for a notice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryView {
    pub notifier: String,
    pub state: &'static str,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
}

impl From<&NoticeDelivery> for DeliveryView {
    fn from(d: &NoticeDelivery) -> Self {
        DeliveryView {
            notifier: d.notifier.clone(),
            state: outbox_state(d.state),
            attempts: d.attempts,
            last_error: d.last_error.clone(),
            delivered_at: d.delivered_ms.map(format_rfc3339),
        }
    }
}

/// A notice as `lookout alerts history --json` prints it: the `NoticeView` with each
/// notifier's delivery instead of the labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoticeLineView {
    pub at: String,
    pub kind: &'static str,
    pub severity: &'static str,
    pub rule: String,
    pub alert_id: String,
    pub summary: String,
    pub value: String,
    pub sent: bool,
    pub muted_by: String,
    pub delivery: &'static str,
    pub deliveries: Vec<DeliveryView>,
}

impl NoticeLineView {
    pub fn new(h: &HistoryEntry, all: &[NoticeDelivery]) -> NoticeLineView {
        let view = NoticeView::new(h, all);
        NoticeLineView {
            at: view.at,
            kind: view.kind,
            severity: view.severity,
            rule: view.rule,
            alert_id: view.alert_id,
            summary: view.summary,
            value: view.value,
            sent: view.sent,
            muted_by: view.muted_by,
            delivery: view.delivery,
            deliveries: NoticeDelivery::of(h, all)
                .into_iter()
                .map(DeliveryView::from)
                .collect(),
        }
    }
}

/// One outbox row (`/api/v1/outbox`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxRowView {
    pub id: i64,
    pub notifier: String,
    pub state: &'static str,
    pub attempts: u32,
    pub created: String,
    pub delivered: Option<String>,
    pub last_error: Option<String>,
    pub kind: &'static str,
    pub severity: &'static str,
    pub summary: String,
}

impl From<&OutboxRow> for OutboxRowView {
    fn from(r: &OutboxRow) -> Self {
        OutboxRowView {
            id: r.id,
            notifier: r.entry.notifier.clone(),
            state: outbox_state(r.state),
            attempts: r.attempts,
            created: format_rfc3339(r.created_ms),
            delivered: r.delivered_ms.map(format_rfc3339),
            last_error: r.last_error.clone(),
            kind: r.entry.notice.kind.as_str(),
            severity: r.entry.notice.severity.as_str(),
            summary: r.entry.notice.summary.clone(),
        }
    }
}

/// `GET /api/v1/outbox`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxView {
    pub outbox: Vec<OutboxRowView>,
}

/// An outbox row as `lookout alerts outbox --json` prints it: the `OutboxRowView` with when
/// a pending row is tried next, in the CLI's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxLineView {
    pub id: i64,
    pub notifier: String,
    pub state: &'static str,
    pub attempts: u32,
    pub created: String,
    /// Pending rows only.
    pub next_attempt: Option<String>,
    pub delivered: Option<String>,
    pub last_error: Option<String>,
    pub summary: String,
    pub kind: &'static str,
    pub severity: &'static str,
}

impl From<&OutboxRow> for OutboxLineView {
    fn from(r: &OutboxRow) -> Self {
        let view = OutboxRowView::from(r);
        OutboxLineView {
            id: view.id,
            notifier: view.notifier,
            state: view.state,
            attempts: view.attempts,
            created: view.created,
            next_attempt: (r.state == OutboxState::Pending)
                .then(|| format_rfc3339(r.next_attempt_ms.max(r.entry.due_ms))),
            delivered: view.delivered,
            last_error: view.last_error,
            summary: view.summary,
            kind: view.kind,
            severity: view.severity,
        }
    }
}
