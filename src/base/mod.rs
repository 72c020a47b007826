//! Layer 0 beside `model`, `clock`, `fds` and `bus`: what every other module shares and that
//! depends on nothing of Lookout above it. `units` (durations, sizes, percents as written in
//! the config), `net` (the shared HTTP client and TLS), `secret` (`Secret` and `mask_url`, the one masking), `term` (terminal colour),
//! `schema` (the config-reading toolkit: spans, problems, did-you-mean, `${ENV}`, typed
//! settings). See ARCHITECTURE.md, "Architecture invariants".

pub mod matcher;
pub mod net;
pub mod schema;
pub mod secret;
pub mod term;
pub mod units;
