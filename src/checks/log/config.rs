//! Keys of `type = "log"` checks: the file to follow, how much to read per run, whether matched
//! lines may be shown, and the named patterns (`[[check.pattern]]`) with their thresholds.
//!
//! ```toml
//! [[check]]
//! name = "webapp-log"
//! type = "log"
//! path = "/var/log/app/webapp.log"
//! from_start = false          # first run: start at the end of the file (like tail -F)
//! max_bytes_per_run = "8MiB"  # bounded work per run; the rest is read on the next runs
//! keep_samples = false        # true: the detail may show the last matching line (200 chars)
//! [[check.pattern]]
//! name = "maintenance_blocked"
//! regex = "maintenance_operation_blocked"
//! warning = 10                # matching lines per run (one check interval)
//! critical = 50
//! ```
//!
//! Thresholds count matching lines read in one run, i.e. per `interval` of the check.

use std::path::PathBuf;

use regex::Regex;

use crate::base::schema::{Reader, Table, text_kind};
use crate::base::schema::{bool_setting, size_setting};
use crate::base::schema::{optional_number, regex_error_line, required_string};

pub const DEFAULT_MAX_BYTES_PER_RUN: u64 = 8 << 20;

#[derive(Debug, Clone, PartialEq)]
pub struct LogCheck {
    /// `path`: the file to follow.
    pub path: PathBuf,
    /// `from_start`: read the file from its beginning on the first run (default false: the end).
    pub from_start: bool,
    /// `max_bytes_per_run`: the most bytes read in one run (default 8MiB).
    pub max_bytes_per_run: u64,
    /// `keep_samples`: the detail may show the last matching line, truncated (default false).
    pub keep_samples: bool,
    /// `[[check.pattern]]`: at least one.
    pub patterns: Vec<LogPattern>,
}

/// One `[[check.pattern]]`: lines matching `regex` are counted under `name`.
#[derive(Debug, Clone)]
pub struct LogPattern {
    /// `name`: the `pattern` label of the series; unique within the check.
    pub name: String,
    /// `regex`: unanchored (matches anywhere in the line).
    pub regex: Regex,
    /// `warning` / `critical`: matching lines per run at which the check warns / is critical.
    pub warning: Option<f64>,
    pub critical: Option<f64>,
}

impl PartialEq for LogPattern {
    fn eq(&self, other: &LogPattern) -> bool {
        self.name == other.name
            && self.regex.as_str() == other.regex.as_str()
            && self.warning == other.warning
            && self.critical == other.critical
    }
}

pub(crate) fn read_log(r: &mut Reader<'_>, table: &Table<'_, '_>) -> LogCheck {
    let path = required_string(r, table, "path", "\"/var/log/app/webapp.log\"");
    let from_start = bool_setting(r, table, "from_start", false).value;
    let max_bytes_per_run = size_setting(
        r,
        table,
        "max_bytes_per_run",
        DEFAULT_MAX_BYTES_PER_RUN,
        // Read into memory each run: at most 1 GiB.
        |bytes| match *bytes {
            b if b < 4096 => Some("is too small; expected at least 4KiB".to_string()),
            b if b > 1 << 30 => Some("is too large; expected at most \"1GiB\"".to_string()),
            _ => None,
        },
    )
    .value;
    let keep_samples = bool_setting(r, table, "keep_samples", false).value;
    let tables = r.table_array(table, "pattern");
    if tables.is_empty() {
        r.problem(
            table.span.as_ref(),
            &format!("{}.pattern", table.path),
            "missing; a log check needs at least one [[check.pattern]] with a name and a regex",
        );
    }
    let mut patterns: Vec<LogPattern> = Vec::with_capacity(tables.len());
    for pattern in &tables {
        let name = required_string(r, pattern, "name", "\"maintenance_blocked\"");
        if !name.is_empty() {
            r.name_table(pattern, &name);
        }
        let regex_item = r.item_of(pattern, "regex", text_kind("a regex"));
        let regex_span = regex_item.as_ref().map(|item| item.span.clone());
        let regex_text = match regex_item {
            Some(item) => r.text(&item, "a regex string").map(|t| t.value),
            None => {
                r.problem(
                    pattern.span.as_ref(),
                    &format!("{}.regex", pattern.path),
                    "missing; every pattern needs one, like regex = \"maintenance_operation_blocked\"",
                );
                None
            }
        };
        let warning = threshold(r, pattern, "warning");
        let critical = threshold(r, pattern, "critical");
        if let (Some(w), Some(c)) = (warning, critical)
            && w >= c
        {
            r.problem(
                pattern.span.as_ref(),
                &format!("{}.warning", pattern.path),
                format!("{w} must be below critical ({c})"),
            );
        }
        if !name.is_empty() && patterns.iter().any(|p| p.name == name) {
            r.problem(
                pattern.span.as_ref(),
                &format!("{}.name", pattern.path),
                format!("{name:?} is already the name of another pattern of this check"),
            );
        }
        let Some(regex_text) = regex_text else {
            continue;
        };
        match Regex::new(&regex_text) {
            Ok(regex) => patterns.push(LogPattern {
                name,
                regex,
                warning,
                critical,
            }),
            Err(error) => r.problem(
                regex_span.as_ref(),
                &format!("{}.regex", pattern.path),
                format!(
                    "{regex_text:?} is not a valid regex: {}",
                    regex_error_line(&error)
                ),
            ),
        }
    }
    LogCheck {
        path: PathBuf::from(path),
        from_start,
        max_bytes_per_run,
        keep_samples,
        patterns,
    }
}

/// A non-negative number of matching lines per run.
fn threshold(r: &mut Reader<'_>, table: &Table<'_, '_>, key: &'static str) -> Option<f64> {
    let value = optional_number(r, table, key)?;
    if value < 0.0 || !value.is_finite() {
        r.problem(
            table.span.as_ref(),
            &format!("{}.{key}", table.path),
            format!(
                "{value} is out of range; expected a number of matching lines per run, 0 or more"
            ),
        );
        return None;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::CheckKind;
    use crate::checks::testing::{errors, read};

    #[test]
    fn values_are_read() {
        let text = r#"[[check]]
name = "webapp-log"
type = "log"
path = "/var/log/app/webapp.log"
max_bytes_per_run = "1MiB"
[[check.pattern]]
name = "maintenance_blocked"
regex = "maintenance_operation_blocked"
warning = 10
critical = 50
[[check.pattern]]
name = "errors"
regex = "(?i-u)error"
"#;
        let kinds = read(text, &|_| None);
        let CheckKind::Log(log) = &kinds[0] else {
            panic!("not a log check");
        };
        assert_eq!(log.path, PathBuf::from("/var/log/app/webapp.log"));
        assert!(!log.from_start && !log.keep_samples);
        assert_eq!(log.max_bytes_per_run, 1 << 20);
        assert_eq!(log.patterns.len(), 2);
        assert_eq!(log.patterns[0].name, "maintenance_blocked");
        assert_eq!(log.patterns[0].warning, Some(10.0));
        assert_eq!(log.patterns[0].critical, Some(50.0));
        assert_eq!(log.patterns[1].regex.as_str(), "(?i-u)error");
        assert_eq!(log.patterns[1].warning, None);
    }

    #[test]
    fn golden_missing_path_and_patterns() {
        assert_eq!(
            errors("[[check]]\nname = \"l\"\ntype = \"log\"\n"),
            "lookout.toml:1:1: check \"l\".path: missing; this check type needs it, like path = \"/var/log/app/webapp.log\"\n\
             lookout.toml:1:1: check \"l\".pattern: missing; a log check needs at least one [[check.pattern]] with a name and a regex"
        );
    }

    #[test]
    fn golden_pattern_problems() {
        let text = r#"[[check]]
name = "l"
type = "log"
path = "/tmp/x.log"
[[check.pattern]]
name = "a"
[[check.pattern]]
name = "b"
regex = "(unclosed"
[[check.pattern]]
name = "c"
regex = "ok"
warnng = 3
critical = 2
warning = 5
"#;
        assert_eq!(
            errors(text),
            "lookout.toml:5:1: check \"l\".pattern \"a\".regex: missing; every pattern needs one, like regex = \"maintenance_operation_blocked\"\n\
             lookout.toml:9:9: check \"l\".pattern \"b\".regex: \"(unclosed\" is not a valid regex: unclosed group\n\
             lookout.toml:10:1: check \"l\".pattern \"c\".warning: 5 must be below critical (2)\n\
             lookout.toml:13:1: check \"l\".pattern \"c\".warnng: unknown key; did you mean \"warning\"?"
        );
    }
}
