//! Maintenance on the wire: periods, windows, the status of `/api/v1/maintenance` and of
//! `lookout maintenance status`, and the report of `/api/v1/maintenance/report` and
//! `lookout report`. The stored `Period` and `Impact` and the computed `report::Report` never
//! reach the wire themselves: a change to how they are stored or computed cannot change the
//! API without a change here (and the golden tests of `views::tests` say so).

use serde::Serialize;

use crate::clock::{UnixMillis, format_rfc3339};
use crate::config::maintenance::{MaintenanceConfig, WindowConfig};
use crate::maintenance::report::{
    Availability, AvailabilityFigures, Bucket, ImpactTotals, LongestPeriod, PeriodFigures, Report,
};
use crate::maintenance::windows::current_or_next;
use crate::maintenance::{Impact, ManualWindow, Origin, Period};

/// What a period did to the app's users.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImpactView {
    pub blocked_requests: u64,
    pub blocked_requests_seen: u64,
    pub sessions_at_start: Option<u64>,
    pub active_jobs: Option<u64>,
    pub invalidated_sessions: Option<u64>,
    pub blocked_operations: Vec<String>,
}

impl From<&Impact> for ImpactView {
    fn from(i: &Impact) -> Self {
        ImpactView {
            blocked_requests: i.blocked_requests,
            blocked_requests_seen: i.blocked_requests_seen,
            sessions_at_start: i.sessions_at_start,
            active_jobs: i.active_jobs,
            invalidated_sessions: i.invalidated_sessions,
            blocked_operations: i.blocked_operations.clone(),
        }
    }
}

impl ImpactView {
    /// "40 blocked requests, 12 sessions at start"; `None` when nothing is known.
    pub fn line(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.blocked_requests > 0 {
            parts.push(format!("{} blocked requests", self.blocked_requests));
        }
        if let Some(n) = self.sessions_at_start {
            parts.push(format!("{n} sessions at start"));
        }
        if let Some(n) = self.invalidated_sessions {
            parts.push(format!("{n} sessions invalidated"));
        }
        if let Some(n) = self.active_jobs {
            parts.push(format!("{n} active jobs"));
        }
        if !self.blocked_operations.is_empty() {
            parts.push(format!("blocked: {}", self.blocked_operations.join(", ")));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// One maintenance period as the API shows it (times also in milliseconds, for charts).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodView {
    pub id: i64,
    pub start: String,
    pub start_ms: UnixMillis,
    /// `None` while open.
    pub end: Option<String>,
    pub end_ms: Option<UnixMillis>,
    pub planned_end: Option<String>,
    pub planned_end_ms: Option<UnixMillis>,
    /// "normal", "emergency", ...
    pub mode: &'static str,
    pub reason: String,
    /// "detected", "planned", "cli" or "dashboard".
    pub origin: &'static str,
    pub planned: bool,
    /// So far, for an open period.
    pub duration_seconds: u64,
    pub overrun_seconds: u64,
    pub impact: ImpactView,
    pub muted: Vec<String>,
}

impl PeriodView {
    pub fn new(p: &Period, now_ms: UnixMillis) -> PeriodView {
        PeriodView {
            id: p.id,
            start: format_rfc3339(p.start_ms),
            start_ms: p.start_ms,
            end: p.end_ms.map(format_rfc3339),
            end_ms: p.end_ms,
            planned_end: p.planned_end_ms.map(format_rfc3339),
            planned_end_ms: p.planned_end_ms,
            mode: p.mode.as_str(),
            reason: p.reason.clone(),
            origin: p.origin.as_str(),
            planned: p.planned,
            duration_seconds: p.duration(now_ms).as_secs(),
            overrun_seconds: p.overrun(now_ms).as_secs(),
            impact: ImpactView::from(&p.impact),
            muted: p.muted.clone(),
        }
    }
}

/// A period as `lookout maintenance status|history --json` prints it: the `PeriodView`
/// without the millisecond fields, in the order the CLI has always printed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodLineView {
    pub id: i64,
    pub start: String,
    pub end: Option<String>,
    pub planned_end: Option<String>,
    pub duration_seconds: u64,
    pub overrun_seconds: u64,
    pub mode: &'static str,
    pub reason: String,
    pub origin: &'static str,
    pub planned: bool,
    pub impact: ImpactView,
    pub muted: Vec<String>,
}

impl PeriodLineView {
    /// "emergency mode, detected, unplanned: reason".
    pub fn describe(&self) -> String {
        format!(
            "{} mode, {}, {}: {}",
            self.mode,
            self.origin,
            if self.planned { "planned" } else { "unplanned" },
            self.reason
        )
    }
}

impl From<PeriodView> for PeriodLineView {
    fn from(p: PeriodView) -> Self {
        PeriodLineView {
            id: p.id,
            start: p.start,
            end: p.end,
            planned_end: p.planned_end,
            duration_seconds: p.duration_seconds,
            overrun_seconds: p.overrun_seconds,
            mode: p.mode,
            reason: p.reason,
            origin: p.origin,
            planned: p.planned,
            impact: p.impact,
            muted: p.muted,
        }
    }
}

/// A window, opened by hand (`id`) or configured (`name`); the API and the CLI show it alike.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowView {
    /// The manual window's id; `None` for a configured window.
    pub id: Option<i64>,
    /// The configured window's name; `None` for a manual one.
    pub name: Option<String>,
    pub start: String,
    pub end: String,
    pub mode: &'static str,
    pub reason: String,
    pub origin: &'static str,
    pub author: String,
    pub active: bool,
    /// For sorting: the start in milliseconds.
    #[serde(skip)]
    pub start_ms: UnixMillis,
}

impl WindowView {
    pub fn manual(w: &ManualWindow, now_ms: UnixMillis) -> WindowView {
        WindowView {
            id: Some(w.id),
            name: None,
            start: format_rfc3339(w.start_ms),
            end: format_rfc3339(w.ends_ms()),
            mode: w.mode.as_str(),
            reason: w.reason.clone(),
            origin: w.origin.as_str(),
            author: w.author.clone(),
            active: w.is_active(now_ms),
            start_ms: w.start_ms,
        }
    }

    /// A configured window's current or next occurrence; `None` when it has none.
    pub fn configured(window: &WindowConfig, now_ms: UnixMillis) -> Option<WindowView> {
        let (start, end, active) = current_or_next(window, now_ms)?;
        Some(WindowView {
            id: None,
            name: Some(window.name.clone()),
            start: format_rfc3339(start),
            end: format_rfc3339(end),
            mode: window.mode.as_str(),
            reason: window.reason.clone(),
            origin: Origin::Planned.as_str(),
            author: "config".into(),
            active,
            start_ms: start,
        })
    }

    /// The windows opened by hand that are open or to come, then the configured windows'
    /// current or next occurrence; soonest first.
    pub fn all(
        manual: &[ManualWindow],
        config: &MaintenanceConfig,
        now_ms: UnixMillis,
    ) -> Vec<WindowView> {
        let mut windows: Vec<WindowView> = manual
            .iter()
            .map(|w| WindowView::manual(w, now_ms))
            .chain(
                config
                    .windows
                    .iter()
                    .filter_map(|w| WindowView::configured(w, now_ms)),
            )
            .collect();
        windows.sort_by_key(|w| w.start_ms);
        windows
    }
}

/// Whether start/stop also switch the app itself (control steps are configured).
pub fn has_control(config: &MaintenanceConfig) -> bool {
    !config.control.start.is_empty() || !config.control.stop.is_empty()
}

/// `GET /api/v1/maintenance` (and the answer of start / stop / extend).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaintenanceView {
    /// A period is open.
    pub active: bool,
    pub open: Option<PeriodView>,
    /// Windows opened by hand that are open or still to come, then the configured windows'
    /// current or next occurrence; soonest first.
    pub windows: Vec<WindowView>,
    /// Periods overlapping `since` .. now, newest first.
    pub history: Vec<PeriodView>,
    /// Start/stop also switch the app itself (control steps are configured).
    pub control: bool,
}

/// `lookout maintenance status --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaintenanceStatusView {
    /// A period is open or a window is active.
    pub active: bool,
    /// The period in progress, as the daemon recorded it.
    pub period: Option<PeriodLineView>,
    /// Windows active or to come (for a configured window: its current or next
    /// occurrence), soonest first.
    pub windows: Vec<WindowView>,
    /// Whether control steps switch the app on `start` / `stop`.
    pub control: bool,
}

impl MaintenanceStatusView {
    pub fn new(
        config: &MaintenanceConfig,
        open: Option<&Period>,
        manual: &[ManualWindow],
        now_ms: UnixMillis,
    ) -> MaintenanceStatusView {
        let windows = WindowView::all(manual, config, now_ms);
        MaintenanceStatusView {
            active: open.is_some() || windows.iter().any(|w| w.active),
            period: open.map(|p| PeriodView::new(p, now_ms).into()),
            windows,
            control: has_control(config),
        }
    }
}

/// The open period in brief, for the banner of every dashboard page (`/api/v1/status`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaintenanceNowView {
    pub mode: &'static str,
    pub reason: String,
    pub planned: bool,
    pub since: String,
    pub planned_end: Option<String>,
}

impl From<&Period> for MaintenanceNowView {
    fn from(p: &Period) -> Self {
        MaintenanceNowView {
            mode: p.mode.as_str(),
            reason: p.reason.clone(),
            planned: p.planned,
            since: format_rfc3339(p.start_ms),
            planned_end: p.planned_end_ms.map(format_rfc3339),
        }
    }
}

/// The maintenance report (`/api/v1/maintenance/report`, `lookout report --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportView {
    pub from: String,
    pub to: String,
    pub periods: PeriodFiguresView,
    pub per_day: Vec<BucketView>,
    pub per_week: Vec<BucketView>,
    pub per_month: Vec<BucketView>,
    pub impact: ImpactTotalsView,
    pub availability: AvailabilityView,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodFiguresView {
    pub count: usize,
    pub total_seconds: f64,
    pub mean_seconds: f64,
    pub planned_seconds: f64,
    pub unplanned_seconds: f64,
    pub emergency_seconds: f64,
    pub overrun_seconds: f64,
    pub longest: Option<LongestPeriodView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LongestPeriodView {
    pub id: i64,
    pub start: String,
    pub end: Option<String>,
    pub seconds: f64,
    pub mode: &'static str,
    pub origin: &'static str,
    pub planned: bool,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketView {
    pub label: String,
    pub start: String,
    pub count: usize,
    pub total_seconds: f64,
    pub mean_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImpactTotalsView {
    pub blocked_requests: u64,
    pub sessions_at_start: u64,
    pub invalidated_sessions: u64,
    pub active_jobs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AvailabilityView {
    pub overall: AvailabilityFiguresView,
    pub checks: Vec<CheckAvailabilityView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckAvailabilityView {
    pub check: String,
    #[serde(flatten)]
    pub figures: AvailabilityFiguresView,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AvailabilityFiguresView {
    pub observed_seconds: f64,
    pub up_seconds: f64,
    pub maintenance_seconds: f64,
    pub availability: Option<f64>,
    pub observed_outside_planned_seconds: f64,
    pub up_outside_planned_seconds: f64,
    pub availability_excluding_planned: Option<f64>,
}

impl From<&Report> for ReportView {
    fn from(r: &Report) -> Self {
        let buckets = |b: &[Bucket]| b.iter().map(BucketView::from).collect();
        ReportView {
            from: r.from.clone(),
            to: r.to.clone(),
            periods: PeriodFiguresView::from(&r.periods),
            per_day: buckets(&r.per_day),
            per_week: buckets(&r.per_week),
            per_month: buckets(&r.per_month),
            impact: ImpactTotalsView::from(&r.impact),
            availability: AvailabilityView::from(&r.availability),
        }
    }
}

impl From<&PeriodFigures> for PeriodFiguresView {
    fn from(f: &PeriodFigures) -> Self {
        PeriodFiguresView {
            count: f.count,
            total_seconds: f.total_seconds,
            mean_seconds: f.mean_seconds,
            planned_seconds: f.planned_seconds,
            unplanned_seconds: f.unplanned_seconds,
            emergency_seconds: f.emergency_seconds,
            overrun_seconds: f.overrun_seconds,
            longest: f.longest.as_ref().map(LongestPeriodView::from),
        }
    }
}

impl From<&LongestPeriod> for LongestPeriodView {
    fn from(l: &LongestPeriod) -> Self {
        LongestPeriodView {
            id: l.id,
            start: l.start.clone(),
            end: l.end.clone(),
            seconds: l.seconds,
            mode: l.mode.as_str(),
            origin: l.origin.as_str(),
            planned: l.planned,
            reason: l.reason.clone(),
        }
    }
}

impl From<&Bucket> for BucketView {
    fn from(b: &Bucket) -> Self {
        BucketView {
            label: b.label.clone(),
            start: b.start.clone(),
            count: b.count,
            total_seconds: b.total_seconds,
            mean_seconds: b.mean_seconds,
        }
    }
}

impl From<&ImpactTotals> for ImpactTotalsView {
    fn from(i: &ImpactTotals) -> Self {
        ImpactTotalsView {
            blocked_requests: i.blocked_requests,
            sessions_at_start: i.sessions_at_start,
            invalidated_sessions: i.invalidated_sessions,
            active_jobs: i.active_jobs,
        }
    }
}

impl From<&Availability> for AvailabilityView {
    fn from(a: &Availability) -> Self {
        AvailabilityView {
            overall: AvailabilityFiguresView::from(&a.overall),
            checks: a
                .checks
                .iter()
                .map(|c| CheckAvailabilityView {
                    check: c.check.clone(),
                    figures: AvailabilityFiguresView::from(&c.figures),
                })
                .collect(),
        }
    }
}

impl From<&AvailabilityFigures> for AvailabilityFiguresView {
    fn from(f: &AvailabilityFigures) -> Self {
        AvailabilityFiguresView {
            observed_seconds: f.observed_seconds,
            up_seconds: f.up_seconds,
            maintenance_seconds: f.maintenance_seconds,
            availability: f.availability,
            observed_outside_planned_seconds: f.observed_outside_planned_seconds,
            up_outside_planned_seconds: f.up_outside_planned_seconds,
            availability_excluding_planned: f.availability_excluding_planned,
        }
    }
}
