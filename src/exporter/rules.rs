//! `lookout export prometheus-rules`: the enabled alert rules of a config as Prometheus
//! alerting rules over the series of `/metrics`, for a Prometheus that scrapes Lookout. One
//! group, `lookout`; YAML written by hand (every string quoted; see `yaml_string`).
//!
//! How each kind of rule is translated:
//!
//! - **metric** (`metric = 'cpu_usage_ratio{…}'`): `lookout_<metric>{…} >= level` (`<=` for
//!   `comparison = "below"`), one rule per severity (warning, critical) with the rule's `for`.
//!   Ratios are 0-1 in the series and in the config alike.
//! - **metric with `rate = "5m"`**: `rate(lookout_<metric>{…}[5m]) >= level`. Prometheus'
//!   `rate()` extrapolates to the window's edges where Lookout's does not (`alert::rate`), so
//!   near a level the two may differ by up to the share of the window before the first and
//!   after the last sample.
//! - **check_status** (`check_status = 'check=~"…"'`): `lookout_check_status{…, status=~"…"}
//!   == 1`, the statuses being those that reach the severity's level. That series has no `type`
//!   label: a matcher on `type` becomes `and`/`unless` on `lookout_check_up{type…}` (which has
//!   it; the system checks cpu, memory and disk:<mount> have no `check_up` series).
//! - **no_data** (`no_data = 3`): a check's `lookout_check_up` that Prometheus had in the last
//!   hour and has no more (`max_over_time(…[1h]) unless …`), for the rule's missed intervals ×
//!   the longest interval of the configured checks it matches. Prometheus sees a check only
//!   through scrapes, so this fires when Lookout stops being scraped or stops exporting the
//!   check, not when Lookout is up but the check stopped running (Lookout's own rule sees that).
//!   `check_up` has no `layer` label: a matcher on `layer` is resolved to the names of the
//!   configured checks in those layers.
//!
//! Not translated: hysteresis (`*_clear`: a Prometheus rule resolves as soon as the condition
//! is false), cooldowns and grouping (Alertmanager's business), maintenance muting (during a
//! maintenance period the checks it affects export status "maintenance", so check-status rules
//! do not fire; metric rules do), inhibitions. Both the warning and the critical rule fire past
//! the critical level; Lookout tells only the worse one, which an Alertmanager inhibit rule
//! gives (written in the file's header).
//!
//! Templates: `{{value}}` becomes `$value` humanized in the rule's unit, `{{labels.x}}`
//! `$labels.x`, `{{host}}` `$labels.instance`; `{{threshold}}`, `{{severity}}` and `{{rule}}`
//! are written out; `{{detail}}` (what a check said) is not exported, so it becomes a phrase.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use super::prometheus_text::PREFIX;
use crate::alert::Comparison;
use crate::alert::matcher::{MatchOp, Matcher};
use crate::alert::render::{format_threshold, per_second};
use crate::config::alerts::status_value;
use crate::config::{CheckKind, Config, RuleConfig, RuleSource, ValueUnit};
use crate::model::Status;

/// How far back a no-data rule looks for checks that existed.
const NO_DATA_LOOKBACK: &str = "1h";

/// One Prometheus alerting rule, before it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct PromRule {
    pub alert: String,
    pub expr: String,
    pub hold_for: Duration,
    /// `severity` first, then the rule's own labels.
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
}

/// A rule that cannot be written, and why (shown as a comment in the file).
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub rule: String,
    pub why: String,
}

/// The rules file: a commented header, then group `lookout` with every translatable rule.
pub fn prometheus_rules(config: &Config) -> String {
    let (rules, skipped) = translate(config);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Prometheus alerting rules equivalent to the enabled alert rules of Lookout's config,\n\
         # over the series Lookout exports on /metrics (`lookout export prometheus-rules`,\n\
         # Lookout {}). Check with `promtool check rules FILE`; load with rule_files.\n\
         #\n\
         # Past the critical level both the warning and the critical rule fire; Lookout tells only\n\
         # the worse. To get that in Alertmanager (alertmanager.yml):\n\
         #   inhibit_rules:\n\
         #     - source_matchers: [severity=\"critical\"]\n\
         #       target_matchers: [severity=\"warning\"]\n\
         #       equal: [alertname, instance, check, mountpoint, device]\n\
         #\n\
         # Not translated: hysteresis (*_clear), cooldowns, grouping, maintenance muting of metric\n\
         # rules, inhibitions. No-data rules fire when a check's series stops being scraped.",
        env!("CARGO_PKG_VERSION")
    );
    for skip in &skipped {
        let _ = writeln!(
            out,
            "# Rule {}: not exported, {}.",
            one_line(&skip.rule),
            one_line(&skip.why)
        );
    }
    out.push_str("groups:\n  - name: lookout\n");
    if rules.is_empty() {
        out.push_str("    rules: []\n");
        return out;
    }
    out.push_str("    rules:\n");
    for rule in &rules {
        let _ = writeln!(out, "      - alert: {}", yaml_string(&rule.alert));
        let _ = writeln!(out, "        expr: {}", yaml_string(&rule.expr));
        if !rule.hold_for.is_zero() {
            let _ = writeln!(out, "        for: {}", prom_duration(rule.hold_for));
        }
        for (section, pairs) in [("labels", &rule.labels), ("annotations", &rule.annotations)] {
            if pairs.is_empty() {
                continue;
            }
            let _ = writeln!(out, "        {section}:");
            for (key, value) in pairs {
                let _ = writeln!(out, "          {}: {}", yaml_key(key), yaml_string(value));
            }
        }
    }
    out
}

/// Every enabled rule of `config` as Prometheus rules, and the rules that cannot be.
pub fn translate(config: &Config) -> (Vec<PromRule>, Vec<Skipped>) {
    let mut rules = Vec::new();
    let mut skipped = Vec::new();
    for rule in config.alerts.rules.iter().filter(|r| r.enabled) {
        // The connectivity gate's alert watches a result the engine derives from the canaries
        // (`alert::connectivity`); /metrics has no series for it. Without canaries it never
        // fires, so it is left out without a word.
        if rule.builtin && rule.name == "connectivity_lost" {
            if config.alerts.connectivity.is_some() {
                skipped.push(Skipped {
                    rule: rule.name.clone(),
                    why: "it is Lookout's own verdict on its network (all canaries failing), which /metrics does not export; alert on the canaries' lookout_check_up instead".to_string(),
                });
            }
            continue;
        }
        // host_down watches the requests of the hosts this hub receives from; without
        // [receive] there are none, and it is left out without a word.
        if matches!(rule.source, RuleSource::HostSilent { .. }) {
            if config.receive.is_some() {
                skipped.push(Skipped {
                    rule: rule.name.clone(),
                    why: "it watches when this hub last heard from each host it receives from, which /metrics does not export; in Prometheus, alert on up == 0 of the agents' scrape jobs, or on absent_over_time(lookout_cpu_usage_ratio{host=\"...\"}[1m])".to_string(),
                });
            }
            continue;
        }
        match translate_rule(rule, config) {
            Ok(translated) if translated.is_empty() => skipped.push(Skipped {
                rule: rule.name.clone(),
                why: "it has no warning or critical level".to_string(),
            }),
            Ok(translated) => rules.extend(translated),
            Err(why) => skipped.push(Skipped {
                rule: rule.name.clone(),
                why,
            }),
        }
    }
    (rules, skipped)
}

/// The severities a rule can have and the level of each, warning first.
fn levels(rule: &RuleConfig) -> Vec<(&'static str, f64)> {
    [("warning", rule.warning), ("critical", rule.critical)]
        .into_iter()
        .filter_map(|(severity, level)| level.map(|l| (severity, l)))
        .collect()
}

fn reaches(comparison: Comparison, value: f64, level: f64) -> bool {
    match comparison {
        Comparison::Above => value >= level,
        Comparison::Below => value <= level,
    }
}

fn translate_rule(rule: &RuleConfig, config: &Config) -> Result<Vec<PromRule>, String> {
    let mut out = Vec::new();
    match &rule.source {
        RuleSource::Metric {
            name,
            matchers,
            rate,
        } => {
            let mut selector = selector(&format!("{PREFIX}{name}"), matchers);
            if let Some(window) = rate {
                selector = format!("rate({selector}[{}])", prom_duration(*window));
            }
            let op = match rule.comparison {
                Comparison::Above => ">=",
                Comparison::Below => "<=",
            };
            // A rate is per second, as Lookout writes it (`alert::render::per_second`); a
            // percent (seconds per second) is a share of time and stays a percent.
            let value = match (rule.unit, rate.is_some()) {
                (ValueUnit::Percent, _) => "{{ $value | humanizePercentage }}",
                (ValueUnit::Seconds, false) => "{{ $value | humanizeDuration }}",
                (ValueUnit::Seconds, true) => "{{ $value | humanizeDuration }}/s",
                (ValueUnit::Bytes, false) => "{{ $value | humanize1024 }}B",
                (ValueUnit::Bytes, true) => "{{ $value | humanize1024 }}B/s",
                (ValueUnit::Status | ValueUnit::Number, false) => "{{ $value }}",
                (ValueUnit::Status | ValueUnit::Number, true) => "{{ $value }}/s",
            };
            for (severity, level) in levels(rule) {
                let context = Context {
                    value,
                    threshold: match rate {
                        Some(_) => per_second(format_threshold(level, rule.unit), rule.unit),
                        None => format_threshold(level, rule.unit),
                    },
                    severity,
                    rule: &rule.name,
                    detail: "",
                };
                // The critical rule keeps the shorter `for_critical`, as Lookout does.
                let hold = if severity == "critical" {
                    rule.hold_for_critical
                } else {
                    rule.hold_for
                };
                out.push(prom_rule(
                    rule,
                    severity,
                    format!("{selector} {op} {}", promql_number(level)),
                    hold,
                    &context,
                ));
            }
        }
        RuleSource::CheckStatus { matchers } => {
            let (type_matchers, others): (Vec<&Matcher>, Vec<&Matcher>) =
                matchers.iter().partition(|m| m.label == "type");
            let types = type_clause(&type_matchers)?;
            for (severity, level) in levels(rule) {
                let statuses: Vec<&str> = Status::ALL
                    .iter()
                    .filter(|s| reaches(rule.comparison, status_value(**s), level))
                    .map(|s| s.as_str())
                    .collect();
                if statuses.is_empty() {
                    continue;
                }
                let status = if let [one] = statuses.as_slice() {
                    format!("status=\"{one}\"")
                } else {
                    format!("status=~\"{}\"", statuses.join("|"))
                };
                let mut selectors: Vec<String> = others.iter().map(|m| promql_matcher(m)).collect();
                selectors.push(status);
                let expr = format!(
                    "{PREFIX}check_status{{{}}} == 1{types}",
                    selectors.join(", ")
                );
                let context = Context {
                    value: "{{ $labels.status }}",
                    threshold: String::new(),
                    severity,
                    rule: &rule.name,
                    detail: "{{ $labels.check }} is {{ $labels.status }}",
                };
                out.push(prom_rule(rule, severity, expr, rule.hold_for, &context));
            }
        }
        RuleSource::NoData {
            matchers,
            missed_intervals,
        } => {
            let Some(severity) = levels(rule)
                .into_iter()
                .filter(|(_, level)| reaches(rule.comparison, 1.0, *level))
                .map(|(severity, _)| severity)
                .next_back()
            else {
                return Ok(out);
            };
            let checks: Vec<&crate::config::CheckConfig> = config
                .checks
                .iter()
                .filter(|c| c.enabled)
                .filter(|c| {
                    let labels: BTreeMap<String, String> = [
                        ("check", c.name.as_str()),
                        ("layer", c.layer.as_str()),
                        ("type", c.kind.type_name()),
                    ]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                    matchers.iter().all(|m| m.matches(&labels))
                })
                .collect();
            let (layer, mut kept): (Vec<&Matcher>, Vec<&Matcher>) =
                matchers.iter().partition(|m| m.label == "layer");
            let by_layer;
            if !layer.is_empty() {
                if checks.is_empty() {
                    return Err("its layer matchers match no configured check".to_string());
                }
                let names: Vec<String> = checks.iter().map(|c| regex_escape(&c.name)).collect();
                by_layer = Matcher::parse(&format!("check=~\"{}\"", names.join("|")))
                    .map_err(|e| format!("cannot match its checks by name ({e})"))?;
                kept.push(&by_layer);
            }
            let interval = checks
                .iter()
                .map(|c| c.interval)
                .max()
                .unwrap_or(config.system.interval);
            let window = interval * *missed_intervals;
            let up = selector(&format!("{PREFIX}check_up"), kept);
            let expr = format!("max_over_time({up}[{NO_DATA_LOOKBACK}]) unless {up}");
            let waited = prom_duration(window);
            let context = Context {
                value: &waited,
                threshold: String::new(),
                severity,
                rule: &rule.name,
                detail: "no result from {{ $labels.check }}",
            };
            out.push(prom_rule(rule, severity, expr, window, &context));
        }
        RuleSource::HostSilent { .. } => {
            return Err("it watches the hosts this hub receives from".to_string());
        }
        // The Watchdog: always firing, as Prometheus setups write it.
        RuleSource::Always => {
            let context = Context {
                value: "1",
                threshold: String::new(),
                severity: "info",
                rule: &rule.name,
                detail: "",
            };
            out.push(prom_rule(
                rule,
                "info",
                "vector(1)".to_string(),
                Duration::ZERO,
                &context,
            ));
        }
    }
    Ok(out)
}

/// What a template's placeholders become.
struct Context<'a> {
    value: &'a str,
    threshold: String,
    severity: &'a str,
    rule: &'a str,
    detail: &'a str,
}

fn prom_rule(
    rule: &RuleConfig,
    severity: &str,
    expr: String,
    hold_for: Duration,
    context: &Context<'_>,
) -> PromRule {
    let mut labels = vec![("severity".to_string(), severity.to_string())];
    labels.extend(
        rule.labels
            .iter()
            .filter(|(k, _)| k.as_str() != "severity")
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    let mut annotations = Vec::new();
    for (name, template) in [
        ("summary", &rule.summary),
        ("description", &rule.description),
    ] {
        if !template.is_empty() {
            annotations.push((name.to_string(), prom_template(template, context)));
        }
    }
    if let Some(url) = &rule.runbook_url {
        annotations.push(("runbook_url".to_string(), go_literal(url)));
    }
    PromRule {
        alert: rule.name.clone(),
        expr,
        hold_for,
        labels,
        annotations,
    }
}

/// The `and`/`unless` that keeps the checks of the types `type_matchers` accept (see the
/// module doc); empty when they accept every type. An error when they accept none.
fn type_clause(type_matchers: &[&Matcher]) -> Result<String, String> {
    if type_matchers.is_empty() {
        return Ok(String::new());
    }
    let check_types = CheckKind::type_names();
    let all: Vec<&str> = check_types.iter().copied().chain(["system"]).collect();
    let accepts = |t: &str| {
        let labels: BTreeMap<String, String> =
            [("type".to_string(), t.to_string())].into_iter().collect();
        type_matchers.iter().all(|m| m.matches(&labels))
    };
    let accepted: Vec<&str> = all.iter().copied().filter(|t| accepts(t)).collect();
    let refused: Vec<&str> = all.iter().copied().filter(|t| !accepts(t)).collect();
    let one_of = |types: &[&str]| match types {
        // Every check that has a check_up series.
        _ if types.len() == check_types.len() => String::new(),
        [one] => format!("{{type=\"{one}\"}}"),
        _ => format!("{{type=~\"{}\"}}", types.join("|")),
    };
    let on = "ignoring(layer, status, type)";
    Ok(if refused.is_empty() {
        String::new()
    } else if accepted.is_empty() {
        return Err("its type matchers match no check type".to_string());
    } else if accepted.contains(&"system") {
        // System checks have no check_up: keep everything but the refused types.
        format!(" unless {on} {PREFIX}check_up{}", one_of(&refused))
    } else {
        // Only checks with a check_up of an accepted type: no system checks.
        format!(" and {on} {PREFIX}check_up{}", one_of(&accepted))
    })
}

/// `name{m1, m2}`, or `name` with no matchers.
fn selector<'a>(name: &str, matchers: impl IntoIterator<Item = &'a Matcher>) -> String {
    let parts: Vec<String> = matchers.into_iter().map(promql_matcher).collect();
    if parts.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{}}}", parts.join(", "))
    }
}

fn promql_matcher(matcher: &Matcher) -> String {
    let unanchor = |re: &regex::Regex| {
        let s = re.as_str();
        s.strip_prefix("^(?:")
            .and_then(|s| s.strip_suffix(")$"))
            .unwrap_or(s)
            .to_string()
    };
    let (op, value) = match &matcher.op {
        MatchOp::Equal(v) => ("=", v.clone()),
        MatchOp::NotEqual(v) => ("!=", v.clone()),
        MatchOp::Regex(re) => ("=~", unanchor(re)),
        MatchOp::NotRegex(re) => ("!~", unanchor(re)),
    };
    format!("{}{op}{}", matcher.label, promql_string(&value))
}

/// A PromQL double-quoted string (Go escapes).
pub fn promql_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A regex matching `text` literally (check names in a `check=~"a|b"`).
fn regex_escape(text: &str) -> String {
    regex::escape(text)
}

/// A threshold as PromQL reads it: the shortest decimal that round-trips.
fn promql_number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{value}")
    }
}

/// A Prometheus duration: "90s", "2m", "1h30m", "250ms".
pub fn prom_duration(duration: Duration) -> String {
    let mut ms = duration.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms >= size {
            let _ = write!(out, "{}{unit}", ms / size);
            ms %= size;
        }
    }
    if ms > 0 {
        let _ = write!(out, "{ms}ms");
    }
    out
}

/// Literal text in a Go template: only `{{` means something there.
fn go_literal(text: &str) -> String {
    text.replace("{{", "{{ \"{{\" }}")
}

/// A label name as a Go template reads it: `$labels.name`, or `index $labels "na-me"`.
fn label_ref(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        format!("{{{{ $labels.{name} }}}}")
    } else {
        format!("{{{{ index $labels {} }}}}", promql_string(name))
    }
}

/// A Lookout summary/description template (`alert::render`) as a Prometheus one.
fn prom_template(template: &str, context: &Context<'_>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&go_literal(&rest[..start]));
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&go_literal(&rest[start..]));
            return out;
        };
        let name = after[..end].trim();
        match name {
            "value" => out.push_str(context.value),
            "threshold" => out.push_str(&go_literal(&context.threshold)),
            "severity" => out.push_str(context.severity),
            "rule" => out.push_str(&go_literal(context.rule)),
            "host" => out.push_str("{{ $labels.instance }}"),
            "detail" => out.push_str(context.detail),
            _ => match name.strip_prefix("labels.") {
                Some(label) => out.push_str(&label_ref(label)),
                None => out.push_str(&go_literal(&rest[start..start + 2 + end + 2])),
            },
        }
        rest = &after[end + 2..];
    }
    out.push_str(&go_literal(rest));
    out
}

/// A YAML scalar that reads back as exactly `text`: single-quoted (only `'` doubled) when it
/// has no control characters, double-quoted with escapes otherwise.
pub fn yaml_string(text: &str) -> String {
    if !text.chars().any(|c| c.is_control()) {
        return format!("'{}'", text.replace('\'', "''"));
    }
    let mut out = String::with_capacity(text.len() + 8);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A mapping key: plain when it is a label-like word YAML reads as a string, quoted otherwise
/// (`on`, `yes`, `null` and friends are booleans or null to some YAML readers).
fn yaml_key(key: &str) -> String {
    const SPECIAL: &[&str] = &[
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
    ];
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !SPECIAL.contains(&key.to_ascii_lowercase().as_str());
    if plain {
        key.to_string()
    } else {
        yaml_string(key)
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_str;

    fn config(text: &str) -> Config {
        let env = |_: &str| None;
        from_str(text, "lookout.toml", &env).unwrap_or_else(|e| panic!("{e}"))
    }

    fn rule<'a>(rules: &'a [PromRule], name: &str, severity: &str) -> &'a PromRule {
        rules
            .iter()
            .find(|r| r.alert == name && r.labels[0].1 == severity)
            .unwrap_or_else(|| panic!("no {severity} rule {name} in {rules:#?}"))
    }

    #[test]
    fn builtin_rules_become_prometheus_rules() {
        let (rules, skipped) = translate(&config(""));
        assert_eq!(skipped, vec![]);
        let cpu = rule(&rules, "cpu_usage", "warning");
        assert_eq!(cpu.expr, "lookout_cpu_usage_ratio >= 0.8");
        assert_eq!(cpu.hold_for, Duration::from_secs(120));
        assert_eq!(
            cpu.annotations[0],
            (
                "summary".to_string(),
                "CPU usage {{ $value | humanizePercentage }} on {{ $labels.instance }}".to_string()
            )
        );
        assert_eq!(
            cpu.annotations[1].1,
            "CPU busy {{ $value | humanizePercentage }} for over 2 minutes (warning at 80%)."
        );
        assert_eq!(
            rule(&rules, "cpu_usage", "critical").expr,
            "lookout_cpu_usage_ratio >= 0.95"
        );
        assert_eq!(
            rule(&rules, "disk_usage", "warning").annotations[0].1,
            "Disk {{ $labels.mountpoint }} {{ $value | humanizePercentage }} full on {{ $labels.instance }}"
        );
        assert_eq!(
            rule(&rules, "http_response_time", "critical").expr,
            "lookout_http_response_seconds >= 5"
        );
        assert_eq!(
            rule(&rules, "check_failed", "critical").expr,
            "lookout_check_status{status=\"critical\"} == 1 \
             and ignoring(layer, status, type) lookout_check_up"
        );
        assert_eq!(
            rule(&rules, "security_incident", "critical").expr,
            "lookout_check_status{check=~\"security:.*\", status=\"critical\"} == 1"
        );
        let no_data = rule(&rules, "check_no_data", "warning");
        assert_eq!(
            no_data.expr,
            "max_over_time(lookout_check_up{type!=\"system\"}[1h]) unless lookout_check_up{type!=\"system\"}"
        );
        // No check configured: the system interval (10s) × 3.
        assert_eq!(no_data.hold_for, Duration::from_secs(30));
        // Lookout's own health, over the self probe's series.
        assert_eq!(
            rule(&rules, "store_errors", "warning").expr,
            "lookout_self_store_errors_per_minute >= 1"
        );
        assert_eq!(
            rule(&rules, "outbox_stuck", "critical").expr,
            "lookout_self_outbox_oldest_seconds >= 3600"
        );
        assert_eq!(
            rule(&rules, "collection_late", "warning").hold_for,
            Duration::from_secs(120)
        );
        assert!(
            !rules.iter().any(|r| r.alert == "Watchdog"),
            "the Watchdog is off by default"
        );
        assert_eq!(rules.len(), 20);
    }

    #[test]
    fn a_rate_rule_is_the_rate_of_its_series_over_its_window() {
        let text = r#"
[[alerts.rule]]
name = "cpu_busy"
metric = 'node_cpu_seconds_total{mode="idle"}'
rate = "5m"
comparison = "below"
warning = "10%"
critical = "2%"
for = "10m"

[[alerts.rule]]
name = "rx"
metric = 'node_network_receive_bytes_total{device!="lo"}'
rate = "1h30m"
warning = "100MiB"
summary = "{{labels.device}} receives {{value}} (warning at {{threshold}})"
"#;
        let (rules, _) = translate(&config(text));
        let busy = rule(&rules, "cpu_busy", "critical");
        assert_eq!(
            busy.expr,
            "rate(lookout_node_cpu_seconds_total{mode=\"idle\"}[5m]) <= 0.02"
        );
        assert_eq!(busy.hold_for, Duration::from_secs(15));
        assert_eq!(
            busy.annotations[0].1,
            "cpu_busy is {{ $value | humanizePercentage }} on {{ $labels.instance }}"
        );
        let rx = rule(&rules, "rx", "warning");
        assert_eq!(
            rx.expr,
            "rate(lookout_node_network_receive_bytes_total{device!=\"lo\"}[1h30m]) >= 104857600"
        );
        assert_eq!(
            rx.annotations[0].1,
            "{{ $labels.device }} receives {{ $value | humanize1024 }}B/s (warning at 100.0 MiB/s)"
        );
    }

    #[test]
    fn the_watchdog_is_vector_1_and_the_connectivity_alert_is_not_exported() {
        let text = "[[check]]\nname = \"gw\"\ntype = \"tcp\"\naddress = \"10.0.0.1:53\"\n\
                    [alerts.connectivity]\ncanaries = [\"gw\"]\n\
                    [[alerts.rule]]\nname = \"Watchdog\"\nenabled = true\nnotifiers = [\"am\"]\n\
                    [[notifier]]\nname = \"am\"\ntype = \"alertmanager\"\nurls = [\"http://127.0.0.1:9093\"]\n";
        let (rules, skipped) = translate(&config(text));
        let watchdog = rule(&rules, "Watchdog", "info");
        assert_eq!(watchdog.expr, "vector(1)");
        assert_eq!(watchdog.hold_for, Duration::ZERO);
        assert_eq!(
            skipped.iter().map(|s| s.rule.as_str()).collect::<Vec<_>>(),
            ["connectivity_lost"]
        );
    }

    #[test]
    fn custom_rules_translate_comparison_statuses_types_layers_and_labels() {
        let text = r#"
[[check]]
name = "app"
type = "http"
url = "http://127.0.0.1:5000/health"
interval = "30s"

[[check]]
name = "db.main"
type = "tcp"
address = "127.0.0.1:5432"
layer = "database"
interval = "1m"

[[alerts.rule]]
name = "cpu_usage"
enabled = false

[[alerts.rule]]
name = "free_space_low"
metric = 'filesystem_avail_bytes{mountpoint="/data", device=~"/dev/.+\d"}'
comparison = "below"
warning = 10e9
critical = 1e9
for = "90s"
labels = { team = "ops" }
summary = "Only {{value}} left on {{labels.mountpoint}}: it's {{severity}} ({{rule}} at {{threshold}})"
description = ""
runbook_url = "https://wiki.example.org/disk"

[[alerts.rule]]
name = "db_degraded"
check_status = ['layer="database"', 'type=~"tcp|postgres"']
warning = "warning"
critical = "critical"
summary = "{{labels.check}}: {{value}} ({{detail}})"

[[alerts.rule]]
name = "not_system"
check_status = 'type="system"'
critical = "critical"

[[alerts.rule]]
name = "nothing"
check_status = 'type="nope"'
critical = "critical"

[[alerts.rule]]
name = "db_silent"
no_data = 2
check = 'layer="database"'
critical = 1

[[alerts.rule]]
name = "redis_silent"
no_data = 2
check = 'layer="redis"'
"#;
        let (rules, skipped) = translate(&config(text));
        assert!(!rules.iter().any(|r| r.alert == "cpu_usage"), "disabled");
        assert_eq!(
            skipped,
            vec![
                Skipped {
                    rule: "nothing".into(),
                    why: "its type matchers match no check type".into()
                },
                Skipped {
                    rule: "redis_silent".into(),
                    why: "its layer matchers match no configured check".into()
                },
            ]
        );
        let low = rule(&rules, "free_space_low", "warning");
        assert_eq!(
            low,
            &PromRule {
                alert: "free_space_low".into(),
                expr: "lookout_filesystem_avail_bytes{mountpoint=\"/data\", device=~\"/dev/.+\\\\d\"} <= 10000000000".into(),
                hold_for: Duration::from_secs(90),
                labels: vec![
                    ("severity".into(), "warning".into()),
                    ("team".into(), "ops".into())
                ],
                annotations: vec![
                    (
                        "summary".into(),
                        "Only {{ $value | humanize1024 }}B left on {{ $labels.mountpoint }}: \
                         it's warning (free_space_low at 9.3 GiB)"
                            .into()
                    ),
                    ("runbook_url".into(), "https://wiki.example.org/disk".into()),
                ],
            }
        );
        assert_eq!(
            rule(&rules, "free_space_low", "critical").expr,
            "lookout_filesystem_avail_bytes{mountpoint=\"/data\", device=~\"/dev/.+\\\\d\"} <= 1000000000"
        );
        let degraded = rule(&rules, "db_degraded", "warning");
        assert_eq!(
            degraded.expr,
            "lookout_check_status{layer=\"database\", status=~\"warning|unknown|critical\"} == 1 \
             and ignoring(layer, status, type) lookout_check_up{type=~\"tcp|postgres\"}"
        );
        assert_eq!(
            degraded.annotations[0].1,
            "{{ $labels.check }}: {{ $labels.status }} ({{ $labels.check }} is {{ $labels.status }})"
        );
        assert_eq!(
            rule(&rules, "db_degraded", "critical").expr,
            "lookout_check_status{layer=\"database\", status=\"critical\"} == 1 \
             and ignoring(layer, status, type) lookout_check_up{type=~\"tcp|postgres\"}"
        );
        assert_eq!(
            rule(&rules, "not_system", "critical").expr,
            "lookout_check_status{status=\"critical\"} == 1 \
             unless ignoring(layer, status, type) lookout_check_up"
        );
        let silent = rule(&rules, "db_silent", "critical");
        assert_eq!(
            silent.expr,
            "max_over_time(lookout_check_up{check=~\"db\\\\.main\"}[1h]) \
             unless lookout_check_up{check=~\"db\\\\.main\"}"
        );
        assert_eq!(silent.hold_for, Duration::from_secs(120), "2 × 1m");
    }

    #[test]
    fn the_file_is_one_group_with_quoted_strings() {
        let text = prometheus_rules(&config(
            "[[alerts.rule]]\nname = \"cpu_usage\"\nsummary = \"It's {{value}}: \\\"{{host}}\\\"\"\n\
             runbook_url = \"https://wiki.example.org/cpu\"\n",
        ));
        assert!(text.starts_with("# Prometheus alerting rules"), "{text}");
        let body = &text[text.find("groups:").unwrap()..];
        let cpu = &body[body.find("      - alert: 'cpu_usage'").unwrap()..];
        let cpu = &cpu[..cpu[1..].find("      - alert:").unwrap() + 1];
        assert_eq!(
            cpu,
            "      - alert: 'cpu_usage'\n\
             \x20       expr: 'lookout_cpu_usage_ratio >= 0.8'\n\
             \x20       for: 2m\n\
             \x20       labels:\n\
             \x20         severity: 'warning'\n\
             \x20       annotations:\n\
             \x20         summary: 'It''s {{ $value | humanizePercentage }}: \"{{ $labels.instance }}\"'\n\
             \x20         description: 'CPU busy {{ $value | humanizePercentage }} for over 2 minutes (warning at 80%).'\n\
             \x20         runbook_url: 'https://wiki.example.org/cpu'\n"
        );
        assert!(
            body.starts_with("groups:\n  - name: lookout\n    rules:\n"),
            "{body}"
        );
    }

    #[test]
    fn templates_keep_unknown_braces_literal() {
        let context = Context {
            value: "{{ $value }}",
            threshold: "95%".into(),
            severity: "critical",
            rule: "r",
            detail: "",
        };
        assert_eq!(
            prom_template("{{labels.a-b}} {{value}} open {{value", &context),
            "{{ index $labels \"a-b\" }} {{ $value }} open {{ \"{{\" }}value"
        );
        assert_eq!(prom_template("{{nope}}", &context), "{{ \"{{\" }}nope}}");
    }

    #[test]
    fn strings_are_quoted_for_yaml_and_promql() {
        for (text, expected) in [
            ("plain", "'plain'"),
            ("it's", "'it''s'"),
            ("a \"b\" {c}", "'a \"b\" {c}'"),
            ("two\nlines", "\"two\\nlines\""),
            ("tab\tand \\ \"q\"", "\"tab\\tand \\\\ \\\"q\\\"\""),
            ("", "''"),
            ("# not a comment: [x]", "'# not a comment: [x]'"),
        ] {
            assert_eq!(yaml_string(text), expected, "{text:?}");
        }
        assert_eq!(promql_string("a\\d\"x\""), "\"a\\\\d\\\"x\\\"\"");
        for (key, expected) in [
            ("team", "team"),
            ("on", "'on'"),
            ("Yes", "'Yes'"),
            ("a-b", "'a-b'"),
        ] {
            assert_eq!(yaml_key(key), expected);
        }
    }

    #[test]
    fn durations_are_prometheus_durations() {
        for (ms, expected) in [
            (0, "0s"),
            (250, "250ms"),
            (90_000, "1m30s"),
            (120_000, "2m"),
            (5_400_000, "1h30m"),
            (86_400_000, "1d"),
        ] {
            assert_eq!(prom_duration(Duration::from_millis(ms)), expected);
        }
    }
}
