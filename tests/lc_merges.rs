//! Precision of the matcher on real Library of Congress records: import
//! `fixtures/lc-merges/records.mrc` with the `unicat` binary into a fresh
//! SQLite store, read the clusters back and score every merged pair against
//! the pairs labelled by reading (`fixtures/lc-merges/labels.tsv`, see its
//! README). The labels are parsed here, independently of the matcher and of
//! `bench/lc_merges.py`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// `(id_a, id_b)` with `id_a < id_b` → (label, whether it is a near miss).
fn labels(path: &Path) -> BTreeMap<(String, String), (String, bool)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        if n == 0 && line.starts_with("id_a") || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 5, "labels.tsv line {}: {line:?}", n + 1);
        let (a, b) = (cols[0].trim(), cols[1].trim());
        assert!(
            matches!(cols[2], "same" | "different" | "undecidable"),
            "labels.tsv line {}: label {:?}",
            n + 1,
            cols[2]
        );
        let key = if a < b { (a, b) } else { (b, a) };
        let near_miss = cols[4].contains("(near miss");
        out.insert(
            (key.0.to_string(), key.1.to_string()),
            (cols[2].to_string(), near_miss),
        );
    }
    out
}

/// The groups of more than one record, as 001 numbers.
fn groups(db: &Path) -> Vec<BTreeSet<String>> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT c.cluster_id, s.local_id FROM cluster_members c
             JOIN source_records s ON s.id = c.record_id WHERE s.deleted = 0",
        )
        .unwrap();
    let mut by_id: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
    {
        let (cluster, local) = row.unwrap();
        by_id
            .entry(cluster)
            .or_default()
            .insert(local.trim().to_string());
    }
    by_id.into_values().filter(|g| g.len() > 1).collect()
}

// Issue #17 item 4: on the real LC records the matcher merged 201 different
// pairs against 45 same (precision 0.183); the evidence against (subtitles,
// paginations, report numbers, OCLC numbers, uniform titles) brings it to
// 45 against 8 (0.849). The noise-tolerant keys then found 4 more pairs in
// the 150,000 (3 different, 1 undecidable; their records were added), of
// which the first-letter and part-title rules part two: 45 against 9
// (0.833). Han titles compared character by character, set ISBNs, series
// numbers and contents notes part the other 9: 45 against 0, and the goal
// is 0.99, which with 45 same pairs allows no different pair at all. The
// test holds that, every same pair, and no near miss joined.
#[test]
fn lc_merges_precision_does_not_fall_below_0_99() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("unicat.toml");
    std::fs::write(
        &config,
        format!(
            "state-dir = {:?}\ncatalogue-code = \"UNICAT\"\n[store]\nbackend = \"sqlite\"\n\
             [publish]\noutput-dir = {:?}\n\
             [[partner]]\nname = \"lc\"\ncode = \"DLC\"\nbase-url = \"http://127.0.0.1:9/oai\"\n\
             metadata-prefix = \"marc21\"\nschedule = \"0 1 * * *\"\n",
            dir.path().join("state").to_str().unwrap(),
            dir.path().join("publish").to_str().unwrap()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_unicat"))
        .arg("--config")
        .arg(&config)
        .args(["import", "--partner", "lc"])
        .arg(root.join("fixtures/lc-merges/records.mrc"))
        .env("UNICAT_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let labels = labels(&root.join("fixtures/lc-merges/labels.tsv"));
    let groups = groups(&dir.path().join("state/unicat.db"));
    let mut merged: BTreeSet<(String, String)> = BTreeSet::new();
    for g in &groups {
        let members: Vec<&String> = g.iter().collect();
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                merged.insert(((*a).clone(), (*b).clone()));
            }
        }
    }
    let (mut same, mut different, mut undecidable) = (0, 0, 0);
    let mut unlabelled = Vec::new();
    let mut wrong = Vec::new();
    for pair in &merged {
        match labels.get(pair).map(|(l, _)| l.as_str()) {
            Some("same") => same += 1,
            Some("different") => {
                different += 1;
                wrong.push(pair);
            }
            Some(_) => undecidable += 1,
            None => unlabelled.push(pair),
        }
    }
    println!("merged pairs: {same} same, {different} different, {undecidable} undecidable");
    println!("different pairs merged: {wrong:?}");
    assert!(
        unlabelled.is_empty(),
        "merged pairs without a label (label them in labels.tsv): {unlabelled:?}"
    );
    let precision = same as f64 / (same + different) as f64;
    assert!(
        precision >= 0.99,
        "precision {precision:.3} ({same} same, {different} different): {wrong:?}"
    );
    // Precision alone is met by merging nothing: the 45 labelled same pairs
    // must stay merged.
    assert!(same >= 45, "only {same} of the 45 same pairs are merged");
    let near: Vec<&(String, String)> = labels
        .iter()
        .filter(|(pair, (label, near))| *near && label == "different" && merged.contains(*pair))
        .map(|(pair, _)| pair)
        .collect();
    assert!(near.is_empty(), "near misses merged: {near:?}");
}
