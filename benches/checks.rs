//! Many HTTP checks against a local server: the daemon's CPU share, RSS, and how late check
//! runs start after their tick (p50/p99 from the `lookout_schedule_lateness_seconds`
//! histogram, taken between two scrapes after a warm-up). Run with `cargo bench --bench checks`.
//! Scenarios: 1,000 checks at 10 s, then 10,000 checks at 60 s (`LOOKOUT_BENCH_SECONDS`
//! overrides each measuring window; default 60 s and 120 s).
//! Goals (issue "Probes"): <= 25 % of one core, p99 lateness <= 100 ms.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

fn cpu_seconds_and_rss(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("daemon alive");
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    let cpu = (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap())
        / ticks_per_second();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (cpu, rss_kb * 1024)
}

/// A tiny HTTP server answering every request with 200 and a small JSON body, on threads,
/// so its own CPU is not the daemon's.
fn start_target() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    addr
}

fn serve(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buffer = [0u8; 4096];
    let mut request = Vec::new();
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                request.extend_from_slice(&buffer[..n]);
                while let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                    request.drain(..end + 4);
                    let body = br#"{"status":"healthy"}"#;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    if stream.write_all(head.as_bytes()).is_err() || stream.write_all(body).is_err()
                    {
                        return;
                    }
                }
            }
        }
    }
}

fn scrape(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("scrape");
    write!(stream, "GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

/// Cumulative (bound seconds, count) of the lateness histogram.
fn lateness(metrics: &str) -> Vec<(f64, f64)> {
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix("lookout_schedule_lateness_seconds_bucket{le=\""))
        .filter_map(|rest| {
            let (le, count) = rest.split_once("\"} ")?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((bound, count.trim().parse().ok()?))
        })
        .collect()
}

fn quantile(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> (f64, f64) {
    let deltas: Vec<(f64, f64)> = after
        .iter()
        .zip(before)
        .map(|((bound, a), (_, b))| (*bound, a - b))
        .collect();
    let total = deltas.last().map_or(0.0, |d| d.1);
    let bound = deltas
        .iter()
        .find(|(_, count)| *count >= q * total)
        .map_or(f64::INFINITY, |d| d.0);
    (bound, total)
}

fn scenario(checks: usize, interval_s: u64, measure: Duration) {
    let target = start_target();
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\npath = \"{}\"\n",
        dir.path().join("data").display()
    );
    for i in 0..checks {
        config.push_str(&format!(
            "\n[[check]]\nname = \"c{i}\"\ntype = \"http\"\nurl = \"http://{target}/c/{i}\"\ninterval = \"{interval_s}s\"\ntimeout = \"5s\"\n"
        ));
    }
    let config_path = dir.path().join("lookout.toml");
    std::fs::write(&config_path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["serve", "--config"])
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lookout");
    let pid = child.id();
    // Warm-up: every check has run at least once and the first burst is over.
    std::thread::sleep(Duration::from_secs(interval_s + 5));
    let (cpu_start, _) = cpu_seconds_and_rss(pid);
    let before = lateness(&scrape(port));
    let start = Instant::now();
    let mut peak_rss = 0;
    while start.elapsed() < measure {
        std::thread::sleep(Duration::from_secs(1));
        peak_rss = peak_rss.max(cpu_seconds_and_rss(pid).1);
    }
    let (cpu_end, rss) = cpu_seconds_and_rss(pid);
    let after = lateness(&scrape(port));
    let wall = start.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    let (p50, runs) = quantile(&before, &after, 0.50);
    let (p99, _) = quantile(&before, &after, 0.99);
    println!("{checks} HTTP checks at {interval_s} s, measured over {wall:.0} s ({runs} runs):");
    println!(
        "  CPU: {:.1} % of one core (goal <= 25 %)",
        (cpu_end - cpu_start) / wall * 100.0
    );
    println!(
        "  RSS: {:.1} MB at the end, peak {:.1} MB",
        rss as f64 / 1e6,
        peak_rss as f64 / 1e6
    );
    println!(
        "  lateness: p50 <= {:.0} ms, p99 <= {:.0} ms (histogram bucket bounds; goal p99 <= 100 ms)",
        p50 * 1000.0,
        p99 * 1000.0
    );
}

fn main() {
    let window = std::env::var("LOOKOUT_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok());
    scenario(1_000, 10, Duration::from_secs(window.unwrap_or(60)));
    scenario(10_000, 60, Duration::from_secs(window.unwrap_or(120)));
}
