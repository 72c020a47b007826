//! `lookout config check`: what a config will make Lookout do, on one screen, in the words of
//! someone running it (what is monitored, how often, where history goes) rather than as keys.
//! A view of a `Config`, not part of reading it: `config` is the schema and its validation.

use crate::base::secret::{mask_url, url_origin};
use crate::base::units::{format_duration, format_percent, format_size};
use crate::config::checks::dependency_graph;
use crate::config::maintenance::{
    HttpSource, MaintenanceConfig, RedisSource, SourceKind, SqlSource,
};
use crate::config::{Config, NameFilter};

/// A few lines describing what `config` monitors and stores.
pub fn summary(config: &Config) -> String {
    let mut lines = Vec::new();
    lines.push(match &config.source {
        Some(path) => format!("config: {}", path.display()),
        None => "config: embedded default (no file)".to_string(),
    });
    lines.push(format!(
        "http: dashboard, API and /metrics on {}",
        config.server.listen
    ));

    let system = &config.system;
    if system.enabled {
        let cpu = if system.per_core {
            "cpu (per core too)"
        } else {
            "cpu"
        };
        lines.push(format!(
            "system: every {}: {cpu}, memory, load, filesystems, network",
            format_duration(system.interval)
        ));
        let t = &system.thresholds;
        let pair =
            |warning, critical| format!("{}/{}", format_percent(warning), format_percent(critical));
        lines.push(format!(
            "  thresholds (warning/critical): cpu {}, memory {}, disk {}",
            pair(t.cpu_warning, t.cpu_critical),
            pair(t.memory_warning, t.memory_critical),
            pair(t.disk_warning, t.disk_critical)
        ));
        lines.push(format!(
            "  filesystems: {}; {}",
            describe_filter(&system.mountpoints, "mount points"),
            describe_filter(&system.fs_types, "types")
        ));
        lines.push(format!(
            "  network: {}",
            describe_filter(&system.interfaces, "interfaces")
        ));
    } else {
        lines.push("system: off (system.enabled = false)".to_string());
    }

    let enabled = config.checks.iter().filter(|c| c.enabled).count();
    if config.checks.is_empty() {
        lines.push(
            "checks: none ([[check]] tables add application, database, Redis and log checks)"
                .to_string(),
        );
    } else {
        lines.push(format!(
            "checks: {enabled} of {} enabled",
            config.checks.len()
        ));
    }
    for check in &config.checks {
        lines.push(format!(
            "  {} ({}, {}): {}, every {}, timeout {}{}",
            check.name,
            check.kind.type_name(),
            check.layer,
            check.kind.target(),
            format_duration(check.interval),
            format_duration(check.timeout),
            if check.enabled { "" } else { " [disabled]" }
        ));
    }
    for dependencies in dependency_graph(config) {
        if dependencies.waits_for.is_empty() {
            continue;
        }
        lines.push(format!(
            "  {} waits for {}{}",
            dependencies.check,
            dependencies.waits_for.join(", "),
            if dependencies.implied {
                " (implied by layers)"
            } else {
                ""
            }
        ));
    }

    let alerts = &config.alerts;
    let enabled: Vec<&str> = alerts
        .rules
        .iter()
        .filter(|r| r.enabled)
        .map(|r| r.name.as_str())
        .collect();
    let disabled = alerts.rules.len() - enabled.len();
    lines.push(format!(
        "alerts: {} rules{}: {}",
        enabled.len(),
        if disabled > 0 {
            format!(" ({disabled} disabled)")
        } else {
            String::new()
        },
        enabled.join(", ")
    ));
    lines.push(format!(
        "  repeat while firing: critical every {}, warning every {}, others every {}; grouped by {}, wait {} (critical {}), interval {}, resolutions after {}",
        format_duration(alerts.cooldowns.critical),
        format_duration(alerts.cooldowns.warning),
        format_duration(alerts.cooldowns.default),
        alerts.group_by.join(", "),
        format_duration(alerts.group_wait),
        format_duration(alerts.group_wait_critical),
        format_duration(alerts.group_interval),
        format_duration(alerts.resolve_wait),
    ));
    let flapping = &alerts.flapping;
    lines.push(format!(
        "  critical levels hold {} before firing unless a rule says otherwise (for_critical, at most its for); {}",
        format_duration(alerts.for_critical),
        if flapping.enabled {
            format!(
                "flapping at {} changes within {}, quiet until stable for {}",
                flapping.changes,
                format_duration(flapping.window),
                format_duration(flapping.stable_for)
            )
        } else {
            "flapping not detected (alerts.flapping.enabled = false)".to_string()
        }
    ));
    if let Some(gate) = &alerts.connectivity {
        lines.push(format!(
            "  connectivity: lost when {} all fail; then the alerts of {} are held, and {} after it returns",
            gate.canaries.join(", "),
            count(gate.held.len(), "check"),
            format_duration(gate.grace)
        ));
    }
    if config.notifiers.is_empty() {
        lines.push(
            "notifiers: none — alerts are recorded and shown but reach nobody ([[notifier]] adds email, a webhook or an Alertmanager)"
                .to_string(),
        );
    } else {
        lines.push(format!(
            "notifiers: {} (a failed send is tried again after {}, doubling up to {})",
            config.notifiers.len(),
            format_duration(config.alerts.outbox_backoff),
            format_duration(config.alerts.outbox_backoff_max),
        ));
        for notifier in &config.notifiers {
            let target = notifier.kind.summary();
            lines.push(format!(
                "  {} ({}): {target}",
                notifier.name,
                notifier.kind.type_name()
            ));
        }
    }

    lines.push(describe_maintenance(&config.maintenance));
    if !config.remote_write.is_empty() {
        lines.push(format!("remote write: {}", config.remote_write.len()));
        for rw in &config.remote_write {
            lines.push(format!(
                "  {}: {} samples per request, every {}, up to {} samples queued",
                rw.endpoint(),
                rw.batch_size,
                format_duration(rw.flush_interval),
                rw.max_queued_samples
            ));
        }
    }
    if let Some(receive) = &config.receive {
        let mut endpoints = Vec::new();
        if receive.remote_write {
            endpoints.push("remote write at /api/v1/write");
        }
        if receive.otlp {
            endpoints.push("OTLP metrics at /v1/metrics");
        }
        lines.push(format!(
            "receive: {}; at most {} series per sender, {} in all",
            if endpoints.is_empty() {
                "nothing (both receivers off)".to_string()
            } else {
                endpoints.join(", ")
            },
            receive.max_series_per_sender,
            receive.max_series_total
        ));
    }
    if let Some(heartbeat) = &config.heartbeat {
        lines.push(format!(
            "heartbeat: {} {} every {} while healthy{}",
            heartbeat.method,
            url_origin(heartbeat.url.expose()),
            format_duration(heartbeat.interval),
            if heartbeat.fail_url.is_some() {
                ", its fail_url while not"
            } else {
                ""
            }
        ));
    }

    let storage = &config.storage;
    lines.push(format!(
        "store: {}, at most {}, written every {}",
        storage.path.display(),
        format_size(storage.max_size),
        format_duration(storage.flush_interval)
    ));
    lines.push(format!(
        "  retention: raw {}, 1-minute {}, 1-hour {}",
        format_duration(storage.retention.raw),
        format_duration(storage.retention.minute),
        format_duration(storage.retention.hour)
    ));
    lines.push(describe_log(config));
    lines.join("\n")
}

/// One line: the log filter, the format when not text, and the file with its rotation.
fn describe_log(config: &Config) -> String {
    use crate::config::{LogFormat, LogOutput};
    let log = &config.log;
    let mut line = format!("log: {}", log.level);
    if log.format == LogFormat::Json {
        line.push_str(", json");
    }
    if log.output == LogOutput::File {
        line.push_str(&format!(
            ", to {} (rotated at {} or {}, {} kept)",
            log.file_path(&config.storage.path).display(),
            format_size(log.max_size),
            format_duration(log.max_age),
            log.keep
        ));
    }
    line
}

/// One line: where maintenance is read from (no secret: URLs are cut to their origin, DSNs
/// masked), the planned windows and the control steps.
fn describe_maintenance(maintenance: &MaintenanceConfig) -> String {
    let control = &maintenance.control;
    let (starts, stops) = (control.start.len(), control.stop.len());
    let Some(source) = &maintenance.source else {
        if maintenance.windows.is_empty() && starts + stops == 0 {
            return "maintenance: known only from HTTP checks' maintenance answers \
                    ([maintenance] adds a status source, planned windows and control steps)"
                .to_string();
        }
        return format!(
            "maintenance: no source; {}; {}",
            count(maintenance.windows.len(), "planned window"),
            describe_control(starts, stops)
        );
    };
    let target = match &source.kind {
        SourceKind::Http(HttpSource { url, .. }) => url_origin(url.expose()),
        SourceKind::Sql(SqlSource { dsn, .. }) => mask_url(dsn.expose()),
        SourceKind::Redis(RedisSource { url, key }) => {
            format!("{} key {key:?}", mask_url(url.expose()))
        }
    };
    format!(
        "maintenance: {} source {target} every {}; {}; {}",
        source.kind.type_name(),
        format_duration(source.interval),
        count(maintenance.windows.len(), "planned window"),
        describe_control(starts, stops)
    )
}

fn describe_control(starts: usize, stops: usize) -> String {
    if starts + stops == 0 {
        "no control steps".to_string()
    } else {
        format!(
            "control: {}, {}",
            count(starts, "start step"),
            count(stops, "stop step")
        )
    }
}

/// "no planned windows", "1 planned window", "2 planned windows".
fn count(n: usize, noun: &str) -> String {
    match n {
        0 => format!("no {noun}s"),
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// "all mount points but 5 patterns", "only eth0, ens5 (but 2 patterns)".
fn describe_filter(filter: &NameFilter, noun: &str) -> String {
    let exclusions = match filter.exclude.len() {
        0 => String::new(),
        1 => format!("but {:?}", filter.exclude_patterns()[0]),
        n => format!("but {n} patterns"),
    };
    let includes = filter.include_patterns();
    match (includes.is_empty(), exclusions.is_empty()) {
        (true, true) => format!("all {noun}"),
        (true, false) => format!("all {noun} {exclusions}"),
        (false, true) => format!("{noun} matching {}", includes.join(", ")),
        (false, false) => format!("{noun} matching {} ({exclusions})", includes.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::embedded_default;

    #[test]
    fn default_summary() {
        assert_eq!(
            summary(&embedded_default()),
            "config: embedded default (no file)\n\
             http: dashboard, API and /metrics on 127.0.0.1:9898\n\
             system: every 10s: cpu, memory, load, filesystems, network\n  \
             thresholds (warning/critical): cpu 80%/95%, memory 85%/95%, disk 90%/95%\n  \
             filesystems: all mount points but 5 patterns; all types but 27 patterns\n  \
             network: all interfaces but 20 patterns\n\
             checks: none ([[check]] tables add application, database, Redis and log checks)\n\
             alerts: 14 rules (1 disabled): cpu_usage, memory_usage, disk_usage, http_response_time, check_failed, \
             check_no_data, host_down, security_incident, connectivity_lost, collection_late, store_errors, store_unwritable, \
             outbox_backlog, outbox_stuck\n\
             \x20 repeat while firing: critical every 5m, warning every 30m, others every 15m; grouped by host, wait 10s (critical 0s), interval 1m, resolutions after 10s\n\
             \x20 critical levels hold 15s before firing unless a rule says otherwise (for_critical, at most its for); flapping at 5 changes within 10m, quiet until stable for 2m\n\
             notifiers: none — alerts are recorded and shown but reach nobody ([[notifier]] adds email, a webhook or an Alertmanager)\n\
             maintenance: known only from HTTP checks' maintenance answers ([maintenance] adds a status source, planned windows and control steps)\n\
             store: ./lookout-data, at most 1GiB, written every 10s\n  \
             retention: raw 7d, 1-minute 90d, 1-hour 730d\n\
             log: info"
        );
    }

    #[test]
    fn maintenance_line_shows_where_without_secrets() {
        let env = |_: &str| Some("s3cret".to_string());
        for (text, line) in [
            (
                "[maintenance.source]\ntype = \"sql\"\ndsn = \"mysql://monitor:${DB_PASSWORD}@db:3306/app\"\n\
                 query = \"SELECT 1 AS active\"\n\
                 [[maintenance.window]]\nname = \"w\"\ncron = \"0 2 * * SUN\"\nduration = \"1h\"\n\
                 [[maintenance.control.start]]\ntype = \"command\"\ncommand = [\"app\", \"on\"]\n",
                "maintenance: sql source mysql://monitor:***@db:3306/app every 15s; 1 planned window; \
                 control: 1 start step, no stop steps",
            ),
            (
                "[maintenance.source]\ntype = \"http\"\ninterval = \"1m\"\n\
                 url = \"https://user:${PASSWORD}@app.example.org/status?token=${TOKEN}\"\n",
                "maintenance: http source https://app.example.org every 1m; no planned windows; no control steps",
            ),
            (
                "[maintenance.source]\ntype = \"redis\"\nurl = \"redis://:${REDIS_PASSWORD}@cache:6379/0\"\nkey = \"m\"\n",
                "maintenance: redis source redis://:***@cache:6379/0 key \"m\" every 15s; no planned windows; \
                 no control steps",
            ),
            (
                "[[maintenance.window]]\nname = \"w\"\nstart = \"2026-12-24T02:00:00Z\"\nduration = \"1h\"\n\
                 [[maintenance.window]]\nname = \"v\"\nstart = \"2026-12-31T02:00:00Z\"\nduration = \"1h\"\n",
                "maintenance: no source; 2 planned windows; no control steps",
            ),
        ] {
            let config = crate::config::from_str(text, "t", &env).unwrap_or_else(|e| panic!("{e}"));
            let shown = summary(&config);
            assert!(
                shown.contains(&format!("\n{line}\n")),
                "{line:?} not in:\n{shown}"
            );
            assert!(!shown.contains("s3cret"), "{shown}");
        }
    }

    #[test]
    fn alert_timing_line_follows_the_config() {
        let config = crate::config::from_str(
            "[alerts]\nfor_critical = \"5s\"\n[alerts.flapping]\nenabled = false\n",
            "t",
            &|_| None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            summary(&config).contains(
                "\n  critical levels hold 5s before firing unless a rule says otherwise \
                 (for_critical, at most its for); flapping not detected (alerts.flapping.enabled = false)\n"
            ),
            "{}",
            summary(&config)
        );
    }

    #[test]
    fn notifier_line_shows_the_retry_backoff() {
        let config = crate::config::from_str(
            "[alerts]\noutbox_backoff = \"1s\"\noutbox_backoff_max = \"30s\"\n\
             [[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"https://hooks.example.org/x\"\n",
            "t",
            &|_| None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            summary(&config).contains(
                "\nnotifiers: 1 (a failed send is tried again after 1s, doubling up to 30s)\n"
            ),
            "{}",
            summary(&config)
        );
    }

    #[test]
    fn filters_and_disabled_system() {
        let mut config = embedded_default();
        config.system.enabled = false;
        assert!(summary(&config).contains("\nsystem: off (system.enabled = false)\n"));
        let cases = [
            (NameFilter::new(&[], &[]), "all interfaces"),
            (NameFilter::new(&[], &["lo"]), "all interfaces but \"lo\""),
            (
                NameFilter::new(&["eth.*", "ens5"], &[]),
                "interfaces matching eth.*, ens5",
            ),
            (
                NameFilter::new(&["eth.*"], &["eth9", "eth8"]),
                "interfaces matching eth.* (but 2 patterns)",
            ),
        ];
        for (filter, expected) in cases {
            assert_eq!(
                describe_filter(&filter.unwrap_or_default(), "interfaces"),
                expected
            );
        }
    }

    #[test]
    fn config_check_tells_the_heartbeat_and_the_gate_without_secrets() {
        const CHECKS: &str = "[[check]]\nname = \"gw\"\ntype = \"tcp\"\naddress = \"10.0.0.1:53\"\ninterval = \"10s\"\n\
            [[check]]\nname = \"dns\"\ntype = \"tcp\"\naddress = \"9.9.9.9:53\"\ninterval = \"10s\"\n\
            [[check]]\nname = \"app\"\ntype = \"http\"\nurl = \"http://10.0.0.5/health\"\ninterval = \"1m\"\n\
            [[check]]\nname = \"applog\"\ntype = \"log\"\npath = \"/var/log/app.log\"\n\
            [[check.pattern]]\nname = \"e\"\nregex = \"ERROR\"\n";
        let env = |name: &str| (name == "HC").then(|| "abc-123".to_string());
        let text = format!(
            "{CHECKS}[alerts.connectivity]\ncanaries = [\"gw\", \"dns\"]\n\
             [heartbeat]\nurl = \"https://hc-ping.com/${{HC}}\"\nfail_url = \"https://hc-ping.com/${{HC}}/fail\"\n"
        );
        let config = crate::config::from_str(&text, "lookout.toml", &env)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let shown = summary(&config);
        assert!(!shown.contains("abc-123"), "{shown}");
        assert!(
            shown.contains(
                "heartbeat: GET https://hc-ping.com every 1m while healthy, its fail_url while not"
            ),
            "{shown}"
        );
        assert!(
            shown.contains("  connectivity: lost when gw, dns all fail; then the alerts of 3 checks are held, and 3m after it returns"),
            "{shown}"
        );
    }
}
