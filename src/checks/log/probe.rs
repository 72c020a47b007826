//! `type = "log"`: follows a file like `tail -F` and counts the lines matching each named
//! pattern per run.
//!
//! - First run: starts at the end of the file (`from_start = true`: at its beginning). A file
//!   that was missing and appears later, or the new file after a rotation, is read from 0.
//! - Each run reads new complete lines, at most `max_bytes_per_run` bytes (the rest waits for
//!   the next runs; the detail says how far behind it is). A partial last line is kept for the
//!   next run (a partial line longer than `max_bytes_per_run` is counted as a line).
//! - Rotation (the path names another inode, e.g. after `mv app.log app.log.1` and a new
//!   `app.log`): the old file is read to its end first, then the new one from its start.
//! - Truncation (size below the offset, e.g. `copytruncate`): reading restarts at 0.
//! - A missing or unreadable file is Unknown "cannot read <path>: <reason>"; the check
//!   recovers when the file can be read.
//! - Invalid UTF-8 is decoded lossily before matching.
//! - Privacy: matched lines are never stored or shown, unless `keep_samples = true`, where the
//!   detail shows the last matching line, cut to 200 characters.
//! - Thresholds (`warning`, `critical` of each `[[check.pattern]]`) count matching lines per
//!   run, i.e. per check interval; the status is the worst over the patterns.
//! - A retry by `CheckProbe` (same `at_ms`) returns the outcome of the attempt it retries:
//!   reading again would find no new lines and hide what the first attempt counted.
//!
//! File I/O is blocking and runs on tokio's blocking pool; the state sits behind a mutex so an
//! attempt abandoned at the timeout still leaves the offsets consistent.
//!
//! | series | labels | meaning |
//! |---|---|---|
//! | `log_matches_total` | `pattern` | matching lines since the check started (counter) |
//! | `log_matches_last_run` | `pattern` | matching lines read in the last run (the headline value is their sum) |
//! | `log_match_rate` | `pattern` | matching lines per second over the last run's interval |
//! | `log_bytes_behind` | | bytes written to the file and not read yet |

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::checks::{Check, CheckFuture, Outcome, grade};

/// Where the matched line starts in a detail (`keep_samples = true`); Lookout's own log cuts
/// the detail there (`logs::without_matched_line`).
pub const LAST_MATCH: &str = "; last match (";
use crate::checks::log::config::LogCheck;
use crate::clock::UnixMillis;
use crate::model::{SeriesKey, Status};

/// The longest matched line the detail may show (with `keep_samples`).
const SAMPLE_CHARS: usize = 200;

pub struct LogProbe {
    state: Arc<Mutex<Follower>>,
    last: Option<(UnixMillis, Outcome)>,
}

impl LogProbe {
    pub fn new(config: LogCheck, interval: Duration) -> LogProbe {
        let patterns = config.patterns.len();
        LogProbe {
            state: Arc::new(Mutex::new(Follower {
                config,
                interval,
                file: None,
                identity: None,
                offset: 0,
                partial: Vec::new(),
                opened_before: false,
                missing_seen: false,
                totals: vec![0; patterns],
                last_run_ms: None,
            })),
            last: None,
        }
    }

    async fn run(&mut self, at_ms: UnixMillis) -> Outcome {
        if let Some((when, outcome)) = &self.last
            && *when == at_ms
        {
            return outcome.clone();
        }
        let state = self.state.clone();
        let outcome = tokio::task::spawn_blocking(move || match state.lock() {
            Ok(mut follower) => follower.run(at_ms),
            Err(_) => Outcome::unknown("log follower state lost after a panic"),
        })
        .await
        .unwrap_or_else(|error| Outcome::unknown(format!("log reader failed: {error}")));
        self.last = Some((at_ms, outcome.clone()));
        outcome
    }
}

impl Check for LogProbe {
    fn attempt(&mut self, at_ms: UnixMillis) -> CheckFuture<'_> {
        Box::pin(self.run(at_ms))
    }
}

struct Follower {
    config: LogCheck,
    interval: Duration,
    file: Option<File>,
    /// (device, inode) of the open file.
    identity: Option<(u64, u64)>,
    offset: u64,
    partial: Vec<u8>,
    opened_before: bool,
    missing_seen: bool,
    totals: Vec<u64>,
    last_run_ms: Option<UnixMillis>,
}

/// What one run read.
struct Tally {
    counts: Vec<u64>,
    bytes: u64,
    last_match: Option<(usize, String)>,
    notes: Vec<String>,
}

impl Follower {
    fn run(&mut self, at_ms: UnixMillis) -> Outcome {
        let seconds = match self.last_run_ms {
            Some(previous) if at_ms > previous => (at_ms - previous) as f64 / 1000.0,
            _ => self.interval.as_secs_f64(),
        };
        self.last_run_ms = Some(at_ms);
        let mut read = Tally {
            counts: vec![0; self.config.patterns.len()],
            bytes: 0,
            last_match: None,
            notes: Vec::new(),
        };
        let result = self.follow(&mut read);
        for (total, count) in self.totals.iter_mut().zip(&read.counts) {
            *total += count;
        }
        if let Err(error) = result {
            self.close();
            return Outcome::unknown(format!(
                "cannot read {}: {}",
                self.config.path.display(),
                plain(&error)
            ));
        }
        let behind = self.behind();
        self.outcome(read, seconds, behind)
    }

    /// Drops the open file; its identity and offset stay, so reopening the same file (after a
    /// transient error) resumes where it was instead of counting its lines again.
    fn close(&mut self) {
        self.file = None;
    }

    /// Opens the path if needed, handles rotation and truncation, and reads what is new.
    fn follow(&mut self, read: &mut Tally) -> io::Result<()> {
        let budget = self.config.max_bytes_per_run;
        if self.file.is_some() {
            let current = std::fs::metadata(&self.config.path)
                .ok()
                .map(|m| (m.dev(), m.ino()));
            if current.is_some() && current != self.identity {
                // Rotated: finish the old file, then switch to the new one.
                self.read_available(read, budget)?;
                if self.behind() > 0 {
                    read.notes
                        .push("file rotated; finishing the old one".to_string());
                    return Ok(());
                }
                self.flush_partial(read);
                self.close();
                read.notes.push("file rotated".to_string());
            } else if current.is_none() {
                read.notes
                    .push("file renamed or removed; reading the old one".to_string());
            }
        }
        if self.file.is_none() {
            let start_at_end = !self.opened_before && !self.missing_seen && !self.config.from_start;
            match open(&self.config.path) {
                Ok((file, identity, size)) => {
                    let same = self.identity == Some(identity) && size >= self.offset;
                    if !same {
                        self.offset = if start_at_end { size } else { 0 };
                        self.partial.clear();
                    }
                    self.file = Some(file);
                    self.identity = Some(identity);
                    self.opened_before = true;
                }
                Err(error) => {
                    if error.kind() == io::ErrorKind::NotFound {
                        self.missing_seen = true;
                    }
                    return Err(error);
                }
            }
        }
        let remaining = budget.saturating_sub(read.bytes);
        self.read_available(read, remaining)
    }

    /// Reads from the open file at the offset, at most `budget` bytes.
    fn read_available(&mut self, read: &mut Tally, budget: u64) -> io::Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let size = file.metadata()?.len();
        if size < self.offset {
            self.offset = 0;
            self.partial.clear();
            read.notes
                .push("file truncated; reading from the start".to_string());
        }
        if size == self.offset || budget == 0 {
            return Ok(());
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut buffer = Vec::with_capacity((size - self.offset).min(budget) as usize);
        file.take(budget).read_to_end(&mut buffer)?;
        self.offset += buffer.len() as u64;
        read.bytes += buffer.len() as u64;
        let mut start = 0;
        for end in memchr_newlines(&buffer) {
            if self.partial.is_empty() {
                self.count(&buffer[start..end], read);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&buffer[start..end]);
                self.count(&line, read);
            }
            start = end + 1;
        }
        self.partial.extend_from_slice(&buffer[start..]);
        if self.partial.len() as u64 > self.config.max_bytes_per_run {
            self.flush_partial(read);
        }
        Ok(())
    }

    /// Counts a partial line as a line (end of a rotated file, or an overlong line).
    fn flush_partial(&mut self, read: &mut Tally) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.count(&line, read);
        }
    }

    fn count(&self, line: &[u8], read: &mut Tally) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = String::from_utf8_lossy(line);
        for (index, pattern) in self.config.patterns.iter().enumerate() {
            if pattern.regex.is_match(&text) {
                read.counts[index] += 1;
                if self.config.keep_samples {
                    read.last_match = Some((index, text.chars().take(SAMPLE_CHARS).collect()));
                }
            }
        }
    }

    fn behind(&self) -> u64 {
        self.file
            .as_ref()
            .and_then(|file| file.metadata().ok())
            .map_or(0, |m| m.len().saturating_sub(self.offset))
    }

    fn outcome(&self, read: Tally, seconds: f64, behind: u64) -> Outcome {
        let mut status = Status::Ok;
        let mut parts = Vec::with_capacity(self.config.patterns.len());
        let mut outcome = Outcome::ok("");
        let mut sum = 0;
        for (index, pattern) in self.config.patterns.iter().enumerate() {
            let count = read.counts[index];
            sum += count;
            let pattern_status = grade(count as f64, pattern.warning, pattern.critical);
            status = status.max(pattern_status);
            let limit = match pattern_status {
                Status::Critical => pattern.critical.map(|c| format!(" (critical at {c})")),
                Status::Warning => pattern.warning.map(|w| format!(" (warning at {w})")),
                _ => None,
            };
            parts.push(format!(
                "{}: {count}{}",
                pattern.name,
                limit.unwrap_or_default()
            ));
            let rate = if seconds > 0.0 {
                count as f64 / seconds
            } else {
                0.0
            };
            outcome = outcome
                .sample(
                    SeriesKey::new("log_matches_total").with("pattern", &pattern.name),
                    self.totals[index] as f64,
                )
                .sample(
                    SeriesKey::new("log_matches_last_run").with("pattern", &pattern.name),
                    count as f64,
                )
                .sample(
                    SeriesKey::new("log_match_rate").with("pattern", &pattern.name),
                    rate,
                );
        }
        outcome = outcome.sample(SeriesKey::new("log_bytes_behind"), behind as f64);
        let mut reason = format!("{} matching lines in {}", sum, bytes(read.bytes));
        reason.push_str(&format!(" ({})", parts.join(", ")));
        for note in &read.notes {
            reason.push_str("; ");
            reason.push_str(note);
        }
        if behind > 0 {
            reason.push_str(&format!(
                "; {} behind (max_bytes_per_run {})",
                bytes(behind),
                bytes(self.config.max_bytes_per_run)
            ));
        }
        if let Some((index, line)) = &read.last_match {
            reason.push_str(&format!(
                "{LAST_MATCH}{}): {}",
                self.config.patterns[*index].name,
                line.replace(['\n', '\r'], " ")
            ));
        }
        outcome.status = status;
        outcome.reason = reason;
        outcome.with_value(sum as f64)
    }
}

/// Opens a regular file for reading: (file, (device, inode), size).
fn open(path: &Path) -> io::Result<(File, (u64, u64), u64)> {
    let file = File::open(path)?;
    let metadata = file.metadata()?;
    if metadata.is_dir() {
        return Err(io::Error::from_raw_os_error(libc::EISDIR));
    }
    Ok((file, (metadata.dev(), metadata.ino()), metadata.len()))
}

/// The reason of an I/O error without the "(os error N)" suffix.
fn plain(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

fn memchr_newlines(buffer: &[u8]) -> impl Iterator<Item = usize> + '_ {
    buffer
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i)
}

fn bytes(value: u64) -> String {
    if value < 1024 {
        format!("{value} B")
    } else if value < 1 << 20 {
        format!("{:.1} KiB", value as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", value as f64 / (1 << 20) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_error_suffix_is_dropped() {
        let error = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(plain(&error), "No such file or directory");
        let error = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(plain(&error), "Permission denied");
    }

    #[test]
    fn newlines_are_found() {
        assert_eq!(
            memchr_newlines(b"a\nbc\n\nd").collect::<Vec<_>>(),
            vec![1, 4, 5]
        );
        assert_eq!(memchr_newlines(b"").count(), 0);
    }
}
