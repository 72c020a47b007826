//! Login throttling, pure (time is an argument). It protects passwords without letting an
//! attacker lock the real user out:
//!
//! - Per (user, client address): the first `free_failures` failures cost nothing; each further
//!   one makes that pair wait before its next attempt (1 s, 2 s, 4 s, …); `per_pair` failures
//!   lock the pair for `lockout_ms`. The same user from another address is not affected, so a
//!   spray against `admin` never locks the real admin out.
//! - Per client address (any user): past `free_addr_failures` the address is slowed the same
//!   way, and `per_addr` failures lock the address. Behind a reverse proxy the address is the
//!   client's only when the proxy is in `server.trusted_proxies` (see `mod.rs`).
//! - A spray (failures from `spray_addrs` addresses or more, `spray_failures` or more in the
//!   window) is an incident of its own: told once per `lockout_ms`, nobody locked for it.
//!
//! Memory is bounded: each map keeps at most `max_tracked` entries (expired ones are pruned
//! first, then the least recently failed goes), and user names are cut to `MAX_USER_CHARS`.

use std::collections::{HashMap, VecDeque};

use crate::clock::UnixMillis;

/// Longest user name kept as a key; longer names are cut (they cannot exist anyway).
pub const MAX_USER_CHARS: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failures of one user from one address that cost no delay.
    pub free_failures: usize,
    /// Failures of one user from one address that lock that pair.
    pub per_pair: usize,
    /// Failures from one address (any user) that cost no delay.
    pub free_addr_failures: usize,
    /// Failures from one address (any user) that lock the address.
    pub per_addr: usize,
    /// The first delay; each further failure doubles it, up to `max_delay_ms`.
    pub base_delay_ms: i64,
    pub max_delay_ms: i64,
    /// A spray: this many failures in the window ...
    pub spray_failures: usize,
    /// ... from at least this many addresses.
    pub spray_addrs: usize,
    pub window_ms: i64,
    pub lockout_ms: i64,
    /// Most entries each map (pairs, addresses) keeps.
    pub max_tracked: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            free_failures: 3,
            per_pair: 5,
            free_addr_failures: 10,
            per_addr: 20,
            base_delay_ms: 1_000,
            max_delay_ms: 60_000,
            spray_failures: 50,
            spray_addrs: 5,
            window_ms: 15 * 60_000,
            lockout_ms: 15 * 60_000,
            max_tracked: 10_000,
        }
    }
}

/// What a login attempt may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Too soon after the last failures: try again at `until_ms` (nothing is verified).
    Throttled {
        until_ms: UnixMillis,
    },
    /// The pair or the address is locked until `until_ms`.
    Locked {
        until_ms: UnixMillis,
    },
}

/// A security incident that has just begun.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incident {
    /// `user` locked out when logging in from `addr` (only from there).
    UserLocked {
        user: String,
        addr: String,
        failures: usize,
        until_ms: UnixMillis,
    },
    /// Every login from `addr` locked out.
    AddrLocked {
        addr: String,
        failures: usize,
        until_ms: UnixMillis,
    },
    /// Failed logins from many addresses: a password spray; nobody is locked for it.
    Spray {
        failures: usize,
        addrs: usize,
        until_ms: UnixMillis,
    },
}

impl Incident {
    /// One line for the event timeline, the log and the `security:login` result.
    pub fn describe(&self, time: impl Fn(UnixMillis) -> String) -> String {
        match self {
            Incident::UserLocked {
                user,
                addr,
                failures,
                until_ms,
            } => format!(
                "{failures} failed logins for {user} from {addr}; {user} locked out from {addr} until {}",
                time(*until_ms)
            ),
            Incident::AddrLocked {
                addr,
                failures,
                until_ms,
            } => format!(
                "{failures} failed logins from {addr}; every login from {addr} locked until {}",
                time(*until_ms)
            ),
            Incident::Spray {
                failures,
                addrs,
                until_ms: _,
            } => format!(
                "password spray: {failures} failed logins from {addrs} addresses in the last 15 minutes; \
                 each address is slowed down and locked on its own, no user is locked out"
            ),
        }
    }
}

#[derive(Debug, Default)]
struct Tally {
    failures: VecDeque<UnixMillis>,
    /// No attempt before this (progressive delay).
    next_allowed: UnixMillis,
    locked_until: UnixMillis,
    last_failure: UnixMillis,
}

impl Tally {
    fn forget_before(&mut self, cutoff: UnixMillis) {
        while self.failures.front().is_some_and(|&t| t <= cutoff) {
            self.failures.pop_front();
        }
    }

    fn live(&self, now: UnixMillis) -> bool {
        !self.failures.is_empty() || self.locked_until > now || self.next_allowed > now
    }

    fn admission(&self, now: UnixMillis) -> Admission {
        if self.locked_until > now {
            Admission::Locked {
                until_ms: self.locked_until,
            }
        } else if self.next_allowed > now {
            Admission::Throttled {
                until_ms: self.next_allowed,
            }
        } else {
            Admission::Allowed
        }
    }

    /// Counts a failure; returns the failure count if it starts a lockout.
    fn fail(
        &mut self,
        now: UnixMillis,
        limits: &Limits,
        free: usize,
        lock: usize,
    ) -> Option<usize> {
        self.forget_before(now.saturating_sub(limits.window_ms));
        // Bounded: the lock clears the list, so it never holds more than `lock` entries.
        self.failures.push_back(now);
        self.last_failure = now;
        let count = self.failures.len();
        if count >= lock && self.locked_until <= now {
            self.locked_until = now.saturating_add(limits.lockout_ms);
            self.failures.clear();
            return Some(count);
        }
        if count >= free {
            let doublings = u32::try_from(count - free).unwrap_or(u32::MAX).min(30);
            let delay = limits
                .base_delay_ms
                .saturating_mul(1i64 << doublings)
                .min(limits.max_delay_ms);
            self.next_allowed = now.saturating_add(delay);
        }
        None
    }
}

#[derive(Debug, Default)]
pub struct Limiter {
    limits: Limits,
    /// Keyed by `pair_key(user, addr)`.
    pairs: HashMap<String, Tally>,
    addrs: HashMap<String, Tally>,
    /// When each failure of the window happened (any user, any address); bounded.
    recent: VecDeque<UnixMillis>,
    spray_until: UnixMillis,
}

fn pair_key(user: &str, addr: &str) -> String {
    let user: String = user.chars().take(MAX_USER_CHARS).collect();
    format!("{user}\u{0}{addr}")
}

impl Limiter {
    pub fn new(limits: Limits) -> Limiter {
        Limiter {
            limits,
            ..Limiter::default()
        }
    }

    /// Whether `user` may try a password from `addr` at `now`; the later of the two waits wins.
    pub fn admission(&self, user: &str, addr: &str, now: UnixMillis) -> Admission {
        let pair = self
            .pairs
            .get(&pair_key(user, addr))
            .map_or(Admission::Allowed, |t| t.admission(now));
        let addr = self
            .addrs
            .get(addr)
            .map_or(Admission::Allowed, |t| t.admission(now));
        match (pair, addr) {
            (Admission::Locked { until_ms: a }, Admission::Locked { until_ms: b }) => {
                Admission::Locked { until_ms: a.max(b) }
            }
            (locked @ Admission::Locked { .. }, _) | (_, locked @ Admission::Locked { .. }) => {
                locked
            }
            (Admission::Throttled { until_ms: a }, Admission::Throttled { until_ms: b }) => {
                Admission::Throttled { until_ms: a.max(b) }
            }
            (throttled @ Admission::Throttled { .. }, _)
            | (_, throttled @ Admission::Throttled { .. }) => throttled,
            (Admission::Allowed, Admission::Allowed) => Admission::Allowed,
        }
    }

    /// Whether neither `user` at `addr` nor `addr` failed recently (such attempts are
    /// verified first).
    pub fn is_clean(&self, user: &str, addr: &str) -> bool {
        !self.addrs.contains_key(addr) && !self.pairs.contains_key(&pair_key(user, addr))
    }

    /// Records a failed login; returns the incidents it starts.
    pub fn failure(&mut self, user: &str, addr: &str, now: UnixMillis) -> Vec<Incident> {
        self.prune(now);
        let limits = self.limits;
        let mut started = Vec::new();
        let key = pair_key(user, addr);
        make_room(&mut self.pairs, &key, limits.max_tracked);
        let tally = self.pairs.entry(key).or_default();
        if let Some(failures) = tally.fail(now, &limits, limits.free_failures, limits.per_pair) {
            started.push(Incident::UserLocked {
                user: user.chars().take(MAX_USER_CHARS).collect(),
                addr: addr.to_string(),
                failures,
                until_ms: tally.locked_until,
            });
        }
        make_room(&mut self.addrs, addr, limits.max_tracked);
        let tally = self.addrs.entry(addr.to_string()).or_default();
        if let Some(failures) = tally.fail(now, &limits, limits.free_addr_failures, limits.per_addr)
        {
            started.push(Incident::AddrLocked {
                addr: addr.to_string(),
                failures,
                until_ms: tally.locked_until,
            });
        }
        self.recent.push_back(now);
        if self.recent.len() > limits.max_tracked {
            self.recent.pop_front();
        }
        // During a spray its lockouts are part of it: one incident, not one per address.
        if self.spray_until > now {
            started.clear();
        }
        let addrs = self.addrs.len();
        if self.spray_until <= now
            && self.recent.len() >= limits.spray_failures
            && addrs >= limits.spray_addrs
        {
            self.spray_until = now.saturating_add(limits.lockout_ms);
            started.push(Incident::Spray {
                failures: self.recent.len(),
                addrs,
                until_ms: self.spray_until,
            });
        }
        started
    }

    /// A successful login clears the pair's failures (not the address's).
    pub fn success(&mut self, user: &str, addr: &str) {
        self.pairs.remove(&pair_key(user, addr));
    }

    /// Whether any lockout or spray incident is in force at `now`.
    pub fn any_incident(&self, now: UnixMillis) -> bool {
        self.spray_until > now
            || self
                .pairs
                .values()
                .chain(self.addrs.values())
                .any(|t| t.locked_until > now)
    }

    /// How many pairs and addresses are remembered (for tests of the bound).
    pub fn tracked(&self) -> (usize, usize) {
        (self.pairs.len(), self.addrs.len())
    }

    /// Forgets pairs and addresses with nothing left to remember, so the maps stay small.
    fn prune(&mut self, now: UnixMillis) {
        let cutoff = now.saturating_sub(self.limits.window_ms);
        for map in [&mut self.pairs, &mut self.addrs] {
            map.retain(|_, t| {
                t.forget_before(cutoff);
                t.live(now)
            });
        }
        while self.recent.front().is_some_and(|&t| t <= cutoff) {
            self.recent.pop_front();
        }
    }
}

/// Before inserting `key` into a full map, drops the entry that failed least recently.
fn make_room(map: &mut HashMap<String, Tally>, key: &str, max: usize) {
    if map.len() < max.max(1) || map.contains_key(key) {
        return;
    }
    let oldest = map
        .iter()
        .min_by_key(|(_, t)| t.last_failure)
        .map(|(k, _)| k.clone());
    if let Some(oldest) = oldest {
        map.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000;
    const MIN: i64 = 60_000;

    /// Fails `user` from `addr` as soon as allowed, starting at `*now`; returns the incidents.
    fn fail_when_allowed(
        limiter: &mut Limiter,
        user: &str,
        addr: &str,
        now: &mut i64,
    ) -> Vec<Incident> {
        match limiter.admission(user, addr, *now) {
            Admission::Allowed => {}
            Admission::Throttled { until_ms } => *now = until_ms,
            Admission::Locked { until_ms } => panic!("locked until {until_ms}"),
        }
        limiter.failure(user, addr, *now)
    }

    #[test]
    fn a_pair_is_slowed_after_three_failures_and_locked_after_five() {
        let mut limiter = Limiter::new(Limits::default());
        for _ in 0..2 {
            assert!(limiter.failure("admin", "10.0.0.1", 0).is_empty());
            assert_eq!(
                limiter.admission("admin", "10.0.0.1", 0),
                Admission::Allowed
            );
        }
        assert!(limiter.failure("admin", "10.0.0.1", 0).is_empty());
        // Third failure: wait 1 s; fourth: 2 s.
        assert_eq!(
            limiter.admission("admin", "10.0.0.1", 0),
            Admission::Throttled { until_ms: S }
        );
        assert_eq!(
            limiter.admission("admin", "10.0.0.1", S),
            Admission::Allowed
        );
        assert!(limiter.failure("admin", "10.0.0.1", S).is_empty());
        assert_eq!(
            limiter.admission("admin", "10.0.0.1", S),
            Admission::Throttled { until_ms: 3 * S }
        );
        let started = limiter.failure("admin", "10.0.0.1", 3 * S);
        assert_eq!(
            started,
            vec![Incident::UserLocked {
                user: "admin".into(),
                addr: "10.0.0.1".into(),
                failures: 5,
                until_ms: 3 * S + 15 * MIN
            }]
        );
        assert_eq!(
            limiter.admission("admin", "10.0.0.1", 3 * S + 15 * MIN - 1),
            Admission::Locked {
                until_ms: 3 * S + 15 * MIN
            }
        );
        assert_eq!(
            limiter.admission("admin", "10.0.0.1", 3 * S + 15 * MIN),
            Admission::Allowed
        );
        assert!(limiter.any_incident(3 * S + 15 * MIN - 1));
        assert!(!limiter.any_incident(3 * S + 15 * MIN));
    }

    #[test]
    fn the_locked_user_still_logs_in_from_another_address() {
        let mut limiter = Limiter::new(Limits::default());
        let mut now = 0;
        for _ in 0..5 {
            fail_when_allowed(&mut limiter, "admin", "203.0.113.9", &mut now);
        }
        assert!(matches!(
            limiter.admission("admin", "203.0.113.9", now),
            Admission::Locked { .. }
        ));
        assert_eq!(
            limiter.admission("admin", "10.0.0.1", now),
            Admission::Allowed
        );
        assert_eq!(
            limiter.admission("bob", "203.0.113.9", now),
            Admission::Allowed
        );
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let mut limiter = Limiter::new(Limits::default());
        let mut now = 0;
        for _ in 0..4 {
            fail_when_allowed(&mut limiter, "admin", "a", &mut now);
        }
        let first_left = 15 * MIN;
        now = now.max(first_left);
        // The first failure (at 0) left the window: 4 in it, no lock.
        assert!(fail_when_allowed(&mut limiter, "admin", "a", &mut now).is_empty());
    }

    #[test]
    fn twenty_failures_from_one_address_lock_the_address_with_delays_past_ten() {
        let mut limiter = Limiter::new(Limits::default());
        let mut now = 0;
        for i in 0..10 {
            assert!(limiter.failure(&format!("user{i}"), "a", now).is_empty());
        }
        assert_eq!(
            limiter.admission("anyone", "a", now),
            Admission::Throttled { until_ms: S }
        );
        let mut started = Vec::new();
        for i in 10..20 {
            started = fail_when_allowed(&mut limiter, &format!("user{i}"), "a", &mut now);
        }
        assert!(
            matches!(&started[..], [Incident::AddrLocked { failures: 20, .. }]),
            "{started:?}"
        );
        assert!(matches!(
            limiter.admission("anyone", "a", now),
            Admission::Locked { .. }
        ));
        assert_eq!(limiter.admission("anyone", "b", now), Admission::Allowed);
    }

    #[test]
    fn success_clears_the_pairs_failures() {
        let mut limiter = Limiter::new(Limits::default());
        let mut now = 0;
        for _ in 0..4 {
            fail_when_allowed(&mut limiter, "admin", "a", &mut now);
        }
        limiter.success("admin", "a");
        assert_eq!(limiter.admission("admin", "a", now), Admission::Allowed);
        assert!(limiter.failure("admin", "a", now).is_empty());
    }

    #[test]
    fn a_spray_from_many_addresses_is_one_incident_and_locks_nobody_else() {
        let mut limiter = Limiter::new(Limits::default());
        let mut incidents = Vec::new();
        for i in 0..200 {
            let addr = format!("127.0.0.{}", 2 + i % 64);
            if limiter.admission("admin", &addr, i) == Admission::Allowed {
                incidents.extend(limiter.failure("admin", &addr, i));
            }
        }
        let sprays: Vec<_> = incidents
            .iter()
            .filter(|i| matches!(i, Incident::Spray { .. }))
            .collect();
        assert_eq!(sprays.len(), 1, "{incidents:?}");
        // Keep spraying past the delays: the pairs' lockouts are not told one by one.
        let mut later = Vec::new();
        for i in 0..2_000 {
            let addr = format!("127.0.0.{}", 2 + i % 64);
            let now = 1_000 + i * 100;
            if limiter.admission("admin", &addr, now) == Admission::Allowed {
                later.extend(limiter.failure("admin", &addr, now));
            }
        }
        assert!(later.is_empty(), "{later:?}");
        assert!(matches!(
            limiter.admission("admin", "127.0.0.2", 200_000),
            Admission::Locked { .. }
        ));
        assert!(matches!(
            sprays[0],
            Incident::Spray {
                failures: 50,
                addrs: 50,
                ..
            }
        ));
        // The real admin, from an address that never failed, is let in.
        assert_eq!(
            limiter.admission("admin", "127.0.0.1", 200_000),
            Admission::Allowed
        );
        assert!(limiter.is_clean("admin", "127.0.0.1"));
        assert!(limiter.any_incident(200_000));
    }

    #[test]
    fn memory_is_bounded_under_a_spray_of_new_names_and_addresses() {
        let limits = Limits {
            max_tracked: 100,
            ..Limits::default()
        };
        let mut limiter = Limiter::new(limits);
        let long_name = "x".repeat(10_000);
        for i in 0..5_000 {
            let addr = format!("10.{}.{}.{}", i / 65_536, (i / 256) % 256, i % 256);
            limiter.failure(&format!("{long_name}{i}"), &addr, i);
        }
        let (pairs, addrs) = limiter.tracked();
        assert!(
            pairs <= 100 && addrs <= 100,
            "{pairs} pairs, {addrs} addresses"
        );
        assert!(limiter.recent.len() <= 100);
        assert!(limiter.pairs.keys().all(|k| k.len() < MAX_USER_CHARS + 20));
    }

    #[test]
    fn absurd_times_do_not_overflow() {
        let mut limiter = Limiter::new(Limits::default());
        for _ in 0..25 {
            limiter.failure("a", "b", i64::MAX - 1);
            limiter.failure("a", "b", i64::MIN + 1);
        }
        let _ = limiter.admission("a", "b", i64::MAX);
        let _ = limiter.any_incident(i64::MIN);
    }
}
