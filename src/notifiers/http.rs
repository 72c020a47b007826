//! What the kinds that speak HTTP (webhook, Alertmanager) share: `post`, one POST of a
//! notification judged by its status, and `reach_url`, what `lookout doctor` can know of a
//! receiver without sending (DNS and a TCP connection).

use std::time::Duration;

use super::NotifyError;
use crate::base::net::client::{connect, resolve_host};
use crate::base::net::{self, TlsClient, TlsSettings};
use crate::base::secret::url_origin;

/// One POST of a notification (webhook, or one Alertmanager member): 2xx delivers; network
/// failures, 408, 429 and 5xx may pass and are retried; any other status is permanent. The error
/// names `where_`, the status and a snippet of the answer (callers mask their secrets in it).
pub(super) async fn post(
    request: net::Request,
    tls: TlsSettings,
    timeout: Duration,
    where_: &str,
) -> Result<(), NotifyError> {
    let mut tls = TlsClient::new(tls, Some(b"http/1.1"));
    let deadline = tokio::time::Instant::now() + timeout;
    let response = net::fetch(&request, &mut tls, deadline, timeout)
        .await
        .map_err(|reason| NotifyError::retryable(format!("{where_}: {reason}")))?;
    let status = response.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let text = format!("{where_}: {}", net::http_failure(status, &response.body));
    Err(if retryable_status(status) {
        NotifyError::retryable(text)
    } else {
        NotifyError::permanent(text)
    })
}

/// Whether an HTTP status is worth another attempt later.
pub fn retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || status >= 500
}

/// DNS and a TCP connection to a URL's host and port: what can be known without sending.
/// Returns the URL's origin (scheme, host, port: no path, no credentials).
pub(super) async fn reach_url(url: &str, timeout: Duration) -> Result<String, String> {
    let origin = url_origin(url);
    let uri: hyper::Uri = url.parse().map_err(|_| format!("{origin} is not a URL"))?;
    let https = uri.scheme_str() == Some("https");
    let host = uri
        .host()
        .ok_or_else(|| format!("{origin} has no host"))?
        .to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let deadline = tokio::time::Instant::now() + timeout;
    let addresses = resolve_host(&host, port, deadline, timeout).await?;
    connect(&addresses, deadline, timeout).await?;
    Ok(origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_split_into_retryable_and_permanent() {
        for (status, retry) in [
            (400, false),
            (401, false),
            (404, false),
            (408, true),
            (410, false),
            (429, true),
            (500, true),
            (503, true),
        ] {
            assert_eq!(retryable_status(status), retry, "{status}");
        }
    }

    #[tokio::test]
    async fn unreachable_webhooks_say_so_in_plain_words() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = reach_url(
            &format!("http://127.0.0.1:{port}/hook/s3cret-token"),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
        assert_eq!(error, format!("connection refused to 127.0.0.1:{port}"));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(
            reach_url(
                &format!("http://user:pw@127.0.0.1:{port}/hook/s3cret-token"),
                Duration::from_secs(2)
            )
            .await,
            Ok(format!("http://127.0.0.1:{port}"))
        );
    }
}
