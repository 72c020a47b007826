//! Label matchers in Prometheus syntax (`name="x"`, `name!="x"`, `name=~"re"`, `name!~"re"`),
//! used by rules to pick series and by silences and inhibitions to pick alerts. Regexes are
//! anchored, as in Prometheus. A missing label matches as the empty string.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;

/// What matchers look labels up in: an alert's labels, or a series' key.
pub trait LabelSet {
    fn label_value(&self, label: &str) -> Option<&str>;
}

impl LabelSet for BTreeMap<String, String> {
    fn label_value(&self, label: &str) -> Option<&str> {
        self.get(label).map(String::as_str)
    }
}

impl LabelSet for crate::model::SeriesKey {
    fn label_value(&self, label: &str) -> Option<&str> {
        self.label(label)
    }
}

#[derive(Debug, Clone)]
pub enum MatchOp {
    Equal(String),
    NotEqual(String),
    Regex(Regex),
    NotRegex(Regex),
}

#[derive(Debug, Clone)]
pub struct Matcher {
    pub label: String,
    pub op: MatchOp,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Matcher {
    pub fn matches(&self, labels: &(impl LabelSet + ?Sized)) -> bool {
        let value = labels.label_value(&self.label).unwrap_or("");
        match &self.op {
            MatchOp::Equal(want) => value == want,
            MatchOp::NotEqual(want) => value != want,
            MatchOp::Regex(re) => re.is_match(value),
            MatchOp::NotRegex(re) => !re.is_match(value),
        }
    }

    /// Parses `label="value"`, `label!="value"`, `label=~"regex"` or `label!~"regex"`
    /// (quotes optional). The error says what is wrong and the expected form.
    pub fn parse(text: &str) -> Result<Matcher, String> {
        let form =
            "expected label=\"value\", label!=\"value\", label=~\"regex\" or label!~\"regex\"";
        let text = text.trim();
        let (label, op, rest) = ["!=", "=~", "!~", "="]
            .iter()
            .filter_map(|op| text.find(op).map(|at| (at, *op)))
            .min_by_key(|(at, op)| (*at, std::cmp::Reverse(op.len())))
            .map(|(at, op)| (&text[..at], op, &text[at + op.len()..]))
            .ok_or_else(|| format!("{text:?} is not a matcher; {form}"))?;
        let label = label.trim();
        let valid_label = label
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_label {
            return Err(format!("{label:?} is not a label name in {text:?}; {form}"));
        }
        let rest = rest.trim();
        let value = rest
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .unwrap_or(rest)
            .replace("\\\"", "\"");
        let regex = |value: &str| {
            Regex::new(&format!("^(?:{value})$"))
                .map_err(|e| format!("{value:?} is not a valid regex in {text:?}: {e}"))
        };
        let op = match op {
            "=" => MatchOp::Equal(value),
            "!=" => MatchOp::NotEqual(value),
            "=~" => MatchOp::Regex(regex(&value)?),
            _ => MatchOp::NotRegex(regex(&value)?),
        };
        Ok(Matcher {
            label: label.to_string(),
            op,
        })
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unanchor = |re: &Regex| {
            let s = re.as_str();
            s.strip_prefix("^(?:")
                .and_then(|s| s.strip_suffix(")$"))
                .unwrap_or(s)
                .to_string()
        };
        let (op, value) = match &self.op {
            MatchOp::Equal(v) => ("=", v.clone()),
            MatchOp::NotEqual(v) => ("!=", v.clone()),
            MatchOp::Regex(re) => ("=~", unanchor(re)),
            MatchOp::NotRegex(re) => ("!~", unanchor(re)),
        };
        write!(f, "{}{op}{:?}", self.label, value)
    }
}

/// True when every matcher matches (an empty list matches everything).
pub fn all_match(matchers: &[Matcher], labels: &(impl LabelSet + ?Sized)) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_and_matches_the_four_operators() {
        let alert = labels(&[("check", "app"), ("severity", "critical")]);
        let cases = [
            ("check=\"app\"", true),
            ("check = app", true),
            ("check!=\"app\"", false),
            ("check=~\"ap.*\"", true),
            ("check=~\"ap\"", false), // anchored
            ("check!~\"db|cache\"", true),
            ("mountpoint=\"\"", true), // a missing label is empty
            ("severity=~\"warning|critical\"", true),
        ];
        for (text, expected) in cases {
            let matcher = Matcher::parse(text).unwrap();
            assert_eq!(matcher.matches(&alert), expected, "{text}");
        }
    }

    #[test]
    fn bad_matchers_say_what_is_wrong() {
        assert_eq!(
            Matcher::parse("check").unwrap_err(),
            "\"check\" is not a matcher; expected label=\"value\", label!=\"value\", label=~\"regex\" or label!~\"regex\""
        );
        assert!(
            Matcher::parse("9x=\"a\"")
                .unwrap_err()
                .contains("is not a label name")
        );
        assert!(
            Matcher::parse("a=~\"(\"")
                .unwrap_err()
                .contains("is not a valid regex")
        );
    }

    #[test]
    fn displays_back_in_the_syntax_it_was_written_in() {
        for text in [
            "check=\"app\"",
            "check!=\"app\"",
            "check=~\"ap.*\"",
            "check!~\"db\"",
        ] {
            assert_eq!(Matcher::parse(text).unwrap().to_string(), text);
        }
    }
}
