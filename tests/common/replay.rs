//! The incident replay harness (issue 16, `tests/it/incident_replay.rs`): a scenario runs the real
//! `lookout serve` (debug build, 1 s checks) against a controllable app (`FlipServer`: status
//! code, maintenance flag, a `/metrics` gauge), a real SMTP server (aiosmtpd) and, where
//! needed, a private PostgreSQL it starts itself; it replays an incident on a timeline and
//! then asserts what people received.
//!
//! - `Scenario`: the temp dir, the SMTP server and the daemon (started, stopped by a signal,
//!   restarted on the same data dir); `wait_for` and `settle` return the mails rather than
//!   panic, so a scenario prints its figures before it asserts.
//! - `Mail` / `Notice`: a received mail classified: subject tag (`CRITICAL`, `WARNING`,
//!   `RESOLVED`, `INFO`, ...), the summary the subject leads with, and each notice of the
//!   text body (kind, summary, labels: which alert it is about).
//! - `Replay`: the timing record: when the failure was injected and when it was repaired;
//!   `report` prints `REPLAY scenario=... mails=N ideal=M first_ms=... resolved_ms=...` (run
//!   with `--nocapture` to collect the figures for BENCHMARKS.md).
//! - `PrivatePostgres`: an `initdb` cluster in a temp dir on a free port, crashed and
//!   restarted by the test (run as the `postgres` user when the tests run as root).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::alerting::{SmtpServer, disabled_rules, email_notifier, mails_in};
use crate::common::{self, Daemon};

/// The `host` label of every alert of a replay (the subjects end with "— replay").
pub const HOST: &str = "replay";

/// Built-in rules a busy 2-core machine could trip (resource use, slow answers of a debug
/// build, late collection): off, so that only the incident's mails are counted.
pub const NOISY_BUILTINS: [&str; 5] = [
    "cpu_usage",
    "memory_usage",
    "disk_usage",
    "http_response_time",
    "collection_late",
];

/// The `[alerts]` of a replay: the product's defaults (`group_interval` 1m,
/// `group_wait_critical` 0s, cooldowns) except a short `group_wait` (2 s), the host label,
/// `alerts_extra` (keys of `[alerts]`, then any `[alerts.x]` table), the noisy built-ins off,
/// and `notifiers` (e.g. `email_notifier(port)`).
pub fn alerts(alerts_extra: &str, notifiers: &str) -> String {
    format!(
        "\n[alerts]\nhost = \"{HOST}\"\ngroup_wait = \"2s\"\n{alerts_extra}\n{}\n{notifiers}\n",
        disabled_rules(&NOISY_BUILTINS)
    )
}

/// A `[[check]]` of `kind` run every second with a 1 s timeout; `body` has its target and any
/// other key (`retries`, `layer`, `depends_on`, ...).
pub fn check(name: &str, kind: &str, body: &str) -> String {
    format!(
        "\n[[check]]\nname = \"{name}\"\ntype = \"{kind}\"\ninterval = \"1s\"\ntimeout = \"1s\"\n{body}\n"
    )
}

/// A planned window of the config from `start_in` from now, for `duration`.
pub fn window(name: &str, start_in: Duration, duration: Duration) -> String {
    let start = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(start_in.as_secs() as i64);
    format!(
        "\n[[maintenance.window]]\nname = \"{name}\"\nstart = \"{}\"\nduration = \"{}s\"\n\
         mode = \"normal\"\nreason = \"release {name}\"\n",
        start.round(jiff::Unit::Second).unwrap(),
        duration.as_secs()
    )
}

/// Sleeps until `at` (a point of the scenario's timeline), not past it.
pub fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}

/// One notice of a mail's text body: `* [KIND] summary` and its indented fields.
#[derive(Debug, Clone)]
pub struct Notice {
    /// `FIRING`, `RESOLVED`, `ESCALATED`, `STILL FIRING`, ...
    pub kind: String,
    pub summary: String,
    /// From the `Labels:` field: `alertname`, `check`, `host`, ...
    pub labels: BTreeMap<String, String>,
    /// The notice's lines, as written.
    pub block: String,
}

impl Notice {
    pub fn check(&self) -> &str {
        self.labels.get("check").map_or("", String::as_str)
    }

    pub fn rule(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }

    /// Its lines mention `words` (case-insensitive).
    pub fn mentions(&self, words: &str) -> bool {
        self.block.to_lowercase().contains(&words.to_lowercase())
    }
}

/// One mail the SMTP server accepted, classified.
#[derive(Debug, Clone)]
pub struct Mail {
    pub subject: String,
    /// The subject's `[TAG]`: `CRITICAL`, `WARNING`, `INFO`, `RESOLVED`, `FLAPPING`, ...
    pub tag: String,
    /// The subject after its tag, without " (+N more)" and " — host": the first summary.
    pub lead: String,
    pub text: String,
    pub notices: Vec<Notice>,
    /// When the SMTP server accepted it.
    pub at: SystemTime,
    /// Its Message-ID: a resend after a crash carries the first one's (`<key@lookout>`).
    pub message_id: String,
}

impl Mail {
    pub fn parse(raw: &serde_json::Value) -> Mail {
        let subject = raw["subject"].as_str().unwrap_or_default().to_string();
        let (tag, rest) = match subject.strip_prefix('[').and_then(|s| s.split_once("] ")) {
            Some((tag, rest)) => (tag.to_string(), rest.to_string()),
            None => (String::new(), subject.clone()),
        };
        let mut lead = rest.as_str();
        if let Some((before, _)) = lead.rsplit_once(" — ") {
            lead = before;
        }
        if let Some(open) = lead.rfind(" (+")
            && lead.ends_with(" more)")
        {
            lead = &lead[..open];
        }
        let text = raw["text"].as_str().unwrap_or_default().to_string();
        let seconds = raw["received_at"]
            .as_f64()
            .expect("the SMTP server records received_at");
        Mail {
            tag,
            lead: lead.to_string(),
            notices: notices_of(&text),
            text,
            at: UNIX_EPOCH + Duration::from_secs_f64(seconds),
            subject,
            message_id: raw["message_id"].as_str().unwrap_or_default().to_string(),
        }
    }

    pub fn is(&self, tag: &str) -> bool {
        self.tag == tag
    }

    /// One of its notices is about check `name` (its `check` label).
    pub fn about(&self, name: &str) -> bool {
        self.notices.iter().any(|n| n.check() == name)
    }

    /// One of its notices is of rule `name` (its `alertname` label).
    pub fn about_rule(&self, name: &str) -> bool {
        self.notices.iter().any(|n| n.rule() == name)
    }

    /// Its subject or text mentions `words` (case-insensitive).
    pub fn mentions(&self, words: &str) -> bool {
        let words = words.to_lowercase();
        self.subject.to_lowercase().contains(&words) || self.text.to_lowercase().contains(&words)
    }

    /// Its subject says a word (letters, digits, '-', '_' between separators), ignoring case.
    pub fn subject_says(&self, word: &str) -> bool {
        self.subject
            .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
            .any(|w| w.eq_ignore_ascii_case(word))
    }

    /// The text after the first line containing `marker` (empty when there is none).
    pub fn text_after(&self, marker: &str) -> &str {
        self.text
            .find(marker)
            .map_or("", |at| &self.text[at + marker.len()..])
    }

    /// Milliseconds from `since` to its arrival (negative: it came before).
    pub fn ms_after(&self, since: SystemTime) -> i64 {
        match self.at.duration_since(since) {
            Ok(after) => after.as_millis() as i64,
            Err(before) => -(before.duration().as_millis() as i64),
        }
    }
}

/// The notices of a text body (`notifiers::render::text_body`): a line `* [KIND] summary`
/// followed by lines indented by two spaces.
fn notices_of(text: &str) -> Vec<Notice> {
    let mut notices: Vec<Notice> = Vec::new();
    let mut open = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("* [")
            && let Some((kind, summary)) = rest.split_once("] ")
        {
            notices.push(Notice {
                kind: kind.to_string(),
                summary: summary.to_string(),
                labels: BTreeMap::new(),
                block: format!("{line}\n"),
            });
            open = true;
            continue;
        }
        if !open || !line.starts_with("  ") {
            open = false;
            continue;
        }
        let notice = notices.last_mut().unwrap();
        notice.block.push_str(line);
        notice.block.push('\n');
        if let Some(labels) = line.trim_start().strip_prefix("Labels:") {
            notice.labels = parse_labels(labels.trim());
        }
    }
    notices
}

/// `alertname="check_failed", check="app"` (values quoted as Rust's `{:?}` quotes them).
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while let Some((name, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(match escaped {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.insert(name.trim_start_matches(", ").trim().to_string(), value);
        rest = &after[end..];
    }
    labels
}

/// One line per mail, for assertion messages: arrival relative to `since`, subject, notices.
pub fn describe(mails: &[Mail], since: SystemTime) -> String {
    let mut out = format!("{} mail(s):", mails.len());
    for mail in mails {
        let notices: Vec<String> = mail
            .notices
            .iter()
            .map(|n| {
                let about = if n.check().is_empty() {
                    n.rule()
                } else {
                    n.check()
                };
                format!("{} {about}", n.kind)
            })
            .collect();
        out += &format!(
            "\n  {:+.1}s {} {{{}}}",
            mail.ms_after(since) as f64 / 1000.0,
            mail.subject,
            notices.join(", ")
        );
    }
    out
}

/// The tags of `mails`, in order.
pub fn tags(mails: &[Mail]) -> Vec<&str> {
    mails.iter().map(|m| m.tag.as_str()).collect()
}

/// A replay's temp dir, SMTP server and daemon.
pub struct Scenario {
    pub dir: tempfile::TempDir,
    pub smtp: SmtpServer,
    daemon: Option<Daemon>,
    config: PathBuf,
}

impl Scenario {
    /// The dir and the SMTP server; the daemon starts with `start`.
    pub fn new() -> Scenario {
        let dir = tempfile::tempdir().unwrap();
        let smtp = SmtpServer::start(dir.path(), &[]);
        let config = dir.path().join("lookout.toml");
        Scenario {
            dir,
            smtp,
            daemon: None,
            config,
        }
    }

    /// The `[[notifier]]` mailing this scenario's SMTP server.
    pub fn email(&self) -> String {
        email_notifier(self.smtp.port)
    }

    /// Writes the config (`common::write_config` + `extra`) and starts the daemon on a port
    /// of its choosing, which is then written into the config (a restart keeps it).
    pub fn start(&mut self, extra: &str) {
        self.config = common::write_config(self.dir.path(), 0, extra);
        let daemon = Daemon::start(&self.config);
        daemon.pin_listen(&self.config);
        self.daemon = Some(daemon);
    }

    pub fn daemon(&self) -> &Daemon {
        self.daemon.as_ref().expect("the daemon runs")
    }

    /// Stops the daemon with `signal` (SIGTERM: it drains and exits 0; SIGKILL: no goodbye).
    pub fn stop(&mut self, signal: i32) -> (Option<i32>, String) {
        let daemon = self.daemon.take().expect("the daemon runs");
        daemon.stop_with(signal)
    }

    /// Starts the daemon again: same config, port and data dir.
    pub fn restart(&mut self) {
        assert!(self.daemon.is_none(), "stop it first");
        self.daemon = Some(Daemon::start(&self.config));
    }

    /// The mails received so far, in arrival order.
    pub fn mails(&self) -> Vec<Mail> {
        mails_in(&self.smtp.out).iter().map(Mail::parse).collect()
    }

    /// Waits until `done(mails)`, at most `limit`; returns the mails either way.
    pub fn wait_for(&self, limit: Duration, done: impl Fn(&[Mail]) -> bool) -> Vec<Mail> {
        let deadline = Instant::now() + limit;
        loop {
            let mails = self.mails();
            if done(&mails) || Instant::now() >= deadline {
                return mails;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until no new mail has come for `quiet` (at most 2 minutes); returns them all.
    pub fn settle(&self, quiet: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut count = self.mails().len();
        let mut since = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let now = self.mails().len();
            if now != count {
                count = now;
                since = Instant::now();
            } else if since.elapsed() >= quiet || Instant::now() >= deadline {
                return self.mails();
            }
        }
    }

    /// What the assertion messages show: the mails (`describe`) and the daemon's alert history
    /// (what was decided, sent or muted, and why), oldest first.
    pub fn seen(&self, mails: &[Mail], since: SystemTime) -> String {
        let mut out = describe(mails, since);
        out += "\nalert history (oldest first):";
        let history = self.daemon.as_ref().and_then(|daemon| {
            let (status, body) =
                common::http_get(daemon.addr, "/api/v1/alerts/history?since=-1h&limit=500")?;
            (status == 200).then_some(())?;
            serde_json::from_str::<serde_json::Value>(&body).ok()
        });
        let entries = history
            .as_ref()
            .and_then(|h| h["history"].as_array().cloned())
            .unwrap_or_default();
        for entry in entries.iter().rev() {
            let text = |key: &str| entry[key].as_str().unwrap_or_default().to_string();
            out += &format!(
                "\n  {} {} {} sent={} {}",
                text("at"),
                text("kind"),
                text("summary"),
                entry["sent"],
                text("muted_by")
            );
        }
        out
    }

    /// Waits until check `name` reports `status` (e.g. "ok") in /api/v1/status.
    pub fn wait_status(&self, name: &str, status: &str) {
        let daemon = self.daemon();
        crate::common::alerting::poll(
            Duration::from_secs(60),
            &format!("check {name} {status}"),
            || {
                daemon.json("/api/v1/status")["checks"]
                    .as_array()?
                    .iter()
                    .any(|c| c["check"] == name && c["status"] == status)
                    .then_some(())
            },
        );
    }
}

/// The timing record of one replay: when the failure was injected and when it was repaired.
pub struct Replay {
    pub scenario: String,
    /// The ideal number of mails (messages) for the scenario.
    pub ideal: usize,
    pub failed: Option<(Instant, SystemTime)>,
    pub recovered: Option<(Instant, SystemTime)>,
}

impl Replay {
    pub fn new(scenario: &str, ideal: usize) -> Replay {
        Replay {
            scenario: scenario.to_string(),
            ideal,
            failed: None,
            recovered: None,
        }
    }

    /// Marks the moment the failure is injected (call just before injecting it).
    pub fn fail_now(&mut self) -> Instant {
        let now = (Instant::now(), SystemTime::now());
        self.failed = Some(now);
        now.0
    }

    /// Marks the moment the failure is repaired.
    pub fn recover_now(&mut self) -> Instant {
        let now = (Instant::now(), SystemTime::now());
        self.recovered = Some(now);
        now.0
    }

    pub fn failed_at(&self) -> SystemTime {
        self.failed.expect("fail_now first").1
    }

    pub fn recovered_at(&self) -> SystemTime {
        self.recovered.expect("recover_now first").1
    }

    /// The failure's moment as milliseconds since the Unix epoch (the notices' `at_ms`).
    pub fn recovered_ms(&self) -> i64 {
        self.recovered_at()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }

    /// Milliseconds from the failure to the first mail.
    pub fn first_ms(&self, mails: &[Mail]) -> Option<i64> {
        Some(mails.first()?.ms_after(self.failed?.1))
    }

    /// Milliseconds from the repair to `resolution`.
    pub fn resolved_ms(&self, resolution: Option<&Mail>) -> Option<i64> {
        Some(resolution?.ms_after(self.recovered?.1))
    }

    /// Prints the figures of this run for BENCHMARKS.md (before the scenario asserts, so a
    /// failing scenario reports them too).
    pub fn report(&self, count: usize, first_ms: Option<i64>, resolved_ms: Option<i64>) {
        let show = |ms: Option<i64>| ms.map_or("none".to_string(), |ms| ms.to_string());
        println!(
            "REPLAY scenario={} mails={count} ideal={} first_ms={} resolved_ms={}",
            self.scenario,
            self.ideal,
            show(first_ms),
            show(resolved_ms)
        );
    }

    /// `report` for mails: the first mail and `resolution`.
    pub fn report_mails(&self, mails: &[Mail], resolution: Option<&Mail>) {
        self.report(
            mails.len(),
            self.first_ms(mails),
            self.resolved_ms(resolution),
        );
    }
}

/// A private PostgreSQL: an `initdb` cluster in a temp dir, listening on 127.0.0.1 on a free
/// port (trust auth, user postgres), which a test crashes and restarts. As root, initdb and
/// the server run as the `postgres` user (PostgreSQL refuses root).
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
    owner: Option<(u32, u32)>,
    child: Option<Child>,
}

impl PrivatePostgres {
    pub fn start() -> PrivatePostgres {
        let bin = postgres_bindir();
        let dir = tempfile::tempdir().unwrap();
        let owner = unprivileged_owner();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(dir.path().join("data"))
            .args(["-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])
            .arg("--locale=C");
        as_owner(&mut initdb, owner);
        let out = initdb.output().expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            common::text(&out.stdout),
            common::text(&out.stderr)
        );
        let mut postgres = PrivatePostgres {
            dir,
            port: 0,
            bin,
            owner,
            child: None,
        };
        // A free port, another if that one was taken before postgres bound it.
        common::with_free_port("postgres", |port| {
            postgres.port = port;
            postgres.try_up()
        });
        postgres
    }

    /// The DSN of its `postgres` database.
    pub fn dsn(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn up(&mut self) {
        self.try_up().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts the server; `Err` with its log if it exits at start (e.g. its port was taken).
    fn try_up(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut command = Command::new(self.bin.join("postgres"));
        command
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(self.dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=20",
                "-c",
                "shared_buffers=16MB",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        as_owner(&mut command, self.owner);
        let mut child = command.spawn().expect("start postgres");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "postgres exited with {status}: {}",
                    std::fs::read_to_string(self.log_path()).unwrap_or_default()
                ));
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U"])
                .args(["postgres", "-t", "1"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "postgres not ready within 60 s: {}",
                std::fs::read_to_string(self.log_path()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.child = Some(child);
        Ok(())
    }

    /// Crashes the server: an immediate shutdown (SIGQUIT to the postmaster: every backend
    /// ends at once, no checkpoint, crash recovery at the next start), then waits for the exit.
    pub fn crash(&mut self) {
        let mut child = self.child.take().expect("postgres runs");
        unsafe { libc::kill(child.id() as i32, libc::SIGQUIT) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts it again on the same data dir and port; returns once it accepts connections.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "crash it first");
        self.up();
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.crash();
        }
    }
}

/// The directory of the PostgreSQL server binaries: that of `postgres` on the PATH (links
/// followed), else the newest /usr/lib/postgresql/<version>/bin.
fn postgres_bindir() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("postgres"))
            .find(|p| p.is_file())
            .and_then(|p| std::fs::canonicalize(p).ok())
            .and_then(|p| p.parent().map(Path::to_path_buf))
    });
    let found = on_path
        .filter(|dir| dir.join("initdb").is_file() && dir.join("pg_isready").is_file())
        .or_else(|| {
            let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                .ok()?
                .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .filter(|dir| dir.join("postgres").is_file())
                .collect();
            dirs.sort();
            dirs.pop()
        });
    found.expect("the PostgreSQL server binaries (postgres, initdb, pg_isready) are needed")
}

/// As root: the uid and gid of the `postgres` user, which runs the private server.
fn unprivileged_owner() -> Option<(u32, u32)> {
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = std::ffi::CString::new("postgres").unwrap();
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(
        !entry.is_null(),
        "running as root, a `postgres` user is needed to run a private PostgreSQL"
    );
    let entry = unsafe { &*entry };
    Some((entry.pw_uid, entry.pw_gid))
}

fn as_owner(command: &mut Command, owner: Option<(u32, u32)>) {
    use std::os::unix::process::CommandExt;
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
    }
}
