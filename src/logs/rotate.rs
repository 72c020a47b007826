//! A log file rotated by size and by age, keeping a number of rotated files: `lookout.log` is
//! written; rotating renames it to `lookout.log.1` (the previous `.1` becomes `.2`, and so on)
//! and starts a new `lookout.log`; files past `keep` are deleted. The numbered scheme is
//! logrotate's, so `ls` sorts them and the newest old file is always `.1`.
//!
//! - Size: a record that would take the file past `max_size` goes to a new file (a record
//!   larger than `max_size` goes alone into one).
//! - Age: a file whose first line is `max_age` old is rotated at the next record. The age of
//!   a file left by an earlier run is its birth time on disk (its change time where the file
//!   system does not record birth), so restarts do not keep a file alive forever.
//! - Files are created 0600 (an existing one is set to 0600), a missing directory 0700.
//! - Each record is written with one `write` on a file opened for appending; a failed rotation
//!   is reported once on stderr and writing goes on in the current file (tried again after a
//!   minute).
//! - Several processes may write one file (the daemon, and cron-mode commands with the same
//!   `[log]`): before each record the path is looked up (one `stat`), for the size the file
//!   has with what the others wrote, and when it no longer names the file being written
//!   (another process rotated it, or someone deleted it) the path is opened again; so every
//!   process writes to the current file and a file is rotated once.
//!
//! Why not a crate: those that rotate by size and by time (rolling-file, logroller) rotate at
//! calendar boundaries rather than by a file's age, cannot set the file mode, and read the
//! system clock, so they could not be tested without sleeping. Time comes from a `Clock` here.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::{SharedClock, UnixMillis};

/// After a failed rotation, how long to keep writing to the current file before trying again.
const RETRY_AFTER_MS: i64 = 60_000;

/// When to rotate and how many rotated files to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub max_size: u64,
    pub max_age: Duration,
    pub keep: u32,
}

/// The log file. Writing takes a lock, so records from several threads never interleave.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    rotation: Rotation,
    clock: SharedClock,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    file: File,
    /// (device, inode) of `file`: whether the path still names it.
    id: (u64, u64),
    /// Bytes in the current file.
    size: u64,
    /// When its first line was written (or the file was born, for one found on disk).
    born_ms: UnixMillis,
    /// No rotation is tried before this (after one failed).
    retry_ms: UnixMillis,
}

impl RotatingFile {
    /// Opens `path` for appending (creating it, and its directory, if missing).
    pub fn open(path: &Path, rotation: Rotation, clock: SharedClock) -> io::Result<RotatingFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
            // The mode given to mkdir is filtered by the umask.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let state = State::open(path, clock.now_ms())?;
        Ok(RotatingFile {
            path: path.to_path_buf(),
            rotation,
            clock,
            state: Mutex::new(state),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one record (one formatted log line), rotating first if it is due.
    pub fn write_record(&self, record: &[u8]) -> io::Result<()> {
        let mut state = self.state();
        let now = self.clock.now_ms();
        state.follow(&self.path, now);
        if state.size > 0
            && now >= state.retry_ms
            && self.due(&state, record.len() as u64, now)
            && let Err(error) = self.rotate(&mut state, now)
        {
            // stderr, not the log: this is the log failing.
            eprintln!(
                "lookout: cannot rotate the log file {}: {error}; writing on in it, trying again in a minute",
                self.path.display()
            );
            state.retry_ms = now + RETRY_AFTER_MS;
        }
        state.file.write_all(record)?;
        state.size += record.len() as u64;
        Ok(())
    }

    fn due(&self, state: &State, len: u64, now: UnixMillis) -> bool {
        let max_age_ms = i64::try_from(self.rotation.max_age.as_millis()).unwrap_or(i64::MAX);
        state.size.saturating_add(len) > self.rotation.max_size
            || now.saturating_sub(state.born_ms) >= max_age_ms
    }

    /// `lookout.log.(k-1)` -> `.k`, ..., `lookout.log` -> `.1`, a new `lookout.log`, and
    /// files numbered past `keep` deleted.
    fn rotate(&self, state: &mut State, now: UnixMillis) -> io::Result<()> {
        let keep = self.rotation.keep;
        if keep == 0 {
            std::fs::remove_file(&self.path).or_else(not_found_ok)?;
        } else {
            for n in (1..keep).rev() {
                std::fs::rename(self.numbered(n), self.numbered(n + 1)).or_else(not_found_ok)?;
            }
            std::fs::rename(&self.path, self.numbered(1))?;
        }
        // Opened before the old handle is dropped: should this fail, writing goes on in the
        // renamed file rather than nowhere.
        let (file, id) = open_append(&self.path)?;
        state.file = file;
        state.id = id;
        state.size = 0;
        state.born_ms = now;
        self.prune();
        Ok(())
    }

    /// Deletes rotated files numbered past `keep` (left by a larger `keep` before).
    fn prune(&self) {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return;
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let prefix = format!("{}.", name.to_string_lossy());
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let file_name = file_name.to_string_lossy();
            let number = file_name
                .strip_prefix(&prefix)
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<u64>().ok());
            if number.is_some_and(|n| n > u64::from(self.rotation.keep)) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while writing cannot leave the state worse than a short line.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    /// The file at `path`, opened for appending (created if missing); the size and age of
    /// what is in it already count.
    fn open(path: &Path, now: UnixMillis) -> io::Result<State> {
        let (file, id) = open_append(path)?;
        let metadata = file.metadata()?;
        let born_ms = if metadata.len() == 0 {
            now
        } else {
            birth_ms(&metadata).unwrap_or(now)
        };
        Ok(State {
            file,
            id,
            size: metadata.len(),
            born_ms,
            retry_ms: i64::MIN,
        })
    }

    /// Catches up with other processes writing to `path`: the file's size as it is now (they
    /// write too), or, when `path` no longer names the file (one of them rotated it, or it was
    /// deleted), the file at `path` now. Should opening that fail, writing goes on in the old
    /// file rather than nowhere.
    fn follow(&mut self, path: &Path, now: UnixMillis) {
        match std::fs::metadata(path) {
            Ok(m) if (m.dev(), m.ino()) == self.id => self.size = m.len(),
            _ => {
                if let Ok(reopened) = State::open(path, now) {
                    *self = State {
                        retry_ms: self.retry_ms,
                        ..reopened
                    };
                }
            }
        }
    }
}

/// `path` opened for appending, with its (device, inode).
fn open_append(path: &Path) -> io::Result<(File, (u64, u64))> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    // An existing file keeps its mode on open: the log may hold what only its owner should read.
    let metadata = file.metadata()?;
    if metadata.is_dir() {
        return Err(io::Error::from_raw_os_error(libc::EISDIR));
    }
    if metadata.is_file() && metadata.permissions().mode() & 0o777 != 0o600 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok((file, (metadata.dev(), metadata.ino())))
}

fn birth_ms(metadata: &std::fs::Metadata) -> Option<UnixMillis> {
    let born = metadata.created().ok().and_then(|t| {
        t.duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_millis() as i64)
    });
    born.or_else(|| Some(metadata.ctime() * 1000 + metadata.ctime_nsec() / 1_000_000))
}

fn not_found_ok(error: io::Error) -> io::Result<()> {
    if error.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(error)
    }
}

/// `MakeWriter` for tracing-subscriber: every formatted event is one `write_record`.
impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RotatingFile {
    type Writer = RecordWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        RecordWriter(self)
    }
}

pub struct RecordWriter<'a>(&'a RotatingFile);

impl Write for RecordWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_record(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::Arc;

    const T0: i64 = 1_700_000_000_000;
    const HOUR: Duration = Duration::from_secs(3600);

    fn rotation(max_size: u64, max_age: Duration, keep: u32) -> Rotation {
        Rotation {
            max_size,
            max_age,
            keep,
        }
    }

    fn open(dir: &Path, rotation: Rotation, clock: &Arc<ManualClock>) -> RotatingFile {
        let clock: SharedClock = clock.clone();
        RotatingFile::open(&dir.join("logs").join("lookout.log"), rotation, clock).unwrap()
    }

    /// The files of the log directory, sorted, with their contents.
    fn files(dir: &Path) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = std::fs::read_dir(dir.join("logs"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read_to_string(e.path()).unwrap(),
                )
            })
            .collect();
        out.sort();
        out
    }

    fn named(files: &[(&str, &str)]) -> Vec<(String, String)> {
        files
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn rotates_before_a_record_would_pass_max_size() {
        let tmp = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let log = open(tmp.path(), rotation(10, HOUR, 3), &clock);
        for record in ["aaaa\n", "bbbb\n", "cc\n", "dddddddddddddddd\n", "e\n"] {
            log.write_record(record.as_bytes()).unwrap();
        }
        // 10 bytes fit exactly; "cc" would make 13; the long record goes alone into a file.
        assert_eq!(
            files(tmp.path()),
            named(&[
                ("lookout.log", "e\n"),
                ("lookout.log.1", "dddddddddddddddd\n"),
                ("lookout.log.2", "cc\n"),
                ("lookout.log.3", "aaaa\nbbbb\n"),
            ])
        );
    }

    #[test]
    fn rotates_once_the_first_line_is_max_age_old() {
        let tmp = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let log = open(tmp.path(), rotation(1 << 20, HOUR, 7), &clock);
        log.write_record(b"first\n").unwrap();
        clock.advance(HOUR - Duration::from_millis(1));
        log.write_record(b"still the first file\n").unwrap();
        clock.advance(Duration::from_millis(1));
        log.write_record(b"second\n").unwrap();
        clock.advance(HOUR / 2);
        log.write_record(b"second too\n").unwrap();
        assert_eq!(
            files(tmp.path()),
            named(&[
                ("lookout.log", "second\nsecond too\n"),
                ("lookout.log.1", "first\nstill the first file\n"),
            ])
        );
        // An empty file is not rotated however old: there is nothing to put away.
        let idle_dir = tempfile::tempdir().unwrap();
        let idle = open(idle_dir.path(), rotation(10, HOUR, 1), &clock);
        clock.advance(10 * HOUR);
        idle.write_record(b"x\n").unwrap();
        assert!(!idle.numbered(1).exists());
    }

    #[test]
    fn keeps_only_keep_rotated_files() {
        let tmp = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let log = open(tmp.path(), rotation(4, HOUR, 2), &clock);
        for n in 0..6 {
            log.write_record(format!("{n}{n}{n}\n").as_bytes()).unwrap();
        }
        assert_eq!(
            files(tmp.path()),
            named(&[
                ("lookout.log", "555\n"),
                ("lookout.log.1", "444\n"),
                ("lookout.log.2", "333\n"),
            ])
        );
        drop(log);

        // A smaller `keep` later: the files past it go at the next rotation; so do stray ones.
        std::fs::write(tmp.path().join("logs/lookout.log.17"), "old").unwrap();
        std::fs::write(tmp.path().join("logs/lookout.log.1.gz"), "not ours").unwrap();
        let log = open(tmp.path(), rotation(4, HOUR, 1), &clock);
        log.write_record(b"666\n").unwrap();
        assert_eq!(
            files(tmp.path()),
            named(&[
                ("lookout.log", "666\n"),
                ("lookout.log.1", "555\n"),
                ("lookout.log.1.gz", "not ours"),
            ])
        );

        // keep = 0: the file starts over.
        let log = open(tmp.path(), rotation(4, HOUR, 0), &clock);
        log.write_record(b"777\n").unwrap();
        assert_eq!(
            files(tmp.path()),
            named(&[("lookout.log", "777\n"), ("lookout.log.1.gz", "not ours")])
        );
    }

    #[test]
    fn a_file_from_an_earlier_run_keeps_its_size_and_age() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("logs");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("lookout.log"), "earlier run\n").unwrap();
        let born = birth_ms(&std::fs::metadata(dir.join("lookout.log")).unwrap()).unwrap();

        // Its 12 bytes count towards max_size.
        let clock = ManualClock::new(born);
        let log = open(tmp.path(), rotation(16, HOUR, 3), &clock);
        log.write_record(b"12345\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("lookout.log.1")).unwrap(),
            "earlier run\n"
        );
        drop(log);

        // Its age counts from when it was made, not from when this run opened it.
        std::fs::remove_file(dir.join("lookout.log.1")).unwrap();
        let born = birth_ms(&std::fs::metadata(dir.join("lookout.log")).unwrap()).unwrap();
        let clock = ManualClock::new(born + HOUR.as_millis() as i64);
        let log = open(tmp.path(), rotation(1 << 20, HOUR, 3), &clock);
        log.write_record(b"new run\n").unwrap();
        assert_eq!(
            files(tmp.path()),
            named(&[("lookout.log", "new run\n"), ("lookout.log.1", "12345\n")])
        );
    }

    #[test]
    fn files_are_private_and_a_new_directory_too() {
        let tmp = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let log = open(tmp.path(), rotation(4, HOUR, 2), &clock);
        log.write_record(b"one\n").unwrap();
        log.write_record(b"two\n").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&tmp.path().join("logs")), 0o700);
        assert_eq!(mode(log.path()), 0o600);
        assert_eq!(mode(&log.numbered(1)), 0o600);

        // An existing file readable by others is made private.
        let loose = tmp.path().join("loose.log");
        std::fs::write(&loose, "x\n").unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
        let clock: SharedClock = clock;
        RotatingFile::open(&loose, rotation(4, HOUR, 2), clock).unwrap();
        assert_eq!(mode(&loose), 0o600);
    }

    #[test]
    fn two_processes_on_one_file_rotate_it_once_and_follow_each_other() {
        // The daemon and a cron-mode command with the same [log]: two handles on one path.
        let tmp = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let daemon = open(tmp.path(), rotation(10, HOUR, 3), &clock);
        let command = open(tmp.path(), rotation(10, HOUR, 3), &clock);
        daemon.write_record(b"d1\n").unwrap();
        command.write_record(b"c1\n").unwrap();
        daemon.write_record(b"d2\n").unwrap();
        // 9 bytes in the file; the command's record would pass 10: it rotates...
        command.write_record(b"c2\n").unwrap();
        // ... and the daemon writes on in the new file, which is not rotated again.
        daemon.write_record(b"d3\n").unwrap();
        assert_eq!(
            files(tmp.path()),
            named(&[
                ("lookout.log", "c2\nd3\n"),
                ("lookout.log.1", "d1\nc1\nd2\n"),
            ])
        );
        // Deleted by hand: made again at the next record.
        std::fs::remove_file(daemon.path()).unwrap();
        daemon.write_record(b"d4\n").unwrap();
        command.write_record(b"c3\n").unwrap();
        assert_eq!(std::fs::read_to_string(daemon.path()).unwrap(), "d4\nc3\n");
    }

    #[test]
    fn a_failed_rotation_keeps_writing_to_the_current_file() {
        let tmp = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let log = open(tmp.path(), rotation(4, HOUR, 1), &clock);
        log.write_record(b"one\n").unwrap();
        // `lookout.log.1` cannot be replaced by a file: it is a non-empty directory.
        std::fs::create_dir_all(log.numbered(1).join("x")).unwrap();
        log.write_record(b"two\n").unwrap();
        log.write_record(b"three\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(log.path()).unwrap(),
            "one\ntwo\nthree\n"
        );
        // Tried again a minute later, once the way is clear.
        std::fs::remove_dir_all(log.numbered(1)).unwrap();
        clock.advance(Duration::from_secs(60));
        log.write_record(b"four\n").unwrap();
        assert_eq!(std::fs::read_to_string(log.path()).unwrap(), "four\n");
        assert_eq!(
            std::fs::read_to_string(log.numbered(1)).unwrap(),
            "one\ntwo\nthree\n"
        );
    }
}
