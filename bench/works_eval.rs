//! Evaluation of the work links (`unicat::dedup::works`) on the labelled
//! set in `fixtures/works` (see its README): pairs of records labelled
//! `edition`, `format`, `translation`, `volume` or `unrelated`, built from
//! real LC records, constructed and typed twins, independently of the
//! linking code.
//!
//! Each record is normalised as the pipeline does it and gets its work
//! features; each labelled pair is related with `works::relate`. Prints,
//! per kind, how many pairs were linked with the right kind (recall), and
//! per predicted kind how many were right (precision), the unrelated pairs
//! that were linked, and a sample of the errors.
//!
//! Run with `cargo run --release --example works_eval [-- --set DIR]`.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::{bail, Context, Result};
use unicat::dedup::works::{relate, work_features, WorkFeatures};
use unicat::normalize::{normalize, PartnerContext};
use unicat_marc::marcxml;

/// One labelled pair and the relation predicted for it.
pub struct Outcome {
    /// Left record's 001.
    pub left: String,
    /// Right record's 001.
    pub right: String,
    /// The labelled kind.
    pub kind: String,
    /// The predicted kind (`unrelated` when no link).
    pub predicted: String,
    /// The label file's note.
    pub note: String,
}

/// Read the set in `dir` and relate every labelled pair.
pub fn evaluate(dir: &Path) -> Result<Vec<Outcome>> {
    let path = dir.join("records.xml");
    let file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let mut records: HashMap<String, WorkFeatures> = HashMap::new();
    for (i, r) in marcxml::Reader::new(BufReader::new(file)).enumerate() {
        let r = r.with_context(|| format!("reading record {} of {}", i + 1, path.display()))?;
        let code = r.control("003").unwrap_or_default().trim().to_string();
        let r = normalize(r, &PartnerContext { code: &code });
        let Some(id) = r.control("001").map(|s| s.trim().to_string()) else {
            bail!("record {} of {} has no 001", i + 1, path.display());
        };
        records.insert(id, work_features(&r));
    }
    let path = dir.join("pairs.tsv");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [left, right, kind, _work_same, _origin, note] = cols[..] else {
            bail!("{}:{}: expected 6 columns", path.display(), n + 1);
        };
        let get = |id: &str| {
            records
                .get(id)
                .with_context(|| format!("{}:{}: no record {id}", path.display(), n + 1))
        };
        let (a, b) = (get(left)?, get(right)?);
        let predicted = relate(a, b).map_or("unrelated", |r| r.name());
        out.push(Outcome {
            left: left.to_string(),
            right: right.to_string(),
            kind: kind.to_string(),
            predicted: predicted.to_string(),
            note: note.to_string(),
        });
    }
    Ok(out)
}

/// Per kind: (labelled, linked with that kind, predicted as that kind).
pub fn per_kind(outcomes: &[Outcome]) -> BTreeMap<String, [usize; 3]> {
    let mut rows: BTreeMap<String, [usize; 3]> = BTreeMap::new();
    for o in outcomes {
        let e = rows.entry(o.kind.clone()).or_default();
        e[0] += 1;
        e[1] += usize::from(o.kind == o.predicted);
        rows.entry(o.predicted.clone()).or_default()[2] += 1;
    }
    rows
}

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/works");
    if let Some(i) = args.iter().position(|a| a == "--set") {
        let Some(set) = args.get(i + 1).cloned() else {
            bail!("--set needs a directory");
        };
        dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(set);
        args.drain(i..=i + 1);
    }
    let outcomes = evaluate(&dir)?;
    println!("{}: {} labelled pairs\n", dir.display(), outcomes.len());
    println!(
        "  {:<12} {:>7} {:>7} {:>9} {:>9}",
        "kind", "pairs", "right", "recall", "precision"
    );
    for (kind, [n, right, predicted]) in per_kind(&outcomes) {
        let recall = if n == 0 { 1.0 } else { right as f64 / n as f64 };
        let precision = if predicted == 0 {
            1.0
        } else {
            right as f64 / predicted as f64
        };
        println!("  {kind:<12} {n:>7} {right:>7} {recall:>9.3} {precision:>9.3}");
    }
    let mut confusion: BTreeMap<(String, String), usize> = BTreeMap::new();
    for o in &outcomes {
        *confusion
            .entry((o.kind.clone(), o.predicted.clone()))
            .or_default() += 1;
    }
    println!("\nconfusion (labelled -> predicted)");
    for ((k, p), n) in &confusion {
        if k != p {
            println!("  {k:<12} -> {p:<12} {n}");
        }
    }
    println!("\nerrors (up to 15 per labelled kind)");
    let mut shown: BTreeMap<&str, usize> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.kind != o.predicted) {
        let c = shown.entry(o.kind.as_str()).or_default();
        if *c < 15 {
            *c += 1;
            println!(
                "  {} {} {} -> {}: {}",
                o.left, o.right, o.kind, o.predicted, o.note
            );
        }
    }
    Ok(())
}
