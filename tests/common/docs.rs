//! The documents whose commands the tests run as written (`docs/guide.md` in `guide`, the
//! README's tour in `readme`): their fenced blocks, the shell lines in them, and a shell session
//! that runs those lines one by one as a person pastes them.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A file of the repository (`README.md`, `docs/guide.md`).
pub fn read(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fenced block of a markdown file: its info string ("sh", "toml alternative", ...) and its
/// lines with their line numbers in the file.
#[derive(Debug)]
pub struct Block {
    pub info: String,
    pub lines: Vec<(usize, String)>,
}

pub fn blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (index, line) in markdown.lines().enumerate() {
        if let Some(info) = line.strip_prefix("```") {
            match open.take() {
                Some(block) => blocks.push(block),
                None => {
                    open = Some(Block {
                        info: info.trim().to_string(),
                        lines: Vec::new(),
                    })
                }
            }
        } else if let Some(block) = &mut open {
            block.lines.push((index + 1, line.to_string()));
        }
    }
    assert!(open.is_none(), "the markdown ends inside a fenced block");
    blocks
}

/// The lines of a shell block to run, trimmed, with their line numbers: all but the empty ones
/// and the comments. A line continued with `\` is refused.
pub fn shell_lines(block: &Block) -> Result<Vec<(usize, &str)>, String> {
    let mut lines = Vec::new();
    for (at, line) in &block.lines {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if trimmed.ends_with('\\') {
            return Err(format!("line {at}: continued lines are not supported"));
        }
        lines.push((*at, trimmed));
    }
    Ok(lines)
}

/// The comment of a shell line: what follows the first `#` that starts a word outside quotes.
pub fn comment(line: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && previous.is_whitespace() => return &line[at + 1..],
            _ => {}
        }
        previous = c;
    }
    ""
}

/// Replaces every `from` by its `to`, in one pass (a replacement is never replaced again).
pub fn substitute(text: &str, table: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = text;
    'outer: while !rest.is_empty() {
        for (from, to) in table {
            if let Some(after) = rest.strip_prefix(from.as_str()) {
                out.push_str(to);
                rest = after;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The words of a command after `lookout` and its global options: ["alerts", "list", ...].
pub fn lookout_words(line: &str) -> Option<Vec<String>> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let start = words.iter().position(|w| *w == "lookout")?;
    let mut rest = &words[start + 1..];
    let mut out = Vec::new();
    while let Some((first, tail)) = rest.split_first() {
        match *first {
            "--config" | "--data-dir" | "--log-level" => rest = tail.get(1..).unwrap_or(&[]),
            "-q" | "--quiet" => rest = tail,
            "|" | ">" | ">>" | "&&" | "#" => break,
            word => {
                out.push(word.to_string());
                rest = tail;
            }
        }
    }
    Some(out)
}

/// The environment of this test process without `names` (those that change what `lookout`
/// does: `LOOKOUT_CONFIG`, `RUST_LOG`, ...), for a shell that starts as a person's would.
pub fn environment_without(names: &[&str]) -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(name, _)| !names.contains(&name.as_str()))
        .collect()
}

/// One shell session: each line runs in a `bash` of its own (`bash`), and the environment it
/// leaves (`export`, `set -a; . FILE`) is the next line's (`keep_environment`).
pub struct Session {
    /// The environment the next line starts with.
    pub env: BTreeMap<String, String>,
    /// Where the lines run.
    dir: PathBuf,
    /// Where a line leaves its environment for `keep_environment`.
    state: PathBuf,
}

impl Session {
    /// A session in `dir` starting with `env`; a line leaves its environment in `dir/state`.
    pub fn new(dir: &Path, state: &str, env: BTreeMap<String, String>) -> Session {
        Session {
            env,
            dir: dir.to_path_buf(),
            state: dir.join(state),
        }
    }

    /// `bash -o pipefail -c LINE` in the session's environment (nothing else of this
    /// process's), leaving the environment it ends with for `keep_environment`.
    pub fn bash(&self, line: &str) -> Command {
        let script = format!(
            "{line}\nrc=$?\nenv -0 > '{}'\nexit $rc",
            self.state.display()
        );
        let mut command = Command::new("bash");
        command
            .args(["-o", "pipefail", "-c", &script])
            .env_clear()
            .envs(&self.env)
            .current_dir(&self.dir);
        command
    }

    /// The environment the last line (`bash`) left, for the next lines.
    pub fn keep_environment(&mut self) -> Result<(), String> {
        let bytes =
            std::fs::read(&self.state).map_err(|e| format!("the line's environment: {e}"))?;
        std::fs::remove_file(&self.state).map_err(|e| e.to_string())?;
        self.env = bytes
            .split(|b| *b == 0)
            .filter_map(|entry| {
                let entry = String::from_utf8_lossy(entry);
                let (name, value) = entry.split_once('=')?;
                (!["PWD", "OLDPWD", "SHLVL", "_"].contains(&name))
                    .then(|| (name.to_string(), value.to_string()))
            })
            .collect();
        Ok(())
    }
}

/// A line exited `code` with `stderr` after `lookout check` ran the checks and found some not
/// OK (1 or 2; not a usage error, which also exits 2): `words` are its `lookout_words`.
pub fn checks_not_ok(words: &[String], code: i32, stderr: &str) -> bool {
    matches!(code, 1 | 2)
        && !stderr.contains("error:")
        && words.first().map(String::as_str) == Some("check")
}

/// The results of `lookout check --json` (its stdout) whose status is none of `fine`.
pub fn checks_other_than(stdout: &[u8], fine: &[&str]) -> Option<Vec<serde_json::Value>> {
    let results: serde_json::Value = serde_json::from_slice(stdout).ok()?;
    let results = results
        .as_array()
        .or_else(|| results["checks"].as_array())?;
    Some(
        results
            .iter()
            .filter(|r| fine.iter().all(|status| r["status"] != *status))
            .cloned()
            .collect(),
    )
}
