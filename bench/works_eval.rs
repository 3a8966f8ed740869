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
//! Translations are scored in two rows: pairs with work evidence (a 240,
//! 246, 765 or "Translation of:" note on the translation, or a title the
//! two records share in some script) and pairs whose translation says only
//! its original language (041 `$h`) under a title in another language.
//! The second row is not linked by design (README, "Work links"): linking
//! on the author alone would tie every translated work of an author to
//! every original. Precision is per predicted kind over all pairs.
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
    /// For a translation pair: whether the records carry work evidence
    /// (see the module documentation); true for every other kind.
    pub evidence: bool,
}

impl Outcome {
    /// The row the pair is counted in: its kind, or `translation-041` for
    /// a translation pair without work evidence.
    pub fn row(&self) -> String {
        if self.kind == "translation" && !self.evidence {
            "translation-041".to_string()
        } else {
            self.kind.clone()
        }
    }
}

/// What the evidence rule needs of a record: whether it is a translation
/// that says so only in 041 `$h` (no 240, 246, 765 or "Translation of"
/// note), and its title proper's folded forms. Read from the records, not
/// from the linking code's features.
struct Evidence {
    only_041: bool,
    titles: Vec<String>,
}

fn evidence_of(r: &unicat_marc::Record) -> Evidence {
    let translated = r
        .data_fields("041")
        .any(|f| f.subfield('h').is_some() || f.ind1 == '1');
    let says_what = ["240", "246", "765"]
        .iter()
        .any(|t| r.data_fields(t).next().is_some())
        || r.data_fields("500")
            .filter_map(|f| f.subfield('a'))
            .any(|a| a.to_lowercase().contains("translation of"));
    // The 245 $a and its 880 twin, folded to one script-independent form
    // (the romanisation tables of `translit`), so that a translation under
    // its original's title meets it in either script.
    let titles = r
        .data_fields("245")
        .chain(
            r.data_fields("880")
                .filter(|f| f.subfield('6').is_some_and(|s| s.starts_with("245"))),
        )
        .filter_map(|f| f.subfield('a'))
        .map(|a| {
            let a = a.split([':', '/', ';', '=']).next().unwrap_or(a);
            unicat::dedup::translit::key_skeleton(a, unicat::lang::guess_lang(a))
        })
        .filter(|t| !t.is_empty())
        .collect();
    Evidence {
        only_041: translated && !says_what,
        titles,
    }
}

/// Read the set in `dir` and relate every labelled pair.
pub fn evaluate(dir: &Path) -> Result<Vec<Outcome>> {
    let path = dir.join("records.xml");
    let file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let mut records: HashMap<String, (WorkFeatures, Evidence)> = HashMap::new();
    for (i, r) in marcxml::Reader::new(BufReader::new(file)).enumerate() {
        let r = r.with_context(|| format!("reading record {} of {}", i + 1, path.display()))?;
        let code = r.control("003").unwrap_or_default().trim().to_string();
        let r = normalize(r, &PartnerContext { code: &code });
        let Some(id) = r.control("001").map(|s| s.trim().to_string()) else {
            bail!("record {} of {} has no 001", i + 1, path.display());
        };
        records.insert(id, (work_features(&r), evidence_of(&r)));
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
        let ((a, ea), (b, eb)) = (get(left)?, get(right)?);
        let predicted = relate(a, b).map_or("unrelated", |r| r.name());
        let shared_title = ea.titles.iter().any(|t| eb.titles.contains(t));
        let evidence = kind != "translation" || shared_title || !(ea.only_041 || eb.only_041);
        out.push(Outcome {
            left: left.to_string(),
            right: right.to_string(),
            kind: kind.to_string(),
            predicted: predicted.to_string(),
            note: note.to_string(),
            evidence,
        });
    }
    Ok(out)
}

/// Per row (kind, or `translation-041`): (labelled pairs, linked with the
/// labelled kind).
pub fn per_kind(outcomes: &[Outcome]) -> BTreeMap<String, [usize; 2]> {
    let mut rows: BTreeMap<String, [usize; 2]> = BTreeMap::new();
    for o in outcomes {
        let e = rows.entry(o.row()).or_default();
        e[0] += 1;
        e[1] += usize::from(o.kind == o.predicted);
    }
    rows
}

/// Of the pairs predicted as `kind`, the share labelled so (1 when none).
pub fn precision(outcomes: &[Outcome], kind: &str) -> f64 {
    let predicted = outcomes.iter().filter(|o| o.predicted == kind).count();
    let right = outcomes
        .iter()
        .filter(|o| o.predicted == kind && o.kind == kind)
        .count();
    if predicted == 0 {
        1.0
    } else {
        right as f64 / predicted as f64
    }
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
        "  {:<16} {:>7} {:>7} {:>9} {:>9}",
        "kind", "pairs", "right", "recall", "precision"
    );
    for (row, [n, right]) in per_kind(&outcomes) {
        let recall = if n == 0 { 1.0 } else { right as f64 / n as f64 };
        let kind = row.strip_suffix("-041").unwrap_or(&row);
        let precision = if row == kind {
            format!("{:>9.3}", precision(&outcomes, kind))
        } else {
            format!("{:>9}", "")
        };
        println!("  {row:<16} {n:>7} {right:>7} {recall:>9.3} {precision}");
    }
    println!("  (translation-041: translations that say only 041 $h under another title; not linked by design)");
    let mut confusion: BTreeMap<(String, String), usize> = BTreeMap::new();
    for o in &outcomes {
        *confusion.entry((o.row(), o.predicted.clone())).or_default() += 1;
    }
    println!("\nconfusion (labelled -> predicted)");
    for ((k, p), n) in &confusion {
        if k != p {
            println!("  {k:<16} -> {p:<12} {n}");
        }
    }
    println!("\nerrors (up to 15 per labelled kind)");
    let mut shown: BTreeMap<String, usize> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.kind != o.predicted) {
        let c = shown.entry(o.row()).or_default();
        if *c < 15 {
            *c += 1;
            println!(
                "  {} {} {} -> {}: {}",
                o.left,
                o.right,
                o.row(),
                o.predicted,
                o.note
            );
        }
    }
    Ok(())
}
