//! Read-only endpoints the dashboard needs beyond the general API (issue "Web dashboard"):
//! the status history of one check, for the status strip of the checks pages.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Serialize;

use crate::clock::format_rfc3339;
use crate::model::Status;

use super::AppState;
use super::api::{ApiError, parse_count, parse_time};

#[derive(Serialize)]
pub struct CheckHistoryPointDto {
    pub at: String,
    pub at_ms: i64,
    pub status: Status,
    pub value: Option<f64>,
    pub detail: String,
}

#[derive(Serialize)]
pub struct CheckHistoryDto {
    pub check: String,
    pub from: String,
    pub to: String,
    /// Oldest first: every status change and one result per minute while a status holds.
    pub history: Vec<CheckHistoryPointDto>,
}

/// `/api/v1/checks/{name}/history?from=-24h&to=now&limit=1000`.
pub async fn check_history(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(mut params): Query<HashMap<String, String>>,
) -> Result<Json<CheckHistoryDto>, ApiError> {
    let now = state.clock.now_ms();
    let to_ms = match params.remove("to") {
        Some(t) => parse_time(&t, now).map_err(|e| ApiError::bad_request(format!("to: {e}")))?,
        None => now,
    };
    let from_ms = match params.remove("from") {
        Some(f) => parse_time(&f, now).map_err(|e| ApiError::bad_request(format!("from: {e}")))?,
        None => to_ms - 86_400_000,
    };
    if from_ms > to_ms {
        return Err(ApiError::bad_request("from: must not be later than to"));
    }
    let limit = parse_count(&mut params, "limit", 1000, 10_000)?;
    if let Some(unknown) = params.keys().next() {
        return Err(ApiError::bad_request(format!(
            "{unknown}: unknown parameter; expected from, to or limit"
        )));
    }
    let mut rows = state
        .store
        .check_history(&name, from_ms, to_ms, limit)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    rows.reverse();
    Ok(Json(CheckHistoryDto {
        check: name,
        from: format_rfc3339(from_ms),
        to: format_rfc3339(to_ms),
        history: rows
            .into_iter()
            .map(|r| CheckHistoryPointDto {
                at: format_rfc3339(r.at_ms),
                at_ms: r.at_ms,
                status: r.status,
                value: r.value.filter(|v| v.is_finite()),
                detail: r.detail,
            })
            .collect(),
    }))
}
