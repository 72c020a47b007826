//! `docs/guide.md`, run: every command of the operator's guide is executed for real, in the
//! guide's order, against a temporary server and the real local services (PostgreSQL, Redis,
//! an SMTP server with AUTH, Prometheus), and must exit as the guide says.
//!
//! How the guide is read:
//! - ` ```sh ` blocks: every line that is not empty or a comment is run with
//!   `bash -o pipefail -c`, as in one shell session: the environment a line leaves (`export`,
//!   `set -a; . FILE`) is the next line's. It must exit 0, or N when its comment says
//!   `# exits N`. A line whose comment says it "asks for the ... password" runs on a
//!   pseudo-terminal and is typed a password twice. First words allowed: `lookout`, `curl`,
//!   `promtool` (real tools on this machine), `export` and `set`. `lookout serve` is started
//!   in the background (and waited for) and runs until the end, so the lines after it run next
//!   to a daemon, as on a server.
//! - ` ```cron ` blocks: `NAME=value` lines are the crontab's variables; each other line's
//!   five time fields are checked and its command runs with `/bin/sh` in cron's environment
//!   (HOME, LOGNAME, SHELL, `PATH=/usr/bin:/bin`, plus the crontab's variables; nothing of the
//!   shell's), so a crontab that forgets `PATH` or the secrets fails here as under cron.
//! - ` ```dotenv `: `/etc/lookout/lookout.env`, which the guide says to write by hand: the
//!   test writes it (0640), and the SMTP server takes its `SMTP_PASSWORD`.
//! - ` ```toml ` blocks: the parts of the one config file the guide builds; joined in order,
//!   they are the config every command runs with (written, 0640, over the file the guide's
//!   `lookout config init` creates: the test plays the editor). ` ```toml alternative `
//!   blocks are checked alone with `lookout config check`.
//! - ` ```yaml `: Prometheus's config, checked with `promtool check config`.
//! - Not run: ` ```text ` blocks, which hold only what needs a real server and root:
//!   `install`, `systemctl`, `journalctl`, `chgrp`/`chmod`, Grafana's restart. The test checks
//!   that none of their lines is a `lookout` command, so every `lookout` command of the guide
//!   is run.
//!
//! What a server has and the test does not, substituted in every line, crontab variable and
//! in the config (each must still occur in the guide, so the two cannot drift apart):
//! `/etc/lookout`, `/var/lib/lookout`, `/var/log/app`, `/etc/bash_completion.d`,
//! `/usr/local/share/man/man1`, `/etc/prometheus` become directories under a temporary root;
//! `/usr/local/bin` the directory of the lookout under test (also first on the shell's
//! `PATH`, as if installed); the app at `http://127.0.0.1:5000/health` a local HTTP server
//! answering 200; `smtp+starttls://smtp.example.org:587` a local aiosmtpd with AUTH
//! (`smtp://`); the PostgreSQL DSN's user and database `postgres` and `test` (trust auth:
//! `${PGPASSWORD}` is read but not checked); the dashboard's `127.0.0.1:9898` a free port;
//! Prometheus's `127.0.0.1:9090` a real Prometheus scraping the daemon. `<token-id>` and
//! `<silence-id>` become the ID of the newest token and silence.
//!
//! One tolerance: `lookout check` may exit 1 or 2 when the only check not OK is `cpu` (this
//! machine is shared and often 100% busy); see `only_cpu_is_busy`.
//!
//! Also: the guide must have `sh` blocks (else this test fails, it does not pass vacuously),
//! and must name every command of `lookout --help`.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::alerting::{FlipServer, SmtpServer, poll};
use crate::common::docs::{
    self, Block, Session, blocks, checks_not_ok, checks_other_than, comment, environment_without,
    lookout_words, shell_lines, substitute,
};
use crate::common::prometheus::Prometheus;
use crate::common::{Daemon, free_port, lookout, text};

const SMTP_USER: &str = "lookout@example.org";
/// Typed at every password prompt (twice).
const TYPED_PASSWORD: &str = "guide-typed-password-42";

/// Where the lookout under test is: the guide's `/usr/local/bin`.
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_lookout"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn guide_text() -> String {
    docs::read("docs/guide.md")
}

/// One thing to run, in the guide's order.
#[derive(Debug, Clone)]
struct Step {
    /// Line number in docs/guide.md.
    at: usize,
    /// The line as written (for a cron line: its command).
    line: String,
    /// The exit code the guide gives (`# exits N`), else 0.
    exits: i32,
    /// The comment says the command asks for a password.
    asks_password: bool,
    /// A crontab line: the variables the crontab sets (`NAME=value` lines above it); the
    /// command runs with these and nothing else of the shell's environment, as under cron.
    cron_env: Option<Vec<(String, String)>>,
}

fn step(at: usize, line: &str) -> Step {
    let note = comment(line);
    let exits = note
        .split_once("exits ")
        .map(|(_, rest)| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits
                .parse()
                .unwrap_or_else(|_| panic!("line {at}: `exits` without a number: {line}"))
        })
        .unwrap_or(0);
    let asks_password = note.contains("asks for the") && note.contains("password");
    Step {
        at,
        line: line.to_string(),
        exits,
        asks_password,
        cron_env: None,
    }
}

/// The five time fields of a crontab line are plausible, and the rest runs `lookout`.
fn cron_step(at: usize, line: &str, cron_env: &[(String, String)]) -> Step {
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert!(fields.len() > 5, "line {at}: not a crontab line: {line}");
    for field in &fields[..5] {
        assert!(
            field
                .chars()
                .all(|c| c.is_ascii_digit() || "*/,-".contains(c)),
            "line {at}: {field:?} is not a cron time field: {line}"
        );
    }
    let command = fields[5..].join(" ");
    assert!(
        lookout_words(&command).is_some(),
        "line {at}: a crontab line of the guide runs lookout: {line}"
    );
    assert!(
        !command.contains('%'),
        "line {at}: cron turns % into a newline"
    );
    Step {
        cron_env: Some(cron_env.to_vec()),
        ..step(at, &command)
    }
}

/// `NAME=value`, a variable line of a crontab.
fn cron_variable(line: &str) -> Option<(String, String)> {
    let (name, value) = line.split_once('=')?;
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then(|| (name.to_string(), value.to_string()))
}

/// Every step of the guide, in order: sh lines and cron commands. Fails on a guide with no
/// `sh` block, so a guide emptied by mistake cannot pass.
fn steps(markdown: &str) -> Result<Vec<Step>, String> {
    let blocks = blocks(markdown);
    if !blocks.iter().any(|b| b.info == "sh") {
        return Err("the guide has no ```sh block: nothing would be tested".into());
    }
    let mut steps = Vec::new();
    for block in &blocks {
        match block.info.as_str() {
            "sh" => {
                for (at, line) in shell_lines(block)? {
                    steps.push(step(at, line));
                }
            }
            "cron" => {
                let mut cron_env = Vec::new();
                for (at, line) in shell_lines(block)? {
                    match cron_variable(line) {
                        Some(variable) => cron_env.push(variable),
                        None => steps.push(cron_step(at, line, &cron_env)),
                    }
                }
            }
            "text" => {
                for (at, line) in &block.lines {
                    if line.trim_start().starts_with("lookout ") {
                        return Err(format!(
                            "line {at}: a lookout command in a text block is not run; put it in a sh block: {line}"
                        ));
                    }
                }
            }
            "toml" | "toml alternative" | "yaml" | "dotenv" => {}
            other => return Err(format!("a block of unknown kind {other:?} in the guide")),
        }
    }
    Ok(steps)
}

/// Runs `command` with a pseudo-terminal as its controlling terminal, typing `input` on it
/// (what a person types at a password prompt). stdout and stderr are captured as usual.
fn run_on_terminal(mut command: Command, input: &str) -> std::io::Result<Output> {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let (mut terminal, slave) = crate::common::pty(None)?;
    let slave_fd = slave.as_raw_fd();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() < 0 || libc::ioctl(slave_fd, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    // The parent's copy of the slave is no longer needed.
    drop(slave);
    let child = child?;
    // Typed ahead: the terminal keeps the lines until the prompt reads them, one per read.
    terminal.write_all(input.as_bytes())?;
    let output = child.wait_with_output();
    drop(terminal);
    output
}

/// Where a guide's commands run: the temporary root, the substitutions, the shell (its
/// environment grown by `export` lines), and the daemon once `lookout serve` ran.
struct Runner {
    root: PathBuf,
    table: Vec<(String, String)>,
    shell: Session,
    /// The config the guide's toml blocks make, substituted.
    config: String,
    daemon: Option<Daemon>,
    daemon_port: u16,
    prometheus: Option<Prometheus>,
}

impl Runner {
    fn bare(root: &Path) -> Runner {
        // The shell's environment: the test's, without what would change lookout's behaviour,
        // with the lookout under test first on PATH (as if installed in /usr/local/bin).
        let mut env = environment_without(&["LOOKOUT_CONFIG", "RUST_LOG", "NO_COLOR"]);
        let path = format!(
            "{}:{}",
            bin_dir().display(),
            env.get("PATH").cloned().unwrap_or_default()
        );
        env.insert("PATH".into(), path);
        Runner {
            root: root.to_path_buf(),
            table: Vec::new(),
            shell: Session::new(root, ".guide-env", env),
            config: String::new(),
            daemon: None,
            daemon_port: 0,
            prometheus: None,
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .envs(&self.shell.env)
            .current_dir(&self.root);
        command
    }

    /// A crontab line's command: `/bin/sh` with cron's environment — HOME, LOGNAME, SHELL,
    /// Debian cron's PATH, and the crontab's own variables — and nothing of the shell's.
    fn cron_command(&self, variables: &[(String, String)], line: &str) -> Command {
        let mut command = Command::new("/bin/sh");
        command
            .env_clear()
            .env("HOME", &self.root)
            .env("LOGNAME", "lookout")
            .env("SHELL", "/bin/sh")
            .env("PATH", "/usr/bin:/bin")
            .envs(
                variables
                    .iter()
                    .map(|(name, value)| (name, substitute(value, &self.table))),
            )
            .args(["-c", line])
            .current_dir(&self.root);
        command
    }

    /// `<token-id>` and `<silence-id>`: the newest token (not the test's own) and silence.
    fn placeholders(&self, line: &str) -> Result<String, String> {
        let mut line = line.to_string();
        for (name, listing, stamp) in [
            ("<token-id>", ["token", "list", "--json"], "created"),
            ("<silence-id>", ["silence", "list", "--json"], "starts_at"),
        ] {
            if !line.contains(name) {
                continue;
            }
            let output = self.command("lookout").args(listing).output().unwrap();
            let items: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout)
                .map_err(|e| format!("{listing:?}: {e}: {}", text(&output.stderr)))?;
            let newest = items
                .iter()
                .filter(|item| item["name"] != "tests")
                .max_by_key(|item| item[stamp].as_str().unwrap_or_default().to_string())
                .ok_or_else(|| format!("{name}: {listing:?} lists nothing"))?;
            line = line.replace(name, newest["id"].as_str().unwrap());
        }
        if let Some(at) = line.find('<')
            && line[at..].contains('>')
            && !line[at..].starts_with("< ")
        {
            return Err(format!("an unknown placeholder in: {line}"));
        }
        Ok(line)
    }

    /// Runs one step: Ok, or why it failed.
    fn run(&mut self, step: &Step) -> Result<(), String> {
        let line = substitute(&step.line, &self.table);
        let line = self.placeholders(&line)?;
        let first = line.split_whitespace().next().unwrap_or_default();
        if step.cron_env.is_none()
            && !["lookout", "curl", "promtool", "export", "set"].contains(&first)
        {
            return Err(format!(
                "{first:?}: a sh line of the guide runs lookout, curl or promtool (or sets the \
                 environment with export or set); put other commands in a text block"
            ));
        }
        let words = lookout_words(&line).unwrap_or_default();
        if first == "lookout" && words.first().map(String::as_str) == Some("serve") {
            return self.serve(&line);
        }
        if let Some(prometheus) = &self.prometheus
            && line.contains(&prometheus.addr.to_string())
        {
            // Prometheus scrapes every second; the doctor asks for `up`, so wait for one.
            poll(
                Duration::from_secs(30),
                "Prometheus scraped Lookout",
                || {
                    prometheus
                        .query("up{job=\"lookout\"} == 1")
                        .ok()
                        .filter(|(has, _)| *has)
                },
            );
        }
        // One shell session: each line runs in bash, and the environment it leaves (export,
        // `set -a; . FILE`) is kept for the next lines.
        let mut command = match &step.cron_env {
            Some(variables) => self.cron_command(variables, &line),
            None => self.shell.bash(&line),
        };
        let output = if step.asks_password {
            let typed = format!("{TYPED_PASSWORD}\n{TYPED_PASSWORD}\n");
            run_on_terminal(command, &typed)
        } else {
            command.stdin(Stdio::null()).output()
        }
        .map_err(|e| format!("cannot run bash: {e}"))?;
        let code = output.status.code().unwrap_or(-1);
        if step.cron_env.is_none() {
            self.shell.keep_environment()?;
        }
        // Shown with --nocapture, and with the failure of the test.
        eprintln!(
            "docs/guide.md:{}: $ {line}\n{}{}-> exit {code}",
            step.at,
            text(&output.stdout),
            text(&output.stderr)
        );
        // A run of the checks that a busy CPU failed.
        if code != step.exits
            && checks_not_ok(&words, code, &text(&output.stderr))
            && let Some(busy) = self.only_cpu_is_busy()
        {
            eprintln!("docs/guide.md:{}: exit {code} taken as 0: {busy}", step.at);
            return Ok(());
        }
        if code != step.exits {
            return Err(format!(
                "exited {code}, the guide says {}\n--- stdout\n{}--- stderr\n{}",
                step.exits,
                text(&output.stdout),
                text(&output.stderr)
            ));
        }
        if words.starts_with(&["config".to_string(), "init".to_string()]) {
            self.edit_config(&words)?;
        }
        Ok(())
    }

    /// `lookout check` exits 1 or 2 when the CPU is over its threshold, and this machine is
    /// shared: other builds may keep it at 100% busy. When the cpu check is the only one not
    /// OK (asked again; "maintenance", which exits 0, is OK too: the guide's maintenance
    /// window mutes the app's checks for its grace), the exit code is the machine's.
    fn only_cpu_is_busy(&self) -> Option<String> {
        let output = self
            .command("lookout")
            .args(["check", "--json"])
            .output()
            .ok()?;
        let not_ok = checks_other_than(&output.stdout, &["ok", "maintenance"])?;
        (!not_ok.is_empty() && not_ok.iter().all(|r| r["check"] == "cpu"))
            .then(|| format!("only the cpu check is not ok: {}", not_ok[0]))
    }

    /// After `lookout config init PATH`: the guide's edits, i.e. its toml blocks, replace the
    /// file, with the mode the guide gives it (0640).
    fn edit_config(&self, words: &[String]) -> Result<(), String> {
        let path = words
            .iter()
            .skip(2)
            .rfind(|w| !w.starts_with('-'))
            .ok_or("config init without a PATH: the guide writes the config to a file")?;
        let path = Path::new(path);
        if !path.is_file() {
            return Err(format!("config init did not write {}", path.display()));
        }
        std::fs::write(path, &self.config).map_err(|e| e.to_string())?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o640))
            .map_err(|e| e.to_string())
    }

    fn serve(&mut self, line: &str) -> Result<(), String> {
        if self.daemon.is_some() {
            return Err("a second `lookout serve`: the first one still runs".into());
        }
        let words = lookout_words(line).unwrap();
        let mut command = lookout();
        command
            .args(&words)
            .envs(&self.shell.env)
            .current_dir(&self.root);
        let daemon = Daemon::spawn(command);
        // The guide's commands name the dashboard's port before the daemon starts (curl,
        // Prometheus's scrape config): it is chosen up front, not by the daemon.
        if self.daemon_port != 0 && daemon.port() != self.daemon_port {
            return Err(format!(
                "lookout serve listens on {}, the guide's commands on port {}",
                daemon.addr, self.daemon_port
            ));
        }
        self.daemon = Some(daemon);
        Ok(())
    }
}

#[test]
fn a_guide_without_sh_blocks_fails() {
    let _machine = crate::common::machine::shared();
    let error = steps("# Guide\n\n```text\nsystemctl start lookout\n```\n").unwrap_err();
    assert!(error.contains("no ```sh block"), "{error}");
    let error = steps("```sh\nlookout check\n```\n```text\nlookout doctor\n```\n").unwrap_err();
    assert!(error.contains("not run"), "{error}");
}

#[test]
fn the_annotations_are_read() {
    let _machine = crate::common::machine::shared();
    let all = steps(
        "```sh\nlookout alerts run   # exits 2: the daemon sends them\n\
         lookout user add ada --role viewer   # asks for the password twice\n\
         lookout silence add 'check=\"#x\"' --comment \"a # b\"\n```\n\
         ```cron\n*/5 * * * * lookout --config /etc/lookout/lookout.toml check >/dev/null\n```\n",
    )
    .unwrap();
    let summary: Vec<(i32, bool)> = all.iter().map(|s| (s.exits, s.asks_password)).collect();
    assert_eq!(
        summary,
        [(2, false), (0, true), (0, false), (0, false)],
        "{all:#?}"
    );
    assert_eq!(
        all[3].line,
        "lookout --config /etc/lookout/lookout.toml check >/dev/null"
    );
    assert_eq!(
        lookout_words(&all[3].line).unwrap(),
        ["check", ">/dev/null"]
    );
}

/// The runner really runs what it reads: a misspelled command or flag fails the guide.
#[test]
fn a_misspelled_command_or_flag_fails() {
    let _machine = crate::common::machine::shared();
    let root = tempfile::tempdir().unwrap();
    let mut runner = Runner::bare(root.path());
    for line in [
        "lookout alerts lsit",
        "lookout check --jsno",
        "lookout maintenance start --reason x",
        "lookotu check",
    ] {
        let result = runner.run(&step(1, line));
        assert!(result.is_err(), "{line} passed");
    }
    runner.run(&step(1, "lookout completions bash")).unwrap();
    let wrong = runner.run(&step(1, "lookout completions bash   # exits 1"));
    assert!(wrong.unwrap_err().contains("exited 0, the guide says 1"));
    let other = runner.run(&step(1, "systemctl status lookout"));
    assert!(other.unwrap_err().contains("text block"));
}

/// The leaf commands of `lookout --help`, as word lists: ["alerts", "list"], ["serve"], ...
fn leaf_commands(prefix: &[String]) -> Vec<Vec<String>> {
    let output = lookout().args(prefix).arg("--help").output().unwrap();
    let help = text(&output.stdout);
    let Some((_, listing)) = help.split_once("Commands:\n") else {
        return vec![prefix.to_vec()];
    };
    let mut leaves = Vec::new();
    for line in listing.lines().take_while(|l| !l.trim().is_empty()) {
        let name = line.split_whitespace().next().unwrap();
        if name == "help" {
            continue;
        }
        let mut path = prefix.to_vec();
        path.push(name.to_string());
        leaves.extend(leaf_commands(&path));
    }
    leaves
}

#[test]
fn the_guide_names_every_command() {
    let _machine = crate::common::machine::shared();
    let run: Vec<Vec<String>> = steps(&guide_text())
        .unwrap()
        .iter()
        .filter_map(|s| lookout_words(&s.line))
        .collect();
    let leaves = leaf_commands(&[]);
    assert!(leaves.len() > 20, "{leaves:?}");
    let missing: Vec<String> = leaves
        .iter()
        .filter(|leaf| !run.iter().any(|words| words.starts_with(leaf)))
        .map(|leaf| leaf.join(" "))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/guide.md runs no `lookout {}`: add it to the guide (in a sh block)",
        missing.join("`, `lookout ")
    );
}

#[test]
fn every_command_of_the_guide_runs() {
    let _machine = crate::common::machine::shared();
    let guide = guide_text();
    let all_steps = steps(&guide).unwrap();
    let root = tempfile::tempdir().unwrap();
    let root_path = root.path();
    let under = |path: &str| root_path.join(path.trim_start_matches('/'));
    for dir in [
        "/etc/lookout",
        "/var/lib",
        "/var/log/app",
        "/etc/bash_completion.d",
        "/usr/local/share/man/man1",
        "/etc/prometheus",
    ] {
        std::fs::create_dir_all(under(dir)).unwrap();
    }
    std::fs::write(under("/var/log/app/webapp.log"), "app started\n").unwrap();

    // The secrets: the guide's dotenv block is the file it tells to write by hand.
    let guide_blocks = blocks(&guide);
    let dotenv: Vec<&Block> = guide_blocks.iter().filter(|b| b.info == "dotenv").collect();
    assert_eq!(
        dotenv.len(),
        1,
        "one dotenv block: /etc/lookout/lookout.env"
    );
    let secrets: BTreeMap<String, String> = dotenv[0]
        .lines
        .iter()
        .filter_map(|(_, line)| cron_variable(line.trim()))
        .collect();
    let env_file = under("/etc/lookout/lookout.env");
    let body: String = dotenv[0]
        .lines
        .iter()
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(&env_file, body).unwrap();
    std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o640)).unwrap();

    let app = FlipServer::start(200);
    let smtp_password = secrets
        .get("SMTP_PASSWORD")
        .expect("lookout.env holds SMTP_PASSWORD");
    let smtp = SmtpServer::start(
        root_path,
        &["--user", SMTP_USER, "--password", smtp_password],
    );
    // The dashboard's port: the guide's lines name it before `lookout serve` runs, so it is
    // chosen here (the one place a daemon does not pick its own port).
    let port = free_port();
    let prometheus = Prometheus::start(format!("127.0.0.1:{port}").parse().unwrap());

    let mut table: Vec<(String, String)> = [
        "/etc/lookout",
        "/var/lib/lookout",
        "/var/log/app",
        "/etc/bash_completion.d",
        "/usr/local/share/man/man1",
        "/etc/prometheus",
    ]
    .iter()
    .map(|dir| (dir.to_string(), under(dir).display().to_string()))
    .collect();
    table.push(("/usr/local/bin".into(), bin_dir().display().to_string()));
    table.extend(
        [
            ("http://127.0.0.1:5000/health", app.url()),
            (
                "smtp+starttls://smtp.example.org:587",
                format!("smtp://127.0.0.1:{}", smtp.port),
            ),
            (
                "postgres://monitor:${PGPASSWORD}@127.0.0.1:5432/app",
                "postgres://postgres:${PGPASSWORD}@127.0.0.1:5432/test".to_string(),
            ),
            ("127.0.0.1:9898", format!("127.0.0.1:{port}")),
            ("127.0.0.1:9090", prometheus.addr.to_string()),
        ]
        .map(|(from, to)| (from.to_string(), to)),
    );
    for (from, _) in &table {
        assert!(
            guide.contains(from.as_str()),
            "the test substitutes {from:?}, which docs/guide.md no longer has: update the table"
        );
    }

    // The config: the guide's toml blocks, in order.
    let config: String = guide_blocks
        .iter()
        .filter(|b| b.info == "toml")
        .flat_map(|b| {
            b.lines
                .iter()
                .map(|(_, l)| format!("{l}\n"))
                .chain(["\n".into()])
        })
        .collect();
    assert!(
        config.contains("[[check]]"),
        "the guide's toml blocks make the config"
    );
    let mut runner = Runner::bare(root_path);
    runner.config = substitute(&config, &table);
    runner.table = table;
    runner.daemon_port = port;
    runner.prometheus = Some(prometheus);

    // Alternatives: each a valid config alone.
    for block in guide_blocks.iter().filter(|b| b.info == "toml alternative") {
        let at = block.lines.first().map_or(0, |l| l.0);
        let body: String = block.lines.iter().map(|(_, l)| format!("{l}\n")).collect();
        let file = root_path.join(format!("alternative-{at}.toml"));
        std::fs::write(&file, substitute(&body, &runner.table)).unwrap();
        let output = runner
            .command("lookout")
            .args(["config", "check"])
            .arg(&file)
            .env("LOOKOUT_METRICS_TOKEN", "a-long-metrics-token-0123456789")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "docs/guide.md:{at}: the toml alternative is not a valid config: {}",
            text(&output.stderr)
        );
    }

    // Prometheus's config: valid for Prometheus.
    for block in guide_blocks.iter().filter(|b| b.info == "yaml") {
        let at = block.lines.first().map_or(0, |l| l.0);
        let body: String = block.lines.iter().map(|(_, l)| format!("{l}\n")).collect();
        let file = root_path.join(format!("prometheus-{at}.yml"));
        std::fs::write(&file, body).unwrap();
        let output = Command::new("promtool")
            .args(["check", "config"])
            .arg(&file)
            .output()
            .expect("promtool (Debian package prometheus) is needed for this test");
        assert!(
            output.status.success(),
            "docs/guide.md:{at}: promtool check config: {}{}",
            text(&output.stdout),
            text(&output.stderr)
        );
    }

    let mut lookout_lines = 0;
    for step in &all_steps {
        if let Err(why) = runner.run(step) {
            let log = runner.daemon.as_ref().map(Daemon::log).unwrap_or_default();
            panic!(
                "docs/guide.md:{}: `{}`: {why}\n--- daemon log\n{log}",
                step.at, step.line
            );
        }
        lookout_lines += usize::from(step.line.contains("lookout "));
    }
    eprintln!(
        "ran {} lines of docs/guide.md ({lookout_lines} with lookout)",
        all_steps.len()
    );

    // What the commands were for really happened.
    assert!(
        runner.daemon.is_some(),
        "the guide starts the daemon (`lookout serve`)"
    );
    let mail = smtp.wait_for(2, Duration::from_secs(30));
    assert!(mail.iter().all(|m| m["authenticated"] == true), "{mail:#?}");
    let config_path = under("/etc/lookout/lookout.toml");
    assert_eq!(
        std::fs::read_to_string(&config_path).unwrap(),
        runner.config
    );
    assert!(
        under("/etc/lookout/grafana/dashboards")
            .read_dir()
            .unwrap()
            .count()
            >= 4
    );
    assert!(under("/etc/prometheus/lookout-rules.yml").is_file());
    assert!(
        under("/etc/bash_completion.d/lookout")
            .metadata()
            .unwrap()
            .len()
            > 0
    );
    assert!(
        under("/usr/local/share/man/man1")
            .read_dir()
            .unwrap()
            .count()
            > 20
    );
    let (code, log) = runner.daemon.take().unwrap().stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0), "the daemon stops cleanly: {log}");
    assert!(app.hits.load(std::sync::atomic::Ordering::SeqCst) > 0);
}
