//! A daemon to watch: `unicat run` over the demo partners served by local
//! OAI-PMH servers (plus one partner whose endpoint is down), with
//! `[metrics]` and `[provider]` listening on free local ports, for the
//! monitoring and status page tests.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use unicat::demo;
use unicat::oai_server::OaiServer;

/// The running daemon, its directory and its servers; stopped on drop.
pub struct Watched {
    pub child: Child,
    pub stderr: Arc<Mutex<String>>,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub metrics: String,
    pub provider: String,
    pub partners: Vec<String>,
    _servers: Vec<OaiServer>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The partner whose endpoint refuses connections, so one run fails.
pub const OFFLINE: &str = "offline";

impl Watched {
    /// Starts the daemon; its catch-up harvests begin at once.
    pub async fn start() -> Watched {
        let servers = demo::start_servers(10).await.unwrap();
        let urls: Vec<String> = servers.iter().map(|s| s.base_url.clone()).collect();
        let dir = tempfile::tempdir().unwrap();
        let (mport, pport) = (free_port(), free_port());
        let tables = format!(
            "[metrics]\nlisten = \"127.0.0.1:{mport}\"\n\n[provider]\nlisten = \"127.0.0.1:{pport}\"\n\
             admin-email = \"catalogue@example.org\"\n"
        );
        let mut text = demo::config_text(
            &dir.path().join("state"),
            &dir.path().join("publish"),
            &urls,
            &tables,
        );
        // Port 9 (discard) on this host: nothing listens, the run fails.
        text.push_str(&format!(
            "\n[[partner]]\nname = \"{OFFLINE}\"\ncode = \"XX-Off\"\nbase-url = \"http://127.0.0.1:9/oai\"\n\
             schedule = \"0 */6 * * *\"\nmax-retries = 0\n"
        ));
        let config = dir.path().join("unicat.toml");
        std::fs::write(&config, text).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_unicat"))
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env("UNICAT_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = super::collect_stderr(&mut child);
        Watched {
            child,
            stderr,
            dir,
            config,
            metrics: format!("http://127.0.0.1:{mport}"),
            provider: format!("http://127.0.0.1:{pport}"),
            partners: ["anl", "natlib-uz", "tsu", OFFLINE]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            _servers: servers,
        }
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until every partner's first run has ended (the demo partners
    /// succeeded, the offline one failed) and the catalogue is whole,
    /// reading `/status.json`.
    pub async fn wait_for_runs(&self) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(resp) = reqwest::get(format!("{}/status.json", self.metrics)).await {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(
                    &resp.text().await.unwrap_or_default(),
                ) {
                    let done = v["partners"].as_array().is_some_and(|ps| {
                        ps.len() == self.partners.len()
                            && ps.iter().all(|p| {
                                let o = p["last_harvest"]["outcome"].as_str();
                                if p["name"] == OFFLINE {
                                    o == Some("failed")
                                } else {
                                    o == Some("ok")
                                }
                            })
                    });
                    // The whole demo catalogue: the last dedup pass is over.
                    let whole = v["catalogue"]["union_records"].as_u64()
                        == Some(super::expected_union_count() as u64);
                    if done && whole {
                        return v;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "runs never ended: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
