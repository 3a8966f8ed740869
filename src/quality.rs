//! The data-quality report per partner: what a union catalogue's
//! coordinator sends back to a library to improve its cataloguing.
//!
//! It is computed from the store, not from logs: the partner's raw records
//! are read in batches and run through the partner's rules and the
//! built-in normalisation again with a report attached, so the figures
//! describe the records as they are now (and take constant memory). The
//! store adds what only it knows: quarantined records, repairs made while
//! reading, and how many records were merged with other partners' records.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;
use unicat_marc::{marcxml, Record};

use crate::config::Partner;
use crate::normalize::{self, NormalizeOptions, NormalizeReport, PartnerContext};
use crate::store::Store;

/// Records read per batch.
const BATCH: usize = 500;

/// How many of the most frequent items a list keeps.
const TOP: usize = 10;

/// One partner's data-quality figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QualityReport {
    /// Partner name.
    pub partner: String,
    /// Live records.
    pub records: u64,
    /// Records set aside as unreadable and not superseded since.
    pub quarantined: u64,
    /// ISBNs with a wrong check digit (moved to 020 $z by normalisation).
    pub invalid_isbns: u64,
    /// ISSNs with a wrong check digit (moved to 022 $y).
    pub invalid_issns: u64,
    /// Records without a 245 (title).
    pub without_245: u64,
    /// Records without an 008 (fixed-length data).
    pub without_008: u64,
    /// Records without any identifier (ISBN, ISSN, OCLC number, LCCN,
    /// 024): such records can only be matched by title.
    pub without_identifier: u64,
    /// Repairs made while reading (invalid characters, charset in leader).
    pub encoding_repairs: u64,
    /// Records that share their union record with another partner's record.
    pub merged_with_other_partners: u64,
    /// Union records holding two or more of this partner's own records:
    /// the library catalogued the same edition more than once.
    pub intra_partner_duplicates: u64,
    /// Changes made by each built-in normalisation step (records touched).
    pub normalisation_changes: BTreeMap<String, u64>,
    /// Problems normalisation found but could not fix, most frequent first.
    pub problems: Vec<(String, u64)>,
    /// How often each of the partner's rules changed a record (rule number
    /// counted from 1, and its action), most frequent first.
    pub rule_hits: Vec<(String, u64)>,
    /// Work links in the whole union catalogue, per kind (`edition`,
    /// `format`, `translation`, `volume`), each link counted once.
    pub work_links: BTreeMap<String, u64>,
    /// Works (groups of two or more linked union records) in the catalogue.
    pub works: u64,
}

fn has_identifier(r: &Record) -> bool {
    r.data_fields("020").any(|f| f.subfield('a').is_some())
        || r.data_fields("022").any(|f| f.subfield('a').is_some())
        || r.data_fields("010").any(|f| f.subfield('a').is_some())
        || r.data_fields("024").any(|f| f.subfield('a').is_some())
        || r.data_fields("035")
            .any(|f| f.subfield('a').is_some_and(|a| a.starts_with("(OCoLC)")))
}

/// Problem texts often carry a value ("leader/06 'z' is not …"); counting
/// them by the text before the first quote groups alike problems.
fn problem_kind(p: &str) -> String {
    p.split(['\'', '`', '"'])
        .next()
        .unwrap_or(p)
        .trim()
        .to_string()
}

fn top(map: BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<_> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(TOP);
    v
}

/// Build the report for a partner.
pub fn report(
    store: &Store,
    partner: &Partner,
    options: &NormalizeOptions,
) -> Result<QualityReport> {
    let ctx = PartnerContext {
        code: partner.code(),
    };
    let rules = partner.compiled_rules();
    let mut r = QualityReport {
        partner: partner.name().to_string(),
        quarantined: store.count_quarantined(partner.name())?,
        encoding_repairs: store.count_repaired(partner.name())?,
        merged_with_other_partners: store.count_merged_with_others(partner.name())?,
        intra_partner_duplicates: store.count_intra_partner_duplicates(partner.name())?,
        ..QualityReport::default()
    };
    let (kinds, works) = store.work_link_counts()?;
    for (code, n) in kinds {
        let name = crate::dedup::works::Relation::from_code(&code)
            .map_or(code.as_str(), |rel| rel.name())
            .to_string();
        *r.work_links.entry(name).or_insert(0) += n;
    }
    r.works = works;
    let mut problems = BTreeMap::new();
    let mut hits = BTreeMap::new();
    let mut after = 0;
    loop {
        let batch = store.raw_batch(partner.name(), after, BATCH)?;
        let Some(last) = batch.last() else { break };
        after = last.0;
        for (_, _, raw) in batch {
            r.records += 1;
            let Ok(decoded) = marcxml::parse_record_checked(&raw) else {
                continue;
            };
            let mut record = decoded.record;
            for hit in rules.apply(&mut record) {
                *hits
                    .entry(format!("rule {} ({})", hit.index + 1, hit.action))
                    .or_insert(0) += 1;
            }
            let mut nr = NormalizeReport::default();
            let record = normalize::normalize_with(record, &ctx, options, &mut nr);
            let mut steps: Vec<&str> = nr.changes.iter().map(|(step, _)| *step).collect();
            steps.sort_unstable();
            steps.dedup();
            for step in steps {
                *r.normalisation_changes.entry(step.to_string()).or_insert(0) += 1;
            }
            for p in &nr.problems {
                *problems.entry(problem_kind(p)).or_insert(0) += 1;
            }
            r.invalid_isbns += record
                .data_fields("020")
                .flat_map(|f| f.subfields_of('z'))
                .filter(|z| crate::ident::parse_isbn(z).is_some_and(|p| p.isbn13.is_none()))
                .count() as u64;
            r.invalid_issns += record
                .data_fields("022")
                .flat_map(|f| f.subfields_of('y'))
                .count() as u64;
            r.without_245 += u64::from(record.data_fields("245").next().is_none());
            r.without_008 += u64::from(record.control("008").is_none());
            r.without_identifier += u64::from(!has_identifier(&record));
        }
    }
    r.problems = top(problems);
    r.rule_hits = top(hits);
    Ok(r)
}

/// The report as plain text for a terminal.
pub fn render(r: &QualityReport) -> String {
    let mut s = format!("data quality of partner {}\n", r.partner);
    let pct = |n: u64| {
        if r.records == 0 {
            0.0
        } else {
            100.0 * n as f64 / r.records as f64
        }
    };
    let mut line =
        |label: &str, n: u64| s.push_str(&format!("  {label:<44} {n:>8}  ({:.1}%)\n", pct(n)));
    line("records", r.records);
    line("quarantined (unreadable)", r.quarantined);
    line("invalid ISBNs", r.invalid_isbns);
    line("invalid ISSNs", r.invalid_issns);
    line("records without a title (245)", r.without_245);
    line("records without fixed-length data (008)", r.without_008);
    line("records without any identifier", r.without_identifier);
    line("encoding repairs while reading", r.encoding_repairs);
    line(
        "records merged with other partners' records",
        r.merged_with_other_partners,
    );
    line(
        "editions this library catalogued twice",
        r.intra_partner_duplicates,
    );
    if !r.normalisation_changes.is_empty() {
        s.push_str("  records changed by normalisation, per step:\n");
        for (step, n) in &r.normalisation_changes {
            s.push_str(&format!("    {step:<42} {n:>8}\n"));
        }
    }
    if !r.problems.is_empty() {
        s.push_str("  problems left for the library to fix:\n");
        for (p, n) in &r.problems {
            s.push_str(&format!("    {p:<42} {n:>8}\n"));
        }
    }
    if !r.rule_hits.is_empty() {
        s.push_str("  most frequent rule hits:\n");
        for (rule, n) in &r.rule_hits {
            s.push_str(&format!("    {rule:<42} {n:>8}\n"));
        }
    }
    s.push_str(&format!(
        "work links in the union catalogue (all partners), {} works:\n",
        r.works
    ));
    for kind in ["edition", "format", "translation", "volume"] {
        let n = r.work_links.get(kind).copied().unwrap_or(0);
        s.push_str(&format!("    {kind:<42} {n:>8}\n"));
    }
    s
}
