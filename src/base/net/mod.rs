//! The shared network client: `client` (the phase-timed HTTP/1.1 client every HTTP user of
//! Lookout goes through, with its own `Request` type; DNS and connect helpers for TCP) and
//! `tls` (`TlsSettings`, the rustls client configuration, the peer certificate's expiry and
//! the one-line reasons for handshake failures).

pub mod client;
pub mod tls;

pub use client::{Request, Response, Timings, fetch, http_failure, post_bytes, snippet};
pub use tls::{CertInfo, TlsClient, TlsSettings};
