//! Disk I/O: parses `/proc/diskstats` and picks the block devices that back the reported
//! filesystems, so a host with dozens of loop devices reports only the disks that matter.

use super::filesystem::MountEntry;

/// `/proc/diskstats` counts sectors of 512 bytes whatever the device's real sector size.
pub const SECTOR_BYTES: u64 = 512;

/// The counters of one block device that Lookout reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskCounters {
    pub major: u32,
    pub minor: u32,
    /// Kernel name: "vda", "sda1", "dm-0", "nvme0n1p2".
    pub name: String,
    pub reads_completed: u64,
    pub sectors_read: u64,
    pub writes_completed: u64,
    pub sectors_written: u64,
    /// Milliseconds during which the device had I/O in flight.
    pub io_time_ms: u64,
}

/// Parses `/proc/diskstats`:
/// `major minor name reads merged sectors ms writes merged sectors ms in_flight io_ms weighted_ms ...`.
/// Kernels add columns at the end (discard, flush); only the first 13 are needed.
pub fn parse_diskstats(text: &str) -> Vec<DiskCounters> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<DiskCounters> {
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    let number = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some(DiskCounters {
        major: fields.first()?.parse().ok()?,
        minor: fields.get(1)?.parse().ok()?,
        name: (*fields.get(2)?).to_string(),
        reads_completed: number(3)?,
        sectors_read: number(5)?,
        writes_completed: number(7)?,
        sectors_written: number(9)?,
        io_time_ms: number(12)?,
    })
}

/// The devices behind `mounts`, each once, in mount order. A mount's `major:minor` names its
/// device directly (this is how `/dev/mapper/vg-root` finds `dm-0`); filesystems with an
/// anonymous device number (btrfs, for one) fall back to the basename of the mount source.
pub fn backing_devices<'a>(
    mounts: &[MountEntry],
    disks: &'a [DiskCounters],
) -> Vec<&'a DiskCounters> {
    let mut found: Vec<&DiskCounters> = Vec::new();
    for mount in mounts {
        let by_number = disks
            .iter()
            .find(|d| (d.major, d.minor) == (mount.major, mount.minor));
        let by_name = || {
            let basename = mount.device.strip_prefix("/dev/")?.rsplit('/').next()?;
            disks.iter().find(|d| d.name == basename)
        };
        if let Some(disk) = by_number.or_else(by_name)
            && !found.iter().any(|f| std::ptr::eq(*f, disk))
        {
            found.push(disk);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const DISKSTATS: &str = "\
   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 64415 7739 4683210 32345 29924 39399 10864440 91425 0 18256 128933 10832 122 1069456 3118 5431 2043
   8       0 sda 100 0 800 10 200 0 1600 20 0 30 40
   8       1 sda1 90 0 720 9 190 0 1520 19 0 25 35
 253       0 dm-0 5 0 40 1 6 0 48 2 0 3000 4
   8      16 sdb 1 2 3
";

    fn mount(major: u32, minor: u32, device: &str, mountpoint: &str) -> MountEntry {
        MountEntry {
            major,
            minor,
            root: "/".into(),
            mountpoint: mountpoint.into(),
            fstype: "ext4".into(),
            device: device.into(),
        }
    }

    #[test]
    fn parses_old_and_new_column_counts_and_skips_truncated_lines() {
        let disks = parse_diskstats(DISKSTATS);
        let names: Vec<_> = disks.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["loop0", "vda", "sda", "sda1", "dm-0"]);
        assert_eq!(
            disks[1],
            DiskCounters {
                major: 254,
                minor: 0,
                name: "vda".into(),
                reads_completed: 64415,
                sectors_read: 4683210,
                writes_completed: 29924,
                sectors_written: 10864440,
                io_time_ms: 18256,
            }
        );
    }

    #[test]
    fn mounts_map_to_devices_by_number_then_by_name_each_once() {
        let disks = parse_diskstats(DISKSTATS);
        let mounts = [
            mount(8, 1, "/dev/sda1", "/"),
            mount(253, 0, "/dev/mapper/vg-home", "/home"),
            mount(0, 45, "/dev/vda", "/btrfs"), // anonymous device number: by name
            mount(0, 46, "/dev/vda", "/btrfs/sub"), // same device again: once
            mount(0, 27, "tmpfs", "/run"),      // no block device at all
        ];
        let names: Vec<_> = backing_devices(&mounts, &disks)
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(names, ["sda1", "dm-0", "vda"]);
    }
}
