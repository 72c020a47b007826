//! Hosts (issue 19): `GET /api/v1/hosts`, one entry per host (this Lookout and every host the
//! receivers heard), and the counts `/api/v1/status` carries.

use serde::Serialize;

/// One point of a host's CPU sparkline: the bucket's start and its mean busy ratio.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SparkPointView {
    pub at_ms: i64,
    pub value: f64,
}

/// One host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostView {
    /// Its name: the `host` label of its series (`host`, else `instance`, else the agent
    /// token's name); for this Lookout, `alerts.host`.
    pub host: String,
    /// This Lookout itself (its series carry no `host` label).
    pub local: bool,
    /// What sends it: "lookout", "prometheus", "otlp" or the sender's own product name.
    pub kind: String,
    /// The sender's version when it says it (User-Agent, OTLP `telemetry.sdk.version`).
    pub version: Option<String>,
    /// "remote_write", "otlp"; "local" for this Lookout.
    pub protocol: &'static str,
    /// The last request received from it (now, for this Lookout).
    pub last_seen: String,
    pub last_seen_ms: i64,
    /// The observed time between its requests; `None` until two were received.
    pub interval_s: Option<f64>,
    /// "ok", "warning", "critical" by the host thresholds; "unknown" when silent for more
    /// than 3 of its intervals.
    pub status: &'static str,
    /// Why, when not ok (which ratio past which level, or how long silent); when no alert
    /// rule applies to any of its values, says so.
    pub reason: Option<String>,
    /// The levels its CPU, memory and disk are held against: the enabled rules whose
    /// matchers its series satisfy (a pair without `rule`: no rule applies).
    pub levels: HostLevelsView,
    /// Latest usage ratios (0..1), when its series give them.
    pub cpu: Option<f64>,
    pub memory: Option<f64>,
    pub disk: Option<f64>,
    /// CPU busy ratio over the last hour, oldest first (at most `SPARK_POINTS`).
    pub cpu_sparkline: Vec<SparkPointView>,
}

/// The levels a host's status is decided on (the enabled built-in rules' effective levels).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HostLevelsView {
    pub cpu: LevelPairView,
    pub memory: LevelPairView,
    pub disk: LevelPairView,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LevelPairView {
    /// The rule these levels are of; `null`: no enabled rule applies to this value.
    pub rule: Option<String>,
    pub warning: Option<f64>,
    pub critical: Option<f64>,
}

/// `GET /api/v1/hosts`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostsView {
    pub generated_at: String,
    /// Hosts known in all (the list holds at most `limit`).
    pub total: usize,
    pub limit: usize,
    /// The levels that apply to this Lookout's own series (each host carries its own).
    pub levels: HostLevelsView,
    /// Sorted by name.
    pub hosts: Vec<HostView>,
}

/// `hosts` of `GET /api/v1/status`: ok, and the rest (warning, critical, unknown).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HostCountsView {
    pub total: usize,
    pub ok: usize,
    pub problem: usize,
}

/// One filesystem of a host now: Lookout's `filesystem_usage_ratio`, or node_exporter's
/// available and size bytes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostFilesystemView {
    pub mountpoint: String,
    pub device: Option<String>,
    pub usage: Option<f64>,
    /// The levels of the rule that applies to it (`rule: null`: none).
    pub levels: LevelPairView,
}

/// One check a host sends (named `HOST/CHECK` on the hub), its latest result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostCheckView {
    pub check: String,
    pub layer: &'static str,
    pub status: &'static str,
    pub value: Option<f64>,
    pub detail: String,
    pub at: String,
    pub at_ms: i64,
}

/// One series of a host: its labels (without `host`) and latest value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostSeriesView {
    pub labels: std::collections::BTreeMap<String, String>,
    pub value: Option<f64>,
    pub at_ms: i64,
}

/// The series of one name a host sends: how many, and the first few of them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostSeriesNameView {
    pub name: String,
    pub count: usize,
    /// At most `series_per_name` of them, by labels.
    pub series: Vec<HostSeriesView>,
}

/// `GET /api/v1/hosts/{name}`: the host's row, its filesystems and checks, and a page of
/// the series it sends, grouped by name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostDetailView {
    pub generated_at: String,
    #[serde(flatten)]
    pub host: HostView,
    /// Whether it sends Lookout's usage series (`cpu_usage_ratio`, `memory_usage_ratio`,
    /// `filesystem_usage_ratio`), which the page charts over a range.
    pub usage_series: bool,
    pub filesystems: Vec<HostFilesystemView>,
    pub checks: Vec<HostCheckView>,
    /// Its series in all, and under how many names.
    pub series_total: usize,
    pub names_total: usize,
    /// Where this page of names starts, and how many it holds at most.
    pub offset: usize,
    pub limit: usize,
    pub series_per_name: usize,
    pub names: Vec<HostSeriesNameView>,
}
