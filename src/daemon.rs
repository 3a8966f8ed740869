//! The daemon: a supervisor that owns one task per partner (sleeping until
//! the partner's cron schedule fires, then harvesting), one publish task,
//! the optional metrics endpoint, and the reactions to SIGHUP and SIGTERM.
//!
//! Tasks and what they wait on:
//! - supervisor (the caller's task): the event channel (reload, shutdown)
//!   and the systemd watchdog tick. It is the scheduler: if it hangs, the
//!   watchdog stops being fed and systemd restarts the service.
//! - partner task, one per partner: its next cron time, a new schedule for
//!   it (reload), retirement (partner removed by a reload), or shutdown. It
//!   runs harvest → dedup/merge (→ publish when no publish schedule is
//!   set). A partner's runs are sequential in its own task, and the
//!   partner's lock file keeps the command line from running one beside it.
//! - publish task: the next publish time, a new publish schedule, or shutdown.
//! - metrics server (if configured): HTTP requests (`/metrics`, the
//!   status page).
//! - OAI-PMH provider (if configured): HTTP requests (`/oai`, the status
//!   page).
//!
//! On shutdown the supervisor flips the stop channel: no new work starts,
//! running harvests commit the page in flight and end, and the supervisor
//! waits up to the configured grace period for every task.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::config::{parse_schedule, Config, Partner, StoreLocation};
use crate::harvest::{HarvestError, Observer};
use crate::jobs::Jobs;
use crate::metrics::Metrics;
use crate::store::{guard, Store};

/// What the outside world asks of the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Re-read the configuration (SIGHUP).
    Reload,
    /// Stop (SIGTERM, SIGINT).
    Shutdown,
}

/// What systemd's STATUS= line says: which harvests are running and at
/// which page, or when the next one is due.
#[derive(Default)]
pub struct StatusBoard {
    inner: Mutex<Board>,
}

#[derive(Default)]
struct Board {
    running: BTreeMap<String, u32>,
    next: BTreeMap<String, DateTime<Utc>>,
}

impl StatusBoard {
    /// The status text, e.g. `harvesting anl page 12` or
    /// `idle, next run 2026-12-01 02:00 UTC natlib-uz`.
    pub fn render(&self) -> String {
        let Ok(b) = self.inner.lock() else {
            return "running".into();
        };
        if !b.running.is_empty() {
            let parts: Vec<String> = b
                .running
                .iter()
                .map(|(p, n)| format!("{p} page {n}"))
                .collect();
            return format!("harvesting {}", parts.join(", "));
        }
        match b.next.iter().min_by_key(|(_, t)| **t) {
            Some((p, t)) => format!("idle, next run {} {p}", t.format("%Y-%m-%d %H:%M UTC")),
            None => "idle, no partner scheduled".into(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut Board)) {
        if let Ok(mut b) = self.inner.lock() {
            f(&mut b);
        }
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Status(&self.render())]);
    }

    fn set_next(&self, partner: &str, next: Option<DateTime<Utc>>) {
        self.update(|b| match next {
            Some(t) => {
                b.next.insert(partner.to_string(), t);
            }
            None => {
                b.next.remove(partner);
            }
        });
    }

    fn forget(&self, partner: &str) {
        self.update(|b| {
            b.next.remove(partner);
            b.running.remove(partner);
        });
    }
}

impl Observer for StatusBoard {
    fn run_started(&self, partner: &str, _run_id: i64) {
        self.update(|b| {
            b.running.insert(partner.to_string(), 0);
        });
    }
    fn page(&self, partner: &str, pages: u32, _records: u64, _size: Option<u64>) {
        self.update(|b| {
            b.running.insert(partner.to_string(), pages);
        });
    }
    fn run_finished(&self, partner: &str, _ok: bool) {
        self.update(|b| {
            b.running.remove(partner);
        });
    }
}

/// The daemon's observer: the status board and the metrics counters.
struct DaemonObserver {
    board: Arc<StatusBoard>,
    metrics: Arc<Metrics>,
}

impl Observer for DaemonObserver {
    fn run_started(&self, partner: &str, run_id: i64) {
        self.board.run_started(partner, run_id);
    }
    fn request(&self, partner: &str) {
        self.metrics.request(partner);
    }
    fn retry(&self, partner: &str) {
        self.metrics.retry(partner);
    }
    fn page(&self, partner: &str, pages: u32, records: u64, size: Option<u64>) {
        self.board.page(partner, pages, records, size);
    }
    fn run_finished(&self, partner: &str, ok: bool) {
        self.board.run_finished(partner, ok);
    }
}

struct PartnerTask {
    partner_tx: watch::Sender<Partner>,
    retire_tx: watch::Sender<bool>,
}

struct Supervisor {
    config_path: PathBuf,
    config: Arc<Config>,
    jobs_tx: watch::Sender<Jobs>,
    stop_tx: watch::Sender<bool>,
    publish_tx: watch::Sender<Option<String>>,
    partners: HashMap<String, PartnerTask>,
    tasks: JoinSet<()>,
    board: Arc<StatusBoard>,
}

/// Run the daemon until a `Shutdown` event arrives (or the channel closes).
///
/// With `reinitialise`, a store that is missing, truncated or damaged is set
/// aside and a new one started (see [`crate::store::guard`]); a sound one is
/// kept either way.
pub async fn run(
    config_path: PathBuf,
    config: Config,
    reinitialise: bool,
    mut events: mpsc::Receiver<Event>,
) -> Result<()> {
    let config = Arc::new(config);
    let board = Arc::new(StatusBoard::default());
    let metrics = Arc::new(Metrics::default());
    let observer = Arc::new(DaemonObserver {
        board: board.clone(),
        metrics: metrics.clone(),
    });
    let jobs = Jobs::new(config.clone())?.with_observer(observer);
    // Open (and migrate) the database before declaring readiness, so a
    // broken state directory fails the start, not the first harvest; and
    // check it, so a damaged or vanished store is never served or rebuilt.
    let _ = sd_notify::notify(
        false,
        &[sd_notify::NotifyState::Status("checking the store")],
    );
    let checking = jobs.clone();
    let check = tokio::task::spawn_blocking(move || prepare_store(&checking, reinitialise));
    let mut check = std::pin::pin!(check);
    let mut extend = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            done = &mut check => {
                done.context("store check panicked")??;
                break;
            }
            // A large store takes a while to read: ask systemd for more
            // start-up time, 30 s at a time, while the check runs.
            _ = extend.tick() => {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::ExtendTimeoutUsec(30_000_000)]);
            }
        }
    }
    let (stop_tx, _) = watch::channel(false);
    let (jobs_tx, _) = watch::channel(jobs);
    let (publish_tx, _) = watch::channel(
        config
            .publish
            .schedule
            .as_ref()
            .map(|s| s.get_ref().clone()),
    );
    let mut sup = Supervisor {
        config_path,
        config: config.clone(),
        jobs_tx,
        stop_tx,
        publish_tx,
        partners: HashMap::new(),
        tasks: JoinSet::new(),
        board: board.clone(),
    };
    if let Some(m) = &config.metrics {
        let addr = m.addr().context("metrics.listen is not an address")?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the metrics endpoint to {addr}"))?;
        info!(addr = %listener.local_addr()?, "metrics endpoint listening");
        let store_at = config.store_location()?;
        let stop = sup.stop_tx.subscribe();
        let jobs_rx = sup.jobs_tx.subscribe();
        sup.tasks.spawn(crate::metrics::serve(
            listener,
            store_at,
            metrics.clone(),
            jobs_rx,
            stop,
        ));
    }
    if let Some(state) = crate::provider::ProviderState::new(&config) {
        let state = state
            .with_metrics(metrics.clone())
            .with_status(crate::status::StatusSource {
                store: config.store_location()?,
                jobs: sup.jobs_tx.subscribe(),
            });
        let addr = config
            .provider
            .as_ref()
            .and_then(|p| p.addr())
            .context("provider.listen is not an address")?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the OAI-PMH provider to {addr}"))?;
        info!(addr = %listener.local_addr()?, base_url = state.base_url(), "OAI-PMH provider listening");
        let wanted = state.max_connections() as u64 + crate::provider::OTHER_DESCRIPTORS;
        if let Some(limit) = crate::provider::descriptor_limit().filter(|l| *l < wanted) {
            warn!(
                limit,
                max_connections = state.max_connections(),
                "the open-file limit leaves no room for provider.max-connections; raise LimitNOFILE= or lower max-connections"
            );
        }
        let mut stop = sup.stop_tx.subscribe();
        sup.tasks.spawn(crate::provider::serve(
            listener,
            Arc::new(state),
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        ));
    }
    for partner in &config.partners {
        sup.spawn_partner(partner.clone());
    }
    let publish_rx = sup.publish_tx.subscribe();
    let (jobs_rx, stop_rx) = (sup.jobs_tx.subscribe(), sup.stop_tx.subscribe());
    sup.tasks.spawn(publish_loop(jobs_rx, publish_rx, stop_rx));

    info!(partners = config.partners.len(), "daemon started");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    board.update(|_| {});

    let mut usec = 0u64;
    let watchdog =
        sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec / 2));
    let mut tick = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(Event::Reload) => sup.reload(),
                Some(Event::Shutdown) | None => break,
            },
            _ = tick.tick() => {
                if watchdog.is_some() {
                    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
                }
            }
        }
    }

    info!("shutdown requested; finishing pages in flight");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    let _ = sup.stop_tx.send(true);
    let grace = Duration::from_secs(sup.config.daemon.shutdown_grace_secs);
    let drained = tokio::time::timeout(grace, async {
        while sup.tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            grace_secs = grace.as_secs(),
            "tasks did not stop in time; exiting anyway"
        );
        sup.tasks.abort_all();
    }
    info!("daemon stopped");
    Ok(())
}

/// Open, migrate and check the store before READY: one that vanished or
/// was truncated (`store::guard`), or that SQLite finds damaged, is refused
/// unless `reinitialise`, which sets it aside and starts a new one. Then
/// the history file notes the store's state.
fn prepare_store(jobs: &Jobs, reinitialise: bool) -> Result<()> {
    let location = jobs.config.store_location()?;
    let StoreLocation::Sqlite(dir) = location else {
        // PostgreSQL: opening migrates it; no file checks (see store::guard).
        drop(jobs.open_store()?);
        return Ok(());
    };
    let db = dir.join(crate::store::DB_FILE);
    let start_over = |why: &str| -> Result<Store> {
        let kept = guard::set_aside(&dir)?;
        warn!(
            store = %db.display(),
            kept = %kept.map(|k| k.display().to_string()).unwrap_or_else(|| "nothing to keep".into()),
            why,
            "--reinitialise: starting a new, empty store; every partner is harvested again"
        );
        // Created here, past the published dump that would refuse it; from
        // now on the file exists and holds the schema.
        Store::connect(&StoreLocation::Sqlite(dir.clone()))
    };
    let store = match jobs.open_store() {
        Ok(store) => store,
        Err(e) if e.chain().any(|c| c.is::<guard::Refusal>()) && reinitialise => {
            start_over("the store had vanished or been truncated")?
        }
        Err(e) if guard::is_corruption(&e) => {
            if reinitialise {
                start_over("the store is damaged")?
            } else {
                return Err(guard::damaged(&db, &[format!("{e:#}")]).into());
            }
        }
        Err(e) => return Err(e),
    };
    // A page too damaged to walk makes the check itself fail.
    let problems = match store.quick_check() {
        Ok(problems) => problems,
        Err(e) if guard::is_corruption(&e) => vec![format!("{e:#}")],
        Err(e) => return Err(e),
    };
    let store = if problems.is_empty() {
        store
    } else if reinitialise {
        drop(store);
        start_over("the store is damaged")?
    } else {
        return Err(guard::damaged(&db, &problems).into());
    };
    if let Err(e) = store.record_history() {
        warn!(error = %format!("{e:#}"), "could not write the store's history file");
    }
    Ok(())
}

impl Supervisor {
    fn spawn_partner(&mut self, partner: Partner) {
        let name = partner.name().to_string();
        let (partner_tx, partner_rx) = watch::channel(partner);
        let (retire_tx, retire_rx) = watch::channel(false);
        let ctx = LoopCtx {
            jobs: self.jobs_tx.subscribe(),
            stop: self.stop_tx.subscribe(),
            retire: retire_rx,
            board: self.board.clone(),
        };
        let catch_up = self.config.daemon.catch_up;
        self.tasks.spawn(partner_loop(ctx, partner_rx, catch_up));
        self.partners.insert(
            name,
            PartnerTask {
                partner_tx,
                retire_tx,
            },
        );
    }

    /// SIGHUP: read and check the file; on any error keep the old config.
    fn reload(&mut self) {
        info!(file = %self.config_path.display(), "reloading configuration");
        let new = match Config::load(&self.config_path) {
            Ok(c) => c,
            Err(errors) => {
                for e in errors {
                    error!(error = %e, "configuration not reloaded; the previous one stays in force");
                }
                return;
            }
        };
        if new.state_dir != self.config.state_dir {
            error!(
                old = %self.config.state_dir.display(),
                new = %new.state_dir.display(),
                "state-dir cannot change on reload; restart unicat to move it. The previous configuration stays in force"
            );
            return;
        }
        // Every job opens the store from the configuration in force: a
        // reload must not move the catalogue to another database under the
        // running jobs and the leases they hold.
        if new.store != self.config.store {
            error!("[store] cannot change on reload; restart unicat to switch stores (unicat migrate-store copies one). The previous configuration stays in force");
            return;
        }
        if new.metrics != self.config.metrics || new.provider != self.config.provider {
            warn!("a change of [metrics] or [provider] takes effect at the next restart");
        }
        let new = Arc::new(new);
        let jobs = match self.jobs_tx.borrow().reconfigured(new.clone()) {
            Ok(j) => j,
            Err(e) => {
                error!(error = %format!("{e:#}"), "configuration not reloaded");
                return;
            }
        };
        self.jobs_tx.send_replace(jobs);
        let names: Vec<String> = self.partners.keys().cloned().collect();
        for name in names {
            if new.partner(&name).is_none() {
                if let Some(task) = self.partners.remove(&name) {
                    // A running harvest finishes; the task ends after it.
                    let _ = task.retire_tx.send(true);
                    self.board.forget(&name);
                    info!(partner = %name, "partner removed");
                }
            }
        }
        for p in &new.partners {
            match self.partners.get(p.name()) {
                Some(task) => {
                    let changed = task.partner_tx.send_if_modified(|old| {
                        if old == p {
                            false
                        } else {
                            *old = p.clone();
                            true
                        }
                    });
                    if changed {
                        info!(
                            partner = p.name(),
                            schedule = p.schedule.get_ref(),
                            "partner updated"
                        );
                    }
                }
                None => {
                    info!(partner = p.name(), "partner added");
                    self.spawn_partner(p.clone());
                }
            }
        }
        let schedule = new.publish.schedule.as_ref().map(|s| s.get_ref().clone());
        self.publish_tx.send_if_modified(|old| {
            let changed = *old != schedule;
            *old = schedule;
            changed
        });
        self.config = new;
        info!(
            partners = self.config.partners.len(),
            "configuration reloaded"
        );
    }
}

struct LoopCtx {
    jobs: watch::Receiver<Jobs>,
    stop: watch::Receiver<bool>,
    retire: watch::Receiver<bool>,
    board: Arc<StatusBoard>,
}

/// The time of a scheduled run that was missed, if one was: the schedule
/// fired between the partner's last successful run and now, or the
/// partner never completed a run (then any successful run will do, which
/// the Unix epoch stands for).
async fn missed_run(
    jobs: &Jobs,
    partner: &str,
    schedule: &cron::Schedule,
) -> Option<DateTime<Utc>> {
    let store_jobs = jobs.clone();
    let name = partner.to_string();
    let last =
        tokio::task::spawn_blocking(move || store_jobs.open_store()?.last_success_started(&name))
            .await
            .map_err(|e| anyhow::anyhow!("store worker panicked: {e}"))
            .and_then(|r| r);
    match last {
        Ok(Some(last)) => schedule.after(&last).next().filter(|t| *t <= Utc::now()),
        Ok(None) => Some(DateTime::UNIX_EPOCH),
        Err(e) => {
            warn!(partner, error = %format!("{e:#}"), "cannot tell whether a run was missed; not catching up");
            None
        }
    }
}

async fn partner_loop(
    mut ctx: LoopCtx,
    mut partner_rx: watch::Receiver<Partner>,
    mut catch_up: bool,
) {
    // A task belongs to one partner name; reloads change everything else.
    let name = partner_rx.borrow().name().to_string();
    loop {
        let partner = partner_rx.borrow_and_update().clone();
        let schedule = match parse_schedule(partner.schedule.get_ref()) {
            Ok(s) => Some(s),
            Err(e) => {
                // check() refuses this at start and reload; if it happens
                // anyway, this partner waits for a fixed config.
                error!(partner = %name, error = %e, "bad schedule; partner not harvested");
                None
            }
        };
        let jobs = ctx.jobs.borrow().clone();
        // Rules or normalisation settings changed (at start, or by a
        // reload): rebuild the partner's records from their raw text.
        match jobs.reprocess_if_changed(&partner).await {
            Ok(_) => {}
            Err(e @ HarvestError::Busy { .. }) => {
                warn!(partner = %name, error = %e, "reprocessing postponed")
            }
            Err(e) => error!(partner = %name, error = %e, "reprocessing failed"),
        }
        let missed = match (&schedule, catch_up) {
            (Some(s), true) => missed_run(&jobs, &name, s).await,
            _ => None,
        };
        catch_up = false;
        // Reconciliation (for repositories that do not report deletions)
        // runs in the same task as harvests, so the two never overlap.
        let reconcile = partner
            .reconcile_schedule
            .as_ref()
            .and_then(|s| parse_schedule(s.get_ref()).ok());
        let mut job = Job::Harvest;
        // The scheduled time of the run about to start: daemons sharing a
        // store use it to run each scheduled harvest once between them.
        let mut due = Utc::now();
        if let Some(missed) = missed {
            info!(partner = %name, "a scheduled run was missed; catching up now");
            due = missed;
        } else {
            let next_harvest = schedule.as_ref().and_then(|s| s.upcoming(Utc).next());
            let next_reconcile = reconcile.as_ref().and_then(|s| s.upcoming(Utc).next());
            let next = match (next_harvest, next_reconcile) {
                (Some(h), Some(r)) if r < h => {
                    job = Job::Reconcile;
                    Some(r)
                }
                (None, Some(r)) => {
                    job = Job::Reconcile;
                    Some(r)
                }
                (h, _) => h,
            };
            ctx.board.set_next(&name, next);
            if let Some(next) = next {
                info!(partner = %name, next = %next.to_rfc3339(), job = job.as_str(), "next run");
                due = next;
            }
            let sleep = async {
                match next {
                    Some(t) => {
                        tokio::time::sleep((t - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                            .await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = sleep => {},
                changed = partner_rx.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    continue;
                }
                _ = ctx.retire.wait_for(|r| *r) => break,
                _ = ctx.stop.wait_for(|s| *s) => break,
            }
        }
        if *ctx.stop.borrow() || *ctx.retire.borrow() {
            break;
        }
        let jobs = ctx.jobs.borrow().clone();
        if job == Job::Reconcile {
            match jobs.reconcile(&partner, ctx.stop.clone()).await {
                Ok(_) => {}
                Err(HarvestError::Interrupted { .. }) if *ctx.stop.borrow() => break,
                Err(e) => {
                    error!(partner = %name, error = %e, "reconciliation failed; will run again next time")
                }
            }
            continue;
        }
        match jobs
            .scheduled_harvest(&partner, due, ctx.stop.clone())
            .await
        {
            Ok(None) => {}
            Ok(Some(report)) => {
                let c = report.harvest.counts;
                let changed = c.new + c.updated + c.deleted > 0;
                if jobs.config.publish.schedule.is_none() && changed {
                    if let Err(e) = jobs.publish().await {
                        error!(error = %format!("{e:#}"), "publish failed");
                    }
                }
            }
            Err(HarvestError::Interrupted { .. }) if *ctx.stop.borrow() => break,
            Err(HarvestError::Interrupted { .. }) => {
                warn!(partner = %name, "harvest stopped: another daemon took the partner over")
            }
            Err(e @ HarvestError::Busy { .. }) => {
                warn!(partner = %name, error = %e, "scheduled harvest skipped")
            }
            // Logged by the harvest with its details; the next scheduled
            // run tries again from the same `from`.
            Err(
                HarvestError::Failed(_)
                | HarvestError::Oai(_)
                | HarvestError::Runaway(_)
                | HarvestError::Refused(_),
            ) => {}
        }
    }
    ctx.board.forget(&name);
}

/// What a partner task runs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    Harvest,
    Reconcile,
}

impl Job {
    fn as_str(self) -> &'static str {
        match self {
            Job::Harvest => "harvest",
            Job::Reconcile => "reconcile",
        }
    }
}

async fn publish_loop(
    jobs: watch::Receiver<Jobs>,
    mut schedule_rx: watch::Receiver<Option<String>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let expr = schedule_rx.borrow_and_update().clone();
        let next = expr
            .as_deref()
            .and_then(|e| parse_schedule(e).ok())
            .and_then(|s| s.upcoming(Utc).next());
        let sleep = async {
            match next {
                Some(t) => {
                    tokio::time::sleep((t - Utc::now()).to_std().unwrap_or(Duration::ZERO)).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {},
            changed = schedule_rx.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
            _ = stop.wait_for(|s| *s) => return,
        }
        let jobs = jobs.borrow().clone();
        let due = next.unwrap_or_else(Utc::now);
        if let Err(e) = jobs.scheduled_publish(due).await {
            error!(error = %format!("{e:#}"), "scheduled publish failed; will run again next time");
        }
    }
}

/// Turn SIGHUP into `Reload` and SIGTERM/SIGINT into `Shutdown`.
pub fn signal_events() -> Result<mpsc::Receiver<Event>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        loop {
            let ev = tokio::select! {
                _ = hup.recv() => Event::Reload,
                _ = term.recv() => Event::Shutdown,
                _ = int.recv() => Event::Shutdown,
            };
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

/// A future that resolves on SIGTERM or SIGINT (for on-demand commands).
pub async fn shutdown_signal() {
    match signal_events() {
        Ok(mut rx) => {
            while let Some(ev) = rx.recv().await {
                if ev == Event::Shutdown {
                    return;
                }
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
