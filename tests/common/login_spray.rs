//! The password spray of issue 15, shared by `tests/it/login_spray.rs` (the goals as assertions)
//! and `benches/login_spray.rs` (the figures, on a release binary): 2,000 failed logins for
//! `admin` from 64 concurrent clients, each attempt from one of 249 loopback source addresses
//! (127.0.0.2–250); a third of the way in, the real admin logs in from 127.0.0.1. RSS is
//! sampled every 10 ms meanwhile.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const ATTEMPTS: usize = 2_000;
pub const CLIENTS: usize = 64;
pub const ADDRESSES: usize = 249;

/// What one spray did.
pub struct Spray {
    /// The status of each failed attempt (0: no answer).
    pub statuses: Vec<u16>,
    /// The real admin's answer and how long it took.
    pub admin_status: u16,
    pub admin_took: Duration,
    pub took: Duration,
    pub peak_rss: u64,
}

impl Spray {
    pub fn count(&self, status: u16) -> usize {
        self.statuses.iter().filter(|&&s| s == status).count()
    }
}

/// Resident memory of `pid` in bytes (0 once it is gone).
pub fn rss(pid: u32) -> u64 {
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

/// A form login to `addr` from `source`: the status and the Retry-After of the answer.
pub async fn login(
    addr: SocketAddr,
    source: Ipv4Addr,
    user: &str,
    password: &str,
) -> std::io::Result<(u16, Option<u64>)> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    let mut stream = socket.connect(addr).await?;
    let body = format!("user={user}&password={}", password.replace(' ', "+"));
    let request = format!(
        "POST /login HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let response = String::from_utf8_lossy(&response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let retry_after = response
        .lines()
        .find_map(|l| l.strip_prefix("retry-after: "))
        .and_then(|v| v.trim().parse().ok());
    Ok((status, retry_after))
}

/// Runs the spray against the daemon `pid` at `addr`; `password` is the admin's.
pub fn spray(
    runtime: &tokio::runtime::Runtime,
    addr: SocketAddr,
    pid: u32,
    password: &str,
) -> Spray {
    let peak = Arc::new(AtomicU64::new(rss(pid)));
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
    let started = Instant::now();
    let (statuses, (admin_status, admin_took)) = runtime.block_on(async {
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
                    let source = Ipv4Addr::new(127, 0, 0, 2 + (n % ADDRESSES) as u8);
                    let wrong = format!("not the password {n}");
                    let answer = login(addr, source, "admin", &wrong).await;
                    statuses.push(answer.map_or(0, |(status, _)| status));
                }
            }));
        }
        // A third of the way in, the real admin logs in from an address that never failed.
        while next.load(Ordering::SeqCst) < ATTEMPTS / 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let asked = Instant::now();
        let admin = login(addr, Ipv4Addr::LOCALHOST, "admin", password).await;
        let admin = (admin.map_or(0, |(status, _)| status), asked.elapsed());
        let mut statuses = Vec::new();
        for client in clients {
            statuses.extend(client.await.expect("spray client"));
        }
        (statuses, admin)
    });
    let took = started.elapsed();
    running.store(false, Ordering::SeqCst);
    sampler.join().expect("RSS sampler");
    Spray {
        statuses,
        admin_status,
        admin_took,
        took,
        peak_rss: peak.load(Ordering::SeqCst),
    }
}

/// A runtime for the spray's clients.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}
