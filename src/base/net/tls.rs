//! TLS for every HTTP or TCP client of Lookout (the network checks, notifiers, maintenance,
//! remote write, heartbeat, doctor): `TlsSettings` and the rustls client configuration from them (public webpki roots + `ca_file`, optional client certificate, an explicit
//! `insecure_skip_verify`), the peer certificate's expiry (x509-parser on its DER), and the
//! one-line reasons for handshake failures ("TLS: certificate expired 3 days ago").
//!
//! Series (recorded by the checks that use this): `tls_certificate_expiry_seconds` — seconds
//! until the peer certificate's notAfter (negative once expired).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::model::Status;

/// How a network check verifies and reports on TLS.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSettings {
    /// `server_name`: the name the certificate must be valid for (default: the host).
    pub server_name: Option<String>,
    /// `ca_file`: PEM file of extra CA certificates, trusted besides the public roots.
    pub ca_file: Option<PathBuf>,
    /// `client_cert`: PEM certificate chain to present (needs `client_key`).
    pub client_cert: Option<PathBuf>,
    /// `client_key`: PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// `insecure_skip_verify`: accept any certificate (default false). Expiry is still reported.
    pub insecure_skip_verify: bool,
    /// `cert_expiry_warning`: warn when the certificate expires within this (default 14d).
    pub cert_expiry_warning: Duration,
    /// `cert_expiry_critical`: critical when it expires within this (default 3d).
    pub cert_expiry_critical: Duration,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            server_name: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
            insecure_skip_verify: false,
            cert_expiry_warning: Duration::from_secs(14 * 86_400),
            cert_expiry_critical: Duration::from_secs(3 * 86_400),
        }
    }
}

/// The client configuration for `settings`, built on first use and kept.
pub struct TlsClient {
    settings: TlsSettings,
    alpn: Option<&'static [u8]>,
    built: Option<Arc<ClientConfig>>,
}

impl TlsClient {
    /// `alpn`: the protocol to offer (b"http/1.1" for HTTP), if any.
    pub fn new(settings: TlsSettings, alpn: Option<&'static [u8]>) -> TlsClient {
        TlsClient {
            settings,
            alpn,
            built: None,
        }
    }

    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// The configuration, or why it cannot be built (a missing or bad PEM file). Files are read
    /// again on the next attempt after a failure, so fixing them needs no restart.
    pub fn config(&mut self) -> Result<Arc<ClientConfig>, String> {
        if let Some(config) = &self.built {
            return Ok(config.clone());
        }
        let config = build(&self.settings, self.alpn)?;
        self.built = Some(config.clone());
        Ok(config)
    }

    /// The name the certificate must be valid for: `server_name` or the host.
    pub fn server_name(&self, host: &str) -> Result<ServerName<'static>, String> {
        let name = self.settings.server_name.as_deref().unwrap_or(host);
        ServerName::try_from(name.to_string())
            .map_err(|_| format!("TLS: {name:?} is not a valid server name"))
    }
}

fn build(settings: &TlsSettings, alpn: Option<&'static [u8]>) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = if settings.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
    } else {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = &settings.ca_file {
            let certs = read_certs(path, "ca_file")?;
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            }
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match (&settings.client_cert, &settings.client_key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert, "client_cert")?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("client_key {}: {}", key.display(), pem_error(&e)))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client_cert: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    if let Some(alpn) = alpn {
        config.alpn_protocols = vec![alpn.to_vec()];
    }
    Ok(Arc::new(config))
}

fn read_certs(path: &std::path::Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{key} {}: {}", path.display(), pem_error(&e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{key} {}: {}", path.display(), pem_error(&e)))?;
    if certs.is_empty() {
        return Err(format!(
            "{key} {}: no PEM certificates in it",
            path.display()
        ));
    }
    Ok(certs)
}

fn pem_error(error: &rustls::pki_types::pem::Error) -> String {
    match error {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM item of the expected kind".into(),
        other => format!("not valid PEM ({other:?})"),
    }
}

/// `insecure_skip_verify = true`: any certificate chain is accepted, but the handshake
/// signatures are still checked (so the peer holds the key of the certificate it shows).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The peer certificate's facts that a check reports.
#[derive(Debug, Clone, PartialEq)]
pub struct CertInfo {
    /// notAfter, Unix seconds.
    pub not_after: i64,
    pub subject: String,
}

/// Facts of the leaf certificate the peer presented, if any and parseable.
pub fn peer_certificate(connection: &rustls::ClientConnection) -> Option<CertInfo> {
    let leaf = connection.peer_certificates()?.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    Some(CertInfo {
        not_after: cert.validity().not_after.timestamp(),
        subject: cert.subject().to_string(),
    })
}

/// "3 days" / "1 day" / "5 hours" for a span of seconds.
fn span(seconds: i64) -> String {
    let seconds = seconds.unsigned_abs();
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    if seconds >= 86_400 {
        plural(seconds / 86_400, "day")
    } else if seconds >= 3_600 {
        plural(seconds / 3_600, "hour")
    } else {
        plural(seconds / 60, "minute")
    }
}

/// The expiry's status and one-line description, `now_s` in Unix seconds.
pub fn grade_expiry(cert: &CertInfo, now_s: i64, settings: &TlsSettings) -> (Status, String) {
    let left = cert.not_after - now_s;
    if left <= 0 {
        return (
            Status::Critical,
            format!("TLS: certificate expired {} ago", span(left)),
        );
    }
    let text = format!("certificate expires in {}", span(left));
    let as_duration = Duration::from_secs(left as u64);
    if as_duration <= settings.cert_expiry_critical {
        (Status::Critical, format!("TLS: {text}"))
    } else if as_duration <= settings.cert_expiry_warning {
        (Status::Warning, format!("TLS: {text}"))
    } else {
        (Status::Ok, text)
    }
}

/// The one-line reason for a failed handshake.
pub fn describe_handshake_error(error: &std::io::Error) -> String {
    let Some(tls) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return match error.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                "TLS: the server closed the connection during the handshake".to_string()
            }
            _ => format!("TLS: {error}"),
        };
    };
    match tls {
        rustls::Error::InvalidCertificate(certificate) => match certificate {
            CertificateError::Expired => "TLS: certificate expired".to_string(),
            CertificateError::ExpiredContext { time, not_after } => {
                let ago = time.as_secs() as i64 - not_after.as_secs() as i64;
                format!("TLS: certificate expired {} ago", span(ago.max(60)))
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "TLS: certificate is not valid yet".to_string()
            }
            CertificateError::UnknownIssuer => {
                "TLS: certificate not trusted (unknown issuer; set ca_file for a private CA)"
                    .to_string()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "TLS: certificate is not valid for this host name (see server_name)".to_string()
            }
            CertificateError::BadSignature => "TLS: certificate has a bad signature".to_string(),
            CertificateError::Revoked => "TLS: certificate is revoked".to_string(),
            other => format!("TLS: invalid certificate ({other:?})"),
        },
        other => format!("TLS: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_graded_by_the_settings() {
        let settings = TlsSettings::default();
        let cert = |days: i64| CertInfo {
            not_after: 1_000_000 + days * 86_400,
            subject: String::new(),
        };
        let cases = [
            (60, Status::Ok, "certificate expires in 60 days"),
            (10, Status::Warning, "TLS: certificate expires in 10 days"),
            (2, Status::Critical, "TLS: certificate expires in 2 days"),
            (-3, Status::Critical, "TLS: certificate expired 3 days ago"),
        ];
        for (days, status, text) in cases {
            assert_eq!(
                grade_expiry(&cert(days), 1_000_000, &settings),
                (status, text.to_string()),
                "{days}"
            );
        }
    }

    #[test]
    fn handshake_errors_read_as_one_line() {
        let wrap =
            |error: rustls::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, error);
        let expired = CertificateError::ExpiredContext {
            time: UnixTime::since_unix_epoch(Duration::from_secs(1_000_000 + 3 * 86_400 + 5)),
            not_after: UnixTime::since_unix_epoch(Duration::from_secs(1_000_000)),
        };
        let cases = [
            (
                wrap(rustls::Error::InvalidCertificate(expired)),
                "TLS: certificate expired 3 days ago",
            ),
            (
                wrap(rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer,
                )),
                "TLS: certificate not trusted (unknown issuer; set ca_file for a private CA)",
            ),
            (
                std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
                "TLS: the server closed the connection during the handshake",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(describe_handshake_error(&error), text);
        }
    }

    #[test]
    fn missing_ca_file_is_a_reason_not_a_panic() {
        let settings = TlsSettings {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsSettings::default()
        };
        let error = TlsClient::new(settings, None)
            .config()
            .err()
            .unwrap_or_default();
        assert!(
            error.starts_with("ca_file /nonexistent/ca.pem: "),
            "{error}"
        );
    }
}
