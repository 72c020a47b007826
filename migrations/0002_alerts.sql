-- Lookout store, schema version 2: the alert engine's persistent state (issue "Alert manager").
-- Embedded in the binary (src/store/open.rs); never edited once released.
-- Times are Unix milliseconds (UTC). Rows are read and written by src/store/alerts.rs.

-- The live state of every alert that is pending or firing; inactive alerts have no row.
CREATE TABLE alerts (
    id               TEXT PRIMARY KEY,   -- alert::fingerprint(rule, labels)
    rule             TEXT NOT NULL,
    labels           TEXT NOT NULL,      -- JSON object
    state            TEXT NOT NULL,      -- pending, firing
    severity         TEXT NOT NULL,      -- info, warning, critical
    since_ms         INTEGER NOT NULL,
    last_notified_ms INTEGER,
    value            REAL,
    summary          TEXT NOT NULL,
    muted_by         TEXT NOT NULL,
    acknowledged_by  TEXT,               -- who acknowledged the firing alert (no repeats then)
    acknowledged_ms  INTEGER
) WITHOUT ROWID;

-- Every notice the engine decided, sent or muted. The columns are for filtering; the notice
-- itself is JSON (notify::AlertNotice).
CREATE TABLE alert_history (
    id       INTEGER PRIMARY KEY,
    at_ms    INTEGER NOT NULL,
    rule     TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    kind     TEXT NOT NULL,   -- firing, escalated, de_escalated, repeat, resolved, test
    severity TEXT NOT NULL,
    muted_by TEXT NOT NULL,   -- empty when sent
    notice   TEXT NOT NULL
);
CREATE INDEX alert_history_by_time ON alert_history (at_ms);
CREATE INDEX alert_history_by_alert ON alert_history (alert_id, at_ms);

-- Silences, expired ones included (kept for audit: expiring sets ends_ms, never deletes).
CREATE TABLE silences (
    seq        INTEGER PRIMARY KEY,   -- insertion order, for "newest first"
    id         TEXT NOT NULL UNIQUE,
    matchers   TEXT NOT NULL,         -- JSON array of matcher texts (alert::matcher syntax)
    starts_ms  INTEGER NOT NULL,
    ends_ms    INTEGER NOT NULL,
    author     TEXT NOT NULL,
    comment    TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);

-- The outbox: one row per notice per notifier, written in the same transaction as the alert
-- state that decided it, before anything is sent. The worker (src/notify/outbox.rs) claims due
-- rows (attempts + 1, next_attempt_ms pushed back by the backoff, batch_key recorded) before
-- sending, so a crash mid-send brings the rows back only after their backoff and under the
-- same batch key, which is the message's idempotency key.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    notifier        TEXT NOT NULL,
    group_key       TEXT NOT NULL,
    group_labels    TEXT NOT NULL,   -- JSON object
    due_ms          INTEGER NOT NULL,
    notice          TEXT NOT NULL,   -- JSON (notify::AlertNotice)
    state           TEXT NOT NULL DEFAULT 'pending',   -- pending, delivered, failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    last_attempt_ms INTEGER,
    batch_key       TEXT,            -- set by the first claim, kept by every retry
    last_error      TEXT,
    delivered_ms    INTEGER,
    finished_ms     INTEGER,         -- when delivered or failed: what pruning goes by
    created_ms      INTEGER NOT NULL
);
-- The worker's query (pending rows due by both times, oldest first) and its next wake-up.
-- Pending rows are few while delivered ones pile up until pruned, so the index holds only
-- the pending rows, in id order, with both times (no table lookup to filter them).
CREATE INDEX outbox_pending ON outbox (id, due_ms, next_attempt_ms) WHERE state = 'pending';
-- Pruning of finished rows.
CREATE INDEX outbox_finished ON outbox (finished_ms) WHERE state <> 'pending';

-- Who evaluates and sends alerts for this store: a running `lookout serve` holds the lease
-- (renewed while it runs), so `lookout alerts run` from cron does not send the same alerts
-- twice. `holder` is "pid@host"; a lease past `expires_ms`, or of a pid gone from this host,
-- may be taken over.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
