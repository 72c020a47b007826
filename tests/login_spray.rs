//! A password spray against the real binary: 2,000 failed logins for `admin` from 64
//! concurrent clients on 249 loopback addresses (127.0.0.2–250).
//!
//! Regression (issue 15): every attempt ran an argon2 verification (19 MiB) on tokio's blocking
//! pool with no bound: 11.6 GB of RSS, kept afterwards; and 5 failures for `admin` from anywhere
//! locked the real admin out. Now the daemon stays within 64 MB of its baseline during the
//! spray, gives the memory back, lets the real admin in from an address that did not fail, and
//! raises one security incident for the spray.

mod common;

use common::*;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ATTEMPTS: usize = 2_000;
const CLIENTS: usize = 64;
const MB: u64 = 1024 * 1024;

/// A login from `source`; the status and the Retry-After header of the answer.
async fn login(
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

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

#[test]
fn a_login_spray_from_many_addresses_keeps_memory_bounded_and_lets_the_admin_in() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, "");
    let mut daemon = Daemon::start(&config, port);
    let password = std::fs::read_to_string(dir.path().join("data/initial-admin-password"))
        .unwrap()
        .trim_end()
        .to_string();
    secret(&password);
    let pid = daemon.child.id();
    let addr = daemon.addr;
    // Settle (first collections, the token the helpers made), then take the baseline.
    std::thread::sleep(Duration::from_secs(2));
    let baseline = rss_bytes(pid);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let peak = Arc::new(AtomicU64::new(baseline));
    let spraying = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, spraying) = (peak.clone(), spraying.clone());
        std::thread::spawn(move || {
            while spraying.load(Ordering::SeqCst) {
                peak.fetch_max(rss_bytes(pid), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let (statuses, admin) = runtime.block_on(async {
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
                    let wrong = format!("not the password {n}");
                    match login(addr, source, "admin", &wrong).await {
                        Ok((status, _)) => statuses.push(status),
                        Err(error) => panic!("attempt {n} from {source}: {error}"),
                    }
                }
            }));
        }
        // A third of the way in, the real admin logs in from an address that never failed.
        while next.load(Ordering::SeqCst) < ATTEMPTS / 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let started = Instant::now();
        let answer = login(addr, Ipv4Addr::LOCALHOST, "admin", &password).await;
        let admin = (answer.unwrap(), started.elapsed());
        let mut statuses = Vec::new();
        for client in clients {
            statuses.extend(client.await.unwrap());
        }
        (statuses, admin)
    });
    spraying.store(false, Ordering::SeqCst);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::SeqCst);

    let count = |code| statuses.iter().filter(|&&s| s == code).count();
    let (failed, throttled, busy) = (count(401), count(429), count(503));
    eprintln!(
        "spray: {failed} x 401, {throttled} x 429, {busy} x 503; admin: {:?} in {:?}; \
         RSS baseline {} MB, peak {} MB",
        admin.0,
        admin.1,
        baseline / MB,
        peak / MB
    );
    assert_eq!(statuses.len(), ATTEMPTS);
    assert_eq!(
        failed + throttled + busy,
        ATTEMPTS,
        "every attempt is refused"
    );
    assert!(
        failed >= 249,
        "each address gets its free attempts: {failed}"
    );
    assert_eq!(admin.0.0, 303, "the real admin logs in during the spray");
    assert!(
        admin.1 < Duration::from_secs(2),
        "the admin's login took {:?}",
        admin.1
    );
    assert!(
        peak <= baseline + 64 * MB,
        "RSS peaked at {} MB over a baseline of {} MB",
        peak / MB,
        baseline / MB
    );
    // The memory goes back within 60 s (the verifiers free their buffers when idle).
    daemon.wait_until(Duration::from_secs(60), |_| {
        rss_bytes(pid) <= baseline + 10 * MB
    });
    eprintln!("RSS after the spray: {} MB", rss_bytes(pid) / MB);

    // One security incident for the spray, nobody locked out for it.
    let events = daemon.json("/api/v1/events?from=-1h&limit=10000");
    let sprays = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["kind"] == "security"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("password spray"))
        })
        .count();
    assert_eq!(sprays, 1, "{events:#}");
    let security = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "security")
        .count();
    assert!(
        security <= 10,
        "the spray's lockouts are one incident, not {security} events"
    );
    let answer = runtime
        .block_on(login(addr, Ipv4Addr::LOCALHOST, "admin", &password))
        .unwrap();
    assert_eq!(answer.0, 303, "still not locked out after the spray");
}
