//! Clustering: which records form one edition cluster.
//!
//! Starting from a changed record, the store's match-key index gives its
//! candidates; the pair decision ([`super::decision`]) links those that are
//! the same edition; the connected component is then split so that no two
//! vetoed records share a cluster. Records are read and parsed once per
//! component. Oversized key blocks are handled here too.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use anyhow::{Context, Result};
use rayon::prelude::*;
use tracing::info;
use unicat_marc::{marcxml, Record};

use super::decision::{self, Features, ScoreOptions};
use super::keys::MAX_KEY_FANOUT;
use crate::background::Later;
use crate::store::{DedupTx, StoredSource};

/// A live source record, read and parsed once per component: its
/// features decide links, its parsed record goes into the merge.
pub(crate) struct Loaded {
    pub(crate) id: i64,
    pub(crate) partner: String,
    pub(crate) oai_id: String,
    pub(crate) record: Record,
    pub(crate) features: Features,
}

impl Loaded {
    pub(crate) fn read(tx: &DedupTx<'_>, id: i64) -> Result<Option<Loaded>> {
        tx.live_source_stored(id)?
            .map(|s| Loaded::parse(s, false))
            .transpose()
    }

    /// Parse a stored record and extract its features: the CPU half of
    /// [`Loaded::read`], run on the worker threads. A record `alone`,
    /// which shares no match key with another, is never compared, so its
    /// features are left empty (a third of a first load's records).
    fn parse(src: StoredSource, alone: bool) -> Result<Loaded> {
        // Unpacked here, on the worker thread, not where it was read.
        let text = src.record.into_text().with_context(|| {
            format!(
                "stored record {} of {} does not unpack",
                src.oai_id, src.partner
            )
        })?;
        let record = marcxml::parse_record(&text).with_context(|| {
            format!(
                "stored record {} of {} does not parse",
                src.oai_id, src.partner
            )
        })?;
        Ok(Loaded {
            id: src.id,
            partner: src.partner,
            oai_id: src.oai_id,
            features: if alone {
                Features::default()
            } else {
                decision::features(&record)
            },
            record,
        })
    }

    /// Read and parse the live records among `ids` on this thread;
    /// deleted ones are `None`. In `ids` order. Handing a few records to
    /// the worker threads would make this thread wait behind whatever
    /// batch they are parsing or merging (rayon takes a job from outside
    /// the pool only when a worker is free), so it parses them itself.
    pub(crate) fn read_many(tx: &DedupTx<'_>, ids: &[i64]) -> Result<Vec<Option<Arc<Loaded>>>> {
        tx.live_sources_stored(ids)?
            .into_iter()
            .map(|s| s.map(|s| Loaded::parse(s, false).map(Arc::new)).transpose())
            .collect()
    }

    /// The stored text of the live records among `ids`, each with whether
    /// it is `alone` (see [`Loaded::parse`]).
    fn sources(
        tx: &DedupTx<'_>,
        ids: &[i64],
        alone: impl Fn(i64) -> bool,
    ) -> Result<Vec<(Option<StoredSource>, bool)>> {
        Ok(tx
            .live_sources_stored(ids)?
            .into_iter()
            .zip(ids)
            .map(|(s, &id)| (s, alone(id)))
            .collect())
    }

    /// Parse stored records on every core, in order.
    fn parse_many(sources: Vec<(Option<StoredSource>, bool)>) -> Result<Vec<Option<Arc<Loaded>>>> {
        sources
            .into_par_iter()
            .map(|(src, alone)| {
                src.map(|s| Loaded::parse(s, alone).map(Arc::new))
                    .transpose()
            })
            .collect()
    }

    pub(crate) fn order_key(&self) -> (&str, &str) {
        (&self.partner, &self.oai_id)
    }
}

/// A batch of upcoming seeds prepared in the background: the seeds'
/// ids in order, and the job reading them.
type Batch = (Vec<i64>, Later<Result<Prepared>>);

/// What the background job makes of a batch: the seeds parsed (in the
/// batch's order), the candidates of theirs that are not seeds of the
/// batch, and the pair decisions between each seed and its candidates.
struct Prepared {
    seeds: Vec<Option<Arc<Loaded>>>,
    extra: HashMap<i64, Option<Arc<Loaded>>>,
    decided: HashMap<(i64, i64), bool>,
}

impl Prepared {
    /// Parse `sources` (the batch's seeds, then `extra_ids`) and decide
    /// each pair of `pairs` whose two records are live, on every core;
    /// `known` are records parsed before. The decisions are those
    /// [`Linker::same_as`] would make, seed first.
    fn make(
        seeds: usize,
        ids: Vec<i64>,
        sources: Vec<(Option<StoredSource>, bool)>,
        known: HashMap<i64, Arc<Loaded>>,
        pairs: Vec<(i64, i64)>,
        options: &ScoreOptions,
    ) -> Result<Prepared> {
        let parsed = Loaded::parse_many(sources)?;
        let mut all: HashMap<i64, Arc<Loaded>> = known;
        for (&id, l) in ids.iter().zip(&parsed) {
            if let Some(l) = l {
                all.insert(id, l.clone());
            }
        }
        let decided = pairs
            .into_par_iter()
            .filter_map(|(a, b)| {
                let (la, lb) = (all.get(&a)?, all.get(&b)?);
                Some((
                    (a, b),
                    decision::compare(&la.features, &lb.features, options).same,
                ))
            })
            .collect();
        let mut parsed = parsed.into_iter();
        Ok(Prepared {
            seeds: parsed.by_ref().take(seeds).collect(),
            extra: ids[seeds..].iter().copied().zip(parsed).collect(),
            decided,
        })
    }
}

/// Decides whether two candidate records are the same edition, with each
/// record read, parsed and its features extracted once per component.
pub(crate) struct Linker {
    options: Arc<ScoreOptions>,
    loaded: HashMap<i64, Option<Arc<Loaded>>>,
    /// Records read ahead for the seeds the pass will visit next; unlike
    /// `loaded`, kept across components until the pass has gone past them.
    ahead: HashMap<i64, Option<Arc<Loaded>>>,
    /// The candidates of the current batch's seeds that are not seeds of
    /// it, read for the decisions made ahead; dropped with the batch.
    extra: HashMap<i64, Option<Arc<Loaded>>>,
    /// Pair decisions made ahead, seed first (see [`Linker::same_as`]).
    decided: HashMap<(i64, i64), bool>,
    /// A look-up pass's candidates of the seeds read ahead, looked up in
    /// the store when their batch was prepared and taken from here by
    /// [`Linker::candidates`] (the keys do not change during a pass, so
    /// the answer is the same).
    looked: HashMap<i64, (Vec<i64>, Vec<String>)>,
    /// The next batch of seeds, being prepared while this one is used.
    next: Option<Batch>,
    /// The highest seed read ahead so far, and the seed at which to start
    /// reading the batch after it.
    horizon: i64,
    trigger: i64,
}

/// How many upcoming seeds are read and parsed in one batch: enough to
/// keep every core busy, few enough that the batch's records are some ten
/// megabytes. The store thread waits for a batch at its end, and the cores
/// idle while it reads the next; 1,024 rather than 256 made the edition
/// pass of 150,000 LC records about a tenth faster.
const READ_AHEAD: usize = 1024;

impl Linker {
    pub(crate) fn new(options: &ScoreOptions) -> Self {
        Linker {
            options: Arc::new(options.clone()),
            loaded: HashMap::new(),
            ahead: HashMap::new(),
            extra: HashMap::new(),
            decided: HashMap::new(),
            looked: HashMap::new(),
            next: None,
            horizon: i64::MIN,
            trigger: i64::MIN,
        }
    }

    /// Forget the records read so far: they are reused only within one
    /// component, so memory stays bounded by the largest component and
    /// the read-ahead.
    pub(crate) fn forget(&mut self) {
        self.loaded.clear();
    }

    /// Have `seed` read, and keep the seeds after it coming: a pass over
    /// many records visits the seeds in ascending order (`work`, less
    /// those `visited` meanwhile), each starting its own component. While
    /// the pass works through one batch, the next is prepared on the
    /// worker threads, so this thread reads and writes the store
    /// meanwhile: its seeds parsed, their candidates read too and every
    /// seed–candidate pair decided, which leaves this thread the store and
    /// little else. (A look-up pass finds the candidates in the store
    /// here, once: until this, its pairs were parsed and decided on this
    /// thread, half of an incremental pass's edition half.)
    pub(crate) fn read_ahead(
        &mut self,
        tx: &DedupTx<'_>,
        seed: i64,
        work: &BTreeSet<i64>,
        visited: &HashSet<i64>,
        source: &Candidates,
    ) -> Result<()> {
        let have = |l: &Self| l.ahead.contains_key(&seed) || l.loaded.contains_key(&seed);
        if !have(self) {
            // What lies below this seed was a seed already or was visited
            // (it may still be a candidate of a later record, read again
            // then). Pruned once per batch, not once per seed: a batch
            // holds hundreds of records.
            self.ahead.retain(|&id, _| id >= seed);
            self.decided.retain(|&(a, _), _| a >= seed);
            self.looked.retain(|&id, _| id >= seed);
            // The last batch's candidates go with it.
            self.extra.clear();
            if let Some(batch) = self.next.take() {
                self.take_batch(batch)?;
            }
        }
        if !have(self) {
            // Nothing read ahead reaches this seed (a seed added during
            // the pass, or the first): prepare a batch from it now and
            // wait for it. Seeds after it that were read ahead already
            // are not prepared twice.
            let ids: Vec<i64> = std::iter::once(seed)
                .chain(
                    self.upcoming(seed, work, visited)
                        .filter(|id| !self.ahead.contains_key(id)),
                )
                .take(READ_AHEAD)
                .collect();
            self.note_batch(&ids);
            let batch = self.prepare(tx, ids, visited, source)?;
            self.take_batch(batch)?;
        }
        if self.next.is_none() && seed >= self.trigger {
            let from = self.horizon.max(seed);
            let ids: Vec<i64> = self
                .upcoming(from, work, visited)
                .take(READ_AHEAD)
                .collect();
            if !ids.is_empty() {
                self.note_batch(&ids);
                self.next = Some(self.prepare(tx, ids, visited, source)?);
            }
        }
        Ok(())
    }

    /// A prepared batch's results, taken in: its seeds' records and
    /// decisions kept until the pass has gone past them.
    fn take_batch(&mut self, (ids, job): Batch) -> Result<()> {
        let prepared = job.wait()?;
        self.ahead.extend(ids.into_iter().zip(prepared.seeds));
        self.extra.extend(prepared.extra);
        self.decided.extend(prepared.decided);
        Ok(())
    }

    /// Start preparing a batch of seeds: read them and the candidates of
    /// theirs not visited yet, here (from the walked key index, or looked
    /// up in the store and kept for [`Linker::candidates`]); parse and
    /// decide on the worker threads. Pairs through oversized keys (looked
    /// up in the store) are left to [`Linker::same_as`].
    fn prepare(
        &mut self,
        tx: &DedupTx<'_>,
        ids: Vec<i64>,
        visited: &HashSet<i64>,
        source: &Candidates,
    ) -> Result<Batch> {
        let mut pairs = Vec::new();
        let mut extra_ids = BTreeSet::new();
        let mut known = HashMap::new();
        let in_batch: HashSet<i64> = ids.iter().copied().collect();
        for &id in &ids {
            let (mut candidates, oversized) = source.of(tx, id)?;
            if let Candidates::Lookup = source {
                self.looked.insert(id, (candidates.clone(), oversized));
            }
            candidates.retain(|&h| h != id && !visited.contains(&h));
            candidates.sort_unstable();
            candidates.dedup();
            for h in candidates {
                pairs.push((id, h));
                if in_batch.contains(&h) {
                    continue;
                }
                match self.ahead.get(&h) {
                    Some(Some(l)) => {
                        known.insert(h, l.clone());
                    }
                    Some(None) => {}
                    None => {
                        extra_ids.insert(h);
                    }
                }
            }
        }
        let seeds = ids.len();
        let all: Vec<i64> = ids.iter().copied().chain(extra_ids).collect();
        let sources = Loaded::sources(tx, &all, |id| source.alone(id))?;
        let options = self.options.clone();
        let job = Later::spawn(move || Prepared::make(seeds, all, sources, known, pairs, &options));
        Ok((ids, job))
    }

    /// The seeds after `after` still to visit, in order.
    fn upcoming<'w>(
        &self,
        after: i64,
        work: &'w BTreeSet<i64>,
        visited: &'w HashSet<i64>,
    ) -> impl Iterator<Item = i64> + 'w {
        work.range(after.saturating_add(1)..)
            .copied()
            .filter(|id| !visited.contains(id))
    }

    /// Remember how far a new batch reaches: the next one is started when
    /// the pass reaches its first seed.
    fn note_batch(&mut self, ids: &[i64]) {
        if let Some(&last) = ids.last() {
            self.horizon = self.horizon.max(last);
            self.trigger = ids[0];
        }
    }

    /// The candidates of record `id` and the oversized keys it holds, as
    /// [`Candidates::of`] gives them: from the look-up made when its batch
    /// was prepared, if it was.
    fn candidates(
        &mut self,
        tx: &DedupTx<'_>,
        source: &Candidates,
        id: i64,
    ) -> Result<(Vec<i64>, Vec<String>)> {
        match self.looked.remove(&id) {
            Some(found) => Ok(found),
            None => source.of(tx, id),
        }
    }

    /// A record as read ahead (a seed or a candidate of one), if it was.
    fn prepared(&self, id: i64) -> Option<&Option<Arc<Loaded>>> {
        self.ahead.get(&id).or_else(|| self.extra.get(&id))
    }

    fn load(&mut self, tx: &DedupTx<'_>, id: i64) -> Result<Option<Arc<Loaded>>> {
        if let Some(l) = self.loaded.get(&id) {
            return Ok(l.clone());
        }
        // Left in `ahead` too: a candidate that is not linked now may be
        // a seed of its own later.
        let l = match self.prepared(id) {
            Some(l) => l.clone(),
            None => Loaded::read(tx, id)?.map(Arc::new),
        };
        self.loaded.insert(id, l.clone());
        Ok(l)
    }

    /// Make sure `ids` are loaded, reading those that are not.
    fn load_all(&mut self, tx: &DedupTx<'_>, ids: &[i64]) -> Result<()> {
        let mut missing = Vec::new();
        for &id in ids {
            if self.loaded.contains_key(&id) {
                continue;
            }
            match self.prepared(id) {
                Some(l) => {
                    self.loaded.insert(id, l.clone());
                }
                None => missing.push(id),
            }
        }
        let loaded = Loaded::read_many(tx, &missing)?;
        self.loaded.extend(missing.into_iter().zip(loaded));
        Ok(())
    }

    /// Sharing a key makes two records candidates; the pair decision says
    /// whether each of `others` is the same edition as `id` (vetoes
    /// included). Pairs decided ahead are taken from there; the others are
    /// decided here (see [`Loaded::read_many`] for why not on the worker
    /// threads). The answer is in `others` order.
    fn same_as(&mut self, tx: &DedupTx<'_>, id: i64, others: &[i64]) -> Result<Vec<bool>> {
        let undecided: Vec<i64> = others
            .iter()
            .copied()
            .filter(|&o| !self.decided.contains_key(&(id, o)))
            .collect();
        let a = if undecided.is_empty() {
            None
        } else {
            self.load_all(tx, &undecided)?;
            self.load(tx, id)?
        };
        let options = &*self.options;
        Ok(others
            .iter()
            .map(|o| match self.decided.get(&(id, *o)) {
                Some(&same) => same,
                None => match (&a, self.loaded.get(o)) {
                    (Some(a), Some(Some(b))) => {
                        decision::compare(&a.features, &b.features, options).same
                    }
                    _ => false,
                },
            })
            .collect())
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
pub(crate) fn split_on_vetoes(
    mut component: Vec<Arc<Loaded>>,
    options: &ScoreOptions,
) -> Vec<Vec<Arc<Loaded>>> {
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
            let d = decision::compare(&component[i].features, &component[j].features, options);
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
    let mut out: BTreeMap<usize, Vec<Arc<Loaded>>> = BTreeMap::new();
    for (m, g) in component.into_iter().zip(group) {
        out.entry(g).or_default().push(m);
    }
    out.into_values().collect()
}

/// Where a record's candidates (the records it shares a match key with)
/// come from during one pass.
pub(crate) enum Candidates {
    /// Looked up in the store's key index, key by key: cheap for the few
    /// records a nightly harvest changed.
    Lookup,
    /// Read from one walk over the whole key index made at the start of
    /// the pass: for a pass over much of the catalogue, one sequential
    /// read instead of a random look-up per key of every record.
    Index(KeyIndex),
}

/// Whether a pass over `examined` records of a store whose record ids go
/// up to `max_id` examines much of the catalogue (a tenth or more), so
/// that reading whole indexes once beats looking each record up.
pub(crate) fn examines_much(examined: usize, max_id: i64) -> bool {
    i64::try_from(examined)
        .unwrap_or(i64::MAX)
        .saturating_mul(10)
        >= max_id
}

impl Candidates {
    /// The strategy for a pass over `dirty` records of a store whose record
    /// ids go up to `max_id`: the walk reads every key of the catalogue, so
    /// it pays once a tenth or more of the records are examined (a first
    /// load, a new key or decision version, a large partner's re-harvest).
    pub(crate) fn for_pass(tx: &DedupTx<'_>, dirty: usize, max_id: i64) -> Result<Candidates> {
        if examines_much(dirty, max_id) {
            Ok(Candidates::Index(KeyIndex::read(tx)?))
        } else {
            Ok(Candidates::Lookup)
        }
    }

    /// Whether record `id` certainly shares no match key with another, so
    /// that it has no candidate and is no other record's candidate: known
    /// from the walked index; a look-up pass does not know beforehand.
    fn alone(&self, id: i64) -> bool {
        match self {
            Candidates::Lookup => false,
            Candidates::Index(index) => index.entries_of(id).is_empty(),
        }
    }

    /// The candidates of record `id` (itself included) through keys of
    /// normal size, and the oversized keys it holds, in key order. Both
    /// sources give the same answer for the same index.
    fn of(&self, tx: &DedupTx<'_>, id: i64) -> Result<(Vec<i64>, Vec<String>)> {
        let mut candidates = Vec::new();
        let mut oversized = Vec::new();
        match self {
            Candidates::Lookup => {
                for key in tx.keys_of(id)? {
                    let holders = tx.records_with_key(&key, MAX_KEY_FANOUT)?;
                    if holders.len() > MAX_KEY_FANOUT {
                        oversized.push(key);
                    } else {
                        candidates.extend(holders);
                    }
                }
            }
            Candidates::Index(index) => {
                for entry in index.entries_of(id) {
                    match *entry {
                        Entry::Block(b) => candidates.extend_from_slice(index.block(b)),
                        Entry::Oversized(k) => oversized.push(index.oversized[k as usize].clone()),
                    }
                }
            }
        }
        Ok((candidates, oversized))
    }
}

/// One entry of a record in the [`KeyIndex`]. Ordered so that a record's
/// oversized keys come in key order, as the look-up gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Entry {
    /// A key with 2 to `MAX_KEY_FANOUT` holders: block number.
    Block(u32),
    /// A key with more holders: its number in `KeyIndex::oversized`.
    Oversized(u32),
}

/// The store's match-key index as blocks of records sharing a key, read in
/// one walk and held compactly (about 16 bytes per key a record shares
/// with another): keys held by one record only are dropped, since they
/// make no candidate.
pub(crate) struct KeyIndex {
    /// Record ids in ascending order, each with its entries at
    /// `entries[starts[i]..starts[i + 1]]`.
    records: Vec<i64>,
    starts: Vec<usize>,
    entries: Vec<Entry>,
    /// The holders of block `b` are `holders[block_starts[b]..block_starts[b + 1]]`.
    block_starts: Vec<usize>,
    holders: Vec<i64>,
    /// Keys with more than `MAX_KEY_FANOUT` holders, in key order.
    oversized: Vec<String>,
}

impl KeyIndex {
    pub(crate) fn read(tx: &DedupTx<'_>) -> Result<KeyIndex> {
        let mut pairs: Vec<(i64, Entry)> = Vec::new();
        let mut index = KeyIndex {
            records: Vec::new(),
            starts: Vec::new(),
            entries: Vec::new(),
            block_starts: vec![0],
            holders: Vec::new(),
            oversized: Vec::new(),
        };
        let mut key = String::new();
        let mut group: Vec<i64> = Vec::new();
        tx.for_each_key_holder(|k, id| {
            if k != key {
                index.add_block(&key, &group, &mut pairs)?;
                key.clear();
                key.push_str(k);
                group.clear();
            }
            group.push(id);
            Ok(())
        })?;
        index.add_block(&key, &group, &mut pairs)?;
        pairs.sort_unstable();
        pairs.dedup();
        index.records.reserve(pairs.len() / 2);
        for (id, entry) in pairs {
            if index.records.last() != Some(&id) {
                index.records.push(id);
                index.starts.push(index.entries.len());
            }
            index.entries.push(entry);
        }
        index.starts.push(index.entries.len());
        Ok(index)
    }

    fn add_block(&mut self, key: &str, group: &[i64], pairs: &mut Vec<(i64, Entry)>) -> Result<()> {
        let too_many = || anyhow::anyhow!("the match-key index has too many shared keys to walk");
        let entry = if group.len() < 2 {
            return Ok(());
        } else if group.len() <= MAX_KEY_FANOUT {
            let b = u32::try_from(self.block_starts.len() - 1).map_err(|_| too_many())?;
            self.holders.extend_from_slice(group);
            self.block_starts.push(self.holders.len());
            Entry::Block(b)
        } else {
            let k = u32::try_from(self.oversized.len()).map_err(|_| too_many())?;
            self.oversized.push(key.to_string());
            Entry::Oversized(k)
        };
        pairs.extend(group.iter().map(|&id| (id, entry)));
        Ok(())
    }

    fn entries_of(&self, id: i64) -> &[Entry] {
        match self.records.binary_search(&id) {
            Ok(i) => &self.entries[self.starts[i]..self.starts[i + 1]],
            Err(_) => &[],
        }
    }

    fn block(&self, b: u32) -> &[i64] {
        let b = b as usize;
        &self.holders[self.block_starts[b]..self.block_starts[b + 1]]
    }
}

/// The connected component of `seed` under "same edition" links, reached
/// through shared match keys; records already `visited` are not revisited.
pub(crate) fn component_of(
    tx: &DedupTx<'_>,
    seed: i64,
    visited: &mut HashSet<i64>,
    source: &Candidates,
    blocks: &mut Blocks,
    linker: &mut Linker,
) -> Result<Vec<Arc<Loaded>>> {
    let mut out = Vec::new();
    let mut queue = VecDeque::from([seed]);
    visited.insert(seed);
    while let Some(id) = queue.pop_front() {
        let Some(rec) = linker.load(tx, id)? else {
            continue;
        };
        let (mut candidates, oversized) = linker.candidates(tx, source, id)?;
        for key in &oversized {
            blocks.note(key);
        }
        for (i, a) in oversized.iter().enumerate() {
            for b in &oversized[i + 1..] {
                candidates.extend(blocks.both(tx, a, b)?.iter().copied());
            }
        }
        // A record reached through several keys (its title keys, the
        // `tw1:` keys with one word left out, `aye:`) is compared once.
        candidates.sort_unstable();
        candidates.dedup();
        candidates.retain(|&h| h != id && !visited.contains(&h));
        let same = linker.same_as(tx, id, &candidates)?;
        for (h, same) in candidates.into_iter().zip(same) {
            if same {
                visited.insert(h);
                queue.push_back(h);
            }
        }
        out.push(rec);
    }
    Ok(out)
}

/// Which old id a group of this pass keeps at once: `Some(None)` when its
/// members were in no group before (a new id), `Some(Some(old))` when it
/// holds all of exactly one old group (perhaps with newcomers), `None` when
/// it takes part of an old group or parts of several (a split or a join,
/// decided by [`claim_old_ids`] once every part is known). `shares` counts
/// the group's members per old id, `old_sizes` each old group's size before
/// the pass. Edition clusters and works keep their ids by these rules.
pub(crate) fn kept_whole(
    shares: &BTreeMap<String, usize>,
    old_sizes: &HashMap<String, usize>,
) -> Option<Option<String>> {
    match shares.iter().next() {
        None => Some(None),
        Some((old, &n)) if shares.len() == 1 && old_sizes.get(old) == Some(&n) => {
            Some(Some(old.clone()))
        }
        _ => None,
    }
}

/// Splits and joins: given each deferred part's shares of old ids and its
/// lowest member, the old id each part keeps. Each old id goes to the part
/// that took most of its members (ties to the part with the lowest member),
/// each part gets at most one; parts left with `None` get a new id.
pub(crate) fn claim_old_ids<L: Ord>(
    parts: &[(&BTreeMap<String, usize>, L)],
) -> Vec<Option<String>> {
    let mut claims: Vec<(usize, &String, usize)> = Vec::new();
    for (i, (shares, _)) in parts.iter().enumerate() {
        for (old, &n) in shares.iter() {
            claims.push((n, old, i));
        }
    }
    claims.sort_by(|x, y| {
        y.0.cmp(&x.0)
            .then_with(|| x.1.cmp(y.1))
            .then_with(|| parts[x.2].1.cmp(&parts[y.2].1))
    });
    let mut ids: Vec<Option<String>> = vec![None; parts.len()];
    let mut taken = HashSet::new();
    for (_, old, i) in claims {
        if ids[i].is_none() && taken.insert(old) {
            ids[i] = Some(old.clone());
        }
    }
    ids
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
pub(crate) struct Blocks {
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
    pub(crate) fn report(&self) {
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
