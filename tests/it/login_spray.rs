//! A password spray against the real binary: 2,000 failed logins for `admin` from 64
//! concurrent clients on 249 loopback addresses (127.0.0.2–250).
//!
//! Regression (issue 15): every attempt ran an argon2 verification (19 MiB) on tokio's blocking
//! pool with no bound: 11.6 GB of RSS, kept afterwards; and 5 failures for `admin` from anywhere
//! locked the real admin out. Now the daemon stays within 64 MB of its baseline during the
//! spray, gives the memory back, lets the real admin in from an address that did not fail, and
//! raises one security incident for the spray.

use crate::common::login_spray as spray;

use crate::common::*;
use spray::{ADDRESSES, ATTEMPTS, rss};
use std::net::Ipv4Addr;
use std::time::Duration;

const MB: u64 = 1024 * 1024;

#[test]
fn a_login_spray_from_many_addresses_keeps_memory_bounded_and_lets_the_admin_in() {
    let _machine = crate::common::machine::alone(module_path!());
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 0, "");
    let mut daemon = Daemon::start(&config);
    let password = std::fs::read_to_string(dir.path().join("data/initial-admin-password"))
        .unwrap()
        .trim_end()
        .to_string();
    secret(&password);
    let pid = daemon.child.id();
    let addr = daemon.addr;
    // Settle (first collections, the token the helpers made), then take the baseline.
    std::thread::sleep(Duration::from_secs(2));
    let baseline = rss(pid);

    let runtime = spray::runtime();
    let result = spray::spray(&runtime, addr, pid, &password);
    let peak = result.peak_rss;
    let (failed, throttled, busy) = (result.count(401), result.count(429), result.count(503));
    let admin = (result.admin_status, result.admin_took);
    eprintln!(
        "spray: {failed} x 401, {throttled} x 429, {busy} x 503; admin: {:?} in {:?}; \
         RSS baseline {} MB, peak {} MB",
        admin.0,
        admin.1,
        baseline / MB,
        peak / MB
    );
    assert_eq!(result.statuses.len(), ATTEMPTS);
    assert_eq!(
        failed + throttled + busy,
        ATTEMPTS,
        "every attempt is refused (0: no answer): {:?}",
        result.statuses
    );
    assert!(
        failed >= ADDRESSES,
        "each address gets its free attempts: {failed}"
    );
    assert_eq!(admin.0, 303, "the real admin logs in during the spray");
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
    daemon.wait_until(Duration::from_secs(60), |_| rss(pid) <= baseline + 10 * MB);
    eprintln!("RSS after the spray: {} MB", rss(pid) / MB);

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
        .block_on(spray::login(addr, Ipv4Addr::LOCALHOST, "admin", &password))
        .unwrap();
    assert_eq!(answer.0, 303, "still not locked out after the spray");
}
