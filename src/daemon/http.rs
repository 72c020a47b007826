//! Serving the router: plain HTTP/1.1, or HTTPS with tokio-rustls (ring provider), over
//! hyper's connection driver (axum's `serve` has no TLS). Each request carries the client's
//! address (`ConnectInfo`) for the login limits. Every connection holds a slot of the shared
//! `Connections` table (`connections.rs`: handshake, head and idle timeouts, the cap) from
//! accept to close; a connection refused at the cap gets a 503. Stops accepting when told,
//! and lets the connections in flight finish.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::connections::{Connections, Slot, Tracked};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot use {} as server.{key}: {detail}; check the path and that it is a PEM file readable by this user", .path.display())]
    File {
        key: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error("cannot set up TLS with server.tls_cert {} and server.tls_key {}: {detail}; check that the key belongs to the certificate", .cert.display(), .key.display())]
    Setup {
        cert: PathBuf,
        key: PathBuf,
        detail: String,
    },
}

/// The TLS acceptor of `cert` and `key` (PEM files), with errors naming the file at fault.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let file_error = |name, path: &Path, detail: String| TlsError::File {
        key: name,
        path: path.to_path_buf(),
        detail,
    };
    std::fs::metadata(cert).map_err(|e| file_error("tls_cert", cert, e.to_string()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error("tls_cert", cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error("tls_cert", cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error("tls_cert", cert, "no certificate in it".into()));
    }
    std::fs::metadata(key).map_err(|e| file_error("tls_key", key, e.to_string()))?;
    let private_key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| file_error("tls_key", key, format!("no private key in it ({e})")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, private_key))
        .map_err(|e| TlsError::Setup {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            detail: e.to_string(),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The answer to a connection refused at the cap, written if the socket takes it at once.
const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\nRetry-After: 1\r\n\r\n";
/// The most a connection buffers (a request head, queued response bytes): a head this large
/// is refused (431), and hostile clients cannot make hyper grow its buffers to its 400 KiB.
const MAX_BUFFER: usize = 64 * 1024;

/// Connections the kernel may queue before they are accepted (capped by
/// `net.core.somaxconn`): a burst of connections (clients held off at the cap reconnecting
/// at once) must not overflow the queue, or a health check's connection would wait for its
/// SYN to be sent again (1 s).
const LISTEN_BACKLOG: u32 = 4096;

/// A listening socket on `addr` (SO_REUSEADDR, like `TcpListener::bind`), with a backlog of
/// `LISTEN_BACKLOG`.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Accepts connections until `stop` turns true, then waits for those in flight. Every
/// connection takes a slot in `connections` (timeouts, cap) for as long as it is open.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    connections: Arc<Connections>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() { break } else { continue }
            }
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors despite the budget (something else took them): wait for
                // some to be freed rather than spin.
                if crate::fds::is_exhaustion(&error) {
                    tracing::warn!(%error, "cannot accept a web connection: out of file descriptors");
                } else {
                    tracing::debug!(%error, "accept failed");
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(admission) = connections.admit(tls.is_some()) else {
            let _ = stream.try_write(REFUSED);
            continue;
        };
        let slot = admission.slot();
        let stream = Tracked::new(stream, admission);
        let app = app.clone();
        let tls = tls.clone();
        let stop = stop.clone();
        let served = slot.clone();
        let task = tasks.spawn(async move {
            // Idle connections (the cap's usual victims) never get a TLS session or an HTTP
            // connection driver: both are made once the client has sent something.
            if stream.readable().await.is_err() {
                return;
            }
            match tls {
                // The handshake's deadline is kept by the table (Handshake phase).
                Some(tls) => match tls.accept(stream).await {
                    Ok(stream) => {
                        served.handshake_done();
                        serve_connection(stream, peer, app, served, stop).await
                    }
                    Err(error) => tracing::debug!(%error, client = %peer, "TLS handshake failed"),
                },
                None => serve_connection(stream, peer, app, served, stop).await,
            }
        });
        slot.attach(task);
        while tasks.try_join_next().is_some() {}
        // The new connection's task runs next (tokio's LIFO slot): it reads the request
        // that is usually already there before a burst of accepts could make it the
        // oldest waiting connection at the cap.
        tokio::task::yield_now().await;
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
}

async fn serve_connection<IO>(
    stream: IO,
    peer: SocketAddr,
    app: Router,
    slot: Arc<Slot>,
    mut stop: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // The router as it is (layering it per connection would rebuild every route for each
    // connection, also for those that never send a request); the client's address goes
    // into each request instead.
    let inner = TowerToHyperService::new(app);
    // Tells the table when a request is in flight, and when the connection is upgraded.
    let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
        slot.request_started();
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = hyper::service::Service::call(&inner, request);
        let slot = slot.clone();
        async move {
            let response = response.await;
            let upgraded = response
                .as_ref()
                .is_ok_and(|r| r.status() == hyper::StatusCode::SWITCHING_PROTOCOLS);
            slot.response_sent(upgraded);
            response
        }
    });
    // Head and idle timeouts are the table's (hyper's header timer would also cut idle
    // keep-alive connections at the head's timeout).
    let connection = hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None)
        .max_buf_size(MAX_BUFFER)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    let stopped = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, client = %peer, "connection ended with an error");
            }
        }
        () = stopped => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
