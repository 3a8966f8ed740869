//! The fuzz targets: what each one feeds the input to, and the properties
//! it checks on whatever parses.
//!
//! A target returns a short *signature* of what happened (which error, how
//! many records), which the engine uses as a poor man's coverage signal: an
//! input with a signature not seen before is kept in the corpus. A target
//! signals a finding by panicking, either because the code under test
//! panicked or because a round-trip property failed (`assert!`).

use unicat_marc::{iso2709, marcxml, Record};

/// A fuzz target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The MARCXML readers (streaming and single-record).
    Marcxml,
    /// The ISO 2709 readers, MARC-8 conversion included.
    Iso2709,
    /// The OAI-PMH response parsers, and the MARCXML reader on the
    /// metadata they hand out.
    Oai,
}

impl Target {
    /// All targets, in the order `run.sh` runs them.
    pub const ALL: [Target; 3] = [Target::Marcxml, Target::Iso2709, Target::Oai];

    /// The target's name on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Target::Marcxml => "marcxml",
            Target::Iso2709 => "iso2709",
            Target::Oai => "oai",
        }
    }

    /// The target named `name`.
    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Runs one input; panics on a finding.
    pub fn run(self, data: &[u8]) -> String {
        match self {
            Target::Marcxml => marcxml_target(data),
            Target::Iso2709 => iso2709_target(data),
            Target::Oai => oai_target(data),
        }
    }

    /// Byte strings worth inserting: the syntax the parser cares about.
    pub fn dictionary(self) -> &'static [&'static [u8]] {
        match self {
            Target::Marcxml => MARCXML_TOKENS,
            Target::Iso2709 => ISO2709_TOKENS,
            Target::Oai => OAI_TOKENS,
        }
    }
}

const MARCXML_TOKENS: &[&[u8]] = &[
    b"<record>",
    b"</record>",
    b"<record xmlns=\"http://www.loc.gov/MARC21/slim\">",
    b"<leader>",
    b"</leader>",
    b"00000nam  2200000 i 4500",
    b"<controlfield tag=\"001\">",
    b"<controlfield tag=\"FMT\">",
    b"</controlfield>",
    b"<datafield tag=\"245\" ind1=\"1\" ind2=\"0\">",
    b"<datafield tag=\"880\" ind1=\"&#9;\" ind2=\"\">",
    b"</datafield>",
    b"<subfield code=\"a\">",
    b"<subfield code=\"6\">245-01/(N</subfield>",
    b"<subfield code=\"\">",
    b"</subfield>",
    b"<subfield code=\"b\"/>",
    b"&amp;",
    b"&#27;",
    b"&#x1D538;",
    b"&#0;",
    b"&#xD800;",
    b"&nbsp;",
    b"<![CDATA[",
    b"]]>",
    b"<!--",
    b"-->",
    b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
    b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>",
    b"xmlns:marc=\"http://www.loc.gov/MARC21/slim\"",
    b"marc:",
    b"<collection>",
    b"</collection>",
    b"<header>",
    b"<metadata>",
    b"\xEF\xBB\xBF",
    b"\r\n",
    b"\xF0\x9D\x94\xB8",
];

const ISO2709_TOKENS: &[&[u8]] = &[
    b"\x1D",
    b"\x1E",
    b"\x1F",
    b"\x1Fa",
    b"\x1E\x1D",
    b"\x1B(N",
    b"\x1B(B",
    b"\x1B)Q",
    b"\x1B$1",
    b"\x1B$)1",
    b"\x1B)!E",
    b"\x1B(!",
    b"\x1Bs",
    b"\x1Bg",
    b"\x1B",
    b"&#x259;",
    b"&#x",
    b"00000",
    b"99999",
    b"0000",
    b"9999",
    b"4500",
    b"a22",
    b" 22",
    b"\xE2",
    b"\xEB",
    b"\xEC",
    b"\xC3\xA9",
    b"\xF0\x9D\x94\xB8",
    b"\r\n",
    b"245",
    b"880",
];

const OAI_TOKENS: &[&[u8]] = &[
    b"<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\">",
    b"</OAI-PMH>",
    b"<responseDate>2024-01-01T00:00:00Z</responseDate>",
    b"<request verb=\"ListRecords\">",
    b"<ListRecords>",
    b"</ListRecords>",
    b"<ListIdentifiers>",
    b"<GetRecord>",
    b"<Identify>",
    b"</Identify>",
    b"<record>",
    b"</record>",
    b"<header>",
    b"<header status=\"deleted\">",
    b"</header>",
    b"<identifier>",
    b"</identifier>",
    b"<datestamp>",
    b"<setSpec>",
    b"<metadata>",
    b"</metadata>",
    b"<about>",
    b"<resumptionToken>",
    b"<resumptionToken/>",
    b"</resumptionToken>",
    b"<resumptionToken completeListSize=\"-1\" cursor=\"99999999999999999999999\">",
    b"<error code=\"badResumptionToken\">",
    b"<error code=\"noRecordsMatch\"/>",
    b"<granularity>YYYY-MM-DDThh:mm:ssZ</granularity>",
    b"<deletedRecord>persistent</deletedRecord>",
    b"<metadataFormat>",
    b"&amp;",
    b"&#0;",
    b"<![CDATA[",
    b"]]>",
    b"oai:",
    b"<marc:record xmlns:marc=\"http://www.loc.gov/MARC21/slim\">",
    b"<leader>00000nam  2200000 i 4500</leader>",
    b"</marc:record>",
    b"\xEF\xBB\xBF",
];

/// A coarse description of an error for the novelty signal: the error's
/// variant and the leading plain words of its message (lower-case letters
/// only), so that the same problem at another offset, in another field or
/// with other bad bytes is not new; copied input stops the words.
fn shape(prefix: &str, err: &(impl std::fmt::Debug + std::fmt::Display)) -> String {
    let debug = format!("{err:?}");
    let variant: String = debug
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let message = err.to_string();
    let words: Vec<&str> = message
        .split_whitespace()
        .map(|w| w.trim_end_matches([':', ',']))
        .take_while(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
        .take(8)
        .collect();
    format!("{prefix}{variant}:{}", words.join(" "))
}

/// The signature of a run: the distinct things that happened, in a fixed
/// order, so that the same outcomes in another order or number are not new.
#[derive(Default)]
struct Signature(std::collections::BTreeSet<String>);

impl Signature {
    fn add(&mut self, item: impl Into<String>) {
        self.0.insert(item.into());
    }

    fn finish(self) -> String {
        self.0.into_iter().collect::<Vec<_>>().join("|")
    }
}

/// Properties every record a reader returns must have: it survives our
/// MARCXML writer and reader, and (if ISO 2709 can hold it) our ISO 2709
/// writer and reader.
fn check_record(record: &Record) {
    let xml = marcxml::to_string(record);
    let back = match marcxml::parse_record_checked(&xml) {
        Ok(back) => back,
        Err(err) => panic!("own marcxml does not parse: {err}\n{xml}"),
    };
    assert_eq!(
        marcxml::to_string(&back.record),
        xml,
        "marcxml write-read-write is not stable"
    );
    if let Ok(bytes) = iso2709::to_bytes(record) {
        let back = match iso2709::parse_record_checked(&bytes) {
            Ok(back) => back,
            Err(err) => panic!("own iso 2709 does not parse: {err}"),
        };
        assert!(
            back.warnings.is_empty(),
            "own iso 2709 gives warnings: {:?}",
            back.warnings
        );
        assert_eq!(back.record.fields, record.fields, "iso 2709 round trip");
    }
}

fn marcxml_target(data: &[u8]) -> String {
    let mut signature = Signature::default();
    let mut ok = 0;
    for result in marcxml::Reader::new(data).with_warnings() {
        match result {
            Ok(decoded) => {
                ok += 1;
                for warning in &decoded.warnings {
                    signature.add(format!("w:{}", warning.kind()));
                }
                check_record(&decoded.record);
            }
            Err(err) => signature.add(shape("e:", &err)),
        }
    }
    signature.add(format!("ok{}", ok.min(3)));
    if let Ok(text) = std::str::from_utf8(data) {
        match marcxml::parse_record_checked(text) {
            Ok(decoded) => {
                check_record(&decoded.record);
                signature.add("one:ok");
            }
            Err(err) => signature.add(shape("one:", &err)),
        }
    }
    signature.finish()
}

fn iso2709_target(data: &[u8]) -> String {
    let mut signature = Signature::default();
    let mut ok = 0;
    for result in iso2709::Reader::new(data).with_warnings() {
        match result {
            Ok(decoded) => {
                ok += 1;
                for warning in &decoded.warnings {
                    signature.add(format!("w:{}", warning.kind()));
                }
                check_record(&decoded.record);
            }
            Err(err) => signature.add(shape("e:", &err)),
        }
    }
    signature.add(format!("ok{}", ok.min(3)));
    if let Err(err) = iso2709::parse_record_checked(data) {
        signature.add(shape("one:", &err));
    }
    // The MARC-8 converter on its own, on the raw bytes.
    if let Err(err) = unicat_marc::marc8::marc8_to_utf8(data) {
        signature.add(shape("m8:", &err));
    }
    signature.finish()
}

fn oai_target(data: &[u8]) -> String {
    let mut signature = Signature::default();
    match unicat_oai::parse_list_records(data) {
        Ok(page) => {
            signature.add(format!(
                "lr:{}:{}:{}",
                page.records.len().min(3),
                page.rejected.len().min(3),
                page.resumption_token.is_some()
            ));
            if !page.rejected.is_empty() {
                signature.add("rej");
            }
            for record in &page.records {
                let Some(metadata) = &record.metadata else {
                    continue;
                };
                match marcxml::parse_record_checked(metadata) {
                    Ok(decoded) => check_record(&decoded.record),
                    Err(err) => signature.add(shape("m:", &err)),
                }
            }
        }
        Err(err) => signature.add(shape("lr:", &err)),
    }
    match unicat_oai::parse_identify(data) {
        Ok(_) => signature.add("id:ok"),
        Err(err) => signature.add(shape("id:", &err)),
    }
    // The other verbs share the document parser but not the payload code.
    if unicat_oai::parse_list_identifiers(data).is_ok() {
        signature.add("li:ok");
    }
    if unicat_oai::parse_get_record(data).is_ok() {
        signature.add("gr:ok");
    }
    if unicat_oai::parse_list_metadata_formats(data).is_ok() {
        signature.add("lmf:ok");
    }
    signature.finish()
}
