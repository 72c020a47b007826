//! Filesystems: which mounts to report (parsed from `/proc/self/mountinfo`, filtered, deduped)
//! and their space and inodes (statvfs), behind a guard so a hung network mount cannot stall
//! the probe.

use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot::{self, error::TryRecvError};
use tokio::time::Instant;

use crate::config::NameFilter;

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// The device number of the mounted filesystem (`st_dev`), which also names its block
    /// device in `/proc/diskstats` (including device-mapper and partitions).
    pub major: u32,
    pub minor: u32,
    /// The directory of the filesystem that is mounted: "/" normally, a subdirectory for a
    /// bind mount.
    pub root: String,
    pub mountpoint: String,
    pub fstype: String,
    /// The mount source: "/dev/vda1", "tmpfs", "server:/export", ...
    pub device: String,
}

/// Parses `/proc/self/mountinfo`:
/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`.
/// The optional fields before " - " vary in number, so the separator is searched for.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

fn parse_mountinfo_line(line: &str) -> Option<MountEntry> {
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    let separator = fields.iter().skip(6).position(|f| *f == "-")? + 6;
    let (major, minor) = fields.get(2)?.split_once(':')?;
    Some(MountEntry {
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
        root: unescape_octal(fields.get(3)?),
        mountpoint: unescape_octal(fields.get(4)?),
        fstype: unescape_octal(fields.get(separator + 1)?),
        device: unescape_octal(fields.get(separator + 2)?),
    })
}

/// The kernel writes space, tab, newline and backslash in mount paths as `\040`, `\011`,
/// `\012`, `\134`. Anything else after a backslash is kept as is.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'\\')
            .then(|| bytes.get(i + 1..i + 4))
            .flatten()
            .filter(|digits| digits.iter().all(|d| (b'0'..=b'7').contains(d)))
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u8::from_str_radix(digits, 8).ok());
        if let Some(code) = escaped {
            out.push(code);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mounts to report, in mountinfo order:
/// 1. both filters pass (mount point and filesystem type);
/// 2. when something is mounted over an existing mount point, only the last (visible) mount
///    is kept, since statvfs on the path sees that one;
/// 3. one mount per device (a bind mount or the same filesystem mounted twice would report the
///    same space twice): the shortest mount point wins, the first on a tie.
pub fn select_mounts(
    entries: &[MountEntry],
    mountpoints: &NameFilter,
    fs_types: &NameFilter,
) -> Vec<MountEntry> {
    let allowed: Vec<&MountEntry> = entries
        .iter()
        .filter(|m| mountpoints.allows(&m.mountpoint) && fs_types.allows(&m.fstype))
        .collect();

    let mut last_at_mountpoint: HashMap<&str, usize> = HashMap::new();
    for (i, m) in allowed.iter().enumerate() {
        last_at_mountpoint.insert(m.mountpoint.as_str(), i);
    }
    let visible = allowed
        .iter()
        .enumerate()
        .filter(|(i, m)| last_at_mountpoint.get(m.mountpoint.as_str()) == Some(i))
        .map(|(_, m)| *m);

    let mut kept: Vec<MountEntry> = Vec::new();
    for mount in visible {
        match kept
            .iter_mut()
            .find(|k| (k.major, k.minor) == (mount.major, mount.minor))
        {
            Some(existing) => {
                if mount.mountpoint.len() < existing.mountpoint.len() {
                    *existing = mount.clone();
                }
            }
            None => kept.push(mount.clone()),
        }
    }
    kept
}

/// Space and inodes of one filesystem, as statvfs reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FsUsage {
    pub size_bytes: u64,
    /// Free blocks, including those reserved for root.
    pub free_bytes: u64,
    /// Free blocks available to unprivileged users.
    pub avail_bytes: u64,
    pub files: u64,
    pub files_free: u64,
}

impl FsUsage {
    pub fn used_bytes(&self) -> u64 {
        self.size_bytes.saturating_sub(self.free_bytes)
    }

    /// used / (used + avail), as `df` computes "Use%": the root-reserved blocks count as neither,
    /// so a disk is 100% full when unprivileged users can no longer write.
    pub fn usage_ratio(&self) -> Option<f64> {
        let used = self.used_bytes() as f64;
        let denominator = used + self.avail_bytes as f64;
        (denominator > 0.0).then(|| (used / denominator).clamp(0.0, 1.0))
    }
}

/// statvfs(3) of a path. Block counts are in units of `f_frsize` (POSIX); on the filesystems
/// where node_exporter's `f_bsize` differs from it, ours is the one `df` agrees with.
// The casts are no-ops on 64-bit targets but not on 32-bit ones, where the libc types are u32.
#[allow(clippy::unnecessary_cast)]
pub fn statvfs(path: &Path) -> io::Result<FsUsage> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let mut buf = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: c_path is a valid NUL-terminated string and buf points to writable memory of the
    // right type; statvfs fully initialises it when it returns 0.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), buf.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: rc == 0, so the kernel filled buf.
    let st = unsafe { buf.assume_init() };
    let block = if st.f_frsize > 0 {
        st.f_frsize as u64
    } else {
        st.f_bsize as u64
    };
    Ok(FsUsage {
        size_bytes: (st.f_blocks as u64).saturating_mul(block),
        free_bytes: (st.f_bfree as u64).saturating_mul(block),
        avail_bytes: (st.f_bavail as u64).saturating_mul(block),
        files: st.f_files as u64,
        files_free: st.f_ffree as u64,
    })
}

/// The statvfs implementation; swapped in tests to simulate a hung mount.
pub type StatFsFn = Arc<dyn Fn(&Path) -> io::Result<FsUsage> + Send + Sync>;

/// What became of one mount's statvfs this run.
#[derive(Debug)]
pub enum FsOutcome {
    Usage(FsUsage),
    Failed(io::Error),
    /// statvfs has not answered within the timeout (this run or an earlier one).
    Stuck,
}

/// The answer of a statvfs running on its own thread.
type PendingStatfs = oneshot::Receiver<io::Result<FsUsage>>;

/// Runs statvfs off the async threads with a deadline, and remembers mounts that did not
/// answer. A call stuck in the kernel (a dead NFS server) cannot be cancelled, so rather than
/// starting another blocked thread every run, the stuck call's receiver is kept and the mount is
/// skipped until that call returns.
///
/// Each call runs on a detached thread rather than tokio's blocking pool: the runtime waits for
/// its blocking tasks when it shuts down, so one hung statvfs would stop Lookout from exiting.
pub struct StatfsGuard {
    statfs: StatFsFn,
    timeout: Duration,
    stuck: HashMap<String, PendingStatfs>,
}

impl StatfsGuard {
    pub fn new(statfs: StatFsFn, timeout: Duration) -> StatfsGuard {
        StatfsGuard {
            statfs,
            timeout,
            stuck: HashMap::new(),
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// statvfs of every mount, concurrently, all bounded by one deadline.
    pub async fn stat_all(&mut self, mounts: &[MountEntry]) -> Vec<FsOutcome> {
        self.stuck.retain(|mountpoint, pending| {
            // Empty: still in the kernel. A value or a closed channel: the call has returned.
            let still_stuck = matches!(pending.try_recv(), Err(TryRecvError::Empty));
            if !still_stuck {
                tracing::info!(mountpoint = %mountpoint, "filesystem answers statvfs again");
            }
            still_stuck
        });

        let deadline = Instant::now() + self.timeout;
        let started: Vec<Option<io::Result<PendingStatfs>>> = mounts
            .iter()
            .map(|mount| {
                (!self.stuck.contains_key(&mount.mountpoint))
                    .then(|| self.start(mount.mountpoint.clone()))
            })
            .collect();

        let mut outcomes = Vec::with_capacity(mounts.len());
        for (mount, started) in mounts.iter().zip(started) {
            let mut pending = match started {
                None => {
                    outcomes.push(FsOutcome::Stuck);
                    continue;
                }
                Some(Err(spawn_error)) => {
                    outcomes.push(FsOutcome::Failed(spawn_error));
                    continue;
                }
                Some(Ok(pending)) => pending,
            };
            let outcome = match tokio::time::timeout_at(deadline, &mut pending).await {
                Ok(Ok(Ok(usage))) => FsOutcome::Usage(usage),
                Ok(Ok(Err(e))) => FsOutcome::Failed(e),
                Ok(Err(_closed)) => {
                    FsOutcome::Failed(io::Error::other("statvfs thread ended without an answer"))
                }
                Err(_elapsed) => {
                    tracing::warn!(
                        mountpoint = %mount.mountpoint,
                        timeout = ?self.timeout,
                        "statvfs did not answer; skipping this filesystem until it does"
                    );
                    self.stuck.insert(mount.mountpoint.clone(), pending);
                    FsOutcome::Stuck
                }
            };
            outcomes.push(outcome);
        }
        outcomes
    }

    fn start(&self, mountpoint: String) -> io::Result<PendingStatfs> {
        let (answer, pending) = oneshot::channel();
        let statfs = Arc::clone(&self.statfs);
        std::thread::Builder::new()
            .name("lookout-statvfs".into())
            .spawn(move || {
                // The receiver may be gone (probe dropped); nobody is left to tell.
                let _ = answer.send(statfs(Path::new(&mountpoint)));
            })?;
        Ok(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    /// Realistic container + host mix: proc/sysfs/tmpfs/overlay pseudo filesystems, the root on
    /// a partition, /home on device-mapper, a bind mount of /home/data, /srv mounted twice (the
    /// second time by a different path), /dev/pts mounted over itself, and a space in a path.
    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334432k
26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600
27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
29 26 0:26 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
30 27 0:27 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=2468364k,mode=755
31 27 253:0 / /home rw,relatime shared:30 master:2 - xfs /dev/mapper/vg-home rw,attr2
32 27 253:0 /data /srv/data rw,relatime shared:31 - xfs /dev/mapper/vg-home rw,attr2
33 27 8:2 / /var/lib/long/mount rw - ext4 /dev/sda2 rw
34 27 8:2 / /srv rw - ext4 /dev/sda2 rw
35 27 0:50 / /var/lib/docker/overlay2/abc/merged rw - overlay overlay rw,lowerdir=/x
36 27 0:51 / /mnt/my\\040disk rw - vfat /dev/sdb1 rw
garbage line
37 27 8:3 / /truncated rw -
";

    fn anchored(patterns: &[&str]) -> Vec<Regex> {
        patterns
            .iter()
            .map(|p| Regex::new(&format!("^(?:{p})$")).unwrap())
            .collect()
    }

    fn pseudo_fs_excluded() -> NameFilter {
        NameFilter {
            include: vec![],
            exclude: anchored(&["proc|sysfs|devtmpfs|devpts|tmpfs|overlay|cgroup2?"]),
        }
    }

    #[test]
    fn parses_mountinfo_fields_and_unescapes_paths() {
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(
            mounts.len(),
            13,
            "the garbage and truncated lines are skipped"
        );
        let root = &mounts[4];
        assert_eq!(
            root,
            &MountEntry {
                major: 8,
                minor: 1,
                root: "/".into(),
                mountpoint: "/".into(),
                fstype: "ext4".into(),
                device: "/dev/sda1".into(),
            }
        );
        let bind = mounts.iter().find(|m| m.mountpoint == "/srv/data").unwrap();
        assert_eq!(
            (bind.major, bind.minor, bind.root.as_str()),
            (253, 0, "/data")
        );
        assert!(mounts.iter().any(|m| m.mountpoint == "/mnt/my disk"));
    }

    #[test]
    fn selection_applies_filters_and_dedupes_devices_keeping_the_shortest_mountpoint() {
        let mounts = parse_mountinfo(MOUNTINFO);
        let selected = select_mounts(&mounts, &NameFilter::default(), &pseudo_fs_excluded());
        let names: Vec<_> = selected.iter().map(|m| m.mountpoint.as_str()).collect();
        // /srv/data is a bind mount of /home's device; /var/lib/long/mount is /srv's device.
        assert_eq!(names, ["/", "/home", "/srv", "/mnt/my disk"]);
    }

    #[test]
    fn mountpoint_filter_excludes_before_deduping() {
        let mounts = parse_mountinfo(MOUNTINFO);
        let no_srv = NameFilter {
            include: vec![],
            exclude: anchored(&["/srv(/.*)?", "/mnt/.*"]),
        };
        let selected = select_mounts(&mounts, &no_srv, &pseudo_fs_excluded());
        let names: Vec<_> = selected.iter().map(|m| m.mountpoint.as_str()).collect();
        // With /srv excluded, sda2 is still reported, under its other mount point.
        assert_eq!(names, ["/", "/home", "/var/lib/long/mount"]);

        let only_root = NameFilter {
            include: anchored(&["/"]),
            exclude: vec![],
        };
        let selected = select_mounts(&mounts, &only_root, &NameFilter::default());
        assert_eq!(selected.len(), 1);
        assert_eq!(selected[0].device, "/dev/sda1");
    }

    #[test]
    fn an_overmounted_mountpoint_reports_the_visible_top_mount() {
        let mounts = parse_mountinfo(MOUNTINFO);
        let only_pts = NameFilter {
            include: anchored(&["/dev/pts"]),
            exclude: vec![],
        };
        let selected = select_mounts(&mounts, &only_pts, &NameFilter::default());
        assert_eq!(selected.len(), 1);
        assert_eq!((selected[0].major, selected[0].minor), (0, 26));
    }

    #[test]
    fn usage_ratio_is_computed_like_df() {
        let usage = FsUsage {
            size_bytes: 1000,
            free_bytes: 150, // 50 of them reserved for root
            avail_bytes: 100,
            files: 10,
            files_free: 5,
        };
        assert_eq!(usage.used_bytes(), 850);
        assert!((usage.usage_ratio().unwrap() - 850.0 / 950.0).abs() < 1e-12);
        assert_eq!(FsUsage::default().usage_ratio(), None);
        let over_reserved = FsUsage {
            size_bytes: 100,
            free_bytes: 200,
            avail_bytes: 0,
            ..FsUsage::default()
        };
        assert_eq!(over_reserved.used_bytes(), 0);
    }

    #[test]
    fn statvfs_of_the_root_filesystem_is_sane() {
        let usage = statvfs(Path::new("/")).unwrap();
        assert!(usage.size_bytes > 0);
        assert!(usage.avail_bytes <= usage.free_bytes);
        assert!(usage.free_bytes <= usage.size_bytes);
        assert!(statvfs(Path::new("/definitely/not/here")).is_err());
    }
}
