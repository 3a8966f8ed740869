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

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
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
        }
    }

    /// Add or replace a record (matched by identifier).
    pub fn upsert(&mut self, rec: RepoRecord) {
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
        self.records.push(rec);
    }

    /// Mark a record deleted at `when`; false if unknown.
    pub fn delete(&mut self, identifier: &str, when: DateTime<Utc>) -> bool {
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

struct Shared {
    repo: Arc<Mutex<Repository>>,
    log: Arc<Mutex<Vec<String>>>,
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
        let shared = Arc::new(Shared {
            repo: repo.clone(),
            log: log.clone(),
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
            stop: Some(stop),
        })
    }

    /// The query strings received so far.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
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
) -> impl IntoResponse {
    let raw = raw.unwrap_or_default();
    if let Ok(mut log) = shared.log.lock() {
        log.push(raw.clone());
    }
    // A poisoned lock means a test thread panicked while editing the
    // repository; answer like a broken server would, with a 500.
    let (status, body, delay) = match shared.repo.lock() {
        Ok(repo) => {
            let is_list = params.get("verb").is_some_and(|v| v.starts_with("List"));
            let delay = if is_list {
                repo.list_delay
            } else {
                std::time::Duration::ZERO
            };
            (
                StatusCode::OK,
                respond(&repo, &shared.base_url, &params),
                delay,
            )
        }
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "repository lock poisoned".to_string(),
            std::time::Duration::ZERO,
        ),
    };
    tokio::time::sleep(delay).await;
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
}

/// The state a resumption token carries: where the next page starts and
/// the original request's arguments. Encoded with characters that need
/// URL-encoding (`|`, `:`, `+`), so that harvesters' encoding is exercised.
fn encode_token(offset: usize, prefix: &str, from: Option<&str>, until: Option<&str>) -> String {
    format!(
        "{offset}|{prefix}|{}|{}",
        from.unwrap_or(""),
        until.unwrap_or("")
    )
}

fn decode_token(t: &str) -> Option<(usize, String, Option<String>, Option<String>)> {
    let mut parts = t.split('|');
    let offset = parts.next()?.parse().ok()?;
    let prefix = parts.next()?.to_string();
    let opt = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
    let from = opt(parts.next());
    let until = opt(parts.next());
    Some((offset, prefix, from, until))
}

fn respond(repo: &Repository, base_url: &str, params: &HashMap<String, String>) -> String {
    let date = now();
    let err = |code: ErrorCode, msg: &str| write::error(&date, base_url, &code, msg);
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
                deleted_record: DeletedRecord::Persistent,
                granularity: repo.granularity,
            };
            write::identify(&date, base_url, &id, "admin@example.org")
        }
        "ListMetadataFormats" => {
            write::list_metadata_formats(&date, base_url, &[MetadataFormat::marc21()])
        }
        "ListRecords" | "ListIdentifiers" => {
            let verb_kind = if verb == "ListRecords" {
                Verb::ListRecords
            } else {
                Verb::ListIdentifiers
            };
            let (offset, prefix, from, until) = if let Some(token) = params.get("resumptionToken") {
                if params.len() != 2 {
                    return err(ErrorCode::BadArgument, "resumptionToken is exclusive");
                }
                match decode_token(token) {
                    Some(t) => t,
                    None => return err(ErrorCode::BadResumptionToken, "unknown token"),
                }
            } else {
                let Some(prefix) = params.get("metadataPrefix") else {
                    return err(ErrorCode::BadArgument, "metadataPrefix is required");
                };
                (
                    0,
                    prefix.clone(),
                    params.get("from").cloned(),
                    params.get("until").cloned(),
                )
            };
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
                .map(|r| OaiRecord {
                    header: Header {
                        identifier: r.identifier.clone(),
                        datestamp: repo.granularity.format(r.datestamp),
                        deleted: r.deleted,
                        sets: Vec::new(),
                    },
                    metadata: (!r.deleted).then(|| r.metadata.clone()),
                })
                .collect();
            let token = if end < matching.len() {
                Some(ResumptionToken {
                    token: encode_token(end, &prefix, from.as_deref(), until.as_deref()),
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
            write::list_records(&date, base_url, verb_kind, &page, token.as_ref())
        }
        "GetRecord" => {
            let Some(id) = params.get("identifier") else {
                return err(ErrorCode::BadArgument, "identifier is required");
            };
            match repo.records.iter().find(|r| &r.identifier == id) {
                Some(r) => {
                    let rec = OaiRecord {
                        header: Header {
                            identifier: r.identifier.clone(),
                            datestamp: repo.granularity.format(r.datestamp),
                            deleted: r.deleted,
                            sets: Vec::new(),
                        },
                        metadata: (!r.deleted).then(|| r.metadata.clone()),
                    };
                    write::get_record(&date, base_url, &rec)
                }
                None => err(ErrorCode::IdDoesNotExist, "no such record"),
            }
        }
        _ => err(ErrorCode::BadVerb, "illegal or missing verb"),
    }
}
