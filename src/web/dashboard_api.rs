//! Read-only endpoints the dashboard needs beyond the general API (issue "Web dashboard"):
//! the status history of one check, for the status strip of the checks pages.

use std::collections::HashMap;

use crate::clock::format_rfc3339;
use crate::views::history::{CheckHistoryPointView, CheckHistoryView};
use axum::Json;
use axum::extract::{Path, Query, State};

use super::AppState;
use super::api::ApiError;
use super::params::{DAY_MS, Params};

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
        history: rows
            .into_iter()
            .map(|r| CheckHistoryPointView {
                at: format_rfc3339(r.at_ms),
                at_ms: r.at_ms,
                status: r.status.as_str(),
                value: r.value.filter(|v| v.is_finite()),
                detail: r.detail,
            })
            .collect(),
    }))
}
