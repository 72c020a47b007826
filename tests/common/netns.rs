//! Several hosts on one machine: network namespaces (`ip netns`) joined by a bridge, one per
//! node, for the tests that need machines that can lose their network (issue 19: agents and a
//! hub). Needs root (`.ci/run` runs as root) and iproute2.
//!
//! Topology, for nodes `hub`, `a1`, ...: a switch namespace `lk-<pid>-<n>-sw` holding the
//! bridge `br0`, and per node a namespace `lk-<pid>-<n>-<node>` whose `eth0` (10.19.0.x/24) is
//! one end of a veth pair; the other end, named after the node, is a port of the bridge in the
//! switch namespace. Nothing is made in this process's own namespace, so parallel runs and
//! leftovers never clash (names carry the process id and a sequence number; namespaces of
//! processes that are gone are removed when a new network is made). Cutting a node's link is
//! `ip link set <node> down` on the switch's side: the node sees its carrier go, as when its
//! cable is pulled; its loopback still works.
//!
//! Code runs in a node's namespace with `Net::within`: a new thread that enters the namespace
//! (`setns`) runs the closure, so sockets it opens and processes it spawns are the node's
//! (`Daemon::spawn` in it starts a daemon there, and its `get` must be called there too).
//! Dropping the `Net` deletes every namespace it made (also when the test panics); drop the
//! processes in them first (declare the `Net` before them).

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::text;

/// Why these tests cannot run here, if they cannot: not root.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    (uid != 0).then(|| {
        format!(
            "network namespaces need root (`ip netns add`); running as uid {uid}. \
             .ci/run runs as root"
        )
    })
}

/// `ip ARGS`, which must succeed.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip (iproute2) is needed: {e}"));
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        text(&out.stderr)
    );
}

/// The namespaces `ip netns list` shows.
fn namespaces() -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap_or_else(|e| panic!("ip (iproute2) is needed: {e}"));
    text(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Deletes the namespaces of earlier runs whose process is gone (`lk-<pid>-...`).
fn remove_leftovers() {
    for name in namespaces() {
        let Some(pid) = name
            .strip_prefix("lk-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
}

/// A switch and its nodes, each in its own namespace; deleted on drop.
pub struct Net {
    prefix: String,
    nodes: Vec<String>,
    /// Every namespace made so far (the switch first), for the drop.
    made: Vec<String>,
}

impl Net {
    /// A switch with `nodes` plugged in, their links up; node i has 10.19.0.(i+1).
    pub fn new(nodes: &[&str]) -> Net {
        static SEQUENCE: AtomicUsize = AtomicUsize::new(0);
        remove_leftovers();
        let prefix = format!(
            "lk-{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        let mut net = Net {
            prefix,
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
            made: Vec::new(),
        };
        let switch = net.namespace("sw");
        ip(&["netns", "add", &switch]);
        net.made.push(switch.clone());
        ip(&["-n", &switch, "link", "set", "lo", "up"]);
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &switch, "link", "set", "br0", "up"]);
        for node in nodes {
            let ns = net.namespace(node);
            ip(&["netns", "add", &ns]);
            net.made.push(ns.clone());
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            ip(&[
                "-n", &switch, "link", "add", node, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ]);
            ip(&["-n", &switch, "link", "set", node, "master", "br0"]);
            ip(&["-n", &switch, "link", "set", node, "up"]);
            let addr = format!("{}/24", net.addr(node));
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        }
        net
    }

    /// The name of a namespace of this network.
    fn namespace(&self, node: &str) -> String {
        format!("{}-{node}", self.prefix)
    }

    /// The namespace of `node`.
    pub fn ns(&self, node: &str) -> String {
        assert!(self.nodes.iter().any(|n| n == node), "no node {node}");
        self.namespace(node)
    }

    /// The address of `node` on the switch.
    pub fn addr(&self, node: &str) -> Ipv4Addr {
        let i = self
            .nodes
            .iter()
            .position(|n| n == node)
            .unwrap_or_else(|| panic!("no node {node}"));
        Ipv4Addr::new(10, 19, 0, (i + 1) as u8)
    }

    /// Pulls `node`'s cable: its port on the switch goes down.
    pub fn cut(&self, node: &str) {
        self.ns(node);
        ip(&["-n", &self.namespace("sw"), "link", "set", node, "down"]);
    }

    /// Plugs `node`'s cable back in.
    pub fn restore(&self, node: &str) {
        self.ns(node);
        ip(&["-n", &self.namespace("sw"), "link", "set", node, "up"]);
    }

    /// Runs `f` in `node`'s namespace (on a thread of its own that entered it) and returns
    /// what it returns; a panic in `f` is this call's panic.
    pub fn within<T: Send>(&self, node: &str, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/var/run/netns/{}", self.ns(node));
        std::thread::scope(|scope| {
            let thread = scope.spawn(move || {
                let file = std::fs::File::open(&path)
                    .unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
                // SAFETY: setns on a descriptor of a network namespace; it changes only this
                // thread's namespace (a new thread, ending with this closure).
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(
                    rc,
                    0,
                    "setns into {path}: {}",
                    std::io::Error::last_os_error()
                );
                f()
            });
            thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.made.iter().rev() {
            let out = Command::new("ip").args(["netns", "del", ns]).output();
            if let Ok(out) = out
                && !out.status.success()
            {
                eprintln!("ip netns del {ns}: {}", text(&out.stderr));
            }
        }
    }
}
