//! `/api/v1/alerts`, `/api/v1/alerts/history`, `/api/v1/silences`, `/api/v1/outbox`: the
//! alert engine over HTTP. Reads come from the store (what the engine committed); a new or
//! expired silence is written to the store and the engine is told to re-read at once.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::AppState;
use super::api::ApiError;
use super::params::{DAY_MS, Params};
use crate::alert::silence::{Silence, SilenceRequest, SilenceState};
use crate::views::alerts::{
    ActiveAlertView, AlertsView, HistoryView, NoticeView, OutboxRowView, OutboxView,
};
use crate::views::silences::{SilenceView, SilencesView};

/// Pending and firing alerts, worst first.
pub async fn alerts(State(state): State<AppState>) -> Result<Json<AlertsView>, ApiError> {
    let alerts = match &state.alerting {
        Some(handle) => handle.alerts(),
        None => state
            .store
            .load_alerts()
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?,
    };
    Ok(Json(AlertsView {
        alerts: alerts.iter().map(ActiveAlertView::from).collect(),
    }))
}

/// The body of `POST /api/v1/alerts/ack` (ids hold characters a path would need to escape).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckDto {
    pub id: String,
}

/// Someone is on the firing alert: its repeats stop until it escalates or resolves. Admins
/// only (the guard: every state-changing request).
pub async fn acknowledge(
    State(state): State<AppState>,
    principal: Option<axum::Extension<super::auth::Principal>>,
    body: Result<Json<AckDto>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<AlertsView>, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let Some(handle) = &state.alerting else {
        return Err(ApiError::internal(
            "no alert engine runs here: acknowledge on the daemon",
        ));
    };
    let by = principal.map_or_else(|| "unknown".to_string(), |p| p.0.name.clone());
    handle
        .acknowledge(&body.id, &by)
        .await
        .map_err(ApiError::bad_request)?;
    Ok(Json(AlertsView {
        alerts: handle.alerts().iter().map(ActiveAlertView::from).collect(),
    }))
}

/// `/api/v1/alerts/history?since=-24h&limit=200`, newest first.
pub async fn history(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<HistoryView>, ApiError> {
    let mut params = Params::new(params, state.clock.now_ms());
    let since_ms = params.since(DAY_MS, None)?.from_ms;
    let limit = params.count("limit", 200, 10_000)?;
    params.finish("since or limit")?;
    let entries = state
        .store
        .alert_history(since_ms, limit)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let oldest = entries
        .iter()
        .map(|h| h.notice.at_ms)
        .min()
        .unwrap_or(since_ms);
    let deliveries = state
        .store
        .notice_deliveries(oldest)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(HistoryView {
        history: entries
            .iter()
            .map(|h| NoticeView::new(h, &deliveries))
            .collect(),
    }))
}

/// `/api/v1/silences` (active and pending) or `?all=true` (also expired, kept for audit).
pub async fn silences(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<SilencesView>, ApiError> {
    let now = state.clock.now_ms();
    let mut params = Params::new(params, now);
    let all = params.flag("all")?;
    params.finish("all")?;
    let silences = state
        .store
        .silences()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(SilencesView {
        silences: silences
            .iter()
            .filter(|s| all || s.state(now) != SilenceState::Expired)
            .map(|s| SilenceView::new(s, now))
            .collect(),
    }))
}

/// The body of `POST /api/v1/silences`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilenceDto {
    pub matchers: Vec<String>,
    /// "2h"; or `ends_at`.
    #[serde(default, rename = "for")]
    pub duration: Option<String>,
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub ends_at: Option<String>,
    pub author: String,
    pub comment: String,
}

pub async fn add_silence(
    State(state): State<AppState>,
    body: Result<Json<NewSilenceDto>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<SilenceView>), ApiError> {
    let Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let now = state.clock.now_ms();
    let request = SilenceRequest {
        matchers: body.matchers,
        duration: body.duration,
        until: body.ends_at,
        start: body.starts_at,
        author: body.author,
        comment: body.comment,
    };
    let silence = Silence::build(&request, now).map_err(ApiError::bad_request)?;
    state
        .store
        .add_silence(&silence)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if let Some(handle) = &state.alerting {
        handle.silences_changed();
    }
    Ok((StatusCode::CREATED, Json(SilenceView::new(&silence, now))))
}

pub async fn expire_silence(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SilenceView>, ApiError> {
    let now = state.clock.now_ms();
    let expired = state
        .store
        .expire_silence(&id, now)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if !expired {
        return Err(ApiError::not_found(format!(
            "no active or pending silence \"{id}\""
        )));
    }
    if let Some(handle) = &state.alerting {
        handle.silences_changed();
    }
    let silences = state
        .store
        .silences()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let silence = silences
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ApiError::internal("the expired silence vanished"))?;
    Ok(Json(SilenceView::new(silence, now)))
}

/// `/api/v1/outbox` (undelivered and failed) or `?all=true`.
pub async fn outbox(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<OutboxView>, ApiError> {
    let mut params = Params::new(params, state.clock.now_ms());
    let all = params.flag("all")?;
    params.finish("all")?;
    let rows = state
        .store
        .outbox_list(all, 500)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(OutboxView {
        outbox: rows.iter().map(OutboxRowView::from).collect(),
    }))
}
