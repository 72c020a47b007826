//! README.md, followed literally: the two shells of its tour run what the README says, in its
//! order, on a fresh "clone" (a temporary directory, also HOME, holding only
//! `target/release/lookout`, which is the lookout under test), as `tests/it/guide.rs` does for
//! the operator's guide (with the same markdown and shell helpers, `common::docs`).
//!
//! How the README is read:
//! - ` ```sh first-shell ` blocks run in the first shell. The first one ("Run it") starts the
//!   daemon, which runs while the tour goes on; a later `serve` there comes after Ctrl-C (its
//!   comment must say so): the test stops the running daemon with SIGINT, as Ctrl-C does, and
//!   it must exit 0. `cargo run --release --` is `target/release/lookout`, as the README says.
//! - Every ` ```sh ` block of "A five-minute tour" runs in the second shell, line by line,
//!   with `bash -o pipefail -c`, the environment one line leaves (`export`) being the next
//!   one's. The second shell starts without `lookout` on PATH, as a fresh shell: the tour has
//!   to name the binary. Each line must exit 0 within 60 s (a `lookout serve` there is refused,
//!   the first shell's daemon holds the port; one that was not would block the shell: both
//!   fail). `curl` fails on an HTTP error (a 401 too): a wrapper first on PATH adds
//!   `--fail-with-body`. `lookout check` may exit 1 or 2 when only this host's resources
//!   (cpu, memory, a disk) are over their thresholds: the machine is shared.
//! - ` ```text ` blocks of the tour are not run and hold no `lookout` command; any other kind
//!   of block in the tour is an error.
//!
//! Substituted, for the test to run beside others: `127.0.0.1:9898` becomes a free port, in
//! every line and in the files `lookout config init` writes; the first shell's daemon gets
//! that port from a config named by `LOOKOUT_CONFIG` (its data stays `./lookout-data`, the
//! default, which the second shell's commands share).
//!
//! Also checked against the binary: the presets the README names and the environment
//! variables each needs (from `config init`'s own messages and help), and the minimum Rust
//! version it states (Cargo.toml's `rust-version`, not above the toolchain running this).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::docs::{
    self, Session, blocks, checks_not_ok, checks_other_than, comment, environment_without,
    lookout_words, shell_lines, substitute,
};
use crate::common::{Daemon, free_port, lookout, run, text, write_config};

const TOUR: &str = "## A five-minute tour";
const FIRST_SHELL: &str = "sh first-shell";
/// How long a second-shell line may take.
const LINE_LIMIT: Duration = Duration::from_secs(60);

fn readme_text() -> String {
    docs::read("README.md")
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shell {
    First,
    Second,
}

/// One line to run: where it is in README.md, in which shell.
#[derive(Debug, Clone)]
struct Step {
    at: usize,
    shell: Shell,
    line: String,
}

/// The tour's steps, in order: the first-shell blocks anywhere, and every block of the tour's
/// section (up to the next `## ` heading).
fn steps(markdown: &str) -> Result<Vec<Step>, String> {
    let lines: Vec<&str> = markdown.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_end() == TOUR)
        .ok_or_else(|| format!("no {TOUR:?} section: nothing would be tested"))?
        + 1;
    let end = (start..lines.len())
        .find(|&i| lines[i].starts_with("## "))
        .unwrap_or(lines.len());
    let in_tour = |at: usize| at > start && at <= end;
    let mut steps = Vec::new();
    for block in blocks(markdown) {
        let first = block.lines.first().map_or(0, |l| l.0);
        let shell = match block.info.as_str() {
            FIRST_SHELL => Shell::First,
            "sh" if in_tour(first) => Shell::Second,
            "text" if in_tour(first) => {
                if let Some((at, line)) = block.lines.iter().find(|l| lookout_words(&l.1).is_some())
                {
                    return Err(format!(
                        "line {at}: a lookout command in a text block is not run; put it in a sh block: {line}"
                    ));
                }
                continue;
            }
            other if in_tour(first) => {
                return Err(format!(
                    "line {first}: a block of kind {other:?} in the tour: sh (second shell), {FIRST_SHELL:?} or text"
                ));
            }
            _ => continue,
        };
        for (at, line) in shell_lines(&block)? {
            steps.push(Step {
                at,
                shell,
                line: line.to_string(),
            });
        }
    }
    if !steps.iter().any(|s| s.shell == Shell::Second) {
        return Err("the tour has no ```sh block: nothing would be tested".into());
    }
    match steps.first() {
        Some(step) if step.shell == Shell::First && is_serve(&step.line) => Ok(steps),
        _ => Err(format!(
            "the tour starts with the daemon of \"Run it\", a ```{FIRST_SHELL} block running serve"
        )),
    }
}

/// The line runs `lookout serve` (as `lookout` or `cargo run --release --`).
fn is_serve(line: &str) -> bool {
    let line = line.replace("cargo run --release --", "lookout");
    let line: Vec<&str> = line
        .split_whitespace()
        .map(|word| {
            if word.ends_with("/lookout") {
                "lookout"
            } else {
                word
            }
        })
        .collect();
    lookout_words(&line.join(" "))
        .is_some_and(|words| words.first().map(String::as_str) == Some("serve"))
}

/// The directories of PATH, without any that holds a `lookout`: a fresh shell on a machine
/// where Lookout was only just built.
fn path_without_lookout() -> String {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|dir| !Path::new(dir).join("lookout").exists())
        .collect::<Vec<_>>()
        .join(":")
}

/// The fresh clone, its two shells and the first shell's daemon.
struct Tour {
    root: PathBuf,
    port: u16,
    table: Vec<(String, String)>,
    /// The shells' environment at the start: the test's, without what changes lookout's
    /// behaviour, HOME in the clone, PATH without lookout, the curl wrapper first.
    fresh: BTreeMap<String, String>,
    /// The second shell, its environment grown by `export`.
    second: Session,
    daemon: Option<Daemon>,
    /// The first shell's daemon was started once (the tour's lines may use the port since).
    started: bool,
}

impl Tour {
    fn new(root: &Path) -> Tour {
        let release = root.join("target/release");
        std::fs::create_dir_all(&release).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_lookout"), release.join("lookout")).unwrap();
        // curl exits 0 on a 401; the README's lines must work, so any HTTP error fails here.
        let wrappers = root.join(".test-bin");
        std::fs::create_dir_all(&wrappers).unwrap();
        let curl = which("curl").expect("curl is needed for this test");
        let wrapper = wrappers.join("curl");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec '{}' --fail-with-body \"$@\"\n",
                curl.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut fresh = environment_without(&["LOOKOUT_CONFIG", "RUST_LOG", "NO_COLOR", "TOKEN"]);
        fresh.insert("HOME".into(), root.display().to_string());
        fresh.insert(
            "PATH".into(),
            format!("{}:{}", wrappers.display(), path_without_lookout()),
        );
        let port = free_port();
        Tour {
            root: root.to_path_buf(),
            port,
            table: substitutions(port),
            second: Session::new(root, ".tour-env", fresh.clone()),
            fresh,
            daemon: None,
            started: false,
        }
    }

    fn run(&mut self, step: &Step) -> Result<(), String> {
        let line = substitute(&step.line, &self.table);
        match step.shell {
            Shell::First => self.first_shell(&step.line, &line),
            Shell::Second => self.second_shell(&line),
        }
    }

    /// A line of the first shell: the daemon (again, after Ctrl-C), in the background.
    fn first_shell(&mut self, written: &str, line: &str) -> Result<(), String> {
        if !is_serve(line) {
            return Err("the first shell runs the daemon (serve) and nothing else".into());
        }
        if let Some(daemon) = self.daemon.take() {
            if !comment(written).contains("Ctrl-C") {
                return Err(
                    "the first shell's daemon still runs: the line must say to stop it (Ctrl-C)"
                        .into(),
                );
            }
            let (code, log) = daemon.stop_with(libc::SIGINT);
            if code != Some(0) {
                return Err(format!("Ctrl-C: the daemon exited {code:?}\n{log}"));
            }
        }
        let command_line = line.split('#').next().unwrap_or_default();
        if command_line.contains(['\'', '"', '$', '|', '>', '&', ';']) {
            return Err(
                "a first-shell line is one plain command (no quotes, $, |, >, &, ;)".into(),
            );
        }
        let words: Vec<&str> = command_line.split_whitespace().collect();
        let program = self.root.join(words[0]);
        if !program.is_file() {
            return Err(format!("{}: command not found", words[0]));
        }
        // The port the tour's lines use (substituted for 9898), for the embedded default.
        let first_shell_config = self.root.join(".first-shell.toml");
        let spawn = |port: u16| {
            std::fs::write(
                &first_shell_config,
                format!("[server]\nlisten = \"127.0.0.1:{port}\"\n"),
            )
            .unwrap();
            let mut command = Command::new(&program);
            command
                .args(&words[1..])
                .env_clear()
                .envs(&self.fresh)
                .env("LOOKOUT_CONFIG", &first_shell_config)
                .current_dir(&self.root);
            Daemon::try_spawn(command)
        };
        let mut result = spawn(self.port);
        // Before any line used the port, another process may have taken it since free_port:
        // the first daemon tries another one (as `common::with_free_port` does).
        for _ in 0..4 {
            match &result {
                Err(log) if !self.started && log.contains("cannot listen on") => {
                    self.port = free_port();
                    self.table = substitutions(self.port);
                    result = spawn(self.port);
                }
                _ => break,
            }
        }
        self.started = true;
        let daemon = result?;
        if daemon.port() != self.port {
            return Err(format!(
                "the daemon listens on {}, the tour's lines on port {}",
                daemon.addr, self.port
            ));
        }
        self.daemon = Some(daemon);
        Ok(())
    }

    /// A line of the second shell, in bash, with the environment the previous lines left.
    fn second_shell(&mut self, line: &str) -> Result<(), String> {
        let first = line.split_whitespace().next().unwrap_or_default();
        if !["lookout", "curl", "export"].contains(&first) {
            return Err(format!(
                "{first:?}: a tour line runs lookout or curl, or sets the environment (export)"
            ));
        }
        let mut child = self
            .second
            .bash(line)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run bash: {e}"))?;
        let started = Instant::now();
        while child.try_wait().map_err(|e| e.to_string())?.is_none() {
            if started.elapsed() > LINE_LIMIT {
                // SAFETY: the line's own process group (process_group(0) above).
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let output = child.wait_with_output().map_err(|e| e.to_string())?;
                return Err(format!(
                    "did not finish within {LINE_LIMIT:?} (a daemon? it belongs in the first shell)\n--- stderr\n{}",
                    text(&output.stderr)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let output = child.wait_with_output().map_err(|e| e.to_string())?;
        let code = output.status.code().unwrap_or(-1);
        eprintln!(
            "README.md: $ {line}\n{}{}-> exit {code}",
            text(&output.stdout),
            text(&output.stderr)
        );
        self.second.keep_environment()?;
        let words = lookout_words(line).unwrap_or_default();
        if checks_not_ok(&words, code, &text(&output.stderr))
            && let Some(busy) = self.only_resources_are_busy()
        {
            eprintln!("README.md: exit {code} taken as 0: {busy}");
            return Ok(());
        }
        if code != 0 {
            return Err(format!(
                "exited {code}\n--- stdout\n{}--- stderr\n{}",
                text(&output.stdout),
                text(&output.stderr)
            ));
        }
        if words.starts_with(&["config".to_string(), "init".to_string()]) {
            self.port_in_written_config(&words)?;
        }
        Ok(())
    }

    /// `lookout check` exited 1 or 2: taken as 0 when, asked again, the checks not ok are only
    /// this host's resources (cpu, memory, disks), which other work on a shared machine fills.
    fn only_resources_are_busy(&self) -> Option<String> {
        let output = Command::new("bash")
            .args(["-c", "lookout check --json"])
            .env_clear()
            .envs(&self.second.env)
            .current_dir(&self.root)
            .output()
            .ok()?;
        let not_ok = checks_other_than(&output.stdout, &["ok"])?;
        let resource = |r: &serde_json::Value| {
            let name = r["check"].as_str().unwrap_or_default();
            name == "cpu" || name == "memory" || name.starts_with("disk:")
        };
        // All ok when asked again: the load that failed the line has passed.
        not_ok
            .iter()
            .all(resource)
            .then(|| format!("only this host's resources are not ok (now: {not_ok:?})"))
    }

    /// After `lookout config init PATH`: the file's listen address on the tour's port.
    fn port_in_written_config(&self, words: &[String]) -> Result<(), String> {
        let Some(path) = words.iter().skip(2).rfind(|w| !w.starts_with('-')) else {
            return Ok(());
        };
        let path = self.root.join(path);
        let written = std::fs::read_to_string(&path)
            .map_err(|e| format!("config init did not write {}: {e}", path.display()))?;
        std::fs::write(&path, substitute(&written, &self.table)).map_err(|e| e.to_string())
    }

    /// Runs every step; Err names the README line.
    fn run_all(&mut self, steps: &[Step]) -> Result<(), String> {
        for step in steps {
            self.run(step).map_err(|why| {
                let log = self.daemon.as_ref().map(Daemon::log).unwrap_or_default();
                format!(
                    "README.md:{}: `{}`: {why}\n--- first shell's daemon log\n{log}",
                    step.at, step.line
                )
            })?;
        }
        Ok(())
    }
}

/// What the test replaces in the tour's lines (each must still be in the README).
fn substitutions(port: u16) -> Vec<(String, String)> {
    vec![
        (
            "cargo run --release --".to_string(),
            "target/release/lookout".to_string(),
        ),
        ("127.0.0.1:9898".to_string(), format!("127.0.0.1:{port}")),
    ]
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var("PATH")
        .ok()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
}

/// The README's tour, pasted line by line into its two shells, works.
#[test]
fn the_tour_runs_as_written() {
    let _machine = crate::common::machine::shared();
    let readme = readme_text();
    let steps = steps(&readme).unwrap_or_else(|e| panic!("README.md: {e}"));
    for (from, _) in substitutions(9898) {
        assert!(
            readme.contains(from.as_str()),
            "the test substitutes {from:?}, which README.md no longer has: update the table"
        );
    }
    let root = tempfile::tempdir().unwrap();
    let mut tour = Tour::new(root.path());
    if let Err(why) = tour.run_all(&steps) {
        panic!("{why}");
    }
    let ran = steps.iter().filter(|s| s.shell == Shell::Second).count();
    eprintln!(
        "ran {} lines of README.md ({ran} in the second shell)",
        steps.len()
    );
    // The tour used the API with a token (each such curl passed: no 401).
    assert!(
        steps
            .iter()
            .any(|s| s.line.starts_with("curl") && s.line.contains("/api/v1/")),
        "the tour shows the API"
    );
    let (code, log) = tour.daemon.take().unwrap().stop_with(libc::SIGINT);
    assert_eq!(code, Some(0), "Ctrl-C stops the daemon cleanly: {log}");
}

/// A tour as the README had it before issue 18, and single breakages: each fails here.
#[test]
fn a_broken_tour_fails() {
    let _machine = crate::common::machine::shared();
    let run_it = "## The two commands\n\n```sh first-shell\ncargo run --release -- serve\n```\n\n";
    let path = "export PATH=\"$PWD/target/release:$PATH\"\n";
    for (tour, expected) in [
        // The binary named after the block: `lookout` is not a command yet.
        ("lookout check\n".to_string(), "exited 127"),
        // The API without a token.
        (
            format!("{path}curl -s 127.0.0.1:9898/api/v1/status\n"),
            "exited 22",
        ),
        // A second daemon in the second shell: refused, the first one holds the port.
        (format!("{path}lookout serve\n"), "exited 2"),
        (format!("{path}lookout chekc\n"), "exited 2"),
        (
            format!("{path}open http://127.0.0.1:9898/\n"),
            "a tour line runs",
        ),
    ] {
        let markdown = format!("# Lookout\n\n{run_it}{TOUR}\n\n```sh\n{tour}```\n");
        let root = tempfile::tempdir().unwrap();
        let mut runner = Tour::new(root.path());
        let error = steps(&markdown)
            .and_then(|steps| runner.run_all(&steps))
            .expect_err(&tour);
        assert!(error.contains(expected), "{tour}: {error}");
    }
    // Structure: no tour, or a tour that does not start with the daemon.
    assert!(steps("# Lookout\n").unwrap_err().contains("no \"## A five"));
    let no_daemon = format!("{TOUR}\n\n```sh\nlookout check\n```\n");
    assert!(steps(&no_daemon).unwrap_err().contains("Run it"));
    // A restart in the first shell that does not say to stop the running daemon.
    let restart = format!(
        "{run_it}{TOUR}\n\n```sh\n{path}```\n\n```sh first-shell\ncargo run --release -- serve\n```\n"
    );
    let root = tempfile::tempdir().unwrap();
    let error = Tour::new(root.path())
        .run_all(&steps(&restart).unwrap())
        .unwrap_err();
    assert!(error.contains("Ctrl-C"), "{error}");
}

/// The presets of `config init` (named by its unknown-preset error) and the environment
/// variables each one's file reads (named by its "wrote ..." message).
fn presets_and_their_variables(dir: &Path) -> Vec<(String, Vec<String>)> {
    let out = run(&["config", "init", "--preset", "no-such-preset"], dir);
    let message = text(&out.stderr);
    let list = message
        .split("available presets: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no preset list in {message}"));
    let names: Vec<String> = list
        .split(", \"")
        .map(|item| {
            item.trim_start_matches('"')
                .split('"')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    names
        .into_iter()
        .map(|name| {
            let file = dir.join(format!("{name}.toml"));
            let out = run(
                &["config", "init", "--preset", &name, file.to_str().unwrap()],
                dir,
            );
            assert!(out.status.success(), "{name}: {}", text(&out.stderr));
            let said = text(&out.stdout);
            let variables = said
                .split_once("environment variable")
                .map(|(_, rest)| {
                    let rest = rest.trim_start_matches('s');
                    let list = rest.split(':').next().unwrap();
                    list.split([',', ' '])
                        .filter(|w| !w.is_empty() && *w != "and")
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            (name, variables)
        })
        .collect()
}

/// `--preset vedfolnir` worked, but `config init --help` listed only "default" or "minimal",
/// and `config check` on the written file then failed on `VEDFOLNIR_DB_PASSWORD`, which the
/// "wrote ..." message never named. Now the help lists every preset, the message names every
/// variable the file reads (with them set, `config check` passes; without, it names them),
/// and the README names both.
#[test]
fn config_init_names_every_preset_and_the_variables_it_needs() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let presets = presets_and_their_variables(dir.path());
    assert!(presets.len() >= 3, "{presets:?}");
    let help = text(&run(&["config", "init", "--help"], dir.path()).stdout);
    let readme = readme_text();
    let mut some_variable = false;
    for (name, variables) in &presets {
        assert!(
            help.contains(&format!("  {name}: ")),
            "`config init --help` lists preset {name}: {help}"
        );
        if name != "default" {
            assert!(
                readme.contains(&format!("--preset {name}")),
                "README.md names --preset {name}"
            );
        }
        let file = dir.path().join(format!("{name}.toml"));
        let mut check = lookout();
        check
            .args(["config", "check"])
            .arg(&file)
            .current_dir(dir.path());
        // Written to stdout, the file is the output: the variables are named on stderr.
        let to_stdout = run(&["config", "init", "--preset", name], dir.path());
        for variable in variables {
            assert!(
                text(&to_stdout.stderr).contains(variable.as_str()),
                "config init --preset {name} (to stdout) names {variable} on stderr: {}",
                text(&to_stdout.stderr)
            );
        }
        for variable in variables {
            some_variable = true;
            assert!(
                readme.contains(variable.as_str()),
                "README.md names {variable}, which preset {name} reads"
            );
            let unset = crate::common::output(&mut check);
            assert!(
                !unset.status.success() && text(&unset.stderr).contains(variable.as_str()),
                "without {variable}, config check fails naming it: {}",
                text(&unset.stderr)
            );
            // A URL where the file wants one (the agent's hub), a word elsewhere.
            let value = if variable.ends_with("_URL") {
                "https://hub.example.org/api/v1/write"
            } else {
                "from-the-environment"
            };
            check.env(variable, value);
        }
        let out = crate::common::output(&mut check);
        assert!(
            out.status.success(),
            "preset {name} with {variables:?} set: {}",
            text(&out.stderr)
        );
    }
    assert!(some_variable, "vedfolnir reads a password: {presets:?}");
}

/// The README states the minimum Rust version, which is Cargo.toml's `rust-version`, and the
/// toolchain that built this test is not older (so the stated version is one that builds).
#[test]
fn the_readme_states_the_minimum_rust_version() {
    let _machine = crate::common::machine::shared();
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("Cargo.toml has a rust-version");
    assert!(
        readme_text().contains(&format!("Rust {msrv} or newer")),
        "README.md says \"Rust {msrv} or newer\""
    );
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("--version")
        .output()
        .unwrap();
    let installed = text(&rustc.stdout);
    let number = |v: &str| -> Vec<u32> {
        v.split(['.', '-'])
            .take(3)
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    let version = installed.split_whitespace().nth(1).unwrap_or_default();
    assert!(
        number(version) >= number(msrv),
        "rust-version {msrv} is newer than the toolchain here ({installed})"
    );
}

/// The README's `lookout serve --data-dir ...` next to the running daemon was refused (the
/// port is taken) but left an empty store behind in the new data dir. A refused start now
/// creates nothing.
#[test]
fn a_refused_second_serve_leaves_no_store_behind() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 0, "");
    let daemon = Daemon::start(&config);
    daemon.pin_listen(&config);
    let elsewhere = dir.path().join("elsewhere");
    let out = crate::common::output(
        lookout()
            .args(["serve", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(&elsewhere)
            .current_dir(dir.path()),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cannot listen on"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !elsewhere.exists(),
        "a refused serve created {}: {:?}",
        elsewhere.display(),
        std::fs::read_dir(&elsewhere).map(|d| d.count())
    );
    drop(daemon);
}
