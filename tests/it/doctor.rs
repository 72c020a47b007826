//! `lookout doctor` against real peers: a running `lookout serve`, an HTTP target, PostgreSQL,
//! Redis, a log file, a webhook receiver and an SMTP server with AUTH (aiosmtpd), and real
//! Prometheus servers. A healthy setup is all ✓ and exit 0 (and `--send-test` really delivers);
//! each broken setup gives its one ✗, in plain words with its hint, and exit 1.

use crate::common::{self, alerting, prometheus};

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::common::{Daemon, lookout, text};
use alerting::{FlipServer, HookReceiver, SmtpServer, closed_port, http_check, poll};
use prometheus::Prometheus;
use serde_json::Value;

const PG: &str = "postgres://postgres@127.0.0.1:5432/test";
/// A Redis database of its own: other tests flush theirs.
const REDIS: &str = "redis://127.0.0.1:6379/13";
const SMTP_USER: &str = "ops@example.org";
const SMTP_PASSWORD: &str = "right-password-42";

/// A config: `[server]` with `server`, the data dir, slow-ish system collection whose
/// thresholds a healthy host does not reach, then `extra`.
fn config_text(server: &str, data: &Path, extra: &str) -> String {
    format!(
        "[server]\n{server}\n\n[storage]\npath = \"{}\"\nflush_interval = \"1s\"\n\n\
         [system]\ninterval = \"3s\"\n\n[system.thresholds]\ncpu_warning = \"99%\"\n\
         cpu_critical = \"100%\"\nmemory_warning = \"99%\"\nmemory_critical = \"100%\"\n\
         disk_warning = \"99%\"\ndisk_critical = \"100%\"\n{extra}",
        data.display()
    )
}

/// Writes `text` to `path` with `mode`.
fn write_file(path: &Path, text: &str, mode: u32) -> PathBuf {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.to_path_buf()
}

/// `lookout doctor --config CONFIG ARGS...` with `env`: (exit code, stdout, stderr).
fn doctor(config: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = common::output(
        lookout()
            .arg("doctor")
            .arg("--config")
            .arg(config)
            .args(args)
            .envs(env.iter().copied()),
    );
    (
        output.status.code().unwrap_or(-1),
        text(&output.stdout),
        text(&output.stderr),
    )
}

fn doctor_json(config: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, Vec<Value>) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = doctor(config, &all, env);
    assert_eq!(stderr, "", "nothing on stderr when it is not a terminal");
    let findings: Vec<Value> =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    (code, findings)
}

fn find<'a>(findings: &'a [Value], item: &str) -> &'a Value {
    findings
        .iter()
        .find(|f| f["item"] == item)
        .unwrap_or_else(|| panic!("no finding {item:?} in {findings:#?}"))
}

fn items_with(findings: &[Value], status: &str) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f["status"] == status)
        .map(|f| f["item"].as_str().unwrap().to_string())
        .collect()
}

/// The notifier and check part of the healthy setup.
fn healthy_extra(app: &FlipServer, hook: &HookReceiver, smtp: &SmtpServer, log: &Path) -> String {
    format!(
        "{app}\n[[check]]\nname = \"db\"\ntype = \"postgres\"\ndsn = \"{PG}\"\ninterval = \"5s\"\n\n\
         [[check]]\nname = \"cache\"\ntype = \"redis\"\nurl = \"{REDIS}\"\ninterval = \"5s\"\n\n\
         [[check]]\nname = \"applog\"\ntype = \"log\"\npath = \"{log}\"\ninterval = \"5s\"\n\
         [[check.pattern]]\nname = \"errors\"\nregex = \"ERROR\"\n\n\
         [[notifier]]\nname = \"ops-mail\"\ntype = \"email\"\nsmtp = \"smtp://127.0.0.1:{smtp}\"\n\
         username = \"{SMTP_USER}\"\npassword = \"${{DOCTOR_SMTP_PASSWORD}}\"\n\
         from = \"lookout@example.org\"\nto = [\"{SMTP_USER}\"]\ntimeout = \"5s\"\n\n\
         [[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://{hook}/hook\"\n\
         secret = \"${{DOCTOR_HOOK_SECRET}}\"\ntimeout = \"5s\"\n",
        app = http_check("app", &app.url(), ""),
        smtp = smtp.port,
        hook = hook.addr,
        log = log.display(),
    )
}

const HOOK_SECRET: &str = "hook-secret-0123";

const ENV: [(&str, &str); 2] = [
    ("DOCTOR_SMTP_PASSWORD", SMTP_PASSWORD),
    ("DOCTOR_HOOK_SECRET", HOOK_SECRET),
];

/// `lookout serve --config CONFIG` with `env`, on a port of its choosing (`listen` port 0),
/// which is then written into CONFIG: the doctor finds the dashboard through it.
fn serve(config: &Path, env: &[(&str, &str)]) -> Daemon {
    let mut command = lookout();
    command
        .args(["serve", "--config"])
        .arg(config)
        .envs(env.iter().copied());
    let daemon = Daemon::spawn(command);
    daemon.pin_listen(config);
    daemon
}

/// Waits until the daemon's store has data the doctor finds without gaps.
fn wait_for_data(config: &Path, env: &[(&str, &str)]) {
    poll(Duration::from_secs(30), "the doctor finds data", || {
        let (_, findings) = doctor_json(config, &[], env);
        (find(&findings, "data")["status"] == "ok").then_some(())
    });
}

fn change_admin_password(config: &Path, env: &[(&str, &str)]) {
    let mut child = lookout()
        .args(["user", "passwd", "admin", "--password-stdin", "--config"])
        .arg(config)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a-new-long-admin-password\n")
        .unwrap();
    assert!(common::finish(child).status.success());
}

#[test]
fn a_healthy_setup_is_all_ticks_and_send_test_really_delivers() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let app = FlipServer::start(200);
    let hook = HookReceiver::start(HOOK_SECRET);
    let smtp = SmtpServer::start(
        dir.path(),
        &["--user", SMTP_USER, "--password", SMTP_PASSWORD],
    );
    let log = dir.path().join("app.log");
    std::fs::write(&log, "started\n").unwrap();
    let config = write_file(
        &dir.path().join("lookout.toml"),
        &config_text(
            "listen = \"127.0.0.1:0\"",
            &dir.path().join("data"),
            &healthy_extra(&app, &hook, &smtp, &log),
        ),
        0o600,
    );
    let daemon = serve(&config, &ENV);
    let port = daemon.port();
    wait_for_data(&config, &ENV);

    // The first start made "admin" with a generated password: flagged until it is changed.
    let (_, findings) = doctor_json(&config, &[], &ENV);
    let users = find(&findings, "security: users");
    assert_eq!(users["status"], "warn", "{users}");
    assert!(
        users["detail"]
            .as_str()
            .unwrap()
            .starts_with("user \"admin\" still has its first password"),
        "{users}"
    );
    change_admin_password(&config, &ENV);

    let (code, stdout, stderr) = doctor(&config, &[], &ENV);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(stderr, "");
    let (json_code, findings) = doctor_json(&config, &[], &ENV);
    assert_eq!(json_code, 0);
    // The host's CPU is measured for real: on a saturated CI machine it may warn, which is
    // the only thing allowed not to be ✓.
    let not_ok: Vec<String> = findings
        .iter()
        .filter(|f| f["status"] != "ok" && f["item"] != "check cpu")
        .map(|f| f.to_string())
        .collect();
    assert!(not_ok.is_empty(), "{not_ok:#?}");
    for item in [
        "config",
        "data dir",
        "check memory",
        "check app",
        "check db",
        "check cache",
        "check applog",
        "notifier ops-mail",
        "notifier hook",
        "dashboard",
        "data",
        "security: listen",
        "security: config file",
        "security: users",
    ] {
        find(&findings, item);
    }
    // --json and the text say the same, one line per finding and a summary.
    assert_eq!(stdout.lines().count(), findings.len() + 1, "{stdout}");
    for finding in &findings {
        let mark = if finding["status"] == "ok" {
            "✓"
        } else {
            "⚠"
        };
        let start = format!("{mark} {}: ", finding["item"].as_str().unwrap());
        assert!(
            stdout.lines().any(|l| l.starts_with(&start)),
            "{start:?} not in:\n{stdout}"
        );
    }
    assert_eq!(
        find(&findings, "notifier ops-mail")["detail"],
        format!(
            "SMTP 127.0.0.1:{} accepted the login as {SMTP_USER} (nothing sent; --send-test sends a test message)",
            smtp.port
        )
    );
    assert_eq!(
        find(&findings, "notifier hook")["detail"],
        format!(
            "http://{} accepts connections (nothing sent; --send-test sends a test message)",
            hook.addr
        )
    );
    assert_eq!(
        find(&findings, "config")["detail"],
        format!("{} is valid (4 checks, 2 notifiers)", config.display())
    );
    assert!(
        find(&findings, "dashboard")["detail"]
            .as_str()
            .unwrap()
            .starts_with(&format!("answers at http://127.0.0.1:{port} (Lookout ")),
        "{findings:#?}"
    );
    assert!(!stdout.contains(SMTP_PASSWORD));
    assert!(
        smtp.received().is_empty(),
        "nothing is sent without --send-test"
    );
    let tests_received = |hook: &HookReceiver| {
        hook.received()
            .into_iter()
            .filter(|r| r.body.contains("lookout_test"))
            .collect::<Vec<_>>()
    };
    assert!(tests_received(&hook).is_empty());

    let (code, stdout, _) = doctor(&config, &["--send-test"], &ENV);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "✓ notifier ops-mail: test message sent (email to {SMTP_USER})"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "✓ notifier hook: test message sent (POST to http://{})",
            hook.addr
        )),
        "{stdout}"
    );
    let mails = smtp.wait_for(1, Duration::from_secs(10));
    assert!(
        alerting::subject(&mails[0]).contains("Test message from Lookout"),
        "{mails:?}"
    );
    assert_eq!(mails[0]["authenticated"], true);
    let hooks = tests_received(&hook);
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert!(
        hooks[0].verified,
        "the test message is signed like any other"
    );
}

/// One broken thing on top of a healthy base served by a running daemon: the doctor names it
/// alone, in plain words and with its hint, and exits 1.
struct Broken<'a> {
    name: &'a str,
    server: String,
    data: PathBuf,
    extra: String,
    mode: u32,
    env: Vec<(&'a str, &'a str)>,
    item: &'a str,
    detail: String,
    hint: &'a str,
    never_shown: Option<&'a str>,
}

#[test]
fn each_broken_setup_gives_its_cross_in_plain_words() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let app = FlipServer::start(200);
    let base_check = http_check("app", &app.url(), "");
    let base = write_file(
        &dir.path().join("base.toml"),
        &config_text("listen = \"127.0.0.1:0\"", &data, &base_check),
        0o600,
    );
    let daemon = Daemon::start(&base);
    daemon.pin_listen(&base);
    let port = daemon.port();
    let base_server = format!("listen = \"127.0.0.1:{port}\"");
    wait_for_data(&base, &[]);
    let (code, findings) = doctor_json(&base, &[], &[]);
    assert_eq!(code, 0, "the base is healthy: {findings:#?}");

    let closed = closed_port();
    let log_dir = dir.path().join("app.log");
    std::fs::create_dir(&log_dir).unwrap();
    let smtp = SmtpServer::start(
        dir.path(),
        &["--user", SMTP_USER, "--password", SMTP_PASSWORD],
    );
    let open_data = dir.path().join("open-data");
    std::fs::create_dir(&open_data).unwrap();
    std::fs::set_permissions(&open_data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let token = common::secret("literal-metrics-token-0123");

    let cases = [
        Broken {
            name: "a check against a closed port",
            server: base_server.clone(),
            data: data.clone(),
            extra: format!(
                "{base_check}\n[[check]]\nname = \"gone\"\ntype = \"tcp\"\n\
                 address = \"127.0.0.1:{closed}\"\ntimeout = \"1s\"\nretries = 0\n"
            ),
            mode: 0o600,
            env: Vec::new(),
            item: "check gone",
            detail: format!("connection refused to 127.0.0.1:{closed}"),
            hint: "nothing listens there: is the service running",
            never_shown: None,
        },
        Broken {
            // Tests run as root, which reads any file: a directory is unreadable as a log.
            name: "a log check on a path it cannot read",
            server: base_server.clone(),
            data: data.clone(),
            extra: format!(
                "{base_check}\n[[check]]\nname = \"applog\"\ntype = \"log\"\npath = \"{}\"\nretries = 0\n\
                 [[check.pattern]]\nname = \"errors\"\nregex = \"ERROR\"\n",
                log_dir.display()
            ),
            mode: 0o600,
            env: Vec::new(),
            item: "check applog",
            detail: format!("cannot read {}: Is a directory", log_dir.display()),
            hint: "the path names a directory",
            never_shown: None,
        },
        Broken {
            name: "SMTP with a wrong password",
            server: base_server.clone(),
            data: data.clone(),
            extra: format!(
                "{base_check}\n[[notifier]]\nname = \"ops-mail\"\ntype = \"email\"\n\
                 smtp = \"smtp://127.0.0.1:{}\"\nusername = \"{SMTP_USER}\"\n\
                 password = \"${{DOCTOR_WRONG_PASSWORD}}\"\nfrom = \"lookout@example.org\"\n\
                 to = [\"{SMTP_USER}\"]\ntimeout = \"5s\"\n",
                smtp.port
            ),
            mode: 0o600,
            env: vec![("DOCTOR_WRONG_PASSWORD", common::secret("wrong-password-99"))],
            item: "notifier ops-mail",
            detail: format!(
                "SMTP 127.0.0.1:{}: authentication failed for {SMTP_USER} (535 5.7.8 Authentication credentials invalid)",
                smtp.port
            ),
            hint: "alerts not sent: check the SMTP settings username and password (Gmail and Microsoft 365 need an app password",
            never_shown: Some("wrong-password-99"),
        },
        Broken {
            name: "a data dir others can read",
            server: base_server.clone(),
            data: open_data.clone(),
            extra: base_check.clone(),
            mode: 0o600,
            env: Vec::new(),
            item: "data dir",
            detail: format!(
                "{} is mode 0755: other users can read the history, password hashes and sessions; expected 0700",
                open_data.display()
            ),
            hint: "chmod 700",
            never_shown: None,
        },
        Broken {
            name: "a world-readable config with a password in it",
            server: format!("{base_server}\nmetrics_token = \"{token}\""),
            data: data.clone(),
            extra: base_check.clone(),
            mode: 0o644,
            env: Vec::new(),
            item: "security: config file",
            detail: "is mode 0644, readable by every user, and holds secrets written literally: server.metrics_token".into(),
            hint: "chmod 600",
            never_shown: Some(token),
        },
        Broken {
            name: "plain HTTP on every interface",
            server: format!("listen = \"0.0.0.0:{port}\"\ninsecure_http = true"),
            data: data.clone(),
            extra: base_check.clone(),
            mode: 0o600,
            env: Vec::new(),
            item: "security: listen",
            detail: format!(
                "dashboard and API served over plain HTTP on 0.0.0.0:{port} (server.insecure_http = true): passwords and session cookies cross the network readable"
            ),
            hint: "set server.tls_cert and server.tls_key",
            never_shown: None,
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        let config = write_file(
            &dir.path().join(format!("broken-{i}.toml")),
            &config_text(&case.server, &case.data, &case.extra),
            case.mode,
        );
        let (code, findings) = doctor_json(&config, &[], &case.env);
        assert_eq!(code, 1, "{}: {findings:#?}", case.name);
        assert_eq!(
            items_with(&findings, "fail"),
            [case.item],
            "{}: {findings:#?}",
            case.name
        );
        let found = find(&findings, case.item);
        let detail = found["detail"].as_str().unwrap();
        assert!(
            detail.ends_with(&case.detail),
            "{}: {detail:?} should end with {:?}",
            case.name,
            case.detail
        );
        let hint = found["hint"].as_str().unwrap();
        assert!(hint.contains(case.hint), "{}: hint {hint:?}", case.name);

        let (text_code, stdout, _) = doctor(&config, &[], &case.env);
        assert_eq!(text_code, 1);
        let line = format!("✗ {}: {detail} — hint: {hint}", case.item);
        assert!(
            stdout.lines().any(|l| l == line),
            "{}: {line:?} not in\n{stdout}",
            case.name
        );
        if let Some(secret) = case.never_shown {
            assert!(!stdout.contains(secret), "{}: {stdout}", case.name);
            assert!(!serde_json::to_string(&findings).unwrap().contains(secret));
        }
    }
}

#[test]
fn prometheus_scraping_us_is_a_tick_and_one_that_does_not_is_a_cross() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        &dir.path().join("lookout.toml"),
        &config_text("listen = \"127.0.0.1:0\"", &dir.path().join("data"), ""),
        0o600,
    );
    let daemon = Daemon::start(&config);
    daemon.pin_listen(&config);
    let port = daemon.port();
    let scraping = Prometheus::start(daemon.addr);
    let elsewhere_port = closed_port();
    let elsewhere = Prometheus::start(format!("127.0.0.1:{elsewhere_port}").parse().unwrap());
    poll(
        Duration::from_secs(30),
        "Prometheus scrapes Lookout",
        || {
            let (_, result) = scraping.query("up").ok()?;
            (result[0]["value"][1] == "1").then_some(())
        },
    );

    let url = format!("http://{}", scraping.addr);
    let (_, findings) = doctor_json(&config, &["--prometheus", &url], &[]);
    assert_eq!(
        *find(&findings, "prometheus"),
        serde_json::json!({
            "item": "prometheus",
            "status": "ok",
            "detail": format!("{url} scrapes this Lookout: job \"lookout\", instance \"127.0.0.1:{port}\", up"),
            "hint": null,
        })
    );

    poll(
        Duration::from_secs(30),
        "the other Prometheus has its up",
        || {
            let (has_data, _) = elsewhere.query("up").ok()?;
            has_data.then_some(())
        },
    );
    let url = format!("http://{}", elsewhere.addr);
    let (code, findings) = doctor_json(&config, &["--prometheus", &url], &[]);
    assert_eq!(code, 1);
    let found = find(&findings, "prometheus");
    assert_eq!(found["status"], "fail");
    assert_eq!(
        found["detail"],
        format!(
            "{url} does not scrape this Lookout (no target on port {port} of this host among its 1 target: 127.0.0.1:{elsewhere_port})"
        )
    );
    assert!(
        found["hint"]
            .as_str()
            .unwrap()
            .starts_with(&format!("add a scrape job for this host's port {port}")),
        "{found}"
    );

    let closed = format!("http://127.0.0.1:{}", closed_port());
    let (_, findings) = doctor_json(&config, &["--prometheus", &closed], &[]);
    assert_eq!(
        find(&findings, "prometheus")["detail"],
        format!(
            "cannot ask Prometheus at {closed}: connection refused to {}",
            closed.trim_start_matches("http://")
        )
    );
    drop(daemon);
}

#[test]
fn a_dashboard_over_tls_is_reached_and_its_certificate_read() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    common::tls::make_certs(dir.path(), 30);
    let config = write_file(
        &dir.path().join("lookout.toml"),
        &config_text(
            &format!(
                "listen = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
                dir.path().join("leaf.pem").display(),
                dir.path().join("leaf.key").display()
            ),
            &dir.path().join("data"),
            "",
        ),
        0o600,
    );
    let mut command = lookout();
    command.args(["serve", "--config"]).arg(&config);
    let client = common::https::client_config(&dir.path().join("ca.pem"));
    let daemon = Daemon::spawn_tls(command, &client);
    daemon.pin_listen(&config);
    let port = daemon.port();

    let (_, findings) = doctor_json(&config, &[], &[]);
    let dashboard = find(&findings, "dashboard");
    assert_eq!(dashboard["status"], "ok", "{dashboard}");
    let detail = dashboard["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!("answers at https://127.0.0.1:{port} (Lookout "))
            // 30 days from the second openssl made it: 30 while that second lasts, then 29.
            && (detail.ends_with("; certificate expires in 29 days")
                || detail.ends_with("; certificate expires in 30 days")),
        "{detail}"
    );

    // As users reach it: the private CA is not among the public roots, so browsers warn too.
    let url = format!("https://localhost:{port}");
    let (code, findings) = doctor_json(&config, &["--dashboard", &url], &[]);
    assert_eq!(code, 1);
    let dashboard = find(&findings, "dashboard");
    assert_eq!(dashboard["status"], "fail");
    let detail = dashboard["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!("no answer at {url}: TLS: certificate not trusted")),
        "{detail}"
    );
    assert!(
        dashboard["hint"]
            .as_str()
            .unwrap()
            .starts_with("browsers will not trust it either"),
        "{dashboard}"
    );
}

#[test]
fn an_invalid_config_is_one_cross_with_its_place() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        &dir.path().join("lookout.toml"),
        "[server]\nlisten = \"nowhere\"\n",
        0o600,
    );
    let (code, findings) = doctor_json(&config, &[], &[]);
    assert_eq!(code, 1);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["item"], "config");
    assert_eq!(findings[0]["status"], "fail");
    let detail = findings[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("{}:2:10", config.display())),
        "{detail}"
    );
}
