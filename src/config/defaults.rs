//! The defaults: what Lookout does with no config file, and what every absent key means. The
//! reader (`parse.rs`) takes its defaults from `embedded_default()`; the template shows them,
//! and a test parses it back to `embedded_default()`, so they cannot disagree.
//!
//! The default exclusions keep pseudo and virtual things out of the system metrics: a tmpfs
//! or a veth pair says nothing about the health of the host and would clutter every chart.
//! Those lists are declared once, in the template (`template_filter`).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

use super::{
    Config, LogConfig, NameFilter, Retention, ServerConfig, StorageConfig, SystemConfig,
    SystemThresholds,
};
use crate::base::schema::{anchored, unanchored};

const DAY: u64 = 86_400;

/// The configuration used when there is no config file, and the value of every absent key.
pub fn embedded_default() -> Config {
    DEFAULT.clone()
}

/// Built once: its ~50 regexes take a quarter of a second to compile in a debug build, and
/// every parse (and many tests elsewhere) starts from the default. Cloning a `Regex` is cheap.
static DEFAULT: LazyLock<Config> = LazyLock::new(build_default);

/// Compiles a filter pattern (see `anchored`), reusing the default's compiled regex when the
/// pattern is one of the defaults: a config written by `config init` lists them all.
pub(super) fn compile_pattern(pattern: &str) -> Result<Regex, regex::Error> {
    let system = &DEFAULT.system;
    let known = [&system.mountpoints, &system.fs_types, &system.interfaces]
        .into_iter()
        .flat_map(|filter| filter.include.iter().chain(&filter.exclude))
        .find(|regex| unanchored(regex) == pattern);
    match known {
        Some(regex) => Ok(regex.clone()),
        None => anchored(pattern),
    }
}

fn build_default() -> Config {
    Config {
        source: None,
        server: ServerConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 9898)),
            tls_cert: None,
            tls_key: None,
            insecure_http: false,
            session_idle_timeout: Duration::from_secs(30 * 60),
            session_max_age: Duration::from_secs(12 * 3600),
            metrics_listen: None,
            metrics_token: None,
            metrics_basic_auth: None,
            metrics_refresh: Duration::from_secs(1),
            trusted_proxies: Vec::new(),
            header_read_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
        },
        storage: StorageConfig {
            path: PathBuf::from("./lookout-data"),
            max_size: 1 << 30,
            flush_interval: Duration::from_secs(10),
            max_buffered_samples: super::DEFAULT_MAX_BUFFERED_SAMPLES,
            retention: Retention {
                raw: Duration::from_secs(7 * DAY),
                minute: Duration::from_secs(90 * DAY),
                hour: Duration::from_secs(730 * DAY),
            },
        },
        system: SystemConfig {
            enabled: true,
            interval: Duration::from_secs(10),
            per_core: false,
            mountpoints: template_filter("filesystems"),
            fs_types: template_filter("fs_types"),
            interfaces: template_filter("interfaces"),
            thresholds: SystemThresholds::default(),
        },
        log: LogConfig::default(),
        checks: Vec::new(),
        alerts: super::AlertsConfig::default(),
        notifiers: Vec::new(),
        maintenance: super::MaintenanceConfig::default(),
        remote_write: Vec::new(),
        heartbeat: None,
        receive: None,
    }
}

/// The default filter of `[system.<table>]`, declared once: in the template (`template.toml`),
/// whose comments say why each thing is left out (pseudo and virtual filesystems, container
/// and VM links). The template is a constant, parsed by a test (`default_patterns_compile`), so
/// this cannot fail at run time; an empty filter would be a safe fallback anyway.
fn template_filter(table: &str) -> NameFilter {
    let settings: toml::Table = super::template::SETTINGS.parse().unwrap_or_default();
    let filter = settings.get("system").and_then(|system| system.get(table));
    let patterns = |key: &str| -> Vec<&str> {
        let list = filter
            .and_then(|filter| filter.get(key))
            .and_then(|v| v.as_array());
        list.into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect()
    };
    NameFilter::new(&patterns("include"), &patterns("exclude")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_patterns_compile() {
        // An unreadable template or a pattern that does not compile would leave a list empty.
        let system = embedded_default().system;
        let lengths = [&system.mountpoints, &system.fs_types, &system.interfaces]
            .map(|filter| (filter.include.len(), filter.exclude.len()));
        assert_eq!(lengths, [(0, 5), (0, 27), (0, 20)]);
    }

    #[test]
    fn default_patterns_are_reused_and_others_compiled() {
        let reused = compile_pattern("veth.*").map(|regex| regex.as_str().to_string());
        assert_eq!(reused.as_deref().ok(), Some("^(?:veth.*)$"));
        let fresh = compile_pattern("eth[0-9]").map(|regex| regex.is_match("eth1"));
        assert_eq!(fresh.ok(), Some(true));
        assert!(compile_pattern("(eth").is_err());
    }

    #[test]
    fn default_mountpoints() {
        let filter = embedded_default().system.mountpoints;
        for excluded in [
            "/dev",
            "/dev/shm",
            "/proc",
            "/run",
            "/run/user/1000",
            "/sys/fs/cgroup",
            "/var/lib/docker/overlay2/abc/merged",
            "/var/lib/kubelet/pods/x/volumes",
            "/snap/core/123",
        ] {
            assert!(!filter.allows(excluded), "{excluded} should be excluded");
        }
        for allowed in [
            "/",
            "/home",
            "/boot/efi",
            "/var",
            "/var/lib/docker",
            "/srv/data",
            "/devices",
            "/running",
        ] {
            assert!(filter.allows(allowed), "{allowed} should be allowed");
        }
    }

    #[test]
    fn default_fs_types() {
        let filter = embedded_default().system.fs_types;
        for excluded in [
            "tmpfs",
            "proc",
            "overlay",
            "sysfs",
            "cgroup",
            "cgroup2",
            "devtmpfs",
            "squashfs",
            "fuse.lxcfs",
            "autofs",
            "nsfs",
        ] {
            assert!(!filter.allows(excluded), "{excluded} should be excluded");
        }
        for allowed in [
            "ext4",
            "xfs",
            "btrfs",
            "zfs",
            "vfat",
            "nfs4",
            "fuse.sshfs",
            "ntfs3",
            "f2fs",
        ] {
            assert!(filter.allows(allowed), "{allowed} should be allowed");
        }
    }

    #[test]
    fn default_interfaces() {
        let filter = embedded_default().system.interfaces;
        for excluded in [
            "lo",
            "veth1234",
            "vethab12cd",
            "docker0",
            "br-3f2a9c",
            "virbr0",
            "vnet3",
            "cni0",
            "flannel.1",
            "cali123abc",
            "tun0",
            "tap0",
            "lxcbr0",
            "cilium_host",
        ] {
            assert!(!filter.allows(excluded), "{excluded} should be excluded");
        }
        for allowed in [
            "eth0", "enp3s0", "ens5", "eno1", "wlan0", "wlp2s0", "bond0", "wg0", "long0", "lo1x",
        ] {
            assert!(filter.allows(allowed), "{allowed} should be allowed");
        }
    }

    #[test]
    fn minimal_differs_only_where_intended() {
        let minimal = super::super::PRESETS.iter().find(|p| p.name == "minimal");
        let overlay = minimal.map_or("", |preset| preset.overlay);
        let parsed = super::super::from_str(overlay, "minimal", &|_| None);
        let Ok(mut config) = parsed else {
            panic!("the minimal preset does not parse: {parsed:?}");
        };
        assert_eq!(config.system.interval, Duration::from_secs(60));
        assert_eq!(config.storage.max_size, 256 << 20);
        config.system.interval = embedded_default().system.interval;
        config.storage.max_size = embedded_default().storage.max_size;
        assert_eq!(config, embedded_default());
    }
}
