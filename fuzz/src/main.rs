//! A coverage-free mutation fuzzer for unicat's parsers that runs on the
//! stable toolchain (cargo-fuzz needs nightly, which this project does not
//! have), in the spirit of ntpd-rs's round-trip fuzz targets.
//!
//! ```text
//! unicat-fuzz TARGET SECONDS [--data DIR] [--seed N] [--crashes DIR]
//! unicat-fuzz TARGET --replay FILE...
//! ```
//!
//! TARGET is `marcxml`, `iso2709` or `oai` (see `targets.rs`). The corpus
//! starts from the sample files in DIR (the repository's `fixtures/`), plus any earlier
//! crash inputs for the target, and grows with mutants whose outcome
//! signature is new. Each run is wrapped in `catch_unwind`: a panic (in the
//! code under test, or a failed round-trip assertion) is shrunk, saved to
//! `crashes/TARGET-HASH.bin` with the message beside it in `.txt`, and
//! counted once per panic location. A watchdog saves an input that runs for
//! more than 10 s as `TARGET-hang-HASH.bin` and stops the process.
//!
//! Exit status: 0 when nothing was found, 1 when something was, 2 for a
//! usage error. This program must not be part of the main workspace: it is
//! a tool, run by `fuzz/run.sh`, not a test.

mod mutate;
mod targets;

use std::collections::{HashMap, HashSet};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mutate::{mutate, Rng, MAX_LEN};
use targets::Target;

/// Inputs kept at most; a new one replaces a random old one beyond this.
const MAX_CORPUS: usize = 4096;
/// A run longer than this is a hang.
const HANG_LIMIT: Duration = Duration::from_secs(10);
/// Largest seed file taken whole; larger XML files are skipped.
const MAX_SEED: usize = 256 * 1024;
/// Largest ISO 2709 seed file taken whole; larger ones are split into
/// records (and a run of a few), since every run re-reads the whole input.
const MAX_ISO_SEED: usize = 16 * 1024;

/// What the last panic said, captured by the panic hook.
static LAST_PANIC: Mutex<Option<(String, String)>> = Mutex::new(None);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("unicat-fuzz: {message}");
            eprintln!(
                "usage: unicat-fuzz TARGET SECONDS [--data DIR] [--seed N] [--crashes DIR]\n       \
                 unicat-fuzz TARGET --replay FILE...\n\
                 targets: marcxml, iso2709, oai"
            );
            ExitCode::from(2)
        }
    }
}

/// Parsed command line.
struct Options {
    target: Target,
    seconds: u64,
    data: PathBuf,
    crashes: PathBuf,
    seed: u64,
    replay: Vec<PathBuf>,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut iter = args.iter();
    let target = iter.next().ok_or("no target given")?;
    let target = Target::from_name(target).ok_or_else(|| format!("unknown target {target:?}"))?;
    let mut options = Options {
        target,
        seconds: 0,
        data: here.join("../fixtures"),
        crashes: here.join("crashes"),
        seed: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
        replay: Vec::new(),
    };
    let mut seconds = None;
    while let Some(arg) = iter.next() {
        let mut value = || iter.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--data" => options.data = PathBuf::from(value()?),
            "--crashes" => options.crashes = PathBuf::from(value()?),
            "--seed" => {
                options.seed = value()?
                    .parse()
                    .map_err(|_| "--seed needs a number".to_owned())?;
            }
            "--replay" => {
                options.replay.extend(iter.by_ref().map(PathBuf::from));
                if options.replay.is_empty() {
                    return Err("--replay needs files".into());
                }
            }
            other => {
                seconds = Some(
                    other
                        .parse()
                        .map_err(|_| format!("expected seconds, got {other:?}"))?,
                );
            }
        }
    }
    match (seconds, options.replay.is_empty()) {
        (Some(s), true) => options.seconds = s,
        (None, false) => {}
        _ => return Err("give either SECONDS or --replay FILE...".into()),
    }
    Ok(options)
}

/// Runs the fuzzer; true when nothing was found.
fn run(args: &[String]) -> Result<bool, String> {
    let options = parse_args(args)?;
    install_panic_hook();
    if !options.replay.is_empty() {
        return replay(options.target, &options.replay);
    }
    fuzz(&options)
}

/// Keeps panic messages for the report instead of printing each one.
fn install_panic_hook() {
    panic::set_hook(Box::new(|info| {
        let message = if let Some(s) = info.payload().downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "(non-string panic payload)".to_owned()
        };
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some((location, message));
        }
    }));
}

/// Runs `data` through `target`: `Ok(signature)`, or `Err((location,
/// message))` if it panicked.
fn execute(target: Target, data: &[u8]) -> Result<String, (String, String)> {
    panic::catch_unwind(AssertUnwindSafe(|| target.run(data))).map_err(|_| {
        LAST_PANIC
            .lock()
            .ok()
            .and_then(|mut last| last.take())
            .unwrap_or_default()
    })
}

fn replay(target: Target, files: &[PathBuf]) -> Result<bool, String> {
    let mut clean = true;
    for file in files {
        let data = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        match execute(target, &data) {
            Ok(_) => println!("{}: ok", file.display()),
            Err((location, message)) => {
                clean = false;
                println!("{}: PANIC at {location}: {message}", file.display());
            }
        }
    }
    Ok(clean)
}

/// The starting corpus: sample files that suit the target, and earlier
/// crashes.
fn seeds(options: &Options) -> Result<Vec<Vec<u8>>, String> {
    let (dir, wanted): (&str, &[&str]) = match options.target {
        Target::Marcxml => ("marc", &["xml"]),
        Target::Iso2709 => ("marc", &["mrc", "marc"]),
        Target::Oai => ("oai", &["xml"]),
    };
    let root = options.data.join(dir);
    let mut files = Vec::new();
    walk(&root, &mut files).map_err(|e| {
        format!(
            "cannot read sample files in {}: {e} (pass --data DIR: the repository's fixtures/ folder)",
            root.display()
        )
    })?;
    if options.target == Target::Marcxml {
        // OAI pages hold MARCXML too, in the wrappers harvests deliver.
        walk(&options.data.join("oai"), &mut files)
            .map_err(|e| format!("cannot read the OAI samples: {e}"))?;
    }
    files.sort();
    let mut corpus = Vec::new();
    for file in files {
        let matches = file
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| wanted.contains(&e));
        if !matches {
            continue;
        }
        let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let limit = if options.target == Target::Iso2709 {
            MAX_ISO_SEED
        } else {
            MAX_SEED
        };
        if bytes.len() <= limit {
            corpus.push(bytes);
        } else if options.target == Target::Iso2709 {
            // One seed per record, and a few records in a row.
            let records: Vec<&[u8]> = bytes.split_inclusive(|&b| b == 0x1D).collect();
            corpus.extend(records.iter().step_by(7).take(300).map(|r| r.to_vec()));
            corpus.push(
                records
                    .iter()
                    .take(40)
                    .flat_map(|r| r.iter().copied())
                    .collect(),
            );
        }
    }
    // Earlier findings for this target come first, so they are checked
    // again at once.
    let prefix = format!("{}-", options.target.name());
    if let Ok(entries) = std::fs::read_dir(&options.crashes) {
        let mut crashes: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|e| e == "bin")
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&prefix))
            })
            .collect();
        crashes.sort();
        for path in crashes {
            if let Ok(bytes) = std::fs::read(&path) {
                corpus.insert(0, bytes);
            }
        }
    }
    if corpus.is_empty() {
        return Err(format!("no seed files found under {}", root.display()));
    }
    Ok(corpus)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// FNV-1a, to name crash files by content.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Shrinks a crashing input while it still panics at the same place, so
/// that the saved file makes a readable regression test.
fn shrink(target: Target, data: &[u8], location: &str) -> Vec<u8> {
    let mut best = data.to_vec();
    let mut chunk = (best.len() / 2).max(1);
    let mut tries = 0;
    while chunk >= 1 && tries < 5_000 {
        let mut progressed = false;
        let mut at = 0;
        while at < best.len() && tries < 5_000 {
            tries += 1;
            let end = (at + chunk).min(best.len());
            let mut candidate = best[..at].to_vec();
            candidate.extend_from_slice(&best[end..]);
            match execute(target, &candidate) {
                Err((loc, _)) if loc == location => {
                    best = candidate;
                    progressed = true;
                }
                _ => at += chunk,
            }
        }
        if !progressed {
            if chunk == 1 {
                break;
            }
            chunk /= 2;
        }
    }
    best
}

fn save(dir: &Path, name: &str, data: &[u8], note: &str) -> PathBuf {
    let _ = std::fs::create_dir_all(dir);
    let path = dir.join(format!("{name}.bin"));
    if let Err(err) = std::fs::write(&path, data) {
        eprintln!("cannot save {}: {err}", path.display());
    }
    let _ = std::fs::write(dir.join(format!("{name}.txt")), note);
    path
}

/// Starts the hang watchdog; returns the slot the fuzz loop records each
/// run's input and start time in (milliseconds since `epoch`, plus one so
/// that 0 means idle).
fn watchdog(target: Target, crashes: PathBuf, epoch: Instant) -> Arc<(Mutex<Vec<u8>>, AtomicU64)> {
    let slot = Arc::new((Mutex::new(Vec::new()), AtomicU64::new(0)));
    let watched = Arc::clone(&slot);
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        let started = watched.1.load(Ordering::Relaxed);
        if started == 0 {
            continue;
        }
        let now = epoch.elapsed().as_millis() as u64 + 1;
        if now.saturating_sub(started) > HANG_LIMIT.as_millis() as u64 {
            let data = watched.0.lock().map(|d| d.clone()).unwrap_or_default();
            let name = format!("{}-hang-{:016x}", target.name(), fnv(&data));
            let path = save(
                &crashes,
                &name,
                &data,
                &format!("run took over {HANG_LIMIT:?}"),
            );
            eprintln!("HANG: saved {}", path.display());
            std::process::exit(1);
        }
    });
    slot
}

fn fuzz(options: &Options) -> Result<bool, String> {
    let target = options.target;
    let mut corpus = seeds(options)?;
    let seeds_count = corpus.len();
    let dictionary = target.dictionary();
    let mut rng = Rng::new(options.seed);
    let mut seen: HashSet<String> = HashSet::new();
    let mut findings: HashMap<String, (String, PathBuf)> = HashMap::new();
    let epoch = Instant::now();
    let slot = watchdog(target, options.crashes.clone(), epoch);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.seconds);
    let mut execs: u64 = 0;
    let mut last_report = started;

    let run_one = |data: &[u8],
                   seen: &mut HashSet<String>,
                   findings: &mut HashMap<String, (String, PathBuf)>|
     -> bool {
        if let Ok(mut current) = slot.0.lock() {
            current.clear();
            current.extend_from_slice(data);
        }
        slot.1
            .store(epoch.elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
        let outcome = execute(target, data);
        slot.1.store(0, Ordering::Relaxed);
        match outcome {
            Ok(signature) => seen.insert(signature),
            Err((location, message)) => {
                if let std::collections::hash_map::Entry::Vacant(entry) =
                    findings.entry(location.clone())
                {
                    let small = shrink(target, data, &location);
                    let name = format!("{}-{:016x}", target.name(), fnv(&small));
                    let note = format!("panic at {location}\n{message}\n");
                    let path = save(&options.crashes, &name, &small, &note);
                    eprintln!(
                        "CRASH at {location}: {message}\n  saved {} ({} bytes)",
                        path.display(),
                        small.len()
                    );
                    entry.insert((message, path));
                }
                false
            }
        }
    };

    // Every seed once, which also fills the signature set.
    for data in &corpus {
        execs += 1;
        run_one(data, &mut seen, &mut findings);
    }
    let mut input = Vec::new();
    while Instant::now() < deadline {
        let base = rng.below(corpus.len());
        let other = rng.below(corpus.len());
        input.clear();
        input.extend_from_slice(&corpus[base]);
        mutate(&mut input, &corpus[other], dictionary, &mut rng);
        execs += 1;
        if run_one(&input, &mut seen, &mut findings) && input.len() <= MAX_LEN {
            if corpus.len() < MAX_CORPUS {
                corpus.push(input.clone());
            } else {
                // Keep the seeds; replace a grown entry.
                let grown = corpus.len().saturating_sub(seeds_count);
                if let Some(entry) = corpus.get_mut(seeds_count + rng.below(grown)) {
                    entry.clone_from(&input);
                }
            }
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            eprintln!(
                "{}: {execs} runs, {:.0}/s, corpus {}, signatures {}, findings {}",
                target.name(),
                execs as f64 / started.elapsed().as_secs_f64(),
                corpus.len(),
                seen.len(),
                findings.len()
            );
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{}: {execs} runs in {elapsed:.0} s ({:.0}/s), seed {}, {seeds_count} seeds, corpus {}, signatures {}, findings {}",
        target.name(),
        execs as f64 / elapsed,
        options.seed,
        corpus.len(),
        seen.len(),
        findings.len()
    );
    if std::env::var_os("UNICAT_FUZZ_SIGNATURES").is_some() {
        let mut all: Vec<&String> = seen.iter().collect();
        all.sort();
        for signature in all {
            println!("  signature {signature}");
        }
    }
    for (location, (message, path)) in &findings {
        println!(
            "  panic at {location}: {message}\n    input: {}",
            path.display()
        );
    }
    Ok(findings.is_empty())
}
