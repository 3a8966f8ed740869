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
use tokio::sync::{watch, Mutex, OwnedSemaphorePermit, Semaphore};

use crate::config::{Config, Partner};
use crate::harvest::{self, HarvestError, HarvestReport, NoObserver, Observer};
use crate::import::{self, ImportReport};
use crate::lease::{self, Claims, Lease};
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

/// Note that the store holds the catalogue (the history file that lets a
/// vanished store be told from a new one); a failure to write it is
/// logged, not the job's failure.
fn note_history(store: &Store) {
    if let Err(e) = store.record_history() {
        tracing::warn!(error = %format!("{e:#}"), "could not write the store's history file");
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

/// The meta key of the start time of the last scheduled publish that
/// succeeded, so that daemons sharing a store publish once per time.
const LAST_PUBLISH_KEY: &str = "last_scheduled_publish";

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
    /// Leases on work shared with other daemons (shared store only).
    claims: Arc<Claims>,
}

/// A partner claimed for a job; dropping it lets the partner go.
pub struct PartnerClaim {
    _permit: Option<OwnedSemaphorePermit>,
    _lock: File,
    lease: Option<Lease>,
}

impl PartnerClaim {
    /// Turns true if another daemon took the partner over (the lease was
    /// lost), so the job must stop; never, without a shared store.
    fn lost(&self) -> Option<watch::Receiver<bool>> {
        self.lease.as_ref().map(Lease::lost)
    }

    /// Let the partner go now, so that a waiting daemon gets it at once.
    pub async fn release(mut self) {
        if let Some(lease) = self.lease.take() {
            lease.release().await;
        }
    }
}

/// A stop signal that also fires when `lost` does: a harvest that lost its
/// claim stops the way it stops at shutdown (after the page in flight).
fn stop_or_lost(
    mut stop: watch::Receiver<bool>,
    lost: Option<watch::Receiver<bool>>,
) -> watch::Receiver<bool> {
    let Some(mut lost) = lost else {
        return stop;
    };
    let (tx, rx) = watch::channel(*stop.borrow());
    tokio::spawn(async move {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => {}
            _ = lost.wait_for(|l| *l) => {}
            // Nobody listens any more: the job ended.
            _ = tx.closed() => return,
        }
        let _ = tx.send(true);
    });
    rx
}

impl Jobs {
    /// Prepare to run jobs with this configuration.
    pub fn new(config: Arc<Config>) -> Result<Jobs> {
        Ok(Jobs {
            claims: Arc::new(Claims::new(config.store_location()?, config.lease_time())),
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
            // The store and the lease time apply at restart, like state-dir.
            claims: self.claims.clone(),
        })
    }

    /// Open the store (creating and migrating it if needed).
    pub fn open_store(&self) -> Result<Store> {
        Store::from_config(&self.config)
    }

    /// Whether the store is shared with other daemons.
    pub fn shared_store(&self) -> bool {
        self.claims.shared()
    }

    /// Claim a partner for a job: its lock (so no other process on this
    /// host works on it), its lease if the store is shared (so no other
    /// daemon does), and, for network jobs, one of the `max-concurrent`
    /// permits.
    async fn claim(&self, partner: &Partner, network: bool) -> Result<PartnerClaim, HarvestError> {
        let permit =
            if network {
                Some(
                    self.permits.clone().acquire_owned().await.map_err(|_| {
                        HarvestError::Failed(anyhow::anyhow!("harvest permits closed"))
                    })?,
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
        let lease = if self.claims.shared() {
            match self
                .claims
                .try_claim(&lease::partner_lease(partner.name()))
                .await
                .map_err(HarvestError::Failed)?
            {
                Ok(lease) => Some(lease),
                Err(holder) => {
                    return Err(HarvestError::Busy {
                        partner: partner.name().to_string(),
                        holder: format!("daemon {holder}"),
                    })
                }
            }
        } else {
            None
        };
        Ok(PartnerClaim {
            _permit: permit,
            _lock: lock,
            lease,
        })
    }

    /// A scheduled harvest whose time was `due`.
    ///
    /// With a store of its own this is [`Jobs::harvest`]. With a shared
    /// store every daemon's schedule fires: each waits while another daemon
    /// harvests the partner, then skips the run if one that started at or
    /// after `due` succeeded meanwhile, so that a partner is harvested once
    /// per scheduled time. If the daemon holding it dies, its lease expires
    /// and a waiting daemon takes over, resuming from the last committed
    /// page. `Ok(None)`: another daemon did this run.
    pub async fn scheduled_harvest(
        &self,
        partner: &Partner,
        due: chrono::DateTime<chrono::Utc>,
        stop: watch::Receiver<bool>,
    ) -> Result<Option<HarvestJobReport>, HarvestError> {
        if !self.claims.shared() {
            return self.harvest(partner, stop).await.map(Some);
        }
        let mut told = false;
        let claim = loop {
            match self.claim(partner, true).await {
                Ok(claim) => break claim,
                Err(HarvestError::Busy { holder, .. }) => {
                    if !told {
                        tracing::info!(partner = partner.name(), %holder, "partner busy elsewhere; waiting to see that this run gets done");
                        told = true;
                    }
                }
                Err(e) => return Err(e),
            }
            let mut s = stop.clone();
            tokio::select! {
                _ = tokio::time::sleep(self.claims.poll_interval()) => {}
                _ = s.wait_for(|s| *s) => return Err(HarvestError::Interrupted { pages: 0 }),
            }
        };
        let done = self
            .blocking_store(move |s, name| s.last_success_started(&name), partner)
            .await
            .map_err(HarvestError::Failed)?;
        if done.is_some_and(|t| t >= due) {
            tracing::info!(partner = partner.name(), due = %due.to_rfc3339(), "already harvested for this run by another daemon; skipping");
            claim.release().await;
            return Ok(None);
        }
        let harvest = self.harvest_claimed(partner, &claim, stop).await;
        claim.release().await;
        let refresh = self.refresh().await.map_err(HarvestError::Failed)?;
        Ok(Some(HarvestJobReport {
            harvest: harvest?,
            refresh,
        }))
    }

    /// Run `f` on a store of this configuration on the blocking pool.
    async fn blocking_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store, String) -> Result<T> + Send + 'static,
        partner: &Partner,
    ) -> Result<T> {
        let (config, name) = (self.config.clone(), partner.name().to_string());
        tokio::task::spawn_blocking(move || f(&mut Store::from_config(&config)?, name))
            .await
            .context("store worker panicked")?
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
        let claim = self.claim(partner, true).await?;
        let report = self.harvest_claimed(partner, &claim, shutdown).await;
        claim.release().await;
        report
    }

    /// Claim a partner for an on-demand harvest without harvesting it yet
    /// (its lock, and its lease with a shared store; not a
    /// `max-concurrent` permit, which [`Jobs::harvest_claimed_records`]
    /// takes): the command line claims every partner it was asked for
    /// before it harvests any, so that a refused command changes nothing.
    pub async fn claim_partner(&self, partner: &Partner) -> Result<PartnerClaim, HarvestError> {
        self.claim(partner, false).await
    }

    /// [`Jobs::harvest_records`] for a partner claimed with
    /// [`Jobs::claim_partner`]; lets the partner go when done.
    pub async fn harvest_claimed_records(
        &self,
        partner: &Partner,
        mut claim: PartnerClaim,
        shutdown: watch::Receiver<bool>,
    ) -> Result<HarvestReport, HarvestError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HarvestError::Failed(anyhow::anyhow!("harvest permits closed")))?;
        claim._permit = Some(permit);
        let report = self.harvest_claimed(partner, &claim, shutdown).await;
        claim.release().await;
        report
    }

    /// Harvest a partner already claimed.
    async fn harvest_claimed(
        &self,
        partner: &Partner,
        claim: &PartnerClaim,
        shutdown: watch::Receiver<bool>,
    ) -> Result<HarvestReport, HarvestError> {
        let mut store = self.open_store().map_err(HarvestError::Failed)?;
        if claim.lease.is_some() {
            store.fence(&lease::partner_lease(partner.name()), self.claims.holder());
        }
        let report = harvest::harvest_partner(
            &self.config.harvest,
            &self.config.catalogue_code,
            partner,
            store,
            stop_or_lost(shutdown, claim.lost()),
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
        let claim = self.claim(partner, true).await?;
        let store = self.open_store().map_err(HarvestError::Failed)?;
        let result = harvest::reconcile_partner(
            &self.config.harvest,
            partner,
            store,
            stop_or_lost(shutdown, claim.lost()),
            self.observer.as_ref(),
        )
        .await;
        claim.release().await;
        let result = result?;
        self.refresh().await.map_err(HarvestError::Failed)?;
        Ok(result)
    }

    /// Import MARC files as a partner's records, then dedup and merge.
    pub async fn import(
        &self,
        partner: &Partner,
        files: Vec<PathBuf>,
    ) -> Result<ImportReport, HarvestError> {
        let claim = self.claim(partner, false).await?;
        let config = self.config.clone();
        let partner = partner.clone();
        let report = tokio::task::spawn_blocking(move || {
            let mut store = Store::from_config(&config)?;
            let code = &config.catalogue_code;
            let report = import::import_files(&mut store, &partner, &files, code)?;
            reprocess::ensure_marked(&mut store, &partner, code)?;
            Ok::<_, anyhow::Error>(report)
        })
        .await;
        // Released before this returns, on every path: a lease only
        // dropped is released in the background, which a command line
        // process does not wait for, and the next command for the partner
        // was refused until the lease expired.
        claim.release().await;
        let report = report
            .map_err(|e| HarvestError::Failed(anyhow::anyhow!("import worker panicked: {e}")))?
            .map_err(HarvestError::Failed)?;
        self.refresh().await.map_err(HarvestError::Failed)?;
        Ok(report)
    }

    /// Re-normalise a partner's records from their raw text (after its
    /// rules or settings changed), then dedup and merge what changed.
    pub async fn reprocess(&self, partner: &Partner) -> Result<ReprocessReport, HarvestError> {
        let claim = self.claim(partner, false).await?;
        let config = self.config.clone();
        let partner = partner.clone();
        let report = tokio::task::spawn_blocking(move || {
            let mut store = Store::from_config(&config)?;
            reprocess::reprocess(&mut store, &partner, &config.catalogue_code)
        })
        .await;
        claim.release().await;
        let report = report
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
        let lease = self.pipeline_lease().await?;
        let config = self.config.clone();
        let summary = tokio::task::spawn_blocking(move || {
            let mut store = Store::from_config(&config)?;
            let summary = pipeline::refresh(&mut store, &config)?;
            // The work links follow the union records the pass changed.
            crate::works_pass::run(&mut store, &config)?;
            note_history(&store);
            Ok(summary)
        })
        .await
        .context("dedup worker panicked");
        if let Some(lease) = lease {
            lease.release().await;
        }
        summary?
    }

    /// With a shared store, the lease of the dedup-merge-publish work,
    /// waited for while another daemon holds it (the caller also holds
    /// `refresh_lock`, so this process never holds it twice).
    async fn pipeline_lease(&self) -> Result<Option<Lease>> {
        if !self.claims.shared() {
            return Ok(None);
        }
        // Never stopped from here: a pass waits its turn, as it waits for
        // the process's own lock.
        let (_keep, never) = watch::channel(false);
        self.claims.claim_waiting(lease::PIPELINE, never).await
    }

    /// A scheduled publish whose time was `due`: with a shared store only
    /// one daemon publishes for each scheduled time; the others find it
    /// done and skip. `Ok(None)`: another daemon did it.
    pub async fn scheduled_publish(
        &self,
        due: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<PublishReport>> {
        if !self.claims.shared() {
            return self.publish().await.map(Some);
        }
        let _guard = self.refresh_lock.lock().await;
        let lease = self.pipeline_lease().await?;
        let config = self.config.clone();
        let last = tokio::task::spawn_blocking(move || {
            Store::from_config(&config)?.meta_text(LAST_PUBLISH_KEY)
        })
        .await
        .context("publish worker panicked")??;
        let done = last
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
            .is_some_and(|t| t >= due);
        let result = if done {
            tracing::info!(due = %due.to_rfc3339(), "already published for this time by another daemon; skipping");
            Ok(None)
        } else {
            let started = crate::store::now_rfc3339();
            let report = self.publish_locked().await;
            if report.is_ok() {
                let config = self.config.clone();
                tokio::task::spawn_blocking(move || {
                    Store::from_config(&config)?.set_meta_text(LAST_PUBLISH_KEY, &started)
                })
                .await
                .context("publish worker panicked")??;
            }
            report.map(Some)
        };
        if let Some(lease) = lease {
            lease.release().await;
        }
        result
    }

    /// Publish the union catalogue now.
    ///
    /// Then every `[[publish.sink]]`, each on its own: a failing sink is
    /// logged and reported, and does not stop the others.
    pub async fn publish(&self) -> Result<PublishReport> {
        let _guard = self.refresh_lock.lock().await;
        let lease = self.pipeline_lease().await?;
        let report = self.publish_locked().await;
        if let Some(lease) = lease {
            lease.release().await;
        }
        report
    }

    /// [`Jobs::publish`] with the process's lock (and lease) already held.
    async fn publish_locked(&self) -> Result<PublishReport> {
        let config = self.config.clone();
        let report = tokio::task::spawn_blocking(move || {
            let mut store = Store::from_config(&config)?;
            let report = publish::publish(&mut store, &config.publish.output_dir)?;
            note_history(&store);
            Ok::<_, anyhow::Error>(report)
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
                    let mut store = Store::from_config(&config)?;
                    sinks::publish_files(&mut store, &n, &sink)
                })
                .await
                .context("publish worker panicked")
                .and_then(|r| r)
            } else {
                sinks::publish_http(&self.config.store_location()?, &name, sink).await
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
