//! Maintenance mode end to end: the real `lookout serve` watching an in-test imitation of a
//! Vedfolnir-like app (an admin-only maintenance status endpoint and 503 +
//! X-Maintenance-Active answers, toggled by the test), with sessions in the real Redis and
//! mails to a real SMTP server (aiosmtpd). Detection, recorded periods, muting of what
//! maintenance causes (and only that), the grace after, the start / end / unplanned / overrun
//! mails, and a planned window that opens and closes by itself.

use crate::common::{self, alerting};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::Daemon;
use alerting::{SmtpServer, alerts_config, closed_port, http_check, poll, subject};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "app-admin-token-5d1c";

/// What the imitation app is doing; the test changes it.
#[derive(Clone, Debug, Default)]
struct AppState {
    maintenance: bool,
    mode: String,
    reason: String,
    /// Blocked requests get 503 + X-Maintenance-Active (else the app is just broken: 500).
    answers_maintenance: bool,
    broken: bool,
    status_polls: usize,
}

struct App {
    addr: SocketAddr,
    state: Arc<Mutex<AppState>>,
}

impl App {
    fn start() -> App {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(AppState {
            mode: "normal".into(),
            ..AppState::default()
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        App { addr, state }
    }

    fn set(&self, change: impl FnOnce(&mut AppState)) {
        change(&mut self.state.lock().unwrap());
    }

    fn polls(&self) -> usize {
        self.state.lock().unwrap().status_polls
    }
}

fn serve(mut stream: TcpStream, state: &Mutex<AppState>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Some(head) = common::read_request_head(&mut stream) else {
        return;
    };
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let authorized = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case(&format!("authorization: Bearer {TOKEN}")));
    let mut s = state.lock().unwrap();
    let (status, headers, body) = if path == "/admin/api/maintenance/status" {
        if !authorized {
            (
                401,
                String::new(),
                json!({"error": "admin only"}).to_string(),
            )
        } else {
            s.status_polls += 1;
            let body = json!({"success": true, "data": {
                "is_active": s.maintenance, "mode": s.mode, "reason": s.reason,
                "blocked_operations": if s.maintenance { json!(["caption_generation", "job_creation"]) } else { json!([]) },
                "active_jobs_count": if s.maintenance { 3 } else { 0 },
                "invalidated_sessions": if s.maintenance && s.mode == "emergency" { 5 } else { 0 },
                "test_mode": s.mode == "test"
            }});
            (200, String::new(), body.to_string())
        }
    } else if s.maintenance && s.answers_maintenance {
        (
            503,
            format!(
                "X-Maintenance-Active: true\r\nX-Maintenance-Mode: {}\r\nRetry-After: 600\r\n",
                s.mode
            ),
            json!({"error": "maintenance"}).to_string(),
        )
    } else if s.broken {
        (500, String::new(), "broken".to_string())
    } else {
        (200, String::new(), json!({"status": "healthy"}).to_string())
    };
    drop(s);
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Sessions in a key space of this test's own in the real Redis; removed on drop.
struct Sessions {
    prefix: String,
}

impl Sessions {
    fn create(test: &str, count: usize) -> Sessions {
        let prefix = format!("lookouttest{}{test}", std::process::id());
        for i in 0..count {
            redis_command(&format!("SET {prefix}:session:{i} x EX 600"));
        }
        Sessions { prefix }
    }

    fn pattern(&self) -> String {
        format!("{}:session:*", self.prefix)
    }
}

impl Drop for Sessions {
    fn drop(&mut self) {
        for i in 0..10 {
            redis_command(&format!("DEL {}:session:{i}", self.prefix));
        }
    }
}

fn redis_command(command: &str) {
    let mut stream = TcpStream::connect("127.0.0.1:6379")
        .expect("Redis must run on 127.0.0.1:6379 (.ci/run starts it)");
    let parts: Vec<&str> = command.split(' ').collect();
    let mut wire = format!("*{}\r\n", parts.len());
    for part in parts {
        wire += &format!("${}\r\n{part}\r\n", part.len());
    }
    stream.write_all(wire.as_bytes()).unwrap();
    let mut reply = [0u8; 64];
    let _ = stream.read(&mut reply).unwrap();
}

fn config(app: &App, smtp_port: u16, sessions: &Sessions, maintenance: &str) -> String {
    alerts_config(smtp_port, "")
        // The app does not use the unreachable Redis below: no dependency implied by layers.
        + &http_check("app", &format!("http://{}/health", app.addr), "depends_on = []")
        // A Redis Lookout cannot reach: its failures are not maintenance's doing.
        + &format!(
            "\n[[check]]\nname = \"cache\"\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{}\"\ninterval = \"1s\"\ntimeout = \"1s\"\nretries = 0\n",
            closed_port()
        )
        + &format!(
            "\n[[check]]\nname = \"sessions\"\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\ninterval = \"1s\"\nsession_pattern = \"{}\"\n",
            sessions.pattern()
        )
        + maintenance
}

fn start(dir: &Path, extra: &str) -> Daemon {
    let config = common::write_config(dir, 0, extra);
    Daemon::start(&config)
}

fn maintenance(daemon: &Daemon) -> Value {
    daemon.json("/api/v1/maintenance")
}

fn alert(daemon: &Daemon, check: &str) -> Option<Value> {
    daemon.json("/api/v1/alerts")["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "check_failed" && a["labels"]["check"] == check)
        .cloned()
}

fn mail_with(smtp: &SmtpServer, words: &str) -> Value {
    poll(LIMIT, &format!("a mail with {words:?}"), || {
        smtp.received()
            .into_iter()
            .find(|m| subject(m).contains(words))
    })
}

fn body(mail: &Value) -> String {
    mail["text"].as_str().unwrap_or_default().to_string()
}

#[test]
fn the_apps_own_maintenance_is_detected_recorded_muted_and_told() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), &[]);
    let app = App::start();
    let sessions = Sessions::create("detected", 5);
    // A database port the test closes during maintenance: not maintenance's doing.
    let database = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let source = format!(
        "\n[[check]]\nname = \"orders-db\"\ntype = \"tcp\"\naddress = \"{}\"\nlayer = \"database\"\n\
         interval = \"1s\"\ntimeout = \"1s\"\nretries = 0\n\
         \n[maintenance]\ngrace = \"4s\"\n\n[maintenance.source]\ntype = \"http\"\n\
         url = \"http://{}/admin/api/maintenance/status\"\n\
         headers = {{ Authorization = \"Bearer {TOKEN}\" }}\ninterval = \"1s\"\ntimeout = \"1s\"\n",
        database.local_addr().unwrap(),
        app.addr
    );
    let daemon = start(dir.path(), &config(&app, smtp.port, &sessions, &source));

    // The unreachable Redis is told: it has nothing to do with maintenance.
    mail_with(&smtp, "cache");
    poll(LIMIT, "the source polled", || {
        (app.polls() >= 2).then_some(())
    });
    assert_eq!(maintenance(&daemon)["active"], false);

    // The app goes into maintenance on its own (no window planned).
    let polls_before = app.polls();
    let went_in = Instant::now();
    app.set(|s| {
        s.maintenance = true;
        s.reason = "DB migration".into();
    });
    let open = poll(LIMIT, "maintenance detected", || {
        let m = maintenance(&daemon);
        (m["active"] == true).then(|| m["open"].clone())
    });
    let detected_after = went_in.elapsed();
    assert!(
        app.polls() - polls_before <= 2,
        "detected within one poll interval (+ the poll in flight): {} polls, {detected_after:?}",
        app.polls() - polls_before
    );
    assert_eq!(open["mode"], "normal", "{open}");
    assert_eq!(open["reason"], "DB migration", "{open}");
    assert_eq!(open["origin"], "detected", "{open}");
    assert_eq!(open["planned"], false, "{open}");
    assert_eq!(open["impact"]["sessions_at_start"], 5, "{open}");

    let unplanned = mail_with(&smtp, "Unplanned maintenance");
    assert!(subject(&unplanned).contains("[WARNING]"), "{unplanned}");
    assert!(body(&unplanned).contains("DB migration"), "{unplanned}");

    // The app breaks during maintenance: recorded, muted, not mailed.
    app.set(|s| s.broken = true);
    let muted = poll(LIMIT, "the app's failure recorded as muted", || {
        alert(&daemon, "app").filter(|a| a["state"] == "firing")
    });
    assert!(
        muted["muted_by"]
            .as_str()
            .unwrap()
            .starts_with("maintenance (normal mode: DB migration"),
        "{muted}"
    );
    // Its check shows maintenance, with what it found.
    let status = daemon.json("/api/v1/status");
    let app_check = status["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "app")
        .unwrap()
        .clone();
    assert_eq!(app_check["status"], "maintenance", "{app_check}");

    // The database fails during maintenance: unaffected, so it is told at once.
    drop(database);
    let database_mail = mail_with(&smtp, "orders-db");
    assert!(
        subject(&database_mail).contains("[CRITICAL]"),
        "{database_mail}"
    );
    assert_eq!(
        maintenance(&daemon)["active"],
        true,
        "told while maintenance is still on"
    );

    // Maintenance ends; the app is still broken for a while: the grace keeps it quiet.
    app.set(|s| s.maintenance = false);
    let ended = mail_with(&smtp, "Maintenance ended");
    assert!(subject(&ended).contains("[RESOLVED]"), "{ended}");
    let text = body(&ended);
    for words in [
        "Reason: DB migration",
        "Overrun: none",
        "Active sessions at start: 5",
        "Running jobs: 3",
        "Blocked operations: caption_generation, job_creation",
        "Alerts muted by this maintenance (1):",
        // What was muted: the app's firing (issue 16, finding 8).
        "  - critical check_failed: app is critical",
    ] {
        assert!(
            text.contains(words),
            "{words:?} missing from the end mail: {text}"
        );
    }
    let ended_at = Instant::now();
    poll(LIMIT, "the app's alert muted by the grace", || {
        alert(&daemon, "app").filter(|a| {
            a["muted_by"]
                .as_str()
                .unwrap()
                .starts_with("maintenance ended at")
        })
    });
    assert!(
        !smtp
            .received()
            .iter()
            .any(|m| subject(m).contains("[CRITICAL]") && subject(m).contains("app")),
        "nothing about the app was mailed during maintenance and grace"
    );
    // After the grace, the failure that outlived maintenance is told.
    let told = mail_with(&smtp, "app");
    assert!(subject(&told).contains("[CRITICAL]"), "{told}");
    assert!(
        ended_at.elapsed() >= Duration::from_secs(3),
        "told only after the 4 s grace"
    );

    // The period is recorded with its fields.
    let history = maintenance(&daemon)["history"].as_array().unwrap().clone();
    assert_eq!(history.len(), 1, "{history:?}");
    let period = &history[0];
    assert!(period["end_ms"].as_i64().unwrap() > period["start_ms"].as_i64().unwrap());
    assert_eq!(period["muted"].as_array().unwrap().len(), 1, "{period}");
    assert_eq!(period["origin"], "detected");
    app.set(|s| s.broken = false);
}

#[test]
fn a_cli_window_overruns_while_the_app_answers_maintenance() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), &[]);
    let app = App::start();
    let sessions = Sessions::create("cli", 5);
    let settings = "\n[maintenance]\ngrace = \"1s\"\noverrun_tolerance = \"2s\"\n";
    let daemon = start(dir.path(), &config(&app, smtp.port, &sessions, settings));
    let config_path = dir.path().join("lookout.toml");
    poll(LIMIT, "the app check ran", || {
        daemon.json("/api/v1/status")["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["check"] == "app" && c["status"] == "ok")
            .then_some(())
    });

    let out = common::output(
        common::lookout()
            .args(["--config"])
            .arg(&config_path)
            .args([
                "maintenance",
                "start",
                "--for",
                "3s",
                "--reason",
                "kernel upgrade",
                "--mode",
                "emergency",
            ]),
    );
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    app.set(|s| {
        s.maintenance = true;
        s.mode = "emergency".into();
        s.answers_maintenance = true;
    });

    let started = mail_with(&smtp, "Maintenance started");
    assert!(
        subject(&started).contains("[CRITICAL]"),
        "emergency is critical: {started}"
    );
    assert!(body(&started).contains("Known from: cli"), "{started}");
    let open = maintenance(&daemon)["open"].clone();
    assert_eq!(open["planned"], true, "{open}");
    assert_eq!(open["mode"], "emergency", "{open}");

    // The 3 s window is over but the app still answers "in maintenance": overrun after 2 s more.
    let overrun = mail_with(&smtp, "Maintenance overrun");
    assert!(body(&overrun).contains("Running over by"), "{overrun}");
    assert_eq!(maintenance(&daemon)["active"], true);

    app.set(|s| {
        s.maintenance = false;
        s.answers_maintenance = false;
    });
    let ended = mail_with(&smtp, "Maintenance ended");
    let text = body(&ended);
    assert!(text.contains("past the planned end"), "{text}");
    assert!(
        text.contains("Reason: kernel upgrade"),
        "the window's reason outlives it: {text}"
    );
    let blocked: u64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Blocked requests: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no blocked requests in {text}"));
    assert!(
        blocked >= 2,
        "the 503 answers the app check got are counted: {text}"
    );
    assert!(
        !smtp
            .received()
            .iter()
            .any(|m| subject(m).contains("check_failed")),
        "a 503 maintenance answer is not a failure"
    );
}

#[test]
fn a_planned_window_of_the_config_opens_and_closes_by_itself() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), &[]);
    let app = App::start();
    let sessions = Sessions::create("window", 1);
    let start_at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(4);
    let window = format!(
        "\n[[maintenance.window]]\nname = \"release\"\nstart = \"{}\"\nduration = \"3s\"\nmode = \"test\"\nreason = \"release 2.1\"\n",
        start_at.round(jiff::Unit::Second).unwrap()
    );
    let daemon = start(dir.path(), &config(&app, smtp.port, &sessions, &window));
    assert_eq!(maintenance(&daemon)["active"], false);
    let started = mail_with(&smtp, "Maintenance started");
    assert!(
        subject(&started).contains("[INFO]"),
        "test mode is info: {started}"
    );
    assert!(body(&started).contains("release 2.1"), "{started}");
    let open = maintenance(&daemon)["open"].clone();
    assert_eq!(open["origin"], "planned", "{open}");
    mail_with(&smtp, "Maintenance ended");
    assert_eq!(maintenance(&daemon)["active"], false);
}
