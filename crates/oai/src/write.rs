//! Writing OAI-PMH 2.0 responses, for our test and demo server and for the
//! union catalogue's provider.
//!
//! Pure functions from values to XML text; the output validates against
//! the OAI-PMH schema (a test checks every writer with `xmllint`). Record
//! metadata is inserted verbatim, so it must be one well-formed element in
//! a namespace of its own (MARCXML, `oai_dc`); everything else is escaped
//! here. Characters XML 1.0 cannot carry (most C0 controls) are dropped
//! from escaped text, because a response that is not well-formed would be
//! unusable as a whole.
//!
//! Every function takes the `request_url` the provider received; its base
//! becomes the `<request>` element's content and its OAI-PMH arguments
//! become the element's attributes, decoded. The protocol forbids those
//! attributes after `badVerb` and `badArgument`, so [`error`] leaves them
//! out for those codes.

use std::fmt::Write as _;

use crate::request::split_url;
use crate::types::{ErrorCode, Identify, MetadataFormat, OaiRecord, ResumptionToken, Verb};

const OAI_NAMESPACE: &str = "http://www.openarchives.org/OAI/2.0/";
const OAI_SCHEMA: &str = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd";

/// The request arguments the schema allows as `<request>` attributes, in
/// the order we write them.
const REQUEST_ARGS: [&str; 7] = [
    "verb",
    "identifier",
    "metadataPrefix",
    "from",
    "until",
    "set",
    "resumptionToken",
];

/// An `Identify` response.
pub fn identify(resp_date: &str, request_url: &str, id: &Identify, admin_email: &str) -> String {
    let mut out = open(resp_date, request_url, Some(Verb::Identify));
    out.push_str("<Identify>\n");
    element(&mut out, "repositoryName", &id.repository_name);
    element(&mut out, "baseURL", &id.base_url);
    let version = if id.protocol_version.is_empty() {
        "2.0"
    } else {
        &id.protocol_version
    };
    element(&mut out, "protocolVersion", version);
    element(&mut out, "adminEmail", admin_email);
    element(&mut out, "earliestDatestamp", &id.earliest_datestamp);
    element(&mut out, "deletedRecord", id.deleted_record.as_str());
    element(&mut out, "granularity", id.granularity.as_str());
    out.push_str("</Identify>\n");
    close(out)
}

/// A `ListRecords` or `ListIdentifiers` page.
///
/// For `ListRecords` each record gets its `<metadata>` with the record's
/// metadata XML inserted verbatim; for [`Verb::ListIdentifiers`] only
/// headers are written (any other verb is written as `ListRecords`).
/// Deleted records get `<header status="deleted">` and no metadata.
///
/// The schema does not allow an empty list: the protocol answer to an
/// empty selection is `noRecordsMatch`, so that is what an empty `records`
/// produces. A `completeListSize` of 0 is left out for the same reason
/// (the schema wants a positive integer).
pub fn list_records(
    resp_date: &str,
    request_url: &str,
    verb: Verb,
    records: &[OaiRecord],
    token: Option<&ResumptionToken>,
) -> String {
    if records.is_empty() {
        return error(
            resp_date,
            request_url,
            &ErrorCode::NoRecordsMatch,
            "The combination of the values of the from, until, set and metadataPrefix \
             arguments results in an empty list.",
        );
    }
    let verb = if verb == Verb::ListIdentifiers {
        Verb::ListIdentifiers
    } else {
        Verb::ListRecords
    };
    let mut out = open(resp_date, request_url, Some(verb));
    let _ = writeln!(out, "<{verb}>");
    for record in records {
        if verb == Verb::ListIdentifiers {
            header(&mut out, record);
        } else {
            record_element(&mut out, record);
        }
    }
    if let Some(token) = token {
        out.push_str("<resumptionToken");
        if let Some(date) = token.expiration_date.as_deref().filter(|d| !d.is_empty()) {
            attribute(&mut out, "expirationDate", date);
        }
        if let Some(size) = token.complete_list_size.filter(|&n| n > 0) {
            attribute(&mut out, "completeListSize", &size.to_string());
        }
        if let Some(cursor) = token.cursor {
            attribute(&mut out, "cursor", &cursor.to_string());
        }
        out.push('>');
        escape_into(&mut out, &token.token, false);
        out.push_str("</resumptionToken>\n");
    }
    let _ = writeln!(out, "</{verb}>");
    close(out)
}

/// A `GetRecord` response.
pub fn get_record(resp_date: &str, request_url: &str, record: &OaiRecord) -> String {
    let mut out = open(resp_date, request_url, Some(Verb::GetRecord));
    out.push_str("<GetRecord>\n");
    record_element(&mut out, record);
    out.push_str("</GetRecord>\n");
    close(out)
}

/// A `ListMetadataFormats` response (see [`MetadataFormat::marc21`] and
/// [`MetadataFormat::oai_dc`]). An empty `formats` is answered with
/// `noMetadataFormats`, as the protocol requires.
pub fn list_metadata_formats(
    resp_date: &str,
    request_url: &str,
    formats: &[MetadataFormat],
) -> String {
    if formats.is_empty() {
        return error(
            resp_date,
            request_url,
            &ErrorCode::NoMetadataFormats,
            "There are no metadata formats available for the specified item.",
        );
    }
    let mut out = open(resp_date, request_url, Some(Verb::ListMetadataFormats));
    out.push_str("<ListMetadataFormats>\n");
    for format in formats {
        out.push_str("<metadataFormat>");
        element(&mut out, "metadataPrefix", &format.prefix);
        element(&mut out, "schema", &format.schema);
        element(&mut out, "metadataNamespace", &format.namespace);
        out.push_str("</metadataFormat>\n");
    }
    out.push_str("</ListMetadataFormats>\n");
    close(out)
}

/// An error response. After `badVerb` and `badArgument` the `<request>`
/// element carries only the base URL, as the protocol requires. An
/// [`ErrorCode::Other`] is written as given, which the schema does not
/// allow; a provider should only use the protocol's codes.
pub fn error(resp_date: &str, request_url: &str, code: &ErrorCode, message: &str) -> String {
    let echo_arguments = !matches!(code, ErrorCode::BadVerb | ErrorCode::BadArgument);
    let mut out = if echo_arguments {
        open(resp_date, request_url, None)
    } else {
        open_bare(resp_date, request_url)
    };
    out.push_str("<error");
    attribute(&mut out, "code", code.as_str());
    out.push('>');
    escape_into(&mut out, message, false);
    out.push_str("</error>\n");
    close(out)
}

/// The prolog, root, `responseDate` and `<request>` with attributes from
/// the request URL. `verb` overrides the URL's verb: for a successful
/// response we know which verb was answered.
fn open(resp_date: &str, request_url: &str, verb: Option<Verb>) -> String {
    let (base, params) = split_url(request_url);
    let mut out = prolog(resp_date);
    out.push_str("<request");
    for name in REQUEST_ARGS {
        let value = if name == "verb" {
            match verb {
                Some(v) => Some(v.as_str().to_owned()),
                // Echo the verb only if it is one; the schema enumerates them.
                None => lookup(&params, name).filter(|v| v.parse::<Verb>().is_ok()),
            }
        } else {
            lookup(&params, name)
        };
        if let Some(value) = value {
            attribute(&mut out, name, &value);
        }
    }
    out.push('>');
    escape_into(&mut out, base, false);
    out.push_str("</request>\n");
    out
}

/// Like [`open`], with a `<request>` carrying the base URL only.
fn open_bare(resp_date: &str, request_url: &str) -> String {
    let (base, _) = split_url(request_url);
    let mut out = prolog(resp_date);
    out.push_str("<request>");
    escape_into(&mut out, base, false);
    out.push_str("</request>\n");
    out
}

fn prolog(resp_date: &str) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<OAI-PMH xmlns=\"{OAI_NAMESPACE}\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"{OAI_NAMESPACE} {OAI_SCHEMA}\">"
    );
    element(&mut out, "responseDate", resp_date);
    out
}

fn close(mut out: String) -> String {
    out.push_str("</OAI-PMH>\n");
    out
}

/// The first value of a request argument. A repeated argument is a
/// `badArgument` the provider reports; echoing the first is enough here.
fn lookup(params: &[(String, String)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn record_element(out: &mut String, record: &OaiRecord) {
    out.push_str("<record>");
    header(out, record);
    if !record.header.deleted {
        if let Some(metadata) = &record.metadata {
            out.push_str("<metadata>");
            out.push_str(metadata);
            out.push_str("</metadata>");
        }
    }
    out.push_str("</record>\n");
}

fn header(out: &mut String, record: &OaiRecord) {
    let h = &record.header;
    out.push_str("<header");
    if h.deleted {
        attribute(out, "status", "deleted");
    }
    out.push('>');
    element(out, "identifier", &h.identifier);
    element(out, "datestamp", &h.datestamp);
    for set in &h.sets {
        element(out, "setSpec", set);
    }
    out.push_str("</header>\n");
}

fn element(out: &mut String, name: &str, text: &str) {
    let _ = write!(out, "<{name}>");
    escape_into(out, text, false);
    let _ = writeln!(out, "</{name}>");
}

fn attribute(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, " {name}=\"");
    escape_into(out, value, true);
    out.push('"');
}

/// Escapes text or an attribute value, dropping characters XML 1.0 cannot
/// represent at all.
fn escape_into(out: &mut String, s: &str, attribute: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            // In attributes, literal whitespace would be normalised to
            // spaces by the reader; character references survive.
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
}

/// The XML 1.0 `Char` production (Rust `char`s are never surrogates).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Markup characters are escaped and unrepresentable ones dropped.
    #[test]
    fn escaping() {
        let mut out = String::new();
        escape_into(&mut out, "a<b>&\"c\u{1}\u{FFFF}\td", true);
        assert_eq!(out, "a&lt;b&gt;&amp;&quot;c&#9;d");
    }

    /// badArgument must not echo the arguments that caused it.
    #[test]
    fn bad_argument_echoes_base_only() {
        let xml = error(
            "2024-01-01T00:00:00Z",
            "http://x/oai?verb=ListRecords&from=junk",
            &ErrorCode::BadArgument,
            "from is not a date",
        );
        assert!(xml.contains("<request>http://x/oai</request>"), "{xml}");
    }
}
