//! Connections held without being used (issue 15, finding 3), against the real binary started
//! with the default file descriptor limit (soft = hard = 1,024, set before exec): 2,000 idle
//! connections that never send a byte must neither slow /healthz down nor make a probe fail
//! for lack of a descriptor (a false alert on its target); idle connections, half-sent request
//! heads and TLS connections without a ClientHello must be closed by the timeouts.
//!
//! `LOOKOUT_BIN=path/to/lookout` runs the same tests against another binary (the figure of
//! BENCHMARKS.md is measured that way on release builds, before and after).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::https::client_config;
use crate::common::tls::make_certs;
use crate::common::*;

/// These tests measure latency and count descriptors: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const IDLE_CONNECTIONS: usize = 2000;
const HOLD: Duration = Duration::from_secs(30);
/// The default `server.header_read_timeout` and `server.tls_handshake_timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// What closing may take beyond the timeout: the reaper's period, scheduling on 2 busy cores,
/// the test's own polling.
const SLACK: Duration = Duration::from_millis(2500);
/// The descriptor limit of a daemon started by hand on a stock Linux.
const FD_LIMIT: libc::rlim_t = 1024;

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The binary under test: this build's, or `$LOOKOUT_BIN`.
fn lookout_bin() -> Command {
    match std::env::var_os("LOOKOUT_BIN") {
        Some(path) => {
            let mut command = Command::new(path);
            command.env_remove("LOOKOUT_CONFIG").env_remove("RUST_LOG");
            command
        }
        None => lookout(),
    }
}

/// `lookout serve --config CONFIG` with RLIMIT_NOFILE soft = hard = 1,024.
fn serve_command(config: &Path) -> Command {
    let mut command = lookout_bin();
    command.args(["serve", "--config"]).arg(config);
    // SAFETY: only async-signal-safe calls (setrlimit) between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: FD_LIMIT,
                rlim_max: FD_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// The test holds thousands of sockets: its own soft limit up to its hard limit.
fn raise_own_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    assert!(
        limit.rlim_cur >= (IDLE_CONNECTIONS + 500) as libc::rlim_t,
        "the test needs a hard RLIMIT_NOFILE of at least {}, has {}",
        IDLE_CONNECTIONS + 500,
        limit.rlim_cur
    );
}

/// A tiny application for the HTTP check: answers every request 200 "ok", at once.
fn start_app() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the app");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
            let mut request = Vec::new();
            let mut buffer = [0u8; 2048];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    addr
}

fn write_config(dir: &Path, port: u16, server_extra: &str, extra: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).expect("create the test dir");
    let path = dir.join("lookout.toml");
    let body = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n{server_extra}\n[storage]\npath = \"{}\"\n\
         flush_interval = \"1s\"\n\n[system]\ninterval = \"1s\"\n{extra}",
        dir.join("data").display()
    );
    std::fs::write(&path, body).expect("write config");
    path
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An idle connection: open, never written to, read without blocking to see it closed.
struct Held {
    stream: TcpStream,
    since: Instant,
}

impl Held {
    fn open(addr: SocketAddr, limit: Duration) -> Option<Held> {
        let stream = TcpStream::connect_timeout(&addr, limit).ok()?;
        stream.set_nonblocking(true).ok()?;
        Some(Held {
            stream,
            since: Instant::now(),
        })
    }

    /// Whether the server has closed it (end of stream, a reset, or an answer: a server
    /// that answers a connection that asked nothing is sending it away).
    fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte) {
            Ok(0 | 1) => true,
            Ok(_) => unreachable!("a read into one byte"),
            Err(e) => e.kind() != ErrorKind::WouldBlock,
        }
    }
}

#[derive(Debug, Default)]
struct Attack {
    opened: usize,
    closed_by_server: usize,
    /// The oldest connection seen still open by a sweep.
    oldest_open: Duration,
}

/// Holds `count` idle connections to `addr` until `stop`, looking every 500 ms which ones the
/// server closed. With `reconnect`, those are opened again at once (a connection flood: what
/// /healthz then gets is bounded by how fast connections are accepted and closed; measured
/// for BENCHMARKS.md with `LOOKOUT_RECONNECT=1`).
fn hold_idle(addr: SocketAddr, count: usize, reconnect: bool, stop: Arc<AtomicBool>) -> Attack {
    let mut attack = Attack::default();
    let mut held: Vec<Option<Held>> = Vec::with_capacity(count);
    for _ in 0..count {
        // A server that no longer accepts leaves connects hanging: the hold's end ends this.
        let connection = if stop.load(Ordering::Relaxed) {
            None
        } else {
            Held::open(addr, Duration::from_millis(200))
        };
        attack.opened += usize::from(connection.is_some());
        held.push(connection);
    }
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(500));
        let now = Instant::now();
        let mut reopening = true;
        for slot in &mut held {
            if let Some(connection) = slot {
                if connection.closed() {
                    attack.closed_by_server += 1;
                    *slot = None;
                } else {
                    attack.oldest_open = attack.oldest_open.max(now - connection.since);
                }
            }
            if slot.is_none() && reconnect && reopening {
                *slot = Held::open(addr, Duration::from_millis(200));
                match slot {
                    Some(_) => attack.opened += 1,
                    // The listen queue is full: again at the next sweep.
                    None => reopening = false,
                }
            }
        }
    }
    attack
}

/// (p50, p99) of `values`, which must not be empty.
fn percentiles(values: &mut [Duration]) -> (Duration, Duration) {
    values.sort();
    let p99 = (values.len() * 99).div_ceil(100) - 1;
    (values[values.len() / 2], values[p99])
}

/// Results of `check` between `from` and `to` (Unix seconds) that did not come from what the
/// check watches: for the app (which always answers 200 at once), any critical or unknown;
/// for cpu and memory, unknown or a word of a missing descriptor (a critical cpu is a true
/// reading when the machine running the tests is busy).
fn false_results(daemon: &Daemon, check: &str, from: u64, to: u64) -> Vec<String> {
    let history = daemon.json(&format!(
        "/api/v1/checks/{check}/history?from={from}&to={to}&limit=10000"
    ));
    history["history"]
        .as_array()
        .unwrap_or_else(|| panic!("no history of {check}: {history}"))
        .iter()
        .filter(|point| {
            let detail = point["detail"].as_str().unwrap_or_default();
            match point["status"].as_str() {
                Some("unknown") => true,
                Some("critical") if check == "app" => true,
                _ => detail.contains("file descriptors") || detail.contains("Too many open files"),
            }
        })
        .map(|point| format!("{check}: {} {}", point["status"], point["detail"]))
        .collect()
}

/// Regression: 1,100 idle connections under the default 1,024 descriptor limit made /healthz
/// time out for the whole hold and turned the HTTP check critical ("Too many open files")
/// and cpu and memory unknown, and no idle connection was ever closed.
#[test]
fn idle_connections_neither_slow_healthz_nor_cause_false_check_results() {
    let _machine = crate::common::machine::alone(module_path!());
    let _serial = serial();
    raise_own_fd_limit();
    let dir = tempfile::tempdir().unwrap();
    let app = start_app();
    let check = format!(
        "\n[[check]]\nname = \"app\"\ntype = \"http\"\nurl = \"http://{app}/health\"\n\
         interval = \"1s\"\ntimeout = \"1s\"\n"
    );
    let config = write_config(dir.path(), 0, "", &check);
    let daemon = Daemon::spawn(serve_command(&config));
    let addr = daemon.addr;
    // The first runs of every probe are in before the hold.
    std::thread::sleep(Duration::from_secs(3));
    let from = unix_seconds();

    let stop = Arc::new(AtomicBool::new(false));
    let reconnect = std::env::var_os("LOOKOUT_RECONNECT").is_some_and(|v| v == "1");
    let attacker = {
        let stop = stop.clone();
        std::thread::spawn(move || hold_idle(addr, IDLE_CONNECTIONS, reconnect, stop))
    };
    // /healthz every 100 ms during the hold, each on a new connection, as a monitor asks.
    let mut latencies = Vec::new();
    let mut slowest = Vec::new();
    let mut failures = 0;
    let started = Instant::now();
    while started.elapsed() < HOLD {
        let asked = Instant::now();
        let latency = match http_get(addr, "/healthz") {
            Some((200, _)) => asked.elapsed(),
            _ => {
                failures += 1;
                Duration::from_secs(3600)
            }
        };
        latencies.push(latency);
        slowest.push((latency, asked - started));
        std::thread::sleep(Duration::from_millis(100));
    }
    slowest.sort_by(|a, b| b.cmp(a));
    slowest.truncate(5);
    stop.store(true, Ordering::Relaxed);
    let attack = attacker.join().expect("attacker thread");
    let to = unix_seconds();
    // Whatever was measured during the hold is in the store after a flush.
    std::thread::sleep(Duration::from_secs(3));

    let (p50, p99) = percentiles(&mut latencies);
    let mut spoiled = Vec::new();
    for check in ["app", "cpu", "memory"] {
        spoiled.extend(false_results(&daemon, check, from, to));
    }
    eprintln!(
        "FIGURE idle connections: {IDLE_CONNECTIONS} held {}s (reconnect: {reconnect}); /healthz n={} p50={:.1}ms \
         p99={:.1}ms failed={failures}; false check results={}; connections opened={} closed by \
         the server={} oldest seen open={:.1}s",
        HOLD.as_secs(),
        latencies.len(),
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0,
        spoiled.len(),
        attack.opened,
        attack.closed_by_server,
        attack.oldest_open.as_secs_f64()
    );
    eprintln!("slowest /healthz (latency, when into the hold): {slowest:?}");
    eprintln!("false check results: {spoiled:?}");
    assert_eq!(
        failures, 0,
        "/healthz failed {failures} times during the hold"
    );
    // The goal (p99 <= 50 ms) is measured on a release build in BENCHMARKS.md (4.6 ms). This
    // debug build shares 2 cores with the rest of the suite: the first burst of 2,000 connects
    // has shown 100-550 ms outliers under load, so the bound here leaves room for that while
    // still failing on main, where /healthz got no answer at all.
    assert!(
        p99 <= Duration::from_millis(250),
        "/healthz p99 {p99:?} (p50 {p50:?}) during the hold"
    );
    assert!(spoiled.is_empty(), "false check results: {spoiled:#?}");
    assert!(
        attack.oldest_open <= DEFAULT_TIMEOUT + SLACK,
        "an idle connection stayed open {:?}: {attack:?}",
        attack.oldest_open
    );
    assert!(attack.opened >= IDLE_CONNECTIONS, "{attack:?}");
    if !reconnect {
        assert_eq!(
            attack.closed_by_server, IDLE_CONNECTIONS,
            "every idle connection is closed during the hold: {attack:?}"
        );
    }
}

/// Polls `connection` until the server closes it or `limit` passes; when it closed.
fn wait_closed(connection: &mut Held, limit: Duration) -> Option<Duration> {
    while connection.since.elapsed() < limit {
        if connection.closed() {
            return Some(connection.since.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Asserts that the server closed `connection` after about `timeout`, not much earlier nor
/// later.
fn assert_closed_by_timeout(what: &str, connection: &mut Held, timeout: Duration) {
    match wait_closed(connection, timeout + SLACK) {
        Some(after) => assert!(
            after >= timeout - Duration::from_millis(500),
            "{what}: closed after {after:?}, before the timeout of {timeout:?}"
        ),
        None => panic!(
            "{what}: still open {:?} after it was opened",
            timeout + SLACK
        ),
    }
}

/// Regression: a connection that sent part of a request head, and a TLS connection that never
/// sent a ClientHello, stayed open forever.
#[test]
fn half_sent_heads_and_silent_tls_connections_are_closed() {
    let _machine = crate::common::machine::alone(module_path!());
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir.path().join("plain"), 0, "", "");
    let plain = Daemon::spawn(serve_command(&config));

    let tls_dir = dir.path().join("tls");
    std::fs::create_dir_all(&tls_dir).unwrap();
    make_certs(&tls_dir, 30);
    let tls_keys = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
        tls_dir.join("leaf.pem").display(),
        tls_dir.join("leaf.key").display()
    );
    let config = write_config(&tls_dir, 0, &tls_keys, "");
    let tls = Daemon::spawn_tls(
        serve_command(&config),
        &client_config(&tls_dir.join("ca.pem")),
    );

    let limit = Duration::from_secs(2);
    let mut idle = Held::open(plain.addr, limit).expect("connect");
    let mut half = Held::open(plain.addr, limit).expect("connect");
    half.stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .expect("send half a head");
    let mut silent_tls = Held::open(tls.addr, limit).expect("connect");
    // Alive meanwhile: the timeouts are what closes them, not something else.
    std::thread::sleep(Duration::from_secs(2));
    assert!(!idle.closed() && !half.closed() && !silent_tls.closed());
    assert_eq!(plain.get("/healthz").0, 200);

    assert_closed_by_timeout("idle connection", &mut idle, DEFAULT_TIMEOUT);
    assert_closed_by_timeout("half-sent head", &mut half, DEFAULT_TIMEOUT);
    assert_closed_by_timeout(
        "TLS without a ClientHello",
        &mut silent_tls,
        DEFAULT_TIMEOUT,
    );
}

/// The keys of the new `[server]` settings: a kept-alive connection is closed after
/// `idle_timeout` (not the longer head timeout); a cap above what 1,024 descriptors allow is
/// lowered, with a warning, so the probes keep their reserve.
#[test]
fn idle_keep_alive_is_closed_and_the_cap_keeps_descriptors_for_the_probes() {
    let _machine = crate::common::machine::alone(module_path!());
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let server = "header_read_timeout = \"5s\"\nidle_timeout = \"2s\"\nmax_connections = 100000\n";
    let config = write_config(dir.path(), 0, server, "");
    let daemon = Daemon::spawn(serve_command(&config));

    let mut kept = Held::open(daemon.addr, Duration::from_secs(2)).expect("connect");
    kept.stream.set_nonblocking(false).unwrap();
    kept.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    kept.stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    while !response.windows(4).any(|w| w == b"\r\n\r\n") || !response.ends_with(b"}") {
        let n = kept.stream.read(&mut buffer).expect("read the response");
        assert!(n > 0, "closed before the response");
        response.extend_from_slice(&buffer[..n]);
    }
    assert!(response.starts_with(b"HTTP/1.1 200"));
    kept.stream.set_nonblocking(true).unwrap();
    kept.since = Instant::now();
    assert_closed_by_timeout("kept-alive connection", &mut kept, Duration::from_secs(2));

    let log = daemon.log();
    let line = log
        .lines()
        .find(|l| l.contains("leaves room for fewer web connections"))
        .unwrap_or_else(|| panic!("no warning that the cap was lowered: {log}"));
    let capacity: u64 = line
        .split("capacity=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no capacity in {line}"));
    assert!(
        capacity <= 1024 - 256,
        "capacity {capacity} leaves fewer than 256 descriptors: {line}"
    );
}
