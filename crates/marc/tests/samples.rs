//! Reads real records from other projects' test suites (copied into
//! `fixtures/marc`), so the readers are checked against data we
//! did not write ourselves, including known-bad files.
//!
//! A missing file fails the test with its path, rather than skipping it.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use unicat_marc::{iso2709, marcxml, MarcError, Record};

fn sample(relative: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/marc")
        .join(relative);
    assert!(
        path.exists(),
        "sample file {} is missing: it is part of the repository (see fixtures/marc/README.md)",
        path.display()
    );
    path
}

fn open(relative: &str) -> File {
    let path = sample(relative);
    File::open(&path).unwrap_or_else(|err| panic!("open {}: {err}", path.display()))
}

fn read_xml(relative: &str) -> Vec<Result<Record, MarcError>> {
    marcxml::Reader::new(BufReader::new(open(relative))).collect()
}

fn read_iso(relative: &str) -> Vec<Result<Record, MarcError>> {
    iso2709::Reader::new(open(relative)).collect()
}

fn all_ok(results: Vec<Result<Record, MarcError>>) -> Vec<Record> {
    results
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|err| panic!("sample record failed to parse: {err}"))
}

fn first_error(results: Vec<Result<Record, MarcError>>) -> String {
    results
        .into_iter()
        .find_map(Result::err)
        .map(|err| err.to_string())
        .unwrap_or_default()
}

/// traject ships the same 30 UTF-8 records as ISO 2709 and as MARCXML: both
/// readers must agree on every field.
#[test]
fn iso2709_and_marcxml_versions_of_the_same_records_agree() {
    let from_iso = all_ok(read_iso("traject/test_data.utf8.mrc"));
    let from_xml = all_ok(read_xml("traject/test_data.utf8.marc.xml"));
    assert_eq!(from_iso.len(), 30);
    assert_eq!(from_iso, from_xml);
}

/// Real records (with 880 fields in Japanese script) survive both round
/// trips: MARCXML byte-identical, ISO 2709 identical but for the leader
/// positions the writer recomputes.
#[test]
fn real_records_round_trip() {
    let mut records = all_ok(read_xml("recordmanager/marc_alt_script.xml"));
    records.extend(all_ok(read_xml("traject/test_data.utf8.marc.xml")));
    assert!(records[0].data_fields("880").count() > 0);
    for record in &records {
        let xml = marcxml::to_string(record);
        let reparsed = marcxml::parse_record(&xml).expect("own marcxml parses");
        assert_eq!(&reparsed, record);
        assert_eq!(marcxml::to_string(&reparsed), xml);

        let bytes = iso2709::to_bytes(record).expect("fits in iso 2709");
        let back = iso2709::parse_record(&bytes).expect("own iso 2709 parses");
        assert_eq!(back.fields, record.fields);
        assert_eq!(back.leader[5..9], record.leader[5..9]);
        assert_eq!(back.leader[17..20], record.leader[17..20]);
    }
}

/// A byte order mark or a missing XML declaration changes nothing.
#[test]
fn bom_and_missing_prolog_are_tolerated() {
    let plain = all_ok(read_xml("solrmarc/specTestRecs.xml"));
    assert_eq!(plain.len(), 76);
    assert_eq!(all_ok(read_xml("solrmarc/specTestRecs_withBOM.xml")), plain);
    assert_eq!(
        all_ok(read_xml("solrmarc/specTestRecs_no_Prolog.xml")),
        plain
    );
}

/// marc4j's deliberately broken MARCXML files get specific reasons.
#[test]
fn broken_marcxml_samples_give_specific_errors() {
    for (file, expected) in [
        (
            "marc4j/chabon-missing-controlfield-tag.xml",
            "<controlfield> at byte 203 has no tag attribute",
        ),
        (
            "marc4j/chabon-missing-subfield-code.xml",
            "<subfield> at byte 393 has no code attribute",
        ),
        (
            "marc4j/chabon-bad-subfields-element.xml",
            "unexpected element <subfields> inside <datafield>",
        ),
    ] {
        let err = first_error(read_xml(file));
        assert!(err.contains(expected), "{file}: {err}");
    }
}

/// Known-bad ISO 2709 files: the problem is named and good records around
/// a bad one are still read.
#[test]
fn broken_iso2709_samples_give_specific_errors() {
    let err = first_error(read_iso("traject/bad_utf_byte.utf8.marc"));
    assert_eq!(err, "invalid utf-8 in field 300 $a at byte 62");

    let results = read_iso("marc4j/bad_oversize_field_bad_directory.mrc");
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 4);
    assert!(first_error(results).contains("directory length 217 is not a multiple of 12"));
}

/// Fields over 9,999 bytes cannot be written as ISO 2709; the error must
/// name the field rather than writing a corrupt record.
#[test]
fn oversized_real_record_is_refused_by_the_iso2709_writer() {
    let records = all_ok(read_xml("recordmanager/marc-broken.xml"));
    let err = iso2709::to_bytes(&records[0]).expect_err("fields are too long");
    assert!(
        matches!(&err, MarcError::FieldTooLong { length, .. } if *length > iso2709::MAX_FIELD_LEN),
        "{err}"
    );
}

/// No sample, however broken, may make a reader panic or loop.
#[test]
fn every_sample_file_reads_without_panicking() {
    let dir = sample("");
    let mut files = Vec::new();
    let mut pending = vec![dir];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read sample directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(
        files.len() > 50,
        "expected the full sample set, found {}",
        files.len()
    );
    for path in files {
        let file = File::open(&path).expect("open sample");
        let count = if path.extension().is_some_and(|e| e == "xml") {
            marcxml::Reader::new(BufReader::new(file)).count()
        } else {
            iso2709::Reader::new(file).count()
        };
        assert!(count > 0, "{}", path.display());
    }
}

/// 2,000 real MARC-8 records (University of Virginia) all convert, with no
/// warning, and come back marked as Unicode (leader/09 'a').
#[test]
fn marc8_records_convert() {
    let decoded: Vec<_> = iso2709::Reader::new(open("solrmarc/uva_001_2000.mrc"))
        .with_warnings()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|err| panic!("a marc-8 record failed: {err}"));
    assert_eq!(decoded.len(), 2_000);
    assert!(decoded.iter().all(|d| d.warnings.is_empty()));
    assert!(decoded.iter().all(|d| &d.record.leader[9..10] == "a"));

    // MARC::Charset's Cyrillic sample: G0 escapes to Basic and Extended
    // Cyrillic inside one value.
    let cyrillic = all_ok(read_iso("marc-charset/cyrillic.marc"));
    let titles: Vec<&str> = cyrillic[0]
        .data_fields("880")
        .filter_map(|f| f.subfield('a'))
        .collect();
    assert!(
        titles.contains(&"Одлуке и решења Савезног уставног суда."),
        "{titles:?}"
    );

    // MARC 21's lossless convention: &#xHHHH; in MARC-8 is the character.
    let ncr = all_ok(read_iso("traject/escaped_character_reference.marc8.marc"));
    let imprint = ncr[0]
        .data_fields("260")
        .next()
        .and_then(|f| f.subfield('a'));
    assert_eq!(
        imprint,
        Some("Rio de Janeiro escaped replacement char: \u{FFFD} .")
    );
}

/// marc4j's broken MARC-8 records (a missing escape back to ASCII, a cut
/// escape sequence, mangled EACC) are reported with the field and byte,
/// and the good records in the same files are still read.
#[test]
fn broken_marc8_samples_are_reported_not_dropped() {
    for (file, good, expected) in [
        (
            "marc4j/greekmissingcharsetchange.mrc",
            2,
            "invalid marc-8 in field 880 $a at byte 1639: byte 0x3A has no character in Basic Greek",
        ),
        (
            "marc4j/incomplete_esc_seq.mrc",
            0,
            "invalid marc-8 in field 880 $c at byte 2616",
        ),
        (
            "marc4j/chinese_mangled_multibyte.mrc",
            3,
            "invalid marc-8 in field 880 $a at byte 2503: 0x4A2148 is not an EACC character",
        ),
    ] {
        let results = read_iso(file);
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), good, "{file}");
        let err = first_error(results);
        assert!(err.starts_with(expected), "{file}: {err}");
    }
}
