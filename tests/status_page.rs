//! The status page (issue #21 item 5) in a real browser: Debian's
//! `chromium` in headless mode loads `GET /status` from a running daemon,
//! on the metrics listener and on the provider's, and its DOM must show
//! every partner with its last run; `GET /status.json` must be what
//! `unicat status --json` prints. Without chromium the browser test is
//! skipped with a loud message (.ci/run installs it, so CI runs it).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::watched::{Watched, OFFLINE};

/// The DOM chromium builds from `url`, or `None` if chromium is missing.
fn dump_dom(url: &str) -> Option<String> {
    let found = Command::new("sh")
        .args(["-c", "command -v chromium"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        return None;
    }
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

// A sysadmin opens /status in a browser: every partner is there with its
// last run's outcome (the failed one with its error), and the catalogue's
// size, on both listeners; the page needs no script.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_in_a_browser_shows_every_partner() {
    let daemon = Watched::start().await;
    let status = daemon.wait_for_runs().await;
    for base in [&daemon.metrics, &daemon.provider] {
        let url = format!("{base}/status");
        let Some(dom) = tokio::task::spawn_blocking(move || dump_dom(&url))
            .await
            .unwrap()
        else {
            eprintln!(
                "\n*** SKIPPED status_page_in_a_browser_shows_every_partner: `chromium` is not \
                 installed (apt-get install chromium; .ci/run does) ***\n"
            );
            return;
        };
        assert!(!dom.contains("<script"), "no script: {dom}");
        let rows: Vec<&str> = dom
            .split("<tr class=\"partner\">")
            .skip(1)
            .map(|r| r.split("</tr>").next().unwrap_or(""))
            .collect();
        assert_eq!(rows.len(), daemon.partners.len(), "{dom}");
        for p in &status["partners"].as_array().unwrap()[..] {
            let name = p["name"].as_str().unwrap();
            let row = rows
                .iter()
                .find(|r| r.starts_with(&format!("<td>{name}</td>")))
                .unwrap_or_else(|| panic!("no row for {name} in {dom}"));
            let outcome = if name == OFFLINE { "failed" } else { "ok" };
            assert!(
                row.contains(&format!("<span class=\"{outcome}\">{outcome}</span>")),
                "{name}: {row}"
            );
            let records = p["records"].as_u64().unwrap();
            assert!(
                row.contains(&format!("<td class=\"n\">{records}</td>")),
                "{row}"
            );
            let next = p["next_run"].as_str().unwrap();
            assert!(row.contains(next), "{name} next run {next}: {row}");
        }
        assert!(
            dom.contains("error: "),
            "the failed run's error is shown: {dom}"
        );
        let unions = status["catalogue"]["union_records"].as_u64().unwrap();
        assert!(
            dom.contains(&format!(
                "<tr><th>union records</th><td class=\"n\">{unions}</td></tr>"
            )),
            "{dom}"
        );
    }
}

// Scripts get the same facts from the daemon as from the command line:
// /status.json on either listener is `unicat status --json`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_json_is_what_status_json_prints() {
    let daemon = Watched::start().await;
    daemon.wait_for_runs().await;
    // The daemon may still be merging the last partner's records: compare
    // until both sides read the same store state, for at most 20 s.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_unicat"))
            .arg("--config")
            .arg(&daemon.config)
            .args(["status", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut served = Vec::new();
        for base in [&daemon.metrics, &daemon.provider] {
            let resp = reqwest::get(format!("{base}/status.json")).await.unwrap();
            assert_eq!(
                resp.headers()["content-type"].to_str().unwrap(),
                "application/json"
            );
            served.push(
                serde_json::from_str::<serde_json::Value>(&resp.text().await.unwrap()).unwrap(),
            );
        }
        if served.iter().all(|s| *s == cli) {
            assert!(cli["partners"][0]["next_run"].is_string(), "{cli}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "status.json {served:?}\nis not unicat status --json {cli}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
