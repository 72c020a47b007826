//! One evaluator of alerts per store: `lookout serve` holds the "alerting" lease while it runs
//! (renewed by its alert loop), so a second daemon or a cron `lookout alerts run` on the same
//! data dir cannot send the same notifications twice. A holder killed with -9 leaves a lease
//! that expires, or that is taken over at once when its pid is gone from this host.

use crate::config::alerts::default_host;

pub const ALERTING: &str = "alerting";
/// How long a lease lasts without renewal; the daemon renews it every `RENEW_EVERY_MS`.
pub const TTL_MS: i64 = 30_000;
pub const RENEW_EVERY_MS: i64 = 10_000;

/// "pid@host" of this process.
pub fn holder() -> String {
    format!("{}@{}", std::process::id(), default_host())
}

/// A holder on this host whose process no longer exists.
pub fn is_gone(holder: &str) -> bool {
    let Some((pid, host)) = holder.split_once('@') else {
        return false;
    };
    let Ok(pid) = pid.parse::<libc::pid_t>() else {
        return false;
    };
    if host != default_host() || pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only asks whether the process exists; nothing is sent.
    let alive = unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    !alive
}

/// "pid 123 on web1", for messages.
pub fn describe(holder: &str) -> String {
    match holder.split_once('@') {
        Some((pid, host)) => format!("pid {pid} on {host}"),
        None => holder.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_gone_only_when_its_pid_is_gone_from_this_host() {
        assert!(!is_gone(&holder()), "this process is alive");
        assert!(!is_gone(&format!("1@{}", default_host())), "init is alive");
        assert!(is_gone(&format!("{}@{}", i32::MAX - 7, default_host())));
        assert!(
            !is_gone("12345@some-other-host"),
            "cannot tell for another host"
        );
        assert!(!is_gone("garbage"));
        assert_eq!(describe("42@web1"), "pid 42 on web1");
    }
}
