//! Fault injection: one partner (`anl`, 24 records) harvested from a local
//! OAI-PMH server that misbehaves the way real endpoints do (HTTP errors,
//! Retry-After, resets, timeouts, junk bodies, bad characters, broken
//! paging, protocol errors), checking that every record still arrives, or
//! that the run fails cleanly with `from` left where it was.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::watch;
use unicat::config::{Config, Partner};
use unicat::demo;
use unicat::harvest::HarvestError;
use unicat::jobs::{HarvestJobReport, Jobs};
use unicat::oai_server::{Fault, OaiServer, RepoRecord};
use unicat::store::{PageCounts, RunInfo, Store};
use unicat_oai::{DeletedRecord, ErrorCode};

/// Records in the `anl` fixture.
const ANL_RECORDS: u64 = 24;

/// Records per page in most tests: 24 records make pages of 5, 5, 5, 5, 4.
const PAGE: usize = 5;

/// Pages of a full `anl` list at `PAGE` records a page.
const PAGES: usize = 5;

/// Fast back-off, so that retries cost milliseconds.
const HARVEST: &str = "[harvest]\nmax-retries = 3\nbackoff-ms = 10\ntimeout-secs = 10\n\
                       connect-timeout-secs = 5\n";

/// Text that occurs once in the served `anl` list: a subfield of the first
/// record (AZNL000123), which is on the first page.
const SUBFIELD: &str = "Murphy, Raymond,";

/// The `anl` partner alone, served by a local OAI-PMH server, with a
/// configuration written into a temporary directory.
struct Anl {
    dir: tempfile::TempDir,
    server: OaiServer,
    jobs: Jobs,
    partner: Partner,
}

impl Anl {
    /// `harvest` is the `[harvest]` table; `partner_options` is appended to
    /// the `[[partner]]` table (key/values first, then its sub-tables).
    async fn start(page_size: usize, harvest: &str, partner_options: &str) -> Anl {
        let dir = tempfile::tempdir().unwrap();
        let repo = demo::repository_for(&demo::PARTNERS[0], page_size, Utc::now()).unwrap();
        assert_eq!(repo.records.len() as u64, ANL_RECORDS);
        let server = OaiServer::start(repo).await.unwrap();
        let mut text = demo::config_text(
            &dir.path().join("state"),
            &dir.path().join("publish"),
            std::slice::from_ref(&server.base_url),
            harvest,
        );
        text.push_str(partner_options);
        let path = dir.path().join("unicat.toml");
        std::fs::write(&path, &text).unwrap();
        let config = Config::load(&path).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        assert_eq!(config.partners.len(), 1, "{text}");
        let partner = config.partners[0].clone();
        let jobs = Jobs::new(Arc::new(config)).unwrap();
        Anl {
            dir,
            server,
            jobs,
            partner,
        }
    }

    async fn default(page_size: usize) -> Anl {
        Anl::start(page_size, HARVEST, "").await
    }

    async fn harvest(&self) -> Result<HarvestJobReport, HarvestError> {
        let (_tx, rx) = watch::channel(false);
        self.jobs.harvest(&self.partner, rx).await
    }

    async fn harvest_ok(&self) -> HarvestJobReport {
        match self.harvest().await {
            Ok(r) => r,
            Err(e) => panic!(
                "harvest failed: {e}\nrequests: {:#?}",
                self.server.requests()
            ),
        }
    }

    fn store(&self) -> Store {
        self.jobs.open_store().unwrap()
    }

    fn live(&self) -> u64 {
        self.store().count_live_records("anl").unwrap()
    }

    fn last_run(&self) -> RunInfo {
        self.store()
            .last_run("anl")
            .unwrap()
            .expect("a recorded run")
    }

    /// Query strings of the requests with this verb, in order.
    fn requests(&self, verb: &str) -> Vec<String> {
        let verb = format!("verb={verb}");
        self.server
            .requests()
            .into_iter()
            .filter(|q| q.split('&').any(|p| p == verb))
            .collect()
    }

    /// The quarantine table: (oai id, reason).
    fn quarantine(&self) -> Vec<(String, String)> {
        let db =
            rusqlite::Connection::open(self.dir.path().join("state").join("unicat.db")).unwrap();
        let mut stmt = db
            .prepare("SELECT oai_id, reason FROM quarantine WHERE partner = 'anl' ORDER BY id")
            .unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    /// The served body of the first ListRecords page (one extra request).
    async fn first_page_body(&self) -> Vec<u8> {
        let url = format!(
            "{}?verb=ListRecords&metadataPrefix=marc21",
            self.server.base_url
        );
        reqwest::get(url)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }

    fn push(&self, fault: Fault) {
        self.server.push_fault(Some("ListRecords"), fault);
    }
}

/// What a plain HTTP/1.1 client receives for the first ListRecords page,
/// read until the server closes or breaks the connection.
async fn raw_first_page(server: &OaiServer) -> Vec<u8> {
    use std::io::{Read, Write};
    let addr = server.addr;
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(
            b"GET /oai?verb=ListRecords&metadataPrefix=marc21 HTTP/1.1\r\n\
              Host: 127.0.0.1\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        while let Ok(n @ 1..) = s.read(&mut chunk) {
            buf.extend_from_slice(&chunk[..n]);
        }
        buf
    })
    .await
    .unwrap()
}

/// A fault that changes nothing: lets the next request through untouched,
/// so that the fault queued after it hits the request after that.
fn pass() -> Fault {
    Fault::Replace {
        find: "no such text in any response".into(),
        with: Vec::new(),
    }
}

fn status(code: u16, retry_after: Option<String>) -> Fault {
    Fault::Status { code, retry_after }
}

/// Every record of a page lands in exactly one bucket.
fn seen(c: &PageCounts) -> u64 {
    c.new + c.updated + c.unchanged + c.deleted + c.quarantined
}

/// The value of a query parameter, still percent-encoded.
fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
}

fn assert_complete(anl: &Anl, report: &HarvestJobReport) {
    assert_eq!(anl.live(), ANL_RECORDS, "{:?}", report.harvest);
    assert_eq!(
        report.harvest.counts.new, ANL_RECORDS,
        "{:?}",
        report.harvest
    );
    assert_eq!(anl.last_run().outcome, "ok");
    assert!(anl.store().next_from("anl").unwrap().is_some());
}

// 503 + Retry-After in seconds is the standard "come back later"; the
// harvester must wait as told (not its 10 ms back-off) and then go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_503_with_retry_after_seconds_is_retried_after_the_wait() {
    let anl = Anl::default(PAGE).await;
    anl.push(pass());
    anl.push(status(503, Some("1".into())));
    let t = Instant::now();
    let report = anl.harvest_ok().await;
    let elapsed = t.elapsed();
    assert_complete(&anl, &report);
    let list = anl.requests("ListRecords");
    assert_eq!(list.len(), PAGES + 1, "{list:#?}");
    assert_eq!(list[1], list[2], "the failed page was not asked for again");
    assert!(
        elapsed >= Duration::from_millis(950),
        "Retry-After: 1 not honoured: the run took {elapsed:?}"
    );
}

// Retry-After may also be an HTTP date; 429 (rate limited) is transient.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_429_with_retry_after_http_date_is_retried_after_the_wait() {
    let anl = Anl::default(PAGE).await;
    let when = (Utc::now() + chrono::Duration::seconds(2))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    anl.push(pass());
    anl.push(status(429, Some(when.clone())));
    let t = Instant::now();
    let report = anl.harvest_ok().await;
    let elapsed = t.elapsed();
    assert_complete(&anl, &report);
    let list = anl.requests("ListRecords");
    assert_eq!(list.len(), PAGES + 1, "{list:#?}");
    assert_eq!(list[1], list[2]);
    // The date has whole seconds, so the wait is between 1 and 2 s.
    assert!(
        elapsed >= Duration::from_millis(900),
        "Retry-After: {when} not honoured: the run took {elapsed:?}"
    );
}

// Gateways answer 500/502/504 while the backend restarts; a few in a row
// must not lose the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_500_502_504_in_a_row_are_retried() {
    let anl = Anl::default(PAGE).await;
    anl.push(pass());
    for code in [500, 502, 504] {
        anl.push(status(code, None));
    }
    let report = anl.harvest_ok().await;
    assert_complete(&anl, &report);
    let list = anl.requests("ListRecords");
    assert_eq!(list.len(), PAGES + 3, "{list:#?}");
    assert!(list[1..=4].iter().all(|q| q == &list[1]), "{list:#?}");
}

// A server that stays down fails the run cleanly: an error with the status,
// `from` not advanced, the pages before kept, and the next run resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_failures_than_max_retries_fail_the_run_cleanly() {
    let anl = Anl::start(
        PAGE,
        &HARVEST.replace("max-retries = 3", "max-retries = 2"),
        "",
    )
    .await;
    anl.push(pass());
    for _ in 0..3 {
        anl.push(status(503, None));
    }
    let err = anl
        .harvest()
        .await
        .expect_err("the run should fail")
        .to_string();
    assert!(err.contains("503"), "{err}");
    let run = anl.last_run();
    assert_eq!(run.outcome, "failed");
    assert!(
        run.error.as_deref().unwrap_or("").contains("503"),
        "{run:?}"
    );
    assert_eq!(run.pages, 1, "{run:?}");
    assert_eq!(
        anl.store().next_from("anl").unwrap(),
        None,
        "`from` advanced"
    );
    assert_eq!(anl.live(), PAGE as u64, "the committed first page was lost");
    // One good page, then the first try and two retries of page 2.
    assert_eq!(anl.requests("ListRecords").len(), 1 + 3);

    // The next run picks up where this one stopped.
    anl.harvest_ok().await;
    assert_eq!(anl.live(), ANL_RECORDS);
    assert!(anl.store().next_from("anl").unwrap().is_some());
}

// A connection dropped halfway through the body is a network failure, not
// a short page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_reset_mid_body_is_retried() {
    let anl = Anl::default(PAGE).await;
    anl.push(pass());
    anl.push(Fault::Reset);
    let report = anl.harvest_ok().await;
    assert_complete(&anl, &report);
    let list = anl.requests("ListRecords");
    assert_eq!(list.len(), PAGES + 1, "{list:#?}");
    assert_eq!(list[1], list[2]);

    // The above only covers a reset *mid-body* if the fault really sends
    // the status line, headers and part of the body before breaking off.
    anl.push(Fault::Reset);
    let raw = raw_first_page(&anl.server).await;
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.contains("<OAI-PMH"),
        "Fault::Reset closed the connection after {} bytes, before the headers and part \
         of the body were sent, so no reset mid-body was tested: {:?}",
        raw.len(),
        &text[..text.len().min(200)]
    );
    assert!(!text.ends_with("0\r\n\r\n"), "the body was not cut off");
}

// An endpoint that stops answering must cost one timeout, not the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_timeout_is_retried() {
    let anl = Anl::start(
        PAGE,
        &HARVEST.replace("timeout-secs = 10", "timeout-secs = 1"),
        "",
    )
    .await;
    anl.push(pass());
    anl.push(Fault::Hang(Duration::from_secs(4)));
    let t = Instant::now();
    let report = anl.harvest_ok().await;
    let elapsed = t.elapsed();
    assert_complete(&anl, &report);
    let list = anl.requests("ListRecords");
    assert_eq!(list.len(), PAGES + 1, "{list:#?}");
    assert_eq!(list[1], list[2]);
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
}

// Overloaded endpoints send HTML error pages, empty bodies and cut-off
// documents with status 200; each must be fetched again, never taken for
// the end of the list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_bodies_with_status_200_are_retried_not_taken_as_the_end() {
    let anl = Anl::default(PAGE).await;
    let half = anl.first_page_body().await.len() / 2;
    let html = b"<!DOCTYPE html><html><head><title>Error</title></head>\
                 <body><h1>Service temporarily unavailable</h1></body></html>"
        .to_vec();
    anl.push(pass());
    anl.push(Fault::Body(html));
    anl.push(pass());
    anl.push(Fault::Body(Vec::new()));
    anl.push(pass());
    anl.push(Fault::Truncate(half));
    let report = anl.harvest_ok().await;
    assert_complete(&anl, &report);
    assert_eq!(anl.server.pending_faults(), 0);
    let list: Vec<String> = anl.requests("ListRecords").into_iter().skip(1).collect();
    assert_eq!(list.len(), PAGES + 3, "{list:#?}");
    for (bad, retry) in [(1, 2), (3, 4), (5, 6)] {
        assert_eq!(list[bad], list[retry], "{list:#?}");
    }
}

// Vertical tabs and references to surrogates are common in real MARC data
// and forbidden in XML: the page is kept and the text repaired, not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_xml_characters_are_repaired_and_counted() {
    let anl = Anl::default(PAGE).await;
    anl.push(Fault::Replace {
        find: SUBFIELD.into(),
        with: "Mur\u{0B}phy, Ray&#xD800;mond,".as_bytes().to_vec(),
    });
    let report = anl.harvest_ok().await;
    assert_complete(&anl, &report);
    let run = anl.last_run();
    assert!(run.counts.repaired >= 2, "{run:?}");
    assert_eq!(run.counts.quarantined, 0, "{run:?}");
    assert_eq!(anl.store().count_quarantined("anl").unwrap(), 0);
    let rec = anl
        .store()
        .find_source("anl", "AZNL000123")
        .unwrap()
        .expect("the repaired record is stored");
    assert!(!rec.record.contains('\u{0B}'), "{}", rec.record);
    assert!(!rec.record.contains("&#xD800;"), "{}", rec.record);
    assert!(rec.record.contains("Murphy, Ray"), "{}", rec.record);
}

// Invalid UTF-8 cannot be repaired without guessing: that one record is
// quarantined with the reason, its page-mates are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_quarantines_only_that_record() {
    let anl = Anl::default(PAGE).await;
    let mut with = b"Murphy, \xC3\x28".to_vec();
    with.extend_from_slice(b"Raymond,");
    anl.push(Fault::Replace {
        find: SUBFIELD.into(),
        with,
    });
    let report = anl.harvest_ok().await;
    let c = report.harvest.counts;
    assert_eq!(anl.live(), ANL_RECORDS - 1, "{c:?}");
    assert_eq!(anl.store().count_quarantined("anl").unwrap(), 1);
    assert_eq!((c.new, c.quarantined), (ANL_RECORDS - 1, 1), "{c:?}");
    assert_eq!(seen(&c), ANL_RECORDS, "counts do not add up: {c:?}");
    assert_eq!(anl.last_run().counts, c);
    let q = anl.quarantine();
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0].0, demo::oai_identifier("anl", "AZNL000123"));
    assert!(q[0].1.contains("UTF-8"), "{q:?}");
    assert!(anl
        .store()
        .find_source("anl", "AZNL000123")
        .unwrap()
        .is_none());
    // The rest of the first page is there.
    assert!(anl
        .store()
        .find_source("anl", "AZNL000187")
        .unwrap()
        .is_some());
}

// A repository that hands out a token it gave before would be followed
// forever; the run must stop and name the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_resumption_token_fails_the_run_without_looping() {
    let anl = Anl::default(PAGE).await;
    // Page 2 announces page 1's token again.
    anl.push(pass());
    anl.push(Fault::Replace {
        find: "10|marc21|||0".into(),
        with: b"5|marc21|||0".to_vec(),
    });
    let err = anl
        .harvest()
        .await
        .expect_err("the run should fail")
        .to_string();
    assert!(err.contains("5|marc21|||0"), "{err}");
    let list = anl.requests("ListRecords");
    assert_eq!(list.len(), 2, "{list:#?}");
    let run = anl.last_run();
    assert_eq!(run.outcome, "failed");
    assert!(
        run.error.as_deref().unwrap_or("").contains("5|marc21|||0"),
        "{run:?}"
    );
    assert_eq!(anl.store().next_from("anl").unwrap(), None);
}

// A list that never ends (fresh tokens forever) must be stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_list_is_stopped_with_an_error() {
    let anl = Anl::default(ANL_RECORDS as usize).await;
    anl.server.repo.lock().unwrap().endless = true;
    // Bounded, so that a regression fails here instead of hanging the suite.
    let err = tokio::time::timeout(Duration::from_secs(60), anl.harvest())
        .await
        .expect("the endless list was still being followed after a minute")
        .expect_err("the run should fail")
        .to_string();
    assert!(
        err.contains("completeListSize") || err.contains("does not end"),
        "{err}"
    );
    let n = anl.requests("ListRecords").len();
    assert!((2..=100).contains(&n), "{n} list requests");
    assert_eq!(anl.last_run().outcome, "failed");
    assert_eq!(anl.store().next_from("anl").unwrap(), None);
    assert_eq!(anl.live(), ANL_RECORDS);
}

// A repository that ignores `from` sends everything every time; identical
// records must not be re-versioned or re-published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_from_changes_nothing_downstream() {
    let anl = Anl::default(PAGE).await;
    anl.server.repo.lock().unwrap().ignore_from = true;
    anl.harvest_ok().await;
    let first = anl.jobs.publish().await.unwrap();
    let seq = anl.store().current_seq().unwrap();

    let before = anl.requests("ListRecords").len();
    let report = anl.harvest_ok().await;
    let list = anl.requests("ListRecords");
    assert!(
        param(&list[before], "from").is_some(),
        "second run was not incremental: {}",
        list[before]
    );
    let c = report.harvest.counts;
    assert_eq!(
        (c.new, c.updated, c.unchanged),
        (0, 0, ANL_RECORDS),
        "{c:?}"
    );
    assert_eq!(report.refresh.unions_changed, 0, "{:?}", report.refresh);
    assert_eq!(
        anl.store().current_seq().unwrap(),
        seq,
        "union records re-versioned"
    );
    let second = anl.jobs.publish().await.unwrap();
    assert_eq!(second.seq, first.seq);
    assert_eq!(second.deleted, 0);
    assert_eq!(second.records, first.records);
}

// Prefixed OAI and MARC elements are namespaces, not new vocabulary; a live
// record without metadata is quarantined; a record served twice is stored
// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixed_namespaces_missing_metadata_and_duplicates() {
    let anl = Anl::default(PAGE).await;
    let (dup_id, dup_xml) = {
        let repo = anl.server.repo.lock().unwrap();
        // The first record of page 2.
        (
            repo.records[PAGE].identifier.clone(),
            repo.records[PAGE].metadata.clone(),
        )
    };
    let now = Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    let header = |id: &str| {
        format!(
            "<oai:header><oai:identifier>{id}</oai:identifier>\
             <oai:datestamp>2024-01-01T00:00:00Z</oai:datestamp></oai:header>"
        )
    };
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<oai:OAI-PMH xmlns:oai="http://www.openarchives.org/OAI/2.0/" xmlns:marc="http://www.loc.gov/MARC21/slim">
<oai:responseDate>{now}</oai:responseDate>
<oai:request verb="ListRecords" metadataPrefix="marc21">{base}</oai:request>
<oai:ListRecords>
<oai:record>{h1}<oai:metadata><marc:record>
<marc:leader>00000cam a2200000 i 4500</marc:leader>
<marc:controlfield tag="001">PFX-1</marc:controlfield>
<marc:controlfield tag="008">190425s2019    enka          001 0 eng d</marc:controlfield>
<marc:datafield tag="245" ind1="0" ind2="0"><marc:subfield code="a">Prefixed namespaces everywhere</marc:subfield></marc:datafield>
</marc:record></oai:metadata></oai:record>
<oai:record>{h2}</oai:record>
<oai:record>{h3}<oai:metadata>{dup_xml}</oai:metadata></oai:record>
<oai:resumptionToken completeListSize="24" cursor="0">5|marc21|||0</oai:resumptionToken>
</oai:ListRecords>
</oai:OAI-PMH>
"#,
        base = anl.server.base_url,
        h1 = header("oai:anl:PFX-1"),
        h2 = header("oai:anl:PFX-NOMETA"),
        h3 = header(&dup_id),
    );
    anl.push(Fault::Body(body.into_bytes()));
    let report = anl.harvest_ok().await;
    let c = report.harvest.counts;
    // Page 1 is ours (3 records); pages 2–5 are the server's records 5–23.
    let served = 3 + (ANL_RECORDS - PAGE as u64);
    assert_eq!(seen(&c), served, "counts do not add up: {c:?}");
    assert_eq!(
        (c.new, c.unchanged, c.quarantined),
        (served - 2, 1, 1),
        "{c:?}"
    );
    let rec = anl
        .store()
        .find_source("anl", "PFX-1")
        .unwrap()
        .expect("the prefixed record is stored");
    assert!(
        rec.record.contains("Prefixed namespaces everywhere"),
        "{}",
        rec.record
    );
    assert_eq!(anl.live(), served - 2);
    let q = anl.quarantine();
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0].0, "oai:anl:PFX-NOMETA");
    assert!(q[0].1.contains("metadata"), "{q:?}");
}

// Repositories compress when asked; the body must be decoded, not parsed
// as gzip bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_responses_are_decoded() {
    let anl = Anl::default(PAGE).await;
    anl.server.repo.lock().unwrap().compress = true;
    let report = anl.harvest_ok().await;
    assert_complete(&anl, &report);
    assert_eq!(
        anl.requests("ListRecords").len(),
        PAGES,
        "responses were retried"
    );
}

// A response larger than max-response-mib fails the run with a clear
// message instead of exhausting memory, and is not fetched again and again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_response_fails_without_endless_retries() {
    let harvest = format!("{HARVEST}max-response-mib = 1\n");
    let anl = Anl::start(PAGE, &harvest, "").await;
    let mut with = SUBFIELD.as_bytes().to_vec();
    with.extend(std::iter::repeat_n(b'x', 2 << 20));
    anl.push(Fault::Replace {
        find: SUBFIELD.into(),
        with,
    });
    let err = anl
        .harvest()
        .await
        .expect_err("the run should fail")
        .to_string();
    assert!(err.contains("larger than the limit"), "{err}");
    assert_eq!(
        anl.requests("ListRecords").len(),
        1,
        "an oversized response was retried"
    );
    assert_eq!(anl.last_run().outcome, "failed");
    assert_eq!(anl.store().next_from("anl").unwrap(), None);
}

// An expired resumption token restarts the list from the first request;
// records already stored are not duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_resumption_token_restarts_the_list() {
    let anl = Anl::default(PAGE).await;
    anl.push(pass());
    anl.push(Fault::Protocol(ErrorCode::BadResumptionToken));
    let report = anl.harvest_ok().await;
    assert_eq!(anl.live(), ANL_RECORDS);
    let c = report.harvest.counts;
    assert_eq!((c.new, c.unchanged), (ANL_RECORDS, PAGE as u64), "{c:?}");
    let list = anl.requests("ListRecords");
    assert_eq!(list.len(), 1 + 1 + PAGES, "{list:#?}");
    assert_eq!(
        list[2], list[0],
        "the list was not restarted from the start"
    );
    assert!(param(&list[2], "resumptionToken").is_none(), "{list:#?}");
    assert_eq!(anl.last_run().outcome, "ok");
}

// Repositories that only know days answer badArgument to a seconds `from`
// although Identify says seconds; one retry in day granularity fixes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_argument_for_seconds_from_is_retried_in_day_granularity() {
    let anl = Anl::default(PAGE).await;
    anl.server.repo.lock().unwrap().day_granularity_only = true;
    anl.harvest_ok().await;
    // A change, so the incremental run has something to fetch.
    {
        let mut repo = anl.server.repo.lock().unwrap();
        let r = &mut repo.records[0];
        r.metadata = r.metadata.replace(SUBFIELD, "Murphy, R.,");
        r.datestamp = Utc::now();
    }
    let before = anl.requests("ListRecords").len();
    let report = anl.harvest_ok().await;
    let list = anl.requests("ListRecords")[before..].to_vec();
    assert_eq!(list.len(), 2, "{list:#?}");
    let seconds = param(&list[0], "from").expect("incremental");
    assert!(
        seconds.len() > 10,
        "first try was not in seconds: {seconds}"
    );
    let day = param(&list[1], "from").expect("incremental");
    assert_eq!(day.len(), 10, "retry was not in day granularity: {day}");
    assert!(seconds.starts_with(day), "{seconds} vs {day}");
    assert_eq!(report.harvest.counts.updated, 1, "{:?}", report.harvest);
    assert_eq!(anl.last_run().outcome, "ok");
}

// noRecordsMatch is how a repository says "nothing changed": a successful,
// empty run that moves `from` forward.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_records_match_is_a_successful_empty_run() {
    let anl = Anl::default(PAGE).await;
    anl.harvest_ok().await;
    let first_from = anl.store().next_from("anl").unwrap().unwrap();
    // responseDate has whole seconds: make the second one differ.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = anl.requests("ListRecords").len();
    let report = anl.harvest_ok().await;
    assert_eq!(anl.requests("ListRecords").len(), before + 1);
    assert_eq!(report.harvest.counts, PageCounts::default());
    let run = anl.last_run();
    assert_eq!(run.outcome, "ok");
    assert_eq!(run.counts, PageCounts::default());
    let next = anl.store().next_from("anl").unwrap().unwrap();
    let parse = |s: &str| unicat_oai::parse_datestamp(s).unwrap();
    assert!(
        parse(&next) > parse(&first_from),
        "`from` not advanced: {first_from} -> {next}"
    );
    assert_eq!(anl.live(), ANL_RECORDS);
}

// A persistent deletion marker removes the partner's holding, and the union
// record of a record held by nobody else disappears from the catalogue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_header_removes_the_record_and_its_union_record() {
    let anl = Anl::default(PAGE).await;
    anl.harvest_ok().await;
    let grouped: BTreeSet<String> = common::answer_key()
        .into_iter()
        .flat_map(|g| g.members)
        .filter(|(p, _)| p == "anl")
        .map(|(_, id)| id)
        .collect();
    let victim = {
        let repo = anl.server.repo.lock().unwrap();
        repo.records
            .iter()
            .map(|r| r.identifier.rsplit(':').next().unwrap().to_string())
            .find(|id| !grouped.contains(id))
            .expect("a singleton")
    };
    let store = anl.store();
    let src = store.find_source("anl", &victim).unwrap().unwrap();
    let cluster = store.cluster_of(src.id).unwrap().expect("clustered");
    anl.jobs.publish().await.unwrap();
    let union = std::fs::read_to_string(anl.dir.path().join("publish/union.xml")).unwrap();
    assert!(union.contains(&cluster), "{cluster} was never published");

    assert!(anl
        .server
        .repo
        .lock()
        .unwrap()
        .delete(&demo::oai_identifier("anl", &victim), Utc::now()));
    let report = anl.harvest_ok().await;
    assert_eq!(report.harvest.counts.deleted, 1, "{:?}", report.harvest);
    assert_eq!(anl.live(), ANL_RECORDS - 1);
    assert!(anl.store().find_source("anl", &victim).unwrap().is_none());
    match anl.store().union_record(&cluster).unwrap() {
        None | Some((_, true, _)) => {}
        Some(row) => panic!("union record {cluster} still live: {row:?}"),
    }
    let publish = anl.jobs.publish().await.unwrap();
    assert_eq!(publish.deleted, 1);
    let union = std::fs::read_to_string(anl.dir.path().join("publish/union.xml")).unwrap();
    assert!(!union.contains(&cluster), "{cluster} still published");
    let deleted = std::fs::read_to_string(anl.dir.path().join("publish/deleted.txt")).unwrap();
    assert!(deleted.lines().any(|l| l.trim() == cluster), "{deleted}");
}

// Repositories with deletedRecord "no" never say what they deleted; a full
// listing finds it, but a near-empty listing must not wipe the partner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_deletes_what_vanished_but_refuses_a_short_listing() {
    let anl = Anl::default(PAGE).await;
    anl.server.repo.lock().unwrap().deleted_record = DeletedRecord::No;
    anl.harvest_ok().await;
    let (_tx, rx) = watch::channel(false);

    let gone = anl.server.repo.lock().unwrap().records.remove(0).identifier;
    let (live, listed, deleted) = anl
        .jobs
        .reconcile(&anl.partner, rx.clone())
        .await
        .unwrap_or_else(|e| panic!("reconcile: {e}"));
    assert_eq!((live, listed, deleted), (ANL_RECORDS, ANL_RECORDS - 1, 1));
    assert_eq!(anl.live(), ANL_RECORDS - 1);
    assert!(anl.store().find_source("anl", &gone).unwrap().is_none());
    assert!(!anl.requests("ListIdentifiers").is_empty());

    anl.server.repo.lock().unwrap().records.drain(..20);
    let err = anl
        .jobs
        .reconcile(&anl.partner, rx)
        .await
        .expect_err("a listing of 3 for 23 records must be refused")
        .to_string();
    assert!(err.contains("ratio"), "{err}");
    assert_eq!(
        anl.live(),
        ANL_RECORDS - 1,
        "records deleted despite the refusal"
    );
}

// Endpoints whose ListRecords is broken are harvested with ListIdentifiers
// and one GetRecord per record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifiers_mode_fetches_every_record_with_get_record() {
    let anl = Anl::start(PAGE, HARVEST, "mode = \"identifiers\"\n").await;
    let report = anl.harvest_ok().await;
    assert_complete(&anl, &report);
    assert_eq!(anl.requests("ListIdentifiers").len(), PAGES);
    assert_eq!(anl.requests("GetRecord").len() as u64, ANL_RECORDS);
    assert!(anl.requests("ListRecords").is_empty());
}

// A secret that cannot be read fails the run with a message that says
// where it was looked for, and leaks no other secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_password_env_fails_naming_the_variable_not_the_secret() {
    std::env::set_var("UNICAT_FAULTS_KEY_1", "s3cret-api-key-1");
    std::env::remove_var("UNICAT_FAULTS_UNSET_PASSWORD");
    let options =
        "[partner.auth]\nuser = \"harvester\"\npassword-env = \"UNICAT_FAULTS_UNSET_PASSWORD\"\n\
                   [[partner.header]]\nname = \"X-Api-Key\"\nvalue-env = \"UNICAT_FAULTS_KEY_1\"\n";
    let anl = Anl::start(PAGE, HARVEST, options).await;
    let err = anl
        .harvest()
        .await
        .expect_err("the run should fail")
        .to_string();
    assert!(err.contains("UNICAT_FAULTS_UNSET_PASSWORD"), "{err}");
    assert!(!err.contains("s3cret"), "a secret leaked: {err}");
    let run = anl.last_run();
    assert_eq!(run.outcome, "failed");
    let stored = run.error.unwrap_or_default();
    assert!(stored.contains("UNICAT_FAULTS_UNSET_PASSWORD"), "{stored}");
    assert!(!stored.contains("s3cret"), "a secret leaked: {stored}");
    assert_eq!(anl.live(), 0);
}

// Secrets from the environment (password and header value) are read and
// the harvest goes ahead with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_and_header_from_env_harvest_successfully() {
    std::env::set_var("UNICAT_FAULTS_PASSWORD_2", "s3cret-password-2");
    std::env::set_var("UNICAT_FAULTS_KEY_2", "s3cret-api-key-2");
    let options =
        "[partner.auth]\nuser = \"harvester\"\npassword-env = \"UNICAT_FAULTS_PASSWORD_2\"\n\
                   [[partner.header]]\nname = \"X-Api-Key\"\nvalue-env = \"UNICAT_FAULTS_KEY_2\"\n";
    let anl = Anl::start(PAGE, HARVEST, options).await;
    let report = anl.harvest_ok().await;
    assert_complete(&anl, &report);
    // And they reach the server on every request.
    for h in anl.server.request_headers() {
        let auth = h
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(
            auth.starts_with("Basic ") && !auth.contains("s3cret"),
            "{auth}"
        );
        assert_eq!(
            h.get("x-api-key").and_then(|v| v.to_str().ok()),
            Some("s3cret-api-key-2")
        );
    }
}

// The run summary is what operators read: every record served is counted
// exactly once, in the report and in the stored run alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_counts_add_up_to_the_records_served() {
    let anl = Anl::default(PAGE).await;
    let report = anl.harvest_ok().await;
    let c = report.harvest.counts;
    assert_eq!(seen(&c), ANL_RECORDS, "{c:?}");
    assert_eq!(anl.last_run().counts, c);

    // One of each: updated, deleted, new, quarantined.
    let now = Utc::now();
    {
        let mut repo = anl.server.repo.lock().unwrap();
        let r = &mut repo.records[0];
        r.metadata = r.metadata.replace(SUBFIELD, "Murphy, R.,");
        r.datestamp = now;
        let deleted = repo.records[1].identifier.clone();
        assert!(repo.delete(&deleted, now));
        let template = repo.records[2].metadata.clone();
        repo.upsert(RepoRecord {
            identifier: "oai:anl:AZNL-NEW-1".into(),
            datestamp: now,
            deleted: false,
            metadata: template.replace(">AZNL000245<", ">AZNL-NEW-1<"),
        });
        repo.upsert(RepoRecord {
            identifier: "oai:anl:BROKEN".into(),
            datestamp: now,
            deleted: false,
            metadata:
                "<record xmlns=\"http://www.loc.gov/MARC21/slim\"><leader>short</leader></record>"
                    .into(),
        });
    }
    let report = anl.harvest_ok().await;
    let c = report.harvest.counts;
    assert_eq!(seen(&c), 4, "counts do not add up: {c:?}");
    assert_eq!(
        (c.new, c.updated, c.unchanged, c.deleted, c.quarantined),
        (1, 1, 0, 1, 1),
        "{c:?}"
    );
    assert_eq!(anl.last_run().counts, c);
    assert_eq!(anl.live(), ANL_RECORDS);
}
