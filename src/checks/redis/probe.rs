//! `type = "redis"`: PING round trip, INFO (memory, clients, hit ratio, persistence,
//! replication) and an optional count of session keys by SCAN.
//!
//! One multiplexed connection per check, kept between runs; after a failure it is dropped and
//! re-opened, with a backoff (0 s after the first failure so the confirming retry really
//! retries, then 1 s, 2 s, 4 s ... up to 60 s) during which attempts report the last error
//! instead of hammering a server that is down. Passwords never reach a reason: the URL is shown
//! through `mask_url` and any error text is scrubbed of the password.
//!
//! | series | labels | meaning |
//! |---|---|---|
//! | `redis_ping_seconds` | | PING round trip (the headline value) |
//! | `redis_used_memory_bytes` | | INFO used_memory |
//! | `redis_maxmemory_bytes` | | INFO maxmemory (0: no limit) |
//! | `redis_memory_ratio` | | used / maxmemory, only when maxmemory is set |
//! | `redis_mem_fragmentation_ratio` | | INFO mem_fragmentation_ratio |
//! | `redis_connected_clients`, `redis_blocked_clients` | | INFO clients |
//! | `redis_ops_per_second` | | INFO instantaneous_ops_per_sec |
//! | `redis_keyspace_hit_ratio` | | hits / (hits + misses) since the previous run, else since start |
//! | `redis_evicted_keys_total`, `redis_expired_keys_total` | | INFO counters |
//! | `redis_rdb_last_bgsave_ok` | | 1 when the last RDB save succeeded (a failure warns) |
//! | `redis_aof_enabled` | | 1 when the append-only file is on |
//! | `redis_role` | `role` = master / replica | always 1 |
//! | `redis_replication_lag_seconds` | | replicas: master_last_io_seconds_ago |
//! | `redis_sessions` | | keys matching `session_pattern` (exact, or estimated past the cap) |
//! | `redis_sessions_estimated` | | 1 when `redis_sessions` is an estimate |
//!
//! Session count: `SCAN cursor MATCH pattern COUNT scan_count`, never KEYS. Redis examines
//! about `scan_count` keys per call, so the work is capped at `session_scan_limit /
//! scan_count` calls. When the scan ends before the cursor returns to 0, the count is
//! extrapolated from the share of the keyspace examined: `matched / (calls × scan_count) ×
//! DBSIZE`, flagged `redis_sessions_estimated = 1` and "estimated" in the detail.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ErrorKind, RedisError};

use crate::base::secret::mask_url;
use crate::checks::redis::config::RedisCheck;
use crate::checks::{Check, CheckFuture, Outcome, grade};
use crate::clock::UnixMillis;
use crate::model::{SeriesKey, Status};

const MAX_BACKOFF: Duration = Duration::from_secs(60);

pub struct RedisProbe {
    config: RedisCheck,
    timeout: Duration,
    masked_url: String,
    password: Option<String>,
    connection: Option<MultiplexedConnection>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: String,
    previous_hits: Option<(u64, u64)>,
}

impl RedisProbe {
    pub fn new(config: RedisCheck, timeout: Duration) -> RedisProbe {
        let url = config.url.expose();
        RedisProbe {
            masked_url: mask_url(url),
            password: url_password(url),
            timeout,
            config,
            connection: None,
            failures: 0,
            retry_at: None,
            last_error: String::new(),
            previous_hits: None,
        }
    }

    /// A reason without the password, whatever the error text contained.
    fn scrub(&self, text: String) -> String {
        match &self.password {
            Some(password) if !password.is_empty() => text.replace(password.as_str(), "***"),
            _ => text,
        }
    }

    fn describe(&self, stage: &str, error: &RedisError) -> String {
        let target = &self.masked_url;
        let text = if error.is_connection_refusal() {
            format!("connection refused by {target}")
        } else if error.is_timeout() {
            format!("timeout {stage} {target}")
        } else if error.kind() == ErrorKind::AuthenticationFailed
            || matches!(error.code(), Some("WRONGPASS" | "NOAUTH"))
        {
            let detail = error.detail().unwrap_or("wrong user or password");
            format!("authentication failed at {target}: {detail}")
        } else {
            format!("{stage} {target} failed: {error}")
        };
        self.scrub(text.replace('\n', " "))
    }

    /// Records a failure: the connection is dropped and the next reconnect is delayed.
    fn failed(&mut self, reason: String) -> Outcome {
        self.connection = None;
        self.failures += 1;
        let delay = if self.failures <= 1 {
            Duration::ZERO
        } else {
            Duration::from_secs(1 << (self.failures - 2).min(6)).min(MAX_BACKOFF)
        };
        self.retry_at = Some(Instant::now() + delay);
        self.last_error = reason.clone();
        Outcome::critical(reason)
    }

    async fn connect(&mut self) -> Result<MultiplexedConnection, Outcome> {
        if let Some(connection) = &self.connection {
            return Ok(connection.clone());
        }
        if let Some(at) = self.retry_at
            && Instant::now() < at
        {
            let wait = at.saturating_duration_since(Instant::now());
            return Err(Outcome::critical(format!(
                "{} (reconnecting in {:.0} s)",
                self.last_error,
                wait.as_secs_f64().ceil()
            )));
        }
        let client = match Client::open(self.config.url.expose()) {
            Ok(client) => client,
            Err(error) => {
                let reason = self.scrub(format!(
                    "invalid Redis URL {}: {}",
                    self.masked_url,
                    error.to_string().replace('\n', " ")
                ));
                return Err(self.failed(reason));
            }
        };
        // A little longer than the check's timeout, so that `CheckProbe`'s timeout is the one
        // that fires (and a timeout is not retried); these only bound a connection that
        // outlives an abandoned attempt.
        let limit = self.timeout + Duration::from_millis(250);
        let settings = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(limit))
            .set_response_timeout(Some(limit));
        match client
            .get_multiplexed_async_connection_with_config(&settings)
            .await
        {
            Ok(connection) => {
                self.connection = Some(connection.clone());
                Ok(connection)
            }
            Err(error) => {
                let reason = self.describe("connecting to", &error);
                Err(self.failed(reason))
            }
        }
    }

    async fn run(&mut self) -> Outcome {
        let mut connection = match self.connect().await {
            Ok(connection) => connection,
            Err(outcome) => return outcome,
        };
        let started = Instant::now();
        let ping: Result<String, RedisError> =
            redis::cmd("PING").query_async(&mut connection).await;
        let ping_seconds = started.elapsed().as_secs_f64();
        if let Err(error) = ping {
            let reason = self.describe("sending PING to", &error);
            return self.failed(reason);
        }
        let info: String = match redis::cmd("INFO").query_async(&mut connection).await {
            Ok(info) => info,
            Err(error) => {
                let reason = self.describe("reading INFO from", &error);
                return self.failed(reason);
            }
        };
        let sessions = match &self.config.session_pattern {
            None => None,
            Some(pattern) => {
                let pattern = pattern.clone();
                match count_sessions(
                    &mut connection,
                    &pattern,
                    self.config.scan_count,
                    self.config.session_scan_limit,
                )
                .await
                {
                    Ok(count) => Some(count),
                    Err(error) => {
                        let reason = self.describe("scanning sessions on", &error);
                        return self.failed(reason);
                    }
                }
            }
        };
        self.failures = 0;
        self.retry_at = None;
        let info = parse_info(&info);
        let hits = info.hits();
        let outcome = evaluate(
            &self.config,
            ping_seconds,
            &info,
            self.previous_hits,
            sessions,
        );
        if hits.is_some() {
            self.previous_hits = hits;
        }
        outcome
    }
}

impl Check for RedisProbe {
    fn attempt(&mut self, _at_ms: UnixMillis) -> CheckFuture<'_> {
        Box::pin(self.run())
    }
}

/// The password in a Redis URL (`redis://user:password@host` or `redis://password@host`).
fn url_password(url: &str) -> Option<String> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    let password = userinfo.split_once(':').map_or(userinfo, |(_, p)| p);
    (!password.is_empty()).then(|| password.to_string())
}

/// The result of counting keys by SCAN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionCount {
    pub count: f64,
    pub estimated: bool,
}

async fn count_sessions(
    connection: &mut MultiplexedConnection,
    pattern: &str,
    scan_count: u32,
    limit: u32,
) -> Result<SessionCount, RedisError> {
    let max_calls = limit.div_ceil(scan_count).max(1);
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut cursor: u64 = 0;
    let mut calls: u32 = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(scan_count)
            .query_async(connection)
            .await?;
        calls += 1;
        seen.extend(keys);
        cursor = next;
        if cursor == 0 {
            return Ok(SessionCount {
                count: seen.len() as f64,
                estimated: false,
            });
        }
        if calls >= max_calls {
            break;
        }
    }
    let dbsize: u64 = redis::cmd("DBSIZE").query_async(connection).await?;
    Ok(estimate_sessions(
        seen.len() as u64,
        u64::from(calls) * u64::from(scan_count),
        dbsize,
    ))
}

/// Extrapolates a partial scan: `matched` keys among about `examined`, out of `dbsize`.
pub fn estimate_sessions(matched: u64, examined: u64, dbsize: u64) -> SessionCount {
    let examined = examined.clamp(1, dbsize.max(1));
    let count = (matched as f64 / examined as f64 * dbsize as f64).max(matched as f64);
    SessionCount {
        count: count.round(),
        estimated: true,
    }
}

/// INFO as `field -> value`, sections flattened (field names are unique across sections).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Info {
    pub fields: HashMap<String, String>,
}

impl Info {
    pub fn text(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    pub fn number(&self, field: &str) -> Option<f64> {
        self.text(field)?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
    }

    fn counter(&self, field: &str) -> Option<u64> {
        self.text(field)?.trim().parse::<u64>().ok()
    }

    /// (keyspace_hits, keyspace_misses).
    pub fn hits(&self) -> Option<(u64, u64)> {
        Some((
            self.counter("keyspace_hits")?,
            self.counter("keyspace_misses")?,
        ))
    }
}

/// Parses the text of INFO: `# Section` headers, `field:value` lines, CRLF or LF.
pub fn parse_info(text: &str) -> Info {
    let fields = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once(':'))
        .map(|(field, value)| (field.to_string(), value.to_string()))
        .collect();
    Info { fields }
}

/// hits / (hits + misses) over the interval since `previous` when it can (counters grew),
/// else since the server started; `None` when there were no lookups at all.
pub fn hit_ratio(current: Option<(u64, u64)>, previous: Option<(u64, u64)>) -> Option<f64> {
    let (hits, misses) = current?;
    if let Some((old_hits, old_misses)) = previous
        && hits >= old_hits
        && misses >= old_misses
    {
        let (dh, dm) = (hits - old_hits, misses - old_misses);
        if dh + dm > 0 {
            return Some(dh as f64 / (dh + dm) as f64);
        }
    }
    (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64)
}

/// Grades one run (pure): the status is the worst of PING, memory, persistence, replication.
pub fn evaluate(
    config: &RedisCheck,
    ping_seconds: f64,
    info: &Info,
    previous_hits: Option<(u64, u64)>,
    sessions: Option<SessionCount>,
) -> Outcome {
    let mut status = grade(
        ping_seconds,
        Some(config.ping_warning.as_secs_f64()),
        Some(config.ping_critical.as_secs_f64()),
    );
    let mut problems: Vec<String> = Vec::new();
    if status != Status::Ok {
        problems.push(format!("slow PING ({})", seconds(ping_seconds)));
    }
    let mut outcome = Outcome::ok("").with_value(ping_seconds);
    outcome = outcome.sample(SeriesKey::new("redis_ping_seconds"), ping_seconds);
    let add = |outcome: Outcome, name: &str, value: Option<f64>| match value {
        Some(value) => outcome.sample(SeriesKey::new(name), value),
        None => outcome,
    };
    let used = info.number("used_memory");
    let max = info.number("maxmemory");
    outcome = add(outcome, "redis_used_memory_bytes", used);
    outcome = add(outcome, "redis_maxmemory_bytes", max);
    let mut memory_text = used.map(|u| format!("memory {}", bytes(u)));
    if let (Some(used), Some(max)) = (used, max)
        && max > 0.0
    {
        let ratio = used / max;
        outcome = add(outcome, "redis_memory_ratio", Some(ratio));
        let memory_status = grade(
            ratio,
            Some(config.memory_warning),
            Some(config.memory_critical),
        );
        memory_text = Some(format!(
            "memory {} of {} ({:.0}%)",
            bytes(used),
            bytes(max),
            ratio * 100.0
        ));
        if memory_status != Status::Ok {
            problems.push(format!(
                "memory at {:.0}% of maxmemory (warning {:.0}%, critical {:.0}%)",
                ratio * 100.0,
                config.memory_warning * 100.0,
                config.memory_critical * 100.0
            ));
        }
        status = status.max(memory_status);
    }
    outcome = add(
        outcome,
        "redis_mem_fragmentation_ratio",
        info.number("mem_fragmentation_ratio"),
    );
    let clients = info.number("connected_clients");
    outcome = add(outcome, "redis_connected_clients", clients);
    outcome = add(
        outcome,
        "redis_blocked_clients",
        info.number("blocked_clients"),
    );
    outcome = add(
        outcome,
        "redis_ops_per_second",
        info.number("instantaneous_ops_per_sec"),
    );
    outcome = add(
        outcome,
        "redis_keyspace_hit_ratio",
        hit_ratio(info.hits(), previous_hits),
    );
    outcome = add(
        outcome,
        "redis_evicted_keys_total",
        info.number("evicted_keys"),
    );
    outcome = add(
        outcome,
        "redis_expired_keys_total",
        info.number("expired_keys"),
    );
    if let Some(bgsave) = info.text("rdb_last_bgsave_status") {
        let ok = bgsave.trim() == "ok";
        outcome = add(
            outcome,
            "redis_rdb_last_bgsave_ok",
            Some(if ok { 1.0 } else { 0.0 }),
        );
        if !ok {
            problems.push("last RDB background save failed".to_string());
            status = status.max(Status::Warning);
        }
    }
    outcome = add(outcome, "redis_aof_enabled", info.number("aof_enabled"));
    let role = match info.text("role").map(str::trim) {
        Some("master") => Some("master"),
        Some("slave" | "replica") => Some("replica"),
        _ => None,
    };
    if let Some(role) = role {
        outcome = outcome.sample(SeriesKey::new("redis_role").with("role", role), 1.0);
    }
    if role == Some("replica") {
        if info.text("master_link_status").map(str::trim) == Some("down") {
            problems.push("replica's link to its master is down".to_string());
            status = status.max(Status::Critical);
        } else if let Some(lag) = info
            .number("master_last_io_seconds_ago")
            .filter(|l| *l >= 0.0)
        {
            outcome = add(outcome, "redis_replication_lag_seconds", Some(lag));
            let lag_status = grade(
                lag,
                Some(config.lag_warning.as_secs_f64()),
                Some(config.lag_critical.as_secs_f64()),
            );
            if lag_status != Status::Ok {
                problems.push(format!("replication lag {}", seconds(lag)));
            }
            status = status.max(lag_status);
        }
    }
    let mut parts = vec![format!("PONG in {}", seconds(ping_seconds))];
    parts.extend(memory_text);
    if let Some(clients) = clients {
        let plural = if clients == 1.0 { "" } else { "s" };
        parts.push(format!("{clients} client{plural}"));
    }
    if let Some(role) = role {
        parts.push(role.to_string());
    }
    if let Some(sessions) = sessions {
        outcome = add(outcome, "redis_sessions", Some(sessions.count));
        outcome = add(
            outcome,
            "redis_sessions_estimated",
            Some(if sessions.estimated { 1.0 } else { 0.0 }),
        );
        parts.push(if sessions.estimated {
            format!(
                "about {} sessions (estimated from a partial scan)",
                sessions.count
            )
        } else {
            format!("{} sessions", sessions.count)
        });
    }
    let summary = parts.join(", ");
    outcome.status = status;
    outcome.reason = if problems.is_empty() {
        summary
    } else {
        format!("{}; {summary}", problems.join("; "))
    };
    outcome
}

fn seconds(value: f64) -> String {
    if value < 1.0 {
        format!("{:.1} ms", value * 1000.0)
    } else {
        format!("{value:.2} s")
    }
}

fn bytes(value: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = value;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::secret::Secret;
    use crate::checks::redis::config::*;

    const MASTER: &str = "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:100\r\n\r\n\
        # Clients\r\nconnected_clients:3\r\nblocked_clients:1\r\n\r\n\
        # Memory\r\nused_memory:996148\r\nmaxmemory:1048576\r\nmem_fragmentation_ratio:1.52\r\n\r\n\
        # Persistence\r\nrdb_last_bgsave_status:err\r\naof_enabled:0\r\n\r\n\
        # Stats\r\ninstantaneous_ops_per_sec:42\r\nkeyspace_hits:90\r\nkeyspace_misses:10\r\n\
        evicted_keys:5\r\nexpired_keys:7\r\n\r\n\
        # Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n\
        # Keyspace\r\ndb0:keys=10,expires=0,avg_ttl=0\r\n";

    const REPLICA: &str = "# Replication\nrole:slave\nmaster_host:10.0.0.1\nmaster_link_status:up\n\
        master_last_io_seconds_ago:45\nused_memory:1000\nmaxmemory:0\nrdb_last_bgsave_status:ok\n";

    fn config() -> RedisCheck {
        RedisCheck {
            url: Secret::new("redis://127.0.0.1"),
            ping_warning: DEFAULT_PING_WARNING,
            ping_critical: DEFAULT_PING_CRITICAL,
            memory_warning: DEFAULT_MEMORY_WARNING,
            memory_critical: DEFAULT_MEMORY_CRITICAL,
            lag_warning: DEFAULT_LAG_WARNING,
            lag_critical: DEFAULT_LAG_CRITICAL,
            session_pattern: None,
            session_scan_limit: DEFAULT_SESSION_SCAN_LIMIT,
            scan_count: DEFAULT_SCAN_COUNT,
        }
    }

    fn value(outcome: &Outcome, name: &str) -> Option<f64> {
        outcome
            .samples
            .iter()
            .find(|(key, _)| key.name() == name)
            .map(|(_, v)| *v)
    }

    #[test]
    fn info_parser_reads_fields_across_sections() {
        let info = parse_info(MASTER);
        assert_eq!(info.text("redis_version"), Some("7.0.15"));
        assert_eq!(info.number("used_memory"), Some(996148.0));
        assert_eq!(info.number("mem_fragmentation_ratio"), Some(1.52));
        assert_eq!(info.text("db0"), Some("keys=10,expires=0,avg_ttl=0"));
        assert_eq!(info.hits(), Some((90, 10)));
        assert_eq!(parse_info(""), Info::default());
        assert_eq!(parse_info("garbage\n#x:y\nok:1").fields.len(), 1);
    }

    #[test]
    fn master_with_memory_pressure_and_failed_save() {
        let outcome = evaluate(&config(), 0.002, &parse_info(MASTER), None, None);
        // 996148 / 1048576 = 95 %: critical at the default 90 %.
        assert_eq!(outcome.status, Status::Critical, "{}", outcome.reason);
        assert!(
            outcome.reason.contains("memory at 95% of maxmemory"),
            "{}",
            outcome.reason
        );
        assert!(
            outcome.reason.contains("last RDB background save failed"),
            "{}",
            outcome.reason
        );
        assert_eq!(outcome.value, Some(0.002));
        assert_eq!(
            value(&outcome, "redis_memory_ratio"),
            Some(996148.0 / 1048576.0)
        );
        assert_eq!(value(&outcome, "redis_keyspace_hit_ratio"), Some(0.9));
        assert_eq!(value(&outcome, "redis_rdb_last_bgsave_ok"), Some(0.0));
        assert_eq!(value(&outcome, "redis_connected_clients"), Some(3.0));
        assert_eq!(value(&outcome, "redis_blocked_clients"), Some(1.0));
        assert_eq!(value(&outcome, "redis_ops_per_second"), Some(42.0));
        assert_eq!(value(&outcome, "redis_evicted_keys_total"), Some(5.0));
        assert_eq!(value(&outcome, "redis_expired_keys_total"), Some(7.0));
        assert_eq!(value(&outcome, "redis_aof_enabled"), Some(0.0));
        assert_eq!(value(&outcome, "redis_replication_lag_seconds"), None);
        let role = outcome.samples.iter().find(|(k, _)| k.name() == "redis_role");
        assert_eq!(role.map(|(k, _)| k.label("role")), Some(Some("master")));
    }

    #[test]
    fn replica_lag_and_no_maxmemory() {
        let outcome = evaluate(&config(), 0.001, &parse_info(REPLICA), None, None);
        assert_eq!(outcome.status, Status::Warning, "{}", outcome.reason);
        assert_eq!(value(&outcome, "redis_replication_lag_seconds"), Some(45.0));
        assert_eq!(value(&outcome, "redis_memory_ratio"), None);
        let down = REPLICA.replace("link_status:up", "link_status:down");
        let outcome = evaluate(&config(), 0.001, &parse_info(&down), None, None);
        assert_eq!(outcome.status, Status::Critical);
        assert!(outcome.reason.contains("link to its master is down"));
    }

    #[test]
    fn slow_ping_grades() {
        let info = parse_info("role:master\n");
        assert_eq!(
            evaluate(&config(), 0.01, &info, None, None).status,
            Status::Ok
        );
        assert_eq!(
            evaluate(&config(), 0.5, &info, None, None).status,
            Status::Warning
        );
        assert_eq!(
            evaluate(&config(), 1.5, &info, None, None).status,
            Status::Critical
        );
    }

    #[test]
    fn hit_ratio_uses_deltas_when_it_can() {
        for (current, previous, expected) in [
            (Some((90, 10)), None, Some(0.9)),
            (Some((100, 20)), Some((90, 10)), Some(0.5)),
            // No lookups since the last run: the cumulative ratio.
            (Some((90, 10)), Some((90, 10)), Some(0.9)),
            // Counters reset (restart): cumulative.
            (Some((3, 1)), Some((90, 10)), Some(0.75)),
            (Some((0, 0)), None, None),
            (None, None, None),
        ] {
            assert_eq!(
                hit_ratio(current, previous),
                expected,
                "{current:?} {previous:?}"
            );
        }
    }

    #[test]
    fn estimates_extrapolate_from_the_share_examined() {
        assert_eq!(
            estimate_sessions(100, 1000, 10_000),
            SessionCount {
                count: 1000.0,
                estimated: true
            }
        );
        // More examined than the database holds: the database size bounds it.
        assert_eq!(estimate_sessions(10, 5000, 20).count, 10.0);
        assert_eq!(estimate_sessions(0, 1000, 0).count, 0.0);
    }

    #[test]
    fn passwords_are_found_in_urls() {
        for (url, password) in [
            ("redis://:s3cret@h:6379/0", Some("s3cret")),
            ("redis://user:pw@h", Some("pw")),
            ("redis://pw@h", Some("pw")),
            ("redis://h:6379", None),
            ("rediss://u:@h", None),
        ] {
            assert_eq!(url_password(url).as_deref(), password, "{url}");
        }
    }
}
