//! `[alerts]`, `[[alerts.rule]]` and `[[alerts.inhibit]]`: what the alert engine watches and
//! how it keeps the noise down. The built-in rules (the seed's thresholds) are active with no
//! config; a `[[alerts.rule]]` with a built-in's name overrides the keys it sets (or disables
//! it with `enabled = false`), any other name adds a rule.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::time::Duration;

use toml::de::DeValue;

use crate::base::matcher::Matcher;
use crate::base::schema::string_list;
use crate::base::schema::{
    DURATION_TYPE, Field, Item, Kind, Reader, Table, Text, a_type, text_kind,
};
use crate::base::schema::{
    bool_setting, duration_setting, not_longer, positive, string_setting, unknown_name,
    whole_setting, within,
};
use crate::base::units::{
    UnitError, format_duration, format_percent, format_size, parse_duration, parse_percent,
    parse_size,
};
use crate::model::{Category, Severity, Status};

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
    /// `resolve_wait`, default 10s: how long a resolution waits before it is told. An alert
    /// that fires again meanwhile goes on firing (no "resolved" then "firing" pair); the
    /// resolution of a group's only incident goes out this long after the recovery, not
    /// `group_interval` after its firing.
    pub resolve_wait: Duration,
    /// `evaluation_interval`, default 1s: how often pending `for` timers, "no data" and the
    /// outbox are looked at (values are evaluated as they arrive, not on this tick).
    pub evaluation_interval: Duration,
    /// `silence_refresh`, default 5s (1s to 10m): how often `serve` re-reads the silences from
    /// the store, where `lookout silence add` puts them (the API's take effect at once).
    pub silence_refresh: Duration,
    /// `outbox_backoff`, default 5s (100ms to 10m): how long a notification whose send failed
    /// (a retryable error) waits before it is tried again; each further failure doubles it.
    pub outbox_backoff: Duration,
    /// `outbox_backoff_max`, default 5m (1s to 1h, at least `outbox_backoff`): the longest
    /// that wait grows to. A notification still failing 24 h after it was queued is given up.
    pub outbox_backoff_max: Duration,
    /// `for_critical`, default 15s: how long a critical condition must hold before firing, for
    /// every rule that does not set its own `for_critical`; never more than the rule's `for`
    /// (so a rule with `for = "0s"` fires at once). Applied in `RuleConfig::hold_for_critical`.
    pub for_critical: Duration,
    /// `implied_dependencies`, default true: an application check without `depends_on` waits
    /// for every database and Redis check (see `config::effective_dependencies`).
    pub implied_dependencies: bool,
    /// `[alerts.flapping]`: when an alert that keeps changing state is kept quiet.
    pub flapping: FlapConfig,
    /// `host`, default the machine's hostname: the `host` label of every alert.
    pub host: String,
    /// `dashboard_url`: the base URL for links in messages; none by default.
    pub dashboard_url: Option<String>,
    /// Built-in rules (overridden as configured) followed by the user's own.
    pub rules: Vec<RuleConfig>,
    /// Built-in inhibitions followed by `[[alerts.inhibit]]`.
    pub inhibit: Vec<InhibitConfig>,
    /// `[alerts.connectivity]` (read in `watch.rs`): canaries whose failing together holds
    /// the alerts of network checks.
    pub connectivity: Option<super::watch::ConnectivityConfig>,
}

/// Which side of a threshold is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// Higher is worse (CPU usage, response time).
    Above,
    /// Lower is worse (free space, hit ratio).
    Below,
}

/// How long a still-firing alert waits before its notification is repeated (the seed's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cooldowns {
    pub critical: Duration,
    pub warning: Duration,
    /// Any other severity.
    pub default: Duration,
}

impl Default for Cooldowns {
    fn default() -> Self {
        Cooldowns {
            critical: Duration::from_secs(5 * 60),
            warning: Duration::from_secs(30 * 60),
            default: Duration::from_secs(15 * 60),
        }
    }
}

impl Cooldowns {
    pub fn of(&self, severity: Severity) -> Duration {
        match severity {
            Severity::Critical => self.critical,
            Severity::Warning => self.warning,
            Severity::Info => self.default,
        }
    }
}

/// What a rule looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleSource {
    /// `metric = 'filesystem_usage_ratio{fstype!="tmpfs"}'`: one alert per matching series.
    Metric {
        name: String,
        matchers: Vec<Matcher>,
        /// `rate = "5m"`: the value is the per-second rate of the series (a counter) over this
        /// window (`alert::rate`), not the series' value. New rules only.
        rate: Option<Duration>,
    },
    /// `check_status = 'check=~".*"'` (matchers on the check's labels: check, layer, type):
    /// one alert per matching check; thresholds are statuses ("warning", "critical").
    CheckStatus { matchers: Vec<Matcher> },
    /// `no_data = 3`: a matching check has had no result for this many of its intervals.
    NoData {
        matchers: Vec<Matcher>,
        missed_intervals: u32,
    },
    /// `host_silent = 3`: a host the hub receives from (`[receive]`) has sent nothing for this
    /// many of its intervals (the usual time between its requests): one alert per host.
    HostSilent { missed_intervals: u32 },
    /// Always firing, at severity info, while the engine runs: the built-in `Watchdog` (an
    /// Alertmanager dead man's switch notices when it stops). Not available to new rules.
    Always,
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
    /// `for_critical`: the same for a critical condition; at most `hold_for`. Default
    /// `[alerts] for_critical`, capped at `hold_for`.
    pub hold_for_critical: Duration,
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
    /// `summary_resolved`: the one line of a resolved notice, same placeholders. Built-in rules
    /// say what is fine again; a new rule's default is "Resolved: " and its `summary`.
    pub summary_resolved: String,
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

/// `[alerts.flapping]`: an alert that changes between firing and not firing at least `changes`
/// times within `window` is flapping; it is told once, then kept quiet until it has had no
/// change for `stable_for`, and then its final state is told once.
#[derive(Debug, Clone, PartialEq)]
pub struct FlapConfig {
    /// `enabled`, default true.
    pub enabled: bool,
    /// `window`, default 10m (1s to 1d): the span the changes are counted over.
    pub window: Duration,
    /// `changes`, default 5 (2 to 1000): changes within `window` that make an alert flapping.
    pub changes: u32,
    /// `stable_for`, default 2m (1s to 1d): how long a flapping alert must go without a change
    /// before its state is told again.
    pub stable_for: Duration,
}

impl Default for FlapConfig {
    fn default() -> Self {
        FlapConfig {
            enabled: true,
            window: Duration::from_secs(600),
            changes: 5,
            stable_for: Duration::from_secs(120),
        }
    }
}

/// The range of `[alerts.flapping] changes`: one change is a plain alert, not a flap.
pub const FLAP_CHANGES: std::ops::RangeInclusive<u32> = 2..=1000;
/// The range of `[alerts.flapping] window` and `stable_for`.
pub const FLAP_DURATIONS: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(86_400));
/// The range of a metric rule's `rate` window: long enough for a few samples of any sender,
/// short enough that the window's samples stay few (`alert::rate` bounds them).
pub const RATE_WINDOWS: (Duration, Duration) =
    (Duration::from_secs(30), Duration::from_secs(24 * 3600));
/// `RATE_WINDOWS` as messages say it.
const RATE_RANGE: &str = "from \"30s\" to \"24h\"";
/// The default of `[alerts] for_critical`.
pub const DEFAULT_FOR_CRITICAL: Duration = Duration::from_secs(15);

pub use crate::base::units::ValueUnit;

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

/// The names of the built-in rules, in order (a test checks them against `builtin_rules`).
pub const BUILTIN_RULES: &[&str] = &[
    "cpu_usage",
    "memory_usage",
    "disk_usage",
    "http_response_time",
    "check_failed",
    "check_no_data",
    "host_down",
    "security_incident",
    // Watching the watcher (see `watch.rs`).
    "Watchdog",
    "connectivity_lost",
    "collection_late",
    "store_errors",
    "store_unwritable",
    "outbox_backlog",
    "outbox_stuck",
];

/// The built-in rules as written: the same form as a user's `[[alerts.rule]]`, read by the same
/// code (`read_rule`), so they are data and cannot use a key a user could not.
const BUILTIN_RULES_TOML: &str = include_str!("builtin_rules.toml");

/// Read once: every parse starts from the built-ins.
static BUILTIN: std::sync::LazyLock<Vec<RuleConfig>> =
    std::sync::LazyLock::new(|| read_builtin_rules().0);

/// The seed's rules, active with no config.
pub fn builtin_rules() -> Vec<RuleConfig> {
    builtin_rules_with(&crate::config::SystemThresholds::default())
}

/// The built-in rules with the resource levels of `[system.thresholds]`, so the alerts and the
/// status of the cpu/memory/disk checks agree when those are changed.
pub fn builtin_rules_with(thresholds: &crate::config::SystemThresholds) -> Vec<RuleConfig> {
    let mut rules = BUILTIN.clone();
    for rule in &mut rules {
        let (warning, critical) = match rule.name.as_str() {
            "cpu_usage" => (thresholds.cpu_warning, thresholds.cpu_critical),
            "memory_usage" => (thresholds.memory_warning, thresholds.memory_critical),
            "disk_usage" => (thresholds.disk_warning, thresholds.disk_critical),
            _ => continue,
        };
        rule.warning = Some(warning);
        rule.critical = Some(critical);
    }
    rules
}

/// `builtin_rules.toml` read as `[[rule]]`s, plus the Watchdog (after security_incident), and
/// the problems of reading it (none: a test checks).
fn read_builtin_rules() -> (Vec<RuleConfig>, Vec<crate::base::schema::Problem>) {
    let Ok(document) = toml::de::DeTable::parse(BUILTIN_RULES_TOML) else {
        return (vec![watchdog()], Vec::new());
    };
    let no_env = |_: &str| None;
    let mut r = Reader::new("builtin_rules.toml", BUILTIN_RULES_TOML, &no_env);
    let root = r.root(document.get_ref());
    let mut rules = Vec::new();
    let mut refs = Vec::new();
    for table in r.table_array(&root, "rule") {
        let name = string_setting(&mut r, &table, "name", String::new(), "a name", |text| {
            Ok(text.value.clone())
        });
        let rule = read_rule(&mut r, &table, &name, None, DEFAULT_FOR_CRITICAL, &mut refs);
        rules.extend(rule.map(|rule| RuleConfig {
            builtin: true,
            ..rule
        }));
    }
    let after = rules
        .iter()
        .position(|rule| rule.name == "security_incident")
        .map_or(rules.len(), |index| index + 1);
    rules.insert(after, watchdog());
    let problems = r.finish(document.get_ref());
    (rules, problems)
}

/// Always firing while the engine runs (off by default), named as Prometheus setups name it
/// (kube-prometheus), which Alertmanager routes to dead man's switches match on. No user rule
/// can have its source, so it is not in `builtin_rules.toml`.
fn watchdog() -> RuleConfig {
    RuleConfig {
        name: "Watchdog".into(),
        builtin: true,
        enabled: false,
        source: RuleSource::Always,
        comparison: Comparison::Above,
        warning: None,
        critical: None,
        warning_clear: None,
        critical_clear: None,
        hold_for: Duration::ZERO,
        hold_for_critical: Duration::ZERO,
        cooldown: None,
        cooldown_critical: None,
        cooldown_warning: None,
        send_resolved: None,
        labels: BTreeMap::new(),
        summary: "Watchdog: Lookout on {{host}} is alive".into(),
        summary_resolved: "Watchdog: Lookout on {{host}} stopped evaluating alerts".into(),
        description: "This alert always fires while Lookout runs and evaluates alerts. Route it \
            to a dead man's switch: when it stops arriving, Lookout or the way to the receiver \
            is down."
            .into(),
        runbook_url: None,
        notifiers: Vec::new(),
        unit: ValueUnit::Number,
        category: Category::Failure,
        maintenance_affected: false,
    }
}

/// The built-in inhibitions: a check that is down silences its response-time alerts; a host
/// that is down, its other alerts; a store that cannot write silences its error count.
/// (`depends_on` between checks is applied by the engine from the checks' config.)
pub fn builtin_inhibitions() -> Vec<InhibitConfig> {
    vec![
        InhibitConfig {
            source: matchers(&["alertname=\"check_failed\""]),
            target: matchers(&["alertname=~\"http_response_time|check_no_data\""]),
            equal: vec!["check".to_string()],
        },
        // A host the hub no longer hears from: its other alerts (a CPU last seen high, an
        // agent's check last seen failing) say nothing new until it is heard again.
        InhibitConfig {
            source: matchers(&["alertname=\"host_down\""]),
            target: matchers(&["alertname!=\"host_down\""]),
            equal: vec!["host".to_string()],
        },
        // A store that cannot write says why; its count of failed writes adds nothing.
        InhibitConfig {
            source: matchers(&["alertname=\"store_unwritable\""]),
            target: matchers(&["alertname=\"store_errors\""]),
            equal: vec!["host".to_string()],
        },
    ]
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
            resolve_wait: Duration::from_secs(10),
            evaluation_interval: Duration::from_secs(1),
            silence_refresh: Duration::from_secs(5),
            outbox_backoff: Duration::from_secs(5),
            outbox_backoff_max: Duration::from_secs(300),
            for_critical: DEFAULT_FOR_CRITICAL,
            implied_dependencies: true,
            flapping: FlapConfig::default(),
            host: default_host(),
            dashboard_url: None,
            rules: builtin_rules(),
            inhibit: builtin_inhibitions(),
            connectivity: None,
        }
    }
}

// ---- Reading `[alerts]`.

/// The placeholders a `summary` or `description` may use, besides `{{labels.NAME}}`.
const PLACEHOLDERS: &[&str] = &["value", "threshold", "severity", "rule", "host", "detail"];
/// The labels of a check that check-status and no-data matchers can look at.
const CHECK_LABELS: &[&str] = &["check", "layer", "type"];
/// Labels every alert gets from the engine: a rule's own `labels` must not hide them.
const RESERVED_LABELS: &[&str] = &["alertname", "severity"];
const UNITS: &[&str] = &["percent", "seconds", "bytes", "status", "number"];
const CATEGORIES: &[&str] = &[
    "failure",
    "resource",
    "performance",
    "maintenance",
    "security",
];
/// Resource usage swings for a moment all the time; only a sustained level is worth a message.
const RESOURCE_HOLD: Duration = Duration::from_secs(120);
/// More missed intervals than this is days for most checks: surely a typo.
const MAX_NO_DATA: i64 = 1000;
const SELECTOR_FORM: &str = "expected a metric name and optional matchers in braces, like 'filesystem_usage_ratio{mountpoint=~\"/data.*\",fstype!=\"tmpfs\"}'";
const NEW_RULE_SUMMARY: &str = "{{rule}} is {{value}} on {{host}}";
const NEW_RULE_DESCRIPTION: &str = "{{rule}} is {{value}} ({{severity}} at {{threshold}}).";

/// `notifiers = [...]` of every rule, checked once the `[[notifier]]`s are read (they come
/// after `[alerts]` in the schema).
pub(in crate::config) struct NotifierRefs(Vec<(String, Option<Range<usize>>, String)>);

impl NotifierRefs {
    /// Reports each name that is not a `[[notifier]]`.
    pub(in crate::config) fn check<'n>(
        self,
        r: &mut Reader<'_>,
        notifiers: impl IntoIterator<Item = &'n str>,
    ) {
        let known: Vec<&str> = notifiers.into_iter().collect();
        for (name, span, path) in self.0 {
            if !known.contains(&name.as_str()) {
                let message = unknown_name(&name, "notifier", &known);
                r.problem(span.as_ref(), &path, message);
            }
        }
    }
}

/// `[alerts]` with its rules and inhibitions; problems go to the reader. The rules' notifier
/// names are returned for `NotifierRefs::check`.
pub(in crate::config) fn read_alerts(
    r: &mut Reader<'_>,
    root: &Table<'_, '_>,
    system_thresholds: &crate::config::SystemThresholds,
) -> (AlertsConfig, NotifierRefs) {
    let defaults = AlertsConfig::default();
    let table = r.table(root, "alerts");
    let cooldown = duration_setting(r, &table, "cooldown", defaults.cooldowns.default, positive);
    let cooldown_critical = duration_setting(
        r,
        &table,
        "cooldown_critical",
        defaults.cooldowns.critical,
        positive,
    );
    let cooldown_warning = duration_setting(
        r,
        &table,
        "cooldown_warning",
        defaults.cooldowns.warning,
        positive,
    );
    let send_resolved = bool_setting(r, &table, "send_resolved", defaults.send_resolved);
    let group_by = match r.item_of(&table, "group_by", label_names_kind()) {
        None => defaults.group_by.clone(),
        Some(_) => label_names(r, &table, "group_by"),
    };
    let group_wait = duration_setting(r, &table, "group_wait", defaults.group_wait, |_| None);
    // A resolution that waits longer than an hour is one people stop waiting for.
    let resolve_wait = duration_setting(r, &table, "resolve_wait", defaults.resolve_wait, |d| {
        (*d > Duration::from_secs(3600))
            .then(|| "is too long; expected at most 1h (a resolution waits this long)".to_string())
    });
    let group_wait_critical = duration_setting(
        r,
        &table,
        "group_wait_critical",
        defaults.group_wait_critical,
        |_| None,
    );
    // A critical alert waits less than the others, never more: that is the point of the key.
    not_longer(
        r,
        &group_wait_critical,
        &group_wait,
        "expected group_wait_critical <= group_wait",
    );
    let group_interval = duration_setting(
        r,
        &table,
        "group_interval",
        defaults.group_interval,
        positive,
    );
    let evaluation_interval = duration_setting(
        r,
        &table,
        "evaluation_interval",
        defaults.evaluation_interval,
        positive,
    );
    let silence_refresh = duration_setting(
        r,
        &table,
        "silence_refresh",
        defaults.silence_refresh,
        |d| {
            if *d < Duration::from_secs(1) {
                Some(
                    "is too short; expected at least 1s (the store is read this often)".to_string(),
                )
            } else if *d > Duration::from_secs(600) {
                Some(
                    "is too long; expected at most 10m (a silence added from the shell waits this long)"
                        .to_string(),
                )
            } else {
                None
            }
        },
    );
    let (outbox_backoff, outbox_backoff_max) = read_outbox_backoff(r, &table, &defaults);
    let for_critical = duration_setting(r, &table, "for_critical", defaults.for_critical, |_| None);
    let implied_dependencies = bool_setting(
        r,
        &table,
        "implied_dependencies",
        defaults.implied_dependencies,
    );
    let flapping = read_flapping(r, &table, &defaults.flapping);
    let host = string_setting(
        r,
        &table,
        "host",
        defaults.host.clone(),
        "a host name string",
        |text| {
            let host = text.value.trim();
            if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Err(format!(
                    "{} is not a host name; expected a name without spaces, like \"web-1\"",
                    text.quoted()
                ))
            } else {
                Ok(host.to_string())
            }
        },
    );
    let dashboard_url = string_setting(r, &table, "dashboard_url", None, "a URL string", |text| {
        http_url(text, "https://lookout.example.com").map(Some)
    });

    let mut notifier_refs = Vec::new();
    let rules = read_rules(
        r,
        &table,
        system_thresholds,
        for_critical.value,
        &mut notifier_refs,
    );
    let mut inhibit = builtin_inhibitions();
    inhibit.extend(read_inhibitions(r, &table));
    let config = AlertsConfig {
        cooldowns: Cooldowns {
            critical: cooldown_critical.value,
            warning: cooldown_warning.value,
            default: cooldown.value,
        },
        send_resolved: send_resolved.value,
        group_by,
        group_wait: group_wait.value,
        group_wait_critical: group_wait_critical.value,
        group_interval: group_interval.value,
        resolve_wait: resolve_wait.value,
        evaluation_interval: evaluation_interval.value,
        silence_refresh: silence_refresh.value,
        outbox_backoff,
        outbox_backoff_max,
        for_critical: for_critical.value,
        implied_dependencies: implied_dependencies.value,
        flapping,
        host: host.value,
        dashboard_url: dashboard_url.value,
        rules,
        inhibit,
        connectivity: None,
    };
    (config, NotifierRefs(notifier_refs))
}

/// `outbox_backoff` and `outbox_backoff_max` (the first wait before a failed notification is
/// tried again, and the most it doubles to), each within its range, the first not the longer.
fn read_outbox_backoff(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    defaults: &AlertsConfig,
) -> (Duration, Duration) {
    let first = duration_setting(
        r,
        table,
        "outbox_backoff",
        defaults.outbox_backoff,
        within(
            Duration::from_millis(100),
            Duration::from_secs(600),
            "the wait before a failed notification is sent again",
        ),
    );
    let max = duration_setting(
        r,
        table,
        "outbox_backoff_max",
        defaults.outbox_backoff_max,
        within(
            Duration::from_secs(1),
            Duration::from_secs(3600),
            "the longest that wait grows to",
        ),
    );
    not_longer(
        r,
        &first,
        &max,
        "expected outbox_backoff <= outbox_backoff_max",
    );
    (first.value, max.value)
}

/// `[alerts.flapping]`.
fn read_flapping(r: &mut Reader<'_>, alerts: &Table<'_, '_>, default: &FlapConfig) -> FlapConfig {
    let table = r.table(alerts, "flapping");
    let (min, max) = FLAP_DURATIONS;
    let within = |what: &'static str| within(min, max, what);
    let enabled = bool_setting(r, &table, "enabled", default.enabled);
    let window = duration_setting(
        r,
        &table,
        "window",
        default.window,
        within("the span over which an alert's changes are counted"),
    );
    let changes = whole_setting(r, &table, "changes", default.changes, FLAP_CHANGES);
    let stable_for = duration_setting(
        r,
        &table,
        "stable_for",
        default.stable_for,
        within("how long a flapping alert must go without a change"),
    );
    FlapConfig {
        enabled: enabled.value,
        window: window.value,
        changes: changes.value,
        stable_for: stable_for.value,
    }
}

/// The built-ins (each possibly overridden), then the new rules in file order. A rule that
/// does not set `for_critical` gets `for_critical` (`[alerts]`), capped at its own `for`.
fn read_rules(
    r: &mut Reader<'_>,
    alerts: &Table<'_, '_>,
    system_thresholds: &crate::config::SystemThresholds,
    for_critical: Duration,
    notifier_refs: &mut Vec<(String, Option<Range<usize>>, String)>,
) -> Vec<RuleConfig> {
    let mut rules = builtin_rules_with(system_thresholds);
    for rule in &mut rules {
        rule.hold_for_critical = for_critical.min(rule.hold_for);
    }
    let mut names = HashSet::new();
    for table in r.table_array(alerts, "rule") {
        let name = string_setting(r, &table, "name", String::new(), "a name string", |text| {
            if is_label_name(&text.value) {
                Ok(text.value.clone())
            } else {
                Err(format!(
                    "{} is not a rule name; expected letters, digits and _, not starting with a digit, like \"disk_usage_data\" (it becomes the alertname label)",
                    text.quoted()
                ))
            }
        });
        if name.span.is_none() {
            r.problem(
                table.span.as_ref(),
                &format!("{}.name", table.path),
                "missing; every rule needs a name, like name = \"disk_usage_data\", or the name of a built-in rule to override it",
            );
        } else if name.valid && names.insert(name.value.clone()) {
            r.name_table(&table, &name.value);
        } else if name.valid {
            r.problem(
                name.span.as_ref(),
                &name.path,
                format!(
                    "{:?} is already the name of another rule; names must be unique (one entry overrides a built-in)",
                    name.value
                ),
            );
        }
        let builtin = rules
            .iter()
            .position(|rule| rule.builtin && name.valid && rule.name == name.value);
        let base = builtin.map(|index| rules[index].clone());
        let rule = read_rule(r, &table, &name, base.as_ref(), for_critical, notifier_refs);
        // It fires all the time: sent to every notifier it would mail people every cooldown.
        if let Some(rule) = &rule
            && rule.enabled
            && rule.notifiers.is_empty()
            && rule.source == RuleSource::Always
        {
            let span = r
                .item(&table, "enabled")
                .map(|item| item.span)
                .or(table.span.clone());
            r.problem(
                span.as_ref(),
                &format!("{}.enabled", table.path),
                "the Watchdog fires all the time, so it must name where it goes, like notifiers = [\"am\"] \
                 (an Alertmanager that routes it to a dead man's switch); it would otherwise reach every notifier",
            );
        }
        match (builtin, rule) {
            (Some(index), Some(rule)) => rules[index] = rule,
            (None, Some(rule)) if name.valid && name.span.is_some() => rules.push(rule),
            _ => {}
        }
    }
    rules
}

/// One `[[alerts.rule]]`: an override of `base` (a built-in) when given, else a new rule.
/// Every key is asked for whatever the kind, so the unknown-key pass knows them all; `None`
/// when the rule cannot be built (its problems are recorded).
fn read_rule(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    name: &Field<String>,
    base: Option<&RuleConfig>,
    default_for_critical: Duration,
    notifier_refs: &mut Vec<(String, Option<Range<usize>>, String)>,
) -> Option<RuleConfig> {
    let enabled = bool_setting(r, table, "enabled", base.is_none_or(|b| b.enabled));
    let source = read_source(r, table, name, base);
    let source_kind = source.as_ref().map(SourceKind::of);

    let guessed_unit = match (base, &source) {
        (Some(base), _) => base.unit,
        (None, Some(RuleSource::Metric { name, rate, .. })) => match rate {
            Some(_) => unit_of_rate(name),
            None => unit_of_metric(name),
        },
        (None, Some(RuleSource::CheckStatus { .. })) => ValueUnit::Status,
        (None, _) => ValueUnit::Number,
    };
    let unit = string_setting(r, table, "unit", guessed_unit, "a unit string", |text| {
        let unit = match text.value.trim() {
            "percent" => ValueUnit::Percent,
            "seconds" => ValueUnit::Seconds,
            "bytes" => ValueUnit::Bytes,
            "status" => ValueUnit::Status,
            "number" => ValueUnit::Number,
            _ => {
                return Err(format!(
                    "{} is not a unit; expected one of {}",
                    text.quoted(),
                    quoted_list(UNITS)
                ));
            }
        };
        // Check-status levels are statuses and nothing else is: a mismatch could never fire.
        match source_kind {
            Some(SourceKind::CheckStatus) if unit != ValueUnit::Status => Err(format!(
                "{} does not fit a check_status rule; its levels are statuses, so its unit is \"status\"",
                text.quoted()
            )),
            Some(SourceKind::Metric | SourceKind::NoData | SourceKind::Always)
                if unit == ValueUnit::Status =>
            {
                Err(format!(
                    "{} is only for check_status rules; expected \"percent\", \"seconds\", \"bytes\" or \"number\"",
                    text.quoted()
                ))
            }
            _ => Ok(unit),
        }
    });
    let unit = unit.value;

    let comparison = string_setting(
        r,
        table,
        "comparison",
        base.map_or(Comparison::Above, |b| b.comparison),
        "\"above\" or \"below\"",
        |text| match text.value.trim() {
            "above" => Ok(Comparison::Above),
            "below" => Ok(Comparison::Below),
            _ => Err(format!(
                "{} is not a comparison; expected \"above\" (higher is worse) or \"below\" (lower is worse)",
                text.quoted()
            )),
        },
    );
    // Without a source the unit is a guess: a level read in it would be a misleading second
    // message about a rule whose real problem is already reported.
    let unit_known = base.is_some() || source.is_some();
    let level = |r: &mut Reader<'_>, key: &'static str, built: Option<f64>| {
        if unit_known {
            threshold(r, table, key, unit, built)
        } else {
            let span = r
                .item_of(table, key, threshold_kind())
                .map(|item| item.span);
            crate::base::schema::field(table, key, None, span, false)
        }
    };
    let warning = level(r, "warning", base.and_then(|b| b.warning));
    let critical = level(r, "critical", base.and_then(|b| b.critical));
    let warning_clear = level(r, "warning_clear", base.and_then(|b| b.warning_clear));
    let critical_clear = level(r, "critical_clear", base.and_then(|b| b.critical_clear));
    let mut warning_value = warning.value;
    // A no-data rule fires when data is missing; a level only picks its severity, like the
    // built-in's warning = 1.
    if base.is_none()
        && source_kind == Some(SourceKind::NoData)
        && warning.value.is_none()
        && critical.value.is_none()
        && warning.valid
        && critical.valid
    {
        warning_value = Some(1.0);
    }
    check_levels(
        r,
        table,
        // An always-firing rule has no levels.
        source.is_some() && source_kind != Some(SourceKind::Always),
        unit,
        &comparison,
        &Field {
            value: warning_value,
            ..warning.clone()
        },
        &critical,
        &warning_clear,
        &critical_clear,
    );

    let category = string_setting(
        r,
        table,
        "category",
        base.map_or(
            match source_kind {
                Some(SourceKind::Metric) => Category::Resource,
                _ => Category::Failure,
            },
            |b| b.category,
        ),
        "a category string",
        |text| match text.value.trim() {
            "failure" => Ok(Category::Failure),
            "resource" => Ok(Category::Resource),
            "performance" => Ok(Category::Performance),
            "maintenance" => Ok(Category::Maintenance),
            "security" => Ok(Category::Security),
            _ => Err(format!(
                "{} is not a category; expected one of {}",
                text.quoted(),
                quoted_list(CATEGORIES)
            )),
        },
    );
    let default_hold = match (base, category.value) {
        (Some(base), _) => base.hold_for,
        (None, Category::Resource) => RESOURCE_HOLD,
        (None, _) => Duration::ZERO,
    };
    let hold_for = duration_setting(r, table, "for", default_hold, |_| None);
    let hold_for_critical = read_for_critical(r, table, &hold_for, base, default_for_critical);
    let optional_duration = |r: &mut Reader<'_>, key: &'static str, built: Option<Duration>| {
        let field = duration_setting(r, table, key, Duration::ZERO, positive);
        if field.span.is_some() && field.valid {
            Some(field.value)
        } else {
            built
        }
    };
    let cooldown = optional_duration(r, "cooldown", base.and_then(|b| b.cooldown));
    let cooldown_critical = optional_duration(
        r,
        "cooldown_critical",
        base.and_then(|b| b.cooldown_critical),
    );
    let cooldown_warning =
        optional_duration(r, "cooldown_warning", base.and_then(|b| b.cooldown_warning));
    let send_resolved = bool_setting(r, table, "send_resolved", false);
    let send_resolved = if send_resolved.span.is_some() && send_resolved.valid {
        Some(send_resolved.value)
    } else {
        base.and_then(|b| b.send_resolved)
    };
    let mut labels = base.map(|b| b.labels.clone()).unwrap_or_default();
    labels.extend(rule_labels(r, table));
    let summary = string_setting(
        r,
        table,
        "summary",
        base.map_or(NEW_RULE_SUMMARY.to_string(), |b| b.summary.clone()),
        "a template string",
        message_template,
    );
    let summary_resolved = string_setting(
        r,
        table,
        "summary_resolved",
        match base {
            Some(base) => base.summary_resolved.clone(),
            None => resolved_summary(&summary.value),
        },
        "a template string",
        message_template,
    );
    let description = string_setting(
        r,
        table,
        "description",
        base.map_or(NEW_RULE_DESCRIPTION.to_string(), |b| b.description.clone()),
        "a template string",
        message_template,
    );
    let runbook_url = string_setting(
        r,
        table,
        "runbook_url",
        base.and_then(|b| b.runbook_url.clone()),
        "a URL string",
        |text| http_url(text, "https://wiki.example.com/runbooks/disk").map(Some),
    );
    let notifiers = match r.item_of(table, "notifiers", text_list("a [[notifier]] name")) {
        None => base.map(|b| b.notifiers.clone()).unwrap_or_default(),
        Some(_) => {
            let listed = string_list(r, table, "notifiers");
            let names = listed.iter().map(|(name, _, _)| name.clone()).collect();
            notifier_refs.extend(listed);
            names
        }
    };
    let maintenance_affected = bool_setting(
        r,
        table,
        "maintenance_affected",
        // Like the built-in check_failed: a check failing during maintenance is expected.
        base.map_or(source_kind == Some(SourceKind::CheckStatus), |b| {
            b.maintenance_affected
        }),
    );

    Some(RuleConfig {
        name: name.value.clone(),
        builtin: base.is_some(),
        enabled: enabled.value,
        source: source?,
        comparison: comparison.value,
        warning: warning_value,
        critical: critical.value,
        warning_clear: warning_clear.value,
        critical_clear: critical_clear.value,
        hold_for: hold_for.value,
        hold_for_critical,
        cooldown,
        cooldown_critical,
        cooldown_warning,
        send_resolved,
        labels,
        summary: summary.value,
        summary_resolved: summary_resolved.value,
        description: description.value,
        runbook_url: runbook_url.value,
        notifiers,
        unit,
        category: category.value,
        maintenance_affected: maintenance_affected.value,
    })
}

/// A rule's `for_critical`: as written (at most its `for`), else `default` capped at its `for`.
fn read_for_critical(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    hold_for: &Field<Duration>,
    base: Option<&RuleConfig>,
    default: Duration,
) -> Duration {
    let written = duration_setting(r, table, "for_critical", Duration::ZERO, |_| None);
    if written.span.is_none() || !written.valid {
        return default.min(hold_for.value);
    }
    if hold_for.valid && written.value > hold_for.value {
        let origin = match (hold_for.span.is_some(), base.is_some()) {
            (true, _) => "",
            (false, true) => ", the built-in",
            (false, false) => ", the default",
        };
        r.problem(
            written.span.as_ref(),
            &written.path,
            format!(
                "\"{}\" is longer than for (\"{}\"{origin}); a critical condition never waits longer than the others, expected for_critical <= for",
                format_duration(written.value),
                format_duration(hold_for.value)
            ),
        );
        return hold_for.value;
    }
    written.value
}

/// The default `summary_resolved` of a new rule.
fn resolved_summary(summary: &str) -> String {
    format!("Resolved: {summary}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceKind {
    Metric,
    CheckStatus,
    NoData,
    HostSilent,
    Always,
}

impl SourceKind {
    fn of(source: &RuleSource) -> SourceKind {
        match source {
            RuleSource::Metric { .. } => SourceKind::Metric,
            RuleSource::CheckStatus { .. } => SourceKind::CheckStatus,
            RuleSource::NoData { .. } => SourceKind::NoData,
            RuleSource::HostSilent { .. } => SourceKind::HostSilent,
            RuleSource::Always => SourceKind::Always,
        }
    }

    fn key(self) -> &'static str {
        match self {
            SourceKind::Metric => "metric",
            SourceKind::CheckStatus => "check_status",
            SourceKind::NoData => "no_data",
            SourceKind::HostSilent => "host_silent",
            SourceKind::Always => "watchdog",
        }
    }
}

/// A count of missed intervals (`no_data`, `host_silent`), or why it is not one.
type Missed<'t, 'i> = (Item<'t, 'i>, Result<u32, Option<String>>);

fn missed_intervals<'t, 'i>(item: Item<'t, 'i>, key: &str) -> Missed<'t, 'i> {
    let parsed = match item.value {
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) if (1..=MAX_NO_DATA).contains(&n) => Ok(n as u32),
            _ => Err(Some(format!(
                "{} is out of range; expected the number of missed intervals, from 1 to {MAX_NO_DATA}",
                i.as_str()
            ))),
        },
        other => Err(Some(format!(
            "expected a whole number of missed intervals, like {key} = 3, found {}",
            a_type(other)
        ))),
    };
    (item, parsed)
}

/// `metric`, `check_status`, `no_data` (+ `check`), `host_silent`: exactly one source for a new rule; for an
/// override, the built-in's source with the matchers (or count) it sets. `None` when there is
/// no usable source (the problem is recorded, unless an earlier one explains it).
fn read_source(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    name: &Field<String>,
    base: Option<&RuleConfig>,
) -> Option<RuleSource> {
    let metric = r
        .item_of(table, "metric", text_kind(SELECTOR_TYPE))
        .map(|item| {
            let parsed = r
                .text(&item, SELECTOR_TYPE)
                .ok_or(None)
                .and_then(|text| parse_selector(&text).map_err(Some));
            (item, parsed)
        });
    let check_status = r
        .item_of(table, "check_status", matchers_kind())
        .map(|item| {
            let parsed = check_matchers(r, &item);
            (item, parsed)
        });
    let kind = Kind::Integer {
        min: 1,
        max: MAX_NO_DATA,
    };
    let no_data = r
        .item_of(table, "no_data", kind.clone())
        .map(|item| missed_intervals(item, "no_data"));
    let host_silent = r
        .item_of(table, "host_silent", kind)
        .map(|item| missed_intervals(item, "host_silent"));
    let check = r.item_of(table, "check", matchers_kind()).map(|item| {
        let parsed = check_matchers(r, &item);
        (item, parsed)
    });
    let rate = string_setting(r, table, "rate", None, DURATION_TYPE, |text| {
        let window = parse_duration(&text.value).map_err(|_| {
            format!(
                "{} is not a duration; expected the window of the rate, {RATE_RANGE}, like rate = \"5m\"",
                text.quoted()
            )
        })?;
        if window < RATE_WINDOWS.0 || window > RATE_WINDOWS.1 {
            return Err(format!(
                "{} is out of range; expected a window {RATE_RANGE} (it should hold a few of the counter's samples, like rate = \"5m\" for a 15s scrape)",
                text.quoted()
            ));
        }
        Ok(Some(window))
    });

    // Report the values' own problems first; `None` below then means "already reported".
    let report = |r: &mut Reader<'_>, item: &Item<'_, '_>, error: &Option<String>| {
        if let Some(message) = error {
            r.problem(Some(&item.span), &item.path, message.clone());
        }
    };
    for (item, parsed) in [&metric].into_iter().flatten() {
        if let Err(error) = parsed {
            report(r, item, error);
        }
    }
    for (item, parsed) in [&check_status, &check].into_iter().flatten() {
        if let Err(error) = parsed {
            report(r, item, error);
        }
    }
    for (item, parsed) in [&no_data, &host_silent].into_iter().flatten() {
        if let Err(error) = parsed {
            report(r, item, error);
        }
    }

    let written: Vec<(SourceKind, &Item<'_, '_>)> = [
        metric.as_ref().map(|(item, _)| (SourceKind::Metric, item)),
        check_status
            .as_ref()
            .map(|(item, _)| (SourceKind::CheckStatus, item)),
        no_data.as_ref().map(|(item, _)| (SourceKind::NoData, item)),
        host_silent
            .as_ref()
            .map(|(item, _)| (SourceKind::HostSilent, item)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(((first, _), others)) = written.split_first() {
        for (_, item) in others {
            r.problem(
                Some(&item.span),
                &item.path,
                format!(
                    "a rule has one source, and this one already has {}; expected only one of metric, check_status, no_data and host_silent",
                    first.key()
                ),
            );
        }
    }
    let kind = written.first().map(|(kind, _)| *kind);
    let one_source = written.len() <= 1;
    let effective_kind = base.map(|b| SourceKind::of(&b.source)).or(kind);
    if let Some((item, _)) = &check
        && effective_kind.is_some()
        && effective_kind != Some(SourceKind::NoData)
    {
        r.problem(
            Some(&item.span),
            &item.path,
            "only applies to no_data rules; a check_status rule takes its matchers in check_status itself",
        );
    }

    // A rate is of a counter series: a new metric rule's, and no built-in's (they watch gauges,
    // and their levels, unit and messages are made for the value).
    if rate.value.is_some() {
        let problem = match (base, effective_kind) {
            (_, Some(kind)) if kind != SourceKind::Metric => Some(format!(
                "only applies to metric rules (the per-second rate of a counter); a {} rule has no counter to rate",
                kind.key()
            )),
            (Some(base), _) => Some(format!(
                "the built-in {:?} watches the value of its series, not a rate; an override may not change what it measures; give a rate rule a new name",
                base.name
            )),
            _ => None,
        };
        if let Some(problem) = problem {
            r.problem(rate.span.as_ref(), &rate.path, problem);
        }
    }

    let Some(base) = base else {
        let Some(kind) = kind else {
            let close = BUILTIN_RULES
                .iter()
                .map(|builtin| (strsim::jaro_winkler(&name.value, builtin), *builtin))
                .filter(|(similarity, _)| *similarity >= 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let hint = match close {
                Some((_, builtin)) if name.valid => {
                    format!("; did you mean the built-in {builtin:?}?")
                }
                _ => String::new(),
            };
            if name.valid && name.span.is_some() {
                r.problem(
                    table.span.as_ref(),
                    &table.path,
                    format!(
                        "no metric, check_status, no_data or host_silent; a new rule needs one, like metric = 'cpu_usage_ratio'{hint}"
                    ),
                );
            }
            return None;
        };
        if !one_source {
            return None;
        }
        return match kind {
            SourceKind::Metric => match metric.and_then(|(_, parsed)| parsed.ok()) {
                Some(RuleSource::Metric { name, matchers, .. }) => Some(RuleSource::Metric {
                    name,
                    matchers,
                    rate: rate.value,
                }),
                other => other,
            },
            SourceKind::CheckStatus => check_status
                .and_then(|(_, parsed)| parsed.ok())
                .map(|matchers| RuleSource::CheckStatus { matchers }),
            SourceKind::NoData => {
                let missed_intervals = no_data.and_then(|(_, parsed)| parsed.ok())?;
                let matchers = match check {
                    None => Vec::new(),
                    Some((_, parsed)) => parsed.ok()?,
                };
                Some(RuleSource::NoData {
                    matchers,
                    missed_intervals,
                })
            }
            SourceKind::HostSilent => host_silent
                .and_then(|(_, parsed)| parsed.ok())
                .map(|missed_intervals| RuleSource::HostSilent { missed_intervals }),
            // Not a key a rule can write: only the built-in Watchdog is always firing.
            SourceKind::Always => None,
        };
    };

    // An override: the source keeps its kind (the built-in's levels, unit and messages are
    // made for it); only the matchers, or the count of a no-data rule, may change.
    let base_kind = SourceKind::of(&base.source);
    if let Some((kind, item)) = written.first()
        && *kind != base_kind
    {
        r.problem(
            Some(&item.span),
            &item.path,
            format!(
                "the built-in {:?} is a {} rule; an override may change its matchers, not its kind; give a {} rule a new name",
                base.name,
                base_kind.key(),
                kind.key()
            ),
        );
        return Some(base.source.clone());
    }
    let mut source = base.source.clone();
    match &mut source {
        RuleSource::Metric {
            name: metric_name,
            matchers,
            ..
        } => {
            if let Some((
                item,
                Ok(RuleSource::Metric {
                    name: written_name,
                    matchers: written,
                    ..
                }),
            )) = &metric
            {
                if written_name == metric_name {
                    *matchers = written.clone();
                } else {
                    r.problem(
                        Some(&item.span),
                        &item.path,
                        format!(
                            "the built-in {:?} watches {metric_name}; an override may add matchers to it, like '{metric_name}{{...}}', not watch {written_name}; give that rule a new name",
                            base.name
                        ),
                    );
                }
            }
        }
        RuleSource::CheckStatus { matchers } => {
            if let Some((_, Ok(written))) = &check_status {
                *matchers = written.clone();
            }
        }
        RuleSource::NoData {
            matchers,
            missed_intervals,
        } => {
            if let Some((_, Ok(written))) = &no_data {
                *missed_intervals = *written;
            }
            if let Some((_, Ok(written))) = &check {
                *matchers = written.clone();
            }
        }
        RuleSource::HostSilent { missed_intervals } => {
            if let Some((_, Ok(written))) = &host_silent {
                *missed_intervals = *written;
            }
        }
        RuleSource::Always => {}
    }
    Some(source)
}

const SELECTOR_TYPE: &str = "a metric selector string like 'cpu_usage_ratio'";

/// `name` or `name{matcher, ...}`, Prometheus style. Commas inside quoted values do not split.
fn parse_selector(text: &Text) -> Result<RuleSource, String> {
    let selector = text.value.trim();
    let (name, body) = match selector.find('{') {
        None => (selector, None),
        Some(open) => {
            let Some(inner) = selector[open + 1..].strip_suffix('}') else {
                return Err(format!(
                    "{} has no closing }} at its end; {SELECTOR_FORM}",
                    text.quoted()
                ));
            };
            (selector[..open].trim_end(), Some(inner))
        }
    };
    let valid_name = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if !valid_name {
        return Err(format!(
            "{} does not start with a metric name; {SELECTOR_FORM}",
            text.quoted()
        ));
    }
    let mut matchers = Vec::new();
    for part in split_matchers(body.unwrap_or_default())
        .map_err(|why| format!("{} {why}; {SELECTOR_FORM}", text.quoted()))?
    {
        matchers.push(Matcher::parse(part)?);
    }
    Ok(RuleSource::Metric {
        name: name.to_string(),
        matchers,
        rate: None,
    })
}

/// Splits `a="x,y", b!~"z"` on the commas outside double quotes; empty parts (a trailing
/// comma, as Prometheus allows) are dropped.
fn split_matchers(text: &str) -> Result<Vec<&str>, &'static str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (at, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err("has an unclosed quote");
    }
    parts.push(&text[start..]);
    Ok(parts
        .into_iter()
        .filter(|part| !part.trim().is_empty())
        .collect())
}

/// Matchers on a check's labels: one string of comma-separated matchers, or a list of them.
/// `Err(None)`: the problem is recorded.
fn check_matchers(r: &mut Reader<'_>, item: &Item<'_, '_>) -> Result<Vec<Matcher>, Option<String>> {
    let expected = "matchers on check labels, like 'check=~\"app|api\"', or a list of them";
    // (text, where it is written): an element's problem goes to the element.
    let texts: Vec<(Text, String, Range<usize>)> = match item.value {
        DeValue::String(_) => {
            let text = r.text(item, expected).ok_or(None)?;
            vec![(text, item.path.clone(), item.span.clone())]
        }
        DeValue::Array(_) => {
            let elements = r.elements(item, expected).ok_or(None)?;
            let mut texts = Vec::new();
            for element in elements {
                let text = r.text(&element, "a matcher string").ok_or(None)?;
                texts.push((text, element.path, element.span));
            }
            texts
        }
        other => {
            return Err(Some(format!(
                "expected {expected}, found {}",
                a_type(other)
            )));
        }
    };
    let mut matchers = Vec::new();
    for (text, path, span) in texts {
        let parts = split_matchers(&text.value)
            .map_err(|why| Some(format!("{} {why}; {expected}", text.quoted())));
        let parsed = parts.and_then(|parts| {
            parts
                .into_iter()
                .map(|part| Matcher::parse(part).map_err(Some))
                .collect::<Result<Vec<_>, _>>()
        });
        let parsed = parsed.and_then(|found| {
            match found
                .iter()
                .find(|m| !CHECK_LABELS.contains(&m.label.as_str()))
            {
                Some(m) => Err(Some(format!(
                    "{:?} is not a label of checks; expected {}",
                    m.label,
                    quoted_list(CHECK_LABELS)
                ))),
                None => Ok(found),
            }
        });
        match parsed {
            Ok(found) => matchers.extend(found),
            // An element's problem goes to the element, so its position is exact.
            Err(message) if path != item.path => {
                if let Some(message) = message {
                    r.problem(Some(&span), &path, message);
                }
                return Err(None);
            }
            Err(message) => return Err(message),
        }
    }
    Ok(matchers)
}

/// The unit a new metric rule gets from its metric's name, by the Prometheus suffixes.
fn unit_of_metric(name: &str) -> ValueUnit {
    if name.ends_with("_ratio") {
        ValueUnit::Percent
    } else if name.ends_with("_seconds") {
        ValueUnit::Seconds
    } else if name.ends_with("_bytes") {
        ValueUnit::Bytes
    } else {
        ValueUnit::Number
    }
}

/// The unit of the rate of a counter: seconds per second are a share of time (a percent:
/// `node_cpu_seconds_total{mode="idle"}` is 0..1 per CPU), bytes per second bytes, the rest
/// numbers per second.
fn unit_of_rate(name: &str) -> ValueUnit {
    if name.ends_with("_seconds_total") {
        ValueUnit::Percent
    } else if name.ends_with("_bytes_total") {
        ValueUnit::Bytes
    } else {
        ValueUnit::Number
    }
}

/// A level (`warning`, `critical`, `*_clear`) in the rule's unit. The field's value is the
/// built-in's (or none) when the key is absent; `span` is set only when it is written.
fn threshold(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    unit: ValueUnit,
    built: Option<f64>,
) -> Field<Option<f64>> {
    let Some(item) = r.item_of(table, key, threshold_kind()) else {
        return crate::base::schema::field(table, key, built, None, true);
    };
    let number = match item.value {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .ok()
            .map(|n| (n as f64, i.as_str().to_string())),
        DeValue::Float(f) => f
            .as_str()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|n| (n, f.as_str().to_string())),
        _ => None,
    };
    let outcome = match (unit, number) {
        (ValueUnit::Percent, Some((n, written))) => {
            if (0.0..=1.0).contains(&n) {
                Ok(n)
            } else if n > 1.0 && n <= 100.0 {
                Err(Some(format!(
                    "{written} is not a ratio; a number here is a ratio from 0 to 1, write \"{written}%\" for a percentage"
                )))
            } else {
                Err(Some(format!(
                    "{written} is out of range; expected a percentage like \"80%\" or a ratio from 0 to 1"
                )))
            }
        }
        (ValueUnit::Seconds | ValueUnit::Bytes, Some((n, written))) if n < 0.0 => Err(Some(
            format!("{written} is negative; expected {}", level_form(unit)),
        )),
        (ValueUnit::Status, Some((_, written))) => Err(Some(format!(
            "{written} is not a status; expected {}",
            level_form(unit)
        ))),
        (_, Some((n, _))) => Ok(n),
        (_, None) => match item.value {
            DeValue::String(_) => match r.text(&item, level_form(unit)) {
                None => Err(None),
                Some(text) => level_from_text(&text, unit).map_err(Some),
            },
            other => Err(Some(format!(
                "expected {}, found {}",
                level_form(unit),
                a_type(other)
            ))),
        },
    };
    crate::base::schema::settle(r, table, key, built, item, outcome.map(Some))
}

/// What a level looks like in `unit`, for messages.
fn level_form(unit: ValueUnit) -> &'static str {
    match unit {
        ValueUnit::Percent => "a percentage like \"80%\" or a ratio from 0 to 1",
        ValueUnit::Seconds => "a duration like \"2s\" or \"500ms\", or a number of seconds",
        ValueUnit::Bytes => "a size like \"10GiB\" or a number of bytes",
        ValueUnit::Status => "a status: \"warning\", \"unknown\" or \"critical\"",
        ValueUnit::Number => "a number",
    }
}

fn level_from_text(text: &Text, unit: ValueUnit) -> Result<f64, String> {
    let value = text.value.trim();
    let quoted = text.quoted();
    match unit {
        ValueUnit::Percent => parse_percent(value).map_err(|error| match error {
            UnitError::OutOfRange | UnitError::TooLarge => {
                format!("{quoted} is out of range; expected 0% to 100%")
            }
            UnitError::Malformed => format!(
                "{quoted} is not a percentage; expected {}",
                level_form(unit)
            ),
        }),
        ValueUnit::Seconds => parse_duration(value)
            .map(|d| d.as_secs_f64())
            .map_err(|_| format!("{quoted} is not a duration; expected {}", level_form(unit))),
        ValueUnit::Bytes => parse_size(value)
            .map(|bytes| bytes as f64)
            .map_err(|_| format!("{quoted} is not a size; expected {}", level_form(unit))),
        ValueUnit::Status => match value {
            "warning" => Ok(status_value(Status::Warning)),
            "unknown" => Ok(status_value(Status::Unknown)),
            "critical" => Ok(status_value(Status::Critical)),
            _ => Err(format!(
                "{quoted} is not a status to alert on; expected {}",
                level_form(unit)
            )),
        },
        ValueUnit::Number => Err(format!(
            "{quoted} is a string; expected a number, written without quotes"
        )),
    }
}

/// A level as it would be written in the file, for messages.
fn show_level(value: f64, unit: ValueUnit) -> String {
    match unit {
        ValueUnit::Percent => format!("\"{}\"", format_percent(value)),
        ValueUnit::Seconds => format!("\"{}\"", format_duration(Duration::from_secs_f64(value))),
        ValueUnit::Status => {
            let name = [Status::Warning, Status::Unknown, Status::Critical]
                .into_iter()
                .find(|status| status_value(*status) == value)
                .map_or("?", |status| match status {
                    Status::Warning => "warning",
                    Status::Unknown => "unknown",
                    _ => "critical",
                });
            format!("{name:?}")
        }
        ValueUnit::Bytes if value >= 0.0 && value.fract() == 0.0 => {
            format!("\"{}\"", format_size(value as u64))
        }
        ValueUnit::Bytes | ValueUnit::Number => value.to_string(),
    }
}

/// The relations between the levels of a rule: at least one of warning and critical, critical
/// the worse one, each clear level on the good side of its threshold. A level with a problem of
/// its own is skipped, so one mistake is one message.
#[allow(clippy::too_many_arguments)]
fn check_levels(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    has_source: bool,
    unit: ValueUnit,
    comparison: &Field<Comparison>,
    warning: &Field<Option<f64>>,
    critical: &Field<Option<f64>>,
    warning_clear: &Field<Option<f64>>,
    critical_clear: &Field<Option<f64>>,
) {
    let all_valid = [warning, critical, warning_clear, critical_clear]
        .iter()
        .all(|level| level.valid)
        && comparison.valid;
    if !all_valid {
        return;
    }
    if has_source && warning.value.is_none() && critical.value.is_none() {
        r.problem(
            table.span.as_ref(),
            &table.path,
            format!(
                "no warning or critical; a rule needs at least one level, like warning = {}",
                match unit {
                    ValueUnit::Percent => "\"80%\"",
                    ValueUnit::Seconds => "\"2s\"",
                    ValueUnit::Bytes => "\"10GiB\"",
                    ValueUnit::Status => "\"warning\"",
                    ValueUnit::Number => "100",
                }
            ),
        );
    }
    let (worse, better) = match comparison.value {
        Comparison::Above => ("above", "below"),
        Comparison::Below => ("below", "above"),
    };
    let is_worse = |a: f64, b: f64| match comparison.value {
        Comparison::Above => a > b,
        Comparison::Below => a < b,
    };
    let describe = |field: &Field<Option<f64>>, value: f64| {
        let name = field.path.rsplit('.').next().unwrap_or(&field.path);
        let origin = if field.span.is_none() {
            ", the built-in"
        } else {
            ""
        };
        format!("{name} ({}{origin})", show_level(value, unit))
    };
    if let (Some(w), Some(c)) = (warning.value, critical.value)
        && !is_worse(c, w)
    {
        let why = format!("critical must be the worse level when comparison is \"{worse}\"");
        let (blamed, message) = if critical.span.is_some() {
            (
                critical,
                format!(
                    "{} must be {worse} {}; {why}",
                    show_level(c, unit),
                    describe(warning, w)
                ),
            )
        } else if warning.span.is_some() {
            (
                warning,
                format!(
                    "{} must be {better} {}; {why}",
                    show_level(w, unit),
                    describe(critical, c)
                ),
            )
        } else {
            (
                // Only the comparison changed: the built-in levels are the wrong way round now.
                &Field {
                    value: None,
                    path: comparison.path.clone(),
                    span: comparison.span.clone(),
                    valid: true,
                },
                format!(
                    "\"{worse}\" makes {} no worse than {}; set both levels for it",
                    describe(critical, c),
                    describe(warning, w)
                ),
            )
        };
        r.problem(blamed.span.as_ref(), &blamed.path, message);
    }
    for (clear, level) in [(warning_clear, warning), (critical_clear, critical)] {
        let Some(clear_value) = clear.value else {
            continue;
        };
        // Only a clear level the user wrote (or whose threshold they changed) is news.
        if clear.span.is_none() && level.span.is_none() {
            continue;
        }
        let level_name = level.path.rsplit('.').next().unwrap_or(&level.path);
        let blamed = if clear.span.is_some() { clear } else { level };
        match level.value {
            None => r.problem(
                blamed.span.as_ref(),
                &blamed.path,
                format!("is set but {level_name} is not; a clear level belongs to its threshold"),
            ),
            Some(level_value) if !is_worse(level_value, clear_value) => r.problem(
                blamed.span.as_ref(),
                &blamed.path,
                format!(
                    "{} must be {better} {}; an alert clears on the good side of its threshold",
                    show_level(clear_value, unit),
                    describe(level, level_value)
                ),
            ),
            Some(_) => {}
        }
    }
}

/// `labels = { team = "ops" }`: extra labels for the rule's alerts.
fn rule_labels(r: &mut Reader<'_>, table: &Table<'_, '_>) -> BTreeMap<String, String> {
    let map = r.table(table, "labels");
    r.accept_all_keys(&map);
    let mut labels = BTreeMap::new();
    for (name, item) in r.entries(&map) {
        if RESERVED_LABELS.contains(&name.as_str()) {
            r.problem(
                Some(&item.span),
                &item.path,
                format!("{name:?} is set by the engine (the rule name and the level); choose another label name"),
            );
        } else if !is_label_name(&name) {
            r.problem(
                Some(&item.span),
                &item.path,
                format!("{name:?} is not a label name; expected letters, digits and _, not starting with a digit"),
            );
        } else if let Some(text) = r.text(&item, "a string") {
            labels.insert(name, text.value);
        }
    }
    labels
}

/// A `summary` or `description`: every `{{...}}` must be a known placeholder, or the message
/// would go out with a hole in it.
fn message_template(text: &Text) -> Result<String, String> {
    let value = &text.value;
    let mut rest = value.as_str();
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(format!(
                "{} has a {{{{ without a closing }}}}; expected placeholders like {{{{value}}}}",
                text.quoted()
            ));
        };
        let inner = after[..close].trim();
        let known = PLACEHOLDERS.contains(&inner)
            || inner.strip_prefix("labels.").is_some_and(is_label_name);
        if !known {
            let list: Vec<String> = PLACEHOLDERS
                .iter()
                .map(|p| format!("{{{{{p}}}}}"))
                .collect();
            return Err(format!(
                "{{{{{inner}}}}} in {} is not a placeholder; expected {} or {{{{labels.NAME}}}}",
                text.quoted(),
                list.join(", ")
            ));
        }
        rest = &after[close + 2..];
    }
    Ok(value.clone())
}

/// An http(s) URL with a host, for links in messages.
fn http_url(text: &Text, example: &str) -> Result<String, String> {
    let value = text.value.trim();
    let problem = match value.parse::<hyper::Uri>() {
        Err(_) => format!("is not a URL; expected one like {example:?}"),
        Ok(uri) => match (uri.scheme_str(), uri.host()) {
            (Some("http" | "https"), Some(_)) => match crate::base::schema::port_problem(value) {
                None => return Ok(value.to_string()),
                Some(problem) => format!("{problem}, like {example:?}"),
            },
            (Some("http" | "https"), None) => format!("has no host; expected one like {example:?}"),
            _ => format!("must start with http:// or https://, like {example:?}"),
        },
    };
    Err(format!("{} {problem}", text.quoted()))
}

/// A list of label names (`group_by`, `equal`).
/// What `threshold` reads, for the schema.
fn threshold_kind() -> Kind {
    let form = "a percent like \"80%\", a duration like \"2s\", a size like \"1GiB\" or a status like \"critical\"";
    Kind::AnyOf(vec![Kind::Number, text_kind(form)])
}

/// What `label_names` reads, for the schema.
fn label_names_kind() -> Kind {
    text_list("a label name like \"host\"")
}

fn text_list(form: &str) -> Kind {
    Kind::Texts {
        form: form.to_string(),
    }
}

/// What `check_matchers` reads: one matcher string or a list of them.
fn matchers_kind() -> Kind {
    let form = "a matcher on check labels, like 'check=~\"app|api\"'";
    Kind::AnyOf(vec![text_kind(form), text_list(form)])
}

fn label_names(r: &mut Reader<'_>, table: &Table<'_, '_>, key: &'static str) -> Vec<String> {
    let mut names = Vec::new();
    for (name, span, path) in string_list(r, table, key) {
        if is_label_name(&name) {
            names.push(name);
        } else {
            r.problem(
                span.as_ref(),
                &path,
                format!("{name:?} is not a label name; expected letters, digits and _, not starting with a digit, like \"host\""),
            );
        }
    }
    names
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`: a Prometheus label name (rule names become `alertname` values and
/// are held to the same form so they can be used in matchers without quoting surprises).
fn is_label_name(text: &str) -> bool {
    text.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|item| format!("{item:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `[[alerts.inhibit]]` tables.
fn read_inhibitions(r: &mut Reader<'_>, alerts: &Table<'_, '_>) -> Vec<InhibitConfig> {
    let mut inhibitions = Vec::new();
    for table in r.table_array(alerts, "inhibit") {
        let source = alert_matchers(r, &table, "source");
        let target = alert_matchers(r, &table, "target");
        let equal = label_names(r, &table, "equal");
        if let (Some(source), Some(target)) = (source, target) {
            inhibitions.push(InhibitConfig {
                source,
                target,
                equal,
            });
        }
    }
    inhibitions
}

/// A required, non-empty list of matchers on alert labels; `None` after a problem.
fn alert_matchers(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
) -> Option<Vec<Matcher>> {
    let example = "[\"alertname=\\\"check_failed\\\"\"]";
    r.require(table, key);
    let Some(item) = r.item_of(table, key, text_list("a matcher on alert labels")) else {
        r.problem(
            table.span.as_ref(),
            &format!("{}.{key}", table.path),
            format!("missing; expected a list of matchers on alert labels, like {key} = {example}"),
        );
        return None;
    };
    let span = item.span.clone();
    let path = item.path.clone();
    let texts = string_list(r, table, key);
    if matches!(item.value, DeValue::Array(array) if array.is_empty()) {
        r.problem(
            Some(&span),
            &path,
            format!(
                "is empty; an empty list would match every alert; expected matchers, like {example}"
            ),
        );
        return None;
    }
    let mut matchers = Vec::new();
    let mut ok = matches!(item.value, DeValue::Array(array) if array.len() == texts.len());
    for (text, span, path) in texts {
        match Matcher::parse(&text) {
            Ok(matcher) => matchers.push(matcher),
            Err(message) => {
                r.problem(span.as_ref(), &path, message);
                ok = false;
            }
        }
    }
    ok.then_some(matchers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::matcher::MatchOp;
    use crate::config::test_support::{errors, no_env};
    use crate::config::{Config, from_str};

    fn parse(text: &str) -> Config {
        match from_str(text, "lookout.toml", &no_env) {
            Ok(config) => config,
            Err(error) => panic!("does not parse:\n{error}\n{text}"),
        }
    }

    fn rule<'c>(config: &'c Config, name: &str) -> &'c RuleConfig {
        let found = config.alerts.rules.iter().find(|rule| rule.name == name);
        found.unwrap_or_else(|| panic!("no rule {name}"))
    }

    /// The built-in rules are data read by the user's rule reader: without a problem, in the
    /// listed order, each a built-in.
    #[test]
    fn the_builtin_rules_file_reads_without_a_problem() {
        let (rules, problems) = read_builtin_rules();
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(problems.is_empty(), "{shown:#?}");
        let names: Vec<&str> = rules.iter().map(|rule| rule.name.as_str()).collect();
        assert_eq!(names, BUILTIN_RULES);
        assert!(rules.iter().all(|rule| rule.builtin));
        let cpu = &builtin_rules()[0];
        assert_eq!((cpu.warning, cpu.critical), (Some(0.80), Some(0.95)));
        assert_eq!(
            (cpu.hold_for, cpu.hold_for_critical),
            (RESOURCE_HOLD, DEFAULT_FOR_CRITICAL)
        );
    }

    #[test]
    fn no_alerts_table_is_the_default() {
        assert_eq!(parse("").alerts, AlertsConfig::default());
        assert_eq!(parse("[alerts]\n").alerts, AlertsConfig::default());
    }

    #[test]
    fn alerts_settings_are_read() {
        let config = parse(
            "[alerts]\ncooldown = \"20m\"\ncooldown_critical = \"1m\"\ncooldown_warning = \"1h\"\n\
             send_resolved = false\ngroup_by = [\"host\", \"check\"]\ngroup_wait = \"30s\"\n\
             group_wait_critical = \"5s\"\ngroup_interval = \"5m\"\nevaluation_interval = \"2s\"\n\
             host = \"web-1\"\ndashboard_url = \"https://lookout.example.com\"\n",
        );
        let alerts = config.alerts;
        assert_eq!(
            alerts.cooldowns,
            Cooldowns {
                critical: Duration::from_secs(60),
                warning: Duration::from_secs(3600),
                default: Duration::from_secs(1200),
            }
        );
        assert!(!alerts.send_resolved);
        assert_eq!(alerts.group_by, ["host", "check"]);
        assert_eq!(alerts.group_wait, Duration::from_secs(30));
        assert_eq!(alerts.group_wait_critical, Duration::from_secs(5));
        assert_eq!(alerts.group_interval, Duration::from_secs(300));
        assert_eq!(alerts.evaluation_interval, Duration::from_secs(2));
        assert_eq!(alerts.host, "web-1");
        assert_eq!(
            alerts.dashboard_url.as_deref(),
            Some("https://lookout.example.com")
        );
        assert_eq!(alerts.rules, builtin_rules());
    }

    #[test]
    fn issue16_settings_have_their_defaults() {
        let alerts = parse("").alerts;
        assert_eq!(alerts.for_critical, Duration::from_secs(15));
        assert!(alerts.implied_dependencies);
        assert_eq!(
            alerts.flapping,
            FlapConfig {
                enabled: true,
                window: Duration::from_secs(600),
                changes: 5,
                stable_for: Duration::from_secs(120),
            }
        );
        // for_critical: 15s capped at each rule's own for.
        for rule in &alerts.rules {
            let expected = rule.hold_for.min(Duration::from_secs(15));
            assert_eq!(rule.hold_for_critical, expected, "{}", rule.name);
        }
        let config = parse("");
        assert_eq!(
            rule(&config, "cpu_usage").hold_for_critical,
            Duration::from_secs(15)
        );
        assert_eq!(
            rule(&config, "check_failed").hold_for_critical,
            Duration::ZERO
        );
    }

    #[test]
    fn resolve_wait_is_read_and_bounded() {
        let config = crate::config::from_str(
            "[alerts]\nresolve_wait = \"30s\"\n",
            "c.toml",
            &crate::config::test_support::no_env,
        )
        .unwrap();
        assert_eq!(config.alerts.resolve_wait, Duration::from_secs(30));
        let error = crate::config::from_str(
            "[alerts]\nresolve_wait = \"2h\"\n",
            "c.toml",
            &crate::config::test_support::no_env,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains(
                "c.toml:2:16: alerts.resolve_wait: \"2h\" is too long; expected at most 1h"
            ),
            "{error}"
        );
    }

    #[test]
    fn silence_refresh_is_read_and_bounded() {
        let read = |text: &str| {
            crate::config::from_str(text, "c.toml", &crate::config::test_support::no_env)
                .map(|config| config.alerts.silence_refresh)
                .map_err(|e| e.to_string())
        };
        assert_eq!(read(""), Ok(Duration::from_secs(5)));
        assert_eq!(
            read("[alerts]\nsilence_refresh = \"1s\"\n"),
            Ok(Duration::from_secs(1))
        );
        assert_eq!(
            read("[alerts]\nsilence_refresh = \"10m\"\n"),
            Ok(Duration::from_secs(600))
        );
        let short = read("[alerts]\nsilence_refresh = \"500ms\"\n").unwrap_err();
        assert!(
            short.contains(
                "c.toml:2:19: alerts.silence_refresh: \"500ms\" is too short; expected at least 1s"
            ),
            "{short}"
        );
        let long = read("[alerts]\nsilence_refresh = \"11m\"\n").unwrap_err();
        assert!(
            long.contains(
                "c.toml:2:19: alerts.silence_refresh: \"11m\" is too long; expected at most 10m"
            ),
            "{long}"
        );
    }

    #[test]
    fn outbox_backoff_is_read_and_bounded() {
        let read = |text: &str| {
            crate::config::from_str(text, "c.toml", &crate::config::test_support::no_env)
                .map(|config| {
                    (
                        config.alerts.outbox_backoff,
                        config.alerts.outbox_backoff_max,
                    )
                })
                .map_err(|e| e.to_string())
        };
        // Today's hard-coded values are the defaults.
        assert_eq!(
            read(""),
            Ok((Duration::from_secs(5), Duration::from_secs(300)))
        );
        assert_eq!(
            read("[alerts]\noutbox_backoff = \"100ms\"\noutbox_backoff_max = \"1s\"\n"),
            Ok((Duration::from_millis(100), Duration::from_secs(1)))
        );
        assert_eq!(
            read("[alerts]\noutbox_backoff = \"10m\"\noutbox_backoff_max = \"1h\"\n"),
            Ok((Duration::from_secs(600), Duration::from_secs(3600)))
        );
        assert_eq!(
            read(
                "[alerts]\noutbox_backoff = \"50ms\"\noutbox_backoff_max = \"2h\"\n\n\
                 [alerts.flapping]\n"
            ),
            Err(
                "c.toml:2:18: alerts.outbox_backoff: \"50ms\" is out of range; expected from \"100ms\" \
                 to \"10m\" (the wait before a failed notification is sent again)\n\
                 c.toml:3:22: alerts.outbox_backoff_max: \"2h\" is out of range; expected from \"1s\" \
                 to \"1h\" (the longest that wait grows to)"
                    .to_string()
            )
        );
        // The first wait cannot be longer than the cap: the one written is blamed.
        assert_eq!(
            read("[alerts]\noutbox_backoff = \"5s\"\noutbox_backoff_max = \"2s\"\n"),
            Err(
                "c.toml:3:22: alerts.outbox_backoff_max: \"2s\" is shorter than outbox_backoff \
                 (\"5s\"); expected outbox_backoff <= outbox_backoff_max"
                    .to_string()
            )
        );
        assert_eq!(
            read("[alerts]\noutbox_backoff = \"6m\"\n"),
            Err(
                "c.toml:2:18: alerts.outbox_backoff: \"6m\" is longer than outbox_backoff_max \
                 (\"5m\", the default); expected outbox_backoff <= outbox_backoff_max"
                    .to_string()
            )
        );
    }

    #[test]
    fn flapping_settings_are_read_and_bounded() {
        let config = parse(
            "[alerts.flapping]\nenabled = false\nwindow = \"90s\"\nchanges = 2\nstable_for = \"1d\"\n",
        );
        assert_eq!(
            config.alerts.flapping,
            FlapConfig {
                enabled: false,
                window: Duration::from_secs(90),
                changes: 2,
                stable_for: Duration::from_secs(86_400),
            }
        );
        let limits = parse("[alerts.flapping]\nchanges = 1000\nwindow = \"1s\"\n");
        assert_eq!(limits.alerts.flapping.changes, 1000);
        assert_eq!(limits.alerts.flapping.window, Duration::from_secs(1));
        assert_eq!(
            errors(
                "[alerts.flapping]\nwindow = \"0s\"\nchanges = 1\nstable_for = \"25h\"\n\
                 enabled = \"yes\"\nchnges = 3\n"
            ),
            "lookout.toml:2:10: alerts.flapping.window: \"0s\" is out of range; expected from \"1s\" to \"1d\" (the span over which an alert's changes are counted)\n\
             lookout.toml:3:11: alerts.flapping.changes: 1 is out of range; expected a whole number from 2 to 1000\n\
             lookout.toml:4:14: alerts.flapping.stable_for: \"25h\" is out of range; expected from \"1s\" to \"1d\" (how long a flapping alert must go without a change)\n\
             lookout.toml:5:11: alerts.flapping.enabled: expected a boolean (true or false), found a string\n\
             lookout.toml:6:1: alerts.flapping.chnges: unknown key; did you mean \"changes\"?"
        );
        assert_eq!(
            errors("[alerts.flapping]\nchanges = 1001\nwindow = 10\n"),
            "lookout.toml:2:11: alerts.flapping.changes: 1001 is out of range; expected a whole number from 2 to 1000\n\
             lookout.toml:3:10: alerts.flapping.window: expected a duration string like \"10s\", found an integer"
        );
    }

    #[test]
    fn for_critical_defaults_from_alerts_capped_at_the_rules_for() {
        let config = parse(
            "[alerts]\nfor_critical = \"1m\"\n\n\
             [[alerts.rule]]\nname = \"memory_usage\"\nfor = \"30s\"\n\n\
             [[alerts.rule]]\nname = \"disk_usage\"\nfor_critical = \"5s\"\n\n\
             [[alerts.rule]]\nname = \"own\"\nmetric = \"x_ratio\"\nwarning = \"50%\"\n\n\
             [[alerts.rule]]\nname = \"at_once\"\nmetric = \"y_ratio\"\nwarning = \"50%\"\nfor = \"0s\"\n\n\
             [[alerts.rule]]\nname = \"same\"\nmetric = \"z_ratio\"\nwarning = \"50%\"\nfor = \"10m\"\n\
             for_critical = \"10m\"\n",
        );
        let hold = |name: &str| {
            let rule = rule(&config, name);
            (rule.hold_for, rule.hold_for_critical)
        };
        let s = Duration::from_secs;
        assert_eq!(config.alerts.for_critical, s(60));
        assert_eq!(
            hold("cpu_usage"),
            (s(120), s(60)),
            "built-in, not mentioned"
        );
        assert_eq!(
            hold("memory_usage"),
            (s(30), s(30)),
            "capped at its new for"
        );
        assert_eq!(hold("disk_usage"), (s(120), s(5)), "its own");
        assert_eq!(hold("check_failed"), (s(0), s(0)), "for = 0s fires at once");
        assert_eq!(hold("own"), (s(120), s(60)), "a new resource rule: for 2m");
        assert_eq!(hold("at_once"), (s(0), s(0)));
        assert_eq!(hold("same"), (s(600), s(600)));
        // The default's default, under a longer for.
        let config = parse("[[alerts.rule]]\nname = \"cpu_usage\"\nfor = \"10m\"\n");
        assert_eq!(rule(&config, "cpu_usage").hold_for_critical, s(15));
    }

    #[test]
    fn for_critical_longer_than_for_is_an_error() {
        assert_eq!(
            errors(
                "[[alerts.rule]]\nname = \"cpu_usage\"\nfor_critical = \"3m\"\n\n\
                 [[alerts.rule]]\nname = \"a\"\nmetric = \"x\"\nwarning = 1\nfor = \"1m\"\nfor_critical = \"90s\"\n\n\
                 [[alerts.rule]]\nname = \"b\"\ncheck_status = []\ncritical = \"critical\"\nfor_critical = \"1s\"\n\n\
                 [[alerts.rule]]\nname = \"c\"\nmetric = \"x\"\nwarning = 1\nfor_critical = \"soon\"\n\n\
                 [alerts]\nfor_critical = \"-1s\"\n"
            ),
            "lookout.toml:3:16: alerts.rule \"cpu_usage\".for_critical: \"3m\" is longer than for (\"2m\", the built-in); a critical condition never waits longer than the others, expected for_critical <= for\n\
             lookout.toml:10:16: alerts.rule \"a\".for_critical: \"1m30s\" is longer than for (\"1m\"); a critical condition never waits longer than the others, expected for_critical <= for\n\
             lookout.toml:16:16: alerts.rule \"b\".for_critical: \"1s\" is longer than for (\"0s\", the default); a critical condition never waits longer than the others, expected for_critical <= for\n\
             lookout.toml:22:16: alerts.rule \"c\".for_critical: \"soon\" is not a duration; expected a number and a unit, like \"500ms\", \"10s\", \"5m\", \"1h\" or \"7d\"\n\
             lookout.toml:25:16: alerts.for_critical: \"-1s\" is not a duration; expected a number and a unit, like \"500ms\", \"10s\", \"5m\", \"1h\" or \"7d\""
        );
    }

    #[test]
    fn resolved_summaries_say_it_is_fine_again() {
        let config = parse(
            "[[alerts.rule]]\nname = \"own\"\nmetric = \"x_ratio\"\nwarning = \"50%\"\nsummary = \"X at {{value}}\"\n\n\
             [[alerts.rule]]\nname = \"plain\"\nmetric = \"x_ratio\"\nwarning = \"50%\"\n\n\
             [[alerts.rule]]\nname = \"told\"\nmetric = \"x_ratio\"\nwarning = \"50%\"\n\
             summary_resolved = \"X fine: {{value}} on {{labels.disk}}\"\n\n\
             [[alerts.rule]]\nname = \"check_failed\"\nsummary = \"{{labels.check}} down\"\n\n\
             [[alerts.rule]]\nname = \"disk_usage\"\nsummary_resolved = \"{{labels.mountpoint}} ok\"\n",
        );
        let resolved = |name: &str| rule(&config, name).summary_resolved.clone();
        assert_eq!(resolved("own"), "Resolved: X at {{value}}");
        assert_eq!(
            resolved("plain"),
            "Resolved: {{rule}} is {{value}} on {{host}}"
        );
        assert_eq!(resolved("told"), "X fine: {{value}} on {{labels.disk}}");
        // An override keeps the built-in's resolved line unless it sets its own.
        assert_eq!(
            resolved("check_failed"),
            "{{labels.check}} is {{value}} again"
        );
        assert_eq!(resolved("disk_usage"), "{{labels.mountpoint}} ok");
        assert_eq!(
            resolved("cpu_usage"),
            "CPU usage back to {{value}} on {{host}}"
        );
        // Every built-in has one, of valid placeholders (the reader accepts it), and but for
        // connectivity_lost, whose detail itself says "lost" or "restored", its own wording.
        for builtin in builtin_rules() {
            let text = format!(
                "[[alerts.rule]]\nname = \"x\"\nmetric = \"x\"\nwarning = 1\nsummary_resolved = {:?}\n",
                builtin.summary_resolved
            );
            assert_eq!(
                rule(&parse(&text), "x").summary_resolved,
                builtin.summary_resolved
            );
            assert!(!builtin.summary_resolved.is_empty(), "{}", builtin.name);
            if builtin.name != "connectivity_lost" {
                assert_ne!(
                    builtin.summary_resolved, builtin.summary,
                    "{}",
                    builtin.name
                );
            }
        }
        assert_eq!(
            errors(
                "[[alerts.rule]]\nname = \"check_failed\"\nsummary_resolved = \"{{check}} ok\"\n\n\
                 [[alerts.rule]]\nname = \"x\"\nmetric = \"x\"\nwarning = 1\nsummary_resolved = 3\n"
            ),
            "lookout.toml:3:20: alerts.rule \"check_failed\".summary_resolved: {{check}} in \"{{check}} ok\" is not a placeholder; expected {{value}}, {{threshold}}, {{severity}}, {{rule}}, {{host}}, {{detail}} or {{labels.NAME}}\n\
             lookout.toml:9:20: alerts.rule \"x\".summary_resolved: expected a template string, found an integer"
        );
    }

    #[test]
    fn implied_dependencies_is_read() {
        let config = parse("[alerts]\nimplied_dependencies = false\n");
        assert!(!config.alerts.implied_dependencies);
        assert_eq!(
            errors("[alerts]\nimplied_dependencies = 1\n"),
            "lookout.toml:2:24: alerts.implied_dependencies: expected a boolean (true or false), found an integer"
        );
    }

    #[test]
    fn resource_rules_follow_the_system_thresholds_unless_overridden() {
        let config = parse(
            "[system.thresholds]\ncpu_warning = \"70%\"\ndisk_critical = \"98%\"\n\n\
             [[alerts.rule]]\nname = \"cpu_usage\"\ncritical = \"90%\"\n",
        );
        let rule = |name: &str| {
            config
                .alerts
                .rules
                .iter()
                .find(|r| r.name == name)
                .unwrap()
                .clone()
        };
        assert_eq!(
            rule("cpu_usage").warning,
            Some(0.70),
            "from [system.thresholds]"
        );
        assert_eq!(
            rule("cpu_usage").critical,
            Some(0.90),
            "the rule's own setting wins"
        );
        assert_eq!(rule("disk_usage").critical, Some(0.98));
        assert_eq!(rule("memory_usage").warning, Some(0.85));
    }

    #[test]
    fn an_override_changes_only_the_keys_it_sets() {
        let config = parse(
            "[[alerts.rule]]\nname = \"cpu_usage\"\nwarning = \"70%\"\nlabels = { team = \"ops\" }\n\n\
             [[alerts.rule]]\nname = \"disk_usage\"\nmetric = 'filesystem_usage_ratio{mountpoint=\"/\"}'\n\n\
             [[alerts.rule]]\nname = \"check_no_data\"\nno_data = 5\ncheck = 'layer=\"database\"'\n",
        );
        let mut expected = builtin_rules();
        expected[0].warning = Some(0.70);
        expected[0].labels.insert("team".into(), "ops".into());
        expected[2].source = RuleSource::Metric {
            name: "filesystem_usage_ratio".into(),
            matchers: vec![Matcher::parse("mountpoint=\"/\"").unwrap()],
            rate: None,
        };
        expected[5].source = RuleSource::NoData {
            matchers: vec![Matcher::parse("layer=\"database\"").unwrap()],
            missed_intervals: 5,
        };
        // Same order: an override stays where the built-in is, and adds no rule.
        assert_eq!(config.alerts.rules, expected);
    }

    #[test]
    fn a_builtin_is_disabled_by_name() {
        let config = parse("[[alerts.rule]]\nname = \"http_response_time\"\nenabled = false\n");
        let mut expected = builtin_rules();
        expected[3].enabled = false;
        assert_eq!(config.alerts.rules, expected);
    }

    #[test]
    fn a_new_metric_rule_gets_its_selector_and_defaults_by_source() {
        let config = parse(
            "[[alerts.rule]]\nname = \"data_disk\"\n\
             metric = 'filesystem_usage_ratio{fstype!=\"tmpfs\", mountpoint=~\"/data.*|/a,b\",}'\n\
             warning = \"80%\"\ncritical = 0.9\nnotifiers = []\n",
        );
        let rule = rule(&config, "data_disk");
        let RuleSource::Metric { name, matchers, .. } = &rule.source else {
            panic!("not a metric rule: {:?}", rule.source)
        };
        assert_eq!(name, "filesystem_usage_ratio");
        let shown: Vec<String> = matchers.iter().map(ToString::to_string).collect();
        // The comma inside the quoted regex does not split it.
        assert_eq!(shown, ["fstype!=\"tmpfs\"", "mountpoint=~\"/data.*|/a,b\""]);
        assert!(matches!(matchers[1].op, MatchOp::Regex(_)));
        assert!(!rule.builtin && rule.enabled);
        assert_eq!((rule.warning, rule.critical), (Some(0.8), Some(0.9)));
        assert_eq!(rule.unit, ValueUnit::Percent);
        assert_eq!(rule.category, Category::Resource);
        assert_eq!(rule.hold_for, RESOURCE_HOLD);
        assert_eq!(rule.summary, NEW_RULE_SUMMARY);
        assert_eq!(config.alerts.rules.len(), BUILTIN_RULES.len() + 1);
    }

    #[test]
    fn units_are_guessed_from_metric_suffixes() {
        for (metric, unit) in [
            ("queue_wait_seconds", ValueUnit::Seconds),
            ("heap_bytes", ValueUnit::Bytes),
            ("cache_hit_ratio", ValueUnit::Percent),
            ("jobs_queued", ValueUnit::Number),
        ] {
            assert_eq!(unit_of_metric(metric), unit, "{metric}");
        }
    }

    #[test]
    fn levels_are_read_in_the_rules_unit() {
        // (unit-defining source, written level, value)
        let cases = [
            ("metric = 'x_ratio'", "\"80%\"", 0.8),
            ("metric = 'x_ratio'", "0.25", 0.25),
            ("metric = 'x_ratio'", "1", 1.0),
            ("metric = 'x_seconds'", "\"500ms\"", 0.5),
            ("metric = 'x_seconds'", "\"1m30s\"", 90.0),
            ("metric = 'x_seconds'", "2", 2.0),
            (
                "metric = 'x_bytes'",
                "\"10GiB\"",
                10.0 * 1024.0 * 1024.0 * 1024.0,
            ),
            ("metric = 'x_bytes'", "4096", 4096.0),
            ("metric = 'x'", "-3.5", -3.5),
            ("metric = 'x'\nunit = \"seconds\"", "\"2s\"", 2.0),
            ("check_status = 'check=\"app\"'", "\"warning\"", 2.0),
            ("check_status = 'check=\"app\"'", "\"unknown\"", 3.0),
            ("check_status = []", "\"critical\"", 4.0),
        ];
        for (source, written, value) in cases {
            let text = format!("[[alerts.rule]]\nname = \"r\"\n{source}\ncritical = {written}\n");
            let config = parse(&text);
            assert_eq!(rule(&config, "r").critical, Some(value), "{text}");
        }
    }

    #[test]
    fn rate_rules_are_read_with_the_unit_of_their_rate() {
        let config = parse(
            "[[alerts.rule]]\nname = \"cpu_busy\"\nmetric = 'node_cpu_seconds_total{mode=\"idle\"}'\n\
             rate = \"1m\"\ncomparison = \"below\"\nwarning = \"10%\"\n\n\
             [[alerts.rule]]\nname = \"rx\"\nmetric = 'node_network_receive_bytes_total'\nrate = \"5m\"\n\
             warning = \"100MiB\"\n\n\
             [[alerts.rule]]\nname = \"forks\"\nmetric = 'node_forks_total'\nrate = \"24h\"\nwarning = 50\n\n\
             [[alerts.rule]]\nname = \"plain\"\nmetric = 'node_forks_total'\nwarning = 50\n",
        );
        let busy = rule(&config, "cpu_busy");
        let RuleSource::Metric {
            name,
            matchers,
            rate,
        } = &busy.source
        else {
            panic!("{:?}", busy.source);
        };
        assert_eq!(
            (name.as_str(), matchers.len(), *rate),
            ("node_cpu_seconds_total", 1, Some(Duration::from_secs(60)))
        );
        // Seconds per second: a share of time, so "10%" is 0.1.
        assert_eq!((busy.unit, busy.warning), (ValueUnit::Percent, Some(0.1)));
        assert_eq!(rule(&config, "rx").unit, ValueUnit::Bytes);
        assert_eq!(rule(&config, "forks").unit, ValueUnit::Number);
        assert!(matches!(
            rule(&config, "forks").source,
            RuleSource::Metric { rate: Some(d), .. } if d == Duration::from_secs(86_400)
        ));
        assert!(matches!(
            rule(&config, "plain").source,
            RuleSource::Metric { rate: None, .. }
        ));
    }

    #[test]
    fn rate_errors_say_the_range_and_where_a_rate_cannot_be() {
        let text = "[[alerts.rule]]\nname = \"a\"\nmetric = 'x_total'\nwarning = 1\nrate = \"soon\"\n\n\
                    [[alerts.rule]]\nname = \"b\"\nmetric = 'x_total'\nwarning = 1\nrate = \"10s\"\n\n\
                    [[alerts.rule]]\nname = \"c\"\nmetric = 'x_total'\nwarning = 1\nrate = \"2d\"\n\n\
                    [[alerts.rule]]\nname = \"d\"\nmetric = 'x_total'\nwarning = 1\nrate = 300\n\n\
                    [[alerts.rule]]\nname = \"e\"\ncheck_status = 'check=\"app\"'\nwarning = \"warning\"\nrate = \"5m\"\n\n\
                    [[alerts.rule]]\nname = \"f\"\nno_data = 3\nrate = \"5m\"\n\n\
                    [[alerts.rule]]\nname = \"cpu_usage\"\nrate = \"5m\"\n";
        assert_eq!(
            errors(text),
            "lookout.toml:5:8: alerts.rule \"a\".rate: \"soon\" is not a duration; expected the window of the rate, from \"30s\" to \"24h\", like rate = \"5m\"\n\
             lookout.toml:11:8: alerts.rule \"b\".rate: \"10s\" is out of range; expected a window from \"30s\" to \"24h\" (it should hold a few of the counter's samples, like rate = \"5m\" for a 15s scrape)\n\
             lookout.toml:17:8: alerts.rule \"c\".rate: \"2d\" is out of range; expected a window from \"30s\" to \"24h\" (it should hold a few of the counter's samples, like rate = \"5m\" for a 15s scrape)\n\
             lookout.toml:23:8: alerts.rule \"d\".rate: expected a duration string like \"10s\", found an integer\n\
             lookout.toml:29:8: alerts.rule \"e\".rate: only applies to metric rules (the per-second rate of a counter); a check_status rule has no counter to rate\n\
             lookout.toml:34:8: alerts.rule \"f\".rate: only applies to metric rules (the per-second rate of a counter); a no_data rule has no counter to rate\n\
             lookout.toml:38:8: alerts.rule \"cpu_usage\".rate: the built-in \"cpu_usage\" watches the value of its series, not a rate; an override may not change what it measures; give a rate rule a new name"
        );
        // The bounds themselves are windows.
        let _ = parse(
            "[[alerts.rule]]\nname = \"a\"\nmetric = 'x_total'\nrate = \"30s\"\nwarning = 1\n\
             [[alerts.rule]]\nname = \"b\"\nmetric = 'x_total'\nrate = \"24h\"\nwarning = 1\n",
        );
        assert_eq!(
            (RATE_WINDOWS.0, RATE_WINDOWS.1),
            (
                parse_duration("30s").unwrap(),
                parse_duration("24h").unwrap()
            ),
            "RATE_RANGE says them"
        );
    }

    #[test]
    fn check_status_and_no_data_rules() {
        let config = parse(
            "[[alerts.rule]]\nname = \"api\"\ncheck_status = ['check=~\"app|api\"', 'layer=\"application\"']\n\
             warning = \"unknown\"\n\n\
             [[alerts.rule]]\nname = \"quiet\"\nno_data = 2\n",
        );
        let api = rule(&config, "api");
        assert!(matches!(&api.source, RuleSource::CheckStatus { matchers } if matchers.len() == 2));
        assert_eq!(
            (
                api.unit,
                api.category,
                api.hold_for,
                api.maintenance_affected
            ),
            (ValueUnit::Status, Category::Failure, Duration::ZERO, true)
        );
        let quiet = rule(&config, "quiet");
        assert_eq!(
            quiet.source,
            RuleSource::NoData {
                matchers: Vec::new(),
                missed_intervals: 2
            }
        );
        // Like the built-in check_no_data: warns unless told otherwise.
        assert_eq!((quiet.warning, quiet.critical), (Some(1.0), None));
        assert_eq!(quiet.unit, ValueUnit::Number);
    }

    #[test]
    fn inhibitions_follow_the_builtin_one() {
        let config = parse(
            "[[alerts.inhibit]]\nsource = ['alertname=\"db_down\"']\ntarget = ['alertname=~\".*\"', 'severity=\"warning\"']\nequal = [\"host\"]\n",
        );
        let inhibit = &config.alerts.inhibit;
        let builtin = builtin_inhibitions();
        assert_eq!(inhibit.len(), builtin.len() + 1);
        assert_eq!(inhibit[..builtin.len()], builtin[..]);
        let added = &inhibit[builtin.len()];
        assert_eq!(added.source[0].to_string(), "alertname=\"db_down\"");
        assert_eq!(added.target.len(), 2);
        assert_eq!(added.equal, ["host"]);
    }

    #[test]
    fn alerts_settings_errors() {
        assert_eq!(
            errors(
                "[alerts]\ncooldown = \"0s\"\ngroup_wait_critical = \"1m\"\ngroup_by = [\"host-name\"]\n\
                 host = \"\"\ndashboard_url = \"ftp://x\"\ngroup_intervall = \"1m\"\n"
            ),
            "lookout.toml:2:12: alerts.cooldown: \"0s\" must be greater than zero\n\
             lookout.toml:3:23: alerts.group_wait_critical: \"1m\" is longer than group_wait (\"10s\", the default); expected group_wait_critical <= group_wait\n\
             lookout.toml:4:13: alerts.group_by[0]: \"host-name\" is not a label name; expected letters, digits and _, not starting with a digit, like \"host\"\n\
             lookout.toml:5:8: alerts.host: \"\" is not a host name; expected a name without spaces, like \"web-1\"\n\
             lookout.toml:6:17: alerts.dashboard_url: \"ftp://x\" must start with http:// or https://, like \"https://lookout.example.com\"\n\
             lookout.toml:7:1: alerts.group_intervall: unknown key; did you mean \"group_interval\"?"
        );
    }

    #[test]
    fn host_down_counts_missed_intervals_and_is_its_own_kind() {
        let config = parse("[[alerts.rule]]\nname = \"host_down\"\nhost_silent = 5\n");
        assert_eq!(
            rule(&config, "host_down").source,
            RuleSource::HostSilent {
                missed_intervals: 5
            }
        );
        let config = parse("[[alerts.rule]]\nname = \"edge_down\"\nhost_silent = 2\nwarning = 1\n");
        assert_eq!(
            rule(&config, "edge_down").source,
            RuleSource::HostSilent {
                missed_intervals: 2
            }
        );
        let text = errors(
            "[[alerts.rule]]\nname = \"host_down\"\nhost_silent = 0\n\n\
             [[alerts.rule]]\nname = \"x\"\nhost_silent = \"3\"\nwarning = 1\n\n\
             [[alerts.rule]]\nname = \"y\"\nmetric = \"load1\"\nhost_silent = 3\nwarning = 1\n\n\
             [[alerts.rule]]\nname = \"cpu_usage\"\nhost_silent = 3\n",
        );
        for expected in [
            "lookout.toml:3:15: alerts.rule \"host_down\".host_silent: 0 is out of range; expected the number of missed intervals, from 1 to 1000",
            "lookout.toml:7:15: alerts.rule \"x\".host_silent: expected a whole number of missed intervals, like host_silent = 3, found a string",
            "lookout.toml:13:15: alerts.rule \"y\".host_silent: a rule has one source, and this one already has metric",
            "lookout.toml:18:15: alerts.rule \"cpu_usage\".host_silent: the built-in \"cpu_usage\" is a metric rule; an override may change its matchers, not its kind",
        ] {
            assert!(text.contains(expected), "{expected}\nnot in\n{text}");
        }
    }

    #[test]
    fn rule_errors() {
        let text = r#"[[alerts.rule]]
name = "cpu_usge"
warning = "70%"

[[alerts.rule]]
name = "bad name"
metric = "x"
warning = 1

[[alerts.rule]]
name = "a"
metric = 'x_ratio{mountpoint="/"'
warning = 80

[[alerts.rule]]
name = "a"
metric = "y_seconds"
no_data = 3
warning = "3s"

[[alerts.rule]]
name = "b"
metric = "cpu_usage_ratio"
warning = "90%"
critical = "80%"
warning_clear = "95%"
critical_clear = "70%"

[[alerts.rule]]
name = "c"
metric = "queue_length"

[[alerts.rule]]
name = "cpu_usage"
check_status = 'check="app"'

[[alerts.rule]]
name = "memory_usage"
metric = "mem_ratio"
critical = "50%"

[[alerts.rule]]
name = "d"
check_status = 'chek="app"'
labels = { severity = "page" }
summary = "{{value}} on {{hots}}"
runbook_url = "wiki/disk"
notifiers = ["ops"]
check = 'check="x"'
comparison = "higher"
for = "soon"
category = "outage"
cooldown = "0s"

[[alerts.rule]]
name = "e"
metric = "x_ratio"
warning = 80
critical = 150

[[alerts.rule]]
name = "f"
check_status = ["check=\"app\"", "layer"]
warning = "ok"

[[alerts.rule]]
name = "g"
check_status = []
unit = "percent"
warning = "ok"
description = "{{value"

[[alerts.rule]]
name = "h"
metric = "free_bytes"
comparison = "below"
warning = "1GiB"
critical = "2GiB"

[[alerts.rule]]
name = "i"
no_data = 0

[[alerts.rule]]
name = "j"
metric = "x_seconds"
critical = "2s"
warning_clear = "1s"
critical_clear = "3s"
"#;
        assert_eq!(
            errors(text),
            r#"lookout.toml:1:1: alerts.rule "cpu_usge": no metric, check_status, no_data or host_silent; a new rule needs one, like metric = 'cpu_usage_ratio'; did you mean the built-in "cpu_usage"?
lookout.toml:6:8: alerts.rule[1].name: "bad name" is not a rule name; expected letters, digits and _, not starting with a digit, like "disk_usage_data" (it becomes the alertname label)
lookout.toml:12:10: alerts.rule "a".metric: "x_ratio{mountpoint=\"/\"" has no closing } at its end; expected a metric name and optional matchers in braces, like 'filesystem_usage_ratio{mountpoint=~"/data.*",fstype!="tmpfs"}'
lookout.toml:16:8: alerts.rule[3].name: "a" is already the name of another rule; names must be unique (one entry overrides a built-in)
lookout.toml:18:11: alerts.rule[3].no_data: a rule has one source, and this one already has metric; expected only one of metric, check_status, no_data and host_silent
lookout.toml:25:12: alerts.rule "b".critical: "80%" must be above warning ("90%"); critical must be the worse level when comparison is "above"
lookout.toml:26:17: alerts.rule "b".warning_clear: "95%" must be below warning ("90%"); an alert clears on the good side of its threshold
lookout.toml:29:1: alerts.rule "c": no warning or critical; a rule needs at least one level, like warning = 100
lookout.toml:35:16: alerts.rule "cpu_usage".check_status: the built-in "cpu_usage" is a metric rule; an override may change its matchers, not its kind; give a check_status rule a new name
lookout.toml:39:10: alerts.rule "memory_usage".metric: the built-in "memory_usage" watches memory_usage_ratio; an override may add matchers to it, like 'memory_usage_ratio{...}', not watch mem_ratio; give that rule a new name
lookout.toml:40:12: alerts.rule "memory_usage".critical: "50%" must be above warning ("85%", the built-in); critical must be the worse level when comparison is "above"
lookout.toml:44:16: alerts.rule "d".check_status: "chek" is not a label of checks; expected "check", "layer", "type"
lookout.toml:45:23: alerts.rule "d".labels.severity: "severity" is set by the engine (the rule name and the level); choose another label name
lookout.toml:46:11: alerts.rule "d".summary: {{hots}} in "{{value}} on {{hots}}" is not a placeholder; expected {{value}}, {{threshold}}, {{severity}}, {{rule}}, {{host}}, {{detail}} or {{labels.NAME}}
lookout.toml:47:15: alerts.rule "d".runbook_url: "wiki/disk" is not a URL; expected one like "https://wiki.example.com/runbooks/disk"
lookout.toml:48:14: alerts.rule "d".notifiers[0]: "ops" is not the name of any notifier; there is no [[notifier]]; add one with this name
lookout.toml:49:9: alerts.rule "d".check: only applies to no_data rules; a check_status rule takes its matchers in check_status itself
lookout.toml:50:14: alerts.rule "d".comparison: "higher" is not a comparison; expected "above" (higher is worse) or "below" (lower is worse)
lookout.toml:51:7: alerts.rule "d".for: "soon" is not a duration; expected a number and a unit, like "500ms", "10s", "5m", "1h" or "7d"
lookout.toml:52:12: alerts.rule "d".category: "outage" is not a category; expected one of "failure", "resource", "performance", "maintenance", "security"
lookout.toml:53:12: alerts.rule "d".cooldown: "0s" must be greater than zero
lookout.toml:58:11: alerts.rule "e".warning: 80 is not a ratio; a number here is a ratio from 0 to 1, write "80%" for a percentage
lookout.toml:59:12: alerts.rule "e".critical: 150 is out of range; expected a percentage like "80%" or a ratio from 0 to 1
lookout.toml:63:34: alerts.rule "f".check_status[1]: "layer" is not a matcher; expected label="value", label!="value", label=~"regex" or label!~"regex"
lookout.toml:69:8: alerts.rule "g".unit: "percent" does not fit a check_status rule; its levels are statuses, so its unit is "status"
lookout.toml:70:11: alerts.rule "g".warning: "ok" is not a status to alert on; expected a status: "warning", "unknown" or "critical"
lookout.toml:71:15: alerts.rule "g".description: "{{value" has a {{ without a closing }}; expected placeholders like {{value}}
lookout.toml:78:12: alerts.rule "h".critical: "2GiB" must be below warning ("1GiB"); critical must be the worse level when comparison is "below"
lookout.toml:82:11: alerts.rule "i".no_data: 0 is out of range; expected the number of missed intervals, from 1 to 1000
lookout.toml:88:17: alerts.rule "j".warning_clear: is set but warning is not; a clear level belongs to its threshold
lookout.toml:89:18: alerts.rule "j".critical_clear: "3s" must be below critical ("2s"); an alert clears on the good side of its threshold"#
        );
    }

    #[test]
    fn inhibit_and_notifier_errors() {
        assert_eq!(
            errors(
                "[[alerts.inhibit]]\ntarget = []\nequal = [\"check name\"]\n\n\
                 [[alerts.inhibit]]\nsource = ['alertname']\ntarget = ['severity=\"warning\"']\n"
            ),
            "lookout.toml:1:1: alerts.inhibit[0].source: missing; expected a list of matchers on alert labels, like source = [\"alertname=\\\"check_failed\\\"\"]\n\
             lookout.toml:2:10: alerts.inhibit[0].target: is empty; an empty list would match every alert; expected matchers, like [\"alertname=\\\"check_failed\\\"\"]\n\
             lookout.toml:3:10: alerts.inhibit[0].equal[0]: \"check name\" is not a label name; expected letters, digits and _, not starting with a digit, like \"host\"\n\
             lookout.toml:6:11: alerts.inhibit[1].source[0]: \"alertname\" is not a matcher; expected label=\"value\", label!=\"value\", label=~\"regex\" or label!~\"regex\""
        );
    }

    /// The fragment with its example blocks uncommented: from a "# [alerts]" or
    /// "# [[alerts.…]]" line to the next bare "#".
    fn uncommented_fragment() -> String {
        crate::config::test_support::uncomment(crate::config::template::ALERTS_DOC, |line| {
            line.starts_with("# [alerts]") || line.starts_with("# [[alerts.")
        })
    }

    #[test]
    fn the_template_fragment_uncommented_parses() {
        use crate::base::schema::Reader;
        use toml::de::DeTable;

        let text = uncommented_fragment();
        let document = DeTable::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let mut reader = Reader::new("fragment", &text, &no_env);
        let root = reader.root(document.get_ref());
        let (alerts, refs) = read_alerts(
            &mut reader,
            &root,
            &crate::config::SystemThresholds::default(),
        );
        // The example names a notifier; the real [[notifier]] reader is not part of this test.
        refs.check(&mut reader, ["ops-email"]);
        let problems = reader.finish(document.get_ref());
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(shown.is_empty(), "{}\n{text}", shown.join("\n"));

        // Every example took effect: 1 override, 1 disabled built-in, 4 new rules, 1 inhibit.
        assert_eq!(alerts.host, "web-1");
        assert_eq!(alerts.rules.len(), BUILTIN_RULES.len() + 4);
        assert_eq!(alerts.rules[0].warning, Some(0.70));
        assert!(!alerts.rules[3].enabled);
        let kinds: Vec<SourceKind> = alerts.rules[BUILTIN_RULES.len()..]
            .iter()
            .map(|rule| SourceKind::of(&rule.source))
            .collect();
        assert_eq!(
            kinds,
            [
                SourceKind::Metric,
                SourceKind::Metric,
                SourceKind::CheckStatus,
                SourceKind::NoData
            ]
        );
        assert!(matches!(
            alerts.rules[BUILTIN_RULES.len() + 1].source,
            RuleSource::Metric { rate: Some(window), .. } if window == Duration::from_secs(300)
        ));
        assert_eq!(alerts.inhibit.len(), builtin_inhibitions().len() + 1);
    }
}
