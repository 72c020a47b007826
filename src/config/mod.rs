//! Lookout's configuration: the typed `Config`, loading it from TOML (or the embedded default),
//! validation that reports every problem with file:line:column, and the `config init` template.
//!
//! Parse -> validate -> build: this module only parses and validates (pure, apart from reading
//! the file and the environment); the daemon builds probes and the store from a `Config`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from; `None` for the embedded default.
    pub source: Option<PathBuf>,
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub system: SystemConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `server.listen`, default 127.0.0.1:9898.
    pub listen: SocketAddr,
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// `storage.path`, default `./lookout-data` (relative to the working directory).
    pub path: PathBuf,
    /// `storage.max_size`, default 1 GiB: the oldest data of the finest tier is dropped first.
    pub max_size: u64,
    /// `storage.flush_interval`, default 10s, at most 10s: the most samples a crash can lose.
    pub flush_interval: Duration,
    /// `storage.retention.raw` (7d), `.minute` (90d), `.hour` (2y = 730d).
    pub retention: Retention,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub raw: Duration,
    pub minute: Duration,
    pub hour: Duration,
}

#[derive(Debug, Clone)]
pub struct SystemConfig {
    /// `system.enabled`, default true.
    pub enabled: bool,
    /// `system.interval`, default 10s.
    pub interval: Duration,
    /// `system.per_core`, default false: also record each core's busy ratio.
    pub per_core: bool,
    /// `system.filesystems`: mount points to include/exclude (regexes matched against the whole mount point).
    pub mountpoints: NameFilter,
    /// `system.fs_types`: filesystem types to include/exclude; pseudo filesystems excluded by default.
    pub fs_types: NameFilter,
    /// `system.interfaces`: network interfaces to include/exclude; virtual ones excluded by default.
    pub interfaces: NameFilter,
    /// `system.thresholds`: the seed's thresholds for the system health checks.
    pub thresholds: SystemThresholds,
}

/// Usage thresholds as ratios 0..=1 (written as percents in the file: "80%").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SystemThresholds {
    pub cpu_warning: f64,
    pub cpu_critical: f64,
    pub memory_warning: f64,
    pub memory_critical: f64,
    pub disk_warning: f64,
    pub disk_critical: f64,
}

impl Default for SystemThresholds {
    /// The seed guide's thresholds.
    fn default() -> Self {
        SystemThresholds {
            cpu_warning: 0.80,
            cpu_critical: 0.95,
            memory_warning: 0.85,
            memory_critical: 0.95,
            disk_warning: 0.90,
            disk_critical: 0.95,
        }
    }
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    /// `log.level`: a tracing filter such as "info" or "lookout=debug,info". Default "info".
    pub level: String,
}

/// Include/exclude lists of anchored regexes. A name passes when it matches some include
/// pattern (or the include list is empty) and no exclude pattern.
#[derive(Debug, Clone, Default)]
pub struct NameFilter {
    pub include: Vec<Regex>,
    pub exclude: Vec<Regex>,
}

impl NameFilter {
    pub fn allows(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(name)))
            && !self.exclude.iter().any(|r| r.is_match(name))
    }
}
