//! Rate rules (issue 19: `rate = "1m"`, a counter's per-second rate over a window) against the
//! real `lookout serve` as a hub: node_exporter's `node_cpu_seconds_total{mode="idle"}`
//! written by hand with exact counter values (the exact alert, its rate in the message, its
//! resolution), and by a real Prometheus agent scraping node_exporter while stress-ng keeps
//! the CPUs busy; bad `rate` values refused with file:line:column.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::alerting::{HookReceiver, disabled_rules, poll};
use crate::common::prometheus::Server;
use crate::common::{self, Daemon, text};
use crate::receive::{now_ms, series, token, write};

const SECRET: &str = "whsec-rate-19";
const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// A hub with `[receive]`, the resource rules off (a busy machine must not add notices), a
/// webhook to `hook`, and `rule`.
fn hub(dir: &Path, hook: &HookReceiver, rule: &str) -> (Daemon, std::path::PathBuf) {
    let extra = format!(
        "\n[receive]\n\n[alerts]\nhost = \"hub\"\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\n\
         resolve_wait = \"1s\"\n{}\n{rule}\n\
         [[notifier]]\nname = \"ops-hook\"\ntype = \"webhook\"\nurl = \"http://{}/hook\"\n\
         secret = \"{SECRET}\"\n",
        disabled_rules(&["cpu_usage", "memory_usage", "disk_usage"]),
        hook.addr
    );
    let config = common::write_config(dir, 0, &extra);
    (Daemon::start(&config), config)
}

/// (kind, summary) of every notice of `rule` the webhook got so far.
fn notices(hook: &HookReceiver, rule: &str) -> Vec<(String, String)> {
    hook.received()
        .iter()
        .filter_map(|request| serde_json::from_str::<Value>(&request.body).ok())
        .flat_map(|payload| payload["notices"].as_array().cloned().unwrap_or_default())
        .filter(|notice| notice["rule"] == rule)
        .map(|notice| {
            (
                notice["kind"].as_str().unwrap_or_default().to_string(),
                notice["summary"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn wait_notice(hook: &HookReceiver, rule: &str, kind: &str) -> String {
    poll(
        Duration::from_secs(30),
        &format!("a {kind} notice of {rule}"),
        || {
            notices(hook, rule)
                .into_iter()
                .find(|(k, _)| k == kind)
                .map(|(_, summary)| summary)
        },
    )
}

const BUSY_RULE: &str = r#"
[[alerts.rule]]
name = "cpu_busy"
metric = 'node_cpu_seconds_total{mode="idle"}'
rate = "1m"
comparison = "below"
warning = "20%"
critical = "5%"
for = "0s"
summary = "CPU {{labels.cpu}} of {{host}} idle {{value}} (level {{threshold}})"
"#;

/// Exact counters: CPU 0 idle 95% of each second, then 2%, then 95% again; CPU 1 idle all
/// along. One remote-write request per phase, every sample stamped 10 s after the one before
/// (the first phase is 5 minutes old: rated at its own times, not at its arrival).
#[test]
fn a_rate_rule_fires_on_a_busy_cpu_with_the_rate_in_its_message_and_resolves() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let hook = HookReceiver::start(SECRET);
    let (hub, config) = hub(dir.path(), &hook, BUSY_RULE);
    let agent = token(&config, "agent", "web-3");
    let t0 = now_ms() - 5 * 60_000;
    let (mut idle0, mut idle1) = (5000.0, 7000.0);
    let mut phase = |from: i64, to: i64, step0: f64| {
        let mut cpu0 = Vec::new();
        let mut cpu1 = Vec::new();
        for t in (from..=to).step_by(10) {
            idle0 += step0;
            idle1 += 9.5;
            cpu0.push((t0 + t * 1000, idle0));
            cpu1.push((t0 + t * 1000, idle1));
        }
        let labels = |cpu| [("cpu", cpu), ("mode", "idle"), ("host", "web-3")];
        let answer = write(
            hub.addr,
            &agent,
            vec![
                series("node_cpu_seconds_total", &labels("0"), &cpu0),
                series("node_cpu_seconds_total", &labels("1"), &cpu1),
            ],
        );
        assert_eq!(answer.0, 204, "{}", answer.1);
    };
    // Idle 95% for a minute: nothing fires.
    phase(0, 60, 9.5);
    // Busy: the 1m window ending at 110 s holds only busy samples, 5066.5 s .. 5067.5 s of
    // idle over 50 s: 2% idle, critical at once (for = 0s).
    phase(70, 130, 0.2);
    let firing = wait_notice(&hook, "cpu_busy", "firing");
    assert_eq!(firing, "CPU 0 of web-3 idle 2.0% (level 5%)");
    let alerts = hub.json("/api/v1/alerts");
    let busy: Vec<&Value> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["rule"] == "cpu_busy")
        .collect();
    assert_eq!(busy.len(), 1, "only CPU 0: {alerts}");
    assert_eq!(busy[0]["labels"]["cpu"], "0", "{alerts}");
    assert!(
        (busy[0]["value"].as_f64().unwrap() - 0.02).abs() < 1e-9,
        "{alerts}"
    );
    // Idle again: 20.6% at 140 s (a warning, held by hysteresis), 39.2% at 150 s: resolved.
    phase(140, 200, 9.5);
    let resolved = wait_notice(&hook, "cpu_busy", "resolved");
    assert_eq!(resolved, "Resolved: CPU 0 of web-3 idle 39.2% (level 20%)");
    assert!(hook.received().iter().all(|r| r.verified));
    let kinds: Vec<String> = notices(&hook, "cpu_busy")
        .into_iter()
        .map(|(kind, _)| kind)
        .collect();
    assert!(
        !kinds.iter().any(|k| k == "flapping"),
        "one incident: {kinds:?}"
    );
    drop(hub);
}

/// Cron mode (`lookout alerts run`, no daemon evaluating): the hub stored a busy minute of
/// CPU 0 with the rule off; a run with the rule on rates the stored samples at their times.
#[test]
fn cron_mode_rates_what_the_hub_stored() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let hook = HookReceiver::start(SECRET);
    let rule = BUSY_RULE.replace("for = \"0s\"", "for = \"0s\"\nenabled = false # serve");
    let (hub, config) = hub(dir.path(), &hook, &rule);
    let agent = token(&config, "agent", "web-4");
    let t0 = now_ms() - 100_000;
    let samples: Vec<(i64, f64)> = (0..=8)
        .map(|i| (t0 + i * 10_000, 5000.0 + 0.2 * i as f64))
        .collect();
    let labels = [("cpu", "0"), ("mode", "idle"), ("host", "web-4")];
    let answer = write(
        hub.addr,
        &agent,
        vec![series("node_cpu_seconds_total", &labels, &samples)],
    );
    assert_eq!(answer.0, 204, "{}", answer.1);
    let (code, log) = hub.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0), "{log}");
    assert!(
        notices(&hook, "cpu_busy").is_empty(),
        "the daemon had the rule off"
    );

    let text_of = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text_of.replace("enabled = false # serve", "")).unwrap();
    let out = common::output(
        common::lookout()
            .args(["--config"])
            .arg(&config)
            .args(["alerts", "run", "--json"]),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["firing"], 1, "{report}");
    assert_eq!(report["messages_sent"], 1, "{report}");
    let firing = wait_notice(&hook, "cpu_busy", "firing");
    assert_eq!(firing, "CPU 0 of web-4 idle 2.0% (level 5%)");
}

#[test]
fn bad_rate_values_are_refused_with_file_line_and_column() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lookout.toml");
    std::fs::write(
        &config,
        "[[alerts.rule]]\nname = \"a\"\nmetric = 'node_forks_total'\nrate = \"10s\"\n\n\
         [[alerts.rule]]\nname = \"b\"\ncheck_status = 'check=\"app\"'\nrate = \"5m\"\n\n\
         [[alerts.rule]]\nname = \"cpu_usage\"\nrate = \"5m\"\n",
    )
    .unwrap();
    let out = common::output(
        common::lookout()
            .args(["config", "check", "--config"])
            .arg(&config),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let said = text(&out.stderr);
    for expected in [
        "lookout.toml:4:8: alerts.rule \"a\".rate: \"10s\" is out of range; expected a window from \"30s\" to \"24h\"",
        "lookout.toml:9:8: alerts.rule \"b\".rate: only applies to metric rules",
        "lookout.toml:13:8: alerts.rule \"cpu_usage\".rate: the built-in \"cpu_usage\" watches the value of its series, not a rate",
    ] {
        assert!(said.contains(expected), "{expected}\nnot in:\n{said}");
    }
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real sender: Prometheus in agent mode scrapes node_exporter every second and writes to
/// the hub; stress-ng keeps every CPU busy: the idle rate of a CPU falls under 50% and the
/// rule fires, its message saying that rate.
#[test]
fn a_prometheus_agent_scraping_node_exporter_on_a_loaded_machine_fires_the_rate_rule() {
    let _machine = crate::common::machine::alone(module_path!());
    assert!(
        Path::new(NODE_EXPORTER).exists(),
        "{NODE_EXPORTER} is needed (.ci/install-node-exporter)"
    );
    let dir = tempfile::tempdir().unwrap();
    let hook = HookReceiver::start(SECRET);
    let rule = r#"
[[alerts.rule]]
name = "cpu_busy"
metric = 'node_cpu_seconds_total{mode="idle"}'
rate = "30s"
comparison = "below"
warning = "50%"
for = "0s"
summary = "CPU {{labels.cpu}} of {{host}} idle {{value}}"
"#;
    let (hub, config) = hub(dir.path(), &hook, rule);
    let agent = token(&config, "agent", "prom-agent");
    let node = common::with_free_port("node_exporter", |port| {
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(NODE_EXPORTER)
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = KillOnDrop(child);
        for _ in 0..100 {
            if common::http_get(addr, "/metrics").is_some_and(|(s, _)| s == 200) {
                return Ok((child, addr));
            }
            if let Ok(Some(status)) = child.0.try_wait() {
                return Err(format!("node_exporter exited with {status}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("node_exporter did not answer".into())
    });
    let node_addr = node.1;
    let _prometheus = common::with_free_port("prometheus agent", |port| {
        let pdir = tempfile::tempdir().unwrap();
        let yml = pdir.path().join("prometheus.yml");
        std::fs::write(
            &yml,
            format!(
                "global:\n  scrape_interval: 1s\n\
                 scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{node_addr}']\n        labels:\n          host: web-8\n\
                 remote_write:\n  - url: http://{}/api/v1/write\n    authorization:\n      credentials: {agent}\n    queue_config:\n      batch_send_deadline: 1s\n",
                hub.addr
            ),
        )
        .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut command = Command::new(common::prometheus::PROMETHEUS);
        command
            .arg("--enable-feature=agent")
            .arg(format!("--config.file={}", yml.display()))
            .arg(format!(
                "--storage.agent.path={}",
                pdir.path().join("wal").display()
            ))
            .arg(format!("--web.listen-address={addr}"));
        Server::start("prometheus-agent", command, addr, pdir, true)
    });
    // Every CPU busy for 40 s at most (stress-ng's own timeout, should this process die).
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let stress = Command::new("stress-ng")
        .args(["--cpu", &(2 * cores).to_string(), "--timeout", "40s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("stress-ng is needed (apt install stress-ng)");
    let _stress = KillOnDrop(stress);
    let firing = wait_notice(&hook, "cpu_busy", "firing");
    // "CPU 0 of web-8 idle 3.1%": a share of each second, under the level.
    let percent: f64 = firing
        .strip_prefix("CPU ")
        .and_then(|rest| rest.split_once(" idle "))
        .and_then(|(_, value)| value.strip_suffix('%'))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no rate in {firing:?}"));
    assert!((0.0..50.0).contains(&percent), "{firing}");
    assert!(firing.contains(" of web-8 idle "), "{firing}");
    drop(hub);
}
