//! `/api/v1/maintenance`: the maintenance state over HTTP — the open period, the windows
//! (opened by hand, and the next occurrences of the configured ones), the history of periods
//! — and, for admins, start / stop / extend (the same as `lookout maintenance ...`: the
//! configured control steps switch the app, then the window is recorded; the daemon's
//! maintenance loop is told to re-read at once).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::AppState;
use super::api::ApiError;
use super::params::{DAY_MS, Params};
use crate::clock::UnixMillis;
use crate::config::maintenance::MaintenanceConfig;
use crate::maintenance::{Origin, manual};
use crate::views::maintenance::{MaintenanceView, PeriodView, ReportView, WindowView, has_control};

/// `GET /api/v1/maintenance?since=-30d`.
pub async fn status(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<MaintenanceView>, ApiError> {
    let now = state.clock.now_ms();
    let since_ms = since_param(params, now, None)?;
    let internal = |e: crate::store::StoreError| ApiError::internal(e.to_string());
    let config = maintenance_config(&state);
    let open = match &state.maintenance {
        Some(handle) => handle.mute.open(),
        None => state.store.open_period().await.map_err(internal)?,
    };
    let manual = state.store.windows(now).await.map_err(internal)?;
    let mut periods = state
        .store
        .periods(since_ms, now + 1)
        .await
        .map_err(internal)?;
    // A period's `muted` is written when it ends; while it is open, say what it mutes so far.
    let open = match open {
        Some(mut period) => {
            period.muted = muted_so_far(&state, &period, now).await.map_err(internal)?;
            for stored in periods.iter_mut().filter(|p| p.id == period.id) {
                stored.muted = period.muted.clone();
            }
            Some(period)
        }
        None => None,
    };
    let mut history: Vec<PeriodView> = periods.iter().map(|p| PeriodView::new(p, now)).collect();
    history.reverse();
    Ok(Json(MaintenanceView {
        active: open.is_some(),
        open: open.map(|p| PeriodView::new(&p, now)),
        windows: WindowView::all(&manual, &config, now),
        history,
        control: has_control(&config),
    }))
}

/// The alerts the open `period` has muted so far: the notices it muted (one line per alert, as
/// the daemon writes them when the period ends) and the live alerts it keeps quiet now (an
/// alert firing since before the period is muted without a new notice).
async fn muted_so_far(
    state: &AppState,
    period: &crate::maintenance::Period,
    now: UnixMillis,
) -> Result<Vec<String>, crate::store::StoreError> {
    use crate::alert::mute::MuteReason;
    let entries = state
        .store
        .maintenance_muted(period.start_ms, now + 1)
        .await?;
    let mut lines = crate::maintenance::notices::muted_lines(&entries);
    let live = state
        .alerting
        .as_ref()
        .map(|a| a.alerts())
        .unwrap_or_default();
    for alert in live.iter().filter(|a| {
        a.state == "firing" && matches!(a.muted_by, Some(MuteReason::Maintenance { .. }))
    }) {
        let line = format!(
            "{} {}: {}",
            alert.severity.as_str(),
            alert.rule,
            alert.summary
        );
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    Ok(lines)
}

/// `GET /api/v1/maintenance/report?since=-30d`: the figures of `lookout report`.
pub async fn report(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<ReportView>, ApiError> {
    let now = state.clock.now_ms();
    let since_ms = since_param(params, now, Some(crate::maintenance::report::MAX_RANGE_MS))?;
    state
        .store
        .maintenance_report(since_ms, now)
        .await
        .map(|report| Json(ReportView::from(&report)))
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// `since` (default 30 days ago, at most `max_span_ms` ago), the only parameter of the
/// maintenance reads.
fn since_param(
    params: HashMap<String, String>,
    now: UnixMillis,
    max_span_ms: Option<i64>,
) -> Result<UnixMillis, ApiError> {
    let mut params = Params::new(params, now);
    let range = params.since(30 * DAY_MS, max_span_ms)?;
    params.finish("since")?;
    Ok(range.from_ms)
}

fn maintenance_config(state: &AppState) -> MaintenanceConfig {
    state
        .maintenance
        .as_ref()
        .and_then(|h| h.config.read().ok().map(|c| c.clone()))
        .unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartDto {
    /// "30m", "2h".
    #[serde(rename = "for")]
    pub duration: String,
    pub reason: String,
    #[serde(default)]
    pub mode: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendDto {
    pub by: String,
}

type Body<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

fn author(principal: Option<axum::Extension<super::auth::Principal>>) -> String {
    principal.map_or_else(|| "dashboard".to_string(), |p| p.0.name.clone())
}

/// `POST /api/v1/maintenance/start {"for": "30m", "reason": "...", "mode": "normal"}`.
pub async fn start(
    State(state): State<AppState>,
    principal: Option<axum::Extension<super::auth::Principal>>,
    body: Body<StartDto>,
) -> Result<Json<MaintenanceView>, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let request = manual::StartRequest::parse(&body.duration, &body.reason, body.mode.as_deref())
        .map_err(ApiError::bad_request)?;
    let config = maintenance_config(&state);
    manual::start(
        &state.store,
        &config.control,
        request,
        Origin::Dashboard,
        &author(principal),
        state.clock.now_ms(),
    )
    .await
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    changed(&state);
    status(State(state), Query(HashMap::new())).await
}

/// `POST /api/v1/maintenance/stop`.
pub async fn stop(State(state): State<AppState>) -> Result<Json<MaintenanceView>, ApiError> {
    let config = maintenance_config(&state);
    manual::stop(&state.store, &config.control, state.clock.now_ms())
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    changed(&state);
    status(State(state), Query(HashMap::new())).await
}

/// `POST /api/v1/maintenance/extend {"by": "15m"}`.
pub async fn extend(
    State(state): State<AppState>,
    body: Body<ExtendDto>,
) -> Result<Json<MaintenanceView>, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    manual::extend(&state.store, &body.by, state.clock.now_ms())
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    changed(&state);
    status(State(state), Query(HashMap::new())).await
}

fn changed(state: &AppState) {
    if let Some(handle) = &state.maintenance {
        handle.windows_changed();
    }
}
