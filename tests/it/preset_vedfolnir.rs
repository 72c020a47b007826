//! `lookout config init --preset vedfolnir` works against a local imitation of the app:
//! its health endpoints and metrics (an in-process HTTP server), its MariaDB database, its
//! Redis sessions and its log file.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::*;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;

const DATABASE: &str = "lookout_vedfolnir_preset";
const REDIS_DB: u32 = 13;
const SESSIONS: usize = 25;

async fn health(State(maintenance): State<Arc<AtomicBool>>) -> impl IntoResponse {
    if maintenance.load(Ordering::SeqCst) {
        let mut headers = HeaderMap::new();
        headers.insert("X-Maintenance-Active", HeaderValue::from_static("true"));
        headers.insert("X-Maintenance-Mode", HeaderValue::from_static("normal"));
        headers.insert("Retry-After", HeaderValue::from_static("1800"));
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            headers,
            r#"{"status":"unhealthy","message":"maintenance"}"#,
        )
            .into_response();
    }
    let component = |ok: bool| serde_json::json!({"healthy": ok, "message": "ok"});
    axum::Json(serde_json::json!({
        "status": "healthy",
        "timestamp": "2026-11-27T10:00:00Z",
        "version": "1.0.0",
        "components": {
            "application": component(true), "database": component(true),
            "redis": component(true), "ollama": component(false),
            "rq_workers": component(true), "resources": component(true)
        }
    }))
    .into_response()
}

async fn ready() -> impl IntoResponse {
    axum::Json(serde_json::json!({
        "ready": true, "timestamp": "2026-11-27T10:00:00Z",
        "checks": {"database": true, "redis": true}
    }))
}

async fn metrics() -> &'static str {
    "# HELP vedfolnir_health_status Component health\n# TYPE vedfolnir_health_status gauge\n\
     vedfolnir_health_status{component=\"database\"} 1\nvedfolnir_health_status{component=\"ollama\"} 0\n\
     # TYPE vedfolnir_cpu_usage_percent gauge\nvedfolnir_cpu_usage_percent 12.5\n\
     # TYPE python_gc_objects_collected_total counter\npython_gc_objects_collected_total 42\n"
}

/// The imitation app on a free port; the flag switches it into maintenance.
fn start_app() -> (std::net::SocketAddr, Arc<AtomicBool>) {
    let maintenance = Arc::new(AtomicBool::new(false));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/health", get(health))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(maintenance.clone());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (addr, maintenance)
}

/// The app's tables in MariaDB: two failed tasks in the last hour (warning at 1).
fn prepare_database() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let pool = sqlx::MySqlPool::connect("mysql://root@127.0.0.1:3306/test")
            .await
            .expect("MariaDB on 127.0.0.1:3306 (root, no password); .ci/run starts it");
        for statement in [
            format!("CREATE DATABASE IF NOT EXISTS {DATABASE}"),
            format!("DROP TABLE IF EXISTS {DATABASE}.caption_generation_tasks"),
            format!(
                "CREATE TABLE {DATABASE}.caption_generation_tasks (id INT AUTO_INCREMENT PRIMARY KEY, \
                 status VARCHAR(20) NOT NULL, created_at DATETIME NOT NULL)"
            ),
            format!(
                "INSERT INTO {DATABASE}.caption_generation_tasks (status, created_at) VALUES \
                 ('failed', NOW()), ('failed', NOW() - INTERVAL 10 MINUTE), \
                 ('failed', NOW() - INTERVAL 3 HOUR), ('queued', NOW()), ('completed', NOW())"
            ),
            format!("DROP TABLE IF EXISTS {DATABASE}.system_configuration"),
            format!(
                "CREATE TABLE {DATABASE}.system_configuration (`key` VARCHAR(64) PRIMARY KEY, value TEXT)"
            ),
            format!(
                "INSERT INTO {DATABASE}.system_configuration VALUES ('maintenance_mode', 'false'), \
                 ('maintenance_reason', '')"
            ),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&pool).await.unwrap();
        }
        pool.close().await;
    });
}

/// The preset's `[maintenance.source]` query run on the imitation's database, after setting
/// the app's two rows: (active, reason).
fn maintenance_row(query: &str, mode: &str, reason: &str) -> (i64, Option<String>) {
    use sqlx::Row;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let pool = sqlx::MySqlPool::connect(&format!("mysql://root@127.0.0.1:3306/{DATABASE}"))
            .await
            .expect("MariaDB on 127.0.0.1:3306 (root, no password); .ci/run starts it");
        for (key, value) in [("maintenance_mode", mode), ("maintenance_reason", reason)] {
            sqlx::query("UPDATE system_configuration SET value = ? WHERE `key` = ?")
                .bind(value)
                .bind(key)
                .execute(&pool)
                .await
                .unwrap();
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(query.to_string()))
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}: {query}"));
        let answer = (row.get("active"), row.get("reason"));
        pool.close().await;
        answer
    })
}

/// Sessions in a Redis database of this test's own.
fn prepare_redis() {
    use std::io::{Read, Write};
    let mut redis = std::net::TcpStream::connect("127.0.0.1:6379")
        .expect("Redis on 127.0.0.1:6379; .ci/run starts it");
    let mut commands = format!("SELECT {REDIS_DB}\r\nFLUSHDB\r\n");
    for i in 0..SESSIONS {
        commands.push_str(&format!("SET vedfolnir:session:{i} x EX 7200\r\n"));
    }
    commands.push_str("SET vedfolnir:rq:queue x\r\nQUIT\r\n");
    redis.write_all(commands.as_bytes()).unwrap();
    let mut reply = String::new();
    let _ = redis.read_to_string(&mut reply);
    assert!(!reply.contains("-ERR"), "{reply}");
}

fn check_statuses(config: &std::path::Path, dir: &std::path::Path) -> serde_json::Value {
    let out = output(
        lookout()
            .args(["check", "--json", "--config"])
            .arg(config)
            .env("VEDFOLNIR_DB_PASSWORD", "")
            .current_dir(dir),
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", text(&out.stdout), text(&out.stderr)))
}

fn status_of<'a>(report: &'a serde_json::Value, check: &str) -> (&'a str, &'a str) {
    let entry = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check)
        .unwrap_or_else(|| panic!("no check {check} in {report}"));
    (
        entry["status"].as_str().unwrap(),
        entry["detail"].as_str().unwrap(),
    )
}

#[test]
fn the_vedfolnir_preset_monitors_an_imitation_of_the_app() {
    let _machine = crate::common::machine::shared();
    let (app, maintenance) = start_app();
    prepare_database();
    prepare_redis();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("webapp.log");
    std::fs::write(&log, "{\"event_type\": \"maintenance_enabled\"}\n").unwrap();

    let preset = dir.path().join("preset.toml");
    let out = run(
        &[
            "config",
            "init",
            "--preset",
            "vedfolnir",
            preset.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Point the preset at this machine's imitation, as a user would edit it.
    let text = std::fs::read_to_string(&preset)
        .unwrap()
        .replace("127.0.0.1:5000", &app.to_string())
        .replace("mysql://vedfolnir:", "mysql://root:")
        .replace("3306/vedfolnir\"", &format!("3306/{DATABASE}\""))
        .replace("6379/0\"", &format!("6379/{REDIS_DB}\""))
        .replace("/opt/vedfolnir/logs/webapp.log", log.to_str().unwrap())
        .replace("listen = \"127.0.0.1:9898\"", "listen = \"127.0.0.1:0\"")
        .replace(
            "path = \"./lookout-data\"",
            &format!("path = \"{}\"", dir.path().join("data").display()),
        )
        .replace("interval = \"30s\"", "interval = \"2s\"")
        .replace("timeout = \"5s\"", "timeout = \"2s\"")
        .replace("interval = \"1m\"", "interval = \"2s\"");
    let config = dir.path().join("lookout.toml");
    std::fs::write(&config, &text).unwrap();

    // The maintenance source reads the app's flag and reason from its own table.
    let document: toml::Table = toml::from_str(&text).unwrap();
    let source = &document["maintenance"]["source"];
    assert_eq!(source["check"].as_str(), Some("vedfolnir-mysql"));
    let query = source["query"].as_str().unwrap();
    assert_eq!(
        maintenance_row(query, "false", ""),
        (0, Some(String::new()))
    );
    assert_eq!(
        maintenance_row(query, "True", "database upgrade"),
        (1, Some("database upgrade".to_string()))
    );
    assert_eq!(
        maintenance_row(query, "false", ""),
        (0, Some(String::new()))
    );

    let report = check_statuses(&config, dir.path());
    for check in [
        "vedfolnir-health",
        "vedfolnir-ready",
        "vedfolnir-metrics",
        "vedfolnir-redis",
        "vedfolnir-log",
    ] {
        assert_eq!(status_of(&report, check).0, "ok", "{check}: {report}");
    }
    let (status, detail) = status_of(&report, "vedfolnir-mysql");
    assert_eq!(
        status, "warning",
        "two failed tasks in the last hour: {detail}"
    );
    assert!(detail.contains("failed_tasks_last_hour"), "{detail}");
    let health_detail = status_of(&report, "vedfolnir-health").1;
    assert!(health_detail.contains("HTTP 200"), "{health_detail}");

    // Maintenance announced by the app is maintenance, not an outage.
    maintenance.store(true, Ordering::SeqCst);
    let report = check_statuses(&config, dir.path());
    let (status, detail) = status_of(&report, "vedfolnir-health");
    assert_eq!(status, "maintenance", "{detail}");
    maintenance.store(false, Ordering::SeqCst);

    // The daemon turns the app's values into series: component health, sessions, app metrics.
    let mut command = lookout();
    command
        .args(["serve", "--config"])
        .arg(&config)
        .env("VEDFOLNIR_DB_PASSWORD", "");
    let mut daemon = Daemon::spawn(command);
    let value = |d: &Daemon, name: &str, label: (&str, &str)| -> Option<f64> {
        let status = d.json("/api/v1/status");
        status["series"].as_array()?.iter().find_map(|s| {
            (s["name"] == name && s["labels"][label.0] == label.1).then(|| s["value"].as_f64())?
        })
    };
    daemon.wait_until(Duration::from_secs(30), |d| {
        value(d, "redis_sessions", ("check", "vedfolnir-redis")).is_some()
            && value(d, "http_extract", ("name", "component_ollama")).is_some()
            && value(d, "vedfolnir_health_status", ("component", "database")).is_some()
            && value(d, "db_query_value", ("query", "failed_tasks_last_hour")).is_some()
    });
    assert_eq!(
        value(&daemon, "redis_sessions", ("check", "vedfolnir-redis")),
        Some(SESSIONS as f64)
    );
    assert_eq!(
        value(&daemon, "http_extract", ("name", "component_database")),
        Some(1.0)
    );
    assert_eq!(
        value(&daemon, "http_extract", ("name", "component_ollama")),
        Some(0.0)
    );
    assert_eq!(
        value(
            &daemon,
            "vedfolnir_health_status",
            ("component", "database")
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &daemon,
            "db_query_value",
            ("query", "failed_tasks_last_hour")
        ),
        Some(2.0)
    );
    assert_eq!(
        value(&daemon, "db_query_value", ("query", "maintenance_flag")),
        Some(0.0)
    );
    assert_eq!(
        value(
            &daemon,
            "python_gc_objects_collected_total",
            ("check", "vedfolnir-metrics")
        ),
        None,
        "families outside the preset's list are not kept"
    );

    // New log lines are counted on the next run.
    let mut lines = String::new();
    for _ in 0..3 {
        lines.push_str(
            "{\"event_type\": \"maintenance_operation_blocked\", \"level\": \"WARNING\"}\n",
        );
    }
    lines.push_str("2026-11-27 10:00:00 WARNING Login failed for user alice\n");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, lines.as_bytes()))
        .unwrap();
    daemon.wait_until(Duration::from_secs(15), |d| {
        value(
            d,
            "log_matches_total",
            ("pattern", "maintenance_operation_blocked"),
        ) == Some(3.0)
            && value(d, "log_matches_total", ("pattern", "failed_logins")) == Some(1.0)
    });
    let (code, log_text) = daemon.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0));
    assert!(
        !log_text.contains("Login failed for user alice"),
        "matched lines are never logged"
    );
}
