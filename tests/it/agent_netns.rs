//! Several hosts on one machine (issue 19): a hub and three Lookout agents (`a1`, `a2`, `a3`),
//! each in its own network namespace behind its own cable to one switch (`common::netns`),
//! the agents started from `lookout config init --preset agent` and writing to the hub. The
//! hub mails through a real SMTP server (aiosmtpd) on its own loopback, so its mail still goes
//! out while its cable is pulled.
//!
//! - a2's cable pulled for 2 minutes: exactly one "host down" mail naming a2, then exactly one
//!   "up again" once it is back, and no mail about a1 or a3;
//! - the hub's own cable pulled: exactly one "connectivity lost" mail (not three host-down
//!   ones), and its "restored" once the cable is back;
//! - over the whole run, once the backlogs have arrived, the hub has every point each agent
//!   collected (CPU), with no step wider than twice the interval.
//!
//! Needs root for `ip netns` (`.ci/run` runs as root): otherwise it says why and does nothing.
//! It takes about 3.5 minutes, nearly all of it waiting (a2's cable is out for 2 minutes, as the
//! issue says); it prints one line of figures (`--nocapture`). Measured (debug build, 2-core
//! machine shared with other builds, 3 runs): a2's "down" mail 6.3-6.5 s after the cut, its
//! "up again" 10.5-11.1 s after the cable is back; "connectivity lost" 4.7-5.4 s after the
//! hub's cut, "restored" 14.7-16.1 s after it is back; widest step on the hub 2 s, every host.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::alerting::{SmtpServer, alerts_config, poll, subject};
use crate::common::hub::{
    AgentSettings, agent_command, agent_config_with, agent_token, now_ms, points, queued,
    widest_gap,
};
use crate::common::netns::{self, Net};
use crate::common::{self, Daemon};

/// The agents' system interval and remote-write flush interval.
const INTERVAL: &str = "2s";
const INTERVAL_MS: i64 = 2_000;
/// The agents, by host name (also their nodes on the switch).
const AGENTS: [&str; 3] = ["a1", "a2", "a3"];
/// How long a2's cable is out (the 2 minutes).
const AGENT_CUT: Duration = Duration::from_secs(120);
/// The longest the hub's cable stays out waiting for "connectivity lost".
const HUB_CUT_LIMIT: Duration = Duration::from_secs(75);
/// After "connectivity lost", the cable stays out this much longer (no host-down mail may
/// follow it).
const HUB_CUT_AFTER: Duration = Duration::from_secs(20);
/// How long a mail may take once its condition holds (silence over 3 intervals, the critical
/// hold, grouping) on a busy machine.
const MAIL_WITHIN: Duration = Duration::from_secs(75);
/// After the last expected mail: nothing more for this long.
const QUIET: Duration = Duration::from_secs(20);

/// One agent: its daemon (in its namespace) and its directory.
struct Agent {
    host: &'static str,
    daemon: Daemon,
    _dir: tempfile::TempDir,
}

/// What a mail is about, from its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
enum About {
    Down(String),
    Up(String),
    ConnectivityLost,
    ConnectivityRestored,
    Other(String),
}

/// Whether `subject` names `host` as a word ("a2" in "Host a2 is down — a2", not in "a22").
fn names(subject: &str, host: &str) -> bool {
    subject
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '.'))
        .any(|word| word.eq_ignore_ascii_case(host))
}

/// Sorts a mail by its subject; matched loosely (case, wording around the words), so a
/// rewording of the summaries does not break the test, but a mail about several things does.
fn about(mail: &Value) -> About {
    let subject = subject(mail);
    let lower = subject.to_lowercase();
    let resolved = lower.starts_with("[resolved]");
    if lower.contains("connectivity") {
        if resolved || lower.contains("restored") {
            return About::ConnectivityRestored;
        }
        if lower.contains("lost") {
            return About::ConnectivityLost;
        }
    }
    let hosts: Vec<&str> = AGENTS.into_iter().filter(|h| names(subject, h)).collect();
    if let [host] = hosts[..] {
        if resolved || lower.contains("up again") {
            return About::Up(host.to_string());
        }
        if lower.contains("down") {
            return About::Down(host.to_string());
        }
    }
    About::Other(subject.to_string())
}

fn told(smtp: &SmtpServer) -> Vec<About> {
    smtp.received().iter().map(about).collect()
}

fn subjects(smtp: &SmtpServer) -> Vec<String> {
    smtp.received()
        .iter()
        .map(|m| subject(m).to_string())
        .collect()
}

/// The hub's config: `[receive]` on its switch address (plain HTTP: a test network), alerting by mail to `smtp_port` on
/// its loopback (the resource rules off: a busy machine must not add mails).
fn hub_config(dir: &Path, addr: std::net::Ipv4Addr, smtp_port: u16) -> PathBuf {
    let config = common::write_config(
        dir,
        0,
        &format!("\n[receive]\n{}", alerts_config(smtp_port, "")),
    );
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replacen(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"{addr}:0\"\ninsecure_http = true"),
        1,
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// The hub's CPU points of `host` (`cpu_usage_ratio{host}`) from `from_ms` on.
fn hub_cpu(net: &Net, hub: &Daemon, host: &str, from_ms: i64) -> Vec<i64> {
    net.within("hub", || {
        points(hub, "cpu_usage_ratio", Some(host), from_ms)
    })
}

/// Waits until each agent's queue is empty and the hub has a point of it taken after
/// `after_ms`.
fn drained(net: &Net, hub: &Daemon, agents: &[Agent], after_ms: i64, from_ms: i64) {
    for agent in agents {
        let what = format!("{}'s backlog drained", agent.host);
        poll(Duration::from_secs(90), &what, || {
            (net.within(agent.host, || queued(&agent.daemon)) == 0.0
                && hub_cpu(net, hub, agent.host, from_ms)
                    .last()
                    .is_some_and(|last| *last > after_ms))
            .then_some(())
        });
    }
}

/// Every point each agent collected from `from_ms` to `until_ms` is on the hub, with no step
/// wider than twice the interval (or, on a machine so busy that the agent itself collected
/// late, no wider than the agent's own widest step). Returns the widest step on the hub.
fn no_gap(net: &Net, hub: &Daemon, agent: &Agent, from_ms: i64, until_ms: i64) -> i64 {
    let host = agent.host;
    let within =
        |times: Vec<i64>| -> Vec<i64> { times.into_iter().filter(|at| *at <= until_ms).collect() };
    let sent = within(net.within(host, || {
        points(&agent.daemon, "cpu_usage_ratio", None, from_ms)
    }));
    let received = within(hub_cpu(net, hub, host, from_ms));
    let missing: Vec<&i64> = sent.iter().filter(|at| !received.contains(at)).collect();
    assert!(
        missing.is_empty(),
        "the hub lacks {} of {host}'s {} points: {missing:?}",
        missing.len(),
        sent.len()
    );
    assert!(
        sent.len() as i64 >= (until_ms - from_ms) / INTERVAL_MS / 2,
        "{host} collected only {} points in {} ms",
        sent.len(),
        until_ms - from_ms
    );
    let widest = widest_gap(&received);
    assert!(
        widest <= 2 * INTERVAL_MS || widest <= widest_gap(&sent),
        "a gap of {widest} ms in {host}'s CPU on the hub (the agent's own widest step: {} ms): \
         {received:?}",
        widest_gap(&sent)
    );
    widest
}

#[test]
fn three_agents_in_their_own_namespaces_one_host_down_then_one_connectivity_lost() {
    let _machine = crate::common::machine::shared();
    if let Some(reason) = netns::unavailable() {
        eprintln!("SKIPPED agent_netns: {reason}");
        return;
    }
    let net = Net::new(&["hub", "a1", "a2", "a3"]);
    let hub_dir = tempfile::tempdir().unwrap();
    // The SMTP server and the hub in the hub's namespace: the server on its loopback.
    let smtp = net.within("hub", || SmtpServer::start(hub_dir.path(), &[]));
    let config = hub_config(hub_dir.path(), net.addr("hub"), smtp.port);
    let hub = net.within("hub", || Daemon::start(&config));
    let url = format!("http://{}/api/v1/write", hub.addr);
    let agents: Vec<Agent> = AGENTS
        .into_iter()
        .map(|host| {
            let dir = tempfile::tempdir().unwrap();
            let listen = format!("{}:0", net.addr(host));
            let file = agent_config_with(
                dir.path(),
                &AgentSettings {
                    listen: &listen,
                    interval: INTERVAL,
                    max_backoff: INTERVAL,
                },
            );
            let token = agent_token(&config, &format!("token-{host}"));
            let command = agent_command(&file, &url, &token, host);
            let daemon = net.within(host, move || Daemon::spawn(command));
            Agent {
                host,
                daemon,
                _dir: dir,
            }
        })
        .collect();
    let started = Instant::now();
    poll(
        Duration::from_secs(60),
        "every agent's CPU on the hub",
        || {
            AGENTS
                .iter()
                .all(|host| !hub_cpu(&net, &hub, host, 0).is_empty())
                .then_some(())
        },
    );
    let from_ms = now_ms();
    eprintln!(
        "agents on the hub {} ms after their start",
        started.elapsed().as_millis()
    );
    // The hub learns each agent's interval from a few requests.
    std::thread::sleep(Duration::from_secs(10));
    assert!(
        told(&smtp).is_empty(),
        "mail before any fault: {:?}",
        subjects(&smtp)
    );

    // a2's cable out for 2 minutes: one "host down", about a2 only.
    net.cut("a2");
    let cut = Instant::now();
    let down = poll(MAIL_WITHIN, "a \"host down\" mail about a2", || {
        told(&smtp)
            .contains(&About::Down("a2".into()))
            .then(|| cut.elapsed())
    });
    while cut.elapsed() < AGENT_CUT {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        told(&smtp),
        [About::Down("a2".into())],
        "while a2 is cut off: {:?}",
        subjects(&smtp)
    );
    net.restore("a2");
    let back = Instant::now();
    let back_ms = now_ms();
    let up = poll(MAIL_WITHIN, "an \"up again\" mail about a2", || {
        told(&smtp)
            .contains(&About::Up("a2".into()))
            .then(|| back.elapsed())
    });
    drained(&net, &hub, &agents, back_ms, from_ms);
    let a2_drained = back.elapsed();
    let widest_a2 = no_gap(&net, &hub, &agents[1], from_ms, back_ms);
    assert_eq!(
        told(&smtp),
        [About::Down("a2".into()), About::Up("a2".into())],
        "after a2 is back: {:?}",
        subjects(&smtp)
    );

    // The hub's own cable out: one "connectivity lost", no host down.
    net.cut("hub");
    let hub_cut = Instant::now();
    let lost = poll(HUB_CUT_LIMIT, "a \"connectivity lost\" mail", || {
        told(&smtp)
            .contains(&About::ConnectivityLost)
            .then(|| hub_cut.elapsed())
    });
    std::thread::sleep(HUB_CUT_AFTER);
    net.restore("hub");
    let hub_back = Instant::now();
    let hub_back_ms = now_ms();
    let restored = poll(MAIL_WITHIN, "a \"connectivity restored\" mail", || {
        told(&smtp)
            .contains(&About::ConnectivityRestored)
            .then(|| hub_back.elapsed())
    });
    drained(&net, &hub, &agents, hub_back_ms, from_ms);
    // Held host alerts of the outage, if any, would be told after the grace: wait a while.
    std::thread::sleep(QUIET);
    assert_eq!(
        told(&smtp),
        [
            About::Down("a2".into()),
            About::Up("a2".into()),
            About::ConnectivityLost,
            About::ConnectivityRestored
        ],
        "every mail of the run: {:?}",
        subjects(&smtp)
    );

    // The whole run, every host: no gap once the backlogs arrived.
    let until_ms = hub_back_ms;
    let widest: Vec<i64> = agents
        .iter()
        .map(|agent| no_gap(&net, &hub, agent, from_ms, until_ms))
        .collect();
    eprintln!(
        "NETNS interval_ms={INTERVAL_MS} a2_down_mail_ms={} a2_up_mail_ms={} a2_drained_ms={} \
         a2_widest_until_back_ms={widest_a2} connectivity_lost_mail_ms={} restored_mail_ms={} \
         widest_ms={widest:?} run_s={} mails={:?}",
        down.as_millis(),
        up.as_millis(),
        a2_drained.as_millis(),
        lost.as_millis(),
        restored.as_millis(),
        started.elapsed().as_secs(),
        subjects(&smtp)
    );
}
