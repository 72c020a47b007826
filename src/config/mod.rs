//! Lookout's configuration: the typed `Config`, loading it from TOML (or the embedded default),
//! validation that reports every problem with file:line:column, the `config init` template and
//! (the `config check` summary is a view: `views::config`).
//!
//! Parse -> validate -> build: this module only parses and validates (pure, apart from reading
//! the file and the environment in `load`); the daemon builds probes and the store from a
//! `Config`.
//!
//! Map: reading goes through `base::schema` (the span-preserving reader that collects problems,
//! `${ENV}` substitution, typed settings) and `base::units` (durations, sizes, percents);
//! `parse.rs` is the schema (every key, its default and its checks); `error.rs` `ConfigError`;
//! `defaults.rs` the defaults and presets; `template.rs` the commented example config;
//! `tests.rs` golden tests of whole files.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

use crate::base::schema::{anchored, unanchored};
use crate::base::secret::Secret;

pub mod alerts;
pub mod checks;
mod defaults;
mod error;
mod log;
pub mod maintenance;
pub mod notifiers;
mod parse;
pub mod receive;
pub mod remote_write;
mod template;
#[cfg(test)]
mod tests;
pub mod watch;

/// Helpers for the config tests of every module: parse a text that must be invalid and get
/// the problems as the user sees them.
#[cfg(test)]
pub(crate) mod test_support {
    pub fn no_env(_: &str) -> Option<String> {
        None
    }

    /// The error text for `text` (origin "lookout.toml"), which must be invalid.
    pub fn errors_with_env(text: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
        match super::from_str(text, "lookout.toml", env) {
            Ok(_) => panic!("expected problems in:\n{text}"),
            Err(error) => error.to_string(),
        }
    }

    pub fn errors(text: &str) -> String {
        errors_with_env(text, &no_env)
    }

    /// `text` with its example blocks uncommented: from a line `starts` accepts to the next bare
    /// "#", each line loses its "# " (so "# # ..." stays a comment); other lines are kept.
    pub fn uncomment(text: &str, starts: impl Fn(&str) -> bool) -> String {
        let mut out = String::new();
        let mut in_block = false;
        for line in text.lines() {
            if starts(line) {
                in_block = true;
            } else if line.trim_end() == "#" {
                in_block = false;
            }
            out.push_str(line.strip_prefix("# ").filter(|_| in_block).unwrap_or(line));
            out.push('\n');
        }
        out
    }

    /// A key path without its array indices, "maintenance.window[1].cron" ->
    /// "maintenance.window.cron": what a template shows compared with what a reader asked for.
    pub fn without_indices(path: &str) -> String {
        let mut out = String::with_capacity(path.len());
        let mut in_index = false;
        for c in path.chars() {
            match c {
                '[' => in_index = true,
                ']' => in_index = false,
                c if !in_index => out.push(c),
                _ => {}
            }
        }
        out
    }
}

pub use alerts::{AlertsConfig, FlapConfig, InhibitConfig, RuleConfig, RuleSource, ValueUnit};
pub use checks::{CheckConfig, CheckKind, effective_dependencies};
pub use defaults::embedded_default;
pub use error::ConfigError;
pub use log::{LogConfig, LogFormat, LogOutput};
pub use maintenance::MaintenanceConfig;
pub use notifiers::{NotifierConfig, NotifierKind};
pub use receive::ReceiveConfig;
pub use remote_write::RemoteWriteConfig;
pub use template::{PRESETS, UnknownPreset, init_template};
pub use watch::{ConnectivityConfig, HeartbeatConfig};

/// Loads the config at `path`, substituting `${ENV}` from the process environment; `None`
/// means no file: the embedded default (see `embedded_default`).
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    let Some(path) = path else {
        return Ok(embedded_default());
    };
    let text = std::fs::read_to_string(path).map_err(|io| ConfigError::Read {
        path: path.to_path_buf(),
        io,
    })?;
    // A value that is not valid Unicode is still substituted (lossily) rather than reported as
    // unset, which would send the user looking for a variable that is there.
    let env = |name: &str| std::env::var_os(name).map(|value| value.to_string_lossy().into_owned());
    let mut config = from_str(&text, &path.display().to_string(), &env)?;
    config.source = Some(path.to_path_buf());
    Ok(config)
}

/// Parses and validates a config text. `origin` names it in messages (usually the file path);
/// `env` looks up the variables for `${NAME}`. Pure: no file, no process environment. The
/// result's `source` is `None`; `load` fills it in.
pub fn from_str(
    text: &str,
    origin: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    // Some editors start UTF-8 files with a byte-order mark; TOML does not allow it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    parse::parse(text, origin, env).map_err(|problems| ConfigError::Invalid { problems })
}

/// The environment variables `text` reads (`${NAME}` in its values; comments aside), in order
/// of first use: what `lookout config init` tells the user to set. Found by reading `text` as
/// `config check` does, so it names exactly the variables whose absence `config check` reports.
pub fn env_references(text: &str) -> Vec<String> {
    let names = std::cell::RefCell::new(Vec::<String>::new());
    let record = |name: &str| {
        let mut names = names.borrow_mut();
        if !names.iter().any(|known| known == name) {
            names.push(name.to_string());
        }
        None
    };
    // Unset on purpose: every reference is asked for, and the problems are not the point.
    let _ = from_str(text, "", &record);
    names.into_inner()
}

/// The JSON Schema of the config file (`lookout config schema`), derived from the code that
/// reads it (`base::schema::derive`), so it cannot drift from what `config check` accepts.
pub fn json_schema() -> serde_json::Value {
    let mut schema = crate::base::schema::derive("Lookout configuration", &|reader, document| {
        parse::read_config(reader, document);
    });
    let docs = template::descriptions();
    crate::base::schema::annotate(&mut schema, &|path| {
        docs.get(path).filter(|doc| !doc.is_empty()).cloned()
    });
    schema
}

/// The whole validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this came from (set by `load`); `None` for the embedded default and `from_str`.
    pub source: Option<PathBuf>,
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub system: SystemConfig,
    pub log: LogConfig,
    /// `[[check]]`: health checks of the application, its database, Redis, logs.
    pub checks: Vec<CheckConfig>,
    /// `[alerts]`: rules (built-in and own), cooldowns, grouping, inhibitions.
    pub alerts: AlertsConfig,
    /// `[[notifier]]`: email, webhook.
    pub notifiers: Vec<NotifierConfig>,
    /// `[maintenance]`: knowing when the app is in maintenance, planned windows, control.
    pub maintenance: MaintenanceConfig,
    /// `[[remote_write]]`: Prometheus remote-write endpoints.
    pub remote_write: Vec<RemoteWriteConfig>,
    /// `[heartbeat]`: a dead-man ping while Lookout is healthy (watch.rs).
    pub heartbeat: Option<HeartbeatConfig>,
    /// `[receive]`: the hub's receivers (remote write, OTLP); `None`: off (receive.rs).
    pub receive: Option<ReceiveConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// `server.listen`, default 127.0.0.1:9898.
    pub listen: SocketAddr,
    /// `server.tls_cert` and `server.tls_key`: PEM files; both or neither. With them the
    /// dashboard and API are served over HTTPS only.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// `server.insecure_http`, default false: allows plain HTTP on a non-loopback address.
    pub insecure_http: bool,
    /// `server.session_idle_timeout`, default 30m: a login session unused this long ends.
    pub session_idle_timeout: Duration,
    /// `server.session_max_age`, default 12h: a login session ends this long after login.
    pub session_max_age: Duration,
    /// `server.metrics_listen`: a second listener serving only /metrics (e.g. on the address
    /// Prometheus reaches while the dashboard stays on loopback).
    pub metrics_listen: Option<SocketAddr>,
    /// `server.metrics_token`: /metrics then needs `Authorization: Bearer <token>` (or the
    /// basic-auth pair below).
    pub metrics_token: Option<Secret>,
    /// `server.metrics_user` and `server.metrics_password`: basic auth for /metrics.
    pub metrics_basic_auth: Option<(String, Secret)>,
    /// `server.metrics_refresh`, default 1s: while /metrics is scraped, the page is rendered
    /// this often ahead of the scrapes; zero renders it during each scrape instead.
    pub metrics_refresh: Duration,
    /// `server.trusted_proxies`, default none: addresses or networks ("127.0.0.1",
    /// "10.0.0.0/8") of reverse proxies whose `X-Forwarded-For` names the client, for the
    /// login limits. Anyone else's `X-Forwarded-For` is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `server.header_read_timeout`, default 10s (1s to 5m): a connection that has not sent a
    /// whole request head this long after it opened (or after the first byte of a following
    /// request) is closed.
    pub header_read_timeout: Duration,
    /// `server.tls_handshake_timeout`, default 10s (1s to 5m): a TLS connection whose
    /// handshake is not done this long after it opened is closed.
    pub tls_handshake_timeout: Duration,
    /// `server.idle_timeout`, default 60s (1s to 1h): a kept-alive connection with no new
    /// request this long after its last response is closed.
    pub idle_timeout: Duration,
    /// `server.max_connections`, default 512 (16 to 1,000,000): web connections open at once,
    /// both listeners together. At the cap the connection waiting longest for a request is
    /// closed to make room; fewer when the file descriptor limit leaves less room
    /// (`fds::connection_budget`).
    pub max_connections: u32,
}

/// `storage.max_buffered_samples`'s default (~16 bytes each): hours of a busy host's metrics.
pub const DEFAULT_MAX_BUFFERED_SAMPLES: u64 = 4_000_000;

#[derive(Debug, Clone, PartialEq)]
pub struct StorageConfig {
    /// `storage.path`, default `./lookout-data` (relative to the working directory).
    pub path: PathBuf,
    /// `storage.max_size`, default 1 GiB: the oldest data of the finest tier is dropped first.
    pub max_size: u64,
    /// `storage.flush_interval`, default 10s, at most 10s: the most samples a crash can lose.
    pub flush_interval: Duration,
    /// `storage.retention.raw` (7d), `.minute` (90d), `.hour` (2y = 730d).
    pub retention: Retention,
    /// `storage.max_buffered_samples`, default 4,000,000 (~64 MB): the most samples kept in
    /// memory while the store cannot write (a full or read-only disk); the oldest go first.
    pub max_buffered_samples: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub raw: Duration,
    pub minute: Duration,
    pub hour: Duration,
}

#[derive(Debug, Clone, PartialEq)]
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

/// Include/exclude lists of anchored regexes. A name passes when it matches some include
/// pattern (or the include list is empty) and no exclude pattern.
///
/// Patterns match the whole name: "veth.*" is compiled as `^(?:veth.*)$`, so "lo" does not
/// also exclude "long0". Equality compares the patterns as written.
#[derive(Debug, Clone, Default)]
pub struct NameFilter {
    pub include: Vec<Regex>,
    pub exclude: Vec<Regex>,
}

impl NameFilter {
    /// Compiles both lists; the error names the first bad pattern.
    pub fn new(include: &[&str], exclude: &[&str]) -> Result<NameFilter, (String, regex::Error)> {
        let compile = |patterns: &[&str]| -> Result<Vec<Regex>, (String, regex::Error)> {
            patterns
                .iter()
                .map(|pattern| anchored(pattern).map_err(|error| (pattern.to_string(), error)))
                .collect()
        };
        Ok(NameFilter {
            include: compile(include)?,
            exclude: compile(exclude)?,
        })
    }

    pub fn allows(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(name)))
            && !self.exclude.iter().any(|r| r.is_match(name))
    }

    /// The include patterns as written (without the anchoring added at compile time).
    pub fn include_patterns(&self) -> Vec<&str> {
        self.include.iter().map(unanchored).collect()
    }

    /// The exclude patterns as written (without the anchoring added at compile time).
    pub fn exclude_patterns(&self) -> Vec<&str> {
        self.exclude.iter().map(unanchored).collect()
    }
}

impl PartialEq for NameFilter {
    fn eq(&self, other: &Self) -> bool {
        self.include_patterns() == other.include_patterns()
            && self.exclude_patterns() == other.exclude_patterns()
    }
}
