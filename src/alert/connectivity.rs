//! The connectivity gate (`[alerts.connectivity]`): when every canary check fails at once,
//! it is Lookout that lost the network, not each thing it watches. The engine then tells one
//! alert (`connectivity_lost`, from the check result `lookout:connectivity` this gate derives)
//! instead of one per check, and holds the alerts of the network checks: kept, recorded, not
//! sent. When a canary answers again the alert resolves ("restored"), and the held alerts stay
//! held for `grace` so their checks can run again; those still firing then are told, the
//! others never were.
//!
//! Pure: the engine feeds it the canaries' results and asks it, with `now`, what it holds.
//! The race between a check failing and its canaries reporting is closed by the engine: a
//! held check's notice waits until every canary has reported since it began (like a
//! `depends_on` dependency), so it can still be withdrawn when the gate closes.

use std::collections::{BTreeMap, HashSet};

use super::mute::GateHold;
use crate::clock::UnixMillis;
use crate::config::ConnectivityConfig;
use crate::model::Status;

/// Where the gate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateState {
    /// Some canary answers (or not every canary has reported yet).
    Connected,
    /// Every canary fails, since `since_ms`.
    Lost { since_ms: UnixMillis },
    /// A canary answered again at `back_ms`: held alerts wait out the grace.
    Returning { back_ms: UnixMillis },
}

/// A change of the gate, for the engine to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Lost,
    Restored,
}

#[derive(Debug, Clone)]
pub struct Gate {
    canaries: Vec<String>,
    held: HashSet<String>,
    grace_ms: i64,
    /// Each canary's latest result: failing, and what it said.
    latest: BTreeMap<String, (bool, String)>,
    state: GateState,
}

impl Gate {
    pub fn new(config: &ConnectivityConfig) -> Gate {
        Gate {
            canaries: config.canaries.clone(),
            held: config.held.iter().cloned().collect(),
            grace_ms: config.grace.as_millis() as i64,
            latest: BTreeMap::new(),
            state: GateState::Connected,
        }
    }

    /// After a reload: what the previous gate knew of the canaries that remain, and its state.
    pub fn carry_over(&mut self, previous: &Gate) {
        for canary in &self.canaries {
            if let Some(latest) = previous.latest.get(canary) {
                self.latest.insert(canary.clone(), latest.clone());
            }
        }
        self.state = previous.state;
    }

    pub fn state(&self) -> GateState {
        self.state
    }

    pub fn is_canary(&self, check: &str) -> bool {
        self.canaries.iter().any(|c| c == check)
    }

    pub fn canaries(&self) -> &[String] {
        &self.canaries
    }

    /// Whether the alerts of `check` are held while connectivity is lost.
    pub fn is_held(&self, check: &str) -> bool {
        self.held.contains(check)
    }

    /// Takes one canary's result (`failing`: critical or unknown); says when the gate closes
    /// (every canary failing) or opens again (one answers).
    pub fn observe(
        &mut self,
        canary: &str,
        failing: bool,
        detail: &str,
        now_ms: UnixMillis,
    ) -> Option<Change> {
        if !self.is_canary(canary) {
            return None;
        }
        self.latest
            .insert(canary.to_string(), (failing, detail.to_string()));
        let all_failing = self
            .canaries
            .iter()
            .all(|c| self.latest.get(c).is_some_and(|(failing, _)| *failing));
        match (self.state, all_failing) {
            (GateState::Lost { .. }, true) => None,
            (_, true) => {
                self.state = GateState::Lost { since_ms: now_ms };
                Some(Change::Lost)
            }
            (GateState::Lost { .. }, false) => {
                self.state = GateState::Returning { back_ms: now_ms };
                Some(Change::Restored)
            }
            (_, false) => None,
        }
    }

    /// The result of `lookout:connectivity`, once every canary has reported: critical with
    /// "lost: ..." while all fail, else ok with "restored: ..." (what a resolved notice says).
    pub fn verdict(&self) -> Option<(Status, String)> {
        if self.canaries.iter().any(|c| !self.latest.contains_key(c)) {
            return None;
        }
        let describe = |failing: bool| {
            self.canaries
                .iter()
                .filter(|c| self.latest[*c].0 == failing)
                .map(|c| {
                    let detail = &self.latest[c].1;
                    if failing && !detail.is_empty() {
                        format!("{c} ({detail})")
                    } else {
                        c.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        Some(match self.state {
            GateState::Lost { .. } => (
                Status::Critical,
                format!("lost: every canary fails: {}", describe(true)),
            ),
            _ => (
                Status::Ok,
                format!("restored: {} answer(s) again", describe(false)),
            ),
        })
    }

    /// Every canary fails, or one answered again less than `grace` ago.
    pub fn closed(&self, now_ms: UnixMillis) -> bool {
        match self.state {
            GateState::Lost { .. } => true,
            GateState::Returning { back_ms } => now_ms < back_ms + self.grace_ms,
            GateState::Connected => false,
        }
    }

    /// Why the alerts of `check` are held at `now_ms`, if they are.
    pub fn holds(&self, check: Option<&str>, now_ms: UnixMillis) -> Option<GateHold> {
        if !check.is_some_and(|c| self.is_held(c)) {
            return None;
        }
        match self.state {
            GateState::Lost { .. } => Some(GateHold::Lost),
            GateState::Returning { back_ms } if now_ms < back_ms + self.grace_ms => {
                Some(GateHold::Returning)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const S: i64 = 1_000;

    fn gate() -> Gate {
        Gate::new(&ConnectivityConfig {
            canaries: vec!["gw".into(), "dns".into()],
            held: vec!["gw".into(), "dns".into(), "app".into()],
            grace: Duration::from_secs(30),
        })
    }

    #[test]
    fn the_gate_closes_only_when_every_canary_fails_and_opens_when_one_answers() {
        let mut gate = gate();
        /// (canary, failing, at, change, state after, why)
        type Step<'a> = (&'a str, bool, i64, Option<Change>, GateState, &'a str);
        let steps: Vec<Step> = vec![
            (
                "gw",
                true,
                0,
                None,
                GateState::Connected,
                "dns has not reported",
            ),
            ("dns", false, S, None, GateState::Connected, "dns answers"),
            (
                "dns",
                true,
                2 * S,
                Some(Change::Lost),
                GateState::Lost { since_ms: 2 * S },
                "both fail",
            ),
            (
                "gw",
                true,
                3 * S,
                None,
                GateState::Lost { since_ms: 2 * S },
                "still lost",
            ),
            (
                "app",
                false,
                4 * S,
                None,
                GateState::Lost { since_ms: 2 * S },
                "not a canary",
            ),
            (
                "gw",
                false,
                5 * S,
                Some(Change::Restored),
                GateState::Returning { back_ms: 5 * S },
                "gw answers",
            ),
            (
                "gw",
                false,
                6 * S,
                None,
                GateState::Returning { back_ms: 5 * S },
                "still back",
            ),
            (
                "gw",
                true,
                7 * S,
                Some(Change::Lost),
                GateState::Lost { since_ms: 7 * S },
                "lost again",
            ),
        ];
        for (canary, failing, at, change, state, why) in steps {
            assert_eq!(
                gate.observe(canary, failing, "refused", at),
                change,
                "{why}"
            );
            assert_eq!(gate.state(), state, "{why}");
        }
    }

    #[test]
    fn held_checks_are_held_while_lost_and_for_the_grace_after() {
        let mut gate = gate();
        assert_eq!(gate.holds(Some("app"), 0), None, "connected");
        gate.observe("gw", true, "", 0);
        gate.observe("dns", true, "", 0);
        // (check, at, reason)
        let cases: Vec<(Option<&str>, i64, Option<GateHold>)> = vec![
            (Some("app"), S, Some(GateHold::Lost)),
            (Some("gw"), S, Some(GateHold::Lost)),
            (Some("applog"), S, None),
            (None, S, None),
        ];
        for (check, at, reason) in cases {
            assert_eq!(gate.holds(check, at), reason, "{check:?} at {at}");
        }
        gate.observe("dns", false, "", 10 * S);
        assert_eq!(gate.holds(Some("app"), 10 * S), Some(GateHold::Returning));
        assert_eq!(
            gate.holds(Some("app"), 40 * S - 1),
            Some(GateHold::Returning)
        );
        assert_eq!(gate.holds(Some("app"), 40 * S), None, "the grace is over");
    }

    #[test]
    fn the_verdict_names_the_failing_canaries_and_waits_for_all_of_them() {
        let mut gate = gate();
        gate.observe("gw", true, "connection refused", 0);
        assert_eq!(gate.verdict(), None);
        gate.observe("dns", true, "timed out", 0);
        assert_eq!(
            gate.verdict(),
            Some((
                Status::Critical,
                "lost: every canary fails: gw (connection refused), dns (timed out)".to_string()
            ))
        );
        gate.observe("dns", false, "ok", S);
        assert_eq!(
            gate.verdict(),
            Some((Status::Ok, "restored: dns answer(s) again".to_string()))
        );
    }

    #[test]
    fn a_reload_keeps_what_the_remaining_canaries_said() {
        let mut old = gate();
        old.observe("gw", true, "", 0);
        old.observe("dns", true, "", 0);
        let mut new = Gate::new(&ConnectivityConfig {
            canaries: vec!["gw".into()],
            held: vec!["gw".into()],
            grace: Duration::from_secs(10),
        });
        new.carry_over(&old);
        assert_eq!(new.state(), GateState::Lost { since_ms: 0 });
        assert_eq!(new.observe("gw", false, "", S), Some(Change::Restored));
    }
}
