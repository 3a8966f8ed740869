//! The bundled demo: three partner endpoints served locally from the
//! fixtures compiled into the binary, harvested, deduplicated and published
//! into a directory, with a short summary on stdout. Needs no network and
//! no setup, so a new user sees the whole pipeline with one command.
//!
//! It writes a real configuration file next to its output, so that
//! `unicat --config demo-output/unicat.toml status` (or `explain`) works
//! on the demo catalogue afterwards.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use tokio::sync::watch;
use unicat_marc::marcxml;

use crate::config::Config;
use crate::jobs::Jobs;
use crate::oai_server::{OaiServer, RepoRecord, Repository};

/// A demo partner: name, holdings code, display name, MARCXML collection.
pub struct DemoPartner {
    /// Partner name.
    pub name: &'static str,
    /// Holdings code.
    pub code: &'static str,
    /// Library name for the Identify response.
    pub library: &'static str,
    /// The partner's records as a MARCXML collection.
    pub xml: &'static str,
}

/// The demo partners, with their fixtures compiled in.
pub const PARTNERS: &[DemoPartner] = &[
    DemoPartner {
        name: "anl",
        code: "AZ-BaNL",
        library: "National Library of Azerbaijan (demo)",
        xml: include_str!("../fixtures/demo/anl.xml"),
    },
    DemoPartner {
        name: "natlib-uz",
        code: "UZ-TaNL",
        library: "National Library of Uzbekistan (demo)",
        xml: include_str!("../fixtures/demo/natlib-uz.xml"),
    },
    DemoPartner {
        name: "tsu",
        code: "UZ-TaSU",
        library: "University library (demo)",
        xml: include_str!("../fixtures/demo/tsu.xml"),
    },
];

/// Records per page on the demo endpoints: small, so paging is visible.
pub const DEMO_PAGE_SIZE: usize = 7;

/// The OAI identifier the demo endpoints give a record with this 001.
pub fn oai_identifier(partner: &str, local_id: &str) -> String {
    format!("oai:{partner}:{local_id}")
}

/// A datestamp from a record's 005 (`yyyymmddhhmmss.f`), or a fixed date
/// when it has none, never later than `not_after`: a repository does not
/// serve records from the future.
fn datestamp_of(f005: Option<&str>, not_after: DateTime<Utc>) -> DateTime<Utc> {
    let parsed = f005
        .and_then(|v| v.get(..14))
        .and_then(|v| NaiveDateTime::parse_from_str(v, "%Y%m%d%H%M%S").ok())
        .map(|n| Utc.from_utc_datetime(&n));
    let fallback = Utc
        .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(not_after);
    parsed.unwrap_or(fallback).min(not_after)
}

/// Build a partner's repository from its MARCXML collection.
pub fn repository_for(p: &DemoPartner, page_size: usize, now: DateTime<Utc>) -> Result<Repository> {
    let mut repo = Repository::new(p.library, page_size);
    for (i, rec) in marcxml::Reader::new(p.xml.as_bytes()).enumerate() {
        let rec = rec.with_context(|| format!("fixture {} record {}", p.name, i + 1))?;
        let id = rec
            .control("001")
            .with_context(|| format!("fixture {} record {} has no 001", p.name, i + 1))?
            .trim()
            .to_string();
        repo.upsert(RepoRecord {
            identifier: oai_identifier(p.name, &id),
            datestamp: datestamp_of(rec.control("005"), now - chrono::Duration::days(1)),
            deleted: false,
            metadata: marcxml::to_string(&rec),
        });
    }
    Ok(repo)
}

/// Start one endpoint per demo partner.
pub async fn start_servers(page_size: usize) -> Result<Vec<OaiServer>> {
    let now = Utc::now();
    let mut servers = Vec::new();
    for p in PARTNERS {
        servers.push(OaiServer::start(repository_for(p, page_size, now)?).await?);
    }
    Ok(servers)
}

/// A configuration file for the demo partners at these endpoints; `tables`
/// is extra TOML (e.g. a `[harvest]` table) placed before `[publish]`.
pub fn config_text(
    state_dir: &Path,
    output_dir: &Path,
    base_urls: &[String],
    tables: &str,
) -> String {
    let mut s = format!(
        "# Written by `unicat demo`; the endpoints lived only while the demo ran.\n\
         state-dir = {:?}\ncatalogue-code = \"UNICAT-DEMO\"\n\n{tables}\n[publish]\noutput-dir = {:?}\n",
        state_dir.display().to_string(),
        output_dir.display().to_string()
    );
    for (p, url) in PARTNERS.iter().zip(base_urls) {
        s.push_str(&format!(
            "\n[[partner]]\nname = {:?}\ncode = {:?}\nbase-url = {:?}\nschedule = \"0 2 * * *\"\n",
            p.name, p.code, url
        ));
    }
    s
}

const MARKER: &str = ".unicat-demo";

/// Prepare the demo directory: created if missing, emptied if it holds an
/// earlier demo, refused if it holds anything else.
fn prepare_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let marker = dir.join(MARKER).exists();
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if !marker && !empty {
            bail!(
                "{} exists and was not made by `unicat demo`; choose another --dir",
                dir.display()
            );
        }
        for sub in ["state", "publish"] {
            let p = dir.join(sub);
            if p.exists() {
                std::fs::remove_dir_all(&p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(MARKER), "made by unicat demo\n")?;
    Ok(())
}

/// The work links of the demo catalogue: counts per kind, and one
/// translation and one print/online link as the published records carry
/// them (the first union record in id order holding a 765, a 776).
fn print_work_links(store: &crate::store::Store, catalogue_code: &str) -> Result<()> {
    let (kinds, works) = store.work_link_counts()?;
    let mut per_kind: std::collections::BTreeMap<&str, u64> = Default::default();
    for (code, n) in &kinds {
        if let Some(rel) = crate::dedup::works::Relation::from_code(code) {
            *per_kind.entry(rel.name()).or_default() += n;
        }
    }
    let counts: Vec<String> = per_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
    println!(
        "work links: {} in {works} works ({})",
        per_kind.values().sum::<u64>(),
        counts.join(", ")
    );
    let mut examples: Vec<(String, String)> = Vec::new();
    store.for_each_live_union(|row| {
        let record = marcxml::parse_record(&row.record)?;
        for tag in ["765", "776"] {
            if examples.iter().any(|(t, _)| t == tag) {
                continue;
            }
            let Some(f) = record.data_fields(tag).find(|f| {
                f.subfield('w')
                    .is_some_and(|w| w.starts_with(&format!("({catalogue_code})")))
            }) else {
                continue;
            };
            let title = record
                .data_fields("245")
                .find_map(|t| t.subfield('a'))
                .unwrap_or("")
                .trim_end_matches([' ', ':', '/', '.']);
            examples.push((
                tag.to_string(),
                format!(
                    "  {} {title}\n    {tag} {} {} {}",
                    row.cluster_id,
                    f.subfield('i').unwrap_or(""),
                    f.subfield('t').unwrap_or(""),
                    f.subfield('w').unwrap_or("")
                ),
            ));
        }
        Ok(())
    })?;
    examples.sort();
    for (_, line) in examples {
        println!("{line}");
    }
    Ok(())
}

/// Run the demo into `dir`; prints the summary to stdout.
pub async fn run(dir: &Path) -> Result<()> {
    prepare_dir(dir)?;
    let dir = dir.canonicalize()?;
    let servers = start_servers(DEMO_PAGE_SIZE).await?;
    let urls: Vec<String> = servers.iter().map(|s| s.base_url.clone()).collect();
    let config_path: PathBuf = dir.join("unicat.toml");
    let text = config_text(&dir.join("state"), &dir.join("publish"), &urls, "");
    std::fs::write(&config_path, &text)?;
    let config = Config::parse(&config_path, &text)?;
    let jobs = Jobs::new(Arc::new(config))?;
    let (_stop_tx, stop_rx) = watch::channel(false);

    println!(
        "unicat demo: {} partners served on 127.0.0.1",
        PARTNERS.len()
    );
    let mut failed = false;
    for p in &jobs.config.partners {
        match jobs.harvest(p, stop_rx.clone()).await {
            Ok(r) => {
                let c = r.harvest.counts;
                println!(
                    "  {:<10} harvested {:>3} records in {} pages, deleted {}, failed {}",
                    p.name(),
                    c.new + c.updated + c.unchanged,
                    r.harvest.pages,
                    c.deleted,
                    c.quarantined
                );
            }
            Err(e) => {
                failed = true;
                println!("  {:<10} harvest FAILED: {e}", p.name());
            }
        }
    }
    let report = jobs.publish().await?;
    let store = jobs.open_store()?;
    let (unions, multi) = store.union_counts()?;
    println!("union catalogue: {unions} union records, {multi} clusters with more than one member");
    print_work_links(&store, &jobs.config.catalogue_code)?;
    for f in &report.files {
        println!("  wrote {}", f.display());
    }
    println!(
        "try: unicat --config {} status   (or: explain <union-id>)",
        config_path.display()
    );
    drop(servers);
    if failed {
        bail!("a demo partner failed to harvest");
    }
    Ok(())
}
