//! The store's upkeep on the wire: what `lookout store compact --json` reports of the
//! maintenance pass it ran (`store::MaintainStats`, which is the store's own figure and is
//! not serialised itself).

use serde::Serialize;

use crate::store::MaintainStats;

/// One maintenance pass: what was sealed, expired and capped, and the size before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaintainStatsView {
    pub sealed_windows: usize,
    pub sealed_samples: usize,
    pub expired_raw_chunks: u64,
    pub expired_rollups: u64,
    pub expired_check_results: u64,
    pub expired_events: u64,
    pub expired_outbox_rows: u64,
    pub expired_maintenance: u64,
    pub expired_silences: u64,
    pub capped_raw_chunks: u64,
    pub capped_rollups: u64,
    pub capped_records: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

impl From<&MaintainStats> for MaintainStatsView {
    fn from(m: &MaintainStats) -> Self {
        MaintainStatsView {
            sealed_windows: m.sealed_windows,
            sealed_samples: m.sealed_samples,
            expired_raw_chunks: m.expired_raw_chunks,
            expired_rollups: m.expired_rollups,
            expired_check_results: m.expired_check_results,
            expired_events: m.expired_events,
            expired_outbox_rows: m.expired_outbox_rows,
            expired_maintenance: m.expired_maintenance,
            expired_silences: m.expired_silences,
            capped_raw_chunks: m.capped_raw_chunks,
            capped_rollups: m.capped_rollups,
            capped_records: m.capped_records,
            bytes_before: m.bytes_before,
            bytes_after: m.bytes_after,
        }
    }
}
