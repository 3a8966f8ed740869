//! Pipeline check in one process: N records of the synthetic corpus
//! (`bench/synth.rs`, four partners, about a third duplicates) served over
//! local OAI-PMH by a child process, then one full harvest of every partner
//! (each with its dedup and merge, as `unicat harvest` does) and one
//! publish, timed. Prints records/second for each stage and this process's
//! peak memory (VmHWM).
//!
//! `cargo run --release --example pipeline -- N` (default 10,000). A quick
//! end-to-end look; the benchmark with separate processes per stage,
//! reference tools and targets is `bench/run.sh`. The server runs in its
//! own process so that the records it holds do not count in our peak.

#[path = "synth.rs"]
mod synth;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use unicat::config::Config;
use unicat::jobs::Jobs;
use unicat::oai_server::{OaiServer, RepoRecord, Repository};

use synth::{Corpus, Variant, PARTNERS, SEED};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// User and system CPU seconds of this process (all its threads, not the
/// server child): on a shared machine a steadier figure than wall time.
fn cpu_secs() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the parenthesised command name; utime and stime are
    // the 14th and 15th fields of the line, in clock ticks (100 per second).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let field = |i: usize| -> f64 {
        rest.split_whitespace()
            .nth(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (field(11), field(12))
}

async fn serve(n: u64) {
    let mut repos: Vec<Repository> = PARTNERS
        .iter()
        .map(|p| Repository::new(p.name, 500))
        .collect();
    synth::self_check();
    let when = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let mut corpus = Corpus::new(SEED, n);
    for item in corpus.by_ref() {
        repos[item.partner(SEED)].push(RepoRecord {
            identifier: item.identifier(SEED),
            datestamp: when,
            deleted: false,
            metadata: unicat_marc::marcxml::to_string(&synth::record(
                SEED,
                item,
                Variant::default(),
            )),
        });
    }
    let mut servers = Vec::new();
    for (p, repo) in PARTNERS.iter().zip(repos) {
        let server = OaiServer::start(repo).await.expect("bind");
        println!("{} {} {}", p.name, p.code, server.base_url);
        servers.push(server);
    }
    println!("ready {}", corpus.books());
    // Serve until the parent closes our stdin.
    let _ = tokio::task::spawn_blocking(|| {
        let mut s = String::new();
        let _ = std::io::stdin().read_line(&mut s);
    })
    .await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        serve(args[2].parse()?).await;
        return Ok(());
    }
    let n: u64 = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let t = Instant::now();
    let mut child = Command::new(std::env::current_exe()?)
        .args(["serve", &n.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    // One "name code url" line per partner, then "ready BOOKS".
    let mut partners = String::new();
    let mut books = 0u64;
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let line = line?;
        if let Some(b) = line.strip_prefix("ready ") {
            books = b.parse()?;
            break;
        }
        let mut w = line.split_whitespace();
        let (Some(name), Some(code), Some(url)) = (w.next(), w.next(), w.next()) else {
            anyhow::bail!("unexpected line from the server: {line}");
        };
        partners.push_str(&format!(
            "[[partner]]\nname = {name:?}\ncode = {code:?}\nbase-url = {url:?}\nschedule = \"0 2 * * *\"\n"
        ));
    }
    eprintln!(
        "generated and serving {n} records in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir()?;
    let text = format!(
        "state-dir = {:?}\n[publish]\noutput-dir = {:?}\n{partners}",
        dir.path().join("state").display().to_string(),
        dir.path().join("publish").display().to_string()
    );
    let path = dir.path().join("bench.toml");
    std::fs::write(&path, &text)?;
    let config = Config::load(&path).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let jobs = Jobs::new(Arc::new(config))?;
    let (_tx, rx) = tokio::sync::watch::channel(false);

    // `BENCH_HARVEST_ONLY=1` stops after the harvest stage (no dedup,
    // merge or publish), so that a profiler sees the harvest alone.
    if std::env::var_os("BENCH_HARVEST_ONLY").is_some() {
        let t = Instant::now();
        let mut pages = 0;
        for partner in &jobs.config.partners {
            let report = jobs
                .harvest_records(partner, rx.clone())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            pages += report.pages;
        }
        let secs = t.elapsed().as_secs_f64();
        drop(child.stdin.take());
        let _ = child.wait();
        println!("records            {n}");
        println!("pages              {pages}");
        println!(
            "harvest            {:.0} records/s ({secs:.1}s)",
            n as f64 / secs
        );
        let (user, sys) = cpu_secs();
        println!("cpu                {user:.1}s user, {sys:.1}s system (harvesting process)");
        println!(
            "peak memory        {} MiB (VmHWM of the harvesting process)",
            peak_rss_kib() / 1024
        );
        return Ok(());
    }

    let t = Instant::now();
    let (mut harvest_secs, mut pages) = (0.0, 0);
    for partner in jobs.config.partners.clone() {
        let report = jobs
            .harvest(&partner, rx.clone())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        harvest_secs += report.harvest.duration.as_secs_f64();
        pages += report.harvest.pages;
    }
    let total_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let published = jobs.publish().await?;
    let publish_secs = t.elapsed().as_secs_f64();
    drop(child.stdin.take());
    let _ = child.wait();

    println!("records            {n}");
    println!("pages              {pages}");
    println!(
        "harvest            {:.0} records/s ({harvest_secs:.1}s)",
        n as f64 / harvest_secs
    );
    println!(
        "dedup+merge        {:.0} records/s ({:.1}s), {} union records for {books} distinct books",
        n as f64 / (total_secs - harvest_secs).max(1e-9),
        total_secs - harvest_secs,
        published.records
    );
    println!(
        "publish            {:.0} union records/s ({publish_secs:.1}s)",
        published.records as f64 / publish_secs
    );
    println!(
        "end to end         {:.0} records/s",
        n as f64 / (total_secs + publish_secs)
    );
    println!(
        "peak memory        {} MiB (VmHWM of the harvesting process)",
        peak_rss_kib() / 1024
    );
    Ok(())
}
