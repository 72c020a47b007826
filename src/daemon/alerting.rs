//! The alert engine's place in the daemon: a bus consumer that feeds the engine every
//! observation as it arrives, ticks it every `alerts.evaluation_interval`, and commits each
//! decision (state + history + outbox rows) to the store in one transaction before waking the
//! outbox worker. A commit that fails is kept and retried with the next one, so no notice is
//! lost to a busy database; its outbox rows go to memory at once (`notify::held`), so that
//! the outbox worker delivers them even while the store cannot write (a full disk).

use std::sync::{Arc, RwLock};

use tokio::sync::{Notify, mpsc, watch};

use crate::alert::records::AlertBatch;
use crate::alert::{AlertView, Engine};
use crate::bus::{Bus, Subscription};
use crate::clock::SharedClock;
use crate::exporter::{SelfMetrics, Snapshot};
use crate::model::NoticeKind;
use crate::model::{BusMessage, Event, EventKind};
use crate::notify::held::HeldOutbox;
use crate::store::Store;
use crate::web::handles::AlertCommand;

pub struct AlertLoop {
    pub engine: Engine,
    pub store: Store,
    pub clock: SharedClock,
    pub bus: Bus,
    pub snapshot: Arc<Snapshot>,
    pub board: Arc<RwLock<Vec<AlertView>>>,
    pub outbox_wake: Arc<Notify>,
    /// A batch that could not be committed yet; merged into the next one.
    pub unsaved: AlertBatch,
    /// Where the outbox rows of a batch that could not be committed wait.
    pub held: Arc<HeldOutbox>,
    /// This process as the holder of the alerting lease, and when it was last renewed.
    pub lease_holder: String,
    pub lease_renewed_ms: crate::clock::UnixMillis,
}

impl AlertLoop {
    /// Runs until `stop`; then evaluates what is already on the bus and commits it.
    pub async fn run(
        mut self,
        mut subscription: Subscription,
        mut commands: mpsc::Receiver<AlertCommand>,
        mut stop: watch::Receiver<bool>,
    ) {
        let interval = self.engine.settings().evaluation_interval;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // How often silences are re-read from the store (the CLI adds them there directly).
        let mut silence_refresh = tokio::time::interval(self.engine.settings().silence_refresh);
        let mut silences_read = Vec::new();
        silence_refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = subscription.recv() => match message {
                    Some(message) => self.take(message).await,
                    None => break,
                },
                _ = tick.tick() => {
                    // Results that queued up while this loop waited (a slow commit) are
                    // taken first: otherwise the tick takes its own backlog for checks gone
                    // silent and fires false no-data alerts (seen under load, tests/it/load.rs).
                    // (Only those queued now, so a steady stream cannot hold the tick off.)
                    for _ in 0..subscription.queued() {
                        let Some(message) = subscription.try_recv() else { break };
                        self.take(message).await;
                    }
                    let batch = self.engine.tick(self.clock.now_ms());
                    self.commit(batch).await;
                    self.renew_lease().await;
                }
                _ = silence_refresh.tick() => self.refresh_silences(&mut silences_read).await,
                command = commands.recv() => match command {
                    Some(AlertCommand::SilencesChanged) => {
                        self.refresh_silences(&mut silences_read).await;
                        let batch = self.engine.tick(self.clock.now_ms());
                        self.commit(batch).await;
                    }
                    Some(AlertCommand::Reconfigure(config)) => {
                        let batch = self.engine.reconfigure(&config, self.clock.now_ms());
                        self.commit(batch).await;
                    }
                    Some(AlertCommand::Acknowledge { id, by, reply }) => {
                        let now = self.clock.now_ms();
                        let outcome = match self.engine.acknowledge(&id, &by, now) {
                            Ok(batch) => {
                                self.commit(batch).await;
                                self.bus.publish_event(Event {
                                    at_ms: now,
                                    kind: EventKind::Alert,
                                    subject: id.clone(),
                                    message: format!("acknowledged by {by}: repeats stop until it escalates or resolves"),
                                });
                                Ok(())
                            }
                            Err(why) => Err(why),
                        };
                        let _ = reply.send(outcome);
                    }
                    None => {}
                },
                _ = stopped(&mut stop) => break,
            }
        }
        while let Some(message) = subscription.try_recv() {
            self.take(message).await;
        }
        let batch = AlertBatch::default();
        self.commit(batch).await;
    }

    async fn take(&mut self, message: BusMessage) {
        SelfMetrics::inc(&self.snapshot.self_metrics.alert_loop_taken_total);
        if let BusMessage::Observation(observation) = message {
            let batch = self.engine.observe(&observation, self.clock.now_ms());
            self.commit(batch).await;
        }
    }

    async fn renew_lease(&mut self) {
        let now = self.clock.now_ms();
        if now - self.lease_renewed_ms < super::lease::RENEW_EVERY_MS {
            return;
        }
        match self
            .store
            .acquire_lease(
                super::lease::ALERTING,
                &self.lease_holder,
                super::lease::TTL_MS,
                super::lease::is_gone,
            )
            .await
        {
            Ok(None) => self.lease_renewed_ms = now,
            Ok(Some(other)) => tracing::error!(
                other = %super::lease::describe(&other),
                "another Lookout took over the alerting of this store (was this one paused?); both may now send"
            ),
            Err(error) => tracing::warn!(%error, "could not renew the alerting lease; retrying"),
        }
    }

    /// Re-reads the silences; `read` is what the last read found (id, end), so a change (one
    /// added, changed or expired) is logged once: an operator who added a silence from the
    /// shell sees when it takes effect, and so do the tests, instead of waiting a fixed time.
    async fn refresh_silences(&mut self, read: &mut Vec<(String, i64)>) {
        match self.store.silences().await {
            Ok(silences) => {
                let now: Vec<(String, i64)> =
                    silences.iter().map(|s| (s.id.clone(), s.ends_ms)).collect();
                if now != *read {
                    tracing::info!(silences = now.len(), "silences changed; in effect now");
                    *read = now;
                }
                self.engine.set_silences(silences)
            }
            Err(error) => tracing::warn!(%error, "could not read silences; keeping the last ones"),
        }
    }

    async fn commit(&mut self, batch: AlertBatch) {
        let retrying = !self.unsaved.is_empty();
        let mut batch = merge(std::mem::take(&mut self.unsaved), batch);
        if batch.is_empty() {
            return;
        }
        // Rows held in memory are withdrawn as the store's are.
        self.held.retract(&batch.retract).await;
        match self.store.commit_alerts(&batch).await {
            Ok(_) => {
                for entry in &batch.history {
                    let notice = &entry.notice;
                    let muted_by = crate::alert::mute::text(entry.muted_by.as_ref());
                    let told = match &entry.muted_by {
                        None => String::new(),
                        Some(untold) => format!(" (not sent: {untold})"),
                    };
                    tracing::info!(
                        alert = %notice.alert_id,
                        kind = notice.kind.as_str(),
                        severity = notice.severity.as_str(),
                        muted_by = %muted_by,
                        "{}",
                        // A summary may hold a log check's detail ({{detail}}).
                        crate::logs::without_matched_line(&notice.summary)
                    );
                    if notice.kind != NoticeKind::Repeat {
                        self.bus.publish_event(Event {
                            at_ms: notice.at_ms,
                            kind: EventKind::Alert,
                            subject: notice.rule.clone(),
                            message: format!(
                                "{} {}: {}{told}",
                                notice.severity.as_str(),
                                notice.kind.as_str(),
                                notice.summary
                            ),
                        });
                    }
                }
                if !batch.outbox.is_empty() {
                    self.outbox_wake.notify_one();
                }
                let alerts = self.engine.alerts();
                self.snapshot.set_alerts(&alerts);
                self.snapshot.set_flapping(self.engine.flapping_count());
                if let Ok(mut board) = self.board.write() {
                    *board = alerts;
                }
            }
            Err(error) => {
                SelfMetrics::inc(&self.snapshot.self_metrics.store_errors_total);
                // Once per episode at error level: every evaluation retries meanwhile.
                if !retrying {
                    tracing::error!(%error, "could not save alert decisions; retrying with the next");
                } else {
                    tracing::debug!(%error, "could not save alert decisions yet; retrying with the next");
                }
                // The notices are not held back by the store: the outbox worker sends them
                // from memory (and hands them back to the store once it can write).
                let outbox = std::mem::take(&mut batch.outbox);
                if !outbox.is_empty() {
                    tracing::warn!(
                        notices = outbox.len(),
                        "notices kept in memory until the store can write; sending them meanwhile"
                    );
                    self.held.hold(outbox, self.clock.now_ms()).await;
                    self.outbox_wake.notify_one();
                }
                batch.upserts.dedup_by(|a, b| a.id == b.id);
                self.unsaved = batch;
                // The engine's state is current whatever the store did: so is the board.
                let alerts = self.engine.alerts();
                self.snapshot.set_alerts(&alerts);
                self.snapshot.set_flapping(self.engine.flapping_count());
                if let Ok(mut board) = self.board.write() {
                    *board = alerts;
                }
            }
        }
    }
}

/// Resolves once `stop` is true (or its sender is gone); the guard never crosses an await.
pub(super) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// `later` applied after `earlier`: the newest state of each alert wins.
fn merge(mut earlier: AlertBatch, later: AlertBatch) -> AlertBatch {
    if earlier.is_empty() {
        return later;
    }
    for upsert in later.upserts {
        earlier.upserts.retain(|u| u.id != upsert.id);
        earlier.removed.retain(|id| id != &upsert.id);
        earlier.upserts.push(upsert);
    }
    for id in later.removed {
        earlier.upserts.retain(|u| u.id != id);
        earlier.removed.push(id);
    }
    earlier.history.extend(later.history);
    // Rows of the earlier batch are not in the store yet: withdraw them here.
    earlier
        .outbox
        .retain(|e| !later.retract.contains(&e.notice.alert_id));
    earlier.retract.extend(later.retract);
    earlier.outbox.extend(later.outbox);
    earlier
}
