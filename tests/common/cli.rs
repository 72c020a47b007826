//! The command line as the CLI tests (`cli_habits`, `cli_listings`) run it: a config whose
//! store the commands fill with a little of everything, `lookout --config CONFIG ...` with
//! its environment and stdin, and what every answer must be (a success, JSON).
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use serde_json::Value;

use crate::common::{finish, free_port, lookout, text, write_config};

/// A config with a check that fails (`db`, a closed port), the checks `more` adds (TOML,
/// each ending with an empty line) and a webhook nobody answers, so `check` + `alerts run`
/// leave results, a firing alert, its history and outbox rows.
pub fn failing_config(dir: &Path, more: &str) -> PathBuf {
    let closed = free_port();
    let extra = format!(
        "\n[[alerts.rule]]\nname = \"cpu_usage\"\nenabled = false\n\
         [[alerts.rule]]\nname = \"memory_usage\"\nenabled = false\n\
         [[alerts.rule]]\nname = \"disk_usage\"\nenabled = false\n\n\
         [[check]]\nname = \"db\"\ntype = \"tcp\"\naddress = \"127.0.0.1:{closed}\"\n\
         layer = \"database\"\nretries = 0\n\n\
         {more}\
         [[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{closed}/hook\"\n"
    );
    write_config(dir, 0, &extra)
}

/// `lookout --config CONFIG ARGS` with `env` set (and `remove` unset), stdin `input`, never
/// on a terminal.
pub fn cli_env(
    config: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    remove: &[&str],
    input: &str,
) -> Output {
    let mut command = lookout();
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .current_dir(config.parent().unwrap())
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in remove {
        command.env_remove(name);
    }
    let mut child = command.spawn().unwrap();
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    finish(child)
}

/// Asserts that `args` succeeded.
pub fn ok(args: &[&str], output: &Output) {
    assert!(
        output.status.success(),
        "{args:?}: {:?}\n{}{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// The JSON `args` printed on stdout; panics when it is not JSON.
pub fn json_of(args: &[&str], output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: stdout is not JSON ({e}): {}\nstderr: {}",
            text(&output.stdout),
            text(&output.stderr)
        )
    })
}

/// Fills the store of a `failing_config` through `cli` (a test's way to run `lookout
/// --config CONFIG ARGS` with stdin INPUT): check results, a firing alert with history and
/// outbox rows, a silence, a user, a token, a maintenance window.
pub fn fill(cli: impl Fn(&[&str], &str) -> Output) {
    let checked = cli(&["check"], "");
    assert_eq!(checked.status.code(), Some(2), "db is down: CRITICAL");
    cli(&["alerts", "run"], "");
    let silence = [
        "silence",
        "add",
        "check=\"db\"",
        "--for",
        "1h",
        "--comment",
        "x",
    ];
    ok(&silence, &cli(&silence, ""));
    let add = ["user", "add", "ada", "--role", "viewer", "--password-stdin"];
    ok(&add, &cli(&add, "a-long-enough-password\n"));
    let create = ["token", "create", "--role", "viewer", "--name", "grafana"];
    ok(&create, &cli(&create, ""));
    let start = [
        "maintenance",
        "start",
        "--for",
        "30m",
        "--reason",
        "upgrade",
    ];
    ok(&start, &cli(&start, ""));
}
