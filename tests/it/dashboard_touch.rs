//! The charts on a touch screen, in headless Chromium emulating a phone (390×844, touch
//! events; WebDriver actions with pointerType "touch"): two fingers pinch the time axis of
//! every chart of the page alike, a double tap resets it, and one finger scrolls the page
//! without zooming anything.

use std::time::Duration;

use fantoccini::Client;
use fantoccini::actions::{InputSource, PointerAction, TouchActions};
use serde_json::{Value, json};

use crate::common::browser::{
    ADMIN_PASSWORD, add_user, browser_with_options, chromedriver_with, js, login, open, screenshot,
    wait_js,
};
use crate::common::{self, Daemon};

/// Every chart of the page: its x range and whether it says it is zoomed.
const RANGES_JS: &str = "return [...document.querySelectorAll('figure.chart')].map((f) => ({\
    series: f.dataset.series, min: Number(f.dataset.xMin), max: Number(f.dataset.xMax), zoomed: f.dataset.zoomed === 'true'}))";

/// The middle of the CPU chart's plot area, in viewport pixels, once it is scrolled there.
const CENTRE_JS: &str = "const o = document.querySelector('figure[data-series=cpu_usage_ratio] .u-over');\
    const r = o.getBoundingClientRect(); return [Math.round(r.left + r.width / 2), Math.round(r.top + r.height / 2), Math.round(r.width)]";

fn spans(ranges: &Value) -> Vec<f64> {
    ranges
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["max"].as_f64().unwrap() - r["min"].as_f64().unwrap())
        .collect()
}

fn finger(id: &str, steps: Vec<PointerAction>) -> TouchActions {
    steps
        .into_iter()
        .fold(TouchActions::new(id.into()), |f, step| f.then(step))
}

fn to(x: f64, y: f64, ms: u64) -> PointerAction {
    PointerAction::MoveTo {
        duration: (ms > 0).then(|| Duration::from_millis(ms)),
        x,
        y,
    }
}

const DOWN: PointerAction = PointerAction::Down { button: 0 };
const UP: PointerAction = PointerAction::Up { button: 0 };

async fn centre(client: &Client) -> (f64, f64, f64) {
    let c = js(client, CENTRE_JS).await;
    let at = |i: usize| c[i].as_f64().unwrap();
    (at(0), at(1), at(2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinch_zooms_every_chart_alike_double_tap_resets_and_one_finger_scrolls() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), 0, "");
    add_user(&config, "ada", "admin", ADMIN_PASSWORD);
    let daemon = Daemon::start(&config);
    let base = format!("http://{}", daemon.addr);
    let driver = chromedriver_with(&[]);
    let phone = json!({"mobileEmulation": {"deviceMetrics": {
        "width": 390, "height": 844, "pixelRatio": 2, "touch": true, "mobile": true}}});
    let client = browser_with_options(&driver, &[], phone).await;
    login(&client, &base, "ada", ADMIN_PASSWORD).await;
    open(&client, &format!("{base}/system?range=1h")).await;
    let viewport = js(
        &client,
        "return [innerWidth, innerHeight, navigator.maxTouchPoints]",
    )
    .await;
    assert_eq!(viewport[0], 390, "not a phone's viewport: {viewport}");
    let (ranges, _) = wait_js(
        &client,
        Duration::from_secs(15),
        "every chart of /system drawn, the CPU chart with points",
        &format!(
            "const r = (() => {{ {RANGES_JS} }})();\
             const cpu = document.querySelector('figure[data-series=cpu_usage_ratio]');\
             return r.length >= 5 && r.every((c) => c.max > c.min) && Number(cpu.dataset.points) >= 2 ? r : null"
        ),
        |v| !v.is_null(),
    )
    .await;
    let home = spans(&ranges)[0];
    js(
        &client,
        "document.querySelector('figure[data-series=cpu_usage_ratio] .u-over').scrollIntoView({block: 'center'}); return 1",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (x, y, width) = centre(&client).await;
    assert!(width > 200.0, "the plot is {width} px wide");

    // 1. Pinch: two fingers 50 px apart move to 200 px apart (4 times the zoom).
    client
        .perform_actions(
            fantoccini::actions::Actions::from(finger(
                "finger1",
                vec![to(x - 25.0, y, 0), DOWN, to(x - 100.0, y, 300), UP],
            ))
            .and(finger(
                "finger2",
                vec![to(x + 25.0, y, 0), DOWN, to(x + 100.0, y, 300), UP],
            )),
        )
        .await
        .expect("pinch the CPU chart");
    let (zoomed, _) = wait_js(
        &client,
        Duration::from_secs(3),
        "every chart zoomed",
        &format!(
            "const r = (() => {{ {RANGES_JS} }})(); return r.every((c) => c.zoomed) ? r : null"
        ),
        |v| !v.is_null(),
    )
    .await;
    screenshot(&client, "charts-system-phone-pinched").await;
    let zoomed_spans = spans(&zoomed);
    eprintln!("pinch: {home} ms of x axis -> {zoomed_spans:?}");
    assert!(
        zoomed_spans[0] < home * 0.6,
        "pinched out 4 times and the CPU chart shows {} of {home} ms",
        zoomed_spans[0]
    );
    let first = &zoomed[0];
    for chart in zoomed.as_array().unwrap() {
        assert!(
            (chart["min"].as_f64().unwrap() - first["min"].as_f64().unwrap()).abs() < 1_000.0
                && (chart["max"].as_f64().unwrap() - first["max"].as_f64().unwrap()).abs()
                    < 1_000.0,
            "a chart shows another range than the CPU chart: {zoomed}"
        );
    }

    // 2. Double tap: every chart back to its range.
    let (x, y, _) = centre(&client).await;
    client
        .perform_actions(finger(
            "finger1",
            vec![
                to(x, y, 0),
                DOWN,
                UP,
                PointerAction::Pause {
                    duration: Duration::from_millis(80),
                },
                DOWN,
                UP,
            ],
        ))
        .await
        .expect("double-tap the CPU chart");
    let (reset, _) = wait_js(
        &client,
        Duration::from_secs(3),
        "the zoom reset on every chart",
        &format!(
            "const r = (() => {{ {RANGES_JS} }})(); return r.every((c) => !c.zoomed) ? r : null"
        ),
        |v| !v.is_null(),
    )
    .await;
    let back = spans(&reset)[0];
    assert!(
        back >= home * 0.95,
        "after the reset the CPU chart shows {back} of {home} ms"
    );

    // 3. One finger up the chart: the page scrolls, nothing zooms.
    let before = js(&client, "return scrollY").await.as_f64().unwrap();
    let (x, y, _) = centre(&client).await;
    client
        .perform_actions(finger(
            "finger1",
            vec![to(x, y + 60.0, 0), DOWN, to(x, y - 140.0, 300), UP],
        ))
        .await
        .expect("swipe up over the CPU chart");
    let (after, _) = wait_js(
        &client,
        Duration::from_secs(3),
        "the page scrolled by the swipe",
        "return scrollY",
        |v| v.as_f64().is_some_and(|s| s > before + 50.0),
    )
    .await;
    eprintln!("one-finger swipe: scrollY {before} -> {after}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let still = js(&client, RANGES_JS).await;
    assert!(
        still
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["zoomed"] == false),
        "a one-finger swipe zoomed: {still}"
    );
    client.close().await.expect("close the browser");
}
