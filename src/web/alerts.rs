//! `/api/v1/alerts`, `/api/v1/alerts/history`, `/api/v1/silences`, `/api/v1/outbox`: the
//! alert engine over HTTP. Reads come from the store (what the engine committed); a new or
//! expired silence is written to the store and the engine is told to re-read at once.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::api::ApiError;
use super::params::{DAY_MS, Params};
use crate::alert::Severity;
use crate::alert::records::{OutboxState, StoredAlert};
use crate::alert::silence::{Silence, SilenceRequest, SilenceState};
use crate::clock::{UnixMillis, format_rfc3339};
use crate::notify::NoticeKind;
use crate::store::{Delivery, NoticeDelivery};

#[derive(Serialize)]
pub struct AlertDto {
    pub id: String,
    pub rule: String,
    pub state: String,
    pub severity: Severity,
    pub since: String,
    pub value: Option<f64>,
    pub summary: String,
    /// Why it is not being told: a silence, an inhibition, maintenance; "" when it is.
    pub muted_by: String,
    /// It keeps changing between firing and not: quiet until it is stable (`muted_by` says
    /// how many changes).
    pub flapping: bool,
    pub labels: BTreeMap<String, String>,
    /// Who acknowledged it ("" when nobody has), and when.
    pub acknowledged_by: String,
    pub acknowledged_at: Option<String>,
}

impl From<StoredAlert> for AlertDto {
    fn from(a: StoredAlert) -> Self {
        AlertDto {
            id: a.id,
            rule: a.rule,
            state: a.state,
            severity: a.severity,
            since: format_rfc3339(a.since_ms),
            value: a.value.filter(|v| v.is_finite()),
            summary: a.summary,
            muted_by: a.muted_by,
            flapping: a.flapping,
            labels: a.labels,
            acknowledged_by: a.acknowledged_by.unwrap_or_default(),
            acknowledged_at: a.acknowledged_ms.map(format_rfc3339),
        }
    }
}

#[derive(Serialize)]
pub struct AlertsDto {
    pub alerts: Vec<AlertDto>,
}

/// Pending and firing alerts, worst first.
pub async fn alerts(State(state): State<AppState>) -> Result<Json<AlertsDto>, ApiError> {
    let alerts = match &state.alerting {
        Some(handle) => handle.alerts(),
        None => state
            .store
            .load_alerts()
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?,
    };
    Ok(Json(AlertsDto {
        alerts: alerts.into_iter().map(AlertDto::from).collect(),
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
) -> Result<Json<AlertsDto>, ApiError> {
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
    Ok(Json(AlertsDto {
        alerts: handle.alerts().into_iter().map(AlertDto::from).collect(),
    }))
}

#[derive(Serialize)]
pub struct HistoryDto {
    pub at: String,
    pub kind: NoticeKind,
    pub severity: Severity,
    pub rule: String,
    pub alert_id: String,
    pub summary: String,
    pub value: String,
    /// Delivered to every notifier it was queued for.
    pub sent: bool,
    pub muted_by: String,
    /// What became of it: delivered, pending, failed, muted, not queued.
    pub delivery: &'static str,
    pub labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
pub struct HistoryResponseDto {
    pub history: Vec<HistoryDto>,
}

/// `/api/v1/alerts/history?since=-24h&limit=200`, newest first.
pub async fn history(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<HistoryResponseDto>, ApiError> {
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
    Ok(Json(HistoryResponseDto {
        history: entries
            .into_iter()
            .map(|h| {
                let delivery = NoticeDelivery::summary(&h, &NoticeDelivery::of(&h, &deliveries));
                HistoryDto {
                    at: format_rfc3339(h.notice.at_ms),
                    kind: h.notice.kind,
                    severity: h.notice.severity,
                    rule: h.notice.rule,
                    alert_id: h.notice.alert_id,
                    summary: h.notice.summary,
                    value: h.notice.value,
                    sent: delivery == Delivery::Delivered,
                    muted_by: h.muted_by,
                    delivery: delivery.as_str(),
                    labels: h.notice.labels,
                }
            })
            .collect(),
    }))
}

#[derive(Serialize)]
pub struct SilenceDto {
    pub id: String,
    pub state: &'static str,
    pub matchers: Vec<String>,
    pub starts_at: String,
    pub ends_at: String,
    pub author: String,
    pub comment: String,
}

pub fn silence_dto(s: &Silence, now_ms: UnixMillis) -> SilenceDto {
    SilenceDto {
        id: s.id.clone(),
        state: match s.state(now_ms) {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        },
        matchers: s.matchers.iter().map(ToString::to_string).collect(),
        starts_at: format_rfc3339(s.starts_ms),
        ends_at: format_rfc3339(s.ends_ms),
        author: s.author.clone(),
        comment: s.comment.clone(),
    }
}

#[derive(Serialize)]
pub struct SilencesDto {
    pub silences: Vec<SilenceDto>,
}

/// `/api/v1/silences` (active and pending) or `?all=true` (also expired, kept for audit).
pub async fn silences(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<SilencesDto>, ApiError> {
    let now = state.clock.now_ms();
    let mut params = Params::new(params, now);
    let all = params.flag("all")?;
    params.finish("all")?;
    let silences = state
        .store
        .silences()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(SilencesDto {
        silences: silences
            .iter()
            .filter(|s| all || s.state(now) != SilenceState::Expired)
            .map(|s| silence_dto(s, now))
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
) -> Result<(StatusCode, Json<SilenceDto>), ApiError> {
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
    Ok((StatusCode::CREATED, Json(silence_dto(&silence, now))))
}

pub async fn expire_silence(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SilenceDto>, ApiError> {
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
    Ok(Json(silence_dto(silence, now)))
}

#[derive(Serialize)]
pub struct OutboxRowDto {
    pub id: i64,
    pub notifier: String,
    pub state: OutboxState,
    pub attempts: u32,
    pub created: String,
    pub delivered: Option<String>,
    pub last_error: Option<String>,
    pub kind: NoticeKind,
    pub severity: Severity,
    pub summary: String,
}

#[derive(Serialize)]
pub struct OutboxDto {
    pub outbox: Vec<OutboxRowDto>,
}

/// `/api/v1/outbox` (undelivered and failed) or `?all=true`.
pub async fn outbox(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<OutboxDto>, ApiError> {
    let mut params = Params::new(params, state.clock.now_ms());
    let all = params.flag("all")?;
    params.finish("all")?;
    let rows = state
        .store
        .outbox_list(all, 500)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(OutboxDto {
        outbox: rows
            .into_iter()
            .map(|r| OutboxRowDto {
                id: r.id,
                notifier: r.entry.notifier,
                state: r.state,
                attempts: r.attempts,
                created: format_rfc3339(r.created_ms),
                delivered: r.delivered_ms.map(format_rfc3339),
                last_error: r.last_error,
                kind: r.entry.notice.kind,
                severity: r.entry.notice.severity,
                summary: r.entry.notice.summary,
            })
            .collect(),
    }))
}
