//! The one error type of this crate, [`MarcError`].
//!
//! Every variant carries enough context (tag, subfield code, byte offset) for
//! its message to stand alone as a quarantine reason, because the caller
//! usually stores `err.to_string()` next to the rejected record and nobody
//! will re-run the parser to find out what was wrong. Messages are lower-case
//! and have no trailing period so they can be embedded in longer log lines.
//! This module must not decide what to do about an error (skip, retry,
//! quarantine): that is the caller's job.

use std::fmt;

/// Something was wrong with a MARC record, or it could not be read or written.
///
/// Byte offsets (`position`) count from the start of the input handed to the
/// parser or reader, so they can be used to find the record in the original
/// file or harvest page. Where a variant is shared by the readers and the
/// writers the position is optional: writers have no input offset to report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MarcError {
    /// The leader is not 24 characters, or (for ISO 2709) not 24 ASCII bytes,
    /// or its numeric parts are not numbers.
    #[error("bad leader {leader:?}{}: {reason}", at(.position))]
    BadLeader {
        /// The leader as found (lossily decoded if it was not valid text).
        leader: String,
        /// What is wrong with it.
        reason: &'static str,
        /// Byte offset of the leader or of the record holding it, when reading.
        position: Option<u64>,
    },

    /// A tag is not exactly three ASCII letters or digits.
    #[error("invalid tag {tag:?}{}: a tag must be 3 ascii letters or digits", at(.position))]
    BadTag {
        /// The tag as found.
        tag: String,
        /// Byte offset of the element or directory entry, when reading.
        position: Option<u64>,
    },

    /// An indicator is not a single character (or, for ISO 2709, not a single
    /// ASCII character other than the structural delimiters).
    #[error("invalid indicator {which} {value:?} in field {tag}{}: an indicator must be one {}character",
        at(.position), if *.iso2709 { "ascii " } else { "" })]
    BadIndicator {
        /// Tag of the field.
        tag: String,
        /// Which indicator, 1 or 2.
        which: u8,
        /// The indicator value as found.
        value: String,
        /// Byte offset of the field, when reading.
        position: Option<u64>,
        /// Whether the stricter ISO 2709 rule (one ASCII byte) was applied.
        iso2709: bool,
    },

    /// A subfield code is missing, empty, longer than one character, or (for
    /// ISO 2709) not a single ASCII character other than the delimiters.
    #[error("invalid subfield code {code:?} in field {tag}{}: a subfield code must be one {}character",
        at(.position), if *.iso2709 { "ascii " } else { "" })]
    BadSubfieldCode {
        /// Tag of the field.
        tag: String,
        /// The code as found.
        code: String,
        /// Byte offset of the subfield, when reading.
        position: Option<u64>,
        /// Whether the stricter ISO 2709 rule (one ASCII byte) was applied.
        iso2709: bool,
    },

    /// A MARCXML element lacks a required attribute (`tag` or `code`).
    #[error("<{element}> at byte {position} has no {attribute} attribute")]
    MissingAttribute {
        /// Local name of the element.
        element: &'static str,
        /// Name of the missing attribute.
        attribute: &'static str,
        /// Byte offset of the element.
        position: u64,
    },

    /// A MARCXML element repeats an attribute that this crate reads (XML
    /// does not allow a repeated attribute at all).
    #[error("<{element}> at byte {position} has a second {attribute} attribute")]
    DuplicateAttribute {
        /// Local name of the element.
        element: &'static str,
        /// Name of the repeated attribute.
        attribute: &'static str,
        /// Byte offset of the element.
        position: u64,
    },

    /// A MARCXML record holds an element that has no place there.
    #[error("unexpected element <{name}> inside <{parent}> at byte {position}")]
    UnexpectedElement {
        /// Local name of the unexpected element.
        name: String,
        /// Local name of the element it was found in.
        parent: &'static str,
        /// Byte offset of the unexpected element.
        position: u64,
    },

    /// A MARCXML record holds text where only elements may appear.
    #[error("unexpected text {text:?} inside <{parent}> at byte {position}")]
    UnexpectedText {
        /// The start of the text.
        text: String,
        /// Local name of the element it was found in.
        parent: &'static str,
        /// Byte offset of the text.
        position: u64,
    },

    /// A MARCXML record has no `<leader>`.
    #[error("record at byte {position} has no leader")]
    MissingLeader {
        /// Byte offset of the `<record>` start tag.
        position: u64,
    },

    /// A MARCXML record has more than one `<leader>`.
    #[error("record has a second leader at byte {position}")]
    DuplicateLeader {
        /// Byte offset of the second `<leader>`.
        position: u64,
    },

    /// The XML is not well-formed, or a character or entity reference in it
    /// cannot be resolved.
    #[error("malformed xml at byte {position}")]
    Xml {
        /// Byte offset where the problem was found.
        position: u64,
        /// What the XML parser reported.
        #[source]
        source: quick_xml::Error,
    },

    /// The XML declaration names an encoding other than UTF-8.
    #[error("unsupported xml encoding {encoding:?}: only utf-8 marcxml can be read")]
    UnsupportedXmlEncoding {
        /// The encoding named in the XML declaration.
        encoding: String,
    },

    /// The XML ended inside a record or before the enclosing elements were
    /// closed, which usually means a truncated download.
    #[error("xml input ended inside {context} that started at byte {position}")]
    UnexpectedEof {
        /// What was still open: "a record" or "the document".
        context: &'static str,
        /// Byte offset of the record start, or 0 for the document.
        position: u64,
    },

    /// [`crate::marcxml::parse_record`] found no `<record>` element.
    #[error("no marcxml record element found")]
    NoRecord,

    /// [`crate::marcxml::parse_record`] found more than one `<record>`.
    #[error("expected exactly one record but found another at byte {position}")]
    MultipleRecords {
        /// Byte offset of the second `<record>` start tag.
        position: u64,
    },

    /// The record would be longer than the 99,999 bytes that the five-digit
    /// record length of ISO 2709 can express.
    #[error("record is {length} bytes, over the iso 2709 limit of 99999")]
    RecordTooLong {
        /// The length the record would have had, in bytes.
        length: usize,
    },

    /// A field would be longer than the 9,999 bytes (field terminator
    /// included) that the four-digit directory length can express.
    #[error("field {tag} is {length} bytes, over the iso 2709 limit of 9999")]
    FieldTooLong {
        /// Tag of the field.
        tag: String,
        /// Length of the field in bytes, field terminator included.
        length: usize,
    },

    /// A value contains one of the characters ISO 2709 uses as delimiters
    /// (U+001D, U+001E, U+001F), so writing it would corrupt the record.
    #[error("field {tag}{} contains {}, which iso 2709 reserves as a delimiter",
        code.map(|c| format!(" ${c}")).unwrap_or_default(), unicode(*.character))]
    DelimiterInValue {
        /// Tag of the field.
        tag: String,
        /// Subfield code, for a data field.
        code: Option<char>,
        /// The offending character.
        character: char,
    },

    /// The kind of a field (control or data) does not match what its tag
    /// means in ISO 2709, so it would be read back as the other kind.
    #[error("{kind} field {tag} cannot be written to iso 2709: {reason}")]
    FieldKindMismatch {
        /// Tag of the field.
        tag: String,
        /// "control" or "data".
        kind: &'static str,
        /// Why the field would not survive a round trip.
        reason: &'static str,
    },

    /// The record length in an ISO 2709 leader does not match the distance
    /// to the record terminator.
    #[error("record at byte {position}: leader says {declared} bytes but the record is {actual} bytes up to its terminator")]
    LengthMismatch {
        /// Byte offset of the record.
        position: u64,
        /// Length stated in leader/00-04.
        declared: usize,
        /// Actual length up to and including the record terminator.
        actual: usize,
    },

    /// The structure of an ISO 2709 record (base address, directory,
    /// terminators) is malformed.
    #[error("malformed iso 2709 record at byte {position}: {reason}")]
    BadStructure {
        /// Byte offset of the problem.
        position: u64,
        /// What is wrong.
        reason: String,
    },

    /// A field of an ISO 2709 record is malformed.
    #[error("bad field {tag} at byte {position}: {reason}")]
    BadField {
        /// Tag of the field.
        tag: String,
        /// Byte offset of the problem.
        position: u64,
        /// What is wrong.
        reason: &'static str,
    },

    /// A value in a record whose leader/09 says UTF-8 is not valid UTF-8.
    #[error("invalid utf-8 in field {tag}{} at byte {position}",
        code.map(|c| format!(" ${c}")).unwrap_or_default())]
    InvalidUtf8 {
        /// Tag of the field.
        tag: String,
        /// Subfield code, for a data field.
        code: Option<char>,
        /// Byte offset of the first invalid byte.
        position: u64,
    },

    /// A value in a MARC-8 record holds a byte or sequence that MARC-8 does
    /// not define (see [`crate::marc8`]).
    #[error("invalid marc-8 in field {tag}{} at byte {position}: {}",
        code.map(|c| format!(" ${c}")).unwrap_or_default(), .problem.kind)]
    InvalidMarc8 {
        /// Tag of the field.
        tag: String,
        /// Subfield code, for a data field.
        code: Option<char>,
        /// Byte offset of the offending byte.
        position: u64,
        /// What is wrong, with its offset inside the value. Not a `#[source]`:
        /// the message already says it, and quarantine reasons are stored
        /// with `to_string()`, which would not show a source.
        problem: crate::Marc8Error,
    },

    /// Leader/09 names a character coding scheme this crate cannot read.
    #[error("unsupported character coding scheme {value:?} in leader/09 of the record at byte {position}: only 'a' (utf-8) and ' ' (marc-8) can be read")]
    UnsupportedEncoding {
        /// The leader/09 value.
        value: char,
        /// Byte offset of the record.
        position: u64,
    },

    /// An ISO 2709 stream ended in the middle of a record.
    #[error("input ended inside the record that starts at byte {position}")]
    Truncated {
        /// Byte offset of the incomplete record.
        position: u64,
    },

    /// No record terminator was found within the longest possible record.
    #[error(
        "no record terminator within 99999 bytes of the record that starts at byte {position}"
    )]
    Unterminated {
        /// Byte offset where the record started.
        position: u64,
    },

    /// Reading the underlying input failed.
    #[error("reading input failed at byte {position}")]
    Io {
        /// Byte offset reached when the read failed.
        position: u64,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Formats an optional byte offset as " at byte N", or nothing.
fn at(position: &Option<u64>) -> String {
    position
        .map(|p| format!(" at byte {p}"))
        .unwrap_or_default()
}

/// Formats a character by its code point, because the delimiters it is used
/// for are invisible when printed.
fn unicode(c: char) -> impl fmt::Display {
    format!("U+{:04X}", u32::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages are stored as quarantine reasons: they must be lower-case,
    /// without a trailing period, and name the tag and size.
    #[test]
    fn messages_are_lower_case_and_name_the_context() {
        let err = MarcError::FieldTooLong {
            tag: "520".into(),
            length: 12_345,
        };
        assert_eq!(
            err.to_string(),
            "field 520 is 12345 bytes, over the iso 2709 limit of 9999"
        );
        let err = MarcError::DelimiterInValue {
            tag: "245".into(),
            code: Some('a'),
            character: '\u{1f}',
        };
        assert_eq!(
            err.to_string(),
            "field 245 $a contains U+001F, which iso 2709 reserves as a delimiter"
        );
        let err = MarcError::BadTag {
            tag: "24".into(),
            position: Some(17),
        };
        assert_eq!(
            err.to_string(),
            "invalid tag \"24\" at byte 17: a tag must be 3 ascii letters or digits"
        );
        let err = MarcError::BadTag {
            tag: "24".into(),
            position: None,
        };
        assert!(!err.to_string().contains("byte"));
    }

    /// Callers wrap the error in anyhow and send it across tasks.
    #[test]
    fn error_is_send_sync_static() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<MarcError>();
    }
}
