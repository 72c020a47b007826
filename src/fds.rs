//! Lookout's own file descriptors: the limit (`RLIMIT_NOFILE`, raised from the soft to the
//! hard limit at start), how many are open, the share the web side may take, and how a probe
//! that could not get one is told apart from a finding about its target.
//!
//! A probe whose socket or file cannot be opened because *Lookout* is out of descriptors
//! (`EMFILE`, or the whole system with `ENFILE`) learnt nothing about its target: its result
//! is `Unknown` with [`OUT_OF_DESCRIPTORS`] in the detail, never `Critical`, and every such
//! run is counted ([`record_exhaustion`]) for the self check `lookout:self` (`daemon/own.rs`).
//! The web side keeps clear of the last descriptors ([`connection_budget`]) so that this
//! stays the exception.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The words every result spoiled by a lack of descriptors carries.
pub const OUT_OF_DESCRIPTORS: &str = "lookout ran out of file descriptors";

/// Descriptors kept for everything but web connections (probes, the store, logs, notifiers):
/// at least this many, or a quarter of the limit when that is more.
pub const MIN_RESERVE: u64 = 256;

/// Web connections allowed whatever the limit, so the dashboard stays usable on a host with
/// a tiny limit (the reserve then shrinks instead).
pub const MIN_CONNECTIONS: u64 = 16;

static EXHAUSTED: AtomicU64 = AtomicU64::new(0);

/// The soft and hard `RLIMIT_NOFILE` after raising the soft limit to the hard one (the soft
/// default of 1,024 is far below what the kernel allows a process; the hard limit is the
/// administrator's, e.g. systemd's `LimitNOFILE=`). `RLIM_INFINITY` is reported as
/// `u64::MAX`. On failure, the limits as they were and the error.
pub fn raise_nofile_limit() -> (Limits, Option<io::Error>) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        let error = io::Error::last_os_error();
        return (Limits::UNKNOWN, Some(error));
    }
    let before = Limits::from(limit);
    if limit.rlim_cur == limit.rlim_max {
        return (before, None);
    }
    let raised = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit reads the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return (before, Some(io::Error::last_os_error()));
    }
    (Limits::from(raised), None)
}

/// `RLIMIT_NOFILE`, soft and hard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub soft: u64,
    pub hard: u64,
}

impl Limits {
    /// What is assumed when the limit cannot be read: Linux's usual soft default.
    pub const UNKNOWN: Limits = Limits {
        soft: 1024,
        hard: 1024,
    };
}

impl From<libc::rlimit> for Limits {
    fn from(limit: libc::rlimit) -> Limits {
        let value = |v: libc::rlim_t| {
            if v == libc::RLIM_INFINITY {
                u64::MAX
            } else {
                v
            }
        };
        Limits {
            soft: value(limit.rlim_cur),
            hard: value(limit.rlim_max),
        }
    }
}

/// Descriptors this process has open now (entries of `/proc/self/fd`, less the one the
/// listing itself uses); `None` where that cannot be read.
pub fn open_descriptors(proc_fd: &Path) -> Option<u64> {
    let entries = std::fs::read_dir(proc_fd).ok()?;
    Some((entries.count() as u64).saturating_sub(1))
}

/// How many web connections may be open at once: `max_connections`, but never so many that
/// fewer than the reserve (`MIN_RESERVE`, or a quarter of the limit) would be left to the
/// rest of Lookout beyond the `in_use` descriptors already open; at least `MIN_CONNECTIONS`.
pub fn connection_budget(soft_limit: u64, in_use: u64, max_connections: u64) -> u64 {
    let reserve = MIN_RESERVE.max(soft_limit / 4);
    let room = soft_limit.saturating_sub(in_use).saturating_sub(reserve);
    max_connections.min(room).max(MIN_CONNECTIONS)
}

/// Whether `error` is the lack of a descriptor: `EMFILE` (this process is at its limit) or
/// `ENFILE` (the whole system is).
pub fn is_exhaustion(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Whether a message (an error turned into text by some library: sqlx, redis, hyper, the
/// resolver) tells of a lack of descriptors: it quotes the OS error of `EMFILE` or `ENFILE`.
pub fn mentions_exhaustion(text: &str) -> bool {
    // strerror of both starts "Too many open files"; Rust adds "(os error N)".
    text.contains("Too many open files")
        || [libc::EMFILE, libc::ENFILE]
            .iter()
            .any(|code| text.contains(&format!("(os error {code})")))
}

/// Counts one probe run spoiled by a lack of descriptors (for `lookout:self`).
pub fn record_exhaustion() {
    EXHAUSTED.fetch_add(1, Ordering::Relaxed);
}

/// Probe runs spoiled by a lack of descriptors since the start.
pub fn exhaustion_total() -> u64 {
    EXHAUSTED.load(Ordering::Relaxed)
}

/// The detail of a result spoiled by a lack of descriptors: says whose problem it is and
/// keeps what failed.
pub fn spoiled_detail(what_failed: &str) -> String {
    format!("{OUT_OF_DESCRIPTORS}; nothing is known about the target ({what_failed})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_leaves_the_reserve_to_the_rest_of_lookout() {
        // (soft limit, descriptors in use, max_connections, budget)
        let cases = [
            (1024, 40, 512, 512),
            (1024, 40, 4096, 1024 - 40 - 256),
            (65536, 60, 512, 512),
            (65536, 60, 100_000, 65536 - 60 - 16384),
            (300, 40, 512, MIN_CONNECTIONS),
            (u64::MAX, 40, 512, 512),
            (0, 0, 512, MIN_CONNECTIONS),
        ];
        for (limit, in_use, max, budget) in cases {
            assert_eq!(
                connection_budget(limit, in_use, max),
                budget,
                "limit {limit}, in use {in_use}, max {max}"
            );
        }
    }

    #[test]
    fn exhaustion_is_told_apart_from_other_errors() {
        assert!(is_exhaustion(&io::Error::from_raw_os_error(libc::EMFILE)));
        assert!(is_exhaustion(&io::Error::from_raw_os_error(libc::ENFILE)));
        assert!(!is_exhaustion(&io::Error::from_raw_os_error(
            libc::ECONNREFUSED
        )));
        // As the libraries of the checks print it.
        for code in [libc::EMFILE, libc::ENFILE] {
            let text = format!(
                "error communicating with database: {}",
                io::Error::from_raw_os_error(code)
            );
            assert!(mentions_exhaustion(&text), "{text}");
        }
        for text in [
            "connection refused",
            "timeout: no answer within 5s",
            "HTTP 503 in 0.21 s: too many open connections",
            "Connection refused (os error 111)",
        ] {
            assert!(!mentions_exhaustion(text), "{text}");
        }
    }

    #[test]
    fn the_limit_is_read_and_the_soft_limit_is_at_most_the_hard_one() {
        let (limits, error) = raise_nofile_limit();
        assert!(error.is_none(), "{error:?}");
        assert!(limits.soft <= limits.hard);
        assert!(open_descriptors(Path::new("/proc/self/fd")).is_some_and(|n| n >= 3));
    }
}
