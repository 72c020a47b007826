//! What goes wrong with a config, as data: `ConfigError` (the file cannot be read, or its
//! contents have problems) and `Problem` (one thing wrong, with its place in the file, its key
//! path and what was expected). Display prints one problem per line, in file order, in the
//! compiler-like form `file:line:column: key: message` that editors and terminals link to.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

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

/// A place in the config text, 1-based. The column counts characters, not bytes, as editors do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// One thing wrong with a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the text came from, as given to `from_str` (the file path for `load`).
    pub origin: String,
    /// Where in the text; `None` when the problem has no single place (not produced today, but
    /// a problem must never be dropped for lack of one).
    pub position: Option<Position>,
    /// The key path, e.g. `system.thresholds.cpu_warning` or `system.interfaces.exclude[2]`;
    /// empty for TOML syntax errors.
    pub key: String,
    /// What is wrong and the expected form.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(Position { line, column }) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Displays problems one per line.
struct ProblemLines<'a>(&'a [Problem]);

impl fmt::Display for ProblemLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Maps byte offsets in the config text to 1-based line and column.
#[derive(Debug, Clone)]
pub(super) struct LineIndex<'t> {
    text: &'t str,
    /// Byte offset at which each line starts; the first is always 0.
    line_starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    pub(super) fn new(text: &'t str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        LineIndex { text, line_starts }
    }

    /// The position of byte `offset`; offsets past the end clamp to the end.
    pub(super) fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self.line_starts[line.saturating_sub(1)];
        // Spans from the parser fall on character boundaries; if one ever did not, counting
        // bytes is a better answer than a panic.
        let column = match self.text.get(line_start..offset) {
            Some(prefix) => prefix.chars().count(),
            None => offset - line_start,
        };
        Position {
            line: line.max(1),
            column: column + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let index = LineIndex::new("a = 1\nbé = \"x\"\n\nlast");
        let cases = [
            (0, (1, 1)),
            (4, (1, 5)),
            (5, (1, 6)),
            (6, (2, 1)),
            (10, (2, 4)), // "bé " is 4 bytes but 3 characters
            (16, (3, 1)),
            (17, (4, 1)),
            (21, (4, 5)),
            (999, (4, 5)),
        ];
        for (offset, (line, column)) in cases {
            assert_eq!(
                index.position(offset),
                Position { line, column },
                "offset {offset}"
            );
        }
        // Inside a multi-byte character: no panic, a byte count instead.
        assert_eq!(index.position(8), Position { line: 2, column: 3 });
    }

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
    fn problems_display_one_per_line() {
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
