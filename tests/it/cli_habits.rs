//! The habits every command keeps: `--json` on every listing (valid JSON, with the data the
//! store holds), `--quiet` (nothing on stdout but the data asked for; errors still on stderr,
//! exit codes unchanged), no escape codes when the output is not a terminal, colour and
//! progress when it is (and no colour under NO_COLOR).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::common::cli::{cli_env, failing_config, fill, json_of, ok};
use crate::common::{collect_log, docs, lookout, pty, text};

/// `lookout --config CONFIG ARGS` with stdin `input`, in an environment that would allow
/// colour on a terminal (so its absence is the command's doing).
fn cli_with(config: &Path, args: &[&str], input: &str) -> Output {
    let output = cli_env(
        config,
        args,
        &[("TERM", "xterm-256color")],
        &["NO_COLOR", "CLICOLOR_FORCE", "CLICOLOR"],
        input,
    );
    for (name, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        assert!(
            !bytes.contains(&0x1b),
            "{args:?}: escape code in {name} (not a terminal): {:?}",
            text(bytes)
        );
    }
    output
}

fn cli(config: &Path, args: &[&str]) -> Output {
    cli_with(config, args, "")
}

#[test]
fn every_listing_takes_json_and_quiet_leaves_only_the_data() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = failing_config(dir.path(), "");

    // Data in the store: check results, a firing alert with history and outbox rows, a
    // silence, a user, a token, a maintenance window, system metrics.
    fill(|args, input| cli_with(&config, args, input));
    ok(&["collect"], &cli(&config, &["collect"]));

    // Every listing, as JSON; (args, what must be non-empty: a JSON pointer to an array).
    let listings: &[(&[&str], Option<&str>)] = &[
        (&["alerts", "list", "--json"], Some("")),
        (&["alerts", "history", "--json"], Some("")),
        (&["alerts", "outbox", "--json"], Some("")),
        (&["silence", "list", "--json"], Some("")),
        (&["user", "list", "--json"], Some("")),
        (&["token", "list", "--json"], Some("")),
        (&["maintenance", "status", "--json"], Some("/windows")),
        (&["maintenance", "history", "--json"], None),
        (&["report", "--json"], Some("/availability/checks")),
        (&["check", "--json"], Some("/checks")),
        (&["config", "check", "--json"], Some("/checks")),
        (&["store", "stats", "--json"], Some("/tiers")),
    ];
    for (args, non_empty) in listings {
        let output = cli(&config, args);
        let expected = if args[0] == "check" { 2 } else { 0 };
        assert_eq!(
            output.status.code(),
            Some(expected),
            "{args:?}: {}",
            text(&output.stderr)
        );
        let value = json_of(args, &output);
        if let Some(pointer) = non_empty {
            let list = value.pointer(pointer).and_then(Value::as_array);
            assert!(
                list.is_some_and(|l| !l.is_empty()),
                "{args:?}: {pointer:?} is not a non-empty array: {value}"
            );
        }
        // --quiet never takes the data away.
        let mut quiet = vec!["--quiet"];
        quiet.extend_from_slice(args);
        let output = cli(&config, &quiet);
        assert_eq!(output.status.code(), Some(expected), "{quiet:?}");
        json_of(&quiet, &output);
    }
    let status = json_of(&[], &cli(&config, &["config", "check", "--json"]));
    assert_eq!(status["ok"], true);
    assert_eq!(status["checks"][0]["name"], "db");
    assert_eq!(status["checks"][0]["type"], "tcp");
    assert_eq!(status["notifiers"][0]["name"], "hook");

    // A bad config, as JSON: every problem with its place, on stdout; nothing on stderr (the
    // exit code tells).
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nlisten = 5\n[system]\nintervall = \"1s\"\n").unwrap();
    let output = cli(
        &config,
        &["config", "check", bad.to_str().unwrap(), "--json"],
    );
    assert_eq!(output.status.code(), Some(2));
    let problems = json_of(&[], &output);
    assert_eq!(problems["ok"], false);
    let problems = problems["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_eq!(problems[0]["line"], 2);
    assert_eq!(problems[0]["key"], "server.listen");
    assert_eq!(problems[1]["line"], 4);
    assert_eq!(text(&output.stderr), "");

    // Commands that act say nothing under --quiet; the exit code tells.
    let silence = json_of(
        &[],
        &cli(
            &config,
            &["silence", "add", "check=\"x\"", "--comment", "y", "--json"],
        ),
    );
    let silence_id = silence["id"].as_str().unwrap().to_string();
    let token_id = json_of(&[], &cli(&config, &["token", "list", "--json"]))[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let quiet_commands: Vec<Vec<&str>> = vec![
        vec!["collect"],
        vec!["alerts", "run"],
        vec!["silence", "add", "check=\"z\"", "--comment", "quiet"],
        vec!["silence", "expire", &silence_id],
        vec!["maintenance", "extend", "10m"],
        vec!["maintenance", "stop"],
        vec!["maintenance", "stop"], // nothing active: the note is dropped too
        vec!["maintenance", "history"], // none recorded: the note is dropped
        vec!["user", "passwd", "ada", "--password-stdin"],
        vec!["user", "remove", "ada"],
        vec!["token", "revoke", &token_id],
        vec!["config", "check"],
        vec!["config", "init", "--force", "new.toml"],
        vec!["export", "prometheus-rules", "rules.yml"],
        vec!["export", "grafana", out],
        vec!["man", out],
    ];
    for args in &quiet_commands {
        let mut quiet = vec!["-q"];
        quiet.extend_from_slice(args);
        let output = cli_with(&config, &quiet, "another-long-password\n");
        // `alerts run` exits 1 when a row was given up on; the webhook is only retried here.
        ok(&quiet, &output);
        assert_eq!(text(&output.stdout), "", "{quiet:?} printed to stdout");
        // (`alerts run` may retry the webhook, and say on stderr that it failed.)
        if args[0] != "alerts" {
            assert_eq!(text(&output.stderr), "", "{quiet:?} printed to stderr");
        }
        // Without --quiet the same command has something to say (so the test means it).
        if !matches!(args[0], "alerts" | "silence" | "user" | "token" | "collect")
            && !args.contains(&"passwd")
        {
            let loud = cli_with(&config, args, "another-long-password\n");
            assert_ne!(
                text(&loud.stdout),
                "",
                "{args:?} says nothing even without -q"
            );
        }
    }
    assert!(dir.path().join("out/lookout.1").exists());
    assert!(dir.path().join("rules.yml").exists());

    // A created token is the data: alone on stdout, nothing on stderr.
    let output = cli(&config, &["-q", "token", "create", "--role", "admin"]);
    ok(&["token", "create"], &output);
    assert_eq!(text(&output.stdout).trim().lines().count(), 1);
    assert_eq!(text(&output.stderr), "");
    // Errors still reach stderr, with the same exit code.
    for args in [
        vec!["silence", "expire", "nosuch"],
        vec!["config", "check", bad.to_str().unwrap()],
    ] {
        let loud = cli(&config, &args);
        let mut quiet = vec!["--quiet"];
        quiet.extend_from_slice(&args);
        let output = cli(&config, &quiet);
        assert_eq!(output.status.code(), Some(2), "{quiet:?}");
        assert_eq!(output.status.code(), loud.status.code());
        assert_eq!(text(&output.stderr), text(&loud.stderr), "{quiet:?}");
        assert_eq!(text(&output.stdout), "");
    }
    // `check` keeps its table (the data) and its Nagios code under --quiet.
    let output = cli(&config, &["-q", "check"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stdout).contains("CRITICAL"));
}

/// Which of the child's streams goes to the terminal.
#[derive(Clone, Copy, PartialEq)]
enum Tty {
    Stdout,
    Stderr,
}

/// Runs lookout with one stream on a pseudo-terminal (100 columns) and the other piped:
/// (what the terminal got, what the pipe got, exit code).
fn on_terminal(args: &[&str], tty: Tty, env: &[(&str, &str)]) -> (String, String, Option<i32>) {
    let (mut master, slave) = pty(Some((100, 30))).expect("openpty");
    let child = {
        let mut command: Command = lookout();
        command
            .args(args)
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("CLICOLOR")
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        let terminal = Stdio::from(slave.try_clone().unwrap());
        match tty {
            Tty::Stdout => command.stdout(terminal).stderr(Stdio::piped()),
            Tty::Stderr => command.stderr(terminal).stdout(Stdio::piped()),
        };
        command.spawn().unwrap()
        // `command` (holding a copy of the terminal) is dropped here.
    };
    drop(slave);
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        // EIO once the child (the last holder of the terminal) has exited.
        while let Ok(n) = master.read(&mut buffer) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buffer[..n]);
        }
        text(&seen)
    });
    let output = child.wait_with_output().unwrap();
    let piped = if tty == Tty::Stdout {
        &output.stderr
    } else {
        &output.stdout
    };
    let terminal = reader.join().unwrap();
    let stderr = if tty == Tty::Stderr {
        terminal.clone()
    } else {
        text(&output.stderr)
    };
    collect_log("cli", &stderr);
    (terminal, text(piped), output.status.code())
}

#[test]
fn colour_and_progress_only_on_a_terminal_and_never_under_no_color() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = failing_config(dir.path(), "");
    let config = config.to_str().unwrap();
    let args = ["--config", config, "check"];

    // stdout on a terminal: statuses in colour (CRITICAL in bold red).
    let (terminal, _, code) = on_terminal(&args, Tty::Stdout, &[]);
    assert_eq!(code, Some(2));
    assert!(
        terminal.contains("\u{1b}[1m\u{1b}[31mCRITICAL"),
        "{terminal:?}"
    );
    // NO_COLOR: the same table without a single escape code.
    let (terminal, _, _) = on_terminal(&args, Tty::Stdout, &[("NO_COLOR", "1")]);
    assert!(terminal.contains("CRITICAL"), "{terminal:?}");
    assert!(!terminal.contains('\u{1b}'), "{terminal:?}");

    // stderr on a terminal: a progress bar of the checks, cleared at the end; stdout (a
    // pipe) has the table without colour.
    let (terminal, piped, _) = on_terminal(&args, Tty::Stderr, &[]);
    assert!(
        terminal.contains("checks ["),
        "no progress bar: {terminal:?}"
    );
    assert!(
        piped.contains("CRITICAL") && !piped.contains('\u{1b}'),
        "{piped:?}"
    );
    // --quiet: no progress bar.
    let quiet = ["--config", config, "--quiet", "check"];
    let (terminal, _, _) = on_terminal(&quiet, Tty::Stderr, &[]);
    assert!(!terminal.contains("checks ["), "{terminal:?}");

    // `export grafana` shows its progress too.
    let out = dir.path().join("grafana");
    let export = ["export", "grafana", out.to_str().unwrap()];
    let (terminal, piped, code) = on_terminal(&export, Tty::Stderr, &[]);
    assert_eq!(code, Some(0), "{terminal}");
    assert!(terminal.contains("files ["), "{terminal:?}");
    assert!(piped.contains("wrote "), "{piped:?}");

    // So does `store compact` (a store is there once something was collected).
    let collected = cli(Path::new(config), &["collect"]);
    assert!(collected.status.success(), "{}", text(&collected.stderr));
    let compact = ["--config", config, "store", "compact"];
    let (terminal, piped, code) = on_terminal(&compact, Tty::Stderr, &[]);
    assert_eq!(code, Some(0), "{terminal}");
    assert!(terminal.contains("compact ["), "{terminal:?}");
    assert!(piped.contains("compacted "), "{piped:?}");
    let quiet = ["--config", config, "--quiet", "store", "compact"];
    let (terminal, piped, code) = on_terminal(&quiet, Tty::Stderr, &[]);
    assert_eq!(code, Some(0), "{terminal}");
    assert!(!terminal.contains("compact ["), "{terminal:?}");
    assert_eq!(piped, "");
}

/// README's "Cron mode" is the seed's crontab (health checks every 5 minutes, metrics every
/// minute, alert processing every 5 minutes), and each line is a command that runs.
#[test]
fn the_readme_cron_lines_match_the_seed_and_run() {
    let _machine = crate::common::machine::shared();
    let readme = docs::read("README.md");
    let section = &readme[readme.find("## Cron mode").expect("a Cron mode section")..];
    let block = &section[section.find("```cron").unwrap() + 7..];
    let block = &block[..block.find("```").unwrap()];
    let lines: Vec<(String, Vec<String>)> = block
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            let schedule = fields[..5].join(" ");
            let command: Vec<String> = fields[5..]
                .iter()
                .take_while(|f| !f.starts_with('>'))
                .map(|f| f.to_string())
                .collect();
            (schedule, command)
        })
        .collect();
    let schedules: Vec<&str> = lines.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(schedules, ["*/5 * * * *", "* * * * *", "*/5 * * * *"]);

    let dir = tempfile::tempdir().unwrap();
    let config = failing_config(dir.path(), "");
    let expected = [vec!["check"], vec!["collect"], vec!["alerts", "run"]];
    for ((_, command), expected) in lines.iter().zip(expected) {
        assert_eq!(command[0], "lookout");
        assert_eq!(command[1], "--config");
        assert_eq!(command[3..], expected[..], "{command:?}");
        let output = cli(&config, &expected);
        assert!(
            output.status.code().is_some_and(|c| c <= 2),
            "{command:?}: {}",
            text(&output.stderr)
        );
    }
}
