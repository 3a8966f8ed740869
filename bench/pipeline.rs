//! Pipeline benchmark: N synthetic MARC records served over local OAI-PMH
//! by a child process, then one full harvest (with dedup and merge) and one
//! publish, timed. Prints records/second for each stage and the harvesting
//! process's peak memory (VmHWM), which must stay flat as N grows.
//!
//! Run with `bench/run.sh N` (e.g. 100000). The server runs in its own
//! process so that the records it holds do not count in our peak memory.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use unicat::config::Config;
use unicat::jobs::Jobs;
use unicat::oai_server::{OaiServer, RepoRecord, Repository};
use unicat_marc::{ControlField, DataField, Field, Record};

const WORDS: &[&str] = &[
    "tarix",
    "adabiyot",
    "kitob",
    "ilm",
    "dunyo",
    "history",
    "language",
    "science",
    "poetry",
    "sharq",
    "qərb",
    "ədəbiyyat",
    "musiqi",
    "Ўзбекистон",
    "тарих",
    "наука",
    "роман",
    "şeir",
    "til",
    "madaniyat",
];

/// A deterministic pseudo-random generator (xorshift), so every run of the
/// benchmark sees the same records.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn isbn13(n: u64) -> String {
    let body = format!("978{:09}", n % 1_000_000_000);
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, c)| u32::from(c - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// Record i. Every fifth record repeats the book of record i-1 (same ISBN),
/// as a second library's copy, so dedup has work to do.
fn record(i: u64) -> Record {
    let book = if i % 5 == 4 { i - 1 } else { i };
    let mut rng = Rng(book.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut r = Record::new("00000nam a2200000 i 4500");
    r.push(Field::Control(ControlField {
        tag: "001".into(),
        value: format!("bench{i:08}"),
    }));
    r.push(Field::Control(ControlField {
        tag: "008".into(),
        value: format!("240101s{}    uz            000 0 uzb d", 1990 + book % 35),
    }));
    r.push(Field::Data(
        DataField::new("020", ' ', ' ').with('a', isbn13(book)),
    ));
    r.push(Field::Data(DataField::new("100", '1', ' ').with(
        'a',
        format!("{}ov, Aziz,", WORDS[(rng.next() % 20) as usize]),
    )));
    let title: Vec<&str> = (0..4).map(|_| WORDS[(rng.next() % 20) as usize]).collect();
    r.push(Field::Data(
        DataField::new("245", '1', '0')
            .with('a', format!("{} :", title.join(" ")))
            .with('b', "oʻquv qoʻllanma /"),
    ));
    r.push(Field::Data(
        DataField::new("264", ' ', '1')
            .with('a', "Toshkent :")
            .with('b', "Fan,")
            .with('c', format!("{}.", 1990 + book % 35)),
    ));
    r.push(Field::Data(
        DataField::new("300", ' ', ' ').with('a', format!("{} b.", 100 + book % 400)),
    ));
    r.push(Field::Data(
        DataField::new("650", ' ', '7')
            .with('a', WORDS[(rng.next() % 20) as usize])
            .with('2', "local"),
    ));
    r
}

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
    let mut repo = Repository::new("bench", 500);
    let when = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    for i in 0..n {
        repo.push(RepoRecord {
            identifier: format!("oai:bench:{i}"),
            datestamp: when,
            deleted: false,
            metadata: unicat_marc::marcxml::to_string(&record(i)),
        });
    }
    let server = OaiServer::start(repo).await.expect("bind");
    println!("{}", server.base_url);
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
    let mut url = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut url)?;
    let url = url.trim().to_string();
    eprintln!(
        "generated and serving {n} records in {:.1}s at {url}",
        t.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir()?;
    let text = format!(
        "state-dir = {:?}\n[publish]\noutput-dir = {:?}\n[[partner]]\nname = \"bench\"\ncode = \"XX-BENCH\"\nbase-url = {url:?}\nschedule = \"0 2 * * *\"\n",
        dir.path().join("state").display().to_string(),
        dir.path().join("publish").display().to_string()
    );
    let path = dir.path().join("bench.toml");
    std::fs::write(&path, &text)?;
    let config = Config::load(&path).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let jobs = Jobs::new(Arc::new(config))?;
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let partner = jobs.config.partners[0].clone();

    // `BENCH_HARVEST_ONLY=1` stops after the harvest stage (no dedup,
    // merge or publish), so that a profiler sees the harvest alone.
    if std::env::var_os("BENCH_HARVEST_ONLY").is_some() {
        let t = Instant::now();
        let report = unicat::harvest::harvest_partner(
            &jobs.config.harvest,
            &jobs.config.catalogue_code,
            &partner,
            jobs.open_store()?,
            rx,
            &unicat::harvest::NoObserver,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let secs = t.elapsed().as_secs_f64();
        drop(child.stdin.take());
        let _ = child.wait();
        println!("records            {n}");
        println!("pages              {}", report.pages);
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
    let report = jobs
        .harvest(&partner, rx)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let harvest_secs = report.harvest.duration.as_secs_f64();
    let total_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let published = jobs.publish().await?;
    let publish_secs = t.elapsed().as_secs_f64();
    drop(child.stdin.take());
    let _ = child.wait();

    println!("records            {n}");
    println!("pages              {}", report.harvest.pages);
    println!(
        "harvest            {:.0} records/s ({harvest_secs:.1}s)",
        n as f64 / harvest_secs
    );
    println!(
        "dedup+merge        {:.0} records/s ({:.1}s), {} union records",
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
