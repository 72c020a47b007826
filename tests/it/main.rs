//! The integration tests: one test crate (one binary to link, one run in which a failing test
//! hides nothing), one module per subject (`tests/it/<subject>.rs`), the shared fixtures in
//! `tests/common` (module `common`; the benches include it too) and the Python peers in
//! `tests/support`. They run the real `lookout` binary against real peers (PostgreSQL,
//! MariaDB, Redis, SMTP, Prometheus, Alertmanager, Chromium, node exporter); `.ci/run` starts
//! what they need.
//!
//! `cargo test --test it` runs them all; `cargo test --test it checks_http::` one module;
//! `cargo test --test it store_open::creates` one test (names are `module::function`).
//!
//! ## One process: what the tests share
//! Until issue 17 each module was its own binary, run one after the other; now they share one
//! process and run side by side (libtest's threads). What that changes, and how it is kept safe:
//! - The machine. A few tests load it (stress-ng, thousands of connections, a password spray,
//!   a full tmpfs) or assert timings and memory that a neighbour would disturb: `load`,
//!   `login_spray`, `hostile_connections`, `store_disk_full`, `incident_replay`. Every test
//!   opens with a hold on `common::machine`: the heavy ones take it for their module alone
//!   (`machine::alone(module_path!())`: tests of the same module may run together, as they did
//!   in their own binary, nothing else), all others share it (`machine::shared()`). The tests
//!   below check that every test does, and that the lock excludes what it must.
//! - Process-global state. No test sets environment variables or the working directory of
//!   this process (children get theirs through `Command`); tests that need another
//!   environment re-execute this binary with `--exact common::test_name(...)` (`store_open`,
//!   `store_crash_kill9`). `hostile_connections` raises this process's soft descriptor limit
//!   to its hard limit (raising only; its daemons get their limit set at exec). The statics
//!   of `common` (API tokens by daemon address, the log sequence) are keyed so that tests do
//!   not see each other's entries.
//! - Ports. Every `lookout serve` binds port 0 (`write_config(dir, 0, ...)`) and the fixtures
//!   read the address it reports (`common::Daemon`); a test that needs the port in the config
//!   first writes the reported one back (`Daemon::pin_listen`). `common::free_port` is only
//!   for external servers that cannot report a port, started through `with_free_port`, which
//!   tries another port when the server could not bind.
//! - Timings. Tests wait for conditions (`poll`, `Daemon::wait_until`) with a deadline; a fixed
//!   sleep is a deliberate window (a fault held, "nothing more is sent" for a while). Daemon
//!   periods a test would otherwise wait out are settable (`alerts.silence_refresh`).

#[path = "../common/mod.rs"]
mod common;

mod agent_hub;
mod agent_netns;
mod alertmanager;
mod alerts_cli;
mod alerts_daemon;
mod alerts_rate;
mod auth;
mod auth_tls;
mod checks_dns;
mod checks_http;
mod checks_log;
mod checks_redis;
mod checks_sql;
mod checks_sql_config;
mod checks_tcp;
mod cli;
mod cli_habits;
mod cli_listings;
mod completions_man;
mod config_schema;
mod config_serve_property;
mod daemon;
mod dashboard_api;
mod dashboard_browser;
mod dashboard_cache;
mod dashboard_hosts;
mod dashboard_pages;
mod dashboard_touch;
mod doctor;
mod export_grafana;
mod grafana_prometheus;
mod guide;
mod hostile_connections;
mod hostile_input;
mod incident_replay;
mod live_feed;
mod load;
mod login_spray;
mod maintenance_cli;
mod maintenance_daemon;
mod maintenance_sources;
mod metrics_doc;
mod notify_email;
mod notify_webhook;
mod preset_vedfolnir;
mod prometheus_rules;
mod readme;
mod receive;
mod remote_write;
mod secrets;
mod store_alerts;
mod store_cli;
mod store_crash_kill9;
mod store_data;
mod store_disk_full;
mod store_open;
mod store_shards;
mod system_vs_proc_and_node_exporter;
mod systemd_notify;
mod watch;

/// The rules above, checked on the sources, so a new module or test cannot skip them.
mod layout {
    use std::path::{Path, PathBuf};

    fn dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
    }

    fn modules() -> Vec<(String, String)> {
        let mut files: Vec<(String, String)> = std::fs::read_dir(dir().join("it"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .filter(|p| p.file_stem().is_some_and(|s| s != "main"))
            .map(|p| {
                let name = p.file_stem().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&p).unwrap())
            })
            .collect();
        files.sort();
        files
    }

    /// Every file of `tests/it` is a module of this crate (a file left out would never run),
    /// and no other test crate is in `tests/` (each would be linked and run on its own).
    #[test]
    fn every_file_is_a_module_of_the_one_test_crate() {
        let main = std::fs::read_to_string(dir().join("it/main.rs")).unwrap();
        for (name, _) in modules() {
            assert!(
                main.lines().any(|l| l == format!("mod {name};")),
                "tests/it/{name}.rs is not declared in tests/it/main.rs: add `mod {name};`"
            );
        }
        let strays: Vec<_> = std::fs::read_dir(dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .collect();
        assert!(
            strays.is_empty(),
            "integration tests go in tests/it/ (one crate), not {strays:?}"
        );
    }

    /// Every test opens with its hold on the machine (`common::machine`).
    #[test]
    fn every_test_holds_the_machine() {
        let mut missing = Vec::new();
        let mut count = 0;
        for (name, source) in modules() {
            let lines: Vec<&str> = source.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let attribute = line.trim();
                if !(attribute == "#[test]" || attribute.starts_with("#[tokio::test")) {
                    continue;
                }
                count += 1;
                // The signature ends with the line ending in `{`; the next line is the hold.
                let signature = (i..lines.len())
                    .find(|&j| lines[j].contains("fn "))
                    .unwrap();
                let open = (signature..lines.len())
                    .find(|&j| lines[j].trim_end().ends_with('{'))
                    .unwrap();
                let hold = lines.get(open + 1).map_or("", |l| l.trim());
                let ok = hold == "let _machine = crate::common::machine::shared();"
                    || hold == "let _machine = crate::common::machine::alone(module_path!());";
                if !ok {
                    missing.push(format!("tests/it/{name}.rs:{}", open + 1));
                }
            }
        }
        assert!(count > 200, "found only {count} tests: the scan is broken");
        assert!(
            missing.is_empty(),
            "these tests do not open with `let _machine = crate::common::machine::shared();` \
             (or `alone(module_path!())` for a heavy one; see tests/it/main.rs): {missing:?}"
        );
    }
}

/// `common::machine`'s lock, on private instances (the process's own is in use by the tests).
mod machine_lock {
    use crate::common::machine::{Lock, Want};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, mpsc};
    use std::time::Duration;

    /// Tries `want` on another thread; returns whether it was granted within `within`, and
    /// the sender that makes that thread release it.
    fn try_in_thread(
        lock: &Arc<Lock>,
        want: Want,
        within: Duration,
    ) -> (bool, mpsc::Sender<()>, Arc<AtomicBool>) {
        let granted = Arc::new(AtomicBool::new(false));
        let (release, wait) = mpsc::channel::<()>();
        let (lock, flag) = (lock.clone(), granted.clone());
        std::thread::spawn(move || {
            let _held = lock.acquire(want);
            flag.store(true, Ordering::SeqCst);
            let _ = wait.recv();
        });
        std::thread::sleep(within);
        (granted.load(Ordering::SeqCst), release, granted)
    }

    const WHILE: Duration = Duration::from_millis(150);

    #[test]
    fn shared_holders_run_together() {
        let lock = Arc::new(Lock::new());
        let _a = lock.acquire(Want::Shared);
        let (granted, _release, _) = try_in_thread(&lock, Want::Shared, WHILE);
        assert!(granted);
    }

    #[test]
    fn a_heavy_test_waits_for_the_shared_ones_and_then_excludes_them() {
        let lock = Arc::new(Lock::new());
        let shared = lock.acquire(Want::Shared);
        let (granted, release_heavy, heavy) = try_in_thread(&lock, Want::Alone("load"), WHILE);
        assert!(!granted, "heavy granted while a shared test runs");
        // A shared test arriving now waits behind the heavy one (it is not starved).
        let (granted, _release_late, late) = try_in_thread(&lock, Want::Shared, WHILE);
        assert!(!granted, "a shared test overtook the waiting heavy one");
        drop(shared);
        std::thread::sleep(WHILE);
        assert!(heavy.load(Ordering::SeqCst), "heavy not granted once alone");
        assert!(
            !late.load(Ordering::SeqCst),
            "a shared test ran beside a heavy one"
        );
        release_heavy.send(()).unwrap();
        std::thread::sleep(WHILE);
        assert!(
            late.load(Ordering::SeqCst),
            "shared not granted after the heavy one"
        );
    }

    #[test]
    fn heavy_tests_of_one_module_run_together_and_not_with_another_module() {
        let lock = Arc::new(Lock::new());
        let first = lock.acquire(Want::Alone("incident_replay"));
        let (same, _release_same, _) = try_in_thread(&lock, Want::Alone("incident_replay"), WHILE);
        assert!(
            same,
            "tests of one heavy module run side by side, as in their own binary"
        );
        let (other, _release_other, _) = try_in_thread(&lock, Want::Alone("load"), WHILE);
        assert!(!other, "two heavy modules at once");
        drop(first);
    }
}
