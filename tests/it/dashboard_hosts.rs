//! Hosts in the dashboard (issue 19): a hub that two Lookout agents remote-write to (hand-built
//! requests with an agent token, named as an agent sends them: `lookout_cpu_usage_ratio{host}`,
//! `lookout_check_status{check,layer,status}`, `lookout_check_value{check}`) and a Prometheus
//! agent sending 1,500 series. The host selector of System, Checks, Database and Redis lists
//! the hosts and shows the chosen one's CPU and checks only; a host's page shows its series
//! (paged) and checks; an unknown host is a real 404; `/api/v1/status` counts the hosts as
//! `/api/v1/hosts` rates them (a node_exporter host's CPU from its counters included). axe-clean
//! in light and dark; screenshots in `target/dashboard-screenshots/hosts-*.png`.

use std::time::Duration;

use fantoccini::Client;
use serde_json::{Value, json};

use crate::common::alerting::poll;
use crate::common::browser::{ADMIN_PASSWORD, add_user, js, logged_in, open, screenshot, wait_js};
use crate::common::{self, Daemon};
use crate::receive::{now_ms, series, token, write};

struct Hub {
    _dir: tempfile::TempDir,
    daemon: Daemon,
    base: String,
    token: String,
}

/// A hub with the receivers on; `extra`: more config.
fn hub(extra: &str) -> Hub {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), 0, &format!("{extra}\n[receive]\n"));
    add_user(&config, "ada", "admin", ADMIN_PASSWORD);
    let token = token(&config, "agent", "agents");
    let daemon = Daemon::start(&config);
    let base = format!("http://{}", daemon.addr);
    Hub {
        _dir: dir,
        daemon,
        base,
        token,
    }
}

/// What a Lookout agent on `host` sends: its CPU, memory and root filesystem ratios, load,
/// and its check `app` in `status` with `value`, as two samples a minute apart.
fn agent(hub: &Hub, host: &str, cpu: f64, status: &str, value: f64) {
    let now = now_ms();
    let at = [now - 60_000, now - 1_000];
    let h = [("host", host)];
    let mut out = vec![
        series(
            "lookout_cpu_usage_ratio",
            &h,
            &[(at[0], cpu - 0.02), (at[1], cpu)],
        ),
        series("lookout_memory_usage_ratio", &h, &[(at[1], 0.5)]),
        series("lookout_load1", &h, &[(at[1], 1.5)]),
        series(
            "lookout_filesystem_usage_ratio",
            &[("host", host), ("mountpoint", "/"), ("device", "/dev/vda1")],
            &[(at[1], 0.3)],
        ),
        series(
            "lookout_check_value",
            &[("host", host), ("check", "app")],
            &[(at[1], value)],
        ),
    ];
    for s in ["ok", "maintenance", "warning", "unknown", "critical"] {
        out.push(series(
            "lookout_check_status",
            &[
                ("host", host),
                ("check", "app"),
                ("layer", "application"),
                ("status", s),
            ],
            &[(at[1], if s == status { 1.0 } else { 0.0 })],
        ));
    }
    let (code, body) = write(hub.daemon.addr, &hub.token, out);
    assert_eq!(code, 204, "{body}");
}

/// A Prometheus agent on `host` sending 1,500 series (300 names × 5 CPUs).
fn prometheus_agent(hub: &Hub, host: &str) {
    let now = now_ms();
    let mut out = Vec::new();
    for i in 0..1500 {
        let name = format!("node_thing_{:03}_total", i / 5);
        let cpu = (i % 5).to_string();
        out.push(series(
            &name,
            &[("instance", host), ("cpu", &cpu)],
            &[(now - 1_000, i as f64)],
        ));
    }
    let (code, body) = write(hub.daemon.addr, &hub.token, out);
    assert_eq!(code, 204, "{body}");
}

/// The hosts of `/api/v1/hosts`, once `names` all have a CPU and their check arrived.
fn wait_for_hosts(hub: &Hub, names: &[&str]) -> Value {
    poll(
        Duration::from_secs(20),
        "the agents' hosts and checks",
        || {
            let api = hub.daemon.json("/api/v1/hosts");
            let status = hub.daemon.json("/api/v1/status?series=none");
            let hosts = api["hosts"].as_array()?;
            let checks = status["checks"].as_array()?;
            names
                .iter()
                .all(|n| {
                    hosts
                        .iter()
                        .any(|h| h["host"] == *n && h["cpu"].is_number())
                        && checks.iter().any(|c| c["check"] == format!("{n}/app"))
                })
                .then_some(api)
        },
    )
}

async fn axe(client: &Client) -> Vec<String> {
    let path = std::env::var("LOOKOUT_AXE").unwrap_or_else(|_| {
        "/var/cache/lookout-ci/axe/node_modules/axe-core/axe.min.js".to_string()
    });
    let source = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("axe-core at {path} (LOOKOUT_AXE, npm axe-core): {e}"));
    if js(client, "return typeof axe").await != "object" {
        client
            .execute(&format!("{source}\nreturn 1"), vec![])
            .await
            .expect("axe-core loads");
    }
    let found = client
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v =>\
               v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 4).map(n => n.target.join(' ')).join(' | '))),\
               e => done(['axe failed: ' + e]))",
            vec![],
        )
        .await
        .expect("axe.run");
    serde_json::from_value(found).unwrap()
}

/// The selector lists the hosts; choosing one shows its CPU (System) and only its checks
/// (Checks, in the URL); its page shows its series and checks; an unknown host is a 404;
/// every page axe-clean in light and dark, fitting a phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_selector_shows_one_hosts_cpu_and_checks_and_a_host_page_what_it_sends() {
    let _machine = crate::common::machine::shared();
    // No rule on CPU: the hosts page says so rather than "ok".
    let hub = hub("[[alerts.rule]]\nname = \"cpu_usage\"\nenabled = false\n");
    agent(&hub, "web-1", 0.42, "ok", 0.01);
    agent(&hub, "db-1", 0.91, "critical", 2.5);
    prometheus_agent(&hub, "prom-1:9100");
    let api = wait_for_hosts(&hub, &["web-1", "db-1"]);
    let local = api["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["local"] == true)
        .unwrap()["host"]
        .as_str()
        .unwrap()
        .to_string();

    // An unknown host: a real 404, page and API.
    let (code, _) = hub.daemon.get("/hosts/nope");
    assert_eq!(code, 404);
    let (code, body) = hub.daemon.get("/api/v1/hosts/nope");
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("host: "), "{body}");
    let (code, body) = hub.daemon.get("/api/v1/checks?host=nope");
    assert_eq!(code, 404, "{body}");

    let (_driver, client) = logged_in(&hub.base, "ada", ADMIN_PASSWORD).await;
    // System: the selector lists every host, this Lookout chosen first.
    open(&client, &format!("{}/system", hub.base)).await;
    let options = js(
        &client,
        "const s = document.getElementById('host-select');\
         return s ? [s.labels.length, s.value, [...s.options].map(o => o.value)] : null",
    )
    .await;
    let mut want = vec![
        local.clone(),
        "db-1".into(),
        "prom-1:9100".into(),
        "web-1".into(),
    ];
    want.sort();
    assert_eq!(options, json!([1, local, want]), "{options}");
    // Choose web-1 (as the keyboard does: a change event): its CPU, in the URL.
    js(
        &client,
        "const s = document.getElementById('host-select'); s.value = 'web-1';\
         s.dispatchEvent(new Event('change', {bubbles: true})); return 1",
    )
    .await;
    let cpu = "const c = lookout.charts.find(c => c.el && c.el.dataset.series === 'cpu_usage_ratio');\
               return c && c.loaded ? [location.search, c.lines.map(l => l.labels.host || 'none'),\
                 c.lines.map(l => l.points.length ? l.points[l.points.length - 1].v : null)] : null";
    let (shown, _) = wait_js(&client, Duration::from_secs(10), "web-1's CPU", cpu, |v| {
        !v.is_null()
    })
    .await;
    assert_eq!(shown, json!(["?host=web-1", ["web-1"], [0.42]]), "{shown}");
    assert_eq!(
        js(&client, "return document.activeElement.id").await,
        json!("host-select"),
        "the focus stays on the selector"
    );
    let note = js(
        &client,
        "return document.querySelector('main h1').textContent",
    )
    .await;
    assert!(note.as_str().unwrap().contains("web-1"), "{note}");
    // This Lookout: its own CPU, without a host label.
    open(&client, &format!("{}/system?host={local}", hub.base)).await;
    let (shown, _) = wait_js(
        &client,
        Duration::from_secs(10),
        "the hub's CPU",
        cpu,
        |v| !v.is_null(),
    )
    .await;
    assert_eq!(shown[1], json!(["none"]), "{shown}");

    // Checks: web-1's only; the nav keeps the host.
    open(&client, &format!("{}/checks?host=web-1", hub.base)).await;
    let rows = "return [...document.querySelectorAll('#checks-list tbody tr[data-check]')].map(r => r.dataset.check)";
    let (names, _) = wait_js(
        &client,
        Duration::from_secs(10),
        "web-1's checks",
        rows,
        |v| v.as_array().is_some_and(|a| !a.is_empty()),
    )
    .await;
    assert_eq!(names, json!(["web-1/app"]));
    let nav = js(
        &client,
        "return document.querySelector('#nav a[href^=\"/system\"]').getAttribute('href')",
    )
    .await;
    assert_eq!(nav, json!("/system?host=web-1"));
    open(&client, &format!("{}/checks", hub.base)).await;
    let (names, _) = wait_js(&client, Duration::from_secs(10), "all checks", rows, |v| {
        v.as_array().is_some_and(|a| a.len() >= 2)
    })
    .await;
    let names: Vec<String> = serde_json::from_value(names).unwrap();
    assert!(
        names.contains(&"web-1/app".to_string()) && names.contains(&"db-1/app".to_string()),
        "{names:?}"
    );

    // The hosts page links each host; with cpu_usage disabled, CPU says "no rule".
    open(&client, &format!("{}/hosts", hub.base)).await;
    let web = "const r = document.querySelector('#hosts-list tr[data-host=\"web-1\"]');\
               return r ? [r.querySelector('a').getAttribute('href'), r.querySelector('[data-cpu]').textContent,\
                 r.querySelector('[data-cpu]').className, document.getElementById('hosts-count').textContent] : null";
    let (row, _) = wait_js(&client, Duration::from_secs(10), "web-1's row", web, |v| {
        !v.is_null()
    })
    .await;
    assert_eq!(row[0], json!("/hosts/web-1"));
    assert_eq!(row[1], json!("42.0 % no rule"), "{row}");
    assert!(!row[2].as_str().unwrap().contains("lv-ok"), "{row}");
    assert!(row[3].as_str().unwrap().contains("CPU: no rule"), "{row}");
    assert!(
        !row[3].as_str().unwrap().contains("the host alert rules"),
        "{row}"
    );

    // web-1's page: its title, series and checks, not db-1's.
    open(&client, &format!("{}/hosts/web-1", hub.base)).await;
    let page = "return document.getElementById('host-series') ? [document.title,\
                  [...document.querySelectorAll('#host-series tr[data-series-name]')].map(r => r.dataset.seriesName),\
                  [...document.querySelectorAll('#host-checks tr[data-check]')].map(r => r.dataset.check),\
                  [...document.querySelectorAll('#host-filesystems tr[data-mount]')].map(r => r.dataset.mount)] : null";
    let (shown, _) = wait_js(
        &client,
        Duration::from_secs(10),
        "web-1's page",
        page,
        |v| !v.is_null(),
    )
    .await;
    assert!(
        shown[0]
            .as_str()
            .unwrap()
            .starts_with("web-1 · Hosts · Lookout"),
        "{shown}"
    );
    let series: Vec<String> = serde_json::from_value(shown[1].clone()).unwrap();
    for name in [
        "cpu_usage_ratio",
        "memory_usage_ratio",
        "filesystem_usage_ratio",
    ] {
        assert!(
            series.contains(&name.to_string()),
            "{name} not in {series:?}"
        );
    }
    assert_eq!(shown[2], json!(["web-1/app"]));
    assert_eq!(shown[3], json!(["/"]));
    // ... and its CPU over the range, its own line only.
    let (shown, _) = wait_js(
        &client,
        Duration::from_secs(10),
        "web-1's CPU chart",
        cpu,
        |v| !v.is_null(),
    )
    .await;
    assert_eq!(shown[1], json!(["web-1"]), "{shown}");

    // A Prometheus agent's 1,500 series: counted, 50 names a page, the next page a link.
    open(&client, &format!("{}/hosts/prom-1:9100", hub.base)).await;
    let paged = "const t = document.getElementById('host-series-title');\
                 return t ? [t.textContent, document.querySelectorAll('#host-series tr[data-series-name]').length,\
                   (document.querySelector('.pager a[rel=next]') || {}).href || null] : null";
    let (shown, _) = wait_js(
        &client,
        Duration::from_secs(10),
        "prom-1's page",
        paged,
        |v| !v.is_null(),
    )
    .await;
    assert_eq!(shown[0], json!("Series (1,500 series under 300 names)"));
    assert_eq!(shown[1], json!(50));
    assert!(
        shown[2]
            .as_str()
            .unwrap()
            .ends_with("/hosts/prom-1:9100?offset=50"),
        "{shown}"
    );

    // axe, light and dark; desktop and phone, each page fitting 390 px.
    let mut problems = Vec::new();
    for theme in ["light", "dark"] {
        client.goto(&format!("{}/login", hub.base)).await.unwrap();
        js(
            &client,
            &format!("localStorage.setItem('lookout-theme', '{theme}'); return 1"),
        )
        .await;
        for (width, height, device) in [(1440u32, 900u32, "desktop"), (390, 844, "phone")] {
            client.set_window_size(width, height).await.unwrap();
            for (name, path) in [
                ("system", "/system?host=web-1"),
                ("checks", "/checks?host=db-1"),
                ("database", "/database?host=web-1"),
                ("redis", "/redis?host=web-1"),
                ("hosts", "/hosts"),
                ("host", "/hosts/web-1"),
                ("host-prom", "/hosts/prom-1:9100"),
            ] {
                open(&client, &format!("{}{path}", hub.base)).await;
                tokio::time::sleep(Duration::from_millis(700)).await;
                let at = format!("{path} {device} {theme}");
                if device == "phone" {
                    let wide = js(&client, "return document.documentElement.scrollWidth").await;
                    if wide.as_u64().unwrap() > 390 {
                        problems.push(format!("{at}: {wide} px wide"));
                    }
                }
                js(&client, "document.querySelectorAll('main details').forEach(d => d.open = true); return 1").await;
                for violation in axe(&client).await {
                    problems.push(format!("{at}: axe {violation}"));
                }
                screenshot(&client, &format!("hosts-{name}-{device}-{theme}")).await;
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    client.close().await.unwrap();
}

/// `/api/v1/status`'s `hosts` counts are `/api/v1/hosts`'s statuses counted: a node_exporter
/// host whose CPU (a rate of its idle counters, from the store) is past the critical level
/// is a problem in both (the status once counted from the snapshot alone: ok there).
#[test]
fn status_counts_the_hosts_as_the_hosts_list_rates_them() {
    let _machine = crate::common::machine::shared();
    let hub = hub("");
    let now = now_ms();
    // 2 CPUs, 1 s idle of every 60 s: 98 % busy, past cpu_usage's critical 95 %.
    let n0 = [("instance", "node-1:9100"), ("cpu", "0"), ("mode", "idle")];
    let n1 = [("instance", "node-1:9100"), ("cpu", "1"), ("mode", "idle")];
    let samples = [(now - 61_000, 100.0), (now - 1_000, 101.0)];
    let (code, body) = write(
        hub.daemon.addr,
        &hub.token,
        vec![
            series("node_cpu_seconds_total", &n0, &samples),
            series("node_cpu_seconds_total", &n1, &samples),
        ],
    );
    assert_eq!(code, 204, "{body}");
    let counted = |hosts: &Value| -> Value {
        let list = hosts["hosts"].as_array().unwrap();
        let ok = list.iter().filter(|h| h["status"] == "ok").count();
        json!({"total": hosts["total"], "ok": ok, "problem": hosts["total"].as_u64().unwrap() as usize - ok})
    };
    let node_row = poll(Duration::from_secs(20), "node-1's CPU", || {
        let hosts = hub.daemon.json("/api/v1/hosts");
        let row = hosts["hosts"]
            .as_array()?
            .iter()
            .find(|h| h["host"] == "node-1:9100" && h["cpu"].is_number())?
            .clone();
        Some(row)
    });
    assert!(
        (node_row["cpu"].as_f64().unwrap() - 0.9833).abs() < 0.01,
        "{node_row}"
    );
    assert_eq!(node_row["status"], "critical", "{node_row}");
    // The local host's CPU moves between two requests: a few tries to see them agree.
    let mut last = (Value::Null, Value::Null);
    for _ in 0..5 {
        let hosts = hub.daemon.json("/api/v1/hosts");
        let status = hub.daemon.json("/api/v1/status?series=none");
        last = (counted(&hosts), status["hosts"].clone());
        if last.0 == last.1 {
            break;
        }
    }
    assert_eq!(last.0, last.1, "/api/v1/hosts counted vs /api/v1/status");
    assert!(last.1["problem"].as_u64().unwrap() >= 1, "{last:?}");
}
