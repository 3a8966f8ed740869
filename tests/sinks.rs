//! Publishing sinks: files (full and delta dumps in three formats, gzip,
//! retention) and HTTP push, including the crash between writing and
//! recording the sequence number, and a push endpoint that fails.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use chrono::Utc;
use common::Setup;
use unicat::config::Config;
use unicat::jobs::Jobs;
use unicat::oai_server::RepoRecord;

fn gunzip(path: &Path) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    s
}

fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    v.sort();
    v
}

fn jobs_with(setup: &Setup, sinks: &str) -> Jobs {
    let text = std::fs::read_to_string(&setup.config_path).unwrap();
    std::fs::write(&setup.config_path, format!("{text}\n{sinks}")).unwrap();
    Jobs::new(Arc::new(Config::load(&setup.config_path).unwrap())).unwrap()
}

/// Retitle one record of the first demo partner that is a union record on
/// its own (so exactly one union record changes), with a new datestamp so
/// the next incremental harvest fetches it.
fn retitle_one(setup: &Setup, title: &str) {
    let grouped: std::collections::BTreeSet<String> = common::answer_key()
        .into_iter()
        .flat_map(|g| g.members)
        .map(|(p, id)| format!("oai:{p}:{id}"))
        .collect();
    let repo = setup.servers[0].repo.lock().unwrap();
    let r = repo
        .records
        .iter()
        .find(|r| !grouped.contains(&r.identifier))
        .unwrap();
    let mut rec = unicat_marc::marcxml::parse_record(&r.metadata).unwrap();
    for f in rec.fields.iter_mut() {
        if let unicat_marc::Field::Data(d) = f {
            if d.tag == "245" {
                d.subfields = vec![unicat_marc::Subfield {
                    code: 'a',
                    value: title.into(),
                }];
            }
        }
    }
    let id = r.identifier.clone();
    drop(repo);
    setup.servers[0].repo.lock().unwrap().upsert(RepoRecord {
        identifier: id,
        datestamp: Utc::now(),
        deleted: false,
        metadata: unicat_marc::marcxml::to_string(&rec),
    });
}

async fn harvest(jobs: &Jobs) {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    for p in &jobs.config.partners {
        jobs.harvest(p, rx.clone()).await.unwrap();
    }
}

// Full and delta dumps in MARCXML, ISO 2709 and MARC-in-JSON, gzipped; the
// delta holds exactly what changed; old publishes are pruned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_sink_writes_full_and_delta_dumps_with_retention() {
    let setup = Setup::new(10).await;
    let dumps = setup.dir.path().join("dumps");
    let jobs = jobs_with(
        &setup,
        &format!(
            "[[publish.sink]]\nname = \"dumps\"\ndir = {:?}\ngzip = true\nretention = 2\n",
            dumps.display().to_string()
        ),
    );
    harvest(&jobs).await;
    jobs.publish().await.unwrap();
    let expected = common::expected_union_count();
    let full_json = files(&dumps, "full-")
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
        .unwrap();
    let lines: Vec<serde_json::Value> = gunzip(&full_json)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), expected);
    assert!(lines
        .iter()
        .all(|v| v["leader"].is_string() && v["fields"][0]["001"].is_string()));
    let full_xml = files(&dumps, "full-")
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".xml.gz"))
        .unwrap();
    assert_eq!(gunzip(&full_xml).matches("<record").count(), expected);

    // One change: the next delta holds exactly that union record.
    retitle_one(&setup, "A retitled book for the delta");
    harvest(&jobs).await;
    jobs.publish().await.unwrap();
    let deltas = files(&dumps, "delta-");
    let newest = deltas
        .iter()
        .rfind(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
        .unwrap();
    let delta = gunzip(newest);
    assert_eq!(delta.lines().count(), 1, "{delta}");
    assert!(delta.contains("A retitled book for the delta"));

    // A third publish with a change: only the two newest publishes remain.
    retitle_one(&setup, "Retitled again");
    harvest(&jobs).await;
    jobs.publish().await.unwrap();
    let full = files(&dumps, "full-");
    assert_eq!(full.len(), 2 * 3, "{full:?}");
}

// A crash after the files were renamed into place but before the sequence
// number was recorded: the next delta carries the same changes again, so
// nothing is lost (a consumer may see a record twice, which is harmless).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_writing_and_recording_loses_nothing() {
    let setup = Setup::new(10).await;
    let dumps = setup.dir.path().join("dumps");
    let jobs = jobs_with(
        &setup,
        &format!(
            "[[publish.sink]]\nname = \"dumps\"\ndir = {:?}\nformats = [\"json\"]\n",
            dumps.display().to_string()
        ),
    );
    harvest(&jobs).await;
    jobs.publish().await.unwrap();
    let mut store = setup.store();
    let first = store.publish_seq("dumps").unwrap();
    retitle_one(&setup, "Changed before the crash");
    harvest(&jobs).await;
    jobs.publish().await.unwrap();
    // The crash: the sink's number never moved past the first publish.
    store.set_publish_seq("dumps", first).unwrap();
    retitle_one(&setup, "Changed after the crash");
    harvest(&jobs).await;
    jobs.publish().await.unwrap();
    let newest = files(&dumps, "delta-").into_iter().last().unwrap();
    assert!(
        newest
            .to_string_lossy()
            .contains(&format!("delta-{first:012}-")),
        "{newest:?}"
    );
    let delta = std::fs::read_to_string(&newest).unwrap();
    assert!(delta.contains("Changed after the crash"), "{delta}");
}

/// (query string, body) of each POST received.
type Posts = Arc<Mutex<Vec<(Option<String>, String)>>>;

#[derive(Clone, Default)]
struct Received {
    posts: Posts,
    fail_first: Arc<Mutex<u32>>,
}

async fn receive(State(r): State<Received>, RawQuery(q): RawQuery, body: String) -> StatusCode {
    {
        let mut f = r.fail_first.lock().unwrap();
        if *f > 0 {
            *f -= 1;
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    r.posts.lock().unwrap().push((q, body));
    StatusCode::OK
}

async fn push_server(fail_first: u32) -> (String, Received) {
    let received = Received::default();
    *received.fail_first.lock().unwrap() = fail_first;
    let app = Router::new()
        .route("/push", post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/push", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

// HTTP push: batches of changed records (retried through a 503), then the
// deletions as their own request; the number moves only after 2xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sink_pushes_batches_and_deletions() {
    let setup = Setup::new(10).await;
    let (url, received) = push_server(1).await;
    let jobs = jobs_with(
        &setup,
        &format!("[[publish.sink]]\nname = \"search\"\nurl = {url:?}\nbatch-size = 20\nbackoff-ms = 10\n"),
    );
    harvest(&jobs).await;
    jobs.publish().await.unwrap();
    let expected = common::expected_union_count();
    let posts = received.posts.lock().unwrap().clone();
    let records: usize = posts.iter().map(|(_, b)| b.lines().count()).sum();
    assert_eq!(records, expected);
    assert_eq!(posts.len(), expected.div_ceil(20));
    assert_eq!(
        setup.store().publish_seq("search").unwrap(),
        setup.store().current_seq().unwrap()
    );

    // A deletion goes as its own request.
    let id = setup.servers[2].repo.lock().unwrap().records[24]
        .identifier
        .clone();
    assert!(setup.servers[2]
        .repo
        .lock()
        .unwrap()
        .delete(&id, Utc::now()));
    harvest(&jobs).await;
    jobs.publish().await.unwrap();
    let posts = received.posts.lock().unwrap().clone();
    let (query, body) = posts.last().unwrap();
    assert_eq!(query.as_deref(), Some("deleted=true"));
    assert_eq!(body.lines().count(), 1);
}

// An endpoint that keeps failing: the publish reports it and the sink's
// number stays, so the next publish sends everything again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_http_sink_does_not_advance() {
    let setup = Setup::new(10).await;
    let (url, _received) = push_server(1000).await;
    let jobs = jobs_with(
        &setup,
        &format!("[[publish.sink]]\nname = \"search\"\nurl = {url:?}\nmax-retries = 1\nbackoff-ms = 10\n"),
    );
    harvest(&jobs).await;
    let err = jobs.publish().await.unwrap_err();
    assert!(format!("{err:#}").contains("search"), "{err:#}");
    assert_eq!(setup.store().publish_seq("search").unwrap(), 0);
    // The default file sink still published.
    assert!(setup.publish_dir().join("union.xml").exists());
}

// #19 item 1 for the push side: a push target answering 307 to another
// host made reqwest resend the sink's API key there. The redirect is not
// followed: the other host receives nothing and the push fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sink_does_not_follow_a_redirect_with_its_api_key() {
    let setup = Setup::new(10).await;
    let seen_keys: Arc<Mutex<Vec<String>>> = Arc::default();
    let keys = seen_keys.clone();
    let other = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let keys = keys.clone();
        async move {
            if let Some(k) = headers.get("x-api-key") {
                keys.lock()
                    .unwrap()
                    .push(k.to_str().unwrap_or("?").to_string());
            }
            StatusCode::OK
        }
    });
    // Another origin on the loopback: 127.0.0.2 (all of 127/8 is local).
    let other_listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let other_addr = other_listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(other_listener, other).await.unwrap() });
    // The push target sends every request to the other host.
    let target = format!("http://{other_addr}/push");
    let redirecting = axum::Router::new().fallback(move || {
        let target = target.clone();
        async move {
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, target)],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/push", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, redirecting).await.unwrap() });
    let jobs = jobs_with(
        &setup,
        &format!(
            "[[publish.sink]]\nname = \"search\"\nurl = {url:?}\nmax-retries = 0\nbackoff-ms = 10\n\
             [[publish.sink.header]]\nname = \"X-Api-Key\"\nvalue = \"secret-key-123\"\n"
        ),
    );
    harvest(&jobs).await;
    let err = jobs.publish().await.unwrap_err();
    assert!(format!("{err:#}").contains("search"), "{err:#}");
    assert!(
        seen_keys.lock().unwrap().is_empty(),
        "the API key reached the host the redirect named"
    );
    assert_eq!(setup.store().publish_seq("search").unwrap(), 0);
}

// A publish that fails halfway (here: a stored union record that no longer
// parses) leaves the previous dump in place and the sink's number where it
// was, and leaves no half-written file behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_failing_halfway_keeps_the_previous_dump() {
    let setup = Setup::new(10).await;
    let dumps = setup.dir.path().join("dumps");
    let jobs = jobs_with(
        &setup,
        &format!(
            "[[publish.sink]]\nname = \"dumps\"\ndir = {:?}\nformats = [\"json\"]\n",
            dumps.display().to_string()
        ),
    );
    harvest(&jobs).await;
    jobs.publish().await.unwrap();
    let before: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dumps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    let seq = setup.store().publish_seq("dumps").unwrap();
    let default_dump = std::fs::read(setup.publish_dir().join("union.xml")).unwrap();

    // Something changes, and one stored union record is damaged.
    retitle_one(&setup, "A change that will not be published");
    harvest(&jobs).await;
    {
        let conn = rusqlite::Connection::open(setup.dir.path().join("state/unicat.db")).unwrap();
        conn.execute(
            "UPDATE union_records SET record = '<record><leader>broken' WHERE cluster_id = (
                SELECT cluster_id FROM union_records WHERE deleted = 0 ORDER BY cluster_id DESC LIMIT 1)",
            [],
        )
        .unwrap();
    }
    assert!(jobs.publish().await.is_err());
    // The files sink on its own, too (the default dump failed first above).
    let sink = jobs.config.publish.sinks[0].clone();
    let err = unicat::sinks::publish_files(&mut setup.store(), "dumps", &sink).unwrap_err();
    assert!(format!("{err:#}").contains("does not parse"), "{err:#}");
    assert_eq!(setup.store().publish_seq("dumps").unwrap(), seq);
    assert_eq!(
        std::fs::read(setup.publish_dir().join("union.xml")).unwrap(),
        default_dump
    );
    let after: Vec<PathBuf> = std::fs::read_dir(&dumps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(after.len(), before.len(), "{after:?}");
    for (p, bytes) in before {
        assert_eq!(std::fs::read(&p).unwrap(), bytes, "{p:?} changed");
    }
}

// A delta-only files sink (`full = false`): no full dumps; the first
// publish's delta is the whole catalogue, the next one exactly the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_only_files_sink_writes_no_full_dump() {
    let setup = Setup::new(10).await;
    let feed = setup.dir.path().join("feed");
    let jobs = jobs_with(
        &setup,
        &format!(
            "[[publish.sink]]\nname = \"feed\"\ndir = {:?}\nformats = [\"json\"]\nfull = false\n",
            feed.display().to_string()
        ),
    );
    harvest(&jobs).await;
    jobs.publish().await.unwrap();
    assert!(files(&feed, "full-").is_empty(), "a full dump was written");
    let first = files(&feed, "delta-");
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(
        std::fs::read_to_string(&first[0]).unwrap().lines().count(),
        common::expected_union_count()
    );

    // Nothing changed: nothing written.
    jobs.publish().await.unwrap();
    assert_eq!(files(&feed, "delta-").len(), 1);

    retitle_one(&setup, "Retitled for the delta-only feed");
    harvest(&jobs).await;
    jobs.publish().await.unwrap();
    let deltas = files(&feed, "delta-");
    assert_eq!(deltas.len(), 2, "{deltas:?}");
    let delta = std::fs::read_to_string(deltas.last().unwrap()).unwrap();
    assert_eq!(delta.lines().count(), 1, "{delta}");
    assert!(delta.contains("Retitled for the delta-only feed"));
    assert!(files(&feed, "full-").is_empty());
}
