//! How the commands talk: `--quiet` (confirmations, notes and progress dropped; the data a
//! command is for, errors on stderr and exit codes unchanged), colour only where it is seen
//! (a terminal; `NO_COLOR` turns it off, `CLICOLOR_FORCE` on, as anstream reads them), a
//! progress bar on stderr for long operations, only when stderr is a terminal, values in their
//! unit (`value`), every `--json` document (`print_json`: pretty, numbers rounded to 6
//! significant digits) and who is at the keyboard (`user_name`). Listings are `table::Table`s.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use anstyle::{AnsiColor, Style};
use serde::Serialize;
use serde_json::ser::Formatter;

use crate::alert::Severity;
use crate::base::units::ValueUnit;
use crate::model::Status;

static QUIET: AtomicBool = AtomicBool::new(false);

pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// `--quiet` was given.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// `println!` for what is said about the work (confirmations, "nothing found" notes, hints):
/// dropped under `--quiet`. The data a command is for uses `println!`.
macro_rules! say {
    ($($arg:tt)*) => {
        if !$crate::cli::output::quiet() {
            println!($($arg)*);
        }
    };
}
pub(crate) use say;

pub use crate::base::term::{colour_stdout, paint};

/// The colour of a status, as the dashboard shows it.
pub fn status_style(status: Status) -> Style {
    let colour = match status {
        Status::Ok => AnsiColor::Green,
        Status::Maintenance => AnsiColor::Blue,
        Status::Warning => AnsiColor::Yellow,
        Status::Unknown => AnsiColor::Magenta,
        Status::Critical => AnsiColor::Red,
    };
    let style = Style::new().fg_color(Some(colour.into()));
    if status == Status::Critical {
        style.bold()
    } else {
        style
    }
}

/// The colour of an alert's severity: critical as a critical status, warning as a warning,
/// info plain.
pub fn severity_style(severity: Severity) -> Style {
    match severity {
        Severity::Critical => status_style(Status::Critical),
        Severity::Warning => status_style(Status::Warning),
        Severity::Info => Style::new(),
    }
}

/// A value in its unit ("3.10 ms", "86.1%", "1.5 KiB", "12"), or "-" when there is none:
/// the one way a listing writes a number (`alert::render::format_value`, as alert texts do).
pub fn value(value: Option<f64>, unit: ValueUnit) -> String {
    match value {
        Some(v) if v.is_finite() => crate::alert::render::format_value(v, unit),
        _ => "-".to_string(),
    }
}

/// Who runs the command, as amtool and sudo say it: `$USER`, else `$LOGNAME` (empty values
/// skipped), else the name of the process's user in the password database (cron, systemd and
/// `docker exec` set neither variable); `None` when even that is unknown.
pub fn user_name() -> Option<String> {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|value| !value.trim().is_empty())
        .or_else(account_name)
}

/// The login name of the real user id (`getpwuid_r`).
fn account_name() -> Option<String> {
    let mut buffer = vec![0 as libc::c_char; 4096];
    // SAFETY: passwd is plain data; getpwuid_r writes the strings into `buffer`, which
    // outlives the read of `pw_name`; `found` is null or points at `entry`.
    unsafe {
        let mut entry: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(
            libc::getuid(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        );
        if rc != 0 || found.is_null() || entry.pw_name.is_null() {
            return None;
        }
        let name = std::ffi::CStr::from_ptr(entry.pw_name).to_string_lossy();
        (!name.is_empty()).then(|| name.into_owned())
    }
}

/// Prints a `--json` document on stdout: pretty, every float rounded (`round_json`), so that
/// 0.1 + 0.2 reads 0.3, not 0.30000000000000004. The one JSON printer of the commands.
pub fn print_json(value: &impl Serialize) {
    match json_text(value) {
        Ok(text) => println!("{text}"),
        Err(error) => eprintln!("lookout: cannot encode JSON: {error}"),
    }
}

/// `value` as `print_json` prints it.
pub fn json_text(value: &impl Serialize) -> Result<String, serde_json::Error> {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(
        &mut out,
        Rounding(serde_json::ser::PrettyFormatter::new()),
    );
    value.serialize(&mut serializer)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A float with 6 significant digits, whole digits always kept: 0.020000000000000018 ->
/// 0.02, 0.000123456789 -> 0.000123457, 1234567.891 -> 1234568.
pub fn round_json(value: f64) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    if value.abs() >= 1e5 {
        return value.round();
    }
    format!("{value:.5e}").parse().unwrap_or(value)
}

/// serde_json's pretty printer with every float through `round_json`.
struct Rounding(serde_json::ser::PrettyFormatter<'static>);

impl Formatter for Rounding {
    fn write_f64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f64) -> std::io::Result<()> {
        self.0.write_f64(w, round_json(v))
    }
    fn write_f32<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f32) -> std::io::Result<()> {
        self.0.write_f64(w, round_json(f64::from(v)))
    }
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// A progress bar on stderr ("checks [=====>    ] 3/8 db"), drawn only when stderr is a
/// terminal and not `--quiet`; cleared when dropped, so it never mixes with the output.
pub struct Progress(indicatif::ProgressBar);

impl Progress {
    pub fn new(total: usize, what: &str) -> Progress {
        if quiet() || total == 0 || !std::io::stderr().is_terminal() {
            return Progress(indicatif::ProgressBar::hidden());
        }
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {wide_msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(what.to_string());
        bar.tick();
        Progress(bar)
    }

    /// One more done; `item` is shown as the latest.
    pub fn done(&self, item: &str) {
        self.0.set_message(item.to_string());
        self.0.inc(1);
    }

    /// Says what the next step is while it runs (a step that takes long, like a VACUUM).
    pub fn doing(&self, what: &str) {
        self.0.set_message(what.to_string());
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_are_rounded_to_six_significant_digits() {
        let cases = [
            (0.020000000000000018, 0.02),
            (0.1 + 0.2, 0.3),
            (0.000123456789, 0.000123457),
            (1234567.891, 1234568.0),
            (99999.96, 100000.0),
            (-2.0000000001, -2.0),
            (0.0, 0.0),
            (1e-12, 1e-12),
        ];
        for (value, rounded) in cases {
            assert_eq!(round_json(value), rounded, "{value}");
        }
        let text =
            json_text(&serde_json::json!({"b": 0.020000000000000018, "a": [1, 0.25], "n": 7}))
                .unwrap();
        assert_eq!(
            text,
            "{\n  \"a\": [\n    1,\n    0.25\n  ],\n  \"b\": 0.02,\n  \"n\": 7\n}"
        );
    }

    #[test]
    fn values_are_written_in_their_unit_or_as_a_dash() {
        assert_eq!(value(Some(0.003), ValueUnit::Seconds), "3.00 ms");
        assert_eq!(value(Some(0.861), ValueUnit::Percent), "86.1%");
        assert_eq!(value(Some(12.0), ValueUnit::Number), "12");
        assert_eq!(value(None, ValueUnit::Seconds), "-");
        assert_eq!(value(Some(f64::NAN), ValueUnit::Seconds), "-");
    }

    #[test]
    fn paint_adds_escape_codes_only_when_asked() {
        let style = status_style(Status::Critical);
        assert_eq!(paint("CRITICAL", style, false), "CRITICAL");
        assert_eq!(
            paint("CRITICAL", style, true),
            "\u{1b}[1m\u{1b}[31mCRITICAL\u{1b}[0m"
        );
    }
}
