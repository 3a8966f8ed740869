//! MARC 21 records for unicat: the record model, and MARCXML and ISO 2709
//! (binary MARC) reading and writing.
//!
//! Every other part of the daemon sees partner records through [`Record`].
//! The readers check structure and keep content verbatim; the writers
//! produce deterministic bytes and refuse what their format cannot hold.
//!
//! **Architecture invariant:** this crate is pure. It does no network or file
//! I/O of its own (readers and writers work on the `Read`/`BufRead`/`Write`
//! they are handed), reads no clock, is not async, and does not normalise,
//! deduplicate or re-sort anything; those are other modules' jobs.
//!
//! - [`marcxml`]: MARCXML parsing (single records and streaming) and writing.
//! - [`iso2709`]: ISO 2709 parsing (single records and streaming) and writing.
//! - [`MarcError`]: the one error type, with messages fit for a quarantine
//!   reason.

mod error;
pub mod iso2709;
pub mod marcxml;
mod record;
#[cfg(test)]
mod test_support;

pub use error::MarcError;
pub use record::{ControlField, DataField, Field, Record, Subfield, LEADER_LEN};
