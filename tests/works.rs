//! Work links (issue #18) on the labelled set `fixtures/works`, which was
//! built from real LC records, constructed twins and typed records without
//! the linking code (see its README). Guards the figures
//! `cargo run --release --example works_eval` reports, per kind.

use std::path::Path;

#[expect(
    dead_code,
    reason = "the example's `main` and report printing are not used by the test"
)]
#[path = "../bench/works_eval.rs"]
mod works_eval;

// Recall and precision per kind, and no two different works linked. The
// lead's targets: precision >= 0.98 and recall >= 0.90 per kind on the
// pairs with work evidence, and no same-title different-work pair linked.
// The floors sit just under today's figures (edition 1.000, format 0.992,
// volume 0.986, translation 0.941; precision edition 0.996, volume 0.993,
// format and translation 1.000; none of 325 unrelated pairs linked), so a
// change that loses links or links different works fails here. The 35
// translations that say only 041 $h under a title of their own are
// counted apart (not linked by design, README "Work links").
#[test]
fn work_links_on_the_evaluation_set() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/works");
    let outcomes = works_eval::evaluate(&dir).unwrap();
    assert_eq!(outcomes.len(), 1270);
    let rows = works_eval::per_kind(&outcomes);
    let recall = |row: &str| {
        let [n, right] = rows[row];
        right as f64 / n as f64
    };
    assert!(recall("edition") >= 0.99, "{rows:?}");
    assert!(recall("format") >= 0.99, "{rows:?}");
    assert!(recall("volume") >= 0.98, "{rows:?}");
    assert!(recall("translation") >= 0.935, "{rows:?}");
    assert_eq!(rows["translation"][0] + rows["translation-041"][0], 324);
    assert_eq!(rows["translation-041"][0], 35, "{rows:?}");
    for kind in ["edition", "format", "volume", "translation"] {
        let p = works_eval::precision(&outcomes, kind);
        assert!(p >= 0.99, "{kind}: precision {p}");
    }
    let linked_unrelated: Vec<(&str, &str)> = outcomes
        .iter()
        .filter(|o| o.kind == "unrelated" && o.predicted != "unrelated")
        .map(|o| (o.left.as_str(), o.right.as_str()))
        .collect();
    assert!(
        linked_unrelated.is_empty(),
        "different works linked: {linked_unrelated:?}"
    );
}

// The work pass fills its key index with `index_keys`, which skips the pair
// features for speed, and relates records by `work_features`' keys: the
// two must give the same keys for every record, or a record would be
// indexed under keys its features do not have (and missed as a candidate).
// Every record of the set, with an always-link override naming some of
// them so that the override keys are compared too.
#[test]
fn index_keys_are_the_work_features_keys() {
    use unicat::dedup::works::{index_keys, work_features, Overrides};
    use unicat_marc::marcxml;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/works");
    let mut records = Vec::new();
    for file in ["records.xml", "lc-source.xml"] {
        let f = std::fs::File::open(dir.join(file)).unwrap();
        for r in marcxml::Reader::new(std::io::BufReader::new(f)) {
            records.push(r.unwrap());
        }
    }
    assert!(records.len() > 3000, "{}", records.len());
    // Always-link pairs naming the records with an 035 (few in this set).
    let named: Vec<String> = records
        .iter()
        .filter_map(|r| r.data_fields("035").find_map(|f| f.subfield('a')))
        .filter(|a| a.starts_with('('))
        .map(str::to_string)
        .collect();
    assert!(named.len() >= 20, "{}", named.len());
    let always: Vec<[String; 2]> = named
        .chunks(2)
        .filter(|p| p.len() == 2)
        .map(|p| [p[0].clone(), p[1].clone()])
        .collect();
    let overrides = Overrides {
        never: &[],
        always: &always,
    };
    let mut with_override_keys = 0;
    for r in &records {
        let f = work_features(r);
        let mut expected = f.keys.clone();
        let extra = overrides.keys(&f);
        with_override_keys += usize::from(!extra.is_empty());
        expected.extend(extra);
        expected.sort();
        expected.dedup();
        assert_eq!(
            index_keys(r, &overrides),
            expected,
            "{:?}",
            r.control("001")
        );
    }
    assert!(with_override_keys >= 20, "{with_override_keys}");
}
