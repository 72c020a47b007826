//! The dashboard's checks and their numbers on the wire: the checks list
//! (`/api/v1/checks`), one check's page (`/api/v1/checks/{name}`) and the effective alert
//! thresholds (`/api/v1/thresholds`). Every level the dashboard draws comes from here: the
//! levels a check's status is decided on (its type's `charts`, `[system.thresholds]` for
//! the system checks) and the alert rules as configured (built-ins, overrides, clear levels).

use std::collections::BTreeMap;

use serde::Serialize;

use super::history::CheckHistoryPointView;
use crate::checks::{Chart, ChartUnit, Levels};
use crate::clock::UnixMillis;
use crate::config::alerts::{Comparison, RuleConfig, RuleSource, ValueUnit};
use crate::config::{CheckConfig, SystemThresholds};

/// Levels on one series: where a status (or an alert) turns warning / critical, and where it
/// clears. A check's own levels have no hysteresis: its clear levels are `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdsView {
    pub metric: String,
    /// "above" (higher is worse) or "below".
    pub comparison: &'static str,
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    pub warning_clear: Option<f64>,
    pub critical_clear: Option<f64>,
    pub unit: &'static str,
}

impl ThresholdsView {
    /// A check's own levels on `metric` (graded without hysteresis).
    pub fn of_levels(metric: &str, levels: Levels, unit: ChartUnit) -> ThresholdsView {
        ThresholdsView {
            metric: metric.to_string(),
            comparison: if levels.below { "below" } else { "above" },
            warning: levels.warning,
            critical: levels.critical,
            warning_clear: None,
            critical_clear: None,
            unit: unit.as_str(),
        }
    }
}

/// One check in the checks list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckEntryView {
    pub check: String,
    pub layer: &'static str,
    /// The check's `type` ("http", "postgres", ...); "system" for cpu, memory and disks,
    /// "lookout" for Lookout's own checks.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// What it looks at, secrets and query values masked; "" when it has no target.
    pub target: String,
    pub interval_s: Option<f64>,
    pub timeout_s: Option<f64>,
    /// The latest status; "unknown" for a configured check that has not run yet.
    pub status: &'static str,
    pub value: Option<f64>,
    /// "seconds", "ratio", "bytes", "count", or `null`.
    pub unit: Option<&'static str>,
    pub detail: String,
    pub at: Option<String>,
    pub at_ms: Option<UnixMillis>,
    /// Share of results up (ok or warning: degraded, but it answered; critical and unknown are
    /// down) over the range, results in maintenance left out (planned downtime does not count
    /// against uptime); `null` without a result that counts.
    pub uptime: Option<f64>,
    /// `STRIP_BUCKETS` letters over the range, oldest first, the worst status per bucket:
    /// o ok, m maintenance, w warning, u unknown, c critical, - no result.
    pub strip: String,
    /// What makes this check's status warn (its headline series), if levels do.
    pub thresholds: Option<ThresholdsView>,
}

/// Buckets of a status strip.
pub const STRIP_BUCKETS: u32 = 48;

/// The strip letter of a status.
pub fn strip_letter(status: crate::model::Status) -> char {
    use crate::model::Status;
    match status {
        Status::Ok => 'o',
        Status::Maintenance => 'm',
        Status::Warning => 'w',
        Status::Unknown => 'u',
        Status::Critical => 'c',
    }
}

/// `GET /api/v1/checks`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChecksView {
    pub from: String,
    pub to: String,
    pub from_ms: UnixMillis,
    pub to_ms: UnixMillis,
    /// Checks in all (before `offset` and `limit`).
    pub total: usize,
    pub offset: usize,
    pub checks: Vec<CheckEntryView>,
}

/// One chart of a check's page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartView {
    pub title: String,
    pub metric: String,
    /// Matchers of the series (`check` and any the chart adds), for `/api/v1/series`.
    pub labels: BTreeMap<String, String>,
    pub unit: &'static str,
    pub thresholds: Option<ThresholdsView>,
}

impl ChartView {
    pub fn of(check: &str, chart: &Chart) -> ChartView {
        let mut labels: BTreeMap<String, String> = chart
            .labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        labels.insert("check".into(), check.to_string());
        ChartView {
            title: chart.title.clone(),
            metric: chart.metric.to_string(),
            labels,
            unit: chart.unit.as_str(),
            thresholds: chart
                .levels
                .map(|l| ThresholdsView::of_levels(chart.metric, l, chart.unit)),
        }
    }
}

/// The latest HTTP phase timings of a check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhasesView {
    pub dns_s: Option<f64>,
    pub connect_s: Option<f64>,
    pub tls_s: Option<f64>,
    pub ttfb_s: Option<f64>,
    pub total_s: Option<f64>,
}

/// The certificate a check saw last.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertificateView {
    pub expires_at: String,
    pub expires_at_ms: UnixMillis,
    pub days_left: f64,
    /// Not known to the probe (it reports the expiry only): `null`.
    pub subject: Option<String>,
}

/// `GET /api/v1/checks/{name}`: the list entry and the page's details.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckDetailView {
    #[serde(flatten)]
    pub entry: CheckEntryView,
    /// The last results, newest first.
    pub recent: Vec<CheckHistoryPointView>,
    pub uptime_24h: Option<f64>,
    pub uptime_7d: Option<f64>,
    pub uptime_30d: Option<f64>,
    pub phases: Option<PhasesView>,
    pub certificate: Option<CertificateView>,
    /// Every series the page charts, the one the status is decided on first.
    pub charts: Vec<ChartView>,
}

/// What the dashboard knows of a check besides its latest result.
pub struct CheckFacts {
    pub kind: &'static str,
    pub target: String,
    pub interval_s: Option<f64>,
    pub timeout_s: Option<f64>,
    pub unit: Option<ChartUnit>,
    pub charts: Vec<ChartView>,
}

impl CheckFacts {
    /// A configured check: its type says what it charts and on which levels.
    pub fn configured(config: &CheckConfig) -> CheckFacts {
        let charts = config.kind.charts();
        CheckFacts {
            kind: config.kind.type_name(),
            target: config.kind.target(),
            interval_s: Some(config.interval.as_secs_f64()),
            timeout_s: Some(config.timeout.as_secs_f64()),
            unit: match config.kind.value_unit() {
                ValueUnit::Seconds => Some(ChartUnit::Seconds),
                ValueUnit::Percent => Some(ChartUnit::Ratio),
                ValueUnit::Bytes => Some(ChartUnit::Bytes),
                ValueUnit::Number => Some(ChartUnit::Count),
                ValueUnit::Status => None,
            },
            charts: charts
                .iter()
                .map(|c| ChartView::of(&config.name, c))
                .collect(),
        }
    }

    /// A check Lookout makes itself: the system checks (`cpu`, `memory`, `disk:<mount>`,
    /// held against `[system.thresholds]`) and its own (`lookout:*`, `security:*`).
    pub fn builtin(check: &str, thresholds: &SystemThresholds) -> CheckFacts {
        let usage = |metric: &str, title: &str, warning: f64, critical: f64| {
            let mut labels = BTreeMap::new();
            if let Some(mount) = check.strip_prefix("disk:") {
                labels.insert("mountpoint".to_string(), mount.to_string());
            }
            ChartView {
                title: title.to_string(),
                metric: metric.to_string(),
                labels,
                unit: ChartUnit::Ratio.as_str(),
                thresholds: Some(ThresholdsView::of_levels(
                    metric,
                    Levels {
                        below: false,
                        warning: Some(warning),
                        critical: Some(critical),
                    },
                    ChartUnit::Ratio,
                )),
            }
        };
        let t = thresholds;
        let chart = match check {
            "cpu" => Some(usage(
                "cpu_usage_ratio",
                "CPU usage",
                t.cpu_warning,
                t.cpu_critical,
            )),
            "memory" => Some(usage(
                "memory_usage_ratio",
                "Memory usage",
                t.memory_warning,
                t.memory_critical,
            )),
            _ if check.starts_with("disk:") => Some(usage(
                "filesystem_usage_ratio",
                "Disk usage",
                t.disk_warning,
                t.disk_critical,
            )),
            _ => None,
        };
        CheckFacts {
            kind: if chart.is_some() { "system" } else { "lookout" },
            target: String::new(),
            interval_s: None,
            timeout_s: None,
            unit: chart.as_ref().map(|_| ChartUnit::Ratio),
            charts: chart.into_iter().collect(),
        }
    }

    /// A check a host sent (`HOST/CHECK` on the hub): its status is the agent's, decided on the
    /// agent's levels, which the hub does not know. An agent's system checks (cpu, memory,
    /// disk:<mount>) chart the host's series.
    pub fn received(host: &str, check: &str) -> CheckFacts {
        let mut labels = BTreeMap::new();
        labels.insert("host".to_string(), host.to_string());
        let metric = match check {
            "cpu" => Some(("cpu_usage_ratio", "CPU usage")),
            "memory" => Some(("memory_usage_ratio", "Memory usage")),
            _ => check.strip_prefix("disk:").map(|mount| {
                labels.insert("mountpoint".to_string(), mount.to_string());
                ("filesystem_usage_ratio", "Disk usage")
            }),
        };
        let charts: Vec<ChartView> = metric
            .map(|(metric, title)| ChartView {
                title: title.to_string(),
                metric: metric.to_string(),
                labels,
                unit: ChartUnit::Ratio.as_str(),
                thresholds: None,
            })
            .into_iter()
            .collect();
        CheckFacts {
            kind: if charts.is_empty() {
                "received"
            } else {
                "system"
            },
            target: String::new(),
            interval_s: None,
            timeout_s: None,
            unit: charts.first().map(|_| ChartUnit::Ratio),
            charts,
        }
    }

    /// The levels of the headline chart, if the status is decided on levels.
    pub fn thresholds(&self) -> Option<ThresholdsView> {
        self.charts.first().and_then(|c| c.thresholds.clone())
    }
}

/// One rule's effective levels on the series it watches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleThresholdsView {
    pub rule: String,
    pub metric: String,
    /// The rule's equality matchers; `{}`: every series of the metric.
    pub labels: BTreeMap<String, String>,
    /// Every matcher as written (`mountpoint!="/boot"`), when it has others than equality.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matchers: Vec<String>,
    pub comparison: &'static str,
    /// "percent" (a ratio 0..1 shown as a percent), "seconds", "bytes", "number".
    pub unit: &'static str,
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    pub warning_clear: Option<f64>,
    pub critical_clear: Option<f64>,
}

/// `GET /api/v1/thresholds`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdsListView {
    pub rules: Vec<RuleThresholdsView>,
}

impl ThresholdsListView {
    /// The enabled metric rules of the running config (built-ins with their overrides and
    /// `[system.thresholds]`, then the user's), with the clear levels the engine uses.
    pub fn new(rules: &[RuleConfig]) -> ThresholdsListView {
        ThresholdsListView {
            rules: rules
                .iter()
                .filter(|r| r.enabled)
                .filter_map(RuleThresholdsView::of)
                .collect(),
        }
    }
}

impl RuleThresholdsView {
    /// A metric rule's levels; `None` for rules on check statuses, no-data and the Watchdog,
    /// and for rate rules (their levels are of the rate, not of the series a chart draws).
    pub fn of(rule: &RuleConfig) -> Option<RuleThresholdsView> {
        let RuleSource::Metric {
            name,
            matchers,
            rate: None,
        } = &rule.source
        else {
            return None;
        };
        let mut labels = BTreeMap::new();
        let mut all_equal = true;
        for m in matchers {
            match &m.op {
                crate::base::matcher::MatchOp::Equal(value) => {
                    labels.insert(m.label.clone(), value.clone());
                }
                _ => all_equal = false,
            }
        }
        let clear = |level: Option<f64>, given: Option<f64>| {
            given.or_else(|| level.map(|l| crate::alert::state::default_clear(l, rule.comparison)))
        };
        Some(RuleThresholdsView {
            rule: rule.name.clone(),
            metric: name.clone(),
            labels,
            matchers: if all_equal {
                Vec::new()
            } else {
                matchers.iter().map(|m| m.to_string()).collect()
            },
            comparison: match rule.comparison {
                Comparison::Above => "above",
                Comparison::Below => "below",
            },
            unit: match rule.unit {
                ValueUnit::Percent => "percent",
                ValueUnit::Seconds => "seconds",
                ValueUnit::Bytes => "bytes",
                ValueUnit::Status => "status",
                ValueUnit::Number => "number",
            },
            warning: rule.warning,
            critical: rule.critical,
            warning_clear: clear(rule.warning, rule.warning_clear),
            critical_clear: clear(rule.critical, rule.critical_clear),
        })
    }
}
