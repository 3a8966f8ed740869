//! Regression tests for bugs found by fuzzing (`fuzz/run.sh`), one per
//! bug, named after it; the input is the fuzzer's shrunk crash file from
//! `fuzz/crashes/`, inlined so the test does not depend on it.

use unicat_marc::{iso2709, marcxml, MarcError};

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
