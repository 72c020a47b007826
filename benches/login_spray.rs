//! A password spray against a running `lookout serve`: 2,000 failed logins for `admin` from 64
//! concurrent clients on 249 loopback source addresses (127.0.0.2–250), a correct login from
//! 127.0.0.1 a third of the way in, then RSS sampled for 60 s. Prints the baseline, peak and
//! final RSS, the correct login's latency and the answers' status codes.
//!
//! `cargo bench --bench login_spray` runs the release binary of this tree;
//! `LOOKOUT_BIN=/path/to/lookout` runs another (e.g. an older release, side by side).
//! Goals (issue 15): peak <= baseline + 64 MB, <= baseline + 10 MB 60 s later, the correct
//! login within 2 s.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ATTEMPTS: usize = 2_000;
const CLIENTS: usize = 64;
const MB: f64 = 1024.0 * 1024.0;

fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

async fn login(addr: SocketAddr, source: Ipv4Addr, user: &str, password: &str) -> u16 {
    let Ok(socket) = tokio::net::TcpSocket::new_v4() else {
        return 0;
    };
    if socket.bind(SocketAddr::from((source, 0))).is_err() {
        return 0;
    }
    let Ok(mut stream) = socket.connect(addr).await else {
        return 0;
    };
    let body = format!("user={user}&password={}", password.replace(' ', "+"));
    let request = format!(
        "POST /login HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return 0;
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

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

    let peak = Arc::new(AtomicU64::new(baseline));
    let running = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, running) = (peak.clone(), running.clone());
        std::thread::spawn(move || {
            while running.load(Ordering::SeqCst) {
                peak.fetch_max(rss(pid), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let spray_started = Instant::now();
    let (statuses, admin_status, admin_took) = runtime.block_on(async {
        let next = Arc::new(AtomicUsize::new(0));
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            let next = next.clone();
            clients.push(tokio::spawn(async move {
                let mut statuses = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= ATTEMPTS {
                        return statuses;
                    }
                    let source = Ipv4Addr::new(127, 0, 0, 2 + (n % 249) as u8);
                    statuses.push(login(addr, source, "admin", &format!("wrong {n}")).await);
                }
            }));
        }
        while next.load(Ordering::SeqCst) < ATTEMPTS / 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let t = Instant::now();
        let status = login(addr, Ipv4Addr::LOCALHOST, "admin", &password).await;
        let took = t.elapsed();
        let mut statuses = Vec::new();
        for client in clients {
            statuses.extend(client.await.unwrap());
        }
        (statuses, status, took)
    });
    let spray_took = spray_started.elapsed();
    running.store(false, Ordering::SeqCst);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::SeqCst);
    let mut after = Vec::new();
    for second in 1..=60 {
        std::thread::sleep(Duration::from_secs(1));
        if [10, 20, 30, 60].contains(&second) {
            after.push((second, rss(pid)));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let count = |code: u16| statuses.iter().filter(|&&s| s == code).count();
    println!("binary: {bin}");
    println!(
        "spray: {ATTEMPTS} attempts in {:.1} s: {} x 401, {} x 429, {} x 503, {} other",
        spray_took.as_secs_f64(),
        count(401),
        count(429),
        count(503),
        statuses.len() - count(401) - count(429) - count(503)
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
