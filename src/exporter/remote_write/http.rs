//! The HTTP side of remote write: one POST per batch over the phase-timed hyper client of the
//! http checks (`base::net`, rustls, no redirects), with the headers of the
//! 1.0 spec, the endpoint's authentication and its own headers. What comes back is an
//! `Outcome`, with every configured secret removed from the answer's body (a receiver might
//! echo the request).

use std::future::Future;
use std::pin::Pin;

use base64::Engine;
use hyper::body::Bytes;

use super::proto;
use super::retry::Outcome;
use crate::base::net::{self, TlsClient, TlsSettings};
use crate::base::secret::Secret;
use crate::config::RemoteWriteConfig;

/// How a batch gets to its endpoint; a trait so the sender's logic is tested without HTTP.
pub trait Transport: Send {
    fn post(&mut self, body: Vec<u8>) -> Pin<Box<dyn Future<Output = Outcome> + Send + '_>>;
}

/// The most of an answer's body kept for a log line.
const MAX_ANSWER: u64 = 4096;

pub struct HttpTransport {
    request: net::Request,
    tls: TlsClient,
    timeout: std::time::Duration,
    /// Values to scrub from anything an endpoint answers.
    secrets: Vec<Secret>,
}

impl HttpTransport {
    pub fn new(config: &RemoteWriteConfig) -> HttpTransport {
        let mut headers: Vec<(String, Secret)> = vec![
            ("Content-Type".to_string(), Secret::new(proto::CONTENT_TYPE)),
            (
                "Content-Encoding".to_string(),
                Secret::new(proto::CONTENT_ENCODING),
            ),
            (
                proto::VERSION_HEADER.to_string(),
                Secret::new(proto::VERSION),
            ),
        ];
        let mut secrets = vec![config.url.clone()];
        if let Some(token) = &config.bearer_token {
            headers.push((
                "Authorization".to_string(),
                Secret::new(format!("Bearer {}", token.expose())),
            ));
            secrets.push(token.clone());
        }
        if let Some(user) = &config.basic_auth_user {
            let password = config
                .basic_auth_password
                .as_ref()
                .map_or("", Secret::expose);
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            headers.push((
                "Authorization".to_string(),
                Secret::new(format!("Basic {encoded}")),
            ));
            secrets.push(Secret::new(encoded));
            secrets.extend(config.basic_auth_password.iter().cloned());
        }
        for (name, value) in &config.headers {
            headers.push((name.clone(), value.clone()));
            secrets.push(value.clone());
        }
        secrets.retain(|s| !s.is_empty());
        let tls = TlsSettings {
            ca_file: config.ca_file.clone(),
            ..TlsSettings::default()
        };
        HttpTransport {
            request: net::Request {
                url: config.url.expose().to_string(),
                method: "POST".to_string(),
                headers,
                body: None,
                follow_redirects: 0,
                max_body: MAX_ANSWER,
            },
            tls: TlsClient::new(tls, Some(b"http/1.1")),
            timeout: config.timeout,
            secrets,
        }
    }

    fn scrub(&self, mut text: String) -> String {
        for secret in &self.secrets {
            text = text.replace(secret.expose(), "***");
        }
        text
    }
}

impl Transport for HttpTransport {
    fn post(&mut self, body: Vec<u8>) -> Pin<Box<dyn Future<Output = Outcome> + Send + '_>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + self.timeout;
            let answer = net::post_bytes(
                &self.request,
                Bytes::from(body),
                &mut self.tls,
                deadline,
                self.timeout,
            )
            .await;
            match answer {
                Ok(response) => Outcome::Answer {
                    status: response.status,
                    body: self.scrub(net::snippet(&response.body)),
                },
                Err(reason) => Outcome::Transport(self.scrub(reason)),
            }
        })
    }
}
