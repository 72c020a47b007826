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

use super::checks::{CheckConfig, CheckKind};
use super::notifiers::NotifierConfig;
use crate::base::calendar::{CRON_TYPE, CronExpr, RFC3339_TYPE, Rfc3339Time, ZONE_TYPE, ZoneName};
use crate::base::schema::parsed_setting;
use crate::base::schema::{Field, Item, Kind, Reader, Table, join, text_kind};
use crate::base::schema::{
    closed_type, duration_setting, name_list, not_longer, or_list, positive, settle,
    string_setting, unique_name, unknown_name,
};
use crate::base::schema::{header_map, required_http_url, required_nonblank};
use crate::base::secret::Secret;
use crate::base::units::format_duration;
use crate::checks::redis::config::check_redis_url;
use crate::checks::sql::config::{DSN_SCHEMES, Dialect};
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

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(text: &str) -> Result<Mode, String> {
        Mode::parse(text).ok_or_else(|| {
            "is not a maintenance mode; expected \"normal\", \"emergency\" or \"test\"".into()
        })
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

/// `[maintenance.source]` by its `type`: each kind is its own struct with its own `read`.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceKind {
    Http(HttpSource),
    Sql(SqlSource),
    Redis(RedisSource),
}

pub const SOURCE_TYPES: &[&str] = &["http", "sql", "redis"];

impl SourceKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            SourceKind::Http(_) => "http",
            SourceKind::Sql(_) => "sql",
            SourceKind::Redis(_) => "redis",
        }
    }

    /// The source of `type_name` (one of `SOURCE_TYPES`) read by its own type; `None` for
    /// any other name (the `type` problem is already reported).
    fn read(
        type_name: &str,
        r: &mut Reader<'_>,
        table: &Table<'_, '_>,
        checks: &[CheckConfig],
    ) -> Option<SourceKind> {
        Some(match type_name {
            "http" => SourceKind::Http(HttpSource::read(r, table)),
            "sql" => SourceKind::Sql(SqlSource::read(r, table, checks)),
            "redis" => SourceKind::Redis(RedisSource::read(r, table, checks)),
            _ => return None,
        })
    }
}

/// `type = "http"`: GET `url` with `headers` (after the `login` step when set); the answer is
/// JSON read with `fields`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSource {
    pub url: Secret,
    pub headers: Vec<(String, Secret)>,
    pub login: Option<LoginConfig>,
}

/// `type = "sql"`: `query` on `dsn` (or on the DSN of the sql `[[check]]` named by `check`).
/// One row; columns by name: `active` (required: boolean, number or text such as
/// "true"/"1"/"on"), optional `mode`, `reason`, `started_at`, `estimated_end`, `active_jobs`,
/// `invalidated_sessions`, `blocked_requests`.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlSource {
    pub driver: SqlDriver,
    pub dsn: Secret,
    pub query: String,
}

/// `type = "redis"`: the value at `key` on `url` (or the URL of the redis `[[check]]` named by
/// `check`): a flag ("true", "1", "on", "yes" mean active; a missing key means not), or a JSON
/// document read with `fields`.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisSource {
    pub url: Secret,
    pub key: String,
}

/// The SQL driver of a sql source: the sql check's dialect, from the DSN's scheme.
pub use crate::checks::sql::config::Dialect as SqlDriver;

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
    Http(HttpStep),
    Command(CommandStep),
}

/// `type = "http"`: `method` (default "POST") `url` with `headers` and `body`; any 2xx is
/// success.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpStep {
    pub method: String,
    pub url: Secret,
    pub headers: Vec<(String, Secret)>,
    pub body: Option<String>,
}

/// `type = "command"`: `command = ["/usr/local/bin/app", "maintenance", "on"]`, run without a
/// shell; exit code 0 is success.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandStep {
    pub argv: Vec<String>,
}

impl ControlAction {
    /// The step of `type_name` (one of `CONTROL_TYPES`) read by its own type; `None` for any
    /// other name (the `type` problem is already reported).
    fn read(type_name: &str, r: &mut Reader<'_>, table: &Table<'_, '_>) -> Option<ControlAction> {
        Some(match type_name {
            "http" => ControlAction::Http(HttpStep::read(r, table)),
            "command" => ControlAction::Command(CommandStep::read(r, table)),
            _ => return None,
        })
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
fn sql_check_types() -> &'static [&'static str] {
    <crate::checks::sql::SqlCheck as crate::checks::CheckType>::types()
}

fn redis_check_types() -> &'static [&'static str] {
    <crate::checks::redis::RedisCheck as crate::checks::CheckType>::types()
}

const STATUS_URL_EXAMPLE: &str = "http://127.0.0.1:5000/admin/api/maintenance/status";
const LOGIN_URL_EXAMPLE: &str = "http://127.0.0.1:5000/login";
const CONTROL_URL_EXAMPLE: &str = "http://127.0.0.1:5000/admin/api/maintenance-mode/enable";
const QUERY_EXAMPLE: &str =
    "query = \"SELECT value = 'true' AS active FROM settings WHERE name = 'maintenance'\"";
const FORM_EXAMPLE: &str = "form = { username = \"admin\", password = \"${APP_PASSWORD}\" }";
const COMMAND_EXAMPLE: &str = "[\"/usr/local/bin/app\", \"maintenance\", \"on\"]";
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
    let affected = name_list(r, &table, "checks", "check", &check_names);
    let told = name_list(r, &table, "notifiers", "notifier", &notifier_names);
    let check_name = text_kind("the name of a redis [[check]] with a session_pattern");
    let sessions_check = r.item_of(&table, "sessions_check", check_name).and_then(|item| {
        let check = named_check(r, &item, checks, redis_check_types())?;
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
    let Some(kind) = SourceKind::read(&source_type.value, r, table, checks) else {
        // Which keys belong depends on the type: with none known, none is unknown.
        r.accept_all_keys(table);
        return None;
    };
    // The JSON pointers into the answer (a sql row is read by its column names).
    let fields = match kind {
        SourceKind::Sql(_) => FieldPointers::default(),
        SourceKind::Http(_) | SourceKind::Redis(_) => read_pointers(r, table),
    };
    Some(SourceConfig {
        interval: interval.value,
        timeout: timeout.value,
        kind,
        fields,
    })
}

impl HttpSource {
    fn read(r: &mut Reader<'_>, table: &Table<'_, '_>) -> HttpSource {
        let url = required_http_url(
            r,
            table,
            "url",
            STATUS_URL_EXAMPLE,
            "an http source needs the URL of the status answer",
        );
        let headers = header_map(r, table, "headers", &[]);
        let login_table = r.table(table, "login");
        let login = login_table.is_present().then(|| LoginConfig {
            url: required_http_url(
                r,
                &login_table,
                "url",
                LOGIN_URL_EXAMPLE,
                "a login needs the URL its form is POSTed to",
            ),
            form: read_form(r, &login_table),
        });
        HttpSource {
            url,
            headers,
            login,
        }
    }
}

/// `form = { field = "value" }` of a login: required, not empty; values are secrets.
fn read_form(r: &mut Reader<'_>, table: &Table<'_, '_>) -> Vec<(String, Secret)> {
    r.require(table, "form");
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
/// one of them; `missing` is the message when neither is written, `own_form` says what
/// `own_key` holds (for the schema).
fn connection<'c>(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    (own_key, own_form): (&'static str, &str),
    checks: &'c [CheckConfig],
    types: &[&str],
    missing: &str,
) -> Connection<'c> {
    let own = r.item_of(table, own_key, text_kind(own_form));
    let check = r.item_of(table, "check", text_kind("a [[check]] name"));
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

impl SqlSource {
    fn read(r: &mut Reader<'_>, table: &Table<'_, '_>, checks: &[CheckConfig]) -> SqlSource {
        let example = Dialect::Mysql.example_dsn();
        let missing = format!(
            "a sql source needs dsn = {example:?}, or the name of a {} [[check]] whose DSN it uses, \
         like check = \"db\"",
            or_list(sql_check_types())
        );
        let (driver, dsn) = match connection(
            r,
            table,
            ("dsn", "a database DSN"),
            checks,
            sql_check_types(),
            &missing,
        ) {
            Connection::Own(dsn, span) => match Dialect::of_dsn(&dsn) {
                Some(dialect) => (dialect, Secret::new(dsn)),
                None => {
                    // The DSN may hold a password: name the problem, never quote it.
                    let message = format!("must start with {DSN_SCHEMES}, like {example:?}");
                    r.problem(Some(&span), &join(&table.path, "dsn"), message);
                    (SqlDriver::Mysql, Secret::default())
                }
            },
            Connection::Check(check) => match &check.kind {
                CheckKind::Sql(sql) => (sql.dialect, sql.dsn.clone()),
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
        SqlSource { driver, dsn, query }
    }
}

impl RedisSource {
    fn read(r: &mut Reader<'_>, table: &Table<'_, '_>, checks: &[CheckConfig]) -> RedisSource {
        let missing = "a redis source needs url = \"redis://127.0.0.1:6379/0\", or the name of a \
                   redis [[check]] whose URL it uses, like check = \"redis\"";
        let url = match connection(
            r,
            table,
            ("url", "a redis:// or rediss:// URL"),
            checks,
            redis_check_types(),
            missing,
        ) {
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
        RedisSource { url, key }
    }
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
        let cron = parsed_setting::<CronExpr>(r, &window, "cron", CRON_TYPE);
        let timezone = parsed_setting::<ZoneName>(r, &window, "timezone", ZONE_TYPE);
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
        r.require(&window, "duration");
        if duration.span.is_none() {
            r.problem(
                window.span.as_ref(),
                &duration.path,
                "missing; every maintenance window needs a duration, like duration = \"1h\"",
            );
        }
        let mode = parsed_setting::<Mode>(r, &window, "mode", "a mode string like \"normal\"");
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
                mode: mode.value.unwrap_or(Mode::Normal),
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
    cron: Field<Option<CronExpr>>,
    timezone: Field<Option<ZoneName>>,
    start: Field<Option<Rfc3339Time>>,
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
            expression: cron.value?.into(),
            timezone: timezone
                .value
                .map_or_else(|| "UTC".to_string(), String::from),
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
                start_ms: start.value?.0,
            })
        }
    }
}

/// `start`: an RFC 3339 time string. A bare TOML datetime is refused with a hint, so that
/// every time in the file is read one way.
fn start_setting(r: &mut Reader<'_>, table: &Table<'_, '_>) -> Field<Option<Rfc3339Time>> {
    if let Some(item) = r.item(table, "start")
        && matches!(item.value, DeValue::Datetime(_))
    {
        let message = format!("expected {RFC3339_TYPE}, found a datetime; write it in quotes");
        return settle(r, table, "start", None, item, Err(Some(message)));
    }
    parsed_setting(r, table, "start", RFC3339_TYPE)
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
        match ControlAction::read(&step_type.value, r, &step) {
            Some(action) => steps.push(action),
            // Which keys belong depends on the type: with none known, none is unknown.
            None => r.accept_all_keys(&step),
        }
    }
    steps
}

impl HttpStep {
    fn read(r: &mut Reader<'_>, table: &Table<'_, '_>) -> HttpStep {
        let method = string_setting(r, table, "method", "POST".to_string(), "a string", |text| {
            let method = text.value.trim().to_ascii_uppercase();
            if CONTROL_METHODS.contains(&method.as_str()) {
                Ok(method)
            } else {
                let expected: Vec<String> =
                    CONTROL_METHODS.iter().map(|m| format!("{m:?}")).collect();
                Err(format!(
                    "{} is not an HTTP method for a control step; expected {}",
                    text.quoted(),
                    or_list(&expected)
                ))
            }
        });
        let url = required_http_url(
            r,
            table,
            "url",
            CONTROL_URL_EXAMPLE,
            "this control step type needs it",
        );
        let headers = header_map(r, table, "headers", &[]);
        let body_kind = text_kind("a request body ({placeholders} filled in as JSON values)");
        let body = r.item_of(table, "body", body_kind).and_then(|item| {
            let text = r.text(&item, "a string")?;
            check_placeholders(r, &item, &text.value);
            Some(text.value)
        });
        HttpStep {
            method: method.value,
            url,
            headers,
            body,
        }
    }
}

impl CommandStep {
    fn read(r: &mut Reader<'_>, table: &Table<'_, '_>) -> CommandStep {
        let none = CommandStep { argv: Vec::new() };
        r.require(table, "command");
        let form = "the program, then its arguments ({placeholders} filled in)".to_string();
        let Some(item) = r.item_of(table, "command", Kind::Texts { form }) else {
            let message = format!(
                "missing; this control step type needs it, like command = {COMMAND_EXAMPLE}"
            );
            r.problem(table.span.as_ref(), &join(&table.path, "command"), message);
            return none;
        };
        let expected = "an array of strings (the program and its arguments; no shell runs it)";
        let Some(elements) = r.elements(&item, expected) else {
            return none;
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
        CommandStep { argv }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::errors_with_env;
    use crate::config::{Config, from_str};

    /// Checks and a notifier the examples refer to. Appended after each example (TOML does
    /// not care about the order of tables) so that line numbers are those of the example.
    const PRELUDE: &str = "\
[[check]]
name = \"app\"
type = \"http\"
url = \"http://127.0.0.1:5000/health\"

[[check]]
name = \"db\"
type = \"mysql\"
dsn = \"mysql://monitor:${DB_PASSWORD}@127.0.0.1:3306/app\"

[[check]]
name = \"redis\"
type = \"redis\"
url = \"redis://:${REDIS_PASSWORD}@127.0.0.1:6379/0\"
session_pattern = \"app:session:*\"

[[check]]
name = \"cache\"
type = \"redis\"
url = \"redis://127.0.0.1:6379/1\"

[[notifier]]
name = \"ops-mail\"
type = \"webhook\"
url = \"https://hooks.example.org/lookout\"
";

    /// Every value below that comes from the environment is a secret no message may show.
    const SECRETS: &[&str] = &[
        "s3cret-token",
        "s3cret-password",
        "s3cret-db",
        "s3cret-redis",
    ];

    fn env(name: &str) -> Option<String> {
        match name {
            "APP_TOKEN" => Some("s3cret-token".into()),
            "APP_PASSWORD" => Some("s3cret-password".into()),
            "DB_PASSWORD" => Some("s3cret-db".into()),
            "REDIS_PASSWORD" => Some("s3cret-redis".into()),
            // A header value that cannot be sent: the message must say so without showing it.
            "BAD_TOKEN" => Some("Bearer s3cret-token\r\nX-Injected: 1".into()),
            _ => None,
        }
    }

    fn parse(text: &str) -> Config {
        match from_str(&format!("{text}\n{PRELUDE}"), "lookout.toml", &env) {
            Ok(config) => config,
            Err(error) => panic!("{error}\n{text}"),
        }
    }

    fn errors(text: &str) -> String {
        errors_with_env(&format!("{text}\n{PRELUDE}"), &env)
    }

    #[test]
    fn golden() {
        for (text, expected) in GOLDEN {
            let shown = errors(text);
            assert_eq!(shown, *expected, "\n{text}");
            for secret in SECRETS {
                assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
            }
        }
    }

    const GOLDEN: &[(&str, &str)] = &[
        // [maintenance]: durations, and names that must be [[check]]s and [[notifier]]s.
        (
            r#"[maintenance]
grace = "soon"
overrun_tolerance = 5
checks = ["app", "nope"]
notifiers = ["pager"]
sessions_check = "cache"
colour = true
"#,
            r#"lookout.toml:2:9: maintenance.grace: "soon" is not a duration; expected a number and a unit, like "500ms", "10s", "5m", "1h" or "7d"
lookout.toml:3:21: maintenance.overrun_tolerance: expected a duration string like "10s", found an integer
lookout.toml:4:18: maintenance.checks[1]: "nope" is not the name of any check; expected one of "app", "db", "redis", "cache"
lookout.toml:5:14: maintenance.notifiers[0]: "pager" is not the name of any notifier; expected one of "ops-mail"
lookout.toml:6:18: maintenance.sessions_check: "cache" has no session_pattern, so it counts no sessions; set one in that check, like session_pattern = "app:session:*"
lookout.toml:7:1: maintenance.colour: unknown key; expected one of "grace", "overrun_tolerance", "checks", "notifiers", "sessions_check", "source", "window", "control""#,
        ),
        (
            r#"[maintenance]
sessions_check = "db"
checks = "app"
"#,
            r#"lookout.toml:2:18: maintenance.sessions_check: "db" is a check of type "mysql"; expected the name of a redis check
lookout.toml:3:10: maintenance.checks: expected an array of strings, found a string"#,
        ),
        (
            r#"[maintenance]
sessions_check = "sessions"
"#,
            r#"lookout.toml:2:18: maintenance.sessions_check: "sessions" is not the name of any check; expected one of "app", "db", "redis", "cache""#,
        ),
        // The source: its type decides its keys; with a wrong type only the type is reported.
        (
            r#"[maintenance.source]
type = "htpp"
url = 5
"#,
            r#"lookout.toml:2:8: maintenance.source.type: "htpp" is not a maintenance source type; did you mean "http"?"#,
        ),
        (
            r#"[maintenance.source]
url = "http://127.0.0.1:5000/status"
"#,
            r#"lookout.toml:1:1: maintenance.source.type: missing; expected one of "http", "sql", "redis""#,
        ),
        (
            r#"[maintenance.source]
type = "ldap"
"#,
            r#"lookout.toml:2:8: maintenance.source.type: "ldap" is not a maintenance source type; expected one of "http", "sql", "redis""#,
        ),
        (
            r#"[maintenance.source]
type = "http"
interval = "10s"
timeout = "20s"
url = "ftp://example.org/status?token=${APP_TOKEN}"
headers = { "Bad Name" = "x", Authorization = "${BAD_TOKEN}" }
active = ""
mode = "data/mode"
reason = "/data/re~ason"
key = "app:maintenance"

[maintenance.source.login]
form = {}
"#,
            r#"lookout.toml:3:12: maintenance.source.interval: "10s" is shorter than timeout ("20s"); expected timeout <= interval
lookout.toml:5:7: maintenance.source.url: is not an http(s) URL; expected http:// or https:// and a host, like "http://127.0.0.1:5000/admin/api/maintenance/status"
lookout.toml:6:26: maintenance.source.headers."Bad Name": is not a valid HTTP header name
lookout.toml:6:47: maintenance.source.headers.Authorization: the value cannot be sent in a header (control characters or non-ASCII)
lookout.toml:7:10: maintenance.source.active: must not be empty; the source needs it to tell whether maintenance is on, like active = "/data/is_active"
lookout.toml:8:8: maintenance.source.mode: "data/mode" is not a JSON pointer; it starts with /, like "/data/mode" (or "" to leave the field out)
lookout.toml:9:10: maintenance.source.reason: "/data/re~ason" is not a JSON pointer; a "~" in a key is written "~0" and a "/" "~1"
lookout.toml:10:1: maintenance.source.key: unknown key; expected one of "type", "interval", "timeout", "url", "headers", "login", "active", "mode", "reason", "started_at", "estimated_end", "blocked_operations", "active_jobs", "invalidated_sessions", "blocked_requests"
lookout.toml:12:1: maintenance.source.login.url: missing; a login needs the URL its form is POSTed to, like url = "http://127.0.0.1:5000/login"
lookout.toml:13:8: maintenance.source.login.form: is empty; expected the fields of the login form, like form = { username = "admin", password = "${APP_PASSWORD}" }"#,
        ),
        (
            r#"[maintenance.source]
type = "http"
interval = "0s"

[maintenance.source.login]
url = "http://${APP_PASSWORD}@/login"
"#,
            r#"lookout.toml:1:1: maintenance.source.url: missing; an http source needs the URL of the status answer, like url = "http://127.0.0.1:5000/admin/api/maintenance/status"
lookout.toml:3:12: maintenance.source.interval: "0s" must be greater than zero
lookout.toml:5:1: maintenance.source.login.form: missing; a login needs the fields it POSTs, like form = { username = "admin", password = "${APP_PASSWORD}" }
lookout.toml:6:7: maintenance.source.login.url: has no host; expected http:// or https:// and a host, like "http://127.0.0.1:5000/login""#,
        ),
        (
            r#"[maintenance.source]
type = "http"
url = "https://app.example.org/status"
interval = "2s"
timeout = "3s"
active = "data"
"#,
            r#"lookout.toml:4:12: maintenance.source.interval: "2s" is shorter than timeout ("3s"); expected timeout <= interval
lookout.toml:6:10: maintenance.source.active: "data" is not a JSON pointer; it starts with /, like "/data/is_active""#,
        ),
        (
            r#"[maintenance.source]
type = "sql"
dsn = "oracle://monitor:${DB_PASSWORD}@db/app"
query = " "
active = "/x"
"#,
            r#"lookout.toml:3:7: maintenance.source.dsn: must start with postgres://, postgresql://, mysql://, mariadb:// or sqlite:, like "mysql://monitor:${MYSQL_PASSWORD}@127.0.0.1:3306/app"
lookout.toml:4:9: maintenance.source.query: must not be empty; a sql source needs a query whose one row has an active column, like query = "SELECT value = 'true' AS active FROM settings WHERE name = 'maintenance'"
lookout.toml:5:1: maintenance.source.active: unknown key; expected one of "type", "interval", "timeout", "dsn", "check", "query""#,
        ),
        (
            r#"[maintenance.source]
type = "sql"
dsn = "mysql://monitor:${DB_PASSWORD}@db/app"
check = "db"
query = "SELECT 1 AS active"
"#,
            r#"lookout.toml:4:9: maintenance.source.check: cannot be combined with dsn; connect with a dsn of its own or with the one of a [[check]], not both"#,
        ),
        (
            r#"[maintenance.source]
type = "sql"
"#,
            r#"lookout.toml:1:1: maintenance.source.dsn: missing; a sql source needs dsn = "mysql://monitor:${MYSQL_PASSWORD}@127.0.0.1:3306/app", or the name of a postgres, mysql or sqlite [[check]] whose DSN it uses, like check = "db"
lookout.toml:1:1: maintenance.source.query: missing; a sql source needs a query whose one row has an active column, like query = "SELECT value = 'true' AS active FROM settings WHERE name = 'maintenance'""#,
        ),
        (
            r#"[maintenance.source]
type = "sql"
check = "app"
query = "SELECT 1 AS active"
"#,
            r#"lookout.toml:3:9: maintenance.source.check: "app" is a check of type "http"; expected the name of a postgres, mysql or sqlite check"#,
        ),
        (
            r#"[maintenance.source]
type = "sql"
check = "nope"
query = "SELECT 1 AS active"
"#,
            r#"lookout.toml:3:9: maintenance.source.check: "nope" is not the name of any check; expected one of "app", "db", "redis", "cache""#,
        ),
        (
            r#"[maintenance.source]
type = "redis"
url = "http://:${REDIS_PASSWORD}@127.0.0.1"
key = "app:maintenance"
login = { url = "http://127.0.0.1:5000/login" }
"#,
            r#"lookout.toml:3:7: maintenance.source.url: must start with redis:// or rediss:// (TLS), like "redis://127.0.0.1:6379/0"
lookout.toml:5:1: maintenance.source.login: unknown key; expected one of "type", "interval", "timeout", "url", "check", "key", "active", "mode", "reason", "started_at", "estimated_end", "blocked_operations", "active_jobs", "invalidated_sessions", "blocked_requests""#,
        ),
        (
            r#"[maintenance.source]
type = "redis"
check = "db"
key = ""
"#,
            r#"lookout.toml:3:9: maintenance.source.check: "db" is a check of type "mysql"; expected the name of a redis check
lookout.toml:4:7: maintenance.source.key: must not be empty; a redis source needs the key that holds the flag or the JSON status, like key = "app:maintenance""#,
        ),
        (
            r#"[maintenance.source]
type = "redis"
"#,
            r#"lookout.toml:1:1: maintenance.source.url: missing; a redis source needs url = "redis://127.0.0.1:6379/0", or the name of a redis [[check]] whose URL it uses, like check = "redis"
lookout.toml:1:1: maintenance.source.key: missing; a redis source needs the key that holds the flag or the JSON status, like key = "app:maintenance""#,
        ),
        // Windows.
        (
            r#"[[maintenance.window]]
name = "patching"
cron = "0 25 * * SUN"
timezone = "Mars/Olympus"
duration = "8d"
mode = "panic"
reason = ""

[[maintenance.window]]
name = "patching"
start = 2026-12-24T02:00:00Z
timezone = "UTC"
duration = "0s"

[[maintenance.window]]
name = "upgrade"
start = "2026-12-24 02:00"
duration = "1h"

[[maintenance.window]]
name = "both"
cron = "0 2 * * *"
start = "2026-12-24T02:00:00Z"
duration = "1h"

[[maintenance.window]]
cron = "0 2 * *"
"#,
            r#"lookout.toml:3:8: maintenance.window "patching".cron: "0 25 * * SUN" is not a cron expression: the hour "25" is not valid (0-23); expected 5 fields like "0 2 * * SUN" (minute hour day-of-month month day-of-week; MON#1 = first Monday)
lookout.toml:4:12: maintenance.window "patching".timezone: "Mars/Olympus" is not a time zone; expected an IANA time zone name like "Europe/Berlin" or "UTC"
lookout.toml:5:12: maintenance.window "patching".duration: "8d" is too long; expected at most "7d"
lookout.toml:6:8: maintenance.window "patching".mode: "panic" is not a maintenance mode; expected "normal", "emergency" or "test"
lookout.toml:7:10: maintenance.window "patching".reason: must not be empty; leave the key out for "planned window <name>"
lookout.toml:10:8: maintenance.window[1].name: "patching" is already the name of another maintenance window; names must be unique
lookout.toml:11:9: maintenance.window[1].start: expected a time string like "2026-12-24T02:00:00Z", found a datetime; write it in quotes
lookout.toml:12:12: maintenance.window[1].timezone: only applies to cron; a start carries its own UTC offset, like "2026-12-24T03:00:00+01:00"
lookout.toml:13:12: maintenance.window[1].duration: "0s" must be greater than zero
lookout.toml:17:9: maintenance.window "upgrade".start: "2026-12-24 02:00" is not a time; expected a date, a time and a UTC offset (RFC 3339), like "2026-12-24T02:00:00Z" or "2026-12-24T03:00:00+01:00"
lookout.toml:23:9: maintenance.window "both".start: cannot be combined with cron; a window is either recurring (cron) or once (start)
lookout.toml:26:1: maintenance.window[4].name: missing; every maintenance window needs a name, like name = "weekly-patching"
lookout.toml:26:1: maintenance.window[4].duration: missing; every maintenance window needs a duration, like duration = "1h"
lookout.toml:27:8: maintenance.window[4].cron: "0 2 * *" is not a cron expression; expected 5 fields like "0 2 * * SUN" (minute hour day-of-month month day-of-week; MON#1 = first Monday)"#,
        ),
        (
            r#"[[maintenance.window]]
name = "w"
timezone = "UTC"
duration = "1h"
when = "sunday"
"#,
            r#"lookout.toml:1:1: maintenance.window "w".cron: missing; a window needs cron = "0 2 * * SUN" (recurring) or start = "2026-12-24T02:00:00Z" (once)
lookout.toml:5:1: maintenance.window "w".when: unknown key; expected one of "name", "cron", "timezone", "start", "duration", "mode", "reason""#,
        ),
        // Control steps.
        (
            r#"[maintenance.control]
timeout = "0s"

[[maintenance.control.start]]
type = "http"
method = "FETCH"
body = '{"reason": {reason}, "minutes": {minuts}, "who": {user}}'

[[maintenance.control.start]]
type = "shell"
run = "app maintenance on"

[[maintenance.control.stop]]
type = "command"
command = "app maintenance off"

[[maintenance.control.stop]]
type = "command"
command = []

[[maintenance.control.stop]]
type = "command"
command = ["", "--reason={reasn}"]

[[maintenance.control.stop]]
type = "command"
"#,
            r#"lookout.toml:2:11: maintenance.control.timeout: "0s" must be greater than zero
lookout.toml:4:1: maintenance.control.start[0].url: missing; this control step type needs it, like url = "http://127.0.0.1:5000/admin/api/maintenance-mode/enable"
lookout.toml:6:10: maintenance.control.start[0].method: "FETCH" is not an HTTP method for a control step; expected "GET", "POST", "PUT", "PATCH" or "DELETE"
lookout.toml:7:8: maintenance.control.start[0].body: "{minuts}" is not a placeholder; did you mean {minutes}?
lookout.toml:7:8: maintenance.control.start[0].body: "{user}" is not a placeholder; expected {reason}, {mode}, {minutes} or {until}
lookout.toml:10:8: maintenance.control.start[1].type: "shell" is not a control step type; expected one of "http", "command"
lookout.toml:15:11: maintenance.control.stop[0].command: expected an array of strings (the program and its arguments; no shell runs it), found a string
lookout.toml:19:11: maintenance.control.stop[1].command: is empty; expected the program and its arguments, like ["/usr/local/bin/app", "maintenance", "on"]
lookout.toml:23:12: maintenance.control.stop[2].command[0]: must not be empty; expected the program to run, like "/usr/local/bin/app"
lookout.toml:23:16: maintenance.control.stop[2].command[1]: "{reasn}" is not a placeholder; did you mean {reason}?
lookout.toml:25:1: maintenance.control.stop[3].command: missing; this control step type needs it, like command = ["/usr/local/bin/app", "maintenance", "on"]"#,
        ),
        (
            r#"[[maintenance.control.start]]
type = "http"
url = "https://app/enable?token=${APP_TOKEN}"
headers = { Authorization = "${BAD_TOKEN}" }
url_path = "/x"
"#,
            r#"lookout.toml:4:29: maintenance.control.start[0].headers.Authorization: the value cannot be sent in a header (control characters or non-ASCII)
lookout.toml:5:1: maintenance.control.start[0].url_path: unknown key; did you mean "url"?"#,
        ),
    ];

    const FULL: &str = r#"[maintenance]
grace = "3m"
overrun_tolerance = "0s"
checks = ["app", " db "]
notifiers = ["ops-mail"]
sessions_check = "redis"

[maintenance.source]
type = "http"
interval = "30s"
timeout = "10s"
url = " https://app.example.org/admin/api/maintenance/status "
headers = { Authorization = "Bearer ${APP_TOKEN}" }
active = "/is_active"
mode = ""
reason = "/why"
started_at = "/since"
estimated_end = ""
blocked_operations = "/blocked"
active_jobs = "/jobs/~0count"
invalidated_sessions = ""
blocked_requests = "/refused"

[maintenance.source.login]
url = "https://app.example.org/login"
form = { username = "admin", password = "${APP_PASSWORD}" }

[[maintenance.window]]
name = "weekly-patching"
cron = " 0 2 * * SUN "
timezone = "Europe/Berlin"
duration = "1h"

[[maintenance.window]]
name = "christmas"
start = "2026-12-24T03:00:00+01:00"
duration = "7d"
mode = "Emergency"
reason = "database upgrade"

[maintenance.control]
timeout = "20s"

[[maintenance.control.start]]
type = "http"
method = "put"
url = "https://app.example.org/admin/api/maintenance-mode/enable"
headers = { Authorization = "Bearer ${APP_TOKEN}" }
body = '{"reason": {reason}, "duration": {minutes}, "mode": {mode}, "until": {until}}'

[[maintenance.control.start]]
type = "command"
command = ["/usr/local/bin/app", "maintenance", "on", "--reason={reason}"]

[[maintenance.control.stop]]
type = "http"
url = "https://app.example.org/admin/api/maintenance-mode/disable"
"#;

    #[test]
    fn a_full_example_is_read_into_every_field() {
        let secret = Secret::new;
        let expected = MaintenanceConfig {
            grace: Duration::from_secs(180),
            overrun_tolerance: Duration::ZERO,
            checks: Some(vec!["app".into(), "db".into()]),
            notifiers: Some(vec!["ops-mail".into()]),
            sessions_check: Some("redis".into()),
            source: Some(SourceConfig {
                interval: Duration::from_secs(30),
                timeout: Duration::from_secs(10),
                kind: SourceKind::Http(HttpSource {
                    url: secret("https://app.example.org/admin/api/maintenance/status"),
                    headers: vec![("Authorization".into(), secret("Bearer s3cret-token"))],
                    login: Some(LoginConfig {
                        url: secret("https://app.example.org/login"),
                        // In key order, as the entries of every TOML table are read.
                        form: vec![
                            ("password".into(), secret("s3cret-password")),
                            ("username".into(), secret("admin")),
                        ],
                    }),
                }),
                fields: FieldPointers {
                    active: "/is_active".into(),
                    mode: None,
                    reason: Some("/why".into()),
                    started_at: Some("/since".into()),
                    estimated_end: None,
                    blocked_operations: Some("/blocked".into()),
                    active_jobs: Some("/jobs/~0count".into()),
                    invalidated_sessions: None,
                    blocked_requests: Some("/refused".into()),
                },
            }),
            windows: vec![
                WindowConfig {
                    name: "weekly-patching".into(),
                    schedule: WindowSchedule::Cron {
                        expression: "0 2 * * SUN".into(),
                        timezone: "Europe/Berlin".into(),
                    },
                    duration: Duration::from_secs(3600),
                    mode: Mode::Normal,
                    reason: "planned window weekly-patching".into(),
                },
                WindowConfig {
                    name: "christmas".into(),
                    // 2026-12-24T02:00:00Z
                    schedule: WindowSchedule::Once {
                        start_ms: 1_798_077_600_000,
                    },
                    duration: MAX_WINDOW_DURATION,
                    mode: Mode::Emergency,
                    reason: "database upgrade".into(),
                },
            ],
            control: ControlConfig {
                start: vec![
                    ControlAction::Http(HttpStep {
                        method: "PUT".into(),
                        url: secret("https://app.example.org/admin/api/maintenance-mode/enable"),
                        headers: vec![("Authorization".into(), secret("Bearer s3cret-token"))],
                        body: Some(
                            r#"{"reason": {reason}, "duration": {minutes}, "mode": {mode}, "until": {until}}"#
                                .into(),
                        ),
                    }),
                    ControlAction::Command(CommandStep {
                        argv: ["/usr/local/bin/app", "maintenance", "on", "--reason={reason}"]
                            .map(String::from)
                            .to_vec(),
                    }),
                ],
                stop: vec![ControlAction::Http(HttpStep {
                    method: "POST".into(),
                    url: secret("https://app.example.org/admin/api/maintenance-mode/disable"),
                    headers: Vec::new(),
                    body: None,
                })],
                timeout: Duration::from_secs(20),
            },
        };
        let config = parse(FULL);
        assert_eq!(config.maintenance, expected);
        // Secrets print as ***.
        let printed = format!("{:?}", config.maintenance);
        for secret in SECRETS {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
    }

    #[test]
    fn defaults_apply_to_what_is_not_written() {
        assert_eq!(parse("").maintenance, MaintenanceConfig::default());
        let config = parse(
            "[maintenance.source]\ntype = \"http\"\nurl = \"http://127.0.0.1:5000/status\"\n\
             [[maintenance.window]]\nname = \"w\"\ncron = \"0 2 * * MON#1\"\nduration = \"30m\"\n",
        );
        let maintenance = config.maintenance;
        let source = maintenance.source.unwrap_or_else(|| panic!("no source"));
        assert_eq!(
            (source.interval, source.timeout),
            (DEFAULT_SOURCE_INTERVAL, DEFAULT_SOURCE_TIMEOUT)
        );
        assert_eq!(source.fields, FieldPointers::default());
        assert!(
            matches!(source.kind, SourceKind::Http(HttpSource { login: None, ref headers, .. }) if headers.is_empty())
        );
        assert_eq!(
            maintenance.windows[0].schedule,
            WindowSchedule::Cron {
                expression: "0 2 * * MON#1".into(),
                timezone: "UTC".into()
            }
        );
        assert_eq!(maintenance.windows[0].mode, Mode::Normal);
        assert_eq!(maintenance.windows[0].reason, "planned window w");
        assert_eq!(maintenance.control, ControlConfig::default());
        assert_eq!((maintenance.checks, maintenance.notifiers), (None, None));
        // A short interval lowers the default timeout with it.
        let config = parse(
            "[maintenance.source]\ntype = \"redis\"\ncheck = \"redis\"\nkey = \"m\"\ninterval = \"2s\"\n",
        );
        let source = config
            .maintenance
            .source
            .unwrap_or_else(|| panic!("no source"));
        assert_eq!(source.timeout, Duration::from_secs(2));
    }

    /// sql and redis sources: their own DSN or URL (the driver by the scheme), or the one of
    /// the `[[check]]` they name.
    #[test]
    fn sql_and_redis_sources_connect_by_url_or_by_check() {
        let query = "query = \"SELECT 1 AS active\"";
        for (lines, expected) in [
            (
                format!("type = \"sql\"\ndsn = \"postgresql://m:${{DB_PASSWORD}}@db/app\"\n{query}"),
                SourceKind::Sql(SqlSource {
                    driver: SqlDriver::Postgres,
                    dsn: Secret::new("postgresql://m:s3cret-db@db/app"),
                    query: "SELECT 1 AS active".into(),
                }),
            ),
            (
                format!("type = \"sql\"\ndsn = \"MariaDB://db/app\"\n{query}"),
                SourceKind::Sql(SqlSource {
                    driver: SqlDriver::Mysql,
                    dsn: Secret::new("MariaDB://db/app"),
                    query: "SELECT 1 AS active".into(),
                }),
            ),
            (
                format!("type = \"sql\"\ndsn = \"sqlite:///var/lib/app/app.db\"\n{query}"),
                SourceKind::Sql(SqlSource {
                    driver: SqlDriver::Sqlite,
                    dsn: Secret::new("sqlite:///var/lib/app/app.db"),
                    query: "SELECT 1 AS active".into(),
                }),
            ),
            (
                format!("type = \"sql\"\ncheck = \"db\"\n{query}"),
                SourceKind::Sql(SqlSource {
                    driver: SqlDriver::Mysql,
                    dsn: Secret::new("mysql://monitor:s3cret-db@127.0.0.1:3306/app"),
                    query: "SELECT 1 AS active".into(),
                }),
            ),
            (
                "type = \"redis\"\nurl = \"rediss://:${REDIS_PASSWORD}@cache:6380/2\"\nkey = \"app:maintenance\""
                    .to_string(),
                SourceKind::Redis(RedisSource {
                    url: Secret::new("rediss://:s3cret-redis@cache:6380/2"),
                    key: "app:maintenance".into(),
                }),
            ),
            (
                "type = \"redis\"\ncheck = \"cache\"\nkey = \" app:maintenance \"".to_string(),
                SourceKind::Redis(RedisSource {
                    url: Secret::new("redis://127.0.0.1:6379/1"),
                    key: "app:maintenance".into(),
                }),
            ),
        ] {
            let config = parse(&format!("[maintenance.source]\n{lines}\n"));
            let source = config.maintenance.source.unwrap_or_else(|| panic!("{lines}"));
            assert_eq!(source.kind, expected, "{lines}");
        }
    }

    /// Regression guard for the Secrets rule: a value from `${ENV}` that is wrong (a header
    /// that cannot be sent, a DSN or URL of the wrong kind) is named, never shown.
    #[test]
    fn secrets_are_never_in_messages() {
        for (text, problem) in [
            (
                "[maintenance.source]\ntype = \"http\"\nurl = \"http://127.0.0.1/status\"\n\
                 headers = { Authorization = \"${BAD_TOKEN}\" }\n",
                "headers.Authorization: the value cannot be sent in a header",
            ),
            (
                "[maintenance.source]\ntype = \"http\"\nurl = \"s3cret-token://${APP_TOKEN}\"\n",
                "url: is not an http(s) URL",
            ),
            (
                "[maintenance.source]\ntype = \"sql\"\ndsn = \"${DB_PASSWORD}\"\nquery = \"SELECT 1 AS active\"\n",
                "dsn: must start with postgres://",
            ),
            (
                "[maintenance.source]\ntype = \"redis\"\nurl = \"${REDIS_PASSWORD}@cache\"\nkey = \"k\"\n",
                "url: must start with redis://",
            ),
            (
                "[[maintenance.control.stop]]\ntype = \"http\"\nurl = \"http://h/x\"\n\
                 headers = { \"X-Token\" = \"${BAD_TOKEN}\" }\n",
                "headers.X-Token: the value cannot be sent in a header",
            ),
        ] {
            let shown = errors(text);
            assert!(shown.contains(problem), "{problem:?} not in:\n{shown}");
            for secret in SECRETS {
                assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
            }
        }
    }

    #[test]
    fn placeholders_are_words_in_braces() {
        assert_eq!(
            placeholders(r#"{"reason": {reason}, "x": {a_1}, "n": {1}, "e": {}, "t": {{mode}}"#),
            vec!["reason", "a_1", "mode"]
        );
        assert_eq!(placeholders("{until"), Vec::<&str>::new());
    }

    // ---- The template of `config init`.

    /// The template's example blocks uncommented, as whole documents: every block but the
    /// sources with one source block (the login goes with the source above it), once per
    /// source block; a "# or: key = value" line makes one more document with that line in place
    /// of the key line above it.
    fn template_documents() -> Vec<String> {
        let mut common: Vec<String> = Vec::new();
        let mut sources: Vec<Vec<String>> = Vec::new();
        let mut block: Option<Vec<String>> = None;
        let mut finish = |block: Vec<String>, common: &mut Vec<String>| {
            let header = block.first().cloned().unwrap_or_default();
            if header == "[maintenance.source]" {
                sources.push(block);
            } else if header.starts_with("[maintenance.source.") {
                let Some(last) = sources.last_mut() else {
                    panic!("{header} comes before any [maintenance.source]")
                };
                last.extend(block);
            } else {
                common.extend(block);
            }
        };
        for line in TEMPLATE.lines() {
            if line.trim_end() == "#" {
                if let Some(done) = block.take() {
                    finish(done, &mut common);
                }
            } else if line.starts_with("# [") {
                block = Some(Vec::new());
            }
            if let Some(block) = block.as_mut() {
                block.push(line.strip_prefix("# ").unwrap_or(line).to_string());
            }
        }
        if let Some(done) = block.take() {
            finish(done, &mut common);
        }
        let mut documents = Vec::new();
        for source in &sources {
            let mut variants = vec![source.clone()];
            for (at, line) in source.iter().enumerate() {
                if let Some(alternative) = line.strip_prefix("# or: ") {
                    let mut variant = source.clone();
                    variant[at - 1] = alternative.to_string();
                    variants.push(variant);
                }
            }
            for variant in variants {
                documents.push(format!(
                    "{}\n{}\n{PRELUDE}",
                    common.join("\n"),
                    variant.join("\n")
                ));
            }
        }
        documents
    }

    #[test]
    fn every_template_example_uncommented_is_valid() {
        let env = |_: &str| Some("x".to_string());
        let documents = template_documents();
        assert_eq!(
            documents.len(),
            5,
            "http, sql (check, dsn), redis (url, check)"
        );
        let mut types = Vec::new();
        for text in &documents {
            let config = match from_str(text, "uncommented", &env) {
                Ok(config) => config,
                Err(error) => panic!("the maintenance examples do not parse:\n{error}\n{text}"),
            };
            let maintenance = config.maintenance;
            let source = maintenance
                .source
                .unwrap_or_else(|| panic!("no source:\n{text}"));
            types.push(source.kind.type_name());
            // The other examples took effect too.
            assert_eq!(maintenance.windows.len(), 2);
            assert!(matches!(
                maintenance.windows[1].schedule,
                WindowSchedule::Once { .. }
            ));
            assert_eq!(
                (
                    maintenance.control.start.len(),
                    maintenance.control.stop.len()
                ),
                (1, 1)
            );
            assert!(maintenance.checks.is_some() && maintenance.sessions_check.is_some());
            if let SourceKind::Http(HttpSource { login, headers, .. }) = &source.kind {
                assert!(login.is_some() && headers.len() == 1);
                assert_eq!(
                    source.fields.blocked_requests.as_deref(),
                    Some("/data/blocked_requests")
                );
            }
        }
        assert_eq!(types, ["http", "sql", "sql", "redis", "redis"]);
    }
}
