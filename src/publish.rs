//! Publishing the union catalogue to files: a full dump as a MARCXML
//! collection and as ISO 2709, plus the list of union records deleted since
//! the previous publish.
//!
//! Every file is written atomically (temporary file in the same directory,
//! fsync, rename, fsync of the directory): a reader sees the old dump or the
//! new one, never half of one, and a publish that fails leaves the previous
//! dump and the sink's sequence number as they were. Records are streamed
//! from the store in union-id order, so output is deterministic and memory
//! stays flat however large the catalogue grows.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tracing::{info, warn};
use unicat_marc::{iso2709, marcxml};

use crate::store::Store;

/// The name under which the file sink's progress is kept in the store.
pub const FILE_SINK: &str = "files";
/// Full dump, MARCXML collection.
pub const XML_FILE: &str = "union.xml";
/// Full dump, ISO 2709.
pub const MRC_FILE: &str = "union.mrc";
/// Union ids deleted since the previous publish, one per line.
pub const DELETED_FILE: &str = "deleted.txt";

/// What a publish wrote.
#[derive(Debug, Clone)]
pub struct PublishReport {
    /// Union records in the full dump.
    pub records: u64,
    /// Records left out of the ISO 2709 file because they exceed its limits
    /// (they are in the MARCXML file).
    pub too_long_for_iso2709: u64,
    /// Union ids listed as deleted.
    pub deleted: usize,
    /// The sequence number published up to.
    pub seq: i64,
    /// The files written.
    pub files: Vec<PathBuf>,
}

/// The byte stream of an `AtomicFile`: plain, or gzip-compressed.
enum Sink {
    Plain(BufWriter<File>),
    Gzip(flate2::write::GzEncoder<BufWriter<File>>),
}

/// A file being written next to its final name, renamed into place on
/// `commit`; dropped without commit, it is removed. A reader of the
/// directory therefore sees the old file or the new one, never half.
pub(crate) struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    out: Option<Sink>,
}

impl AtomicFile {
    /// Start writing `dest` (gzip-compressed if `gzip`).
    pub(crate) fn create(dest: PathBuf, gzip: bool) -> Result<AtomicFile> {
        let name = dest
            .file_name()
            .context("output path has no file name")?
            .to_string_lossy()
            .to_string();
        let tmp = dest.with_file_name(format!(".{name}.tmp"));
        let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let buf = BufWriter::with_capacity(1 << 20, file);
        let out = if gzip {
            Sink::Gzip(flate2::write::GzEncoder::new(
                buf,
                flate2::Compression::default(),
            ))
        } else {
            Sink::Plain(buf)
        };
        Ok(AtomicFile {
            tmp,
            dest,
            out: Some(out),
        })
    }

    /// Flush, fsync and rename into place.
    pub(crate) fn commit(mut self) -> Result<PathBuf> {
        let buf = match self.out.take() {
            Some(Sink::Plain(b)) => b,
            Some(Sink::Gzip(g)) => g
                .finish()
                .with_context(|| format!("compressing {}", self.tmp.display()))?,
            None => anyhow::bail!("{} was already committed", self.dest.display()),
        };
        let file = buf
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {}", self.tmp.display()))?;
        file.sync_all()
            .with_context(|| format!("syncing {}", self.tmp.display()))?;
        fs::rename(&self.tmp, &self.dest)
            .with_context(|| format!("renaming into {}", self.dest.display()))?;
        Ok(self.dest.clone())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.out {
            Some(Sink::Plain(b)) => b.write(buf),
            Some(Sink::Gzip(g)) => g.write(buf),
            None => Err(std::io::Error::other("file already committed")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.out {
            Some(Sink::Plain(b)) => b.flush(),
            Some(Sink::Gzip(g)) => g.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.out.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing directory {}", dir.display()))
}

/// Publish the whole union catalogue to `out_dir`.
pub fn publish(store: &mut Store, out_dir: &Path) -> Result<PublishReport> {
    fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let last = store.publish_seq(FILE_SINK)?;
    let (seq, report) = store.read_snapshot(|store| {
        let seq = store.current_seq()?;
        let mut xml = AtomicFile::create(out_dir.join(XML_FILE), false)?;
        let mut mrc = AtomicFile::create(out_dir.join(MRC_FILE), false)?;
        let mut del = AtomicFile::create(out_dir.join(DELETED_FILE), false)?;
        let mut collection = marcxml::CollectionWriter::new(&mut xml)?;
        let mut records = 0u64;
        let mut too_long = 0u64;
        store.for_each_live_union(|row| {
            let rec = marcxml::parse_record(&row.record).with_context(|| {
                format!("stored union record {} does not parse", row.cluster_id)
            })?;
            collection.write(&rec)?;
            match iso2709::to_bytes(&rec) {
                Ok(bytes) => mrc.write_all(&bytes)?,
                Err(e) => {
                    too_long += 1;
                    warn!(union_id = %row.cluster_id, error = %e, "left out of the ISO 2709 dump");
                }
            }
            records += 1;
            Ok(())
        })?;
        collection.finish()?;
        let deleted = store.deleted_unions_since(last)?;
        for id in &deleted {
            writeln!(del, "{id}")?;
        }
        let files = vec![xml.commit()?, mrc.commit()?, del.commit()?];
        Ok((
            seq,
            PublishReport {
                records,
                too_long_for_iso2709: too_long,
                deleted: deleted.len(),
                seq,
                files,
            },
        ))
    })?;
    sync_dir(out_dir)?;
    store.set_publish_seq(FILE_SINK, seq)?;
    info!(
        records = report.records,
        deleted = report.deleted,
        seq,
        dir = %out_dir.display(),
        event = %crate::telemetry::event::PUBLISHED,
        "published union catalogue"
    );
    Ok(report)
}
