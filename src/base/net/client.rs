//! The one HTTP/1.1 client of Lookout (the http and prometheus checks, webhook, Alertmanager,
//! maintenance source and control, remote write, heartbeat, doctor), on hyper's low-level
//! `client::conn::http1` over our own `TcpStream` (+ tokio-rustls), so that each phase is
//! timed: DNS, connect, TLS, first byte (response head), total. One connection per request,
//! bounded redirects, a capped body, and every phase bounded by the attempt's deadline. Errors
//! are one-line reasons ("connection refused to 127.0.0.1:5000"); header values never appear
//! in them. Each user builds its own `Request`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::Uri;
use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::tls::{CertInfo, TlsClient, describe_handshake_error, peer_certificate};
use crate::base::secret::{Secret, is_sensitive_header};
use crate::base::units::format_duration;

/// What to send. TLS is the caller's `TlsClient`, kept across requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// What to request, e.g. "http://127.0.0.1:5000/health" (http or https).
    pub url: String,
    /// The method, e.g. "GET".
    pub method: String,
    /// Sent as given; values never print (and are marked sensitive when their name says so).
    pub headers: Vec<(String, Secret)>,
    /// Sent with the request (e.g. for POST).
    pub body: Option<String>,
    /// The most redirects followed; 0 follows none.
    pub follow_redirects: u32,
    /// The most of the body read; the rest is not downloaded.
    pub max_body: u64,
}

/// How long each phase of the last request took (redirects: the final hop's phases; `total`
/// spans all hops).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timings {
    pub dns: Duration,
    pub connect: Duration,
    pub tls: Option<Duration>,
    pub first_byte: Duration,
    pub total: Duration,
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    /// At most `max_body` bytes.
    pub body: Vec<u8>,
    /// True when the body was longer than `max_body` (the rest was not read).
    pub truncated: bool,
    pub timings: Timings,
    /// The leaf certificate of the final hop, for https.
    pub cert: Option<CertInfo>,
    pub redirects: u32,
}

impl Response {
    /// A response that was never fetched: `status`, `headers` and `body` as given, zero
    /// timings, no certificate. For the fuzz targets' entry points (`http::judge_body`,
    /// `PrometheusProbe::judge_body`).
    pub(crate) fn canned(
        status: u16,
        headers: HeaderMap,
        body: &[u8],
        truncated: bool,
    ) -> Response {
        Response {
            status,
            headers,
            body: body.to_vec(),
            truncated,
            timings: Timings::default(),
            cert: None,
            redirects: 0,
        }
    }
}

/// Aborts the connection task when the request is done or abandoned (e.g. by the timeout).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Sends `request`, following redirects, and reads the capped body, all before `deadline`.
/// `timeout` is only for the wording of timeout reasons.
pub async fn fetch(
    request: &Request,
    tls: &mut TlsClient,
    deadline: Instant,
    timeout: Duration,
) -> Result<Response, String> {
    let started = Instant::now();
    let mut url = request.url.clone();
    let mut method = request.method.clone();
    let mut body = request.body.clone();
    let mut redirects = 0;
    loop {
        let mut response = exchange(
            request,
            &url,
            &method,
            Bytes::from(body.clone().unwrap_or_default()),
            tls,
            deadline,
            timeout,
        )
        .await?;
        let location = response
            .headers
            .get(hyper::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let is_redirect = matches!(response.status, 301 | 302 | 303 | 307 | 308);
        if is_redirect
            && request.follow_redirects > 0
            && let Some(location) = location
        {
            if redirects >= request.follow_redirects {
                return Err(format!(
                    "too many redirects (more than {}), the last to {}",
                    request.follow_redirects,
                    crate::base::secret::mask_url(&location)
                ));
            }
            let base: Uri = url.parse().map_err(|_| "bad URL".to_string())?;
            url = resolve(&base, &location).ok_or_else(|| {
                format!(
                    "redirect to an unusable location {:?}",
                    crate::base::secret::mask_url(&location)
                )
            })?;
            if response.status == 303 || (matches!(response.status, 301 | 302) && method == "POST")
            {
                method = "GET".to_string();
                body = None;
            }
            redirects += 1;
            continue;
        }
        response.redirects = redirects;
        response.timings.total = started.elapsed();
        return Ok(response);
    }
}

/// POSTs a binary `body` (e.g. a remote-write request) to `request.url` with its headers,
/// before `deadline`; no redirects. `request.method` and `request.body` are not used.
pub async fn post_bytes(
    request: &Request,
    body: Bytes,
    tls: &mut TlsClient,
    deadline: Instant,
    timeout: Duration,
) -> Result<Response, String> {
    let started = Instant::now();
    let mut response =
        exchange(request, &request.url, "POST", body, tls, deadline, timeout).await?;
    response.timings.total = started.elapsed();
    Ok(response)
}

/// Where a redirect's `Location` points, relative to `base`.
pub fn resolve(base: &Uri, location: &str) -> Option<String> {
    let location = location.trim();
    let lower = location.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Some(location.to_string());
    }
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    if location.starts_with("//") {
        return Some(format!("{scheme}:{location}"));
    }
    if location.starts_with('/') {
        return Some(format!("{scheme}://{authority}{location}"));
    }
    let path = base.path();
    let directory = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    let directory = if directory.is_empty() { "/" } else { directory };
    Some(format!("{scheme}://{authority}{directory}{location}"))
}

fn timed_out(what: &str, timeout: Duration) -> String {
    format!("timeout: {what} within {}", format_duration(timeout))
}

/// The error and its causes on one line (hyper's own message is often just "connection error").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.replace('\n', " ")
}

/// A TLS alert the server sent after the handshake (TLS 1.3 servers reject a client
/// certificate only then), as a reason.
fn tls_alert(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    use rustls::AlertDescription as Alert;
    let mut cause = Some(error);
    while let Some(current) = cause {
        let tls = current.downcast_ref::<rustls::Error>().or_else(|| {
            current
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(tls) = tls {
            return Some(match tls {
                rustls::Error::AlertReceived(Alert::CertificateRequired) => {
                    "TLS: the server requires a client certificate (set client_cert and client_key)"
                        .to_string()
                }
                rustls::Error::AlertReceived(
                    Alert::BadCertificate | Alert::UnknownCA | Alert::CertificateUnknown,
                ) => "TLS: the server rejected the client certificate".to_string(),
                other => format!("TLS: {other}"),
            });
        }
        cause = current.source();
    }
    None
}

/// Resolves `host` (an IP literal needs no lookup).
pub async fn resolve_host(
    host: &str,
    port: u16,
    deadline: Instant,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let found = timeout_at(deadline, tokio::net::lookup_host((bare, port)))
        .await
        .map_err(|_| timed_out(&format!("DNS did not resolve {bare}"), timeout))?
        .map_err(|e| format!("DNS: cannot resolve {bare} ({e})"))?;
    let addresses: Vec<SocketAddr> = found.collect();
    if addresses.is_empty() {
        return Err(format!("DNS: {bare} has no addresses"));
    }
    Ok(addresses)
}

/// Connects to the first address that answers.
pub async fn connect(
    addresses: &[SocketAddr],
    deadline: Instant,
    timeout: Duration,
) -> Result<TcpStream, String> {
    let mut last = String::new();
    for address in addresses {
        match timeout_at(deadline, TcpStream::connect(address)).await {
            Err(_) => return Err(timed_out(&format!("no connection to {address}"), timeout)),
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(error)) => {
                last = match error.kind() {
                    std::io::ErrorKind::ConnectionRefused => {
                        format!("connection refused to {address}")
                    }
                    _ => format!("cannot connect to {address}: {error}"),
                };
            }
        }
    }
    Err(last)
}

/// The TLS handshake over `stream`, with the leaf certificate's facts.
pub async fn handshake(
    stream: TcpStream,
    host: &str,
    tls: &mut TlsClient,
    deadline: Instant,
    timeout: Duration,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, Option<CertInfo>), String> {
    let config = tls.config()?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let name = tls.server_name(bare)?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let stream = timeout_at(deadline, connector.connect(name, stream))
        .await
        .map_err(|_| timed_out("no TLS handshake", timeout))?
        .map_err(|e| describe_handshake_error(&e))?;
    let cert = peer_certificate(stream.get_ref().1);
    Ok((stream, cert))
}

async fn exchange(
    request: &Request,
    url: &str,
    method: &str,
    body: Bytes,
    tls: &mut TlsClient,
    deadline: Instant,
    timeout: Duration,
) -> Result<Response, String> {
    let shown = crate::base::secret::mask_url(url);
    let uri: Uri = url.parse().map_err(|_| format!("{shown:?} is not a URL"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(format!("{shown:?} is not an http or https URL")),
    };
    let host = uri
        .host()
        .ok_or_else(|| format!("{shown:?} has no host"))?
        .to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let mut timings = Timings::default();

    let phase = Instant::now();
    let addresses = resolve_host(&host, port, deadline, timeout).await?;
    timings.dns = phase.elapsed();

    let phase = Instant::now();
    let stream = connect(&addresses, deadline, timeout).await?;
    timings.connect = phase.elapsed();

    let mut cert = None;
    let io: Box<dyn Io> = if https {
        let phase = Instant::now();
        let (stream, peer) = handshake(stream, &host, tls, deadline, timeout).await?;
        timings.tls = Some(phase.elapsed());
        cert = peer;
        Box::new(stream)
    } else {
        Box::new(stream)
    };

    let phase = Instant::now();
    let (mut sender, connection) = timeout_at(
        deadline,
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(io)),
    )
    .await
    .map_err(|_| timed_out("no HTTP connection", timeout))?
    .map_err(|e| format!("HTTP: {}", chain(&e)))?;
    let _task = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));

    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let authority = uri
        .authority()
        .map(|a| {
            a.as_str()
                .rsplit('@')
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default();
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, authority)
        .header(
            hyper::header::USER_AGENT,
            concat!("lookout/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in &request.headers {
        let (Ok(name), Ok(mut value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value.expose()),
        ) else {
            return Err(format!(
                "header {name:?} cannot be sent (invalid name or value)"
            ));
        };
        value.set_sensitive(is_sensitive_header(name.as_str()));
        builder = builder.header(name, value);
    }
    let outgoing = builder
        .body(Full::new(body))
        .map_err(|_| format!("method {method:?} or URL {shown:?} cannot be sent"))?;

    let response = timeout_at(deadline, sender.send_request(outgoing))
        .await
        .map_err(|_| timed_out("no response headers", timeout))?
        .map_err(|e| {
            tls_alert(&e)
                .unwrap_or_else(|| format!("no HTTP response from {host}:{port}: {}", chain(&e)))
        })?;
    timings.first_byte = phase.elapsed();

    let (head, mut incoming) = response.into_parts();
    let max = usize::try_from(request.max_body).unwrap_or(usize::MAX);
    let mut bytes = Vec::new();
    let mut truncated = false;
    loop {
        match timeout_at(deadline, incoming.frame()).await {
            Err(_) => {
                return Err(timed_out(
                    &format!("body not complete ({} bytes read)", bytes.len()),
                    timeout,
                ));
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(format!(
                    "HTTP {}: error reading the body after {} bytes: {}",
                    head.status.as_u16(),
                    bytes.len(),
                    chain(&e)
                ));
            }
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    let room = max - bytes.len();
                    if data.len() > room {
                        bytes.extend_from_slice(&data[..room]);
                        truncated = true;
                        break;
                    }
                    bytes.extend_from_slice(&data);
                }
            }
        }
    }
    Ok(Response {
        status: head.status.as_u16(),
        headers: head.headers,
        body: bytes,
        truncated,
        timings,
        cert,
        redirects: 0,
    })
}

/// The most of a response body kept for an error message.
const SNIPPET: usize = 200;

/// An unsuccessful answer for an error message: `HTTP 503 Service Unavailable: <the start of
/// the body>`. Callers mask their secrets in it (a receiver may echo the request).
pub fn http_failure(status: u16, body: &[u8]) -> String {
    let reason = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut text = format!("HTTP {status} {reason}").trim_end().to_string();
    let body = snippet(body);
    if !body.is_empty() {
        text.push_str(": ");
        text.push_str(&body);
    }
    text
}

/// The start of a response body on one line, for an error message.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(SNIPPET) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_locations_resolve_against_the_request() {
        let base: Uri = "http://h:1/a/b?x=1".parse().unwrap();
        for (location, url) in [
            ("https://other/x", "https://other/x"),
            ("//other/y", "http://other/y"),
            ("/root", "http://h:1/root"),
            ("sibling", "http://h:1/a/sibling"),
        ] {
            assert_eq!(resolve(&base, location).as_deref(), Some(url), "{location}");
        }
    }

    #[test]
    fn snippets_are_one_short_line() {
        assert_eq!(snippet(b"  bad\n  request "), "bad request");
        let long = "x".repeat(500);
        assert_eq!(snippet(long.as_bytes()).chars().count(), SNIPPET + 1);
    }
}
