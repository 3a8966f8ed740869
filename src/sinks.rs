//! Configured sinks (`[[publish.sink]]`): dump files with full and delta
//! exports, and an HTTP push of changes. Each sink keeps its own last
//! published sequence number in the store.
//!
//! The rule that makes them safe: a sink's sequence number is recorded only
//! after everything up to it was written (files renamed into place) or
//! accepted (every HTTP request answered 2xx). A crash or failure in
//! between leaves the number where it was, so the next publish sends the
//! same changes again: consumers may see a record twice, never miss one.
//! Records are read in a snapshot, streamed in union-id order.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value};
use tracing::{info, warn};
use unicat_marc::{iso2709, marcxml, Field, Record};

use crate::config::{SinkConfig, SinkFormat, StoreLocation};
use crate::harvest::resolve_headers;
use crate::publish::{sync_dir, AtomicFile};
use crate::store::{Store, UnionRow};

/// What one sink's publish did.
#[derive(Debug, Clone, Default)]
pub struct SinkReport {
    /// Sink name.
    pub name: String,
    /// Records sent or written in the delta (files: also in the full dump).
    pub changed: u64,
    /// Union ids sent or listed as deleted.
    pub deleted: u64,
    /// The sequence number now recorded for the sink.
    pub seq: i64,
    /// Files written (files sinks).
    pub files: Vec<PathBuf>,
}

/// A record as MARC-in-JSON (the Library of Congress / Ross Singer
/// structure): `{"leader": …, "fields": [{"001": "…"}, {"245": {"ind1": …,
/// "ind2": …, "subfields": [{"a": "…"}]}}]}`.
pub fn marc_in_json(record: &Record) -> Value {
    let fields: Vec<Value> = record
        .fields
        .iter()
        .map(|f| match f {
            Field::Control(c) => json!({ c.tag.clone(): c.value }),
            Field::Data(d) => {
                let subfields: Vec<Value> = d
                    .subfields
                    .iter()
                    .map(|s| {
                        let mut m = Map::new();
                        m.insert(s.code.to_string(), Value::String(s.value.clone()));
                        Value::Object(m)
                    })
                    .collect();
                json!({ d.tag.clone(): { "ind1": d.ind1.to_string(), "ind2": d.ind2.to_string(), "subfields": subfields } })
            }
        })
        .collect();
    json!({ "leader": record.leader, "fields": fields })
}

fn extension(format: SinkFormat) -> &'static str {
    match format {
        SinkFormat::Marcxml => "xml",
        SinkFormat::Iso2709 => "mrc",
        SinkFormat::Json => "jsonl",
    }
}

fn formats(cfg: &SinkConfig) -> Vec<SinkFormat> {
    if cfg.formats.is_empty() {
        vec![SinkFormat::Marcxml, SinkFormat::Iso2709, SinkFormat::Json]
    } else {
        cfg.formats.clone()
    }
}

/// Writes records in one format to one file.
struct DumpFile {
    file: AtomicFile,
    format: SinkFormat,
    started: bool,
}

impl DumpFile {
    fn create(path: PathBuf, format: SinkFormat, gzip: bool) -> Result<DumpFile> {
        let mut file = AtomicFile::create(path, gzip)?;
        if format == SinkFormat::Marcxml {
            write!(
                file,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<collection xmlns=\"{}\">\n",
                marcxml::NAMESPACE
            )?;
        }
        Ok(DumpFile {
            file,
            format,
            started: true,
        })
    }

    fn write(&mut self, rec: &Record, id: &str) -> Result<()> {
        match self.format {
            SinkFormat::Marcxml => marcxml::write_record(rec, &mut self.file)?,
            SinkFormat::Iso2709 => match iso2709::to_bytes(rec) {
                Ok(bytes) => self.file.write_all(&bytes)?,
                Err(e) => warn!(union_id = id, error = %e, "left out of the ISO 2709 dump"),
            },
            SinkFormat::Json => {
                serde_json::to_writer(&mut self.file, &marc_in_json(rec))?;
                self.file.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    fn commit(mut self) -> Result<PathBuf> {
        if self.format == SinkFormat::Marcxml && self.started {
            self.file.write_all(b"</collection>\n")?;
        }
        self.file.commit()
    }
}

/// The publish number in a dump file name (`full-000000000042.xml` → 42).
fn seq_of(name: &str) -> Option<i64> {
    let stem = name.split('.').next()?;
    stem.rsplit('-').next()?.parse().ok()
}

/// Publish to a files sink: `full-S.*` (every live record), `delta-L-S.*`
/// (records changed since the sink's last publish L) and `deleted-L-S.txt`,
/// then drop the files of publishes beyond the retention count.
pub fn publish_files(store: &mut Store, name: &str, cfg: &SinkConfig) -> Result<SinkReport> {
    let dir = cfg.dir.as_deref().context("a files sink needs dir")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let last = store.publish_seq(name)?;
    let gz = if cfg.gzip { ".gz" } else { "" };
    let report = store.read_snapshot(|store| {
        let seq = store.current_seq()?;
        let mut report = SinkReport {
            name: name.to_string(),
            seq,
            ..SinkReport::default()
        };
        // Nothing new: a delta-only sink has nothing to write; a full one
        // only rewrites a full dump that has gone missing.
        if seq == last
            && (!cfg.full
                || dir
                    .join(format!("full-{seq:012}.{}{gz}", extension(formats(cfg)[0])))
                    .exists())
        {
            return Ok(report);
        }
        let mut full = Vec::new();
        let mut delta = Vec::new();
        for f in formats(cfg) {
            let ext = extension(f);
            if cfg.full {
                full.push(DumpFile::create(
                    dir.join(format!("full-{seq:012}.{ext}{gz}")),
                    f,
                    cfg.gzip,
                )?);
            }
            delta.push(DumpFile::create(
                dir.join(format!("delta-{last:012}-{seq:012}.{ext}{gz}")),
                f,
                cfg.gzip,
            )?);
        }
        let mut write = |row: UnionRow| {
            let rec = marcxml::parse_record(&row.record).with_context(|| {
                format!("stored union record {} does not parse", row.cluster_id)
            })?;
            for d in &mut full {
                d.write(&rec, &row.cluster_id)?;
            }
            if row.seq > last {
                report.changed += 1;
                for d in &mut delta {
                    d.write(&rec, &row.cluster_id)?;
                }
            }
            Ok(())
        };
        if cfg.full {
            store.for_each_live_union(&mut write)?;
        } else {
            store.for_each_live_union_since(last, &mut write)?;
        }
        let deleted = store.deleted_unions_since(last)?;
        let mut del =
            AtomicFile::create(dir.join(format!("deleted-{last:012}-{seq:012}.txt")), false)?;
        for id in &deleted {
            writeln!(del, "{id}")?;
        }
        report.deleted = deleted.len() as u64;
        for d in full.into_iter().chain(delta) {
            report.files.push(d.commit()?);
        }
        report.files.push(del.commit()?);
        Ok(report)
    })?;
    if report.files.is_empty() {
        return Ok(report);
    }
    sync_dir(dir)?;
    // Only now: everything up to `seq` is on disk under its final name.
    store.set_publish_seq(name, report.seq)?;
    prune(dir, cfg.retention)?;
    info!(
        sink = name,
        changed = report.changed,
        deleted = report.deleted,
        seq = report.seq,
        event = %crate::telemetry::event::PUBLISHED,
        "published to files sink"
    );
    Ok(report)
}

/// Keep the files of the newest `keep` publishes.
fn prune(dir: &Path, keep: usize) -> Result<()> {
    let mut seqs: Vec<i64> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(seq_of))
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    let Some(&oldest_kept) = seqs.iter().rev().nth(keep.saturating_sub(1)) else {
        return Ok(());
    };
    for e in fs::read_dir(dir)?.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().to_string();
        let ours = ["full-", "delta-", "deleted-"]
            .iter()
            .any(|p| name.starts_with(p));
        if ours && seq_of(&name).is_some_and(|s| s < oldest_kept) {
            fs::remove_file(e.path())
                .with_context(|| format!("removing {}", e.path().display()))?;
        }
    }
    Ok(())
}

/// A batch of changes ready to POST, collected in the snapshot.
struct Batch {
    body: Vec<u8>,
    content_type: &'static str,
}

/// Collect what an HTTP sink must send: batches of changed records and
/// the list of deletions, with the sequence number they bring it to.
fn collect_http(
    store: &mut Store,
    name: &str,
    cfg: &SinkConfig,
) -> Result<(Vec<Batch>, Vec<String>, i64, u64)> {
    let last = store.publish_seq(name)?;
    // A push sends one format: the first one configured, JSON lines by default.
    let format = cfg.formats.first().copied().unwrap_or(SinkFormat::Json);
    store.read_snapshot(|store| {
        let seq = store.current_seq()?;
        let mut batches = Vec::new();
        let mut body = Vec::new();
        let mut in_batch = 0;
        let mut changed = 0;
        let flush = |body: &mut Vec<u8>, batches: &mut Vec<Batch>| {
            if body.is_empty() {
                return;
            }
            let (body, content_type) = match format {
                SinkFormat::Marcxml => {
                    let mut b = format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<collection xmlns=\"{}\">\n",
                        marcxml::NAMESPACE
                    )
                    .into_bytes();
                    b.append(body);
                    b.extend_from_slice(b"</collection>\n");
                    (b, "application/marcxml+xml")
                }
                _ => (std::mem::take(body), "application/x-ndjson"),
            };
            batches.push(Batch { body, content_type });
        };
        store.for_each_live_union_since(last, |row| {
            let rec = marcxml::parse_record(&row.record)?;
            match format {
                SinkFormat::Marcxml => marcxml::write_record(&rec, &mut body)?,
                _ => {
                    serde_json::to_writer(&mut body, &marc_in_json(&rec))?;
                    body.push(b'\n');
                }
            }
            changed += 1;
            in_batch += 1;
            if in_batch == cfg.batch_size {
                flush(&mut body, &mut batches);
                in_batch = 0;
            }
            Ok(())
        })?;
        flush(&mut body, &mut batches);
        let deleted = store.deleted_unions_since(last)?;
        Ok((batches, deleted, seq, changed))
    })
}

/// Push changes to an HTTP sink: each batch of changed records is POSTed
/// to `url`, then the deleted union ids (one per line, `text/plain`) to
/// `url` with `?deleted=true`. Failed requests are retried with back-off;
/// the sink's sequence number moves only when every request got a 2xx.
pub async fn publish_http(
    store_at: &StoreLocation,
    name: &str,
    cfg: &SinkConfig,
) -> Result<SinkReport> {
    let url = cfg.url.clone().context("an http sink needs url")?;
    let (at, sink, c) = (store_at.clone(), name.to_string(), cfg.clone());
    let (batches, deleted, seq, changed) = tokio::task::spawn_blocking(move || {
        let mut store = Store::connect(&at)?;
        collect_http(&mut store, &sink, &c)
    })
    .await
    .map_err(|e| anyhow!("publish worker panicked: {e}"))??;
    let client = http_client(cfg)?;
    for batch in &batches {
        post(&client, cfg, &url, batch.content_type, batch.body.clone()).await?;
    }
    if !deleted.is_empty() {
        let sep = if url.contains('?') { '&' } else { '?' };
        let body = deleted
            .iter()
            .map(|d| format!("{d}\n"))
            .collect::<String>()
            .into_bytes();
        post(
            &client,
            cfg,
            &format!("{url}{sep}deleted=true"),
            "text/plain",
            body,
        )
        .await?;
    }
    let (at, sink) = (store_at.clone(), name.to_string());
    tokio::task::spawn_blocking(move || Store::connect(&at)?.set_publish_seq(&sink, seq))
        .await
        .map_err(|e| anyhow!("publish worker panicked: {e}"))??;
    info!(
        sink = name,
        changed,
        deleted = deleted.len(),
        seq,
        event = %crate::telemetry::event::PUBLISHED,
        "pushed to http sink"
    );
    Ok(SinkReport {
        name: name.to_string(),
        changed,
        deleted: deleted.len() as u64,
        seq,
        files: Vec::new(),
    })
}

fn http_client(cfg: &SinkConfig) -> Result<reqwest::Client> {
    // Redirects are not followed: reqwest would resend the configured
    // headers (an API key) to whatever host the answer names. A push
    // target that moved answers 3xx, which fails the push like any other
    // non-2xx answer, and the administrator updates `url`.
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .default_headers(resolve_headers(&cfg.headers)?)
        .build()?)
}

async fn post(
    client: &reqwest::Client,
    cfg: &SinkConfig,
    url: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Result<()> {
    let auth = cfg.auth.as_ref().map(|a| a.resolve()).transpose()?;
    let mut attempt = 0u32;
    loop {
        let mut req = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body.clone());
        if let Some((u, p)) = &auth {
            req = req.basic_auth(u, Some(p));
        }
        let outcome = match req.send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
                bail!("{url} refused the push: HTTP {}", r.status())
            }
            Ok(r) => format!("HTTP {}", r.status()),
            Err(e) => e.to_string(),
        };
        attempt += 1;
        if attempt > cfg.max_retries {
            bail!("pushing to {url} failed after {attempt} attempt(s): {outcome}");
        }
        let wait = Duration::from_millis(cfg.backoff_ms.saturating_mul(1 << (attempt - 1).min(16)));
        warn!(url, attempt, wait_ms = wait.as_millis() as u64, error = %outcome, "retrying push");
        tokio::time::sleep(wait).await;
    }
}
