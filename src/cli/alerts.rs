//! `lookout alerts ...` and `lookout silence ...`: the alert engine from the shell. They work
//! on the store, so they show what a running daemon decided and act alongside it (a silence
//! added here is picked up by the daemon within seconds).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use serde::Serialize;

use super::fail;
use super::output::{self, print_json, say};
use super::table::{Cell, Table};
use crate::alert::Engine;
use crate::alert::records::{HistoryEntry, OutboxRow, OutboxState};
use crate::alert::silence::{Silence, SilenceRequest, SilenceState};
use crate::base::units::ValueUnit;
use crate::clock::{SharedClock, UnixMillis, format_rfc3339};
use crate::config::{Config, RuleSource};
use crate::daemon::store_options;
use crate::model::{Observation, Sample};
use crate::notify::build_notifiers;
use crate::notify::outbox::Outbox;
use crate::store::{NoticeDelivery, Store};
use crate::views::alerts::{ActiveAlertLineView, ActiveAlertView, NoticeLineView, OutboxLineView};
use crate::views::silences::SilenceView;

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Pending and firing alerts (and why a quiet one is quiet).
    #[command(after_help = super::examples::alerts_list())]
    List {
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Notices decided in a period, newest first (sent and muted).
    #[command(after_help = super::examples::alerts_history())]
    History {
        /// How far back, e.g. "24h", "7d".
        #[arg(long, default_value = "24h", value_name = "DURATION")]
        since: String,
        /// At most this many notices (the newest).
        #[arg(long, default_value_t = 200, value_name = "N")]
        limit: usize,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Send a real test message through every notifier (or one), and say how it went.
    #[command(after_help = super::examples::alerts_test())]
    Test {
        /// Only the notifier of this name (default: every notifier).
        #[arg(long, value_name = "NAME")]
        notifier: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Cron mode: evaluate the rules once over the stored data (what `collect` and `check`
    /// stored; alert state is kept between runs), send what is due, exit.
    #[command(after_help = super::examples::alerts_run())]
    Run {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Notifications not yet delivered, and those given up on.
    #[command(after_help = super::examples::alerts_outbox())]
    Outbox {
        /// Also show delivered ones.
        #[arg(long)]
        all: bool,
        /// At most this many rows (the newest).
        #[arg(long, default_value_t = 100, value_name = "N")]
        limit: usize,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Mute alerts matching every MATCHER (label="value", label!="value", label=~"regex",
    /// label!~"regex") for a while.
    #[command(after_help = super::examples::silence_add())]
    Add {
        /// A label matcher; quote it for the shell: 'check="db"'. Labels: alertname (the
        /// rule), severity, check, and the alert's own (mountpoint, ...).
        #[arg(required = true, value_name = "MATCHER")]
        matchers: Vec<String>,
        /// How long, e.g. "2h" (default 1h); or use --until.
        #[arg(long = "for", value_name = "DURATION", conflicts_with = "until")]
        duration: Option<String>,
        /// End time: RFC 3339 or "+2h".
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// Start time (default now): RFC 3339 or "+30m".
        #[arg(long, value_name = "TIME")]
        start: Option<String>,
        /// Who (default $USER, else $LOGNAME, else the account running the command).
        #[arg(long, value_name = "NAME")]
        author: Option<String>,
        /// Why: shown beside the silence and in the alerts it mutes.
        #[arg(long, required = true, value_name = "TEXT")]
        comment: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Silences: active and pending (and expired ones with --all, kept for audit).
    #[command(after_help = super::examples::silence_list())]
    List {
        /// Also the expired ones.
        #[arg(long)]
        all: bool,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// End a silence now (it stays listed as expired).
    #[command(after_help = super::examples::silence_expire())]
    Expire {
        /// The silence's ID, as `silence list` shows it.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

async fn open(config: &Config, clock: &SharedClock) -> Result<Store, ExitCode> {
    Store::open(&config.storage.path, store_options(config), clock.clone())
        .await
        .map_err(|error| fail(&error))
}

fn ago(now_ms: UnixMillis, at_ms: UnixMillis) -> String {
    let seconds = ((now_ms - at_ms).max(0) / 1000) as u64;
    humantime::format_duration(Duration::from_secs(seconds)).to_string()
}

pub async fn run(command: AlertsCommand, config: &Config, clock: &SharedClock) -> ExitCode {
    match command {
        AlertsCommand::List { json } => list(config, clock, json).await,
        AlertsCommand::History { since, limit, json } => {
            history(config, clock, &since, limit, json).await
        }
        AlertsCommand::Test { notifier, json } => {
            test(config, clock, notifier.as_deref(), json).await
        }
        AlertsCommand::Run { json } => run_once(config, clock, json).await,
        AlertsCommand::Outbox { all, limit, json } => outbox(config, clock, all, limit, json).await,
    }
}

async fn list(config: &Config, clock: &SharedClock, json: bool) -> ExitCode {
    let store = match open(config, clock).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let alerts = match store.load_alerts().await {
        Ok(alerts) => alerts,
        Err(error) => return fail(&error),
    };
    let _ = store.close().await;
    let now = clock.now_ms();
    if json {
        print_json(
            &alerts
                .iter()
                .map(|a| ActiveAlertLineView::from(ActiveAlertView::from(a)))
                .collect::<Vec<_>>(),
        );
    } else if alerts.is_empty() {
        say!("no pending or firing alerts");
    } else {
        let mut table = Table::new(&[
            "ID", "RULE", "STATE", "SEVERITY", "SINCE", "VALUE", "SUMMARY", "MUTED BY",
        ]);
        for a in &alerts {
            let unit = config
                .alerts
                .rules
                .iter()
                .find(|r| r.name == a.rule)
                .map_or(ValueUnit::Number, |r| r.unit);
            table.row([
                a.id.clone().into(),
                a.rule.clone().into(),
                a.state.clone().into(),
                Cell::styled(a.severity.as_str(), output::severity_style(a.severity)),
                format!("{} ago", ago(now, a.since_ms)).into(),
                output::value(a.value, unit).into(),
                a.summary.clone().into(),
                crate::alert::mute::text(a.muted_by.as_ref()).into(),
            ]);
        }
        table.print();
    }
    ExitCode::SUCCESS
}

/// The outbox rows of one history entry.
fn deliveries_of<'a>(h: &HistoryEntry, all: &'a [NoticeDelivery]) -> Vec<&'a NoticeDelivery> {
    NoticeDelivery::of(h, all)
}

/// What `alerts history` says after a notice: "(delivered to ops-mail)", "(pending for
/// ops-hook: 3 attempts, last error: HTTP 503)", "(failed for ops-hook: ...)", "(muted:
/// silenced by ...)", "(not queued: no notifier, or its record was pruned)"; several
/// notifiers are joined with "; ".
fn delivery_line(h: &HistoryEntry, rows: &[&NoticeDelivery]) -> String {
    if let Some(untold) = &h.muted_by {
        return format!("muted: {untold}");
    }
    if rows.is_empty() {
        return "not queued: no notifier, or its record was pruned".to_string();
    }
    let mut parts: Vec<String> = Vec::new();
    for state in [
        OutboxState::Delivered,
        OutboxState::Pending,
        OutboxState::Failed,
    ] {
        let of: Vec<&&NoticeDelivery> = rows.iter().filter(|d| d.state == state).collect();
        if of.is_empty() {
            continue;
        }
        if state == OutboxState::Delivered {
            let names: Vec<&str> = of.iter().map(|d| d.notifier.as_str()).collect();
            parts.push(format!("delivered to {}", names.join(", ")));
            continue;
        }
        for d in of {
            let mut part = match state {
                OutboxState::Pending if d.attempts == 0 => {
                    format!("pending for {}: not tried yet", d.notifier)
                }
                OutboxState::Pending => format!(
                    "pending for {}: {} attempt{}",
                    d.notifier,
                    d.attempts,
                    if d.attempts == 1 { "" } else { "s" }
                ),
                _ => format!("failed for {}", d.notifier),
            };
            if let Some(error) = &d.last_error {
                part.push_str(if state == OutboxState::Pending {
                    ", last error: "
                } else {
                    ": "
                });
                part.push_str(error);
            }
            parts.push(part);
        }
    }
    parts.join("; ")
}

async fn history(
    config: &Config,
    clock: &SharedClock,
    since: &str,
    limit: usize,
    json: bool,
) -> ExitCode {
    let Ok(since) = humantime::parse_duration(since) else {
        return fail(&format!(
            "--since \"{since}\" is not a duration; expected e.g. \"24h\" or \"7d\""
        ));
    };
    let store = match open(config, clock).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    // Before 1970 is everything there is: a huge --since means "all", never an overflow.
    let since_ms = i64::try_from(since.as_millis())
        .ok()
        .and_then(|ms| clock.now_ms().checked_sub(ms))
        .unwrap_or(0)
        .max(0);
    let entries = match store.alert_history(since_ms, limit).await {
        Ok(entries) => entries,
        Err(error) => return fail(&error),
    };
    let oldest = entries
        .iter()
        .map(|h| h.notice.at_ms)
        .min()
        .unwrap_or(since_ms);
    let deliveries = match store.notice_deliveries(oldest).await {
        Ok(deliveries) => deliveries,
        Err(error) => return fail(&error),
    };
    let _ = store.close().await;
    if json {
        print_json(
            &entries
                .iter()
                .map(|h| NoticeLineView::new(h, &deliveries))
                .collect::<Vec<_>>(),
        );
    } else if entries.is_empty() {
        say!(
            "no alerts in the last {}",
            humantime::format_duration(since)
        );
    } else {
        let mut table = Table::new(&[
            "AT", "KIND", "SEVERITY", "RULE", "VALUE", "SUMMARY", "DELIVERY",
        ]);
        for h in &entries {
            let rows = deliveries_of(h, &deliveries);
            table.row([
                format_rfc3339(h.notice.at_ms).into(),
                h.notice.kind.as_str().into(),
                Cell::styled(
                    h.notice.severity.as_str(),
                    output::severity_style(h.notice.severity),
                ),
                h.notice.rule.clone().into(),
                h.notice.value.clone().into(),
                h.notice.summary.clone().into(),
                delivery_line(h, &rows).into(),
            ]);
        }
        table.print();
    }
    ExitCode::SUCCESS
}

#[derive(Serialize)]
struct TestResultDto {
    notifier: String,
    ok: bool,
    error: Option<String>,
}

/// A message that says it is a test, through each notifier directly (not the outbox: the
/// point is to see the error now).
async fn test(config: &Config, clock: &SharedClock, only: Option<&str>, json: bool) -> ExitCode {
    let notifiers = build_notifiers(&config.notifiers);
    let chosen: Vec<_> = notifiers
        .iter()
        .filter(|n| only.is_none_or(|name| n.name() == name))
        .collect();
    if chosen.is_empty() {
        return fail(&match only {
            Some(name) => format!(
                "no notifier named \"{name}\"; configured: {}",
                names_or_none(config)
            ),
            None => "no [[notifier]] is configured; add one (see `lookout config init`)".into(),
        });
    }
    let message = crate::notifiers::test_message(
        &config.alerts.host,
        config.alerts.dashboard_url.clone(),
        clock.now_ms(),
    );
    let mut results = Vec::new();
    for notifier in chosen {
        let outcome = notifier.send(&message).await;
        results.push(TestResultDto {
            notifier: notifier.name().to_string(),
            ok: outcome.is_ok(),
            error: outcome.err().map(|e| e.message),
        });
    }
    let all_ok = results.iter().all(|r| r.ok);
    if json {
        print_json(&results);
    } else {
        for r in &results {
            match &r.error {
                None => say!("✓ {}: test message sent", r.notifier),
                Some(error) => println!("✗ {}: {error}", r.notifier),
            }
        }
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn names_or_none(config: &Config) -> String {
    if config.notifiers.is_empty() {
        "none".to_string()
    } else {
        config
            .notifiers
            .iter()
            .map(|n| format!("\"{}\"", n.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Serialize)]
struct RunReportDto {
    /// Latest values and check results the rules looked at.
    evaluated: usize,
    firing: usize,
    pending: usize,
    notices: usize,
    messages_sent: usize,
    rows_delivered: usize,
    rows_retried: usize,
    rows_failed: usize,
    /// Messages re-posting still-firing alerts (Alertmanager).
    messages_resent: usize,
    errors: Vec<String>,
}

/// How far back cron mode looks for a series' latest value; older values are not evaluated
/// (a metric that stopped being collected is not taken as still high).
const CRON_LOOKBACK_MS: i64 = 10 * 60_000;

/// One evaluation in cron mode, over what `lookout collect` and `lookout check` stored: the
/// latest value of every series a rule watches and the latest result of every check. Alert
/// state (pending since, firing, last told) is kept in the store between runs, so `for` and
/// cooldowns span runs. Grouping waits (and `resolve_wait`) make no sense between runs minutes
/// apart: everything decided in a run goes out in that run. ("No data" is the daemon's business: in cron mode
/// checks run when cron says, not on their interval.)
async fn run_once(config: &Config, clock: &SharedClock, json: bool) -> ExitCode {
    let store = match open(config, clock).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let holder = crate::daemon::lease::holder();
    match store
        .acquire_lease(
            crate::daemon::lease::ALERTING,
            &holder,
            5 * 60_000,
            crate::daemon::lease::is_gone,
        )
        .await
    {
        Ok(None) => {}
        Ok(Some(other)) => {
            let _ = store.close().await;
            return fail(&format!(
                "a running Lookout ({}) already evaluates and sends the alerts of {}; `alerts run` is for cron setups without `lookout serve`",
                crate::daemon::lease::describe(&other),
                config.storage.path.display()
            ));
        }
        Err(error) => return fail(&error),
    }
    let mut config = config.clone();
    config.alerts.group_wait = Duration::ZERO;
    config.alerts.group_wait_critical = Duration::ZERO;
    // Nor does waiting for a resolution to hold: the next run is minutes away.
    config.alerts.resolve_wait = Duration::ZERO;
    for rule in &mut config.alerts.rules {
        if matches!(rule.source, RuleSource::NoData { .. }) {
            rule.enabled = false;
        }
    }
    let now = clock.now_ms();
    let mut engine = Engine::new(&config, now);
    let outcome = async {
        let dropped = engine.restore(store.load_alerts().await?);
        store.commit_alerts(&dropped).await?;
        engine.set_silences(store.silences().await?);
        let mut observation = Observation {
            source: "store".to_string(),
            at_ms: now,
            samples: Vec::new(),
            checks: store.latest_checks().await?,
        };
        // A result older than the lookback says nothing about now (a removed check, or
        // `lookout check` no longer run by cron).
        observation
            .checks
            .retain(|c| c.at_ms >= now - CRON_LOOKBACK_MS);
        // A rate rule's series: its window's samples, each at its time, then the latest at its
        // own time (not `now`, which would stretch the rate's span).
        let mut rated = Vec::new();
        for name in engine.watched_metrics() {
            let window = engine.rate_window(&name);
            let lookback = window.map_or(0, |w| w.as_millis() as i64);
            let result = store
                .query(
                    &name,
                    &[],
                    now - lookback.max(CRON_LOOKBACK_MS),
                    now,
                    10_000,
                )
                .await?;
            // A bucket's last value is at its end, about.
            let end = (result.step_ms - 1).max(0);
            for series in result.series {
                let key = Arc::new(series.key);
                let Some(point) = series.points.last() else {
                    continue;
                };
                if point.at_ms + end < now - CRON_LOOKBACK_MS {
                    continue;
                }
                let sample = Sample {
                    series: key.clone(),
                    value: point.last,
                };
                if window.is_none() {
                    observation.samples.push(sample);
                    continue;
                }
                let earlier: Vec<(i64, f64)> = series.points[..series.points.len() - 1]
                    .iter()
                    .map(|p| (p.at_ms + end, p.last))
                    .collect();
                engine.fill_rates(&key, &earlier, now);
                rated.push(Observation {
                    source: "store".to_string(),
                    at_ms: point.at_ms + end,
                    samples: vec![sample],
                    checks: Vec::new(),
                });
            }
        }
        let evaluated = observation.samples.len() + rated.len() + observation.checks.len();
        let mut batch = engine.observe(&observation, now);
        for observation in &rated {
            let more = engine.observe(observation, now);
            batch
                .upserts
                .retain(|u| !more.upserts.iter().any(|m| m.id == u.id));
            batch.upserts.extend(more.upserts);
            batch.removed.extend(more.removed);
            batch.history.extend(more.history);
            batch.outbox.extend(more.outbox);
            batch.retract.extend(more.retract);
        }
        let ticked = engine.tick(now);
        batch
            .upserts
            .retain(|u| !ticked.upserts.iter().any(|t| t.id == u.id));
        batch.upserts.extend(ticked.upserts);
        batch.removed.extend(ticked.removed);
        batch.history.extend(ticked.history);
        batch
            .outbox
            .retain(|e| !ticked.retract.contains(&e.notice.alert_id));
        batch.outbox.extend(ticked.outbox);
        batch.retract.extend(ticked.retract);
        let notices = batch.history.len();
        store.commit_alerts(&batch).await?;
        let outbox = Outbox::new(
            store.clone(),
            build_notifiers(&config.notifiers),
            clock.clone(),
            config.alerts.dashboard_url.clone(),
        );
        // Each run re-posts what still fires to Alertmanager (which forgets an alert nobody
        // re-posts), before the run's own news, which may resolve some of it.
        let resent = outbox.resend().await?;
        let report = outbox.deliver_due().await?;
        Ok::<_, crate::store::StoreError>((evaluated, notices, report, resent))
    }
    .await;
    let alerts = engine.alerts();
    let _ = store
        .release_lease(crate::daemon::lease::ALERTING, &holder)
        .await;
    let _ = store.close().await;
    let (evaluated, notices, report, resent) = match outcome {
        Ok(outcome) => outcome,
        Err(error) => return fail(&error),
    };
    let dto = RunReportDto {
        evaluated,
        firing: alerts.iter().filter(|a| a.state == "firing").count(),
        pending: alerts.iter().filter(|a| a.state == "pending").count(),
        notices,
        messages_sent: report.messages_sent,
        rows_delivered: report.rows_delivered,
        rows_retried: report.rows_retried,
        rows_failed: report.rows_failed,
        messages_resent: resent.resent.len(),
        errors: report
            .errors
            .iter()
            .chain(&resent.errors)
            .map(|(notifier, error)| format!("{notifier}: {error}"))
            .collect(),
    };
    if json {
        print_json(&dto);
    } else {
        say!(
            "{} values evaluated; {} firing, {} pending; {} notices, {} messages sent",
            dto.evaluated,
            dto.firing,
            dto.pending,
            dto.notices,
            dto.messages_sent
        );
        for error in &dto.errors {
            eprintln!("lookout: ✗ {error} (will retry on the next run)");
        }
    }
    if dto.rows_failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

async fn outbox(
    config: &Config,
    clock: &SharedClock,
    all: bool,
    limit: usize,
    json: bool,
) -> ExitCode {
    let store = match open(config, clock).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let rows: Vec<OutboxRow> = match store.outbox_list(all, limit).await {
        Ok(rows) => rows,
        Err(error) => return fail(&error),
    };
    let _ = store.close().await;
    let dtos: Vec<OutboxLineView> = rows.iter().map(OutboxLineView::from).collect();
    if json {
        print_json(&dtos);
    } else if dtos.is_empty() {
        say!("outbox empty: every notification was delivered");
    } else {
        let mut table = Table::new(&[
            "ID",
            "NOTIFIER",
            "STATE",
            "ATTEMPTS",
            "KIND",
            "SUMMARY",
            "LAST ERROR",
        ]);
        for d in dtos {
            table.row([
                d.id.to_string().into(),
                d.notifier.into(),
                d.state.into(),
                d.attempts.to_string().into(),
                d.kind.into(),
                d.summary.into(),
                d.last_error.unwrap_or_default().into(),
            ]);
        }
        table.print();
    }
    ExitCode::SUCCESS
}

pub async fn silence(command: SilenceCommand, config: &Config, clock: &SharedClock) -> ExitCode {
    let store = match open(config, clock).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let now = clock.now_ms();
    let code = match command {
        SilenceCommand::Add {
            matchers,
            duration,
            until,
            start,
            author,
            comment,
            json,
        } => {
            let author = author
                .or_else(output::user_name)
                .unwrap_or_else(|| "unknown".to_string());
            let request = SilenceRequest {
                matchers,
                duration,
                until,
                start,
                author,
                comment,
            };
            match Silence::build(&request, now) {
                Err(message) => fail(&message),
                Ok(silence) => match store.add_silence(&silence).await {
                    Err(error) => fail(&error),
                    Ok(()) => {
                        if json {
                            print_json(&SilenceView::new(&silence, now));
                        } else {
                            say!(
                                "silence {} added: {} until {}",
                                silence.id,
                                SilenceView::new(&silence, now).matchers.join(", "),
                                format_rfc3339(silence.ends_ms)
                            );
                        }
                        ExitCode::SUCCESS
                    }
                },
            }
        }
        SilenceCommand::List { all, json } => match store.silences().await {
            Err(error) => fail(&error),
            Ok(silences) => {
                let shown: Vec<SilenceView> = silences
                    .iter()
                    .filter(|s| all || s.state(now) != SilenceState::Expired)
                    .map(|s| SilenceView::new(s, now))
                    .collect();
                if json {
                    print_json(&shown);
                } else if shown.is_empty() {
                    say!(
                        "no silences{}",
                        if all {
                            ""
                        } else {
                            " (--all shows expired ones)"
                        }
                    );
                } else {
                    let mut table = Table::new(&[
                        "ID", "STATE", "STARTS", "ENDS", "MATCHERS", "AUTHOR", "COMMENT",
                    ]);
                    for s in shown {
                        table.row([
                            s.id.into(),
                            s.state.into(),
                            s.starts_at.into(),
                            s.ends_at.into(),
                            s.matchers.join(", ").into(),
                            s.author.into(),
                            s.comment.into(),
                        ]);
                    }
                    table.print();
                }
                ExitCode::SUCCESS
            }
        },
        SilenceCommand::Expire { id, json } => match store.expire_silence(&id, now).await {
            Err(error) => fail(&error),
            Ok(true) => {
                if json {
                    print_json(&serde_json::json!({ "id": id, "expired": true }));
                } else {
                    say!("silence {id} expired");
                }
                ExitCode::SUCCESS
            }
            Ok(false) => fail(&format!(
                "no active or pending silence \"{id}\" (see `lookout silence list --all`)"
            )),
        },
    };
    let _ = store.close().await;
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Severity;
    use crate::alert::mute::{MuteReason, Untold};
    use crate::model::{Category, NoticeKind};
    use crate::notifiers::render::tests::notice;

    /// Regression (issue 16, finding 8): `alerts history` said "(sent)" for every notice not
    /// muted, delivered or not.
    #[test]
    fn history_tells_what_became_of_each_notice() {
        let entry = |muted_by: Option<MuteReason>| HistoryEntry {
            notice: notice(
                "app",
                NoticeKind::Firing,
                Severity::Critical,
                Category::Failure,
            ),
            muted_by: muted_by.map(Untold::from),
        };
        let row = |notifier: &str, state: OutboxState, attempts: u32, error: Option<&str>| {
            NoticeDelivery {
                alert_id: "app/web1".into(),
                at_ms: 1_700_000_300_000,
                kind: "firing".into(),
                notifier: notifier.into(),
                state,
                attempts,
                last_error: error.map(str::to_string),
                delivered_ms: None,
            }
        };
        let hook_503 = row(
            "ops-hook",
            OutboxState::Pending,
            3,
            Some("HTTP 503 Service Unavailable"),
        );
        let other_alert = NoticeDelivery {
            alert_id: "cpu/web1".into(),
            ..row("ops-mail", OutboxState::Delivered, 1, None)
        };
        // (muted_by, outbox rows, state, line)
        let cases: Vec<(Option<MuteReason>, Vec<NoticeDelivery>, &str, &str)> = vec![
            (
                None,
                vec![row("ops-mail", OutboxState::Delivered, 1, None)],
                "delivered",
                "delivered to ops-mail",
            ),
            (
                None,
                vec![
                    row("ops-mail", OutboxState::Delivered, 2, None),
                    hook_503.clone(),
                ],
                "pending",
                "delivered to ops-mail; pending for ops-hook: 3 attempts, last error: HTTP 503 Service Unavailable",
            ),
            (
                None,
                vec![row("ops-hook", OutboxState::Pending, 0, None)],
                "pending",
                "pending for ops-hook: not tried yet",
            ),
            (
                None,
                vec![row(
                    "ops-hook",
                    OutboxState::Failed,
                    1,
                    Some("permanent error: HTTP 400"),
                )],
                "failed",
                "failed for ops-hook: permanent error: HTTP 400",
            ),
            (
                Some(MuteReason::Maintenance {
                    detail: "(normal mode: upgrade)".into(),
                }),
                vec![],
                "muted",
                "muted: maintenance (normal mode: upgrade)",
            ),
            (
                None,
                vec![other_alert],
                "not queued",
                "not queued: no notifier, or its record was pruned",
            ),
        ];
        for (muted_by, all, state, line) in cases {
            let h = entry(muted_by);
            let rows = deliveries_of(&h, &all);
            assert_eq!(NoticeDelivery::summary(&h, &rows).as_str(), state, "{line}");
            assert_eq!(delivery_line(&h, &rows), line);
            assert_eq!(
                NoticeLineView::new(&h, &all).sent,
                state == "delivered",
                "{line}"
            );
        }
    }
}
