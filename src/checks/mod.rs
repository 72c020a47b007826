//! Check types: one folder per `type` of `[[check]]`, each a vertical slice holding the
//! type's config struct and its reading (`config.rs`), its probe (`probe.rs`) and, in its
//! `mod.rs`, its `CheckType`: the type names, the default layer, whether it reaches over the
//! network, the summary line's target, how to build its probe and its doctor hints.
//!
//! `check_kinds!` below registers the types, one line each, making the closed enum
//! `CheckKind`; `kinds.rs` holds the one `match` that dispatches to `CheckType`: adding a type
//! is one folder here and one line below. Nothing else
//! lists the types: the did-you-mean of `type`, the connectivity gate's network types, the
//! template's type list and the exporter's rules all ask `CheckKind`.
//!
//! This module knows one attempt of one check (`Check`, `Outcome`); running checks on a
//! schedule with timeouts, retries and the shared series is `probes::checks`' job.

pub mod hint;
#[macro_use]
mod kinds;
#[cfg(test)]
pub(crate) mod testing;

// The check types: one line each, `Variant(folder::ConfigStruct)` (see `kinds.rs`).
check_kinds! {
    Http(http::HttpCheck),
    Prometheus(prometheus::PrometheusCheck),
    Tcp(tcp::TcpCheck),
    Sql(sql::SqlCheck),
    Redis(redis::RedisCheck),
    Log(log::LogCheck),
    Dns(dns::DnsCheck),
}

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::base::schema::{Reader, Table};
use crate::base::units::ValueUnit;
use crate::clock::UnixMillis;
use crate::model::{Layer, SeriesKey, Status};

pub use hint::Cause;

/// The extension points of one check type. Implemented by the type's config struct (what
/// `CheckKind` holds); `CheckKind` dispatches to it.
pub(crate) trait CheckType: Send + Sync + 'static {
    /// The `type` values this type is written as (most have one; the SQL type has a dialect
    /// per name).
    fn types() -> &'static [&'static str]
    where
        Self: Sized;

    /// Reads the type's own keys of one `[[check]]` table; `type_name` is one of `types()`.
    /// Problems go to the reader; the result holds defaults where a value was wrong.
    fn read(type_name: &str, r: &mut Reader<'_>, table: &Table<'_, '_>) -> Self
    where
        Self: Sized;

    /// Its example for the `config init` template: commented lines, one `# [[check]]` block
    /// per type name with every key the type reads (the first registered type's example
    /// continues the block of the keys every check has, `config/checks/template.toml`).
    fn template() -> &'static str
    where
        Self: Sized;

    /// The HELP line of each series the type's probe reports (`/metrics`), by series name
    /// without the `lookout_` prefix; `None` for a name that is not the type's.
    fn series_help(_series: &str) -> Option<&'static str>
    where
        Self: Sized,
    {
        None
    }

    /// The layer of a check of `type_name` without a `layer` key.
    fn default_layer(_type_name: &str) -> Layer
    where
        Self: Sized,
    {
        Layer::Application
    }

    /// Whether a check of `type_name` reaches over the network: such a check can be a
    /// connectivity canary, and while the canaries fail its alerts wait for the network.
    fn network(_type_name: &str) -> bool
    where
        Self: Sized,
    {
        true
    }

    /// The `type` this check was written with.
    fn type_name(&self) -> &'static str;

    /// What it looks at, for `config check` and the summary (any password masked).
    fn target(&self) -> String;

    /// Its probe: one attempt at a time.
    fn build(&self, schedule: Schedule) -> Box<dyn Check>;

    /// The series the check's detail page charts, the headline first (the series `value` is
    /// read from); each with the levels its status is decided on, if any. Only series this
    /// check writes (configured queries, patterns, sessions included).
    fn charts(&self) -> Vec<Chart> {
        Vec::new()
    }

    /// The unit of the headline value of its results (`CheckResult::value`): most types
    /// time something (a response, a connect, a ping); a type that counts says so.
    fn value_unit(&self) -> ValueUnit {
        ValueUnit::Seconds
    }

    /// Doctor: what the target is called in general hints ("the database", "Redis").
    fn what(&self) -> &'static str {
        "the service"
    }

    /// Doctor: the type's own advice for `cause`, instead of the general one.
    fn hint(&self, _cause: Cause) -> Option<String> {
        None
    }
}

/// What a charted number is measured in (the dashboard formats it by this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartUnit {
    Seconds,
    /// 0..1, shown as a percent.
    Ratio,
    Bytes,
    Count,
}

impl ChartUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            ChartUnit::Seconds => "seconds",
            ChartUnit::Ratio => "ratio",
            ChartUnit::Bytes => "bytes",
            ChartUnit::Count => "count",
        }
    }
}

/// The levels at which a check's status turns warning / critical for one of its series, as
/// its probe grades them (`grade`): no hysteresis, the status changes at the level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    /// Lower is worse (a certificate's days left, a query with `less_is_worse`).
    pub below: bool,
    pub warning: Option<f64>,
    pub critical: Option<f64>,
}

impl Levels {
    /// Higher is worse.
    pub fn above(warning: Option<f64>, critical: Option<f64>) -> Option<Levels> {
        (warning.is_some() || critical.is_some()).then_some(Levels {
            below: false,
            warning,
            critical,
        })
    }

    /// Durations as seconds, higher is worse.
    pub fn seconds(warning: Duration, critical: Duration) -> Option<Levels> {
        Levels::above(Some(warning.as_secs_f64()), Some(critical.as_secs_f64()))
    }
}

/// One series a check writes, as its detail page charts it (the `check` label is implied).
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub metric: &'static str,
    /// Labels besides `check` that pick the series (`query`, `pattern`, `name`).
    pub labels: Vec<(&'static str, String)>,
    pub unit: ChartUnit,
    /// The levels the check's status is decided on for this series, if it is.
    pub levels: Option<Levels>,
}

impl Chart {
    pub fn new(title: impl Into<String>, metric: &'static str, unit: ChartUnit) -> Chart {
        Chart {
            title: title.into(),
            metric,
            labels: Vec::new(),
            unit,
            levels: None,
        }
    }

    pub fn label(mut self, name: &'static str, value: &str) -> Chart {
        self.labels.push((name, value.to_string()));
        self
    }

    pub fn levels(mut self, levels: Option<Levels>) -> Chart {
        self.levels = levels;
        self
    }
}

/// The certificate's remaining validity (`tls_certificate_expiry_seconds`), graded by
/// `cert_expiry_warning` / `cert_expiry_critical` (fewer seconds left is worse).
pub(crate) fn certificate_chart(tls: &crate::base::net::TlsSettings) -> Chart {
    Chart::new(
        "Certificate validity left",
        "tls_certificate_expiry_seconds",
        ChartUnit::Seconds,
    )
    .levels(Some(Levels {
        below: true,
        warning: Some(tls.cert_expiry_warning.as_secs_f64()),
        critical: Some(tls.cert_expiry_critical.as_secs_f64()),
    }))
}

/// The keys every check has that its probe may need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// `interval`: how often it runs.
    pub interval: Duration,
    /// `timeout`: the longest one attempt may take.
    pub timeout: Duration,
}

pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// One kind of health check. `attempt` must not panic; anything that goes wrong is an outcome.
pub trait Check: Send {
    fn attempt(&mut self, at_ms: UnixMillis) -> CheckFuture<'_>;
}

/// What one attempt found.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: Status,
    /// One line saying why, e.g. "HTTP 503 in 0.21 s" or "connection refused".
    pub reason: String,
    /// The headline number (e.g. response time in seconds).
    pub value: Option<f64>,
    /// The type's own series, without the `check` label (added by `CheckProbe`).
    pub samples: Vec<(SeriesKey, f64)>,
}

impl Outcome {
    pub fn new(status: Status, reason: impl Into<String>) -> Outcome {
        Outcome {
            status,
            reason: reason.into(),
            value: None,
            samples: Vec::new(),
        }
    }

    pub fn ok(reason: impl Into<String>) -> Outcome {
        Outcome::new(Status::Ok, reason)
    }

    pub fn critical(reason: impl Into<String>) -> Outcome {
        Outcome::new(Status::Critical, reason)
    }

    pub fn unknown(reason: impl Into<String>) -> Outcome {
        Outcome::new(Status::Unknown, reason)
    }

    pub fn with_value(mut self, value: f64) -> Outcome {
        self.value = Some(value);
        self
    }

    pub fn sample(mut self, series: SeriesKey, value: f64) -> Outcome {
        self.samples.push((series, value));
        self
    }

    pub fn failed(&self) -> bool {
        matches!(self.status, Status::Critical | Status::Unknown)
    }
}

/// The status of `value` against thresholds where higher is worse (either may be absent):
/// at or above critical is Critical, at or above warning is Warning.
pub fn grade(value: f64, warning: Option<f64>, critical: Option<f64>) -> Status {
    if critical.is_some_and(|c| value >= c) {
        Status::Critical
    } else if warning.is_some_and(|w| value >= w) {
        Status::Warning
    } else {
        Status::Ok
    }
}
