//! The PostgreSQL store's work tables: the same operations as the SQLite
//! store's (`store::works`), in PostgreSQL's SQL, inside the dedup
//! transaction (`PgTx`) or on a plain handle for `explain` and `report`.

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
