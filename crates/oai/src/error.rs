//! The errors of the OAI-PMH layer, and the one decision the async shell
//! needs from them: is it worth fetching the same URL again?
//!
//! This module only classifies; it never retries, sleeps or logs. Retry
//! policy (how often, how long to wait, Retry-After) belongs to the shell.

use crate::limits::{cut, MAX_TEXT_BYTES};
use crate::types::ErrorCode;

/// Everything that can go wrong while interpreting an OAI-PMH exchange.
///
/// Transport failures (timeouts, 503) never reach this crate: it sees only
/// the bytes of a response body. See [`OaiError::is_transient`] for which
/// of these the shell should retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OaiError {
    /// The repository answered with an `<error>` element. When a response
    /// carries several, `code` is the first one and `message` lists them all.
    #[error("repository answered with OAI-PMH error {code}{}", message_suffix(.message))]
    Protocol {
        /// The OAI-PMH error code.
        code: ErrorCode,
        /// The human-readable text of the error element (may be empty).
        message: String,
    },

    /// The body is not a usable OAI-PMH response: empty, not well-formed
    /// XML, truncated, an HTML error page served with status 200, or a
    /// document without the `OAI-PMH` root or the expected verb element.
    #[error("response is not a usable OAI-PMH document: {0}")]
    Malformed(String),

    /// The repository handed out a resumption token it had already given in
    /// this run. Following it would fetch the same pages forever.
    #[error(
        "repository repeated the resumption token {:?}; following it would loop forever \
         (the partner's OAI-PMH server is paging incorrectly)",
        cut(.token, MAX_TEXT_BYTES)
    )]
    RepeatedToken {
        /// The token that came back a second time.
        token: String,
    },

    /// A date or datestamp that is neither day nor seconds granularity.
    #[error("invalid datestamp {:?}: expected YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ", cut(.0, MAX_TEXT_BYTES))]
    InvalidDatestamp(String),

    /// A single record (for example the one in a `GetRecord` response) that
    /// cannot be used, such as a header without an identifier. List
    /// responses do not fail with this; they report such records in
    /// [`ListPage::rejected`](crate::ListPage::rejected) instead.
    #[error("unusable record{}: {reason}", identifier_suffix(.identifier))]
    InvalidRecord {
        /// The record's identifier, when it had one.
        identifier: Option<String>,
        /// Why the record cannot be used.
        reason: String,
    },

    /// A value longer than its bound in [`limits`](crate::MAX_TOKEN_BYTES),
    /// such as a resumption token of megabytes. Not transient: a
    /// repository that sent it will send it again, and following it would
    /// put it into a URL and a checkpoint.
    #[error(
        "the repository sent a {what} of {len} bytes, over the limit of {limit} bytes \
         (the partner's OAI-PMH server is misbehaving)"
    )]
    TooLong {
        /// What was too long (`resumptionToken`, …).
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The bound it broke.
        limit: usize,
    },

    /// [`ListHarvest::on_response`](crate::ListHarvest::on_response) was
    /// called after the list run had ended, so there is no request the body
    /// could answer.
    #[error("no request is pending: this list run has already finished")]
    NoPendingRequest,
}

impl OaiError {
    /// Whether fetching the same URL again may succeed.
    ///
    /// Malformed bodies are transient: endpoints serve HTML error pages with
    /// status 200 while overloaded, and a connection dropped mid-body
    /// leaves a truncated document. Protocol errors are not: a repository
    /// that said `badArgument` will say it again (the harvest state machine
    /// deals with the protocol errors that have a remedy, such as
    /// `noRecordsMatch` and `badResumptionToken`). A repeated token, a bad
    /// datestamp or an unusable record will not change on retry either.
    pub fn is_transient(&self) -> bool {
        matches!(self, OaiError::Malformed(_))
    }
}

/// Formats `": message"`, or nothing when the repository sent no text, so
/// the error reads naturally either way.
fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// Formats `" oai:x:1"` when the identifier is known.
fn identifier_suffix(identifier: &Option<String>) -> String {
    match identifier {
        Some(id) => format!(" {id}"),
        None => String::new(),
    }
}
