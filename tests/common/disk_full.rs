//! The disk-full episode shared by `tests/it/store_disk_full.rs` and `benches/store_disk_full.rs`:
//! a daemon whose data dir is a small tmpfs, an HTTP check the test breaks, a real SMTP sink;
//! `episode` fills the tmpfs, breaks the check, asserts what a user notices, frees the space
//! and measures how long the store takes to write again. Needs root (mount).
//! `common::disk_full`.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::alerting::{FlipServer, SmtpServer, alerts_config, http_check, poll, subject};
use crate::common::{self, Daemon};

const MAIL_LIMIT: Duration = Duration::from_secs(30);
/// The goal: the store takes writes again this soon after space returns.
pub const RECOVERY_GOAL: Duration = Duration::from_secs(10);
/// The buffer limit the daemon runs with (`storage.max_buffered_samples`, its minimum).
pub const BUFFER_LIMIT: u64 = 1_000;

/// What one episode measured.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// From the space returning to the last store error (the store writes again).
    pub recovery: Duration,
    /// From the check turning critical (while the disk is full) to its mail.
    pub alert_delay: Duration,
}

/// A size-limited tmpfs mounted on `path` for the test's life; unmounted on drop, even when
/// the test fails.
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    pub fn mount(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs on {} failed: this test needs root (.ci/run runs as root)",
            path.display()
        );
        Tmpfs {
            path: path.to_path_buf(),
        }
    }

    /// Writes a file until the file system is full; returns its path.
    pub fn fill(&self) -> PathBuf {
        let path = self.path.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        let _ = file.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: the daemon may still hold files open while the test unwinds.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// The value of a /metrics counter or gauge without labels.
pub fn metric(daemon: &Daemon, name: &str) -> f64 {
    let (status, body) = daemon.get("/metrics");
    assert_eq!(status, 200, "{body}");
    body.lines()
        .find_map(|line| {
            let rest = line.strip_prefix(name)?;
            rest.strip_prefix(' ')?.trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("no {name} on /metrics"))
}

/// The newest raw sample the store holds on disk (read by a separate `lookout store stats`,
/// which sees only what the daemon committed), in Unix milliseconds.
fn newest_persisted_ms(config: &Path) -> Option<i64> {
    let output = common::output(
        common::lookout()
            .args(["--config"])
            .arg(config)
            .args(["store", "stats", "--json"]),
    );
    if !output.status.success() {
        return None;
    }
    let stats: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    stats["tiers"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == "raw")?["newest_ms"]
        .as_i64()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Mails whose text tells the app alert firing.
fn app_firing_mails(smtp: &SmtpServer) -> usize {
    smtp.received()
        .iter()
        .filter(|m| {
            let text = m["text"].as_str().unwrap_or_default();
            !subject(m).contains("[RESOLVED]") && text.contains("app is critical")
        })
        .count()
}

fn store_mail(smtp: &SmtpServer, words: &str) -> Option<serde_json::Value> {
    smtp.received().into_iter().find(|m| {
        let text = m["text"].as_str().unwrap_or_default();
        text.contains("store cannot write") && text.contains(words)
    })
}

pub struct Setup {
    pub _dir: tempfile::TempDir,
    pub smtp: SmtpServer,
    pub app: FlipServer,
    pub config: PathBuf,
    pub tmpfs: Tmpfs,
    pub daemon: Daemon,
}

pub fn start() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let tmpfs = Tmpfs::mount(&dir.path().join("data"), "16m");
    let smtp = SmtpServer::start(dir.path(), &[]);
    let app = FlipServer::start(200);
    let extra = format!(
        "{}{}",
        alerts_config(smtp.port, ""),
        http_check("app", &app.url(), "")
    );
    let config = common::write_config(dir.path(), 0, &extra);
    // The buffer limit, small enough that the episode reaches it.
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "flush_interval = \"1s\"\n",
        &format!("flush_interval = \"1s\"\nmax_buffered_samples = {BUFFER_LIMIT}\n"),
    );
    std::fs::write(&config, text).unwrap();
    let mut daemon = Daemon::start(&config);
    daemon.wait_until(Duration::from_secs(20), |d| {
        metric(d, "lookout_store_flushes_total") >= 2.0
    });
    Setup {
        _dir: dir,
        smtp,
        app,
        config,
        tmpfs,
        daemon,
    }
}

/// The episode both tests share: the store stops taking writes (`break_store`), the app check
/// goes critical meanwhile, then `heal` gives the space back. Returns how long the store took
/// to take writes again after `heal`.
pub fn episode(
    s: &mut Setup,
    what: &str,
    break_store: impl FnOnce(&Tmpfs),
    heal: impl FnOnce(&Tmpfs),
) -> Figures {
    let errors_before = metric(&s.daemon, "lookout_store_errors_total");
    let broken_at = Instant::now();
    break_store(&s.tmpfs);
    s.daemon.wait_until(Duration::from_secs(15), |d| {
        metric(d, "lookout_store_errors_total") > errors_before
    });

    // An alert raised while the store cannot write is delivered, from memory.
    let critical_at = Instant::now();
    s.app.set(500);
    poll(
        MAIL_LIMIT,
        "the app alert mailed during the episode",
        || (app_firing_mails(&s.smtp) >= 1).then_some(()),
    );
    let alert_delay = critical_at.elapsed();
    // The operator is told, with the reason.
    let mail = poll(MAIL_LIMIT, "the operator mail about the store", || {
        store_mail(&s.smtp, what)
    });
    // Its own alert in the mail (the subject may lead with store_errors, escalating at the
    // same moment).
    assert!(
        mail["text"]
            .as_str()
            .unwrap_or_default()
            .contains("[FIRING] Lookout on web-test: store cannot write"),
        "{mail}"
    );
    // /healthz says the pipeline is degraded, and why.
    let (status, body) = poll(Duration::from_secs(20), "/healthz degraded", || {
        let (status, body) = s.daemon.get("/healthz");
        (status != 200).then_some((status, body))
    });
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("store cannot write"), "{body}");
    assert!(body.contains(what), "{body}");

    // Hold the fault for 20 s in all, like the report.
    let held = Duration::from_secs(20);
    if let Some(rest) = held.checked_sub(broken_at.elapsed()) {
        std::thread::sleep(rest);
    }
    let buffered = metric(&s.daemon, "lookout_store_buffered_samples");
    assert!(
        buffered <= BUFFER_LIMIT as f64,
        "buffer {buffered} over {BUFFER_LIMIT}"
    );
    assert!(
        metric(&s.daemon, "lookout_store_dropped_samples_total") > 0.0,
        "the episode outgrew the buffer: the oldest samples are dropped and counted"
    );

    heal(&s.tmpfs);
    let healed_at = Instant::now();
    let healed_ms = now_ms();
    // Recovered: /healthz is 200, no store error for 2 s, and a sample newer than the
    // return of the space is on disk.
    let mut last_errors = (
        metric(&s.daemon, "lookout_store_errors_total"),
        Instant::now(),
    );
    let recovered = loop {
        let errors = metric(&s.daemon, "lookout_store_errors_total");
        if errors != last_errors.0 {
            last_errors = (errors, Instant::now());
        }
        let quiet = last_errors.1.elapsed() >= Duration::from_secs(2);
        let healthy = s.daemon.get("/healthz").0 == 200;
        let persisted = newest_persisted_ms(&s.config).is_some_and(|ms| ms >= healed_ms);
        if quiet && healthy && persisted {
            // The store took writes once errors stopped: count from the last error.
            break last_errors.1.duration_since(healed_at).max(Duration::ZERO);
        }
        assert!(
            healed_at.elapsed() < Duration::from_secs(40),
            "the store did not recover: quiet {quiet}, /healthz 200 {healthy}, persisted {persisted}\n{}",
            tail(&s.daemon.log())
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let recovered = recovered.max(Duration::from_millis(1));
    println!("RECOVERY_MS {} ({what})", recovered.as_millis());
    assert!(
        recovered <= RECOVERY_GOAL,
        "the store took {recovered:?} to recover (goal {RECOVERY_GOAL:?})"
    );

    // Reconciled with the store: the alert's notice is in the outbox as delivered (so it is
    // never sent again), and the history reads back.
    let outbox = s.daemon.json("/api/v1/outbox?all=true");
    let app_rows: Vec<&serde_json::Value> = outbox["outbox"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.to_string().contains("app is critical"))
        .collect();
    assert!(!app_rows.is_empty(), "{outbox}");
    for row in &app_rows {
        assert_eq!(row["state"], "delivered", "{row}");
    }
    let history = s.daemon.json("/api/v1/checks/app/history?from=-5m");
    assert!(history.to_string().contains("critical"), "{history}");

    // Exactly once: nothing is sent again once the store has it.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(app_firing_mails(&s.smtp), 1, "{:#?}", s.smtp.received());
    Figures {
        recovery: recovered,
        alert_delay,
    }
}

pub fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
