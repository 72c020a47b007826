//! Keys of `type = "redis"` checks: the connection URL (a secret), the PING and memory
//! thresholds, the replication-lag thresholds, and the optional session count by SCAN.
//!
//! ```toml
//! [[check]]
//! name = "redis"
//! type = "redis"
//! url = "redis://:${REDIS_PASSWORD}@127.0.0.1:6379/0"   # rediss:// for TLS
//! ping_warning = "100ms"
//! ping_critical = "1s"
//! memory_warning = "80%"          # of maxmemory; only when maxmemory is set
//! memory_critical = "90%"
//! replication_lag_warning = "30s" # replicas only
//! replication_lag_critical = "2m"
//! session_pattern = "vedfolnir:session:*"
//! session_scan_limit = 100000     # keys examined per run before estimating
//! scan_count = 1000               # COUNT hint of each SCAN call
//! ```

use std::time::Duration;

use crate::base::schema::whole_setting;
use crate::base::schema::{Reader, Table};
use crate::base::schema::{duration_setting, percent_setting, positive, warning_below_critical};
use crate::base::schema::{optional_string, required_string};
use crate::base::secret::Secret;
use crate::base::units::format_duration;

pub const DEFAULT_PING_WARNING: Duration = Duration::from_millis(100);
pub const DEFAULT_PING_CRITICAL: Duration = Duration::from_secs(1);
pub const DEFAULT_MEMORY_WARNING: f64 = 0.8;
pub const DEFAULT_MEMORY_CRITICAL: f64 = 0.9;
pub const DEFAULT_LAG_WARNING: Duration = Duration::from_secs(30);
pub const DEFAULT_LAG_CRITICAL: Duration = Duration::from_secs(120);
pub const DEFAULT_SESSION_SCAN_LIMIT: u32 = 100_000;
pub const DEFAULT_SCAN_COUNT: u32 = 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct RedisCheck {
    /// `url`: "redis://[user:password@]host:port/db" or "rediss://" for TLS; a secret.
    pub url: Secret,
    /// `ping_warning` / `ping_critical`: PING round trip thresholds (100ms / 1s).
    pub ping_warning: Duration,
    pub ping_critical: Duration,
    /// `memory_warning` / `memory_critical`: used_memory / maxmemory (80% / 90%).
    pub memory_warning: f64,
    pub memory_critical: f64,
    /// `replication_lag_warning` / `replication_lag_critical`: a replica's lag (30s / 2m).
    pub lag_warning: Duration,
    pub lag_critical: Duration,
    /// `session_pattern`: a SCAN MATCH glob whose keys are counted (none: no count).
    pub session_pattern: Option<String>,
    /// `session_scan_limit`: keys examined per run before the count becomes an estimate.
    pub session_scan_limit: u32,
    /// `scan_count`: the COUNT hint of each SCAN call.
    pub scan_count: u32,
}

pub(crate) fn read_redis(r: &mut Reader<'_>, table: &Table<'_, '_>) -> RedisCheck {
    let url = required_string(r, table, "url", "\"redis://127.0.0.1:6379/0\"");
    if !url.is_empty()
        && let Err(why) = check_redis_url(&url)
    {
        // The value is a secret: name the problem, never quote it.
        r.problem(table.span.as_ref(), &format!("{}.url", table.path), why);
    }
    let ping_warning = duration_setting(r, table, "ping_warning", DEFAULT_PING_WARNING, positive);
    let ping_critical =
        duration_setting(r, table, "ping_critical", DEFAULT_PING_CRITICAL, positive);
    duration_order(r, &ping_warning, &ping_critical);
    let memory_warning = percent_setting(r, table, "memory_warning", DEFAULT_MEMORY_WARNING);
    let memory_critical = percent_setting(r, table, "memory_critical", DEFAULT_MEMORY_CRITICAL);
    warning_below_critical(r, &memory_warning, &memory_critical);
    let lag_warning = duration_setting(
        r,
        table,
        "replication_lag_warning",
        DEFAULT_LAG_WARNING,
        positive,
    );
    let lag_critical = duration_setting(
        r,
        table,
        "replication_lag_critical",
        DEFAULT_LAG_CRITICAL,
        positive,
    );
    duration_order(r, &lag_warning, &lag_critical);
    let session_pattern = optional_string(r, table, "session_pattern");
    if session_pattern
        .as_deref()
        .is_some_and(|p| p.trim().is_empty())
    {
        r.problem(
            None,
            &format!("{}.session_pattern", table.path),
            "must not be empty; expected a glob like \"vedfolnir:session:*\"",
        );
    }
    let session_scan_limit = whole_setting(
        r,
        table,
        "session_scan_limit",
        DEFAULT_SESSION_SCAN_LIMIT,
        0..=1_000_000_000,
    )
    .value
    .max(1);
    let scan_count = whole_setting(r, table, "scan_count", DEFAULT_SCAN_COUNT, 0..=100_000)
        .value
        .max(1);
    RedisCheck {
        url: Secret::new(url),
        ping_warning: ping_warning.value,
        ping_critical: ping_critical.value,
        memory_warning: memory_warning.value,
        memory_critical: memory_critical.value,
        lag_warning: lag_warning.value,
        lag_critical: lag_critical.value,
        session_pattern: session_pattern.filter(|p| !p.trim().is_empty()),
        session_scan_limit,
        scan_count,
    }
}

/// A Redis connection URL as the client accepts it (redis://, rediss:// for TLS, or a Unix
/// socket); the error names the problem without quoting the URL, which may hold a password.
pub(crate) fn check_redis_url(url: &str) -> Result<(), String> {
    let schemes = ["redis://", "rediss://", "redis+unix://", "unix://"];
    if !schemes.iter().any(|scheme| url.starts_with(scheme)) {
        return Err(
            "must start with redis:// or rediss:// (TLS), like \"redis://127.0.0.1:6379/0\""
                .to_string(),
        );
    }
    if (url.starts_with("redis://") || url.starts_with("rediss://"))
        && let Some(problem) = crate::base::schema::port_problem(url)
    {
        return Err(format!("{problem}, like \"redis://127.0.0.1:6379/0\""));
    }
    Ok(())
}

/// A warning duration must be below its critical one.
fn duration_order(
    r: &mut Reader<'_>,
    warning: &crate::base::schema::Field<Duration>,
    critical: &crate::base::schema::Field<Duration>,
) {
    if !(warning.valid && critical.valid) || warning.value < critical.value {
        return;
    }
    let (blamed, other, relation) = if warning.span.is_some() {
        (warning, critical, "below")
    } else {
        (critical, warning, "above")
    };
    let name = other.path.rsplit('.').next().unwrap_or(&other.path);
    let default = if other.span.is_none() {
        ", the default"
    } else {
        ""
    };
    r.problem(
        blamed.span.as_ref(),
        &blamed.path,
        format!(
            "\"{}\" must be {relation} {name} (\"{}\"{default})",
            format_duration(blamed.value),
            format_duration(other.value)
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::CheckKind;
    use crate::checks::testing::{errors, read};

    #[test]
    fn defaults_and_values_are_read() {
        let text = "[[check]]\nname = \"r\"\ntype = \"redis\"\nurl = \"redis://:pw@127.0.0.1:6379/2\"\n\
                    ping_warning = \"50ms\"\nmemory_critical = \"95%\"\nsession_pattern = \"app:session:*\"\n\
                    session_scan_limit = 5000\n";
        let kinds = read(text, &|_| None);
        let CheckKind::Redis(redis) = &kinds[0] else {
            panic!("not a redis check: {:?}", kinds[0]);
        };
        assert_eq!(redis.url.expose(), "redis://:pw@127.0.0.1:6379/2");
        assert_eq!(redis.ping_warning, Duration::from_millis(50));
        assert_eq!(redis.ping_critical, DEFAULT_PING_CRITICAL);
        assert_eq!(redis.memory_warning, DEFAULT_MEMORY_WARNING);
        assert_eq!(redis.memory_critical, 0.95);
        assert_eq!(redis.session_pattern.as_deref(), Some("app:session:*"));
        assert_eq!(redis.session_scan_limit, 5000);
        assert_eq!(redis.scan_count, DEFAULT_SCAN_COUNT);
    }

    #[test]
    fn golden_missing_url() {
        assert_eq!(
            errors("[[check]]\nname = \"r\"\ntype = \"redis\"\n"),
            "lookout.toml:1:1: check \"r\".url: missing; this check type needs it, like url = \"redis://127.0.0.1:6379/0\""
        );
    }

    #[test]
    fn golden_bad_url_is_not_quoted() {
        let text = "[[check]]\nname = \"r\"\ntype = \"redis\"\nurl = \"http://:hunter2@x\"\n";
        let message = errors(text);
        assert_eq!(
            message,
            "lookout.toml:1:1: check \"r\".url: must start with redis:// or rediss:// (TLS), like \"redis://127.0.0.1:6379/0\""
        );
        assert!(!message.contains("hunter2"));
    }

    #[test]
    fn golden_bad_thresholds_and_unknown_key() {
        let text = "[[check]]\nname = \"r\"\ntype = \"redis\"\nurl = \"redis://127.0.0.1\"\n\
                    ping_warning = \"2s\"\nmemory_warning = \"95%\"\nsession_patern = \"x:*\"\n";
        assert_eq!(
            errors(text),
            "lookout.toml:5:16: check \"r\".ping_warning: \"2s\" must be below ping_critical (\"1s\", the default)\n\
             lookout.toml:6:18: check \"r\".memory_warning: \"95%\" must be below memory_critical (\"90%\", the default)\n\
             lookout.toml:7:1: check \"r\".session_patern: unknown key; did you mean \"session_pattern\"?"
        );
    }
}
