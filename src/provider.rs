//! The union catalogue as an OAI-PMH 2.0 repository: the daemon's
//! `[provider]` endpoint, serving the union records straight from the store.
//!
//! It answers all six verbs on `/oai`, by GET or by POST
//! (`application/x-www-form-urlencoded`), and every error code of the
//! protocol. It must never write to the store and never read more of the
//! catalogue than one page: each request opens its own reading handle on
//! the store the configuration names ([`Store::open_reader`]: a read-only
//! SQLite connection, or a pooled PostgreSQL one) on the blocking pool,
//! reads one page inside one read snapshot (consistent while a harvest
//! writes), turns it into XML with `unicat_oai::write` and drops the
//! handle. The queries themselves are the store's (`store::listing`); this
//! module holds no SQL, so it serves either backend the same way.
//! Memory per request is bounded by `page-size` records, whatever the size
//! of the catalogue, and at most [`MAX_CONCURRENT_REQUESTS`] requests read
//! the store at once. This is what "responses stream" means here: pages,
//! not a whole-catalogue document. Connections are bounded too (see
//! [`serve`]): a request head within `header-read-timeout-secs`, nothing
//! idle past `idle-timeout-secs`, at most `max-connections` at once.
//!
//! Decisions, as a harvester sees them:
//!
//! - **Identifiers** are `oai:unicat:<cluster id>` (for example
//!   `oai:unicat:uc3f2a…`), the union record's 001. The namespace part is
//!   fixed rather than derived from `catalogue-code`, so that renaming the
//!   catalogue does not make every record look new to harvesters. Any other
//!   identifier is `idDoesNotExist`.
//! - **Datestamps** are `union_records.updated_at`, the time the union
//!   record last changed (content or deletion), in seconds granularity.
//!   Union records written before the store had that column (schema
//!   migration 5) have none; they are served with [`LEGACY_DATESTAMP`] so
//!   that every header has one and `from`/`until` treat them consistently.
//!   `earliestDatestamp` is the smallest datestamp (now, if the catalogue is
//!   empty).
//! - **`from`/`until`** take day or seconds granularity, both the same; a
//!   day `until` covers the whole day. Anything else (fractions, zones,
//!   mixed granularities, `from` after `until`) is `badArgument`.
//! - **Lists are ordered by (datestamp, cluster id)**, the store's
//!   `union_updated` index, so every page is one index seek however large
//!   the catalogue and however narrow the `from`/`until` window; ordering by
//!   cluster id alone would scan the whole catalogue for each page of an
//!   incremental harvest. A list is pinned at its first request: without
//!   `until`, or with one in the future, `until` is that time. A record that
//!   changes while a harvester pages moves past the pin and comes with the
//!   harvester's next incremental run (whose `from`, this list's first
//!   `responseDate`, is inclusive), so no change is missed, a list always
//!   ends, and a record is returned twice only if it changed within the very
//!   second the list began.
//! - **Resumption tokens are stateless**: base64url of a small JSON text
//!   (verb, metadataPrefix, from, the pinned until, set, the position of the
//!   last record returned, cursor, completeListSize) followed by a SHA-256
//!   check value. Nothing is kept in memory, so a token survives a daemon
//!   restart and never expires (no `expirationDate`). A token that does not
//!   decode, fails its check, names another verb, or a set that no longer
//!   exists is `badResumptionToken`. The check catches corruption, not a
//!   determined forger, and need not: a token only holds arguments a client
//!   may send anyway. `completeListSize` is counted once, on the first page
//!   (one index range count), and carried in the token; the last page of a
//!   list that had more than one carries an empty `resumptionToken`.
//! - **Sets**: one per configured partner. The setSpec is the partner's
//!   holdings code, with every byte outside the characters the schema allows
//!   (`A-Za-z0-9-_.!*'()`) and `~` itself written as `~XX` (hex), so
//!   `AZ-BaNL` stays `AZ-BaNL` and distinct codes never share a setSpec. The
//!   setName is the partner's name. A live union record is in the set of
//!   every partner holding one of its members, as the store's clusters were
//!   at the last dedup pass (the same state the record's 852s show).
//!   Partners removed from the configuration have no set.
//! - **Deletions** are persistent (`deletedRecord` `persistent`): a union
//!   record whose cluster lost all its members stays as a header with
//!   `status="deleted"`. Which partners held a deleted record is no longer
//!   in the store (dedup drops a deleted source record from its cluster), so
//!   set membership of a deletion cannot be told; rather than hide
//!   deletions from selective harvesters, every deletion is listed in every
//!   set (without a setSpec). A harvester ignores the deletion of an
//!   identifier it never had. A record that merely *leaves* a set (its last
//!   member from that partner is deleted, other partners still hold it)
//!   changes and is listed in the sets it is still in, not in the one it
//!   left.
//! - **Formats**: `marc21` (the union record's MARCXML as stored) and
//!   `oai_dc`, derived from the MARC (see [`oai_dc`]). `ListMetadataFormats`
//!   with an identifier: both formats for a live record,
//!   `noMetadataFormats` for a deleted one (there is nothing left to
//!   disseminate), `idDoesNotExist` for an unknown one.
//! - **Errors**: `badVerb` (missing, repeated or unknown verb),
//!   `badArgument` (unknown, repeated or missing arguments, a
//!   `resumptionToken` with other arguments, malformed dates, a
//!   metadataPrefix or set that is not even syntactically one),
//!   `badResumptionToken`, `cannotDisseminateFormat`, `idDoesNotExist`,
//!   `noRecordsMatch` (also for a set that does not exist), `noMetadataFormats`
//!   (above), `noSetHierarchy` (a `ListSets` or `set=` when no partner is
//!   configured). OAI errors are HTTP 200. A store that cannot be read
//!   (missing, locked past the busy timeout, or its database server
//!   unreachable) is HTTP 503 with
//!   `Retry-After`, which harvesters treat as transient; a POST that is not
//!   a form is HTTP 415.
//!
//! The request parsing, token codec, date handling and the Dublin Core
//! crosswalk are pure functions; only [`ProviderState::answer_query`] reads
//! the clock and the store.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Extension;
use axum::Router;
use chrono::{NaiveDate, NaiveDateTime};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tracing::{debug, warn};
use unicat_marc::{marcxml, DataField, Record};
use unicat_oai::{
    percent_encode, write, DeletedRecord, ErrorCode, Granularity, Header, Identify, MetadataFormat,
    OaiRecord, ResumptionToken, Verb,
};

use crate::config::{Config, StoreLocation};
use crate::store::{self, listing::UnionListRow, Store};

/// The prefix of every identifier this repository serves.
pub const IDENTIFIER_PREFIX: &str = "oai:unicat:";

/// The datestamp served for union records stored before the store kept
/// one (see the module documentation).
pub const LEGACY_DATESTAMP: &str = "1970-01-01T00:00:00Z";

/// How many requests read the store at the same time; more wait their turn.
/// Each holds at most one page in memory, so this bounds the provider's
/// memory as a whole.
pub const MAX_CONCURRENT_REQUESTS: usize = 8;

/// How long a request waits for a writer's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The version of the resumption token format.
const TOKEN_VERSION: u8 = 1;

/// Bytes of SHA-256 appended to a token as its check value.
const TOKEN_CHECK_LEN: usize = 8;

/// A set: one configured partner.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SetEntry {
    /// setSpec (the escaped holdings code).
    spec: String,
    /// Partner name: the setName, and `source_records.partner`.
    partner: String,
}

/// Everything the provider needs to answer requests; built once from the
/// configuration and shared by all requests.
pub struct ProviderState {
    /// Where the store is, or why the configuration does not say (a
    /// password file that cannot be read): every request then fails with
    /// it, as with a store that cannot be read.
    store: Result<StoreLocation, String>,
    repository_name: String,
    base_url: String,
    admin_email: String,
    page_size: usize,
    sets: Vec<SetEntry>,
    permits: Semaphore,
    limits: ConnectionLimits,
    /// Where requests are counted by verb (the daemon's metrics).
    metrics: Option<Arc<crate::metrics::Metrics>>,
    /// The status page, served beside `/oai` when set (the daemon sets it).
    status: Option<crate::status::StatusSource>,
}

/// How long and how many connections the provider keeps (`[provider]`
/// `header-read-timeout-secs`, `idle-timeout-secs`, `max-connections`).
/// Without them, clients that opened connections and sent nothing (or
/// vanished half-open) were kept for ever, and 1,100 of them used up the
/// daemon's file descriptors: Identify stopped answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time to send a whole request head, from the connection's opening or
    /// the end of its previous response (so also the keep-alive idle time).
    pub header_read_timeout: Duration,
    /// Time without a byte moving either way before the connection closes.
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the listen queue.
    pub max_connections: usize,
}

impl std::fmt::Debug for ProviderState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderState")
            .field("store", &self.store)
            .field("base_url", &self.base_url)
            .field("page_size", &self.page_size)
            .field("sets", &self.sets)
            .finish_non_exhaustive()
    }
}

impl ProviderState {
    /// The provider's state for `config`, or `None` if it has no
    /// `[provider]` table.
    pub fn new(config: &Config) -> Option<ProviderState> {
        let p = config.provider.as_ref()?;
        let base_url = p
            .base_url
            .clone()
            .unwrap_or_else(|| format!("http://{}/oai", p.listen.get_ref()));
        let mut sets: Vec<SetEntry> = config
            .partners
            .iter()
            .map(|partner| SetEntry {
                spec: set_spec(partner.code()),
                partner: partner.name().to_string(),
            })
            .collect();
        sets.sort_by(|a, b| a.spec.cmp(&b.spec));
        Some(ProviderState {
            store: config.store_location().map_err(|e| format!("{e:#}")),
            repository_name: p.repository_name.clone(),
            base_url,
            // Config::check requires it; unchecked configs get none.
            admin_email: p
                .admin_email
                .as_ref()
                .map(|e| e.get_ref().clone())
                .unwrap_or_default(),
            page_size: p.page_size.clamp(1, 1000),
            sets,
            permits: Semaphore::new(MAX_CONCURRENT_REQUESTS),
            limits: ConnectionLimits {
                header_read_timeout: Duration::from_secs(p.header_read_timeout_secs.max(1)),
                idle_timeout: Duration::from_secs(p.idle_timeout_secs.max(1)),
                max_connections: p.max_connections.max(1),
            },
            metrics: None,
            status: None,
        })
    }

    /// Counts every request by verb in `metrics`
    /// (`unicat_provider_requests_total`).
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Serves the status page (`/status`, `/status.json`) beside `/oai`.
    pub fn with_status(mut self, status: crate::status::StatusSource) -> Self {
        self.status = Some(status);
        self
    }

    /// Connections served at once (`max-connections`).
    pub fn max_connections(&self) -> usize {
        self.limits.max_connections
    }

    /// The base URL written into responses (`baseURL`, `<request>`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Answer one request, given its query string (GET) or form body
    /// (POST). An OAI-PMH error is a normal answer; `Err` means the store
    /// could not be read. Blocking: reads the store.
    pub fn answer_query(&self, query: &str) -> Result<String> {
        let args = parse_form(query);
        let resp_date = store::now_rfc3339();
        let request_url = echo_url(&self.base_url, &args);
        let fail = |f: Fail| write::error(&resp_date, &request_url, &f.code, &f.message);
        let request = match parse_request(&args, &self.sets) {
            Ok(r) => r,
            Err(f) => return Ok(fail(f)),
        };
        match request {
            Request::Identify => {
                let earliest = self
                    .open()?
                    .read_snapshot(earliest_datestamp)?
                    .unwrap_or_else(|| resp_date.clone());
                let id = Identify {
                    repository_name: self.repository_name.clone(),
                    base_url: self.base_url.clone(),
                    protocol_version: "2.0".into(),
                    earliest_datestamp: earliest,
                    deleted_record: DeletedRecord::Persistent,
                    granularity: Granularity::Seconds,
                };
                Ok(write::identify(
                    &resp_date,
                    &request_url,
                    &id,
                    &self.admin_email,
                ))
            }
            Request::ListMetadataFormats { identifier } => {
                if let Some(identifier) = identifier {
                    let store = self.open()?;
                    match lookup(&store, &identifier)? {
                        None => return Ok(fail(id_does_not_exist(&identifier))),
                        Some(row) if row.deleted => {
                            return Ok(fail(Fail::new(
                                ErrorCode::NoMetadataFormats,
                                format!(
                                    "{identifier} is deleted: it has no metadata to disseminate"
                                ),
                            )))
                        }
                        Some(_) => {}
                    }
                }
                Ok(write::list_metadata_formats(
                    &resp_date,
                    &request_url,
                    &[MetadataFormat::marc21(), MetadataFormat::oai_dc()],
                ))
            }
            Request::ListSets => Ok(list_sets(&resp_date, &request_url, &self.sets)),
            Request::GetRecord { identifier, format } => {
                // One snapshot: the record and its sets as of one moment.
                self.open()?.read_snapshot(|store| {
                    let Some(row) = lookup(store, &identifier)? else {
                        return Ok(fail(id_does_not_exist(&identifier)));
                    };
                    let record = self.oai_record(store, row, Some(format))?;
                    Ok(write::get_record(&resp_date, &request_url, &record))
                })
            }
            Request::List { verb, list, token } => {
                self.list(&resp_date, &request_url, verb, &list, token.as_deref())
            }
        }
    }

    /// One page of `ListIdentifiers` or `ListRecords`: the first, or the
    /// one after `token`.
    fn list(
        &self,
        resp_date: &str,
        request_url: &str,
        verb: Verb,
        list: &ListArgs,
        token: Option<&Token>,
    ) -> Result<String> {
        // One snapshot: the count, the page and its records' sets agree.
        self.open()?
            .read_snapshot(|store| self.list_page(store, resp_date, request_url, verb, list, token))
    }

    /// [`ProviderState::list`] inside its snapshot.
    fn list_page(
        &self,
        store: &Store,
        resp_date: &str,
        request_url: &str,
        verb: Verb,
        list: &ListArgs,
        token: Option<&Token>,
    ) -> Result<String> {
        // The list is pinned at its first request: nothing stamped later
        // joins it (see the module documentation).
        let until = match &list.until {
            Some(u) if u.as_str() < resp_date => u.clone(),
            _ => resp_date.to_string(),
        };
        let spec = ListSpec {
            from: list.from.as_deref(),
            until: &until,
            partner: list.set.as_ref().map(|s| s.partner.as_str()),
        };
        let (after, cursor, total) = match token {
            Some(t) => (
                Some(Position {
                    datestamp: t.last_datestamp.clone(),
                    id: t.last_id.clone(),
                }),
                t.cursor,
                t.complete_list_size,
            ),
            None => (None, 0, count(store, &spec)?),
        };
        // One row more than a page tells whether another page follows.
        let with_record = verb == Verb::ListRecords;
        let mut rows = page(
            store,
            &spec,
            after.as_ref(),
            self.page_size + 1,
            with_record,
        )?;
        let more = rows.len() > self.page_size;
        rows.truncate(self.page_size);
        let next = match (more, rows.last()) {
            (true, Some(last)) => Some(Token {
                version: TOKEN_VERSION,
                verb: verb.as_str().to_string(),
                prefix: list.format.prefix().to_string(),
                from: list.from.clone(),
                until: until.clone(),
                set: list.set.as_ref().map(|s| s.spec.clone()),
                last_datestamp: last.updated_at.clone(),
                last_id: last.cluster_id.clone(),
                cursor: cursor + rows.len() as u64,
                complete_list_size: total,
            }),
            _ => None,
        };
        let resumption = match (&next, token) {
            (Some(next), _) => Some(next.encode()),
            // The last page of a list that had more than one.
            (None, Some(_)) => Some(String::new()),
            (None, None) => None,
        }
        .map(|token| ResumptionToken {
            token,
            complete_list_size: Some(total),
            cursor: Some(cursor),
            expiration_date: None,
        });
        let format = with_record.then_some(list.format);
        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            records.push(self.oai_record(store, row, format)?);
        }
        debug!(verb = %verb, records = records.len(), cursor, "OAI-PMH list page");
        // An empty page (possible only when the rest of a list changed
        // after the previous page) is written as noRecordsMatch: the
        // schema does not allow an empty list.
        Ok(write::list_records(
            resp_date,
            request_url,
            verb,
            &records,
            resumption.as_ref(),
        ))
    }

    /// A reading handle of this request's own.
    fn open(&self) -> Result<Store> {
        let location = self
            .store
            .as_ref()
            .map_err(|e| anyhow!("the store's location: {e}"))?;
        Store::open_reader(location, BUSY_TIMEOUT)
    }

    /// A row as an OAI record: header with sets, and metadata in `format`
    /// (none for deleted records and for `ListIdentifiers`).
    fn oai_record(
        &self,
        store: &Store,
        row: UnionListRow,
        format: Option<Format>,
    ) -> Result<OaiRecord> {
        let identifier = format!("{IDENTIFIER_PREFIX}{}", row.cluster_id);
        let sets = if row.deleted {
            Vec::new()
        } else {
            self.sets_of(store, &row.cluster_id)?
        };
        let metadata = match (format, row.deleted, row.record) {
            (Some(Format::Marc21), false, Some(xml)) => Some(xml),
            (Some(Format::OaiDc), false, Some(xml)) => Some(match marcxml::parse_record(&xml) {
                Ok(record) => oai_dc(&record, &identifier),
                Err(e) => {
                    // Union records are our own output, so this is a bug or
                    // a damaged store; the harvester still gets the record.
                    warn!(identifier, error = %e, "stored union record does not parse");
                    oai_dc(&Record::new(""), &identifier)
                }
            }),
            _ => None,
        };
        Ok(OaiRecord {
            header: Header {
                identifier,
                datestamp: row
                    .updated_at
                    .unwrap_or_else(|| LEGACY_DATESTAMP.to_string()),
                deleted: row.deleted,
                sets,
            },
            metadata,
        })
    }

    /// The setSpecs of a live union record: its members' partners.
    fn sets_of(&self, store: &Store, cluster_id: &str) -> Result<Vec<String>> {
        let mut specs = Vec::new();
        for p in store.union_partners(cluster_id)? {
            if let Some(set) = self.sets.iter().find(|s| s.partner == p) {
                specs.push(set.spec.clone());
            }
        }
        specs.sort();
        Ok(specs)
    }
}

/// The `/oai` routes: GET with a query string, POST with a form body.
pub fn router(state: Arc<ProviderState>) -> Router {
    Router::new()
        .route("/oai", get(handle_get).post(handle_post))
        .with_state(state)
}

/// Serve the provider on `listener` until `shutdown` completes; requests
/// in flight are finished first.
///
/// Connections are served here rather than by `axum::serve`, which keeps a
/// connection for as long as its client likes. At most `max-connections`
/// are served at once; further ones wait in the listen queue, so the
/// process never runs out of file descriptors. A connection is closed when
/// its client takes longer than `header-read-timeout-secs` to send a
/// request head (one that connected and sent nothing, a half-open one, an
/// idle keep-alive one, one sending its head a byte at a time), or when no
/// byte moves for `idle-timeout-secs` while no request is being answered
/// (a client that stopped reading its response or sending its body).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ProviderState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limits = state.limits;
    let status = state.status.clone();
    let mut router = router(state);
    if let Some(status) = status {
        router = router.merge(crate::status::router(status));
    }
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A free slot first, then a connection to fill it.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors (a limit below the cap), or a
                    // connection reset before it was accepted: pause rather
                    // than spin.
                    warn!(error = %e, "OAI-PMH provider cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        tokio::spawn(serve_connection(
            stream,
            router.clone(),
            limits,
            stop_rx.clone(),
            slot,
        ));
    }
    let _ = stop_tx.send(true);
    // Each connection holds a slot until it is closed: with every slot
    // back, every connection has finished.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// Descriptors the daemon needs beside the provider's connections (store,
/// harvests, sinks, metrics), for the start-up check against the limit.
pub const OTHER_DESCRIPTORS: u64 = 128;

/// The process's soft limit on open files, from `/proc/self/limits`
/// (`None` where there is no such file or it says `unlimited`).
pub fn descriptor_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// One connection, until it ends, times out, or (at shutdown) has
/// answered the request in flight.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    router: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let inner = TowerToHyperService::new(router);
    let busy = activity.clone();
    let service = hyper::service::service_fn(move |mut req: axum::http::Request<Incoming>| {
        // The handler marks the time it works on the answer (waiting for
        // the store, say), when no byte moves through no fault of the
        // client's; reading the body and writing the answer are the
        // client's time.
        req.extensions_mut().insert(Answering(busy.clone()));
        hyper::service::Service::call(&inner, req)
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut conn = std::pin::pin!(builder.serve_connection(io, service));
    let mut stopping = false;
    loop {
        let deadline = activity.last() + limits.idle_timeout;
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    debug!(error = %e, "OAI-PMH connection closed");
                }
                return;
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                conn.as_mut().graceful_shutdown();
                stopping = true;
            }
            () = tokio::time::sleep_until(deadline.into()) => {
                if activity.idle_since(limits.idle_timeout) {
                    debug!("closing an idle OAI-PMH connection");
                    // Dropping the connection closes the socket.
                    return;
                }
            }
        }
    }
}

/// A request's connection, for the handler to mark the time it works on
/// the answer (absent outside [`serve`]).
#[derive(Clone)]
struct Answering(Arc<Activity>);

/// When a connection last moved a byte, and how many of its requests are
/// being answered.
struct Activity {
    base: Instant,
    /// Milliseconds after `base` of the last byte read or written.
    last_ms: AtomicU64,
    answering: AtomicUsize,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
            answering: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// Whether nothing moved for `timeout` and no request is being answered.
    fn idle_since(&self, timeout: Duration) -> bool {
        self.answering.load(Ordering::Relaxed) == 0 && self.last().elapsed() >= timeout
    }

    /// Marks a request as being answered until the guard is dropped.
    fn answering(self: &Arc<Self>) -> AnsweringGuard {
        self.answering.fetch_add(1, Ordering::Relaxed);
        AnsweringGuard(self.clone())
    }
}

struct AnsweringGuard(Arc<Activity>);

impl Drop for AnsweringGuard {
    fn drop(&mut self) {
        self.0.touch();
        self.0.answering.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A stream that notes in [`Activity`] every byte it moves.
struct Tracked {
    inner: tokio::net::TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

async fn handle_get(
    State(state): State<Arc<ProviderState>>,
    answering: Option<Extension<Answering>>,
    RawQuery(q): RawQuery,
) -> Response {
    let _answering = answering.map(|Extension(Answering(a))| a.answering());
    respond(state, q.unwrap_or_default()).await
}

async fn handle_post(
    State(state): State<Arc<ProviderState>>,
    answering: Option<Extension<Answering>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // After the body: a client slow to send it is idle, not answered.
    let _answering = answering.map(|Extension(Answering(a))| a.answering());
    // OAI-PMH 2.0 section 3.1.1.2: POST arguments are form-encoded.
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "OAI-PMH POST requests must be application/x-www-form-urlencoded\n",
        )
            .into_response();
    }
    respond(state, String::from_utf8_lossy(&body).into_owned()).await
}

async fn respond(state: Arc<ProviderState>, query: String) -> Response {
    if let Some(m) = &state.metrics {
        let args = parse_form(&query);
        m.provider_request(
            args.iter()
                .find(|(k, _)| k == "verb")
                .map(|(_, v)| v.as_str()),
        );
    }
    // The semaphore is never closed, so acquiring only waits.
    let _permit = state.permits.acquire().await;
    let worker = state.clone();
    let result = tokio::task::spawn_blocking(move || worker.answer_query(&query)).await;
    let body = match result {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            // Usually a writer holding the database past the busy timeout:
            // transient, so harvesters are told to come back.
            warn!(error = format!("{e:#}"), "OAI-PMH request failed");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "60")],
                "the union catalogue could not be read; try again later\n",
            )
                .into_response();
        }
        Err(e) => {
            warn!(error = %e, "OAI-PMH request panicked");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    resp
}

// ---------------------------------------------------------------------
// Requests: pure parsing and validation.

/// A metadata format we disseminate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Marc21,
    OaiDc,
}

impl Format {
    fn prefix(self) -> &'static str {
        match self {
            Format::Marc21 => "marc21",
            Format::OaiDc => "oai_dc",
        }
    }

    fn from_prefix(p: &str) -> Option<Format> {
        match p {
            "marc21" => Some(Format::Marc21),
            "oai_dc" => Some(Format::OaiDc),
            _ => None,
        }
    }
}

/// A protocol error to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fail {
    code: ErrorCode,
    message: String,
}

impl Fail {
    fn new(code: ErrorCode, message: impl Into<String>) -> Fail {
        Fail {
            code,
            message: message.into(),
        }
    }

    fn bad_argument(message: impl Into<String>) -> Fail {
        Fail::new(ErrorCode::BadArgument, message)
    }
}

fn id_does_not_exist(identifier: &str) -> Fail {
    Fail::new(
        ErrorCode::IdDoesNotExist,
        format!("{identifier} is not an identifier of this repository"),
    )
}

/// The selection of a list request (from its arguments or its token).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ListArgs {
    format: Format,
    /// Lower bound, seconds granularity.
    from: Option<String>,
    /// Upper bound, seconds granularity (a day `until` is its last second).
    until: Option<String>,
    set: Option<SetEntry>,
}

/// A valid request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Request {
    Identify,
    ListMetadataFormats {
        identifier: Option<String>,
    },
    ListSets,
    GetRecord {
        identifier: String,
        format: Format,
    },
    List {
        verb: Verb,
        list: ListArgs,
        /// Boxed: a token is large and most requests have none.
        token: Option<Box<Token>>,
    },
}

/// Decodes a query string or form body (`+` is a space, `%XX` a byte).
/// Invalid escapes are kept literally and invalid UTF-8 is replaced: such
/// values then fail validation like any other wrong value.
fn parse_form(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |j: usize| bytes.get(j).and_then(|h| char::from(*h).to_digit(16));
                if let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) {
                    out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The request as the `<request>` element should echo it: the base URL
/// and the arguments, re-encoded (the writer decodes them again).
fn echo_url(base_url: &str, args: &[(String, String)]) -> String {
    let mut url = base_url.to_string();
    for (i, (k, v)) in args.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(&percent_encode(k));
        url.push('=');
        url.push_str(&percent_encode(v));
    }
    url
}

/// An identifier argument. OAI-PMH identifiers are URIs, and the
/// `<request>` element echoes the argument as an `anyURI`: a value that is
/// not even a URI reference (`x%`, a space, a character URIs never hold)
/// made a response that fails the schema. It is illegal syntax, so
/// `badArgument`, whose response echoes no arguments.
fn identifier_arg(value: &str) -> Result<String, Fail> {
    if is_uri_reference(value) {
        Ok(value.to_string())
    } else {
        Err(Fail::bad_argument(format!(
            "{value:?} is not a URI, so not an identifier"
        )))
    }
}

/// Whether `s` is made of what an RFC 3986 URI reference may hold: the
/// unreserved and reserved characters, `%` with two hex digits, and at
/// most one `#`. Brackets (IPv6 hosts only) and non-ASCII are refused:
/// stricter than the RFC, but no identifier of this repository has them.
fn is_uri_reference(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
            continue;
        }
        if !(b.is_ascii_alphanumeric() || b"-._~:/?#@!$&'()*+,;=".contains(&b)) {
            return false;
        }
        i += 1;
    }
    s.matches('#').count() <= 1
}

/// The characters the schema allows in a setSpec or metadataPrefix.
fn is_spec_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c)
}

/// `true` if `s` matches the schema's setSpec pattern.
fn is_valid_set_spec(s: &str) -> bool {
    !s.is_empty()
        && s.split(':')
            .all(|part| !part.is_empty() && part.chars().all(is_spec_char))
}

/// The setSpec of a partner code: allowed characters as they are, every
/// other byte (and `~`, the escape character) as `~XX`, so that distinct
/// codes get distinct setSpecs.
fn set_spec(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    for c in code.chars() {
        if c != '~' && is_spec_char(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("~{b:02X}"));
            }
        }
    }
    out
}

/// Checks the arguments and turns them into a request, or the protocol
/// error to answer with. Order: the verb, then which arguments are there,
/// then their values.
fn parse_request(args: &[(String, String)], sets: &[SetEntry]) -> Result<Request, Fail> {
    let verbs: Vec<&str> = args
        .iter()
        .filter(|(k, _)| k == "verb")
        .map(|(_, v)| v.as_str())
        .collect();
    let verb: Verb = match verbs.as_slice() {
        [] => {
            return Err(Fail::new(
                ErrorCode::BadVerb,
                "the verb argument is missing",
            ))
        }
        [v] => v.parse().map_err(|_| {
            Fail::new(
                ErrorCode::BadVerb,
                format!("{v:?} is not an OAI-PMH verb (they are case-sensitive)"),
            )
        })?,
        _ => {
            return Err(Fail::new(
                ErrorCode::BadVerb,
                "the verb argument is repeated",
            ))
        }
    };
    let allowed: &[&str] = match verb {
        Verb::Identify => &[],
        Verb::ListMetadataFormats => &["identifier"],
        Verb::ListSets => &["resumptionToken"],
        Verb::GetRecord => &["identifier", "metadataPrefix"],
        Verb::ListIdentifiers | Verb::ListRecords => {
            &["metadataPrefix", "from", "until", "set", "resumptionToken"]
        }
    };
    let mut seen: Vec<&str> = Vec::new();
    for (k, _) in args.iter().filter(|(k, _)| k != "verb") {
        if !allowed.contains(&k.as_str()) {
            return Err(Fail::bad_argument(format!(
                "{k:?} is not an argument of {verb}"
            )));
        }
        if seen.contains(&k.as_str()) {
            return Err(Fail::bad_argument(format!("the {k} argument is repeated")));
        }
        seen.push(k);
    }
    let arg = |name: &str| {
        args.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if arg("resumptionToken").is_some() && seen.len() > 1 {
        return Err(Fail::bad_argument(
            "resumptionToken is an exclusive argument: send it with the verb only",
        ));
    }
    let required = |name: &str| {
        arg(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Fail::bad_argument(format!("{verb} needs the {name} argument")))
    };
    match verb {
        Verb::Identify => Ok(Request::Identify),
        Verb::ListMetadataFormats => Ok(Request::ListMetadataFormats {
            identifier: arg("identifier").map(identifier_arg).transpose()?,
        }),
        Verb::ListSets => {
            if sets.is_empty() {
                return Err(Fail::new(
                    ErrorCode::NoSetHierarchy,
                    "this repository has no partners configured, so no sets",
                ));
            }
            match arg("resumptionToken") {
                Some(_) => Err(Fail::new(
                    ErrorCode::BadResumptionToken,
                    "this repository lists its sets in one response and issues no ListSets tokens",
                )),
                None => Ok(Request::ListSets),
            }
        }
        Verb::GetRecord => {
            let identifier = identifier_arg(required("identifier")?)?;
            let format = format_arg(required("metadataPrefix")?)?;
            Ok(Request::GetRecord { identifier, format })
        }
        Verb::ListIdentifiers | Verb::ListRecords => {
            if let Some(t) = arg("resumptionToken") {
                let token = Token::decode(t, verb).ok_or_else(|| {
                    Fail::new(
                        ErrorCode::BadResumptionToken,
                        format!(
                            "{t:?} is not a resumption token this repository issued for {verb}"
                        ),
                    )
                })?;
                let list = token.list_args(sets).ok_or_else(|| {
                    Fail::new(
                        ErrorCode::BadResumptionToken,
                        "the resumption token names a set or format that no longer exists",
                    )
                })?;
                return Ok(Request::List {
                    verb,
                    list,
                    token: Some(Box::new(token)),
                });
            }
            let format = format_arg(required("metadataPrefix")?)?;
            let from = arg("from").map(|v| parse_date("from", v)).transpose()?;
            let until = arg("until").map(|v| parse_date("until", v)).transpose()?;
            if let (Some((_, fg)), Some((_, ug))) = (&from, &until) {
                if fg != ug {
                    return Err(Fail::bad_argument(
                        "from and until must have the same granularity",
                    ));
                }
            }
            let from = from.map(|(d, _)| d.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            let until = until.map(|(d, g)| {
                let d = match g {
                    // A day `until` includes the whole day.
                    Granularity::Day => d + chrono::Duration::seconds(86_399),
                    Granularity::Seconds => d,
                };
                d.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            });
            if let (Some(f), Some(u)) = (&from, &until) {
                if f > u {
                    return Err(Fail::bad_argument("from is later than until"));
                }
            }
            let set = match arg("set") {
                None => None,
                Some(s) => {
                    if !is_valid_set_spec(s) {
                        return Err(Fail::bad_argument(format!("{s:?} is not a setSpec")));
                    }
                    if sets.is_empty() {
                        return Err(Fail::new(
                            ErrorCode::NoSetHierarchy,
                            "this repository has no partners configured, so no sets",
                        ));
                    }
                    match sets.iter().find(|e| e.spec == s) {
                        Some(e) => Some(e.clone()),
                        None => {
                            return Err(Fail::new(
                                ErrorCode::NoRecordsMatch,
                                format!("there is no set {s:?} (see ListSets)"),
                            ))
                        }
                    }
                }
            };
            Ok(Request::List {
                verb,
                list: ListArgs {
                    format,
                    from,
                    until,
                    set,
                },
                token: None,
            })
        }
    }
}

fn format_arg(prefix: &str) -> Result<Format, Fail> {
    if !prefix.chars().all(is_spec_char) {
        return Err(Fail::bad_argument(format!(
            "{prefix:?} is not a metadataPrefix"
        )));
    }
    Format::from_prefix(prefix).ok_or_else(|| {
        Fail::new(
            ErrorCode::CannotDisseminateFormat,
            format!("{prefix:?} is not served here: use marc21 or oai_dc"),
        )
    })
}

/// A `from`/`until` value: exactly `YYYY-MM-DD` or `YYYY-MM-DDThh:mm:ssZ`.
fn parse_date(name: &str, value: &str) -> Result<(NaiveDateTime, Granularity), Fail> {
    let bad = || {
        Fail::bad_argument(format!(
            "{name}={value:?} is not a date in YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ"
        ))
    };
    // Both shapes start with four digits, so chrono's variable-width year
    // cannot stretch into a different length.
    if !value.bytes().take(4).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match value.len() {
        10 => NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map(|d| (d.and_time(chrono::NaiveTime::MIN), Granularity::Day))
            .map_err(|_| bad()),
        20 if value.ends_with('Z') => {
            NaiveDateTime::parse_from_str(&value[..19], "%Y-%m-%dT%H:%M:%S")
                .map(|d| (d, Granularity::Seconds))
                .map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

// ---------------------------------------------------------------------
// Resumption tokens.

/// What a resumption token carries. Serialised as JSON with short names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Token {
    #[serde(rename = "v")]
    version: u8,
    #[serde(rename = "verb")]
    verb: String,
    #[serde(rename = "p")]
    prefix: String,
    #[serde(rename = "f")]
    from: Option<String>,
    #[serde(rename = "u")]
    until: String,
    #[serde(rename = "s")]
    set: Option<String>,
    /// Datestamp of the last record returned (`None`: it had none).
    #[serde(rename = "d")]
    last_datestamp: Option<String>,
    /// Cluster id of the last record returned.
    #[serde(rename = "i")]
    last_id: String,
    /// Records returned before the next page.
    #[serde(rename = "c")]
    cursor: u64,
    #[serde(rename = "n")]
    complete_list_size: u64,
}

impl Token {
    fn encode(&self) -> String {
        // Serialising a struct of strings and integers cannot fail.
        let mut bytes = serde_json::to_vec(self).unwrap_or_default();
        let check = token_check(&bytes);
        bytes.extend_from_slice(&check);
        base64url_encode(&bytes)
    }

    /// The token, if it is one we issued for `verb` and its contents are
    /// well-formed.
    fn decode(s: &str, verb: Verb) -> Option<Token> {
        let bytes = base64url_decode(s.trim())?;
        let split = bytes.len().checked_sub(TOKEN_CHECK_LEN)?;
        let (payload, check) = bytes.split_at(split);
        if token_check(payload) != check {
            return None;
        }
        let t: Token = serde_json::from_slice(payload).ok()?;
        let seconds = |d: &str| matches!(parse_date("", d), Ok((_, Granularity::Seconds)));
        let ok = t.version == TOKEN_VERSION
            && t.verb == verb.as_str()
            && t.from.as_deref().is_none_or(seconds)
            && seconds(&t.until)
            && t.last_datestamp.as_deref().is_none_or(seconds)
            && !t.last_id.is_empty();
        ok.then_some(t)
    }

    /// The list the token continues, if its set and format still exist.
    fn list_args(&self, sets: &[SetEntry]) -> Option<ListArgs> {
        let set = match &self.set {
            None => None,
            Some(spec) => Some(sets.iter().find(|e| &e.spec == spec)?.clone()),
        };
        Some(ListArgs {
            format: Format::from_prefix(&self.prefix)?,
            from: self.from.clone(),
            until: Some(self.until.clone()),
            set,
        })
    }
}

fn token_check(payload: &[u8]) -> [u8; TOKEN_CHECK_LEN] {
    let mut h = Sha256::new();
    h.update(b"unicat provider resumption token\n");
    h.update(payload);
    let digest = h.finalize();
    let mut out = [0u8; TOKEN_CHECK_LEN];
    out.copy_from_slice(&digest[..TOKEN_CHECK_LEN]);
    out
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64url without padding (RFC 4648 section 5): safe in URLs and forms
/// as it is.
fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(BASE64URL[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = BASE64URL.iter().position(|&b| b == c)? as u32;
            n |= v << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
        // Bits left over in a short final chunk must be zero, so that each
        // token has exactly one spelling.
        let used = (chunk.len() - 1) * 8;
        if chunk.len() < 4 && n & ((1 << (24 - used)) - 1) != 0 {
            return None;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------
// Reading the store: one page, through the union_updated index.

/// Where a list stopped: the last record's (datestamp, cluster id).
#[derive(Debug, Clone)]
struct Position {
    datestamp: Option<String>,
    id: String,
}

/// A list selection, ready for the store.
#[derive(Debug, Clone, Copy)]
struct ListSpec<'a> {
    from: Option<&'a str>,
    until: &'a str,
    /// The partner whose set is asked for.
    partner: Option<&'a str>,
}

impl ListSpec<'_> {
    /// Whether records without a datestamp (served as
    /// [`LEGACY_DATESTAMP`]) fall inside the window.
    fn includes_legacy(&self) -> bool {
        self.from.is_none_or(|f| f <= LEGACY_DATESTAMP) && self.until >= LEGACY_DATESTAMP
    }
}

/// Up to `limit` records of the list after `after`, with their record
/// text if `with_record`: the undated records first (they are served as
/// 1970), then the dated ones, at most one store query for each.
fn page(
    store: &Store,
    spec: &ListSpec<'_>,
    after: Option<&Position>,
    limit: usize,
    with_record: bool,
) -> Result<Vec<UnionListRow>> {
    let mut rows = Vec::new();
    let in_legacy = after.is_none_or(|p| p.datestamp.is_none());
    if spec.includes_legacy() && in_legacy {
        let after_id = after.map_or("", |p| p.id.as_str());
        rows = store.undated_unions_after(after_id, spec.partner, limit, with_record)?;
    }
    if rows.len() < limit {
        let (ts, id) = match after {
            Some(Position {
                datestamp: Some(ts),
                id,
            }) => (ts.as_str(), id.as_str()),
            // (from, "") is before every record stamped at `from`.
            _ => (spec.from.unwrap_or(""), ""),
        };
        rows.extend(store.dated_unions_after(
            (ts, id),
            spec.until,
            spec.partner,
            limit - rows.len(),
            with_record,
        )?);
    }
    Ok(rows)
}

/// The size of the whole list (for `completeListSize`).
fn count(store: &Store, spec: &ListSpec<'_>) -> Result<u64> {
    let mut n = 0;
    if spec.includes_legacy() {
        n += store.count_undated_unions(spec.partner)?;
    }
    n += store.count_dated_unions(spec.from.unwrap_or(""), spec.until, spec.partner)?;
    Ok(n)
}

/// A union record by OAI identifier.
fn lookup(store: &Store, identifier: &str) -> Result<Option<UnionListRow>> {
    match identifier.strip_prefix(IDENTIFIER_PREFIX) {
        Some(id) => store.union_list_row(id),
        None => Ok(None),
    }
}

/// The smallest datestamp, `None` for an empty catalogue.
fn earliest_datestamp(store: &Store) -> Result<Option<String>> {
    if store.has_undated_unions()? {
        return Ok(Some(LEGACY_DATESTAMP.to_string()));
    }
    store.earliest_union_update()
}

// ---------------------------------------------------------------------
// Writing what unicat_oai::write does not cover.

/// A `ListSets` response: every set in one page.
fn list_sets(resp_date: &str, request_url: &str, sets: &[SetEntry]) -> String {
    let base = request_url.split('?').next().unwrap_or(request_url);
    let mut out = String::with_capacity(256 + sets.len() * 96);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(
        "<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/ \
         http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd\">\n",
    );
    out.push_str("<responseDate>");
    escape_into(&mut out, resp_date);
    out.push_str("</responseDate>\n<request verb=\"ListSets\">");
    escape_into(&mut out, base);
    out.push_str("</request>\n<ListSets>\n");
    for set in sets {
        out.push_str("<set><setSpec>");
        escape_into(&mut out, &set.spec);
        out.push_str("</setSpec><setName>");
        escape_into(&mut out, &set.partner);
        out.push_str("</setName></set>\n");
    }
    out.push_str("</ListSets>\n</OAI-PMH>\n");
    out
}

/// Escapes text content (and attribute values: `"` too), dropping the
/// characters XML 1.0 cannot carry at all.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'.. => {
                out.push(c)
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------
// MARC 21 to unqualified Dublin Core.

/// The `oai_dc` form of a union record, after the Library of Congress
/// MARC to Dublin Core crosswalk, simplified:
///
/// | element | from |
/// |---|---|
/// | title | 245 $a $b $n $p |
/// | creator | 100, 110, 111, 700, 710, 711 (name subfields) |
/// | subject | 600, 610, 611, 630, 650, 651 $a |
/// | description | 520 $a |
/// | publisher | 264 (second indicator 1) $b, else 260 $b |
/// | date | 264/260 $c, else 008/07-10 |
/// | type | leader/06 as a DCMI type (Text, Image, Sound, …) |
/// | format | 300 $a $b $c |
/// | identifier | 020 $a as `urn:ISBN:…`, 022 $a as `urn:ISSN:…`, the OAI identifier |
/// | language | 008/35-37, 041 $a |
///
/// Each field in another script (an 880 linked to one of these tags by its
/// $6) gives the same element again, so a Cyrillic title sits beside its
/// romanisation. ISBD punctuation at the end of a value is dropped.
pub fn oai_dc(record: &Record, identifier: &str) -> String {
    let mut dc = DcWriter::default();
    for f in linked(record, &["245"]) {
        dc.add("title", &join(f, "abnp"));
    }
    for (tag, codes) in [
        ("100", "abcdq"),
        ("110", "ab"),
        ("111", "acdn"),
        ("700", "abcdq"),
        ("710", "ab"),
        ("711", "acdn"),
    ] {
        for f in linked(record, &[tag]) {
            dc.add("creator", &join(f, codes));
        }
    }
    for f in linked(record, &["600", "610", "611", "630", "650", "651"]) {
        dc.add("subject", &join(f, "a"));
    }
    for f in linked(record, &["520"]) {
        dc.add("description", &join(f, "a"));
    }
    let rda_publication: Vec<&DataField> = linked(record, &["264"])
        .into_iter()
        .filter(|f| f.ind2 == '1')
        .collect();
    let publication = if rda_publication.is_empty() {
        linked(record, &["260"])
    } else {
        rda_publication
    };
    for f in &publication {
        for b in f.subfields_of('b') {
            dc.add("publisher", b);
        }
    }
    let mut dated = false;
    for f in &publication {
        for c in f.subfields_of('c') {
            dated |= dc.add("date", c);
        }
    }
    let f008 = record.control("008").unwrap_or("");
    if !dated {
        if let Some(year) = f008
            .get(7..11)
            .filter(|y| y.bytes().all(|b| b.is_ascii_digit()))
        {
            dc.add("date", year);
        }
    }
    if let Some(t) = dcmi_type(record.leader.as_bytes().get(6).copied()) {
        dc.add("type", t);
    }
    for f in record.data_fields("300") {
        dc.add("format", &join(f, "abc"));
    }
    for f in record.data_fields("020") {
        for a in f.subfields_of('a') {
            if let Some(isbn) = a.split_whitespace().next() {
                let isbn: String = isbn
                    .chars()
                    .filter(|c| c.is_ascii_digit() || *c == 'X' || *c == 'x')
                    .collect();
                if isbn.len() == 10 || isbn.len() == 13 {
                    dc.add(
                        "identifier",
                        &format!("urn:ISBN:{}", isbn.to_ascii_uppercase()),
                    );
                }
            }
        }
    }
    for f in record.data_fields("022") {
        if let Some(issn) = f.subfield('a').and_then(|a| a.split_whitespace().next()) {
            dc.add("identifier", &format!("urn:ISSN:{issn}"));
        }
    }
    dc.add("identifier", identifier);
    if let Some(lang) = f008.get(35..38) {
        if lang.bytes().all(|b| b.is_ascii_lowercase()) {
            dc.add("language", lang);
        }
    }
    for f in record.data_fields("041") {
        for a in f.subfields_of('a') {
            // Old records run several codes together (`engrus`).
            if a.len() % 3 == 0 && a.bytes().all(|b| b.is_ascii_lowercase()) {
                for i in (0..a.len()).step_by(3) {
                    dc.add("language", &a[i..i + 3]);
                }
            }
        }
    }
    dc.finish()
}

/// Fields with these tags, each followed by the 880s linked to it.
fn linked<'a>(record: &'a Record, tags: &[&'a str]) -> Vec<&'a DataField> {
    let mut out = Vec::new();
    for tag in tags {
        out.extend(record.data_fields(tag));
        out.extend(record.data_fields("880").filter(|f| {
            f.subfield('6')
                .is_some_and(|link| link.get(..3) == Some(*tag))
        }));
    }
    out
}

/// The listed subfields of a field, in field order, joined by spaces.
fn join(field: &DataField, codes: &str) -> String {
    let parts: Vec<&str> = field
        .subfields
        .iter()
        .filter(|s| codes.contains(s.code))
        .map(|s| s.value.trim())
        .filter(|v| !v.is_empty())
        .collect();
    parts.join(" ")
}

/// A value without the ISBD punctuation that ends it in MARC (` /`, ` :`,
/// `,`, `;`, `=`, a final full stop) but keeping an initial's full stop
/// (`Smith, J.`) and an ellipsis.
fn clean(value: &str) -> &str {
    let mut v = value
        .trim()
        .trim_end_matches([' ', '/', ':', ';', ',', '=']);
    if v.ends_with('.') && !v.ends_with("...") {
        let before: Vec<char> = v.chars().rev().skip(1).take(2).collect();
        let initial = matches!(before.as_slice(), [c, ' ' | ','] | [c] if c.is_uppercase());
        if !initial {
            v = v[..v.len() - 1].trim_end_matches([' ', '/', ':', ';', ',', '=']);
        }
    }
    v
}

/// leader/06 as a DCMI Type Vocabulary term.
fn dcmi_type(leader06: Option<u8>) -> Option<&'static str> {
    Some(match leader06? {
        b'a' | b'c' | b'd' | b't' => "Text",
        b'e' | b'f' => "Image",
        b'g' => "MovingImage",
        b'k' => "StillImage",
        b'i' | b'j' => "Sound",
        b'm' => "Software",
        b'o' | b'p' => "Collection",
        b'r' => "PhysicalObject",
        _ => return None,
    })
}

/// Collects Dublin Core elements, once per distinct value.
#[derive(Default)]
struct DcWriter {
    out: String,
    seen: std::collections::HashSet<(&'static str, String)>,
}

impl DcWriter {
    /// Add an element; false if the value was empty or already there.
    fn add(&mut self, element: &'static str, value: &str) -> bool {
        let value = clean(value);
        if value.is_empty() || !self.seen.insert((element, value.to_string())) {
            return false;
        }
        self.out.push_str("<dc:");
        self.out.push_str(element);
        self.out.push('>');
        escape_into(&mut self.out, value);
        self.out.push_str("</dc:");
        self.out.push_str(element);
        self.out.push_str(">\n");
        true
    }

    fn finish(self) -> String {
        format!(
            "<oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/oai_dc/\" \
             xmlns:dc=\"http://purl.org/dc/elements/1.1/\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai_dc/ \
             http://www.openarchives.org/OAI/2.0/oai_dc.xsd\">\n{}</oai_dc:dc>",
            self.out
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicat_marc::{ControlField, Field};

    fn sets() -> Vec<SetEntry> {
        vec![SetEntry {
            spec: "AZ-BaNL".into(),
            partner: "anl".into(),
        }]
    }

    fn req(q: &str) -> Result<Request, Fail> {
        parse_request(&parse_form(q), &sets())
    }

    fn code(q: &str) -> String {
        match req(q) {
            Ok(r) => format!("ok {r:?}"),
            Err(f) => f.code.as_str().to_string(),
        }
    }

    fn token() -> Token {
        Token {
            version: TOKEN_VERSION,
            verb: "ListRecords".into(),
            prefix: "marc21".into(),
            from: Some("2024-01-01T00:00:00Z".into()),
            until: "2024-02-01T00:00:00Z".into(),
            set: Some("AZ-BaNL".into()),
            last_datestamp: Some("2024-01-05T10:00:00Z".into()),
            last_id: "uc0123456789abcdef".into(),
            cursor: 100,
            complete_list_size: 250,
        }
    }

    /// Tokens decode to what was encoded, for the verb they were made for.
    #[test]
    fn token_round_trip() {
        let t = token();
        let s = t.encode();
        assert!(s.bytes().all(|b| BASE64URL.contains(&b)), "{s}");
        assert_eq!(Token::decode(&s, Verb::ListRecords), Some(t));
        assert_eq!(Token::decode(&s, Verb::ListIdentifiers), None);
    }

    /// Any change to a token's text makes it a bad token, not another list.
    #[test]
    fn tampered_tokens_are_refused() {
        let s = token().encode();
        for i in 0..s.len() {
            let mut b = s.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(b).unwrap();
            assert_eq!(Token::decode(&t, Verb::ListRecords), None, "{i}");
        }
        for bad in ["", "x", "!!!!", &s[..s.len() - 1], &format!("{s}A")] {
            assert_eq!(Token::decode(bad, Verb::ListRecords), None, "{bad}");
        }
    }

    /// Base64url agrees with RFC 4648's test vectors (without padding).
    #[test]
    fn base64url_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64url_encode(plain.as_bytes()), enc);
            assert_eq!(base64url_decode(enc).unwrap(), plain.as_bytes());
        }
        assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(base64url_decode("Zh"), None, "non-zero spare bits");
    }

    /// Dates: two exact shapes; a day `until` is the whole day.
    #[test]
    fn dates() {
        let ok = |q: &str| match req(q) {
            Ok(Request::List { list, .. }) => (list.from, list.until),
            other => panic!("{q}: {other:?}"),
        };
        let base = "verb=ListRecords&metadataPrefix=marc21";
        assert_eq!(
            ok(&format!("{base}&from=2024-01-02&until=2024-01-02")),
            (
                Some("2024-01-02T00:00:00Z".into()),
                Some("2024-01-02T23:59:59Z".into())
            )
        );
        assert_eq!(
            ok(&format!("{base}&from=2024-01-02T03:04:05Z")).0,
            Some("2024-01-02T03:04:05Z".into())
        );
        for bad in [
            "from=2024-01-02T03:04:05.5Z",
            "from=2024-01-02T03:04:05",
            "from=2024-01-02T03:04:05%2B00:00",
            "from=2024-1-2",
            "from=24-01-02",
            "from=2024-02-30",
            "from=",
            "from=2024-01-03&until=2024-01-02",
            "from=2024-01-02&until=2024-01-02T00:00:00Z",
            "until=+2024-01-02",
        ] {
            assert_eq!(code(&format!("{base}&{bad}")), "badArgument", "{bad}");
        }
    }

    /// Each way a request can be wrong gives the protocol's code for it.
    #[test]
    fn request_errors() {
        for (q, expected) in [
            ("", "badVerb"),
            ("verb=", "badVerb"),
            ("verb=listrecords", "badVerb"),
            ("verb=Identify&verb=Identify", "badVerb"),
            ("verb=Identify&set=x", "badArgument"),
            ("verb=ListRecords", "badArgument"),
            ("verb=ListRecords&metadataPrefix=", "badArgument"),
            (
                "verb=ListRecords&metadataPrefix=marc21&metadataPrefix=marc21",
                "badArgument",
            ),
            (
                "verb=ListRecords&metadataPrefix=marc21&resumptionToken=x",
                "badArgument",
            ),
            ("verb=ListRecords&metadataPrefix=a%20b", "badArgument"),
            (
                "verb=ListRecords&metadataPrefix=marc21&set=a%20b",
                "badArgument",
            ),
            (
                "verb=ListRecords&metadataPrefix=marc21&set=a::b",
                "badArgument",
            ),
            ("verb=GetRecord&identifier=x", "badArgument"),
            ("verb=GetRecord&metadataPrefix=marc21", "badArgument"),
            ("verb=ListRecords&resumptionToken=x", "badResumptionToken"),
            ("verb=ListSets&resumptionToken=x", "badResumptionToken"),
            (
                "verb=ListRecords&metadataPrefix=mods",
                "cannotDisseminateFormat",
            ),
            (
                "verb=GetRecord&identifier=x&metadataPrefix=mods",
                "cannotDisseminateFormat",
            ),
            (
                "verb=ListRecords&metadataPrefix=marc21&set=XX",
                "noRecordsMatch",
            ),
        ] {
            assert_eq!(code(q), expected, "{q}");
        }
        let no_sets = parse_request(&parse_form("verb=ListSets"), &[]).unwrap_err();
        assert_eq!(no_sets.code, ErrorCode::NoSetHierarchy);
        let no_sets = parse_request(
            &parse_form("verb=ListIdentifiers&metadataPrefix=oai_dc&set=X"),
            &[],
        )
        .unwrap_err();
        assert_eq!(no_sets.code, ErrorCode::NoSetHierarchy);
    }

    /// setSpecs keep valid codes as they are and escape the rest
    /// reversibly, always matching the schema's pattern.
    #[test]
    fn set_specs() {
        assert_eq!(set_spec("AZ-BaNL"), "AZ-BaNL");
        assert_eq!(set_spec("a:b/c"), "a~3Ab~2Fc");
        assert_eq!(set_spec("x~y"), "x~7Ey");
        assert_eq!(set_spec("ö"), "~C3~B6");
        assert_ne!(set_spec("a~2F"), set_spec("a/"));
        for code in ["AZ-BaNL", "a:b/c", "ö", "~", "a b"] {
            assert!(is_valid_set_spec(&set_spec(code)), "{code}");
        }
    }

    fn df(tag: &str, ind2: char, subs: &[(char, &str)]) -> Field {
        let mut f = DataField::new(tag, ' ', ind2);
        for (c, v) in subs {
            f.push(*c, *v);
        }
        Field::Data(f)
    }

    /// The crosswalk picks each element from its fields, drops ISBD
    /// punctuation, escapes markup and follows 880 links.
    #[test]
    fn dublin_core() {
        let mut r = Record::new("00000cam a2200000 i 4500");
        r.push(Field::Control(ControlField::new(
            "008",
            "190425s2019    enka          001 0 eng d",
        )));
        r.push(df("020", ' ', &[('a', "9781108457651 (paperback)")]));
        r.push(df(
            "100",
            ' ',
            &[('a', "Murphy, Raymond,"), ('e', "author.")],
        ));
        r.push(df(
            "245",
            '0',
            &[
                ('a', "Grammar <in> use :"),
                ('b', "a & b /"),
                ('c', "R. M."),
            ],
        ));
        r.push(df(
            "264",
            '1',
            &[('a', "Cambridge :"), ('b', "CUP,"), ('c', "2019.")],
        ));
        r.push(df("300", ' ', &[('a', "380 pages ;"), ('c', "28 cm")]));
        r.push(df(
            "650",
            '0',
            &[('a', "English language"), ('x', "Grammar.")],
        ));
        r.push(df("700", ' ', &[('a', "Smith, J.")]));
        r.push(df("880", '0', &[('6', "245-01"), ('a', "Грамматика /")]));
        let dc = oai_dc(&r, "oai:unicat:uc1");
        for line in [
            "<dc:title>Grammar &lt;in&gt; use : a &amp; b</dc:title>",
            "<dc:title>Грамматика</dc:title>",
            "<dc:creator>Murphy, Raymond</dc:creator>",
            "<dc:creator>Smith, J.</dc:creator>",
            "<dc:subject>English language</dc:subject>",
            "<dc:publisher>CUP</dc:publisher>",
            "<dc:date>2019</dc:date>",
            "<dc:type>Text</dc:type>",
            "<dc:format>380 pages ; 28 cm</dc:format>",
            "<dc:identifier>urn:ISBN:9781108457651</dc:identifier>",
            "<dc:identifier>oai:unicat:uc1</dc:identifier>",
            "<dc:language>eng</dc:language>",
        ] {
            assert!(dc.contains(line), "{line} missing from\n{dc}");
        }
        assert_eq!(dc.matches("<dc:date>").count(), 1, "{dc}");
    }

    /// A provider over the (already created) store at `location`, with
    /// `page_size`.
    fn state_over(location: &StoreLocation, page_size: usize) -> ProviderState {
        ProviderState {
            store: Ok(location.clone()),
            repository_name: "test".into(),
            base_url: "http://127.0.0.1:1/oai".into(),
            admin_email: "catalogue@example.org".into(),
            page_size,
            sets: Vec::new(),
            permits: Semaphore::new(1),
            limits: ConnectionLimits {
                header_read_timeout: Duration::from_secs(20),
                idle_timeout: Duration::from_secs(60),
                max_connections: 8,
            },
            metrics: None,
            status: None,
        }
    }

    /// Identifiers of a whole list, following its tokens.
    fn harvest_ids(state: &ProviderState, query: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut body = state.answer_query(query).unwrap();
        loop {
            if body.contains("noRecordsMatch") {
                return ids;
            }
            let page = unicat_oai::parse_list_identifiers(body.as_bytes())
                .unwrap_or_else(|e| panic!("{e}: {body}"));
            ids.extend(page.records.iter().map(|r| {
                let h = &r.header;
                format!(
                    "{}@{}",
                    &h.identifier[IDENTIFIER_PREFIX.len()..],
                    h.datestamp
                )
            }));
            match page.next_token() {
                Some(t) => {
                    body = state
                        .answer_query(&format!("verb=ListIdentifiers&resumptionToken={t}"))
                        .unwrap()
                }
                None => return ids,
            }
        }
    }

    /// Deleted union records (id, datestamp or none for a legacy row), in
    /// an order that is not the list's.
    const LEGACY_ROWS: [(&str, Option<&str>); 6] = [
        ("uc03", None),
        ("uc01", None),
        ("uc02", None),
        ("uc05", Some("2024-01-02T00:00:00Z")),
        ("uc04", Some("2024-01-02T00:00:00Z")),
        ("uc00", Some("2024-03-01T12:00:00Z")),
    ];

    /// The lists over [`LEGACY_ROWS`] in the store at `location`.
    fn check_legacy_paging(location: &StoreLocation) {
        let state = state_over(location, 2);
        let all = [
            "uc01@1970-01-01T00:00:00Z",
            "uc02@1970-01-01T00:00:00Z",
            "uc03@1970-01-01T00:00:00Z",
            "uc04@2024-01-02T00:00:00Z",
            "uc05@2024-01-02T00:00:00Z",
            "uc00@2024-03-01T12:00:00Z",
        ];
        let q = "verb=ListIdentifiers&metadataPrefix=marc21";
        for page_size in [1, 2, 3, 4, 6, 7] {
            let state = state_over(location, page_size);
            assert_eq!(harvest_ids(&state, q), all, "page size {page_size}");
        }
        assert_eq!(
            harvest_ids(&state, &format!("{q}&from=2024-01-02")),
            all[3..]
        );
        assert_eq!(
            harvest_ids(&state, &format!("{q}&until=2024-01-02")),
            all[..5]
        );
        assert_eq!(
            harvest_ids(&state, &format!("{q}&until=1970-01-01")),
            all[..3]
        );
        assert_eq!(
            harvest_ids(&state, &format!("{q}&from=2024-03-02")),
            [] as [&str; 0]
        );
        let identify = state.answer_query("verb=Identify").unwrap();
        assert!(
            identify.contains("<earliestDatestamp>1970-01-01T00:00:00Z<"),
            "{identify}"
        );
    }

    /// Union records stored before the store kept datestamps are listed
    /// first, as 1970, and paging crosses from them to dated records
    /// without a gap or a duplicate; `from` and `until` treat them as 1970.
    #[test]
    fn records_without_datestamps_page_with_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        drop(store::Store::open(dir.path()).unwrap());
        // The store never writes a union record without a datestamp any
        // more, so the test writes the rows itself.
        let conn = rusqlite::Connection::open(dir.path().join(store::DB_FILE)).unwrap();
        for (id, ts) in LEGACY_ROWS {
            conn.execute(
                "INSERT INTO union_records (cluster_id, seq, deleted, updated_at) VALUES (?1, 1, 1, ?2)",
                rusqlite::params![id, ts],
            )
            .unwrap();
        }
        check_legacy_paging(&StoreLocation::Sqlite(dir.path().to_path_buf()));
    }

    /// The same lists over the PostgreSQL store, whose NULLs sort after
    /// every value (SQLite's before): the undated records still come first.
    #[test]
    fn records_without_datestamps_page_with_the_rest_on_postgres() {
        let Some(url) = store::pg::test_database() else {
            return;
        };
        let location = StoreLocation::Postgres {
            url: url.clone(),
            password: None,
            pool_size: 2,
        };
        drop(store::Store::connect(&location).unwrap());
        let mut client = crate::store::pg::connect_client(&url, None).unwrap();
        for (id, ts) in LEGACY_ROWS {
            client
                .execute(
                    "INSERT INTO union_records (cluster_id, seq, deleted, updated_at) VALUES ($1, 1, true, $2)",
                    &[&id, &ts],
                )
                .unwrap();
        }
        check_legacy_paging(&location);
    }
}
