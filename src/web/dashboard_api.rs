//! Read-only endpoints the dashboard needs beyond the general API (issue "Web dashboard"):
//! the status history of one check; the checks list with uptime and status strip
//! (`/api/v1/checks`, one store query for every check); one check's page
//! (`/api/v1/checks/{name}`: recent results, uptimes, HTTP phases, certificate, charts with
//! the levels its status is decided on); the effective alert thresholds
//! (`/api/v1/thresholds`). Every number the dashboard draws comes from here.

use std::collections::{BTreeMap, HashMap};

use crate::clock::{UnixMillis, format_rfc3339};
use crate::config::Config;
use crate::model::{CheckResult, Layer, Status};
use crate::store::CheckSummary;
use crate::views::checks::{
    CertificateView, CheckDetailView, CheckEntryView, CheckFacts, ChecksView, PhasesView,
    STRIP_BUCKETS, ThresholdsListView, strip_letter,
};
use crate::views::history::{CheckHistoryPointView, CheckHistoryView};
use axum::Json;
use axum::extract::{Path, Query, State};

use super::AppState;
use super::api::ApiError;
use super::hosts::{HostChoice, check_host};
use super::params::{DAY_MS, Params, Range};
use crate::receive::HostSeen;

/// The most checks one page of `/api/v1/checks` holds.
pub const MAX_CHECKS_PAGE: usize = 10_000;
/// Results in a check page's `recent`.
const RECENT: usize = 20;

/// The checks the dashboard lists: every enabled configured check (run yet or not), the
/// checks Lookout makes itself (system, `lookout:*`, `security:*`) that have a result, and
/// the checks of the hosts the receivers heard (`HOST/CHECK`). Results of checks no longer
/// configured are left out. Sorted by name. With `host`, that host's checks only.
fn listed(
    config: &Config,
    latest: Vec<CheckResult>,
    remote: &BTreeMap<String, HostSeen>,
    host: Option<&HostChoice>,
) -> Vec<(String, CheckFacts, Option<CheckResult>)> {
    let mut latest: BTreeMap<String, CheckResult> =
        latest.into_iter().map(|r| (r.check.clone(), r)).collect();
    let mut out: BTreeMap<String, (CheckFacts, Option<CheckResult>)> = BTreeMap::new();
    for check in config.checks.iter().filter(|c| c.enabled) {
        let result = latest.remove(&check.name);
        out.insert(check.name.clone(), (CheckFacts::configured(check), result));
    }
    for (name, result) in latest {
        let system = result.layer == Layer::System;
        if let Some(sender) = check_host(&name, remote) {
            let facts = CheckFacts::received(sender, &name[sender.len() + 1..]);
            out.insert(name, (facts, Some(result)));
        } else if system || name.contains(':') {
            let facts = CheckFacts::builtin(&name, &config.system.thresholds);
            out.insert(name, (facts, Some(result)));
        }
    }
    let configured: std::collections::HashSet<&str> =
        config.checks.iter().map(|c| c.name.as_str()).collect();
    out.into_iter()
        .filter(|(n, _)| {
            host.is_none_or(|h| h.owns_check(n, configured.contains(n.as_str()), remote))
        })
        .map(|(n, (f, r))| (n, f, r))
        .collect()
}

fn entry(
    name: String,
    facts: &CheckFacts,
    result: Option<&CheckResult>,
    summary: Option<&CheckSummary>,
    layer_of_config: Option<Layer>,
    range: Range,
) -> CheckEntryView {
    let mut worst: Vec<Option<Status>> = vec![None; STRIP_BUCKETS as usize];
    for (bucket, status, _, _) in summary.map(|s| s.buckets.as_slice()).unwrap_or_default() {
        if let Some(slot) = worst.get_mut(*bucket as usize) {
            *slot = Some(*status);
        }
    }
    // The latest result may not be stored yet (the store flushes every few seconds): a
    // young install's strip and uptime show it rather than nothing.
    let latest_in_range = result.filter(|r| (range.from_ms..=range.to_ms).contains(&r.at_ms));
    if let Some(r) = latest_in_range {
        let span = i128::from((range.to_ms - range.from_ms).max(0)) + 1;
        let bucket = i128::from(r.at_ms - range.from_ms) * i128::from(STRIP_BUCKETS) / span;
        if let Some(slot) = worst.get_mut(bucket as usize) {
            *slot = Some(slot.map_or(r.status, |s| s.max(r.status)));
        }
    }
    let uptime = summary.and_then(CheckSummary::uptime).or_else(|| {
        latest_in_range
            .filter(|r| r.status != Status::Maintenance)
            .map(|r| if r.status == Status::Ok { 1.0 } else { 0.0 })
    });
    let strip: String = worst
        .into_iter()
        .map(|s| s.map_or('-', strip_letter))
        .collect();
    let layer = result
        .map(|r| r.layer)
        .or(layer_of_config)
        .unwrap_or(Layer::Application);
    CheckEntryView {
        check: name,
        layer: layer.as_str(),
        kind: facts.kind,
        target: facts.target.clone(),
        interval_s: facts.interval_s,
        timeout_s: facts.timeout_s,
        status: result.map_or(Status::Unknown, |r| r.status).as_str(),
        value: result.and_then(|r| r.value).filter(|v| v.is_finite()),
        unit: facts.unit.map(|u| u.as_str()),
        detail: result.map_or_else(|| "no result yet".to_string(), |r| r.detail.clone()),
        at: result.map(|r| format_rfc3339(r.at_ms)),
        at_ms: result.map(|r| r.at_ms),
        uptime,
        strip,
        thresholds: facts.thresholds(),
    }
}

fn layer_of(config: &Config, name: &str) -> Option<Layer> {
    config
        .checks
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.layer)
}

/// `/api/v1/checks?from=-24h&to=now&limit=1000&offset=0&host=web-1`: every check (of one
/// host with `host`) with its latest result, its uptime and status strip over the range,
/// and the levels its status is decided on. One store query for all checks, whatever their
/// number.
pub async fn checks(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<ChecksView>, ApiError> {
    let mut params = Params::new(params, state.clock.now_ms());
    let host = super::hosts::choose(&state, params.take("host").as_deref())?;
    let range = params.range(DAY_MS, None)?;
    let limit = params.count("limit", MAX_CHECKS_PAGE, MAX_CHECKS_PAGE)?;
    let offset = params.offset("offset", usize::MAX >> 1)?;
    params.finish("from, to, limit, offset or host")?;
    let config = state.config.get();
    let remote = state.receiver.hosts();
    let all = listed(&config, state.snapshot.checks(), &remote, host.as_ref());
    let total = all.len();
    let page: Vec<_> = all.into_iter().skip(offset).take(limit).collect();
    let summaries: HashMap<String, CheckSummary> = if page.is_empty() {
        HashMap::new()
    } else {
        state
            .store
            .check_summaries(range.from_ms, range.to_ms, STRIP_BUCKETS, None)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .into_iter()
            .map(|s| (s.check.clone(), s))
            .collect()
    };
    let checks = page
        .into_iter()
        .map(|(name, facts, result)| {
            let layer = layer_of(&config, &name);
            let summary = summaries.get(&name);
            entry(name, &facts, result.as_ref(), summary, layer, range)
        })
        .collect();
    Ok(Json(ChecksView {
        from: format_rfc3339(range.from_ms),
        to: format_rfc3339(range.to_ms),
        from_ms: range.from_ms,
        to_ms: range.to_ms,
        total,
        offset,
        checks,
    }))
}

/// The latest values of the series of one check (label `check` = `name`), by series name.
fn latest_of(state: &AppState, name: &str) -> BTreeMap<String, (f64, UnixMillis)> {
    state
        .snapshot
        .series()
        .into_iter()
        .filter(|(key, _)| key.label("check") == Some(name))
        .filter(|(_, latest)| latest.value.is_finite())
        .map(|(key, latest)| (key.name().to_string(), (latest.value, latest.at_ms)))
        .collect()
}

/// `/api/v1/checks/{name}?from=-24h&to=now`: the list entry, the last results, uptimes over
/// 24 h / 7 d / 30 d, the latest HTTP phases and certificate, and what the page charts.
pub async fn check(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<CheckDetailView>, ApiError> {
    let now = state.clock.now_ms();
    let mut params = Params::new(params, now);
    let range = params.range(DAY_MS, None)?;
    params.finish("from or to")?;
    let config = state.config.get();
    let remote = state.receiver.hosts();
    let (name, facts, result) = listed(&config, state.snapshot.checks(), &remote, None)
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| ApiError::not_found(format!("no check named {name:?}")))?;
    let internal = |e: crate::store::StoreError| ApiError::internal(e.to_string());
    let summary = |from: UnixMillis, to: UnixMillis, buckets: u32| {
        let store = state.store.clone();
        let name = name.clone();
        async move {
            store
                .check_summaries(from, to, buckets, Some(&name))
                .await
                .map(|mut s| s.pop())
        }
    };
    let in_range = summary(range.from_ms, range.to_ms, STRIP_BUCKETS)
        .await
        .map_err(internal)?;
    let uptime = |span: i64| {
        let summary = &summary;
        async move {
            summary(now.saturating_sub(span).max(0), now, 1)
                .await
                .map(|s| s.and_then(|s| s.uptime()))
        }
    };
    let uptime_24h = uptime(DAY_MS).await.map_err(internal)?;
    let uptime_7d = uptime(7 * DAY_MS).await.map_err(internal)?;
    let uptime_30d = uptime(30 * DAY_MS).await.map_err(internal)?;
    let mut stored = state
        .store
        .check_history(&name, 0, now, RECENT)
        .await
        .map_err(internal)?;
    // The latest result first, stored yet or not.
    if let Some(latest) = &result
        && stored.first().is_none_or(|r| r.at_ms < latest.at_ms)
    {
        stored.insert(0, latest.clone());
        stored.truncate(RECENT);
    }
    let recent = stored
        .into_iter()
        .map(CheckHistoryPointView::from)
        .collect();
    // Before anything is stored, the latest result is all there is.
    let latest_uptime = result
        .as_ref()
        .map(|r| if r.status == Status::Ok { 1.0 } else { 0.0 });
    let uptime_24h = uptime_24h.or(latest_uptime);
    let uptime_7d = uptime_7d.or(latest_uptime);
    let uptime_30d = uptime_30d.or(latest_uptime);
    let latest = latest_of(&state, &name);
    let value = |series: &str| latest.get(series).map(|(v, _)| *v);
    let phases = value("http_response_seconds").map(|total| PhasesView {
        dns_s: value("http_dns_seconds"),
        connect_s: value("http_connect_seconds"),
        tls_s: value("http_tls_seconds"),
        ttfb_s: value("http_first_byte_seconds"),
        total_s: Some(total),
    });
    let certificate = latest
        .get("tls_certificate_expiry_seconds")
        .map(|(left, at_ms)| {
            let expires_at_ms = at_ms.saturating_add((left * 1000.0) as i64);
            CertificateView {
                expires_at: format_rfc3339(expires_at_ms),
                expires_at_ms,
                days_left: (left / 86_400.0 * 10.0).floor() / 10.0,
                subject: None,
            }
        });
    let layer = layer_of(&config, &name);
    let charts = facts.charts.clone();
    Ok(Json(CheckDetailView {
        entry: entry(
            name,
            &facts,
            result.as_ref(),
            in_range.as_ref(),
            layer,
            range,
        ),
        recent,
        uptime_24h,
        uptime_7d,
        uptime_30d,
        phases,
        certificate,
        charts,
    }))
}

/// `/api/v1/thresholds`: the enabled alert rules on metrics with their effective levels
/// (built-ins, `[system.thresholds]`, overrides, own rules) and clear levels.
pub async fn thresholds(State(state): State<AppState>) -> Json<ThresholdsListView> {
    Json(ThresholdsListView::new(&state.config.get().alerts.rules))
}

/// `/api/v1/checks/{name}/history?from=-24h&to=now&limit=1000`.
pub async fn check_history(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<CheckHistoryView>, ApiError> {
    let mut params = Params::new(params, state.clock.now_ms());
    let range = params.range(DAY_MS, None)?;
    let limit = params.count("limit", 1000, 10_000)?;
    params.finish("from, to or limit")?;
    let (from_ms, to_ms) = (range.from_ms, range.to_ms);
    let mut rows = state
        .store
        .check_history(&name, from_ms, to_ms, limit)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    rows.reverse();
    Ok(Json(CheckHistoryView {
        check: name,
        from: format_rfc3339(from_ms),
        to: format_rfc3339(to_ms),
        history: rows.into_iter().map(CheckHistoryPointView::from).collect(),
    }))
}
