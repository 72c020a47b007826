//! `${NAME}` substitution in config string values, done before a value is interpreted (so
//! `interval = "${LOOKOUT_INTERVAL}"` is then parsed as a duration). `$${` stands for a literal
//! `${`; any other `$` is kept as is. Substituted text is not scanned again, so a variable's
//! value can never inject another reference.
//!
//! Pure: the environment is a lookup function, so tests pass a table instead of `std::env`.

/// Why a string's references could not all be substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpandError {
    /// `${NAME}` where NAME is not set.
    Unset { name: String },
    /// `${` with no closing `}`.
    Unterminated,
    /// `${...}` whose content is not a variable name, e.g. `${1X}` or `${}`.
    BadName { reference: String },
}

impl ExpandError {
    /// The message, phrased to follow `key: ` in a problem line.
    pub fn message(&self) -> String {
        match self {
            ExpandError::Unset { name } => {
                format!("environment variable {name} is not set (referenced as ${{{name}}})")
            }
            ExpandError::Unterminated => {
                "\"${\" is not closed by \"}\"; write \"$${\" for a literal \"${\"".to_string()
            }
            ExpandError::BadName { reference } => format!(
                "{reference:?} is not a valid environment variable reference; a name is letters, \
                 digits and _, not starting with a digit (write \"$${{\" for a literal \"${{\")"
            ),
        }
    }
}

/// Substitutes every `${NAME}` in `raw`. All problems are returned, not just the first.
pub fn expand(raw: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, Vec<ExpandError>> {
    let mut out = String::with_capacity(raw.len());
    let mut errors = Vec::new();
    let mut rest = raw;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let from_dollar = &rest[dollar..];
        if let Some(after) = from_dollar.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = from_dollar.strip_prefix("${") {
            let Some(close) = after.find('}') else {
                errors.push(ExpandError::Unterminated);
                break;
            };
            let name = &after[..close];
            if !is_variable_name(name) {
                errors.push(ExpandError::BadName {
                    reference: format!("${{{name}}}"),
                });
            } else if let Some(value) = env(name) {
                out.push_str(&value);
            } else {
                errors.push(ExpandError::Unset {
                    name: name.to_string(),
                });
            }
            rest = &after[close + 1..];
        } else {
            out.push('$');
            rest = &from_dollar[1..];
        }
    }
    if errors.is_empty() {
        out.push_str(rest);
        Ok(out)
    } else {
        Err(errors)
    }
}

/// POSIX shell variable names: what `export NAME=...` accepts.
fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/ops".into()),
            "PORT" => Some("9898".into()),
            "EMPTY" => Some(String::new()),
            "TRICKY" => Some("${HOME}".into()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_and_escapes() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("", ""),
            ("${HOME}/data", "/home/ops/data"),
            ("127.0.0.1:${PORT}", "127.0.0.1:9898"),
            ("${HOME}${PORT}", "/home/ops9898"),
            ("a${EMPTY}b", "ab"),
            ("$${HOME}", "${HOME}"),
            ("cost: $5", "cost: $5"),
            ("$HOME", "$HOME"),
            ("$$", "$$"),
            ("trailing $", "trailing $"),
            ("^eth[0-9]+$", "^eth[0-9]+$"),
            // Substituted text is not expanded again.
            ("${TRICKY}", "${HOME}"),
            ("é${PORT}ü", "é9898ü"),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                expand(raw, &env).as_deref(),
                Ok(*expected),
                "expand({raw:?})"
            );
        }
    }

    #[test]
    fn reports_every_problem() {
        let unset = |name: &str| ExpandError::Unset { name: name.into() };
        let cases: &[(&str, Vec<ExpandError>)] = &[
            ("${NOPE}", vec![unset("NOPE")]),
            ("${A}:${B}", vec![unset("A"), unset("B")]),
            ("${HOME", vec![ExpandError::Unterminated]),
            (
                "${NOPE}/${HOME",
                vec![unset("NOPE"), ExpandError::Unterminated],
            ),
            (
                "${1X}",
                vec![ExpandError::BadName {
                    reference: "${1X}".into(),
                }],
            ),
            (
                "${}",
                vec![ExpandError::BadName {
                    reference: "${}".into(),
                }],
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(expand(raw, &env).as_ref(), Err(expected), "expand({raw:?})");
        }
    }

    #[test]
    fn messages() {
        assert_eq!(
            ExpandError::Unset {
                name: "LOOKOUT_LISTEN".into()
            }
            .message(),
            "environment variable LOOKOUT_LISTEN is not set (referenced as ${LOOKOUT_LISTEN})"
        );
    }
}
