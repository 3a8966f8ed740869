//! `unicat migrate-store`: an installation on the embedded SQLite store
//! moves to PostgreSQL without re-harvesting, and the daemon's commands
//! then work on the copy. Needs the PostgreSQL server that
//! `UNICAT_TEST_PG_URL` names (`scripts/test.sh` starts one).

use std::path::Path;
use std::process::{Command, Output};

use unicat::config::StoreLocation;
use unicat::store::Store;

fn unicat() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_unicat"));
    c.env_remove("UNICAT_CONFIG").env("UNICAT_LOG", "warn");
    c
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A fresh database on the test server, or None (skipped) without one.
fn test_database() -> Option<String> {
    unicat::store::pg::test_database_from_env().expect("a PostgreSQL test database")
}

/// Every live union record (id, sequence number, MARCXML) in id order.
fn unions(store: &Store) -> Vec<(String, i64, String)> {
    let mut all = Vec::new();
    store
        .for_each_live_union(|u| {
            all.push((u.cluster_id, u.seq, u.record));
            Ok(())
        })
        .unwrap();
    all
}

// The demo's SQLite store, copied: the same union records with the same
// sequence numbers, the same clusters and runs; status and publish then
// run on the PostgreSQL copy; a second copy into the now full database is
// refused and changes nothing.
#[test]
fn sqlite_installation_moves_to_postgres_without_reharvesting() {
    let Some(url) = test_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    ok(&unicat()
        .args(["demo", "--dir", demo.to_str().unwrap()])
        .output()
        .unwrap());
    let state = demo.join("state");

    let out = ok(&unicat()
        .args([
            "migrate-store",
            "--from",
            &format!("sqlite:{}", state.display()),
            "--to",
            &url,
        ])
        .output()
        .unwrap());
    assert!(out.contains("source_records"), "{out}");
    assert!(out.contains("union_records"), "{out}");

    let sqlite = Store::open(&state).unwrap();
    let pg = Store::connect(&StoreLocation::Postgres {
        url: url.clone(),
        password: None,
        pool_size: 2,
    })
    .unwrap();
    let copied = unions(&pg);
    assert!(copied.len() > 10, "the demo made {} unions", copied.len());
    assert_eq!(copied, unions(&sqlite));
    assert_eq!(pg.current_seq().unwrap(), sqlite.current_seq().unwrap());
    assert_eq!(pg.union_counts().unwrap(), sqlite.union_counts().unwrap());
    for partner in ["anl", "natlib-uz", "tsu"] {
        assert_eq!(
            pg.partner_totals(partner).unwrap(),
            sqlite.partner_totals(partner).unwrap(),
            "{partner}"
        );
        assert_eq!(
            pg.count_live_records(partner).unwrap(),
            sqlite.count_live_records(partner).unwrap()
        );
    }
    let (id, ..) = &copied[0];
    let members = |s: &Store| -> Vec<(String, String)> {
        s.cluster_members(id)
            .unwrap()
            .into_iter()
            .map(|m| (m.partner, m.oai_id))
            .collect()
    };
    assert_eq!(members(&pg), members(&sqlite));
    assert_eq!(pg.integrity_check().unwrap(), "ok");

    // The demo's configuration pointed at the copy: status reads it and a
    // publish writes the same catalogue the SQLite store published.
    let cfg = std::fs::read_to_string(demo.join("unicat.toml")).unwrap();
    let out_dir = dir.path().join("published-from-pg");
    let cfg = cfg.replace(
        &format!(
            "output-dir = {:?}",
            demo.join("publish").display().to_string()
        ),
        &format!("output-dir = {:?}", out_dir.display().to_string()),
    );
    let cfg = cfg.replacen(
        "\n[publish]",
        &format!("\n[store]\nbackend = \"postgres\"\nurl = {url:?}\n\n[publish]"),
        1,
    );
    let cfg_path = dir.path().join("pg.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let status = ok(&unicat()
        .args(["--config", cfg_path.to_str().unwrap(), "status"])
        .output()
        .unwrap());
    assert!(status.contains("natlib-uz"), "{status}");
    ok(&unicat()
        .args(["--config", cfg_path.to_str().unwrap(), "publish"])
        .output()
        .unwrap());
    let read = |p: &Path| std::fs::read(p).unwrap();
    assert_eq!(
        read(&out_dir.join("union.mrc")),
        read(&demo.join("publish/union.mrc")),
        "ISO 2709 dump differs between the SQLite store and its copy"
    );

    let again = unicat()
        .args([
            "migrate-store",
            "--from",
            &format!("sqlite:{}", state.display()),
            "--to",
            &url,
        ])
        .output()
        .unwrap();
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(unions(&pg), copied);
}

// Addresses that are not a SQLite source and a PostgreSQL target are
// refused as usage errors (exit 64) before anything is touched.
#[test]
fn migrate_store_refuses_wrong_addresses() {
    for (from, to) in [
        ("postgres://u@h/db", "postgres://u@h/db"),
        ("sqlite:/tmp/x", "sqlite:/tmp/y"),
        ("sqlite:/tmp/x", "postgres://u:pw@h/db"),
        ("mysql://h/db", "postgres://u@h/db"),
    ] {
        let out = unicat()
            .args(["migrate-store", "--from", from, "--to", to])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{from} -> {to}");
        assert_eq!(out.status.code(), Some(64), "{from} -> {to}");
    }
    // TLS settings in --to are checked before anything is opened: a
    // remote server's default (verify-full) needs a CA, a mode must exist.
    for (to, says) in [
        ("postgres://u@db.example.org/db", "needs sslrootcert"),
        (
            "postgres://u@localhost/db?sslmode=verify-fulll",
            "verify-fulll",
        ),
        (
            "postgres://u@localhost/db?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem",
            "cannot read /nonexistent/ca.pem",
        ),
    ] {
        let out = unicat()
            .args(["migrate-store", "--from", "sqlite:/tmp/x", "--to", to])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{to}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{to}: {err}");
    }
}
