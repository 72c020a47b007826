//! tcp checks against real sockets: refused, accepted, and a TLS handshake against a
//! tokio-rustls server with a CA and leaf made by the openssl CLI.

use std::sync::Arc;

use crate::common::tls::make_certs;

use lookout::config::from_str;
use lookout::model::{Observation, Status};
use lookout::probes::Probe;
use lookout::probes::checks::CheckProbe;

use crate::common::checks::{probe, sample};

async fn run(keys: &str) -> Observation {
    let text = format!("[[check]]\nname = \"db\"\ntype = \"tcp\"\nretries = 0\n{keys}\n");
    probe(&text, &|_| None).run(1_900_000_000_000).await
}

#[tokio::test]
async fn refused_is_critical_and_accepted_is_ok() {
    let _machine = crate::common::machine::shared();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();

    let o = run(&format!("address = \"{closed}\"")).await;
    assert_eq!(o.checks[0].status, Status::Critical);
    assert_eq!(
        o.checks[0].detail,
        format!("connection refused to {closed}")
    );
    assert_eq!(sample(&o, "check_up"), Some(0.0));

    let o = run(&format!("address = \"{open}\"")).await;
    assert_eq!(o.checks[0].status, Status::Ok, "{}", o.checks[0].detail);
    assert!(
        o.checks[0]
            .detail
            .starts_with(&format!("connected to {open} in ")),
        "{}",
        o.checks[0].detail
    );
    let seconds = sample(&o, "tcp_connect_seconds").unwrap();
    assert!((0.0..1.0).contains(&seconds));
    assert!(o.checks[0].value.unwrap() >= seconds);
    drop(listener);
}

#[tokio::test]
async fn a_hostname_resolves_and_a_bad_one_is_critical() {
    let _machine = crate::common::machine::shared();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let o = run(&format!("address = \"localhost:{port}\"")).await;
    assert_eq!(o.checks[0].status, Status::Ok, "{}", o.checks[0].detail);
    let o = run("address = \"no-such-host.invalid:5432\"").await;
    assert_eq!(o.checks[0].status, Status::Critical);
    assert!(
        o.checks[0]
            .detail
            .starts_with("DNS: cannot resolve no-such-host.invalid"),
        "{}",
        o.checks[0].detail
    );
}

#[test]
fn an_address_without_a_port_is_a_config_problem() {
    let _machine = crate::common::machine::shared();
    let text = "[[check]]\nname = \"db\"\ntype = \"tcp\"\naddress = \"localhost\"\ntls = \"yes\"\n";
    let error = from_str(text, "t.toml", &|_| None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        error,
        "t.toml:4:11: check \"db\".address: \"localhost\" has no port; expected \"host:port\", like \"127.0.0.1:5432\"\n\
         t.toml:5:7: check \"db\".tls: expected a boolean (true or false), found a string"
    );
}

#[tokio::test]
async fn tls_handshake_is_verified_and_the_certificate_reported() {
    let _machine = crate::common::machine::shared();
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path(), 60);
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(dir.path().join("leaf.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.path().join("leaf.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(stream) = acceptor.accept(socket).await {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    drop(stream);
                }
            });
        }
    });

    let o = run(&format!("address = \"{address}\"\ntls = true")).await;
    assert_eq!(o.checks[0].status, Status::Critical);
    assert_eq!(
        o.checks[0].detail,
        "TLS: certificate not trusted (unknown issuer; set ca_file for a private CA)"
    );

    let ca = dir.path().join("ca.pem");
    // The run is stamped at a fixed time; expiry is computed from the stamp, so use real time.
    let text = format!(
        "[[check]]\nname = \"db\"\ntype = \"tcp\"\nretries = 0\naddress = \"{address}\"\ntls = true\nca_file = \"{}\"\n",
        ca.display()
    );
    let config = from_str(&text, "t.toml", &|_| None).unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let o = CheckProbe::from_config(&config.checks[0]).run(now_ms).await;
    assert_eq!(o.checks[0].status, Status::Ok, "{}", o.checks[0].detail);
    assert!(
        o.checks[0]
            .detail
            .ends_with(", certificate expires in 59 days")
            || o.checks[0]
                .detail
                .ends_with(", certificate expires in 60 days"),
        "{}",
        o.checks[0].detail
    );
    let left = sample(&o, "tls_certificate_expiry_seconds").unwrap();
    assert!(
        (59.0 * 86_400.0..=60.0 * 86_400.0).contains(&left),
        "{left}"
    );
    assert!(sample(&o, "tcp_tls_seconds").is_some());

    // With `server_name` the certificate must be valid for that name.
    let o = run(&format!(
        "address = \"{address}\"\ntls = true\nca_file = \"{}\"\nserver_name = \"db.example\"",
        ca.display()
    ))
    .await;
    assert_eq!(o.checks[0].status, Status::Critical);
    assert_eq!(
        o.checks[0].detail,
        "TLS: certificate is not valid for this host name (see server_name)"
    );
}
