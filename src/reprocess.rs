//! Re-normalisation from the stored raw records: `unicat reprocess`, and
//! automatically when a partner's rules or normalisation options change.
//!
//! The raw record as harvested (or imported) is never modified, so the
//! normalised form can always be rebuilt from it with the current rules,
//! without asking the partner for anything. The partner's records are paged
//! through by id in batches, each batch written in one transaction; only
//! records whose normalised form changed are marked for dedup, so a rule
//! that touches ten records costs ten re-clusterings.

use anyhow::Result;
use tracing::{info, warn};
use unicat_marc::marcxml;

use crate::config::Partner;
use crate::dedup;
use crate::harvest::prepare_decoded;
use crate::normalize::PartnerContext;
use crate::store::{PageItem, Renormalized, Store};

/// Records per batch.
const BATCH: usize = 500;

/// What a reprocessing pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReprocessReport {
    /// Records read.
    pub records: u64,
    /// Records whose normalised form changed.
    pub changed: u64,
    /// Raw records that no longer read (left as they were, and logged).
    pub unreadable: u64,
}

/// The meta key under which a partner's processing fingerprint is kept.
fn fingerprint_key(partner: &str) -> String {
    format!("processing:{partner}")
}

/// A fingerprint of everything that shapes a partner's normalised records:
/// its rules, its normalisation settings, and the key version.
pub fn fingerprint(partner: &Partner, catalogue_code: &str) -> String {
    let settings = format!(
        "{:?}|{:?}",
        partner.code(),
        partner.normalize_options(catalogue_code)
    );
    format!(
        "{}|{}|norm{}|keys{}",
        partner.compiled_rules().fingerprint(),
        dedup::keys::content_hash(&settings),
        crate::normalize::NORMALIZE_VERSION,
        dedup::keys::KEYS_VERSION
    )
}

/// Whether the partner's records were normalised with other settings than
/// the current ones (false for a partner never processed: its first
/// harvest normalises with the current settings anyway).
pub fn needs_reprocess(store: &Store, partner: &Partner, catalogue_code: &str) -> Result<bool> {
    Ok(store
        .meta_text(&fingerprint_key(partner.name()))?
        .is_some_and(|f| f != fingerprint(partner, catalogue_code)))
}

/// Record that the partner's records match the current settings.
pub fn mark_current(store: &mut Store, partner: &Partner, catalogue_code: &str) -> Result<()> {
    store.set_meta_text(
        &fingerprint_key(partner.name()),
        &fingerprint(partner, catalogue_code),
    )
}

/// Record the current settings for a partner that has none recorded yet
/// (after its first harvest or import).
pub fn ensure_marked(store: &mut Store, partner: &Partner, catalogue_code: &str) -> Result<()> {
    if store.meta_text(&fingerprint_key(partner.name()))?.is_none() {
        mark_current(store, partner, catalogue_code)?;
    }
    Ok(())
}

/// Re-normalise all of a partner's live records from their raw text.
pub fn reprocess(
    store: &mut Store,
    partner: &Partner,
    catalogue_code: &str,
) -> Result<ReprocessReport> {
    let ctx = PartnerContext {
        code: partner.code(),
    };
    let rules = partner.compiled_rules();
    let options = partner.normalize_options(catalogue_code);
    let mut report = ReprocessReport::default();
    let mut after = 0;
    loop {
        let batch = store.raw_batch(partner.name(), after, BATCH)?;
        let Some(last) = batch.last() else { break };
        after = last.0;
        let mut out = Vec::with_capacity(batch.len());
        for (id, oai_id, raw) in batch {
            report.records += 1;
            let item = match marcxml::parse_record_checked(&raw) {
                Ok(decoded) => prepare_decoded(
                    oai_id.clone(),
                    String::new(),
                    String::new(),
                    decoded,
                    &ctx,
                    &rules,
                    &options,
                ),
                Err(e) => {
                    report.unreadable += 1;
                    warn!(partner = partner.name(), oai_id, error = %e, "stored raw record no longer reads; left as it was");
                    continue;
                }
            };
            if let PageItem::Upsert {
                record,
                content_hash,
                local_id,
                keys,
                ..
            } = item
            {
                out.push(Renormalized {
                    id,
                    record,
                    content_hash,
                    local_id,
                    keys,
                });
            }
        }
        report.changed += store.update_normalized(&out)?;
    }
    mark_current(store, partner, catalogue_code)?;
    info!(
        partner = partner.name(),
        records = report.records,
        changed = report.changed,
        unreadable = report.unreadable,
        "reprocessed from raw records"
    );
    Ok(report)
}
