//! `lookout maintenance ...` and `lookout report` on a temporary data dir, through the real
//! binary: windows opened, extended and stopped from the shell, the periods a daemon stored
//! read back by `status`, `history` and `report` (their --json shapes), bad input refused
//! with exit code 2 before anything is recorded, and a failing control step recording nothing.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::text;
use lookout::clock::{ManualClock, UnixMillis};
use lookout::maintenance::{Impact, Mode, Origin, Period};
use lookout::model::{CheckResult, Layer, Observation, Status};
use lookout::store::{Store, StoreOptions};
use serde_json::Value;

const MIN: i64 = 60_000;

fn cli(config: &Path, args: &[&str]) -> Output {
    common::output(
        common::lookout()
            .arg("--config")
            .arg(config)
            .args(args)
            .env("USER", "tester"),
    )
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}: {}{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

fn json(output: &Output) -> Value {
    let stdout = ok(output);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn ms(rfc3339: &Value) -> i64 {
    let t = humantime::parse_rfc3339(rfc3339.as_str().expect("a time")).expect("RFC 3339");
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn now_ms() -> UnixMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn config(dir: &Path, extra: &str) -> PathBuf {
    common::write_config(dir, 0, extra)
}

#[test]
fn a_window_is_started_extended_and_stopped_from_the_shell() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    let before = now_ms();
    let out = ok(&cli(
        &config,
        &[
            "maintenance",
            "start",
            "--for",
            "30m",
            "--reason",
            "database upgrade",
            "--mode",
            "emergency",
        ],
    ));
    assert!(
        out.starts_with("maintenance window #1 started: emergency mode until "),
        "{out}"
    );

    let status = json(&cli(&config, &["maintenance", "status", "--json"]));
    assert_eq!(status["active"], true, "{status}");
    assert_eq!(status["period"], Value::Null, "no daemon recorded a period");
    assert_eq!(status["control"], false);
    let windows = status["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "{status}");
    let w = &windows[0];
    assert_eq!(w["id"], 1);
    assert_eq!(w["name"], Value::Null);
    assert_eq!(w["mode"], "emergency");
    assert_eq!(w["reason"], "database upgrade");
    assert_eq!(w["origin"], "cli");
    assert_eq!(w["author"], "tester");
    assert_eq!(w["active"], true);
    let start = ms(&w["start"]);
    assert!(start >= before && start <= now_ms(), "{w}");
    assert_eq!(ms(&w["end"]) - start, 30 * MIN);

    let out = ok(&cli(&config, &["maintenance", "extend", "15m"]));
    assert!(
        out.starts_with("maintenance window #1 extended by 15m: now ends at "),
        "{out}"
    );
    let status = json(&cli(&config, &["maintenance", "status", "--json"]));
    assert_eq!(ms(&status["windows"][0]["end"]) - start, 45 * MIN);
    let human = ok(&cli(&config, &["maintenance", "status"]));
    assert!(human.contains("a maintenance window is active"), "{human}");
    // The windows as a table: who opened it, why.
    let row = human
        .lines()
        .find(|l| l.starts_with("active "))
        .unwrap_or_else(|| panic!("{human}"));
    assert!(
        row.contains("  #1 by tester  ") && row.ends_with("  database upgrade"),
        "{human}"
    );

    let out = ok(&cli(&config, &["maintenance", "stop"]));
    assert!(
        out.starts_with("maintenance window #1 stopped after ")
            && out.contains("emergency mode, database upgrade (by tester)"),
        "{out}"
    );
    let status = json(&cli(&config, &["maintenance", "status", "--json"]));
    assert_eq!(status["active"], false, "{status}");
    assert_eq!(status["windows"], serde_json::json!([]));
    assert!(ok(&cli(&config, &["maintenance", "status"])).contains("not in maintenance"));

    // Nothing to stop is fine; nothing to extend is not.
    let out = ok(&cli(&config, &["maintenance", "stop"]));
    assert_eq!(out, "no maintenance window is active\n");
    let out = cli(&config, &["maintenance", "extend", "15m"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert_eq!(
        text(&out.stderr),
        "lookout: no maintenance window is active\n"
    );
}

/// What a daemon would have stored: a planned period two days ago that ran 30 minutes over,
/// an unplanned emergency still open, and the results of one check.
async fn seed(config_dir: &Path, now: UnixMillis) {
    let store = Store::open(
        &config_dir.join("data"),
        StoreOptions::default(),
        ManualClock::new(now),
    )
    .await
    .unwrap();
    let closed = Period {
        id: 0,
        start_ms: now - 2 * 1440 * MIN,
        end_ms: Some(now - 2 * 1440 * MIN + 60 * MIN),
        planned_end_ms: Some(now - 2 * 1440 * MIN + 30 * MIN),
        mode: Mode::Normal,
        reason: "weekly patching".into(),
        origin: Origin::Planned,
        planned: true,
        impact: Impact {
            blocked_requests: 40,
            sessions_at_start: Some(12),
            ..Impact::default()
        },
        muted: vec!["critical check_failed: app returned 503".into()],
    };
    let open = Period {
        id: 0,
        start_ms: now - 10 * MIN,
        end_ms: None,
        planned_end_ms: None,
        mode: Mode::Emergency,
        reason: "disk full".into(),
        origin: Origin::Detected,
        planned: false,
        impact: Impact {
            blocked_requests: 2,
            invalidated_sessions: Some(5),
            active_jobs: Some(1),
            ..Impact::default()
        },
        muted: vec![],
    };
    assert_eq!(store.save_period(&closed).await.unwrap(), 1);
    assert_eq!(store.save_period(&open).await.unwrap(), 2);
    for (at_ms, status) in [
        // Within the report's lookback (1 h) before `now - 7d`: the status in force then.
        (now - 7 * 1440 * MIN - 30 * MIN, Status::Ok),
        (now - 10 * MIN, Status::Critical),
    ] {
        store.ingest(&Observation {
            source: "check:app".into(),
            at_ms,
            samples: vec![],
            checks: vec![CheckResult {
                check: "app".into(),
                layer: Layer::Application,
                status,
                value: None,
                detail: String::new(),
                at_ms,
                underlying: None,
            }],
        });
        store.flush().await.unwrap();
    }
    store.close().await.unwrap();
}

#[tokio::test]
async fn status_history_and_report_read_what_the_daemon_stored() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    let now = now_ms();
    seed(dir.path(), now).await;

    let status = json(&cli(&config, &["maintenance", "status", "--json"]));
    assert_eq!(status["active"], true, "{status}");
    let period = &status["period"];
    assert_eq!(period["id"], 2);
    assert_eq!(period["mode"], "emergency");
    assert_eq!(period["origin"], "detected");
    assert_eq!(period["planned"], false);
    assert_eq!(period["end"], Value::Null);
    assert_eq!(period["planned_end"], Value::Null);
    assert_eq!(period["overrun_seconds"], 0);
    assert!(
        period["duration_seconds"].as_u64().unwrap() >= 600,
        "{period}"
    );
    let human = ok(&cli(&config, &["maintenance", "status"]));
    assert!(
        human.starts_with("IN MAINTENANCE since ")
            && human.contains("(emergency mode, detected, unplanned: disk full)"),
        "{human}"
    );

    let history = json(&cli(&config, &["maintenance", "history", "--json"]));
    let periods = history.as_array().unwrap();
    assert_eq!(periods.len(), 2, "{history}");
    assert_eq!(periods[0]["id"], 2, "newest first");
    let p = &periods[1];
    let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = vec![
        "id",
        "start",
        "end",
        "planned_end",
        "duration_seconds",
        "overrun_seconds",
        "mode",
        "reason",
        "origin",
        "planned",
        "impact",
        "muted",
    ];
    expected.sort_unstable();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    assert_eq!(keys_sorted, expected);
    assert_eq!(p["duration_seconds"], 3600);
    assert_eq!(p["overrun_seconds"], 1800);
    assert_eq!(p["origin"], "planned");
    assert_eq!(
        p["impact"],
        serde_json::json!({
            "blocked_requests": 40, "blocked_requests_seen": 0, "sessions_at_start": 12,
            "active_jobs": null, "invalidated_sessions": null, "blocked_operations": []
        })
    );
    assert_eq!(
        p["muted"],
        serde_json::json!(["critical check_failed: app returned 503"])
    );
    let recent = json(&cli(
        &config,
        &["maintenance", "history", "--since", "1d", "--json"],
    ));
    assert_eq!(recent.as_array().unwrap().len(), 1, "{recent}");
    let human = ok(&cli(&config, &["maintenance", "history"]));
    // A table, a period per row, newest first: the open one, then #1 with its overrun and
    // its impact.
    assert!(human.starts_with("ID "), "{human}");
    assert!(
        human.lines().nth(1).unwrap().contains("  (open)  "),
        "{human}"
    );
    let row = human
        .lines()
        .find(|l| l.starts_with("#1 "))
        .unwrap_or_else(|| panic!("{human}"));
    assert!(row.contains("  1h        30m  "), "{human}");
    assert!(
        row.contains("  40 blocked requests, 12 sessions at start"),
        "{human}"
    );

    let report = json(&cli(&config, &["report", "--since", "7d", "--json"]));
    let periods = &report["periods"];
    assert_eq!(periods["count"], 2, "{report}");
    assert_eq!(periods["planned_seconds"], 3600.0);
    assert_eq!(periods["overrun_seconds"], 1800.0);
    assert_eq!(periods["longest"]["id"], 1);
    assert!(periods["unplanned_seconds"].as_f64().unwrap() >= 600.0);
    assert_eq!(
        report["impact"],
        serde_json::json!({"blocked_requests": 42, "sessions_at_start": 12,
                           "invalidated_sessions": 5, "active_jobs": 1})
    );
    let days = report["per_day"].as_array().unwrap().len();
    assert!((7..=8).contains(&days), "{days} days");
    assert!(!report["per_week"].as_array().unwrap().is_empty());
    assert!(!report["per_month"].as_array().unwrap().is_empty());
    let app = &report["availability"]["checks"][0];
    assert_eq!(app["check"], "app");
    // Observed all 7 days: ok, critical for the last 10 minutes.
    let observed = app["observed_seconds"].as_f64().unwrap();
    let up = app["up_seconds"].as_f64().unwrap();
    assert!(
        (7.0 * 86_400.0 - 60.0..=7.0 * 86_400.0).contains(&observed),
        "{app}"
    );
    assert!((observed - up - 600.0).abs() < 60.0, "{app}");
    assert_eq!(app["maintenance_seconds"], 0.0);
    // JSON numbers are rounded to 6 significant digits (issue 18): the ratio (5e-7) and the
    // seconds it is compared with (to whole seconds, 0.5 / 604800 = 8e-7) each by up to 1e-6.
    let close = |a: &Value, b: f64| (a.as_f64().unwrap() - b).abs() < 1e-5;
    assert!(close(&app["availability"], up / observed), "{app}");
    // The planned hour (app ok then) is left out of both.
    assert_eq!(
        app["observed_outside_planned_seconds"].as_f64(),
        Some(observed - 3600.0)
    );
    assert!(
        close(
            &app["availability_excluding_planned"],
            (up - 3600.0) / (observed - 3600.0)
        ),
        "{app}"
    );
    assert_eq!(
        report["availability"]["overall"]["up_seconds"],
        app["up_seconds"]
    );
    let human = ok(&cli(&config, &["report", "--since", "7d"]));
    for expected in [
        "Maintenance report ",
        "Periods: 2 started;",
        "User impact: 42 blocked requests",
        "ISO WEEK",
        "AVAILABILITY",
        "(all checks)",
    ] {
        assert!(human.contains(expected), "{expected:?} in\n{human}");
    }
}

#[test]
fn bad_input_exits_2_naming_the_field_and_records_nothing() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    for (args, expected) in [
        (
            &["maintenance", "start", "--for", "soon", "--reason", "x"][..],
            "lookout: --for: \"soon\" is not a duration; expected a number and a unit, like \"30m\"",
        ),
        (
            &["maintenance", "start", "--for", "0s", "--reason", "x"][..],
            "lookout: --for: \"0s\" is zero; expected a positive duration like \"30m\"",
        ),
        (
            &["maintenance", "start", "--for", "2d", "--reason", "x"][..],
            "lookout: --for: \"2d\" is longer than a day; expected at most \"24h\"",
        ),
        (
            &[
                "maintenance",
                "start",
                "--for",
                "30m",
                "--reason",
                "x",
                "--mode",
                "panic",
            ][..],
            "lookout: --mode: \"panic\" is not a mode; expected \"normal\", \"emergency\" or \"test\"",
        ),
        (
            &["maintenance", "start", "--for", "30m", "--reason", "  "][..],
            "lookout: --reason: empty; say why, like \"database upgrade\"",
        ),
        (
            &["maintenance", "extend", "later"][..],
            "lookout: by: \"later\" is not a duration",
        ),
        (
            &["maintenance", "history", "--since", "1x"][..],
            "invalid value '1x' for '--since <DURATION>': not a duration",
        ),
        (
            &["report", "--since", "a month"][..],
            "invalid value 'a month' for '--since <DURATION>': not a duration",
        ),
    ] {
        let out = cli(&config, args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(expected),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let status = json(&cli(&config, &["maintenance", "status", "--json"]));
    assert_eq!(status["windows"], serde_json::json!([]), "{status}");
}

#[test]
fn a_failing_control_step_records_nothing_and_configured_windows_show() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let config = config(
        dir.path(),
        &format!(
            "\n[[maintenance.control.start]]\ntype = \"http\"\nurl = \"http://127.0.0.1:{port}/admin/maintenance\"\nbody = '{{\"reason\": {{reason}}}}'\n\n[[maintenance.window]]\nname = \"christmas\"\nstart = \"2099-12-24T02:00:00Z\"\nduration = \"4h\"\nmode = \"emergency\"\n"
        ),
    );
    let out = cli(
        &config,
        &[
            "maintenance",
            "start",
            "--for",
            "30m",
            "--reason",
            "upgrade",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("nothing was recorded") && err.contains("connection refused"),
        "{err}"
    );
    let status = json(&cli(&config, &["maintenance", "status", "--json"]));
    assert_eq!(status["control"], true);
    // Only the configured window, its next occurrence.
    assert_eq!(
        status["windows"],
        serde_json::json!([{
            "id": null, "name": "christmas", "start": "2099-12-24T02:00:00.000Z",
            "end": "2099-12-24T06:00:00.000Z", "mode": "emergency",
            "reason": "planned window christmas", "origin": "planned", "author": "config",
            "active": false
        }]),
        "{status}"
    );
    assert_eq!(status["active"], false);
}

/// Answers one HTTP request with 200 and hands its text over.
fn one_request_server() -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sent, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buffer = [0u8; 4096];
        // Headers, then as many body bytes as Content-Length says.
        loop {
            let n = stream.read(&mut buffer).unwrap();
            request.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&request).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if request.len() >= end + 4 + length || n == 0 {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .unwrap();
        let _ = sent.send(String::from_utf8_lossy(&request).to_string());
    });
    (port, received)
}

#[test]
fn start_switches_the_app_through_its_control_steps_and_records_the_window() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let (port, requests) = one_request_server();
    let switched = dir.path().join("switched");
    let config = config(
        dir.path(),
        &format!(
            "\n[[maintenance.control.start]]\ntype = \"http\"\nurl = \"http://127.0.0.1:{port}/admin/maintenance\"\n\
             body = '{{\"enable\": true, \"reason\": {{reason}}, \"mode\": {{mode}}, \"minutes\": {{minutes}}}}'\n\
             \n[[maintenance.control.start]]\ntype = \"command\"\n\
             command = [\"sh\", \"-c\", \"printf '%s|%s|%s' \\\"$1\\\" \\\"$2\\\" \\\"$3\\\" > {}\", \"sh\", \"{{reason}}\", \"{{mode}}\", \"{{minutes}}\"]\n",
            switched.display()
        ),
    );
    let out = cli(
        &config,
        &[
            "maintenance",
            "start",
            "--for",
            "30m",
            "--reason",
            "kernel upgrade",
            "--mode",
            "emergency",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // The app was asked over HTTP, with the placeholders filled in as JSON values...
    let request = requests
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the app's maintenance endpoint was called");
    assert!(request.starts_with("POST /admin/maintenance "), "{request}");
    let body: Value = serde_json::from_str(request.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"enable": true, "reason": "kernel upgrade", "mode": "emergency", "minutes": 30})
    );
    // ...and by the command, with them as plain arguments.
    assert_eq!(
        std::fs::read_to_string(&switched).unwrap(),
        "kernel upgrade|emergency|30"
    );

    // And the window is recorded in the same step.
    let status = json(&cli(&config, &["maintenance", "status", "--json"]));
    assert_eq!(status["active"], true, "{status}");
    let window = &status["windows"][0];
    assert_eq!(
        (
            &window["reason"],
            &window["mode"],
            &window["origin"],
            &window["active"]
        ),
        (
            &Value::from("kernel upgrade"),
            &Value::from("emergency"),
            &Value::from("cli"),
            &Value::from(true)
        ),
        "{status}"
    );
}
