//! The hosts a hub receives from (table `received_hosts`, migration 0009): saved by the web
//! side, read at start, so a restart of the hub keeps them.

use sqlx::Connection;

use super::{Store, StoreError};
use crate::clock::UnixMillis;

/// One host as saved: when it was last heard, how often it sends, who sends for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHost {
    pub name: String,
    pub last_seen_ms: UnixMillis,
    pub interval_ms: Option<i64>,
    pub kind: String,
    pub version: Option<String>,
    pub protocol: String,
}

/// name, last_seen_ms, interval_ms, kind, version, protocol.
type HostRow = (String, i64, Option<i64>, String, Option<String>, String);

impl Store {
    /// Saves `hosts` (replacing what was saved of them), in one transaction.
    pub async fn save_hosts(&self, hosts: &[StoredHost]) -> Result<(), StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let db = |e| inner.db(e);
        let mut conn = inner.pool.acquire().await.map_err(db)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        for host in hosts {
            sqlx::query(
                "INSERT INTO received_hosts (name, last_seen_ms, interval_ms, kind, version, protocol)
                 VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (name) DO UPDATE SET last_seen_ms = max(last_seen_ms, excluded.last_seen_ms),
                   interval_ms = excluded.interval_ms, kind = excluded.kind,
                   version = excluded.version, protocol = excluded.protocol",
            )
            .bind(&host.name)
            .bind(host.last_seen_ms)
            .bind(host.interval_ms)
            .bind(&host.kind)
            .bind(&host.version)
            .bind(&host.protocol)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// The hosts heard since `since_ms`, at most `limit`, the most recent first; older ones are
    /// forgotten (deleted).
    pub async fn load_hosts(
        &self,
        since_ms: UnixMillis,
        limit: usize,
    ) -> Result<Vec<StoredHost>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let db = |e| inner.db(e);
        sqlx::query("DELETE FROM received_hosts WHERE last_seen_ms < ?")
            .bind(since_ms)
            .execute(&inner.pool)
            .await
            .map_err(db)?;
        let rows: Vec<HostRow> = sqlx::query_as(
            "SELECT name, last_seen_ms, interval_ms, kind, version, protocol
                 FROM received_hosts ORDER BY last_seen_ms DESC, name LIMIT ?",
        )
        .bind(limit as i64)
        .fetch_all(&inner.pool)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(
                |(name, last_seen_ms, interval_ms, kind, version, protocol)| StoredHost {
                    name,
                    last_seen_ms,
                    interval_ms,
                    kind,
                    version,
                    protocol,
                },
            )
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{ManualClock, open};
    use super::*;

    fn host(name: &str, last_seen_ms: i64) -> StoredHost {
        StoredHost {
            name: name.into(),
            last_seen_ms,
            interval_ms: Some(5_000),
            kind: "lookout".into(),
            version: Some("0.1.0".into()),
            protocol: "remote_write".into(),
        }
    }

    #[tokio::test]
    async fn hosts_saved_are_read_back_and_the_long_silent_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), &ManualClock::new(1_000_000)).await;
        store
            .save_hosts(&[host("web-1", 900_000), host("old", 10_000)])
            .await
            .unwrap();
        // A later save never moves a host back in time.
        store.save_hosts(&[host("web-1", 800_000)]).await.unwrap();
        let got = store.load_hosts(500_000, 10).await.unwrap();
        assert_eq!(got, [host("web-1", 900_000)]);
        assert!(
            store.load_hosts(0, 10).await.unwrap().len() == 1,
            "old is gone"
        );
    }
}
