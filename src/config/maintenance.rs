//! `[maintenance]`: how Lookout knows the app is in maintenance (`[maintenance.source]`: an HTTP
//! JSON endpoint, a SQL query or a Redis key, polled on its own interval), the planned windows
//! (`[[maintenance.window]]`: once, or a cron expression in a time zone), the optional control
//! calls that switch the app's own maintenance mode (`[maintenance.control]`), and what
//! maintenance does to alerts (grace, overrun tolerance, the checks it affects, who is told).
//!
//! The types first, then `read_maintenance` (read after `[[check]]` and `[[notifier]]`, whose
//! names it checks): closed `type`s for the source and the control steps, like checks, with one
//! reader per type. Every key is documented, with its default, in `maintenance_template.toml`
//! (part of `config init`).
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

use std::collections::HashSet;
use std::ops::Range;
use std::time::Duration;

use toml::de::DeValue;

use super::checks::common::{check_http_url, header_map, string_list};
use super::checks::redis::check_redis_url;
use super::checks::sql::{DSN_SCHEMES, Dialect};
use super::checks::{CheckConfig, CheckKind, Secret};
use super::notifiers::NotifierConfig;
use super::parse::{
    closed_type, duration_setting, field, not_longer, positive, settle, string_setting,
    unique_name, unknown_name,
};
use super::reader::{Field, Item, Reader, Table, join};
use super::units::format_duration;
use crate::clock::UnixMillis;

/// The commented examples of `config init`: every key of `[maintenance]`, with its default.
pub const TEMPLATE: &str = include_str!("maintenance_template.toml");

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

impl SourceKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            SourceKind::Http { .. } => "http",
            SourceKind::Sql { .. } => "sql",
            SourceKind::Redis { .. } => "redis",
        }
    }
}

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

impl From<Dialect> for SqlDriver {
    fn from(dialect: Dialect) -> SqlDriver {
        match dialect {
            Dialect::Postgres => SqlDriver::Postgres,
            Dialect::Mysql => SqlDriver::Mysql,
            Dialect::Sqlite => SqlDriver::Sqlite,
        }
    }
}

// ---- Reading `[maintenance]`. Problems go to the reader (see the wording rules at the top of
// ---- parse.rs); values with problems take their default so reading goes on.

/// `[maintenance.source]` `interval` when not set.
pub const DEFAULT_SOURCE_INTERVAL: Duration = Duration::from_secs(15);
/// `[maintenance.source]` `timeout` when not set (or the interval, when that is shorter).
pub const DEFAULT_SOURCE_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest `[[maintenance.window]]` `duration`: longer is surely a typo ("7h" meant).
pub const MAX_WINDOW_DURATION: Duration = Duration::from_secs(7 * 86_400);
pub const CONTROL_TYPES: &[&str] = &["http", "command"];
/// The methods a control step may use (`method`, default POST).
pub const CONTROL_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];
/// What `{word}` a control step's body and command may hold.
pub const PLACEHOLDERS: &[&str] = &["reason", "mode", "minutes", "until"];

/// The check types whose connection a source can borrow with `check = "<name>"`.
const SQL_CHECK_TYPES: &[&str] = &["postgres", "mysql", "sqlite"];
const REDIS_CHECK_TYPES: &[&str] = &["redis"];

const STATUS_URL_EXAMPLE: &str = "http://127.0.0.1:5000/admin/api/maintenance/status";
const LOGIN_URL_EXAMPLE: &str = "http://127.0.0.1:5000/login";
const CONTROL_URL_EXAMPLE: &str = "http://127.0.0.1:5000/admin/api/maintenance-mode/enable";
const QUERY_EXAMPLE: &str =
    "query = \"SELECT value = 'true' AS active FROM settings WHERE name = 'maintenance'\"";
const FORM_EXAMPLE: &str = "form = { username = \"admin\", password = \"${APP_PASSWORD}\" }";
const COMMAND_EXAMPLE: &str = "[\"/usr/local/bin/app\", \"maintenance\", \"on\"]";
const CRON_TYPE: &str = "a cron expression string like \"0 2 * * SUN\"";
const CRON_FORM: &str = "expected 5 fields like \"0 2 * * SUN\" \
     (minute hour day-of-month month day-of-week; MON#1 = first Monday)";
const TIME_ZONE_FORM: &str = "expected an IANA time zone name like \"Europe/Berlin\" or \"UTC\"";
const START_TYPE: &str = "a time string like \"2026-12-24T02:00:00Z\"";
const START_FORM: &str = "expected a date, a time and a UTC offset (RFC 3339), \
     like \"2026-12-24T02:00:00Z\" or \"2026-12-24T03:00:00+01:00\"";

/// `[maintenance]`, read after `[[check]]` and `[[notifier]]`, whose names it refers to.
pub(in crate::config) fn read_maintenance(
    r: &mut Reader<'_>,
    root: &Table<'_, '_>,
    checks: &[CheckConfig],
    notifiers: &[NotifierConfig],
) -> MaintenanceConfig {
    let defaults = MaintenanceConfig::default();
    let table = r.table(root, "maintenance");
    let any = |_: &Duration| None;
    let grace = duration_setting(r, &table, "grace", defaults.grace, any);
    let overrun_tolerance = duration_setting(
        r,
        &table,
        "overrun_tolerance",
        defaults.overrun_tolerance,
        any,
    );
    let check_names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    let notifier_names: Vec<&str> = notifiers.iter().map(|n| n.name.as_str()).collect();
    let affected = names(r, &table, "checks", "check", &check_names);
    let told = names(r, &table, "notifiers", "notifier", &notifier_names);
    let sessions_check = r.item(&table, "sessions_check").and_then(|item| {
        let check = named_check(r, &item, checks, REDIS_CHECK_TYPES)?;
        match &check.kind {
            CheckKind::Redis(redis) if redis.session_pattern.is_some() => Some(check.name.clone()),
            _ => {
                let message = format!(
                    "{:?} has no session_pattern, so it counts no sessions; set one in that check, \
                     like session_pattern = \"app:session:*\"",
                    check.name
                );
                r.problem(Some(&item.span), &item.path, message);
                None
            }
        }
    });
    let source_table = r.table(&table, "source");
    let source = if source_table.is_present() {
        read_source(r, &source_table, checks)
    } else {
        None
    };
    let windows = read_windows(r, &table);
    let control_table = r.table(&table, "control");
    let control = read_control(r, &control_table);
    MaintenanceConfig {
        grace: grace.value,
        overrun_tolerance: overrun_tolerance.value,
        checks: affected,
        notifiers: told,
        sessions_check,
        source,
        windows,
        control,
    }
}

/// An optional list of names, each of which must be one of `known` (the `[[noun]]` tables).
fn names(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    noun: &str,
    known: &[&str],
) -> Option<Vec<String>> {
    r.item(table, key)?;
    let mut out = Vec::new();
    for (name, span, path) in string_list(r, table, key) {
        let name = name.trim();
        if known.contains(&name) {
            out.push(name.to_string());
        } else {
            r.problem(span.as_ref(), &path, unknown_name(name, noun, known));
        }
    }
    Some(out)
}

/// The `[[check]]` named by the string `item`, which must be of one of `types`.
fn named_check<'c>(
    r: &mut Reader<'_>,
    item: &Item<'_, '_>,
    checks: &'c [CheckConfig],
    types: &[&str],
) -> Option<&'c CheckConfig> {
    let text = r.text(item, "a check name string")?;
    let name = text.value.trim();
    let Some(check) = checks.iter().find(|check| check.name == name) else {
        let known: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
        r.problem(
            Some(&item.span),
            &item.path,
            unknown_name(name, "check", &known),
        );
        return None;
    };
    let type_name = check.kind.type_name();
    if types.contains(&type_name) {
        return Some(check);
    }
    let message = format!(
        "{name:?} is a check of type {type_name:?}; expected the name of a {} check",
        or_list(types)
    );
    r.problem(Some(&item.span), &item.path, message);
    None
}

/// "postgres, mysql or sqlite".
fn or_list<S: AsRef<str>>(words: &[S]) -> String {
    let words: Vec<&str> = words.iter().map(AsRef::as_ref).collect();
    match words.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A required string with `${ENV}` substituted, and where it is written. A missing one is
/// reported at its table as `missing; {why}`.
fn required_text(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    why: &str,
) -> Option<(String, Range<usize>)> {
    match r.item(table, key) {
        Some(item) => r
            .text(&item, "a string")
            .map(|text| (text.value, item.span.clone())),
        None => {
            let message = format!("missing; {why}");
            r.problem(table.span.as_ref(), &join(&table.path, key), message);
            None
        }
    }
}

/// A required http(s) URL, kept secret: a problem says what is wrong, never the URL (it may
/// hold a token). `missing` starts the message for a missing one.
fn http_url(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    example: &str,
    missing: &str,
) -> Secret {
    let why = format!("{missing}, like {key} = {example:?}");
    let Some((url, span)) = required_text(r, table, key, &why) else {
        return Secret::default();
    };
    if let Err(why) = check_http_url(&url, example) {
        r.problem(Some(&span), &join(&table.path, key), why);
    }
    Secret::new(url.trim())
}

/// A required string that must not be blank.
fn required_nonblank(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    why: &str,
    example: &str,
) -> String {
    let Some((value, span)) = required_text(r, table, key, &format!("{why}, like {example}"))
    else {
        return String::new();
    };
    if value.trim().is_empty() {
        let message = format!("must not be empty; {why}, like {example}");
        r.problem(Some(&span), &join(&table.path, key), message);
    }
    value.trim().to_string()
}

fn read_source(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    checks: &[CheckConfig],
) -> Option<SourceConfig> {
    let source_type = closed_type(r, table, SOURCE_TYPES, "maintenance source");
    let interval = duration_setting(r, table, "interval", DEFAULT_SOURCE_INTERVAL, positive);
    let timeout = duration_setting(
        r,
        table,
        "timeout",
        DEFAULT_SOURCE_TIMEOUT.min(interval.value),
        positive,
    );
    not_longer(r, &timeout, &interval, "expected timeout <= interval");
    let (kind, fields) = match source_type.value.as_str() {
        "http" => {
            let kind = read_http_source(r, table);
            (kind, read_pointers(r, table))
        }
        "sql" => (read_sql_source(r, table, checks), FieldPointers::default()),
        "redis" => {
            let kind = read_redis_source(r, table, checks);
            (kind, read_pointers(r, table))
        }
        _ => {
            // Which keys belong depends on the type: with none known, none is unknown.
            r.accept_all_keys(table);
            return None;
        }
    };
    Some(SourceConfig {
        interval: interval.value,
        timeout: timeout.value,
        kind,
        fields,
    })
}

fn read_http_source(r: &mut Reader<'_>, table: &Table<'_, '_>) -> SourceKind {
    let url = http_url(
        r,
        table,
        "url",
        STATUS_URL_EXAMPLE,
        "an http source needs the URL of the status answer",
    );
    let headers = header_map(r, table, "headers", &[]);
    let login_table = r.table(table, "login");
    let login = login_table.is_present().then(|| LoginConfig {
        url: http_url(
            r,
            &login_table,
            "url",
            LOGIN_URL_EXAMPLE,
            "a login needs the URL its form is POSTed to",
        ),
        form: read_form(r, &login_table),
    });
    SourceKind::Http {
        url,
        headers,
        login,
    }
}

/// `form = { field = "value" }` of a login: required, not empty; values are secrets.
fn read_form(r: &mut Reader<'_>, table: &Table<'_, '_>) -> Vec<(String, Secret)> {
    let map = r.table(table, "form");
    r.accept_all_keys(&map);
    let mut form = Vec::new();
    for (name, item) in r.entries(&map) {
        if let Some(text) = r.text(&item, "a string") {
            form.push((name, Secret::new(text.value)));
        }
    }
    if map.is_present() && r.entries(&map).is_empty() {
        let message =
            format!("is empty; expected the fields of the login form, like {FORM_EXAMPLE}");
        r.problem(map.span.as_ref(), &map.path, message);
    } else if r.item(table, "form").is_none() {
        let message = format!("missing; a login needs the fields it POSTs, like {FORM_EXAMPLE}");
        r.problem(table.span.as_ref(), &map.path, message);
    }
    form
}

/// Where a sql or redis source connects.
enum Connection<'c> {
    /// Its own `dsn` or `url`, and where that is written.
    Own(String, Range<usize>),
    /// The connection of this `[[check]]`.
    Check(&'c CheckConfig),
    /// Missing, both given, or a bad check name: already reported.
    Invalid,
}

/// `own_key` (`dsn`, `url`) or `check` (the name of a `[[check]]` of one of `types`), exactly
/// one of them; `missing` is the message when neither is written.
fn connection<'c>(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    own_key: &'static str,
    checks: &'c [CheckConfig],
    types: &[&str],
    missing: &str,
) -> Connection<'c> {
    let own = r.item(table, own_key);
    let check = r.item(table, "check");
    match (own, check) {
        (Some(_), Some(check)) => {
            let message = format!(
                "cannot be combined with {own_key}; connect with a {own_key} of its own or with \
                 the one of a [[check]], not both"
            );
            r.problem(Some(&check.span), &check.path, message);
            Connection::Invalid
        }
        (None, None) => {
            let message = format!("missing; {missing}");
            r.problem(table.span.as_ref(), &join(&table.path, own_key), message);
            Connection::Invalid
        }
        (Some(own), None) => match r.text(&own, "a string") {
            Some(text) => Connection::Own(text.value.trim().to_string(), own.span.clone()),
            None => Connection::Invalid,
        },
        (None, Some(check)) => match named_check(r, &check, checks, types) {
            Some(check) => Connection::Check(check),
            None => Connection::Invalid,
        },
    }
}

fn read_sql_source(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    checks: &[CheckConfig],
) -> SourceKind {
    let example = Dialect::Mysql.example_dsn();
    let missing = format!(
        "a sql source needs dsn = {example:?}, or the name of a {} [[check]] whose DSN it uses, \
         like check = \"db\"",
        or_list(SQL_CHECK_TYPES)
    );
    let (driver, dsn) = match connection(r, table, "dsn", checks, SQL_CHECK_TYPES, &missing) {
        Connection::Own(dsn, span) => match Dialect::of_dsn(&dsn) {
            Some(dialect) => (dialect.into(), Secret::new(dsn)),
            None => {
                // The DSN may hold a password: name the problem, never quote it.
                let message = format!("must start with {DSN_SCHEMES}, like {example:?}");
                r.problem(Some(&span), &join(&table.path, "dsn"), message);
                (SqlDriver::Mysql, Secret::default())
            }
        },
        Connection::Check(check) => match &check.kind {
            CheckKind::Postgres(sql) | CheckKind::Mysql(sql) | CheckKind::Sqlite(sql) => {
                (sql.dialect.into(), sql.dsn.clone())
            }
            _ => (SqlDriver::Mysql, Secret::default()),
        },
        Connection::Invalid => (SqlDriver::Mysql, Secret::default()),
    };
    let query = required_nonblank(
        r,
        table,
        "query",
        "a sql source needs a query whose one row has an active column",
        QUERY_EXAMPLE,
    );
    SourceKind::Sql { driver, dsn, query }
}

fn read_redis_source(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    checks: &[CheckConfig],
) -> SourceKind {
    let missing = "a redis source needs url = \"redis://127.0.0.1:6379/0\", or the name of a \
                   redis [[check]] whose URL it uses, like check = \"redis\"";
    let url = match connection(r, table, "url", checks, REDIS_CHECK_TYPES, missing) {
        Connection::Own(url, span) => {
            if let Err(why) = check_redis_url(&url) {
                // The URL may hold a password: name the problem, never quote it.
                r.problem(Some(&span), &join(&table.path, "url"), why);
            }
            Secret::new(url)
        }
        Connection::Check(check) => match &check.kind {
            CheckKind::Redis(redis) => redis.url.clone(),
            _ => Secret::default(),
        },
        Connection::Invalid => Secret::default(),
    };
    let key = required_nonblank(
        r,
        table,
        "key",
        "a redis source needs the key that holds the flag or the JSON status",
        "key = \"app:maintenance\"",
    );
    SourceKind::Redis { url, key }
}

/// The JSON pointers of an http or redis source; "" turns an optional field off.
fn read_pointers(r: &mut Reader<'_>, table: &Table<'_, '_>) -> FieldPointers {
    let d = FieldPointers::default();
    let active = pointer_setting(r, table, "active", Some(d.active.clone()), &d.active, true)
        .unwrap_or(d.active);
    let optional = |r: &mut Reader<'_>, key: &'static str, default: Option<String>| {
        let example = default.clone().unwrap_or_else(|| format!("/data/{key}"));
        pointer_setting(r, table, key, default, &example, false)
    };
    let mode = optional(r, "mode", d.mode);
    let reason = optional(r, "reason", d.reason);
    let started_at = optional(r, "started_at", d.started_at);
    let estimated_end = optional(r, "estimated_end", d.estimated_end);
    let blocked_operations = optional(r, "blocked_operations", d.blocked_operations);
    let active_jobs = optional(r, "active_jobs", d.active_jobs);
    let invalidated_sessions = optional(r, "invalidated_sessions", d.invalidated_sessions);
    let blocked_requests = optional(r, "blocked_requests", d.blocked_requests);
    FieldPointers {
        active,
        mode,
        reason,
        started_at,
        estimated_end,
        blocked_operations,
        active_jobs,
        invalidated_sessions,
        blocked_requests,
    }
}

/// One JSON pointer (RFC 6901): "" (off; not allowed when `required`) or "/..." with "~"
/// only in the escapes "~0" and "~1".
fn pointer_setting(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    default: Option<String>,
    example: &str,
    required: bool,
) -> Option<String> {
    string_setting(r, table, key, default, "a JSON pointer string", |text| {
        let pointer = text.value.as_str();
        if pointer.is_empty() {
            return if required {
                Err(format!(
                    "must not be empty; the source needs it to tell whether maintenance is on, \
                     like {key} = {example:?}"
                ))
            } else {
                Ok(None)
            };
        }
        if !pointer.starts_with('/') {
            let off = if required {
                ""
            } else {
                " (or \"\" to leave the field out)"
            };
            return Err(format!(
                "{} is not a JSON pointer; it starts with /, like {example:?}{off}",
                text.quoted()
            ));
        }
        let bad_escape = pointer
            .match_indices('~')
            .any(|(at, _)| !matches!(pointer.as_bytes().get(at + 1), Some(b'0' | b'1')));
        if bad_escape {
            return Err(format!(
                "{} is not a JSON pointer; a \"~\" in a key is written \"~0\" and a \"/\" \"~1\"",
                text.quoted()
            ));
        }
        Ok(Some(pointer.to_string()))
    })
    .value
}

fn read_windows(r: &mut Reader<'_>, table: &Table<'_, '_>) -> Vec<WindowConfig> {
    let mut names = HashSet::new();
    let mut windows = Vec::new();
    for window in r.table_array(table, "window") {
        let name = unique_name(
            r,
            &window,
            &mut names,
            "maintenance window",
            "weekly-patching",
        );
        let cron = string_setting(r, &window, "cron", None, CRON_TYPE, |text| {
            check_cron(&text.value)
                .map(|()| Some(text.value.trim().to_string()))
                .map_err(|why| format!("{} {why}", text.quoted()))
        });
        let timezone = string_setting(
            r,
            &window,
            "timezone",
            None,
            "a time zone string like \"Europe/Berlin\"",
            |text| {
                let name = text.value.trim();
                match jiff::tz::TimeZone::get(name) {
                    Ok(_) if !name.is_empty() => Ok(Some(name.to_string())),
                    _ => Err(format!(
                        "{} is not a time zone; {TIME_ZONE_FORM}",
                        text.quoted()
                    )),
                }
            },
        );
        let start = start_setting(r, &window);
        let schedule = window_schedule(r, &window, cron, timezone, start);
        let duration = duration_setting(r, &window, "duration", Duration::ZERO, |duration| {
            if duration.is_zero() {
                Some("must be greater than zero".to_string())
            } else if *duration > MAX_WINDOW_DURATION {
                Some(format!(
                    "is too long; expected at most \"{}\"",
                    format_duration(MAX_WINDOW_DURATION)
                ))
            } else {
                None
            }
        });
        if duration.span.is_none() {
            r.problem(
                window.span.as_ref(),
                &duration.path,
                "missing; every maintenance window needs a duration, like duration = \"1h\"",
            );
        }
        let mode = string_setting(
            r,
            &window,
            "mode",
            Mode::Normal,
            "a mode string like \"normal\"",
            |text| {
                Mode::parse(&text.value).ok_or_else(|| {
                    format!(
                        "{} is not a maintenance mode; expected \"normal\", \"emergency\" or \"test\"",
                        text.quoted()
                    )
                })
            },
        );
        let reason = string_setting(r, &window, "reason", None, "a string", |text| {
            let reason = text.value.trim();
            if reason.is_empty() {
                Err(
                    "must not be empty; leave the key out for \"planned window <name>\""
                        .to_string(),
                )
            } else {
                Ok(Some(reason.to_string()))
            }
        });
        if let Some(schedule) = schedule {
            let reason = reason
                .value
                .unwrap_or_else(|| format!("planned window {}", name.value));
            windows.push(WindowConfig {
                name: name.value,
                schedule,
                duration: duration.value,
                mode: mode.value,
                reason,
            });
        }
    }
    windows
}

/// `cron` (with an optional `timezone`) or `start`: exactly one.
fn window_schedule(
    r: &mut Reader<'_>,
    window: &Table<'_, '_>,
    cron: Field<Option<String>>,
    timezone: Field<Option<String>>,
    start: Field<Option<UnixMillis>>,
) -> Option<WindowSchedule> {
    match (cron.span.is_some(), start.span.is_some()) {
        (true, true) => {
            r.problem(
                start.span.as_ref(),
                &start.path,
                "cannot be combined with cron; a window is either recurring (cron) or once (start)",
            );
            None
        }
        (false, false) => {
            r.problem(
                window.span.as_ref(),
                &cron.path,
                "missing; a window needs cron = \"0 2 * * SUN\" (recurring) or start = \
                 \"2026-12-24T02:00:00Z\" (once)",
            );
            None
        }
        (true, false) => Some(WindowSchedule::Cron {
            expression: cron.value?,
            timezone: timezone.value.unwrap_or_else(|| "UTC".to_string()),
        }),
        (false, true) => {
            if timezone.span.is_some() {
                r.problem(
                    timezone.span.as_ref(),
                    &timezone.path,
                    "only applies to cron; a start carries its own UTC offset, like \
                     \"2026-12-24T03:00:00+01:00\"",
                );
            }
            Some(WindowSchedule::Once {
                start_ms: start.value?,
            })
        }
    }
}

/// A cron expression of 5 fields as `croner` reads it (seconds are not allowed: a window
/// starts on a minute). The error says which field is wrong when one alone is.
pub fn check_cron(expression: &str) -> Result<(), String> {
    const FIELDS: [(&str, &str); 5] = [
        ("minute", "0-59"),
        ("hour", "0-23"),
        ("day of month", "1-31"),
        ("month", "1-12 or JAN-DEC"),
        ("day of week", "0-7 or SUN-SAT"),
    ];
    let fields: Vec<&str> = expression.split_whitespace().collect();
    if fields.len() != FIELDS.len() {
        return Err(format!("is not a cron expression; {CRON_FORM}"));
    }
    let parser = croner::parser::CronParser::new();
    if parser.parse(expression).is_ok() {
        return Ok(());
    }
    // The first field that is wrong on its own, with every other field "*".
    for (index, (name, range)) in FIELDS.iter().enumerate() {
        let mut alone = vec!["*"; FIELDS.len()];
        alone[index] = fields[index];
        if parser.parse(&alone.join(" ")).is_err() {
            return Err(format!(
                "is not a cron expression: the {name} {:?} is not valid ({range}); {CRON_FORM}",
                fields[index]
            ));
        }
    }
    Err(format!("is not a cron expression; {CRON_FORM}"))
}

/// `start`: an RFC 3339 time string. A bare TOML datetime is refused with a hint, so that
/// every time in the file is read one way.
fn start_setting(r: &mut Reader<'_>, table: &Table<'_, '_>) -> Field<Option<UnixMillis>> {
    let Some(item) = r.item(table, "start") else {
        return field(table, "start", None, None, true);
    };
    let outcome = match item.value {
        DeValue::Datetime(_) => Err(Some(format!(
            "expected {START_TYPE}, found a datetime; write it in quotes"
        ))),
        _ => match r.text(&item, START_TYPE) {
            None => Err(None),
            Some(text) => text
                .value
                .trim()
                .parse::<jiff::Timestamp>()
                .map(|at| Some(at.as_millisecond()))
                .map_err(|_| Some(format!("{} is not a time; {START_FORM}", text.quoted()))),
        },
    };
    settle(r, table, "start", None, item, outcome)
}

fn read_control(r: &mut Reader<'_>, table: &Table<'_, '_>) -> ControlConfig {
    let defaults = ControlConfig::default();
    let timeout = duration_setting(r, table, "timeout", defaults.timeout, positive);
    let start = read_steps(r, table, "start");
    let stop = read_steps(r, table, "stop");
    ControlConfig {
        start,
        stop,
        timeout: timeout.value,
    }
}

fn read_steps(r: &mut Reader<'_>, table: &Table<'_, '_>, key: &'static str) -> Vec<ControlAction> {
    let mut steps = Vec::new();
    for step in r.table_array(table, key) {
        let step_type = closed_type(r, &step, CONTROL_TYPES, "control step");
        match step_type.value.as_str() {
            "http" => steps.push(read_http_step(r, &step)),
            "command" => steps.push(read_command_step(r, &step)),
            // Which keys belong depends on the type: with none known, none is unknown.
            _ => r.accept_all_keys(&step),
        }
    }
    steps
}

fn read_http_step(r: &mut Reader<'_>, table: &Table<'_, '_>) -> ControlAction {
    let method = string_setting(r, table, "method", "POST".to_string(), "a string", |text| {
        let method = text.value.trim().to_ascii_uppercase();
        if CONTROL_METHODS.contains(&method.as_str()) {
            Ok(method)
        } else {
            let expected: Vec<String> = CONTROL_METHODS.iter().map(|m| format!("{m:?}")).collect();
            Err(format!(
                "{} is not an HTTP method for a control step; expected {}",
                text.quoted(),
                or_list(&expected)
            ))
        }
    });
    let url = http_url(
        r,
        table,
        "url",
        CONTROL_URL_EXAMPLE,
        "this control step type needs it",
    );
    let headers = header_map(r, table, "headers", &[]);
    let body = r.item(table, "body").and_then(|item| {
        let text = r.text(&item, "a string")?;
        check_placeholders(r, &item, &text.value);
        Some(text.value)
    });
    ControlAction::Http {
        method: method.value,
        url,
        headers,
        body,
    }
}

fn read_command_step(r: &mut Reader<'_>, table: &Table<'_, '_>) -> ControlAction {
    let Some(item) = r.item(table, "command") else {
        let message =
            format!("missing; this control step type needs it, like command = {COMMAND_EXAMPLE}");
        r.problem(table.span.as_ref(), &join(&table.path, "command"), message);
        return ControlAction::Command { argv: Vec::new() };
    };
    if !matches!(item.value, DeValue::Array(_)) {
        r.wrong_type(
            &item,
            "an array of strings (the program and its arguments; no shell runs it)",
        );
        return ControlAction::Command { argv: Vec::new() };
    }
    let Some(elements) = r.elements(&item, "an array of strings") else {
        return ControlAction::Command { argv: Vec::new() };
    };
    if elements.is_empty() {
        let message =
            format!("is empty; expected the program and its arguments, like {COMMAND_EXAMPLE}");
        r.problem(Some(&item.span), &item.path, message);
    }
    let mut argv = Vec::with_capacity(elements.len());
    for (index, element) in elements.iter().enumerate() {
        let Some(text) = r.text(element, "a string") else {
            continue;
        };
        if index == 0 && text.value.trim().is_empty() {
            r.problem(
                Some(&element.span),
                &element.path,
                "must not be empty; expected the program to run, like \"/usr/local/bin/app\"",
            );
        }
        check_placeholders(r, element, &text.value);
        argv.push(text.value);
    }
    ControlAction::Command { argv }
}

/// Reports every `{word}` in `text` that is not one of `PLACEHOLDERS`.
fn check_placeholders(r: &mut Reader<'_>, item: &Item<'_, '_>, text: &str) {
    for word in placeholders(text) {
        if PLACEHOLDERS.contains(&word) {
            continue;
        }
        let closest = PLACEHOLDERS
            .iter()
            .map(|known| (strsim::jaro_winkler(word, known), *known))
            .filter(|(similarity, _)| *similarity >= 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let message = match closest {
            Some((_, known)) => {
                format!("\"{{{word}}}\" is not a placeholder; did you mean {{{known}}}?")
            }
            None => {
                let expected: Vec<String> =
                    PLACEHOLDERS.iter().map(|p| format!("{{{p}}}")).collect();
                format!(
                    "\"{{{word}}}\" is not a placeholder; expected {}",
                    or_list(&expected)
                )
            }
        };
        r.problem(Some(&item.span), &item.path, message);
    }
}

/// The words of `{word}` placeholders in `text` (a letter or _ first, then letters, digits,
/// _); other braces, such as those of JSON, are text.
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let word = &rest[..end];
        let starts_well = word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
        if starts_well && rest[end..].starts_with('}') {
            words.push(word);
        }
    }
    words
}
