//! Lookout: one binary that watches a web application and everything under it.
//! See ARCHITECTURE.md for the map of the pipeline.

pub mod alert;
pub mod base;
pub mod bus;
pub mod checks;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod doctor;
pub mod exporter;
pub mod fds;
mod layers;
pub mod logs;
pub mod maintenance;
pub mod model;
pub mod notifiers;
pub mod notify;
pub mod probes;
pub mod receive;
pub mod store;
pub mod views;
pub mod web;
