//! Serving the router: plain HTTP/1.1, or HTTPS with tokio-rustls (ring provider), over
//! hyper's connection driver (axum's `serve` has no TLS). Each request carries the client's
//! address (`ConnectInfo`) for the login limits. Stops accepting when told, and lets the
//! connections in flight finish.

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

/// Accepts connections until `stop` turns true, then waits for those in flight.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
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
                tracing::debug!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        let tls = tls.clone();
        let stop = stop.clone();
        connections.spawn(async move {
            match tls {
                Some(tls) => match tls.accept(stream).await {
                    Ok(stream) => serve_connection(stream, peer, app, stop).await,
                    Err(error) => tracing::debug!(%error, client = %peer, "TLS handshake failed"),
                },
                None => serve_connection(stream, peer, app, stop).await,
            }
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

async fn serve_connection<IO>(
    stream: IO,
    peer: SocketAddr,
    app: Router,
    mut stop: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app.layer(axum::Extension(ConnectInfo(peer))));
    let connection = hyper::server::conn::http1::Builder::new()
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
