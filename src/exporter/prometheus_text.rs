//! Prometheus text exposition format 0.0.4 of a `Snapshot`: one family per series name,
//! prefixed `lookout_`, with HELP and TYPE lines.

use std::fmt::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::clock::UnixMillis;
use crate::model::{SeriesKey, Status, escape_label_value};

use super::Snapshot;

pub const PREFIX: &str = "lookout_";

/// One line of help per known series (a check type may describe its own: `CheckType::series_help`);
/// unknown names still get a HELP line.
fn describe(name: &str) -> &'static str {
    match name {
        "cpu_usage_ratio" => {
            "Share of CPU time spent busy (not idle or iowait) over the last interval, 0-1."
        }
        "cpu_mode_ratio" => "Share of CPU time spent in each mode over the last interval, 0-1.",
        "cpu_seconds_total" => "CPU time spent in each mode, summed over all CPUs.",
        "cpu_core_usage_ratio" => {
            "Share of time each CPU core was busy over the last interval, 0-1."
        }
        "cpus" => "Number of logical CPUs online.",
        "load1" => "Load average over 1 minute (runnable and uninterruptible tasks).",
        "load5" => "Load average over 5 minutes.",
        "load15" => "Load average over 15 minutes.",
        "memory_total_bytes" => "Total usable memory.",
        "memory_available_bytes" => "Memory available for new work without swapping.",
        "memory_used_bytes" => "Memory in use: total minus available.",
        "memory_usage_ratio" => "Memory in use as a share of total, 0-1.",
        "memory_free_bytes" => "Memory not used for anything.",
        "memory_buffers_bytes" => "Memory used by kernel buffers.",
        "memory_cached_bytes" => "Memory used by the page cache.",
        "swap_total_bytes" => "Total swap space.",
        "swap_used_bytes" => "Swap space in use.",
        "filesystem_size_bytes" => "Filesystem size.",
        "filesystem_free_bytes" => "Free space, including space reserved for root.",
        "filesystem_avail_bytes" => "Space available to unprivileged users.",
        "filesystem_used_bytes" => "Space in use: size minus free.",
        "filesystem_usage_ratio" => {
            "Space in use as a share of what users can have, as df reports, 0-1."
        }
        "filesystem_files" => "Inodes in total.",
        "filesystem_files_free" => "Free inodes.",
        "disk_read_bytes_total" => "Bytes read from the block device.",
        "disk_written_bytes_total" => "Bytes written to the block device.",
        "disk_reads_completed_total" => "Reads completed by the block device.",
        "disk_writes_completed_total" => "Writes completed by the block device.",
        "disk_io_time_seconds_total" => "Time the block device spent doing I/O.",
        "network_receive_bytes_total" => "Bytes received on the interface.",
        "network_transmit_bytes_total" => "Bytes sent on the interface.",
        "network_receive_packets_total" => "Packets received on the interface.",
        "network_transmit_packets_total" => "Packets sent on the interface.",
        "network_receive_errs_total" => "Receive errors on the interface.",
        "network_transmit_errs_total" => "Transmit errors on the interface.",
        "network_receive_drop_total" => "Received packets dropped on the interface.",
        "network_transmit_drop_total" => "Packets to send dropped on the interface.",
        "uptime_seconds" => "Time since the host booted.",
        "boot_time_seconds" => "When the host booted, as a Unix timestamp.",
        "processes" => "Number of processes on the host.",
        "procs_running" => "Processes in the runnable state.",
        "procs_blocked" => "Processes blocked waiting for I/O.",
        "process_cpu_seconds_total" => "CPU time used by Lookout itself.",
        "process_resident_memory_bytes" => "Resident memory of Lookout itself.",
        "process_virtual_memory_bytes" => "Virtual memory of Lookout itself.",
        "process_open_fds" => "Open file descriptors of Lookout itself.",
        "process_start_time_seconds" => "When Lookout started, as a Unix timestamp.",
        "check_up" => {
            "1 when the check's last attempt got an answer that is not critical or unknown, else 0."
        }
        "check_duration_seconds" => "How long the check's last attempt took.",
        "check_error_ratio" => {
            "Share of the check's runs within its error_window that failed (critical or unknown), 0-1."
        }
        "http_response_seconds" => "Whole HTTP request of the check, redirects and body included.",
        "http_dns_seconds" => "Name resolution of the HTTP check (0 for an IP literal).",
        "http_connect_seconds" => "TCP connect of the HTTP check.",
        "http_tls_seconds" => "TLS handshake of the HTTP check (https only).",
        "http_first_byte_seconds" => {
            "From the HTTP check's request sent to the response head received."
        }
        "http_status_code" => "Status code of the HTTP check's final response.",
        "http_body_bytes" => "Body bytes the HTTP check read (at most max_body).",
        "http_extract" => {
            "Each value a check extracts from the response body by JSON pointer (booleans as 1/0)."
        }
        "tls_certificate_expiry_seconds" => {
            "Seconds until the certificate the check was served expires (its notAfter)."
        }
        "tcp_connect_seconds" => "TCP connect of the tcp check, after name resolution.",
        "tcp_tls_seconds" => "TLS handshake of the tcp check (tls = true only).",
        "prometheus_scrape_samples" => "Samples the prometheus check kept from its last scrape.",
        "prometheus_scrape_bad_lines" => {
            "Lines of the prometheus check's last scrape that could not be parsed."
        }
        "db_ping_seconds" => "SELECT 1 round trip of the database check.",
        "db_connect_seconds" => {
            "Time the database check took to open its connection, in runs that (re)connected."
        }
        "db_info" => "The database server's version; always 1.",
        "db_connections" => "Connections in use on the database server.",
        "db_max_connections" => "The database server's max_connections.",
        "db_connections_ratio" => "Connections in use as a share of max_connections, 0-1.",
        "db_slow_queries" => {
            "Slow queries: PostgreSQL statements over slow_query_threshold, MySQL's Slow_queries counter."
        }
        "db_slow_queries_per_second" => "MySQL: rate of Slow_queries between runs.",
        "db_statement_mean_seconds_max" => {
            "PostgreSQL with pg_stat_statements: the worst mean statement time."
        }
        "db_size_bytes" => "Size of the checked database.",
        "db_deadlocks_total" => "Deadlocks the database server reported.",
        "db_rollbacks_total" => "Transactions rolled back on the database server.",
        "db_replication_lag_seconds" => "Replication lag of a database replica.",
        "db_integrity_ok" => "SQLite: 1 when PRAGMA quick_check says ok, else 0.",
        "db_query_value" => "First column of the first row of each configured check query.",
        "redis_ping_seconds" => "PING round trip of the Redis check.",
        "redis_used_memory_bytes" => "Memory Redis uses (INFO used_memory).",
        "redis_maxmemory_bytes" => "Redis maxmemory (0: no limit).",
        "redis_memory_ratio" => {
            "Redis used memory as a share of maxmemory, 0-1 (only with a maxmemory)."
        }
        "redis_mem_fragmentation_ratio" => "Redis mem_fragmentation_ratio (RSS over used memory).",
        "redis_connected_clients" => "Clients connected to Redis.",
        "redis_blocked_clients" => "Redis clients blocked in a blocking call.",
        "redis_ops_per_second" => "Redis instantaneous_ops_per_sec.",
        "redis_keyspace_hit_ratio" => {
            "Redis keyspace hits over hits + misses since the check's previous run, 0-1."
        }
        "redis_evicted_keys_total" => "Keys Redis evicted for maxmemory.",
        "redis_expired_keys_total" => "Keys Redis expired.",
        "redis_rdb_last_bgsave_ok" => "1 when Redis' last RDB save succeeded, else 0.",
        "redis_aof_enabled" => "1 when Redis' append-only file is on, else 0.",
        "redis_role" => "The Redis server's replication role; always 1.",
        "redis_replication_lag_seconds" => {
            "Seconds since a Redis replica last heard from its master."
        }
        "redis_sessions" => "Keys matching the Redis check's session_pattern.",
        "redis_sessions_estimated" => {
            "1 when redis_sessions is an estimate (past the scan cap), else 0."
        }
        "log_matches_total" => {
            "Lines of the log check matching each pattern since the check started."
        }
        "log_matches_last_run" => "Lines of the log check matching each pattern in its last run.",
        "log_match_rate" => "Lines matching each pattern per second over the log check's last run.",
        "log_bytes_behind" => "Bytes written to the checked log file and not read yet.",
        // The self probe (`daemon::own`): Lookout's own health, watched by built-in rules.
        "self_schedule_late_ratio" => {
            "Share of probe and check runs since the previous self run that started more than 1 s after their tick, 0-1."
        }
        "self_store_errors_per_minute" => "Failed store operations in the last minute.",
        "self_fd_exhausted_per_minute" => {
            "Probe runs and reads that could not get a file descriptor in the last minute (their results said unknown; `lookout:self` is critical meanwhile)."
        }
        "self_outbox_pending" => "Notifications that are due and not delivered yet.",
        "self_outbox_oldest_seconds" => {
            "How long the oldest due, undelivered notification has waited (0: none waits)."
        }
        _ => crate::checks::CheckKind::series_help(name)
            .unwrap_or("Value reported by a Lookout probe."),
    }
}

fn family_type(name: &str) -> &'static str {
    if name.ends_with("_total") {
        "counter"
    } else {
        "gauge"
    }
}

/// Prometheus' float spelling: NaN, +Inf, -Inf.
fn write_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value == f64::INFINITY {
        out.push_str("+Inf");
    } else if value == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{value}");
    }
}

// Inlined (as are `for_each_series`/`for_each_check`): called once per series line, 10,000s
// times a scrape; left to the codegen units it was not inlined and a render took 5-8 % longer.
#[inline]
fn write_labels<'a>(out: &mut String, labels: impl IntoIterator<Item = (&'a str, &'a str)>) {
    let mut first = true;
    for (k, v) in labels {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        write_escaped(out, v);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
}

/// `escape_label_value` into `out`, without allocating for the usual value that needs none.
fn write_escaped(out: &mut String, value: &str) {
    if !value.contains(['\\', '"', '\n']) {
        out.push_str(value);
        return;
    }
    out.push_str(&escape_label_value(value));
}

fn write_header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {PREFIX}{name} {help}");
    let _ = writeln!(out, "# TYPE {PREFIX}{name} {kind}");
}

/// `lookout_name{labels}` of a series, as a sample line starts, and where the name ends in it.
pub(super) fn exposed_series(key: &SeriesKey) -> (String, usize) {
    let mut out = String::with_capacity(PREFIX.len() + key.name().len() + 64);
    out.push_str(PREFIX);
    out.push_str(key.name());
    let name_end = out.len();
    write_labels(&mut out, key.labels());
    (out, name_end)
}

/// Everything in the snapshot, plus Lookout's own build and pipeline metrics.
pub fn render(
    snapshot: &Snapshot,
    version: &str,
    started_at_ms: UnixMillis,
    now_ms: UnixMillis,
) -> String {
    // Sized from the previous scrape: a 10,000-series page would otherwise grow from 16 KB by
    // doubling, copying itself six times.
    let mut out = String::with_capacity(LAST_RENDER_LEN.load(Ordering::Relaxed).max(16 * 1024));
    let mut current = String::new();
    snapshot.for_each_series(|name, latest, exposed| {
        if current != name {
            write_header(&mut out, name, family_type(name), describe(name));
            current.clear();
            current.push_str(name);
        }
        out.push_str(exposed);
        out.push(' ');
        write_value(&mut out, latest.value);
        out.push('\n');
    });

    if snapshot.has_checks() {
        write_header(
            &mut out,
            "check_status",
            "gauge",
            "Current status of each health check: 1 for the status it is in, 0 for the others.",
        );
        snapshot.for_each_check(|result| {
            for status in Status::ALL {
                let _ = write!(out, "{PREFIX}check_status");
                write_labels(
                    &mut out,
                    [
                        ("check", result.check.as_str()),
                        ("layer", result.layer.as_str()),
                        ("status", status.as_str()),
                    ],
                );
                let _ = writeln!(out, " {}", u8::from(result.status == status));
            }
        });
        write_header(
            &mut out,
            "check_value",
            "gauge",
            "Headline value of each health check (e.g. a usage ratio).",
        );
        snapshot.for_each_check(|result| {
            if let Some(value) = result.value {
                let _ = write!(out, "{PREFIX}check_value");
                write_labels(&mut out, [("check", result.check.as_str())]);
                out.push(' ');
                write_value(&mut out, value);
                out.push('\n');
            }
        });
    }
    render_computed(&mut out, snapshot, version, started_at_ms, now_ms);
    LAST_RENDER_LEN.store(out.len(), Ordering::Relaxed);
    out
}

/// One sample of a family computed at render time: its full name (`lookout_...`), labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct ComputedSample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// The samples of the families computed at render time, for remote write: rendered as
/// /metrics renders them and read back with the text parser of the `prometheus` check, so
/// both carry exactly the same families, names and labels.
pub fn computed_samples(
    snapshot: &Snapshot,
    version: &str,
    started_at_ms: UnixMillis,
    now_ms: UnixMillis,
) -> Vec<ComputedSample> {
    let mut text = String::with_capacity(8 * 1024);
    render_computed(&mut text, snapshot, version, started_at_ms, now_ms);
    crate::checks::prometheus::probe::parse(&text)
        .samples
        .into_iter()
        .map(|s| ComputedSample {
            name: s.name,
            labels: s.labels,
            value: s.value,
        })
        .collect()
}

/// The families computed when the page is rendered, not carried by observations: alerts,
/// notifications, remote write, maintenance, build and start time, Lookout's own histograms
/// and counters. Remote write sends these too (`computed_samples`).
fn render_computed(
    out: &mut String,
    snapshot: &Snapshot,
    version: &str,
    started_at_ms: UnixMillis,
    now_ms: UnixMillis,
) {
    write_header(
        out,
        "alerts",
        "gauge",
        "Alerts by state (pending, firing) and severity, as of the latest evaluation.",
    );
    let alerts = snapshot
        .alerts
        .read()
        .map(|a| a.clone())
        .unwrap_or_default();
    for state in ["pending", "firing"] {
        for severity in ["info", "warning", "critical"] {
            let count = alerts
                .get(&(state.to_string(), severity.to_string()))
                .copied()
                .unwrap_or(0);
            let _ = write!(out, "{PREFIX}alerts");
            write_labels(out, [("state", state), ("severity", severity)]);
            let _ = writeln!(out, " {count}");
        }
    }
    write_header(
        out,
        "alerts_flapping",
        "gauge",
        "Alerts flapping now: changing between firing and not too often to be told at each change; told once, then quiet until stable.",
    );
    let _ = writeln!(
        out,
        "{PREFIX}alerts_flapping {}",
        snapshot
            .alerts_flapping
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    let notifications = snapshot.notifications.snapshot();
    if !notifications.is_empty() {
        write_header(
            out,
            "notifications_total",
            "counter",
            "Notifications per notifier and result: sent (messages delivered), retried (notices whose attempt failed and will be retried), failed (notices given up), resent and resend_failed (messages re-posting still-firing alerts to Alertmanager).",
        );
        for (notifier, counts) in &notifications {
            for (result, count) in [
                ("sent", counts.messages_sent),
                ("retried", counts.rows_retried),
                ("failed", counts.rows_failed),
                ("resent", counts.messages_resent),
                ("resend_failed", counts.resends_failed),
            ] {
                let _ = write!(out, "{PREFIX}notifications_total");
                write_labels(out, [("notifier", notifier.as_str()), ("result", result)]);
                let _ = writeln!(out, " {count}");
            }
        }
    }
    render_remote_write(out, snapshot);
    render_receive(out, snapshot);
    render_maintenance(out, snapshot, now_ms);
    write_header(out, "build_info", "gauge", "Lookout's version; always 1.");
    let _ = write!(out, "{PREFIX}build_info");
    write_labels(out, [("version", version)]);
    out.push_str(" 1\n");
    write_header(
        out,
        "start_time_seconds",
        "gauge",
        "When this Lookout process started, as a Unix timestamp.",
    );
    let _ = writeln!(
        out,
        "{PREFIX}start_time_seconds {}",
        started_at_ms as f64 / 1000.0
    );
    write_histogram(
        out,
        "schedule_lateness_seconds",
        "How late probe and check runs start after their scheduled tick.",
        &snapshot.lateness,
    );
    write_histogram(
        out,
        "probe_duration_seconds",
        "How long probe runs take: a system collection, or a check's attempt with its retries.",
        &snapshot.probe_durations,
    );
    let m = &snapshot.self_metrics;
    let counters = [
        (
            "observations_total",
            "Probe runs received on the bus.",
            &m.observations_total,
        ),
        (
            "samples_total",
            "Samples received on the bus.",
            &m.samples_total,
        ),
        (
            "store_flushes_total",
            "Successful writes of buffered samples to the store.",
            &m.store_flushes_total,
        ),
        (
            "store_errors_total",
            "Failed store operations (the data stays buffered and is retried).",
            &m.store_errors_total,
        ),
        (
            "store_dropped_samples_total",
            "Samples dropped unwritten because the in-memory buffer was full (storage.max_buffered_samples) while the store could not write; oldest first.",
            &m.store_dropped_samples,
        ),
        (
            "notices_held_dropped_total",
            "Notices dropped because too many were held in memory while the store could not write; oldest first.",
            &m.notices_held_dropped,
        ),
        (
            "config_reloads_total",
            "Successful configuration reloads.",
            &m.reloads_total,
        ),
        (
            "config_reload_failures_total",
            "Rejected configuration reloads (the old configuration stays).",
            &m.reload_failures_total,
        ),
    ];
    for (name, help, counter) in counters {
        write_header(out, name, "counter", help);
        let _ = writeln!(
            out,
            "{PREFIX}{name} {}",
            counter.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    for (name, help, gauge) in [
        (
            "store_buffered_samples",
            "Samples waiting in memory to be written to the store.",
            &m.store_buffered_samples,
        ),
        (
            "notices_held",
            "Notices held in memory because the store cannot write; sent from there, and written to the store once it can.",
            &m.notices_held,
        ),
    ] {
        write_header(out, name, "gauge", help);
        let _ = writeln!(
            out,
            "{PREFIX}{name} {}",
            gauge.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    render_heartbeat(out, &m.heartbeat);
}

/// The length of the last page rendered, to size the next one.
static LAST_RENDER_LEN: AtomicUsize = AtomicUsize::new(0);

/// The dead-man heartbeat's families, while one is configured.
fn render_heartbeat(out: &mut String, heartbeat: &super::HeartbeatMetrics) {
    use std::sync::atomic::Ordering::Relaxed;
    if !heartbeat.enabled.load(Relaxed) {
        return;
    }
    write_header(
        out,
        "heartbeat_sent_total",
        "counter",
        "Heartbeat pings by result: ok (accepted), error (no answer or not 2xx), fail (a fail_url ping accepted: Lookout saw itself unhealthy), withheld (unhealthy and no fail_url: nothing sent).",
    );
    for (result, counter) in [
        ("ok", &heartbeat.ok),
        ("error", &heartbeat.error),
        ("fail", &heartbeat.fail),
        ("withheld", &heartbeat.withheld),
    ] {
        let _ = write!(out, "{PREFIX}heartbeat_sent_total");
        write_labels(out, [("result", result)]);
        let _ = writeln!(out, " {}", counter.load(Relaxed));
    }
    write_header(
        out,
        "heartbeat_last_success_timestamp_seconds",
        "gauge",
        "When a heartbeat ping was last accepted, as a Unix timestamp (0: not yet).",
    );
    let _ = writeln!(
        out,
        "{PREFIX}heartbeat_last_success_timestamp_seconds {}",
        heartbeat.last_success_ms.load(Relaxed) as f64 / 1000.0
    );
}

fn write_histogram(out: &mut String, name: &str, help: &str, histogram: &super::MillisHistogram) {
    write_header(out, name, "histogram", help);
    let (buckets, sum) = histogram.cumulative();
    let count = buckets.last().map_or(0, |(_, n)| *n);
    for (bound, cumulative) in buckets {
        let le = bound.map_or("+Inf".to_string(), |b| b.to_string());
        let _ = writeln!(out, "{PREFIX}{name}_bucket{{le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{PREFIX}{name}_sum {sum}");
    let _ = writeln!(out, "{PREFIX}{name}_count {count}");
}

pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// True when an `Accept` header asks for OpenMetrics (Prometheus asks for it first).
pub fn wants_openmetrics(accept: &str) -> bool {
    accept
        .split(',')
        .any(|part| part.trim().starts_with("application/openmetrics-text"))
}

/// The same exposition in OpenMetrics 1.0: a counter's family is named without `_total`
/// (its samples keep it), `build_info` is an info family, and the text ends with `# EOF`.
pub fn to_openmetrics(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut renames: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let family = match kind {
                "counter" => name.strip_suffix("_total"),
                "gauge" => name.strip_suffix("_info"),
                _ => None,
            };
            if let Some(family) = family {
                renames.push((name.to_string(), family.to_string()));
            }
        }
    }
    let family_of = |name: &str| {
        renames
            .iter()
            .find(|(full, _)| full == name)
            .map(|(_, family)| family.clone())
    };
    for line in text.lines() {
        let header = line
            .strip_prefix("# HELP ")
            .map(|r| ("HELP", r))
            .or_else(|| line.strip_prefix("# TYPE ").map(|r| ("TYPE", r)));
        match header {
            Some((what, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                match family_of(name) {
                    Some(family) => {
                        let tail = if what == "TYPE" && name.ends_with("_info") {
                            "info"
                        } else {
                            tail
                        };
                        let _ = writeln!(out, "# {what} {family} {tail}");
                    }
                    None => {
                        out.push_str(line);
                        out.push('\n');
                    }
                }
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// The remote-write families, one series per configured endpoint (none without endpoints).
fn render_remote_write(out: &mut String, snapshot: &Snapshot) {
    use super::remote_write::EndpointFigures;
    let endpoints = snapshot.remote_write.snapshot();
    if endpoints.is_empty() {
        return;
    }
    type Family = (
        &'static str,
        &'static str,
        &'static str,
        fn(&EndpointFigures) -> f64,
    );
    let families: [Family; 6] = [
        (
            "remote_write_samples_sent_total",
            "counter",
            "Samples the remote-write endpoint accepted (2xx).",
            |f| f.samples_sent as f64,
        ),
        (
            "remote_write_samples_failed_total",
            "counter",
            "Samples in batches the endpoint refused for good (4xx but 429); dropped.",
            |f| f.samples_failed as f64,
        ),
        (
            "remote_write_samples_retried_total",
            "counter",
            "Samples in attempts that failed and are retried (5xx, 429, network errors).",
            |f| f.samples_retried as f64,
        ),
        (
            "remote_write_samples_dropped_total",
            "counter",
            "Samples dropped unsent because the queue was over max_queued_samples (oldest first).",
            |f| f.samples_dropped as f64,
        ),
        (
            "remote_write_samples_queued",
            "gauge",
            "Samples waiting in the store to be sent.",
            |f| f.samples_queued as f64,
        ),
        (
            "remote_write_last_success_timestamp_seconds",
            "gauge",
            "When the endpoint last accepted a batch, as a Unix timestamp; 0 if not since start.",
            |f| f.last_success_ms as f64 / 1000.0,
        ),
    ];
    for (name, kind, help, value) in families {
        write_header(out, name, kind, help);
        for (endpoint, figures) in &endpoints {
            out.push_str(PREFIX);
            out.push_str(name);
            write_labels(out, [("endpoint", endpoint.as_str())]);
            out.push(' ');
            write_value(out, value(figures));
            out.push('\n');
        }
    }
}

/// The receivers' families (`[receive]`), once something was received or refused.
fn render_receive(out: &mut String, snapshot: &Snapshot) {
    let figures = snapshot.receive.figures();
    if figures.requests.is_empty() {
        return;
    }
    write_header(
        out,
        "receive_requests_total",
        "counter",
        "Write requests to the receivers by protocol (remote_write, otlp) and outcome (stored, or why refused: malformed, too_large, unsupported_media_type, unauthenticated, forbidden, series_limit, future, unavailable, disabled).",
    );
    for ((protocol, outcome), n) in &figures.requests {
        let _ = write!(out, "{PREFIX}receive_requests_total");
        write_labels(out, [("protocol", *protocol), ("outcome", *outcome)]);
        let _ = writeln!(out, " {n}");
    }
    write_header(
        out,
        "receive_samples_total",
        "counter",
        "Samples received by protocol and outcome: stored, refused (with their request), not_finite and stale (NaN, infinite, Prometheus stale markers: not stored), too_old (older than the longest retention), unsupported (OTLP summaries and exponential histograms).",
    );
    for ((protocol, outcome), n) in &figures.samples {
        let _ = write!(out, "{PREFIX}receive_samples_total");
        write_labels(out, [("protocol", *protocol), ("outcome", *outcome)]);
        let _ = writeln!(out, " {n}");
    }
    write_header(
        out,
        "receive_series",
        "gauge",
        "Live series per sender (agent token name): received within receive.series_idle; what receive.max_series_per_sender limits.",
    );
    for (sender, n) in &figures.series {
        let _ = write!(out, "{PREFIX}receive_series");
        write_labels(out, [("sender", sender.as_str())]);
        let _ = writeln!(out, " {n}");
    }
}

/// The maintenance families: the state now, and totals over every recorded period (the open
/// one counted up to now).
fn render_maintenance(out: &mut String, snapshot: &Snapshot, now_ms: UnixMillis) {
    use crate::config::maintenance::Mode;
    let m = snapshot
        .maintenance
        .read()
        .map(|m| m.clone())
        .unwrap_or_default();
    let open_ms = m
        .open
        .as_ref()
        .map_or(0, |o| (now_ms - o.start_ms).max(0) as u64);
    let open_if = |wanted: bool| {
        m.open
            .as_ref()
            .filter(|o| o.planned == wanted)
            .map_or(0, |_| open_ms)
    };
    let seconds = |ms: u64| ms as f64 / 1000.0;
    write_header(
        out,
        "maintenance_active",
        "gauge",
        "1 while the monitored app is in maintenance (detected, planned or started by hand), else 0.",
    );
    let _ = writeln!(
        out,
        "{PREFIX}maintenance_active {}",
        u8::from(m.open.is_some())
    );
    write_header(
        out,
        "maintenance_mode",
        "gauge",
        "1 for the mode of the open maintenance period (normal, emergency, test), 0 for the others.",
    );
    for mode in [Mode::Normal, Mode::Emergency, Mode::Test] {
        let on = m.open.as_ref().is_some_and(|o| o.mode == mode);
        let _ = write!(out, "{PREFIX}maintenance_mode");
        write_labels(out, [("mode", mode.as_str())]);
        let _ = writeln!(out, " {}", u8::from(on));
    }
    write_header(
        out,
        "maintenance_periods_total",
        "counter",
        "Maintenance periods recorded (started), the open one included.",
    );
    let _ = writeln!(
        out,
        "{PREFIX}maintenance_periods_total {}",
        m.periods_closed + u64::from(m.open.is_some())
    );
    write_header(
        out,
        "maintenance_seconds_total",
        "counter",
        "Time spent in maintenance, by kind: planned (a window covered it) or unplanned.",
    );
    for (kind, ms) in [
        ("planned", m.planned_ms_closed + open_if(true)),
        ("unplanned", m.unplanned_ms_closed + open_if(false)),
    ] {
        let _ = write!(out, "{PREFIX}maintenance_seconds_total");
        write_labels(out, [("kind", kind)]);
        out.push(' ');
        write_value(out, seconds(ms));
        out.push('\n');
    }
    let emergency_open = m
        .open
        .as_ref()
        .filter(|o| o.mode == Mode::Emergency)
        .map_or(0, |_| open_ms);
    write_header(
        out,
        "maintenance_emergency_seconds_total",
        "counter",
        "Time spent in emergency maintenance mode.",
    );
    let _ = write!(out, "{PREFIX}maintenance_emergency_seconds_total ");
    write_value(out, seconds(m.emergency_ms_closed + emergency_open));
    out.push('\n');
    let (open_blocked, open_invalidated) = m
        .open
        .as_ref()
        .map_or((0, 0), |o| (o.blocked_requests, o.invalidated_sessions));
    write_header(
        out,
        "maintenance_blocked_requests_total",
        "counter",
        "Requests or operations the app refused during maintenance (its own count, or the maintenance answers Lookout's checks got).",
    );
    let _ = writeln!(
        out,
        "{PREFIX}maintenance_blocked_requests_total {}",
        m.blocked_requests_closed + open_blocked
    );
    write_header(
        out,
        "maintenance_invalidated_sessions_total",
        "counter",
        "User sessions the app invalidated during maintenance (emergency mode).",
    );
    let _ = writeln!(
        out,
        "{PREFIX}maintenance_invalidated_sessions_total {}",
        m.invalidated_sessions_closed + open_invalidated
    );
    if let Some(sessions) = m.sessions_at_start {
        write_header(
            out,
            "maintenance_sessions_at_start",
            "gauge",
            "Active user sessions when the latest maintenance period started.",
        );
        let _ = writeln!(out, "{PREFIX}maintenance_sessions_at_start {sessions}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CheckResult, Layer, Observation, Sample, SeriesKey};
    use std::sync::Arc;

    /// A hub keeps an agent's computed families under their own names (`receive::agent`):
    /// the list it goes by must cover every family rendered at render time, and no probe's.
    #[test]
    fn computed_families_cover_every_family_rendered_at_render_time() {
        let snapshot = Snapshot::default();
        snapshot
            .self_metrics
            .heartbeat
            .enabled
            .store(true, std::sync::atomic::Ordering::Relaxed);
        snapshot.remote_write.endpoint("hub");
        snapshot.receive.request("remote_write", "stored");
        let mut page = String::new();
        render_computed(&mut page, &snapshot, "1.0", 0, 1_000);
        let covered = |name: &str| {
            super::super::COMPUTED_FAMILIES
                .iter()
                .any(|f| name == *f || name.starts_with(&format!("{f}_")))
        };
        let families: Vec<&str> = page
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE lookout_"))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert!(families.len() > 20, "{families:?}");
        assert!(families.iter().any(|f| f.starts_with("remote_write")));
        assert!(families.iter().any(|f| f.starts_with("receive")));
        for family in families {
            assert!(covered(family), "{family} is not in COMPUTED_FAMILIES");
        }
        for probe_series in [
            "cpu_usage_ratio",
            "memory_usage_ratio",
            "filesystem_usage_ratio",
            "check_up",
            "http_response_seconds",
            "self_schedule_late_ratio",
            "self_store_errors_per_minute",
            "load_average",
            "network_receive_bytes_total",
        ] {
            assert!(!covered(probe_series), "{probe_series}");
        }
    }

    #[test]
    fn computed_samples_are_the_render_time_families_of_the_page_and_nothing_observed() {
        let snapshot = Snapshot::default();
        snapshot.apply(&Observation {
            source: "system".into(),
            at_ms: 1_000,
            samples: vec![Sample {
                series: Arc::new(SeriesKey::new("load1")),
                value: 0.5,
            }],
            checks: vec![],
        });
        snapshot.lateness.record(250);
        snapshot
            .self_metrics
            .heartbeat
            .enabled
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut alerts) = snapshot.alerts.write() {
            alerts.insert(("firing".into(), "critical".into()), 2);
        }
        let samples = computed_samples(&snapshot, "9.9.9", 1_000, 2_000);
        let find = |name: &str, labels: &[(&str, &str)]| {
            samples
                .iter()
                .find(|s| {
                    s.name == name
                        && labels
                            .iter()
                            .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
                })
                .map(|s| s.value)
        };
        assert_eq!(
            find("lookout_build_info", &[("version", "9.9.9")]),
            Some(1.0)
        );
        assert_eq!(
            find(
                "lookout_alerts",
                &[("state", "firing"), ("severity", "critical")]
            ),
            Some(2.0)
        );
        assert_eq!(find("lookout_start_time_seconds", &[]), Some(1.0));
        assert_eq!(
            find("lookout_schedule_lateness_seconds_count", &[]),
            Some(1.0)
        );
        assert!(
            find(
                "lookout_schedule_lateness_seconds_bucket",
                &[("le", "+Inf")]
            )
            .is_some()
        );
        assert!(
            samples.iter().all(|s| s.name != "lookout_load1"),
            "observed series are sent as observed"
        );
        // Every computed line of the page, and only those.
        let page = render(&snapshot, "9.9.9", 1_000, 2_000);
        let computed_lines = page
            .lines()
            .skip_while(|l| !l.starts_with("# HELP lookout_alerts "))
            .filter(|l| !l.starts_with('#'))
            .count();
        assert_eq!(samples.len(), computed_lines);
        assert!(find("lookout_heartbeat_sent_total", &[("result", "ok")]).is_some());
        // One HELP per family: promtool refuses a second.
        let mut helps: Vec<&str> = page.lines().filter(|l| l.starts_with("# HELP ")).collect();
        let all = helps.len();
        helps.sort();
        helps.dedup();
        assert_eq!(helps.len(), all, "a family is rendered twice");
    }

    #[test]
    fn renders_families_with_help_type_labels_and_one_hot_status() {
        let snapshot = Snapshot::default();
        snapshot.apply(&Observation {
            source: "system".into(),
            at_ms: 1_000,
            samples: vec![
                Sample {
                    series: Arc::new(
                        SeriesKey::new("network_receive_bytes_total").with("interface", "eth0"),
                    ),
                    value: 1234.0,
                },
                Sample {
                    series: Arc::new(SeriesKey::new("load1")),
                    value: f64::NAN,
                },
            ],
            checks: vec![CheckResult {
                underlying: None,
                check: "disk:/".into(),
                layer: Layer::System,
                status: Status::Warning,
                value: Some(0.91),
                detail: String::new(),
                at_ms: 1_000,
            }],
        });
        snapshot.set_alerts(&[crate::alert::AlertView {
            id: "check_failed:check=app".into(),
            rule: "check_failed".into(),
            labels: Default::default(),
            state: "firing".into(),
            severity: crate::alert::Severity::Critical,
            since_ms: 0,
            last_notified_ms: Some(0),
            value: None,
            summary: String::new(),
            muted_by: None,
            told: true,
            flapping: false,
            acknowledged_by: None,
            acknowledged_ms: None,
        }]);
        let text = render(&snapshot, "0.1.0", 0, 0);
        assert!(text.contains("lookout_alerts{state=\"firing\",severity=\"critical\"} 1\n"));
        assert!(text.contains("lookout_alerts{state=\"pending\",severity=\"warning\"} 0\n"));
        assert!(text.contains("# TYPE lookout_network_receive_bytes_total counter\n"));
        assert!(text.contains("lookout_network_receive_bytes_total{interface=\"eth0\"} 1234\n"));
        assert!(text.contains("# TYPE lookout_load1 gauge\nlookout_load1 NaN\n"));
        assert!(text.contains(
            "lookout_check_status{check=\"disk:/\",layer=\"system\",status=\"warning\"} 1\n"
        ));
        assert!(
            text.contains(
                "lookout_check_status{check=\"disk:/\",layer=\"system\",status=\"ok\"} 0\n"
            )
        );
        assert!(text.contains("lookout_build_info{version=\"0.1.0\"} 1\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let name = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    name.strip_suffix(suffix)
                        .filter(|family| text.contains(&format!("# TYPE {family} histogram")))
                })
                .unwrap_or(name);
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "no TYPE for {name}"
            );
        }
    }

    #[test]
    fn openmetrics_names_counter_families_without_total_and_ends_with_eof() {
        let text = "# HELP lookout_samples_total Samples.\n# TYPE lookout_samples_total counter\n\
                    lookout_samples_total 3\n# HELP lookout_build_info Version.\n\
                    # TYPE lookout_build_info gauge\nlookout_build_info{version=\"1\"} 1\n\
                    # HELP lookout_load1 Load.\n# TYPE lookout_load1 gauge\nlookout_load1 0.5\n";
        assert_eq!(
            to_openmetrics(text),
            "# HELP lookout_samples Samples.\n# TYPE lookout_samples counter\n\
             lookout_samples_total 3\n# HELP lookout_build Version.\n# TYPE lookout_build info\n\
             lookout_build_info{version=\"1\"} 1\n# HELP lookout_load1 Load.\n\
             # TYPE lookout_load1 gauge\nlookout_load1 0.5\n# EOF\n"
        );
        assert!(wants_openmetrics(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        ));
        assert!(!wants_openmetrics("text/plain"));
    }

    #[test]
    fn maintenance_families_count_the_open_period_up_to_now() {
        let snapshot = Snapshot::default();
        *snapshot.maintenance.write().unwrap() = crate::exporter::MaintenanceFigures {
            open: Some(crate::exporter::OpenMaintenance {
                mode: crate::config::maintenance::Mode::Emergency,
                planned: false,
                start_ms: 10_000,
                blocked_requests: 4,
                invalidated_sessions: 2,
            }),
            periods_closed: 2,
            planned_ms_closed: 60_000,
            unplanned_ms_closed: 0,
            emergency_ms_closed: 0,
            blocked_requests_closed: 6,
            invalidated_sessions_closed: 0,
            sessions_at_start: Some(40),
        };
        let text = render(&snapshot, "0.1.0", 0, 40_000);
        for line in [
            "lookout_maintenance_active 1",
            "lookout_maintenance_mode{mode=\"emergency\"} 1",
            "lookout_maintenance_mode{mode=\"normal\"} 0",
            "lookout_maintenance_periods_total 3",
            "lookout_maintenance_seconds_total{kind=\"planned\"} 60",
            "lookout_maintenance_seconds_total{kind=\"unplanned\"} 30",
            "lookout_maintenance_emergency_seconds_total 30",
            "lookout_maintenance_blocked_requests_total 10",
            "lookout_maintenance_invalidated_sessions_total 2",
            "lookout_maintenance_sessions_at_start 40",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
    }
}
