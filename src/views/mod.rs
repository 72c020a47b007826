//! The wire's vocabulary: one view type per concept, the JSON that the HTTP API (`web`) and
//! the CLI's `--json` output (`cli`) show. Each view is built here from internal values
//! (`From` or a `new`), so the web and the CLI never build the same view twice and no
//! internal or storage type is serialised to the API: records keep their own serde only
//! where they are stored, and enums go out as their `as_str` words. One file per concept:
//! `alerts` (pending and firing alerts, notice history, outbox), `checks` (the dashboard's checks list, a check's page, the
//! effective thresholds), `config` (the summary of
//! `lookout config check`), `silences`, `maintenance`
//! (periods, windows, status, report), `status` (health, checks, layers, latest values),
//! `history` (series, events, a check's history), `live` (the live feed's messages), `store`
//! (a maintenance pass of `lookout store compact`).
//!
//! Where the CLI printed a shape of its own before this module existed, that shape is kept
//! as published (`*LineView`), built from the same view. `tests` pins the JSON of every
//! view built from fixed internal values: a change to a stored type that would change the
//! API fails there first.
//!
//! Layer: an edge, beside `web` (which serves these views) and below `cli`; it reads the
//! records of `alert`, `maintenance` and `store`, and knows nothing of HTTP.

pub mod alerts;
pub mod checks;
pub mod config;
pub mod history;
pub mod hosts;
pub mod live;
pub mod maintenance;
pub mod silences;
pub mod status;
pub mod store;

#[cfg(test)]
mod tests;
