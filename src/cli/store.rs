//! `lookout store stats|compact`: what the history holds and costs on disk, and retention plus
//! vacuum on demand. Both work beside a running daemon: `stats` only reads; `compact` runs the
//! same maintenance the daemon runs every minute (transactional, safe from two processes),
//! then vacuums, waiting for the write lock up to `--wait`. Both take `--json`; `compact`
//! shows its steps as a progress bar on a terminal and says nothing on success under
//! `--quiet`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use serde::Serialize;

use super::fail;
use super::maintenance::positive_duration;
use super::output::{self, Progress, print_json, say};
use super::table::Table;
use crate::base::units::{ValueUnit, format_duration};
use crate::clock::{SharedClock, UnixMillis, format_rfc3339};
use crate::config::Config;
use crate::daemon::store_options;
use crate::store::{
    DB_FILE, MaintainStats, Store, StoreError, StoreUsage, Tier, file_len, wal_path,
};
use crate::views::store::MaintainStatsView;

/// Exit code when the work could not be done (the store stayed locked, a database error).
const EXIT_FAILED: u8 = 1;

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Per tier and per kind of record: rows, samples, bytes on disk, the oldest and newest
    /// data, how long each is kept; the files' sizes and their free pages.
    #[command(after_help = super::examples::store_stats())]
    Stats {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Apply retention and the size cap now (seal, roll up, drop what expired), then give the
    /// freed space back to the file system. Safe while the daemon runs.
    #[command(after_help = super::examples::store_compact())]
    Compact {
        /// Rebuild the whole file (VACUUM): also packs half-empty pages, but needs free disk
        /// space the size of the store and holds the daemon's writes back while it runs.
        #[arg(long)]
        full: bool,
        /// How long to wait for another process (a running daemon) to let go of the write lock.
        #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = positive_duration)]
        wait: Duration,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: StoreCommand, config: &Config, clock: &SharedClock) -> ExitCode {
    let db = config.storage.path.join(DB_FILE);
    if !db.exists() {
        return fail(&format!(
            "no store at {}: nothing was collected there yet; check storage.path or --data-dir",
            db.display()
        ));
    }
    let store = match Store::open(&config.storage.path, store_options(config), clock.clone()).await
    {
        Ok(store) => store,
        Err(error) => return fail(&error),
    };
    match command {
        StoreCommand::Stats { json } => {
            let usage = store.usage().await;
            // Reading must not write: no maintenance on the way out.
            store.close_without_maintenance().await;
            match usage {
                Ok(usage) if json => print_json(&StatsDto::new(&usage)),
                Ok(usage) => print!("{}", stats_text(&usage)),
                Err(error) => return failed(&error),
            }
            ExitCode::SUCCESS
        }
        StoreCommand::Compact { full, wait, json } => compact(&store, &db, full, wait, json).await,
    }
}

async fn compact(store: &Store, db: &Path, full: bool, wait: Duration, json: bool) -> ExitCode {
    let on_disk = || file_len(db) + file_len(&wal_path(db));
    let bytes_before = on_disk();
    // Drawn on a terminal's stderr only, and not under --quiet (`Progress`).
    let progress = Progress::new(2, "compact");
    progress.doing("sealing, rolling up, applying retention and the size cap…");
    let maintained = store.maintain().await;
    let maintained = match maintained {
        Ok(stats) => stats,
        Err(error) => {
            drop(progress);
            let _ = store.close().await;
            return failed(&error);
        }
    };
    progress.done("retention applied");
    progress.doing(if full {
        "rebuilding the file (VACUUM)…"
    } else {
        "giving free pages back to the file system…"
    });
    let vacuumed = store.vacuum(full, wait).await;
    progress.done("vacuumed");
    drop(progress);
    let closed = store.close().await;
    let vacuumed = match vacuumed {
        Ok(vacuumed) => vacuumed,
        Err(StoreError::Busy { .. }) => {
            eprintln!(
                "lookout: {} stayed locked by another process for {} (a running `lookout serve` holds the lock only for moments; a long VACUUM or a stuck process holds it longer); retention was applied, but nothing was vacuumed: run it again, give it longer with --wait, or stop the other process first",
                db.display(),
                format_duration(wait)
            );
            return ExitCode::from(EXIT_FAILED);
        }
        Err(error) => return failed(&error),
    };
    if let Err(error) = closed {
        return failed(&error);
    }
    let bytes_after = on_disk();
    if json {
        print_json(&CompactDto {
            path: db.display().to_string(),
            full,
            bytes_before,
            bytes_after,
            freed_bytes: bytes_before.saturating_sub(bytes_after),
            checkpoint_postponed: vacuumed.checkpoint_postponed,
            maintenance: MaintainStatsView::from(&maintained),
        });
    } else {
        say!(
            "compacted {}: {} -> {} ({} given back to the file system)",
            db.display(),
            human(bytes_before),
            human(bytes_after),
            human(bytes_before.saturating_sub(bytes_after))
        );
        say!("{}", dropped(&maintained));
        if vacuumed.checkpoint_postponed {
            say!(
                "another process was reading the store: the file shrinks at its next checkpoint (within a minute for a running daemon)"
            );
        }
    }
    ExitCode::SUCCESS
}

/// What maintenance deleted, in words.
fn dropped(m: &MaintainStats) -> String {
    let parts: Vec<String> = [
        (m.expired_raw_chunks + m.capped_raw_chunks, "raw chunks"),
        (m.expired_rollups + m.capped_rollups, "rollup rows"),
        (m.expired_check_results, "check results"),
        (m.expired_events, "events and alert history entries"),
        (m.expired_maintenance, "maintenance periods and windows"),
        (m.expired_silences, "silences"),
        (m.expired_outbox_rows, "outbox rows"),
        (
            m.capped_records,
            "check results and timeline entries as old as the dropped rollups",
        ),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    let capped = if m.capped_raw_chunks + m.capped_rollups + m.capped_records > 0 {
        " (some to stay within storage.max_size)"
    } else {
        ""
    };
    let sealed = if m.sealed_windows > 0 {
        format!(
            "; sealed {} samples into {} chunks",
            m.sealed_samples, m.sealed_windows
        )
    } else {
        String::new()
    };
    if parts.is_empty() {
        format!("retention: nothing had expired{sealed}")
    } else {
        format!("retention: dropped {}{capped}{sealed}", parts.join(", "))
    }
}

fn stats_text(u: &StoreUsage) -> String {
    let mut out = String::new();
    let used = u.pages.saturating_sub(u.free_pages) * u.page_size;
    out.push_str(&format!("store {}\n", u.path.display()));
    out.push_str(&format!(
        "  file {}, WAL {}; {} in use of the {} cap ({:.0}%), {} free inside the file ({} pages)\n\n",
        human(u.file_bytes),
        human(u.wal_bytes),
        human(used),
        human(u.max_size),
        used as f64 * 100.0 / u.max_size.max(1) as f64,
        human(u.free_pages * u.page_size),
        u.free_pages
    ));
    let time = |ms: Option<UnixMillis>| ms.map_or("-".to_string(), format_rfc3339);
    let colour = output::colour_stdout();
    let mut tiers = Table::new(&[
        "TIER", "KEPT", "ROWS", "SAMPLES", "DATA", "ON DISK", "OLDEST", "NEWEST",
    ]);
    for t in &u.tiers {
        tiers.row([
            t.tier.as_str().into(),
            format_duration(t.retention).into(),
            t.rows.to_string().into(),
            t.samples.to_string().into(),
            human(t.data_bytes).into(),
            human(t.disk_bytes).into(),
            time(t.oldest_ms).into(),
            time(t.newest_ms).into(),
        ]);
    }
    out.push_str(&tiers.render(colour));
    out.push('\n');
    let mut records = Table::new(&["RECORDS", "KEPT", "ROWS", "ON DISK", "OLDEST", "NEWEST"]);
    for r in &u.records {
        records.row([
            r.name.replace('_', " ").into(),
            format_duration(r.retention).into(),
            r.rows.to_string().into(),
            human(r.disk_bytes).into(),
            time(r.oldest_ms).into(),
            time(r.newest_ms).into(),
        ]);
    }
    records.row([
        "other".into(),
        "".into(),
        "".into(),
        human(u.other_bytes).into(),
    ]);
    out.push_str(&records.render(colour));
    out.push_str(
        "(other: series, latest check results, alert state, users, remote-write queue, schema)\n",
    );
    out
}

/// "512 B", "12.3 KiB", "1.0 GiB": sizes as every listing writes them (`output::value`).
fn human(bytes: u64) -> String {
    output::value(Some(bytes as f64), ValueUnit::Bytes)
}

fn failed(error: &StoreError) -> ExitCode {
    eprintln!("lookout: {error}");
    ExitCode::from(EXIT_FAILED)
}

#[derive(Debug, Serialize)]
struct CompactDto {
    path: String,
    full: bool,
    bytes_before: u64,
    bytes_after: u64,
    freed_bytes: u64,
    checkpoint_postponed: bool,
    maintenance: MaintainStatsView,
}

#[derive(Debug, Serialize)]
struct StatsDto {
    path: String,
    file_bytes: u64,
    wal_bytes: u64,
    page_size: u64,
    pages: u64,
    free_pages: u64,
    free_bytes: u64,
    max_size: u64,
    tiers: Vec<SpanDto>,
    records: Vec<SpanDto>,
    other_bytes: u64,
}

/// A tier or a kind of record. Times both as RFC 3339 and as Unix milliseconds.
#[derive(Debug, Serialize)]
struct SpanDto {
    name: &'static str,
    /// The tier whose retention applies (a tier's own name for a tier).
    follows: &'static str,
    retention: String,
    retention_seconds: u64,
    rows: u64,
    /// Tiers only: raw samples, or buckets of a rollup tier.
    #[serde(skip_serializing_if = "Option::is_none")]
    samples: Option<u64>,
    /// Tiers only: compressed data without page overhead.
    #[serde(skip_serializing_if = "Option::is_none")]
    data_bytes: Option<u64>,
    disk_bytes: u64,
    oldest: Option<String>,
    oldest_ms: Option<UnixMillis>,
    newest: Option<String>,
    newest_ms: Option<UnixMillis>,
}

impl StatsDto {
    fn new(u: &StoreUsage) -> StatsDto {
        let span = |name: &'static str,
                    follows: Tier,
                    retention: Duration,
                    rows: u64,
                    disk_bytes: u64,
                    oldest_ms: Option<UnixMillis>,
                    newest_ms: Option<UnixMillis>| SpanDto {
            name,
            follows: follows.as_str(),
            retention: format_duration(retention),
            retention_seconds: retention.as_secs(),
            rows,
            samples: None,
            data_bytes: None,
            disk_bytes,
            oldest: oldest_ms.map(format_rfc3339),
            oldest_ms,
            newest: newest_ms.map(format_rfc3339),
            newest_ms,
        };
        StatsDto {
            path: u.path.display().to_string(),
            file_bytes: u.file_bytes,
            wal_bytes: u.wal_bytes,
            page_size: u.page_size,
            pages: u.pages,
            free_pages: u.free_pages,
            free_bytes: u.free_pages * u.page_size,
            max_size: u.max_size,
            tiers: u
                .tiers
                .iter()
                .map(|t| SpanDto {
                    samples: Some(t.samples),
                    data_bytes: Some(t.data_bytes),
                    ..span(
                        t.tier.as_str(),
                        t.tier,
                        t.retention,
                        t.rows,
                        t.disk_bytes,
                        t.oldest_ms,
                        t.newest_ms,
                    )
                })
                .collect(),
            records: u
                .records
                .iter()
                .map(|r| {
                    span(
                        r.name,
                        r.follows,
                        r.retention,
                        r.rows,
                        r.disk_bytes,
                        r.oldest_ms,
                        r.newest_ms,
                    )
                })
                .collect(),
            other_bytes: u.other_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_a_person_writes_them() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(10 << 20), "10.0 MiB");
        assert_eq!(human(3 << 30), "3.0 GiB");
    }

    #[test]
    fn what_was_dropped_is_said_in_words() {
        assert_eq!(
            dropped(&MaintainStats::default()),
            "retention: nothing had expired"
        );
        let m = MaintainStats {
            expired_raw_chunks: 3,
            capped_raw_chunks: 2,
            expired_maintenance: 1,
            sealed_windows: 4,
            sealed_samples: 1440,
            ..MaintainStats::default()
        };
        assert_eq!(
            dropped(&m),
            "retention: dropped 5 raw chunks, 1 maintenance periods and windows (some to stay within storage.max_size); sealed 1440 samples into 4 chunks"
        );
    }
}
