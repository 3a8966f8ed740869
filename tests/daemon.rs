//! The daemon as systemd runs it: it harvests on the partners' cron
//! schedules, publishes after a harvest that changed something, logs one
//! summary line per run, and exits 0 on SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use unicat::demo;

// The scheduled path end to end, and a clean stop on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_harvests_on_schedule_publishes_and_stops_on_sigterm() {
    let servers = demo::start_servers(6).await.unwrap();
    let urls: Vec<String> = servers.iter().map(|s| s.base_url.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    // Every 2 seconds (six-field cron, seconds first), so the test is short.
    let text = demo::config_text(
        &dir.path().join("state"),
        &dir.path().join("publish"),
        &urls,
        "",
    )
    .replace("schedule = \"0 2 * * *\"", "schedule = \"*/2 * * * * *\"");
    let cfg = dir.path().join("unicat.toml");
    std::fs::write(&cfg, text).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_unicat"))
        .args(["--config", cfg.to_str().unwrap(), "run"])
        .env("UNICAT_LOG", "info")
        // Not under journald (tests/journald.rs runs it there): text lines.
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let union = dir.path().join("publish/union.xml");
    let deadline = Instant::now() + Duration::from_secs(60);
    // Wait until every partner has been harvested and the result published.
    loop {
        let done = servers
            .iter()
            .all(|s| s.requests().iter().any(|q| q.contains("ListRecords")));
        if done && union.exists() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "daemon did not harvest and publish within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let a possible in-flight publish finish its rename, then stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "daemon did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(exit.code(), Some(0), "{stderr}");
    assert!(
        stdout.is_empty(),
        "the daemon must not write to stdout: {stdout}"
    );
    for p in ["anl", "natlib-uz", "tsu"] {
        let line = stderr
            .lines()
            .find(|l| l.contains("harvest complete") && l.contains(&format!("partner={p} ")))
            .unwrap_or_else(|| panic!("no summary line for {p}: {stderr}"));
        for field in [
            "pages=",
            "new=",
            "updated=",
            "deleted=",
            "quarantined=",
            "duration_ms=",
            "next_from=",
        ] {
            assert!(line.contains(field), "summary line lacks {field}: {line}");
        }
        assert!(
            line.contains("INFO") && line.contains("event=harvest_complete"),
            "{line}"
        );
    }
    assert!(stderr.contains("daemon stopped"), "{stderr}");
}
