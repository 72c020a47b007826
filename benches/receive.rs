//! The hub's remote-write receiver (`[receive]`, issue 19): latency of one request of 1,500
//! series (one sample each, a node_exporter-sized host) against the real `lookout serve`, and
//! the daemon's CPU per request (its whole pipeline: decode, bus, store, snapshot, alert loop),
//! less what it spends idle over as long. Run in debug, as the first figure asks:
//! `cargo test --bench receive` (≈ 1 min after the build); `cargo bench --bench receive` for
//! the release build.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lookout::exporter::remote_write::proto::{self, Label, Sample, TimeSeries, WriteRequest};

const SERIES: usize = 1_500;
const WARMUP: usize = 20;
const REQUESTS: usize = 200;
const LOOKOUT: &str = env!("CARGO_BIN_EXE_lookout");

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// 1,500 series shaped like a host's node_exporter: a few families, per-CPU and per-device
/// labels.
fn request(at_ms: i64) -> Vec<u8> {
    let label = |name: &str, value: String| Label {
        name: name.into(),
        value,
    };
    let families = [
        "node_cpu_seconds_total",
        "node_network_receive_bytes_total",
        "node_disk_read_bytes_total",
        "node_filesystem_avail_bytes",
        "node_memory_bytes",
    ];
    let timeseries = (0..SERIES)
        .map(|i| TimeSeries {
            labels: vec![
                label("__name__", families[i % families.len()].into()),
                label("device", format!("dev{}", i / families.len() % 30)),
                label("instance", "web-1:9100".into()),
                label("job", "node".into()),
                label("mode", format!("m{}", i / 150)),
            ],
            samples: vec![Sample {
                value: i as f64 * 1.5 + at_ms as f64 / 1e9,
                timestamp: at_ms,
            }],
        })
        .collect();
    proto::encode(&WriteRequest { timeseries })
}

fn post(addr: SocketAddr, token: &str, body: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /api/v1/write HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n\
         X-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lookout.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[storage]\npath = \"{}\"\n\n[receive]\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut daemon = Command::new(LOOKOUT)
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(daemon.stderr.take().unwrap()).lines();
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
    std::thread::spawn(move || for _ in lines {});
    let token = Command::new(LOOKOUT)
        .args(["token", "create", "--config"])
        .arg(&config)
        .args(["--role", "agent", "--name", "bench"])
        .output()
        .unwrap();
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let total = WARMUP + REQUESTS;
    let bodies: Vec<Vec<u8>> = (0..total)
        .map(|k| request(now - (total - k) as i64 * 10_000))
        .collect();
    println!(
        "receive: {REQUESTS} remote-write requests of {SERIES} series ({} bytes snappy'd, {} raw), debug build: {}",
        bodies[0].len(),
        snap::raw::decompress_len(&bodies[0]).unwrap(),
        cfg!(debug_assertions)
    );
    for body in &bodies[..WARMUP] {
        assert_eq!(post(addr, &token, body), 204);
    }
    std::thread::sleep(Duration::from_secs(3));
    // Idle CPU over as long as the measured run will take (estimated from the warm-up).
    let idle_for = Duration::from_secs(10);
    let before = cpu_seconds(daemon.id());
    std::thread::sleep(idle_for);
    let idle_per_s = (cpu_seconds(daemon.id()) - before) / idle_for.as_secs_f64();

    let before = cpu_seconds(daemon.id());
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(REQUESTS);
    for body in &bodies[WARMUP..] {
        let t = Instant::now();
        assert_eq!(post(addr, &token, body), 204);
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let wall = started.elapsed().as_secs_f64();
    // Let the consumers take in the last requests (store flush every 10 s included).
    std::thread::sleep(Duration::from_secs(11));
    let busy = cpu_seconds(daemon.id()) - before;
    let spent = busy - idle_per_s * (wall + 11.0);
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "latency ms: p50 {:.1}, p99 {:.1}, max {:.1}; {:.0} requests/s one at a time",
        at(0.5),
        at(0.99),
        at(1.0),
        REQUESTS as f64 / wall
    );
    println!(
        "daemon CPU: {:.1} ms per request ({:.1} µs per sample), {busy:.2} s in all, idle {:.1} ms/s",
        spent * 1000.0 / REQUESTS as f64,
        spent * 1e6 / (REQUESTS * SERIES) as f64,
        idle_per_s * 1000.0
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
}
