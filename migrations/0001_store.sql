-- Lookout store, schema version 1. Embedded in the binary (src/store/open.rs); a released
-- migration is never edited: changes go in a new numbered file.
-- Times are Unix milliseconds (UTC). The file's PRAGMA application_id is 0x4C4F4F4B ("LOOK").

-- Small facts about the store itself (free for later versions).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- One row per series: metric name plus labels.
CREATE TABLE series (
    id     INTEGER PRIMARY KEY,
    key    TEXT NOT NULL UNIQUE,   -- Prometheus selector text, e.g. cpu_ratio{mode="user"}
    name   TEXT NOT NULL,
    labels TEXT NOT NULL           -- JSON object, keys sorted
);
CREATE INDEX series_by_name ON series (name);

-- Raw samples, compressed, never one row per sample. Samples are grouped by aligned window
-- (1 h). Each flush() appends one "head" row per window it touches, holding every series'
-- new samples (plain encoding, one transaction, a few pages written). maintain() merges a
-- closed window's head rows into one pco-compressed sealed chunk per series.
CREATE TABLE raw_heads (
    id        INTEGER PRIMARY KEY,
    window_ms INTEGER NOT NULL,   -- start of the aligned window
    first_ms  INTEGER NOT NULL,   -- first sample, any series
    last_ms   INTEGER NOT NULL,   -- last sample, any series
    n         INTEGER NOT NULL,   -- samples, all series
    data      BLOB NOT NULL       -- per-series plain chunks behind a directory (src/store/codec.rs)
);
CREATE INDEX raw_heads_by_window ON raw_heads (window_ms);

CREATE TABLE raw_chunks (
    id        INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL REFERENCES series (id),
    window_ms INTEGER NOT NULL,   -- start of the aligned window
    first_ms  INTEGER NOT NULL,   -- first sample
    last_ms   INTEGER NOT NULL,   -- last sample
    n         INTEGER NOT NULL,   -- samples
    data      BLOB NOT NULL       -- pco columns: timestamps, values (src/store/codec.rs)
);
CREATE UNIQUE INDEX raw_chunks_by_series ON raw_chunks (series_id, window_ms);
CREATE INDEX raw_chunks_by_age ON raw_chunks (window_ms);

-- Rollup tiers: 1-minute (step_ms 60000) and 1-hour (step_ms 3600000) buckets computed from
-- raw data when a window is sealed; one row holds an aligned span of buckets of one series
-- (a day of minutes, a week of hours), pco-compressed per column.
CREATE TABLE rollups (
    id        INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL REFERENCES series (id),
    step_ms   INTEGER NOT NULL,   -- bucket width
    row_ms    INTEGER NOT NULL,   -- start of the aligned span this row covers
    first_ms  INTEGER NOT NULL,   -- first bucket start
    last_ms   INTEGER NOT NULL,   -- last bucket start
    n         INTEGER NOT NULL,   -- buckets
    samples   INTEGER NOT NULL,   -- raw samples summarised
    data      BLOB NOT NULL       -- columns: bucket start, count, min, max, sum, last
);
CREATE UNIQUE INDEX rollups_by_series ON rollups (series_id, step_ms, row_ms);
CREATE INDEX rollups_by_age ON rollups (step_ms, row_ms);

-- Health checks: one row per check with its latest result.
CREATE TABLE checks (
    id                  INTEGER PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    layer               TEXT NOT NULL,
    status              TEXT NOT NULL,   -- ok, maintenance, warning, unknown, critical
    value               REAL,
    detail              TEXT NOT NULL,
    at_ms               INTEGER NOT NULL,
    -- the last result written to check_history, to decide about the next one
    history_status      TEXT,
    history_at_ms       INTEGER
);

-- Check history: every status change, and one result per minute while the status holds.
CREATE TABLE check_history (
    check_id INTEGER NOT NULL REFERENCES checks (id),
    at_ms    INTEGER NOT NULL,
    status   TEXT NOT NULL,
    value    REAL,
    detail   TEXT NOT NULL,
    PRIMARY KEY (check_id, at_ms)
) WITHOUT ROWID;

-- The timeline: Lookout's own lifecycle and status changes of what it watches.
CREATE TABLE events (
    id      INTEGER PRIMARY KEY,
    at_ms   INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX events_by_time ON events (at_ms);
