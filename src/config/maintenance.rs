//! `[maintenance]`: how Lookout knows the app is in maintenance (`[maintenance.source]`: an HTTP
//! JSON endpoint, a SQL query or a Redis key, polled on its own interval), the planned windows
//! (`[[maintenance.window]]`: once, or a cron expression in a time zone), the optional control
//! calls that switch the app's own maintenance mode (`[maintenance.control]`), and what
//! maintenance does to alerts (grace, overrun tolerance, the checks it affects, who is told).
//!
//! ```toml
//! [maintenance]
//! grace = "2m"
//! overrun_tolerance = "5m"
//!
//! [maintenance.source]
//! type = "http"
//! url = "http://127.0.0.1:5000/admin/api/maintenance/status"
//! headers = { Authorization = "Bearer ${APP_TOKEN}" }
//! active = "/data/is_active"
//! mode = "/data/mode"
//! reason = "/data/reason"
//!
//! [[maintenance.window]]
//! name = "weekly-patching"
//! cron = "0 2 * * SUN"
//! timezone = "Europe/Berlin"
//! duration = "1h"
//! ```

use std::time::Duration;

use super::checks::Secret;
use crate::clock::UnixMillis;

/// The whole `[maintenance]` table. The embedded default has no source, no windows and no
/// control: maintenance is then known from 503 + `X-Maintenance-Active` answers of HTTP
/// checks and from `lookout maintenance start`.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceConfig {
    /// `grace` (default 2m): affected alerts stay muted this long after maintenance ends (the
    /// app takes a moment to be itself again).
    pub grace: Duration,
    /// `overrun_tolerance` (default 5m): still in maintenance this long past the planned end
    /// raises the "maintenance overrun" warning.
    pub overrun_tolerance: Duration,
    /// `checks`: the checks whose results carry status "maintenance" while maintenance is on.
    /// `None` (not set): every application-layer check (http, prometheus) and every check that
    /// depends on one. Each name must be a `[[check]]`.
    pub checks: Option<Vec<String>>,
    /// `notifiers`: who is told that maintenance started or ended; `None`: every notifier.
    /// Each name must be a `[[notifier]]`.
    pub notifiers: Option<Vec<String>>,
    /// `sessions_check`: the Redis check (with `session_pattern`) whose `redis_sessions` is
    /// the "active sessions at start" of a period. `None`: every Redis check with a
    /// `session_pattern`, summed. Must name a `[[check]]` of type redis.
    pub sessions_check: Option<String>,
    /// `[maintenance.source]`, optional.
    pub source: Option<SourceConfig>,
    /// `[[maintenance.window]]`.
    pub windows: Vec<WindowConfig>,
    /// `[maintenance.control]`, optional.
    pub control: ControlConfig,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            grace: Duration::from_secs(120),
            overrun_tolerance: Duration::from_secs(300),
            checks: None,
            notifiers: None,
            sessions_check: None,
            source: None,
            windows: Vec::new(),
            control: ControlConfig::default(),
        }
    }
}

/// The app's maintenance modes (Vedfolnir's Enhanced Maintenance Mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Blocks new work, lets running work finish.
    Normal,
    /// Also blocks reads; invalidates sessions, terminates jobs.
    Emergency,
    /// Blocks nothing, records what it would block.
    Test,
}

pub const MODES: &[&str] = &["normal", "emergency", "test"];

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Emergency => "emergency",
            Mode::Test => "test",
        }
    }

    /// "normal", "emergency", "test" (any case, surrounding blanks ignored).
    pub fn parse(text: &str) -> Option<Mode> {
        match text.trim().to_ascii_lowercase().as_str() {
            "normal" => Some(Mode::Normal),
            "emergency" => Some(Mode::Emergency),
            "test" => Some(Mode::Test),
            _ => None,
        }
    }
}

/// `[maintenance.source]`: polled every `interval`.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    /// `interval` (default 15s).
    pub interval: Duration,
    /// `timeout` (default 5s, at most the interval).
    pub timeout: Duration,
    pub kind: SourceKind,
    /// Where the fields are in a JSON answer (http; redis when the key holds JSON).
    pub fields: FieldPointers,
}

pub const SOURCE_TYPES: &[&str] = &["http", "sql", "redis"];

#[derive(Debug, Clone, PartialEq)]
pub enum SourceKind {
    /// `type = "http"`: GET `url` with `headers` (after the `login` step when set); the
    /// answer is JSON read with `fields`.
    Http {
        url: Secret,
        headers: Vec<(String, Secret)>,
        login: Option<LoginConfig>,
    },
    /// `type = "sql"`: `query` on `dsn` (or on the DSN of the sql `[[check]]` named by
    /// `check`). One row; columns by name: `active` (required: boolean, number or text such
    /// as "true"/"1"/"on"), optional `mode`, `reason`, `started_at`, `estimated_end`,
    /// `active_jobs`, `invalidated_sessions`, `blocked_requests`.
    Sql {
        driver: SqlDriver,
        dsn: Secret,
        query: String,
    },
    /// `type = "redis"`: the value at `key` on `url` (or the URL of the redis `[[check]]`
    /// named by `check`): a flag ("true", "1", "on", "yes" mean active; a missing key means
    /// not), or a JSON document read with `fields`.
    Redis { url: Secret, key: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlDriver {
    Postgres,
    Mysql,
    Sqlite,
}

/// `[maintenance.source.login]`: for admin-only status APIs. `form` is POSTed to `url` as
/// `application/x-www-form-urlencoded`; the cookies it sets are sent with the status request.
/// Done again when the status request answers 401/403 or redirects to the login page.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginConfig {
    pub url: Secret,
    pub form: Vec<(String, Secret)>,
}

/// JSON pointers (RFC 6901) into the status answer. Defaults follow Vedfolnir's
/// `/admin/api/maintenance/status`; `""` (set to an empty string) turns a field off.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldPointers {
    /// `active` (default "/data/is_active"): a boolean (or "true"/1).
    pub active: String,
    /// `mode` (default "/data/mode"): "normal", "emergency" or "test".
    pub mode: Option<String>,
    /// `reason` (default "/data/reason").
    pub reason: Option<String>,
    /// `started_at` (default "/data/started_at"): RFC 3339.
    pub started_at: Option<String>,
    /// `estimated_end` (default "/data/estimated_completion"): RFC 3339; the planned end of a
    /// period the app started on its own.
    pub estimated_end: Option<String>,
    /// `blocked_operations` (default "/data/blocked_operations"): an array of strings.
    pub blocked_operations: Option<String>,
    /// `active_jobs` (default "/data/active_jobs_count").
    pub active_jobs: Option<String>,
    /// `invalidated_sessions` (default "/data/invalidated_sessions").
    pub invalidated_sessions: Option<String>,
    /// `blocked_requests` (default none): the app's own count of requests it refused. Without
    /// it, the 503 maintenance answers Lookout's checks saw are counted.
    pub blocked_requests: Option<String>,
}

impl Default for FieldPointers {
    fn default() -> Self {
        let some = |p: &str| Some(p.to_string());
        FieldPointers {
            active: "/data/is_active".into(),
            mode: some("/data/mode"),
            reason: some("/data/reason"),
            started_at: some("/data/started_at"),
            estimated_end: some("/data/estimated_completion"),
            blocked_operations: some("/data/blocked_operations"),
            active_jobs: some("/data/active_jobs_count"),
            invalidated_sessions: some("/data/invalidated_sessions"),
            blocked_requests: None,
        }
    }
}

/// `[[maintenance.window]]`: a planned window, once or recurring.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowConfig {
    /// `name`: unique among windows.
    pub name: String,
    pub schedule: WindowSchedule,
    /// `duration`: how long each occurrence lasts (positive, at most 7d).
    pub duration: Duration,
    /// `mode` (default "normal").
    pub mode: Mode,
    /// `reason` (default: "planned window <name>").
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WindowSchedule {
    /// `start = "2026-12-24T02:00:00Z"` (RFC 3339, with an offset or Z).
    Once { start_ms: UnixMillis },
    /// `cron = "0 2 * * SUN"` (5 fields; `#` for the n-th weekday: "0 2 * * MON#1" is the
    /// first Monday of the month) in `timezone` (IANA name, default "UTC").
    Cron {
        expression: String,
        timezone: String,
    },
}

/// `[maintenance.control]`: what `lookout maintenance start` / `stop` (and the dashboard) run
/// to switch the app's own maintenance mode, in order; the first failure stops the rest and
/// is reported (the window is then not recorded, so nothing is half-applied).
#[derive(Debug, Clone, PartialEq)]
pub struct ControlConfig {
    /// `[[maintenance.control.start]]`.
    pub start: Vec<ControlAction>,
    /// `[[maintenance.control.stop]]`.
    pub stop: Vec<ControlAction>,
    /// `timeout` (default 10s): for each action.
    pub timeout: Duration,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            start: Vec::new(),
            stop: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// One control step. Placeholders `{reason}`, `{mode}`, `{minutes}` (the planned duration in
/// whole minutes) and `{until}` (RFC 3339) are replaced: in an HTTP `body` as JSON values
/// (strings quoted and escaped), in a command's arguments as plain text.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlAction {
    /// `type = "http"`: `method` (default "POST") `url` with `headers` and `body`; any 2xx
    /// is success.
    Http {
        method: String,
        url: Secret,
        headers: Vec<(String, Secret)>,
        body: Option<String>,
    },
    /// `type = "command"`: `command = ["/usr/local/bin/app", "maintenance", "on"]`, run
    /// without a shell; exit code 0 is success.
    Command { argv: Vec<String> },
}
