//! `lookout maintenance start|stop|extend|status|history` and `lookout report`: maintenance
//! from the shell. They work on the store, so a window opened here is what the daemon (and
//! the dashboard) see. `start`, `stop` and `extend` go through `maintenance::manual`, as the
//! dashboard's buttons do: the configured control steps switch the app first, and nothing is
//! recorded when one fails.

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

use super::fail;
use super::output::{print_json, say, user_name};
use super::table::Table;
use crate::base::units::{format_duration, parse_duration};
use crate::clock::{SharedClock, format_rfc3339};
use crate::config::Config;
use crate::daemon::store_options;
use crate::maintenance::Origin;
use crate::maintenance::manual::{self, ManualError, StartRequest};
use crate::maintenance::report::{self, Bucket, Report};
use crate::store::Store;
use crate::views::maintenance::{MaintenanceStatusView, PeriodLineView, PeriodView, ReportView};

/// Exit code when the app's maintenance mode could not be switched, or there is nothing to
/// act on (`extend` without an active window).
const EXIT_FAILED: u8 = 1;

#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// Open a maintenance window now (after switching the app with the configured control
    /// steps, if any): affected alerts are muted while it lasts.
    #[command(after_help = super::examples::maintenance_start())]
    Start {
        /// How long, e.g. "30m" or "2h" (at most 24h; extend it later if needed).
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
        /// Why, e.g. "database upgrade".
        #[arg(long)]
        reason: String,
        /// normal (blocks new work), emergency (also reads, ends sessions), test (blocks
        /// nothing); default normal.
        #[arg(long)]
        mode: Option<String>,
    },
    /// End the active maintenance windows now (after the configured control stop steps).
    #[command(after_help = super::examples::maintenance_stop())]
    Stop,
    /// Move the end of the active window, e.g. `extend 15m`.
    #[command(after_help = super::examples::maintenance_extend())]
    Extend {
        /// How much longer, e.g. "15m".
        #[arg(value_name = "DURATION")]
        by: String,
    },
    /// The maintenance period in progress, and the windows active or to come.
    #[command(after_help = super::examples::maintenance_status())]
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Maintenance periods, newest first.
    #[command(after_help = super::examples::maintenance_history())]
    History {
        /// How far back, e.g. "7d".
        #[arg(long, default_value = "30d", value_name = "DURATION", value_parser = positive_duration)]
        since: Duration,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
}

/// A clap value parser for a positive duration (clap's message names the argument).
pub(super) fn positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("zero; expected a positive duration like \"30m\"".to_string()),
        Err(_) => Err(
            "not a duration; expected a number and a unit, like \"30m\", \"2h\" or \"7d\""
                .to_string(),
        ),
    }
}

pub async fn run(command: MaintenanceCommand, config: &Config, clock: &SharedClock) -> ExitCode {
    match command {
        MaintenanceCommand::Start {
            duration,
            reason,
            mode,
        } => start(config, clock, &duration, &reason, mode.as_deref()).await,
        MaintenanceCommand::Stop => stop(config, clock).await,
        MaintenanceCommand::Extend { by } => extend(config, clock, &by).await,
        MaintenanceCommand::Status { json } => status(config, clock, json).await,
        MaintenanceCommand::History { since, json } => history(config, clock, since, json).await,
    }
}

async fn open(config: &Config, clock: &SharedClock) -> Result<Store, ExitCode> {
    Store::open(&config.storage.path, store_options(config), clock.clone())
        .await
        .map_err(|error| fail(&error))
}

fn failed(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("lookout: {error}");
    ExitCode::from(EXIT_FAILED)
}

fn secs(ms: i64) -> String {
    format_duration(Duration::from_secs((ms.max(0) / 1000) as u64))
}

fn secs_f(seconds: f64) -> String {
    format_duration(Duration::from_secs(seconds.max(0.0) as u64))
}

/// Runs the store work of a command and closes the store, whatever happened.
async fn with_store<T>(
    config: &Config,
    clock: &SharedClock,
    work: impl AsyncFnOnce(&Store) -> Result<T, ExitCode>,
) -> Result<T, ExitCode> {
    let store = open(config, clock).await?;
    let result = work(&store).await;
    let _ = store.close().await;
    result
}

/// A `manual` error as a message and an exit code: 2 for bad input and store trouble (as
/// every command), 1 when the app could not be switched or nothing is active.
fn manual_failure(error: ManualError) -> ExitCode {
    match error {
        // "for: ..." -> "--for: ...": the option as it was typed.
        ManualError::BadInput(message) if message.starts_with("by:") => fail(&message),
        ManualError::BadInput(message) => fail(&format!("--{message}")),
        ManualError::Store(error) => fail(&error),
        error @ (ManualError::Control(_) | ManualError::NotActive) => failed(&error),
    }
}

async fn start(
    config: &Config,
    clock: &SharedClock,
    duration: &str,
    reason: &str,
    mode: Option<&str>,
) -> ExitCode {
    let request = match StartRequest::parse(duration, reason, mode) {
        Ok(request) => request,
        Err(message) => return manual_failure(ManualError::BadInput(message)),
    };
    let author = user_name().unwrap_or_else(|| "cli".to_string());
    let length = request.duration;
    let outcome = with_store(config, clock, async |store| {
        manual::start(
            store,
            &config.maintenance.control,
            request,
            Origin::Cli,
            &author,
            clock.now_ms(),
        )
        .await
        .map_err(manual_failure)
    })
    .await;
    match outcome {
        Ok(w) => {
            say!(
                "maintenance window #{} started: {} mode until {} ({}): {}",
                w.id,
                w.mode.as_str(),
                format_rfc3339(w.end_ms),
                format_duration(length),
                w.reason
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

async fn stop(config: &Config, clock: &SharedClock) -> ExitCode {
    let outcome = with_store(config, clock, async |store| {
        manual::stop(store, &config.maintenance.control, clock.now_ms())
            .await
            .map_err(manual_failure)
    })
    .await;
    match outcome {
        Ok(stopped) if stopped.is_empty() => {
            say!("no maintenance window is active");
            ExitCode::SUCCESS
        }
        Ok(stopped) => {
            for w in &stopped {
                say!(
                    "maintenance window #{} stopped after {}: {} mode, {} (by {})",
                    w.id,
                    secs(w.ends_ms() - w.start_ms),
                    w.mode.as_str(),
                    w.reason,
                    w.author
                );
            }
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

async fn extend(config: &Config, clock: &SharedClock, by: &str) -> ExitCode {
    let outcome = with_store(config, clock, async |store| {
        manual::extend(store, by, clock.now_ms())
            .await
            .map_err(manual_failure)
    })
    .await;
    match outcome {
        Ok(w) => {
            say!(
                "maintenance window #{} extended by {}: now ends at {}",
                w.id,
                parse_duration(by).map_or_else(|_| by.to_string(), format_duration),
                format_rfc3339(w.end_ms)
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

async fn status(config: &Config, clock: &SharedClock, json: bool) -> ExitCode {
    let now = clock.now_ms();
    let outcome = with_store(config, clock, async |store| {
        let open = store.open_period().await.map_err(|e| fail(&e))?;
        let windows = store.windows(now).await.map_err(|e| fail(&e))?;
        Ok((open, windows))
    })
    .await;
    let (open, manual) = match outcome {
        Ok(found) => found,
        Err(code) => return code,
    };
    let dto = MaintenanceStatusView::new(&config.maintenance, open.as_ref(), &manual, now);
    if json {
        print_json(&dto);
        return ExitCode::SUCCESS;
    }
    match &dto.period {
        Some(p) => {
            println!("IN MAINTENANCE since {} ({})", p.start, p.describe());
            let planned_end = p.planned_end.as_deref().unwrap_or("not known");
            let overrun = if p.overrun_seconds > 0 {
                format!(", overrun {}", secs_f(p.overrun_seconds as f64))
            } else {
                String::new()
            };
            println!(
                "  for {} so far; planned end {planned_end}{overrun}",
                secs_f(p.duration_seconds as f64)
            );
            if let Some(line) = p.impact.line() {
                println!("  impact: {line}");
            }
        }
        None if dto.active => println!(
            "a maintenance window is active; no period recorded yet (the daemon records it when it runs)"
        ),
        None => println!("not in maintenance"),
    }
    if dto.windows.is_empty() {
        println!("no maintenance windows active or to come");
    } else {
        println!();
        let mut table = Table::new(&["STATE", "START", "END", "MODE", "WINDOW", "REASON"]);
        for w in &dto.windows {
            let which = match (&w.name, w.id) {
                (Some(name), _) => format!("{name} (config)"),
                (None, Some(id)) => format!("#{id} by {}", w.author),
                (None, None) => String::new(),
            };
            table.row([
                if w.active { "active" } else { "upcoming" }.into(),
                w.start.clone().into(),
                w.end.clone().into(),
                w.mode.into(),
                which.into(),
                w.reason.clone().into(),
            ]);
        }
        table.print();
    }
    ExitCode::SUCCESS
}

async fn history(config: &Config, clock: &SharedClock, since: Duration, json: bool) -> ExitCode {
    let now = clock.now_ms();
    let from = now.saturating_sub(since.as_millis() as i64);
    let outcome = with_store(config, clock, async |store| {
        store.periods(from, now + 1).await.map_err(|e| fail(&e))
    })
    .await;
    let periods = match outcome {
        Ok(periods) => periods,
        Err(code) => return code,
    };
    let dtos: Vec<PeriodLineView> = periods
        .iter()
        .rev()
        .map(|p| PeriodView::new(p, now).into())
        .collect();
    if json {
        print_json(&dtos);
    } else if dtos.is_empty() {
        say!("no maintenance in the last {}", format_duration(since));
    } else {
        let mut table = Table::new(&[
            "ID", "START", "END", "DURATION", "OVERRUN", "MODE", "ORIGIN", "PLANNED", "REASON",
            "IMPACT",
        ]);
        for p in &dtos {
            table.row([
                format!("#{}", p.id).into(),
                p.start.clone().into(),
                p.end.clone().unwrap_or_else(|| "(open)".to_string()).into(),
                secs_f(p.duration_seconds as f64).into(),
                if p.overrun_seconds > 0 {
                    secs_f(p.overrun_seconds as f64)
                } else {
                    String::new()
                }
                .into(),
                p.mode.into(),
                p.origin.into(),
                if p.planned { "yes" } else { "no" }.into(),
                p.reason.clone().into(),
                p.impact.line().unwrap_or_default().into(),
            ]);
        }
        table.print();
    }
    ExitCode::SUCCESS
}

/// `lookout report --since 30d`: the report of `maintenance::report` over `[now - since, now)`.
pub async fn report(config: &Config, clock: &SharedClock, since: Duration, json: bool) -> ExitCode {
    let now = clock.now_ms();
    if since.as_millis() > report::MAX_RANGE_MS as u128 {
        return fail(&format!(
            "--since {}: a report covers at most {} (10 years); ask for a shorter range",
            format_duration(since),
            format_duration(Duration::from_millis(report::MAX_RANGE_MS as u64))
        ));
    }
    let from = now.saturating_sub(since.as_millis() as i64);
    let outcome = with_store(config, clock, async |store| {
        store
            .maintenance_report(from, now)
            .await
            .map_err(|e| fail(&e))
    })
    .await;
    let report = match outcome {
        Ok(report) => report,
        Err(code) => return code,
    };
    if json {
        print_json(&ReportView::from(&report));
    } else {
        print!("{}", render_report(&report, super::output::colour_stdout()));
    }
    ExitCode::SUCCESS
}

fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "-".to_string(), |r| format!("{:.3}%", r * 100.0))
}

/// The report as text: the figures, then tables (bold headers when `colour`).
fn render_report(r: &Report, colour: bool) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    let p = &r.periods;
    line(format!("Maintenance report {} .. {}", r.from, r.to));
    line(String::new());
    line(format!(
        "Periods: {} started; {} in maintenance (mean period {})",
        p.count,
        secs_f(p.total_seconds),
        secs_f(p.mean_seconds)
    ));
    line(format!(
        "  planned {}, unplanned {}, emergency mode {}, overrun {}",
        secs_f(p.planned_seconds),
        secs_f(p.unplanned_seconds),
        secs_f(p.emergency_seconds),
        secs_f(p.overrun_seconds)
    ));
    if let Some(l) = &p.longest {
        line(format!(
            "  longest: #{} from {}, {} ({} mode, {}): {}",
            l.id,
            l.start,
            secs_f(l.seconds),
            l.mode.as_str(),
            l.origin.as_str(),
            l.reason
        ));
    }
    let i = &r.impact;
    line(format!(
        "User impact: {} blocked requests, {} sessions at start, {} sessions invalidated, {} active jobs",
        i.blocked_requests, i.sessions_at_start, i.invalidated_sessions, i.active_jobs
    ));
    let table = |title: &'static str, buckets: &[Bucket], skip_empty: bool| {
        let mut table = Table::new(&[title, "PERIODS", "TOTAL", "MEAN"]);
        for b in buckets {
            if skip_empty && b.count == 0 && b.total_seconds == 0.0 {
                continue;
            }
            table.row([
                b.label.clone().into(),
                b.count.to_string().into(),
                secs_f(b.total_seconds).into(),
                secs_f(b.mean_seconds).into(),
            ]);
        }
        if table.is_empty() {
            format!("\n{title}: no maintenance\n")
        } else {
            format!("\n{}", table.render(colour))
        }
    };
    let mut tables = table("MONTH", &r.per_month, false);
    tables.push_str(&table("ISO WEEK", &r.per_week, false));
    tables.push_str(&table("DAY", &r.per_day, true));
    out.push_str(&tables);
    let a = &r.availability;
    let mut availability = Table::new(&[
        "CHECK",
        "OBSERVED",
        "UP",
        "MAINTENANCE",
        "AVAILABILITY",
        "EXCL. PLANNED",
    ]);
    let rows = a
        .checks
        .iter()
        .map(|c| (c.check.as_str(), &c.figures))
        .chain(std::iter::once(("(all checks)", &a.overall)));
    for (name, f) in rows {
        availability.row([
            name.into(),
            secs_f(f.observed_seconds).into(),
            secs_f(f.up_seconds).into(),
            secs_f(f.maintenance_seconds).into(),
            percent(f.availability).into(),
            percent(f.availability_excluding_planned).into(),
        ]);
    }
    out.push('\n');
    out.push_str(&availability.render(colour));
    out
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use axum::routing::post;

    use super::*;
    use crate::base::secret::Secret;
    use crate::clock::ManualClock;
    use crate::config::maintenance::{ControlAction, HttpStep, WindowConfig, WindowSchedule};
    use crate::maintenance::{Impact, ManualWindow, Mode, Period};
    use crate::store::StoreOptions;

    const T0: i64 = 1_700_000_000_000;
    const MIN: i64 = 60_000;

    fn config(dir: &std::path::Path) -> Config {
        let mut config = crate::config::embedded_default();
        config.storage.path = dir.join("data");
        config
    }

    async fn windows_in(dir: &std::path::Path) -> Vec<ManualWindow> {
        let store = Store::open(
            &dir.join("data"),
            StoreOptions::default(),
            ManualClock::new(T0),
        )
        .await
        .unwrap();
        let windows = store.window_history(10).await.unwrap();
        store.close().await.unwrap();
        windows
    }

    /// An app whose maintenance switch answers 500.
    async fn broken_app() -> String {
        let router = axum::Router::new().route(
            "/maintenance",
            post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "database locked") }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        format!("http://{addr}/maintenance")
    }

    #[tokio::test]
    async fn a_failing_control_step_records_nothing_and_exits_1() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path());
        let step = ControlAction::Http(HttpStep {
            method: "POST".into(),
            url: Secret::new(broken_app().await),
            headers: vec![],
            body: Some("{\"reason\": {reason}}".into()),
        });
        config.maintenance.control.start = vec![step.clone()];
        config.maintenance.control.stop = vec![step];
        let clock: SharedClock = ManualClock::new(T0);
        let code = start(&config, &clock, "30m", "upgrade", None).await;
        assert_eq!(code, ExitCode::from(EXIT_FAILED));
        assert!(windows_in(dir.path()).await.is_empty(), "nothing recorded");

        // Without control steps the window is recorded; a failing stop step leaves it open.
        let mut no_start = config.clone();
        no_start.maintenance.control.start.clear();
        let code = start(&no_start, &clock, "30m", "upgrade", Some("test")).await;
        assert_eq!(code, ExitCode::SUCCESS);
        assert_eq!(stop(&config, &clock).await, ExitCode::from(EXIT_FAILED));
        let windows = windows_in(dir.path()).await;
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0].stopped_ms, None, "still open");
        assert_eq!(
            (windows[0].mode, windows[0].origin),
            (Mode::Test, Origin::Cli)
        );
        assert_eq!(windows[0].end_ms, T0 + 30 * MIN);
    }

    #[test]
    fn status_lists_manual_and_configured_windows_soonest_first() {
        let mut config = crate::config::embedded_default();
        let now = T0;
        config.maintenance.windows = vec![
            WindowConfig {
                name: "patching".into(),
                schedule: WindowSchedule::Once {
                    start_ms: now + 120 * MIN,
                },
                duration: Duration::from_secs(3600),
                mode: Mode::Normal,
                reason: "planned window patching".into(),
            },
            WindowConfig {
                name: "past".into(),
                schedule: WindowSchedule::Once {
                    start_ms: now - 120 * MIN,
                },
                duration: Duration::from_secs(60),
                mode: Mode::Normal,
                reason: "gone".into(),
            },
        ];
        let manual = ManualWindow {
            id: 4,
            start_ms: now - MIN,
            end_ms: now + 29 * MIN,
            mode: Mode::Emergency,
            reason: "disk".into(),
            origin: Origin::Cli,
            author: "ops".into(),
            stopped_ms: None,
            created_ms: now - MIN,
        };
        let dto = MaintenanceStatusView::new(&config.maintenance, None, &[manual], now);
        assert!(dto.active);
        assert!(!dto.control);
        let value = serde_json::to_value(&dto).unwrap();
        assert_eq!(
            value["windows"],
            serde_json::json!([
                {"id": 4, "name": null, "start": format_rfc3339(now - MIN),
                 "end": format_rfc3339(now + 29 * MIN), "mode": "emergency", "reason": "disk",
                 "origin": "cli", "author": "ops", "active": true},
                {"id": null, "name": "patching", "start": format_rfc3339(now + 120 * MIN),
                 "end": format_rfc3339(now + 180 * MIN), "mode": "normal",
                 "reason": "planned window patching", "origin": "planned", "author": "config",
                 "active": false},
            ])
        );
        assert_eq!(value["period"], serde_json::Value::Null);
    }

    #[test]
    fn the_report_renders_as_tables() {
        let now = T0;
        let period = Period {
            id: 7,
            start_ms: now - 90 * MIN,
            end_ms: Some(now - 30 * MIN),
            planned_end_ms: Some(now - 60 * MIN),
            mode: Mode::Emergency,
            reason: "db".into(),
            origin: Origin::Cli,
            planned: true,
            impact: Impact::default(),
            muted: vec![],
        };
        let history = vec![(
            "app".to_string(),
            vec![(now - 120 * MIN, crate::model::Status::Ok)],
        )];
        let text = render_report(
            &report::report(&[period], &history, now - 240 * MIN, now),
            false,
        );
        for expected in [
            "Periods: 1 started; 1h in maintenance (mean period 1h)",
            "  planned 1h, unplanned 0s, emergency mode 1h, overrun 30m",
            "  longest: #7 from ",
            "(all checks)",
        ] {
            assert!(text.contains(expected), "{expected:?} in\n{text}");
        }
        let app: Vec<&str> = text
            .lines()
            .find(|l| l.starts_with("app "))
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(app, ["app", "2h", "2h", "0s", "100.000%", "100.000%"]);
    }
}
