//! The state of everything monitored on the wire: `/healthz`, `/api/v1/status` (also the
//! greeting of the live feed) and `lookout check --json`: checks, layers, latest values,
//! sources. `CheckResult`, `Layer` and `Status` are the pipeline's data; their words go out
//! through `as_str`, so renaming a variant cannot rename a JSON value unnoticed.

use std::collections::BTreeMap;

use serde::Serialize;

use super::maintenance::MaintenanceNowView;
use crate::clock::format_rfc3339;
use crate::model::{CheckResult, Status};

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthView {
    /// "ok", "degraded" (the store cannot write) or "stuck" (the pipeline stopped moving).
    pub status: &'static str,
    /// Why it is not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub version: &'static str,
    pub started_at: String,
    pub uptime_seconds: f64,
}

/// One check's latest result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckView {
    pub check: String,
    pub layer: &'static str,
    pub status: &'static str,
    /// `null` when not a finite number (JSON has no NaN).
    pub value: Option<f64>,
    pub detail: String,
    pub at: String,
}

impl From<&CheckResult> for CheckView {
    fn from(r: &CheckResult) -> Self {
        CheckView {
            check: r.check.clone(),
            layer: r.layer.as_str(),
            status: r.status.as_str(),
            value: r.value.filter(|v| v.is_finite()),
            detail: r.detail.clone(),
            at: format_rfc3339(r.at_ms),
        }
    }
}

/// The worst status of a layer and how many checks it has.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerView {
    pub layer: &'static str,
    pub status: &'static str,
    pub checks: usize,
}

/// A series' latest value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesValueView {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `null` when the value is not a finite number (JSON has no NaN).
    pub value: Option<f64>,
    pub at: String,
}

/// When a probe last ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceView {
    pub source: String,
    pub last_run: String,
}

/// `GET /api/v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusView {
    pub generated_at: String,
    pub overall: &'static str,
    pub layers: Vec<LayerView>,
    pub checks: Vec<CheckView>,
    pub series: Vec<SeriesValueView>,
    pub sources: Vec<SourceView>,
    /// The open maintenance period, if any (for the banner of every page).
    pub maintenance: Option<MaintenanceNowView>,
    /// The live alerts, counted apart by what keeps them quiet.
    pub alerts: AlertCountsView,
    pub notifiers: NotifiersView,
    /// The hosts (`/api/v1/hosts`): how many, how many ok, how many not (the same rows);
    /// left out of the live feed's greeting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts: Option<crate::views::hosts::HostCountsView>,
}

/// The live alerts by state: `firing` counts only those nobody keeps quiet (not muted, not
/// silenced), so a banner of firing alerts is red only when someone is being told.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AlertCountsView {
    /// Firing, neither muted nor silenced (acknowledged ones included).
    pub firing: usize,
    /// Firing and muted: maintenance, an inhibiting alert, the connectivity gate, flapping.
    pub muted: usize,
    /// Firing and silenced.
    pub silenced: usize,
    /// Firing and acknowledged (also counted in the three above).
    pub acknowledged: usize,
    /// Not firing yet (waiting for their `for`).
    pub pending: usize,
}

impl AlertCountsView {
    pub fn of(alerts: &[crate::alert::AlertView]) -> AlertCountsView {
        use crate::alert::mute::MuteReason;
        let mut counts = AlertCountsView::default();
        for alert in alerts {
            if alert.state != "firing" {
                counts.pending += 1;
                continue;
            }
            match &alert.muted_by {
                None => counts.firing += 1,
                Some(MuteReason::Silence { .. }) => counts.silenced += 1,
                Some(_) => counts.muted += 1,
            }
            if alert.acknowledged_by.is_some() {
                counts.acknowledged += 1;
            }
        }
        counts
    }
}

/// The notifiers configured; 0 means nobody is told of anything (the dashboard warns).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NotifiersView {
    pub configured: usize,
}

/// A check result as `lookout check --json` prints it (the `CheckView`, layer first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckLineView {
    pub layer: &'static str,
    pub check: String,
    pub status: &'static str,
    pub value: Option<f64>,
    pub detail: String,
    pub at: String,
}

impl From<CheckView> for CheckLineView {
    fn from(c: CheckView) -> Self {
        CheckLineView {
            layer: c.layer,
            check: c.check,
            status: c.status,
            value: c.value,
            detail: c.detail,
            at: c.at,
        }
    }
}

/// `lookout check --json`: the worst status and every result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReportView {
    pub status: &'static str,
    pub checks: Vec<CheckLineView>,
}

impl CheckReportView {
    pub fn new(worst: Status, results: &[&CheckResult]) -> CheckReportView {
        CheckReportView {
            status: worst.as_str(),
            checks: results.iter().map(|r| CheckView::from(*r).into()).collect(),
        }
    }
}
