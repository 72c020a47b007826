//! Silences in the store (table `silences`, migration 0002): added, listed (expired ones kept
//! for the audit trail until retention) and expired.

use super::rows::{column, decode_error, json_column, to_json};
use super::{Store, StoreError};
use crate::alert::matcher::Matcher;
use crate::alert::silence::Silence;
use crate::clock::UnixMillis;

/// Retention (`maintain`, with the cut-off of the longest tier): silences that ended before
/// it. Expired ones are kept until then for the audit trail.
pub(super) const PRUNE_SILENCES_SQL: &str = "DELETE FROM silences WHERE ends_ms < ?";

impl Store {
    /// Stores a new silence. Its id must be new: a silence is changed by expiring it and
    /// adding another, so the audit trail keeps what was in force when.
    pub async fn add_silence(&self, silence: &Silence) -> Result<(), StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let matchers: Vec<String> = silence.matchers.iter().map(ToString::to_string).collect();
        sqlx::query(
            "INSERT INTO silences (id, matchers, starts_ms, ends_ms, author, comment, created_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&silence.id)
        .bind(to_json(&matchers, inner)?)
        .bind(silence.starts_ms)
        .bind(silence.ends_ms)
        .bind(&silence.author)
        .bind(&silence.comment)
        .bind(inner.clock.now_ms())
        .execute(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
        Ok(())
    }

    /// Every silence, expired ones included, newest (last added) first.
    pub async fn silences(&self) -> Result<Vec<Silence>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let rows = sqlx::query(
            "SELECT id, matchers, starts_ms, ends_ms, author, comment FROM silences
             ORDER BY seq DESC",
        )
        .fetch_all(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
        rows.iter()
            .map(|row| {
                let id: String = column(row, "id", inner)?;
                let texts: Vec<String> = json_column(row, "matchers", inner)?;
                let matchers = texts
                    .iter()
                    .map(|t| {
                        Matcher::parse(t).map_err(|e| {
                            decode_error(inner, "matchers", format!("silence {id}: {e}"))
                        })
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Silence {
                    matchers,
                    starts_ms: column(row, "starts_ms", inner)?,
                    ends_ms: column(row, "ends_ms", inner)?,
                    author: column(row, "author", inner)?,
                    comment: column(row, "comment", inner)?,
                    id,
                })
            })
            .collect()
    }

    /// Ends silence `id` now if it is active or pending (a pending one also starts now, so it
    /// reads as expired rather than pending forever). False when there is no such silence or
    /// it has already expired. The row is kept.
    pub async fn expire_silence(&self, id: &str, now_ms: UnixMillis) -> Result<bool, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let done = sqlx::query(
            "UPDATE silences SET ends_ms = ?1, starts_ms = min(starts_ms, ?1)
             WHERE id = ?2 AND ends_ms > ?1",
        )
        .bind(now_ms)
        .bind(id)
        .execute(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[tokio::test]
    async fn silences_round_trip_and_expired_ones_stay_listed() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let silence = |id: &str, matchers: &[&str], starts_ms, ends_ms| Silence {
            id: id.into(),
            matchers: matchers
                .iter()
                .map(|m| Matcher::parse(m).unwrap())
                .collect(),
            starts_ms,
            ends_ms,
            author: "ops@example.org".into(),
            comment: "deploy \"v2\"".into(),
        };
        let active = silence(
            "s1",
            &[
                "host=~\"web[0-9]+|db\"",
                "severity!~\"info\"",
                "check!=\"x\"",
            ],
            T0 - 1_000,
            T0 + 3_600_000,
        );
        let pending = silence("s2", &["rule=\"cpu_high\""], T0 + 60_000, T0 + 120_000);
        let old = silence("s0", &["host=\"web9\""], T0 - 9_000, T0 - 5_000);
        for s in [&old, &active, &pending] {
            store.add_silence(s).await.unwrap();
        }
        let dup = store.add_silence(&active).await.unwrap_err();
        assert!(dup.to_string().contains("UNIQUE"), "{dup}");
        store.close().await.unwrap();

        let store = open(dir.path(), &clock).await;
        let listed = store.silences().await.unwrap();
        assert_eq!(listed, vec![pending.clone(), active.clone(), old.clone()]);
        let web3 = labels(&[("host", "web3"), ("severity", "critical")]);
        assert!(
            listed[1].mutes(&web3, T0),
            "the regex matcher survives the round trip"
        );

        let now = T0 + 10_000;
        assert!(store.expire_silence("s1", now).await.unwrap());
        assert!(
            !store.expire_silence("s1", now + 1).await.unwrap(),
            "already expired"
        );
        assert!(
            !store.expire_silence("s0", now).await.unwrap(),
            "expired long ago"
        );
        assert!(!store.expire_silence("nope", now).await.unwrap());
        assert!(
            store.expire_silence("s2", now).await.unwrap(),
            "a pending one"
        );

        let listed = store.silences().await.unwrap();
        assert_eq!(listed.len(), 3, "expired silences are kept");
        assert!(listed.iter().all(|s| s.state(now) == SilenceState::Expired));
        assert_eq!((listed[1].starts_ms, listed[1].ends_ms), (T0 - 1_000, now));
        assert_eq!((listed[0].starts_ms, listed[0].ends_ms), (now, now));
        assert_eq!(listed[2], old);
    }
}
