//! Login rate limiting, pure (time is an argument): failures are counted per user name and per
//! client address over a sliding window; reaching the limit locks that name or address out
//! for a while. Defaults: 5 failures of one user in 15 minutes, or 20 from one address,
//! lock for 15 minutes.

use std::collections::{HashMap, VecDeque};

use crate::clock::UnixMillis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_user: usize,
    pub per_addr: usize,
    pub window_ms: i64,
    pub lockout_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_user: 5,
            per_addr: 20,
            window_ms: 15 * 60_000,
            lockout_ms: 15 * 60_000,
        }
    }
}

/// A lockout that has just begun.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockout {
    /// The user name locked out, or `None` when it is the address.
    pub user: Option<String>,
    pub addr: String,
    pub failures: usize,
    pub until_ms: UnixMillis,
}

#[derive(Debug, Default)]
struct Tally {
    failures: VecDeque<UnixMillis>,
    locked_until: UnixMillis,
}

impl Tally {
    fn forget_before(&mut self, cutoff: UnixMillis) {
        while self.failures.front().is_some_and(|&t| t <= cutoff) {
            self.failures.pop_front();
        }
    }

    /// Counts a failure; returns the failure count if it starts a lockout.
    fn fail(&mut self, now: UnixMillis, limits: &Limits, limit: usize) -> Option<usize> {
        self.forget_before(now - limits.window_ms);
        self.failures.push_back(now);
        if self.failures.len() >= limit && self.locked_until <= now {
            self.locked_until = now + limits.lockout_ms;
            let failures = self.failures.len();
            self.failures.clear();
            return Some(failures);
        }
        None
    }
}

#[derive(Debug, Default)]
pub struct Limiter {
    limits: Limits,
    users: HashMap<String, Tally>,
    addrs: HashMap<String, Tally>,
}

impl Limiter {
    pub fn new(limits: Limits) -> Limiter {
        Limiter {
            limits,
            ..Limiter::default()
        }
    }

    /// Until when `user` or `addr` is locked out, if either is at `now`.
    pub fn locked_until(&self, user: &str, addr: &str, now: UnixMillis) -> Option<UnixMillis> {
        let user = self.users.get(user).map_or(0, |t| t.locked_until);
        let addr = self.addrs.get(addr).map_or(0, |t| t.locked_until);
        let until = user.max(addr);
        (until > now).then_some(until)
    }

    /// Records a failed login; returns the lockouts it starts.
    pub fn failure(&mut self, user: &str, addr: &str, now: UnixMillis) -> Vec<Lockout> {
        self.prune(now);
        let limits = self.limits;
        let mut started = Vec::new();
        let tally = self.users.entry(user.to_string()).or_default();
        if let Some(failures) = tally.fail(now, &limits, limits.per_user) {
            started.push(Lockout {
                user: Some(user.to_string()),
                addr: addr.to_string(),
                failures,
                until_ms: tally.locked_until,
            });
        }
        let tally = self.addrs.entry(addr.to_string()).or_default();
        if let Some(failures) = tally.fail(now, &limits, limits.per_addr) {
            started.push(Lockout {
                user: None,
                addr: addr.to_string(),
                failures,
                until_ms: tally.locked_until,
            });
        }
        started
    }

    /// A successful login clears the user's failures (not the address's).
    pub fn success(&mut self, user: &str) {
        self.users.remove(user);
    }

    /// Whether any lockout is in force at `now`.
    pub fn any_locked(&self, now: UnixMillis) -> bool {
        self.users
            .values()
            .chain(self.addrs.values())
            .any(|t| t.locked_until > now)
    }

    /// Forgets names and addresses with nothing left to remember, so the maps stay small.
    fn prune(&mut self, now: UnixMillis) {
        let cutoff = now - self.limits.window_ms;
        for map in [&mut self.users, &mut self.addrs] {
            map.retain(|_, t| {
                t.forget_before(cutoff);
                !t.failures.is_empty() || t.locked_until > now
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn five_failures_of_one_user_lock_it_for_exactly_15_minutes() {
        let mut limiter = Limiter::new(Limits::default());
        for i in 0..4 {
            assert!(limiter.failure("admin", "10.0.0.1", i * MIN).is_empty());
        }
        let started = limiter.failure("admin", "10.0.0.2", 4 * MIN);
        assert_eq!(
            started,
            vec![Lockout {
                user: Some("admin".into()),
                addr: "10.0.0.2".into(),
                failures: 5,
                until_ms: 19 * MIN
            }]
        );
        assert_eq!(
            limiter.locked_until("admin", "x", 19 * MIN - 1),
            Some(19 * MIN)
        );
        assert_eq!(limiter.locked_until("admin", "x", 19 * MIN), None);
        assert_eq!(limiter.locked_until("bob", "10.0.0.2", 5 * MIN), None);
        assert!(limiter.any_locked(19 * MIN - 1) && !limiter.any_locked(19 * MIN));
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let mut limiter = Limiter::new(Limits::default());
        for i in 0..4 {
            limiter.failure("admin", "a", i * MIN);
        }
        // The first failure (at 0) left the window at 15 min.
        assert!(limiter.failure("admin", "a", 15 * MIN).is_empty());
        assert_eq!(limiter.failure("admin", "a", 15 * MIN + 1).len(), 1);
    }

    #[test]
    fn twenty_failures_from_one_address_lock_the_address() {
        let mut limiter = Limiter::new(Limits::default());
        for i in 0..19 {
            assert!(limiter.failure(&format!("user{i}"), "a", i).is_empty());
        }
        let started = limiter.failure("user19", "a", 19);
        assert_eq!(started.len(), 1);
        assert_eq!(started[0].user, None);
        assert_eq!(started[0].until_ms, 19 + 15 * MIN);
        assert_eq!(limiter.locked_until("anyone", "a", 20), Some(19 + 15 * MIN));
        assert_eq!(limiter.locked_until("anyone", "b", 20), None);
    }

    #[test]
    fn success_clears_the_users_failures() {
        let mut limiter = Limiter::new(Limits::default());
        for i in 0..4 {
            limiter.failure("admin", "a", i);
        }
        limiter.success("admin");
        assert!(limiter.failure("admin", "a", 10).is_empty());
    }
}
