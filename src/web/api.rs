//! JSON API handlers; their wire types are the views of `crate::views`.

use std::collections::{BTreeMap, HashMap};

use crate::clock::format_rfc3339;
use crate::exporter;
use crate::model::{EventKind, Layer, Status};
use crate::views::history::{EventView, EventsView, PointView, SeriesQueryView, SeriesView};
use crate::views::maintenance::MaintenanceNowView;
use crate::views::status::{
    AlertCountsView, CheckView, HealthView, LayerView, NotifiersView, SeriesValueView, SourceView,
    StatusView,
};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::hosts::HostChoice;
use super::params::{DAY_MS, HOUR_MS, Params};
use super::{AppState, VERSION};
use crate::views::hosts::HostCountsView;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(super) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub(super) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    pub(super) fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }

    #[cfg(test)]
    pub(super) fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

/// 200 while the pipeline moves and the store takes writes; 503 with the reason otherwise
/// (`daemon::health` judges; this only reads its latest verdict).
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<HealthView>) {
    use crate::exporter::health::Verdict;
    let now = state.clock.now_ms();
    let verdict = state.snapshot.self_metrics.health.get();
    let (code, status) = match &verdict {
        None | Some(Verdict::Healthy) => (StatusCode::OK, "ok"),
        Some(Verdict::Degraded(_)) => (StatusCode::SERVICE_UNAVAILABLE, "degraded"),
        Some(Verdict::Stuck(_)) => (StatusCode::SERVICE_UNAVAILABLE, "stuck"),
    };
    (
        code,
        Json(HealthView {
            status,
            reason: verdict
                .as_ref()
                .and_then(|v| v.reason().map(str::to_string)),
            version: VERSION,
            started_at: format_rfc3339(state.started_at_ms),
            uptime_seconds: (now - state.started_at_ms).max(0) as f64 / 1000.0,
        }),
    )
}

/// The status of everything monitored: worst status per layer, each check, each latest value.
/// Which latest values `/api/v1/status` carries: with thousands of checks the series (three
/// per check and more) are most of the document, and most pages need none of them.
pub enum SeriesFilter {
    All,
    None,
    Named(Vec<String>),
}

impl SeriesFilter {
    /// `series=none`, `series=all` (the default) or `series=name1,name2`.
    fn parse(text: Option<&str>) -> SeriesFilter {
        match text.map(str::trim) {
            None | Some("all") => SeriesFilter::All,
            Some("none") | Some("") => SeriesFilter::None,
            Some(names) => SeriesFilter::Named(
                names
                    .split(',')
                    .map(|n| {
                        n.trim()
                            .trim_start_matches(exporter::PREFIX_STR)
                            .to_string()
                    })
                    .collect(),
            ),
        }
    }

    fn wants(&self, name: &str) -> bool {
        match self {
            SeriesFilter::All => true,
            SeriesFilter::None => false,
            SeriesFilter::Named(names) => names.iter().any(|n| n == name),
        }
    }
}

/// The status; with `host`, that host's checks and series only (its checks decide the
/// overall status and the layers); `hosts`: the counts of `/api/v1/hosts` (left out of the
/// live feed's greeting, which is built without a store query).
pub fn status_view(
    state: &AppState,
    series: &SeriesFilter,
    host: Option<&HostChoice>,
    hosts: Option<HostCountsView>,
) -> StatusView {
    let mut checks = state.snapshot.checks();
    if let Some(host) = host {
        let config = state.config.get();
        let configured: std::collections::HashSet<&str> =
            config.checks.iter().map(|c| c.name.as_str()).collect();
        let remote = state.receiver.hosts();
        checks
            .retain(|c| host.owns_check(&c.check, configured.contains(c.check.as_str()), &remote));
    }
    let mut layers: BTreeMap<Layer, (Status, usize)> = BTreeMap::new();
    for c in &checks {
        let entry = layers.entry(c.layer).or_insert((Status::Ok, 0));
        entry.0 = entry.0.max(c.status);
        entry.1 += 1;
    }
    StatusView {
        maintenance: state
            .maintenance
            .as_ref()
            .and_then(|m| m.mute.open())
            .map(|p| MaintenanceNowView::from(&p)),
        alerts: state
            .alerting
            .as_ref()
            .map(|a| AlertCountsView::of(&a.alerts()))
            .unwrap_or_default(),
        notifiers: NotifiersView {
            configured: state.config.get().notifiers.len(),
        },
        hosts,
        generated_at: format_rfc3339(state.clock.now_ms()),
        overall: Status::worst(checks.iter().map(|c| c.status)).as_str(),
        layers: layers
            .into_iter()
            .map(|(layer, (status, checks))| LayerView {
                layer: layer.as_str(),
                status: status.as_str(),
                checks,
            })
            .collect(),
        checks: checks.iter().map(CheckView::from).collect(),
        series: state
            .snapshot
            .series()
            .into_iter()
            .filter(|(key, _)| series.wants(key.name()))
            .filter(|(key, _)| host.is_none_or(|h| h.owns(key)))
            .map(|(key, latest)| SeriesValueView {
                name: key.name().to_string(),
                labels: key.labels_map(),
                value: Some(latest.value).filter(|v| v.is_finite()),
                at: format_rfc3339(latest.at_ms),
            })
            .collect(),
        sources: state
            .snapshot
            .sources()
            .into_iter()
            .map(|(source, at)| SourceView {
                source,
                last_run: format_rfc3339(at),
            })
            .collect(),
    }
}

/// `/api/v1/status`, or `?series=none` / `?series=filesystem_usage_ratio,load1` for fewer
/// latest values; `?host=web-1` for one host's checks and series.
pub async fn status(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<StatusView>, ApiError> {
    let filter = SeriesFilter::parse(params.get("series").map(String::as_str));
    let host = super::hosts::choose(&state, params.get("host").map(String::as_str))?;
    let hosts = super::hosts::counts(&state).await;
    Ok(Json(status_view(
        &state,
        &filter,
        host.as_ref(),
        Some(hosts),
    )))
}

/// `/api/v1/series?name=cpu_usage_ratio&from=-6h&to=now&max_points=500&mode=user`:
/// every parameter other than name/from/to/max_points/host is a label matcher. `host=` names
/// a host (`choose`): a received host's series (label `host`), or with this Lookout's own
/// name, its series (those without a `host` label).
pub async fn series(
    State(state): State<AppState>,
    Query(mut params): Query<HashMap<String, String>>,
) -> Result<Json<SeriesQueryView>, ApiError> {
    let name = params
        .remove("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("name: required, e.g. name=cpu_usage_ratio"))?;
    let name = name
        .strip_prefix(exporter::PREFIX_STR)
        .unwrap_or(&name)
        .to_string();
    let host = super::hosts::choose(&state, params.remove("host").as_deref())?;
    let mut params = Params::new(params, state.clock.now_ms());
    let range = params.range(HOUR_MS, None)?;
    let max_points = params.count("max_points", 1000, 10_000)?;
    let mut matchers: Vec<(String, String)> = params.rest().into_iter().collect();
    if let Some(HostChoice::Remote(host)) = &host {
        matchers.push(("host".to_string(), host.clone()));
    }
    matchers.sort();
    let mut result = state
        .store
        .query(&name, &matchers, range.from_ms, range.to_ms, max_points)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if let Some(host) = &host {
        result.series.retain(|s| host.owns(&s.key));
    }
    let finite = |v: f64| Some(v).filter(|v| v.is_finite());
    Ok(Json(SeriesQueryView {
        name,
        from: format_rfc3339(range.from_ms),
        to: format_rfc3339(range.to_ms),
        tier: result.tier.as_str(),
        step_seconds: result.step_ms as f64 / 1000.0,
        series: result
            .series
            .into_iter()
            .map(|s| SeriesView {
                labels: s.key.labels_map(),
                points: s
                    .points
                    .into_iter()
                    .map(|p| PointView {
                        at: p.at_ms,
                        avg: finite(p.avg),
                        min: finite(p.min),
                        max: finite(p.max),
                        count: p.count,
                    })
                    .collect(),
            })
            .collect(),
    }))
}

/// The kinds asked for by `kind=` (repeated, or a comma list); an unknown one is a 400
/// naming the accepted words.
fn event_kinds(values: &[String]) -> Result<Vec<EventKind>, ApiError> {
    let mut kinds = Vec::new();
    for word in values.iter().flat_map(|v| v.split(',')).map(str::trim) {
        if word.is_empty() {
            continue;
        }
        let kind = EventKind::parse(word).ok_or_else(|| {
            let accepted: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
            ApiError::bad_request(format!(
                "kind: \"{word}\" is not an event kind; expected one or more of {}",
                accepted.join(", ")
            ))
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// `/api/v1/events?from=-24h&to=now&limit=100&kind=alert,maintenance&check=app`, newest
/// first. `kind` may be repeated or a comma list; `check` is the subject (a check's name).
pub async fn events(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<EventsView>, ApiError> {
    let (kinds, rest): (Vec<_>, Vec<_>) = pairs.into_iter().partition(|(k, _)| k == "kind");
    let kinds = event_kinds(&kinds.into_iter().map(|(_, v)| v).collect::<Vec<_>>())?;
    let mut map = HashMap::new();
    for (key, value) in rest {
        if map.insert(key.clone(), value).is_some() {
            return Err(ApiError::bad_request(format!(
                "{key}: given more than once; only kind may be repeated"
            )));
        }
    }
    let subject = map.remove("check").filter(|s| !s.is_empty());
    let mut params = Params::new(map, state.clock.now_ms());
    let range = params.range(7 * DAY_MS, None)?;
    let limit = params.count("limit", 100, 10_000)?;
    params.finish("from, to, limit, kind or check")?;
    let events = state
        .store
        .events_where(
            range.from_ms,
            range.to_ms,
            limit,
            &kinds,
            subject.as_deref(),
        )
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(EventsView {
        events: events.iter().map(EventView::from).collect(),
    }))
}

/// Prometheus text format 0.0.4, or OpenMetrics 1.0 when the scraper asks for it. Rendered
/// from the snapshot, ahead of the scrape while Prometheus scrapes regularly: a scrape never
/// triggers a collection.
pub async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !state.auth.metrics_allowed(authorization) {
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"lookout metrics\"")],
            "/metrics needs credentials (server.metrics_token or metrics_user/metrics_password)\n",
        )
            .into_response();
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (format, content_type) = if exporter::wants_openmetrics(accept) {
        (
            exporter::PageFormat::OpenMetrics,
            exporter::OPENMETRICS_CONTENT_TYPE,
        )
    } else {
        (exporter::PageFormat::Text, exporter::TEXT_CONTENT_TYPE)
    };
    let body = state.metrics_page.serve(format);
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
