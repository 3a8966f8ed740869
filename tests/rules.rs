//! Data-driven tests of the per-partner rules (`unicat::rules`).
//!
//! Every directory under `tests/fixtures/rules/` other than `invalid/` is a
//! case: `rules.toml` (a `[[rule]]` list, as the `[[partner.rule]]` tables
//! of the configuration are written, whose first line is `# hits: …`),
//! `in.xml` and `out.xml` (one MARCXML record each). The rules applied to
//! `in.xml` must give `out.xml`, and the rules that changed the record must
//! be the ones listed: `# hits: none` or `# hits: 1 drop, 3 add` (rules
//! counted from 1, as in error messages). Every `invalid/*.toml` must be
//! refused, with an error containing what its first line says after
//! `# expect: `. A new case is a new directory or file, not new code.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use unicat::rules::{RuleSpec, Rules};
use unicat_marc::marcxml;

/// A fixture's rules file: the rules as a partner's config holds them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<RuleSpec>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rules")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// What the first line of a fixture says after `prefix`.
fn header<'a>(text: &'a str, prefix: &str, path: &Path) -> &'a str {
    text.lines()
        .next()
        .and_then(|l| l.strip_prefix(prefix))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{}: first line must be `{prefix}…`", path.display()))
}

/// The case directories, in name order.
fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(fixtures())
        .expect("tests/fixtures/rules")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p.file_name().unwrap() != "invalid")
        .collect();
    dirs.sort();
    dirs
}

// The rules do what the fixtures say, and report the rules that changed the
// record (the data-quality report counts them); all failures are listed at once.
#[test]
fn fixture_cases_rewrite_in_to_out() {
    let dirs = case_dirs();
    assert!(dirs.len() >= 10, "only {} rule cases", dirs.len());
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy();
        let rules_path = dir.join("rules.toml");
        let text = read(&rules_path);
        let want_hits = header(&text, "# hits:", &rules_path).to_string();
        let specs = toml::from_str::<RuleFile>(&text)
            .unwrap_or_else(|e| panic!("{name}/rules.toml: {e}"))
            .rule;
        let rules = Rules::compile(&specs).unwrap_or_else(|errs| {
            let errs: Vec<_> = errs.iter().map(ToString::to_string).collect();
            panic!("{name}/rules.toml refused:\n{}", errs.join("\n"))
        });
        let parse = |file: &str| {
            marcxml::parse_record(&read(&dir.join(file)))
                .unwrap_or_else(|e| panic!("{name}/{file}: {e}"))
        };
        let mut record = parse("in.xml");
        let want = marcxml::to_string(&parse("out.xml"));
        let hits = rules.apply(&mut record);
        let got = marcxml::to_string(&record);
        if got != want {
            failures.push(format!("{name}: got\n{got}\nwant\n{want}"));
        }
        let got_hits = if hits.is_empty() {
            "none".to_string()
        } else {
            hits.iter()
                .map(|h| format!("{} {}", h.index + 1, h.action))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if got_hits != want_hits {
            failures.push(format!("{name}: hits {got_hits}, want {want_hits}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// Every kind of mistake a sysadmin can make is refused at load, and the
// message names the rule (or, for serde's errors, the key and line).
#[test]
fn invalid_fixtures_are_refused_with_the_expected_message() {
    let dir = fixtures().join("invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/rules/invalid")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "only {} invalid cases", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy();
        let text = read(path);
        let expect = header(&text, "# expect:", path);
        let got = match toml::from_str::<RuleFile>(&text) {
            Err(e) => e.to_string(),
            Ok(file) => match Rules::compile(&file.rule) {
                Ok(_) => {
                    failures.push(format!("{name}: accepted"));
                    continue;
                }
                Err(errs) => errs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
            },
        };
        if !got.contains(expect) {
            failures.push(format!("{name}: want `{expect}` in:\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// The fingerprint is what tells a reload that a partner's rules changed:
// every valid fixture must give a different one, and reading a file twice
// the same one.
#[test]
fn fixture_fingerprints_are_distinct_and_repeatable() {
    let mut seen = std::collections::BTreeMap::new();
    for dir in case_dirs() {
        let text = read(&dir.join("rules.toml"));
        let fp = |t: &str| {
            Rules::compile(&toml::from_str::<RuleFile>(t).unwrap().rule)
                .unwrap()
                .fingerprint()
        };
        let a = fp(&text);
        assert_eq!(a, fp(&text));
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(other) = seen.insert(a, name.clone()) {
            panic!("{name} and {other} have the same fingerprint");
        }
    }
}

// No rules is the common case: nothing changes and nothing is reported.
#[test]
fn empty_rules_change_nothing() {
    let rules = Rules::compile(&[]).unwrap();
    assert!(rules.is_empty());
    let text = read(&fixtures().join("move-koha-952/in.xml"));
    let mut record = marcxml::parse_record(&text).unwrap();
    let before = record.clone();
    assert!(rules.apply(&mut record).is_empty());
    assert_eq!(record, before);
}
