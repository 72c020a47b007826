-- Lookout store, schema version 8: check history rolled up by hour (issue 18), so that the
-- checks list over 30 days reads 24 rows a day per check instead of 1,440.
-- Per check and hour (start, Unix ms, aligned), how many history rows of each status rank
-- (`check_summaries` ranks ok < maintenance < warning < unknown < critical; a status it does
-- not know counts as critical).
-- Invariant: for every hour in [meta `check_rollup_from_ms`, meta `check_rollup_to_ms`), the
-- row of (check, hour) holds exactly the counts of that check's check_history rows in the hour
-- (no row: none). Both keys are absent until the first maintenance; maintenance rolls closed
-- hours up and fills older ones in the background, the flush keeps rolled-up hours exact when
-- a late result lands in one, retention trims both tables together (src/store/check_rollup.rs).
-- Embedded in the binary (src/store/open.rs); never edited once released.
CREATE TABLE check_rollup (
    check_id    INTEGER NOT NULL REFERENCES checks (id),
    hour_ms     INTEGER NOT NULL,
    ok          INTEGER NOT NULL,
    maintenance INTEGER NOT NULL,
    warning     INTEGER NOT NULL,
    unknown     INTEGER NOT NULL,
    critical    INTEGER NOT NULL,
    PRIMARY KEY (check_id, hour_ms)
) WITHOUT ROWID;
