//! Data-driven tests of normalisation: every
//! `tests/fixtures/normalize/<dir>/<case>.in.xml` (one MARCXML record) is
//! normalised and compared with `<case>.out.xml`. A new case is a new pair
//! of files, not new code.
//!
//! Which steps run depends on the directory:
//!
//! - `<step>/`, named after a step (`unicat::normalize::Step::name`): only
//!   that step;
//! - `all/`: every step;
//! - `off/`: every step but the one the case is named after
//!   (`off/isbn.in.xml`), to show that a switched-off step leaves its part of
//!   the record alone while the others still run.
//!
//! `<case>.options.toml`, if present, is laid over that choice with the keys
//! of a partner's `normalize` configuration (e.g. `unicode-form = "nfd"`).
//! `<case>.report.txt`, if present, must equal the report: a line
//! `change <step>: <what>` per change and `problem: <what>` per problem.
//! Every case must also be idempotent: normalising the expected output
//! again with the same options must change nothing.
//!
//! The partner is always `UZ-TaSU`. To regenerate the expected files from
//! the current code (and then review them with `git diff`), run
//! `UPDATE_FIXTURES=1 cargo test -p unicat --test normalize`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use unicat::normalize::{
    normalize, normalize_with, NormalizeOptions, NormalizeReport, PartnerContext, Step,
};
use unicat_marc::marcxml;

const PARTNER: PartnerContext<'static> = PartnerContext { code: "UZ-TaSU" };

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/normalize")
}

/// One fixture case: `<dir>/<name>.in.xml` and its companions.
struct Case {
    dir: String,
    name: String,
    input: PathBuf,
}

impl Case {
    fn companion(&self, suffix: &str) -> PathBuf {
        self.input.with_file_name(format!("{}{suffix}", self.name))
    }

    fn label(&self) -> String {
        format!("{}/{}", self.dir, self.name)
    }
}

/// Every case, sorted by directory and name.
fn cases() -> Vec<Case> {
    let root = fixture_dir();
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let dir_name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
            if let Some(name) = file_name.strip_suffix(".in.xml") {
                out.push(Case {
                    dir: dir_name.clone(),
                    name: name.to_string(),
                    input: file,
                });
            }
        }
    }
    assert!(!out.is_empty(), "no cases in {}", root.display());
    out
}

/// The options a case runs with (see the module documentation).
fn options(case: &Case) -> NormalizeOptions {
    let mut table = toml::Table::new();
    match case.dir.as_str() {
        "all" => {}
        "off" => {
            assert!(
                Step::from_name(&case.name).is_some(),
                "{}: off/ cases must be named after a step",
                case.label()
            );
            table.insert(case.name.clone(), toml::Value::Boolean(false));
        }
        dir => {
            assert!(
                Step::from_name(dir).is_some(),
                "{dir}/ is neither a step, `all` nor `off`"
            );
            for step in Step::ALL {
                table.insert(
                    step.name().to_string(),
                    toml::Value::Boolean(step.name() == dir),
                );
            }
        }
    }
    let overlay = case.companion(".options.toml");
    if overlay.exists() {
        let text = std::fs::read_to_string(&overlay).unwrap();
        let extra: toml::Table = text
            .parse()
            .unwrap_or_else(|e| panic!("{}: {e}", overlay.display()));
        table.extend(extra);
    }
    toml::Value::Table(table)
        .try_into()
        .unwrap_or_else(|e| panic!("{}: options: {e}", case.label()))
}

fn render_report(report: &NormalizeReport) -> String {
    let mut out = String::new();
    for (step, what) in &report.changes {
        out.push_str(&format!("change {step}: {what}\n"));
    }
    for what in &report.problems {
        out.push_str(&format!("problem: {what}\n"));
    }
    out
}

/// A line diff (`-` expected, `+` actual) by longest common subsequence;
/// the records are small.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        }
    }
    out
}

fn read_record(path: &Path) -> unicat_marc::Record {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    marcxml::parse_record(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// The fixtures are the specification of every step: each must give its
// expected record (and report, where one is given), and be idempotent.
#[test]
fn fixtures_normalise_as_expected() {
    let update = std::env::var_os("UPDATE_FIXTURES").is_some();
    let mut failures = Vec::new();
    let cases = cases();
    for case in &cases {
        let opts = options(case);
        let mut report = NormalizeReport::default();
        let actual = normalize_with(read_record(&case.input), &PARTNER, &opts, &mut report);
        let actual_xml = marcxml::to_string(&actual);
        let out_path = case.companion(".out.xml");
        let report_path = case.companion(".report.txt");
        if update {
            std::fs::write(&out_path, format!("{actual_xml}\n")).unwrap();
            if report_path.exists() {
                std::fs::write(&report_path, render_report(&report)).unwrap();
            }
            continue;
        }
        if !out_path.exists() {
            failures.push(format!("{}: no {}", case.label(), out_path.display()));
            continue;
        }
        let expected_xml = marcxml::to_string(&read_record(&out_path));
        if actual_xml != expected_xml {
            failures.push(format!(
                "{}: output differs (- expected, + actual):\n{}",
                case.label(),
                diff(&expected_xml, &actual_xml)
            ));
        }
        if report_path.exists() {
            let expected = std::fs::read_to_string(&report_path).unwrap();
            let actual = render_report(&report);
            if expected != actual {
                failures.push(format!(
                    "{}: report differs (- expected, + actual):\n{}",
                    case.label(),
                    diff(&expected, &actual)
                ));
            }
        }
        let mut again = NormalizeReport::default();
        let twice = normalize_with(actual.clone(), &PARTNER, &opts, &mut again);
        if twice != actual || !again.changes.is_empty() {
            failures.push(format!(
                "{}: not idempotent; a second run changed:\n{}{}",
                case.label(),
                render_report(&again),
                diff(&actual_xml, &marcxml::to_string(&twice))
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixture cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// Every switch has a case that shows it working alone and one that shows
// the record untouched where it would have worked, so none goes untested.
#[test]
fn every_step_has_a_case_and_an_off_case() {
    let cases = cases();
    let have: BTreeSet<(String, String)> = cases
        .iter()
        .map(|c| (c.dir.clone(), c.name.clone()))
        .collect();
    for step in Step::ALL {
        assert!(
            cases.iter().any(|c| c.dir == step.name()),
            "no case in {}/",
            step.name()
        );
        assert!(
            have.contains(&("off".to_string(), step.name().to_string())),
            "no off/{}.in.xml",
            step.name()
        );
    }
    assert!(cases.iter().any(|c| c.dir == "all"));
}

// Two partners' punctuation styles for one book must display alike: the
// point of the ISBD step.
#[test]
fn isbd_styles_of_two_partners_converge() {
    let dir = fixture_dir().join("isbd");
    let a = std::fs::read_to_string(dir.join("partner-a.in.xml")).unwrap();
    let b = std::fs::read_to_string(dir.join("partner-b.in.xml")).unwrap();
    assert_ne!(a, b, "the two inputs should differ");
    let opts = NormalizeOptions::only(Step::Isbd);
    let norm = |xml: &str| {
        let record = marcxml::parse_record(xml).unwrap();
        marcxml::to_string(&normalize_with(
            record,
            &PARTNER,
            &opts,
            &mut NormalizeReport::default(),
        ))
    };
    assert_eq!(norm(&a), norm(&b));
}

// The demo partners' records (the same ones the pipeline test harvests)
// normalise without a panic, and a second pass changes nothing.
#[test]
fn demo_records_normalise_idempotently() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    let mut n = 0;
    for partner in ["anl", "natlib-uz", "tsu"] {
        let file = std::fs::File::open(demo.join(format!("{partner}.xml"))).unwrap();
        for record in marcxml::Reader::new(std::io::BufReader::new(file)) {
            let once = normalize(record.unwrap(), &PARTNER);
            let id = once.control("001").unwrap_or("?").to_string();
            let mut report = NormalizeReport::default();
            let twice = normalize_with(
                once.clone(),
                &PARTNER,
                &NormalizeOptions::default(),
                &mut report,
            );
            assert_eq!(
                marcxml::to_string(&once),
                marcxml::to_string(&twice),
                "{partner}:{id} changed on a second pass: {:?}",
                report.changes
            );
            n += 1;
        }
    }
    assert_eq!(n, 74);
}

/// The letters (and apostrophe-like marks) of every text subfield (fields
/// 100-849 and 880, subfields other than the numeric ones), in order, NFC.
fn text_letters(record: &unicat_marc::Record) -> Vec<String> {
    use unicode_normalization::UnicodeNormalization;
    let mut out = Vec::new();
    for field in &record.fields {
        let unicat_marc::Field::Data(df) = field else {
            continue;
        };
        if !(("100"..="849").contains(&df.tag.as_str()) || df.tag == "880") {
            continue;
        }
        for sf in df.subfields.iter().filter(|sf| !sf.code.is_ascii_digit()) {
            let letters: String = sf
                .value
                .nfc()
                .filter(|c| c.is_alphabetic() || matches!(c, '\'' | '`' | '‘' | '’'))
                .collect();
            out.push(format!("{} ${}: {letters}", df.tag, sf.code));
        }
    }
    out
}

// Issue #19 item 15: the Uzbek apostrophe step rewrote ʻ/ʼ and apostrophes
// in Hebrew and Arabic romanisations, pinyin, Welsh and English, and the
// schwa step Kanuri's ǝ (the look-alike step is checked on Russian notes
// with English words too). Through every step and a MARCXML round trip (what
// is stored and published), these records keep every letter and mark.
#[test]
fn records_in_other_languages_keep_their_letters_through_every_step() {
    for case in [
        "uzbek-apostrophes/hebrew-romanisation",
        "uzbek-apostrophes/english-record-romanisations",
        "uzbek-apostrophes/pinyin-welsh-hausa-turkish",
        "schwa/kanuri-turned-e",
        "lookalikes/russian-and-english-in-one-field",
    ] {
        let input = read_record(&fixture_dir().join(format!("{case}.in.xml")));
        let before = text_letters(&input);
        let stored = marcxml::to_string(&normalize(input, &PARTNER));
        let after = text_letters(&marcxml::parse_record(&stored).unwrap());
        assert_eq!(after, before, "{case}: letters changed");
    }
}
