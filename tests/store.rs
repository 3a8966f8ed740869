//! The store's contract, checked on both backends (issue #10).
//!
//! Every test body here is written once against the public `Store` /
//! `DedupTx` facade and runs twice: `NAME_sqlite` on a SQLite store in a
//! temporary directory and `NAME_postgres` on a fresh PostgreSQL database
//! on the server `UNICAT_TEST_PG_URL` names (skipped when it is unset,
//! failed instead with `UNICAT_REQUIRE_PG=1`). The expected values are
//! SQLite's behaviour, the reference: a difference is a bug of the other
//! backend. What only PostgreSQL has (leases, its locking between daemons,
//! its migrations) is tested in `src/store/pg.rs`.

use unicat::config::StoreLocation;
use unicat::store::pg::test_database_from_env;
use unicat::store::{
    Checkpoint, PageCounts, PageItem, PartnerTotals, Renormalized, RunOutcome, Store,
};

/// Whether `test` is `body` followed by `suffix`, so that the macro below
/// cannot pair a body with another body's test names.
const fn named_after(body: &str, test: &str, suffix: &str) -> bool {
    let (b, t, s) = (body.as_bytes(), test.as_bytes(), suffix.as_bytes());
    if t.len() != b.len() + s.len() {
        return false;
    }
    let mut i = 0;
    while i < t.len() {
        let expected = if i < b.len() { b[i] } else { s[i - b.len()] };
        if t[i] != expected {
            return false;
        }
        i += 1;
    }
    true
}

/// `on_both_backends!(body, body_sqlite, body_postgres);` makes the two
/// tests of one contract body. (Spelt out: stable `macro_rules!` cannot
/// build an identifier, and the names are checked at compile time.)
macro_rules! on_both_backends {
    ($body:ident, $sqlite:ident, $postgres:ident) => {
        const _: () = assert!(
            named_after(stringify!($body), stringify!($sqlite), "_sqlite")
                && named_after(stringify!($body), stringify!($postgres), "_postgres"),
            "the tests must be named BODY_sqlite and BODY_postgres"
        );

        #[test]
        fn $sqlite() {
            let dir = tempfile::tempdir().expect("a temporary directory");
            $body(&StoreLocation::Sqlite(dir.path().to_path_buf()));
        }

        #[test]
        fn $postgres() {
            if let Some(at) = postgres_location() {
                $body(&at);
            }
        }
    };
}

/// A fresh PostgreSQL database for one test, or None (skipped) when no
/// server is configured. CI sets `UNICAT_REQUIRE_PG=1` so that the
/// PostgreSQL half cannot silently stop running.
fn postgres_location() -> Option<StoreLocation> {
    let url = test_database_from_env().expect("a PostgreSQL test database")?;
    Some(StoreLocation::Postgres {
        url,
        password: None,
        pool_size: 4,
    })
}

fn open(at: &StoreLocation) -> Store {
    Store::connect(at).expect("opening the store")
}

/// A readable record: its 001 is `L` + the OAI id, its normalised form
/// names the id and the hash, so that a test can tell versions apart.
fn up(oai: &str, hash: &str, keys: &[&str]) -> PageItem {
    PageItem::Upsert {
        oai_id: oai.into(),
        datestamp: "2024-01-01".into(),
        local_id: Some(format!("L{oai}")),
        raw: format!("<raw>{oai}</raw>"),
        record: format!("<record>{oai} {hash}</record>"),
        content_hash: hash.into(),
        keys: keys.iter().map(|k| k.to_string()).collect(),
        repairs: 0,
    }
}

fn del(oai: &str) -> PageItem {
    PageItem::Delete {
        oai_id: oai.into(),
        datestamp: "2024-02-01".into(),
    }
}

fn quar(oai: &str, raw: &str) -> PageItem {
    PageItem::Quarantine {
        oai_id: oai.into(),
        reason: format!("{oai} does not parse"),
        raw: Some(raw.into()),
    }
}

/// One page in a run of its own (left running: the counts are the page's).
fn page(s: &mut Store, partner: &str, items: &[PageItem]) -> PageCounts {
    let run = s.begin_run(partner).unwrap();
    s.commit_page(run, partner, items, None, 0).unwrap()
}

/// The row id of a live record, found by its OAI identifier.
fn id_of(s: &Store, partner: &str, oai: &str) -> i64 {
    s.find_source(partner, oai)
        .unwrap()
        .unwrap_or_else(|| panic!("{partner}/{oai} is not live"))
        .id
}

/// The records waiting for dedup (read in a pass that is then dropped).
fn dirty(s: &mut Store) -> Vec<i64> {
    s.transaction().unwrap().dirty_records().unwrap()
}

/// What a dedup pass does at its end: every flag cleared.
fn clear_dirty(s: &mut Store) {
    let tx = s.transaction().unwrap();
    tx.clear_all_dirty().unwrap();
    tx.commit().unwrap();
}

/// Live union records as (id, seq, record), in the order the store gives.
fn live_unions(s: &Store) -> Vec<(String, i64, String)> {
    let mut rows = Vec::new();
    s.for_each_live_union(|r| {
        rows.push((r.cluster_id, r.seq, r.record));
        Ok(())
    })
    .unwrap();
    rows
}

/// Ids of live union records changed after `seq`, in the order given.
fn live_unions_since(s: &Store, seq: i64) -> Vec<(String, i64)> {
    let mut rows = Vec::new();
    s.for_each_live_union_since(seq, |r| {
        rows.push((r.cluster_id, r.seq));
        Ok(())
    })
    .unwrap();
    rows
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn parse_time(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s} is not RFC 3339: {e}"))
        .with_timezone(&chrono::Utc)
}

// ---------------------------------------------------------------------------
// Harvest pages: every record lands in exactly one count.

// A record not seen before is new; its keys are stored once each, sorted,
// and it waits for dedup. The reader's repairs add to the page's.
on_both_backends!(
    new_records_count_as_new_and_wait_for_dedup,
    new_records_count_as_new_and_wait_for_dedup_sqlite,
    new_records_count_as_new_and_wait_for_dedup_postgres
);
fn new_records_count_as_new_and_wait_for_dedup(at: &StoreLocation) {
    let mut s = open(at);
    s.tune_for_harvest().unwrap();
    let run = s.begin_run("p").unwrap();
    let mut a = up("a", "h1", &["k2", "k1", "k2"]);
    if let PageItem::Upsert { repairs, .. } = &mut a {
        *repairs = 2;
    }
    let c = s
        .commit_page(run, "p", &[a, up("b", "h1", &["k1"])], None, 3)
        .unwrap();
    assert_eq!(
        c,
        PageCounts {
            new: 2,
            repaired: 5,
            ..PageCounts::default()
        }
    );
    let (a, b) = (id_of(&s, "p", "a"), id_of(&s, "p", "b"));
    assert!(a < b, "ids follow the page's order");
    assert_eq!(s.keys_of(a).unwrap(), strings(&["k1", "k2"]));
    assert_eq!(s.keys_of(b).unwrap(), strings(&["k1"]));
    assert_eq!(dirty(&mut s), vec![a, b]);
    assert_eq!(s.count_live_records("p").unwrap(), 2);
    assert_eq!(s.count_live_records("other").unwrap(), 0);
    let rec = s.find_source("p", "a").unwrap().unwrap();
    assert_eq!(
        (rec.partner, rec.oai_id, rec.local_id, rec.record),
        (
            "p".to_string(),
            "a".to_string(),
            Some("La".to_string()),
            "<record>a h1</record>".to_string()
        )
    );
}

// The same content harvested again is unchanged: the datestamp and raw
// text are refreshed, but the normalised record, its keys and its dedup
// flag are left alone, so an unchanged feed costs dedup nothing.
on_both_backends!(
    redelivered_same_content_is_unchanged_and_not_redirtied,
    redelivered_same_content_is_unchanged_and_not_redirtied_sqlite,
    redelivered_same_content_is_unchanged_and_not_redirtied_postgres
);
fn redelivered_same_content_is_unchanged_and_not_redirtied(at: &StoreLocation) {
    let mut s = open(at);
    page(&mut s, "p", &[up("a", "h1", &["k1"])]);
    let a = id_of(&s, "p", "a");
    clear_dirty(&mut s);
    let again = PageItem::Upsert {
        oai_id: "a".into(),
        datestamp: "2024-03-01".into(),
        local_id: Some("La".into()),
        raw: "<raw>a again</raw>".into(),
        record: "<record>not stored</record>".into(),
        content_hash: "h1".into(),
        keys: strings(&["not-stored"]),
        repairs: 0,
    };
    let c = page(&mut s, "p", &[again]);
    assert_eq!(
        c,
        PageCounts {
            unchanged: 1,
            ..PageCounts::default()
        }
    );
    assert!(dirty(&mut s).is_empty());
    assert_eq!(s.keys_of(a).unwrap(), strings(&["k1"]));
    assert_eq!(
        s.find_source("p", "a").unwrap().unwrap().record,
        "<record>a h1</record>"
    );
    assert_eq!(
        s.raw_batch("p", 0, 10).unwrap(),
        vec![(a, "a".to_string(), "<raw>a again</raw>".to_string())]
    );
}

// New content for a known record is an update: the record, its 001 and
// its keys are replaced and it waits for dedup again.
on_both_backends!(
    changed_content_is_updated_rekeyed_and_redirtied,
    changed_content_is_updated_rekeyed_and_redirtied_sqlite,
    changed_content_is_updated_rekeyed_and_redirtied_postgres
);
fn changed_content_is_updated_rekeyed_and_redirtied(at: &StoreLocation) {
    let mut s = open(at);
    page(
        &mut s,
        "p",
        &[up("a", "h1", &["k1", "k2"]), up("b", "h1", &[])],
    );
    let a = id_of(&s, "p", "a");
    clear_dirty(&mut s);
    let c = page(&mut s, "p", &[up("a", "h2", &["k3"])]);
    assert_eq!(
        c,
        PageCounts {
            updated: 1,
            ..PageCounts::default()
        }
    );
    assert_eq!(id_of(&s, "p", "a"), a, "an update keeps the row");
    assert_eq!(dirty(&mut s), vec![a]);
    assert_eq!(s.keys_of(a).unwrap(), strings(&["k3"]));
    assert_eq!(
        s.find_source("p", "a").unwrap().unwrap().record,
        "<record>a h2</record>"
    );
    let tx = s.transaction().unwrap();
    assert!(tx.records_with_key("k1", 10).unwrap().is_empty());
    assert_eq!(tx.records_with_key("k3", 10).unwrap(), vec![a]);
}

// A deletion counts only when it deletes a live record: one of a record
// never seen, or already deleted, changes and counts nothing. A deleted
// record loses its keys and its content, and waits for dedup (its
// cluster must shrink).
on_both_backends!(
    deletion_counts_only_for_a_live_record,
    deletion_counts_only_for_a_live_record_sqlite,
    deletion_counts_only_for_a_live_record_postgres
);
fn deletion_counts_only_for_a_live_record(at: &StoreLocation) {
    let mut s = open(at);
    page(&mut s, "p", &[up("a", "h", &["k"]), up("b", "h", &["k"])]);
    let (a, b) = (id_of(&s, "p", "a"), id_of(&s, "p", "b"));
    clear_dirty(&mut s);
    let c = page(&mut s, "p", &[del("unknown"), del("a"), del("a")]);
    assert_eq!(
        c,
        PageCounts {
            deleted: 1,
            ..PageCounts::default()
        }
    );
    assert!(s.keys_of(a).unwrap().is_empty());
    assert_eq!(s.keys_of(b).unwrap(), strings(&["k"]));
    assert!(s.find_source("p", "a").unwrap().is_none());
    assert!(s.find_source("p", "unknown").unwrap().is_none());
    assert_eq!(s.count_live_records("p").unwrap(), 1);
    assert_eq!(dirty(&mut s), vec![a]);
    clear_dirty(&mut s);
    assert_eq!(page(&mut s, "p", &[del("a")]), PageCounts::default());
    assert!(
        dirty(&mut s).is_empty(),
        "a repeated deletion re-dirties nothing"
    );
    assert_eq!(s.raw_batch("p", 0, 10).unwrap().len(), 1);
}

// Reprocessing writes live records only: one that a harvest page deleted
// after reprocessing read it stays deleted, without text or keys, while
// the others get their new form and keys and wait for dedup.
on_both_backends!(
    reprocessing_leaves_a_record_deleted_meanwhile_deleted,
    reprocessing_leaves_a_record_deleted_meanwhile_deleted_sqlite,
    reprocessing_leaves_a_record_deleted_meanwhile_deleted_postgres
);
fn reprocessing_leaves_a_record_deleted_meanwhile_deleted(at: &StoreLocation) {
    let mut s = open(at);
    page(
        &mut s,
        "p",
        &[up("a", "h1", &["k1"]), up("b", "h1", &["k1"])],
    );
    let (a, b) = (id_of(&s, "p", "a"), id_of(&s, "p", "b"));
    assert_eq!(s.raw_batch("p", 0, 10).unwrap().len(), 2);
    page(&mut s, "p", &[del("a")]);
    clear_dirty(&mut s);
    let renormalised: Vec<Renormalized> = [a, b]
        .into_iter()
        .map(|id| Renormalized {
            id,
            record: format!("<record>{id} h2</record>"),
            content_hash: "h2".into(),
            local_id: None,
            keys: strings(&["k2"]),
        })
        .collect();
    assert_eq!(s.update_normalized(&renormalised).unwrap(), 1);
    assert!(s.find_source("p", "a").unwrap().is_none());
    assert!(s.keys_of(a).unwrap().is_empty());
    assert_eq!(s.keys_of(b).unwrap(), strings(&["k2"]));
    assert_eq!(dirty(&mut s), vec![b]);
    let tx = s.transaction().unwrap();
    assert_eq!(tx.records_with_key("k2", 10).unwrap(), vec![b]);
}

// A record harvested again after its deletion is new (it was not live),
// even with its old content, and keeps its row id.
on_both_backends!(
    record_back_after_deletion_is_new_and_keeps_its_id,
    record_back_after_deletion_is_new_and_keeps_its_id_sqlite,
    record_back_after_deletion_is_new_and_keeps_its_id_postgres
);
fn record_back_after_deletion_is_new_and_keeps_its_id(at: &StoreLocation) {
    let mut s = open(at);
    page(&mut s, "p", &[up("a", "h", &["k"])]);
    let a = id_of(&s, "p", "a");
    page(&mut s, "p", &[del("a")]);
    clear_dirty(&mut s);
    let c = page(&mut s, "p", &[up("a", "h", &["k"])]);
    assert_eq!(
        c,
        PageCounts {
            new: 1,
            ..PageCounts::default()
        }
    );
    assert_eq!(id_of(&s, "p", "a"), a);
    assert_eq!(s.keys_of(a).unwrap(), strings(&["k"]));
    assert_eq!(dirty(&mut s), vec![a]);
}

// A page may list one record several times; each listing is counted as if
// it came in a page of its own, in order.
on_both_backends!(
    record_listed_twice_in_one_page_counts_each_listing_in_order,
    record_listed_twice_in_one_page_counts_each_listing_in_order_sqlite,
    record_listed_twice_in_one_page_counts_each_listing_in_order_postgres
);
fn record_listed_twice_in_one_page_counts_each_listing_in_order(at: &StoreLocation) {
    let mut s = open(at);
    // New, then unchanged: the second listing's keys are not stored.
    let c = page(&mut s, "p", &[up("x", "h", &["kx"]), up("x", "h", &["ky"])]);
    assert_eq!((c.new, c.unchanged, c.seen()), (1, 1, 2));
    assert_eq!(s.keys_of(id_of(&s, "p", "x")).unwrap(), strings(&["kx"]));
    // New, then updated: the second version wins.
    let c = page(
        &mut s,
        "p",
        &[up("y", "h1", &["k1"]), up("y", "h2", &["k2"])],
    );
    assert_eq!((c.new, c.updated, c.seen()), (1, 1, 2));
    let y = id_of(&s, "p", "y");
    assert_eq!(s.keys_of(y).unwrap(), strings(&["k2"]));
    assert_eq!(
        s.find_source("p", "y").unwrap().unwrap().record,
        "<record>y h2</record>"
    );
    // New, then deleted: nothing of it is live.
    let c = page(&mut s, "p", &[up("z", "h", &["kz"]), del("z")]);
    assert_eq!((c.new, c.deleted), (1, 1));
    assert!(s.find_source("p", "z").unwrap().is_none());
    // Deleted, then back: both count.
    let c = page(&mut s, "p", &[del("x"), up("x", "h", &["kx"])]);
    assert_eq!((c.deleted, c.new), (1, 1));
    assert_eq!(s.keys_of(id_of(&s, "p", "x")).unwrap(), strings(&["kx"]));
    // Deleted twice: once.
    let c = page(&mut s, "p", &[del("y"), del("y")]);
    assert_eq!(
        c,
        PageCounts {
            deleted: 1,
            ..PageCounts::default()
        }
    );
    assert_eq!(s.count_live_records("p").unwrap(), 1);
}

// Records are a partner's own: the same OAI identifier at two partners is
// two records, and one partner's deletion leaves the other's alone.
on_both_backends!(
    same_oai_identifier_at_two_partners_is_two_records,
    same_oai_identifier_at_two_partners_is_two_records_sqlite,
    same_oai_identifier_at_two_partners_is_two_records_postgres
);
fn same_oai_identifier_at_two_partners_is_two_records(at: &StoreLocation) {
    let mut s = open(at);
    assert_eq!(page(&mut s, "p", &[up("a", "h", &["k"])]).new, 1);
    assert_eq!(page(&mut s, "q", &[up("a", "h", &["k"])]).new, 1);
    let (pa, qa) = (id_of(&s, "p", "a"), id_of(&s, "q", "a"));
    assert_ne!(pa, qa);
    assert_eq!(page(&mut s, "p", &[del("a")]).deleted, 1);
    assert!(s.find_source("p", "a").unwrap().is_none());
    assert_eq!(id_of(&s, "q", "a"), qa);
    assert_eq!(s.keys_of(qa).unwrap(), strings(&["k"]));
    let tx = s.transaction().unwrap();
    assert_eq!(tx.records_with_key("k", 10).unwrap(), vec![qa]);
}

// A run's record adds up all its pages; repairs are summed over all the
// partner's runs, and the totals count what was harvested (new, updated
// or unchanged), deleted and quarantined.
on_both_backends!(
    run_counts_add_up_every_page_and_totals_every_run,
    run_counts_add_up_every_page_and_totals_every_run_sqlite,
    run_counts_add_up_every_page_and_totals_every_run_postgres
);
fn run_counts_add_up_every_page_and_totals_every_run(at: &StoreLocation) {
    let mut s = open(at);
    let run = s.begin_run("p").unwrap();
    let pages: [&[PageItem]; 3] = [
        &[up("a", "h1", &[]), up("b", "h1", &[]), quar("q", "<q")],
        &[up("a", "h2", &[]), up("b", "h1", &[]), del("zz")],
        &[del("a"), up("c", "h1", &[])],
    ];
    let mut sum = PageCounts::default();
    for (i, items) in pages.into_iter().enumerate() {
        sum.add(s.commit_page(run, "p", items, None, i as u64).unwrap());
    }
    assert_eq!(
        sum,
        PageCounts {
            new: 3,
            updated: 1,
            unchanged: 1,
            deleted: 1,
            quarantined: 1,
            repaired: 3,
        }
    );
    let last = s.last_run("p").unwrap().unwrap();
    assert_eq!((last.id, last.pages, last.counts), (run, 3, sum));
    let other = s.begin_run("p").unwrap();
    s.commit_page(other, "p", &[], None, 4).unwrap();
    assert_eq!(s.count_repaired("p").unwrap(), 7);
    assert_eq!(s.count_repaired("q").unwrap(), 0);
    let t = s.partner_totals("p").unwrap();
    assert_eq!(
        (t.harvested, t.deleted, t.quarantined, t.runs, t.failed_runs),
        (5, 1, 1, 2, 0)
    );
    assert_eq!(s.count_live_records("p").unwrap(), 2);
    assert_eq!(s.count_quarantined("p").unwrap(), 1);
}

// ---------------------------------------------------------------------------
// Quarantine.

// A readable version supersedes the quarantined ones: they are kept,
// marked resolved, for the record. Another partner's entry with the same
// identifier stays open.
on_both_backends!(
    quarantine_is_superseded_by_a_readable_version,
    quarantine_is_superseded_by_a_readable_version_sqlite,
    quarantine_is_superseded_by_a_readable_version_postgres
);
fn quarantine_is_superseded_by_a_readable_version(at: &StoreLocation) {
    let mut s = open(at);
    let run = s.begin_run("p").unwrap();
    s.commit_page(run, "p", &[quar("x", "<x"), quar("y", "<y")], None, 0)
        .unwrap();
    let other = s.begin_run("o").unwrap();
    s.commit_page(other, "o", &[quar("x", "<ox")], None, 0)
        .unwrap();
    assert_eq!(s.count_quarantined("p").unwrap(), 2);
    assert_eq!(s.count_live_records("p").unwrap(), 0);
    let c = s
        .commit_page(run, "p", &[up("x", "h", &[])], None, 0)
        .unwrap();
    assert_eq!(c.new, 1);
    assert_eq!(s.count_quarantined("p").unwrap(), 1);
    assert_eq!(
        s.count_quarantined("o").unwrap(),
        1,
        "another partner's x stays open"
    );
    let open_entries = s.quarantine_list(Some("p"), false).unwrap();
    assert_eq!(open_entries.len(), 1);
    assert_eq!(open_entries[0].oai_id, "y");
    assert!(open_entries[0].resolved_at.is_none());
    assert!(
        open_entries[0].raw.is_none(),
        "lists leave the raw text out"
    );
    // Newest first.
    let all = s.quarantine_list(Some("p"), true).unwrap();
    assert_eq!(
        all.iter().map(|q| q.oai_id.as_str()).collect::<Vec<_>>(),
        ["y", "x"]
    );
    assert!(all[1].resolved_at.is_some() && all[1].at.is_some());
    assert_eq!(s.quarantine_list(None, true).unwrap().len(), 3);
    assert_eq!(s.quarantine_list(None, false).unwrap().len(), 2);
    let x = s.quarantine_entry(all[1].id).unwrap().unwrap();
    assert_eq!(
        (x.partner.as_str(), x.oai_id.as_str(), x.reason.as_str()),
        ("p", "x", "x does not parse")
    );
    assert_eq!((x.raw.as_deref(), x.run_id), (Some("<x"), Some(run)));
    assert!(s.quarantine_entry(-1).unwrap().is_none());
    // A readable version later in the same page supersedes it at once.
    let c = s
        .commit_page(run, "p", &[quar("z", "<z"), up("z", "h", &[])], None, 0)
        .unwrap();
    assert_eq!((c.quarantined, c.new), (1, 1));
    assert_eq!(s.count_quarantined("p").unwrap(), 1);
}

// A readable redelivery resolves the quarantined version even when its
// content is the one already stored (it is still a version that reads).
on_both_backends!(
    unchanged_redelivery_resolves_quarantine,
    unchanged_redelivery_resolves_quarantine_sqlite,
    unchanged_redelivery_resolves_quarantine_postgres
);
fn unchanged_redelivery_resolves_quarantine(at: &StoreLocation) {
    let mut s = open(at);
    page(&mut s, "p", &[up("a", "h", &[])]);
    page(&mut s, "p", &[quar("a", "<broken")]);
    assert_eq!(s.count_quarantined("p").unwrap(), 1);
    let c = page(&mut s, "p", &[up("a", "h", &[])]);
    assert_eq!(c.unchanged, 1);
    assert_eq!(s.count_quarantined("p").unwrap(), 0);
    assert_eq!(s.quarantine_list(Some("p"), true).unwrap().len(), 1);
}

// ---------------------------------------------------------------------------
// Checkpoints and runs.

fn checkpoint(token: Option<&str>, cursor: u64) -> Checkpoint {
    Checkpoint {
        token: token.map(String::from),
        cursor: Some(cursor),
        from: Some("2023-12-01".into()),
        first_response_date: Some("2024-01-01T00:00:00Z".into()),
    }
}

// The checkpoint is saved with each page (the latest one wins) and
// survives a failed run, which does not move `from`: the next run
// resumes there.
on_both_backends!(
    checkpoint_is_saved_with_each_page_and_survives_a_failed_run,
    checkpoint_is_saved_with_each_page_and_survives_a_failed_run_sqlite,
    checkpoint_is_saved_with_each_page_and_survives_a_failed_run_postgres
);
fn checkpoint_is_saved_with_each_page_and_survives_a_failed_run(at: &StoreLocation) {
    let mut s = open(at);
    assert_eq!(s.checkpoint("p").unwrap(), None);
    let r1 = s.begin_run("p").unwrap();
    s.set_run_from(r1, Some("2023-12-01")).unwrap();
    let cp1 = checkpoint(Some("t1"), 10);
    s.commit_page(r1, "p", &[up("a", "h", &[])], Some(&cp1), 0)
        .unwrap();
    assert_eq!(s.checkpoint("p").unwrap(), Some(cp1));
    let cp2 = Checkpoint {
        token: Some("t2".into()),
        cursor: None,
        from: None,
        first_response_date: None,
    };
    s.commit_page(r1, "p", &[up("b", "h", &[])], Some(&cp2), 0)
        .unwrap();
    assert_eq!(s.checkpoint("p").unwrap(), Some(cp2.clone()));
    assert_eq!(s.checkpoint("q").unwrap(), None);
    s.finish_run(
        r1,
        "p",
        RunOutcome::Failed,
        Some("ignored"),
        Some("boom"),
        false,
    )
    .unwrap();
    assert_eq!(s.checkpoint("p").unwrap(), Some(cp2));
    assert_eq!(s.next_from("p").unwrap(), None);
    let last = s.last_run("p").unwrap().unwrap();
    assert_eq!(
        (last.id, last.outcome.as_str(), last.error.as_deref()),
        (r1, "failed", Some("boom"))
    );
    assert!(last.finished_at.is_some());
}

// The last page carries no resumption token: nothing is left to resume,
// even before the run is closed.
on_both_backends!(
    page_without_a_token_leaves_nothing_to_resume,
    page_without_a_token_leaves_nothing_to_resume_sqlite,
    page_without_a_token_leaves_nothing_to_resume_postgres
);
fn page_without_a_token_leaves_nothing_to_resume(at: &StoreLocation) {
    let mut s = open(at);
    let r = s.begin_run("p").unwrap();
    s.commit_page(r, "p", &[], Some(&checkpoint(Some("t"), 1)), 0)
        .unwrap();
    assert!(s.checkpoint("p").unwrap().is_some());
    s.commit_page(r, "p", &[], Some(&checkpoint(None, 2)), 0)
        .unwrap();
    assert_eq!(s.checkpoint("p").unwrap(), None);
}

// An import commits pages without a checkpoint and closes its run on its
// own: the harvest's checkpoint and `from` stay as they were.
on_both_backends!(
    import_run_keeps_the_harvests_checkpoint_and_from,
    import_run_keeps_the_harvests_checkpoint_and_from_sqlite,
    import_run_keeps_the_harvests_checkpoint_and_from_postgres
);
fn import_run_keeps_the_harvests_checkpoint_and_from(at: &StoreLocation) {
    let mut s = open(at);
    let r = s.begin_run("p").unwrap();
    s.finish_run(
        r,
        "p",
        RunOutcome::Ok,
        Some("2024-01-01T00:00:00Z"),
        None,
        false,
    )
    .unwrap();
    let cp = checkpoint(Some("t"), 5);
    let r = s.begin_run("p").unwrap();
    s.commit_page(r, "p", &[], Some(&cp), 0).unwrap();
    let imp = s.begin_run("p").unwrap();
    assert_eq!(
        s.commit_page(imp, "p", &[up("b", "h", &[])], None, 0)
            .unwrap()
            .new,
        1
    );
    s.finish_import_run(imp, false, Some("bad file")).unwrap();
    assert_eq!(s.checkpoint("p").unwrap(), Some(cp.clone()));
    assert_eq!(
        s.next_from("p").unwrap().as_deref(),
        Some("2024-01-01T00:00:00Z")
    );
    let last = s.last_run("p").unwrap().unwrap();
    assert_eq!(
        (
            last.id,
            last.outcome.as_str(),
            last.error.as_deref(),
            last.next_from
        ),
        (imp, "failed", Some("bad file"), None)
    );
    let imp = s.begin_run("p").unwrap();
    s.finish_import_run(imp, true, None).unwrap();
    assert_eq!(s.checkpoint("p").unwrap(), Some(cp));
    assert_eq!(s.last_run("p").unwrap().unwrap().outcome, "ok");
}

// Only a complete run moves `from`, and clears the checkpoint; one that
// records no next `from` keeps the previous one.
on_both_backends!(
    complete_run_moves_from_and_clears_the_checkpoint,
    complete_run_moves_from_and_clears_the_checkpoint_sqlite,
    complete_run_moves_from_and_clears_the_checkpoint_postgres
);
fn complete_run_moves_from_and_clears_the_checkpoint(at: &StoreLocation) {
    let mut s = open(at);
    let r1 = s.begin_run("p").unwrap();
    s.commit_page(r1, "p", &[], Some(&checkpoint(Some("t"), 1)), 0)
        .unwrap();
    s.finish_run(
        r1,
        "p",
        RunOutcome::Ok,
        Some("2024-01-01T00:00:00Z"),
        None,
        false,
    )
    .unwrap();
    assert_eq!(s.checkpoint("p").unwrap(), None);
    assert_eq!(
        s.next_from("p").unwrap().as_deref(),
        Some("2024-01-01T00:00:00Z")
    );
    let last = s.last_run("p").unwrap().unwrap();
    assert_eq!(
        (last.outcome.as_str(), last.next_from.as_deref(), last.error),
        ("ok", Some("2024-01-01T00:00:00Z"), None)
    );
    let r2 = s.begin_run("p").unwrap();
    s.finish_run(r2, "p", RunOutcome::Ok, None, None, false)
        .unwrap();
    assert_eq!(
        s.next_from("p").unwrap().as_deref(),
        Some("2024-01-01T00:00:00Z")
    );
    let r3 = s.begin_run("p").unwrap();
    s.finish_run(
        r3,
        "p",
        RunOutcome::Ok,
        Some("2024-02-01T00:00:00Z"),
        None,
        false,
    )
    .unwrap();
    assert_eq!(
        s.next_from("p").unwrap().as_deref(),
        Some("2024-02-01T00:00:00Z")
    );
    assert_eq!(s.next_from("q").unwrap(), None);
    // A first complete run that records no `from` still leaves none.
    let rq = s.begin_run("q").unwrap();
    s.finish_run(rq, "q", RunOutcome::Ok, None, None, false)
        .unwrap();
    assert_eq!(s.next_from("q").unwrap(), None);
}

// A failure that resuming would repeat (a rejected token) drops the
// checkpoint, and still does not move `from`.
on_both_backends!(
    failed_run_with_drop_checkpoint_forgets_it_but_keeps_from,
    failed_run_with_drop_checkpoint_forgets_it_but_keeps_from_sqlite,
    failed_run_with_drop_checkpoint_forgets_it_but_keeps_from_postgres
);
fn failed_run_with_drop_checkpoint_forgets_it_but_keeps_from(at: &StoreLocation) {
    let mut s = open(at);
    let r1 = s.begin_run("p").unwrap();
    s.finish_run(
        r1,
        "p",
        RunOutcome::Ok,
        Some("2024-01-01T00:00:00Z"),
        None,
        false,
    )
    .unwrap();
    let r2 = s.begin_run("p").unwrap();
    s.commit_page(r2, "p", &[], Some(&checkpoint(Some("t"), 1)), 0)
        .unwrap();
    s.finish_run(r2, "p", RunOutcome::Failed, None, Some("bad token"), true)
        .unwrap();
    assert_eq!(s.checkpoint("p").unwrap(), None);
    assert_eq!(
        s.next_from("p").unwrap().as_deref(),
        Some("2024-01-01T00:00:00Z")
    );
    // Dropping a checkpoint a partner never had is harmless.
    let rq = s.begin_run("q").unwrap();
    s.finish_run(rq, "q", RunOutcome::Failed, None, Some("down"), true)
        .unwrap();
    assert_eq!(
        (s.checkpoint("q").unwrap(), s.next_from("q").unwrap()),
        (None, None)
    );
}

// Runs a dead process left `running` are failed, only that partner's and
// only those still running.
on_both_backends!(
    fail_stale_runs_fails_only_the_partners_running_runs,
    fail_stale_runs_fails_only_the_partners_running_runs_sqlite,
    fail_stale_runs_fails_only_the_partners_running_runs_postgres
);
fn fail_stale_runs_fails_only_the_partners_running_runs(at: &StoreLocation) {
    let mut s = open(at);
    let done = s.begin_run("p").unwrap();
    s.finish_run(done, "p", RunOutcome::Ok, Some("2024-01-01"), None, false)
        .unwrap();
    s.begin_run("p").unwrap();
    let r3 = s.begin_run("p").unwrap();
    let q = s.begin_run("q").unwrap();
    assert_eq!(s.fail_stale_runs("p").unwrap(), 2);
    let last = s.last_run("p").unwrap().unwrap();
    assert_eq!((last.id, last.outcome.as_str()), (r3, "failed"));
    assert!(last.error.unwrap().contains("interrupted"));
    assert!(last.finished_at.is_some());
    let lq = s.last_run("q").unwrap().unwrap();
    assert_eq!((lq.id, lq.outcome.as_str()), (q, "running"));
    assert_eq!(s.fail_stale_runs("p").unwrap(), 0);
    let t = s.partner_totals("p").unwrap();
    assert_eq!((t.runs, t.failed_runs), (3, 2));
    assert_eq!(
        s.next_from("p").unwrap().as_deref(),
        Some("2024-01-01"),
        "failing stale runs moves nothing"
    );
}

// The last run is the partner's latest, as it stands: started, running,
// nothing counted yet.
on_both_backends!(
    last_run_is_the_partners_latest_run_as_it_stands,
    last_run_is_the_partners_latest_run_as_it_stands_sqlite,
    last_run_is_the_partners_latest_run_as_it_stands_postgres
);
fn last_run_is_the_partners_latest_run_as_it_stands(at: &StoreLocation) {
    let mut s = open(at);
    assert!(s.last_run("p").unwrap().is_none());
    let before = chrono::Utc::now() - chrono::Duration::seconds(2);
    let r1 = s.begin_run("p").unwrap();
    let r2 = s.begin_run("q").unwrap();
    assert_ne!(r1, r2);
    let last = s.last_run("p").unwrap().unwrap();
    assert_eq!(
        (
            last.id,
            last.partner.as_str(),
            last.outcome.as_str(),
            last.pages
        ),
        (r1, "p", "running", 0)
    );
    assert_eq!(last.counts, PageCounts::default());
    assert_eq!(
        (last.finished_at, last.next_from, last.error),
        (None, None, None)
    );
    let started = parse_time(&last.started_at);
    assert!(started >= before && started <= chrono::Utc::now() + chrono::Duration::seconds(2));
    let r3 = s.begin_run("p").unwrap();
    assert!(r3 > r1);
    assert_eq!(s.last_run("p").unwrap().unwrap().id, r3);
}

// Totals for metrics: all runs, failed ones, and when and how long the
// last successful one was; nothing at all for a partner never harvested.
on_both_backends!(
    partner_totals_and_last_success_describe_all_runs,
    partner_totals_and_last_success_describe_all_runs_sqlite,
    partner_totals_and_last_success_describe_all_runs_postgres
);
fn partner_totals_and_last_success_describe_all_runs(at: &StoreLocation) {
    let mut s = open(at);
    assert_eq!(s.partner_totals("p").unwrap(), PartnerTotals::default());
    assert!(s.last_success_started("p").unwrap().is_none());
    let r1 = s.begin_run("p").unwrap();
    s.commit_page(r1, "p", &[up("a", "h", &[]), quar("q", "<q")], None, 0)
        .unwrap();
    s.finish_run(r1, "p", RunOutcome::Ok, Some("2024-01-01"), None, false)
        .unwrap();
    let ok = s.last_run("p").unwrap().unwrap();
    let r2 = s.begin_run("p").unwrap();
    s.commit_page(r2, "p", &[up("a", "h2", &[]), del("a")], None, 0)
        .unwrap();
    s.finish_run(r2, "p", RunOutcome::Failed, None, Some("boom"), false)
        .unwrap();
    // Another partner's successful run is not this one's.
    let other = s.begin_run("o").unwrap();
    s.finish_run(other, "o", RunOutcome::Ok, None, None, false)
        .unwrap();
    let t = s.partner_totals("p").unwrap();
    assert_eq!(
        (t.harvested, t.deleted, t.quarantined, t.failed_runs, t.runs),
        (2, 1, 1, 1, 2)
    );
    let finished = parse_time(ok.finished_at.as_deref().unwrap());
    assert_eq!(t.last_success, Some(finished.timestamp()));
    let duration = t.last_duration_secs.unwrap();
    assert!((0.0..60.0).contains(&duration), "{duration}");
    assert_eq!(
        s.last_success_started("p").unwrap(),
        Some(parse_time(&ok.started_at))
    );
    assert!(s.last_success_started("nobody").unwrap().is_none());
}

// ---------------------------------------------------------------------------
// Reconciliation.

// A complete listing deletes the live records it lacks (their keys too,
// and they wait for dedup), leaves other partners alone, and is forgotten
// once applied.
on_both_backends!(
    reconcile_deletes_the_live_records_the_listing_lacks,
    reconcile_deletes_the_live_records_the_listing_lacks_sqlite,
    reconcile_deletes_the_live_records_the_listing_lacks_postgres
);
fn reconcile_deletes_the_live_records_the_listing_lacks(at: &StoreLocation) {
    let mut s = open(at);
    page(
        &mut s,
        "p",
        &[
            up("a", "h", &["ka"]),
            up("b", "h", &["kb"]),
            up("c", "h", &["kc"]),
            up("d", "h", &[]),
            del("d"),
        ],
    );
    page(&mut s, "q", &[up("c", "h", &["kc"])]);
    let c = id_of(&s, "p", "c");
    let qc = id_of(&s, "q", "c");
    {
        // A pass that walks the key index: the keys are in it now, so the
        // reconciliation has to take the deleted record's out of it too.
        let tx = s.transaction().unwrap();
        tx.for_each_key_holder(|_, _| Ok(())).unwrap();
        tx.clear_all_dirty().unwrap();
        tx.commit().unwrap();
    }
    s.reconcile_begin("p").unwrap();
    s.reconcile_seen("p", &strings(&["a"])).unwrap();
    s.reconcile_seen("p", &strings(&["b", "a", "gone"]))
        .unwrap();
    s.reconcile_seen("p", &[]).unwrap();
    // (live before, identifiers listed, deleted)
    assert_eq!(s.reconcile_apply("p", 0.5).unwrap(), (3, 3, 1));
    assert!(s.find_source("p", "c").unwrap().is_none());
    assert!(s.keys_of(c).unwrap().is_empty());
    {
        let tx = s.transaction().unwrap();
        assert_eq!(tx.records_with_key("kc", 10).unwrap(), vec![qc]);
    }
    assert_eq!(dirty(&mut s), vec![c]);
    assert_eq!(s.count_live_records("p").unwrap(), 2);
    assert_eq!(s.count_live_records("q").unwrap(), 1);
    // The listing was forgotten: an empty one now deletes everything.
    assert_eq!(s.reconcile_apply("p", 0.0).unwrap(), (2, 0, 2));
    assert_eq!(s.count_live_records("p").unwrap(), 0);
    assert_eq!(s.count_live_records("q").unwrap(), 1);
}

// A listing shorter than the minimum ratio of our records is more likely a
// broken endpoint: nothing is deleted. A listing exactly at the ratio is
// believed; starting a new listing forgets the earlier one.
on_both_backends!(
    reconcile_refuses_a_listing_too_short_to_believe,
    reconcile_refuses_a_listing_too_short_to_believe_sqlite,
    reconcile_refuses_a_listing_too_short_to_believe_postgres
);
fn reconcile_refuses_a_listing_too_short_to_believe(at: &StoreLocation) {
    let mut s = open(at);
    let items: Vec<_> = ["a", "b", "c", "d"]
        .iter()
        .map(|o| up(o, "h", &["k"]))
        .collect();
    page(&mut s, "p", &items);
    s.reconcile_begin("p").unwrap();
    s.reconcile_seen("p", &strings(&["a"])).unwrap();
    let err = s.reconcile_apply("p", 0.5).unwrap_err();
    assert!(format!("{err:#}").contains("refusing to delete"), "{err:#}");
    assert_eq!(s.count_live_records("p").unwrap(), 4);
    // The refused listing is kept: a later page can complete it.
    s.reconcile_seen("p", &strings(&["b"])).unwrap();
    assert_eq!(s.reconcile_apply("p", 0.5).unwrap(), (4, 2, 2));
    assert_eq!(s.count_live_records("p").unwrap(), 2);
    s.reconcile_seen("p", &strings(&["a"])).unwrap();
    s.reconcile_begin("p").unwrap();
    assert!(
        s.reconcile_apply("p", 0.1).is_err(),
        "begin forgot the listing"
    );
    assert_eq!(s.count_live_records("p").unwrap(), 2);
}

// With no live records there is nothing to protect: the ratio does not
// apply and nothing is deleted.
on_both_backends!(
    reconcile_of_a_partner_without_records_deletes_nothing,
    reconcile_of_a_partner_without_records_deletes_nothing_sqlite,
    reconcile_of_a_partner_without_records_deletes_nothing_postgres
);
fn reconcile_of_a_partner_without_records_deletes_nothing(at: &StoreLocation) {
    let mut s = open(at);
    page(&mut s, "q", &[up("a", "h", &[])]);
    s.reconcile_begin("p").unwrap();
    assert_eq!(s.reconcile_apply("p", 1.0).unwrap(), (0, 0, 0));
    s.reconcile_seen("p", &strings(&["a", "b"])).unwrap();
    assert_eq!(s.reconcile_apply("p", 1.0).unwrap(), (0, 2, 0));
    assert_eq!(s.count_live_records("q").unwrap(), 1);
}

// ---------------------------------------------------------------------------
// Reprocessing from the raw records.

// Reprocessing pages through a partner's live records in id order, with
// their raw text as harvested.
on_both_backends!(
    raw_batch_pages_through_live_records_in_id_order,
    raw_batch_pages_through_live_records_in_id_order_sqlite,
    raw_batch_pages_through_live_records_in_id_order_postgres
);
fn raw_batch_pages_through_live_records_in_id_order(at: &StoreLocation) {
    let mut s = open(at);
    page(
        &mut s,
        "p",
        &[
            up("a", "h", &[]),
            up("b", "h", &[]),
            up("c", "h", &[]),
            del("b"),
        ],
    );
    page(&mut s, "q", &[up("d", "h", &[])]);
    let (a, c, d) = (
        id_of(&s, "p", "a"),
        id_of(&s, "p", "c"),
        id_of(&s, "q", "d"),
    );
    let row = |id: i64, oai: &str| (id, oai.to_string(), format!("<raw>{oai}</raw>"));
    assert_eq!(
        s.raw_batch("p", 0, 10).unwrap(),
        vec![row(a, "a"), row(c, "c")]
    );
    assert_eq!(s.raw_batch("p", 0, 1).unwrap(), vec![row(a, "a")]);
    assert_eq!(s.raw_batch("p", a, 10).unwrap(), vec![row(c, "c")]);
    assert!(s.raw_batch("p", c, 10).unwrap().is_empty());
    assert_eq!(s.raw_batch("q", 0, 10).unwrap(), vec![row(d, "d")]);
    assert!(s.raw_batch("nobody", 0, 10).unwrap().is_empty());
}

// Re-normalised records are stored only when their hash changed: only
// those get new keys, a new 001 and a dedup flag.
on_both_backends!(
    update_normalized_changes_only_records_whose_hash_changed,
    update_normalized_changes_only_records_whose_hash_changed_sqlite,
    update_normalized_changes_only_records_whose_hash_changed_postgres
);
fn update_normalized_changes_only_records_whose_hash_changed(at: &StoreLocation) {
    let mut s = open(at);
    page(&mut s, "p", &[up("a", "h", &["k"]), up("b", "h", &["k"])]);
    let (a, b) = (id_of(&s, "p", "a"), id_of(&s, "p", "b"));
    clear_dirty(&mut s);
    let same = Renormalized {
        id: a,
        record: "<x/>".into(),
        content_hash: "h".into(),
        local_id: None,
        keys: strings(&["z"]),
    };
    let changed = Renormalized {
        id: b,
        record: "<y/>".into(),
        content_hash: "h2".into(),
        local_id: Some("B".into()),
        keys: strings(&["z", "y", "z"]),
    };
    assert_eq!(s.update_normalized(&[same.clone(), changed]).unwrap(), 1);
    assert_eq!(s.keys_of(a).unwrap(), strings(&["k"]));
    assert_eq!(s.keys_of(b).unwrap(), strings(&["y", "z"]));
    assert_eq!(dirty(&mut s), vec![b]);
    let found = s.find_source("p", "B").unwrap().unwrap();
    assert_eq!((found.id, found.record.as_str()), (b, "<y/>"));
    assert!(
        s.find_source("p", "Lb").unwrap().is_none(),
        "the old 001 is gone"
    );
    let kept = s.find_source("p", "La").unwrap().unwrap();
    assert_eq!((kept.id, kept.record.as_str()), (a, "<record>a h</record>"));
    assert_eq!(s.update_normalized(&[same]).unwrap(), 0);
    assert_eq!(s.update_normalized(&[]).unwrap(), 0);
    // A record listed twice in one batch changes twice; the last wins.
    let twice = |record: &str, hash: &str, key: &str| Renormalized {
        id: a,
        record: record.into(),
        content_hash: hash.into(),
        local_id: None,
        keys: strings(&[key]),
    };
    let batch = [twice("<1/>", "h3", "q"), twice("<2/>", "h4", "r")];
    assert_eq!(s.update_normalized(&batch).unwrap(), 2);
    assert_eq!(s.keys_of(a).unwrap(), strings(&["r"]));
}

// ---------------------------------------------------------------------------
// The dedup transaction.

// Records wait for dedup in id order, deleted ones too (their clusters
// must shrink), until a pass clears them all.
on_both_backends!(
    dirty_records_wait_in_id_order_until_a_pass_clears_them,
    dirty_records_wait_in_id_order_until_a_pass_clears_them_sqlite,
    dirty_records_wait_in_id_order_until_a_pass_clears_them_postgres
);
fn dirty_records_wait_in_id_order_until_a_pass_clears_them(at: &StoreLocation) {
    let mut s = open(at);
    page(&mut s, "q", &[up("z", "h", &[])]);
    page(&mut s, "p", &[up("a", "h", &[]), up("b", "h", &[])]);
    let (z, a, b) = (
        id_of(&s, "q", "z"),
        id_of(&s, "p", "a"),
        id_of(&s, "p", "b"),
    );
    clear_dirty(&mut s);
    page(&mut s, "p", &[up("b", "h2", &[]), del("a")]);
    page(&mut s, "q", &[up("z", "h2", &[])]);
    let tx = s.transaction().unwrap();
    assert_eq!(tx.dirty_records().unwrap(), vec![z, a, b]);
    tx.clear_all_dirty().unwrap();
    assert!(tx.dirty_records().unwrap().is_empty());
    tx.commit().unwrap();
    assert!(dirty(&mut s).is_empty());
}

// The key index as the pipeline walks it: live records holding a key (or
// two), in id order, at most `limit` + 1 so that the caller can tell a
// key too common to link on.
on_both_backends!(
    records_with_key_give_at_most_limit_plus_one_in_id_order,
    records_with_key_give_at_most_limit_plus_one_in_id_order_sqlite,
    records_with_key_give_at_most_limit_plus_one_in_id_order_postgres
);
fn records_with_key_give_at_most_limit_plus_one_in_id_order(at: &StoreLocation) {
    let mut s = open(at);
    page(
        &mut s,
        "p",
        &[
            up("a", "h", &["isbn:1", "tay:x"]),
            up("b", "h", &["isbn:1"]),
            up("c", "h", &["isbn:1", "tay:x"]),
            up("e", "h", &["isbn:1", "tay:x"]),
        ],
    );
    page(&mut s, "q", &[up("d", "h", &["isbn:1"])]);
    page(&mut s, "p", &[del("e")]);
    let (a, b, c, d) = (
        id_of(&s, "p", "a"),
        id_of(&s, "p", "b"),
        id_of(&s, "p", "c"),
        id_of(&s, "q", "d"),
    );
    let tx = s.transaction().unwrap();
    assert_eq!(tx.records_with_key("isbn:1", 10).unwrap(), vec![a, b, c, d]);
    assert_eq!(tx.records_with_key("isbn:1", 3).unwrap(), vec![a, b, c, d]);
    assert_eq!(tx.records_with_key("isbn:1", 1).unwrap(), vec![a, b]);
    assert_eq!(tx.records_with_key("isbn:1", 0).unwrap(), vec![a]);
    assert!(tx.records_with_key("isbn:2", 10).unwrap().is_empty());
    assert_eq!(
        tx.records_with_keys("isbn:1", "tay:x", 10).unwrap(),
        vec![a, c]
    );
    assert_eq!(tx.records_with_keys("tay:x", "isbn:1", 0).unwrap(), vec![a]);
    assert!(tx
        .records_with_keys("isbn:1", "tay:y", 10)
        .unwrap()
        .is_empty());
    assert_eq!(tx.keys_of(a).unwrap(), strings(&["isbn:1", "tay:x"]));
    assert!(tx.keys_of(-1).unwrap().is_empty());
}

// Cluster membership: set, moved, removed; read inside the pass and,
// once committed, from the store (members by partner and OAI id).
on_both_backends!(
    clusters_are_set_moved_and_removed,
    clusters_are_set_moved_and_removed_sqlite,
    clusters_are_set_moved_and_removed_postgres
);
fn clusters_are_set_moved_and_removed(at: &StoreLocation) {
    let mut s = open(at);
    page(&mut s, "q", &[up("d", "h", &[])]);
    page(
        &mut s,
        "p",
        &[up("b", "h", &[]), up("a", "h", &[]), up("c", "h", &[])],
    );
    let (d, b, a, c) = (
        id_of(&s, "q", "d"),
        id_of(&s, "p", "b"),
        id_of(&s, "p", "a"),
        id_of(&s, "p", "c"),
    );
    let tx = s.transaction().unwrap();
    for id in [a, d, b] {
        tx.set_cluster(id, Some("u1")).unwrap();
    }
    tx.set_cluster(c, Some("u1")).unwrap();
    tx.set_cluster(c, Some("u2")).unwrap();
    assert_eq!(tx.members_of("u1").unwrap(), vec![d, b, a]);
    assert_eq!(tx.members_of("u2").unwrap(), vec![c]);
    tx.set_cluster(c, None).unwrap();
    tx.set_cluster(c, None).unwrap();
    assert!(tx.members_of("u2").unwrap().is_empty());
    assert_eq!(tx.cluster_of(c).unwrap(), None);
    assert_eq!(tx.cluster_of(a).unwrap().as_deref(), Some("u1"));
    let live = tx.live_source(a).unwrap().unwrap();
    assert_eq!(
        (live.id, live.partner.as_str(), live.oai_id.as_str()),
        (a, "p", "a")
    );
    assert!(tx.live_source(-1).unwrap().is_none());
    tx.commit().unwrap();
    assert_eq!(s.cluster_of(b).unwrap().as_deref(), Some("u1"));
    assert_eq!(s.cluster_of(c).unwrap(), None);
    let members: Vec<_> = s
        .cluster_members("u1")
        .unwrap()
        .into_iter()
        .map(|m| (m.id, m.partner, m.oai_id, m.record))
        .collect();
    assert_eq!(
        members,
        [
            (a, "p".into(), "a".into(), "<record>a h</record>".into()),
            (b, "p".into(), "b".into(), "<record>b h</record>".into()),
            (d, "q".into(), "d".into(), "<record>d h</record>".into()),
        ]
    );
    assert!(s.cluster_members("u2").unwrap().is_empty());
    // A deleted record is no live source any more.
    page(&mut s, "p", &[del("a")]);
    let tx = s.transaction().unwrap();
    assert!(tx.live_source(a).unwrap().is_none());
}

// A union record gets a new version (the next sequence number) only when
// its content changes; a deleted one comes back as a new version even
// with its old content. Sequence numbers count across passes.
on_both_backends!(
    put_union_versions_only_real_changes,
    put_union_versions_only_real_changes_sqlite,
    put_union_versions_only_real_changes_postgres
);
fn put_union_versions_only_real_changes(at: &StoreLocation) {
    let mut s = open(at);
    assert_eq!(s.current_seq().unwrap(), 0);
    assert_eq!(s.union_record("u1").unwrap(), None);
    let tx = s.transaction().unwrap();
    assert!(tx.put_union("u1", "<r1/>", "h1", 1).unwrap());
    assert!(!tx.put_union("u1", "<r1/>", "h1", 1).unwrap());
    assert!(
        !tx.put_union("u1", "<other/>", "h1", 2).unwrap(),
        "the hash decides"
    );
    assert!(tx.put_union("u2", "<r2/>", "h2", 2).unwrap());
    assert!(tx.put_union("u2", "<r2b/>", "h2b", 2).unwrap());
    tx.commit().unwrap();
    assert_eq!(s.current_seq().unwrap(), 3);
    assert_eq!(
        s.union_record("u1").unwrap(),
        Some((1, false, Some("<r1/>".into())))
    );
    assert_eq!(
        s.union_record("u2").unwrap(),
        Some((3, false, Some("<r2b/>".into())))
    );
    assert_eq!(s.union_counts().unwrap(), (2, 1));
    let tx = s.transaction().unwrap();
    assert!(tx.delete_union("u1").unwrap());
    assert!(tx.put_union("u1", "<r1/>", "h1", 1).unwrap());
    assert!(!tx.put_union("u2", "<r2b/>", "h2b", 2).unwrap());
    tx.commit().unwrap();
    assert_eq!(s.current_seq().unwrap(), 5);
    assert_eq!(
        s.union_record("u1").unwrap(),
        Some((5, false, Some("<r1/>".into())))
    );
}

// A union record written twice in one pass: the second write is compared
// with the first (SQLite holds a pass's union records aside until the pass
// ends), so an identical rewrite is no new version and the last one wins.
on_both_backends!(
    union_written_twice_in_one_pass_compares_with_the_first_write,
    union_written_twice_in_one_pass_compares_with_the_first_write_sqlite,
    union_written_twice_in_one_pass_compares_with_the_first_write_postgres
);
fn union_written_twice_in_one_pass_compares_with_the_first_write(at: &StoreLocation) {
    let mut s = open(at);
    let tx = s.transaction().unwrap();
    assert!(tx.put_union("u1", "<r1/>", "h1", 1).unwrap());
    assert!(!tx.put_union("u1", "<r1/>", "h1", 1).unwrap());
    assert!(tx.put_union("u1", "<r2/>", "h2", 2).unwrap());
    tx.commit().unwrap();
    assert_eq!(s.current_seq().unwrap(), 2);
    assert_eq!(
        s.union_record("u1").unwrap(),
        Some((2, false, Some("<r2/>".into())))
    );
}

// Deleting a union record is a new version without content, kept for
// publishing the deletion; only a live record can be deleted.
on_both_backends!(
    delete_union_keeps_a_deletion_and_reports_whether_it_was_live,
    delete_union_keeps_a_deletion_and_reports_whether_it_was_live_sqlite,
    delete_union_keeps_a_deletion_and_reports_whether_it_was_live_postgres
);
fn delete_union_keeps_a_deletion_and_reports_whether_it_was_live(at: &StoreLocation) {
    let mut s = open(at);
    let tx = s.transaction().unwrap();
    assert!(tx.put_union("u1", "<r1/>", "h1", 3).unwrap());
    assert!(tx.put_union("u2", "<r2/>", "h2", 1).unwrap());
    assert!(tx.delete_union("u1").unwrap());
    assert!(!tx.delete_union("u1").unwrap());
    assert!(!tx.delete_union("nope").unwrap());
    tx.commit().unwrap();
    assert_eq!(s.current_seq().unwrap(), 3);
    assert_eq!(s.union_record("u1").unwrap(), Some((3, true, None)));
    assert_eq!(s.union_record("nope").unwrap(), None);
    assert_eq!(s.union_counts().unwrap(), (1, 0));
    assert_eq!(live_unions(&s), vec![("u2".into(), 2, "<r2/>".into())]);
    assert_eq!(s.deleted_unions_since(0).unwrap(), strings(&["u1"]));
}

// Sequence numbers are counted inside the pass and become visible to
// other handles only when it commits.
on_both_backends!(
    commit_makes_the_passs_sequence_numbers_visible,
    commit_makes_the_passs_sequence_numbers_visible_sqlite,
    commit_makes_the_passs_sequence_numbers_visible_postgres
);
fn commit_makes_the_passs_sequence_numbers_visible(at: &StoreLocation) {
    let mut s = open(at);
    let reader = open(at);
    let tx = s.transaction().unwrap();
    assert!(tx.put_union("u1", "<r1/>", "h1", 1).unwrap());
    assert!(tx.put_union("u2", "<r2/>", "h2", 1).unwrap());
    assert_eq!(reader.current_seq().unwrap(), 0);
    assert_eq!(reader.union_record("u1").unwrap(), None);
    tx.commit().unwrap();
    assert_eq!(reader.current_seq().unwrap(), 2);
    assert_eq!(
        reader.union_record("u2").unwrap(),
        Some((2, false, Some("<r2/>".into())))
    );
    // The next pass counts on from there.
    let tx = s.transaction().unwrap();
    assert!(tx.put_union("u3", "<r3/>", "h3", 1).unwrap());
    tx.commit().unwrap();
    assert_eq!(reader.union_record("u3").unwrap().unwrap().0, 3);
    assert_eq!(reader.current_seq().unwrap(), 3);
}

// A pass dropped without commit (an error half-way) changes nothing:
// clusters, unions, flags, keys, meta values and the sequence.
on_both_backends!(
    dropped_pass_rolls_everything_back,
    dropped_pass_rolls_everything_back_sqlite,
    dropped_pass_rolls_everything_back_postgres
);
fn dropped_pass_rolls_everything_back(at: &StoreLocation) {
    let mut s = open(at);
    page(&mut s, "p", &[up("a", "h", &["k"])]);
    let a = id_of(&s, "p", "a");
    let tx = s.transaction().unwrap();
    tx.set_cluster(a, Some("u1")).unwrap();
    assert!(tx.put_union("u1", "<r1/>", "h1", 1).unwrap());
    tx.set_meta_text("merge", "v1").unwrap();
    tx.clear_all_dirty().unwrap();
    tx.rekey_all(99, |_| Ok(vec!["new".into()])).unwrap();
    tx.clear_all_dirty().unwrap();
    tx.commit().unwrap();
    {
        let tx = s.transaction().unwrap();
        tx.set_cluster(a, Some("u2")).unwrap();
        assert!(tx.put_union("u1", "<r1b/>", "h1b", 1).unwrap());
        assert!(tx.put_union("u9", "<r9/>", "h9", 1).unwrap());
        tx.set_meta_text("merge", "v2").unwrap();
        tx.mark_all_dirty().unwrap();
        tx.rekey_all(100, |_| Ok(vec!["newer".into()])).unwrap();
        // Dropped here.
    }
    assert_eq!(s.current_seq().unwrap(), 1);
    assert_eq!(
        s.union_record("u1").unwrap(),
        Some((1, false, Some("<r1/>".into())))
    );
    assert_eq!(s.union_record("u9").unwrap(), None);
    assert_eq!(s.cluster_of(a).unwrap().as_deref(), Some("u1"));
    assert_eq!(s.meta_text("merge").unwrap().as_deref(), Some("v1"));
    assert_eq!(s.keys_of(a).unwrap(), strings(&["new"]));
    let tx = s.transaction().unwrap();
    assert_eq!(tx.keys_version().unwrap(), 99);
    assert!(tx.dirty_records().unwrap().is_empty());
}

// A store starts with the key version of this unicat, which rebuilding
// every record's keys replaces; every live record (only those) is then
// rekeyed and waits for dedup.
on_both_backends!(
    rekey_all_rebuilds_every_live_records_keys,
    rekey_all_rebuilds_every_live_records_keys_sqlite,
    rekey_all_rebuilds_every_live_records_keys_postgres
);
fn rekey_all_rebuilds_every_live_records_keys(at: &StoreLocation) {
    let mut s = open(at);
    page(
        &mut s,
        "p",
        &[
            up("a", "h", &["isbn:1"]),
            up("bb", "h", &["isbn:1"]),
            up("c", "h", &["isbn:1"]),
        ],
    );
    page(&mut s, "q", &[up("d", "h", &["isbn:1"])]);
    let (a, bb, c, d) = (
        id_of(&s, "p", "a"),
        id_of(&s, "p", "bb"),
        id_of(&s, "p", "c"),
        id_of(&s, "q", "d"),
    );
    page(&mut s, "p", &[del("c")]);
    clear_dirty(&mut s);
    let tx = s.transaction().unwrap();
    assert_eq!(
        tx.keys_version().unwrap(),
        unicat::dedup::keys::KEYS_VERSION
    );
    let seen = std::cell::RefCell::new(Vec::new());
    let n = tx
        .rekey_all(99, |rec| {
            seen.borrow_mut().push(rec.to_string());
            // "<record>bb h</record>" is the one of odd length.
            Ok(vec![
                format!("len:{}", rec.len() % 2),
                "all".into(),
                "all".into(),
            ])
        })
        .unwrap();
    assert_eq!(n, 3);
    let mut seen = seen.into_inner();
    seen.sort();
    assert_eq!(
        seen,
        strings(&[
            "<record>a h</record>",
            "<record>bb h</record>",
            "<record>d h</record>"
        ])
    );
    assert_eq!(tx.records_with_key("all", 10).unwrap(), vec![a, bb, d]);
    assert_eq!(tx.records_with_key("len:1", 10).unwrap(), vec![bb]);
    assert!(tx.records_with_key("isbn:1", 10).unwrap().is_empty());
    assert!(tx.keys_of(c).unwrap().is_empty());
    assert_eq!(tx.dirty_records().unwrap(), vec![a, bb, d]);
    assert_eq!(tx.keys_version().unwrap(), 99);
    tx.clear_all_dirty().unwrap();
    assert_eq!(tx.mark_all_dirty().unwrap(), 3);
    // Records already marked are neither rewritten nor counted again.
    assert_eq!(tx.mark_all_dirty().unwrap(), 0);
    assert_eq!(tx.dirty_records().unwrap(), vec![a, bb, d]);
    tx.commit().unwrap();
    assert_eq!(s.keys_of(a).unwrap(), strings(&["all", "len:0"]));
    let tx = s.transaction().unwrap();
    assert_eq!(tx.keys_version().unwrap(), 99);
}

// Text values (rules fingerprints, merge options) are read and written
// the same inside a pass and outside it.
on_both_backends!(
    meta_text_is_the_same_inside_and_outside_a_pass,
    meta_text_is_the_same_inside_and_outside_a_pass_sqlite,
    meta_text_is_the_same_inside_and_outside_a_pass_postgres
);
fn meta_text_is_the_same_inside_and_outside_a_pass(at: &StoreLocation) {
    let mut s = open(at);
    assert_eq!(s.meta_text("merge").unwrap(), None);
    s.set_meta_text("rules:p", "f1").unwrap();
    s.set_meta_text("rules:p", "f2").unwrap();
    let tx = s.transaction().unwrap();
    assert_eq!(tx.meta_text("rules:p").unwrap().as_deref(), Some("f2"));
    assert_eq!(tx.meta_text("merge").unwrap(), None);
    tx.set_meta_text("merge", "v1").unwrap();
    tx.set_meta_text("merge", "v2").unwrap();
    assert_eq!(tx.meta_text("merge").unwrap().as_deref(), Some("v2"));
    tx.commit().unwrap();
    assert_eq!(s.meta_text("merge").unwrap().as_deref(), Some("v2"));
    assert_eq!(s.meta_text("rules:p").unwrap().as_deref(), Some("f2"));
    assert_eq!(s.meta_text("rules:q").unwrap(), None);
}

// ---------------------------------------------------------------------------
// Publishing.

// A full dump streams the live union records in bytewise id order (upper
// case before lower case, whatever the database's locale).
on_both_backends!(
    live_unions_stream_in_bytewise_id_order,
    live_unions_stream_in_bytewise_id_order_sqlite,
    live_unions_stream_in_bytewise_id_order_postgres
);
fn live_unions_stream_in_bytewise_id_order(at: &StoreLocation) {
    let mut s = open(at);
    assert!(live_unions(&s).is_empty());
    let tx = s.transaction().unwrap();
    for id in ["u1", "b", "B", "a10", "a9", "gone", "\u{e9}", "z"] {
        assert!(tx.put_union(id, &format!("<{id}/>"), id, 1).unwrap());
    }
    assert!(tx.delete_union("gone").unwrap());
    tx.commit().unwrap();
    assert_eq!(
        live_unions(&s),
        vec![
            ("B".into(), 3, "<B/>".into()),
            ("a10".into(), 4, "<a10/>".into()),
            ("a9".into(), 5, "<a9/>".into()),
            ("b".into(), 2, "<b/>".into()),
            ("u1".into(), 1, "<u1/>".into()),
            // UTF-8 bytes: "é" (C3 A9) sorts after "z" (7A).
            ("z".into(), 8, "<z/>".into()),
            ("\u{e9}".into(), 7, "<\u{e9}/>".into()),
        ]
    );
}

// A delta holds what changed after a sink's sequence number (exclusive):
// live records in id order, and the ids deleted since.
on_both_backends!(
    delta_since_a_sequence_number_holds_only_later_changes,
    delta_since_a_sequence_number_holds_only_later_changes_sqlite,
    delta_since_a_sequence_number_holds_only_later_changes_postgres
);
fn delta_since_a_sequence_number_holds_only_later_changes(at: &StoreLocation) {
    let mut s = open(at);
    let tx = s.transaction().unwrap();
    tx.put_union("u3", "<r3/>", "h3", 1).unwrap(); // 1
    tx.put_union("u1", "<r1/>", "h1", 1).unwrap(); // 2
    tx.put_union("u2", "<r2/>", "h2", 1).unwrap(); // 3
    tx.put_union("x", "<x/>", "hx", 1).unwrap(); // 4
    tx.commit().unwrap();
    let tx = s.transaction().unwrap();
    tx.put_union("u3", "<r3b/>", "h3b", 1).unwrap(); // 5
    tx.delete_union("u2").unwrap(); // 6
    tx.put_union("u0", "<r0/>", "h0", 1).unwrap(); // 7
    tx.delete_union("x").unwrap(); // 8
    tx.commit().unwrap();
    assert_eq!(
        live_unions_since(&s, 0),
        vec![("u0".into(), 7), ("u1".into(), 2), ("u3".into(), 5)]
    );
    assert_eq!(
        live_unions_since(&s, 4),
        vec![("u0".into(), 7), ("u3".into(), 5)]
    );
    assert_eq!(live_unions_since(&s, 5), vec![("u0".into(), 7)]);
    assert!(live_unions_since(&s, 8).is_empty());
    assert_eq!(s.deleted_unions_since(0).unwrap(), strings(&["u2", "x"]));
    assert_eq!(s.deleted_unions_since(5).unwrap(), strings(&["u2", "x"]));
    assert_eq!(s.deleted_unions_since(6).unwrap(), strings(&["x"]));
    assert!(s.deleted_unions_since(8).unwrap().is_empty());
}

// An error from the callback stops the stream and comes back to the
// caller; the handle is usable afterwards.
on_both_backends!(
    streaming_callback_error_stops_the_stream_and_is_returned,
    streaming_callback_error_stops_the_stream_and_is_returned_sqlite,
    streaming_callback_error_stops_the_stream_and_is_returned_postgres
);
fn streaming_callback_error_stops_the_stream_and_is_returned(at: &StoreLocation) {
    let mut s = open(at);
    let tx = s.transaction().unwrap();
    for id in ["a", "b", "c"] {
        tx.put_union(id, "<r/>", id, 1).unwrap();
    }
    tx.commit().unwrap();
    let mut calls = 0;
    let err = s
        .for_each_live_union(|r| {
            calls += 1;
            anyhow::ensure!(r.cluster_id != "b", "sink full at {}", r.cluster_id);
            Ok(())
        })
        .unwrap_err();
    assert_eq!((calls, err.to_string()), (2, "sink full at b".to_string()));
    let mut calls = 0;
    let err = s
        .for_each_live_union_since(0, |_| {
            calls += 1;
            anyhow::bail!("stop")
        })
        .unwrap_err();
    assert_eq!((calls, err.to_string()), (1, "stop".to_string()));
    assert_eq!(live_unions(&s).len(), 3);
    s.set_publish_seq("files", 3).unwrap();
    assert_eq!(s.publish_seq("files").unwrap(), 3);
}

// Each sink remembers what it published; a sink never published starts at
// zero, and the last value set wins (also going back, for a rebuild).
on_both_backends!(
    publish_seq_is_remembered_per_sink,
    publish_seq_is_remembered_per_sink_sqlite,
    publish_seq_is_remembered_per_sink_postgres
);
fn publish_seq_is_remembered_per_sink(at: &StoreLocation) {
    let mut s = open(at);
    assert_eq!(s.publish_seq("files").unwrap(), 0);
    s.set_publish_seq("files", 7).unwrap();
    s.set_publish_seq("push", 3).unwrap();
    assert_eq!(s.publish_seq("files").unwrap(), 7);
    s.set_publish_seq("files", 2).unwrap();
    assert_eq!(
        (
            s.publish_seq("files").unwrap(),
            s.publish_seq("push").unwrap(),
            s.publish_seq("other").unwrap()
        ),
        (2, 3, 0)
    );
    // Another handle reads what was committed.
    assert_eq!(open(at).publish_seq("push").unwrap(), 3);
}

// Publishing and status read one snapshot: a page and a pass that another
// handle commits meanwhile are not half-seen, and are seen afterwards.
on_both_backends!(
    read_snapshot_sees_one_snapshot_while_another_handle_writes,
    read_snapshot_sees_one_snapshot_while_another_handle_writes_sqlite,
    read_snapshot_sees_one_snapshot_while_another_handle_writes_postgres
);
fn read_snapshot_sees_one_snapshot_while_another_handle_writes(at: &StoreLocation) {
    let mut s = open(at);
    page(&mut s, "p", &[up("a", "h", &[])]);
    let tx = s.transaction().unwrap();
    tx.put_union("u1", "<a/>", "h", 1).unwrap();
    tx.commit().unwrap();
    let mut writer = open(at);
    let seen = s
        .read_snapshot(|s| {
            let before = (s.count_live_records("p")?, s.current_seq()?);
            let run = writer.begin_run("p")?;
            let c = writer.commit_page(run, "p", &[up("b", "h", &[]), del("a")], None, 0)?;
            assert_eq!((c.new, c.deleted), (1, 1));
            let tx = writer.transaction()?;
            tx.put_union("u2", "<b/>", "h", 1)?;
            tx.put_union("u1", "<a2/>", "h2", 1)?;
            tx.commit()?;
            let mut unions = Vec::new();
            s.for_each_live_union(|r| {
                unions.push(r.record);
                Ok(())
            })?;
            let after = (s.count_live_records("p")?, s.current_seq()?);
            assert_eq!(after, before, "the snapshot moved");
            Ok((
                before,
                unions,
                s.find_source("p", "a")?.is_some(),
                s.find_source("p", "b")?.is_some(),
            ))
        })
        .unwrap();
    assert_eq!(seen, ((1, 1), vec!["<a/>".to_string()], true, false));
    assert_eq!(s.count_live_records("p").unwrap(), 1);
    assert_eq!(s.current_seq().unwrap(), 3);
    assert!(s.find_source("p", "b").unwrap().is_some());
}

// An error inside a snapshot comes back as it was, and the handle can
// write afterwards (the snapshot was ended).
on_both_backends!(
    read_snapshot_returns_the_closures_error_and_ends_the_snapshot,
    read_snapshot_returns_the_closures_error_and_ends_the_snapshot_sqlite,
    read_snapshot_returns_the_closures_error_and_ends_the_snapshot_postgres
);
fn read_snapshot_returns_the_closures_error_and_ends_the_snapshot(at: &StoreLocation) {
    let mut s = open(at);
    let err = s
        .read_snapshot(|s| -> anyhow::Result<()> {
            s.current_seq()?;
            anyhow::bail!("publishing failed")
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "publishing failed");
    s.set_publish_seq("files", 1).unwrap();
    assert_eq!(page(&mut s, "p", &[up("a", "h", &[])]).new, 1);
    assert_eq!(open(at).publish_seq("files").unwrap(), 1);
    assert_eq!(open(at).count_live_records("p").unwrap(), 1);
}

// ---------------------------------------------------------------------------
// Lookups and counts for status, explain and metrics.

// `explain` finds a record by its 001 first, then by its OAI identifier;
// deleted records and other partners' are not found.
on_both_backends!(
    find_source_prefers_the_001_over_the_oai_identifier,
    find_source_prefers_the_001_over_the_oai_identifier_sqlite,
    find_source_prefers_the_001_over_the_oai_identifier_postgres
);
fn find_source_prefers_the_001_over_the_oai_identifier(at: &StoreLocation) {
    let mut s = open(at);
    let no_001 = PageItem::Upsert {
        oai_id: "x".into(),
        datestamp: "2024-01-01".into(),
        local_id: None,
        raw: "<raw/>".into(),
        record: "<no-001/>".into(),
        content_hash: "h".into(),
        keys: vec![],
        repairs: 0,
    };
    let named_x = PageItem::Upsert {
        oai_id: "y".into(),
        datestamp: "2024-01-01".into(),
        local_id: Some("x".into()),
        raw: "<raw/>".into(),
        record: "<001-x/>".into(),
        content_hash: "h".into(),
        keys: vec![],
        repairs: 0,
    };
    page(&mut s, "p", &[no_001, named_x, up("z", "h", &[])]);
    let found = s.find_source("p", "x").unwrap().unwrap();
    assert_eq!(
        (
            found.oai_id.as_str(),
            found.local_id.as_deref(),
            found.record.as_str()
        ),
        ("y", Some("x"), "<001-x/>")
    );
    let by_oai = s.find_source("p", "z").unwrap().unwrap();
    assert_eq!(s.find_source("p", "Lz").unwrap().unwrap().id, by_oai.id);
    assert!(s.find_source("q", "z").unwrap().is_none());
    assert!(s.find_source("p", "nothing").unwrap().is_none());
    page(&mut s, "p", &[del("y")]);
    let found = s.find_source("p", "x").unwrap().unwrap();
    assert_eq!(
        (found.oai_id.as_str(), found.local_id, found.record.as_str()),
        ("x", None, "<no-001/>")
    );
}

// Quality figures: records clustered with another partner's, and clusters
// holding two live records of one partner; deleted records do not count.
on_both_backends!(
    merge_counts_see_only_live_records,
    merge_counts_see_only_live_records_sqlite,
    merge_counts_see_only_live_records_postgres
);
fn merge_counts_see_only_live_records(at: &StoreLocation) {
    let mut s = open(at);
    page(
        &mut s,
        "p",
        &[
            up("a", "h", &[]),
            up("b", "h", &[]),
            up("c", "h", &[]),
            up("e", "h", &[]),
        ],
    );
    page(&mut s, "q", &[up("d", "h", &[]), up("f", "h", &[])]);
    let ids: Vec<i64> = [
        ("p", "a"),
        ("p", "b"),
        ("q", "d"),
        ("p", "c"),
        ("p", "e"),
        ("q", "f"),
    ]
    .iter()
    .map(|(p, o)| id_of(&s, p, o))
    .collect();
    let tx = s.transaction().unwrap();
    // u1: p/a, p/b, q/d; u2: p/c alone; u3: p/e with q/f.
    for (id, cluster) in ids.iter().zip(["u1", "u1", "u1", "u2", "u3", "u3"]) {
        tx.set_cluster(*id, Some(cluster)).unwrap();
    }
    tx.commit().unwrap();
    assert_eq!(s.count_merged_with_others("p").unwrap(), 3);
    assert_eq!(s.count_merged_with_others("q").unwrap(), 2);
    assert_eq!(s.count_intra_partner_duplicates("p").unwrap(), 1);
    assert_eq!(s.count_intra_partner_duplicates("q").unwrap(), 0);
    assert_eq!(s.count_merged_with_others("nobody").unwrap(), 0);
    // Once q/f and p/b are deleted (their membership left as it is), e is
    // alone and u1 holds one record of p.
    page(&mut s, "q", &[del("f")]);
    page(&mut s, "p", &[del("b")]);
    assert_eq!(s.count_merged_with_others("p").unwrap(), 1);
    assert_eq!(s.count_merged_with_others("q").unwrap(), 1);
    assert_eq!(s.count_intra_partner_duplicates("p").unwrap(), 0);
}

// Status counts live union records, and those merging two records or more.
on_both_backends!(
    union_counts_count_live_records_and_merged_ones,
    union_counts_count_live_records_and_merged_ones_sqlite,
    union_counts_count_live_records_and_merged_ones_postgres
);
fn union_counts_count_live_records_and_merged_ones(at: &StoreLocation) {
    let mut s = open(at);
    assert_eq!(s.union_counts().unwrap(), (0, 0));
    let tx = s.transaction().unwrap();
    tx.put_union("one", "<r/>", "h1", 1).unwrap();
    tx.put_union("two", "<r/>", "h2", 2).unwrap();
    tx.put_union("five", "<r/>", "h5", 5).unwrap();
    tx.put_union("gone", "<r/>", "hg", 4).unwrap();
    tx.delete_union("gone").unwrap();
    tx.commit().unwrap();
    assert_eq!(s.union_counts().unwrap(), (3, 2));
    let tx = s.transaction().unwrap();
    tx.put_union("two", "<r2/>", "h2b", 1).unwrap();
    tx.commit().unwrap();
    assert_eq!(s.union_counts().unwrap(), (3, 1));
}

// A store that went through every kind of write passes its own
// consistency check.
on_both_backends!(
    integrity_check_is_ok_on_a_healthy_store,
    integrity_check_is_ok_on_a_healthy_store_sqlite,
    integrity_check_is_ok_on_a_healthy_store_postgres
);
fn integrity_check_is_ok_on_a_healthy_store(at: &StoreLocation) {
    let mut s = open(at);
    assert_eq!(s.integrity_check().unwrap(), "ok");
    page(
        &mut s,
        "p",
        &[up("a", "h", &["k"]), up("b", "h", &["k"]), quar("q", "<q")],
    );
    page(&mut s, "p", &[del("b"), up("a", "h2", &["k2"])]);
    let a = id_of(&s, "p", "a");
    let tx = s.transaction().unwrap();
    tx.set_cluster(a, Some("u1")).unwrap();
    tx.put_union("u1", "<u/>", "hu", 1).unwrap();
    tx.put_union("u2", "<u/>", "hu2", 1).unwrap();
    tx.delete_union("u2").unwrap();
    tx.clear_all_dirty().unwrap();
    tx.commit().unwrap();
    s.reconcile_begin("p").unwrap();
    s.reconcile_seen("p", &strings(&["a"])).unwrap();
    s.reconcile_apply("p", 0.5).unwrap();
    assert_eq!(s.integrity_check().unwrap(), "ok");
}

// A union record's work keys replaced again and again: only its current
// keys are found, both ways, whether they changed, stayed the same or
// came in another order with repeats (SQLite writes only the keys that
// changed; the answer must not show it).
on_both_backends!(
    work_keys_are_replaced_by_the_current_set,
    work_keys_are_replaced_by_the_current_set_sqlite,
    work_keys_are_replaced_by_the_current_set_postgres
);
fn work_keys_are_replaced_by_the_current_set(at: &StoreLocation) {
    let mut s = open(at);
    let set = |s: &mut Store, rows: &[(&str, &[&str])]| {
        let rows: Vec<(String, Vec<String>)> = rows
            .iter()
            .map(|(id, keys)| (id.to_string(), strings(keys)))
            .collect();
        let tx = s.transaction().unwrap();
        tx.set_work_keys_many(&rows).unwrap();
        tx.commit().unwrap();
    };
    let look = |s: &mut Store| {
        let tx = s.transaction().unwrap();
        let keys = tx.work_keys_of_many(&strings(&["u1", "u2"])).unwrap();
        let holders = tx
            .unions_with_work_keys(&strings(&["wk:a", "wk:b", "wk:c"]), 10)
            .unwrap();
        (keys, holders)
    };
    set(&mut s, &[("u1", &["wk:a", "wk:b"]), ("u2", &["wk:b"])]);
    set(&mut s, &[("u1", &["wk:c", "wk:b", "wk:c"])]);
    let (keys, holders) = look(&mut s);
    assert_eq!(keys, [strings(&["wk:b", "wk:c"]), strings(&["wk:b"])]);
    assert_eq!(
        holders,
        [strings(&[]), strings(&["u1", "u2"]), strings(&["u1"])]
    );
    // The same keys again, then none for u2.
    set(&mut s, &[("u1", &["wk:b", "wk:c"]), ("u2", &[])]);
    let (keys, holders) = look(&mut s);
    assert_eq!(keys, [strings(&["wk:b", "wk:c"]), strings(&[])]);
    assert_eq!(holders, [strings(&[]), strings(&["u1"]), strings(&["u1"])]);
}
