//! Data-driven tests of `merge::merge_with`: each directory under
//! tests/fixtures/merge/ is one cluster and the union record it must give.
//!
//! A case directory holds `members.toml` (why the case exists, the options,
//! and one `[[member]]` per record: file, partner, partner code, OAI id),
//! the member records as MARCXML (`m1.xml`, `m2.xml`, …), and the expected
//! `union.xml`. Every case is merged in every order of its members, and each
//! order must give exactly `union.xml`, so a new case is new files, not new
//! code. `UPDATE_EXPECT=1 cargo test --test merge` writes `union.xml` from
//! the current output; read the diff before keeping it.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use unicat::merge::{self, Member, MergeOptions};
use unicat_marc::{marcxml, Record};

/// One `members.toml`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Case {
    /// One line: what the case pins down.
    why: String,
    #[serde(default = "default_cluster_id")]
    cluster_id: String,
    #[serde(default = "default_catalogue_code")]
    catalogue_code: String,
    /// The member file that must be chosen as the base, if the case says.
    base: Option<String>,
    #[serde(default)]
    options: Options,
    member: Vec<MemberSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Options {
    #[serde(default)]
    partner_priority: Vec<String>,
    #[serde(default)]
    merge_notes: bool,
    #[serde(default)]
    trusted_sources: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct MemberSpec {
    file: String,
    partner: String,
    partner_code: String,
    oai_id: String,
}

fn default_cluster_id() -> String {
    "uc0123456789abcdef".into()
}

fn default_catalogue_code() -> String {
    "UNICAT-TEST".into()
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/merge")
}

fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("tests/fixtures/merge")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every permutation of `0..n` (Heap's algorithm), the identity first.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    fn heap(k: usize, a: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if k <= 1 {
            out.push(a.clone());
            return;
        }
        for i in 0..k - 1 {
            heap(k - 1, a, out);
            if k.is_multiple_of(2) {
                a.swap(i, k - 1);
            } else {
                a.swap(0, k - 1);
            }
        }
        heap(k - 1, a, out);
    }
    let mut out = Vec::new();
    heap(n, &mut (0..n).collect(), &mut out);
    out
}

/// The first line where two texts differ, with both versions of it.
fn first_difference(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let i = e
        .iter()
        .zip(&a)
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    format!(
        "line {}:\n  expected: {}\n  actual:   {}",
        i + 1,
        e.get(i).unwrap_or(&"<end>"),
        a.get(i).unwrap_or(&"<end>")
    )
}

/// A case's description and its member records, in file order.
fn load(dir: &Path) -> Result<(Case, Vec<Record>), String> {
    let case: Case = toml::from_str(&read(&dir.join("members.toml")))
        .map_err(|e| format!("members.toml: {e}"))?;
    if case.why.trim().is_empty() || case.member.is_empty() {
        return Err("members.toml needs a `why` and at least one [[member]]".into());
    }
    let records = case
        .member
        .iter()
        .map(|m| {
            marcxml::parse_record(&read(&dir.join(&m.file))).map_err(|e| format!("{}: {e}", m.file))
        })
        .collect::<Result<_, _>>()?;
    Ok((case, records))
}

fn members<'a>(case: &'a Case, records: &'a [Record]) -> Vec<Member<'a>> {
    case.member
        .iter()
        .zip(records)
        .map(|(m, record)| Member {
            partner: &m.partner,
            partner_code: &m.partner_code,
            oai_id: &m.oai_id,
            record,
        })
        .collect()
}

/// Run one case; an error message if it fails.
fn check(dir: &Path, update: bool) -> Result<(), String> {
    let (case, records) = load(dir)?;
    let members = members(&case, &records);
    let options = MergeOptions {
        partner_priority: case.options.partner_priority.clone(),
        merge_notes: case.options.merge_notes,
        trusted_sources: case.options.trusted_sources.clone(),
    };

    if let Some(base) = &case.base {
        let ranked = merge::rank(&members, &options);
        let chosen = case
            .member
            .iter()
            .zip(&members)
            .find(|(_, m)| std::ptr::eq(*m, ranked[0].member))
            .map(|(spec, _)| spec.file.as_str());
        if chosen != Some(base.as_str()) {
            let scores: Vec<String> = ranked
                .iter()
                .map(|r| format!("{} {}: {:?}", r.member.partner, r.member.oai_id, r.score))
                .collect();
            return Err(format!(
                "base is {chosen:?}, expected {base}; ranking:\n  {}",
                scores.join("\n  ")
            ));
        }
    }

    let render = |order: &[usize]| {
        let shuffled: Vec<Member<'_>> = order.iter().map(|&i| members[i].clone()).collect();
        let union = merge::merge_with(&case.cluster_id, &case.catalogue_code, &shuffled, &options)
            .expect("a cluster with members has a union record");
        marcxml::to_string(&union) + "\n"
    };
    let expected_path = dir.join("union.xml");
    if update {
        std::fs::write(
            &expected_path,
            render(&(0..members.len()).collect::<Vec<_>>()),
        )
        .map_err(|e| format!("writing union.xml: {e}"))?;
    }
    let expected = read(&expected_path);
    marcxml::parse_record(&expected).map_err(|e| format!("union.xml: {e}"))?;
    for order in permutations(members.len()) {
        let actual = render(&order);
        if actual != expected {
            let files: Vec<&str> = order
                .iter()
                .map(|&i| case.member[i].file.as_str())
                .collect();
            return Err(format!(
                "members in order {files:?}: union differs from union.xml at {}",
                first_difference(&expected, &actual)
            ));
        }
    }
    Ok(())
}

// The cases are the specification of merging; every order of the members
// must give the same bytes.
#[test]
fn every_case_gives_its_union_record_in_every_member_order() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let dirs = case_dirs();
    assert!(!dirs.is_empty(), "no cases under {}", cases_dir().display());
    let failures: Vec<String> = dirs
        .iter()
        .filter_map(|dir| {
            check(dir, update).err().map(|e| {
                let name = dir.file_name().unwrap_or_default().to_string_lossy();
                format!("{name}: {e}")
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n\n")
    );
}

// The pipeline calls `merge`; it must be `merge_with` and the defaults.
#[test]
fn merge_is_merge_with_the_default_options() {
    for dir in case_dirs() {
        let (case, records) = load(&dir).unwrap();
        let members = members(&case, &records);
        assert_eq!(
            merge::merge("c", "X", &members),
            merge::merge_with("c", "X", &members, &MergeOptions::default()),
            "{}",
            dir.display()
        );
    }
}

// The permutation helper must really give every order, or the order test
// above proves less than it says.
#[test]
fn permutations_are_all_orders() {
    let mut p = permutations(4);
    assert_eq!(p[0], vec![0, 1, 2, 3]);
    p.sort();
    p.dedup();
    assert_eq!(p.len(), 24);
}
