//! `lookout check`: run every health check once, print a table or JSON, exit with the
//! Nagios code of the worst status. Results also go to the store, like the daemon's.

use std::process::ExitCode;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::daemon::{self, store_options};
use crate::model::{CheckResult, Status};
use crate::store::Store;
use crate::views::status::CheckReportView;

use super::output::{self, Progress};

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
        let report = CheckReportView::new(worst, &results);
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", table(&results, output::colour_stdout()));
        if results.is_empty() {
            output::say!("no health checks are configured");
        }
    }
    ExitCode::from(worst.nagios_exit_code() as u8)
}

fn format_value(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => {
            let text = format!("{v:.3}");
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        _ => "-".to_string(),
    }
}

/// A plain aligned table: LAYER CHECK STATUS VALUE DETAIL; with `colour`, statuses in the
/// dashboard's colours.
fn table(results: &[&CheckResult], colour: bool) -> String {
    let rows: Vec<[String; 5]> = results
        .iter()
        .map(|r| {
            [
                r.layer.to_string(),
                r.check.clone(),
                r.status.as_str().to_uppercase(),
                format_value(r.value),
                r.detail.clone(),
            ]
        })
        .collect();
    let header = [
        "LAYER".to_string(),
        "CHECK".to_string(),
        "STATUS".to_string(),
        "VALUE".to_string(),
        "DETAIL".to_string(),
    ];
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row.iter()) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let statuses = std::iter::once(None).chain(results.iter().map(|r| Some(r.status)));
    for (row, status) in std::iter::once(&header).chain(&rows).zip(statuses) {
        for (column, (cell, width)) in row.iter().zip(widths).enumerate() {
            let padded = format!("{cell:<width$}");
            match status {
                Some(status) if column == 2 => {
                    out.push_str(&output::paint(
                        &padded,
                        output::status_style(status),
                        colour,
                    ));
                }
                _ => out.push_str(&padded),
            }
            out.push_str("  ");
        }
        out.push_str(&row[4]);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Layer;

    #[test]
    fn table_aligns_columns_and_shows_status_in_capitals() {
        let result = CheckResult {
            underlying: None,
            check: "memory".into(),
            layer: Layer::System,
            status: Status::Warning,
            value: Some(0.8612),
            detail: "memory 86.1% used (warning at 85%)".into(),
            at_ms: 0,
        };
        assert_eq!(
            table(&[&result], false),
            "LAYER   CHECK   STATUS   VALUE  DETAIL\n\
             system  memory  WARNING  0.861  memory 86.1% used (warning at 85%)\n"
        );
        assert_eq!(
            table(&[&result], true).lines().nth(1).unwrap(),
            "system  memory  \u{1b}[33mWARNING\u{1b}[0m  0.861  memory 86.1% used (warning at 85%)"
        );
    }
}
