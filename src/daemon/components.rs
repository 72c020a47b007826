//! The daemon's components, each a `supervisor::Component`: its constructor (what it takes
//! from the config and from the shared `Wiring`), what a reload changes in it, and how it
//! stops. `serve` starts them in this order (the supervisor stops them in reverse):
//!
//! health -> store writer -> snapshot -> metrics page -> outbox -> alert loop ->
//! maintenance loop -> remote write -> web -> heartbeat -> scheduler
//!
//! The consumers of the bus subscribe before the scheduler publishes; the web serves once
//! the alert board and the maintenance state are loaded; on a stop the scheduler goes first,
//! the alert and maintenance loops take in what it published, the outbox has one more go at
//! sending it, and the store writer drains the bus (the "stopped" event last) before the
//! store is closed.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::supervisor::{Component, Step};
use super::{DaemonError, OutboxTask, alerting, consumers, health, heartbeat, http, maintenance};
use super::{Scheduler, connection_table, daemon_probes, lifecycle_event, start_outbox};
use crate::alert::Engine;
use crate::bus::Bus;
use crate::clock::{SharedClock, UnixMillis};
use crate::config::{Config, ServerConfig};
use crate::exporter::remote_write::RemoteWrite;
use crate::exporter::{MetricsPage, Snapshot};
use crate::maintenance::MaintenanceMute;
use crate::model::EventKind;
use crate::notify::held::HeldOutbox;
use crate::store::Store;
use crate::web::handles::{AlertCommand, AlertingHandle, MaintenanceCommand, MaintenanceHandle};
use crate::web::{self, AppState};

use super::systemd::Systemd;

/// What the components share: the store, the bus and the handles every stage passes on.
#[derive(Clone)]
pub struct Wiring {
    pub store: Store,
    pub bus: Bus,
    pub snapshot: Arc<Snapshot>,
    pub clock: SharedClock,
    /// Notices the store could not take (a full disk), kept across reloads of the outbox.
    pub held: Arc<HeldOutbox>,
    /// Rings when the outbox has rows to send.
    pub outbox_wake: Arc<Notify>,
    /// Maintenance mutes the alerts it causes (the engine asks it) and marks the results of
    /// the checks it affects (the scheduler asks it before publishing).
    pub mute: MaintenanceMute,
    pub systemd: Arc<Systemd>,
    /// This process as the holder of the alerting lease.
    pub lease_holder: String,
    pub started_at_ms: UnixMillis,
}

/// A task told to stop through a watch channel.
struct Stoppable {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Stoppable {
    fn spawn<F>(run: impl FnOnce(watch::Receiver<bool>) -> F) -> Stoppable
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stop, stop_rx) = watch::channel(false);
        Stoppable {
            stop,
            task: tokio::spawn(run(stop_rx)),
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// `/healthz`'s verdict and the systemd watchdog, judged every second (`health`).
pub struct Health {
    bounds: watch::Sender<health::Bounds>,
    task: JoinHandle<()>,
}

impl Health {
    pub async fn start(config: &Config, wiring: &Wiring) -> Result<(Health, ()), DaemonError> {
        let (bounds, bounds_rx) = watch::channel(health::Bounds::new(config));
        let task = health::spawn(
            wiring.snapshot.clone(),
            wiring.store.clone(),
            wiring.held.clone(),
            wiring.clock.clone(),
            wiring.systemd.clone(),
            bounds_rx,
        );
        Ok((Health { bounds, task }, ()))
    }
}

impl Component<Config> for Health {
    fn name(&self) -> &'static str {
        "health"
    }
    fn changed(&self, old: &Config, new: &Config) -> bool {
        health::Bounds::new(old) != health::Bounds::new(new)
    }
    fn reload<'a>(&'a mut self, new: &'a Config) -> Step<'a> {
        Box::pin(async move {
            let _ = self.bounds.send(health::Bounds::new(new));
        })
    }
    fn stop(self: Box<Self>) -> Step<'static> {
        Box::pin(async move { self.task.abort() })
    }
}

/// The store writer: observations and events from the bus to the store (`consumers`).
pub struct Writer {
    task: Stoppable,
    bus: Bus,
    clock: SharedClock,
}

impl Writer {
    pub async fn start(config: &Config, wiring: &Wiring) -> Result<(Writer, ()), DaemonError> {
        let (subscription, store, snapshot) = (
            wiring.bus.subscribe(),
            wiring.store.clone(),
            wiring.snapshot.clone(),
        );
        let flush_interval = config.storage.flush_interval;
        let task = Stoppable::spawn(move |stop| {
            consumers::write_store(subscription, store, snapshot, flush_interval, stop)
        });
        let writer = Writer {
            task,
            bus: wiring.bus.clone(),
            clock: wiring.clock.clone(),
        };
        Ok((writer, ()))
    }
}

impl Component<Config> for Writer {
    fn name(&self) -> &'static str {
        "store writer"
    }
    /// The "stopped" event goes on the bus first: the last line the writer stores.
    fn stop(self: Box<Self>) -> Step<'static> {
        Box::pin(async move {
            self.bus.publish_event(lifecycle_event(
                &self.clock,
                EventKind::Stopped,
                "graceful stop",
            ));
            self.task.stop().await;
        })
    }
}

/// The snapshot updater: the latest values and checks, status changes as events.
pub struct SnapshotUpdater {
    task: Stoppable,
}

impl SnapshotUpdater {
    /// Seeds the snapshot with the last check results stored, then follows the bus.
    pub async fn start(
        config: &Config,
        wiring: &Wiring,
    ) -> Result<(SnapshotUpdater, ()), DaemonError> {
        match wiring.store.latest_checks().await {
            Ok(results) => wiring.snapshot.seed_checks(results),
            Err(error) => tracing::warn!(%error, "could not read the last check results"),
        }
        let (subscription, snapshot, bus, clock) = (
            wiring.bus.subscribe(),
            wiring.snapshot.clone(),
            wiring.bus.clone(),
            wiring.clock.clone(),
        );
        let stale_after = consumers::stale_after(config);
        let task = Stoppable::spawn(move |stop| {
            consumers::update_snapshot(subscription, snapshot, bus, clock, stale_after, stop)
        });
        Ok((SnapshotUpdater { task }, ()))
    }
}

impl Component<Config> for SnapshotUpdater {
    fn name(&self) -> &'static str {
        "snapshot"
    }
    fn stop(self: Box<Self>) -> Step<'static> {
        Box::pin(self.task.stop())
    }
}

/// /metrics as served, re-rendered every `server.metrics_refresh` while someone scrapes.
pub struct MetricsPageRefresh {
    task: Option<JoinHandle<()>>,
}

impl MetricsPageRefresh {
    pub async fn start(
        config: &Config,
        wiring: &Wiring,
    ) -> Result<(MetricsPageRefresh, Arc<MetricsPage>), DaemonError> {
        let metrics_page = MetricsPage::new(
            wiring.snapshot.clone(),
            web::VERSION,
            wiring.started_at_ms,
            wiring.clock.clone(),
            config.server.metrics_refresh,
        );
        let task = metrics_page.refresh_interval().map(|interval| {
            let page = metrics_page.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(interval);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    let page = page.clone();
                    // Milliseconds of CPU for a large page: kept off the async workers.
                    let _ = tokio::task::spawn_blocking(move || page.refresh()).await;
                }
            })
        });
        Ok((MetricsPageRefresh { task }, metrics_page))
    }
}

impl Component<Config> for MetricsPageRefresh {
    fn name(&self) -> &'static str {
        "metrics page"
    }
    fn stop(self: Box<Self>) -> Step<'static> {
        Box::pin(async move {
            if let Some(task) = self.task {
                task.abort();
            }
        })
    }
}

/// The outbox worker of the config's notifiers; replaced on every reload (the notifiers are
/// rebuilt, so what they name outside the config, such as certificates, is read again).
pub struct OutboxWorker {
    running: Option<OutboxTask>,
    wiring: Wiring,
}

impl OutboxWorker {
    pub async fn start(
        config: &Config,
        wiring: &Wiring,
    ) -> Result<(OutboxWorker, ()), DaemonError> {
        let worker = OutboxWorker {
            running: Some(start_outbox(config, wiring)),
            wiring: wiring.clone(),
        };
        Ok((worker, ()))
    }
}

impl Component<Config> for OutboxWorker {
    fn name(&self) -> &'static str {
        "outbox"
    }
    fn changed(&self, _old: &Config, _new: &Config) -> bool {
        true
    }
    fn reload<'a>(&'a mut self, new: &'a Config) -> Step<'a> {
        Box::pin(async move {
            // The old worker ends its pass before the new one claims rows.
            if let Some(old) = self.running.take() {
                old.stop().await;
            }
            self.running = Some(start_outbox(new, &self.wiring));
        })
    }
    /// One more pass first, for what the alert loop decided last.
    fn stop(mut self: Box<Self>) -> Step<'static> {
        Box::pin(async move {
            self.wiring.outbox_wake.notify_one();
            if let Some(running) = self.running.take() {
                running.stop().await;
            }
        })
    }
}

/// The alert loop (`alerting`): the engine, restored from the store, fed by the bus.
pub struct AlertLoop {
    task: Stoppable,
    commands: mpsc::Sender<AlertCommand>,
}

impl AlertLoop {
    pub async fn start(
        config: &Config,
        wiring: &Wiring,
    ) -> Result<(AlertLoop, AlertingHandle), DaemonError> {
        let (store, clock) = (&wiring.store, &wiring.clock);
        let mut engine = Engine::new(config, clock.now_ms());
        match store.load_alerts().await {
            Ok(stored) => {
                let dropped = engine.restore(stored);
                if let Err(error) = store.commit_alerts(&dropped).await {
                    tracing::warn!(%error, "could not drop the alerts of removed rules");
                }
            }
            Err(error) => tracing::error!(%error, "could not read the alert state; starting empty"),
        }
        // A hub: the hosts it received from before the restart are watched from now.
        if let Some(receive) = &config.receive {
            let since = clock.now_ms() - receive.series_idle.as_millis() as i64;
            match store.load_hosts(since, crate::receive::MAX_HOSTS).await {
                Ok(hosts) => {
                    let hosts: Vec<(String, Option<i64>)> =
                        hosts.into_iter().map(|h| (h.name, h.interval_ms)).collect();
                    engine.know_hosts(&hosts, clock.now_ms());
                }
                Err(error) => tracing::error!(%error, "could not read the received hosts"),
            }
        }
        match store.silences().await {
            Ok(silences) => engine.set_silences(silences),
            Err(error) => tracing::error!(%error, "could not read silences"),
        }
        engine.add_mute_source(Arc::new(wiring.mute.clone()));
        let board = Arc::new(RwLock::new(engine.alerts()));
        wiring.snapshot.set_alerts(&engine.alerts());
        let (commands, commands_rx) = mpsc::channel(16);
        let alert_loop = alerting::AlertLoop {
            engine,
            store: store.clone(),
            clock: clock.clone(),
            bus: wiring.bus.clone(),
            snapshot: wiring.snapshot.clone(),
            board: board.clone(),
            outbox_wake: wiring.outbox_wake.clone(),
            unsaved: Default::default(),
            held: wiring.held.clone(),
            lease_holder: wiring.lease_holder.clone(),
            lease_renewed_ms: clock.now_ms(),
        };
        let subscription = wiring.bus.subscribe();
        let task = Stoppable::spawn(move |stop| alert_loop.run(subscription, commands_rx, stop));
        let handle = AlertingHandle {
            board,
            commands: commands.clone(),
        };
        Ok((AlertLoop { task, commands }, handle))
    }
}

impl Component<Config> for AlertLoop {
    fn name(&self) -> &'static str {
        "alert loop"
    }
    fn changed(&self, _old: &Config, _new: &Config) -> bool {
        true
    }
    fn reload<'a>(&'a mut self, new: &'a Config) -> Step<'a> {
        Box::pin(async move {
            let _ = self
                .commands
                .send(AlertCommand::Reconfigure(Box::new(new.clone())))
                .await;
        })
    }
    /// The loop takes in what is already on the bus and commits it before it ends.
    fn stop(self: Box<Self>) -> Step<'static> {
        Box::pin(self.task.stop())
    }
}

/// The maintenance loop (`maintenance`): the tracker, its source, windows and mute.
pub struct MaintenanceLoop {
    task: Stoppable,
    handle: MaintenanceHandle,
}

impl MaintenanceLoop {
    pub async fn start(
        config: &Config,
        wiring: &Wiring,
    ) -> Result<(MaintenanceLoop, MaintenanceHandle), DaemonError> {
        let (commands, commands_rx) = mpsc::channel(16);
        let maintenance_loop = maintenance::MaintenanceLoop::new(
            config,
            wiring.store.clone(),
            wiring.clock.clone(),
            wiring.bus.clone(),
            wiring.snapshot.clone(),
            wiring.outbox_wake.clone(),
            wiring.mute.clone(),
        )
        .await
        .with_held(wiring.held.clone());
        let subscription = wiring.bus.subscribe();
        let task =
            Stoppable::spawn(move |stop| maintenance_loop.run(subscription, commands_rx, stop));
        let handle = MaintenanceHandle {
            mute: wiring.mute.clone(),
            config: Arc::new(RwLock::new(config.maintenance.clone())),
            commands,
        };
        let component = MaintenanceLoop {
            task,
            handle: handle.clone(),
        };
        Ok((component, handle))
    }
}

impl Component<Config> for MaintenanceLoop {
    fn name(&self) -> &'static str {
        "maintenance loop"
    }
    fn changed(&self, _old: &Config, _new: &Config) -> bool {
        true
    }
    fn reload<'a>(&'a mut self, new: &'a Config) -> Step<'a> {
        Box::pin(async move {
            let _ = self
                .handle
                .commands
                .send(MaintenanceCommand::Reconfigure(Box::new(new.clone())))
                .await;
            // What the dashboard shows and checks (windows, control) follows the reload.
            if let Ok(mut shown) = self.handle.config.write() {
                *shown = new.maintenance.clone();
            }
        })
    }
    fn stop(self: Box<Self>) -> Step<'static> {
        Box::pin(self.task.stop())
    }
}

/// Remote write: per endpoint, a consumer queueing into the store and a sender draining it.
pub struct RemoteWriter {
    running: Option<RemoteWrite>,
    wiring: Wiring,
}

impl RemoteWriter {
    /// Subscribed before the scheduler starts, so the first observations are written too.
    pub async fn start(
        config: &Config,
        wiring: &Wiring,
        metrics_page: &Arc<MetricsPage>,
    ) -> Result<(RemoteWriter, ()), DaemonError> {
        let running = RemoteWrite::start(
            &config.remote_write,
            &wiring.store,
            &wiring.bus,
            &wiring.clock,
            &wiring.snapshot.remote_write,
            Some(metrics_page.clone()),
        )
        .await;
        let writer = RemoteWriter {
            running: Some(running),
            wiring: wiring.clone(),
        };
        Ok((writer, ()))
    }
}

impl Component<Config> for RemoteWriter {
    fn name(&self) -> &'static str {
        "remote write"
    }
    fn changed(&self, old: &Config, new: &Config) -> bool {
        old.remote_write != new.remote_write
    }
    /// With the probes stopped: the old consumers queue what was published, then the new
    /// ones subscribe, so no sample is lost or queued twice.
    fn pause<'a>(&'a mut self, new: &'a Config) -> Step<'a> {
        Box::pin(async move {
            if let Some(running) = &mut self.running {
                let wiring = &self.wiring;
                running
                    .switch_collecting(
                        &new.remote_write,
                        &wiring.store,
                        &wiring.bus,
                        &wiring.snapshot.remote_write,
                    )
                    .await;
            }
        })
    }
    /// With the probes running again: the senders are replaced.
    fn reload<'a>(&'a mut self, new: &'a Config) -> Step<'a> {
        Box::pin(async move {
            if let Some(running) = &mut self.running {
                let wiring = &self.wiring;
                running
                    .switch_sending(
                        &new.remote_write,
                        &wiring.store,
                        &wiring.clock,
                        &wiring.snapshot.remote_write,
                    )
                    .await;
            }
        })
    }
    /// Queues what the last probe runs published; unsent batches wait in the store.
    fn stop(mut self: Box<Self>) -> Step<'static> {
        Box::pin(async move {
            if let Some(running) = self.running.take() {
                running.stop().await;
            }
        })
    }
}

/// The listeners, bound before anything starts (a port in use fails the start at once).
pub struct Listeners {
    tls: Option<TlsAcceptor>,
    main: TcpListener,
    metrics: Option<TcpListener>,
}

impl Listeners {
    /// TLS files first, then `server.listen`, then `server.metrics_listen`.
    pub fn bind(server: &ServerConfig) -> Result<Listeners, DaemonError> {
        let tls = match (&server.tls_cert, &server.tls_key) {
            (Some(cert), Some(key)) => Some(http::tls_acceptor(cert, key)?),
            _ => None,
        };
        let main = http::bind(server.listen).map_err(|source| DaemonError::Listen {
            addr: server.listen,
            source,
        })?;
        let metrics = match server.metrics_listen {
            Some(addr) => {
                Some(http::bind(addr).map_err(|source| DaemonError::Listen { addr, source })?)
            }
            None => None,
        };
        Ok(Listeners { tls, main, metrics })
    }

    /// The addresses bound (`server.listen`, `server.metrics_listen`): with port 0 in the
    /// config the system picked the port, and this is where it is learnt.
    pub fn addresses(
        &self,
        server: &ServerConfig,
    ) -> (std::net::SocketAddr, Option<std::net::SocketAddr>) {
        let main = self.main.local_addr().unwrap_or(server.listen);
        let metrics = match (&self.metrics, server.metrics_listen) {
            (Some(listener), Some(addr)) => Some(listener.local_addr().unwrap_or(addr)),
            _ => None,
        };
        (main, metrics)
    }
}

/// What the web needs of the components before it.
pub struct WebParts {
    pub listeners: Listeners,
    pub fd_limits: crate::fds::Limits,
    pub metrics_page: Arc<MetricsPage>,
    pub alerting: AlertingHandle,
    pub maintenance: MaintenanceHandle,
}

/// The dashboard, the API and /metrics on their listeners, and the sweep that reports the
/// end of login lockouts.
pub struct Web {
    stop: watch::Sender<bool>,
    http: JoinHandle<()>,
    metrics: Option<JoinHandle<()>>,
    sweep: JoinHandle<()>,
    /// The config the dashboard shows (thresholds, checks, notifiers), replaced on reload.
    shown: web::handles::ConfigHandle,
}

/// How long a stop waits for the requests in flight.
const WEB_STOP_GRACE: Duration = Duration::from_secs(5);

impl Web {
    pub async fn start(
        config: &Config,
        wiring: &Wiring,
        parts: WebParts,
    ) -> Result<(Web, ()), DaemonError> {
        let app_state = AppState {
            metrics_page: parts.metrics_page,
            snapshot: wiring.snapshot.clone(),
            store: wiring.store.clone(),
            clock: wiring.clock.clone(),
            started_at_ms: wiring.started_at_ms,
            alerting: Some(parts.alerting),
            bus: Some(wiring.bus.clone()),
            auth: Arc::new(web::auth::Auth::from_config(&config.server)),
            maintenance: Some(parts.maintenance),
            config: web::handles::ConfigHandle::new(config.clone()),
            live: Default::default(),
            receiver: Arc::new(crate::receive::Receiver::new(
                wiring.snapshot.receive.clone(),
            )),
        };
        if let Some(receive) = &config.receive {
            let since = wiring.clock.now_ms() - receive.series_idle.as_millis() as i64;
            match wiring
                .store
                .load_hosts(since, crate::receive::MAX_HOSTS)
                .await
            {
                Ok(hosts) => app_state.receiver.restore(hosts),
                Err(error) => tracing::error!(%error, "could not read the received hosts"),
            }
        }
        let shown = app_state.config.clone();
        let app = web::router(app_state.clone());
        let metrics_app = web::metrics_router(app_state.clone());
        // Reports the end of login lockouts (security:login back to OK).
        // ... and saves the hosts the receivers heard (a restart keeps them): within 10 s of a
        // new host, else every 30 s while they send.
        let sweep = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(10));
            let mut saved_at: Vec<(String, i64)> = Vec::new();
            for round in 0u64.. {
                every.tick().await;
                web::auth::sweep(&app_state);
                let mut hosts = app_state.receiver.to_stored();
                hosts.sort_by(|a, b| a.name.cmp(&b.name));
                let new_host = hosts.len() != saved_at.len()
                    || hosts
                        .iter()
                        .zip(&saved_at)
                        .any(|(h, (name, _))| &h.name != name);
                if new_host || round % 3 == 2 {
                    let stamps: Vec<(String, i64)> = hosts
                        .iter()
                        .map(|h| (h.name.clone(), h.last_seen_ms))
                        .collect();
                    if !hosts.is_empty() && stamps != saved_at {
                        match app_state.store.save_hosts(&hosts).await {
                            Ok(()) => saved_at = stamps,
                            Err(error) => {
                                tracing::warn!(%error, "could not save the received hosts")
                            }
                        }
                    }
                }
            }
        });
        let (stop, stop_rx) = watch::channel(false);
        let connections = connection_table(&config.server, parts.fd_limits);
        let Listeners { tls, main, metrics } = parts.listeners;
        let metrics = metrics.map(|listener| {
            tokio::spawn(http::serve(
                listener,
                metrics_app,
                None,
                connections.clone(),
                stop_rx.clone(),
            ))
        });
        let http = tokio::spawn(http::serve(main, app, tls, connections, stop_rx));
        let web = Web {
            stop,
            http,
            metrics,
            sweep,
            shown,
        };
        Ok((web, ()))
    }
}

impl Component<Config> for Web {
    fn name(&self) -> &'static str {
        "web"
    }
    /// The listeners stay; what the dashboard shows of the config follows it.
    fn changed(&self, old: &Config, new: &Config) -> bool {
        old.checks != new.checks
            || old.alerts != new.alerts
            || old.notifiers != new.notifiers
            || old.system != new.system
            || old.receive != new.receive
            || old.storage != new.storage
    }
    fn reload<'a>(&'a mut self, new: &'a Config) -> Step<'a> {
        self.shown.replace(new.clone());
        Box::pin(async {})
    }
    fn deadline(&self) -> Option<Duration> {
        Some(WEB_STOP_GRACE)
    }
    /// Stops accepting, then waits for the requests in flight.
    fn stop(self: Box<Self>) -> Step<'static> {
        Box::pin(async move {
            let _ = self.stop.send(true);
            self.sweep.abort();
            let _ = self.http.await;
            if let Some(task) = self.metrics {
                let _ = task.await;
            }
        })
    }
}

/// The dead-man heartbeat, if the config has one; replaced on every reload.
pub struct Heartbeat {
    running: Option<heartbeat::HeartbeatTask>,
    wiring: Wiring,
}

impl Heartbeat {
    pub async fn start(config: &Config, wiring: &Wiring) -> Result<(Heartbeat, ()), DaemonError> {
        let running = heartbeat::HeartbeatTask::start(config, &wiring.snapshot, &wiring.clock);
        let heartbeat = Heartbeat {
            running,
            wiring: wiring.clone(),
        };
        Ok((heartbeat, ()))
    }
}

impl Component<Config> for Heartbeat {
    fn name(&self) -> &'static str {
        "heartbeat"
    }
    fn changed(&self, _old: &Config, _new: &Config) -> bool {
        true
    }
    fn reload<'a>(&'a mut self, new: &'a Config) -> Step<'a> {
        Box::pin(async move {
            if let Some(running) = self.running.take() {
                running.stop().await;
            }
            self.running =
                heartbeat::HeartbeatTask::start(new, &self.wiring.snapshot, &self.wiring.clock);
        })
    }
    /// Stopping is not being healthy: no ping from here on.
    fn stop(mut self: Box<Self>) -> Step<'static> {
        Box::pin(async move {
            if let Some(running) = self.running.take() {
                running.stop().await;
            }
        })
    }
}

/// The probes of the config, each on its own tick; rebuilt on every reload (paused first, so
/// the consumers that switch meanwhile miss nothing).
pub struct Probes {
    running: Option<Scheduler>,
    wiring: Wiring,
}

impl Probes {
    pub async fn start(config: &Config, wiring: &Wiring) -> Result<(Probes, ()), DaemonError> {
        let probes = Probes {
            running: Some(schedule(config, wiring)),
            wiring: wiring.clone(),
        };
        Ok((probes, ()))
    }
}

fn schedule(config: &Config, wiring: &Wiring) -> Scheduler {
    let snapshot = &wiring.snapshot;
    Scheduler::start(
        daemon_probes(config, snapshot, &wiring.store),
        &wiring.bus,
        &wiring.clock,
        &snapshot.lateness,
        &snapshot.probe_durations,
        &wiring.mute,
    )
}

impl Component<Config> for Probes {
    fn name(&self) -> &'static str {
        "scheduler"
    }
    fn changed(&self, _old: &Config, _new: &Config) -> bool {
        true
    }
    fn pause<'a>(&'a mut self, _new: &'a Config) -> Step<'a> {
        Box::pin(async move {
            if let Some(running) = self.running.take() {
                running.stop().await;
            }
        })
    }
    fn reload<'a>(&'a mut self, new: &'a Config) -> Step<'a> {
        Box::pin(async move {
            if let Some(running) = self.running.take() {
                running.stop().await;
            }
            self.running = Some(schedule(new, &self.wiring));
        })
    }
    fn stop(mut self: Box<Self>) -> Step<'static> {
        Box::pin(async move {
            if let Some(running) = self.running.take() {
                running.stop().await;
            }
        })
    }
}
