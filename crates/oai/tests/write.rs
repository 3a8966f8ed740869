//! Tests of the response writer: every kind of response validates against
//! the OAI-PMH schema (with `xmllint`, offline), and what we write parses
//! back to what we wrote.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{sample, SCHEMA};
use unicat_oai::{
    parse_get_record, parse_identify, parse_list_identifiers, parse_list_metadata_formats,
    parse_list_records, write, DeletedRecord, ErrorCode, Granularity, Header, Identify,
    MetadataFormat, OaiError, OaiRecord, ResumptionToken, Verb,
};

const DATE: &str = "2024-03-01T12:00:00Z";
const BASE: &str = "https://union.example.org/oai";

/// A MARCXML record in its own namespace, as the provider will serve it.
const MARC: &str = r#"<marc:record xmlns:marc="http://www.loc.gov/MARC21/slim"><marc:leader>00000nam a2200000 a 4500</marc:leader><marc:controlfield tag="001">42</marc:controlfield><marc:datafield tag="245" ind1="1" ind2="0"><marc:subfield code="a">Oʻzbek tili &amp; adabiyoti /</marc:subfield></marc:datafield></marc:record>"#;

fn records() -> Vec<OaiRecord> {
    vec![
        OaiRecord {
            header: Header {
                identifier: "oai:union.example.org:42".into(),
                datestamp: "2024-02-29T23:59:59Z".into(),
                deleted: false,
                sets: vec!["books".into(), "uz:latin".into()],
            },
            metadata: Some(MARC.into()),
        },
        OaiRecord {
            header: Header {
                identifier: "oai:union.example.org:43&<odd>".into(),
                datestamp: "2024-03-01".into(),
                deleted: true,
                sets: Vec::new(),
            },
            metadata: None,
        },
    ]
}

fn identify_value() -> Identify {
    Identify {
        repository_name: "unicat union catalogue <test> & demo".into(),
        base_url: BASE.into(),
        protocol_version: "2.0".into(),
        earliest_datestamp: "2001-01-01T00:00:00Z".into(),
        deleted_record: DeletedRecord::Persistent,
        granularity: Granularity::Seconds,
    }
}

fn token() -> ResumptionToken {
    ResumptionToken {
        token: "a+b/c=d&e:f".into(),
        complete_list_size: Some(1234),
        cursor: Some(100),
        expiration_date: Some("2024-03-02T12:00:00Z".into()),
    }
}

/// Every response the writer can produce, named for the test output.
fn written_responses() -> Vec<(String, String)> {
    let recs = records();
    let list_url =
        format!("{BASE}?verb=ListRecords&metadataPrefix=marc21&from=2024-01-01&set=books");
    let resume_url = format!("{BASE}?verb=ListRecords&resumptionToken=a%2Bb%2Fc%3Dd%26e%3Af");
    let mut out = vec![
        (
            "identify".to_owned(),
            write::identify(DATE, &format!("{BASE}?verb=Identify"), &identify_value(), "catalogue@example.org"),
        ),
        (
            "list-records".to_owned(),
            write::list_records(DATE, &list_url, Verb::ListRecords, &recs, Some(&token())),
        ),
        (
            "list-records-resumed-final".to_owned(),
            write::list_records(DATE, &resume_url, Verb::ListRecords, &recs, Some(&ResumptionToken {
                complete_list_size: Some(0),
                ..ResumptionToken::new("")
            })),
        ),
        (
            "list-identifiers".to_owned(),
            write::list_records(DATE, &list_url, Verb::ListIdentifiers, &recs, Some(&token())),
        ),
        (
            "list-records-empty".to_owned(),
            write::list_records(DATE, &list_url, Verb::ListRecords, &[], None),
        ),
        (
            "get-record".to_owned(),
            write::get_record(
                DATE,
                &format!("{BASE}?verb=GetRecord&identifier=oai%3Aunion.example.org%3A42&metadataPrefix=marc21"),
                &recs[0],
            ),
        ),
        (
            "get-record-deleted".to_owned(),
            write::get_record(DATE, BASE, &recs[1]),
        ),
        (
            "list-metadata-formats".to_owned(),
            write::list_metadata_formats(
                DATE,
                &format!("{BASE}?verb=ListMetadataFormats"),
                &[MetadataFormat::marc21(), MetadataFormat::oai_dc()],
            ),
        ),
        (
            "list-metadata-formats-none".to_owned(),
            write::list_metadata_formats(DATE, &format!("{BASE}?verb=ListMetadataFormats"), &[]),
        ),
    ];
    // Every protocol error code, with a request URL carrying arguments the
    // schema would reject (they must not be echoed for badArgument).
    for code in [
        ErrorCode::BadArgument,
        ErrorCode::BadResumptionToken,
        ErrorCode::BadVerb,
        ErrorCode::CannotDisseminateFormat,
        ErrorCode::IdDoesNotExist,
        ErrorCode::NoRecordsMatch,
        ErrorCode::NoMetadataFormats,
        ErrorCode::NoSetHierarchy,
    ] {
        let url = match code {
            ErrorCode::BadArgument => format!("{BASE}?verb=ListRecords&from=2002-06-01T03:020:00Z"),
            ErrorCode::BadVerb => format!("{BASE}?verb=Frobnicate"),
            _ => format!("{BASE}?verb=ListRecords&metadataPrefix=marc21&resumptionToken=x%2By"),
        };
        out.push((
            format!("error-{code}"),
            write::error(
                DATE,
                &url,
                &code,
                "explanation with <markup> & \u{1}control",
            ),
        ));
    }
    out
}

/// Finds xmllint or fails with the package to install: a skipped schema
/// test would let invalid output through unnoticed.
fn xmllint() -> &'static str {
    match Command::new("xmllint").arg("--version").output() {
        Ok(_) => "xmllint",
        Err(e) => panic!(
            "xmllint is needed to validate written responses ({e}); \
             install the Debian package libxml2-utils: apt-get install libxml2-utils"
        ),
    }
}

fn scratch_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("unicat-oai-write");
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Every written response validates against OAI-PMH.xsd. `--nonet`
/// keeps the test offline; the schema imports nothing remote.
#[test]
fn written_responses_validate_against_the_schema() {
    let xmllint = xmllint();
    let dir = scratch_dir();
    let mut files = Vec::new();
    for (name, xml) in written_responses() {
        let path = dir.join(format!("{name}.xml"));
        std::fs::write(&path, xml).expect("write response");
        files.push(path);
    }
    let output = Command::new(xmllint)
        .args(["--noout", "--nonet", "--schema", SCHEMA])
        .args(&files)
        .output()
        .expect("run xmllint");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "xmllint rejected written responses:\n{stderr}"
    );
    assert_eq!(
        stderr.matches(" validates").count(),
        files.len(),
        "{stderr}"
    );
}

/// The arguments of the request URL are echoed decoded, except after
/// badVerb/badArgument; an empty list becomes noRecordsMatch.
#[test]
fn request_element_and_empty_list() {
    let responses: std::collections::HashMap<_, _> = written_responses().into_iter().collect();
    assert!(responses["list-records-resumed-final"]
        .contains(r#"<request verb="ListRecords" resumptionToken="a+b/c=d&amp;e:f">"#));
    assert!(responses["error-badVerb"].contains(&format!("<request>{BASE}</request>")));
    assert!(responses["error-badArgument"].contains(&format!("<request>{BASE}</request>")));
    assert!(responses["list-records-empty"].contains(r#"<error code="noRecordsMatch">"#));
    assert!(responses["list-metadata-formats-none"].contains(r#"<error code="noMetadataFormats">"#));
}

/// What we write parses back to what we wrote, for every parser.
#[test]
fn written_responses_parse_back() {
    let responses: std::collections::HashMap<_, _> = written_responses().into_iter().collect();
    let recs = records();

    let page = parse_list_records(responses["list-records"].as_bytes()).unwrap();
    assert_eq!(page.response_date, DATE);
    assert_eq!(page.records, recs);
    assert_eq!(page.resumption_token, Some(token()));
    assert!(page.rejected.is_empty());

    let page = parse_list_identifiers(responses["list-identifiers"].as_bytes()).unwrap();
    let headers: Vec<_> = recs
        .iter()
        .map(|r| OaiRecord {
            header: r.header.clone(),
            metadata: None,
        })
        .collect();
    assert_eq!(page.records, headers);

    assert_eq!(
        parse_get_record(responses["get-record"].as_bytes()).unwrap(),
        recs[0]
    );
    assert_eq!(
        parse_get_record(responses["get-record-deleted"].as_bytes()).unwrap(),
        recs[1]
    );
    assert_eq!(
        parse_identify(responses["identify"].as_bytes()).unwrap(),
        identify_value()
    );
    assert_eq!(
        parse_list_metadata_formats(responses["list-metadata-formats"].as_bytes()).unwrap(),
        vec![MetadataFormat::marc21(), MetadataFormat::oai_dc()]
    );
    match parse_list_records(responses["error-idDoesNotExist"].as_bytes()) {
        Err(OaiError::Protocol { code, message }) => {
            assert_eq!(code, ErrorCode::IdDoesNotExist);
            // The control character cannot be written in XML 1.0.
            assert_eq!(message, "explanation with <markup> & control");
        }
        other => panic!("{other:?}"),
    }
}

/// Real pages survive parse → write → parse unchanged: records (metadata
/// byte for byte), deletions, sets and the token with its attributes.
#[test]
fn list_records_round_trip() {
    for file in [
        "vufindharvest/marc.xml",
        "vufindharvest/oai_doaj.xml",
        "melinda/ListRecords/011/response0.xml",
        "sickle/ListRecords.xml",
        "pyoai/fake2/00002.xml",
        "traject/oai-pmh-one-record-2.xml",
    ] {
        let first = parse_list_records(&sample(file)).unwrap();
        let xml = write::list_records(
            &first.response_date,
            "http://fake/OAI/Server?verb=ListRecords&metadataPrefix=marc21",
            Verb::ListRecords,
            &first.records,
            first.resumption_token.as_ref(),
        );
        let second = parse_list_records(xml.as_bytes()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(second, first, "{file}");
    }
}
