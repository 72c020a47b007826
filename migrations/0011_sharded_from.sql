-- Lookout store, schema version 11 (issue 19): where series ids with a shard begin.
-- Series from this id on have their shard in their id (version 10), so a query of one host's
-- series skips the other hosts' rows on `series_by_name` (which holds the id) by id alone, before
-- reading their labels. Series below it keep whatever low byte their id has, and are always read.
-- Embedded in the binary (src/store/open.rs); never edited once released.
INSERT OR REPLACE INTO meta (key, value)
    SELECT 'sharded_from_id', coalesce(max(id), 0) + 1 FROM series;
