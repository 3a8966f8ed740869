//! Warnings: things a reader noticed and repaired in a record it still
//! returns, for the caller to count and log.
//!
//! A warning never stands for lost or guessed content: the readers only
//! repair what they can repair exactly (a leader/09 that names the wrong
//! character coding when the bytes leave no doubt about the right one), and
//! report anything else as a [`crate::MarcError`]. This module must not
//! decide what a caller does with a warning.

use std::fmt;

use crate::Record;

/// A repair a reader made to a record it returned.
///
/// Positions are byte offsets of the record in the reader's input, as in
/// [`crate::MarcError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// A MARCXML record had leader/09 blank (MARC-8), but MARCXML text is
    /// Unicode by definition, so leader/09 was set to `a`. Common in OAI-PMH
    /// feeds whose MARCXML was converted from MARC-8 without updating the
    /// leader.
    XmlLeaderCharsetFixed {
        /// Byte offset of the `<record>` start tag.
        position: u64,
    },
    /// An ISO 2709 record had leader/09 blank (MARC-8) but its bytes are
    /// UTF-8 that MARC-8 would not plausibly produce; it was read as UTF-8
    /// and leader/09 set to `a`.
    Utf8DespiteMarc8Leader {
        /// Byte offset of the record.
        position: u64,
    },
    /// An ISO 2709 record had leader/09 `a` (UTF-8) but its bytes are not
    /// UTF-8, hold no valid multi-byte UTF-8 sequence at all, and convert
    /// cleanly from MARC-8; they were converted from MARC-8.
    Marc8DespiteUtf8Leader {
        /// Byte offset of the record.
        position: u64,
    },
}

impl Warning {
    /// A short, stable, kebab-case name for the kind of warning, for use as
    /// a metric label or log field.
    pub fn kind(&self) -> &'static str {
        match self {
            Warning::XmlLeaderCharsetFixed { .. } => "xml-leader-charset-fixed",
            Warning::Utf8DespiteMarc8Leader { .. } => "utf8-despite-marc8-leader",
            Warning::Marc8DespiteUtf8Leader { .. } => "marc8-despite-utf8-leader",
        }
    }

    /// Byte offset of the record the warning is about.
    pub fn position(&self) -> u64 {
        match self {
            Warning::XmlLeaderCharsetFixed { position }
            | Warning::Utf8DespiteMarc8Leader { position }
            | Warning::Marc8DespiteUtf8Leader { position } => *position,
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::XmlLeaderCharsetFixed { position } => write!(
                f,
                "marcxml record at byte {position} has leader/09 blank (marc-8) but xml text is unicode: leader/09 set to 'a'"
            ),
            Warning::Utf8DespiteMarc8Leader { position } => write!(
                f,
                "record at byte {position} has leader/09 blank (marc-8) but its bytes are utf-8: read as utf-8, leader/09 set to 'a'"
            ),
            Warning::Marc8DespiteUtf8Leader { position } => write!(
                f,
                "record at byte {position} has leader/09 'a' (utf-8) but its bytes are marc-8: converted from marc-8"
            ),
        }
    }
}

/// A record together with the warnings its reader raised about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The record, as the plain readers would have returned it.
    pub record: Record,
    /// What was repaired on the way, in the order noticed; usually empty.
    pub warnings: Vec<Warning>,
}
