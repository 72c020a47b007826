//! `[alerts]`, `[[alerts.rule]]` and `[[alerts.inhibit]]`: what the alert engine watches and
//! how it keeps the noise down. The built-in rules (the seed's thresholds) are active with no
//! config; a `[[alerts.rule]]` with a built-in's name overrides the keys it sets (or disables
//! it with `enabled = false`), any other name adds a rule.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::alert::matcher::Matcher;
use crate::alert::{Comparison, Cooldowns, Severity};
use crate::notify::Category;

#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    /// `cooldown`, `cooldown_critical`, `cooldown_warning`: how long a still-firing alert waits
    /// before its notification is repeated (defaults 15m / 5m / 30m, the seed's).
    pub cooldowns: Cooldowns,
    /// `send_resolved`, default true: one notification when an alert resolves.
    pub send_resolved: bool,
    /// `group_by`, default ["host"]: alerts with the same values of these labels go out together.
    pub group_by: Vec<String>,
    /// `group_wait`, default 10s: how long a new group waits for more alerts before it is sent.
    pub group_wait: Duration,
    /// `group_wait_critical`, default 0s: the wait when the group holds a critical alert, so a
    /// failure is told at once (later alerts join the next message, `group_interval` after).
    pub group_wait_critical: Duration,
    /// `group_interval`, default 1m: the least time between two messages of the same group.
    pub group_interval: Duration,
    /// `evaluation_interval`, default 1s: how often pending `for` timers, "no data" and the
    /// outbox are looked at (values are evaluated as they arrive, not on this tick).
    pub evaluation_interval: Duration,
    /// `host`, default the machine's hostname: the `host` label of every alert.
    pub host: String,
    /// `dashboard_url`: the base URL for links in messages; none by default.
    pub dashboard_url: Option<String>,
    /// Built-in rules (overridden as configured) followed by the user's own.
    pub rules: Vec<RuleConfig>,
    /// Built-in inhibitions followed by `[[alerts.inhibit]]`.
    pub inhibit: Vec<InhibitConfig>,
}

/// What a rule looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleSource {
    /// `metric = 'filesystem_usage_ratio{fstype!="tmpfs"}'`: one alert per matching series.
    Metric {
        name: String,
        matchers: Vec<Matcher>,
    },
    /// `check_status = 'check=~".*"'` (matchers on the check's labels: check, layer, type):
    /// one alert per matching check; thresholds are statuses ("warning", "critical").
    CheckStatus { matchers: Vec<Matcher> },
    /// `no_data = 3`: a matching check has had no result for this many of its intervals.
    NoData {
        matchers: Vec<Matcher>,
        missed_intervals: u32,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleConfig {
    pub name: String,
    /// True for the rules Lookout ships (they exist with no config).
    pub builtin: bool,
    pub enabled: bool,
    pub source: RuleSource,
    /// `comparison = "above" | "below"`, default above.
    pub comparison: Comparison,
    /// For metric rules a number in the metric's unit (percents allowed for ratios: "80%");
    /// for check-status rules a status mapped by `status_value`.
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    /// `warning_clear`, `critical_clear`: hysteresis; default a 1/16 margin (80% -> 75%).
    pub warning_clear: Option<f64>,
    pub critical_clear: Option<f64>,
    /// `for`: how long the condition must hold before firing. Resource rules default to 2m.
    pub hold_for: Duration,
    /// Per-rule `cooldown`, `cooldown_critical`, `cooldown_warning`; unset ones come from `[alerts]`.
    pub cooldown: Option<Duration>,
    pub cooldown_critical: Option<Duration>,
    pub cooldown_warning: Option<Duration>,
    /// `send_resolved`; default `[alerts].send_resolved`.
    pub send_resolved: Option<bool>,
    pub labels: BTreeMap<String, String>,
    /// Templates: `{{value}}`, `{{threshold}}`, `{{severity}}`, `{{rule}}`, `{{host}}` and
    /// `{{labels.NAME}}` (e.g. `{{labels.mountpoint}}`, `{{labels.check}}`).
    pub summary: String,
    pub description: String,
    pub runbook_url: Option<String>,
    /// `notifiers`: names of `[[notifier]]`s to tell; empty means all.
    pub notifiers: Vec<String>,
    /// How values are shown: "percent" (ratio 0..1), "seconds", "bytes", "status" or "number".
    pub unit: ValueUnit,
    pub category: Category,
    /// `maintenance_affected`: muted while the app is in maintenance (issue "maintenance").
    pub maintenance_affected: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueUnit {
    Percent,
    Seconds,
    Bytes,
    Status,
    Number,
}

/// `[[alerts.inhibit]]`: while an alert matching `source` fires, alerts matching `target`
/// with the same values of the `equal` labels are not sent.
#[derive(Debug, Clone, PartialEq)]
pub struct InhibitConfig {
    pub source: Vec<Matcher>,
    pub target: Vec<Matcher>,
    pub equal: Vec<String>,
}

/// A check status as a number, so check-status rules share the threshold logic:
/// ok 0, maintenance 1, warning 2, unknown 3, critical 4.
pub fn status_value(status: crate::model::Status) -> f64 {
    use crate::model::Status;
    match status {
        Status::Ok => 0.0,
        Status::Maintenance => 1.0,
        Status::Warning => 2.0,
        Status::Unknown => 3.0,
        Status::Critical => 4.0,
    }
}

fn matchers(texts: &[&str]) -> Vec<Matcher> {
    texts
        .iter()
        .map(|t| Matcher::parse(t).expect("built-in matchers are valid"))
        .collect()
}

fn builtin(name: &str, source: RuleSource, category: Category, unit: ValueUnit) -> RuleConfig {
    RuleConfig {
        name: name.to_string(),
        builtin: true,
        enabled: true,
        source,
        comparison: Comparison::Above,
        warning: None,
        critical: None,
        warning_clear: None,
        critical_clear: None,
        hold_for: Duration::ZERO,
        cooldown: None,
        cooldown_critical: None,
        cooldown_warning: None,
        send_resolved: None,
        labels: BTreeMap::new(),
        summary: String::new(),
        description: String::new(),
        runbook_url: None,
        notifiers: Vec::new(),
        unit,
        category,
        maintenance_affected: false,
    }
}

pub const BUILTIN_RULES: &[&str] = &[
    "cpu_usage",
    "memory_usage",
    "disk_usage",
    "http_response_time",
    "check_failed",
    "check_no_data",
];

/// The seed's rules, active with no config.
pub fn builtin_rules() -> Vec<RuleConfig> {
    let two_minutes = Duration::from_secs(120);
    let metric = |name: &str, m: &[&str]| RuleSource::Metric {
        name: name.to_string(),
        matchers: matchers(m),
    };
    let mut cpu = builtin(
        "cpu_usage",
        metric("cpu_usage_ratio", &[]),
        Category::Resource,
        ValueUnit::Percent,
    );
    cpu.warning = Some(0.80);
    cpu.critical = Some(0.95);
    cpu.hold_for = two_minutes;
    cpu.summary = "CPU usage {{value}} on {{host}}".into();
    cpu.description =
        "CPU busy {{value}} for over 2 minutes ({{severity}} at {{threshold}}).".into();

    let mut memory = builtin(
        "memory_usage",
        metric("memory_usage_ratio", &[]),
        Category::Resource,
        ValueUnit::Percent,
    );
    memory.warning = Some(0.85);
    memory.critical = Some(0.95);
    memory.hold_for = two_minutes;
    memory.summary = "Memory usage {{value}} on {{host}}".into();
    memory.description =
        "Memory in use {{value}} for over 2 minutes ({{severity}} at {{threshold}}).".into();

    let mut disk = builtin(
        "disk_usage",
        metric("filesystem_usage_ratio", &[]),
        Category::Resource,
        ValueUnit::Percent,
    );
    disk.warning = Some(0.90);
    disk.critical = Some(0.95);
    disk.hold_for = two_minutes;
    disk.summary = "Disk {{labels.mountpoint}} {{value}} full on {{host}}".into();
    disk.description =
        "Filesystem {{labels.mountpoint}} ({{labels.device}}) is {{value}} used ({{severity}} at {{threshold}})."
            .into();

    let mut response = builtin(
        "http_response_time",
        metric("http_response_seconds", &[]),
        Category::Performance,
        ValueUnit::Seconds,
    );
    response.warning = Some(2.0);
    response.critical = Some(5.0);
    response.summary = "{{labels.check}} responds in {{value}}".into();
    response.description =
        "Health check {{labels.check}} took {{value}} to respond ({{severity}} at {{threshold}})."
            .into();
    response.maintenance_affected = true;

    let mut failed = builtin(
        "check_failed",
        RuleSource::CheckStatus {
            matchers: Vec::new(),
        },
        Category::Failure,
        ValueUnit::Status,
    );
    failed.critical = Some(status_value(crate::model::Status::Critical));
    failed.summary = "{{labels.check}} is {{value}}".into();
    failed.description =
        "Health check {{labels.check}} ({{labels.layer}}) failed: {{detail}}".into();
    failed.maintenance_affected = true;

    let mut no_data = builtin(
        "check_no_data",
        RuleSource::NoData {
            matchers: Vec::new(),
            missed_intervals: 3,
        },
        Category::Failure,
        ValueUnit::Number,
    );
    no_data.warning = Some(1.0);
    no_data.summary = "No data from {{labels.check}}".into();
    no_data.description =
        "Health check {{labels.check}} has produced no result for {{value}} (3 intervals).".into();

    vec![cpu, memory, disk, response, failed, no_data]
}

/// The built-in inhibition: a check that is down silences its response-time alerts.
/// (`depends_on` between checks is applied by the engine from the checks' config.)
pub fn builtin_inhibitions() -> Vec<InhibitConfig> {
    vec![InhibitConfig {
        source: matchers(&["alertname=\"check_failed\""]),
        target: matchers(&["alertname=~\"http_response_time|check_no_data\""]),
        equal: vec!["check".to_string()],
    }]
}

impl AlertsConfig {
    pub fn severity_cooldowns(&self, rule: &RuleConfig) -> Cooldowns {
        Cooldowns {
            critical: rule.cooldown_critical.unwrap_or(self.cooldowns.critical),
            warning: rule.cooldown_warning.unwrap_or(self.cooldowns.warning),
            default: rule.cooldown.unwrap_or(self.cooldowns.default),
        }
    }
}

pub fn default_host() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            cooldowns: Cooldowns::default(),
            send_resolved: true,
            group_by: vec!["host".to_string()],
            group_wait: Duration::from_secs(10),
            group_wait_critical: Duration::ZERO,
            group_interval: Duration::from_secs(60),
            evaluation_interval: Duration::from_secs(1),
            host: default_host(),
            dashboard_url: None,
            rules: builtin_rules(),
            inhibit: builtin_inhibitions(),
        }
    }
}

/// `[alerts]`; problems go to the reader. (Stub until the reader lands: the defaults.)
pub(in crate::config) fn read_alerts(
    _r: &mut super::reader::Reader<'_>,
    _root: &super::reader::Table<'_, '_>,
) -> AlertsConfig {
    let _ = Severity::Info;
    AlertsConfig::default()
}
