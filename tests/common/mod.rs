//! The shared fixtures of the integration tests (`tests/it`, and the benches that include
//! this file as `common`): running the real `lookout` binary (`lookout`, `run`, `Daemon`),
//! collecting its logs for the secret check, tokens, minimal HTTP clients, and the peers in
//! the submodules (SMTP, Prometheus, TLS, the replay and disk-full harnesses), plus `machine`,
//! the lock that keeps the heavy tests apart from the others.
#![allow(dead_code)]

pub mod alerting;
pub mod disk_full;
pub mod https;
pub mod login_spray;
pub mod machine;
pub mod prometheus;
pub mod replay;
pub mod tls;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn lookout() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lookout"));
    command.env_remove("LOOKOUT_CONFIG").env_remove("RUST_LOG");
    command
}

pub fn run(args: &[&str], dir: &Path) -> Output {
    output(lookout().args(args).current_dir(dir))
}

/// Runs `command` (a `lookout ...`) to the end, like `Command::output`, and adds what it wrote
/// to stderr (its log and its error messages) to the collected logs (`collect_log`).
pub fn output(command: &mut Command) -> Output {
    let output = command.output().expect("run lookout");
    collect_log("cli", &text(&output.stderr));
    output
}

/// `child.wait_with_output()` for a `lookout ...` spawned with its stderr piped (to write its
/// stdin first): its stderr goes to the collected logs too.
pub fn finish(child: Child) -> Output {
    let output = child.wait_with_output().expect("wait for lookout");
    collect_log("cli", &text(&output.stderr));
    output
}

/// Where the logs of every Lookout that the tests run are collected, for
/// `.ci/check-log-secrets` (run by `.ci/run` after `cargo test`): `$LOOKOUT_TEST_LOG_DIR`.
/// Unset (a developer's `cargo test`), nothing is collected.
pub fn log_dir() -> Option<PathBuf> {
    std::env::var_os("LOOKOUT_TEST_LOG_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
}

/// Adds one process's log to the collection: `<test binary>-<pid>-<n>-<what>.log`.
pub fn collect_log(what: &str, log: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static SEQUENCE: AtomicUsize = AtomicUsize::new(0);
    let Some(dir) = log_dir() else {
        return;
    };
    if log.is_empty() {
        return;
    }
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "test".into());
    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("{binary}-{}-{n}-{what}.log", std::process::id()));
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, log))
        .unwrap_or_else(|e| panic!("cannot collect a log in {}: {e}", path.display()));
}

/// Registers `value` as a secret given to Lookout: `.ci/check-log-secrets` fails if any
/// collected log holds it. (Constants of `tests/*.rs` named like a secret, `*SECRET*`,
/// `*PASSWORD*`, `*TOKEN*`, are registered by the script itself; this is for values made at
/// run time, such as API tokens.) Returns `value`.
pub fn secret(value: &str) -> &str {
    let Some(dir) = log_dir() else {
        return value;
    };
    let appended = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("secrets.txt"))
            .and_then(|mut file| file.write_all(format!("{value}\n").as_bytes()))
    });
    appended.unwrap_or_else(|e| panic!("cannot register a secret in {}: {e}", dir.display()));
    value
}

/// The name libtest knows a test by (for `--exact`, when a test re-executes its own binary):
/// `module::function`, from the test module's `module_path!()` (`it::module`: the crate's
/// name is not part of it) and the function's name.
pub fn test_name(module_path: &str, function: &str) -> String {
    let module = module_path.split_once("::").map_or("", |(_, rest)| rest);
    if module.is_empty() {
        function.to_string()
    } else {
        format!("{module}::{function}")
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A config for a test daemon: its own port and data dir, fast system collection.
pub fn write_config(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let path = dir.join("lookout.toml");
    let body = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[storage]\npath = \"{}\"\nflush_interval = \"1s\"\n\n[system]\ninterval = \"1s\"\n{extra}",
        dir.join("data").display()
    );
    std::fs::write(&path, body).expect("write config");
    path
}

pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    /// Everything the daemon logged so far: read continuously, so a chatty daemon never
    /// blocks on a full pipe.
    log: std::sync::Arc<std::sync::Mutex<String>>,
    /// The thread reading stderr: done once the daemon is gone and everything is read.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Daemon {
    pub fn start(config: &Path, port: u16) -> Daemon {
        let mut command = lookout();
        command.args(["serve", "--config"]).arg(config);
        Daemon::spawn(command, port)
    }

    /// Spawns `command` (a `lookout serve ...`) and waits until it answers /healthz.
    pub fn spawn(mut command: Command, port: u16) -> Daemon {
        TOKENS
            .lock()
            .unwrap()
            .remove(&SocketAddr::from(([127, 0, 0, 1], port)));
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lookout serve");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut daemon = Daemon {
            child,
            addr,
            log,
            reader: Some(reader),
        };
        daemon.wait_until(Duration::from_secs(20), |d| {
            http_get(d.addr, "/healthz").is_some_and(|(status, _)| status == 200)
        });
        // The API needs credentials: an admin token for this daemon's store, sent by the
        // helpers of this module (`http_get`, `alerting::http`) to this address.
        let token = create_token(&command, "admin");
        secret(&token);
        TOKENS.lock().unwrap().insert(addr, token);
        daemon
    }

    pub fn wait_until(&mut self, limit: Duration, mut ready: impl FnMut(&Daemon) -> bool) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(200));
                panic!("lookout exited early with {status}: {}", self.log());
            }
            if ready(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("condition not met within {limit:?}");
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path).unwrap_or_else(|| panic!("GET {path} failed"))
    }

    pub fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    pub fn signal(&self, signal: i32) {
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill({signal})");
    }

    /// Send `signal` and wait for the exit; returns the exit code and everything logged.
    pub fn stop_with(mut self, signal: i32) -> (Option<i32>, String) {
        self.signal(signal);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // Let the reader thread take in the last lines.
                std::thread::sleep(Duration::from_millis(200));
                return (status.code(), self.log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "lookout did not stop within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its last lines, then the whole log to the collection (`collect_log`). A child of
        // the daemon still holding the pipe must not hang the test: wait 2 s at most.
        if let Some(reader) = self.reader.take() {
            let start = Instant::now();
            while !reader.is_finished() && start.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        collect_log("daemon", &self.log());
    }
}

/// The API token each test daemon's helpers send, by address.
static TOKENS: std::sync::Mutex<std::collections::BTreeMap<SocketAddr, String>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// `Authorization: Bearer ...\r\n` for the daemon at `addr`, or nothing.
pub fn auth_header(addr: SocketAddr) -> String {
    TOKENS
        .lock()
        .unwrap()
        .get(&addr)
        .map_or(String::new(), |token| {
            format!("Authorization: Bearer {token}\r\n")
        })
}

/// Creates an API token of `role` with `lookout token create`, against the store of the
/// `lookout serve` that `serve` runs (same --config, --data-dir and LOOKOUT_CONFIG).
pub fn create_token(serve: &Command, role: &str) -> String {
    let mut command = lookout();
    let args: Vec<_> = serve.get_args().map(|a| a.to_os_string()).collect();
    for pair in args.windows(2) {
        if pair[0] == "--config" || pair[0] == "--data-dir" {
            command.arg(&pair[0]).arg(&pair[1]);
        }
    }
    for (key, value) in serve.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    if let Some(dir) = serve.get_current_dir() {
        command.current_dir(dir);
    }
    let output = output(command.args(["token", "create", "--role", role, "--name", "tests"]));
    assert!(
        output.status.success(),
        "lookout token create: {}",
        text(&output.stderr)
    );
    text(&output.stdout).trim().to_string()
}

/// A minimal HTTP/1.0 GET: (status, body), or None if the server is not answering.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let auth = auth_header(addr);
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}\r\n").ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}
