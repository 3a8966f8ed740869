//! Data-driven tests of the script-independent skeleton: every line of
//! `tests/fixtures/translit/equal*.txt` names two spellings of one word or
//! title that must fold to one skeleton, every line of `differ*.txt` two
//! texts that must not. A new case is a new line (or file), not new code.

use std::path::Path;

use unicat::translit::{lang_from_marc, skeleton, Lang};

/// One fixture line: two texts, each with the language it is folded under.
struct Case {
    place: String,
    a: (Option<Lang>, String),
    b: (Option<Lang>, String),
}

/// The cases of every fixture file whose name starts with `prefix`, in file
/// name order. Malformed lines are reported, not skipped.
fn cases(prefix: &str) -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/translit");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(prefix) && name.ends_with(".txt")
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let place = format!("{name}:{}", i + 1);
            let [code, a, b] = line.splitn(3, '|').collect::<Vec<_>>()[..] else {
                panic!("{place}: want LANG|text A|text B, got {line:?}");
            };
            let (code_a, code_b) = code.split_once(',').unwrap_or((code, code));
            let lang = |c: &str| match c.trim() {
                "-" => None,
                c if c.len() == 3 => lang_from_marc(c),
                _ => panic!("{place}: language {c:?} is neither `-` nor a MARC code"),
            };
            out.push(Case {
                a: (lang(code_a), a.to_string()),
                b: (lang(code_b), b.to_string()),
                place,
            });
        }
    }
    assert!(
        !out.is_empty(),
        "no {prefix}*.txt cases in {}",
        dir.display()
    );
    out
}

/// Every case where `skeleton(A) == skeleton(B)` is not `want`, described.
fn mismatches(prefix: &str, want: bool) -> Vec<String> {
    cases(prefix)
        .into_iter()
        .filter_map(|c| {
            let sa = skeleton(&c.a.1, c.a.0);
            let sb = skeleton(&c.b.1, c.b.0);
            ((sa == sb) != want).then(|| {
                format!(
                    "{}: {:?} -> {sa:?} vs {:?} -> {sb:?}",
                    c.place, c.a.1, c.b.1
                )
            })
        })
        .collect()
}

// Cyrillic and Latin records of one book must share their title key.
#[test]
fn equal_pairs_share_a_skeleton() {
    let bad = mismatches("equal", true);
    assert!(bad.is_empty(), "should be equal:\n{}", bad.join("\n"));
}

// The skeleton is lossy; volumes, numbers and different words must still
// keep different keys.
#[test]
fn different_texts_keep_different_skeletons() {
    let bad = mismatches("differ", false);
    assert!(bad.is_empty(), "should differ:\n{}", bad.join("\n"));
}

// An equal pair whose sides are empty would pass without proving anything.
#[test]
fn fixture_texts_are_not_empty() {
    for c in cases("equal").iter().chain(&cases("differ")) {
        assert!(
            !skeleton(&c.a.1, c.a.0).is_empty() && !skeleton(&c.b.1, c.b.0).is_empty(),
            "{}: empty skeleton",
            c.place
        );
    }
}
