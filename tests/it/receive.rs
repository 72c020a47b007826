//! The hub's receivers (`[receive]`, issue 19) against the real `lookout serve`: Prometheus
//! remote write 1.0 at `/api/v1/write` and OTLP/HTTP metrics at `/v1/metrics`, for agent
//! tokens only. Real senders: Prometheus in agent mode scraping node_exporter, and the
//! OpenTelemetry Python SDK (`tests/support/otlp_sender.py`; `.ci/run` installs it). Every bad
//! input is refused with its status and a one-line reason, stores nothing, is counted in
//! `lookout_receive_*`, and leaves the daemon serving.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lookout::exporter::remote_write::proto::{self, Label, Sample, TimeSeries, WriteRequest};
use lookout::receive::otlp;
use prost::Message;

use crate::common::prometheus::Server;
use crate::common::{self, Daemon, lookout, text};

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn serve(config: &Path) -> Command {
    let mut command = lookout();
    command.args(["serve", "--config"]).arg(config);
    command
}

/// A hub with `[receive]` and `receive_extra` keys in it; /metrics rendered at each scrape,
/// so a counter read right after a request includes it.
fn hub(dir: &Path, receive_extra: &str) -> (Daemon, PathBuf) {
    let config = dir.join("lookout.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nmetrics_refresh = \"0s\"\n\n\
             [storage]\npath = \"{}\"\nflush_interval = \"1s\"\n\n[system]\ninterval = \"1s\"\n\n\
             [receive]\n{receive_extra}\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    (Daemon::spawn(serve(&config)), config)
}

/// `lookout token create --role ROLE --name NAME` against the hub's store.
pub(crate) fn token(config: &Path, role: &str, name: &str) -> String {
    let output = common::output(
        lookout()
            .args(["token", "create", "--config"])
            .arg(config)
            .args(["--role", role, "--name", name]),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let token = text(&output.stdout).trim().to_string();
    common::secret(&token);
    token
}

/// POST `body` with `headers` (and the bearer `token`, if any): (status, body).
fn post(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // A refused body may be answered before it is all sent: the rest is not read.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer to POST {path}: {response:?}"));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

const RW_HEADERS: [(&str, &str); 3] = [
    ("Content-Type", "application/x-protobuf"),
    ("Content-Encoding", "snappy"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

pub(crate) fn series(name: &str, labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    let mut all = vec![Label {
        name: "__name__".into(),
        value: name.into(),
    }];
    all.extend(labels.iter().map(|(k, v)| Label {
        name: k.to_string(),
        value: v.to_string(),
    }));
    TimeSeries {
        labels: all,
        samples: samples
            .iter()
            .map(|&(timestamp, value)| Sample { value, timestamp })
            .collect(),
    }
}

pub(crate) fn write(addr: SocketAddr, token: &str, timeseries: Vec<TimeSeries>) -> (u16, String) {
    let body = proto::encode(&WriteRequest { timeseries });
    post(addr, "/api/v1/write", Some(token), &RW_HEADERS, &body)
}

/// The value of the /metrics line that starts with `series` (0 when absent).
fn metric(hub: &Daemon, series: &str) -> f64 {
    let (_, page) = hub.get("/metrics");
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.parse().unwrap())
}

fn requests(hub: &Daemon, protocol: &str, outcome: &str) -> f64 {
    metric(
        hub,
        &format!("lookout_receive_requests_total{{protocol=\"{protocol}\",outcome=\"{outcome}\"}}"),
    )
}

/// The stored series named `name` in the last day (the store flushes every second here, but
/// queries also read its buffer).
fn stored(hub: &Daemon, name: &str) -> Vec<serde_json::Value> {
    let to = now_ms() / 1000 + 3600;
    let answer = hub.json(&format!("/api/v1/series?name={name}&from=-1d&to={to}"));
    answer["series"].as_array().cloned().unwrap_or_default()
}

/// A refusal: its status, a one-line JSON reason containing `words`.
fn assert_refused(answer: (u16, String), status: u16, words: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    let reason: serde_json::Value = serde_json::from_str(&answer.1).unwrap();
    let reason = reason["error"].as_str().unwrap_or_default();
    assert!(
        reason.contains(words) && !reason.contains('\n'),
        "expected a one-line reason with {words:?}, got {reason:?}"
    );
}

#[test]
fn only_agent_tokens_write_and_an_agent_reads_nothing() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let (hub, config) = hub(dir.path(), "");
    let agent = token(&config, "agent", "web-1");
    let viewer = token(&config, "viewer", "grafana");
    let admin = token(&config, "admin", "ops");
    let body = proto::encode(&WriteRequest {
        timeseries: vec![series("auth_probe", &[], &[(now_ms(), 1.0)])],
    });
    let addr = hub.addr;
    assert_refused(
        post(addr, "/api/v1/write", None, &RW_HEADERS, &body),
        401,
        "authentication required",
    );
    for other in [&viewer, &admin] {
        assert_refused(
            post(addr, "/api/v1/write", Some(other), &RW_HEADERS, &body),
            403,
            "agent tokens only",
        );
    }
    assert_refused(
        post(
            addr,
            "/v1/metrics",
            Some(&viewer),
            &[("Content-Type", "application/x-protobuf")],
            b"",
        ),
        403,
        "agent tokens only",
    );
    assert_eq!(stored(&hub, "auth_probe").len(), 0, "nothing stored");
    assert_eq!(requests(&hub, "remote_write", "unauthenticated"), 1.0);
    assert_eq!(requests(&hub, "remote_write", "forbidden"), 2.0);
    assert_eq!(requests(&hub, "otlp", "forbidden"), 1.0);
    // An agent token reads nothing and changes nothing else.
    for path in ["/api/v1/status", "/api/v1/series?name=auth_probe", "/"] {
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {agent}\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.0 403"), "GET {path}: {answer}");
        assert!(answer.contains("an agent token may only POST to /api/v1/write and /v1/metrics"));
    }
    assert_refused(
        post(
            addr,
            "/api/v1/silences",
            Some(&agent),
            &[("Content-Type", "application/json")],
            b"{}",
        ),
        403,
        "an agent token may only POST",
    );
    // And writes.
    assert_eq!(
        write(
            addr,
            &agent,
            vec![series("auth_probe", &[], &[(now_ms(), 1.0)])]
        )
        .0,
        204
    );
    assert_eq!(stored(&hub, "auth_probe").len(), 1);
    // A user cannot be an agent; an agent token needs a name.
    let output = common::output(
        lookout()
            .args(["token", "create", "--config"])
            .arg(&config)
            .args(["--role", "agent"]),
    );
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("an agent token needs --name"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn remote_write_stores_samples_with_their_host_late_ones_included() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let (hub, config) = hub(dir.path(), "");
    let agent = token(&config, "agent", "web-1");
    let now = now_ms();
    let answer = write(
        hub.addr,
        &agent,
        vec![
            series(
                "node_load1",
                &[("instance", "app-1:9100"), ("job", "node")],
                &[(now - 20_000, 0.5), (now - 10_000, 0.75)],
            ),
            series(
                "node_load5",
                &[("host", "db-1"), ("instance", "db:9100")],
                &[(now - 10_000, 1.5)],
            ),
            series("app_up", &[], &[(now - 10_000, 1.0)]),
        ],
    );
    assert_eq!(answer, (204, String::new()));
    let load1 = stored(&hub, "node_load1");
    assert_eq!(
        load1[0]["labels"]["host"], "app-1:9100",
        "host from instance"
    );
    assert_eq!(
        stored(&hub, "node_load5")[0]["labels"]["host"],
        "db-1",
        "host label kept"
    );
    assert_eq!(
        stored(&hub, "app_up")[0]["labels"]["host"],
        "web-1",
        "host from the token"
    );
    // A backlog older than what the series has: stored, in time order.
    assert_eq!(
        write(
            hub.addr,
            &agent,
            vec![series(
                "node_load1",
                &[("instance", "app-1:9100"), ("job", "node")],
                &[(now - 40_000, 0.25), (now - 30_000, 0.3)]
            )]
        )
        .0,
        204
    );
    let points: Vec<(i64, f64)> = stored(&hub, "node_load1")[0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["at"].as_i64().unwrap(), p["avg"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        points,
        [
            (now - 40_000, 0.25),
            (now - 30_000, 0.3),
            (now - 20_000, 0.5),
            (now - 10_000, 0.75)
        ]
    );
    // The latest value stays the newest one.
    let (_, page) = hub.get("/metrics");
    assert!(
        page.contains(
            "lookout_node_load1{host=\"app-1:9100\",instance=\"app-1:9100\",job=\"node\"} 0.75"
        ),
        "{page}"
    );
    assert_eq!(requests(&hub, "remote_write", "stored"), 2.0);
    assert_eq!(
        metric(
            &hub,
            "lookout_receive_samples_total{protocol=\"remote_write\",outcome=\"stored\"}"
        ),
        6.0
    );
    assert_eq!(
        metric(&hub, "lookout_receive_series{sender=\"web-1\"}"),
        3.0
    );
}

/// Every bad input: its status and one-line reason, nothing stored, its counter, and the
/// daemon still serving.
#[test]
fn bad_input_is_refused_counted_and_costs_nothing() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let (hub, config) = hub(
        dir.path(),
        "max_request_bytes = \"256KiB\"\nmax_decompressed_bytes = \"1MiB\"\n\
         max_series_per_sender = 5\nmax_series_total = 8\nmax_future_skew = \"1m\"\n",
    );
    let agent = token(&config, "agent", "web-1");
    let other = token(&config, "agent", "web-2");
    let addr = hub.addr;
    let now = now_ms();
    let many = |prefix: &str, n: usize| -> Vec<TimeSeries> {
        (0..n)
            .map(|i| {
                series(
                    "bad_probe",
                    &[("n", &format!("{prefix}{i}"))],
                    &[(now, 1.0)],
                )
            })
            .collect()
    };
    let snappy = |raw: &[u8]| snap::raw::Encoder::new().compress_vec(raw).unwrap();
    let rw = |headers: &[(&str, &str)], body: &[u8]| {
        post(addr, "/api/v1/write", Some(&agent), headers, body)
    };
    let otlp_post = |headers: &[(&str, &str)], body: &[u8]| {
        post(addr, "/v1/metrics", Some(&agent), headers, body)
    };

    // Malformed protobuf, and a body that is not snappy.
    assert_refused(
        rw(&RW_HEADERS, &snappy(b"\x0a\xff\xff\xff\x0f")),
        400,
        "not a protobuf prometheus.WriteRequest",
    );
    assert_refused(
        rw(&RW_HEADERS, b"\xff\x06\x00\x00sNaPpY"),
        400,
        "not snappy",
    );
    // Well-formed protobuf whose label value is not UTF-8 (the receiver reads labels as
    // slices of the body, so it checks them itself).
    let mut body = prost::Message::encode_to_vec(&WriteRequest {
        timeseries: vec![series("utf8_probe", &[("job", "Z~Z")], &[(now, 1.0)])],
    });
    let at = body.windows(3).position(|w| w == b"Z~Z").unwrap();
    body[at..at + 3].copy_from_slice(b"\xff\xfe\xfd");
    assert_refused(rw(&RW_HEADERS, &snappy(&body)), 400, "is not UTF-8");
    assert_eq!(requests(&hub, "remote_write", "malformed"), 3.0);
    // A snappy bomb within the request limit: refused from the length in its header, before
    // decompressing; a header claiming 1 GiB over a few bytes too (decompressing would have
    // found it malformed).
    let bomb = snappy(&vec![0u8; 4 << 20]);
    assert!(bomb.len() < 256 << 10, "{}", bomb.len());
    assert_refused(
        rw(&RW_HEADERS, &bomb),
        413,
        "receive.max_decompressed_bytes is 1MiB",
    );
    let liar = [0x80, 0x80, 0x80, 0x80, 0x04, 0x00, 0x00];
    assert_refused(
        rw(&RW_HEADERS, &liar),
        413,
        "decompresses to 1073741824 bytes",
    );
    // An oversized body, refused from its Content-Length.
    assert_refused(
        rw(&RW_HEADERS, &vec![1u8; 300 << 10]),
        413,
        "receive.max_request_bytes is 256KiB",
    );
    assert_eq!(requests(&hub, "remote_write", "too_large"), 3.0);
    // Unknown content types and encodings.
    let body = proto::encode(&WriteRequest {
        timeseries: many("a", 1),
    });
    assert_refused(
        rw(
            &[
                ("Content-Type", "application/json"),
                ("Content-Encoding", "snappy"),
            ],
            &body,
        ),
        415,
        "send application/x-protobuf",
    );
    assert_refused(
        rw(
            &[
                ("Content-Type", "application/x-protobuf"),
                ("Content-Encoding", "gzip"),
            ],
            &body,
        ),
        415,
        "remote write 1.0 is snappy",
    );
    assert_refused(
        rw(
            &[
                (
                    "Content-Type",
                    "application/x-protobuf;proto=io.prometheus.write.v2.Request",
                ),
                ("Content-Encoding", "snappy"),
            ],
            &body,
        ),
        415,
        "remote write 1.0",
    );
    assert_eq!(
        requests(&hub, "remote_write", "unsupported_media_type"),
        3.0
    );
    // A sender over its series limit, then the total over its limit: nothing of them stored.
    assert_refused(
        write(addr, &agent, many("a", 6)),
        400,
        "receive.max_series_per_sender is 5",
    );
    assert_eq!(write(addr, &agent, many("a", 5)).0, 204);
    assert_refused(
        write(addr, &other, many("b", 4)),
        400,
        "receive.max_series_total is 8",
    );
    assert_eq!(requests(&hub, "remote_write", "series_limit"), 2.0);
    assert_eq!(
        stored(&hub, "bad_probe").len(),
        5,
        "only the accepted request"
    );
    // A sample far in the future.
    assert_refused(
        write(
            addr,
            &agent,
            vec![series(
                "future_probe",
                &[],
                &[(now, 1.0), (now + 3_600_000, 2.0)],
            )],
        ),
        400,
        "receive.max_future_skew is 1m",
    );
    assert_eq!(requests(&hub, "remote_write", "future"), 1.0);
    // NaN and infinities are not stored (counted), the request is.
    assert_eq!(
        write(
            addr,
            &other,
            vec![series(
                "nan_probe",
                &[],
                &[(now, f64::NAN), (now + 1, f64::INFINITY)]
            )]
        )
        .0,
        204
    );
    assert_eq!(
        metric(
            &hub,
            "lookout_receive_samples_total{protocol=\"remote_write\",outcome=\"not_finite\"}"
        ),
        2.0
    );
    // OTLP: JSON, an unknown encoding, garbage, a gzip bomb.
    let pb = ("Content-Type", "application/x-protobuf");
    assert_refused(
        otlp_post(&[("Content-Type", "application/json")], b"{}"),
        415,
        "OTLP/JSON is not supported",
    );
    assert_refused(
        otlp_post(&[pb, ("Content-Encoding", "br")], b"x"),
        415,
        "send gzip or none",
    );
    assert_refused(
        otlp_post(&[pb], b"\x0a\xff\xff\xff\x0f"),
        400,
        "not a protobuf OTLP",
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![0u8; 32 << 20]).unwrap();
    let gzip_bomb = gz.finish().unwrap();
    assert!(gzip_bomb.len() < 256 << 10, "{}", gzip_bomb.len());
    assert_refused(
        otlp_post(&[pb, ("Content-Encoding", "gzip")], &gzip_bomb),
        413,
        "receive.max_decompressed_bytes is 1MiB",
    );
    assert_eq!(requests(&hub, "otlp", "unsupported_media_type"), 2.0);
    assert_eq!(requests(&hub, "otlp", "malformed"), 1.0);
    assert_eq!(requests(&hub, "otlp", "too_large"), 1.0);
    for name in ["future_probe", "nan_probe", "utf8_probe"] {
        assert!(
            stored(&hub, name)
                .iter()
                .all(|s| s["points"].as_array().unwrap().is_empty()),
            "{name} stored"
        );
    }
    // The daemon is unaffected: healthy, its own collection going on.
    assert_eq!(hub.get("/healthz").0, 200);
    assert!(!stored(&hub, "cpu_usage_ratio").is_empty());
}

/// Prometheus in agent mode scrapes node_exporter and remote-writes to the hub with the
/// agent token: the hub has that host's CPU and memory.
#[test]
fn prometheus_in_agent_mode_scraping_node_exporter_writes_to_the_hub() {
    let _machine = crate::common::machine::shared();
    assert!(
        Path::new(NODE_EXPORTER).exists(),
        "{NODE_EXPORTER} is needed (.ci/install-node-exporter)"
    );
    let dir = tempfile::tempdir().unwrap();
    let (hub, config) = hub(dir.path(), "");
    let agent = token(&config, "agent", "prom-agent");
    let node = common::with_free_port("node_exporter", |port| {
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut command = Command::new(NODE_EXPORTER);
        command.arg(format!("--web.listen-address={addr}"));
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut child = KillOnDrop(child);
        for _ in 0..100 {
            if common::http_get(addr, "/metrics").is_some_and(|(s, _)| s == 200) {
                return Ok((child, addr));
            }
            if let Ok(Some(status)) = child.0.try_wait() {
                return Err(format!("node_exporter exited with {status}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("node_exporter did not answer".into())
    });
    let node_addr = node.1;
    let _prometheus = common::with_free_port("prometheus agent", |port| {
        let pdir = tempfile::tempdir().unwrap();
        let yml = pdir.path().join("prometheus.yml");
        std::fs::write(
            &yml,
            format!(
                "global:\n  scrape_interval: 1s\n\
                 scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{node_addr}']\n        labels:\n          host: web-7\n\
                 remote_write:\n  - url: http://{}/api/v1/write\n    authorization:\n      credentials: {agent}\n    queue_config:\n      batch_send_deadline: 1s\n",
                hub.addr
            ),
        )
        .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut command = Command::new(common::prometheus::PROMETHEUS);
        command
            .arg("--enable-feature=agent")
            .arg(format!("--config.file={}", yml.display()))
            .arg(format!(
                "--storage.agent.path={}",
                pdir.path().join("wal").display()
            ))
            .arg(format!("--web.listen-address={addr}"));
        Server::start("prometheus-agent", command, addr, pdir, true)
    });
    let mut hub = hub;
    hub.wait_until(Duration::from_secs(60), |hub| {
        !stored(hub, "node_cpu_seconds_total").is_empty()
            && !stored(hub, "node_memory_MemAvailable_bytes").is_empty()
    });
    let cpu = stored(&hub, "node_cpu_seconds_total");
    assert!(
        cpu.iter().all(|s| s["labels"]["host"] == "web-7"),
        "{cpu:?}"
    );
    assert!(cpu.iter().any(|s| s["labels"]["mode"] == "idle"));
    let memory = stored(&hub, "node_memory_MemAvailable_bytes");
    assert_eq!(memory[0]["labels"]["instance"], node_addr.to_string());
    let value = memory[0]["points"][0]["avg"].as_f64().unwrap();
    assert!(value > 1e6, "MemAvailable {value}");
    assert!(requests(&hub, "remote_write", "stored") >= 1.0);
    assert_eq!(requests(&hub, "remote_write", "malformed"), 0.0);
    // The hub's hosts (issue 19): web-7, sent by Prometheus 2.42, with its CPU from the rate
    // of node_exporter's idle counters, its memory and its disk.
    let mut entry = serde_json::Value::Null;
    hub.wait_until(Duration::from_secs(30), |hub| {
        let hosts = hub.json("/api/v1/hosts");
        entry = hosts["hosts"]
            .as_array()
            .and_then(|a| a.iter().find(|h| h["host"] == "web-7").cloned())
            .unwrap_or_default();
        entry["cpu"].is_number()
    });
    assert_eq!(entry["kind"], "prometheus", "{entry}");
    assert!(
        entry["version"].as_str().unwrap().starts_with("2.42"),
        "{entry}"
    );
    for usage in ["cpu", "memory", "disk"] {
        let value = entry[usage].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&value), "{usage}: {entry}");
    }
    assert!(!entry["cpu_sparkline"].as_array().unwrap().is_empty());
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The OpenTelemetry Python SDK exports a gauge, a counter and a histogram over OTLP/HTTP
/// (protobuf, gzip): stored with the right values, in the Prometheus model.
#[test]
fn the_opentelemetry_python_sdk_exports_a_gauge_a_counter_and_a_histogram() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let (hub, config) = hub(dir.path(), "");
    let agent = token(&config, "agent", "py-app");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/otlp_sender.py");
    let output = common::output(
        Command::new("python3")
            .arg(&script)
            .arg(format!("http://{}/v1/metrics", hub.addr))
            .arg(&agent)
            .arg("py-1"),
    );
    assert!(
        output.status.success(),
        "otlp_sender.py (pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http): {}",
        text(&output.stderr)
    );
    let last = |name: &str, label: (&str, &str)| -> f64 {
        let series = stored(&hub, name);
        let one = series
            .iter()
            .find(|s| s["labels"][label.0] == label.1)
            .unwrap_or_else(|| panic!("no {name} with {label:?}: {series:?}"));
        assert_eq!(one["labels"]["host"], "py-1", "{one}");
        assert_eq!(one["labels"]["job"], "shop", "{one}");
        one["points"].as_array().unwrap().last().unwrap()["avg"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(last("queue_depth", ("queue", "mail")), 42.5);
    assert_eq!(last("jobs_total", ("kind", "email")), 7.0);
    assert_eq!(last("request_latency_bucket", ("le", "0")), 0.0);
    assert_eq!(last("request_latency_bucket", ("le", "5")), 2.0);
    assert_eq!(last("request_latency_bucket", ("le", "10")), 3.0);
    assert_eq!(last("request_latency_bucket", ("le", "+Inf")), 3.0);
    assert_eq!(last("request_latency_count", ("route", "/cart")), 3.0);
    assert!((last("request_latency_sum", ("route", "/cart")) - 10.3).abs() < 1e-9);
    // The SDK exports on its flush and again at its shutdown.
    assert!(requests(&hub, "otlp", "stored") >= 1.0);
    // The decoded messages are Lookout's own: a request built with them round-trips.
    let empty = otlp::ExportMetricsServiceRequest::default().encode_to_vec();
    assert_eq!(
        post(
            hub.addr,
            "/v1/metrics",
            Some(&agent),
            &[("Content-Type", "application/x-protobuf")],
            &empty
        )
        .0,
        200
    );
}
