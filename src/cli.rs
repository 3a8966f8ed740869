//! The command line: clap definitions and what each command does, mapped
//! to sysexits-style exit codes (78 configuration, 75 temporary failure,
//! 70 internal error) so that scripts and systemd can tell them apart. A
//! full disk or quota is a temporary failure wherever it surfaces
//! ([`storage_exhausted`]).
//!
//! Command output (status, explain, the demo summary) goes to stdout; logs
//! go to stderr through `telemetry`, so that journald never sees a line
//! twice.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use tokio::sync::watch;
use tracing::error;

use crate::config::{self, Config, LogFormat, StoreLocation};
use crate::harvest::HarvestError;
use crate::jobs::Jobs;
use crate::store::Store;
use crate::{daemon, demo, telemetry};

/// `print!` for command output: a reader that went away (`unicat explain …
/// | head`) ends the command quietly instead of a panic, and any other write
/// error (a full disk under `> file`) is an error with an exit code.
macro_rules! out {
    ($($arg:tt)*) => {
        write_stdout(format_args!($($arg)*))?
    };
}

/// `println!` for command output; see [`out!`].
macro_rules! outln {
    ($($arg:tt)*) => {
        write_stdout(format_args!("{}\n", format_args!($($arg)*)))?
    };
}

fn write_stdout(args: std::fmt::Arguments<'_>) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_fmt(args) {
        Ok(()) => Ok(()),
        // What `head` and `less` do to a pipe: the reader has what it
        // wanted, so the output just stops, as with any Unix tool.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(anyhow::Error::from(e).context("writing to standard output")),
    }
}

/// Exit code: configuration error (sysexits EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;
/// Exit code: temporary failure, e.g. a partner unreachable (EX_TEMPFAIL).
pub const EXIT_TEMPFAIL: u8 = 75;
/// Exit code: internal software error (EX_SOFTWARE).
pub const EXIT_SOFTWARE: u8 = 70;
/// Exit code: the partner is being harvested by another process, e.g. the
/// daemon (EX_UNAVAILABLE); distinct so scripts can wait and retry.
pub const EXIT_BUSY: u8 = 69;
/// Exit code: the store is missing, truncated or damaged where its history
/// says the catalogue was (EX_DATAERR); restarting does not help.
pub const EXIT_STORE: u8 = 65;
/// Exit code for a bad command line (EX_USAGE).
pub const EXIT_USAGE: u8 = 64;

/// A command-line mistake, with the exit code for one.
fn usage_error(message: String) -> Failure {
    Failure {
        code: EXIT_USAGE,
        message,
    }
}

/// unicat: a union catalogue built from partner libraries' OAI-PMH feeds.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, short, global = true, env = "UNICAT_CONFIG", default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Log format on stderr (overrides the config file's `[log] format`).
    #[arg(long, global = true, value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run as a daemon: harvest and publish on the configured schedules.
    Run {
        /// If the store is missing, truncated or damaged where its history
        /// says the catalogue was, set it aside and start a new, empty one
        /// (every partner is harvested again). A sound store is kept.
        #[arg(long)]
        reinitialise: bool,
    },
    /// Harvest now (then deduplicate and merge); exits non-zero if any harvest failed.
    Harvest {
        /// Partner to harvest (repeatable).
        #[arg(long, short, required_unless_present = "all", conflicts_with = "all")]
        partner: Vec<String>,
        /// Harvest every configured partner.
        #[arg(long)]
        all: bool,
    },
    /// Compare a partner's full identifier listing with the store and mark
    /// records that vanished as deleted (for repositories with
    /// `deletedRecord` `no`); refused if the listing is suspiciously short.
    Reconcile {
        /// Partner to reconcile.
        #[arg(long, short)]
        partner: String,
    },
    /// Load MARC files (MARCXML or ISO 2709, MARC-8 or UTF-8) as a
    /// partner's records, through the same normalisation and dedup.
    Import {
        /// Partner the records belong to.
        #[arg(long, short)]
        partner: String,
        /// Files to load.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Records that could not be read: list them, or show one with its raw text.
    Quarantine {
        /// What to do.
        #[command(subcommand)]
        action: QuarantineAction,
    },
    /// Re-normalise a partner's stored records from their raw text with the
    /// current rules (done automatically by the daemon when rules change).
    Reprocess {
        /// Partner to reprocess.
        #[arg(long, short)]
        partner: String,
    },
    /// A partner's data-quality report: what its records lack, what
    /// normalisation had to fix, which rules fired, how many were merged.
    Report {
        /// Partner to report on.
        #[arg(long, short)]
        partner: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Publish the union catalogue now.
    Publish,
    /// Show each partner's last harvest and the catalogue's size.
    Status {
        /// Print JSON instead of a table, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Validate the configuration file; exit 78 on errors.
    CheckConfig,
    /// Apply the store's schema migrations now (the daemon also does at
    /// start) and print the schema version.
    Migrate,
    /// Copy a whole SQLite store into an empty PostgreSQL database, so an
    /// installation moves to a shared store without re-harvesting. Stop
    /// the daemon first: what it writes during the copy is not copied.
    MigrateStore {
        /// The store to copy: `sqlite:STATE_DIR` (or the database file).
        #[arg(long)]
        from: String,
        /// Where to: `postgres://USER@HOST:PORT/DATABASE`, empty.
        #[arg(long)]
        to: String,
        /// Environment variable holding the PostgreSQL password.
        #[arg(long)]
        password_env: Option<String>,
    },
    /// Show which partner records a union record came from and why they were merged.
    Explain {
        /// A union record id (`uc…`) or `PARTNER:ID` (the partner's 001 or OAI identifier).
        id: String,
        /// Print the evidence as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Convert MARC files between MARCXML, ISO 2709 (UTF-8 or MARC-8) and
    /// MARC-in-JSON lines, streaming. Unreadable records are reported on
    /// stderr with their file, record number and byte offset, and skipped.
    Convert {
        /// Input format [default: guessed from each file's first bytes].
        #[arg(long, value_enum)]
        from: Option<crate::convert::Format>,
        /// Output format [default: iso2709 with --encoding marc8, else from
        /// the output file's extension (.mrc, .xml, .json), else marcxml].
        #[arg(long, value_enum)]
        to: Option<crate::convert::Format>,
        /// Character encoding of ISO 2709 output [default: utf8].
        #[arg(long, value_enum)]
        encoding: Option<crate::convert::Encoding>,
        /// Stop at the first record that cannot be converted (exit 65,
        /// no output file left behind).
        #[arg(long)]
        strict: bool,
        /// Output file (`-` or none: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Input files (`-`: standard input).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Run the bundled demo: local endpoints, harvest, dedup, publish, summary.
    Demo {
        /// Directory for the demo's state and output.
        #[arg(long, default_value = "demo-output")]
        dir: PathBuf,
    },
    /// Write the man pages (DIR/man1, DIR/man5) and shell completions
    /// (DIR/completions) for packaging; hidden from help and from the
    /// pages themselves.
    #[command(hide = true)]
    GenerateDocs {
        /// Directory to write into (created if missing).
        dir: PathBuf,
    },
}

/// `unicat quarantine …`
#[derive(Debug, Subcommand)]
pub enum QuarantineAction {
    /// List quarantined records (open ones; `--all` includes superseded).
    List {
        /// Only this partner's.
        #[arg(long, short)]
        partner: Option<String>,
        /// Include entries a newer, readable version has superseded.
        #[arg(long)]
        all: bool,
    },
    /// Show one entry with its reason and the record as received.
    Show {
        /// Entry id, as `list` prints it.
        id: i64,
    },
}

/// A failure with the exit code it maps to.
struct Failure {
    code: u8,
    message: String,
}

/// Whether the store was refused (vanished, truncated or damaged, see
/// `store::guard`): a person has to restore it, so every command exits 65
/// rather than a code that invites a retry.
fn store_refused(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<crate::store::guard::Refusal>())
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        let refused = store_refused(&e);
        Failure {
            code: if refused {
                EXIT_STORE
            } else if storage_exhausted(&e) {
                EXIT_TEMPFAIL
            } else {
                EXIT_SOFTWARE
            },
            message: format!("{e:#}"),
        }
    }
}

/// Whether anything in the error's chain says the disk or the quota is
/// full: `ENOSPC` / `EDQUOT` from the file system, SQLite's `SQLITE_FULL`,
/// PostgreSQL's `disk_full` (53100). That is a temporary failure (exit 75:
/// free space and run again; nothing committed is lost), not a bug in
/// unicat (70).
pub fn storage_exhausted(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            );
        }
        if let Some(rusqlite::Error::SqliteFailure(f, _)) = cause.downcast_ref::<rusqlite::Error>()
        {
            return f.code == rusqlite::ErrorCode::DiskFull;
        }
        if let Some(pg) = cause.downcast_ref::<postgres::Error>() {
            return pg.code() == Some(&postgres::error::SqlState::DISK_FULL);
        }
        false
    })
}

/// Parse arguments, run the command, return the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = match cli.log_format.as_deref() {
        Some("json") => LogFormat::Json,
        Some(_) => LogFormat::Text,
        // The config file's `[log] format`, if the file parses; if it does
        // not, the error is reported below in the default format.
        None => std::fs::read_to_string(&cli.config)
            .ok()
            .and_then(|text| Config::parse(&cli.config, &text).ok())
            .map_or(LogFormat::Text, |c| c.log.format),
    };
    // A logger before the config is read, so config errors are logged like
    // everything else; the config's own format applies from `run` on.
    // The demo's summary on stdout is the point; its info lines would
    // bury it (UNICAT_LOG=info brings them back).
    let level = if matches!(cli.command, Command::Demo { .. }) {
        "warn"
    } else {
        "info"
    };
    telemetry::init(format, level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("unicat: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_SOFTWARE);
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("unicat: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn load_config(path: &Path) -> Result<Config, Failure> {
    Config::load(path).map_err(|errors| Failure {
        code: EXIT_CONFIG,
        message: errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\nunicat: "),
    })
}

async fn dispatch(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::CheckConfig => {
            let config = load_config(&cli.config)?;
            outln!(
                "{}: ok ({} partner(s))",
                cli.config.display(),
                config.partners.len()
            );
            Ok(())
        }
        Command::MigrateStore {
            from,
            to,
            password_env,
        } => {
            let (from, to) = (
                StoreLocation::parse(&from, None)
                    .map_err(|e| usage_error(format!("--from: {e}")))?,
                StoreLocation::parse(&to, password_env.as_deref())
                    .map_err(|e| usage_error(format!("--to: {e}")))?,
            );
            if !matches!(from, StoreLocation::Sqlite(_)) {
                return Err(usage_error(
                    "--from must be a SQLite store (sqlite:STATE_DIR)".into(),
                ));
            }
            if !matches!(to, StoreLocation::Postgres { .. }) {
                return Err(usage_error(
                    "--to must be a PostgreSQL database (postgres://…)".into(),
                ));
            }
            // TLS settings in the URL are checked before anything is
            // opened, as a configuration's are at load.
            if let StoreLocation::Postgres { url, .. } = &to {
                crate::store::pg::tls::check_url(url)
                    .map_err(|e| usage_error(format!("--to: {e}")))?;
            }
            let report = tokio::task::spawn_blocking(move || migrate_store(&from, &to))
                .await
                .map_err(|e| anyhow::anyhow!("copy worker panicked: {e}"))??;
            out!("{report}");
            Ok(())
        }
        Command::Migrate => {
            let config = load_config(&cli.config)?;
            let location = config.store_location()?;
            let (before, after, at) =
                tokio::task::spawn_blocking(move || Store::migrate(&location))
                    .await
                    .map_err(|e| anyhow::anyhow!("migration worker panicked: {e}"))??;
            match before {
                None => outln!("{at}: created at schema version {after}"),
                Some(b) if b == after => outln!("{at}: schema version {after}, up to date"),
                Some(b) => outln!("{at}: migrated from schema version {b} to {after}"),
            }
            Ok(())
        }
        Command::Demo { dir } => Ok(demo::run(&dir).await?),
        Command::Convert {
            from,
            to,
            encoding,
            strict,
            output,
            inputs,
        } => {
            let options = crate::convert::Options {
                from,
                to,
                encoding,
                strict,
                inputs,
                output,
            };
            // A file tool: nothing else runs, so it may block this thread.
            match crate::convert::run(&options, &mut std::io::stderr()) {
                Ok(s) => {
                    eprintln!(
                        "unicat convert: {} records written, {} skipped{}",
                        s.written,
                        s.skipped,
                        if s.references > 0 {
                            format!(
                                ", {} characters MARC-8 lacks written as &#xHHHH; references",
                                s.references
                            )
                        } else {
                            String::new()
                        }
                    );
                    Ok(())
                }
                Err(e) => Err(Failure {
                    code: e.exit_code(),
                    message: format!("convert: {e}"),
                }),
            }
        }
        Command::GenerateDocs { dir } => {
            for path in crate::docs::generate(&dir)? {
                outln!("{}", path.display());
            }
            Ok(())
        }
        Command::Run { reinitialise } => {
            let config = load_config(&cli.config)?;
            let events = daemon::signal_events()?;
            Ok(daemon::run(cli.config.clone(), config, reinitialise, events).await?)
        }
        Command::Harvest { partner, all } => {
            let config = load_config(&cli.config)?;
            let partners: Vec<_> = if all {
                config.partners.clone()
            } else {
                let mut v = Vec::new();
                for name in &partner {
                    v.push(find_partner(&config, &cli.config, name)?);
                }
                v
            };
            harvest_now(config, partners).await
        }
        Command::Reconcile { partner } => {
            let config = load_config(&cli.config)?;
            let p = find_partner(&config, &cli.config, &partner)?;
            let jobs = Jobs::new(Arc::new(config))?;
            let (_stop_tx, stop_rx) = watch::channel(false);
            match jobs.reconcile(&p, stop_rx).await {
                Ok((live, listed, deleted)) => {
                    outln!("{partner}: {listed} identifiers listed for {live} records held; {deleted} marked deleted");
                    Ok(())
                }
                Err(e) => Err(job_failure(e, "reconcile", Some(&partner), EXIT_TEMPFAIL)),
            }
        }
        Command::Import { partner, files } => {
            let config = load_config(&cli.config)?;
            let p = find_partner(&config, &cli.config, &partner)?;
            let jobs = Jobs::new(Arc::new(config))?;
            match jobs.import(&p, files).await {
                Ok(r) => {
                    let c = r.counts;
                    outln!(
                        "{partner}: {} file(s), {} records: {} new, {} updated, {} unchanged, {} quarantined, {} repaired",
                        r.files,
                        c.seen(),
                        c.new,
                        c.updated,
                        c.unchanged,
                        c.quarantined,
                        c.repaired
                    );
                    Ok(())
                }
                Err(e) => Err(job_failure(e, "import", None, EXIT_SOFTWARE)),
            }
        }
        Command::Quarantine { action } => {
            let config = load_config(&cli.config)?;
            let store = Store::from_config(&config)?;
            match action {
                QuarantineAction::List { partner, all } => {
                    let entries = store.quarantine_list(partner.as_deref(), all)?;
                    for e in &entries {
                        outln!(
                            "{:>6}  {:<10} {:<32} {}{}",
                            e.id,
                            e.partner,
                            e.oai_id,
                            e.reason,
                            e.resolved_at
                                .as_deref()
                                .map(|r| format!(" (superseded {r})"))
                                .unwrap_or_default()
                        );
                    }
                    outln!(
                        "{} entr{}",
                        entries.len(),
                        if entries.len() == 1 { "y" } else { "ies" }
                    );
                }
                QuarantineAction::Show { id } => {
                    let e = store
                        .quarantine_entry(id)?
                        .with_context(|| format!("no quarantine entry {id}"))?;
                    outln!("entry:      {}", e.id);
                    outln!("partner:    {}", e.partner);
                    outln!("identifier: {}", e.oai_id);
                    outln!(
                        "run:        {}",
                        e.run_id.map(|r| r.to_string()).unwrap_or_default()
                    );
                    outln!("at:         {}", e.at.unwrap_or_default());
                    outln!("reason:     {}", e.reason);
                    if let Some(r) = e.resolved_at {
                        outln!("superseded: {r}");
                    }
                    outln!(
                        "---\n{}",
                        e.raw.unwrap_or_else(|| "(raw record not available)".into())
                    );
                }
            }
            Ok(())
        }
        Command::Reprocess { partner } => {
            let config = load_config(&cli.config)?;
            let p = find_partner(&config, &cli.config, &partner)?;
            let jobs = Jobs::new(Arc::new(config))?;
            match jobs.reprocess(&p).await {
                Ok(r) => {
                    outln!(
                        "{partner}: {} records reprocessed, {} changed, {} unreadable",
                        r.records,
                        r.changed,
                        r.unreadable
                    );
                    Ok(())
                }
                Err(e) => Err(job_failure(e, "reprocess", Some(&partner), EXIT_SOFTWARE)),
            }
        }
        Command::Report { partner, json } => {
            let config = load_config(&cli.config)?;
            let p = find_partner(&config, &cli.config, &partner)?;
            let store = Store::from_config(&config)?;
            let report =
                crate::quality::report(&store, &p, &p.normalize_options(&config.catalogue_code))?;
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&report).map_err(anyhow::Error::from)?
                );
            } else {
                out!("{}", crate::quality::render(&report));
            }
            Ok(())
        }
        Command::Publish => {
            let config = load_config(&cli.config)?;
            let jobs = Jobs::new(Arc::new(config))?;
            let r = jobs.publish().await?;
            outln!(
                "published {} union records ({} deleted since last publish) to {}",
                r.records,
                r.deleted,
                jobs.config.publish.output_dir.display()
            );
            Ok(())
        }
        Command::Status { json } => {
            let config = load_config(&cli.config)?;
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&status_json(&config)?)
                        .map_err(anyhow::Error::from)?
                );
            } else {
                out!("{}", status_text(&config)?);
            }
            Ok(())
        }
        Command::Explain { id, json } => {
            let config = load_config(&cli.config)?;
            if json {
                let e = explain(&config, &id)?;
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&e).map_err(anyhow::Error::from)?
                );
            } else {
                out!("{}", explain_text(&config, &id)?);
            }
            Ok(())
        }
    }
}

/// A failed job as a failure: a busy partner always exits 69, anything
/// else with `code`, the message naming the job and the partner.
fn job_failure(e: HarvestError, what: &str, partner: Option<&str>, code: u8) -> Failure {
    match e {
        HarvestError::Busy { .. } => Failure {
            code: EXIT_BUSY,
            message: e.to_string(),
        },
        e => Failure {
            code: match &e {
                HarvestError::Failed(inner) if store_refused(inner) => EXIT_STORE,
                HarvestError::Failed(inner) if storage_exhausted(inner) => EXIT_TEMPFAIL,
                _ => code,
            },
            message: match partner {
                Some(p) => format!("{what} failed: {p}: {e}"),
                None => format!("{what} failed: {e}"),
            },
        },
    }
}

/// The partner with this name, or a config error listing the known ones.
fn find_partner(config: &Config, path: &Path, name: &str) -> Result<config::Partner, Failure> {
    config.partner(name).cloned().ok_or_else(|| Failure {
        code: EXIT_CONFIG,
        message: format!(
            "no partner named `{name}` in {} (known: {})",
            path.display(),
            config
                .partners
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

async fn harvest_now(config: Config, partners: Vec<config::Partner>) -> Result<(), Failure> {
    let mut jobs = Jobs::new(Arc::new(config))?;
    // A store that vanished or is damaged is refused here, before any
    // partner is claimed, so the command exits 65 like every other one
    // instead of reporting each partner's harvest as a temporary failure.
    drop(jobs.open_store()?);
    if let Some(bars) = crate::progress::Bars::for_terminal() {
        jobs = jobs.with_observer(Arc::new(bars));
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    // Ctrl-C on an on-demand harvest stops it after the page in flight.
    tokio::spawn(async move {
        daemon::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    // Every partner is claimed before any is harvested: if one is busy
    // (the daemon harvests it), the command is refused having changed
    // nothing, not even by the dedup pass below, which would otherwise
    // cluster the pages the daemon has committed so far.
    let mut claimed = Vec::new();
    let mut busy = Vec::new();
    let mut refused = None;
    for p in partners {
        match jobs.claim_partner(&p).await {
            Ok(claim) => claimed.push((p, claim)),
            Err(e @ HarvestError::Busy { .. }) => busy.push(e.to_string()),
            Err(e) => {
                refused = Some(job_failure(e, "harvest", Some(p.name()), EXIT_TEMPFAIL));
                break;
            }
        }
    }
    if refused.is_some() || !busy.is_empty() {
        for (_, claim) in claimed {
            claim.release().await;
        }
        return Err(refused.unwrap_or_else(|| Failure {
            code: EXIT_BUSY,
            message: format!("{}; nothing was harvested", busy.join("; ")),
        }));
    }
    let mut set = tokio::task::JoinSet::new();
    for (p, claim) in claimed {
        let jobs = jobs.clone();
        let stop = stop_rx.clone();
        set.spawn(async move {
            let r = jobs.harvest_claimed_records(&p, claim, stop).await;
            (p.name().to_string(), r)
        });
    }
    let mut failures = Vec::new();
    let mut interrupted = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (name, result) = joined.map_err(|e| anyhow::anyhow!("harvest task failed: {e}"))?;
        match result {
            Ok(r) => {
                let c = r.counts;
                outln!(
                    "{name}: ok, {} pages, {} new, {} updated, {} unchanged, {} deleted, {} quarantined",
                    r.pages, c.new, c.updated, c.unchanged, c.deleted, c.quarantined
                );
            }
            // Ctrl-C: what was committed stays; the next run resumes.
            Err(e @ HarvestError::Interrupted { .. }) => interrupted.push(format!("{name}: {e}")),
            Err(e) => {
                error!(partner = %name, error = %e, "harvest failed");
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    // One dedup pass after all partners (also after a failure: what was
    // stored before it is in the catalogue). If it fails too after a
    // failed harvest (a full disk fails both), the harvest failures are
    // still what the exit code and message report.
    match jobs.refresh().await {
        Ok(r) => outln!(
            "dedup and merge: {} records examined, {} union records changed, {} deleted",
            r.examined,
            r.unions_changed,
            r.unions_deleted
        ),
        Err(e) if !failures.is_empty() => failures.push(format!("dedup and merge: {e:#}")),
        Err(e) => return Err(e.into()),
    }
    if !failures.is_empty() {
        failures.extend(interrupted);
        Err(Failure {
            code: EXIT_TEMPFAIL,
            message: format!("harvest failed: {}", failures.join("; ")),
        })
    } else if !interrupted.is_empty() {
        Err(Failure {
            code: EXIT_TEMPFAIL,
            message: format!("harvest interrupted: {}", interrupted.join("; ")),
        })
    } else {
        Ok(())
    }
}

/// `unicat migrate-store`: bring the SQLite store to the current schema,
/// copy it into the empty PostgreSQL database, and say what was copied.
fn migrate_store(from: &StoreLocation, to: &StoreLocation) -> anyhow::Result<String> {
    let StoreLocation::Sqlite(path) = from else {
        anyhow::bail!("--from must be a SQLite store (sqlite:STATE_DIR)");
    };
    if !matches!(to, StoreLocation::Postgres { .. }) {
        anyhow::bail!("--to must be a PostgreSQL database (postgres://…)");
    }
    // The state directory or the database file itself.
    let (dir, file) = if path.is_file() {
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        (dir, path.clone())
    } else {
        (path.clone(), path.join(crate::store::DB_FILE))
    };
    if !file.is_file() {
        anyhow::bail!("no unicat database at {}", file.display());
    }
    // The copy reads the current schema only; migrating first is what
    // the daemon would do at its next start anyway.
    let (before, after, _) = Store::migrate(&StoreLocation::Sqlite(dir))?;
    let mut out = String::new();
    if before != Some(after) {
        out.push_str(&format!(
            "migrated {} to schema version {after} first\n",
            file.display()
        ));
    }
    let mut target = Store::connect(to)?;
    let at = target.describe();
    let pg = target
        .as_postgres()
        .ok_or_else(|| anyhow::anyhow!("--to is not a PostgreSQL store"))?;
    let counts = crate::store::copy::copy_from_sqlite(&file, pg, |table, rows| {
        eprintln!("  {table}: {rows} rows");
    })?;
    out.push_str(&format!("copied {} into {at}:\n", file.display()));
    for (table, rows) in &counts {
        out.push_str(&format!("  {table:<16} {rows:>10}\n"));
    }
    out.push_str(
        "now set [store] backend = \"postgres\" and url in the configuration, then start the daemon\n",
    );
    Ok(out)
}

/// The `status` report.
pub fn status_text(config: &Config) -> Result<String> {
    let store = Store::from_config(config)?;
    let mut out = String::new();
    out.push_str(
        "partner     last harvest                outcome     pages  new  upd  del  quar  records\n",
    );
    for p in &config.partners {
        let records = store.count_live_records(p.name())?;
        match store.last_run(p.name())? {
            Some(r) => {
                out.push_str(&format!(
                    "{:<11} {:<27} {:<11} {:>5} {:>4} {:>4} {:>4} {:>5} {:>8}\n",
                    p.name(),
                    r.finished_at.as_deref().unwrap_or(&r.started_at),
                    r.outcome,
                    r.pages,
                    r.counts.new,
                    r.counts.updated,
                    r.counts.deleted,
                    r.counts.quarantined,
                    records
                ));
                if let Some(e) = &r.error {
                    out.push_str(&format!("            error: {e}\n"));
                }
                out.push_str(&format!(
                    "            quality: {} quarantined, {} repairs, {} records merged with other partners (details: unicat report --partner {})\n",
                    store.count_quarantined(p.name())?,
                    store.count_repaired(p.name())?,
                    store.count_merged_with_others(p.name())?,
                    p.name()
                ));
            }
            None => out.push_str(&format!("{:<11} never harvested\n", p.name())),
        }
    }
    let (unions, multi) = store.union_counts()?;
    let published = store.publish_seq(crate::publish::FILE_SINK)?;
    out.push_str(&format!(
        "catalogue: {unions} union records, {multi} with more than one member; change seq {}, published up to {published}\n",
        store.current_seq()?
    ));
    // Who holds which work on a shared store (PostgreSQL; none with SQLite).
    let leases = store.leases()?;
    if !leases.is_empty() {
        out.push_str("leases (shared store):\n");
        for l in leases {
            let (host, pid) = crate::status::holder_parts(&l.holder);
            let pid = pid.map(|p| format!(" pid {p}")).unwrap_or_default();
            let state = if l.expired { "EXPIRED" } else { "held" };
            out.push_str(&format!(
                "  {:<20} {state:<7} by {host}{pid} since {} until {}\n",
                l.name, l.acquired_at, l.expires_at
            ));
        }
    }
    Ok(out)
}

/// The `status` facts as JSON, for scripts (the same as the status
/// page's `/status.json`, see [`crate::status`]).
pub fn status_json(config: &Config) -> Result<serde_json::Value> {
    let store = Store::from_config(config)?;
    crate::status::status_json(&store, config)
}

/// Why a union record holds its members: the members with their match
/// keys, and the pair decision for every pair of members that shares a key.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Explanation {
    /// The union record (cluster) id.
    pub union_id: String,
    /// Its change sequence number.
    pub seq: i64,
    /// Whether the union record is deleted.
    pub deleted: bool,
    /// The members.
    pub members: Vec<ExplainedMember>,
    /// The decisions between members sharing a key.
    pub pairs: Vec<ExplainedPair>,
    /// The work the union record belongs to (none when it has no links).
    pub work: Option<String>,
    /// Its links to other union records of the work.
    pub links: Vec<ExplainedLink>,
}

/// One link of an explained union record to another union record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExplainedLink {
    /// The other union record.
    pub union_id: String,
    /// How the other relates to this one (`other-edition`,
    /// `other-format`, `translation`, `original`, `other-translation`,
    /// `other-volume`).
    pub kind: String,
    /// The MARC field this record carries for the link.
    pub field: String,
    /// What linked them.
    pub evidence: String,
}

/// One member of an explained union record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExplainedMember {
    /// Partner name.
    pub partner: String,
    /// The partner's 001.
    pub local_id: Option<String>,
    /// OAI identifier.
    pub oai_id: String,
    /// Its match keys.
    pub keys: Vec<String>,
}

/// The pair decision between two members.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExplainedPair {
    /// `partner:001` of the first member.
    pub a: String,
    /// `partner:001` of the second member.
    pub b: String,
    /// The keys they share.
    pub shared_keys: Vec<String>,
    /// The decision: same edition or not.
    pub same: bool,
    /// The weighted score.
    pub score: f64,
    /// The threshold in force.
    pub threshold: f64,
    /// (field, agreement −1..1, weight, note) for every field that counted.
    pub fields: Vec<(String, f64, f64, String)>,
    /// Vetoes, as text.
    pub vetoes: Vec<String>,
}

/// Explain a union record given by its id or by `PARTNER:ID`.
pub fn explain(config: &Config, id: &str) -> Result<Explanation> {
    let store = Store::from_config(config)?;
    let cluster = if id.starts_with("uc") && !id.contains(':') {
        id.to_string()
    } else {
        let Some((partner, local)) = id.split_once(':') else {
            bail!("`{id}` is neither a union id (uc…) nor PARTNER:ID");
        };
        let src = store
            .find_source(partner, local)?
            .with_context(|| format!("no live record `{local}` from partner `{partner}`"))?;
        store
            .cluster_of(src.id)?
            .with_context(|| format!("record {id} is not in a cluster yet (run a harvest)"))?
    };
    let Some((seq, deleted, _)) = store.union_record(&cluster)? else {
        bail!("no union record {cluster}");
    };
    let sources = store.cluster_members(&cluster)?;
    let mut members = Vec::new();
    let mut features = Vec::new();
    for m in &sources {
        members.push(ExplainedMember {
            partner: m.partner.clone(),
            local_id: m.local_id.clone(),
            oai_id: m.oai_id.clone(),
            keys: store.keys_of(m.id)?,
        });
        features.push(crate::dedup::decision::features(
            &unicat_marc::marcxml::parse_record(&m.record)?,
        ));
    }
    let name =
        |m: &ExplainedMember| format!("{}:{}", m.partner, m.local_id.as_deref().unwrap_or("-"));
    let mut pairs = Vec::new();
    for i in 0..members.len() {
        for j in i + 1..members.len() {
            let shared: Vec<String> = members[i]
                .keys
                .iter()
                .filter(|k| members[j].keys.contains(k))
                .cloned()
                .collect();
            if shared.is_empty() {
                continue;
            }
            let d = crate::dedup::decision::compare(&features[i], &features[j], &config.dedup);
            pairs.push(ExplainedPair {
                a: name(&members[i]),
                b: name(&members[j]),
                shared_keys: shared,
                same: d.same,
                score: d.score,
                threshold: config.dedup.threshold,
                fields: d
                    .fields
                    .iter()
                    .filter(|f| f.score != 0.0)
                    .map(|f| (f.field.to_string(), f.score, f.weight, f.note.clone()))
                    .collect(),
                vetoes: d.vetoes.iter().map(ToString::to_string).collect(),
            });
        }
    }
    let work = store.work_of(&cluster)?;
    let links = store
        .work_links_of(&cluster)?
        .into_iter()
        .map(|l| ExplainedLink {
            field: crate::dedup::works::Relation::from_code(&l.kind)
                .map_or("?", |r| r.tag())
                .to_string(),
            union_id: l.other,
            kind: l.kind,
            evidence: l.evidence,
        })
        .collect();
    Ok(Explanation {
        union_id: cluster,
        seq,
        deleted,
        members,
        pairs,
        work,
        links,
    })
}

/// The `explain` report as text.
pub fn explain_text(config: &Config, id: &str) -> Result<String> {
    let e = explain(config, id)?;
    let mut out = if e.deleted {
        format!("union record {} was deleted (seq {})\n", e.union_id, e.seq)
    } else {
        format!("union record {} (version seq {})\n", e.union_id, e.seq)
    };
    out.push_str(&format!("{} member(s):\n", e.members.len()));
    for m in &e.members {
        out.push_str(&format!(
            "  {}:{}  ({})\n",
            m.partner,
            m.local_id.as_deref().unwrap_or("-"),
            m.oai_id
        ));
    }
    if e.members.len() == 1 {
        out.push_str("  (no other record shares a match key with it)\n");
    }
    for p in &e.pairs {
        out.push_str(&format!(
            "  {} ~ {}: {} (score {:.1}, threshold {:.1})\n",
            p.a,
            p.b,
            if p.same {
                "same edition"
            } else {
                "not the same edition"
            },
            p.score,
            p.threshold
        ));
        out.push_str(&format!("      shares {}\n", p.shared_keys.join(", ")));
        for (field, score, weight, note) in &p.fields {
            out.push_str(&format!(
                "      {field:<10} {score:+.1} x {weight:.1}  {note}\n"
            ));
        }
        for v in &p.vetoes {
            out.push_str(&format!("      veto: {v}\n"));
        }
    }
    match &e.work {
        Some(w) => out.push_str(&format!(
            "work {w}: {} link(s) to other union records\n",
            e.links.len()
        )),
        None => out.push_str("work: none (no other union record is linked to it)\n"),
    }
    for l in &e.links {
        out.push_str(&format!(
            "  {} {:<17} {}  ({})\n",
            l.field, l.kind, l.union_id, l.evidence
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    // A full disk or quota is recognised wherever it sits in the chain
    // (under context, as the store's errors are), and only that.
    #[test]
    fn storage_exhaustion_is_a_temporary_failure() {
        let sqlite_full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        let enospc = std::io::Error::from_raw_os_error(28);
        let edquot = std::io::Error::from_raw_os_error(122);
        for e in [
            anyhow::Error::from(sqlite_full).context("committing page 2"),
            Err::<(), _>(enospc)
                .context("writing union.xml")
                .unwrap_err(),
            anyhow::Error::from(edquot),
        ] {
            assert!(storage_exhausted(&e), "{e:#}");
            assert_eq!(Failure::from(e).code, EXIT_TEMPFAIL);
        }
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
            None,
        );
        for e in [
            anyhow::Error::from(busy),
            anyhow::Error::from(std::io::Error::from_raw_os_error(13)),
            anyhow::anyhow!("no union record uc1"),
        ] {
            assert!(!storage_exhausted(&e), "{e:#}");
            assert_eq!(Failure::from(e).code, EXIT_SOFTWARE);
        }
        let harvest = HarvestError::Failed(
            anyhow::Error::from(std::io::Error::from_raw_os_error(28)).context("spooling"),
        );
        assert_eq!(
            job_failure(harvest, "import", None, EXIT_SOFTWARE).code,
            EXIT_TEMPFAIL
        );
    }
}
