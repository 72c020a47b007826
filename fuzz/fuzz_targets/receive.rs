//! Fuzz target `receive`: any request body through the hub's receivers as `web::receive` runs
//! them, without HTTP: the first byte picks the protocol (even: remote write, snappy; odd:
//! OTLP, gzip'd when bit 1 is set), the rest is the body. Decompressed within 1 MiB, decoded,
//! then `Receiver::accept` with small limits. Nothing may panic; an accepted request stores
//! at most `max_samples_per_request` samples, each on an observation of its own timestamp
//! with a `host` label; a refusal is a 4xx or 503 with a one-line reason.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout::config::ReceiveConfig;
use lookout::receive::{Hub, Protocol, Receiver, body, otlp, remote_write};

const LIMIT: u64 = 1 << 20;
const NOW: i64 = 1_700_000_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let protocol = if flags & 1 == 0 { Protocol::RemoteWrite } else { Protocol::Otlp };
    let request = match protocol {
        Protocol::RemoteWrite => match body::unsnappy(body, LIMIT).and_then(remote_write::decode) {
            Ok(request) => Some(request),
            Err(refusal) => {
                assert!((400..500).contains(&refusal.status), "{refusal:?}");
                assert!(!refusal.reason.contains('\n'), "{refusal:?}");
                return;
            }
        },
        Protocol::Otlp => None,
    };
    let decoded = match protocol {
        Protocol::RemoteWrite => request
            .as_ref()
            .expect("decoded above")
            .series()
            .map(|series| (series, 0)),
        Protocol::Otlp => {
            let raw = if flags & 2 != 0 { body::gunzip(body, LIMIT) } else { Ok(body.to_vec()) };
            raw.and_then(|raw| otlp::decode(&raw))
                .map(|decoded| (decoded.series, decoded.unsupported))
        }
    };
    let (series, unsupported) = match decoded {
        Ok(decoded) => decoded,
        Err(refusal) => {
            assert!((400..500).contains(&refusal.status), "{refusal:?}");
            assert!(!refusal.reason.contains('\n'), "{refusal:?}");
            return;
        }
    };
    let config = ReceiveConfig {
        max_samples_per_request: 10_000,
        max_series_per_sender: 1_000,
        max_series_total: 2_000,
        ..ReceiveConfig::default()
    };
    let hub = Hub {
        config: &config,
        bus: None,
        store_unavailable: None,
        oldest_ms: NOW - 86_400_000,
        now_ms: NOW,
    };
    match Receiver::default().accept(protocol, "fuzz", series, unsupported, &hub) {
        Ok(accepted) => {
            let stored: usize = accepted.observations.iter().map(|o| o.samples.len()).sum();
            assert_eq!(stored as u64, accepted.samples);
            assert!(accepted.samples <= config.max_samples_per_request);
            for observation in &accepted.observations {
                assert!(observation.at_ms >= hub.oldest_ms);
                for sample in &observation.samples {
                    assert!(sample.value.is_finite());
                    assert!(sample.series.label("host").is_some());
                }
            }
        }
        Err(refusal) => {
            assert!(
                (400..500).contains(&refusal.status) || refusal.status == 503,
                "{refusal:?}"
            );
            assert!(!refusal.reason.contains('\n'), "{refusal:?}");
        }
    }
});
