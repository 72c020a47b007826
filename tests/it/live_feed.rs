//! The dashboard's live feed (`/api/v1/live`) against the real daemon (issue 18, "live feed
//! memory"): a burst of WebSocket clients is admitted up to `server.max_connections` (an open
//! WebSocket keeps its connection's slot) and refused beyond it, every admitted client gets
//! the whole greeting, and the slots come back when clients leave; a client cannot make the
//! daemon buffer a large message. The memory figures are the benchmark's
//! (`cargo bench --bench dashboard -- clients`, BENCHMARKS.md).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{self, Daemon};

type Client = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// A daemon that takes at most 16 web connections at once (the least the config allows).
fn daemon(dir: &std::path::Path) -> Daemon {
    let config = dir.join("lookout.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nmax_connections = 16\n\n[storage]\npath = \"{}\"\n\n[system]\ninterval = \"1s\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    Daemon::start(&config)
}

/// Opens the feed with the daemon's admin token; the refusal's HTTP status otherwise.
fn connect(addr: SocketAddr) -> Result<Client, String> {
    let mut request = format!("ws://{addr}/api/v1/live")
        .into_client_request()
        .unwrap();
    let auth = common::auth_header(addr);
    let token = auth
        .trim()
        .strip_prefix("Authorization: Bearer ")
        .expect("a token for the daemon");
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    match tungstenite::connect(request) {
        Ok((client, _)) => {
            if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = client.get_ref() {
                tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            }
            Ok(client)
        }
        Err(tungstenite::Error::Http(response)) => Err(format!("HTTP {}", response.status())),
        Err(e) => Err(e.to_string()),
    }
}

fn next_json(client: &mut Client) -> serde_json::Value {
    loop {
        match client.read().expect("a message") {
            tungstenite::Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            _ => continue,
        }
    }
}

/// Sixteen clients at once (every open dashboard reconnecting after a restart) all get in
/// and get their greeting; the seventeenth is refused (503) rather than admitted past the
/// cap, and once some leave, newcomers get their slots.
#[test]
fn a_burst_of_clients_is_admitted_up_to_the_connection_cap_and_their_slots_come_back() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path());
    let addr = daemon.addr;
    let burst: Vec<_> = (0..16)
        .map(|_| {
            std::thread::spawn(move || {
                let mut client = connect(addr)?;
                let hello = next_json(&mut client);
                let status = next_json(&mut client);
                Ok::<_, String>((hello, status, client))
            })
        })
        .collect();
    let mut clients = Vec::new();
    for joined in burst {
        let (hello, status, client) = joined.join().unwrap().expect("admitted");
        assert_eq!(hello["type"], "hello");
        assert_eq!(status["type"], "status");
        assert!(status["checks"].is_array(), "{status}");
        clients.push(client);
    }
    assert_eq!(
        connect(addr).err().as_deref(),
        Some("HTTP 503 Service Unavailable"),
        "a 17th client past max_connections = 16"
    );
    // Four leave (closing as a browser tab does); their slots come back.
    for mut client in clients.drain(..4) {
        let _ = client.close(None);
        let _ = client.flush();
    }
    let started = Instant::now();
    let mut newcomers = Vec::new();
    while newcomers.len() < 4 {
        match connect(addr) {
            Ok(client) => newcomers.push(client),
            Err(refused) => {
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "the slots of the clients that left never came back: {refused}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    for client in &mut newcomers {
        assert_eq!(next_json(client)["type"], "hello");
    }
}

/// Clients only send pongs and close frames; one that sends a large message is cut off
/// rather than buffered (the WebSocket codec's default would hold up to 64 MiB per client).
#[test]
fn a_client_sending_a_large_message_is_cut_off_not_buffered() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path());
    let mut client = connect(daemon.addr).expect("admitted");
    assert_eq!(next_json(&mut client)["type"], "hello");
    // Cut off while it is still sending, or right after.
    let sent = client.send(tungstenite::Message::Text("x".repeat(1 << 20).into()));
    let ended = loop {
        if let Err(e) = &sent {
            break format!("cut off while sending: {e}");
        }
        match client.read() {
            Ok(tungstenite::Message::Close(frame)) => break format!("close {frame:?}"),
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break format!("still open 10 s after: {e}");
            }
            Err(e) => break format!("error {e}"),
        }
    };
    assert!(!ended.starts_with("still open"), "{ended}");
}
