//! OAI-PMH 2.0 protocol logic for unicat: the vocabulary, request URLs,
//! response parsing, the harvest state machine and response writing.
//!
//! **Architecture Invariant:** this crate does no I/O, reads no clock and
//! has no async. It is shaped like ntpd-rs's `ntp-proto`: the async shell
//! (the `harvest` module of the daemon) asks a [`ListHarvest`] for the next
//! URL, fetches it, feeds the body back to [`ListHarvest::on_response`] and
//! carries out what the returned [`Step`] or [`OaiError`] says: store a
//! page and checkpoint, finish, start over, retry the same URL (when
//! [`OaiError::is_transient`]) or give up. Times come in as arguments.
//!
//! **Architecture Invariant:** nothing here panics on input. Every parser
//! accepts arbitrary bytes; a bad record is returned for quarantine in
//! [`ListPage::rejected`] instead of failing its page.
//!
//! Code map:
//! - `types`: verbs, error codes, granularity, headers, records, tokens,
//!   [`parse_datestamp`].
//! - `error`: [`OaiError`] and the transient/permanent decision.
//! - `xml` (private): the quick-xml envelope tree that keeps metadata as
//!   byte ranges of the original body.
//! - `parse`: `parse_identify`, `parse_list_records`, … (namespace-prefix
//!   tolerant; matches local names).
//! - `request`: [`ListRequest`], [`Request`] and URL building with
//!   percent-encoding done exactly once.
//! - `harvest`: [`ListHarvest`], the state machine of one list run.
//! - `limits`: length bounds on the repository's strings, and [`cut`] for
//!   long values in messages.
//! - `sanitize`: repair of characters XML 1.0 forbids, before parsing.
//! - [`mod@write`]: responses for our own provider, valid against the
//!   OAI-PMH schema.

#![forbid(unsafe_code)]

mod error;
mod harvest;
mod limits;
mod parse;
mod request;
mod sanitize;
mod types;
pub mod write;
mod xml;

pub use error::OaiError;
pub use harvest::{ListHarvest, Step, MAX_RESTARTS};
pub use limits::{cut, MAX_FIELD_BYTES, MAX_TEXT_BYTES, MAX_TOKEN_BYTES};
pub use parse::{
    parse_get_record, parse_identify, parse_list_identifiers, parse_list_metadata_formats,
    parse_list_records,
};
pub use request::{percent_encode, ListRequest, Request};
pub use sanitize::{sanitize, Repairs};
pub use types::{
    parse_datestamp, DeletedRecord, ErrorCode, Granularity, Header, Identify, ListPage,
    MetadataFormat, OaiRecord, RejectedRecord, ResumptionToken, UnknownVerb, Verb,
};
