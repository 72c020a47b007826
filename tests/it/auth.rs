//! Access control with the real binary: the first admin, users and tokens from the CLI.

use crate::common::alerting;

use crate::common::*;
use std::time::Duration;

#[test]
fn first_start_leaves_the_admin_password_in_a_private_file_never_in_the_log() {
    let _machine = crate::common::machine::shared();
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 0, "");
    let daemon = Daemon::start(&config);
    // stderr is a pipe here, as under systemd: a log, so the password goes to a file.
    let file = dir.path().join("data/initial-admin-password");
    let log = daemon.log();
    assert!(
        log.contains("its password is in") && log.contains("initial-admin-password"),
        "the log says where the password is: {log}"
    );
    let password = std::fs::read_to_string(&file).unwrap();
    let password = password.trim_end();
    assert_eq!(password.len(), 20);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Without the token of the helpers, the API answers 401.
    let mut stream = std::net::TcpStream::connect(daemon.addr).unwrap();
    use std::io::{Read, Write};
    write!(
        stream,
        "GET /api/v1/status HTTP/1.0\r\nHost: {}\r\n\r\n",
        daemon.addr
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.contains(" 401 "), "{response}");
    // With it, 200; and the password from the file logs in.
    assert_eq!(daemon.get("/api/v1/status").0, 200);
    assert_eq!(
        form_login(daemon.addr, "admin", password),
        303,
        "the password in the file logs in"
    );
    let (_, log) = daemon.stop_with(libc::SIGTERM);
    assert!(!log.contains(password), "the password is never in the log");

    // A second start creates nobody.
    let daemon = Daemon::start(&config);
    assert!(!daemon.log().contains("created user"));
    drop(daemon);

    // Changing the password removes the file: it would only mislead.
    let mut child = lookout()
        .args([
            "--config",
            config.to_str().unwrap(),
            "user",
            "passwd",
            "admin",
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long new password 42\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(!file.exists(), "the first password's file is removed");
}

#[test]
fn users_and_tokens_from_the_cli() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 0, "");
    let config = config.to_str().unwrap();
    let with_stdin = |args: &[&str], input: &str| {
        let mut child = lookout()
            .args(["--config", config])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        finish(child)
    };
    let short = with_stdin(
        &["user", "add", "bob", "--role", "viewer", "--password-stdin"],
        "short\n",
    );
    assert!(!short.status.success());
    assert!(
        text(&short.stderr).contains("at least 12"),
        "{}",
        text(&short.stderr)
    );
    let added = with_stdin(
        &["user", "add", "bob", "--role", "viewer", "--password-stdin"],
        "a long password\n",
    );
    assert!(added.status.success(), "{}", text(&added.stderr));
    let passwd = with_stdin(
        &["user", "passwd", "bob", "--password-stdin"],
        "another long one\n",
    );
    assert!(passwd.status.success(), "{}", text(&passwd.stderr));
    let list = run(&["--config", config, "user", "list", "--json"], dir.path());
    let users: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert!(
        users
            .as_array()
            .is_some_and(|users| users.iter().any(|u| u["name"] == "bob")),
        "{}",
        text(&list.stdout)
    );
    assert!(!text(&list.stdout).contains("argon2"));
    assert!(
        run(&["--config", config, "user", "remove", "bob"], dir.path())
            .status
            .success()
    );
    assert!(
        !run(&["--config", config, "user", "remove", "bob"], dir.path())
            .status
            .success()
    );

    let created = run(
        &[
            "--config", config, "token", "create", "--role", "viewer", "--name", "ci",
        ],
        dir.path(),
    );
    assert!(created.status.success());
    let token = text(&created.stdout).trim().to_string();
    assert!(token.starts_with("lookout_"));
    let list = run(&["--config", config, "token", "list", "--json"], dir.path());
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert!(!text(&list.stdout).contains(&token));
    let id = listed[0]["id"].as_str().unwrap().to_string();
    assert!(
        run(&["--config", config, "token", "revoke", &id], dir.path())
            .status
            .success()
    );
}

#[test]
fn a_non_loopback_address_without_tls_is_refused() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lookout.toml");
    std::fs::write(&path, "[server]\nlisten = \"0.0.0.0:9898\"\n").unwrap();
    let output = run(&["config", "check", path.to_str().unwrap()], dir.path());
    assert!(!output.status.success());
    let err = text(&output.stderr);
    assert!(
        err.contains("server.tls_cert") && err.contains("insecure_http = true"),
        "{err}"
    );
}

#[test]
fn a_login_lockout_is_a_critical_security_alert_by_mail() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let smtp = alerting::SmtpServer::start(dir.path(), &[]);
    let config = write_config(dir.path(), 0, &alerting::alerts_config(smtp.port, ""));
    let password = "carol's long password";
    let mut child = lookout()
        .arg("--config")
        .arg(&config)
        .args([
            "user",
            "add",
            "carol",
            "--role",
            "viewer",
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    }
    let added = finish(child);
    assert!(added.status.success(), "{}", text(&added.stderr));
    let daemon = Daemon::start(&config);

    // Waits out the short delays (Retry-After of a few seconds) as a person would.
    let login = |password: &str| loop {
        match form_login_answer(daemon.addr, "carol", password) {
            (429, Some(wait)) if wait <= 5 => std::thread::sleep(Duration::from_secs(wait)),
            (status, _) => break status,
        }
    };
    // No mail before: the lockout is what is told.
    for attempt in 1..=4 {
        assert_eq!(login("wrong password 0"), 401, "attempt {attempt}");
    }
    assert_eq!(login(password), 303, "4 failures lock nobody out");
    for attempt in 1..=5 {
        assert_eq!(login("wrong password 1"), 401, "attempt {attempt}");
    }
    // Locked: even the right password is refused, with 429, for 15 minutes.
    assert_eq!(
        form_login_answer(daemon.addr, "carol", password),
        (429, Some(900))
    );

    let mails = smtp.wait_for(1, Duration::from_secs(30));
    let security: Vec<_> = mails
        .iter()
        .filter(|m| alerting::subject(m).contains("Security"))
        .collect();
    assert_eq!(security.len(), 1, "{mails:#?}");
    let subject = alerting::subject(security[0]);
    assert!(subject.contains("[CRITICAL]"), "{subject}");
    assert!(subject.contains("5 failed logins for carol"), "{subject}");

    let events = daemon.json("/api/v1/events?from=-1h");
    let events = events["events"].as_array().unwrap();
    let lockout = events
        .iter()
        .find(|e| e["kind"] == "security")
        .unwrap_or_else(|| panic!("no security event in {events:#?}"));
    assert_eq!(lockout["subject"], "login");
    let message = lockout["message"].as_str().unwrap();
    assert!(
        message.contains("5 failed logins for carol from 127.0.0.1"),
        "{message}"
    );
    // The alert is firing, in the security category.
    let alerts = daemon.json("/api/v1/alerts");
    let alert = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "security_incident")
        .unwrap_or_else(|| panic!("no security_incident alert in {alerts:#}"))
        .clone();
    assert_eq!(alert["state"], "firing", "{alert:#}");
    assert_eq!(alert["severity"], "critical", "{alert:#}");
    assert_eq!(alert["labels"]["check"], "security:login", "{alert:#}");
    // Still locked after the mail went out.
    assert_eq!(login(password), 429);
}

#[test]
fn on_a_terminal_the_first_admin_password_is_shown_there_and_no_file_is_left() {
    let _machine = crate::common::machine::shared();
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 0, "");
    // script(1) (bsdutils, essential on Debian) gives the daemon a terminal as stdout/stderr.
    let serve = format!(
        "{} serve --config {}",
        env!("CARGO_BIN_EXE_lookout"),
        config.display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qfec", &serve, "/dev/null"])
        .env_remove("LOOKOUT_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (bsdutils)");
    let (lines, received) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let shown = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match received.recv_timeout(left) {
            Ok(line) if line.contains("created user \"admin\" with password") => break line,
            Ok(line) => seen.push(line),
            Err(_) => panic!("no password shown on the terminal: {seen:#?}"),
        }
    };
    // The daemon is script's child; a SIGHUP through the terminal would only reload it.
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id())).unwrap();
    for pid in children.split_whitespace() {
        unsafe { libc::kill(pid.parse().unwrap(), libc::SIGTERM) };
    }
    let _ = child.wait();
    let password = shown
        .split("with password ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap();
    assert_eq!(password.len(), 20, "{shown}");
    assert!(
        !dir.path().join("data/initial-admin-password").exists(),
        "shown on the terminal, so not left in a file"
    );
}

/// Logs in through the dashboard's form; the HTTP status of the answer (303 when it worked).
fn form_login(addr: std::net::SocketAddr, user: &str, password: &str) -> u16 {
    form_login_answer(addr, user, password).0
}

/// The status and the Retry-After (seconds) of a login through the dashboard's form.
fn form_login_answer(addr: std::net::SocketAddr, user: &str, password: &str) -> (u16, Option<u64>) {
    use std::io::{Read, Write};
    let body = format!("user={user}&password={}", password.replace(' ', "+"));
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /login HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let retry_after = response
        .lines()
        .find_map(|l| l.strip_prefix("retry-after: "))
        .and_then(|v| v.trim().parse().ok());
    (status, retry_after)
}
