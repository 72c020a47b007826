//! Agents and one hub (issue 19): a hub is a Lookout with `[receive]` and an agent token; an
//! agent is a Lookout started from `lookout config init --preset agent` with its variables
//! set. Shared by `tests/it/agent_hub.rs` (one agent, one hub, on this host's loopback) and
//! `tests/it/agent_netns.rs` (three agents and a hub, each in its own network namespace).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::common::{self, Daemon, lookout, run, text};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `text` with the first `key = ...` line after the line `header` set to `key = value`.
pub fn set(text: &str, header: &str, key: &str, value: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let start = lines
        .iter()
        .position(|line| line == header)
        .unwrap_or_else(|| panic!("no {header} in the preset's file"));
    let at = lines[start..]
        .iter()
        .position(|line| line.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no {key} under {header} in the preset's file"));
    lines[start + at] = format!("{key} = {value}");
    lines.join("\n") + "\n"
}

/// How a test runs an agent: where it listens and how often it collects and sends.
pub struct AgentSettings<'a> {
    /// `[server] listen`, e.g. "127.0.0.1:0"; off the loopback, plain HTTP is allowed
    /// (`insecure_http`: a test network).
    pub listen: &'a str,
    /// `[system] interval` and the remote write's `flush_interval`, e.g. "1s".
    pub interval: &'a str,
    /// The remote write's `max_backoff`.
    pub max_backoff: &'a str,
}

impl Default for AgentSettings<'_> {
    fn default() -> Self {
        AgentSettings {
            listen: "127.0.0.1:0",
            interval: "1s",
            max_backoff: "1s",
        }
    }
}

/// `lookout config init --preset agent` into `dir/agent.toml`, then made fit for a test (a
/// free port, its own data dir, everything every second). The variables it reads, from its
/// "wrote ..." message, must be the hub's URL, the agent token and the host.
pub fn agent_config(dir: &Path) -> PathBuf {
    agent_config_with(dir, &AgentSettings::default())
}

/// `agent_config` with `settings`.
pub fn agent_config_with(dir: &Path, settings: &AgentSettings<'_>) -> PathBuf {
    let file = dir.join("agent.toml");
    let out = run(
        &[
            "config",
            "init",
            "--preset",
            "agent",
            file.to_str().unwrap(),
        ],
        dir,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    for variable in ["LOOKOUT_HUB_URL", "LOOKOUT_AGENT_TOKEN", "LOOKOUT_HOST"] {
        assert!(
            said.contains(variable),
            "the message names {variable}: {said}"
        );
    }
    let mut config = std::fs::read_to_string(&file).unwrap();
    let data = format!("\"{}\"", dir.join("agent-data").display());
    let quoted = |value: &str| format!("\"{value}\"");
    config = set(&config, "[server]", "listen", &quoted(settings.listen));
    if !settings.listen.starts_with("127.") {
        config = set(&config, "[server]", "insecure_http", "true");
    }
    config = set(&config, "[storage]", "path", &data);
    config = set(&config, "[storage]", "flush_interval", "\"1s\"");
    config = set(&config, "[system]", "interval", &quoted(settings.interval));
    config = set(
        &config,
        "[[remote_write]]",
        "flush_interval",
        &quoted(settings.interval),
    );
    config = set(
        &config,
        "[[remote_write]]",
        "max_backoff",
        &quoted(settings.max_backoff),
    );
    std::fs::write(&file, config).unwrap();
    file
}

/// The `lookout serve` of the agent's file with its variables set (`Daemon::spawn` it).
pub fn agent_command(config: &Path, url: &str, token: &str, host: &str) -> Command {
    let mut command = lookout();
    command
        .args(["serve", "--config"])
        .arg(config)
        .env("LOOKOUT_HUB_URL", url)
        .env("LOOKOUT_AGENT_TOKEN", token)
        .env("LOOKOUT_HOST", host);
    command
}

/// `lookout serve` of the agent's file with its variables set, up and answering.
pub fn agent(config: &Path, url: &str, token: &str, host: &str) -> Daemon {
    Daemon::spawn(agent_command(config, url, token, host))
}

/// A hub: `[receive]` on, on a free port, written into its config once known (for a restart
/// on the same address).
pub fn hub(dir: &Path) -> (Daemon, PathBuf) {
    let config = common::write_config(dir, 0, "\n[receive]\n");
    let hub = Daemon::start(&config);
    hub.pin_listen(&config);
    (hub, config)
}

/// `lookout token create --role agent --name NAME` against the hub's store.
pub fn agent_token(config: &Path, name: &str) -> String {
    let out = common::output(
        lookout()
            .args(["token", "create", "--config"])
            .arg(config)
            .args(["--role", "agent", "--name", name]),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_string();
    common::secret(&token);
    token
}

/// The points (Unix ms) of `name{host=HOST}` the daemon stores from `from_ms` on.
/// The hub files a Lookout agent's series under its own names (`cpu_usage_ratio`, sent as
/// `lookout_cpu_usage_ratio`), with the agent's `host` label. None for a host not heard yet.
pub fn points(daemon: &Daemon, name: &str, host: Option<&str>, from_ms: i64) -> Vec<i64> {
    let to = now_ms() / 1000 + 60;
    let mut path = format!(
        "/api/v1/series?name={name}&from={}&to={to}&max_points=10000",
        from_ms / 1000
    );
    if let Some(host) = host {
        path.push_str(&format!("&host={host}"));
    }
    let (status, body) = daemon.get(&path);
    // A host the hub has not heard from yet is no host of its (404): no points yet.
    if status == 404 && host.is_some() {
        return Vec::new();
    }
    assert_eq!(status, 200, "GET {path}: {body}");
    let answer: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"));
    let mut times: Vec<i64> = answer["series"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|series| series["points"].as_array().cloned().unwrap_or_default())
        .filter(|point| point["avg"].is_number())
        .filter_map(|point| point["at"].as_i64())
        .filter(|at| *at >= from_ms)
        .collect();
    times.sort();
    times.dedup();
    times
}

/// The widest step between two consecutive times.
pub fn widest_gap(times: &[i64]) -> i64 {
    times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0)
}

/// The agent's queue toward the hub (`lookout_remote_write_samples_queued{endpoint="hub"}`
/// on its /metrics): samples collected and not yet accepted by the hub.
pub fn queued(agent: &Daemon) -> f64 {
    let queued = "lookout_remote_write_samples_queued{endpoint=\"hub\"}";
    let (_, page) = agent.get("/metrics");
    page.lines()
        .find_map(|line| line.strip_prefix(queued)?.strip_prefix(' '))
        .map_or(0.0, |v| v.parse().unwrap_or(0.0))
}
