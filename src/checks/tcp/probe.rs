//! `type = "tcp"`: connects to `address` ("host:port") and, with `tls = true`, completes a
//! TLS handshake and reports the certificate. Refused, unreachable and timeouts are critical;
//! slow connects grade by `response_time_warning` / `response_time_critical`.
//!
//! | series | labels | meaning |
//! |---|---|---|
//! | `tcp_connect_seconds` | `check` | TCP connect (after name resolution) |
//! | `tcp_tls_seconds` | `check` | TLS handshake (`tls = true` only) |
//! | `tls_certificate_expiry_seconds` | `check` | seconds until the certificate's notAfter |
//!
//! The headline value is connect + handshake time in seconds.

use std::time::Duration;

use tokio::time::Instant;

use crate::base::net::client::{connect, handshake, resolve_host};
use crate::base::net::tls::{TlsClient, grade_expiry};
use crate::checks::http::probe::{own_deadline, seconds_text};
use crate::checks::tcp::config::TcpCheck;
use crate::checks::{Check, CheckFuture, Outcome, grade};
use crate::clock::UnixMillis;
use crate::model::{SeriesKey, Status};

pub struct TcpProbe {
    config: TcpCheck,
    timeout: Duration,
    tls: TlsClient,
}

impl TcpProbe {
    pub fn new(config: TcpCheck, timeout: Duration) -> TcpProbe {
        TcpProbe {
            tls: TlsClient::new(config.tls_settings.clone(), None),
            config,
            timeout,
        }
    }

    async fn run(&mut self, at_ms: UnixMillis) -> Outcome {
        let deadline = own_deadline(self.timeout);
        let Some((host, port)) = self
            .config
            .address
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host.to_string(), port.parse::<u16>().ok()?)))
        else {
            return Outcome::unknown(format!("{:?} is not host:port", self.config.address));
        };
        let addresses = match resolve_host(&host, port, deadline, self.timeout).await {
            Ok(addresses) => addresses,
            Err(reason) => return Outcome::critical(reason),
        };
        let started = Instant::now();
        let stream = match connect(&addresses, deadline, self.timeout).await {
            Ok(stream) => stream,
            Err(reason) => return Outcome::critical(reason),
        };
        let connected = started.elapsed();
        let peer = stream
            .peer_addr()
            .map_or_else(|_| self.config.address.clone(), |a| a.to_string());
        let mut outcome = Outcome::ok(String::new()).sample(
            SeriesKey::new("tcp_connect_seconds"),
            connected.as_secs_f64(),
        );
        let mut reason = format!(
            "connected to {peer} in {}",
            seconds_text(connected.as_secs_f64())
        );
        let mut findings: Vec<(Status, String)> = Vec::new();
        if self.config.tls {
            let phase = Instant::now();
            let (_stream, cert) =
                match handshake(stream, &host, &mut self.tls, deadline, self.timeout).await {
                    Ok(done) => done,
                    Err(reason) => {
                        outcome.status = Status::Critical;
                        outcome.reason = reason;
                        return outcome;
                    }
                };
            let took = phase.elapsed();
            outcome = outcome.sample(SeriesKey::new("tcp_tls_seconds"), took.as_secs_f64());
            reason.push_str(&format!(", TLS in {}", seconds_text(took.as_secs_f64())));
            if let Some(cert) = cert {
                let now_s = at_ms.div_euclid(1000);
                outcome = outcome.sample(
                    SeriesKey::new("tls_certificate_expiry_seconds"),
                    (cert.not_after - now_s) as f64,
                );
                let (status, text) = grade_expiry(&cert, now_s, self.tls.settings());
                if status == Status::Ok {
                    reason.push_str(&format!(", {text}"));
                } else {
                    findings.push((status, text));
                }
            }
        }
        let total = started.elapsed().as_secs_f64();
        let thresholds = self.config.response_time;
        let slow = grade(
            total,
            Some(thresholds.warning.as_secs_f64()),
            Some(thresholds.critical.as_secs_f64()),
        );
        if slow != Status::Ok {
            let limit = if slow == Status::Critical {
                thresholds.critical
            } else {
                thresholds.warning
            };
            findings.push((
                slow,
                format!(
                    "slow: {} (threshold {})",
                    seconds_text(total),
                    crate::base::units::format_duration(limit)
                ),
            ));
        }
        if !findings.is_empty() {
            findings.sort_by_key(|f| std::cmp::Reverse(f.0));
            outcome.status = findings[0].0;
            let texts: Vec<String> = findings.into_iter().map(|(_, t)| t).collect();
            reason = format!("{}; {reason}", texts.join("; "));
        }
        outcome.reason = reason;
        outcome.with_value(total)
    }
}

impl Check for TcpProbe {
    fn attempt(&mut self, at_ms: UnixMillis) -> CheckFuture<'_> {
        Box::pin(self.run(at_ms))
    }
}
