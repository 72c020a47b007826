//! Daemon footprint: run `lookout serve` with the system probe at 1 s for a while and measure
//! its CPU share and resident memory from /proc. Run with
//! `cargo bench --bench daemon` (LOOKOUT_BENCH_SECONDS overrides the default 300 s).
//! Goals (issue "Lookout core"): <= 0.5 % of one core, <= 25 MB RSS.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// (utime + stime in seconds, RSS in bytes) of a process.
fn cpu_and_rss(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(((utime + stime) / ticks_per_second(), rss_kb * 1024))
}

fn main() {
    let seconds: u64 = std::env::var("LOOKOUT_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let config = dir.path().join("lookout.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\npath = \"{}\"\n[system]\ninterval = \"1s\"\n",
            dir.path().join("data").display()
        ),
    )
    .expect("write config");
    let binary = env!("CARGO_BIN_EXE_lookout");
    let mut child = Command::new(binary)
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lookout");
    let pid = child.id();

    // Skip start-up (store creation, first collection) so the figure is the steady state.
    std::thread::sleep(Duration::from_secs(10));
    let (cpu_start, _) = cpu_and_rss(pid).expect("read /proc of the daemon");
    let start = Instant::now();
    let mut peak_rss = 0;
    let mut rss_sum = 0u64;
    let mut rss_samples = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1));
        let (_, rss) = cpu_and_rss(pid).expect("daemon still running");
        peak_rss = peak_rss.max(rss);
        rss_sum += rss;
        rss_samples += 1;
    }
    let (cpu_end, _) = cpu_and_rss(pid).expect("read /proc of the daemon");
    let wall = start.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();

    let cpu_share = (cpu_end - cpu_start) / wall * 100.0;
    println!("daemon footprint over {wall:.0} s at a 1 s system interval ({binary}):");
    println!("  CPU: {cpu_share:.3} % of one core (goal <= 0.5 %)");
    println!(
        "  RSS: mean {:.1} MB, peak {:.1} MB (goal <= 25 MB)",
        rss_sum as f64 / rss_samples.max(1) as f64 / 1e6,
        peak_rss as f64 / 1e6
    );
}
