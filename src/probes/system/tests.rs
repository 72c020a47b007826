//! Tests of the assembled probe on a fixture proc tree (a temp directory laid out like `/proc`),
//! with statvfs replaced so that filesystems, failures and hung mounts are under test control.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use regex::Regex;

use super::filesystem::StatFsFn;
use super::*;
use crate::config::{NameFilter, SystemThresholds};
use crate::model::Status;

const STAT_BEFORE: &str = "\
cpu  1000 0 400 10000 100 0 10 0 0 0
cpu0 500 0 200 5000 50 0 5 0 0 0
cpu1 500 0 200 5000 50 0 5 0 0 0
intr 513417 0 0 0
ctxt 916924
btime 1700000000
processes 11192
procs_running 3
procs_blocked 1
";

/// 100 ticks later on each CPU: cpu0 60 user + 40 idle, cpu1 20 user + 80 idle.
const STAT_AFTER: &str = "\
cpu  1080 0 400 10120 100 0 10 0 0 0
cpu0 560 0 200 5040 50 0 5 0 0 0
cpu1 520 0 200 5080 50 0 5 0 0 0
btime 1700000000
procs_running 2
procs_blocked 0
";

/// 90% used: above the 85% warning, below the 95% critical.
const MEMINFO: &str = "\
MemTotal:        1000000 kB
MemFree:           50000 kB
MemAvailable:     100000 kB
Buffers:           10000 kB
Cached:            40000 kB
SwapTotal:        200000 kB
SwapFree:         150000 kB
";

const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
30 27 0:27 / /run rw,nosuid - tmpfs tmpfs rw,mode=755
31 27 253:0 / /home rw,relatime - xfs /dev/mapper/vg-home rw
32 27 253:0 /data /srv/data rw,relatime - xfs /dev/mapper/vg-home rw
33 27 8:5 / /mnt/secret rw - ext4 /dev/sda5 rw
40 27 0:60 / /mnt/nfs rw - nfs4 server:/export rw,vers=4.2
";

const DISKSTATS: &str = "\
   7       0 loop0 9 0 9 0 0 0 0 0 0 0 0 0 0 0 0 0 0
   8       0 sda 200 0 4000 10 300 0 6000 20 0 1500 40
   8       1 sda1 100 0 2000 9 150 0 3000 19 0 1200 35
 253       0 dm-0 5 0 40 1 6 0 48 2 0 3000 4
";

const NET_DEV: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:   49413     634    0    0    0     0          0         0    49413     634    0    0    0     0       0          0
  eth0:149238632    5729    1    2    0     0          0         0   337732    3454    3    4    0     0       0          0
docker0:       7       1    0    0    0     0          0         0        7       1    0    0    0     0       0          0
";

const SELF_STAT: &str = "4242 (lookout) S 1 4242 4242 0 -1 4194560 900 0 0 0 \
250 50 0 0 20 0 8 0 1000 4096000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1\n";

const GIB: u64 = 1024 * 1024 * 1024;

fn anchored(patterns: &[&str]) -> Vec<Regex> {
    patterns
        .iter()
        .map(|p| Regex::new(&format!("^(?:{p})$")).unwrap())
        .collect()
}

/// A config like the defaults: pseudo filesystems, /proc, /sys, /dev, /run and virtual
/// interfaces left out.
fn test_config() -> SystemConfig {
    SystemConfig {
        enabled: true,
        interval: Duration::from_secs(10),
        per_core: true,
        mountpoints: NameFilter {
            include: vec![],
            exclude: anchored(&["/(proc|sys|dev|run)(/.*)?"]),
        },
        fs_types: NameFilter {
            include: vec![],
            exclude: anchored(&["proc|sysfs|tmpfs|devtmpfs|devpts|overlay|cgroup2?"]),
        },
        interfaces: NameFilter {
            include: vec![],
            exclude: anchored(&["lo", "docker.*", "veth.*"]),
        },
        thresholds: SystemThresholds::default(),
    }
}

fn write_proc_tree(root: &Path) {
    let files = [
        ("stat", STAT_BEFORE),
        ("meminfo", MEMINFO),
        ("loadavg", "0.50 0.25 0.10 2/300 4242\n"),
        ("uptime", "12345.67 20000.00\n"),
        ("diskstats", DISKSTATS),
        ("net/dev", NET_DEV),
        ("self/mountinfo", MOUNTINFO),
        ("self/stat", SELF_STAT),
        ("self/fd/0", ""),
        ("self/fd/1", ""),
        ("self/fd/2", ""),
        ("1/stat", ""),
        ("42/stat", ""),
    ];
    for (relative, text) in files {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// A gate that holds the fake statvfs of /mnt/nfs until opened, like a dead NFS server.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    changed: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.changed.wait(open).unwrap();
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.changed.notify_all();
    }
}

/// statvfs stand-in: "/" is 90 GiB used of 100 GiB with 5 GiB reserved for root, "/home" is
/// empty, "/mnt/nfs" answers only when its gate is open (if it has one), anything else is
/// permission denied.
fn fake_statfs(nfs_gate: Option<Arc<Gate>>, nfs_calls: Arc<AtomicUsize>) -> StatFsFn {
    Arc::new(move |path: &Path| match path.to_str() {
        Some("/") => Ok(FsUsage {
            size_bytes: 100 * GIB,
            free_bytes: 10 * GIB,
            avail_bytes: 5 * GIB,
            files: 6_000_000,
            files_free: 5_000_000,
        }),
        Some("/home") => Ok(FsUsage {
            size_bytes: 1000 * GIB,
            free_bytes: 1000 * GIB,
            avail_bytes: 1000 * GIB,
            files: 10,
            files_free: 9,
        }),
        Some("/mnt/nfs") => {
            nfs_calls.fetch_add(1, Ordering::SeqCst);
            if let Some(gate) = &nfs_gate {
                gate.wait();
            }
            Ok(FsUsage {
                size_bytes: GIB,
                free_bytes: GIB / 2,
                avail_bytes: GIB / 2,
                files: 1,
                files_free: 1,
            })
        }
        _ => Err(io::Error::from_raw_os_error(libc::EACCES)),
    })
}

fn fixture_probe(root: &Path, statfs: StatFsFn, statfs_timeout: Duration) -> SystemProbe {
    let mut probe = SystemProbe::with_proc_root(&test_config(), root);
    probe.first_run_cpu_window = Duration::ZERO;
    probe.statfs = StatfsGuard::new(statfs, statfs_timeout);
    probe
}

fn value(obs: &Observation, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut found = obs
        .samples
        .iter()
        .filter(|s| s.series.name() == name && s.series.labels_map() == wanted);
    let first = found.next().map(|s| s.value);
    assert!(found.next().is_none(), "{name} {labels:?} reported twice");
    first
}

fn label_values(obs: &Observation, name: &str, label: &str) -> Vec<String> {
    obs.samples
        .iter()
        .filter(|s| s.series.name() == name)
        .filter_map(|s| s.series.label(label).map(str::to_string))
        .collect()
}

fn check<'a>(obs: &'a Observation, name: &str) -> &'a CheckResult {
    obs.checks
        .iter()
        .find(|c| c.check == name)
        .unwrap_or_else(|| panic!("no check {name} in {:#?}", obs.checks))
}

#[tokio::test]
async fn fixture_tree_yields_every_series_family_and_check() {
    let dir = tempfile::tempdir().unwrap();
    write_proc_tree(dir.path());
    let statfs = fake_statfs(None, Arc::default());
    let mut probe = fixture_probe(dir.path(), statfs, Duration::from_secs(2));

    let first = probe.run(1_000).await;
    assert_eq!(first.source, "system");
    assert_eq!(first.at_ms, 1_000);
    // Same counters twice (the fixture does not move): no interval, so no ratio yet.
    assert_eq!(check(&first, "cpu").status, Status::Unknown);
    assert_eq!(value(&first, "cpu_usage_ratio", &[]), None);

    std::fs::write(dir.path().join("stat"), STAT_AFTER).unwrap();
    let obs = probe.run(11_000).await;
    let v = |name: &str, labels: &[(&str, &str)]| {
        value(&obs, name, labels).unwrap_or_else(|| panic!("missing {name} {labels:?}"))
    };

    // CPU
    assert!((v("cpu_usage_ratio", &[]) - 0.4).abs() < 1e-12);
    assert!((v("cpu_mode_ratio", &[("mode", "user")]) - 0.4).abs() < 1e-12);
    assert!((v("cpu_mode_ratio", &[("mode", "idle")]) - 0.6).abs() < 1e-12);
    assert_eq!(label_values(&obs, "cpu_mode_ratio", "mode"), MODES);
    assert_eq!(v("cpu_seconds_total", &[("mode", "user")]), 10.8);
    assert_eq!(v("cpu_seconds_total", &[("mode", "idle")]), 101.2);
    assert_eq!(v("cpu_seconds_total", &[("mode", "softirq")]), 0.1);
    assert!((v("cpu_core_usage_ratio", &[("cpu", "0")]) - 0.6).abs() < 1e-12);
    assert!((v("cpu_core_usage_ratio", &[("cpu", "1")]) - 0.2).abs() < 1e-12);
    assert_eq!(v("cpus", &[]), 2.0);
    let cpu = check(&obs, "cpu");
    assert_eq!(
        (cpu.status, cpu.detail.as_str()),
        (Status::Ok, "cpu 40.0% busy")
    );
    assert_eq!(cpu.layer, crate::model::Layer::System);

    // Host
    assert_eq!(v("load1", &[]), 0.5);
    assert_eq!(v("load5", &[]), 0.25);
    assert_eq!(v("load15", &[]), 0.1);
    assert_eq!(v("uptime_seconds", &[]), 12345.67);
    assert_eq!(v("boot_time_seconds", &[]), 1_700_000_000.0);
    assert_eq!(v("processes", &[]), 2.0);
    assert_eq!(v("procs_running", &[]), 2.0);
    assert_eq!(v("procs_blocked", &[]), 0.0);

    // Memory
    assert_eq!(v("memory_total_bytes", &[]), 1_024_000_000.0);
    assert_eq!(v("memory_available_bytes", &[]), 102_400_000.0);
    assert_eq!(v("memory_used_bytes", &[]), 921_600_000.0);
    assert!((v("memory_usage_ratio", &[]) - 0.9).abs() < 1e-12);
    assert_eq!(v("memory_free_bytes", &[]), 51_200_000.0);
    assert_eq!(v("memory_buffers_bytes", &[]), 10_240_000.0);
    assert_eq!(v("memory_cached_bytes", &[]), 40_960_000.0);
    assert_eq!(v("swap_total_bytes", &[]), 204_800_000.0);
    assert_eq!(v("swap_used_bytes", &[]), 51_200_000.0);
    let memory = check(&obs, "memory");
    assert_eq!(memory.status, Status::Warning);
    assert_eq!(memory.detail, "memory 90.0% used (warning at 85%)");

    // Filesystems: /proc and /run filtered out, /srv/data is /home's device again.
    assert_eq!(
        label_values(&obs, "filesystem_size_bytes", "mountpoint"),
        ["/", "/home", "/mnt/nfs"]
    );
    let root = [
        ("mountpoint", "/"),
        ("device", "/dev/sda1"),
        ("fstype", "ext4"),
    ];
    assert_eq!(v("filesystem_size_bytes", &root), (100 * GIB) as f64);
    assert_eq!(v("filesystem_free_bytes", &root), (10 * GIB) as f64);
    assert_eq!(v("filesystem_avail_bytes", &root), (5 * GIB) as f64);
    assert_eq!(v("filesystem_used_bytes", &root), (90 * GIB) as f64);
    assert!((v("filesystem_usage_ratio", &root) - 90.0 / 95.0).abs() < 1e-12);
    assert_eq!(v("filesystem_files", &root), 6_000_000.0);
    assert_eq!(v("filesystem_files_free", &root), 5_000_000.0);
    let disk_root = check(&obs, "disk:/");
    assert_eq!(disk_root.status, Status::Warning);
    assert_eq!(
        disk_root.detail,
        "disk / 94.7% used, 5.0 GiB free (warning at 90%)"
    );
    assert_eq!(check(&obs, "disk:/home").status, Status::Ok);
    let secret = check(&obs, "disk:/mnt/secret");
    assert_eq!(secret.status, Status::Unknown);
    assert!(
        secret.detail.contains("Permission denied"),
        "{}",
        secret.detail
    );
    assert_eq!(check(&obs, "disk:/mnt/nfs").status, Status::Ok);

    // Disk I/O: only the devices behind reported filesystems, by kernel name.
    assert_eq!(
        label_values(&obs, "disk_read_bytes_total", "device"),
        ["sda1", "dm-0"]
    );
    assert_eq!(
        v("disk_read_bytes_total", &[("device", "sda1")]),
        2000.0 * 512.0
    );
    assert_eq!(
        v("disk_written_bytes_total", &[("device", "sda1")]),
        3000.0 * 512.0
    );
    assert_eq!(
        v("disk_reads_completed_total", &[("device", "sda1")]),
        100.0
    );
    assert_eq!(
        v("disk_writes_completed_total", &[("device", "sda1")]),
        150.0
    );
    assert_eq!(v("disk_io_time_seconds_total", &[("device", "dm-0")]), 3.0);

    // Network: lo and docker0 filtered out.
    assert_eq!(
        label_values(&obs, "network_receive_bytes_total", "interface"),
        ["eth0"]
    );
    let eth0 = [("interface", "eth0")];
    assert_eq!(v("network_receive_bytes_total", &eth0), 149238632.0);
    assert_eq!(v("network_transmit_bytes_total", &eth0), 337732.0);
    assert_eq!(v("network_receive_packets_total", &eth0), 5729.0);
    assert_eq!(v("network_transmit_packets_total", &eth0), 3454.0);
    assert_eq!(v("network_receive_errs_total", &eth0), 1.0);
    assert_eq!(v("network_receive_drop_total", &eth0), 2.0);
    assert_eq!(v("network_transmit_errs_total", &eth0), 3.0);
    assert_eq!(v("network_transmit_drop_total", &eth0), 4.0);

    // Lookout's own process.
    let ticks = probe.ticks_per_second;
    assert_eq!(v("process_cpu_seconds_total", &[]), 300.0 / ticks);
    assert_eq!(
        v("process_resident_memory_bytes", &[]),
        (100 * probe.page_size_bytes) as f64
    );
    assert_eq!(v("process_virtual_memory_bytes", &[]), 4_096_000.0);
    assert_eq!(v("process_open_fds", &[]), 3.0);
    assert_eq!(
        v("process_start_time_seconds", &[]),
        1_700_000_000.0 + 1000.0 / ticks
    );

    assert!(obs.samples.iter().all(|s| s.value.is_finite()));
    assert!(obs.checks.iter().all(|c| c.at_ms == 11_000));
}

#[tokio::test]
async fn per_core_series_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    write_proc_tree(dir.path());
    let mut config = test_config();
    config.per_core = false;
    let mut probe = SystemProbe::with_proc_root(&config, dir.path());
    probe.first_run_cpu_window = Duration::ZERO;
    probe.statfs = StatfsGuard::new(fake_statfs(None, Arc::default()), Duration::from_secs(2));
    probe.run(0).await;
    std::fs::write(dir.path().join("stat"), STAT_AFTER).unwrap();
    let obs = probe.run(1).await;
    assert!(value(&obs, "cpu_usage_ratio", &[]).is_some());
    assert!(label_values(&obs, "cpu_core_usage_ratio", "cpu").is_empty());
}

#[tokio::test]
async fn unreadable_proc_makes_checks_unknown_with_the_reason_and_omits_samples() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-proc-here");
    let mut probe = fixture_probe(&missing, fake_statfs(None, Arc::default()), Duration::ZERO);
    let obs = probe.run(5).await;
    assert!(obs.samples.is_empty(), "{:?}", obs.samples);
    let cpu = check(&obs, "cpu");
    assert_eq!(cpu.status, Status::Unknown);
    assert_eq!(cpu.value, None);
    assert!(
        cpu.detail.starts_with("cpu usage unknown: cannot read ") && cpu.detail.contains("stat"),
        "{}",
        cpu.detail
    );
    assert_eq!(check(&obs, "memory").status, Status::Unknown);
    assert_eq!(obs.checks.len(), 2, "no filesystems without a mountinfo");
}

#[tokio::test]
async fn garbage_in_every_proc_file_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    write_proc_tree(dir.path());
    let garbage = "cpu0 x\n\u{0}\u{ff}:: -1 -2 99999999999999999999999 ) ( \\0\n - - -\n";
    for file in [
        "stat",
        "meminfo",
        "loadavg",
        "uptime",
        "diskstats",
        "net/dev",
        "self/mountinfo",
        "self/stat",
    ] {
        std::fs::write(dir.path().join(file), garbage).unwrap();
    }
    let mut probe = fixture_probe(
        dir.path(),
        fake_statfs(None, Arc::default()),
        Duration::ZERO,
    );
    let obs = probe.run(0).await;
    assert_eq!(check(&obs, "cpu").status, Status::Unknown);
    assert_eq!(check(&obs, "memory").status, Status::Unknown);
}

/// Every parser on every prefix of its fixture: a file read while the kernel is writing it, or a
/// short read, must not panic.
#[test]
fn truncated_proc_files_never_panic_any_parser() {
    let fixtures = [
        STAT_BEFORE,
        MEMINFO,
        MOUNTINFO,
        DISKSTATS,
        NET_DEV,
        SELF_STAT,
        "0.50 0.25 0.10 2/300 4242\n",
        "12345.67 20000.00\n",
    ];
    for text in fixtures {
        for cut in (0..=text.len()).filter(|i| text.is_char_boundary(*i)) {
            let prefix = &text[..cut];
            let _ = cpu::parse_proc_stat(prefix);
            let _ = memory::parse_meminfo(prefix);
            let _ = filesystem::parse_mountinfo(prefix);
            let _ = disk::parse_diskstats(prefix);
            let _ = network::parse_net_dev(prefix);
            let _ = process::parse_self_stat(prefix);
            let _ = host::parse_loadavg(prefix);
            let _ = host::parse_uptime(prefix);
        }
    }
}

#[tokio::test]
async fn hung_mount_is_reported_skipped_and_retried_only_once_its_call_returns() {
    let dir = tempfile::tempdir().unwrap();
    write_proc_tree(dir.path());
    let gate = Arc::new(Gate::default());
    let nfs_calls = Arc::new(AtomicUsize::new(0));
    let statfs = fake_statfs(Some(Arc::clone(&gate)), Arc::clone(&nfs_calls));
    let mut probe = fixture_probe(dir.path(), statfs, Duration::from_millis(100));

    let started = Instant::now();
    let obs = probe.run(1).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a hung mount stalled the probe"
    );
    let nfs = check(&obs, "disk:/mnt/nfs");
    assert_eq!(nfs.status, Status::Warning);
    assert_eq!(
        nfs.detail,
        "disk /mnt/nfs not answering (statvfs took over 100ms); skipped until it does"
    );
    assert_eq!(check(&obs, "disk:/").status, Status::Warning); // the other mounts still measured
    assert!(value(&obs, "filesystem_size_bytes", &[("mountpoint", "/mnt/nfs")]).is_none());

    let obs = probe.run(2).await;
    assert_eq!(check(&obs, "disk:/mnt/nfs").status, Status::Warning);
    assert_eq!(
        nfs_calls.load(Ordering::SeqCst),
        1,
        "a stuck mount must not get a new blocked thread every run"
    );

    gate.open();
    // The stuck call returns on its blocking thread; wait for it to be noticed.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let obs = probe.run(3).await;
        if check(&obs, "disk:/mnt/nfs").status == Status::Ok {
            assert_eq!(nfs_calls.load(Ordering::SeqCst), 2);
            break;
        }
        assert!(Instant::now() < deadline, "mount never came back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn probe_identity_comes_from_config() {
    let mut config = test_config();
    config.interval = Duration::from_secs(42);
    let probe = SystemProbe::new(&config);
    assert_eq!(probe.name(), "system");
    assert_eq!(probe.interval(), Duration::from_secs(42));
}

#[tokio::test]
async fn first_run_on_this_host_already_has_cpu_ratios() {
    let mut probe = SystemProbe::new(&test_config());
    let obs = probe.run(0).await;
    let busy = value(&obs, "cpu_usage_ratio", &[]).expect("cpu_usage_ratio on the first run");
    assert!((0.0..=1.0).contains(&busy));
    assert_ne!(check(&obs, "cpu").status, Status::Unknown);
    assert_ne!(check(&obs, "memory").status, Status::Unknown);
    assert!(
        value(&obs, "memory_total_bytes", &[]).is_some_and(|v| v > 0.0),
        "memory_total_bytes"
    );
}

/// Regression: with statvfs on tokio's blocking pool, dropping the runtime waited for the hung
/// call, so a dead NFS mount stopped Lookout from exiting.
#[test]
fn runtime_shuts_down_while_a_statvfs_is_stuck() {
    let dir = tempfile::tempdir().unwrap();
    write_proc_tree(dir.path());
    let gate = Arc::new(Gate::default());
    let statfs = fake_statfs(Some(Arc::clone(&gate)), Arc::default());
    let mut probe = fixture_probe(dir.path(), statfs, Duration::from_millis(50));

    let (dropped, dropped_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let obs = runtime.block_on(probe.run(0));
        assert_eq!(check(&obs, "disk:/mnt/nfs").status, Status::Warning);
        drop(runtime);
        dropped.send(()).unwrap();
    });
    let shut_down = dropped_rx.recv_timeout(Duration::from_secs(10));
    gate.open();
    assert!(
        shut_down.is_ok(),
        "runtime drop waited for the stuck statvfs"
    );
}
