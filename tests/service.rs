//! unicat as a service: systemd notifications, reload, graceful stop,
//! locking beside the command line, JSON logs and metrics — each against a
//! real `unicat` process and real OAI-PMH servers on 127.0.0.1.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use unicat::demo;
use unicat::oai_server::OaiServer;
use unicat::store::Store;

/// A daemon process with its stderr collected as it runs.
struct Daemon {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Daemon {
    fn start(config: &Path, envs: &[(&str, &str)]) -> Daemon {
        Daemon::start_with(config, &[], envs)
    }

    /// `unicat run` with `args` after it.
    fn start_with(config: &Path, args: &[&str], envs: &[(&str, &str)]) -> Daemon {
        // Through a shell that execs unicat, so that WATCHDOG_PID can name
        // the daemon's own pid as systemd does ($$ survives the exec).
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "WATCHDOG_PID=$$ exec \"$0\" --config \"$@\""])
            .arg(env!("CARGO_BIN_EXE_unicat"))
            .arg(config)
            .arg("run")
            .args(args)
            .env("UNICAT_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = common::collect_stderr(&mut child);
        Daemon { child, stderr }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("sh")
            .args(["-c", &format!("kill -{sig} {}", self.child.id())])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGTERM, then the exit code (within 40 s).
    fn stop(mut self) -> (Option<i32>, String) {
        self.signal("TERM");
        let started = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                return (s.code(), self.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(40),
                "daemon did not stop: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_until(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn list_requests(s: &OaiServer) -> usize {
    s.requests()
        .iter()
        .filter(|q| q.contains("verb=ListRecords"))
        .count()
}

/// Write a config for the demo partners at `urls` (only the first
/// `partners` of them), with every partner on `schedule`.
fn write_config(
    dir: &Path,
    urls: &[String],
    partners: usize,
    schedule: &str,
    tables: &str,
) -> PathBuf {
    let text = demo::config_text(
        &dir.join("state"),
        &dir.join("publish"),
        &urls[..partners],
        tables,
    )
    .replace(
        "schedule = \"0 2 * * *\"",
        &format!("schedule = \"{schedule}\""),
    );
    let path = dir.join("unicat.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const RARELY: &str = "0 0 1 1 *";
const NO_CATCH_UP: &str = "[daemon]\ncatch-up = false\n";

// systemd learns READY only once the database exists, then STATUS lines,
// watchdog pings and STOPPING on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_socket_gets_ready_status_watchdog_and_stopping() {
    let servers = demo::start_servers(10).await.unwrap();
    let urls: Vec<String> = servers.iter().map(|s| s.base_url.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &urls, 3, RARELY, NO_CATCH_UP);
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let daemon = Daemon::start(
        &cfg,
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "200000"),
        ],
    );
    let mut messages = Vec::new();
    let mut db_at_ready = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).to_string();
            if m.contains("READY=1") && db_at_ready.is_none() {
                db_at_ready = Some(dir.path().join("state/unicat.db").exists());
            }
            messages.push(m);
        }
        let has = |s: &str| messages.iter().any(|m| m.contains(s));
        if has("READY=1") && has("WATCHDOG=1") && has("STATUS=idle, next run") {
            break;
        }
    }
    let has = |msgs: &[String], s: &str| msgs.iter().any(|m| m.contains(s));
    assert!(has(&messages, "READY=1"), "{messages:?}\n{}", daemon.log());
    assert_eq!(
        db_at_ready,
        Some(true),
        "READY came before the database was opened"
    );
    assert!(has(&messages, "WATCHDOG=1"), "{messages:?}");
    assert!(has(&messages, "STATUS=idle, next run"), "{messages:?}");
    let (code, log) = daemon.stop();
    while let Ok(n) = sock.recv(&mut buf) {
        messages.push(String::from_utf8_lossy(&buf[..n]).to_string());
    }
    assert_eq!(code, Some(0), "{log}");
    assert!(has(&messages, "STOPPING=1"), "{messages:?}");
}

/// The daemon's exit code and log if it exits within `secs`.
fn exit_within(daemon: &mut Daemon, secs: u64) -> Option<(Option<i32>, String)> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Some(s) = daemon.child.try_wait().unwrap() {
            std::thread::sleep(Duration::from_millis(100));
            return Some((s.code(), daemon.log()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Whether READY=1 arrives on `sock` within `secs`.
fn ready_within(sock: &UnixDatagram, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            if String::from_utf8_lossy(&buf[..n]).contains("READY=1") {
                return true;
            }
        }
    }
    false
}

/// A notify socket in `dir`, read with a short timeout.
fn notify_socket(dir: &Path) -> (UnixDatagram, PathBuf) {
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    (sock, path)
}

/// Run a `unicat` command on `cfg` to its end: exit code and stderr.
fn unicat(cfg: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_unicat"))
        .arg("--config")
        .arg(cfg)
        .args(args)
        .env("UNICAT_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// The daemon started on a database with garbage over pages 2-5 and
// reported READY; only `status` noticed. It now checks the store before
// READY and refuses to start, saying how to recover; --reinitialise sets
// the damaged file aside and starts a new store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_refuses_a_damaged_store() {
    let servers = demo::start_servers(10).await.unwrap();
    let urls: Vec<String> = servers.iter().map(|s| s.base_url.clone()).collect();
    // Four pages of garbage from page 2 on (in this store those hold tables
    // that opening reads, so opening fails), and from the middle of the
    // file (record pages that nothing reads at start: the case that
    // started and reported READY).
    for middle in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write_config(dir.path(), &urls, 3, RARELY, NO_CATCH_UP);
        let (code, err) = unicat(&cfg, &["harvest", "--all"]);
        assert_eq!(code, Some(0), "{err}");
        let db = dir.path().join("state/unicat.db");
        let page = rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("PRAGMA page_size", [], |r| r.get::<_, u64>(0))
            .unwrap();
        {
            use std::io::{Seek, SeekFrom, Write};
            let mut f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
            let pages = f.metadata().unwrap().len() / page;
            assert!(pages > 12, "{pages} pages");
            let first = if middle { pages / 2 } else { 1 };
            f.seek(SeekFrom::Start(first * page)).unwrap();
            let garbage: Vec<u8> = (0..4 * page).map(|i| (i * 7 + 13) as u8).collect();
            f.write_all(&garbage).unwrap();
        }
        let (sock, sock_path) = notify_socket(dir.path());
        let notify = [("NOTIFY_SOCKET", sock_path.to_str().unwrap())];
        let mut daemon = Daemon::start(&cfg, &notify);
        let (code, log) = exit_within(&mut daemon, 30)
            .unwrap_or_else(|| panic!("the daemon started on a damaged store (middle {middle})"));
        assert_eq!(code, Some(65), "middle {middle}: {log}");
        assert!(
            log.contains("is damaged") && log.contains("--reinitialise"),
            "{log}"
        );
        assert!(!ready_within(&sock, 1), "READY sent for a damaged store");
        if !middle {
            continue;
        }
        let daemon = Daemon::start_with(&cfg, &["--reinitialise"], &notify);
        assert!(ready_within(&sock, 30), "{}", daemon.log());
        let (code, log) = daemon.stop();
        assert_eq!(code, Some(0), "{log}");
        let kept: Vec<String> = std::fs::read_dir(dir.path().join("state"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| {
                n.starts_with("unicat.db.set-aside-")
                    && !n.ends_with("-wal")
                    && !n.ends_with("-shm")
            })
            .collect();
        assert_eq!(kept.len(), 1, "the damaged file was not kept: {kept:?}");
        let (code, err) = unicat(&cfg, &["status"]);
        assert_eq!(code, Some(0), "{err}");
    }
}

// A 0-byte unicat.db in a state-dir with history was silently
// re-initialised, and the next publish replaced 309 union records with
// 132. A store that vanished or was truncated is refused while the
// history file or the published output says it existed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_refuses_a_vanished_store() {
    let servers = demo::start_servers(10).await.unwrap();
    let urls: Vec<String> = servers.iter().map(|s| s.base_url.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &urls, 3, RARELY, "");
    let (code, err) = unicat(&cfg, &["harvest", "--all"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = unicat(&cfg, &["publish"]);
    assert_eq!(code, Some(0), "{err}");
    let state = dir.path().join("state");
    let db = state.join("unicat.db");
    let union = dir.path().join("publish/union.xml");
    let published = std::fs::read(&union).unwrap();
    std::fs::File::create(&db).unwrap();

    let (sock, sock_path) = notify_socket(dir.path());
    let notify = [("NOTIFY_SOCKET", sock_path.to_str().unwrap())];
    let mut daemon = Daemon::start(&cfg, &notify);
    let (code, log) = exit_within(&mut daemon, 30).expect("the daemon started on an empty store");
    assert_eq!(code, Some(65), "{log}");
    assert!(
        log.contains("is empty (0 bytes)") && log.contains("store.history"),
        "{log}"
    );
    assert!(
        log.contains("Restore") && log.contains("--reinitialise"),
        "{log}"
    );
    assert!(!ready_within(&sock, 1), "READY sent for a vanished store");
    assert_eq!(
        std::fs::metadata(&db).unwrap().len(),
        0,
        "the store was re-created"
    );
    // Nor does any other command re-create it, and each says so with 65
    // (not 75, which would invite a retry): the review of #19 found
    // harvest exiting 75, import and reprocess 70.
    let marc = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/anl.xml");
    for args in [
        &["status"][..],
        &["harvest", "--all"],
        &["harvest", "--partner", "anl"],
        &["import", "--partner", "anl", marc.to_str().unwrap()],
        &["reprocess", "--partner", "anl"],
        &["reconcile", "--partner", "anl"],
        &["publish"],
    ] {
        let (code, err) = unicat(&cfg, args);
        assert_eq!(code, Some(65), "{args:?}: {err}");
        assert_eq!(
            std::fs::metadata(&db).unwrap().len(),
            0,
            "{args:?} re-created the store"
        );
    }
    // Without the history file, the published dump is the evidence.
    std::fs::remove_file(state.join("store.history")).unwrap();
    std::fs::remove_file(&db).unwrap();
    let mut daemon = Daemon::start(&cfg, &notify);
    let (code, log) = exit_within(&mut daemon, 30).expect("the daemon started on a missing store");
    assert_eq!(code, Some(65), "{log}");
    assert!(
        log.contains("is missing") && log.contains("union.xml"),
        "{log}"
    );
    assert_eq!(
        std::fs::read(&union).unwrap(),
        published,
        "the published dump changed"
    );

    let daemon = Daemon::start_with(&cfg, &["--reinitialise"], &notify);
    assert!(ready_within(&sock, 30), "{}", daemon.log());
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
}

// SIGHUP with a good config adds a partner without a restart; with a bad
// one the old config stays in force and the error names file, line, key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_a_good_config_and_refuses_a_bad_one() {
    let servers = demo::start_servers(10).await.unwrap();
    let urls: Vec<String> = servers.iter().map(|s| s.base_url.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &urls, 2, RARELY, NO_CATCH_UP);
    let daemon = Daemon::start(&cfg, &[]);
    wait_until("daemon start", 20, || {
        daemon.log().contains("daemon started")
    })
    .await;
    assert_eq!(list_requests(&servers[2]), 0);

    // Add the third partner, harvested every two seconds.
    let text = std::fs::read_to_string(&cfg).unwrap();
    let third = demo::config_text(Path::new("/x"), Path::new("/y"), &urls, "");
    let tsu_table = &third[third.rfind("[[partner]]").unwrap()..];
    let good = format!(
        "{text}\n{}",
        tsu_table.replace("0 2 * * *", "*/2 * * * * *")
    );
    std::fs::write(&cfg, &good).unwrap();
    daemon.signal("HUP");
    wait_until("the added partner's harvest", 20, || {
        list_requests(&servers[2]) > 0
    })
    .await;
    assert!(daemon.log().contains("partner added"), "{}", daemon.log());

    // A typo: refused, named, and the running config keeps working.
    let bad = good.replacen("catch-up = false", "catch-up = false\ncatchup = true", 1);
    std::fs::write(&cfg, &bad).unwrap();
    daemon.signal("HUP");
    wait_until("the refusal", 20, || {
        daemon.log().contains("configuration not reloaded")
    })
    .await;
    let log = daemon.log();
    let line = log
        .lines()
        .find(|l| l.contains("configuration not reloaded"))
        .unwrap();
    assert!(
        line.contains("unicat.toml:7: key `daemon.catchup`"),
        "{line}"
    );
    let before = list_requests(&servers[2]);
    wait_until("harvests under the old config", 20, || {
        list_requests(&servers[2]) > before
    })
    .await;

    // Another store: a valid file, but refused on reload (the jobs would
    // switch databases under their leases); the SQLite store stays.
    let moved = format!(
        "{good}\n[store]\nbackend = \"postgres\"\nurl = \"postgres://unicat@127.0.0.1:1/unicat\"\n"
    );
    std::fs::write(&cfg, &moved).unwrap();
    daemon.signal("HUP");
    wait_until("the store refusal", 20, || {
        daemon.log().contains("[store] cannot change on reload")
    })
    .await;
    let before = list_requests(&servers[2]);
    wait_until("harvests into the same store", 20, || {
        list_requests(&servers[2]) > before
    })
    .await;
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(!log.contains("PostgreSQL"), "{log}");
}

async fn slow_anl() -> (Vec<OaiServer>, Vec<String>) {
    let servers = demo::start_servers(3).await.unwrap();
    servers[0].repo.lock().unwrap().list_delay = Duration::from_millis(300);
    let urls = servers.iter().map(|s| s.base_url.clone()).collect();
    (servers, urls)
}

// SIGTERM during a harvest: the page in flight is committed, nothing is
// lost, `from` does not advance, and the next run completes the partner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_harvest_commits_the_page_in_flight() {
    let (servers, urls) = slow_anl().await;
    let dir = tempfile::tempdir().unwrap();
    // Catch-up is on by default: a never-harvested partner starts at once.
    let cfg = write_config(dir.path(), &urls, 1, RARELY, "");
    let daemon = Daemon::start(&cfg, &[]);
    wait_until("two pages", 20, || list_requests(&servers[0]) >= 2).await;
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
    let served = list_requests(&servers[0]);
    assert!(
        served < 8,
        "the harvest was not interrupted ({served} pages)"
    );
    let store = Store::open(&dir.path().join("state")).unwrap();
    let run = store.last_run("anl").unwrap().unwrap();
    // Stopping the daemon was recorded as a failed harvest, with a WARN
    // line and a rise of unicat_harvest_failures_total: an interrupted
    // run is its own outcome, told at info and not counted as a failure.
    assert_eq!(run.outcome, "interrupted", "{run:?}");
    assert!(
        run.error.as_deref().unwrap_or("").contains("interrupted"),
        "{run:?}"
    );
    assert_eq!(store.partner_totals("anl").unwrap().failed_runs, 0);
    let line = log
        .lines()
        .find(|l| l.contains("harvest interrupted"))
        .unwrap_or_else(|| panic!("no interrupted line: {log}"));
    assert!(line.contains("INFO"), "{line}");
    assert!(!log.contains("WARN"), "{log}");
    assert_eq!(
        run.pages as usize, served,
        "a page that was served was not committed"
    );
    assert_eq!(
        store.count_live_records("anl").unwrap() as usize,
        served * 3
    );
    assert_eq!(
        store.next_from("anl").unwrap(),
        None,
        "from advanced after an interrupted run"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_unicat"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "harvest",
            "--partner",
            "anl",
        ])
        .env("UNICAT_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(store.count_live_records("anl").unwrap(), 24);
}

// While the daemon harvests a partner, the command line is refused with a
// distinct exit code and says who holds the partner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_harvest_is_refused_while_the_daemon_holds_the_partner() {
    let (servers, urls) = slow_anl().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &urls, 1, RARELY, "");
    let daemon = Daemon::start(&cfg, &[]);
    wait_until("the daemon's harvest", 20, || {
        list_requests(&servers[0]) >= 1
    })
    .await;
    let out = Command::new(env!("CARGO_BIN_EXE_unicat"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "harvest",
            "--partner",
            "anl",
        ])
        .env("UNICAT_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{err}");
    assert!(
        err.contains("already being harvested") && err.contains("(daemon)"),
        "{err}"
    );
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
}

// A refused on-demand harvest still ran a dedup pass: `harvest --partner
// anl` while the daemon harvested anl exited 69 but first clustered the
// pages the daemon had committed, changing union records. A refused
// command changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_cli_harvest_changes_nothing() {
    let servers = demo::start_servers(3).await.unwrap();
    // Slow enough that the daemon's run (8 pages) is far from done, and
    // so from its own dedup pass, while the command line is refused.
    servers[0].repo.lock().unwrap().list_delay = Duration::from_millis(1500);
    let urls: Vec<String> = servers.iter().map(|s| s.base_url.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    // Two partners: the refusal must also leave the free one unharvested.
    let cfg = write_config(dir.path(), &urls, 2, RARELY, "");
    // natlib-uz harvested once, so that the daemon's catch-up runs anl only.
    let out = Command::new(env!("CARGO_BIN_EXE_unicat"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "harvest",
            "--partner",
            "natlib-uz",
        ])
        .env("UNICAT_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let daemon = Daemon::start(&cfg, &[]);
    let db = dir.path().join("state/unicat.db");
    let catalogue = || {
        let conn =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        let q = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        (
            q("SELECT count(*) FROM source_records WHERE partner = 'anl'"),
            q("SELECT count(*) FROM union_records"),
            q("SELECT coalesce(max(seq), 0) FROM union_records"),
            q("SELECT count(*) FROM harvest_runs WHERE partner = 'natlib-uz'"),
        )
    };
    // The daemon has committed anl pages that no dedup pass has seen yet.
    wait_until("a committed anl page", 20, || catalogue().0 > 0).await;
    let before = catalogue();
    let natlib_requests = list_requests(&servers[1]);
    let out = Command::new(env!("CARGO_BIN_EXE_unicat"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "harvest",
            "--partner",
            "natlib-uz",
            "--partner",
            "anl",
        ])
        .env("UNICAT_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{err}");
    let after = catalogue();
    assert_eq!(
        before.1, after.1,
        "union records changed: {before:?} {after:?}"
    );
    assert_eq!(
        before.2, after.2,
        "union records changed: {before:?} {after:?}"
    );
    assert_eq!(
        before.3, after.3,
        "natlib-uz was harvested: {before:?} {after:?}"
    );
    assert_eq!(
        list_requests(&servers[1]),
        natlib_requests,
        "natlib-uz was harvested by the refused command"
    );
    assert!(err.contains("nothing was harvested"), "{err}");
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
}

// A lock holder killed with SIGKILL leaves no stale lock behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_lock_holder_releases_the_lock() {
    let (servers, urls) = slow_anl().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &urls, 1, RARELY, "");
    let mut child = Command::new(env!("CARGO_BIN_EXE_unicat"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "harvest",
            "--partner",
            "anl",
        ])
        .env("UNICAT_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let state = dir.path().join("state");
    wait_until("the harvest to start", 20, || {
        list_requests(&servers[0]) >= 1
    })
    .await;
    assert!(
        unicat::jobs::lock_partner(&state, "anl").is_err(),
        "lock not held during the harvest"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    unicat::jobs::lock_partner(&state, "anl").expect("lock still held after its holder died");
}

// `--log-format json`: every stderr line is a JSON object, and the summary
// line carries its fields and the run's span (partner, run id).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_parse_with_their_fields() {
    let servers = demo::start_servers(10).await.unwrap();
    let urls: Vec<String> = servers.iter().map(|s| s.base_url.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &urls, 3, RARELY, "");
    let out = Command::new(env!("CARGO_BIN_EXE_unicat"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "--log-format",
            "json",
            "harvest",
            "--all",
        ])
        .env("UNICAT_LOG", "info")
        .env_remove("JOURNAL_STREAM")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let mut summaries = 0;
    for line in stderr.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v["fields"]["message"] == "harvest complete" {
            summaries += 1;
            assert!(v["fields"]["pages"].as_u64().unwrap() >= 1, "{v}");
            assert!(v["fields"]["new"].is_u64(), "{v}");
            assert!(
                v["span"]["run_id"].is_i64() || v["span"]["run_id"].is_u64(),
                "{v}"
            );
            assert!(v["span"]["partner"].is_string(), "{v}");
        }
    }
    assert_eq!(summaries, 3, "{stderr}");
}

// The metrics endpoint reports the harvest and the catalogue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_reports_harvest_and_catalogue() {
    let servers = demo::start_servers(10).await.unwrap();
    let urls: Vec<String> = servers.iter().map(|s| s.base_url.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tables = format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n");
    let cfg = write_config(dir.path(), &urls, 3, RARELY, &tables);
    let daemon = Daemon::start(&cfg, &[]);
    let expected_unions = common::expected_union_count() as f64;
    let url = format!("http://127.0.0.1:{port}/metrics");
    let value_in = |text: &str, series: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    // The catch-up harvests run at start; wait until the catalogue is whole.
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        if let Ok(resp) = reqwest::get(&url).await {
            let text = resp.text().await.unwrap_or_default();
            // Every partner's run finished too: its records can all be in
            // before its run (and its success time) is recorded.
            if value_in(&text, "unicat_union_records") == Some(expected_unions)
                && value_in(&text, "unicat_records_harvested_total{partner=\"tsu\"}") == Some(25.0)
                && ["anl", "natlib-uz", "tsu"].iter().all(|p| {
                    value_in(
                        &text,
                        &format!("unicat_last_success_timestamp_seconds{{partner=\"{p}\"}}"),
                    )
                    .is_some()
                })
            {
                break text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "metrics never showed the whole catalogue: {}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let value =
        |series: &str| value_in(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
    assert_eq!(
        value("unicat_records_harvested_total{partner=\"anl\"}"),
        24.0
    );
    assert!(value("unicat_requests_total{partner=\"anl\"}") >= 4.0);
    assert_eq!(value("unicat_harvest_failures_total{partner=\"anl\"}"), 0.0);
    assert!(value("unicat_last_success_timestamp_seconds{partner=\"natlib-uz\"}") > 1.7e9);
    assert!(value("unicat_last_run_duration_seconds{partner=\"anl\"}") >= 0.0);
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
}

// The daemon and the command line writing the same database at the same
// time (different partners): both succeed and the database stays sound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_and_cli_write_the_store_concurrently() {
    let (servers, urls) = slow_anl().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &urls, 3, RARELY, "");
    // The daemon catches up on all three; anl is slow, so it is still
    // running while the command line harvests the others again.
    let daemon = Daemon::start(&cfg, &[]);
    wait_until("the daemon's anl harvest", 20, || {
        list_requests(&servers[0]) >= 1
    })
    .await;
    let out = Command::new(env!("CARGO_BIN_EXE_unicat"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "harvest",
            "--partner",
            "tsu",
            "--partner",
            "natlib-uz",
        ])
        .env("UNICAT_LOG", "warn")
        .output()
        .unwrap();
    // 69 if the daemon's catch-up of that partner was still running; any
    // other failure is a store problem.
    assert!(
        matches!(out.status.code(), Some(0) | Some(69)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until("every partner harvested", 30, || {
        daemon.log().matches("harvest complete").count() >= 3
    })
    .await;
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
    let store = Store::open(&dir.path().join("state")).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let total: u64 = ["anl", "natlib-uz", "tsu"]
        .iter()
        .map(|p| store.count_live_records(p).unwrap())
        .sum();
    assert_eq!(total as usize, common::fixture_record_count());
}

// A reload that changes a partner's rules re-normalises its stored records
// from their raw text, without a harvest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_with_changed_rules_reprocesses_the_partner() {
    let servers = demo::start_servers(10).await.unwrap();
    let urls: Vec<String> = servers.iter().map(|s| s.base_url.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &urls, 1, RARELY, "");
    let daemon = Daemon::start(&cfg, &[]);
    wait_until("the catch-up harvest", 20, || {
        daemon.log().contains("harvest complete")
    })
    .await;
    let requests = list_requests(&servers[0]);
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text}[[partner.rule]]\ndrop = \"650\"\n")).unwrap();
    daemon.signal("HUP");
    wait_until("the reprocessing", 20, || {
        daemon.log().contains("reprocessed from raw records")
    })
    .await;
    assert_eq!(
        list_requests(&servers[0]),
        requests,
        "reprocessing must not re-harvest"
    );
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
    let conn = rusqlite::Connection::open(dir.path().join("state/unicat.db")).unwrap();
    unicat::store::packed::register(&conn).unwrap();
    // The records are packed (store::packed): read through the store's own
    // function, or the search would find nothing whatever they hold.
    let with_650: i64 = conn
        .query_row(
            "SELECT count(*) FROM source_records WHERE unicat_unpack(record) LIKE '%tag=\"650\"%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(with_650, 0);
}

// The daemon serves the union catalogue over OAI-PMH when [provider] is
// configured, and stops serving on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_serves_the_oai_pmh_provider() {
    let servers = demo::start_servers(10).await.unwrap();
    let urls: Vec<String> = servers.iter().map(|s| s.base_url.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tables = format!(
        "[provider]\nlisten = \"127.0.0.1:{port}\"\nadmin-email = \"catalogue@example.org\"\n"
    );
    let cfg = write_config(dir.path(), &urls, 3, RARELY, &tables);
    let daemon = Daemon::start(&cfg, &[]);
    let url = format!("http://127.0.0.1:{port}/oai?verb=ListIdentifiers&metadataPrefix=marc21");
    let deadline = Instant::now() + Duration::from_secs(30);
    let expected = common::expected_union_count();
    loop {
        // Page through the identifiers once the catch-up harvests are in.
        // Union records retired while partners' clusters merged are listed
        // as deleted; only live ones count.
        let mut seen = 0;
        let mut next = Some(url.clone());
        while let Some(u) = next.take() {
            let Ok(resp) = reqwest::get(&u).await else {
                break;
            };
            let body = resp.text().await.unwrap_or_default();
            let Ok(page) = unicat_oai::parse_list_identifiers(body.as_bytes()) else {
                break;
            };
            seen += page.records.iter().filter(|r| !r.header.deleted).count();
            if let Some(t) = page.next_token() {
                next = Some(format!(
                    "http://127.0.0.1:{port}/oai?verb=ListIdentifiers&resumptionToken={}",
                    unicat_oai::percent_encode(t)
                ));
            }
        }
        if seen == expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "provider never listed the whole catalogue ({seen}): {}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (code, log) = daemon.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        reqwest::get(&url).await.is_err(),
        "provider still answering after stop"
    );
}
