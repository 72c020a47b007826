//! The dead-man heartbeat (`[heartbeat]`): every `interval` the daemon requests `url`, the
//! Healthchecks.io pattern, so that a service outside this host notices when Lookout dies,
//! hangs or stops working: then the pings stop, and the service's grace runs out.
//!
//! A ping says "the pipeline is alive", not merely "the process runs": it is sent only while
//! probe results keep arriving on the bus (`observations_total` grows) and the store keeps
//! taking writes (`store_flushes_total` grows), each within three of its intervals plus the
//! store's busy timeout (`Liveness`). While that is not so, `fail_url` is requested instead,
//! with the reason as the body of a POST or PUT (Healthchecks' `/fail`), or, without a
//! `fail_url`, nothing is sent. The first ping goes out at start.
//!
//! Counted in `HeartbeatMetrics` (`lookout_heartbeat_*` on /metrics) where it is logged. The
//! URLs are secrets (whoever has a ping URL can ping for us): logs show scheme://host only;
//! header values and the bearer token are never shown.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::base::net::{self, TlsClient, TlsSettings};
use crate::base::secret::Secret;
use crate::base::secret::url_origin;
use crate::clock::{SharedClock, UnixMillis};
use crate::config::{Config, HeartbeatConfig};
use crate::exporter::Snapshot;

/// Whether the pipeline moves: when each counter last grew, and how long it may stand still.
#[derive(Debug, Clone)]
pub struct Liveness {
    flushes: (u64, UnixMillis),
    observations: (u64, UnixMillis),
    flush_within_ms: i64,
    observe_within_ms: i64,
}

/// A write that meets a busy database waits this long before it fails (the store's).
const BUSY_MS: i64 = crate::store::BUSY_TIMEOUT.as_millis() as i64;

impl Liveness {
    /// Counting from `now_ms`: a fresh start is alive until the counters had time to move.
    pub fn new(config: &Config, now_ms: UnixMillis) -> Liveness {
        Liveness {
            flushes: (0, now_ms),
            observations: (0, now_ms),
            flush_within_ms: 3 * config.storage.flush_interval.as_millis() as i64 + BUSY_MS,
            // The self probe reports every system interval, whatever else is configured.
            observe_within_ms: 3 * config.system.interval.as_millis() as i64 + BUSY_MS,
        }
    }

    /// `Ok` while both counters grew recently enough, else why not.
    pub fn judge(
        &mut self,
        now_ms: UnixMillis,
        flushes: u64,
        observations: u64,
    ) -> Result<(), String> {
        for ((last, since), value) in [
            (&mut self.flushes, flushes),
            (&mut self.observations, observations),
        ] {
            if value != *last {
                *last = value;
                *since = now_ms;
            }
        }
        let still = |since: UnixMillis| {
            humantime::format_duration(Duration::from_secs(((now_ms - since).max(0) / 1000) as u64))
        };
        if now_ms - self.observations.1 > self.observe_within_ms {
            return Err(format!(
                "no probe has reported for {}",
                still(self.observations.1)
            ));
        }
        if now_ms - self.flushes.1 > self.flush_within_ms {
            return Err(format!(
                "the store has taken no write for {}",
                still(self.flushes.1)
            ));
        }
        Ok(())
    }
}

/// What to do at one tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ping {
    /// Request `url`.
    Alive,
    /// Request `fail_url`, saying why.
    Fail(String),
    /// Send nothing: failing, and no `fail_url`.
    Withhold(String),
}

pub fn plan(verdict: Result<(), String>, has_fail_url: bool) -> Ping {
    match verdict {
        Ok(()) => Ping::Alive,
        Err(why) if has_fail_url => Ping::Fail(why),
        Err(why) => Ping::Withhold(why),
    }
}

/// The running heartbeat; replaced on reload.
pub struct HeartbeatTask {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl HeartbeatTask {
    /// Starts the heartbeat of `config`, if it has one.
    pub fn start(
        config: &Config,
        snapshot: &Arc<Snapshot>,
        clock: &SharedClock,
    ) -> Option<HeartbeatTask> {
        snapshot
            .self_metrics
            .heartbeat
            .enabled
            .store(config.heartbeat.is_some(), Ordering::Relaxed);
        let heartbeat = config.heartbeat.clone()?;
        let liveness = Liveness::new(config, clock.now_ms());
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(
            heartbeat,
            liveness,
            snapshot.clone(),
            clock.clone(),
            stop_rx,
        ));
        Some(HeartbeatTask { stop, task })
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(15), self.task).await;
    }
}

async fn run(
    config: HeartbeatConfig,
    mut liveness: Liveness,
    snapshot: Arc<Snapshot>,
    clock: SharedClock,
    mut stop: watch::Receiver<bool>,
) {
    let metrics = &snapshot.self_metrics;
    let mut every = tokio::time::interval(config.interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_failing = false;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = super::alerting::stopped(&mut stop) => return,
        }
        let now = clock.now_ms();
        let verdict = liveness.judge(
            now,
            metrics.store_flushes_total.load(Ordering::Relaxed),
            metrics.observations_total.load(Ordering::Relaxed),
        );
        let ping = plan(verdict, config.fail_url.is_some());
        let failing = ping != Ping::Alive;
        match (&ping, was_failing) {
            (Ping::Fail(why) | Ping::Withhold(why), false) => tracing::warn!(
                reason = %why,
                fail_url = config.fail_url.is_some(),
                "heartbeat: Lookout is not healthy; {}",
                if config.fail_url.is_some() { "pinging fail_url" } else { "withholding the ping" }
            ),
            (Ping::Alive, true) => tracing::info!("heartbeat: healthy again; pinging"),
            _ => {}
        }
        was_failing = failing;
        let (url, body, counter) = match &ping {
            Ping::Alive => (&config.url, config.body.clone(), &metrics.heartbeat.ok),
            Ping::Fail(why) => (
                config.fail_url.as_ref().unwrap_or(&config.url),
                Some(format!("lookout: {why}")),
                &metrics.heartbeat.fail,
            ),
            Ping::Withhold(_) => {
                metrics.heartbeat.withheld.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        match send(&config, url, body).await {
            Ok(()) => {
                counter.fetch_add(1, Ordering::Relaxed);
                metrics
                    .heartbeat
                    .last_success_ms
                    .store(clock.now_ms(), Ordering::Relaxed);
                tracing::debug!(to = %url_origin(url.expose()), "heartbeat sent");
            }
            Err(why) => {
                metrics.heartbeat.error.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(to = %url_origin(url.expose()), error = %why, "heartbeat not accepted");
            }
        }
    }
}

/// One ping: `method` to `url` with the configured headers and token; `body` only for POST
/// and PUT. 2xx is accepted. The error names the status or the transport problem, never a
/// URL path, header value or token.
async fn send(config: &HeartbeatConfig, url: &Secret, body: Option<String>) -> Result<(), String> {
    let with_body = matches!(config.method.as_str(), "POST" | "PUT");
    let body = body.filter(|_| with_body);
    let mut headers: Vec<(String, Secret)> = Vec::new();
    if body.is_some()
        && !config
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
    {
        headers.push((
            "Content-Type".to_string(),
            Secret::new("text/plain; charset=utf-8"),
        ));
    }
    if let Some(token) = &config.bearer_token {
        headers.push((
            "Authorization".to_string(),
            Secret::new(format!("Bearer {}", token.expose())),
        ));
    }
    headers.extend(config.headers.iter().cloned());
    let request = net::Request {
        url: url.expose().to_string(),
        method: config.method.clone(),
        headers,
        body,
        // A redirect would take the token elsewhere: the URL must be the final one.
        follow_redirects: 0,
        max_body: 1024,
    };
    let settings = TlsSettings {
        ca_file: config.ca_file.clone(),
        ..TlsSettings::default()
    };
    let mut tls = TlsClient::new(settings, Some(b"http/1.1"));
    let deadline = tokio::time::Instant::now() + config.timeout;
    let fetched = tokio::time::timeout(
        config.timeout + Duration::from_secs(1),
        net::fetch(&request, &mut tls, deadline, config.timeout),
    )
    .await
    .map_err(|_| "no answer in time".to_string())??;
    match fetched.status {
        200..=299 => Ok(()),
        status @ 300..=399 => Err(format!(
            "HTTP {status}: a redirect; set the URL to where it points"
        )),
        status => Err(format!("HTTP {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000;

    fn liveness() -> Liveness {
        // flush_interval 10s, system.interval 10s: each may stand still 35 s.
        Liveness::new(&crate::config::embedded_default(), 0)
    }

    #[test]
    fn alive_while_probes_report_and_the_store_takes_writes() {
        let mut live = liveness();
        // (at, flushes, observations, verdict)
        let steps: Vec<(i64, u64, u64, Result<(), &str>)> = vec![
            (0, 0, 0, Ok(())),
            (30 * S, 0, 0, Ok(())),
            (35 * S, 0, 0, Ok(())),
            (36 * S, 0, 5, Err("the store has taken no write for 36s")),
            (40 * S, 1, 6, Ok(())),
            (70 * S, 4, 6, Ok(())),
            (76 * S, 4, 6, Err("no probe has reported for 36s")),
            (80 * S, 5, 7, Ok(())),
            (200 * S, 5, 7, Err("no probe has reported for 2m")),
        ];
        for (at, flushes, observations, expected) in steps {
            assert_eq!(
                live.judge(at, flushes, observations),
                expected.map_err(str::to_string),
                "at {at} ms"
            );
        }
    }

    #[test]
    fn a_failing_pipeline_pings_fail_url_or_nothing() {
        assert_eq!(plan(Ok(()), false), Ping::Alive);
        assert_eq!(plan(Ok(()), true), Ping::Alive);
        assert_eq!(plan(Err("x".into()), true), Ping::Fail("x".into()));
        assert_eq!(plan(Err("x".into()), false), Ping::Withhold("x".into()));
    }
}
