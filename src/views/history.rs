//! What was, on the wire: a series over a range (`/api/v1/series`), the timeline
//! (`/api/v1/events`) and one check's status history (`/api/v1/checks/{name}/history`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::clock::{UnixMillis, format_rfc3339};
use crate::model::{CheckResult, Event};

/// One point of a series: the aggregate of the samples in one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointView {
    pub at: UnixMillis,
    pub avg: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub count: u64,
}

/// One series (one label set) of a query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesView {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<PointView>,
}

/// `GET /api/v1/series`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesQueryView {
    pub name: String,
    pub from: String,
    pub to: String,
    /// Which stored resolution answered: "raw", "minute" or "hour".
    pub tier: &'static str,
    pub step_seconds: f64,
    pub series: Vec<SeriesView>,
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventView {
    pub at: String,
    /// "started", "status_changed", "alert", ...
    pub kind: &'static str,
    pub subject: String,
    pub message: String,
}

impl From<&Event> for EventView {
    fn from(e: &Event) -> Self {
        EventView {
            at: format_rfc3339(e.at_ms),
            kind: e.kind.as_str(),
            subject: e.subject.clone(),
            message: e.message.clone(),
        }
    }
}

/// `GET /api/v1/events`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventsView {
    pub events: Vec<EventView>,
}

/// One row of a check's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckHistoryPointView {
    pub at: String,
    pub at_ms: UnixMillis,
    pub status: &'static str,
    pub value: Option<f64>,
    pub detail: String,
}

impl From<CheckResult> for CheckHistoryPointView {
    fn from(r: CheckResult) -> Self {
        CheckHistoryPointView {
            at: format_rfc3339(r.at_ms),
            at_ms: r.at_ms,
            status: r.status.as_str(),
            // `null` when not a finite number (JSON has no NaN).
            value: r.value.filter(|v| v.is_finite()),
            detail: r.detail,
        }
    }
}

/// `GET /api/v1/checks/{name}/history`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckHistoryView {
    pub check: String,
    pub from: String,
    pub to: String,
    /// Oldest first: every status change and one result per minute while a status holds.
    pub history: Vec<CheckHistoryPointView>,
}
