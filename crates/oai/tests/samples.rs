//! Data-driven parser tests over real responses from sickle, pyoai,
//! vufindharvest, Melinda and traject. The expected numbers were counted
//! independently of this crate (Python's ElementTree over the same
//! files), so a parser bug cannot make its own test pass.

mod common;

use common::{all_samples, sample};
use unicat_oai::{
    parse_get_record, parse_identify, parse_list_identifiers, parse_list_metadata_formats,
    parse_list_records, DeletedRecord, ErrorCode, Granularity, OaiError,
};

/// Identify responses give the right granularity and deletion policy,
/// including Melinda's lowercase `YYYY-MM-DDthh:mm:ssZ` and misspelt fields.
#[test]
fn identify_samples() {
    let cases = [
        (
            "sickle/Identify.xml",
            Granularity::Day,
            DeletedRecord::Persistent,
            "1970-01-01T00:00:00Z",
        ),
        (
            "pyoai/fake1/00001.xml",
            Granularity::Seconds,
            DeletedRecord::No,
            "2001-01-01T00:00:00Z",
        ),
        (
            "vufindharvest/identify_response.xml",
            Granularity::Seconds,
            DeletedRecord::Transient,
            "2000-01-01T00:00:00Z",
        ),
        // Melinda writes `earliestTimestamp` for `earliestDatestamp`.
        (
            "melinda/Identify/002/response0.xml",
            Granularity::Seconds,
            DeletedRecord::Transient,
            "",
        ),
    ];
    for (file, granularity, deleted, earliest) in cases {
        let id = parse_identify(&sample(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(id.granularity, granularity, "{file}");
        assert_eq!(id.deleted_record, deleted, "{file}");
        assert_eq!(id.earliest_datestamp, earliest, "{file}");
        assert!(!id.repository_name.is_empty(), "{file}");
        assert!(id.base_url.starts_with("http"), "{file}");
    }
    let sickle = parse_identify(&sample("sickle/Identify.xml")).unwrap();
    assert_eq!(sickle.repository_name, "A Test Repository");
    assert_eq!(sickle.protocol_version, "2.0");
}

/// What a list page should contain.
struct Expect {
    file: &'static str,
    records: usize,
    deleted: usize,
    rejected: usize,
    /// `None`: no token element; `Some("")`: an empty, final token.
    token: Option<&'static str>,
    complete_list_size: Option<u64>,
    cursor: Option<u64>,
}

const LIST_RECORDS: &[Expect] = &[
    Expect {
        file: "sickle/ListRecords.xml",
        records: 2,
        deleted: 1,
        rejected: 0,
        token: Some("ListRecords2.xml"),
        complete_list_size: Some(8),
        cursor: Some(0),
    },
    Expect {
        file: "sickle/ListRecords2.xml",
        records: 2,
        deleted: 1,
        rejected: 0,
        token: Some("ListRecords3.xml"),
        complete_list_size: Some(8),
        cursor: Some(0),
    },
    Expect {
        file: "sickle/ListRecords3.xml",
        records: 2,
        deleted: 1,
        rejected: 0,
        token: Some("ListRecords4.xml"),
        complete_list_size: Some(8),
        cursor: Some(0),
    },
    // The deleted record has neither identifier nor datestamp: rejected.
    Expect {
        file: "sickle/ListRecords4.xml",
        records: 1,
        deleted: 0,
        rejected: 1,
        token: None,
        complete_list_size: None,
        cursor: None,
    },
    Expect {
        file: "pyoai/fake1/00005.xml",
        records: 16,
        deleted: 0,
        rejected: 0,
        token: None,
        complete_list_size: None,
        cursor: None,
    },
    Expect {
        file: "pyoai/fake2/00002.xml",
        records: 81,
        deleted: 2,
        rejected: 0,
        token: None,
        complete_list_size: None,
        cursor: None,
    },
    Expect {
        file: "vufindharvest/marc.xml",
        records: 100,
        deleted: 0,
        rejected: 0,
        token: Some("fakeresumptiontoken"),
        complete_list_size: None,
        cursor: None,
    },
    Expect {
        file: "vufindharvest/oai_doaj.xml",
        records: 100,
        deleted: 0,
        rejected: 0,
        token: Some("eyJtIjogIm9haV9kb2FqIiwgIm4iOiAxMDB9"),
        complete_list_size: Some(2_460_909),
        cursor: Some(0),
    },
    // Headers without datestamps: accepted with an empty datestamp.
    Expect {
        file: "vufindharvest/list_records_response.xml",
        records: 2,
        deleted: 1,
        rejected: 0,
        token: None,
        complete_list_size: None,
        cursor: None,
    },
    Expect {
        file: "vufindharvest/list_records_token_response.xml",
        records: 1,
        deleted: 0,
        rejected: 0,
        token: Some("more"),
        complete_list_size: None,
        cursor: None,
    },
    Expect {
        file: "vufindharvest/subjectsplus.xml",
        records: 1,
        deleted: 0,
        rejected: 0,
        token: None,
        complete_list_size: None,
        cursor: None,
    },
    Expect {
        file: "traject/sample-oai-pmh.xml",
        records: 10,
        deleted: 0,
        rejected: 0,
        token: Some("oai_dc.f(2018-05-03T18:09:08Z).u(2018-06-15T19:25:21Z).t(6387):100"),
        complete_list_size: Some(6387),
        cursor: None,
    },
    Expect {
        file: "traject/sample-oai-no-namespace.xml",
        records: 10,
        deleted: 0,
        rejected: 0,
        token: Some("oai_dc.f(2018-05-03T18:09:08Z).u(2018-06-15T19:25:21Z).t(6387):100"),
        complete_list_size: Some(6387),
        cursor: None,
    },
    Expect {
        file: "traject/oai-pmh-one-record-first.xml",
        records: 1,
        deleted: 0,
        rejected: 0,
        token: Some("dummy_resumption"),
        complete_list_size: Some(2),
        cursor: None,
    },
    Expect {
        file: "traject/oai-pmh-one-record-2.xml",
        records: 1,
        deleted: 0,
        rejected: 0,
        token: Some(""),
        complete_list_size: Some(2),
        cursor: None,
    },
    Expect {
        file: "melinda/ListRecords/002/response0.xml",
        records: 2,
        deleted: 0,
        rejected: 0,
        token: None,
        complete_list_size: None,
        cursor: None,
    },
    Expect {
        file: "melinda/ListRecords/006/response0.xml",
        records: 1,
        deleted: 0,
        rejected: 0,
        token: None,
        complete_list_size: None,
        cursor: None,
    },
    Expect {
        file: "melinda/ListRecords/010/response0.xml",
        records: 3,
        deleted: 0,
        rejected: 0,
        token: Some("foobar"),
        complete_list_size: None,
        cursor: Some(3),
    },
    Expect {
        file: "melinda/ListRecords/011/response0.xml",
        records: 3,
        deleted: 0,
        rejected: 0,
        token: Some("foobar"),
        complete_list_size: None,
        cursor: Some(0),
    },
    Expect {
        file: "melinda/ListRecords/017/response0.xml",
        records: 4,
        deleted: 0,
        rejected: 0,
        token: Some("foobar"),
        complete_list_size: None,
        cursor: Some(0),
    },
    Expect {
        file: "melinda/ListRecords/18/response0.xml",
        records: 2,
        deleted: 0,
        rejected: 0,
        token: None,
        complete_list_size: None,
        cursor: None,
    },
];

const LIST_IDENTIFIERS: &[Expect] = &[
    Expect {
        file: "sickle/ListIdentifiers.xml",
        records: 2,
        deleted: 1,
        rejected: 0,
        token: Some("ListIdentifiers2.xml"),
        complete_list_size: Some(4),
        cursor: Some(0),
    },
    Expect {
        file: "sickle/ListIdentifiers2.xml",
        records: 2,
        deleted: 1,
        rejected: 0,
        token: None,
        complete_list_size: None,
        cursor: None,
    },
    Expect {
        file: "pyoai/fake1/00003.xml",
        records: 16,
        deleted: 0,
        rejected: 0,
        token: None,
        complete_list_size: None,
        cursor: None,
    },
    // Melinda wraps each header in <record>.
    Expect {
        file: "melinda/ListIdentifiers/002/response0.xml",
        records: 2,
        deleted: 0,
        rejected: 0,
        token: None,
        complete_list_size: None,
        cursor: None,
    },
    Expect {
        file: "melinda/ListIdentifiers/006/response0.xml",
        records: 1,
        deleted: 0,
        rejected: 0,
        token: None,
        complete_list_size: None,
        cursor: None,
    },
    Expect {
        file: "melinda/ListIdentifiers/010/response0.xml",
        records: 3,
        deleted: 0,
        rejected: 0,
        token: Some("foobar"),
        complete_list_size: None,
        cursor: Some(3),
    },
    Expect {
        file: "melinda/ListIdentifiers/011/response0.xml",
        records: 3,
        deleted: 0,
        rejected: 0,
        token: Some("foobar"),
        complete_list_size: None,
        cursor: Some(0),
    },
];

/// Checks one parsed page against its expectation.
fn check_page(e: &Expect, page: &unicat_oai::ListPage, with_metadata: bool) {
    let f = e.file;
    assert_eq!(page.records.len(), e.records, "{f}: records");
    let deleted = page.records.iter().filter(|r| r.header.deleted).count();
    assert_eq!(deleted, e.deleted, "{f}: deleted");
    assert_eq!(
        page.rejected.len(),
        e.rejected,
        "{f}: rejected {:?}",
        page.rejected
    );
    assert!(!page.response_date.is_empty(), "{f}: responseDate");
    let token = page.resumption_token.as_ref();
    assert_eq!(token.map(|t| t.token.as_str()), e.token, "{f}: token");
    assert_eq!(
        token.and_then(|t| t.complete_list_size),
        e.complete_list_size,
        "{f}: completeListSize"
    );
    assert_eq!(token.and_then(|t| t.cursor), e.cursor, "{f}: cursor");
    for r in &page.records {
        assert!(!r.header.identifier.is_empty(), "{f}");
        // Live records in ListRecords carry metadata; deleted records and
        // ListIdentifiers never do.
        assert_eq!(
            r.metadata.is_some(),
            with_metadata && !r.header.deleted,
            "{f}: {}",
            r.header.identifier
        );
    }
}

/// ListRecords pages give the right record counts and tokens.
#[test]
fn list_records_samples() {
    for e in LIST_RECORDS {
        let page =
            parse_list_records(&sample(e.file)).unwrap_or_else(|err| panic!("{}: {err}", e.file));
        check_page(e, &page, true);
    }
}

/// ListIdentifiers pages give the right header counts and tokens.
#[test]
fn list_identifiers_samples() {
    for e in LIST_IDENTIFIERS {
        let page = parse_list_identifiers(&sample(e.file))
            .unwrap_or_else(|err| panic!("{}: {err}", e.file));
        check_page(e, &page, false);
    }
}

/// Metadata is the exact text of the one element inside `<metadata>`:
/// a MARC `record` inside an OAI `record` is cut at the right end tag, and
/// its namespace declaration stays as written.
#[test]
fn metadata_is_an_exact_slice() {
    let body = sample("vufindharvest/marc.xml");
    let text = std::str::from_utf8(&body).unwrap();
    let page = parse_list_records(&body).unwrap();
    for r in &page.records {
        let m = r.metadata.as_deref().unwrap();
        assert!(
            m.starts_with(r#"<record xmlns="http://www.loc.gov/MARC21/slim""#),
            "{m:.80}"
        );
        assert!(m.ends_with("</record>"));
        assert_eq!(m.matches("<leader>").count(), 1, "{}", r.header.identifier);
        assert!(text.contains(m));
    }
    assert_eq!(
        page.records[0].header.identifier,
        "oai:urm_publish:9925821506101791"
    );
    assert_eq!(
        page.records[0].header.sets,
        vec!["TESTING_DIGI_TEST".to_owned(), "TESTING_DIGI".to_owned()]
    );

    let page = parse_list_records(&sample("melinda/ListRecords/011/response0.xml")).unwrap();
    let expected = r#"<record xmlns="http://www.loc.gov/MARC21/slim">
					<leader>03106cam a2200721 i 4500</leader>
					<controlfield tag="001">001234567</controlfield>
					<controlfield tag="003">FI-MELINDA</controlfield>
					<datafield tag="035" ind1=" " ind2=" ">
						<subfield code="a">(FI-MELINDA)001234567</subfield>
					</datafield>
					<datafield tag="245" ind1=" " ind2=" ">
						<subfield code="a">Foo Bar</subfield>
					</datafield>
				</record>"#;
    assert_eq!(page.records[0].metadata.as_deref(), Some(expected));

    // A prefixed element keeps its prefix and declarations.
    let page = parse_list_records(&sample("sickle/ListRecords.xml")).unwrap();
    let dc = page.records[1].metadata.as_deref().unwrap();
    assert!(dc.starts_with("<oai_dc:dc xmlns:dc=\"http://purl.org/dc/elements/1.1/\""));
    assert!(dc.ends_with("</oai_dc:dc>"));
}

/// A document without the OAI namespace parses like the namespaced one.
#[test]
fn no_namespace_matches_namespaced() {
    let plain = parse_list_records(&sample("traject/sample-oai-no-namespace.xml")).unwrap();
    let ns = parse_list_records(&sample("traject/sample-oai-pmh.xml")).unwrap();
    let ids = |p: &unicat_oai::ListPage| {
        p.records
            .iter()
            .map(|r| r.header.identifier.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&plain), ids(&ns));
    assert_eq!(plain.resumption_token, ns.resumption_token);
    assert!(plain.records[0]
        .metadata
        .as_deref()
        .unwrap()
        .starts_with("<dc>"));
}

/// GetRecord responses: a live MARC record, and deleted ones.
#[test]
fn get_record_samples() {
    let r = parse_get_record(&sample("melinda/GetRecord/004/response0.xml")).unwrap();
    assert_eq!(r.header.identifier, "oai:foo.bar/000012345");
    assert_eq!(r.header.datestamp, "2000-01-02T05:00:00.000Z");
    assert!(r.metadata.unwrap().contains("(FI-MELINDA)000012345"));

    let r = parse_get_record(&sample("melinda/GetRecord/006/response0.xml")).unwrap();
    assert!(r.header.deleted);
    assert_eq!(r.metadata, None);

    let r = parse_get_record(&sample("pyoai/fake2/00000.xml")).unwrap();
    assert!(r.header.deleted);
    assert_eq!(r.header.sets, vec!["1:1".to_owned(), "1:1".to_owned()]);

    let r = parse_get_record(&sample("sickle/GetRecord_utf8test.xml")).unwrap();
    assert!(r
        .metadata
        .unwrap()
        .contains("<dc:creator>某人</dc:creator>"));
}

/// ListMetadataFormats responses list every format.
#[test]
fn metadata_format_samples() {
    let formats = parse_list_metadata_formats(&sample("sickle/ListMetadataFormats.xml")).unwrap();
    assert_eq!(formats.len(), 5);
    let formats =
        parse_list_metadata_formats(&sample("melinda/ListMetadataFormats/02/response0.xml"))
            .unwrap();
    assert_eq!(formats.len(), 3);
    assert_eq!(
        formats[1],
        unicat_oai::MetadataFormat {
            prefix: "marc21".into(),
            schema: "https://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd".into(),
            namespace: "http://www.loc.gov/MARC21/slim".into(),
        }
    );
}

/// Error responses give the right ErrorCode, whichever verb was asked.
#[test]
fn error_samples() {
    let cases: &[(&str, ErrorCode)] = &[
        ("sickle/badArgument.xml", ErrorCode::BadArgument),
        (
            "sickle/badResumptionToken.xml",
            ErrorCode::BadResumptionToken,
        ),
        (
            "sickle/cannotDisseminateFormat.xml",
            ErrorCode::CannotDisseminateFormat,
        ),
        ("sickle/idDoesNotExist.xml", ErrorCode::IdDoesNotExist),
        ("sickle/noRecordsMatch.xml", ErrorCode::NoRecordsMatch),
        ("sickle/noSetHierarchy.xml", ErrorCode::NoSetHierarchy),
        (
            "sickle/undefinedError.xml",
            ErrorCode::Other("undefinedError".into()),
        ),
        (
            "vufindharvest/token_error_response.xml",
            ErrorCode::BadResumptionToken,
        ),
        (
            "vufindharvest/arbitrary_error_response.xml",
            ErrorCode::Other("foo".into()),
        ),
        ("melinda/common/00/response0.xml", ErrorCode::BadVerb),
        ("melinda/Identify/001/response0.xml", ErrorCode::BadArgument),
        (
            "melinda/GetRecord/002/response0.xml",
            ErrorCode::CannotDisseminateFormat,
        ),
        (
            "melinda/GetRecord/003/response0.xml",
            ErrorCode::IdDoesNotExist,
        ),
        (
            "melinda/ListRecords/001/response0.xml",
            ErrorCode::CannotDisseminateFormat,
        ),
        (
            "melinda/ListRecords/012/response0.xml",
            ErrorCode::BadResumptionToken,
        ),
        (
            "melinda/ListIdentifiers/014/response0.xml",
            ErrorCode::BadResumptionToken,
        ),
        (
            "melinda/ListMetadataFormats/003/response0.xml",
            ErrorCode::BadArgument,
        ),
    ];
    for (file, code) in cases {
        let body = sample(file);
        let results = [
            parse_list_records(&body).map(|_| ()),
            parse_list_identifiers(&body).map(|_| ()),
            parse_identify(&body).map(|_| ()),
            parse_get_record(&body).map(|_| ()),
            parse_list_metadata_formats(&body).map(|_| ()),
        ];
        for result in results {
            match result {
                Err(OaiError::Protocol { code: got, .. }) => assert_eq!(&got, code, "{file}"),
                other => panic!("{file}: expected a protocol error, got {other:?}"),
            }
        }
    }
    match parse_list_records(&sample("sickle/idDoesNotExist.xml")) {
        Err(OaiError::Protocol { message, .. }) => assert_eq!(
            message,
            "oai:lcoa1.loc.gov:loc.rbc/rbpe.00000111 has the structure of a valid LOC \
             identifier, but it maps to no known item"
        ),
        other => panic!("{other:?}"),
    }
}

/// Broken, empty, HTML and truncated bodies are Malformed, hence retried.
#[test]
fn malformed_bodies() {
    let html = b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head>\
                 <body><h1>Service Unavailable</h1><p>Try again later.</p></body></html>";
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "sickle/ListRecordsBroken.xml",
            sample("sickle/ListRecordsBroken.xml"),
        ),
        // A bare oai_dc record, not an OAI-PMH response.
        ("pyoai/fake1/00006.xml", sample("pyoai/fake1/00006.xml")),
        ("empty", Vec::new()),
        ("whitespace", b" \r\n\t".to_vec()),
        ("html", html.to_vec()),
        (
            "html with unclosed tags",
            b"<html><body>Error<br></body></html>".to_vec(),
        ),
        ("json", br#"{"error": "rate limited"}"#.to_vec()),
        (
            "two roots",
            b"<OAI-PMH></OAI-PMH><OAI-PMH></OAI-PMH>".to_vec(),
        ),
        ("wrong verb element", sample("sickle/Identify.xml")),
    ];
    for (name, body) in cases {
        match parse_list_records(&body) {
            Err(e @ OaiError::Malformed(_)) => assert!(e.is_transient(), "{name}"),
            other => panic!("{name}: expected Malformed, got {other:?}"),
        }
    }
    match parse_list_records(html) {
        Err(OaiError::Malformed(m)) => assert!(m.contains("HTML"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// A body cut off anywhere before the end of `</OAI-PMH>` is Malformed,
/// never a short page: a dropped connection must not lose records.
#[test]
fn truncated_bodies_are_malformed() {
    for file in [
        "sickle/ListRecords.xml",
        "melinda/ListRecords/011/response0.xml",
        "traject/sample-oai-no-namespace.xml",
        "vufindharvest/marc.xml",
    ] {
        let body = sample(file);
        let text = std::str::from_utf8(&body).unwrap();
        let end = text.rfind("</OAI-PMH>").unwrap() + "</OAI-PMH>".len();
        let step = (end / 400).max(1);
        for len in (0..end).step_by(step).chain(end.saturating_sub(12)..end) {
            match parse_list_records(&body[..len]) {
                Err(OaiError::Malformed(_)) => {}
                other => panic!("{file} cut at {len}: expected Malformed, got {other:?}"),
            }
        }
        assert!(parse_list_records(&body[..end]).is_ok(), "{file}");
    }
}

/// No parser panics on any sample, any prefix of one, or a sample with
/// bytes flipped: the parsers face whatever a partner's server sends.
#[test]
fn parsers_never_panic() {
    fn all_parsers(body: &[u8]) {
        let _ = parse_list_records(body);
        let _ = parse_list_identifiers(body);
        let _ = parse_identify(body);
        let _ = parse_get_record(body);
        let _ = parse_list_metadata_formats(body);
    }
    for file in all_samples() {
        let body = sample(&file);
        all_parsers(&body);
        // Every parser shares the tree builder; cutting short exercises
        // it, so one parser is enough for the prefixes.
        let step = (body.len() / 100).max(1);
        for len in (0..body.len()).step_by(step) {
            let _ = parse_list_records(&body[..len]);
        }
        // Deterministic corruption: flip bytes to the characters that
        // matter most to an XML parser, and to invalid UTF-8.
        let mut seed = 0x2545_f491_u32;
        for _ in 0..20 {
            let mut corrupt = body.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                if corrupt.is_empty() {
                    break;
                }
                let at = usize::try_from(seed).unwrap() % corrupt.len();
                corrupt[at] = [b'<', b'>', b'&', b'"', b'/', 0xff, 0xc3, 0][(seed % 8) as usize];
            }
            all_parsers(&corrupt);
        }
    }
}
