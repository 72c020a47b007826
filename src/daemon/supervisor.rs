//! The daemon's supervisor: the running components in the order they started, a reload fanned
//! out to the components its change concerns, and a stop in reverse order of start.
//!
//! A component is one long-running part of the daemon (the store writer, the alert loop, the
//! scheduler...). It is started by its own constructor, with the slice of the config it needs
//! and the shared handles of the pipeline, and handed to `Supervisor::start`; if a constructor
//! fails, the components already started are stopped (in reverse order) before the error is
//! returned. Each step is logged with the component's name.
//!
//! A reload walks the components whose `changed` says the new config concerns them, from the
//! last started to the first, twice: `pause` (a producer stops, so that the consumers below it
//! can switch without losing or doubling a message), then `reload` (the producers come back
//! first, so the probes' gap stays short; slow swaps, such as a notifier's send in flight,
//! come last). Generic over the config type, so that it is tested with plain values.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// One step of a component: a future it runs to completion.
pub type Step<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// A running part of the daemon.
pub trait Component<C>: Send {
    /// Its name in the logs.
    fn name(&self) -> &'static str;

    /// Whether a reload from `old` to `new` concerns it (its config slice changed). By
    /// default never: it runs with what it got at start.
    fn changed(&self, _old: &C, _new: &C) -> bool {
        false
    }

    /// The first step of a reload that concerns it, before any component reloads.
    fn pause<'a>(&'a mut self, _new: &'a C) -> Step<'a> {
        Box::pin(async {})
    }

    /// The second step: take the new config.
    fn reload<'a>(&'a mut self, _new: &'a C) -> Step<'a> {
        Box::pin(async {})
    }

    /// How long its stop may take; `None`: until it is done (a drain that must not lose data).
    fn deadline(&self) -> Option<Duration> {
        None
    }

    /// Stops it (a drain, a flush: whatever it owes before the process exits).
    fn stop(self: Box<Self>) -> Step<'static>;
}

/// The running components, in the order they started.
pub struct Supervisor<C> {
    running: Vec<Box<dyn Component<C>>>,
}

impl<C> Default for Supervisor<C> {
    fn default() -> Self {
        Supervisor {
            running: Vec::new(),
        }
    }
}

impl<C: Sync> Supervisor<C> {
    /// Runs a component's constructor; on success the component joins the running ones and
    /// `value` (its handles for the components after it) is returned. On failure the ones
    /// already started are stopped, in reverse order, and the error is returned.
    pub async fn start<K, T, E>(
        &mut self,
        constructor: impl Future<Output = Result<(K, T), E>>,
    ) -> Result<T, E>
    where
        K: Component<C> + 'static,
        E: std::fmt::Display,
    {
        match constructor.await {
            Ok((component, value)) => {
                tracing::debug!(component = component.name(), "started");
                self.running.push(Box::new(component));
                Ok(value)
            }
            Err(error) => Err(self.abandon(error).await),
        }
    }

    /// A start-up step that failed (`error`): stops what is running, in reverse order, and
    /// gives the error back.
    pub async fn abandon<E: std::fmt::Display>(&mut self, error: E) -> E {
        tracing::debug!(
            %error,
            started = self.running.len(),
            "start-up failed; stopping the components already started"
        );
        self.stop().await;
        error
    }

    /// `result`, unchanged; an error first stops what is running (`abandon`).
    pub async fn check<T, E: std::fmt::Display>(&mut self, result: Result<T, E>) -> Result<T, E> {
        match result {
            Ok(value) => Ok(value),
            Err(error) => Err(self.abandon(error).await),
        }
    }

    /// Fans a reload out to the components it concerns (`Component::changed`): every `pause`,
    /// then every `reload`, each from the last started to the first.
    pub async fn reload(&mut self, old: &C, new: &C) {
        let concerned: Vec<usize> = (0..self.running.len())
            .rev()
            .filter(|&index| self.running[index].changed(old, new))
            .collect();
        for &index in &concerned {
            let component = &mut self.running[index];
            tracing::debug!(component = component.name(), "pausing for the reload");
            component.pause(new).await;
        }
        for &index in &concerned {
            let component = &mut self.running[index];
            tracing::debug!(component = component.name(), "reloading");
            component.reload(new).await;
        }
    }

    /// Stops every component, the last started first, each within its deadline (past it, the
    /// component's tasks are left to the runtime's shutdown).
    pub async fn stop(&mut self) {
        while let Some(component) = self.running.pop() {
            let name = component.name();
            tracing::debug!(component = name, "stopping");
            match component.deadline() {
                None => component.stop().await,
                Some(deadline) => {
                    if tokio::time::timeout(deadline, component.stop())
                        .await
                        .is_err()
                    {
                        tracing::warn!(
                            component = name,
                            deadline = %humantime::format_duration(deadline),
                            "did not stop within its deadline; left behind"
                        );
                    }
                }
            }
            tracing::debug!(component = name, "stopped");
        }
    }

    /// The names of the running components, in the order they started.
    pub fn names(&self) -> Vec<&'static str> {
        self.running.iter().map(|c| c.name()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A config of two slices; each fake component watches one.
    #[derive(Debug, Clone, PartialEq)]
    struct Config {
        a: u32,
        b: u32,
    }

    type Journal = Arc<Mutex<Vec<String>>>;

    struct Fake {
        name: &'static str,
        slice: fn(&Config) -> u32,
        journal: Journal,
        deadline: Option<Duration>,
        hang: bool,
    }

    impl Fake {
        fn note(&self, what: &str) {
            self.journal
                .lock()
                .unwrap()
                .push(format!("{what} {}", self.name));
        }
    }

    impl Component<Config> for Fake {
        fn name(&self) -> &'static str {
            self.name
        }
        fn changed(&self, old: &Config, new: &Config) -> bool {
            (self.slice)(old) != (self.slice)(new)
        }
        fn pause<'a>(&'a mut self, new: &'a Config) -> Step<'a> {
            Box::pin(async move { self.note(&format!("pause({})", (self.slice)(new))) })
        }
        fn reload<'a>(&'a mut self, new: &'a Config) -> Step<'a> {
            Box::pin(async move { self.note(&format!("reload({})", (self.slice)(new))) })
        }
        fn deadline(&self) -> Option<Duration> {
            self.deadline
        }
        fn stop(self: Box<Self>) -> Step<'static> {
            Box::pin(async move {
                if self.hang {
                    std::future::pending::<()>().await;
                }
                self.note("stop");
            })
        }
    }

    fn fake(name: &'static str, slice: fn(&Config) -> u32, journal: &Journal) -> Fake {
        Fake {
            name,
            slice,
            journal: journal.clone(),
            deadline: None,
            hang: false,
        }
    }

    async fn started(component: Fake, journal: &Journal) -> Result<(Fake, &'static str), String> {
        journal
            .lock()
            .unwrap()
            .push(format!("start {}", component.name));
        let name = component.name;
        Ok((component, name))
    }

    fn taken(journal: &Journal) -> Vec<String> {
        std::mem::take(&mut *journal.lock().unwrap())
    }

    #[tokio::test]
    async fn starts_in_order_and_stops_in_reverse_order() {
        let journal = Journal::default();
        let mut supervisor = Supervisor::<Config>::default();
        for name in ["store", "alerts", "scheduler"] {
            let value = supervisor
                .start(started(fake(name, |c| c.a, &journal), &journal))
                .await
                .unwrap();
            assert_eq!(value, name, "the constructor's handles are handed back");
        }
        assert_eq!(supervisor.names(), ["store", "alerts", "scheduler"]);
        supervisor.stop().await;
        assert!(supervisor.names().is_empty());
        assert_eq!(
            taken(&journal),
            [
                "start store",
                "start alerts",
                "start scheduler",
                "stop scheduler",
                "stop alerts",
                "stop store"
            ]
        );
    }

    #[tokio::test]
    async fn a_reload_goes_only_to_the_components_whose_slice_changed() {
        let journal = Journal::default();
        let mut supervisor = Supervisor::<Config>::default();
        supervisor
            .start(started(fake("one", |c| c.a, &journal), &journal))
            .await
            .unwrap();
        supervisor
            .start(started(fake("two", |c| c.b, &journal), &journal))
            .await
            .unwrap();
        supervisor
            .start(started(fake("three", |c| c.a, &journal), &journal))
            .await
            .unwrap();
        taken(&journal);
        let old = Config { a: 1, b: 1 };

        supervisor.reload(&old, &old.clone()).await;
        assert!(taken(&journal).is_empty(), "nothing changed, nothing told");

        supervisor.reload(&old, &Config { a: 2, b: 1 }).await;
        assert_eq!(
            taken(&journal),
            [
                "pause(2) three",
                "pause(2) one",
                "reload(2) three",
                "reload(2) one"
            ],
            "every pause before any reload, each from the last started to the first"
        );

        supervisor.reload(&old, &Config { a: 1, b: 7 }).await;
        assert_eq!(taken(&journal), ["pause(7) two", "reload(7) two"]);
    }

    #[tokio::test]
    async fn a_component_that_fails_to_start_stops_the_ones_already_started() {
        let journal = Journal::default();
        let mut supervisor = Supervisor::<Config>::default();
        for name in ["store", "writer"] {
            supervisor
                .start(started(fake(name, |c| c.a, &journal), &journal))
                .await
                .unwrap();
        }
        let failed = supervisor
            .start(async { Err::<(Fake, ()), _>("cannot listen on 127.0.0.1:1".to_string()) })
            .await;
        assert_eq!(failed.unwrap_err(), "cannot listen on 127.0.0.1:1");
        assert!(supervisor.names().is_empty());
        assert_eq!(
            taken(&journal),
            ["start store", "start writer", "stop writer", "stop store"]
        );

        // The same for a start-up step that is not a component (`check`).
        supervisor
            .start(started(fake("store", |c| c.a, &journal), &journal))
            .await
            .unwrap();
        let checked: Result<(), &str> = supervisor.check(Err("no TLS key")).await;
        assert_eq!(checked, Err("no TLS key"));
        assert_eq!(taken(&journal), ["start store", "stop store"]);
        assert_eq!(supervisor.check(Ok::<_, &str>(5)).await, Ok(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_past_its_deadline_is_left_behind_and_the_others_still_stop() {
        let journal = Journal::default();
        let mut supervisor = Supervisor::<Config>::default();
        supervisor
            .start(started(fake("store", |c| c.a, &journal), &journal))
            .await
            .unwrap();
        let mut stuck = fake("web", |c| c.a, &journal);
        stuck.deadline = Some(Duration::from_secs(5));
        stuck.hang = true;
        supervisor.start(started(stuck, &journal)).await.unwrap();
        taken(&journal);
        let begun = tokio::time::Instant::now();
        supervisor.stop().await;
        assert_eq!(begun.elapsed(), Duration::from_secs(5));
        assert_eq!(taken(&journal), ["stop store"]);
    }
}
