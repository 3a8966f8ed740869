//! The stages of the benchmark suite (`bench/run.sh`), one subcommand each,
//! so that every measured stage runs in a process of its own and its peak
//! memory (VmHWM, or `/usr/bin/time`'s maximum resident set) is the stage's
//! alone. Stages share one on-disk SQLite store through the config file
//! given to them. Each prints one `key=value` line on standard output for
//! `run.sh` to read.
//!
//! ```text
//! unicat-bench serve-synth N          OAI-PMH servers of the synthetic corpus (one per partner)
//! unicat-bench serve-xml FILE.xml     an OAI-PMH server of a MARCXML collection
//! unicat-bench to-xml IN.mrc OUT.xml [LIMIT]   ISO 2709 -> MARCXML collection
//! unicat-bench harvest CONFIG         every partner at once, without dedup
//! unicat-bench prepare FILE.xml [LIMIT]  parse, normalise, key and serialise each record, one thread
//! unicat-bench refresh CONFIG         the dedup-and-merge pass (Jobs::refresh)
//! unicat-bench publish CONFIG         the default full dump (MARCXML + ISO 2709)
//! unicat-bench sink-mark CONFIG       mark every sink as up to date (before the changes)
//! unicat-bench delta-files CONFIG     publish the files sink `delta-files`
//! unicat-bench delta-push CONFIG      publish the http sink `delta-push` to a local receiver
//! unicat-bench provide CONFIG         the OAI-PMH provider over the union catalogue
//! unicat-bench walk URL PID           ListRecords through the provider, sampling PID's memory
//! ```
//!
//! The servers print their base URLs and then read commands on standard
//! input (`change K`: K changes to the synthetic corpus; `quit`, or end of
//! input, stops them). They run in their own process so that the records
//! they hold in memory do not count in the harvester's peak.

#[path = "synth.rs"]
mod synth;

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{TimeZone, Utc};
use sha2::{Digest, Sha256};
use unicat::config::Config;
use unicat::jobs::Jobs;
use unicat::oai_server::{OaiServer, RepoRecord, Repository};
use unicat::store::Store;
use unicat_marc::{iso2709, marcxml};

use synth::{Corpus, Item, Rng, Variant, PARTNERS, SEED};

/// Records per OAI-PMH list page, as the issue asks.
const PAGE: usize = 500;

fn main() -> Result<()> {
    // The stages' own log lines on stderr (RUST_LOG=info shows when each
    // pass ends), warnings only by default.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> Result<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| anyhow!("missing argument {i}; see the header of bench/suite.rs"))
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    match arg(0)? {
        "serve-synth" => rt.block_on(serve_synth(arg(1)?.parse()?)),
        "serve-xml" => rt.block_on(serve_xml(Path::new(arg(1)?))),
        "to-xml" => to_xml(
            Path::new(arg(1)?),
            Path::new(arg(2)?),
            args.get(3).map(|s| s.parse()).transpose()?,
        ),
        "harvest" => rt.block_on(harvest(&load(arg(1)?)?, started)),
        "prepare" => prepare(
            Path::new(arg(1)?),
            args.get(2).map(|s| s.parse()).transpose()?,
        ),
        "refresh" => {
            let jobs = Jobs::new(Arc::new(load(arg(1)?)?))?;
            let s = rt.block_on(jobs.refresh())?;
            let (live, merged) = jobs.open_store()?.union_counts()?;
            report(
                started,
                &format!(
                    "examined={} clusters={} unions_changed={} unions_deleted={} live_unions={live} merged_unions={merged}",
                    s.examined, s.clusters, s.unions_changed, s.unions_deleted
                ),
            );
            Ok(())
        }
        "publish" => {
            let config = load(arg(1)?)?;
            let mut store = Store::from_config(&config)?;
            let r = unicat::publish::publish(&mut store, &config.publish.output_dir)?;
            let bytes: u64 = r
                .files
                .iter()
                .filter_map(|f| std::fs::metadata(f).ok())
                .map(|m| m.len())
                .sum();
            report(
                started,
                &format!(
                    "records={} too_long={} deleted={} bytes={bytes}",
                    r.records, r.too_long_for_iso2709, r.deleted
                ),
            );
            Ok(())
        }
        "sink-mark" => {
            let config = load(arg(1)?)?;
            let mut store = Store::from_config(&config)?;
            let seq = store.current_seq()?;
            for sink in &config.publish.sinks {
                store.set_publish_seq(sink.name.get_ref(), seq)?;
            }
            report(started, &format!("seq={seq}"));
            Ok(())
        }
        "delta-files" => {
            let config = load(arg(1)?)?;
            let sink = find_sink(&config, "delta-files")?;
            let mut store = Store::from_config(&config)?;
            let r = unicat::sinks::publish_files(&mut store, "delta-files", sink)?;
            report(
                started,
                &format!("records={} deleted={} seq={}", r.changed, r.deleted, r.seq),
            );
            Ok(())
        }
        "delta-push" => rt.block_on(delta_push(&load(arg(1)?)?, started)),
        "provide" => rt.block_on(provide(&load(arg(1)?)?)),
        "walk" => rt.block_on(walk(arg(1)?, arg(2)?.parse()?, started)),
        other => bail!("unknown stage `{other}`; see the header of bench/suite.rs"),
    }
}

fn load(path: &str) -> Result<Config> {
    Config::load(Path::new(path)).map_err(|e| anyhow!("{path}: {e:?}"))
}

fn find_sink<'a>(config: &'a Config, name: &str) -> Result<&'a unicat::config::SinkConfig> {
    config
        .publish
        .sinks
        .iter()
        .find(|s| s.name.get_ref() == name)
        .ok_or_else(|| anyhow!("the config has no [[publish.sink]] named {name}"))
}

/// The peak resident set of this process so far, in KiB (VmHWM).
fn peak_kib() -> u64 {
    proc_status_kib("self", "VmHWM:")
}

/// A `/proc/PID/status` figure in KiB (0 if unreadable).
fn proc_status_kib(pid: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The stage's result line: what it did, its own wall time and peak.
fn report(started: Instant, what: &str) {
    println!(
        "{what} secs={:.3} peak_kib={}",
        started.elapsed().as_secs_f64(),
        peak_kib()
    );
}

// ---------------------------------------------------------------------
// Servers.

/// Reads control commands from standard input until `quit` or its end.
/// `on_change` applies `change K` and returns what to print.
async fn control(mut on_change: impl FnMut(u64) -> String + Send) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(4);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = rx.recv().await {
        let mut words = line.split_whitespace();
        match (words.next(), words.next().and_then(|k| k.parse().ok())) {
            (Some("change"), Some(k)) => println!("{}", on_change(k)),
            (Some("quit"), _) => break,
            _ => println!("error unknown command: {line}"),
        }
    }
}

fn when(secs: i64) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

/// The synthetic corpus of `n` records, one OAI-PMH server per partner.
async fn serve_synth(n: u64) -> Result<()> {
    let t = Instant::now();
    synth::self_check();
    let mut repos: Vec<Repository> = PARTNERS
        .iter()
        .map(|p| Repository::new(p.name, PAGE))
        .collect();
    let mut corpus = Corpus::new(SEED, n);
    for item in corpus.by_ref() {
        repos[item.partner(SEED)].push(RepoRecord {
            identifier: item.identifier(SEED),
            datestamp: when(0),
            deleted: false,
            metadata: marcxml::to_string(&synth::record(SEED, item, Variant::default())),
        });
    }
    let books = corpus.books();
    let mut servers = Vec::new();
    for (p, repo) in PARTNERS.iter().zip(repos) {
        let records = repo.records.len();
        let server = OaiServer::start(repo).await?;
        // Pages rendered before the measured harvest, as for the LC server;
        // `change` drops them.
        server.warm_lists("ListRecords");
        println!(
            "partner {} {} {} {records}",
            p.name, p.code, server.base_url
        );
        servers.push(server);
    }
    println!(
        "ready records={n} books={books} secs={:.1} server_rss_kib={}",
        t.elapsed().as_secs_f64(),
        proc_status_kib("self", "VmRSS:")
    );
    let mut next_book = books;
    control(|k| change_synth(&servers, k, &mut next_book)).await;
    Ok(())
}

/// `k` changes to the served corpus, each stamped now so that an
/// incremental harvest picks them up: half the changes retitle a record,
/// a quarter delete one, a quarter add one (alternately a new book and a
/// further copy of an existing book at a partner that does not hold it).
fn change_synth(servers: &[OaiServer], k: u64, next_book: &mut u64) -> String {
    let now = Utc::now();
    let mut rng = Rng::new(SEED, 7, *next_book);
    let (mut retitled, mut deleted, mut added) = (0, 0, 0);
    let mut repos: Vec<_> = servers
        .iter()
        .map(|s| s.repo.lock().expect("repository lock"))
        .collect();
    for i in 0..k {
        if i % 4 < 3 {
            // Retitle (i % 4 is 0 or 1) or delete (2) a random live record.
            let p = rng.below(repos.len() as u64) as usize;
            let len = repos[p].records.len() as u64;
            let rec = &mut repos[p].records[rng.below(len) as usize];
            if rec.deleted {
                continue;
            }
            rec.datestamp = now;
            if i % 4 == 2 {
                rec.deleted = true;
                deleted += 1;
            } else if let Some(item) = Item::from_identifier(&rec.identifier) {
                let v = Variant { retitled: true };
                rec.metadata = marcxml::to_string(&synth::record(SEED, item, v));
                retitled += 1;
            }
        } else {
            // Add: alternately a new book, and one more copy of an existing
            // book at a partner that does not hold it yet.
            let item = if (i / 4) % 2 == 1 {
                let b = rng.below(*next_book);
                Item {
                    book: b,
                    copy: synth::copies(SEED, b),
                }
            } else {
                *next_book += 1;
                Item {
                    book: *next_book - 1,
                    copy: 0,
                }
            };
            let p = item.partner(SEED);
            let id = item.identifier(SEED);
            if repos[p].records.iter().any(|r| r.identifier == id) {
                continue;
            }
            repos[p].push(RepoRecord {
                identifier: id,
                datestamp: now,
                deleted: false,
                metadata: marcxml::to_string(&synth::record(SEED, item, Variant::default())),
            });
            added += 1;
        }
    }
    // The records were edited in place: the rendered pages are stale.
    for repo in &mut repos {
        repo.changed();
    }
    format!("changed retitled={retitled} deleted={deleted} added={added}")
}

/// A MARCXML collection served as one repository.
async fn serve_xml(path: &Path) -> Result<()> {
    let t = Instant::now();
    let mut repo = Repository::new("lc", PAGE);
    let reader = marcxml::Reader::new(BufReader::with_capacity(1 << 20, File::open(path)?));
    for (i, rec) in reader.enumerate() {
        let rec = rec.with_context(|| format!("record {i} of {}", path.display()))?;
        repo.push(RepoRecord {
            identifier: format!("oai:lc:{i}"),
            datestamp: when(0),
            deleted: false,
            metadata: marcxml::to_string(&rec),
        });
    }
    let records = repo.records.len();
    let server = OaiServer::start(repo).await?;
    // The server is the fixture, not what is measured: every page is
    // rendered now, and each request is answered from memory.
    let pages = server.warm_lists("ListRecords");
    println!("partner lc DLC {} {records}", server.base_url);
    println!(
        "ready records={records} pages={pages} secs={:.1} server_rss_kib={}",
        t.elapsed().as_secs_f64(),
        proc_status_kib("self", "VmRSS:")
    );
    control(|_| "error the LC corpus does not change".into()).await;
    drop(server);
    Ok(())
}

/// ISO 2709 → MARCXML collection with unicat's own reader and writer.
fn to_xml(input: &Path, output: &Path, limit: Option<usize>) -> Result<()> {
    let t = Instant::now();
    let reader = iso2709::Reader::new(BufReader::with_capacity(1 << 20, File::open(input)?));
    let out = BufWriter::with_capacity(1 << 20, File::create(output)?);
    let mut collection = marcxml::CollectionWriter::new(out)?;
    let (mut written, mut refused) = (0u64, 0u64);
    for rec in reader.take(limit.unwrap_or(usize::MAX)) {
        match rec {
            Ok(rec) => {
                collection.write(&rec)?;
                written += 1;
            }
            Err(e) => {
                refused += 1;
                if refused <= 5 {
                    eprintln!("to-xml: record refused: {e}");
                }
            }
        }
    }
    collection.finish()?.flush()?;
    report(t, &format!("records={written} refused={refused}"));
    Ok(())
}

/// The harvest's per-record work alone (`harvest::prepare_record`: parse,
/// partner rules, normalise, match keys, serialise, hash) on one thread,
/// over records as the XML server serves them: a steady figure for
/// profiling that work without HTTP or the store around it.
fn prepare(path: &Path, limit: Option<usize>) -> Result<()> {
    use unicat::harvest::prepare_record;
    use unicat::normalize::{NormalizeOptions, PartnerContext};
    use unicat_oai::{Header, OaiRecord};
    let reader = marcxml::Reader::new(BufReader::with_capacity(1 << 20, File::open(path)?));
    let mut records = Vec::new();
    for (i, rec) in reader.take(limit.unwrap_or(usize::MAX)).enumerate() {
        let rec = rec.with_context(|| format!("record {i} of {}", path.display()))?;
        records.push(OaiRecord {
            header: Header {
                identifier: format!("oai:lc:{i}"),
                datestamp: "2016-01-01T00:00:00Z".into(),
                deleted: false,
                sets: Vec::new(),
            },
            metadata: Some(marcxml::to_string(&rec)),
        });
    }
    let (rules, options) = (unicat::rules::Rules::default(), NormalizeOptions::default());
    let partner = PartnerContext { code: "DLC" };
    let n = records.len();
    let t = Instant::now();
    let (mut bytes, mut digest) = (0usize, Sha256::new());
    for rec in records {
        if let unicat::store::PageItem::Upsert {
            record, mut keys, ..
        } = prepare_record(rec, &partner, &rules, &options)
        {
            bytes += record.len();
            digest.update(record.as_bytes());
            keys.sort();
            for key in keys {
                digest.update(key.as_bytes());
            }
        }
    }
    // The digest of every normalised record and its keys: a change that
    // only makes this faster must leave it as it was.
    let digest = format!("{:x}", digest.finalize());
    report(
        t,
        &format!(
            "records={n} normalised_bytes={bytes} digest={}",
            &digest[..16]
        ),
    );
    Ok(())
}

// ---------------------------------------------------------------------
// Harvest, publish, provider.

/// Harvest every configured partner at once, as `unicat harvest --all`
/// does: `Jobs::harvest_records` (partner lock and concurrency permit
/// included) without the dedup pass, which is timed and measured apart.
async fn harvest(config: &Config, started: Instant) -> Result<()> {
    let jobs = unicat::jobs::Jobs::new(Arc::new(config.clone()))?;
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let mut set = tokio::task::JoinSet::new();
    for partner in config.partners.clone() {
        let (jobs, rx) = (jobs.clone(), rx.clone());
        set.spawn(async move {
            jobs.harvest_records(&partner, rx)
                .await
                .map_err(|e| anyhow!("{}: {e}", partner.name()))
        });
    }
    let mut total = unicat::store::PageCounts::default();
    let mut pages = 0;
    while let Some(joined) = set.join_next().await {
        let r = joined??;
        total.add(r.counts);
        pages += r.pages;
    }
    report(
        started,
        &format!(
            "records={} pages={pages} new={} updated={} unchanged={} deleted={} quarantined={}",
            total.seen(),
            total.new,
            total.updated,
            total.unchanged,
            total.deleted,
            total.quarantined
        ),
    );
    Ok(())
}

/// Push the changes to the http sink `delta-push`, received by a local
/// endpoint in this process that counts and discards what it gets.
async fn delta_push(config: &Config, started: Instant) -> Result<()> {
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let app = axum::Router::new().route(
        "/push",
        axum::routing::post(move |body: axum::body::Bytes| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(body.len() as u64, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/push", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut sink = find_sink(config, "delta-push")?.clone();
    sink.url = Some(url);
    let r = unicat::sinks::publish_http(&config.store_location()?, "delta-push", &sink).await?;
    report(
        started,
        &format!(
            "records={} deleted={} seq={} bytes={}",
            r.changed,
            r.deleted,
            r.seq,
            received.load(Ordering::Relaxed)
        ),
    );
    Ok(())
}

/// Serve the provider on an unused port until `quit` on standard input.
async fn provide(config: &Config) -> Result<()> {
    let state = Arc::new(
        unicat::provider::ProviderState::new(config)
            .context("the config has no [provider] table")?,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("provider http://{}/oai", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(unicat::provider::serve(listener, state, async {
        let _ = stopped.await;
    }));
    control(|_| "error the provider serves the store as it is".into()).await;
    let _ = stop.send(());
    let _ = server.await;
    Ok(())
}

/// The text of an element in `body`, e.g. the resumption token.
fn element<'a>(body: &'a str, name: &str) -> Option<(&'a str, &'a str)> {
    let start = body.find(&format!("<{name}"))?;
    let rest = &body[start + name.len() + 1..];
    let gt = rest.find('>')?;
    let attrs = &rest[..gt];
    let text = &rest[gt + 1..];
    let end = text.find(&format!("</{name}>"))?;
    Some((attrs, &text[..end]))
}

/// Walk the provider's whole ListRecords list, the way a harvester does,
/// and sample the provider's resident memory at the start, in the middle
/// and at the end of the list.
async fn walk(base: &str, pid: u32, started: Instant) -> Result<()> {
    let pid = pid.to_string();
    let rss = || proc_status_kib(&pid, "VmRSS:");
    let client = reqwest::Client::new();
    let rss_start = rss();
    let (mut records, mut pages, mut bytes) = (0u64, 0u64, 0u64);
    let mut rss_mid = None;
    let mut url = format!("{base}?verb=ListRecords&metadataPrefix=marc21");
    loop {
        let resp = client.get(&url).send().await?;
        if !resp.status().is_success() {
            bail!("{url}: HTTP {}", resp.status());
        }
        let body = resp.text().await?;
        pages += 1;
        bytes += body.len() as u64;
        records += body.matches("<header").count() as u64;
        let token = element(&body, "resumptionToken");
        let size: Option<u64> = token.and_then(|(attrs, _)| {
            let v = attrs.split("completeListSize=\"").nth(1)?;
            v.split('"').next()?.parse().ok()
        });
        if rss_mid.is_none() && size.is_some_and(|s| records >= s / 2) {
            rss_mid = Some(rss());
        }
        match token {
            Some((_, t)) if !t.is_empty() => {
                url = format!(
                    "{base}?verb=ListRecords&resumptionToken={}",
                    unicat_oai::percent_encode(&t.replace("&amp;", "&"))
                )
            }
            _ => break,
        }
    }
    let rss_end = rss();
    report(
        started,
        &format!(
            "records={records} pages={pages} bytes={bytes} rss_start_kib={rss_start} rss_mid_kib={} rss_end_kib={rss_end} provider_hwm_kib={}",
            rss_mid.unwrap_or(rss_end),
            proc_status_kib(&pid, "VmHWM:")
        ),
    );
    Ok(())
}
