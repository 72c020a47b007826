//! The shared fixtures of the integration tests (`tests/it`, and the benches that include
//! this file as `common`): running the real `lookout` binary (`lookout`, `run`, `Daemon`),
//! collecting its logs for the secret check, tokens, minimal HTTP clients, and the peers in
//! the submodules (SMTP, Prometheus, TLS, the replay and disk-full harnesses), plus `machine`,
//! the lock that keeps the heavy tests apart from the others.
#![allow(dead_code)]

pub mod alerting;
pub mod browser;
pub mod checks;
pub mod cli;
pub mod disk_full;
pub mod docs;
pub mod https;
pub mod hub;
pub mod login_spray;
pub mod machine;
pub mod netns;
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

/// Reads the head of an HTTP request from `stream` (up to the empty line, byte by byte so
/// nothing of the body is taken): `None` if the stream ends or fails first.
pub fn read_request_head(stream: &mut impl Read) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// A new pseudo-terminal, `(columns, rows)` in size (`None`: none set): its master side
/// (close-on-exec: no child inherits it) and its slave side, for a child's terminal.
pub fn pty(size: Option<(u16, u16)>) -> std::io::Result<(std::fs::File, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let size = size.map(|(columns, rows)| libc::winsize {
        ws_row: rows,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    });
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two descriptors; no name, no termios, the size if any.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            size.as_ref()
                .map_or(std::ptr::null(), |size| size as *const _),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and ours alone.
    unsafe {
        libc::fcntl(master, libc::F_SETFD, libc::FD_CLOEXEC);
        Ok((
            std::fs::File::from_raw_fd(master),
            std::os::fd::OwnedFd::from_raw_fd(slave),
        ))
    }
}

/// A port free at the time of the call, for a server the tests start that cannot report the
/// port it bound (an external program: SMTP, Prometheus, PostgreSQL). It is released before
/// that server binds it, so another process may take it meanwhile: start such servers with
/// `with_free_port`, which retries on a new port. A Lookout daemon binds port 0 instead
/// (`write_config(dir, 0, ...)`) and reports the port it got (`Daemon::start`).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Starts a server on a free port (`free_port`), again on another port when `start` fails
/// (returns `Err`: the port was taken between the choice and the bind, or the server died):
/// up to 5 tries, then panics with the last error.
pub fn with_free_port<T>(what: &str, mut start: impl FnMut(u16) -> Result<T, String>) -> T {
    let mut errors = Vec::new();
    for _ in 0..5 {
        let port = free_port();
        match start(port) {
            Ok(server) => return server,
            Err(error) => errors.push(format!("port {port}: {error}")),
        }
    }
    panic!("{what} did not start on a free port: {}", errors.join("; "))
}

/// A config for a test daemon: its own data dir, fast system collection, and `listen` on
/// `port`: 0 (the usual choice) lets the daemon pick a free one, which `Daemon::start` reads.
pub fn write_config(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let path = dir.join("lookout.toml");
    let body = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[storage]\npath = \"{}\"\nflush_interval = \"1s\"\n\n[system]\ninterval = \"1s\"\n{extra}",
        dir.join("data").display()
    );
    std::fs::write(&path, body).expect("write config");
    path
}

/// The address `lookout serve` reports in its log once it listens (`lookout started
/// listen=ADDR`, text format: the tests' daemons log to stderr): with port 0 in its config,
/// the port the system gave it.
pub fn reported_address(log: &str) -> Option<SocketAddr> {
    log.lines()
        .filter(|line| line.contains("lookout started"))
        .find_map(|line| {
            line.split_whitespace()
                .find_map(|field| field.strip_prefix("listen="))
        })
        .and_then(|addr| addr.parse::<SocketAddr>().ok())
        // An older Lookout reported the configured address, port 0 included.
        .filter(|addr| addr.port() != 0)
}

pub struct Daemon {
    pub child: Child,
    /// Where it listens: the address it reported (see `reported_address`).
    pub addr: SocketAddr,
    /// Everything the daemon logged so far: read continuously, so a chatty daemon never
    /// blocks on a full pipe.
    log: std::sync::Arc<std::sync::Mutex<String>>,
    /// The thread reading stderr: done once the daemon is gone and everything is read.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Daemon {
    /// `lookout serve --config CONFIG`, up and answering (`spawn`).
    pub fn start(config: &Path) -> Daemon {
        let mut command = lookout();
        command.args(["serve", "--config"]).arg(config);
        Daemon::spawn(command)
    }

    /// `start`, or the daemon's log if it exited before it listened (e.g. its port was
    /// taken: for `with_free_port`).
    pub fn try_start(config: &Path) -> Result<Daemon, String> {
        let mut command = lookout();
        command.args(["serve", "--config"]).arg(config);
        Daemon::try_spawn(command)
    }

    /// Spawns `command` (a `lookout serve ...`) and waits until it answers /healthz at the
    /// address it reported; then gives the helpers of this module an admin token for it.
    pub fn spawn(command: Command) -> Daemon {
        Daemon::try_spawn(command).unwrap_or_else(|log| panic!("lookout exited early: {log}"))
    }

    /// `spawn`, or the daemon's log if it exited before it answered.
    pub fn try_spawn(command: Command) -> Result<Daemon, String> {
        Daemon::try_spawn_with(command, None)
    }

    /// `try_spawn` for a daemon whose log is not on stderr (`log.output = "file"`), so the
    /// fixtures cannot read its address there: it listens on `port`, written in its config
    /// up front (start it through `with_free_port`, which retries if the port was taken).
    pub fn try_spawn_at(command: Command, port: u16) -> Result<Daemon, String> {
        Daemon::try_spawn_with(command, Some(port))
    }

    fn try_spawn_with(mut command: Command, port: Option<u16>) -> Result<Daemon, String> {
        let mut daemon = Daemon::try_launch_with(&mut command, port)?;
        daemon.until_or_exit(|d| {
            http_get(d.addr, "/healthz").is_some_and(|(status, _)| status == 200)
        })?;
        // The API needs credentials: an admin token for this daemon's store, sent by the
        // helpers of this module (`http_get`, `alerting::http`) to this address.
        let token = create_token(&command, "admin");
        secret(&token);
        TOKENS.lock().unwrap().insert(daemon.addr, token);
        Ok(daemon)
    }

    /// Spawns `command` with its stderr collected, and waits until it reports the address it
    /// listens on (panics with its log if it exits first).
    pub fn launch(command: &mut Command) -> Daemon {
        Daemon::try_launch(command).unwrap_or_else(|log| panic!("lookout exited early: {log}"))
    }

    /// `launch`, or the daemon's log if it exited before it reported its address.
    pub fn try_launch(command: &mut Command) -> Result<Daemon, String> {
        Daemon::try_launch_with(command, None)
    }

    /// Spawns `command` with its stderr collected; its address is 127.0.0.1:`port`, or, for
    /// `None`, the one it reports.
    fn try_launch_with(command: &mut Command, port: Option<u16>) -> Result<Daemon, String> {
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
        let mut daemon = Daemon {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port.unwrap_or(0))),
            log,
            reader: Some(reader),
        };
        if port.is_none() {
            daemon.until_or_exit(|d| reported_address(&d.log()).is_some())?;
            daemon.addr = reported_address(&daemon.log()).expect("reported");
        }
        // A token of an earlier daemon on this address (a restart) is not this one's.
        TOKENS.lock().unwrap().remove(&daemon.addr);
        Ok(daemon)
    }

    /// Waits until `ready` (20 s at most, then panics); `Err` with the log if it exits first.
    fn until_or_exit(&mut self, mut ready: impl FnMut(&Daemon) -> bool) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if ready(self) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Its last lines.
                std::thread::sleep(Duration::from_millis(200));
                return Err(format!("exit {status}: {}", self.log()));
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "lookout not ready within 20 s: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Writes the address it listens on into `config` (`listen = "127.0.0.1:0"` becomes the
    /// real address), for the commands that find the daemon through the config (`doctor`)
    /// and for a restart on the same address.
    pub fn pin_listen(&self, config: &Path) {
        let text = std::fs::read_to_string(config).expect("read config");
        let pinned = text.replacen(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"{}\"", self.addr),
            1,
        );
        assert_ne!(
            pinned,
            text,
            "no `listen = \"127.0.0.1:0\"` in {}",
            config.display()
        );
        std::fs::write(config, pinned).expect("write config");
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
