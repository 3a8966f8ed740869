//! MARC files loaded by hand (`unicat import`), MARC-8 conversion on the
//! way in, the quarantine commands, and repairs counted on harvest.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::Utc;
use common::Setup;
use unicat::oai_server::RepoRecord;

fn unicat(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unicat"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("UNICAT_LOG", "warn")
        .output()
        .unwrap()
}

fn sample(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/marc")
        .join(rel)
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

// A partner without an OAI-PMH endpoint sends files: ISO 2709 in MARC-8
// and MARCXML go through the same path, and MARC-8 Cyrillic arrives as
// Unicode in the union catalogue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_loads_marc8_iso2709_and_marcxml_files() {
    let setup = Setup::new(10).await;
    let cfg = setup.config_path.clone();
    let cyr = sample("marc-charset/cyrillic.marc");
    let xml = sample("solrmarc/specTestRecs.xml");
    let out = stdout(&unicat(
        &cfg,
        &[
            "import",
            "--partner",
            "tsu",
            cyr.to_str().unwrap(),
            xml.to_str().unwrap(),
        ],
    ));
    assert!(out.contains("2 file(s), 77 records"), "{out}");
    assert!(out.contains("0 quarantined"), "{out}");
    let store = setup.store();
    assert_eq!(
        store.count_live_records("tsu").unwrap(),
        77 - duplicates_in(&xml)
    );
    // The MARC-8 record's 880 is Cyrillic text now.
    let rec = store
        .find_source("tsu", "MIUL99-S141")
        .unwrap()
        .expect("imported by its 001");
    assert!(
        rec.record
            .contains("Одлуке и решења Савезног уставног суда"),
        "{}",
        rec.record
    );
    // Importing the same file again changes nothing.
    let out = stdout(&unicat(
        &cfg,
        &["import", "--partner", "tsu", cyr.to_str().unwrap()],
    ));
    assert!(out.contains("0 new, 0 updated, 1 unchanged"), "{out}");
    // And the imports are in the published catalogue, readable by yaz.
    stdout(&unicat(&cfg, &["publish"]));
    let union = std::fs::read_to_string(setup.publish_dir().join("union.xml")).unwrap();
    assert!(
        union.contains("(UZ-TaSU)MIUL99-S141") || union.contains("(CStRLIN)MIUL99-S141"),
        "provenance 035 missing"
    );
}

/// Records in a MARCXML file that repeat an earlier record's 001 (they
/// update it rather than add one).
fn duplicates_in(xml: &Path) -> u64 {
    let f = std::fs::File::open(xml).unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut dups = 0;
    for r in unicat_marc::marcxml::Reader::new(std::io::BufReader::new(f)) {
        let r = r.unwrap();
        if !seen.insert(r.control("001").unwrap_or("").trim().to_string()) {
            dups += 1;
        }
    }
    dups
}

// A file with a broken record: that record is quarantined with a reason
// that names the file, the others are loaded, and the command says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_quarantines_unreadable_records_and_goes_on() {
    let setup = Setup::new(10).await;
    let cfg = setup.config_path.clone();
    let bad = sample("marc4j/bad_too_long_plus_2.mrc");
    let out = stdout(&unicat(
        &cfg,
        &["import", "--partner", "anl", bad.to_str().unwrap()],
    ));
    assert!(out.contains("1 quarantined"), "{out}");
    let list = stdout(&unicat(&cfg, &["quarantine", "list", "--partner", "anl"]));
    assert!(
        list.contains("bad_too_long_plus_2.mrc") && list.contains("1 entry"),
        "{list}"
    );
    let id = list.split_whitespace().next().unwrap();
    let show = stdout(&unicat(&cfg, &["quarantine", "show", id]));
    assert!(
        show.contains("reason:") && show.contains("terminator"),
        "{show}"
    );
}

// A record quarantined by a harvest is listed with its raw text, and a
// later readable version from the partner supersedes the entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_is_listed_and_superseded_by_a_good_version() {
    let setup = Setup::new(10).await;
    let when = Utc::now() - chrono::Duration::days(2);
    let good = setup.servers[0].repo.lock().unwrap().records[0]
        .metadata
        .clone();
    setup.servers[0].repo.lock().unwrap().upsert(RepoRecord {
        identifier: "oai:anl:BROKEN".into(),
        datestamp: when,
        deleted: false,
        metadata:
            "<record xmlns=\"http://www.loc.gov/MARC21/slim\"><leader>short</leader></record>"
                .into(),
    });
    setup.harvest_all().await;
    let cfg = setup.config_path.clone();
    let list = stdout(&unicat(&cfg, &["quarantine", "list"]));
    assert!(
        list.contains("oai:anl:BROKEN") && list.contains("1 entry"),
        "{list}"
    );
    let id = list.split_whitespace().next().unwrap().to_string();
    let show = stdout(&unicat(&cfg, &["quarantine", "show", &id]));
    assert!(show.contains("<leader>short</leader>"), "{show}");

    // The partner fixes the record.
    let fixed = good.replace("AZNL", "AZNLFIX");
    setup.servers[0].repo.lock().unwrap().upsert(RepoRecord {
        identifier: "oai:anl:BROKEN".into(),
        datestamp: Utc::now(),
        deleted: false,
        metadata: fixed,
    });
    let partner = setup.jobs.config.partner("anl").unwrap().clone();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    setup.jobs.harvest(&partner, rx).await.unwrap();
    let list = stdout(&unicat(&cfg, &["quarantine", "list"]));
    assert!(list.contains("0 entries"), "{list}");
    let all = stdout(&unicat(&cfg, &["quarantine", "list", "--all"]));
    assert!(all.contains("superseded"), "{all}");
    assert_eq!(setup.store().count_quarantined("anl").unwrap(), 0);
}

// MARCXML with leader/09 blank is Unicode all the same: the leader is
// fixed and the repair counted in the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blank_leader_09_in_marcxml_is_fixed_and_counted() {
    let setup = Setup::new(10).await;
    {
        let mut repo = setup.servers[1].repo.lock().unwrap();
        let r = &mut repo.records[0];
        let start = r.metadata.find("<leader>").unwrap() + "<leader>".len();
        // Leader position 9 becomes blank.
        r.metadata.replace_range(start + 9..start + 10, " ");
    }
    let reports = setup.harvest_all().await;
    assert_eq!(reports[1].harvest.counts.repaired, 1);
    let id = setup.servers[1].repo.lock().unwrap().records[0]
        .identifier
        .clone();
    let local = id.rsplit(':').next().unwrap();
    let rec = setup
        .store()
        .find_source("natlib-uz", local)
        .unwrap()
        .unwrap();
    let leader = &rec.record[rec.record.find("<leader>").unwrap() + 8..][..24];
    assert_eq!(leader.as_bytes()[9], b'a', "{leader}");
}
