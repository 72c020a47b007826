//! Fuzz target `http_json`: any answer body through the JSON value extraction and assertions
//! of the `http` check (`[[check.extract]]`, `[[check.assert]]`, `maintenance_json_pointer`),
//! with the JSON pointer itself taken from the input too. Nothing may panic, and a number the
//! pointer finds in a JSON body is the value of its `http_extract` series.
//!
//! Input: one flags byte (status code class, maintenance header), a pointer up to the first
//! newline, then the body.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lookout::checks::http::config::{Extract, HttpCheck, JsonAssert, JsonTest};
use lookout::config::{self, CheckKind};
use lookout::checks::http::probe::judge_body;
use serde_json::{Value, json};

/// A check with every kind of assertion and extraction the reader accepts.
const CONFIG: &str = r#"
[[check]]
name = "app"
type = "http"
url = "http://127.0.0.1:5000/health"
expect_status = [200, "300-302", "5xx"]
body_contains = "ok"
body_matches = '"status":\s*"(ok|up)"'
maintenance_json_pointer = "/maintenance"

[[check.assert]]
json_pointer = "/status"
equals = "healthy"

[[check.assert]]
json_pointer = "/database/state"
not_equals = "down"

[[check.assert]]
json_pointer = "/workers/active"
greater_than = 0
less_than = 50

[[check.assert]]
json_pointer = "/error"
exists = false

[[check.assert]]
json_pointer = ""
exists = true

[[check.extract]]
name = "db_healthy"
json_pointer = "/components/database/healthy"

[[check.extract]]
name = "first"
json_pointer = "/0"
"#;

fn base() -> &'static HttpCheck {
    static CHECK: OnceLock<HttpCheck> = OnceLock::new();
    CHECK.get_or_init(|| {
        let config = config::from_str(CONFIG, "fuzz.toml", &|_| None).expect("a valid config");
        match config.checks.into_iter().next().map(|c| c.kind) {
            Some(CheckKind::Http(http)) => http,
            _ => unreachable!("one http check"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (pointer, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (&rest[..0], rest),
    };
    let pointer = String::from_utf8_lossy(pointer).into_owned();
    let mut check = base().clone();
    check.extracts.push(Extract {
        name: "fuzzed".to_string(),
        pointer: pointer.clone(),
    });
    check.asserts.push(JsonAssert {
        pointer: pointer.clone(),
        tests: vec![
            JsonTest::Exists(true),
            JsonTest::NotEquals(json!(null)),
            JsonTest::Equals(json!(1.5)),
            JsonTest::LessThan(f64::MAX),
            JsonTest::GreaterThan(f64::MIN),
        ],
    });
    let status = [200, 204, 301, 404, 503, 0, 999][usize::from(flags & 7) % 7];
    let headers: &[(&str, &[u8])] = match flags >> 3 & 3 {
        0 => &[],
        1 => &[("X-Maintenance-Active", b"true"), ("Retry-After", b"1800")],
        2 => &[
            ("x-maintenance-active", b" 1 "),
            ("X-Maintenance-Mode", b"\xff\xfe"),
        ],
        _ => &[
            ("X-Maintenance-Active", b"true"),
            ("Retry-After", b"soon\x7f"),
        ],
    };
    let outcome = judge_body(&check, status, headers, body);

    // The oracle: a number the pointer finds is kept as is.
    if let Ok(json) = serde_json::from_slice::<Value>(body)
        && let Some(Value::Number(number)) = json.pointer(&pointer)
        && let Some(expected) = number.as_f64()
    {
        let kept = outcome
            .samples
            .iter()
            .find(|(key, _)| key.name() == "http_extract" && key.label("name") == Some("fuzzed"))
            .map(|(_, value)| *value);
        assert_eq!(kept, Some(expected), "pointer {pointer:?}");
    }
});
