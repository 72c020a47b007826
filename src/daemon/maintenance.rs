//! The maintenance tracker's place in the daemon: feeds it the check results and session
//! counts from the bus, the readings of the app's status source (polled on its own task, so
//! a slow source never holds the loop), the windows opened by hand (re-read from the store,
//! where the CLI and the dashboard write them); every second it moves time on and acts on
//! each change: the period is stored, an event goes on the bus, the notices go to the outbox
//! (in the same store, so they are never lost), and `MaintenanceMute` — the alert engine's
//! mute source and the marker of check results — is updated.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::alert::records::AlertBatch;
use crate::bus::{Bus, Subscription};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::exporter::{MaintenanceFigures, OpenMaintenance, SelfMetrics, Snapshot};
use crate::maintenance::source::Source;
use crate::maintenance::tracker::{Change, Reading, Tracker};
use crate::maintenance::{MaintenanceMute, Period, affected_checks, notices};
use crate::model::{BusMessage, Event, EventKind, Observation};
use crate::store::Store;
use crate::web::handles::MaintenanceCommand;

/// How often the windows opened by hand are re-read from the store.
const WINDOW_REFRESH: Duration = Duration::from_secs(2);

pub struct MaintenanceLoop {
    pub tracker: Tracker,
    pub mute: MaintenanceMute,
    pub store: Store,
    pub clock: SharedClock,
    pub bus: Bus,
    pub snapshot: Arc<Snapshot>,
    pub outbox_wake: Arc<Notify>,
    pub config: Config,
    /// Notices that could not be committed yet; retried with the next.
    pub unsaved: AlertBatch,
    /// Where their outbox rows wait meanwhile, to be sent from memory (`notify::held`).
    pub held: Option<Arc<crate::notify::held::HeldOutbox>>,
    /// The last source error told (each new one is logged and put on the timeline once).
    pub source_error: Option<String>,
    /// Totals of the closed periods, for /metrics.
    pub figures: MaintenanceFigures,
}

impl MaintenanceLoop {
    /// Sets the mute from the config and resumes the period that was open at the last stop.
    pub async fn new(
        config: &Config,
        store: Store,
        clock: SharedClock,
        bus: Bus,
        snapshot: Arc<Snapshot>,
        outbox_wake: Arc<Notify>,
        mute: MaintenanceMute,
    ) -> MaintenanceLoop {
        mute.configure(config.maintenance.grace, affected_checks(config));
        let mut tracker = Tracker::new(&config.maintenance);
        tracker.set_app_checks(affected_checks(config));
        match store.open_period().await {
            Ok(open) => {
                if let Some(period) = &open {
                    mute.start(period.clone());
                }
                // Not ended before the source and the checks had a chance to say more.
                let warm_up = config
                    .maintenance
                    .source
                    .as_ref()
                    .map_or(Duration::ZERO, |s| s.interval + s.timeout)
                    .max(
                        config
                            .checks
                            .iter()
                            .map(|c| c.interval + c.timeout)
                            .max()
                            .unwrap_or_default(),
                    );
                tracker.restore(open, clock.now_ms() + warm_up.as_millis() as i64);
            }
            Err(error) => tracing::error!(%error, "could not read the open maintenance period"),
        }
        let mut figures = MaintenanceFigures::default();
        match store.periods(0, clock.now_ms() + 1).await {
            Ok(periods) => {
                for period in periods.iter().filter(|p| p.end_ms.is_some()) {
                    add_closed(&mut figures, period);
                }
                figures.sessions_at_start = periods.last().and_then(|p| p.impact.sessions_at_start);
            }
            Err(error) => {
                tracing::warn!(%error, "could not read the maintenance periods for /metrics")
            }
        }
        let mut maintenance_loop = MaintenanceLoop {
            tracker,
            mute,
            store,
            clock,
            bus,
            snapshot,
            outbox_wake,
            config: config.clone(),
            unsaved: AlertBatch::default(),
            held: None,
            source_error: None,
            figures,
        };
        maintenance_loop.publish_figures();
        maintenance_loop
    }

    /// Notices this loop cannot commit are sent from `held` meanwhile.
    pub fn with_held(mut self, held: Arc<crate::notify::held::HeldOutbox>) -> MaintenanceLoop {
        self.held = Some(held);
        self
    }

    /// /metrics' view: the closed totals and the open period.
    fn publish_figures(&mut self) {
        let mut figures = self.figures.clone();
        if let Some(open) = self.tracker.open() {
            figures.open = Some(OpenMaintenance {
                mode: open.mode,
                planned: open.planned,
                start_ms: open.start_ms,
                blocked_requests: open.impact.blocked_requests,
                invalidated_sessions: open.impact.invalidated_sessions.unwrap_or(0),
            });
            figures.sessions_at_start = open.impact.sessions_at_start.or(figures.sessions_at_start);
        }
        if let Ok(mut shown) = self.snapshot.maintenance.write() {
            *shown = figures;
        }
    }

    pub async fn run(
        mut self,
        mut subscription: Subscription,
        mut commands: mpsc::Receiver<MaintenanceCommand>,
        mut stop: watch::Receiver<bool>,
    ) {
        let (readings_tx, mut readings) = mpsc::channel(4);
        let mut poller = start_poller(&self.config, readings_tx.clone());
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut windows = tokio::time::interval(WINDOW_REFRESH);
        windows.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = subscription.recv() => match message {
                    Some(BusMessage::Observation(observation)) => self.observe(&observation),
                    Some(_) => {}
                    None => break,
                },
                Some(reading) = readings.recv() => {
                    self.take_reading(reading);
                    self.evaluate().await;
                }
                _ = windows.tick() => self.refresh_windows().await,
                _ = tick.tick() => self.evaluate().await,
                command = commands.recv() => match command {
                    Some(MaintenanceCommand::Reconfigure(config)) => {
                        if let Some(task) = poller.take() {
                            task.abort();
                        }
                        self.tracker.reconfigure(&config.maintenance);
                        self.tracker.set_app_checks(affected_checks(&config));
                        self.mute.configure(config.maintenance.grace, affected_checks(&config));
                        poller = start_poller(&config, readings_tx.clone());
                        self.config = *config;
                    }
                    Some(MaintenanceCommand::WindowsChanged) => {
                        self.refresh_windows().await;
                        self.evaluate().await;
                    }
                    None => {}
                },
                _ = super::alerting::stopped(&mut stop) => break,
            }
        }
        if let Some(task) = poller {
            task.abort();
        }
        self.commit(AlertBatch::default()).await;
    }

    fn observe(&mut self, observation: &Observation) {
        for result in &observation.checks {
            self.tracker.observe_check(result);
        }
        for sample in &observation.samples {
            if sample.series.name() == "redis_sessions"
                && let Some(check) = sample.series.label("check")
            {
                self.tracker.observe_sessions(check, sample.value);
            }
        }
    }

    fn take_reading(&mut self, reading: Result<Reading, String>) {
        match reading {
            Ok(reading) => {
                if self.source_error.take().is_some() {
                    tracing::info!("maintenance source readable again");
                }
                self.tracker.read(reading);
            }
            Err(error) => {
                if self.source_error.as_deref() != Some(error.as_str()) {
                    tracing::warn!(%error, "could not read the maintenance source; keeping its last answer");
                    self.bus.publish_event(Event {
                        at_ms: self.clock.now_ms(),
                        kind: EventKind::Maintenance,
                        subject: "maintenance-source".into(),
                        message: format!("could not read the maintenance source: {error}"),
                    });
                    self.source_error = Some(error);
                }
            }
        }
    }

    async fn refresh_windows(&mut self) {
        match self.store.windows(self.clock.now_ms()).await {
            Ok(windows) => self.tracker.set_manual_windows(windows),
            Err(error) => {
                tracing::warn!(%error, "could not read the maintenance windows; keeping the last ones")
            }
        }
    }

    async fn evaluate(&mut self) {
        if self.tracker.about_to_detect() {
            self.refresh_windows().await;
        }
        let now = self.clock.now_ms();
        let changes = self.tracker.evaluate(now);
        if changes.is_empty() {
            return;
        }
        for change in changes {
            if let Change::Ended(period) = &change {
                add_closed(&mut self.figures, period);
            }
            self.act(change, now).await;
        }
        self.publish_figures();
    }

    async fn act(&mut self, change: Change, now: i64) {
        let host = self.config.alerts.host.clone();
        let (event, notice) = match change {
            Change::Started(mut period) => {
                period.id = self.save(&period).await;
                self.tracker.stored(period.id);
                self.mute.start(period.clone());
                let what = if period.planned {
                    "maintenance started"
                } else {
                    "unplanned maintenance started"
                };
                (
                    format!(
                        "{what} ({} mode, {}): {}",
                        period.mode.as_str(),
                        period.origin.as_str(),
                        period.reason
                    ),
                    Some(notices::started(&period, &host, now)),
                )
            }
            Change::Updated(period) => {
                self.save(&period).await;
                self.mute.start(period);
                return;
            }
            Change::Overrun(period) => (
                format!(
                    "maintenance overrun: {} past its planned end",
                    humantime::format_duration(Duration::from_secs(period.overrun(now).as_secs()))
                ),
                Some(notices::overrun(&period, &host, now)),
            ),
            Change::Ended(mut period) => {
                period.muted = self.muted_during(&period, now).await;
                self.save(&period).await;
                self.mute.end(period.end_ms.unwrap_or(now));
                (
                    format!(
                        "maintenance ended after {} ({} alerts muted)",
                        humantime::format_duration(Duration::from_secs(
                            period.duration(now).as_secs()
                        )),
                        period.muted.len()
                    ),
                    Some(notices::ended(&period, &host, now)),
                )
            }
        };
        tracing::info!("{event}");
        self.bus.publish_event(Event {
            at_ms: now,
            kind: EventKind::Maintenance,
            subject: "maintenance".into(),
            message: event,
        });
        if let Some(notice) = notice {
            let batch = notices::batch(vec![notice], &self.notifiers(), &host);
            self.commit(batch).await;
        }
    }

    /// The notifiers told about maintenance: `maintenance.notifiers`, or all.
    fn notifiers(&self) -> Vec<String> {
        match &self.config.maintenance.notifiers {
            Some(names) => names.clone(),
            None => self
                .config
                .notifiers
                .iter()
                .map(|n| n.name.clone())
                .collect(),
        }
    }

    /// The alerts muted because of maintenance while `period` was open, one line each.
    async fn muted_during(&self, period: &Period, now: i64) -> Vec<String> {
        match self.store.maintenance_muted(period.start_ms, now + 1).await {
            Ok(entries) => notices::muted_lines(&entries),
            Err(error) => {
                tracing::warn!(%error, "could not read the alerts muted by maintenance");
                Vec::new()
            }
        }
    }

    async fn save(&self, period: &Period) -> i64 {
        match self.store.save_period(period).await {
            Ok(id) => id,
            Err(error) => {
                SelfMetrics::inc(&self.snapshot.self_metrics.store_errors_total);
                tracing::error!(%error, "could not save the maintenance period");
                period.id
            }
        }
    }

    async fn commit(&mut self, batch: AlertBatch) {
        let mut pending = std::mem::take(&mut self.unsaved);
        pending.history.extend(batch.history);
        pending.outbox.extend(batch.outbox);
        if pending.is_empty() {
            return;
        }
        match self.store.commit_alerts(&pending).await {
            Ok(_) => self.outbox_wake.notify_one(),
            Err(error) => {
                SelfMetrics::inc(&self.snapshot.self_metrics.store_errors_total);
                tracing::error!(%error, "could not save maintenance notices; retrying with the next");
                if let Some(held) = &self.held {
                    // Told from memory meanwhile; the history waits for the store.
                    let outbox = std::mem::take(&mut pending.outbox);
                    if !outbox.is_empty() {
                        held.hold(outbox, self.clock.now_ms()).await;
                        self.outbox_wake.notify_one();
                    }
                }
                self.unsaved = pending;
            }
        }
    }
}

fn add_closed(figures: &mut MaintenanceFigures, period: &Period) {
    let ms = period
        .duration(period.end_ms.unwrap_or(period.start_ms))
        .as_millis() as u64;
    figures.periods_closed += 1;
    if period.planned {
        figures.planned_ms_closed += ms;
    } else {
        figures.unplanned_ms_closed += ms;
    }
    if period.mode == crate::config::maintenance::Mode::Emergency {
        figures.emergency_ms_closed += ms;
    }
    figures.blocked_requests_closed += period.impact.blocked_requests;
    figures.invalidated_sessions_closed += period.impact.invalidated_sessions.unwrap_or(0);
}

/// Polls the source (if any) every interval on its own task.
fn start_poller(
    config: &Config,
    readings: mpsc::Sender<Result<Reading, String>>,
) -> Option<JoinHandle<()>> {
    let mut source = Source::new(config.maintenance.source.clone()?);
    Some(tokio::spawn(async move {
        let mut every = tokio::time::interval(source.interval());
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let reading = source.read().await;
            if readings.send(reading).await.is_err() {
                return;
            }
        }
    }))
}
