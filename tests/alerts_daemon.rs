//! The alert manager end to end: the real `lookout serve` with http checks against in-test
//! HTTP servers, a real SMTP server (aiosmtpd) and an in-test webhook receiver. What people
//! get (mails, payloads), what the API shows, and what survives a restart or an outage.
//! aiosmtpd must be installed (`.ci/run` does it); without it these tests fail.

mod common;
#[path = "common/alerting.rs"]
mod alerting;

use std::path::Path;
use std::time::Duration;

use alerting::{
    FlipServer, HookReceiver, SmtpServer, alerts_config, closed_port, http, http_check, poll,
    subject,
};
use common::Daemon;
use serde_json::Value;

const MAIL_LIMIT: Duration = Duration::from_secs(30);

fn start(dir: &Path, extra: &str) -> (Daemon, std::path::PathBuf, u16) {
    let port = common::free_port();
    let config = common::write_config(dir, port, extra);
    (Daemon::start(&config, port), config, port)
}

fn alerts(daemon: &Daemon) -> Vec<Value> {
    daemon.json("/api/v1/alerts")["alerts"]
        .as_array()
        .unwrap()
        .clone()
}

fn history(daemon: &Daemon) -> Vec<Value> {
    daemon.json("/api/v1/alerts/history?since=-24h")["history"]
        .as_array()
        .unwrap()
        .clone()
}

fn outbox(daemon: &Daemon, all: bool) -> Vec<Value> {
    let path = if all {
        "/api/v1/outbox?all=true"
    } else {
        "/api/v1/outbox"
    };
    daemon.json(path)["outbox"].as_array().unwrap().clone()
}

/// The firing (or pending) check_failed alert of `check`, if any.
fn alert_of(daemon: &Daemon, check: &str) -> Option<Value> {
    alerts(daemon)
        .into_iter()
        .find(|a| a["rule"] == "check_failed" && a["labels"]["check"] == check)
}

fn firing(daemon: &Daemon, check: &str) -> Value {
    poll(MAIL_LIMIT, &format!("{check} firing"), || {
        alert_of(daemon, check).filter(|a| a["state"] == "firing")
    })
}

#[test]
fn an_http_check_failing_reaches_people_by_email_and_its_recovery_too() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), &[]);
    let app = FlipServer::start(200);
    let extra = alerts_config(smtp.port, "") + &http_check("app", &app.url(), "");
    let (daemon, _, _) = start(dir.path(), &extra);

    // Healthy first: the check runs, nothing is told.
    poll(MAIL_LIMIT, "the check ran", || {
        (app.hits.load(std::sync::atomic::Ordering::SeqCst) >= 2).then_some(())
    });
    assert!(alerts(&daemon).is_empty(), "{:?}", alerts(&daemon));

    app.set(500);
    let mails = smtp.wait_for(1, MAIL_LIMIT);
    let alert = firing(&daemon, "app");
    let summary = alert["summary"].as_str().unwrap().to_string();
    assert!(summary.contains("app"), "{summary}");
    assert_eq!(alert["severity"], "critical", "{alert}");
    assert_eq!(alert["muted_by"], "", "{alert}");

    let mail = &mails[0];
    assert!(subject(mail).contains("[CRITICAL]"), "{mail}");
    assert!(subject(mail).contains("app"), "{mail}");
    let mut rcpt: Vec<&str> = mail["rcpt_tos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    rcpt.sort();
    assert_eq!(rcpt, ["oncall@example.org", "ops@example.org"], "{mail}");
    for part in ["text", "html"] {
        let body = mail[part].as_str().unwrap_or_else(|| panic!("no {part}: {mail}"));
        assert!(body.contains(&summary), "{part} lacks {summary:?}: {body}");
        assert!(
            body.contains("http://dash.example.org/lookout"),
            "{part} lacks the dashboard link: {body}"
        );
    }

    app.set(200);
    let mails = smtp.wait_for(2, MAIL_LIMIT);
    assert!(subject(&mails[1]).contains("[RESOLVED]"), "{}", mails[1]);
    assert!(subject(&mails[1]).contains("app"), "{}", mails[1]);
    poll(MAIL_LIMIT, "no alert left", || {
        alerts(&daemon).is_empty().then_some(())
    });

    let id = alert["id"].as_str().unwrap();
    let kinds: Vec<String> = history(&daemon)
        .iter()
        .filter(|h| h["alert_id"] == id)
        .map(|h| {
            assert_eq!(h["sent"], true, "{h}");
            h["kind"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(kinds, ["resolved", "firing"], "newest first");
    assert_eq!(smtp.received().len(), 2);
    let (code, log) = daemon.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0), "{log}");
}
