//! `unicat convert` (issue #21 item 6), checked by an independent reader:
//! `yaz-marcdump` reads what the verb writes (ISO 2709 in UTF-8 and MARC-8,
//! MARCXML) and must find the records it finds in the input; a broken
//! record in the middle of a file is reported with its position and the
//! others converted; `--strict` stops at it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::tool;
use unicode_normalization::UnicodeNormalization;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn unicat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unicat"))
        .args(args)
        .output()
        .expect("run unicat")
}

/// yaz-marcdump's line dump of a file, with what a writer recomputes
/// masked in each leader (record length, leader/09 encoding, base address),
/// numeric character references decoded (MARC 21's lossless convention,
/// which yaz leaves as text) and NFC applied (MARC-8 is decomposed).
fn yaz_dump(file: &Path, input: &str, marc8: bool) -> Vec<String> {
    let mut cmd = tool("yaz-marcdump", "yaz");
    cmd.args(["-i", input, "-o", "line"]);
    if marc8 {
        cmd.args(["-f", "MARC-8", "-t", "UTF-8"]);
    }
    let out = cmd.arg(file).output().expect("run yaz-marcdump");
    assert!(
        out.status.success(),
        "yaz-marcdump {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let leader = regex::Regex::new(r"^[0-9]{5}(.{4}).(..)[0-9]{5}(.{7})$").unwrap();
    let reference = regex::Regex::new(r"&#x([0-9A-Fa-f]{1,6});").unwrap();
    text.lines()
        .map(|l| {
            let l = leader.replace(l, "LLLLL${1}E${2}BBBBB${3}");
            let l = reference.replace_all(&l, |c: &regex::Captures<'_>| {
                u32::from_str_radix(&c[1], 16)
                    .ok()
                    .and_then(char::from_u32)
                    .map_or_else(|| c[0].to_string(), String::from)
            });
            l.nfc().collect()
        })
        .collect()
}

/// How many records a line dump holds (one leader line each).
fn records_in(dump: &[String]) -> usize {
    dump.iter().filter(|l| l.starts_with("LLLLL")).count()
}

// MARCXML → ISO 2709 → MARCXML → JSON → ISO 2709: yaz reads every step's
// output as the records it reads in the original file.
#[test]
fn convert_round_trips_agree_with_yaz_marcdump() {
    let dir = tempfile::tempdir().unwrap();
    let original = root().join("fixtures/marc/solrmarc/specTestRecs.xml");
    let reference = yaz_dump(&original, "marcxml", false);
    assert!(records_in(&reference) > 50, "the fixture has many records");

    let mrc = dir.path().join("a.mrc");
    let out = unicat(&[
        "convert",
        original.to_str().unwrap(),
        "-o",
        mrc.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(yaz_dump(&mrc, "marc", false), reference, "ISO 2709 output");

    // Format guessed from content (ISO 2709 in, no --from), MARCXML out.
    let xml = dir.path().join("b.xml");
    let out = unicat(&[
        "convert",
        mrc.to_str().unwrap(),
        "-o",
        xml.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        yaz_dump(&xml, "marcxml", false),
        reference,
        "MARCXML output"
    );

    // JSON through standard input and output, then back to ISO 2709.
    let json = dir.path().join("c.json");
    let out = Command::new(env!("CARGO_BIN_EXE_unicat"))
        .args(["convert", "--to", "json", "-"])
        .stdin(std::fs::File::open(&xml).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&json, &out.stdout).unwrap();
    let back = dir.path().join("d.mrc");
    let out = unicat(&[
        "convert",
        json.to_str().unwrap(),
        "-o",
        back.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&mrc).unwrap());
}

// A broken record between two good ones: the good ones are converted, the
// broken one is named on stderr by record number and byte offset; with
// --strict the conversion stops there, exits 65 and leaves no output file.
#[test]
fn convert_skips_a_broken_record_and_reports_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let traject = root().join("fixtures/marc/traject");
    let good1 = std::fs::read(traject.join("george_eliot.marc")).unwrap();
    let bad = std::fs::read(traject.join("bad_utf_byte.utf8.marc")).unwrap();
    let good2 = std::fs::read(traject.join("louis_armstrong.marc")).unwrap();
    let input = dir.path().join("dump.mrc");
    std::fs::write(&input, [&good1[..], &bad, &good2].concat()).unwrap();
    let goods = dir.path().join("goods.mrc");
    std::fs::write(&goods, [&good1[..], &good2].concat()).unwrap();

    let output = dir.path().join("out.mrc");
    let out = unicat(&[
        "convert",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("record 2 at byte {}", good1.len())),
        "the broken record's position is reported: {stderr}"
    );
    assert!(stderr.contains("invalid utf-8"), "{stderr}");
    assert!(stderr.contains("2 records written, 1 skipped"), "{stderr}");
    let dump = yaz_dump(&output, "marc", false);
    assert_eq!(records_in(&dump), 2);
    assert_eq!(dump, yaz_dump(&goods, "marc", false));

    let strict = dir.path().join("strict.xml");
    let out = unicat(&[
        "convert",
        "--strict",
        input.to_str().unwrap(),
        "-o",
        strict.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{stderr}");
    assert!(
        stderr.contains(&format!("record 2 at byte {}", good1.len())),
        "{stderr}"
    );
    assert!(
        !strict.exists(),
        "no partial output under the target's name"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(left.is_empty(), "no partial file left behind");
}

// MARC-8 output holds the right characters: yaz decodes our MARC-8 as it
// decodes the MARC-8 files other systems wrote (Latin diacritics, Cyrillic,
// Hebrew, CJK), and as the UTF-8 we started from (Azerbaijani, Uzbek,
// Cyrillic; characters MARC-8 lacks come as &#xHHHH; references).
#[test]
fn convert_marc8_output_reads_back_in_yaz_with_the_right_characters() {
    let dir = tempfile::tempdir().unwrap();
    let marc = root().join("fixtures/marc");
    for (i, original) in [
        marc.join("solrmarc/uva_001_2000.mrc"),
        marc.join("marc-charset/cyrillic.marc"),
        marc.join("marc-charset/hebrew1.marc"),
        marc.join("marc-charset/cjk1.marc"),
    ]
    .iter()
    .enumerate()
    {
        let out8 = dir.path().join(format!("m{i}.mrc"));
        let out = unicat(&[
            "convert",
            "--encoding",
            "marc8",
            original.to_str().unwrap(),
            "-o",
            out8.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ours = std::fs::read(&out8).unwrap();
        assert_eq!(ours.get(9), Some(&b' '), "leader/09 says MARC-8");
        assert_eq!(
            yaz_dump(&out8, "marc", true),
            yaz_dump(original, "marc", true),
            "{}",
            original.display()
        );
    }
    for partner in ["anl", "natlib-uz", "tsu"] {
        let xml = root().join(format!("fixtures/demo/{partner}.xml"));
        let (utf8, marc8) = (
            dir.path().join(format!("{partner}.u8.mrc")),
            dir.path().join(format!("{partner}.m8.mrc")),
        );
        for (target, extra) in [(&utf8, None), (&marc8, Some("marc8"))] {
            let mut args = vec!["convert", "--to", "iso2709"];
            if let Some(e) = extra {
                args.extend(["--encoding", e]);
            }
            args.extend([xml.to_str().unwrap(), "-o", target.to_str().unwrap()]);
            let out = unicat(&args);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let expected = yaz_dump(&utf8, "marc", false);
        assert!(records_in(&expected) > 20);
        assert_eq!(yaz_dump(&marc8, "marc", true), expected, "{partner}");
    }
}

// A mistake on the command line is a usage error (64), not a silent
// choice: MARCXML cannot be MARC-8.
#[test]
fn convert_refuses_marc8_for_marcxml_output() {
    let xml = root().join("fixtures/demo/anl.xml");
    let out = unicat(&[
        "convert",
        "--to",
        "marcxml",
        "--encoding",
        "marc8",
        xml.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ISO 2709 output only"));
}

// A mistyped input name among good ones: exit 66 before anything is
// written, so no half-converted output reaches standard output.
#[test]
fn convert_with_a_missing_input_writes_nothing() {
    let xml = root().join("fixtures/demo/anl.xml");
    let out = unicat(&["convert", xml.to_str().unwrap(), "/nonexistent/dump.mrc"]);
    assert_eq!(out.status.code(), Some(66));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open /nonexistent/dump.mrc"));
}
