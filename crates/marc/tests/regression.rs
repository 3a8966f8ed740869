//! Regression tests for bugs found by fuzzing (`fuzz/run.sh`), one per
//! bug, named after it; the input is the fuzzer's shrunk crash file from
//! `fuzz/crashes/`, inlined so the test does not depend on it.

use unicat_marc::{iso2709, marcxml, MarcError, Record};

/// fuzz/crashes/marcxml-b74904a5aa4f5b30.bin: a MARCXML leader holding a
/// raw record terminator (0x1D) at leader/08 was copied into the ISO 2709
/// output, which then read back as "record terminator inside the record".
/// The writer must refuse it instead of writing a corrupt record.
#[test]
fn iso2709_writer_refuses_a_delimiter_in_the_leader() {
    let xml = "<record \"\"><leader>03106cam\u{1d}a2200721 i 4500</leader>\
        <controlfield tag=\"001\"></controlfield><controlfield tag=\"003\"></controlfield>\
        <datafield tag=\"035\"1=\"\"><subfield code=\"a\"></subfield></datafield>\
        <datafield tag=\"245\"2=\"\"><subfield code=\"a\"></subfield></datafield></record>";
    let record = marcxml::parse_record(xml).expect("the xml reader keeps the leader as found");
    let err = iso2709::to_bytes(&record).expect_err("a delimiter in a kept leader position");
    assert!(
        matches!(&err, MarcError::BadLeader { reason, .. } if reason.contains("delimiter")),
        "{err}"
    );
    // Delimiters in the positions the writer recomputes do no harm.
    let mut recomputed = record.clone();
    recomputed.leader = "0310\u{1d}cam a2200721 i 4500".to_owned();
    let bytes = iso2709::to_bytes(&recomputed).expect("leader/04 is recomputed");
    assert_eq!(
        iso2709::parse_record(&bytes).expect("reads back").fields,
        record.fields
    );
}

/// Every crash file the fuzzer ever saved (`fuzz/crashes/*.bin`) must now
/// go through the readers, and the round trips the fuzz targets check,
/// without a panic. OAI pages are read with the MARCXML streaming reader,
/// which finds the MARC records inside them as a harvest would.
#[test]
fn fuzz_crash_files_stay_fixed() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/crashes");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "expected the saved crash files");
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let bytes = std::fs::read(&path).unwrap_or_else(|err| panic!("{name}: {err}"));
        let records: Vec<Record> = if name.starts_with("iso2709-") {
            iso2709::Reader::new(&bytes[..])
                .filter_map(Result::ok)
                .collect()
        } else {
            marcxml::Reader::new(&bytes[..])
                .filter_map(Result::ok)
                .collect()
        };
        for record in &records {
            let xml = marcxml::to_string(record);
            let back = marcxml::parse_record(&xml).unwrap_or_else(|err| panic!("{name}: {err}"));
            assert_eq!(marcxml::to_string(&back), xml, "{name}");
            if let Ok(iso) = iso2709::to_bytes(record) {
                let back =
                    iso2709::parse_record(&iso).unwrap_or_else(|err| panic!("{name}: {err}"));
                assert_eq!(back.fields, record.fields, "{name}");
            }
        }
    }
}
