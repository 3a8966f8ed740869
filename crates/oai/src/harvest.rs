//! The state machine of one list run (`ListRecords` or `ListIdentifiers`
//! from the first request to the last page), in the shape of ntpd-rs's
//! `ntp-proto`: the shell asks what to fetch, fetches it, feeds the body
//! back, and is told what happened.
//!
//! It does no I/O, keeps no clock and never sleeps; retry timing belongs
//! to the shell. Its one promise is that an error leaves the state as it
//! was (except where documented), so "fetch the same URL again" is always
//! a correct response to a transient error.
//!
//! ```
//! use unicat_oai::{ListHarvest, ListRequest, Step, Verb};
//!
//! let pages: [&[u8]; 2] = [
//!     br#"<OAI-PMH><responseDate>2024-01-01T00:00:00Z</responseDate><ListIdentifiers>
//!         <header><identifier>a</identifier><datestamp>2023-12-31</datestamp></header>
//!         <resumptionToken>page+2</resumptionToken></ListIdentifiers></OAI-PMH>"#,
//!     br#"<OAI-PMH><responseDate>2024-01-01T00:00:05Z</responseDate><ListIdentifiers>
//!         <header><identifier>b</identifier><datestamp>2023-12-31</datestamp></header>
//!         <resumptionToken/></ListIdentifiers></OAI-PMH>"#,
//! ];
//! let mut run = ListHarvest::new("https://example.org/oai", Verb::ListIdentifiers, ListRequest::new("marc21"));
//! let mut fetched = pages.iter();
//! let mut stored = Vec::new();
//! while let Some(url) = run.url() {
//!     // The shell would GET `url` here, retrying while the error is transient.
//!     let body = fetched.next().unwrap();
//!     match run.on_response(body) {
//!         Ok(Step::Page(page)) => stored.extend(page.records),
//!         Ok(Step::Done) => break,
//!         Ok(Step::Restarted) => continue,
//!         Err(e) if e.is_transient() => continue,
//!         Err(e) => panic!("{e}"),
//!     }
//! }
//! assert_eq!(stored.len(), 2);
//! assert_eq!(run.first_response_date(), Some("2024-01-01T00:00:00Z"));
//! ```

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use crate::error::OaiError;
use crate::parse::{self, Answer};
use crate::request::{ListRequest, Request};
use crate::types::{ErrorCode, ListPage, Verb};

/// How many times a run goes back to its first request after
/// `badResumptionToken` before it gives up and reports the error. A
/// repository that rejects its own fresh tokens would otherwise restart
/// the run forever.
pub const MAX_RESTARTS: u32 = 2;

/// What a response meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A page of records to store (and a checkpoint to write);
    /// [`ListHarvest::next_request`] says what comes next, `None` when this
    /// was the last page.
    Page(ListPage),
    /// The run finished without a page: `noRecordsMatch`, a successful,
    /// empty harvest (or the end of a list whose remaining records
    /// disappeared while we were paging).
    Done,
    /// The repository rejected the resumption token (expired, or the
    /// checkpointed token of an interrupted run): the run starts again
    /// from its first request. Records already stored stay stored; the
    /// restarted run delivers them again, which is harmless because
    /// storing a record is an upsert.
    Restarted,
}

/// Where the run is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// The first request has not been answered with a page yet.
    Start,
    /// The next request resumes with this token.
    Resume(String),
    /// The list is complete.
    Done,
}

/// The state of one `ListRecords` or `ListIdentifiers` run.
#[derive(Debug, Clone)]
pub struct ListHarvest {
    base_url: String,
    verb: Verb,
    request: ListRequest,
    state: State,
    pages: u32,
    restarts: u32,
    first_response_date: Option<String>,
    /// Hashes of every token seen in this run, to catch a repository that
    /// cycles through tokens (A, B, A, …) as well as one that repeats the
    /// last. Hashes rather than tokens keep memory at 8 bytes a page; a
    /// false "repeated" needs a 64-bit collision between two tokens of the
    /// same run.
    seen_tokens: HashSet<u64>,
}

impl ListHarvest {
    /// A run that starts with the list request. `verb` should be
    /// [`Verb::ListRecords`] or [`Verb::ListIdentifiers`]; any verb other
    /// than `ListIdentifiers` runs `ListRecords`, since those are the only
    /// list verbs that page records.
    pub fn new(base_url: impl Into<String>, verb: Verb, req: ListRequest) -> Self {
        ListHarvest {
            base_url: base_url.into(),
            verb: if verb == Verb::ListIdentifiers {
                Verb::ListIdentifiers
            } else {
                Verb::ListRecords
            },
            request: req,
            state: State::Start,
            pages: 0,
            restarts: 0,
            first_response_date: None,
            seen_tokens: HashSet::new(),
        }
    }

    /// A run that continues from a checkpointed token. Restore the first
    /// response date with [`ListHarvest::with_first_response_date`] too,
    /// or the run cannot say where the next incremental harvest starts.
    /// An empty token starts from the beginning.
    pub fn resume_from(
        base_url: impl Into<String>,
        verb: Verb,
        req: ListRequest,
        token: String,
    ) -> Self {
        let mut run = ListHarvest::new(base_url, verb, req);
        if !token.is_empty() {
            run.seen_tokens.insert(token_hash(&token));
            run.state = State::Resume(token);
        }
        run
    }

    /// Restores the checkpointed first response date of a resumed run.
    pub fn with_first_response_date(mut self, date: impl Into<String>) -> Self {
        let date = date.into();
        self.first_response_date = Some(date).filter(|d| !d.is_empty());
        self
    }

    /// The next request to send, `None` when the run is complete.
    pub fn next_request(&self) -> Option<Request> {
        match &self.state {
            State::Start if self.verb == Verb::ListIdentifiers => {
                Some(Request::ListIdentifiers(self.request.clone()))
            }
            State::Start => Some(Request::ListRecords(self.request.clone())),
            State::Resume(token) => Some(Request::Resume {
                verb: self.verb,
                token: token.clone(),
            }),
            State::Done => None,
        }
    }

    /// The URL of [`ListHarvest::next_request`].
    pub fn url(&self) -> Option<String> {
        self.next_request().map(|r| r.url(&self.base_url))
    }

    /// Feeds the body of the response to the current request.
    ///
    /// - A page moves the run on: to `Resume` with its token, or to done
    ///   when the token is empty or absent.
    /// - `noRecordsMatch` ends the run successfully ([`Step::Done`]).
    /// - `badResumptionToken` on a resumed request goes back to the first
    ///   request ([`Step::Restarted`]), at most [`MAX_RESTARTS`] times;
    ///   after that it is returned as an error like any other.
    /// - A token this run has already seen is [`OaiError::RepeatedToken`].
    ///
    /// Every error, malformed bodies included, leaves the state unchanged,
    /// so the shell may retry the same request (worthwhile when
    /// [`OaiError::is_transient`]) or give up.
    pub fn on_response(&mut self, body: &[u8]) -> Result<Step, OaiError> {
        let resuming = match &self.state {
            State::Done => return Err(OaiError::NoPendingRequest),
            State::Start => false,
            State::Resume(_) => true,
        };
        match parse::parse_list(body, self.verb)? {
            Answer::Error {
                response_date,
                code,
                message,
            } => match code {
                ErrorCode::NoRecordsMatch => {
                    if !resuming {
                        self.remember_first_date(&response_date);
                    }
                    self.state = State::Done;
                    Ok(Step::Done)
                }
                ErrorCode::BadResumptionToken if resuming && self.restarts < MAX_RESTARTS => {
                    self.restarts += 1;
                    self.seen_tokens.clear();
                    self.state = State::Start;
                    Ok(Step::Restarted)
                }
                code => Err(OaiError::Protocol { code, message }),
            },
            Answer::Payload(page) => {
                let next = page.next_token().map(str::to_owned);
                let hash = next.as_deref().map(token_hash);
                if let (Some(token), Some(hash)) = (&next, hash) {
                    if self.seen_tokens.contains(&hash) {
                        return Err(OaiError::RepeatedToken {
                            token: token.clone(),
                        });
                    }
                }
                if !resuming {
                    self.remember_first_date(&page.response_date);
                }
                if let Some(hash) = hash {
                    self.seen_tokens.insert(hash);
                }
                self.pages = self.pages.saturating_add(1);
                self.state = match next {
                    Some(token) => State::Resume(token),
                    None => State::Done,
                };
                Ok(Step::Page(page))
            }
        }
    }

    /// Pages received so far in this run (restarts included).
    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// How many times `badResumptionToken` sent the run back to the start.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Whether the list is complete.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The list verb of this run.
    pub fn verb(&self) -> Verb {
        self.verb
    }

    /// The arguments of the first request.
    pub fn list_request(&self) -> &ListRequest {
        &self.request
    }

    /// The `responseDate` of this run's first request, as the repository
    /// wrote it: the `from` of the next incremental harvest once this run
    /// is complete (parse it with [`parse_datestamp`](crate::parse_datestamp)
    /// and format it in the repository's granularity). A restart keeps the
    /// original date, the earlier and therefore safer bound.
    pub fn first_response_date(&self) -> Option<&str> {
        self.first_response_date.as_deref()
    }

    /// The token the next request resumes with, for checkpointing; `None`
    /// before the first page and after the last.
    pub fn resumption_token(&self) -> Option<&str> {
        match &self.state {
            State::Resume(token) => Some(token),
            State::Start | State::Done => None,
        }
    }

    fn remember_first_date(&mut self, date: &str) {
        if self.first_response_date.is_none() && !date.is_empty() {
            self.first_response_date = Some(date.to_owned());
        }
    }
}

fn token_hash(token: &str) -> u64 {
    // DefaultHasher::new() uses fixed keys, so equal tokens always hash
    // equally within (and across) runs.
    let mut hasher = DefaultHasher::new();
    token.hash(&mut hasher);
    hasher.finish()
}
