//! Turning response bodies into OAI-PMH values.
//!
//! The parsers are lenient where real repositories differ from the
//! specification and the meaning is still clear (namespace prefixes or no
//! namespace, `<record>`-wrapped headers in `ListIdentifiers`, a missing
//! datestamp, a misspelt granularity), and strict where guessing could lose
//! data: a body that is not a complete `OAI-PMH` document is
//! [`OaiError::Malformed`], so the shell fetches it again rather than
//! storing half a page. A single unusable record never fails a page; it is
//! returned in [`ListPage::rejected`] for quarantine.
//!
//! No function here panics, whatever the input.

use crate::error::OaiError;
use crate::limits::{cut, MAX_FIELD_BYTES, MAX_TEXT_BYTES, MAX_TOKEN_BYTES};
use crate::types::{
    DeletedRecord, ErrorCode, Granularity, Header, Identify, ListPage, MetadataFormat, OaiRecord,
    RejectedRecord, ResumptionToken, Verb,
};
use crate::xml::{self, Document, Element};

/// The answer to a request: the payload, or the repository's error, with
/// the `responseDate` either way. The harvest state machine needs the date
/// even from a `noRecordsMatch` answer: it is the next incremental `from`.
#[derive(Debug)]
pub(crate) enum Answer<T> {
    /// The verb's payload.
    Payload(T),
    /// The repository answered with `<error>`.
    Error {
        /// `responseDate`, as written.
        response_date: String,
        /// The first error's code.
        code: ErrorCode,
        /// All error texts.
        message: String,
    },
}

impl<T> Answer<T> {
    /// Turns a repository error into [`OaiError::Protocol`].
    fn into_result(self) -> Result<T, OaiError> {
        match self {
            Answer::Payload(payload) => Ok(payload),
            Answer::Error { code, message, .. } => Err(OaiError::Protocol { code, message }),
        }
    }
}

/// Parses an `Identify` response.
///
/// Missing or misspelt fields do not fail the parse (Melinda writes
/// `procotolVersion` and `earliestTimestamp`): strings come back empty,
/// an unknown granularity is [`Granularity::Day`] and an unknown
/// deletedRecord is [`DeletedRecord::No`], the two assumptions that are
/// always safe.
pub fn parse_identify(body: &[u8]) -> Result<Identify, OaiError> {
    answer(body, "Identify", |_, el| {
        // Free text, only shown and logged: cut, never refused.
        let text = |name: &str| {
            el.child_text(name)
                .map(|t| cut(t, MAX_TEXT_BYTES).into_owned())
                .map_err(OaiError::Malformed)
        };
        Ok(Identify {
            repository_name: text("repositoryName")?,
            base_url: text("baseURL")?,
            protocol_version: text("protocolVersion")?,
            earliest_datestamp: text("earliestDatestamp")?,
            deleted_record: DeletedRecord::from_identify(&text("deletedRecord")?)
                .unwrap_or_default(),
            granularity: Granularity::from_identify(&text("granularity")?).unwrap_or_default(),
        })
    })?
    .into_result()
}

/// Parses a `ListRecords` page.
///
/// Each record's metadata is the raw XML of the single element inside
/// `<metadata>`, sliced from `body`. Records that cannot be used (no
/// identifier, no metadata on a live record, metadata that is not UTF-8)
/// are listed in [`ListPage::rejected`].
pub fn parse_list_records(body: &[u8]) -> Result<ListPage, OaiError> {
    parse_list(body, Verb::ListRecords)?.into_result()
}

/// Parses a `ListIdentifiers` page: headers only, every `metadata` is
/// `None`. Headers wrapped in `<record>` (as Melinda sends them) are
/// accepted too.
pub fn parse_list_identifiers(body: &[u8]) -> Result<ListPage, OaiError> {
    parse_list(body, Verb::ListIdentifiers)?.into_result()
}

/// Parses a `GetRecord` response. An unusable record is
/// [`OaiError::InvalidRecord`].
///
/// Some repositories answer a GetRecord of a deleted item with a
/// `<GetRecord>` that holds no `<record>`: only a bare deleted `<header>`
/// (read as the deleted record it describes), or nothing at all. Those are
/// well-formed, deliberate answers that a retry will repeat, so they are
/// [`OaiError::InvalidRecord`] (the record's problem, quarantined by the
/// shell), never [`OaiError::Malformed`], which would be retried and then
/// fail the whole run.
pub fn parse_get_record(body: &[u8]) -> Result<OaiRecord, OaiError> {
    answer(body, "GetRecord", |doc, el| {
        let Some(record) = el.child("record") else {
            let header = el.child("header").map(parse_header);
            return match header {
                Some(Ok(header)) if header.deleted => Ok(OaiRecord {
                    header,
                    metadata: None,
                }),
                Some(Ok(header)) => Err(OaiError::InvalidRecord {
                    identifier: Some(header.identifier),
                    reason: "<GetRecord> has a header that is not deleted but no <record>"
                        .to_owned(),
                }),
                Some(Err(reason)) => Err(OaiError::InvalidRecord {
                    identifier: None,
                    reason: format!("<GetRecord> has no <record>, and its header: {reason}"),
                }),
                None => Err(OaiError::InvalidRecord {
                    identifier: None,
                    reason: "<GetRecord> has no <record>".to_owned(),
                }),
            };
        };
        parse_record(doc.body, record, true).map_err(|rejected| OaiError::InvalidRecord {
            identifier: rejected.identifier,
            reason: rejected.reason,
        })
    })?
    .into_result()
}

/// Parses a `ListMetadataFormats` response.
pub fn parse_list_metadata_formats(body: &[u8]) -> Result<Vec<MetadataFormat>, OaiError> {
    answer(body, "ListMetadataFormats", |_, el| {
        el.children_named("metadataFormat")
            .map(|f| {
                let text = |name: &str| {
                    f.child_text(name)
                        .map(str::to_owned)
                        .map_err(OaiError::Malformed)
                };
                Ok(MetadataFormat {
                    prefix: text("metadataPrefix")?,
                    schema: text("schema")?,
                    namespace: text("metadataNamespace")?,
                })
            })
            .collect()
    })?
    .into_result()
}

/// Parses a list page for the harvest state machine, keeping the
/// `responseDate` of error answers. `verb` other than `ListIdentifiers`
/// means `ListRecords`.
pub(crate) fn parse_list(body: &[u8], verb: Verb) -> Result<Answer<ListPage>, OaiError> {
    let with_metadata = verb != Verb::ListIdentifiers;
    let container = if with_metadata {
        "ListRecords"
    } else {
        "ListIdentifiers"
    };
    answer(body, container, |doc, list| {
        let mut page = ListPage {
            response_date: bounded_date(doc.root.child_text("responseDate").unwrap_or("")),
            ..ListPage::default()
        };
        for child in &list.children {
            match child.name.as_str() {
                "record" => match parse_record(doc.body, child, with_metadata) {
                    Ok(record) => page.records.push(record),
                    Err(rejected) => page.rejected.push(rejected),
                },
                "header" if !with_metadata => match parse_header(child) {
                    Ok(header) => page.records.push(OaiRecord {
                        header,
                        metadata: None,
                    }),
                    Err(reason) => page.rejected.push(reject(doc.body, child, None, reason)),
                },
                "header" => page.rejected.push(reject(
                    doc.body,
                    child,
                    None,
                    "a bare <header> in ListRecords, outside any <record>".to_owned(),
                )),
                "resumptionToken" => {
                    page.resumption_token = Some(parse_token(child)?);
                }
                // Anything else (extensions, stray elements) is not ours
                // to interpret and holds no records.
                _ => {}
            }
        }
        Ok(page)
    })
}

/// The shared frame of every parser: build the tree, check the root, turn
/// `<error>` elements into [`Answer::Error`], find the verb element and
/// hand it to `payload`.
fn answer<T>(
    body: &[u8],
    container: &str,
    payload: impl FnOnce(&Document<'_>, &Element) -> Result<T, OaiError>,
) -> Result<Answer<T>, OaiError> {
    let doc = open(body)?;
    let response_date = bounded_date(
        doc.root
            .child_text("responseDate")
            .map_err(OaiError::Malformed)?,
    );

    let errors: Vec<&Element> = doc.root.children_named("error").collect();
    if let Some(first) = errors.first() {
        let code =
            ErrorCode::from(cut(first.attr("code").unwrap_or("").trim(), MAX_FIELD_BYTES).as_ref());
        let message = if errors.len() == 1 {
            first.trimmed_text().unwrap_or("").to_owned()
        } else {
            // Several errors (a repository may report one per bad
            // argument): keep them all so the log shows every one.
            errors
                .iter()
                .map(|e| {
                    let code = cut(e.attr("code").unwrap_or("").trim(), MAX_FIELD_BYTES);
                    match e.trimmed_text().unwrap_or("") {
                        "" => code.into_owned(),
                        text => format!("{code}: {text}"),
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        return Ok(Answer::Error {
            response_date,
            code,
            message: cut(&collapse_whitespace(&message), MAX_TEXT_BYTES).into_owned(),
        });
    }

    let element = doc.root.child(container).ok_or_else(|| {
        let found: Vec<&str> = doc
            .root
            .children
            .iter()
            .map(|c| c.name.as_str())
            .filter(|n| *n != "responseDate" && *n != "request")
            .collect();
        OaiError::Malformed(format!(
            "response has neither <error> nor <{container}> (found: {})",
            if found.is_empty() {
                "nothing".to_owned()
            } else {
                found.join(", ")
            }
        ))
    })?;
    payload(&doc, element).map(Answer::Payload)
}

/// Builds the tree and checks that it is an OAI-PMH response.
fn open(body: &[u8]) -> Result<Document<'_>, OaiError> {
    let doc = xml::parse(body)?;
    if doc.root.name != "OAI-PMH" {
        let hint = if doc.root.name.eq_ignore_ascii_case("html") {
            " (an HTML page: the server probably reported a failure with status 200)"
        } else {
            ""
        };
        return Err(OaiError::Malformed(format!(
            "root element is <{}>, not <OAI-PMH>{hint}",
            doc.root.name
        )));
    }
    Ok(doc)
}

/// Reads one `<record>`; on failure, the rejection to quarantine.
fn parse_record(
    body: &[u8],
    el: &Element,
    with_metadata: bool,
) -> Result<OaiRecord, RejectedRecord> {
    let Some(header_el) = el.child("header") else {
        return Err(reject(body, el, None, "record has no <header>".to_owned()));
    };
    let header = parse_header(header_el).map_err(|reason| reject(body, el, None, reason))?;
    if !with_metadata || header.deleted {
        // Deleted records carry no metadata by definition; anything a
        // repository puts there anyway is not a record to store.
        return Ok(OaiRecord {
            header,
            metadata: None,
        });
    }
    let id = Some(header.identifier.clone());
    let Some(metadata) = el.child("metadata") else {
        return Err(reject(
            body,
            el,
            id,
            "record is not deleted but has no <metadata>".to_owned(),
        ));
    };
    let range = match metadata.opaque_children.as_slice() {
        [only] => only.clone(),
        [] => {
            return Err(reject(
                body,
                el,
                id,
                "<metadata> contains no element".to_owned(),
            ))
        }
        many => {
            return Err(reject(
                body,
                el,
                id,
                format!("<metadata> contains {} elements, expected one", many.len()),
            ))
        }
    };
    let bytes = body.get(range).unwrap_or_default();
    match std::str::from_utf8(bytes) {
        Ok(xml) => Ok(OaiRecord {
            header,
            metadata: Some(xml.to_owned()),
        }),
        Err(e) => Err(reject(
            body,
            el,
            id,
            format!(
                "metadata is not valid UTF-8 (byte {} of the metadata element)",
                e.valid_up_to()
            ),
        )),
    }
}

/// Reads a `<header>`; the error is the rejection reason. A value over
/// [`MAX_FIELD_BYTES`] rejects the record: it would become a key in the
/// store and a part of every message about the record.
fn parse_header(el: &Element) -> Result<Header, String> {
    let bounded = |what: &str, value: &str| {
        if value.len() > MAX_FIELD_BYTES {
            Err(format!(
                "header {what} of {} bytes, over the limit of {MAX_FIELD_BYTES} bytes",
                value.len()
            ))
        } else {
            Ok(())
        }
    };
    let identifier = el.child_text("identifier")?;
    if identifier.is_empty() {
        return Err("header has no identifier".to_owned());
    }
    bounded("identifier", identifier)?;
    let datestamp = el.child_text("datestamp")?;
    bounded("datestamp", datestamp)?;
    let sets = el
        .children_named("setSpec")
        .map(|s| s.trimmed_text().map(str::to_owned))
        .filter(|s| !matches!(s, Ok(t) if t.is_empty()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("<setSpec>: {e}"))?;
    for set in &sets {
        bounded("setSpec", set)?;
    }
    Ok(Header {
        identifier: identifier.to_owned(),
        datestamp: datestamp.to_owned(),
        deleted: el
            .attr("status")
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("deleted")),
        sets,
    })
}

/// Reads a `<resumptionToken>`. Numbers that do not parse are dropped
/// rather than failing the page: they are informational only. A token
/// over [`MAX_TOKEN_BYTES`] fails the page ([`OaiError::TooLong`]): it
/// cannot be followed (it would go into the next URL and the checkpoint),
/// and the list cannot go on without it.
fn parse_token(el: &Element) -> Result<ResumptionToken, OaiError> {
    let token = el
        .trimmed_text()
        .map_err(|e| OaiError::Malformed(format!("<resumptionToken>: {e}")))?;
    if token.len() > MAX_TOKEN_BYTES {
        return Err(OaiError::TooLong {
            what: "resumptionToken",
            len: token.len(),
            limit: MAX_TOKEN_BYTES,
        });
    }
    let number = |name: &str| el.attr(name).and_then(|v| v.trim().parse::<u64>().ok());
    Ok(ResumptionToken {
        token: token.to_owned(),
        complete_list_size: number("completeListSize"),
        cursor: number("cursor"),
        expiration_date: el
            .attr("expirationDate")
            .map(str::trim)
            .filter(|d| !d.is_empty() && d.len() <= MAX_FIELD_BYTES)
            .map(str::to_owned),
    })
}

/// A `responseDate` as written, or empty (as if it were missing) when it
/// is longer than any date: the harvest then falls back to its own clock.
fn bounded_date(date: &str) -> String {
    if date.len() > MAX_FIELD_BYTES {
        String::new()
    } else {
        date.to_owned()
    }
}

/// A rejection carrying the element's raw bytes.
fn reject(body: &[u8], el: &Element, identifier: Option<String>, reason: String) -> RejectedRecord {
    let identifier = identifier.or_else(|| {
        el.child("header")
            .or(Some(el).filter(|e| e.name == "header"))
            .and_then(|h| h.child_text("identifier").ok())
            .filter(|id| !id.is_empty())
            // An identifier too long to use is still worth showing, cut.
            .map(|id| cut(id, MAX_FIELD_BYTES).into_owned())
    });
    RejectedRecord {
        identifier,
        reason,
        raw: body.get(el.span.clone()).unwrap_or_default().to_vec(),
    }
}

/// Error texts are often pretty-printed across lines; one line logs better.
fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prefixed OAI elements (`oai:record`) parse like unprefixed ones.
    #[test]
    fn prefixed_envelope() {
        let body = br#"<oai:OAI-PMH xmlns:oai="http://www.openarchives.org/OAI/2.0/">
            <oai:responseDate>2024-01-01T00:00:00Z</oai:responseDate>
            <oai:ListRecords><oai:record><oai:header><oai:identifier>a</oai:identifier>
            <oai:datestamp>2024-01-01</oai:datestamp></oai:header>
            <oai:metadata><marc:record xmlns:marc="http://www.loc.gov/MARC21/slim"/></oai:metadata>
            </oai:record><oai:resumptionToken>t1</oai:resumptionToken></oai:ListRecords></oai:OAI-PMH>"#;
        let page = parse_list_records(body).unwrap();
        assert_eq!(page.response_date, "2024-01-01T00:00:00Z");
        assert_eq!(page.records.len(), 1);
        assert_eq!(
            page.records[0].metadata.as_deref(),
            Some(r#"<marc:record xmlns:marc="http://www.loc.gov/MARC21/slim"/>"#)
        );
        assert_eq!(page.next_token(), Some("t1"));
    }

    /// A record whose metadata is not UTF-8 is rejected; its neighbours survive.
    #[test]
    fn bad_record_does_not_sink_the_page() {
        let mut body = b"<OAI-PMH><responseDate>d</responseDate><ListRecords>".to_vec();
        body.extend_from_slice(b"<record><header><identifier>bad</identifier></header><metadata><m:x xmlns:m='u'>\xff</m:x></metadata></record>");
        body.extend_from_slice(b"<record><header><identifier>good</identifier></header><metadata><m:x xmlns:m='u'/></metadata></record>");
        body.extend_from_slice(b"</ListRecords></OAI-PMH>");
        let page = parse_list_records(&body).unwrap();
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.records[0].header.identifier, "good");
        assert_eq!(page.rejected.len(), 1);
        assert_eq!(page.rejected[0].identifier.as_deref(), Some("bad"));
        assert!(page.rejected[0].raw.starts_with(b"<record>"));
    }

    /// Several `<error>` elements: the first code, every message.
    #[test]
    fn several_errors() {
        let body = br#"<OAI-PMH><responseDate>d</responseDate><request>u</request>
            <error code="badArgument">from is
               bad</error><error code="badArgument">until is bad</error></OAI-PMH>"#;
        match parse_list_records(body) {
            Err(OaiError::Protocol { code, message }) => {
                assert_eq!(code, ErrorCode::BadArgument);
                assert_eq!(
                    message,
                    "badArgument: from is bad; badArgument: until is bad"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// Regression (hardening #19, item 4): a resumption token of
    /// megabytes fails its page, not transiently, and the error does not
    /// carry the token; one at the bound is still followed.
    #[test]
    fn oversized_resumption_token_is_refused() {
        let page = |token: &str| {
            format!(
                "<OAI-PMH><responseDate>d</responseDate><ListIdentifiers><header>\
                 <identifier>a</identifier><datestamp>d</datestamp></header>\
                 <resumptionToken>{token}</resumptionToken></ListIdentifiers></OAI-PMH>"
            )
        };
        let huge = "t".repeat(MAX_TOKEN_BYTES + 1);
        match parse_list_identifiers(page(&huge).as_bytes()) {
            Err(e @ OaiError::TooLong { .. }) => {
                assert!(!e.is_transient());
                assert!(e.to_string().len() < 300, "{e}");
            }
            other => panic!("{:?}", other.map(|p| p.records.len())),
        }
        let largest = "t".repeat(MAX_TOKEN_BYTES);
        let ok = parse_list_identifiers(page(&largest).as_bytes()).unwrap();
        assert_eq!(ok.next_token().map(str::len), Some(MAX_TOKEN_BYTES));
    }

    /// An identifier over the bound rejects its record (with the
    /// identifier cut for the quarantine), not the page.
    #[test]
    fn oversized_identifier_rejects_the_record() {
        let long = "i".repeat(MAX_FIELD_BYTES + 10);
        let body = format!(
            "<OAI-PMH><responseDate>d</responseDate><ListIdentifiers>\
             <header><identifier>{long}</identifier><datestamp>d</datestamp></header>\
             <header><identifier>ok</identifier><datestamp>d</datestamp></header>\
             </ListIdentifiers></OAI-PMH>"
        );
        let page = parse_list_identifiers(body.as_bytes()).unwrap();
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.rejected.len(), 1);
        let id = page.rejected[0].identifier.as_deref().unwrap();
        assert!(
            id.len() < MAX_FIELD_BYTES + 40 && id.ends_with("(10 bytes cut)"),
            "{id}"
        );
        assert!(page.rejected[0].reason.contains("over the limit"));
    }

    /// Regression (hardening #19, item 5): a GetRecord answer without a
    /// `<record>` is the record's problem (not transient), and a bare
    /// deleted header in it is read as the deletion it announces.
    #[test]
    fn get_record_without_record() {
        let wrap = |inner: &str| {
            format!(
                "<OAI-PMH><responseDate>d</responseDate><GetRecord>{inner}</GetRecord></OAI-PMH>"
            )
        };
        match parse_get_record(wrap("").as_bytes()) {
            Err(e @ OaiError::InvalidRecord { .. }) => assert!(!e.is_transient()),
            other => panic!("{other:?}"),
        }
        let deleted = parse_get_record(
            wrap(r#"<header status="deleted"><identifier>x</identifier><datestamp>d</datestamp></header>"#)
                .as_bytes(),
        )
        .unwrap();
        assert!(deleted.header.deleted && deleted.metadata.is_none());
        match parse_get_record(
            wrap("<header><identifier>x</identifier><datestamp>d</datestamp></header>").as_bytes(),
        ) {
            Err(OaiError::InvalidRecord { identifier, .. }) => {
                assert_eq!(identifier.as_deref(), Some("x"))
            }
            other => panic!("{other:?}"),
        }
    }

    /// A repository's error text is cut, however long.
    #[test]
    fn long_error_text_is_cut() {
        let body = format!(
            "<OAI-PMH><responseDate>d</responseDate><error code=\"badArgument\">{}</error></OAI-PMH>",
            "x".repeat(1 << 20)
        );
        match parse_list_records(body.as_bytes()) {
            Err(OaiError::Protocol { message, .. }) => {
                assert!(message.len() < MAX_TEXT_BYTES + 40, "{}", message.len())
            }
            other => panic!("{other:?}"),
        }
    }
}
