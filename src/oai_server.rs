//! A small OAI-PMH 2.0 repository over HTTP, serving records held in
//! memory. The demo uses it to stand in for the partners' endpoints, the
//! tests use it to harvest from a real server on `127.0.0.1:0`, and the
//! benchmark serves synthetic records with it.
//!
//! It implements what a harvester meets in practice: Identify,
//! ListMetadataFormats, ListRecords and ListIdentifiers with `from`/`until`
//! and resumption tokens, GetRecord, deleted records, and the protocol's
//! error responses. The repository can be changed while the server runs,
//! and every request's query string is logged, so a test can assert what a
//! harvester asked for. Response bodies come from `unicat_oai::write`.
//!
//! As the benchmark's server it must cost little next to the harvester it
//! serves: with `cache_lists` on, each list page is rendered once and
//! served again from memory (only its responseDate is new), and
//! [`OaiServer::warm_lists`] renders a whole list before it is measured.

use futures_util::StreamExt;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use tokio::sync::oneshot;
use unicat_oai::{
    write, DeletedRecord, ErrorCode, Granularity, Header, Identify, MetadataFormat, OaiRecord,
    ResumptionToken, Verb,
};

/// One record in the repository.
#[derive(Debug, Clone)]
pub struct RepoRecord {
    /// OAI identifier.
    pub identifier: String,
    /// Datestamp (served in the repository's granularity).
    pub datestamp: DateTime<Utc>,
    /// Whether the record is deleted (served as a header only).
    pub deleted: bool,
    /// The metadata XML (a MARCXML `record` element).
    pub metadata: String,
}

impl RepoRecord {
    /// The record as an OAI-PMH response carries it (deleted: header only).
    fn to_oai(&self, granularity: Granularity) -> OaiRecord {
        OaiRecord {
            header: Header {
                identifier: self.identifier.clone(),
                datestamp: granularity.format(self.datestamp),
                deleted: self.deleted,
                sets: Vec::new(),
            },
            metadata: (!self.deleted).then(|| self.metadata.clone()),
        }
    }
}

/// The repository's contents and behaviour.
#[derive(Debug, Clone)]
pub struct Repository {
    /// repositoryName in Identify.
    pub name: String,
    /// Records in identifier order of insertion.
    pub records: Vec<RepoRecord>,
    /// Records per list page.
    pub page_size: usize,
    /// Datestamp granularity.
    pub granularity: Granularity,
    /// The one metadataPrefix served.
    pub metadata_prefix: String,
    /// How long each list response is held back (a slow endpoint).
    pub list_delay: std::time::Duration,
    /// The `deletedRecord` policy announced in Identify.
    pub deleted_record: DeletedRecord,
    /// Compress responses with gzip or deflate when the client accepts it.
    pub compress: bool,
    /// Serve every record whatever `from` says (a broken repository).
    pub ignore_from: bool,
    /// Answer `badArgument` to a `from`/`until` with a time part, as
    /// repositories that only support day granularity do.
    pub day_granularity_only: bool,
    /// Never end a list: the last page's token starts over at the first
    /// record with a new, never repeated token.
    pub endless: bool,
    /// Keep every ListRecords and ListIdentifiers page once rendered and
    /// answer the same request again from memory, with a fresh
    /// responseDate. For a repository that is large and changes seldom
    /// (the benchmark's); off by default. `upsert`, `push` and `delete`
    /// drop the pages; code that edits `records` directly must call
    /// [`Repository::changed`].
    pub cache_lists: bool,
    page_cache: PageCache,
}

/// List pages as rendered, by request (its arguments, sorted). Each body is
/// kept without its responseDate, so that an answer from the cache still
/// says when it was given.
#[derive(Clone, Default)]
struct PageCache(HashMap<String, Arc<CachedPage>>);

/// A rendered body: `head`, the responseDate, `tail`.
struct CachedPage {
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl std::fmt::Debug for PageCache {
    // The bodies would drown any debug output; their number is enough.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PageCache({} pages)", self.0.len())
    }
}

/// A fault injected into the next matching response.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this HTTP status (and `Retry-After` value, if given).
    Status {
        /// HTTP status code.
        code: u16,
        /// `Retry-After` header value: seconds or an HTTP date.
        retry_after: Option<String>,
    },
    /// Answer 200 with exactly this body (an HTML error page, nothing, …).
    Body(Vec<u8>),
    /// The real response cut after this many bytes, with status 200.
    Truncate(usize),
    /// The real response with `find` replaced by these bytes.
    Replace {
        /// Text to find.
        find: String,
        /// Bytes to put instead (may be invalid UTF-8).
        with: Vec<u8>,
    },
    /// Wait this long before answering normally (past a client's timeout).
    Hang(std::time::Duration),
    /// Send the headers and part of the body, then break the connection.
    Reset,
    /// An OAI-PMH error response with this code.
    Protocol(ErrorCode),
}

impl Repository {
    /// An empty repository serving `marc21` in seconds granularity.
    pub fn new(name: impl Into<String>, page_size: usize) -> Self {
        Repository {
            name: name.into(),
            records: Vec::new(),
            page_size: page_size.max(1),
            granularity: Granularity::Seconds,
            metadata_prefix: "marc21".into(),
            list_delay: std::time::Duration::ZERO,
            deleted_record: DeletedRecord::Persistent,
            compress: false,
            ignore_from: false,
            day_granularity_only: false,
            endless: false,
            cache_lists: false,
            page_cache: PageCache::default(),
        }
    }

    /// Forget the rendered list pages after `records` was edited directly.
    pub fn changed(&mut self) {
        self.page_cache.0.clear();
    }

    /// Add or replace a record (matched by identifier).
    pub fn upsert(&mut self, rec: RepoRecord) {
        self.changed();
        match self
            .records
            .iter_mut()
            .find(|r| r.identifier == rec.identifier)
        {
            Some(r) => *r = rec,
            None => self.records.push(rec),
        }
    }

    /// Append a record without looking for an existing one (for building
    /// large repositories, where `upsert` would be quadratic).
    pub fn push(&mut self, rec: RepoRecord) {
        self.changed();
        self.records.push(rec);
    }

    /// Mark a record deleted at `when`; false if unknown.
    pub fn delete(&mut self, identifier: &str, when: DateTime<Utc>) -> bool {
        self.changed();
        match self.records.iter_mut().find(|r| r.identifier == identifier) {
            Some(r) => {
                r.deleted = true;
                r.datestamp = when;
                true
            }
            None => false,
        }
    }
}

/// Faults waiting for a request, each with the verb it applies to (any
/// verb if `None`).
type FaultQueue = Arc<Mutex<Vec<(Option<String>, Fault)>>>;

struct Shared {
    repo: Arc<Mutex<Repository>>,
    log: Arc<Mutex<Vec<String>>>,
    headers: Arc<Mutex<Vec<HeaderMap>>>,
    faults: FaultQueue,
    base_url: String,
}

/// A running server; dropping it stops the server.
pub struct OaiServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its OAI-PMH base URL.
    pub base_url: String,
    /// The repository, changeable while serving.
    pub repo: Arc<Mutex<Repository>>,
    /// Query strings of every request received, in order.
    pub log: Arc<Mutex<Vec<String>>>,
    /// Headers of every request received, in order.
    pub headers: Arc<Mutex<Vec<HeaderMap>>>,
    faults: FaultQueue,
    stop: Option<oneshot::Sender<()>>,
}

impl OaiServer {
    /// Start serving `repo` on 127.0.0.1 at an unused port.
    pub async fn start(repo: Repository) -> std::io::Result<OaiServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}/oai");
        let repo = Arc::new(Mutex::new(repo));
        let log = Arc::new(Mutex::new(Vec::new()));
        let faults = Arc::new(Mutex::new(Vec::new()));
        let headers = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared {
            repo: repo.clone(),
            log: log.clone(),
            headers: headers.clone(),
            faults: faults.clone(),
            base_url: base_url.clone(),
        });
        let app = Router::new().route("/oai", get(handle)).with_state(shared);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(OaiServer {
            addr,
            base_url,
            repo,
            log,
            headers,
            faults,
            stop: Some(stop),
        })
    }

    /// Headers of the requests received so far.
    pub fn request_headers(&self) -> Vec<HeaderMap> {
        self.headers.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// Inject a fault into the next request with this verb (any verb if
    /// `None`). Faults queue up in the order given.
    pub fn push_fault(&self, verb: Option<&str>, fault: Fault) {
        if let Ok(mut f) = self.faults.lock() {
            f.push((verb.map(str::to_string), fault));
        }
    }

    /// Faults not yet used.
    pub fn pending_faults(&self) -> usize {
        self.faults.lock().map(|f| f.len()).unwrap_or(0)
    }

    /// The query strings received so far.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Render every page of the complete `verb` list (ListRecords or
    /// ListIdentifiers, no `from`) into the page cache now, so that a
    /// harvest measured afterwards finds them all there (turns
    /// `cache_lists` on). Returns the number of pages.
    pub fn warm_lists(&self, verb: &str) -> usize {
        let Ok(mut repo) = self.repo.lock() else {
            return 0;
        };
        repo.cache_lists = true;
        let prefix = repo.metadata_prefix.clone();
        let mut pages = 0;
        let mut offset = 0;
        while offset < repo.records.len() {
            let mut params = HashMap::from([("verb".to_string(), verb.to_string())]);
            if offset == 0 {
                params.insert("metadataPrefix".into(), prefix.clone());
            } else {
                let token = Token {
                    offset,
                    prefix: prefix.clone(),
                    from: None,
                    until: None,
                    round: 0,
                };
                params.insert("resumptionToken".into(), token.encode());
            }
            respond_cached(&mut repo, &self.base_url, &params);
            pages += 1;
            offset += repo.page_size;
        }
        pages
    }
}

impl Drop for OaiServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let raw = raw.unwrap_or_default();
    if let Ok(mut log) = shared.log.lock() {
        log.push(raw.clone());
    }
    if let Ok(mut log) = shared.headers.lock() {
        log.push(headers.clone());
    }
    let verb = params.get("verb").cloned().unwrap_or_default();
    let fault = shared.faults.lock().ok().and_then(|mut f| {
        let i = f
            .iter()
            .position(|(v, _)| v.as_deref().is_none_or(|v| v == verb))?;
        Some(f.remove(i).1)
    });
    // A poisoned lock means a test thread panicked while editing the
    // repository; answer like a broken server would, with a 500.
    let Ok((body, delay, compress)) = shared.repo.lock().map(|mut repo| {
        let delay = if verb.starts_with("List") {
            repo.list_delay
        } else {
            Duration::ZERO
        };
        let body = match &fault {
            Some(Fault::Protocol(code)) => {
                write::error(&now(), &shared.base_url, code, "injected fault").into_bytes()
            }
            _ => respond_cached(&mut repo, &shared.base_url, &params),
        };
        (body, delay, repo.compress)
    }) else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "repository lock poisoned",
        )
            .into_response();
    };
    tokio::time::sleep(delay).await;
    let body = match fault {
        Some(Fault::Status { code, retry_after }) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp = (status, format!("<html><body>{code}</body></html>")).into_response();
            if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return resp;
        }
        Some(Fault::Body(b)) => b,
        Some(Fault::Truncate(n)) => body[..n.min(body.len())].to_vec(),
        Some(Fault::Replace { find, with }) => replace_bytes(&body, find.as_bytes(), &with),
        Some(Fault::Hang(d)) => {
            tokio::time::sleep(d).await;
            body
        }
        Some(Fault::Reset) => {
            let half = body[..body.len() / 2].to_vec();
            // The pause lets the headers and the first half go out before
            // the connection breaks, so the client fails while reading the
            // body, not before the response starts.
            let stream =
                futures_util::stream::iter([Ok(half)]).chain(futures_util::stream::once(async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "injected reset",
                    ))
                }));
            return (
                [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
                Body::from_stream(stream),
            )
                .into_response();
        }
        Some(Fault::Protocol(_)) | None => body,
    };
    let accepts = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut resp = if compress && accepts.contains("gzip") {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = e.write_all(&body);
        let mut r = e.finish().unwrap_or_default().into_response();
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else if compress && accepts.contains("deflate") {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = e.write_all(&body);
        let mut r = e.finish().unwrap_or_default().into_response();
        r.headers_mut().insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("deflate"),
        );
        r
    } else {
        body.into_response()
    };
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    resp
}

fn replace_bytes(hay: &[u8], find: &[u8], with: &[u8]) -> Vec<u8> {
    if find.is_empty() {
        return hay.to_vec();
    }
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(find) {
            out.extend_from_slice(with);
            i += find.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// The state a resumption token carries: where the next page starts, the
/// original request's arguments, and (for an endless list) how many times
/// the list started over. Encoded with characters that need URL-encoding
/// (`|`, `:`, `+`), so that harvesters' encoding is exercised.
struct Token {
    offset: usize,
    prefix: String,
    from: Option<String>,
    until: Option<String>,
    round: u64,
}

impl Token {
    fn encode(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.offset,
            self.prefix,
            self.from.as_deref().unwrap_or(""),
            self.until.as_deref().unwrap_or(""),
            self.round
        )
    }

    fn decode(t: &str) -> Option<Token> {
        let mut parts = t.split('|');
        let offset = parts.next()?.parse().ok()?;
        let prefix = parts.next()?.to_string();
        let opt = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
        let from = opt(parts.next());
        let until = opt(parts.next());
        let round = parts.next().and_then(|r| r.parse().ok()).unwrap_or(0);
        Some(Token {
            offset,
            prefix,
            from,
            until,
            round,
        })
    }
}

/// The answer to a request, from the page cache if the repository keeps
/// one and the page was rendered before.
fn respond_cached(
    repo: &mut Repository,
    base_url: &str,
    params: &HashMap<String, String>,
) -> Vec<u8> {
    let verb = params.get("verb").map(String::as_str).unwrap_or("");
    let date = now();
    if !repo.cache_lists || !matches!(verb, "ListRecords" | "ListIdentifiers") {
        return respond(repo, base_url, params, &date).into_bytes();
    }
    let mut args: Vec<_> = params.iter().collect();
    args.sort();
    let key = args
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    if let Some(page) = repo.page_cache.0.get(&key) {
        let mut body = Vec::with_capacity(page.head.len() + date.len() + page.tail.len());
        body.extend_from_slice(&page.head);
        body.extend_from_slice(date.as_bytes());
        body.extend_from_slice(&page.tail);
        return body;
    }
    let body = respond(repo, base_url, params, &date).into_bytes();
    // The first responseDate element is the envelope's; a body without
    // one (there is none) is simply not kept.
    let open = b"<responseDate>";
    if let Some(at) = body.windows(open.len()).position(|w| w == open) {
        let start = at + open.len();
        if body[start..].starts_with(date.as_bytes()) {
            let page = CachedPage {
                head: body[..start].to_vec(),
                tail: body[start + date.len()..].to_vec(),
            };
            repo.page_cache.0.insert(key, Arc::new(page));
        }
    }
    body
}

fn respond(
    repo: &Repository,
    base_url: &str,
    params: &HashMap<String, String>,
    date: &str,
) -> String {
    let err = |code: ErrorCode, msg: &str| write::error(date, base_url, &code, msg);
    let verb = params.get("verb").map(String::as_str).unwrap_or("");
    match verb {
        "Identify" => {
            let earliest = repo
                .records
                .iter()
                .map(|r| r.datestamp)
                .min()
                .unwrap_or_else(Utc::now);
            let id = Identify {
                repository_name: repo.name.clone(),
                base_url: base_url.to_string(),
                protocol_version: "2.0".into(),
                earliest_datestamp: repo.granularity.format(earliest),
                deleted_record: repo.deleted_record,
                granularity: repo.granularity,
            };
            write::identify(date, base_url, &id, "admin@example.org")
        }
        "ListMetadataFormats" => {
            write::list_metadata_formats(date, base_url, &[MetadataFormat::marc21()])
        }
        "ListRecords" | "ListIdentifiers" => {
            let verb_kind = if verb == "ListRecords" {
                Verb::ListRecords
            } else {
                Verb::ListIdentifiers
            };
            let Token {
                offset,
                prefix,
                from,
                until,
                round,
            } = if let Some(token) = params.get("resumptionToken") {
                if params.len() != 2 {
                    return err(ErrorCode::BadArgument, "resumptionToken is exclusive");
                }
                match Token::decode(token) {
                    Some(t) => t,
                    None => return err(ErrorCode::BadResumptionToken, "unknown token"),
                }
            } else {
                let Some(prefix) = params.get("metadataPrefix") else {
                    return err(ErrorCode::BadArgument, "metadataPrefix is required");
                };
                Token {
                    offset: 0,
                    prefix: prefix.clone(),
                    from: params.get("from").cloned(),
                    until: params.get("until").cloned(),
                    round: 0,
                }
            };
            if repo.day_granularity_only
                && [&from, &until]
                    .iter()
                    .any(|v| v.as_deref().is_some_and(|v| v.contains('T')))
            {
                return err(
                    ErrorCode::BadArgument,
                    "this repository supports day granularity only",
                );
            }
            if prefix != repo.metadata_prefix {
                return err(
                    ErrorCode::CannotDisseminateFormat,
                    "unsupported metadataPrefix",
                );
            }
            let parse = |s: &Option<String>| -> Result<Option<DateTime<Utc>>, ()> {
                match s {
                    None => Ok(None),
                    Some(v) => unicat_oai::parse_datestamp(v).map(Some).map_err(|_| ()),
                }
            };
            let (Ok(f), Ok(u)) = (parse(&from), parse(&until)) else {
                return err(ErrorCode::BadArgument, "bad from/until");
            };
            let (f, u) = if repo.ignore_from {
                (None, None)
            } else {
                (f, u)
            };
            // Day granularity `until` covers the whole day.
            let u = u.map(|u| {
                if until.as_deref().is_some_and(|s| s.len() == 10) {
                    u + chrono::Duration::seconds(86_399)
                } else {
                    u
                }
            });
            let matching: Vec<&RepoRecord> = repo
                .records
                .iter()
                .filter(|r| {
                    f.is_none_or(|f| r.datestamp >= f) && u.is_none_or(|u| r.datestamp <= u)
                })
                .collect();
            if matching.is_empty() {
                return err(ErrorCode::NoRecordsMatch, "no records match");
            }
            if offset >= matching.len() {
                return err(ErrorCode::BadResumptionToken, "token past the end");
            }
            let end = (offset + repo.page_size).min(matching.len());
            let page: Vec<OaiRecord> = matching[offset..end]
                .iter()
                .map(|r| r.to_oai(repo.granularity))
                .collect();
            let next = |offset, round| {
                Token {
                    offset,
                    prefix: prefix.clone(),
                    from: from.clone(),
                    until: until.clone(),
                    round,
                }
                .encode()
            };
            let token = if repo.endless && end == matching.len() {
                Some(ResumptionToken {
                    token: next(0, round + 1),
                    complete_list_size: Some(matching.len() as u64),
                    cursor: Some(offset as u64),
                    expiration_date: None,
                })
            } else if end < matching.len() {
                Some(ResumptionToken {
                    token: next(end, round),
                    complete_list_size: Some(matching.len() as u64),
                    cursor: Some(offset as u64),
                    expiration_date: None,
                })
            } else if offset > 0 {
                Some(ResumptionToken {
                    token: String::new(),
                    complete_list_size: Some(matching.len() as u64),
                    cursor: Some(offset as u64),
                    expiration_date: None,
                })
            } else {
                None
            };
            write::list_records(date, base_url, verb_kind, &page, token.as_ref())
        }
        "GetRecord" => {
            let Some(id) = params.get("identifier") else {
                return err(ErrorCode::BadArgument, "identifier is required");
            };
            match repo.records.iter().find(|r| &r.identifier == id) {
                Some(r) => write::get_record(date, base_url, &r.to_oai(repo.granularity)),
                None => err(ErrorCode::IdDoesNotExist, "no such record"),
            }
        }
        _ => err(ErrorCode::BadVerb, "illegal or missing verb"),
    }
}
