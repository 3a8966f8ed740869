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
//! - [`marc8`]: MARC-8 to Unicode conversion (used by the ISO 2709 reader),
//!   and back ([`marc8::utf8_to_marc8`], for MARC-8 ISO 2709 output).
//! - [`MarcError`]: the one error type, with messages fit for a quarantine
//!   reason; [`Warning`]: repairs a reader made to a record it still returns.

mod error;
pub mod iso2709;
pub mod marc8;
mod marc8_encode;
// Generated from LC's code tables; its layout is the generator's business.
#[rustfmt::skip]
mod marc8_tables;
pub mod marcxml;
mod record;
#[cfg(test)]
mod test_support;
mod warning;

pub use error::MarcError;
pub use marc8::{Marc8Error, Marc8ErrorKind};
pub use record::{ControlField, DataField, Field, Record, Subfield, LEADER_LEN};
pub use warning::{Decoded, Warning};
