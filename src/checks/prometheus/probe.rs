//! `type = "prometheus"`: scrapes an application's Prometheus text endpoint (e.g. /metrics)
//! and keeps the selected families as Lookout series, so the app's own counters and gauges
//! feed rules and error rates. Also the text-format parser: comments, HELP/TYPE, labels with
//! escapes, timestamps (ignored: the sample takes the scrape's time), NaN/Inf. A bad line is
//! counted and skipped, never a panic.
//!
//! Kept samples keep their metric name (after the optional `prefix`) and labels, plus the
//! `check` label; a scraped label named `check` becomes `exported_check`. Non-finite values
//! (NaN, ±Inf) are skipped: they cannot be graphed or compared.
//!
//! | series | labels | meaning |
//! |---|---|---|
//! | *(each kept sample)* | its own + `check` | the scraped value |
//! | `prometheus_scrape_samples` | `check` | samples kept from the last scrape |
//! | `prometheus_scrape_bad_lines` | `check` | lines that could not be parsed |
//! | `http_response_seconds` and the other timings | `check` | as for http checks (headline value) |

use std::collections::BTreeSet;
use std::time::Duration;

use crate::base::net::client::{Request, Response, fetch};
use crate::base::net::tls::TlsClient;
use crate::checks::http::probe::{grade_common, own_deadline, seconds_text, timing_samples};
use crate::checks::prometheus::config::PrometheusCheck;
use crate::checks::{Check, CheckFuture, Outcome};
use crate::clock::UnixMillis;
use crate::model::{SeriesKey, Status};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    /// The family from the preceding `# TYPE` when the name belongs to it (`x_total` and
    /// `x_bucket` belong to `x`), otherwise the sample's own name.
    pub family: String,
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub samples: Vec<ParsedSample>,
    pub bad_lines: usize,
}

const FAMILY_SUFFIXES: &[&str] = &[
    "_total", "_bucket", "_count", "_sum", "_created", "_info", "_gcount", "_gsum",
];

/// Parses the Prometheus text exposition format (0.0.4; OpenMetrics text is close enough).
pub fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut family: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line == "# EOF" {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            if words.next() == Some("TYPE")
                && let Some(name) = words.next()
            {
                family = Some(name.to_string());
            }
            continue;
        }
        match parse_sample(line) {
            Some((name, labels, value)) => {
                let family = match &family {
                    Some(f)
                        if name == *f
                            || name
                                .strip_prefix(f.as_str())
                                .is_some_and(|rest| FAMILY_SUFFIXES.contains(&rest)) =>
                    {
                        f.clone()
                    }
                    _ => name.clone(),
                };
                parsed.samples.push(ParsedSample {
                    family,
                    name,
                    labels,
                    value,
                });
            }
            None => parsed.bad_lines += 1,
        }
    }
    parsed
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit()
}

type Line = (String, Vec<(String, String)>, f64);

fn parse_sample(line: &str) -> Option<Line> {
    let mut chars = line.char_indices().peekable();
    let (_, first) = *chars.peek()?;
    if !is_name_start(first) {
        return None;
    }
    let name_end = line
        .char_indices()
        .find(|(_, c)| !is_name_char(*c))
        .map_or(line.len(), |(i, _)| i);
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, remaining) = parse_labels(after)?;
        labels = parsed;
        rest = remaining;
    }
    // At least one space between the name/labels and the value.
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let mut fields = rest.split_whitespace();
    let value = parse_value(fields.next()?)?;
    if let Some(timestamp) = fields.next() {
        timestamp.parse::<f64>().ok()?;
    }
    if fields.next().is_some() {
        return None;
    }
    Some((name, labels, value))
}

/// Labels after the `{`; returns them and the text after the `}`.
fn parse_labels(mut text: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        text = text.trim_start();
        if let Some(after) = text.strip_prefix('}') {
            return Some((labels, after));
        }
        let end = text.find(|c: char| !is_name_char(c)).unwrap_or(text.len());
        if end == 0 || !text.starts_with(is_name_start) {
            return None;
        }
        let name = text[..end].to_string();
        text = text[end..].trim_start().strip_prefix('=')?.trim_start();
        text = text.strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = text.char_indices();
        let close = loop {
            let (i, c) = chars.next()?;
            match c {
                '"' => break i,
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    other => {
                        value.push('\\');
                        value.push(other);
                    }
                },
                c => value.push(c),
            }
        };
        labels.push((name, value));
        text = text[close + 1..].trim_start();
        if let Some(after) = text.strip_prefix(',') {
            text = after;
        } else if !text.starts_with('}') {
            return None;
        }
    }
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" | "nan" => Some(f64::NAN),
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ if text
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.eE_".contains(c)) =>
        {
            text.parse::<f64>().ok()
        }
        _ => None,
    }
}

pub struct PrometheusProbe {
    config: PrometheusCheck,
    timeout: Duration,
    tls: TlsClient,
    /// `config.request` as the shared client takes it, built once.
    request: Request,
}

impl PrometheusProbe {
    pub fn new(config: PrometheusCheck, timeout: Duration) -> PrometheusProbe {
        PrometheusProbe {
            tls: TlsClient::new(config.request.tls.clone(), Some(b"http/1.1")),
            request: config.request.to_net(),
            config,
            timeout,
        }
    }

    fn wanted(&self, sample: &ParsedSample) -> bool {
        self.config.families.is_empty()
            || self
                .config
                .families
                .iter()
                .any(|p| p.0.is_match(&sample.family) || p.0.is_match(&sample.name))
    }

    async fn run(&mut self, at_ms: UnixMillis) -> Outcome {
        let deadline = own_deadline(self.timeout);
        match fetch(&self.request, &mut self.tls, deadline, self.timeout).await {
            Err(reason) => Outcome::critical(reason),
            Ok(response) => self.judge(&response, at_ms),
        }
    }

    /// `judge` on a 200 answer that was never fetched: `body`, cut at `max_body` when
    /// `truncated`. The entry point of the fuzz target `prometheus_text` (fuzz/), which feeds
    /// it arbitrary bodies: any of them must become an outcome, never a panic.
    #[doc(hidden)]
    pub fn judge_body(&self, body: &[u8], truncated: bool) -> Outcome {
        let response = Response::canned(200, Default::default(), body, truncated);
        self.judge(&response, 0)
    }

    /// The outcome of one scrape's answer: the kept samples, the timings, the findings.
    fn judge(&self, response: &Response, at_ms: UnixMillis) -> Outcome {
        let seconds = response.timings.total.as_secs_f64();
        let mut outcome = timing_samples(Outcome::ok(String::new()).with_value(seconds), response);
        if !(200..300).contains(&response.status) {
            outcome.status = Status::Critical;
            outcome.reason = format!("HTTP {} (expected 2xx)", response.status);
            return outcome;
        }
        let mut body = String::from_utf8_lossy(&response.body).into_owned();
        let mut notes = Vec::new();
        if response.truncated {
            // The last line may be cut in the middle.
            let end = body.rfind('\n').map_or(0, |i| i + 1);
            body.truncate(end);
            notes.push(format!(
                "body truncated at {} bytes (max_body)",
                response.body.len()
            ));
        }
        let parsed = parse(&body);
        let mut families = BTreeSet::new();
        let mut kept = 0usize;
        let mut matched = 0usize;
        for sample in &parsed.samples {
            if !self.wanted(sample) || !sample.value.is_finite() {
                continue;
            }
            matched += 1;
            if kept >= self.config.max_samples {
                continue;
            }
            let mut key = SeriesKey::new(format!("{}{}", self.config.prefix, sample.name));
            for (label, value) in &sample.labels {
                let label = if label == "check" {
                    "exported_check"
                } else {
                    label.as_str()
                };
                key = key.with(label, value);
            }
            outcome.samples.push((key, sample.value));
            families.insert(sample.family.as_str());
            kept += 1;
        }
        if matched > kept {
            notes.push(format!(
                "kept the first {kept} of {matched} samples (max_samples)"
            ));
        }
        if parsed.bad_lines > 0 {
            notes.push(format!("{} bad lines skipped", parsed.bad_lines));
        }
        outcome
            .samples
            .push((SeriesKey::new("prometheus_scrape_samples"), kept as f64));
        outcome.samples.push((
            SeriesKey::new("prometheus_scrape_bad_lines"),
            parsed.bad_lines as f64,
        ));
        let mut findings = Vec::new();
        let mut extra = Vec::new();
        let cert_note = grade_common(
            response,
            self.config.request.response_time.warning,
            self.config.request.response_time.critical,
            at_ms,
            self.tls.settings(),
            &mut findings,
            &mut extra,
        );
        outcome.samples.extend(extra);
        if let Some(note) = cert_note {
            notes.push(note);
        }
        let family_word = if families.len() == 1 {
            "family"
        } else {
            "families"
        };
        let sample_word = if kept == 1 { "sample" } else { "samples" };
        let mut reason = format!(
            "{kept} {sample_word} from {} {family_word} in {}",
            families.len(),
            seconds_text(seconds)
        );
        if !findings.is_empty() {
            outcome.status = Status::worst(findings.iter().map(|(s, _)| *s));
            let texts: Vec<String> = findings.into_iter().map(|(_, t)| t).collect();
            reason = format!("{}; {reason}", texts.join("; "));
        }
        if !notes.is_empty() {
            reason.push_str(&format!(" ({})", notes.join("; ")));
        }
        outcome.reason = reason;
        outcome
    }
}

impl Check for PrometheusProbe {
    fn attempt(&mut self, at_ms: UnixMillis) -> CheckFuture<'_> {
        Box::pin(self.run(at_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_the_text_format() {
        let text = "# HELP http_requests_total Requests.\n\
# TYPE http_requests_total counter\n\
http_requests_total{method=\"GET\",code=\"200\"} 1027 1395066363000\n\
http_requests_total{method=\"POST\", code=\"500\",} 3\n\
# a free comment\n\
\n\
vedfolnir_health_status{component=\"database\"} 1\n\
escaped{path=\"C:\\\\dir\\\\\",quote=\"say \\\"hi\\\"\",nl=\"a\\nb\"} 2.5e3\n\
# TYPE latency histogram\n\
latency_bucket{le=\"+Inf\"} 7\n\
latency_sum 0.5\n\
nan_gauge NaN\n\
inf_gauge -Inf\n\
no_labels 42\n";
        let parsed = parse(text);
        assert_eq!(parsed.bad_lines, 0);
        let s = &parsed.samples;
        assert_eq!(s.len(), 9);
        assert_eq!(s[0].family, "http_requests_total");
        assert_eq!(s[0].labels, labels(&[("method", "GET"), ("code", "200")]));
        assert_eq!(s[0].value, 1027.0);
        assert_eq!(s[1].labels, labels(&[("method", "POST"), ("code", "500")]));
        assert_eq!(s[2].family, "vedfolnir_health_status");
        assert_eq!(
            s[3].labels,
            labels(&[
                ("path", "C:\\dir\\"),
                ("quote", "say \"hi\""),
                ("nl", "a\nb")
            ])
        );
        assert_eq!(s[3].value, 2500.0);
        assert_eq!(
            (s[4].family.as_str(), s[4].name.as_str()),
            ("latency", "latency_bucket")
        );
        assert_eq!(s[4].labels, labels(&[("le", "+Inf")]));
        assert_eq!(s[5].family, "latency");
        assert!(s[6].value.is_nan());
        assert_eq!(s[7].value, f64::NEG_INFINITY);
        assert_eq!(s[8].family, "no_labels");
    }

    #[test]
    fn bad_lines_are_counted_not_fatal() {
        let bad = [
            "9starts_with_digit 1",
            "no_value",
            "name{unclosed=\"x\" 1",
            "name{l=unquoted} 1",
            "name{l=\"v\"}1",
            "name 1 2 3",
            "name one",
            "name{=\"v\"} 1",
            "name{l=\"v\\",
            "\u{fffd}\u{0} 1",
        ];
        for line in bad {
            let parsed = parse(line);
            assert_eq!(parsed.bad_lines, 1, "{line:?} -> {parsed:?}");
            assert!(parsed.samples.is_empty(), "{line:?}");
        }
        let mixed = parse("ok 1\ngarbage here\nalso_ok{a=\"b\"} 2\n");
        assert_eq!((mixed.samples.len(), mixed.bad_lines), (2, 1));
    }

    #[test]
    fn any_bytes_parse_without_panic() {
        // Every prefix of a tricky text: cut labels, escapes and multibyte characters.
        let text = "a{b=\"\\\\é\\\"\",c=\"ü\"} 1.5 123\n# TYPE x counter\nx_total{} +Inf\n";
        for end in 0..=text.len() {
            if text.is_char_boundary(end) {
                let _ = parse(&text[..end]);
            }
        }
    }
}
