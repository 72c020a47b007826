//! Fuzz target `log_matcher`: the `log` check following a real file while the input writes,
//! truncates, rotates and removes it, run after run: line splitting across reads, partial
//! lines, the per-run byte budget, lossy UTF-8, the patterns and the detail. Nothing may
//! panic; and when the file only grows, the matches counted over all runs are exactly the
//! complete lines that match, however the writes and runs interleave.
//!
//! Input: one byte choosing the check, then operations (see `fuzz_target!`). The file lives in
//! a directory of its own under `$TMPDIR` (fuzz/run.sh points that into its work dir).
#![no_main]

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lookout::checks::log::config::LogCheck;
use lookout::config::{self, CheckKind};
use lookout::model::Status;
use lookout::checks::log::probe::LogProbe;
use lookout::checks::{Check, Outcome};

/// The largest file an input may write (the repeat operation grows it quickly).
const MAX_FILE: usize = 1 << 20;

struct Fixture {
    path: PathBuf,
    rotated: PathBuf,
    /// Reads from the start with the default budget (8 MiB): the counting oracle applies.
    whole: LogCheck,
    /// Starts at the end, reads at most 4 KiB per run, shows the last match.
    budget: LogCheck,
    runtime: tokio::runtime::Runtime,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("lookout-fuzz-log-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("a directory for the log file");
        let path = dir.join("app.log");
        let text = format!(
            r#"
[[check]]
name = "whole"
type = "log"
path = '{path}'
from_start = true

[[check.pattern]]
name = "errors"
regex = '(?i)\berror\b'

[[check.pattern]]
name = "odd"
regex = '^\d+ |é|\x00|\r'
warning = 1
critical = 3

[[check]]
name = "budget"
type = "log"
path = '{path}'
max_bytes_per_run = "4KiB"
keep_samples = true

[[check.pattern]]
name = "errors"
regex = '(?i)\berror\b'
warning = 2
critical = 5

[[check.pattern]]
name = "all"
regex = ''
"#,
            path = path.display()
        );
        let config = config::from_str(&text, "fuzz.toml", &|_| None).expect("a valid config");
        let mut logs = config.checks.into_iter().map(|check| match check.kind {
            CheckKind::Log(log) => log,
            _ => unreachable!("only log checks"),
        });
        Fixture {
            rotated: dir.join("app.log.1"),
            path,
            whole: logs.next().expect("the first check"),
            budget: logs.next().expect("the second check"),
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime"),
        }
    })
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(input.len());
    let (head, rest) = input.split_at(n);
    *input = rest;
    head
}

fn byte(input: &mut &[u8]) -> u8 {
    take(input, 1).first().copied().unwrap_or(0)
}

fn series(outcome: &Outcome, name: &str, pattern: Option<&str>) -> Option<f64> {
    outcome
        .samples
        .iter()
        .find(|(key, _)| key.name() == name && key.label("pattern") == pattern)
        .map(|(_, value)| *value)
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let mut input = data;
    let whole = byte(&mut input) & 1 == 0;
    let check = if whole { &f.whole } else { &f.budget };
    let _ = fs::remove_file(&f.rotated);
    fs::write(&f.path, b"").expect("an empty log file");
    let mut probe = LogProbe::new(check.clone(), std::time::Duration::from_secs(10));
    let mut at_ms = 0;
    let mut run = |probe: &mut LogProbe| {
        at_ms += 1000;
        f.runtime.block_on(probe.attempt(at_ms))
    };

    // Only appends and runs: the file holds every line written, and the oracle applies.
    let mut only_grew = true;
    let mut written = 0usize;
    let mut last: Vec<u8> = Vec::new();
    let append = |bytes: &[u8], written: &mut usize| {
        if *written + bytes.len() > MAX_FILE {
            return;
        }
        // A file removed by an operation is created again, like a logger reopening it.
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&f.path)
            .expect("open the log file");
        file.write_all(bytes).expect("append to the log file");
        *written += bytes.len();
    };
    while !input.is_empty() {
        match byte(&mut input) % 6 {
            0 => {
                let n = usize::from(byte(&mut input));
                last = take(&mut input, n).to_vec();
                append(&last, &mut written);
            }
            1 => {
                let times = usize::from(byte(&mut input));
                let bytes = last.repeat(times);
                append(&bytes, &mut written);
            }
            2 => {
                let outcome = run(&mut probe);
                assert_ne!(outcome.reason, "", "every outcome says why");
            }
            3 => {
                // copytruncate, or a truncation to some shorter length.
                let keep = u64::from(byte(&mut input));
                if let Ok(file) = OpenOptions::new().write(true).open(&f.path) {
                    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
                    let _ = file.set_len(keep.min(size));
                }
                only_grew = false;
            }
            4 => {
                let _ = fs::rename(&f.path, &f.rotated);
                fs::write(&f.path, b"").expect("the new log file");
                only_grew = false;
            }
            _ => {
                let _ = fs::remove_file(&f.path);
                only_grew = false;
            }
        }
    }

    // Read everything that is left (the budget allows 4 KiB per run).
    let mut outcome = run(&mut probe);
    for _ in 0..(MAX_FILE / 4096 + 2) {
        if series(&outcome, "log_bytes_behind", None).unwrap_or(0.0) == 0.0 {
            break;
        }
        outcome = run(&mut probe);
    }
    if whole && only_grew {
        assert_ne!(outcome.status, Status::Unknown, "{}", outcome.reason);
        let text = fs::read(&f.path).expect("read the log file");
        let pattern = &check.patterns[0];
        let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
        lines.pop(); // after the last newline: a partial line, or nothing
        let expected = lines
            .iter()
            .filter(|line| {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                pattern.regex.is_match(&String::from_utf8_lossy(line))
            })
            .count();
        assert_eq!(
            series(&outcome, "log_matches_total", Some("errors")),
            Some(expected as f64),
            "{}",
            outcome.reason
        );
    }
});
