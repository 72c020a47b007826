//! Readers shared by the sections and kinds of a config (optional strings, string lists,
//! string maps, HTTP headers kept as `Secret`s, numbers) and the validation of http(s) URLs and
//! ports (`check_http_url`, `port_problem`).

use std::collections::BTreeMap;
use std::ops::Range;

use toml::de::DeValue;

use super::reader::{Kind, Reader, Table, a_type, join};
use crate::base::secret::Secret;

/// `Kind::Text` with `form`.
pub fn text_kind(form: &str) -> Kind {
    Kind::Text {
        form: form.to_string(),
    }
}

/// An optional string key (after `${ENV}` substitution).
pub fn optional_string(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
) -> Option<String> {
    let item = r.item_of(table, key, text_kind("a string"))?;
    r.text(&item, "a string").map(|text| text.value)
}

/// A required string key (after `${ENV}` substitution) and where it is written. A missing one
/// is reported at its table as `missing; {why}`: every "required" reader words its message
/// through this one.
pub fn required_text(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    why: &str,
) -> Option<(String, Range<usize>)> {
    r.require(table, key);
    match r.item_of(table, key, text_kind("a string")) {
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

/// A required string key of a check type; a missing one is a problem naming `example`.
pub fn required_string(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    example: &str,
) -> String {
    let why = format!("this check type needs it, like {key} = {example}");
    required_text(r, table, key, &why)
        .map(|(value, _)| value)
        .unwrap_or_default()
}

/// A required string that must not be blank, trimmed; `why, like example` words both problems
/// (missing, blank).
pub fn required_nonblank(
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

/// A required http(s) URL, trimmed and kept as a `Secret`: a problem says what is wrong
/// ([`check_http_url`]), never the URL (it may hold a token). A missing one is reported as
/// `missing; {why}, like {key} = "{example}"`.
pub fn required_http_url(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    example: &str,
    why: &str,
) -> Secret {
    let why = format!("{why}, like {key} = {example:?}");
    let found = required_text(r, table, key, &why);
    r.declare(table, key, text_kind("an http(s) URL"));
    let Some((url, span)) = found else {
        return Secret::default();
    };
    if let Err(why) = check_http_url(&url, example) {
        r.problem(Some(&span), &join(&table.path, key), why);
        return Secret::default();
    }
    Secret::new(url.trim())
}

/// An optional http(s) URL, trimmed and kept as a `Secret` (a ping URL is a credential:
/// whoever has it can ping for us); like [`required_http_url`], its problem never quotes it.
pub fn optional_http_url(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    example: &str,
) -> Option<Secret> {
    let item = r.item_of(table, key, text_kind("an http(s) URL"))?;
    let text = r.text(&item, "a URL string")?;
    match check_http_url(&text.value, example) {
        Ok(()) => Some(Secret::new(text.value.trim())),
        Err(why) => {
            r.problem(Some(&item.span), &item.path, why);
            None
        }
    }
}

/// A list of strings, with each element's span and path (for later validation messages).
pub fn string_list(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
) -> Vec<(String, Option<Range<usize>>, String)> {
    let kind = Kind::Texts {
        form: "a string".to_string(),
    };
    let Some(item) = r.item_of(table, key, kind) else {
        return Vec::new();
    };
    let Some(elements) = r.elements(&item, "an array of strings") else {
        return Vec::new();
    };
    elements
        .iter()
        .filter_map(|element| {
            r.text(element, "a string")
                .map(|text| (text.value, Some(element.span.clone()), element.path.clone()))
        })
        .collect()
}

/// A table of string values with free-form keys, e.g. `headers = { Authorization = "..." }`.
pub fn string_map(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
) -> BTreeMap<String, String> {
    let map = r.table(table, key);
    r.accept_all_keys(&map);
    let mut out = BTreeMap::new();
    for (name, item) in r.entries(&map) {
        if let Some(text) = r.text(&item, "a string") {
            out.insert(name, text.value);
        }
    }
    out
}

/// `key = { Name = "value" }`: HTTP headers to send, values kept as `Secret`s. A bad name, a
/// name in `reserved` (lowercase: headers Lookout sets itself) or a value that cannot be sent
/// is reported at the value and left out; the value itself is never shown.
pub fn header_map(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    reserved: &[&str],
) -> Vec<(String, Secret)> {
    let map = r.table(table, key);
    r.accept_all_keys(&map);
    let mut out = Vec::new();
    for (name, item) in r.entries(&map) {
        let Some(text) = r.text(&item, "a string") else {
            continue;
        };
        let valid_name = hyper::header::HeaderName::from_bytes(name.as_bytes()).is_ok();
        if !valid_name {
            r.problem(
                Some(&item.span),
                &item.path,
                "is not a valid HTTP header name",
            );
        } else if reserved.contains(&name.to_ascii_lowercase().as_str()) {
            r.problem(
                Some(&item.span),
                &item.path,
                "is set by Lookout itself and cannot be configured",
            );
        } else if hyper::header::HeaderValue::from_str(&text.value).is_err() {
            // The value may be a secret: say what is wrong, not what it is.
            r.problem(
                Some(&item.span),
                &item.path,
                "the value cannot be sent in a header (control characters or non-ASCII)",
            );
        } else {
            out.push((name, Secret::new(text.value)));
        }
    }
    out
}

/// An `http://` or `https://` URL with a host and, if it has a port, a valid one. The error
/// names the problem without quoting the URL (it may carry a token); `example` is the URL
/// shown as the expected form. Every reader of an http(s) URL goes through this function or
/// [`port_problem`].
pub fn check_http_url(url: &str, example: &str) -> Result<(), String> {
    let form = format!("expected http:// or https:// and a host, like {example:?}");
    let lower = url.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(|| format!("is not an http(s) URL; {form}"))?;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("has no host; {form}"));
    }
    if let Some(problem) = port_problem(url) {
        return Err(format!("{problem}, like {example:?}"));
    }
    url.trim()
        .parse::<hyper::Uri>()
        .map(|_| ())
        .map_err(|_| format!("is not a valid URL; {form}"))
}

/// What is wrong with the port of `scheme://[userinfo@]host[:port]/...`, if anything: a port
/// must be a number from 1 to 65535. (`hyper::Uri` accepts any digits there and then reports
/// no port at all, so a check of `http://host:99999/` would quietly connect to port 80.)
/// The message never quotes the URL.
pub fn port_problem(url: &str) -> Option<String> {
    let rest = url.trim().split_once("://")?.1;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    // An IPv6 literal's colons are not a port separator.
    let after_host = match host_port.strip_prefix('[') {
        Some(literal) => literal.split_once(']').map_or("", |(_, after)| after),
        None => host_port.find(':').map_or("", |colon| &host_port[colon..]),
    };
    let port = after_host.strip_prefix(':')?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 => None,
        _ => Some(format!(
            "has an invalid port {port:?}; expected a port from 1 to 65535"
        )),
    }
}

/// A path written in a config: not blank (`empty` says what is expected instead) and not
/// starting with "~", which no shell expands there.
pub fn path_text(text: &super::Text, empty: &str) -> Result<std::path::PathBuf, String> {
    let value = text.value.as_str();
    if value.trim().is_empty() {
        Err(format!("must not be empty; {empty}"))
    } else if value == "~" || value.starts_with("~/") {
        Err(format!(
            "{}: \"~\" is not expanded; write the full path, or \"${{HOME}}/...\"",
            text.quoted()
        ))
    } else {
        Ok(std::path::PathBuf::from(value))
    }
}

/// An optional number (integer or float).
pub fn optional_number(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
) -> Option<f64> {
    let item = r.item_of(table, key, Kind::Number)?;
    match item.value {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .ok()
            .map(|n| n as f64),
        DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
        other => {
            let message = format!("expected a number, found {}", a_type(other));
            r.problem(Some(&item.span), &item.path, message);
            None
        }
    }
}

#[cfg(test)]
mod port_tests {
    use super::*;

    #[test]
    fn ports_must_be_1_to_65535() {
        for ok in [
            "http://127.0.0.1:8080/x",
            "http://h/",
            "https://u:p@h:443",
            "http://[::1]:9090/",
            "http://[::1]/",
        ] {
            assert_eq!(port_problem(ok), None, "{ok}");
        }
        for bad in [
            "http://127.0.0.1:99999999/",
            "http://127.0.0.1:65616/",
            "http://h:0/",
            "http://h:/",
            "http://h:80a/",
            "http://[::1]:70000/",
            "https://u:p@h:65536?x=1",
        ] {
            let problem = port_problem(bad).unwrap_or_default();
            assert!(problem.contains("1 to 65535"), "{bad}: {problem}");
            assert!(check_http_url(bad, "http://h").is_err(), "{bad}");
        }
    }
}
