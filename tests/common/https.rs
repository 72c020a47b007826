//! A TLS-aware side of the daemon helpers: start a `lookout serve` configured with
//! `server.tls_cert`/`server.tls_key` and wait until it answers /healthz over HTTPS, and make
//! raw HTTP/1.0 requests over a rustls client (ring) that trusts the test CA only.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use super::{Daemon, TOKENS, create_token};

/// A rustls client config trusting only the CA certificate in the PEM file `ca`.
pub fn client_config(ca: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("read CA") {
        roots.add(cert.expect("CA PEM")).expect("add CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Sends `request` (a whole HTTP/1.0 request) over TLS to `addr`, verifying the server as
/// `server_name`; the whole raw response, or the error (connect, handshake, read).
pub fn request_raw(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
    server_name: &str,
    request: &str,
) -> Result<String, String> {
    let tcp =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(server_name.to_string()).map_err(|e| e.to_string())?;
    let connection =
        rustls::ClientConnection::new(config.clone(), name).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    tls.write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    tls.flush().map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    match tls.read_to_end(&mut response) {
        Ok(_) => {}
        // A peer closing without close_notify: what came before is still the response.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    Ok(String::from_utf8_lossy(&response).into_owned())
}

/// (status, headers, body) of a raw response.
pub fn parse(response: &str) -> Option<(u16, String, String)> {
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, head.to_string(), body.to_string()))
}

/// GET `path` over HTTPS with the helpers' API token for `addr`: (status, body).
pub fn get(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
    path: &str,
) -> Result<(u16, String), String> {
    let auth = super::auth_header(addr);
    let response = request_raw(
        addr,
        config,
        "localhost",
        &format!(
            "GET {path} HTTP/1.0\r\nHost: localhost:{}\r\n{auth}\r\n",
            addr.port()
        ),
    )?;
    let (status, _, body) = parse(&response).ok_or_else(|| format!("no response: {response:?}"))?;
    Ok((status, body))
}

impl Daemon {
    /// `Daemon::spawn` for a daemon serving HTTPS: waits until /healthz answers 200 over TLS
    /// (verified against the CA of `config`), then registers an admin token for the helpers.
    pub fn spawn_tls(mut command: Command, config: &Arc<rustls::ClientConfig>) -> Daemon {
        let mut daemon = Daemon::launch(&mut command);
        daemon.wait_until(Duration::from_secs(20), |d| {
            get(d.addr, config, "/healthz").is_ok_and(|(status, _)| status == 200)
        });
        let token = create_token(&command, "admin");
        super::secret(&token);
        TOKENS.lock().unwrap().insert(daemon.addr, token);
        daemon
    }
}
