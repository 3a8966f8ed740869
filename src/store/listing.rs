//! What the store hands the OAI-PMH provider (`crate::provider`): union
//! records as headers and pages, the same on both backends.
//!
//! The provider decides what a list is (its window, its set, where it
//! resumes, how records without a datestamp are served); the store only
//! runs the queries, each one index range in (`updated_at`, `cluster_id`)
//! order. The SQL is in `sqlite_provider.rs` and `pg.rs`; this module holds
//! the types they share, so that neither backend depends on the other.

/// A union record as the provider lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnionListRow {
    /// The union id (the cluster id).
    pub cluster_id: String,
    /// Whether the union record is deleted.
    pub deleted: bool,
    /// When it last changed (RFC 3339, seconds); `None` for union records
    /// written before the store kept this.
    pub updated_at: Option<String>,
    /// Its MARCXML: `None` for a deleted record, and when the caller did
    /// not ask for it (a header-only list need not read the large column).
    pub record: Option<String>,
}
