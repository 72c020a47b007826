//! Lookout's own log: sets up `tracing` from `[log]` (and `--log-level`, `RUST_LOG`): text or
//! JSON lines, to stderr or to a file rotated by size and age (`rotate`). Colours only for text
//! on a terminal (`NO_COLOR` and `CLICOLOR_FORCE` read as for the commands' output).
//!
//! What must never be in it (secrets, matched log lines, personal data) is kept out where the
//! log lines are made; `without_matched_line` is the one filter applied here for text that
//! comes from what Lookout watches.

pub mod rotate;

use std::path::PathBuf;

use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::clock::SharedClock;
use crate::config::{Config, LogFormat, LogOutput};
use rotate::{RotatingFile, Rotation};

/// The log file could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the log file {} (log.file): {source}; fix its directory's owner or permissions, or set log.output = \"stderr\"", path.display())]
pub struct LogError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Sets up the process's log as `config` says; `cli_level` (`--log-level`) beats `RUST_LOG`,
/// which beats `log.level`. Does nothing if a subscriber is set already.
pub fn init(cli_level: Option<&str>, config: &Config, clock: SharedClock) -> Result<(), LogError> {
    let writer = match config.log.output {
        LogOutput::Stderr => None,
        LogOutput::File => Some(open_file(config, clock)?),
    };
    let _ = subscriber(filter(cli_level, config), config.log.format, writer).try_init();
    Ok(())
}

/// Logs to stderr whatever `log.output` says: the fallback of a command that could not open
/// the log file.
pub fn init_stderr(cli_level: Option<&str>, config: &Config) {
    let _ = subscriber(filter(cli_level, config), config.log.format, None).try_init();
}

/// The log file of `config` (`log.file`, or `logs/lookout.log` in the data directory).
pub fn open_file(config: &Config, clock: SharedClock) -> Result<RotatingFile, LogError> {
    let path = config.log.file_path(&config.storage.path);
    let rotation = Rotation {
        max_size: config.log.max_size,
        max_age: config.log.max_age,
        keep: config.log.keep,
    };
    RotatingFile::open(&path, rotation, clock).map_err(|source| LogError { path, source })
}

fn filter(cli_level: Option<&str>, config: &Config) -> EnvFilter {
    let filter = cli_level
        .map(str::to_string)
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| config.log.level.clone());
    EnvFilter::try_new(&filter).unwrap_or_else(|error| {
        eprintln!("lookout: log filter \"{filter}\" is invalid ({error}); using \"info\"");
        EnvFilter::new("info")
    })
}

/// The subscriber: `format` lines to `file`, or to stderr without one.
pub fn subscriber(
    filter: EnvFilter,
    format: LogFormat,
    file: Option<RotatingFile>,
) -> impl tracing::Subscriber + Send + Sync {
    // As the commands' output: a terminal only, NO_COLOR off, CLICOLOR_FORCE on; never in a
    // file.
    let colour = file.is_none() && crate::base::term::colour_stderr();
    let writer = match file {
        Some(file) => BoxMakeWriter::new(file),
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let layer: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(colour)
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_ansi(false)
            .with_writer(writer)
            .boxed(),
    };
    tracing_subscriber::registry().with(layer.with_filter(filter))
}

/// `detail` without the matched line a log check may append to it (`keep_samples = true`):
/// what Lookout reads in other programs' logs is shown in check results, never written to its
/// own log.
pub fn without_matched_line(detail: &str) -> &str {
    match detail.find(crate::checks::log::probe::LAST_MATCH) {
        Some(at) => &detail[..at],
        None => detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::time::Duration;

    #[test]
    fn json_lines_carry_level_target_message_and_fields() {
        let tmp = tempfile::tempdir().unwrap();
        let clock: SharedClock = ManualClock::new(1_700_000_000_000);
        let rotation = Rotation {
            max_size: 1 << 20,
            max_age: Duration::from_secs(3600),
            keep: 1,
        };
        let path = tmp.path().join("lookout.log");
        let file = RotatingFile::open(&path, rotation, clock).unwrap();
        let subscriber = subscriber(EnvFilter::new("info"), LogFormat::Json, Some(file));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(check = "db", to = %"critical", "check status changed");
            tracing::debug!("filtered out");
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line = &lines[0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "check status changed");
        assert_eq!(line["check"], "db");
        assert_eq!(line["to"], "critical");
        assert_eq!(line["target"], "lookout::logs::tests");
        assert!(line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    #[test]
    fn text_to_a_file_has_no_colour_codes() {
        let tmp = tempfile::tempdir().unwrap();
        let clock: SharedClock = ManualClock::new(1_700_000_000_000);
        let rotation = Rotation {
            max_size: 1 << 20,
            max_age: Duration::from_secs(3600),
            keep: 1,
        };
        let path = tmp.path().join("lookout.log");
        let file = RotatingFile::open(&path, rotation, clock).unwrap();
        let subscriber = subscriber(EnvFilter::new("info"), LogFormat::Text, Some(file));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(store = "x", "store flush failed");
        });
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(" WARN "), "{text}");
        assert!(text.contains("store flush failed store=\"x\""), "{text}");
        assert!(!text.contains('\u{1b}'), "colour codes in a file: {text:?}");
    }

    #[test]
    fn matched_lines_are_cut_from_details() {
        assert_eq!(
            without_matched_line(
                "3 matching lines in 2.1 KiB (errors 3); last match (errors): login failed for alice"
            ),
            "3 matching lines in 2.1 KiB (errors 3)"
        );
        assert_eq!(
            without_matched_line("connection refused"),
            "connection refused"
        );
    }
}
