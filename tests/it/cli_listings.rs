//! The command line as a demanding user reads it (issue 18, CLI): every listing is a table with
//! a header row and aligned columns; values carry their unit; `--json` numbers are rounded;
//! `--json` leaves stderr to errors of the command, not the human report; `silence add` knows
//! who is at the keyboard; every argument has help text and the main commands show examples
//! that work.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;

use clap::{CommandFactory, Parser};

use crate::common::cli::{cli_env, failing_config, json_of, ok};
use crate::common::{self, run, text, write_config};

/// `common::cli::failing_config` with a check that answers (`cache`, the listener returned,
/// which must live as long as the config is used).
fn config(dir: &Path) -> (TcpListener, PathBuf) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open_port = listener.local_addr().unwrap().port();
    let config = failing_config(
        dir,
        &format!(
            "[[check]]\nname = \"cache\"\ntype = \"tcp\"\naddress = \"127.0.0.1:{open_port}\"\n\
             layer = \"redis\"\nretries = 0\n\n"
        ),
    );
    (listener, config)
}

fn cli(config: &Path, args: &[&str]) -> Output {
    cli_env(config, args, &[], &[], "")
}

/// `common::cli::fill`, through `cli_env`.
fn fill(config: &Path) {
    common::cli::fill(|args, input| cli_env(config, args, &[], &[], input));
}

/// The header's columns (start offsets in characters, and names) when `header` is a header
/// row: words in capitals (and spaces, dots, digits, %), at least two columns.
fn columns(header: &str) -> Option<Vec<(usize, String)>> {
    let chars: Vec<char> = header.chars().collect();
    if chars
        .iter()
        .any(|c| c.is_lowercase() || !(c.is_alphanumeric() || " .%/_-".contains(*c)))
    {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != ' ' && (i == 0 || (chars[i - 1] == ' ' && i >= 2 && chars[i - 2] == ' ')) {
            let end = (i..chars.len())
                .find(|&j| chars[j] == ' ' && chars.get(j + 1) == Some(&' '))
                .unwrap_or(chars.len());
            out.push((i, chars[i..end].iter().collect()));
            i = end;
        } else {
            i += 1;
        }
    }
    (out.len() >= 2).then_some(out)
}

/// Asserts that `out` is a table: a header row first, then rows whose cells start where the
/// header's columns start (a space before each, text at it). Returns the header's names and
/// the rows cut at the columns.
fn table(args: &[&str], out: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    let cols = columns(header).unwrap_or_else(|| panic!("{args:?}: no header row first:\n{out}"));
    let mut rows = Vec::new();
    for line in lines {
        let chars: Vec<char> = line.chars().collect();
        for (at, name) in cols.iter().skip(1) {
            assert!(
                chars.len() > *at && chars[at - 1] == ' ' && chars[*at] != ' ',
                "{args:?}: column {name} is not aligned in {line:?}:\n{out}"
            );
        }
        let mut cells = Vec::new();
        for (k, (at, _)) in cols.iter().enumerate() {
            let end = cols.get(k + 1).map_or(chars.len(), |(next, _)| *next);
            cells.push(
                chars[*at..end]
                    .iter()
                    .collect::<String>()
                    .trim()
                    .to_string(),
            );
        }
        rows.push(cells);
    }
    (cols.into_iter().map(|(_, name)| name).collect(), rows)
}

fn cell<'a>(names: &[String], row: &'a [String], name: &str) -> &'a str {
    let k = names
        .iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("no column {name} in {names:?}"));
    &row[k]
}

/// Issue 18: `user list`, `token list` and `alerts list` had no header row, and `alerts
/// list` neither the rule nor the alert's id; the other listings each had a layout of their
/// own.
#[test]
fn every_listing_is_a_table_with_a_header_row_and_aligned_columns() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let (_listener, config) = config(dir.path());
    fill(&config);

    // (args, columns that must be there)
    let listings: &[(&[&str], &[&str])] = &[
        (&["user", "list"], &["NAME", "ROLE", "CREATED"]),
        (
            &["token", "list"],
            &["ID", "NAME", "ROLE", "CREATED", "STATE"],
        ),
        (
            &["alerts", "list"],
            &["ID", "RULE", "STATE", "SEVERITY", "SINCE", "SUMMARY"],
        ),
        (&["alerts", "history"], &["AT", "KIND", "SEVERITY", "RULE"]),
        (
            &["alerts", "outbox"],
            &["ID", "NOTIFIER", "STATE", "ATTEMPTS"],
        ),
        (
            &["silence", "list"],
            &["ID", "STATE", "STARTS", "ENDS", "MATCHERS", "AUTHOR"],
        ),
        (&["check"], &["LAYER", "CHECK", "STATUS", "VALUE", "DETAIL"]),
    ];
    for (args, wanted) in listings {
        let output = cli(&config, args);
        let stdout = text(&output.stdout);
        let (names, rows) = table(args, &stdout);
        for name in *wanted {
            assert!(
                names.iter().any(|n| n == name),
                "{args:?}: no {name}: {names:?}"
            );
        }
        assert!(!rows.is_empty(), "{args:?}: no rows:\n{stdout}");
    }

    // `alerts list` names the rule and the alert as the JSON does.
    let alerts = json_of(&[], &cli(&config, &["alerts", "list", "--json"]));
    let (names, rows) = table(&[], &text(&cli(&config, &["alerts", "list"]).stdout));
    assert_eq!(cell(&names, &rows[0], "ID"), alerts[0]["id"]);
    assert_eq!(cell(&names, &rows[0], "RULE"), alerts[0]["rule"]);
    let (names, rows) = table(&[], &text(&cli(&config, &["token", "list"]).stdout));
    assert_eq!(cell(&names, &rows[0], "NAME"), "grafana");
    assert_eq!(cell(&names, &rows[0], "STATE"), "active");
    let (names, rows) = table(&[], &text(&cli(&config, &["user", "list"]).stdout));
    assert_eq!(cell(&names, &rows[0], "NAME"), "ada");
    assert_eq!(cell(&names, &rows[0], "ROLE"), "viewer");

    // Under --quiet the table stays (it is the data); an empty listing says so, without a
    // header.
    let quiet = cli(&config, &["-q", "user", "list"]);
    assert!(
        text(&quiet.stdout).starts_with("NAME"),
        "{}",
        text(&quiet.stdout)
    );
    let empty = cli(&config, &["maintenance", "history", "--since", "1s"]);
    ok(&["maintenance", "history"], &empty);
    let first = text(&empty.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        columns(&first).is_none(),
        "a header over nothing: {first:?}"
    );
}

/// Issue 18: `check` printed `0.003` for 3 ms: a value is shown in its unit (seconds as ms or
/// s, ratios as %, counts as they are).
#[test]
fn check_values_carry_their_unit() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let (_listener, config) = config(dir.path());
    let output = cli(&config, &["check"]);
    let stdout = text(&output.stdout);
    let (names, rows) = table(&["check"], &stdout);
    let value = |check: &str| {
        let row = rows
            .iter()
            .find(|r| cell(&names, r, "CHECK") == check)
            .unwrap_or_else(|| panic!("no {check} row:\n{stdout}"));
        cell(&names, row, "VALUE").to_string()
    };
    let cache = value("cache");
    assert!(
        cache.ends_with(" ms") || cache.ends_with(" s") || cache.ends_with(" µs"),
        "a connect time in ms: {cache:?}\n{stdout}"
    );
    let memory = value("memory");
    assert!(memory.ends_with('%'), "a ratio in %: {memory:?}\n{stdout}");
    // A check without a value (the refused connection) shows a dash, not a unit.
    assert_eq!(value("db"), "-", "{stdout}");
}

/// The significant digits of a JSON number's text ("0.020000000000000018" has 17).
fn significant_digits(number: &str) -> usize {
    let mantissa = number
        .split(['e', 'E'])
        .next()
        .unwrap()
        .trim_start_matches('-');
    let mantissa = if mantissa.contains('.') {
        mantissa.trim_end_matches('0').trim_end_matches('.')
    } else {
        mantissa
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let (whole, _) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let significant = digits.trim_start_matches('0').len();
    // Whole digits are never rounded away ("1234567.0" is 7 digits, fine).
    let whole_digits = whole.trim_start_matches('0').len();
    if significant <= whole_digits {
        0
    } else {
        significant
    }
}

/// Every number of `text` (a JSON document) with a fraction or an exponent.
fn fractional_numbers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut current = String::new();
    for c in text.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if c.is_ascii_digit() || "+-.eE".contains(c) {
            current.push(c);
            continue;
        }
        if current.contains(['.', 'e', 'E']) {
            out.push(std::mem::take(&mut current));
        }
        current.clear();
        if c == '"' {
            in_string = true;
        }
    }
    out
}

/// Issue 18: JSON printed floats as `0.020000000000000018`: every `--json` output rounds its
/// numbers (6 significant digits; whole digits are kept).
#[test]
fn json_numbers_are_rounded_in_every_json_output() {
    let _machine = crate::common::machine::shared();
    assert_eq!(significant_digits("0.020000000000000018"), 17);
    assert_eq!(significant_digits("0.02"), 1);
    assert_eq!(significant_digits("1234567.0"), 0);
    assert_eq!(significant_digits("0.000123457"), 6);
    assert_eq!(
        fractional_numbers(r#"{"a": 1, "b": 0.5, "c": "1.23", "d": [1e-7]}"#),
        ["0.5", "1e-7"]
    );
    let dir = tempfile::tempdir().unwrap();
    let (_listener, config) = config(dir.path());
    fill(&config);
    ok(&["collect"], &cli(&config, &["collect"]));
    let mut seen = 0;
    for args in [
        &["check", "--json"][..],
        &["alerts", "list", "--json"],
        &["alerts", "history", "--json"],
        &["report", "--json"],
        &["maintenance", "status", "--json"],
        &["config", "check", "--json"],
        &["store", "stats", "--json"],
        &["doctor", "--json"],
    ] {
        let output = cli(&config, args);
        let stdout = text(&output.stdout);
        json_of(args, &output);
        for number in fractional_numbers(&stdout) {
            seen += 1;
            assert!(
                significant_digits(&number) <= 6,
                "{args:?}: {number} is not rounded:\n{stdout}"
            );
        }
    }
    assert!(seen > 3, "the outputs had fractional numbers to look at");
}

/// Issue 18: `config check --json` also printed the human list of problems on stderr: with
/// --json, stdout has the one document, stderr nothing; the exit code still tells.
#[test]
fn config_check_json_prints_only_json() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let good = write_config(dir.path(), 0, "");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nlisten = 5\n[system]\nintervall = \"1s\"\n").unwrap();
    for (path, code, valid) in [(&good, 0, true), (&bad, 2, false)] {
        let args = ["config", "check", path.to_str().unwrap(), "--json"];
        let output = cli(&good, &args);
        assert_eq!(output.status.code(), Some(code), "{args:?}");
        assert_eq!(json_of(&args, &output)["ok"], valid);
        assert_eq!(text(&output.stderr), "", "{args:?}: stderr is not empty");
    }
}

/// Issue 18: `silence add` recorded "unknown" as the author where amtool takes `$USER`: the
/// author is --author, else $USER, else $LOGNAME.
#[test]
fn silence_author_defaults_to_user_then_logname() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 0, "");
    let add = |env: &[(&str, &str)], remove: &[&str], extra: &[&str]| {
        let mut args = vec!["silence", "add", "check=\"x\"", "--comment", "c", "--json"];
        args.extend_from_slice(extra);
        let output = cli_env(&config, &args, env, remove, "");
        json_of(&args, &output)["author"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        add(&[("USER", "alice"), ("LOGNAME", "carol")], &[], &[]),
        "alice"
    );
    assert_eq!(add(&[("LOGNAME", "carol")], &["USER"], &[]), "carol");
    assert_eq!(
        add(&[("USER", ""), ("LOGNAME", "carol")], &[], &[]),
        "carol"
    );
    assert_eq!(add(&[("USER", "alice")], &[], &["--author", "bob"]), "bob");
    // Neither set (cron, systemd, docker exec): the account's name, as `id -un` says it.
    let account = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    assert_eq!(
        add(&[], &["USER", "LOGNAME"], &[]),
        text(&account.stdout).trim()
    );
}

/// Every command of the tree, with its path of names ("lookout token create").
fn commands(command: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
    out.push((path.to_string(), command.clone()));
    for sub in command.get_subcommands() {
        commands(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

/// Issue 18: several arguments had no help text (`token create --role`, `report --json`, the
/// PATH of `config init|check`). Walks the whole command tree.
#[test]
fn every_argument_has_help_text() {
    let _machine = crate::common::machine::shared();
    let mut all = Vec::new();
    let mut root = lookout::cli::Cli::command();
    root.build();
    commands(&root, "lookout", &mut all);
    let mut missing = Vec::new();
    for (path, command) in &all {
        for arg in command.get_arguments() {
            // clap's own --help and --version have theirs.
            if matches!(arg.get_id().as_str(), "help" | "version") {
                continue;
            }
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            if help.trim().is_empty() {
                missing.push(format!("{path} {}", arg.get_id()));
            }
        }
        if command.get_about().is_none() && path != "lookout" && !path.ends_with(" help") {
            missing.push(format!("{path} (the command itself)"));
        }
    }
    assert!(
        missing.is_empty(),
        "arguments without help text:\n{}",
        missing.join("\n")
    );
}

/// Splits a command line as a shell does, for the examples' quoting ('...', "...").
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => word.extend(chars.next()),
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                word.extend(chars.next());
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, '#') if !in_word => break,
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Issue 18: no `--help` had examples. The main commands show an "Examples:" section whose
/// every `lookout ...` line parses (the real binary's help, parsed by the real parser).
#[test]
fn main_commands_show_examples_that_parse() {
    let _machine = crate::common::machine::shared();
    assert_eq!(
        shell_words(r#"lookout silence add 'check="db"' --comment "db \"up\"" # why"#),
        [
            "lookout",
            "silence",
            "add",
            "check=\"db\"",
            "--comment",
            "db \"up\""
        ]
    );
    let main: &[&[&str]] = &[
        &[],
        &["serve"],
        &["check"],
        &["config", "init"],
        &["config", "check"],
        &["token", "create"],
        &["user", "add"],
        &["silence", "add"],
        &["silence", "list"],
        &["alerts", "list"],
        &["alerts", "history"],
        &["maintenance", "start"],
        &["maintenance", "stop"],
        &["report"],
        &["store", "compact"],
        &["export", "prometheus-rules"],
        &["doctor"],
    ];
    let dir = tempfile::tempdir().unwrap();
    for path in main {
        let output = run(&[*path, &["--help"][..]].concat(), dir.path());
        let help = text(&output.stdout);
        let Some((_, examples)) = help.split_once("\nExamples:\n") else {
            panic!("lookout {} --help has no Examples:\n{help}", path.join(" "));
        };
        examples_parse(path, examples);
    }
    // Every example of every command that has some, main or not.
    let mut all = Vec::new();
    commands(&lookout::cli::Cli::command(), "lookout", &mut all);
    let mut with = 0;
    for (path, command) in &all {
        let Some(after) = command.get_after_help().map(|h| h.to_string()) else {
            continue;
        };
        let examples = after
            .strip_prefix("Examples:\n")
            .unwrap_or_else(|| panic!("{path}: an after_help that is not Examples: {after}"));
        let words: Vec<&str> = path.split(' ').skip(1).collect();
        examples_parse(&words, examples);
        with += 1;
    }
    assert!(with > main.len(), "{with} commands with examples");
}

/// Each command line of an Examples section (the end of the help; "# ..." lines say what the
/// next one does) parses with the real parser, and names the command `path` it is an example
/// of.
fn examples_parse(path: &[&str], examples: &str) {
    let lines: Vec<&str> = examples
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(!lines.is_empty(), "{path:?}: empty Examples");
    for line in lines {
        let words = shell_words(line);
        // The command starts at `lookout` (it may read a pipe); pipes and redirections end it.
        let start = words
            .iter()
            .position(|w| w == "lookout")
            .unwrap_or_else(|| panic!("{path:?}: example {line:?} runs no lookout"));
        let words = &words[start..];
        let end = words
            .iter()
            .position(|w| matches!(w.as_str(), "|" | ">" | ">>" | "&&"))
            .unwrap_or(words.len());
        let words = &words[..end];
        match lookout::cli::Cli::try_parse_from(words) {
            Ok(_) => {}
            Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {}
            Err(error) => panic!("{path:?}: example {line:?} does not parse:\n{error}"),
        }
        assert!(
            path.iter().all(|name| words.iter().any(|w| w == name)),
            "{path:?}: example {line:?} is about another command"
        );
    }
}
