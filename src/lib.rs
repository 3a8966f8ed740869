//! unicat builds a union catalogue: it harvests partner libraries' MARC 21
//! records over OAI-PMH, normalises them, clusters the records that describe
//! the same book, merges each cluster into one union record listing every
//! holding library, and publishes the result.
//!
//! The functional core (MARC in `unicat_marc`, the OAI-PMH protocol in
//! `unicat_oai`, and here `normalize`, `dedup`, `merge`) does no I/O; the
//! shell (`harvest`, `store`, `pipeline`, `publish`, `daemon`, `cli`)
//! carries out its decisions. See ARCHITECTURE.md for the map.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod dedup;
pub mod demo;
pub mod harvest;
pub mod import;
pub mod jobs;
pub mod lease;
pub mod merge;
pub mod metrics;
pub mod normalize;
pub mod oai_server;
pub mod pipeline;
pub mod progress;
pub mod provider;
pub mod publish;
pub mod quality;
pub mod reprocess;
pub mod rules;
pub mod score;
pub mod sinks;
pub mod store;
pub mod telemetry;
pub mod translit;
