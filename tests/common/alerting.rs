//! Peers for the end-to-end alerting tests: a real SMTP server (aiosmtpd,
//! `tests/support/smtp_server.py`), an HTTP target whose answer a test switches, an HTTP
//! client that can POST and DELETE, and an axum webhook receiver that verifies the signature.
//! `common::alerting`; uses `crate::common` (the benches include `tests/common/mod.rs` as
//! `common` too).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Polls `ready` every 100 ms until it returns `Some`, or panics with `what` after `limit`.
pub fn poll<T>(limit: Duration, what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the API of `daemon` lists an alert of `rule` firing (20 s at most).
pub fn until_firing(daemon: &crate::common::Daemon, rule: &str) {
    poll(Duration::from_secs(20), &format!("{rule} firing"), || {
        daemon.json("/api/v1/alerts")["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["rule"] == rule && a["state"] == "firing")
            .then_some(())
    });
}

/// aiosmtpd writing each accepted message to `out` as `<n>.json`.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub out: PathBuf,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    pub fn start(dir: &Path, extra: &[&str]) -> SmtpServer {
        // A free port, another if that one was taken before the server bound it.
        crate::common::with_free_port("the SMTP test server", |port| {
            SmtpServer::try_start_on(dir, port, extra)
        })
    }

    /// On a port chosen earlier (a config already names it).
    pub fn start_on(dir: &Path, port: u16, extra: &[&str]) -> SmtpServer {
        SmtpServer::try_start_on(dir, port, extra).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `start_on`, or why the server did not start (it exits when it cannot bind).
    fn try_start_on(dir: &Path, port: u16, extra: &[&str]) -> Result<SmtpServer, String> {
        let out = dir.join("mail");
        std::fs::create_dir_all(&out).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", &port.to_string(), "--out"])
            .arg(&out)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 is needed for the SMTP tests");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped");
        BufReader::new(stdout).read_line(&mut line).unwrap();
        if line.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the SMTP test server did not start on port {port} (is aiosmtpd installed? \
                 pip install aiosmtpd): {line:?}"
            ));
        }
        Ok(SmtpServer { child, port, out })
    }

    /// The messages received so far, in arrival order.
    pub fn received(&self) -> Vec<serde_json::Value> {
        mails_in(&self.out)
    }

    /// Waits until at least `count` messages arrived; panics after `limit`.
    pub fn wait_for(&self, count: usize, limit: Duration) -> Vec<serde_json::Value> {
        poll(
            limit,
            &format!("{count} mail(s) in {}", self.out.display()),
            || {
                let received = self.received();
                (received.len() >= count).then_some(received)
            },
        )
    }
}

pub fn mails_in(out: &Path) -> Vec<serde_json::Value> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut files: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.parse().ok()?, p)))
        .collect();
    // Numeric order: "10.json" comes after "9.json".
    files.sort();
    files
        .iter()
        .map(|(_, p)| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

pub fn subject(mail: &serde_json::Value) -> &str {
    mail["subject"].as_str().unwrap_or_default()
}

/// An HTTP target (a controllable app) answering every request with the status set last
/// (`set`), except two paths: `/metrics`, a Prometheus exposition of one gauge `app_load`
/// (`set_gauge`), and `/maintenance`, the app's maintenance status as JSON in the shape the
/// `[maintenance.source]` defaults read (`/data/is_active`, `/data/mode`, `/data/reason`;
/// `set_maintenance`). `hits` counts the other requests (the health checks' runs).
pub struct FlipServer {
    pub addr: SocketAddr,
    status: Arc<AtomicU16>,
    pub hits: Arc<AtomicUsize>,
    /// Milliseconds each answer waits before it is written.
    delay_ms: Arc<AtomicU16>,
    app: Arc<AppKnobs>,
}

/// The parts of `FlipServer` beside its status code.
#[derive(Default)]
struct AppKnobs {
    maintenance: AtomicBool,
    /// The gauge's f64, as bits.
    gauge: AtomicU64,
}

impl FlipServer {
    pub fn start(status: u16) -> FlipServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(AtomicU16::new(status));
        let hits = Arc::new(AtomicUsize::new(0));
        let delay_ms = Arc::new(AtomicU16::new(0));
        let app = Arc::new(AppKnobs::default());
        let (s, h, d, a) = (shared.clone(), hits.clone(), delay_ms.clone(), app.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (s, h, d, a) = (s.clone(), h.clone(), d.clone(), a.clone());
                std::thread::spawn(move || answer(stream, &s, &h, &d, &a));
            }
        });
        FlipServer {
            addr,
            status: shared,
            hits,
            delay_ms,
            app,
        }
    }

    /// What `/maintenance` says from now on: in maintenance (unplanned, normal mode) or not.
    pub fn set_maintenance(&self, on: bool) {
        self.app.maintenance.store(on, Ordering::SeqCst);
    }

    /// The value `/metrics` shows for `app_load` from now on.
    pub fn set_gauge(&self, value: f64) {
        self.app.gauge.store(value.to_bits(), Ordering::SeqCst);
    }

    /// `http://addr/path`.
    pub fn url_of(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers `ms` later from now on (the check still finishes well within its timeout).
    pub fn delay(&self, ms: u16) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    pub fn set(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    pub fn url(&self) -> String {
        format!("http://{}/health", self.addr)
    }
}

fn answer(
    mut stream: TcpStream,
    status: &AtomicU16,
    hits: &AtomicUsize,
    delay_ms: &AtomicU16,
    app: &AppKnobs,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Some(head) = crate::common::read_request_head(&mut stream) else {
        return;
    };
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let (status, content_type, body) = match path {
        "/metrics" => {
            let value = f64::from_bits(app.gauge.load(Ordering::SeqCst));
            let body = format!(
                "# HELP app_load The app's load, set by the test.\n# TYPE app_load gauge\napp_load {value}\n"
            );
            (200, "text/plain; version=0.0.4", body)
        }
        "/maintenance" => {
            let on = app.maintenance.load(Ordering::SeqCst);
            let reason = if on { "emergency fix" } else { "" };
            let body = format!(
                "{{\"success\": true, \"data\": {{\"is_active\": {on}, \"mode\": \"normal\", \"reason\": \"{reason}\"}}}}"
            );
            (200, "application/json", body)
        }
        _ => {
            let delay = delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                std::thread::sleep(Duration::from_millis(u64::from(delay)));
            }
            hits.fetch_add(1, Ordering::SeqCst);
            let status = status.load(Ordering::SeqCst);
            let body = if status < 400 { "ok" } else { "broken" };
            (status, "text/plain", body.to_string())
        }
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// A TCP service a test switches off (its port refuses connections) and on again (the same
/// port); it answers any request with 200. For network loss: a canary's or an app's target
/// going dark.
pub struct Switch {
    pub addr: SocketAddr,
    on: Arc<AtomicBool>,
}

impl Switch {
    pub fn start() -> Switch {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let on = Arc::new(AtomicBool::new(true));
        let wanted = on.clone();
        std::thread::spawn(move || {
            let mut listener: Option<TcpListener> = None;
            loop {
                if !wanted.load(Ordering::SeqCst) {
                    listener = None;
                } else if listener.is_none() {
                    listener = TcpListener::bind(addr).ok();
                    if let Some(l) = &listener {
                        l.set_nonblocking(true).unwrap();
                    }
                }
                match listener.as_ref().map(TcpListener::accept) {
                    Some(Ok((mut stream, _))) => {
                        std::thread::spawn(move || {
                            let _ = stream.set_nonblocking(false);
                            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                            let mut buffer = [0u8; 2048];
                            let _ = stream.read(&mut buffer);
                            let _ = stream.write_all(
                                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                            );
                        });
                    }
                    _ => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Switch { addr, on }
    }

    pub fn set(&self, on: bool) {
        self.on.store(on, Ordering::SeqCst);
    }
}

/// A port nothing listens on (connections are refused).
pub fn closed_port() -> u16 {
    crate::common::free_port()
}

/// One HTTP/1.0 request: (status, body), or None if nothing answers.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        crate::common::auth_header(addr),
        body.len()
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {path}: no HTTP answer: {response}"));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// What the webhook receiver got.
#[derive(Clone, Debug)]
pub struct HookRequest {
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: String,
    /// The signature matched HMAC-SHA256(secret, timestamp + "." + body).
    pub verified: bool,
    /// The status the receiver answered.
    pub status: u16,
    pub at: Instant,
}

/// An axum server on its own thread and runtime that records every POST and answers 200 when
/// the signature verifies, 401 otherwise — or, while `refuse` is set, that status to every one.
pub struct HookReceiver {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<HookRequest>>>,
    refusing: Arc<AtomicU16>,
}

#[derive(Clone)]
struct HookState {
    secret: Arc<Vec<u8>>,
    requests: Arc<Mutex<Vec<HookRequest>>>,
    /// 0, or the status answered to every request (e.g. 503: the receiver is down).
    refusing: Arc<AtomicU16>,
}

impl HookReceiver {
    pub fn start(secret: &str) -> HookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let refusing = Arc::new(AtomicU16::new(0));
        let state = HookState {
            secret: Arc::new(secret.as_bytes().to_vec()),
            requests: requests.clone(),
            refusing: refusing.clone(),
        };
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new()
                    .route("/hook", axum::routing::post(receive))
                    .with_state(state);
                axum::serve(listener, app).await.unwrap();
            });
        });
        HookReceiver {
            addr,
            requests,
            refusing,
        }
    }

    pub fn received(&self) -> Vec<HookRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// Answers `status` (e.g. 503) to every request from now on, until `accept`.
    pub fn refuse(&self, status: u16) {
        self.refusing.store(status, Ordering::SeqCst);
    }

    /// Back to answering by the signature.
    pub fn accept(&self) {
        self.refusing.store(0, Ordering::SeqCst);
    }
}

async fn receive(
    axum::extract::State(state): axum::extract::State<HookState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let headers: std::collections::BTreeMap<String, String> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let verified = verify(&state.secret, &headers, &body);
    let status = match state.refusing.load(Ordering::SeqCst) {
        0 if verified => axum::http::StatusCode::OK,
        0 => axum::http::StatusCode::UNAUTHORIZED,
        refused => axum::http::StatusCode::from_u16(refused)
            .unwrap_or(axum::http::StatusCode::SERVICE_UNAVAILABLE),
    };
    state.requests.lock().unwrap().push(HookRequest {
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        verified,
        status: status.as_u16(),
        at: Instant::now(),
    });
    status
}

/// The receiver's side of the scheme in `src/notify/webhook.rs`.
pub fn verify(
    secret: &[u8],
    headers: &std::collections::BTreeMap<String, String>,
    body: &[u8],
) -> bool {
    let (Some(timestamp), Some(signature)) = (
        headers.get("x-lookout-timestamp"),
        headers.get("x-lookout-signature"),
    ) else {
        return false;
    };
    let Some(hex) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Some(tag) = decode_hex(hex) else {
        return false;
    };
    let mut signed = timestamp.as_bytes().to_vec();
    signed.push(b'.');
    signed.extend_from_slice(body);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    ring::hmac::verify(&key, &signed, &tag).is_ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The `[alerts]` and `[[notifier]]` part of a test daemon's config: fast grouping, a dashboard
/// link, the resource rules off (a busy CI machine must not add mails), one email notifier.
pub fn alerts_config(smtp_port: u16, alerts_extra: &str) -> String {
    format!(
        "\n[alerts]\ndashboard_url = \"http://dash.example.org/lookout\"\nhost = \"web-test\"\n\
         group_wait = \"1s\"\ngroup_interval = \"1s\"\n{alerts_extra}\n{}\n{}",
        disabled_rules(&[
            "cpu_usage",
            "memory_usage",
            "disk_usage",
            "http_response_time"
        ]),
        email_notifier(smtp_port)
    )
}

/// `[[alerts.rule]]` overrides switching these built-in rules off.
pub fn disabled_rules(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("[[alerts.rule]]\nname = \"{name}\"\nenabled = false\n"))
        .collect()
}

/// The `[[notifier]]` "ops-mail": email to two recipients through the SMTP server on `smtp_port`.
pub fn email_notifier(smtp_port: u16) -> String {
    format!(
        "\n[[notifier]]\nname = \"ops-mail\"\ntype = \"email\"\nsmtp = \"smtp://127.0.0.1:{smtp_port}\"\n\
         from = \"lookout@example.org\"\nto = [\"ops@example.org\", \"oncall@example.org\"]\n\
         timeout = \"5s\"\n"
    )
}

/// One http `[[check]]` run every second, told at the first failure.
pub fn http_check(name: &str, url: &str, extra: &str) -> String {
    format!(
        "\n[[check]]\nname = \"{name}\"\ntype = \"http\"\nurl = \"{url}\"\ninterval = \"1s\"\n\
         timeout = \"1s\"\nretries = 0\n{extra}\n"
    )
}
