//! Remote write against the real Prometheus (Debian package `prometheus`, /usr/bin/prometheus,
//! started with `--web.enable-remote-write-receiver` on a free loopback port and an empty
//! scrape config): the system and check series arrive with Lookout's labels and values; with
//! the receiver down samples queue up in the store, survive a restart of Lookout and are
//! delivered once Prometheus is up. And against small in-test receivers: the headers of the
//! spec and the bearer / basic authentication are sent, the body is a valid snappy-compressed
//! WriteRequest, a 400 drops the batch and counts it as failed, and no secret shows in the logs
//! or on /metrics. Prometheus must be installed: without it these tests fail, they do not pass
//! silently.

use crate::common::{self, alerting};

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::prometheus::{Server, encode};
use crate::common::{Daemon, http_get};
use alerting::{FlipServer, http_check, poll};
use lookout::exporter::remote_write::proto;
use serde_json::Value;

const BINARY: &str = "/usr/bin/prometheus";
const LIMIT: Duration = Duration::from_secs(30);

/// A real Prometheus receiving remote writes, killed on drop.
struct Prometheus {
    _server: Server,
    addr: SocketAddr,
}

impl Prometheus {
    /// Started on `port` (the Lookout config names it); waits until it is ready.
    fn start(port: u16) -> Prometheus {
        Prometheus::try_start(port).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Started on a free port, another if that one was taken before Prometheus bound it.
    fn start_anywhere() -> Prometheus {
        common::with_free_port("prometheus", Prometheus::try_start)
    }

    /// `start`, or why it exited at start (e.g. its port was taken).
    fn try_start(port: u16) -> Result<Prometheus, String> {
        assert!(
            Path::new(BINARY).exists(),
            "{BINARY} is needed for these tests (apt install prometheus)"
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            "global:\n  scrape_interval: 1m\nscrape_configs: []\n",
        )
        .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut command = Command::new(BINARY);
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--web.enable-remote-write-receiver");
        let server = Server::start("prometheus", command, addr, dir, false)?;
        Ok(Prometheus {
            _server: server,
            addr,
        })
    }

    /// `GET /api/v1/query`: the result list (instant vector or range vector), evaluated at
    /// `at` (Unix seconds) or now.
    fn query(&self, promql: &str, at: Option<f64>) -> Vec<Value> {
        let mut path = format!("/api/v1/query?query={}", encode(promql));
        if let Some(at) = at {
            path.push_str(&format!("&time={at:.3}"));
        }
        let (status, body) = http_get(self.addr, &path).expect("prometheus answers");
        assert_eq!(status, 200, "{promql}: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        answer["data"]["result"].as_array().unwrap().clone()
    }
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The value of the series `name{labels}` on Lookout's /metrics (exact label set match).
fn scraped(daemon: &Daemon, series: &str) -> Option<f64> {
    let (status, body) = daemon.get("/metrics");
    assert_eq!(status, 200, "{body}");
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn labels(sample: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(sample["metric"].clone()).unwrap()
}

fn value(sample: &Value) -> f64 {
    sample["value"][1].as_str().unwrap().parse().unwrap()
}

fn remote_write(name: &str, url: &str, extra: &str) -> String {
    format!(
        "\n[[remote_write]]\nname = \"{name}\"\nurl = \"{url}\"\nflush_interval = \"1s\"\n\
         max_backoff = \"1s\"\nlabels = {{ instance = \"web-test\" }}\n{extra}\n"
    )
}

#[test]
fn prometheus_receives_the_system_and_check_series_with_lookouts_labels_and_values() {
    let _machine = crate::common::machine::shared();
    let prometheus = Prometheus::start_anywhere();
    let app = FlipServer::start(200);
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{}{}",
        remote_write(
            "prom",
            &format!("http://{}/api/v1/write", prometheus.addr),
            ""
        ),
        http_check("app", &app.url(), "")
    );
    let config = common::write_config(dir.path(), 0, &extra);
    let daemon = Daemon::start(&config);

    let cpu = poll(LIMIT, "lookout_cpu_usage_ratio in prometheus", || {
        prometheus
            .query("lookout_cpu_usage_ratio", None)
            .into_iter()
            .next()
    });
    assert_eq!(
        labels(&cpu),
        BTreeMap::from(
            [
                ("__name__", "lookout_cpu_usage_ratio"),
                ("instance", "web-test")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        )
    );
    let ratio = value(&cpu);
    assert!((0.0..=1.0).contains(&ratio), "{cpu}");
    // Close to what /metrics shows (the next tick may have moved it a little).
    let shown = scraped(&daemon, "lookout_cpu_usage_ratio").expect("cpu on /metrics");
    assert!(
        (ratio - shown).abs() < 0.5,
        "prometheus {ratio}, /metrics {shown}"
    );
    // Values that do not move are equal.
    for name in ["lookout_cpus", "lookout_memory_total_bytes"] {
        let received = poll(LIMIT, name, || {
            prometheus.query(name, None).into_iter().next()
        });
        assert_eq!(
            Some(value(&received)),
            scraped(&daemon, name),
            "{name}: {received}"
        );
    }

    let up = poll(LIMIT, "lookout_check_up of app in prometheus", || {
        prometheus
            .query("lookout_check_up{check=\"app\"}", None)
            .into_iter()
            .next()
    });
    assert_eq!(
        labels(&up),
        BTreeMap::from(
            [
                ("__name__", "lookout_check_up"),
                ("check", "app"),
                ("type", "http"),
                ("instance", "web-test")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        )
    );
    assert_eq!(value(&up), 1.0);
    assert_eq!(
        scraped(&daemon, "lookout_check_up{check=\"app\",type=\"http\"}"),
        Some(1.0)
    );
    let ok = poll(LIMIT, "lookout_check_status of app", || {
        prometheus
            .query(
                "lookout_check_status{check=\"app\",status=\"ok\",layer=\"application\"}",
                None,
            )
            .into_iter()
            .next()
    });
    assert_eq!(value(&ok), 1.0);

    // The families /metrics computes at render time arrive too (a Prometheus fed only by
    // remote write has the alert and maintenance panels' data).
    let build = poll(LIMIT, "lookout_build_info in prometheus", || {
        prometheus
            .query("lookout_build_info", None)
            .into_iter()
            .next()
    });
    assert_eq!(labels(&build)["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(labels(&build)["instance"], "web-test");
    let firing = poll(LIMIT, "lookout_alerts in prometheus", || {
        prometheus
            .query(
                "lookout_alerts{state=\"firing\",severity=\"critical\"}",
                None,
            )
            .into_iter()
            .next()
    });
    assert_eq!(value(&firing), 0.0, "nothing fires: {firing}");
    poll(LIMIT, "lookout_maintenance_active in prometheus", || {
        prometheus
            .query("lookout_maintenance_active", None)
            .into_iter()
            .next()
    });

    // Its own metrics.
    let endpoint = "{endpoint=\"prom\"}";
    let sent = scraped(
        &daemon,
        &format!("lookout_remote_write_samples_sent_total{endpoint}"),
    )
    .unwrap();
    assert!(sent > 0.0, "sent {sent}");
    assert_eq!(
        scraped(
            &daemon,
            &format!("lookout_remote_write_samples_failed_total{endpoint}")
        ),
        Some(0.0)
    );
    let last = scraped(
        &daemon,
        &format!("lookout_remote_write_last_success_timestamp_seconds{endpoint}"),
    )
    .unwrap();
    assert!((now_s() - last).abs() < 30.0, "last success {last}");

    let (code, log) = daemon.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn with_the_receiver_down_samples_queue_up_survive_a_restart_and_are_delivered_later() {
    let _machine = crate::common::machine::shared();
    let prometheus_port = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(
        dir.path(),
        0,
        &remote_write(
            "prom",
            &format!("http://127.0.0.1:{prometheus_port}/api/v1/write"),
            "",
        ),
    );
    let queued = "lookout_remote_write_samples_queued{endpoint=\"prom\"}";
    let retried = "lookout_remote_write_samples_retried_total{endpoint=\"prom\"}";

    let mut daemon = Daemon::start(&config);
    daemon.wait_until(LIMIT, |d| {
        scraped(d, queued).is_some_and(|n| n > 0.0) && scraped(d, retried).is_some_and(|n| n > 0.0)
    });
    // A moment from the outage: every sample up to it was taken while nothing listened.
    let down_at = now_s();
    std::thread::sleep(Duration::from_secs(2));
    let (code, log) = daemon.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("remote write failed; the batch stays queued and is retried"),
        "{log}"
    );

    // Restarted on the same data dir: the queue is still there.
    let mut daemon = Daemon::start(&config);
    daemon.wait_until(LIMIT, |d| scraped(d, queued).is_some_and(|n| n > 0.0));
    let before = scraped(&daemon, queued).unwrap_or(0.0);

    let prometheus = Prometheus::start(prometheus_port);
    let from_outage = poll(LIMIT, "samples of the outage in prometheus", || {
        let found = prometheus.query("lookout_cpus[15s]", Some(down_at));
        (!found.is_empty()).then_some(found)
    });
    let times: Vec<f64> = from_outage[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|point| point[0].as_f64().unwrap())
        .collect();
    assert!(
        !times.is_empty() && times.iter().all(|t| *t <= down_at),
        "{times:?}"
    );
    // Everything drains: the gauge falls back to (nearly) nothing queued.
    daemon.wait_until(LIMIT, |d| {
        scraped(
            d,
            "lookout_remote_write_samples_sent_total{endpoint=\"prom\"}",
        )
        .is_some_and(|sent| sent >= before)
            && scraped(d, queued).is_some_and(|n| n < before)
    });
    let (code, log) = daemon.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("remote write delivers again"), "{log}");
}

/// What an in-test receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// A tiny HTTP/1.1 server that records each request and answers `status` with `answer`.
struct Recorder {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Received>>>,
}

impl Recorder {
    fn start(status: u16, answer: &str) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let sink = requests.clone();
        let answer = answer.to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (sink, answer) = (sink.clone(), answer.clone());
                std::thread::spawn(move || record(stream, status, &answer, &sink));
            }
        });
        Recorder { addr, requests }
    }

    fn url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }
}

fn record(mut stream: TcpStream, status: u16, answer: &str, sink: &Mutex<Vec<Received>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Some(head) = common::read_request_head(&mut stream) else {
        return;
    };
    let headers: BTreeMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    if stream.read_exact(&mut body).is_err() {
        return;
    }
    sink.lock().unwrap().push(Received { headers, body });
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
}

#[test]
fn auth_headers_and_a_valid_body_are_sent_a_400_drops_the_batch_and_no_secret_shows() {
    let _machine = crate::common::machine::shared();
    let accepting = Recorder::start(204, "");
    // A receiver that refuses and echoes what a careless one might: the credential itself.
    let basic = base64_of("lookout:pa55-w0rd-basic");
    let refusing = Recorder::start(
        400,
        &format!("bad request from Basic {basic} pa55-w0rd-basic"),
    );
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "\n[[remote_write]]\nurl = \"{}\"\nflush_interval = \"1s\"\nbearer_token = \"${{RW_TOKEN}}\"\n\
         headers = {{ X-Scope-OrgID = \"${{RW_TENANT}}\" }}\n\
         \n[[remote_write]]\nname = \"refusing\"\nurl = \"{}\"\nflush_interval = \"1s\"\n\
         basic_auth_user = \"lookout\"\nbasic_auth_password = \"${{RW_PASSWORD}}\"\n",
        accepting.url(),
        refusing.url()
    );
    let config = common::write_config(dir.path(), 0, &extra);
    let mut command = common::lookout();
    command
        .args(["serve", "--config"])
        .arg(&config)
        .env("RW_TOKEN", "t0ken-s3cret-bearer")
        .env("RW_TENANT", "tenant-s3cret")
        .env("RW_PASSWORD", "pa55-w0rd-basic");
    let mut daemon = Daemon::spawn(command);

    let first = poll(LIMIT, "a request to the accepting receiver", || {
        accepting.received().into_iter().next()
    });
    let h = &first.headers;
    assert_eq!(h["authorization"], "Bearer t0ken-s3cret-bearer", "{h:?}");
    assert_eq!(h["x-scope-orgid"], "tenant-s3cret");
    assert_eq!(h["content-encoding"], "snappy");
    assert_eq!(h["content-type"], "application/x-protobuf");
    assert_eq!(h["x-prometheus-remote-write-version"], "0.1.0");
    assert!(h["user-agent"].starts_with("lookout/"), "{h:?}");
    let request = proto::decode(&first.body).expect("a snappy-compressed WriteRequest");
    assert!(!request.timeseries.is_empty());
    for series in &request.timeseries {
        let names: Vec<&str> = series.labels.iter().map(|l| l.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "labels sorted by name");
        assert_eq!(names[0], "__name__");
        assert!(series.labels[0].value.starts_with("lookout_"), "{series:?}");
        assert!(!series.samples.is_empty());
        assert!(
            series
                .samples
                .windows(2)
                .all(|w| w[0].timestamp <= w[1].timestamp)
        );
    }
    let cpu = request
        .timeseries
        .iter()
        .find(|s| s.labels[0].value == "lookout_cpu_usage_ratio")
        .expect("cpu in the first batch");
    let sample = &cpu.samples[0];
    assert!((0.0..=1.0).contains(&sample.value));
    let now_ms = (now_s() * 1000.0) as i64;
    assert!((now_ms - sample.timestamp).abs() < 60_000, "{sample:?}");

    let refused = poll(LIMIT, "a request to the refusing receiver", || {
        refusing.received().into_iter().next()
    });
    assert_eq!(refused.headers["authorization"], format!("Basic {basic}"));
    // Unnamed: the endpoint is its URL.
    let accepting_label = format!("{{endpoint=\"{}\"}}", accepting.url());
    daemon.wait_until(LIMIT, |d| {
        scraped(
            d,
            "lookout_remote_write_samples_failed_total{endpoint=\"refusing\"}",
        )
        .is_some_and(|n| n > 0.0)
            && scraped(
                d,
                &format!("lookout_remote_write_samples_sent_total{accepting_label}"),
            )
            .is_some_and(|n| n > 0.0)
    });
    // Refused batches are not retried: one request per batch, and nothing stays queued.
    assert_eq!(
        scraped(
            &daemon,
            "lookout_remote_write_samples_retried_total{endpoint=\"refusing\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        scraped(
            &daemon,
            "lookout_remote_write_samples_sent_total{endpoint=\"refusing\"}"
        ),
        Some(0.0)
    );
    let (_, metrics) = daemon.get("/metrics");
    let (code, log) = daemon.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("remote write endpoint refused a batch") && log.contains("HTTP 400"),
        "{log}"
    );
    for secret in [
        "t0ken-s3cret-bearer",
        "tenant-s3cret",
        "pa55-w0rd-basic",
        basic.as_str(),
    ] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
        assert!(!metrics.contains(secret), "{secret} on /metrics");
    }
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn a_reload_adds_and_removes_endpoints_without_a_restart() {
    let _machine = crate::common::machine::shared();
    let first = Recorder::start(204, "");
    let second = Recorder::start(204, "");
    let dir = tempfile::tempdir().unwrap();
    let endpoint = |name: &str, recorder: &Recorder| {
        format!(
            "\n[[remote_write]]\nname = \"{name}\"\nurl = \"{}\"\nflush_interval = \"1s\"\n",
            recorder.url()
        )
    };
    let config = common::write_config(dir.path(), 0, &endpoint("first", &first));
    let mut daemon = Daemon::start(&config);
    poll(LIMIT, "a request to the first receiver", || {
        (!first.received().is_empty()).then_some(())
    });

    // The second endpoint replaces the first: SIGHUP, no restart.
    common::write_config(dir.path(), 0, &endpoint("second", &second));
    daemon.signal(libc::SIGHUP);
    poll(LIMIT, "a request to the second receiver", || {
        (!second.received().is_empty()).then_some(())
    });
    daemon.wait_until(LIMIT, |d| {
        scraped(
            d,
            "lookout_remote_write_samples_sent_total{endpoint=\"second\"}",
        )
        .is_some_and(|n| n > 0.0)
    });
    // The first gets nothing more once the swap is done (two flush intervals later).
    std::thread::sleep(Duration::from_secs(2));
    let first_total = first.received().len();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        first.received().len(),
        first_total,
        "still sent to the removed endpoint"
    );
    let (_, metrics) = daemon.get("/metrics");
    assert!(
        !metrics.contains("endpoint=\"first\""),
        "the removed endpoint's counters are gone from /metrics"
    );
    // Every sample the second endpoint got is a valid request, and no series was sent twice
    // with the same timestamp (nothing queued twice across the swap).
    let mut seen = std::collections::BTreeSet::new();
    for request in second.received() {
        let request = proto::decode(&request.body).expect("a valid WriteRequest");
        for series in request.timeseries {
            let name: Vec<String> = series
                .labels
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect();
            for sample in series.samples {
                assert!(
                    seen.insert((name.clone(), sample.timestamp)),
                    "{name:?} at {} sent twice",
                    sample.timestamp
                );
            }
        }
    }
    let (code, log) = daemon.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("configuration reloaded"), "{log}");
    assert!(!log.contains("take effect at the next restart"), "{log}");
}

/// Timestamps of `lookout_memory_total_bytes` in every request `recorder` got.
fn memory_timestamps(recorder: &Recorder) -> Vec<i64> {
    let mut times = Vec::new();
    for request in recorder.received() {
        let request = proto::decode(&request.body).expect("a valid WriteRequest");
        for series in request.timeseries {
            if series.labels[0].value == "lookout_memory_total_bytes" {
                times.extend(series.samples.iter().map(|s| s.timestamp));
            }
        }
    }
    times.sort();
    times
}

#[test]
fn cron_collect_sends_what_it_collected_and_keeps_it_queued_while_the_endpoint_is_down() {
    let _machine = crate::common::machine::shared();
    let receiver = Recorder::start(204, "");
    let dir = tempfile::tempdir().unwrap();
    let config = |url: &str| {
        common::write_config(
            dir.path(),
            common::free_port(),
            &format!("\n[[remote_write]]\nname = \"prom\"\nurl = \"{url}\"\n"),
        )
    };
    let collect = |config: &Path| {
        common::run(
            &["--config", config.to_str().unwrap(), "collect"],
            dir.path(),
        )
    };

    // Down: nobody listens on that port. The collection succeeds; the samples stay queued.
    let down = format!("http://127.0.0.1:{}/api/v1/write", common::free_port());
    let out = collect(&config(&down));
    let (stdout, stderr) = (common::text(&out.stdout), common::text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("remote write prom: the endpoint is unavailable")
            && stderr.contains("stay queued for the next run"),
        "{stderr}"
    );
    assert!(receiver.received().is_empty());

    // Up (the same endpoint name, so the same queue): this run sends the last run's samples
    // too, oldest first.
    std::thread::sleep(Duration::from_millis(20));
    let out = collect(&config(&receiver.url()));
    let (stdout, stderr) = (common::text(&out.stdout), common::text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("remote write prom: sent "),
        "{stdout}{stderr}"
    );
    let times = memory_timestamps(&receiver);
    assert_eq!(times.len(), 2, "one sample per run: {times:?}");
    assert!(times[0] < times[1], "{times:?}");

    // Nothing left: a third run sends only its own sample.
    let out = collect(&config(&receiver.url()));
    assert!(out.status.success());
    assert_eq!(memory_timestamps(&receiver).len(), 3);
}
