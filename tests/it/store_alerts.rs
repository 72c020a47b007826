//! The alert tables of schema version 2 on a store that existed before them: opening a
//! version-1 store upgrades it in place, keeps what it held, and the new tables work.

use std::path::Path;

use lookout::alert::Severity;
use lookout::alert::records::{AlertBatch, StoredAlert};
use lookout::clock::ManualClock;
use lookout::model::{Event, EventKind};
use lookout::store::{Store, StoreOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

const T0: i64 = 1_700_000_000_000;

async fn open(dir: &Path) -> Store {
    Store::open(dir, StoreOptions::default(), ManualClock::new(T0))
        .await
        .expect("open store")
}

/// Turns a fresh store back into what Lookout with schema version 1 left on disk.
async fn downgrade_to_v1(db: &Path) {
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await
        .unwrap();
    for sql in [
        "DROP TABLE alerts",
        "DROP TABLE alert_history",
        "DROP TABLE silences",
        "DROP TABLE outbox",
        "DROP TABLE leases",
        // The alert tables are migration 2's; 6 added a column to `alerts`, 7 changed the
        // mute reasons of `alerts` and `alert_history`.
        "DELETE FROM _sqlx_migrations WHERE version IN (2, 6, 7)",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_version_1_store_is_upgraded_and_keeps_its_data() {
    let _machine = crate::common::machine::shared();
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    let event = Event {
        at_ms: T0,
        kind: EventKind::Started,
        subject: "lookout".into(),
        message: "started before the upgrade".into(),
    };
    store.record_event(&event).await.unwrap();
    store.close().await.unwrap();
    downgrade_to_v1(&tmp.path().join("lookout.db")).await;

    let store = open(tmp.path()).await;
    assert_eq!(store.events(0, i64::MAX, 10).await.unwrap(), vec![event]);
    let alert = StoredAlert {
        id: "cpu_high/web1".into(),
        rule: "cpu_high".into(),
        labels: [("host".to_string(), "web1".to_string())].into(),
        state: "firing".into(),
        severity: Severity::Critical,
        since_ms: T0,
        last_notified_ms: Some(T0),
        value: Some(99.0),
        summary: "CPU 99% on web1".into(),
        muted_by: None,
        acknowledged_by: Some("ops".into()),
        acknowledged_ms: Some(T0 + 1),
        told: true,
        flapping: false,
    };
    store
        .commit_alerts(&AlertBatch {
            upserts: vec![alert.clone()],
            ..AlertBatch::default()
        })
        .await
        .unwrap();
    store.close().await.unwrap();
    assert_eq!(
        open(tmp.path()).await.load_alerts().await.unwrap(),
        vec![alert]
    );
}
