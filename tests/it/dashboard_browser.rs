//! The dashboard in a real browser: headless Chromium driven through chromedriver (WebDriver,
//! fantoccini) against the real `lookout serve`, with an http check against an in-test server
//! whose answer the test flips. chromedriver (`/usr/bin/chromedriver`) and Chromium
//! (`/usr/bin/chromium`) must be installed: without them this test FAILS, it never passes.
//! Screenshots land in `target/dashboard-screenshots/` for a human to look at.

use crate::common::{self, alerting};

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::Daemon;
use alerting::{FlipServer, closed_port, http_check, poll};
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

struct ChromeDriver {
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
fn chromedriver() -> ChromeDriver {
    assert!(
        Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
        "the dashboard browser test needs {CHROMEDRIVER} and {CHROMIUM} (apt-get install chromium chromium-driver)"
    );
    // It cannot report a port of its own choosing: a free port, another if that one was
    // taken before chromedriver bound it (it exits then).
    common::with_free_port("chromedriver", |port| {
        let mut child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
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

async fn browser(driver: &ChromeDriver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--no-first-run",
                format!("--user-data-dir={}", driver._profile.path().display()),
                "--window-size=1280,800",
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .unwrap_or_else(|e| panic!("no WebDriver session from chromedriver: {e}"))
}

const ADMIN_PASSWORD: &str = "correct-horse-battery-staple";
const VIEWER_PASSWORD: &str = "viewer-only-password-42";

/// Adds a user to the store of `config` with `lookout user add --password-stdin`.
fn add_user(config: &Path, name: &str, role: &str, password: &str) {
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
async fn login(client: &Client, base: &str, user: &str, password: &str) {
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

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn js(client: &Client, script: &str) -> Value {
    client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("script failed: {script}: {e}"))
}

/// Polls `script` (returning a value) every 50 ms until `ok` accepts it; returns it and the wait.
async fn wait_js(
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

async fn open(client: &Client, url: &str) {
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
fn maintenance_server() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
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

const TILE: &str = "return (document.querySelector('[data-layer=application]') || {dataset:{}}).dataset.status || null";
const LIVE: &str = "return document.querySelector('#live .live-text').textContent";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_statuses_live_charts_and_alerts_and_falls_back_to_polling() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let app = FlipServer::start(200);
    let extra = String::from(
        "\n[alerts]\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\n\
         [[alerts.rule]]\nname = \"cpu_usage\"\nenabled = false\n\
         [[alerts.rule]]\nname = \"memory_usage\"\nenabled = false\n\
         [[alerts.rule]]\nname = \"disk_usage\"\nenabled = false\n\
         [[alerts.rule]]\nname = \"http_response_time\"\nenabled = false\n",
    ) + &http_check("app", &app.url(), "")
        + &http_check("shop", &maintenance_server(), "layer = \"business\"")
        // The shop is the app whose maintenance Lookout tracks; `app` is another one.
        + "\n[maintenance]\nchecks = [\"shop\"]\n";
    let config = common::write_config(dir.path(), 0, &extra);
    add_user(&config, "ada", "admin", ADMIN_PASSWORD);
    add_user(&config, "val", "viewer", VIEWER_PASSWORD);
    let daemon = Daemon::start(&config);
    let base = format!("http://{}", daemon.addr);
    poll(Duration::from_secs(15), "the app check ran ok", || {
        let status = daemon.json("/api/v1/status");
        status["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["check"] == "app" && c["status"] == "ok")
            .then_some(())
    });

    // Overview transfer budget: the shell and its assets.
    let transfer: usize = [
        "/",
        "/assets/app.js",
        "/assets/charts.js",
        "/assets/app.css",
    ]
    .iter()
    .map(|p| {
        let (code, body) = daemon.get(p);
        assert_eq!(code, 200, "GET {p}");
        body.len()
    })
    .sum();
    assert!(transfer < 200_000, "overview transfer {transfer} bytes");

    let driver = chromedriver();
    let client = browser(&driver).await;
    // Without a session, a page sends the browser to the login form.
    client.goto(&format!("{base}/alerts")).await.unwrap();
    wait_js(
        &client,
        Duration::from_secs(5),
        "the login form",
        "return location.pathname + location.search",
        |v| v == "/login?next=/alerts",
    )
    .await;
    screenshot(&client, "login").await;
    login(&client, &base, "ada", ADMIN_PASSWORD).await;
    let who = js(&client, "return location.pathname").await;
    assert_eq!(who, json!("/alerts"), "back where the user was going");

    // 1. The overview shows the right statuses, and the live feed is up.
    open(&client, &format!("{base}/")).await;
    wait_js(
        &client,
        Duration::from_secs(5),
        "application tile ok",
        TILE,
        |v| v == "ok",
    )
    .await;
    let system = js(
        &client,
        "return document.querySelector('[data-layer=system]').dataset.status",
    )
    .await;
    assert!(
        ["ok", "warning", "critical"].contains(&system.as_str().unwrap()),
        "{system}"
    );
    let tile_text = js(
        &client,
        "return document.querySelector('[data-layer=application]').innerText",
    )
    .await;
    assert!(tile_text.as_str().unwrap().contains("app"), "{tile_text}");
    wait_js(
        &client,
        Duration::from_secs(5),
        "live indicator",
        LIVE,
        |v| v == "live",
    )
    .await;
    let (banner, _) = wait_js(
        &client,
        Duration::from_secs(5),
        "the maintenance banner",
        "return (document.querySelector('.banner.maintenance') || {}).innerText || null",
        |v| v.as_str().is_some_and(|t| t.contains("shop")),
    )
    .await;
    eprintln!("banner: {banner}");
    screenshot(&client, "overview-ok").await;

    // 2. A status change appears within 2 s, without a reload.
    js(&client, "window.__noReload = 1; return 1").await;
    app.set(500);
    let (_, took) = wait_js(
        &client,
        Duration::from_secs(2),
        "application tile critical within 2 s of the flip",
        TILE,
        |v| v == "critical",
    )
    .await;
    assert_eq!(
        js(&client, "return window.__noReload || null").await,
        json!(1),
        "the page reloaded"
    );
    eprintln!("status change visible after {took:?}");

    // 3. The alerts page lists the firing alert.
    poll(Duration::from_secs(20), "check_failed firing", || {
        daemon.json("/api/v1/alerts")["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["rule"] == "check_failed" && a["state"] == "firing")
            .then_some(())
    });
    open(&client, &format!("{base}/alerts")).await;
    let (firing, _) = wait_js(
        &client,
        Duration::from_secs(5),
        "the firing alert on /alerts",
        "const h = [...document.querySelectorAll('h2')].find(x => x.textContent.startsWith('Firing'));\
         const list = h && h.nextElementSibling; return list ? list.innerText : null",
        |v| v.as_str().is_some_and(|t| t.contains("check_failed")),
    )
    .await;
    assert!(firing.as_str().unwrap().contains("critical"), "{firing}");
    let form = js(
        &client,
        "return !!document.querySelector('#silence-form button[type=submit]:not([disabled])')",
    )
    .await;
    assert_eq!(
        form,
        json!(true),
        "admins (no login yet) get the silence form"
    );
    screenshot(&client, "alerts").await;
    js(
        &client,
        "document.getElementById('silence-section').scrollIntoView(); return 1",
    )
    .await;
    screenshot(&client, "alerts-form").await;

    // An admin silences the alert from the form, sees it, and expires it again.
    js(
        &client,
        "const f = document.getElementById('silence-form');\
         f.matchers.value = 'check=\"app\"'; f.comment.value = 'deploying'; f.author.value = 'ops';\
         f.requestSubmit(); return 1",
    )
    .await;
    wait_js(
        &client,
        Duration::from_secs(5),
        "the new silence listed with an Expire button",
        "return document.querySelectorAll('#silences tbody tr button').length",
        |v| v == 1,
    )
    .await;
    let silences = daemon.json("/api/v1/silences");
    assert_eq!(
        silences["silences"][0]["matchers"],
        json!(["check=\"app\""]),
        "{silences}"
    );
    screenshot(&client, "alerts-silenced").await;
    js(
        &client,
        "document.querySelector('#silences tbody tr button').click(); return 1",
    )
    .await;
    wait_js(
        &client,
        Duration::from_secs(5),
        "the silence expired",
        "return document.querySelectorAll('#silences tbody tr').length",
        |v| v == 0,
    )
    .await;

    // An admin acknowledges the firing alert: it says who is on it.
    open(&client, &format!("{base}/alerts")).await;
    wait_js(
        &client,
        Duration::from_secs(5),
        "an Acknowledge button",
        "return document.querySelectorAll('button.ack').length",
        |v| v.as_u64().is_some_and(|n| n >= 1),
    )
    .await;
    js(
        &client,
        "document.querySelector('button.ack').click(); return 1",
    )
    .await;
    wait_js(
        &client,
        Duration::from_secs(5),
        "acknowledged by ada",
        "return (document.querySelector('.acked') || {}).textContent || null",
        |v| {
            v.as_str()
                .is_some_and(|t| t.contains("acknowledged by ada"))
        },
    )
    .await;
    screenshot(&client, "alerts-acknowledged").await;

    // An admin plans the shop's unplanned maintenance after the fact from the form: the
    // window is listed and the period becomes planned.
    open(&client, &format!("{base}/maintenance")).await;
    wait_js(
        &client,
        Duration::from_secs(10),
        "the unplanned period shown",
        "const n = document.getElementById('maintenance-now'); return n ? n.innerText : null",
        |v| {
            v.as_str()
                .is_some_and(|t| t.contains("Unplanned maintenance"))
        },
    )
    .await;
    js(
        &client,
        "const f = document.getElementById('maintenance-form');\
         f.reason.value = 'shop migration'; f.requestSubmit(); return 1",
    )
    .await;
    wait_js(
        &client,
        Duration::from_secs(10),
        "the window listed and the period planned",
        "const t = document.querySelector('#maintenance-windows tbody');\
         const n = document.getElementById('maintenance-now');\
         return t && n ? t.innerText + ' | ' + n.innerText : null",
        |v| {
            v.as_str().is_some_and(|t| {
                t.contains("shop migration") && t.contains("In maintenance (normal mode)")
            })
        },
    )
    .await;
    screenshot(&client, "maintenance-window").await;

    // Logout ends the session: the next page asks for the login again.
    js(
        &client,
        "document.querySelector('#logout button').click(); return 1",
    )
    .await;
    wait_js(
        &client,
        Duration::from_secs(5),
        "logged out",
        "return location.pathname",
        |v| v == "/login",
    )
    .await;
    client.goto(&format!("{base}/alerts")).await.unwrap();
    wait_js(
        &client,
        Duration::from_secs(5),
        "the login form after logout",
        "return location.pathname",
        |v| v == "/login",
    )
    .await;

    // A viewer gets neither the form nor Expire buttons, and the server refuses anyway.
    login(&client, &base, "val", VIEWER_PASSWORD).await;
    client.goto(&format!("{base}/alerts")).await.unwrap();
    let refused = client
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             fetch('/api/v1/session').then(r => r.json()).then(s =>\
               fetch('/api/v1/silences', {method: 'POST',\
                 headers: {'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf_token},\
                 body: JSON.stringify({matchers: ['check=\"app\"'], for: '1h', author: 'val', comment: 'x'})}))\
             .then(r => done(r.status), e => done(String(e)))",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(refused, json!(403), "a viewer cannot silence");
    wait_js(
        &client,
        Duration::from_secs(5),
        "the viewer's alerts page",
        "return document.querySelector('#alert-lists h2') ? (document.querySelector('#silence-form') ? 'form' : 'no form') : null",
        |v| v == "no form",
    )
    .await;
    let help = js(
        &client,
        "return document.getElementById('silence-help').textContent",
    )
    .await;
    assert!(help.as_str().unwrap().contains("viewer"), "{help}");
    open(&client, &format!("{base}/")).await;
    wait_js(
        &client,
        Duration::from_secs(5),
        "firing banner on the overview",
        "return (document.querySelector('.banner.firing') || {}).innerText || null",
        |v| v.as_str().is_some_and(|t| t.contains("check_failed")),
    )
    .await;
    screenshot(&client, "overview-critical").await;

    // The status history behind the strips has both statuses (once the store has flushed).
    poll(
        Duration::from_secs(10),
        "ok and critical in the app's history",
        || {
            let history = daemon.json("/api/v1/checks/app/history?from=-1h");
            let statuses: Vec<String> = history["history"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["status"].as_str().unwrap().to_string())
                .collect();
            (statuses.contains(&"ok".to_string()) && statuses.contains(&"critical".to_string()))
                .then_some(())
        },
    );

    // 4. The 24 h charts render with data points.
    open(&client, &format!("{base}/system?range=24h")).await;
    let (points, _) = wait_js(
        &client,
        Duration::from_secs(10),
        "the CPU chart has points",
        "const f = document.querySelector('figure[data-series=cpu_usage_ratio]');\
         const p = f && f.querySelector('svg path.line');\
         return p ? Number(p.dataset.points) : 0",
        |v| v.as_u64().is_some_and(|n| n >= 2),
    )
    .await;
    eprintln!("cpu chart points: {points}");
    let current = js(
        &client,
        "return document.querySelector('.range a[aria-current=true]').textContent",
    )
    .await;
    assert_eq!(current, json!("24h"));
    // Keyboard reading of a chart: focus it, End shows the latest value and time.
    let tip = js(
        &client,
        "const f = document.querySelector('figure[data-series=cpu_usage_ratio]');\
         const svg = f.querySelector('svg'); svg.focus();\
         svg.dispatchEvent(new KeyboardEvent('keydown', {key: 'End', bubbles: true}));\
         f.querySelector('details').open = true; return f.querySelector('.tip').textContent",
    )
    .await;
    assert!(tip.as_str().unwrap().contains('%'), "{tip}");
    wait_js(
        &client,
        Duration::from_secs(5),
        "the CPU data table",
        "return document.querySelectorAll('figure[data-series=cpu_usage_ratio] details tbody tr').length",
        |v| v.as_u64().is_some_and(|n| n >= 1),
    )
    .await;
    screenshot(&client, "system-24h").await;
    open(&client, &format!("{base}/events")).await;
    screenshot(&client, "events").await;
    open(&client, &format!("{base}/maintenance")).await;
    wait_js(
        &client,
        Duration::from_secs(5),
        "shop listed as in maintenance",
        "const c = document.querySelector('[data-check=shop]'); return c ? c.innerText : null",
        |v| v.as_str().is_some_and(|t| t.contains("maintenance")),
    )
    .await;
    // The period the admin planned: shown as planned maintenance with its end.
    wait_js(
        &client,
        Duration::from_secs(10),
        "the planned period shown",
        "const n = document.getElementById('maintenance-now'); return n ? n.innerText : null",
        |v| {
            v.as_str().is_some_and(|t| {
                t.contains("In maintenance (normal mode)") && t.contains("planned until")
            })
        },
    )
    .await;
    screenshot(&client, "maintenance").await;
    // A viewer sees the window the admin started, and no form to start another.
    wait_js(
        &client,
        Duration::from_secs(5),
        "the window listed, no form for a viewer",
        "const t = document.querySelector('#maintenance-windows tbody');\
         return t ? t.innerText + (document.getElementById('maintenance-form') ? ' | form' : ' | no form') : null",
        |v| v.as_str().is_some_and(|t| t.contains("shop migration") && t.ends_with("| no form")),
    )
    .await;
    open(&client, &format!("{base}/checks/app?range=1h")).await;
    wait_js(
        &client,
        Duration::from_secs(10),
        "the response-time chart of app has points",
        "const p = document.querySelector('figure[data-series=http_response_seconds] svg path.line');\
         return p ? Number(p.dataset.points) : 0",
        |v| v.as_u64().is_some_and(|n| n >= 1),
    )
    .await;
    screenshot(&client, "check-app").await;

    // 5. With the WebSocket unreachable the indicator says so and polling keeps the page current.
    open(&client, &format!("{base}/")).await;
    wait_js(&client, Duration::from_secs(5), "live", LIVE, |v| {
        v == "live"
    })
    .await;
    js(
        &client,
        &format!(
            "lookout.pollMs = 1000; lookout.liveUrl = 'ws://127.0.0.1:{}/api/v1/live';\
             lookout.socket.close(); return 1",
            closed_port()
        ),
    )
    .await;
    wait_js(
        &client,
        Duration::from_secs(3),
        "reconnecting shown",
        LIVE,
        |v| v == "reconnecting",
    )
    .await;
    app.set(200);
    wait_js(
        &client,
        Duration::from_secs(20),
        "recovery seen by polling",
        TILE,
        |v| v == "ok",
    )
    .await;
    assert_eq!(js(&client, LIVE).await, json!("reconnecting"));
    let polls = js(&client, "return lookout.polls").await;
    assert!(polls.as_u64().unwrap() >= 1, "{polls}");
    screenshot(&client, "overview-reconnecting").await;

    // 6. A phone-sized window.
    client.set_window_size(390, 844).await.expect("resize");
    open(&client, &format!("{base}/")).await;
    screenshot(&client, "overview-phone").await;

    client.close().await.expect("close the browser");
}
