//! The dashboard in a real browser: headless Chromium driven through chromedriver (WebDriver,
//! fantoccini) against the real `lookout serve`, with an http check against an in-test server
//! whose answer the test flips. chromedriver (`/usr/bin/chromedriver`) and Chromium
//! (`/usr/bin/chromium`) must be installed: without them this test FAILS, it never passes.
//! Screenshots land in `target/dashboard-screenshots/` for a human to look at.

use std::time::Duration;

use fantoccini::Client;
use serde_json::json;

use crate::common::alerting::{self, FlipServer, closed_port, http_check, poll, until_firing};
use crate::common::browser::{
    ADMIN_PASSWORD, VIEWER_PASSWORD, add_user, browser, chromedriver, js, logged_in, login,
    maintenance_server, open, screenshot, wait_js,
};
use crate::common::{self, Daemon};

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

    // Overview transfer budget: the shell and its assets, counted uncompressed (on the wire they
    // are gzip'd, ~20 KB): within the first-load budget of 300 KB even without compression.
    let transfer: usize = [
        "/",
        "/assets/app.js",
        "/assets/charts.js",
        "/assets/uPlot.iife.min.js",
        "/assets/app.css",
        "/assets/uPlot.min.css",
        "/assets/charts.css",
    ]
    .iter()
    .map(|p| {
        let (code, body) = daemon.get(p);
        assert_eq!(code, 200, "GET {p}");
        body.len()
    })
    .sum();
    assert!(transfer < 300_000, "overview transfer {transfer} bytes");

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
    until_firing(&daemon, "check_failed");
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
         return f && f.querySelector('canvas') ? Number(f.dataset.points) : 0",
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
         const plot = f.querySelector('.plot'); plot.focus();\
         plot.dispatchEvent(new KeyboardEvent('keydown', {key: 'End', bubbles: true}));\
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
        "const f = document.querySelector('figure[data-series=http_response_seconds]');\
         return f && f.querySelector('canvas') ? Number(f.dataset.points) : 0",
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

/// The chart of `series` (a `figure[data-series=...]`) on the page, in a script.
fn fig(series: &str) -> String {
    format!("document.querySelector('figure[data-series={series}]')")
}

/// Where a chart's plot area is, for the mouse: its `.u-over` element.
async fn plot_area(client: &Client, series: &str) -> fantoccini::elements::Element {
    client
        .find(fantoccini::Locator::Css(&format!(
            "figure[data-series={series}] .u-over"
        )))
        .await
        .unwrap_or_else(|e| panic!("the plot area of {series}: {e}"))
}

/// The theme: light or dark, as the dashboard's toggle sets it.
async fn theme(client: &Client, dark: bool) {
    js(
        client,
        &format!(
            "document.documentElement.dataset.theme = '{}';\
             document.dispatchEvent(new Event('lookout-theme')); return 1",
            if dark { "dark" } else { "light" }
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Issue 18's charts (uPlot, charts.js), in a browser against the real daemon: the thresholds
/// of the config (not constants), units on whole-number and nicely rounded ticks, y labels that
/// fit inside the chart, a gap where the probes failed, the range of a young install, drag to
/// zoom (double-click resets) and a crosshair shared by the charts of a page. Screenshots of
/// /system and a check page, desktop and phone, light and dark, land in the screenshots folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charts_draw_config_thresholds_fitting_units_gaps_zoom_and_a_shared_crosshair() {
    let _machine = crate::common::machine::shared();
    use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
    let dir = tempfile::tempdir().unwrap();
    let target = alerting::Switch::start();
    let extra = String::from("[system.thresholds]\ncpu_warning = \"60%\"\n")
        + &http_check("app", &format!("http://{}/health", target.addr), "")
        + "\n[[check]]\nname = \"cache\"\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379/9\"\n\
           interval = \"1s\"\n";
    let config = common::write_config(dir.path(), 0, &extra);
    add_user(&config, "ada", "admin", ADMIN_PASSWORD);
    let daemon = Daemon::start(&config);
    let base = format!("http://{}", daemon.addr);
    let points = |name: &str, check: &str| -> Vec<i64> {
        daemon.json(&format!(
            "/api/v1/series?name={name}&check={check}&from=-1h"
        ))["series"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["points"].as_array().unwrap().clone())
            .filter(|p| !p["avg"].is_null())
            .map(|p| p["at"].as_i64().unwrap())
            .collect()
    };
    poll(
        Duration::from_secs(20),
        "a few response times of app",
        || (points("http_response_seconds", "app").len() >= 4).then_some(()),
    );
    // The target goes dark for 5 s: the probes fail (connection refused) and write no
    // response time; then it answers again.
    target.set(false);
    std::thread::sleep(Duration::from_secs(5));
    target.set(true);
    let before = points("http_response_seconds", "app").len();
    poll(
        Duration::from_secs(20),
        "response times after the outage",
        || (points("http_response_seconds", "app").len() >= before + 3).then_some(()),
    );
    poll(
        Duration::from_secs(20),
        "connected clients of cache",
        || (!points("redis_connected_clients", "cache").is_empty()).then_some(()),
    );

    let (_driver, client) = logged_in(&base, "ada", ADMIN_PASSWORD).await;
    client.set_window_size(1440, 900).await.expect("resize");

    // 1. /system, 24 h: the charts are drawn.
    open(&client, &format!("{base}/system?range=24h")).await;
    let cpu = fig("cpu_usage_ratio");
    wait_js(
        &client,
        Duration::from_secs(10),
        "the CPU chart drawn",
        &format!("const f = {cpu}; return f && f.dataset.yTicks ? Number(f.dataset.points) : 0"),
        |v| v.as_u64().is_some_and(|n| n >= 2),
    )
    .await;

    // 2. A young install's data fills the chart: the 24 h range starts at its first point.
    let (x_min, x_max) = (
        js(&client, &format!("return Number({cpu}.dataset.xMin)")).await,
        js(&client, &format!("return Number({cpu}.dataset.xMax)")).await,
    );
    let span_ms = x_max.as_f64().unwrap() - x_min.as_f64().unwrap();
    assert!(
        span_ms < 3_600_000.0,
        "a daemon a minute old shows {span_ms} ms of x axis, not its data"
    );

    // 3. Every y tick label fits inside its chart (measured with the axis font), ticks carry
    // their unit, and bytes use binary units.
    let fits = js(
        &client,
        "const out = [];\
         for (const c of lookout.charts) {\
           if (!c.u || !c.el.isConnected) continue;\
           const axis = c.u.axes[1], g = document.createElement('canvas').getContext('2d');\
           g.font = axis.font[0];\
           const plotLeft = c.u.over.offsetLeft;\
           for (const label of JSON.parse(c.el.dataset.yTicks || '[]')) {\
             const w = g.measureText(label).width / devicePixelRatio;\
             out.push({series: c.el.dataset.series, label, room: plotLeft - axis.ticks.size - axis.gap - w});\
           }\
         }\
         return out",
    )
    .await;
    let labels = fits.as_array().unwrap();
    assert!(labels.len() >= 8, "y tick labels of /system: {fits}");
    for l in labels {
        assert!(
            l["room"].as_f64().unwrap() >= 0.0,
            "a y label is clipped on the left: {l}"
        );
        let (series, label) = (l["series"].as_str().unwrap(), l["label"].as_str().unwrap());
        if series.ends_with("_ratio") && label != "0" {
            assert!(label.ends_with(" %"), "{l}");
        }
        if series.starts_with("network_") && label != "0" {
            assert!(
                label.ends_with("B/s") && !label.contains("KB") && !label.contains("MB"),
                "{l}"
            );
        }
    }

    // 4. Drag to zoom: the x range of the CPU chart shrinks, and the memory chart follows.
    let memory = fig("memory_usage_ratio");
    let over = plot_area(&client, "cpu_usage_ratio").await;
    client
        .perform_actions(
            MouseActions::new("mouse".into())
                .then(PointerAction::MoveToElement {
                    element: over.clone(),
                    duration: None,
                    x: -120.0,
                    y: 0.0,
                })
                .then(PointerAction::Down {
                    button: MOUSE_BUTTON_LEFT,
                })
                .then(PointerAction::MoveBy {
                    duration: Some(Duration::from_millis(200)),
                    x: 80.0,
                    y: 0.0,
                })
                .then(PointerAction::MoveBy {
                    duration: Some(Duration::from_millis(200)),
                    x: 80.0,
                    y: 0.0,
                })
                .then(PointerAction::Up {
                    button: MOUSE_BUTTON_LEFT,
                }),
        )
        .await
        .expect("drag over the CPU chart");
    let (zoomed, _) = wait_js(
        &client,
        Duration::from_secs(3),
        "the CPU chart zoomed",
        &format!("const f = {cpu}; return f.dataset.zoomed ? Number(f.dataset.xMax) - Number(f.dataset.xMin) : null"),
        |v| v.is_number(),
    )
    .await;
    assert!(
        zoomed.as_f64().unwrap() < span_ms * 0.6,
        "zoomed to {zoomed} ms of {span_ms}"
    );
    let both = js(
        &client,
        &format!("return [{cpu}.dataset.xMin, {cpu}.dataset.xMax, {memory}.dataset.xMin, {memory}.dataset.xMax]"),
    )
    .await;
    let at = |i: usize| both[i].as_str().unwrap().parse::<f64>().unwrap();
    assert!(
        (at(0) - at(2)).abs() < 1_000.0 && (at(1) - at(3)).abs() < 1_000.0,
        "the memory chart zoomed along (to the second): {both}"
    );

    // 5. A shared crosshair: hovering the CPU chart moves the memory chart's cursor to the
    // same time.
    client
        .perform_actions(
            MouseActions::new("mouse".into()).then(PointerAction::MoveToElement {
                element: over.clone(),
                duration: None,
                x: 30.0,
                y: 10.0,
            }),
        )
        .await
        .expect("hover the CPU chart");
    let (cursor, _) = wait_js(
        &client,
        Duration::from_secs(3),
        "the crosshair on both charts",
        &format!("const a = {cpu}.dataset.cursor, b = {memory}.dataset.cursor; return a && b ? [a, b] : null"),
        |v| !v.is_null(),
    )
    .await;
    let (a, b) = (
        cursor[0].as_str().unwrap().parse::<f64>().unwrap(),
        cursor[1].as_str().unwrap().parse::<f64>().unwrap(),
    );
    assert!((a - b).abs() <= 2_000.0, "cursors at {a} and {b}");
    let memory_cursor = js(
        &client,
        &format!("return {memory}.querySelector('.u-cursor-x').style.transform"),
    )
    .await;
    assert!(
        memory_cursor
            .as_str()
            .is_some_and(|t| t.contains("translate")),
        "{memory_cursor}"
    );

    // Double-click resets the zoom of both.
    client
        .perform_actions(
            MouseActions::new("mouse".into())
                .then(PointerAction::Down {
                    button: MOUSE_BUTTON_LEFT,
                })
                .then(PointerAction::Up {
                    button: MOUSE_BUTTON_LEFT,
                })
                .then(PointerAction::Down {
                    button: MOUSE_BUTTON_LEFT,
                })
                .then(PointerAction::Up {
                    button: MOUSE_BUTTON_LEFT,
                }),
        )
        .await
        .expect("double-click the CPU chart");
    wait_js(
        &client,
        Duration::from_secs(3),
        "the zoom reset on both charts",
        &format!("return !{cpu}.dataset.zoomed && !{memory}.dataset.zoomed"),
        |v| v == true,
    )
    .await;

    // 6. Keyboard reading and the data table: End reads the latest value; the table's
    // scrolling region takes the focus.
    let tip = js(
        &client,
        &format!(
            "const f = {cpu}; const p = f.querySelector('.plot'); p.focus();\
             p.dispatchEvent(new KeyboardEvent('keydown', {{key: 'End', bubbles: true}}));\
             p.dispatchEvent(new KeyboardEvent('keydown', {{key: 'ArrowLeft', bubbles: true}}));\
             f.querySelector('details').open = true; return f.querySelector('.tip').textContent"
        ),
    )
    .await;
    assert!(tip.as_str().unwrap().contains('%'), "{tip}");
    let region = wait_js(
        &client,
        Duration::from_secs(5),
        "the CPU data table in a focusable region",
        &format!("const w = {cpu}.querySelector('details .table-wrap');\
                  return w && w.querySelectorAll('tbody tr').length ? [w.tabIndex, w.getAttribute('role'), w.getAttribute('aria-label')] : null"),
        |v| !v.is_null(),
    )
    .await
    .0;
    assert_eq!(region[0], json!(0), "{region}");
    assert_eq!(region[1], json!("region"), "{region}");
    screenshot(&client, "charts-system-desktop-light").await;
    theme(&client, true).await;
    screenshot(&client, "charts-system-desktop-dark").await;

    // 7. The check page: a gap where the probes failed, whole-number ticks for the clients.
    theme(&client, false).await;
    open(&client, &format!("{base}/checks/app?range=1h")).await;
    let response = fig("http_response_seconds");
    let (gaps, _) = wait_js(
        &client,
        Duration::from_secs(10),
        "the response-time chart with a gap",
        &format!("const f = {response}; return f && Number(f.dataset.points) >= 4 ? Number(f.dataset.gaps) : null"),
        |v| !v.is_null(),
    )
    .await;
    assert!(
        gaps.as_u64().unwrap() >= 1,
        "no gap where the target was down"
    );
    screenshot(&client, "charts-check-desktop-light").await;
    theme(&client, true).await;
    screenshot(&client, "charts-check-desktop-dark").await;
    theme(&client, false).await;
    open(&client, &format!("{base}/checks/cache?range=1h")).await;
    let clients = fig("redis_connected_clients");
    let (ticks, _) = wait_js(
        &client,
        Duration::from_secs(10),
        "the connected clients chart with its ticks",
        &format!("const f = {clients}; return f && Number(f.dataset.points) >= 1 && f.dataset.yTicks ? JSON.parse(f.dataset.yTicks) : null"),
        |v| v.as_array().is_some_and(|t| t.len() >= 2),
    )
    .await;
    for tick in ticks.as_array().unwrap() {
        let tick = tick.as_str().unwrap();
        assert!(
            tick.parse::<u64>().is_ok(),
            "a count tick that is not a whole number: {ticks}"
        );
    }

    // 8. Phone.
    client.set_window_size(390, 844).await.expect("resize");
    for (page, name) in [
        ("/system?range=1h", "system"),
        ("/checks/app?range=1h", "check"),
    ] {
        open(&client, &format!("{base}{page}")).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        let overflow = js(
            &client,
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
        )
        .await;
        eprintln!("{page} on a phone: {overflow} px wider than the viewport");
        screenshot(&client, &format!("charts-{name}-phone-light")).await;
        theme(&client, true).await;
        screenshot(&client, &format!("charts-{name}-phone-dark")).await;
        theme(&client, false).await;
    }
    // 9. /system: the CPU chart's warning is the config's 60 %, not a constant 80 %.
    client.set_window_size(1440, 900).await.expect("resize");
    open(&client, &format!("{base}/system?range=24h")).await;
    let (thresholds, _) = wait_js(
        &client,
        Duration::from_secs(10),
        "the CPU chart drawn with its thresholds",
        &format!("const f = {cpu}; return f && Number(f.dataset.points) >= 2 ? f.dataset.thresholds : null"),
        |v| v.as_str().is_some_and(|t| t.contains("warning=")),
    )
    .await;
    assert!(
        thresholds.as_str().unwrap().contains("warning=0.6"),
        "{thresholds}"
    );
    let legend = js(
        &client,
        &format!("return {cpu}.querySelector('.legend').innerText"),
    )
    .await;
    let legend = legend.as_str().unwrap();
    assert!(
        legend.contains("warning above 60 %") && !legend.contains("80 %"),
        "{legend}"
    );

    client.close().await.expect("close the browser");
}
