//! Typed settings over the `Reader`: each getter returns the value (the default when absent or
//! wrong) as a `Field` that remembers where it was written, so checks relating two settings
//! (`not_longer`, `warning_below_critical`) blame the one the user wrote. Durations, sizes,
//! percents (`base::units`), booleans, whole numbers, anchored regex lists, the `name` and
//! `type` of a table of an array (with a did-you-mean). The wording of messages is kept
//! consistent so golden tests can pin them:
//! - wrong TOML type: `expected <form>, found <type>`
//! - unreadable string: `"<value>" is not a <thing>; expected <form, with examples>`
//! - out of range: `"<value>" <what is wrong>; expected <range>`

use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

use regex::Regex;
use toml::de::DeValue;

use super::fields::string_list;
use super::reader::{Field, Item, Kind, Reader, Table, Text, a_type, join};
use crate::base::units::{
    MAX_DURATION_TEXT, UnitError, format_duration, format_percent, parse_duration, parse_percent,
    parse_size,
};

pub const DURATION_TYPE: &str = "a duration string like \"10s\"";
pub const DURATION_FORM: &str =
    "expected a number and a unit, like \"500ms\", \"10s\", \"5m\", \"1h\" or \"7d\"";
pub const SIZE_TYPE: &str = "a size string like \"512MiB\" or \"1GiB\", or a number of bytes";
pub const SIZE_FORM: &str = "expected a number and a unit, like \"512MiB\", \"1GiB\" or \"100MB\"";
pub const PERCENT_TYPE: &str = "a percentage string like \"80%\"";
pub const PATTERNS_TYPE: &str = "an array of regex strings, like [\"lo\", \"veth.*\"]";

// ---- Typed settings. Each returns the value (the default when absent or wrong) and where it
// ---- was written, for the checks that relate two settings.

pub fn field<T>(
    table: &Table<'_, '_>,
    key: &str,
    value: T,
    span: Option<Range<usize>>,
    valid: bool,
) -> Field<T> {
    Field {
        value,
        path: join(&table.path, key),
        span,
        valid,
    }
}

/// An optional setting of a typed leaf value (a cron expression, a time zone, an instant...)
/// written as a string: `T::from_str` reads it, and its error is what is wrong with the text,
/// which the problem puts after the quoted value (`"0 25 * * *" is not a cron expression...`).
pub fn parsed_setting<T: FromStr<Err = String>>(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    expected_type: &str,
) -> Field<Option<T>> {
    string_setting(r, table, key, None, expected_type, |text| {
        text.value
            .parse()
            .map(Some)
            .map_err(|why| format!("{} {why}", text.quoted()))
    })
}

/// A setting written as a string, converted by `convert` (whose error is the whole message).
pub fn string_setting<T>(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    default: T,
    expected_type: &str,
    convert: impl FnOnce(&Text) -> Result<T, String>,
) -> Field<T> {
    let form = expected_type.to_string();
    let Some(item) = r.item_of(table, key, Kind::Text { form }) else {
        return field(table, key, default, None, true);
    };
    let converted = r
        .text(&item, expected_type)
        .ok_or(None)
        .and_then(|text| convert(&text).map_err(Some));
    settle(r, table, key, default, item, converted)
}

/// Turns the outcome of reading `item` into a field, recording the problem if there is one.
/// `Err(None)` means the problem is already recorded.
pub fn settle<T>(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &str,
    default: T,
    item: Item<'_, '_>,
    outcome: Result<T, Option<String>>,
) -> Field<T> {
    match outcome {
        Ok(value) => field(table, key, value, Some(item.span), true),
        Err(message) => {
            if let Some(message) = message {
                r.problem(Some(&item.span), &item.path, message);
            }
            field(table, key, default, Some(item.span), false)
        }
    }
}

pub fn bool_setting(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    default: bool,
) -> Field<bool> {
    r.default_is(table, key, default);
    let Some(item) = r.item_of(table, key, Kind::Bool) else {
        return field(table, key, default, None, true);
    };
    let outcome = match item.value {
        DeValue::Boolean(value) => Ok(*value),
        DeValue::String(text) if text == "true" || text == "false" => Err(Some(format!(
            "expected a boolean (true or false), found a string; write {text} without quotes"
        ))),
        other => Err(Some(format!(
            "expected a boolean (true or false), found {}",
            a_type(other)
        ))),
    };
    settle(r, table, key, default, item, outcome)
}

/// A duration setting; `check` returns what is wrong with a well-formed value, if anything.
pub fn duration_setting(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    default: Duration,
    check: impl FnOnce(&Duration) -> Option<String>,
) -> Field<Duration> {
    r.default_is(table, key, format_duration(default));
    string_setting(r, table, key, default, DURATION_TYPE, |text| {
        let duration = parse_duration(&text.value).map_err(|error| match error {
            UnitError::TooLarge => format!(
                "{} is too large a duration; expected at most {MAX_DURATION_TEXT}",
                text.quoted()
            ),
            UnitError::Malformed | UnitError::OutOfRange => {
                format!("{} is not a duration; {DURATION_FORM}", text.quoted())
            }
        })?;
        match check(&duration) {
            Some(wrong) => Err(format!("{} {wrong}", text.quoted())),
            None => Ok(duration),
        }
    })
}

/// The whole-number types of settings.
pub trait Whole:
    Copy + PartialOrd + std::fmt::Display + TryFrom<u64> + Into<serde_json::Value>
{
    /// For the schema's bounds (saturating).
    fn bound(self) -> i64;
}

impl Whole for u32 {
    fn bound(self) -> i64 {
        i64::from(self)
    }
}

impl Whole for u64 {
    fn bound(self) -> i64 {
        i64::try_from(self).unwrap_or(i64::MAX)
    }
}

/// A whole number within `range` (`1_000` and hex written as TOML allows).
pub fn whole_setting<N: Whole>(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    default: N,
    range: std::ops::RangeInclusive<N>,
) -> Field<N> {
    r.default_is(table, key, default);
    let kind = Kind::Integer {
        min: range.start().bound(),
        max: range.end().bound(),
    };
    let Some(item) = r.item_of(table, key, kind) else {
        return field(table, key, default, None, true);
    };
    let outcome = match item.value {
        DeValue::Integer(i) => u64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
            .ok()
            .and_then(|n| N::try_from(n).ok())
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                Some(format!(
                    "{} is out of range; expected a whole number from {} to {}",
                    i.as_str(),
                    range.start(),
                    range.end()
                ))
            }),
        other => Err(Some(format!(
            "expected a whole number, like {key} = {default}, found {}",
            a_type(other)
        ))),
    };
    settle(r, table, key, default, item, outcome)
}

/// Two settings that only work together (a certificate and its key, a user and its
/// password): one written without the other is reported at the one written, `message` given
/// the path of the missing one. A value with its own problem is not blamed again.
pub fn both_or_neither<A, B>(
    r: &mut Reader<'_>,
    a: &Field<Option<A>>,
    b: &Field<Option<B>>,
    message: impl Fn(&str) -> String,
) {
    if !(a.valid && b.valid) {
        return;
    }
    match (&a.value, &b.value) {
        (Some(_), None) => r.problem(a.span.as_ref(), &a.path, message(&b.path)),
        (None, Some(_)) => r.problem(b.span.as_ref(), &b.path, message(&a.path)),
        _ => {}
    }
}

/// A duration check for `duration_setting`: from `min` to `max`, `what` saying what it is.
pub fn within(min: Duration, max: Duration, what: &str) -> impl Fn(&Duration) -> Option<String> {
    move |d: &Duration| {
        (*d < min || *d > max).then(|| {
            format!(
                "is out of range; expected from \"{}\" to \"{}\" ({what})",
                format_duration(min),
                format_duration(max)
            )
        })
    }
}

pub fn positive(duration: &Duration) -> Option<String> {
    duration
        .is_zero()
        .then(|| "must be greater than zero".to_string())
}

/// A size setting: a string with a unit, or an integer number of bytes.
pub fn size_setting(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    default: u64,
    check: impl FnOnce(&u64) -> Option<String>,
) -> Field<u64> {
    r.default_is(table, key, crate::base::units::format_size(default));
    let Some(item) = r.item_of(table, key, Kind::Size) else {
        return field(table, key, default, None, true);
    };
    let parsed: Result<(u64, String), Option<String>> = match item.value {
        DeValue::Integer(integer) => u64::from_str_radix(integer.as_str(), integer.radix())
            .map(|bytes| (bytes, integer.to_string()))
            .map_err(|_| {
                Some(format!(
                    "{integer} is not a size; {SIZE_FORM}, or a number of bytes"
                ))
            }),
        DeValue::String(_) => match r.text(&item, SIZE_TYPE) {
            None => Err(None),
            Some(text) => parse_size(&text.value)
                .map(|bytes| (bytes, text.quoted()))
                .map_err(|error| {
                    Some(match error {
                        UnitError::TooLarge => format!("{} is too large a size", text.quoted()),
                        UnitError::Malformed | UnitError::OutOfRange => {
                            format!("{} is not a size; {SIZE_FORM}", text.quoted())
                        }
                    })
                }),
        },
        other => Err(Some(format!(
            "expected {SIZE_TYPE}, found {}",
            a_type(other)
        ))),
    };
    let outcome = parsed.and_then(|(bytes, quoted)| match check(&bytes) {
        Some(wrong) => Err(Some(format!("{quoted} {wrong}"))),
        None => Ok(bytes),
    });
    settle(r, table, key, default, item, outcome)
}

/// A percent setting ("80%"), stored as a ratio.
pub fn percent_setting(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    default: f64,
) -> Field<f64> {
    r.default_is(table, key, format_percent(default));
    string_setting(r, table, key, default, PERCENT_TYPE, |text| {
        parse_percent(&text.value).map_err(|error| match error {
            UnitError::OutOfRange | UnitError::TooLarge => {
                format!("{} is out of range; expected 0% to 100%", text.quoted())
            }
            UnitError::Malformed => format!(
                "{} is not a percentage; expected a number and a percent sign, like \"80%\"",
                text.quoted()
            ),
        })
    })
}

/// A list of regexes (anchored); when the key is present it replaces the default list.
pub fn pattern_list(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    default: &[Regex],
    compile: impl Fn(&str) -> Result<Regex, regex::Error>,
) -> Vec<Regex> {
    let written: Vec<&str> = default.iter().map(unanchored).collect();
    r.default_is(table, key, written);
    let form = "a regex matching the whole name".to_string();
    let Some(item) = r.item_of(table, key, Kind::Texts { form }) else {
        return default.to_vec();
    };
    let Some(elements) = r.elements(&item, PATTERNS_TYPE) else {
        return default.to_vec();
    };
    let mut patterns = Vec::with_capacity(elements.len());
    for element in &elements {
        let Some(text) = r.text(element, "a regex string") else {
            continue;
        };
        match compile(&text.value) {
            Ok(regex) => patterns.push(regex),
            Err(error) => {
                let message = format!(
                    "{} is not a valid regex: {}",
                    text.quoted(),
                    regex_error_line(&error)
                );
                r.problem(Some(&element.span), &element.path, message);
            }
        }
    }
    patterns
}

/// The one line of a regex error that says what is wrong. Syntax errors are multi-line
/// (pattern, caret, "error: ..."); a config problem must fit on one line. Every reader of a
/// regex words its problem with this.
pub fn regex_error_line(error: &regex::Error) -> String {
    match error {
        regex::Error::Syntax(text) => text
            .lines()
            .find_map(|line| line.strip_prefix("error: "))
            .map_or_else(
                || text.split_whitespace().collect::<Vec<_>>().join(" "),
                str::to_string,
            ),
        regex::Error::CompiledTooBig(limit) => {
            format!("it compiles to more than the limit of {limit} bytes; simplify it")
        }
        other => other.to_string().replace('\n', " "),
    }
}

// ---- Checks relating two settings. The problem goes to the one the user wrote (or, if both,
// ---- to the first), and says the other's value and whether that is the default.

pub fn describe_other<T>(other: &Field<T>, format: impl Fn(&T) -> String) -> String {
    let name = other.path.rsplit('.').next().unwrap_or(&other.path);
    let default = if other.span.is_none() {
        ", the default"
    } else {
        ""
    };
    format!("{name} (\"{}\"{default})", format(&other.value))
}

/// `shorter` must not be longer than `longer` (retention tiers).
pub fn not_longer(
    r: &mut Reader<'_>,
    shorter: &Field<Duration>,
    longer: &Field<Duration>,
    rule: &str,
) {
    if !(shorter.valid && longer.valid) || shorter.value <= longer.value {
        return;
    }
    let fmt = |d: &Duration| format_duration(*d);
    let (blamed, message) = if longer.span.is_some() {
        let other = describe_other(shorter, fmt);
        (
            longer,
            format!("\"{}\" is shorter than {other}; {rule}", fmt(&longer.value)),
        )
    } else {
        let other = describe_other(longer, fmt);
        (
            shorter,
            format!("\"{}\" is longer than {other}; {rule}", fmt(&shorter.value)),
        )
    };
    r.problem(blamed.span.as_ref(), &blamed.path, message);
}

/// A warning threshold must be strictly below its critical one, or the warning never shows.
pub fn warning_below_critical(r: &mut Reader<'_>, warning: &Field<f64>, critical: &Field<f64>) {
    if !(warning.valid && critical.valid) || warning.value < critical.value {
        return;
    }
    let fmt = |ratio: &f64| format_percent(*ratio);
    let (blamed, message) = if warning.span.is_some() {
        let other = describe_other(critical, fmt);
        (
            warning,
            format!("\"{}\" must be below {other}", fmt(&warning.value)),
        )
    } else {
        let other = describe_other(warning, fmt);
        (
            critical,
            format!("\"{}\" must be above {other}", fmt(&critical.value)),
        )
    };
    r.problem(blamed.span.as_ref(), &blamed.path, message);
}

/// The `name` of one table of an array (`[[check]]`, `[[notifier]]`): required, trimmed, no
/// control characters, unique among `taken`. `noun` and `example` word the messages. A valid
/// name names the table: its problems are keyed `check "app".timeout` (`Reader::name_table`).
pub fn unique_name(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    taken: &mut std::collections::HashSet<String>,
    noun: &str,
    example: &str,
) -> Field<String> {
    let name = string_setting(r, table, "name", String::new(), "a name string", |text| {
        let name = text.value.trim();
        if name.is_empty() {
            Err(format!(
                "must not be empty; expected a short name like \"{example}\""
            ))
        } else if name.chars().any(|c| c.is_control()) {
            Err(format!("{} contains control characters", text.quoted()))
        } else {
            Ok(name.to_string())
        }
    });
    r.require(table, "name");
    if name.span.is_none() {
        r.problem(
            table.span.as_ref(),
            &format!("{}.name", table.path),
            format!("missing; every {noun} needs a name, like name = \"{example}\""),
        );
    } else if name.valid {
        if taken.insert(name.value.clone()) {
            r.name_table(table, &name.value);
        } else {
            r.problem(
                name.span.as_ref(),
                &name.path,
                format!(
                    "{:?} is already the name of another {noun}; names must be unique",
                    name.value
                ),
            );
        }
    }
    name
}

/// The message for `name`, which should name a `[[<noun>]]` table but names none of `known`:
/// `"x" is not the name of any check; expected one of "a", "b"`.
pub fn unknown_name(name: &str, noun: &str, known: &[&str]) -> String {
    let hint = if known.is_empty() {
        format!("there is no [[{noun}]]; add one with this name")
    } else {
        let quoted: Vec<String> = known.iter().map(|k| format!("{k:?}")).collect();
        format!("expected one of {}", quoted.join(", "))
    };
    format!("{name:?} is not the name of any {noun}; {hint}")
}

/// An optional list of names (`checks = ["app", "db"]`), each of which must name one of the
/// `[[noun]]` tables, `known`; `None` when the key is not written.
pub fn name_list(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
    noun: &str,
    known: &[&str],
) -> Option<Vec<String>> {
    let kind = Kind::Texts {
        form: format!("a [[{noun}]] name"),
    };
    r.item_of(table, key, kind.clone())?;
    let names = string_list(r, table, key);
    r.declare(table, key, kind);
    let mut out = Vec::new();
    for (name, span, path) in names {
        let name = name.trim();
        if known.contains(&name) {
            out.push(name.to_string());
        } else {
            r.problem(span.as_ref(), &path, unknown_name(name, noun, known));
        }
    }
    Some(out)
}

/// "postgres, mysql or sqlite".
pub fn or_list<S: AsRef<str>>(words: &[S]) -> String {
    let words: Vec<&str> = words.iter().map(AsRef::as_ref).collect();
    match words.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The `type` of one table of a closed set (`[[check]]`, `[[notifier]]`): required, one of
/// `types`, with a did-you-mean for a near miss.
pub fn closed_type(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    types: &[&str],
    noun: &str,
) -> Field<String> {
    let expected = || {
        types
            .iter()
            .map(|t| format!("{t:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let type_field = string_setting(r, table, "type", String::new(), "a type string", |text| {
        let value = text.value.trim();
        if types.contains(&value) {
            return Ok(value.to_string());
        }
        let closest = types
            .iter()
            .map(|t| (strsim::jaro_winkler(value, t), *t))
            .filter(|(similarity, _)| *similarity >= 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        Err(match closest {
            Some((_, t)) => format!(
                "{} is not a {noun} type; did you mean {t:?}?",
                text.quoted()
            ),
            None => format!(
                "{} is not a {noun} type; expected one of {}",
                text.quoted(),
                expected()
            ),
        })
    });
    r.declare(
        table,
        "type",
        Kind::OneOf(types.iter().map(|t| t.to_string()).collect()),
    );
    r.require(table, "type");
    if type_field.span.is_none() {
        r.problem(
            table.span.as_ref(),
            &format!("{}.type", table.path),
            format!("missing; expected one of {}", expected()),
        );
    }
    type_field
}

/// Compiles `pattern` to match whole names only. The pattern is first compiled on its own:
/// that rejects text such as `a)|(b` that would escape the `^(?:...)$` wrapper, and makes
/// syntax errors point into what the user wrote.
pub fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(pattern)?;
    Regex::new(&format!("^(?:{pattern})$"))
}

/// The pattern as written, for a regex made by `anchored`.
pub fn unanchored(regex: &Regex) -> &str {
    let text = regex.as_str();
    text.strip_prefix("^(?:")
        .and_then(|inner| inner.strip_suffix(")$"))
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_errors_fit_on_one_line() {
        let error = anchored("(eth").err();
        let line = error.as_ref().map(regex_error_line);
        assert_eq!(line.as_deref(), Some("unclosed group"));
    }
}
