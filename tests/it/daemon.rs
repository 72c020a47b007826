//! The daemon as a user runs it: start on a config, read the API, reload, stop, crash.

use std::time::Duration;

use crate::common::*;

fn event_kinds(daemon: &Daemon) -> Vec<String> {
    daemon.json("/api/v1/events?from=-1h&limit=1000")["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn serves_status_history_events_and_metrics_of_this_host() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 0, "");
    let mut daemon = Daemon::start(&config);

    // The system probe runs every second; wait for two runs so ratios and history exist.
    daemon.wait_until(Duration::from_secs(15), |d| {
        d.json("/api/v1/series?name=memory_total_bytes&from=-5m")["series"][0]["points"]
            .as_array()
            .is_some_and(|p| p.len() >= 2)
    });

    let health = daemon.json("/healthz");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["uptime_seconds"].as_f64().unwrap() >= 0.0);

    let status = daemon.json("/api/v1/status");
    let checks = status["checks"].as_array().unwrap();
    let names: Vec<&str> = checks
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"cpu"), "{names:?}");
    assert!(names.contains(&"memory"), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("disk:")), "{names:?}");
    assert_eq!(status["layers"][0]["layer"], "system");
    let memory_total = status["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "memory_total_bytes")
        .expect("memory_total_bytes in status")["value"]
        .as_f64()
        .unwrap();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: f64 = meminfo
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(memory_total, kb * 1024.0);

    let series = daemon.json("/api/v1/series?name=cpu_usage_ratio&from=-5m&to=now");
    assert_eq!(series["tier"], "raw");
    let points = series["series"][0]["points"].as_array().unwrap();
    assert!(!points.is_empty());
    for point in points {
        let avg = point["avg"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&avg), "ratio out of range: {avg}");
    }
    let (status_code, body) = daemon.get("/api/v1/series?from=-5m");
    assert_eq!(status_code, 400);
    assert!(body.contains("name: required"), "{body}");
    let (status_code, body) = daemon.get("/api/v1/series?name=load1&from=yesterday");
    assert_eq!(status_code, 400);
    assert!(
        body.contains("from: \\\"yesterday\\\" is not a time"),
        "{body}"
    );

    let (code, metrics) = daemon.get("/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("# TYPE lookout_memory_total_bytes gauge"));
    assert!(metrics.contains("lookout_check_status{check=\"memory\",layer=\"system\""));

    let (code, page) = daemon.get("/");
    assert_eq!(code, 200);
    assert!(page.contains("<h1>Lookout"));
    assert!(page.contains("memory"));

    let kinds = event_kinds(&daemon);
    assert!(kinds.contains(&"started".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"status_changed".to_string()), "{kinds:?}");

    let (code, _) = daemon.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0));
}

/// Also found by `.ci/check-log-secrets` (a `*TOKEN` constant) in every log of the suite.
const RELOADED_METRICS_TOKEN: &str = "reload-t0ken-value";

#[test]
fn sighup_swaps_in_a_valid_config_and_keeps_the_old_one_when_invalid() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 0, "");
    let mut daemon = Daemon::start(&config);

    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{good}\n[bogus]\nx = 1\n")).unwrap();
    daemon.signal(libc::SIGHUP);
    daemon.wait_until(Duration::from_secs(10), |d| {
        event_kinds(d).contains(&"reload_failed".to_string())
    });
    assert_eq!(daemon.json("/healthz")["status"], "ok", "still serving");

    // A valid change: a different interval is picked up (the daemon keeps collecting). A
    // new /metrics token is not (access is set up at start): the log says so, by key name.
    std::fs::write(
        &config,
        good.replace("interval = \"1s\"", "interval = \"2s\"")
            .replace(
                "[server]\n",
                &format!("[server]\nmetrics_token = \"{RELOADED_METRICS_TOKEN}\"\n"),
            ),
    )
    .unwrap();
    daemon.signal(libc::SIGHUP);
    daemon.wait_until(Duration::from_secs(10), |d| {
        event_kinds(d).contains(&"reloaded".to_string())
    });

    let (code, log) = daemon.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0));
    assert!(log.contains("bogus"), "the rejected key is logged: {log}");
    let warning = log
        .lines()
        .find(|l| l.contains("server.* changes take effect at the next restart"))
        .unwrap_or_else(|| panic!("no warning about the server change: {log}"));
    assert!(warning.contains("server.metrics_token"), "{warning}");
    assert!(!log.contains(RELOADED_METRICS_TOKEN), "{log}");
}

#[test]
fn sigterm_flushes_everything_buffered_and_records_the_stop() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    // A flush interval far longer than the run: only the shutdown flush can save the samples.
    let config = write_config(dir.path(), 0, "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("flush_interval = \"1s\"", "flush_interval = \"10s\"");
    std::fs::write(&config, text).unwrap();
    let mut daemon = Daemon::start(&config);
    // The system probe's first run has reached the snapshot (and so the bus): its samples are
    // buffered. Any check would not do: the self probe reports before the system probe.
    daemon.wait_until(Duration::from_secs(10), |d| {
        d.json("/api/v1/status")["checks"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["check"] == "memory"))
    });
    let (code, _) = daemon.stop_with(libc::SIGINT);
    assert_eq!(code, Some(0));

    // Start again on the same data: the samples of the first run are there.
    let config2 = write_config(dir.path(), 0, "");
    let daemon = Daemon::start(&config2);
    let series = daemon.json("/api/v1/series?name=memory_total_bytes&from=-10m");
    let points = series["series"][0]["points"].as_array().unwrap();
    assert!(!points.is_empty(), "samples of the first run were lost");
    let kinds = event_kinds(&daemon);
    assert!(kinds.contains(&"stopped".to_string()), "{kinds:?}");
}

#[test]
fn a_busy_port_is_a_clear_error_with_exit_code_2() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let config = write_config(dir.path(), port, "");
    let output = run(&["serve", "--config", config.to_str().unwrap()], dir.path());
    assert_eq!(output.status.code(), Some(2));
    let err = text(&output.stderr);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.contains("server.listen"), "{err}");
}

fn stored_points(data_dir: &std::path::Path, name: &str) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = lookout::config::embedded_default();
        let store = lookout::store::Store::open(
            data_dir,
            lookout::daemon::store_options(&config),
            lookout::clock::system_clock(),
        )
        .await
        .expect("the store reopens cleanly after kill -9");
        let now = lookout::clock::Clock::now_ms(&lookout::clock::SystemClock);
        let result = store
            .query(name, &[], now - 3_600_000, now + 60_000, 100_000)
            .await
            .unwrap();
        let count = result.series.first().map_or(0, |s| s.points.len());
        store.close().await.unwrap();
        count
    })
}

#[test]
fn kill_9_mid_write_loses_at_most_the_last_flush_interval() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    for round in 0..3u64 {
        let config = write_config(dir.path(), 0, "");
        let mut daemon = Daemon::start(&config);
        daemon.wait_until(Duration::from_secs(10), |d| {
            d.json("/api/v1/series?name=load1&from=-1h")["series"][0]["points"]
                .as_array()
                .is_some_and(|p| p.len() >= 2)
        });
        // Kill at an arbitrary moment relative to the 1 s flush.
        std::thread::sleep(Duration::from_millis(1_300 + 370 * round));
        let before = daemon.json("/api/v1/series?name=load1&from=-1h&max_points=10000")["series"]
            [0]["points"]
            .as_array()
            .unwrap()
            .len();
        daemon.signal(libc::SIGKILL);
        let _ = daemon.child.wait();

        let after = stored_points(&data_dir, "load1");
        // At 1 s collection and 1 s flushes, the lost tail is at most two samples.
        assert!(
            after + 2 >= before,
            "round {round}: {before} points before kill -9, {after} after"
        );
        assert!(
            after <= before + 1,
            "round {round}: {after} stored but only {before} seen"
        );
    }
}
