//! Opening the store: the data directory (created 0700), the database file (0600), telling
//! Lookout's file from anything else before touching it, the connection pool (WAL, busy
//! timeout, incremental auto-vacuum) and the schema migrations embedded in the binary.
//!
//! A file is Lookout's when its SQLite `application_id` is [`APPLICATION_ID`]. The header is
//! read directly first; only a header with no application id (a foreign database, or a Lookout
//! file created just before a crash whose first commit is still in the WAL) is probed through a
//! read-only connection. A foreign, non-SQLite or corrupt file is never written to.

use std::borrow::Cow;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, SqlSafeStr};

use super::error::StoreError;

/// "LOOK": the SQLite `application_id` of Lookout's store.
pub const APPLICATION_ID: i32 = 0x4C4F_4F4B;
pub const DB_FILE: &str = "lookout.db";
/// How long a writer waits for another process's write lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
const POOL_SIZE: u32 = 4;

/// The schema, one file per version. A released migration is never edited (sqlx checks their
/// checksums): a change is a new file and a new entry here.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "store", include_str!("../../migrations/0001_store.sql")),
    (
        2,
        "alerts",
        include_str!("../../migrations/0002_alerts.sql"),
    ),
    (3, "users", include_str!("../../migrations/0003_users.sql")),
    (
        4,
        "maintenance",
        include_str!("../../migrations/0004_maintenance.sql"),
    ),
    (
        5,
        "remote_write",
        include_str!("../../migrations/0005_remote_write.sql"),
    ),
    (
        6,
        "alert_told",
        include_str!("../../migrations/0006_alert_told.sql"),
    ),
    (
        7,
        "mute_reason",
        include_str!("../../migrations/0007_mute_reason.sql"),
    ),
    (
        8,
        "check_rollup",
        include_str!("../../migrations/0008_check_rollup.sql"),
    ),
    (
        9,
        "received_hosts",
        include_str!("../../migrations/0009_received_hosts.sql"),
    ),
    (
        10,
        "head_shards",
        include_str!("../../migrations/0010_head_shards.sql"),
    ),
    (
        11,
        "sharded_from",
        include_str!("../../migrations/0011_sharded_from.sql"),
    ),
];

pub fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

fn latest_version() -> i64 {
    MIGRATIONS.iter().map(|m| m.0).max().unwrap_or(0)
}

/// Opens (creating if needed) the store in `dir`; returns the pool and the database path.
pub async fn open_pool(dir: &Path) -> Result<(SqlitePool, PathBuf), StoreError> {
    prepare_dir(dir)?;
    let path = dir.join(DB_FILE);
    let state = match inspect(&path)? {
        FileState::Missing if create_file(&path)? => FileState::Empty,
        // Another process created it meanwhile: check it like any existing file.
        FileState::Missing => inspect(&path)?,
        state => state,
    };
    if state == FileState::NoApplicationId {
        probe(&path).await?;
    }
    if !writable(&path) {
        return Err(StoreError::NotWritable { path });
    }
    let mut mode = std::fs::metadata(&path)
        .map_err(|source| StoreError::DataDir {
            path: path.clone(),
            source,
        })?
        .permissions();
    if mode.mode() & 0o777 != 0o600 {
        mode.set_mode(0o600);
        std::fs::set_permissions(&path, mode)
            .map_err(|_| StoreError::NotWritable { path: path.clone() })?;
    }

    // The pool's connections only set per-connection pragmas: the journal mode and the
    // auto-vacuum mode live in the file (set once by `setup`), and setting them again could
    // need the write lock, making a mere read wait for another process's write.
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(false)
        // WAL + NORMAL: a commit survives the process being killed (it is in the OS cache);
        // only a power cut can lose the last commits, never corrupt the file.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true)
        // Statement journals and sort files in memory: otherwise every multi-row INSERT in a
        // transaction creates (and deletes) a temporary file.
        .pragma("temp_store", "MEMORY");
    let mut setup_options = options.clone().journal_mode(SqliteJournalMode::Wal);
    if state != FileState::Ours {
        // Must precede the first table (and the switch to WAL) to take effect.
        setup_options = setup_options.auto_vacuum(SqliteAutoVacuum::Incremental);
    }

    // Two processes may create the store at the same moment; switching a new file to WAL takes
    // a lock that the busy timeout does not wait for, so retry that step briefly.
    let mut attempt = 0;
    loop {
        match setup(&setup_options, &path).await {
            Err(StoreError::Busy { .. }) if attempt < 50 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => break other?,
        }
    }

    let pool = pool_options()
        .connect_with(options)
        .await
        .map_err(|e| StoreError::db(&path, e))?;
    Ok((pool, path))
}

/// The pool, with the one guarantee every transaction of the store relies on: a connection
/// goes back to the pool only outside any transaction.
///
/// Why it is needed (sqlx 0.9): sqlx counts the transaction depth of a SQLite connection
/// itself. When a statement or the COMMIT fails with SQLITE_FULL or SQLITE_IOERR, SQLite may
/// already have rolled the transaction back on its own; the rollback that dropping the
/// `Transaction` queues then fails ("cannot rollback - no transaction is active"), and sqlx
/// keeps counting depth 1 for a connection that is in no transaction. Returned to the pool,
/// that connection refused every later `BEGIN IMMEDIATE` with "attempted to call begin_with
/// at non-zero transaction depth": one full disk wedged the store until a restart.
///
/// So on release the queued rollback is waited for (`ping` goes through the connection's
/// command queue after it), and a connection still in a transaction by sqlx's count is closed
/// rather than reused; closing also rolls back whatever SQLite itself may still hold (a
/// COMMIT or ROLLBACK that failed on SQLITE_BUSY or an I/O error leaves the count at 1 too,
/// so every case where SQLite may still be in a transaction is covered). The pool opens a
/// fresh connection when needed. This covers every transaction, whatever failed (BEGIN, a
/// statement, COMMIT) and wherever it was written.
pub(super) fn pool_options() -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(POOL_SIZE)
        .min_connections(0)
        .after_release(|conn, _meta| {
            Box::pin(async move {
                conn.ping().await?;
                if conn.is_in_transaction() {
                    // The failure itself was logged (and counted) where it happened.
                    tracing::debug!(
                        "store: a connection was left inside a failed transaction; closed it (a new one replaces it)"
                    );
                    return Ok(false);
                }
                Ok(true)
            })
        })
}

fn prepare_dir(dir: &Path) -> Result<(), StoreError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(StoreError::DataDir {
                path: dir.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotADirectory,
                    "it exists and is not a directory",
                ),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|source| {
                    if source.kind() == std::io::ErrorKind::PermissionDenied {
                        StoreError::NotWritable {
                            path: nearest_existing(dir),
                        }
                    } else {
                        StoreError::DataDir {
                            path: dir.to_path_buf(),
                            source,
                        }
                    }
                })?;
            // The mode given to mkdir is filtered by the umask; make sure of 0700.
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        Err(source) => {
            return Err(StoreError::DataDir {
                path: dir.to_path_buf(),
                source,
            });
        }
    }
    if !writable(dir) {
        return Err(StoreError::NotWritable {
            path: dir.to_path_buf(),
        });
    }
    Ok(())
}

fn nearest_existing(dir: &Path) -> PathBuf {
    dir.ancestors()
        .find(|p| p.exists())
        .unwrap_or(dir)
        .to_path_buf()
}

/// Whether this process (its effective user) may write `path` (and enter it, for a directory).
fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mode = if path.is_dir() {
        libc::W_OK | libc::X_OK
    } else {
        libc::W_OK | libc::R_OK
    };
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), mode, libc::AT_EACCESS) == 0 }
}

#[derive(Debug, PartialEq, Eq)]
enum FileState {
    Missing,
    Empty,
    Ours,
    /// An SQLite file whose header has no application id: foreign, or ours mid-creation.
    NoApplicationId,
}

fn inspect(path: &Path) -> Result<FileState, StoreError> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileState::Missing),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(StoreError::NotWritable {
                path: path.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(StoreError::DataDir {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(StoreError::NotSqlite {
            path: path.to_path_buf(),
        });
    }
    let mut header = Vec::with_capacity(100);
    file.by_ref()
        .take(100)
        .read_to_end(&mut header)
        .map_err(|source| StoreError::DataDir {
            path: path.to_path_buf(),
            source,
        })?;
    classify_header(&header)
        .ok_or_else(|| StoreError::NotSqlite {
            path: path.to_path_buf(),
        })?
        .map_err(|application_id| StoreError::Foreign {
            path: path.to_path_buf(),
            application_id,
        })
}

/// `None`: not SQLite. `Some(Err(id))`: SQLite of another application.
fn classify_header(header: &[u8]) -> Option<Result<FileState, i32>> {
    if header.is_empty() {
        return Some(Ok(FileState::Empty));
    }
    if header.len() < 100 || &header[..16] != SQLITE_MAGIC {
        return None;
    }
    let id = i32::from_be_bytes(header[68..72].try_into().expect("4 bytes"));
    Some(match id {
        APPLICATION_ID => Ok(FileState::Ours),
        0 => Ok(FileState::NoApplicationId),
        other => Err(other),
    })
}

/// Creates an empty file, 0600; false when it exists already.
fn create_file(path: &Path) -> Result<bool, StoreError> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Err(StoreError::NotWritable {
                path: path.parent().unwrap_or(path).to_path_buf(),
            })
        }
        Err(source) => Err(StoreError::DataDir {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Reads the application id and the table count through a read-only connection (which sees
/// the WAL) without changing the file.
async fn probe(path: &Path) -> Result<(), StoreError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false)
        .busy_timeout(BUSY_TIMEOUT);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| StoreError::db(path, e))?;
    let found = identify(&mut conn, path).await;
    let _ = conn.close().await;
    match found? {
        Identity::Ours | Identity::Blank => Ok(()),
        Identity::Foreign(application_id) => Err(StoreError::Foreign {
            path: path.to_path_buf(),
            application_id,
        }),
    }
}

enum Identity {
    Ours,
    /// No application id and no tables: a file being created (by us, just before a crash).
    Blank,
    Foreign(i32),
}

async fn identify(conn: &mut sqlx::SqliteConnection, path: &Path) -> Result<Identity, StoreError> {
    let id: i32 = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| StoreError::db(path, e))?;
    if id == APPLICATION_ID {
        return Ok(Identity::Ours);
    }
    if id != 0 {
        return Ok(Identity::Foreign(id));
    }
    let objects: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| StoreError::db(path, e))?;
    Ok(if objects == 0 {
        Identity::Blank
    } else {
        Identity::Foreign(0)
    })
}

/// Claims a blank file and brings the schema up to date, in one write transaction.
async fn setup(options: &SqliteConnectOptions, path: &Path) -> Result<(), StoreError> {
    let db = |e| StoreError::db(path, e);
    let mut conn = sqlx::SqliteConnection::connect_with(options)
        .await
        .map_err(db)?;
    let result = async {
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        match identify(&mut tx, path).await? {
            Identity::Ours => {}
            Identity::Blank => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "PRAGMA application_id = {APPLICATION_ID}"
                )))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
            Identity::Foreign(application_id) => {
                return Err(StoreError::Foreign {
                    path: path.to_path_buf(),
                    application_id,
                });
            }
        }
        let has_migrations: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        if has_migrations > 0 {
            let found: Option<i64> =
                sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db)?;
            if let Some(found) = found.filter(|&v| v > latest_version()) {
                return Err(StoreError::TooNew {
                    path: path.to_path_buf(),
                    found,
                    known: latest_version(),
                });
            }
        }
        // `run_direct`, not `run`: the future of `run` is not `Send` (an sqlx `Acquire` quirk).
        let migrator = migrator();
        migrator
            .run_direct(None, &mut *tx, false)
            .await
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(e) => db(e),
                other => StoreError::Corrupt {
                    path: path.to_path_buf(),
                    detail: format!("schema migrations: {other}"),
                },
            })?;
        tx.commit().await.map_err(db)
    }
    .await;
    let _ = conn.close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(magic: &[u8], app_id: i32) -> Vec<u8> {
        let mut h = vec![0u8; 100];
        h[..magic.len()].copy_from_slice(magic);
        h[68..72].copy_from_slice(&app_id.to_be_bytes());
        h
    }

    #[test]
    fn headers_are_classified_without_opening_sqlite() {
        assert_eq!(classify_header(&[]), Some(Ok(FileState::Empty)));
        assert_eq!(classify_header(b"hello"), None);
        assert_eq!(classify_header(&header(b"PK\x03\x04", 0)), None);
        assert_eq!(
            classify_header(&header(SQLITE_MAGIC, APPLICATION_ID)),
            Some(Ok(FileState::Ours))
        );
        assert_eq!(
            classify_header(&header(SQLITE_MAGIC, 0)),
            Some(Ok(FileState::NoApplicationId))
        );
        assert_eq!(classify_header(&header(SQLITE_MAGIC, 42)), Some(Err(42)));
        assert_eq!(classify_header(&header(SQLITE_MAGIC, 0)[..99]), None);
    }

    /// Regression (issue 15, a full disk wedged the store for good): a write that fails
    /// with SQLITE_FULL makes SQLite roll the transaction back by itself. A plain sqlx pool
    /// then keeps a connection that sqlx believes is still in a transaction, and every later
    /// `BEGIN IMMEDIATE` on it fails; the store's pool closes such a connection instead.
    /// `max_page_count` makes the database "full" without filling a disk.
    #[tokio::test]
    async fn a_transaction_that_failed_on_a_full_database_does_not_wedge_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let (setup_pool, path) = open_pool(dir.path()).await.unwrap();
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&setup_pool)
            .await
            .unwrap();
        setup_pool.close().await;
        let full = SqliteConnectOptions::new()
            .filename(&path)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("max_page_count", (pages + 2).to_string());

        async fn fill_then_begin(pool: &SqlitePool) -> Result<(), sqlx::Error> {
            {
                let mut conn = pool.acquire().await?;
                let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
                let written = sqlx::query(
                    "INSERT INTO raw_heads (window_ms, first_ms, last_ms, n, data)
                     VALUES (0, 0, 0, 0, zeroblob(1000000))",
                )
                .execute(&mut *tx)
                .await;
                let error = written.expect_err("the database is full");
                assert_eq!(
                    super::super::error::sqlite_code(&error),
                    Some(13),
                    "{error}"
                );
                // `tx` and `conn` are dropped here, as every `?` in the store drops them.
            }
            // Give the pool's release (spawned on drop) time to run.
            for _ in 0..50 {
                if pool.num_idle() > 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            let mut conn = pool.acquire().await?;
            let tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            tx.rollback().await
        }

        // The defect, as sqlx 0.9 has it: one connection, wedged after the failure.
        let plain = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(full.clone())
            .await
            .unwrap();
        let wedged = fill_then_begin(&plain).await.unwrap_err();
        assert!(
            wedged.to_string().contains("non-zero transaction depth"),
            "{wedged}"
        );
        plain.close().await;

        // The store's pool: the next transaction works.
        let pool = pool_options()
            .max_connections(1)
            .connect_with(full)
            .await
            .unwrap();
        fill_then_begin(&pool).await.unwrap();
        pool.close().await;
    }

    #[test]
    fn migrations_are_numbered_in_order() {
        let versions: Vec<i64> = MIGRATIONS.iter().map(|m| m.0).collect();
        let mut sorted = versions.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(versions, sorted);
        assert_eq!(latest_version(), *versions.last().unwrap());
    }
}
