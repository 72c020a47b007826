//! Scrape latency of `/metrics` (issue "External integration": p99 <= 5 ms with 10,000
//! series), measured in the same run as Debian's `prometheus-node-exporter` on the same host.
//!
//! The release `lookout serve` runs 1,000 `tcp` checks (60 s interval) against a local
//! listener, which with the system probe's series makes a little over 10,000 sample lines.
//! After a warm-up, the two exporters are scraped alternately (`LOOKOUT_BENCH_SCRAPES` each,
//! default 1,000), one HTTP/1.0 GET per connection without compression, timed from connect to
//! the last byte. `cargo bench --bench scrape`; `LOOKOUT_BENCH_CHECKS` changes the size, and
//! `LOOKOUT_BENCH_REFRESH` sets `server.metrics_refresh` (default: Lookout's, 1s; "0s" renders
//! the page during each scrape).
//!
//! `cargo bench --bench scrape -- render` times only the rendering (text, and OpenMetrics) of
//! an in-process snapshot of the same shape, without HTTP: CPU time per scrape, which the
//! machine's other load disturbs less than the end-to-end figure.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One scrape: (seconds from connect to the last byte, body).
fn scrape(port: u16) -> Option<(f64, String)> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::with_capacity(1 << 20);
    stream.read_to_end(&mut response).ok()?;
    let elapsed = started.elapsed().as_secs_f64();
    let response = String::from_utf8(response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.contains(" 200 ").then(|| (elapsed, body.to_string()))
}

fn sample_lines(body: &str) -> usize {
    body.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn wait_for(port: u16, what: &str, ready: impl Fn(&str) -> bool) {
    let started = Instant::now();
    loop {
        if let Some((_, body)) = scrape(port)
            && ready(&body)
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{what} not ready within 120 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A snapshot shaped like the end-to-end run: `checks` tcp checks (4 series and a result
/// each) and 150 system-like series.
fn snapshot(checks: usize) -> std::sync::Arc<lookout::exporter::Snapshot> {
    use lookout::model::{CheckResult, Layer, Observation, Sample, SeriesKey, Status};
    use std::sync::Arc;
    let snapshot = lookout::exporter::Snapshot::new();
    let mut system = Vec::new();
    for i in 0..150 {
        system.push(Sample {
            series: Arc::new(
                SeriesKey::new(format!("system_series_{}_bytes", i / 10))
                    .with("device", format!("dev{i}")),
            ),
            value: 123_456_789.0 + i as f64,
        });
    }
    snapshot.apply(&Observation {
        source: "system".into(),
        at_ms: 1,
        samples: system,
        checks: vec![],
    });
    for i in 0..checks {
        let check = format!("tcp-{i:05}");
        let key = |name: &str| Arc::new(SeriesKey::new(name).with("check", check.as_str()));
        snapshot.apply(&Observation {
            source: check.clone(),
            at_ms: 1,
            samples: vec![
                Sample {
                    series: Arc::new(
                        SeriesKey::new("check_up")
                            .with("check", check.as_str())
                            .with("type", "tcp"),
                    ),
                    value: 1.0,
                },
                Sample {
                    series: key("check_duration_seconds"),
                    value: 0.000_123_4 + i as f64 * 1e-9,
                },
                Sample {
                    series: key("check_error_ratio"),
                    value: 0.0,
                },
                Sample {
                    series: key("tcp_connect_seconds"),
                    value: 0.000_101_7,
                },
            ],
            checks: vec![CheckResult {
                check: check.clone(),
                layer: Layer::Application,
                status: Status::Ok,
                value: Some(0.000_123_4),
                detail: "connected in 0.1 ms".into(),
                at_ms: 1,
                underlying: None,
            }],
        });
    }
    snapshot
}

fn render_only(checks: usize, rounds: usize) {
    let snapshot = snapshot(checks);
    let render = || lookout::exporter::render(&snapshot, "bench", 0, 1);
    let text = render();
    let series = sample_lines(&text);
    let mut plain = Vec::with_capacity(rounds);
    let mut open = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let text = render();
        plain.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let _ = lookout::exporter::to_openmetrics(&render());
        open.push(started.elapsed().as_secs_f64());
        std::hint::black_box(text);
    }
    plain.sort_by(f64::total_cmp);
    open.sort_by(f64::total_cmp);
    println!(
        "render only ({series} series, {} KB, {rounds} rounds):",
        text.len() / 1024
    );
    for (what, sorted) in [("text 0.0.4", &plain), ("OpenMetrics", &open)] {
        println!(
            "  {what:<12} p50 {:.2} ms  p99 {:.2} ms",
            percentile(sorted, 50.0) * 1000.0,
            percentile(sorted, 99.0) * 1000.0
        );
    }
}

fn main() {
    if std::env::args().skip(1).any(|a| a == "render") {
        render_only(env_or("LOOKOUT_BENCH_CHECKS", 1000), 300);
        return;
    }
    let checks: usize = env_or("LOOKOUT_BENCH_CHECKS", 1000);
    let scrapes: usize = env_or("LOOKOUT_BENCH_SCRAPES", 1000);
    assert!(
        std::path::Path::new(NODE_EXPORTER).exists(),
        "{NODE_EXPORTER} is needed (.ci/install-node-exporter)"
    );

    // The checks' target: accepts and drops connections.
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    let target_addr = target.local_addr().unwrap();
    std::thread::spawn(move || for _ in target.incoming() {});

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let refresh = std::env::var("LOOKOUT_BENCH_REFRESH")
        .map(|r| format!("metrics_refresh = \"{r}\"\n"))
        .unwrap_or_default();
    let mut config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n{refresh}[storage]\npath = \"{}\"\n",
        dir.path().join("data").display()
    );
    for i in 0..checks {
        config.push_str(&format!(
            "\n[[check]]\nname = \"tcp-{i:05}\"\ntype = \"tcp\"\naddress = \"{target_addr}\"\ninterval = \"60s\"\n"
        ));
    }
    let config_path = dir.path().join("lookout.toml");
    std::fs::write(&config_path, config).unwrap();
    let _lookout = Killed(
        Command::new(env!("CARGO_BIN_EXE_lookout"))
            .args(["serve", "--config"])
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start lookout"),
    );
    let node_port = free_port();
    let _node = Killed(
        Command::new(NODE_EXPORTER)
            .arg(format!("--web.listen-address=127.0.0.1:{node_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus-node-exporter"),
    );

    // Every check has run once when each has its check_up line (first runs are spread
    // over the interval by the phase offsets: up to 60 s).
    eprintln!("waiting for {checks} checks to run once (up to 60 s)...");
    wait_for(port, "lookout", |body| {
        body.lines()
            .filter(|l| l.starts_with("lookout_check_up{"))
            .count()
            >= checks
    });
    wait_for(node_port, "node_exporter", |body| {
        body.contains("node_cpu_seconds_total")
    });

    for _ in 0..50 {
        scrape(port).expect("lookout scrape");
        scrape(node_port).expect("node_exporter scrape");
    }
    let mut ours = Vec::with_capacity(scrapes);
    let mut theirs = Vec::with_capacity(scrapes);
    let (mut our_body, mut their_body) = (String::new(), String::new());
    for _ in 0..scrapes {
        let (seconds, body) = scrape(port).expect("lookout scrape");
        ours.push(seconds);
        our_body = body;
        let (seconds, body) = scrape(node_port).expect("node_exporter scrape");
        theirs.push(seconds);
        their_body = body;
    }
    ours.sort_by(f64::total_cmp);
    theirs.sort_by(f64::total_cmp);
    let ms = |s: f64| s * 1000.0;
    let (our_series, their_series) = (sample_lines(&our_body), sample_lines(&their_body));
    println!(
        "scrape latency, {scrapes} scrapes each, alternating, HTTP/1.0, no compression, server.metrics_refresh {}:",
        std::env::var("LOOKOUT_BENCH_REFRESH").unwrap_or_else(|_| "default".into())
    );
    for (name, series, bytes, sorted) in [
        ("lookout", our_series, our_body.len(), &ours),
        ("node_exporter", their_series, their_body.len(), &theirs),
    ] {
        let p50 = percentile(sorted, 50.0);
        println!(
            "  {name:<14} {series:>6} series {:>8.0} KB   p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms   p50 per 1,000 series {:.3} ms",
            bytes as f64 / 1024.0,
            ms(p50),
            ms(percentile(sorted, 99.0)),
            ms(*sorted.last().unwrap()),
            ms(p50) * 1000.0 / series as f64,
        );
    }
    let ratio = |p| percentile(&ours, p) / percentile(&theirs, p);
    println!(
        "  lookout / node_exporter: p50 x{:.2}, p99 x{:.2}; per series x{:.2} (goal: lookout p99 <= 5 ms)",
        ratio(50.0),
        ratio(99.0),
        (percentile(&ours, 50.0) / our_series as f64)
            / (percentile(&theirs, 50.0) / their_series as f64),
    );
    println!(
        "  load average at the end: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}
