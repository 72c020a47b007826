//! The dashboard in headless Chromium, for the browser tests (`dashboard_browser`,
//! `dashboard_pages`): chromedriver and a WebDriver session (fantoccini), users to log in
//! with, the login form, page scripts and waits, screenshots (in
//! `target/dashboard-screenshots/`), and an HTTP target always in maintenance.
//! chromedriver (`/usr/bin/chromedriver`) and Chromium (`/usr/bin/chromium`) must be
//! installed: without them these tests FAIL, they never pass.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

use crate::common;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

pub struct ChromeDriver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver on a free port; panics with a clear message when it cannot start.
pub fn chromedriver() -> ChromeDriver {
    chromedriver_with(&[])
}

/// `chromedriver`, with `env` set for it and the browser it starts (e.g. `TZ`).
pub fn chromedriver_with(env: &[(&str, &str)]) -> ChromeDriver {
    assert!(
        Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
        "the dashboard browser test needs {CHROMEDRIVER} and {CHROMIUM} (apt-get install chromium chromium-driver)"
    );
    // It cannot report a port of its own choosing: a free port, another if that one was
    // taken before chromedriver bound it (it exits then).
    common::with_free_port("chromedriver", |port| {
        let mut child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("chromedriver did not start ({CHROMEDRIVER}): {e}"));
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("chromedriver exited at start with {status}"));
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "chromedriver did not listen on port {port} within 15 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(ChromeDriver {
            child,
            port,
            _profile: tempfile::tempdir().unwrap(),
        })
    })
}

pub async fn browser(driver: &ChromeDriver) -> Client {
    browser_with(driver, &[]).await
}

/// `browser`, with more Chromium arguments (e.g. `--force-dark-mode`).
pub async fn browser_with(driver: &ChromeDriver, extra: &[&str]) -> Client {
    browser_with_options(driver, extra, json!({})).await
}

/// `browser_with`, with more `goog:chromeOptions` (e.g. `mobileEmulation` for a touch phone).
pub async fn browser_with_options(driver: &ChromeDriver, extra: &[&str], options: Value) -> Client {
    let mut args = vec![
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-background-networking".into(),
        "--no-first-run".into(),
        format!("--user-data-dir={}", driver._profile.path().display()),
        "--window-size=1280,800".into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let mut chrome = json!({
        "binary": CHROMIUM,
        "args": args,
    });
    for (key, value) in options.as_object().into_iter().flatten() {
        chrome[key] = value.clone();
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), chrome);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .unwrap_or_else(|e| panic!("no WebDriver session from chromedriver: {e}"))
}

pub const ADMIN_PASSWORD: &str = "correct-horse-battery-staple";
pub const VIEWER_PASSWORD: &str = "viewer-only-password-42";

/// Adds a user to the store of `config` with `lookout user add --password-stdin`.
pub fn add_user(config: &Path, name: &str, role: &str, password: &str) {
    use std::io::Write;
    let mut child = common::lookout()
        .arg("--config")
        .arg(config)
        .args(["user", "add", name, "--role", role, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = common::finish(child);
    assert!(
        out.status.success(),
        "user add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Logs in through the login form, as a person would, and waits to leave the form.
pub async fn login(client: &Client, base: &str, user: &str, password: &str) {
    use fantoccini::Locator;
    // Already on the form (sent there by a page): keep its `next`.
    if js(client, "return location.pathname").await != "/login" {
        client.goto(&format!("{base}/login")).await.unwrap();
    }
    client
        .find(Locator::Id("user"))
        .await
        .expect("the login form")
        .send_keys(user)
        .await
        .unwrap();
    client
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    client
        .find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_js(
        client,
        Duration::from_secs(5),
        "logged in: away from the login form",
        "return location.pathname",
        |v| v != "/login",
    )
    .await;
}

/// A browser logged in to the dashboard at `base` as `user` (`login`): its chromedriver,
/// which must outlive the session, and the session.
pub async fn logged_in(base: &str, user: &str, password: &str) -> (ChromeDriver, Client) {
    logged_in_with(&[], &[], base, user, password).await
}

/// `logged_in`, with `env` for chromedriver and the browser (`chromedriver_with`) and more
/// Chromium arguments (`browser_with`).
pub async fn logged_in_with(
    env: &[(&str, &str)],
    args: &[&str],
    base: &str,
    user: &str,
    password: &str,
) -> (ChromeDriver, Client) {
    let driver = chromedriver_with(env);
    let client = browser_with(&driver, args).await;
    login(&client, base, user, password).await;
    (driver, client)
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

pub async fn js(client: &Client, script: &str) -> Value {
    client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("script failed: {script}: {e}"))
}

/// Polls `script` (returning a value) every 50 ms until `ok` accepts it; returns it and the wait.
pub async fn wait_js(
    client: &Client,
    limit: Duration,
    what: &str,
    script: &str,
    ok: impl Fn(&Value) -> bool,
) -> (Value, Duration) {
    let started = Instant::now();
    loop {
        let value = js(client, script).await;
        if ok(&value) {
            return (value, started.elapsed());
        }
        assert!(
            started.elapsed() < limit,
            "not within {limit:?}: {what} (last: {value})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn open(client: &Client, url: &str) {
    client.goto(url).await.expect("goto");
    wait_js(
        client,
        Duration::from_secs(10),
        &format!("{url} rendered"),
        "return document.body.dataset.ready || null",
        |v| v == "true",
    )
    .await;
}

/// An HTTP server that always answers "in maintenance" (503 with `X-Maintenance-Active: true`).
pub fn maintenance_server() -> String {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                if common::read_request_head(&mut stream).is_none() {
                    return;
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nX-Maintenance-Active: true\r\n\
                      Content-Length: 11\r\nConnection: close\r\n\r\nmaintenance",
                );
            });
        }
    });
    format!("http://{addr}/health")
}
