//! `type = "http"`: one request (following redirects), judged by status code, body text,
//! regex and JSON assertions, response time and certificate expiry; JSON numbers and
//! booleans can be kept as series; a maintenance answer is `Status::Maintenance`, not down.
//!
//! | series | labels | meaning |
//! |---|---|---|
//! | `http_response_seconds` | `check` | whole request, redirects and body included (the headline value) |
//! | `http_dns_seconds` | `check` | name resolution (0 for an IP literal) |
//! | `http_connect_seconds` | `check` | TCP connect |
//! | `http_tls_seconds` | `check` | TLS handshake (https only) |
//! | `http_first_byte_seconds` | `check` | request sent to response head received |
//! | `http_status_code` | `check` | status code of the final response |
//! | `http_body_bytes` | `check` | body bytes read (at most `max_body`) |
//! | `tls_certificate_expiry_seconds` | `check` | seconds until the certificate's notAfter (https) |
//! | `http_extract` | `check`, `name` | each `[[check.extract]]` value (booleans as 1/0) |
//!
//! Extracted values share one series name with a `name` label, so they cannot collide with
//! Lookout's own series and a dashboard can list them all.

use std::time::Duration;

use serde_json::Value;

use crate::base::net::client::{Request, Response, fetch};
use crate::base::net::tls::{TlsClient, TlsSettings, grade_expiry};
use crate::checks::http::config::{HttpCheck, JsonAssert, JsonTest, StatusRange};
use crate::checks::{Check, CheckFuture, Outcome};
use crate::clock::UnixMillis;
use crate::model::{SeriesKey, Status};

pub struct HttpProbe {
    config: HttpCheck,
    timeout: Duration,
    tls: TlsClient,
    /// `config.request` as the shared client takes it, built once.
    request: Request,
}

impl HttpProbe {
    /// `timeout`: the check's attempt timeout; the request's own phases end a little before it
    /// so that the reason says which phase was slow.
    pub fn new(config: HttpCheck, timeout: Duration) -> HttpProbe {
        HttpProbe {
            tls: TlsClient::new(config.request.tls.clone(), Some(b"http/1.1")),
            request: config.request.to_net(),
            config,
            timeout,
        }
    }

    async fn run(&mut self, at_ms: UnixMillis) -> Outcome {
        let deadline = own_deadline(self.timeout);
        match fetch(&self.request, &mut self.tls, deadline, self.timeout).await {
            Err(reason) => Outcome::critical(reason),
            Ok(response) => judge(&self.config, &response, at_ms, self.tls.settings()),
        }
    }
}

impl Check for HttpProbe {
    fn attempt(&mut self, at_ms: UnixMillis) -> CheckFuture<'_> {
        Box::pin(self.run(at_ms))
    }
}

/// Ends our own phases slightly before the `CheckProbe` timeout, so our precise reason wins.
pub(crate) fn own_deadline(timeout: Duration) -> tokio::time::Instant {
    let margin = (timeout / 20).min(Duration::from_millis(50));
    tokio::time::Instant::now() + timeout.saturating_sub(margin)
}

/// The timing series shared by http and prometheus checks.
pub(crate) fn timing_samples(mut outcome: Outcome, response: &Response) -> Outcome {
    let t = &response.timings;
    outcome = outcome
        .sample(
            SeriesKey::new("http_response_seconds"),
            t.total.as_secs_f64(),
        )
        .sample(SeriesKey::new("http_dns_seconds"), t.dns.as_secs_f64())
        .sample(
            SeriesKey::new("http_connect_seconds"),
            t.connect.as_secs_f64(),
        )
        .sample(
            SeriesKey::new("http_first_byte_seconds"),
            t.first_byte.as_secs_f64(),
        )
        .sample(
            SeriesKey::new("http_status_code"),
            f64::from(response.status),
        )
        .sample(
            SeriesKey::new("http_body_bytes"),
            response.body.len() as f64,
        );
    if let Some(tls) = t.tls {
        outcome = outcome.sample(SeriesKey::new("http_tls_seconds"), tls.as_secs_f64());
    }
    outcome
}

/// Response time and certificate findings, shared by http and prometheus checks: pushes
/// (status, text) for anything not Ok and returns the certificate note for an Ok detail.
pub(crate) fn grade_common(
    response: &Response,
    warning: Duration,
    critical: Duration,
    at_ms: UnixMillis,
    tls: &TlsSettings,
    findings: &mut Vec<(Status, String)>,
    outcome: &mut Vec<(SeriesKey, f64)>,
) -> Option<String> {
    let seconds = response.timings.total.as_secs_f64();
    let slow = crate::checks::grade(
        seconds,
        Some(warning.as_secs_f64()),
        Some(critical.as_secs_f64()),
    );
    if slow != Status::Ok {
        let limit = if slow == Status::Critical {
            critical
        } else {
            warning
        };
        findings.push((
            slow,
            format!(
                "slow: {} (threshold {})",
                seconds_text(seconds),
                crate::base::units::format_duration(limit)
            ),
        ));
    }
    let cert = response.cert.as_ref()?;
    let now_s = at_ms.div_euclid(1000);
    outcome.push((
        SeriesKey::new("tls_certificate_expiry_seconds"),
        (cert.not_after - now_s) as f64,
    ));
    let (status, text) = grade_expiry(cert, now_s, tls);
    if status == Status::Ok {
        Some(text)
    } else {
        findings.push((status, text));
        None
    }
}

pub(crate) fn seconds_text(seconds: f64) -> String {
    if seconds < 0.1 {
        format!("{:.0} ms", seconds * 1000.0)
    } else {
        format!("{seconds:.2} s")
    }
}

fn judge(config: &HttpCheck, response: &Response, at_ms: UnixMillis, tls: &TlsSettings) -> Outcome {
    let seconds = response.timings.total.as_secs_f64();
    let needs_json = !config.asserts.is_empty()
        || !config.extracts.is_empty()
        || config.maintenance_json_pointer.is_some();
    let json: Option<Value> = if needs_json {
        serde_json::from_slice(&response.body).ok()
    } else {
        None
    };
    let mut findings: Vec<(Status, String)> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut samples: Vec<(SeriesKey, f64)> = Vec::new();

    // Extracted values are kept whatever the verdict: they matter most when things go wrong.
    for extract in &config.extracts {
        match json.as_ref().map(|j| j.pointer(&extract.pointer)) {
            None => notes.push(format!("{}: the body is not JSON", extract.name)),
            Some(None) => notes.push(format!("{}: {} not found", extract.name, extract.pointer)),
            Some(Some(value)) => match as_number(value) {
                Some(number) => samples.push((
                    SeriesKey::new("http_extract").with("name", &extract.name),
                    number,
                )),
                None => notes.push(format!(
                    "{}: {} is {}, not a number or boolean",
                    extract.name,
                    extract.pointer,
                    shown(value)
                )),
            },
        }
    }

    let cert_note = grade_common(
        response,
        config.request.response_time.warning,
        config.request.response_time.critical,
        at_ms,
        tls,
        &mut findings,
        &mut samples,
    );

    let finish = |status: Status, reason: String, samples: Vec<(SeriesKey, f64)>| {
        let mut outcome = Outcome::new(status, reason).with_value(seconds);
        outcome = timing_samples(outcome, response);
        outcome.samples.extend(samples);
        outcome
    };

    if let Some(reason) = maintenance(config, response, json.as_ref()) {
        return finish(Status::Maintenance, reason, samples);
    }

    if !config
        .expect_status
        .iter()
        .any(|r| (r.low..=r.high).contains(&response.status))
    {
        findings.push((
            Status::Critical,
            format!(
                "HTTP {} (expected {})",
                response.status,
                ranges_text(&config.expect_status)
            ),
        ));
    }
    if config.body_contains.is_some() || config.body_matches.is_some() {
        let text = String::from_utf8_lossy(&response.body);
        if let Some(needle) = &config.body_contains
            && !text.contains(needle.as_str())
        {
            findings.push((
                Status::Critical,
                format!("body does not contain {needle:?}"),
            ));
        }
        if let Some(pattern) = &config.body_matches
            && !pattern.0.is_match(&text)
        {
            findings.push((
                Status::Critical,
                format!("body does not match /{}/", pattern.0.as_str()),
            ));
        }
    }
    for assertion in &config.asserts {
        if let Some(failure) = check_assert(json.as_ref(), assertion) {
            findings.push((Status::Critical, failure));
        }
    }
    if response.truncated {
        notes.push(format!(
            "body truncated at {} bytes (max_body)",
            response.body.len()
        ));
    }

    let status = Status::worst(findings.iter().map(|(s, _)| *s));
    let mut reason = if findings.is_empty() {
        let mut text = format!(
            "HTTP {} in {}, {} bytes",
            response.status,
            seconds_text(seconds),
            response.body.len()
        );
        if response.redirects > 0 {
            text.push_str(&format!(" after {} redirects", response.redirects));
        }
        if let Some(cert) = cert_note {
            text.push_str(&format!(", {cert}"));
        }
        text
    } else {
        // The worst findings first, then the rest.
        let mut sorted = findings.clone();
        sorted.sort_by_key(|f| std::cmp::Reverse(f.0));
        sorted
            .into_iter()
            .map(|(_, text)| text)
            .collect::<Vec<_>>()
            .join("; ")
    };
    if !notes.is_empty() {
        reason.push_str(&format!(" ({})", notes.join("; ")));
    }
    finish(status, reason, samples)
}

/// `judge` on an answer that was never fetched: `status`, the headers that are valid HTTP
/// (others are skipped), `body`; zero timings, no certificate. The entry point of the fuzz
/// target `http_json` (fuzz/), which feeds it arbitrary bodies: the JSON extraction and
/// assertions must turn any of them into an outcome, never a panic.
#[doc(hidden)]
pub fn judge_body(
    config: &HttpCheck,
    status: u16,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> Outcome {
    let mut map = hyper::header::HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_bytes(value),
        ) {
            map.append(name, value);
        }
    }
    let response = Response::canned(status, map, body, false);
    judge(config, &response, 0, &config.request.tls)
}

fn ranges_text(ranges: &[StatusRange]) -> String {
    ranges
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// "in maintenance (mode normal, retry after 1800 s)" when the answer says maintenance.
fn maintenance(config: &HttpCheck, response: &Response, json: Option<&Value>) -> Option<String> {
    let header = response
        .headers
        .get(config.maintenance_header.as_str())
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true") || v.trim() == "1");
    let field = config
        .maintenance_json_pointer
        .as_ref()
        .and_then(|p| json?.pointer(p))
        .is_some_and(|v| v == &Value::Bool(true));
    if !header && !field {
        return None;
    }
    let text_header = |name: &str| {
        response
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().chars().take(40).collect::<String>())
            .filter(|v| !v.is_empty())
    };
    let mut parts = Vec::new();
    if let Some(mode) = text_header("x-maintenance-mode") {
        parts.push(format!("mode {mode}"));
    }
    if let Some(retry) = text_header("retry-after") {
        if retry.chars().all(|c| c.is_ascii_digit()) {
            parts.push(format!("retry after {retry} s"));
        } else {
            parts.push(format!("retry after {retry}"));
        }
    }
    if parts.is_empty() {
        parts.push(format!("HTTP {}", response.status));
    }
    Some(format!("in maintenance ({})", parts.join(", ")))
}

fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    }
}

/// A JSON value for a reason: compact, at most 60 characters.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        format!("{}...", text.chars().take(57).collect::<String>())
    } else {
        text
    }
}

fn json_equal(found: &Value, wanted: &Value) -> bool {
    match (found, wanted) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => found == wanted,
    }
}

/// Why `assertion` fails on `json`, if it does.
fn check_assert(json: Option<&Value>, assertion: &JsonAssert) -> Option<String> {
    let pointer = if assertion.pointer.is_empty() {
        "the body"
    } else {
        assertion.pointer.as_str()
    };
    let Some(json) = json else {
        return Some(format!("{pointer}: the body is not JSON"));
    };
    let found = json.pointer(&assertion.pointer);
    for test in &assertion.tests {
        let failure = match (test, found) {
            (JsonTest::Exists(true), None) => Some(format!("{pointer} is missing")),
            (JsonTest::Exists(false), Some(value)) => {
                Some(format!("{pointer} is {}, expected it absent", shown(value)))
            }
            (JsonTest::Exists(_), _) => None,
            (JsonTest::Equals(wanted), None) => {
                Some(format!("{pointer} is missing, expected {}", shown(wanted)))
            }
            (JsonTest::Equals(wanted), Some(value)) => (!json_equal(value, wanted))
                .then(|| format!("{pointer} is {}, expected {}", shown(value), shown(wanted))),
            (JsonTest::NotEquals(unwanted), Some(value)) => json_equal(value, unwanted)
                .then(|| format!("{pointer} is {}, expected anything else", shown(value))),
            (JsonTest::NotEquals(_), None) => None,
            (JsonTest::LessThan(limit), value) => match value.and_then(as_number) {
                Some(n) if n < *limit => None,
                Some(n) => Some(format!("{pointer} is {n}, expected less than {limit}")),
                None => Some(format!(
                    "{pointer} is {}, expected a number less than {limit}",
                    value.map_or("missing".to_string(), shown)
                )),
            },
            (JsonTest::GreaterThan(limit), value) => match value.and_then(as_number) {
                Some(n) if n > *limit => None,
                Some(n) => Some(format!("{pointer} is {n}, expected greater than {limit}")),
                None => Some(format!(
                    "{pointer} is {}, expected a number greater than {limit}",
                    value.map_or("missing".to_string(), shown)
                )),
            },
        };
        if failure.is_some() {
            return failure;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assertion(pointer: &str, test: JsonTest) -> JsonAssert {
        JsonAssert {
            pointer: pointer.to_string(),
            tests: vec![test],
        }
    }

    #[test]
    fn json_assertions() {
        let body = json!({"status": "unhealthy", "n": 5, "ok": true, "components": {"db": {"healthy": false}}});
        let cases: &[(&str, JsonTest, Option<&str>)] = &[
            (
                "/status",
                JsonTest::Equals(json!("healthy")),
                Some("/status is \"unhealthy\", expected \"healthy\""),
            ),
            ("/status", JsonTest::Equals(json!("unhealthy")), None),
            ("/n", JsonTest::Equals(json!(5.0)), None),
            (
                "/n",
                JsonTest::LessThan(5.0),
                Some("/n is 5, expected less than 5"),
            ),
            ("/n", JsonTest::GreaterThan(4.0), None),
            (
                "/missing",
                JsonTest::GreaterThan(4.0),
                Some("/missing is missing, expected a number greater than 4"),
            ),
            (
                "/ok",
                JsonTest::NotEquals(json!(true)),
                Some("/ok is true, expected anything else"),
            ),
            (
                "/components/db/healthy",
                JsonTest::Equals(json!(true)),
                Some("/components/db/healthy is false, expected true"),
            ),
            (
                "/missing",
                JsonTest::Exists(true),
                Some("/missing is missing"),
            ),
            ("/status", JsonTest::Exists(true), None),
        ];
        for (pointer, test, expected) in cases {
            let got = check_assert(Some(&body), &assertion(pointer, test.clone()));
            assert_eq!(got.as_deref(), *expected, "{pointer} {test:?}");
        }
        assert_eq!(
            check_assert(None, &assertion("/status", JsonTest::Exists(true))).as_deref(),
            Some("/status: the body is not JSON")
        );
    }

    #[test]
    fn numbers_and_booleans_are_extractable() {
        assert_eq!(as_number(&json!(true)), Some(1.0));
        assert_eq!(as_number(&json!(false)), Some(0.0));
        assert_eq!(as_number(&json!(2.5)), Some(2.5));
        assert_eq!(as_number(&json!("7")), Some(7.0));
        assert_eq!(as_number(&json!("x")), None);
        assert_eq!(as_number(&json!({"a": 1})), None);
    }
}
