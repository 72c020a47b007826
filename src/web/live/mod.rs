//! The live feed of the dashboard (issue "Web dashboard"): `GET /api/v1/live` upgrades to a
//! WebSocket that pushes what crosses the bus as JSON.
//!
//! The feed has ONE bus subscription, taken while a client is connected: it serialises each
//! bus message once, as a ready text frame, and fans the frame out to every client through a
//! broadcast ring of `QUEUE_CAPACITY` frames (`Feed::frames`). A client writes those shared
//! frames to its socket as they are; one that falls more than `QUEUE_CAPACITY` frames behind
//! is dropped (close code 1008 with the reason "too slow ...", or at once if it stopped
//! reading in the middle of a frame): the bus and the other consumers never wait for a browser.
//! The server pings every 15 s (a WebSocket ping, plus a `heartbeat` message that page scripts,
//! which never see pings, use to notice a dead connection) and drops a client that answered
//! nothing for 45 s.
//!
//! Memory per client is bounded and small whatever the connection pattern (issue 18; figures
//! in BENCHMARKS.md): the greeting (hello and the status document, which grows with the number
//! of checks) is serialised once and shared by every client that connects before the bus
//! carries anything new, and every later message is one shared frame; a client owns no write
//! buffer and reads its frames through a 125-byte buffer (`wire`: clients only send pongs,
//! pings and close frames; data up to `MAX_INCOMING` bytes a message is counted and
//! discarded, more ends the connection with 1009). How many clients at once is
//! `server.max_connections` (an open WebSocket keeps its connection's slot). When clients come
//! and go, the allocator is asked to give what they freed back to the system (glibc keeps it
//! otherwise, and a crowd that left kept the daemon at its peak RSS).
//!
//! Messages (text frames, one JSON object each, `at`/`at_ms` in Unix milliseconds):
//! - `{"type":"hello","version":"0.1.0"}` then `{"type":"status", ...}`: the whole
//!   `/api/v1/status` document, so a client starts from a consistent state;
//! - `{"type":"observation","source":"system","at":1764237600000,
//!   "samples":[{"name":"cpu_usage_ratio","labels":{},"value":0.12}],
//!   "checks":[{"check":"cpu","layer":"system","status":"ok","value":0.12,"detail":"..","at":"<RFC 3339>"}]}`:
//!   one probe run (samples and check results batched in one message; non-finite values are `null`);
//! - `{"type":"heartbeat"}` every 15 s;
//! - `{"type":"event","at":1764237600000,"kind":"status_changed","subject":"app","message":".."}`:
//!   a timeline event (alert events have kind `alert`).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

mod wire;

use crate::bus::Bus;
use crate::clock::UnixMillis;
use crate::model::{BusMessage, Event, Observation};

use super::api::{SeriesFilter, status_view};
use super::{AppState, VERSION};
use crate::views::live::LiveMessage;

/// Frames one client may have waiting before it is dropped as too slow.
pub const QUEUE_CAPACITY: usize = 256;
const PING_EVERY: Duration = Duration::from_secs(15);
const SILENCE_LIMIT: Duration = Duration::from_secs(45);
/// How long a close frame may take to go out before the connection is simply dropped.
const CLOSE_LIMIT: Duration = Duration::from_secs(1);
/// How often a client whose socket does not take a frame checks whether it fell too far behind.
const STUCK_CHECK: Duration = Duration::from_millis(100);
/// The largest message a client may send: pongs and close frames are tiny; data is discarded
/// (a WebSocket library would buffer up to 64 MiB of one message per client by default).
pub const MAX_INCOMING: usize = 64 * 1024;
/// How long one greeting may serve clients connecting after it was built, when the bus carries
/// nothing new meanwhile (it tells the time it was generated).
const GREETING_MAX_AGE_MS: UnixMillis = 1_000;
/// How long after clients came or went the freed memory is given back: one trim for a burst.
const TRIM_AFTER: Duration = Duration::from_secs(2);

/// The live feed's state shared by every client of one server (`AppState::live`).
#[derive(Debug, Default)]
pub struct Feed {
    greeting: Mutex<Option<Greeting>>,
    /// The frames of what crosses the bus, while some client listens (see `frames`).
    frames: Mutex<Option<broadcast::Sender<Arc<[u8]>>>>,
    messages_encoded: AtomicU64,
    greetings_built: AtomicU64,
    clients: AtomicUsize,
    trim_scheduled: AtomicBool,
    trims: AtomicU64,
}

/// The greeting's frames, and what it was built from.
#[derive(Debug, Clone)]
struct Greeting {
    /// `Bus::published` when it was built: valid while the bus carried nothing since.
    published: u64,
    at_ms: UnixMillis,
    /// The hello and status text frames, ready to write.
    frames: Arc<[u8]>,
}

impl Feed {
    /// The greeting for a client that subscribed to `bus` just before: the one built last if
    /// the bus carried nothing since (and it is recent), else a new one.
    fn greeting(&self, state: &AppState, bus: &Bus) -> Arc<[u8]> {
        let published = bus.published();
        let now = state.clock.now_ms();
        let mut cached = self.greeting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(greeting) = cached.as_ref().filter(|g| {
            g.published == published && (0..GREETING_MAX_AGE_MS).contains(&(now - g.at_ms))
        }) {
            return greeting.frames.clone();
        }
        let frames = greeting_frames(state);
        self.greetings_built.fetch_add(1, Ordering::Relaxed);
        *cached = Some(Greeting {
            published,
            at_ms: now,
            frames: frames.clone(),
        });
        frames
    }

    /// A receiver of every later bus message as a ready text frame. The first client starts
    /// the one task that serialises them (one bus subscription for all clients); it stops when
    /// the last client is gone.
    fn frames(self: &Arc<Self>, bus: &Bus) -> broadcast::Receiver<Arc<[u8]>> {
        let mut slot = self.frames.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = slot.as_ref() {
            return sender.subscribe();
        }
        let (sender, receiver) = broadcast::channel(QUEUE_CAPACITY);
        *slot = Some(sender.clone());
        let mut subscription = bus.subscribe();
        let feed = self.clone();
        tokio::spawn(async move {
            while let Some(message) = subscription.recv().await {
                let frame = wire::text(&message_json(&message));
                feed.messages_encoded.fetch_add(1, Ordering::Relaxed);
                if sender.send(frame).is_err() {
                    // Nobody listens: stop, unless a client subscribed meanwhile.
                    let mut slot = feed.frames.lock().unwrap_or_else(|e| e.into_inner());
                    if sender.receiver_count() == 0 {
                        *slot = None;
                        return;
                    }
                }
            }
            // The bus closed (shutdown): the clients' receivers close with the sender.
            *feed.frames.lock().unwrap_or_else(|e| e.into_inner()) = None;
        });
        receiver
    }

    /// Bus messages serialised for the clients so far: once each, whatever the number of
    /// clients.
    pub fn messages_encoded(&self) -> u64 {
        self.messages_encoded.load(Ordering::Relaxed)
    }

    /// Greetings serialised so far (each shared by the clients that connected meanwhile).
    pub fn greetings_built(&self) -> u64 {
        self.greetings_built.load(Ordering::Relaxed)
    }

    /// Clients connected now.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// Times the freed memory was given back after clients came or went.
    pub fn trims(&self) -> u64 {
        self.trims.load(Ordering::Relaxed)
    }

    fn join(self: &Arc<Self>) -> Client {
        self.clients.fetch_add(1, Ordering::Relaxed);
        self.schedule_trim();
        Client { feed: self.clone() }
    }

    /// Gives freed memory back `TRIM_AFTER` from now, unless that is planned already: a burst
    /// of clients coming or going costs one trim.
    fn schedule_trim(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.trim_scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let feed = self.clone();
        runtime.spawn(async move {
            tokio::time::sleep(TRIM_AFTER).await;
            feed.trim_scheduled.store(false, Ordering::Release);
            let _ = tokio::task::spawn_blocking(crate::base::memory::give_back).await;
            feed.trims.fetch_add(1, Ordering::Relaxed);
        });
    }
}

/// One connected client: counted while it lives.
struct Client {
    feed: Arc<Feed>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.feed.clients.fetch_sub(1, Ordering::Relaxed);
        self.feed.schedule_trim();
    }
}

fn observation_json(o: &Observation) -> String {
    serde_json::to_string(&LiveMessage::observation(o)).unwrap_or_default()
}

fn event_json(e: &Event) -> String {
    serde_json::to_string(&LiveMessage::event(e)).unwrap_or_default()
}

/// The JSON text of one bus message, as sent to clients.
pub fn message_json(message: &BusMessage) -> String {
    match message {
        BusMessage::Observation(o) => observation_json(o),
        BusMessage::Event(e) => event_json(e),
    }
}

fn status_json(state: &AppState) -> String {
    // The page reads only the checks from the greeting; the series (most of the document with
    // many checks) stay out, and pages that need latest values ask /api/v1/status for them.
    let mut value = serde_json::to_value(status_view(state, &SeriesFilter::None, None, None))
        .unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("type".into(), "status".into());
    }
    value.to_string()
}

/// The hello and status messages as text frames.
fn greeting_frames(state: &AppState) -> Arc<[u8]> {
    let hello = serde_json::to_string(&LiveMessage::Hello { version: VERSION }).unwrap_or_default();
    let status = status_json(state);
    let mut frames = Vec::with_capacity(hello.len() + status.len() + 2 * 10);
    wire::text_frame(&mut frames, hello.as_bytes());
    wire::text_frame(&mut frames, status.as_bytes());
    frames.into()
}

/// Whether a WebSocket handshake comes from a page of this server: browsers always send
/// `Origin`, and a page of another site must not read the feed with the user's cookies
/// (cross-site WebSocket hijacking). Clients that are not browsers send no `Origin`.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let (Ok(origin), Some(Ok(host))) = (
        origin.to_str(),
        headers.get(header::HOST).map(|h| h.to_str()),
    ) else {
        return false;
    };
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    origin_host.eq_ignore_ascii_case(host)
}

fn refuse(status: StatusCode, error: &str) -> Response {
    (status, Json(serde_json::json!({ "error": error }))).into_response()
}

/// Whether the comma-separated header `name` lists `token` (case-insensitive).
fn header_lists(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// The opening handshake (RFC 6455, 4.2.1, HTTP/1.1): the `Sec-WebSocket-Accept` value of a
/// valid upgrade request, or why any other request is refused.
fn accept_key(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
) -> Result<HeaderValue, (StatusCode, &'static str)> {
    if method != Method::GET
        || version != Version::HTTP_11
        || !header_lists(headers, header::CONNECTION, "upgrade")
        || !header_lists(headers, header::UPGRADE, "websocket")
    {
        return Err((
            StatusCode::UPGRADE_REQUIRED,
            "the live feed is a WebSocket: GET with Connection: upgrade and Upgrade: websocket",
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(|v| v.as_bytes())
        != Some(b"13")
    {
        return Err((StatusCode::BAD_REQUEST, "Sec-WebSocket-Version must be 13"));
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return Err((StatusCode::BAD_REQUEST, "Sec-WebSocket-Key is missing"));
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    HeaderValue::from_str(&accept)
        .map_err(|_| (StatusCode::BAD_REQUEST, "Sec-WebSocket-Key is not valid"))
}

/// `GET /api/v1/live`: the WebSocket upgrade.
pub async fn live(State(state): State<AppState>, mut request: Request) -> Response {
    if !same_origin(request.headers()) {
        return refuse(
            StatusCode::FORBIDDEN,
            "the live feed only serves pages of this server (Origin does not match Host)",
        );
    }
    let Some(bus) = state.bus.clone() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "no live feed in this process (no bus)",
        );
    };
    let accept = match accept_key(request.method(), request.version(), request.headers()) {
        Ok(accept) => accept,
        Err((status, error)) => {
            let mut response = refuse(status, error);
            let headers = response.headers_mut();
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            headers.insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            return response;
        }
    };
    let Some(upgrade) = request
        .extensions_mut()
        .remove::<hyper::upgrade::OnUpgrade>()
    else {
        return refuse(
            StatusCode::UPGRADE_REQUIRED,
            "this connection cannot be upgraded to a WebSocket",
        );
    };
    // Subscribe before the status snapshot, so nothing between the two is lost.
    let frames = state.live.frames(&bus);
    let greeting = state.live.greeting(&state, &bus);
    let feed = state.live.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let _client = feed.join();
        let mut io = TokioIo::new(upgraded);
        // The shared greeting goes out as it is.
        let sent = tokio::time::timeout(SILENCE_LIMIT, io.write_all(&greeting)).await;
        drop(greeting);
        if !matches!(sent, Ok(Ok(()))) {
            return;
        }
        serve_client(io, frames).await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .unwrap_or_default()
}

/// Writes `frame`, or says that the client fell more than `QUEUE_CAPACITY` frames behind
/// while its socket did not take it (it stopped reading): `Err(true)` then, `Err(false)` if
/// the connection failed.
async fn write_frame<W: AsyncWrite + Unpin>(
    write: &mut W,
    frame: &[u8],
    frames: &broadcast::Receiver<Arc<[u8]>>,
) -> Result<(), bool> {
    let mut writing = std::pin::pin!(write.write_all(frame));
    loop {
        // The write is polled first: a socket that takes the frame at once never arms a timer.
        match tokio::time::timeout(STUCK_CHECK, &mut writing).await {
            Ok(written) => return written.map_err(|_| false),
            Err(_) if frames.len() >= QUEUE_CAPACITY => return Err(true),
            Err(_) => {}
        }
    }
}

/// Sends a close frame (if the socket takes it within `CLOSE_LIMIT`).
async fn close<W: AsyncWrite + Unpin>(write: &mut W, code: CloseCode, reason: &str) {
    let frame = wire::close(code, reason);
    let _ = tokio::time::timeout(CLOSE_LIMIT, write.write_all(&frame)).await;
}

/// One client after its greeting: the shared frames out, pings, and its own frames in.
async fn serve_client<S>(io: S, mut frames: broadcast::Receiver<Arc<[u8]>>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (read, mut write) = tokio::io::split(io);
    // Kept in a stream, so that a frame half read survives the other branches of the select.
    let incoming = futures_util::stream::unfold(
        wire::Reader::new(read, MAX_INCOMING),
        |mut reader| async move {
            let next = reader.next().await;
            Some((next, reader))
        },
    );
    let mut incoming = std::pin::pin!(incoming);
    let too_slow = format!("too slow: more than {QUEUE_CAPACITY} messages waiting");
    let heartbeat = wire::text(r#"{"type":"heartbeat"}"#);
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let mut heard_at = Instant::now();
    loop {
        tokio::select! {
            biased;
            got = incoming.next() => match got {
                Some(Ok(wire::Incoming::Alive)) => heard_at = Instant::now(),
                Some(Ok(wire::Incoming::Ping(payload))) => {
                    heard_at = Instant::now();
                    if write.write_all(&wire::pong(&payload)).await.is_err() {
                        break;
                    }
                }
                Some(Ok(wire::Incoming::Close(code))) => {
                    // Echo the client's code (1000 when it gave none), then end (5.5.1).
                    let code = code
                        .map(CloseCode::from)
                        .filter(|code| code.is_allowed())
                        .unwrap_or(CloseCode::Normal);
                    close(&mut write, code, "").await;
                    break;
                }
                Some(Err(wire::WireError::TooBig)) => {
                    let reason = format!("a client may send at most {MAX_INCOMING} bytes a message");
                    close(&mut write, CloseCode::Size, &reason).await;
                    break;
                }
                Some(Err(wire::WireError::Protocol(why))) => {
                    close(&mut write, CloseCode::Protocol, why).await;
                    break;
                }
                Some(Err(wire::WireError::Io)) | None => break,
            },
            _ = ping.tick() => {
                if heard_at.elapsed() > SILENCE_LIMIT {
                    close(&mut write, CloseCode::Away, "no answer to ping").await;
                    break;
                }
                if write.write_all(&wire::PING).await.is_err()
                    || write.write_all(&heartbeat).await.is_err()
                {
                    break;
                }
            }
            next = frames.recv() => match next {
                Ok(frame) => match write_frame(&mut write, &frame, &frames).await {
                    Ok(()) => {}
                    Err(stuck) => {
                        if stuck {
                            // In the middle of a frame: no close frame can follow.
                            tracing::warn!("live client dropped: it does not keep up");
                        }
                        break;
                    }
                },
                Err(RecvError::Lagged(_)) => {
                    tracing::warn!("live client dropped: it does not keep up");
                    close(&mut write, CloseCode::Policy, &too_slow).await;
                    break;
                }
                Err(RecvError::Closed) => {
                    close(&mut write, CloseCode::Away, "shutting down").await;
                    break;
                }
            },
        }
    }
    let _ = write.shutdown().await;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio_tungstenite::tungstenite;

    use super::*;
    use crate::bus::Bus;
    use crate::clock::{ManualClock, SharedClock};
    use crate::exporter::Snapshot;
    use crate::model::{CheckResult, Layer, Sample, SeriesKey, Status};
    use crate::store::{Store, StoreOptions};

    const T0: i64 = 1_764_237_600_000;

    async fn serve(dir: &std::path::Path, bus: &Bus) -> (std::net::SocketAddr, AppState) {
        let clock: SharedClock = ManualClock::new(T0);
        let store = Store::open(dir, StoreOptions::default(), clock.clone())
            .await
            .unwrap();
        let snapshot = Snapshot::new();
        let state = AppState {
            config: Default::default(),
            maintenance: None,
            metrics_page: crate::exporter::MetricsPage::new(
                snapshot.clone(),
                crate::web::VERSION,
                T0,
                clock.clone(),
                std::time::Duration::ZERO,
            ),
            snapshot,
            store,
            clock,
            started_at_ms: T0,
            alerting: None,
            bus: Some(bus.clone()),
            // The feed's own behaviour is tested here; access to it is `auth`'s tests.
            auth: std::sync::Arc::new(crate::web::auth::Auth::trust_all()),
            live: Default::default(),
            receiver: Default::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = super::super::router(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (addr, state)
    }

    fn observation(at_ms: i64, samples: usize) -> Observation {
        Observation {
            source: "check:app".into(),
            at_ms,
            samples: (0..samples)
                .map(|i| Sample {
                    series: Arc::new(
                        SeriesKey::new("http_response_seconds").with("check", format!("app{i}")),
                    ),
                    value: 0.25,
                })
                .collect(),
            checks: vec![CheckResult {
                underlying: None,
                check: "app".into(),
                layer: Layer::Application,
                status: Status::Critical,
                value: Some(f64::NAN),
                detail: "HTTP 500".into(),
                at_ms,
            }],
        }
    }

    type Client = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

    fn connect(addr: std::net::SocketAddr) -> Client {
        let (socket, _) = tungstenite::connect(format!("ws://{addr}/api/v1/live")).unwrap();
        if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = socket.get_ref() {
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        }
        socket
    }

    fn next_json(client: &mut Client) -> serde_json::Value {
        loop {
            match client.read().expect("a message") {
                tungstenite::Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                _ => continue,
            }
        }
    }

    #[test]
    fn only_pages_of_this_server_may_open_the_feed() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(*k, v.parse().unwrap());
            }
            map
        };
        let host = ("host", "mon.example.org:8080");
        for (pairs, want) in [
            (vec![host], true),
            (vec![host, ("origin", "http://mon.example.org:8080")], true),
            (vec![host, ("origin", "https://MON.example.org:8080")], true),
            (vec![host, ("origin", "https://evil.example.com")], false),
            (vec![host, ("origin", "http://mon.example.org:9999")], false),
            (vec![host, ("origin", "null")], false),
            (vec![("origin", "http://mon.example.org:8080")], false),
        ] {
            assert_eq!(same_origin(&headers(&pairs)), want, "{pairs:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_published_observation_arrives_as_json() {
        let dir = tempfile::tempdir().unwrap();
        let bus = Bus::new(64);
        let (addr, _) = serve(dir.path(), &bus).await;
        let mut client = tokio::task::spawn_blocking(move || connect(addr))
            .await
            .unwrap();
        let (hello, status, client) = tokio::task::spawn_blocking(move || {
            let hello = next_json(&mut client);
            let status = next_json(&mut client);
            (hello, status, client)
        })
        .await
        .unwrap();
        assert_eq!(hello["type"], "hello");
        assert_eq!(status["type"], "status");
        assert!(status["checks"].is_array(), "{status}");

        bus.publish_observation(observation(T0 + 1000, 1));
        bus.publish_event(Event {
            at_ms: T0 + 1001,
            kind: crate::model::EventKind::Alert,
            subject: "check_failed".into(),
            message: "app is down".into(),
        });
        let (observation, event) = tokio::task::spawn_blocking(move || {
            let mut client = client;
            (next_json(&mut client), next_json(&mut client))
        })
        .await
        .unwrap();
        assert_eq!(
            observation,
            serde_json::json!({
                "type": "observation", "source": "check:app", "at": T0 + 1000,
                "samples": [{"name": "http_response_seconds", "labels": {"check": "app0"}, "value": 0.25}],
                "checks": [{"check": "app", "layer": "application", "status": "critical",
                            "value": null, "detail": "HTTP 500", "at": "2025-11-27T10:00:01.000Z"}],
            })
        );
        assert_eq!(
            event,
            serde_json::json!({"type": "event", "at": T0 + 1001, "kind": "alert",
                               "subject": "check_failed", "message": "app is down"})
        );
    }

    /// A browser tab that stops reading must never slow the pipeline: its queue overflows and
    /// it is dropped, while publishing goes on at full speed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_never_reads_is_dropped_without_slowing_the_publisher() {
        let dir = tempfile::tempdir().unwrap();
        let bus = Bus::new(16_384);
        let (addr, state) = serve(dir.path(), &bus).await;
        // Connect, then never read until the end.
        let client = tokio::task::spawn_blocking(move || connect(addr))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;

        // ~6 KB per message, 4 000 messages: far more than socket buffers plus the queue.
        let count = 4_000;
        let big = observation(T0, 100);
        let started = std::time::Instant::now();
        for n in 0..count {
            let mut o = big.clone();
            o.at_ms = T0 + n;
            bus.publish_observation(o);
        }
        let publishing = started.elapsed();
        assert!(
            publishing < Duration::from_millis(500),
            "publishing {count} observations took {publishing:?}: the publisher waited"
        );

        // The feed serialises each message once for every client, after the bus: read only
        // once it has (or has dropped the client), so the client was not reading all along.
        let done = || state.live.messages_encoded() >= count as u64 || state.live.clients() == 0;
        wait_for(done, "every message serialised").await;
        // Now read: some messages, then the end of the connection well before all arrived.
        let (received, ended_with) = tokio::task::spawn_blocking(move || {
            let mut client = client;
            let mut received = 0usize;
            loop {
                match client.read() {
                    Ok(tungstenite::Message::Text(_)) => received += 1,
                    Ok(tungstenite::Message::Close(frame)) => {
                        return (received, format!("close {frame:?}"));
                    }
                    Ok(_) => {}
                    Err(tungstenite::Error::Io(e))
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        return (received, format!("still open after 10 s: {e}"));
                    }
                    Err(e) => return (received, format!("error {e}")),
                }
            }
        })
        .await
        .unwrap();
        eprintln!("slow client: {received} messages, then {ended_with}");
        assert!(
            received < count as usize,
            "got all {received} messages: the slow client was not dropped ({ended_with})"
        );
        assert!(
            ended_with.contains("too slow") || ended_with.starts_with("error"),
            "{ended_with}"
        );
        // The bus itself lost nothing for its other consumers.
        assert_eq!(bus.dropped(), 0);
    }

    fn results(names: impl Iterator<Item = String>, status: Status) -> Observation {
        Observation {
            source: "checks".into(),
            at_ms: T0,
            samples: Vec::new(),
            checks: names
                .map(|check| CheckResult {
                    underlying: None,
                    check,
                    layer: Layer::Application,
                    status,
                    value: Some(0.001),
                    detail: "connected to 127.0.0.1:9 in 0.1 ms".into(),
                    at_ms: T0,
                })
                .collect(),
        }
    }

    /// (hello, status) of a client that just connected.
    fn greeted(addr: std::net::SocketAddr) -> (serde_json::Value, serde_json::Value, Client) {
        let mut client = connect(addr);
        let hello = next_json(&mut client);
        let status = next_json(&mut client);
        (hello, status, client)
    }

    /// Clients connecting together (every open dashboard after a restart) share one
    /// serialised greeting: before, each built and held its own copy of the status document
    /// (hundreds of KB with 1,000 checks) until it was sent.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn clients_connecting_together_share_one_greeting() {
        let dir = tempfile::tempdir().unwrap();
        let bus = Bus::new(64);
        let (addr, state) = serve(dir.path(), &bus).await;
        state
            .snapshot
            .apply(&results(["app".to_string()].into_iter(), Status::Ok));
        let greeted = tokio::task::spawn_blocking(move || {
            let handles: Vec<_> = (0..20)
                .map(|_| std::thread::spawn(move || greeted(addr)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        for (hello, status, _) in &greeted {
            assert_eq!(hello["type"], "hello");
            assert_eq!(status, &greeted[0].1);
            assert_eq!(status["checks"][0]["check"], "app", "{status}");
        }
        assert_eq!(state.live.greetings_built(), 1);
        assert_eq!(state.live.clients(), 20);
    }

    /// A shared greeting is never stale: once the bus carried something, the next client's
    /// status is built anew and shows it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_connecting_after_news_on_the_bus_gets_a_new_greeting() {
        let dir = tempfile::tempdir().unwrap();
        let bus = Bus::new(64);
        let (addr, state) = serve(dir.path(), &bus).await;
        let news = results(["db".to_string()].into_iter(), Status::Critical);
        let (_, first, _a) = tokio::task::spawn_blocking(move || greeted(addr))
            .await
            .unwrap();
        assert_eq!(first["checks"], serde_json::json!([]));
        state.snapshot.apply(&news);
        bus.publish_observation(news);
        let (_, second, _b) = tokio::task::spawn_blocking(move || greeted(addr))
            .await
            .unwrap();
        assert_eq!(second["checks"][0]["check"], "db", "{second}");
        assert_eq!(second["checks"][0]["status"], "critical", "{second}");
        assert_eq!(state.live.greetings_built(), 2);
    }

    /// The greeting is written as ready-made frames: one of more than 64 KiB (1,000 checks)
    /// needs the 64-bit length form, and must arrive whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_greeting_of_a_thousand_checks_arrives_whole() {
        let dir = tempfile::tempdir().unwrap();
        let bus = Bus::new(64);
        let (addr, state) = serve(dir.path(), &bus).await;
        state
            .snapshot
            .apply(&results((0..1000).map(|i| format!("c{i:04}")), Status::Ok));
        let (_, status, mut client) = tokio::task::spawn_blocking(move || greeted(addr))
            .await
            .unwrap();
        let checks = status["checks"].as_array().unwrap();
        assert_eq!(checks.len(), 1000);
        assert!(status.to_string().len() > 65_535);
        // And the codec goes on after it: the next message is a normal frame.
        bus.publish_observation(observation(T0 + 1000, 1));
        let next = tokio::task::spawn_blocking(move || next_json(&mut client))
            .await
            .unwrap();
        assert_eq!(next["type"], "observation");
    }

    /// Each message is serialised once for all clients (before, once per client: 1,000 JSON
    /// encodings of every observation with 1,000 dashboards open), and the serialising stops
    /// with the last client; a client's ping is answered, its close frame echoed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_message_is_serialised_once_for_all_clients_and_only_while_someone_listens() {
        let dir = tempfile::tempdir().unwrap();
        let bus = Bus::new(64);
        let (addr, state) = serve(dir.path(), &bus).await;
        let clients = tokio::task::spawn_blocking(move || {
            (0..10).map(|_| greeted(addr).2).collect::<Vec<_>>()
        })
        .await
        .unwrap();
        for n in 0..5 {
            bus.publish_observation(observation(T0 + n, 1));
        }
        let clients = tokio::task::spawn_blocking(move || {
            clients
                .into_iter()
                .map(|mut client| {
                    let got: Vec<i64> = (0..5)
                        .map(|_| next_json(&mut client)["at"].as_i64().unwrap())
                        .collect();
                    assert_eq!(got, (0..5).map(|n| T0 + n).collect::<Vec<_>>());
                    client
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        assert_eq!(state.live.messages_encoded(), 5, "one encoding per message");

        // Ping -> pong with the same payload; close -> the close echoed.
        let ended = tokio::task::spawn_blocking(move || {
            let mut clients = clients;
            let client = &mut clients[0];
            client
                .send(tungstenite::Message::Ping(b"still?"[..].into()))
                .unwrap();
            let pong = loop {
                match client.read().unwrap() {
                    tungstenite::Message::Pong(payload) => break payload,
                    _ => continue,
                }
            };
            client.close(None).unwrap();
            let closed = loop {
                match client.read() {
                    Ok(_) => continue,
                    Err(e) => break e.to_string(),
                }
            };
            (pong, closed)
        })
        .await
        .unwrap();
        assert_eq!(&ended.0[..], b"still?");
        assert!(ended.1.contains("closed normally"), "{}", ended.1);
        wait_for(|| state.live.clients() == 0, "every client gone").await;
        // Nobody listens: the next message stops the serialiser instead of being encoded.
        bus.publish_observation(observation(T0 + 9, 1));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(state.live.messages_encoded(), 6);
        bus.publish_observation(observation(T0 + 10, 1));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(state.live.messages_encoded(), 6, "encoding with no client");
    }

    /// Clients only send pongs and close frames: one sending a large message is dropped
    /// rather than buffered (tungstenite would hold up to 64 MiB of it per client).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_sending_a_large_message_is_dropped_not_buffered() {
        let dir = tempfile::tempdir().unwrap();
        let bus = Bus::new(64);
        let (addr, state) = serve(dir.path(), &bus).await;
        let ended = tokio::task::spawn_blocking(move || {
            let (_, _, mut client) = greeted(addr);
            let big = "x".repeat(MAX_INCOMING + 1);
            let sent = client.send(tungstenite::Message::Text(big.into()));
            loop {
                if let Err(e) = &sent {
                    return format!("cut off while sending: {e}");
                }
                match client.read() {
                    Ok(tungstenite::Message::Close(frame)) => return format!("close {frame:?}"),
                    Ok(_) => continue,
                    Err(tungstenite::Error::Io(e))
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        return format!("still open after 10 s: {e}");
                    }
                    Err(e) => return format!("error {e}"),
                }
            }
        })
        .await
        .unwrap();
        assert!(!ended.starts_with("still open"), "{ended}");
        wait_for(|| state.live.clients() == 0, "the client to be let go").await;
    }

    /// Polls `done` every 20 ms (10 s at most, then fails saying `what`).
    async fn wait_for(done: impl Fn() -> bool, what: &str) {
        let started = std::time::Instant::now();
        while !done() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "waited 10 s for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Memory that clients leave behind goes back to the system: glibc keeps freed memory
    /// otherwise, and the daemon stayed at its peak after 1,000 clients left.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn clients_that_leave_are_counted_out_and_their_memory_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let bus = Bus::new(64);
        let (addr, state) = serve(dir.path(), &bus).await;
        let clients = tokio::task::spawn_blocking(move || {
            (0..3).map(|_| greeted(addr).2).collect::<Vec<_>>()
        })
        .await
        .unwrap();
        wait_for(|| state.live.clients() == 3, "3 clients").await;
        let trims = state.live.trims();
        drop(clients);
        wait_for(|| state.live.clients() == 0, "the clients to leave").await;
        wait_for(|| state.live.trims() > trims, "a trim after they left").await;
    }

    /// What is not a WebSocket handshake is told what is missing, not upgraded.
    #[tokio::test]
    async fn a_request_that_is_not_a_websocket_handshake_is_refused_with_the_reason() {
        let upgrade = |version: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONNECTION, "keep-alive, Upgrade".parse().unwrap());
            headers.insert(header::UPGRADE, "websocket".parse().unwrap());
            headers.insert(header::SEC_WEBSOCKET_VERSION, version.parse().unwrap());
            headers.insert(
                header::SEC_WEBSOCKET_KEY,
                "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap(),
            );
            headers
        };
        // RFC 6455's example key.
        let accept = accept_key(&Method::GET, Version::HTTP_11, &upgrade("13")).unwrap();
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let refused =
            |method, version, headers| accept_key(&method, version, &headers).map_err(|r| r.0);
        assert_eq!(
            refused(Method::GET, Version::HTTP_11, HeaderMap::new()),
            Err(StatusCode::UPGRADE_REQUIRED)
        );
        assert_eq!(
            refused(Method::POST, Version::HTTP_11, upgrade("13")),
            Err(StatusCode::UPGRADE_REQUIRED)
        );
        assert_eq!(
            refused(Method::GET, Version::HTTP_10, upgrade("13")),
            Err(StatusCode::UPGRADE_REQUIRED)
        );
        assert_eq!(
            refused(Method::GET, Version::HTTP_11, upgrade("8")),
            Err(StatusCode::BAD_REQUEST)
        );
        let mut no_key = upgrade("13");
        no_key.remove(header::SEC_WEBSOCKET_KEY);
        assert_eq!(
            refused(Method::GET, Version::HTTP_11, no_key),
            Err(StatusCode::BAD_REQUEST)
        );
    }
}
