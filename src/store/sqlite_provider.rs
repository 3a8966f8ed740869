//! The SQLite store's reads for the OAI-PMH provider: a read-only handle,
//! union records by id, pages of the (datestamp, union id) list with an
//! optional set, their counts, and the earliest datestamp.
//!
//! Every page query walks the `union_updated` index in list order, so a
//! page costs one index seek however large the catalogue and however narrow
//! the window (a test below checks the query plans). Nothing here writes:
//! the provider's handle is opened read-only and never migrates, so a
//! request never waits for a harvest's write lock. Records without a
//! datestamp (stored before migration 5) are listed by their own query, in
//! union id order; what datestamp they are served with is the provider's
//! business, not the store's.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{named_params, Connection, OpenFlags, OptionalExtension};

use super::listing::UnionListRow;
use super::{SqliteStore, DB_FILE};

/// The set filter of the list queries: every deletion, and the live union
/// records with a member from `:partner` (NULL: no set). A deleted union
/// record no longer knows its members' partners, so it is in every set.
macro_rules! set_filter {
    () => {
        "(:partner IS NULL OR u.deleted = 1 OR EXISTS (
            SELECT 1 FROM cluster_members c JOIN source_records s ON s.id = c.record_id
            WHERE c.cluster_id = u.cluster_id AND s.partner = :partner))"
    };
}

/// The columns of a listed row; the record text only if `:with_record`.
macro_rules! row_columns {
    () => {
        "u.cluster_id, u.deleted, u.updated_at, CASE WHEN :with_record THEN u.record END"
    };
}

/// Records without a datestamp, in union id order, after `:after`.
pub(super) const UNDATED_PAGE: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM union_records u
     WHERE u.updated_at IS NULL AND u.cluster_id > :after AND ",
    set_filter!(),
    " ORDER BY u.updated_at, u.cluster_id LIMIT :limit"
);

/// Dated records after (`:ts`, `:after`) up to `:until`, in (datestamp,
/// union id) order.
pub(super) const DATED_PAGE: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM union_records u
     WHERE (u.updated_at, u.cluster_id) > (:ts, :after) AND u.updated_at <= :until AND ",
    set_filter!(),
    " ORDER BY u.updated_at, u.cluster_id LIMIT :limit"
);

const UNDATED_COUNT: &str = concat!(
    "SELECT count(*) FROM union_records u WHERE u.updated_at IS NULL AND ",
    set_filter!()
);

const DATED_COUNT: &str = concat!(
    "SELECT count(*) FROM union_records u
     WHERE (u.updated_at, u.cluster_id) > (:ts, '') AND u.updated_at <= :until AND ",
    set_filter!()
);

fn list_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UnionListRow> {
    Ok(UnionListRow {
        cluster_id: r.get(0)?,
        deleted: r.get::<_, i64>(1)? != 0,
        updated_at: r.get(2)?,
        record: super::packed::get(r, 3)?,
    })
}

fn to_count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl SqliteStore {
    /// Open the database in `state_dir` read-only, without creating or
    /// migrating it, waiting up to `busy_timeout` for a writer's lock: the
    /// provider's handle, which must never write (and so never waits for
    /// the write lock a migration check would take). A missing database is
    /// an error, not a new empty one.
    pub fn open_reader(state_dir: &Path, busy_timeout: Duration) -> Result<SqliteStore> {
        let path = state_dir.join(DB_FILE);
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening {} read-only", path.display()))?;
        conn.busy_timeout(busy_timeout)?;
        Ok(SqliteStore {
            conn,
            path,
            checkpointer: std::cell::OnceCell::new(),
        })
    }

    /// A union record by id, with its record text.
    pub fn union_list_row(&self, cluster_id: &str) -> Result<Option<UnionListRow>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT cluster_id, deleted, updated_at, record FROM union_records
                 WHERE cluster_id = ?1",
            )?
            .query_row([cluster_id], list_row)
            .optional()?)
    }

    /// The partners holding a member of a cluster (unordered, each once).
    pub fn union_partners(&self, cluster_id: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT s.partner FROM cluster_members c JOIN source_records s ON s.id = c.record_id
             WHERE c.cluster_id = ?1",
        )?;
        let partners = stmt.query_map([cluster_id], |r| r.get(0))?;
        Ok(partners.collect::<Result<_, _>>()?)
    }

    /// Whether any union record has no datestamp.
    pub fn has_undated_unions(&self) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM union_records WHERE updated_at IS NULL)",
            [],
            |r| r.get(0),
        )?)
    }

    /// The smallest datestamp of a union record (`None` if none has one).
    pub fn earliest_union_update(&self) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT min(updated_at) FROM union_records", [], |r| {
                r.get(0)
            })?)
    }

    /// Up to `limit` union records without a datestamp and with an id
    /// after `after_id`, in id order; only those in `partner`'s set if one
    /// is given; with their record text if `with_record`.
    pub fn undated_unions_after(
        &self,
        after_id: &str,
        partner: Option<&str>,
        limit: usize,
        with_record: bool,
    ) -> Result<Vec<UnionListRow>> {
        let mut stmt = self.conn.prepare_cached(UNDATED_PAGE)?;
        let rows = stmt.query_map(
            named_params! {
                ":after": after_id,
                ":partner": partner,
                ":limit": i64::try_from(limit).unwrap_or(i64::MAX),
                ":with_record": with_record,
            },
            list_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Up to `limit` dated union records after the position `after`
    /// (datestamp, id) and stamped at or before `until`, in (datestamp, id)
    /// order; only those in `partner`'s set if one is given; with their
    /// record text if `with_record`. `(from, "")` is before every record
    /// stamped at `from`.
    pub fn dated_unions_after(
        &self,
        after: (&str, &str),
        until: &str,
        partner: Option<&str>,
        limit: usize,
        with_record: bool,
    ) -> Result<Vec<UnionListRow>> {
        let mut stmt = self.conn.prepare_cached(DATED_PAGE)?;
        let rows = stmt.query_map(
            named_params! {
                ":ts": after.0,
                ":after": after.1,
                ":until": until,
                ":partner": partner,
                ":limit": i64::try_from(limit).unwrap_or(i64::MAX),
                ":with_record": with_record,
            },
            list_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many union records without a datestamp are in `partner`'s set
    /// (all of them if `None`).
    pub fn count_undated_unions(&self, partner: Option<&str>) -> Result<u64> {
        let n = self
            .conn
            .prepare_cached(UNDATED_COUNT)?
            .query_row(named_params! { ":partner": partner }, |r| r.get(0))?;
        Ok(to_count(n))
    }

    /// How many union records are stamped from `from` (inclusive; `""`
    /// for no lower bound) to `until` (inclusive) and in `partner`'s set
    /// (all of them if `None`).
    pub fn count_dated_unions(
        &self,
        from: &str,
        until: &str,
        partner: Option<&str>,
    ) -> Result<u64> {
        let n = self.conn.prepare_cached(DATED_COUNT)?.query_row(
            named_params! { ":ts": from, ":until": until, ":partner": partner },
            |r| r.get(0),
        )?;
        Ok(to_count(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every page and count query walks an index in list order: no table
    /// scan and no sort, so a page costs the same however large the
    /// catalogue is.
    #[test]
    fn list_queries_use_the_index() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        let undated: &[(&str, &dyn rusqlite::ToSql)] = named_params! {
            ":after": "", ":partner": "p", ":limit": 10, ":with_record": true,
        };
        let dated: &[(&str, &dyn rusqlite::ToSql)] = named_params! {
            ":ts": "", ":after": "", ":until": "z", ":partner": "p", ":limit": 10,
            ":with_record": true,
        };
        let undated_count: &[(&str, &dyn rusqlite::ToSql)] = named_params! { ":partner": "p" };
        let dated_count: &[(&str, &dyn rusqlite::ToSql)] = named_params! {
            ":ts": "", ":until": "z", ":partner": "p",
        };
        for (sql, params) in [
            (UNDATED_PAGE, undated),
            (DATED_PAGE, dated),
            (UNDATED_COUNT, undated_count),
            (DATED_COUNT, dated_count),
        ] {
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(params, |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let plan = plan.join("\n");
            assert!(plan.contains("INDEX union_updated"), "{sql}\n{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}\n{plan}");
            assert!(!plan.contains("SCAN u"), "{sql}\n{plan}");
        }
    }

    /// The provider's handle reads but cannot write, and does not create a
    /// database that is not there.
    #[test]
    fn reader_is_read_only_and_needs_a_database() {
        let dir = tempfile::tempdir().unwrap();
        assert!(SqliteStore::open_reader(dir.path(), Duration::from_secs(1)).is_err());
        assert!(!dir.path().join(DB_FILE).exists());
        drop(SqliteStore::open(dir.path()).unwrap());
        let r = SqliteStore::open_reader(dir.path(), Duration::from_secs(1)).unwrap();
        assert_eq!(r.earliest_union_update().unwrap(), None);
        assert!(!r.has_undated_unions().unwrap());
        assert!(r
            .conn
            .execute("INSERT INTO meta_text (key, value) VALUES ('x', 'y')", [])
            .is_err());
    }
}
