//! The `/api/v1/*` wire shapes, through `router(state)` without a socket.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::clock::{ManualClock, SharedClock};
use crate::exporter::Snapshot;
use crate::model::{CheckResult, Event, EventKind, Layer, Observation, Sample, SeriesKey, Status};
use crate::store::{Store, StoreOptions};

use super::{AppState, router};

const T0: i64 = 1_764_237_600_000; // 2025-11-27T10:00:00Z

async fn state(dir: &std::path::Path) -> AppState {
    let clock: SharedClock = ManualClock::new(T0 + 60_000);
    let store = Store::open(dir, StoreOptions::default(), clock.clone())
        .await
        .unwrap();
    let snapshot = Snapshot::new();
    let key = Arc::new(SeriesKey::new("filesystem_usage_ratio").with("mountpoint", "/"));
    for i in 0..6 {
        let at_ms = T0 + i * 10_000;
        let observation = Observation {
            source: "system".into(),
            at_ms,
            samples: vec![Sample {
                series: key.clone(),
                value: 0.5 + i as f64 / 100.0,
            }],
            checks: vec![CheckResult {
                check: "disk:/".into(),
                layer: Layer::System,
                status: if i < 5 { Status::Ok } else { Status::Warning },
                value: Some(0.5 + i as f64 / 100.0),
                detail: "disk / used".into(),
                at_ms,
            }],
        };
        snapshot.apply(&observation);
        store.ingest(&observation);
    }
    store
        .record_event(&Event {
            at_ms: T0,
            kind: EventKind::Started,
            subject: "lookout".into(),
            message: "version test".into(),
        })
        .await
        .unwrap();
    AppState {
        snapshot,
        store,
        clock,
        alerting: None,
        started_at_ms: T0,
    }
}

async fn get(state: &AppState, uri: &str) -> (StatusCode, Value) {
    let response = router(state.clone())
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn healthz_reports_version_and_uptime() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let (status, body) = get(&state, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"),
               "started_at": "2025-11-27T10:00:00.000Z", "uptime_seconds": 60.0})
    );
}

#[tokio::test]
async fn status_lists_layers_checks_latest_values_and_sources() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let (status, body) = get(&state, "/api/v1/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["overall"], "warning");
    assert_eq!(
        body["layers"],
        json!([{"layer": "system", "status": "warning", "checks": 1}])
    );
    assert_eq!(
        body["checks"],
        json!([{"check": "disk:/", "layer": "system", "status": "warning", "value": 0.55,
                "detail": "disk / used", "at": "2025-11-27T10:00:50.000Z"}])
    );
    assert_eq!(
        body["series"],
        json!([{"name": "filesystem_usage_ratio", "labels": {"mountpoint": "/"},
                "value": 0.55, "at": "2025-11-27T10:00:50.000Z"}])
    );
    assert_eq!(
        body["sources"],
        json!([{"source": "system", "last_run": "2025-11-27T10:00:50.000Z"}])
    );
}

#[tokio::test]
async fn series_returns_points_with_labels_and_filters_by_label() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let (status, body) = get(
        &state,
        "/api/v1/series?name=lookout_filesystem_usage_ratio&from=1764237600&to=now&mountpoint=/",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "filesystem_usage_ratio");
    assert_eq!(body["tier"], "raw");
    assert_eq!(body["from"], "2025-11-27T10:00:00.000Z");
    let series = body["series"].as_array().unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0]["labels"], json!({"mountpoint": "/"}));
    let points = series[0]["points"].as_array().unwrap();
    assert_eq!(points.len(), 6);
    assert_eq!(
        points[0],
        json!({"at": T0, "avg": 0.5, "min": 0.5, "max": 0.5, "count": 1})
    );

    let (_, body) = get(
        &state,
        "/api/v1/series?name=filesystem_usage_ratio&from=-1h&mountpoint=/home",
    )
    .await;
    assert_eq!(body["series"], json!([]));

    let (_, body) = get(
        &state,
        "/api/v1/series?name=filesystem_usage_ratio&from=-1h&max_points=2",
    )
    .await;
    assert!(body["series"][0]["points"].as_array().unwrap().len() <= 2);
}

#[tokio::test]
async fn bad_parameters_get_a_400_naming_the_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    for (uri, expected) in [
        (
            "/api/v1/series",
            "name: required, e.g. name=cpu_usage_ratio",
        ),
        (
            "/api/v1/series?name=x&max_points=0",
            "max_points: \"0\" is not a whole number from 1 to 10000",
        ),
        (
            "/api/v1/series?name=x&from=now&to=-1h",
            "from: must not be later than to",
        ),
        (
            "/api/v1/events?limit=ten",
            "limit: \"ten\" is not a whole number from 1 to 10000",
        ),
        (
            "/api/v1/events?form=-1h",
            "form: unknown parameter; expected from, to or limit",
        ),
    ] {
        let (status, body) = get(&state, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(body, json!({ "error": expected }), "{uri}");
    }
}

#[tokio::test]
async fn events_are_newest_first_with_kind_and_subject() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let (status, body) = get(&state, "/api/v1/events?from=-1h").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"events": [{"at": "2025-11-27T10:00:00.000Z", "kind": "started",
                           "subject": "lookout", "message": "version test"}]})
    );
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let response = router(state)
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains("lookout_filesystem_usage_ratio{mountpoint=\"/\"} 0.55\n"));
}
