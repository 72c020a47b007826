//! The live feed of the dashboard (issue "Web dashboard"): `GET /api/v1/live` upgrades to a
//! WebSocket that pushes what crosses the bus as JSON.
//!
//! Each client has ONE bus subscription and its own bounded queue. A forwarder moves bus
//! messages into the queue without ever waiting (`try_send`); the writer serialises and sends
//! them. A client that does not keep up fills its queue and is dropped (close code 1008 with
//! the reason "too slow ..."): the bus and the other consumers never wait for a browser.
//! The server pings every 15 s (a WebSocket ping, plus a `heartbeat` message that page scripts,
//! which never see pings, use to notice a dead connection) and drops a client that answered
//! nothing for 45 s.
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

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;

use crate::bus::Subscription;
use crate::model::{BusMessage, Event, Observation};

use super::api::{SeriesFilter, status_view};
use super::{AppState, VERSION};
use crate::views::live::LiveMessage;

/// Messages one client may have waiting before it is dropped as too slow.
pub const QUEUE_CAPACITY: usize = 256;
const PING_EVERY: Duration = Duration::from_secs(15);
const SILENCE_LIMIT: Duration = Duration::from_secs(45);
/// How long a close frame may take to go out before the connection is simply dropped.
const CLOSE_LIMIT: Duration = Duration::from_secs(1);
/// Read buffer of one connection: clients only send pongs and close frames, and tungstenite's
/// default (128 KiB, filled on every read) cost ~144 KB of RSS per client (benches/dashboard.rs).
const READ_BUFFER: usize = 4 * 1024;

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
    let mut value =
        serde_json::to_value(status_view(state, &SeriesFilter::None)).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("type".into(), "status".into());
    }
    value.to_string()
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

/// `GET /api/v1/live`: the WebSocket upgrade.
pub async fn live(
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    State(state): State<AppState>,
) -> Response {
    if !same_origin(&headers) {
        return (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({ "error": "the live feed only serves pages of this server (Origin does not match Host)" })),
        )
            .into_response();
    }
    let Some(bus) = state.bus.clone() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": "no live feed in this process (no bus)" })),
        )
            .into_response();
    };
    // Subscribe before the status snapshot, so nothing between the two is lost.
    let subscription = bus.subscribe();
    let greeting = vec![
        serde_json::to_string(&LiveMessage::Hello { version: VERSION }).unwrap_or_default(),
        status_json(&state),
    ];
    ws.read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| serve_client(socket, subscription, greeting, QUEUE_CAPACITY))
}

/// Why the forwarder stopped.
#[derive(Debug, PartialEq)]
enum Stopped {
    /// The client's queue was full: it does not keep up.
    TooSlow,
    /// The writer is gone (the client left).
    ClientGone,
    /// The bus closed (shutdown).
    Shutdown,
}

async fn forward(mut subscription: Subscription, queue: mpsc::Sender<BusMessage>) -> Stopped {
    while let Some(message) = subscription.recv().await {
        match queue.try_send(message) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Stopped::TooSlow,
            Err(TrySendError::Closed(_)) => return Stopped::ClientGone,
        }
    }
    Stopped::Shutdown
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    let _ = tokio::time::timeout(CLOSE_LIMIT, socket.send(frame)).await;
}

async fn serve_client(
    mut socket: WebSocket,
    subscription: Subscription,
    greeting: Vec<String>,
    capacity: usize,
) {
    let (queue, mut queued) = mpsc::channel(capacity);
    let mut forwarder = tokio::spawn(forward(subscription, queue));
    for text in greeting {
        if socket.send(Message::Text(text.into())).await.is_err() {
            forwarder.abort();
            return;
        }
    }
    let too_slow = format!("too slow: more than {capacity} messages waiting");
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let mut heard_at = Instant::now();
    loop {
        tokio::select! {
            biased;
            stopped = &mut forwarder => {
                match stopped {
                    Ok(Stopped::TooSlow) => {
                        tracing::warn!("live client dropped: it does not keep up");
                        close(&mut socket, close_code::POLICY, &too_slow).await;
                    }
                    Ok(Stopped::Shutdown) => close(&mut socket, close_code::AWAY, "shutting down").await,
                    _ => {}
                }
                return;
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => heard_at = Instant::now(),
            },
            _ = ping.tick() => {
                if heard_at.elapsed() > SILENCE_LIMIT {
                    close(&mut socket, close_code::AWAY, "no answer to ping").await;
                    break;
                }
                if socket.send(Message::Ping(Default::default())).await.is_err()
                    || socket.send(Message::Text(r#"{"type":"heartbeat"}"#.into())).await.is_err()
                {
                    break;
                }
            }
            next = queued.recv() => {
                let Some(message) = next else { break };
                let text = message_json(&message);
                // A send stuck on a client that does not read must not hide that its queue
                // overflowed: race the send against the forwarder.
                tokio::select! {
                    sent = socket.send(Message::Text(text.into())) => if sent.is_err() { break },
                    stopped = &mut forwarder => {
                        if matches!(stopped, Ok(Stopped::TooSlow)) {
                            tracing::warn!("live client dropped: it does not keep up");
                            close(&mut socket, close_code::POLICY, &too_slow).await;
                        }
                        return;
                    }
                }
            }
        }
    }
    forwarder.abort();
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

    async fn serve(dir: &std::path::Path, bus: &Bus) -> std::net::SocketAddr {
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
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, super::super::router(state))
                .await
                .unwrap()
        });
        addr
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
        let addr = serve(dir.path(), &bus).await;
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
        let addr = serve(dir.path(), &bus).await;
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
}
