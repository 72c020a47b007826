//! The dashboard's caching in a real browser (headless Chromium, the helpers of
//! `dashboard_browser`): a second page takes every asset from the browser's cache (0 bytes
//! over the network: content-hashed URLs kept for good), the shell of a page seen before is
//! revalidated with a 304, and with `LOOKOUT_DEV_ASSETS` a changed file gets a new URL that the
//! next load uses. Prints the bytes of each navigation (BENCHMARKS.md, issue 18).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::common::browser::{
    ADMIN_PASSWORD, add_user, browser_with, chromedriver_with, js, login, open, wait_js,
};
use crate::common::{self, Daemon};

/// What the page now shown cost over the network: its navigation (the shell) and each
/// `/assets/` resource (`transferSize`: 0 from the cache, 300 after a 304, headers + body for
/// a 200), and every resource together.
const BYTES_JS: &str = "const nav = performance.getEntriesByType('navigation')[0];\
    const all = performance.getEntriesByType('resource');\
    return {\
      nav: {transfer: nav.transferSize, encoded: nav.encodedBodySize, status: nav.responseStatus === undefined ? null : nav.responseStatus},\
      assets: all.filter((e) => e.name.includes('/assets/')).map((e) => ({path: new URL(e.name).pathname, transfer: e.transferSize, encoded: e.encodedBodySize})),\
      total: nav.transferSize + all.reduce((n, e) => n + e.transferSize, 0),\
    }";

fn sum(assets: &Value) -> u64 {
    assets
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["transfer"].as_u64().unwrap())
        .sum()
}

/// A daemon whose shell stays the same for a while: the system probe runs at start and then
/// once an hour, no other check (the summary in the shell has nothing new to show).
fn quiet_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("lookout.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[storage]\npath = \"{}\"\nflush_interval = \"1s\"\n\n\
             [system]\ninterval = \"1h\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    add_user(&path, "ada", "admin", ADMIN_PASSWORD);
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_page_takes_its_assets_from_the_cache_and_the_shell_revalidates() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&quiet_config(dir.path()));
    let base = format!("http://{}", daemon.addr);
    let driver = chromedriver_with(&[]);
    let client = browser_with(&driver, &[]).await;
    // 1. The overview, first visit: where the login lands (the login page brought app.css).
    login(&client, &base, "ada", ADMIN_PASSWORD).await;
    wait_js(
        &client,
        Duration::from_secs(10),
        "the overview rendered after the login",
        "return location.pathname === '/' && document.body.dataset.ready === 'true'",
        |v| v == true,
    )
    .await;
    let first = js(&client, BYTES_JS).await;
    // 2. Another page: the same assets, none of them over the network.
    open(&client, &format!("{base}/events")).await;
    let second = js(&client, BYTES_JS).await;
    // 3. The overview again: its shell is revalidated (304), its assets from the cache.
    open(&client, &format!("{base}/")).await;
    let third = js(&client, BYTES_JS).await;
    eprintln!(
        "bytes over the network (transferSize): first page {} (shell {}, assets {}), \
         second page {} (shell {}, assets {}), first page again {} (shell {}, assets {})\n\
         second page's assets: {}\nfirst page again, shell: {}",
        first["total"],
        first["nav"]["transfer"],
        sum(&first["assets"]),
        second["total"],
        second["nav"]["transfer"],
        sum(&second["assets"]),
        third["total"],
        third["nav"]["transfer"],
        sum(&third["assets"]),
        second["assets"],
        third["nav"],
    );

    let assets = second["assets"].as_array().unwrap();
    for name in [
        "app.js",
        "charts.js",
        "uPlot.iife.min",
        "app.css",
        "charts.css",
        "uPlot.min",
    ] {
        let stem = name.split('.').next().unwrap();
        assert!(
            assets.iter().any(|a| a["path"]
                .as_str()
                .unwrap()
                .starts_with(&format!("/assets/{stem}."))),
            "the second page did not load {name}: {assets:?}"
        );
    }
    for asset in assets.iter().chain(third["assets"].as_array().unwrap()) {
        assert_eq!(
            asset["transfer"], 0,
            "an asset of a page after the first came over the network: {asset}"
        );
        assert!(
            asset["encoded"].as_u64().unwrap() > 0,
            "an asset without content: {asset}"
        );
    }
    // A 304: the shell's bytes came from the cache, only headers over the network (the
    // browser counts 300 bytes for them), against the body and headers of a 200.
    let (transfer, encoded) = (
        third["nav"]["transfer"].as_u64().unwrap(),
        third["nav"]["encoded"].as_u64().unwrap(),
    );
    assert!(
        transfer > 0 && transfer < encoded,
        "the overview's shell was not revalidated with a 304: {}",
        third["nav"]
    );
    client.close().await.expect("close the browser");

    // 4. LOOKOUT_DEV_ASSETS: a file changed on disk gets a new URL, used by the next load;
    // there nothing is cached for good.
    let assets_dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/assets");
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), assets_dir.path().join(entry.file_name())).unwrap();
        }
    }
    let dev_dir = tempfile::tempdir().unwrap();
    let mut command = common::lookout();
    command
        .args(["serve", "--config"])
        .arg(quiet_config(dev_dir.path()))
        .env("LOOKOUT_DEV_ASSETS", assets_dir.path());
    let dev = Daemon::spawn(command);
    let base = format!("http://{}", dev.addr);
    let driver = chromedriver_with(&[]);
    let client = browser_with(&driver, &[]).await;
    login(&client, &base, "ada", ADMIN_PASSWORD).await;
    open(&client, &format!("{base}/system")).await;
    const CSS: &str = "const l = document.querySelector('link[rel=stylesheet][href^=\"/assets/app.\"]');\
        return [l.getAttribute('href'), getComputedStyle(document.documentElement).getPropertyValue('--lookout-test').trim()]";
    let before = js(&client, CSS).await;
    let cache = js(
        &client,
        &format!(
            "return fetch('{}').then((r) => r.headers.get('cache-control'))",
            before[0].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(cache, "no-cache", "a dev asset cached for good");
    let css = assets_dir.path().join("app.css");
    let text = std::fs::read_to_string(&css).unwrap() + "\n:root { --lookout-test: changed; }\n";
    std::fs::write(&css, text).unwrap();
    open(&client, &format!("{base}/system")).await;
    let (after, _) = wait_js(
        &client,
        Duration::from_secs(5),
        "the changed style sheet applied",
        CSS,
        |v| v[1] == "changed",
    )
    .await;
    eprintln!("app.css changed: {} -> {}", before[0], after[0]);
    assert_ne!(before[0], after[0], "a changed asset kept its URL");
    client.close().await.expect("close the browser");
}
