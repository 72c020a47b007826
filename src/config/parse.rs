//! The schema of the Lookout config: every key, its default (from `embedded_default`), how its
//! value is read and what is checked. Reading goes through `base::schema`, which records the keys
//! asked for here (so unknown keys are found without a separate list) and collects problems.
//!
//! Wording of messages, kept consistent so golden tests can pin them:
//! - wrong TOML type: `expected <form>, found <type>`
//! - unreadable string: `"<value>" is not a <thing>; expected <form, with examples>`
//! - out of range: `"<value>" <what is wrong>; expected <range>`
//!
//! Messages quote the offending value. A future secret (a password, a token) must not: give it
//! a message that names the problem without the value.

use std::net::SocketAddr;
use std::time::Duration;

use toml::de::DeTable;

use super::defaults::compile_pattern;
use super::{
    Config, NameFilter, Retention, ServerConfig, StorageConfig, SystemConfig, SystemThresholds,
    embedded_default,
};
use crate::base::schema::{
    Kind, LineIndex, Problem, Reader, Table, Text, bool_setting, both_or_neither, duration_setting,
    not_longer, path_text, pattern_list, percent_setting, positive, size_setting, string_setting,
    warning_below_critical, whole_setting, within,
};
use crate::base::secret::Secret;
use crate::base::units::{format_duration, format_size};

/// The range of `storage.max_buffered_samples`: at least a few flushes of a busy host, at
/// most ~1.6 GB of memory.
const MIN_BUFFERED_SAMPLES: u64 = 1_000;
const MAX_BUFFERED_SAMPLES: u64 = 100_000_000;
/// The longest allowed `storage.flush_interval`: it bounds how much a crash can lose.
const MAX_FLUSH_INTERVAL: Duration = Duration::from_secs(10);
/// The range of `server.max_connections`: fewer would leave no room for a browser's few
/// connections next to a scraper; more than a million is more than any fd limit allows.
const MIN_CONNECTIONS: u32 = crate::fds::MIN_CONNECTIONS as u32;
const MAX_CONNECTIONS: u32 = 1_000_000;
/// The smallest useful `storage.max_size`: below it the store cannot hold a day of samples.
const MIN_MAX_SIZE: u64 = 1 << 20;

/// Parses and validates `text`; all problems, in file order, if there are any.
pub(super) fn parse(
    text: &str,
    origin: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Vec<Problem>> {
    let document = match DeTable::parse(text) {
        Ok(document) => document,
        Err(error) => return Err(vec![syntax_problem(text, origin, &error)]),
    };
    let mut reader = Reader::new(origin, text, env);
    let config = read_config(&mut reader, document.get_ref());
    let problems = reader.finish(document.get_ref());
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

/// Invalid TOML: one problem with the parser's message. Later problems are not reported
/// because after a syntax error the parser's idea of the structure is a guess.
fn syntax_problem(text: &str, origin: &str, error: &toml::de::Error) -> Problem {
    let lines = LineIndex::new(text);
    let message = error.message().trim().replace('\n', "; ");
    Problem {
        origin: origin.to_string(),
        position: error.span().map(|span| lines.position(span.start)),
        key: String::new(),
        message: format!("invalid TOML: {message}"),
    }
}

/// Reads the whole config. Values with problems take their default so reading can go on;
/// the caller discards the result when there are problems.
pub(super) fn read_config(reader: &mut Reader<'_>, document: &DeTable<'_>) -> Config {
    let defaults = embedded_default();
    let root = reader.root(document);
    let table = reader.table(&root, "server");
    let server = read_server(reader, &table, &defaults.server);
    let table = reader.table(&root, "storage");
    let storage = read_storage(reader, &table, &defaults.storage);
    let table = reader.table(&root, "system");
    let system = read_system(reader, &table, &defaults.system);
    let table = reader.table(&root, "log");
    let log = super::log::read_log(reader, &table, &defaults.log);
    let checks = super::checks::read_checks(reader, &root);
    let (mut alerts, alert_notifiers) =
        super::alerts::read_alerts(reader, &root, &system.thresholds);
    // [alerts.connectivity] names checks: read after them (watch.rs).
    alerts.connectivity = super::watch::read_connectivity(reader, &root, &checks);
    let notifiers = super::notifiers::read_notifiers(reader, &root);
    // [alerts] cross-check: rule `notifiers = [...]` must name a [[notifier]], read after them.
    alert_notifiers.check(reader, notifiers.iter().map(|n| n.name.as_str()));
    // Refers to checks and notifiers by name: read after them.
    let maintenance = super::maintenance::read_maintenance(reader, &root, &checks, &notifiers);
    let remote_write = super::remote_write::read_remote_writes(reader, &root);
    Config {
        source: None,
        server,
        storage,
        system,
        log,
        checks,
        alerts,
        notifiers,
        maintenance,
        remote_write,
        heartbeat: super::watch::read_heartbeat(reader, &root),
        receive: super::receive::read_receive(reader, &root),
    }
}

fn read_server(r: &mut Reader<'_>, table: &Table<'_, '_>, default: &ServerConfig) -> ServerConfig {
    let address = |text: &Text, example: &str| {
        text.value.trim().parse::<SocketAddr>().map_err(|_| {
            format!(
                "{} is not a socket address; expected an IP address and a port, like {example}",
                text.quoted()
            )
        })
    };
    let form = "an address string like \"127.0.0.1:9898\"";
    let listen = string_setting(r, table, "listen", default.listen, form, |text| {
        address(text, "\"127.0.0.1:9898\" or \"[::]:9898\"")
    });
    let path = |r: &mut Reader<'_>, key: &'static str| {
        string_setting(r, table, key, None, "a file path string", |text| {
            path_text(text, "expected the path of a PEM file").map(Some)
        })
    };
    let tls_cert = path(r, "tls_cert");
    let tls_key = path(r, "tls_key");
    let insecure_http = bool_setting(r, table, "insecure_http", default.insecure_http);
    let session_idle_timeout = duration_setting(
        r,
        table,
        "session_idle_timeout",
        default.session_idle_timeout,
        positive,
    );
    let session_max_age = duration_setting(
        r,
        table,
        "session_max_age",
        default.session_max_age,
        positive,
    );
    // A session that may stay idle longer than it may live at all: the idle limit would
    // never apply, which is surely not what was meant.
    not_longer(
        r,
        &session_idle_timeout,
        &session_max_age,
        "expected session_idle_timeout <= session_max_age",
    );
    // TLS needs both files: one alone is a half-done setup, not a choice.
    both_or_neither(r, &tls_cert, &tls_key, |unset| {
        format!(
            "is set but {unset} is not; TLS needs both the certificate and its private key (or neither, for plain HTTP)"
        )
    });
    let form = "an address string like \"0.0.0.0:9899\"";
    let metrics_listen = string_setting(r, table, "metrics_listen", None, form, |text| {
        address(text, "\"0.0.0.0:9899\"").map(Some)
    });
    // Secrets: messages never quote them.
    let secret = |r: &mut Reader<'_>, key: &'static str| {
        string_setting(r, table, key, None, "a string", |text| {
            if text.value.is_empty() {
                Err("must not be empty".to_string())
            } else {
                Ok(Some(Secret::new(text.value.clone())))
            }
        })
    };
    let metrics_token = secret(r, "metrics_token");
    let metrics_password = secret(r, "metrics_password");
    let metrics_user = string_setting(r, table, "metrics_user", None, "a string", |text| {
        if text.value.trim().is_empty() {
            Err("must not be empty; expected a user name like \"prometheus\"".to_string())
        } else {
            Ok(Some(text.value.clone()))
        }
    });
    both_or_neither(r, &metrics_user, &metrics_password, |_| {
        "basic auth for /metrics needs both server.metrics_user and server.metrics_password".into()
    });
    let metrics_refresh = duration_setting(
        r,
        table,
        "metrics_refresh",
        default.metrics_refresh,
        |refresh| {
            (*refresh > Duration::from_secs(60)).then(|| {
                "is longer than 1m; a scrape would get values that old (use \"0s\" to render during each scrape)"
                    .to_string()
            })
        },
    );
    let trusted_proxies = trusted_proxies(r, table);
    // Connection hygiene: long enough for a slow client, short enough that connections held
    // without a request are let go (and the cap stays a cap).
    let s = Duration::from_secs;
    let header_read_timeout = duration_setting(
        r,
        table,
        "header_read_timeout",
        default.header_read_timeout,
        within(s(1), s(300), "the time a client has to send a request head"),
    );
    let tls_handshake_timeout = duration_setting(
        r,
        table,
        "tls_handshake_timeout",
        default.tls_handshake_timeout,
        within(
            s(1),
            s(300),
            "the time a client has to finish the TLS handshake",
        ),
    );
    let idle_timeout = duration_setting(
        r,
        table,
        "idle_timeout",
        default.idle_timeout,
        within(
            s(1),
            s(3600),
            "how long a kept-alive connection may wait for a request",
        ),
    );
    let max_connections = whole_setting(
        r,
        table,
        "max_connections",
        default.max_connections,
        MIN_CONNECTIONS..=MAX_CONNECTIONS,
    );
    let metrics_basic_auth = match (metrics_user.value, metrics_password.value) {
        (Some(user), Some(password)) => Some((user, password)),
        _ => None,
    };
    let tls = tls_cert.value.is_some() && tls_key.value.is_some();
    if listen.valid && !listen.value.ip().is_loopback() && !tls && !insecure_http.value {
        r.problem(
            listen.span.as_ref(),
            &listen.path,
            format!(
                "\"{}\" accepts other hosts, but without TLS passwords and session cookies would cross the network in clear; \
                 set server.tls_cert and server.tls_key, or set server.insecure_http = true (e.g. behind a TLS proxy)",
                listen.value
            ),
        );
    }
    ServerConfig {
        listen: listen.value,
        tls_cert: tls_cert.value,
        tls_key: tls_key.value,
        insecure_http: insecure_http.value,
        session_idle_timeout: session_idle_timeout.value,
        session_max_age: session_max_age.value,
        metrics_listen: metrics_listen.value,
        metrics_token: metrics_token.value,
        metrics_basic_auth,
        metrics_refresh: metrics_refresh.value,
        trusted_proxies,
        header_read_timeout: header_read_timeout.value,
        tls_handshake_timeout: tls_handshake_timeout.value,
        idle_timeout: idle_timeout.value,
        max_connections: max_connections.value,
    }
}

/// `server.trusted_proxies`: IP addresses ("127.0.0.1", "::1") or networks ("10.0.0.0/8").
fn trusted_proxies(r: &mut Reader<'_>, table: &Table<'_, '_>) -> Vec<ipnet::IpNet> {
    const TYPE: &str = "an array of addresses or networks, like [\"127.0.0.1\", \"10.0.0.0/8\"]";
    let kind = Kind::Texts {
        form: "an address or network, like \"10.0.0.0/8\"".to_string(),
    };
    let Some(item) = r.item_of(table, "trusted_proxies", kind) else {
        return Vec::new();
    };
    let Some(elements) = r.elements(&item, TYPE) else {
        return Vec::new();
    };
    let mut nets = Vec::with_capacity(elements.len());
    for element in &elements {
        let Some(text) = r.text(element, "an address or network string, like \"10.0.0.0/8\"")
        else {
            continue;
        };
        let value = text.value.trim();
        let parsed = value
            .parse::<ipnet::IpNet>()
            .or_else(|_| value.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
        match parsed {
            Ok(net) => nets.push(net.trunc()),
            Err(_) => r.problem(
                Some(&element.span),
                &element.path,
                format!(
                    "{} is not an IP address or network; expected e.g. \"127.0.0.1\", \"::1\" or \"10.0.0.0/8\"",
                    text.quoted()
                ),
            ),
        }
    }
    nets
}

fn read_storage(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    default: &StorageConfig,
) -> StorageConfig {
    let path = string_setting(
        r,
        table,
        "path",
        default.path.clone(),
        "a directory path string",
        |text| {
            path_text(
                text,
                "expected a directory, like \"./lookout-data\" or \"/var/lib/lookout\"",
            )
        },
    );
    let max_size = size_setting(r, table, "max_size", default.max_size, |bytes| {
        (*bytes < MIN_MAX_SIZE).then(|| {
            format!(
                "is too small; expected at least \"{}\"",
                format_size(MIN_MAX_SIZE)
            )
        })
    });
    let flush_interval = duration_setting(
        r,
        table,
        "flush_interval",
        default.flush_interval,
        |interval| {
            if interval.is_zero() {
                Some("must be greater than zero".to_string())
            } else if *interval > MAX_FLUSH_INTERVAL {
                Some(format!(
                    "is too long; expected at most \"{}\" (the most data a crash can lose)",
                    format_duration(MAX_FLUSH_INTERVAL)
                ))
            } else {
                None
            }
        },
    );
    let max_buffered_samples = whole_setting(
        r,
        table,
        "max_buffered_samples",
        default.max_buffered_samples,
        MIN_BUFFERED_SAMPLES..=MAX_BUFFERED_SAMPLES,
    );
    let retention_table = r.table(table, "retention");
    let retention = read_retention(r, &retention_table, &default.retention);
    StorageConfig {
        path: path.value,
        max_size: max_size.value,
        flush_interval: flush_interval.value,
        max_buffered_samples: max_buffered_samples.value,
        retention,
    }
}

fn read_retention(r: &mut Reader<'_>, table: &Table<'_, '_>, default: &Retention) -> Retention {
    let raw = duration_setting(r, table, "raw", default.raw, positive);
    let minute = duration_setting(r, table, "minute", default.minute, positive);
    let hour = duration_setting(r, table, "hour", default.hour, positive);
    // A coarser tier is computed from a finer one and is what remains once that one expires;
    // keeping it for less time would make it useless.
    let rule = "expected raw <= minute <= hour";
    not_longer(r, &raw, &minute, rule);
    not_longer(r, &minute, &hour, rule);
    Retention {
        raw: raw.value,
        minute: minute.value,
        hour: hour.value,
    }
}

fn read_system(r: &mut Reader<'_>, table: &Table<'_, '_>, default: &SystemConfig) -> SystemConfig {
    let enabled = bool_setting(r, table, "enabled", default.enabled);
    let interval = duration_setting(r, table, "interval", default.interval, positive);
    let per_core = bool_setting(r, table, "per_core", default.per_core);
    let filter_table = r.table(table, "filesystems");
    let mountpoints = read_filter(r, &filter_table, &default.mountpoints);
    let filter_table = r.table(table, "fs_types");
    let fs_types = read_filter(r, &filter_table, &default.fs_types);
    let filter_table = r.table(table, "interfaces");
    let interfaces = read_filter(r, &filter_table, &default.interfaces);
    let thresholds_table = r.table(table, "thresholds");
    let thresholds = read_thresholds(r, &thresholds_table, &default.thresholds);
    SystemConfig {
        enabled: enabled.value,
        interval: interval.value,
        per_core: per_core.value,
        mountpoints,
        fs_types,
        interfaces,
        thresholds,
    }
}

fn read_filter(r: &mut Reader<'_>, table: &Table<'_, '_>, default: &NameFilter) -> NameFilter {
    NameFilter {
        include: pattern_list(r, table, "include", &default.include, compile_pattern),
        exclude: pattern_list(r, table, "exclude", &default.exclude, compile_pattern),
    }
}

fn read_thresholds(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    default: &SystemThresholds,
) -> SystemThresholds {
    let mut pair = |warning_key, warning_default, critical_key, critical_default| {
        let warning = percent_setting(r, table, warning_key, warning_default);
        let critical = percent_setting(r, table, critical_key, critical_default);
        warning_below_critical(r, &warning, &critical);
        (warning.value, critical.value)
    };
    let (cpu_warning, cpu_critical) = pair(
        "cpu_warning",
        default.cpu_warning,
        "cpu_critical",
        default.cpu_critical,
    );
    let (memory_warning, memory_critical) = pair(
        "memory_warning",
        default.memory_warning,
        "memory_critical",
        default.memory_critical,
    );
    let (disk_warning, disk_critical) = pair(
        "disk_warning",
        default.disk_warning,
        "disk_critical",
        default.disk_critical,
    );
    SystemThresholds {
        cpu_warning,
        cpu_critical,
        memory_warning,
        memory_critical,
        disk_warning,
        disk_critical,
    }
}
