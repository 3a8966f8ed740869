//! Crash recovery: a real `unicat harvest` process is killed with SIGKILL
//! at several points of a harvest; the next run resumes from the
//! checkpoint, and the published union catalogue is byte-identical to the
//! one an uninterrupted run produces.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use unicat::demo;
use unicat::oai_server::OaiServer;

fn unicat(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_unicat"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("UNICAT_LOG", "warn")
        .output()
        .unwrap()
}

/// A config for the demo partners at `urls`; `store` is a `[store]` table
/// (empty for the default SQLite store in the state directory).
fn write_config(dir: &Path, urls: &[String], store: &str) -> std::path::PathBuf {
    let text = demo::config_text(
        &dir.join("state"),
        &dir.join("publish"),
        urls,
        &format!("[harvest]\nbackoff-ms = 10\n{store}"),
    );
    let path = dir.join("unicat.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn list_requests(s: &OaiServer) -> Vec<String> {
    s.requests()
        .into_iter()
        .filter(|q| q.contains("verb=ListRecords"))
        .collect()
}

fn harvest_all_and_publish(config: &Path) -> (Vec<u8>, Vec<u8>) {
    let out = unicat(config, &["harvest", "--all"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = unicat(config, &["publish"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = config.parent().unwrap().join("publish");
    (
        std::fs::read(dir.join("union.xml")).unwrap(),
        std::fs::read(dir.join("union.mrc")).unwrap(),
    )
}

const KILL_POINTS: [usize; 4] = [0, 1, 3, 6];

// The promise: a crash loses at most the page in flight, the next run
// resumes from the checkpoint, and the result is the same catalogue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_several_points_gives_the_same_catalogue() {
    sigkill_at_several_points(vec![None; KILL_POINTS.len()]).await;
}

// The same on the PostgreSQL store (a fresh database for each kill), and
// the catalogue is byte-identical to the SQLite store's uninterrupted run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_several_points_gives_the_same_catalogue_postgres() {
    let Some(dbs) = KILL_POINTS
        .iter()
        .map(|_| common::pg_test_database())
        .collect::<Option<Vec<String>>>()
    else {
        return;
    };
    sigkill_at_several_points(dbs.into_iter().map(Some).collect()).await;
}

/// Kill `unicat harvest --partner anl` after each of [`KILL_POINTS`] pages,
/// run the harvest again and publish, and compare with an uninterrupted
/// run on SQLite. `dbs[i]`: the PostgreSQL database of the i-th kill, or
/// None for SQLite.
async fn sigkill_at_several_points(dbs: Vec<Option<String>>) {
    let servers = demo::start_servers(3).await.unwrap();
    servers[0].repo.lock().unwrap().list_delay = Duration::from_millis(150);
    let urls: Vec<String> = servers.iter().map(|s| s.base_url.clone()).collect();

    let reference_dir = tempfile::tempdir().unwrap();
    let reference = harvest_all_and_publish(&write_config(reference_dir.path(), &urls, ""));
    let pages = list_requests(&servers[0]).len();
    assert!(pages >= 8, "anl must take several pages ({pages})");

    for (kill_after, db) in KILL_POINTS.into_iter().zip(dbs) {
        let dir = tempfile::tempdir().unwrap();
        let store = db
            .as_deref()
            .map(common::pg_store_table)
            .unwrap_or_default();
        let config = write_config(dir.path(), &urls, &store);
        let before = list_requests(&servers[0]).len();
        let mut child = Command::new(env!("CARGO_BIN_EXE_unicat"))
            .arg("--config")
            .arg(&config)
            .args(["harvest", "--partner", "anl"])
            .env("UNICAT_LOG", "warn")
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while list_requests(&servers[0]).len() < before + kill_after + 1 {
            assert!(
                Instant::now() < deadline,
                "the harvest did not get to page {kill_after}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        if let Some(db) = &db {
            // On a shared store the dead process's lease on anl holds until
            // it expires; until then a new harvest is refused as busy.
            common::wait_for_leases_to_expire(db, 15).await;
        }

        let resumed_from = list_requests(&servers[0]).len();
        let result = harvest_all_and_publish(&config);
        let after = list_requests(&servers[0]);
        if kill_after >= 2 {
            // Pages were committed before the kill: the run resumes with a
            // token instead of starting the list over.
            assert!(
                after[resumed_from].contains("resumptionToken="),
                "killed after {kill_after} pages, the next run started over: {}",
                after[resumed_from]
            );
        }
        assert!(
            result.0 == reference.0,
            "union.xml differs after a kill after {kill_after} pages"
        );
        assert!(
            result.1 == reference.1,
            "union.mrc differs after a kill after {kill_after} pages"
        );
        // The interrupted run is on record as failed, not left running.
        let out = unicat(&config, &["status", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["partners"][0]["last_harvest"]["outcome"], "ok");
    }
}
