//! The daemon: wires the pipeline together and runs it until a signal says stop.
//!
//! probes --(scheduler)--> bus --> store writer      (history)
//!                             --> snapshot updater  (latest values, status-change events)
//!                             --> remote write      (queue in the store -> endpoints)
//!                             <-- web / exporter read the snapshot and the store
//!
//! `serve` holds the store and its alerting lease; the stages are components (`components`)
//! of one supervisor (`supervisor`): started in order, reloaded where a new config concerns
//! them, stopped in reverse order.
//! Also the one-shot runs used by cron mode (`lookout collect`, `lookout check`).
//! Signals: SIGTERM/SIGINT stop gracefully (drain the bus, flush); SIGHUP reloads the config,
//! swapping only a fully valid one.

mod alerting;
mod components;
mod connections;
mod consumers;
pub mod health;
pub mod heartbeat;
mod http;
pub mod lease;
mod maintenance;
pub mod own;
mod scheduler;
pub mod supervisor;
mod systemd;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::bus::{Bus, DEFAULT_CAPACITY};
use crate::clock::SharedClock;
use crate::config::{self, Config, ConfigError, ServerConfig};
use crate::exporter::{SelfMetrics, Snapshot};
use crate::model::{Event, EventKind, Observation};
use crate::notify::build_notifiers;
use crate::notify::outbox::{Backoff, Outbox};
use crate::probes;
use crate::store::{Store, StoreError, StoreOptions};
use crate::web;
use supervisor::Supervisor;

pub use scheduler::{Scheduler, next_tick, phase_offset};

/// Where the config comes from, plus command-line overrides; loaded again on SIGHUP.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    pub path: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
}

impl ConfigSource {
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut config = config::load(self.path.as_deref())?;
        if let Some(dir) = &self.data_dir {
            config.storage.path = dir.clone();
        }
        Ok(config)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error(
        "another Lookout ({}) evaluates and sends the alerts of {}; stop it, or give this one another --data-dir",
        lease::describe(.holder), .data_dir.display()
    )]
    Busy { holder: String, data_dir: PathBuf },
    #[error("{0}")]
    Tls(#[from] http::TlsError),
    #[error(
        "cannot listen on {addr}: {source}{hint}",
        hint = listen_hint(source)
    )]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

fn listen_hint(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => {
            "; another process (another Lookout?) holds that port: stop it, or set server.listen to a free address"
        }
        std::io::ErrorKind::PermissionDenied => {
            "; ports below 1024 need privileges: pick a port above 1024 in server.listen"
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "; that address is not on this machine: check server.listen"
        }
        _ => "",
    }
}

pub fn store_options(config: &Config) -> StoreOptions {
    StoreOptions {
        max_size: config.storage.max_size,
        retention: config.storage.retention,
        // Range-checked by the config (at most 100,000,000).
        max_buffered_samples: usize::try_from(config.storage.max_buffered_samples)
            .unwrap_or(usize::MAX),
        ..StoreOptions::default()
    }
}

fn lifecycle_event(clock: &SharedClock, kind: EventKind, message: impl Into<String>) -> Event {
    Event {
        at_ms: clock.now_ms(),
        kind,
        subject: "lookout".into(),
        message: message.into(),
    }
}

/// On the first start (no users yet), creates the user "admin" with a random password, never
/// logged and never stored in clear. On a terminal it is printed there; otherwise stderr is a
/// log (the journal, a file), so it goes to `initial-admin-password` in the data dir (0600),
/// which `lookout user passwd admin` removes.
async fn ensure_admin(store: &Store, data_dir: &std::path::Path) -> Result<(), StoreError> {
    if store.count_users().await? > 0 {
        return Ok(());
    }
    let password = web::auth::secret::random_password();
    let Ok(hash) = web::auth::secret::hash_password(&password) else {
        tracing::error!(
            "could not hash the first admin password; add a user with lookout user add"
        );
        return Ok(());
    };
    if !store
        .add_user("admin", crate::store::Role::Admin, &hash)
        .await?
    {
        return Ok(());
    }
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        // Plain stderr, not tracing: the password must never end up in a log file.
        eprintln!(
            "lookout: created user \"admin\" with password {password} — change it with lookout user passwd admin"
        );
        return Ok(());
    }
    let file = data_dir.join(INITIAL_ADMIN_PASSWORD_FILE);
    match write_private(&file, &format!("{password}\n")) {
        Ok(()) => tracing::warn!(
            "created user \"admin\"; its password is in {} (readable by this user only) — change it with lookout user passwd admin",
            file.display()
        ),
        Err(error) => tracing::error!(
            "created user \"admin\" but could not write its password to {}: {error}; set one with lookout user passwd admin",
            file.display()
        ),
    }
    Ok(())
}

/// Where the first start leaves the generated admin password when stderr is not a terminal.
pub const INITIAL_ADMIN_PASSWORD_FILE: &str = "initial-admin-password";

/// Writes `text` to a new file only its owner may read.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// Run `lookout serve` until SIGTERM/SIGINT.
///
/// Holds the store and its alerting lease (one evaluator per data dir) for the whole run;
/// everything else is a component of the supervisor (`components`), started in order,
/// reloaded on SIGHUP and stopped in reverse order.
pub async fn serve(source: ConfigSource, clock: SharedClock) -> Result<(), DaemonError> {
    // Installed first: SIGHUP's default action would kill a daemon that is still starting.
    let mut signals = Signals::new();
    // Before anything opens a descriptor: the soft limit (1,024 by default) up to the hard one.
    let fd_limits = raise_fd_limit();
    let config = source.load()?;
    // Before the store: a daemon refused its address (another one serves there) leaves no
    // data dir or empty store file behind.
    let listeners = components::Listeners::bind(&config.server)?;
    let store = Store::open(&config.storage.path, store_options(&config), clock.clone()).await?;
    let holder = lease::holder();
    if let Some(other) = store
        .acquire_lease(lease::ALERTING, &holder, lease::TTL_MS, lease::is_gone)
        .await?
    {
        store.close().await?;
        return Err(DaemonError::Busy {
            holder: other,
            data_dir: config.storage.path.clone(),
        });
    }
    let run = run(
        &mut signals,
        &source,
        listeners,
        config,
        &store,
        &holder,
        fd_limits,
        clock,
    )
    .await;
    if let Err(error) = store.release_lease(lease::ALERTING, &holder).await {
        tracing::warn!(%error, "could not release the alerting lease; it expires by itself");
    }
    store.close().await?;
    if run.is_ok() {
        tracing::info!("lookout stopped");
    }
    run
}

/// Starts the components, runs until a stop signal (reloading on SIGHUP), stops them.
#[allow(clippy::too_many_arguments)] // what `serve` set up before the store, and the store
async fn run(
    signals: &mut Signals,
    source: &ConfigSource,
    listeners: components::Listeners,
    mut config: Config,
    store: &Store,
    holder: &str,
    fd_limits: crate::fds::Limits,
    clock: SharedClock,
) -> Result<(), DaemonError> {
    use components::*;
    let mut supervisor = Supervisor::<Config>::default();
    // As reported (log, start event, systemd status): with port 0, the port the system gave.
    let (listen, metrics_listen) = listeners.addresses(&config.server);
    // After the TLS files and the port are known good: a start that fails creates no admin.
    let admin = ensure_admin(store, &config.storage.path).await;
    supervisor.check(admin).await?;
    let wiring = Wiring {
        store: store.clone(),
        bus: Bus::new(DEFAULT_CAPACITY),
        snapshot: Snapshot::new(),
        clock: clock.clone(),
        held: Arc::new(crate::notify::held::HeldOutbox::default()),
        outbox_wake: Arc::new(Notify::new()),
        mute: crate::maintenance::MaintenanceMute::default(),
        // Type=notify: ready once the listener is served (see below).
        systemd: Arc::new(systemd::Systemd::from_env()),
        lease_holder: holder.to_string(),
        started_at_ms: clock.now_ms(),
    };
    let (bus, snapshot, systemd) = (&wiring.bus, &wiring.snapshot, &wiring.systemd);
    let c = &config;
    supervisor.start(Health::start(c, &wiring)).await?;
    supervisor.start(Writer::start(c, &wiring)).await?;
    supervisor.start(SnapshotUpdater::start(c, &wiring)).await?;
    let metrics_page = supervisor
        .start(MetricsPageRefresh::start(c, &wiring))
        .await?;
    supervisor.start(OutboxWorker::start(c, &wiring)).await?;
    let alerting = supervisor.start(AlertLoop::start(c, &wiring)).await?;
    let maintenance = supervisor.start(MaintenanceLoop::start(c, &wiring)).await?;
    let remote_write = RemoteWriter::start(c, &wiring, &metrics_page);
    supervisor.start(remote_write).await?;
    let parts = WebParts {
        listeners,
        fd_limits,
        metrics_page,
        alerting,
        maintenance,
    };
    supervisor.start(Web::start(c, &wiring, parts)).await?;
    supervisor.start(Heartbeat::start(c, &wiring)).await?;
    supervisor.start(Probes::start(c, &wiring)).await?;
    tracing::info!(
        listen = %listen,
        data_dir = %config.storage.path.display(),
        config = %config.source.as_ref().map_or("embedded default".to_string(), |p| p.display().to_string()),
        "lookout started"
    );
    if let Some(addr) = metrics_listen {
        tracing::info!(metrics_listen = %addr, "serving /metrics on a second listener");
    }
    bus.publish_event(lifecycle_event(
        &clock,
        EventKind::Started,
        format!("version {} on {}", web::VERSION, listen),
    ));
    let serving = format!("serving on {listen}");
    systemd.ready(&serving);

    loop {
        match signals.next().await {
            Signal::Stop(name) => {
                tracing::info!(signal = name, "stopping: draining and flushing");
                systemd.stopping();
                break;
            }
            Signal::Reload => match reload_notified(systemd, source, &config) {
                Ok(new_config) => {
                    supervisor.reload(&config, &new_config).await;
                    config = new_config;
                    SelfMetrics::inc(&snapshot.self_metrics.reloads_total);
                    tracing::info!("configuration reloaded");
                    bus.publish_event(lifecycle_event(
                        &clock,
                        EventKind::Reloaded,
                        "configuration reloaded",
                    ));
                    systemd.ready(&serving);
                }
                Err(error) => {
                    SelfMetrics::inc(&snapshot.self_metrics.reload_failures_total);
                    for problem in error.to_string().lines() {
                        tracing::error!(
                            problem,
                            "reload rejected; still running on the previous configuration"
                        );
                    }
                    bus.publish_event(lifecycle_event(
                        &clock,
                        EventKind::ReloadFailed,
                        format!("reload rejected, previous configuration kept: {error}"),
                    ));
                    systemd.ready(&serving);
                }
            },
        }
    }
    supervisor.stop().await;
    Ok(())
}

/// The probes of the config, and the self probe, which watches this daemon's own pipeline
/// (so it exists only here, not in the one-shot runs of cron mode).
fn daemon_probes(
    config: &Config,
    snapshot: &Arc<Snapshot>,
    store: &Store,
) -> Vec<Box<dyn probes::Probe>> {
    let mut probes = probes::build_probes(config);
    probes.push(Box::new(own::OwnProbe::new(
        config,
        snapshot.clone(),
        store.clone(),
    )));
    probes
}

/// The outbox worker of one config's notifiers; replaced on reload.
struct OutboxTask {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl OutboxTask {
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(35), self.task).await;
    }
}

fn start_outbox(config: &Config, wiring: &components::Wiring) -> OutboxTask {
    let outbox = Outbox::new(
        wiring.store.clone(),
        build_notifiers(&config.notifiers),
        wiring.clock.clone(),
        config.alerts.dashboard_url.clone(),
    )
    .with_metrics(wiring.snapshot.notifications.clone())
    .with_held(wiring.held.clone())
    .with_backoff(Backoff {
        first: config.alerts.outbox_backoff,
        max: config.alerts.outbox_backoff_max,
    });
    let (stop, stop_rx) = watch::channel(false);
    OutboxTask {
        stop,
        task: tokio::spawn(outbox.run(wiring.outbox_wake.clone(), stop_rx)),
    }
}

/// `reload`, told to systemd (RELOADING=1; the caller says READY=1 when it is through).
fn reload_notified(
    systemd: &systemd::Systemd,
    source: &ConfigSource,
    current: &Config,
) -> Result<Config, ConfigError> {
    systemd.reloading();
    reload(source, current)
}

/// Load and validate the new config completely; report what cannot change without a restart.
fn reload(source: &ConfigSource, current: &Config) -> Result<Config, ConfigError> {
    let new_config = source.load()?;
    if new_config.server.listen != current.server.listen {
        tracing::warn!(
            old = %current.server.listen,
            new = %new_config.server.listen,
            "server.listen changes take effect at the next restart"
        );
    }
    let changed = changed_server_keys(&current.server, &new_config.server);
    if !changed.is_empty() {
        // Names only: some of these keys hold secrets.
        tracing::warn!(
            keys = %changed.join(", "),
            "server.* changes take effect at the next restart"
        );
    }
    if new_config.storage.path != current.storage.path
        || new_config.storage.max_size != current.storage.max_size
        || new_config.storage.retention != current.storage.retention
        || new_config.storage.flush_interval != current.storage.flush_interval
        || new_config.storage.max_buffered_samples != current.storage.max_buffered_samples
    {
        tracing::warn!("storage.* changes take effect at the next restart");
    }
    if new_config.log != current.log {
        tracing::warn!("log.* changes take effect at the next restart");
    }
    Ok(new_config)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; says what it got.
fn raise_fd_limit() -> crate::fds::Limits {
    let (limits, error) = crate::fds::raise_nofile_limit();
    match error {
        None => tracing::debug!(
            soft = limits.soft,
            hard = limits.hard,
            "file descriptor limit"
        ),
        Some(error) => tracing::warn!(
            %error,
            soft = limits.soft,
            hard = limits.hard,
            "cannot raise the file descriptor limit; web connections get a smaller share"
        ),
    }
    limits
}

/// The table of web connections: `server.max_connections`, lowered so that the descriptors
/// open now plus the reserve of `fds::connection_budget` stay free for the probes.
fn connection_table(
    server: &ServerConfig,
    limits: crate::fds::Limits,
) -> std::sync::Arc<connections::Connections> {
    // Unknown: assume the descriptors a daemon has open just after its start.
    let in_use = crate::fds::open_descriptors(std::path::Path::new("/proc/self/fd")).unwrap_or(64);
    let budget =
        crate::fds::connection_budget(limits.soft, in_use, u64::from(server.max_connections));
    let capacity = usize::try_from(budget).unwrap_or(usize::MAX);
    if budget < u64::from(server.max_connections) {
        tracing::warn!(
            max_connections = server.max_connections,
            capacity,
            fd_limit = limits.soft,
            fds_in_use = in_use,
            "the file descriptor limit leaves room for fewer web connections than \
             server.max_connections (raise LimitNOFILE= or ulimit -n)"
        );
    } else {
        tracing::debug!(capacity, fd_limit = limits.soft, "web connections");
    }
    connections::Connections::start(
        capacity,
        connections::Timeouts {
            header_read: server.header_read_timeout,
            tls_handshake: server.tls_handshake_timeout,
            idle: server.idle_timeout,
        },
    )
}

/// The `server` keys other than `listen` that differ: the listeners, TLS, sessions and
/// /metrics access are set up once, at start.
fn changed_server_keys(old: &ServerConfig, new: &ServerConfig) -> Vec<&'static str> {
    // Destructured so that a new server key fails to compile until it is listed here.
    let ServerConfig {
        listen: _,
        tls_cert: _,
        tls_key: _,
        insecure_http: _,
        session_idle_timeout: _,
        session_max_age: _,
        metrics_listen: _,
        metrics_token: _,
        metrics_basic_auth: _,
        metrics_refresh: _,
        trusted_proxies: _,
        header_read_timeout: _,
        tls_handshake_timeout: _,
        idle_timeout: _,
        max_connections: _,
    } = old;
    macro_rules! differing {
        ($($field:ident: $key:literal),* $(,)?) => {
            [$(($key, old.$field != new.$field)),*]
        };
    }
    differing!(
        tls_cert: "server.tls_cert",
        tls_key: "server.tls_key",
        insecure_http: "server.insecure_http",
        session_idle_timeout: "server.session_idle_timeout",
        session_max_age: "server.session_max_age",
        metrics_listen: "server.metrics_listen",
        metrics_token: "server.metrics_token",
        metrics_basic_auth: "server.metrics_user/metrics_password",
        metrics_refresh: "server.metrics_refresh",
        trusted_proxies: "server.trusted_proxies",
        header_read_timeout: "server.header_read_timeout",
        tls_handshake_timeout: "server.tls_handshake_timeout",
        idle_timeout: "server.idle_timeout",
        max_connections: "server.max_connections",
    )
    .into_iter()
    .filter_map(|(key, changed)| changed.then_some(key))
    .collect()
}

/// Run every probe once, concurrently, each bounded by its interval (cron mode).
pub async fn run_probes_once(config: &Config, clock: &SharedClock) -> Vec<Observation> {
    run_probes_once_with(config, clock, |_, _, _| {}).await
}

/// `run_probes_once`, calling `finished(probe, done, total)` as each probe ends (for a
/// progress bar). The observations keep the order of the probes.
pub async fn run_probes_once_with(
    config: &Config,
    clock: &SharedClock,
    mut finished: impl FnMut(&str, usize, usize),
) -> Vec<Observation> {
    let at_ms = clock.now_ms();
    let probes = probes::build_probes(config);
    let total = probes.len();
    let mut runs = tokio::task::JoinSet::new();
    for (index, mut probe) in probes.into_iter().enumerate() {
        runs.spawn(async move {
            let limit = probe.interval().max(Duration::from_secs(1));
            let name = probe.name().to_string();
            let observation = match tokio::time::timeout(limit, probe.run(at_ms)).await {
                Ok(observation) => Some(observation),
                Err(_) => {
                    tracing::warn!(probe = %name, "probe did not finish within its interval");
                    None
                }
            };
            (index, name, observation)
        });
    }
    let (mut done, mut count) = (Vec::new(), 0);
    while let Some(run) = runs.join_next().await {
        count += 1;
        if let Ok((index, name, observation)) = run {
            finished(&name, count, total);
            done.extend(observation.map(|o| (index, o)));
        }
    }
    done.sort_by_key(|(index, _)| *index);
    done.into_iter()
        .map(|(_, observation)| observation)
        .collect()
}

/// Store one-shot observations, and the status changes they imply, the way the daemon would:
/// while a maintenance period is open (the daemon recorded it), the results of the checks it
/// affects are marked "maintenance" first.
pub async fn record_once(
    store: &Store,
    observations: &mut [Observation],
    config: &Config,
    clock: &SharedClock,
) -> Result<(), StoreError> {
    if let Some(period) = store.open_period().await? {
        let mute = crate::maintenance::MaintenanceMute::default();
        mute.configure(
            config.maintenance.grace,
            crate::maintenance::affected_checks(config),
        );
        mute.start(period);
        for observation in observations.iter_mut() {
            mute.mark(observation);
        }
    }
    let snapshot = Snapshot::default();
    snapshot.seed_checks(store.latest_checks().await?);
    let mut events = Vec::new();
    for observation in observations.iter() {
        store.ingest(observation);
        events.extend(snapshot.apply(observation).iter().map(|c| c.to_event()));
    }
    store.flush().await?;
    for event in &events {
        store.record_event(event).await?;
    }
    let samples: usize = observations.iter().map(|o| o.samples.len()).sum();
    store
        .record_event(&lifecycle_event(
            clock,
            EventKind::Collected,
            format!("one-shot run: {samples} samples"),
        ))
        .await?;
    Ok(())
}

enum Signal {
    Stop(&'static str),
    Reload,
}

struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        let make = |kind| signal(kind).expect("installing a signal handler cannot fail on Unix");
        Signals {
            terminate: make(SignalKind::terminate()),
            interrupt: make(SignalKind::interrupt()),
            hangup: make(SignalKind::hangup()),
        }
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.terminate.recv() => Signal::Stop("SIGTERM"),
            _ = self.interrupt.recv() => Signal::Stop("SIGINT"),
            _ = self.hangup.recv() => Signal::Reload,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::maintenance::{Impact, Mode, Origin, Period};
    use crate::model::{CheckResult, Layer, Status};

    #[tokio::test]
    async fn cron_mode_marks_affected_checks_while_the_daemon_recorded_maintenance() {
        let dir = tempfile::tempdir().unwrap();
        let clock: SharedClock = ManualClock::new(1_000_000);
        let config = config::from_str(
            "[[check]]\nname = \"app\"\ntype = \"http\"\nurl = \"http://127.0.0.1:1/\"\n\
             [[check]]\nname = \"db\"\ntype = \"tcp\"\naddress = \"127.0.0.1:1\"\nlayer = \"database\"\n",
            "t.toml",
            &|_| None,
        )
        .unwrap();
        let store = Store::open(dir.path(), store_options(&config), clock.clone())
            .await
            .unwrap();
        store
            .save_period(&Period {
                id: 0,
                start_ms: 900_000,
                end_ms: None,
                planned_end_ms: None,
                mode: Mode::Normal,
                reason: "upgrade".into(),
                origin: Origin::Cli,
                planned: true,
                impact: Impact::default(),
                muted: Vec::new(),
            })
            .await
            .unwrap();
        let result = |check: &str, layer| CheckResult {
            check: check.into(),
            layer,
            status: Status::Critical,
            value: None,
            detail: "refused".into(),
            at_ms: 1_000_000,
            underlying: None,
        };
        let mut observations = vec![Observation {
            source: "checks".into(),
            at_ms: 1_000_000,
            samples: Vec::new(),
            checks: vec![
                result("app", Layer::Application),
                result("db", Layer::Database),
            ],
        }];
        record_once(&store, &mut observations, &config, &clock)
            .await
            .unwrap();
        let mut stored = store.latest_checks().await.unwrap();
        stored.sort_by(|a, b| a.check.cmp(&b.check));
        assert_eq!(
            stored
                .iter()
                .map(|c| (c.check.as_str(), c.status))
                .collect::<Vec<_>>(),
            [("app", Status::Maintenance), ("db", Status::Critical)]
        );
        assert_eq!(
            stored[0].detail,
            "maintenance (normal mode): critical refused"
        );
    }
}
