//! Checks our ISO 2709 output against an independent implementation: YAZ's
//! `yaz-marcdump` must read the file without complaint, find every record,
//! and (read back through our MARCXML reader) see the same fields we wrote.
//!
//! This test needs the Debian package `yaz`. It fails rather than skips when
//! the tool is missing, so that a CI machine without it cannot pass silently.

use std::io::ErrorKind;
use std::path::PathBuf;
use std::process::Command;

use unicat_marc::{iso2709, marcxml, ControlField, DataField, Record};

/// A few records with the parts most likely to trip a writer: 880 linked
/// fields, repeated fields, empty subfields, a field with no subfields,
/// non-BMP characters, Cyrillic, Uzbek oʻ and Azerbaijani ə, XML specials.
/// No CR in values: yaz-marcdump writes CR raw into its XML, which any XML
/// reader (ours included) must read back as LF.
fn records() -> Vec<Record> {
    let mut first = Record::new("00000cam a2200000 i 4500");
    first.push(ControlField::new("001", "unicat-yaz-1").into());
    first.push(ControlField::new("008", "240101s2024    uz a          000 0 uzb d").into());
    first.push(
        DataField::new("100", '1', ' ')
            .with('6', "880-01")
            .with('a', "Qodiriy, Abdulla,")
            .into(),
    );
    first.push(
        DataField::new("245", '1', '0')
            .with('6', "880-02")
            .with('a', "O\u{2BB}tgan kunlar :")
            .with('b', "roman <tarixiy> & \"boshqa\"")
            .with('c', "")
            .into(),
    );
    first.push(
        DataField::new("500", ' ', ' ')
            .with('a', "\u{259}d\u{259}biyyat \u{1D538}\u{1D539}")
            .into(),
    );
    first.push(
        DataField::new("500", ' ', ' ')
            .with('a', "repeated\ttab\nnewline")
            .into(),
    );
    first.push(DataField::new("653", ' ', ' ').into());
    first.push(
        DataField::new("880", '1', ' ')
            .with('6', "100-01/(N")
            .with('a', "Қодирий, Абдулла,")
            .into(),
    );
    first.push(
        DataField::new("880", '1', '0')
            .with('6', "245-02/(N")
            .with('a', "Ўтган кунлар")
            .into(),
    );

    let mut second = Record::new("00000nam  2200000 a 4500");
    second.push(ControlField::new("001", "unicat-yaz-2").into());
    second.push(DataField::new("245", '0', '0').with('a', "Short").into());

    let mut third = Record::new("00000nam a2200000 i 4500");
    third.push(ControlField::new("001", "unicat-yaz-3").into());
    third.push(
        DataField::new("520", ' ', ' ')
            .with('a', "ж".repeat(4_990))
            .into(),
    );
    vec![first, second, third]
}

/// An independent ISO 2709 reader must accept our output and see our fields.
#[test]
fn yaz_marcdump_reads_our_iso2709_output() {
    let records = records();
    let encoded: Vec<Vec<u8>> = records
        .iter()
        .map(|r| iso2709::to_bytes(r).expect("sample records encode"))
        .collect();
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("unicat-marc-yaz-{}.mrc", std::process::id()));
    std::fs::write(&path, encoded.concat()).expect("write temporary file");

    let output = Command::new("yaz-marcdump")
        .args(["-f", "utf-8", "-t", "utf-8", "-o", "marcxml"])
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    let output = match output {
        Ok(output) => output,
        Err(err) if err.kind() == ErrorKind::NotFound => panic!(
            "yaz-marcdump not found: install the Debian package `yaz` \
             (apt-get install -y yaz) to run this test; CI installs it"
        ),
        Err(err) => panic!("could not run yaz-marcdump: {err}"),
    };

    let stdout = String::from_utf8(output.stdout).expect("yaz-marcdump writes utf-8");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "yaz-marcdump failed ({}): {stderr}",
        output.status
    );
    assert!(
        stderr.trim().is_empty(),
        "yaz-marcdump complained: {stderr}"
    );
    // yaz-marcdump reports structural problems as XML comments in its output.
    assert!(
        !stdout.contains("<!--"),
        "yaz-marcdump reported problems:\n{stdout}"
    );

    let theirs: Vec<Record> = marcxml::Reader::new(stdout.as_bytes())
        .collect::<Result<_, _>>()
        .expect("yaz-marcdump output is valid marcxml");
    assert_eq!(theirs.len(), records.len(), "record count");
    for (bytes, their_record) in encoded.iter().zip(&theirs) {
        let ours = iso2709::parse_record(bytes).expect("own output parses");
        assert_eq!(their_record, &ours);
    }
}
