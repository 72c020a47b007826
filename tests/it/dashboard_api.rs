//! The dashboard's API with the real binary (issue 18): every number it draws comes from the
//! daemon (the levels a check's status is decided on, the alert rules' effective levels),
//! failed probes leave gaps, alerts are counted apart from muted and silenced ones, events
//! filter by kind and check, unknown paths are 404s, the no-script summary lists the firing
//! alerts and logs out, and an open maintenance period names the alerts it mutes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

use crate::common::alerting::{self, closed_port, http_check, poll};
use crate::common::*;

/// A daemon with a refused http check `web` (critical), a sqlite check `db` warning because
/// of its query, and cpu levels lowered by `[system.thresholds]`.
fn start(dir: &std::path::Path) -> Daemon {
    let db = dir.join("app.db");
    std::fs::write(&db, b"").unwrap();
    let extra = format!(
        "\n[system.thresholds]\ncpu_warning = \"60%\"\n{}\n\
         [[check]]\nname = \"db\"\ntype = \"sqlite\"\ndsn = \"sqlite://{}\"\ninterval = \"1s\"\n\
         [[check.query]]\nname = \"backlog\"\nsql = \"SELECT 5\"\nwarning = 1\ncritical = 10\n",
        http_check(
            "web",
            &format!("http://127.0.0.1:{}/health", closed_port()),
            ""
        ),
        db.display()
    );
    let config = write_config(dir, 0, &extra);
    let mut daemon = Daemon::start(&config);
    daemon.wait_until(Duration::from_secs(20), |d| {
        let checks = d.json("/api/v1/checks?from=-5m");
        let status = |name: &str| {
            checks["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["check"] == name)
                .map(|c| c["status"].clone())
        };
        status("web") == Some("critical".into())
            && status("db") == Some("warning".into())
            && status("cpu").is_some()
    });
    daemon
}

fn entry(list: &Value, name: &str) -> Value {
    list["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no {name}: {list}"))
        .clone()
}

#[test]
fn checks_say_what_their_status_is_decided_on_and_failed_probes_leave_gaps() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path());

    let list = daemon.json("/api/v1/checks?from=-5m");
    // Even before the store has the results, the strip shows the latest.
    let strip = entry(&list, "web")["strip"].as_str().unwrap().to_string();
    assert_eq!(strip.len(), 48);
    assert!(strip.ends_with('c'), "{strip}");
    assert_eq!(entry(&list, "lookout:self")["type"], "lookout");
    let db = entry(&list, "db");
    assert_eq!(db["type"], "sqlite");
    assert_eq!(db["layer"], "database");
    // The sql defaults (1 s / 3 s), not the http ones (2 s / 5 s).
    assert_eq!(db["thresholds"]["metric"], "db_ping_seconds");
    assert_eq!(
        (
            db["thresholds"]["warning"].as_f64(),
            db["thresholds"]["critical"].as_f64()
        ),
        (Some(1.0), Some(3.0))
    );
    let cpu = entry(&list, "cpu");
    assert_eq!(cpu["type"], "system");
    assert_eq!(cpu["thresholds"]["warning"], 0.6, "{cpu}");

    // The card warns because of its query: the page charts the query, with its levels.
    let page = daemon.json("/api/v1/checks/db");
    let query = page["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metric"] == "db_query_value")
        .unwrap_or_else(|| panic!("no chart of the query: {page}"))
        .clone();
    assert_eq!(query["labels"]["query"], "backlog");
    assert_eq!(query["thresholds"]["warning"], 1.0);
    assert!(
        page["recent"].as_array().is_some_and(|r| !r.is_empty()),
        "{page}"
    );
    assert!(page["uptime_24h"].is_number(), "{page}");

    // A refused connection has no response time: no value, no point, no chart of the
    // attempt's duration.
    let web = daemon.json("/api/v1/checks/web");
    assert_eq!(web["status"], "critical");
    assert_eq!(web["value"], Value::Null, "{web}");
    assert_eq!(web["charts"][0]["metric"], "http_response_seconds");
    assert!(
        !web["charts"].to_string().contains("check_duration_seconds"),
        "{web}"
    );
    let series = daemon.json("/api/v1/series?name=http_response_seconds&check=web&from=-5m");
    assert_eq!(series["series"], serde_json::json!([]), "{series}");

    // The alert rules' effective levels: [system.thresholds] and the default clear margin.
    let rules = daemon.json("/api/v1/thresholds");
    let cpu_rule = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "cpu_usage")
        .unwrap()
        .clone();
    assert_eq!(cpu_rule["warning"], 0.6);
    assert_eq!(cpu_rule["warning_clear"], 0.5625);

    // Unknown checks and paths are 404s.
    let (code, body) = daemon.get("/api/v1/checks/nope");
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("no check named"), "{body}");
    let (code, body) = daemon.get("/no/such/page");
    assert_eq!(code, 404);
    assert!(
        body.contains("<title>Not found · Lookout</title>"),
        "{body}"
    );
    let (code, body) = daemon.get("/api/v1/no-such-endpoint");
    assert_eq!(code, 404);
    assert!(body.contains("\"error\""), "{body}");
    let (code, body) = daemon.get("/checks/web");
    assert_eq!(code, 200);
    assert!(
        body.contains("<title>web · Checks · Lookout</title>"),
        "{body}"
    );
    // The guard stands before the 404: without credentials, no hint of what exists.
    let (code, _) = alerting_get_anonymous(daemon.addr, "/no/such/page");
    assert_eq!(code, 401);

    // Events by kind and check; a wrong kind names the accepted ones.
    let events = daemon.json("/api/v1/events?from=-5m&kind=status_changed&check=web");
    let events = events["events"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e["kind"] == "status_changed" && e["subject"] == "web"),
        "{events:?}"
    );
    let (code, body) = daemon.get("/api/v1/events?kind=nope");
    assert_eq!(code, 400);
    assert!(
        body.contains("kind: \\\"nope\\\" is not an event kind; expected one or more of started"),
        "{body}"
    );
}

/// GET without credentials: (status, body).
fn alerting_get_anonymous(addr: SocketAddr, path: &str) -> (u16, String) {
    request(
        addr,
        &format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n"),
    )
}

fn request(addr: SocketAddr, text: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(text.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, response)
}

#[test]
fn status_counts_firing_alerts_apart_and_the_no_script_summary_lists_them_and_logs_out() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path());
    let status = poll(
        Duration::from_secs(30),
        "check_failed fires for web",
        || {
            let status = daemon.json("/api/v1/status?series=none");
            (status["alerts"]["firing"].as_u64() >= Some(1)).then_some(status)
        },
    );
    assert_eq!(status["notifiers"]["configured"], 0, "{status}");
    assert_eq!(status["alerts"]["muted"], 0, "{status}");

    // A session through the login form, as a browser without JavaScript.
    let password = std::fs::read_to_string(dir.path().join("data/initial-admin-password"))
        .unwrap()
        .trim()
        .to_string();
    let body = format!("user=admin&password={password}");
    let (code, response) = request(
        daemon.addr,
        &format!(
            "POST /login HTTP/1.0\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{body}",
            daemon.addr,
            body.len()
        ),
    );
    assert_eq!(code, 303, "{response}");
    let cookie = response
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no cookie: {response}"))
        .to_string();
    let get = |path: &str| {
        request(
            daemon.addr,
            &format!(
                "GET {path} HTTP/1.0\r\nHost: {}\r\nCookie: {cookie}\r\n\r\n",
                daemon.addr
            ),
        )
    };
    let (code, page) = get("/");
    assert_eq!(code, 200);
    assert!(page.contains("<title>Overview · Lookout</title>"), "{page}");
    assert!(page.contains("<h2>Firing alerts</h2>"), "{page}");
    assert!(
        page.contains("check_failed"),
        "the firing alert is listed: {page}"
    );
    // The "connecting" pill is hidden without the script.
    assert!(page.contains("<noscript><style>#live{display:none}</style></noscript>"));
    let csrf = page
        .split("name=\"csrf_token\" value=\"")
        .nth(2)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no logout form with a token: {page}"))
        .to_string();
    assert!(!csrf.is_empty());
    let form = format!("csrf_token={csrf}");
    let (code, response) = request(
        daemon.addr,
        &format!(
            "POST /logout HTTP/1.0\r\nHost: {}\r\nCookie: {cookie}\r\nAccept: text/html\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            daemon.addr,
            form.len()
        ),
    );
    assert_eq!(code, 303, "logged out: {response}");
    assert_eq!(get("/api/v1/session").0, 401, "the session is gone");
}

#[test]
fn an_open_maintenance_period_names_the_alerts_it_mutes() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path());
    poll(
        Duration::from_secs(30),
        "check_failed fires for web",
        || {
            let status = daemon.json("/api/v1/status?series=none");
            (status["alerts"]["firing"].as_u64() >= Some(1)).then_some(())
        },
    );
    let (code, body) = alerting::http(
        daemon.addr,
        "POST",
        "/api/v1/maintenance/start",
        Some(r#"{"for": "10m", "reason": "upgrade"}"#),
    );
    assert!(code == 200 || code == 201, "{code}: {body}");
    let maintenance = poll(
        Duration::from_secs(30),
        "the alert muted by maintenance",
        || {
            let status = daemon.json("/api/v1/status?series=none");
            let maintenance = daemon.json("/api/v1/maintenance");
            (status["alerts"]["muted"].as_u64() >= Some(1) && maintenance["active"] == true)
                .then_some(maintenance)
        },
    );
    let open = &maintenance["open"];
    let muted = open["muted"].as_array().unwrap();
    assert!(
        muted
            .iter()
            .any(|m| m.as_str().unwrap().contains("check_failed")),
        "the open period names the alert it mutes: {open}"
    );
    let history = maintenance["history"][0].clone();
    assert_eq!(history["id"], open["id"]);
    assert_eq!(history["muted"], open["muted"], "{maintenance}");
    // The firing banner counts it apart.
    let status = daemon.json("/api/v1/status?series=none");
    assert_eq!(status["alerts"]["firing"], 0, "{status}");
}
