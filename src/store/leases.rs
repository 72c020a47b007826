//! Leases (table `leases`): one holder of a named job at a time (the outbox worker), until it
//! expires, is released, or its holder is gone.

use sqlx::Connection;

use super::{Store, StoreError};

impl Store {
    /// Takes or renews the lease `name` for `holder` until `now + ttl`. Returns `None` when
    /// `holder` has it now, or the other holder that has it. A lease past its expiry, or one
    /// `is_gone(holder)` says is dead, is taken over.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
        is_gone: impl Fn(&str) -> bool,
    ) -> Result<Option<String>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let db = |e| inner.db(e);
        let now = inner.clock.now_ms();
        let mut conn = inner.pool.acquire().await.map_err(db)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let current: Option<(String, i64)> =
            sqlx::query_as("SELECT holder, expires_ms FROM leases WHERE name = ?")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        if let Some((other, expires_ms)) = current
            && other != holder
            && expires_ms > now
            && !is_gone(&other)
        {
            return Ok(Some(other));
        }
        sqlx::query(
            "INSERT INTO leases (name, holder, expires_ms) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                 expires_ms = excluded.expires_ms",
        )
        .bind(name)
        .bind(holder)
        .bind(now.saturating_add(ttl_ms))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(None)
    }

    /// Gives the lease `name` up if `holder` has it.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        sqlx::query("DELETE FROM leases WHERE name = ? AND holder = ?")
            .bind(name)
            .bind(holder)
            .execute(&inner.pool)
            .await
            .map_err(|e| inner.db(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    #[tokio::test]
    async fn a_lease_has_one_holder_until_it_expires_is_released_or_its_holder_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let alive = |_: &str| false;
        assert_eq!(
            store
                .acquire_lease("alerting", "a", 30_000, alive)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .acquire_lease("alerting", "b", 30_000, alive)
                .await
                .unwrap(),
            Some("a".to_string())
        );
        assert_eq!(
            store
                .acquire_lease("alerting", "a", 30_000, alive)
                .await
                .unwrap(),
            None,
            "renewal"
        );
        assert_eq!(
            store
                .acquire_lease("alerting", "b", 30_000, |h| h == "a")
                .await
                .unwrap(),
            None,
            "a holder that is gone is taken over"
        );
        clock.advance(std::time::Duration::from_secs(31));
        assert_eq!(
            store
                .acquire_lease("alerting", "a", 30_000, alive)
                .await
                .unwrap(),
            None,
            "expired"
        );
        store.release_lease("alerting", "b").await.unwrap();
        assert_eq!(
            store
                .acquire_lease("alerting", "b", 30_000, alive)
                .await
                .unwrap(),
            Some("a".to_string()),
            "only the holder can release"
        );
        store.release_lease("alerting", "a").await.unwrap();
        assert_eq!(
            store
                .acquire_lease("alerting", "b", 30_000, alive)
                .await
                .unwrap(),
            None
        );
    }
}
