//! The email notifier against a real SMTP server (aiosmtpd, `tests/support/smtp_server.py`):
//! delivery, recipients by severity, both bodies, the Message-ID, AUTH, STARTTLS with a private
//! CA, and how failures are worded and classified. aiosmtpd must be installed (`.ci/run` does
//! it); without it these tests fail rather than pass silently.

use crate::common::{self, alerting};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use alerting::SmtpServer;

use lookout::alert::Severity;
use lookout::config::from_str;
use lookout::model::{AlertNotice, Category, NoticeKind};
use lookout::notifiers::{GroupMessage, Notifier, NotifyError};
use lookout::notify::build_notifiers;

const PASSWORD: &str = "s3cret-pw-4711";

fn notifier(config: &str) -> Arc<dyn Notifier> {
    let env = |name: &str| (name == "SMTP_PASSWORD").then(|| PASSWORD.to_string());
    let config = from_str(config, "test.toml", &env).unwrap_or_else(|e| panic!("{e}"));
    let mut notifiers = build_notifiers(&config.notifiers);
    assert_eq!(notifiers.len(), 1);
    notifiers.remove(0)
}

fn email_config(smtp: &str, extra: &str) -> String {
    format!(
        "[[notifier]]\nname = \"ops-mail\"\ntype = \"email\"\nsmtp = \"{smtp}\"\n\
         from = \"lookout@example.org\"\nto = [\"ops@example.org\"]\ntimeout = \"5s\"\n{extra}"
    )
}

fn notice(rule: &str, kind: NoticeKind, severity: Severity, category: Category) -> AlertNotice {
    AlertNotice {
        alert_id: format!("{rule}|host=web1"),
        rule: rule.to_string(),
        kind,
        severity,
        previous_severity: None,
        category,
        labels: BTreeMap::from([
            ("alertname".to_string(), rule.to_string()),
            ("host".to_string(), "web1".to_string()),
        ]),
        summary: format!("{rule} is {}", severity.as_str()),
        description: format!("The {rule} check <failed> & needs a look."),
        value: "critical".to_string(),
        threshold: "warning".to_string(),
        since_ms: 1_700_000_000_000,
        at_ms: 1_700_000_300_000,
        runbook_url: Some("https://wiki.example.org/runbooks/app".to_string()),
        explains: Vec::new(),
        resolved_while_muted: None,
    }
}

fn message(key: &str, notices: Vec<AlertNotice>) -> GroupMessage {
    GroupMessage {
        idempotency_key: key.to_string(),
        group_key: "host=web1".to_string(),
        group_labels: BTreeMap::from([("host".to_string(), "web1".to_string())]),
        notices,
        dashboard_url: Some("http://127.0.0.1:9898/".to_string()),
        created_ms: 1_700_000_300_000,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn send(notifier: &Arc<dyn Notifier>, message: &GroupMessage) -> Result<(), NotifyError> {
    runtime().block_on(notifier.send(message))
}

#[test]
fn delivers_one_multipart_mail_with_every_notice_and_a_stable_message_id() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path(), &[]);
    let mail = notifier(&email_config(
        &format!("smtp://127.0.0.1:{}", server.port),
        "to_critical = [\"oncall@example.org\"]\nto_warning = [\"dev@example.org\"]\n",
    ));
    let group = message(
        "outbox-17-3",
        vec![
            notice(
                "cpu",
                NoticeKind::Firing,
                Severity::Warning,
                Category::Resource,
            ),
            notice(
                "app",
                NoticeKind::Firing,
                Severity::Critical,
                Category::Failure,
            ),
            notice(
                "db",
                NoticeKind::Resolved,
                Severity::Critical,
                Category::Failure,
            ),
        ],
    );
    send(&mail, &group).expect("delivered");
    let received = server.wait_for(1, Duration::from_secs(10));
    assert_eq!(received.len(), 1, "one mail for the whole group");
    let got = &received[0];
    assert_eq!(got["mail_from"], "lookout@example.org");
    // The worst notice is critical: `to` plus `to_critical`, not `to_warning`.
    assert_eq!(
        got["rcpt_tos"],
        serde_json::json!(["ops@example.org", "oncall@example.org"])
    );
    assert_eq!(
        got["subject"],
        "[CRITICAL] app is critical (+2 more) — web1"
    );
    assert_eq!(got["message_id"], "<outbox-17-3@lookout>");
    assert_eq!(got["content_type"], "multipart/alternative");
    let text = got["text"].as_str().expect("a text/plain part");
    let html = got["html"].as_str().expect("a text/html part");
    for expected in [
        "* [FIRING] app is critical",
        "* [FIRING] cpu is warning",
        "* [RESOLVED] db is critical",
        "== Critical failures ==",
        "== High resource use ==",
        "Since:     2023-11-14T22:13:20.000Z (for 5m)",
        "Runbook:   https://wiki.example.org/runbooks/app",
        "The app check <failed> & needs a look.",
        "Dashboard: http://127.0.0.1:9898/",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} not in the text:\n{text}"
        );
    }
    for expected in [
        "[FIRING] app is critical",
        "[RESOLVED] db is critical",
        ">Critical failures</h2>",
        "The app check &lt;failed&gt; &amp; needs a look.",
        "<a href=\"https://wiki.example.org/runbooks/app\">",
    ] {
        assert!(
            html.contains(expected),
            "{expected:?} not in the HTML:\n{html}"
        );
    }

    // A resend of the same rows (after a crash) carries the same Message-ID.
    send(&mail, &group).expect("delivered again");
    let received = server.wait_for(2, Duration::from_secs(10));
    assert_eq!(received[1]["message_id"], received[0]["message_id"]);
}

/// Issue 16, finding 8: one alert told three times in one mail reads as its net state and
/// counts once; a root cause lists the symptoms it explains; a resolution told while muted
/// says so.
#[test]
fn a_flapping_alert_reads_as_its_net_state_and_a_root_cause_as_what_it_explains() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path(), &[]);
    let mail = notifier(&email_config(
        &format!("smtp://127.0.0.1:{}", server.port),
        "",
    ));
    let at = |rule: &str, kind: NoticeKind, secs: i64| {
        let mut n = notice(rule, kind, Severity::Critical, Category::Failure);
        n.at_ms = 1_700_000_000_000 + secs * 1_000;
        n
    };
    let mut db = at("db", NoticeKind::Firing, 5);
    db.explains = vec!["app-ready is critical".to_string()];
    let mut cache = at("cache", NoticeKind::Resolved, 8);
    cache.summary = "cache is ok".to_string();
    cache.resolved_while_muted = Some("maintenance".to_string());
    let group = message(
        "outbox-18-1",
        vec![
            at("app", NoticeKind::Firing, 1),
            at("app", NoticeKind::Resolved, 3),
            at("app", NoticeKind::Firing, 6),
            db,
            cache,
        ],
    );
    send(&mail, &group).expect("delivered");
    let got = &server.wait_for(1, Duration::from_secs(10))[0];
    assert_eq!(
        got["subject"],
        "[CRITICAL] app: flapped 3 times, now firing (+2 more) — web1"
    );
    let text = got["text"].as_str().expect("a text/plain part");
    let html = got["html"].as_str().expect("a text/html part");
    for expected in [
        "3 alerts changed; 2 still need attention (worst: critical).",
        "* [FIRING] app: flapped 3 times, now firing — app is critical",
        "* [FIRING] db is critical",
        "  Also explains: app-ready is critical",
        "* [RESOLVED] cache is ok (resolved while muted by maintenance)",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    assert_eq!(
        text.matches("* [").count(),
        3,
        "one entry per alert:\n{text}"
    );
    for expected in [
        "[FIRING] app: flapped 3 times, now firing — app is critical",
        "<li>Also explains: app-ready is critical</li>",
        "[RESOLVED] cache is ok (resolved while muted by maintenance)",
    ] {
        assert!(html.contains(expected), "{expected:?} not in:\n{html}");
    }
}

#[test]
fn authenticates_and_a_wrong_password_is_a_permanent_error_without_the_password() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path(), &["--user", "lookout", "--password", PASSWORD]);
    let smtp = format!("smtp://127.0.0.1:{}", server.port);
    let good = notifier(&email_config(
        &smtp,
        "username = \"lookout\"\npassword = \"${SMTP_PASSWORD}\"\n",
    ));
    let group = message(
        "auth-1",
        vec![notice(
            "app",
            NoticeKind::Firing,
            Severity::Info,
            Category::Failure,
        )],
    );
    send(&good, &group).expect("delivered with AUTH");
    let received = server.wait_for(1, Duration::from_secs(10));
    assert_eq!(received[0]["authenticated"], true);
    assert_eq!(
        received[0]["rcpt_tos"],
        serde_json::json!(["ops@example.org"])
    );

    let wrong = notifier(&email_config(
        &smtp,
        "username = \"lookout\"\npassword = \"wrong-${SMTP_PASSWORD}\"\n",
    ));
    let error = send(&wrong, &group).expect_err("wrong password");
    // Retryable: once the password is fixed (a reload), what was due must still arrive.
    assert!(error.retryable, "{error:?}");
    assert!(
        error.message.starts_with(&format!(
            "SMTP 127.0.0.1:{}: authentication failed for lookout",
            server.port
        )),
        "{}",
        error.message
    );
    assert!(!error.message.contains(PASSWORD), "{}", error.message);
    assert!(!format!("{error:?}").contains(PASSWORD));
    assert_eq!(server.received().len(), 1, "nothing delivered without AUTH");
}

#[test]
fn a_server_that_is_down_is_a_retryable_connection_refused() {
    let _machine = crate::common::machine::shared();
    let port = common::free_port();
    let mail = notifier(&email_config(&format!("smtp://127.0.0.1:{port}"), ""));
    let group = message(
        "down-1",
        vec![notice(
            "app",
            NoticeKind::Firing,
            Severity::Critical,
            Category::Failure,
        )],
    );
    let error = send(&mail, &group).expect_err("nobody listens");
    assert_eq!(
        error,
        NotifyError::retryable(format!("SMTP 127.0.0.1:{port}: connection refused"))
    );
}

#[test]
fn a_rejected_recipient_is_permanent_and_quotes_the_server() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path(), &["--reject", "ops@example.org"]);
    let mail = notifier(&email_config(
        &format!("smtp://127.0.0.1:{}", server.port),
        "",
    ));
    let group = message(
        "reject-1",
        vec![notice(
            "app",
            NoticeKind::Firing,
            Severity::Critical,
            Category::Failure,
        )],
    );
    let error = send(&mail, &group).expect_err("rejected");
    assert!(!error.retryable, "{error:?}");
    assert!(
        error.message.contains("rejected: 550") && error.message.contains("mailbox unavailable"),
        "{}",
        error.message
    );
}

#[test]
fn starttls_with_a_private_ca_and_auth() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    common::tls::make_certs(dir.path(), 30);
    let (cert, key) = (dir.path().join("leaf.pem"), dir.path().join("leaf.key"));
    let server = SmtpServer::start(
        dir.path(),
        &[
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--user",
            "lookout",
            "--password",
            PASSWORD,
        ],
    );
    let smtp = format!("smtp+starttls://127.0.0.1:{}", server.port);
    let group = message(
        "tls-1",
        vec![notice(
            "app",
            NoticeKind::Firing,
            Severity::Critical,
            Category::Security,
        )],
    );
    let trusted = notifier(&email_config(
        &smtp,
        &format!(
            "username = \"lookout\"\npassword = \"${{SMTP_PASSWORD}}\"\nca_file = \"{}\"\n",
            dir.path().join("ca.pem").display()
        ),
    ));
    send(&trusted, &group).expect("delivered over STARTTLS");
    let received = server.wait_for(1, Duration::from_secs(10));
    assert_eq!(received[0]["tls"], true);
    assert_eq!(received[0]["authenticated"], true);
    assert_eq!(received[0]["subject"], "[CRITICAL] app is critical — web1");

    // Without the private CA the certificate is not trusted: nothing is sent in clear.
    let untrusted = notifier(&email_config(
        &smtp,
        "username = \"lookout\"\npassword = \"${SMTP_PASSWORD}\"\n",
    ));
    let error = send(&untrusted, &group).expect_err("unknown CA");
    assert_eq!(
        error.message,
        format!(
            "SMTP 127.0.0.1:{}: TLS: certificate not trusted (unknown issuer; set ca_file for a private CA)",
            server.port
        )
    );
    assert!(!error.message.contains(PASSWORD), "{}", error.message);
    assert_eq!(server.received().len(), 1);
}
