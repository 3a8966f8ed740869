//! The dedup pass on PostgreSQL in round trips per batch, not per record
//! (issue #20, item 2). The pass asks one question at a time (this
//! record's cluster, that cluster's members, this record's text), which
//! SQLite answers from its page cache in a microsecond and PostgreSQL in a
//! round trip of some fifty. Three things here keep the answers and drop
//! the trips:
//!
//! - source records are read a read-ahead batch at a time (`= ANY($1)`);
//! - a large pass holds the cluster table in memory ([`ClusterMirror`]):
//!   lookups are answered from it, and the pass's changes to it are sent
//!   as a few multi-row statements before the pass commits;
//! - union records are written a merge batch at a time: one query for the
//!   stored hashes, one upsert over arrays for the changed ones.
//!
//! What a pass reads and writes is the same as the per-row code's, so a
//! pass gives the same clusters, union records and sequence numbers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::Result;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;

use super::{source_row, PgTx};
use crate::store::{now_rfc3339, SourceRecord, UnionPut};

/// Ids per statement of a batched read or write: big enough that the
/// round trip is noise, small enough that one message stays a few
/// megabytes.
const CHUNK: usize = 10_000;

/// Pending cluster changes sent once this many have built up (and at
/// commit), so that what waits in memory stays bounded.
const FLUSH_AT: usize = 50_000;

/// The cluster table as this transaction has left it, for a pass that
/// touches much of the catalogue. The dedup lock keeps every other writer
/// out, so the copy read at the start stays true; the pass's own changes
/// are applied here at once and queued for the server.
#[derive(Default)]
pub(super) struct ClusterMirror {
    of: HashMap<i64, Arc<str>>,
    /// Each cluster's members, sorted (a few each: a vector is a tenth of
    /// a tree's size).
    members: HashMap<Arc<str>, Vec<i64>>,
    /// Changes not sent yet: the last one per record.
    pending: BTreeMap<i64, Option<Arc<str>>>,
}

impl ClusterMirror {
    fn cluster_of(&self, record_id: i64) -> Option<String> {
        self.of.get(&record_id).map(|c| c.to_string())
    }

    /// In record id order, as the table's index gives them.
    fn members_of(&self, cluster_id: &str) -> Vec<i64> {
        self.members.get(cluster_id).cloned().unwrap_or_default()
    }

    fn set(&mut self, record_id: i64, cluster_id: Option<&str>) {
        if let Some(old) = self.of.remove(&record_id) {
            if let Some(m) = self.members.get_mut(&old) {
                if let Ok(i) = m.binary_search(&record_id) {
                    m.remove(i);
                }
                if m.is_empty() {
                    self.members.remove(&old);
                }
            }
        }
        let new: Option<Arc<str>> = cluster_id.map(|c| match self.members.get_key_value(c) {
            // One allocation per cluster, shared by its members.
            Some((k, _)) => k.clone(),
            None => Arc::from(c),
        });
        if let Some(c) = &new {
            self.of.insert(record_id, c.clone());
            let m = self.members.entry(c.clone()).or_default();
            if let Err(i) = m.binary_search(&record_id) {
                m.insert(i, record_id);
            }
        }
        self.pending.insert(record_id, new);
    }
}

impl PgTx<'_> {
    /// Read the cluster table into memory for the rest of this pass (see
    /// [`ClusterMirror`]); worth it when the pass examines a good part of
    /// the catalogue, not for a few changed records.
    pub fn hold_clusters(&self) -> Result<()> {
        let mut mirror = ClusterMirror::default();
        self.with(
            "SELECT record_id, cluster_id FROM cluster_members",
            |tx, st| {
                let mut rows = tx.query_raw(st, std::iter::empty::<&(dyn ToSql + Sync)>())?;
                while let Some(r) = rows.next()? {
                    let id: i64 = r.try_get(0)?;
                    let cluster: &str = r.try_get(1)?;
                    mirror.set(id, Some(cluster));
                }
                Ok(())
            },
        )?;
        // What was read is what the server holds: nothing to send.
        mirror.pending.clear();
        *self.clusters.borrow_mut() = Some(mirror);
        Ok(())
    }

    /// The cluster of a record from the mirror, if the pass holds one
    /// (`None` then means: ask the server).
    pub(super) fn held_cluster_of(&self, record_id: i64) -> Option<Option<String>> {
        self.clusters
            .borrow()
            .as_ref()
            .map(|m| m.cluster_of(record_id))
    }

    /// The members of a cluster from the mirror, if the pass holds one.
    pub(super) fn held_members_of(&self, cluster_id: &str) -> Option<Vec<i64>> {
        self.clusters
            .borrow()
            .as_ref()
            .map(|m| m.members_of(cluster_id))
    }

    /// Apply a cluster change to the mirror, if the pass holds one;
    /// returns whether it did (else the caller writes it through).
    pub(super) fn held_set_cluster(
        &self,
        record_id: i64,
        cluster_id: Option<&str>,
    ) -> Result<bool> {
        let full = {
            let mut guard = self.clusters.borrow_mut();
            let Some(mirror) = guard.as_mut() else {
                return Ok(false);
            };
            mirror.set(record_id, cluster_id);
            mirror.pending.len() >= FLUSH_AT
        };
        if full {
            self.send_cluster_changes()?;
        }
        Ok(true)
    }

    /// Send the mirror's pending changes: one delete and one upsert per
    /// [`CHUNK`] records.
    pub(super) fn send_cluster_changes(&self) -> Result<()> {
        let pending = match self.clusters.borrow_mut().as_mut() {
            Some(m) => std::mem::take(&mut m.pending),
            None => return Ok(()),
        };
        let mut gone: Vec<i64> = Vec::new();
        let mut moved: (Vec<i64>, Vec<&str>) = (Vec::new(), Vec::new());
        for (id, cluster) in &pending {
            match cluster {
                Some(c) => {
                    moved.0.push(*id);
                    moved.1.push(c);
                }
                None => gone.push(*id),
            }
        }
        for ids in gone.chunks(CHUNK) {
            self.with(
                "DELETE FROM cluster_members WHERE record_id = ANY($1)",
                |tx, st| Ok(tx.execute(st, &[&ids]).map(|_| ())?),
            )?;
        }
        for (ids, clusters) in moved.0.chunks(CHUNK).zip(moved.1.chunks(CHUNK)) {
            self.with(
                "INSERT INTO cluster_members (record_id, cluster_id)
                 SELECT * FROM unnest($1::BIGINT[], $2::TEXT[])
                 ON CONFLICT (record_id) DO UPDATE SET cluster_id = EXCLUDED.cluster_id",
                |tx, st| Ok(tx.execute(st, &[&ids, &clusters]).map(|_| ())?),
            )?;
        }
        Ok(())
    }

    /// The live source records among `ids`, in `ids` order (`None` for a
    /// deleted or unknown one), read [`CHUNK`] at a time.
    pub fn live_sources(&self, ids: &[i64]) -> Result<Vec<Option<SourceRecord>>> {
        let mut found: HashMap<i64, SourceRecord> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            self.with(
                "SELECT id, partner, oai_id, local_id, record FROM source_records
                 WHERE id = ANY($1) AND NOT deleted",
                |tx, st| {
                    for r in tx.query(st, &[&chunk])? {
                        let s = source_row(&r)?;
                        found.insert(s.id, s);
                    }
                    Ok(())
                },
            )?;
        }
        // An id asked for twice gets the record twice.
        let mut first: HashMap<i64, usize> = HashMap::new();
        let mut out: Vec<Option<SourceRecord>> = Vec::with_capacity(ids.len());
        for &id in ids {
            match first.get(&id) {
                Some(&i) => out.push(out[i].clone()),
                None => {
                    first.insert(id, out.len());
                    out.push(found.remove(&id));
                }
            }
        }
        Ok(out)
    }

    /// Store a batch of union records, in order, as [`PgTx::put_union`]
    /// would one by one: an unchanged one (same hash, still live) costs
    /// nothing, each changed one takes the next sequence number. Two
    /// statements per [`CHUNK`]. Returns how many changed.
    pub fn put_unions(&self, batch: &[UnionPut]) -> Result<usize> {
        let mut changed = 0;
        for chunk in batch.chunks(CHUNK) {
            changed += self.put_union_chunk(chunk)?;
        }
        Ok(changed)
    }

    fn put_union_chunk(&self, batch: &[UnionPut]) -> Result<usize> {
        let ids: Vec<&str> = batch.iter().map(|u| u.cluster_id.as_str()).collect();
        // Live records' hashes; a deleted or unknown one always changes.
        let mut live: HashMap<String, Option<String>> = HashMap::new();
        self.with(
            "SELECT cluster_id, content_hash FROM union_records
             WHERE cluster_id = ANY($1) AND NOT deleted",
            |tx, st| {
                for r in tx.query(st, &[&ids])? {
                    live.insert(r.try_get(0)?, r.try_get(1)?);
                }
                Ok(())
            },
        )?;
        // The writes in batch order; a cluster written twice keeps its
        // last version (and both took a sequence number, as one by one).
        let mut writes: BTreeMap<&str, (i64, &UnionPut)> = BTreeMap::new();
        for u in batch {
            if let Some(Some(h)) = live.get(&u.cluster_id) {
                if *h == u.hash {
                    continue;
                }
            }
            let seq = self.next_seq()?;
            live.insert(u.cluster_id.clone(), Some(u.hash.clone()));
            writes.insert(&u.cluster_id, (seq, u));
        }
        if writes.is_empty() {
            return Ok(0);
        }
        // The columns of the upsert, one array each.
        let ids: Vec<&str> = writes.keys().copied().collect();
        let seqs: Vec<i64> = writes.values().map(|(seq, _)| *seq).collect();
        let records: Vec<&str> = writes.values().map(|(_, u)| u.record.as_str()).collect();
        let hashes: Vec<&str> = writes.values().map(|(_, u)| u.hash.as_str()).collect();
        let members: Vec<i64> = writes
            .values()
            .map(|(_, u)| i64::try_from(u.members).unwrap_or(i64::MAX))
            .collect();
        let now = now_rfc3339();
        // updated_at is the OAI-PMH datestamp (see `put_union`).
        self.with(
            "INSERT INTO union_records (cluster_id, seq, deleted, record, content_hash, members, updated_at)
             SELECT c, s, false, r, h, m, $6
             FROM unnest($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[]) AS u(c, s, r, h, m)
             ON CONFLICT (cluster_id) DO UPDATE SET seq = EXCLUDED.seq, deleted = false, record = EXCLUDED.record,
                 content_hash = EXCLUDED.content_hash, members = EXCLUDED.members, updated_at = EXCLUDED.updated_at",
            |tx, st| {
                tx.execute(st, &[&ids, &seqs, &records, &hashes, &members, &now])?;
                Ok(())
            },
        )?;
        Ok(writes.len())
    }
}
