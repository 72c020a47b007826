//! Keys of `type = "http"` and `type = "prometheus"` checks.
//!
//! Both share the request keys (`url`, `method`, `headers`, `body`, `follow_redirects`,
//! `max_body`), the TLS keys and the response-time thresholds (read in `tcp.rs`). An http
//! check adds what makes an answer healthy (`expect_status`, `body_contains`, `body_matches`,
//! `[[check.assert]]`), what to keep from it (`[[check.extract]]`) and how it says "in
//! maintenance" (`maintenance_header`, `maintenance_json_pointer`). A prometheus check adds
//! `families`, `prefix` and `max_samples`.
//!
//! Header values are `Secret`s: they may carry tokens, so they never print.

use std::fmt;

use regex::Regex;
use toml::de::DeValue;

use crate::base::net::TlsSettings;
use crate::base::schema::{Item, Kind, Reader, Table, a_type, text_kind};
use crate::base::schema::{optional_string, regex_error_line, required_string, string_map};
use crate::base::schema::{size_setting, string_setting};
use crate::base::secret::Secret;
use crate::checks::tcp::config::{ResponseTime, read_response_time, read_tls};

/// Redirects followed when `follow_redirects` is absent or `true`.
pub const DEFAULT_REDIRECTS: u32 = 5;
/// `max_body` of an http check: 1 MiB.
pub const DEFAULT_MAX_BODY: u64 = 1 << 20;
/// `max_body` of a prometheus check: 16 MiB.
pub const DEFAULT_SCRAPE_MAX_BODY: u64 = 16 << 20;

/// What to send, shared by http and prometheus checks.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// `url`: what to request, e.g. "http://127.0.0.1:5000/health" (http or https).
    pub url: String,
    /// `method` (default "GET").
    pub method: String,
    /// `headers = { Authorization = "Bearer ${TOKEN}" }`: sent as written; values never print.
    pub headers: Vec<(String, Secret)>,
    /// `body`: sent with the request (e.g. for POST).
    pub body: Option<String>,
    /// `follow_redirects`: true (up to 5, the default), false, or the most to follow.
    pub follow_redirects: u32,
    /// `max_body`: the most of the body read; the rest is not downloaded.
    pub max_body: u64,
    pub tls: TlsSettings,
    pub response_time: ResponseTime,
}

/// A regex that compares by its text (so configs compare equal).
#[derive(Clone)]
pub struct Pattern(pub Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0.as_str())
    }
}

/// An inclusive range of HTTP status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    pub low: u16,
    pub high: u16,
}

impl fmt::Display for StatusRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)
        } else {
            write!(f, "{}-{}", self.low, self.high)
        }
    }
}

/// How a JSON value is compared in `[[check.assert]]`.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonTest {
    /// `equals = "healthy"` (a string, number or boolean).
    Equals(serde_json::Value),
    /// `not_equals = "unhealthy"`.
    NotEquals(serde_json::Value),
    /// `less_than = 100`.
    LessThan(f64),
    /// `greater_than = 0`.
    GreaterThan(f64),
    /// `exists = true` / `exists = false`.
    Exists(bool),
}

/// `[[check.assert]] json_pointer = "/status", equals = "healthy"`.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonAssert {
    pub pointer: String,
    pub tests: Vec<JsonTest>,
}

/// `[[check.extract]] name = "db_healthy", json_pointer = "/components/database/healthy"`:
/// the number or boolean there becomes the series `http_extract{name="db_healthy"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Extract {
    pub name: String,
    pub pointer: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpCheck {
    pub request: HttpRequest,
    /// `expect_status = [200, 204, "300-399"]` (default 200-399).
    pub expect_status: Vec<StatusRange>,
    /// `body_contains`: text the body must contain (invalid UTF-8 is read lossily).
    pub body_contains: Option<String>,
    /// `body_matches`: a regex the body must match somewhere.
    pub body_matches: Option<Pattern>,
    /// `[[check.assert]]`: JSON assertions; each failing one is critical.
    pub asserts: Vec<JsonAssert>,
    /// `[[check.extract]]`: JSON numbers and booleans kept as series.
    pub extracts: Vec<Extract>,
    /// `maintenance_header` (default "X-Maintenance-Active"): "true" there means maintenance.
    pub maintenance_header: String,
    /// `maintenance_json_pointer`: a JSON boolean that means maintenance when true.
    pub maintenance_json_pointer: Option<String>,
}

impl HttpCheck {
    /// A GET of `url` with every other setting at its default.
    pub fn new(url: impl Into<String>) -> HttpCheck {
        HttpCheck {
            request: HttpRequest::new(url, DEFAULT_MAX_BODY),
            expect_status: vec![StatusRange {
                low: 200,
                high: 399,
            }],
            body_contains: None,
            body_matches: None,
            asserts: Vec::new(),
            extracts: Vec::new(),
            maintenance_header: "X-Maintenance-Active".to_string(),
            maintenance_json_pointer: None,
        }
    }
}

impl HttpRequest {
    pub fn new(url: impl Into<String>, max_body: u64) -> HttpRequest {
        HttpRequest {
            url: url.into(),
            method: "GET".to_string(),
            headers: Vec::new(),
            body: None,
            follow_redirects: DEFAULT_REDIRECTS,
            max_body,
            tls: TlsSettings::default(),
            response_time: ResponseTime::default(),
        }
    }

    /// What the shared HTTP client sends for this request (TLS is the check's `TlsClient`).
    pub fn to_net(&self) -> crate::base::net::Request {
        crate::base::net::Request {
            url: self.url.clone(),
            method: self.method.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
            follow_redirects: self.follow_redirects,
            max_body: self.max_body,
        }
    }
}

pub(crate) fn read_http(r: &mut Reader<'_>, table: &Table<'_, '_>) -> HttpCheck {
    let default = HttpCheck::new("");
    let request = read_request(
        r,
        table,
        "\"http://127.0.0.1:5000/health\"",
        DEFAULT_MAX_BODY,
    );
    let expect_status = read_status_ranges(r, table).unwrap_or(default.expect_status);
    let body_contains = optional_string(r, table, "body_contains");
    let body_matches = string_setting(r, table, "body_matches", None, "a regex string", |text| {
        Regex::new(&text.value)
            .map(|regex| Some(Pattern(regex)))
            .map_err(|error| {
                let line = regex_error_line(&error);
                format!("{} is not a valid regex: {line}", text.quoted())
            })
    })
    .value;
    let asserts = read_asserts(r, table);
    let extracts = read_extracts(r, table);
    let maintenance_header =
        optional_string(r, table, "maintenance_header").unwrap_or(default.maintenance_header);
    let maintenance_json_pointer = pointer(r, table, "maintenance_json_pointer");
    HttpCheck {
        request,
        expect_status,
        body_contains,
        body_matches,
        asserts,
        extracts,
        maintenance_header,
        maintenance_json_pointer,
    }
}

pub(crate) fn integer(item: &Item<'_, '_>) -> Option<i64> {
    match item.value {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
        _ => None,
    }
}

pub(crate) fn read_request(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    example: &str,
    default_max_body: u64,
) -> HttpRequest {
    let url = required_string(r, table, "url", example);
    if !url.is_empty() {
        let problem = match url.parse::<hyper::Uri>() {
            Err(_) => {
                Some("is not a URL; expected one like \"http://127.0.0.1:5000/health\"".to_string())
            }
            Ok(uri) => match (uri.scheme_str(), uri.host()) {
                (Some("http" | "https"), Some(_)) => crate::base::schema::port_problem(&url),
                (Some("http" | "https"), None) => Some("has no host".to_string()),
                _ => Some("must start with http:// or https://".to_string()),
            },
        };
        if let Some(problem) = problem {
            let item = r.item(table, "url");
            let path = format!("{}.url", table.path);
            let shown = crate::base::secret::mask_url(&url);
            r.problem(
                item.map(|i| i.span).as_ref(),
                &path,
                format!("{shown:?} {problem}"),
            );
        }
    }
    let method = string_setting(r, table, "method", "GET".to_string(), "a string", |text| {
        let method = text.value.trim().to_ascii_uppercase();
        if !method.is_empty() && method.chars().all(|c| c.is_ascii_alphabetic()) {
            Ok(method)
        } else {
            Err(format!(
                "{} is not an HTTP method; expected one like \"GET\" or \"POST\"",
                text.quoted()
            ))
        }
    })
    .value;
    let mut headers = Vec::new();
    let header_table_path = format!("{}.headers", table.path);
    for (name, value) in string_map(r, table, "headers") {
        let path = crate::base::schema::join(&header_table_path, &name);
        if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            r.problem(None, &path, format!("{name:?} is not a valid header name"));
            continue;
        }
        if hyper::header::HeaderValue::from_str(&value).is_err() {
            // Never show the value: it may be a credential.
            r.problem(
                None,
                &path,
                "the value is not a valid header value (control characters or non-ASCII)",
            );
            continue;
        }
        headers.push((name, Secret::new(value)));
    }
    let body = optional_string(r, table, "body");
    let kind = Kind::AnyOf(vec![Kind::Bool, Kind::Integer { min: 0, max: 20 }]);
    let follow_redirects = match r.item_of(table, "follow_redirects", kind) {
        None => DEFAULT_REDIRECTS,
        Some(item) => match item.value {
            DeValue::Boolean(true) => DEFAULT_REDIRECTS,
            DeValue::Boolean(false) => 0,
            DeValue::Integer(_) => match integer(&item) {
                Some(n) if (0..=20).contains(&n) => n as u32,
                _ => {
                    r.problem(
                        Some(&item.span),
                        &item.path,
                        "is out of range; expected true, false or a number of redirects from 0 to 20",
                    );
                    DEFAULT_REDIRECTS
                }
            },
            other => {
                let message = format!(
                    "expected true, false or a number of redirects, found {}",
                    a_type(other)
                );
                r.problem(Some(&item.span), &item.path, message);
                DEFAULT_REDIRECTS
            }
        },
    };
    // Read into memory: at most 1 GiB, so a typo cannot ask for more than a host has.
    let max_body = size_setting(
        r,
        table,
        "max_body",
        default_max_body,
        |bytes| match *bytes {
            0 => Some("must be greater than zero".to_string()),
            b if b > 1 << 30 => Some("is too large; expected at most \"1GiB\"".to_string()),
            _ => None,
        },
    )
    .value;
    HttpRequest {
        url,
        method,
        headers,
        body,
        follow_redirects,
        max_body,
        tls: read_tls(r, table),
        response_time: read_response_time(r, table),
    }
}

/// `expect_status`: codes (200) and ranges ("200-299", "2xx"); `None` when absent or invalid.
fn read_status_ranges(r: &mut Reader<'_>, table: &Table<'_, '_>) -> Option<Vec<StatusRange>> {
    let code_or_range = Kind::AnyOf(vec![
        Kind::Integer { min: 100, max: 599 },
        text_kind("a range like \"200-299\" or \"2xx\""),
    ]);
    let item = r.item_of(table, "expect_status", Kind::List(Box::new(code_or_range)))?;
    let expected = "an array of status codes and ranges, like [200, \"300-399\"]";
    let (span, path) = (item.span.clone(), item.path.clone());
    let elements = match item.value {
        DeValue::Array(_) => r.elements(&item, expected)?,
        _ => vec![item],
    };
    let mut ranges = Vec::new();
    let mut valid = true;
    for element in &elements {
        let parsed = match element.value {
            DeValue::Integer(_) => integer(element).and_then(|n| {
                let code = u16::try_from(n).ok().filter(|c| (100..=599).contains(c))?;
                Some(StatusRange {
                    low: code,
                    high: code,
                })
            }),
            DeValue::String(_) => match r.text(element, "a status range string") {
                Some(text) => parse_status_range(&text.value),
                None => {
                    valid = false;
                    continue;
                }
            },
            other => {
                let message = format!(
                    "expected a status code or a range like \"200-399\", found {}",
                    a_type(other)
                );
                r.problem(Some(&element.span), &element.path, message);
                valid = false;
                continue;
            }
        };
        match parsed {
            Some(range) => ranges.push(range),
            None => {
                let shown = match element.value {
                    DeValue::String(s) => format!("{:?}", &**s),
                    DeValue::Integer(i) => i.as_str().to_string(),
                    _ => String::new(),
                };
                r.problem(
                    Some(&element.span),
                    &element.path,
                    format!(
                        "{shown} is not a status code or range; expected codes from 100 to 599 like 200, \"200-399\" or \"2xx\""
                    ),
                );
                valid = false;
            }
        }
    }
    if ranges.is_empty() && valid {
        r.problem(
            Some(&span),
            &path,
            "is empty; expected at least one status code, like [200]",
        );
    }
    (valid && !ranges.is_empty()).then_some(ranges)
}

/// "200", "200-399" or "2xx".
pub fn parse_status_range(text: &str) -> Option<StatusRange> {
    let text = text.trim();
    let code = |s: &str| {
        s.trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
    };
    let range = if let Some(class) = text.strip_suffix("xx").or_else(|| text.strip_suffix("XX")) {
        let digit = class.parse::<u16>().ok().filter(|d| (1..=5).contains(d))?;
        StatusRange {
            low: digit * 100,
            high: digit * 100 + 99,
        }
    } else if let Some((low, high)) = text.split_once('-') {
        StatusRange {
            low: code(low)?,
            high: code(high)?,
        }
    } else {
        let c = code(text)?;
        StatusRange { low: c, high: c }
    };
    (range.low <= range.high).then_some(range)
}

/// A JSON pointer key ("" or starting with "/").
fn pointer(r: &mut Reader<'_>, table: &Table<'_, '_>, key: &'static str) -> Option<String> {
    string_setting(r, table, key, None, "a JSON pointer string", |text| {
        if text.value.is_empty() || text.value.starts_with('/') {
            Ok(Some(text.value.clone()))
        } else {
            Err(format!(
                "{} is not a JSON pointer; it starts with /, like \"/components/database/healthy\"",
                text.quoted()
            ))
        }
    })
    .value
}

fn json_value(r: &mut Reader<'_>, item: &Item<'_, '_>) -> Option<serde_json::Value> {
    match item.value {
        DeValue::String(_) => r
            .text(item, "a string")
            .map(|text| serde_json::Value::String(text.value)),
        DeValue::Boolean(b) => Some(serde_json::Value::Bool(*b)),
        DeValue::Integer(_) => integer(item).map(serde_json::Value::from),
        DeValue::Float(f) => f
            .as_str()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(serde_json::Value::Number),
        other => {
            let message = format!(
                "expected a string, number or boolean, found {}",
                a_type(other)
            );
            r.problem(Some(&item.span), &item.path, message);
            None
        }
    }
}

fn number(r: &mut Reader<'_>, item: &Item<'_, '_>) -> Option<f64> {
    match item.value {
        DeValue::Integer(_) => integer(item).map(|n| n as f64),
        DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
        other => {
            let message = format!("expected a number, found {}", a_type(other));
            r.problem(Some(&item.span), &item.path, message);
            None
        }
    }
}

fn read_asserts(r: &mut Reader<'_>, table: &Table<'_, '_>) -> Vec<JsonAssert> {
    let mut asserts = Vec::new();
    for entry in r.table_array(table, "assert") {
        let pointer_value = pointer(r, &entry, "json_pointer");
        let mut tests = Vec::new();
        if let Some(item) = r.item_of(&entry, "equals", Kind::Any) {
            tests.extend(json_value(r, &item).map(JsonTest::Equals));
        }
        if let Some(item) = r.item_of(&entry, "not_equals", Kind::Any) {
            tests.extend(json_value(r, &item).map(JsonTest::NotEquals));
        }
        if let Some(item) = r.item_of(&entry, "less_than", Kind::Number) {
            tests.extend(number(r, &item).map(JsonTest::LessThan));
        }
        if let Some(item) = r.item_of(&entry, "greater_than", Kind::Number) {
            tests.extend(number(r, &item).map(JsonTest::GreaterThan));
        }
        if let Some(item) = r.item_of(&entry, "exists", Kind::Bool) {
            match item.value {
                DeValue::Boolean(b) => tests.push(JsonTest::Exists(*b)),
                _ => r.wrong_type(&item, "a boolean (true or false)"),
            }
        }
        let Some(pointer_value) = pointer_value else {
            r.problem(
                entry.span.as_ref(),
                &format!("{}.json_pointer", entry.path),
                "missing; an assertion needs the place to look, like json_pointer = \"/status\"",
            );
            continue;
        };
        if tests.is_empty() {
            // Point at the assertion's json_pointer: a table has no position of its own here.
            let anchor = r.item(&entry, "json_pointer").map(|item| item.span);
            r.problem(
                anchor.as_ref(),
                &entry.path,
                "says nothing to test; add equals, not_equals, less_than, greater_than or exists",
            );
            continue;
        }
        asserts.push(JsonAssert {
            pointer: pointer_value,
            tests,
        });
    }
    asserts
}

fn read_extracts(r: &mut Reader<'_>, table: &Table<'_, '_>) -> Vec<Extract> {
    let mut extracts: Vec<Extract> = Vec::new();
    for entry in r.table_array(table, "extract") {
        let name = required_string(r, &entry, "name", "\"db_healthy\"");
        if !name.is_empty() {
            r.name_table(&entry, &name);
        }
        let pointer_value = pointer(r, &entry, "json_pointer");
        if pointer_value.is_none() {
            r.problem(
                entry.span.as_ref(),
                &format!("{}.json_pointer", entry.path),
                "missing; an extract needs the place to look, like json_pointer = \"/uptime\"",
            );
        }
        if name.is_empty() {
            continue;
        }
        if extracts.iter().any(|e| e.name == name) {
            r.problem(
                entry.span.as_ref(),
                &format!("{}.name", entry.path),
                format!("{name:?} is already extracted by this check; names must be unique"),
            );
            continue;
        }
        if let Some(pointer) = pointer_value {
            extracts.push(Extract { name, pointer });
        }
    }
    extracts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::prometheus::PrometheusCheck;
    use crate::checks::CheckKind;
    use crate::checks::testing::read;

    fn env(name: &str) -> Option<String> {
        (name == "APP_TOKEN").then(|| "s3cr3t-token-value".to_string())
    }

    fn errors(text: &str) -> String {
        crate::checks::testing::errors_with_env(text, &env)
    }

    fn http(text: &str) -> HttpCheck {
        match &read(text, &env)[0] {
            CheckKind::Http(check) => check.clone(),
            other => panic!("not http: {other:?}"),
        }
    }

    #[test]
    fn defaults_of_an_http_check() {
        let check = http(
            "[[check]]\nname = \"app\"\ntype = \"http\"\nurl = \"http://127.0.0.1:5000/health\"\n",
        );
        assert_eq!(check, HttpCheck::new("http://127.0.0.1:5000/health"));
    }

    #[test]
    fn every_http_key_is_read() {
        let check = http(
            r#"
[[check]]
name = "app"
type = "http"
url = "https://app.example/health"
method = "post"
headers = { Authorization = "Bearer ${APP_TOKEN}", Accept = "application/json" }
body = "{}"
expect_status = [200, "300-302", "4xx"]
body_contains = "healthy"
body_matches = "v[0-9]+"
follow_redirects = 2
max_body = "64KiB"
ca_file = "/etc/ca.pem"
client_cert = "/etc/c.pem"
client_key = "/etc/k.pem"
server_name = "app.internal"
insecure_skip_verify = true
cert_expiry_warning = "30d"
cert_expiry_critical = "7d"
response_time_warning = "1s"
response_time_critical = "3s"
maintenance_header = "X-Down"
maintenance_json_pointer = "/maintenance"
[[check.assert]]
json_pointer = "/status"
equals = "healthy"
[[check.assert]]
json_pointer = "/uptime"
greater_than = 10
less_than = 1e9
[[check.extract]]
name = "db_healthy"
json_pointer = "/components/database/healthy"
"#,
        );
        let request = &check.request;
        assert_eq!(request.method, "POST");
        assert_eq!(request.headers[1].0, "Authorization");
        assert_eq!(request.headers[1].1.expose(), "Bearer s3cr3t-token-value");
        assert_eq!(request.follow_redirects, 2);
        assert_eq!(request.max_body, 64 << 10);
        assert!(request.tls.insecure_skip_verify);
        assert_eq!(request.tls.server_name.as_deref(), Some("app.internal"));
        assert_eq!(request.response_time.warning.as_secs(), 1);
        assert_eq!(request.tls.cert_expiry_critical.as_secs(), 7 * 86_400);
        assert_eq!(
            check.expect_status,
            vec![
                StatusRange {
                    low: 200,
                    high: 200
                },
                StatusRange {
                    low: 300,
                    high: 302
                },
                StatusRange {
                    low: 400,
                    high: 499
                }
            ]
        );
        assert_eq!(check.asserts.len(), 2);
        assert_eq!(
            check.asserts[1].tests,
            vec![JsonTest::LessThan(1e9), JsonTest::GreaterThan(10.0)]
        );
        assert_eq!(check.extracts[0].name, "db_healthy");
        assert_eq!(
            check.maintenance_json_pointer.as_deref(),
            Some("/maintenance")
        );
        // Secrets: the token is in no Debug output.
        let debug = format!("{check:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
    }

    #[test]
    fn golden_errors_of_http_keys() {
        let text = r#"[[check]]
name = "app"
type = "http"
url = "http://127.0.0.1:5000/health"
expect_status = [200, "200-99", "abc", true]
follow_redirect = 3
method = 5
[[check.assert]]
json_pointer = "status"
equals = "healthy"
"#;
        assert_eq!(
            errors(text),
            r#"lookout.toml:5:23: check "app".expect_status[1]: "200-99" is not a status code or range; expected codes from 100 to 599 like 200, "200-399" or "2xx"
lookout.toml:5:33: check "app".expect_status[2]: "abc" is not a status code or range; expected codes from 100 to 599 like 200, "200-399" or "2xx"
lookout.toml:5:40: check "app".expect_status[3]: expected a status code or a range like "200-399", found a boolean
lookout.toml:6:1: check "app".follow_redirect: unknown key; did you mean "follow_redirects"?
lookout.toml:7:10: check "app".method: expected a string, found an integer
lookout.toml:8:1: check "app".assert[0].json_pointer: missing; an assertion needs the place to look, like json_pointer = "/status"
lookout.toml:9:16: check "app".assert[0].json_pointer: "status" is not a JSON pointer; it starts with /, like "/components/database/healthy""#
        );
    }

    #[test]
    fn secret_header_values_are_not_in_errors() {
        let text = "[[check]]\nname = \"app\"\ntype = \"http\"\nurl = \"ftp://x\"\nheaders = { Authorization = \"Bearer ${APP_TOKEN}\\n\" }\n";
        let message = errors(text);
        assert!(!message.contains("s3cr3t"), "{message}");
        assert!(
            message.contains("must start with http:// or https://"),
            "{message}"
        );
        assert!(message.contains("not a valid header value"), "{message}");
    }

    #[test]
    fn golden_errors_of_prometheus_and_nested_keys() {
        let text = r#"[[check]]
name = "metrics"
type = "prometheus"
url = "http://127.0.0.1:5000/metrics"
families = ["vedfolnir_(", "ok_.*"]
prefix = "1bad"
max_samples = 0
[[check]]
name = "app"
type = "http"
url = "http://127.0.0.1:5000/health"
response_time_warning = "5s"
[[check.assert]]
json_pointer = "/status"
equal = "healthy"
[[check.extract]]
name = "up"
"#;
        assert_eq!(
            errors(text),
            r#"lookout.toml:5:13: check "metrics".families[0]: "vedfolnir_(" is not a valid regex: unclosed group
lookout.toml:6:10: check "metrics".prefix: "1bad" is not a metric name prefix; use letters, digits and _, like "app_"
lookout.toml:7:15: check "metrics".max_samples: 0 is out of range; expected 1 to 1000000
lookout.toml:12:25: check "app".response_time_warning: "5s" conflicts with response_time_critical ("5s", the default); the warning threshold must be below the critical one
lookout.toml:14:16: check "app".assert[0]: says nothing to test; add equals, not_equals, less_than, greater_than or exists
lookout.toml:15:1: check "app".assert[0].equal: unknown key; did you mean "equals"?
lookout.toml:16:1: check "app".extract "up".json_pointer: missing; an extract needs the place to look, like json_pointer = "/uptime""#
        );
        let kinds = read(
            "[[check]]\nname = \"m\"\ntype = \"prometheus\"\nurl = \"http://h/metrics\"\n",
            &env,
        );
        assert_eq!(
            kinds[0],
            CheckKind::Prometheus(PrometheusCheck::new("http://h/metrics"))
        );
    }

    #[test]
    fn status_ranges() {
        assert_eq!(
            parse_status_range("2xx"),
            Some(StatusRange {
                low: 200,
                high: 299
            })
        );
        assert_eq!(
            parse_status_range("200-399"),
            Some(StatusRange {
                low: 200,
                high: 399
            })
        );
        assert_eq!(
            parse_status_range("204"),
            Some(StatusRange {
                low: 204,
                high: 204
            })
        );
        for bad in ["399-200", "6xx", "99", "", "-", "200-", "x"] {
            assert_eq!(parse_status_range(bad), None, "{bad}");
        }
    }
}
