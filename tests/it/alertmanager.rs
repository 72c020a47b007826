//! The Alertmanager notifier against the real Prometheus Alertmanager (Debian package
//! `prometheus-alertmanager`, /usr/bin/prometheus-alertmanager) on a free loopback port with a
//! null receiver and clustering off: what `GET /api/v2/alerts` shows while a check fails, that
//! re-posting keeps the alert alive past Alertmanager's resolve_timeout, that the recovery
//! resolves it, and how a cluster member that is down or refuses comes out. Alertmanager must
//! be installed: without it these tests fail, they do not pass silently.

use crate::common::{self, alerting};

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::common::prometheus::Server;
use crate::common::{Daemon, http_get};
use alerting::{FlipServer, closed_port, http_check, poll};
use lookout::alert::Severity;
use lookout::config::from_str;
use lookout::model::{AlertNotice, Category, NoticeKind};
use lookout::notifiers::{GroupMessage, Notifier};
use lookout::notify::build_notifiers;
use serde_json::Value;

const BINARY: &str = "/usr/bin/prometheus-alertmanager";
const LIMIT: Duration = Duration::from_secs(30);

/// A real Alertmanager, killed on drop.
struct Alertmanager {
    _server: Server,
    addr: SocketAddr,
}

impl Alertmanager {
    /// Started with `resolve_timeout` (Alertmanager's syntax, e.g. "8s"); waits until ready.
    fn start(resolve_timeout: &str) -> Alertmanager {
        assert!(
            Path::new(BINARY).exists(),
            "{BINARY} is needed for these tests (apt install prometheus-alertmanager)"
        );
        // A free port, another if that one was taken before Alertmanager bound it.
        common::with_free_port("alertmanager", |port| {
            let dir = tempfile::tempdir().unwrap();
            let config = dir.path().join("alertmanager.yml");
            std::fs::write(
                &config,
                format!(
                    "global:\n  resolve_timeout: {resolve_timeout}\nroute:\n  receiver: 'null'\n  \
                     group_wait: 1s\nreceivers:\n  - name: 'null'\n"
                ),
            )
            .unwrap();
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let storage = dir.path().join("data");
            let mut command = Command::new(BINARY);
            command
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.path={}", storage.display()))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--cluster.listen-address=")
                // Times in the API in UTC ("…Z"), as humantime parses them.
                .env("TZ", "UTC");
            let server = Server::start("alertmanager", command, addr, dir, false)?;
            Ok(Alertmanager {
                _server: server,
                addr,
            })
        })
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `GET /api/v2/alerts`: the alerts it holds that are not resolved.
    fn alerts(&self) -> Vec<Value> {
        let (status, body) = http_get(self.addr, "/api/v2/alerts").expect("alertmanager answers");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// The unresolved alert whose labels include every pair of `labels`.
    fn alert(&self, labels: &[(&str, &str)]) -> Option<Value> {
        self.alerts()
            .into_iter()
            .find(|a| labels.iter().all(|(k, v)| a["labels"][k] == *v))
    }
}

fn time(value: &Value) -> SystemTime {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"));
    humantime::parse_rfc3339_weak(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The daemon's config: one http check, fast grouping, the resource rules off (a busy CI
/// machine must not add alerts), an Alertmanager notifier re-posting every second.
fn daemon_config(am: &Alertmanager, app: &FlipServer) -> String {
    format!(
        "\n[alerts]\ndashboard_url = \"http://dash.example.org/lookout/\"\nhost = \"web-test\"\n\
         group_wait = \"1s\"\ngroup_interval = \"1s\"\n\
         [[alerts.rule]]\nname = \"cpu_usage\"\nenabled = false\n\
         [[alerts.rule]]\nname = \"memory_usage\"\nenabled = false\n\
         [[alerts.rule]]\nname = \"disk_usage\"\nenabled = false\n\
         [[alerts.rule]]\nname = \"http_response_time\"\nenabled = false\n\
         [[alerts.rule]]\nname = \"check_failed\"\nrunbook_url = \"https://wiki.example.org/app\"\n\n\
         [[notifier]]\nname = \"am\"\ntype = \"alertmanager\"\nurls = [\"{}\"]\n\
         timeout = \"5s\"\nresend_interval = \"1s\"\n{}",
        am.url(),
        http_check("app", &app.url(), "")
    )
}

#[test]
fn a_failing_check_is_an_alert_in_alertmanager_kept_alive_while_firing_and_resolved_with_it() {
    let _machine = crate::common::machine::shared();
    // Alertmanager forgets an alert not posted again within 8 s.
    let am = Alertmanager::start("8s");
    let app = FlipServer::start(200);
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), 0, &daemon_config(&am, &app));
    let daemon = Daemon::start(&config);

    app.set(500);
    let ours = [("alertname", "check_failed"), ("check", "app")];
    let alert = poll(LIMIT, "the alert in alertmanager", || am.alert(&ours));
    let labels: BTreeMap<String, String> = serde_json::from_value(alert["labels"].clone()).unwrap();
    assert_eq!(
        labels,
        BTreeMap::from(
            [
                ("alertname", "check_failed"),
                ("severity", "critical"),
                ("host", "web-test"),
                ("check", "app"),
                ("layer", "application"),
                ("type", "http"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        ),
        "{alert}"
    );
    let annotations = &alert["annotations"];
    assert!(
        annotations["summary"].as_str().unwrap().contains("app"),
        "{alert}"
    );
    assert!(
        annotations["description"]
            .as_str()
            .unwrap()
            .contains("Health check app"),
        "{alert}"
    );
    assert_eq!(annotations["value"], "critical", "{alert}");
    assert_eq!(annotations["runbook_url"], "https://wiki.example.org/app");
    assert_eq!(
        alert["generatorURL"],
        "http://dash.example.org/lookout/alerts"
    );
    assert_eq!(alert["status"]["state"], "active", "{alert}");
    let started = time(&alert["startsAt"]);
    let since = daemon.json("/api/v1/alerts")["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "check_failed")
        .map(|a| a["since"].clone())
        .unwrap_or_else(|| panic!("lookout lists the alert"));
    assert_eq!(
        started,
        time(&since),
        "startsAt is when Lookout saw it start"
    );

    // Past resolve_timeout twice over, it is still there, refreshed by the re-posts.
    let mut updates = BTreeSet::new();
    let mut last_ends = SystemTime::UNIX_EPOCH;
    let watch_until = Instant::now() + Duration::from_secs(17);
    while Instant::now() < watch_until {
        let alert = am
            .alert(&ours)
            .unwrap_or_else(|| panic!("the alert expired while firing:\n{}", daemon.log()));
        assert_eq!(alert["status"]["state"], "active", "{alert}");
        assert_eq!(time(&alert["startsAt"]), started, "one alert all along");
        updates.insert(alert["updatedAt"].as_str().unwrap().to_string());
        last_ends = time(&alert["endsAt"]);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        updates.len() >= 8,
        "re-posted about every second: {updates:?}"
    );

    // The recovery resolves it: gone from the active alerts well before it would have
    // expired on its own (its endsAt as last seen: the last re-post + 8 s).
    app.set(200);
    let resolved_at = poll(LIMIT, "the alert resolved in alertmanager", || {
        let mut expires = last_ends;
        match am.alert(&ours) {
            Some(alert) => {
                expires = time(&alert["endsAt"]);
                last_ends = expires;
                None
            }
            None => Some((SystemTime::now(), expires)),
        }
    });
    assert!(
        resolved_at.0 + Duration::from_secs(2) < resolved_at.1,
        "resolved by Lookout's notice, not by resolve_timeout"
    );
    assert!(am.alerts().is_empty(), "{:?}", am.alerts());

    let (_, metrics) = daemon.get("/metrics");
    let resent = metrics
        .lines()
        .find(|l| l.starts_with("lookout_notifications_total{notifier=\"am\",result=\"resent\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no resent count in /metrics:\n{metrics}"));
    assert!(resent >= 8, "{resent}");
    let (code, log) = daemon.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0), "{log}");
}

/// What an in-test member answering `status` got, and its answer: the request head, echoed
/// back in the body (a member that echoes must not leak credentials into Lookout's errors).
struct Echo {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Echo {
    fn start(status: u16) -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                // Head, then the body by Content-Length.
                while let Ok(n) = stream.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&request).into_owned();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if body.len() >= length {
                            break;
                        }
                    }
                }
                let text = String::from_utf8_lossy(&request).into_owned();
                let head = text
                    .split("\r\n\r\n")
                    .next()
                    .unwrap_or("")
                    .replace("\r\n", " | ");
                seen.lock().unwrap().push(text);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
                    head.len()
                );
            }
        });
        Echo { addr, requests }
    }
}

fn notifier(urls: &[String], extra: &str) -> Arc<dyn Notifier> {
    let env = |name: &str| (name == "AM_PASSWORD").then(|| "pa55-word".to_string());
    let list: Vec<String> = urls.iter().map(|u| format!("{u:?}")).collect();
    let text = format!(
        "[[notifier]]\nname = \"am\"\ntype = \"alertmanager\"\nurls = [{}]\ntimeout = \"3s\"\n{extra}",
        list.join(", ")
    );
    let config = from_str(&text, "test.toml", &env).unwrap_or_else(|e| panic!("{e}"));
    build_notifiers(&config.notifiers).remove(0)
}

fn notice(kind: NoticeKind, severity: Severity, previous: Option<Severity>) -> AlertNotice {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    AlertNotice {
        alert_id: "disk_usage|mountpoint=/data".to_string(),
        rule: "disk_usage".to_string(),
        kind,
        severity,
        previous_severity: previous,
        category: Category::Resource,
        labels: BTreeMap::from(
            [
                ("alertname", "disk_usage"),
                ("severity", severity.as_str()),
                ("host", "web1"),
                ("mountpoint", "/data"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        ),
        summary: "Disk /data 96.0% full on web1".to_string(),
        description: "Filesystem /data is 96.0% used.".to_string(),
        value: "96.0%".to_string(),
        threshold: "95%".to_string(),
        since_ms: now - 60_000,
        at_ms: now,
        runbook_url: None,
        explains: Vec::new(),
        resolved_while_muted: None,
    }
}

fn message(notices: Vec<AlertNotice>) -> GroupMessage {
    GroupMessage {
        idempotency_key: "k".to_string(),
        group_key: "host=web1".to_string(),
        group_labels: BTreeMap::new(),
        notices,
        dashboard_url: None,
        created_ms: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_gets_every_alert_and_one_failing_member_fails_the_message() {
    let _machine = crate::common::machine::shared();
    let am = tokio::task::spawn_blocking(|| Alertmanager::start("5m"))
        .await
        .unwrap();
    let alerts = |am: &Alertmanager| am.alerts();
    let refused = format!("http://127.0.0.1:{}", closed_port());
    let rejecting = Echo::start(400);
    let accepting = Echo::start(200);
    let rejecting_url = format!("http://{}/prefix/", rejecting.addr);
    let accepting_url = format!("http://{}", accepting.addr);

    // An escalation, accepted by the real Alertmanager: critical active, the warning ended.
    let escalated = message(vec![notice(
        NoticeKind::Escalated,
        Severity::Critical,
        Some(Severity::Warning),
    )]);
    notifier(&[am.url(), accepting_url.clone()], "")
        .send(&escalated)
        .await
        .expect("both members accept");
    let shown: Vec<(String, String)> = alerts(&am)
        .iter()
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap().to_string(),
                a["labels"]["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [("disk_usage".to_string(), "critical".to_string())],
        "the warning is over"
    );
    let posted = accepting.requests.lock().unwrap().clone();
    let [request] = posted.as_slice() else {
        panic!("one post expected: {posted:?}")
    };
    assert!(
        request.starts_with("POST /api/v2/alerts HTTP/1.1"),
        "{request}"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains("content-type: application/json")
    );
    let body: Value = serde_json::from_str(request.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body.as_array().unwrap().len(), 2, "{body}");

    // A member down: retryable, naming it; the others still got the alert (a retry posts to
    // every member again, which Alertmanager takes as a refresh).
    let firing = message(vec![notice(NoticeKind::Firing, Severity::Critical, None)]);
    let error = notifier(&[am.url(), refused.clone()], "")
        .send(&firing)
        .await
        .expect_err("a member is down");
    assert!(error.retryable, "{error:?}");
    assert!(
        error
            .message
            .starts_with(&format!("alertmanager am ({refused}): connection refused")),
        "{}",
        error.message
    );
    assert!(
        error.message.ends_with("(1 of 2 members accepted)"),
        "{}",
        error.message
    );

    // A member refusing the request: permanent, with its answer, never a credential; basic
    // auth and headers sent, under the member's path prefix.
    let auth = "basic_auth_user = \"lookout\"\nbasic_auth_password = \"${AM_PASSWORD}\"\n\
                headers = { X-Scope-OrgID = \"tenant-s3cret\" }\n";
    let error = notifier(&[am.url(), rejecting_url.clone()], auth)
        .send(&firing)
        .await
        .expect_err("a member refuses");
    assert!(!error.retryable, "{error:?}");
    assert!(
        error.message.starts_with(&format!(
            "alertmanager am ({rejecting_url}): HTTP 400 Bad Request: POST /prefix/api/v2/alerts"
        )),
        "{}",
        error.message
    );
    for secret in ["tenant-s3cret", "pa55-word", "bG9va291dDpwYTU1LXdvcmQ="] {
        assert!(!error.message.contains(secret), "{}", error.message);
    }
    let request = rejecting.requests.lock().unwrap()[0].clone();
    assert!(
        request.contains("authorization: Basic bG9va291dDpwYTU1LXdvcmQ=")
            || request.contains("Authorization: Basic bG9va291dDpwYTU1LXdvcmQ="),
        "{request}"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains("x-scope-orgid: tenant-s3cret")
    );

    // Refused and down at once: worth retrying.
    let error = notifier(&[rejecting_url, refused], "")
        .send(&firing)
        .await
        .expect_err("both fail");
    assert!(error.retryable, "{error:?}");

    // The resolution ends it.
    notifier(&[am.url()], "")
        .send(&message(vec![notice(
            NoticeKind::Resolved,
            Severity::Critical,
            None,
        )]))
        .await
        .expect("accepted");
    assert!(alerts(&am).is_empty(), "{:?}", alerts(&am));
}

#[test]
fn the_watchdog_is_always_active_in_alertmanager_and_reaches_only_its_notifiers() {
    let _machine = crate::common::machine::shared();
    // Alertmanager forgets an alert not posted again within 5 s.
    let am = Alertmanager::start("5s");
    let hook = alerting::HookReceiver::start("s3cret");
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "\n[alerts]\nhost = \"web-test\"\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\n\
         [[alerts.rule]]\nname = \"Watchdog\"\nenabled = true\nnotifiers = [\"am\"]\n\
         [[alerts.rule]]\nname = \"cpu_usage\"\nenabled = false\n\
         [[alerts.rule]]\nname = \"memory_usage\"\nenabled = false\n\
         [[alerts.rule]]\nname = \"disk_usage\"\nenabled = false\n\
         [[alerts.rule]]\nname = \"collection_late\"\nenabled = false\n\n\
         [[notifier]]\nname = \"am\"\ntype = \"alertmanager\"\nurls = [\"{}\"]\n\
         timeout = \"5s\"\nresend_interval = \"1s\"\n\
         [[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://{}/hook\"\n\
         secret = \"s3cret\"\n",
        am.url(),
        hook.addr
    );
    let config = common::write_config(dir.path(), 0, &extra);
    let daemon = Daemon::start(&config);
    let ours = [("alertname", "Watchdog")];
    let alert = poll(LIMIT, "the Watchdog in alertmanager", || am.alert(&ours));
    let labels: BTreeMap<String, String> = serde_json::from_value(alert["labels"].clone()).unwrap();
    assert_eq!(
        labels,
        BTreeMap::from(
            [
                ("alertname", "Watchdog"),
                ("severity", "info"),
                ("host", "web-test")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        ),
        "{alert}"
    );
    let started = time(&alert["startsAt"]);
    // Past resolve_timeout more than twice over, it stays active: re-posted, never resolved.
    let watch_until = Instant::now() + Duration::from_secs(13);
    while Instant::now() < watch_until {
        let alert = am
            .alert(&ours)
            .unwrap_or_else(|| panic!("the Watchdog expired:\n{}", daemon.log()));
        assert_eq!(alert["status"]["state"], "active", "{alert}");
        assert_eq!(time(&alert["startsAt"]), started, "one alert all along");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        hook.received().is_empty(),
        "the Watchdog goes only where it is routed, never to people: {:?}",
        hook.received()
    );
    let (code, log) = daemon.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0), "{log}");
}
