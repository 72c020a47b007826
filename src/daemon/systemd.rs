//! The systemd service protocol (`sd_notify(3)`), for `Type=notify` units: READY=1 once the
//! daemon serves HTTP, RELOADING=1 / READY=1 around a SIGHUP reload, STOPPING=1 when a
//! graceful stop begins, WATCHDOG=1 at least every half `WATCHDOG_USEC` while `WatchdogSec=` is
//! set and the pipeline moves (sent by `daemon::health`), and
//! a STATUS= line for `systemctl status`. Each message is one datagram to `$NOTIFY_SOCKET`
//! (a path, or an abstract socket when it starts with '@'). Without `$NOTIFY_SOCKET` (not run
//! by systemd) every call does nothing.
//!
//! Hand-written rather than the `sd-notify` crate: that crate (0.5) connects to
//! `$NOTIFY_SOCKET` as a file path, so the abstract-namespace form systemd documents does not
//! work with it; the protocol itself is one `sendto`.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Where to send, and the watchdog interval systemd asked for; read once from the environment.
#[derive(Debug, Default)]
pub struct Systemd {
    socket: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Systemd {
    /// From `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` of this process. A socket that
    /// cannot be used is logged once and notifications are off (the daemon still runs: under
    /// systemd, the unit's start timeout then tells the operator).
    pub fn from_env() -> Systemd {
        let env = |name| std::env::var(name).ok();
        Systemd::new(
            env("NOTIFY_SOCKET").as_deref(),
            env("WATCHDOG_USEC").as_deref(),
            env("WATCHDOG_PID").as_deref(),
            std::process::id(),
        )
    }

    fn new(
        notify_socket: Option<&str>,
        watchdog_usec: Option<&str>,
        watchdog_pid: Option<&str>,
        pid: u32,
    ) -> Systemd {
        let Some(path) = notify_socket.filter(|p| !p.is_empty()) else {
            return Systemd::default();
        };
        let socket = match address(path).and_then(|addr| Ok((UnixDatagram::unbound()?, addr))) {
            Ok(socket) => socket,
            Err(error) => {
                tracing::warn!(notify_socket = path, %error, "cannot use NOTIFY_SOCKET; systemd will not hear from lookout");
                return Systemd::default();
            }
        };
        Systemd {
            socket: Some(socket),
            watchdog: watchdog_interval(watchdog_usec, watchdog_pid, pid),
        }
    }

    /// Half the watchdog interval systemd asked for, if it did: how often `ping` must be
    /// called. `daemon::health` pings only while the pipeline moves, so a wedged daemon (or
    /// runtime) stops the pings and systemd restarts it (with `Restart=on-failure`).
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// READY=1 with a status line.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}\n"));
    }

    /// RELOADING=1 (with the monotonic time `Type=notify-reload` asks for).
    pub fn reloading(&self) {
        self.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading the configuration\n",
            monotonic_usec()
        ));
    }

    /// STOPPING=1: a graceful stop has begun.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping: draining and flushing\n");
    }

    /// WATCHDOG=1: still alive.
    pub fn ping(&self) {
        self.send("WATCHDOG=1\n");
    }

    fn send(&self, message: &str) {
        let Some((socket, addr)) = &self.socket else {
            return;
        };
        if let Err(error) = socket.send_to_addr(message.as_bytes(), addr) {
            tracing::warn!(%error, "cannot notify systemd");
        }
    }
}

/// `$NOTIFY_SOCKET` as a socket address: '@' starts an abstract name (Linux), else a path.
fn address(text: &str) -> io::Result<SocketAddr> {
    match text.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())
        }
        None if text.starts_with('/') => SocketAddr::from_pathname(text),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "expected an absolute path or @abstract-name",
        )),
    }
}

/// Half of `WATCHDOG_USEC` (as sd_notify(3) advises), if it is set, positive and for `pid`.
fn watchdog_interval(usec: Option<&str>, for_pid: Option<&str>, pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    if let Some(for_pid) = for_pid
        && for_pid.trim().parse::<u32>().ok() != Some(pid)
    {
        return None;
    }
    Some(Duration::from_micros(usec / 2).max(Duration::from_millis(1)))
}

fn monotonic_usec() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_interval_is_half_of_watchdog_usec_and_only_for_this_process() {
        let cases: &[(Option<&str>, Option<&str>, Option<Duration>)] = &[
            (None, None, None),
            (Some("30000000"), None, Some(Duration::from_secs(15))),
            (Some("30000000"), Some("42"), Some(Duration::from_secs(15))),
            (Some("30000000"), Some("43"), None),
            (Some("0"), None, None),
            (Some("soon"), None, None),
            (Some("1"), None, Some(Duration::from_millis(1))),
        ];
        for (usec, pid, expected) in cases {
            assert_eq!(
                watchdog_interval(*usec, *pid, 42),
                *expected,
                "{usec:?} {pid:?}"
            );
        }
    }

    #[test]
    fn messages_reach_a_path_socket_and_an_abstract_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let receiver = UnixDatagram::bind(&path).unwrap();
        let systemd = Systemd::new(path.to_str(), Some("2000000"), None, 1);
        assert_eq!(systemd.watchdog, Some(Duration::from_secs(1)));
        systemd.ready("serving");
        systemd.ping();
        systemd.stopping();
        let mut buffer = [0u8; 256];
        let mut next = || {
            let n = receiver.recv(&mut buffer).unwrap();
            String::from_utf8_lossy(&buffer[..n]).into_owned()
        };
        assert_eq!(next(), "READY=1\nSTATUS=serving\n");
        assert_eq!(next(), "WATCHDOG=1\n");
        assert!(next().starts_with("STOPPING=1\n"));

        use std::os::linux::net::SocketAddrExt;
        let name = format!("lookout-test-{}", std::process::id());
        let abstract_receiver =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        Systemd::new(Some(&format!("@{name}")), None, None, 1).ping();
        let n = abstract_receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"WATCHDOG=1\n");
    }

    #[test]
    fn without_a_usable_socket_nothing_is_sent_and_nothing_fails() {
        for socket in [None, Some(""), Some("relative/path")] {
            let systemd = Systemd::new(socket, Some("1000000"), None, 1);
            assert_eq!(systemd.watchdog, None, "{socket:?}");
            systemd.ready("serving");
        }
    }
}
