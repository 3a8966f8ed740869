//! Shared test helpers: the fixtures' answer key, a pipeline set up against
//! local OAI-PMH servers in a temporary directory, and independent tools.

#![allow(dead_code, missing_docs)]

pub mod watched;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use tokio::sync::watch;
use unicat::config::Config;
use unicat::demo;
use unicat::jobs::{HarvestJobReport, Jobs};
use unicat::oai_server::OaiServer;

/// One line of fixtures/demo/duplicates.txt.
#[derive(Debug, Clone)]
pub struct Group {
    pub kind: String,
    /// (partner, 001)
    pub members: Vec<(String, String)>,
}

pub fn answer_key() -> Vec<Group> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/duplicates.txt");
    let text = std::fs::read_to_string(&path).expect("fixtures/demo/duplicates.txt");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut parts = l.split_whitespace();
            let kind = parts.next().unwrap().to_string();
            let members = parts
                .map(|m| {
                    let (p, id) = m.split_once(':').expect("partner:id");
                    (p.to_string(), id.to_string())
                })
                .collect();
            Group { kind, members }
        })
        .collect()
}

/// Union records the demo fixtures must give: every `same` and `script`
/// group of the answer key merged, everything else on its own.
pub fn expected_union_count() -> usize {
    let merged_away: usize = answer_key()
        .iter()
        .filter(|g| g.kind == "same" || g.kind == "script")
        .map(|g| g.members.len() - 1)
        .sum();
    fixture_record_count() - merged_away
}

/// Number of records in all demo fixtures.
pub fn fixture_record_count() -> usize {
    demo::PARTNERS
        .iter()
        .map(|p| unicat_marc::marcxml::Reader::new(p.xml.as_bytes()).count())
        .sum()
}

/// A pipeline over the demo partners' fixtures, served locally.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub servers: Vec<OaiServer>,
    pub jobs: Jobs,
    pub config_path: PathBuf,
}

/// A fresh PostgreSQL database for one test, on the server that
/// `UNICAT_TEST_PG_URL` names. Without that variable the test is skipped
/// (None, after saying so), unless `UNICAT_REQUIRE_PG=1` says that the
/// PostgreSQL tests must run: then it fails, so that they cannot silently
/// stop running in CI.
pub fn pg_test_database() -> Option<String> {
    unicat::store::pg::test_database_from_env().expect("a PostgreSQL test database")
}

/// The `[store]` table of a configuration using the PostgreSQL database at
/// `url`, with the shortest lease time allowed (tests that kill a daemon
/// wait for its leases to expire).
pub fn pg_store_table(url: &str) -> String {
    format!("[store]\nbackend = \"postgres\"\nurl = {url:?}\nlease-secs = 5\n")
}

/// Every file in a directory, by name, with its bytes.
pub fn files_in(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

impl Setup {
    /// The demo partners served with `page_size` records a page, into an
    /// embedded SQLite store.
    pub async fn new(page_size: usize) -> Setup {
        Setup::with_tables(page_size, "").await
    }

    /// The same on a fresh PostgreSQL database; None if the test is to be
    /// skipped (see [`pg_test_database`]).
    pub async fn postgres(page_size: usize) -> Option<Setup> {
        let url = pg_test_database()?;
        Some(Setup::with_tables(page_size, &pg_store_table(&url)).await)
    }

    /// A setup whose configuration has these extra tables (TOML).
    pub async fn with_tables(page_size: usize, extra: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let servers = demo::start_servers(page_size).await.unwrap();
        let urls: Vec<String> = servers.iter().map(|s| s.base_url.clone()).collect();
        // Tests must not wait seconds on back-off.
        let tables =
            format!("[harvest]\nmax-retries = 2\nbackoff-ms = 10\ntimeout-secs = 10\n{extra}");
        let text = demo::config_text(
            &dir.path().join("state"),
            &dir.path().join("publish"),
            &urls,
            &tables,
        );
        let config_path = dir.path().join("unicat.toml");
        std::fs::write(&config_path, &text).unwrap();
        let config = Config::load(&config_path).unwrap();
        let jobs = Jobs::new(Arc::new(config)).unwrap();
        Setup {
            dir,
            servers,
            jobs,
            config_path,
        }
    }

    pub async fn harvest_all(&self) -> Vec<HarvestJobReport> {
        let (_tx, rx) = watch::channel(false);
        let mut out = Vec::new();
        for p in &self.jobs.config.partners {
            out.push(self.jobs.harvest(p, rx.clone()).await.expect("harvest"));
        }
        out
    }

    pub fn publish_dir(&self) -> PathBuf {
        self.dir.path().join("publish")
    }

    pub fn store(&self) -> unicat::store::Store {
        self.jobs.open_store().unwrap()
    }

    /// The cluster of a partner's record (by 001).
    pub fn cluster_of(&self, partner: &str, local: &str) -> String {
        let store = self.store();
        let src = store
            .find_source(partner, local)
            .unwrap()
            .unwrap_or_else(|| panic!("{partner}:{local} not in the store"));
        store.cluster_of(src.id).unwrap().expect("clustered")
    }
}

/// Run an external tool, failing the test with an install hint if missing.
pub fn tool(name: &str, package: &str) -> Command {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{name}` is needed by this test: install Debian package `{package}` (.ci/run does)"
    );
    Command::new(name)
}

/// The set of 852 $a codes of a union record in MARCXML text.
pub fn holdings(record: &unicat_marc::Record) -> BTreeSet<String> {
    record
        .data_fields("852")
        .filter_map(|f| f.subfield('a').map(str::to_string))
        .collect()
}

/// Run `f` with a connection to the PostgreSQL database at `url`, on a
/// thread of its own: the synchronous client must not block a thread that
/// drives the test's tokio runtime.
pub fn pg_query<T: Send>(url: &str, f: impl FnOnce(&mut postgres::Client) -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut client = unicat::store::pg::connect_client(url, None)
                .unwrap_or_else(|e| panic!("connecting to {url}: {e:#}"));
            f(&mut client)
        })
        .join()
        .unwrap()
    })
}

/// Wait (up to `secs`) until no lease in the database at `url` is held:
/// a killed process's leases stay until they expire.
pub async fn wait_for_leases_to_expire(url: &str, secs: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let held: i64 = pg_query(url, |c| {
            c.query_one("SELECT count(*) FROM leases WHERE expires_at >= now()", &[])
                .unwrap()
                .get(0)
        });
        if held == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "leases still held after {secs} s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Collect a child's standard error on a thread of its own, so that a
/// chatty daemon never blocks on a full pipe and a failing test can show
/// what it logged.
pub fn collect_stderr(child: &mut std::process::Child) -> Arc<std::sync::Mutex<String>> {
    use std::io::Read;
    let mut pipe = child.stderr.take().expect("stderr piped");
    let stderr = Arc::new(std::sync::Mutex::new(String::new()));
    let sink = stderr.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    stderr
}
