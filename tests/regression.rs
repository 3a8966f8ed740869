//! Regression tests, each named after the bug it pins.

use unicat::store::Store;

// Two harvests opening a brand-new database at once both applied schema
// migration 1 and one failed with "table meta already exists".
#[test]
fn concurrent_first_open_does_not_migrate_twice() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let path = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    Store::open(&path).map(|_| ()).map_err(|e| format!("{e:#}"))
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
    }
}

// Upgrading the key algorithm left old `tay:` keys in the store, which
// never matched the new ones of later records: stored keys are now rebuilt
// when the key version changes.
#[test]
fn keys_from_an_older_version_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let record = unicat_marc::marcxml::to_string(&{
        let mut r = unicat_marc::Record::new("00000nam a2200000 i 4500");
        r.push(unicat_marc::Field::Data(
            unicat_marc::DataField::new("020", ' ', ' ').with('a', "9780262033848"),
        ));
        r
    });
    let item = unicat::store::PageItem::Upsert {
        oai_id: "x:1".into(),
        datestamp: "2025-01-01".into(),
        local_id: None,
        raw: record.clone(),
        record,
        content_hash: "h".into(),
        keys: vec!["tay:an old key".into()],
        repairs: 0,
    };
    let run = store.begin_run("p").unwrap();
    store.commit_page(run, "p", &[item], None, 0).unwrap();
    {
        // Pretend the keys came from version 1.
        let tx = store.transaction().unwrap();
        tx.rekey_all(1, |_| Ok(vec!["tay:an old key".into()]))
            .unwrap();
        tx.commit().unwrap();
    }
    let text = "state-dir = \"/x\"\n[publish]\noutput-dir = \"/y\"\n";
    let config = unicat::config::Config::parse(std::path::Path::new("t.toml"), text).unwrap();
    unicat::pipeline::refresh(&mut store, &config).unwrap();
    let src = store.find_source("p", "x:1").unwrap().unwrap();
    assert_eq!(
        store.keys_of(src.id).unwrap(),
        vec!["isbn:9780262033848".to_string()]
    );
}
