//! Agents and one hub (issue 19), against the real binary: `lookout config init --preset
//! agent` writes a config that `config check` accepts once its variables are set; an agent
//! started from it remote-writes this host's series, with its `host` label, into a hub (a
//! Lookout with `[receive]` and an agent token); an agent cut off from the hub keeps
//! collecting and, when the hub is back, sends the backlog so the hub's history has no gap;
//! the hub alerts per host on what agents send (host down once, up again once);
//! and, past one hub (README "Past one hub"), the same agent writes into a Prometheus started
//! with `--web.enable-remote-write-receiver`, whose config and Alertmanager's, as the README
//! shows them, pass `promtool check config` and `amtool check-config`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::alerting::poll;
use crate::common::hub::{
    agent, agent_config, agent_token, hub, now_ms, points, queued, widest_gap,
};
use crate::common::prometheus::{PROMETHEUS, Server, encode};
use crate::common::{self, Daemon, docs, lookout, run, text};

/// The agent's system interval in these tests.
const INTERVAL_MS: i64 = 1_000;

/// The agent's CPU series as the hub stores it: (labels, points); none while the hub has not
/// heard from the host (`host=` of a host it does not know is a 404).
fn hub_cpu(hub: &Daemon, host: &str) -> Vec<Value> {
    let to = now_ms() / 1000 + 60;
    let path = format!("/api/v1/series?name=cpu_usage_ratio&from=-10m&to={to}&host={host}");
    let (status, body) = hub.get(&path);
    if status == 404 {
        return Vec::new();
    }
    assert_eq!(status, 200, "GET {path}: {body}");
    let answer: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}"));
    answer["series"].as_array().cloned().unwrap_or_default()
}

#[test]
fn the_agent_preset_passes_config_check_and_writes_the_hosts_cpu_into_a_hub() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let file = agent_config(dir.path());
    // Without its variables the file is refused, naming them; with them it passes.
    let unset = run(&["config", "check", file.to_str().unwrap()], dir.path());
    assert!(
        !unset.status.success() && text(&unset.stderr).contains("LOOKOUT_HUB_URL"),
        "{}",
        text(&unset.stderr)
    );
    let check = common::output(
        lookout()
            .args(["config", "check"])
            .arg(&file)
            .env("LOOKOUT_HUB_URL", "https://hub.example.org/api/v1/write")
            .env("LOOKOUT_AGENT_TOKEN", "a-token")
            .env("LOOKOUT_HOST", "web-1")
            .current_dir(dir.path()),
    );
    assert!(check.status.success(), "{}", text(&check.stderr));

    let hub_dir = tempfile::tempdir().unwrap();
    let (mut hub, hub_config) = hub(hub_dir.path());
    // The token's name is not the host: the label the agent sends is.
    let token = agent_token(&hub_config, "agent-token-1");
    let url = format!("http://{}/api/v1/write", hub.addr);
    let _agent = agent(&file, &url, &token, "web-1");
    hub.wait_until(Duration::from_secs(40), |hub| {
        !hub_cpu(hub, "web-1").is_empty()
    });
    let cpu = hub_cpu(&hub, "web-1");
    assert_eq!(cpu[0]["labels"]["host"], "web-1", "{cpu:?}");
    let value = cpu[0]["points"][0]["avg"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&value), "cpu {value}");
}

/// The hub is down for 30 s while the agent collects every second; once it is back and the
/// agent's queue has drained, the hub has every point the agent took over the outage, oldest
/// first, with no step wider than twice the interval.
#[test]
fn an_agent_cut_off_from_the_hub_sends_its_backlog_without_a_gap() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let file = agent_config(dir.path());
    let hub_dir = tempfile::tempdir().unwrap();
    let (mut hub, hub_config) = hub(hub_dir.path());
    let token = agent_token(&hub_config, "web-3");
    let url = format!("http://{}/api/v1/write", hub.addr);
    let agent = agent(&file, &url, &token, "web-3");
    hub.wait_until(Duration::from_secs(40), |hub| {
        !hub_cpu(hub, "web-3").is_empty()
    });
    let from_ms = now_ms();
    let (code, _) = hub.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0));
    let down = Instant::now();
    // The agent keeps collecting and queues what it cannot send.
    while down.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(queued(&agent) > 0.0, "nothing queued during the outage");
    let back_ms = now_ms();
    let hub = Daemon::start(&hub_config);
    // Drained: the hub has a point of the agent's after the outage, and the queue is empty.
    let until_ms = back_ms + 3 * INTERVAL_MS;
    poll(Duration::from_secs(30), "the backlog drained", || {
        let times = points(&hub, "cpu_usage_ratio", Some("web-3"), from_ms);
        (times.last().is_some_and(|last| *last >= until_ms) && queued(&agent) == 0.0).then_some(())
    });
    let sent: Vec<i64> = points(&agent, "cpu_usage_ratio", None, from_ms)
        .into_iter()
        .filter(|at| *at <= until_ms)
        .collect();
    let received: Vec<i64> = points(&hub, "cpu_usage_ratio", Some("web-3"), from_ms)
        .into_iter()
        .filter(|at| *at <= until_ms)
        .collect();
    let missing: Vec<&i64> = sent.iter().filter(|at| !received.contains(at)).collect();
    assert!(
        missing.is_empty(),
        "the hub lacks {} of the agent's {} points of the outage: {missing:?}",
        missing.len(),
        sent.len()
    );
    assert!(
        sent.len() as i64 >= (until_ms - from_ms) / INTERVAL_MS / 2,
        "the agent collected only {} points in {} ms",
        sent.len(),
        until_ms - from_ms
    );
    // The agent collected every second (a step wider than 2 s is this busy machine's, and
    // then it is the agent's own, tested above: the hub has every point it has).
    let widest = widest_gap(&received);
    assert!(
        widest <= 2 * INTERVAL_MS || widest <= widest_gap(&sent),
        "a gap of {widest} ms on the hub: {received:?}"
    );
    eprintln!(
        "outage of {} ms: {} points sent, widest gap {widest} ms on the hub",
        back_ms - from_ms,
        sent.len()
    );
}

/// The "Past one hub" section of README.md: its Prometheus config (with the rules `lookout
/// export prometheus-rules` writes) passes `promtool check config`, its Alertmanager config
/// `amtool check-config`; and an agent of the preset writes into a real Prometheus with the
/// remote-write receiver, which then has the agent's CPU with its host label and loads the
/// exported rules.
#[test]
fn past_one_hub_agents_write_to_a_prometheus_receiver_as_the_readme_shows() {
    let _machine = crate::common::machine::shared();
    let readme = docs::read("README.md");
    let section = readme
        .split_once("## Past one hub")
        .map(|(_, rest)| rest.split("\n## ").next().unwrap_or(rest))
        .expect("README.md has a section \"Past one hub\"");
    let yaml: Vec<String> = docs::blocks(section)
        .into_iter()
        .filter(|block| block.info == "yaml")
        .map(|block| {
            block
                .lines
                .iter()
                .map(|(_, line)| format!("{line}\n"))
                .collect()
        })
        .collect();
    let prometheus_yml = yaml
        .iter()
        .find(|y| y.starts_with("# prometheus.yml"))
        .expect("a yaml block starting \"# prometheus.yml\"");
    let alertmanager_yml = yaml
        .iter()
        .find(|y| y.starts_with("# alertmanager.yml"))
        .expect("a yaml block starting \"# alertmanager.yml\"");
    let dir = tempfile::tempdir().unwrap();
    let rules = run(
        &["export", "prometheus-rules", "lookout-rules.yml"],
        dir.path(),
    );
    assert!(rules.status.success(), "{}", text(&rules.stderr));
    std::fs::write(dir.path().join("prometheus.yml"), prometheus_yml).unwrap();
    std::fs::write(dir.path().join("alertmanager.yml"), alertmanager_yml).unwrap();
    for (tool, args) in [
        ("promtool", ["check", "config", "prometheus.yml"]),
        ("amtool", ["check-config", "alertmanager.yml", ""]),
    ] {
        let out = Command::new(tool)
            .args(args.iter().filter(|a| !a.is_empty()))
            .current_dir(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("{tool} is needed (.ci/run installs it): {e}"));
        assert!(
            out.status.success(),
            "{tool}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }

    // A real Prometheus with the receiver and the exported rules, fed by an agent.
    assert!(Path::new(PROMETHEUS).exists(), "{PROMETHEUS} is needed");
    let rules_file = dir.path().join("lookout-rules.yml");
    let prometheus = common::with_free_port("prometheus", |port| {
        let pdir = tempfile::tempdir().unwrap();
        let yml = pdir.path().join("prometheus.yml");
        std::fs::write(
            &yml,
            format!(
                "global:\n  evaluation_interval: 1s\nrule_files: ['{}']\nscrape_configs: []\n",
                rules_file.display()
            ),
        )
        .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut command = Command::new(PROMETHEUS);
        command
            .arg(format!("--config.file={}", yml.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                pdir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--web.enable-remote-write-receiver");
        Server::start("prometheus", command, addr, pdir, true)
    });
    let file = agent_config(dir.path());
    let url = format!("http://{}/api/v1/write", prometheus.addr);
    let _agent = agent(&file, &url, "not-checked-by-prometheus", "web-2");
    let api = |path: &str| -> Value {
        let (status, body) = common::http_get(prometheus.addr, path)
            .unwrap_or_else(|| panic!("prometheus does not answer {path}"));
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    };
    let query = format!(
        "/api/v1/query?query={}",
        encode("lookout_cpu_usage_ratio{host=\"web-2\"}")
    );
    let result = poll(
        Duration::from_secs(40),
        "the agent's cpu in prometheus",
        || {
            let answer = api(&query);
            let result = answer["data"]["result"].as_array().cloned()?;
            (!result.is_empty()).then_some(result)
        },
    );
    assert_eq!(result[0]["metric"]["host"], "web-2", "{result:?}");
    let rules = api("/api/v1/rules");
    let groups = rules["data"]["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let loaded: Vec<&Value> = groups
        .iter()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .collect();
    assert!(!loaded.is_empty(), "no rules loaded: {rules}");
    assert!(loaded.iter().all(|rule| rule["health"] != "err"), "{rules}");
}

/// The mails whose subject contains every one of `words`.
fn mails_about(smtp: &common::alerting::SmtpServer, words: &[&str]) -> Vec<String> {
    smtp.received()
        .iter()
        .map(|mail| common::alerting::subject(mail).to_string())
        .filter(|subject| words.iter().all(|w| subject.contains(w)))
        .collect()
}

/// A hub with `[receive]` mailing through the SMTP server on `smtp_port`, fast grouping, the
/// host rules but memory off (a busy machine must not add mails) and `rules` added.
fn alerting_hub(dir: &Path, smtp_port: u16, rules: &str) -> (Daemon, PathBuf) {
    let alerts = format!(
        "\n[receive]\n\n[alerts]\nhost = \"hub-test\"\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\n\
         {}\n{rules}\n{}",
        common::alerting::disabled_rules(&[
            "cpu_usage",
            "disk_usage",
            "http_response_time",
            "collection_late"
        ]),
        common::alerting::email_notifier(smtp_port)
    );
    let config = common::write_config(dir, 0, &alerts);
    let hub = Daemon::start(&config);
    hub.pin_listen(&config);
    (hub, config)
}

/// The hub decides the alerts of what agents send: the built-in memory rule (its levels
/// lowered here so it fires) applies to the agent's host with its name in the message; the
/// agent's failing check alerts as `<host>/<check>`; a killed agent is one "host down" mail,
/// its other alerts are inhibited meanwhile, and it is "up again" once it sends.
#[test]
fn the_hub_alerts_per_host_and_once_when_an_agent_goes_quiet() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let smtp = common::alerting::SmtpServer::start(dir.path(), &[]);
    let hub_dir = tempfile::tempdir().unwrap();
    let (hub, hub_config) = alerting_hub(
        hub_dir.path(),
        smtp.port,
        "[[alerts.rule]]\nname = \"memory_usage\"\nmetric = 'memory_usage_ratio{host=\"web-5\"}'\n\
         warning = \"1%\"\ncritical = \"99.9%\"\nfor = \"1s\"\n",
    );
    let token = agent_token(&hub_config, "agent-5");
    let url = format!("http://{}/api/v1/write", hub.addr);
    let file = agent_config(dir.path());
    let mut text_of = std::fs::read_to_string(&file).unwrap();
    text_of.push_str(&format!(
        "\n[[check]]\nname = \"api\"\ntype = \"tcp\"\naddress = \"127.0.0.1:{}\"\ninterval = \"1s\"\ntimeout = \"1s\"\nretries = 0\n",
        common::alerting::closed_port()
    ));
    std::fs::write(&file, text_of).unwrap();
    let agent_5 = agent(&file, &url, &token, "web-5");

    poll(Duration::from_secs(60), "the per-host mails", || {
        let memory = mails_about(&smtp, &["Memory usage", "on web-5"]);
        let check = mails_about(&smtp, &["web-5/api is critical"]);
        (!memory.is_empty() && !check.is_empty()).then_some(())
    });
    assert!(
        mails_about(&smtp, &["hub-test"]).is_empty(),
        "the rule watches web-5 only: {:?}",
        mails_about(&smtp, &[])
    );
    let before = smtp.received().len();

    // The agent dies: one "host down", nothing else about web-5 while it is down.
    let (_, _) = agent_5.stop_with(libc::SIGKILL);
    let killed = Instant::now();
    let mut last_alerts = Value::Null;
    let down = loop {
        let down = mails_about(&smtp, &["Host web-5 is down"]);
        if !down.is_empty() {
            break down;
        }
        last_alerts = hub.json("/api/v1/alerts");
        assert!(
            killed.elapsed() < Duration::from_secs(45),
            "no host-down mail 45 s after the agent died; mails {:?}, alerts {last_alerts}, hosts {}",
            mails_about(&smtp, &[]),
            hub.json("/api/v1/hosts")
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    eprintln!("host down told {:?} after the kill", killed.elapsed());
    let _ = last_alerts;
    assert_eq!(down.len(), 1, "{down:?}");
    std::thread::sleep(Duration::from_secs(10));
    let during: Vec<String> = smtp.received()[before..]
        .iter()
        .map(|m| common::alerting::subject(m).to_string())
        .collect();
    assert_eq!(
        during.len(),
        1,
        "only the host-down mail while web-5 is down: {during:?}"
    );

    // Back: "up again", once.
    let _agent_5 = agent(&file, &url, &token, "web-5");
    let up = poll(Duration::from_secs(40), "host up again", || {
        let up = mails_about(&smtp, &["Host web-5 is up again"]);
        (!up.is_empty()).then_some(up)
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(mails_about(&smtp, &["Host web-5 is down"]).len(), 1);
    eprintln!("mails: {:?}", mails_about(&smtp, &[]));
}

/// A hub restarted keeps the hosts it received from: listed at once, and one whose agent died
/// while the hub was down is called down, once.
#[test]
fn a_hub_restarted_keeps_its_hosts_and_calls_one_that_died_meanwhile_down() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let smtp = common::alerting::SmtpServer::start(dir.path(), &[]);
    let hub_dir = tempfile::tempdir().unwrap();
    let (hub, hub_config) = alerting_hub(
        hub_dir.path(),
        smtp.port,
        &common::alerting::disabled_rules(&["memory_usage"]),
    );
    let token = agent_token(&hub_config, "agent-6");
    let url = format!("http://{}/api/v1/write", hub.addr);
    let file = agent_config(dir.path());
    let agent_6 = agent(&file, &url, &token, "web-6");
    let listed = |hub: &Daemon| {
        hub.json("/api/v1/hosts")["hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|h| h["host"] == "web-6")
    };
    poll(Duration::from_secs(30), "web-6 listed", || {
        listed(&hub).then_some(())
    });
    // Saved within 10 s of a new host.
    std::thread::sleep(Duration::from_secs(12));
    let (code, _) = hub.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0));
    let _ = agent_6.stop_with(libc::SIGKILL);
    let hub = Daemon::start(&hub_config);
    assert!(listed(&hub), "{}", hub.json("/api/v1/hosts"));
    let down = poll(
        Duration::from_secs(60),
        "host down after the restart",
        || {
            let down = mails_about(&smtp, &["Host web-6 is down"]);
            (!down.is_empty()).then_some(down)
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(down.len(), 1, "{down:?}");
    assert_eq!(
        mails_about(&smtp, &[]).len(),
        1,
        "{:?}",
        mails_about(&smtp, &[])
    );
}
