//! The PostgreSQL store's work tables: the same operations as the SQLite
//! store's (`store::works`), in PostgreSQL's SQL, inside the dedup
//! transaction (`PgTx`) or on a plain handle for `explain` and `report`.
//!
//! The work pass reads and writes a batch of union records at a time
//! (issue #20, "round trips, not rows"): each `…_many` method is one
//! statement over an array (`= ANY($1)`, `unnest`) where the per-record
//! method is one statement per record, a round trip each.

use std::collections::{HashMap, HashSet};

use anyhow::Result;

use super::{PgStore, PgTx};
use crate::store::{now_rfc3339, WorkLink};

fn link_row(r: &postgres::Row) -> Result<WorkLink> {
    Ok(WorkLink {
        other: r.try_get(0)?,
        kind: r.try_get(1)?,
        evidence: r.try_get(2)?,
    })
}

impl PgTx<'_> {
    /// Union ids (with whether each is live) whose record changed after
    /// `seq`, in id order.
    pub fn unions_changed_since(&self, seq: i64) -> Result<Vec<(String, bool)>> {
        self.with(
            "SELECT cluster_id, NOT deleted FROM union_records WHERE seq > $1 ORDER BY cluster_id",
            |tx, st| {
                tx.query(st, &[&seq])?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                    .collect()
            },
        )
    }

    /// A live union record's MARCXML.
    pub fn live_union(&self, union_id: &str) -> Result<Option<String>> {
        self.with(
            "SELECT record FROM union_records WHERE cluster_id = $1 AND NOT deleted",
            |tx, st| match tx.query_opt(st, &[&union_id])? {
                Some(r) => Ok(r.try_get(0)?),
                None => Ok(None),
            },
        )
    }

    /// Replace a union record's work keys (none: remove them).
    pub fn set_work_keys(&self, union_id: &str, keys: &[String]) -> Result<()> {
        self.with("DELETE FROM work_keys WHERE union_id = $1", |tx, st| {
            Ok(tx.execute(st, &[&union_id]).map(|_| ())?)
        })?;
        if keys.is_empty() {
            return Ok(());
        }
        // One statement for all of a record's keys.
        self.with(
            "INSERT INTO work_keys (key, union_id) SELECT k, $2 FROM unnest($1::text[]) AS k
             ON CONFLICT DO NOTHING",
            |tx, st| Ok(tx.execute(st, &[&keys, &union_id]).map(|_| ())?),
        )
    }

    /// A union record's work keys, sorted.
    pub fn work_keys_of(&self, union_id: &str) -> Result<Vec<String>> {
        self.with(
            "SELECT key FROM work_keys WHERE union_id = $1 ORDER BY key",
            |tx, st| {
                tx.query(st, &[&union_id])?
                    .iter()
                    .map(|r| Ok(r.try_get(0)?))
                    .collect()
            },
        )
    }

    /// Union records holding a work key, in id order, at most `limit` + 1.
    pub fn unions_with_work_key(&self, key: &str, limit: usize) -> Result<Vec<String>> {
        let limit = crate::store::limit_plus_one(limit);
        self.with(
            "SELECT union_id FROM work_keys WHERE key = $1 ORDER BY union_id LIMIT $2",
            |tx, st| {
                tx.query(st, &[&key, &limit])?
                    .iter()
                    .map(|r| Ok(r.try_get(0)?))
                    .collect()
            },
        )
    }

    /// Union records holding a work key that one to `max` records hold
    /// (see the SQLite store's `unions_sharing_a_work_key`).
    pub fn unions_sharing_a_work_key(&self, max: usize) -> Result<Vec<String>> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        self.with(
            "SELECT DISTINCT union_id FROM work_keys WHERE key IN
               (SELECT key FROM work_keys GROUP BY key HAVING count(*) BETWEEN 2 AND $1)",
            |tx, st| {
                tx.query(st, &[&max])?
                    .iter()
                    .map(|r| Ok(r.try_get(0)?))
                    .collect()
            },
        )
    }

    /// The work a union record belongs to (none when it has no links).
    pub fn work_of(&self, union_id: &str) -> Result<Option<String>> {
        self.with(
            "SELECT work_id FROM work_members WHERE union_id = $1",
            |tx, st| match tx.query_opt(st, &[&union_id])? {
                Some(r) => Ok(Some(r.try_get(0)?)),
                None => Ok(None),
            },
        )
    }

    /// The union records of a work, in id order.
    pub fn work_members(&self, work_id: &str) -> Result<Vec<String>> {
        self.with(
            "SELECT union_id FROM work_members WHERE work_id = $1 ORDER BY union_id",
            |tx, st| {
                tx.query(st, &[&work_id])?
                    .iter()
                    .map(|r| Ok(r.try_get(0)?))
                    .collect()
            },
        )
    }

    /// Put a union record in a work, or in none.
    pub fn set_work(&self, union_id: &str, work_id: Option<&str>) -> Result<()> {
        match work_id {
            Some(w) => self.with(
                "INSERT INTO work_members (union_id, work_id) VALUES ($1, $2)
                 ON CONFLICT (union_id) DO UPDATE SET work_id = EXCLUDED.work_id",
                |tx, st| Ok(tx.execute(st, &[&union_id, &w]).map(|_| ())?),
            ),
            None => self.with("DELETE FROM work_members WHERE union_id = $1", |tx, st| {
                Ok(tx.execute(st, &[&union_id]).map(|_| ())?)
            }),
        }
    }

    /// The links a union record holds, by the other's id.
    pub fn work_links_of(&self, union_id: &str) -> Result<Vec<WorkLink>> {
        self.with(
            "SELECT union_b, kind, evidence FROM work_links WHERE union_a = $1 ORDER BY union_b",
            |tx, st| tx.query(st, &[&union_id])?.iter().map(link_row).collect(),
        )
    }

    /// Replace the links a union record holds.
    pub fn set_work_links(&self, union_id: &str, links: &[WorkLink]) -> Result<()> {
        self.with("DELETE FROM work_links WHERE union_a = $1", |tx, st| {
            Ok(tx.execute(st, &[&union_id]).map(|_| ())?)
        })?;
        for l in links {
            self.with(
                "INSERT INTO work_links (union_a, union_b, kind, evidence) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (union_a, union_b) DO UPDATE SET kind = EXCLUDED.kind, evidence = EXCLUDED.evidence",
                |tx, st| {
                    Ok(tx
                        .execute(st, &[&union_id, &l.other, &l.kind, &l.evidence])
                        .map(|_| ())?)
                },
            )?;
        }
        Ok(())
    }

    /// Union records that hold a link or a work id, in id order.
    pub fn linked_unions(&self) -> Result<Vec<String>> {
        self.with(
            "SELECT union_a FROM work_links UNION SELECT union_id FROM work_members ORDER BY 1",
            |tx, st| {
                tx.query(st, &[])?
                    .iter()
                    .map(|r| Ok(r.try_get(0)?))
                    .collect()
            },
        )
    }

    /// Empty the work tables (the work links were switched off).
    pub fn clear_works(&self) -> Result<()> {
        for sql in [
            "DELETE FROM work_keys",
            "DELETE FROM work_members",
            "DELETE FROM work_links",
        ] {
            self.with(sql, |tx, st| Ok(tx.execute(st, &[]).map(|_| ())?))?;
        }
        Ok(())
    }

    /// Rewrite a live union record with its links: a new version only if
    /// the text changed; the merge's content hash is kept (see the SQLite
    /// store's `put_union_links`).
    pub fn put_union_links(&self, union_id: &str, record: &str) -> Result<bool> {
        let current: Option<String> = self.with(
            "SELECT record FROM union_records WHERE cluster_id = $1 AND NOT deleted",
            |tx, st| match tx.query_opt(st, &[&union_id])? {
                Some(r) => Ok(r.try_get(0)?),
                None => Ok(None),
            },
        )?;
        match current {
            None => return Ok(false),
            Some(c) if c == record => return Ok(false),
            Some(_) => {}
        }
        let seq = self.next_seq()?;
        self.with(
            "UPDATE union_records SET seq = $2, record = $3, updated_at = $4 WHERE cluster_id = $1",
            |tx, st| {
                tx.execute(st, &[&union_id, &seq, &record, &now_rfc3339()])?;
                Ok(())
            },
        )?;
        Ok(true)
    }

    /// Have the server plan each statement of this transaction for the
    /// arguments it is given. A batch's statements select by an array
    /// (`= ANY($1)`); a plan the server keeps for every call would be made
    /// while the work tables were empty (a first load), scan them whole,
    /// and cost more with each row the pass adds (50 s of a 100,000-record
    /// first load's work pass).
    pub fn plan_each_call(&self) -> Result<()> {
        let mut tx = self.tx.try_borrow_mut().map_err(|_| {
            anyhow::anyhow!(
                "the dedup transaction is busy (called from inside one of its own callbacks)"
            )
        })?;
        tx.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan")?;
        Ok(())
    }

    /// Live union records' MARCXML, in `ids` order (None: deleted, or no
    /// such record): [`Self::live_union`] for a batch.
    pub fn live_unions(&self, ids: &[String]) -> Result<Vec<Option<String>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut found: HashMap<String, Option<String>> = self.with(
            "SELECT cluster_id, record FROM union_records WHERE cluster_id = ANY($1) AND NOT deleted",
            |tx, st| {
                tx.query(st, &[&ids])?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                    .collect()
            },
        )?;
        Ok(ids.iter().map(|id| found.remove(id).flatten()).collect())
    }

    /// Replace the work keys of a batch of union records: what
    /// [`Self::set_work_keys`] does for each, in two statements.
    pub fn set_work_keys_many(&self, rows: &[(String, Vec<String>)]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
        self.with(
            "DELETE FROM work_keys WHERE union_id = ANY($1)",
            |tx, st| Ok(tx.execute(st, &[&ids]).map(|_| ())?),
        )?;
        // A union record listed twice keeps its last keys, as one call
        // each in order would leave it.
        let mut seen: HashSet<&str> = HashSet::new();
        let (mut keys, mut owners): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
        for (id, ks) in rows.iter().rev() {
            if seen.insert(id) {
                for k in ks {
                    keys.push(k);
                    owners.push(id);
                }
            }
        }
        if keys.is_empty() {
            return Ok(());
        }
        self.with(
            "INSERT INTO work_keys (key, union_id) SELECT * FROM unnest($1::text[], $2::text[])
             ON CONFLICT DO NOTHING",
            |tx, st| Ok(tx.execute(st, &[&keys, &owners]).map(|_| ())?),
        )
    }

    /// The work keys of each union record, sorted, in `ids` order:
    /// [`Self::work_keys_of`] for a batch.
    pub fn work_keys_of_many(&self, ids: &[String]) -> Result<Vec<Vec<String>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut found: HashMap<String, Vec<String>> = HashMap::new();
        self.with(
            "SELECT union_id, key FROM work_keys WHERE union_id = ANY($1) ORDER BY union_id, key",
            |tx, st| {
                for r in tx.query(st, &[&ids])? {
                    found.entry(r.try_get(0)?).or_default().push(r.try_get(1)?);
                }
                Ok(())
            },
        )?;
        Ok(ids
            .iter()
            .map(|id| found.remove(id).unwrap_or_default())
            .collect())
    }

    /// The union records holding each of `keys`, in id order, at most
    /// `limit` + 1 per key: [`Self::unions_with_work_key`] for a batch of
    /// keys, in `keys` order.
    pub fn unions_with_work_keys(&self, keys: &[String], limit: usize) -> Result<Vec<Vec<String>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let limit = crate::store::limit_plus_one(limit);
        let mut out: Vec<Vec<String>> = vec![Vec::new(); keys.len()];
        self.with(
            "SELECT k.i, w.union_id FROM unnest($1::text[]) WITH ORDINALITY AS k(key, i)
             CROSS JOIN LATERAL (SELECT union_id FROM work_keys
                                 WHERE work_keys.key = k.key ORDER BY union_id LIMIT $2) AS w
             ORDER BY k.i, w.union_id",
            |tx, st| {
                for r in tx.query(st, &[&keys, &limit])? {
                    let i: i64 = r.try_get(0)?;
                    let slot = usize::try_from(i - 1)
                        .ok()
                        .and_then(|i| out.get_mut(i))
                        .ok_or_else(|| anyhow::anyhow!("work key index {i} out of range"))?;
                    slot.push(r.try_get(1)?);
                }
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// The work of each union record, in `ids` order: [`Self::work_of`]
    /// for a batch.
    pub fn works_of(&self, ids: &[String]) -> Result<Vec<Option<String>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut found: HashMap<String, String> = self.with(
            "SELECT union_id, work_id FROM work_members WHERE union_id = ANY($1)",
            |tx, st| {
                tx.query(st, &[&ids])?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                    .collect()
            },
        )?;
        Ok(ids.iter().map(|id| found.remove(id)).collect())
    }

    /// The union records of each work, in id order, in `works` order:
    /// [`Self::work_members`] for a batch.
    pub fn work_members_many(&self, works: &[String]) -> Result<Vec<Vec<String>>> {
        if works.is_empty() {
            return Ok(Vec::new());
        }
        let mut found: HashMap<String, Vec<String>> = HashMap::new();
        self.with(
            "SELECT work_id, union_id FROM work_members WHERE work_id = ANY($1)
             ORDER BY work_id, union_id",
            |tx, st| {
                for r in tx.query(st, &[&works])? {
                    found.entry(r.try_get(0)?).or_default().push(r.try_get(1)?);
                }
                Ok(())
            },
        )?;
        Ok(works
            .iter()
            .map(|w| found.remove(w).unwrap_or_default())
            .collect())
    }

    /// Put each union record in its work, or in none: [`Self::set_work`]
    /// for a batch (the last entry of a record listed twice wins).
    pub fn set_works(&self, rows: &[(String, Option<String>)]) -> Result<()> {
        let mut seen: HashSet<&str> = HashSet::new();
        let (mut gone, mut ids, mut works): (Vec<&str>, Vec<&str>, Vec<&str>) = Default::default();
        for (id, work) in rows.iter().rev() {
            if !seen.insert(id) {
                continue;
            }
            match work {
                Some(w) => {
                    ids.push(id);
                    works.push(w);
                }
                None => gone.push(id),
            }
        }
        if !gone.is_empty() {
            self.with(
                "DELETE FROM work_members WHERE union_id = ANY($1)",
                |tx, st| Ok(tx.execute(st, &[&gone]).map(|_| ())?),
            )?;
        }
        if !ids.is_empty() {
            self.with(
                "INSERT INTO work_members (union_id, work_id)
                 SELECT * FROM unnest($1::text[], $2::text[])
                 ON CONFLICT (union_id) DO UPDATE SET work_id = EXCLUDED.work_id",
                |tx, st| Ok(tx.execute(st, &[&ids, &works]).map(|_| ())?),
            )?;
        }
        Ok(())
    }

    /// The links each union record holds, by the other's id, in `ids`
    /// order: [`Self::work_links_of`] for a batch.
    pub fn work_links_of_many(&self, ids: &[String]) -> Result<Vec<Vec<WorkLink>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut found: HashMap<String, Vec<WorkLink>> = HashMap::new();
        self.with(
            "SELECT union_a, union_b, kind, evidence FROM work_links WHERE union_a = ANY($1)
             ORDER BY union_a, union_b",
            |tx, st| {
                for r in tx.query(st, &[&ids])? {
                    found.entry(r.try_get(0)?).or_default().push(WorkLink {
                        other: r.try_get(1)?,
                        kind: r.try_get(2)?,
                        evidence: r.try_get(3)?,
                    });
                }
                Ok(())
            },
        )?;
        Ok(ids
            .iter()
            .map(|id| found.remove(id).unwrap_or_default())
            .collect())
    }

    /// Replace the links each union record holds: [`Self::set_work_links`]
    /// for a batch, in two statements (the last entry of a record listed
    /// twice wins, as one call each in order would leave it).
    pub fn set_work_links_many(&self, rows: &[(String, Vec<WorkLink>)]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
        self.with(
            "DELETE FROM work_links WHERE union_a = ANY($1)",
            |tx, st| Ok(tx.execute(st, &[&ids]).map(|_| ())?),
        )?;
        let mut seen: HashSet<&str> = HashSet::new();
        let mut pairs: HashSet<(&str, &str)> = HashSet::new();
        let mut cols: (Vec<&str>, Vec<&str>, Vec<&str>, Vec<&str>) = Default::default();
        for (id, links) in rows.iter().rev() {
            if !seen.insert(id) {
                continue;
            }
            for l in links.iter().rev() {
                if pairs.insert((id, &l.other)) {
                    cols.0.push(id);
                    cols.1.push(&l.other);
                    cols.2.push(&l.kind);
                    cols.3.push(&l.evidence);
                }
            }
        }
        if cols.0.is_empty() {
            return Ok(());
        }
        self.with(
            "INSERT INTO work_links (union_a, union_b, kind, evidence)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
             ON CONFLICT (union_a, union_b)
             DO UPDATE SET kind = EXCLUDED.kind, evidence = EXCLUDED.evidence",
            |tx, st| {
                Ok(tx
                    .execute(st, &[&cols.0, &cols.1, &cols.2, &cols.3])
                    .map(|_| ())?)
            },
        )
    }

    /// Rewrite live union records with their links, in order, when the
    /// caller knows each text changed (the work pass compared them): each
    /// live one gets the next change sequence number, the merge's hash is
    /// kept. Returns how many were live, and so rewritten. Two statements
    /// whatever the batch's size.
    pub fn put_unions_links(&self, rows: &[(String, String)]) -> Result<usize> {
        if rows.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
        let live: HashSet<String> = self.with(
            "SELECT cluster_id FROM union_records WHERE cluster_id = ANY($1) AND NOT deleted",
            |tx, st| {
                tx.query(st, &[&ids])?
                    .iter()
                    .map(|r| Ok(r.try_get(0)?))
                    .collect()
            },
        )?;
        // Sequence numbers in the batch's order, as one call each would
        // take them; a record listed twice keeps its last text and number.
        let mut index: HashMap<&str, usize> = HashMap::new();
        let (mut order, mut seqs, mut records): (Vec<&str>, Vec<i64>, Vec<&str>) =
            Default::default();
        let mut rewritten = 0;
        for (id, record) in rows {
            if !live.contains(id) {
                continue;
            }
            let seq = self.next_seq()?;
            rewritten += 1;
            match index.get(id.as_str()) {
                Some(&i) => {
                    seqs[i] = seq;
                    records[i] = record;
                }
                None => {
                    index.insert(id, order.len());
                    order.push(id);
                    seqs.push(seq);
                    records.push(record);
                }
            }
        }
        if order.is_empty() {
            return Ok(0);
        }
        self.with(
            "UPDATE union_records AS u SET seq = v.seq, record = v.record, updated_at = $4
             FROM unnest($1::text[], $2::bigint[], $3::text[]) AS v(id, seq, record)
             WHERE u.cluster_id = v.id",
            |tx, st| {
                tx.execute(st, &[&order, &seqs, &records, &now_rfc3339()])?;
                Ok(())
            },
        )?;
        Ok(rewritten)
    }

    /// The change sequence number as this transaction has left it so far.
    pub fn seq_now(&self) -> Result<i64> {
        match self.seq.get() {
            Some(s) => Ok(s),
            None => self.with("SELECT value FROM meta WHERE key = 'seq'", |tx, st| {
                Ok(tx.query_one(st, &[])?.try_get(0)?)
            }),
        }
    }
}

impl PgStore {
    /// The work a union record belongs to.
    pub fn work_of(&self, union_id: &str) -> Result<Option<String>> {
        match self.query_opt(
            "SELECT work_id FROM work_members WHERE union_id = $1",
            &[&union_id],
        )? {
            Some(r) => Ok(Some(r.try_get(0)?)),
            None => Ok(None),
        }
    }

    /// The links a union record holds, by the other's id.
    pub fn work_links_of(&self, union_id: &str) -> Result<Vec<WorkLink>> {
        self.query(
            "SELECT union_b, kind, evidence FROM work_links WHERE union_a = $1 ORDER BY union_b",
            &[&union_id],
        )?
        .iter()
        .map(link_row)
        .collect()
    }

    /// Links per kind (each counted once, from the lower union id's row)
    /// and the number of works.
    pub fn work_link_counts(&self) -> Result<(Vec<(String, u64)>, u64)> {
        let kinds = self
            .query(
                "SELECT kind, count(*) FROM work_links WHERE union_a < union_b GROUP BY kind ORDER BY kind",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get::<_, i64>(1)? as u64)))
            .collect::<Result<_>>()?;
        let works: i64 = self
            .query_one("SELECT count(DISTINCT work_id) FROM work_members", &[])?
            .try_get(0)?;
        Ok((kinds, works as u64))
    }
}
