//! `lookout check`: run every health check once, print a table or JSON, exit with the
//! Nagios code of the worst status. Results also go to the store, like the daemon's.

use std::process::ExitCode;

use crate::base::units::ValueUnit;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::daemon::{self, store_options};
use crate::model::{CheckResult, Layer, Status};
use crate::store::Store;
use crate::views::status::CheckReportView;

use super::output::{self, Progress};
use super::table::{Cell, Table};

pub async fn run(config: &Config, clock: &SharedClock, json: bool) -> ExitCode {
    let mut progress = None;
    let mut observations = daemon::run_probes_once_with(config, clock, |probe, _, total| {
        progress
            .get_or_insert_with(|| Progress::new(total, "checks"))
            .done(probe)
    })
    .await;
    drop(progress);
    // Cron mode shares the store with a running daemon; a store problem must not hide the
    // check results, so it is reported on stderr and the exit code stays the checks' own.
    match Store::open(&config.storage.path, store_options(config), clock.clone()).await {
        Ok(store) => {
            if let Err(error) = daemon::record_once(&store, &mut observations, config, clock).await
            {
                eprintln!("lookout: results not stored: {error}");
            }
            if let Err(error) = store.close().await {
                eprintln!("lookout: results not stored: {error}");
            }
        }
        Err(error) => eprintln!("lookout: results not stored: {error}"),
    }
    let mut results: Vec<&CheckResult> = observations.iter().flat_map(|o| &o.checks).collect();
    results.sort_by(|a, b| (a.layer, &a.check).cmp(&(b.layer, &b.check)));
    let worst = if results.is_empty() {
        Status::Unknown
    } else {
        Status::worst(results.iter().map(|r| r.status))
    };

    if json {
        output::print_json(&CheckReportView::new(worst, &results));
    } else {
        table(config, &results).print();
        if results.is_empty() {
            output::say!("no health checks are configured");
        }
    }
    ExitCode::from(worst.nagios_exit_code() as u8)
}

/// The unit of a result's value: a configured check's type says it; the system's own checks
/// (cpu, memory, disk:MOUNT) are usage ratios.
fn unit_of(config: &Config, result: &CheckResult) -> ValueUnit {
    match config.checks.iter().find(|c| c.name == result.check) {
        Some(check) => check.kind.value_unit(),
        None if result.layer == Layer::System => ValueUnit::Percent,
        None => ValueUnit::Number,
    }
}

/// The table: LAYER CHECK STATUS VALUE DETAIL; values in their unit, statuses in the
/// dashboard's colours on a terminal.
fn table(config: &Config, results: &[&CheckResult]) -> Table {
    let mut table = Table::new(&["LAYER", "CHECK", "STATUS", "VALUE", "DETAIL"]);
    for r in results {
        table.row([
            r.layer.to_string().into(),
            r.check.clone().into(),
            Cell::styled(
                r.status.as_str().to_uppercase(),
                output::status_style(r.status),
            ),
            output::value(r.value, unit_of(config, r)).into(),
            r.detail.clone().into(),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_shows_status_in_capitals_and_values_in_their_unit() {
        let result = CheckResult {
            underlying: None,
            check: "memory".into(),
            layer: Layer::System,
            status: Status::Warning,
            value: Some(0.8612),
            detail: "memory 86.1% used (warning at 85%)".into(),
            at_ms: 0,
        };
        let config = crate::config::embedded_default();
        let table = table(&config, &[&result]);
        assert_eq!(
            table.render(false),
            "LAYER   CHECK   STATUS   VALUE  DETAIL\n\
             system  memory  WARNING  86.1%  memory 86.1% used (warning at 85%)\n"
        );
        assert_eq!(
            table.render(true).lines().nth(1).unwrap(),
            "system  memory  \u{1b}[33mWARNING\u{1b}[0m  86.1%  memory 86.1% used (warning at 85%)"
        );
    }
}
