//! The hub's receivers (`[receive]`): samples other hosts write, as Prometheus remote write
//! 1.0 (`remote_write`) or OTLP/HTTP metrics (`otlp`), turned into `Observation`s on the bus,
//! so the store, the snapshot, the exporter and the alert engine see them like local ones.
//!
//! ```text
//! web (POST /api/v1/write, /v1/metrics: agent token, content type, size)
//!   -> body (decompress within the limit) -> remote_write | otlp (decode to `Incoming`)
//!   -> Receiver::accept (limits, host label, series book) -> bus
//! ```
//!
//! `accept` decides everything before it publishes anything: a request is stored whole or
//! refused whole (`Refusal`: the HTTP status, the outcome counted on /metrics as
//! `lookout_receive_requests_total`, a one-line reason). Retryable refusals (503: the store
//! cannot write, the bus is too full) let the sender come back; the others (4xx) tell it not
//! to. The series book counts each sender's live series (received within `series_idle`) for
//! the limits; it forgets idle ones, so its memory is bounded by `max_series_total`.
//!
//! Knows the bus, the store's health and the exporter's metrics; nothing of HTTP.

pub mod agent;
pub mod body;
pub mod otlp;
pub mod remote_write;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use crate::bus::Bus;
use crate::clock::{UnixMillis, format_rfc3339};
use crate::config::ReceiveConfig;
use crate::exporter::receive::ReceiveMetrics;
use crate::model::{CheckResult, Observation, Sample, SeriesKey};

/// The wire protocols, as the `protocol` label of the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    RemoteWrite,
    Otlp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::RemoteWrite => "remote_write",
            Protocol::Otlp => "otlp",
        }
    }
}

/// What became of a request: the `outcome` label of `lookout_receive_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    Malformed,
    TooLarge,
    UnsupportedMediaType,
    Unauthenticated,
    Forbidden,
    SeriesLimit,
    Future,
    Unavailable,
    Disabled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::Malformed => "malformed",
            Outcome::TooLarge => "too_large",
            Outcome::UnsupportedMediaType => "unsupported_media_type",
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::Forbidden => "forbidden",
            Outcome::SeriesLimit => "series_limit",
            Outcome::Future => "future",
            Outcome::Unavailable => "unavailable",
            Outcome::Disabled => "disabled",
        }
    }
}

/// A request refused whole: the HTTP status, what is counted, and why in one line.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub outcome: Outcome,
    pub reason: String,
}

impl Refusal {
    pub fn new(status: u16, outcome: Outcome, reason: impl Into<String>) -> Refusal {
        Refusal {
            status,
            outcome,
            reason: reason.into(),
        }
    }
}

/// A name or label a request carried: a slice of its body (remote write: no copy per label),
/// or text the receiver made.
pub type Text<'a> = std::borrow::Cow<'a, str>;

/// One series as a protocol decoded it, before the receiver names its host.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming<'a> {
    pub name: Text<'a>,
    /// Without `__name__`; in any order.
    pub labels: Vec<(Text<'a>, Text<'a>)>,
    /// (Unix milliseconds, value), in the order sent.
    pub samples: Vec<(i64, f64)>,
    /// OTLP delta temporality: each value adds to the series' running total.
    pub delta: bool,
}

/// What an accepted request stores: its observations (one per distinct timestamp, oldest
/// first), for `publish`.
#[derive(Debug, Clone, Default)]
pub struct Accepted {
    pub samples: u64,
    pub series: u64,
    pub observations: Vec<Observation>,
}

/// The bits of Prometheus' stale marker (a NaN that means "this series ended").
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;
/// How often the series book forgets idle series.
const SWEEP_EVERY_MS: i64 = 60_000;
/// A request is refused (503, retryable) while the bus's slowest consumer has more than this
/// share of the bus to catch up on.
const BUS_HEADROOM: usize = 2;
/// While publishing, wait for room past this share of the bus ...
const PUBLISH_HIGH_WATER: (usize, usize) = (3, 4);
/// ... at most this long in all: then publish anyway (a consumer may then miss messages,
/// counted by the bus), rather than store a request in part.
const PUBLISH_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Default)]
struct Book {
    /// sender -> series hash -> last received (ms).
    senders: HashMap<String, HashMap<u64, i64>>,
    total: usize,
    /// Running totals of delta series (OTLP), by series hash.
    delta_totals: HashMap<u64, f64>,
    /// Each live series' key, once: what every request of it publishes, so the snapshot, the
    /// store's buffer and id cache and the queued observations all share one key object
    /// (a key is ≈ 700 bytes; 150,000 series held three times over were ≈ 300 MB).
    keys: HashMap<u64, Arc<SeriesKey>>,
    last_sweep_ms: i64,
    seed: foldhash::quality::RandomState,
}

impl Book {
    fn sweep(&mut self, idle_before: i64) {
        let mut forgotten = HashSet::new();
        for series in self.senders.values_mut() {
            series.retain(|hash, seen| {
                let keep = *seen >= idle_before;
                if !keep {
                    forgotten.insert(*hash);
                }
                keep
            });
        }
        self.senders.retain(|_, series| !series.is_empty());
        self.total = self.senders.values().map(HashMap::len).sum();
        self.delta_totals
            .retain(|hash, _| !forgotten.contains(hash));
        self.keys.retain(|hash, _| !forgotten.contains(hash));
    }
}

/// The most hosts the receivers remember (`/api/v1/hosts`); requests for more hosts are
/// stored as usual, their hosts are only not listed.
pub const MAX_HOSTS: usize = 1_000;

/// Who sent a request, as far as it says: "lookout", "prometheus", "otlp", or the product
/// name of its `User-Agent`; and its version when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderKind {
    pub kind: String,
    pub version: Option<String>,
}

impl SenderKind {
    /// From a remote-write request's `User-Agent` (`Prometheus/2.42.0`, `lookout/0.9.0`).
    pub fn of_user_agent(user_agent: &str) -> SenderKind {
        let product = user_agent.split_whitespace().next().unwrap_or("");
        let (name, version) = product.split_once('/').unwrap_or((product, ""));
        let name = name.to_ascii_lowercase();
        let kind = if name.is_empty() {
            "remote_write".to_string()
        } else {
            name.chars().take(40).collect()
        };
        SenderKind {
            kind,
            version: Some(version.chars().take(40).collect::<String>()).filter(|v| !v.is_empty()),
        }
    }

    /// From an OTLP request's resource (`telemetry.sdk.language` and `.version`).
    pub fn of_otlp(sdk: Option<&str>) -> SenderKind {
        SenderKind {
            kind: "otlp".into(),
            version: sdk.map(|s| s.chars().take(60).collect()),
        }
    }
}

/// What the receivers know of one host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSeen {
    pub sender: SenderKind,
    pub protocol: Protocol,
    pub last_seen_ms: UnixMillis,
    /// The time between its last two requests (a new gap moves it a quarter of the way).
    pub interval_ms: Option<i64>,
}

/// The receivers' state: the series book, the hosts heard and the counters. One per daemon.
#[derive(Debug, Default)]
pub struct Receiver {
    book: Mutex<Book>,
    hosts: Mutex<HashMap<String, HostSeen>>,
    metrics: Arc<ReceiveMetrics>,
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, with `:` too for metric names (every allowed character is ASCII,
/// so the bytes tell).
fn valid_name(name: &str, colon: bool) -> bool {
    let ok = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || (colon && *b == b':');
    match name.as_bytes() {
        [first, rest @ ..] => !first.is_ascii_digit() && ok(first) && rest.iter().all(ok),
        [] => false,
    }
}

/// A series' identity in the book: its sender and key (by the key's hash, `SeriesKey::hash_of`),
/// hashed with the book's random seed.
fn hash_of(seed: &foldhash::quality::RandomState, sender: &str, key_hash: u64) -> u64 {
    seed.hash_one((sender, key_hash))
}

/// Where `label` is in labels sorted by name.
fn find_label(sorted: &[(Text, Text)], label: &str) -> Option<usize> {
    sorted.binary_search_by(|(k, _)| (**k).cmp(label)).ok()
}

/// Sets `label` in labels sorted by name, keeping them sorted.
fn set_label<'a>(sorted: &mut Vec<(Text<'a>, Text<'a>)>, label: &'static str, value: Text<'a>) {
    match sorted.binary_search_by(|(k, _)| (**k).cmp(label)) {
        Ok(i) => sorted[i].1 = value,
        Err(i) => sorted.insert(i, (Text::Borrowed(label), value)),
    }
}

fn pairs<'a>(
    labels: &'a [(Text<'_>, Text<'_>)],
) -> impl ExactSizeIterator<Item = (&'a str, &'a str)> + Clone {
    labels.iter().map(|(k, v)| (&**k, &**v))
}

/// The host of a series (labels sorted by name): its `host` label, else its `instance` label,
/// else the sender.
pub fn host_of<'a>(sorted: &'a [(Text<'_>, Text<'_>)], sender: &'a str) -> &'a str {
    find_label(sorted, "host")
        .or_else(|| find_label(sorted, "instance"))
        .map_or(sender, |i| &*sorted[i].1)
        .trim()
}

/// A series checked and named, before it has a key: its name and labels (sorted by name, the
/// host set), the hash its key has, whether its values are deltas, the samples kept.
struct Keyed<'a> {
    name: Text<'a>,
    labels: Vec<(Text<'a>, Text<'a>)>,
    key_hash: u64,
    delta: bool,
    kept: Vec<(i64, f64)>,
}

/// What `accept` needs of the running daemon.
pub struct Hub<'a> {
    pub config: &'a ReceiveConfig,
    pub bus: Option<&'a Bus>,
    /// Why the store cannot take samples now (it cannot write, its buffer is nearly full).
    pub store_unavailable: Option<String>,
    /// Samples older than this are history past every retention: not stored (counted).
    pub oldest_ms: UnixMillis,
    pub now_ms: UnixMillis,
}

impl Receiver {
    pub fn new(metrics: Arc<ReceiveMetrics>) -> Receiver {
        Receiver {
            book: Mutex::default(),
            hosts: Mutex::default(),
            metrics,
        }
    }

    /// Notes that a request stored samples of `hosts` from `sender` at `now_ms`.
    pub fn saw<'a>(
        &self,
        hosts: impl IntoIterator<Item = &'a str>,
        protocol: Protocol,
        sender: &SenderKind,
        now_ms: UnixMillis,
    ) {
        let mut known = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        for host in hosts {
            if let Some(seen) = known.get_mut(host) {
                let gap = now_ms - seen.last_seen_ms;
                if gap > 0 {
                    seen.interval_ms = Some(seen.interval_ms.map_or(gap, |i| (3 * i + gap) / 4));
                    seen.last_seen_ms = now_ms;
                }
                seen.sender = sender.clone();
                seen.protocol = protocol;
            } else if known.len() < MAX_HOSTS {
                known.insert(
                    host.to_string(),
                    HostSeen {
                        sender: sender.clone(),
                        protocol,
                        last_seen_ms: now_ms,
                        interval_ms: None,
                    },
                );
            }
        }
    }

    /// Takes back the hosts a previous run saved (`store::StoredHost`): known again at once
    /// (pages, `host=`), each with when it was last heard.
    pub fn restore(&self, saved: Vec<crate::store::StoredHost>) {
        let mut known = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        for host in saved {
            if known.len() >= MAX_HOSTS {
                break;
            }
            known.entry(host.name).or_insert(HostSeen {
                sender: SenderKind {
                    kind: host.kind,
                    version: host.version,
                },
                protocol: if host.protocol == Protocol::Otlp.as_str() {
                    Protocol::Otlp
                } else {
                    Protocol::RemoteWrite
                },
                last_seen_ms: host.last_seen_ms,
                interval_ms: host.interval_ms,
            });
        }
    }

    /// The hosts as the store keeps them (`Store::save_hosts`).
    pub fn to_stored(&self) -> Vec<crate::store::StoredHost> {
        let known = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        known
            .iter()
            .map(|(name, seen)| crate::store::StoredHost {
                name: name.clone(),
                last_seen_ms: seen.last_seen_ms,
                interval_ms: seen.interval_ms,
                kind: seen.sender.kind.clone(),
                version: seen.sender.version.clone(),
                protocol: seen.protocol.as_str().to_string(),
            })
            .collect()
    }

    /// Every host heard (at most `MAX_HOSTS`), by name.
    pub fn hosts(&self) -> BTreeMap<String, HostSeen> {
        let known = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        known.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    pub fn metrics(&self) -> &ReceiveMetrics {
        &self.metrics
    }

    /// Counts a request refused before `accept` (authentication, content type, size, decoding).
    pub fn refused(&self, protocol: Protocol, refusal: &Refusal) {
        self.metrics
            .request(protocol.as_str(), refusal.outcome.as_str());
        tracing::debug!(
            protocol = protocol.as_str(),
            status = refusal.status,
            reason = %refusal.reason,
            "receive: request refused"
        );
    }

    /// Stores the series of one request from `sender`, or refuses it whole.
    pub fn accept(
        &self,
        protocol: Protocol,
        sender: &str,
        incoming: Vec<Incoming<'_>>,
        unsupported: u64,
        hub: &Hub<'_>,
    ) -> Result<Accepted, Refusal> {
        let counted = self.decide(protocol, sender, incoming, unsupported, hub);
        let outcome = match &counted {
            Ok(_) => Outcome::Stored,
            Err(refusal) => refusal.outcome,
        };
        self.metrics.request(protocol.as_str(), outcome.as_str());
        if let Err(refusal) = &counted {
            tracing::info!(
                protocol = protocol.as_str(),
                sender,
                status = refusal.status,
                reason = %refusal.reason,
                "receive: request refused"
            );
        }
        counted
    }

    fn decide(
        &self,
        protocol: Protocol,
        sender: &str,
        incoming: Vec<Incoming<'_>>,
        unsupported: u64,
        hub: &Hub<'_>,
    ) -> Result<Accepted, Refusal> {
        let p = protocol.as_str();
        let config = hub.config;
        let total: u64 = incoming.iter().map(|s| s.samples.len() as u64).sum();
        let refuse = |refusal: Refusal| {
            self.metrics.samples(p, "refused", total);
            Err(refusal)
        };
        if total > config.max_samples_per_request {
            return refuse(Refusal::new(
                413,
                Outcome::TooLarge,
                format!(
                    "{total} samples in one request; receive.max_samples_per_request is {}",
                    config.max_samples_per_request
                ),
            ));
        }
        // Keys, hosts and which samples are kept; nothing is published before every check.
        let latest_allowed = hub
            .now_ms
            .saturating_add(config.max_future_skew.as_millis() as i64);
        let (mut not_finite, mut stale, mut too_old) = (0u64, 0u64, 0u64);
        let mut keyed: Vec<Keyed<'_>> = Vec::with_capacity(incoming.len());
        let mut checks = agent::Checks::default();
        let mut check_samples = 0u64;
        for series in incoming {
            if !valid_name(&series.name, true) {
                return refuse(Refusal::new(
                    400,
                    Outcome::Malformed,
                    format!("{:?} is not a valid metric name", series.name),
                ));
            }
            // The series' own vectors, edited in place (no allocation per series).
            let mut labels = series.labels;
            if let Some((name, _)) = labels
                .iter()
                .find(|(name, _)| !valid_name(name, false) || name.starts_with("__"))
            {
                return refuse(Refusal::new(
                    400,
                    Outcome::Malformed,
                    format!(
                        "{name:?} is not a valid label name (series {})",
                        series.name
                    ),
                ));
            }
            labels.retain(|(_, value)| !value.is_empty()); // Prometheus: an empty label is no label
            labels.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            if let Some(twice) = labels.windows(2).find(|w| w[0].0 == w[1].0) {
                return refuse(Refusal::new(
                    400,
                    Outcome::Malformed,
                    format!("label {:?} twice in series {}", twice[0].0, series.name),
                ));
            }
            // A `/` would blur where the host ends in an agent's check name (`web-1/app`).
            let host = host_of(&labels, sender).replace('/', "_");
            set_label(&mut labels, "host", Text::Owned(host.clone()));
            // A Lookout agent's series under the hub's names; its check results as such.
            let mapped = agent::name_of(&series.name);
            let name = match &mapped {
                agent::Name::Series(name) => {
                    if let Some(i) = find_label(&labels, "check") {
                        labels[i].1 = agent::check_name(&host, &labels[i].1).into();
                    }
                    Text::Owned(name.clone())
                }
                _ => series.name,
            };
            let key_hash = SeriesKey::hash_of(&name, pairs(&labels));
            let mut kept = series.samples;
            if let Some(&(at, _)) = kept.iter().find(|(at, _)| *at > latest_allowed) {
                return refuse(Refusal::new(
                    400,
                    Outcome::Future,
                    format!(
                        "a sample of {} is stamped {}, {}s ahead of the hub's clock; receive.max_future_skew is {}",
                        SeriesKey::from_labels(&name, pairs(&labels)),
                        format_rfc3339(at),
                        (at - hub.now_ms) / 1000,
                        crate::base::units::format_duration(config.max_future_skew)
                    ),
                ));
            }
            kept.retain(|&(at, value)| {
                if value.to_bits() == STALE_NAN {
                    stale += 1;
                } else if !value.is_finite() {
                    not_finite += 1;
                } else if at < hub.oldest_ms {
                    too_old += 1;
                } else {
                    return true;
                }
                false
            });
            let as_check = match mapped {
                agent::Name::CheckStatus | agent::Name::CheckValue => {
                    let labels: BTreeMap<String, String> = pairs(&labels)
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    kept.iter().all(|&(at, value)| {
                        if matches!(mapped, agent::Name::CheckStatus) {
                            checks.status(&labels, at, value)
                        } else {
                            checks.value(&labels, at, value)
                        }
                    })
                }
                _ => false,
            };
            if as_check {
                check_samples += kept.len() as u64;
            } else {
                keyed.push(Keyed {
                    name,
                    labels,
                    key_hash,
                    delta: series.delta,
                    kept,
                });
            }
        }
        if let Some(why) = &hub.store_unavailable {
            return refuse(Refusal::new(
                503,
                Outcome::Unavailable,
                format!("the hub's store cannot take samples now ({why}); retry later"),
            ));
        }
        if let Some(bus) = hub.bus
            && bus.backlog() > bus.capacity() / BUS_HEADROOM
        {
            return refuse(Refusal::new(
                503,
                Outcome::Unavailable,
                format!(
                    "the hub is busy ({} messages wait for its consumers); retry later",
                    bus.backlog()
                ),
            ));
        }
        // The series limits, then the book, under one lock: a request is counted whole or not.
        let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        let idle_ms = config.series_idle.as_millis() as i64;
        if hub.now_ms - book.last_sweep_ms >= SWEEP_EVERY_MS {
            book.sweep(hub.now_ms - idle_ms);
            book.last_sweep_ms = hub.now_ms;
        }
        let hashes: Vec<u64> = keyed
            .iter()
            .map(|k| hash_of(&book.seed, sender, k.key_hash))
            .collect();
        let known = book.senders.get(sender);
        let new: HashSet<u64> = hashes
            .iter()
            .copied()
            .filter(|h| known.is_none_or(|k| !k.contains_key(h)))
            .collect();
        let have = known.map_or(0, HashMap::len);
        if have + new.len() > config.max_series_per_sender as usize {
            drop(book);
            return refuse(Refusal::new(
                400,
                Outcome::SeriesLimit,
                format!(
                    "sender {sender:?} would have {} live series; receive.max_series_per_sender is {}",
                    have + new.len(),
                    config.max_series_per_sender
                ),
            ));
        }
        if book.total + new.len() > config.max_series_total as usize {
            let total = book.total;
            drop(book);
            return refuse(Refusal::new(
                400,
                Outcome::SeriesLimit,
                format!(
                    "the hub would have {} live series; receive.max_series_total is {}",
                    total + new.len(),
                    config.max_series_total
                ),
            ));
        }
        book.total += new.len();
        let seen = book.senders.entry(sender.to_string()).or_default();
        for hash in &hashes {
            seen.insert(*hash, hub.now_ms);
        }
        let mut by_time: BTreeMap<i64, Vec<Sample>> = BTreeMap::new();
        let mut stored = 0u64;
        for (series, hash) in keyed.into_iter().zip(&hashes) {
            // The key this series was first received with, found without making one (a hash
            // collision only costs the sharing: the other key takes the slot).
            let key = match book.keys.get(hash) {
                Some(known) if known.is(&series.name, pairs(&series.labels)) => known.clone(),
                _ => {
                    let key = Arc::new(SeriesKey::from_labels(&series.name, pairs(&series.labels)));
                    book.keys.insert(*hash, key.clone());
                    key
                }
            };
            let (delta, mut kept) = (series.delta, series.kept);
            if delta {
                kept.sort_by_key(|(at, _)| *at);
                let running = book.delta_totals.entry(*hash).or_insert(0.0);
                for (_, value) in kept.iter_mut() {
                    *running += *value;
                    *value = *running;
                }
            }
            for (at, value) in kept {
                stored += 1;
                by_time.entry(at).or_default().push(Sample {
                    series: key.clone(),
                    value,
                });
            }
        }
        let figures: Vec<(String, u64)> = book
            .senders
            .iter()
            .map(|(s, series)| (s.clone(), series.len() as u64))
            .collect();
        drop(book);
        self.metrics.set_series(figures);
        let source = format!("receive:{sender}");
        let mut results: BTreeMap<i64, Vec<CheckResult>> = BTreeMap::new();
        for result in checks.results() {
            by_time.entry(result.at_ms).or_default();
            results.entry(result.at_ms).or_default().push(result);
        }
        stored += check_samples;
        let observations = by_time
            .into_iter()
            .map(|(at_ms, samples)| Observation {
                source: source.clone(),
                at_ms,
                samples,
                checks: results.remove(&at_ms).unwrap_or_default(),
            })
            .collect();
        self.metrics.samples(p, "stored", stored);
        self.metrics.samples(p, "not_finite", not_finite);
        self.metrics.samples(p, "stale", stale);
        self.metrics.samples(p, "too_old", too_old);
        self.metrics.samples(p, "unsupported", unsupported);
        Ok(Accepted {
            samples: stored,
            series: hashes.len() as u64,
            observations,
        })
    }
}

/// Publishes an accepted request's observations, oldest first, pacing them so that the bus
/// never overflows a consumer: a backlog of thousands of timestamps in one request (an
/// agent's outage) waits for room instead of making the store writer miss messages.
pub async fn publish(bus: &Bus, observations: Vec<Observation>) {
    let high = bus.capacity() * PUBLISH_HIGH_WATER.0 / PUBLISH_HIGH_WATER.1;
    let deadline = tokio::time::Instant::now() + PUBLISH_PATIENCE;
    for observation in observations {
        while bus.backlog() >= high && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        bus.publish_observation(observation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BusMessage;
    use std::time::Duration;

    const NOW: i64 = 1_700_000_000_000;

    fn series(name: &str, labels: &[(&str, &str)], samples: &[(i64, f64)]) -> Incoming<'static> {
        Incoming {
            name: name.to_string().into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string().into(), v.to_string().into()))
                .collect(),
            samples: samples.to_vec(),
            delta: false,
        }
    }

    fn hub<'a>(config: &'a ReceiveConfig, bus: &'a Bus) -> Hub<'a> {
        Hub {
            config,
            bus: Some(bus),
            store_unavailable: None,
            oldest_ms: NOW - 86_400_000,
            now_ms: NOW,
        }
    }

    fn published(sub: &mut crate::bus::Subscription) -> Vec<Observation> {
        let mut out = Vec::new();
        while let Some(BusMessage::Observation(o)) = sub.try_recv() {
            out.push((*o).clone());
        }
        out
    }

    #[test]
    fn names_are_prometheus_names() {
        for (name, metric, label) in [
            ("node_load1", true, true),
            ("_x", true, true),
            ("a:b", true, false),
            (":a", true, false),
            ("1a", false, false),
            ("", false, false),
            ("a-b", false, false),
            ("é", false, false),
            ("aé", false, false),
            ("a b", false, false),
        ] {
            assert_eq!(valid_name(name, true), metric, "{name:?} as a metric name");
            assert_eq!(valid_name(name, false), label, "{name:?} as a label name");
        }
    }

    #[test]
    fn a_series_sent_again_carries_the_key_it_was_first_received_with() {
        let bus = Bus::new(64);
        let config = ReceiveConfig::default();
        let receiver = Receiver::default();
        let send = |sender: &str, at: i64| {
            receiver
                .accept(
                    Protocol::RemoteWrite,
                    sender,
                    vec![series("a", &[("host", "db")], &[(at, 1.0)])],
                    0,
                    &hub(&config, &bus),
                )
                .unwrap()
                .observations[0]
                .samples[0]
                .series
                .clone()
        };
        let first = send("web-1", NOW - 2000);
        let again = send("web-1", NOW - 1000);
        assert!(Arc::ptr_eq(&first, &again), "one key object per series");
        // Forgotten with the series when it goes idle.
        let later = NOW + config.series_idle.as_millis() as i64 + 120_000;
        let hub_later = Hub {
            now_ms: later,
            ..hub(&config, &bus)
        };
        let fresh = receiver
            .accept(
                Protocol::RemoteWrite,
                "web-2",
                vec![series("b", &[], &[(later, 1.0)])],
                0,
                &hub_later,
            )
            .unwrap();
        assert_eq!(fresh.series, 1);
        let book = receiver.book.lock().unwrap();
        assert_eq!(book.keys.len(), 1, "web-1's key forgotten with its series");
    }

    #[test]
    fn samples_go_on_the_bus_grouped_by_time_with_their_host() {
        let bus = Bus::new(64);
        let config = ReceiveConfig::default();
        let receiver = Receiver::default();
        let accepted = receiver
            .accept(
                Protocol::RemoteWrite,
                "web-1",
                vec![
                    series(
                        "a",
                        &[("host", "db")],
                        &[(NOW - 2000, 1.0), (NOW - 1000, 2.0)],
                    ),
                    series("b", &[("instance", "app:9100")], &[(NOW - 1000, 3.0)]),
                    series(
                        "c",
                        &[],
                        &[
                            (NOW - 1000, f64::NAN),
                            (NOW - 1000, f64::from_bits(STALE_NAN)),
                        ],
                    ),
                ],
                0,
                &hub(&config, &bus),
            )
            .unwrap();
        assert_eq!((accepted.samples, accepted.observations.len()), (3, 2));
        let got = accepted.observations;
        assert_eq!(got[0].at_ms, NOW - 2000);
        assert_eq!(got[0].source, "receive:web-1");
        let hosts: Vec<(String, String)> = got[1]
            .samples
            .iter()
            .map(|s| {
                (
                    s.series.name().to_string(),
                    s.series.label("host").unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            hosts,
            [("a".into(), "db".into()), ("b".into(), "app:9100".into())]
        );
        let figures = receiver.metrics().figures();
        assert!(figures.samples.contains(&(("remote_write", "stale"), 1)));
        assert!(
            figures
                .samples
                .contains(&(("remote_write", "not_finite"), 1))
        );
        assert_eq!(figures.series, [("web-1".to_string(), 3)]);
        // The sender's name is the host when the series names none.
        let accepted = receiver
            .accept(
                Protocol::RemoteWrite,
                "web-2",
                vec![series("a", &[], &[(NOW, 1.0)])],
                0,
                &hub(&config, &bus),
            )
            .unwrap();
        assert_eq!(
            accepted.observations[0].samples[0].series.label("host"),
            Some("web-2")
        );
        // A host never holds a `/`: the hub's name of an agent's check is `<host>/<check>`.
        let accepted = receiver
            .accept(
                Protocol::RemoteWrite,
                "web-3",
                vec![series("a", &[("instance", "http://x/y")], &[(NOW, 1.0)])],
                0,
                &hub(&config, &bus),
            )
            .unwrap();
        assert_eq!(
            accepted.observations[0].samples[0].series.label("host"),
            Some("http:__x_y")
        );
    }

    #[test]
    fn a_lookout_agents_series_are_filed_under_the_hubs_names_and_its_checks_as_results() {
        let bus = Bus::new(64);
        let config = ReceiveConfig::default();
        let receiver = Receiver::default();
        let status = |status: &str, value: f64| {
            series(
                "lookout_check_status",
                &[
                    ("host", "web-1"),
                    ("check", "app"),
                    ("layer", "application"),
                    ("status", status),
                ],
                &[(NOW, value)],
            )
        };
        let accepted = receiver
            .accept(
                Protocol::RemoteWrite,
                "agent-1",
                vec![
                    series(
                        "lookout_cpu_usage_ratio",
                        &[("host", "web-1")],
                        &[(NOW, 0.5)],
                    ),
                    series(
                        "lookout_http_response_seconds",
                        &[("host", "web-1"), ("check", "app")],
                        &[(NOW, 0.2)],
                    ),
                    series(
                        "lookout_alerts",
                        &[("host", "web-1"), ("state", "firing")],
                        &[(NOW, 1.0)],
                    ),
                    status("ok", 0.0),
                    status("critical", 1.0),
                    series(
                        "lookout_check_value",
                        &[("host", "web-1"), ("check", "app")],
                        &[(NOW, 0.2)],
                    ),
                ],
                0,
                &hub(&config, &bus),
            )
            .unwrap();
        assert_eq!(accepted.samples, 6);
        let [observation] = accepted.observations.as_slice() else {
            panic!("{:?}", accepted.observations);
        };
        let names: Vec<String> = observation
            .samples
            .iter()
            .map(|s| s.series.to_string())
            .collect();
        assert_eq!(
            names,
            [
                r#"cpu_usage_ratio{host="web-1"}"#,
                r#"http_response_seconds{check="web-1/app",host="web-1"}"#,
                r#"lookout_alerts{host="web-1",state="firing"}"#,
            ]
        );
        let [result] = observation.checks.as_slice() else {
            panic!("{:?}", observation.checks);
        };
        assert_eq!(
            (
                result.check.as_str(),
                result.status,
                result.value,
                result.at_ms
            ),
            ("web-1/app", crate::model::Status::Critical, Some(0.2), NOW)
        );
    }

    #[test]
    fn a_request_past_a_limit_is_refused_whole() {
        let bus = Bus::new(64);
        let mut sub = bus.subscribe();
        let config = ReceiveConfig {
            max_series_per_sender: 2,
            max_series_total: 3,
            ..ReceiveConfig::default()
        };
        let receiver = Receiver::default();
        let three = vec![
            series("a", &[], &[(NOW, 1.0)]),
            series("b", &[], &[(NOW, 1.0)]),
            series("c", &[], &[(NOW, 1.0)]),
        ];
        let refused = receiver
            .accept(Protocol::RemoteWrite, "s1", three, 0, &hub(&config, &bus))
            .unwrap_err();
        assert_eq!(
            (refused.status, refused.outcome),
            (400, Outcome::SeriesLimit)
        );
        assert!(
            refused
                .reason
                .contains("receive.max_series_per_sender is 2"),
            "{}",
            refused.reason
        );
        assert!(published(&mut sub).is_empty(), "nothing half stored");
        let two = || {
            vec![
                series("a", &[], &[(NOW, 1.0)]),
                series("b", &[], &[(NOW, 1.0)]),
            ]
        };
        receiver
            .accept(Protocol::RemoteWrite, "s1", two(), 0, &hub(&config, &bus))
            .unwrap();
        // Known series do not count again.
        receiver
            .accept(Protocol::RemoteWrite, "s1", two(), 0, &hub(&config, &bus))
            .unwrap();
        let refused = receiver
            .accept(Protocol::RemoteWrite, "s2", two(), 0, &hub(&config, &bus))
            .unwrap_err();
        assert!(
            refused.reason.contains("receive.max_series_total is 3"),
            "{}",
            refused.reason
        );
        // Idle series stop counting.
        let later = Hub {
            now_ms: NOW + config.series_idle.as_millis() as i64 + 60_000,
            ..hub(&config, &bus)
        };
        receiver
            .accept(Protocol::RemoteWrite, "s2", two(), 0, &later)
            .unwrap();
        assert_eq!(
            receiver
                .metrics()
                .requests_of("remote_write", "series_limit"),
            2
        );
    }

    #[test]
    fn the_future_bad_names_and_an_unwritable_store_refuse_the_request() {
        let bus = Bus::new(64);
        let config = ReceiveConfig {
            max_future_skew: Duration::from_secs(60),
            ..ReceiveConfig::default()
        };
        let receiver = Receiver::default();
        let future = receiver
            .accept(
                Protocol::RemoteWrite,
                "s",
                vec![series("a", &[], &[(NOW + 61_000, 1.0)])],
                0,
                &hub(&config, &bus),
            )
            .unwrap_err();
        assert_eq!((future.status, future.outcome), (400, Outcome::Future));
        assert!(future.reason.contains("61s ahead"), "{}", future.reason);
        let bad = receiver
            .accept(
                Protocol::RemoteWrite,
                "s",
                vec![series("a-b", &[], &[(NOW, 1.0)])],
                0,
                &hub(&config, &bus),
            )
            .unwrap_err();
        assert_eq!(bad.outcome, Outcome::Malformed);
        let down = Hub {
            store_unavailable: Some("disk full".into()),
            ..hub(&config, &bus)
        };
        let unavailable = receiver
            .accept(
                Protocol::RemoteWrite,
                "s",
                vec![series("a", &[], &[(NOW, 1.0)])],
                0,
                &down,
            )
            .unwrap_err();
        assert_eq!(
            (unavailable.status, unavailable.outcome),
            (503, Outcome::Unavailable)
        );
        assert!(
            receiver.book.lock().unwrap().senders.is_empty(),
            "refused series are not counted"
        );
    }

    #[test]
    fn delta_sums_become_cumulative_per_series() {
        let bus = Bus::new(64);
        let config = ReceiveConfig::default();
        let receiver = Receiver::default();
        let mut values = Vec::new();
        for (at, v) in [(NOW - 2000, 2.0), (NOW - 1000, 3.0)] {
            let mut s = series("jobs_total", &[], &[(at, v)]);
            s.delta = true;
            let accepted = receiver
                .accept(Protocol::Otlp, "w", vec![s], 0, &hub(&config, &bus))
                .unwrap();
            values.extend(accepted.observations.iter().map(|o| o.samples[0].value));
        }
        assert_eq!(values, [2.0, 5.0]);
    }

    /// An agent's outage sent as one request of 5,000 timestamps, onto a bus of 64: paced,
    /// the consumer misses nothing.
    #[tokio::test]
    async fn a_backlog_of_many_timestamps_is_paced_onto_the_bus() {
        let bus = Bus::new(64);
        let mut sub = bus.subscribe();
        let consumer = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(BusMessage::Observation(o)) = sub.recv().await {
                seen.push(o.at_ms);
                if seen.len() == 5_000 {
                    break;
                }
            }
            seen
        });
        let config = ReceiveConfig::default();
        let receiver = Receiver::default();
        let samples: Vec<(i64, f64)> = (0..5_000)
            .map(|i| (NOW - 50_000_000 + i * 10_000, 1.0))
            .collect();
        let accepted = receiver
            .accept(
                Protocol::RemoteWrite,
                "w",
                vec![series("a", &[], &samples)],
                0,
                &hub(&config, &bus),
            )
            .unwrap();
        assert_eq!(accepted.observations.len(), 5_000);
        publish(&bus, accepted.observations).await;
        let seen = consumer.await.unwrap();
        assert_eq!(seen.len(), 5_000);
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "oldest first");
        assert_eq!(bus.dropped(), 0, "a consumer missed messages");
    }
}
