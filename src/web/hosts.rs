//! Hosts (issue 19): `GET /api/v1/hosts`, one host's page (`GET /api/v1/hosts/{name}`), the
//! `hosts` counts of `/api/v1/status` (the same rows: one code path), and the `host=`
//! parameter of the endpoints the pages read (`choose`: unknown host 404, over-long 400).
//!
//! The hosts are this Lookout (its series carry no `host` label; named `alerts.host`) and
//! every host the receivers heard (`receive::Receiver::hosts`, at most
//! `receive::MAX_HOSTS`). Their CPU, memory and disk now come from the snapshot's latest
//! values (Lookout's `cpu_usage_ratio` (`lookout_cpu_usage_ratio` from an agent), `memory_usage_ratio`, `filesystem_usage_ratio{mountpoint="/"}`;
//! node_exporter's `node_memory_MemAvailable_bytes / MemTotal_bytes` and
//! `node_filesystem_avail_bytes / size_bytes` of "/"); CPU sparklines from the store, one
//! query per series kind whatever the number of hosts (`cpu_usage_ratio`, `lookout_cpu_usage_ratio`
//! as agents send it, and `node_cpu_seconds_total{mode="idle"}` whose rate between points gives node_exporter's
//! CPU, now included). The status is decided on the levels of the enabled rules whose
//! equality matchers the host's series satisfy (as `/api/v1/thresholds` shows them; a value
//! no rule applies to is said so, not called ok); `unknown` once a host is silent for more
//! than `SILENT_INTERVALS` of its observed interval (`DEFAULT_INTERVAL_MS` until one is
//! observed).
//!
//! Which host a series or a check belongs to: a series with a `host` label is that host's,
//! one without is this Lookout's; a check result named `HOST/CHECK` whose `HOST` is a host
//! the receivers heard (the longest such prefix) is that host's, unless a configured check
//! has that name; every other check is this Lookout's.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{Path, Query, State};

use crate::clock::{UnixMillis, format_rfc3339};
use crate::exporter::PREFIX_STR as PREFIX;
use crate::model::SeriesKey;
use crate::receive::{HostSeen, MAX_HOSTS};
use crate::views::checks::{RuleThresholdsView, ThresholdsListView};
use crate::views::hosts::{
    HostCheckView, HostCountsView, HostDetailView, HostFilesystemView, HostLevelsView,
    HostSeriesNameView, HostSeriesView, HostView, HostsView, LevelPairView, SparkPointView,
};

use super::api::ApiError;
use super::params::{HOUR_MS, Params};
use super::{AppState, VERSION};

/// Points of a CPU sparkline, over `SPARK_RANGE_MS`.
pub const SPARK_POINTS: usize = 30;
const SPARK_RANGE_MS: i64 = HOUR_MS;
/// A host silent for more than this many of its intervals is `unknown`.
const SILENT_INTERVALS: i64 = 3;
/// The interval assumed until two requests of a host were received.
const DEFAULT_INTERVAL_MS: i64 = 60_000;
/// The longest host name `host=` takes (a DNS name's limit).
pub const MAX_HOST_NAME: usize = 253;
/// A host page's series: names per page (default, most) and series shown per name.
const NAMES_PAGE: usize = 50;
const MAX_NAMES_PAGE: usize = 500;
const SERIES_PER_NAME: usize = 10;

/// The host a request asks about (`host=`): this Lookout, or one the receivers heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostChoice {
    Local,
    Remote(String),
}

impl HostChoice {
    /// Whether a series with these labels is this host's.
    pub fn owns(&self, key: &SeriesKey) -> bool {
        match self {
            HostChoice::Local => key.label("host").is_none(),
            HostChoice::Remote(name) => key.label("host") == Some(name.as_str()),
        }
    }

    /// Whether the check `name` is this host's (`configured`: a check of the config, always
    /// this Lookout's).
    pub fn owns_check(
        &self,
        name: &str,
        configured: bool,
        remote: &BTreeMap<String, HostSeen>,
    ) -> bool {
        let of = if configured {
            None
        } else {
            check_host(name, remote)
        };
        match self {
            HostChoice::Local => of.is_none(),
            HostChoice::Remote(host) => of == Some(host.as_str()),
        }
    }
}

/// The host a check result named `HOST/CHECK` was sent by: the longest prefix before a `/`
/// that is a host the receivers heard; `None`: this Lookout's.
pub fn check_host<'a>(name: &str, remote: &'a BTreeMap<String, HostSeen>) -> Option<&'a str> {
    name.rmatch_indices('/')
        .find_map(|(at, _)| remote.get_key_value(&name[..at]))
        .map(|(host, _)| host.as_str())
}

/// Reads `host=` (absent or empty: every host): over-long is a 400, a host this hub does
/// not know a 404, each naming the field.
pub fn choose(state: &AppState, value: Option<&str>) -> Result<Option<HostChoice>, ApiError> {
    let Some(name) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if name.len() > MAX_HOST_NAME {
        return Err(ApiError::bad_request(format!(
            "host: {} bytes long, longer than a host name ({MAX_HOST_NAME} at most)",
            name.len()
        )));
    }
    if *name == state.config.get().alerts.host {
        return Ok(Some(HostChoice::Local));
    }
    if state.receiver.hosts().contains_key(name) {
        return Ok(Some(HostChoice::Remote(name.to_string())));
    }
    Err(ApiError::not_found(format!(
        "host: no host named {:?} (GET /api/v1/hosts lists them)",
        name.chars().take(80).collect::<String>()
    )))
}

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

/// `1 - free / all`, in 0..1, when both are known and `all` is positive.
fn used_ratio(free: Option<f64>, all: Option<f64>) -> Option<f64> {
    match (free, all) {
        (Some(free), Some(all)) if all > 0.0 => Some((1.0 - free / all).clamp(0.0, 1.0)),
        _ => None,
    }
}

impl Usage {
    fn finish(&mut self) {
        self.memory = self.memory.or(used_ratio(self.mem_avail, self.mem_total));
        self.disk = self.disk.or(used_ratio(self.fs_avail, self.fs_size));
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

/// A series name as the hub's own: a Lookout agent's `lookout_...` names without the prefix.
fn plain(name: &str) -> &str {
    name.strip_prefix(PREFIX).unwrap_or(name)
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
        let host = key.label("host").unwrap_or(local);
        let Some(u) = usage.get_mut(host) else {
            continue;
        };
        let root = key.label("mountpoint") == Some("/");
        let v = Some(latest.value);
        match plain(key.name()) {
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

/// The levels of the enabled "above" rule on `metric` whose equality matchers `labels`
/// satisfy, the most specific one; a pair without a rule when none does.
fn level_of(
    rules: &[RuleThresholdsView],
    metric: &str,
    labels: &BTreeMap<String, String>,
) -> LevelPairView {
    rules
        .iter()
        .filter(|r| r.metric == metric && r.comparison == "above")
        .filter(|r| r.labels.iter().all(|(k, v)| labels.get(k) == Some(v)))
        .max_by_key(|r| r.labels.len())
        .map(|r| LevelPairView {
            rule: Some(r.rule.clone()),
            warning: r.warning,
            critical: r.critical,
        })
        .unwrap_or_default()
}

/// The labels a host's series carry besides their own: `host`, for a received host.
fn host_labels(name: &str, local: bool) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    if !local {
        labels.insert("host".to_string(), name.to_string());
    }
    labels
}

/// The levels a host's CPU, memory and root filesystem are held against.
fn levels_for(rules: &[RuleThresholdsView], name: &str, local: bool) -> HostLevelsView {
    let labels = host_labels(name, local);
    let mut root = labels.clone();
    root.insert("mountpoint".to_string(), "/".to_string());
    HostLevelsView {
        cpu: level_of(rules, "cpu_usage_ratio", &labels),
        memory: level_of(rules, "memory_usage_ratio", &labels),
        disk: level_of(rules, "filesystem_usage_ratio", &root),
    }
}

fn rules(state: &AppState) -> Vec<RuleThresholdsView> {
    ThresholdsListView::new(&state.config.get().alerts.rules).rules
}

/// A host's status and why: silent, else the worst of its ratios against their levels; a
/// host none of whose values a rule applies to is said so.
/// "5 s", or "0.98 s" under ten seconds (an agent flushing every second).
fn seconds(ms: i64) -> String {
    if ms < 10_000 {
        format!("{} s", ms as f64 / 1000.0)
    } else {
        format!("{} s", ms / 1000)
    }
}

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
                    "silent for {} s, more than {SILENT_INTERVALS} of its {} intervals",
                    silent / 1000,
                    seconds(interval)
                )),
            );
        }
    }
    let mut worst: (&'static str, Option<String>) = ("ok", None);
    let mut rated = 0;
    let mut present = 0;
    for (what, value, pair) in [
        ("CPU", usage.cpu, &levels.cpu),
        ("memory", usage.memory, &levels.memory),
        ("disk /", usage.disk, &levels.disk),
    ] {
        let Some(value) = value else { continue };
        present += 1;
        if pair.rule.is_none() {
            continue;
        }
        rated += 1;
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
    if rated == 0 {
        worst.1 = Some(if present == 0 {
            "no CPU, memory or disk series from it".to_string()
        } else {
            "no alert rule applies to its CPU, memory or disk".to_string()
        });
    }
    worst
}

/// CPU busy ratio per host over the sparkline's range: Lookout's ratio as stored, and
/// node_exporter's from the rate of its idle counters between points (per host, 1 minus
/// the mean idle share of its CPUs). Three store queries for every host.
async fn sparklines(
    state: &AppState,
    local: &str,
    now_ms: UnixMillis,
) -> Result<HashMap<String, Vec<SparkPointView>>, crate::store::StoreError> {
    let from = now_ms - SPARK_RANGE_MS;
    let mut out: HashMap<String, Vec<SparkPointView>> = HashMap::new();
    // This Lookout's own series, and its agents' (named as on /metrics).
    let mut lookout = Vec::new();
    for name in ["cpu_usage_ratio", "lookout_cpu_usage_ratio"] {
        let found = state
            .store
            .query(name, &[], from, now_ms, SPARK_POINTS)
            .await?;
        lookout.extend(found.series);
    }
    for series in lookout {
        let host = series.key.label("host").unwrap_or(local);
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
        .await?;
    // host -> point time -> (sum of idle shares, CPUs counted)
    let mut idle: HashMap<String, BTreeMap<i64, (f64, u32)>> = HashMap::new();
    for series in node.series {
        let host = series.key.label("host").unwrap_or(local);
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

/// Every host's row (at most `receive::MAX_HOSTS`), by name: what `/api/v1/hosts` shows,
/// what a host's page heads with and what `/api/v1/status` counts. A store that cannot be
/// read leaves the sparklines (and node_exporter's CPU) out rather than failing.
pub(super) async fn view(state: &AppState) -> HostsView {
    let now_ms = state.clock.now_ms();
    let local = state.config.get().alerts.host.clone();
    let (hosts, total) = known(state, &local);
    let mut usage = usage_now(state, &local, &hosts);
    let mut sparks = sparklines(state, &local, now_ms).await.unwrap_or_else(|e| {
        tracing::debug!(error = %e, "hosts: CPU history unavailable");
        HashMap::new()
    });
    let rules = rules(state);
    let hosts = hosts
        .into_iter()
        .map(|(name, seen)| {
            let mut u = usage.remove(&name).unwrap_or_default();
            let spark = sparks.remove(&name).unwrap_or_default();
            // node_exporter's CPU now: the latest rate of its idle counters.
            if u.cpu.is_none() {
                u.cpu = spark.last().map(|p| p.value);
            }
            let levels = levels_for(&rules, &name, seen.is_none());
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
                levels,
                cpu: u.cpu,
                memory: u.memory,
                disk: u.disk,
                cpu_sparkline: spark,
                host: name,
            }
        })
        .collect();
    HostsView {
        generated_at: format_rfc3339(now_ms),
        total,
        limit: MAX_HOSTS,
        levels: levels_for(&rules, &local, true),
        hosts,
    }
}

/// `hosts` of `/api/v1/status`: the rows of `/api/v1/hosts`, counted.
pub async fn counts(state: &AppState) -> HostCountsView {
    let view = view(state).await;
    let ok = view.hosts.iter().filter(|h| h.status == "ok").count();
    HostCountsView {
        total: view.total,
        ok,
        // Hosts past the listed ones are not assessed: counted as not ok.
        problem: view.total - ok,
    }
}

/// `GET /api/v1/hosts`: every host (at most `receive::MAX_HOSTS`), by name.
pub async fn hosts(State(state): State<AppState>) -> Json<HostsView> {
    Json(view(&state).await)
}

/// `GET /api/v1/hosts/{name}?offset=0&limit=50`: the host's row, its filesystems now, the
/// checks it sends and a page of the names of the series it sends (each with its count and
/// its first `SERIES_PER_NAME` series' latest values). An unknown host is a 404.
pub async fn host(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<HostDetailView>, ApiError> {
    let choice = choose(&state, Some(name.as_str()))?
        .ok_or_else(|| ApiError::not_found("host: no host named \"\""))?;
    let mut params = Params::new(params, state.clock.now_ms());
    let offset = params.offset("offset", usize::MAX >> 1)?;
    let limit = params.count("limit", NAMES_PAGE, MAX_NAMES_PAGE)?;
    params.finish("offset or limit")?;
    let mut all = view(&state).await;
    let row = all
        .hosts
        .iter()
        .position(|h| h.host == name)
        .map(|i| all.hosts.swap_remove(i))
        .ok_or_else(|| ApiError::not_found(format!("host: {name:?} is past the hosts listed")))?;
    let rules = rules(&state);
    // Its series, by name then labels; the filesystems among them.
    let mut by_name: BTreeMap<String, Vec<HostSeriesView>> = BTreeMap::new();
    // (mountpoint, device) -> (available bytes, size bytes), node_exporter's.
    type Bytes = (Option<f64>, Option<f64>);
    let mut node_fs: BTreeMap<(String, Option<String>), Bytes> = BTreeMap::new();
    let mut filesystems = Vec::new();
    let mut series_total = 0;
    let mut usage_series = false;
    for (key, latest) in state.snapshot.series() {
        if !choice.owns(&key) {
            continue;
        }
        series_total += 1;
        usage_series |= matches!(
            plain(key.name()),
            "cpu_usage_ratio" | "memory_usage_ratio" | "filesystem_usage_ratio"
        );
        let value = Some(latest.value).filter(|v| v.is_finite());
        let mountpoint = key.label("mountpoint").map(str::to_string);
        let device = key.label("device").map(str::to_string);
        match (plain(key.name()), mountpoint) {
            ("filesystem_usage_ratio", Some(mount)) => {
                let mut labels = host_labels(&name, choice == HostChoice::Local);
                labels.insert("mountpoint".into(), mount.clone());
                filesystems.push(HostFilesystemView {
                    levels: level_of(&rules, "filesystem_usage_ratio", &labels),
                    mountpoint: mount,
                    device,
                    usage: value,
                });
            }
            ("node_filesystem_avail_bytes", Some(mount)) => {
                node_fs.entry((mount, device)).or_default().0 = value;
            }
            ("node_filesystem_size_bytes", Some(mount)) => {
                node_fs.entry((mount, device)).or_default().1 = value;
            }
            _ => {}
        }
        let mut labels = key.labels_map();
        labels.remove("host");
        by_name
            .entry(key.name().to_string())
            .or_default()
            .push(HostSeriesView {
                labels,
                value,
                at_ms: latest.at_ms,
            });
    }
    if filesystems.is_empty() {
        for ((mountpoint, device), (avail, size)) in node_fs {
            let mut labels = host_labels(&name, choice == HostChoice::Local);
            labels.insert("mountpoint".into(), mountpoint.clone());
            filesystems.push(HostFilesystemView {
                levels: level_of(&rules, "filesystem_usage_ratio", &labels),
                mountpoint,
                device,
                usage: used_ratio(avail, size),
            });
        }
    }
    filesystems.sort_by(|a, b| a.mountpoint.cmp(&b.mountpoint));
    let names_total = by_name.len();
    let names = by_name
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|(name, mut series)| {
            series.sort_by(|a, b| a.labels.cmp(&b.labels));
            let count = series.len();
            series.truncate(SERIES_PER_NAME);
            HostSeriesNameView {
                name,
                count,
                series,
            }
        })
        .collect();
    // The checks it sends (this Lookout: its own).
    let config = state.config.get();
    let configured: std::collections::HashSet<&str> =
        config.checks.iter().map(|k| k.name.as_str()).collect();
    let remote = state.receiver.hosts();
    let mut checks: Vec<HostCheckView> = state
        .snapshot
        .checks()
        .into_iter()
        .filter(|c| choice.owns_check(&c.check, configured.contains(c.check.as_str()), &remote))
        .map(|c| HostCheckView {
            layer: c.layer.as_str(),
            status: c.status.as_str(),
            value: c.value.filter(|v| v.is_finite()),
            detail: c.detail,
            at: format_rfc3339(c.at_ms),
            at_ms: c.at_ms,
            check: c.check,
        })
        .collect();
    checks.sort_by(|a, b| a.check.cmp(&b.check));
    Ok(Json(HostDetailView {
        generated_at: all.generated_at,
        host: row,
        usage_series,
        filesystems,
        checks,
        series_total,
        names_total,
        offset,
        limit,
        series_per_name: SERIES_PER_NAME,
        names,
    }))
}

#[cfg(test)]
mod tests {
    /// An agent flushing every second is not "silent ... of its 0 s intervals".
    #[test]
    fn intervals_under_ten_seconds_keep_their_fraction() {
        assert_eq!(super::seconds(987), "0.987 s");
        assert_eq!(super::seconds(5_000), "5 s");
        assert_eq!(super::seconds(12_400), "12 s");
    }
}
