//! The daemon: one task per partner that sleeps until its cron schedule
//! fires and then harvests, one task for the publish schedule, and the
//! shutdown that stops them all cleanly.
//!
//! Tasks and what they wait on:
//! - partner task (one per partner): the partner's next cron time, or
//!   shutdown. Runs harvest → dedup/merge → (publish, if no publish
//!   schedule is configured). A partner's runs are sequential in its own
//!   task, so the same partner is never harvested twice at once; different
//!   partners run concurrently.
//! - publish task (if `publish.schedule` is set): the next cron time, or
//!   shutdown.
//! - the main task: the shutdown future (SIGTERM/SIGINT). It flips the
//!   shutdown channel; harvests stop after the page in flight is
//!   committed, and the main task waits for every task to finish.
//!
//! systemd is told READY=1 only after the store is open and migrated and
//! every task is spawned.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::config::{parse_schedule, Config, Partner};
use crate::harvest::HarvestError;
use crate::jobs::Jobs;

/// How long running harvests get to commit their page after shutdown is
/// requested; below systemd's default `TimeoutStopSec` of 90 s.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Run the daemon until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<()> {
    let config = Arc::new(config);
    let jobs = Jobs::new(config.clone())?;
    // Open (and migrate) the database before declaring readiness, so a
    // broken state directory fails the start, not the first harvest.
    drop(jobs.open_store()?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let publish_scheduled = config.publish.schedule.is_some();
    for partner in &config.partners {
        let jobs = jobs.clone();
        let partner = partner.clone();
        let stop = stop_rx.clone();
        tasks.spawn(async move { partner_loop(jobs, partner, stop, !publish_scheduled).await });
    }
    if let Some(schedule) = &config.publish.schedule {
        let schedule = parse_schedule(schedule.get_ref()).map_err(anyhow::Error::msg)?;
        let jobs = jobs.clone();
        let stop = stop_rx.clone();
        tasks.spawn(async move { publish_loop(jobs, schedule, stop).await });
    }
    info!(partners = config.partners.len(), "daemon started");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);

    shutdown.await;
    info!("shutdown requested; finishing pages in flight");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            grace_secs = SHUTDOWN_GRACE.as_secs(),
            "tasks did not stop in time; exiting anyway"
        );
        tasks.abort_all();
    }
    info!("daemon stopped");
    Ok(())
}

/// Sleep until the next time `schedule` fires; false if shutdown came first.
async fn wait_for_next(schedule: &cron::Schedule, stop: &mut watch::Receiver<bool>) -> bool {
    let Some(next) = schedule.upcoming(Utc).next() else {
        // A schedule with no future time (e.g. a past year): wait for shutdown.
        let _ = stop.wait_for(|s| *s).await;
        return false;
    };
    let wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    let fired = tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = stop.wait_for(|s| *s) => false,
    };
    fired && !*stop.borrow()
}

async fn partner_loop(
    jobs: Jobs,
    partner: Partner,
    mut stop: watch::Receiver<bool>,
    publish_after: bool,
) {
    let name = partner.name().to_string();
    let schedule = match parse_schedule(partner.schedule.get_ref()) {
        Ok(s) => s,
        Err(e) => {
            // check() refuses this at start; reaching here is a bug, but it
            // must not take the other partners down.
            error!(partner = %name, error = %e, "bad schedule; partner not harvested");
            return;
        }
    };
    if let Some(next) = schedule.upcoming(Utc).next() {
        info!(partner = %name, next = %next.to_rfc3339(), "partner scheduled");
    }
    while wait_for_next(&schedule, &mut stop).await {
        match jobs.harvest(&partner, stop.clone()).await {
            Ok(report) => {
                let c = report.harvest.counts;
                let changed = c.new + c.updated + c.deleted > 0;
                if publish_after && changed {
                    if let Err(e) = jobs.publish().await {
                        error!(error = %format!("{e:#}"), "publish failed");
                    }
                }
            }
            Err(HarvestError::Interrupted { .. }) => break,
            // Logged by the harvest with its details; the next scheduled
            // run tries again from the same `from`.
            Err(HarvestError::Failed(_)) => {}
        }
        if let Some(next) = schedule.upcoming(Utc).next() {
            info!(partner = %name, next = %next.to_rfc3339(), "next harvest");
        }
    }
}

async fn publish_loop(jobs: Jobs, schedule: cron::Schedule, mut stop: watch::Receiver<bool>) {
    while wait_for_next(&schedule, &mut stop).await {
        if let Err(e) = jobs.publish().await {
            error!(error = %format!("{e:#}"), "scheduled publish failed; will run again next time");
        }
    }
}

/// A future that resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
