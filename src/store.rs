//! The store: one embedded SQLite database that every stage reads its input
//! from and writes its output to.
//!
//! The store is the hub of the pipeline (see ARCHITECTURE.md): a harvest
//! page, with the harvest checkpoint, is committed in one transaction; dedup
//! and merge read records marked dirty and write clusters and union records
//! back in one transaction; publishing reads union records after a sink's
//! last sequence number. A single change sequence (`meta.seq`) orders every
//! union record change, which is what makes publishing incremental.
//!
//! This module knows SQL and nothing about MARC semantics: records arrive
//! already parsed, normalised and keyed.
//!
//! Every record's match keys are in `record_keys`, by record id, where
//! writers (harvest pages, imports, reprocessing) append them cheaply in
//! record order; `match_keys` is the (key, record id) index dedup looks
//! keys up in and walks. A record whose keys changed is listed in
//! `record_keys_unmerged` until its keys are merged into `match_keys`:
//! its keys are "staged". Whoever replaces or removes a record's keys
//! removes the old ones from both tables, so a record's keys are in
//! `match_keys` all or none. A dedup transaction looks keys up in the
//! index and among the staged keys (a few read into memory on its first
//! look-up), so dedup always sees every stored record's keys; the staged
//! keys are merged into `match_keys`, in key order, when they are many
//! or a pass walks the index. Only this module knows about the staging.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

pub mod copy;
mod facade;
pub mod guard;
pub mod listing;
pub mod packed;
pub mod pg;
mod sqlite_provider;
mod works;
pub use facade::{DedupTx, Store, UnionPut};
pub use works::WorkLink;

/// The page cache of a dedup transaction's connection, in KiB. The pass
/// reads the key index, the clusters and the union records at random and
/// rewrites a large share of them; every miss is a read from the OS and,
/// for a page the pass already wrote, a search of the write-ahead log,
/// whose index grows with the pass. 256 MiB keeps the 1,000,000-record
/// benchmark's hot pages while its peak stays far below the 2 GiB budget.
const DEDUP_CACHE_KIB: i64 = 256 * 1024;

/// From this many staged keys on, they are merged into `match_keys` in a
/// transaction of their own before a dedup transaction starts (see
/// `SqliteStore::premerge_staged_keys`); fewer stay staged (see
/// [`StagedKeys`]).
const STAGED_REBUILD_MIN: i64 = 100_000;

/// The database file inside the state directory.
pub const DB_FILE: &str = "unicat.db";

/// How long a connection waits for another's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// The log size at which a page commit empties it: 10,000 frames of 4 KiB
/// pages, where the checkpoint thread of a harvest's connection starts
/// copying after a page commit (`tune_for_harvest`), so that the TRUNCATE
/// checkpoint finds most frames already copied. (After a dedup or work
/// pass the thread copies whatever the log holds.)
const WAL_TRUNCATE_BYTES: u64 = 10_000 * (4096 + 24);

/// A dedup or work pass that makes this many union record versions or
/// more copies its log itself when it commits (`SqliteTx::commit`); an
/// incremental pass of 1,000 changes makes about 2,000.
const LARGE_PASS_VERSIONS: u64 = 10_000;

/// SQLite's default automatic checkpoint: after a commit that leaves the
/// log with this many frames, the committing connection copies it.
const SQLITE_AUTOCHECKPOINT_FRAMES: i64 = 1_000;

/// The log size at which a harvest's page commit empties the log itself
/// although its checkpoints run in the background (see [`Checkpointer`]).
const WAL_BOUND_BYTES: u64 = 4 * WAL_TRUNCATE_BYTES;

/// How long the TRUNCATE checkpoint waits for other connections' commits
/// (a page commit takes well under a second); past it the checkpoint is
/// passive and a later page tries again, so that a long reader (a publish
/// streaming the catalogue) never holds the harvest up for the whole
/// [`BUSY_TIMEOUT`].
const WAL_CHECKPOINT_WAIT: Duration = Duration::from_secs(2);

/// Schema migrations, applied in order; `PRAGMA user_version` records how
/// many have run. Never edit one that has shipped: add a new one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
INSERT INTO meta VALUES ('seq', 0);

CREATE TABLE source_records (
    id INTEGER PRIMARY KEY,
    partner TEXT NOT NULL,
    oai_id TEXT NOT NULL,
    local_id TEXT,
    datestamp TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    raw TEXT,
    record TEXT,
    content_hash TEXT,
    updated_run INTEGER,
    dedup_dirty INTEGER NOT NULL DEFAULT 1,
    UNIQUE (partner, oai_id)
) STRICT;
CREATE INDEX source_dirty ON source_records(dedup_dirty) WHERE dedup_dirty = 1;
CREATE INDEX source_local ON source_records(partner, local_id);

CREATE TABLE match_keys (
    key TEXT NOT NULL,
    record_id INTEGER NOT NULL,
    PRIMARY KEY (key, record_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX match_keys_record ON match_keys(record_id);

CREATE TABLE cluster_members (
    record_id INTEGER PRIMARY KEY,
    cluster_id TEXT NOT NULL
) STRICT;
CREATE INDEX cluster_members_cluster ON cluster_members(cluster_id);

CREATE TABLE union_records (
    cluster_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    record TEXT,
    content_hash TEXT,
    members INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX union_seq ON union_records(seq);

CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    partner TEXT NOT NULL,
    oai_id TEXT NOT NULL,
    run_id INTEGER,
    reason TEXT NOT NULL,
    raw TEXT
) STRICT;

CREATE TABLE harvest_runs (
    id INTEGER PRIMARY KEY,
    partner TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT NOT NULL DEFAULT 'running',
    from_param TEXT,
    next_from TEXT,
    pages INTEGER NOT NULL DEFAULT 0,
    new INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    quarantined INTEGER NOT NULL DEFAULT 0,
    error TEXT
) STRICT;
CREATE INDEX harvest_runs_partner ON harvest_runs(partner, id);

CREATE TABLE harvest_state (
    partner TEXT PRIMARY KEY,
    next_from TEXT,
    resumption_token TEXT,
    run_id INTEGER
) STRICT;

CREATE TABLE publish_state (
    sink TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    published_at TEXT NOT NULL
) STRICT;
"#,
    r#"
ALTER TABLE harvest_runs ADD COLUMN repaired INTEGER NOT NULL DEFAULT 0;
ALTER TABLE harvest_state ADD COLUMN checkpoint_from TEXT;
ALTER TABLE harvest_state ADD COLUMN checkpoint_first_date TEXT;
ALTER TABLE harvest_state ADD COLUMN checkpoint_cursor INTEGER;
CREATE TABLE reconcile_seen (
    partner TEXT NOT NULL,
    oai_id TEXT NOT NULL,
    PRIMARY KEY (partner, oai_id)
) STRICT, WITHOUT ROWID;
"#,
    r#"
ALTER TABLE quarantine ADD COLUMN resolved_at TEXT;
ALTER TABLE quarantine ADD COLUMN at TEXT;
CREATE INDEX quarantine_open ON quarantine(partner, oai_id) WHERE resolved_at IS NULL;
"#,
    r#"
CREATE TABLE meta_text (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
"#,
    r#"
ALTER TABLE union_records ADD COLUMN updated_at TEXT;
CREATE INDEX union_updated ON union_records(updated_at, cluster_id);
"#,
    // The same tables with the large texts last. SQLite stores a row's
    // columns in order and keeps what does not fit the page in overflow
    // pages, so a column after a 4 KB text is reached only by walking its
    // overflow chain: reading a record's normalised MARC walked its raw
    // XML first, and a union record's hash or datestamp walked the whole
    // record. Profiling the dedup pass showed a fifth of its time there.
    r#"
CREATE TABLE source_records_v6 (
    id INTEGER PRIMARY KEY,
    partner TEXT NOT NULL,
    oai_id TEXT NOT NULL,
    local_id TEXT,
    datestamp TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    content_hash TEXT,
    updated_run INTEGER,
    dedup_dirty INTEGER NOT NULL DEFAULT 1,
    record TEXT,
    raw TEXT,
    UNIQUE (partner, oai_id)
) STRICT;
INSERT INTO source_records_v6
    (id, partner, oai_id, local_id, datestamp, deleted, content_hash, updated_run, dedup_dirty, record, raw)
    SELECT id, partner, oai_id, local_id, datestamp, deleted, content_hash, updated_run, dedup_dirty, record, raw
    FROM source_records;
DROP TABLE source_records;
ALTER TABLE source_records_v6 RENAME TO source_records;
CREATE INDEX source_dirty ON source_records(dedup_dirty) WHERE dedup_dirty = 1;
CREATE INDEX source_local ON source_records(partner, local_id);

CREATE TABLE union_records_v6 (
    cluster_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    content_hash TEXT,
    members INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT,
    record TEXT
) STRICT;
INSERT INTO union_records_v6 (cluster_id, seq, deleted, content_hash, members, updated_at, record)
    SELECT cluster_id, seq, deleted, content_hash, members, updated_at, record FROM union_records;
DROP TABLE union_records;
ALTER TABLE union_records_v6 RENAME TO union_records;
CREATE INDEX union_seq ON union_records(seq);
CREATE INDEX union_updated ON union_records(updated_at, cluster_id);
"#,
    // Match keys staged by harvests, imports and reprocessing, merged into
    // `match_keys` in key order (see `merge_staged_keys` for when).
    // Inserting a page's keys straight into `match_keys` put about four
    // random keys per record into its (key, record_id) index, so every
    // page commit dirtied index pages all over the file: about 2 GB of WAL
    // per 100,000 records and most of the harvest's time. Keyed by record id, a full harvest appends here
    // instead, and the merge walks `match_keys` once, in order.
    r#"
CREATE TABLE match_keys_staged (
    record_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (record_id, key)
) STRICT, WITHOUT ROWID;
"#,
    // The live union records' member counts, for `union_counts` (status,
    // metrics scrapes, the demo). Counted from the table, they read every
    // union row's first page: 1.3 s per call at 666,655 union records,
    // against 0.1 s from this index.
    r#"
CREATE INDEX union_live_members ON union_records(members) WHERE deleted = 0;
"#,
    // Work links (issue #18, `works_pass`): each live union record's work
    // keys, the work it belongs to when it is linked to another, and its
    // links, one row per direction (`union_a` holds the field that points
    // to `union_b`; `kind` says how `union_b` relates to `union_a`).
    r#"
CREATE TABLE work_keys (
    key TEXT NOT NULL,
    union_id TEXT NOT NULL,
    PRIMARY KEY (key, union_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX work_keys_union ON work_keys(union_id);
CREATE TABLE work_members (
    union_id TEXT PRIMARY KEY,
    work_id TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX work_members_work ON work_members(work_id);
CREATE TABLE work_links (
    union_a TEXT NOT NULL,
    union_b TEXT NOT NULL,
    kind TEXT NOT NULL,
    evidence TEXT NOT NULL,
    PRIMARY KEY (union_a, union_b)
) STRICT, WITHOUT ROWID;
"#,
    // The large texts packed (issue #22, `store::packed`): the records as
    // harvested, the normalised records and the union records become zstd
    // frames with a MARCXML dictionary, a seventh of their size. STRICT
    // tables refuse a BLOB in a TEXT column, so both tables are made again
    // with ANY columns (a TEXT written by hand is still read as it is),
    // and every text is packed on the way (`unicat_pack`, registered on
    // each connection by `SqliteStore::open`).
    r#"
CREATE TABLE source_records_v11 (
    id INTEGER PRIMARY KEY,
    partner TEXT NOT NULL,
    oai_id TEXT NOT NULL,
    local_id TEXT,
    datestamp TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    content_hash TEXT,
    updated_run INTEGER,
    dedup_dirty INTEGER NOT NULL DEFAULT 1,
    record ANY,
    raw ANY,
    UNIQUE (partner, oai_id)
) STRICT;
INSERT INTO source_records_v11
    (id, partner, oai_id, local_id, datestamp, deleted, content_hash, updated_run, dedup_dirty, record, raw)
    SELECT id, partner, oai_id, local_id, datestamp, deleted, content_hash, updated_run, dedup_dirty,
        unicat_pack(record), unicat_pack(raw)
    FROM source_records ORDER BY id;
DROP TABLE source_records;
ALTER TABLE source_records_v11 RENAME TO source_records;
CREATE INDEX source_dirty ON source_records(dedup_dirty) WHERE dedup_dirty = 1;
CREATE INDEX source_local ON source_records(partner, local_id);

CREATE TABLE union_records_v11 (
    cluster_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    content_hash TEXT,
    members INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT,
    record ANY
) STRICT;
INSERT INTO union_records_v11 (cluster_id, seq, deleted, content_hash, members, updated_at, record)
    SELECT cluster_id, seq, deleted, content_hash, members, updated_at, unicat_pack(record)
    FROM union_records ORDER BY cluster_id;
DROP TABLE union_records;
ALTER TABLE union_records_v11 RENAME TO union_records;
CREATE INDEX union_seq ON union_records(seq);
CREATE INDEX union_updated ON union_records(updated_at, cluster_id);
CREATE INDEX union_live_members ON union_records(members) WHERE deleted = 0;
"#,
    // The live union records and those merging several members, counted
    // once here and then kept by the dedup pass as it writes them (issue
    // #22): `union_counts` is asked after every pass (the history file),
    // by every metrics scrape and status call, and counting 666,597 index
    // entries took 0.12 s a time, a tenth of an incremental pass. The
    // index that only the count read goes: 829 of the 19,021 pages an
    // incremental pass of 1,000 changes wrote on the benchmark's store.
    // (Triggers would keep the counts too, but a statement that fires one
    // keeps a statement journal: a full pass over 100,000 records wrote
    // 3 GB more to temporary files.)
    r#"
CREATE TABLE union_tally (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    live INTEGER NOT NULL,
    merged INTEGER NOT NULL
) STRICT;
INSERT INTO union_tally (id, live, merged)
    SELECT 1, count(*), coalesce(sum(members > 1), 0) FROM union_records WHERE deleted = 0;
DROP INDEX union_live_members;
"#,
    // The records waiting for dedup move out of `source_records` into a
    // table of their own (issue #22). As a flag in the row, every pass
    // cleared it by rewriting each examined record's row: on a first load
    // of 1,000,000 records that was 15 s of the pass and 1.3 GB of
    // write-ahead log (a page per record or two), and a tenth of the pages
    // an incremental pass of 1,000 changes wrote. Here a pass empties the
    // table in one statement. The old column stays, no longer read (new
    // rows still get its default): dropping it would rewrite every record
    // once more.
    r#"
CREATE TABLE dedup_waiting (
    record_id INTEGER PRIMARY KEY
) STRICT;
INSERT INTO dedup_waiting (record_id)
    SELECT id FROM source_records WHERE dedup_dirty = 1 ORDER BY id;
DROP INDEX source_dirty;
"#,
    // Every record's keys by record id in one table (issue #22):
    // `record_keys` takes the place both of `match_keys_staged` and of
    // `match_keys`'s record-id index, which held the same (record id, key)
    // pairs. `match_keys` stays the (key, record id) index dedup looks keys
    // up in; `record_keys_unmerged` lists the records whose keys are not
    // in it yet. A first load's merge built the record-id index afresh
    // after its sort (10 s of the 28 s it took at 1,000,000 records, and
    // its pages written twice more, to the log and back); now the keys
    // are already in record order where the harvest appended them.
    r#"
CREATE TABLE record_keys (
    record_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (record_id, key)
) STRICT, WITHOUT ROWID;
INSERT INTO record_keys (record_id, key)
    SELECT record_id, key FROM match_keys ORDER BY record_id, key;
INSERT OR IGNORE INTO record_keys (record_id, key)
    SELECT record_id, key FROM match_keys_staged ORDER BY record_id, key;
CREATE TABLE record_keys_unmerged (
    record_id INTEGER PRIMARY KEY
) STRICT;
INSERT OR IGNORE INTO record_keys_unmerged (record_id)
    SELECT DISTINCT record_id FROM match_keys_staged ORDER BY record_id;
DROP INDEX match_keys_record;
DROP TABLE match_keys_staged;
"#,
];

/// The migration that packs the stored texts (see [`packed`]): a store
/// migrated across it has its old pages free, given back by a VACUUM.
const PACKING_MIGRATION: usize = 10;

/// A handle on the database. One per thread of work; SQLite serialises
/// writers and the busy timeout makes a second writer wait instead of fail.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// Background checkpoints of a harvest's connection
    /// (`tune_for_harvest`) or of one that ran a dedup or work pass.
    checkpointer: std::cell::OnceCell<Checkpointer>,
}

/// Checkpoints of the write-ahead log on a thread of its own, for a
/// harvest's connection: woken after each page commit, it copies the log
/// back into the database once the log holds [`WAL_TRUNCATE_BYTES`]; woken
/// after a dedup or work pass's commit, it copies the log whatever its
/// size, so the pass is synced about as soon as the committing thread's
/// own checkpoint used to sync it, without holding up what comes next.
///
/// Run by the committing connection (SQLite's automatic checkpoint),
/// every checkpoint's copy and its two syncs (log, then database) sat on
/// the harvest's critical path: pages commit one at a time, and while one
/// checkpointed nothing else could commit. Profiled on the LC harvest,
/// the syncs alone were about 1.7 s of an 8 s run. A passive checkpoint
/// from another connection copies what is committed while the next pages
/// commit; once it has copied everything, the next commit starts the log
/// again from its beginning (and, with `journal_size_limit` 0, cuts the
/// file back). Durability is unchanged: a checkpoint still syncs the log
/// before it copies, and each page is still one transaction.
struct Checkpointer {
    wake: Option<std::sync::mpsc::SyncSender<()>>,
    /// The next wake-up copies the log whatever its size (a pass
    /// committed), not only past [`WAL_TRUNCATE_BYTES`].
    forced: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Checkpoints that ran (for tests and debugging).
    runs: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Checkpointer> {
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
            .with_context(|| format!("opening {} for checkpoints", path.display()))?;
        // Passive checkpoints never wait for writers; this bounds the wait
        // for another connection's checkpoint in progress.
        conn.busy_timeout(WAL_CHECKPOINT_WAIT)?;
        let wal = wal_path(path);
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let runs = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = runs.clone();
        let forced = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let force = forced.clone();
        let thread = std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || {
                // A wake-up left in the channel when it closes is still
                // received: the store's drop waits for a pass's copy.
                while woken.recv().is_ok() {
                    let forced = force.swap(false, std::sync::atomic::Ordering::AcqRel);
                    let len = wal_len(&wal);
                    if len == 0 || (!forced && len < WAL_TRUNCATE_BYTES) {
                        continue;
                    }
                    match conn
                        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0))
                    {
                        Ok(_) => {
                            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        // Another connection is checkpointing: it does the
                        // work, and a later page wakes this thread again.
                        Err(rusqlite::Error::SqliteFailure(e, _))
                            if e.code == rusqlite::ErrorCode::DatabaseBusy => {}
                        Err(e) => tracing::warn!(
                            error = %e,
                            "WAL checkpoint failed; trying again after a later page"
                        ),
                    }
                }
            })
            .context("starting the WAL checkpoint thread")?;
        Ok(Checkpointer {
            wake: Some(wake),
            forced,
            thread: Some(thread),
            runs,
        })
    }

    /// A page committed: check the log (at most one wake-up is pending).
    fn wake(&self) {
        if let Some(wake) = &self.wake {
            let _ = wake.try_send(());
        }
    }

    /// A small dedup or work pass committed (see `SqliteTx::commit`):
    /// its log is copied whatever its size, in the background.
    fn after_pass(&self) {
        self.forced
            .store(true, std::sync::atomic::Ordering::Release);
        self.wake();
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Closing the channel ends the thread after its current checkpoint.
        self.wake = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        tracing::debug!(
            checkpoints = self.runs.load(std::sync::atomic::Ordering::Relaxed),
            "WAL checkpoint thread stopped"
        );
    }
}

/// The write-ahead log beside the database file.
fn wal_path(db: &Path) -> PathBuf {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// The log's length in bytes (0 if there is none).
fn wal_len(wal: &Path) -> u64 {
    std::fs::metadata(wal).map_or(0, |m| m.len())
}

/// One record of a harvested page, ready to be written.
#[derive(Debug, Clone)]
pub enum PageItem {
    /// A record that parsed and normalised.
    Upsert {
        /// OAI identifier.
        oai_id: String,
        /// OAI datestamp.
        datestamp: String,
        /// The partner's 001.
        local_id: Option<String>,
        /// The metadata XML as harvested.
        raw: String,
        /// The normalised record as MARCXML.
        record: String,
        /// Hash of the normalised record: unchanged content is not re-deduplicated.
        content_hash: String,
        /// Match keys of the normalised record.
        keys: Vec<String>,
        /// Repairs the reader made (e.g. leader/09 fixed), counted.
        repairs: u64,
    },
    /// A record the partner deleted.
    Delete {
        /// OAI identifier.
        oai_id: String,
        /// OAI datestamp.
        datestamp: String,
    },
    /// A record that could not be parsed or normalised.
    Quarantine {
        /// OAI identifier.
        oai_id: String,
        /// Why it was set aside.
        reason: String,
        /// What was received, for the sysadmin to inspect.
        raw: Option<String>,
    },
}

/// What a page did to the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageCounts {
    /// Records not seen before (or seen deleted before).
    pub new: u64,
    /// Records whose normalised content changed.
    pub updated: u64,
    /// Records harvested again with identical content.
    pub unchanged: u64,
    /// Records deleted (only counted if they were live).
    pub deleted: u64,
    /// Records set aside.
    pub quarantined: u64,
    /// Invalid characters repaired in the responses (not records).
    pub repaired: u64,
}

impl PageCounts {
    /// Add another page's counts.
    pub fn add(&mut self, o: PageCounts) {
        self.new += o.new;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.deleted += o.deleted;
        self.quarantined += o.quarantined;
        self.repaired += o.repaired;
    }

    /// Records received: every record of a page lands in exactly one of
    /// new, updated, unchanged, deleted or quarantined.
    pub fn seen(&self) -> u64 {
        self.new + self.updated + self.unchanged + self.deleted + self.quarantined
    }
}

/// Where an interrupted run can resume: saved with every page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// The resumption token of the next page.
    pub token: Option<String>,
    /// The token's cursor, if the repository gave one.
    pub cursor: Option<u64>,
    /// The `from` the run sent.
    pub from: Option<String>,
    /// The responseDate of the run's first request (the next `from`).
    pub first_response_date: Option<String>,
}

/// How a harvest run ended, as `harvest_runs.outcome` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// The list was harvested to its end; the partner's `from` moves on.
    Ok,
    /// The run failed (network, protocol, store); counted as a failure.
    Failed,
    /// The run was stopped on purpose (shutdown, Ctrl-C, the partner's
    /// lease taken over) after committing its pages; it resumes from its
    /// checkpoint and is not a failure.
    Interrupted,
}

impl RunOutcome {
    /// The text stored in `harvest_runs.outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Ok => "ok",
            RunOutcome::Failed => "failed",
            RunOutcome::Interrupted => "interrupted",
        }
    }
}

/// A harvest run as recorded.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Run id.
    pub id: i64,
    /// Partner name.
    pub partner: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time, if finished.
    pub finished_at: Option<String>,
    /// `running`, `ok`, `failed` or `interrupted` ([`RunOutcome`]).
    pub outcome: String,
    /// Pages committed.
    pub pages: u64,
    /// Counts.
    pub counts: PageCounts,
    /// The next incremental `from` recorded by this run (complete runs only).
    pub next_from: Option<String>,
    /// Why the run failed.
    pub error: Option<String>,
}

/// A partner's totals over all runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartnerTotals {
    /// Records received (new, updated or unchanged).
    pub harvested: u64,
    /// Deletions applied.
    pub deleted: u64,
    /// Records quarantined.
    pub quarantined: u64,
    /// Runs that failed.
    pub failed_runs: u64,
    /// All runs.
    pub runs: u64,
    /// Unix time the last successful run finished.
    pub last_success: Option<i64>,
    /// How long the last successful run took, in seconds.
    pub last_duration_secs: Option<f64>,
}

/// A source record as stored (live ones only are returned by lookups).
#[derive(Debug, Clone)]
pub struct SourceRecord {
    /// Row id.
    pub id: i64,
    /// Partner name.
    pub partner: String,
    /// OAI identifier.
    pub oai_id: String,
    /// The partner's 001.
    pub local_id: Option<String>,
    /// Normalised MARCXML.
    pub record: String,
}

/// A source record as the dedup pass reads it: its text still as stored
/// (see [`packed::Stored`]), unpacked where it is parsed.
#[derive(Debug, Clone)]
pub struct StoredSource {
    /// Row id.
    pub id: i64,
    /// Partner name.
    pub partner: String,
    /// OAI identifier.
    pub oai_id: String,
    /// The partner's 001.
    pub local_id: Option<String>,
    /// Normalised MARCXML, as stored.
    pub record: packed::Stored,
}

impl StoredSource {
    /// The record with its text unpacked.
    pub fn into_source(self) -> Result<SourceRecord> {
        Ok(SourceRecord {
            id: self.id,
            partner: self.partner,
            oai_id: self.oai_id,
            local_id: self.local_id,
            record: self.record.into_text()?,
        })
    }
}

/// A lease of the shared store, for `status` (PostgreSQL only).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeaseRow {
    /// What it protects: `partner:NAME` or `pipeline`.
    pub name: String,
    /// Its holder, `host:pid:tag` (see `lease`).
    pub holder: String,
    /// When the holder took it (RFC 3339, UTC, the database's clock).
    pub acquired_at: String,
    /// When it runs out unless renewed (RFC 3339, UTC).
    pub expires_at: String,
    /// Whether it has run out (by the database's clock): its holder died
    /// or lost its connection, and another daemon may take the work over.
    pub expired: bool,
}

/// A union record for publishing.
#[derive(Debug, Clone)]
pub struct UnionRow {
    /// Cluster (and union record) id.
    pub cluster_id: String,
    /// Change sequence number of its last change.
    pub seq: i64,
    /// The union record as MARCXML.
    pub record: String,
}

/// Current UTC time in RFC 3339, seconds precision.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl SqliteStore {
    /// Open (creating and migrating if needed) the database in `state_dir`.
    ///
    /// A missing, empty or blank file where the state directory's history
    /// file says the catalogue was is refused ([`guard`]), never re-created.
    pub fn open(state_dir: &Path) -> Result<SqliteStore> {
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("creating state directory {}", state_dir.display()))?;
        guard::refuse_vanished(state_dir, None)?;
        let path = state_dir.join(DB_FILE);
        let conn = Connection::open(&path)
            .with_context(|| format!("opening database {}", path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        packed::register(&conn)?;
        // WAL lets `status` and the CLI read while the daemon writes;
        // synchronous=NORMAL in WAL mode still never corrupts the database,
        // at worst it loses the last transaction on power loss, which the
        // next harvest re-fetches because `from` only advances on success.
        set_wal(&conn).with_context(|| format!("switching {} to WAL mode", path.display()))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut store = SqliteStore {
            conn,
            path,
            checkpointer: std::cell::OnceCell::new(),
        };
        store.migrate()?;
        guard::refuse_blank(state_dir, store.current_seq()?)?;
        Ok(store)
    }

    /// Tune this connection for writing harvest pages (one transaction per
    /// page of a few hundred records).
    ///
    /// A page dirties a few thousand pages, most of them scattered over the
    /// match-key index (keys are random). With SQLite's default 2 MiB page
    /// cache the transaction spills dirty pages to the WAL before it
    /// commits and re-reads index pages from the file on every page; a
    /// 16 MiB cache holds a page's working set. Checkpointing every 1,000
    /// WAL frames (the default, about two harvest pages) copies the same
    /// hot index pages back into the database file and syncs it again and
    /// again; at 10,000 frames (about 40 MiB of WAL) each is copied once
    /// per several pages. Durability is unchanged: every page is still one
    /// transaction with its checkpoint, safe against a crash of the
    /// process; as before (synchronous=NORMAL), a power loss can roll back
    /// the pages since the last WAL sync, which the next run fetches again.
    /// Both settings belong to this connection only.
    ///
    /// The checkpoints themselves run on a thread of their own (see
    /// [`Checkpointer`]), so this connection's automatic checkpoint is off.
    pub fn tune_for_harvest(&self) -> Result<()> {
        self.conn.pragma_update(None, "cache_size", -16_384)?;
        self.start_checkpointer()?;
        self.conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // After a restart of the log, its file is cut back at the next
        // commit, so the file's length tells how much the log holds.
        self.conn.pragma_update(None, "journal_size_limit", 0)?;
        Ok(())
    }

    /// This connection's checkpoint thread ([`Checkpointer`]), started if
    /// it is not running.
    fn start_checkpointer(&self) -> Result<()> {
        if self.checkpointer.get().is_none() {
            let checkpointer = Checkpointer::start(&self.path)?;
            let _ = self.checkpointer.set(checkpointer);
        }
        Ok(())
    }

    /// Where the database file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn migrate(&mut self) -> Result<()> {
        // The version is read inside an IMMEDIATE transaction: two
        // processes (or tasks) opening a new database at once must not both
        // apply the same migration; the second waits, then sees it done.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = tx.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
        if version > MIGRATIONS.len() {
            anyhow::bail!(
                "database {} has schema version {version}, newer than this unicat ({}); upgrade unicat",
                self.path.display(),
                MIGRATIONS.len()
            );
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            tx.execute_batch(sql)
                .with_context(|| format!("applying schema migration {}", i + 1))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        }
        if version == 0 {
            // A new database: its keys will all be made by this version.
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('keys_version', ?1)",
                [crate::dedup::keys::KEYS_VERSION],
            )?;
        }
        tx.commit()?;
        if version > 0 && version < PACKING_MIGRATION {
            self.reclaim_after_packing();
        }
        Ok(())
    }

    /// After the texts were packed, give the old tables' pages back to the
    /// file system (the file kept its size: their pages were only freed).
    /// Once, at the upgrade; a failure (another process reading a large
    /// store for longer than the busy timeout) only leaves the free pages
    /// to be reused by later writes.
    fn reclaim_after_packing(&self) {
        let before = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        tracing::info!(
            db = %self.path.display(),
            "store upgraded: texts packed; reclaiming the freed space (VACUUM)"
        );
        let _ = sd_notify::notify(
            false,
            &[sd_notify::NotifyState::ExtendTimeoutUsec(600_000_000)],
        );
        match self.conn.execute_batch("VACUUM") {
            Ok(()) => {
                let after = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
                tracing::info!(
                    before_bytes = before,
                    after_bytes = after,
                    "store compacted"
                );
            }
            Err(e) => tracing::warn!(
                error = %e,
                "could not compact the store after packing its texts; the freed pages will be reused"
            ),
        }
    }

    /// SQLite's quick check of every page's structure (without comparing
    /// indexes with their tables): nothing if sound, else what is wrong.
    pub fn quick_check(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("PRAGMA quick_check")?;
        let lines = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(if lines == ["ok"] { Vec::new() } else { lines })
    }

    /// SQLite's own consistency check: `ok`, or what is wrong.
    pub fn integrity_check(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    /// The next incremental `from` for a partner (from its last complete run).
    pub fn next_from(&self, partner: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT next_from FROM harvest_state WHERE partner = ?1",
                [partner],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }

    /// Record the start of a harvest run.
    pub fn begin_run(&mut self, partner: &str) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO harvest_runs (partner, started_at) VALUES (?1, ?2)",
            params![partner, now_rfc3339()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Record the `from` a run sends (None for a full harvest).
    pub fn set_run_from(&mut self, run_id: i64, from: Option<&str>) -> Result<()> {
        self.conn.execute(
            "UPDATE harvest_runs SET from_param = ?2 WHERE id = ?1",
            params![run_id, from],
        )?;
        Ok(())
    }

    /// Write one harvested page and the run's checkpoint in one transaction:
    /// after a crash either the whole page is there or none of it is.
    pub fn commit_page(
        &mut self,
        run_id: i64,
        partner: &str,
        items: &[PageItem],
        checkpoint: Option<&Checkpoint>,
        repaired: u64,
    ) -> Result<PageCounts> {
        // IMMEDIATE takes the write lock up front, so two writers queue on
        // the busy timeout instead of one failing when it upgrades.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut counts = PageCounts {
            repaired,
            ..PageCounts::default()
        };
        // One timestamp for the page: the records are committed together.
        let now = now_rfc3339();
        // Whether the partner has quarantined records not yet resolved.
        // Usually it has none, and then no record needs the per-record
        // UPDATE below; a quarantine row written by this page sets it (the
        // IMMEDIATE transaction keeps other writers out meanwhile).
        let mut open_quarantine: bool = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM quarantine WHERE partner = ?1 AND resolved_at IS NULL)",
            )?
            .query_row([partner], |r| r.get(0))?;
        for item in items {
            match item {
                PageItem::Upsert {
                    oai_id,
                    datestamp,
                    local_id,
                    raw,
                    record,
                    content_hash,
                    keys,
                    repairs,
                } => {
                    counts.repaired += repairs;
                    // A new version that reads: the quarantined ones are
                    // superseded (kept, marked resolved, for the record).
                    if open_quarantine {
                        tx.prepare_cached(
                            "UPDATE quarantine SET resolved_at = ?3 WHERE partner = ?1 AND oai_id = ?2 AND resolved_at IS NULL",
                        )?
                        .execute(params![partner, oai_id, now])?;
                    }
                    let existing: Option<(i64, bool, Option<String>)> = tx
                        .prepare_cached(
                            "SELECT id, deleted, content_hash FROM source_records WHERE partner = ?1 AND oai_id = ?2",
                        )?
                        .query_row(params![partner, oai_id], |r| {
                            Ok((r.get(0)?, r.get::<_, i64>(1)? != 0, r.get(2)?))
                        })
                        .optional()?;
                    let id = match existing {
                        Some((id, false, Some(h))) if &h == content_hash => {
                            // Same content again: refresh the datestamp and
                            // raw text, but do not disturb dedup.
                            tx.prepare_cached(
                                "UPDATE source_records SET datestamp = ?2, raw = ?3 WHERE id = ?1",
                            )?
                            .execute(params![
                                id,
                                datestamp,
                                packed::pack(raw)
                            ])?;
                            counts.unchanged += 1;
                            continue;
                        }
                        Some((id, was_deleted, _)) => {
                            if was_deleted {
                                counts.new += 1;
                            } else {
                                counts.updated += 1;
                            }
                            tx.prepare_cached(
                                "UPDATE source_records SET local_id = ?2, datestamp = ?3, deleted = 0, raw = ?4,
                                 record = ?5, content_hash = ?6, updated_run = ?7 WHERE id = ?1",
                            )?
                            .execute(params![
                                id,
                                local_id,
                                datestamp,
                                packed::pack(raw),
                                packed::pack(record),
                                content_hash,
                                run_id
                            ])?;
                            id
                        }
                        None => {
                            counts.new += 1;
                            tx.prepare_cached(
                                "INSERT INTO source_records (partner, oai_id, local_id, datestamp, raw, record, content_hash, updated_run)
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                            )?
                            .execute(params![
                                partner,
                                oai_id,
                                local_id,
                                datestamp,
                                packed::pack(raw),
                                packed::pack(record),
                                content_hash,
                                run_id
                            ])?;
                            tx.last_insert_rowid()
                        }
                    };
                    wait_for_dedup(&tx, id)?;
                    replace_keys(&tx, id, keys)?;
                }
                PageItem::Delete { oai_id, datestamp } => {
                    let changed = tx
                        .prepare_cached(
                            "UPDATE source_records SET deleted = 1, datestamp = ?3, record = NULL, content_hash = NULL,
                             updated_run = ?4 WHERE partner = ?1 AND oai_id = ?2 AND deleted = 0",
                        )?
                        .execute(params![partner, oai_id, datestamp, run_id])?;
                    if changed > 0 {
                        counts.deleted += 1;
                        let id: i64 = tx
                            .prepare_cached(
                                "SELECT id FROM source_records WHERE partner = ?1 AND oai_id = ?2",
                            )?
                            .query_row(params![partner, oai_id], |r| r.get(0))?;
                        wait_for_dedup(&tx, id)?;
                        replace_keys(&tx, id, &[])?;
                    }
                }
                PageItem::Quarantine {
                    oai_id,
                    reason,
                    raw,
                } => {
                    counts.quarantined += 1;
                    open_quarantine = true;
                    tx.prepare_cached(
                        "INSERT INTO quarantine (partner, oai_id, run_id, reason, raw, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?
                    .execute(params![partner, oai_id, run_id, reason, raw, now])?;
                }
            }
        }
        tx.execute(
            "UPDATE harvest_runs SET pages = pages + 1, new = new + ?2, updated = updated + ?3,
             unchanged = unchanged + ?4, deleted = deleted + ?5, quarantined = quarantined + ?6,
             repaired = repaired + ?7 WHERE id = ?1",
            params![
                run_id,
                counts.new as i64,
                counts.updated as i64,
                counts.unchanged as i64,
                counts.deleted as i64,
                counts.quarantined as i64,
                counts.repaired as i64
            ],
        )?;
        // Imports have no checkpoint, and must not clear a harvest's.
        if let Some(checkpoint) = checkpoint {
            tx.execute(
                "INSERT INTO harvest_state (partner, resumption_token, run_id, checkpoint_from, checkpoint_first_date,
                                            checkpoint_cursor)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (partner) DO UPDATE SET resumption_token = ?2, run_id = ?3, checkpoint_from = ?4,
                     checkpoint_first_date = ?5, checkpoint_cursor = ?6",
                params![
                    partner,
                    checkpoint.token,
                    run_id,
                    checkpoint.from,
                    checkpoint.first_response_date,
                    checkpoint.cursor.map(|c| c as i64)
                ],
            )?;
        }
        tx.commit()?;
        if let Some(checkpointer) = self.checkpointer.get() {
            checkpointer.wake();
        }
        self.bound_wal();
        Ok(counts)
    }

    /// Keep the write-ahead log short when several connections write in
    /// turn, as the partners of one harvest do.
    ///
    /// SQLite starts the log again from its beginning only when a writer
    /// begins after a checkpoint has copied every frame back. The automatic
    /// checkpoint is passive and runs after the commit has let go of the
    /// write lock; with four partners committing in turn, the next writer
    /// has nearly always begun before it finishes, so the log is hardly
    /// ever restarted: it grew to 20 GB over a harvest of 1,000,000
    /// records (bench/run.sh's synthetic corpus), and with it
    /// the shared-memory WAL index (39 MiB, all of it resident), the
    /// scratch memory of every checkpoint (proportional to the whole log)
    /// and the cost of looking a page up in the log. A TRUNCATE checkpoint
    /// holds the write lock while it copies, so no writer slips in, then
    /// empties the file. It waits at most [`WAL_CHECKPOINT_WAIT`] for the
    /// commit in flight on another connection; if it cannot have the lock
    /// by then it does what the passive one does, and a later page tries
    /// again. The page is committed whatever happens here: a failure is
    /// logged, never returned.
    fn bound_wal(&self) {
        let len = wal_len(&wal_path(&self.path));
        // With checkpoints in the background the log is emptied there, and
        // this is only the backstop for a log that never restarts (several
        // writers in turn); it waits for the checkpoint thread to fall
        // well behind.
        let bound = if self.checkpointer.get().is_some() {
            WAL_BOUND_BYTES
        } else {
            WAL_TRUNCATE_BYTES
        };
        if len < bound {
            return;
        }
        let checkpoint = || -> rusqlite::Result<i64> {
            self.conn.busy_timeout(WAL_CHECKPOINT_WAIT)?;
            let busy = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0));
            self.conn.busy_timeout(BUSY_TIMEOUT)?;
            busy
        };
        match checkpoint() {
            Ok(0) => {}
            Ok(_) => tracing::debug!(
                wal_bytes = len,
                "WAL checkpoint busy; trying again after a later page"
            ),
            Err(e) => {
                tracing::warn!(wal_bytes = len, error = %e, "WAL checkpoint failed; trying again after a later page")
            }
        }
    }

    /// Close a run. Only a complete run moves the partner's `from` forward.
    /// A failed run keeps its checkpoint (the next run resumes there)
    /// unless `drop_checkpoint`, for failures that resuming would repeat.
    pub fn finish_run(
        &mut self,
        run_id: i64,
        partner: &str,
        outcome: RunOutcome,
        next_from: Option<&str>,
        error: Option<&str>,
        drop_checkpoint: bool,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE harvest_runs SET finished_at = ?2, outcome = ?3, next_from = ?4, error = ?5 WHERE id = ?1",
            params![run_id, now_rfc3339(), outcome.as_str(), next_from, error],
        )?;
        if outcome == RunOutcome::Ok {
            tx.execute(
                "INSERT INTO harvest_state (partner, next_from, resumption_token, run_id) VALUES (?1, ?2, NULL, ?3)
                 ON CONFLICT (partner) DO UPDATE SET next_from = coalesce(?2, next_from), resumption_token = NULL,
                     checkpoint_from = NULL, checkpoint_first_date = NULL, checkpoint_cursor = NULL, run_id = ?3",
                params![partner, next_from, run_id],
            )?;
        } else if drop_checkpoint {
            tx.execute(
                "UPDATE harvest_state SET resumption_token = NULL, checkpoint_from = NULL,
                     checkpoint_first_date = NULL, checkpoint_cursor = NULL WHERE partner = ?1",
                [partner],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The checkpoint of an interrupted run, if there is one to resume.
    pub fn checkpoint(&self, partner: &str) -> Result<Option<Checkpoint>> {
        Ok(self
            .conn
            .query_row(
                "SELECT resumption_token, checkpoint_cursor, checkpoint_from, checkpoint_first_date
                 FROM harvest_state WHERE partner = ?1 AND resumption_token IS NOT NULL",
                [partner],
                |r| {
                    Ok(Checkpoint {
                        token: r.get(0)?,
                        cursor: r.get::<_, Option<i64>>(1)?.map(|c| c as u64),
                        from: r.get(2)?,
                        first_response_date: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Start a reconciliation listing for a partner (forgets any earlier one).
    pub fn reconcile_begin(&mut self, partner: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM reconcile_seen WHERE partner = ?1", [partner])?;
        Ok(())
    }

    /// Record identifiers seen by a reconciliation listing (one page).
    pub fn reconcile_seen(&mut self, partner: &str, ids: &[String]) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut ins = tx.prepare_cached(
                "INSERT OR IGNORE INTO reconcile_seen (partner, oai_id) VALUES (?1, ?2)",
            )?;
            for id in ids {
                ins.execute(params![partner, id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Finish a reconciliation: mark live records that the listing did not
    /// contain as deleted, unless the listing holds fewer than `min_ratio`
    /// of our live records. Returns (live before, listed, deleted).
    pub fn reconcile_apply(&mut self, partner: &str, min_ratio: f64) -> Result<(u64, u64, u64)> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let live: i64 = tx.query_row(
            "SELECT count(*) FROM source_records WHERE partner = ?1 AND deleted = 0",
            [partner],
            |r| r.get(0),
        )?;
        let listed: i64 = tx.query_row(
            "SELECT count(*) FROM reconcile_seen WHERE partner = ?1",
            [partner],
            |r| r.get(0),
        )?;
        if live > 0 && (listed as f64) < min_ratio * live as f64 {
            anyhow::bail!(
                "the listing has {listed} identifiers for {live} records we hold (below the minimum ratio {min_ratio}); \
                 refusing to delete, since a near-empty listing is more likely a broken endpoint"
            );
        }
        // The keys of the records gone from the listing: from the key
        // index first (found through their record's keys), then the rest.
        let gone = "SELECT id FROM source_records s WHERE s.partner = ?1 AND s.deleted = 0
            AND NOT EXISTS (SELECT 1 FROM reconcile_seen r WHERE r.partner = ?1 AND r.oai_id = s.oai_id)";
        tx.execute(
            &format!(
                "DELETE FROM match_keys WHERE (key, record_id) IN (
                    SELECT key, record_id FROM record_keys WHERE record_id IN ({gone}))"
            ),
            [partner],
        )?;
        for table in ["record_keys", "record_keys_unmerged"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE record_id IN ({gone})"),
                [partner],
            )?;
        }
        tx.execute(
            &format!("INSERT OR IGNORE INTO dedup_waiting (record_id) {gone}"),
            [partner],
        )?;
        let deleted = tx.execute(
            "UPDATE source_records SET deleted = 1, record = NULL, content_hash = NULL
             WHERE partner = ?1 AND deleted = 0
             AND NOT EXISTS (SELECT 1 FROM reconcile_seen r WHERE r.partner = ?1 AND r.oai_id = source_records.oai_id)",
            [partner],
        )?;
        tx.execute("DELETE FROM reconcile_seen WHERE partner = ?1", [partner])?;
        tx.commit()?;
        Ok((live as u64, listed as u64, deleted as u64))
    }

    /// Mark runs left `running` by a crashed process as failed, so that
    /// `status` does not show a harvest that nobody is doing.
    pub fn fail_stale_runs(&mut self, partner: &str) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE harvest_runs SET outcome = 'failed', finished_at = ?2,
             error = 'interrupted (process stopped before the run finished)'
             WHERE partner = ?1 AND outcome = 'running'",
            params![partner, now_rfc3339()],
        )?)
    }

    /// The latest run of a partner.
    pub fn last_run(&self, partner: &str) -> Result<Option<RunInfo>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, partner, started_at, finished_at, outcome, pages, new, updated, unchanged, deleted,
                        quarantined, next_from, error, repaired
                 FROM harvest_runs WHERE partner = ?1 ORDER BY id DESC LIMIT 1",
                [partner],
                |r| {
                    Ok(RunInfo {
                        id: r.get(0)?,
                        partner: r.get(1)?,
                        started_at: r.get(2)?,
                        finished_at: r.get(3)?,
                        outcome: r.get(4)?,
                        pages: r.get::<_, i64>(5)? as u64,
                        counts: PageCounts {
                            new: r.get::<_, i64>(6)? as u64,
                            updated: r.get::<_, i64>(7)? as u64,
                            unchanged: r.get::<_, i64>(8)? as u64,
                            deleted: r.get::<_, i64>(9)? as u64,
                            quarantined: r.get::<_, i64>(10)? as u64,
                            repaired: r.get::<_, i64>(13)? as u64,
                        },
                        next_from: r.get(11)?,
                        error: r.get(12)?,
                    })
                },
            )
            .optional()?)
    }

    /// Quarantine entries, newest first: open ones only unless `all`.
    pub fn quarantine_list(
        &self,
        partner: Option<&str>,
        all: bool,
    ) -> Result<Vec<QuarantineEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, partner, oai_id, run_id, reason, at, resolved_at, NULL FROM quarantine
             WHERE (?1 IS NULL OR partner = ?1) AND (?2 OR resolved_at IS NULL) ORDER BY id DESC",
        )?;
        let rows = stmt.query_map(params![partner, all], quarantine_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One quarantine entry with the raw record as received.
    pub fn quarantine_entry(&self, id: i64) -> Result<Option<QuarantineEntry>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, partner, oai_id, run_id, reason, at, resolved_at, raw FROM quarantine WHERE id = ?1",
                [id],
                quarantine_row,
            )
            .optional()?)
    }

    /// Close an import run (it never moves `from` or touches a harvest's
    /// checkpoint).
    pub fn finish_import_run(&mut self, run_id: i64, ok: bool, error: Option<&str>) -> Result<()> {
        self.conn.execute(
            "UPDATE harvest_runs SET finished_at = ?2, outcome = ?3, error = ?4 WHERE id = ?1",
            params![
                run_id,
                now_rfc3339(),
                if ok { "ok" } else { "failed" },
                error
            ],
        )?;
        Ok(())
    }

    /// A batch of a partner's live records with their raw text, after the
    /// record id `after`, in id order: reprocessing pages through a
    /// partner this way, so memory stays bounded.
    pub fn raw_batch(
        &self,
        partner: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, String, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, oai_id, raw FROM source_records
             WHERE partner = ?1 AND deleted = 0 AND raw IS NOT NULL AND id > ?2 ORDER BY id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![partner, after, limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, packed::get(r, 2)?.unwrap_or_default()))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Replace records' normalised form and keys after reprocessing, in one
    /// transaction. A record whose normalised form did not change is left
    /// alone (and not re-deduplicated). Returns how many changed.
    pub fn update_normalized(&mut self, batch: &[Renormalized]) -> Result<u64> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut changed = 0;
        for r in batch {
            let n = tx.execute(
                "UPDATE source_records SET record = ?2, content_hash = ?3, local_id = ?4
                 WHERE id = ?1 AND deleted = 0 AND content_hash IS NOT ?3",
                params![r.id, packed::pack(&r.record), r.content_hash, r.local_id],
            )?;
            if n > 0 {
                changed += 1;
                wait_for_dedup(&tx, r.id)?;
                replace_keys(&tx, r.id, &r.keys)?;
            }
        }
        tx.commit()?;
        Ok(changed)
    }

    /// How many of a partner's live records share their union record with
    /// another partner's record.
    pub fn count_merged_with_others(&self, partner: &str) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM source_records s JOIN cluster_members c ON c.record_id = s.id
             WHERE s.partner = ?1 AND s.deleted = 0 AND EXISTS (
                SELECT 1 FROM cluster_members c2 JOIN source_records s2 ON s2.id = c2.record_id
                WHERE c2.cluster_id = c.cluster_id AND s2.partner <> ?1 AND s2.deleted = 0)",
            [partner],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Union records holding more than one live record of this partner:
    /// the partner catalogued the same edition twice (a data-quality
    /// finding, reported rather than hidden).
    pub fn count_intra_partner_duplicates(&self, partner: &str) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM (
                SELECT c.cluster_id FROM cluster_members c JOIN source_records s ON s.id = c.record_id
                WHERE s.partner = ?1 AND s.deleted = 0
                GROUP BY c.cluster_id HAVING count(*) > 1)",
            [partner],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Sum of repairs made in a partner's runs.
    pub fn count_repaired(&self, partner: &str) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT coalesce(sum(repaired), 0) FROM harvest_runs WHERE partner = ?1",
            [partner],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// A value from the meta table (e.g. a partner's rules fingerprint).
    pub fn meta_text(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta_text WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Set a value in the meta table.
    pub fn set_meta_text(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta_text (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
            params![key, value],
        )?;
        Ok(())
    }

    /// Start time of the partner's last successful run.
    pub fn last_success_started(
        &self,
        partner: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        let started: Option<String> = self
            .conn
            .query_row(
                "SELECT started_at FROM harvest_runs WHERE partner = ?1 AND outcome = 'ok' ORDER BY id DESC LIMIT 1",
                [partner],
                |r| r.get(0),
            )
            .optional()?;
        Ok(started
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| t.with_timezone(&chrono::Utc)))
    }

    /// Totals over all of a partner's runs, for metrics.
    pub fn partner_totals(&self, partner: &str) -> Result<PartnerTotals> {
        let mut t = self.conn.query_row(
            "SELECT coalesce(sum(new + updated + unchanged), 0), coalesce(sum(deleted), 0),
                    coalesce(sum(quarantined), 0), coalesce(sum(outcome = 'failed'), 0), count(*)
             FROM harvest_runs WHERE partner = ?1",
            [partner],
            |r| {
                Ok(PartnerTotals {
                    harvested: r.get::<_, i64>(0)? as u64,
                    deleted: r.get::<_, i64>(1)? as u64,
                    quarantined: r.get::<_, i64>(2)? as u64,
                    failed_runs: r.get::<_, i64>(3)? as u64,
                    runs: r.get::<_, i64>(4)? as u64,
                    ..PartnerTotals::default()
                })
            },
        )?;
        let parse =
            |s: Option<String>| s.and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok());
        if let Some((started, finished)) = self
            .conn
            .query_row(
                "SELECT started_at, finished_at FROM harvest_runs WHERE partner = ?1 AND outcome = 'ok'
                 ORDER BY id DESC LIMIT 1",
                [partner],
                |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<String>>(1)?)),
            )
            .optional()?
        {
            let (s, f) = (parse(started), parse(finished));
            t.last_success = f.map(|f| f.timestamp());
            if let (Some(s), Some(f)) = (s, f) {
                t.last_duration_secs = Some((f - s).num_milliseconds() as f64 / 1000.0);
            }
        }
        Ok(t)
    }

    /// Live source records of a partner.
    pub fn count_live_records(&self, partner: &str) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM source_records WHERE partner = ?1 AND deleted = 0",
            [partner],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Quarantined records of a partner that no newer version superseded.
    pub fn count_quarantined(&self, partner: &str) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM quarantine WHERE partner = ?1 AND resolved_at IS NULL",
            [partner],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// (live union records, of which clusters with more than one member).
    pub fn union_counts(&self) -> Result<(u64, u64)> {
        // Kept by the dedup pass (`SqliteTx::commit`, migration 11).
        Ok(self.conn.query_row(
            "SELECT live, merged FROM union_tally WHERE id = 1",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }

    /// Start a dedup/merge transaction. Dedup reads and writes through it so
    /// that clusters and union records change together or not at all.
    pub fn transaction(&mut self) -> Result<SqliteTx<'_>> {
        // A pass walks the key index and the union table at random: with
        // SQLite's default 2 MiB page cache most of its time went to
        // re-reading pages from the OS (and, for pages the pass itself
        // wrote, to searching the write-ahead log for them).
        self.conn
            .pragma_update(None, "cache_size", -DEDUP_CACHE_KIB)?;
        // The staged keys' merge is a sort: with helper threads SQLite
        // sorts its runs on every core instead of this one alone (a first
        // load's pass spent a sixth of its time here).
        self.conn.pragma_update(None, "threads", sorter_threads())?;
        self.premerge_staged_keys()?;
        // A small pass's commit is copied by the checkpoint thread (see
        // `SqliteTx::commit`).
        self.start_checkpointer()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        Ok(SqliteTx {
            tx,
            staged: std::cell::RefCell::new(Staged::Unread),
            seq: std::cell::Cell::new(None),
            unions: std::cell::RefCell::new(StagedUnions::new(dir)),
            checkpointer: self.checkpointer.get(),
            versions: std::cell::Cell::new(0),
            tally: std::cell::Cell::new((0, 0)),
        })
    }

    /// Merge a large batch of staged keys (a full harvest's) in a
    /// transaction of its own, then empty the write-ahead log, before the
    /// dedup transaction starts. Inside that transaction the merge's pages
    /// would sit in its log for the whole pass, and every page the pass
    /// reads would be looked up among them. Fewer staged keys stay where
    /// they are: the dedup transaction reads them into memory (see
    /// [`StagedKeys`]).
    fn premerge_staged_keys(&mut self) -> Result<()> {
        if count_unmerged(&self.conn, STAGED_REBUILD_MIN)? < STAGED_REBUILD_MIN {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        merge_staged_keys(&tx)?;
        tx.commit()?;
        self.bound_wal();
        Ok(())
    }

    /// A source record by partner and its 001 or OAI identifier.
    pub fn find_source(&self, partner: &str, id: &str) -> Result<Option<SourceRecord>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, partner, oai_id, local_id, record FROM source_records
                 WHERE partner = ?1 AND (local_id = ?2 OR oai_id = ?2) AND deleted = 0
                 ORDER BY (local_id = ?2) DESC LIMIT 1",
                params![partner, id],
                source_row,
            )
            .optional()?)
    }

    /// The cluster a source record belongs to.
    pub fn cluster_of(&self, record_id: i64) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT cluster_id FROM cluster_members WHERE record_id = ?1",
                [record_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Members of a cluster, in id order.
    pub fn cluster_members(&self, cluster_id: &str) -> Result<Vec<SourceRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT s.id, s.partner, s.oai_id, s.local_id, s.record FROM cluster_members c
             JOIN source_records s ON s.id = c.record_id WHERE c.cluster_id = ?1 ORDER BY s.partner, s.oai_id",
        )?;
        let rows = stmt.query_map([cluster_id], source_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Match keys of a source record (merged into the key index or not
    /// yet: `record_keys` holds them either way).
    pub fn keys_of(&self, record_id: i64) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT key FROM record_keys WHERE record_id = ?1 ORDER BY key")?;
        let rows = stmt.query_map([record_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A union record by id (live or deleted: deleted ones have no record).
    pub fn union_record(&self, cluster_id: &str) -> Result<Option<(i64, bool, Option<String>)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT seq, deleted, record FROM union_records WHERE cluster_id = ?1",
                [cluster_id],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0, packed::get(r, 2)?)),
            )
            .optional()?)
    }

    /// The current change sequence number.
    pub fn current_seq(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'seq'", [], |r| r.get(0))?)
    }

    /// Call `f` for every live union record in id order, streaming from the
    /// database so the catalogue is never held in memory.
    pub fn for_each_live_union(&self, f: impl FnMut(UnionRow) -> Result<()>) -> Result<()> {
        self.stream_unions(
            "SELECT cluster_id, seq, record FROM union_records WHERE deleted = 0 ORDER BY cluster_id",
            [],
            f,
        )
    }

    /// Live union records changed after `seq`, in union id order: the
    /// delta of a publish, read through the sequence index so that it costs
    /// in proportion to the changes, not to the catalogue.
    pub fn for_each_live_union_since(
        &self,
        seq: i64,
        f: impl FnMut(UnionRow) -> Result<()>,
    ) -> Result<()> {
        self.stream_unions(
            // INDEXED BY: without statistics SQLite prefers walking the
            // primary key in id order (no sort), which reads every row.
            "SELECT cluster_id, seq, record FROM union_records INDEXED BY union_seq
             WHERE seq > ?1 AND deleted = 0 ORDER BY cluster_id",
            [seq],
            f,
        )
    }

    /// Stream the rows of a `cluster_id, seq, record` query into `f`.
    fn stream_unions(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        mut f: impl FnMut(UnionRow) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(sql)?;
        let mut rows = stmt.query(params)?;
        while let Some(r) = rows.next()? {
            f(UnionRow {
                cluster_id: r.get(0)?,
                seq: r.get(1)?,
                record: packed::get(r, 2)?.unwrap_or_default(),
            })?;
        }
        Ok(())
    }

    /// Begin one read transaction, so that everything read until
    /// [`SqliteStore::end_snapshot`] is one consistent snapshot even while
    /// a harvest writes (WAL mode).
    pub fn begin_snapshot(&mut self) -> Result<()> {
        self.conn.execute_batch("BEGIN DEFERRED")?;
        Ok(())
    }

    /// End the read transaction of [`SqliteStore::begin_snapshot`].
    pub fn end_snapshot(&mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    /// Union ids deleted after `seq`, in id order.
    pub fn deleted_unions_since(&self, seq: i64) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT cluster_id FROM union_records INDEXED BY union_seq
             WHERE deleted = 1 AND seq > ?1 ORDER BY cluster_id",
        )?;
        let rows = stmt.query_map([seq], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A sink's last published sequence number (0 if never published).
    pub fn publish_seq(&self, sink: &str) -> Result<i64> {
        Ok(self
            .conn
            .query_row(
                "SELECT last_seq FROM publish_state WHERE sink = ?1",
                [sink],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }

    /// Record that a sink has published everything up to `seq`.
    pub fn set_publish_seq(&mut self, sink: &str, seq: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO publish_state (sink, last_seq, published_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (sink) DO UPDATE SET last_seq = ?2, published_at = ?3",
            params![sink, seq, now_rfc3339()],
        )?;
        Ok(())
    }
}

/// `limit + 1` as an SQL LIMIT, without overflowing for a huge `limit`.
pub(crate) fn limit_plus_one(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1)
}

/// The schema version of the SQLite database in `state_dir` without
/// migrating it: `None` if there is no database yet.
pub fn sqlite_schema_version(state_dir: &Path) -> Result<Option<u32>> {
    let path = state_dir.join(DB_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening database {}", path.display()))?;
    let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    Ok(Some(v as u32))
}

/// The schema version this unicat's SQLite store has after migrating.
pub fn sqlite_schema_latest() -> u32 {
    MIGRATIONS.len() as u32
}

/// A record's new normalised form, from reprocessing.
#[derive(Debug, Clone)]
pub struct Renormalized {
    /// Row id.
    pub id: i64,
    /// Normalised MARCXML.
    pub record: String,
    /// Its content hash.
    pub content_hash: String,
    /// Its 001.
    pub local_id: Option<String>,
    /// Its match keys.
    pub keys: Vec<String>,
}

/// A quarantined record.
#[derive(Debug, Clone)]
pub struct QuarantineEntry {
    /// Entry id (for `quarantine show`).
    pub id: i64,
    /// Partner name.
    pub partner: String,
    /// OAI identifier (or `import:…`).
    pub oai_id: String,
    /// The run that received it.
    pub run_id: Option<i64>,
    /// Why it was set aside.
    pub reason: String,
    /// When (RFC 3339).
    pub at: Option<String>,
    /// When a newer, readable version superseded it.
    pub resolved_at: Option<String>,
    /// The record as received (only filled by `quarantine_entry`).
    pub raw: Option<String>,
}

fn quarantine_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<QuarantineEntry> {
    Ok(QuarantineEntry {
        id: r.get(0)?,
        partner: r.get(1)?,
        oai_id: r.get(2)?,
        run_id: r.get(3)?,
        reason: r.get(4)?,
        at: r.get(5)?,
        resolved_at: r.get(6)?,
        raw: r.get(7)?,
    })
}

/// Switch to WAL. Switching takes an exclusive lock for which SQLite does
/// not wait on the busy timeout, so two processes opening a new database at
/// the same moment can see "database is locked": retry for a few seconds.
fn set_wal(conn: &Connection) -> Result<()> {
    let mut tries = 0;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Ok(()) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && tries < 500 =>
            {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn source_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SourceRecord> {
    Ok(SourceRecord {
        id: r.get(0)?,
        partner: r.get(1)?,
        oai_id: r.get(2)?,
        local_id: r.get(3)?,
        record: packed::get(r, 4)?.unwrap_or_default(),
    })
}

/// The dedup and merge stage's view of the store, inside one transaction.
pub struct SqliteTx<'a> {
    tx: Transaction<'a>,
    /// The change sequence number, kept here during the pass and written
    /// back at commit: one update of the meta row instead of one per union
    /// record (nobody else writes while this IMMEDIATE transaction lasts).
    seq: std::cell::Cell<Option<i64>>,
    /// Union records written by this pass, held outside the database until
    /// the pass has read what it needs (see [`StagedUnions`]).
    unions: std::cell::RefCell<StagedUnions>,
    /// Woken after the commit to copy it into the database file.
    checkpointer: Option<&'a Checkpointer>,
    /// Union record versions this pass made: how large it is.
    versions: std::cell::Cell<u64>,
    /// What this pass changed in the live union records and in those
    /// merging several members, added to `union_tally` at commit.
    tally: std::cell::Cell<(i64, i64)>,
    /// The keys still staged, read when the pass first looks a key up:
    /// look-ups answer from both.
    staged: std::cell::RefCell<Staged>,
}

/// The union records a dedup pass wrote, kept in an unlinked scratch file
/// beside the database (the texts) and in memory (id, hash, sequence
/// number, offset: about 200 bytes each) until [`SqliteTx::flush_unions`]
/// writes them into `union_records` in one go.
///
/// Why: a pass reads pages at random (source records, clusters) while it
/// writes. Written pages that no longer fit the page cache spill into the
/// write-ahead log, and SQLite looks up every page it reads in that log
/// first; on a first load of 1,000,000 records the 1.7 GB of union records
/// made the log so long that this look-up (`walFindFrame`) was a seventh
/// of the pass's time. Held here, the log stays small while the pass
/// reads, and the union records are written after the reading is done,
/// still inside the same transaction.
struct StagedUnions {
    dir: PathBuf,
    file: Option<std::fs::File>,
    len: u64,
    records: HashMap<String, StagedUnion>,
}

struct StagedUnion {
    offset: u64,
    bytes: usize,
    hash: String,
    seq: i64,
    members: i64,
    updated_at: String,
}

impl StagedUnions {
    fn new(dir: &Path) -> StagedUnions {
        StagedUnions {
            dir: dir.to_path_buf(),
            file: None,
            len: 0,
            records: HashMap::new(),
        }
    }

    fn put(&mut self, cluster_id: &str, record: &[u8], staged: StagedUnion) -> Result<()> {
        use std::io::Write;
        let file = match &mut self.file {
            Some(f) => f,
            None => {
                self.file
                    .insert(tempfile::tempfile_in(&self.dir).with_context(|| {
                        format!("creating a scratch file in {}", self.dir.display())
                    })?)
            }
        };
        // Packed, as it will be stored: the scratch file is a seventh of
        // the texts' size, and the flush copies bytes.
        file.write_all(record)
            .with_context(|| format!("writing a scratch file in {}", self.dir.display()))?;
        let staged = StagedUnion {
            offset: self.len,
            bytes: record.len(),
            ..staged
        };
        self.len += record.len() as u64;
        self.records.insert(cluster_id.to_string(), staged);
        Ok(())
    }
}

impl SqliteTx<'_> {
    /// A text value from the meta table, inside this transaction.
    pub fn meta_text(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .tx
            .query_row("SELECT value FROM meta_text WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Set a text value in the meta table, inside this transaction.
    pub fn set_meta_text(&self, key: &str, value: &str) -> Result<()> {
        self.tx.execute(
            "INSERT INTO meta_text (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
            params![key, value],
        )?;
        Ok(())
    }

    /// Mark every live record for dedup (and so its cluster for merging).
    pub fn mark_all_dirty(&self) -> Result<u64> {
        Ok(self.tx.execute(
            "INSERT OR IGNORE INTO dedup_waiting (record_id)
             SELECT id FROM source_records WHERE deleted = 0 ORDER BY id",
            [],
        )? as u64)
    }

    /// The version of the match keys in the store (0 if never recorded).
    pub fn keys_version(&self) -> Result<i64> {
        Ok(self
            .tx
            .query_row(
                "SELECT value FROM meta WHERE key = 'keys_version'",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }

    /// Recompute every live record's keys with `keys` (from its stored,
    /// normalised MARCXML), mark them all for dedup, and record `version`.
    pub fn rekey_all(
        &self,
        version: i64,
        keys: impl Fn(&str) -> Result<Vec<String>>,
    ) -> Result<u64> {
        for table in ["match_keys", "record_keys", "record_keys_unmerged"] {
            self.tx.execute(&format!("DELETE FROM {table}"), [])?;
        }
        // Every key is now in `match_keys`: a copy of the staged ones
        // read before is out of date.
        self.staged.replace(Staged::Merged);
        let mut ins = self
            .tx
            .prepare_cached("INSERT OR IGNORE INTO match_keys (key, record_id) VALUES (?1, ?2)")?;
        let mut by_record = self
            .tx
            .prepare_cached("INSERT OR IGNORE INTO record_keys (record_id, key) VALUES (?1, ?2)")?;
        // Streamed: one record in memory at a time, however large the
        // catalogue (SQLite lets a transaction write one table while it
        // reads another).
        let mut stmt = self.tx.prepare(
            "SELECT id, record FROM source_records WHERE deleted = 0 AND record IS NOT NULL",
        )?;
        let mut rows = stmt.query([])?;
        let mut count = 0u64;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let record = packed::get(row, 1)?.unwrap_or_default();
            for key in keys(&record)? {
                ins.execute(params![key, id])?;
                by_record.execute(params![id, key])?;
            }
            count += 1;
        }
        drop(rows);
        self.mark_all_dirty()?;
        self.tx.execute(
            "INSERT INTO meta (key, value) VALUES ('keys_version', ?1)
             ON CONFLICT (key) DO UPDATE SET value = ?1",
            [version],
        )?;
        Ok(count)
    }

    /// Ids of records changed since the last dedup, in id order.
    pub fn dirty_records(&self) -> Result<Vec<i64>> {
        let mut stmt = self
            .tx
            .prepare("SELECT record_id FROM dedup_waiting ORDER BY record_id")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The staged match keys as this pass sees them, read on first use
    /// (a work pass never looks match keys up).
    fn staged(&self) -> Result<std::cell::Ref<'_, Staged>> {
        if matches!(*self.staged.borrow(), Staged::Unread) {
            let read = match StagedKeys::read(&self.tx)? {
                Some(keys) => Staged::Keys(keys),
                None => Staged::Merged,
            };
            self.staged.replace(read);
        }
        Ok(self.staged.borrow())
    }

    /// Keys of a record (merged into the index or still staged:
    /// `record_keys` holds them either way).
    pub fn keys_of(&self, record_id: i64) -> Result<Vec<String>> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT key FROM record_keys WHERE record_id = ?1 ORDER BY key")?;
        let rows = stmt.query_map([record_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records holding a key, at most `limit` + 1 of them (so that the
    /// caller can tell a key that is too common to link on).
    pub fn records_with_key(&self, key: &str, limit: usize) -> Result<Vec<i64>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT record_id FROM match_keys WHERE key = ?1 ORDER BY record_id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![key, limit_plus_one(limit)], |r| r.get(0))?;
        let merged: Vec<i64> = rows.collect::<Result<_, _>>()?;
        Ok(match self.staged()?.keys() {
            Some(staged) => staged.add_holders(merged, key, |_| true, limit),
            None => merged,
        })
    }

    /// Every entry of the key index in key order, for a pass over much of
    /// the catalogue: one walk along the index's own order instead of a
    /// look-up per key of every record.
    pub fn for_each_key_holder(&self, mut f: impl FnMut(&str, i64) -> Result<()>) -> Result<()> {
        // The walk reads one index in order: the staged keys join it first
        // (a pass this large pays little for their merge).
        if !matches!(*self.staged.borrow(), Staged::Merged) {
            merge_staged_keys(&self.tx)?;
            self.staged.replace(Staged::Merged);
        }
        let mut stmt = self
            .tx
            .prepare("SELECT key, record_id FROM match_keys ORDER BY key, record_id")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            f(r.get_ref(0)?.as_str()?, r.get(1)?)?;
        }
        Ok(())
    }

    /// The highest source record id (0 for an empty store): an upper bound
    /// on the records a pass could examine, read from the end of the table.
    pub fn max_record_id(&self) -> Result<i64> {
        Ok(self
            .tx
            .query_row("SELECT coalesce(max(id), 0) FROM source_records", [], |r| {
                r.get(0)
            })?)
    }

    /// Records holding both keys, at most `limit` + 1 of them.
    pub fn records_with_keys(&self, a: &str, b: &str, limit: usize) -> Result<Vec<i64>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT x.record_id FROM match_keys x
             JOIN match_keys y ON y.key = ?2 AND y.record_id = x.record_id
             WHERE x.key = ?1 ORDER BY x.record_id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![a, b, limit_plus_one(limit)], |r| r.get(0))?;
        let merged: Vec<i64> = rows.collect::<Result<_, _>>()?;
        Ok(match self.staged()?.keys() {
            Some(staged) => staged.add_holders(merged, a, |id| staged.holds(id, b), limit),
            None => merged,
        })
    }

    /// The cluster a record is in now.
    pub fn cluster_of(&self, record_id: i64) -> Result<Option<String>> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT cluster_id FROM cluster_members WHERE record_id = ?1")?;
        Ok(stmt.query_row([record_id], |r| r.get(0)).optional()?)
    }

    /// Members of a cluster as stored now.
    pub fn members_of(&self, cluster_id: &str) -> Result<Vec<i64>> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT record_id FROM cluster_members WHERE cluster_id = ?1")?;
        let rows = stmt.query_map([cluster_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A live source record (None if deleted or unknown).
    pub fn live_source(&self, record_id: i64) -> Result<Option<SourceRecord>> {
        self.live_source_stored(record_id)?
            .map(StoredSource::into_source)
            .transpose()
    }

    /// A live source record with its text as stored (None if deleted or
    /// unknown): [`SqliteTx::live_source`] without the unpacking.
    pub fn live_source_stored(&self, record_id: i64) -> Result<Option<StoredSource>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT id, partner, oai_id, local_id, record FROM source_records WHERE id = ?1 AND deleted = 0",
        )?;
        Ok(stmt
            .query_row([record_id], |r| {
                Ok(StoredSource {
                    id: r.get(0)?,
                    partner: r.get(1)?,
                    oai_id: r.get(2)?,
                    local_id: r.get(3)?,
                    record: r
                        .get::<_, Option<packed::Stored>>(4)?
                        .unwrap_or(packed::Stored::Text(String::new())),
                })
            })
            .optional()?)
    }

    /// Put a record in a cluster (or take it out of any, with `None`).
    pub fn set_cluster(&self, record_id: i64, cluster_id: Option<&str>) -> Result<()> {
        // Cached statements: a full pass calls these once per record.
        match cluster_id {
            Some(c) => self
                .tx
                .prepare_cached(
                    "INSERT INTO cluster_members (record_id, cluster_id) VALUES (?1, ?2)
                     ON CONFLICT (record_id) DO UPDATE SET cluster_id = ?2",
                )?
                .execute(params![record_id, c])?,
            None => self
                .tx
                .prepare_cached("DELETE FROM cluster_members WHERE record_id = ?1")?
                .execute([record_id])?,
        };
        Ok(())
    }

    /// Mark every changed record as deduplicated. Within this IMMEDIATE
    /// transaction nothing else writes, so the records dirty now are the
    /// ones the pass read at its start.
    pub fn clear_all_dirty(&self) -> Result<()> {
        self.tx.execute("DELETE FROM dedup_waiting", [])?;
        Ok(())
    }

    /// A union record that counted as `was` (live, merging several) now
    /// counts as `now`.
    fn count(&self, was: (i64, i64), now: (i64, i64)) {
        let (live, merged) = self.tally.get();
        self.tally
            .set((live + now.0 - was.0, merged + now.1 - was.1));
    }

    fn next_seq(&self) -> Result<i64> {
        let current = match self.seq.get() {
            Some(s) => s,
            None => self
                .tx
                .query_row("SELECT value FROM meta WHERE key = 'seq'", [], |r| r.get(0))?,
        };
        self.seq.set(Some(current + 1));
        self.versions.set(self.versions.get() + 1);
        Ok(current + 1)
    }

    /// Store a union record. A new version (new sequence number) is made only
    /// if the content changed, so re-harvesting identical data publishes
    /// nothing. Returns whether it changed.
    /// `packed`: the record as [`packed::pack`] gives it, if the caller
    /// packed it already (on a worker thread).
    pub fn put_union(
        &self,
        cluster_id: &str,
        record: &str,
        packed: Option<Vec<u8>>,
        hash: &str,
        members: usize,
    ) -> Result<bool> {
        // The version this pass staged, else the stored one.
        let staged = self
            .unions
            .borrow()
            .records
            .get(cluster_id)
            .map(|s| (s.hash.clone(), s.members));
        // (deleted, hash, members)
        let current: Option<(bool, Option<String>, i64)> = match staged {
            Some((h, members)) => Some((false, Some(h), members)),
            None => self
                .tx
                .prepare_cached(
                    "SELECT deleted, content_hash, members FROM union_records WHERE cluster_id = ?1",
                )?
                .query_row([cluster_id], |r| {
                    Ok((r.get::<_, i64>(0)? != 0, r.get(1)?, r.get(2)?))
                })
                .optional()?,
        };
        if let Some((false, Some(h), _)) = &current {
            if h == hash {
                return Ok(false);
            }
        }
        let was = match &current {
            Some((false, _, members)) => (1, i64::from(*members > 1)),
            _ => (0, 0),
        };
        self.count(was, (1, i64::from(members > 1)));
        let seq = self.next_seq()?;
        // updated_at is the OAI-PMH datestamp of the union record; it is
        // never written into the record itself, so output stays
        // deterministic.
        let packed = packed.unwrap_or_else(|| packed::pack(record));
        self.unions.borrow_mut().put(
            cluster_id,
            &packed,
            StagedUnion {
                offset: 0,
                bytes: 0,
                hash: hash.to_string(),
                seq,
                members: members as i64,
                updated_at: now_rfc3339(),
            },
        )?;
        Ok(true)
    }

    /// Mark a union record deleted (its cluster has no live members left).
    pub fn delete_union(&self, cluster_id: &str) -> Result<bool> {
        // A version staged by this pass is written first, so that deleting
        // it leaves the same deletion as when it was written at once (rare:
        // a pass deletes clusters it did not write).
        if self.unions.borrow().records.contains_key(cluster_id) {
            self.flush_unions()?;
        }
        let live: Option<i64> = self
            .tx
            .query_row(
                "SELECT members FROM union_records WHERE cluster_id = ?1 AND deleted = 0",
                [cluster_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(members) = live else {
            return Ok(false);
        };
        self.count((1, i64::from(members > 1)), (0, 0));
        let seq = self.next_seq()?;
        self.tx.execute(
            "UPDATE union_records SET deleted = 1, seq = ?2, record = NULL, content_hash = NULL, members = 0,
                 updated_at = ?3 WHERE cluster_id = ?1",
            params![cluster_id, seq, now_rfc3339()],
        )?;
        Ok(true)
    }

    /// Write the union records staged by this pass into `union_records`
    /// (still inside the transaction), in the order they were staged.
    pub fn flush_unions(&self) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let mut unions = self.unions.borrow_mut();
        if unions.records.is_empty() && unions.file.is_none() {
            return Ok(());
        }
        let mut order: Vec<(&String, &StagedUnion)> = unions.records.iter().collect();
        order.sort_unstable_by_key(|(_, s)| s.offset);
        if let Some(file) = unions.file.as_ref() {
            let mut file = file;
            let mut insert = self.tx.prepare_cached(
                "INSERT INTO union_records (cluster_id, seq, deleted, record, content_hash, members, updated_at)
                 VALUES (?1, ?2, 0, ?3, ?4, ?5, ?6)
                 ON CONFLICT (cluster_id) DO UPDATE SET seq = ?2, deleted = 0, record = ?3, content_hash = ?4,
                     members = ?5, updated_at = ?6",
            )?;
            let mut record = Vec::new();
            for (cluster_id, s) in order {
                record.resize(s.bytes, 0);
                file.seek(SeekFrom::Start(s.offset))?;
                file.read_exact(&mut record)
                    .context("reading back the dedup pass's scratch file")?;
                insert.execute(params![
                    cluster_id,
                    s.seq,
                    record,
                    s.hash,
                    s.members,
                    s.updated_at
                ])?;
            }
        }
        let dir = std::mem::take(&mut unions.dir);
        *unions = StagedUnions::new(&dir);
        Ok(())
    }

    /// Commit everything dedup and merge did.
    pub fn commit(self) -> Result<()> {
        self.flush_unions()?;
        let (live, merged) = self.tally.get();
        if (live, merged) != (0, 0) {
            self.tx.execute(
                "UPDATE union_tally SET live = live + ?1, merged = merged + ?2 WHERE id = 1",
                [live, merged],
            )?;
        }
        if let Some(seq) = self.seq.get() {
            self.tx
                .execute("UPDATE meta SET value = ?1 WHERE key = 'seq'", [seq])?;
        }
        // Who copies the commit into the database file. A small pass's
        // copy goes to the checkpoint thread: done by this thread, the
        // copy and its syncs were a sixth of an incremental pass of 1,000
        // changes on the benchmark's store, and in the background they
        // overlap the work pass that follows (the store's drop waits for
        // them). A large pass's (a first load's, gigabytes) is made here,
        // by SQLite's automatic checkpoint, as before: the next pass would
        // otherwise start while its frames are still in the log, append
        // behind them, look for every page it misses in its cache among
        // them and share the cores with the copy (a full pass over 100,000
        // records took a few per cent longer so).
        let background = self
            .checkpointer
            .filter(|_| self.versions.get() < LARGE_PASS_VERSIONS);
        let automatic = if background.is_some() {
            0
        } else {
            SQLITE_AUTOCHECKPOINT_FRAMES
        };
        self.tx
            .pragma_update(None, "wal_autocheckpoint", automatic)?;
        self.tx.commit()?;
        if let Some(checkpointer) = background {
            checkpointer.after_pass();
        }
        Ok(())
    }
}

/// Put a stored record among those the next dedup pass examines
/// (`dedup_waiting`; the pass empties it when it commits).
fn wait_for_dedup(tx: &Transaction<'_>, record_id: i64) -> Result<()> {
    tx.prepare_cached("INSERT OR IGNORE INTO dedup_waiting (record_id) VALUES (?1)")?
        .execute([record_id])?;
    Ok(())
}

/// Replace a record's match keys with `keys` (none: remove them). The old
/// ones leave `record_keys` and, if they were merged, the key index; the
/// new ones are appended to `record_keys` in record order, the record is
/// listed as unmerged, and they reach `match_keys` when the staged keys
/// are merged (see [`StagedKeys`]).
fn replace_keys(tx: &Transaction<'_>, record_id: i64, keys: &[String]) -> Result<()> {
    // Found through the record's keys (a new record has none: one seek).
    tx.prepare_cached(
        "DELETE FROM match_keys WHERE (key, record_id) IN (
             SELECT key, record_id FROM record_keys WHERE record_id = ?1)",
    )?
    .execute([record_id])?;
    tx.prepare_cached("DELETE FROM record_keys WHERE record_id = ?1")?
        .execute([record_id])?;
    if keys.is_empty() {
        tx.prepare_cached("DELETE FROM record_keys_unmerged WHERE record_id = ?1")?
            .execute([record_id])?;
        return Ok(());
    }
    tx.prepare_cached("INSERT OR IGNORE INTO record_keys_unmerged (record_id) VALUES (?1)")?
        .execute([record_id])?;
    // Up to KEYS_PER_INSERT keys per statement, the unused places NULL: a
    // record has about five keys, and executing one statement for each
    // was a fifth of a page commit's time.
    let mut ins = tx.prepare_cached(
        "INSERT OR IGNORE INTO record_keys (record_id, key)
         SELECT ?1, column1 FROM (VALUES (?2), (?3), (?4), (?5), (?6), (?7), (?8), (?9))
         WHERE column1 IS NOT NULL",
    )?;
    for chunk in keys.chunks(KEYS_PER_INSERT) {
        ins.raw_bind_parameter(1, record_id)?;
        for slot in 0..KEYS_PER_INSERT {
            ins.raw_bind_parameter(slot + 2, chunk.get(slot).map(String::as_str))?;
        }
        ins.raw_execute()?;
    }
    Ok(())
}

/// How many keys [`replace_keys`] inserts with one statement (the number
/// of `VALUES` rows in it).
const KEYS_PER_INSERT: usize = 8;

/// Helper threads for SQLite's sorter: one per core beyond this one.
fn sorter_threads() -> i64 {
    std::thread::available_parallelism().map_or(0, |n| n.get() as i64 - 1)
}

/// A dedup transaction's view of the staged match keys.
enum Staged {
    /// Not read yet.
    Unread,
    /// None are staged, or this transaction merged them.
    Merged,
    /// Read into memory.
    Keys(StagedKeys),
}

impl Staged {
    fn keys(&self) -> Option<&StagedKeys> {
        match self {
            Staged::Keys(keys) => Some(keys),
            Staged::Unread | Staged::Merged => None,
        }
    }
}

/// The staged match keys, read into memory for a dedup transaction
/// instead of merged into `match_keys`: the pass answers its look-ups
/// from both.
///
/// Why: fewer than [`STAGED_REBUILD_MIN`] keys are an incremental
/// harvest's. Merged, each landed on a page of its own in `match_keys`
/// and in the record-id index it had then (keys are random): after 1,000
/// changes on a 1,000,000-record store, 6,444 keys dirtied 8,109 pages, two fifths of
/// everything the pass wrote, each then written to the log at commit and
/// copied into the database file after it. Here they cost a read of a
/// small table; they stay staged until a harvest brings them to
/// [`STAGED_REBUILD_MIN`] (merged in order by `premerge_staged_keys`;
/// below that, 20-30 MB in memory at most) or a pass walks the
/// key index (which merges them first). A dedup transaction writes no
/// match keys except through `rekey_all` (which drops this copy), and
/// holds the write lock, so the copy stays true for its whole length.
///
/// Left staged, an incremental harvest's keys add up over the following
/// passes, each of which reads them all (a scan of a small table into
/// two maps), until the merge at [`STAGED_REBUILD_MIN`]. That merge inserts
/// in key order and so touches each index page at most once, against a
/// page per key when every pass merged its own few thousand.
struct StagedKeys {
    /// Holders of each staged key, in id order.
    holders: HashMap<String, Vec<i64>>,
    /// Each staged record's keys, in key order (for [`Self::holds`]).
    keys: HashMap<i64, Vec<String>>,
}

impl StagedKeys {
    /// The staged keys, or `None` if there are none.
    fn read(tx: &Transaction<'_>) -> Result<Option<StagedKeys>> {
        let mut holders: HashMap<String, Vec<i64>> = HashMap::new();
        let mut keys: HashMap<i64, Vec<String>> = HashMap::new();
        // In primary-key order: each record's keys come sorted, its id
        // ascending, so every list is built in order.
        let mut stmt = tx.prepare(
            "SELECT u.record_id, k.key FROM record_keys_unmerged u
             CROSS JOIN record_keys k ON k.record_id = u.record_id ORDER BY u.record_id, k.key",
        )?;
        let mut rows = stmt.query([])?;
        let mut count = 0u64;
        while let Some(r) = rows.next()? {
            let (id, key): (i64, String) = (r.get(0)?, r.get(1)?);
            holders.entry(key.clone()).or_default().push(id);
            keys.entry(id).or_default().push(key);
            count += 1;
        }
        tracing::debug!(keys = count, "staged match keys read for the pass");
        Ok((count > 0).then_some(StagedKeys { holders, keys }))
    }

    /// Whether record `id`'s staged keys include `key`.
    fn holds(&self, id: i64, key: &str) -> bool {
        self.keys
            .get(&id)
            .is_some_and(|k| k.binary_search_by(|x| x.as_str().cmp(key)).is_ok())
    }

    /// `merged` (holders of `key` in `match_keys`, in id order, at most
    /// `limit` + 1) with the staged holders that pass `keep`, in id
    /// order, cut to `limit` + 1 as the query alone would be.
    fn add_holders(
        &self,
        merged: Vec<i64>,
        key: &str,
        keep: impl Fn(i64) -> bool,
        limit: usize,
    ) -> Vec<i64> {
        let Some(staged) = self.holders.get(key) else {
            return merged;
        };
        let mut all = merged;
        all.extend(staged.iter().copied().filter(|&id| keep(id)));
        all.sort_unstable();
        all.dedup();
        all.truncate(limit.saturating_add(1));
        all
    }
}

/// Move the staged match keys (those of the records in
/// `record_keys_unmerged`) into `match_keys`, in key order, inside a
/// dedup transaction (which holds the write lock, so no page commits in
/// between). Sorted, the inserts walk the index from one end to the other
/// and touch each of its pages once, where the same keys inserted page by
/// page during the harvest landed at random. Run when they reach
/// [`STAGED_REBUILD_MIN`] (`SqliteStore::premerge_staged_keys`) or a pass
/// walks the key index (`SqliteTx::for_each_key_holder`). `record_keys`
/// keeps them: it is the record-id side of the index.
fn merge_staged_keys(tx: &Transaction<'_>) -> Result<u64> {
    let moved = tx.execute(
        "INSERT OR IGNORE INTO match_keys (key, record_id)
         SELECT k.key, k.record_id FROM record_keys_unmerged u
         CROSS JOIN record_keys k ON k.record_id = u.record_id ORDER BY k.key, k.record_id",
        [],
    )?;
    tx.execute("DELETE FROM record_keys_unmerged", [])?;
    tracing::debug!(keys = moved, "staged match keys merged");
    Ok(moved as u64)
}

// The queries that read the staged keys go from `record_keys_unmerged` to
// `record_keys` (a CROSS JOIN keeps that order): without statistics SQLite
// planned the other way round, a scan of every record's keys for the few
// thousand an incremental harvest staged.

/// How many staged keys there are, counted up to `limit` only: the
/// callers ask "many or few", and counting them all would cost a first
/// load's pass a scan of every key.
fn count_unmerged(conn: &Connection, limit: i64) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM (SELECT 1 FROM record_keys_unmerged u
         CROSS JOIN record_keys k ON k.record_id = u.record_id LIMIT ?1)",
        [limit],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database file at `path` as schema version `version` left it (the
    /// first `version` migrations applied), for the migration tests to
    /// fill with rows of that version.
    fn database_at(path: &Path, version: usize) -> Connection {
        let conn = Connection::open(path).unwrap();
        packed::register(&conn).unwrap();
        for sql in &MIGRATIONS[..version] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", version as i64)
            .unwrap();
        conn
    }

    /// `len` hex digits from a xorshift generator seeded with `seed`: a
    /// text that packing cannot shrink below half, for tests that need
    /// the log to grow (a repeated string packs to a few bytes).
    fn noise(seed: u64, len: usize) -> String {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from_digit((x % 16) as u32, 16).unwrap()
            })
            .collect()
    }

    // Page commits keep the log bounded: once a reader that pinned it is
    // gone, the next commit empties a log past the threshold, where a
    // passive checkpoint would only rewind it and leave the file (and
    // SQLite's index of it) at its largest size for good.
    #[test]
    fn page_commits_keep_the_wal_file_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = SqliteStore::open(dir.path()).unwrap();
        let mut reader = SqliteStore::open(dir.path()).unwrap();
        let wal = wal_path(&dir.path().join(DB_FILE));
        reader.begin_snapshot().unwrap();
        // The first read takes the snapshot that pins the log.
        reader.count_live_records("p").unwrap();
        let run = writer.begin_run("p").unwrap();
        let page = |n: usize| -> Vec<PageItem> {
            (0..100)
                .map(|i| PageItem::Upsert {
                    oai_id: format!("oai:{n}:{i}"),
                    datestamp: "2024-01-01".into(),
                    local_id: None,
                    raw: noise((n * 1000 + i) as u64, 40_000),
                    record: "<record/>".into(),
                    content_hash: format!("{n}-{i}"),
                    keys: vec![format!("k{i}")],
                    repairs: 0,
                })
                .collect()
        };
        let mut n = 0;
        while wal_len(&wal) <= WAL_TRUNCATE_BYTES {
            writer.commit_page(run, "p", &page(n), None, 0).unwrap();
            n += 1;
            assert!(n < 100, "the log did not grow while pinned");
        }
        reader.end_snapshot().unwrap();
        writer.commit_page(run, "p", &page(n), None, 0).unwrap();
        assert!(
            wal_len(&wal) < WAL_TRUNCATE_BYTES / 10,
            "the log kept {} bytes",
            wal_len(&wal)
        );
        assert_eq!(
            writer.count_live_records("p").unwrap(),
            100 * (n as u64 + 1)
        );
    }

    // Migration 6 rebuilds the two big tables with the texts last: an
    // installation upgraded from version 5 keeps every row and value, and
    // the columns come out in the new order.
    #[test]
    fn migration_6_keeps_rows_and_moves_texts_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        {
            let conn = database_at(&path, 5);
            conn.execute(
                "INSERT INTO source_records (id, partner, oai_id, local_id, datestamp, deleted, raw, record,
                     content_hash, updated_run, dedup_dirty)
                 VALUES (7, 'anl', 'oai:anl:1', '1', '2024-01-01', 0, '<raw/>', '<record/>', 'h', 3, 0)",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO union_records (cluster_id, seq, deleted, record, content_hash, members, updated_at)
                 VALUES ('uc1', 4, 0, '<record/>', 'u', 2, '2024-01-02T00:00:00Z')",
                [],
            )
            .unwrap();
        }
        let store = SqliteStore::open(dir.path()).unwrap();
        let columns = |table: &str| -> Vec<String> {
            let mut stmt = store
                .conn
                .prepare(&format!(
                    "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
                ))
                .unwrap();
            let names = stmt.query_map([], |r| r.get(0)).unwrap();
            names.collect::<Result<_, _>>().unwrap()
        };
        assert_eq!(
            columns("source_records").last().map(String::as_str),
            Some("raw")
        );
        assert_eq!(
            columns("union_records").last().map(String::as_str),
            Some("record")
        );
        let row: (String, String, String, String, i64, i64) = store
            .conn
            .query_row(
                "SELECT partner, raw, record, content_hash, updated_run, dedup_dirty
                 FROM source_records WHERE id = 7",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        packed::get(r, 1)?.unwrap(),
                        packed::get(r, 2)?.unwrap(),
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .unwrap();
        assert_eq!(
            row,
            (
                "anl".into(),
                "<raw/>".into(),
                "<record/>".into(),
                "h".into(),
                3,
                0
            )
        );
        let union: (i64, String, String, i64, String) = store
            .conn
            .query_row(
                "SELECT seq, record, content_hash, members, updated_at FROM union_records
                 WHERE cluster_id = 'uc1'",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        packed::get(r, 1)?.unwrap(),
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                    ))
                },
            )
            .unwrap();
        assert_eq!(
            union,
            (
                4,
                "<record/>".into(),
                "u".into(),
                2,
                "2024-01-02T00:00:00Z".into()
            )
        );
        // The indexes came back with the tables (the dedup flag's until
        // migration 12 moves the flag out of the rows).
        let indexes: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index'
                 AND name IN ('source_local', 'union_seq', 'union_updated')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 3);
    }

    // Migration 10 packs the texts of a store made before it: every text
    // reads back byte for byte, is stored as a packed BLOB, and the file
    // shrinks (the upgrade's VACUUM gives the freed pages back).
    #[test]
    fn migration_10_packs_every_text_and_shrinks_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let demo = include_str!("../fixtures/demo/anl.xml");
        let text = |i: usize| format!("<!-- {i} -->{demo}");
        {
            let conn = database_at(&path, PACKING_MIGRATION - 1);
            for i in 0..300 {
                conn.execute(
                    "INSERT INTO source_records (id, partner, oai_id, datestamp, raw, record, content_hash)
                     VALUES (?1, 'anl', ?2, '2024-01-01', ?3, ?4, 'h')",
                    params![i, format!("oai:{i}"), text(i), text(i + 1000)],
                )
                .unwrap();
                conn.execute(
                    "INSERT INTO union_records (cluster_id, seq, record, content_hash, members)
                     VALUES (?1, ?2, ?3, 'u', 1)",
                    params![format!("uc{i}"), i, text(i + 2000)],
                )
                .unwrap();
            }
            // A deleted record has no texts.
            conn.execute(
                "INSERT INTO source_records (id, partner, oai_id, datestamp, deleted)
                 VALUES (999, 'anl', 'gone', '2024-01-01', 1)",
                [],
            )
            .unwrap();
        }
        let before = std::fs::metadata(&path).unwrap().len();
        let store = SqliteStore::open(dir.path()).unwrap();
        let after = std::fs::metadata(&path).unwrap().len();
        assert!(after * 3 < before, "{before} -> {after} bytes");
        let mut stmt = store
            .conn
            .prepare(
                "SELECT id, typeof(raw), typeof(record), raw, record FROM source_records ORDER BY id",
            )
            .unwrap();
        // id, typeof(raw), typeof(record), raw, record
        type Row = (i64, String, String, Option<String>, Option<String>);
        let rows: Vec<Row> = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    packed::get(r, 3)?,
                    packed::get(r, 4)?,
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), 301);
        for (id, raw_type, record_type, raw, record) in &rows[..300] {
            let i = *id as usize;
            assert_eq!((raw_type.as_str(), record_type.as_str()), ("blob", "blob"));
            assert_eq!(raw.as_deref(), Some(text(i).as_str()));
            assert_eq!(record.as_deref(), Some(text(i + 1000).as_str()));
        }
        assert_eq!(rows[300], (999, "null".into(), "null".into(), None, None));
        for i in [0, 150, 299] {
            let (_, deleted, record) = store.union_record(&format!("uc{i}")).unwrap().unwrap();
            assert!(!deleted);
            assert_eq!(record.as_deref(), Some(text(i + 2000).as_str()));
        }
        // A text written by hand (as before the migration) still reads.
        store
            .conn
            .execute(
                "UPDATE union_records SET record = '<record/>' WHERE cluster_id = 'uc7'",
                [],
            )
            .unwrap();
        assert_eq!(
            store.union_record("uc7").unwrap().unwrap().2.as_deref(),
            Some("<record/>")
        );
    }

    /// The union counts as counted from the table itself.
    fn counted_unions(conn: &Connection) -> (u64, u64) {
        conn.query_row(
            "SELECT count(*), coalesce(sum(members > 1), 0) FROM union_records WHERE deleted = 0",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )
        .unwrap()
    }

    // Migration 11 counts the union records a store already holds, and a
    // pass keeps the counts through every kind of union write it makes: a
    // new record, a new version merging more or fewer members (twice in
    // one pass), a deleted record made live again, a deletion, a record
    // written and deleted in the same pass, a version with the same hash
    // (no write).
    #[test]
    fn union_counts_follow_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        {
            let conn = database_at(&path, 10);
            for (i, (deleted, members)) in [(0, 1), (0, 3), (1, 0), (0, 2), (0, 1)]
                .into_iter()
                .enumerate()
            {
                conn.execute(
                    "INSERT INTO union_records (cluster_id, seq, deleted, members, content_hash)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![format!("uc{i}"), i, deleted, members, format!("h{i}")],
                )
                .unwrap();
            }
        }
        let mut store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.union_counts().unwrap(), (4, 2));
        assert_eq!(store.union_counts().unwrap(), counted_unions(&store.conn));
        {
            let tx = store.transaction().unwrap();
            let put = |id: &str, hash: &str, members: usize| {
                tx.put_union(id, "<record/>", None, hash, members).unwrap()
            };
            assert!(put("uc5", "n5", 1));
            assert!(put("uc6", "n6", 4));
            assert!(put("uc0", "n0", 2));
            assert!(put("uc0", "m0", 1));
            assert!(put("uc2", "n2", 3));
            assert!(!put("uc4", "h4", 1));
            assert!(put("uc7", "n7", 2));
            assert!(tx.delete_union("uc7").unwrap());
            assert!(tx.delete_union("uc1").unwrap());
            assert!(!tx.delete_union("uc1").unwrap());
            tx.commit().unwrap();
        }
        // uc0 single, uc2 merged, uc3 merged, uc4 single, uc5 single, uc6
        // merged; uc1 and uc7 deleted.
        assert_eq!(store.union_counts().unwrap(), (6, 3));
        assert_eq!(store.union_counts().unwrap(), counted_unions(&store.conn));
        {
            let tx = store.transaction().unwrap();
            assert!(tx.delete_union("uc6").unwrap());
            assert!(tx.put_union("uc3", "<record/>", None, "n3", 1).unwrap());
            tx.commit().unwrap();
        }
        assert_eq!(store.union_counts().unwrap(), (5, 1));
        assert_eq!(store.union_counts().unwrap(), counted_unions(&store.conn));
    }

    fn keys_in(store: &SqliteStore, table: &str) -> Vec<(String, i64)> {
        let mut stmt = store
            .conn
            .prepare(&format!(
                "SELECT key, record_id FROM {table} ORDER BY key, record_id"
            ))
            .unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    /// The staged keys: those of the records not merged yet.
    fn staged_keys(store: &SqliteStore) -> Vec<(String, i64)> {
        keys_in(
            store,
            "(SELECT k.key, k.record_id FROM record_keys k
              JOIN record_keys_unmerged u ON u.record_id = k.record_id)",
        )
    }

    fn upsert(oai_id: &str, hash: &str, keys: &[&str]) -> PageItem {
        PageItem::Upsert {
            oai_id: oai_id.into(),
            datestamp: "2024-01-01".into(),
            local_id: None,
            raw: "<raw/>".into(),
            record: "<record/>".into(),
            content_hash: hash.into(),
            keys: keys.iter().map(|k| k.to_string()).collect(),
            repairs: 0,
        }
    }

    // Keys go in eight to a statement: a record with more (two full
    // statements and a part) has every one staged, a repeated key once,
    // and a new version replaces the whole set.
    #[test]
    fn every_key_of_a_record_is_staged_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let run = store.begin_run("anl").unwrap();
        let keys: Vec<String> = (0..19).map(|i| format!("k:{i:02}")).collect();
        let mut sent: Vec<&str> = keys.iter().map(String::as_str).collect();
        sent.push("k:03");
        store
            .commit_page(run, "anl", &[upsert("oai:1", "a", &sent)], None, 0)
            .unwrap();
        assert_eq!(store.keys_of(1).unwrap(), keys);
        store
            .commit_page(run, "anl", &[upsert("oai:1", "b", &sent[..9])], None, 0)
            .unwrap();
        assert_eq!(store.keys_of(1).unwrap(), keys[..9]);
    }

    // Migration 12 moves the records waiting for dedup out of the rows:
    // those flagged in a version 11 database wait in `dedup_waiting`, and
    // the flag's index is gone.
    #[test]
    fn migration_12_keeps_the_records_waiting_for_dedup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        {
            let conn = database_at(&path, 11);
            for (id, dirty) in [(3, 1), (5, 0), (8, 1), (9, 0)] {
                conn.execute(
                    "INSERT INTO source_records (id, partner, oai_id, datestamp, dedup_dirty)
                     VALUES (?1, 'anl', ?2, '2024-01-01', ?3)",
                    params![id, format!("oai:{id}"), dirty],
                )
                .unwrap();
            }
        }
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let index: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'source_dirty'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(index, 0);
        let tx = store.transaction().unwrap();
        assert_eq!(tx.dirty_records().unwrap(), [3, 8]);
        tx.clear_all_dirty().unwrap();
        assert!(tx.dirty_records().unwrap().is_empty());
    }

    // Migration 13 keeps every record's keys by record id in one table: a
    // version 12 database's merged keys stay in the key index and its
    // staged keys stay staged, each record's keys are found by record, and
    // a walk merges the staged ones.
    #[test]
    fn migration_13_keeps_merged_and_staged_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        {
            let conn = database_at(&path, 12);
            for id in 1..=3 {
                conn.execute(
                    "INSERT INTO source_records (id, partner, oai_id, datestamp, record, content_hash)
                     VALUES (?1, 'anl', ?2, '2024-01-01', '<record/>', 'h')",
                    params![id, format!("oai:anl:{id}")],
                )
                .unwrap();
            }
            conn.execute_batch(
                "INSERT INTO match_keys (key, record_id) VALUES ('isbn:1', 1), ('tay:x', 1), ('isbn:1', 2);
                 INSERT INTO match_keys_staged (record_id, key) VALUES (3, 'isbn:1'), (3, 'tay:y');",
            )
            .unwrap();
        }
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let gone: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('match_keys_record', 'match_keys_staged')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(gone, 0);
        assert_eq!(
            staged_keys(&store),
            [("isbn:1".to_string(), 3), ("tay:y".to_string(), 3)]
        );
        assert_eq!(store.keys_of(1).unwrap(), ["isbn:1", "tay:x"]);
        assert_eq!(store.keys_of(3).unwrap(), ["isbn:1", "tay:y"]);
        let tx = store.transaction().unwrap();
        assert_eq!(tx.records_with_key("isbn:1", 10).unwrap(), [1, 2, 3]);
        assert_eq!(tx.keys_of(2).unwrap(), ["isbn:1"]);
        tx.for_each_key_holder(|_, _| Ok(())).unwrap();
        tx.commit().unwrap();
        assert!(staged_keys(&store).is_empty());
        assert_eq!(keys_in(&store, "match_keys").len(), 5);
        assert_eq!(
            keys_in(&store, "record_keys"),
            keys_in(&store, "match_keys")
        );
    }

    // Migration 7 adds the staging table (which migration 13 replaces by
    // `record_keys`): a version 6 database keeps its
    // merged keys where they were, and dedup still finds them.
    #[test]
    fn migration_7_keeps_merged_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        {
            let conn = database_at(&path, 6);
            conn.execute(
                "INSERT INTO source_records (id, partner, oai_id, datestamp, record, content_hash)
                 VALUES (1, 'anl', 'oai:anl:1', '2024-01-01', '<record/>', 'h')",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO match_keys (key, record_id) VALUES ('isbn:1', 1), ('tay:x', 1)",
                [],
            )
            .unwrap();
        }
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let version: i64 = store
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version as usize, MIGRATIONS.len());
        assert!(staged_keys(&store).is_empty());
        assert_eq!(store.keys_of(1).unwrap(), ["isbn:1", "tay:x"]);
        let tx = store.transaction().unwrap();
        assert_eq!(tx.records_with_key("isbn:1", 10).unwrap(), [1]);
        assert_eq!(tx.keys_of(1).unwrap(), ["isbn:1", "tay:x"]);
    }

    // Pages stage their keys; a changed or deleted record's keys go from
    // both tables; a dedup transaction sees exactly the current keys,
    // wherever they are: a few staged keys are looked up where they are,
    // and merged into `match_keys` when a pass walks the index.
    #[test]
    fn staged_keys_are_replaced_and_merged() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let run = store.begin_run("anl").unwrap();
        let page = [
            upsert("oai:1", "a", &["isbn:1", "tay:one"]),
            upsert("oai:2", "b", &["isbn:2"]),
            upsert("oai:3", "c", &["isbn:3"]),
        ];
        store.commit_page(run, "anl", &page, None, 0).unwrap();
        assert!(keys_in(&store, "match_keys").is_empty());
        assert_eq!(staged_keys(&store).len(), 4);
        assert_eq!(store.keys_of(1).unwrap(), ["isbn:1", "tay:one"]);
        // A look-up pass finds the staged keys and leaves them staged.
        let tx = store.transaction().unwrap();
        assert_eq!(tx.records_with_key("isbn:1", 10).unwrap(), [1]);
        assert_eq!(tx.records_with_keys("isbn:1", "tay:one", 10).unwrap(), [1]);
        assert!(tx
            .records_with_keys("isbn:1", "isbn:2", 10)
            .unwrap()
            .is_empty());
        assert_eq!(tx.keys_of(1).unwrap(), ["isbn:1", "tay:one"]);
        tx.commit().unwrap();
        assert!(keys_in(&store, "match_keys").is_empty());
        // A walk merges them first and sees every key once, in order.
        let tx = store.transaction().unwrap();
        let mut walked = Vec::new();
        tx.for_each_key_holder(|k, id| {
            walked.push((k.to_string(), id));
            Ok(())
        })
        .unwrap();
        assert_eq!(tx.records_with_key("isbn:2", 10).unwrap(), [2]);
        tx.commit().unwrap();
        assert_eq!(walked, keys_in(&store, "match_keys"));
        assert!(staged_keys(&store).is_empty());
        assert_eq!(walked.len(), 4);
        // Changed again: record 1's new keys are staged and its old ones
        // leave the index.
        let page = [
            upsert("oai:1", "a2", &["isbn:9"]),
            upsert("oai:2", "b", &["isbn:2"]),
            PageItem::Delete {
                oai_id: "oai:3".into(),
                datestamp: "2024-01-02".into(),
            },
            upsert("oai:4", "d", &["isbn:4"]),
        ];
        store.commit_page(run, "anl", &page, None, 0).unwrap();
        // A staged record changed before any merge: only its last keys stay.
        let page = [upsert("oai:4", "d2", &["isbn:5", "isbn:2"])];
        store.commit_page(run, "anl", &page, None, 0).unwrap();
        assert_eq!(store.keys_of(1).unwrap(), ["isbn:9"]);
        assert!(store.keys_of(3).unwrap().is_empty());
        let tx = store.transaction().unwrap();
        assert_eq!(tx.keys_of(4).unwrap(), ["isbn:2", "isbn:5"]);
        assert_eq!(tx.keys_of(2).unwrap(), ["isbn:2"]);
        assert!(tx.records_with_key("isbn:1", 10).unwrap().is_empty());
        assert!(tx.records_with_key("isbn:3", 10).unwrap().is_empty());
        assert_eq!(tx.records_with_key("isbn:2", 10).unwrap(), [2, 4]);
        assert_eq!(tx.records_with_key("isbn:2", 1).unwrap(), [2, 4]);
        // Record 2's keys are in the index, record 4's staged.
        assert_eq!(tx.records_with_keys("isbn:2", "isbn:5", 10).unwrap(), [4]);
        assert_eq!(
            tx.records_with_keys("isbn:2", "isbn:2", 10).unwrap(),
            [2, 4]
        );
        tx.commit().unwrap();
        let tx = store.transaction().unwrap();
        tx.for_each_key_holder(|_, _| Ok(())).unwrap();
        tx.commit().unwrap();
        assert!(staged_keys(&store).is_empty());
        assert_eq!(
            keys_in(&store, "match_keys"),
            [
                ("isbn:2".to_string(), 2),
                ("isbn:2".to_string(), 4),
                ("isbn:5".to_string(), 4),
                ("isbn:9".to_string(), 1),
            ]
        );
    }

    // A harvest connection's checkpoints run on the checkpoint thread:
    // with the connection's own automatic checkpoint off, the log is
    // still copied back and restarted, every page stays readable, and
    // the log never passes the backstop bound.
    #[test]
    fn harvest_checkpoints_run_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        store.tune_for_harvest().unwrap();
        let wal = wal_path(&store.path);
        let run = store.begin_run("p").unwrap();
        let mut largest = 0;
        let mut n = 0;
        // Enough pages for several checkpoints' worth of log.
        while n < 30 {
            let page: Vec<PageItem> = (0..100)
                .map(|i| PageItem::Upsert {
                    oai_id: format!("oai:{n}:{i}"),
                    datestamp: "2024-01-01".into(),
                    local_id: None,
                    raw: noise((n * 1000 + i) as u64, 40_000),
                    record: "<record/>".into(),
                    content_hash: format!("{n}-{i}"),
                    keys: vec!["k".into()],
                    repairs: 0,
                })
                .collect();
            store.commit_page(run, "p", &page, None, 0).unwrap();
            largest = largest.max(wal_len(&wal));
            n += 1;
        }
        assert!(
            largest > WAL_TRUNCATE_BYTES,
            "the test wrote too little log"
        );
        let checkpoints = {
            let c = store.checkpointer.get().expect("a checkpoint thread");
            c.runs.clone()
        };
        // Stopping the thread lets a checkpoint it was woken for finish.
        drop(store.checkpointer.take());
        assert!(checkpoints.load(std::sync::atomic::Ordering::Relaxed) >= 1);
        assert!(largest < WAL_BOUND_BYTES + WAL_TRUNCATE_BYTES, "{largest}");
        assert_eq!(store.count_live_records("p").unwrap(), 3_000);
    }

    // Holders of one key, some merged and some staged, come in id order
    // and are cut to the limit as the index alone would cut them (a staged
    // record below the merged ones included); a walk after look-ups in the
    // same pass merges the staged keys and finds every holder; a rekey
    // after look-ups leaves no stale staged key behind.
    #[test]
    fn staged_and_merged_holders_mix_in_id_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let run = store.begin_run("anl").unwrap();
        let page = [
            upsert("oai:1", "a", &["k"]),
            upsert("oai:2", "b", &["k"]),
            upsert("oai:3", "c", &["k"]),
        ];
        store.commit_page(run, "anl", &page, None, 0).unwrap();
        let tx = store.transaction().unwrap();
        tx.for_each_key_holder(|_, _| Ok(())).unwrap();
        tx.commit().unwrap();
        // Record 1 (below the merged 2 and 3) and a new record 4 staged.
        let page = [
            upsert("oai:1", "a2", &["k", "x"]),
            upsert("oai:4", "d", &["k"]),
        ];
        store.commit_page(run, "anl", &page, None, 0).unwrap();
        assert_eq!(staged_keys(&store).len(), 3);
        let tx = store.transaction().unwrap();
        assert_eq!(tx.records_with_key("k", 10).unwrap(), [1, 2, 3, 4]);
        assert_eq!(tx.records_with_key("k", 1).unwrap(), [1, 2]);
        assert_eq!(tx.records_with_key("k", 2).unwrap(), [1, 2, 3]);
        assert_eq!(tx.records_with_keys("k", "x", 10).unwrap(), [1]);
        assert_eq!(tx.records_with_keys("x", "k", 0).unwrap(), [1]);
        let mut walked = Vec::new();
        tx.for_each_key_holder(|k, id| {
            walked.push((k.to_string(), id));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            walked,
            [
                ("k".to_string(), 1),
                ("k".to_string(), 2),
                ("k".to_string(), 3),
                ("k".to_string(), 4),
                ("x".to_string(), 1),
            ]
        );
        assert_eq!(tx.records_with_key("k", 10).unwrap(), [1, 2, 3, 4]);
        assert_eq!(tx.keys_of(1).unwrap(), ["k", "x"]);
        tx.commit().unwrap();
        assert!(staged_keys(&store).is_empty());
        // A rekey after a look-up has read the staged copy.
        let page = [upsert("oai:2", "b2", &["y"])];
        store.commit_page(run, "anl", &page, None, 0).unwrap();
        let tx = store.transaction().unwrap();
        assert_eq!(tx.records_with_key("y", 10).unwrap(), [2]);
        assert_eq!(tx.keys_of(2).unwrap(), ["y"]);
        tx.rekey_all(99, |_| Ok(vec!["z".to_string()])).unwrap();
        assert!(tx.records_with_key("y", 10).unwrap().is_empty());
        assert!(tx.records_with_key("k", 10).unwrap().is_empty());
        assert_eq!(tx.records_with_key("z", 10).unwrap(), [1, 2, 3, 4]);
        assert_eq!(tx.keys_of(2).unwrap(), ["z"]);
    }

    // A full harvest's worth of staged keys is merged in a transaction of
    // its own: the merge stays done even if the dedup transaction that
    // triggered it rolls back, and every key is found both ways
    // afterwards (by key in the index, by record in `record_keys`).
    #[test]
    fn many_staged_keys_are_merged_before_the_pass() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let run = store.begin_run("anl").unwrap();
        let many = STAGED_REBUILD_MIN as usize;
        let keys: Vec<String> = (0..many).map(|i| format!("k:{i:06}")).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let page = [
            upsert("oai:1", "a", &keys),
            upsert("oai:2", "b", &["k:000007", "isbn:2"]),
        ];
        store.commit_page(run, "anl", &page, None, 0).unwrap();
        drop(store.transaction().unwrap());
        assert!(staged_keys(&store).is_empty());
        assert_eq!(keys_in(&store, "match_keys").len(), many + 2);
        assert_eq!(
            keys_in(&store, "record_keys"),
            keys_in(&store, "match_keys")
        );
        assert_eq!(store.keys_of(2).unwrap(), ["isbn:2", "k:000007"]);
        assert_eq!(store.keys_of(1).unwrap().len(), many);
        // Keys staged after the merge still reach the pass.
        let page = [upsert("oai:3", "c", &["isbn:2"])];
        store.commit_page(run, "anl", &page, None, 0).unwrap();
        let tx = store.transaction().unwrap();
        assert_eq!(tx.records_with_key("isbn:2", 10).unwrap(), [2, 3]);
        assert_eq!(tx.records_with_key("k:000007", 10).unwrap(), [1, 2]);
    }
}
