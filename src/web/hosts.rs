//! Hosts (issue 19): `GET /api/v1/hosts` and the `hosts` counts of `/api/v1/status`.
//!
//! The hosts are this Lookout (its series carry no `host` label; named `alerts.host`) and
//! every host the receivers heard (`receive::Receiver::hosts`, at most
//! `receive::MAX_HOSTS`). Their CPU, memory and disk now come from the snapshot's latest
//! values (Lookout's `cpu_usage_ratio` (`lookout_cpu_usage_ratio` from an agent), `memory_usage_ratio`, `filesystem_usage_ratio{mountpoint="/"}`;
//! node_exporter's `node_memory_MemAvailable_bytes / MemTotal_bytes` and
//! `node_filesystem_avail_bytes / size_bytes` of "/"); CPU sparklines from the store, one
//! query per series kind whatever the number of hosts (`cpu_usage_ratio`, `lookout_cpu_usage_ratio`
//! as agents send it, and `node_cpu_seconds_total{mode="idle"}` whose rate between points gives node_exporter's
//! CPU, now included). The status is decided on the enabled built-in rules' effective levels
//! (as `/api/v1/thresholds` shows them); `unknown` once a host is silent for more than
//! `SILENT_INTERVALS` of its observed interval (`DEFAULT_INTERVAL_MS` until one is observed).
//! `/api/v1/status` counts from the snapshot alone (no store query): there, node_exporter's
//! CPU is not taken into account.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::State;

use crate::clock::{UnixMillis, format_rfc3339};
use crate::exporter::PREFIX_STR as PREFIX;
use crate::receive::{HostSeen, MAX_HOSTS};
use crate::views::checks::ThresholdsListView;
use crate::views::hosts::{
    HostCountsView, HostLevelsView, HostView, HostsView, LevelPairView, SparkPointView,
};

use super::api::ApiError;
use super::params::HOUR_MS;
use super::{AppState, VERSION};

/// Points of a CPU sparkline, over `SPARK_RANGE_MS`.
pub const SPARK_POINTS: usize = 30;
const SPARK_RANGE_MS: i64 = HOUR_MS;
/// A host silent for more than this many of its intervals is `unknown`.
const SILENT_INTERVALS: i64 = 3;
/// The interval assumed until two requests of a host were received.
const DEFAULT_INTERVAL_MS: i64 = 60_000;

/// Latest values of one host, as its series give them.
#[derive(Debug, Default, Clone)]
struct Usage {
    cpu: Option<f64>,
    memory: Option<f64>,
    disk: Option<f64>,
    mem_avail: Option<f64>,
    mem_total: Option<f64>,
    fs_avail: Option<f64>,
    fs_size: Option<f64>,
}

impl Usage {
    fn finish(&mut self) {
        let ratio = |free: Option<f64>, all: Option<f64>| match (free, all) {
            (Some(free), Some(all)) if all > 0.0 => Some((1.0 - free / all).clamp(0.0, 1.0)),
            _ => None,
        };
        self.memory = self.memory.or(ratio(self.mem_avail, self.mem_total));
        self.disk = self.disk.or(ratio(self.fs_avail, self.fs_size));
    }
}

/// The hosts: (name, what the receivers know; `None` for this Lookout), by name, at most
/// `MAX_HOSTS`; and how many there are in all.
fn known(state: &AppState, local: &str) -> (Vec<(String, Option<HostSeen>)>, usize) {
    let mut all: BTreeMap<String, Option<HostSeen>> = state
        .receiver
        .hosts()
        .into_iter()
        .map(|(name, seen)| (name, Some(seen)))
        .collect();
    // This Lookout is itself, whatever an agent of the same name sends.
    all.insert(local.to_string(), None);
    let total = all.len();
    (all.into_iter().take(MAX_HOSTS).collect(), total)
}

/// Every listed host's latest usage, from one pass over the snapshot.
fn usage_now(
    state: &AppState,
    local: &str,
    hosts: &[(String, Option<HostSeen>)],
) -> HashMap<String, Usage> {
    let mut usage: HashMap<String, Usage> = hosts
        .iter()
        .map(|(name, _)| (name.clone(), Usage::default()))
        .collect();
    for (key, latest) in state.snapshot.series() {
        if !latest.value.is_finite() {
            continue;
        }
        let host = key.labels.get("host").map_or(local, String::as_str);
        let Some(u) = usage.get_mut(host) else {
            continue;
        };
        let root = key.labels.get("mountpoint").is_some_and(|m| m == "/");
        let v = Some(latest.value);
        // A Lookout agent remote-writes its series as /metrics names them (`lookout_...`).
        let name = key.name.strip_prefix(PREFIX).unwrap_or(&key.name);
        match name {
            "cpu_usage_ratio" => u.cpu = v,
            "memory_usage_ratio" => u.memory = v,
            "filesystem_usage_ratio" if root => u.disk = v,
            "node_memory_MemAvailable_bytes" => u.mem_avail = v,
            "node_memory_MemTotal_bytes" => u.mem_total = v,
            "node_filesystem_avail_bytes" if root => u.fs_avail = v,
            "node_filesystem_size_bytes" if root => u.fs_size = v,
            _ => {}
        }
    }
    for u in usage.values_mut() {
        u.finish();
    }
    usage
}

/// The levels of the enabled built-in host rules, as `/api/v1/thresholds` shows them.
fn levels(state: &AppState) -> HostLevelsView {
    let rules = ThresholdsListView::new(&state.config.get().alerts.rules).rules;
    let of = |metric: &str| {
        rules
            .iter()
            .find(|r| r.metric == metric && r.comparison == "above")
            .map(|r| LevelPairView {
                warning: r.warning,
                critical: r.critical,
            })
            .unwrap_or_default()
    };
    HostLevelsView {
        cpu: of("cpu_usage_ratio"),
        memory: of("memory_usage_ratio"),
        disk: of("filesystem_usage_ratio"),
    }
}

/// A host's status and why: silent, else the worst of its ratios against their levels.
fn assess(
    usage: &Usage,
    seen: Option<&HostSeen>,
    levels: &HostLevelsView,
    now_ms: UnixMillis,
) -> (&'static str, Option<String>) {
    if let Some(seen) = seen {
        let interval = seen.interval_ms.unwrap_or(DEFAULT_INTERVAL_MS).max(1);
        let silent = now_ms - seen.last_seen_ms;
        if silent > SILENT_INTERVALS * interval {
            return (
                "unknown",
                Some(format!(
                    "silent for {} s, more than {SILENT_INTERVALS} of its {} s intervals",
                    silent / 1000,
                    interval / 1000
                )),
            );
        }
    }
    let mut worst: (&'static str, Option<String>) = ("ok", None);
    for (what, value, pair) in [
        ("CPU", usage.cpu, &levels.cpu),
        ("memory", usage.memory, &levels.memory),
        ("disk /", usage.disk, &levels.disk),
    ] {
        let Some(value) = value else { continue };
        let reason = |level: f64, name: &str| {
            format!(
                "{what} {:.1} % is past the {name} level of {:.1} %",
                value * 100.0,
                level * 100.0
            )
        };
        if let Some(critical) = pair.critical.filter(|c| value >= *c) {
            if worst.0 != "critical" {
                worst = ("critical", Some(reason(critical, "critical")));
            }
        } else if let Some(warning) = pair.warning.filter(|w| value >= *w)
            && worst.0 == "ok"
        {
            worst = ("warning", Some(reason(warning, "warning")));
        }
    }
    worst
}

/// `hosts` of `/api/v1/status`: from the snapshot and the receivers only.
pub fn counts(state: &AppState) -> HostCountsView {
    let local = state.config.get().alerts.host.clone();
    let (hosts, total) = known(state, &local);
    let usage = usage_now(state, &local, &hosts);
    let levels = levels(state);
    let now_ms = state.clock.now_ms();
    let ok = hosts
        .iter()
        .filter(|(name, seen)| {
            let u = usage.get(name).cloned().unwrap_or_default();
            assess(&u, seen.as_ref(), &levels, now_ms).0 == "ok"
        })
        .count();
    HostCountsView {
        total,
        ok,
        problem: total - ok,
    }
}

/// CPU busy ratio per host over the sparkline's range: Lookout's ratio as stored, and
/// node_exporter's from the rate of its idle counters between points (per host, 1 minus
/// the mean idle share of its CPUs). Three store queries for every host.
async fn sparklines(
    state: &AppState,
    local: &str,
    now_ms: UnixMillis,
) -> Result<HashMap<String, Vec<SparkPointView>>, ApiError> {
    let internal = |e: crate::store::StoreError| ApiError::internal(e.to_string());
    let from = now_ms - SPARK_RANGE_MS;
    let mut out: HashMap<String, Vec<SparkPointView>> = HashMap::new();
    // This Lookout's own series, and its agents' (named as on /metrics).
    let mut lookout = Vec::new();
    for name in ["cpu_usage_ratio", "lookout_cpu_usage_ratio"] {
        let found = state
            .store
            .query(name, &[], from, now_ms, SPARK_POINTS)
            .await
            .map_err(internal)?;
        lookout.extend(found.series);
    }
    for series in lookout {
        let host = series.key.labels.get("host").map_or(local, String::as_str);
        out.entry(host.to_string()).or_insert_with(|| {
            series
                .points
                .iter()
                .filter(|p| p.avg.is_finite())
                .map(|p| SparkPointView {
                    at_ms: p.at_ms,
                    value: p.avg,
                })
                .collect()
        });
    }
    let node = state
        .store
        .query(
            "node_cpu_seconds_total",
            &[("mode".to_string(), "idle".to_string())],
            from,
            now_ms,
            SPARK_POINTS + 1,
        )
        .await
        .map_err(internal)?;
    // host -> point time -> (sum of idle shares, CPUs counted)
    let mut idle: HashMap<String, BTreeMap<i64, (f64, u32)>> = HashMap::new();
    for series in node.series {
        let host = series.key.labels.get("host").map_or(local, String::as_str);
        let points = idle.entry(host.to_string()).or_default();
        for pair in series.points.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let seconds = (b.at_ms - a.at_ms) as f64 / 1000.0;
            let delta = b.last - a.last;
            if seconds <= 0.0 || delta < 0.0 || !delta.is_finite() {
                continue; // a counter reset, or nothing to divide by
            }
            let share = points.entry(b.at_ms).or_insert((0.0, 0));
            share.0 += (delta / seconds).clamp(0.0, 1.0);
            share.1 += 1;
        }
    }
    for (host, points) in idle {
        if out.contains_key(&host) || points.is_empty() {
            continue; // a Lookout agent's own ratio comes first
        }
        let line = points
            .into_iter()
            .map(|(at_ms, (sum, n))| SparkPointView {
                at_ms,
                value: (1.0 - sum / f64::from(n)).clamp(0.0, 1.0),
            })
            .collect::<Vec<_>>();
        let skip = line.len().saturating_sub(SPARK_POINTS);
        out.insert(host, line.into_iter().skip(skip).collect());
    }
    Ok(out)
}

/// `GET /api/v1/hosts`: every host (at most `receive::MAX_HOSTS`), by name.
pub async fn hosts(State(state): State<AppState>) -> Result<Json<HostsView>, ApiError> {
    let now_ms = state.clock.now_ms();
    let local = state.config.get().alerts.host.clone();
    let (hosts, total) = known(&state, &local);
    let mut usage = usage_now(&state, &local, &hosts);
    let mut sparks = sparklines(&state, &local, now_ms).await?;
    let levels = levels(&state);
    let hosts = hosts
        .into_iter()
        .map(|(name, seen)| {
            let mut u = usage.remove(&name).unwrap_or_default();
            let spark = sparks.remove(&name).unwrap_or_default();
            // node_exporter's CPU now: the latest rate of its idle counters.
            if u.cpu.is_none() {
                u.cpu = spark.last().map(|p| p.value);
            }
            let (status, reason) = assess(&u, seen.as_ref(), &levels, now_ms);
            let last_seen_ms = seen.as_ref().map_or(now_ms, |s| s.last_seen_ms);
            HostView {
                local: seen.is_none(),
                kind: seen
                    .as_ref()
                    .map_or_else(|| "lookout".to_string(), |s| s.sender.kind.clone()),
                version: seen
                    .as_ref()
                    .map_or(Some(VERSION.to_string()), |s| s.sender.version.clone()),
                protocol: seen.as_ref().map_or("local", |s| s.protocol.as_str()),
                last_seen: format_rfc3339(last_seen_ms),
                last_seen_ms,
                interval_s: seen
                    .as_ref()
                    .and_then(|s| s.interval_ms)
                    .map(|ms| ms as f64 / 1000.0),
                status,
                reason,
                cpu: u.cpu,
                memory: u.memory,
                disk: u.disk,
                cpu_sparkline: spark,
                host: name,
            }
        })
        .collect();
    Ok(Json(HostsView {
        generated_at: format_rfc3339(now_ms),
        total,
        limit: MAX_HOSTS,
        levels,
        hosts,
    }))
}
