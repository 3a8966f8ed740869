//! The dedup-and-merge stage: walks the store's match-key index from the
//! records that changed, recomputes only the clusters they touch, and
//! rebuilds those clusters' union records, all in one transaction.
//!
//! Incremental by construction: a record is re-examined only when a harvest
//! changed it (`dedup_dirty`), together with the members of the clusters it
//! was in, so a nightly run over a few changed records costs a few lookups,
//! not a pass over the catalogue. The decisions themselves (keys, cluster
//! ids, merging) are the pure functions in `dedup` and `merge`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::rc::Rc;

use anyhow::{Context, Result};
use tracing::info;
use unicat_marc::{marcxml, Record};

use crate::config::Config;
use crate::dedup::{self, MAX_KEY_FANOUT};
use crate::merge::{self, Member, MergeOptions};
use crate::score::{self, Features, ScoreOptions};
use crate::store::{DedupTx, Store};

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

/// Bring clusters and union records up to date with the source records.
pub fn refresh(store: &mut Store, config: &Config) -> Result<RefreshSummary> {
    let codes: HashMap<&str, &str> = config
        .partners
        .iter()
        .map(|p| (p.name(), p.code()))
        .collect();
    let merge_options = config.merge.options();
    let tx = store.transaction()?;
    // Union records made by another merge version or with other [merge]
    // settings are rebuilt: every live record is re-examined once.
    let merge_fingerprint = format!("v{}|{:?}", merge::MERGE_VERSION, merge_options);
    if tx.meta_text("merge")?.as_deref() != Some(merge_fingerprint.as_str()) {
        let n = tx.mark_all_dirty()?;
        tx.set_meta_text("merge", &merge_fingerprint)?;
        if n > 0 {
            info!(
                records = n,
                "merge rules changed; rebuilding every union record"
            );
        }
    }
    // Likewise the pair decision: another version of it or other [dedup]
    // settings may split or join clusters, so every live record is
    // re-examined once (the clusters of an upgraded installation would
    // otherwise keep the old decision's merges until their records change).
    let decision_fingerprint = format!("v{}|{:?}", score::DECISION_VERSION, config.dedup);
    if tx.meta_text("decision")?.as_deref() != Some(decision_fingerprint.as_str()) {
        let n = tx.mark_all_dirty()?;
        tx.set_meta_text("decision", &decision_fingerprint)?;
        if n > 0 {
            info!(
                records = n,
                "pair decision changed; re-examining every cluster"
            );
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

    let mut visited = HashSet::new();
    let mut blocks = Blocks::default();
    let mut new_clusters = BTreeSet::new();
    let mut deferred = Vec::new();
    let mut linker = Linker {
        options: &config.dedup,
        loaded: HashMap::new(),
    };
    let writer = UnionWriter {
        codes: &codes,
        catalogue_code: &config.catalogue_code,
        options: &merge_options,
    };
    // A worklist: when a component takes a record from a cluster nobody
    // looked at yet, that cluster's other members are examined too, so a
    // cluster that loses a member is rebuilt rather than left stale.
    let mut work = seeds;
    while let Some(seed) = work.pop_first() {
        if visited.contains(&seed) {
            continue;
        }
        let component = component_of(&tx, seed, &mut visited, &mut blocks, &mut linker)?;
        if component.is_empty() {
            // A deleted record: it belongs to no cluster any more.
            tx.set_cluster(seed, None)?;
            linker.loaded.clear();
            continue;
        }
        // Loaded records are only reused within a component; dropping them
        // here keeps memory bounded by the largest cluster, not the
        // catalogue.
        linker.loaded.clear();
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
            let whole = match shares.iter().next() {
                None => Some(None),
                Some((old, &n)) if shares.len() == 1 && old_sizes.get(old) == Some(&n) => {
                    Some(Some(old.clone()))
                }
                _ => None,
            };
            match whole {
                Some(kept) => {
                    let cid = match kept {
                        Some(old) => old,
                        None => fresh_id(&tx, &lowest, &new_clusters)?,
                    };
                    summary.unions_changed += writer.assign(&tx, &cid, &group)? as usize;
                    new_clusters.insert(cid);
                }
                None => deferred.push(Deferred {
                    members: group.iter().map(|m| m.id).collect(),
                    shares,
                    lowest,
                }),
            }
        }
    }

    // Splits and merges: each old id goes to the part that took most of
    // its members (ties to the part with the lowest member), each part gets
    // at most one old id, and parts left without one get a new id.
    let mut claims: Vec<(usize, &String, usize)> = Vec::new();
    for (i, d) in deferred.iter().enumerate() {
        for (old, &n) in &d.shares {
            claims.push((n, old, i));
        }
    }
    claims.sort_by(|x, y| {
        y.0.cmp(&x.0)
            .then_with(|| x.1.cmp(y.1))
            .then_with(|| deferred[x.2].lowest.cmp(&deferred[y.2].lowest))
    });
    let mut ids: Vec<Option<String>> = vec![None; deferred.len()];
    let mut taken = HashSet::new();
    for (_, old, i) in claims {
        if ids[i].is_none() && taken.insert(old.clone()) {
            ids[i] = Some(old.clone());
            new_clusters.insert(old.clone());
        }
    }
    for (d, id) in deferred.iter().zip(ids) {
        let cid = match id {
            Some(id) => id,
            None => {
                let id = fresh_id(&tx, &d.lowest, &new_clusters)?;
                new_clusters.insert(id.clone());
                id
            }
        };
        let mut group = Vec::with_capacity(d.members.len());
        for &id in &d.members {
            let loaded = Loaded::read(&tx, id)?.context("a clustered record vanished")?;
            group.push(Rc::new(loaded));
        }
        summary.unions_changed += writer.assign(&tx, &cid, &group)? as usize;
    }
    blocks.report();
    summary.clusters = new_clusters.len();
    for c in old_clusters.difference(&new_clusters) {
        if tx.members_of(c)?.is_empty() && tx.delete_union(c)? {
            summary.unions_deleted += 1;
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

/// A live source record, read and parsed once per component: its
/// features decide links, its parsed record goes into the merge.
struct Loaded {
    id: i64,
    partner: String,
    oai_id: String,
    record: Record,
    features: Features,
}

impl Loaded {
    fn read(tx: &DedupTx<'_>, id: i64) -> Result<Option<Loaded>> {
        let Some(src) = tx.live_source(id)? else {
            return Ok(None);
        };
        let record = marcxml::parse_record(&src.record).with_context(|| {
            format!(
                "stored record {} of {} does not parse",
                src.oai_id, src.partner
            )
        })?;
        Ok(Some(Loaded {
            id,
            partner: src.partner,
            oai_id: src.oai_id,
            features: score::features(&record),
            record,
        }))
    }

    fn order_key(&self) -> (&str, &str) {
        (&self.partner, &self.oai_id)
    }
}

/// Decides whether two candidate records are the same edition, with each
/// record read, parsed and its features extracted once per component.
struct Linker<'a> {
    options: &'a ScoreOptions,
    loaded: HashMap<i64, Option<Rc<Loaded>>>,
}

impl Linker<'_> {
    fn load(&mut self, tx: &DedupTx<'_>, id: i64) -> Result<Option<Rc<Loaded>>> {
        if let Some(l) = self.loaded.get(&id) {
            return Ok(l.clone());
        }
        let l = Loaded::read(tx, id)?.map(Rc::new);
        self.loaded.insert(id, l.clone());
        Ok(l)
    }

    /// Sharing a key makes two records candidates; the pair decision says
    /// whether they are the same edition (vetoes included).
    fn same(&mut self, tx: &DedupTx<'_>, a: i64, b: i64) -> Result<bool> {
        let (Some(la), Some(lb)) = (self.load(tx, a)?, self.load(tx, b)?) else {
            return Ok(false);
        };
        Ok(score::compare(&la.features, &lb.features, self.options).same)
    }
}

/// Split a component so that no two records of one cluster are vetoed
/// against each other: A~B and B~C must not put A and C together when a
/// veto (other volume, edition, carrier, …) separates A and C.
///
/// The component (connected by "same edition" links) is unique whatever
/// order records arrived in, and the split depends only on it: links are
/// taken strongest first (ties by member order) and two groups join only if
/// no pair across them is vetoed. So incremental and full clustering agree.
fn split_on_vetoes(mut component: Vec<Rc<Loaded>>, options: &ScoreOptions) -> Vec<Vec<Rc<Loaded>>> {
    if component.len() <= 2 {
        // Two records are in one component only if their decision said
        // "same", which a veto would have prevented.
        return vec![component];
    }
    component.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    let n = component.len();
    let mut vetoed = vec![vec![false; n]; n];
    let mut links = Vec::new();
    let mut any_veto = false;
    for i in 0..n {
        for j in i + 1..n {
            let d = score::compare(&component[i].features, &component[j].features, options);
            if !d.vetoes.is_empty() || (d.overridden.is_some() && !d.same) {
                vetoed[i][j] = true;
                vetoed[j][i] = true;
                any_veto = true;
            } else if d.same {
                links.push((d.score, i, j));
            }
        }
    }
    if !any_veto {
        return vec![component];
    }
    links.sort_by(|x, y| y.0.total_cmp(&x.0).then((x.1, x.2).cmp(&(y.1, y.2))));
    let mut group: Vec<usize> = (0..n).collect();
    for (_, i, j) in links {
        let (gi, gj) = (group[i], group[j]);
        if gi == gj {
            continue;
        }
        let clash =
            (0..n).any(|x| group[x] == gi && (0..n).any(|y| group[y] == gj && vetoed[x][y]));
        if !clash {
            for g in group.iter_mut() {
                if *g == gj {
                    *g = gi;
                }
            }
        }
    }
    let mut out: BTreeMap<usize, Vec<Rc<Loaded>>> = BTreeMap::new();
    for (m, g) in component.into_iter().zip(group) {
        out.entry(g).or_default().push(m);
    }
    out.into_values().collect()
}

fn component_of(
    tx: &DedupTx<'_>,
    seed: i64,
    visited: &mut HashSet<i64>,
    blocks: &mut Blocks,
    linker: &mut Linker<'_>,
) -> Result<Vec<Rc<Loaded>>> {
    let mut out = Vec::new();
    let mut queue = VecDeque::from([seed]);
    visited.insert(seed);
    while let Some(id) = queue.pop_front() {
        let Some(rec) = linker.load(tx, id)? else {
            continue;
        };
        let mut oversized = Vec::new();
        let mut candidates = Vec::new();
        for key in tx.keys_of(id)? {
            let holders = tx.records_with_key(&key, MAX_KEY_FANOUT)?;
            if holders.len() > MAX_KEY_FANOUT {
                blocks.note(&key);
                oversized.push(key);
            } else {
                candidates.extend(holders);
            }
        }
        for (i, a) in oversized.iter().enumerate() {
            for b in &oversized[i + 1..] {
                candidates.extend(blocks.both(tx, a, b)?.iter().copied());
            }
        }
        for h in candidates {
            if h != id && !visited.contains(&h) && linker.same(tx, id, h)? {
                visited.insert(h);
                queue.push_back(h);
            }
        }
        out.push(rec);
    }
    Ok(out)
}

/// Oversized blocks: a key held by more than `MAX_KEY_FANOUT` records (a
/// very common title in a year, "Tanlangan asarlar|2019"; an ISBN a
/// publisher printed in many books) does not make candidates on its own,
/// or every record would be compared with every other one in the block.
/// Within such a block a record meets only those that also share a second
/// key with it: a key of normal size does that by itself, and for two
/// oversized keys the records holding both are looked up here (once per
/// pair and pass). Keys held by more than `MAX_BLOCK` records (placeholders
/// such as `isbn:9780000000002`) are not used at all.
#[derive(Default)]
struct Blocks {
    /// Holders of both keys of a pair of oversized keys; empty when there
    /// are too many to use.
    pairs: HashMap<(String, String), Vec<i64>>,
    /// Oversized keys seen in this pass, for the log.
    seen: BTreeSet<String>,
}

/// Above this many holders a key is not even intersected with another.
const MAX_BLOCK: usize = 5_000;

/// Cached pair intersections kept per pass; past this the cache restarts,
/// so memory stays bounded on a catalogue with many big blocks.
const MAX_CACHED_PAIRS: usize = 10_000;

impl Blocks {
    fn note(&mut self, key: &str) {
        if !self.seen.contains(key) {
            self.seen.insert(key.to_string());
        }
    }

    fn both(&mut self, tx: &DedupTx<'_>, a: &str, b: &str) -> Result<&[i64]> {
        let pair = (a.to_string(), b.to_string());
        if !self.pairs.contains_key(&pair) {
            if self.pairs.len() >= MAX_CACHED_PAIRS {
                self.pairs.clear();
            }
            let mut holders = Vec::new();
            if tx.records_with_key(a, MAX_BLOCK)?.len() <= MAX_BLOCK
                && tx.records_with_key(b, MAX_BLOCK)?.len() <= MAX_BLOCK
            {
                holders = tx.records_with_keys(a, b, MAX_KEY_FANOUT)?;
                if holders.len() > MAX_KEY_FANOUT {
                    holders.clear();
                }
            }
            self.pairs.insert(pair.clone(), holders);
        }
        Ok(&self.pairs[&pair])
    }

    /// One log line for the pass, not one per key.
    fn report(&self) {
        if self.seen.is_empty() {
            return;
        }
        let examples: Vec<&str> = self.seen.iter().take(5).map(String::as_str).collect();
        info!(
            keys = self.seen.len(),
            limit = MAX_KEY_FANOUT,
            examples = examples.join(" "),
            "match keys shared by too many records linked only together with a second key"
        );
    }
}

/// A group of records whose id waits until the whole pass is known.
struct Deferred {
    /// Member record ids, in group order.
    members: Vec<i64>,
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

/// Writes clusters and their union records.
struct UnionWriter<'a> {
    codes: &'a HashMap<&'a str, &'a str>,
    catalogue_code: &'a str,
    options: &'a MergeOptions,
}

impl UnionWriter<'_> {
    /// Put the group's records in cluster `cid` and store its union
    /// record; true if the union record changed.
    fn assign(&self, tx: &DedupTx<'_>, cid: &str, group: &[Rc<Loaded>]) -> Result<bool> {
        for m in group {
            tx.set_cluster(m.id, Some(cid))?;
        }
        write_union(
            tx,
            cid,
            group,
            self.codes,
            self.catalogue_code,
            self.options,
        )
    }
}

/// Merge a cluster's members and store the union record; true if it changed.
fn write_union(
    tx: &DedupTx<'_>,
    cluster_id: &str,
    members: &[Rc<Loaded>],
    codes: &HashMap<&str, &str>,
    catalogue_code: &str,
    options: &MergeOptions,
) -> Result<bool> {
    let view: Vec<Member<'_>> = members
        .iter()
        .map(|m| Member {
            partner: &m.partner,
            // A partner removed from the config still holds its records
            // until they are purged; its name stands in for its code.
            partner_code: codes.get(m.partner.as_str()).copied().unwrap_or(&m.partner),
            oai_id: &m.oai_id,
            record: &m.record,
        })
        .collect();
    let Some(union) = merge::merge_with(cluster_id, catalogue_code, &view, options) else {
        return Ok(false);
    };
    let xml = marcxml::to_string(&union);
    tx.put_union(cluster_id, &xml, &dedup::content_hash(&xml), members.len())
}
