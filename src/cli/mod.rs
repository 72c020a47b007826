//! The command line: parses arguments, sets up logging, runs one command, and turns errors
//! into a clear message and an exit code. The only place `anyhow`-style top-level handling lives.

mod alerts;
mod check;
// `lookout completions SHELL`, `lookout man [DIR]`.
mod completions;
mod config_check;
// `lookout doctor`: the validation checklist.
mod doctor;
// The "Examples:" of the main commands' --help.
mod examples;
// `lookout export`: Prometheus rules, Grafana dashboards.
mod export;
mod maintenance;
// --quiet, colour on a terminal only, progress bars.
pub(crate) mod output;
// `lookout store stats|compact`.
mod store;
// The one shape of every listing: header row, aligned columns.
mod table;
// Access control: users and API tokens.
mod users;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::clock::{SharedClock, system_clock};
use crate::config::{self, Config};
use crate::daemon::{self, ConfigSource, store_options};
use crate::store::Store;

/// Exit code for bad input: config, data dir, port in use, a foreign store file.
const EXIT_BAD_INPUT: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "lookout",
    version,
    about = "Watches a web application and everything under it: host, health endpoints, database, Redis.",
    long_about = None,
    after_help = examples::lookout()
)]
pub struct Cli {
    /// Config file (TOML). Without one, Lookout runs on its embedded default.
    #[arg(long, global = true, env = "LOOKOUT_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Where history is kept; overrides storage.path.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log filter, e.g. "debug" or "lookout=debug,info"; overrides log.level and RUST_LOG.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Only the data a command is for: no confirmations, notes or progress (errors still go
    /// to stderr; exit codes are unchanged).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: collect, keep history, serve HTTP (default 127.0.0.1:9898).
    ///
    /// Port 0 in server.listen (or server.metrics_listen) lets the system pick a free port;
    /// the log says which: the line "lookout started" has listen=ADDRESS (and "serving
    /// /metrics on a second listener" has metrics_listen=ADDRESS).
    #[command(after_help = examples::serve())]
    Serve,
    /// Cron mode: one collection of every metric source into the store, then exit.
    #[command(after_help = examples::collect())]
    Collect,
    /// Cron mode: run every health check once and print the results.
    /// Exit code 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (Nagios plugin convention).
    #[command(after_help = examples::check())]
    Check {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write or validate a config file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Alerts: list, history, test the notifiers, cron-mode run, the outbox.
    #[command(subcommand)]
    Alerts(alerts::AlertsCommand),
    /// Silences: mute matching alerts for a while.
    #[command(subcommand)]
    Silence(alerts::SilenceCommand),
    /// Maintenance windows: start, stop, extend; the period in progress; past periods.
    #[command(subcommand)]
    Maintenance(maintenance::MaintenanceCommand),
    /// What maintenance cost over a period: periods by day, week and month, user impact,
    /// availability with and without planned maintenance.
    #[command(after_help = examples::report())]
    Report {
        /// How far back, e.g. "30d" or "1w".
        #[arg(long, default_value = "30d", value_name = "DURATION", value_parser = maintenance::positive_duration)]
        since: std::time::Duration,
        /// Print JSON instead of the tables.
        #[arg(long)]
        json: bool,
    },
    /// Users of the dashboard and API: add, passwd, remove, list.
    #[command(subcommand)]
    User(users::UserCommand),
    /// API tokens (Authorization: Bearer): create, list, revoke.
    #[command(subcommand)]
    Token(users::TokenCommand),
    /// The history on disk: sizes and ages per tier (`stats`), retention and vacuum now
    /// (`compact`).
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Lookout in other tools' terms: Prometheus alerting rules, Grafana dashboards.
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// Shell completions on stdout, e.g. `lookout completions bash > /etc/bash_completion.d/lookout`.
    #[command(after_help = examples::completions())]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Man pages: lookout(1) on stdout, or one page per command into DIR.
    Man {
        /// Write lookout.1 and one page per command (lookout-alerts-list.1, ...) here
        /// instead of printing lookout(1).
        dir: Option<PathBuf>,
    },
    /// Validate the whole setup: config, data dir, every check and notifier once, the
    /// dashboard, Prometheus, data gaps, insecure settings. Exit 1 when any item fails.
    #[command(after_help = examples::doctor())]
    Doctor(doctor::DoctorArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write a complete, commented config (to stdout without PATH).
    #[command(after_help = examples::config_init())]
    Init {
        // The presets and their lines come from `config::PRESETS`, not from this file.
        #[arg(long, default_value = "default", hide_default_value = true, value_name = "NAME", help = preset_help())]
        preset: String,
        /// Replace PATH if it exists.
        #[arg(long)]
        force: bool,
        /// The file to write; without it, the config goes to stdout.
        #[arg(value_name = "PATH")]
        path: Option<PathBuf>,
    },
    /// Print the JSON Schema of the config file on stdout, for editors that complete and
    /// validate TOML with a schema (e.g. taplo / Even Better TOML: put
    /// `#:schema ./lookout.schema.json` on the first line of lookout.toml).
    Schema,
    /// Validate a config (PATH, else --config, else the embedded default) and summarise it.
    #[command(after_help = examples::config_check())]
    Check {
        /// The file to validate (default: --config, else the embedded default).
        #[arg(value_name = "PATH")]
        path: Option<PathBuf>,
        /// Print JSON only: {"ok": true, "checks": [...], ...} or {"ok": false, "problems":
        /// [...]}; nothing on stderr, the exit code says which.
        #[arg(long)]
        json: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve) {
        // `lookout check | head` should end quietly like any Unix tool, not panic on a closed
        // pipe. The daemon keeps Rust's default (ignore SIGPIPE) so a closed log pipe cannot
        // kill it.
        // SAFETY: setting a signal disposition before any thread is started.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // One TLS provider (ring) for every client (HTTP checks, sqlx, redis): a library that asks
    // rustls for the process default must find it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("lookout: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli, system_clock()))
}

pub async fn run(cli: Cli, clock: SharedClock) -> ExitCode {
    output::set_quiet(cli.quiet);
    let source = ConfigSource {
        path: cli.config.clone(),
        data_dir: cli.data_dir.clone(),
    };
    match cli.command {
        Command::Serve => {
            let config = match load(&source) {
                Ok(config) => config,
                Err(code) => return code,
            };
            // The daemon does not start without the log it was told to write.
            if let Err(error) = crate::logs::init(cli.log_level.as_deref(), &config, clock.clone())
            {
                return fail(&error);
            }
            match daemon::serve(source, clock).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => fail(&error),
            }
        }
        Command::Collect => {
            let config = match load(&source) {
                Ok(config) => config,
                Err(code) => return code,
            };
            init_logging(cli.log_level.as_deref(), &config);
            collect(&config, &clock).await
        }
        Command::Check { json } => {
            let config = match source.load() {
                Ok(config) => config,
                Err(error) => {
                    // Nagios convention: a check that cannot run is UNKNOWN, not CRITICAL.
                    eprintln!("lookout: {error}");
                    return ExitCode::from(3);
                }
            };
            init_logging(cli.log_level.as_deref(), &config);
            check::run(&config, &clock, json).await
        }
        Command::Alerts(command) => {
            let config = match load(&source) {
                Ok(config) => config,
                Err(code) => return code,
            };
            init_logging(cli.log_level.as_deref(), &config);
            alerts::run(command, &config, &clock).await
        }
        Command::Silence(command) => {
            let config = match load(&source) {
                Ok(config) => config,
                Err(code) => return code,
            };
            init_logging(cli.log_level.as_deref(), &config);
            alerts::silence(command, &config, &clock).await
        }
        Command::Maintenance(command) => {
            let config = match load(&source) {
                Ok(config) => config,
                Err(code) => return code,
            };
            init_logging(cli.log_level.as_deref(), &config);
            maintenance::run(command, &config, &clock).await
        }
        Command::Report { since, json } => {
            let config = match load(&source) {
                Ok(config) => config,
                Err(code) => return code,
            };
            init_logging(cli.log_level.as_deref(), &config);
            maintenance::report(&config, &clock, since, json).await
        }
        Command::User(command) => {
            let config = match load(&source) {
                Ok(config) => config,
                Err(code) => return code,
            };
            users::user(command, &config, &clock).await
        }
        Command::Token(command) => {
            let config = match load(&source) {
                Ok(config) => config,
                Err(code) => return code,
            };
            users::token(command, &config, &clock).await
        }
        Command::Store(command) => {
            let config = match load(&source) {
                Ok(config) => config,
                Err(code) => return code,
            };
            init_logging(cli.log_level.as_deref(), &config);
            store::run(command, &config, &clock).await
        }
        Command::Export(command) => export::run(command, &source),
        Command::Completions { shell } => completions::completions(shell),
        Command::Man { dir } => completions::man(dir.as_deref()),
        Command::Doctor(args) => {
            if let Some(level) = cli.log_level.as_deref()
                && let Ok(config) = source.load()
            {
                init_logging(Some(level), &config);
            }
            doctor::run(args, &source, &clock).await
        }
        Command::Config(ConfigCommand::Init {
            preset,
            force,
            path,
        }) => config_init(&preset, force, path.as_deref()),
        Command::Config(ConfigCommand::Schema) => {
            let schema = crate::config::json_schema();
            match serde_json::to_string_pretty(&schema) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&error),
            }
        }
        Command::Config(ConfigCommand::Check { path, json }) => {
            let source = ConfigSource {
                path: path.or(source.path),
                data_dir: source.data_dir,
            };
            config_check::run(&source, json)
        }
    }
}

fn load(source: &ConfigSource) -> Result<Config, ExitCode> {
    source.load().map_err(|error| fail(&error))
}

fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("lookout: {error}");
    ExitCode::from(EXIT_BAD_INPUT)
}

/// Lookout's own log as `[log]` says (see `crate::logs`). A command other than `serve` that
/// cannot open the log file logs to stderr instead, and says so.
fn init_logging(cli_level: Option<&str>, config: &Config) {
    if let Err(error) = crate::logs::init(cli_level, config, system_clock()) {
        eprintln!("lookout: {error}; logging to stderr instead");
        crate::logs::init_stderr(cli_level, config);
    }
}

async fn collect(config: &Config, clock: &SharedClock) -> ExitCode {
    let store = match Store::open(&config.storage.path, store_options(config), clock.clone()).await
    {
        Ok(store) => store,
        Err(error) => return fail(&error),
    };
    let mut progress = None;
    let mut observations = daemon::run_probes_once_with(config, clock, |probe, _, total| {
        progress
            .get_or_insert_with(|| output::Progress::new(total, "probes"))
            .done(probe)
    })
    .await;
    drop(progress);
    let samples: usize = observations.iter().map(|o| o.samples.len()).sum();
    let result = daemon::record_once(&store, &mut observations, config, clock).await;
    if result.is_ok() && !config.remote_write.is_empty() {
        push_remote_write(config, &store, clock, &observations).await;
    }
    let closed = store.close().await;
    match result.and(closed) {
        Ok(()) => {
            output::say!(
                "collected {samples} samples from {} probe(s) into {}",
                observations.len(),
                config.storage.path.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("lookout: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Cron mode's remote write: what was collected goes out now; what cannot stays queued in the
/// store for the next run (or a daemon on the same data). Not an error of the collection.
async fn push_remote_write(
    config: &Config,
    store: &Store,
    clock: &SharedClock,
    observations: &[crate::model::Observation],
) {
    let reports = crate::exporter::remote_write::push_once(
        &config.remote_write,
        store,
        clock,
        observations,
        REMOTE_WRITE_WITHIN,
    )
    .await;
    for report in reports {
        let failed = match report.samples_failed {
            0 => String::new(),
            n => format!(", {n} refused by the endpoint and dropped"),
        };
        match &report.stopped {
            None => output::say!(
                "remote write {}: sent {} samples{failed}",
                report.endpoint,
                report.samples_sent
            ),
            Some(reason) => eprintln!(
                "lookout: remote write {}: {reason}; sent {} samples{failed}, {} stay queued for the next run",
                report.endpoint, report.samples_sent, report.samples_queued
            ),
        }
    }
}

/// How long `collect` may spend sending per endpoint: well inside a one-minute cron period.
const REMOTE_WRITE_WITHIN: std::time::Duration = std::time::Duration::from_secs(20);

/// `config init --preset`'s help: the starting points of `config::PRESETS`, one a line.
fn preset_help() -> String {
    let mut help = String::from("Starting point, \"default\" unless given:");
    for preset in config::PRESETS {
        help.push_str(&format!("\n  {}: {}", preset.name, preset.description));
    }
    help
}

/// "reads the environment variables A and B: set them ...", for the variables a written
/// config needs (none: `None`).
fn reads_env(names: &[String]) -> Option<String> {
    let (list, them) = match names {
        [] => return None,
        [one] => (format!("the environment variable {one}"), "it"),
        [rest @ .., last] => (
            format!("the environment variables {} and {last}", rest.join(", ")),
            "them",
        ),
    };
    Some(format!(
        "reads {list}: set {them} wherever lookout runs with this file"
    ))
}

fn config_init(preset: &str, force: bool, path: Option<&Path>) -> ExitCode {
    let text = match config::init_template(preset) {
        Ok(text) => text,
        Err(error) => return fail(&error),
    };
    let Some(path) = path else {
        let _ = std::io::stdout().write_all(text.as_bytes());
        // On stderr: stdout is the file.
        if let Some(reads) = reads_env(&config::env_references(&text))
            && !output::quiet()
        {
            eprintln!("lookout: this config {reads}");
        }
        return ExitCode::SUCCESS;
    };
    if path.exists() && !force {
        return fail(&format!(
            "{} already exists; nothing written (use --force to replace it)",
            path.display()
        ));
    }
    match std::fs::write(path, &text) {
        Ok(()) => {
            output::say!(
                "wrote {} (preset \"{preset}\"){}; check it with `lookout config check {}`",
                path.display(),
                reads_env(&config::env_references(&text))
                    .map_or(String::new(), |reads| format!("; it {reads}")),
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => fail(&format!("cannot write {}: {error}", path.display())),
    }
}
