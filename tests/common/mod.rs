//! Shared test helpers: the fixtures' answer key, a pipeline set up against
//! local OAI-PMH servers in a temporary directory, and independent tools.

#![allow(dead_code, missing_docs)]

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

impl Setup {
    pub async fn new(page_size: usize) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let servers = demo::start_servers(page_size).await.unwrap();
        let urls: Vec<String> = servers.iter().map(|s| s.base_url.clone()).collect();
        // Tests must not wait seconds on back-off.
        let tables = "[harvest]\nmax-retries = 2\nbackoff-ms = 10\ntimeout-secs = 10\n";
        let text = demo::config_text(
            &dir.path().join("state"),
            &dir.path().join("publish"),
            &urls,
            tables,
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
