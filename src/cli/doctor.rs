//! `lookout doctor`: the seed's validation checklist in one command (see `crate::doctor`).
//! Prints one ✓ / ⚠ / ✗ line per item (colours only on a terminal) or, with `--json`, an array
//! of findings; progress goes to stderr when it is a terminal (not under --quiet). Exit 0 when nothing failed
//! (warnings allowed), 1 otherwise.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Args;

use crate::clock::SharedClock;
use crate::daemon::ConfigSource;
use crate::doctor::{self, Finding, Level, Options};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the findings as a JSON array.
    #[arg(long)]
    json: bool,
    /// Send a real test message through every notifier (otherwise SMTP is only logged into
    /// and webhooks only connected to).
    #[arg(long)]
    send_test: bool,
    /// Prometheus's web address, e.g. http://127.0.0.1:9090: check that it scrapes this
    /// Lookout (its `up` series).
    #[arg(long, value_name = "URL")]
    prometheus: Option<String>,
    /// The dashboard's address as users reach it (default: server.listen).
    #[arg(long, value_name = "URL")]
    dashboard: Option<String>,
}

pub async fn run(args: DoctorArgs, source: &ConfigSource, clock: &SharedClock) -> ExitCode {
    let options = Options {
        send_test: args.send_test,
        prometheus: args.prometheus,
        dashboard: args.dashboard,
    };
    let progress_on = std::io::stderr().is_terminal() && !super::output::quiet();
    let progress = |text: &str| {
        if progress_on {
            // Overwritten by the next line; cleared before the report.
            eprint!("\r\x1b[2K{text}");
        }
    };
    let findings = doctor::run(source.load(), &options, clock, &progress).await;
    if progress_on {
        eprint!("\r\x1b[2K");
    }
    if args.json {
        super::output::print_json(&findings);
    } else {
        let colour = super::output::colour_stdout();
        for finding in &findings {
            println!("{}", line(finding, colour));
        }
        println!("{}", summary(&findings));
    }
    ExitCode::from(doctor::exit_code(&findings))
}

/// "✓ config: /etc/lookout.toml is valid (…)" or "✗ check db: … — hint: …".
fn line(finding: &Finding, colour: bool) -> String {
    let (mark, code) = match finding.status {
        Level::Ok => ("✓", "32"),
        Level::Warn => ("⚠", "33"),
        Level::Fail => ("✗", "31"),
    };
    let mark = if colour {
        format!("\x1b[{code}m{mark}\x1b[0m")
    } else {
        mark.to_string()
    };
    let hint = match &finding.hint {
        Some(hint) if colour => format!(" \x1b[2m— hint: {hint}\x1b[0m"),
        Some(hint) => format!(" — hint: {hint}"),
        None => String::new(),
    };
    // A config with several problems has one per line: indented under the first.
    let detail = finding.detail.replace('\n', "\n    ");
    format!("{mark} {}: {detail}{hint}", finding.item)
}

fn summary(findings: &[Finding]) -> String {
    let count = |level| findings.iter().filter(|f| f.status == level).count();
    let (failed, warned) = (count(Level::Fail), count(Level::Warn));
    match (failed, warned) {
        (0, 0) => format!("all {} items fine", findings.len()),
        (0, w) => format!("no problems; {w} warning(s)"),
        (f, w) => format!("{f} problem(s), {w} warning(s)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_without_colour() {
        assert_eq!(
            line(
                &Finding::fail(
                    "check db",
                    "connection refused to 127.0.0.1:5432",
                    "is it running?"
                ),
                false
            ),
            "✗ check db: connection refused to 127.0.0.1:5432 — hint: is it running?"
        );
        assert_eq!(
            line(&Finding::ok("config", "valid"), false),
            "✓ config: valid"
        );
        assert_eq!(
            line(&Finding::ok("config", "valid"), true),
            "\x1b[32m✓\x1b[0m config: valid"
        );
        assert_eq!(
            line(&Finding::fail("config", "a:1:1: x\na:2:1: y", "fix"), false),
            "✗ config: a:1:1: x\n    a:2:1: y — hint: fix"
        );
        assert_eq!(
            summary(&[Finding::ok("a", "b"), Finding::warn("c", "d", "e")]),
            "no problems; 1 warning(s)"
        );
    }
}
