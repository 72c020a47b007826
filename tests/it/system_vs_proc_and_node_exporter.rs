//! The system probe against two references on this machine: `/proc` read directly, and the real
//! node_exporter (Debian's `prometheus-node-exporter`), which the test starts on a free port,
//! scrapes, and compares with the probe's reading taken right after.
//!
//! node_exporter is required: when it is missing the test fails and says how to install it
//! (`.ci/install-node-exporter`), it does not pass silently.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lookout::config::{NameFilter, SystemConfig, SystemThresholds};
use lookout::model::Observation;
use lookout::probes::Probe;
use lookout::probes::system::SystemProbe;
use regex::Regex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
const MIB: f64 = 1024.0 * 1024.0;

fn anchored(pattern: &str) -> Vec<Regex> {
    vec![Regex::new(&format!("^(?:{pattern})$")).unwrap()]
}

/// The probe configured with node_exporter's default filesystem exclusions, so both report
/// the same mounts, and every network interface.
fn config_like_node_exporter() -> SystemConfig {
    SystemConfig {
        enabled: true,
        interval: Duration::from_secs(10),
        per_core: true,
        mountpoints: NameFilter {
            include: vec![],
            exclude: anchored(
                "/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/).*",
            ),
        },
        fs_types: NameFilter {
            include: vec![],
            exclude: anchored(
                "autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs\
                 |iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs\
                 |squashfs|sysfs|tracefs",
            ),
        },
        interfaces: NameFilter::default(),
        thresholds: SystemThresholds::default(),
    }
}

/// Our value of `name` with exactly these labels.
fn ours(obs: &Observation, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    obs.samples
        .iter()
        .find(|s| {
            s.series.name() == name
                && s.series.label_count() == labels.len()
                && labels.iter().all(|(k, v)| s.series.label(k) == Some(v))
        })
        .map(|s| s.value)
}

fn proc_field(file: &str, key: &str) -> u64 {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .find_map(|l| {
            let mut fields = l.split_whitespace();
            (fields.next()?.trim_end_matches(':') == key).then(|| fields.next()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("{key} not in {file}"))
}

#[tokio::test]
async fn agrees_with_proc_read_directly() {
    let _machine = crate::common::machine::shared();
    let mut probe = SystemProbe::new(&config_like_node_exporter());
    let obs = probe.run(0).await;
    let get = |name: &str| ours(&obs, name, &[]).unwrap_or_else(|| panic!("no {name}"));

    assert_eq!(
        get("memory_total_bytes"),
        (proc_field("/proc/meminfo", "MemTotal") * 1024) as f64
    );
    assert_eq!(
        get("swap_total_bytes"),
        (proc_field("/proc/meminfo", "SwapTotal") * 1024) as f64
    );
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let cpu_lines = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    assert_eq!(get("cpus"), cpu_lines as f64);
    assert_eq!(
        get("boot_time_seconds"),
        proc_field("/proc/stat", "btime") as f64
    );

    let pids = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .count() as f64;
    assert!(
        (get("processes") - pids).abs() <= 20.0,
        "processes {} vs {pids} numeric dirs of /proc",
        get("processes")
    );

    let net_dev = std::fs::read_to_string("/proc/net/dev").unwrap();
    let mut interfaces: Vec<String> = net_dev
        .lines()
        .filter_map(|l| Some(l.split_once(':')?.0.trim().to_string()))
        .filter(|name| !name.contains(char::is_whitespace) && !name.contains('|'))
        .collect();
    interfaces.sort();
    let mut reported: Vec<String> = obs
        .samples
        .iter()
        .filter(|s| s.series.name() == "network_receive_bytes_total")
        .filter_map(|s| s.series.label("interface").map(str::to_string))
        .collect();
    reported.sort();
    assert_eq!(reported, interfaces);

    let busy = get("cpu_usage_ratio");
    assert!((0.0..=1.0).contains(&busy), "cpu_usage_ratio {busy}");
    let modes: f64 = obs
        .samples
        .iter()
        .filter(|s| s.series.name() == "cpu_mode_ratio")
        .map(|s| s.value)
        .sum();
    assert!((modes - 1.0).abs() < 1e-9, "mode ratios sum to {modes}");
    assert!(get("process_open_fds") >= 3.0);
    assert!(get("process_resident_memory_bytes") > 0.0);
    assert!(get("process_start_time_seconds") >= get("boot_time_seconds"));
    assert!(
        obs.checks.iter().any(|c| c.check == "disk:/"),
        "{:#?}",
        obs.checks
    );
}

#[tokio::test]
async fn agrees_with_node_exporter() {
    let _machine = crate::common::machine::shared();
    let exporter = NodeExporter::start();
    let mut probe = SystemProbe::new(&config_like_node_exporter());
    // The first run primes the CPU counters; compare on a second run, which reads at once.
    probe.run(0).await;

    let theirs = exporter.scrape().await;
    let obs = probe.run(1).await;
    let theirs_one = |name: &str| {
        theirs
            .iter()
            .find(|m| m.name == name && m.labels.is_empty())
            .unwrap_or_else(|| panic!("node_exporter has no {name}"))
            .value
    };
    let ours_one = |name: &str| ours(&obs, name, &[]).unwrap_or_else(|| panic!("no {name}"));
    let mut compared = Vec::new();

    // Memory: total is fixed; available moves with everything else running on the machine.
    assert_eq!(
        ours_one("memory_total_bytes"),
        theirs_one("node_memory_MemTotal_bytes")
    );
    let total = ours_one("memory_total_bytes");
    let available_tolerance = (total * 0.01).max(64.0 * MIB);
    let (a, b) = (
        ours_one("memory_available_bytes"),
        theirs_one("node_memory_MemAvailable_bytes"),
    );
    assert!(
        (a - b).abs() <= available_tolerance,
        "memory available: ours {a}, node_exporter {b}"
    );

    // Load and boot time.
    let (a, b) = (ours_one("load1"), theirs_one("node_load1"));
    assert!((a - b).abs() <= 0.5, "load1: ours {a}, node_exporter {b}");
    let (a, b) = (
        ours_one("boot_time_seconds"),
        theirs_one("node_boot_time_seconds"),
    );
    assert!(
        (a - b).abs() <= 1.0,
        "boot time: ours {a}, node_exporter {b}"
    );

    // CPU seconds per mode, node_exporter's per-CPU series summed.
    for mode in [
        "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
    ] {
        let summed: f64 = theirs
            .iter()
            .filter(|m| m.name == "node_cpu_seconds_total" && m.label("mode") == Some(mode))
            .map(|m| m.value)
            .sum();
        let a = ours(&obs, "cpu_seconds_total", &[("mode", mode)]).unwrap();
        assert!(
            (a - summed).abs() <= 2.0,
            "cpu seconds {mode}: ours {a}, node_exporter {summed}"
        );
        compared.push(format!("cpu_seconds_total{{mode={mode}}}"));
    }

    // Filesystems present in both, by mount point.
    for size in theirs
        .iter()
        .filter(|m| m.name == "node_filesystem_size_bytes")
    {
        let mountpoint = size.label("mountpoint").unwrap();
        let labels = [
            ("mountpoint", mountpoint),
            ("device", size.label("device").unwrap()),
            ("fstype", size.label("fstype").unwrap()),
        ];
        let Some(our_size) = ours(&obs, "filesystem_size_bytes", &labels) else {
            continue;
        };
        let their = |name: &str| {
            theirs
                .iter()
                .find(|m| m.name == name && m.label("mountpoint") == Some(mountpoint))
                .unwrap_or_else(|| panic!("node_exporter has no {name} for {mountpoint}"))
                .value
        };
        assert_eq!(our_size, size.value, "size of {mountpoint}");
        assert_eq!(
            ours(&obs, "filesystem_files", &labels).unwrap(),
            their("node_filesystem_files"),
            "inodes of {mountpoint}"
        );
        // Other processes write to the disk between the two readings.
        let a = ours(&obs, "filesystem_avail_bytes", &labels).unwrap();
        let b = their("node_filesystem_avail_bytes");
        assert!(
            (a - b).abs() <= 256.0 * MIB,
            "avail of {mountpoint}: ours {a}, node_exporter {b}"
        );
        let a = ours(&obs, "filesystem_files_free", &labels).unwrap();
        let b = their("node_filesystem_files_free");
        assert!(
            (a - b).abs() <= 10_000.0,
            "free inodes of {mountpoint}: ours {a}, node_exporter {b}"
        );
        compared.push(format!("filesystem {mountpoint}"));
    }
    assert!(
        compared.iter().any(|c| c == "filesystem /"),
        "no filesystem reported by both; compared {compared:?}"
    );

    // Network: ours is read after node_exporter's, so it is at least as large and not by much.
    let mut interfaces = 0;
    for theirs_rx in theirs
        .iter()
        .filter(|m| m.name == "node_network_receive_bytes_total")
    {
        let interface = theirs_rx.label("device").unwrap();
        for (our_name, their_name) in [
            (
                "network_receive_bytes_total",
                "node_network_receive_bytes_total",
            ),
            (
                "network_transmit_bytes_total",
                "node_network_transmit_bytes_total",
            ),
        ] {
            let b = theirs
                .iter()
                .find(|m| m.name == their_name && m.label("device") == Some(interface))
                .unwrap()
                .value;
            let a = ours(&obs, our_name, &[("interface", interface)])
                .unwrap_or_else(|| panic!("no {our_name} for {interface}"));
            assert!(
                a >= b && a - b <= 8.0 * MIB,
                "{our_name} {interface}: ours {a}, node_exporter {b}"
            );
        }
        interfaces += 1;
    }
    assert!(interfaces > 0, "node_exporter reported no interfaces");
}

/// One metric line of the Prometheus text format.
#[derive(Debug)]
struct Metric {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

impl Metric {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}

/// Just enough of the text exposition format for node_exporter's output: `name{k="v",...} value`.
fn parse_exposition(text: &str) -> Vec<Metric> {
    let mut metrics = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = line[..name_end].to_string();
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices();
            let mut key = String::new();
            let mut end = body.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '}' => {
                        end = i + 1;
                        break;
                    }
                    ',' => {}
                    '=' => {
                        chars.next(); // opening quote
                        let mut value = String::new();
                        while let Some((_, c)) = chars.next() {
                            match c {
                                '"' => break,
                                '\\' => match chars.next().map(|(_, c)| c) {
                                    Some('n') => value.push('\n'),
                                    Some(other) => value.push(other),
                                    None => {}
                                },
                                c => value.push(c),
                            }
                        }
                        labels.insert(std::mem::take(&mut key), value);
                    }
                    c => key.push(c),
                }
            }
            rest = &body[end..];
        }
        if let Some(Ok(value)) = rest.split_whitespace().next().map(str::parse::<f64>) {
            metrics.push(Metric {
                name,
                labels,
                value,
            });
        }
    }
    metrics
}

/// A node_exporter child process on a free local port, killed on drop.
struct NodeExporter {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl NodeExporter {
    fn start() -> NodeExporter {
        let binary = std::env::var("NODE_EXPORTER").unwrap_or_else(|_| NODE_EXPORTER.to_string());
        assert!(
            std::path::Path::new(&binary).exists(),
            "node_exporter not found at {binary}: this test compares Lookout's system probe with it. \
             Install it with `.ci/install-node-exporter` (apt-get install prometheus-node-exporter), \
             or point NODE_EXPORTER at a node_exporter binary."
        );
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("node_exporter.log");
        let child = Command::new(&binary)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // Only the collectors compared here: faster scrapes, quieter logs.
            .args([
                "--collector.disable-defaults",
                "--collector.cpu",
                "--collector.meminfo",
                "--collector.filesystem",
                "--collector.netdev",
                "--collector.loadavg",
                "--collector.stat",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        NodeExporter {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    /// GET /metrics, retrying for a few seconds while node_exporter starts.
    async fn scrape(&self) -> Vec<Metric> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout(Duration::from_secs(5), self.get_metrics()).await {
                Ok(Ok(body)) => return parse_exposition(&body),
                Ok(Err(_not_up_yet)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                outcome => panic!(
                    "node_exporter on port {} did not answer: {outcome:?}\nits log:\n{}",
                    self.port,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                ),
            }
        }
    }

    /// A bare HTTP/1.0 request: the server closes the connection after the body, with no
    /// chunking and no compression unless asked.
    async fn get_metrics(&self) -> std::io::Result<String> {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        let (head, body) = response
            .split_once("\r\n\r\n")
            .ok_or_else(|| std::io::Error::other("no end of headers"))?;
        if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
            return Err(std::io::Error::other(format!(
                "unexpected response: {head}"
            )));
        }
        Ok(body.to_string())
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn exposition_parser_reads_labels_with_escapes() {
    let _machine = crate::common::machine::shared();
    let metrics = parse_exposition(
        "# HELP x y\nnode_load1 1.37\nnode_fs{device=\"/dev/a\\\"b\",mountpoint=\"/\"} 2.7e+11\n",
    );
    assert_eq!(metrics.len(), 2);
    assert_eq!(metrics[0].name, "node_load1");
    assert_eq!(metrics[0].value, 1.37);
    assert_eq!(metrics[1].label("device"), Some("/dev/a\"b"));
    assert_eq!(metrics[1].label("mountpoint"), Some("/"));
    assert_eq!(metrics[1].value, 2.7e11);
}
