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
