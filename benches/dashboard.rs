//! Dashboard benchmarks (issue "Web dashboard"), against the real release `lookout serve`:
//!
//! - `latency`: sample -> browser latency. The system probe runs at 1 s; a page of headless
//!   Chromium (logged in through `/login` as a viewer) opens `/api/v1/live` and records
//!   `Date.now() - at` for each `observation`; a tokio-tungstenite client (bearer token) does the
//!   same without a browser. `at` is the probe's scheduled tick (Unix ms, same host clock), so
//!   the figure includes the scheduler's wake-up lateness and the probe's own run time.
//! - `clients`: 1,000 concurrent WebSocket clients for 30 s at a 1 s system interval, connecting
//!   one after another, then (a new daemon) all at once: the daemon's RSS before, with the
//!   clients and 3 s and 60 s after they left, its CPU share, and whether every client got
//!   every observation. LOOKOUT_BENCH_PATTERN=sequential (or burst) runs one of the two.
//! - `render`: 10,000 `tcp` checks (60 s interval) against a local listener; the overview page
//!   is loaded 5 times in Chromium, timed from navigation start to the application tile
//!   showing its status; also the size of `/api/v1/status`.
//! - `scale` (issue 18): 1,000 `tcp` checks, 100 of them with 30 days of history written into
//!   the store before the daemon starts (`seed_history`); Chromium loads the overview, the
//!   checks list and a check's detail page 5 times each (ready time and bytes, see `READY_JS`),
//!   scrolls the list, and times a status change from the check's run to the page showing it
//!   (`flip`, a check at 1 s whose listener the bench stops), on the list and the overview.
//!
//! `cargo bench --bench dashboard` runs them all (`scale` seeds for ~14 min on a busy 2-core
//! machine; LOOKOUT_BENCH_SEED_FROM skips that);
//! `cargo bench --bench dashboard -- latency` (or `clients`, `render`, `scale`) runs one.
//! LOOKOUT_BENCH_OBSERVATIONS (default 120), LOOKOUT_BENCH_CLIENTS (1000),
//! LOOKOUT_BENCH_SECONDS (30), LOOKOUT_BENCH_AFTER (60), LOOKOUT_BENCH_CHECKS (10000, `render`),
//! LOOKOUT_BENCH_SCALE_CHECKS (1000), LOOKOUT_BENCH_HISTORY_CHECKS (100),
//! LOOKOUT_BENCH_HISTORY_STEP (60 s), LOOKOUT_BENCH_LOADS (5) and LOOKOUT_BENCH_FLIPS (10)
//! change the sizes; LOOKOUT_BENCH_SEED_FROM reuses a seeded store (`scale`), which
//! LOOKOUT_BENCH_SEED_KEEP=DIR keeps after seeding.
//! Needs /usr/bin/chromedriver and /usr/bin/chromium for `latency`,
//! `render` and `scale`.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const PASSWORD: &str = "bench-viewer-password-42";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// (utime + stime in seconds, RSS in bytes) of a process.
fn cpu_and_rss(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("daemon alive");
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let utime: f64 = fields[11].parse().unwrap();
    let stime: f64 = fields[12].parse().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    ((utime + stime) / ticks_per_second(), rss_kb * 1024)
}

/// CPU seconds this bench process used so far (its own client load shares the 2 cores).
fn own_cpu() -> f64 {
    cpu_and_rss(std::process::id()).0
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return -1;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

// ---------- the daemon ----------

struct Daemon {
    child: Child,
    port: u16,
    token: String,
    _dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lookout() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lookout"));
    command.env_remove("LOOKOUT_CONFIG").env_remove("RUST_LOG");
    command
}

impl Daemon {
    /// `lookout serve` with the system probe at `system_interval`, `extra` config appended, a
    /// viewer user `bench` (for the browser) and an admin token (for the bench's own requests).
    fn start(system_interval: &str, extra: &str, ready_within: Duration) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        Daemon::start_in(dir, system_interval, extra, ready_within)
    }

    /// `start` in `dir`, whose `data` folder may hold a store already (`seed_history`).
    fn start_in(
        dir: tempfile::TempDir,
        system_interval: &str,
        extra: &str,
        ready_within: Duration,
    ) -> Daemon {
        let port = free_port();
        let config = dir.path().join("lookout.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\nmax_connections = 4096\n[storage]\npath = \"{}\"\n[system]\ninterval = \"{system_interval}\"\n{extra}",
                dir.path().join("data").display()
            ),
        )
        .expect("write config");
        let mut user = lookout()
            .arg("--config")
            .arg(&config)
            .args([
                "user",
                "add",
                "bench",
                "--role",
                "viewer",
                "--password-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("lookout user add");
        writeln!(user.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        let out = user.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "user add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = lookout()
            .arg("--config")
            .arg(&config)
            .args(["token", "create", "--role", "admin", "--name", "bench"])
            .output()
            .expect("lookout token create");
        assert!(
            out.status.success(),
            "token create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let child = lookout()
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start lookout serve");
        let mut daemon = Daemon {
            child,
            port,
            token,
            _dir: dir,
        };
        let started = Instant::now();
        while daemon.get("/healthz").map(|r| r.0) != Some(200) {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("lookout serve exited with {status}");
            }
            assert!(
                started.elapsed() < ready_within,
                "lookout serve did not answer /healthz within {ready_within:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        daemon
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// GET with the admin token: (status, body).
    fn get(&self, path: &str) -> Option<(u16, Vec<u8>)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n\r\n",
            self.port, self.token
        )
        .ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).ok()?;
        let end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&response[..end]);
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, response[end + 4..].to_vec()))
    }

    /// A WebSocket request for the live feed, with the bearer token (and no Origin).
    fn live_request(&self) -> tokio_tungstenite::tungstenite::handshake::client::Request {
        let mut request = format!("ws://127.0.0.1:{}/api/v1/live", self.port)
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", self.token).parse().unwrap(),
        );
        request
    }

    /// The schedule-lateness histogram of /metrics: (upper bound in s, cumulative count).
    fn lateness(&self) -> Vec<(f64, u64)> {
        let (_, body) = self.get("/metrics").expect("/metrics");
        String::from_utf8_lossy(&body)
            .lines()
            .filter_map(|l| {
                let rest = l.strip_prefix("lookout_schedule_lateness_seconds_bucket{le=\"")?;
                let (le, count) = rest.split_once("\"} ")?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((le, count.trim().parse().ok()?))
            })
            .collect()
    }
}

/// The bucket bound that holds percentile `p` of a cumulative histogram.
fn histogram_percentile(buckets: &[(f64, u64)], p: f64) -> f64 {
    let total = buckets.last().map_or(0, |b| b.1);
    let want = (p / 100.0 * total as f64).ceil() as u64;
    buckets
        .iter()
        .find(|b| b.1 >= want.max(1))
        .map_or(f64::NAN, |b| b.0)
}

// ---------- the browser ----------

struct ChromeDriver {
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> ChromeDriver {
    assert!(
        Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
        "this bench needs {CHROMEDRIVER} and {CHROMIUM}"
    );
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no chromedriver"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ChromeDriver {
        child,
        port,
        profile: tempfile::tempdir().unwrap(),
    }
}

async fn browser(driver: &ChromeDriver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--no-first-run",
                format!("--user-data-dir={}", driver.profile.path().display()),
                "--window-size=1280,800",
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("WebDriver session")
}

async fn js(client: &Client, script: &str) -> Value {
    client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("script failed: {script}: {e}"))
}

/// Logs in as the viewer `bench` through the login form.
async fn login(client: &Client, base: &str) {
    client.goto(&format!("{base}/login")).await.unwrap();
    let form = [("user", "bench"), ("password", PASSWORD)];
    for (field, value) in form {
        client
            .find(Locator::Id(field))
            .await
            .expect("the login form")
            .send_keys(value)
            .await
            .unwrap();
    }
    client
        .find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let started = Instant::now();
    while js(client, "return location.pathname").await == "/login" {
        assert!(started.elapsed() < Duration::from_secs(10), "login failed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------- 1. sample -> browser latency ----------

async fn latency() {
    let wanted: usize = env_or("LOOKOUT_BENCH_OBSERVATIONS", 120);
    let daemon = Daemon::start("1s", "", Duration::from_secs(20));
    let base = daemon.base();

    // The browser-free client.
    let (mut socket, _) = tokio_tungstenite::connect_async(daemon.live_request())
        .await
        .expect("WebSocket with a bearer token");
    let ws_client = tokio::spawn(async move {
        let mut latencies = Vec::new();
        while latencies.len() < wanted {
            let Some(Ok(Message::Text(text))) = socket.next().await else {
                continue;
            };
            let received = now_ms();
            let msg: Value = serde_json::from_str(&text).unwrap();
            if msg["type"] == "observation" && msg["source"] == "system" {
                latencies.push(received - msg["at"].as_i64().unwrap());
            }
        }
        latencies
    });

    let driver = chromedriver();
    let client = browser(&driver).await;
    login(&client, &base).await;
    let lateness_before = daemon.lateness();
    js(
        &client,
        "window.__lat = []; \
         const ws = new WebSocket('ws://' + location.host + '/api/v1/live'); \
         ws.onmessage = (m) => { const now = Date.now(); const msg = JSON.parse(m.data); \
           if (msg.type === 'observation' && msg.source === 'system') window.__lat.push(now - msg.at); }; \
         window.__ws = ws; return true",
    )
    .await;
    let started = Instant::now();
    let limit = Duration::from_secs(wanted as u64 * 2 + 30);
    let mut browser_latencies: Vec<i64> = loop {
        let value = js(&client, "return window.__lat").await;
        let list: Vec<i64> = serde_json::from_value(value).unwrap();
        if list.len() >= wanted {
            break list;
        }
        assert!(
            started.elapsed() < limit,
            "only {} observations",
            list.len()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let lateness_after = daemon.lateness();
    let mut ws_latencies = ws_client.await.unwrap();
    let _ = client.close().await;
    browser_latencies.sort_unstable();
    ws_latencies.sort_unstable();
    let lateness: Vec<(f64, u64)> = lateness_after
        .iter()
        .zip(&lateness_before)
        .map(|(a, b)| (a.0, a.1 - b.1))
        .collect();

    println!(
        "sample -> browser latency ({} observations of the system probe at 1 s; load {}):",
        browser_latencies.len(),
        load_average()
    );
    for (what, list) in [
        ("Chromium page", &browser_latencies),
        ("tokio-tungstenite", &ws_latencies),
    ] {
        println!(
            "  {what:<18} p50 {} ms, p99 {} ms, max {} ms (n = {}; goal p50/p99 <= 250 ms)",
            percentile(list, 50.0),
            percentile(list, 99.0),
            list.last().copied().unwrap_or(-1),
            list.len()
        );
    }
    println!(
        "  schedule lateness (wake-up after the tick, /metrics, {} wake-ups): p50 <= {} s, p99 <= {} s",
        lateness.last().map_or(0, |b| b.1),
        histogram_percentile(&lateness, 50.0),
        histogram_percentile(&lateness, 99.0)
    );
}

// ---------- 2. 1,000 concurrent clients ----------

fn raise_open_files(want: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < want {
            limit.rlim_cur = want.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// What one client saw: the ticks of the system observations it received, and how it ended.
struct Seen {
    ticks: Vec<i64>,
    closed: Option<String>,
}

/// How the bench's clients connect: one after another (each handshake done before the next
/// starts), or all at once (every handshake in flight together, as after a daemon restart
/// when every open dashboard reconnects).
#[derive(Clone, Copy, PartialEq)]
enum Pattern {
    OneAfterAnother,
    AtOnce,
    /// No client at all, on the same timeline: what the daemon grows by itself over the run,
    /// to tell apart from what clients leave behind.
    Nobody,
}

impl Pattern {
    fn name(self) -> &'static str {
        match self {
            Pattern::OneAfterAnother => "one after another",
            Pattern::AtOnce => "at once",
            Pattern::Nobody => "(control: no client, same timeline)",
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads one client's feed until `stop`, recording the ticks of the system observations.
async fn read_feed(mut socket: Socket, stop: std::sync::Arc<tokio::sync::Notify>) -> Seen {
    let mut seen = Seen {
        ticks: Vec::new(),
        closed: None,
    };
    let stopped = stop.notified();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            next = socket.next() => match next {
                Some(Ok(Message::Text(text))) => {
                    // Cheap filter: only system observations carry what we count.
                    if text.starts_with("{\"type\":\"observation\"") {
                        let msg: Value = serde_json::from_str(&text).unwrap();
                        if msg["source"] == "system" {
                            seen.ticks.push(msg["at"].as_i64().unwrap());
                        }
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    seen.closed = Some(format!("close {frame:?}"));
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => { seen.closed = Some(format!("error {e}")); break; }
                None => { seen.closed = Some("ended".into()); break; }
            }
        }
    }
    seen
}

async fn clients(pattern: Pattern) {
    let count: usize = env_or("LOOKOUT_BENCH_CLIENTS", 1000);
    let seconds: u64 = env_or("LOOKOUT_BENCH_SECONDS", 30);
    let after: u64 = env_or("LOOKOUT_BENCH_AFTER", 60);
    let daemon = Daemon::start("1s", "", Duration::from_secs(20));
    // Steady state first: store created, first collections done.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (_, rss_before) = cpu_and_rss(daemon.pid());

    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    let connect_started = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    let mut peak_rss = 0;
    let mut failed = Vec::new();
    match pattern {
        Pattern::Nobody => {}
        Pattern::OneAfterAnother => {
            for _ in 0..count {
                let (socket, _) = tokio_tungstenite::connect_async(daemon.live_request())
                    .await
                    .expect("WebSocket connect");
                tasks.push(tokio::spawn(read_feed(socket, stop.clone())));
            }
        }
        Pattern::AtOnce => {
            let connecting: Vec<_> = (0..count)
                .map(|_| tokio::spawn(tokio_tungstenite::connect_async(daemon.live_request())))
                .collect();
            // The peak of the burst, sampled while the handshakes are in flight.
            let pid = daemon.pid();
            let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let sampling = tokio::spawn({
                let peak = peak.clone();
                async move {
                    loop {
                        peak.fetch_max(cpu_and_rss(pid).1, std::sync::atomic::Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            });
            let mut connected = Vec::with_capacity(count);
            for handshake in connecting {
                connected.push(handshake.await);
            }
            sampling.abort();
            peak_rss = peak.load(std::sync::atomic::Ordering::Relaxed);
            for result in connected {
                match result.unwrap() {
                    Ok((socket, _)) => tasks.push(tokio::spawn(read_feed(socket, stop.clone()))),
                    Err(e) => failed.push(e.to_string()),
                }
            }
        }
    }
    let connect_time = connect_started.elapsed();
    // Let the last handshakes settle, then measure a clean window.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, rss_settled) = cpu_and_rss(daemon.pid());
    let window_start = now_ms();
    let (cpu_start, _) = cpu_and_rss(daemon.pid());
    let own_start = own_cpu();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        peak_rss = peak_rss.max(cpu_and_rss(daemon.pid()).1);
    }
    let wall = started.elapsed().as_secs_f64();
    let (cpu_end, rss_after) = cpu_and_rss(daemon.pid());
    let own_end = own_cpu();
    let window_end = now_ms();
    // Observations published in the window have had >= 2 s to arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.notify_waiters();
    let mut seen = Vec::with_capacity(count);
    for task in tasks {
        seen.push(task.await.unwrap());
    }
    let connected = seen.len();
    let expected: BTreeSet<i64> = seen
        .iter()
        .flat_map(|s| s.ticks.iter().copied())
        .filter(|at| (window_start..window_end).contains(at))
        .collect();
    let per_client: Vec<usize> = seen
        .iter()
        .map(|s| {
            s.ticks
                .iter()
                .filter(|at| expected.contains(at))
                .collect::<BTreeSet<_>>()
                .len()
        })
        .collect();
    let complete = per_client.iter().filter(|&&n| n == expected.len()).count();
    let closed: Vec<String> = seen.iter().filter_map(|s| s.closed.clone()).collect();
    // Leaving: every socket is dropped with its task (no close handshake, as a tab killed).
    drop(seen);
    let left_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, rss_gone) = cpu_and_rss(daemon.pid());
    tokio::time::sleep(Duration::from_secs(after).saturating_sub(left_at.elapsed())).await;
    let (_, rss_later) = cpu_and_rss(daemon.pid());

    let count = if pattern == Pattern::Nobody { 0 } else { count };
    let per = |rss: u64| (rss as f64 - rss_before as f64) / count.max(1) as f64 / 1e3;
    println!(
        "{count} concurrent WebSocket clients connecting {}, {wall:.0} s at a 1 s system interval (load {}):",
        pattern.name(),
        load_average()
    );
    println!(
        "  connected {connected} in {:.1} s; failed {}",
        connect_time.as_secs_f64(),
        failed.len()
    );
    for reason in failed.iter().take(3) {
        println!("    {reason}");
    }
    println!(
        "  RSS: {:.1} MB before; {:.1} MB 2 s after the last handshake ({:.1} KB per client); {:.1} MB at the end of the window -> {:.1} KB per client (peak {:.1} MB)",
        rss_before as f64 / 1e6,
        rss_settled as f64 / 1e6,
        per(rss_settled),
        rss_after as f64 / 1e6,
        per(rss_after),
        peak_rss as f64 / 1e6,
    );
    println!(
        "  RSS after they left: {:.1} MB at 3 s, {:.1} MB at {after} s ({:+.1} % of before; goal <= +10 %)",
        rss_gone as f64 / 1e6,
        rss_later as f64 / 1e6,
        (rss_later as f64 / rss_before as f64 - 1.0) * 100.0
    );
    println!(
        "  CPU: lookout {:.1} % of one core; the bench's own clients {:.1} %",
        (cpu_end - cpu_start) / wall * 100.0,
        (own_end - own_start) / wall * 100.0
    );
    println!(
        "  observations in the window: {}; clients that got all of them: {complete}/{count} (min {}, max {}); closed early: {}",
        expected.len(),
        per_client.iter().min().copied().unwrap_or(0),
        per_client.iter().max().copied().unwrap_or(0),
        closed.len()
    );
    for reason in closed.iter().take(3) {
        println!("    {reason}");
    }
}

// ---------- 3. overview render with 10,000 checks ----------

async fn render() {
    let checks: usize = env_or("LOOKOUT_BENCH_CHECKS", 10_000);
    // A listener that accepts and closes: every tcp check is ok.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    let mut extra = String::new();
    for i in 0..checks {
        extra.push_str(&format!(
            "\n[[check]]\nname = \"c{i:05}\"\ntype = \"tcp\"\naddress = \"{target}\"\ninterval = \"60s\"\ntimeout = \"5s\"\n"
        ));
    }
    let config_started = Instant::now();
    let daemon = Daemon::start("10s", &extra, Duration::from_secs(120));
    println!(
        "  ({checks} checks: lookout serve answered /healthz after {:.1} s)",
        config_started.elapsed().as_secs_f64()
    );
    // Every check has run once (they are spread over the 60 s interval).
    let started = Instant::now();
    let (status_bytes, status_ms) = loop {
        let t = Instant::now();
        let (_, body) = daemon.get("/api/v1/status").expect("/api/v1/status");
        let elapsed = t.elapsed().as_secs_f64() * 1e3;
        let status: Value = serde_json::from_slice(&body).unwrap();
        let n = status["checks"].as_array().map_or(0, |a| a.len());
        if n >= checks {
            break (body.len(), elapsed);
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "only {n} of {checks} checks in /api/v1/status after 90 s"
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
    };
    let (cpu_a, rss) = cpu_and_rss(daemon.pid());
    let (_, shell) = daemon.get("/").unwrap();

    let driver = chromedriver();
    let client = browser(&driver).await;
    login(&client, &daemon.base()).await;
    let mut total = Vec::new();
    let mut fetched = Vec::new();
    let mut after_fetch = Vec::new();
    let mut transfer = 0.0;
    let loads = started.elapsed();
    for _ in 0..5 {
        client
            .goto(&format!("{}/", daemon.base()))
            .await
            .expect("goto /");
        let value = client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 const poll = () => { \
                   const t = document.querySelector('[data-layer=application]'); \
                   if (t && t.dataset.status && t.dataset.status !== 'none') { \
                     const at = performance.now(); \
                     const s = performance.getEntriesByType('resource').find((e) => e.name.includes('/api/v1/status')); \
                     done({ at, status_end: s ? s.responseEnd : null, status_start: s ? s.startTime : null, \
                            transfer: s ? s.transferSize : null, \
                            nav: performance.getEntriesByType('navigation')[0].responseEnd, \
                            dcl: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd, \
                            paint: performance.getEntriesByType('paint').map((e) => [e.name, Math.round(e.startTime)]), \
                            requests: performance.getEntriesByType('resource').map((e) => [e.name.replace(location.origin, ''), Math.round(e.startTime), Math.round(e.responseEnd)]) }); \
                   } else setTimeout(poll, 5); }; \
                 poll();",
                vec![],
            )
            .await
            .expect("render timing");
        total.push(value["at"].as_f64().unwrap());
        fetched.push(value["status_end"].as_f64().unwrap_or(f64::NAN));
        after_fetch
            .push(value["at"].as_f64().unwrap() - value["status_end"].as_f64().unwrap_or(0.0));
        transfer = value["transfer"].as_f64().unwrap_or(f64::NAN);
        println!("    load: {value}");
    }
    let _ = client.close().await;
    let (cpu_b, _) = cpu_and_rss(daemon.pid());
    println!(
        "overview render with {checks} checks (median of 5 loads; load {}):",
        load_average()
    );
    println!(
        "  navigation start -> application tile rendered: {:.0} ms (goal <= 1000 ms)",
        median(&mut total)
    );
    println!(
        "    of which /api/v1/status fetched by {:.0} ms, then {:.0} ms of script until the tile",
        median(&mut fetched),
        median(&mut after_fetch)
    );
    println!(
        "  /api/v1/status: {:.2} MB ({status_ms:.0} ms to fetch with a raw client; transfer size in the browser {:.2} MB); HTML shell {:.2} MB",
        status_bytes as f64 / 1e6,
        transfer / 1e6,
        shell.len() as f64 / 1e6
    );
    println!(
        "  lookout RSS {:.1} MB; its CPU during the 5 loads {:.1} s over {:.0} s",
        rss as f64 / 1e6,
        cpu_b - cpu_a,
        (started.elapsed() - loads).as_secs_f64()
    );
}

// ---------- 4. the dashboard at 1,000 checks (issue 18) ----------

const SEC_MS: i64 = 1_000;
const MIN_MS: i64 = 60 * SEC_MS;
const HOUR_MS: i64 = 60 * MIN_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// A listener on `addr` (port 0: any) that accepts and closes, on its own thread, until the
/// returned flag is set (then it stops accepting and its port refuses connections).
fn accept_and_close(
    addr: &str,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let listener = std::net::TcpListener::bind(addr).expect("bind a local listener");
    let local = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    std::thread::spawn(move || {
        while !stopping.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => drop(stream),
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    (local, stop)
}

/// 30 days of history, ending now, for the tcp checks `names`, as `CheckProbe` writes it (the
/// result, `check_up`, `check_duration_seconds`, `check_error_ratio`, `tcp_connect_seconds`),
/// one run per `step_ms`, written through the store's API with a manual clock (flushed every
/// 10 runs, maintained every hour, as the daemon does). Each check has a 20-minute outage
/// every week, at its own hour, so strips and uptimes are not all green.
async fn seed_history(
    data: &Path,
    names: &[String],
    target: std::net::SocketAddr,
    step_ms: i64,
) -> usize {
    use lookout::clock::{ManualClock, SharedClock};
    use lookout::model::{CheckResult, Layer, Observation, Sample, SeriesKey, Status};
    use lookout::store::{Store, StoreOptions};
    use std::sync::Arc;

    let end = now_ms() / step_ms * step_ms;
    let start = end - 30 * DAY_MS;
    let clock = ManualClock::new(start);
    let shared: SharedClock = clock.clone();
    let store = Store::open(data, StoreOptions::default(), shared)
        .await
        .expect("open the store to seed");
    let keys: Vec<[Arc<SeriesKey>; 4]> = names
        .iter()
        .map(|name| {
            [
                Arc::new(
                    SeriesKey::new("check_up")
                        .with("check", name)
                        .with("type", "tcp"),
                ),
                Arc::new(SeriesKey::new("check_duration_seconds").with("check", name)),
                Arc::new(SeriesKey::new("check_error_ratio").with("check", name)),
                Arc::new(SeriesKey::new("tcp_connect_seconds").with("check", name)),
            ]
        })
        .collect();
    let mut rng = lookout::store::synth::Rng::new(18);
    let mut results = 0;
    let mut at = start;
    let mut runs = 0u64;
    while at <= end {
        clock.set(at);
        let mut samples = Vec::with_capacity(names.len() * 4);
        let mut checks = Vec::with_capacity(names.len());
        for (i, (name, keys)) in names.iter().zip(&keys).enumerate() {
            let offset = (i as i64 % 168) * HOUR_MS;
            let down = (at - start + offset) % (7 * DAY_MS) < 20 * MIN_MS;
            let took = 0.0001 + rng.unit() * 0.0004;
            let (status, detail, value) = if down {
                (
                    Status::Critical,
                    format!("cannot connect to {target}: Connection refused (os error 111)"),
                    None,
                )
            } else {
                (
                    Status::Ok,
                    format!("connected to {target} in {:.1} ms", took * 1e3),
                    Some(took),
                )
            };
            let up = if down { 0.0 } else { 1.0 };
            samples.push(Sample {
                series: keys[0].clone(),
                value: up,
            });
            samples.push(Sample {
                series: keys[1].clone(),
                value: took,
            });
            samples.push(Sample {
                series: keys[2].clone(),
                value: 1.0 - up,
            });
            if !down {
                samples.push(Sample {
                    series: keys[3].clone(),
                    value: took,
                });
            }
            checks.push(CheckResult {
                check: name.clone(),
                layer: Layer::Application,
                status,
                value,
                detail,
                at_ms: at,
                underlying: None,
            });
        }
        results += checks.len();
        store.ingest(&Observation {
            source: "seed".into(),
            at_ms: at,
            samples,
            checks,
        });
        runs += 1;
        if runs.is_multiple_of(10) {
            store.flush().await.expect("flush");
        }
        if (at - start) % HOUR_MS < step_ms {
            store.maintain().await.expect("maintain");
        }
        at += step_ms;
    }
    store.flush().await.expect("flush");
    store.maintain().await.expect("maintain");
    store.close().await.expect("close the store");
    results
}

/// What one page load measured.
#[derive(Debug, Default, Clone)]
struct Load {
    /// Navigation start -> ready (see `READY_JS`), ms.
    ready: f64,
    /// When `body[data-ready]` was seen, and when the last API response of the load ended, ms.
    flag: f64,
    last_api: f64,
    /// Bytes over the network (transferSize: 0 for what came from the cache) and encoded
    /// body bytes (what the page needs, cached or not), navigation included.
    transferred: f64,
    encoded: f64,
    requests: usize,
}

/// Waits (in the page) until it is ready: the dashboard's script has set `body[data-ready]`
/// (it does once its page is rendered from its first data), `main` has content, and no new
/// resource has arrived for 300 ms (charts and lists that fetch after the first render); ready
/// is then the later of the flag and the end of the last API response. Returns the timings
/// and the bytes of every resource of the load. (The resource timing buffer holds 250 entries
/// by default: raised at once, or a page fetching more would look quiet once it is full.)
const READY_JS: &str = "const done = arguments[arguments.length - 1]; \
  performance.setResourceTimingBufferSize(100000); \
  let flag = null, count = -1, quietSince = 0; \
  const poll = () => { \
    const now = performance.now(); \
    const main = document.querySelector('main') || document.body; \
    if (flag === null && document.body.dataset.ready === 'true' && main.children.length > 0) flag = now; \
    const entries = performance.getEntriesByType('resource'); \
    if (entries.length !== count) { count = entries.length; quietSince = now; } \
    if (flag !== null && now - quietSince >= 300) { \
      const api = entries.filter((e) => e.name.includes('/api/')); \
      const lastApi = api.reduce((m, e) => Math.max(m, e.responseEnd), 0); \
      const nav = performance.getEntriesByType('navigation')[0]; \
      const all = [nav, ...entries]; \
      done({ ready: Math.max(flag, lastApi), flag, last_api: lastApi, \
             transferred: all.reduce((s, e) => s + (e.transferSize || 0), 0), \
             encoded: all.reduce((s, e) => s + (e.encodedBodySize || 0), 0), \
             requests: all.length, \
             list: all.map((e) => [e.name.replace(location.origin, ''), Math.round(e.startTime), Math.round(e.responseEnd), e.transferSize, e.encodedBodySize]) }); \
    } else setTimeout(poll, 5); }; \
  poll();";

/// Loads `url` and waits until it is ready; `Err` when it was not within WebDriver's script
/// timeout (30 s).
async fn load_page(client: &Client, url: &str) -> Result<(Load, Value), String> {
    client
        .goto(url)
        .await
        .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    let value = client
        .execute_async(READY_JS, vec![])
        .await
        .map_err(|e| format!("{url} not ready: {e}"))?;
    let f = |k: &str| value[k].as_f64().unwrap_or(f64::NAN);
    let load = Load {
        ready: f("ready"),
        flag: f("flag"),
        last_api: f("last_api"),
        transferred: f("transferred"),
        encoded: f("encoded"),
        requests: value["requests"].as_u64().unwrap_or(0) as usize,
    };
    Ok((load, value["list"].clone()))
}

/// Scrolls the page for 2 s (100 px per frame, back up at the bottom) and returns the frame
/// intervals in ms.
const SCROLL_JS: &str = "const done = arguments[arguments.length - 1]; \
  const frames = []; let last = performance.now(); const end = last + 2000; \
  const step = (t) => { frames.push(t - last); last = t; \
    const bottom = window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 2; \
    window.scrollBy(0, bottom ? -document.documentElement.scrollHeight : 100); \
    if (t < end) requestAnimationFrame(step); else done(frames); }; \
  requestAnimationFrame(step);";

/// Installs (in the page) a watcher that records `Date.now()` when the check `name` is first
/// shown critical: an element in `main` marked critical (`data-status` or the `s-critical`
/// class) whose row, card or tile mentions the check, or, on pages that summarise (the
/// overview's tiles), any critical mark at all (every other check is ok).
fn watch_js(name: &str, summary: bool) -> String {
    format!(
        "window.__shown = null; \
         const shown = () => Array.from(document.querySelectorAll('main [data-status=critical], main .s-critical')) \
           .some((el) => {summary} || ((el.closest('tr, li, article, section, [data-check]') || el).textContent.includes('{name}'))); \
         const check = () => {{ if (window.__shown === null && shown()) window.__shown = Date.now(); }}; \
         check(); \
         new MutationObserver(check).observe(document.body, {{ subtree: true, childList: true, attributes: true, characterData: true }}); \
         return window.__shown;"
    )
}

fn stats(values: &mut [f64]) -> String {
    values.sort_by(|a, b| a.total_cmp(b));
    format!(
        "median {:.0}, min {:.0}, max {:.0}",
        values[values.len() / 2],
        values[0],
        values[values.len() - 1]
    )
}

async fn scale() {
    let checks: usize = env_or("LOOKOUT_BENCH_SCALE_CHECKS", 1000);
    let with_history: usize = env_or("LOOKOUT_BENCH_HISTORY_CHECKS", 100);
    let step_s: i64 = env_or("LOOKOUT_BENCH_HISTORY_STEP", 60);
    let loads: usize = env_or("LOOKOUT_BENCH_LOADS", 5);
    let flips: usize = env_or("LOOKOUT_BENCH_FLIPS", 10);
    let (target, _target_stop) = accept_and_close("127.0.0.1:0");
    let (flip_addr, mut flip_stop) = accept_and_close("127.0.0.1:0");
    // checks - 1 tcp checks at 60 s (the first `with_history` with 30 days of history) and
    // `flip`, at 1 s against a listener the bench stops and starts.
    let names: Vec<String> = (0..checks - 1).map(|i| format!("c{i:04}")).collect();
    let mut extra = String::new();
    for name in &names {
        extra.push_str(&format!(
            "\n[[check]]\nname = \"{name}\"\ntype = \"tcp\"\naddress = \"{target}\"\ninterval = \"60s\"\ntimeout = \"5s\"\n"
        ));
    }
    extra.push_str(&format!(
        "\n[[check]]\nname = \"flip\"\ntype = \"tcp\"\naddress = \"{flip_addr}\"\ninterval = \"1s\"\ntimeout = \"1s\"\nretries = 0\nrecover_after = 1\n"
    ));
    let dir = tempfile::tempdir().expect("temp dir");
    let seeding = Instant::now();
    let data = dir.path().join("data");
    // LOOKOUT_BENCH_SEED_FROM: a folder holding a lookout.db seeded before (without users or
    // tokens), copied instead of seeding again (seeding takes minutes).
    let results = match std::env::var_os("LOOKOUT_BENCH_SEED_FROM") {
        Some(from) => {
            std::fs::create_dir_all(&data).unwrap();
            std::fs::copy(Path::new(&from).join("lookout.db"), data.join("lookout.db"))
                .expect("copy the seeded store");
            0
        }
        None => {
            seed_history(
                &data,
                &names[..with_history.min(names.len())],
                target,
                step_s * SEC_MS,
            )
            .await
        }
    };
    // LOOKOUT_BENCH_SEED_KEEP: a folder to keep the freshly seeded lookout.db in, for later
    // runs with LOOKOUT_BENCH_SEED_FROM.
    if let (Some(keep), true) = (std::env::var_os("LOOKOUT_BENCH_SEED_KEEP"), results > 0) {
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(data.join("lookout.db"), Path::new(&keep).join("lookout.db"))
            .expect("keep the seeded store");
    }
    println!(
        "  (seeded {with_history} checks x 30 days at {step_s} s: {results} results (0: copied) in {:.0} s; store {:.1} MB)",
        seeding.elapsed().as_secs_f64(),
        std::fs::metadata(data.join("lookout.db")).map_or(0, |m| m.len()) as f64 / 1e6
    );
    let daemon = Daemon::start_in(dir, "10s", &extra, Duration::from_secs(120));
    // Every check has run once (they are spread over the 60 s interval).
    let started = Instant::now();
    loop {
        let (_, body) = daemon
            .get("/api/v1/status?series=none")
            .expect("/api/v1/status");
        let status: Value = serde_json::from_slice(&body).unwrap();
        let n = status["checks"].as_array().map_or(0, |a| {
            a.iter()
                .filter(|c| {
                    c["check"]
                        .as_str()
                        .is_some_and(|n| n == "flip" || n.starts_with('c'))
                })
                .count()
        });
        if n >= checks {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {n} of {checks} checks in /api/v1/status after 120 s"
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let (_, rss) = cpu_and_rss(daemon.pid());
    let driver = chromedriver();
    let client = browser(&driver).await;
    login(&client, &daemon.base()).await;
    let detail = format!("/checks/{}", names[with_history.min(names.len()) / 2]);
    let mut figures = Vec::new();
    for (what, path, ready_goal) in [
        ("overview", "/".to_string(), 1000.0),
        ("checks list", "/checks".to_string(), 1000.0),
        ("check detail (30 days of history)", detail.clone(), 500.0),
    ] {
        let url = format!("{}{path}", daemon.base());
        let mut all = Vec::new();
        for n in 0..loads {
            let (load, list) = match load_page(&client, &url).await {
                Ok(loaded) => loaded,
                Err(e) => {
                    figures.push(format!("  {what} ({path}): {e}"));
                    println!("{}", figures.last().unwrap());
                    break;
                }
            };
            if n == 0 {
                // The first requests, and how many there were.
                let list = list.as_array().cloned().unwrap_or_default();
                let shown: Vec<String> = list.iter().take(10).map(|e| e.to_string()).collect();
                println!(
                    "    {path} first load, {} resources: {} ...",
                    list.len(),
                    shown.join(" ")
                );
            }
            all.push(load);
        }
        if all.is_empty() {
            continue;
        }
        let first = all[0].clone();
        let mut ready: Vec<f64> = all.iter().map(|l| l.ready).collect();
        let mut flag: Vec<f64> = all.iter().map(|l| l.flag).collect();
        let mut last_api: Vec<f64> = all.iter().map(|l| l.last_api).collect();
        figures.push(format!(
            "  {what} ({path}): ready {} ms (goal <= {ready_goal:.0}); data-ready flag {} ms; last API response {} ms\n    \
             first load: {:.0} KB transferred (goal <= 300), {:.0} KB encoded bodies, {} requests; later loads {:.0} KB transferred",
            stats(&mut ready),
            stats(&mut flag),
            stats(&mut last_api),
            first.transferred / 1e3,
            first.encoded / 1e3,
            first.requests,
            all.last().map_or(0.0, |l| l.transferred) / 1e3,
        ));
        println!("{}", figures.last().unwrap());
    }
    // Scrolling the checks list.
    client
        .goto(&format!("{}/checks", daemon.base()))
        .await
        .unwrap();
    let _ = client.execute_async(READY_JS, vec![]).await;
    let frames: Vec<f64> = serde_json::from_value(
        client
            .execute_async(SCROLL_JS, vec![])
            .await
            .expect("scroll"),
    )
    .unwrap_or_default();
    let mut sorted = frames.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let long = frames.iter().filter(|&&f| f > 50.0).count();
    figures.push(format!(
        "  scrolling /checks 2 s: {} frames, p95 {:.0} ms, max {:.0} ms, {long} longer than 50 ms",
        frames.len(),
        sorted
            .get(sorted.len() * 95 / 100)
            .copied()
            .unwrap_or(f64::NAN),
        sorted.last().copied().unwrap_or(f64::NAN)
    ));
    println!("{}", figures.last().unwrap());

    // Live change -> DOM: the flip check goes critical (its listener stops); the time from
    // the result's tick (`at`, the probe's scheduled time) to the page showing it.
    let (mut feed, _) = tokio_tungstenite::connect_async(daemon.live_request())
        .await
        .expect("live feed");
    for (page, summary) in [("/checks", false), ("/", true)] {
        let mut dom = Vec::new();
        let mut wire = Vec::new();
        for _ in 0..flips {
            // Back to ok first, and the page reloaded in that state.
            if flip_stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (_, stop) = accept_and_close(&flip_addr.to_string());
                flip_stop = stop;
            }
            let waiting = Instant::now();
            loop {
                let (_, body) = daemon.get("/api/v1/status?series=none").unwrap();
                let status: Value = serde_json::from_slice(&body).unwrap();
                let ok = status["checks"].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|c| c["check"] == "flip" && c["status"] == "ok")
                });
                if ok {
                    break;
                }
                assert!(waiting.elapsed() < Duration::from_secs(30), "flip never ok");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            if let Err(e) = load_page(&client, &format!("{}{page}", daemon.base())).await {
                println!("    {e}: live change not measured there");
                break;
            }
            let before = js(&client, &watch_js("flip", summary)).await;
            if !before.is_null() {
                println!("    {page} shows a critical mark while flip is ok: not measured there");
                break;
            }
            // What the feed carried so far is of before the flip.
            while let Ok(Some(_)) =
                tokio::time::timeout(Duration::from_millis(1), feed.next()).await
            {}
            flip_stop.store(true, std::sync::atomic::Ordering::Relaxed);
            // The first critical result of flip on the feed: its tick, and when it came.
            let at = loop {
                let text = match feed.next().await {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => continue,
                    other => panic!("the bench's live feed ended: {other:?}"),
                };
                if !text.contains("\"flip\"") {
                    continue;
                }
                let msg: Value = serde_json::from_str(&text).unwrap();
                let critical = msg["checks"].as_array().and_then(|checks| {
                    checks
                        .iter()
                        .find(|c| c["check"] == "flip" && c["status"] == "critical")
                });
                if critical.is_some() {
                    wire.push((now_ms() - msg["at"].as_i64().unwrap()) as f64);
                    break msg["at"].as_i64().unwrap();
                }
            };
            let waiting = Instant::now();
            let shown = loop {
                let shown = js(&client, "return window.__shown").await;
                if let Some(shown) = shown.as_i64() {
                    break shown;
                }
                assert!(
                    waiting.elapsed() < Duration::from_secs(30),
                    "{page} never showed flip critical"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            dom.push((shown - at) as f64);
        }
        if !dom.is_empty() {
            figures.push(format!(
                "  live change -> DOM on {page} ({} flips ok -> critical): {} ms (goal <= 300); feed client {} ms",
                dom.len(),
                stats(&mut dom),
                stats(&mut wire)
            ));
            println!("{}", figures.last().unwrap());
        }
    }
    let _ = client.close().await;
    println!(
        "dashboard at {checks} checks ({with_history} with 30 days of history; load {}; lookout RSS {:.1} MB):",
        load_average(),
        rss as f64 / 1e6
    );
    for line in figures {
        println!("{line}");
    }
}

fn main() {
    raise_open_files(65_536);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wants = |name: &str| {
        !args
            .iter()
            .any(|a| ["latency", "clients", "render", "scale"].contains(&a.as_str()))
            || args.iter().any(|a| a == name)
    };
    println!(
        "dashboard bench ({}), load average {}",
        env!("CARGO_BIN_EXE_lookout"),
        load_average()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if wants("latency") {
            latency().await;
        }
        if wants("clients") {
            // LOOKOUT_BENCH_PATTERN=burst (or sequential) runs one of the two.
            let pattern = std::env::var("LOOKOUT_BENCH_PATTERN").unwrap_or_default();
            if pattern.is_empty() || pattern == "control" {
                clients(Pattern::Nobody).await;
            }
            if pattern != "burst" && pattern != "control" {
                clients(Pattern::OneAfterAnother).await;
            }
            if pattern != "sequential" && pattern != "control" {
                clients(Pattern::AtOnce).await;
            }
        }
        if wants("render") {
            render().await;
        }
        if wants("scale") {
            scale().await;
        }
    });
}
