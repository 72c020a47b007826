//! Hosts the hub receives from (`[receive]`): when each was last heard, how often it sends,
//! and the `host_silent` rules (the built-in `host_down`) over them.
//!
//! A host's interval is the median of the gaps between its recent requests (gaps under
//! `MIN_GAP_MS` are one request's several timestamps; the gap that ends an outage is not a
//! sending interval and is not counted; 10 s until a gap is known). A host is silent after
//! `missed_intervals` of them.
//!
//! The hub's own network: when every host it hears from (two or more) falls silent together,
//! the hub lost the network, not each host. Without `[alerts.connectivity]` canaries, the
//! engine then derives the `lookout:connectivity` result itself: one "connectivity lost"
//! instead of a host_down per host, and "restored" when one host is heard again; hosts get
//! their intervals to come back before one is called down. With canaries, the gate decides
//! and host_down waits while it is closed.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::Engine;
use crate::alert::records::AlertBatch;
use crate::clock::UnixMillis;
use crate::config::RuleSource;
use crate::model::{CheckResult, Layer, Observation, Status};

/// Gaps between requests remembered per host.
const GAPS: usize = 8;
/// A gap shorter than this is within one request (or one batch of requests), not an interval.
const MIN_GAP_MS: i64 = 200;
/// A host's interval until a gap between two of its requests is known.
const FIRST_INTERVAL_MS: i64 = 10_000;
/// The most hosts watched (`receive::MAX_HOSTS` lists as many).
const MAX_HOSTS: usize = 1_000;

#[derive(Debug, Clone, Default)]
pub(super) struct HostWatch {
    last_heard_ms: UnixMillis,
    gaps: VecDeque<i64>,
}

impl HostWatch {
    /// The median gap between its requests (`FIRST_INTERVAL_MS` until one is known).
    fn interval_ms(&self) -> i64 {
        if self.gaps.is_empty() {
            return FIRST_INTERVAL_MS;
        }
        let mut gaps: Vec<i64> = self.gaps.iter().copied().collect();
        gaps.sort_unstable();
        gaps[gaps.len() / 2]
    }

    fn silent_ms(&self, now_ms: UnixMillis) -> i64 {
        (now_ms - self.last_heard_ms).max(0)
    }
}

/// The hub's own verdict on its network, from its hosts (when no canaries are configured).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum HostsNet {
    #[default]
    Connected,
    /// Every host silent since about `since_ms`.
    Lost { since_ms: UnixMillis },
    /// A host was heard again at `back_ms`: the others get their intervals to follow.
    Returning { back_ms: UnixMillis },
}

impl Engine {
    /// Notes the hosts of an observation a receiver published (source `receive:...`); a host
    /// with a host_down alert has data again.
    pub(super) fn hear_hosts(
        &mut self,
        observation: &Observation,
        now_ms: UnixMillis,
        batch: &mut AlertBatch,
    ) {
        let mut heard: Vec<&str> = Vec::new();
        let hosts = observation
            .samples
            .iter()
            .filter_map(|s| s.series.label("host"))
            .chain(
                observation
                    .checks
                    .iter()
                    .filter_map(|c| c.check.split_once('/').map(|(host, _)| host)),
            );
        for host in hosts {
            if heard.last() != Some(&host) && !heard.contains(&host) {
                heard.push(host);
            }
        }
        let rules = self.host_silent_rules();
        for host in heard {
            let known = self.hosts.len();
            let watch = match self.hosts.get_mut(host) {
                Some(watch) => watch,
                None if known < MAX_HOSTS => self.hosts.entry(host.to_string()).or_default(),
                None => continue,
            };
            let gap = now_ms - watch.last_heard_ms;
            let was_silent = watch.last_heard_ms > 0
                && rules
                    .iter()
                    .any(|(_, missed)| gap >= watch.interval_ms() * i64::from(*missed));
            if watch.last_heard_ms > 0 && gap >= MIN_GAP_MS && !was_silent {
                watch.gaps.push_back(gap);
                if watch.gaps.len() > GAPS {
                    watch.gaps.pop_front();
                }
            }
            watch.last_heard_ms = watch.last_heard_ms.max(now_ms);
            for &(index, _) in &rules {
                let id = host_alert_id(&self.rules[index].name, host);
                if self.live.contains_key(&id) {
                    let interval_ms = self.hosts[host].interval_ms();
                    self.evaluate(
                        index,
                        id,
                        &host_labels(host),
                        0.0,
                        format!("heard again after {}", duration_text(gap)),
                        interval_ms,
                        now_ms,
                        batch,
                    );
                }
            }
        }
        if let HostsNet::Lost { .. } = self.hosts_net {
            self.hosts_net = HostsNet::Returning { back_ms: now_ms };
            let back: Vec<String> = self
                .hosts
                .iter()
                .filter(|(_, w)| w.last_heard_ms == now_ms)
                .map(|(h, _)| h.clone())
                .collect();
            self.tell_hosts_net(
                Status::Ok,
                format!("restored: {} sends again", back.join(", ")),
                observation.at_ms.min(now_ms),
                now_ms,
                batch,
            );
        }
    }

    /// The hosts a previous run heard (saved by the store): watched from `now_ms`, so each
    /// has its intervals to be heard again before it is called down, and one that died while
    /// the hub was down is.
    pub fn know_hosts(&mut self, hosts: &[(String, Option<i64>)], now_ms: UnixMillis) {
        for (host, interval_ms) in hosts {
            if self.hosts.len() >= MAX_HOSTS {
                break;
            }
            self.hosts.entry(host.clone()).or_insert_with(|| HostWatch {
                last_heard_ms: now_ms,
                gaps: interval_ms
                    .filter(|i| *i >= MIN_GAP_MS)
                    .into_iter()
                    .collect(),
            });
        }
    }

    fn host_silent_rules(&self) -> Vec<(usize, u32)> {
        self.rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r.source {
                RuleSource::HostSilent { missed_intervals } => Some((i, missed_intervals)),
                _ => None,
            })
            .collect()
    }

    /// host_down: hosts silent for their rule's count of intervals; the hub's own network when
    /// they all are.
    pub(super) fn evaluate_hosts(&mut self, now_ms: UnixMillis, batch: &mut AlertBatch) {
        let rules = self.host_silent_rules();
        if rules.is_empty() || self.hosts.is_empty() {
            return;
        }
        let fewest = rules.iter().map(|(_, m)| *m).min().unwrap_or(3);
        self.watch_hosts_net(fewest, now_ms, batch);
        let held = match (&self.gate, self.hosts_net) {
            (Some(gate), _) => gate.closed(now_ms),
            (None, HostsNet::Lost { .. }) => true,
            (None, HostsNet::Returning { back_ms }) => {
                // Each host gets its own intervals to come back before it is called down.
                let longest = self
                    .hosts
                    .values()
                    .map(HostWatch::interval_ms)
                    .max()
                    .unwrap_or(0);
                if now_ms - back_ms < longest * i64::from(fewest) {
                    true
                } else {
                    self.hosts_net = HostsNet::Connected;
                    false
                }
            }
            (None, HostsNet::Connected) => false,
        };
        if held {
            return;
        }
        let hosts: Vec<(String, i64, i64)> = self
            .hosts
            .iter()
            .map(|(host, watch)| (host.clone(), watch.interval_ms(), watch.silent_ms(now_ms)))
            .collect();
        for (index, missed) in rules {
            for (host, interval_ms, silent_ms) in &hosts {
                let missing = *silent_ms >= interval_ms * i64::from(missed);
                let id = host_alert_id(&self.rules[index].name, host);
                if missing || self.live.contains_key(&id) {
                    self.evaluate(
                        index,
                        id,
                        &host_labels(host),
                        if missing { 1.0 } else { 0.0 },
                        format!("no data for {}", duration_text(*silent_ms)),
                        *interval_ms,
                        now_ms,
                        batch,
                    );
                }
            }
        }
    }

    /// Without canaries: every host that was up (two or more) silent for `missed - 1` of its
    /// intervals, and one of them for `missed`, is the hub's network, said once.
    fn watch_hosts_net(&mut self, missed: u32, now_ms: UnixMillis, batch: &mut AlertBatch) {
        if self.gate.is_some() || self.hosts_net != HostsNet::Connected {
            return;
        }
        // The hosts that were up: one already down says nothing of the hub's network.
        let down: Vec<String> = self
            .live
            .values()
            .filter(|a| matches!(self.rules[a.rule].source, RuleSource::HostSilent { .. }))
            .filter_map(|a| a.labels.get("host").cloned())
            .collect();
        let timed: Vec<(i64, i64)> = self
            .hosts
            .iter()
            .filter(|(host, _)| !down.contains(host))
            .map(|(_, w)| (w.interval_ms(), w.silent_ms(now_ms)))
            .collect();
        if timed.len() < 2 {
            return;
        }
        let all_quiet = timed.iter().all(|(interval, silent)| {
            *silent >= interval * i64::from(missed.saturating_sub(1).max(1))
        });
        let one_missing = timed
            .iter()
            .any(|(interval, silent)| *silent >= interval * i64::from(missed));
        if !(all_quiet && one_missing) {
            return;
        }
        let since_ms = self
            .hosts
            .values()
            .map(|w| w.last_heard_ms)
            .max()
            .unwrap_or(now_ms);
        self.hosts_net = HostsNet::Lost { since_ms };
        self.tell_hosts_net(
            Status::Critical,
            format!(
                "lost: none of the {} hosts this hub receives from has been heard for {}",
                timed.len(),
                duration_text(now_ms - since_ms)
            ),
            now_ms,
            now_ms,
            batch,
        );
    }

    fn tell_hosts_net(
        &mut self,
        status: Status,
        detail: String,
        at_ms: UnixMillis,
        now_ms: UnixMillis,
        batch: &mut AlertBatch,
    ) {
        self.observe_check(
            &connectivity_result(status, detail, at_ms),
            false,
            now_ms,
            batch,
        );
    }
}

/// The `lookout:connectivity` result the engine derives (from the canaries, or the hosts), which
/// the built-in `connectivity_lost` rule watches.
pub(super) fn connectivity_result(
    status: Status,
    detail: String,
    at_ms: UnixMillis,
) -> CheckResult {
    CheckResult {
        check: crate::config::watch::CONNECTIVITY_CHECK.to_string(),
        layer: Layer::System,
        status,
        value: None,
        detail,
        at_ms,
        underlying: None,
    }
}

fn host_alert_id(rule: &str, host: &str) -> String {
    format!("{rule}:host={host}")
}

fn host_labels(host: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("host".to_string(), host.to_string())])
}

/// Whole seconds, rounded: "3s" for 2.9 s of silence.
fn duration_text(ms: i64) -> String {
    humantime::format_duration(Duration::from_secs(((ms.max(0) + 500) / 1000) as u64)).to_string()
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    /// What a receiver publishes for `host` at `at_ms`: its CPU and its agent's check `app`.
    fn received(host: &str, cpu: f64, app: Status, at_ms: i64) -> Observation {
        Observation {
            source: format!("receive:{host}"),
            at_ms,
            samples: vec![Sample {
                series: Arc::new(SeriesKey::new("cpu_usage_ratio").with("host", host)),
                value: cpu,
            }],
            checks: vec![CheckResult {
                underlying: None,
                check: format!("{host}/app"),
                layer: Layer::Application,
                status: app,
                value: None,
                detail: format!("{app} on {host}, as its agent reports"),
                at_ms,
            }],
        }
    }

    /// Every host sends every 5 s until `until_s` (those in `quiet` stop at `quiet_from_s`);
    /// the engine ticks every second. Returns the notices the mail receiver got.
    fn run_hosts(
        engine: &mut Engine,
        receiver: &mut Receiver,
        hosts: &[&str],
        quiet: &[&str],
        quiet_s: std::ops::Range<i64>,
        range_s: std::ops::Range<i64>,
    ) {
        for s in range_s {
            let at = s * S;
            if s % 5 == 0 {
                for host in hosts {
                    if quiet.contains(host) && quiet_s.contains(&s) {
                        continue;
                    }
                    let batch = engine.observe(&received(host, 0.2, Status::Ok, at), at);
                    receiver.take(batch, at);
                }
            }
            let batch = engine.tick(at + S / 2);
            receiver.take(batch, at + S / 2);
        }
    }

    fn summaries(receiver: &Receiver) -> Vec<String> {
        receiver
            .sent
            .iter()
            .map(|(_, n)| n.summary.clone())
            .collect()
    }

    #[test]
    fn a_silent_host_is_down_once_and_up_again_once() {
        let mut engine = engine(0);
        let mut receiver = Receiver::default();
        let hosts = ["a1", "a2", "a3"];
        run_hosts(&mut engine, &mut receiver, &hosts, &["a2"], 60..180, 0..240);
        assert_eq!(
            summaries(&receiver),
            ["Host a2 is down: no data for 31s", "Host a2 is up again",],
            "{:?}",
            receiver.log()
        );
        let down = &receiver.sent[0];
        assert_eq!(down.1.labels.get("host").map(String::as_str), Some("a2"));
        assert_eq!(down.1.severity, Severity::Critical);
        // Down 15 s after its last request (3 × 5 s) and the rule's 15 s `for`.
        assert!((85 * S..=90 * S).contains(&down.0), "{:?}", receiver.log());
        assert!(receiver.sent[1].0 >= 180 * S);
    }

    /// An agent flushing every 0.9 s is down after 3 of those (and the rule's 15 s `for`); one
    /// heard only once, after 3 of the first interval (10 s).
    #[test]
    fn a_host_sending_faster_than_a_second_or_only_once_is_still_watched() {
        let mut engine = engine(0);
        let mut receiver = Receiver::default();
        for i in 0..20 {
            let at = i * 900;
            receiver.take(
                engine.observe(&received("fast", 0.1, Status::Ok, at), at),
                at,
            );
        }
        receiver.take(engine.observe(&received("once", 0.1, Status::Ok, 0), 0), 0);
        let last = 19 * 900;
        let mut down = Vec::new();
        for ms in (last..last + 60 * S).step_by(100) {
            let batch = engine.tick(ms);
            for entry in batch.outbox.iter().filter(|e| e.notifier == "mail") {
                down.push((ms, entry.notice.summary.clone()));
            }
        }
        assert_eq!(down.len(), 2, "{down:?}");
        assert_eq!(down[0].1, "Host fast is down: no data for 18s");
        assert!(
            (last + 17_700..=last + 17_800).contains(&down[0].0),
            "{down:?}"
        );
        assert_eq!(down[1].1, "Host once is down: no data for 45s");
    }

    /// A hub restarted: the hosts it knew are watched from the restart; one that died while
    /// it was down is called down, one that sends again is not.
    #[test]
    fn hosts_known_before_a_restart_are_watched_from_it() {
        let mut engine = engine(0);
        engine.know_hosts(
            &[
                ("web-1".to_string(), Some(5_000)),
                ("gone".to_string(), Some(5_000)),
            ],
            100 * S,
        );
        let mut receiver = Receiver::default();
        run_hosts(&mut engine, &mut receiver, &["web-1"], &[], 0..0, 100..200);
        assert_eq!(
            summaries(&receiver),
            ["Host gone is down: no data for 31s"],
            "{:?}",
            receiver.log()
        );
    }

    #[test]
    fn every_host_silent_together_is_the_hubs_network_told_once() {
        let mut engine = engine(0);
        let mut receiver = Receiver::default();
        let hosts = ["a1", "a2", "a3"];
        run_hosts(&mut engine, &mut receiver, &hosts, &hosts, 60..180, 0..300);
        let got = summaries(&receiver);
        assert_eq!(got.len(), 2, "{:?}", receiver.log());
        assert!(
            got[0].starts_with("Monitoring connectivity lost: none of the 3 hosts"),
            "{got:?}"
        );
        assert!(
            got[1].starts_with("Monitoring connectivity restored"),
            "{got:?}"
        );
        assert!(!got.iter().any(|s| s.contains("is down")), "{got:?}");
    }

    #[test]
    fn a_host_still_silent_after_the_network_returns_is_down() {
        let mut engine = engine(0);
        let mut receiver = Receiver::default();
        let hosts = ["a1", "a2", "a3"];
        // All quiet from 60 s; a1 and a3 back at 180 s, a2 never.
        run_hosts(&mut engine, &mut receiver, &hosts, &hosts, 60..180, 0..180);
        run_hosts(
            &mut engine,
            &mut receiver,
            &hosts,
            &["a2"],
            180..400,
            180..260,
        );
        let got = summaries(&receiver);
        assert_eq!(got.len(), 3, "{:?}", receiver.log());
        assert!(got[0].starts_with("Monitoring connectivity lost"));
        assert!(
            got[1].starts_with("Monitoring connectivity restored: a1"),
            "{got:?}"
        );
        assert!(got[2].starts_with("Host a2 is down"), "{got:?}");
    }

    #[test]
    fn an_agents_checks_alert_with_their_host_and_never_as_no_data() {
        let mut engine = engine(0);
        let mut receiver = Receiver::default();
        for s in (0..200).step_by(5) {
            let at = s * S;
            let status = if s >= 50 {
                Status::Critical
            } else {
                Status::Ok
            };
            let batch = engine.observe(&received("web-2", 0.97, status, at), at);
            receiver.take(batch, at);
            let batch = engine.tick(at + S);
            receiver.take(batch, at + S);
        }
        let got = summaries(&receiver);
        assert!(
            got.contains(&"web-2/app is critical".to_string()),
            "{got:?}"
        );
        assert!(
            got.contains(&"CPU usage 97.0% on web-2".to_string()),
            "{got:?}"
        );
        for (_, notice) in &receiver.sent {
            assert_eq!(notice.labels.get("host").map(String::as_str), Some("web-2"));
        }
        // The agent's check stops with its host: host_down says so, no-data does not.
        let mut quiet = Receiver::default();
        for s in 200..400 {
            let batch = engine.tick(s * S);
            quiet.take(batch, s * S);
        }
        let got = summaries(&quiet);
        assert_eq!(got.len(), 1, "{:?}", quiet.sent);
        assert!(got[0].starts_with("Host web-2 is down"), "{got:?}");
    }
}
