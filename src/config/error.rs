//! What goes wrong with loading a config, as data: `ConfigError` (the file cannot be read, or
//! its contents have problems: `base::schema::Problem`, one per line in file order).

use std::io;
use std::path::{Path, PathBuf};

use crate::base::schema::{Problem, ProblemLines};

/// Loading a config failed. Either nothing could be read, or every problem found in the text
/// is listed (not just the first), so one edit-check cycle fixes them all.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read. The I/O error is part of the message (not `source()`), so a
    /// caller printing the error chain does not repeat it.
    #[error("cannot read config {}: {io}{}", path.display(), read_hint(path, io))]
    Read { path: PathBuf, io: io::Error },
    /// The text was read but is not a valid config.
    #[error("{}", ProblemLines(problems))]
    Invalid { problems: Vec<Problem> },
}

impl ConfigError {
    /// The problems found in the config text, in file order; empty for `Read`.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid { problems } => problems,
        }
    }
}

/// The next step for the common read failures; nothing when there is no obvious one.
fn read_hint(path: &Path, io: &io::Error) -> String {
    match io.kind() {
        io::ErrorKind::NotFound => {
            format!("; create one with `lookout config init {}`", path.display())
        }
        io::ErrorKind::PermissionDenied => {
            "; check that the user running lookout may read it".to_string()
        }
        io::ErrorKind::IsADirectory => "; expected the path of a TOML file".to_string(),
        io::ErrorKind::InvalidData => "; the file must be UTF-8 text".to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::schema::Position;

    #[test]
    fn read_errors_say_how_to_fix() {
        let error = ConfigError::Read {
            path: PathBuf::from("/etc/lookout.toml"),
            io: io::Error::from(io::ErrorKind::NotFound),
        };
        assert_eq!(
            error.to_string(),
            "cannot read config /etc/lookout.toml: entity not found; \
             create one with `lookout config init /etc/lookout.toml`"
        );
        assert!(error.problems().is_empty());
    }

    #[test]
    fn invalid_configs_display_their_problems_one_per_line() {
        let problem = |line, key: &str, message: &str| Problem {
            origin: "lookout.toml".into(),
            position: Some(Position { line, column: 1 }),
            key: key.into(),
            message: message.into(),
        };
        let error = ConfigError::Invalid {
            problems: vec![problem(1, "", "invalid TOML: x"), problem(2, "a.b", "bad")],
        };
        assert_eq!(
            error.to_string(),
            "lookout.toml:1:1: invalid TOML: x\nlookout.toml:2:1: a.b: bad"
        );
        let unplaced = Problem {
            position: None,
            ..problem(1, "k", "m")
        };
        assert_eq!(unplaced.to_string(), "lookout.toml: k: m");
    }
}
