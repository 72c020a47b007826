//! `[log]`: Lookout's own log. Its filter (`level`), its form (`format`: text or JSON lines)
//! and where it goes (`output`: stderr, or a file rotated by size and age with a number of
//! rotated files kept). Writing and rotating is `logs`; this file only reads and checks
//! the settings.
//!
//! ```toml
//! [log]
//! level = "info"
//! format = "json"
//! output = "file"
//! file = "/var/log/lookout/lookout.log"   # default: <storage.path>/logs/lookout.log
//! max_size = "10MiB"
//! max_age = "1d"
//! keep = 7
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::base::schema::{Reader, Table};
use crate::base::schema::{duration_setting, size_setting, string_setting};
use crate::base::schema::{path_text, whole_setting};
use crate::base::units::{format_duration, format_size};

const LOG_LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
/// Below this a log file would rotate every few lines: surely a unit left out.
const MIN_MAX_SIZE: u64 = 4 << 10;
/// Rotating more often than once a minute is surely a typo too.
const MIN_MAX_AGE: Duration = Duration::from_secs(60);
/// More rotated files than this is a retention better left to logrotate or the journal.
const MAX_KEEP: u32 = 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `log.level`: a tracing filter such as "info" or "lookout=debug,info". Default "info".
    pub level: String,
    /// `log.format`: "text" (default) or "json" (one JSON object per line).
    pub format: LogFormat,
    /// `log.output`: "stderr" (default) or "file".
    pub output: LogOutput,
    /// `log.file`: the log file with `output = "file"`; `None`: `<data dir>/logs/lookout.log`
    /// (see `file_path`).
    pub file: Option<PathBuf>,
    /// `log.max_size` (default 10MiB): the file is rotated before it grows past this.
    pub max_size: u64,
    /// `log.max_age` (default 1d): the file is rotated once its first line is this old.
    pub max_age: Duration,
    /// `log.keep` (default 7): rotated files kept (`lookout.log.1` newest); older ones are
    /// deleted. 0 keeps none.
    pub keep: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_string(),
            format: LogFormat::Text,
            output: LogOutput::Stderr,
            file: None,
            max_size: 10 << 20,
            max_age: Duration::from_secs(86_400),
            keep: 7,
        }
    }
}

impl LogConfig {
    /// Where the log file is (with `output = "file"`): `file`, else `logs/lookout.log` in the
    /// data directory.
    pub fn file_path(&self, data_dir: &Path) -> PathBuf {
        self.file
            .clone()
            .unwrap_or_else(|| data_dir.join("logs").join("lookout.log"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOutput {
    Stderr,
    File,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl LogOutput {
    pub fn as_str(self) -> &'static str {
        match self {
            LogOutput::Stderr => "stderr",
            LogOutput::File => "file",
        }
    }
}

pub(super) fn read_log(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    default: &LogConfig,
) -> LogConfig {
    let level = string_setting(
        r,
        table,
        "level",
        default.level.clone(),
        "a log level string like \"info\"",
        |text| {
            if is_log_filter(&text.value) {
                Ok(text.value.trim().to_string())
            } else {
                Err(format!(
                    "{} is not a log filter; expected a level ({}), or directives like \"lookout=debug,info\"",
                    text.quoted(),
                    LOG_LEVELS.join(", ")
                ))
            }
        },
    );
    let format = string_setting(
        r,
        table,
        "format",
        default.format,
        "a string, \"text\" or \"json\"",
        |text| match text.value.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!(
                "{} is not a log format; expected \"text\" or \"json\"",
                text.quoted()
            )),
        },
    );
    let output = string_setting(
        r,
        table,
        "output",
        default.output,
        "a string, \"stderr\" or \"file\"",
        |text| match text.value.trim().to_ascii_lowercase().as_str() {
            "stderr" => Ok(LogOutput::Stderr),
            "file" => Ok(LogOutput::File),
            _ => Err(format!(
                "{} is not a log output; expected \"stderr\" or \"file\" (the file is set by log.file)",
                text.quoted()
            )),
        },
    );
    let file = string_setting(
        r,
        table,
        "file",
        default.file.clone(),
        "a file path string",
        |text| {
            let empty = "expected a file, like \"/var/log/lookout/lookout.log\" (or leave log.file out for <storage.path>/logs/lookout.log)";
            let path = path_text(text, empty)?;
            if text.value.ends_with('/') {
                return Err(format!(
                    "{} is a directory; expected the path of the log file, like \"/var/log/lookout/lookout.log\"",
                    text.quoted()
                ));
            }
            Ok(Some(path))
        },
    );
    let max_size = size_setting(r, table, "max_size", default.max_size, |bytes| {
        (*bytes < MIN_MAX_SIZE).then(|| {
            format!(
                "is too small; expected at least \"{}\"",
                format_size(MIN_MAX_SIZE)
            )
        })
    });
    let max_age = duration_setting(r, table, "max_age", default.max_age, |age| {
        (*age < MIN_MAX_AGE).then(|| {
            format!(
                "is too short; expected at least \"{}\"",
                format_duration(MIN_MAX_AGE)
            )
        })
    });
    let keep = whole_setting(r, table, "keep", default.keep, 0..=MAX_KEEP).value;
    LogConfig {
        level: level.value,
        format: format.value,
        output: output.value,
        file: file.value,
        max_size: max_size.value,
        max_age: max_age.value,
        keep,
    }
}

/// A tracing filter whose every directive ends in a level: "info", "lookout=debug,warn".
/// Stricter than `EnvFilter`, which reads a lone word such as "verbose" as a target name and
/// so would silently turn a typo into "log everything from a module that does not exist".
pub(super) fn is_log_filter(filter: &str) -> bool {
    let filter = filter.trim();
    !filter.is_empty()
        && filter.split(',').all(|directive| {
            let level = directive
                .rsplit_once('=')
                .map_or(directive, |(_, level)| level);
            LOG_LEVELS.contains(&level.trim().to_ascii_lowercase().as_str())
        })
        && tracing_subscriber::EnvFilter::try_new(filter).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::errors;
    use crate::config::{from_str, test_support::no_env};

    #[test]
    fn log_filters() {
        for good in [
            "info",
            "INFO",
            "debug",
            "lookout=debug,info",
            "lookout=debug, warn",
            "off",
        ] {
            assert!(is_log_filter(good), "{good:?} should be accepted");
        }
        for bad in [
            "",
            "verbose",
            "info,",
            "lookout",
            "lookout=loud",
            "=",
            "info,,debug",
        ] {
            assert!(!is_log_filter(bad), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn file_settings_are_read() {
        let text = "[log]\nformat = \"JSON\"\noutput = \"file\"\nfile = \"/var/log/lookout/lookout.log\"\nmax_size = \"1MiB\"\nmax_age = \"12h\"\nkeep = 3\n";
        let config = from_str(text, "lookout.toml", &no_env).map(|c| c.log);
        assert_eq!(
            config.ok(),
            Some(LogConfig {
                level: "info".into(),
                format: LogFormat::Json,
                output: LogOutput::File,
                file: Some("/var/log/lookout/lookout.log".into()),
                max_size: 1 << 20,
                max_age: Duration::from_secs(12 * 3600),
                keep: 3,
            })
        );
    }

    /// The README's example is a valid `[log]` that means what its comments say.
    #[test]
    fn the_readme_example_parses() {
        let readme = include_str!("../../README.md");
        let section = &readme[readme
            .find("## Lookout's own logs")
            .expect("a README section on the logs")..];
        let block = &section[section.find("```toml\n").unwrap() + 8..];
        let block = &block[..block.find("```").unwrap()];
        let config = from_str(block, "README.md", &no_env).map(|c| c.log);
        assert_eq!(
            config.ok(),
            Some(LogConfig {
                level: "info".into(),
                format: LogFormat::Json,
                output: LogOutput::File,
                file: Some("/var/log/lookout/lookout.log".into()),
                max_size: 10 << 20,
                max_age: Duration::from_secs(86_400),
                keep: 7,
            })
        );
    }

    #[test]
    fn the_file_defaults_to_the_data_dir() {
        let config = LogConfig::default();
        assert_eq!(
            config.file_path(Path::new("/var/lib/lookout")),
            PathBuf::from("/var/lib/lookout/logs/lookout.log")
        );
        let set = LogConfig {
            file: Some("/var/log/l.log".into()),
            ..config
        };
        assert_eq!(
            set.file_path(Path::new("/var/lib/lookout")),
            PathBuf::from("/var/log/l.log")
        );
    }

    #[test]
    fn golden_log_errors() {
        let text = r#"[log]
format = "yaml"
output = "syslog"
file = "~/lookout.log"
max_size = "1KiB"
max_age = "10s"
keep = -1
"#;
        assert_eq!(
            errors(text),
            "lookout.toml:2:10: log.format: \"yaml\" is not a log format; expected \"text\" or \"json\"\n\
             lookout.toml:3:10: log.output: \"syslog\" is not a log output; expected \"stderr\" or \"file\" (the file is set by log.file)\n\
             lookout.toml:4:8: log.file: \"~/lookout.log\": \"~\" is not expanded; write the full path, or \"${HOME}/...\"\n\
             lookout.toml:5:12: log.max_size: \"1KiB\" is too small; expected at least \"4KiB\"\n\
             lookout.toml:6:11: log.max_age: \"10s\" is too short; expected at least \"1m\"\n\
             lookout.toml:7:8: log.keep: -1 is out of range; expected a whole number from 0 to 1000"
        );
        assert_eq!(
            errors("[log]\nfile = \"/var/log/\"\nkeep = \"7\"\n"),
            "lookout.toml:2:8: log.file: \"/var/log/\" is a directory; expected the path of the log file, like \"/var/log/lookout/lookout.log\"\n\
             lookout.toml:3:8: log.keep: expected a whole number, like keep = 7, found a string"
        );
    }
}
