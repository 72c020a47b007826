-- Lookout store, schema version 4: maintenance (issue "Maintenance mode").
-- Embedded in the binary (src/store/open.rs); never edited once released.
-- Times are Unix milliseconds (UTC). Rows are read and written by src/store/maintenance.rs.

-- Every maintenance period Lookout saw, the open one (end_ms NULL) included.
CREATE TABLE maintenance_periods (
    id             INTEGER PRIMARY KEY,
    start_ms       INTEGER NOT NULL,
    end_ms         INTEGER,            -- NULL while open
    planned_end_ms INTEGER,            -- a window's end, or the app's estimated completion
    mode           TEXT NOT NULL,      -- normal, emergency, test
    reason         TEXT NOT NULL,
    origin         TEXT NOT NULL,      -- detected, planned, cli, dashboard
    planned        INTEGER NOT NULL,   -- 1: a planned window covered it
    impact         TEXT NOT NULL,      -- JSON (maintenance::Impact)
    muted          TEXT NOT NULL       -- JSON array of the muted alerts' summaries
);
-- Range queries (reports, history) go by start; the open period by the partial index.
CREATE INDEX maintenance_periods_by_start ON maintenance_periods (start_ms);
CREATE INDEX maintenance_periods_open ON maintenance_periods (id) WHERE end_ms IS NULL;

-- Windows opened by hand (`lookout maintenance start`, the dashboard), stopped ones kept.
CREATE TABLE maintenance_windows (
    id         INTEGER PRIMARY KEY,
    start_ms   INTEGER NOT NULL,
    end_ms     INTEGER NOT NULL,   -- the planned end, moved by `extend`
    mode       TEXT NOT NULL,
    reason     TEXT NOT NULL,
    origin     TEXT NOT NULL,      -- cli, dashboard
    author     TEXT NOT NULL,
    stopped_ms INTEGER,            -- set by `stop`: ended early
    created_ms INTEGER NOT NULL
);
CREATE INDEX maintenance_windows_by_end ON maintenance_windows (end_ms);
