//! `/api/v1/maintenance`: the maintenance state over HTTP — the open period, the windows
//! (opened by hand, and the next occurrences of the configured ones), the history of periods
//! — and, for admins, start / stop / extend (the same as `lookout maintenance ...`: the
//! configured control steps switch the app, then the window is recorded; the daemon's
//! maintenance loop is told to re-read at once).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::api::ApiError;
use super::params::{DAY_MS, Params};
use crate::clock::{UnixMillis, format_rfc3339};
use crate::config::maintenance::{MaintenanceConfig, Mode};
use crate::maintenance::windows::current_or_next;
use crate::maintenance::{Impact, ManualWindow, Origin, Period, manual};

#[derive(Serialize)]
pub struct PeriodDto {
    pub id: i64,
    pub start: String,
    pub start_ms: UnixMillis,
    pub end: Option<String>,
    pub end_ms: Option<UnixMillis>,
    pub planned_end: Option<String>,
    pub planned_end_ms: Option<UnixMillis>,
    pub mode: Mode,
    pub reason: String,
    pub origin: Origin,
    pub planned: bool,
    pub duration_seconds: u64,
    pub overrun_seconds: u64,
    pub impact: Impact,
    pub muted: Vec<String>,
}

impl PeriodDto {
    fn new(p: Period, now_ms: UnixMillis) -> PeriodDto {
        PeriodDto {
            id: p.id,
            start: format_rfc3339(p.start_ms),
            start_ms: p.start_ms,
            end: p.end_ms.map(format_rfc3339),
            end_ms: p.end_ms,
            planned_end: p.planned_end_ms.map(format_rfc3339),
            planned_end_ms: p.planned_end_ms,
            mode: p.mode,
            duration_seconds: p.duration(now_ms).as_secs(),
            overrun_seconds: p.overrun(now_ms).as_secs(),
            reason: p.reason,
            origin: p.origin,
            planned: p.planned,
            impact: p.impact,
            muted: p.muted,
        }
    }
}

#[derive(Serialize)]
pub struct WindowDto {
    /// The manual window's id; `None` for a configured window.
    pub id: Option<i64>,
    /// The configured window's name; `None` for a manual one.
    pub name: Option<String>,
    pub start: String,
    pub end: String,
    pub mode: Mode,
    pub reason: String,
    pub origin: Origin,
    pub author: String,
    pub active: bool,
}

impl WindowDto {
    fn manual(w: ManualWindow, now_ms: UnixMillis) -> WindowDto {
        WindowDto {
            id: Some(w.id),
            name: None,
            start: format_rfc3339(w.start_ms),
            end: format_rfc3339(w.ends_ms()),
            active: w.is_active(now_ms),
            mode: w.mode,
            reason: w.reason,
            origin: w.origin,
            author: w.author,
        }
    }
}

#[derive(Serialize)]
pub struct MaintenanceDto {
    pub active: bool,
    pub open: Option<PeriodDto>,
    /// Windows opened by hand that are open or still to come, then the configured windows'
    /// current or next occurrence; soonest first.
    pub windows: Vec<WindowDto>,
    /// Periods overlapping `since` .. now, newest first.
    pub history: Vec<PeriodDto>,
    /// Start/stop also switch the app itself (control steps are configured).
    pub control: bool,
}

/// `GET /api/v1/maintenance?since=-30d`.
pub async fn status(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<MaintenanceDto>, ApiError> {
    let now = state.clock.now_ms();
    let since_ms = since_param(params, now, None)?;
    let internal = |e: crate::store::StoreError| ApiError::internal(e.to_string());
    let config = maintenance_config(&state);
    let open = match &state.maintenance {
        Some(handle) => handle.mute.open(),
        None => state.store.open_period().await.map_err(internal)?,
    };
    let mut windows: Vec<WindowDto> = state
        .store
        .windows(now)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|w| WindowDto::manual(w, now))
        .collect();
    for window in &config.windows {
        if let Some((start, end, active)) = current_or_next(window, now) {
            windows.push(WindowDto {
                id: None,
                name: Some(window.name.clone()),
                start: format_rfc3339(start),
                end: format_rfc3339(end),
                mode: window.mode,
                reason: window.reason.clone(),
                origin: Origin::Planned,
                author: "config".into(),
                active,
            });
        }
    }
    windows.sort_by(|a, b| a.start.cmp(&b.start));
    let mut history: Vec<PeriodDto> = state
        .store
        .periods(since_ms, now + 1)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|p| PeriodDto::new(p, now))
        .collect();
    history.reverse();
    Ok(Json(MaintenanceDto {
        active: open.is_some(),
        open: open.map(|p| PeriodDto::new(p, now)),
        windows,
        history,
        control: !config.control.start.is_empty() || !config.control.stop.is_empty(),
    }))
}

/// `GET /api/v1/maintenance/report?since=-30d`: the figures of `lookout report`.
pub async fn report(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<crate::maintenance::report::Report>, ApiError> {
    let now = state.clock.now_ms();
    let since_ms = since_param(params, now, Some(crate::maintenance::report::MAX_RANGE_MS))?;
    state
        .store
        .maintenance_report(since_ms, now)
        .await
        .map(Json)
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
) -> Result<Json<MaintenanceDto>, ApiError> {
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
pub async fn stop(State(state): State<AppState>) -> Result<Json<MaintenanceDto>, ApiError> {
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
) -> Result<Json<MaintenanceDto>, ApiError> {
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
