//! Many hosts, one hub (issue 19's figures): 100 senders × 1,500 realistic node series every
//! 10 s (15,000 samples/s), each sender posting its whole host in one remote-write request at
//! its own phase of the 10 s, into the release `lookout serve` with `[receive]` (one agent
//! token per sender) and, at the same time, the same load into Prometheus 2.42 with
//! `--web.enable-remote-write-receiver`. Measured per target over the run (after a warm-up):
//! CPU (utime + stime from /proc, % of one core), RSS (sampled every second: peak and end),
//! write latency p50/p99 (the client's, connection included). Hub only: a 30-day query of
//! one host's CPU through `/api/v1/series` (30 days of that host's CPU seeded through the
//! store's API before the hub starts), sampled during the load and after it; the backfill of
//! a 1-hour backlog from one more agent (360 timestamps × 1,500 series, oldest first, in the
//! agent's batches of 2,000 samples, one request at a time) while the load goes on. Then
//! bytes per sample on disk after sealing: the hub stopped and its store sealed by
//! `maintain()` with a clock 2 h ahead (what the daemon does at the hour), Prometheus' head
//! written to a block by a TSDB snapshot.
//!
//! ```text
//! cargo bench --bench receive_load                          # 10 minutes of load (+ ≈ 6 min)
//! LOOKOUT_BENCH_SECONDS=60 cargo bench --bench receive_load # a short run
//! ```
//!
//! Knobs: LOOKOUT_BENCH_SECONDS (measured load, default 600), LOOKOUT_BENCH_WARMUP (default
//! 30), LOOKOUT_BENCH_SENDERS (default 100), LOOKOUT_BENCH_TARGETS (`hub,prometheus`, or one
//! of them), LOOKOUT_BENCH_SEED_DAYS (default 30; 0: no history),
//! LOOKOUT_BENCH_SEED_KEEP=DIR keeps the seeded `lookout.db`, LOOKOUT_BENCH_SEED_FROM=DIR reuses
//! it, LOOKOUT_BENCH_DIR (where the data dirs go; default a temporary dir).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lookout::exporter::remote_write::proto::{self, Label, Sample, TimeSeries, WriteRequest};
use lookout::exporter::remote_write::{Batcher, LabelledSample};
use lookout::store::synth::Rng;

const LOOKOUT: &str = env!("CARGO_BIN_EXE_lookout");
const SERIES: usize = 1_500;
const INTERVAL_MS: i64 = 10_000;
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
/// A Lookout agent's `[[remote_write]] batch_size` default.
const AGENT_BATCH: usize = 2_000;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

// ---------------------------------------------------------------------------------------
// A host as node_exporter shows it.

#[derive(Debug, Clone)]
enum Kind {
    /// Never changes (sizes, totals, flags).
    Const,
    /// Wanders by `quantum` steps (about `step` of them per tick), within [lo, hi].
    Gauge {
        lo: f64,
        hi: f64,
        step: f64,
        quantum: f64,
    },
    /// Increases by a Poisson count of `quantum`s around `rate` per second; the rate wanders.
    Counter { rate: f64, quantum: f64 },
    /// node_cpu_seconds_total of one core and mode: ticks of 1/100 s, share of that core's time.
    Cpu { core: usize, mode: usize },
    /// Wall clock (node_time_seconds).
    Clock,
}

#[derive(Debug, Clone)]
struct Series {
    /// Sorted by name, `__name__` first.
    labels: Vec<(String, String)>,
    kind: Kind,
    value: f64,
}

const CPU_MODES: [&str; 8] = [
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];
const CORES: usize = 8;

struct Host {
    series: Vec<Series>,
    rng: Rng,
    /// Per core: busy share (wanders).
    busy: Vec<f64>,
    /// CPU ticks (1/100 s) per core and mode.
    ticks: Vec<[u64; 8]>,
}

impl Host {
    fn new(index: usize, name: &str) -> Host {
        let mut rng = Rng::new(0x1919 + index as u64);
        let instance = format!("{name}:9100");
        let mut series = Vec::with_capacity(SERIES);
        // Adds a series (none past SERIES); returns how many there are.
        let mut add = |metric: &str, extra: &[(&str, String)], kind: Kind, value: f64| {
            if series.len() >= SERIES {
                return series.len();
            }
            let mut labels: BTreeMap<String, String> = extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            labels.insert("host".into(), name.into());
            labels.insert("instance".into(), instance.clone());
            labels.insert("job".into(), "node".into());
            let mut all = vec![("__name__".to_string(), metric.to_string())];
            all.extend(labels);
            series.push(Series {
                labels: all,
                kind,
                value,
            });
            series.len()
        };
        let counter = |rate: f64, quantum: f64| Kind::Counter { rate, quantum };
        let gauge = |lo: f64, hi: f64, step: f64, quantum: f64| Kind::Gauge {
            lo,
            hi,
            step,
            quantum,
        };
        // CPU: 8 cores × 8 modes, and each core's frequency.
        for core in 0..CORES {
            for (mode, name) in CPU_MODES.iter().enumerate() {
                add(
                    "node_cpu_seconds_total",
                    &[("cpu", core.to_string()), ("mode", name.to_string())],
                    Kind::Cpu { core, mode },
                    0.0,
                );
            }
        }
        for core in 0..CORES {
            add(
                "node_cpu_scaling_frequency_hertz",
                &[("cpu", core.to_string())],
                gauge(1.2e9, 3.4e9, 20.0, 1e6),
                2.4e9,
            );
        }
        for (metric, lo, hi) in [
            ("node_load1", 0.0, 8.0),
            ("node_load5", 0.0, 6.0),
            ("node_load15", 0.0, 4.0),
        ] {
            add(metric, &[], gauge(lo, hi, 10.0, 0.01), 1.0);
        }
        // Memory: 40 gauges of /proc/meminfo, most moving by 4 KiB pages, some constant.
        let total = 16.0 * (1u64 << 30) as f64;
        for (i, field) in [
            "MemTotal",
            "MemFree",
            "MemAvailable",
            "Buffers",
            "Cached",
            "SwapCached",
            "Active",
            "Inactive",
            "Active_anon",
            "Inactive_anon",
            "Active_file",
            "Inactive_file",
            "Unevictable",
            "Mlocked",
            "SwapTotal",
            "SwapFree",
            "Dirty",
            "Writeback",
            "AnonPages",
            "Mapped",
            "Shmem",
            "KReclaimable",
            "Slab",
            "SReclaimable",
            "SUnreclaim",
            "KernelStack",
            "PageTables",
            "NFS_Unstable",
            "Bounce",
            "WritebackTmp",
            "CommitLimit",
            "Committed_AS",
            "VmallocTotal",
            "VmallocUsed",
            "VmallocChunk",
            "Percpu",
            "HardwareCorrupted",
            "AnonHugePages",
            "Hugepagesize",
            "DirectMap4k",
        ]
        .iter()
        .enumerate()
        {
            let metric = format!("node_memory_{field}_bytes");
            let constant = matches!(
                *field,
                "MemTotal"
                    | "SwapTotal"
                    | "CommitLimit"
                    | "VmallocTotal"
                    | "VmallocChunk"
                    | "Hugepagesize"
                    | "DirectMap4k"
                    | "NFS_Unstable"
                    | "Bounce"
                    | "WritebackTmp"
                    | "HardwareCorrupted"
                    | "Mlocked"
                    | "Unevictable"
            );
            let base = ((total / (i + 2) as f64) / 4096.0).round() * 4096.0;
            if constant {
                add(&metric, &[], Kind::Const, base);
            } else {
                add(&metric, &[], gauge(0.0, total, 40.0, 4096.0), base);
            }
        }
        // Filesystems: 10 mount points × 7.
        for m in 0..10 {
            let (device, mountpoint, fstype) = match m {
                0 => ("/dev/nvme0n1p2".to_string(), "/".to_string(), "ext4"),
                1 => (
                    "/dev/nvme0n1p1".to_string(),
                    "/boot/efi".to_string(),
                    "vfat",
                ),
                2 => ("tmpfs".to_string(), "/run".to_string(), "tmpfs"),
                3 => ("tmpfs".to_string(), "/dev/shm".to_string(), "tmpfs"),
                _ => (
                    format!("/dev/mapper/data{m}"),
                    format!("/srv/data{m}"),
                    "xfs",
                ),
            };
            let labels = [
                ("device", device),
                ("fstype", fstype.to_string()),
                ("mountpoint", mountpoint),
            ];
            let size = (20u64 << 30) as f64 * (m + 1) as f64;
            let files = 1_310_720.0 * (m + 1) as f64;
            add("node_filesystem_size_bytes", &labels, Kind::Const, size);
            add(
                "node_filesystem_avail_bytes",
                &labels,
                gauge(0.0, size, 30.0, 4096.0),
                size * 0.4,
            );
            add(
                "node_filesystem_free_bytes",
                &labels,
                gauge(0.0, size, 30.0, 4096.0),
                size * 0.45,
            );
            add("node_filesystem_files", &labels, Kind::Const, files);
            add(
                "node_filesystem_files_free",
                &labels,
                gauge(0.0, files, 3.0, 1.0),
                files * 0.8,
            );
            add("node_filesystem_readonly", &labels, Kind::Const, 0.0);
            add("node_filesystem_device_error", &labels, Kind::Const, 0.0);
        }
        // Disks: 6 devices × 17.
        for d in 0..6 {
            let labels = [("device", format!("nvme{d}n1"))];
            for (metric, rate, quantum) in [
                ("node_disk_reads_completed_total", 20.0, 1.0),
                ("node_disk_reads_merged_total", 2.0, 1.0),
                ("node_disk_read_bytes_total", 20.0, 4096.0 * 8.0),
                ("node_disk_read_time_seconds_total", 0.01, 0.001),
                ("node_disk_writes_completed_total", 60.0, 1.0),
                ("node_disk_writes_merged_total", 15.0, 1.0),
                ("node_disk_written_bytes_total", 60.0, 4096.0 * 4.0),
                ("node_disk_write_time_seconds_total", 0.05, 0.001),
                ("node_disk_io_time_seconds_total", 0.03, 0.001),
                ("node_disk_io_time_weighted_seconds_total", 0.06, 0.001),
                ("node_disk_discards_completed_total", 0.0, 1.0),
                ("node_disk_discards_merged_total", 0.0, 1.0),
                ("node_disk_discarded_sectors_total", 0.0, 1.0),
                ("node_disk_discard_time_seconds_total", 0.0, 0.001),
                ("node_disk_flush_requests_total", 1.0, 1.0),
                ("node_disk_flush_requests_time_seconds_total", 0.001, 0.001),
            ] {
                add(metric, &labels, counter(rate, quantum), 0.0);
            }
            add("node_disk_io_now", &labels, gauge(0.0, 8.0, 0.3, 1.0), 0.0);
        }
        // Everything else a node_exporter serves once per host.
        for (metric, rate, quantum) in [
            ("node_context_switches_total", 4000.0, 1.0),
            ("node_intr_total", 3000.0, 1.0),
            ("node_forks_total", 5.0, 1.0),
            ("node_vmstat_pgfault", 8000.0, 1.0),
            ("node_vmstat_pgmajfault", 0.2, 1.0),
            ("node_vmstat_pgpgin", 40.0, 1.0),
            ("node_vmstat_pgpgout", 200.0, 1.0),
            ("node_vmstat_pswpin", 0.0, 1.0),
            ("node_vmstat_pswpout", 0.0, 1.0),
            ("node_vmstat_oom_kill", 0.0, 1.0),
            ("node_netstat_Tcp_ActiveOpens", 3.0, 1.0),
            ("node_netstat_Tcp_PassiveOpens", 20.0, 1.0),
            ("node_netstat_Tcp_RetransSegs", 0.5, 1.0),
            ("node_netstat_Tcp_InSegs", 900.0, 1.0),
            ("node_netstat_Tcp_OutSegs", 950.0, 1.0),
            ("node_netstat_Udp_InDatagrams", 10.0, 1.0),
            ("node_netstat_Udp_OutDatagrams", 10.0, 1.0),
            ("node_netstat_Udp_InErrors", 0.0, 1.0),
            ("node_netstat_TcpExt_ListenDrops", 0.0, 1.0),
            ("node_netstat_TcpExt_ListenOverflows", 0.0, 1.0),
            ("node_netstat_TcpExt_SyncookiesSent", 0.0, 1.0),
            ("node_netstat_Icmp_InMsgs", 0.1, 1.0),
            ("node_netstat_Icmp_OutMsgs", 0.1, 1.0),
            ("node_netstat_IpExt_InOctets", 300.0, 400.0),
            ("node_netstat_IpExt_OutOctets", 300.0, 900.0),
        ] {
            add(metric, &[], counter(rate, quantum), 0.0);
        }
        for (metric, lo, hi, step, quantum, start) in [
            ("node_procs_running", 1.0, 16.0, 1.0, 1.0, 2.0),
            ("node_procs_blocked", 0.0, 4.0, 0.3, 1.0, 0.0),
            ("node_entropy_available_bits", 256.0, 256.0, 0.0, 1.0, 256.0),
            ("node_filefd_allocated", 1000.0, 20000.0, 5.0, 1.0, 4000.0),
            ("node_sockstat_TCP_inuse", 10.0, 2000.0, 3.0, 1.0, 200.0),
            ("node_sockstat_TCP_tw", 0.0, 5000.0, 5.0, 1.0, 300.0),
            ("node_sockstat_TCP_alloc", 10.0, 3000.0, 3.0, 1.0, 250.0),
            ("node_sockstat_TCP_mem", 1.0, 10000.0, 3.0, 1.0, 80.0),
            (
                "node_sockstat_TCP_mem_bytes",
                4096.0,
                4.0e7,
                3.0,
                4096.0,
                327_680.0,
            ),
            ("node_sockstat_UDP_inuse", 0.0, 50.0, 0.2, 1.0, 5.0),
            ("node_sockstat_UDP_mem", 0.0, 100.0, 0.2, 1.0, 2.0),
            ("node_sockstat_sockets_used", 50.0, 5000.0, 3.0, 1.0, 600.0),
            ("node_timex_offset_seconds", -0.001, 0.001, 3.0, 1e-6, 0.0),
            (
                "node_timex_frequency_adjustment_ratio",
                0.9999,
                1.0001,
                1.0,
                1e-7,
                1.0,
            ),
            ("node_timex_maxerror_seconds", 0.0, 0.5, 3.0, 1e-6, 0.01),
            (
                "node_timex_estimated_error_seconds",
                0.0,
                0.01,
                1.0,
                1e-6,
                0.0001,
            ),
            ("scrape_duration_seconds", 0.01, 0.2, 3.0, 1e-6, 0.03),
        ] {
            add(metric, &[], gauge(lo, hi, step, quantum), start);
        }
        for (metric, value) in [
            ("node_boot_time_seconds", 1.7e9),
            ("node_filefd_maximum", 9.2e18),
            ("node_timex_sync_status", 1.0),
            ("up", 1.0),
            ("scrape_samples_scraped", SERIES as f64),
            ("scrape_samples_post_metric_relabeling", SERIES as f64),
            ("scrape_series_added", 0.0),
        ] {
            add(metric, &[], Kind::Const, value);
        }
        add("node_time_seconds", &[], Kind::Clock, 0.0);
        // Network interfaces fill up to 1,500 series (a container host: eth0, docker0, veths).
        let mut i = 0;
        loop {
            let device = match i {
                0 => "eth0".to_string(),
                1 => "lo".to_string(),
                2 => "docker0".to_string(),
                n => format!(
                    "veth{:07x}",
                    (n as u64).wrapping_mul(0x9e37_79b9) & 0xfff_ffff
                ),
            };
            let labels = [("device", device)];
            let busy = if i == 0 { 1.0 } else { 0.05 };
            for (direction, more) in [
                ("receive", ["frame", "multicast"]),
                ("transmit", ["carrier", "colls"]),
            ] {
                add(
                    &format!("node_network_{direction}_bytes_total"),
                    &labels,
                    counter(300.0 * busy, 700.0),
                    0.0,
                );
                add(
                    &format!("node_network_{direction}_packets_total"),
                    &labels,
                    counter(300.0 * busy, 1.0),
                    0.0,
                );
                for zero in ["errs", "drop", "fifo", "compressed", more[0], more[1]] {
                    add(
                        &format!("node_network_{direction}_{zero}_total"),
                        &labels,
                        counter(0.0, 1.0),
                        0.0,
                    );
                }
            }
            add("node_network_up", &labels, Kind::Const, 1.0);
            add("node_network_mtu_bytes", &labels, Kind::Const, 1500.0);
            add("node_network_speed_bytes", &labels, Kind::Const, 1.25e9);
            let count = add(
                "node_network_transmit_queue_length",
                &labels,
                Kind::Const,
                1000.0,
            );
            i += 1;
            if count >= SERIES {
                break;
            }
        }
        let busy = (0..CORES).map(|_| 0.05 + rng.unit() * 0.3).collect();
        Host {
            series,
            rng,
            busy,
            ticks: vec![[0; 8]; CORES],
        }
    }

    /// Moves every series `dt_s` seconds on, to the time `at_ms`.
    fn tick(&mut self, dt_s: f64, at_ms: i64) {
        let rng = &mut self.rng;
        for (core, busy) in self.busy.iter_mut().enumerate() {
            *busy = (*busy + rng.normal() * 0.03).clamp(0.01, 0.98);
            let total = (dt_s * 100.0).round() as u64;
            let used = (total as f64 * *busy).round() as u64;
            // user 60 %, system 25 %, iowait, softirq, irq, nice share the rest; steal rare.
            let parts = [
                (7, 0.60),
                (6, 0.25),
                (1, 0.06),
                (4, 0.04),
                (2, 0.02),
                (3, 0.02),
                (5, 0.01),
            ];
            let mut given = 0;
            for (mode, share) in parts {
                let n = rng.poisson(used as f64 * share).min(total - given);
                self.ticks[core][mode] += n;
                given += n;
            }
            self.ticks[core][0] += total - given;
        }
        for s in &mut self.series {
            match &mut s.kind {
                Kind::Const => {}
                Kind::Gauge {
                    lo,
                    hi,
                    step,
                    quantum,
                } => {
                    if *step > 0.0 {
                        let moves = (rng.normal() * *step).round();
                        s.value = (s.value + moves * *quantum).clamp(*lo, *hi);
                        // Keep the value on its quantum's grid, as the source reports it.
                        s.value = ((s.value / *quantum).round() * *quantum * 1e9).round() / 1e9;
                    }
                }
                Kind::Counter { rate, quantum } => {
                    if *rate > 0.0 {
                        *rate = (*rate * (1.0 + rng.normal() * 0.05)).max(0.0);
                        let n = rng.poisson(*rate * dt_s);
                        s.value = ((s.value + n as f64 * *quantum) * 1e6).round() / 1e6;
                    }
                }
                Kind::Cpu { core, mode } => {
                    s.value = self.ticks[*core][*mode] as f64 / 100.0;
                }
                Kind::Clock => s.value = at_ms as f64 / 1000.0,
            }
        }
    }

    /// One remote-write request: every series, one sample at `at_ms`.
    fn request(&self, at_ms: i64) -> Vec<u8> {
        let timeseries = self
            .series
            .iter()
            .map(|s| TimeSeries {
                labels: s
                    .labels
                    .iter()
                    .map(|(name, value)| Label {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                samples: vec![Sample {
                    value: s.value,
                    timestamp: at_ms,
                }],
            })
            .collect();
        proto::encode(&WriteRequest { timeseries })
    }
}

// ---------------------------------------------------------------------------------------
// Processes, HTTP, /proc.

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// A field of /proc/PID/status in kB (VmRSS, VmHWM).
fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds of this process (the load generator), all threads.
fn self_cpu_seconds() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Busy and total jiffies of the whole machine (/proc/stat's first line).
fn machine_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One HTTP/1.1 request on a new connection: (status, body).
fn http(addr: SocketAddr, head: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_nodelay(true)?;
    let mut request = Vec::with_capacity(head.len() + body.len());
    request.extend_from_slice(head.as_bytes());
    request.extend_from_slice(body);
    stream.write_all(&request)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP answer"))?;
    let status = std::str::from_utf8(&response[..split])
        .ok()
        .and_then(|h| h.split_whitespace().nth(1)?.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    Ok((status, response[split + 4..].to_vec()))
}

fn post_write(addr: SocketAddr, token: Option<&str>, body: &[u8]) -> std::io::Result<u16> {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!(
        "POST /api/v1/write HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\
         Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n\
         User-Agent: lookout-bench/1\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    http(addr, &head, body).map(|(status, _)| status)
}

fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let auth = VIEWER
        .get()
        .map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\r\n");
    http(addr, &head, b"")
}

/// The hub's viewer token, for its read API.
static VIEWER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Target {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    /// One token per sender (the hub), none (Prometheus).
    tokens: Vec<Option<String>>,
}

impl Target {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hub_config(dir: &Path) -> PathBuf {
    let config = dir.join("lookout.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[storage]\npath = \"{}\"\n\n[receive]\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    config
}

fn token(config: &Path, role: &str, name: &str) -> String {
    let out = Command::new(LOOKOUT)
        .args(["token", "create", "--config"])
        .arg(config)
        .args(["--role", role, "--name", name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "token create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn start_hub(config: &Path, tokens: Vec<Option<String>>) -> Target {
    let mut child = Command::new(LOOKOUT)
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr: SocketAddr = loop {
        let line = lines.next().expect("lookout exited").unwrap();
        if let Some(addr) = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("listen="))
            .filter(|_| line.contains("lookout started"))
        {
            break addr.parse().unwrap();
        }
    };
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if line.contains("ERROR") || line.contains("WARN") {
                eprintln!("hub: {line}");
            }
        }
    });
    Target {
        name: "hub",
        child,
        addr,
        tokens,
    }
}

fn start_prometheus(dir: &Path, senders: usize) -> Target {
    std::fs::create_dir_all(dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 10s\n").unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .args([
            "--web.enable-remote-write-receiver",
            "--web.enable-admin-api",
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("prometheus (Debian package) on PATH");
    let started = Instant::now();
    loop {
        if let Ok((200, _)) = get(addr, "/-/ready") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "prometheus not ready"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Target {
        name: "prometheus",
        child,
        addr,
        tokens: vec![None; senders],
    }
}

// ---------------------------------------------------------------------------------------
// The load.

#[derive(Debug, Default, Clone)]
struct Sent {
    /// (started, ms) of each request answered 2xx.
    ok: Vec<(Instant, f64)>,
    /// (started, status or 0 for an I/O error).
    failed: Vec<(Instant, u16)>,
    /// Ticks skipped because the sender fell behind.
    late: u64,
}

/// 100 sender threads on one target: each posts its host every 10 s at its own phase.
fn run_senders(
    target_addr: SocketAddr,
    tokens: &[Option<String>],
    start_ms: i64,
    started: Instant,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Sent>> {
    let senders = tokens.len();
    tokens
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let token = token.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("sender-{i}"))
                .stack_size(256 << 10)
                .spawn(move || {
                    let mut host = Host::new(i, &format!("host-{i:03}"));
                    let phase = INTERVAL_MS * i as i64 / senders as i64;
                    let mut sent = Sent::default();
                    let mut k = 0i64;
                    let mut last_ms: Option<i64> = None;
                    while !stop.load(Ordering::Relaxed) {
                        let at_ms = start_ms + phase + k * INTERVAL_MS;
                        let due = started + Duration::from_millis((phase + k * INTERVAL_MS) as u64);
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep((due - now).min(Duration::from_millis(500)));
                            continue;
                        }
                        if now - due > Duration::from_millis(INTERVAL_MS as u64) {
                            sent.late += 1; // a sender that fell a whole interval behind skips
                            k += 1;
                            continue;
                        }
                        let dt = last_ms.map_or(INTERVAL_MS, |l| at_ms - l) as f64 / 1000.0;
                        host.tick(dt, at_ms);
                        last_ms = Some(at_ms);
                        let body = host.request(at_ms);
                        let t = Instant::now();
                        match post_write(target_addr, token.as_deref(), &body) {
                            Ok(status) if (200..300).contains(&status) => {
                                sent.ok.push((t, t.elapsed().as_secs_f64() * 1000.0))
                            }
                            Ok(status) => sent.failed.push((t, status)),
                            Err(_) => sent.failed.push((t, 0)),
                        }
                        k += 1;
                    }
                    sent
                })
                .unwrap()
        })
        .collect()
}

/// RSS every second while `stop` is false: (kB samples with their time).
fn sample_rss(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<(Instant, u64)>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            out.push((Instant::now(), status_kb(pid, "VmRSS")));
            std::thread::sleep(Duration::from_secs(1));
        }
        out
    })
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

// ---------------------------------------------------------------------------------------
// The hub's history and its store.

/// 30 days (ending now) of `host`'s node_cpu_seconds_total (8 cores × 8 modes), at 10 s,
/// through the store's API with a manual clock (flushed every 10 ticks, maintained every
/// hour, as the daemon does). Returns the samples written.
async fn seed_cpu_history(data: &Path, days: i64) -> u64 {
    use lookout::clock::{ManualClock, SharedClock};
    use lookout::model::{Observation, Sample as StoreSample, SeriesKey};
    use lookout::store::{Store, StoreOptions};

    let end = now_ms() / INTERVAL_MS * INTERVAL_MS - INTERVAL_MS;
    let start = end - days * DAY_MS;
    let clock = ManualClock::new(start);
    let shared: SharedClock = clock.clone();
    let store = Store::open(data, StoreOptions::default(), shared)
        .await
        .expect("open the store to seed");
    let mut host = Host::new(0, "host-000");
    let cpu: Vec<(usize, Arc<SeriesKey>)> = host
        .series
        .iter()
        .enumerate()
        .filter(|(_, s)| s.labels[0].1 == "node_cpu_seconds_total")
        .map(|(i, s)| {
            let key = s.labels[1..]
                .iter()
                .fold(SeriesKey::new(&s.labels[0].1), |k, (n, v)| k.with(n, v));
            (i, Arc::new(key))
        })
        .collect();
    let mut written = 0u64;
    let mut at = start;
    let mut ticks = 0u64;
    while at <= end {
        clock.set(at);
        host.tick(INTERVAL_MS as f64 / 1000.0, at);
        let samples = cpu
            .iter()
            .map(|(i, key)| StoreSample {
                series: key.clone(),
                value: host.series[*i].value,
            })
            .collect::<Vec<_>>();
        written += samples.len() as u64;
        store.ingest(&Observation {
            source: "seed".into(),
            at_ms: at,
            samples,
            checks: Vec::new(),
        });
        ticks += 1;
        if ticks.is_multiple_of(10) {
            store.flush().await.expect("flush");
        }
        if (at - start) % HOUR_MS < INTERVAL_MS {
            store.maintain().await.expect("maintain");
        }
        at += INTERVAL_MS;
    }
    store.flush().await.expect("flush");
    store.maintain().await.expect("maintain");
    store.close().await.expect("close the store");
    written
}

/// Store figures: (bytes in use: file + WAL − free pages, raw samples, raw blob bytes).
async fn store_figures(data: &Path, at_ms: i64, maintain: bool) -> (u64, u64, u64, f64) {
    use lookout::clock::{ManualClock, SharedClock};
    use lookout::store::{Store, StoreOptions};
    let clock: SharedClock = ManualClock::new(at_ms);
    let store = Store::open(data, StoreOptions::default(), clock)
        .await
        .expect("open the hub's store");
    let mut sealing = 0.0;
    if maintain {
        let t = Instant::now();
        let stats = store.maintain().await.expect("maintain");
        sealing = t.elapsed().as_secs_f64();
        println!(
            "  sealing: {} series windows, {} samples in {:.1} s (wall)",
            stats.sealed_windows, stats.sealed_samples, sealing
        );
    }
    let stats = store.stats().await.expect("stats");
    store.close_without_maintenance().await;
    (
        stats.file_bytes + stats.wal_bytes - stats.free_bytes,
        stats.raw.samples,
        stats.raw.bytes,
        sealing,
    )
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                total += dir_bytes(&e.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

/// One `/api/v1/series` query: (ms, series, points).
fn query(addr: SocketAddr, path: &str) -> (f64, usize, usize) {
    let t = Instant::now();
    let (status, body) = get(addr, path).expect("query");
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let series = v["series"].as_array().cloned().unwrap_or_default();
    let points = series
        .iter()
        .map(|s| s["points"].as_array().map_or(0, Vec::len))
        .sum();
    (ms, series.len(), points)
}

/// Part 2, bytes per sample of a full sealed hour (the run above seals a 1-hour window that
/// holds only its minutes): the previous whole hour of `senders` hosts written into a fresh
/// store through its API as the hub's store writer does (one observation per host and tick,
/// flushed every tick, i.e. every 10 s of data), sealed by `maintain()` at the hour + 2 h.
/// Returns (samples, bytes in use, raw blob bytes, sealing wall s, sealing CPU s, ingest s).
async fn full_hour_store(data: &Path, senders: usize) -> (u64, u64, u64, f64, f64, f64) {
    use lookout::clock::{ManualClock, SharedClock};
    use lookout::model::{Observation, Sample as StoreSample, SeriesKey};
    use lookout::store::{Store, StoreOptions};

    let end = now_ms() / HOUR_MS * HOUR_MS;
    let start = end - HOUR_MS;
    let clock = ManualClock::new(start);
    let shared: SharedClock = clock.clone();
    let store = Store::open(data, StoreOptions::default(), shared)
        .await
        .expect("open a fresh store");
    let mut hosts: Vec<(Host, Vec<Arc<SeriesKey>>)> = (0..senders)
        .map(|i| {
            let host = Host::new(i, &format!("host-{i:03}"));
            let keys = host
                .series
                .iter()
                .map(|s| {
                    Arc::new(
                        s.labels[1..]
                            .iter()
                            .fold(SeriesKey::new(&s.labels[0].1), |k, (n, v)| k.with(n, v)),
                    )
                })
                .collect();
            (host, keys)
        })
        .collect();
    let t = Instant::now();
    let mut samples = 0u64;
    for k in 0..(HOUR_MS / INTERVAL_MS) {
        for (i, (host, keys)) in hosts.iter_mut().enumerate() {
            let at_ms = start + k * INTERVAL_MS + INTERVAL_MS * i as i64 / senders as i64;
            host.tick(INTERVAL_MS as f64 / 1000.0, at_ms);
            let observation = Observation {
                source: format!("receive:host-{i:03}"),
                at_ms,
                samples: host
                    .series
                    .iter()
                    .zip(keys.iter())
                    .map(|(s, key)| StoreSample {
                        series: key.clone(),
                        value: s.value,
                    })
                    .collect(),
                checks: Vec::new(),
            };
            samples += observation.samples.len() as u64;
            store.ingest(&observation);
        }
        clock.set(start + (k + 1) * INTERVAL_MS);
        store.flush().await.expect("flush");
    }
    let ingest = t.elapsed().as_secs_f64();
    clock.set(end + 2 * HOUR_MS);
    let cpu = self_cpu_seconds();
    let t = Instant::now();
    store.maintain().await.expect("maintain");
    let (seal_wall, seal_cpu) = (t.elapsed().as_secs_f64(), self_cpu_seconds() - cpu);
    let stats = store.stats().await.expect("stats");
    store.close_without_maintenance().await;
    // Closed: the WAL is checkpointed into the file; what is left of it still counts.
    let db = data.join(lookout::store::DB_FILE);
    let in_use = lookout::store::file_len(&db)
        + lookout::store::file_len(&lookout::store::wal_path(&db))
        - stats.free_bytes;
    println!(
        "  store after sealing: {} series; file {:.1} MB, WAL {:.1} MB, free {:.1} MB (before closing); raw chunks {:.1} MB, minute rollups {:.1} MB, hour rollups {:.1} MB (blobs); closed: {:.1} MB in use",
        stats.series,
        stats.file_bytes as f64 / 1e6,
        stats.wal_bytes as f64 / 1e6,
        stats.free_bytes as f64 / 1e6,
        stats.raw.bytes as f64 / 1e6,
        stats.minute.bytes as f64 / 1e6,
        stats.hour.bytes as f64 / 1e6,
        in_use as f64 / 1e6
    );
    (
        samples,
        in_use,
        stats.raw.bytes,
        seal_wall,
        seal_cpu,
        ingest,
    )
}

/// Part 2 for Prometheus: the same hour sent to a fresh Prometheus, oldest first (every host
/// of a tick before the next tick, 4 connections at a time), then its head written to a block
/// by a TSDB snapshot. Returns (samples, block bytes, chunk bytes, send s).
fn full_hour_prometheus(dir: &Path, senders: usize) -> (u64, u64, u64, f64) {
    let prometheus = start_prometheus(dir, senders);
    let end = now_ms() / HOUR_MS * HOUR_MS;
    let start = end - HOUR_MS;
    let workers = 4;
    let t = Instant::now();
    let threads: Vec<_> = (0..workers)
        .map(|w| {
            let addr = prometheus.addr;
            let barrier_hosts: Vec<usize> = (w..senders).step_by(workers).collect();
            std::thread::spawn(move || {
                let mut hosts: Vec<(usize, Host)> = barrier_hosts
                    .iter()
                    .map(|&i| (i, Host::new(i, &format!("host-{i:03}"))))
                    .collect();
                for k in 0..(HOUR_MS / INTERVAL_MS) {
                    for (i, host) in &mut hosts {
                        let at_ms =
                            start + k * INTERVAL_MS + INTERVAL_MS * *i as i64 / senders as i64;
                        host.tick(INTERVAL_MS as f64 / 1000.0, at_ms);
                        let status = post_write(addr, None, &host.request(at_ms)).unwrap();
                        assert!((200..300).contains(&status), "prometheus: {status}");
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let send = t.elapsed().as_secs_f64();
    let (samples, chunks, total) = prometheus_snapshot(&prometheus, dir);
    (samples, total, chunks, send)
}

/// Prometheus' head written to a block (`/api/v1/admin/tsdb/snapshot`): (samples, chunk
/// bytes, block bytes) of the snapshot's blocks.
fn prometheus_snapshot(prometheus: &Target, dir: &Path) -> (u64, u64, u64) {
    let (status, body) = http(
        prometheus.addr,
        &format!(
            "POST /api/v1/admin/tsdb/snapshot HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            prometheus.addr
        ),
        b"",
    )
    .expect("snapshot");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let name = answer["data"]["name"].as_str().unwrap_or_default();
    let snap = dir.join("tsdb/snapshots").join(name);
    let (mut samples, mut chunks, mut total) = (0u64, 0u64, 0u64);
    for block in std::fs::read_dir(&snap).unwrap().flatten() {
        let meta: serde_json::Value = serde_json::from_slice(
            &std::fs::read(block.path().join("meta.json")).unwrap_or_default(),
        )
        .unwrap_or_default();
        samples += meta["stats"]["numSamples"].as_u64().unwrap_or(0);
        chunks += dir_bytes(&block.path().join("chunks"));
        total += dir_bytes(&block.path());
    }
    (samples, chunks, total)
}

const CPU_30D: &str = "/api/v1/series?name=node_cpu_seconds_total&host=host-000&from=-30d";
const CPU_30D_ONE: &str =
    "/api/v1/series?name=node_cpu_seconds_total&host=host-000&cpu=0&mode=user&from=-30d";

fn main() {
    let seconds = env_num("LOOKOUT_BENCH_SECONDS", 600);
    let warmup = env_num("LOOKOUT_BENCH_WARMUP", 30);
    let senders = env_num("LOOKOUT_BENCH_SENDERS", 100) as usize;
    let seed_days = env_num("LOOKOUT_BENCH_SEED_DAYS", 30) as i64;
    let targets = std::env::var("LOOKOUT_BENCH_TARGETS").unwrap_or("hub,prometheus".into());
    let (with_hub, with_prometheus) = (targets.contains("hub"), targets.contains("prometheus"));
    let only_hour = env_num("LOOKOUT_BENCH_ONLY_HOUR", 0) == 1;
    let tmp = tempfile::Builder::new()
        .prefix("lookout-receive-load")
        .tempdir_in(std::env::var_os("LOOKOUT_BENCH_DIR").unwrap_or("/var/tmp".into()))
        .unwrap();
    let dir = tmp.path();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "receive_load: {senders} senders × {SERIES} series every {} s, {seconds} s measured after {warmup} s; targets {targets}; load {}",
        INTERVAL_MS / 1000,
        loadavg()
    );
    let sample = Host::new(0, "host-000").request(now_ms());
    println!(
        "  one request: {} bytes snappy'd, {} bytes protobuf",
        sample.len(),
        snap::raw::decompress_len(&sample).unwrap()
    );

    if only_hour {
        part2(dir, senders, with_hub, with_prometheus, &runtime);
        return;
    }

    // The hub: history, tokens, then the daemon.
    let hub_dir = dir.join("hub");
    std::fs::create_dir_all(hub_dir.join("data")).unwrap();
    let config = hub_config(&hub_dir);
    let mut before = (0, 0, 0, 0.0);
    let mut hub = None;
    let mut backfill_token = None;
    if with_hub {
        let data = hub_dir.join("data");
        if let Some(from) = std::env::var_os("LOOKOUT_BENCH_SEED_FROM") {
            std::fs::copy(Path::new(&from).join("lookout.db"), data.join("lookout.db"))
                .expect("LOOKOUT_BENCH_SEED_FROM/lookout.db");
            println!("  history: reused {}", Path::new(&from).display());
        } else if seed_days > 0 {
            let t = Instant::now();
            let n = runtime.block_on(seed_cpu_history(&data, seed_days));
            println!(
                "  history: {seed_days} days of host-000's CPU ({n} samples) seeded in {:.0} s",
                t.elapsed().as_secs_f64()
            );
            if let Some(keep) = std::env::var_os("LOOKOUT_BENCH_SEED_KEEP") {
                std::fs::create_dir_all(&keep).unwrap();
                std::fs::copy(data.join("lookout.db"), Path::new(&keep).join("lookout.db"))
                    .unwrap();
            }
        }
        let t = Instant::now();
        let tokens: Vec<Option<String>> = (0..senders)
            .map(|i| Some(token(&config, "agent", &format!("host-{i:03}"))))
            .collect();
        backfill_token = Some(token(&config, "agent", "backfill-1"));
        let _ = VIEWER.set(token(&config, "viewer", "bench"));
        println!(
            "  {} agent tokens in {:.1} s",
            senders + 1,
            t.elapsed().as_secs_f64()
        );
        before = runtime.block_on(store_figures(&data, now_ms(), false));
        hub = Some(start_hub(&config, tokens));
    }
    let prometheus = with_prometheus.then(|| start_prometheus(&dir.join("prometheus"), senders));
    let targets: Vec<&Target> = hub.iter().chain(prometheus.iter()).collect();

    // The load, on every target at once.
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let start_ms = now_ms();
    let threads: Vec<Vec<_>> = targets
        .iter()
        .map(|t| run_senders(t.addr, &t.tokens, start_ms, started, stop.clone()))
        .collect();
    let rss_stop = Arc::new(AtomicBool::new(false));
    let rss: Vec<_> = targets
        .iter()
        .map(|t| sample_rss(t.pid(), rss_stop.clone()))
        .collect();
    std::thread::sleep(Duration::from_secs(warmup));
    let window_start = Instant::now();
    let cpu_before: Vec<f64> = targets.iter().map(|t| cpu_seconds(t.pid())).collect();
    let machine_before = machine_jiffies();
    let self_before = self_cpu_seconds();
    let load_start = loadavg();
    // Queries of the seeded host's CPU during the load, every 30 s.
    let mut during: Vec<f64> = Vec::new();
    let mut during_one: Vec<f64> = Vec::new();
    let mut shape = (0, 0);
    while window_start.elapsed() < Duration::from_secs(seconds) {
        let next = window_start.elapsed() + Duration::from_secs(30);
        if let Some(hub) = &hub
            && (seed_days > 0 || std::env::var_os("LOOKOUT_BENCH_SEED_FROM").is_some())
        {
            let (ms, s, p) = query(hub.addr, CPU_30D);
            during.push(ms);
            shape = (s, p);
            during_one.push(query(hub.addr, CPU_30D_ONE).0);
        }
        let left = Duration::from_secs(seconds).saturating_sub(window_start.elapsed());
        std::thread::sleep(next.saturating_sub(window_start.elapsed()).min(left));
    }
    let wall = window_start.elapsed().as_secs_f64();
    let cpu_after: Vec<f64> = targets.iter().map(|t| cpu_seconds(t.pid())).collect();
    let machine_after = machine_jiffies();
    let self_after = self_cpu_seconds();
    let load_end = loadavg();
    let window_end = Instant::now();
    let hwm: Vec<u64> = targets
        .iter()
        .map(|t| status_kb(t.pid(), "VmHWM"))
        .collect();

    // The backfill: one more agent's hour, while the load goes on.
    let mut backfill = None;
    if let (Some(hub), Some(token)) = (&hub, &backfill_token) {
        let mut host = Host::new(senders + 1, "backfill-1");
        let end = now_ms() / INTERVAL_MS * INTERVAL_MS;
        let mut batcher = Batcher::new(AGENT_BATCH);
        for k in (0..360).rev() {
            let at_ms = end - k * INTERVAL_MS;
            host.tick(INTERVAL_MS as f64 / 1000.0, at_ms);
            for s in &host.series {
                batcher.push(LabelledSample {
                    labels: s.labels.clone(),
                    at_ms,
                    value: s.value,
                });
            }
        }
        let bodies: Vec<Vec<u8>> = batcher.take_all().iter().map(|b| b.encode()).collect();
        let bytes: usize = bodies.iter().map(Vec::len).sum();
        let t = Instant::now();
        let mut worst: f64 = 0.0;
        for body in &bodies {
            let r = Instant::now();
            // As the agent's sender: a retryable answer is sent again after a pause.
            loop {
                match post_write(hub.addr, Some(token), body) {
                    Ok(s) if (200..300).contains(&s) => break,
                    Ok(s) if s == 429 || s >= 500 => std::thread::sleep(Duration::from_millis(500)),
                    other => panic!("backfill refused: {other:?}"),
                }
            }
            worst = worst.max(r.elapsed().as_secs_f64() * 1000.0);
        }
        backfill = Some((bodies.len(), bytes, t.elapsed().as_secs_f64(), worst));
    }

    stop.store(true, Ordering::Relaxed);
    let sent: Vec<Sent> = threads
        .into_iter()
        .map(|handles| {
            let mut all = Sent::default();
            for h in handles {
                let s = h.join().unwrap();
                all.ok.extend(s.ok);
                all.failed.extend(s.failed);
                all.late += s.late;
            }
            all
        })
        .collect();
    rss_stop.store(true, Ordering::Relaxed);
    let rss: Vec<Vec<(Instant, u64)>> = rss.into_iter().map(|h| h.join().unwrap()).collect();

    println!(
        "\nload: {wall:.0} s measured; machine busy {:.0} % of its {} cores; load average {load_start} -> {load_end}; load generator {:.1} % of a core",
        (machine_after.0 - machine_before.0) as f64 * 100.0
            / (machine_after.1 - machine_before.1).max(1) as f64,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        (self_after - self_before) * 100.0 / wall
    );
    for (i, t) in targets.iter().enumerate() {
        let in_window = |at: &Instant| *at >= window_start && *at < window_end;
        let mut lat: Vec<f64> = sent[i]
            .ok
            .iter()
            .filter(|(at, _)| in_window(at))
            .map(|(_, ms)| *ms)
            .collect();
        lat.sort_by(f64::total_cmp);
        let failed: Vec<u16> = sent[i]
            .failed
            .iter()
            .filter(|(at, _)| in_window(at))
            .map(|(_, s)| *s)
            .collect();
        let rss_in: Vec<u64> = rss[i]
            .iter()
            .filter(|(at, _)| *at <= window_end)
            .map(|(_, kb)| *kb)
            .collect();
        println!(
            "{:>10}: CPU {:.1} % of one core; RSS peak {:.0} MB (VmHWM {:.0} MB), end {:.0} MB; \
             {} requests ({:.0} samples/s), latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
             {} failed {:?}; {} ticks skipped (sender behind)",
            t.name,
            (cpu_after[i] - cpu_before[i]) * 100.0 / wall,
            rss_in.iter().max().copied().unwrap_or(0) as f64 / 1024.0,
            hwm[i] as f64 / 1024.0,
            rss_in.last().copied().unwrap_or(0) as f64 / 1024.0,
            lat.len(),
            lat.len() as f64 * SERIES as f64 / wall,
            quantile(&lat, 0.5),
            quantile(&lat, 0.99),
            quantile(&lat, 1.0),
            failed.len(),
            &failed[..failed.len().min(5)],
            sent[i].late,
        );
    }
    if !during.is_empty() {
        let mut all = during.clone();
        all.sort_by(f64::total_cmp);
        let mut one = during_one.clone();
        one.sort_by(f64::total_cmp);
        println!(
            "       hub: 30-day query of host-000's CPU ({} series, {} points) during the load: median {:.1} ms, max {:.1} ms, last {:.1} ms (each: {:?}); one series: median {:.1} ms, max {:.1} ms",
            shape.0,
            shape.1,
            quantile(&all, 0.5),
            quantile(&all, 1.0),
            during.last().unwrap(),
            during.iter().map(|v| v.round() as i64).collect::<Vec<_>>(),
            quantile(&one, 0.5),
            quantile(&one, 1.0),
        );
    }
    if let Some((requests, bytes, secs, worst)) = backfill {
        println!(
            "       hub: backfill of 1 h (360 × {SERIES} samples) in {requests} requests of ≤ {AGENT_BATCH} samples ({bytes} bytes): {secs:.1} s, slowest request {worst:.0} ms (under the load)"
        );
    }

    // After the load: queries on a quiet hub, then sealing and bytes per sample.
    if let Some(mut hub) = hub {
        std::thread::sleep(Duration::from_secs(12)); // the store's flush
        let (_, s, p) = query(
            hub.addr,
            "/api/v1/series?name=node_network_receive_bytes_total&host=backfill-1&device=eth0&from=-2h",
        );
        println!(
            "       hub: backfilled eth0 receive bytes: {s} series, {p} points (expect 1, 360)"
        );
        if seed_days > 0 || std::env::var_os("LOOKOUT_BENCH_SEED_FROM").is_some() {
            let mut quiet: Vec<f64> = (0..20).map(|_| query(hub.addr, CPU_30D).0).collect();
            quiet.sort_by(f64::total_cmp);
            let mut one: Vec<f64> = (0..20).map(|_| query(hub.addr, CPU_30D_ONE).0).collect();
            one.sort_by(f64::total_cmp);
            println!(
                "       hub: the same after the load (20 each): median {:.1} ms, p95 {:.1} ms; one series median {:.1} ms, p95 {:.1} ms",
                quantile(&quiet, 0.5),
                quantile(&quiet, 0.95),
                quantile(&one, 0.5),
                quantile(&one, 0.95)
            );
        }
        unsafe { libc::kill(hub.child.id() as i32, libc::SIGTERM) };
        let _ = hub.child.wait();
        let unsealed = runtime.block_on(store_figures(&hub_dir.join("data"), now_ms(), false));
        let cpu_t = self_cpu_seconds();
        let after = runtime.block_on(store_figures(
            &hub_dir.join("data"),
            now_ms() + 2 * HOUR_MS,
            true,
        ));
        let seal_cpu = self_cpu_seconds() - cpu_t;
        let samples = after.1 - before.1;
        println!(
            "       hub: on disk before sealing {:.1} MB in use for {} new samples ({:.2} B/sample, head rows)",
            (unsealed.0 - before.0) as f64 / 1e6,
            unsealed.1 - before.1,
            (unsealed.0 - before.0) as f64 / (unsealed.1 - before.1).max(1) as f64
        );
        println!(
            "       hub: after sealing {:.1} MB in use for {samples} samples: {:.3} B/sample (file, rollups and series included); chunks alone {:.3} B/sample; sealing took {:.1} s wall, {seal_cpu:.1} s CPU",
            (after.0 - before.0) as f64 / 1e6,
            (after.0 - before.0) as f64 / samples.max(1) as f64,
            (after.2 - before.2) as f64 / samples.max(1) as f64,
            after.3
        );
    }
    if let Some(prometheus) = &prometheus {
        let tsdb = dir.join("prometheus/tsdb");
        let before = dir_bytes(&tsdb);
        let (samples, chunks, total) = prometheus_snapshot(prometheus, &dir.join("prometheus"));
        println!(
            "prometheus: head written to a block (TSDB snapshot): {:.1} MB for {samples} samples: {:.3} B/sample (index included); chunks alone {:.3} B/sample; the tsdb dir (WAL) before it {:.1} MB",
            total as f64 / 1e6,
            total as f64 / samples.max(1) as f64,
            chunks as f64 / samples.max(1) as f64,
            before as f64 / 1e6,
        );
    }
    drop(prometheus);

    part2(dir, senders, with_hub, with_prometheus, &runtime);
}

/// Part 2: a full hour, sealed.
fn part2(
    dir: &Path,
    senders: usize,
    with_hub: bool,
    with_prometheus: bool,
    runtime: &tokio::runtime::Runtime,
) {
    if env_num("LOOKOUT_BENCH_HOUR", 1) == 1 {
        println!(
            "\npart 2: the previous whole hour of {senders} hosts ({} samples), sealed",
            senders as u64 * 360 * SERIES as u64
        );
        if with_hub {
            let data = dir.join("hour-store");
            let (samples, bytes, raw, seal_wall, seal_cpu, ingest) =
                runtime.block_on(full_hour_store(&data, senders));
            println!(
                "       hub store: {samples} samples ingested and flushed in {ingest:.0} s; sealed in {seal_wall:.1} s wall, {seal_cpu:.1} s CPU; {:.1} MB in use: {:.3} B/sample (series, rollups, indexes included); chunks alone {:.3} B/sample",
                bytes as f64 / 1e6,
                bytes as f64 / samples.max(1) as f64,
                raw as f64 / samples.max(1) as f64,
            );
            let _ = std::fs::remove_dir_all(&data);
        }
        if with_prometheus {
            let (samples, total, chunks, send) =
                full_hour_prometheus(&dir.join("prometheus-hour"), senders);
            println!(
                "prometheus: the hour sent in {send:.0} s; its block: {:.1} MB for {samples} samples: {:.3} B/sample (index included); chunks alone {:.3} B/sample",
                total as f64 / 1e6,
                total as f64 / samples.max(1) as f64,
                chunks as f64 / samples.max(1) as f64,
            );
        }
    }
}
