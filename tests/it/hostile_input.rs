//! Hostile input, as a user would notice it (issue 15, findings 5 to 9), against the real
//! binary: API parameters out of range are 400s naming the field and the accepted range
//! (never a dropped connection or gigabytes of memory); silences are capped at a year and
//! listing survives any stored value; `config check` refuses durations and ports `serve`
//! could not use; check URLs' query tokens are never printed; a SQL server that is down is
//! "connection refused" at once, with the doctor's hint for it.

use crate::common::{self, alerting};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{Daemon, lookout, output, text, write_config};
use alerting::{closed_port, http};
use serde_json::Value;

/// `lookout ARGS... --config CONFIG`: (exit code, stdout, stderr).
fn run(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = output(lookout().args(args).arg("--config").arg(config));
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// Writes `body` as `lookout.toml` in `dir` (storage in `dir/data`).
fn config_file(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("lookout.toml");
    std::fs::write(&path, body).unwrap();
    path
}

/// A kibibyte figure of /proc/PID/status (`VmRSS`, `VmHWM`).
fn proc_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

/// A 400 whose JSON error starts with `field:` and says what is accepted.
fn assert_400(daemon: &Daemon, path: &str, field: &str, accepted: &str) {
    let answer = common::http_get(daemon.addr, path);
    let Some((status, body)) = answer else {
        panic!("GET {path}: the connection was dropped (a panic in the handler?)");
    };
    assert_eq!(status, 400, "GET {path}: {body}");
    let error: Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    let message = error["error"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(&format!("{field}: ")) && message.contains(accepted),
        "GET {path}: expected an error on {field} saying {accepted:?}, got {message:?}"
    );
}

/// Finding 5: each of these crashed a handler (connection dropped, backtrace in the log) or
/// allocated without bound on the old code; now each is a 400 with the field and the range.
#[test]
fn out_of_range_api_parameters_are_400s_naming_field_and_range() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 0, "");
    let daemon = Daemon::start(&config);
    let range = "1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z";
    for (path, field, accepted) in [
        // The reported ones.
        (
            "/api/v1/series?name=cpu_usage_ratio&to=253402300800",
            "to",
            range,
        ),
        ("/api/v1/checks/x/history?to=99999999999999999", "to", range),
        (
            "/api/v1/maintenance/report?since=99999999999999999",
            "since",
            range,
        ),
        ("/api/v1/maintenance/report?since=-3000000d", "since", range),
        // The audit's: every time parameter of every handler, past both ends.
        (
            "/api/v1/series?name=x&from=-99999999999999999999d",
            "from",
            range,
        ),
        ("/api/v1/series?name=x&from=1e300", "from", range),
        (
            "/api/v1/events?to=10000-01-01T00:00:00Z",
            "to",
            "not a time",
        ),
        ("/api/v1/events?from=-600000000000000000s", "from", range),
        ("/api/v1/checks/x/history?from=-3000000d", "from", range),
        ("/api/v1/alerts/history?since=1e20", "since", range),
        ("/api/v1/maintenance?since=-3000000d", "since", range),
        // A report lists every day of its range: at most 10 years.
        (
            "/api/v1/maintenance/report?since=-4000d",
            "since",
            "3660 days",
        ),
        ("/api/v1/maintenance/report?since=0", "since", "3660 days"),
        // Counts and flags.
        (
            "/api/v1/series?name=x&max_points=99999999999999999999",
            "max_points",
            "1 to 10000",
        ),
        ("/api/v1/events?limit=0", "limit", "1 to 10000"),
        ("/api/v1/alerts/history?limit=-1", "limit", "1 to 10000"),
        ("/api/v1/silences?all=maybe", "all", "true or false"),
        ("/api/v1/outbox?all=2", "all", "true or false"),
    ] {
        assert_400(&daemon, path, field, accepted);
    }
    // The daemon is unharmed and said nothing of a panic.
    assert_eq!(daemon.get("/healthz").0, 200);
    let (status, _) = daemon.get("/api/v1/maintenance/report?since=-3650d");
    assert_eq!(status, 200, "the longest report allowed is answered");
    assert!(!daemon.log().contains("panicked"), "{}", daemon.log());
}

/// Finding 5: `maintenance/report?since=-3000000d` took 0.93 GB. The daemon's peak RSS stays
/// within 64 MB of its start through the longest reports it answers and the refused ones.
#[test]
fn huge_report_ranges_keep_the_daemon_small() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 0, "");
    let daemon = Daemon::start(&config);
    let pid = daemon.child.id();
    let baseline = proc_kib(pid, "VmRSS");
    for since in ["-3000000d", "-3650d", "0", "-36500d", "-3650d"] {
        let _ = common::http_get(
            daemon.addr,
            &format!("/api/v1/maintenance/report?since={since}"),
        );
    }
    let peak = proc_kib(pid, "VmHWM");
    assert!(
        peak < baseline + 64 * 1024,
        "peak RSS {peak} kB, {} kB above the start ({baseline} kB)",
        peak - baseline
    );
}

/// Finding 6: a silence of 3,000,000 days was stored and then broke `silence list` (exit 101)
/// and `GET /api/v1/silences` for everyone. Silences are capped at a year via the CLI and the
/// API, with the cap in the error; a silence stored with an absurd end (an older version)
/// lists fine.
#[test]
fn silences_are_capped_at_a_year_and_listing_survives_absurd_stored_ends() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 0, "");
    for length in ["3000000d", "366d", "99999999999999999999999d"] {
        let (code, stdout, stderr) = run(
            &config,
            &[
                "silence",
                "add",
                "check=\"x\"",
                "--for",
                length,
                "--comment",
                "x",
            ],
        );
        assert_eq!(code, 2, "silence add --for {length}: {stdout}{stderr}");
        assert!(
            stderr.contains("at most 365d (1 year)"),
            "--for {length}: {stderr}"
        );
    }
    let (code, _, stderr) = run(
        &config,
        &[
            "silence",
            "add",
            "check=\"x\"",
            "--until",
            "+3000000d",
            "--comment",
            "x",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = run(
        &config,
        &[
            "silence",
            "add",
            "check=\"x\"",
            "--for",
            "365d",
            "--comment",
            "a year is fine",
        ],
    );
    assert_eq!(code, 0, "{stderr}");

    // A silence from an older version, ending past year 9999 (and one before 1970).
    let db = dir.path().join("data").join("lookout.db");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use sqlx::Connection;
        let url = format!("sqlite://{}", db.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(
            "INSERT INTO silences (id, matchers, starts_ms, ends_ms, author, comment, created_ms) VALUES \
             ('old1', '[\"check=\\\"x\\\"\"]', 1764237600000, 9223372036854775807, 'ops', 'old', 1764237600000), \
             ('old2', '[\"check=\\\"y\\\"\"]', -9223372036854775808, 259200000000000000, 'ops', 'old', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    });
    let (code, stdout, stderr) = run(&config, &["silence", "list", "--all"]);
    assert_eq!(code, 0, "silence list: {stdout}{stderr}");
    assert!(
        stdout.contains("old1") && stdout.contains("9999-12-31"),
        "{stdout}"
    );
    let (code, stdout, stderr) = run(&config, &["silence", "list", "--json"]);
    assert_eq!(code, 0, "silence list --json: {stderr}");
    let listed: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        listed.to_string().contains("9999-12-31T23:59:59.999Z"),
        "{listed}"
    );

    let daemon = Daemon::start(&config);
    let (status, body) = http(
        daemon.addr,
        "POST",
        "/api/v1/silences",
        Some(r#"{"matchers":["check=\"x\""],"for":"3000000d","author":"ops","comment":"x"}"#),
    );
    assert_eq!(status, 400, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    let message = error["error"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("for: ") && message.contains("at most 365d (1 year)"),
        "{message}"
    );
    let (status, body) = http(
        daemon.addr,
        "POST",
        "/api/v1/silences",
        Some(
            r#"{"matchers":["check=\"x\""],"ends_at":"9999-12-31T00:00:00Z","author":"ops","comment":"x"}"#,
        ),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("at most 365d (1 year)"), "{body}");
    let listed = daemon.json("/api/v1/silences?all=true");
    let silences = listed["silences"].as_array().unwrap();
    assert_eq!(silences.len(), 3, "{listed}");
    assert!(
        listed.to_string().contains("9999-12-31T23:59:59.999Z"),
        "{listed}"
    );
    assert!(!daemon.log().contains("panicked"), "{}", daemon.log());
}

/// The CLI takes the same values as the API: a huge `--since` is "everything" or a clear
/// error, never an overflow (`alerts history` subtracted it from now unchecked).
#[test]
fn cli_ranges_never_overflow() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 0, "");
    let (code, stdout, stderr) = run(&config, &["alerts", "history", "--since", "200000000000d"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let (code, _, stderr) = run(&config, &["report", "--since", "4000d"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("at most 3660d (10 years)"), "{stderr}");
    let (code, _, stderr) = run(&config, &["report", "--since", "3650d", "--json"]);
    assert_eq!(code, 0, "{stderr}");
}

/// `config check` on `body`: (exit code, stdout + stderr).
fn config_check(dir: &Path, body: &str, json: bool) -> (i32, String) {
    let path = config_file(dir, body);
    let mut command = lookout();
    command.args(["config", "check"]).arg(&path);
    if json {
        command.arg("--json");
    }
    let out = output(&mut command);
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

/// Finding 7: `config check` passed `interval = "6148914691236517206s"` and `serve` then
/// panicked ("overflow when multiplying duration by scalar"); a URL port past 65535 was
/// accepted and the check connected to port 80. Both are refused with file:line:column.
#[test]
fn config_check_refuses_overflowing_durations_and_invalid_ports_with_their_place() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str)] = &[
        (
            "[system]\ninterval = \"6148914691236517206s\"\n",
            "lookout.toml:2:12: system.interval: \"6148914691236517206s\" is too large a duration; expected at most 36500d (100 years)",
        ),
        (
            "[[check]]\nname = \"app\"\ntype = \"http\"\nurl = \"http://127.0.0.1:5000/\"\ninterval = \"6148914691236517206s\"\n",
            "lookout.toml:5:12: check \"app\".interval: \"6148914691236517206s\" is too large a duration; expected at most 36500d (100 years)",
        ),
        (
            "[[check]]\nname = \"app\"\ntype = \"http\"\nurl = \"http://127.0.0.1:99999999/\"\n",
            "lookout.toml:4:7: check \"app\".url: \"http://127.0.0.1:99999999/\" has an invalid port \"99999999\"; expected a port from 1 to 65535",
        ),
        (
            "[[check]]\nname = \"app\"\ntype = \"http\"\nurl = \"http://127.0.0.1:65616/\"\n",
            "lookout.toml:4:7: check \"app\".url: \"http://127.0.0.1:65616/\" has an invalid port \"65616\"; expected a port from 1 to 65535",
        ),
        (
            "[[check]]\nname = \"m\"\ntype = \"prometheus\"\nurl = \"http://127.0.0.1:0/metrics\"\n",
            "lookout.toml:4:7: check \"m\".url: \"http://127.0.0.1:0/metrics\" has an invalid port \"0\"",
        ),
        (
            "[[check]]\nname = \"db\"\ntype = \"postgres\"\ndsn = \"postgres://u:pw@127.0.0.1:70000/test\"\n",
            "lookout.toml:4:7: check \"db\".dsn: has an invalid port \"70000\"; expected a port from 1 to 65535",
        ),
        (
            "[[check]]\nname = \"t\"\ntype = \"tcp\"\naddress = \"127.0.0.1:65536\"\n",
            "lookout.toml:4:11: check \"t\".address: \"127.0.0.1:65536\" has an invalid port \"65536\"",
        ),
        (
            "[[check]]\nname = \"app\"\ntype = \"http\"\nurl = \"http://127.0.0.1:5000/\"\nmax_body = \"16TiB\"\n",
            "lookout.toml:5:12: check \"app\".max_body: \"16TiB\" is too large; expected at most \"1GiB\"",
        ),
        (
            "[[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"https://hooks.example.org:99999/x\"\n",
            "notifier \"hook\".url: has an invalid port \"99999\"",
        ),
    ];
    for (body, expected) in cases {
        let (code, out) = config_check(dir.path(), body, false);
        assert_ne!(code, 0, "accepted:\n{body}\n{out}");
        assert!(
            out.contains(expected),
            "config:\n{body}\nexpected {expected}\ngot {out}"
        );
        assert!(!out.contains("panicked"), "{out}");
        // --json: the same problem, its place in fields.
        let path = config_file(dir.path(), body);
        let json = output(lookout().args(["config", "check", "--json"]).arg(&path));
        assert_ne!(json.status.code(), Some(0));
        let document: Value = serde_json::from_str(&text(&json.stdout))
            .unwrap_or_else(|e| panic!("{e}: {}", text(&json.stdout)));
        let problems: Vec<String> = document["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "lookout.toml:{}:{}: {}: {}",
                    p["line"],
                    p["column"],
                    p["key"].as_str().unwrap_or_default(),
                    p["message"].as_str().unwrap_or_default()
                )
            })
            .collect();
        let expected_tail = expected
            .rsplit_once("lookout.toml:")
            .map_or(*expected, |(_, t)| t);
        assert!(
            problems.iter().any(|p| p.contains(expected_tail)),
            "--json: expected {expected}\ngot {problems:#?}"
        );
    }
}

/// Any duration `config check` accepts, `serve` runs with: the overflowing value of finding 7
/// (accepted, then a panic at start on the old code) and the largest value accepted now, in
/// every kind of key (retries, no-data and backoff multiply intervals; windows and silences
/// add durations to now).
#[test]
fn any_duration_config_check_accepts_starts_serve_without_panicking() {
    let _machine = crate::common::machine::shared();
    for value in ["6148914691236517206s", "36500d"] {
        let dir = tempfile::tempdir().unwrap();
        let config = config_file(
            dir.path(),
            &format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n\n[storage]\npath = \"{data}\"\n\n\
                 [storage.retention]\nraw = \"{value}\"\nminute = \"{value}\"\nhour = \"{value}\"\n\n\
                 [system]\ninterval = \"{value}\"\n\n\
                 [alerts]\ngroup_wait = \"{value}\"\ngroup_interval = \"{value}\"\ncooldown_critical = \"{value}\"\n\
                 cooldown_warning = \"{value}\"\n\n\
                 [maintenance]\ngrace = \"{value}\"\noverrun_tolerance = \"{value}\"\n\n\
                 [[check]]\nname = \"app\"\ntype = \"http\"\nurl = \"http://127.0.0.1:{closed}/\"\n\
                 interval = \"{value}\"\ntimeout = \"1s\"\nretries = 10\nrecover_after = 100\n\n\
                 [[check]]\nname = \"db\"\ntype = \"postgres\"\ndsn = \"postgres://lookout@127.0.0.1:{closed}/test\"\n\
                 interval = \"{value}\"\ntimeout = \"1s\"\n\n\
                 [[alerts.rule]]\nname = \"cpu_usage\"\nfor = \"{value}\"\n",
                data = dir.path().join("data").display(),
                closed = closed_port(),
            ),
        );
        let (code, out, err) = run(&config, &["config", "check"]);
        if code != 0 {
            assert!(err.contains("too large a duration"), "{value}: {out}{err}");
            continue;
        }
        let mut command = lookout();
        command.args(["serve", "--config"]).arg(&config);
        // Up (it reports its address; `launch` panics with the log if it exits first) and
        // answering.
        let mut daemon = Daemon::launch(&mut command);
        let started = Instant::now();
        let mut up = false;
        while started.elapsed() < Duration::from_secs(20) {
            if daemon.child.try_wait().unwrap().is_some() {
                break;
            }
            if common::http_get(daemon.addr, "/healthz").is_some_and(|(status, _)| status == 200) {
                up = true;
                std::thread::sleep(Duration::from_secs(2));
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(up, "{value}: serve did not come up: {}", daemon.log());
        let (code, log) = daemon.stop_with(libc::SIGTERM);
        assert!(!log.contains("panicked"), "{value}: {log}");
        assert_eq!(code, Some(0), "{value}: {log}");
    }
}

/// Finding 8: `config check` printed a check URL's `?api_key=...` in full (text and JSON),
/// though `doctor` flags the same URL as holding a literal secret.
#[test]
fn config_check_never_prints_a_check_urls_query_token() {
    let _machine = crate::common::machine::shared();
    const TOKEN: &str = "k3y-0f-the-app-4242";
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "[[check]]\nname = \"app\"\ntype = \"http\"\nurl = \"http://127.0.0.1:5000/health?api_key={TOKEN}&v=2\"\n\n\
         [[check]]\nname = \"metrics\"\ntype = \"prometheus\"\nurl = \"http://u:{TOKEN}@127.0.0.1:5000/metrics?token={TOKEN}\"\n"
    );
    for json in [false, true] {
        let (code, out) = config_check(dir.path(), &body, json);
        assert_eq!(code, 0, "{out}");
        assert!(
            !out.contains(TOKEN),
            "json={json}: the token is printed: {out}"
        );
        assert!(out.contains("api_key=***"), "json={json}: {out}");
    }
}

/// Finding 9: a SQL server that is down (nothing listens) was reported as a timeout after
/// twice the timeout (the pool retried the refused connection until its deadline), and the
/// doctor suggested a firewall. Now: "connection refused to host:port" within well under the
/// timeout, and the doctor's hint for a service that is down.
#[test]
fn sql_checks_report_a_refused_connection_at_once_with_their_own_hint() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let closed = closed_port();
    for (kind, dsn) in [
        (
            "postgres",
            format!("postgres://lookout@127.0.0.1:{closed}/test"),
        ),
        ("mysql", format!("mysql://root@127.0.0.1:{closed}/test")),
    ] {
        let config = config_file(
            dir.path(),
            &format!(
                "[storage]\npath = \"{}\"\n\n[[check]]\nname = \"db\"\ntype = \"{kind}\"\ndsn = \"{dsn}\"\ntimeout = \"5s\"\n",
                dir.path().join("data").display()
            ),
        );
        let started = Instant::now();
        let (code, stdout, stderr) = run(&config, &["check", "--json"]);
        let took = started.elapsed();
        assert_eq!(code, 2, "{kind}: critical expected: {stdout}{stderr}");
        assert!(
            took < Duration::from_millis(2500),
            "{kind}: took {took:?} at timeout = 5s"
        );
        assert!(
            stdout.contains(&format!("connection refused to 127.0.0.1:{closed}")),
            "{kind}: {stdout}"
        );
        assert!(!stdout.contains("timeout"), "{kind}: {stdout}");

        let out = output(
            lookout()
                .args(["doctor", "--json", "--config"])
                .arg(&config),
        );
        let findings: Vec<Value> = serde_json::from_str(&text(&out.stdout))
            .unwrap_or_else(|e| panic!("{kind}: doctor --json: {e}: {}", text(&out.stdout)));
        let finding = findings
            .iter()
            .find(|f| f["item"] == "check db")
            .unwrap_or_else(|| panic!("{kind}: no finding for the check: {findings:#?}"));
        let hint = finding["hint"].as_str().unwrap_or_default();
        assert!(
            hint.contains("nothing listens there") && !hint.contains("firewall"),
            "{kind}: {finding:#}"
        );
    }
}

/// A TCP forwarder from a port of its own to `target`, until `stop`: then the port is closed
/// and every forwarded connection cut, as when a server goes away.
struct Forwarder {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    streams: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Forwarder {
    fn start(target: &'static str) -> Forwarder {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let streams = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (flag, kept) = (stop.clone(), streams.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                let Ok(server) = std::net::TcpStream::connect(target) else {
                    continue;
                };
                let mut all = kept.lock().unwrap();
                all.push(client.try_clone().unwrap());
                all.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
            // The listener is dropped here: the port refuses from now on.
        });
        Forwarder {
            port,
            stop,
            streams,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Finding 9, the other way in: a database that goes away while the daemon holds a pooled
/// connection. The pool retried the refused reconnection until the timeout ("no connection
/// within the timeout"); now the check says "connection refused" well within the timeout.
#[test]
fn a_database_that_goes_away_is_refused_at_once_not_a_timeout() {
    let _machine = crate::common::machine::shared();
    for (kind, target, dsn_of) in [
        (
            "postgres",
            "127.0.0.1:5432",
            (|port: u16| format!("postgres://postgres@127.0.0.1:{port}/test")) as fn(u16) -> String,
        ),
        (
            "mysql",
            "127.0.0.1:3306",
            (|port: u16| format!("mysql://root@127.0.0.1:{port}/test")) as fn(u16) -> String,
        ),
    ] {
        let mut forwarder = Forwarder::start(target);
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(
            dir.path(),
            0,
            &format!(
                "\n[[check]]\nname = \"db\"\ntype = \"{kind}\"\ndsn = \"{}\"\ninterval = \"5s\"\ntimeout = \"5s\"\n",
                dsn_of(forwarder.port)
            ),
        );
        let mut daemon = Daemon::start(&config);
        let db = |daemon: &Daemon| -> Option<Value> {
            let status = daemon.json("/api/v1/status?series=none");
            status["checks"]
                .as_array()?
                .iter()
                .find(|c| c["check"] == "db")
                .cloned()
        };
        daemon.wait_until(Duration::from_secs(20), |d| {
            db(d).is_some_and(|c| c["status"] == "ok")
        });
        forwarder.stop();
        let gone = Instant::now();
        let wanted = format!("connection refused to 127.0.0.1:{}", forwarder.port);
        let mut last = Value::Null;
        let mut seen = std::time::SystemTime::now();
        while gone.elapsed() < Duration::from_secs(15) {
            last = db(&daemon).unwrap_or_default();
            seen = std::time::SystemTime::now();
            if last["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(&wanted)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let took = gone.elapsed();
        // From the run's scheduled tick (the result's `at`) to the result, all attempts
        // included: well under the 5 s timeout.
        let at = humantime::parse_rfc3339(last["at"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{kind}: {e}: {last}"));
        let run = seen.duration_since(at).unwrap_or_default();
        assert!(
            run < Duration::from_millis(2500),
            "{kind}: the run that found the server gone took {run:?} at timeout = 5s: {last}"
        );
        assert!(
            last["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(&wanted),
            "{kind}: after {took:?}: {last}"
        );
        assert_eq!(last["status"], "critical", "{kind}: {last}");
        // The attempt that said so took well under the 5 s timeout.
        let status = daemon.json("/api/v1/status?series=check_duration_seconds");
        let duration = status["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["labels"]["check"] == "db")
            .and_then(|s| s["value"].as_f64())
            .unwrap_or_else(|| panic!("{kind}: no check_duration_seconds: {status}"));
        assert!(
            duration < 2.5,
            "{kind}: the refused attempt took {duration} s at timeout = 5s: {last}"
        );
    }
}
