//! Loading MARC files by hand: `unicat import --partner NAME FILE...`.
//!
//! Some partners send files before they have an OAI-PMH endpoint. Each file
//! (MARCXML or ISO 2709, MARC-8 or UTF-8, detected from its first bytes) is
//! streamed record by record through the same normalise-and-key path as a
//! harvest and committed in pages, so a file of any size takes constant
//! memory. Records get the identifier `import:<001>`, so importing a newer
//! file updates them; a record that cannot be read, or has no 001 to be
//! updated by, is quarantined with its reason and the rest goes on.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tracing::{info, warn};
use unicat_marc::{iso2709, marcxml, Decoded, MarcError};

use crate::config::Partner;
use crate::harvest::prepare_decoded;
use crate::normalize::PartnerContext;
use crate::store::{now_rfc3339, PageCounts, PageItem, Store};

/// Records committed per transaction.
const PAGE: usize = 500;

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// Files read.
    pub files: usize,
    /// What the records did, as for a harvest.
    pub counts: PageCounts,
}

/// The identifier an imported record is stored under.
pub fn import_identifier(local_id: &str) -> String {
    format!("import:{}", local_id.trim())
}

fn is_marcxml(path: &Path) -> Result<bool> {
    let mut r =
        BufReader::new(File::open(path).with_context(|| format!("opening {}", path.display()))?);
    let buf = r.fill_buf()?;
    let buf = buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(buf);
    Ok(buf.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<'))
}

/// Import files for a partner into the store (blocking).
pub fn import_files(
    store: &mut Store,
    partner: &Partner,
    files: &[PathBuf],
    catalogue_code: &str,
) -> Result<ImportReport> {
    let run_id = store.begin_run(partner.name())?;
    let result = import_inner(store, partner, files, run_id, catalogue_code);
    let (ok, error) = match &result {
        Ok(_) => (true, None),
        Err(e) => (false, Some(format!("{e:#}"))),
    };
    store.finish_import_run(run_id, ok, error.as_deref())?;
    if let Ok(r) = &result {
        let c = r.counts;
        info!(
            partner = partner.name(),
            files = r.files,
            seen = c.seen(),
            new = c.new,
            updated = c.updated,
            unchanged = c.unchanged,
            quarantined = c.quarantined,
            repaired = c.repaired,
            "import complete"
        );
    }
    result
}

fn import_inner(
    store: &mut Store,
    partner: &Partner,
    files: &[PathBuf],
    run_id: i64,
    catalogue_code: &str,
) -> Result<ImportReport> {
    let mut report = ImportReport::default();
    let ctx = PartnerContext {
        code: partner.code(),
    };
    let rules = partner.compiled_rules();
    let options = partner.normalize_options(catalogue_code);
    let now = now_rfc3339();
    for path in files {
        let name = path.display().to_string();
        let records: Box<dyn Iterator<Item = Result<Decoded, MarcError>>> = if is_marcxml(path)? {
            Box::new(marcxml::Reader::new(BufReader::new(File::open(path)?)).with_warnings())
        } else {
            Box::new(iso2709::Reader::new(BufReader::new(File::open(path)?)).with_warnings())
        };
        let mut page = Vec::with_capacity(PAGE);
        for (n, rec) in records.enumerate() {
            let item = match rec {
                Ok(decoded) => match decoded.record.control("001").map(str::trim).filter(|s| !s.is_empty()) {
                    Some(id) => {
                        let raw = marcxml::to_string(&decoded.record);
                        prepare_decoded(import_identifier(id), now.clone(), raw, decoded, &ctx, &rules, &options)
                    }
                    None => PageItem::Quarantine {
                        oai_id: format!("import:{name}#{}", n + 1),
                        reason: "record has no 001: an imported record needs a control number to be updated later"
                            .into(),
                        raw: Some(marcxml::to_string(&decoded.record)),
                    },
                },
                Err(e) => {
                    warn!(
                        partner = partner.name(),
                        file = %name,
                        record = n + 1,
                        error = %e,
                        event = %crate::telemetry::event::QUARANTINED,
                        "record quarantined"
                    );
                    PageItem::Quarantine {
                        oai_id: format!("import:{name}#{}", n + 1),
                        reason: format!("{name}: {e}"),
                        raw: None,
                    }
                }
            };
            page.push(item);
            if page.len() == PAGE {
                report
                    .counts
                    .add(store.commit_page(run_id, partner.name(), &page, None, 0)?);
                page.clear();
            }
        }
        if !page.is_empty() {
            report
                .counts
                .add(store.commit_page(run_id, partner.name(), &page, None, 0)?);
        }
        report.files += 1;
    }
    Ok(report)
}
