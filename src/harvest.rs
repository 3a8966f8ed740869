//! The harvest shell: carries out what the OAI-PMH state machine in
//! `unicat_oai` asks for (HTTP requests, retries, back-off) and commits each
//! page, normalised and keyed, to the store together with its checkpoint.
//!
//! Decisions about the protocol live in `unicat_oai`; decisions about
//! records live in `normalize` and `dedup`. This module only moves bytes,
//! waits, and counts. A run's `from` only advances when the run completed,
//! so a failed or interrupted run is simply done again next time; records
//! are upserts, so doing a page twice is harmless.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use rand::Rng;
use tokio::sync::watch;
use tracing::{debug, info, warn, Instrument};
use unicat_marc::marcxml;
use unicat_oai::{ListHarvest, ListRequest, OaiRecord, Request, Step, Verb};

use crate::config::{HarvestConfig, Partner};
use crate::dedup;
use crate::normalize::{self, PartnerContext};
use crate::store::{PageCounts, PageItem, Store};

/// The result of a completed harvest run.
#[derive(Debug, Clone)]
pub struct HarvestReport {
    /// Partner name.
    pub partner: String,
    /// Pages committed.
    pub pages: u32,
    /// What the pages did.
    pub counts: PageCounts,
    /// The `from` this run sent, if incremental.
    pub from: Option<String>,
    /// The `from` the next run will send.
    pub next_from: Option<String>,
    /// Wall time.
    pub duration: Duration,
}

/// Why a harvest did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HarvestError {
    /// Shutdown was requested; the pages so far are committed.
    #[error("interrupted by shutdown after {pages} page(s); the next run repeats it")]
    Interrupted {
        /// Pages committed before stopping.
        pages: u32,
    },
    /// Another process is harvesting this partner right now.
    #[error(
        "partner `{partner}` is already being harvested ({holder}); try again when it is done"
    )]
    Busy {
        /// The partner.
        partner: String,
        /// Who holds the lock.
        holder: String,
    },
    /// The run failed (network, protocol or store); the message says why.
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

/// What a harvest reports while it runs: the daemon turns it into systemd
/// STATUS lines and metrics, the CLI into a progress bar. Every method has
/// an empty default so an observer implements only what it shows.
pub trait Observer: Send + Sync {
    /// A run started (its id is in the store's `harvest_runs`).
    fn run_started(&self, _partner: &str, _run_id: i64) {}
    /// An HTTP request is about to be sent.
    fn request(&self, _partner: &str) {}
    /// A request failed and will be retried.
    fn retry(&self, _partner: &str) {}
    /// A page was committed: pages and records so far, and the list size
    /// if the repository announced one (`completeListSize`).
    fn page(&self, _partner: &str, _pages: u32, _records: u64, _complete_list_size: Option<u64>) {}
    /// The run ended, successfully or not.
    fn run_finished(&self, _partner: &str, _ok: bool) {}
}

/// An observer that shows nothing.
pub struct NoObserver;
impl Observer for NoObserver {}

/// A shared HTTP client; one per process keeps connections pooled.
pub fn http_client(cfg: &HarvestConfig) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(cfg.timeout())
        .connect_timeout(cfg.timeout().min(Duration::from_secs(30)))
        .user_agent(concat!(
            "unicat/",
            env!("CARGO_PKG_VERSION"),
            " (OAI-PMH harvester)"
        ))
        .build()
        .context("building the HTTP client")
}

/// A failed fetch, classified once: transient failures are retried.
struct FetchError {
    transient: bool,
    retry_after: Option<Duration>,
    message: String,
}

async fn fetch_once(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, FetchError> {
    let resp = client.get(url).send().await.map_err(|e| FetchError {
        // Timeouts, refused and reset connections are worth another try;
        // a malformed URL is not.
        transient: !e.is_builder(),
        retry_after: None,
        message: format!("request failed: {}", error_chain(&e)),
    })?;
    let status = resp.status();
    if !status.is_success() {
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let transient =
            status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408;
        return Err(FetchError {
            transient,
            retry_after,
            message: format!("HTTP {status}"),
        });
    }
    resp.bytes()
        .await
        .map(|b| b.to_vec())
        .map_err(|e| FetchError {
            transient: true,
            retry_after: None,
            message: format!("reading the response body failed: {}", error_chain(&e)),
        })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// `Retry-After` as seconds or as an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// The longest we ever wait between retries, whatever a server asks for.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(3600);

/// Exponential back-off with jitter for retry number `attempt` (1-based).
fn backoff(cfg: &HarvestConfig, attempt: u32) -> Duration {
    let base = cfg
        .backoff_ms
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(16));
    let jitter = rand::thread_rng().gen_range(0..=base / 4 + 1);
    Duration::from_millis(base + jitter).min(MAX_RETRY_WAIT)
}

/// Wait, or return early if shutdown is requested.
async fn sleep_or_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = shutdown.wait_for(|s| *s) => true,
    }
}

/// Fetch a URL and let `accept` judge the body; retry transient failures
/// (of the transport or of the body, e.g. an HTML error page with 200)
/// with back-off, up to the configured bound.
async fn fetch_with_retry<T>(
    client: &reqwest::Client,
    cfg: &HarvestConfig,
    partner: &str,
    url: &str,
    shutdown: &mut watch::Receiver<bool>,
    observer: &dyn Observer,
    mut accept: impl FnMut(&[u8]) -> Result<T, (bool, String)>,
) -> Result<T, HarvestError> {
    let mut attempt = 0u32;
    loop {
        observer.request(partner);
        let (transient, retry_after, message) = match fetch_once(client, url).await {
            Ok(body) => match accept(&body) {
                Ok(v) => return Ok(v),
                Err((transient, message)) => (transient, None, message),
            },
            Err(e) => (e.transient, e.retry_after, e.message),
        };
        attempt += 1;
        if !transient || attempt > cfg.max_retries {
            let tries = if transient {
                format!(" after {attempt} attempt(s)")
            } else {
                String::new()
            };
            return Err(HarvestError::Failed(anyhow!("{message}{tries} ({url})")));
        }
        let wait = retry_after.map_or_else(|| backoff(cfg, attempt), |d| d.min(MAX_RETRY_WAIT));
        observer.retry(partner);
        warn!(partner, attempt, wait_ms = wait.as_millis() as u64, url, error = %message, "retrying request");
        if sleep_or_shutdown(wait, shutdown).await {
            return Err(HarvestError::Interrupted { pages: 0 });
        }
    }
}

/// Parse, normalise and key one OAI record into what the store writes.
pub fn prepare_record(rec: &OaiRecord, partner: &PartnerContext<'_>) -> PageItem {
    let oai_id = rec.header.identifier.clone();
    if rec.header.deleted {
        return PageItem::Delete {
            oai_id,
            datestamp: rec.header.datestamp.clone(),
        };
    }
    let Some(raw) = &rec.metadata else {
        return PageItem::Quarantine {
            oai_id,
            reason: "record has no metadata and is not marked deleted".into(),
            raw: None,
        };
    };
    match marcxml::parse_record(raw) {
        Ok(parsed) => {
            let record = normalize::normalize(parsed, partner);
            let keys = dedup::match_keys(&record);
            let xml = marcxml::to_string(&record);
            PageItem::Upsert {
                oai_id,
                datestamp: rec.header.datestamp.clone(),
                local_id: record.control("001").map(str::to_string),
                raw: raw.clone(),
                content_hash: dedup::content_hash(&xml),
                record: xml,
                keys,
            }
        }
        Err(e) => PageItem::Quarantine {
            oai_id,
            reason: format!("MARCXML does not parse: {e}"),
            raw: Some(raw.clone()),
        },
    }
}

/// Run one harvest of a partner: Identify, then ListRecords from the last
/// complete run's `from`, committing page by page.
pub async fn harvest_partner(
    client: &reqwest::Client,
    cfg: &HarvestConfig,
    partner: &Partner,
    store: Store,
    shutdown: watch::Receiver<bool>,
    observer: &dyn Observer,
) -> Result<HarvestReport, HarvestError> {
    let span = tracing::info_span!(
        "harvest",
        partner = partner.name(),
        run_id = tracing::field::Empty
    );
    let result = harvest_inner(client, cfg, partner, store, shutdown, observer)
        .instrument(span)
        .await;
    observer.run_finished(partner.name(), result.is_ok());
    result
}

async fn harvest_inner(
    client: &reqwest::Client,
    cfg: &HarvestConfig,
    partner: &Partner,
    mut store: Store,
    mut shutdown: watch::Receiver<bool>,
    observer: &dyn Observer,
) -> Result<HarvestReport, HarvestError> {
    let started = Instant::now();
    let run_started_at = chrono::Utc::now();
    let name = partner.name().to_string();
    let base = partner.base_url().to_string();

    let fail = |e: anyhow::Error| HarvestError::Failed(e);
    store.fail_stale_runs(&name).map_err(fail)?;
    // The run is recorded before the first request, so that `status`
    // shows a partner whose endpoint does not even answer Identify.
    let run_id = store.begin_run(&name).map_err(fail)?;
    tracing::Span::current().record("run_id", run_id);
    observer.run_started(&name, run_id);
    let identify = fetch_with_retry(
        client,
        cfg,
        &name,
        &Request::Identify.url(&base),
        &mut shutdown,
        observer,
        |body| {
            unicat_oai::parse_identify(body)
                .map_err(|e| (e.is_transient(), format!("Identify: {e}")))
        },
    )
    .await;
    let from = identify.and_then(|identify| {
        let Some(prev) = store.next_from(&name).map_err(fail)? else {
            return Ok(None);
        };
        let t = unicat_oai::parse_datestamp(&prev).map_err(|e| {
            fail(anyhow!(
                "stored next `from` {prev:?} is not a datestamp: {e}"
            ))
        })?;
        let t = t - chrono::Duration::seconds(cfg.overlap_secs as i64);
        Ok(Some(identify.granularity.format(t)))
    });
    let from = match from {
        Ok(from) => from,
        Err(e) => {
            record_failure(
                &mut store,
                run_id,
                &name,
                &e,
                0,
                PageCounts::default(),
                started.elapsed(),
            );
            return Err(e);
        }
    };
    store.set_run_from(run_id, from.as_deref()).map_err(fail)?;
    info!(partner = %name, from = from.as_deref().unwrap_or("(full)"), "harvest started");

    let request = ListRequest {
        metadata_prefix: partner.metadata_prefix.clone(),
        set: partner.set.clone(),
        from: from.clone(),
        until: None,
    };
    let mut machine = ListHarvest::new(base.clone(), Verb::ListRecords, request);
    let mut store = Some(store);
    let mut counts = PageCounts::default();
    let result: Result<(), HarvestError> = async {
        while let Some(url) = machine.url() {
            if *shutdown.borrow() {
                return Err(HarvestError::Interrupted { pages: machine.pages() });
            }
            let step = fetch_with_retry(client, cfg, &name, &url, &mut shutdown, observer, |body| {
                machine
                    .on_response(body)
                    .map_err(|e| (e.is_transient(), e.to_string()))
            })
            .await
            .map_err(|e| match e {
                HarvestError::Interrupted { .. } => HarvestError::Interrupted { pages: machine.pages() },
                other => other,
            })?;
            let page = match step {
                Step::Page(page) => page,
                Step::Done => break,
                Step::Restarted => {
                    warn!(partner = %name, "repository rejected the resumption token; restarting the list");
                    continue;
                }
            };
            let token = machine.resumption_token().map(str::to_string);
            let list_size = page.resumption_token.as_ref().and_then(|t| t.complete_list_size);
            let ctx_code = partner.code().to_string();
            let pname = name.clone();
            let mut st = store.take().ok_or_else(|| fail(anyhow!("store lost")))?;
            let page_no = machine.pages();
            // Parsing, normalising and the SQLite transaction are blocking
            // work; keep them off the async threads.
            let (st, res) = tokio::task::spawn_blocking(move || {
                let ctx = PartnerContext { code: &ctx_code };
                let mut items: Vec<PageItem> = page.records.iter().map(|r| prepare_record(r, &ctx)).collect();
                // Records the protocol layer could not use (no identifier,
                // invalid UTF-8) are quarantined too, never dropped.
                items.extend(page.rejected.iter().map(|r| PageItem::Quarantine {
                    oai_id: r.identifier.clone().unwrap_or_else(|| "(no identifier)".into()),
                    reason: r.reason.clone(),
                    raw: Some(String::from_utf8_lossy(&r.raw).into_owned()),
                }));
                for item in &items {
                    if let PageItem::Quarantine { oai_id, reason, .. } = item {
                        warn!(oai_id, reason, "record quarantined");
                    }
                }
                let res = st.commit_page(run_id, &pname, &items, token.as_deref());
                (st, res)
            })
            .await
            .map_err(|e| fail(anyhow!("page worker panicked: {e}")))?;
            store = Some(st);
            let c = res.map_err(|e| fail(e.context(format!("committing page {page_no}"))))?;
            debug!(page = page_no, new = c.new, updated = c.updated, deleted = c.deleted, "page committed");
            counts.add(c);
            observer.page(
                &name,
                page_no,
                counts.new + counts.updated + counts.unchanged + counts.deleted + counts.quarantined,
                list_size,
            );
        }
        Ok(())
    }
    .await;
    let mut store = store.ok_or_else(|| fail(anyhow!("store lost")))?;
    let duration = started.elapsed();
    match result {
        Ok(()) => {
            // The repository's own clock is the right base for `from`; if it
            // sent no usable responseDate, our clock at the start of the run
            // is the safe substitute (never later than the true value).
            let next_from = match machine.first_response_date() {
                Some(d) if unicat_oai::parse_datestamp(d).is_ok() => Some(d.to_string()),
                other => {
                    warn!(partner = %name, response_date = ?other, "no usable responseDate; next `from` uses our clock");
                    Some(run_started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                }
            };
            store
                .finish_run(run_id, &name, true, next_from.as_deref(), None)
                .map_err(fail)?;
            info!(
                partner = %name,
                pages = machine.pages(),
                new = counts.new,
                updated = counts.updated,
                unchanged = counts.unchanged,
                deleted = counts.deleted,
                quarantined = counts.quarantined,
                duration_ms = duration.as_millis() as u64,
                next_from = next_from.as_deref().unwrap_or(""),
                "harvest complete"
            );
            Ok(HarvestReport {
                partner: name,
                pages: machine.pages(),
                counts,
                from,
                next_from,
                duration,
            })
        }
        Err(e) => {
            record_failure(
                &mut store,
                run_id,
                &name,
                &e,
                machine.pages(),
                counts,
                duration,
            );
            Err(e)
        }
    }
}

/// Close a failed run in the store and log its summary line.
fn record_failure(
    store: &mut Store,
    run_id: i64,
    name: &str,
    e: &HarvestError,
    pages: u32,
    counts: PageCounts,
    duration: Duration,
) {
    let msg = e.to_string();
    if let Err(se) = store.finish_run(run_id, name, false, None, Some(&msg)) {
        warn!(partner = %name, error = %format!("{se:#}"), "could not record the failed run");
    }
    warn!(
        partner = %name,
        pages,
        new = counts.new,
        updated = counts.updated,
        deleted = counts.deleted,
        quarantined = counts.quarantined,
        duration_ms = duration.as_millis() as u64,
        error = %msg,
        "harvest failed; `from` not advanced"
    );
}
