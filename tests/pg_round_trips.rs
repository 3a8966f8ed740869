//! What a harvest page and a dedup pass cost on PostgreSQL in statements,
//! each a round trip to the server (issue #20, item 2). Counted by the
//! store itself (`Store::statements_sent`: every query and write it sends;
//! not BEGIN, COMMIT and table locks, a fixed few per transaction), so
//! a change that brings back one statement per record fails here instead
//! of only in a benchmark. Skipped without `UNICAT_TEST_PG_URL` (CI sets
//! `UNICAT_REQUIRE_PG=1`, so there it cannot be skipped).

mod common;

use common::{fixture_record_count, Setup};
use unicat::config::{Config, StoreLocation};
use unicat::store::{PageItem, Renormalized, Store};

fn new_record(oai: &str, hash: &str) -> PageItem {
    PageItem::Upsert {
        oai_id: oai.into(),
        datestamp: "2024-01-01".into(),
        local_id: Some(format!("L{oai}")),
        raw: format!("<raw>{oai}</raw>"),
        record: format!("<record>{oai} {hash}</record>"),
        content_hash: hash.into(),
        keys: vec![format!("isbn:{oai}"), format!("tay:{hash}")],
        repairs: 0,
    }
}

/// The statements one page commit sends.
fn page_cost(store: &mut Store, run: i64, items: &[PageItem]) -> u64 {
    let before = store.statements_sent().expect("a PostgreSQL store");
    store.commit_page(run, "p", items, None, 0).unwrap();
    store.statements_sent().unwrap() - before
}

#[test]
fn a_harvest_page_costs_the_same_few_statements_whatever_its_size() {
    let Some(url) = common::pg_test_database() else {
        return;
    };
    let mut store = Store::connect(&StoreLocation::Postgres {
        url,
        password: None,
        pool_size: 2,
    })
    .unwrap();
    let run = store.begin_run("p").unwrap();
    let small: Vec<PageItem> = (0..5).map(|i| new_record(&format!("s{i}"), "a")).collect();
    let large: Vec<PageItem> = (0..500)
        .map(|i| new_record(&format!("r{i}"), "a"))
        .collect();
    let small_cost = page_cost(&mut store, run, &small);
    let large_cost = page_cost(&mut store, run, &large);
    // Every kind of change at once: updated, unchanged, deleted, new,
    // quarantined.
    let mut mixed: Vec<PageItem> = Vec::new();
    for i in 0..500 {
        let oai = format!("r{i}");
        mixed.push(match i % 5 {
            0 | 1 => new_record(&oai, "b"),
            2 => new_record(&oai, "a"),
            3 => PageItem::Delete {
                oai_id: oai,
                datestamp: "2024-02-01".into(),
            },
            _ => PageItem::Quarantine {
                oai_id: format!("q{i}"),
                reason: "does not parse".into(),
                raw: Some("<broken".into()),
            },
        });
    }
    let mixed_cost = page_cost(&mut store, run, &mixed);
    // Reprocessing after a rules change: 300 records renormalised.
    let renormalised: Vec<Renormalized> = (0..300)
        .map(|i| Renormalized {
            id: store
                .find_source("p", &format!("Lr{i}"))
                .unwrap()
                .map_or(-1, |s| s.id),
            record: format!("<record>r{i} c</record>"),
            content_hash: "c".into(),
            local_id: Some(format!("Lr{i}")),
            keys: vec![format!("isbn:r{i}")],
        })
        .filter(|r| r.id >= 0)
        .collect();
    let before = store.statements_sent().unwrap();
    let changed = store.update_normalized(&renormalised).unwrap();
    let reprocess_cost = store.statements_sent().unwrap() - before;
    assert_eq!(changed as usize, renormalised.len());
    assert!(changed > 100, "only {changed} records to reprocess");
    // Three (the rows, the old keys out, the new keys in); one by one it
    // was up to three per record.
    assert!(
        reprocess_cost <= 3,
        "renormalising {changed} records cost {reprocess_cost} statements"
    );
    assert_eq!(
        small_cost, large_cost,
        "a page of 500 new records cost {large_cost} statements, one of 5 cost {small_cost}"
    );
    // Five and nine today (besides BEGIN, the table lock and COMMIT,
    // which the count leaves out); the per-record code sent about two per
    // record (1,008 for a page of 500).
    assert!(
        large_cost <= 6 && mixed_cost <= 10,
        "a page of 500 cost {large_cost} statements (new records) and {mixed_cost} (mixed changes)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_dedup_pass_costs_statements_per_batch_not_per_record() {
    let Some(setup) = Setup::postgres(10).await else {
        return;
    };
    setup.harvest_all().await;
    let config = Config::load(&setup.config_path).unwrap();
    let mut store = Store::from_config(&config).unwrap();
    // Every record examined again, as after a new decision version: the
    // pass reads every record and rewrites every cluster row.
    let tx = store.transaction().unwrap();
    tx.mark_all_dirty().unwrap();
    tx.commit().unwrap();
    let before = store.statements_sent().unwrap();
    let summary = unicat::pipeline::refresh(&mut store, &config).unwrap();
    let cost = store.statements_sent().unwrap() - before;
    assert_eq!(summary.examined, fixture_record_count());
    assert!(summary.clusters > 0);
    // Seventeen today: the pass's fixed reads and writes, the cluster
    // table and the key index read once, one read of the records and one
    // of the stored union hashes per batch, the work settings read (five
    // statements: the pass writes the work keys of the union records it
    // merges) and their keys written per batch. The per-record code sent
    // five to six per record (over 400 here).
    assert!(
        cost <= 20,
        "a full pass over {} records cost {cost} statements",
        summary.examined
    );
}
