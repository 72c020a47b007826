-- Lookout store, schema version 10: head rows cut by series shard (issue 19).
-- A series' shard is the low byte of its id (0..=255). New series get an id whose low byte is a
-- hash of their name and `host` label, so one host's series of one name share a shard. A flush
-- writes one head row per run of shards (about 32 KB each), so a query of a few series reads the
-- head rows of their shards only, and sealing goes shard group by shard group, each in its own
-- short transaction. Rows written before this version cover every shard (0..=255).
-- Embedded in the binary (src/store/open.rs); never edited once released.
ALTER TABLE raw_heads ADD COLUMN shard_lo INTEGER NOT NULL DEFAULT 0;
ALTER TABLE raw_heads ADD COLUMN shard_hi INTEGER NOT NULL DEFAULT 255;
DROP INDEX raw_heads_by_window;
CREATE INDEX raw_heads_by_shard ON raw_heads (window_ms, shard_lo, shard_hi, first_ms, last_ms);
