//! The dashboard over HTTPS with the real binary: `server.tls_cert`/`server.tls_key` made by
//! the openssl CLI (a private CA and a leaf for 127.0.0.1/localhost), a rustls client that
//! trusts that CA only, the session cookie's attributes with and without TLS, and what a bad
//! TLS setup does to `lookout serve`.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::https::{self, client_config};
use crate::common::tls::make_certs;
use crate::common::*;

const PASSWORD: &str = "correct-horse-battery";

fn add_admin(config: &Path, name: &str) {
    let mut child = lookout()
        .arg("--config")
        .arg(config)
        .args(["user", "add", name, "--role", "admin", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{PASSWORD}").unwrap();
    drop(stdin);
    let output = finish(child);
    assert!(output.status.success(), "{}", text(&output.stderr));
}

fn login_request(host: &str, user: &str, password: &str) -> String {
    let body = format!("user={user}&password={password}&next=%2F");
    format!(
        "POST /login HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The `Set-Cookie: lookout_session=...` line of a response head.
fn session_cookie(head: &str) -> String {
    head.lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: lookout_session=")
        })
        .unwrap_or_else(|| panic!("no session cookie in {head}"))
        .to_string()
}

fn tls_extra(dir: &Path) -> String {
    format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
        dir.join("leaf.pem").display(),
        dir.join("leaf.key").display()
    )
}

/// A config whose `[server]` also has `server_extra` (`write_config` puts `extra` at the end,
/// after `[system]`, so the server keys are put in place here).
fn write_server_config(dir: &Path, port: u16, server_extra: &str) -> std::path::PathBuf {
    let path = write_config(dir, port, "");
    let body = std::fs::read_to_string(&path).unwrap();
    let body = body.replacen("\n\n[storage]", &format!("\n{server_extra}\n[storage]"), 1);
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn https_end_to_end_with_a_private_ca() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path(), 30);
    let config = write_server_config(dir.path(), 0, &tls_extra(dir.path()));
    add_admin(&config, "alice");
    let client = client_config(&dir.path().join("ca.pem"));
    let mut command = lookout();
    command.args(["serve", "--config"]).arg(&config);
    let daemon = Daemon::spawn_tls(command, &client);
    let addr = daemon.addr;
    let port = addr.port();

    // /healthz and the API (with the helpers' token) over TLS, by IP and by DNS name.
    let (status, body) = https::get(addr, &client, "/healthz").unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(https::get(addr, &client, "/api/v1/status").unwrap().0, 200);
    let by_ip = https::request_raw(
        addr,
        &client,
        "127.0.0.1",
        &format!("GET /healthz HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"),
    )
    .unwrap();
    assert!(
        by_ip.starts_with("HTTP/1.0 200") || by_ip.starts_with("HTTP/1.1 200"),
        "{by_ip}"
    );

    // A client that does not trust the private CA gets no answer.
    let other = tempfile::tempdir().unwrap();
    make_certs(other.path(), 30);
    let stranger = client_config(&other.path().join("ca.pem"));
    let refused = https::get(addr, &stranger, "/healthz");
    assert!(refused.is_err(), "{refused:?}");

    // Plain HTTP to the TLS port: no HTTP answer, and the daemon keeps serving.
    assert_eq!(http_get(addr, "/healthz"), None);
    assert_eq!(https::get(addr, &client, "/healthz").unwrap().0, 200);

    // Login over TLS: the session cookie is HttpOnly, SameSite=Strict and Secure.
    let response = https::request_raw(
        addr,
        &client,
        "localhost",
        &login_request("localhost", "alice", PASSWORD),
    )
    .unwrap();
    let (status, head, _) = https::parse(&response).unwrap();
    assert_eq!(status, 303, "{response}");
    let cookie = session_cookie(&head);
    assert!(cookie.contains("; HttpOnly"), "{cookie}");
    assert!(cookie.contains("; SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    // The session works over TLS: /api/v1/session knows alice.
    let value = cookie
        .split_once("lookout_session=")
        .unwrap()
        .1
        .split(';')
        .next()
        .unwrap();
    let response = https::request_raw(
        addr,
        &client,
        "localhost",
        &format!(
            "GET /api/v1/session HTTP/1.0\r\nHost: localhost\r\nCookie: lookout_session={value}\r\n\r\n"
        ),
    )
    .unwrap();
    let (status, _, body) = https::parse(&response).unwrap();
    assert_eq!(status, 200, "{response}");
    assert!(body.contains("\"user\":\"alice\""), "{body}");
    // A wrong password over TLS is refused like over HTTP.
    let wrong = login_request("localhost", "alice", "not-the-password1");
    let response = https::request_raw(addr, &client, "localhost", &wrong).unwrap();
    assert_eq!(https::parse(&response).unwrap().0, 401, "{response}");
}

#[test]
fn login_over_plain_http_sets_no_secure_flag() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 0, "");
    add_admin(&config, "alice");
    let daemon = Daemon::start(&config);
    let mut stream = std::net::TcpStream::connect(daemon.addr).unwrap();
    use std::io::{Read, Write};
    stream
        .write_all(login_request(&daemon.addr.to_string(), "alice", PASSWORD).as_bytes())
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (status, head, _) = https::parse(&response).unwrap();
    assert_eq!(status, 303, "{response}");
    let cookie = session_cookie(&head);
    assert!(
        cookie.contains("; HttpOnly") && cookie.contains("; SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
}

/// Runs `lookout serve --config config`, which must exit by itself: (exit code, stderr).
fn serve_exit(config: &Path) -> (Option<i32>, String) {
    let mut child = lookout()
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!("lookout serve did not exit: {}", text(&output.stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    collect_log("cli", &text(&output.stderr));
    (output.status.code(), text(&output.stderr))
}

#[test]
fn a_bad_tls_setup_stops_serve_with_the_file_named() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path(), 30);
    let port = free_port();
    let missing = dir.path().join("nowhere.pem");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not a PEM file\n").unwrap();
    let leaf_key = dir.path().join("leaf.key");
    let leaf_pem = dir.path().join("leaf.pem");
    let ca_key = dir.path().join("ca.key");
    let setups = [
        (&missing, &leaf_key, &missing, "server.tls_cert"),
        (&garbage, &leaf_key, &garbage, "server.tls_cert"),
        (&leaf_pem, &garbage, &garbage, "server.tls_key"),
        (&leaf_pem, &missing, &missing, "server.tls_key"),
    ];
    for (cert, key, named, key_name) in setups {
        let extra = format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
            cert.display(),
            key.display()
        );
        let config = write_server_config(dir.path(), port, &extra);
        let (code, stderr) = serve_exit(&config);
        assert_eq!(code, Some(2), "{stderr}");
        let named = named.display().to_string();
        assert!(
            stderr.contains(&named) && stderr.contains(key_name),
            "expected {named} and {key_name} in: {stderr}"
        );
    }
    // A key that is not the certificate's: both files are named.
    let extra = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
        leaf_pem.display(),
        ca_key.display()
    );
    let config = write_server_config(dir.path(), port, &extra);
    let (code, stderr) = serve_exit(&config);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&leaf_pem.display().to_string())
            && stderr.contains(&ca_key.display().to_string()),
        "{stderr}"
    );
    // Nothing was left listening.
    assert_eq!(http_get(([127, 0, 0, 1], port).into(), "/healthz"), None);
}

#[test]
fn half_a_tls_setup_is_a_config_error() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path(), 30);
    for (key, other, file) in [
        ("tls_cert", "tls_key", "leaf.pem"),
        ("tls_key", "tls_cert", "leaf.key"),
    ] {
        let extra = format!("{key} = \"{}\"\n", dir.path().join(file).display());
        let config = write_server_config(dir.path(), 0, &extra);
        let (code, stderr) = serve_exit(&config);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "lookout.toml:3:{}: server.{key}: is set but server.{other} is not",
                key.len() + 4
            )),
            "{stderr}"
        );
        let check = run(&["config", "check", config.to_str().unwrap()], dir.path());
        assert!(!check.status.success());
        assert!(
            text(&check.stderr).contains(&format!("server.{key}: is set but")),
            "{}",
            text(&check.stderr)
        );
    }
}
