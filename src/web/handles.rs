//! The running daemon as the web sees it: the live alert board and the maintenance state,
//! and the commands the web (and the daemon's supervisor, on reload) send to the alert and
//! maintenance loops. Defined here, below the daemon, so that the web depends on no daemon
//! type; the daemon creates the channels and runs the loops that answer them.

use std::sync::{Arc, RwLock};

use tokio::sync::mpsc;

use crate::alert::AlertView;
use crate::config::{Config, MaintenanceConfig};
use crate::maintenance::MaintenanceMute;

pub enum AlertCommand {
    /// Silences changed (API): re-read them now.
    SilencesChanged,
    /// SIGHUP: a new, valid config.
    Reconfigure(Box<Config>),
    /// Someone is on the firing alert `id`: stop its repeats.
    Acknowledge {
        id: String,
        by: String,
        reply: tokio::sync::oneshot::Sender<Result<(), String>>,
    },
}

/// What the web layer needs from the alerting side.
#[derive(Clone)]
pub struct AlertingHandle {
    /// The live (pending and firing) alerts, as of the latest evaluation.
    pub board: Arc<RwLock<Vec<AlertView>>>,
    pub commands: mpsc::Sender<AlertCommand>,
}

impl AlertingHandle {
    pub fn alerts(&self) -> Vec<AlertView> {
        self.board.read().map(|b| b.clone()).unwrap_or_default()
    }

    pub fn silences_changed(&self) {
        let _ = self.commands.try_send(AlertCommand::SilencesChanged);
    }

    /// Acknowledges the firing alert `id` for `by`; the error says why not (unknown, pending).
    pub async fn acknowledge(&self, id: &str, by: &str) -> Result<(), String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.commands
            .send(AlertCommand::Acknowledge {
                id: id.to_string(),
                by: by.to_string(),
                reply,
            })
            .await
            .map_err(|_| "the alert engine is stopping".to_string())?;
        answer
            .await
            .map_err(|_| "the alert engine is stopping".to_string())?
    }
}

/// The running config as the dashboard reads it (checks, rules, notifiers: every threshold it
/// draws comes from here), replaced on reload (the daemon's `Web` component).
#[derive(Clone)]
pub struct ConfigHandle(Arc<RwLock<Arc<Config>>>);

impl ConfigHandle {
    pub fn new(config: Config) -> ConfigHandle {
        ConfigHandle(Arc::new(RwLock::new(Arc::new(config))))
    }

    pub fn get(&self) -> Arc<Config> {
        self.0
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn replace(&self, config: Config) {
        let mut shown = self.0.write().unwrap_or_else(|p| p.into_inner());
        *shown = Arc::new(config);
    }
}

impl Default for ConfigHandle {
    /// The embedded default (tests, one-shot tools).
    fn default() -> ConfigHandle {
        ConfigHandle::new(crate::config::embedded_default())
    }
}

/// What the web layer needs from the maintenance side.
#[derive(Clone)]
pub struct MaintenanceHandle {
    /// The open period (live).
    pub mute: MaintenanceMute,
    /// `[maintenance]` of the running config (windows, control), replaced on reload.
    pub config: Arc<RwLock<MaintenanceConfig>>,
    pub commands: mpsc::Sender<MaintenanceCommand>,
}

impl MaintenanceHandle {
    pub fn windows_changed(&self) {
        let _ = self.commands.try_send(MaintenanceCommand::WindowsChanged);
    }
}

pub enum MaintenanceCommand {
    /// SIGHUP: a new, valid config.
    Reconfigure(Box<Config>),
    /// A window was opened, stopped or extended (dashboard): re-read them now.
    WindowsChanged,
}
