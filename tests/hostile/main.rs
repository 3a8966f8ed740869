//! Hostile partners and clients: the cases where the other side of an
//! OAI-PMH exchange is broken or malicious, and unicat must stay safe
//! (no secret sent where it does not belong, nothing unbounded stored or
//! logged) and keep working for everyone else.
//!
//! One submodule per side:
//! - `harvest`: partner endpoints that attack or break our harvester
//!   (redirects to other hosts, resumption tokens of megabytes, GetRecord
//!   answers without a record). Each case starts real HTTP servers on
//!   127.0.0.1:0 whose answers it writes itself, runs the `unicat` binary
//!   against them with a configuration in a temporary directory, and
//!   reads the outcome from the SQLite store on disk, the exit code, the
//!   log on stderr and what the servers received.
//! - `provider`: clients that attack our own OAI-PMH provider (idle and
//!   half-open connections, slowloris heads, stalled bodies), against a
//!   real daemon under a small open-file limit.
//!
//! To add a case, add a test to the side's file: describe the endpoint as
//! a function from the request to the response (`Endpoint::start` in
//! `harvest`), run the binary, and assert what a sysadmin would check.
//! Name the test after the bug it pins, say in one comment line why it
//! exists, and check that it fails without the fix.

mod harvest;
mod provider;
