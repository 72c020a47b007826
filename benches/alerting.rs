//! The alert manager (issue "Alert manager"). Two parts; run both with
//! `cargo bench --bench alerting`, or one with `cargo bench --bench alerting -- time` / `-- rules`.
//!
//! - `time`: time to alert. A local HTTP target switches from 200 to 500 at t0; the release
//!   `lookout serve` checks it every second (`[[check]] type = "http" interval = "1s"`, default
//!   alert settings) and mails through aiosmtpd (`tests/support/smtp_server.py`); t1 is when the
//!   mail file appears (polled every 2 ms). Each trial starts a fresh daemon (a fresh store, so the
//!   alert's group has sent nothing yet), waits for two good check runs, pauses a random 0-1 s so
//!   t0 falls at a random phase of the check interval, flips, waits for the critical mail.
//!   `LOOKOUT_BENCH_TRIALS` overrides the 20 trials. Goal: p50 <= 2 s.
//! - `flap`: the same target and daemon kept across trials: flip to 500, wait for the critical
//!   mail, flip back, wait for the resolved mail, random 0-1 s pause, again. Shows what
//!   `group_interval` (default 1m) does to a second failure on the same host. Not run by
//!   default (2 minutes per trial; `LOOKOUT_BENCH_TRIALS` defaults to 3 here);
//!   `cargo bench --bench alerting -- flap`.
//! - `rules`: in-process cost of `Engine::observe` on 10,000 series (default rules + 20 metric
//!   rules), steady state and with 10 % firing, and of `Engine::tick` (also with 20 % and 40 %
//!   firing, to show how it grows); allocations per call are counted by a counting global
//!   allocator in this binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lookout::alert::Engine;
use lookout::model::{CheckResult, Layer, Observation, Sample, SeriesKey, Status};

// ----------------------------------------------------------------------------------------------
// Allocation counting (cheap: two relaxed atomic adds per allocation).

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> (u64, u64) {
    (
        ALLOCATIONS.load(Ordering::Relaxed),
        ALLOCATED_BYTES.load(Ordering::Relaxed),
    )
}

// ----------------------------------------------------------------------------------------------
// Small helpers.

/// xorshift64*: random pauses without a dependency.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0x9E37_79B9, |d| d.as_nanos() as u64);
        Rng(nanos | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ----------------------------------------------------------------------------------------------
// The HTTP target: answers every request with the current status, and remembers when it served
// each response and with which status.

struct Target {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    served: Arc<Mutex<Vec<(Instant, u16)>>>,
}

impl Target {
    fn start() -> Target {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let status = Arc::new(AtomicU16::new(200));
        let served = Arc::new(Mutex::new(Vec::new()));
        let (s, v) = (status.clone(), served.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (s, v) = (s.clone(), v.clone());
                std::thread::spawn(move || serve(stream, &s, &v));
            }
        });
        Target {
            addr,
            status,
            served,
        }
    }

    fn served_count(&self) -> usize {
        self.served.lock().unwrap().len()
    }

    /// The first response with `status` served at or after `since`.
    fn first_served(&self, status: u16, since: Instant) -> Option<Instant> {
        self.served
            .lock()
            .unwrap()
            .iter()
            .find(|(at, s)| *s == status && *at >= since)
            .map(|(at, _)| *at)
    }
}

fn serve(mut stream: TcpStream, status: &AtomicU16, served: &Mutex<Vec<(Instant, u16)>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_nodelay(true);
    let mut buffer = [0u8; 4096];
    let mut request = Vec::new();
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                request.extend_from_slice(&buffer[..n]);
                while let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                    request.drain(..end + 4);
                    let code = status.load(Ordering::SeqCst);
                    let body: &[u8] = if code == 200 {
                        br#"{"status":"healthy"}"#
                    } else {
                        br#"{"status":"broken"}"#
                    };
                    let reason = if code == 200 {
                        "OK"
                    } else {
                        "Internal Server Error"
                    };
                    let head = format!(
                        "HTTP/1.1 {code} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    served.lock().unwrap().push((Instant::now(), code));
                    if stream.write_all(head.as_bytes()).is_err() || stream.write_all(body).is_err()
                    {
                        return;
                    }
                }
            }
        }
    }
}

// ----------------------------------------------------------------------------------------------
// The SMTP server (aiosmtpd) and the daemon.

struct Smtp {
    child: Child,
    port: u16,
    out: PathBuf,
    /// How many mails have been seen so far (the server names them 1.json, 2.json, ...).
    seen: usize,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smtp {
    fn start(dir: &Path) -> Smtp {
        let port = free_port();
        let out = dir.join("mail");
        std::fs::create_dir_all(&out).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", &port.to_string(), "--out"])
            .arg(&out)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 with aiosmtpd is needed");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        Smtp {
            child,
            port,
            out,
            seen: 0,
        }
    }

    /// Waits for the next mail; returns when its file appeared and its subject.
    fn next_mail(&mut self, timeout: Duration) -> Option<(Instant, String)> {
        let path = self.out.join(format!("{}.json", self.seen + 1));
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if path.exists() {
                let at = Instant::now();
                self.seen += 1;
                let text = std::fs::read_to_string(&path).unwrap();
                let mail: serde_json::Value = serde_json::from_str(&text).unwrap();
                let subject = mail["subject"].as_str().unwrap_or_default().to_string();
                return Some((at, subject));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        None
    }
}

struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signals our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_daemon(dir: &Path, target: SocketAddr, smtp_port: u16, log_level: &str) -> Daemon {
    std::fs::create_dir_all(dir).unwrap();
    let config = dir.join("lookout.toml");
    // The system probe is off so that the host's own cpu/memory/disk cannot add mails; every
    // alert setting is the default.
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\
             [storage]\npath = \"{data}\"\n\
             [system]\nenabled = false\n\
             [[check]]\nname = \"app\"\ntype = \"http\"\nurl = \"http://{target}/health\"\ninterval = \"1s\"\n\
             [[notifier]]\nname = \"ops-mail\"\ntype = \"email\"\nsmtp = \"smtp://127.0.0.1:{smtp_port}\"\n\
             from = \"lookout@example.org\"\nto = [\"ops@example.org\"]\n",
            port = free_port(),
            data = dir.join("data").display(),
        ),
    )
    .unwrap();
    let log = dir.join("lookout.log");
    let child = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["serve", "--log-level", log_level, "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start lookout");
    Daemon { child, log }
}

/// Wall-clock instants (ms) of the daemon's log lines containing `needle`.
fn log_times(log: &Path, needle: &str) -> Vec<i64> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains(needle))
        .filter_map(|l| {
            let stamp = l.split_whitespace().next()?;
            let stamp = strip_ansi(stamp);
            let t = humantime::parse_rfc3339(&stamp).ok()?;
            Some(t.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64)
        })
        .collect()
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

struct Trial {
    total_ms: f64,
    phase_ms: f64,
    /// First 500 served -> "check status changed" to critical (the daemon's info line).
    check_ms: Option<f64>,
    /// Status changed -> the alert engine's firing line.
    decide_ms: Option<f64>,
    /// Alert decided -> mail accepted.
    notify_ms: Option<f64>,
}

fn summarize(name: &str, trials: &[Trial]) {
    let mut totals: Vec<f64> = trials.iter().map(|t| t.total_ms).collect();
    totals.sort_by(f64::total_cmp);
    let mut phases: Vec<f64> = trials.iter().map(|t| t.phase_ms).collect();
    phases.sort_by(f64::total_cmp);
    let mut pipeline: Vec<f64> = trials.iter().map(|t| t.total_ms - t.phase_ms).collect();
    pipeline.sort_by(f64::total_cmp);
    let mut check: Vec<f64> = trials.iter().filter_map(|t| t.check_ms).collect();
    check.sort_by(f64::total_cmp);
    let mut decide: Vec<f64> = trials.iter().filter_map(|t| t.decide_ms).collect();
    decide.sort_by(f64::total_cmp);
    let mut notify: Vec<f64> = trials.iter().filter_map(|t| t.notify_ms).collect();
    notify.sort_by(f64::total_cmp);
    println!("{name}: {} trials", trials.len());
    println!(
        "  t1 - t0: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms (goal p50 <= 2000 ms)",
        percentile(&totals, 50.0),
        percentile(&totals, 90.0),
        percentile(&totals, 99.0),
        totals.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "  of which t0 -> first 500 served (check interval phase): p50 {:.0} ms, max {:.0} ms",
        percentile(&phases, 50.0),
        phases.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "  of which first 500 served -> mail accepted (pipeline): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&pipeline, 50.0),
        percentile(&pipeline, 99.0),
        pipeline.last().copied().unwrap_or(f64::NAN)
    );
    if !check.is_empty() {
        println!(
            "    first 500 -> check status changed (retry, log ms): p50 {:.0} ms, max {:.0} ms ({} trials)",
            percentile(&check, 50.0),
            check.last().copied().unwrap_or(f64::NAN),
            check.len()
        );
    }
    if !decide.is_empty() {
        println!(
            "    status changed -> alert decided and committed: p50 {:.0} ms, max {:.0} ms",
            percentile(&decide, 50.0),
            decide.last().copied().unwrap_or(f64::NAN)
        );
    }
    if !notify.is_empty() {
        println!(
            "    alert decided -> mail accepted: p50 {:.0} ms, max {:.0} ms",
            percentile(&notify, 50.0),
            notify.last().copied().unwrap_or(f64::NAN)
        );
    }
}

fn trials_wanted(default: usize) -> usize {
    std::env::var("LOOKOUT_BENCH_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Waits until the target has served `n` more responses (i.e. the check is running).
fn wait_served(target: &Target, n: usize, timeout: Duration) {
    let start = target.served_count();
    let deadline = Instant::now() + timeout;
    while target.served_count() < start + n {
        assert!(
            Instant::now() < deadline,
            "the daemon does not check the target"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One flip to 500: returns the trial's figures once the critical mail is in.
fn flip_and_wait(target: &Target, smtp: &mut Smtp, log: &Path, timeout: Duration) -> Trial {
    let t0_wall = wall_ms();
    let t0 = Instant::now();
    target.status.store(500, Ordering::SeqCst);
    let (t1, subject) = smtp
        .next_mail(timeout)
        .expect("no mail within the timeout after the flip");
    assert!(
        subject.starts_with("[CRITICAL]"),
        "expected the critical mail, got {subject:?}"
    );
    let first = target
        .first_served(500, t0)
        .expect("a 500 was served before the alert");
    let phase_ms = (first - t0).as_secs_f64() * 1e3;
    let total_ms = (t1 - t0).as_secs_f64() * 1e3;
    // The engine's info line for the firing notice (wall clock, after t0).
    // The daemon's info lines (wall clock, ms resolution), after t0.
    let first_after = |needle: &str, also: &str| {
        log_times(log, needle)
            .into_iter()
            .chain(log_times(log, also))
            .filter(|&at| at >= t0_wall)
            .min()
    };
    let changed = first_after("to=critical", "to=\"critical\"");
    let decided = first_after("kind=\"firing\"", "kind=firing");
    let t1_wall = t0_wall + total_ms as i64;
    let first_wall = t0_wall as f64 + phase_ms;
    Trial {
        total_ms,
        phase_ms,
        check_ms: changed.map(|at| at as f64 - first_wall),
        decide_ms: changed.zip(decided).map(|(c, d)| (d - c) as f64),
        notify_ms: decided.map(|at| (t1_wall - at) as f64),
    }
}

fn time_to_alert() {
    let trials = trials_wanted(20);
    let dir = tempfile::tempdir().expect("temp dir");
    let target = Target::start();
    let mut smtp = Smtp::start(dir.path());
    let mut rng = Rng::seeded();
    let mut results = Vec::new();
    println!(
        "time to alert, fresh daemon per trial (load average before: {})",
        load_average()
    );
    for trial in 0..trials {
        target.status.store(200, Ordering::SeqCst);
        let daemon = start_daemon(
            &dir.path().join(format!("run{trial}")),
            target.addr,
            smtp.port,
            "info",
        );
        // Two good check runs (a run with retries = 1 is one request when it succeeds).
        wait_served(&target, 2, Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(rng.below(1000)));
        let result = flip_and_wait(&target, &mut smtp, &daemon.log, Duration::from_secs(120));
        println!(
            "  trial {:2}: {:6.0} ms (phase {:4.0} ms, pipeline {:5.0} ms{})",
            trial + 1,
            result.total_ms,
            result.phase_ms,
            result.total_ms - result.phase_ms,
            match (result.check_ms, result.decide_ms, result.notify_ms) {
                (Some(c), Some(d), Some(n)) =>
                    format!(": 500->status {c:.0}, status->decided {d:.0}, decided->mail {n:.0}"),
                _ => String::new(),
            }
        );
        results.push(result);
        drop(daemon);
    }
    summarize("time to alert (fresh daemon per trial)", &results);
    println!("  load average after: {}", load_average());
}

fn flap() {
    let trials = trials_wanted(3);
    let dir = tempfile::tempdir().expect("temp dir");
    let target = Target::start();
    let mut smtp = Smtp::start(dir.path());
    let mut rng = Rng::seeded();
    let daemon = start_daemon(&dir.path().join("run"), target.addr, smtp.port, "info");
    wait_served(&target, 2, Duration::from_secs(30));
    println!(
        "time to alert, one daemon, flip/recover cycles (load average before: {})",
        load_average()
    );
    let mut results = Vec::new();
    for trial in 0..trials {
        std::thread::sleep(Duration::from_millis(rng.below(1000)));
        let result = flip_and_wait(&target, &mut smtp, &daemon.log, Duration::from_secs(300));
        let back = Instant::now();
        target.status.store(200, Ordering::SeqCst);
        let (resolved_at, subject) = smtp
            .next_mail(Duration::from_secs(300))
            .expect("no resolved mail");
        assert!(subject.starts_with("[RESOLVED]"), "got {subject:?}");
        println!(
            "  trial {:2}: critical after {:6.0} ms (phase {:4.0} ms); resolved mail {:6.0} ms after the flip back",
            trial + 1,
            result.total_ms,
            result.phase_ms,
            (resolved_at - back).as_secs_f64() * 1e3
        );
        results.push(result);
    }
    summarize("time to alert (one daemon, flapping)", &results);
    println!("  load average after: {}", load_average());
}

// ----------------------------------------------------------------------------------------------
// Rule evaluation cost, in process.

const FS_SERIES: usize = 2_000;
const RULE_METRICS: usize = 20;
const SERIES_PER_RULE_METRIC: usize = 100;
const OTHER_SERIES: usize = 5_000;
const CHECKS: usize = 1_000;

fn rules_config() -> lookout::config::Config {
    // The checks are configured (check_failed and check_no_data watch configured checks; an
    // unknown one is taken for a system check) at 1m, so no-data stays quiet during the runs.
    // A notifier exists so that firing alerts produce outbox rows (never sent here).
    let mut text = String::from(
        "[system]\ninterval = \"1s\"\n\
         [[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n",
    );
    for i in 0..RULE_METRICS {
        text.push_str(&format!(
            "[[alerts.rule]]\nname = \"bench_rule_{i}\"\n\
             metric = 'bench_metric_{i}{{role!=\"ignored\"}}'\nunit = \"number\"\n\
             warning = 80\ncritical = 90\nfor = \"2m\"\n"
        ));
    }
    for i in 0..CHECKS {
        text.push_str(&format!(
            "[[check]]\nname = \"check{i}\"\ntype = \"http\"\nurl = \"http://127.0.0.1:9/{i}\"\ninterval = \"1m\"\n"
        ));
    }
    lookout::config::from_str(&text, "bench.toml", &|_| None)
        .unwrap_or_else(|e| panic!("bench config: {e}"))
}

/// 10,000 series: 2,000 filesystem_usage_ratio (disk_usage rule), 2,000 of 20 metrics with one
/// rule each, 5,000 matching no rule, and 1,000 check results (check_failed). `firing` out of
/// each 10 of every kind are bad (critical values / critical status).
struct Workload {
    fs: Vec<Arc<SeriesKey>>,
    rule_series: Vec<Arc<SeriesKey>>,
    other: Vec<Arc<SeriesKey>>,
}

impl Workload {
    fn new() -> Workload {
        let fs = (0..FS_SERIES)
            .map(|i| {
                Arc::new(
                    SeriesKey::new("filesystem_usage_ratio")
                        .with("mountpoint", format!("/mnt/volume{i}"))
                        .with("device", format!("/dev/vd{i}"))
                        .with("fstype", "ext4"),
                )
            })
            .collect();
        let rule_series = (0..RULE_METRICS * SERIES_PER_RULE_METRIC)
            .map(|i| {
                Arc::new(
                    SeriesKey::new(format!("bench_metric_{}", i % RULE_METRICS))
                        .with("instance", format!("i{i}"))
                        .with("role", "app"),
                )
            })
            .collect();
        let other = (0..OTHER_SERIES)
            .map(|i| {
                Arc::new(
                    SeriesKey::new(format!("unwatched_metric_{}", i % 50))
                        .with("instance", format!("i{i}")),
                )
            })
            .collect();
        Workload {
            fs,
            rule_series,
            other,
        }
    }

    /// One observation at `at_ms`; a series is bad when `index % 10 < bad_per_10`.
    fn observation(&self, at_ms: i64, bad_per_10: usize) -> Observation {
        let bad = |i: usize| i % 10 < bad_per_10;
        let mut samples = Vec::with_capacity(FS_SERIES + self.rule_series.len() + OTHER_SERIES);
        for (i, s) in self.fs.iter().enumerate() {
            samples.push(Sample {
                series: s.clone(),
                value: if bad(i) { 0.97 } else { 0.42 },
            });
        }
        for (i, s) in self.rule_series.iter().enumerate() {
            samples.push(Sample {
                series: s.clone(),
                value: if bad(i / RULE_METRICS) { 95.0 } else { 10.0 },
            });
        }
        for s in &self.other {
            samples.push(Sample {
                series: s.clone(),
                value: 1.0,
            });
        }
        let checks = (0..CHECKS)
            .map(|i| CheckResult {
                underlying: None,
                check: format!("check{i}"),
                layer: Layer::Application,
                status: if bad(i) { Status::Critical } else { Status::Ok },
                value: None,
                detail: if bad(i) {
                    "HTTP 500".to_string()
                } else {
                    "HTTP 200".to_string()
                },
                at_ms,
            })
            .collect();
        Observation {
            source: "bench".to_string(),
            at_ms,
            samples,
            checks,
        }
    }
}

struct Timing {
    median_ms: f64,
    min_ms: f64,
    allocs_per_call: f64,
    bytes_per_call: f64,
}

/// Times `f` `runs` times (after `warmup` untimed calls); median and min wall time per call.
fn time_it(runs: usize, warmup: usize, mut f: impl FnMut(usize)) -> Timing {
    for i in 0..warmup {
        f(i);
    }
    let mut times = Vec::with_capacity(runs);
    let (a0, b0) = allocations();
    for i in 0..runs {
        let start = Instant::now();
        f(warmup + i);
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let (a1, b1) = allocations();
    times.sort_by(f64::total_cmp);
    Timing {
        median_ms: percentile(&times, 50.0),
        min_ms: times[0],
        allocs_per_call: (a1 - a0) as f64 / runs as f64,
        bytes_per_call: (b1 - b0) as f64 / runs as f64,
    }
}

fn report(what: &str, series: usize, t: &Timing) {
    println!(
        "  {what}: median {:.3} ms ({:.0} ns/series), min {:.3} ms; {:.0} allocations ({:.0} KB) per call",
        t.median_ms,
        t.median_ms * 1e6 / series as f64,
        t.min_ms,
        t.allocs_per_call,
        t.bytes_per_call / 1e3,
    );
}

fn rules() {
    const RUNS: usize = 101;
    let config = rules_config();
    let workload = Workload::new();
    let total = FS_SERIES + workload.rule_series.len() + OTHER_SERIES + CHECKS;
    let start_ms: i64 = 1_800_000_000_000;
    let s = |seconds: f64| start_ms + (seconds * 1000.0) as i64;
    println!(
        "rule evaluation: {} rules ({} metric rules added), {} configured checks, {total} series \
         per observation (load average before: {})",
        config.alerts.rules.len(),
        RULE_METRICS,
        config.checks.len(),
        load_average()
    );

    // Steady state: nothing firing. The observation is built once (the engine takes `now`).
    let mut engine = Engine::new(&config, start_ms);
    let good = workload.observation(start_ms, 0);
    let t = time_it(RUNS, 5, |i| {
        let batch = engine.observe(&good, s(i as f64));
        assert!(batch.is_empty(), "nothing fires");
    });
    report("observe, nothing firing", total, &t);
    let t = time_it(RUNS, 5, |i| {
        let batch = engine.tick(s(106.0 + i as f64 * 0.5));
        assert!(batch.is_empty(), "nothing fires");
    });
    report("tick, nothing live", total, &t);

    firing(&config, &workload, 1, true);
    // How `tick` grows with the number of firing alerts (see BENCHMARKS.md).
    for bad_per_10 in [2, 4] {
        firing(&config, &workload, bad_per_10, false);
    }
    println!("  load average after: {}", load_average());
}

/// `bad_per_10` of every 10 series of each kind bad (1: 200 filesystems, 200 metric series,
/// 100 checks). The check alerts fire at once (check_failed has no `for`), the metric ones
/// after their `for` (2m). `all`: report every step, else only the steady tick.
fn firing(config: &lookout::config::Config, workload: &Workload, bad_per_10: usize, all: bool) {
    const RUNS: usize = 101;
    let total = FS_SERIES + workload.rule_series.len() + OTHER_SERIES + CHECKS;
    let start_ms: i64 = 1_800_000_000_000;
    let s = |seconds: f64| start_ms + (seconds * 1000.0) as i64;
    let checks_bad = CHECKS * bad_per_10 / 10;
    let metrics_bad = (FS_SERIES + workload.rule_series.len()) * bad_per_10 / 10;
    let live = checks_bad + metrics_bad;
    let percent = bad_per_10 * 10;
    let mut engine = Engine::new(config, start_ms);
    let bad = workload.observation(start_ms, bad_per_10);
    let t = time_it(1, 0, |_| {
        let batch = engine.observe(&bad, start_ms);
        assert_eq!(batch.outbox.len(), checks_bad, "check alerts fire at once");
    });
    if all {
        report(
            &format!(
                "observe, first with {percent} % bad ({checks_bad} checks fire, {metrics_bad} metric alerts pending)"
            ),
            total,
            &t,
        );
    }
    for second in 1..120 {
        let batch = engine.observe(&bad, s(second as f64));
        assert!(batch.outbox.is_empty());
    }
    let t = time_it(1, 0, |_| {
        let batch = engine.observe(&bad, s(120.0));
        assert_eq!(
            batch.outbox.len(),
            metrics_bad,
            "metric alerts fire after their for"
        );
    });
    if all {
        report(
            &format!("observe that fires {metrics_bad} metric alerts"),
            total,
            &t,
        );
    }
    let t = time_it(RUNS, 5, |i| {
        let batch = engine.observe(&bad, s(121.0 + i as f64));
        assert!(batch.outbox.is_empty());
    });
    if all {
        report(
            &format!("observe, {percent} % firing ({live} live alerts)"),
            total,
            &t,
        );
    }
    let t = time_it(RUNS, 5, |i| {
        let batch = engine.tick(s(227.0 + i as f64 * 0.5));
        assert!(batch.outbox.is_empty());
    });
    report(&format!("tick, {live} firing alerts"), total, &t);
}

fn main() {
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |name: &str| {
        if parts.is_empty() {
            name != "flap"
        } else {
            parts.iter().any(|p| p == name)
        }
    };
    if wants("rules") {
        rules();
    }
    if wants("time") {
        time_to_alert();
    }
    if wants("flap") {
        flap();
    }
}
