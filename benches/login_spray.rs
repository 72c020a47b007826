//! A password spray against a running `lookout serve` (tests/common/login_spray.rs): 2,000
//! failed logins for `admin` from 64 concurrent clients on 249 loopback source addresses, a
//! correct login from 127.0.0.1 a third of the way in, then RSS sampled for 60 s. Prints the
//! baseline, peak and final RSS, the correct login's latency and the answers' status codes.
//!
//! `cargo bench --bench login_spray` runs the release binary of this tree;
//! `LOOKOUT_BIN=/path/to/lookout` runs another (e.g. an older release, side by side).
//! Goals (issue 15): peak <= baseline + 64 MB, <= baseline + 10 MB 60 s later, the correct
//! login within 2 s.

#[path = "../tests/common/login_spray.rs"]
mod spray;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use spray::{ATTEMPTS, rss};

const MB: f64 = 1024.0 * 1024.0;

fn main() {
    let bin = std::env::var("LOOKOUT_BIN").unwrap_or_else(|_| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--bin", "lookout"])
            .status()
            .expect("cargo build --release");
        assert!(status.success());
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        format!("{target}/release/lookout")
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let config = dir.path().join("lookout.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\npath = \"{}\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(&bin)
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lookout");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let password_file = dir.path().join("data/initial-admin-password");
    let started = Instant::now();
    while !password_file.exists() || std::net::TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "lookout did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let password = std::fs::read_to_string(&password_file)
        .unwrap()
        .trim_end()
        .to_string();
    std::thread::sleep(Duration::from_secs(3));
    let pid = child.id();
    let baseline = rss(pid);

    let result = spray::spray(&spray::runtime(), addr, pid, &password);
    let (admin_status, admin_took) = (result.admin_status, result.admin_took);
    let (spray_took, peak) = (result.took, result.peak_rss);
    let mut after = Vec::new();
    for second in 1..=60 {
        std::thread::sleep(Duration::from_secs(1));
        if [10, 20, 30, 60].contains(&second) {
            after.push((second, rss(pid)));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let count = |code: u16| result.count(code);
    println!("binary: {bin}");
    println!(
        "spray: {ATTEMPTS} attempts in {:.1} s: {} x 401, {} x 429, {} x 503, {} other",
        spray_took.as_secs_f64(),
        count(401),
        count(429),
        count(503),
        result.statuses.len() - count(401) - count(429) - count(503)
    );
    println!(
        "correct login during the spray: HTTP {admin_status} in {:.0} ms",
        admin_took.as_secs_f64() * 1000.0
    );
    println!(
        "RSS: baseline {:.1} MB, peak {:.1} MB (+{:.1})",
        baseline as f64 / MB,
        peak as f64 / MB,
        (peak as f64 - baseline as f64) / MB
    );
    for (second, bytes) in after {
        println!(
            "RSS {second} s after: {:.1} MB (+{:.1})",
            bytes as f64 / MB,
            (bytes as f64 - baseline as f64) / MB
        );
    }
}
