//! Per-partner rules in the config: refused at load when wrong, applied on
//! harvest, and applied to stored records by `reprocess` (by hand, or by
//! the daemon on reload) without re-harvesting and without touching the
//! raw records.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::Setup;

fn unicat(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unicat"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("UNICAT_LOG", "warn")
        .output()
        .unwrap()
}

/// Put TOML right after the `[[partner]]` table of `partner` in the file.
fn add_to_partner(config: &Path, partner: &str, toml: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    let marker = format!("name = \"{partner}\"\n");
    let start = text.find(&marker).unwrap();
    let end = text[start..]
        .find("\n[[")
        .map_or(text.len(), |i| start + i + 1);
    let new = format!("{}{}\n{}", &text[..end], toml, &text[end..]);
    std::fs::write(config, new).unwrap();
}

fn count_650(xml: &str) -> usize {
    xml.matches("tag=\"650\"").count()
}

// A rule that does not compile is a configuration error naming the rule.
#[test]
fn bad_rule_is_refused_at_load_naming_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("u.toml");
    std::fs::write(
        &cfg,
        "state-dir = \"/tmp/x\"\n[publish]\noutput-dir = \"/tmp/y\"\n[[partner]]\nname = \"anl\"\ncode = \"AZ\"\n\
         base-url = \"http://127.0.0.1:9/oai\"\nschedule = \"0 2 * * *\"\n\
         [[partner.rule]]\ndrop = \"650\"\n[[partner.rule]]\nmove = { from = \"952\", to = \"85\" }\n",
    )
    .unwrap();
    let out = unicat(&cfg, &["check-config"]);
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("u.toml:11: key `partner.rule`"), "{err}");
    assert!(err.contains("rule 2 (move)"), "{err}");
}

// Rules changed after records were harvested: reprocess rebuilds them from
// the raw text, only changed records are re-clustered, the raw stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reprocess_applies_new_rules_to_stored_records() {
    let setup = Setup::new(10).await;
    setup.harvest_all().await;
    let store = setup.store();
    let before: Vec<_> = (0..24)
        .filter_map(|i| {
            let id = setup.servers[0].repo.lock().unwrap().records[i]
                .identifier
                .clone();
            store
                .find_source("anl", id.rsplit(':').next().unwrap())
                .unwrap()
        })
        .collect();
    let with_650 = before.iter().filter(|r| count_650(&r.record) > 0).count();
    assert!(with_650 > 0, "fixtures have subjects");

    add_to_partner(
        &setup.config_path,
        "anl",
        "[[partner.rule]]\ndrop = \"650\"\n",
    );
    let out = unicat(&setup.config_path, &["reprocess", "--partner", "anl"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("24 records reprocessed, {with_650} changed")),
        "{text}"
    );

    for r in &before {
        let now = store
            .find_source("anl", r.local_id.as_deref().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(count_650(&now.record), 0, "{}", now.oai_id);
    }
    // The raw records still have their subjects: normalisation can be redone.
    let raw: String = {
        let conn = rusqlite::Connection::open(setup.dir.path().join("state/unicat.db")).unwrap();
        unicat::store::packed::register(&conn).unwrap();
        conn.query_row(
            "SELECT group_concat(unicat_unpack(raw), '') FROM source_records WHERE partner = 'anl'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert!(count_650(&raw) > 0);
    // A second reprocess with the same rules changes nothing.
    let out = unicat(&setup.config_path, &["reprocess", "--partner", "anl"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(", 0 changed"));
}
