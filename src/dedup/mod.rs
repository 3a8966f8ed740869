//! Deduplication: which records of the partners describe the same edition.
//!
//! Four concerns, one module each, in the order a record meets them:
//!
//! - [`translit`] folds a title or name in any script or romanisation
//!   (Cyrillic of fifteen languages, ALA-LC, ISO 9, BGN/PCGN, the national
//!   Latin alphabets, plain ASCII) into one script-independent skeleton; its
//!   letter tables are in `translit::tables`.
//! - [`keys`] turns a record into match keys (identifiers and title
//!   skeletons with author and year): records that share a key are
//!   candidates. Keys are cheap and deliberately generous.
//! - [`decision`] says whether two candidates are the same edition, with
//!   the evidence and the vetoes that no shared identifier overrides.
//!   Precision lives here, not in the keys.
//! - [`cluster`] walks the store's key index from changed records, links
//!   candidates the decision accepts, and splits components so that no
//!   two vetoed records share a cluster.
//! - [`works`] relates union records of one work across editions, formats,
//!   translations and volumes (issue #18), and says which linking fields
//!   that gives; `crate::works_pass` runs it over the store.
//!
//! Identifiers (ISBN, ISSN, LCCN, OCLC numbers) are parsed in
//! [`crate::ident`] and a record's language is found in [`crate::lang`],
//! both shared with normalisation, so that `normalize` and `dedup` do not
//! depend on each other. The merge of a cluster into a union record is
//! `crate::merge`; the transaction around it all is `crate::pipeline`.

pub mod cluster;
pub mod decision;
pub mod keys;
pub mod translit;
pub mod works;
