//! A real Prometheus (Debian package `prometheus`: /usr/bin/prometheus) for the tests that
//! need one: it scrapes one target every second and is killed on drop. Without the binary
//! the test fails, it does not pass silently. `common::prometheus`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, http_get};

pub const PROMETHEUS: &str = "/usr/bin/prometheus";

/// A real Prometheus scraping one target every second, killed on drop.
pub struct Prometheus {
    child: Child,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
            let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
            let child = Command::new(PROMETHEUS)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {PROMETHEUS}: {e}"));
            let mut prometheus = Prometheus { child, addr, dir };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if http_get(addr, "/-/ready").is_some_and(|(status, _)| status == 200) {
                    return Ok(prometheus);
                }
                if let Ok(Some(status)) = prometheus.child.try_wait() {
                    return Err(format!(
                        "prometheus exited at start with {status}:\n{}",
                        prometheus.log()
                    ));
                }
                assert!(
                    Instant::now() < deadline,
                    "prometheus not ready within 30 s:\n{}",
                    prometheus.log()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
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
