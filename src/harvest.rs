//! The harvest shell: carries out what the OAI-PMH state machine in
//! `unicat_oai` asks for (HTTP requests, retries, back-off) and commits each
//! page, normalised and keyed, to the store together with its checkpoint.
//!
//! Decisions about the protocol live in `unicat_oai`; decisions about
//! records live in `normalize` and `dedup`. This module only moves bytes,
//! waits, and counts. A run's `from` only advances when the run completed,
//! so a failed or interrupted run is simply done again next time; records
//! are upserts, so doing a page twice is harmless.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use rand::Rng;
use tokio::sync::watch;
use tracing::{debug, info, warn, Instrument};
use unicat_marc::marcxml;
use unicat_oai::{
    cut, ErrorCode, ListHarvest, ListPage, ListRequest, OaiError, OaiRecord, Request, Step, Verb,
};

use crate::config::{read_secret, BasicAuth, HarvestConfig, HarvestMode, HeaderSpec, Partner};
use crate::dedup;
use crate::normalize::{self, NormalizeOptions, NormalizeReport, PartnerContext};
use crate::rules::Rules;
use crate::store::{Checkpoint, PageCounts, PageItem, RunOutcome, Store};

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
    /// The repository answered with an OAI-PMH error (or a response that
    /// retrying will not fix).
    #[error("OAI-PMH: {0}")]
    Oai(OaiError),
    /// The list does not end (endless pages, a loop past completeListSize).
    #[error("{0}")]
    Runaway(String),
    /// The endpoint's answer is one that asking again will not change: an
    /// HTTP status such as 400 or 404, a response over the size limit, a
    /// redirect that is not followed. Like `Oai` and `Runaway`, it drops
    /// the run's checkpoint, so the next run starts the list again rather
    /// than repeat the request that failed.
    #[error("{0}")]
    Refused(String),
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

/// The settings of one partner's run, with secrets resolved.
struct RunSettings {
    client: reqwest::Client,
    /// The partner's base URL: requests to its origin (and only those)
    /// carry `headers` and `auth`.
    base: reqwest::Url,
    /// `[[partner.header]]`, secrets read.
    headers: reqwest::header::HeaderMap,
    auth: Option<(String, String)>,
    /// `redirect-hosts`: the other hosts redirects may lead to.
    redirect_hosts: Vec<String>,
    max_retries: u32,
    backoff_ms: u64,
    delay: Duration,
    max_body: usize,
}

/// Extra request headers with their secrets read. Secret values are
/// marked sensitive, so they are never printed in debug output or logs;
/// errors name where a secret was looked for, never its value.
pub fn resolve_headers(specs: &[HeaderSpec]) -> Result<reqwest::header::HeaderMap> {
    let mut headers = reqwest::header::HeaderMap::new();
    for h in specs {
        let value = match &h.value {
            Some(v) => v.clone(),
            None => read_secret(h.value_file.as_deref(), h.value_env.as_deref())
                .map_err(|e| anyhow!("header {}: {e}", h.name))?,
        };
        let name = reqwest::header::HeaderName::from_bytes(h.name.as_bytes())
            .with_context(|| format!("header name {}", h.name))?;
        let mut value = reqwest::header::HeaderValue::from_str(&value)
            .map_err(|_| anyhow!("header {}: the value is not a valid header value", h.name))?;
        value.set_sensitive(h.value.is_none());
        headers.insert(name, value);
    }
    Ok(headers)
}

/// Build the HTTP client for a partner: its timeouts, user agent and
/// headers. Secrets are read here, at the start of each run, so that a
/// rotated password is picked up without a restart; errors name where the
/// secret was looked for, never its value.
fn run_settings(cfg: &HarvestConfig, p: &Partner) -> Result<RunSettings> {
    let headers = resolve_headers(&p.headers)?;
    let auth = p.auth.as_ref().map(BasicAuth::resolve).transpose()?;
    let timeout = Duration::from_secs(p.timeout_secs.unwrap_or(cfg.timeout_secs));
    let user_agent = p.user_agent.clone().unwrap_or_else(|| {
        concat!("unicat/", env!("CARGO_PKG_VERSION"), " (OAI-PMH harvester)").to_string()
    });
    // Redirects are followed by `Fetcher::send`, hop by hop, so
    // that each hop is judged by `redirect_verdict` and the configured
    // headers and basic auth are added only to requests for the partner's
    // own origin (reqwest would copy default headers to any host).
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(cfg.connect_timeout_secs))
        .user_agent(user_agent)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the HTTP client")?;
    let base = reqwest::Url::parse(p.base_url())
        .with_context(|| format!("base-url {:?}", p.base_url()))?;
    Ok(RunSettings {
        client,
        base,
        headers,
        auth,
        redirect_hosts: p.redirect_hosts().to_vec(),
        max_retries: p.max_retries.unwrap_or(cfg.max_retries),
        backoff_ms: cfg.backoff_ms,
        delay: Duration::from_millis(p.request_delay_ms),
        max_body: usize::try_from(cfg.max_response_mib.saturating_mul(1 << 20))
            .unwrap_or(usize::MAX),
    })
}

/// A failed fetch, classified once: transient failures are retried.
struct FetchError {
    transient: bool,
    retry_after: Option<Duration>,
    message: String,
    /// The endpoint refused our credentials (401, 403, 407): not retried,
    /// but the run's checkpoint stays, since the token is not at fault
    /// and resuming works once the credentials are fixed.
    credentials: bool,
}

impl FetchError {
    fn transient(message: String) -> Self {
        FetchError {
            transient: true,
            retry_after: None,
            message,
            credentials: false,
        }
    }
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

/// Consecutive pages without a record (but with a token) after which a
/// list is taken to be endless.
const MAX_EMPTY_PAGES: u32 = 50;

/// A list that delivers more than twice its announced `completeListSize`
/// (plus this slack, for repositories that count loosely) is taken to be
/// looping.
const LIST_SIZE_SLACK: u64 = 1000;

/// Wait, or return early if shutdown is requested.
async fn sleep_or_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = shutdown.wait_for(|s| *s) => true,
    }
}

/// Sends one partner's requests: one at a time, with the configured pause
/// between them, retries with back-off, a bound on response size, and
/// redirects followed only as far as `redirect_verdict` allows.
struct Fetcher<'a> {
    settings: RunSettings,
    partner: &'a str,
    observer: &'a dyn Observer,
    shutdown: watch::Receiver<bool>,
    last_request: Option<Instant>,
    /// (from, to) origins of redirects to other hosts already logged.
    warned: Mutex<HashSet<(String, String)>>,
}

impl<'a> Fetcher<'a> {
    fn new(
        settings: RunSettings,
        partner: &'a str,
        observer: &'a dyn Observer,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Fetcher {
            settings,
            partner,
            observer,
            shutdown,
            last_request: None,
            warned: Mutex::new(HashSet::new()),
        }
    }
}

/// Redirects followed for one request, at most (reqwest's default too).
const MAX_REDIRECTS: usize = 10;

/// How much of a URL a message quotes: enough to recognise it; a resumed
/// request's URL holds a token of up to 64 KiB.
const MAX_URL_IN_MESSAGE: usize = 300;

/// How much of an error message is kept in logs, in the run's stored
/// error and in the command's output.
const MAX_MESSAGE_BYTES: usize = 2048;

/// A redirect that may be followed; `credentials`: with the partner's
/// headers and basic auth (its own origin only). `named`: the target host
/// is the partner's or is named in `redirect-hosts` (not only by `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Follow {
    /// Send `[[partner.header]]` and `[partner.auth]`.
    pub credentials: bool,
    /// The host was named, not matched by `*`.
    pub named: bool,
}

/// `scheme://host:port` of a URL, for messages.
fn origin(u: &reqwest::Url) -> String {
    u.origin().ascii_serialization()
}

/// Whether `to` is the partner's own origin: same host and port and
/// scheme, or the same host moved from http to https on the default
/// ports (the credentials went to that host in clear already; an upgrade
/// only protects them better).
fn same_origin(base: &reqwest::Url, to: &reqwest::Url) -> bool {
    if base.host_str() != to.host_str() {
        return false;
    }
    let exact =
        base.scheme() == to.scheme() && base.port_or_known_default() == to.port_or_known_default();
    let upgrade = base.scheme() == "http"
        && to.scheme() == "https"
        && base.port().is_none()
        && to.port().is_none();
    exact || upgrade
}

/// Link-local addresses (169.254.0.0/16, fe80::/10, also IPv4-mapped) and
/// the cloud metadata services' addresses: where a redirect could make us
/// read a machine's credentials.
fn is_metadata_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_unicast_link_local()
                || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_link_local())
                // AWS's IPv6 metadata endpoint.
                || v6 == std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
        }
    }
}

/// Host names of cloud metadata services.
const METADATA_HOSTS: [&str; 4] = [
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
];

/// Whether a URL's host is a link-local or metadata address or name.
fn is_metadata_host(u: &reqwest::Url) -> bool {
    let Some(host) = u.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => is_metadata_ip(ip),
        Err(_) => {
            let name = bare.trim_end_matches('.').to_ascii_lowercase();
            METADATA_HOSTS.contains(&name.as_str())
        }
    }
}

/// Whether a `redirect-hosts` entry (`host` or `host:port`, not `*`)
/// names the host (and port) of `to`.
fn names_host(entry: &str, to: &reqwest::Url) -> bool {
    let Ok(named) = reqwest::Url::parse(&format!("{}://{entry}/", to.scheme())) else {
        return false;
    };
    named.host_str() == to.host_str()
        && (named.port().is_none() || named.port_or_known_default() == to.port_or_known_default())
}

/// The redirect policy, decided per hop from the partner's base URL and
/// its `redirect-hosts`:
///
/// - the partner's own origin (or its https upgrade): followed, with the
///   configured headers and basic auth;
/// - a link-local or cloud metadata address (169.254.169.254, fe80::/10,
///   metadata.google.internal, …): refused, unless `redirect-hosts` names
///   that host itself (`*` is not enough);
/// - another host named in `redirect-hosts`, or any host with `*`:
///   followed without the configured headers and basic auth;
/// - any other host: refused. The run fails with an error naming both
///   hosts. A sysadmin would rather learn that a partner moved (and update
///   its base-url) than have the harvester talk to hosts nobody
///   configured: a redirect is the partner's word, not the sysadmin's, and
///   a compromised or misconfigured endpoint could point us anywhere.
///
/// `Err` is the reason the redirect is refused, for the message.
pub fn redirect_verdict(
    base: &reqwest::Url,
    to: &reqwest::Url,
    redirect_hosts: &[String],
) -> Result<Follow, String> {
    if !matches!(to.scheme(), "http" | "https") {
        return Err(format!("the scheme {:?} is not HTTP", to.scheme()));
    }
    if same_origin(base, to) {
        return Ok(Follow {
            credentials: true,
            named: true,
        });
    }
    let named = redirect_hosts.iter().any(|e| e != "*" && names_host(e, to));
    if is_metadata_host(to) && !named {
        return Err(
            "it is a link-local or cloud metadata address; only redirect-hosts naming it allows that"
                .into(),
        );
    }
    if named || redirect_hosts.iter().any(|e| e == "*") {
        return Ok(Follow {
            credentials: false,
            named,
        });
    }
    Err(
        "it is another host than the partner's base-url; unicat sends requests, and the partner's \
         headers and basic auth, only there (if the partner moved, change base-url; to follow \
         redirects to that host without them, add it to redirect-hosts)"
            .into(),
    )
}

impl Fetcher<'_> {
    /// Send one request, following redirects as `redirect_verdict` allows.
    async fn send(&self, url: &str) -> Result<reqwest::Response, FetchError> {
        let refused = |message: String| FetchError {
            transient: false,
            retry_after: None,
            message,
            credentials: false,
        };
        let mut current = reqwest::Url::parse(url)
            .map_err(|e| refused(format!("invalid URL {}: {e}", cut(url, MAX_URL_IN_MESSAGE))))?;
        // The first request goes where the configuration says.
        let mut verdict = Follow {
            credentials: same_origin(&self.settings.base, &current),
            named: true,
        };
        for hop in 0..=MAX_REDIRECTS {
            let mut req = self.settings.client.get(current.clone());
            if verdict.credentials {
                req = req.headers(self.settings.headers.clone());
                if let Some((user, pass)) = &self.settings.auth {
                    req = req.basic_auth(user, Some(pass));
                }
            }
            let resp = req.send().await.map_err(|e| FetchError {
                // Timeouts, refused and reset connections are worth another
                // try; a malformed URL is not.
                transient: !e.is_builder(),
                retry_after: None,
                message: format!("request failed: {}", error_chain(&e)),
                credentials: false,
            })?;
            // A host named by `*` may still resolve to a metadata address:
            // what it answered is not read.
            if !verdict.named && resp.remote_addr().is_some_and(|a| is_metadata_ip(a.ip())) {
                return Err(refused(format!(
                    "redirected to {}, which resolved to the link-local address {}: not read \
                     (name the host in redirect-hosts to allow it)",
                    origin(&current),
                    resp.remote_addr()
                        .map(|a| a.ip().to_string())
                        .unwrap_or_default()
                )));
            }
            let status = resp.status();
            if !status.is_redirection() || status == reqwest::StatusCode::NOT_MODIFIED {
                return Ok(resp);
            }
            if hop == MAX_REDIRECTS {
                break;
            }
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    refused(format!("HTTP {status} without a usable Location header"))
                })?;
            let next = current.join(location).map_err(|e| {
                refused(format!(
                    "HTTP {status} to an invalid Location {:?}: {e}",
                    cut(location, MAX_URL_IN_MESSAGE)
                ))
            })?;
            verdict =
                match redirect_verdict(&self.settings.base, &next, &self.settings.redirect_hosts) {
                    Ok(v) => v,
                    Err(why) => {
                        warn!(
                            partner = self.partner,
                            from = %origin(&current),
                            to = %origin(&next),
                            "redirect not followed: {why}"
                        );
                        return Err(refused(format!(
                            "{} redirected to {}: not followed, {why}",
                            origin(&current),
                            cut(next.as_str(), MAX_URL_IN_MESSAGE)
                        )));
                    }
                };
            if !verdict.credentials {
                // Once per run and pair of hosts: a redirected partner
                // would otherwise log it for every request.
                let pair = (origin(&self.settings.base), origin(&next));
                let first = self.warned.lock().is_ok_and(|mut w| w.insert(pair.clone()));
                if first {
                    warn!(
                        partner = self.partner,
                        from = %pair.0,
                        to = %pair.1,
                        "following a redirect to another host (listed in redirect-hosts) without the partner's headers and basic auth; if the partner moved, change base-url"
                    );
                }
            }
            debug!(
                partner = self.partner,
                from = %cut(current.as_str(), MAX_URL_IN_MESSAGE),
                to = %cut(next.as_str(), MAX_URL_IN_MESSAGE),
                credentials = verdict.credentials,
                "following a redirect"
            );
            current = next;
        }
        Err(refused(format!(
            "more than {MAX_REDIRECTS} redirects in a row, last to {}",
            cut(current.as_str(), MAX_URL_IN_MESSAGE)
        )))
    }

    async fn fetch_once(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let mut resp = self.send(url).await?;
        let status = resp.status();
        if !status.is_success() {
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let transient = status.is_server_error() || matches!(status.as_u16(), 408 | 429);
            return Err(FetchError {
                transient,
                retry_after,
                message: format!("HTTP {status}"),
                credentials: matches!(status.as_u16(), 401 | 403 | 407),
            });
        }
        // Sized once when the server says how long the body is (never
        // beyond the limit), rather than regrown and copied chunk by chunk.
        let expected = resp.content_length().unwrap_or(0) as usize;
        let mut body = Vec::with_capacity(expected.min(self.settings.max_body));
        while let Some(chunk) = resp.chunk().await.map_err(|e| {
            FetchError::transient(format!("reading the response failed: {}", error_chain(&e)))
        })? {
            if body.len() + chunk.len() > self.settings.max_body {
                return Err(FetchError {
                    transient: false,
                    retry_after: None,
                    message: format!(
                        "response larger than the limit of {} MiB (harvest.max-response-mib)",
                        self.settings.max_body >> 20
                    ),
                    credentials: false,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Fetch a URL and let `accept` judge the body; retry transient
    /// failures (of the transport or of the body, e.g. an HTML error page
    /// with 200) with back-off, up to the configured bound.
    async fn fetch<T>(
        &mut self,
        url: &str,
        mut accept: impl FnMut(&[u8]) -> Result<T, OaiError>,
    ) -> Result<T, HarvestError> {
        let mut attempt = 0u32;
        loop {
            if let Some(last) = self.last_request {
                let since = last.elapsed();
                if since < self.settings.delay
                    && sleep_or_shutdown(self.settings.delay - since, &mut self.shutdown).await
                {
                    return Err(HarvestError::Interrupted { pages: 0 });
                }
            }
            self.last_request = Some(Instant::now());
            self.observer.request(self.partner);
            let (transient, retry_after, message, credentials) = match self.fetch_once(url).await {
                Ok(body) => match accept(&body) {
                    Ok(v) => return Ok(v),
                    Err(e) if e.is_transient() => (true, None, e.to_string(), false),
                    Err(e) => return Err(HarvestError::Oai(e)),
                },
                Err(e) => (e.transient, e.retry_after, e.message, e.credentials),
            };
            attempt += 1;
            // Both may quote what the repository sent (a URL with its
            // token, a reqwest error that repeats the URL): cut.
            let message = cut(&message, MAX_MESSAGE_BYTES);
            let short_url = cut(url, MAX_URL_IN_MESSAGE);
            if credentials {
                return Err(HarvestError::Failed(anyhow!(
                    "{message}: the partner refused our credentials ({short_url})"
                )));
            }
            if !transient {
                return Err(HarvestError::Refused(format!("{message} ({short_url})")));
            }
            if attempt > self.settings.max_retries {
                return Err(HarvestError::Failed(anyhow!(
                    "{message} after {attempt} attempt(s) ({short_url})"
                )));
            }
            let wait = retry_after.map_or_else(|| self.backoff(attempt), |d| d.min(MAX_RETRY_WAIT));
            self.observer.retry(self.partner);
            warn!(partner = self.partner, attempt, wait_ms = wait.as_millis() as u64, url = %short_url, error = %message, "retrying request");
            if sleep_or_shutdown(wait, &mut self.shutdown).await {
                return Err(HarvestError::Interrupted { pages: 0 });
            }
        }
    }

    /// Exponential back-off with jitter for retry number `attempt` (1-based).
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .settings
            .backoff_ms
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(16));
        let jitter = rand::thread_rng().gen_range(0..=base / 4 + 1);
        Duration::from_millis(base + jitter).min(MAX_RETRY_WAIT)
    }
}

/// Parse, normalise and key one OAI record into what the store writes.
pub fn prepare_record(
    rec: OaiRecord,
    partner: &PartnerContext<'_>,
    rules: &Rules,
    options: &NormalizeOptions,
) -> PageItem {
    // The record is taken, not borrowed, so that its text moves into the
    // page item instead of being copied.
    let OaiRecord { header, metadata } = rec;
    let oai_id = header.identifier;
    if header.deleted {
        return PageItem::Delete {
            oai_id,
            datestamp: header.datestamp,
        };
    }
    let Some(raw) = metadata else {
        return PageItem::Quarantine {
            oai_id,
            reason: "record has no metadata and is not marked deleted".into(),
            raw: None,
        };
    };
    match marcxml::parse_record_checked(&raw) {
        Ok(decoded) => prepare_decoded(
            oai_id,
            header.datestamp,
            raw,
            decoded,
            partner,
            rules,
            options,
        ),
        Err(e) => PageItem::Quarantine {
            oai_id,
            reason: format!("MARCXML does not parse: {e}"),
            raw: Some(raw),
        },
    }
}

/// Normalise and key a record that was read (from OAI-PMH or a file).
pub fn prepare_decoded(
    oai_id: String,
    datestamp: String,
    raw: String,
    decoded: unicat_marc::Decoded,
    partner: &PartnerContext<'_>,
    rules: &Rules,
    options: &NormalizeOptions,
) -> PageItem {
    for w in &decoded.warnings {
        warn!(oai_id = %oai_id, warning = %w, "record repaired");
    }
    let repairs = decoded.warnings.len() as u64;
    // The partner's own fixes first, so that the built-in steps see (say)
    // its 952 already moved to 852. The raw text stays as received.
    let mut record = decoded.record;
    rules.apply(&mut record);
    let record =
        normalize::normalize_with(record, partner, options, &mut NormalizeReport::discard());
    let keys = dedup::keys::match_keys(&record);
    let xml = marcxml::to_string(&record);
    PageItem::Upsert {
        oai_id,
        datestamp,
        local_id: record.control("001").map(str::to_string),
        raw,
        content_hash: dedup::keys::content_hash(&xml),
        record: xml,
        keys,
        repairs,
    }
}

/// Run one harvest of a partner: Identify, then ListRecords (or
/// ListIdentifiers + GetRecord) from the last complete run's `from`, or
/// from the checkpoint of an interrupted run, committing page by page.
pub async fn harvest_partner(
    cfg: &HarvestConfig,
    catalogue_code: &str,
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
    let result = harvest_inner(cfg, catalogue_code, partner, store, shutdown, observer)
        .instrument(span)
        .await;
    observer.run_finished(partner.name(), result.is_ok());
    result
}

/// What a run tracks besides the state machine.
#[derive(Default)]
struct Progress {
    counts: PageCounts,
    /// Pages committed (the state machine also counts the page that may
    /// still be on its way to the store).
    pages: u32,
    empty_pages: u32,
    list_size: Option<u64>,
}

/// At most this many threads prepare one page's records.
const MAX_PREPARE_THREADS: usize = 4;

/// Pages smaller than twice this are prepared on one thread: starting
/// threads would cost more than it saves.
const MIN_RECORDS_PER_THREAD: usize = 32;

/// A page being prepared on blocking threads while the run fetches the
/// next one, with what its commit will need.
struct Preparing {
    task: tokio::task::JoinHandle<Vec<PageItem>>,
    checkpoint: Checkpoint,
    repairs: u64,
    page_no: u32,
    page_records: usize,
    token: Option<String>,
}

impl Preparing {
    /// Wait for the page's items, settle the commit before it, and start
    /// this page's commit (pages commit one at a time and in order).
    async fn hand_over(
        self,
        run_id: i64,
        committing: &mut Option<Committing>,
        store: &mut Option<Store>,
        progress: &mut Progress,
        observer: &dyn Observer,
        partner: &str,
    ) -> Result<(), HarvestError> {
        let fail = |e: anyhow::Error| HarvestError::Failed(e);
        let items = joined(self.task).await?;
        if let Some(previous) = committing.take() {
            previous.settle(store, progress, observer, partner).await?;
        }
        let mut st = store.take().ok_or_else(|| fail(anyhow!("store lost")))?;
        let (pname, checkpoint, repairs) = (partner.to_string(), self.checkpoint, self.repairs);
        let task = tokio::task::spawn_blocking(move || {
            let res = st.commit_page(run_id, &pname, &items, Some(&checkpoint), repairs);
            (st, res)
        });
        *committing = Some(Committing {
            task,
            page_no: self.page_no,
            page_records: self.page_records,
            token: self.token,
        });
        Ok(())
    }
}

/// The result of a page's blocking task (its preparation or its commit);
/// a panic in it ends the run as a failure.
async fn joined<T>(task: tokio::task::JoinHandle<T>) -> Result<T, HarvestError> {
    task.await
        .map_err(|e| HarvestError::Failed(anyhow!("page worker panicked: {e}")))
}

/// A page being committed on a blocking thread while the run fetches and
/// prepares the next ones.
struct Committing {
    task: tokio::task::JoinHandle<(Store, Result<PageCounts>)>,
    page_no: u32,
    page_records: usize,
    /// The resumption token that came with the page, for the runaway check.
    token: Option<String>,
}

impl Committing {
    /// Wait for the commit, give the store back, and count the page.
    async fn settle(
        self,
        store: &mut Option<Store>,
        progress: &mut Progress,
        observer: &dyn Observer,
        partner: &str,
    ) -> Result<(), HarvestError> {
        let (st, res) = joined(self.task).await?;
        *store = Some(st);
        let page_no = self.page_no;
        let c =
            res.map_err(|e| HarvestError::Failed(e.context(format!("committing page {page_no}"))))?;
        debug!(
            page = page_no,
            new = c.new,
            updated = c.updated,
            deleted = c.deleted,
            "page committed"
        );
        progress.counts.add(c);
        progress.pages += 1;
        observer.page(partner, page_no, progress.counts.seen(), progress.list_size);
        check_runaway(progress, self.page_records, self.token.as_deref())
    }
}

/// Parse, normalise and key the records of a page, and quarantine those
/// the protocol layer could not use (no identifier, invalid UTF-8): never
/// dropped.
///
/// The records are prepared on as many threads as there are cores (scoped
/// to this call, each taking a contiguous run of the page, so the items
/// keep the page's order): preparing is most of a harvest's CPU time, and
/// on one thread it was the longest stage of the pipeline, leaving the
/// other cores to wait.
fn prepare_page(
    page: ListPage,
    partner: &PartnerContext<'_>,
    rules: &Rules,
    options: &NormalizeOptions,
) -> Vec<PageItem> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_PREPARE_THREADS);
    let ListPage {
        records, rejected, ..
    } = page;
    let chunk = records.len().div_ceil(threads).max(1);
    let prepare = |records: Vec<OaiRecord>| -> Vec<PageItem> {
        records
            .into_iter()
            .map(|r| prepare_record(r, partner, rules, options))
            .collect()
    };
    let mut items: Vec<PageItem> = Vec::with_capacity(records.len() + rejected.len());
    if threads <= 1 || records.len() < 2 * MIN_RECORDS_PER_THREAD {
        items = prepare(records);
    } else {
        // Owned parts, one per thread, in order.
        let mut parts = Vec::with_capacity(threads);
        let mut rest = records;
        while rest.len() > chunk {
            let tail = rest.split_off(chunk);
            parts.push(std::mem::replace(&mut rest, tail));
        }
        parts.push(rest);
        std::thread::scope(|scope| {
            let workers: Vec<_> = parts
                .into_iter()
                .map(|part| scope.spawn(move || prepare(part)))
                .collect();
            for worker in workers {
                match worker.join() {
                    Ok(part) => items.extend(part),
                    // A panic in a worker is a bug; it reaches the caller
                    // as the page task's panic, as it did on one thread.
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        });
    }
    items.extend(rejected.iter().map(|r| {
        PageItem::Quarantine {
            oai_id: r
                .identifier
                .clone()
                .unwrap_or_else(|| "(no identifier)".into()),
            reason: r.reason.clone(),
            raw: Some(String::from_utf8_lossy(&r.raw).into_owned()),
        }
    }));
    for item in &items {
        if let PageItem::Quarantine { oai_id, reason, .. } = item {
            warn!(
                oai_id,
                reason,
                event = %crate::telemetry::event::QUARANTINED,
                "record quarantined"
            );
        }
    }
    items
}

async fn harvest_inner(
    cfg: &HarvestConfig,
    catalogue_code: &str,
    partner: &Partner,
    mut store: Store,
    shutdown: watch::Receiver<bool>,
    observer: &dyn Observer,
) -> Result<HarvestReport, HarvestError> {
    let started = Instant::now();
    let run_started_at = chrono::Utc::now();
    let name = partner.name().to_string();
    let base = partner.base_url().to_string();
    let fail = |e: anyhow::Error| HarvestError::Failed(e);

    store.tune_for_harvest().map_err(fail)?;
    store.fail_stale_runs(&name).map_err(fail)?;
    // The run is recorded before the first request, so that `status`
    // shows a partner whose endpoint does not even answer Identify.
    let run_id = store.begin_run(&name).map_err(fail)?;
    tracing::Span::current().record("run_id", run_id);
    observer.run_started(&name, run_id);
    let mut progress = Progress::default();

    let settings = match run_settings(cfg, partner) {
        Ok(s) => s,
        Err(e) => {
            let e = fail(e);
            record_failure(
                &mut store,
                run_id,
                &name,
                &e,
                FailedAt::Start,
                PageCounts::default(),
                started.elapsed(),
            );
            return Err(e);
        }
    };
    let mut fetcher = Fetcher::new(settings, &name, observer, shutdown.clone());
    let planned = match fetcher
        .fetch(&Request::Identify.url(&base), unicat_oai::parse_identify)
        .await
    {
        Ok(identify) => {
            plan_run(&store, cfg, partner, &identify).map(|(from, m)| (identify, from, m))
        }
        Err(e) => Err(e),
    };
    let (identify, from, mut machine) = match planned {
        Ok(v) => v,
        Err(e) => {
            let e = e;
            record_failure(
                &mut store,
                run_id,
                &name,
                &e,
                FailedAt::Start,
                PageCounts::default(),
                started.elapsed(),
            );
            return Err(e);
        }
    };
    store.set_run_from(run_id, from.as_deref()).map_err(fail)?;
    if identify.deleted_record == unicat_oai::DeletedRecord::No
        && partner.reconcile_schedule.is_none()
    {
        // Such a repository never reports deletions: without a scheduled
        // reconciliation, records it drops stay in the union catalogue.
        warn!(
            partner = %name,
            "the repository does not report deletions (deletedRecord no); set reconcile-schedule for this partner"
        );
    }
    info!(
        partner = %name,
        from = from.as_deref().unwrap_or("(full)"),
        granularity = identify.granularity.as_str(),
        deleted_record = identify.deleted_record.as_str(),
        earliest = %identify.earliest_datestamp,
        "harvest started"
    );

    let mut store = Some(store);
    let mut day_retry_done = false;
    // Three pages are in hand at most: while one is committed on a
    // blocking thread, the next is prepared (parsed, normalised, keyed) on
    // the other cores and the one after it is fetched, so that the HTTP
    // round trip and the response's parse, which need the previous
    // response's token and so run one at a time, overlap with the rest.
    // Pages are still committed one at a time and in order, each with its
    // own checkpoint.
    let mut preparing: Option<Preparing> = None;
    // What every page's preparation needs, made once per run (the rules
    // compile their patterns) and shared with each page's task.
    let ctx_code: std::sync::Arc<str> = partner.code().into();
    let rules = std::sync::Arc::new(partner.compiled_rules());
    let options = std::sync::Arc::new(partner.normalize_options(catalogue_code));
    let mut committing: Option<Committing> = None;
    let result: Result<(), HarvestError> = async {
        while let Some(url) = machine.url() {
            if *shutdown.borrow() {
                // The page being committed finishes below.
                return Err(HarvestError::Interrupted { pages: 0 });
            }
            let mut repairs = unicat_oai::Repairs::default();
            let step = fetcher
                .fetch(&url, |body| {
                    let (clean, r) = unicat_oai::sanitize(body);
                    repairs = r;
                    machine.on_response(&clean)
                })
                .await;
            let step = match step {
                Ok(step) => step,
                // A repository that only knows day granularity, although
                // Identify said seconds: ask once more with a day `from`.
                Err(HarvestError::Oai(OaiError::Protocol { code: ErrorCode::BadArgument, message }))
                    if machine.pages() == 0 && !day_retry_done && from.as_deref().is_some_and(|f| f.contains('T')) =>
                {
                    day_retry_done = true;
                    let day = from.as_deref().map(|f| f[..10].to_string());
                    warn!(partner = %name, error = %message, from = day.as_deref().unwrap_or(""), "badArgument with a seconds `from`; retrying in day granularity");
                    let req = ListRequest {
                        from: day,
                        ..machine.list_request().clone()
                    };
                    machine = ListHarvest::new(base.clone(), machine.verb(), req);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let page = match step {
                Step::Page(page) => page,
                Step::Done => break,
                Step::Restarted => {
                    warn!(partner = %name, "repository rejected the resumption token; restarting the list");
                    continue;
                }
            };
            if repairs.total() > 0 {
                warn!(partner = %name, page = machine.pages(), repaired = repairs.total(), "invalid XML characters removed from the response");
            }
            let page = if partner.mode == HarvestMode::Identifiers {
                fetch_records(&mut fetcher, &base, &partner.metadata_prefix, page).await?
            } else {
                page
            };
            let checkpoint = Checkpoint {
                token: machine.resumption_token().map(str::to_string),
                cursor: page.resumption_token.as_ref().and_then(|t| t.cursor),
                from: machine.list_request().from.clone(),
                first_response_date: machine.first_response_date().map(str::to_string),
            };
            if let Some(size) = page.resumption_token.as_ref().and_then(|t| t.complete_list_size) {
                progress.list_size.get_or_insert(size);
            }
            let page_records = page.records.len() + page.rejected.len();
            let token = machine.resumption_token().map(str::to_string);
            let (ctx_code, rules, options) = (ctx_code.clone(), rules.clone(), options.clone());
            // Parsing and normalising are blocking work: off the async
            // threads, alongside the next fetch and the previous commit.
            let task = tokio::task::spawn_blocking(move || {
                let ctx = PartnerContext { code: &ctx_code };
                prepare_page(page, &ctx, &rules, &options)
            });
            let next = Preparing {
                task,
                checkpoint,
                repairs: repairs.total(),
                page_no: machine.pages(),
                page_records,
                token,
            };
            if let Some(previous) = preparing.replace(next) {
                let handed = previous
                    .hand_over(run_id, &mut committing, &mut store, &mut progress, observer, &name)
                    .await;
                if let Err(e) = handed {
                    // A failed commit (or runaway list) ends the run here:
                    // the page after it must not commit, or its checkpoint
                    // would pass over the failed page's records.
                    preparing = None;
                    return Err(e);
                }
            }
        }
        Ok(())
    }
    .await;
    // However the loop ended, a page already fetched is still committed,
    // and the page being committed is finished (and counted), as they
    // would have been had the loop stopped a moment later; an error of the
    // loop wins over one of the commits.
    let pending = match preparing.take() {
        Some(p) => {
            p.hand_over(
                run_id,
                &mut committing,
                &mut store,
                &mut progress,
                observer,
                &name,
            )
            .await
        }
        None => Ok(()),
    };
    let settled = match committing.take() {
        Some(c) => c.settle(&mut store, &mut progress, observer, &name).await,
        None => Ok(()),
    };
    let result = match result.and(pending).and(settled) {
        Err(HarvestError::Interrupted { .. }) => Err(HarvestError::Interrupted {
            pages: progress.pages,
        }),
        other => other,
    };
    let mut store = store.ok_or_else(|| fail(anyhow!("store lost")))?;
    let duration = started.elapsed();
    let counts = progress.counts;
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
                .finish_run(
                    run_id,
                    &name,
                    RunOutcome::Ok,
                    next_from.as_deref(),
                    None,
                    true,
                )
                .map_err(fail)?;
            info!(
                partner = %name,
                pages = machine.pages(),
                seen = counts.seen(),
                new = counts.new,
                updated = counts.updated,
                unchanged = counts.unchanged,
                deleted = counts.deleted,
                quarantined = counts.quarantined,
                repaired = counts.repaired,
                duration_ms = duration.as_millis() as u64,
                next_from = next_from.as_deref().unwrap_or(""),
                event = %crate::telemetry::event::HARVEST_COMPLETE,
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
                FailedAt::List {
                    pages: progress.pages,
                },
                counts,
                duration,
            );
            Err(e)
        }
    }
}

/// Decide where the run starts: at the checkpoint of an interrupted run,
/// or with the last complete run's `from` in the repository's granularity.
fn plan_run(
    store: &Store,
    cfg: &HarvestConfig,
    partner: &Partner,
    identify: &unicat_oai::Identify,
) -> Result<(Option<String>, ListHarvest), HarvestError> {
    let fail = |e: anyhow::Error| HarvestError::Failed(e);
    let name = partner.name();
    let base = partner.base_url().to_string();
    let verb = match partner.mode {
        HarvestMode::ListRecords => Verb::ListRecords,
        HarvestMode::Identifiers => Verb::ListIdentifiers,
    };
    let request = |from: Option<String>| ListRequest {
        metadata_prefix: partner.metadata_prefix.clone(),
        set: partner.set.clone(),
        from,
        until: None,
    };
    let checkpoint = match store.checkpoint(name).map_err(fail)? {
        // Written by a version without the bound on tokens: following it
        // could only fail (and did, on every run).
        Some(cp)
            if cp
                .token
                .as_ref()
                .is_some_and(|t| t.len() > unicat_oai::MAX_TOKEN_BYTES) =>
        {
            warn!(
                partner = %name,
                token_bytes = cp.token.as_ref().map_or(0, String::len),
                "the checkpointed resumption token is over the limit; restarting the list"
            );
            None
        }
        cp => cp,
    };
    if let Some(cp) = checkpoint {
        let token = cp.token.clone().unwrap_or_default();
        info!(partner = %name, cursor = cp.cursor, "resuming an interrupted run from its checkpoint");
        let machine = ListHarvest::resume_from(base, verb, request(cp.from.clone()), token)
            .with_first_response_date(cp.first_response_date.clone().unwrap_or_default());
        return Ok((cp.from, machine));
    }
    let from = match store.next_from(name).map_err(fail)? {
        Some(prev) => {
            let t = unicat_oai::parse_datestamp(&prev).map_err(|e| {
                fail(anyhow!(
                    "stored next `from` {prev:?} is not a datestamp: {e}"
                ))
            })?;
            let t = t - chrono::Duration::seconds(cfg.overlap_secs as i64);
            Some(identify.granularity.format(t))
        }
        None => None,
    };
    let machine = ListHarvest::new(base, verb, request(from.clone()));
    Ok((from, machine))
}

/// Stop a list that will not end: endless empty pages, or far more
/// records than the repository announced.
fn check_runaway(
    progress: &mut Progress,
    page_records: usize,
    token: Option<&str>,
) -> Result<(), HarvestError> {
    let token = token.unwrap_or("");
    if page_records == 0 && !token.is_empty() {
        progress.empty_pages += 1;
        if progress.empty_pages >= MAX_EMPTY_PAGES {
            return Err(HarvestError::Runaway(format!(
                "{} pages in a row without a record; the list does not end (last token {:?})",
                progress.empty_pages,
                cut(token, MAX_URL_IN_MESSAGE)
            )));
        }
    } else {
        progress.empty_pages = 0;
    }
    if let Some(size) = progress.list_size {
        let seen = progress.counts.seen();
        if !token.is_empty() && seen > size.saturating_mul(2) + LIST_SIZE_SLACK {
            return Err(HarvestError::Runaway(format!(
                "{seen} records received for a list of {size} (completeListSize); the list loops (last token {:?})",
                cut(token, MAX_URL_IN_MESSAGE)
            )));
        }
    }
    Ok(())
}

/// ListIdentifiers mode: replace each live header of the page by the
/// record from GetRecord (deleted headers stay as they are).
async fn fetch_records(
    fetcher: &mut Fetcher<'_>,
    base: &str,
    prefix: &str,
    mut page: ListPage,
) -> Result<ListPage, HarvestError> {
    let mut records = Vec::with_capacity(page.records.len());
    // GetRecord requests of this page, and those refused at the HTTP level.
    let (mut asked, mut refused) = (0usize, None::<(usize, String)>);
    for header in std::mem::take(&mut page.records) {
        if header.header.deleted {
            records.push(header);
            continue;
        }
        asked += 1;
        let url = Request::GetRecord {
            identifier: header.header.identifier.clone(),
            metadata_prefix: prefix.to_string(),
        }
        .url(base);
        match fetcher.fetch(&url, unicat_oai::parse_get_record).await {
            Ok(rec) => records.push(rec),
            // The record's problem, not the run's: a GetRecord answer
            // without a record (some repositories' way of saying deleted,
            // when it is not a deleted header, which parses as a deletion),
            // an identifier the repository listed but now says does not
            // exist, a format it cannot give for this record. Each is
            // quarantined with its reason and the run goes on; a later run
            // that gets the record supersedes the entry. A deletion is
            // never inferred: the listing said the record is live.
            Err(HarvestError::Oai(e)) => {
                let reason = match &e {
                    OaiError::Protocol {
                        code: ErrorCode::IdDoesNotExist,
                        ..
                    } => format!("listed by ListIdentifiers as live, but GetRecord says: {e}"),
                    _ => format!("GetRecord: {e}"),
                };
                page.rejected.push(unicat_oai::RejectedRecord {
                    identifier: Some(header.header.identifier.clone()),
                    reason,
                    raw: Vec::new(),
                })
            }
            // An HTTP answer that asking again will not change (404 or 410
            // for this identifier, a record over the size limit) is this
            // record's problem too: failing the run would fail every later
            // run at the same record. Unless every GetRecord of the page is
            // refused (a redirect not followed, an endpoint answering 400
            // to everything): that is the endpoint's problem, and the run
            // fails as it would on a list request.
            Err(HarvestError::Refused(message)) => {
                page.rejected.push(unicat_oai::RejectedRecord {
                    identifier: Some(header.header.identifier.clone()),
                    reason: format!("GetRecord refused: {message}"),
                    raw: Vec::new(),
                });
                let n = refused.as_ref().map_or(0, |(n, _)| *n);
                refused = Some((n + 1, message));
            }
            Err(e) => return Err(e),
        }
    }
    if let Some((n, message)) = refused {
        if n == asked && n > 1 {
            return Err(HarvestError::Refused(format!(
                "every GetRecord of the page was refused, the last: {message}"
            )));
        }
    }
    page.records = records;
    Ok(page)
}

/// Close a failed run in the store and log its summary line.
/// Where a run failed: before its list was asked for (the settings,
/// Identify, the plan) or while walking the list, after `pages` pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailedAt {
    Start,
    List { pages: u32 },
}

fn record_failure(
    store: &mut Store,
    run_id: i64,
    name: &str,
    e: &HarvestError,
    at: FailedAt,
    counts: PageCounts,
    duration: Duration,
) {
    let msg = cut(&e.to_string(), MAX_MESSAGE_BYTES).into_owned();
    // Resuming would only repeat a failure of the list that is not
    // transient (a protocol error, a runaway list, an answer such as HTTP
    // 400 to the token): the checkpoint goes, and the next run starts the
    // list again. Transient failures (the endpoint down, timeouts) keep
    // it, and so does any failure before the list was asked for (Identify
    // answering 404 during maintenance): the token was never sent.
    let pages = match at {
        FailedAt::Start => 0,
        FailedAt::List { pages } => pages,
    };
    let drop_checkpoint = at != FailedAt::Start
        && matches!(
            e,
            HarvestError::Oai(_) | HarvestError::Runaway(_) | HarvestError::Refused(_)
        );
    // A run stopped on purpose (shutdown, Ctrl-C, the lease taken over)
    // did nothing wrong: it has its own outcome, is not counted among the
    // failures, and is told at info.
    let interrupted = matches!(e, HarvestError::Interrupted { .. });
    let outcome = if interrupted {
        RunOutcome::Interrupted
    } else {
        RunOutcome::Failed
    };
    let had_checkpoint = drop_checkpoint && store.checkpoint(name).is_ok_and(|cp| cp.is_some());
    match store.finish_run(run_id, name, outcome, None, Some(&msg), drop_checkpoint) {
        Err(se) => {
            warn!(partner = %name, error = %format!("{se:#}"), "could not record the run's end")
        }
        Ok(()) if had_checkpoint => warn!(
            partner = %name,
            "the failure is not transient: checkpoint dropped, the next run starts the list again"
        ),
        Ok(()) => {}
    }
    if interrupted {
        info!(
            partner = %name,
            pages,
            seen = counts.seen(),
            new = counts.new,
            updated = counts.updated,
            unchanged = counts.unchanged,
            deleted = counts.deleted,
            quarantined = counts.quarantined,
            repaired = counts.repaired,
            duration_ms = duration.as_millis() as u64,
            "harvest interrupted; `from` not advanced, the next run resumes from the last committed page"
        );
        return;
    }
    warn!(
        partner = %name,
        pages,
        seen = counts.seen(),
        new = counts.new,
        updated = counts.updated,
        unchanged = counts.unchanged,
        deleted = counts.deleted,
        quarantined = counts.quarantined,
        repaired = counts.repaired,
        duration_ms = duration.as_millis() as u64,
        error = %msg,
        event = %crate::telemetry::event::HARVEST_FAILED,
        "harvest failed; `from` not advanced"
    );
}

/// Reconciliation for repositories that do not report deletions
/// (`deletedRecord` `no`): a full ListIdentifiers listing, saved page by
/// page in the store, then every live record it does not contain is marked
/// deleted — unless the listing is shorter than `reconcile-min-ratio` of
/// what we hold. Returns (live records before, identifiers listed, deleted).
pub async fn reconcile_partner(
    cfg: &HarvestConfig,
    partner: &Partner,
    mut store: Store,
    shutdown: watch::Receiver<bool>,
    observer: &dyn Observer,
) -> Result<(u64, u64, u64), HarvestError> {
    let name = partner.name().to_string();
    let fail = |e: anyhow::Error| HarvestError::Failed(e);
    let settings = run_settings(cfg, partner).map_err(fail)?;
    let mut fetcher = Fetcher::new(settings, &name, observer, shutdown.clone());
    let request = ListRequest {
        metadata_prefix: partner.metadata_prefix.clone(),
        set: partner.set.clone(),
        from: None,
        until: None,
    };
    let mut machine = ListHarvest::new(
        partner.base_url().to_string(),
        Verb::ListIdentifiers,
        request,
    );
    store.reconcile_begin(&name).map_err(fail)?;
    let mut progress = Progress::default();
    while let Some(url) = machine.url() {
        if *shutdown.borrow() {
            return Err(HarvestError::Interrupted {
                pages: machine.pages(),
            });
        }
        let step = fetcher
            .fetch(&url, |body| {
                let (clean, _) = unicat_oai::sanitize(body);
                machine.on_response(&clean)
            })
            .await?;
        let page = match step {
            Step::Page(page) => page,
            Step::Done => break,
            Step::Restarted => {
                store.reconcile_begin(&name).map_err(fail)?;
                continue;
            }
        };
        if let Some(size) = page
            .resumption_token
            .as_ref()
            .and_then(|t| t.complete_list_size)
        {
            progress.list_size.get_or_insert(size);
        }
        let ids: Vec<String> = page
            .records
            .iter()
            .filter(|r| !r.header.deleted)
            .map(|r| r.header.identifier.clone())
            .collect();
        progress.counts.unchanged += page.records.len() as u64;
        store.reconcile_seen(&name, &ids).map_err(fail)?;
        check_runaway(
            &mut progress,
            page.records.len(),
            machine.resumption_token(),
        )?;
    }
    let (live, listed, deleted) = store
        .reconcile_apply(&name, partner.reconcile_min_ratio)
        .map_err(|e| fail(e.context(format!("reconciling {name}"))))?;
    info!(partner = %name, live, listed, deleted, "reconciliation complete");
    Ok((live, listed, deleted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).unwrap()
    }

    const WITH: Result<Follow, String> = Ok(Follow {
        credentials: true,
        named: true,
    });

    /// Regression (hardening #19, item 1): a redirect to a link-local or
    /// cloud metadata address is never followed unless redirect-hosts
    /// names that host itself; `*` does not cover it. (The hostile test
    /// module cannot pin this against a real server: a redirect followed
    /// by mistake would leave the machine.)
    #[test]
    fn redirect_to_metadata_address_is_refused() {
        let base = url("https://oai.example.org/oai");
        let any = vec!["*".to_string()];
        for to in [
            "http://169.254.169.254/latest/meta-data/",
            "http://[fe80::1]/x",
            "http://[::ffff:169.254.169.254]/x",
            "http://[fd00:ec2::254]/x",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://METADATA.google.internal./x",
        ] {
            let to = url(to);
            assert!(redirect_verdict(&base, &to, &[]).is_err(), "{to}");
            assert!(redirect_verdict(&base, &to, &any).is_err(), "{to} with *");
        }
        let named = vec!["169.254.169.254".to_string()];
        assert_eq!(
            redirect_verdict(&base, &url("http://169.254.169.254/x"), &named),
            Ok(Follow {
                credentials: false,
                named: true
            })
        );
    }

    /// The partner's own origin (and its https upgrade) gets credentials;
    /// other hosts, ports or a downgrade only when listed, and never with
    /// them.
    #[test]
    fn redirect_policy() {
        let base = url("http://oai.example.org/oai");
        assert_eq!(
            redirect_verdict(&base, &url("http://oai.example.org/new?verb=Identify"), &[]),
            WITH
        );
        assert_eq!(
            redirect_verdict(&base, &url("https://oai.example.org/oai"), &[]),
            WITH
        );
        for other in [
            "http://other.example.org/oai",
            "http://oai.example.org:8080/oai",
            "ftp://oai.example.org/oai",
        ] {
            assert!(
                redirect_verdict(&base, &url(other), &[]).is_err(),
                "{other}"
            );
        }
        let https = url("https://oai.example.org/oai");
        assert!(redirect_verdict(&https, &url("http://oai.example.org/oai"), &[]).is_err());
        let listed = vec![
            "other.example.org".to_string(),
            "oai.example.org:8080".into(),
        ];
        for to in [
            "http://other.example.org/x",
            "http://oai.example.org:8080/x",
        ] {
            assert_eq!(
                redirect_verdict(&base, &url(to), &listed),
                Ok(Follow {
                    credentials: false,
                    named: true
                }),
                "{to}"
            );
        }
        assert!(redirect_verdict(&base, &url("http://oai.example.org:9090/x"), &listed).is_err());
        assert_eq!(
            redirect_verdict(&base, &url("http://cdn.example.net/x"), &["*".to_string()]),
            Ok(Follow {
                credentials: false,
                named: false
            })
        );
    }
}
