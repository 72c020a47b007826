//! The alert manager end to end: the real `lookout serve` with http checks against in-test
//! HTTP servers, a real SMTP server (aiosmtpd) and an in-test webhook receiver. What people
//! get (mails, payloads), what the API shows, and what survives a restart or an outage.
//! aiosmtpd must be installed (`.ci/run` does it); without it these tests fail.

use crate::common::{self, alerting};

use std::path::Path;
use std::time::Duration;

use crate::common::Daemon;
use alerting::{
    FlipServer, HookReceiver, SmtpServer, alerts_config, closed_port, http, http_check, poll,
    subject,
};
use serde_json::Value;

const MAIL_LIMIT: Duration = Duration::from_secs(30);

/// A daemon on a port of its choosing, written into its config: a restart keeps it.
fn start(dir: &Path, extra: &str) -> (Daemon, std::path::PathBuf) {
    let config = common::write_config(dir, 0, extra);
    let daemon = Daemon::start(&config);
    daemon.pin_listen(&config);
    (daemon, config)
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
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), &[]);
    let app = FlipServer::start(200);
    let extra = alerts_config(smtp.port, "") + &http_check("app", &app.url(), "");
    let (daemon, _) = start(dir.path(), &extra);

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
        let body = mail[part]
            .as_str()
            .unwrap_or_else(|| panic!("no {part}: {mail}"));
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
    // "sent" is "delivered": the outbox marks the row just after the SMTP server took it.
    let told = poll(MAIL_LIMIT, "both notices marked delivered", || {
        let told: Vec<Value> = history(&daemon)
            .into_iter()
            .filter(|h| h["alert_id"] == id)
            .collect();
        told.iter()
            .all(|h| h["sent"] == true && h["delivery"] == "delivered")
            .then_some(told)
    });
    let kinds: Vec<String> = told
        .iter()
        .map(|h| h["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["resolved", "firing"], "newest first");
    assert_eq!(smtp.received().len(), 2);
    let (code, log) = daemon.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0), "{log}");
}

/// Waits until `daemon` has run `check` at least `runs` more times (the target counts hits).
fn wait_runs(target: &FlipServer, runs: usize) {
    let start = target.hits.load(std::sync::atomic::Ordering::SeqCst);
    poll(MAIL_LIMIT, &format!("{runs} more check runs"), || {
        (target.hits.load(std::sync::atomic::Ordering::SeqCst) >= start + runs).then_some(())
    });
}

#[test]
fn a_restart_neither_resends_nor_forgets_a_firing_alert() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), &[]);
    let app = FlipServer::start(500);
    let extra = alerts_config(smtp.port, "") + &http_check("app", &app.url(), "");
    let (daemon, config) = start(dir.path(), &extra);
    smtp.wait_for(1, MAIL_LIMIT);
    let before = firing(&daemon, "app");
    let (code, log) = daemon.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0), "{log}");

    let daemon = Daemon::start(&config);
    // Still firing, from the same moment, and nobody is told again.
    let after = firing(&daemon, "app");
    assert_eq!(after["since"], before["since"], "{before} vs {after}");
    assert_eq!(after["id"], before["id"]);
    wait_runs(&app, 4);
    assert_eq!(firing(&daemon, "app")["since"], before["since"]);
    let mails = smtp.received();
    assert_eq!(mails.len(), 1, "re-sent after the restart: {mails:?}");

    app.set(200);
    let mails = smtp.wait_for(2, MAIL_LIMIT);
    assert!(subject(&mails[1]).contains("[RESOLVED]"), "{}", mails[1]);
    poll(MAIL_LIMIT, "no alert left", || {
        alerts(&daemon).is_empty().then_some(())
    });
    wait_runs(&app, 3);
    let mails = smtp.received();
    assert_eq!(mails.len(), 2, "exactly one resolved mail: {mails:?}");
    let kinds: Vec<Value> = history(&daemon)
        .iter()
        .filter(|h| h["alert_id"] == before["id"])
        .map(|h| h["kind"].clone())
        .collect();
    assert_eq!(kinds, ["resolved", "firing"]);
}

const OUTAGE_CHECKS: usize = 10;

/// SMTP down while 10 alerts fire; the daemon stops with `signal`; SMTP comes back and the
/// daemon starts again: every alert is mailed exactly once.
fn outage_loses_nothing(signal: i32) {
    let dir = tempfile::tempdir().unwrap();
    let smtp_port = closed_port();
    let names: Vec<String> = (0..OUTAGE_CHECKS).map(|i| format!("svc-{i}-x")).collect();
    let mut extra = alerts_config(smtp_port, "group_by = [\"alertname\", \"check\"]\n");
    for name in &names {
        let url = format!("http://127.0.0.1:{}/health", closed_port());
        extra += &http_check(name, &url, "");
    }
    let (daemon, config) = start(dir.path(), &extra);

    let rows = poll(
        Duration::from_secs(45),
        "10 pending rows, each tried",
        || {
            let rows = outbox(&daemon, false);
            (rows.len() == OUTAGE_CHECKS
                && rows
                    .iter()
                    .all(|r| r["attempts"].as_u64().unwrap_or(0) >= 1))
            .then_some(rows)
        },
    );
    for row in &rows {
        assert_eq!(row["state"], "pending", "{row}");
        assert_eq!(row["kind"], "firing", "{row}");
        let error = row["last_error"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        assert!(error.contains("connection refused"), "{row}");
    }
    let (_, log) = daemon.stop_with(signal);

    let smtp = SmtpServer::start_on(dir.path(), smtp_port, &[]);
    let daemon = Daemon::start(&config);
    let mails = smtp.wait_for(OUTAGE_CHECKS, Duration::from_secs(90));
    poll(Duration::from_secs(30), "the outbox empty", || {
        outbox(&daemon, false).is_empty().then_some(())
    });
    // A few more evaluation rounds: nothing more goes out.
    poll(Duration::from_secs(10), "more outbox rounds", || {
        let all = outbox(&daemon, true);
        (all.len() == OUTAGE_CHECKS && all.iter().all(|r| r["state"] == "delivered")).then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let mails_after = smtp.received();
    assert_eq!(
        mails_after.len(),
        OUTAGE_CHECKS,
        "{:#?}\nfirst run log:\n{log}",
        mails_after.iter().map(subject).collect::<Vec<_>>()
    );
    let ids: std::collections::BTreeSet<&str> = mails
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), OUTAGE_CHECKS, "duplicate Message-IDs");
    for name in &names {
        let count = mails
            .iter()
            .filter(|m| subject(m).contains(name.as_str()))
            .count();
        assert_eq!(
            count,
            1,
            "{name}: {:#?}",
            mails.iter().map(subject).collect::<Vec<_>>()
        );
        assert!(
            mails
                .iter()
                .any(|m| subject(m).contains(name.as_str()) && subject(m).contains("[CRITICAL]"))
        );
    }
}

#[test]
fn an_smtp_outage_across_a_graceful_restart_loses_no_mail_and_sends_none_twice() {
    let _machine = crate::common::machine::shared();
    outage_loses_nothing(libc::SIGTERM);
}

#[test]
fn an_smtp_outage_across_a_kill_9_loses_no_mail_and_sends_none_twice() {
    let _machine = crate::common::machine::shared();
    outage_loses_nothing(libc::SIGKILL);
}

#[test]
fn a_signed_webhook_is_verified_by_the_receiver() {
    let _machine = crate::common::machine::shared();
    const SECRET: &str = "whsec-e2e-7f3a9";
    let dir = tempfile::tempdir().unwrap();
    let hook = HookReceiver::start(SECRET);
    let app = FlipServer::start(500);
    let extra = format!(
        "\n[alerts]\nhost = \"web-test\"\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\n\
         dashboard_url = \"http://dash.example.org/lookout\"\n\
         [[alerts.rule]]\nname = \"cpu_usage\"\nenabled = false\n\
         [[alerts.rule]]\nname = \"memory_usage\"\nenabled = false\n\
         [[alerts.rule]]\nname = \"disk_usage\"\nenabled = false\n\n\
         [[notifier]]\nname = \"ops-hook\"\ntype = \"webhook\"\nurl = \"http://{}/hook\"\n\
         secret = \"${{HOOK_SECRET}}\"\n",
        hook.addr
    ) + &http_check("app", &app.url(), "");
    let config = common::write_config(dir.path(), 0, &extra);
    let mut command = common::lookout();
    command
        .args(["serve", "--config"])
        .arg(&config)
        .env("HOOK_SECRET", SECRET);
    let daemon = Daemon::spawn(command);

    let request = poll(MAIL_LIMIT, "a webhook POST", || {
        hook.received().into_iter().next()
    });
    assert!(request.verified, "signature did not verify: {request:?}");
    let payload: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(payload["version"], 1, "{payload}");
    assert_eq!(payload["status"], "firing", "{payload}");
    assert_eq!(payload["severity"], "critical", "{payload}");
    let notice = &payload["notices"][0];
    assert_eq!(notice["rule"], "check_failed", "{payload}");
    assert_eq!(notice["kind"], "firing", "{payload}");
    assert_eq!(notice["labels"]["check"], "app", "{payload}");
    assert!(
        notice["summary"].as_str().unwrap().contains("app"),
        "{payload}"
    );
    let key = request
        .headers
        .get("idempotency-key")
        .expect("Idempotency-Key header");
    assert!(!key.is_empty());
    assert_eq!(payload["idempotency_key"], key.as_str(), "{payload}");
    let timestamp: i64 = request.headers["x-lookout-timestamp"].parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now - timestamp).abs() < 300,
        "timestamp {timestamp} vs {now}"
    );
    // Delivered: the receiver answered 200, nothing pending.
    poll(MAIL_LIMIT, "the outbox empty", || {
        outbox(&daemon, false).is_empty().then_some(())
    });
    let (_, log) = daemon.stop_with(libc::SIGTERM);
    assert!(!log.contains(SECRET), "the secret is in the log: {log}");
    assert_eq!(hook.received().len(), 1, "{:?}", hook.received());
}

fn silence_body(matchers: &str, rest: &str) -> String {
    format!("{{\"matchers\":{matchers}{rest}}}")
}

#[test]
fn a_silence_mutes_the_mail_and_its_expiry_tells_the_alert() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), &[]);
    let app = FlipServer::start(200);
    let extra = alerts_config(smtp.port, "") + &http_check("app", &app.url(), "");
    let (daemon, _) = start(dir.path(), &extra);

    // Bad bodies: 400 naming the field.
    for (body, field) in [
        (
            silence_body("[]", r#","for":"1h","author":"ops","comment":"x""#),
            "matcher",
        ),
        (
            silence_body(
                r#"["check"]"#,
                r#","for":"1h","author":"ops","comment":"x""#,
            ),
            "matcher",
        ),
        (
            silence_body(
                r#"["check=\"app\""]"#,
                r#","for":"soon","author":"ops","comment":"x""#,
            ),
            "for",
        ),
        (
            silence_body(
                r#"["check=\"app\""]"#,
                r#","for":"1h","author":"ops","comment":"""#,
            ),
            "comment",
        ),
        (
            silence_body(r#"["check=\"app\""]"#, r#","for":"1h","comment":"x""#),
            "author",
        ),
        (
            r#"{"for":"1h","author":"ops","comment":"x"}"#.to_string(),
            "matchers",
        ),
        (
            silence_body(
                r#"["check=\"app\""]"#,
                r#","for":"1h","author":"ops","comment":"x","oops":1"#,
            ),
            "oops",
        ),
    ] {
        let (status, answer) = http(daemon.addr, "POST", "/api/v1/silences", Some(&body));
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer.contains(field),
            "{body}: {answer} should name {field}"
        );
    }

    let body = r#"{"matchers":["check=\"app\""],"for":"1h","author":"ops","comment":"deploy"}"#;
    let (status, answer) = http(daemon.addr, "POST", "/api/v1/silences", Some(body));
    assert_eq!(status, 201, "{answer}");
    let silence: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(silence["state"], "active", "{silence}");
    let id = silence["id"].as_str().unwrap().to_string();
    let listed = daemon.json("/api/v1/silences");
    assert_eq!(listed["silences"][0]["id"], id.as_str(), "{listed}");

    app.set(500);
    let alert = poll(MAIL_LIMIT, "a muted firing alert", || {
        alert_of(&daemon, "app").filter(|a| a["state"] == "firing")
    });
    let muted_by = alert["muted_by"].as_str().unwrap();
    assert!(muted_by.starts_with("silenced by"), "{alert}");
    let entry = poll(MAIL_LIMIT, "the muted notice in the history", || {
        history(&daemon)
            .into_iter()
            .find(|h| h["alert_id"] == alert["id"] && h["kind"] == "firing")
    });
    assert_eq!(entry["sent"], false, "{entry}");
    assert!(
        entry["muted_by"]
            .as_str()
            .unwrap()
            .starts_with("silenced by"),
        "{entry}"
    );
    wait_runs(&app, 3);
    assert!(
        outbox(&daemon, true).is_empty(),
        "{:?}",
        outbox(&daemon, true)
    );
    assert!(smtp.received().is_empty(), "{:?}", smtp.received());

    let (status, answer) = http(
        daemon.addr,
        "DELETE",
        &format!("/api/v1/silences/{id}"),
        None,
    );
    assert_eq!(status, 200, "{answer}");
    let expired: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(expired["state"], "expired", "{expired}");
    let mails = smtp.wait_for(1, MAIL_LIMIT);
    assert!(subject(&mails[0]).contains("[CRITICAL]"), "{}", mails[0]);
    assert!(subject(&mails[0]).contains("app"), "{}", mails[0]);
    poll(MAIL_LIMIT, "the alert no longer muted", || {
        alert_of(&daemon, "app").filter(|a| a["muted_by"] == "")
    });
    let (status, answer) = http(
        daemon.addr,
        "DELETE",
        &format!("/api/v1/silences/{id}"),
        None,
    );
    assert_eq!(status, 404, "expiring twice: {answer}");
    wait_runs(&app, 3);
    assert_eq!(smtp.received().len(), 1, "{:?}", smtp.received());
}

#[test]
fn a_failing_dependency_inhibits_the_alert_of_the_check_that_needs_it() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), &[]);
    let db = FlipServer::start(500);
    let app = FlipServer::start(200);
    let extra = alerts_config(smtp.port, "")
        + &http_check("db", &db.url(), "")
        + &http_check("app", &app.url(), "depends_on = [\"db\"]");
    let (daemon, _) = start(dir.path(), &extra);
    let mails = smtp.wait_for(1, MAIL_LIMIT);
    assert!(subject(&mails[0]).contains("db"), "{}", mails[0]);
    firing(&daemon, "db");

    app.set(500);
    let alert = poll(MAIL_LIMIT, "app's alert, inhibited", || {
        alert_of(&daemon, "app").filter(|a| a["state"] == "firing")
    });
    assert_eq!(
        alert["muted_by"], "inhibited by check_failed{check=db}",
        "{alert}"
    );
    wait_runs(&app, 3);
    let mails = smtp.received();
    assert_eq!(
        mails.len(),
        1,
        "{:?}",
        mails.iter().map(subject).collect::<Vec<_>>()
    );
    let entry = history(&daemon)
        .into_iter()
        .find(|h| h["alert_id"] == alert["id"])
        .expect("app's notice in the history");
    assert_eq!(entry["sent"], false, "{entry}");
}

/// Regression: inhibition used to be decided the instant a dependent's notice was made, so
/// when `db` and `app` failed in the same tick and app's result came first (made certain here:
/// db's server answers 400 ms later), app was mailed too. Now a dependent's notice waits for
/// its dependencies to report and is withdrawn if they turn out to be the cause.
#[test]
fn regression_checks_failing_in_the_same_tick_tell_only_the_dependency() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), &[]);
    let db = FlipServer::start(500);
    db.delay(400);
    let app = FlipServer::start(500);
    let extra = alerts_config(smtp.port, "")
        + &http_check("app", &app.url(), "depends_on = [\"db\"]")
        + &http_check("db", &db.url(), "");
    let (daemon, _) = start(dir.path(), &extra);
    firing(&daemon, "db");
    firing(&daemon, "app");
    smtp.wait_for(1, MAIL_LIMIT);
    wait_runs(&app, 3);
    let mails = smtp.received();
    let subjects: Vec<&str> = mails.iter().map(subject).collect();
    assert_eq!(subjects.len(), 1, "{subjects:?}");
    assert!(subjects[0].contains("db is"), "{subjects:?}");
    assert_eq!(
        alert_of(&daemon, "app").unwrap()["muted_by"],
        "inhibited by check_failed{check=db}"
    );
}

/// A silence that simply runs out (no DELETE) lifts its mute: the still-firing alert is told.
#[test]
fn a_silence_running_out_tells_the_alert_it_muted() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), &[]);
    let app = FlipServer::start(500);
    let extra = alerts_config(smtp.port, "") + &http_check("app", &app.url(), "");
    let config = common::write_config(dir.path(), 0, &extra);
    let daemon = Daemon::start(&config);
    // Fires and is mailed first; then silenced briefly (later repeats would be muted).
    smtp.wait_for(1, MAIL_LIMIT);
    app.set(200);
    smtp.wait_for(2, MAIL_LIMIT);
    let body = r#"{"matchers":["check=\"app\""],"for":"6s","author":"ops","comment":"short"}"#;
    let (status, answer) = http(daemon.addr, "POST", "/api/v1/silences", Some(body));
    assert_eq!(status, 201, "{answer}");
    app.set(500);
    let alert = poll(MAIL_LIMIT, "a muted alert", || {
        alert_of(&daemon, "app").filter(|a| a["state"] == "firing")
    });
    assert!(
        alert["muted_by"]
            .as_str()
            .unwrap()
            .starts_with("silenced by"),
        "{alert}"
    );
    let mails = smtp.wait_for(3, MAIL_LIMIT);
    assert!(subject(&mails[2]).contains("[CRITICAL]"), "{}", mails[2]);
    poll(MAIL_LIMIT, "the mute lifted", || {
        alert_of(&daemon, "app").filter(|a| a["muted_by"] == "")
    });
}

/// Regression: when a commit of the alert loop stalled (a slow disk: seen under stress-ng in
/// tests/it/load.rs), the next evaluation tick ran before the check results queued meanwhile and
/// fired "No data" for every check that had in fact kept running.
#[test]
fn regression_a_stalled_alert_commit_fires_no_false_no_data_alerts() {
    let _machine = crate::common::machine::shared();
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), &[]);
    let healthy = FlipServer::start(200);
    let app = FlipServer::start(200);
    let mut extra = alerts_config(smtp.port, "group_by = [\"alertname\", \"check\"]\n");
    for i in 0..5 {
        extra += &http_check(&format!("svc-{i}"), &healthy.url(), "");
    }
    extra += &http_check("app", &app.url(), "");
    let (daemon, _) = start(dir.path(), &extra);
    wait_runs(&app, 2);

    // The store's write lock held for 4 s (more than the 3 intervals of the no-data rule,
    // less than the store's 5 s busy timeout): the commit of app's alert waits it out.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("sqlite://{}", dir.path().join("data/lookout.db").display());
    let mut lock = runtime.block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .unwrap();
        conn
    });
    let locked = std::time::Instant::now();
    app.set(500);
    wait_runs(&app, 1);
    std::thread::sleep(Duration::from_secs(4).saturating_sub(locked.elapsed()));
    runtime.block_on(async {
        sqlx::query("COMMIT").execute(&mut lock).await.unwrap();
    });
    drop(lock);

    let mails = smtp.wait_for(1, MAIL_LIMIT);
    assert!(subject(&mails[0]).contains("app"), "{}", mails[0]);
    wait_runs(&healthy, 5 * 3);
    let subjects: Vec<String> = smtp.received().iter().map(|m| subject(m).into()).collect();
    assert_eq!(subjects.len(), 1, "{subjects:?}");
    let no_data: Vec<Value> = history(&daemon)
        .into_iter()
        .filter(|h| h["alert_id"].as_str().unwrap().starts_with("check_no_data"))
        .collect();
    assert!(no_data.is_empty(), "{no_data:#?}");
}
