//! The work pass (issue #18): after the edition clusters are decided and
//! merged, groups union records into works and writes the links between
//! them (other edition, other physical form, translation, other volume)
//! into the store's work tables and into the union records themselves, as
//! MARC 21 linking entry fields (`dedup::works::add_links`).
//!
//! Incremental like the edition pass. Its input is every union record whose
//! version changed since the pass last ran (`meta_text` `works_seq`, a
//! change sequence number): their work keys are recomputed, then the works
//! they were in and the works their keys now reach are recomputed from
//! those records outwards, walking the work-key index; nothing else is
//! read. A work is a connected component of links, so recomputing the
//! components of the changed records gives what a pass over the whole
//! catalogue gives (tested). Another `WORKS_VERSION`, other `[works]`
//! settings or another catalogue code recompute everything once.
//!
//! Links never merge records: each union record stays what the edition pass
//! made it, and only gains (or loses) linking fields. The record's content
//! hash stays the merge's, so the edition pass still recognises an
//! unchanged cluster (`DedupTx::put_union_links`).
//!
//! It runs in a transaction of its own right after the edition pass
//! (`jobs::Jobs::refresh`); if the process dies between the two, the next
//! pass finds the changed records through the sequence numbers.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::rc::Rc;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use tracing::info;
use unicat_marc::{marcxml, Record};

use crate::config::Config;
use crate::dedup::cluster::{claim_old_ids, kept_whole};
use crate::dedup::works::{
    add_links, evidence, strip_links, work_features, LinkTarget, Overrides, Relation, WorkFeatures,
};
use crate::store::{DedupTx, Store, WorkLink};

/// The version of the work keys, the relation and the fields written: a
/// change recomputes every work once.
pub const WORKS_VERSION: u32 = 1;

/// A work key held by more union records than this is not used to find
/// candidates: it names a title too common to link on (a collected
/// edition, a 100-volume set), whose every record would otherwise carry
/// a linking field to each of the others. Fixed, so that incremental and
/// full passes skip the same keys.
pub const MAX_KEY_UNIONS: usize = 50;

/// What one work pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorksSummary {
    /// Union records whose version changed since the last pass.
    pub examined: usize,
    /// Works (of two or more union records) recomputed.
    pub works: usize,
    /// Union records rewritten with other linking fields.
    pub relinked: usize,
}

/// A union record as the pass sees it: its work features and what a link
/// to it says, and the record without the pass's fields.
struct Node {
    features: WorkFeatures,
    target: LinkTarget,
    record: Record,
    /// Whether the stored record held linking fields of ours.
    had_links: bool,
}

/// One recomputed work: its union records and each one's links.
struct Component {
    nodes: BTreeMap<String, Rc<Node>>,
    links: BTreeMap<String, Vec<(Relation, String, String)>>,
}

/// Bring work keys, works and links up to date with the union records.
pub fn run(store: &mut Store, config: &Config) -> Result<WorksSummary> {
    let tx = store.transaction()?;
    let code = config.catalogue_code.as_str();
    let fingerprint = format!(
        "v{WORKS_VERSION}|{}|{:?}|{:?}|{code}",
        config.works.enabled, config.works.never_link, config.works.always_link
    );
    let previous_code = tx.meta_text("works_code")?;
    // Links written under an earlier catalogue code are still ours.
    let mut codes = vec![code];
    if let Some(p) = previous_code.as_deref().filter(|p| *p != code) {
        codes.push(p);
    }
    let full = tx.meta_text("works")?.as_deref() != Some(fingerprint.as_str());
    let mut summary = WorksSummary::default();
    if !config.works.enabled {
        if !full {
            return Ok(summary);
        }
        // Switched off: every linking field goes, and the tables with them.
        for id in tx.linked_unions()? {
            if let Some(xml) = tx.live_union(&id)? {
                let mut record = marcxml::parse_record(&xml)
                    .with_context(|| format!("reading union record {id}"))?;
                if strip_links(&mut record, &codes) {
                    summary.relinked +=
                        tx.put_union_links(&id, &marcxml::to_string(&record))? as usize;
                }
            }
        }
        tx.clear_works()?;
        tx.set_meta_text("works", &fingerprint)?;
        tx.commit()?;
        info!(
            unions_changed = summary.relinked,
            "work links switched off; linking fields removed"
        );
        return Ok(summary);
    }
    let mark: i64 = if full {
        0
    } else {
        tx.meta_text("works_seq")?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    let changed = tx.unions_changed_since(mark)?;
    summary.examined = changed.len();
    let pass = Pass {
        tx: &tx,
        codes: &codes,
        code,
        overrides: Overrides {
            never: &config.works.never_link,
            always: &config.works.always_link,
        },
    };

    // Every changed record's work keys first, so that the walk below sees
    // the index as it is now.
    for (id, live) in &changed {
        let keys = match live.then(|| pass.load(id)).transpose()?.flatten() {
            Some(node) => node.features.keys.clone(),
            None => Vec::new(),
        };
        tx.set_work_keys(id, &keys)?;
    }

    // The changed records and the other records of the works they were in
    // (a deleted or changed record can split its work).
    let mut seeds: BTreeSet<String> = changed.iter().map(|(id, _)| id.clone()).collect();
    let mut old_sizes: HashMap<String, usize> = HashMap::new();
    for (id, _) in &changed {
        if let Some(w) = tx.work_of(id)? {
            if let std::collections::hash_map::Entry::Vacant(e) = old_sizes.entry(w) {
                let members = tx.work_members(e.key())?;
                e.insert(members.len());
                seeds.extend(members);
            }
        }
    }
    let mut visited: HashSet<String> = HashSet::new();
    let mut assigned: BTreeSet<String> = BTreeSet::new();
    let mut deferred: Vec<(Component, BTreeMap<String, usize>)> = Vec::new();
    while let Some(seed) = seeds.pop_first() {
        if visited.contains(&seed) {
            continue;
        }
        let component = pass.component(&seed, &mut visited)?;
        let mut shares: BTreeMap<String, usize> = BTreeMap::new();
        for id in component.nodes.keys() {
            if let Some(w) = tx.work_of(id)? {
                if !old_sizes.contains_key(&w) {
                    // A work nobody looked at yet gives a record to this
                    // one: its other records are recomputed too.
                    let members = tx.work_members(&w)?;
                    old_sizes.insert(w.clone(), members.len());
                    seeds.extend(members.into_iter().filter(|m| !visited.contains(m)));
                }
                *shares.entry(w).or_default() += 1;
            }
        }
        if component.nodes.len() < 2 {
            summary.relinked += pass.write(&seed, &component, None)?;
            continue;
        }
        // A new work, or one that kept all its records (and perhaps gained
        // some), is decided at once; a split or a join waits until every
        // part is known, as clusters do in `pipeline::refresh`.
        match kept_whole(&shares, &old_sizes) {
            Some(kept) => {
                let wid = match kept {
                    Some(old) => old,
                    None => fresh_work_id(&tx, lowest(&component), &assigned)?,
                };
                summary.relinked += pass.write(&seed, &component, Some(&wid))?;
                assigned.insert(wid);
                summary.works += 1;
            }
            None => deferred.push((component, shares)),
        }
    }

    // Splits and joins: each old id goes to the part that took most of its
    // records (ties to the part with the lowest union id), the others new ids.
    let parts: Vec<_> = deferred
        .iter()
        .map(|(component, shares)| (shares, lowest(component)))
        .collect();
    let ids = claim_old_ids(&parts);
    assigned.extend(ids.iter().flatten().cloned());
    for ((component, _), id) in deferred.iter().zip(ids) {
        let wid = match id {
            Some(id) => id,
            None => {
                let id = fresh_work_id(&tx, lowest(component), &assigned)?;
                assigned.insert(id.clone());
                id
            }
        };
        let seed = lowest(component).to_string();
        summary.relinked += pass.write(&seed, component, Some(&wid))?;
        summary.works += 1;
    }

    let seq = tx.seq_now()?;
    tx.set_meta_text("works_seq", &seq.to_string())?;
    tx.set_meta_text("works", &fingerprint)?;
    tx.set_meta_text("works_code", code)?;
    tx.commit()?;
    if summary.examined > 0 {
        info!(
            examined = summary.examined,
            works = summary.works,
            unions_changed = summary.relinked,
            "work links done"
        );
    }
    Ok(summary)
}

/// The lowest union id of a component (its nodes are sorted).
fn lowest(c: &Component) -> &str {
    c.nodes.keys().next().map_or("", String::as_str)
}

/// A new work's id, derived from its lowest union id, so that the same
/// catalogue linked from nothing gets the same ids; a later variant only
/// while an earlier one is still held by another work.
fn fresh_work_id(tx: &DedupTx<'_>, lowest: &str, assigned: &BTreeSet<String>) -> Result<String> {
    let mut variant = 0u32;
    loop {
        let mut h = Sha256::new();
        h.update(b"work\0");
        h.update(lowest.as_bytes());
        if variant > 0 {
            h.update([0]);
            h.update(variant.to_string().as_bytes());
        }
        let hex: String = h.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let id = format!("wk{hex}");
        if !assigned.contains(&id) && tx.work_members(&id)?.is_empty() {
            return Ok(id);
        }
        variant += 1;
    }
}

/// The pass's view of one transaction.
struct Pass<'a, 't> {
    tx: &'a DedupTx<'t>,
    /// Catalogue codes whose linking fields are ours (current first).
    codes: &'a [&'a str],
    code: &'a str,
    overrides: Overrides<'a>,
}

impl Pass<'_, '_> {
    /// A live union record without our fields, with its work features
    /// (and the override keys among its work keys); None if deleted.
    fn load(&self, id: &str) -> Result<Option<Node>> {
        let Some(xml) = self.tx.live_union(id)? else {
            return Ok(None);
        };
        let mut record =
            marcxml::parse_record(&xml).with_context(|| format!("reading union record {id}"))?;
        let had_links = strip_links(&mut record, self.codes);
        let mut features = work_features(&record);
        features.keys.extend(self.overrides.keys(&features));
        features.keys.sort();
        features.keys.dedup();
        let target = LinkTarget::of(id, &record, features.edition.carrier);
        Ok(Some(Node {
            features,
            target,
            record,
            had_links,
        }))
    }

    /// The work of `seed`: every union record reached from it through
    /// links, walking the work-key index; records that share a key without
    /// a relation are read but not taken in. Loaded records live only as
    /// long as the component, so memory is bounded by the largest work and
    /// its candidates, not by the catalogue.
    fn component(&self, seed: &str, visited: &mut HashSet<String>) -> Result<Component> {
        let mut cache: HashMap<String, Option<Rc<Node>>> = HashMap::new();
        let mut get = |id: &str| -> Result<Option<Rc<Node>>> {
            if let Some(n) = cache.get(id) {
                return Ok(n.clone());
            }
            let n = self.load(id)?.map(Rc::new);
            cache.insert(id.to_string(), n.clone());
            Ok(n)
        };
        let mut out = Component {
            nodes: BTreeMap::new(),
            links: BTreeMap::new(),
        };
        visited.insert(seed.to_string());
        let mut queue = VecDeque::from([seed.to_string()]);
        let mut done: HashSet<(String, String)> = HashSet::new();
        while let Some(id) = queue.pop_front() {
            let Some(node) = get(&id)? else {
                continue;
            };
            out.nodes.insert(id.clone(), node.clone());
            for key in &node.features.keys {
                let others = self.tx.unions_with_work_key(key, MAX_KEY_UNIONS)?;
                if others.len() > MAX_KEY_UNIONS {
                    continue;
                }
                for other in others {
                    if other == id {
                        continue;
                    }
                    // Each pair is related once, lower id first, and the
                    // other side gets the mirror: links are symmetric by
                    // construction.
                    let (lo, hi) = if id < other {
                        (id.clone(), other.clone())
                    } else {
                        (other.clone(), id.clone())
                    };
                    if !done.insert((lo.clone(), hi.clone())) {
                        continue;
                    }
                    let (Some(a), Some(b)) = (get(&lo)?, get(&hi)?) else {
                        continue;
                    };
                    let Some((rel, forced)) = self.overrides.relate(&a.features, &b.features)
                    else {
                        continue;
                    };
                    // Each side's note is written from its own point of view.
                    out.links.entry(lo.clone()).or_default().push((
                        rel,
                        hi.clone(),
                        evidence(&a.features, &b.features, rel, forced),
                    ));
                    out.links.entry(hi.clone()).or_default().push((
                        rel.mirror(),
                        lo.clone(),
                        evidence(&b.features, &a.features, rel.mirror(), forced),
                    ));
                    if visited.insert(other.clone()) {
                        queue.push_back(other.clone());
                    }
                }
            }
        }
        Ok(out)
    }

    /// Store a recomputed work: each record's work id and links in the
    /// tables, and its linking fields in the union record (a new version
    /// only where they changed). A component without records is a deleted
    /// union record: its rows go. Returns how many union records changed.
    fn write(&self, seed: &str, c: &Component, work_id: Option<&str>) -> Result<usize> {
        if c.nodes.is_empty() {
            self.tx.set_work(seed, None)?;
            self.tx.set_work_links(seed, &[])?;
            return Ok(0);
        }
        let mut changed = 0;
        for (id, node) in &c.nodes {
            let mut links: Vec<(Relation, String, String)> =
                c.links.get(id).cloned().unwrap_or_default();
            links.sort_by(|x, y| x.0.tag().cmp(y.0.tag()).then_with(|| x.1.cmp(&y.1)));
            let rows: Vec<WorkLink> = {
                let mut rows: Vec<WorkLink> = links
                    .iter()
                    .map(|(rel, other, note)| WorkLink {
                        other: other.clone(),
                        kind: rel.code().to_string(),
                        evidence: note.clone(),
                    })
                    .collect();
                rows.sort();
                rows
            };
            let old_links = self.tx.work_links_of(id)?;
            let old_work = self.tx.work_of(id)?;
            if old_links != rows {
                self.tx.set_work_links(id, &rows)?;
            }
            if old_work.as_deref() != work_id {
                self.tx.set_work(id, work_id)?;
            }
            if links.is_empty() && work_id.is_none() && !node.had_links {
                continue;
            }
            let mut record = node.record.clone();
            let targets: Vec<(Relation, LinkTarget)> = links
                .iter()
                .filter_map(|(rel, other, _)| c.nodes.get(other).map(|n| (*rel, n.target.clone())))
                .collect();
            add_links(&mut record, &targets, work_id, self.code);
            changed += self.tx.put_union_links(id, &marcxml::to_string(&record))? as usize;
        }
        Ok(changed)
    }
}
