//! The system probe: CPU, memory, filesystems, disk I/O, network, host and Lookout's own
//! process, read straight from `/proc` and statvfs (Linux only), with the same meaning as
//! node_exporter's metrics so the two can be compared (see `tests/it/system_vs_proc_and_node_exporter.rs`).
//!
//! Each source file has a pure parser tested on fixture text; this file reads the files, keeps
//! the state between runs (previous CPU counters, hung mounts) and assembles the observation.
//! Nothing here fails: an unreadable file omits its samples (logged at debug), and a check whose
//! value cannot be read is `Unknown` with the reason ("lookout ran out of file descriptors"
//! when the file could not be opened for lack of one, counted for `lookout:self`).
//!
//! # Series
//! Names carry no prefix (the exporter adds `lookout_`). Units: bytes, seconds, ratios 0..=1.
//! `_total` series are counters since boot; everything else is a gauge.
//!
//! | series | labels | from |
//! |---|---|---|
//! | `cpu_usage_ratio` | | busy share since the last run: 1 - (idle + iowait) / total |
//! | `cpu_mode_ratio` | `mode` | share of each mode since the last run |
//! | `cpu_seconds_total` | `mode` | `/proc/stat`, summed over CPUs (= node_exporter's `node_cpu_seconds_total` summed over `cpu`; `user`/`nice` include guest time) |
//! | `cpu_core_usage_ratio` | `cpu` | per-CPU busy share, only with `system.per_core` |
//! | `cpus` | | CPUs online (`cpuN` lines) |
//! | `load1`, `load5`, `load15` | | `/proc/loadavg` |
//! | `memory_total_bytes`, `memory_available_bytes`, `memory_free_bytes`, `memory_buffers_bytes`, `memory_cached_bytes` | | `/proc/meminfo` |
//! | `memory_used_bytes`, `memory_usage_ratio` | | total - available, and that over total |
//! | `swap_total_bytes`, `swap_used_bytes` | | `/proc/meminfo` |
//! | `filesystem_size_bytes`, `filesystem_free_bytes`, `filesystem_avail_bytes`, `filesystem_files`, `filesystem_files_free` | `mountpoint`, `device`, `fstype` | statvfs; free includes root-reserved blocks, avail does not |
//! | `filesystem_used_bytes`, `filesystem_usage_ratio` | `mountpoint`, `device`, `fstype` | size - free; used / (used + avail), like `df` |
//! | `disk_read_bytes_total`, `disk_written_bytes_total`, `disk_reads_completed_total`, `disk_writes_completed_total`, `disk_io_time_seconds_total` | `device` | `/proc/diskstats`, for the devices behind the reported filesystems (`device` = kernel name: `vda`, `sda1`, `dm-0`) |
//! | `network_{receive,transmit}_{bytes,packets,errs,drop}_total` | `interface` | `/proc/net/dev` |
//! | `uptime_seconds`, `boot_time_seconds` | | `/proc/uptime`, `btime` of `/proc/stat` |
//! | `processes`, `procs_running`, `procs_blocked` | | numeric dirs of `/proc`; `/proc/stat` |
//! | `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`, `process_start_time_seconds` | | Lookout itself, `/proc/self` |
//!
//! Filesystems pass `system.filesystems` (mount point) and `system.fs_types`; a device mounted
//! twice (bind mounts included) is reported once, under its shortest mount point.
//! Interfaces pass `system.interfaces`.
//!
//! # Checks
//! `cpu` (`cpu_usage_ratio`), `memory` (`memory_usage_ratio`), `disk:<mountpoint>`
//! (`filesystem_usage_ratio`), against `system.thresholds`: at or above warning is Warning, at or
//! above critical is Critical. A filesystem whose statvfs does not answer within 2 s is skipped
//! from then on (until the stuck call returns) and reported as a Warning `disk:<mountpoint>`.
//!
//! CPU ratios need two readings: the first run reads `/proc/stat`, waits 250 ms and reads again,
//! so a one-shot collection already has them; later runs measure since the previous run.

mod cpu;
mod disk;
mod filesystem;
mod health;
mod host;
mod memory;
mod network;
mod process;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::UnixMillis;
use crate::config::SystemConfig;
use crate::model::{CheckResult, Observation, Sample, SeriesKey};
use crate::probes::{Probe, ProbeFuture};

use cpu::{CpuTracker, MODES, ProcStat, parse_proc_stat};
use filesystem::{FsOutcome, FsUsage, MountEntry, StatfsGuard};
use health::Limits;

/// The wait between the two `/proc/stat` readings of the very first run.
const FIRST_RUN_CPU_WINDOW: Duration = Duration::from_millis(250);
/// How long a statvfs may take before its mount is considered hung.
const STATFS_TIMEOUT: Duration = Duration::from_secs(2);

/// Reads the host's vital signs from `/proc`; see the module documentation for the series.
pub struct SystemProbe {
    config: SystemConfig,
    proc_root: PathBuf,
    ticks_per_second: f64,
    page_size_bytes: u64,
    first_run_cpu_window: Duration,
    cpu: CpuTracker,
    statfs: StatfsGuard,
}

impl SystemProbe {
    /// The probe of this host, reading `/proc`.
    pub fn new(config: &SystemConfig) -> SystemProbe {
        SystemProbe::with_proc_root(config, "/proc")
    }

    /// A probe reading `<proc_root>/stat`, `<proc_root>/self/mountinfo`, ... instead of `/proc`:
    /// for fixtures, or a host's procfs mounted elsewhere. statvfs still runs on the mount
    /// points as written in the mountinfo.
    pub fn with_proc_root(config: &SystemConfig, proc_root: impl Into<PathBuf>) -> SystemProbe {
        let ticks_per_second = sysconf_or(libc::_SC_CLK_TCK, 100) as f64;
        SystemProbe {
            config: config.clone(),
            proc_root: proc_root.into(),
            ticks_per_second,
            page_size_bytes: sysconf_or(libc::_SC_PAGESIZE, 4096),
            first_run_cpu_window: FIRST_RUN_CPU_WINDOW,
            cpu: CpuTracker::new(ticks_per_second),
            statfs: StatfsGuard::new(Arc::new(filesystem::statvfs), STATFS_TIMEOUT),
        }
    }

    async fn collect(&mut self, at_ms: UnixMillis) -> Observation {
        let mut out = SampleSink::default();
        let mut checks = Vec::new();

        let stat = self.read_proc_stat_for_cpu().await;
        checks.push(self.collect_cpu(&stat, &mut out, at_ms));
        let boot_time_seconds = stat.as_ref().ok().and_then(|s| s.boot_time_seconds);
        if let Ok(stat) = &stat {
            out.gauge_opt(
                "boot_time_seconds",
                stat.boot_time_seconds.map(|v| v as f64),
            );
            out.gauge_opt("procs_running", stat.procs_running.map(|v| v as f64));
            out.gauge_opt("procs_blocked", stat.procs_blocked.map(|v| v as f64));
        }

        checks.push(self.collect_memory(&mut out, at_ms));
        self.collect_host(&mut out);
        let mounts = self.selected_mounts();
        checks.extend(self.collect_filesystems(&mounts, &mut out, at_ms).await);
        self.collect_disk_io(&mounts, &mut out);
        self.collect_network(&mut out);
        self.collect_own_process(boot_time_seconds, &mut out);

        Observation {
            source: "system".to_string(),
            at_ms,
            samples: out.samples,
            checks,
        }
    }

    /// `/proc/stat`, and on the first run a second reading 250 ms after the first, so that the
    /// counters have an interval to compute ratios over.
    async fn read_proc_stat_for_cpu(&mut self) -> Result<ProcStat, String> {
        let mut stat = parse_proc_stat(&self.read_for_check("stat")?);
        if self.cpu.is_unprimed() && !stat.per_cpu.is_empty() {
            self.cpu.observe(&stat.per_cpu);
            tokio::time::sleep(self.first_run_cpu_window).await;
            stat = parse_proc_stat(&self.read_for_check("stat")?);
        }
        Ok(stat)
    }

    fn collect_cpu(
        &mut self,
        stat: &Result<ProcStat, String>,
        out: &mut SampleSink,
        at_ms: UnixMillis,
    ) -> CheckResult {
        let stat = match stat {
            Ok(stat) => stat,
            Err(reason) => {
                return health::unknown_check("cpu".into(), format!("cpu {reason}"), at_ms);
            }
        };
        if stat.per_cpu.is_empty() {
            let reason = "cpu usage unknown: no per-CPU lines in /proc/stat".to_string();
            return health::unknown_check("cpu".into(), reason, at_ms);
        }
        let reading = self.cpu.observe(&stat.per_cpu);
        out.gauge("cpus", reading.cpu_count as f64);
        for (mode, ticks) in MODES.iter().zip(reading.total.ticks) {
            out.push(
                SeriesKey::new("cpu_seconds_total").with("mode", *mode),
                ticks as f64 / self.ticks_per_second,
            );
        }
        if self.config.per_core {
            for (cpu, busy) in &reading.per_core_busy {
                out.push(
                    SeriesKey::new("cpu_core_usage_ratio").with("cpu", cpu.to_string()),
                    *busy,
                );
            }
        }
        let Some(usage) = reading.usage else {
            let reason = "cpu usage not measured this run: counters went back (reset) \
                          or the set of CPUs changed; measured again next run";
            return health::unknown_check("cpu".into(), reason.to_string(), at_ms);
        };
        out.gauge("cpu_usage_ratio", usage.busy);
        for (mode, ratio) in MODES.iter().zip(usage.modes) {
            out.push(SeriesKey::new("cpu_mode_ratio").with("mode", *mode), ratio);
        }
        let t = &self.config.thresholds;
        let limits = Limits {
            warning: t.cpu_warning,
            critical: t.cpu_critical,
        };
        health::usage_check("cpu".into(), "cpu", "busy", "", usage.busy, limits, at_ms)
    }

    fn collect_memory(&self, out: &mut SampleSink, at_ms: UnixMillis) -> CheckResult {
        let text = match self.read_for_check("meminfo") {
            Ok(text) => text,
            Err(reason) => {
                return health::unknown_check("memory".into(), format!("memory {reason}"), at_ms);
            }
        };
        let mem = memory::parse_meminfo(&text);
        let bytes = |v: Option<u64>| v.map(|b| b as f64);
        out.gauge_opt("memory_total_bytes", bytes(mem.total));
        out.gauge_opt("memory_available_bytes", bytes(mem.available_or_estimate()));
        out.gauge_opt("memory_used_bytes", bytes(mem.used()));
        out.gauge_opt("memory_usage_ratio", mem.usage_ratio());
        out.gauge_opt("memory_free_bytes", bytes(mem.free));
        out.gauge_opt("memory_buffers_bytes", bytes(mem.buffers));
        out.gauge_opt("memory_cached_bytes", bytes(mem.cached));
        out.gauge_opt("swap_total_bytes", bytes(mem.swap_total));
        out.gauge_opt("swap_used_bytes", bytes(mem.swap_used()));

        let Some(ratio) = mem.usage_ratio() else {
            let reason = "memory usage unknown: MemTotal or MemAvailable missing from meminfo";
            return health::unknown_check("memory".into(), reason.to_string(), at_ms);
        };
        let t = &self.config.thresholds;
        let limits = Limits {
            warning: t.memory_warning,
            critical: t.memory_critical,
        };
        health::usage_check("memory".into(), "memory", "used", "", ratio, limits, at_ms)
    }

    fn collect_host(&self, out: &mut SampleSink) {
        if let Some(load) = self.read("loadavg").and_then(|t| host::parse_loadavg(&t)) {
            out.gauge("load1", load.one);
            out.gauge("load5", load.five);
            out.gauge("load15", load.fifteen);
        }
        out.gauge_opt(
            "uptime_seconds",
            self.read("uptime").and_then(|t| host::parse_uptime(&t)),
        );
        match host::count_processes(&self.proc_root) {
            Ok(count) => out.gauge("processes", count as f64),
            Err(e) => log_unreadable(&self.proc_root, &e),
        }
    }

    fn selected_mounts(&self) -> Vec<MountEntry> {
        let Some(text) = self.read("self/mountinfo") else {
            return Vec::new();
        };
        filesystem::select_mounts(
            &filesystem::parse_mountinfo(&text),
            &self.config.mountpoints,
            &self.config.fs_types,
        )
    }

    async fn collect_filesystems(
        &mut self,
        mounts: &[MountEntry],
        out: &mut SampleSink,
        at_ms: UnixMillis,
    ) -> Vec<CheckResult> {
        let outcomes = self.statfs.stat_all(mounts).await;
        let t = &self.config.thresholds;
        let limits = Limits {
            warning: t.disk_warning,
            critical: t.disk_critical,
        };
        let timeout_text = humantime::format_duration(self.statfs.timeout()).to_string();
        let mut checks = Vec::with_capacity(mounts.len());
        for (mount, outcome) in mounts.iter().zip(outcomes) {
            let check_name = format!("disk:{}", mount.mountpoint);
            match outcome {
                FsOutcome::Usage(usage) => {
                    emit_filesystem(mount, &usage, out);
                    let check = match usage.usage_ratio() {
                        Some(ratio) => health::usage_check(
                            check_name,
                            &format!("disk {}", mount.mountpoint),
                            "used",
                            &format!(", {} free", health::human_bytes(usage.avail_bytes)),
                            ratio,
                            limits,
                            at_ms,
                        ),
                        // Nothing to fill (a pseudo filesystem the filters let through):
                        // healthy, but with no ratio to show.
                        None => health::empty_filesystem_check(&mount.mountpoint, at_ms),
                    };
                    checks.push(check);
                }
                FsOutcome::Failed(e) => {
                    tracing::debug!(mountpoint = %mount.mountpoint, error = %e, "statvfs failed");
                    let reason = format!("disk {} usage unknown: statvfs: {e}", mount.mountpoint);
                    checks.push(health::unknown_check(check_name, reason, at_ms));
                }
                FsOutcome::Stuck => {
                    checks.push(health::stuck_disk_check(
                        &mount.mountpoint,
                        &timeout_text,
                        at_ms,
                    ));
                }
            }
        }
        checks
    }

    fn collect_disk_io(&self, mounts: &[MountEntry], out: &mut SampleSink) {
        let Some(text) = self.read("diskstats") else {
            return;
        };
        let disks = disk::parse_diskstats(&text);
        for d in disk::backing_devices(mounts, &disks) {
            let key = |name: &str| SeriesKey::new(name).with("device", d.name.as_str());
            let sectors_to_bytes = |s: u64| s as f64 * disk::SECTOR_BYTES as f64;
            out.push(
                key("disk_read_bytes_total"),
                sectors_to_bytes(d.sectors_read),
            );
            out.push(
                key("disk_written_bytes_total"),
                sectors_to_bytes(d.sectors_written),
            );
            out.push(key("disk_reads_completed_total"), d.reads_completed as f64);
            out.push(
                key("disk_writes_completed_total"),
                d.writes_completed as f64,
            );
            out.push(
                key("disk_io_time_seconds_total"),
                d.io_time_ms as f64 / 1000.0,
            );
        }
    }

    fn collect_network(&self, out: &mut SampleSink) {
        let Some(text) = self.read("net/dev") else {
            return;
        };
        for dev in network::parse_net_dev(&text) {
            if !self.config.interfaces.allows(&dev.interface) {
                continue;
            }
            let counters = [
                ("network_receive_bytes_total", dev.receive_bytes),
                ("network_transmit_bytes_total", dev.transmit_bytes),
                ("network_receive_packets_total", dev.receive_packets),
                ("network_transmit_packets_total", dev.transmit_packets),
                ("network_receive_errs_total", dev.receive_errs),
                ("network_transmit_errs_total", dev.transmit_errs),
                ("network_receive_drop_total", dev.receive_drop),
                ("network_transmit_drop_total", dev.transmit_drop),
            ];
            for (name, value) in counters {
                out.push(
                    SeriesKey::new(name).with("interface", dev.interface.as_str()),
                    value as f64,
                );
            }
        }
    }

    fn collect_own_process(&self, boot_time_seconds: Option<u64>, out: &mut SampleSink) {
        if let Some(stat) = self
            .read("self/stat")
            .and_then(|t| process::parse_self_stat(&t))
        {
            let seconds = |ticks: u64| ticks as f64 / self.ticks_per_second;
            out.gauge(
                "process_cpu_seconds_total",
                seconds(stat.user_ticks.saturating_add(stat.system_ticks)),
            );
            out.gauge(
                "process_resident_memory_bytes",
                stat.resident_pages.saturating_mul(self.page_size_bytes) as f64,
            );
            out.gauge("process_virtual_memory_bytes", stat.virtual_bytes as f64);
            out.gauge_opt(
                "process_start_time_seconds",
                boot_time_seconds.map(|boot| boot as f64 + seconds(stat.start_ticks)),
            );
        }
        let fd_dir = self.proc_root.join("self/fd");
        match process::count_open_fds(&fd_dir) {
            Ok(count) => out.gauge("process_open_fds", count as f64),
            Err(e) => log_unreadable(&fd_dir, &e),
        }
    }

    /// A file under the proc root; `None` (logged at debug) when it cannot be read.
    fn read(&self, relative: &str) -> Option<String> {
        let path = self.proc_root.join(relative);
        // procfs files are generated in memory and answer in microseconds, so they are read
        // inline: a spawn_blocking per file would cost more than the read.
        std::fs::read_to_string(&path)
            .inspect_err(|e| log_unreadable(&path, e))
            .ok()
    }

    /// Like [`Self::read`], but keeps the reason for a check's Unknown detail.
    fn read_for_check(&self, relative: &str) -> Result<String, String> {
        let path = self.proc_root.join(relative);
        std::fs::read_to_string(&path).map_err(|e| {
            log_unreadable(&path, &e);
            let failed = format!("cannot read {}: {e}", path.display());
            if crate::fds::is_exhaustion(&e) {
                format!("usage unknown: {}", crate::fds::spoiled_detail(&failed))
            } else {
                format!("usage unknown: {failed}")
            }
        })
    }
}

impl Probe for SystemProbe {
    fn name(&self) -> &str {
        "system"
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    fn run(&mut self, at_ms: UnixMillis) -> ProbeFuture<'_> {
        Box::pin(self.collect(at_ms))
    }
}

fn emit_filesystem(mount: &MountEntry, usage: &FsUsage, out: &mut SampleSink) {
    let key = |name: &str| {
        SeriesKey::new(name)
            .with("mountpoint", mount.mountpoint.as_str())
            .with("device", mount.device.as_str())
            .with("fstype", mount.fstype.as_str())
    };
    out.push(key("filesystem_size_bytes"), usage.size_bytes as f64);
    out.push(key("filesystem_free_bytes"), usage.free_bytes as f64);
    out.push(key("filesystem_avail_bytes"), usage.avail_bytes as f64);
    out.push(key("filesystem_used_bytes"), usage.used_bytes() as f64);
    if let Some(ratio) = usage.usage_ratio() {
        out.push(key("filesystem_usage_ratio"), ratio);
    }
    out.push(key("filesystem_files"), usage.files as f64);
    out.push(key("filesystem_files_free"), usage.files_free as f64);
}

/// Logs a file that could not be read; one that could not be opened for lack of a descriptor
/// is counted for `lookout:self` (`fds`).
fn log_unreadable(path: &Path, error: &io::Error) {
    if crate::fds::is_exhaustion(error) {
        crate::fds::record_exhaustion();
    }
    tracing::debug!(path = %path.display(), error = %error, "cannot read; omitting its samples");
}

/// sysconf(3) for a positive constant, or `fallback` when the libc does not know it.
fn sysconf_or(name: libc::c_int, fallback: u64) -> u64 {
    // SAFETY: sysconf only reads its integer argument.
    let value = unsafe { libc::sysconf(name) };
    if value > 0 { value as u64 } else { fallback }
}

/// Collects the samples of one run; drops values that are not finite numbers.
#[derive(Default)]
struct SampleSink {
    samples: Vec<Sample>,
}

impl SampleSink {
    fn push(&mut self, series: SeriesKey, value: f64) {
        if value.is_finite() {
            self.samples.push(Sample {
                series: Arc::new(series),
                value,
            });
        }
    }

    fn gauge(&mut self, name: &str, value: f64) {
        self.push(SeriesKey::new(name), value);
    }

    fn gauge_opt(&mut self, name: &str, value: Option<f64>) {
        if let Some(value) = value {
            self.gauge(name, value);
        }
    }
}

#[cfg(test)]
mod tests;
