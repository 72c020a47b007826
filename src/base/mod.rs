//! Layer 0 beside `model`, `clock`, `fds` and `bus`: what every other module shares and that
//! depends on nothing of Lookout above it. `units` (durations, sizes, percents as written in
//! the config), `secret` (`Secret`, `mask_url` and the other maskings), `term` (terminal
//! colour), `matcher` (Prometheus label matchers), `net` (the shared HTTP client with its own
//! request type, and TLS), `calendar` (cron expressions, time zones and RFC 3339 instants as
//! leaf types with `FromStr`), `memory` (giving freed memory back to the system), `schema` (the config-reading toolkit: spans, problems,
//! did-you-mean, `${ENV}`, typed settings). See ARCHITECTURE.md, "Architecture invariants".

pub mod calendar;
pub mod matcher;
pub mod memory;
pub mod net;
pub mod schema;
pub mod secret;
pub mod term;
pub mod units;
