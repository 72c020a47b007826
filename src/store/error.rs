//! What can go wrong with the store, each case saying what, where and how to fix it.

use std::path::{Path, PathBuf};

/// The fix offered when the data directory or the file in it cannot be used.
const MOVE_OR_PICK: &str = "move it away or pick another --data-dir";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory cannot be created or is not a directory.
    #[error("cannot use {path} as the data directory: {source}; create it, or pick another --data-dir", path = .path.display())]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The data directory or the database file exists but this user may not write to it.
    #[error("{path} is not writable by this user; fix its owner or permissions, or pick another --data-dir", path = .path.display())]
    NotWritable { path: PathBuf },

    /// Something that is not an SQLite database sits where `lookout.db` should be.
    #[error("{path} is not an SQLite database, so it is not Lookout's store; Lookout left it untouched: {MOVE_OR_PICK}", path = .path.display())]
    NotSqlite { path: PathBuf },

    /// An SQLite database that some other program made (its `application_id` is not Lookout's).
    #[error("{path} is an SQLite database that belongs to another program (application_id {application_id:#010x}, Lookout's is {LOOKOUT:#010x}); Lookout left it untouched: {MOVE_OR_PICK}", path = .path.display(), LOOKOUT = super::open::APPLICATION_ID)]
    Foreign { path: PathBuf, application_id: i32 },

    /// Lookout's database, damaged. Nothing more is written to it.
    #[error("{path} is Lookout's store but it is corrupt ({detail}); Lookout will not write to it: {MOVE_OR_PICK} (keep the file to recover what it holds, e.g. with `sqlite3 {path} .recover`)", path = .path.display())]
    Corrupt { path: PathBuf, detail: String },

    /// Written by a newer Lookout whose schema this binary does not know.
    #[error("{path} was written by a newer Lookout (store schema version {found}, this binary knows up to {known}); upgrade Lookout, or {MOVE_OR_PICK}", path = .path.display())]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },

    /// Another process held the write lock for longer than the busy timeout.
    #[error("{path} stayed locked by another process for more than {timeout_s} s; the data is kept in memory and retried on the next flush", path = .path.display())]
    Busy { path: PathBuf, timeout_s: u64 },

    /// The file system under the data directory is full or read-only (or failing): nothing
    /// can be written until it has space or is writable again.
    #[error("store {path} cannot write: {fault} ({detail}); the data is kept in memory and retried", path = .path.display())]
    CannotWrite {
        path: PathBuf,
        fault: WriteFault,
        detail: String,
    },

    /// Any other database error.
    #[error("store {path}: {source}", path = .path.display())]
    Database {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },

    /// `close()` was called; this handle (and its clones) no longer reaches the database.
    #[error("the store at {path} is closed", path = .path.display())]
    Closed { path: PathBuf },
}

/// Why the store cannot write, in the words the operator is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFault {
    DiskFull,
    ReadOnly,
    Io,
}

impl std::fmt::Display for WriteFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WriteFault::DiskFull => "disk full",
            WriteFault::ReadOnly => "read-only file system",
            WriteFault::Io => "I/O error",
        })
    }
}

/// SQLite primary result codes the store tells apart.
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_READONLY: i32 = 8;
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;
const SQLITE_CORRUPT: i32 = 11;
const SQLITE_CANTOPEN: i32 = 14;
const SQLITE_NOTADB: i32 = 26;

/// The primary SQLite result code of a database error, if it is one.
pub(crate) fn sqlite_code(e: &sqlx::Error) -> Option<i32> {
    match e {
        sqlx::Error::Database(d) => d.code()?.parse::<i32>().ok().map(|c| c & 0xff),
        _ => None,
    }
}

impl StoreError {
    /// Classifies a database error on the store file at `path`.
    pub(crate) fn db(path: &Path, e: sqlx::Error) -> StoreError {
        let path = path.to_path_buf();
        match sqlite_code(&e) {
            Some(SQLITE_CORRUPT) => StoreError::Corrupt {
                path,
                detail: db_message(&e),
            },
            Some(SQLITE_NOTADB) => StoreError::NotSqlite { path },
            Some(SQLITE_BUSY | SQLITE_LOCKED) => StoreError::Busy {
                path,
                timeout_s: super::open::BUSY_TIMEOUT.as_secs(),
            },
            Some(SQLITE_FULL) => StoreError::CannotWrite {
                detail: db_message(&e),
                path,
                fault: WriteFault::DiskFull,
            },
            Some(SQLITE_READONLY | SQLITE_IOERR) if file_system(&path).read_only => {
                StoreError::CannotWrite {
                    detail: db_message(&e),
                    path,
                    fault: WriteFault::ReadOnly,
                }
            }
            Some(SQLITE_IOERR) => StoreError::CannotWrite {
                detail: db_message(&e),
                fault: if file_system(&path).full {
                    WriteFault::DiskFull
                } else {
                    WriteFault::Io
                },
                path,
            },
            Some(SQLITE_READONLY | SQLITE_CANTOPEN) => StoreError::NotWritable { path },
            _ => match e {
                sqlx::Error::PoolClosed => StoreError::Closed { path },
                e => StoreError::Database { path, source: e },
            },
        }
    }

    /// A chunk that does not decode: the file holds bytes Lookout did not write.
    pub(crate) fn bad_chunk(path: &Path, what: &str, e: super::codec::CodecError) -> StoreError {
        StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("{what}: {e}"),
        }
    }

    /// True for errors that may pass by themselves (a lock held by another process).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Busy { .. })
    }

    /// Why the store failed, in a few words, when the error means it cannot keep data (the
    /// self probe tells the operator); `None` for a lock held by another process (it passes
    /// by itself) and for a closed store.
    pub fn fault(&self) -> Option<String> {
        match self {
            StoreError::CannotWrite { fault, .. } => Some(fault.to_string()),
            StoreError::NotWritable { .. } => Some("not writable by this user".into()),
            StoreError::Corrupt { .. } | StoreError::NotSqlite { .. } => {
                Some("the database file is damaged".into())
            }
            StoreError::Database { source, .. } => Some(format!("database error: {source}")),
            StoreError::DataDir { source, .. } => Some(format!("data directory: {source}")),
            StoreError::Foreign { .. } | StoreError::TooNew { .. } => {
                Some("the database file is not this Lookout's".into())
            }
            StoreError::Busy { .. } | StoreError::Closed { .. } => None,
        }
    }
}

/// What `statvfs` says of the file system holding `path`.
#[derive(Debug, Clone, Copy, Default)]
struct FileSystem {
    read_only: bool,
    /// No block left for this user.
    full: bool,
}

fn file_system(path: &Path) -> FileSystem {
    use std::os::unix::ffi::OsStrExt;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(path);
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return FileSystem::default();
    };
    // SAFETY: `c` is a valid NUL-terminated path; `stat` is plain data statvfs fills in.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut stat) } != 0 {
        return FileSystem::default();
    }
    FileSystem {
        read_only: stat.f_flag & libc::ST_RDONLY != 0,
        full: stat.f_bavail == 0,
    }
}

fn db_message(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => d.message().to_string(),
        other => other.to_string(),
    }
}
