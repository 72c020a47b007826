//! The data that flows through the pipeline: samples, check results and events, and the
//! alert notices (`AlertNotice`, with its `NoticeKind`, `Severity` and `Category`): what the
//! alert engine decides to tell, the outbox persists and the notifiers send. Probes produce
//! these, the bus carries them, every consumer reads them. No I/O here.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::UnixMillis;

mod series_key;

pub use series_key::{LabelMap, Labels, SeriesKey};

pub fn escape_label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One measured value of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub series: Arc<SeriesKey>,
    pub value: f64,
}

/// The layers of the seed guide; every check and series belongs to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    System,
    Application,
    Database,
    Redis,
    Business,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::System => "system",
            Layer::Application => "application",
            Layer::Database => "database",
            Layer::Redis => "redis",
            Layer::Business => "business",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Outcome of a health check. Ordered by severity so "worst wins" is `max()`,
/// except `Maintenance`, which ranks below warning: expected, not a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Maintenance,
    Warning,
    Unknown,
    Critical,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Maintenance => "maintenance",
            Status::Warning => "warning",
            Status::Unknown => "unknown",
            Status::Critical => "critical",
        }
    }

    /// Nagios plugin exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    pub fn nagios_exit_code(self) -> i32 {
        match self {
            Status::Ok | Status::Maintenance => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }

    /// Worst of several statuses for the Nagios convention, where CRITICAL outranks UNKNOWN.
    pub fn worst(statuses: impl IntoIterator<Item = Status>) -> Status {
        statuses.into_iter().max().unwrap_or(Status::Ok)
    }

    pub const ALL: [Status; 5] = [
        Status::Ok,
        Status::Maintenance,
        Status::Warning,
        Status::Unknown,
        Status::Critical,
    ];
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one run of one health check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub check: String,
    pub layer: Layer,
    pub status: Status,
    /// The headline number of the check (e.g. a usage ratio, a response time in seconds).
    pub value: Option<f64>,
    /// One line saying why, e.g. "memory 91.2% used (warning at 85%)".
    pub detail: String,
    pub at_ms: UnixMillis,
    /// Set while the app is in maintenance: `status` is then `Maintenance` (what the store, the
    /// dashboard and availability go by) and this is what the check itself found (what the
    /// alert engine goes by, so that alerts maintenance causes are muted, not lost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlying: Option<Status>,
}

impl CheckResult {
    /// What the check itself found, maintenance or not.
    pub fn found(&self) -> Status {
        self.underlying.unwrap_or(self.status)
    }
}

/// What one run of one probe produced: samples and check results taken at one moment.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub source: String,
    pub at_ms: UnixMillis,
    pub samples: Vec<Sample>,
    pub checks: Vec<CheckResult>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Started,
    Stopped,
    Reloaded,
    ReloadFailed,
    StatusChanged,
    Collected,
    StoreError,
    /// An alert fired, escalated, de-escalated or resolved (told or muted).
    Alert,
    /// Access control: repeated failed logins (a lockout).
    Security,
    /// Maintenance started, ended, ran over, or its source could not be read.
    Maintenance,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Started => "started",
            EventKind::Stopped => "stopped",
            EventKind::Reloaded => "reloaded",
            EventKind::ReloadFailed => "reload_failed",
            EventKind::StatusChanged => "status_changed",
            EventKind::Collected => "collected",
            EventKind::StoreError => "store_error",
            EventKind::Alert => "alert",
            EventKind::Security => "security",
            EventKind::Maintenance => "maintenance",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 10] = [
        EventKind::Started,
        EventKind::Stopped,
        EventKind::Reloaded,
        EventKind::ReloadFailed,
        EventKind::StatusChanged,
        EventKind::Collected,
        EventKind::StoreError,
        EventKind::Alert,
        EventKind::Security,
        EventKind::Maintenance,
    ];
}

/// A line on the timeline: lifecycle of Lookout itself and status changes of what it watches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at_ms: UnixMillis,
    pub kind: EventKind,
    /// What the event is about: "lookout", a check name, ...
    pub subject: String,
    pub message: String,
}

/// Everything the bus carries.
#[derive(Debug, Clone)]
pub enum BusMessage {
    Observation(Arc<Observation>),
    Event(Arc<Event>),
}

/// How bad an alert is (the severity a rule gives it).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        match text {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// The seed's email cases; chooses the wording of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// A check is down, no data.
    Failure,
    /// CPU, memory, disk.
    Resource,
    /// Response times, error rates.
    Performance,
    Maintenance,
    Security,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Failure => "failure",
            Category::Resource => "resource",
            Category::Performance => "performance",
            Category::Maintenance => "maintenance",
            Category::Security => "security",
        }
    }
}

/// What happened to one alert, as people are told about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Firing,
    Escalated,
    DeEscalated,
    /// Still firing; its cooldown has passed.
    Repeat,
    Resolved,
    /// `lookout alerts test`: not a real alert.
    Test,
    /// The alert changes state too often to page on each change; told once, then kept quiet
    /// until it is stable again. Its summary says how often ("app is flapping: 23 changes in
    /// 90 s").
    Flapping,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Firing => "firing",
            NoticeKind::Escalated => "escalated",
            NoticeKind::DeEscalated => "de_escalated",
            NoticeKind::Repeat => "repeat",
            NoticeKind::Resolved => "resolved",
            NoticeKind::Test => "test",
            NoticeKind::Flapping => "flapping",
        }
    }
}

/// One alert's news: the unit the engine writes to the outbox (one row per notifier).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertNotice {
    /// Stable identity of the alert: rule name + labels (see `alert::fingerprint`).
    pub alert_id: String,
    pub rule: String,
    pub kind: NoticeKind,
    pub severity: Severity,
    /// For escalation / de-escalation: the severity before.
    pub previous_severity: Option<Severity>,
    pub category: Category,
    /// Includes `alertname` (the rule), `severity`, `host` and the series' or check's labels.
    pub labels: BTreeMap<String, String>,
    /// One line, already rendered: "CPU usage 97.0% on web1".
    pub summary: String,
    /// A few lines, already rendered.
    pub description: String,
    /// The value that made the decision, formatted with its unit ("97.0%", "2.31 s", "critical").
    pub value: String,
    /// The threshold crossed, formatted ("95%"); empty when not a threshold rule.
    pub threshold: String,
    /// When the alert started firing (for resolved: when it had started).
    pub since_ms: UnixMillis,
    /// When this notice was decided.
    pub at_ms: UnixMillis,
    pub runbook_url: Option<String>,
    /// For a root cause: the summaries of the symptom alerts it explains ("app-ready is
    /// critical"), told under it instead of in messages of their own.
    #[serde(default)]
    pub explains: Vec<String>,
    /// A resolution told although the alert is muted now: why it is muted ("maintenance").
    #[serde(default)]
    pub resolved_while_muted: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_key_displays_as_prometheus_selector_with_sorted_labels() {
        let key = SeriesKey::new("fs_used_bytes")
            .with("mountpoint", "/")
            .with("device", "/dev/vda");
        assert_eq!(
            key.to_string(),
            r#"fs_used_bytes{device="/dev/vda",mountpoint="/"}"#
        );
    }

    #[test]
    fn worst_status_follows_nagios_order() {
        use Status::*;
        assert_eq!(Status::worst([Ok, Warning, Maintenance]), Warning);
        assert_eq!(Status::worst([Unknown, Critical]), Critical);
        assert_eq!(Status::worst([Ok, Unknown]), Unknown);
        assert_eq!(Status::worst([]), Ok);
        assert_eq!(Critical.nagios_exit_code(), 2);
        assert_eq!(Unknown.nagios_exit_code(), 3);
    }
}
