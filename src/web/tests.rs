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
                underlying: None,
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
        maintenance: None,
        metrics_page: crate::exporter::MetricsPage::new(
            snapshot.clone(),
            super::VERSION,
            T0,
            clock.clone(),
            std::time::Duration::ZERO,
        ),
        snapshot,
        store,
        clock,
        alerting: None,
        started_at_ms: T0,
        bus: None,
        // These tests are about the wire shapes: every request is an admin (tests only).
        auth: Arc::new(super::auth::Auth::trust_all()),
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

async fn send(state: &AppState, method: &str, uri: &str, body: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn silences_are_added_listed_expired_and_kept_for_audit() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let (status, created) = send(
        &state,
        "POST",
        "/api/v1/silences",
        r#"{"matchers": ["check=\"app\"", "severity=~\"warn.*\""], "for": "2h",
            "author": "ops", "comment": "deploy"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["state"], "active");
    assert_eq!(
        created["matchers"],
        json!(["check=\"app\"", "severity=~\"warn.*\""])
    );
    assert_eq!(created["starts_at"], "2025-11-27T10:01:00.000Z");
    assert_eq!(created["ends_at"], "2025-11-27T12:01:00.000Z");
    let id = created["id"].as_str().unwrap().to_string();

    let (_, listed) = get(&state, "/api/v1/silences").await;
    assert_eq!(listed["silences"].as_array().unwrap().len(), 1);

    let (status, expired) = send(&state, "DELETE", &format!("/api/v1/silences/{id}"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(expired["state"], "expired");
    let (_, listed) = get(&state, "/api/v1/silences").await;
    assert_eq!(listed["silences"], json!([]));
    let (_, audit) = get(&state, "/api/v1/silences?all=true").await;
    assert_eq!(audit["silences"][0]["comment"], "deploy");

    let (status, body) = send(&state, "DELETE", &format!("/api/v1/silences/{id}"), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains(&id));
}

#[tokio::test]
async fn bad_silences_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    for (body, expected) in [
        (
            r#"{"matchers": ["check"], "author": "ops", "comment": "x"}"#,
            "is not a matcher",
        ),
        (
            r#"{"matchers": ["a=\"b\""], "for": "soon", "author": "ops", "comment": "x"}"#,
            "for: \"soon\" is not a duration",
        ),
        (
            r#"{"matchers": ["a=\"b\""], "author": "ops", "comment": ""}"#,
            "comment: must say why",
        ),
        (r#"{"matchers": ["a=\"b\""], "comment": "x"}"#, "author"),
        (
            r#"{"matchers": ["a=\"b\""], "author": "o", "comment": "x", "until": "+1h"}"#,
            "unknown field `until`",
        ),
    ] {
        let (status, answer) = send(&state, "POST", "/api/v1/silences", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(expected), "{body}: {error}");
    }
    let (_, listed) = get(&state, "/api/v1/silences?all=true").await;
    assert_eq!(listed["silences"], json!([]), "nothing half-applied");
}

#[tokio::test]
async fn alerts_history_and_outbox_show_what_the_engine_committed() {
    use crate::alert::Severity;
    use crate::alert::records::{AlertBatch, HistoryEntry, OutboxEntry, StoredAlert};
    use crate::model::{AlertNotice, Category, NoticeKind};
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let labels: std::collections::BTreeMap<String, String> =
        [("alertname", "check_failed"), ("check", "app")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let notice = AlertNotice {
        alert_id: "check_failed:check=app".into(),
        rule: "check_failed".into(),
        kind: NoticeKind::Firing,
        severity: Severity::Critical,
        previous_severity: None,
        category: Category::Failure,
        labels: labels.clone(),
        summary: "app is critical".into(),
        description: String::new(),
        value: "critical".into(),
        threshold: String::new(),
        since_ms: T0,
        at_ms: T0,
        runbook_url: None,
        explains: Vec::new(),
        resolved_while_muted: None,
    };
    state
        .store
        .commit_alerts(&AlertBatch {
            upserts: vec![StoredAlert {
                id: notice.alert_id.clone(),
                rule: "check_failed".into(),
                labels: labels.clone(),
                state: "firing".into(),
                severity: Severity::Critical,
                since_ms: T0,
                last_notified_ms: Some(T0),
                value: Some(4.0),
                summary: "app is critical".into(),
                muted_by: None,
                acknowledged_by: None,
                acknowledged_ms: None,
                told: true,
                flapping: false,
            }],
            removed: vec![],
            history: vec![HistoryEntry {
                notice: notice.clone(),
                muted_by: None,
            }],
            outbox: vec![OutboxEntry {
                notifier: "mail".into(),
                group_key: "{host=web1}".into(),
                group_labels: Default::default(),
                due_ms: T0,
                notice,
            }],
            retract: vec![],
        })
        .await
        .unwrap();
    let (status, alerts) = get(&state, "/api/v1/alerts").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(alerts["alerts"][0]["state"], "firing");
    assert_eq!(alerts["alerts"][0]["since"], "2025-11-27T10:00:00.000Z");
    assert_eq!(alerts["alerts"][0]["labels"]["check"], "app");
    let (_, history) = get(&state, "/api/v1/alerts/history?since=-1h").await;
    assert_eq!(history["history"][0]["kind"], "firing");
    // Queued, not delivered yet: not "sent" (issue 16, finding 8).
    assert_eq!(history["history"][0]["sent"], false);
    assert_eq!(history["history"][0]["delivery"], "pending");
    let (_, outbox) = get(&state, "/api/v1/outbox").await;
    assert_eq!(outbox["outbox"][0]["state"], "pending");
    assert_eq!(outbox["outbox"][0]["notifier"], "mail");
    let (status, _) = get(&state, "/api/v1/alerts/history?since=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn status_can_leave_out_the_latest_values_pages_do_not_need() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let (_, all) = get(&state, "/api/v1/status").await;
    assert_eq!(all["series"].as_array().unwrap().len(), 1);
    let (_, none) = get(&state, "/api/v1/status?series=none").await;
    assert_eq!(none["series"], json!([]));
    assert_eq!(none["checks"], all["checks"], "checks are always there");
    let (_, named) = get(
        &state,
        "/api/v1/status?series=lookout_filesystem_usage_ratio,load1",
    )
    .await;
    assert_eq!(named["series"], all["series"]);
    let (_, other) = get(&state, "/api/v1/status?series=load1").await;
    assert_eq!(other["series"], json!([]));
}

#[tokio::test]
async fn maintenance_windows_are_started_extended_and_stopped_over_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let (status, body) = get(&state, "/api/v1/maintenance").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], false);
    assert_eq!(body["windows"], json!([]));
    assert_eq!(body["history"], json!([]));
    let (status, body) = get(&state, "/api/v1/maintenance/report?since=-7d").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["periods"]["count"], 0, "{body}");
    assert_eq!(body["per_day"].as_array().map(Vec::len), Some(8), "{body}");

    let (status, body) = send(
        &state,
        "POST",
        "/api/v1/maintenance/start",
        r#"{"for": "30m", "reason": "database upgrade", "mode": "emergency"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let window = &body["windows"][0];
    assert_eq!(window["reason"], "database upgrade", "{body}");
    assert_eq!(window["mode"], "emergency");
    assert_eq!(window["origin"], "dashboard");
    assert_eq!(window["active"], true);
    assert_eq!(window["start"], "2025-11-27T10:01:00.000Z");
    assert_eq!(window["end"], "2025-11-27T10:31:00.000Z");

    let (status, body) = send(
        &state,
        "POST",
        "/api/v1/maintenance/extend",
        r#"{"by": "15m"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["windows"][0]["end"], "2025-11-27T10:46:00.000Z");

    let (status, body) = send(&state, "POST", "/api/v1/maintenance/stop", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["windows"], json!([]), "a stopped window is over");

    let (status, body) = send(
        &state,
        "POST",
        "/api/v1/maintenance/extend",
        r#"{"by": "15m"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "no maintenance window is active");
    let (status, body) = send(
        &state,
        "POST",
        "/api/v1/maintenance/start",
        r#"{"for": "soon", "reason": "x"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "for: \"soon\" is not a duration; expected a number and a unit, like \"30m\", \"2h\" or \"90s\""
    );
}

#[tokio::test]
async fn metrics_needs_the_configured_credentials_and_speaks_openmetrics_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = state(dir.path()).await;
    let config = crate::config::from_str(
        "[server]\nmetrics_token = \"tok3n\"\nmetrics_user = \"prom\"\nmetrics_password = \"pw\"\n",
        "t.toml",
        &|_| None,
    )
    .unwrap();
    state.auth = Arc::new(super::auth::Auth::from_config(&config.server));
    let scrape = |auth: Option<&'static str>, accept: &'static str| {
        let state = state.clone();
        async move {
            let mut request = Request::get("/metrics").header("Accept", accept);
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            let response = super::metrics_router(state)
                .oneshot(request.body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = response.status();
            let kind = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, kind, String::from_utf8_lossy(&bytes).to_string())
        }
    };
    assert_eq!(scrape(None, "text/plain").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        scrape(Some("Bearer wrong"), "text/plain").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, kind, body) = scrape(Some("Bearer tok3n"), "text/plain").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kind, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!body.contains("# EOF"));
    // prom:pw
    let (status, kind, body) = scrape(
        Some("Basic cHJvbTpwdw=="),
        "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(body.ends_with("# EOF\n"), "{body}");
}
