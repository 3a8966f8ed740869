//! Evaluation of the pair decision (`unicat::dedup::decision`) on the labelled set in
//! `fixtures/eval` (see its README): 600 records, 310 labelled pairs.
//!
//! Each record is normalised as the pipeline does it (`normalize` with the
//! partner code from 003) and gets its match keys. For each labelled pair:
//! *candidate* = the two records share a match key held by at most
//! `MAX_KEY_FANOUT` records of the set, or two keys of any size (as in the
//! pipeline, which links a big block only on a second key); the baseline,
//! today's behaviour, predicts a duplicate for every candidate; the new
//! decision predicts one when the pair is a candidate *and*
//! `decision::compare` says the same edition.
//!
//! Run with `cargo run --example dedup_eval`; options to try instead of the
//! defaults go after `--` as TOML lines (`-- 'max-year-gap = 3'`). Prints precision, recall and
//! F1 for both, recall on the cross-script pairs, errors per category, every
//! misclassified pair with its score and vetoes, and the duplicate pairs that
//! no shared key makes candidates (with both records' keys).
//! `--set DIR` scores another labelled set (`fixtures/eval2`), and
//! `--strip-language` takes every record's language codes (008/35-37, 041)
//! away as it is read, to measure the matcher on records whose codes are
//! missing (issue #17 item 1).
//! `tests/score.rs` runs the same computation and guards the figures.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::{bail, Context, Result};
use unicat::dedup::decision::{compare, features, Features, PairDecision, ScoreOptions};
use unicat::dedup::keys::{match_keys, MAX_KEY_FANOUT};
use unicat::normalize::{normalize, PartnerContext};
use unicat_marc::{marcxml, Record};

/// The title-proper keys, now part of `dedup::match_keys` (kept as a
/// separate row so their share of the recall stays visible). Formerly:
/// keys proposed for `dedup::match_keys` (not used by the pipeline; here to
/// measure them): the title key built from the *title proper* (245 $a up to
/// a `:` `;` `=` or `/` in it, plus $n and $p, without $b), so that a record
/// without its subtitle still meets its twin, once with the first author
/// (`tpa:`) and once without (`tpy:`), so that a record without 1XX/7XX (a
/// corporate work, an encyclopaedia volume, a record that lost its 100)
/// meets its twin. Both need the year.
pub fn proposed_keys(record: &Record) -> Vec<String> {
    unicat::dedup::keys::title_proper_keys(record)
}

/// One labelled pair and what was predicted for it.
pub struct Outcome {
    /// Left record's 001.
    pub left: String,
    /// Right record's 001.
    pub right: String,
    /// Whether the label is `dup`.
    pub dup: bool,
    /// The pair's category in `pairs.tsv`.
    pub category: String,
    /// The label file's note.
    pub note: String,
    /// The two spellings' schemes, `left~right` (`cyrl`, `lc`, `iso9`, …);
    /// empty in a set without that column (`fixtures/eval`).
    pub scheme_pair: String,
    /// The MARC language code the pair was built for; empty without that
    /// column.
    pub language: String,
    /// Whether the records share a usable match key.
    pub candidate: bool,
    /// The pair decision (computed for every pair, candidate or not).
    pub decision: PairDecision,
    /// Both records' match keys, for the report on missed candidates.
    pub keys: [Vec<String>; 2],
    /// Whether the records share a usable key under the keys proposed in
    /// [`proposed_keys`] (today's keys plus those).
    pub proposed_candidate: bool,
}

impl Outcome {
    /// The new prediction: a candidate the pair decision accepts.
    pub fn predicted(&self) -> bool {
        self.candidate && self.decision.same
    }

    /// Whether the pair is one of the cross-script duplicates: so labelled
    /// in `fixtures/eval`, or one side Cyrillic in a set with schemes.
    pub fn cross_script(&self) -> bool {
        self.category.starts_with("cross-script") || self.schemes().contains(&"cyrl")
    }

    /// The scheme pair in a fixed order, so that `a~b` and `b~a` are one
    /// row of the report.
    pub fn schemes(&self) -> [&str; 2] {
        let (a, b) = self.scheme_pair.split_once('~').unwrap_or(("", ""));
        if a <= b {
            [a, b]
        } else {
            [b, a]
        }
    }
}

/// Counts and rates of one predictor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    /// True positives.
    pub tp: usize,
    /// False positives.
    pub fp: usize,
    /// False negatives.
    pub fn_: usize,
    /// True negatives.
    pub tn: usize,
    /// tp / (tp + fp), 1 when nothing is predicted.
    pub precision: f64,
    /// tp / (tp + fn).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Recall on the cross-script duplicate pairs.
    pub cross_recall: f64,
}

/// Precision, recall and F1 of `predict` over `outcomes`.
pub fn metrics(outcomes: &[Outcome], predict: impl Fn(&Outcome) -> bool) -> Metrics {
    let (mut tp, mut fp, mut fn_, mut tn) = (0, 0, 0, 0);
    let (mut cross, mut cross_tp) = (0, 0);
    for o in outcomes {
        let p = predict(o);
        match (o.dup, p) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            (false, false) => tn += 1,
        }
        if o.dup && o.cross_script() {
            cross += 1;
            cross_tp += usize::from(p);
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Metrics {
        tp,
        fp,
        fn_,
        tn,
        precision,
        recall,
        f1,
        cross_recall: ratio(cross_tp, cross),
    }
}

/// Read the set in `dir` and decide every labelled pair with `opts`.
pub fn evaluate(dir: &Path, opts: &ScoreOptions) -> Result<Vec<Outcome>> {
    evaluate_with(dir, opts, false)
}

/// Take a record's language codes away: 008/35-37 blanked and every 041
/// removed, as a partner's record without them (or with codes too wrong to
/// trust) arrives. Done as the set is read, never in the fixture, so that
/// `--strip-language` measures how far the guess from the letters
/// (`lang::guess_lang`) carries the matcher (issue #17 item 1).
pub fn strip_language(record: &mut Record) {
    if let Some(f008) = record.control("008") {
        let mut chars: Vec<char> = f008.chars().collect();
        if chars.len() >= 38 {
            chars[35..38].fill(' ');
            record.set_control("008", chars.into_iter().collect());
        }
    }
    record.remove_fields("041");
}

/// [`evaluate`], with every record's language codes taken away first when
/// `strip` is set (see [`strip_language`]).
pub fn evaluate_with(dir: &Path, opts: &ScoreOptions, strip: bool) -> Result<Vec<Outcome>> {
    let path = dir.join("records.xml");
    let file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let mut records: HashMap<String, (Features, Vec<String>, Vec<String>)> = HashMap::new();
    for (i, r) in marcxml::Reader::new(BufReader::new(file)).enumerate() {
        let mut r = r.with_context(|| format!("reading record {} of {}", i + 1, path.display()))?;
        if strip {
            strip_language(&mut r);
        }
        let code = r.control("003").unwrap_or_default().trim().to_string();
        let r = normalize(r, &PartnerContext { code: &code });
        let Some(id) = r.control("001").map(|s| s.trim().to_string()) else {
            bail!("record {} of {} has no 001", i + 1, path.display());
        };
        let keys = match_keys(&r);
        let mut wider = keys.clone();
        wider.extend(proposed_keys(&r));
        records.insert(id, (features(&r), keys, wider));
    }
    let mut holders: HashMap<&str, usize> = HashMap::new();
    for (_, _, keys) in records.values() {
        for k in keys {
            *holders.entry(k.as_str()).or_default() += 1;
        }
    }
    let usable = |k: &String| holders.get(k.as_str()).copied().unwrap_or(0) <= MAX_KEY_FANOUT;

    let path = dir.join("pairs.tsv");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        // `fixtures/eval` has five columns; `fixtures/eval2` adds the
        // scheme pair and the language before the note.
        let (left, right, label, category, scheme_pair, language, note) = match cols[..] {
            [l, r, lab, cat, note] => (l, r, lab, cat, "", "", note),
            [l, r, lab, cat, sp, lang, note] => (l, r, lab, cat, sp, lang, note),
            _ => bail!("{}:{}: expected 5 or 7 columns", path.display(), n + 1),
        };
        let get = |id: &str| {
            records
                .get(id)
                .with_context(|| format!("{}:{}: no record {id}", path.display(), n + 1))
        };
        let ((fa, ka, wa), (fb, kb, wb)) = (get(left)?, get(right)?);
        // As in the pipeline: a key of normal size makes candidates, an
        // oversized one only together with a second shared key.
        let meets = |x: &[String], y: &[String]| {
            let shared: Vec<&String> = x.iter().filter(|k| y.contains(k)).collect();
            shared.iter().any(|k| usable(k)) || shared.len() >= 2
        };
        let candidate = meets(ka, kb);
        let proposed_candidate = meets(wa, wb);
        out.push(Outcome {
            left: left.to_string(),
            right: right.to_string(),
            dup: label == "dup",
            category: category.to_string(),
            note: note.to_string(),
            scheme_pair: scheme_pair.to_string(),
            language: language.to_string(),
            candidate,
            decision: compare(fa, fb, opts),
            keys: [ka.clone(), kb.clone()],
            proposed_candidate,
        });
    }
    Ok(out)
}

fn print_metrics(name: &str, m: &Metrics) {
    println!(
        "{name:<22} precision {:.4}  recall {:.4}  F1 {:.4}  cross-script recall {:.4}  \
         (tp {} fp {} fn {} tn {})",
        m.precision, m.recall, m.f1, m.cross_recall, m.tp, m.fp, m.fn_, m.tn
    );
}

/// Recall of the duplicate pairs per language × scheme pair, and the
/// distinct pairs' errors per language: the table issue #17 asks for.
fn print_by_language_and_scheme(outcomes: &[Outcome]) {
    let mut rows: BTreeMap<(&str, String), [usize; 3]> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.dup && !o.language.is_empty()) {
        let [a, b] = o.schemes();
        let e = rows
            .entry((o.language.as_str(), format!("{a}~{b}")))
            .or_default();
        e[0] += 1;
        e[1] += usize::from(o.predicted());
        e[2] += usize::from(o.candidate);
    }
    if rows.is_empty() {
        return;
    }
    println!("\nrecall per language and scheme pair (duplicates; candidates = a shared key)");
    println!(
        "  {:<5} {:<30} {:>5} {:>7} {:>10}",
        "lang", "schemes", "pairs", "recall", "candidates"
    );
    let mut below = 0;
    for ((lang, schemes), [n, found, cand]) in &rows {
        let recall = *found as f64 / *n as f64;
        below += usize::from(recall < 0.95);
        let mark = if recall < 0.95 { "  < 0.95" } else { "" };
        println!(
            "  {lang:<5} {schemes:<30} {n:>5} {recall:>7.3} {:>10.3}{mark}",
            *cand as f64 / *n as f64
        );
    }
    println!(
        "  {below} of {} language × scheme rows below 0.95",
        rows.len()
    );
    let mut langs: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| !o.language.is_empty()) {
        let e = langs.entry(o.language.as_str()).or_default();
        if o.dup {
            e[0] += 1;
            e[1] += usize::from(o.predicted());
        } else {
            e[2] += 1;
            e[3] += usize::from(o.predicted());
        }
    }
    println!("\nper language: duplicates found, distinct pairs wrongly merged");
    for (lang, [d, found, n, merged]) in &langs {
        println!("  {lang:<5} recall {found}/{d}   false merges {merged}/{n}");
    }
}

/// The noise kinds a pair's note names (`right:typo; left:260-264` gives
/// `typo` and `260-264`), or `clean`.
pub fn noise_kinds(note: &str) -> Vec<&str> {
    let mut kinds: Vec<&str> = note
        .split(';')
        .filter_map(|part| {
            let part = part.trim();
            part.strip_prefix("left:")
                .or_else(|| part.strip_prefix("right:"))
        })
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    if kinds.is_empty() {
        kinds.push("clean");
    }
    kinds
}

/// Recall of the duplicate pairs per noise kind (a pair with two kinds
/// counts in both), with its misses split into blocking misses (no shared
/// key: never candidates) and decision misses (candidates the decision
/// refused): what issue #17's "blocking that survives noise" is measured by.
fn print_by_noise(outcomes: &[Outcome]) {
    let mut rows: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.dup && !o.language.is_empty()) {
        for kind in noise_kinds(&o.note) {
            let e = rows.entry(kind).or_default();
            e[0] += 1;
            e[1] += usize::from(o.predicted());
            e[2] += usize::from(!o.candidate);
            e[3] += usize::from(o.candidate && !o.decision.same);
        }
    }
    if rows.is_empty() {
        return;
    }
    println!(
        "\nrecall per noise kind (duplicates; misses: no shared key / refused by the decision)"
    );
    println!(
        "  {:<22} {:>5} {:>7} {:>9} {:>9}",
        "noise", "pairs", "recall", "blocking", "decision"
    );
    for (kind, [n, found, blocking, decision]) in &rows {
        println!(
            "  {kind:<22} {n:>5} {:>7.3} {blocking:>9} {decision:>9}",
            *found as f64 / *n as f64
        );
    }
}

fn main() -> Result<()> {
    // `--set DIR` evaluates another labelled set (e.g. `fixtures/eval2`);
    // the rest are options to try, as TOML lines:
    // `-- 'max-year-gap = 3' 'threshold = 7'`.
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/eval");
    if let Some(i) = args.iter().position(|a| a == "--set") {
        let Some(set) = args.get(i + 1).cloned() else {
            bail!("--set needs a directory");
        };
        dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(set);
        args.drain(i..=i + 1);
    }
    // `--strip-language` takes the records' language codes away as they
    // are read (see `strip_language`).
    let strip = args.iter().any(|a| a == "--strip-language");
    args.retain(|a| a != "--strip-language");
    let opts: ScoreOptions = toml::from_str(&args.join("\n")).context("options")?;
    let outcomes = evaluate_with(&dir, &opts, strip)?;
    let base = metrics(&outcomes, |o| o.candidate);
    let new = metrics(&outcomes, Outcome::predicted);
    let ceiling = metrics(&outcomes, |o| o.candidate && o.dup);
    println!(
        "{}: {} labelled pairs{}\n",
        dir.display(),
        outcomes.len(),
        if strip {
            " (language codes stripped: 008/35-37 and 041)"
        } else {
            ""
        }
    );
    print_metrics("baseline (key only)", &base);
    print_metrics("key + pair decision", &new);
    print_metrics("ceiling (keys)", &ceiling);

    let alone = metrics(&outcomes, |o| o.decision.same);
    print_metrics("pair decision alone", &alone);
    println!("  (every labelled pair treated as a candidate: what the decision does once keys are wider)");
    print_metrics(
        "proposed keys only",
        &metrics(&outcomes, |o| o.proposed_candidate),
    );
    print_metrics(
        "proposed keys + dec.",
        &metrics(&outcomes, |o| o.proposed_candidate && o.decision.same),
    );
    println!("  (the `tpa:`/`tpy:` title-proper keys are in dedup::keys now, so both rows agree)");

    // How close the decision came: the weakest duplicates and the strongest
    // non-duplicates that no veto stopped.
    let mut dups: Vec<&Outcome> = outcomes.iter().filter(|o| o.dup).collect();
    dups.sort_by(|a, b| a.decision.score.total_cmp(&b.decision.score));
    let mut open: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !o.dup && o.decision.vetoes.is_empty())
        .collect();
    open.sort_by(|a, b| b.decision.score.total_cmp(&a.decision.score));
    println!(
        "\nmargins (threshold {:.2}): {} distinct pairs pass every veto",
        opts.threshold,
        open.len()
    );
    for o in dups.iter().take(5) {
        println!(
            "  lowest dup      {} {} {:<26} score {:.2}",
            o.left, o.right, o.category, o.decision.score
        );
    }
    for o in open.iter().take(8) {
        println!(
            "  highest distinct {} {} {:<26} score {:.2}",
            o.left, o.right, o.category, o.decision.score
        );
    }

    println!("\nerrors per category (baseline / new)");
    let mut cats: BTreeMap<(&str, &str), [usize; 4]> = BTreeMap::new();
    for o in &outcomes {
        let label = if o.dup { "dup" } else { "distinct" };
        let e = cats.entry((label, o.category.as_str())).or_default();
        e[0] += 1;
        e[1] += usize::from(o.candidate != o.dup);
        e[2] += usize::from(o.predicted() != o.dup);
        e[3] += usize::from(o.dup && !o.candidate);
    }
    println!(
        "  {:<9} {:<27} {:>5} {:>9} {:>5} {:>10}",
        "label", "category", "pairs", "baseline", "new", "no-key"
    );
    for ((label, cat), [n, b, e, nk]) in &cats {
        println!("  {label:<9} {cat:<27} {n:>5} {b:>9} {e:>5} {nk:>10}");
    }

    println!("\nwhat rejects the distinct pairs (a pair may have several vetoes)");
    let mut why: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| !o.dup) {
        let e = why.entry(o.category.as_str()).or_default();
        if o.decision.vetoes.is_empty() {
            let k = if o.decision.same { "ACCEPTED" } else { "score" };
            *e.entry(k.to_string()).or_default() += 1;
        }
        for v in &o.decision.vetoes {
            let name = format!("{v:?}");
            let name = name
                .split([' ', '{'])
                .next()
                .unwrap_or_default()
                .to_string();
            *e.entry(name).or_default() += 1;
        }
    }
    for (cat, counts) in &why {
        let list: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!("  {cat:<27} {}", list.join(", "));
    }

    print_by_language_and_scheme(&outcomes);
    print_by_noise(&outcomes);

    println!("\nmisclassified by the new decision");
    for o in outcomes.iter().filter(|o| o.predicted() != o.dup) {
        let d = &o.decision;
        let why = if o.dup && !o.candidate {
            "no shared key".to_string()
        } else {
            let vetoes: Vec<String> = d.vetoes.iter().map(ToString::to_string).collect();
            format!("score {:.2}; vetoes [{}]", d.score, vetoes.join("; "))
        };
        println!(
            "  {} {} {} {}: {why}\n      {}",
            o.left,
            o.right,
            if o.dup { "dup" } else { "distinct" },
            o.category,
            o.note
        );
        let fields: Vec<String> = d
            .fields
            .iter()
            .filter(|f| f.score != 0.0)
            .map(|f| format!("{} {:+.2} ({})", f.field, f.score * f.weight, f.note))
            .collect();
        println!("      {}", fields.join(", "));
    }

    println!("\nduplicate pairs without a shared key");
    for o in outcomes.iter().filter(|o| o.dup && !o.candidate) {
        println!(
            "  {} {} {}: {}\n      left keys  {:?}\n      right keys {:?}\n      decision: same={} score {:.2}",
            o.left, o.right, o.category, o.note, o.keys[0], o.keys[1], o.decision.same, o.decision.score
        );
    }
    Ok(())
}
