//! The remote-write queue (table of migration 0005): batches waiting to be sent to each
//! remote-write endpoint, oldest first. The consumer appends whole batches (`rw_append`, one
//! transaction that also enforces the endpoint's cap by dropping its oldest batches); the
//! sender reads the oldest batch (`rw_oldest`) and removes it once it is sent or refused for
//! good (`rw_remove`). Plain data in, plain data out: the HTTP side and the retry policy live in
//! `exporter::remote_write`.
//!
//! One row per batch (up to `batch_size` samples, e.g. 2,000), not per sample: a flush is one
//! small insert, a delivery one delete, and the body is stored as it will be sent (protobuf,
//! snappy-compressed, a few bytes per sample), where a row per sample would cost an index
//! entry and a row header (tens of bytes) per sample on every write and every delete.

use sqlx::Connection;
use sqlx::Row;

use super::{Store, StoreError};
use crate::clock::UnixMillis;

/// A batch to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBatch {
    pub first_ms: UnixMillis,
    pub last_ms: UnixMillis,
    pub samples: u64,
    /// The request body, as it will be sent.
    pub body: Vec<u8>,
}

/// A queued batch.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedBatch {
    pub id: i64,
    pub created_ms: UnixMillis,
    pub first_ms: UnixMillis,
    pub last_ms: UnixMillis,
    pub samples: u64,
    pub body: Vec<u8>,
}

/// An endpoint's queue after an append.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueState {
    /// Samples queued now.
    pub queued: u64,
    /// Samples of the oldest batches dropped by this append to respect the cap.
    pub dropped: u64,
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl Store {
    /// Queues `batches` for `endpoint`, in order, then drops the endpoint's oldest batches
    /// while it holds more than `max_samples` (the newest batch always stays). One
    /// transaction.
    pub async fn rw_append(
        &self,
        endpoint: &str,
        batches: &[NewBatch],
        max_samples: u64,
    ) -> Result<QueueState, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let db = |e| inner.db(e);
        let now = inner.clock.now_ms();
        let mut conn = inner.pool.acquire().await.map_err(db)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        for batch in batches {
            sqlx::query(
                "INSERT INTO remote_write_queue (endpoint, created_ms, first_ms, last_ms, samples, body)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(endpoint)
            .bind(now)
            .bind(batch.first_ms)
            .bind(batch.last_ms)
            .bind(i64::try_from(batch.samples).unwrap_or(i64::MAX))
            .bind(&batch.body)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        // Batches, newest first, with the samples of every batch newer than each: the oldest
        // rows past the cap are those whose running total exceeds it.
        let rows = sqlx::query(
            "SELECT id, samples, sum(samples) OVER (ORDER BY id DESC) AS upto
             FROM remote_write_queue WHERE endpoint = ? ORDER BY id DESC",
        )
        .bind(endpoint)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut state = QueueState::default();
        let mut drop_below: Option<i64> = None;
        for (index, row) in rows.iter().enumerate() {
            let id: i64 = row.try_get("id").map_err(db)?;
            let samples = count(row.try_get("samples").map_err(db)?);
            let upto = count(row.try_get("upto").map_err(db)?);
            if index > 0 && upto > max_samples {
                drop_below.get_or_insert(id);
                state.dropped += samples;
            } else {
                state.queued += samples;
            }
        }
        if let Some(id) = drop_below {
            sqlx::query("DELETE FROM remote_write_queue WHERE endpoint = ? AND id <= ?")
                .bind(endpoint)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(state)
    }

    /// The oldest batch queued for `endpoint`.
    pub async fn rw_oldest(&self, endpoint: &str) -> Result<Option<QueuedBatch>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let db = |e| inner.db(e);
        let row = sqlx::query(
            "SELECT id, created_ms, first_ms, last_ms, samples, body FROM remote_write_queue
             WHERE endpoint = ? ORDER BY id LIMIT 1",
        )
        .bind(endpoint)
        .fetch_optional(&inner.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(QueuedBatch {
            id: row.try_get("id").map_err(db)?,
            created_ms: row.try_get("created_ms").map_err(db)?,
            first_ms: row.try_get("first_ms").map_err(db)?,
            last_ms: row.try_get("last_ms").map_err(db)?,
            samples: count(row.try_get("samples").map_err(db)?),
            body: row.try_get("body").map_err(db)?,
        }))
    }

    /// Removes one batch (sent, or refused for good); false if it was gone already (dropped
    /// by the cap meanwhile).
    pub async fn rw_remove(&self, id: i64) -> Result<bool, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let done = sqlx::query("DELETE FROM remote_write_queue WHERE id = ?")
            .bind(id)
            .execute(&inner.pool)
            .await
            .map_err(|e| inner.db(e))?;
        Ok(done.rows_affected() > 0)
    }

    /// Samples queued for `endpoint`.
    pub async fn rw_queued(&self, endpoint: &str) -> Result<u64, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let total: Option<i64> =
            sqlx::query_scalar("SELECT sum(samples) FROM remote_write_queue WHERE endpoint = ?")
                .bind(endpoint)
                .fetch_one(&inner.pool)
                .await
                .map_err(|e| inner.db(e))?;
        Ok(total.map_or(0, count))
    }

    /// Deletes the queues of endpoints not in `keep` (removed from the config); returns the
    /// samples dropped per endpoint.
    pub async fn rw_forget_others(
        &self,
        keep: &[String],
    ) -> Result<Vec<(String, u64)>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let db = |e| inner.db(e);
        let keep = super::rows::to_json(keep, inner)?;
        let mut conn = inner.pool.acquire().await.map_err(db)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let rows = sqlx::query(
            "SELECT endpoint, sum(samples) AS samples FROM remote_write_queue
             WHERE endpoint NOT IN (SELECT value FROM json_each(?1))
             GROUP BY endpoint ORDER BY endpoint",
        )
        .bind(&keep)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut gone = Vec::with_capacity(rows.len());
        for row in &rows {
            gone.push((
                row.try_get::<String, _>("endpoint").map_err(db)?,
                count(row.try_get("samples").map_err(db)?),
            ));
        }
        if !gone.is_empty() {
            sqlx::query(
                "DELETE FROM remote_write_queue WHERE endpoint NOT IN (SELECT value FROM json_each(?1))",
            )
            .bind(&keep)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::StoreOptions;

    fn batch(samples: u64, at_ms: i64) -> NewBatch {
        NewBatch {
            first_ms: at_ms,
            last_ms: at_ms + 1,
            samples,
            body: vec![samples as u8; 3],
        }
    }

    #[tokio::test]
    async fn batches_are_queued_per_endpoint_read_in_order_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(5_000);
        let store = Store::open(dir.path(), StoreOptions::default(), clock.clone())
            .await
            .unwrap();
        let state = store
            .rw_append("a", &[batch(10, 1), batch(20, 2)], 1_000)
            .await
            .unwrap();
        assert_eq!(
            state,
            QueueState {
                queued: 30,
                dropped: 0
            }
        );
        store.rw_append("b", &[batch(5, 3)], 1_000).await.unwrap();
        assert_eq!(store.rw_queued("a").await.unwrap(), 30);
        assert_eq!(store.rw_queued("b").await.unwrap(), 5);
        assert_eq!(store.rw_queued("c").await.unwrap(), 0);

        let oldest = store.rw_oldest("a").await.unwrap().unwrap();
        assert_eq!(
            (
                oldest.samples,
                oldest.first_ms,
                oldest.last_ms,
                oldest.created_ms
            ),
            (10, 1, 2, 5_000)
        );
        assert_eq!(oldest.body, vec![10u8; 3]);
        assert!(store.rw_remove(oldest.id).await.unwrap());
        assert!(!store.rw_remove(oldest.id).await.unwrap());
        assert_eq!(store.rw_oldest("a").await.unwrap().unwrap().samples, 20);
        assert_eq!(store.rw_queued("a").await.unwrap(), 20);
        store.close().await.unwrap();

        // The queue survives a restart.
        let store = Store::open(dir.path(), StoreOptions::default(), clock)
            .await
            .unwrap();
        assert_eq!(store.rw_queued("a").await.unwrap(), 20);
        let gone = store.rw_forget_others(&["a".to_string()]).await.unwrap();
        assert_eq!(gone, vec![("b".to_string(), 5)]);
        assert_eq!(store.rw_queued("b").await.unwrap(), 0);
        assert_eq!(store.rw_queued("a").await.unwrap(), 20);
        assert!(
            store
                .rw_forget_others(&["a".to_string()])
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn the_cap_drops_the_oldest_batches_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default(), ManualClock::new(0))
            .await
            .unwrap();
        store
            .rw_append("a", &[batch(40, 1), batch(40, 2)], 100)
            .await
            .unwrap();
        store
            .rw_append("other", &[batch(90, 1)], 100)
            .await
            .unwrap();
        // 40 + 40 + 30 = 110 > 100: the oldest 40 go.
        let state = store.rw_append("a", &[batch(30, 3)], 100).await.unwrap();
        assert_eq!(
            state,
            QueueState {
                queued: 70,
                dropped: 40
            }
        );
        assert_eq!(store.rw_oldest("a").await.unwrap().unwrap().first_ms, 2);
        // A batch larger than the cap alone still stays (the newest is never dropped).
        let state = store.rw_append("a", &[batch(150, 4)], 100).await.unwrap();
        assert_eq!(
            state,
            QueueState {
                queued: 150,
                dropped: 70
            }
        );
        // Other endpoints are untouched.
        assert_eq!(store.rw_queued("other").await.unwrap(), 90);
    }
}
