//! The data-quality report a coordinator sends back to a partner library:
//! its figures checked against the fixtures' answer key and records.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::{answer_key, Setup};

fn report_json(config: &Path, partner: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_unicat"))
        .arg("--config")
        .arg(config)
        .args(["report", "--partner", partner, "--json"])
        .env("UNICAT_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

// The figures a library acts on: merged records (from the answer key),
// invalid ISBNs (the fixtures' deliberate one), and rule hits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_counts_match_the_fixtures() {
    let setup = Setup::new(10).await;
    // A rule for the partner, to see its hits counted.
    let text = std::fs::read_to_string(&setup.config_path).unwrap();
    let marker = "name = \"natlib-uz\"\n";
    let at = text.find(marker).unwrap();
    let end = text[at..].find("\n[[").map_or(text.len(), |i| at + i + 1);
    let text = format!(
        "{}[[partner.rule]]\ndrop = \"650\"\n\n{}",
        &text[..end],
        &text[end..]
    );
    std::fs::write(&setup.config_path, text).unwrap();
    let config = unicat::config::Config::load(&setup.config_path).unwrap();
    let jobs = unicat::jobs::Jobs::new(std::sync::Arc::new(config)).unwrap();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    for p in &jobs.config.partners {
        jobs.harvest(p, rx.clone()).await.unwrap();
    }

    let r = report_json(&setup.config_path, "natlib-uz");
    let natlib_records =
        unicat_marc::marcxml::Reader::new(unicat::demo::PARTNERS[1].xml.as_bytes()).count();
    assert_eq!(r["records"], natlib_records);
    // Records of natlib-uz that the answer key puts with another partner's.
    let merged: BTreeSet<String> = answer_key()
        .into_iter()
        .filter(|g| g.kind == "same" || g.kind == "script")
        .filter(|g| g.members.iter().any(|(p, _)| p != "natlib-uz"))
        .flat_map(|g| g.members)
        .filter(|(p, _)| p == "natlib-uz")
        .map(|(_, id)| id)
        .collect();
    assert_eq!(r["merged_with_other_partners"], merged.len());
    // uz-0002683 carries an ISBN with a wrong check digit, on purpose.
    assert!(r["invalid_isbns"].as_u64().unwrap() >= 1, "{r}");
    // The drop rule fired once per record that has a 650.
    let with_650 = unicat_marc::marcxml::Reader::new(unicat::demo::PARTNERS[1].xml.as_bytes())
        .filter(|rec| rec.as_ref().unwrap().data_fields("650").next().is_some())
        .count();
    let hits = r["rule_hits"].as_array().unwrap();
    assert_eq!(hits[0][0], "rule 1 (drop)", "{r}");
    assert_eq!(hits[0][1], with_650);
    assert!(r["normalisation_changes"]["provenance"].as_u64().unwrap() > 0);
}

// A library that catalogued the same edition twice: both records end up in
// one union record, and the report says so, for the library to clean up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intra_partner_duplicates_are_reported() {
    let setup = Setup::new(10).await;
    {
        let mut repo = setup.servers[0].repo.lock().unwrap();
        let twin = repo.records[0].clone();
        let metadata = twin.metadata.replacen(">AZNL", ">TWIN-AZNL", 1);
        assert_ne!(metadata, twin.metadata, "the twin needs its own 001");
        repo.upsert(unicat::oai_server::RepoRecord {
            identifier: format!("{}-twin", twin.identifier),
            metadata,
            ..twin
        });
    }
    setup.harvest_all().await;
    let r = report_json(&setup.config_path, "anl");
    assert_eq!(r["intra_partner_duplicates"], 1, "{r}");
    let r = report_json(&setup.config_path, "tsu");
    assert_eq!(r["intra_partner_duplicates"], 0, "{r}");
}
