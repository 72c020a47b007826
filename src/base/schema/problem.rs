//! One thing wrong with a config text, as data: `Problem` (its place in the file, its key path
//! and what was expected), `Position` (1-based line and column, counted in characters) and
//! `LineIndex` (byte offset -> position). `ProblemLines` prints problems one per line, in the
//! compiler-like form `file:line:column: key: message` that editors and terminals link to.

use std::fmt;

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
pub struct ProblemLines<'a>(pub &'a [Problem]);

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
pub struct LineIndex<'t> {
    text: &'t str,
    /// Byte offset at which each line starts; the first is always 0.
    line_starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        LineIndex { text, line_starts }
    }

    /// The position of byte `offset`; offsets past the end clamp to the end.
    pub fn position(&self, offset: usize) -> Position {
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
    fn problems_display_one_per_line() {
        let problem = |line, key: &str, message: &str| Problem {
            origin: "lookout.toml".into(),
            position: Some(Position { line, column: 1 }),
            key: key.into(),
            message: message.into(),
        };
        let problems = [problem(1, "", "invalid TOML: x"), problem(2, "a.b", "bad")];
        assert_eq!(
            ProblemLines(&problems).to_string(),
            "lookout.toml:1:1: invalid TOML: x\nlookout.toml:2:1: a.b: bad"
        );
        let unplaced = Problem {
            position: None,
            ..problem(1, "k", "m")
        };
        assert_eq!(unplaced.to_string(), "lookout.toml: k: m");
    }
}
