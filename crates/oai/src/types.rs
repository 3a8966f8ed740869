//! The OAI-PMH 2.0 vocabulary: verbs, error codes, granularity, headers,
//! records, resumption tokens, and datestamp parsing.
//!
//! These are plain data types shared by the parser, the request builder,
//! the harvest state machine and the response writer. Nothing here reads
//! the clock: every time is passed in by the caller.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::error::OaiError;

/// The six OAI-PMH 2.0 verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// `Identify`: describe the repository.
    Identify,
    /// `ListMetadataFormats`: the metadata prefixes the repository serves.
    ListMetadataFormats,
    /// `ListSets`: the set hierarchy.
    ListSets,
    /// `GetRecord`: one record by identifier.
    GetRecord,
    /// `ListIdentifiers`: headers only, paged with resumption tokens.
    ListIdentifiers,
    /// `ListRecords`: headers and metadata, paged with resumption tokens.
    ListRecords,
}

impl Verb {
    /// Every verb, in the order the protocol specification lists them.
    pub const ALL: [Verb; 6] = [
        Verb::Identify,
        Verb::ListMetadataFormats,
        Verb::ListSets,
        Verb::GetRecord,
        Verb::ListIdentifiers,
        Verb::ListRecords,
    ];

    /// The verb as it appears in `verb=` and in the response element name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verb::Identify => "Identify",
            Verb::ListMetadataFormats => "ListMetadataFormats",
            Verb::ListSets => "ListSets",
            Verb::GetRecord => "GetRecord",
            Verb::ListIdentifiers => "ListIdentifiers",
            Verb::ListRecords => "ListRecords",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the six OAI-PMH verbs (verbs are
/// case-sensitive, so `listrecords` is not one either).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown OAI-PMH verb {0:?}")]
pub struct UnknownVerb(pub String);

impl FromStr for Verb {
    type Err = UnknownVerb;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Verb::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVerb(s.to_owned()))
    }
}

/// The error codes of OAI-PMH 2.0 section 3.6, plus whatever else a
/// repository puts in `code=` (kept verbatim in [`ErrorCode::Other`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Illegal or missing argument, or an illegal argument value.
    BadArgument,
    /// The resumption token is invalid or expired.
    BadResumptionToken,
    /// The verb is missing, repeated or not a verb.
    BadVerb,
    /// The metadata format is not supported by the item or the repository.
    CannotDisseminateFormat,
    /// The identifier is unknown or illegal in this repository.
    IdDoesNotExist,
    /// The combination of from, until, set and metadataPrefix is empty.
    NoRecordsMatch,
    /// No metadata formats are available for the item.
    NoMetadataFormats,
    /// The repository does not support sets.
    NoSetHierarchy,
    /// A code outside the protocol, as the repository wrote it. Not valid
    /// in responses we write (the schema enumerates the codes above).
    Other(String),
}

impl ErrorCode {
    /// The code as written in `<error code="…">`.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::BadArgument => "badArgument",
            ErrorCode::BadResumptionToken => "badResumptionToken",
            ErrorCode::BadVerb => "badVerb",
            ErrorCode::CannotDisseminateFormat => "cannotDisseminateFormat",
            ErrorCode::IdDoesNotExist => "idDoesNotExist",
            ErrorCode::NoRecordsMatch => "noRecordsMatch",
            ErrorCode::NoMetadataFormats => "noMetadataFormats",
            ErrorCode::NoSetHierarchy => "noSetHierarchy",
            ErrorCode::Other(code) => code,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorCode {
    /// Never fails: unknown codes become [`ErrorCode::Other`].
    type Err = Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Codes are matched exactly, as the schema enumerates them; a
        // repository that writes `BadArgument` is not speaking OAI-PMH and
        // we keep its spelling so the log shows what it sent.
        Ok(match s {
            "badArgument" => ErrorCode::BadArgument,
            "badResumptionToken" => ErrorCode::BadResumptionToken,
            "badVerb" => ErrorCode::BadVerb,
            "cannotDisseminateFormat" => ErrorCode::CannotDisseminateFormat,
            "idDoesNotExist" => ErrorCode::IdDoesNotExist,
            "noRecordsMatch" => ErrorCode::NoRecordsMatch,
            "noMetadataFormats" => ErrorCode::NoMetadataFormats,
            "noSetHierarchy" => ErrorCode::NoSetHierarchy,
            other => ErrorCode::Other(other.to_owned()),
        })
    }
}

impl From<&str> for ErrorCode {
    fn from(s: &str) -> Self {
        match s.parse() {
            Ok(code) => code,
            Err(never) => match never {},
        }
    }
}

/// The finest datestamp resolution a repository supports, from `Identify`.
/// `from` and `until` must be sent in this granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Granularity {
    /// `YYYY-MM-DD`. The default, because every repository must accept
    /// day granularity (OAI-PMH 2.0 section 3.3.2).
    #[default]
    Day,
    /// `YYYY-MM-DDThh:mm:ssZ`.
    Seconds,
}

impl Granularity {
    /// Formats a time as a `from`/`until` value in this granularity.
    ///
    /// Day granularity truncates to the UTC date, which makes an
    /// incremental harvest overlap the previous one by up to a day rather
    /// than miss records: re-harvested records are upserts.
    pub fn format(&self, t: DateTime<Utc>) -> String {
        match self {
            Granularity::Day => t.format("%Y-%m-%d").to_string(),
            Granularity::Seconds => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }
    }

    /// The granularity as written in `Identify`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Granularity::Day => "YYYY-MM-DD",
            Granularity::Seconds => "YYYY-MM-DDThh:mm:ssZ",
        }
    }

    /// Reads an `Identify` granularity value. Case-insensitive, because
    /// real providers write `YYYY-MM-DDthh:mm:ssZ` (Melinda); `None` for
    /// anything else.
    pub fn from_identify(s: &str) -> Option<Granularity> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("YYYY-MM-DD") {
            Some(Granularity::Day)
        } else if s.eq_ignore_ascii_case("YYYY-MM-DDThh:mm:ssZ") {
            Some(Granularity::Seconds)
        } else {
            None
        }
    }
}

/// How a repository reports deletions, from `Identify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeletedRecord {
    /// No deletion markers: deletions can only be found by comparing a
    /// full `ListIdentifiers` run with the store. The default for unknown
    /// values, because it is the assumption that never misses a deletion.
    #[default]
    No,
    /// Deletion markers are kept for a while, not forever.
    Transient,
    /// Deletion markers are kept forever.
    Persistent,
}

impl DeletedRecord {
    /// The value as written in `Identify`.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeletedRecord::No => "no",
            DeletedRecord::Transient => "transient",
            DeletedRecord::Persistent => "persistent",
        }
    }

    /// Reads an `Identify` deletedRecord value (case-insensitive); `None`
    /// for anything else.
    pub fn from_identify(s: &str) -> Option<DeletedRecord> {
        let s = s.trim();
        [
            DeletedRecord::No,
            DeletedRecord::Transient,
            DeletedRecord::Persistent,
        ]
        .into_iter()
        .find(|d| s.eq_ignore_ascii_case(d.as_str()))
    }
}

/// The parts of an `Identify` response the harvester needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identify {
    /// `repositoryName`.
    pub repository_name: String,
    /// `baseURL`.
    pub base_url: String,
    /// `protocolVersion` (`2.0`; empty if the repository left it out).
    pub protocol_version: String,
    /// `earliestDatestamp`, as written (empty if left out).
    pub earliest_datestamp: String,
    /// `deletedRecord`; [`DeletedRecord::No`] if missing or unknown.
    pub deleted_record: DeletedRecord,
    /// `granularity`; [`Granularity::Day`] if missing or unknown.
    pub granularity: Granularity,
}

/// A record header: what `ListIdentifiers` returns, and the first part of
/// every record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// The record's OAI identifier (never empty in parsed records).
    pub identifier: String,
    /// The datestamp as written. Empty when the repository left it out,
    /// which some do for deleted records.
    pub datestamp: String,
    /// `status="deleted"`.
    pub deleted: bool,
    /// The `setSpec`s the record belongs to.
    pub sets: Vec<String>,
}

/// One record of a `ListRecords`, `ListIdentifiers` or `GetRecord` response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OaiRecord {
    /// The header.
    pub header: Header,
    /// The raw XML of the single child element of `<metadata>` (for
    /// example `<marc:record …>…</marc:record>`), sliced from the response
    /// bytes, so prefixes and namespace declarations on it stay exactly as
    /// written. Declarations inherited from ancestors (such as a `marc:`
    /// prefix declared on the `OAI-PMH` root) are not copied in. `None`
    /// for deleted records and for `ListIdentifiers`.
    pub metadata: Option<String>,
}

/// A record in a list response that could not be used, kept so the shell
/// can quarantine it with its reason instead of dropping it silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRecord {
    /// The identifier, when the header had a usable one.
    pub identifier: Option<String>,
    /// Why the record was rejected.
    pub reason: String,
    /// The record element exactly as received (bytes, because invalid
    /// UTF-8 is one of the reasons).
    pub raw: Vec<u8>,
}

/// A `resumptionToken` element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResumptionToken {
    /// The token, with surrounding whitespace removed (pretty-printing
    /// servers put newlines around it). Empty means the list is complete.
    pub token: String,
    /// `completeListSize`, if present and a number.
    pub complete_list_size: Option<u64>,
    /// `cursor`, if present and a number.
    pub cursor: Option<u64>,
    /// `expirationDate`, as written.
    pub expiration_date: Option<String>,
}

impl ResumptionToken {
    /// A token with no attributes.
    pub fn new(token: impl Into<String>) -> Self {
        ResumptionToken {
            token: token.into(),
            ..ResumptionToken::default()
        }
    }

    /// Whether this token ends the list (an empty `<resumptionToken/>`).
    pub fn is_final(&self) -> bool {
        self.token.is_empty()
    }
}

/// One page of a `ListRecords` or `ListIdentifiers` response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListPage {
    /// `responseDate`, as written (empty if the repository left it out).
    pub response_date: String,
    /// The usable records, in document order.
    pub records: Vec<OaiRecord>,
    /// The resumption token, if the element was present.
    pub resumption_token: Option<ResumptionToken>,
    /// Records that could not be used (no identifier, metadata that is not
    /// UTF-8, …). A bad record does not fail the page.
    pub rejected: Vec<RejectedRecord>,
}

impl ListPage {
    /// The token to resume with, if the list continues.
    pub fn next_token(&self) -> Option<&str> {
        self.resumption_token
            .as_ref()
            .map(|t| t.token.as_str())
            .filter(|t| !t.is_empty())
    }
}

/// A `metadataFormat` of `ListMetadataFormats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataFormat {
    /// `metadataPrefix`, e.g. `marc21`.
    pub prefix: String,
    /// `schema`: the XML Schema URL.
    pub schema: String,
    /// `metadataNamespace`: the namespace URI.
    pub namespace: String,
}

impl MetadataFormat {
    /// MARCXML, under the prefix most repositories use for it.
    pub fn marc21() -> Self {
        MetadataFormat {
            prefix: "marc21".to_owned(),
            schema: "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd".to_owned(),
            namespace: "http://www.loc.gov/MARC21/slim".to_owned(),
        }
    }

    /// Unqualified Dublin Core, which every repository must support.
    pub fn oai_dc() -> Self {
        MetadataFormat {
            prefix: "oai_dc".to_owned(),
            schema: "http://www.openarchives.org/OAI/2.0/oai_dc.xsd".to_owned(),
            namespace: "http://www.openarchives.org/OAI/2.0/oai_dc/".to_owned(),
        }
    }
}

/// Parses an OAI-PMH date or datestamp into UTC.
///
/// Accepts what repositories actually send, not only what the protocol
/// allows: day (`2001-01-01`), seconds (`2001-01-01T10:00:00Z`), with
/// fractional seconds (`…T10:00:00.000Z`, Melinda), a lowercase `t`/`z`,
/// a numeric offset (`+05:45`, converted to UTC), and no zone at all
/// (`2010-01-01T00:00:00`, taken as UTC since OAI-PMH times are UTC).
pub fn parse_datestamp(s: &str) -> Result<DateTime<Utc>, OaiError> {
    let t = s.trim();
    if t.len() == 10 {
        if let Ok(day) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
        }
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dt%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(naive.and_utc());
        }
    }
    Err(OaiError::InvalidDatestamp(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Every accepted datestamp shape maps to the instant it names.
    #[test]
    fn datestamp_shapes() {
        let noon = Utc.with_ymd_and_hms(2001, 2, 3, 12, 0, 0).unwrap();
        for s in [
            "2001-02-03T12:00:00Z",
            "2001-02-03T12:00:00.000Z",
            "2001-02-03t12:00:00z",
            "2001-02-03T12:00:00",
            " 2001-02-03T12:00:00Z\n",
            "2001-02-03T17:45:00+05:45",
        ] {
            assert_eq!(parse_datestamp(s).unwrap(), noon, "{s}");
        }
        assert_eq!(
            parse_datestamp("2001-02-03").unwrap(),
            Utc.with_ymd_and_hms(2001, 2, 3, 0, 0, 0).unwrap()
        );
        for bad in ["", "yesterday", "2001-13-01", "2002-06-01T03:020:00Z"] {
            assert!(
                matches!(parse_datestamp(bad), Err(OaiError::InvalidDatestamp(_))),
                "{bad}"
            );
        }
    }

    /// `from` values come out in the repository's granularity.
    #[test]
    fn granularity_formats() {
        let t = Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap();
        assert_eq!(Granularity::Day.format(t), "2024-05-06");
        assert_eq!(Granularity::Seconds.format(t), "2024-05-06T07:08:09Z");
    }

    /// Codes and verbs survive a trip through their string forms.
    #[test]
    fn codes_and_verbs_round_trip() {
        for code in [
            ErrorCode::BadArgument,
            ErrorCode::BadResumptionToken,
            ErrorCode::BadVerb,
            ErrorCode::CannotDisseminateFormat,
            ErrorCode::IdDoesNotExist,
            ErrorCode::NoRecordsMatch,
            ErrorCode::NoMetadataFormats,
            ErrorCode::NoSetHierarchy,
            ErrorCode::Other("undefinedError".into()),
        ] {
            assert_eq!(ErrorCode::from(code.as_str()), code);
        }
        for verb in Verb::ALL {
            assert_eq!(verb.as_str().parse::<Verb>(), Ok(verb));
        }
        assert!("listrecords".parse::<Verb>().is_err());
    }
}
