//! Alert trust, side by side (issue 16, "Figures"): the same injected incidents replayed
//! against Lookout and against Prometheus + Alertmanager + blackbox_exporter, each system
//! mailing a real SMTP sink of its own (aiosmtpd, `tests/support/smtp_server.py`). Counts the
//! mails each sent against the ideal, the time from the incident's start to the first mail, the
//! time from the recovery to the resolution mail, and the incidents told but never resolved.
//!
//! Incidents (each an app timeline driven by the bench's own HTTP app; the app of an incident
//! is shared by every system, so all see the same failure at the same moment): a real outage
//! of 60 s, of 3 min and of 20 s; flapping 500/200 every 2 s and every 5 s for 90 s; a 30 s
//! critical spike of a gauge on the app's /metrics (97 against a critical level of 95); a
//! cascade: a private PostgreSQL (initdb in a temp dir, its own port) killed with SIGKILL while
//! the app's two endpoints turn to 500, both back 60 s later.
//!
//! Systems: `Lookout` (this tree's release binary, which the bench builds with `cargo build
//! --release`, or `LOOKOUT_BIN`; 1 s checks, its default alert settings, `LOOKOUT_EXTRA`
//! appended to its config), optionally a second Lookout (`LOOKOUT_BASELINE_BIN`, e.g. main
//! before a change, `LOOKOUT_BASELINE_EXTRA`), and
//! Prometheus + Alertmanager twice: the usual setup (`for: 1m`, `group_wait: 30s`,
//! `group_interval: 5m`) and a tuned one (`for: 5s`, `group_wait: 5s`, `group_interval:
//! 10s`), both scraping every second through one blackbox_exporter. Every system of every
//! incident is a process of its own on free ports with a temp dir, so all incidents run at
//! once (about 9 minutes). A peer whose binary is missing is skipped with a message.
//!
//! ```text
//! cargo bench --bench alert_replay                         # every incident, every system
//! cargo test --bench alert_replay                          # the same; only the driver in debug
//! cargo bench --bench alert_replay -- lookout              # only Lookout (and the baseline)
//! cargo bench --bench alert_replay -- prometheus flap-2s   # systems and incidents by name
//! ```
//!
//! Debian packages: prometheus, prometheus-alertmanager, prometheus-blackbox-exporter,
//! postgresql (initdb; run as the `postgres` user when the bench runs as root); aiosmtpd.
//! Prints a markdown table to stdout, then every mail each system sent.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{alerting, prometheus};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use alerting::SmtpServer;
use common::{free_port, http_get};

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
const BLACKBOX: &str = "/usr/bin/prometheus-blackbox-exporter";
/// Every system's mails are counted until this long after the recovery: Alertmanager's usual
/// `group_interval` (5 m) plus margin, so a resolution it holds back still counts.
/// `LOOKOUT_BENCH_TAIL` (seconds) overrides it, for a quick look.
fn tail() -> Duration {
    std::env::var("LOOKOUT_BENCH_TAIL")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(330), Duration::from_secs)
}
/// Healthy time before an incident starts, once every system sees the app healthy.
const WARMUP: Duration = Duration::from_secs(15);
/// The app's gauge outside the spike.
const GAUGE_NORMAL: f64 = 40.0;
const GAUGE_SPIKE: f64 = 97.0;

// ----------------------------------------------------------------------------------------------
// Incidents.

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// The app's endpoints answer 500 for this long.
    Outage(u64),
    /// 500 and 200 alternate every `period` seconds, starting with 500, for `total` seconds.
    Flap { period: u64, total: u64 },
    /// The /metrics gauge is at `GAUGE_SPIKE` for this long.
    Spike(u64),
    /// PostgreSQL killed and the app's endpoints at 500 for this long.
    Cascade(u64),
}

#[derive(Clone, Copy)]
enum Action {
    Status(u16),
    Gauge(f64),
    KillDb,
    StartDb,
}

struct Incident {
    name: &'static str,
    title: &'static str,
    kind: Kind,
}

impl Incident {
    /// The most mails that are still ideal, and whether the incident must be told at all.
    fn ideal(&self) -> (usize, bool) {
        match self.kind {
            Kind::Flap { .. } => (2, false),
            _ => (2, true),
        }
    }

    fn ideal_text(&self) -> &'static str {
        match self.kind {
            Kind::Flap { .. } => "≤ 2",
            Kind::Cascade(_) => "2 (db first)",
            _ => "2",
        }
    }

    /// (seconds after the start, action); the last entry is the recovery.
    fn timeline(&self) -> Vec<(u64, Action)> {
        match self.kind {
            Kind::Outage(s) => vec![(0, Action::Status(500)), (s, Action::Status(200))],
            Kind::Flap { period, total } => {
                let mut steps: Vec<(u64, Action)> = (0..)
                    .map(|k| k * period)
                    .take_while(|&at| at < total)
                    .enumerate()
                    .map(|(k, at)| (at, Action::Status(if k % 2 == 0 { 500 } else { 200 })))
                    .collect();
                steps.push((total, Action::Status(200)));
                steps
            }
            Kind::Spike(s) => vec![
                (0, Action::Gauge(GAUGE_SPIKE)),
                (s, Action::Gauge(GAUGE_NORMAL)),
            ],
            Kind::Cascade(s) => vec![
                (0, Action::KillDb),
                (0, Action::Status(500)),
                (s, Action::StartDb),
                (s, Action::Status(200)),
            ],
        }
    }
}

fn incidents() -> Vec<Incident> {
    vec![
        Incident {
            name: "outage-60s",
            title: "real outage 60 s",
            kind: Kind::Outage(60),
        },
        Incident {
            name: "outage-3m",
            title: "real outage 3 min",
            kind: Kind::Outage(180),
        },
        Incident {
            name: "flap-2s",
            title: "flap 500/200 every 2 s, 90 s",
            kind: Kind::Flap {
                period: 2,
                total: 90,
            },
        },
        Incident {
            name: "flap-5s",
            title: "flap 500/200 every 5 s, 90 s",
            kind: Kind::Flap {
                period: 5,
                total: 90,
            },
        },
        Incident {
            name: "outage-20s",
            title: "outage 20 s",
            kind: Kind::Outage(20),
        },
        Incident {
            name: "spike",
            title: "critical spike 30 s (gauge 97 > 95)",
            kind: Kind::Spike(30),
        },
        Incident {
            name: "cascade",
            title: "cascade: PostgreSQL killed, app 500, 60 s",
            kind: Kind::Cascade(60),
        },
    ]
}

// ----------------------------------------------------------------------------------------------
// The controllable app: /metrics always answers 200 with the gauge; every other path answers
// the status set last.

struct App {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    gauge: Arc<AtomicU64>,
}

impl App {
    fn start() -> App {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the app");
        let addr = listener.local_addr().unwrap();
        let status = Arc::new(AtomicU16::new(200));
        let gauge = Arc::new(AtomicU64::new(GAUGE_NORMAL.to_bits()));
        let (s, g) = (status.clone(), gauge.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (s, g) = (s.clone(), g.clone());
                std::thread::spawn(move || serve_app(stream, &s, &g));
            }
        });
        App {
            addr,
            status,
            gauge,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

fn serve_app(mut stream: TcpStream, status: &AtomicU16, gauge: &AtomicU64) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let (code, content_type, body) = if path == "/metrics" {
        let value = f64::from_bits(gauge.load(Ordering::SeqCst));
        (
            200,
            "text/plain; version=0.0.4",
            format!(
                "# HELP app_load_percent How busy the app is.\n# TYPE app_load_percent gauge\n\
                 app_load_percent {value}\n"
            ),
        )
    } else {
        let code = status.load(Ordering::SeqCst);
        let body = if code < 400 { "ok" } else { "broken" };
        (code, "text/plain", body.to_string())
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {code} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
}

// ----------------------------------------------------------------------------------------------
// A private PostgreSQL: initdb in a temp dir, its own port, killed and restarted by the bench.

struct Postgres {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    /// (uid, gid) to run as when the bench runs as root (initdb refuses root).
    user: Option<(u32, u32)>,
}

impl Postgres {
    fn available() -> Option<PathBuf> {
        which("initdb").or_else(|| {
            let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                .ok()?
                .flatten()
                .map(|e| e.path().join("bin/initdb"))
                .filter(|p| p.exists())
                .collect();
            found.sort();
            found.pop()
        })
    }

    fn start() -> Postgres {
        let initdb = Postgres::available().expect("initdb");
        let bin = initdb.parent().unwrap().to_path_buf();
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: geteuid has no preconditions.
        let user = if unsafe { libc::geteuid() } == 0 {
            Some(user_ids("postgres").expect("a postgres user to run PostgreSQL as"))
        } else {
            None
        };
        if let Some((uid, gid)) = user {
            chown(dir.path(), uid, gid);
        }
        let data = dir.path().join("data");
        let output = as_user(Command::new(&initdb), user)
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .env("LC_ALL", "C")
            .output()
            .expect("run initdb");
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut postgres = Postgres {
            dir,
            port: free_port(),
            child: None,
            user,
        };
        postgres.child = Some(postgres.spawn(&bin));
        postgres.wait_listening();
        postgres
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "postgres did not listen within 30 s: {}",
                std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again after `kill` (crash recovery on the same data dir).
    fn restart(&mut self) {
        self.kill();
        let bin = Postgres::available()
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf();
        // The killed server's backends leave on their own once they see it gone; until then
        // a new server refuses the data dir (its shared memory is still in use): retry.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut child = self.spawn(&bin);
            std::thread::sleep(Duration::from_millis(300));
            if !matches!(child.try_wait(), Ok(Some(_))) {
                self.child = Some(child);
                break;
            }
            assert!(Instant::now() < deadline, "postgres did not restart");
        }
        self.wait_listening();
    }

    fn spawn(&self, bin: &Path) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("postgres.log"))
            .unwrap();
        as_user(Command::new(bin.join("postgres")), self.user)
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start postgres")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.kill();
    }
}

fn as_user(mut command: Command, user: Option<(u32, u32)>) -> Command {
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid).env("HOME", "/tmp");
    }
    command
}

fn user_ids(name: &str) -> Option<(u32, u32)> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer to static storage or null; read at once.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return None;
    }
    // SAFETY: non-null, points to a valid passwd.
    let entry = unsafe { &*entry };
    Some((entry.pw_uid, entry.pw_gid))
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown the PostgreSQL dir");
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

// ----------------------------------------------------------------------------------------------
// Systems.

#[derive(Clone)]
enum SystemSpec {
    Lookout {
        label: String,
        bin: PathBuf,
        extra: String,
    },
    Peers {
        label: String,
        tuned: bool,
    },
}

impl SystemSpec {
    fn label(&self) -> &str {
        match self {
            SystemSpec::Lookout { label, .. } | SystemSpec::Peers { label, .. } => label,
        }
    }
}

/// One running system of one incident, with its own SMTP sink.
struct Running {
    label: String,
    smtp: SmtpServer,
    processes: Vec<(String, Child)>,
    dir: tempfile::TempDir,
    /// Prometheus' address, to wait until it sees the app healthy.
    prometheus: Option<SocketAddr>,
    lookout: Option<SocketAddr>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for (_, child) in &mut self.processes {
            // SIGTERM first: a clean stop; then make sure.
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        }
        std::thread::sleep(Duration::from_millis(300));
        for (_, child) in &mut self.processes {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Running {
    fn check_alive(&mut self) {
        for (what, child) in &mut self.processes {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{} of {} exited with {status}; its log: {}",
                    what,
                    self.label,
                    std::fs::read_to_string(self.dir.path().join(format!("{what}.log")))
                        .unwrap_or_default()
                );
            }
        }
    }
}

fn spawn_logged(dir: &Path, what: &str, command: &mut Command) -> (String, Child) {
    let log = std::fs::File::create(dir.join(format!("{what}.log"))).unwrap();
    let child = command
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    (what.to_string(), child)
}

/// What an incident's systems look at.
struct Targets<'a> {
    incident: &'a Incident,
    app: &'a App,
    db_port: Option<u16>,
}

fn start_lookout(label: &str, bin: &Path, extra: &str, targets: &Targets) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), &[]);
    let port = free_port();
    let mut checks = String::new();
    let check = |name: &str, body: &str| {
        format!("\n[[check]]\nname = \"{name}\"\n{body}\ninterval = \"1s\"\ntimeout = \"1s\"\n")
    };
    match targets.incident.kind {
        Kind::Outage(_) | Kind::Flap { .. } => {
            checks += &check(
                "app",
                &format!("type = \"http\"\nurl = \"{}\"", targets.app.url("/health")),
            );
        }
        Kind::Spike(_) => {
            checks += &check(
                "app-metrics",
                &format!(
                    "type = \"prometheus\"\nurl = \"{}\"\nfamilies = [\"app_.*\"]",
                    targets.app.url("/metrics")
                ),
            );
            checks += "\n[[alerts.rule]]\nname = \"app_load\"\nmetric = \"app_load_percent\"\n\
                       unit = \"number\"\ncritical = 95\nfor = \"2m\"\n";
        }
        Kind::Cascade(_) => {
            checks += &check(
                "db",
                &format!(
                    "type = \"postgres\"\nlayer = \"database\"\n\
                     dsn = \"postgres://postgres@127.0.0.1:{}/postgres\"",
                    targets.db_port.unwrap()
                ),
            );
            checks += &check(
                "app",
                &format!(
                    "type = \"http\"\nlayer = \"application\"\nurl = \"{}\"",
                    targets.app.url("/health")
                ),
            );
            checks += &check(
                "app-ready",
                &format!(
                    "type = \"http\"\nlayer = \"application\"\nurl = \"{}\"",
                    targets.app.url("/ready")
                ),
            );
        }
    }
    // Lookout's defaults, but no system probe and no response-time rule: this shared, loaded
    // machine's own cpu or a slow answer must not add mails the peers cannot send.
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[storage]\npath = \"{data}\"\n\n\
         [system]\nenabled = false\n\n[alerts]\nhost = \"bench\"\n\n\
         [[alerts.rule]]\nname = \"http_response_time\"\nenabled = false\n\n\
         [[notifier]]\nname = \"ops-mail\"\ntype = \"email\"\n\
         smtp = \"smtp://127.0.0.1:{smtp}\"\nfrom = \"lookout@example.org\"\n\
         to = [\"ops@example.org\"]\ntimeout = \"5s\"\n{checks}\n{extra}\n",
        data = dir.path().join("data").display(),
        smtp = smtp.port,
    );
    let path = dir.path().join("lookout.toml");
    std::fs::write(&path, config).unwrap();
    let process = spawn_logged(
        dir.path(),
        "lookout",
        Command::new(bin)
            .args(["serve", "--config"])
            .arg(&path)
            .env_remove("LOOKOUT_CONFIG")
            .env_remove("RUST_LOG"),
    );
    Running {
        label: label.to_string(),
        smtp,
        processes: vec![process],
        dir,
        prometheus: None,
        lookout: Some(format!("127.0.0.1:{port}").parse().unwrap()),
    }
}

/// The peers' alerting rules (one file for both incidents kinds; a rule with no series is idle).
fn prometheus_rules(tuned: bool) -> String {
    let (probe_for, metric_for) = if tuned { ("5s", "5s") } else { ("1m", "2m") };
    format!(
        "groups:\n\
         - name: incidents\n  rules:\n\
         \x20 - alert: ProbeFailed\n    expr: probe_success == 0\n    for: {probe_for}\n\
         \x20   labels:\n      severity: critical\n\
         \x20   annotations:\n      summary: '{{{{ $labels.check }}}} ({{{{ $labels.instance }}}}) is down'\n\
         \x20 - alert: AppLoadCritical\n    expr: app_load_percent > 95\n    for: {metric_for}\n\
         \x20   labels:\n      severity: critical\n\
         \x20   annotations:\n      summary: 'app load is {{{{ $value }}}}%'\n"
    )
}

fn prometheus_config(am: u16, blackbox: u16, targets: &Targets) -> String {
    let probe_job = |job: &str, module: &str, list: &[(String, &str)]| {
        let mut text = format!(
            "  - job_name: {job}\n    metrics_path: /probe\n    params:\n      module: [{module}]\n\
             \x20   static_configs:\n"
        );
        for (target, check) in list {
            text += &format!(
                "      - targets: ['{target}']\n        labels:\n          check: {check}\n"
            );
        }
        text += &format!(
            "    relabel_configs:\n\
             \x20     - source_labels: [__address__]\n        target_label: __param_target\n\
             \x20     - source_labels: [__param_target]\n        target_label: instance\n\
             \x20     - target_label: __address__\n        replacement: 127.0.0.1:{blackbox}\n"
        );
        text
    };
    let mut jobs = String::new();
    match targets.incident.kind {
        Kind::Outage(_) | Kind::Flap { .. } => {
            jobs += &probe_job(
                "blackbox_http",
                "http_2xx",
                &[(targets.app.url("/health"), "app")],
            );
        }
        Kind::Spike(_) => {
            jobs += &format!(
                "  - job_name: app\n    static_configs:\n      - targets: ['{}']\n",
                targets.app.addr
            );
        }
        Kind::Cascade(_) => {
            jobs += &probe_job(
                "blackbox_http",
                "http_2xx",
                &[
                    (targets.app.url("/health"), "app"),
                    (targets.app.url("/ready"), "app-ready"),
                ],
            );
            jobs += &probe_job(
                "blackbox_tcp",
                "tcp_connect",
                &[(format!("127.0.0.1:{}", targets.db_port.unwrap()), "db")],
            );
        }
    }
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am}']\n\
         rule_files: ['rules.yml']\n\
         scrape_configs:\n{jobs}"
    )
}

fn alertmanager_config(smtp: u16, tuned: bool) -> String {
    let (wait, interval) = if tuned { ("5s", "10s") } else { ("30s", "5m") };
    format!(
        "route:\n  receiver: mail\n  group_by: ['alertname']\n  group_wait: {wait}\n\
         \x20 group_interval: {interval}\n  repeat_interval: 4h\n\
         receivers:\n  - name: mail\n    email_configs:\n\
         \x20     - to: ops@example.org\n        from: alertmanager@example.org\n\
         \x20       smarthost: 127.0.0.1:{smtp}\n        require_tls: false\n\
         \x20       send_resolved: true\n"
    )
}

fn start_peers(label: &str, tuned: bool, blackbox: u16, targets: &Targets) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), &[]);
    let am_port = free_port();
    let prom_port = free_port();
    std::fs::write(
        dir.path().join("alertmanager.yml"),
        alertmanager_config(smtp.port, tuned),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        prometheus_config(am_port, blackbox, targets),
    )
    .unwrap();
    std::fs::write(dir.path().join("rules.yml"), prometheus_rules(tuned)).unwrap();
    let am = spawn_logged(
        dir.path(),
        "alertmanager",
        Command::new(ALERTMANAGER)
            .arg(format!(
                "--config.file={}",
                dir.path().join("alertmanager.yml").display()
            ))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("am-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            // No cluster: every Alertmanager here is alone (the default gossip port is shared).
            .arg("--cluster.listen-address="),
    );
    let prom = spawn_logged(
        dir.path(),
        "prometheus",
        Command::new(prometheus::PROMETHEUS)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("prom-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}")),
    );
    Running {
        label: label.to_string(),
        smtp,
        processes: vec![am, prom],
        dir,
        prometheus: Some(format!("127.0.0.1:{prom_port}").parse().unwrap()),
        lookout: None,
    }
}

/// Waits until the system is up and sees the app healthy.
fn wait_ready(system: &mut Running, incident: &Incident) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        system.check_alive();
        let ready = if let Some(addr) = system.lookout {
            http_get(addr, "/healthz").is_some_and(|(status, _)| status == 200)
        } else {
            let addr = system.prometheus.unwrap();
            let (expr, want) = match incident.kind {
                Kind::Spike(_) => ("count(app_load_percent < 95)", 1),
                Kind::Cascade(_) => ("count(probe_success == 1)", 3),
                _ => ("count(probe_success == 1)", 1),
            };
            http_get(
                addr,
                &format!("/api/v1/query?query={}", prometheus::encode(expr)),
            )
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|v| {
                v["data"]["result"][0]["value"][1]
                    .as_str()
                    .map(String::from)
            })
            .is_some_and(|n| n == want.to_string())
        };
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} not ready within 90 s for {}",
            system.label,
            incident.name
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ----------------------------------------------------------------------------------------------
// Measuring.

struct Mail {
    at: SystemTime,
    subject: String,
    text: String,
}

fn mails(out: &Path) -> Vec<Mail> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut files: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.parse().ok()?, p)))
        .collect();
    files.sort();
    files
        .iter()
        .map(|(_, path)| {
            let at = std::fs::metadata(path).and_then(|m| m.modified()).unwrap();
            let json: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            Mail {
                at,
                subject: alerting::subject(&json).to_string(),
                text: format!(
                    "{}\n{}",
                    json["text"].as_str().unwrap_or_default(),
                    json["html"].as_str().unwrap_or_default()
                ),
            }
        })
        .collect()
}

fn is_resolution(mail: &Mail) -> bool {
    mail.subject.starts_with("[RESOLVED]")
}

/// Whether `db` appears as a word in the text.
fn names_db(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices("db").any(|(i, _)| {
        let before = i == 0 || !is_word(bytes[i - 1]);
        let after = i + 2 >= bytes.len() || !is_word(bytes[i + 2]);
        before && after
    })
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

struct Outcome {
    incident: &'static str,
    title: &'static str,
    ideal: (usize, bool),
    ideal_text: &'static str,
    cascade: bool,
    system: String,
    /// Mails from the system's start to `tail()` after the recovery, with their offset from the
    /// incident's start.
    mails: Vec<(f64, Mail)>,
    /// The recovery, seconds after the start.
    recovery: f64,
}

impl Outcome {
    fn count(&self) -> usize {
        self.mails.len()
    }

    fn first(&self) -> Option<f64> {
        self.mails.iter().map(|(at, _)| *at).find(|at| *at >= 0.0)
    }

    fn told(&self) -> bool {
        self.mails.iter().any(|(_, m)| !is_resolution(m))
    }

    /// The last mail is a resolution: seconds from the recovery to it (negative: it came
    /// before the recovery, i.e. during a flap whose last state told was "resolved").
    fn resolution(&self) -> Option<f64> {
        let (at, last) = self.mails.last()?;
        is_resolution(last).then_some(at - self.recovery)
    }

    fn missing_resolution(&self) -> bool {
        self.told() && self.resolution().is_none()
    }

    fn at_ideal(&self) -> bool {
        let (most, must_tell) = self.ideal;
        let count_ok = if must_tell {
            self.count() == most
        } else {
            self.count() <= most
        };
        let root_ok = !self.cascade || self.first_names_db() == Some(true);
        count_ok && !self.missing_resolution() && root_ok
    }

    /// The first alerting mail names the database (subject or body).
    fn first_names_db(&self) -> Option<bool> {
        let (_, first) = self.mails.iter().find(|(_, m)| !is_resolution(m))?;
        Some(names_db(&first.subject) || names_db(&first.text))
    }

    fn first_subject_names_db(&self) -> Option<bool> {
        let (_, first) = self.mails.iter().find(|(_, m)| !is_resolution(m))?;
        Some(names_db(&first.subject))
    }

    fn cell(&self) -> String {
        let count = if self.at_ideal() {
            format!("**{}**", self.count())
        } else {
            self.count().to_string()
        };
        let first = self.first().map_or("—".into(), |s| format!("{s:.1} s"));
        let resolution = match (self.resolution(), self.told()) {
            (Some(r), _) if r < 0.0 => "told in the flap".to_string(),
            (Some(r), _) => format!("{r:.1} s"),
            (None, true) => "**never**".to_string(),
            (None, false) => "—".to_string(),
        };
        let mut cell = format!("{count} · {first} · {resolution}");
        if self.cascade {
            match (self.first_subject_names_db(), self.first_names_db()) {
                (Some(true), _) => cell += " · db in subject",
                (_, Some(true)) => cell += " · db in body",
                (_, Some(false)) => cell += " · db not named",
                _ => {}
            }
        }
        cell
    }
}

// ----------------------------------------------------------------------------------------------
// Running one incident.

fn run_incident(
    incident: Incident,
    systems: Vec<SystemSpec>,
    blackbox: Option<u16>,
) -> Vec<Outcome> {
    let app = App::start();
    let mut db = matches!(incident.kind, Kind::Cascade(_)).then(Postgres::start);
    let targets = Targets {
        incident: &incident,
        app: &app,
        db_port: db.as_ref().map(|d| d.port),
    };
    let mut running: Vec<Running> = systems
        .iter()
        .filter_map(|spec| match spec {
            SystemSpec::Lookout { label, bin, extra } => {
                Some(start_lookout(label, bin, extra, &targets))
            }
            SystemSpec::Peers { label, tuned } => {
                blackbox.map(|bb| start_peers(label, *tuned, bb, &targets))
            }
        })
        .collect();
    for system in &mut running {
        wait_ready(system, &incident);
    }
    std::thread::sleep(WARMUP);
    for system in &mut running {
        system.check_alive();
    }
    let start = SystemTime::now();
    let clock = Instant::now();
    let mut recovery = start;
    eprintln!("{}: incident starts", incident.name);
    for (offset, action) in incident.timeline() {
        let due = clock + Duration::from_secs(offset);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        match action {
            Action::Status(code) => app.status.store(code, Ordering::SeqCst),
            Action::Gauge(value) => app.gauge.store(value.to_bits(), Ordering::SeqCst),
            Action::KillDb => db.as_mut().unwrap().kill(),
            Action::StartDb => db.as_mut().unwrap().restart(),
        }
        recovery = SystemTime::now();
    }
    eprintln!(
        "{}: recovered; watching the mails for {} s",
        incident.name,
        tail().as_secs()
    );
    let end = Instant::now() + tail();
    while Instant::now() < end {
        for system in &mut running {
            system.check_alive();
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let since = |t: SystemTime| match t.duration_since(start) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    };
    let cutoff = since(recovery) + tail().as_secs_f64();
    let outcomes = running
        .iter()
        .map(|system| Outcome {
            incident: incident.name,
            title: incident.title,
            ideal: incident.ideal(),
            ideal_text: incident.ideal_text(),
            cascade: matches!(incident.kind, Kind::Cascade(_)),
            system: system.label.clone(),
            mails: mails(&system.smtp.out)
                .into_iter()
                .map(|m| (since(m.at), m))
                .filter(|(at, _)| *at <= cutoff)
                .collect(),
            recovery: since(recovery),
        })
        .collect();
    eprintln!("{}: done", incident.name);
    outcomes
}

// ----------------------------------------------------------------------------------------------

fn version(bin: &str) -> String {
    Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().next().unwrap_or_default().to_string()
        })
        .unwrap_or_else(|| "?".into())
}

/// `LOOKOUT_BIN`, or this tree's release binary, built now (`cargo build --release`), whatever
/// profile built the bench itself (`cargo test --bench alert_replay` builds the bench in the
/// dev profile and no release dev-dependencies).
fn release_lookout() -> PathBuf {
    if let Ok(bin) = std::env::var("LOOKOUT_BIN") {
        return PathBuf::from(bin);
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--bin", "lookout"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo build --release");
    assert!(status.success(), "cargo build --release failed");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    target.join("release/lookout")
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let all = incidents();
    let want_system = |s: &str| {
        let systems: Vec<&String> = args
            .iter()
            .filter(|a| ["lookout", "prometheus"].contains(&a.as_str()))
            .collect();
        systems.is_empty() || systems.iter().any(|a| a.as_str() == s)
    };
    let chosen: Vec<Incident> = {
        let names: Vec<&String> = args
            .iter()
            .filter(|a| all.iter().any(|i| i.name == a.as_str()))
            .collect();
        for a in &args {
            assert!(
                ["lookout", "prometheus"].contains(&a.as_str())
                    || all.iter().any(|i| i.name == a.as_str()),
                "unknown argument {a}: systems are lookout, prometheus; incidents are {}",
                all.iter().map(|i| i.name).collect::<Vec<_>>().join(", ")
            );
        }
        all.into_iter()
            .filter(|i| names.is_empty() || names.iter().any(|n| n.as_str() == i.name))
            .collect()
    };

    let mut systems = Vec::new();
    if want_system("lookout") {
        let bin = release_lookout();
        if bin.exists() {
            if let Ok(baseline) = std::env::var("LOOKOUT_BASELINE_BIN") {
                systems.push(SystemSpec::Lookout {
                    label: std::env::var("LOOKOUT_BASELINE_LABEL")
                        .unwrap_or_else(|_| "Lookout (baseline)".into()),
                    bin: PathBuf::from(baseline),
                    extra: std::env::var("LOOKOUT_BASELINE_EXTRA").unwrap_or_default(),
                });
            }
            systems.push(SystemSpec::Lookout {
                label: std::env::var("LOOKOUT_LABEL").unwrap_or_else(|_| "Lookout".into()),
                bin,
                extra: std::env::var("LOOKOUT_EXTRA").unwrap_or_default(),
            });
        } else {
            eprintln!("skipping Lookout: {} does not exist", bin.display());
        }
    }
    let mut blackbox_process = None;
    let mut blackbox_dir = None;
    if want_system("prometheus") {
        let missing: Vec<&str> = [prometheus::PROMETHEUS, ALERTMANAGER, BLACKBOX]
            .into_iter()
            .filter(|b| !Path::new(b).exists())
            .collect();
        if missing.is_empty() {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(
                dir.path().join("blackbox.yml"),
                "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n    http:\n      \
                 preferred_ip_protocol: ip4\n  tcp_connect:\n    prober: tcp\n    timeout: 5s\n    \
                 tcp:\n      preferred_ip_protocol: ip4\n",
            )
            .unwrap();
            let port = free_port();
            let process = spawn_logged(
                dir.path(),
                "blackbox",
                Command::new(BLACKBOX)
                    .arg(format!(
                        "--config.file={}",
                        dir.path().join("blackbox.yml").display()
                    ))
                    .arg(format!("--web.listen-address=127.0.0.1:{port}")),
            );
            let deadline = Instant::now() + Duration::from_secs(30);
            while http_get(format!("127.0.0.1:{port}").parse().unwrap(), "/metrics").is_none() {
                assert!(Instant::now() < deadline, "blackbox_exporter did not start");
                std::thread::sleep(Duration::from_millis(100));
            }
            blackbox_process = Some((port, process));
            blackbox_dir = Some(dir);
            systems.push(SystemSpec::Peers {
                label: "Prometheus + AM (usual)".into(),
                tuned: false,
            });
            systems.push(SystemSpec::Peers {
                label: "Prometheus + AM (tuned)".into(),
                tuned: true,
            });
        } else {
            eprintln!(
                "skipping Prometheus + Alertmanager: {} missing (apt-get install prometheus \
                 prometheus-alertmanager prometheus-blackbox-exporter)",
                missing.join(", ")
            );
        }
    }
    assert!(!systems.is_empty(), "no system to run");
    let chosen: Vec<Incident> = chosen
        .into_iter()
        .filter(|i| {
            let ok = !matches!(i.kind, Kind::Cascade(_)) || Postgres::available().is_some();
            if !ok {
                eprintln!("skipping {}: initdb (PostgreSQL) not found", i.name);
            }
            ok
        })
        .collect();

    let blackbox_port = blackbox_process.as_ref().map(|(port, _)| *port);
    let load_before = load_average();
    let started = Instant::now();
    let results = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = chosen
        .into_iter()
        .map(|incident| {
            let systems = systems.clone();
            let results = results.clone();
            std::thread::spawn(move || {
                let outcomes = run_incident(incident, systems, blackbox_port);
                results.lock().unwrap().extend(outcomes);
            })
        })
        .collect();
    let mut failed = 0;
    for thread in threads {
        if thread.join().is_err() {
            failed += 1;
        }
    }
    if let Some((_, (_, mut child))) = blackbox_process {
        let _ = child.kill();
        let _ = child.wait();
    }
    drop(blackbox_dir);
    let results = std::mem::take(&mut *results.lock().unwrap());
    report(&results, &systems, &load_before, started.elapsed());
    assert_eq!(failed, 0, "{failed} incident(s) failed (see above)");
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn report(results: &[Outcome], systems: &[SystemSpec], load_before: &str, took: Duration) {
    let labels: Vec<&str> = systems.iter().map(SystemSpec::label).collect();
    println!("# Incident replay: Lookout vs Prometheus + Alertmanager");
    println!();
    for spec in systems {
        if let SystemSpec::Lookout { label, bin, extra } = spec {
            println!(
                "- {label}: {} ({}){}",
                bin.display(),
                version(&bin.to_string_lossy()),
                if extra.is_empty() {
                    String::new()
                } else {
                    format!(", extra config: `{}`", extra.replace('\n', " "))
                }
            );
        }
    }
    if labels.iter().any(|l| l.starts_with("Prometheus")) {
        for bin in [prometheus::PROMETHEUS, ALERTMANAGER, BLACKBOX] {
            println!("- {}", version(bin));
        }
    }
    println!(
        "- load average {load_before} before, {} after; {:.0} s in all",
        load_average(),
        took.as_secs_f64()
    );
    println!();
    println!(
        "Each cell: mails sent · first mail after the incident started · resolution mail after \
         the recovery (bold count: the ideal count, every told incident resolved{}).",
        if results.iter().any(|o| o.cascade) {
            ", the cascade's first mail naming db"
        } else {
            ""
        }
    );
    println!();
    print!("| incident | ideal |");
    for label in &labels {
        print!(" {label} |");
    }
    println!();
    print!("|---|---|");
    for _ in &labels {
        print!("---|");
    }
    println!();
    let mut incidents: Vec<(&str, &str, &str)> = Vec::new();
    for o in results {
        if !incidents.iter().any(|(n, _, _)| *n == o.incident) {
            incidents.push((o.incident, o.title, o.ideal_text));
        }
    }
    let order: Vec<&str> = self::incidents().iter().map(|i| i.name).collect();
    incidents.sort_by_key(|(n, _, _)| order.iter().position(|o| o == n));
    for (name, title, ideal) in &incidents {
        print!("| {title} | {ideal} |");
        for label in &labels {
            let cell = results
                .iter()
                .find(|o| o.incident == *name && o.system == *label)
                .map_or("—".into(), Outcome::cell);
            print!(" {cell} |");
        }
        println!();
    }
    // Summary rows.
    let of =
        |label: &str| -> Vec<&Outcome> { results.iter().filter(|o| o.system == label).collect() };
    print!("| **at the ideal** | |");
    for label in &labels {
        let all = of(label);
        print!(
            " {} of {} |",
            all.iter().filter(|o| o.at_ideal()).count(),
            all.len()
        );
    }
    println!();
    print!("| **mails in all** | |");
    for label in &labels {
        print!(" {} |", of(label).iter().map(|o| o.count()).sum::<usize>());
    }
    println!();
    print!("| **real incidents told** | |");
    for label in &labels {
        let all = of(label);
        let real: Vec<&&Outcome> = all.iter().filter(|o| o.ideal.1).collect();
        print!(
            " {} of {} |",
            real.iter().filter(|o| o.told()).count(),
            real.len()
        );
    }
    println!();
    print!("| **first mail, median (real incidents told)** | |");
    for label in &labels {
        let mut firsts: Vec<f64> = of(label)
            .iter()
            .filter(|o| o.ideal.1)
            .filter_map(|o| o.first())
            .collect();
        firsts.sort_by(f64::total_cmp);
        let median = firsts
            .get(firsts.len().saturating_sub(1) / 2)
            .map_or("—".into(), |m| format!("{m:.1} s"));
        print!(" {median} |");
    }
    println!();
    print!("| **missing resolutions** | |");
    for label in &labels {
        print!(
            " {} |",
            of(label).iter().filter(|o| o.missing_resolution()).count()
        );
    }
    println!();
    println!();
    println!("## Every mail (seconds after the incident started; recovery at R)");
    for (name, title, _) in &incidents {
        println!();
        println!("### {title} (`{name}`)");
        for label in &labels {
            let Some(o) = results
                .iter()
                .find(|o| o.incident == *name && o.system == *label)
            else {
                continue;
            };
            println!();
            println!("{label} (R = {:.1} s): {} mail(s)", o.recovery, o.count());
            for (at, mail) in &o.mails {
                println!("- {at:.1} s: {}", mail.subject);
            }
        }
    }
}
