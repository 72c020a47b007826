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
        config: Default::default(),
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
        live: Default::default(),
        receiver: Default::default(),
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
            "form: unknown parameter; expected from, to, limit, kind or check",
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

/// A config of the dashboard tests: an http check (never run here), a sqlite check with a
/// business query, a redis check counting sessions, and lower cpu levels.
const DASH_CONFIG: &str = r#"
[system.thresholds]
cpu_warning = "60%"

[[check]]
name = "web"
type = "http"
url = "https://app.example/health?token=abc"
interval = "15s"
timeout = "3s"

[[check]]
name = "db"
type = "postgres"
dsn = "postgres://lookout:pw@db.example/app"

[[check.query]]
name = "queue_depth"
sql = "SELECT 1"
warning = 100
critical = 1000

[[check]]
name = "cache"
type = "redis"
url = "redis://cache.example"
session_pattern = "app:session:*"
"#;

fn dash_config() -> crate::config::Config {
    crate::config::from_str(DASH_CONFIG, "test.toml", &|_| None).unwrap()
}

async fn dash_state(dir: &std::path::Path) -> AppState {
    let state = state(dir).await;
    state.config.replace(dash_config());
    let observation = Observation {
        source: "check:db".into(),
        at_ms: T0 + 30_000,
        samples: vec![Sample {
            series: Arc::new(
                SeriesKey::new("db_query_value")
                    .with("query", "queue_depth")
                    .with("check", "db"),
            ),
            value: 150.0,
        }],
        checks: vec![CheckResult {
            underlying: None,
            check: "db".into(),
            layer: Layer::Database,
            status: Status::Warning,
            value: Some(0.002),
            detail: "query queue_depth = 150".into(),
            at_ms: T0 + 30_000,
        }],
    };
    state.snapshot.apply(&observation);
    state.store.ingest(&observation);
    state.store.flush().await.unwrap();
    state
}

#[tokio::test]
async fn checks_list_carries_type_target_uptime_strip_and_the_levels_of_the_status() {
    let dir = tempfile::tempdir().unwrap();
    let state = dash_state(dir.path()).await;
    let (status, body) = get(&state, "/api/v1/checks?from=1764237600&to=1764237660").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let checks = body["checks"].as_array().unwrap();
    let names: Vec<&str> = checks
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    // Configured checks (run or not) and the system's, by name.
    assert_eq!(names, ["cache", "db", "disk:/", "web"]);
    assert_eq!(body["total"], 4);
    let db = &checks[1];
    assert_eq!(db["type"], "postgres");
    assert_eq!(db["layer"], "database");
    assert_eq!(db["target"], "postgres://lookout:***@db.example/app");
    assert_eq!(db["status"], "warning");
    assert_eq!(db["unit"], "seconds");
    // The postgres defaults, not the http ones.
    assert_eq!(
        db["thresholds"],
        json!({"metric": "db_ping_seconds", "comparison": "above", "warning": 1.0,
               "critical": 3.0, "warning_clear": null, "critical_clear": null,
               "unit": "seconds"})
    );
    assert_eq!(db["strip"].as_str().unwrap().len(), 48);
    // 30 s into a 60 s range of 48 buckets: bucket 23.
    assert_eq!(db["strip"].as_str().unwrap().chars().nth(23), Some('w'));
    assert_eq!(db["uptime"], 1.0, "warning is up: it answered");
    let web = &checks[3];
    assert_eq!(web["target"], "https://app.example/health?token=***");
    assert_eq!(
        (web["interval_s"].as_f64(), web["timeout_s"].as_f64()),
        (Some(15.0), Some(3.0))
    );
    assert_eq!(web["status"], "unknown");
    assert_eq!(web["uptime"], Value::Null);
    assert_eq!(web["strip"], "-".repeat(48));
    assert_eq!(web["thresholds"]["warning"], 2.0);
    // The system check is held against [system.thresholds] as configured.
    let disk = &checks[2];
    assert_eq!(disk["type"], "system");
    assert_eq!(disk["thresholds"]["metric"], "filesystem_usage_ratio");
    assert_eq!(disk["thresholds"]["warning"], 0.9);
    assert!(disk["strip"].as_str().unwrap().contains('o'), "{disk}");

    // Pages.
    let (_, page) = get(&state, "/api/v1/checks?limit=2&offset=1").await;
    let names: Vec<&str> = page["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        (names, page["total"].as_u64()),
        (vec!["db", "disk:/"], Some(4))
    );
    for (uri, expected) in [
        (
            "/api/v1/checks?limit=0",
            "limit: \"0\" is not a whole number from 1 to 10000",
        ),
        (
            "/api/v1/checks?limit=10001",
            "limit: \"10001\" is not a whole number from 1 to 10000",
        ),
        (
            "/api/v1/checks?offset=-1",
            "offset: \"-1\" is not a whole number from 0 to 9223372036854775807",
        ),
        (
            "/api/v1/checks?status=ok",
            "status: unknown parameter; expected from, to, limit, offset or host",
        ),
    ] {
        let (status, body) = get(&state, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(body, json!({ "error": expected }), "{uri}");
    }
}

#[tokio::test]
async fn a_check_page_charts_what_its_status_is_decided_on() {
    let dir = tempfile::tempdir().unwrap();
    let state = dash_state(dir.path()).await;
    let (status, db) = get(&state, "/api/v1/checks/db").await;
    assert_eq!(status, StatusCode::OK, "{db}");
    assert_eq!(db["check"], "db");
    assert_eq!(db["recent"][0]["detail"], "query queue_depth = 150");
    assert_eq!(db["uptime_24h"], 1.0, "warning is up: it answered");
    assert_eq!(
        (db["phases"].clone(), db["certificate"].clone()),
        (Value::Null, Value::Null)
    );
    let charts = db["charts"].as_array().unwrap();
    assert_eq!(charts[0]["metric"], "db_ping_seconds");
    // The card warns because of the query: its value is charted, with its levels.
    let query = charts
        .iter()
        .find(|c| c["metric"] == "db_query_value")
        .unwrap_or_else(|| panic!("no query chart: {db}"));
    assert_eq!(
        query["labels"],
        json!({"check": "db", "query": "queue_depth"})
    );
    assert_eq!(query["thresholds"]["warning"], 100.0);
    assert_eq!(query["thresholds"]["critical"], 1000.0);
    // Redis charts the session count it was configured for.
    let (_, cache) = get(&state, "/api/v1/checks/cache").await;
    let metrics: Vec<&str> = cache["charts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["metric"].as_str().unwrap())
        .collect();
    assert!(metrics.contains(&"redis_sessions"), "{metrics:?}");
    // An https check charts its certificate, graded the other way.
    let (_, web) = get(&state, "/api/v1/checks/web").await;
    let cert = web["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metric"] == "tls_certificate_expiry_seconds")
        .unwrap_or_else(|| panic!("{web}"));
    assert_eq!(cert["thresholds"]["comparison"], "below");
    // A failed attempt's duration is no response time: no check charts it.
    for page in [&db, &cache, &web] {
        assert!(
            !page["charts"]
                .to_string()
                .contains("check_duration_seconds"),
            "{page}"
        );
    }
    let (status, body) = get(&state, "/api/v1/checks/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"error": "no check named \"nope\""}));
}

#[tokio::test]
async fn thresholds_are_the_effective_rules_with_their_clear_levels() {
    let dir = tempfile::tempdir().unwrap();
    let state = dash_state(dir.path()).await;
    let (status, body) = get(&state, "/api/v1/thresholds").await;
    assert_eq!(status, StatusCode::OK);
    let rules = body["rules"].as_array().unwrap();
    let rule = |name: &str| {
        rules
            .iter()
            .find(|r| r["rule"] == name)
            .unwrap_or_else(|| panic!("{name}: {body}"))
            .clone()
    };
    assert_eq!(
        rule("cpu_usage"),
        json!({"rule": "cpu_usage", "metric": "cpu_usage_ratio", "labels": {},
               "comparison": "above", "unit": "percent", "warning": 0.6, "critical": 0.95,
               "warning_clear": 0.5625, "critical_clear": 0.890625})
    );
    assert_eq!(rule("http_response_time")["warning_clear"], 1.875);
    // Only rules on metrics (not on check statuses), only enabled ones.
    assert!(rules.iter().all(|r| r["rule"] != "check_failed"));
    assert!(rules.iter().all(|r| r["rule"] != "Watchdog"));
}

#[tokio::test]
async fn unknown_paths_answer_404_html_or_json_and_pages_have_titles() {
    let dir = tempfile::tempdir().unwrap();
    let state = dash_state(dir.path()).await;
    let html = |uri: &'static str| {
        let state = state.clone();
        async move {
            let response = router(state)
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        }
    };
    let (status, page) = html("/nothing/here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        page.contains("<title>Not found · Lookout</title>"),
        "{page}"
    );
    assert!(page.contains("Page not found") && page.contains("href=\"/checks\""));
    let (status, page) = html("/checks/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
    let (status, body) = get(&state, "/api/v1/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("GET /api/v1/nothing"),
        "{body}"
    );
    for (uri, title) in [
        ("/", "Overview · Lookout"),
        ("/checks", "Checks · Lookout"),
        ("/checks/web", "web · Checks · Lookout"),
        ("/checks/disk:%2F", "disk:/ · Checks · Lookout"),
        ("/events", "Events · Lookout"),
    ] {
        let (status, page) = html(uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert!(
            page.contains(&format!("<title>{title}</title>")),
            "{uri}: {page}"
        );
    }
}

#[tokio::test]
async fn events_filter_by_kind_and_check_and_name_the_accepted_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    for (at, kind, subject) in [
        (T0 + 1, EventKind::StatusChanged, "web"),
        (T0 + 2, EventKind::StatusChanged, "db"),
        (T0 + 3, EventKind::Alert, "web"),
    ] {
        state
            .store
            .record_event(&Event {
                at_ms: at,
                kind,
                subject: subject.into(),
                message: "m".into(),
            })
            .await
            .unwrap();
    }
    let pick = |body: &Value| -> Vec<(String, String)> {
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().into(),
                    e["subject"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let (_, body) = get(&state, "/api/v1/events?kind=status_changed&check=web").await;
    assert_eq!(pick(&body), [("status_changed".into(), "web".into())]);
    let (_, body) = get(&state, "/api/v1/events?kind=alert&kind=started").await;
    assert_eq!(
        pick(&body),
        [
            ("alert".into(), "web".into()),
            ("started".into(), "lookout".into())
        ]
    );
    let (_, body) = get(&state, "/api/v1/events?kind=alert,status_changed&limit=2").await;
    assert_eq!(
        pick(&body),
        [
            ("alert".into(), "web".into()),
            ("status_changed".into(), "db".into())
        ]
    );
    let (status, body) = get(&state, "/api/v1/events?kind=alerts").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "kind: \"alerts\" is not an event kind; expected one or more of started, stopped, \
         reloaded, reload_failed, status_changed, collected, store_error, alert, security, \
         maintenance"
    );
    let (status, body) = get(&state, "/api/v1/events?check=a&check=b").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "check: given more than once; only kind may be repeated"
    );
}

#[tokio::test]
async fn status_counts_alerts_apart_and_says_how_many_notifiers() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let (_, body) = get(&state, "/api/v1/status").await;
    assert_eq!(
        body["alerts"],
        json!({"firing": 0, "muted": 0, "silenced": 0, "acknowledged": 0, "pending": 0})
    );
    assert_eq!(body["notifiers"], json!({"configured": 0}));
}

/// The page budget at 1,000 checks: what /api/v1/checks and /api/v1/status weigh (printed
/// for BENCHMARKS.md) and a bound on each.
#[tokio::test]
async fn a_thousand_checks_fit_the_page_budget() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let mut text = String::new();
    for i in 0..1000 {
        text.push_str(&format!(
            "[[check]]\nname = \"app-{i:04}\"\ntype = \"http\"\n\
             url = \"https://host-{i:04}.example.org/health\"\n"
        ));
    }
    state
        .config
        .replace(crate::config::from_str(&text, "t.toml", &|_| None).unwrap());
    let checks: Vec<CheckResult> = (0..1000)
        .map(|i| CheckResult {
            underlying: None,
            check: format!("app-{i:04}"),
            layer: Layer::Application,
            status: Status::Ok,
            value: Some(0.054),
            detail: "HTTP 200 in 54 ms".into(),
            at_ms: T0 + 50_000,
        })
        .collect();
    state.snapshot.seed_checks(checks);
    let size = |uri: &'static str| {
        let state = state.clone();
        async move {
            let started = std::time::Instant::now();
            let response = router(state)
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{uri}");
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (bytes.len(), started.elapsed())
        }
    };
    let (list, took) = size("/api/v1/checks").await;
    let (status, _) = size("/api/v1/status?series=none").await;
    eprintln!(
        "1,000 checks: /api/v1/checks {list} bytes in {took:?}, /api/v1/status?series=none {status} bytes"
    );
    assert!(list < 600_000, "/api/v1/checks is {list} bytes");
    assert!(
        status < 200_000,
        "/api/v1/status?series=none is {status} bytes"
    );
    // What a browser transfers: gzip'd.
    let gzipped = |uri: &'static str| {
        let state = state.clone();
        async move {
            let response = router(state)
                .oneshot(
                    Request::get(uri)
                        .header("accept-encoding", "gzip, deflate, br")
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(response.headers()["content-encoding"], "gzip", "{uri}");
            response
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .len()
        }
    };
    let (list_gz, status_gz) = (
        gzipped("/api/v1/checks").await,
        gzipped("/api/v1/status").await,
    );
    eprintln!("gzip'd: /api/v1/checks {list_gz} bytes, /api/v1/status {status_gz} bytes");
    assert!(
        list_gz < 100_000,
        "/api/v1/checks gzip'd is {list_gz} bytes"
    );
    assert!(
        status_gz < 100_000,
        "/api/v1/status gzip'd is {status_gz} bytes"
    );
    // /metrics is never compressed (a scrape's cost stays what it was).
    let response = router(state.clone())
        .oneshot(
            Request::get("/metrics")
                .header("accept-encoding", "gzip")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(response.headers().get("content-encoding").is_none());
}

// ---------- caching of the shell and its assets ----------

/// One GET through the router with `headers`: status, headers, body.
async fn fetch(
    state: &AppState,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut request = Request::get(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = router(state.clone())
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip body");
    out
}

fn header<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
}

/// A strong entity tag: quoted, no `W/`.
fn strong_etag(headers: &axum::http::HeaderMap) -> String {
    let etag = header(headers, "etag");
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "not a strong ETag: {etag}"
    );
    etag.to_string()
}

fn varies_on_encoding(headers: &axum::http::HeaderMap) -> bool {
    headers.get_all("vary").iter().any(|v| {
        v.to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("accept-encoding")
    })
}

/// Every `/assets/...` URL the page links to.
fn asset_urls(html: &str) -> Vec<String> {
    html.match_indices("\"/assets/")
        .map(|(i, _)| {
            let rest = &html[i + 1..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

/// `/assets/STEM.HASH.EXT` for the asset `name` (`STEM.EXT`), HASH 16 lowercase hex digits.
fn hashed_url_of<'a>(urls: &'a [String], name: &str) -> &'a str {
    let (stem, ext) = name.rsplit_once('.').unwrap();
    urls.iter()
        .find(|url| {
            url.strip_prefix(&format!("/assets/{stem}."))
                .and_then(|rest| rest.strip_suffix(&format!(".{ext}")))
                .is_some_and(|hash| {
                    hash.len() == 16
                        && hash
                            .chars()
                            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
                })
        })
        .unwrap_or_else(|| panic!("no content-hashed URL of {name} in {urls:?}"))
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The shell links every asset by a URL that names its content; such a URL is cached for a
/// year and never revalidated, with a strong ETag of each representation (identity, gzip) and
/// `Vary: Accept-Encoding`; `If-None-Match` answers 304 without a body.
#[tokio::test]
async fn the_shell_links_content_hashed_assets_cached_for_good_with_etags_and_304s() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let gzip = ("accept-encoding", "gzip, deflate, br");
    let (status, headers, body) = fetch(&state, "/", &[gzip]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-encoding"), "gzip");
    let html = String::from_utf8(gunzip(&body)).unwrap();
    let urls = asset_urls(&html);
    for name in [
        "app.css",
        "uPlot.min.css",
        "charts.css",
        "uPlot.iife.min.js",
        "charts.js",
        "app.js",
        "icon.svg",
    ] {
        let url = hashed_url_of(&urls, name);
        let plain = format!("/assets/{name}");
        let (status, headers, identity) = fetch(&state, url, &[]).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        assert_eq!(header(&headers, "cache-control"), IMMUTABLE, "{url}");
        assert!(varies_on_encoding(&headers), "{url}: {headers:?}");
        assert!(headers.get("content-encoding").is_none(), "{url}");
        let etag = strong_etag(&headers);
        // The bytes are the asset's, the same as at its plain URL (which is revalidated).
        let (_, plain_headers, plain_body) = fetch(&state, &plain, &[]).await;
        assert_eq!(identity, plain_body, "{url}");
        assert_eq!(
            header(&plain_headers, "cache-control"),
            "no-cache",
            "{plain}"
        );
        assert_eq!(strong_etag(&plain_headers), etag, "{plain}");

        // Revalidation of the identity representation: 304, no body, the same headers.
        let (status, headers, body) = fetch(&state, url, &[("if-none-match", &etag)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{url}");
        assert!(body.is_empty(), "{url}: a 304 with a body");
        assert_eq!(header(&headers, "etag"), etag);
        assert_eq!(header(&headers, "cache-control"), IMMUTABLE);
        assert!(varies_on_encoding(&headers), "{url}");

        if name == "icon.svg" {
            continue; // too small to be worth compressing
        }
        // gzip: another representation, another ETag.
        let (status, headers, zipped) = fetch(&state, url, &[gzip]).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        assert_eq!(header(&headers, "content-encoding"), "gzip", "{url}");
        assert!(varies_on_encoding(&headers), "{url}");
        let gz_etag = strong_etag(&headers);
        assert_ne!(gz_etag, etag, "{url}: one ETag for two representations");
        assert_eq!(gunzip(&zipped), identity, "{url}");
        let (status, _, body) = fetch(&state, url, &[gzip, ("if-none-match", &gz_etag)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{url}");
        assert!(body.is_empty());
        // A list, and the weak form of the tag (If-None-Match compares weakly).
        let list = format!("\"other\", W/{gz_etag}");
        let (status, _, _) = fetch(&state, url, &[gzip, ("if-none-match", &list)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{url}: {list}");
        // The identity ETag does not validate the gzip representation.
        let (status, _, body) = fetch(&state, url, &[gzip, ("if-none-match", &etag)]).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        assert_eq!(gunzip(&body), identity);
    }
}

/// The shell is revalidated on every navigation (`no-cache`, so a new daemon's shell, with its
/// new asset URLs, is used at once): 304 while it is unchanged, 200 with a new ETag once it
/// changes.
#[tokio::test]
async fn the_shell_is_revalidated_304_while_unchanged_and_200_once_changed() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let gzip = ("accept-encoding", "gzip");
    let (status, headers, _) = fetch(&state, "/system", &[gzip]).await;
    assert_eq!(status, StatusCode::OK);
    let cache = header(&headers, "cache-control");
    assert!(
        cache.contains("no-cache") && !cache.contains("max-age") && !cache.contains("public"),
        "{cache}"
    );
    assert!(varies_on_encoding(&headers));
    let etag = strong_etag(&headers);
    let (status, headers, body) = fetch(&state, "/system", &[gzip, ("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty(), "a 304 with a body");
    assert_eq!(header(&headers, "etag"), etag);
    assert!(header(&headers, "cache-control").contains("no-cache"));
    // Uncompressed: another representation, another tag.
    let (status, headers, _) = fetch(&state, "/system", &[("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(strong_etag(&headers), etag);
    // Another page is another document.
    let (status, _, _) = fetch(&state, "/events", &[gzip, ("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::OK);

    // A check turns critical: the summary in the shell changes, and so does its tag.
    let observation = Observation {
        source: "system".into(),
        at_ms: T0 + 70_000,
        samples: vec![],
        checks: vec![CheckResult {
            underlying: None,
            check: "disk:/".into(),
            layer: Layer::System,
            status: Status::Critical,
            value: Some(0.99),
            detail: "disk / full".into(),
            at_ms: T0 + 70_000,
        }],
    };
    state.snapshot.apply(&observation);
    let (status, headers, body) = fetch(&state, "/system", &[gzip, ("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(strong_etag(&headers), etag);
    assert!(
        String::from_utf8(gunzip(&body))
            .unwrap()
            .contains("disk / full")
    );
}

/// An asset URL with a hash that is not the current content's (a page of an older daemon, a
/// hand-made URL) gets today's asset, revalidated every time: never cached for good under a
/// name that promises other bytes. Anything else under /assets/ is a 404.
#[tokio::test]
async fn an_old_asset_hash_gets_the_current_asset_never_cached_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let (_, plain_headers, current) = fetch(&state, "/assets/app.js", &[]).await;
    let (status, headers, body) = fetch(&state, "/assets/app.0123456789abcdef.js", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, current);
    assert_eq!(header(&headers, "cache-control"), "no-cache");
    assert_eq!(strong_etag(&headers), strong_etag(&plain_headers));
    for unknown in [
        "/assets/app.not-a-hash.js",
        "/assets/nothing.0123456789abcdef.js",
        "/assets/charts.0123456789abcdef.svg",
        "/assets/app.js.0123456789abcdef",
    ] {
        let (status, _, _) = fetch(&state, unknown, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
    }
}

/// `[receive]` is off unless written: both receivers answer 404 with how to turn them on,
/// counted as `disabled`; written, with `remote_write = false`, only OTLP is on.
#[tokio::test]
async fn receivers_are_off_unless_configured() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = state(dir.path()).await;
    state.receiver = Arc::new(crate::receive::Receiver::new(
        state.snapshot.receive.clone(),
    ));
    let post = |state: &AppState, uri: &str| {
        let request = Request::post(uri)
            .header("content-type", "application/x-protobuf")
            .body(Body::empty())
            .unwrap();
        let router = router(state.clone());
        async move {
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            )
        }
    };
    let (status, body) = post(&state, "/api/v1/write").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["error"],
        "receiving remote write is off on this hub; enable it in [receive]"
    );
    assert_eq!(post(&state, "/v1/metrics").await.0, StatusCode::NOT_FOUND);
    let mut config = crate::config::embedded_default();
    config.receive = Some(crate::config::ReceiveConfig {
        remote_write: false,
        ..Default::default()
    });
    state.config = super::handles::ConfigHandle::new(config);
    assert_eq!(post(&state, "/api/v1/write").await.0, StatusCode::NOT_FOUND);
    // OTLP is on: an empty request is a valid, empty export.
    assert_eq!(post(&state, "/v1/metrics").await.0, StatusCode::OK);
    let metrics = state.snapshot.receive.clone();
    assert_eq!(metrics.requests_of("remote_write", "disabled"), 2);
    assert_eq!(metrics.requests_of("otlp", "disabled"), 1);
    assert_eq!(metrics.requests_of("otlp", "stored"), 1);
}

/// One series of a remote-write request: name, labels, samples.
type RwSeries<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [(i64, f64)]);

/// POSTs a remote-write request with `user_agent`.
async fn remote_write(state: &AppState, user_agent: &str, series: &[RwSeries<'_>]) -> StatusCode {
    use crate::exporter::remote_write::proto::{self, Label, Sample as RwSample, TimeSeries};
    let timeseries = series
        .iter()
        .map(|(name, labels, samples)| TimeSeries {
            labels: std::iter::once(("__name__", *name))
                .chain(labels.iter().copied())
                .map(|(k, v)| Label {
                    name: k.into(),
                    value: v.into(),
                })
                .collect(),
            samples: samples
                .iter()
                .map(|&(timestamp, value)| RwSample { value, timestamp })
                .collect(),
        })
        .collect();
    // Protobuf, snappy-compressed.
    let body = proto::encode(&proto::WriteRequest { timeseries });
    let request = Request::post("/api/v1/write")
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .header("user-agent", user_agent)
        .body(Body::from(body))
        .unwrap();
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert!(
        status.is_success(),
        "{status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    status
}

/// `/api/v1/hosts`: the local host and every host the receivers heard, with what sent them,
/// when, their CPU, memory and disk now (Lookout's ratios; node_exporter's counters and
/// bytes), a CPU sparkline from the store, and a status by the effective host thresholds;
/// `unknown` once silent for 3 of its intervals. `/api/v1/status` counts them.
#[tokio::test]
async fn hosts_lists_the_local_host_and_every_sender_with_cpu_memory_disk_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = state(dir.path()).await;
    let t = T0 + 3_600_000;
    let clock = ManualClock::new(t - 60_000);
    state.clock = clock.clone();
    let mut config = crate::config::embedded_default();
    config.alerts.host = "hub-1".into();
    config.receive = Some(Default::default());
    state.config = super::handles::ConfigHandle::new(config);
    state.receiver = Arc::new(crate::receive::Receiver::new(
        state.snapshot.receive.clone(),
    ));
    let bus = crate::bus::Bus::new(1024);
    let mut subscription = bus.subscribe();
    state.bus = Some(bus);
    // The hub's own CPU: a series without a host label.
    let own = Observation {
        source: "system".into(),
        at_ms: t - 60_000,
        samples: vec![Sample {
            series: Arc::new(SeriesKey::new("cpu_usage_ratio")),
            value: 0.25,
        }],
        checks: Vec::new(),
    };
    state.snapshot.apply(&own);
    state.store.ingest(&own);
    // web-1: a Lookout agent (its ratios, named as on its /metrics); db-1: Prometheus with node_exporter's series.
    let send = |at: i64, cpu: f64, idle: f64| {
        let state = state.clone();
        async move {
            let web = remote_write(
                &state,
                "lookout/0.9.0",
                &[
                    (
                        "lookout_cpu_usage_ratio",
                        &[("host", "web-1")],
                        &[(at, cpu)],
                    ),
                    (
                        "lookout_memory_usage_ratio",
                        &[("host", "web-1")],
                        &[(at, 0.9)],
                    ),
                    (
                        "lookout_filesystem_usage_ratio",
                        &[("host", "web-1"), ("mountpoint", "/")],
                        &[(at, 0.5)],
                    ),
                ],
            )
            .await;
            let node = |cpu: &'static str| -> [(&'static str, &'static str); 3] {
                [("instance", "db-1:9100"), ("cpu", cpu), ("mode", "idle")]
            };
            let (n0, n1) = (node("0"), node("1"));
            let db = remote_write(
                &state,
                "Prometheus/2.42.0",
                &[
                    ("node_cpu_seconds_total", &n0, &[(at, idle)]),
                    ("node_cpu_seconds_total", &n1, &[(at, idle)]),
                    (
                        "node_memory_MemAvailable_bytes",
                        &[("instance", "db-1:9100")],
                        &[(at, 5e8)],
                    ),
                    (
                        "node_memory_MemTotal_bytes",
                        &[("instance", "db-1:9100")],
                        &[(at, 4e9)],
                    ),
                    (
                        "node_filesystem_avail_bytes",
                        &[("instance", "db-1:9100"), ("mountpoint", "/")],
                        &[(at, 2e9)],
                    ),
                    (
                        "node_filesystem_size_bytes",
                        &[("instance", "db-1:9100"), ("mountpoint", "/")],
                        &[(at, 1e10)],
                    ),
                ],
            )
            .await;
            (web, db)
        }
    };
    // Two requests a minute apart, of samples 5 min apart: db-1 idles 225 s of each CPU's
    // 300 s (75 % idle, 25 % busy).
    assert_eq!(
        send(t - 600_000, 0.5, 1000.0).await,
        (StatusCode::NO_CONTENT, StatusCode::NO_CONTENT)
    );
    clock.set(t);
    assert_eq!(
        send(t - 300_000, 0.97, 1000.0 + 225.0).await,
        (StatusCode::NO_CONTENT, StatusCode::NO_CONTENT)
    );
    while let Some(crate::model::BusMessage::Observation(o)) = subscription.try_recv() {
        state.snapshot.apply(&o);
        state.store.ingest(&o);
    }
    clock.set(t + 10_000);
    let (status, body) = get(&state, "/api/v1/hosts").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let hosts = body["hosts"].as_array().unwrap();
    let names: Vec<&str> = hosts.iter().map(|h| h["host"].as_str().unwrap()).collect();
    assert_eq!(names, ["db-1:9100", "hub-1", "web-1"], "{body}");
    let host = |name: &str| hosts.iter().find(|h| h["host"] == name).unwrap().clone();
    let close = |v: &Value, want: f64| {
        assert!((v.as_f64().unwrap() - want).abs() < 1e-9, "{v} != {want}");
    };
    let hub = host("hub-1");
    assert_eq!(hub["local"], true);
    assert_eq!(hub["kind"], "lookout");
    assert_eq!(hub["version"], super::VERSION);
    close(&hub["cpu"], 0.25);
    assert_eq!(hub["status"], "ok");
    let web = host("web-1");
    assert_eq!(web["local"], false);
    assert_eq!(
        (web["kind"].as_str(), web["version"].as_str()),
        (Some("lookout"), Some("0.9.0"))
    );
    assert_eq!(web["protocol"], "remote_write");
    close(&web["cpu"], 0.97);
    close(&web["memory"], 0.9);
    close(&web["disk"], 0.5);
    // CPU 97 % is past the built-in critical level (95 %), memory 90 % past its warning.
    assert_eq!(web["status"], "critical", "{web}");
    assert_eq!(web["last_seen_ms"], t);
    assert_eq!(web["interval_s"], 60.0);
    let spark: Vec<f64> = web["cpu_sparkline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .collect();
    assert_eq!(spark, [0.5, 0.97], "{web}");
    let db = host("db-1:9100");
    assert_eq!(
        (db["kind"].as_str(), db["version"].as_str()),
        (Some("prometheus"), Some("2.42.0"))
    );
    close(&db["cpu"], 0.25);
    close(&db["memory"], 0.875);
    close(&db["disk"], 0.8);
    // Memory 87.5 % is past its warning level (85 %).
    assert_eq!(db["status"], "warning", "{db}");
    let (_, status) = get(&state, "/api/v1/status?series=none").await;
    assert_eq!(status["hosts"], json!({"total": 3, "ok": 1, "problem": 2}));
    // Silent for more than 3 of their 60 s intervals: unknown.
    clock.set(t + 181_000);
    let (_, body) = get(&state, "/api/v1/hosts").await;
    for entry in body["hosts"].as_array().unwrap() {
        let want = if entry["local"] == true {
            "ok"
        } else {
            "unknown"
        };
        assert_eq!(entry["status"], want, "{entry}");
    }
}

/// `host=` on the endpoints the pages read (issue 19): `/api/v1/series` gives one host's
/// series (this Lookout's: those without a `host` label), `/api/v1/checks` and
/// `/api/v1/status` its checks (`HOST/CHECK` for a received host); an unknown host is a 404
/// naming the field, an over-long one a 400. `/api/v1/hosts/{name}`: the row, filesystems,
/// checks and a page of series names; unknown: 404. With no rule on CPU, memory or disk, a
/// host's levels say so.
#[tokio::test]
async fn host_parameter_picks_one_hosts_series_and_checks_and_a_host_page_shows_what_it_sends() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = state(dir.path()).await;
    let t = T0 + 3_600_000;
    let clock = ManualClock::new(t);
    state.clock = clock.clone();
    let mut config = crate::config::embedded_default();
    config.alerts.host = "hub-1".into();
    config.receive = Some(Default::default());
    for rule in config.alerts.rules.iter_mut() {
        if rule.name == "memory_usage" {
            rule.enabled = false;
        }
    }
    state.config = super::handles::ConfigHandle::new(config);
    state.receiver = Arc::new(crate::receive::Receiver::new(
        state.snapshot.receive.clone(),
    ));
    let bus = crate::bus::Bus::new(1024);
    let mut subscription = bus.subscribe();
    state.bus = Some(bus);
    let own = Observation {
        source: "system".into(),
        at_ms: t - 30_000,
        samples: vec![Sample {
            series: Arc::new(SeriesKey::new("cpu_usage_ratio")),
            value: 0.25,
        }],
        checks: Vec::new(),
    };
    state.snapshot.apply(&own);
    state.store.ingest(&own);
    let web = [("host", "web-1")];
    let root = [
        ("host", "web-1"),
        ("mountpoint", "/"),
        ("device", "/dev/vda1"),
    ];
    let names: Vec<String> = (0..7).map(|i| format!("app_metric_{i}")).collect();
    let (cpu, memory, disk, one) = (
        [(t - 20_000, 0.5)],
        [(t - 20_000, 0.95)],
        [(t - 20_000, 0.4)],
        [(t - 20_000, 1.0)],
    );
    let mut series: Vec<RwSeries> = vec![
        ("cpu_usage_ratio", &web, &cpu),
        ("memory_usage_ratio", &web, &memory),
        ("filesystem_usage_ratio", &root, &disk),
    ];
    for name in &names {
        series.push((name.as_str(), &web, &one));
    }
    assert_eq!(
        remote_write(&state, "lookout/0.9.0", &series).await,
        StatusCode::NO_CONTENT
    );
    // Its check, as the receivers make it of lookout_check_status (HOST/CHECK).
    let checks = Observation {
        source: "receive:agents".into(),
        at_ms: t - 20_000,
        samples: Vec::new(),
        checks: vec![CheckResult {
            underlying: None,
            check: "web-1/app".into(),
            layer: Layer::Application,
            status: Status::Critical,
            value: Some(0.2),
            detail: "HTTP 500".into(),
            at_ms: t - 20_000,
        }],
    };
    state.snapshot.apply(&checks);
    state.store.ingest(&checks);
    while let Some(crate::model::BusMessage::Observation(o)) = subscription.try_recv() {
        state.snapshot.apply(&o);
        state.store.ingest(&o);
    }
    let labels_of = |body: &Value| -> Vec<Value> {
        body["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["labels"].clone())
            .collect()
    };
    let (code, all) = get(&state, "/api/v1/series?name=cpu_usage_ratio&from=-2h").await;
    assert_eq!(code, StatusCode::OK, "{all}");
    assert_eq!(labels_of(&all).len(), 2, "{all}");
    let (_, web_cpu) = get(
        &state,
        "/api/v1/series?name=cpu_usage_ratio&from=-2h&host=web-1",
    )
    .await;
    assert_eq!(labels_of(&web_cpu), [json!({"host": "web-1"})], "{web_cpu}");
    let (_, hub_cpu) = get(
        &state,
        "/api/v1/series?name=cpu_usage_ratio&from=-2h&host=hub-1",
    )
    .await;
    assert_eq!(labels_of(&hub_cpu), [json!({})], "{hub_cpu}");
    let names_of = |body: &Value| -> Vec<String> {
        body["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["check"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, every) = get(&state, "/api/v1/checks").await;
    assert!(
        names_of(&every).contains(&"web-1/app".to_string()),
        "{every}"
    );
    assert!(names_of(&every).contains(&"disk:/".to_string()), "{every}");
    let (_, web_checks) = get(&state, "/api/v1/checks?host=web-1").await;
    assert_eq!(names_of(&web_checks), ["web-1/app"], "{web_checks}");
    let (_, hub_checks) = get(&state, "/api/v1/checks?host=hub-1").await;
    assert!(
        !names_of(&hub_checks).contains(&"web-1/app".to_string()),
        "{hub_checks}"
    );
    assert!(
        names_of(&hub_checks).contains(&"disk:/".to_string()),
        "{hub_checks}"
    );
    let (_, status) = get(
        &state,
        "/api/v1/status?host=web-1&series=filesystem_usage_ratio",
    )
    .await;
    assert_eq!(names_of(&status), ["web-1/app"], "{status}");
    assert_eq!(status["overall"], "critical");
    assert_eq!(
        labels_of(&status),
        [json!({"host": "web-1", "mountpoint": "/", "device": "/dev/vda1"})]
    );
    // Validated: unknown is a 404, over-long a 400, each naming the field, on every endpoint.
    let long = "h".repeat(300);
    for path in [
        "/api/v1/series?name=cpu_usage_ratio&host=",
        "/api/v1/checks?host=",
        "/api/v1/status?host=",
        "/api/v1/hosts/",
    ] {
        let (code, body) = get(&state, &format!("{path}nope")).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{path}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(
            error.starts_with("host: ") && error.contains("\"nope\""),
            "{error}"
        );
        let (code, body) = get(&state, &format!("{path}{long}")).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(
            body["error"].as_str().unwrap().starts_with("host: "),
            "{body}"
        );
    }
    // The host's page: its row, filesystems, checks and series by name, paged.
    let (code, page) = get(&state, "/api/v1/hosts/web-1?limit=4&offset=2").await;
    assert_eq!(code, StatusCode::OK, "{page}");
    assert_eq!(page["host"], "web-1");
    assert_eq!(page["kind"], "lookout");
    assert_eq!(page["cpu"], 0.5);
    assert_eq!(page["series_total"], 10);
    assert_eq!(page["names_total"], 10);
    let page_names: Vec<&str> = page["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        page_names,
        [
            "app_metric_2",
            "app_metric_3",
            "app_metric_4",
            "app_metric_5"
        ]
    );
    assert_eq!(page["names"][0]["count"], 1);
    assert_eq!(page["names"][0]["series"][0]["labels"], json!({}));
    assert_eq!(page["names"][0]["series"][0]["value"], 1.0);
    assert_eq!(
        page["filesystems"],
        json!([{"mountpoint": "/", "device": "/dev/vda1", "usage": 0.4,
                "levels": {"rule": "disk_usage", "warning": 0.9, "critical": 0.95}}])
    );
    assert_eq!(page["checks"][0]["check"], "web-1/app");
    assert_eq!(page["checks"].as_array().unwrap().len(), 1);
    // Memory 95 %, but the memory rule is disabled: no level, said so; CPU and disk are rated.
    assert_eq!(
        page["levels"]["memory"],
        json!({"rule": null, "warning": null, "critical": null})
    );
    assert_eq!(page["levels"]["cpu"]["rule"], "cpu_usage");
    assert_eq!(page["status"], "ok", "{page}");
    let (_, hub) = get(&state, "/api/v1/hosts/hub-1").await;
    assert_eq!(hub["local"], true);
    assert!(
        hub["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["check"] != "web-1/app"),
        "{hub}"
    );
    assert!(
        hub["names"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == "cpu_usage_ratio"),
        "{hub}"
    );
}
