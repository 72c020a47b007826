-- Lookout store, schema version 5: the remote-write queue (issue "External integration").
-- Embedded in the binary (src/store/open.rs); never edited once released.
-- Times are Unix milliseconds (UTC). Rows are read and written by src/store/remote_write.rs.

-- Batches waiting to be remote-written, one row per batch (up to batch_size samples) and
-- endpoint, oldest first by id. `body` is the request body as sent: a protobuf WriteRequest,
-- snappy-compressed, so a row written before a restart is sent after it unchanged. A row goes
-- once its endpoint answered 2xx, or refused it for good (4xx but 429), or when the
-- endpoint's queue is over its cap (oldest first).
CREATE TABLE remote_write_queue (
    id         INTEGER PRIMARY KEY,
    endpoint   TEXT NOT NULL,       -- the endpoint's name, or its URL with credentials masked
    created_ms INTEGER NOT NULL,
    first_ms   INTEGER NOT NULL,    -- oldest sample in the batch
    last_ms    INTEGER NOT NULL,    -- newest sample in the batch
    samples    INTEGER NOT NULL,
    body       BLOB NOT NULL
);
CREATE INDEX remote_write_queue_by_endpoint ON remote_write_queue (endpoint, id);
