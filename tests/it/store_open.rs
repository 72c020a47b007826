//! Opening the store on bad input: each case is a specific error whose message says what,
//! where and how to fix it, and the file found is left exactly as it was.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lookout::clock::{ManualClock, SharedClock};
use lookout::model::{Observation, Sample, SeriesKey};
use lookout::store::{APPLICATION_ID, Store, StoreError, StoreOptions};
use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

fn clock() -> SharedClock {
    ManualClock::new(1_700_000_000_000)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

async fn open(dir: &Path) -> Result<Store, StoreError> {
    Store::open(dir, StoreOptions::default(), clock()).await
}

fn obs(at_ms: i64, v: f64) -> Observation {
    Observation {
        source: "t".into(),
        at_ms,
        samples: vec![Sample {
            series: Arc::new(SeriesKey::new("x")),
            value: v,
        }],
        checks: vec![],
    }
}

#[tokio::test]
async fn creates_the_data_dir_0700_and_the_files_0600() {
    let _machine = crate::common::machine::shared();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/b/data");
    let store = open(&dir).await.unwrap();
    store.ingest(&obs(1_700_000_000_000, 1.0));
    store.flush().await.unwrap();
    let db = dir.join("lookout.db");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&sibling(&db, "-wal")), 0o600);
    assert_eq!(mode(&sibling(&db, "-shm")), 0o600);
    store.close().await.unwrap();

    let header = std::fs::read(&db).unwrap();
    assert_eq!(&header[..16], b"SQLite format 3\0");
    assert_eq!(
        i32::from_be_bytes(header[68..72].try_into().unwrap()),
        APPLICATION_ID
    );
    let mut conn = SqliteConnectOptions::new()
        .filename(&db)
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let auto_vacuum: i64 = sqlx::query_scalar("PRAGMA auto_vacuum")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(auto_vacuum, 2, "incremental auto-vacuum is set at creation");
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(journal, "wal");
}

#[tokio::test]
async fn an_existing_store_is_reopened_and_a_loose_mode_tightened() {
    let _machine = crate::common::machine::shared();
    let tmp = tempfile::tempdir().unwrap();
    open(tmp.path()).await.unwrap().close().await.unwrap();
    let db = tmp.path().join("lookout.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    open(tmp.path()).await.unwrap().close().await.unwrap();
    assert_eq!(mode(&db), 0o600);
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_refused_and_left_untouched() {
    let _machine = crate::common::machine::shared();
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("lookout.db");
    let content = b"these are somebody's notes, not a database\n".repeat(100);
    std::fs::write(&db, &content).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();

    let err = open(tmp.path()).await.unwrap_err();
    assert!(matches!(err, StoreError::NotSqlite { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not an SQLite database, so it is not Lookout's store; Lookout left it untouched: move it away or pick another --data-dir",
            db.display()
        )
    );
    assert_eq!(std::fs::read(&db).unwrap(), content);
    assert_eq!(mode(&db), 0o644);
    assert!(!sibling(&db, "-wal").exists() && !sibling(&db, "-shm").exists());
}

#[tokio::test]
async fn a_short_file_is_not_sqlite_either() {
    let _machine = crate::common::machine::shared();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("lookout.db"), b"SQLite format 3\0").unwrap();
    let err = open(tmp.path()).await.unwrap_err();
    assert!(matches!(err, StoreError::NotSqlite { .. }), "{err:?}");
}

async fn foreign_db(path: &Path, application_id: i32) {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::query("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("INSERT INTO invoices (total) VALUES (12.5), (99.0)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "PRAGMA application_id = {application_id}"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
}

#[tokio::test]
async fn a_foreign_sqlite_database_is_refused_and_left_untouched() {
    let _machine = crate::common::machine::shared();
    for application_id in [0, 0x1234_5678] {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("lookout.db");
        foreign_db(&db, application_id).await;
        let before = std::fs::read(&db).unwrap();
        let mtime = std::fs::metadata(&db).unwrap().modified().unwrap();

        let err = open(tmp.path()).await.unwrap_err();
        match &err {
            StoreError::Foreign {
                application_id: found,
                ..
            } => assert_eq!(*found, application_id),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            err.to_string(),
            format!(
                "{} is an SQLite database that belongs to another program (application_id {application_id:#010x}, Lookout's is 0x4c4f4f4b); Lookout left it untouched: move it away or pick another --data-dir",
                db.display()
            )
        );
        assert_eq!(std::fs::read(&db).unwrap(), before, "id {application_id}");
        assert_eq!(std::fs::metadata(&db).unwrap().modified().unwrap(), mtime);
        assert!(!sibling(&db, "-wal").exists());
    }
}

#[tokio::test]
async fn a_corrupt_store_is_refused_and_left_untouched() {
    let _machine = crate::common::machine::shared();
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await.unwrap();
    store.ingest(&obs(1_700_000_000_000, 1.0));
    store.close().await.unwrap();
    let db = tmp.path().join("lookout.db");
    let mut bytes = std::fs::read(&db).unwrap();
    // Keep the 100-byte file header (it still says "Lookout"), wreck the schema page.
    for (i, b) in bytes[100..4096].iter_mut().enumerate() {
        *b = (i * 7 + 13) as u8;
    }
    std::fs::write(&db, &bytes).unwrap();

    let err = open(tmp.path()).await.unwrap_err();
    let StoreError::Corrupt { detail, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(
        err.to_string(),
        format!(
            "{path} is Lookout's store but it is corrupt ({detail}); Lookout will not write to it: move it away or pick another --data-dir (keep the file to recover what it holds, e.g. with `sqlite3 {path} .recover`)",
            path = db.display()
        )
    );
    assert!(detail.contains("malformed"), "{detail}");
    assert_eq!(std::fs::read(&db).unwrap(), bytes);
}

#[tokio::test]
async fn a_blank_sqlite_file_left_by_a_crash_during_creation_is_adopted() {
    let _machine = crate::common::machine::shared();
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("lookout.db");
    let mut conn = SqliteConnectOptions::new()
        .filename(&db)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .connect()
        .await
        .unwrap();
    sqlx::query("SELECT 1").execute(&mut conn).await.unwrap();
    drop(conn);
    let store = open(tmp.path()).await.unwrap();
    store.ingest(&obs(1_700_000_000_000, 1.0));
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_store_from_a_newer_lookout_is_refused() {
    let _machine = crate::common::machine::shared();
    let tmp = tempfile::tempdir().unwrap();
    open(tmp.path()).await.unwrap().close().await.unwrap();
    let db = tmp.path().join("lookout.db");
    let mut conn = SqliteConnectOptions::new()
        .filename(&db)
        .connect()
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99, 'future', TRUE, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let err = open(tmp.path()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} was written by a newer Lookout (store schema version 99, this binary knows up to 11); upgrade Lookout, or move it away or pick another --data-dir",
            db.display()
        )
    );
}

#[tokio::test]
async fn a_data_dir_that_is_a_file_is_refused() {
    let _machine = crate::common::machine::shared();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("data");
    std::fs::write(&file, b"x").unwrap();
    let err = open(&file).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot use {} as the data directory: it exists and is not a directory; create it, or pick another --data-dir",
            file.display()
        )
    );
}

/// Root may write anywhere, so as root the check runs again in a child process as `nobody`.
#[test]
fn an_unwritable_data_dir_is_refused() {
    let _machine = crate::common::machine::shared();
    const AS_CHILD: &str = "LOOKOUT_TEST_UNWRITABLE_DIR";
    if let Ok(ro) = std::env::var(AS_CHILD) {
        return unwritable_checks(Path::new(&ro));
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ro = tmp.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return unwritable_checks(&ro);
    }
    use std::os::unix::process::CommandExt;
    let test = crate::common::test_name(module_path!(), "an_unwritable_data_dir_is_refused");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &test, "--nocapture"])
        .env(AS_CHILD, &ro)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child as nobody failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}

fn unwritable_checks(ro: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let expected = format!(
        "{} is not writable by this user; fix its owner or permissions, or pick another --data-dir",
        ro.display()
    );
    // The directory itself, and a directory to create inside it.
    for dir in [ro.to_path_buf(), ro.join("data")] {
        let err = rt.block_on(open(&dir)).unwrap_err();
        assert!(matches!(err, StoreError::NotWritable { .. }), "{err:?}");
        assert_eq!(err.to_string(), expected);
    }
    assert_eq!(std::fs::read_dir(ro).unwrap().count(), 0);
}
