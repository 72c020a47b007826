//! Watching the watcher, end to end with the real binary: the dead-man heartbeat against an
//! in-test HTTP receiver (pings at the interval, the token sent but never logged, failures
//! counted, silence after a kill), a store that refuses writes (another process holds
//! SQLite's write lock: Lookout's writes fail after the busy timeout) raising `store_errors`
//! and turning the heartbeat to `fail_url`, and the connectivity gate (canaries and the app's
//! target switched off together: one alert reaches the webhook, none per check).
//! The Watchdog against a real Alertmanager is in `tests/it/alertmanager.rs`.

use crate::common::{self, alerting};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{Daemon, write_config};
use alerting::{HookReceiver, Switch, poll};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(30);
const HOOK_SECRET: &str = "hook-s3cret";

/// One request the ping receiver got.
#[derive(Debug, Clone)]
struct Ping {
    at: Instant,
    method: String,
    path: String,
    authorization: String,
    body: String,
}

/// An HTTP receiver recording every request; answers with the status set last.
struct PingReceiver {
    addr: SocketAddr,
    pings: Arc<Mutex<Vec<Ping>>>,
    status: Arc<AtomicU16>,
}

impl PingReceiver {
    fn start() -> PingReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let pings = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let (seen, answer) = (pings.clone(), status.clone());
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let at = Instant::now();
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&request).into_owned();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = header(head, "content-length")
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if body.len() >= length {
                            break;
                        }
                    }
                }
                let text = String::from_utf8_lossy(&request).into_owned();
                let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
                let mut first = head.lines().next().unwrap_or("").split_whitespace();
                seen.lock().unwrap().push(Ping {
                    at,
                    method: first.next().unwrap_or("").to_string(),
                    path: first.next().unwrap_or("").to_string(),
                    authorization: header(head, "authorization").unwrap_or_default(),
                    body: body.to_string(),
                });
                let status = answer.load(Ordering::SeqCst);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                );
            }
        });
        PingReceiver {
            addr,
            pings,
            status,
        }
    }

    fn pings(&self) -> Vec<Ping> {
        self.pings.lock().unwrap().clone()
    }

    fn on(&self, path: &str) -> Vec<Ping> {
        self.pings()
            .into_iter()
            .filter(|p| p.path == path)
            .collect()
    }
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_string())
    })
}

/// The value of the sample `line_start` (name and labels) in a /metrics text.
fn metric(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(line_start) && l[line_start.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Rules a busy CI machine could trip, off.
const QUIET_RULES: &str = "[[alerts.rule]]\nname = \"cpu_usage\"\nenabled = false\n\
    [[alerts.rule]]\nname = \"memory_usage\"\nenabled = false\n\
    [[alerts.rule]]\nname = \"disk_usage\"\nenabled = false\n\
    [[alerts.rule]]\nname = \"http_response_time\"\nenabled = false\n\
    [[alerts.rule]]\nname = \"collection_late\"\nenabled = false\n";

fn webhook(hook: &HookReceiver) -> String {
    format!(
        "[[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://{}/hook\"\n\
         secret = \"{HOOK_SECRET}\"\ntimeout = \"5s\"\n",
        hook.addr
    )
}

/// Every notice the webhook received: (rule, kind, check label, severity, summary).
fn notices(hook: &HookReceiver) -> Vec<(String, String, String, String, String)> {
    let mut out = Vec::new();
    for request in hook.received() {
        assert!(request.verified, "unsigned webhook request");
        let body: Value = serde_json::from_str(&request.body).unwrap();
        for notice in body["notices"].as_array().unwrap() {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            out.push((
                text(&notice["rule"]),
                text(&notice["kind"]),
                text(&notice["labels"]["check"]),
                text(&notice["severity"]),
                text(&notice["summary"]),
            ));
        }
    }
    out
}

#[test]
fn the_heartbeat_pings_at_its_interval_counts_failures_and_stops_when_lookout_is_killed() {
    let _machine = crate::common::machine::shared();
    let receiver = PingReceiver::start();
    receiver.status.store(500, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let token = common::secret("hb-t0ken-4f9c2");
    let extra = format!(
        "\n[heartbeat]\nurl = \"http://{}/ping/uuid-1\"\ninterval = \"1s\"\ntimeout = \"1s\"\n\
         bearer_token = \"${{HB_TOKEN}}\"\n",
        receiver.addr
    );
    let config = write_config(dir.path(), 0, &extra);
    let mut command = common::lookout();
    command
        .args(["serve", "--config"])
        .arg(&config)
        .env("HB_TOKEN", token)
        .env("RUST_LOG", "lookout=debug,info");
    let daemon = Daemon::spawn(command);

    // The service answers 500 at first: counted as errors, no last success.
    poll(LIMIT, "pings refused", || {
        (receiver.on("/ping/uuid-1").len() >= 2).then_some(())
    });
    let (_, text) = daemon.get("/metrics");
    assert!(
        metric(&text, "lookout_heartbeat_sent_total{result=\"error\"}").unwrap() >= 1.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "lookout_heartbeat_last_success_timestamp_seconds"),
        Some(0.0)
    );

    receiver.status.store(200, Ordering::SeqCst);
    let accepted_from = receiver.pings().len();
    poll(LIMIT, "five accepted pings", || {
        (receiver.pings().len() >= accepted_from + 5).then_some(())
    });
    let pings = receiver.pings();
    for ping in &pings {
        assert_eq!(
            (ping.method.as_str(), ping.path.as_str()),
            ("GET", "/ping/uuid-1")
        );
        assert_eq!(ping.authorization, format!("Bearer {token}"));
    }
    // One a second: the gaps between them stay near the interval.
    let gaps: Vec<Duration> = pings.windows(2).map(|w| w[1].at - w[0].at).collect();
    for gap in &gaps {
        assert!(
            *gap > Duration::from_millis(600) && *gap < Duration::from_millis(1600),
            "gaps {gaps:?}"
        );
    }
    let text = poll(LIMIT, "ok pings counted", || {
        let (_, text) = daemon.get("/metrics");
        (metric(&text, "lookout_heartbeat_sent_total{result=\"ok\"}")? >= 3.0).then_some(text)
    });
    let last = metric(&text, "lookout_heartbeat_last_success_timestamp_seconds").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - last).abs() < 5.0, "last success {last}, now {now}");

    // Killed (no goodbye): the pings stop, which is what the service notices.
    let mut daemon = daemon;
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let at_kill = receiver.pings().len();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(receiver.pings().len(), at_kill, "no ping after the kill");
    let log = daemon.log();
    assert!(
        log.contains("heartbeat"),
        "the debug log speaks of the heartbeat"
    );
    assert!(!log.contains(token), "the token is never logged:\n{log}");
    assert!(
        !log.contains("uuid-1"),
        "the ping URL path is never logged:\n{log}"
    );
}

/// Another process holding SQLite's write lock on `db` for `seconds` (python3's sqlite3):
/// Lookout's writes wait the busy timeout, then fail. Returns once the lock is held.
fn lock_store(db: &std::path::Path, seconds: f64) -> Child {
    let script = "import sqlite3, sys, time\n\
        c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n\
        c.execute('BEGIN IMMEDIATE')\n\
        print('locked', flush=True)\n\
        time.sleep(float(sys.argv[2]))\n\
        c.execute('ROLLBACK')\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .arg(db)
        .arg(seconds.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    child
}

#[test]
fn a_store_that_refuses_writes_raises_store_errors_and_turns_the_heartbeat_to_fail_url() {
    let _machine = crate::common::machine::shared();
    let receiver = PingReceiver::start();
    let hook = HookReceiver::start(HOOK_SECRET);
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "\n[heartbeat]\nurl = \"http://{addr}/ping\"\nfail_url = \"http://{addr}/ping/fail\"\n\
         interval = \"1s\"\ntimeout = \"1s\"\nmethod = \"POST\"\nbody = \"alive\"\n\n\
         [alerts]\nhost = \"web-test\"\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\n{QUIET_RULES}\n{}",
        webhook(&hook),
        addr = receiver.addr,
    );
    let config = write_config(dir.path(), 0, &extra);
    let daemon = Daemon::start(&config);
    poll(LIMIT, "healthy pings", || {
        (receiver.on("/ping").len() >= 2).then_some(())
    });
    assert_eq!(receiver.on("/ping")[0].body, "alive");
    assert!(receiver.on("/ping/fail").is_empty());

    // 14 s of a store that takes no write (flushes every second; each waits 5 s, then fails).
    let mut lock = lock_store(&dir.path().join("data/lookout.db"), 14.0);
    let fail = poll(LIMIT, "a fail ping", || {
        receiver.on("/ping/fail").first().cloned()
    });
    assert_eq!(fail.method, "POST");
    assert!(
        fail.body
            .starts_with("lookout: the store has taken no write for"),
        "{}",
        fail.body
    );
    lock.wait().unwrap();

    // The alert about it is decided while the store refuses it; it is kept and committed,
    // then sent, once the store takes writes again.
    let (rule, kind, _, severity, summary) = poll(LIMIT, "the store_errors alert", || {
        notices(&hook)
            .into_iter()
            .find(|n| n.0 == "store_errors" && n.1 == "firing")
    });
    assert_eq!((rule.as_str(), kind.as_str()), ("store_errors", "firing"));
    assert!(
        severity == "warning" || severity == "critical",
        "{severity}"
    );
    assert!(
        summary.contains("store write errors in the last minute on web-test"),
        "{summary}"
    );
    let status = daemon.json("/api/v1/status");
    let own = status["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "lookout:self")
        .cloned()
        .unwrap_or_else(|| panic!("no lookout:self check: {status}"));
    assert!(
        own["detail"]
            .as_str()
            .unwrap()
            .contains("store error(s) in the last minute"),
        "{own}"
    );
    // Healthy again: the pings go back to url.
    let fails = receiver.on("/ping/fail").len();
    let pings = receiver.on("/ping").len();
    poll(LIMIT, "healthy pings again", || {
        (receiver.on("/ping").len() >= pings + 2).then_some(())
    });
    let (_, text) = daemon.get("/metrics");
    assert!(
        metric(&text, "lookout_heartbeat_sent_total{result=\"fail\"}").unwrap() >= fails as f64
    );
    assert!(metric(&text, "lookout_store_errors_total").unwrap() >= 1.0);
    let (code, log) = daemon.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn when_the_canaries_and_the_app_go_dark_together_one_connectivity_alert_goes_out() {
    let _machine = crate::common::machine::shared();
    let (gateway, resolver, app) = (Switch::start(), Switch::start(), Switch::start());
    let hook = HookReceiver::start(HOOK_SECRET);
    let dir = tempfile::tempdir().unwrap();
    let check = |name: &str, kind: &str, target: String| {
        format!(
            "\n[[check]]\nname = \"{name}\"\ntype = \"{kind}\"\n{target}\ninterval = \"1s\"\n\
             timeout = \"1s\"\nretries = 0\n"
        )
    };
    let grace = 4;
    let extra = format!(
        "{}{}{}\n[alerts]\nhost = \"web-test\"\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\n\n\
         [alerts.connectivity]\ncanaries = [\"gateway\", \"resolver\"]\ngrace = \"{grace}s\"\n\n{QUIET_RULES}\n{}",
        check("gateway", "tcp", format!("address = \"{}\"", gateway.addr)),
        check(
            "resolver",
            "tcp",
            format!("address = \"{}\"", resolver.addr)
        ),
        check(
            "app",
            "http",
            format!("url = \"http://{}/health\"", app.addr)
        ),
        webhook(&hook),
    );
    let config = write_config(dir.path(), 0, &extra);
    let daemon = Daemon::start(&config);
    let statuses = |daemon: &Daemon| -> Vec<(String, String)> {
        let status = daemon.json("/api/v1/status");
        let mut checks: Vec<(String, String)> = status["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| ["gateway", "resolver", "app"].contains(&c["check"].as_str().unwrap_or("")))
            .map(|c| {
                (
                    c["check"].as_str().unwrap().to_string(),
                    c["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        checks.sort();
        checks
    };
    let all = |status: &str| -> Vec<(String, String)> {
        ["app", "gateway", "resolver"]
            .iter()
            .map(|c| (c.to_string(), status.to_string()))
            .collect()
    };
    poll(LIMIT, "every check ok", || {
        (statuses(&daemon) == all("ok")).then_some(())
    });

    // The network goes: the canaries' targets and the app's, together.
    for switch in [&gateway, &resolver, &app] {
        switch.set(false);
    }
    poll(LIMIT, "the connectivity alert", || {
        notices(&hook)
            .iter()
            .any(|n| n.0 == "connectivity_lost")
            .then_some(())
    });
    poll(LIMIT, "every check critical", || {
        (statuses(&daemon) == all("critical")).then_some(())
    });
    // Every check kept failing for a few more runs: still nothing else was sent.
    std::thread::sleep(Duration::from_secs(4));
    let received = notices(&hook);
    assert_eq!(
        received.len(),
        1,
        "one alert, not one per check: {received:#?}"
    );
    let (rule, kind, check, severity, summary) = &received[0];
    assert_eq!(
        (
            rule.as_str(),
            kind.as_str(),
            check.as_str(),
            severity.as_str()
        ),
        (
            "connectivity_lost",
            "firing",
            "lookout:connectivity",
            "critical"
        )
    );
    assert!(
        summary.starts_with("Monitoring connectivity lost: every canary fails: gateway ("),
        "{summary}"
    );
    // The held alerts are listed, with why they were not sent.
    let alerts = daemon.json("/api/v1/alerts");
    let held: Vec<String> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["muted_by"] == "held: monitoring connectivity lost")
        .map(|a| a["labels"]["check"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(held.len(), 3, "{alerts}");

    // Back: "restored", and the checks recover within the grace, so nothing else.
    for switch in [&gateway, &resolver, &app] {
        switch.set(true);
    }
    poll(LIMIT, "connectivity restored", || {
        notices(&hook)
            .iter()
            .any(|n| n.0 == "connectivity_lost" && n.1 == "resolved")
            .then_some(())
    });
    let restored = notices(&hook)[1].4.clone();
    assert!(
        restored.starts_with("Monitoring connectivity restored:"),
        "{restored}"
    );
    std::thread::sleep(Duration::from_secs(grace + 3));
    let received = notices(&hook);
    assert_eq!(
        received
            .iter()
            .map(|n| (n.0.as_str(), n.1.as_str()))
            .collect::<Vec<_>>(),
        [
            ("connectivity_lost", "firing"),
            ("connectivity_lost", "resolved")
        ],
        "{received:#?}"
    );
    assert_eq!(statuses(&daemon), all("ok"));

    // Again, but the app stays down when the network returns: after the grace, it alone is
    // told.
    for switch in [&gateway, &resolver, &app] {
        switch.set(false);
    }
    poll(LIMIT, "lost again", || {
        (notices(&hook)
            .iter()
            .filter(|n| n.0 == "connectivity_lost")
            .count()
            == 3)
            .then_some(())
    });
    gateway.set(true);
    resolver.set(true);
    // The network is back from here (the "restored" notice itself waits `resolve_wait`, and
    // may go out together with the app's alert).
    let back = Instant::now();
    poll(LIMIT, "restored again", || {
        (notices(&hook)
            .iter()
            .filter(|n| n.0 == "connectivity_lost")
            .count()
            == 4)
            .then_some(())
    });
    let told = poll(LIMIT, "the app's alert after the grace", || {
        notices(&hook)
            .into_iter()
            .find(|n| n.0 == "check_failed")
            .map(|n| (n, Instant::now()))
    });
    assert_eq!(
        (told.0.1.as_str(), told.0.2.as_str()),
        ("firing", "app"),
        "{:#?}",
        notices(&hook)
    );
    assert!(
        told.1 - back >= Duration::from_secs(grace - 1),
        "told {:?} after the restore, grace {grace}s",
        told.1 - back
    );
    std::thread::sleep(Duration::from_secs(2));
    let per_check: Vec<_> = notices(&hook)
        .into_iter()
        .filter(|n| n.0 == "check_failed")
        .collect();
    assert_eq!(
        per_check.len(),
        1,
        "only the app, which still fails: {per_check:#?}"
    );
    let (code, log) = daemon.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0), "{log}");
}
