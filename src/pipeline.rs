//! The dedup-and-merge stage: walks the store's match-key index from the
//! records that changed, recomputes only the clusters they touch, and
//! rebuilds those clusters' union records, all in one transaction.
//!
//! Incremental by construction: a record is re-examined only when a harvest
//! changed it (marked for dedup), together with the members of the clusters it
//! was in, so a nightly run over a few changed records costs a few lookups,
//! not a pass over the catalogue. The decisions themselves (keys, cluster
//! ids, merging) are the pure functions in `dedup` and `merge`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use anyhow::{Context, Result};
use rayon::prelude::*;
use tracing::info;
use unicat_marc::marcxml;

use crate::background::Later;
use crate::config::Config;
use crate::dedup::cluster::{
    claim_old_ids, component_of, examines_much, kept_whole, split_on_vetoes, Blocks, Candidates,
    KeyIndex, Linker, Loaded,
};
use crate::dedup::decision;
use crate::dedup::keys as dedup;
use crate::merge::{self, Member, MergeOptions};
use crate::store::{DedupTx, Store, UnionPut};
use crate::works_pass::EditionKeys;

/// What one dedup-and-merge pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshSummary {
    /// Changed source records examined.
    pub examined: usize,
    /// Clusters recomputed.
    pub clusters: usize,
    /// Union records that got a new version.
    pub unions_changed: usize,
    /// Union records deleted.
    pub unions_deleted: usize,
}

/// How a pass finds the records that share a match key with a record.
/// Both give the same clusters; they differ only in cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CandidateSearch {
    /// [`CandidateSearch::Walk`] when a tenth or more of the records are
    /// examined, else [`CandidateSearch::Lookup`].
    #[default]
    Auto,
    /// Look each key of each examined record up in the key index.
    Lookup,
    /// Read the whole key index once, in its own order, at the start.
    Walk,
}

/// Bring clusters and union records up to date with the source records.
pub fn refresh(store: &mut Store, config: &Config) -> Result<RefreshSummary> {
    refresh_with(store, config, CandidateSearch::Auto)
}

/// [`refresh`] with the candidate search chosen (for tests and benchmarks
/// that compare the two).
pub fn refresh_with(
    store: &mut Store,
    config: &Config,
    search: CandidateSearch,
) -> Result<RefreshSummary> {
    let merge_options = config.merge.options();
    let tx = store.transaction()?;
    // Union records made by another merge version or with other [merge]
    // settings are rebuilt, and another version of the pair decision or
    // other [dedup] settings may split or join clusters (the clusters of
    // an upgraded installation would otherwise keep the old decision's
    // merges until their records change): either way every live record is
    // re-examined once. Marked once for both, since marking reads every
    // record (on a first load both fingerprints are new).
    let merge_fingerprint = format!("v{}|{:?}", merge::MERGE_VERSION, merge_options);
    let decision_fingerprint = format!("v{}|{:?}", decision::DECISION_VERSION, config.dedup);
    let merge_changed = tx.meta_text("merge")?.as_deref() != Some(merge_fingerprint.as_str());
    let decision_changed =
        tx.meta_text("decision")?.as_deref() != Some(decision_fingerprint.as_str());
    if merge_changed || decision_changed {
        let n = tx.mark_all_dirty()?;
        tx.set_meta_text("merge", &merge_fingerprint)?;
        tx.set_meta_text("decision", &decision_fingerprint)?;
        if n > 0 {
            let what = match (merge_changed, decision_changed) {
                (true, true) => "merge rules and pair decision changed; re-examining every record",
                (false, true) => "pair decision changed; re-examining every cluster",
                _ => "merge rules changed; rebuilding every union record",
            };
            info!(records = n, "{what}");
        }
    }
    if tx.keys_version()? != dedup::KEYS_VERSION {
        // Keys from another version of the algorithm must not meet new ones.
        let n = tx.rekey_all(dedup::KEYS_VERSION, |xml| {
            Ok(dedup::match_keys(&marcxml::parse_record(xml)?))
        })?;
        info!(
            records = n,
            version = dedup::KEYS_VERSION,
            "match keys recomputed for a new key version"
        );
    }
    let dirty = tx.dirty_records()?;
    let mut summary = RefreshSummary {
        examined: dirty.len(),
        ..Default::default()
    };
    if dirty.is_empty() {
        return Ok(summary);
    }

    // A pass over much of the catalogue asks for the cluster of nearly
    // every record: PostgreSQL then answers from memory, not the server.
    let max_id = tx.max_record_id()?;
    if examines_much(dirty.len(), max_id) {
        tx.hold_clusters()?;
        // The batches' array look-ups on tables a first load starts empty:
        // a plan kept from the first calls would scan them whole.
        tx.plan_each_call()?;
    }

    // Everything whose cluster may change: the changed records and every
    // member of the clusters they were in (a deletion or a changed key can
    // split a cluster).
    let mut old_clusters = BTreeSet::new();
    let mut seeds = BTreeSet::new();
    for &id in &dirty {
        seeds.insert(id);
        if let Some(c) = tx.cluster_of(id)? {
            old_clusters.insert(c);
        }
    }
    // How many members each touched cluster had before this pass, taken
    // before any of them is moved: a cluster that splits keeps its id on
    // the part that holds most of these.
    let mut old_sizes: HashMap<String, usize> = HashMap::new();
    for c in &old_clusters {
        let members = tx.members_of(c)?;
        old_sizes.insert(c.clone(), members.len());
        seeds.extend(members);
    }

    let source = match search {
        CandidateSearch::Auto => Candidates::for_pass(&tx, seeds.len(), max_id)?,
        CandidateSearch::Lookup => Candidates::Lookup,
        CandidateSearch::Walk => Candidates::Index(KeyIndex::read(&tx)?),
    };
    let mut visited = HashSet::new();
    let mut blocks = Blocks::default();
    let mut new_clusters = BTreeSet::new();
    let mut deferred = Vec::new();
    let mut deferred_held = 0;
    let mut linker = Linker::new(&config.dedup);
    let mut writer = UnionWriter {
        merger: Arc::new(Merger {
            codes: config
                .partners
                .iter()
                .map(|p| (p.name().to_string(), p.code().to_string()))
                .collect(),
            catalogue_code: config.catalogue_code.clone(),
            options: merge_options.clone(),
            pack: tx.packs_texts(),
            work_keys: EditionKeys::for_pass(&tx, config)?,
        }),
        pending: Vec::new(),
        merging: None,
        changed: 0,
    };
    // A worklist: when a component takes a record from a cluster nobody
    // looked at yet, that cluster's other members are examined too, so a
    // cluster that loses a member is rebuilt rather than left stale.
    let mut work = seeds;
    while let Some(seed) = work.pop_first() {
        if visited.contains(&seed) {
            continue;
        }
        linker.read_ahead(&tx, seed, &work, &visited, &source)?;
        let component = component_of(&tx, seed, &mut visited, &source, &mut blocks, &mut linker)?;
        if component.is_empty() {
            // A deleted record: it belongs to no cluster any more.
            tx.set_cluster(seed, None)?;
            linker.forget();
            continue;
        }
        // Loaded records are only reused within a component; dropping them
        // here keeps memory bounded by the largest cluster, not the
        // catalogue.
        linker.forget();
        let groups = split_on_vetoes(component, &config.dedup);
        for group in groups {
            let lowest = group
                .iter()
                .map(|m| (m.partner.clone(), m.oai_id.clone()))
                .min()
                .context("empty group")?;
            let mut shares: BTreeMap<String, usize> = BTreeMap::new();
            for m in &group {
                let Some(old) = tx.cluster_of(m.id)? else {
                    continue;
                };
                if !old_sizes.contains_key(&old) {
                    // A cluster nobody looked at yet loses a member to this
                    // group: its other members must be re-examined.
                    let members = tx.members_of(&old)?;
                    old_sizes.insert(old.clone(), members.len());
                    work.extend(members.into_iter().filter(|o| !visited.contains(o)));
                    old_clusters.insert(old.clone());
                }
                *shares.entry(old).or_default() += 1;
            }
            // The common cases are decided at once: a new cluster, or one
            // cluster that kept all its members (and perhaps gained some).
            // A split or a merge waits until every part is known.
            match kept_whole(&shares, &old_sizes) {
                Some(kept) => {
                    let cid = match kept {
                        Some(old) => old,
                        None => fresh_id(&tx, &lowest, &new_clusters)?,
                    };
                    writer.assign(&tx, &cid, group)?;
                    new_clusters.insert(cid);
                }
                None => {
                    // Kept parsed while few are waiting (an incremental
                    // pass's splits and joins), else read again below, so
                    // that a pass re-examining the catalogue holds ids
                    // past the first few thousand.
                    let keep = deferred_held + group.len() <= DEFERRED_HELD_MAX;
                    if keep {
                        deferred_held += group.len();
                    }
                    deferred.push(Deferred {
                        members: group.iter().map(|m| m.id).collect(),
                        loaded: keep.then_some(group),
                        shares,
                        lowest,
                    })
                }
            }
        }
    }

    // Splits and merges: each old id goes to the part that took most of
    // its members, and parts left without one get a new id.
    let parts: Vec<_> = deferred.iter().map(|d| (&d.shares, &d.lowest)).collect();
    let ids = claim_old_ids(&parts);
    new_clusters.extend(ids.iter().flatten().cloned());
    for (d, id) in deferred.iter().zip(ids) {
        let cid = match id {
            Some(id) => id,
            None => {
                let id = fresh_id(&tx, &d.lowest, &new_clusters)?;
                new_clusters.insert(id.clone());
                id
            }
        };
        let group = match d.loaded.clone() {
            Some(group) => group,
            None => Loaded::read_many(&tx, &d.members)?
                .into_iter()
                .map(|l| l.context("a clustered record vanished"))
                .collect::<Result<Vec<_>>>()?,
        };
        writer.assign(&tx, &cid, group)?;
    }
    writer.flush(&tx)?;
    summary.unions_changed = writer.changed;
    blocks.report();
    summary.clusters = new_clusters.len();
    for c in old_clusters.difference(&new_clusters) {
        if tx.members_of(c)?.is_empty() && tx.delete_union(c)? {
            summary.unions_deleted += 1;
            if writer.merger.work_keys.is_some() {
                // As the work pass keys a deleted record: with none.
                tx.set_work_keys_many(&[(c.clone(), Vec::new())])?;
            }
        }
    }
    tx.clear_all_dirty()?;
    tx.commit()?;
    info!(
        examined = summary.examined,
        clusters = summary.clusters,
        unions_changed = summary.unions_changed,
        unions_deleted = summary.unions_deleted,
        "dedup and merge done"
    );
    Ok(summary)
}

/// How many records of deferred groups a pass keeps parsed (see
/// [`Deferred::loaded`]): a parsed record with its features is some 10 KB,
/// so about 20 MB. An incremental pass of 1,000 changes defers a few
/// hundred; a pass re-examining the catalogue defers many more, and reads
/// those past this again.
const DEFERRED_HELD_MAX: usize = 2_000;

/// A group of records whose id waits until the whole pass is known.
struct Deferred {
    /// Member record ids, in group order.
    members: Vec<i64>,
    /// The members as read and parsed by this pass, while the groups held
    /// so stay under [`DEFERRED_HELD_MAX`] records; else read again when
    /// the id is known (a tenth of an incremental pass's store thread went
    /// to reading and parsing its splits' and joins' records twice).
    loaded: Option<Vec<Arc<Loaded>>>,
    /// Members each old cluster contributed.
    shares: BTreeMap<String, usize>,
    /// The lowest member (partner, OAI id), for a new id.
    lowest: (String, String),
}

/// A new cluster's id: derived from its lowest member, so that the same
/// data clustered from scratch gives the same ids. If that id is still
/// held by another cluster (which kept it when its lowest member left),
/// the next variant is taken.
fn fresh_id(
    tx: &DedupTx<'_>,
    lowest: &(String, String),
    assigned: &BTreeSet<String>,
) -> Result<String> {
    let mut variant = 0;
    loop {
        let cid = dedup::cluster_id_variant(&lowest.0, &lowest.1, variant);
        if !assigned.contains(&cid) && tx.members_of(&cid)?.is_empty() {
            return Ok(cid);
        }
        variant += 1;
    }
}

/// Writes clusters and their union records. Cluster rows are written at
/// once (later groups' ids depend on them); the union records are merged
/// in batches on the worker threads while this thread goes on, and stored
/// in the order their clusters were assigned, so the store sees the same
/// writes as one thread would make.
struct UnionWriter {
    merger: Arc<Merger>,
    /// Clusters assigned and not merged yet, in order.
    pending: Vec<(String, Vec<Arc<Loaded>>)>,
    /// The batch being merged: (cluster id, member count, union record).
    merging: Option<Later<Vec<Merged>>>,
    /// Union records changed so far.
    changed: usize,
}

/// A merged cluster: id, member count, and its union record.
struct Merged {
    cluster_id: String,
    members: usize,
    /// None if the merge gives no record.
    union: Option<MergedUnion>,
}

/// A union record as merged: MARCXML, content hash, the text packed where
/// the store packs texts, and its work keys where the pass writes them.
struct MergedUnion {
    xml: String,
    hash: String,
    packed: Option<Vec<u8>>,
    work_keys: Option<Vec<String>>,
}

/// What merging needs, owned, so that a batch can be merged on the worker
/// threads.
struct Merger {
    /// Partner name to its library code.
    codes: HashMap<String, String>,
    catalogue_code: String,
    options: MergeOptions,
    /// Whether to pack each union record as the store keeps it
    /// (`store::packed`), here on the worker threads rather than on the
    /// store's thread, which the pass waits on.
    pack: bool,
    /// Where this pass writes the work keys of the union records it
    /// writes (`works_pass::EditionKeys`), how to compute them.
    work_keys: Option<EditionKeys>,
}

/// Clusters merged in one batch: enough to keep every core busy, few
/// enough that their records are some ten megabytes (as
/// `dedup::cluster`'s read-ahead batches, with which it was raised from
/// 256).
const MERGE_BATCH: usize = 1024;

impl UnionWriter {
    /// Put the group's records in cluster `cid`; its union record follows
    /// with the batch.
    fn assign(&mut self, tx: &DedupTx<'_>, cid: &str, group: Vec<Arc<Loaded>>) -> Result<()> {
        for m in &group {
            tx.set_cluster(m.id, Some(cid))?;
        }
        self.pending.push((cid.to_string(), group));
        if self.pending.len() >= MERGE_BATCH {
            // The batch before this one is stored first: writes keep the
            // order of assignment.
            self.store_merged(tx)?;
            let batch = std::mem::take(&mut self.pending);
            let merger = self.merger.clone();
            self.merging = Some(Later::spawn(move || merger.merge_all(&batch)));
        }
        Ok(())
    }

    /// Store the union records of the batch being merged, once it is.
    fn store_merged(&mut self, tx: &DedupTx<'_>) -> Result<()> {
        if let Some(job) = self.merging.take() {
            self.changed += store(tx, job.wait())?;
        }
        Ok(())
    }

    /// Merge and store everything assigned so far.
    fn flush(&mut self, tx: &DedupTx<'_>) -> Result<()> {
        self.store_merged(tx)?;
        let batch = std::mem::take(&mut self.pending);
        self.changed += store(tx, self.merger.merge_all(&batch))?;
        Ok(())
    }
}

/// Store the union records of a merged batch, in order, and their work
/// keys where the pass computed them; how many union records changed.
fn store(tx: &DedupTx<'_>, merged: Vec<Merged>) -> Result<usize> {
    let mut keys = Vec::new();
    let mut puts = Vec::with_capacity(merged.len());
    for m in merged {
        let Some(u) = m.union else { continue };
        if let Some(k) = u.work_keys {
            keys.push((m.cluster_id.clone(), k));
        }
        puts.push(UnionPut {
            cluster_id: m.cluster_id,
            record: u.xml,
            hash: u.hash,
            members: m.members,
            packed: u.packed,
        });
    }
    let changed = tx.put_unions(&puts)?;
    // An unchanged union record's keys are written too: they are the
    // stored ones (the same merge gives the same keys), and the store
    // writes only keys that changed.
    if !keys.is_empty() {
        tx.set_work_keys_many(&keys)?;
    }
    Ok(changed)
}

impl Merger {
    /// Merge clusters on every core, in order.
    fn merge_all(&self, batch: &[(String, Vec<Arc<Loaded>>)]) -> Vec<Merged> {
        batch
            .par_iter()
            .map(|(cid, group)| Merged {
                cluster_id: cid.clone(),
                members: group.len(),
                union: self.merge(cid, group),
            })
            .collect()
    }

    /// A cluster's union record (None if the merge gives none).
    fn merge(&self, cluster_id: &str, members: &[Arc<Loaded>]) -> Option<MergedUnion> {
        let view: Vec<Member<'_>> = members
            .iter()
            .map(|m| Member {
                partner: &m.partner,
                // A partner removed from the config still holds its records
                // until they are purged; its name stands in for its code.
                partner_code: self
                    .codes
                    .get(&m.partner)
                    .map_or(m.partner.as_str(), String::as_str),
                oai_id: &m.oai_id,
                record: &m.record,
            })
            .collect();
        merge::merge_with(cluster_id, &self.catalogue_code, &view, &self.options).map(|union| {
            let xml = marcxml::to_string(&union);
            let hash = dedup::content_hash(&xml);
            let packed = self.pack.then(|| crate::store::packed::pack(&xml));
            // The record is not needed after this: its keys take it.
            let work_keys = self.work_keys.as_ref().map(|k| k.keys(union));
            MergedUnion {
                xml,
                hash,
                packed,
                work_keys,
            }
        })
    }
}
