//! Reading the app's own maintenance state (`[maintenance.source]`): an HTTP JSON endpoint
//! (with headers, or a login step for admin-only APIs), a SQL query on its database, or a Redis
//! key. Every answer becomes one JSON document read with the configured pointers (a SQL row is
//! an object of its columns), so the three kinds share one reading of the fields. A source that
//! cannot be read is an error in plain words without secrets, never a crash or a stall (each
//! read is bounded by the source's timeout).

use std::str::FromStr;
use std::time::Duration;

use serde_json::{Map, Value};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlRow};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{AssertSqlSafe, Column, ConnectOptions, Connection, Row};
use tokio::time::Instant;

use super::Mode;
use super::tracker::Reading;
use crate::base::net::Response;
use crate::base::net::{self, TlsClient, TlsSettings};
use crate::base::secret::{Redactor, Secret, mask_url};
use crate::clock::UnixMillis;
use crate::config::maintenance::{
    FieldPointers, HttpSource, LoginConfig, RedisSource, SourceConfig, SourceKind, SqlDriver,
    SqlSource,
};

/// One configured source and what it keeps between polls (the login cookies).
pub struct Source {
    config: SourceConfig,
    cookies: Option<String>,
    tls: TlsClient,
}

impl Source {
    pub fn new(config: SourceConfig) -> Source {
        Source {
            config,
            cookies: None,
            tls: TlsClient::new(TlsSettings::default(), Some(b"http/1.1")),
        }
    }

    pub fn interval(&self) -> Duration {
        self.config.interval
    }

    /// Where it reads from, safe to show ("http http://127.0.0.1:5000/admin/api/...").
    pub fn describe(&self) -> String {
        match &self.config.kind {
            SourceKind::Http(HttpSource { url, .. }) => format!("http {}", mask_url(url.expose())),
            SourceKind::Sql(SqlSource { dsn, .. }) => format!("sql {}", mask_url(dsn.expose())),
            SourceKind::Redis(RedisSource { url, key }) => {
                format!("redis {} key {key}", mask_url(url.expose()))
            }
        }
    }

    /// Reads the state once, within the source's timeout.
    pub async fn read(&mut self) -> Result<Reading, String> {
        let timeout = self.config.timeout;
        let document = match tokio::time::timeout(timeout, self.document()).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(format!(
                    "{}: no answer within {}",
                    self.describe(),
                    humantime::format_duration(timeout)
                ));
            }
        };
        let pointers = match &self.config.kind {
            SourceKind::Sql(SqlSource { .. }) => column_pointers(),
            _ => self.config.fields.clone(),
        };
        reading(&document, &pointers).map_err(|why| format!("{}: {why}", self.describe()))
    }

    async fn document(&mut self) -> Result<Value, String> {
        let kind = self.config.kind.clone();
        match kind {
            SourceKind::Http(HttpSource {
                url,
                headers,
                login,
            }) => self.http(&url, &headers, login.as_ref()).await,
            SourceKind::Sql(SqlSource { driver, dsn, query }) => {
                sql_row(driver, &dsn, &query, self.config.timeout).await
            }
            SourceKind::Redis(RedisSource { url, key }) => {
                redis_value(&url, &key, self.config.timeout).await
            }
        }
    }

    async fn http(
        &mut self,
        url: &Secret,
        headers: &[(String, Secret)],
        login: Option<&LoginConfig>,
    ) -> Result<Value, String> {
        let shown = mask_url(url.expose());
        if let Some(login) = login
            && self.cookies.is_none()
        {
            self.cookies = Some(self.login(login).await?);
        }
        let mut response = self.get(url, headers).await?;
        let refused = matches!(response.status, 401 | 403) || (300..400).contains(&response.status);
        if let Some(login) = login
            && refused
        {
            // The session expired: log in again, once.
            self.cookies = Some(self.login(login).await?);
            response = self.get(url, headers).await?;
        }
        if !(200..300).contains(&response.status) {
            return Err(format!("{shown} answered HTTP {}", response.status));
        }
        serde_json::from_slice(&response.body)
            .map_err(|error| format!("{shown} did not answer JSON ({error})"))
    }

    async fn get(
        &mut self,
        url: &Secret,
        headers: &[(String, Secret)],
    ) -> Result<Response, String> {
        let mut headers = headers.to_vec();
        headers.push(("Accept".into(), Secret::new("application/json")));
        if let Some(cookies) = &self.cookies {
            headers.push(("Cookie".into(), Secret::new(cookies.clone())));
        }
        self.fetch(url, "GET", headers, None).await
    }

    /// Posts the login form; returns the cookies it set, as a `Cookie` header value.
    async fn login(&mut self, login: &LoginConfig) -> Result<String, String> {
        let form = login
            .form
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v.expose())))
            .collect::<Vec<_>>()
            .join("&");
        let headers = vec![(
            "Content-Type".to_string(),
            Secret::new("application/x-www-form-urlencoded"),
        )];
        let response = self.fetch(&login.url, "POST", headers, Some(form)).await?;
        let shown = mask_url(login.url.expose());
        if response.status >= 400 {
            return Err(format!("login at {shown} failed: HTTP {}", response.status));
        }
        let cookies: Vec<String> = response
            .headers
            .get_all(hyper::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .map(|pair| pair.trim().to_string())
            .filter(|pair| pair.contains('='))
            .collect();
        if cookies.is_empty() {
            return Err(format!(
                "login at {shown} set no session cookie (HTTP {}); check the form fields",
                response.status
            ));
        }
        Ok(cookies.join("; "))
    }

    async fn fetch(
        &mut self,
        url: &Secret,
        method: &str,
        headers: Vec<(String, Secret)>,
        body: Option<String>,
    ) -> Result<Response, String> {
        let request = net::Request {
            url: url.expose().to_string(),
            method: method.to_string(),
            headers,
            body,
            follow_redirects: 0,
            max_body: 1 << 20,
        };
        let timeout = self.config.timeout;
        net::fetch(&request, &mut self.tls, Instant::now() + timeout, timeout)
            .await
            .map_err(|error| format!("{}: {error}", mask_url(url.expose())))
    }
}

fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A SQL source's row is read by column name.
fn column_pointers() -> FieldPointers {
    let some = |p: &str| Some(p.to_string());
    FieldPointers {
        active: "/active".into(),
        mode: some("/mode"),
        reason: some("/reason"),
        started_at: some("/started_at"),
        estimated_end: some("/estimated_end"),
        blocked_operations: some("/blocked_operations"),
        active_jobs: some("/active_jobs"),
        invalidated_sessions: some("/invalidated_sessions"),
        blocked_requests: some("/blocked_requests"),
    }
}

/// The fields of a status document. Only `active` is required; a field that is missing or
/// null is not known; one of the wrong form is an error naming it.
pub fn reading(document: &Value, pointers: &FieldPointers) -> Result<Reading, String> {
    let at = |pointer: &Option<String>| {
        pointer
            .as_deref()
            .filter(|p| !p.is_empty())
            .and_then(|p| document.pointer(p))
            .filter(|v| !v.is_null())
    };
    let active = match document.pointer(&pointers.active) {
        None | Some(Value::Null) => {
            return Err(format!(
                "no value at {:?} (the `active` pointer) in the answer",
                pointers.active
            ));
        }
        Some(value) => flag(value).ok_or_else(|| {
            format!(
                "{} at {:?} is not a boolean; expected true/false, 1/0 or \"true\"/\"false\"",
                short(value),
                pointers.active
            )
        })?,
    };
    let text = |pointer: &Option<String>| {
        at(pointer).map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        })
    };
    let mode = match at(&pointers.mode) {
        None => None,
        Some(value) => Some(value.as_str().and_then(Mode::parse).ok_or_else(|| {
            format!(
                "{} at {:?} is not a mode; expected \"normal\", \"emergency\" or \"test\"",
                short(value),
                pointers.mode.as_deref().unwrap_or_default()
            )
        })?),
    };
    let time = |pointer: &Option<String>| -> Result<Option<UnixMillis>, String> {
        match at(pointer) {
            None => Ok(None),
            Some(value) => parse_time(value).map(Some).ok_or_else(|| {
                format!(
                    "{} at {:?} is not a time; expected RFC 3339 like \"2026-12-01T02:00:00Z\"",
                    short(value),
                    pointer.as_deref().unwrap_or_default()
                )
            }),
        }
    };
    let count = |pointer: &Option<String>| -> Result<Option<u64>, String> {
        match at(pointer) {
            None => Ok(None),
            Some(value) => number(value).map(Some).ok_or_else(|| {
                format!(
                    "{} at {:?} is not a count; expected a whole number",
                    short(value),
                    pointer.as_deref().unwrap_or_default()
                )
            }),
        }
    };
    let blocked_operations = match at(&pointers.blocked_operations) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(list)) => list
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        _ => Vec::new(),
    };
    Ok(Reading {
        active,
        mode,
        reason: text(&pointers.reason).filter(|r| !r.trim().is_empty()),
        started_at_ms: time(&pointers.started_at)?,
        estimated_end_ms: time(&pointers.estimated_end)?,
        blocked_operations,
        active_jobs: count(&pointers.active_jobs)?,
        invalidated_sessions: count(&pointers.invalidated_sessions)?,
        blocked_requests: count(&pointers.blocked_requests)?,
    })
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        format!("{}...", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// true/false, 1/0, "true"/"1"/"on"/"yes" and their opposites.
pub fn flag(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|n| n != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "on" | "yes" | "active" | "enabled" => Some(true),
            "false" | "0" | "off" | "no" | "inactive" | "disabled" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// RFC 3339 (with an offset), or a naive ISO time taken as UTC (Flask's `isoformat()`).
fn parse_time(value: &Value) -> Option<UnixMillis> {
    let text = value.as_str()?.trim();
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Some(ts.as_millisecond());
    }
    let civil = text.parse::<jiff::civil::DateTime>().ok()?;
    Some(
        civil
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp()
            .as_millisecond(),
    )
}

/// The value at `key`: a JSON document as it is, a flag as `{"active": flag}` (the default
/// pointers then find nothing but `active` when set to "/active"). A missing key is "not in
/// maintenance".
async fn redis_value(url: &Secret, key: &str, timeout: Duration) -> Result<Value, String> {
    let shown = mask_url(url.expose());
    let scrub = |error: redis::RedisError| {
        let text = error.to_string().replace('\n', " ");
        format!("redis {shown}: {}", text.replace(url.expose(), &shown))
    };
    let client = redis::Client::open(url.expose()).map_err(scrub)?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let mut connection = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(scrub)?;
    let value: Option<String> = redis::cmd("GET")
        .arg(key)
        .query_async(&mut connection)
        .await
        .map_err(scrub)?;
    Ok(match value {
        None => flag_document(false),
        Some(text) => match serde_json::from_str::<Value>(&text) {
            Ok(document @ Value::Object(_)) => document,
            _ => flag_document(flag(&Value::String(text.clone())).ok_or_else(|| {
                format!(
                    "redis key {key} holds {:?}, neither a JSON object nor a flag like \"true\"/\"1\"",
                    text.chars().take(40).collect::<String>()
                )
            })?),
        },
    })
}

/// A bare flag, shaped so that the default pointers and "/active" both find it.
fn flag_document(active: bool) -> Value {
    serde_json::json!({ "active": active, "is_active": active, "data": { "is_active": active } })
}

/// The first row of `query`, as an object of its columns; no row is "not in maintenance".
async fn sql_row(
    driver: SqlDriver,
    dsn: &Secret,
    query: &str,
    _timeout: Duration,
) -> Result<Value, String> {
    let redactor = Redactor::new(dsn.expose());
    let failed = |error: sqlx::Error| {
        format!(
            "sql {}: {}",
            redactor.masked_dsn,
            redactor.clean(&error.to_string().replace('\n', " "))
        )
    };
    let sql = AssertSqlSafe(query.to_string());
    let columns = match driver {
        SqlDriver::Postgres => {
            let options = PgConnectOptions::from_str(dsn.expose())
                .map_err(failed)?
                .application_name("lookout");
            let mut conn = PgConnection::connect_with(&options).await.map_err(failed)?;
            let row = sqlx::query(sql)
                .fetch_optional(&mut conn)
                .await
                .map_err(failed);
            let _ = conn.close().await;
            row?.map(|row| pg_columns(&row))
        }
        SqlDriver::Mysql => {
            let options = MySqlConnectOptions::from_str(dsn.expose()).map_err(failed)?;
            let mut conn = MySqlConnection::connect_with(&options)
                .await
                .map_err(failed)?;
            let row = sqlx::query(sql)
                .fetch_optional(&mut conn)
                .await
                .map_err(failed);
            let _ = conn.close().await;
            row?.map(|row| mysql_columns(&row))
        }
        SqlDriver::Sqlite => {
            let options = SqliteConnectOptions::from_str(dsn.expose())
                .map_err(failed)?
                .read_only(true)
                .create_if_missing(false);
            let mut conn = options.connect().await.map_err(failed)?;
            let row = sqlx::query(sql)
                .fetch_optional(&mut conn)
                .await
                .map_err(failed);
            let _ = conn.close().await;
            row?.map(|row| sqlite_columns(&row))
        }
    };
    Ok(columns.unwrap_or_else(|| flag_document(false)))
}

/// Each column of a row as JSON: the first type that decodes wins.
macro_rules! columns_of {
    ($name:ident, $row:ty) => {
        fn $name(row: &$row) -> Value {
            let mut object = Map::new();
            for (index, column) in row.columns().iter().enumerate() {
                let value = if let Ok(v) = row.try_get::<Option<bool>, _>(index) {
                    v.map(Value::Bool)
                } else if let Ok(v) = row.try_get::<Option<i64>, _>(index) {
                    v.map(Value::from)
                } else if let Ok(v) = row.try_get::<Option<f64>, _>(index) {
                    v.map(Value::from)
                } else if let Ok(v) = row.try_get::<Option<String>, _>(index) {
                    v.map(Value::String)
                } else {
                    None
                };
                object.insert(
                    column.name().to_ascii_lowercase(),
                    value.unwrap_or(Value::Null),
                );
            }
            Value::Object(object)
        }
    };
}
columns_of!(pg_columns, PgRow);
columns_of!(mysql_columns, MySqlRow);
columns_of!(sqlite_columns, SqliteRow);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vedfolnir(active: bool) -> Value {
        json!({"success": true, "data": {
            "is_active": active, "mode": "emergency", "reason": "DB migration",
            "estimated_duration": 30, "started_at": "2026-12-01T02:00:00",
            "estimated_completion": "2026-12-01T02:30:00+00:00",
            "blocked_operations": ["caption_generation", "job_creation"],
            "active_jobs_count": 4, "invalidated_sessions": 17, "test_mode": false
        }})
    }

    #[test]
    fn reads_vedfolnirs_status_answer_with_the_default_pointers() {
        let r = reading(&vedfolnir(true), &FieldPointers::default()).unwrap();
        assert!(r.active);
        assert_eq!(r.mode, Some(Mode::Emergency));
        assert_eq!(r.reason.as_deref(), Some("DB migration"));
        let at = |t: &str| t.parse::<jiff::Timestamp>().unwrap().as_millisecond();
        assert_eq!(
            r.started_at_ms,
            Some(at("2026-12-01T02:00:00Z")),
            "naive is UTC"
        );
        assert_eq!(r.estimated_end_ms, Some(at("2026-12-01T02:30:00Z")));
        assert_eq!(r.blocked_operations, ["caption_generation", "job_creation"]);
        assert_eq!((r.active_jobs, r.invalidated_sessions), (Some(4), Some(17)));
        assert_eq!(r.blocked_requests, None);
    }

    #[test]
    fn bad_answers_name_the_field_and_the_expected_form() {
        let p = FieldPointers::default();
        assert_eq!(
            reading(&json!({"data": {}}), &p).unwrap_err(),
            "no value at \"/data/is_active\" (the `active` pointer) in the answer"
        );
        assert_eq!(
            reading(&json!({"data": {"is_active": "maybe"}}), &p).unwrap_err(),
            "\"maybe\" at \"/data/is_active\" is not a boolean; expected true/false, 1/0 or \"true\"/\"false\""
        );
        assert_eq!(
            reading(&json!({"data": {"is_active": true, "mode": "panic"}}), &p).unwrap_err(),
            "\"panic\" at \"/data/mode\" is not a mode; expected \"normal\", \"emergency\" or \"test\""
        );
        assert_eq!(
            reading(
                &json!({"data": {"is_active": true, "active_jobs_count": "many"}}),
                &p
            )
            .unwrap_err(),
            "\"many\" at \"/data/active_jobs_count\" is not a count; expected a whole number"
        );
    }

    #[test]
    fn flags_in_their_usual_spellings() {
        for (value, expected) in [
            (json!(true), Some(true)),
            (json!(0), Some(false)),
            (json!("on"), Some(true)),
            (json!("False"), Some(false)),
            (json!("1"), Some(true)),
            (json!("sometimes"), None),
            (json!([1]), None),
        ] {
            assert_eq!(flag(&value), expected, "{value}");
        }
        let r = reading(&flag_document(true), &FieldPointers::default()).unwrap();
        assert!(r.active);
        let r = reading(&flag_document(false), &column_pointers()).unwrap();
        assert!(!r.active);
    }
}
