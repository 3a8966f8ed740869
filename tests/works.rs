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
// floors sit just under today's figures (edition 1.000, format 0.971,
// volume 0.959, translation 0.830, one of 325 unrelated pairs linked), so a
// change that loses links or links different works fails here.
#[test]
fn work_links_on_the_evaluation_set() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/works");
    let outcomes = works_eval::evaluate(&dir).unwrap();
    assert_eq!(outcomes.len(), 1270);
    let rows = works_eval::per_kind(&outcomes);
    let recall = |kind: &str| {
        let [n, right, _] = rows[kind];
        right as f64 / n as f64
    };
    let precision = |kind: &str| {
        let [_, right, predicted] = rows[kind];
        right as f64 / predicted as f64
    };
    assert!(recall("edition") >= 0.99, "{rows:?}");
    assert!(recall("format") >= 0.96, "{rows:?}");
    assert!(recall("volume") >= 0.95, "{rows:?}");
    assert!(recall("translation") >= 0.82, "{rows:?}");
    for kind in ["edition", "format", "volume", "translation"] {
        assert!(precision(kind) >= 0.97, "{kind}: {rows:?}");
    }
    let linked_unrelated = outcomes
        .iter()
        .filter(|o| o.kind == "unrelated" && o.predicted != "unrelated")
        .count();
    assert!(
        linked_unrelated <= 1,
        "{linked_unrelated} different works linked"
    );
}
