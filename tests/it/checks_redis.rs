//! The redis check against the real Redis on 127.0.0.1:6379 (start it with
//! `redis-server --daemonize yes` or `service redis-server start`): series of a healthy run,
//! thresholds, the exact and estimated session counts, and every way of failing (refused,
//! authentication, a server that never answers), with passwords kept out of every reason.
//! Each test uses its own random key prefix in db 9 and deletes its keys.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lookout::config::{CheckConfig, from_str};
use lookout::model::{Observation, Status};
use lookout::probes::Probe;
use lookout::probes::checks::CheckProbe;

const REDIS: &str = "redis://127.0.0.1:6379/9";

fn no_env(_: &str) -> Option<String> {
    None
}

fn check(keys: &str) -> CheckConfig {
    let text = format!("[[check]]\nname = \"redis\"\ntype = \"redis\"\n{keys}\n");
    match from_str(&text, "test.toml", &no_env) {
        Ok(config) => config.checks[0].clone(),
        Err(error) => panic!("{error}"),
    }
}

fn prefix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("lookout-test:{}:{nanos}", std::process::id())
}

/// A connection to the test database; fails the test (with how to fix it) if Redis is down.
async fn redis() -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(REDIS).expect("redis url");
    match client.get_multiplexed_async_connection().await {
        Ok(connection) => connection,
        Err(error) => panic!(
            "Redis is not running on 127.0.0.1:6379 ({error}); start it with \
             `redis-server --daemonize yes` (or `service redis-server start`)"
        ),
    }
}

async fn fill(connection: &mut redis::aio::MultiplexedConnection, prefix: &str, count: usize) {
    for chunk in (0..count).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.cmd("SET")
                .arg(format!("{prefix}:session:{i}"))
                .arg("x")
                .arg("EX")
                .arg(600)
                .ignore();
        }
        let _: () = pipe.query_async(connection).await.expect("pipelined SET");
    }
}

async fn clean(connection: &mut redis::aio::MultiplexedConnection, prefix: &str) {
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(connection)
            .await
            .expect("scan");
        if !keys.is_empty() {
            let _: () = redis::cmd("UNLINK")
                .arg(keys)
                .query_async(connection)
                .await
                .expect("unlink");
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
}

async fn run(config: &CheckConfig) -> Observation {
    let mut probe = CheckProbe::from_config(config);
    probe.run(1_000).await
}

fn value(observation: &Observation, name: &str) -> Option<f64> {
    observation
        .samples
        .iter()
        .find(|s| s.series.name() == name)
        .map(|s| s.value)
}

#[tokio::test]
async fn healthy_run_reports_the_series() {
    let _machine = crate::common::machine::shared();
    let _ = redis().await;
    let observation = run(&check(&format!("url = \"{REDIS}\""))).await;
    let result = &observation.checks[0];
    assert_eq!(result.status, Status::Ok, "{}", result.detail);
    assert!(result.detail.starts_with("PONG in "), "{}", result.detail);
    assert!(result.value.is_some_and(|v| v > 0.0 && v < 1.0));
    for name in [
        "redis_ping_seconds",
        "redis_used_memory_bytes",
        "redis_maxmemory_bytes",
        "redis_mem_fragmentation_ratio",
        "redis_connected_clients",
        "redis_blocked_clients",
        "redis_ops_per_second",
        "redis_evicted_keys_total",
        "redis_expired_keys_total",
        "redis_rdb_last_bgsave_ok",
        "redis_aof_enabled",
        "redis_role",
        "check_up",
    ] {
        assert!(
            value(&observation, name).is_some(),
            "no {name} in {:?}",
            observation.samples
        );
    }
    let role = observation
        .samples
        .iter()
        .find(|s| s.series.name() == "redis_role");
    assert_eq!(role.and_then(|s| s.series.label("role")), Some("master"));
    assert_eq!(role.and_then(|s| s.series.label("check")), Some("redis"));
    assert_eq!(value(&observation, "redis_sessions"), None);
}

#[tokio::test]
async fn memory_thresholds_grade_when_maxmemory_is_set() {
    let _machine = crate::common::machine::shared();
    let mut connection = redis().await;
    let maxmemory: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .query_async(&mut connection)
        .await
        .expect("CONFIG GET");
    let original = maxmemory.get(1).cloned().unwrap_or_else(|| "0".into());
    // Far above what is used, so the server is not disturbed; restored right after.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("8gb")
        .query_async(&mut connection)
        .await
        .expect("CONFIG SET");
    let ok = run(&check(&format!("url = \"{REDIS}\""))).await;
    let forced = run(&check(&format!(
        "url = \"{REDIS}\"\nmemory_warning = \"0%\"\nmemory_critical = \"100%\""
    )))
    .await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(&original)
        .query_async(&mut connection)
        .await
        .expect("CONFIG SET restore");

    assert_eq!(ok.checks[0].status, Status::Ok, "{}", ok.checks[0].detail);
    let ratio = value(&ok, "redis_memory_ratio").expect("memory ratio with maxmemory set");
    assert!(ratio > 0.0 && ratio < 0.01, "{ratio}");
    assert_eq!(
        value(&ok, "redis_maxmemory_bytes"),
        Some(8.0 * 1024.0 * 1024.0 * 1024.0)
    );
    assert_eq!(
        forced.checks[0].status,
        Status::Warning,
        "{}",
        forced.checks[0].detail
    );
    assert!(
        forced.checks[0].detail.contains("of maxmemory"),
        "{}",
        forced.checks[0].detail
    );
}

#[tokio::test]
async fn session_count_is_exact_for_ten_thousand_keys() {
    let _machine = crate::common::machine::shared();
    let mut connection = redis().await;
    let prefix = prefix();
    fill(&mut connection, &prefix, 10_000).await;
    let observation = run(&check(&format!(
        "url = \"{REDIS}\"\nsession_pattern = \"{prefix}:session:*\""
    )))
    .await;
    clean(&mut connection, &prefix).await;
    assert_eq!(value(&observation, "redis_sessions"), Some(10_000.0));
    assert_eq!(value(&observation, "redis_sessions_estimated"), Some(0.0));
    let detail = &observation.checks[0].detail;
    assert!(
        detail.contains("10000 sessions") && !detail.contains("estimated"),
        "{detail}"
    );
}

#[tokio::test]
async fn scan_cap_gives_a_flagged_estimate() {
    let _machine = crate::common::machine::shared();
    let mut connection = redis().await;
    let prefix = prefix();
    fill(&mut connection, &prefix, 10_000).await;
    let started = Instant::now();
    let observation = run(&check(&format!(
        "url = \"{REDIS}\"\nsession_pattern = \"{prefix}:session:*\"\nsession_scan_limit = 1000\nscan_count = 100"
    )))
    .await;
    clean(&mut connection, &prefix).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(value(&observation, "redis_sessions_estimated"), Some(1.0));
    let count = value(&observation, "redis_sessions").expect("redis_sessions");
    // Only 10 SCAN calls of COUNT 100: an extrapolation, in the right order of magnitude.
    assert!(count > 1000.0 && count < 100_000.0, "estimate {count}");
    let detail = &observation.checks[0].detail;
    assert!(detail.contains("estimated"), "{detail}");
}

#[tokio::test]
async fn unknown_acl_user_is_critical_without_the_password() {
    let _machine = crate::common::machine::shared();
    let _ = redis().await;
    let observation = run(&check(
        "url = \"redis://nobody:Sup3rSecretPw@127.0.0.1:6379/9\"",
    ))
    .await;
    let result = &observation.checks[0];
    assert_eq!(result.status, Status::Critical, "{}", result.detail);
    assert!(
        result
            .detail
            .contains("authentication failed at redis://nobody:***@127.0.0.1:6379/9"),
        "{}",
        result.detail
    );
    assert!(
        !result.detail.contains("Sup3rSecretPw"),
        "{}",
        result.detail
    );
    assert!(!format!("{observation:?}").contains("Sup3rSecretPw"));
}

#[tokio::test]
async fn password_for_a_server_without_one() {
    let _machine = crate::common::machine::shared();
    // Redis without requirepass answers AUTH <password> with an error: that is a failure too
    // (the configured credentials are wrong), and the password must not show.
    let _ = redis().await;
    let observation = run(&check("url = \"redis://:wrongpass@127.0.0.1:6379/9\"")).await;
    let result = &observation.checks[0];
    assert_eq!(result.status, Status::Critical, "{}", result.detail);
    assert!(!result.detail.contains("wrongpass"), "{}", result.detail);
}

#[tokio::test]
async fn refused_port_is_critical() {
    let _machine = crate::common::machine::shared();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let observation = run(&check(&format!(
        "url = \"redis://:pw@127.0.0.1:{port}/0\"\nretries = 0"
    )))
    .await;
    let result = &observation.checks[0];
    assert_eq!(result.status, Status::Critical);
    assert_eq!(
        result.detail,
        format!("connection refused by redis://:***@127.0.0.1:{port}/0")
    );
    assert_eq!(value(&observation, "check_up"), Some(0.0));
}

#[tokio::test]
async fn server_that_never_answers_times_out() {
    let _machine = crate::common::machine::shared();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    let observation = run(&check(&format!(
        "url = \"redis://127.0.0.1:{port}\"\ntimeout = \"500ms\"\ninterval = \"5s\""
    )))
    .await;
    holder.abort();
    let result = &observation.checks[0];
    assert_eq!(result.status, Status::Critical);
    // CheckProbe's timeout fires (not the client's own), and a timeout is not retried.
    assert_eq!(result.detail, "timeout: no answer within 500ms");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn reconnects_after_a_failure_with_backoff() {
    let _machine = crate::common::machine::shared();
    // A check whose server goes away keeps reporting, and the backoff stops it from
    // reconnecting on every attempt.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let config = check(&format!("url = \"redis://127.0.0.1:{port}\"\nretries = 0"));
    let mut probe = CheckProbe::from_config(&config);
    let first = probe.run(1_000).await;
    let second = probe.run(2_000).await;
    let third = probe.run(3_000).await;
    assert!(first.checks[0].detail.starts_with("connection refused"));
    assert!(second.checks[0].detail.starts_with("connection refused"));
    assert!(
        third.checks[0].detail.contains("reconnecting in"),
        "{}",
        third.checks[0].detail
    );
}

#[tokio::test]
async fn one_connection_is_kept_and_replaced_when_it_breaks() {
    let _machine = crate::common::machine::shared();
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    let _ = redis().await;
    // A TCP proxy in front of Redis that counts connections and can cut them all.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
    let proxy = {
        let (accepted, links) = (accepted.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect("127.0.0.1:6379").await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                if let Ok(mut links) = links.lock() {
                    links.push(link);
                }
            }
        })
    };
    let config = check(&format!("url = \"redis://127.0.0.1:{port}/9\""));
    let mut probe = CheckProbe::from_config(&config);
    for at in 1..=3 {
        let observation = probe.run(at * 1000).await;
        assert_eq!(
            observation.checks[0].status,
            Status::Ok,
            "{}",
            observation.checks[0].detail
        );
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one connection for three runs"
    );

    if let Ok(mut links) = links.lock() {
        for link in links.drain(..) {
            link.abort();
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The broken connection fails the attempt; the confirming retry reconnects at once.
    let observation = probe.run(4000).await;
    proxy.abort();
    assert_eq!(
        observation.checks[0].status,
        Status::Ok,
        "{}",
        observation.checks[0].detail
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}
