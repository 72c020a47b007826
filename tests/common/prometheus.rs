//! A real Prometheus (Debian package `prometheus`: /usr/bin/prometheus) for the tests that
//! need one: it scrapes one target every second and is killed on drop. Without the binary
//! the test fails, it does not pass silently. `common::prometheus`. Also `Server`, how the
//! tests run any server of the Prometheus project (Prometheus, Alertmanager).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, http_get};

pub const PROMETHEUS: &str = "/usr/bin/prometheus";

/// How long a server may take to be ready.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// A server of the Prometheus project (Prometheus, Alertmanager) that a test runs: its
/// process, killed on drop, the address it listens on and its directory (config, data, log).
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    /// Where its stderr goes, if kept (in `dir`).
    log: Option<PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Spawns `command`, a server told to listen on `addr` and keep its files in `dir`, and
    /// waits until its `/-/ready` answers 200 (30 s at most, then panics); `Err` if it exits
    /// first (e.g. its port was taken, for `with_free_port`). `name` names it in messages;
    /// with `keep_log` its stderr goes to `dir/<name>.log` and into those messages.
    pub fn start(
        name: &str,
        mut command: Command,
        addr: SocketAddr,
        dir: tempfile::TempDir,
        keep_log: bool,
    ) -> Result<Server, String> {
        let log = keep_log.then(|| dir.path().join(format!("{name}.log")));
        let stderr = match &log {
            Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
            None => Stdio::null(),
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", command.get_program()));
        let mut server = Server {
            child,
            addr,
            dir,
            log,
        };
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if http_get(addr, "/-/ready").is_some_and(|(status, _)| status == 200) {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "{name} exited at start with {status}{}",
                    server.said()
                ));
            }
            assert!(
                Instant::now() < deadline,
                "{name} not ready within {READY_WITHIN:?}{}",
                server.said()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What it wrote to stderr (kept with `keep_log`).
    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default()
    }

    /// ":\n" and the log, when it is kept, for a message.
    fn said(&self) -> String {
        match self.log {
            Some(_) => format!(":\n{}", self.log()),
            None => String::new(),
        }
    }
}

/// A real Prometheus scraping one target every second, killed on drop.
pub struct Prometheus {
    server: Server,
    pub addr: SocketAddr,
}

impl Prometheus {
    pub fn start(target: SocketAddr) -> Prometheus {
        assert!(
            Path::new(PROMETHEUS).exists(),
            "{PROMETHEUS} is needed for this test (apt install prometheus)"
        );
        // A free port, another if that one was taken before Prometheus bound it.
        common::with_free_port("prometheus", |port| {
            let dir = tempfile::tempdir().unwrap();
            let config = dir.path().join("prometheus.yml");
            std::fs::write(
                &config,
                format!(
                    "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                     scrape_configs:\n  - job_name: lookout\n    static_configs:\n      \
                     - targets: ['{target}']\n"
                ),
            )
            .unwrap();
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let mut command = Command::new(PROMETHEUS);
            command
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"));
            let server = Server::start("prometheus", command, addr, dir, true)?;
            Ok(Prometheus { server, addr })
        })
    }

    pub fn log(&self) -> String {
        self.server.log()
    }

    /// GET `path` of the HTTP API: its `data`, or the error Prometheus gave (bad PromQL).
    pub fn api(&self, path: &str) -> Result<Value, String> {
        let (status, body) = http_get(self.addr, path)
            .unwrap_or_else(|| panic!("prometheus does not answer {path}"));
        let answer: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {path}: {status}: not JSON ({e}): {body}"));
        if answer["status"] == "success" {
            Ok(answer["data"].clone())
        } else {
            Err(format!(
                "HTTP {status}: {} {}",
                answer["errorType"], answer["error"]
            ))
        }
    }

    /// An instant query: (whether it has data, the result), or Prometheus' error.
    pub fn query(&self, expr: &str) -> Result<(bool, Value), String> {
        let data = self.api(&format!("/api/v1/query?query={}", encode(expr)))?;
        let result = data["result"].clone();
        let has_data = match data["resultType"].as_str() {
            Some("vector" | "matrix") => result.as_array().is_some_and(|r| !r.is_empty()),
            Some("scalar" | "string") => true,
            _ => false,
        };
        Ok((has_data, result))
    }
}

/// Percent-encoding for a query string value.
pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
