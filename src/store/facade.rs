//! The store as the rest of unicat sees it: one `Store` type whatever the
//! database behind it.
//!
//! Two backends hold the same tables with the same meaning: the embedded
//! SQLite file (the default, one server) and PostgreSQL (a database shared
//! by several daemons). Each backend implements every operation in its own
//! SQL; this module only dispatches, so callers never know which one they
//! talk to. Leases (claims on work shared between daemons) exist only on
//! the shared backend: with SQLite one daemon owns the file and the
//! partner lock files are enough.
//!
//! The store is synchronous. The PostgreSQL driver's synchronous client
//! runs its own small runtime and refuses to block a thread that drives
//! tokio tasks, so calls to it from async code go through
//! `tokio::task::block_in_place` (as blocking as a SQLite call there, and
//! no worse); on tokio's blocking pool and plain threads they run as they
//! are.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use super::listing::UnionListRow;
use super::pg::{PgStore, PgTx};
use super::{
    Checkpoint, LeaseRow, PageCounts, PageItem, PartnerTotals, QuarantineEntry, Renormalized,
    RunInfo, RunOutcome, SourceRecord, SqliteStore, SqliteTx, StoredSource, UnionRow, WorkLink,
};
use crate::config::StoreLocation;

/// The longest error stored with a harvest run, in bytes; longer ones are
/// cut (`… (N bytes cut)`).
pub const MAX_STORED_ERROR_BYTES: usize = 4096;

/// A handle on the store. One per thread of work.
pub struct Store {
    backend: Backend,
}

enum Backend {
    Sqlite(SqliteStore),
    // Boxed: the pooled connection is large, and a Store is moved around.
    Postgres(Box<PgStore>),
}

/// The dedup and merge stage's view of the store, inside one transaction
/// that no other writer interleaves with.
pub struct DedupTx<'a> {
    backend: TxBackend<'a>,
}

enum TxBackend<'a> {
    Sqlite(SqliteTx<'a>),
    Postgres(PgTx<'a>),
}

/// A union record to store with [`DedupTx::put_unions`]: its cluster,
/// MARCXML, content hash and member count, and the text packed where the
/// store packs texts ([`DedupTx::packs_texts`]; `None` packs it there).
pub struct UnionPut {
    /// The cluster the record is the union of.
    pub cluster_id: String,
    /// The union record, MARCXML.
    pub record: String,
    /// Its content hash (an unchanged one is not rewritten).
    pub hash: String,
    /// How many source records it merges.
    pub members: usize,
    /// The text packed as the store keeps it, where it packs texts.
    pub packed: Option<Vec<u8>>,
}

/// A PostgreSQL source row as the SQLite store hands it out: its text
/// kept as text (the server compresses it itself).
fn as_stored(s: SourceRecord) -> StoredSource {
    StoredSource {
        id: s.id,
        partner: s.partner,
        oai_id: s.oai_id,
        local_id: s.local_id,
        record: super::packed::Stored::Text(s.record),
    }
}

/// Run a PostgreSQL call where the driver may block (see the module doc).
fn pg<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Call the same method on whichever backend is behind `self`.
macro_rules! on {
    ($self:ident, $b:ident => $e:expr) => {
        match &$self.backend {
            Backend::Sqlite($b) => $e,
            Backend::Postgres($b) => pg(|| $e),
        }
    };
    (mut $self:ident, $b:ident => $e:expr) => {
        match &mut $self.backend {
            Backend::Sqlite($b) => $e,
            Backend::Postgres($b) => pg(|| $e),
        }
    };
}

/// Methods that only forward their arguments.
macro_rules! forward {
    ($( $(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        $( $(#[$doc])* pub fn $name(&self $(, $arg: $ty)*) -> $ret {
            on!(self, s => s.$name($($arg),*))
        } )*
    };
}

macro_rules! forward_mut {
    ($( $(#[$doc:meta])* fn $name:ident(&mut self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        $( $(#[$doc])* pub fn $name(&mut self $(, $arg: $ty)*) -> $ret {
            on!(mut self, s => s.$name($($arg),*))
        } )*
    };
}

macro_rules! forward_tx {
    ($( $(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        $( $(#[$doc])* pub fn $name(&self $(, $arg: $ty)*) -> $ret {
            match &self.backend {
                TxBackend::Sqlite(t) => t.$name($($arg),*),
                TxBackend::Postgres(t) => pg(|| t.$name($($arg),*)),
            }
        } )*
    };
}

impl Store {
    /// Open (creating and migrating if needed) the SQLite database in
    /// `state_dir`.
    pub fn open(state_dir: &Path) -> Result<Store> {
        Ok(Store {
            backend: Backend::Sqlite(SqliteStore::open(state_dir)?),
        })
    }

    /// A handle for reading only, as the OAI-PMH provider needs one per
    /// request: the SQLite file is opened read-only, never created or
    /// migrated, and waits up to `busy_timeout` for a writer's lock (a
    /// missing file is an error); a PostgreSQL handle is a connection from
    /// the process's pool (readers never wait for writers there).
    pub fn open_reader(location: &StoreLocation, busy_timeout: Duration) -> Result<Store> {
        match location {
            StoreLocation::Sqlite(dir) => Ok(Store {
                backend: Backend::Sqlite(SqliteStore::open_reader(dir, busy_timeout)?),
            }),
            StoreLocation::Postgres { .. } => Store::connect(location),
        }
    }

    /// Open the store at `location` (migrating it if needed).
    pub fn connect(location: &StoreLocation) -> Result<Store> {
        match location {
            StoreLocation::Sqlite(dir) => Store::open(dir),
            StoreLocation::Postgres {
                url,
                password,
                pool_size,
            } => {
                let store = pg(|| PgStore::open_sized(url, password.as_deref(), *pool_size))?;
                Ok(Store {
                    backend: Backend::Postgres(Box::new(store)),
                })
            }
        }
    }

    /// Bring the store at `location` to this unicat's schema (what opening
    /// it does anyway): the version before, the version after, and where
    /// the store is.
    pub fn migrate(location: &StoreLocation) -> Result<(Option<u32>, u32, String)> {
        match location {
            StoreLocation::Sqlite(dir) => {
                let before = super::sqlite_schema_version(dir)?;
                let store = Store::open(dir)?;
                Ok((before, super::sqlite_schema_latest(), store.describe()))
            }
            StoreLocation::Postgres {
                url,
                password,
                pool_size,
            } => pg(|| {
                let mut store = PgStore::open_sized(url, password.as_deref(), *pool_size)?;
                // Opening migrated it already; this reads the version.
                let (before, after) = store.migrate()?;
                Ok((Some(before), after, store.describe()))
            }),
        }
    }

    /// Open the store the configuration names.
    ///
    /// A SQLite store whose file is missing or empty while the published
    /// dump exists is refused ([`super::guard`]), never re-created.
    pub fn from_config(config: &crate::config::Config) -> Result<Store> {
        let location = config.store_location()?;
        if let StoreLocation::Sqlite(dir) = &location {
            super::guard::refuse_vanished(dir, Some(&config.publish.output_dir))?;
        }
        Store::connect(&location)
    }

    /// Where the store is, for messages: a file path or host/database.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Sqlite(s) => s.path().display().to_string(),
            Backend::Postgres(s) => s.describe(),
        }
    }

    /// Check the store for damage before the daemon declares itself ready:
    /// SQLite's `quick_check` (nothing if sound, else what is wrong). The
    /// PostgreSQL store has no such check here (its server guards its own
    /// files): always sound.
    pub fn quick_check(&self) -> Result<Vec<String>> {
        match &self.backend {
            Backend::Sqlite(s) => s.quick_check(),
            Backend::Postgres(_) => Ok(Vec::new()),
        }
    }

    /// Note in the state directory's history file that this store holds
    /// the catalogue (see [`super::guard`]); SQLite only, and only once it
    /// holds a union change.
    pub fn record_history(&self) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let dir = s.path().parent().unwrap_or(Path::new("."));
                super::guard::write_history(dir, s.current_seq()?, s.union_counts()?.0)
            }
            Backend::Postgres(_) => Ok(()),
        }
    }

    /// Whether several daemons may share this store (so that work must be
    /// claimed through leases).
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// How many statements this handle has sent to PostgreSQL (`None`
    /// for SQLite): what a page or a pass costs in round trips.
    pub fn statements_sent(&self) -> Option<u64> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(s) => Some(s.statements_sent()),
        }
    }

    /// The SQLite database file, if this is the SQLite store.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Sqlite(s) => Some(s.path()),
            Backend::Postgres(_) => None,
        }
    }

    /// The PostgreSQL store behind this handle, if it is one (for copying
    /// a store over).
    pub fn as_postgres(&mut self) -> Option<&mut PgStore> {
        match &mut self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(s) => Some(s),
        }
    }

    /// Run `f` inside one read transaction, so that everything it reads is
    /// one consistent snapshot even while a harvest writes.
    pub fn read_snapshot<T>(&mut self, f: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        on!(mut self, s => s.begin_snapshot())?;
        let result = f(self);
        // Nothing was written, so ending the transaction cannot lose data;
        // an error here would only hide the closure's own error.
        let _ = on!(mut self, s => s.end_snapshot());
        result
    }

    /// Start a dedup/merge transaction. Dedup reads and writes through it
    /// so that clusters and union records change together or not at all,
    /// and no harvest page commits in the middle of it.
    pub fn transaction(&mut self) -> Result<DedupTx<'_>> {
        let backend = match &mut self.backend {
            Backend::Sqlite(s) => TxBackend::Sqlite(s.transaction()?),
            Backend::Postgres(s) => TxBackend::Postgres(pg(|| s.transaction())?),
        };
        Ok(DedupTx { backend })
    }

    /// Call `f` for every live union record in id order, streaming from the
    /// database so the catalogue is never held in memory.
    pub fn for_each_live_union(&self, f: impl FnMut(UnionRow) -> Result<()>) -> Result<()> {
        on!(self, s => s.for_each_live_union(f))
    }

    /// Live union records changed after `seq`, in union id order: the delta
    /// of a publish, in proportion to the changes, not to the catalogue.
    pub fn for_each_live_union_since(
        &self,
        seq: i64,
        f: impl FnMut(UnionRow) -> Result<()>,
    ) -> Result<()> {
        on!(self, s => s.for_each_live_union_since(seq, f))
    }

    /// Write one harvested page and the run's checkpoint in one
    /// transaction: after a crash either the whole page is there or none
    /// of it is.
    pub fn commit_page(
        &mut self,
        run_id: i64,
        partner: &str,
        items: &[PageItem],
        checkpoint: Option<&Checkpoint>,
        repaired: u64,
    ) -> Result<PageCounts> {
        on!(mut self, s => s.commit_page(run_id, partner, items, checkpoint, repaired))
    }

    /// Close a run. Only a complete run moves the partner's `from` forward.
    /// A failed or interrupted run keeps its checkpoint (the next run
    /// resumes there) unless `drop_checkpoint`, for failures that resuming
    /// would repeat. `error` is cut to [`MAX_STORED_ERROR_BYTES`].
    pub fn finish_run(
        &mut self,
        run_id: i64,
        partner: &str,
        outcome: RunOutcome,
        next_from: Option<&str>,
        error: Option<&str>,
        drop_checkpoint: bool,
    ) -> Result<()> {
        // Whatever the caller made of it, a stored error stays short: it
        // is shown by `status` and kept for every run (a 10 MB token once
        // made a 20 MB error).
        let error = error.map(|e| unicat_oai::cut(e, MAX_STORED_ERROR_BYTES));
        let error = error.as_deref();
        on!(mut self, s => s.finish_run(run_id, partner, outcome, next_from, error, drop_checkpoint))
    }

    /// Claim the shared work `name` for `holder` for `ttl`, measured on the
    /// database server's clock. `None`: claimed (or renewed, if `holder`
    /// already had it); `Some(other)`: `other` holds it.
    pub fn try_lease(&mut self, name: &str, holder: &str, ttl: Duration) -> Result<Option<String>> {
        match &mut self.backend {
            Backend::Sqlite(_) => anyhow::bail!("leases need the shared (PostgreSQL) store"),
            Backend::Postgres(s) => pg(|| s.try_lease(name, holder, ttl)),
        }
    }

    /// Extend `holder`'s claim on `name`; false if it was lost (expired and
    /// taken by another holder, or released).
    pub fn renew_lease(&mut self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        match &mut self.backend {
            Backend::Sqlite(_) => anyhow::bail!("leases need the shared (PostgreSQL) store"),
            Backend::Postgres(s) => pg(|| s.renew_lease(name, holder, ttl)),
        }
    }

    /// Give up `holder`'s claim on `name` (nothing if it no longer has it).
    pub fn release_lease(&mut self, name: &str, holder: &str) -> Result<()> {
        match &mut self.backend {
            Backend::Sqlite(_) => anyhow::bail!("leases need the shared (PostgreSQL) store"),
            Backend::Postgres(s) => pg(|| s.release_lease(name, holder)),
        }
    }

    /// Fence this handle's page commits with the lease `name` of
    /// `holder`: with a shared store a page commits only while the lease
    /// is still held (nothing to do with SQLite, where one daemon owns the
    /// file).
    pub fn fence(&mut self, name: &str, holder: &str) {
        if let Backend::Postgres(s) = &mut self.backend {
            s.set_fence(name, holder);
        }
    }

    /// The leases in the store, by name; none with SQLite (one daemon
    /// owns it, and its lock files say which).
    pub fn leases(&self) -> Result<Vec<LeaseRow>> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(Vec::new()),
            Backend::Postgres(s) => pg(|| s.leases()),
        }
    }

    forward! {
        /// Tune this connection for writing harvest pages.
        fn tune_for_harvest(&self) -> Result<()>;
        /// The database's own consistency check: `ok`, or what is wrong.
        fn integrity_check(&self) -> Result<String>;
        /// The next incremental `from` for a partner (from its last complete run).
        fn next_from(&self, partner: &str) -> Result<Option<String>>;
        /// The checkpoint of an interrupted run, if there is one to resume.
        fn checkpoint(&self, partner: &str) -> Result<Option<Checkpoint>>;
        /// The partner's last run.
        fn last_run(&self, partner: &str) -> Result<Option<RunInfo>>;
        /// Quarantined records, open ones only unless `all`.
        fn quarantine_list(&self, partner: Option<&str>, all: bool) -> Result<Vec<QuarantineEntry>>;
        /// One quarantine entry with its raw text.
        fn quarantine_entry(&self, id: i64) -> Result<Option<QuarantineEntry>>;
        /// A partner's live records with their raw text, by id, after `after`.
        fn raw_batch(&self, partner: &str, after: i64, limit: usize) -> Result<Vec<(i64, String, String)>>;
        /// Live records of a partner clustered with another partner's.
        fn count_merged_with_others(&self, partner: &str) -> Result<u64>;
        /// Clusters holding two or more live records of one partner.
        fn count_intra_partner_duplicates(&self, partner: &str) -> Result<u64>;
        /// Invalid characters repaired in a partner's responses, all runs.
        fn count_repaired(&self, partner: &str) -> Result<u64>;
        /// A text value from the meta table.
        fn meta_text(&self, key: &str) -> Result<Option<String>>;
        /// Start time of the partner's last successful run.
        fn last_success_started(&self, partner: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>>;
        /// A partner's totals over all runs.
        fn partner_totals(&self, partner: &str) -> Result<PartnerTotals>;
        /// A partner's live records.
        fn count_live_records(&self, partner: &str) -> Result<u64>;
        /// A partner's open quarantine entries.
        fn count_quarantined(&self, partner: &str) -> Result<u64>;
        /// Live union records, and how many of them merge two or more records.
        fn union_counts(&self) -> Result<(u64, u64)>;
        /// A source record by partner and its 001 or OAI identifier.
        fn find_source(&self, partner: &str, id: &str) -> Result<Option<SourceRecord>>;
        /// The cluster a source record belongs to.
        fn cluster_of(&self, record_id: i64) -> Result<Option<String>>;
        /// The members of a cluster, by partner and OAI identifier (a deleted
        /// one with an empty record).
        fn cluster_members(&self, cluster_id: &str) -> Result<Vec<SourceRecord>>;
        /// A record's match keys, sorted.
        fn keys_of(&self, record_id: i64) -> Result<Vec<String>>;
        /// A union record: its sequence number, whether deleted, its MARCXML.
        fn union_record(&self, cluster_id: &str) -> Result<Option<(i64, bool, Option<String>)>>;
        /// The current change sequence number.
        fn current_seq(&self) -> Result<i64>;
        /// Union ids deleted after `seq`, in id order.
        fn deleted_unions_since(&self, seq: i64) -> Result<Vec<String>>;
        /// A sink's last published sequence number (0 if never published).
        fn publish_seq(&self, sink: &str) -> Result<i64>;
    }

    // The OAI-PMH provider's reads (see `store::listing`).
    forward! {
        /// A union record by id, with its datestamp and record text.
        fn union_list_row(&self, cluster_id: &str) -> Result<Option<UnionListRow>>;
        /// The partners holding a member of a cluster (unordered, each once).
        fn union_partners(&self, cluster_id: &str) -> Result<Vec<String>>;
        /// Whether any union record has no datestamp.
        fn has_undated_unions(&self) -> Result<bool>;
        /// The smallest datestamp of a union record.
        fn earliest_union_update(&self) -> Result<Option<String>>;
        /// Up to `limit` undated union records after `after_id`, in id
        /// order, in `partner`'s set if given, with their text if `with_record`.
        fn undated_unions_after(&self, after_id: &str, partner: Option<&str>, limit: usize, with_record: bool) -> Result<Vec<UnionListRow>>;
        /// Up to `limit` dated union records after (datestamp, id) `after`
        /// up to `until`, in that order, in `partner`'s set if given, with
        /// their text if `with_record`.
        fn dated_unions_after(&self, after: (&str, &str), until: &str, partner: Option<&str>, limit: usize, with_record: bool) -> Result<Vec<UnionListRow>>;
        /// Undated union records in `partner`'s set (all if `None`).
        fn count_undated_unions(&self, partner: Option<&str>) -> Result<u64>;
        /// Union records stamped from `from` to `until` (both inclusive) in
        /// `partner`'s set (all if `None`).
        fn count_dated_unions(&self, from: &str, until: &str, partner: Option<&str>) -> Result<u64>;
    }

    forward_mut! {
        /// Record the start of a harvest run.
        fn begin_run(&mut self, partner: &str) -> Result<i64>;
        /// Record the `from` a run sends (None for a full harvest).
        fn set_run_from(&mut self, run_id: i64, from: Option<&str>) -> Result<()>;
        /// Start a reconciliation listing for a partner (forgets any earlier one).
        fn reconcile_begin(&mut self, partner: &str) -> Result<()>;
        /// Record identifiers seen by a reconciliation listing (one page).
        fn reconcile_seen(&mut self, partner: &str, ids: &[String]) -> Result<()>;
        /// Delete the partner's live records the listing did not show, unless
        /// the listing is shorter than `min_ratio` of them: (listed, live, deleted).
        fn reconcile_apply(&mut self, partner: &str, min_ratio: f64) -> Result<(u64, u64, u64)>;
        /// Mark the partner's runs still `running` as failed (their process died).
        fn fail_stale_runs(&mut self, partner: &str) -> Result<usize>;
        /// Close an import run.
        fn finish_import_run(&mut self, run_id: i64, ok: bool, error: Option<&str>) -> Result<()>;
        /// Store re-normalised records; returns how many changed.
        fn update_normalized(&mut self, batch: &[Renormalized]) -> Result<u64>;
        /// Set a text value in the meta table.
        fn set_meta_text(&mut self, key: &str, value: &str) -> Result<()>;
        /// Record that a sink has published everything up to `seq`.
        fn set_publish_seq(&mut self, sink: &str, seq: i64) -> Result<()>;
    }

    forward! {
        /// The work a union record belongs to (none without links).
        fn work_of(&self, union_id: &str) -> Result<Option<String>>;
        /// The links a union record holds, by the other's id.
        fn work_links_of(&self, union_id: &str) -> Result<Vec<WorkLink>>;
        /// Links per kind (each once) and the number of works.
        fn work_link_counts(&self) -> Result<(Vec<(String, u64)>, u64)>;
    }
}

impl DedupTx<'_> {
    /// Rebuild every live record's match keys with `keys` (given the
    /// normalised MARCXML), mark them all for dedup, and record `version`.
    pub fn rekey_all(
        &self,
        version: i64,
        keys: impl Fn(&str) -> Result<Vec<String>>,
    ) -> Result<u64> {
        match &self.backend {
            TxBackend::Sqlite(t) => t.rekey_all(version, keys),
            TxBackend::Postgres(t) => pg(|| t.rekey_all(version, keys)),
        }
    }

    /// Store a union record; an unchanged one (same hash, still live) costs
    /// nothing. Returns whether it changed.
    pub fn put_union(
        &self,
        cluster_id: &str,
        record: &str,
        hash: &str,
        members: usize,
    ) -> Result<bool> {
        self.put_union_packed(cluster_id, record, None, hash, members)
    }

    /// [`DedupTx::put_union`] with the record already packed as the
    /// SQLite store keeps it (see [`DedupTx::packs_texts`]), so that the
    /// packing can run on a worker thread; `None` packs it here.
    pub fn put_union_packed(
        &self,
        cluster_id: &str,
        record: &str,
        packed: Option<Vec<u8>>,
        hash: &str,
        members: usize,
    ) -> Result<bool> {
        match &self.backend {
            TxBackend::Sqlite(t) => t.put_union(cluster_id, record, packed, hash, members),
            TxBackend::Postgres(t) => pg(|| t.put_union(cluster_id, record, hash, members)),
        }
    }

    /// A live source record with its text as stored, to be unpacked
    /// where it is parsed (a worker thread) rather than here.
    pub fn live_source_stored(&self, record_id: i64) -> Result<Option<StoredSource>> {
        match &self.backend {
            TxBackend::Sqlite(t) => t.live_source_stored(record_id),
            TxBackend::Postgres(t) => Ok(pg(|| t.live_source(record_id))?.map(as_stored)),
        }
    }

    /// [`DedupTx::live_source_stored`] for many records, in `ids` order:
    /// one query per few thousand on PostgreSQL, where each query is a
    /// round trip.
    pub fn live_sources_stored(&self, ids: &[i64]) -> Result<Vec<Option<StoredSource>>> {
        match &self.backend {
            TxBackend::Sqlite(t) => ids.iter().map(|&id| t.live_source_stored(id)).collect(),
            TxBackend::Postgres(t) => Ok(pg(|| t.live_sources(ids))?
                .into_iter()
                .map(|s| s.map(as_stored))
                .collect()),
        }
    }

    /// Store union records in order, as [`DedupTx::put_union_packed`]
    /// would one by one (PostgreSQL sends the batch in two statements).
    /// Returns how many changed.
    pub fn put_unions(&self, batch: &[UnionPut]) -> Result<usize> {
        match &self.backend {
            TxBackend::Sqlite(t) => batch.iter().try_fold(0, |n, u| {
                let changed = t.put_union(
                    &u.cluster_id,
                    &u.record,
                    u.packed.clone(),
                    &u.hash,
                    u.members,
                )?;
                Ok(n + usize::from(changed))
            }),
            TxBackend::Postgres(t) => pg(|| t.put_unions(batch)),
        }
    }

    /// Tell the store this pass examines a good part of the catalogue:
    /// PostgreSQL then holds the cluster table in memory for the pass
    /// (`store::pg::dedup`) instead of asking the server for every
    /// record; SQLite reads its own pages as fast, and does nothing.
    pub fn hold_clusters(&self) -> Result<()> {
        match &self.backend {
            TxBackend::Sqlite(_) => Ok(()),
            TxBackend::Postgres(t) => pg(|| t.hold_clusters()),
        }
    }

    /// A live union record as stored: packed (SQLite) or text.
    pub fn live_union_stored(&self, union_id: &str) -> Result<Option<super::packed::Stored>> {
        match &self.backend {
            TxBackend::Sqlite(t) => t.live_union_stored(union_id),
            TxBackend::Postgres(t) => {
                Ok(pg(|| t.live_union(union_id))?.map(super::packed::Stored::Text))
            }
        }
    }

    /// Rewrite a live union record with its links (the merge's hash
    /// kept) when the caller knows the text changed: `record` packed for
    /// a store that packs ([`DedupTx::packs_texts`]), else text. Returns
    /// whether a live record was rewritten.
    pub fn put_union_links_stored(
        &self,
        union_id: &str,
        record: super::packed::Stored,
    ) -> Result<bool> {
        match &self.backend {
            TxBackend::Sqlite(t) => t.put_union_links_stored(union_id, record),
            TxBackend::Postgres(t) => {
                let text = record.into_text()?;
                pg(|| t.put_union_links(union_id, &text))
            }
        }
    }

    /// Whether this store keeps texts packed (`store::packed`): SQLite
    /// does, PostgreSQL compresses them itself.
    pub fn packs_texts(&self) -> bool {
        matches!(self.backend, TxBackend::Sqlite(_))
    }

    /// Call `f` with every `(key, record)` of the match-key index, in key
    /// order (equal keys adjacent).
    pub fn for_each_key_holder(&self, f: impl FnMut(&str, i64) -> Result<()>) -> Result<()> {
        match &self.backend {
            TxBackend::Sqlite(t) => t.for_each_key_holder(f),
            TxBackend::Postgres(t) => pg(|| t.for_each_key_holder(f)),
        }
    }

    /// Make the union records this pass wrote readable inside the
    /// transaction (SQLite holds them aside while the pass reads; see
    /// `StagedUnions`); commit does it too.
    pub fn flush_unions(&self) -> Result<()> {
        match &self.backend {
            TxBackend::Sqlite(t) => t.flush_unions(),
            TxBackend::Postgres(_) => Ok(()),
        }
    }

    /// Commit everything dedup and merge did.
    pub fn commit(self) -> Result<()> {
        match self.backend {
            TxBackend::Sqlite(t) => t.commit(),
            TxBackend::Postgres(t) => pg(|| t.commit()),
        }
    }

    forward_tx! {
        /// A text value from the meta table, inside this transaction.
        fn meta_text(&self, key: &str) -> Result<Option<String>>;
        /// Set a text value in the meta table, inside this transaction.
        fn set_meta_text(&self, key: &str, value: &str) -> Result<()>;
        /// Mark every live record for dedup; returns how many were not marked
        /// already.
        fn mark_all_dirty(&self) -> Result<u64>;
        /// The version of the key functions the stored keys were made with.
        fn keys_version(&self) -> Result<i64>;
        /// Records waiting for dedup.
        fn dirty_records(&self) -> Result<Vec<i64>>;
        /// The highest source record id (0 for an empty store).
        fn max_record_id(&self) -> Result<i64>;
        /// A record's match keys.
        fn keys_of(&self, record_id: i64) -> Result<Vec<String>>;
        /// Live records holding `key`, at most `limit`.
        fn records_with_key(&self, key: &str, limit: usize) -> Result<Vec<i64>>;
        /// Live records holding both keys, at most `limit`.
        fn records_with_keys(&self, a: &str, b: &str, limit: usize) -> Result<Vec<i64>>;
        /// The cluster a record belongs to.
        fn cluster_of(&self, record_id: i64) -> Result<Option<String>>;
        /// The records of a cluster.
        fn members_of(&self, cluster_id: &str) -> Result<Vec<i64>>;
        /// A live source record.
        fn live_source(&self, record_id: i64) -> Result<Option<SourceRecord>>;
        /// Put a record in a cluster, or take it out of any (None).
        fn set_cluster(&self, record_id: i64, cluster_id: Option<&str>) -> Result<()>;
        /// Clear every dedup flag: the pass handled them all.
        fn clear_all_dirty(&self) -> Result<()>;
        /// Delete a union record (kept as a deletion for publishing);
        /// returns whether it was live.
        fn delete_union(&self, cluster_id: &str) -> Result<bool>;
    }

    // The work pass's tables in batches: one statement each over arrays
    // on PostgreSQL, where every statement is a round trip (issue #20);
    // SQLite, in process, does what the per-record methods do, in order.

    /// Have PostgreSQL plan each statement of this transaction for its
    /// arguments, as the batches' array look-ups need (see
    /// `PgTx::plan_each_call`); nothing to do with SQLite.
    pub fn plan_each_call(&self) -> Result<()> {
        match &self.backend {
            TxBackend::Sqlite(_) => Ok(()),
            TxBackend::Postgres(t) => pg(|| t.plan_each_call()),
        }
    }

    /// Live union records as stored (None: deleted), in `ids` order.
    pub fn live_unions_stored(&self, ids: &[String]) -> Result<Vec<Option<super::packed::Stored>>> {
        match &self.backend {
            TxBackend::Sqlite(t) => ids.iter().map(|id| t.live_union_stored(id)).collect(),
            TxBackend::Postgres(t) => Ok(pg(|| t.live_unions(ids))?
                .into_iter()
                .map(|r| r.map(super::packed::Stored::Text))
                .collect()),
        }
    }

    /// Replace the work keys of each union record, in order.
    pub fn set_work_keys_many(&self, rows: &[(String, Vec<String>)]) -> Result<()> {
        match &self.backend {
            TxBackend::Sqlite(t) => rows
                .iter()
                .try_for_each(|(id, keys)| t.set_work_keys(id, keys)),
            TxBackend::Postgres(t) => pg(|| t.set_work_keys_many(rows)),
        }
    }

    /// The work keys of each union record, sorted, in `ids` order.
    pub fn work_keys_of_many(&self, ids: &[String]) -> Result<Vec<Vec<String>>> {
        match &self.backend {
            TxBackend::Sqlite(t) => ids.iter().map(|id| t.work_keys_of(id)).collect(),
            TxBackend::Postgres(t) => pg(|| t.work_keys_of_many(ids)),
        }
    }

    /// The union records holding each of `keys`, at most `limit` + 1 per
    /// key, in `keys` order.
    pub fn unions_with_work_keys(&self, keys: &[String], limit: usize) -> Result<Vec<Vec<String>>> {
        match &self.backend {
            TxBackend::Sqlite(t) => keys
                .iter()
                .map(|k| t.unions_with_work_key(k, limit))
                .collect(),
            TxBackend::Postgres(t) => pg(|| t.unions_with_work_keys(keys, limit)),
        }
    }

    /// The work of each union record, in `ids` order.
    pub fn works_of(&self, ids: &[String]) -> Result<Vec<Option<String>>> {
        match &self.backend {
            TxBackend::Sqlite(t) => ids.iter().map(|id| t.work_of(id)).collect(),
            TxBackend::Postgres(t) => pg(|| t.works_of(ids)),
        }
    }

    /// The union records of each work, in `works` order.
    pub fn work_members_many(&self, works: &[String]) -> Result<Vec<Vec<String>>> {
        match &self.backend {
            TxBackend::Sqlite(t) => works.iter().map(|w| t.work_members(w)).collect(),
            TxBackend::Postgres(t) => pg(|| t.work_members_many(works)),
        }
    }

    /// Put each union record in its work, or in none, in order.
    pub fn set_works(&self, rows: &[(String, Option<String>)]) -> Result<()> {
        match &self.backend {
            TxBackend::Sqlite(t) => rows
                .iter()
                .try_for_each(|(id, work)| t.set_work(id, work.as_deref())),
            TxBackend::Postgres(t) => pg(|| t.set_works(rows)),
        }
    }

    /// The links each union record holds, in `ids` order.
    pub fn work_links_of_many(&self, ids: &[String]) -> Result<Vec<Vec<WorkLink>>> {
        match &self.backend {
            TxBackend::Sqlite(t) => ids.iter().map(|id| t.work_links_of(id)).collect(),
            TxBackend::Postgres(t) => pg(|| t.work_links_of_many(ids)),
        }
    }

    /// Replace the links each union record holds, in order.
    pub fn set_work_links_many(&self, rows: &[(String, Vec<WorkLink>)]) -> Result<()> {
        match &self.backend {
            TxBackend::Sqlite(t) => rows
                .iter()
                .try_for_each(|(id, links)| t.set_work_links(id, links)),
            TxBackend::Postgres(t) => pg(|| t.set_work_links_many(rows)),
        }
    }

    /// [`DedupTx::put_union_links_stored`] for each record, in order:
    /// how many live records were rewritten.
    pub fn put_unions_links_stored(
        &self,
        rows: Vec<(String, super::packed::Stored)>,
    ) -> Result<usize> {
        match &self.backend {
            TxBackend::Sqlite(t) => rows.into_iter().try_fold(0, |n, (id, record)| {
                Ok(n + t.put_union_links_stored(&id, record)? as usize)
            }),
            TxBackend::Postgres(t) => {
                let rows = rows
                    .into_iter()
                    .map(|(id, record)| Ok((id, record.into_text()?)))
                    .collect::<Result<Vec<_>>>()?;
                pg(|| t.put_unions_links(&rows))
            }
        }
    }

    // The work pass's tables (`store::works`, `store::pg::works`).
    forward_tx! {
        /// Union ids, with whether each is live, changed after `seq`.
        fn unions_changed_since(&self, seq: i64) -> Result<Vec<(String, bool)>>;
        /// A live union record's MARCXML.
        fn live_union(&self, union_id: &str) -> Result<Option<String>>;
        /// Replace a union record's work keys.
        fn set_work_keys(&self, union_id: &str, keys: &[String]) -> Result<()>;
        /// A union record's work keys.
        fn work_keys_of(&self, union_id: &str) -> Result<Vec<String>>;
        /// Union records holding a work key, at most `limit` + 1.
        fn unions_with_work_key(&self, key: &str, limit: usize) -> Result<Vec<String>>;
        /// Union records holding a work key that one to `max` records
        /// hold (those that are not works of their own).
        fn unions_sharing_a_work_key(&self, max: usize) -> Result<Vec<String>>;
        /// The work a union record belongs to.
        fn work_of(&self, union_id: &str) -> Result<Option<String>>;
        /// The union records of a work.
        fn work_members(&self, work_id: &str) -> Result<Vec<String>>;
        /// Put a union record in a work, or in none.
        fn set_work(&self, union_id: &str, work_id: Option<&str>) -> Result<()>;
        /// The links a union record holds.
        fn work_links_of(&self, union_id: &str) -> Result<Vec<WorkLink>>;
        /// Replace the links a union record holds.
        fn set_work_links(&self, union_id: &str, links: &[WorkLink]) -> Result<()>;
        /// Union records holding a link or a work id.
        fn linked_unions(&self) -> Result<Vec<String>>;
        /// Empty the work tables.
        fn clear_works(&self) -> Result<()>;
        /// Rewrite a live union record with its links (the merge's hash kept).
        fn put_union_links(&self, union_id: &str, record: &str) -> Result<bool>;
        /// The change sequence number as this transaction has left it.
        fn seq_now(&self) -> Result<i64>;
    }
}
