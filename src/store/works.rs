//! The SQLite store's work tables (issue #18): work keys of union records,
//! work membership and links between union records, written by the work
//! pass (`works_pass`) inside a dedup transaction and read by `explain`
//! and `report`.
//!
//! Kept apart from the edition tables' code so that the two passes can
//! change independently; the PostgreSQL twin is `store::pg::works`, with
//! the same operations and the same meaning.

use anyhow::Result;
use rusqlite::{params, OptionalExtension};

use super::packed::Stored;
use super::{now_rfc3339, SqliteStore, SqliteTx};

/// One link as stored: from the union record that carries the field to
/// `other`; `kind` says how `other` relates to the first (see
/// `dedup::works::Relation::code`), `evidence` why they were linked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WorkLink {
    /// The union id the link points to.
    pub other: String,
    /// How `other` relates to the union record holding the link.
    pub kind: String,
    /// A short note on what linked them (shared work key, languages,
    /// carriers, an override).
    pub evidence: String,
}

fn link_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<WorkLink> {
    Ok(WorkLink {
        other: r.get(0)?,
        kind: r.get(1)?,
        evidence: r.get(2)?,
    })
}

impl SqliteTx<'_> {
    /// Union ids (with whether each is live) whose record changed after
    /// `seq`, in id order: the work pass's input.
    pub fn unions_changed_since(&self, seq: i64) -> Result<Vec<(String, bool)>> {
        // Union records this transaction wrote are read back too.
        self.flush_unions()?;
        let mut stmt = self.tx.prepare(
            "SELECT cluster_id, deleted = 0 FROM union_records INDEXED BY union_seq
             WHERE seq > ?1 ORDER BY cluster_id",
        )?;
        let rows = stmt.query_map([seq], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A live union record's MARCXML.
    pub fn live_union(&self, union_id: &str) -> Result<Option<String>> {
        Ok(match self.live_union_stored(union_id)? {
            Some(stored) => Some(stored.into_text()?),
            None => None,
        })
    }

    /// A live union record as stored, to be unpacked where it is parsed
    /// (the work pass does that on its worker threads).
    pub fn live_union_stored(&self, union_id: &str) -> Result<Option<Stored>> {
        // Union records this transaction wrote are read back too.
        self.flush_unions()?;
        Ok(self
            .tx
            .prepare_cached(
                "SELECT record FROM union_records WHERE cluster_id = ?1 AND deleted = 0",
            )?
            .query_row([union_id], |r| r.get::<_, Option<Stored>>(0))
            .optional()?
            .flatten())
    }

    /// Replace a union record's work keys (none: remove them).
    ///
    /// Only the keys that changed are written: a union record whose
    /// members changed keeps its title, and so its keys, a third of the
    /// time (424 of 1,266 after the benchmark's 1,000 changes), and each
    /// key written lands on a page of its own in both indexes of
    /// `work_keys` (keys are random), a page the pass then writes to the
    /// log and copies back into the database file.
    pub fn set_work_keys(&self, union_id: &str, keys: &[String]) -> Result<()> {
        let old = self.work_keys_of(union_id)?;
        let mut new: Vec<&str> = keys.iter().map(String::as_str).collect();
        new.sort_unstable();
        new.dedup();
        if old.iter().map(String::as_str).eq(new.iter().copied()) {
            return Ok(());
        }
        let mut delete = self
            .tx
            .prepare_cached("DELETE FROM work_keys WHERE key = ?1 AND union_id = ?2")?;
        for k in old
            .iter()
            .filter(|k| new.binary_search(&k.as_str()).is_err())
        {
            delete.execute(params![k, union_id])?;
        }
        let mut insert = self
            .tx
            .prepare_cached("INSERT OR IGNORE INTO work_keys (key, union_id) VALUES (?1, ?2)")?;
        for k in new
            .iter()
            .filter(|k| old.binary_search_by(|o| o.as_str().cmp(k)).is_err())
        {
            insert.execute(params![k, union_id])?;
        }
        Ok(())
    }

    /// A union record's work keys, sorted.
    pub fn work_keys_of(&self, union_id: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT key FROM work_keys WHERE union_id = ?1 ORDER BY key")?;
        let rows = stmt.query_map([union_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Union records holding a work key, in id order, at most `limit` + 1
    /// (so that the caller can tell a key too common to link on).
    pub fn unions_with_work_key(&self, key: &str, limit: usize) -> Result<Vec<String>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT union_id FROM work_keys WHERE key = ?1 ORDER BY union_id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![key, super::limit_plus_one(limit)], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Union records holding a work key that one to `max` records hold,
    /// i.e. every union record that is not a work of its own: one pass
    /// over the key index instead of a look-up per key of every record.
    pub fn unions_sharing_a_work_key(&self, max: usize) -> Result<Vec<String>> {
        let mut stmt = self.tx.prepare(
            "SELECT DISTINCT union_id FROM work_keys WHERE key IN
               (SELECT key FROM work_keys GROUP BY key HAVING count(*) BETWEEN 2 AND ?1)",
        )?;
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let rows = stmt.query_map([max], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The work a union record belongs to (none when it has no links).
    pub fn work_of(&self, union_id: &str) -> Result<Option<String>> {
        Ok(self
            .tx
            .prepare_cached("SELECT work_id FROM work_members WHERE union_id = ?1")?
            .query_row([union_id], |r| r.get(0))
            .optional()?)
    }

    /// The union records of a work, in id order.
    pub fn work_members(&self, work_id: &str) -> Result<Vec<String>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT union_id FROM work_members WHERE work_id = ?1 ORDER BY union_id",
        )?;
        let rows = stmt.query_map([work_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Put a union record in a work, or in none.
    pub fn set_work(&self, union_id: &str, work_id: Option<&str>) -> Result<()> {
        match work_id {
            Some(w) => self
                .tx
                .prepare_cached(
                    "INSERT INTO work_members (union_id, work_id) VALUES (?1, ?2)
                     ON CONFLICT (union_id) DO UPDATE SET work_id = ?2",
                )?
                .execute(params![union_id, w])?,
            None => self
                .tx
                .prepare_cached("DELETE FROM work_members WHERE union_id = ?1")?
                .execute([union_id])?,
        };
        Ok(())
    }

    /// The links a union record holds, by the other's id.
    pub fn work_links_of(&self, union_id: &str) -> Result<Vec<WorkLink>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT union_b, kind, evidence FROM work_links WHERE union_a = ?1 ORDER BY union_b",
        )?;
        let rows = stmt.query_map([union_id], link_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Replace the links a union record holds.
    pub fn set_work_links(&self, union_id: &str, links: &[WorkLink]) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM work_links WHERE union_a = ?1")?
            .execute([union_id])?;
        let mut insert = self.tx.prepare_cached(
            "INSERT OR REPLACE INTO work_links (union_a, union_b, kind, evidence) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for l in links {
            insert.execute(params![union_id, l.other, l.kind, l.evidence])?;
        }
        Ok(())
    }

    /// Union records that hold a link or a work id, in id order.
    pub fn linked_unions(&self) -> Result<Vec<String>> {
        let mut stmt = self.tx.prepare(
            "SELECT union_a FROM work_links UNION SELECT union_id FROM work_members ORDER BY 1",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Empty the work tables (the work links were switched off).
    pub fn clear_works(&self) -> Result<()> {
        self.tx.execute_batch(
            "DELETE FROM work_keys; DELETE FROM work_members; DELETE FROM work_links;",
        )?;
        Ok(())
    }

    /// Rewrite a live union record with its links: a new version only if
    /// the text changed. The content hash is left as the merge wrote it,
    /// so that the edition pass still sees an unchanged cluster as
    /// unchanged (its hash is of the merged record, before links).
    pub fn put_union_links(&self, union_id: &str, record: &str) -> Result<bool> {
        // Union records this transaction wrote are read back too.
        self.flush_unions()?;
        let current: Option<String> = self
            .tx
            .prepare_cached(
                "SELECT record FROM union_records WHERE cluster_id = ?1 AND deleted = 0",
            )?
            .query_row([union_id], |r| super::packed::get(r, 0))
            .optional()?
            .flatten();
        match current {
            None => return Ok(false),
            Some(c) if c == record => return Ok(false),
            Some(_) => {}
        }
        self.rewrite_union(union_id, Stored::Packed(super::packed::pack(record)))?;
        Ok(true)
    }

    /// Rewrite a live union record with its links, as [`Self::put_union_links`]
    /// does, for a caller that has already found that the text changed
    /// and packed it (the work pass, on its worker threads).
    pub fn put_union_links_stored(&self, union_id: &str, record: Stored) -> Result<bool> {
        self.flush_unions()?;
        let live = self
            .tx
            .prepare_cached("SELECT 1 FROM union_records WHERE cluster_id = ?1 AND deleted = 0")?
            .exists([union_id])?;
        if !live {
            return Ok(false);
        }
        self.rewrite_union(union_id, record)?;
        Ok(true)
    }

    /// A new version of a live union record, with the merge's hash kept.
    fn rewrite_union(&self, union_id: &str, record: Stored) -> Result<()> {
        let seq = self.next_seq()?;
        let mut update = self.tx.prepare_cached(
            "UPDATE union_records SET seq = ?2, record = ?3, updated_at = ?4 WHERE cluster_id = ?1",
        )?;
        match record {
            Stored::Packed(bytes) => {
                update.execute(params![union_id, seq, bytes, now_rfc3339()])?
            }
            Stored::Text(text) => update.execute(params![union_id, seq, text, now_rfc3339()])?,
        };
        Ok(())
    }

    /// The change sequence number as this transaction has left it so far.
    pub fn seq_now(&self) -> Result<i64> {
        match self.seq.get() {
            Some(s) => Ok(s),
            None => Ok(self
                .tx
                .query_row("SELECT value FROM meta WHERE key = 'seq'", [], |r| r.get(0))?),
        }
    }
}

impl SqliteStore {
    /// The work a union record belongs to.
    pub fn work_of(&self, union_id: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT work_id FROM work_members WHERE union_id = ?1",
                [union_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The links a union record holds, by the other's id.
    pub fn work_links_of(&self, union_id: &str) -> Result<Vec<WorkLink>> {
        let mut stmt = self.conn.prepare(
            "SELECT union_b, kind, evidence FROM work_links WHERE union_a = ?1 ORDER BY union_b",
        )?;
        let rows = stmt.query_map([union_id], link_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Links per kind (each link counted once, not once per direction:
    /// the row from the lower union id), and the number of works.
    pub fn work_link_counts(&self) -> Result<(Vec<(String, u64)>, u64)> {
        let mut stmt = self.conn.prepare(
            "SELECT kind, count(*) FROM work_links WHERE union_a < union_b GROUP BY kind ORDER BY kind",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        let kinds = rows.collect::<Result<_, _>>()?;
        let works: i64 = self.conn.query_row(
            "SELECT count(DISTINCT work_id) FROM work_members",
            [],
            |r| r.get(0),
        )?;
        Ok((kinds, works as u64))
    }
}
