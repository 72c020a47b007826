//! `lookout config init`: a complete, commented config for a preset. Every key the reader
//! accepts is written with the preset's value and one comment line on what it does; a test
//! parses each template back and another checks it names every key, so the example cannot
//! drift from the code.
//!
//! The text is rendered from a `Config` (the preset), not kept as a static file, so that
//! defaults live in one place (`defaults.rs`).

use super::defaults::{embedded_default, minimal};
use super::{CheckKind, Config, NameFilter};
use crate::base::units::{format_duration, format_percent, format_size};

/// A named starting point for `lookout config init --preset NAME`.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    /// One line for `--help` and for the unknown-preset error.
    pub description: &'static str,
    config: fn() -> Config,
    /// `[[check]]` tables written after the rendered settings (health checks have no
    /// defaults, so a preset that has them carries them as text).
    checks: Option<&'static str>,
}

/// The presets, in the order they are listed to users.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "default",
        description: "the built-in defaults",
        config: embedded_default,
        checks: None,
    },
    Preset {
        name: "minimal",
        description: "a small VPS: system metrics every minute, at most 256MiB of history",
        config: minimal,
        checks: None,
    },
    Preset {
        name: "vedfolnir",
        description: "a Vedfolnir deployment: health endpoints, app metrics, MySQL, Redis sessions, the webapp log",
        config: embedded_default,
        checks: Some(include_str!("presets/vedfolnir.toml")),
    },
];

/// `init_template` was asked for a preset that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown preset {name:?}; available presets: {}", preset_list())]
pub struct UnknownPreset {
    pub name: String,
}

fn preset_list() -> String {
    PRESETS
        .iter()
        .map(|preset| format!("{:?} ({})", preset.name, preset.description))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The commented config text for `preset` ("default" or "minimal").
pub fn init_template(preset: &str) -> Result<String, UnknownPreset> {
    let preset = PRESETS
        .iter()
        .find(|known| known.name == preset)
        .ok_or_else(|| UnknownPreset {
            name: preset.to_string(),
        })?;
    Ok(render(preset, &(preset.config)()))
}

/// Writes `config` as a commented TOML file. The comment of a value that differs from the
/// built-in default ends with that default, so a preset also documents what it changed.
fn render(preset: &Preset, config: &Config) -> String {
    let defaults = embedded_default();
    let mut t = Template::default();
    t.comment(&format!(
        "Lookout configuration, preset {:?}: {}.",
        preset.name, preset.description
    ));
    t.comment("Every key is listed with its value and one line on what it does; delete what you do not change.");
    t.comment("Durations: \"500ms\", \"10s\", \"5m\", \"1h\", \"7d\". Sizes: \"512MiB\", \"1GiB\", \"100MB\". Percents: \"80%\".");
    t.comment("Any string may use ${ENV_VAR} (an unset variable is an error); write $${ for a literal ${.");
    t.comment("A list written here replaces the default list; it is not added to it.");
    t.comment("Check a change with: lookout config check <this file>");

    let (server, default_server) = (&config.server, &defaults.server);
    t.table(
        "server",
        "The HTTP server: dashboard, JSON API and /metrics.",
    );
    t.key(
        "listen",
        string(&server.listen.to_string()),
        string(&default_server.listen.to_string()),
        "Address and port to listen on; \"0.0.0.0:9898\" accepts other hosts too (then TLS, or insecure_http, is required).",
    );
    match (&server.tls_cert, &server.tls_key) {
        (Some(cert), Some(key)) => {
            let cert = string(&cert.to_string_lossy());
            t.key(
                "tls_cert",
                cert.clone(),
                cert,
                "TLS certificate chain (PEM); with tls_key, serve HTTPS only.",
            );
            let key = string(&key.to_string_lossy());
            t.key(
                "tls_key",
                key.clone(),
                key,
                "Private key of tls_cert (PEM).",
            );
        }
        _ => {
            t.comment("TLS certificate chain and its private key (PEM files, both or neither): serve HTTPS only.");
            t.comment("tls_cert = \"/etc/lookout/tls/cert.pem\"");
            t.comment("tls_key = \"/etc/lookout/tls/key.pem\"");
        }
    }
    t.key(
        "insecure_http",
        server.insecure_http.to_string(),
        default_server.insecure_http.to_string(),
        "Allow plain HTTP on a non-loopback listen address (only behind a TLS-terminating proxy).",
    );
    t.key(
        "session_idle_timeout",
        duration(server.session_idle_timeout),
        duration(default_server.session_idle_timeout),
        "A dashboard login ends after this long without a request.",
    );
    t.key(
        "session_max_age",
        duration(server.session_max_age),
        duration(default_server.session_max_age),
        "A dashboard login ends this long after it began, active or not.",
    );

    t.key(
        "metrics_refresh",
        duration(server.metrics_refresh),
        duration(default_server.metrics_refresh),
        "While Prometheus scrapes, /metrics is rendered this often ahead of the scrapes (\"0s\": during each scrape).",
    );
    let proxies = |nets: &[ipnet::IpNet]| {
        let nets: Vec<String> = nets.iter().map(|net| string(&net.to_string())).collect();
        format!("[{}]", nets.join(", "))
    };
    t.key(
        "trusted_proxies",
        proxies(&server.trusted_proxies),
        proxies(&default_server.trusted_proxies),
        "Reverse proxies (addresses or networks, like \"127.0.0.1\") whose X-Forwarded-For names the client, for the login limits.",
    );
    t.key(
        "header_read_timeout",
        duration(server.header_read_timeout),
        duration(default_server.header_read_timeout),
        "A connection that has not sent a whole request head this long after it opened is closed (1s to 5m).",
    );
    t.key(
        "tls_handshake_timeout",
        duration(server.tls_handshake_timeout),
        duration(default_server.tls_handshake_timeout),
        "With TLS: a connection whose handshake is not done this long after it opened is closed (1s to 5m).",
    );
    t.key(
        "idle_timeout",
        duration(server.idle_timeout),
        duration(default_server.idle_timeout),
        "A kept-alive connection with no new request this long after its last response is closed (1s to 1h).",
    );
    t.key(
        "max_connections",
        server.max_connections.to_string(),
        default_server.max_connections.to_string(),
        "Web connections open at once (16 to 1000000); at the cap the one waiting longest for a request is closed.",
    );
    t.comment("/metrics on a second address too (only /metrics is served there):");
    t.comment("metrics_listen = \"0.0.0.0:9899\"");
    t.comment("Make /metrics need credentials (it is open by default, like node_exporter's):");
    t.comment("metrics_token = \"${LOOKOUT_METRICS_TOKEN}\"    # Authorization: Bearer ...");
    t.comment("metrics_user = \"prometheus\"                  # or basic auth, both keys");
    t.comment("metrics_password = \"${LOOKOUT_METRICS_PASSWORD}\"");

    let (storage, default_storage) = (&config.storage, &defaults.storage);
    t.table(
        "storage",
        "The history: where it is kept, how big it may grow, how long it is kept.",
    );
    t.key(
        "path",
        string(&storage.path.to_string_lossy()),
        string(&default_storage.path.to_string_lossy()),
        "Data directory, relative to the working directory; \"/var/lib/lookout\" is typical for a service.",
    );
    t.key(
        "max_size",
        string(&format_size(storage.max_size)),
        string(&format_size(default_storage.max_size)),
        "Disk budget: past it, the oldest data of the finest tier is dropped first.",
    );
    t.key(
        "flush_interval",
        duration(storage.flush_interval),
        duration(default_storage.flush_interval),
        "How often samples are written to disk (at most \"10s\"): the most a crash can lose.",
    );
    t.key(
        "max_buffered_samples",
        storage.max_buffered_samples.to_string(),
        default_storage.max_buffered_samples.to_string(),
        "Most samples kept in memory while the disk cannot take them (full, read-only); the oldest go first. ~16 bytes each.",
    );

    let (retention, default_retention) = (&storage.retention, &default_storage.retention);
    t.table(
        "storage.retention",
        "How long each tier is kept; raw <= minute <= hour.",
    );
    t.key(
        "raw",
        duration(retention.raw),
        duration(default_retention.raw),
        "Every sample, as collected.",
    );
    t.key(
        "minute",
        duration(retention.minute),
        duration(default_retention.minute),
        "One-minute aggregates.",
    );
    t.key(
        "hour",
        duration(retention.hour),
        duration(default_retention.hour),
        "One-hour aggregates (\"730d\" is two years).",
    );

    let (system, default_system) = (&config.system, &defaults.system);
    t.table(
        "system",
        "Host metrics: cpu, memory, load, filesystems and network.",
    );
    t.key(
        "enabled",
        system.enabled.to_string(),
        default_system.enabled.to_string(),
        "Collect host metrics at all.",
    );
    t.key(
        "interval",
        duration(system.interval),
        duration(default_system.interval),
        "How often to collect them.",
    );
    t.key(
        "per_core",
        system.per_core.to_string(),
        default_system.per_core.to_string(),
        "Also record each core's busy ratio (one series per core).",
    );
    t.filter(
        "system.filesystems",
        "Mount points to watch: regexes matching the whole mount point.",
        &system.mountpoints,
        &default_system.mountpoints,
        "Never these: kernel, container and snap mounts.",
    );
    t.filter(
        "system.fs_types",
        "Filesystem types to watch (as in /proc/mounts): regexes matching the whole type.",
        &system.fs_types,
        &default_system.fs_types,
        "Never these: pseudo, memory-backed and read-only image filesystems.",
    );
    t.filter(
        "system.interfaces",
        "Network interfaces to watch: regexes matching the whole name.",
        &system.interfaces,
        &default_system.interfaces,
        "Never these: loopback and virtual links (containers, VMs, bridges, tunnels).",
    );

    let (thresholds, default_thresholds) = (&system.thresholds, &default_system.thresholds);
    t.table(
        "system.thresholds",
        "When the system health checks warn and go critical; each warning must be below its critical.",
    );
    for (key, value, default, doc) in [
        (
            "cpu_warning",
            thresholds.cpu_warning,
            default_thresholds.cpu_warning,
            "CPU busy (all cores) at which the cpu check warns.",
        ),
        (
            "cpu_critical",
            thresholds.cpu_critical,
            default_thresholds.cpu_critical,
            "CPU busy (all cores) at which it is critical.",
        ),
        (
            "memory_warning",
            thresholds.memory_warning,
            default_thresholds.memory_warning,
            "Memory in use at which the memory check warns.",
        ),
        (
            "memory_critical",
            thresholds.memory_critical,
            default_thresholds.memory_critical,
            "Memory in use at which it is critical.",
        ),
        (
            "disk_warning",
            thresholds.disk_warning,
            default_thresholds.disk_warning,
            "Space used on any watched filesystem at which the disk check warns.",
        ),
        (
            "disk_critical",
            thresholds.disk_critical,
            default_thresholds.disk_critical,
            "Space used on any watched filesystem at which it is critical.",
        ),
    ] {
        t.key(key, percent(value), percent(default), doc);
    }

    t.table(
        "log",
        "Lookout's own log: to stderr, or to a file rotated by size and age. It never holds a secret or a line a log check matched; changes take effect at the next restart.",
    );
    t.key(
        "level",
        string(&config.log.level),
        string(&defaults.log.level),
        "A level (error, warn, info, debug, trace) or directives like \"lookout=debug,info\"; --log-level and RUST_LOG override it.",
    );
    log_keys(&mut t, &config.log, &defaults.log);
    t.out.push('\n');
    // [alerts] addition: before the checks, whose last example block runs to the end.
    t.out.push_str(ALERTS_DOC);
    t.out.push('\n');
    t.out.push_str(&checks_doc());
    if let Some(checks) = preset.checks {
        t.out.push('\n');
        t.out.push_str(checks);
    }
    t.out.push_str(&super::notifiers::template()); // notifiers: the kinds' examples, tested in crate::notifiers
    t.out.push_str(super::maintenance::TEMPLATE); // [maintenance]: the same, tested in maintenance.rs
    t.out.push_str(super::remote_write::TEMPLATE); // [[remote_write]]: the same, tested in remote_write.rs
    t.out.push_str(super::watch::TEMPLATE); // [heartbeat], [alerts.connectivity]: tested in watch.rs
    t.out
}

/// `[log]` beyond `level`: format, output and the rotation of the log file.
fn log_keys(t: &mut Template, log: &super::LogConfig, default: &super::LogConfig) {
    t.key(
        "format",
        string(log.format.as_str()),
        string(default.format.as_str()),
        "\"text\" (colours only on a terminal) or \"json\" (one object per line: timestamp, level, target, message, fields).",
    );
    t.key(
        "output",
        string(log.output.as_str()),
        string(default.output.as_str()),
        "\"stderr\" (for systemd's journal, or a terminal) or \"file\" (the file below, rotated; 0600 in a 0700 directory).",
    );
    match &log.file {
        Some(file) => {
            let file = string(&file.to_string_lossy());
            t.key(
                "file",
                file.clone(),
                file,
                "The log file with output = \"file\".",
            );
        }
        None => {
            t.comment("The log file with output = \"file\"; default: logs/lookout.log in the data directory (storage.path).");
            t.comment(
                "file = \"/var/log/lookout/lookout.log\"   # the systemd unit's LogsDirectory",
            );
        }
    }
    t.key(
        "max_size",
        string(&format_size(log.max_size)),
        string(&format_size(default.max_size)),
        "The file is rotated (lookout.log -> lookout.log.1 -> lookout.log.2 ...) before it grows past this.",
    );
    t.key(
        "max_age",
        duration(log.max_age),
        duration(default.max_age),
        "... and once its first line is this old.",
    );
    t.key(
        "keep",
        log.keep.to_string(),
        default.keep.to_string(),
        "Rotated files kept; older ones are deleted (0: none).",
    );
}

/// The keys every check has, as the start of the first example (`{check_types}`: the list of
/// types).
const CHECKS_DOC: &str = include_str!("checks/template.toml");

/// Health checks have no default, so the template documents them as commented examples: the
/// keys every check has, then each type's own example (`crate::checks`), in registration
/// order.
fn checks_doc() -> String {
    let mut doc = CHECKS_DOC.replace("{check_types}", &CheckKind::type_names().join(", "));
    for (index, example) in CheckKind::templates().into_iter().enumerate() {
        if index > 0 {
            doc.push_str("#\n");
        }
        doc.push_str(example);
    }
    doc
}

/// [alerts] addition: the alert settings and rules, as commented examples (the built-in rules
/// are code, and `host` defaults to the machine's name, which a written file must not pin).
pub(super) const ALERTS_DOC: &str = include_str!("alerts_template.toml");

#[derive(Default)]
struct Template {
    out: String,
}

impl Template {
    fn comment(&mut self, text: &str) {
        self.out.push_str("# ");
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn table(&mut self, header: &str, doc: &str) {
        self.out.push('\n');
        self.comment(doc);
        self.out.push_str(&format!("[{header}]\n"));
    }

    fn key(&mut self, key: &str, value: String, default: String, doc: &str) {
        if value == default {
            self.comment(doc);
        } else {
            self.comment(&format!("{doc} Default: {default}."));
        }
        self.out.push_str(&format!("{key} = {value}\n"));
    }

    fn filter(
        &mut self,
        header: &str,
        doc: &str,
        filter: &NameFilter,
        default: &NameFilter,
        exclude_doc: &str,
    ) {
        self.table(header, doc);
        self.key(
            "include",
            array("include", &filter.include_patterns()),
            array("include", &default.include_patterns()),
            "Only these (empty: all).",
        );
        self.key(
            "exclude",
            array("exclude", &filter.exclude_patterns()),
            array("exclude", &default.exclude_patterns()),
            exclude_doc,
        );
    }
}

fn duration(value: std::time::Duration) -> String {
    string(&format_duration(value))
}

fn percent(ratio: f64) -> String {
    string(&format_percent(ratio))
}

/// A TOML string that reads back as `value`: a literal string ('...') when that avoids
/// doubling backslashes (regexes), else a basic string with escapes. `${` is written `$${`
/// because the reader substitutes environment variables in every string.
fn string(value: &str) -> String {
    let value = value.replace("${", "$${");
    let literal_ok = !value.contains('\'') && !value.chars().any(char::is_control);
    if literal_ok && (value.contains('\\') || value.contains('"')) {
        return format!("'{value}'");
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML array of strings: on one line when short, else wrapped with several per line.
fn array(key: &str, values: &[&str]) -> String {
    const WIDTH: usize = 100;
    let items: Vec<String> = values.iter().map(|value| string(value)).collect();
    let one_line = format!("[{}]", items.join(", "));
    if key.len() + 3 + one_line.len() <= WIDTH {
        return one_line;
    }
    let mut out = String::from("[\n");
    let mut line = String::new();
    for item in items {
        if !line.is_empty() && 4 + line.len() + item.len() + 2 > WIDTH {
            out.push_str(&format!("    {}\n", line.trim_end()));
            line.clear();
        }
        line.push_str(&item);
        line.push_str(", ");
    }
    if !line.is_empty() {
        out.push_str(&format!("    {}\n", line.trim_end()));
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::super::{CheckKind, from_str};
    use super::*;
    use crate::base::schema::Reader;
    use toml::de::{DeTable, DeValue};

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn each_template_parses_back_to_its_preset() {
        for preset in PRESETS {
            let text = init_template(preset.name).unwrap_or_default();
            let env = |name: &str| (name == "VEDFOLNIR_DB_PASSWORD").then(|| "pw".to_string());
            let parsed = from_str(&text, preset.name, &env);
            match parsed {
                Ok(mut config) => {
                    assert_eq!(
                        config.checks.is_empty(),
                        preset.checks.is_none(),
                        "preset {} checks",
                        preset.name
                    );
                    config.checks.clear();
                    // A preset's own text may also set a maintenance source (read like checks).
                    assert_eq!(
                        config.maintenance.source.take().is_some(),
                        preset.name == "vedfolnir",
                        "preset {} maintenance source",
                        preset.name
                    );
                    assert_eq!(config, (preset.config)(), "preset {}", preset.name)
                }
                Err(error) => panic!(
                    "template {:?} does not parse:\n{error}\n{text}",
                    preset.name
                ),
            }
        }
    }

    #[test]
    fn default_template_is_the_embedded_default() {
        let text = init_template("default").unwrap_or_default();
        assert_eq!(from_str(&text, "t", &no_env).ok(), Some(embedded_default()));
    }

    #[test]
    fn default_template_documents_every_key() {
        // The reader asks for every key of the schema even in an empty file (defaults apply),
        // so its list of asked keys is the schema.
        let empty = DeTable::new();
        let mut reader = Reader::new("empty", "", &no_env);
        let _ = super::super::parse::read_config(&mut reader, &empty);
        let schema = reader.asked_paths();
        assert!(schema.len() > 30, "schema looks incomplete: {schema:?}");

        let text = init_template("default").unwrap_or_default();
        let template = DeTable::parse(&text)
            .map(|t| t.into_inner())
            .unwrap_or_default();
        for path in &schema {
            if path == "check" {
                assert!(text.contains("# [[check]]"), "checks are not documented");
                continue;
            }
            // [alerts] addition: commented out; `alerts::tests` checks the fragment key by key.
            if path == "alerts" || path.starts_with("alerts.") {
                assert!(text.contains(ALERTS_DOC), "alerts are not documented");
                continue;
            }
            // Commented out; `maintenance::tests` checks the fragment key by key.
            if path == "maintenance" || path.starts_with("maintenance.") {
                assert!(
                    text.contains(super::super::maintenance::TEMPLATE),
                    "maintenance is not documented"
                );
                continue;
            }
            if path == "remote_write" {
                assert!(
                    text.contains("# [[remote_write]]"),
                    "remote write is not documented"
                );
                continue;
            }
            // Commented out; `watch::tests` checks the fragment key by key.
            if path == "heartbeat" || path.starts_with("heartbeat.") {
                assert!(text.contains(super::super::watch::TEMPLATE));
                continue;
            }
            if path == "notifier" {
                assert!(
                    text.contains("# [[notifier]]"),
                    "notifiers are not documented"
                );
                continue;
            }
            // Optional, no default: shown commented out.
            if path == "log.file" {
                assert!(text.contains("# file = "), "{path} is not documented");
                continue;
            }
            if let Some(key) = path.strip_prefix("server.").filter(|k| {
                matches!(*k, "tls_cert" | "tls_key")
                    || (k.starts_with("metrics_") && *k != "metrics_refresh")
            }) {
                assert!(
                    text.contains(&format!("# {key} = ")),
                    "{path} is not documented"
                );
                continue;
            }
            let mut table = &template;
            let mut found = None;
            for part in path.split('.') {
                found = table.get(part).map(|value| value.get_ref());
                if let Some(DeValue::Table(child)) = found {
                    table = child;
                }
            }
            assert!(
                found.is_some(),
                "the default template does not mention {path}"
            );
        }
        // One comment line per key: every `key = value` line follows a comment.
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            if line.contains(" = ") && !line.starts_with('#') {
                assert!(
                    index > 0 && lines[index - 1].starts_with("# "),
                    "no comment above {line:?}"
                );
            }
        }
    }

    #[test]
    fn every_check_example_uncommented_is_a_valid_check() {
        // Uncomment each example block: from a "# [[check]]" line to the next blank comment.
        let text = init_template("default").unwrap_or_default();
        let mut uncommented = String::new();
        let mut in_block = false;
        for line in text.lines() {
            if line.trim_end() == "# [[check]]" {
                in_block = true;
            } else if line.trim_end() == "#" {
                in_block = false;
            }
            let line = match line.strip_prefix("# ") {
                Some(rest) if in_block => rest,
                _ => line,
            };
            uncommented.push_str(line);
            uncommented.push('\n');
        }
        for line in checks_doc().lines() {
            assert!(line.starts_with('#'), "not a comment: {line:?}");
            assert!(
                line.chars().count() <= 110,
                "longer than 110 characters: {line:?}"
            );
        }
        let env = |_: &str| Some("x".to_string());
        let config = match from_str(&uncommented, "uncommented", &env) {
            Ok(config) => config,
            Err(error) => panic!("the check examples do not parse:\n{error}\n{uncommented}"),
        };
        let types: Vec<&str> = config
            .checks
            .iter()
            .map(|check| check.kind.type_name())
            .collect();
        assert_eq!(types, CheckKind::type_names(), "one check per type");
        // Complete: every key the reader asks of a check of that type is in its example (the
        // keys every check has are shown once, in the first; mysql and sqlite point at postgres).
        let document = DeTable::parse(&uncommented)
            .map(|t| t.into_inner())
            .unwrap_or_default();
        let mut reader = Reader::new("uncommented", &uncommented, &env);
        let _ = super::super::parse::read_config(&mut reader, &document);
        let mut written = Vec::new();
        if let Some(DeValue::Array(checks)) = document.get("check").map(|v| v.get_ref()) {
            for (index, check) in checks.iter().enumerate() {
                if let DeValue::Table(table) = check.get_ref() {
                    keys_of(table, &format!("check[{index}]"), &mut written);
                }
            }
        }
        const COMMON: &[&str] = &[
            "name",
            "type",
            "layer",
            "interval",
            "timeout",
            "retries",
            "recover_after",
            "error_window",
            "depends_on",
            "enabled",
        ];
        for asked in reader.asked_paths() {
            let Some((index, key)) = asked
                .strip_prefix("check[")
                .and_then(|rest| rest.split_once("]."))
            else {
                continue;
            };
            let index: usize = index.parse().unwrap_or_default();
            let check_type = types[index];
            if matches!(check_type, "mysql" | "sqlite") || (index > 0 && COMMON.contains(&key)) {
                continue;
            }
            let key = without_indices(key);
            assert!(
                written.contains(&format!("check[{index}].{key}")),
                "the {check_type} example does not show {key}"
            );
        }
        // The nested tables were read too, not silently dropped.
        for check in &config.checks {
            match &check.kind {
                CheckKind::Http(http) => {
                    assert_eq!((http.asserts.len(), http.extracts.len()), (4, 1));
                    assert_eq!(http.request.headers.len(), 2);
                }
                CheckKind::Sql(sql) if sql.dialect == crate::checks::sql::Dialect::Postgres => {
                    assert_eq!(sql.queries.len(), 1)
                }
                CheckKind::Log(log) => assert_eq!(log.patterns.len(), 1),
                _ => {}
            }
        }
    }

    /// Every key path under `prefix`, with the index of a nested array of tables left out
    /// (`check[0].assert.equals`), so a key shown in any of the tables counts.
    fn keys_of(table: &DeTable<'_>, prefix: &str, out: &mut Vec<String>) {
        for (key, value) in table.iter() {
            let path = format!("{prefix}.{}", key.get_ref());
            if let DeValue::Array(items) = value.get_ref() {
                for item in items {
                    if let DeValue::Table(child) = item.get_ref() {
                        keys_of(child, &path, out);
                    }
                }
            }
            out.push(path);
        }
    }

    /// "assert[1].equals" -> "assert.equals".
    fn without_indices(path: &str) -> String {
        let mut out = String::with_capacity(path.len());
        let mut in_index = false;
        for c in path.chars() {
            match c {
                '[' => in_index = true,
                ']' => in_index = false,
                c if !in_index => out.push(c),
                _ => {}
            }
        }
        out
    }

    #[test]
    fn minimal_template_notes_what_it_changed() {
        let text = init_template("minimal").unwrap_or_default();
        assert!(text.contains("interval = \"1m\""), "{text}");
        assert!(
            text.contains("How often to collect them. Default: \"10s\".\n"),
            "{text}"
        );
        assert!(text.contains("max_size = \"256MiB\""), "{text}");
    }

    #[test]
    fn unknown_preset_lists_the_available_ones() {
        assert_eq!(
            init_template("huge").err().map(|error| error.to_string()),
            Some(
                "unknown preset \"huge\"; available presets: \"default\" (the built-in defaults), \
                 \"minimal\" (a small VPS: system metrics every minute, at most 256MiB of history), \
                 \"vedfolnir\" (a Vedfolnir deployment: health endpoints, app metrics, MySQL, Redis sessions, the webapp log)"
                    .to_string()
            )
        );
    }

    #[test]
    fn strings_read_back_unchanged() {
        for value in [
            "plain",
            "fuse\\.(a|b)",
            "say \"hi\"",
            "it's \\d",
            "tab\there",
            "${HOME}",
            "$${",
            "é",
        ] {
            let text = format!("v = {}", string(value));
            let document = DeTable::parse(&text)
                .map(|t| t.into_inner())
                .unwrap_or_default();
            let read = document
                .get("v")
                .and_then(|v| v.get_ref().as_str())
                .map(str::to_string);
            let expanded = read.map(|raw| crate::base::schema::expand(&raw, &no_env));
            assert_eq!(expanded, Some(Ok(value.to_string())), "{text}");
        }
    }
}
