//! The receivers' HTTP side (`[receive]`): `POST /api/v1/write` (Prometheus remote write 1.0)
//! and `POST /v1/metrics` (OTLP/HTTP metrics, protobuf). The guard lets only agent tokens in
//! (`auth`); here: receiving on, content type and encoding, the body read within
//! `max_request_bytes` and decompressed within `max_decompressed_bytes`, then
//! `receive::Receiver::accept`. Every answer but 204 is a one-line JSON reason; 503s carry a
//! `Retry-After`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::Principal;
use crate::receive::{
    Hub, Incoming, Outcome, Protocol, Refusal, SenderKind, body, otlp, remote_write,
};

/// Seconds a sender is asked to wait after a 503.
const RETRY_AFTER_S: u32 = 5;
/// The store's buffer is "nearly full" past this share of `storage.max_buffered_samples`.
const BUFFER_HIGH_WATER: f64 = 0.8;

fn answer(refusal: &Refusal) -> Response {
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (
        status,
        axum::Json(serde_json::json!({ "error": refusal.reason })),
    )
        .into_response();
    if refusal.status == 503 {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
    }
    response
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
}

fn unsupported(reason: String) -> Refusal {
    Refusal::new(415, Outcome::UnsupportedMediaType, reason)
}

/// The media type of `Content-Type`, lowercase, without parameters; and its `proto=`.
fn media_type(headers: &HeaderMap) -> (String, Option<String>) {
    let value = header_text(headers, header::CONTENT_TYPE);
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let proto = parts
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("proto"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string());
    (media, proto)
}

/// The body, refused past `limit` bytes (by its Content-Length before reading a byte).
async fn read_body(request: Request, limit: u64) -> Result<axum::body::Bytes, Refusal> {
    let too_large = |size: String| {
        Refusal::new(
            413,
            Outcome::TooLarge,
            format!(
                "the body is {size}; receive.max_request_bytes is {}",
                crate::base::units::format_size(limit)
            ),
        )
    };
    if let Some(length) = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && length > limit
    {
        return Err(too_large(format!("{length} bytes")));
    }
    axum::body::to_bytes(
        request.into_body(),
        usize::try_from(limit).unwrap_or(usize::MAX),
    )
    .await
    .map_err(|_| too_large("larger than that".into()))
}

fn sender(request: &Request) -> String {
    request
        .extensions()
        .get::<Principal>()
        .and_then(|p| p.token_name.clone())
        .unwrap_or_default()
}

/// A request's series as decoded: remote write's still in its body (`series()` borrows them).
enum Series {
    RemoteWrite(remote_write::Request),
    Otlp(Vec<Incoming<'static>>),
}

/// What a receiver needs of the request once it is read: decoded series or a refusal.
type Decoded = Result<(Series, u64, SenderKind), Refusal>;

async fn receive(state: AppState, protocol: Protocol, request: Request) -> Response {
    let config = state.config.get();
    let enabled = config.receive.as_ref().filter(|r| match protocol {
        Protocol::RemoteWrite => r.remote_write,
        Protocol::Otlp => r.otlp,
    });
    let receiver = &state.receiver;
    let Some(receive) = enabled else {
        let refusal = Refusal::new(
            404,
            Outcome::Disabled,
            format!(
                "receiving {} is off on this hub; enable it in [receive]",
                match protocol {
                    Protocol::RemoteWrite => "remote write",
                    Protocol::Otlp => "OTLP",
                }
            ),
        );
        receiver.refused(protocol, &refusal);
        return answer(&refusal);
    };
    let sender = sender(&request);
    let decoded: Decoded = async {
        let headers = request.headers();
        let (media, proto) = media_type(headers);
        let encoding = header_text(headers, header::CONTENT_ENCODING).to_ascii_lowercase();
        match protocol {
            Protocol::RemoteWrite => {
                if media != "application/x-protobuf" {
                    return Err(unsupported(format!(
                        "Content-Type {media:?} is not remote write 1.0; send application/x-protobuf"
                    )));
                }
                if let Some(proto) = proto.filter(|p| p != "prometheus.WriteRequest") {
                    return Err(unsupported(format!(
                        "proto={proto} is not supported; this hub takes remote write 1.0 (prometheus.WriteRequest)"
                    )));
                }
                if encoding != "snappy" {
                    return Err(unsupported(format!(
                        "Content-Encoding {encoding:?} is not supported; remote write 1.0 is snappy"
                    )));
                }
                let kind = SenderKind::of_user_agent(header_text(headers, header::USER_AGENT));
                let body = read_body(request, receive.max_request_bytes).await?;
                let raw = body::unsnappy(&body, receive.max_decompressed_bytes)?;
                Ok((Series::RemoteWrite(remote_write::decode(raw)?), 0, kind))
            }
            Protocol::Otlp => {
                if media == "application/json" {
                    return Err(unsupported(
                        "OTLP/JSON is not supported; send protobuf (application/x-protobuf)".into(),
                    ));
                }
                if media != "application/x-protobuf" {
                    return Err(unsupported(format!(
                        "Content-Type {media:?} is not OTLP/HTTP; send application/x-protobuf"
                    )));
                }
                let gzip = match encoding.as_str() {
                    "" | "identity" => false,
                    "gzip" => true,
                    other => {
                        return Err(unsupported(format!(
                            "Content-Encoding {other:?} is not supported; send gzip or none"
                        )));
                    }
                };
                let body = read_body(request, receive.max_request_bytes).await?;
                let decoded = if gzip {
                    let raw = body::gunzip(&body, receive.max_decompressed_bytes)?;
                    otlp::decode(&raw)?
                } else {
                    if body.len() as u64 > receive.max_decompressed_bytes {
                        return Err(Refusal::new(
                            413,
                            Outcome::TooLarge,
                            "the body is larger than receive.max_decompressed_bytes",
                        ));
                    }
                    otlp::decode(&body)?
                };
                let kind = SenderKind::of_otlp(decoded.sdk.as_deref());
                Ok((Series::Otlp(decoded.series), decoded.unsupported, kind))
            }
        }
    }
    .await;
    let (series, unsupported, kind) = match decoded {
        Ok(decoded) => decoded,
        Err(refusal) => {
            receiver.refused(protocol, &refusal);
            return answer(&refusal);
        }
    };
    let (remote_write, otlp) = match series {
        Series::RemoteWrite(request) => (Some(request), Vec::new()),
        Series::Otlp(series) => (None, series),
    };
    let incoming = match remote_write.as_ref().map(remote_write::Request::series) {
        None => otlp,
        Some(Ok(incoming)) => incoming,
        Some(Err(refusal)) => {
            receiver.refused(protocol, &refusal);
            return answer(&refusal);
        }
    };
    let health = state.store.write_health();
    let buffer_limit = config.storage.max_buffered_samples as f64;
    let store_unavailable = if health.failing_since_ms.is_some() {
        Some(health.reason.clone())
    } else if health.buffered_samples as f64 > buffer_limit * BUFFER_HIGH_WATER {
        Some(format!(
            "{} samples wait to be written",
            health.buffered_samples
        ))
    } else {
        None
    };
    let now_ms = state.clock.now_ms();
    let retention = &config.storage.retention;
    let longest = retention.raw.max(retention.minute).max(retention.hour);
    let hub = Hub {
        config: receive,
        bus: state.bus.as_ref(),
        store_unavailable,
        oldest_ms: now_ms.saturating_sub(longest.as_millis() as i64),
        now_ms,
    };
    let accepted = match receiver.accept(protocol, &sender, incoming, unsupported, &hub) {
        Ok(accepted) => accepted,
        Err(refusal) => return answer(&refusal),
    };
    // The hosts this request speaks for (`/api/v1/hosts`): every sample carries its host.
    let hosts: std::collections::BTreeSet<&str> = accepted
        .observations
        .iter()
        .flat_map(|o| o.samples.iter())
        .filter_map(|s| s.series.label("host"))
        .collect();
    receiver.saw(hosts, protocol, &kind, now_ms);
    if let Some(bus) = state.bus.as_ref() {
        crate::receive::publish(bus, accepted.observations).await;
    }
    match protocol {
        // Remote write: 204, as Prometheus answers. OTLP/HTTP: 200 with an (empty)
        // ExportMetricsServiceResponse, as the OTLP specification asks.
        Protocol::Otlp => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
        )
            .into_response(),
        Protocol::RemoteWrite => StatusCode::NO_CONTENT.into_response(),
    }
}

pub async fn remote_write(State(state): State<AppState>, request: Request) -> Response {
    receive(state, Protocol::RemoteWrite, request).await
}

pub async fn otlp_metrics(State(state): State<AppState>, request: Request) -> Response {
    receive(state, Protocol::Otlp, request).await
}
