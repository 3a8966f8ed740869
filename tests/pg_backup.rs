//! A backup of the shared PostgreSQL store as the README describes it:
//! `pg_dump -Fc` taken while a harvest runs, `pg_restore` into a new
//! database. A `unicat harvest` pointed at the restored database resumes
//! the harvest from the page the backup holds (it does not start the
//! partner over), and ends with the catalogue the uninterrupted harvest
//! built: the same published files, byte for byte.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use unicat::demo;
use unicat::oai_server::OaiServer;

/// A PostgreSQL client program of the server's own version (Debian's
/// `postgresql` package), as scripts/pg-cluster.sh finds the server.
fn pg_tool(name: &str) -> Command {
    let mut bins: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.flatten()
                .map(|e| e.path().join("bin").join(name))
                .collect()
        })
        .unwrap_or_default();
    bins.retain(|p| p.exists());
    bins.sort();
    match bins.pop() {
        Some(bin) => Command::new(bin),
        None => common::tool(name, "postgresql"),
    }
}

fn write_config(dir: &Path, db: &str, base_url: &str) -> PathBuf {
    let p = &demo::PARTNERS[0];
    let text = format!(
        "state-dir = {:?}\ncatalogue-code = \"UNICAT-DEMO\"\n\n\
         [harvest]\nmax-retries = 2\nbackoff-ms = 10\ntimeout-secs = 10\n\n{}\n\
         [publish]\noutput-dir = {:?}\n\n\
         [[partner]]\nname = {:?}\ncode = {:?}\nbase-url = {base_url:?}\nschedule = \"0 0 1 1 *\"\n",
        dir.join("state").display().to_string(),
        common::pg_store_table(db),
        dir.join("publish").display().to_string(),
        p.name,
        p.code,
    );
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("unicat.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn unicat(config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_unicat"));
    c.arg("--config")
        .arg(config)
        .env("UNICAT_LOG", "info")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM");
    c
}

fn run_ok(mut cmd: Command, what: &str) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what}: {}\n{text}", out.status);
    text
}

/// The newest harvest run of the database: (pages committed, outcome);
/// none before unicat has made its tables.
fn last_run(db: &str) -> Option<(i64, String)> {
    common::pg_query(db, |c| {
        let made: bool = c
            .query_one("SELECT to_regclass('harvest_runs') IS NOT NULL", &[])
            .unwrap()
            .get(0);
        if !made {
            return None;
        }
        c.query_opt(
            "SELECT pages::bigint, outcome FROM harvest_runs ORDER BY id DESC LIMIT 1",
            &[],
        )
        .unwrap()
        .map(|r| (r.get(0), r.get(1)))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_backup_resumes_the_harvest_where_it_left_off() {
    let Some(live) = common::pg_test_database() else {
        return;
    };
    let restored = common::pg_test_database().unwrap();
    // Two records a page, slowly, so that the backup falls mid-harvest.
    let mut repo = demo::repository_for(&demo::PARTNERS[0], 2, Utc::now()).unwrap();
    repo.list_delay = Duration::from_millis(300);
    let server = OaiServer::start(repo).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let live_cfg = write_config(&tmp.path().join("live"), &live, &server.base_url);
    let restored_cfg = write_config(&tmp.path().join("restored"), &restored, &server.base_url);

    let mut harvest = unicat(&live_cfg);
    harvest
        .args(["harvest", "--partner", "anl"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = harvest.spawn().unwrap();
    let child_log = common::collect_stderr(&mut child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while last_run(&live).is_none_or(|(pages, _)| pages < 3) {
        assert!(Instant::now() < deadline, "{}", child_log.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dump = tmp.path().join("unicat.dump");
    let mut pg_dump = pg_tool("pg_dump");
    pg_dump.args(["-Fc", "-f"]).arg(&dump).arg("-d").arg(&live);
    run_ok(pg_dump, "pg_dump");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{}", child_log.lock().unwrap());
    let (total_pages, outcome) = last_run(&live).unwrap();
    assert_eq!(outcome, "ok");

    let mut pg_restore = pg_tool("pg_restore");
    pg_restore
        .args(["--no-owner", "--exit-on-error", "-d"])
        .arg(&restored)
        .arg(&dump);
    run_ok(pg_restore, "pg_restore");
    // The backup holds a run in progress, some pages in.
    let (pages_then, outcome_then) = last_run(&restored).unwrap();
    assert_eq!(outcome_then, "running");
    assert!(
        (3..total_pages).contains(&pages_then),
        "{pages_then} of {total_pages} pages"
    );
    // The live harvest's lease came with the backup; it runs out by
    // itself (lease-secs 5), as the README says.
    common::wait_for_leases_to_expire(&restored, 30).await;

    let asked_before = server.requests().len();
    let mut resume = unicat(&restored_cfg);
    resume.args(["harvest", "--partner", "anl"]);
    let log = run_ok(resume, "harvest on the restored database");
    let asked: Vec<String> = server.requests()[asked_before..].to_vec();
    let lists: Vec<&String> = asked.iter().filter(|q| q.contains("ListRecords")).collect();
    assert!(
        lists.first().is_some_and(|q| q.contains("resumptionToken")),
        "the restored harvest started over instead of resuming: {asked:?}\n{log}"
    );
    assert_eq!(
        lists.len() as i64,
        total_pages - pages_then,
        "pages fetched again after the restore: {asked:?}"
    );

    // The same catalogue: the same files published from either database.
    run_ok(
        {
            let mut c = unicat(&live_cfg);
            c.arg("publish");
            c
        },
        "publish (live)",
    );
    run_ok(
        {
            let mut c = unicat(&restored_cfg);
            c.arg("publish");
            c
        },
        "publish (restored)",
    );
    let live_files = common::files_in(&tmp.path().join("live/publish"));
    let restored_files = common::files_in(&tmp.path().join("restored/publish"));
    assert!(
        live_files.contains_key("union.xml"),
        "{:?}",
        live_files.keys()
    );
    assert_eq!(
        live_files.keys().collect::<Vec<_>>(),
        restored_files.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &live_files {
        assert!(
            restored_files[name] == *bytes,
            "{name} differs between the live and the restored store"
        );
    }
}
