//! The engine's output: what happened to one alert, as people are told about it (`AlertNotice`,
//! its `NoticeKind` and its `Category`). Plain data; the engine builds it, the outbox persists
//! it, `notify` renders and sends it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Severity;
use crate::clock::UnixMillis;
/// Defined in `model`: the config names it too.
pub use crate::model::Category;

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
