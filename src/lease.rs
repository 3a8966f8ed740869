//! Claims on work that several daemons sharing one PostgreSQL store could
//! otherwise do twice: a partner's harvest, and the dedup-merge-publish
//! pipeline.
//!
//! A claim is a lease row in the database with an expiry measured on the
//! database server's clock (so the hosts' clocks do not matter). The holder
//! renews it in the background every third of the lease time; a daemon
//! that crashes or is cut off stops renewing, and another daemon takes the
//! work over once the lease has expired. A holder that fails to renew for a
//! whole lease time treats its claim as lost and stops the work (its page
//! commits are fenced by the store as well, see `Store::commit_page`).
//!
//! With the embedded SQLite store one daemon owns the file, and the partner
//! lock files of `jobs` are the whole story: no leases are taken.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::StoreLocation;
use crate::store::Store;

/// The lease of the dedup, merge and publish work: one daemon at a time.
pub const PIPELINE: &str = "pipeline";

/// The lease of one partner's harvest (and its other jobs: reconcile,
/// import, reprocess).
pub fn partner_lease(partner: &str) -> String {
    format!("partner:{partner}")
}

/// This process's identity as a lease holder, and where the leases are.
#[derive(Debug)]
pub struct Claims {
    location: StoreLocation,
    holder: String,
    ttl: Duration,
}

/// A lease this process holds, renewed in the background until released
/// or dropped.
pub struct Lease {
    name: String,
    claims: Arc<Claims>,
    lost: watch::Receiver<bool>,
    renewer: Option<JoinHandle<()>>,
}

impl Claims {
    /// Claims on the store at `location`, each lasting `ttl` unless renewed.
    pub fn new(location: StoreLocation, ttl: Duration) -> Claims {
        Claims {
            location,
            holder: holder_id(),
            ttl,
        }
    }

    /// Whether this store is shared, so that work must be claimed.
    pub fn shared(&self) -> bool {
        matches!(self.location, StoreLocation::Postgres { .. })
    }

    /// This process's holder name: host, pid and a random tag.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The lease time.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How long to wait before asking again for a busy lease.
    pub fn poll_interval(&self) -> Duration {
        (self.ttl / 4).clamp(Duration::from_millis(250), Duration::from_secs(5))
    }

    /// Try to take `name`: the lease, or the name of the daemon holding it.
    pub async fn try_claim(self: &Arc<Self>, name: &str) -> Result<Result<Lease, String>> {
        let (claims, owned) = (self.clone(), name.to_string());
        let busy = blocking(move || {
            Store::connect(&claims.location)?.try_lease(&owned, &claims.holder, claims.ttl)
        })
        .await?;
        if let Some(holder) = busy {
            return Ok(Err(holder));
        }
        let (lost_tx, lost) = watch::channel(false);
        let renewer = tokio::spawn(renew(self.clone(), name.to_string(), lost_tx));
        tracing::debug!(lease = name, holder = %self.holder, "claimed");
        Ok(Ok(Lease {
            name: name.to_string(),
            claims: self.clone(),
            lost,
            renewer: Some(renewer),
        }))
    }

    /// Take `name`, waiting while another daemon holds it. `None` if `stop`
    /// turns true first.
    pub async fn claim_waiting(
        self: &Arc<Self>,
        name: &str,
        mut stop: watch::Receiver<bool>,
    ) -> Result<Option<Lease>> {
        let mut told = None::<String>;
        loop {
            match self.try_claim(name).await? {
                Ok(lease) => return Ok(Some(lease)),
                Err(holder) => {
                    if told.as_deref() != Some(holder.as_str()) {
                        tracing::info!(lease = name, %holder, "another daemon holds this work; waiting for it");
                        told = Some(holder);
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll_interval()) => {}
                _ = stop.wait_for(|s| *s) => return Ok(None),
            }
        }
    }
}

impl Lease {
    /// Turns true if the lease was lost (not renewed for a whole lease
    /// time, or taken over): the work must stop.
    pub fn lost(&self) -> watch::Receiver<bool> {
        self.lost.clone()
    }

    /// Give the lease up now, so that a waiting daemon need not wait for
    /// it to expire.
    pub async fn release(mut self) {
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
        let (claims, name) = (self.claims.clone(), self.name.clone());
        if let Err(e) =
            blocking(move || Store::connect(&claims.location)?.release_lease(&name, &claims.holder))
                .await
        {
            tracing::warn!(lease = %self.name, error = %format!("{e:#}"), "could not release; it expires on its own");
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Released explicitly on the normal paths; here (an error path or
        // a cancelled task) the renewal stops and the release is sent off
        // in the background, or left to expire if there is no runtime.
        if let Some(r) = self.renewer.take() {
            r.abort();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let (claims, name) = (self.claims.clone(), self.name.clone());
                rt.spawn_blocking(move || {
                    let _ = Store::connect(&claims.location)
                        .and_then(|mut s| s.release_lease(&name, &claims.holder));
                });
            }
        }
    }
}

/// Renew `name` every third of the lease time until aborted; flag `lost`
/// when the database says another holder has it, or when no renewal has
/// succeeded for a whole lease time (the database was unreachable: another
/// daemon may have taken over by now).
async fn renew(claims: Arc<Claims>, name: String, lost: watch::Sender<bool>) {
    let mut last_ok = Instant::now();
    loop {
        tokio::time::sleep(claims.ttl / 3).await;
        let (c, n) = (claims.clone(), name.clone());
        let renewed =
            blocking(move || Store::connect(&c.location)?.renew_lease(&n, &c.holder, c.ttl)).await;
        match renewed {
            Ok(true) => last_ok = Instant::now(),
            Ok(false) => {
                // Once, with who has it now (if anyone: a lease released
                // by hand is simply gone), so that the sysadmin knows which
                // daemon to look at.
                let (c, n) = (claims.clone(), name.clone());
                let now = blocking(move || {
                    let leases = Store::connect(&c.location)?.leases()?;
                    Ok(leases.into_iter().find(|l| l.name == n))
                })
                .await;
                let taken_by = match now {
                    Ok(Some(l)) => l.holder,
                    Ok(None) => "nobody (the lease was removed)".to_string(),
                    Err(e) => format!("unknown ({e:#})"),
                };
                tracing::error!(
                    lease = %name,
                    holder = %claims.holder,
                    taken_by = %taken_by,
                    "lost this claim: another daemon has taken the work over; stopping it"
                );
                let _ = lost.send(true);
                return;
            }
            Err(e) => {
                tracing::warn!(lease = %name, error = %format!("{e:#}"), "could not renew the claim; retrying");
                if last_ok.elapsed() >= claims.ttl {
                    tracing::error!(lease = %name, "claim not renewed for a whole lease time; stopping the work");
                    let _ = lost.send(true);
                    return;
                }
            }
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .context("lease worker panicked")?
}

/// `host:pid:tag`: unique per process even when two containers share a
/// host name and a pid.
fn holder_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!(
        "{host}:{}:{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Log lines written by the subscriber of this test's thread.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    // A lease another daemon took over while this one held it: the next
    // renewal flags the work lost, and the one error line names the
    // holder that has it now.
    #[tokio::test]
    async fn a_lease_taken_over_is_lost_and_names_the_taker() {
        let Some(url) = crate::store::pg::test_database_from_env().unwrap() else {
            return;
        };
        let location = StoreLocation::Postgres {
            url,
            password: None,
            pool_size: 2,
        };
        let logs = Captured::default();
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        // This (current-thread) runtime runs the renewal task on this
        // thread, where the subscriber is the default.
        let _guard = tracing::subscriber::set_default(subscriber);
        let claims = Arc::new(Claims::new(location.clone(), Duration::from_millis(900)));
        let lease = claims.try_claim("partner:x").await.unwrap().unwrap();
        let mine = claims.holder().to_string();
        blocking(move || {
            let mut store = Store::connect(&location)?;
            store.release_lease("partner:x", &mine)?;
            let busy =
                store.try_lease("partner:x", "other-host:42:beef", Duration::from_secs(60))?;
            assert_eq!(busy, None);
            Ok(())
        })
        .await
        .unwrap();
        let mut lost = lease.lost();
        tokio::time::timeout(Duration::from_secs(10), lost.wait_for(|l| *l))
            .await
            .expect("the renewal noticed within the lease time")
            .unwrap();
        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        let line = text
            .lines()
            .find(|l| l.contains("lost this claim"))
            .unwrap_or_else(|| panic!("no lost line in {text}"));
        assert!(line.contains("taken_by=other-host:42:beef"), "{line}");
        assert!(line.contains(claims.holder()), "{line}");
        assert_eq!(text.matches("lost this claim").count(), 1, "{text}");
    }
}
