//! The jobs that the daemon schedules and the command line runs on demand:
//! harvest a partner (then deduplicate and merge what changed), and publish.
//!
//! Both entry points share these functions so that `unicat harvest` does
//! exactly what a scheduled run does. Blocking store work runs on tokio's
//! blocking pool; one process-wide lock keeps dedup passes from queueing
//! on SQLite's write lock behind each other.

use std::fs::{File, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::{watch, Mutex, Semaphore, SemaphorePermit};

use crate::config::{Config, Partner};
use crate::harvest::{self, HarvestError, HarvestReport, NoObserver, Observer};
use crate::import::{self, ImportReport};
use crate::pipeline::{self, RefreshSummary};
use crate::publish::{self, PublishReport};
use crate::reprocess::{self, ReprocessReport};
use crate::sinks;
use crate::store::Store;

/// Why a partner's harvest lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it; the text says which (pid and role).
    #[error("held by {0}")]
    Busy(String),
    /// The lock file could not be opened.
    #[error("{0:#}")]
    Io(anyhow::Error),
}

/// Take the partner's harvest lock: an exclusive lock on a file in the
/// state directory, so that an on-demand `unicat harvest` and the daemon
/// never harvest the same partner at once. The operating system releases
/// it when the file is closed or the process dies, so a crash leaves no
/// stale lock behind. The holder writes its pid and role into the file so
/// that the refused process can say who is harvesting.
pub fn lock_partner(state_dir: &Path, partner: &str) -> Result<File, LockError> {
    let dir = state_dir.join("locks");
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating {}", dir.display()))
        .map_err(LockError::Io)?;
    let path = dir.join(format!("{partner}.lock"));
    let mut file = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))
        .map_err(LockError::Io)?;
    match file.try_lock() {
        Ok(()) => {
            // Best effort: the lock is what matters, the text only informs.
            let _ = file.set_len(0);
            let _ = writeln!(file, "pid {} ({})", std::process::id(), process_role());
            Ok(file)
        }
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            Err(LockError::Busy(if holder.is_empty() {
                "another unicat process".to_string()
            } else {
                format!("unicat {holder}")
            }))
        }
        Err(TryLockError::Error(e)) => Err(LockError::Io(
            anyhow::Error::new(e).context(format!("locking {}", path.display())),
        )),
    }
}

/// `daemon` or `command line`, for lock holders' self-description.
fn process_role() -> &'static str {
    if std::env::args().any(|a| a == "run") {
        "daemon"
    } else {
        "command line"
    }
}

/// What a harvest job did: the harvest, then the dedup pass it triggered.
#[derive(Debug, Clone)]
pub struct HarvestJobReport {
    /// The harvest run.
    pub harvest: HarvestReport,
    /// The dedup-and-merge pass after it.
    pub refresh: RefreshSummary,
}

/// Shared state of the jobs of one process.
#[derive(Clone)]
pub struct Jobs {
    /// The configuration in force.
    pub config: Arc<Config>,
    refresh_lock: Arc<Mutex<()>>,
    /// Bounds how many partners are harvested at once (`max-concurrent`).
    permits: Arc<Semaphore>,
    observer: Arc<dyn Observer>,
}

impl Jobs {
    /// Prepare to run jobs with this configuration.
    pub fn new(config: Arc<Config>) -> Result<Jobs> {
        Ok(Jobs {
            permits: Arc::new(Semaphore::new(config.harvest.max_concurrent)),
            config,
            refresh_lock: Arc::new(Mutex::new(())),
            observer: Arc::new(NoObserver),
        })
    }

    /// The same jobs reporting progress to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Jobs {
        self.observer = observer;
        self
    }

    /// Jobs for a reloaded configuration, sharing this one's dedup lock,
    /// harvest permits and observer, so that a reload never lets two dedup
    /// passes overlap. (A changed `max-concurrent` applies at restart.)
    pub fn reconfigured(&self, config: Arc<Config>) -> Result<Jobs> {
        Ok(Jobs {
            config,
            refresh_lock: self.refresh_lock.clone(),
            permits: self.permits.clone(),
            observer: self.observer.clone(),
        })
    }

    /// Open the store (creating and migrating it if needed).
    pub fn open_store(&self) -> Result<Store> {
        Store::open(&self.config.state_dir)
    }

    /// Claim a partner for a job: its lock (so no other process works on
    /// it) and, for network jobs, one of the `max-concurrent` permits.
    async fn claim(
        &self,
        partner: &Partner,
        network: bool,
    ) -> Result<(Option<SemaphorePermit<'_>>, File), HarvestError> {
        let permit = if network {
            Some(
                self.permits
                    .acquire()
                    .await
                    .map_err(|_| HarvestError::Failed(anyhow::anyhow!("harvest permits closed")))?,
            )
        } else {
            None
        };
        let lock = lock_partner(&self.config.state_dir, partner.name()).map_err(|e| match e {
            LockError::Busy(holder) => HarvestError::Busy {
                partner: partner.name().to_string(),
                holder,
            },
            LockError::Io(e) => HarvestError::Failed(e),
        })?;
        Ok((permit, lock))
    }

    /// Harvest one partner, then bring clusters and union records up to date.
    pub async fn harvest(
        &self,
        partner: &Partner,
        shutdown: watch::Receiver<bool>,
    ) -> Result<HarvestJobReport, HarvestError> {
        let harvest = self.harvest_records(partner, shutdown).await?;
        let refresh = self.refresh().await.map_err(HarvestError::Failed)?;
        Ok(HarvestJobReport { harvest, refresh })
    }

    /// Harvest one partner into the store, leaving dedup and merge to a
    /// later [`Jobs::refresh`]: an on-demand harvest of several partners
    /// runs them in parallel and then clusters once, so that the result
    /// does not depend on which partner finished first.
    pub async fn harvest_records(
        &self,
        partner: &Partner,
        shutdown: watch::Receiver<bool>,
    ) -> Result<HarvestReport, HarvestError> {
        let _claim = self.claim(partner, true).await?;
        let store = self.open_store().map_err(HarvestError::Failed)?;
        let report = harvest::harvest_partner(
            &self.config.harvest,
            &self.config.catalogue_code,
            partner,
            store,
            shutdown,
            self.observer.as_ref(),
        )
        .await?;
        // A partner's first harvest is normalised with the current settings:
        // record that, so a later change of rules is noticed.
        if let Err(e) = self.open_store().and_then(|mut s| {
            reprocess::ensure_marked(&mut s, partner, &self.config.catalogue_code)
        }) {
            tracing::warn!(partner = partner.name(), error = %format!("{e:#}"), "could not record processing settings");
        }
        Ok(report)
    }

    /// Reconcile a partner whose repository does not report deletions: list
    /// every identifier, then mark the records it no longer has as deleted
    /// (refused if the listing is suspiciously short), then dedup and merge.
    pub async fn reconcile(
        &self,
        partner: &Partner,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(u64, u64, u64), HarvestError> {
        let _claim = self.claim(partner, true).await?;
        let store = self.open_store().map_err(HarvestError::Failed)?;
        let result = harvest::reconcile_partner(
            &self.config.harvest,
            partner,
            store,
            shutdown,
            self.observer.as_ref(),
        )
        .await?;
        self.refresh().await.map_err(HarvestError::Failed)?;
        Ok(result)
    }

    /// Import MARC files as a partner's records, then dedup and merge.
    pub async fn import(
        &self,
        partner: &Partner,
        files: Vec<PathBuf>,
    ) -> Result<ImportReport, HarvestError> {
        let _claim = self.claim(partner, false).await?;
        let config = self.config.clone();
        let partner = partner.clone();
        let report = tokio::task::spawn_blocking(move || {
            let mut store = Store::open(&config.state_dir)?;
            let code = &config.catalogue_code;
            let report = import::import_files(&mut store, &partner, &files, code)?;
            reprocess::ensure_marked(&mut store, &partner, code)?;
            Ok::<_, anyhow::Error>(report)
        })
        .await
        .map_err(|e| HarvestError::Failed(anyhow::anyhow!("import worker panicked: {e}")))?
        .map_err(HarvestError::Failed)?;
        self.refresh().await.map_err(HarvestError::Failed)?;
        Ok(report)
    }

    /// Re-normalise a partner's records from their raw text (after its
    /// rules or settings changed), then dedup and merge what changed.
    pub async fn reprocess(&self, partner: &Partner) -> Result<ReprocessReport, HarvestError> {
        let _claim = self.claim(partner, false).await?;
        let config = self.config.clone();
        let partner = partner.clone();
        let report = tokio::task::spawn_blocking(move || {
            let mut store = Store::open(&config.state_dir)?;
            reprocess::reprocess(&mut store, &partner, &config.catalogue_code)
        })
        .await
        .map_err(|e| HarvestError::Failed(anyhow::anyhow!("reprocess worker panicked: {e}")))?
        .map_err(HarvestError::Failed)?;
        self.refresh().await.map_err(HarvestError::Failed)?;
        Ok(report)
    }

    /// Reprocess the partner if its rules or settings changed since its
    /// records were normalised; returns whether it did.
    pub async fn reprocess_if_changed(&self, partner: &Partner) -> Result<bool, HarvestError> {
        let needed = {
            let store = self.open_store().map_err(HarvestError::Failed)?;
            reprocess::needs_reprocess(&store, partner, &self.config.catalogue_code)
                .map_err(HarvestError::Failed)?
        };
        if needed {
            tracing::info!(
                partner = partner.name(),
                "rules or normalisation settings changed; reprocessing"
            );
            self.reprocess(partner).await?;
        }
        Ok(needed)
    }

    /// Run a dedup-and-merge pass over whatever changed.
    pub async fn refresh(&self) -> Result<RefreshSummary> {
        let _guard = self.refresh_lock.lock().await;
        let config = self.config.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = Store::open(&config.state_dir)?;
            pipeline::refresh(&mut store, &config)
        })
        .await
        .context("dedup worker panicked")?
    }

    /// Publish the union catalogue now.
    ///
    /// Then every `[[publish.sink]]`, each on its own: a failing sink is
    /// logged and reported, and does not stop the others.
    pub async fn publish(&self) -> Result<PublishReport> {
        let config = self.config.clone();
        let report = tokio::task::spawn_blocking(move || {
            let mut store = Store::open(&config.state_dir)?;
            publish::publish(&mut store, &config.publish.output_dir)
        })
        .await
        .context("publish worker panicked")??;
        let mut failed = Vec::new();
        for sink in &self.config.publish.sinks {
            let name = sink.name.get_ref().clone();
            let result = if sink.dir.is_some() {
                let (config, sink) = (self.config.clone(), sink.clone());
                let n = name.clone();
                tokio::task::spawn_blocking(move || {
                    let mut store = Store::open(&config.state_dir)?;
                    sinks::publish_files(&mut store, &n, &sink)
                })
                .await
                .context("publish worker panicked")
                .and_then(|r| r)
            } else {
                sinks::publish_http(&self.config.state_dir, &name, sink).await
            };
            if let Err(e) = result {
                tracing::error!(sink = %name, error = %format!("{e:#}"), "publishing to sink failed; it will catch up next time");
                failed.push(format!("{name}: {e:#}"));
            }
        }
        if failed.is_empty() {
            Ok(report)
        } else {
            Err(anyhow::anyhow!("sink(s) failed: {}", failed.join("; ")))
        }
    }
}
