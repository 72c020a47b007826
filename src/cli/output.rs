//! How the commands talk: `--quiet` (confirmations, notes and progress dropped; the data a
//! command is for, errors on stderr and exit codes unchanged), colour only where it is seen
//! (a terminal; `NO_COLOR` turns it off, `CLICOLOR_FORCE` on, as anstream reads them), and a
//! progress bar on stderr for long operations, only when stderr is a terminal.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use anstyle::{AnsiColor, Style};

use crate::alert::Severity;
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
    fn paint_adds_escape_codes_only_when_asked() {
        let style = status_style(Status::Critical);
        assert_eq!(paint("CRITICAL", style, false), "CRITICAL");
        assert_eq!(
            paint("CRITICAL", style, true),
            "\u{1b}[1m\u{1b}[31mCRITICAL\u{1b}[0m"
        );
    }
}
