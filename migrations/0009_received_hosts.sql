-- Lookout store, schema version 9: the hosts a hub receives from (issue 19), so that a restart
-- of the hub neither forgets them (`/api/v1/hosts`, `host=`) nor misses one that went silent
-- while it was down (`host_down`). Written by the web side every minute and at shutdown;
-- read at start for the hosts heard within `receive.series_idle`.
-- Embedded in the binary (src/store/open.rs); never edited once released.
CREATE TABLE received_hosts (
    name         TEXT PRIMARY KEY,
    last_seen_ms INTEGER NOT NULL,
    interval_ms  INTEGER,           -- the time between its requests, when known
    kind         TEXT NOT NULL,     -- sender kind: lookout, prometheus, otlp, ...
    version      TEXT,
    protocol     TEXT NOT NULL      -- remote_write or otlp
);
