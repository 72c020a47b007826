//! `lookout serve` under a `Type=notify` unit, with the test in systemd's place: READY=1 only
//! once /healthz answers, WATCHDOG=1 while WATCHDOG_USEC is set, RELOADING=1 / READY=1 around
//! SIGHUP, STOPPING=1 on SIGTERM. And deploy/systemd/lookout.service passes
//! `systemd-analyze verify`.

use std::os::unix::net::UnixDatagram;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

/// Every datagram received so far, each as one string.
fn drain(socket: &UnixDatagram, into: &mut Vec<String>) {
    let mut buffer = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buffer) {
        into.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
    }
}

fn count(messages: &[String], line: &str) -> usize {
    messages
        .iter()
        .filter(|m| m.lines().any(|l| l == line))
        .count()
}

#[test]
fn serve_tells_systemd_ready_after_healthz_answers_pings_the_watchdog_and_says_stopping() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 0, "");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_nonblocking(true).unwrap();

    let mut child = lookout()
        .args(["serve", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000") // ping every 100 ms
        .stdout(Stdio::null())
        // A file, not a pipe nobody reads: collected for the secrets check at the end.
        .stderr(std::fs::File::create(dir.path().join("serve.log")).unwrap())
        .spawn()
        .unwrap();
    // Port 0: the address it reports in its log (before READY=1).
    let addr: std::net::SocketAddr;

    // Until READY=1 arrives, poll both; the moment it has arrived, /healthz must answer.
    let mut messages = Vec::new();
    let start = Instant::now();
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "lookout exited before READY=1"
        );
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no READY=1 within 20 s: {messages:?}"
        );
        drain(&socket, &mut messages);
        if count(&messages, "READY=1") > 0 {
            let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
            let reported = reported_address(&log)
                .unwrap_or_else(|| panic!("READY=1 before the address was logged: {log}"));
            addr = reported;
            // The port is bound before the daemon serves it (a first start hashes the admin
            // password in between: ~0.6 s in a debug build), so a READY=1 sent too early shows
            // as a /healthz that connects but answers late. Served, it answers in milliseconds.
            let asked = Instant::now();
            let health = http_get(reported, "/healthz");
            let took = asked.elapsed();
            assert_eq!(
                health.as_ref().map(|(status, _)| *status),
                Some(200),
                "READY=1 was sent but /healthz does not answer: {health:?}"
            );
            assert!(
                took < Duration::from_millis(400),
                "READY=1 was sent {took:?} before /healthz answered"
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let ready = messages
        .iter()
        .find(|m| m.lines().any(|l| l == "READY=1"))
        .unwrap();
    assert!(
        ready.contains(&format!("STATUS=serving on {addr}")),
        "{ready:?}"
    );
    assert!(
        messages.iter().all(|m| !m.contains("STOPPING=1")),
        "{messages:?}"
    );

    // The watchdog is pinged every half WATCHDOG_USEC, over and over.
    let before = count(&messages, "WATCHDOG=1");
    std::thread::sleep(Duration::from_millis(1000));
    drain(&socket, &mut messages);
    let pings = count(&messages, "WATCHDOG=1") - before;
    assert!(
        (5..=15).contains(&pings),
        "{pings} WATCHDOG=1 in 1 s at a 100 ms period: {messages:?}"
    );

    // SIGHUP: RELOADING=1, then READY=1 again.
    let readies = count(&messages, "READY=1");
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let start = Instant::now();
    while count(&messages, "READY=1") == readies {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no READY=1 after reload: {messages:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
        drain(&socket, &mut messages);
    }
    let reloading = messages
        .iter()
        .position(|m| m.lines().any(|l| l == "RELOADING=1"))
        .expect("RELOADING=1 before the new READY=1");
    assert!(
        messages[reloading]
            .lines()
            .any(|l| l.starts_with("MONOTONIC_USEC=")),
        "{messages:?}"
    );
    let last_ready = messages
        .iter()
        .rposition(|m| m.lines().any(|l| l == "READY=1"))
        .unwrap();
    assert!(reloading < last_ready, "{messages:?}");

    // SIGTERM: STOPPING=1, then a clean exit.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    collect_log("daemon", &log);
    assert!(status.success(), "{status}: {log}");
    drain(&socket, &mut messages);
    let stopping = messages
        .iter()
        .position(|m| m.lines().any(|l| l == "STOPPING=1"))
        .unwrap_or_else(|| panic!("no STOPPING=1: {messages:?}"));
    assert!(stopping > last_ready);
}

#[test]
fn an_abstract_notify_socket_gets_ready_too() {
    let _machine = crate::common::machine::shared();
    use std::os::linux::net::SocketAddrExt;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 0, "");
    // Unique on this machine: the pid and this test's temporary directory.
    let name = format!(
        "lookout-notify-test-{}-{}",
        std::process::id(),
        dir.path().file_name().unwrap().to_string_lossy()
    );
    let socket = UnixDatagram::bind_addr(
        &std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap(),
    )
    .unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut command = lookout();
    command
        .args(["serve", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", format!("@{name}"))
        .env_remove("WATCHDOG_USEC");
    let daemon = Daemon::spawn(command);
    let mut buffer = [0u8; 4096];
    let n = socket.recv(&mut buffer).expect("READY=1 within 20 s");
    let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
    assert!(message.starts_with("READY=1\n"), "{message:?}");
    // No watchdog was asked for: nothing else arrives while it runs.
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert!(socket.recv(&mut buffer).is_err(), "unexpected message");
    drop(daemon);
}

/// `systemd-analyze verify` on the shipped unit, with ExecStart pointed at the binary under
/// test (verify insists the executable exists). .ci/run installs systemd when it is missing.
#[test]
fn the_unit_file_passes_systemd_analyze_verify() {
    let _machine = crate::common::machine::shared();
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/systemd/lookout.service"
    ))
    .unwrap();
    for key in [
        "Type=notify",
        "User=lookout",
        "StateDirectory=lookout",
        "ConfigurationDirectory=lookout",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "WatchdogSec=",
        // Regression (issue 15): the default soft limit of 1,024 let idle web connections
        // take the descriptors the probes needed.
        "LimitNOFILE=65536",
    ] {
        assert!(unit.contains(key), "{key} missing from the unit");
    }
    let exec = unit
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .expect("ExecStart=");
    let binary = exec
        .trim_start_matches("ExecStart=")
        .split_whitespace()
        .next()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lookout.service");
    std::fs::write(&path, unit.replace(binary, env!("CARGO_BIN_EXE_lookout"))).unwrap();
    let output = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!("systemd-analyze cannot run ({e}): install systemd (.ci/run does)")
        });
    let said = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "systemd-analyze verify: {said}");
    // Warnings (unknown keys, bad values) do not change the exit code: none may appear about
    // our unit.
    let ours: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("lookout.service"))
        .collect();
    assert!(ours.is_empty(), "systemd-analyze verify: {said}");

    // The hardening, as systemd rates it: exposure at most 2.0 of 10 ("OK").
    let output = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "exposure above 2.0:\n{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}
