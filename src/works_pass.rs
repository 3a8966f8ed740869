//! The work pass (issue #18): after the edition clusters are decided and
//! merged, groups union records into works and writes the links between
//! them (other edition, other physical form, translation, other volume)
//! into the store's work tables and into the union records themselves, as
//! MARC 21 linking entry fields (`dedup::works::add_links`).
//!
//! Incremental like the edition pass. Its input is every union record whose
//! version changed since the pass last ran (`meta_text` `works_seq`, a
//! change sequence number): their work keys are recomputed (unless the
//! edition pass wrote them as it merged the records, `EditionKeys`), then
//! the works they were in and the works their keys now reach are
//! recomputed from those records outwards, walking the work-key index;
//! nothing else is read. A work is a connected component of links, so recomputing the
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
use std::sync::Arc;

use anyhow::{Context, Result};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use tracing::info;
use unicat_marc::{marcxml, Record};

use crate::background::Later;
use crate::config::Config;
use crate::dedup::cluster::{claim_old_ids, kept_whole};
use crate::dedup::works::{
    add_links, evidence, index_keys, strip_links, work_features, LinkTarget, Overrides, Relation,
    WorkFeatures,
};
use crate::store::packed::{self, Stored};
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
    /// The record's text as stored: a rewrite that gives it again is
    /// not stored (see [`Links`]).
    text: String,
}

/// One recomputed work: its union records and each one's links.
struct Component {
    nodes: BTreeMap<String, Arc<Node>>,
    links: BTreeMap<String, Vec<(Relation, String, String)>>,
}

/// How the pass tells which union records are works of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySearch {
    /// By how many records the pass examines (see `WALK_MIN`).
    Auto,
    /// Look each record's work keys up.
    Lookup,
    /// Walk the whole work-key index once.
    Walk,
}

/// Bring work keys, works and links up to date with the union records.
pub fn run(store: &mut Store, config: &Config) -> Result<WorksSummary> {
    run_with(store, config, KeySearch::Auto)
}

/// [`run`] with the key search chosen (for tests that compare the two).
pub fn run_with(store: &mut Store, config: &Config, search: KeySearch) -> Result<WorksSummary> {
    let tx = store.transaction()?;
    let code = config.catalogue_code.as_str();
    let Plan {
        fingerprint,
        codes,
        full,
        mark,
    } = Plan::of(&tx, config)?;
    let mut summary = WorksSummary::default();
    if !config.works.enabled {
        if !full {
            return Ok(summary);
        }
        // Switched off: every linking field goes, and the tables with them.
        let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
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
    // The edition passes since the last work pass may have written the
    // work keys of the records they changed (`EditionKeys`).
    let keys_current =
        tx.meta_text(KEYS_CURRENT)?.as_deref() == Some(keys_marker(&fingerprint, mark).as_str());
    let changed = tx.unions_changed_since(mark)?;
    summary.examined = changed.len();
    tx.plan_each_call()?;
    let mut pass = Pass {
        tx: &tx,
        shared: None,
        parser: Arc::new(Parser {
            codes,
            never: config.works.never_link.clone(),
            always: config.works.always_link.clone(),
        }),
    };

    // Every changed record's work keys first, so that the walk below sees
    // the index as it is now. Each batch is parsed on the worker threads
    // while this thread stores the keys of the one before.
    let mut parsing: Option<(&[Changed], Later<KeysBatch>)> = None;
    let to_key: &[Changed] = if keys_current { &[] } else { &changed };
    for batch in to_key.chunks(READ_BATCH).map(Some).chain([None]) {
        let next = match batch {
            Some(batch) => {
                let live: Vec<String> = batch
                    .iter()
                    .filter(|(_, live)| *live)
                    .map(|(id, _)| id.clone())
                    .collect();
                let texts = pass.texts(&live)?;
                let parser = pass.parser.clone();
                Some((batch, Later::spawn(move || parser.keys(texts))))
            }
            None => None,
        };
        if let Some((done, job)) = std::mem::replace(&mut parsing, next) {
            let live = done.iter().filter(|(_, live)| *live).map(|(id, _)| id);
            let mut keys: HashMap<&String, Vec<String>> = live
                .zip(job.wait()?)
                .filter_map(|(id, keys)| Some((id, keys?)))
                .collect();
            let rows: Vec<(String, Vec<String>)> = done
                .iter()
                .map(|(id, _)| (id.clone(), keys.remove(id).unwrap_or_default()))
                .collect();
            tx.set_work_keys_many(&rows)?;
        }
    }

    // A pass over many records learns which records share a usable key
    // from one walk over the key index (the answer a look-up per key
    // would give, see `Pass::alone`).
    let walk = match search {
        KeySearch::Auto => changed.len() >= WALK_MIN,
        KeySearch::Lookup => false,
        KeySearch::Walk => true,
    };
    if walk {
        pass.shared = Some(
            tx.unions_sharing_a_work_key(MAX_KEY_UNIONS)?
                .into_iter()
                .collect(),
        );
    }

    // The changed records and the other records of the works they were in
    // (a deleted or changed record can split its work).
    let mut seeds: BTreeSet<String> = changed.iter().map(|(id, _)| id.clone()).collect();
    let mut old_sizes: HashMap<String, usize> = HashMap::new();
    let mut tables = Tables::default();
    let mut old_works: Vec<String> = Vec::new();
    for batch in changed.chunks(READ_BATCH) {
        let ids: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
        let works = tx.works_of(&ids)?;
        for (id, work) in ids.into_iter().zip(works) {
            if let Some(w) = &work {
                if !old_sizes.contains_key(w) {
                    old_sizes.insert(w.clone(), 0);
                    old_works.push(w.clone());
                }
            }
            tables.old_work.insert(id, work);
        }
    }
    for works in old_works.chunks(READ_BATCH) {
        for (w, members) in works.iter().zip(tx.work_members_many(works)?) {
            old_sizes.insert(w.clone(), members.len());
            tables.note_members(w, &members);
            seeds.extend(members);
        }
    }
    let mut visited: HashSet<String> = HashSet::new();
    let mut assigned: BTreeSet<String> = BTreeSet::new();
    let mut deferred: Vec<(Component, BTreeMap<String, usize>)> = Vec::new();
    // Union records read ahead for the seeds to come (see `read_ahead`).
    let mut ahead = Ahead::default();
    let mut links = Links::new(pass.tx.packs_texts(), code);
    while let Some(seed) = seeds.pop_first() {
        if visited.contains(&seed) {
            continue;
        }
        let alone = pass.read_ahead(&mut ahead, &seed, &seeds, &visited)?;
        let component = pass.component(&seed, &mut visited, &ahead, alone)?;
        let mut shares: BTreeMap<String, usize> = BTreeMap::new();
        let mut unseen: Vec<String> = Vec::new();
        for w in tables.old_works(&tx, component.nodes.keys())? {
            if !old_sizes.contains_key(&w) && !unseen.contains(&w) {
                unseen.push(w.clone());
            }
            *shares.entry(w).or_default() += 1;
        }
        if !unseen.is_empty() {
            // A work nobody looked at yet gives a record to this one: its
            // other records are recomputed too.
            for (w, members) in unseen.iter().zip(tx.work_members_many(&unseen)?) {
                old_sizes.insert(w.clone(), members.len());
                tables.note_members(w, &members);
                seeds.extend(members.into_iter().filter(|m| !visited.contains(m)));
            }
        }
        if component.nodes.len() < 2 {
            pass.write(&seed, &component, None, &mut links, &mut tables)?;
            continue;
        }
        // A new work, or one that kept all its records (and perhaps gained
        // some), is decided at once; a split or a join waits until every
        // part is known, as clusters do in `pipeline::refresh`.
        match kept_whole(&shares, &old_sizes) {
            Some(kept) => {
                let wid = match kept {
                    Some(old) => old,
                    None => fresh_work_id(&tx, &tables, lowest(&component), &assigned)?,
                };
                pass.write(&seed, &component, Some(&wid), &mut links, &mut tables)?;
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
                let id = fresh_work_id(&tx, &tables, lowest(component), &assigned)?;
                assigned.insert(id.clone());
                id
            }
        };
        let seed = lowest(component).to_string();
        pass.write(&seed, component, Some(&wid), &mut links, &mut tables)?;
        summary.works += 1;
    }
    tables.flush(&tx)?;
    summary.relinked = links.finish(&tx)?;

    let seq = tx.seq_now()?;
    tx.set_meta_text("works_seq", &seq.to_string())?;
    tx.set_meta_text("works", &fingerprint)?;
    tx.set_meta_text("works_code", code)?;
    // No record has changed since this pass: every changed record's keys
    // are current, and stay so while edition passes write the keys of the
    // records they change.
    tx.set_meta_text(KEYS_CURRENT, &keys_marker(&fingerprint, seq))?;
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

/// What a work pass would start from, read from the store.
struct Plan {
    /// The settings the work keys, links and fields depend on.
    fingerprint: String,
    /// Catalogue codes whose linking fields are ours (current first).
    codes: Vec<String>,
    /// Whether the pass recomputes every work (the settings changed).
    full: bool,
    /// The change sequence number the pass examines records after.
    mark: i64,
}

impl Plan {
    fn of(tx: &DedupTx<'_>, config: &Config) -> Result<Plan> {
        let code = config.catalogue_code.as_str();
        let fingerprint = format!(
            "v{WORKS_VERSION}|{}|{:?}|{:?}|{code}",
            config.works.enabled, config.works.never_link, config.works.always_link
        );
        // Links written under an earlier catalogue code are still ours.
        let mut codes = vec![code.to_string()];
        if let Some(p) = tx.meta_text("works_code")?.filter(|p| p != code) {
            codes.push(p);
        }
        let full = tx.meta_text("works")?.as_deref() != Some(fingerprint.as_str());
        let mark: i64 = if full {
            0
        } else {
            tx.meta_text("works_seq")?
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        };
        Ok(Plan {
            fingerprint,
            codes,
            full,
            mark,
        })
    }
}

/// The `meta_text` key whose value, [`keys_marker`], says that every union
/// record changed after a sequence number has its work keys current under
/// a fingerprint of the work settings.
const KEYS_CURRENT: &str = "work_keys_current";

fn keys_marker(fingerprint: &str, mark: i64) -> String {
    format!("{mark}|{fingerprint}")
}

/// The work keys of the union records an edition pass writes, computed
/// where it merges them (on the worker threads, from the record it has
/// just built) rather than read back and parsed again by the work pass:
/// on a first load that was half of the work pass. The work pass skips
/// computing keys when every record changed since its mark has them
/// ([`KEYS_CURRENT`]): it says so when it ends, and an edition pass keeps
/// it true by writing the keys of every record it changes. An edition
/// pass that finds it false (the settings changed, or an older unicat
/// changed records) writes none and leaves the keys to the work pass.
pub struct EditionKeys {
    parser: Parser,
}

impl EditionKeys {
    /// Keys for this edition pass to write, or None: the work pass is
    /// switched off, or it will compute the keys itself. A store where no
    /// union record was ever written has every key it needs.
    pub fn for_pass(tx: &DedupTx<'_>, config: &Config) -> Result<Option<EditionKeys>> {
        if !config.works.enabled {
            return Ok(None);
        }
        let plan = Plan::of(tx, config)?;
        let marker = keys_marker(&plan.fingerprint, plan.mark);
        if tx.meta_text(KEYS_CURRENT)?.as_deref() != Some(marker.as_str()) {
            if tx.seq_now()? != 0 {
                return Ok(None);
            }
            tx.set_meta_text(KEYS_CURRENT, &marker)?;
        }
        Ok(Some(EditionKeys {
            parser: Parser {
                codes: plan.codes,
                never: config.works.never_link.clone(),
                always: config.works.always_link.clone(),
            },
        }))
    }

    /// A union record's work keys, as the work pass computes them from the
    /// stored record.
    pub fn keys(&self, union: Record) -> Vec<String> {
        self.parser.work_keys(union)
    }
}

/// The lowest union id of a component (its nodes are sorted).
fn lowest(c: &Component) -> &str {
    c.nodes.keys().next().map_or("", String::as_str)
}

/// A new work's id, derived from its lowest union id, so that the same
/// catalogue linked from nothing gets the same ids; a later variant only
/// while an earlier one is still held by another work.
fn fresh_work_id(
    tx: &DedupTx<'_>,
    tables: &Tables,
    lowest: &str,
    assigned: &BTreeSet<String>,
) -> Result<String> {
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
        if !assigned.contains(&id) && tables.is_free(tx, &id)? {
            return Ok(id);
        }
        variant += 1;
    }
}

/// From this many changed union records on, the pass walks the work-key
/// index once to tell which records are works of their own, instead of
/// looking each one's keys up (a first load examines every record; a
/// nightly harvest a few hundred).
const WALK_MIN: usize = 20_000;

/// Union records read and parsed in one batch: enough to keep every core
/// busy, few enough that the batch is a few megabytes.
const READ_BATCH: usize = 256;

/// What reading a union record needs, owned, so that batches can be
/// parsed on the worker threads while the pass goes on.
struct Parser {
    /// Catalogue codes whose linking fields are ours (current first).
    codes: Vec<String>,
    never: Vec<[String; 2]>,
    always: Vec<[String; 2]>,
}

/// Stored union records (None: deleted) with their ids, as read (still
/// packed: they are unpacked where they are parsed).
type Texts = Vec<(String, Option<Stored>)>;

/// A union record read and parsed (None: deleted).
type Parsed = Option<Arc<Node>>;

/// A union record's work keys (None: deleted).
type Keys = Option<Vec<String>>;

/// A union record changed since the last pass, and whether it is live.
type Changed = (String, bool);

/// What a background job parsing a batch gives.
type ParsedBatch = Result<Vec<Parsed>>;

/// A batch of seeds read ahead, being parsed: those that share a work key
/// with another record, those that do not, and the job (which gives the
/// two lists' nodes in their order).
type NextBatch = (
    Vec<String>,
    Vec<String>,
    Later<Result<(Vec<Parsed>, Vec<Parsed>)>>,
);
type KeysBatch = Result<Vec<Keys>>;

impl Parser {
    fn overrides(&self) -> Overrides<'_> {
        Overrides {
            never: &self.never,
            always: &self.always,
        }
    }

    /// A stored text, unpacked.
    fn unpack(id: &str, stored: Stored) -> Result<String> {
        stored
            .into_text()
            .with_context(|| format!("union record {id} does not unpack"))
    }

    /// A union record's work keys: those of the record without our
    /// linking fields (the one computation for the work pass and the
    /// edition pass, `EditionKeys`).
    fn work_keys(&self, mut record: Record) -> Vec<String> {
        let codes: Vec<&str> = self.codes.iter().map(String::as_str).collect();
        strip_links(&mut record, &codes);
        index_keys(&record, &self.overrides())
    }

    /// The record without our linking fields, and whether it had any.
    fn record(&self, id: &str, xml: &str) -> Result<(Record, bool)> {
        let mut record =
            marcxml::parse_record(xml).with_context(|| format!("reading union record {id}"))?;
        let codes: Vec<&str> = self.codes.iter().map(String::as_str).collect();
        let had_links = strip_links(&mut record, &codes);
        Ok((record, had_links))
    }

    /// A stored union record without our fields, with its work features
    /// (and the override keys among its work keys).
    fn node(&self, id: &str, text: String) -> Result<Node> {
        let (record, had_links) = self.record(id, &text)?;
        let mut features = work_features(&record);
        features.keys.extend(self.overrides().keys(&features));
        features.keys.sort();
        features.keys.dedup();
        let target = LinkTarget::of(id, &record, features.edition.carrier);
        Ok(Node {
            features,
            target,
            record,
            had_links,
            text,
        })
    }

    /// A union record that is a work of its own, as [`Pass::write`] needs
    /// it: whether it holds linking fields of ours (to take out), and the
    /// record only then. Without one of our codes in its text it cannot
    /// hold any, and is not even parsed.
    fn alone_node(&self, id: &str, text: String) -> Result<Node> {
        // A code that XML escaping would change is looked for by parsing.
        let plain = |c: &String| !c.contains(['&', '<', '>', '"', '\'']);
        let maybe_ours = self
            .codes
            .iter()
            .any(|c| !plain(c) || text.contains(&format!("({c})")));
        let (record, had_links) = if maybe_ours {
            self.record(id, &text)?
        } else {
            (Record::new(""), false)
        };
        Ok(Node {
            features: WorkFeatures::default(),
            target: LinkTarget::default(),
            record,
            had_links,
            text,
        })
    }

    /// [`Parser::node`] (or [`Parser::alone_node`]) for a batch, on every
    /// core, in order.
    fn nodes(&self, texts: Texts, alone: bool) -> ParsedBatch {
        texts
            .into_par_iter()
            .map(|(id, stored)| {
                let Some(stored) = stored else {
                    return Ok(None);
                };
                let text = Self::unpack(&id, stored)?;
                let node = if alone {
                    self.alone_node(&id, text)?
                } else {
                    self.node(&id, text)?
                };
                Ok(Some(Arc::new(node)))
            })
            .collect()
    }

    /// The work keys of a batch (None for deleted records), without the
    /// features that relating needs; on every core, in order.
    fn keys(&self, texts: Texts) -> KeysBatch {
        texts
            .into_par_iter()
            .map(|(id, stored)| {
                let Some(stored) = stored else {
                    return Ok(None);
                };
                let xml = Self::unpack(&id, stored)?;
                let record = marcxml::parse_record(&xml)
                    .with_context(|| format!("reading union record {id}"))?;
                Ok(Some(self.work_keys(record)))
            })
            .collect()
    }
}

/// Union records read ahead for the seeds to come: those parsed, the
/// next batch being parsed, and how far the reading has gone.
#[derive(Default)]
struct Ahead {
    nodes: HashMap<String, Option<Arc<Node>>>,
    /// Seeds looked at that are works of their own.
    alone: HashSet<String>,
    /// Those of them read ahead, as [`Parser::alone_node`] gives them.
    alone_nodes: HashMap<String, Option<Arc<Node>>>,
    /// The next batch: seeds that share a work key, seeds that are works
    /// of their own, and the job parsing both.
    next: Option<NextBatch>,
    /// What the work keys of the records in `nodes` reach ([`Pass::reach`]),
    /// looked up for a batch at once.
    reach: HashMap<String, Vec<Vec<String>>>,
    /// The highest seed read so far, and the seed at which the batch
    /// after it is started.
    horizon: String,
    trigger: String,
}

impl Ahead {
    /// A batch was read up to seed `last`: the next starts after it, and
    /// is started when the pass is halfway through this one.
    fn note_batch(&mut self, ids: &[String], last: Option<String>) {
        if let Some(last) = last {
            self.trigger = ids
                .get(ids.len() / 2)
                .cloned()
                .unwrap_or_else(|| last.clone());
            if last > self.horizon {
                self.horizon = last;
            }
        }
    }
}

/// The pass's view of one transaction.
struct Pass<'a, 't> {
    tx: &'a DedupTx<'t>,
    parser: Arc<Parser>,
    /// The union records that share a usable work key with another, when
    /// the pass walked the key index for them.
    shared: Option<HashSet<String>>,
}

impl Pass<'_, '_> {
    /// A live union record without our fields, with its work features
    /// (and the override keys among its work keys); None if deleted.
    fn load(&self, id: &str) -> Result<Option<Node>> {
        let Some(stored) = self.tx.live_union_stored(id)? else {
            return Ok(None);
        };
        self.parser.node(id, Parser::unpack(id, stored)?).map(Some)
    }

    /// The stored text of union records (None: deleted), with their ids.
    fn texts(&self, ids: &[String]) -> Result<Texts> {
        Ok(ids
            .iter()
            .cloned()
            .zip(self.tx.live_unions_stored(ids)?)
            .collect())
    }

    /// Have `seed` read unless it is a work of its own (the answer), and
    /// keep the seeds after it coming (`seeds`, less those `visited`):
    /// seeds are taken in ascending order, and the next batch of those
    /// that share a work key with another record is parsed on the worker
    /// threads while the pass works through this one. Seeds that are works
    /// of their own are not read ahead: the pass reads them without their
    /// features (`load_alone`).
    fn read_ahead(
        &self,
        ahead: &mut Ahead,
        seed: &str,
        seeds: &BTreeSet<String>,
        visited: &HashSet<String>,
    ) -> Result<bool> {
        if !ahead.nodes.contains_key(seed) && !ahead.alone_nodes.contains_key(seed) {
            // What lies below `seed` is not needed as a seed again; pruned
            // once per batch, not once per seed.
            ahead.nodes.retain(|id, _| id.as_str() >= seed);
            ahead.reach.retain(|id, _| id.as_str() >= seed);
            ahead.alone.retain(|id| id.as_str() >= seed);
            ahead.alone_nodes.retain(|id, _| id.as_str() >= seed);
            if let Some((ids, alone_ids, job)) = ahead.next.take() {
                let (nodes, alone_nodes) = job.wait()?;
                self.reach_ahead(ahead, &ids, &nodes)?;
                ahead.nodes.extend(ids.into_iter().zip(nodes));
                ahead
                    .alone_nodes
                    .extend(alone_ids.into_iter().zip(alone_nodes));
            }
        }
        let alone = if ahead.nodes.contains_key(seed) {
            false
        } else if ahead.alone.contains(seed) {
            true
        } else {
            self.alone(seed)?
        };
        if !alone && !ahead.nodes.contains_key(seed) {
            let (more, _, last) = self.upcoming(seed, seeds, visited, &mut ahead.alone)?;
            let ids: Vec<String> = std::iter::once(seed.to_string()).chain(more).collect();
            let nodes = self.parser.nodes(self.texts(&ids)?, false)?;
            self.reach_ahead(ahead, &ids, &nodes)?;
            ahead.note_batch(&ids, last);
            ahead.nodes.extend(ids.into_iter().zip(nodes));
        }
        if ahead.next.is_none() && seed >= ahead.trigger.as_str() {
            let from = ahead.horizon.as_str().max(seed).to_string();
            let (ids, alone_ids, last) = self.upcoming(&from, seeds, visited, &mut ahead.alone)?;
            ahead.note_batch(&ids, last);
            if !ids.is_empty() || !alone_ids.is_empty() {
                let texts = self.texts(&ids)?;
                let alone_texts = self.texts(&alone_ids)?;
                let parser = self.parser.clone();
                let job = Later::spawn(move || {
                    Ok((
                        parser.nodes(texts, false)?,
                        parser.nodes(alone_texts, true)?,
                    ))
                });
                ahead.next = Some((ids, alone_ids, job));
            }
        }
        Ok(alone)
    }

    /// The next seeds after `after` that share a work key with another
    /// record (at most a batch, from at most four batches' worth of
    /// seeds), those that do not (also noted in `alone`), and the last
    /// seed looked at.
    fn upcoming(
        &self,
        after: &str,
        seeds: &BTreeSet<String>,
        visited: &HashSet<String>,
        alone: &mut HashSet<String>,
    ) -> Result<(Vec<String>, Vec<String>, Option<String>)> {
        let mut ids = Vec::new();
        let mut alone_ids = Vec::new();
        let mut last = None;
        let range = (std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded);
        let candidates: Vec<String> = seeds
            .range::<str, _>(range)
            .filter(|s| !visited.contains(*s))
            .take(READ_BATCH * 4)
            .cloned()
            .collect();
        // Looked up a batch at a time: those after the last batch's end
        // are looked up again next time, at most a batch.
        'batches: for batch in candidates.chunks(READ_BATCH) {
            for (s, lone) in batch.iter().zip(self.alone_many(batch)?) {
                last = Some(s.clone());
                if lone {
                    alone.insert(s.clone());
                    alone_ids.push(s.clone());
                } else {
                    ids.push(s.clone());
                    if ids.len() == READ_BATCH {
                        break 'batches;
                    }
                }
            }
        }
        Ok((ids, alone_ids, last))
    }

    /// The union records each of `keys` reaches, in `keys` order: those
    /// holding the key, or none when more than [`MAX_KEY_UNIONS`] do.
    fn reach(&self, keys: &[String]) -> Result<Vec<Vec<String>>> {
        Ok(self
            .tx
            .unions_with_work_keys(keys, MAX_KEY_UNIONS)?
            .into_iter()
            .map(|others| {
                if others.len() > MAX_KEY_UNIONS {
                    Vec::new()
                } else {
                    others
                }
            })
            .collect())
    }

    /// Look up what the work keys of a batch read ahead reach, in one
    /// batch (the key index does not change once the keys are stored).
    fn reach_ahead(&self, ahead: &mut Ahead, ids: &[String], nodes: &[Parsed]) -> Result<()> {
        let nodes: Vec<(&String, &Arc<Node>)> = ids
            .iter()
            .zip(nodes)
            .filter_map(|(id, n)| Some((id, n.as_ref()?)))
            .filter(|(id, _)| !ahead.reach.contains_key(*id))
            .collect();
        let keys: Vec<String> = nodes
            .iter()
            .flat_map(|(_, n)| n.features.keys.iter().cloned())
            .collect();
        let mut reached = self.reach(&keys)?.into_iter();
        for (id, n) in nodes {
            let mine: Vec<Vec<String>> = reached.by_ref().take(n.features.keys.len()).collect();
            ahead.reach.insert(id.clone(), mine);
        }
        Ok(())
    }

    /// Whether union record `id` shares no usable work key with another
    /// (by the index the keys loop filled): then it is a work of its own.
    fn alone(&self, id: &str) -> Result<bool> {
        Ok(self
            .alone_many(&[id.to_string()])?
            .first()
            .copied()
            .unwrap_or(true))
    }

    /// [`Pass::alone`] for a batch, in `ids` order: their keys and the
    /// keys' holders read a batch at a time.
    fn alone_many(&self, ids: &[String]) -> Result<Vec<bool>> {
        if let Some(shared) = &self.shared {
            return Ok(ids.iter().map(|id| !shared.contains(id)).collect());
        }
        let keys = self.tx.work_keys_of_many(ids)?;
        let mut all: Vec<String> = keys.iter().flatten().cloned().collect();
        all.sort();
        all.dedup();
        let holders = self.tx.unions_with_work_keys(&all, MAX_KEY_UNIONS)?;
        let holders: HashMap<&String, Vec<String>> = all.iter().zip(holders).collect();
        Ok(ids
            .iter()
            .zip(&keys)
            .map(|(id, keys)| {
                !keys.iter().any(|k| {
                    holders.get(k).is_some_and(|others| {
                        others.len() <= MAX_KEY_UNIONS && others.iter().any(|o| o != id)
                    })
                })
            })
            .collect())
    }

    /// A union record that is a work of its own ([`Parser::alone_node`]),
    /// read here; None if deleted.
    fn load_alone(&self, id: &str) -> Result<Option<Node>> {
        let Some(stored) = self.tx.live_union_stored(id)? else {
            return Ok(None);
        };
        self.parser
            .alone_node(id, Parser::unpack(id, stored)?)
            .map(Some)
    }

    /// [`Pass::load`] through a component's cache.
    fn cached(
        &self,
        cache: &mut HashMap<String, Option<Arc<Node>>>,
        id: &str,
    ) -> Result<Option<Arc<Node>>> {
        if let Some(n) = cache.get(id) {
            return Ok(n.clone());
        }
        let n = self.load(id)?.map(Arc::new);
        cache.insert(id.to_string(), n.clone());
        Ok(n)
    }

    /// [`Pass::load`] for several records, in `ids` order. Parsed here:
    /// handed to the worker threads, a few records would wait behind the
    /// batch they are parsing.
    fn load_many(&self, ids: &[String]) -> Result<Vec<Option<Arc<Node>>>> {
        self.texts(ids)?
            .into_iter()
            .map(|(id, stored)| match stored {
                Some(stored) => Ok(Some(Arc::new(
                    self.parser.node(&id, Parser::unpack(&id, stored)?)?,
                ))),
                None => Ok(None),
            })
            .collect()
    }

    /// The work of `seed`: every union record reached from it through
    /// links, walking the work-key index; records that share a key without
    /// a relation are read but not taken in. Loaded records live only as
    /// long as the component, so memory is bounded by the largest work and
    /// its candidates, not by the catalogue.
    fn component(
        &self,
        seed: &str,
        visited: &mut HashSet<String>,
        ahead: &Ahead,
        alone: bool,
    ) -> Result<Component> {
        let mut out = Component {
            nodes: BTreeMap::new(),
            links: BTreeMap::new(),
        };
        visited.insert(seed.to_string());
        if alone {
            // Most union records share no work key with another: a work of
            // their own, with no relation to decide, so their features are
            // not needed (a tenth of the work pass's time each, otherwise).
            let node = match ahead.alone_nodes.get(seed) {
                Some(node) => node.clone(),
                None => self.load_alone(seed)?.map(Arc::new),
            };
            if let Some(node) = node {
                out.nodes.insert(seed.to_string(), node);
            }
            return Ok(out);
        }
        let nodes = &ahead.nodes;
        let mut cache: HashMap<String, Option<Arc<Node>>> = HashMap::new();
        if let Some(n) = nodes.get(seed) {
            cache.insert(seed.to_string(), n.clone());
        }
        let mut queue = VecDeque::from([seed.to_string()]);
        let mut done: HashSet<(String, String)> = HashSet::new();
        while let Some(id) = queue.pop_front() {
            let Some(node) = self.cached(&mut cache, &id)? else {
                continue;
            };
            out.nodes.insert(id.clone(), node.clone());
            // The records the keys reach, read at once and parsed on every
            // core; then related one by one in key order.
            let reached: Vec<Vec<String>> = match ahead.reach.get(&id) {
                Some(reached) => reached.clone(),
                None => self.reach(&node.features.keys)?,
            };
            for o in reached.iter().flatten() {
                if !cache.contains_key(o.as_str()) {
                    if let Some(n) = nodes.get(o.as_str()) {
                        cache.insert(o.clone(), n.clone());
                    }
                }
            }
            let mut missing: Vec<String> = reached
                .iter()
                .flatten()
                .filter(|o| !cache.contains_key(o.as_str()))
                .cloned()
                .collect();
            missing.sort();
            missing.dedup();
            if missing.len() > 1 {
                let loaded = self.load_many(&missing)?;
                cache.extend(missing.into_iter().zip(loaded));
            }
            for others in reached {
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
                    let (Some(a), Some(b)) =
                        (self.cached(&mut cache, &lo)?, self.cached(&mut cache, &hi)?)
                    else {
                        continue;
                    };
                    let Some((rel, forced)) =
                        self.parser.overrides().relate(&a.features, &b.features)
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
    /// only where they changed, through `out`). A component without
    /// records is a deleted union record: its rows go.
    fn write(
        &self,
        seed: &str,
        c: &Component,
        work_id: Option<&str>,
        out: &mut Links,
        tables: &mut Tables,
    ) -> Result<()> {
        if c.nodes.is_empty() {
            tables.place(self.tx, seed, None, Vec::new())?;
            return Ok(());
        }
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
            tables.place(self.tx, id, work_id.map(str::to_string), rows)?;
            if links.is_empty() && work_id.is_none() && !node.had_links {
                continue;
            }
            let targets: Vec<(Relation, LinkTarget)> = links
                .iter()
                .filter_map(|(rel, other, _)| c.nodes.get(other).map(|n| (*rel, n.target.clone())))
                .collect();
            out.push(
                self.tx,
                Rewrite {
                    id: id.clone(),
                    node: node.clone(),
                    targets,
                    work_id: work_id.map(str::to_string),
                },
            )?;
        }
        Ok(())
    }
}

/// The work tables' rows of the union records the pass has placed, written
/// a batch at a time (on PostgreSQL a statement is a round trip: one per
/// record was most of the pass's time there, issue #20). Nothing the pass
/// reads later depends on them but a fresh work id, which asks
/// [`Tables::is_free`], and that answers with the rows not yet written.
#[derive(Default)]
struct Tables {
    /// The work each union record was in when the pass began, as read
    /// (a batch at a time) for deciding works: kept so that writing
    /// its row needs no second look-up.
    old_work: HashMap<String, Option<String>>,
    /// Rows to write, each record once, in the order placed.
    pending: Vec<Placed>,
    /// Where each record is in `pending`.
    index: HashMap<String, usize>,
}

/// A union record's work and links, as the pass decided them.
struct Placed {
    id: String,
    work: Option<String>,
    links: Vec<WorkLink>,
    /// Its work before the pass, if read (None: not known).
    old_work: Option<Option<String>>,
}

impl Tables {
    /// Note that `members` are what the store holds for work `w`.
    fn note_members(&mut self, w: &str, members: &[String]) {
        for m in members {
            self.old_work
                .entry(m.clone())
                .or_insert_with(|| Some(w.to_string()));
        }
    }

    /// The old work of each of `ids` that was in one, in order; those not
    /// read yet are read in one batch.
    fn old_works<'i>(
        &mut self,
        tx: &DedupTx<'_>,
        ids: impl Iterator<Item = &'i String> + Clone,
    ) -> Result<Vec<String>> {
        let unknown: Vec<String> = ids
            .clone()
            .filter(|id| !self.old_work.contains_key(*id))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            let works = tx.works_of(&unknown)?;
            self.old_work.extend(unknown.into_iter().zip(works));
        }
        Ok(ids
            .filter_map(|id| self.old_work.get(id).cloned().flatten())
            .collect())
    }

    /// Decide union record `id`'s work and links (links sorted); written
    /// with the batch.
    fn place(
        &mut self,
        tx: &DedupTx<'_>,
        id: &str,
        work: Option<String>,
        links: Vec<WorkLink>,
    ) -> Result<()> {
        if let Some(&i) = self.index.get(id) {
            // Placed twice: the last decision stands, against the rows
            // the store held before the first.
            if let Some(p) = self.pending.get_mut(i) {
                p.work = work;
                p.links = links;
            }
            return Ok(());
        }
        let old_work = self.old_work.remove(id);
        self.index.insert(id.to_string(), self.pending.len());
        self.pending.push(Placed {
            id: id.to_string(),
            work,
            links,
            old_work,
        });
        if self.pending.len() >= READ_BATCH {
            self.flush(tx)?;
        }
        Ok(())
    }

    /// Write the rows placed, where they differ from the store's: the old
    /// links read in one batch, the new rows written in a few statements.
    fn flush(&mut self, tx: &DedupTx<'_>) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.index.clear();
        let pending = std::mem::take(&mut self.pending);
        let ids: Vec<String> = pending.iter().map(|p| p.id.clone()).collect();
        let old_links = tx.work_links_of_many(&ids)?;
        let mut links: Vec<(String, Vec<WorkLink>)> = Vec::new();
        let mut works: Vec<(String, Option<String>)> = Vec::new();
        for (p, old) in pending.into_iter().zip(old_links) {
            if old != p.links {
                links.push((p.id.clone(), p.links));
            }
            if p.old_work.as_ref() != Some(&p.work) {
                works.push((p.id, p.work));
            }
        }
        tx.set_work_links_many(&links)?;
        tx.set_works(&works)
    }

    /// Whether work id `w` has no union records, counting the rows placed
    /// but not yet written.
    fn is_free(&self, tx: &DedupTx<'_>, w: &str) -> Result<bool> {
        if self.pending.iter().any(|p| p.work.as_deref() == Some(w)) {
            return Ok(false);
        }
        let moved = |m: &String| {
            self.index
                .get(m)
                .and_then(|&i| self.pending.get(i))
                .is_some_and(|p| p.work.as_deref() != Some(w))
        };
        Ok(tx.work_members(w)?.iter().all(moved))
    }
}

/// A rewritten union record's id and what to store (None: unchanged).
type Made = (String, Option<Stored>);

/// A union record to be written with its linking fields.
struct Rewrite {
    id: String,
    node: Arc<Node>,
    targets: Vec<(Relation, LinkTarget)>,
    work_id: Option<String>,
}

impl Rewrite {
    /// The record with its linking fields under catalogue `code`, packed
    /// if the store packs; None when that is the text already stored (no
    /// new version).
    fn make(&self, code: &str, pack: bool) -> Option<Stored> {
        let mut record = self.node.record.clone();
        add_links(&mut record, &self.targets, self.work_id.as_deref(), code);
        let text = marcxml::to_string(&record);
        if text == self.node.text {
            None
        } else if pack {
            Some(Stored::Packed(packed::pack(&text)))
        } else {
            Some(Stored::Text(text))
        }
    }
}

/// The union records the pass rewrites, made and packed in batches on the
/// worker threads while the pass goes on, and stored in the order they
/// came (so that their change sequence numbers do not depend on the
/// threads). Made on the store thread, the fields, the text and its
/// packing were most of that thread's work in a first load's work pass.
struct Links {
    pack: bool,
    /// The catalogue code the linking fields name.
    code: Arc<str>,
    pending: Vec<Rewrite>,
    making: Option<Later<Vec<Made>>>,
    changed: usize,
}

impl Links {
    fn new(pack: bool, code: &str) -> Links {
        Links {
            pack,
            code: Arc::from(code),
            pending: Vec::new(),
            making: None,
            changed: 0,
        }
    }

    fn push(&mut self, tx: &DedupTx<'_>, rewrite: Rewrite) -> Result<()> {
        self.pending.push(rewrite);
        if self.pending.len() >= READ_BATCH {
            self.store_made(tx)?;
            let batch = std::mem::take(&mut self.pending);
            let (pack, code) = (self.pack, self.code.clone());
            self.making = Some(Later::spawn(move || {
                batch
                    .into_par_iter()
                    .map(|r| {
                        let made = r.make(&code, pack);
                        (r.id, made)
                    })
                    .collect()
            }));
        }
        Ok(())
    }

    /// Store the batch being made, when it is done.
    fn store_made(&mut self, tx: &DedupTx<'_>) -> Result<()> {
        if let Some(job) = self.making.take() {
            let made = job
                .wait()
                .into_iter()
                .filter_map(|(id, made)| Some((id, made?)))
                .collect();
            self.changed += tx.put_unions_links_stored(made)?;
        }
        Ok(())
    }

    /// Store everything still pending; returns how many union records
    /// were rewritten.
    fn finish(mut self, tx: &DedupTx<'_>) -> Result<usize> {
        self.store_made(tx)?;
        let made = std::mem::take(&mut self.pending)
            .into_iter()
            .filter_map(|r| Some((r.id.clone(), r.make(&self.code, self.pack)?)))
            .collect();
        self.changed += tx.put_unions_links_stored(made)?;
        Ok(self.changed)
    }
}
