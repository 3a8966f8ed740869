//! Two `unicat run` daemons (real processes, each with its own state and
//! output directory) sharing one PostgreSQL store over four partners served
//! on 127.0.0.1: a schedule tick harvests every partner once between them,
//! a publish time publishes once, and when the daemon harvesting a partner
//! is killed the other one takes the partner over once its lease expires
//! and finishes the run. The union catalogue is the one a single process
//! builds from the same servers.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, SubsecRound, Timelike, Utc};
use unicat::config::{Config, StoreLocation};
use unicat::demo::{self, DemoPartner};
use unicat::jobs::Jobs;
use unicat::oai_server::OaiServer;
use unicat::store::Store;

/// The fourth partner: anl's records again under another library's name,
/// so that each of them is a duplicate to merge across partners.
const MIRROR: DemoPartner = DemoPartner {
    name: "anl-mirror",
    code: "AZ-BaMIR",
    library: "A mirror of the National Library of Azerbaijan (test)",
    xml: demo::PARTNERS[0].xml,
};

fn partners() -> Vec<&'static DemoPartner> {
    demo::PARTNERS.iter().chain([&MIRROR]).collect()
}

/// A cron expression (with seconds) that fires at `t` (UTC) and then not
/// again for a year.
fn cron_at(t: DateTime<Utc>) -> String {
    format!(
        "{} {} {} {} {} *",
        t.second(),
        t.minute(),
        t.hour(),
        t.day(),
        t.month()
    )
}

const RARELY: &str = "0 0 1 1 *";

/// One endpoint per partner with `page_size` records a page; `slow`: the
/// partner (by index) that pages with (page size, delay per list page).
async fn start_servers(page_size: usize, slow: Option<(usize, usize, Duration)>) -> Vec<OaiServer> {
    let now = Utc::now();
    let mut servers = Vec::new();
    for (i, p) in partners().into_iter().enumerate() {
        let mut repo = demo::repository_for(p, page_size, now).unwrap();
        if let Some((_, size, delay)) = slow.filter(|s| s.0 == i) {
            repo.page_size = size;
            repo.list_delay = delay;
        }
        servers.push(OaiServer::start(repo).await.unwrap());
    }
    servers
}

/// The configuration of one daemon: its own state and output directory in
/// `dir`, the store in the database `db` (None: SQLite in the state
/// directory), every partner on `schedule`, publishing on `publish`.
fn write_config(
    dir: &Path,
    db: Option<&str>,
    servers: &[OaiServer],
    schedule: &str,
    publish: &str,
) -> PathBuf {
    let mut text = format!(
        "state-dir = {:?}\ncatalogue-code = \"UNICAT-DEMO\"\n\n\
         [harvest]\nmax-retries = 2\nbackoff-ms = 10\ntimeout-secs = 10\n\n\
         {}\n[daemon]\nshutdown-grace-secs = 10\n\n\
         [publish]\noutput-dir = {:?}\nschedule = {publish:?}\n",
        dir.join("state").display().to_string(),
        db.map(common::pg_store_table).unwrap_or_default(),
        dir.join("publish").display().to_string(),
    );
    for (p, s) in partners().into_iter().zip(servers) {
        text.push_str(&format!(
            "\n[[partner]]\nname = {:?}\ncode = {:?}\nbase-url = {:?}\nschedule = {schedule:?}\n",
            p.name, p.code, s.base_url
        ));
    }
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("unicat.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A `unicat run` process with its stderr collected; its log is printed if
/// the test fails while it is around.
struct Daemon {
    name: &'static str,
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Daemon {
    fn start(name: &'static str, config: &Path) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_unicat"))
            .arg("--config")
            .arg(config)
            .arg("run")
            .env("UNICAT_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = common::collect_stderr(&mut child);
        Daemon {
            name,
            child,
            stderr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGTERM, then wait (up to 30 s) for a clean exit: a running dedup
    /// pass finishes first.
    async fn stop(&mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM {} failed", self.name);
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "{} did not stop", self.name);
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(status.success(), "{} exited with {status}", self.name);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // Give the reader thread a moment to take the last lines.
            std::thread::sleep(Duration::from_millis(100));
            eprintln!(
                "----- log of daemon {} (pid {}) -----\n{}",
                self.name,
                self.pid(),
                self.log()
            );
        }
    }
}

/// Wait until both daemons have opened (and between them migrated) the
/// store, so that its tables exist.
async fn wait_started(daemons: &[Daemon]) {
    wait_until("both daemons to start", 20, || {
        daemons.iter().all(|d| d.log().contains("daemon started"))
    })
    .await;
}

async fn wait_until(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One row of `harvest_runs`.
#[derive(Debug, Clone)]
struct Run {
    id: i64,
    partner: String,
    started_at: DateTime<Utc>,
    outcome: String,
    pages: i64,
}

fn runs(db: &str) -> Vec<Run> {
    common::pg_query(db, |c| {
        c.query(
            "SELECT id, partner, started_at, outcome, pages FROM harvest_runs ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| Run {
            id: r.get(0),
            partner: r.get(1),
            started_at: r.get::<_, String>(2).parse().unwrap(),
            outcome: r.get(3),
            pages: r.get(4),
        })
        .collect()
    })
}

/// Successful runs by partner (every partner listed, perhaps with none).
fn ok_runs(db: &str) -> BTreeMap<String, Vec<Run>> {
    let mut by: BTreeMap<String, Vec<Run>> = partners()
        .iter()
        .map(|p| (p.name.to_string(), Vec::new()))
        .collect();
    for r in runs(db).into_iter().filter(|r| r.outcome == "ok") {
        by.entry(r.partner.clone()).or_default().push(r);
    }
    by
}

/// The pid in a lease holder's name (`host:pid:tag`).
fn holder_pid(holder: &str) -> u32 {
    holder.rsplit(':').nth(1).unwrap().parse().unwrap()
}

/// The live union catalogue: each cluster, by its members (partner, OAI
/// identifier), with its id and union record.
type Catalogue = BTreeMap<BTreeSet<(String, String)>, (String, String)>;

fn catalogue(store: &Store) -> Catalogue {
    let mut rows = Vec::new();
    store
        .for_each_live_union(|r| {
            rows.push(r);
            Ok(())
        })
        .unwrap();
    rows.into_iter()
        .map(|r| {
            let members = store
                .cluster_members(&r.cluster_id)
                .unwrap()
                .into_iter()
                .map(|m| (m.partner, m.oai_id))
                .collect();
            (members, (r.cluster_id, r.record))
        })
        .collect()
}

fn pg_catalogue(db: &str) -> Catalogue {
    let store = Store::connect(&StoreLocation::Postgres {
        url: db.to_string(),
        password: None,
        pool_size: 2,
    })
    .unwrap();
    catalogue(&store)
}

/// A union record with the other union ids it names (in linking fields)
/// written as their clusters' members, and work ids taken out.
fn neutral_ids(record: &str, catalogue: &Catalogue) -> String {
    let by_id: BTreeMap<&str, String> = catalogue
        .iter()
        .map(|(members, (id, _))| (id.as_str(), format!("{members:?}")))
        .collect();
    let union_id = regex::Regex::new(r"\buc[0-9a-f]{16}\b").unwrap();
    let record = union_id.replace_all(record, |c: &regex::Captures<'_>| {
        by_id
            .get(&c[0])
            .cloned()
            .unwrap_or_else(|| c[0].to_string())
    });
    let work_id = regex::Regex::new(r"\bwk[0-9a-f]{16}\b").unwrap();
    let record = work_id.replace_all(&record, "<work>");
    // Links of one tag are written in the order of their union ids, so
    // they are compared as a set.
    let link =
        regex::Regex::new(r#"(?s)\s*<datafield tag="7(65|67|73|74|75|76|87)".*?</datafield>"#)
            .unwrap();
    let mut links: Vec<&str> = link.find_iter(&record).map(|m| m.as_str()).collect();
    links.sort_unstable();
    format!("{}{}", link.replace_all(&record, ""), links.concat())
}

/// What one process makes of the same servers on its own SQLite store:
/// every partner harvested, then one dedup pass.
async fn single_process_catalogue(servers: &[OaiServer]) -> Catalogue {
    for s in servers {
        s.repo.lock().unwrap().list_delay = Duration::ZERO;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), None, servers, RARELY, RARELY);
    let jobs = Jobs::new(Arc::new(Config::load(&config).unwrap())).unwrap();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    for p in &jobs.config.partners {
        jobs.harvest_records(p, rx.clone()).await.unwrap();
    }
    jobs.refresh().await.unwrap();
    catalogue(&jobs.open_store().unwrap())
}

/// The two daemons' catalogue is the single process's: the same clusters,
/// each with the same union record. Union ids are compared only as far as
/// they are a function of the data: ARCHITECTURE.md says a new cluster's
/// id comes from its lowest member *at the time*, so ids depend on which
/// partner arrived first, and two daemons harvest in no fixed order. Each
/// id must be one derived from a member of its cluster, and the records
/// must be equal once the id is taken out. The same holds for the ids in
/// the work links (issue #18): a linking field's union id stands for its
/// cluster's members, and work ids (758), which come from a union id, are
/// taken out.
fn assert_same_catalogue(shared: &Catalogue, single: &Catalogue) {
    assert_eq!(
        shared.keys().collect::<Vec<_>>(),
        single.keys().collect::<Vec<_>>(),
        "the two daemons clustered the records otherwise than one process"
    );
    // Every mirror record joins its anl original.
    assert_eq!(single.len(), common::expected_union_count());
    for (members, (id, record)) in shared {
        let (single_id, single_record) = &single[members];
        assert!(
            members
                .iter()
                .any(|(p, o)| unicat::dedup::keys::cluster_id(p, o) == *id),
            "union id {id} is not derived from a member of {members:?}"
        );
        assert_eq!(
            neutral_ids(&record.replace(id.as_str(), "<id>"), shared),
            neutral_ids(&single_record.replace(single_id.as_str(), "<id>"), single),
            "union record of {members:?} differs"
        );
    }
}

// Every schedule tick (the catch-up at start, then a cron time) harvests
// each partner exactly once between the two daemons, and a publish time
// publishes once, into one daemon's output directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_harvest_each_partner_once_per_tick_and_publish_once() {
    let Some(db) = common::pg_test_database() else {
        return;
    };
    let servers = start_servers(5, None).await;
    // 100 ms a list page: a harvest lasts long enough for the other daemon
    // to find the partner busy and wait for it.
    for s in &servers {
        s.repo.lock().unwrap().list_delay = Duration::from_millis(100);
    }
    let tmp = tempfile::tempdir().unwrap();
    // Far enough ahead for the catch-up harvests (about 2 s) to be over
    // even on a loaded machine.
    let tick = Utc::now().trunc_subsecs(0) + chrono::Duration::seconds(10);
    let publish_at = tick + chrono::Duration::seconds(6);
    let (sched, publ) = (cron_at(tick), cron_at(publish_at));
    let dirs = [tmp.path().join("a"), tmp.path().join("b")];
    let mut daemons = [
        Daemon::start(
            "a",
            &write_config(&dirs[0], Some(&db), &servers, &sched, &publ),
        ),
        Daemon::start(
            "b",
            &write_config(&dirs[1], Some(&db), &servers, &sched, &publ),
        ),
    ];

    wait_started(&daemons).await;
    // Tick 1: never-harvested partners are due at once on both daemons.
    wait_until("the catch-up harvests", 20, || {
        ok_runs(&db).values().all(|r| !r.is_empty())
    })
    .await;
    // Tick 2 and the publish: done when the daemon that did not publish
    // has found the publish done (by then tick 2's harvests, six seconds
    // earlier and taking about one, are long decided on both daemons).
    let skipped = "already published for this time by another daemon";
    wait_until("the publish time", 30, || {
        daemons.iter().any(|d| d.log().contains(skipped))
    })
    .await;
    for d in &mut daemons {
        d.stop().await;
    }

    for (partner, ok) in ok_runs(&db) {
        let before: Vec<&Run> = ok.iter().filter(|r| r.started_at < tick).collect();
        let after: Vec<&Run> = ok.iter().filter(|r| r.started_at >= tick).collect();
        assert_eq!(
            (before.len(), after.len()),
            (1, 1),
            "{partner}: successful runs {ok:?} for the catch-up and the tick at {tick}"
        );
    }
    let all = runs(&db);
    assert!(
        all.iter().all(|r| r.outcome == "ok"),
        "a run failed: {all:?}"
    );

    // One publisher: the files are in exactly one output directory, and the
    // store remembers the publish for that time.
    let published: Vec<&PathBuf> = dirs
        .iter()
        .filter(|d| d.join("publish/union.xml").exists())
        .collect();
    assert_eq!(published.len(), 1, "published into {published:?}");
    let publisher = usize::from(published[0] == &dirs[1]);
    assert!(
        daemons[1 - publisher].log().contains(skipped),
        "the other daemon did not find the publish done"
    );
    let last: DateTime<Utc> = common::pg_query(&db, |c| {
        c.query_one(
            "SELECT value FROM meta_text WHERE key = 'last_scheduled_publish'",
            &[],
        )
        .unwrap()
        .get::<_, String>(0)
    })
    .parse()
    .unwrap();
    assert!(
        last >= publish_at,
        "last publish {last} before {publish_at}"
    );
    let union = std::fs::read_to_string(published[0].join("publish/union.xml")).unwrap();
    let shared = pg_catalogue(&db);
    assert_eq!(union.matches("<record").count(), shared.len());

    assert_same_catalogue(&shared, &single_process_catalogue(&servers).await);
}

// The daemon harvesting a partner is killed mid-harvest: the other daemon,
// waiting for the partner, takes it over when the lease expires, resumes
// from the last committed page, and the catalogue is complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_daemon_s_harvest_is_finished_by_the_other() {
    let Some(db) = common::pg_test_database() else {
        return;
    };
    // anl: 12 pages of 2 records, 300 ms each, so that it is mid-harvest
    // for several seconds.
    let servers = start_servers(5, Some((0, 2, Duration::from_millis(300)))).await;
    let list_requests = |s: &OaiServer| -> Vec<String> {
        s.requests()
            .into_iter()
            .filter(|q| q.contains("verb=ListRecords"))
            .collect()
    };
    let tmp = tempfile::tempdir().unwrap();
    let dirs = [tmp.path().join("a"), tmp.path().join("b")];
    let mut daemons = vec![
        Daemon::start(
            "a",
            &write_config(&dirs[0], Some(&db), &servers, RARELY, RARELY),
        ),
        Daemon::start(
            "b",
            &write_config(&dirs[1], Some(&db), &servers, RARELY, RARELY),
        ),
    ];

    wait_started(&daemons).await;
    // Mid-harvest: anl's run is going and has committed two pages; the
    // lease says which daemon runs it.
    let mut holder = None;
    wait_until("anl two pages into its harvest", 20, || {
        let going = runs(&db)
            .iter()
            .any(|r| r.partner == "anl" && r.outcome == "running" && r.pages >= 2);
        holder = common::pg_query(&db, |c| {
            c.query_opt(
                "SELECT holder FROM leases WHERE name = 'partner:anl' AND expires_at >= now()",
                &[],
            )
            .unwrap()
            .map(|r| r.get::<_, String>(0))
        });
        going && holder.is_some()
    })
    .await;
    let pid = holder_pid(holder.as_deref().unwrap());
    let victim = daemons
        .iter()
        .position(|d| d.pid() == pid)
        .unwrap_or_else(|| panic!("anl's lease holder {holder:?} is neither daemon"));
    daemons[victim].child.kill().unwrap();
    daemons[victim].child.wait().unwrap();
    let killed_at = Utc::now().trunc_subsecs(0);
    // A request the victim sent just before it died may still be logged
    // after the kill; the survivor cannot ask before the lease expires.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let requests_at_kill = list_requests(&servers[0]).len();

    wait_until("the survivor to finish every partner", 40, || {
        ok_runs(&db).values().all(|r| !r.is_empty())
    })
    .await;
    let survivor = &mut daemons[1 - victim];
    // A clean stop waits for the dedup pass after the last harvest.
    survivor.stop().await;

    for (partner, ok) in ok_runs(&db) {
        assert_eq!(ok.len(), 1, "{partner}: successful runs {ok:?}");
    }
    // anl: the killed run (closed as failed by the survivor), then the
    // survivor's, started after the kill and resuming with a token.
    let anl: Vec<Run> = runs(&db)
        .into_iter()
        .filter(|r| r.partner == "anl")
        .collect();
    assert_eq!(anl.len(), 2, "anl runs: {anl:?}");
    assert_eq!(anl[0].outcome, "failed", "{anl:?}");
    assert!(anl[0].pages >= 2, "{anl:?}");
    assert!(
        anl[1].id > anl[0].id && anl[1].started_at >= killed_at,
        "{anl:?}"
    );
    let after_kill = list_requests(&servers[0])[requests_at_kill..].to_vec();
    assert!(
        after_kill
            .first()
            .is_some_and(|q| q.contains("resumptionToken=")),
        "the survivor started anl over instead of resuming: {after_kill:?}"
    );
    assert!(
        daemons[1 - victim]
            .log()
            .contains("resuming an interrupted run from its checkpoint"),
        "the survivor did not say it resumed"
    );
    let dirty: i64 = common::pg_query(&db, |c| {
        c.query_one("SELECT count(*) FROM source_records WHERE dedup_dirty", &[])
            .unwrap()
            .get(0)
    });
    assert_eq!(dirty, 0, "records left out of the dedup pass");

    assert_same_catalogue(
        &pg_catalogue(&db),
        &single_process_catalogue(&servers).await,
    );
}
