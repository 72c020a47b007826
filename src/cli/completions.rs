//! `lookout completions SHELL` and `lookout man [DIR]`: shell completions (clap_complete) and
//! man pages (clap_mangen), generated from the same clap definitions the parser uses, so they
//! cannot drift from the commands.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use super::output::say;
use super::{Cli, fail};

/// The completion script for `shell` on stdout.
pub fn completions(shell: Shell) -> ExitCode {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "lookout", &mut script);
    write_stdout(&script)
}

/// lookout(1) on stdout; with `dir`, one page per command into it (lookout.1,
/// lookout-alerts.1, lookout-alerts-list.1, ...), created if needed.
pub fn man(dir: Option<&Path>) -> ExitCode {
    let Some(dir) = dir else {
        return match page(&command(), true) {
            Ok(text) => write_stdout(&text),
            Err(error) => fail(&format!("cannot render the man page: {error}")),
        };
    };
    if let Err(error) = std::fs::create_dir_all(dir) {
        return fail(&format!("cannot create {}: {error}", dir.display()));
    }
    let mut written = Vec::new();
    match write_pages(command(), dir, true, &mut written) {
        Ok(()) => {
            say!(
                "wrote {} man pages into {}; read one with `man -l {}`",
                written.len(),
                dir.display(),
                dir.join("lookout.1").display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error),
    }
}

/// The whole command tree, built (so each subcommand has its display name, e.g.
/// "lookout-alerts-list"), without clap's `help` subcommand.
fn command() -> clap::Command {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    command
}

fn write_pages(
    command: clap::Command,
    dir: &Path,
    top: bool,
    written: &mut Vec<PathBuf>,
) -> Result<(), String> {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub.clone(), dir, false, written)?;
    }
    let name = clap_mangen::Man::new(command.clone()).get_filename();
    let path = dir.join(name);
    let text = page(&command, top)
        .map_err(|error| format!("cannot render {}: {error}", path.display()))?;
    std::fs::write(&path, text)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    written.push(path);
    Ok(())
}

/// One page in roff; the top one also has EXIT STATUS, ENVIRONMENT and FILES (before
/// VERSION, where man-pages(7) puts them).
fn page(command: &clap::Command, top: bool) -> std::io::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(command.clone()).manual("Lookout Manual");
    let mut text = Vec::new();
    if !top {
        man.render(&mut text)?;
        return Ok(text);
    }
    man.render_title(&mut text)?;
    man.render_name_section(&mut text)?;
    man.render_synopsis_section(&mut text)?;
    man.render_description_section(&mut text)?;
    man.render_options_section(&mut text)?;
    man.render_subcommands_section(&mut text)?;
    text.extend_from_slice(TOP_EXTRA.as_bytes());
    man.render_version_section(&mut text)?;
    Ok(text)
}

/// What `--help` cannot say, in man(7) macros.
const TOP_EXTRA: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Success.
.TP
\fB1\fR
The work was done but something failed: a notifier could not be reached (\fBalerts test\fR, \fBalerts run\fR), the app's maintenance mode could not be switched, \fBdoctor\fR found an item that fails.
.TP
\fB2\fR
Bad input: an invalid config, an unusable data directory, a port in use, a bad argument.
.TP
\fBcheck\fR
Nagios plugin codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also when it cannot run at all).
.SH ENVIRONMENT
.TP
\fBLOOKOUT_CONFIG\fR
The config file, as \fB\-\-config\fR.
.TP
\fBRUST_LOG\fR
The log filter, unless \fB\-\-log\-level\fR is given.
.TP
\fBNO_COLOR\fR, \fBCLICOLOR_FORCE\fR
Colour is used only on a terminal; NO_COLOR turns it off, CLICOLOR_FORCE on.
.TP
\fBNOTIFY_SOCKET\fR, \fBWATCHDOG_USEC\fR
Set by systemd for a Type=notify unit: \fBserve\fR sends READY=1, STOPPING=1, RELOADING=1 and watchdog pings.
.SH FILES
.TP
\fI/etc/lookout/lookout.toml\fR
The config of the shipped systemd unit (\fBlookout config init\fR writes a commented one).
.TP
\fI/var/lib/lookout\fR
The store of the shipped systemd unit (default \fI./lookout\-data\fR).
"#;

fn write_stdout(bytes: &[u8]) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&format!("cannot write to stdout: {error}")),
    }
}
