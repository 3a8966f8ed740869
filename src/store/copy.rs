//! Copy a SQLite store into an empty PostgreSQL store, for
//! `unicat migrate-store --from sqlite:PATH --to postgres:URL`.
//!
//! An installation moving to a shared database keeps everything it has:
//! records with their ids (cluster members and match keys refer to them),
//! clusters, union records with their sequence numbers (sinks remember the
//! last one they published), quarantine, runs, checkpoints and publish
//! state. The copy reads one SQLite snapshot, writes one PostgreSQL
//! transaction (all or nothing), streams every table with binary `COPY`
//! (one row in memory at a time) and checks the row counts at the end.
//!
//! The SQLite file is opened read-only and must already be at the schema
//! version this unicat writes: the copy refuses an older or newer one
//! rather than migrate a file it was asked only to read (opening it once
//! with this unicat, e.g. `unicat status`, migrates it).

use std::path::Path;

use anyhow::{bail, Context, Result};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::store::pg::PgStore;

/// The SQLite schema version (`PRAGMA user_version`) this unicat's
/// `Store` writes; a test keeps it equal to what `Store::open` produces.
pub const SQLITE_SCHEMA_VERSION: i64 = 13;

/// Progress is reported every this many rows of a table (and at its end).
const PROGRESS_EVERY: u64 = 10_000;

/// How a column is read from SQLite and written to PostgreSQL.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Int,
    /// SQLite 0/1 integer, PostgreSQL boolean.
    Bool,
}

/// Where a table's rows are read from in SQLite: the table itself, except
/// the match keys, all of which are in `record_keys` (those harvested
/// since the last merge are not in `match_keys` yet: SQLite merges them
/// when they grow many or a pass walks the key index; PostgreSQL keeps
/// every key in `match_keys`), and
/// the records' dedup flag, which SQLite keeps as the table
/// `dedup_waiting` (PostgreSQL as the column).
fn sqlite_source(table: &str) -> String {
    match table {
        // In key order, as the target's primary key wants them.
        "match_keys" => {
            "(SELECT key, record_id FROM record_keys ORDER BY key, record_id)".to_string()
        }
        "source_records" => "(SELECT id, partner, oai_id, local_id, datestamp, deleted, content_hash,
                updated_run, EXISTS (SELECT 1 FROM dedup_waiting w WHERE w.record_id = s.id) AS dedup_dirty,
                record, raw FROM source_records s)"
            .to_string(),
        _ => table.to_string(),
    }
}

/// The copied tables, parents before the rows that refer to them, with
/// their columns (the same names in both schemas).
const TABLES: &[(&str, &[(&str, Kind)])] = {
    use Kind::{Bool, Int, Text};
    &[
        ("meta", &[("key", Text), ("value", Int)]),
        ("meta_text", &[("key", Text), ("value", Text)]),
        (
            "source_records",
            &[
                ("id", Int),
                ("partner", Text),
                ("oai_id", Text),
                ("local_id", Text),
                ("datestamp", Text),
                ("deleted", Bool),
                ("content_hash", Text),
                ("updated_run", Int),
                ("dedup_dirty", Bool),
                ("record", Text),
                ("raw", Text),
            ],
        ),
        ("match_keys", &[("key", Text), ("record_id", Int)]),
        (
            "cluster_members",
            &[("record_id", Int), ("cluster_id", Text)],
        ),
        (
            "union_records",
            &[
                ("cluster_id", Text),
                ("seq", Int),
                ("deleted", Bool),
                ("content_hash", Text),
                ("members", Int),
                ("updated_at", Text),
                ("record", Text),
            ],
        ),
        (
            "quarantine",
            &[
                ("id", Int),
                ("partner", Text),
                ("oai_id", Text),
                ("run_id", Int),
                ("reason", Text),
                ("resolved_at", Text),
                ("at", Text),
                ("raw", Text),
            ],
        ),
        (
            "harvest_runs",
            &[
                ("id", Int),
                ("partner", Text),
                ("started_at", Text),
                ("finished_at", Text),
                ("outcome", Text),
                ("from_param", Text),
                ("next_from", Text),
                ("pages", Int),
                ("new", Int),
                ("updated", Int),
                ("unchanged", Int),
                ("deleted", Int),
                ("quarantined", Int),
                ("repaired", Int),
                ("error", Text),
            ],
        ),
        (
            "harvest_state",
            &[
                ("partner", Text),
                ("next_from", Text),
                ("resumption_token", Text),
                ("run_id", Int),
                ("checkpoint_from", Text),
                ("checkpoint_first_date", Text),
                ("checkpoint_cursor", Int),
            ],
        ),
        (
            "publish_state",
            &[("sink", Text), ("last_seq", Int), ("published_at", Text)],
        ),
        ("reconcile_seen", &[("partner", Text), ("oai_id", Text)]),
        ("work_keys", &[("key", Text), ("union_id", Text)]),
        ("work_members", &[("union_id", Text), ("work_id", Text)]),
        (
            "work_links",
            &[
                ("union_a", Text),
                ("union_b", Text),
                ("kind", Text),
                ("evidence", Text),
            ],
        ),
    ]
};

/// Tables whose id is an identity: its sequence must continue after the
/// copied ids.
const IDENTITY_TABLES: &[&str] = &["source_records", "quarantine", "harvest_runs"];

/// Tables the migrations fill in a new database, which the copy replaces
/// with the source's rows instead of refusing the target.
const REPLACED_TABLES: &[&str] = &["meta", "meta_text"];

/// One value on its way from SQLite to PostgreSQL.
enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(Option<bool>),
}

impl Value {
    fn read(v: ValueRef<'_>, kind: Kind) -> Result<Value> {
        Ok(match (kind, v) {
            (Kind::Text, ValueRef::Null) => Value::Text(None),
            (Kind::Text, ValueRef::Text(t)) => Value::Text(Some(
                std::str::from_utf8(t)
                    .context("text that is not UTF-8")?
                    .to_string(),
            )),
            // The SQLite store's packed texts (store::packed) go into
            // PostgreSQL as text, which compresses them itself (TOAST).
            (Kind::Text, ValueRef::Blob(b)) => Value::Text(Some(super::packed::unpack(b)?)),
            (Kind::Int, ValueRef::Null) => Value::Int(None),
            (Kind::Int, ValueRef::Integer(i)) => Value::Int(Some(i)),
            (Kind::Bool, ValueRef::Null) => Value::Bool(None),
            (Kind::Bool, ValueRef::Integer(i)) => Value::Bool(Some(i != 0)),
            (_, other) => bail!("unexpected SQLite value of type {}", other.data_type()),
        })
    }

    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Value::Text(v) => v,
            Value::Int(v) => v,
            Value::Bool(v) => v,
        }
    }
}

/// Copy the SQLite store in `sqlite_db` (the database file) into `target`,
/// which must hold no data yet. `progress` is told (table, rows so far) as
/// the copy goes. Returns the rows copied per table, each checked against
/// both databases' counts.
pub fn copy_from_sqlite(
    sqlite_db: &Path,
    target: &mut PgStore,
    mut progress: impl FnMut(&str, u64),
) -> Result<Vec<(String, u64)>> {
    if !sqlite_db.is_file() {
        bail!("{} is not a SQLite database file", sqlite_db.display());
    }
    let src = Connection::open_with_flags(
        sqlite_db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {} read-only", sqlite_db.display()))?;
    src.busy_timeout(std::time::Duration::from_secs(60))?;
    // One read transaction: every table comes from the same snapshot even
    // if a daemon is still writing to the file.
    src.execute_batch("BEGIN DEFERRED")?;
    let version: i64 = src.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version != SQLITE_SCHEMA_VERSION {
        bail!(
            "{} has SQLite schema version {version}, but this unicat copies version {SQLITE_SCHEMA_VERSION}: \
             {}",
            sqlite_db.display(),
            if version < SQLITE_SCHEMA_VERSION {
                "open it once with this unicat (e.g. `unicat status`) to migrate it, then copy again"
            } else {
                "it was written by a newer unicat; copy it with that version"
            }
        );
    }
    let describe = target.describe();
    let (client, _) = target.parts();
    let mut tx = client.transaction()?;
    // Nobody else writes the target while it is filled: a daemon already
    // pointed at it waits (or finds it filled), and the emptiness checked
    // below stays true until the copy commits.
    // source_records first, as every writer locks it (see `store::pg`), so
    // that a dedup pass starting now waits instead of deadlocking.
    let mut all: Vec<&str> = vec!["source_records"];
    all.extend(
        TABLES
            .iter()
            .map(|(t, _)| *t)
            .filter(|t| *t != "source_records"),
    );
    tx.batch_execute(&format!("LOCK TABLE {} IN EXCLUSIVE MODE", all.join(", ")))
        .with_context(|| format!("locking the tables of {describe}"))?;
    for (table, _) in TABLES {
        if REPLACED_TABLES.contains(table) {
            continue;
        }
        let rows: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])?
            .try_get(0)?;
        if rows > 0 {
            bail!(
                "target {describe} is not empty: table {table} holds {rows} rows; \
                 copy into a new database"
            );
        }
    }
    for table in REPLACED_TABLES {
        tx.batch_execute(&format!("DELETE FROM {table}"))?;
    }

    let mut copied = Vec::new();
    for (table, columns) in TABLES {
        let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
        let names = names.join(", ");
        let types: Vec<Type> = columns
            .iter()
            .map(|(_, k)| match k {
                Kind::Text => Type::TEXT,
                Kind::Int => Type::INT8,
                Kind::Bool => Type::BOOL,
            })
            .collect();
        let mut stmt = src.prepare(&format!("SELECT {names} FROM {}", sqlite_source(table)))?;
        let mut rows = stmt
            .query([])
            .with_context(|| format!("reading {table} from {}", sqlite_db.display()))?;
        let sink = tx.copy_in(&format!(
            "COPY {table} ({names}) FROM STDIN (FORMAT binary)"
        ))?;
        let mut writer = BinaryCopyInWriter::new(sink, &types);
        let mut n = 0u64;
        while let Some(row) = rows.next()? {
            let values = columns
                .iter()
                .enumerate()
                .map(|(i, (name, kind))| {
                    Value::read(row.get_ref(i)?, *kind)
                        .with_context(|| format!("{table}.{name} in row {}", n + 1))
                })
                .collect::<Result<Vec<Value>>>()?;
            let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(Value::as_sql).collect();
            writer
                .write(&params)
                .with_context(|| format!("writing row {} of {table}", n + 1))?;
            n += 1;
            if n.is_multiple_of(PROGRESS_EVERY) {
                progress(table, n);
            }
        }
        writer
            .finish()
            .with_context(|| format!("copying {table} into {describe}"))?;
        progress(table, n);
        copied.push((table.to_string(), n));
    }

    for table in IDENTITY_TABLES {
        // The next id given is one past the largest copied.
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 0) + 1, false)
                 FROM {table}"
            ),
            &[],
        )?;
    }

    for (table, n) in &copied {
        let in_sqlite: i64 = src.query_row(
            &format!("SELECT count(*) FROM {}", sqlite_source(table)),
            [],
            |r| r.get(0),
        )?;
        let in_pg: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])?
            .try_get(0)?;
        if in_sqlite as u64 != *n || in_pg as u64 != *n {
            bail!(
                "table {table}: SQLite holds {in_sqlite} rows, {n} were read, PostgreSQL holds {in_pg}; \
                 nothing was committed"
            );
        }
    }
    tx.commit()
        .with_context(|| format!("committing the copy into {describe}"))?;
    // The read transaction only read.
    let _ = src.execute_batch("COMMIT");
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::pg::test_database;
    use crate::store::{Checkpoint, PageItem, RunOutcome, Store, DB_FILE};

    fn up(oai: &str, hash: &str, keys: &[&str]) -> PageItem {
        PageItem::Upsert {
            oai_id: oai.into(),
            datestamp: "2024-01-01".into(),
            local_id: Some(format!("L{oai}")),
            raw: format!("<raw>{oai}</raw>"),
            record: format!("<record>{oai} {hash}</record>"),
            content_hash: hash.into(),
            keys: keys.iter().map(|k| k.to_string()).collect(),
            repairs: 1,
        }
    }

    /// A SQLite store with something in every table.
    fn sqlite_store(dir: &Path) -> Store {
        let mut s = Store::open(dir).unwrap();
        let run = s.begin_run("anl").unwrap();
        s.set_run_from(run, Some("2023-01-01")).unwrap();
        let items = [
            up("a", "h1", &["isbn:1", "tay:x"]),
            up("b", "h2", &["isbn:1"]),
            up("c", "h3", &["isbn:2"]),
            PageItem::Quarantine {
                oai_id: "q".into(),
                reason: "does not parse".into(),
                raw: Some("<bad".into()),
            },
        ];
        s.commit_page(run, "anl", &items, None, 2).unwrap();
        s.commit_page(
            run,
            "anl",
            &[PageItem::Delete {
                oai_id: "c".into(),
                datestamp: "2024-02-02".into(),
            }],
            None,
            0,
        )
        .unwrap();
        s.finish_run(
            run,
            "anl",
            RunOutcome::Ok,
            Some("2024-03-01T00:00:00Z"),
            None,
            false,
        )
        .unwrap();
        let run = s.begin_run("nlr").unwrap();
        let cp = Checkpoint {
            token: Some("tok".into()),
            cursor: Some(100),
            from: None,
            first_response_date: Some("2024-03-02T00:00:00Z".into()),
        };
        s.commit_page(run, "nlr", &[up("d", "h4", &["isbn:1"])], Some(&cp), 0)
            .unwrap();
        let ids: Vec<i64> = ["a", "b", "d"]
            .iter()
            .map(|o| {
                s.find_source(if *o == "d" { "nlr" } else { "anl" }, o)
                    .unwrap()
                    .unwrap()
                    .id
            })
            .collect();
        {
            let tx = s.transaction().unwrap();
            // A walk merges the staged keys, as a pass over the whole store
            // does (the copy reads them from `record_keys` either way).
            tx.for_each_key_holder(|_, _| Ok(())).unwrap();
            for id in &ids {
                tx.set_cluster(*id, Some("u1")).unwrap();
            }
            tx.put_union("u1", "<union/>", "uh", 3).unwrap();
            tx.put_union("u2", "<gone/>", "gh", 1).unwrap();
            tx.delete_union("u2").unwrap();
            // The work pass's tables (issue #18): one work of one union
            // record linked to a union record of another catalogue load.
            tx.set_work_keys("u1", &["wk:x|a".into()]).unwrap();
            tx.set_work("u1", Some("wk1")).unwrap();
            tx.set_work_links(
                "u1",
                &[crate::store::WorkLink {
                    other: "u3".into(),
                    kind: "other-edition".into(),
                    evidence: "shared work key wk:x|a".into(),
                }],
            )
            .unwrap();
            tx.set_meta_text("merge_fingerprint", "m1").unwrap();
            tx.clear_all_dirty().unwrap();
            tx.commit().unwrap();
        }
        // One record changed since the pass: it waits for the next one.
        s.commit_page(run, "nlr", &[up("d", "h5", &["isbn:1"])], Some(&cp), 0)
            .unwrap();
        s.set_publish_seq("files", 2).unwrap();
        s.reconcile_begin("nlr").unwrap();
        s.reconcile_seen("nlr", &["d".into()]).unwrap();
        s
    }

    /// Every row of a table as text, sorted, read through the column kinds.
    fn sqlite_rows(conn: &Connection, table: &str, columns: &[(&str, Kind)]) -> Vec<String> {
        let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {} FROM {}",
                names.join(", "),
                sqlite_source(table)
            ))
            .unwrap();
        let mut rows = stmt.query([]).unwrap();
        let mut out = Vec::new();
        while let Some(r) = rows.next().unwrap() {
            let vals: Vec<String> = columns
                .iter()
                .enumerate()
                .map(
                    |(i, (_, k))| match Value::read(r.get_ref(i).unwrap(), *k).unwrap() {
                        Value::Text(v) => format!("{v:?}"),
                        Value::Int(v) => format!("{v:?}"),
                        Value::Bool(v) => format!("{v:?}"),
                    },
                )
                .collect();
            out.push(vals.join("|"));
        }
        out.sort();
        out
    }

    fn pg_rows(url: &str, table: &str, columns: &[(&str, Kind)]) -> Vec<String> {
        let mut c = crate::store::pg::connect_client(url, None).unwrap();
        let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
        let mut out: Vec<String> = c
            .query(&format!("SELECT {} FROM {table}", names.join(", ")), &[])
            .unwrap()
            .iter()
            .map(|r| {
                let vals: Vec<String> = columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, k))| match k {
                        Kind::Text => format!("{:?}", r.get::<_, Option<String>>(i)),
                        Kind::Int => format!("{:?}", r.get::<_, Option<i64>>(i)),
                        Kind::Bool => format!("{:?}", r.get::<_, Option<bool>>(i)),
                    })
                    .collect();
                vals.join("|")
            })
            .collect();
        out.sort();
        out
    }

    // The copy refuses files of another schema version; this pins the
    // version to what the SQLite store writes, so a new SQLite migration
    // fails here until the copy learns it.
    #[test]
    fn sqlite_schema_version_is_what_store_writes() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SQLITE_SCHEMA_VERSION);
    }

    // Everything a SQLite store holds arrives identical, ids included, and
    // the PostgreSQL store carries on from there.
    #[test]
    fn copy_round_trips_every_table() {
        let Some(url) = test_database() else { return };
        let dir = tempfile::tempdir().unwrap();
        let (seq, max_id) = {
            let s = sqlite_store(dir.path());
            let max_id: i64 = s.find_source("nlr", "d").unwrap().unwrap().id;
            (s.current_seq().unwrap(), max_id)
        };
        let db = dir.path().join(DB_FILE);
        let mut target = PgStore::open(&url, None).unwrap();
        let mut reported = Vec::new();
        let copied =
            copy_from_sqlite(&db, &mut target, |t, n| reported.push((t.to_string(), n))).unwrap();
        assert_eq!(copied.len(), TABLES.len());
        assert_eq!(reported, copied, "one progress call per table at its end");
        let src = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        for (table, columns) in TABLES {
            let expected = sqlite_rows(&src, table, columns);
            assert!(!expected.is_empty(), "the fixture leaves {table} empty");
            assert_eq!(pg_rows(&url, table, columns), expected, "table {table}");
        }
        // The one record changed since the pass still waits for dedup.
        let waiting = pg_rows(
            &url,
            "source_records",
            &[("oai_id", Kind::Text), ("dedup_dirty", Kind::Bool)],
        );
        assert_eq!(
            waiting,
            [
                r#"Some("a")|Some(false)"#,
                r#"Some("b")|Some(false)"#,
                r#"Some("c")|Some(false)"#,
                r#"Some("d")|Some(true)"#
            ]
        );
        assert_eq!(target.current_seq().unwrap(), seq);
        assert_eq!(target.checkpoint("nlr").unwrap().unwrap().cursor, Some(100));
        assert_eq!(target.integrity_check().unwrap(), "ok");
        // Identities continue after the copied ids.
        let run = target.begin_run("nlr").unwrap();
        assert!(run > 2);
        target
            .commit_page(run, "nlr", &[up("e", "h5", &[])], None, 0)
            .unwrap();
        assert!(target.find_source("nlr", "e").unwrap().unwrap().id > max_id);
        // A second copy into the now filled target is refused.
        let err = copy_from_sqlite(&db, &mut target, |_, _| {}).unwrap_err();
        assert!(format!("{err:#}").contains("is not empty"), "{err:#}");
    }

    // A target that already holds records is refused before anything is
    // written.
    #[test]
    fn copy_refuses_a_non_empty_target() {
        let Some(url) = test_database() else { return };
        let dir = tempfile::tempdir().unwrap();
        drop(sqlite_store(dir.path()));
        let mut target = PgStore::open(&url, None).unwrap();
        let run = target.begin_run("x").unwrap();
        target
            .commit_page(run, "x", &[up("z", "h", &[])], None, 0)
            .unwrap();
        let err = copy_from_sqlite(&dir.path().join(DB_FILE), &mut target, |_, _| {}).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("is not empty") && msg.contains("source_records"),
            "{msg}"
        );
        assert_eq!(target.count_live_records("anl").unwrap(), 0);
    }

    // A SQLite file at another schema version is refused with what to do.
    #[test]
    fn copy_refuses_another_sqlite_schema_version() {
        let Some(url) = test_database() else { return };
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("old.db");
        Connection::open(&db)
            .unwrap()
            .pragma_update(None, "user_version", 5)
            .unwrap();
        let mut target = PgStore::open(&url, None).unwrap();
        let err = copy_from_sqlite(&db, &mut target, |_, _| {}).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("schema version 5") && msg.contains("migrate it"),
            "{msg}"
        );
        let missing = copy_from_sqlite(&dir.path().join("none.db"), &mut target, |_, _| {});
        assert!(missing.is_err());
    }
}
