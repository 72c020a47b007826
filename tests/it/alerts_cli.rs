//! `lookout alerts ...` and `lookout silence ...` on the store of cron runs (and of a daemon):
//! silences, the test message, cron mode end to end against a real SMTP server (aiosmtpd),
//! and that the SMTP password never shows.

use crate::common::{self, alerting};

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::common::{Daemon, text};
use alerting::{FlipServer, SmtpServer, alerts_config, closed_port, http_check, poll, subject};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(30);

fn cli(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = common::lookout();
    command.arg("--config").arg(config).args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    common::output(&mut command)
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}: {}{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&output.stdout)))
}

/// A config with one email notifier to `smtp_port` and `checks`; no daemon needed.
fn config(dir: &Path, smtp_port: u16, checks: &str) -> PathBuf {
    common::write_config(dir, 0, &(alerts_config(smtp_port, "") + checks))
}

#[test]
fn silences_are_added_listed_and_expired_from_the_shell() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), closed_port(), "");
    let added = json(&cli(
        &config,
        &[
            "silence",
            "add",
            "check=\"app\"",
            "--for",
            "2h",
            "--comment",
            "x",
            "--author",
            "ops",
            "--json",
        ],
        &[],
    ));
    assert_eq!(added["state"], "active", "{added}");
    assert_eq!(added["matchers"][0], "check=\"app\"", "{added}");
    assert_eq!(added["author"], "ops");
    assert_eq!(added["comment"], "x");
    let id = added["id"].as_str().unwrap().to_string();
    assert!(!id.is_empty());

    let listed = json(&cli(&config, &["silence", "list", "--json"], &[]));
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], id.as_str());

    let out = cli(&config, &["silence", "expire", &id], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = json(&cli(&config, &["silence", "list", "--json"], &[]));
    assert_eq!(
        listed,
        serde_json::json!([]),
        "expired ones only with --all"
    );
    let all = json(&cli(&config, &["silence", "list", "--all", "--json"], &[]));
    assert_eq!(all[0]["id"], id.as_str(), "{all}");
    assert_eq!(all[0]["state"], "expired", "{all}");

    let out = cli(&config, &["silence", "expire", "no-such-id"], &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("no-such-id") && err.contains("no active or pending silence"),
        "{err}"
    );

    let out = cli(&config, &["silence", "add", "check", "--comment", "x"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("not a matcher") && err.contains("label=\"value\""),
        "{err}"
    );
    let listed = json(&cli(&config, &["silence", "list", "--all", "--json"], &[]));
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "a bad one is not stored"
    );
}

#[test]
fn alerts_test_sends_a_real_mail_and_says_why_it_could_not() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), &[]);
    let config_up = config(dir.path(), smtp.port, "");
    let out = cli(&config_up, &["alerts", "test"], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("ops-mail"),
        "{}",
        text(&out.stdout)
    );
    let mails = smtp.wait_for(1, LIMIT);
    assert!(subject(&mails[0]).contains("[TEST]"), "{}", mails[0]);

    let results = json(&cli(&config_up, &["alerts", "test", "--json"], &[]));
    assert_eq!(
        results,
        serde_json::json!([{"notifier": "ops-mail", "ok": true, "error": null}])
    );
    smtp.wait_for(2, LIMIT);

    let down = tempfile::tempdir().unwrap();
    let config_down = config(down.path(), closed_port(), "");
    let out = cli(&config_down, &["alerts", "test"], &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(said.to_lowercase().contains("connection refused"), "{said}");
    let out = cli(&config_down, &["alerts", "test", "--json"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let results: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results[0]["notifier"], "ops-mail");
    assert_eq!(results[0]["ok"], false);
    assert!(
        results[0]["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("connection refused"),
        "{results}"
    );

    let out = cli(&config_up, &["alerts", "test", "--notifier", "nope"], &[]);
    assert_ne!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains("nope") && err.contains("\"ops-mail\""),
        "{err}"
    );
    assert_eq!(smtp.received().len(), 2);
}

#[test]
fn cron_mode_tells_once_keeps_quiet_then_tells_the_recovery() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), &[]);
    let app = FlipServer::start(500);
    let config = config(
        dir.path(),
        smtp.port,
        &http_check("app", &app.url(), "recover_after = 1"),
    );

    // The seed's crontab: `check` stores results, `alerts run` evaluates what is stored.
    cli(&config, &["check"], &[]);
    let report = json(&cli(&config, &["alerts", "run", "--json"], &[]));
    assert_eq!(report["firing"], 1, "{report}");
    assert_eq!(report["messages_sent"], 1, "{report}");
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    let mails = smtp.wait_for(1, LIMIT);
    assert!(subject(&mails[0]).contains("[CRITICAL]"), "{}", mails[0]);
    assert!(subject(&mails[0]).contains("app"), "{}", mails[0]);

    let listed = json(&cli(&config, &["alerts", "list", "--json"], &[]));
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let alert = &listed[0];
    assert_eq!(alert["state"], "firing", "{alert}");
    assert_eq!(alert["labels"]["check"], "app", "{alert}");

    // The seed's crontab: `check` stores results, `alerts run` evaluates what is stored.
    cli(&config, &["check"], &[]);
    let report = json(&cli(&config, &["alerts", "run", "--json"], &[]));
    assert_eq!(report["firing"], 1, "{report}");
    assert_eq!(report["messages_sent"], 0, "{report}");
    assert_eq!(report["notices"], 0, "{report}");
    let again = json(&cli(&config, &["alerts", "list", "--json"], &[]));
    assert_eq!(again[0]["since"], alert["since"], "{again}");

    app.set(200);
    // The seed's crontab: `check` stores results, `alerts run` evaluates what is stored.
    cli(&config, &["check"], &[]);
    let report = json(&cli(&config, &["alerts", "run", "--json"], &[]));
    assert_eq!(report["firing"], 0, "{report}");
    assert_eq!(report["messages_sent"], 1, "{report}");
    let mails = smtp.wait_for(2, LIMIT);
    assert!(subject(&mails[1]).contains("[RESOLVED]"), "{}", mails[1]);
    assert_eq!(mails.len(), 2);

    let listed = json(&cli(&config, &["alerts", "list", "--json"], &[]));
    assert_eq!(listed, serde_json::json!([]));
    let history = json(&cli(&config, &["alerts", "history", "--json"], &[]));
    let kinds: Vec<&Value> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["kind"])
        .collect();
    assert_eq!(kinds, ["resolved", "firing"], "{history}");
    for h in history.as_array().unwrap() {
        assert_eq!(h["alert_id"], alert["id"], "{h}");
        assert_eq!(h["sent"], true, "{h}");
    }
    let pending = json(&cli(&config, &["alerts", "outbox", "--json"], &[]));
    assert_eq!(pending, serde_json::json!([]));
    let all = json(&cli(&config, &["alerts", "outbox", "--all", "--json"], &[]));
    let rows = all.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{all}");
    for row in rows {
        assert_eq!(row["state"], "delivered", "{row}");
        assert_eq!(row["notifier"], "ops-mail", "{row}");
        assert_eq!(row["attempts"], 1, "{row}");
    }
}

const SECRET: &str = "hunter2-secret";

#[test]
fn the_smtp_password_never_shows_in_output_or_logs() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), &["--user", "ops", "--password", "right-pw"]);
    let app = FlipServer::start(500);
    let body = alerts_config(smtp.port, "").replace(
        "timeout = \"5s\"\n",
        "timeout = \"5s\"\nusername = \"ops\"\npassword = \"${SMTP_PASSWORD}\"\n",
    ) + &http_check("app", &app.url(), "");
    let config = common::write_config(dir.path(), 0, &body);

    // The right password: delivered, authenticated.
    let out = cli(
        &config,
        &["alerts", "test"],
        &[("SMTP_PASSWORD", "right-pw")],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let mails = smtp.wait_for(1, LIMIT);
    assert_eq!(mails[0]["authenticated"], true);

    // The wrong one: refused, said in words, the password nowhere.
    for args in [&["alerts", "test"][..], &["alerts", "test", "--json"][..]] {
        let out = cli(&config, args, &[("SMTP_PASSWORD", SECRET)]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let said = text(&out.stdout) + &text(&out.stderr);
        assert!(!said.contains(SECRET), "{said}");
        assert!(
            said.contains("535") || said.to_lowercase().contains("auth"),
            "{said}"
        );
    }
    let out = cli(
        &config,
        &["alerts", "run", "--json"],
        &[("SMTP_PASSWORD", SECRET)],
    );
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(!said.contains(SECRET), "{said}");
    let out = cli(
        &config,
        &["alerts", "outbox", "--json"],
        &[("SMTP_PASSWORD", SECRET)],
    );
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(!said.contains(SECRET), "{said}");

    // The daemon (its own store, so the alert is new to it): its log while the mail fails,
    // and the API.
    let daemon_dir = dir.path().join("daemon");
    std::fs::create_dir_all(&daemon_dir).unwrap();
    let config = common::write_config(&daemon_dir, 0, &body);
    let mut command = common::lookout();
    command
        .args(["serve", "--log-level", "debug", "--config"])
        .arg(&config)
        .env("SMTP_PASSWORD", SECRET);
    let daemon = Daemon::spawn(command);
    poll(LIMIT, "a delivery error in the outbox", || {
        let rows = daemon.json("/api/v1/outbox?all=true");
        rows["outbox"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| !r["last_error"].is_null())
            .then_some(())
    });
    for path in ["/api/v1/outbox?all=true", "/api/v1/alerts", "/metrics"] {
        let (_, body) = daemon.get(path);
        assert!(!body.contains(SECRET), "{path}: {body}");
    }
    let (_, log) = daemon.stop_with(libc::SIGTERM);
    assert!(!log.contains(SECRET), "{log}");
    assert!(log.contains("ops-mail"), "the failure is logged: {log}");
    assert_eq!(
        smtp.received().len(),
        1,
        "nothing gets through with the wrong password"
    );
}

/// The CLI works on a running daemon's store: a silence added from the shell mutes the mail
/// (the daemon re-reads silences every `alerts.silence_refresh`), and expiring it tells the alert.
#[test]
fn a_silence_from_the_shell_mutes_a_running_daemon_and_its_expiry_tells() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), &[]);
    let app = FlipServer::start(200);
    let config = common::write_config(
        dir.path(),
        0,
        // Silences are re-read from the store every second (default 5 s).
        &(alerts_config(smtp.port, "silence_refresh = \"1s\"\n")
            + &http_check("app", &app.url(), "")),
    );
    let daemon = Daemon::start(&config);
    let added = json(&cli(
        &config,
        &[
            "silence",
            "add",
            "check=\"app\"",
            "--for",
            "1h",
            "--comment",
            "deploy",
            "--json",
        ],
        &[],
    ));
    let id = added["id"].as_str().unwrap().to_string();
    // The daemon sees it through its API as well.
    poll(LIMIT, "the silence in the API", || {
        let listed = daemon.json("/api/v1/silences");
        (listed["silences"][0]["id"] == id.as_str()).then_some(())
    });
    // The daemon has it once it re-read the silences (`alerts.silence_refresh`) and said so.
    poll(LIMIT, "the daemon reading the new silence", || {
        daemon
            .log()
            .contains("silences changed; in effect now silences=1")
            .then_some(())
    });
    app.set(500);
    let alert = poll(LIMIT, "a muted alert in `alerts list`", || {
        let listed = json(&cli(&config, &["alerts", "list", "--json"], &[]));
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["labels"]["check"] == "app" && a["state"] == "firing")
            .cloned()
    });
    assert!(
        alert["muted_by"]
            .as_str()
            .unwrap()
            .starts_with("silenced by"),
        "{alert}"
    );
    let history = json(&cli(&config, &["alerts", "history", "--json"], &[]));
    assert_eq!(history[0]["sent"], false, "{history}");
    assert!(smtp.received().is_empty(), "{:?}", smtp.received());

    let out = cli(&config, &["silence", "expire", &id, "--json"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mails = smtp.wait_for(1, LIMIT);
    assert!(subject(&mails[0]).contains("[CRITICAL]"), "{}", mails[0]);
    drop(daemon);
}

#[test]
fn one_evaluator_per_store_a_daemon_keeps_cron_and_a_second_daemon_out() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), &[]);
    let config = common::write_config(dir.path(), 0, &alerts_config(smtp.port, ""));
    let daemon = Daemon::start(&config);
    let pid = daemon.child.id();

    let out = cli(&config, &["alerts", "run"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let said = text(&out.stderr);
    assert!(
        said.contains(&format!("a running Lookout (pid {pid} on ")) && said.contains("cron"),
        "{said}"
    );

    // A second daemon on the same data dir (another port: port 0 gets one) refuses to start.
    let second_config = dir.path().join("second.toml");
    std::fs::copy(&config, &second_config).unwrap();
    let out = common::output(
        common::lookout()
            .args(["serve", "--config"])
            .arg(&second_config),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!("another Lookout (pid {pid} on ")),
        "{}",
        text(&out.stderr)
    );

    // Killed without a chance to let go: the lease of a dead pid is taken over at once.
    let _ = daemon.stop_with(libc::SIGKILL);
    let report = json(&cli(&config, &["alerts", "run", "--json"], &[]));
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
}

/// Regression (issue 16, finding 8): `alerts history` said "(sent)" for a notice whose every
/// delivery attempt had failed.
#[test]
fn history_shows_a_notice_not_yet_delivered_as_pending_with_its_error() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let app = FlipServer::start(500);
    // The SMTP server is down: nothing can be delivered.
    let config = config(
        dir.path(),
        closed_port(),
        &http_check("app", &app.url(), ""),
    );
    cli(&config, &["check"], &[]);
    let report = json(&cli(&config, &["alerts", "run", "--json"], &[]));
    assert_eq!(report["firing"], 1, "{report}");
    assert_eq!(report["messages_sent"], 0, "{report}");

    let out = cli(&config, &["alerts", "history"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("app is critical  pending for ops-mail: 1 attempt, last error: "),
        "{shown}"
    );
    assert!(!shown.contains("(sent)"), "{shown}");

    let history = json(&cli(&config, &["alerts", "history", "--json"], &[]));
    let firing = &history[0];
    assert_eq!(firing["kind"], "firing", "{history}");
    assert_eq!(firing["sent"], false, "{history}");
    assert_eq!(firing["delivery"], "pending", "{history}");
    assert_eq!(firing["deliveries"][0]["notifier"], "ops-mail", "{history}");
    assert_eq!(firing["deliveries"][0]["attempts"], 1, "{history}");
}
