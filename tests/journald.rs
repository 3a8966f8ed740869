//! Logs under systemd (issue #21): with stderr the stream `JOURNAL_STREAM`
//! names, unicat sends structured records to a real systemd-journald
//! (UNICAT_PARTNER, UNICAT_RUN_ID, UNICAT_EVENT, PRIORITY from the level,
//! MESSAGE unchanged), and nothing to stderr; without a journal socket it
//! falls back to priority-prefixed lines on stderr.
//!
//! journald's socket path is fixed (/run/systemd/journal/socket) and so is
//! tracing-journald's, so the test runs unicat in a private mount namespace
//! (`unshare --mount`, root only) with tmpfs over /run and
//! /var/log/journal, starts Debian's systemd-journald there, and reads the
//! entries back with `journalctl --directory`, the same field filters the
//! README gives. The host's journal is never touched. Without root,
//! unshare or systemd-journald the test is skipped, unless
//! UNICAT_REQUIRE_JOURNALD is set (`.ci/run` sets it).

use std::path::Path;
use std::process::Command;

use unicat::demo;

const JOURNALD: &str = "/lib/systemd/systemd-journald";

/// Whether the test can run here; panics if it must and cannot.
fn journald_available() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let unshare = Command::new("sh")
        .args(["-c", "command -v unshare"])
        .output()
        .is_ok_and(|o| o.status.success());
    let ok = root && unshare && Path::new(JOURNALD).exists();
    if !ok {
        assert!(
            std::env::var_os("UNICAT_REQUIRE_JOURNALD").is_none(),
            "UNICAT_REQUIRE_JOURNALD is set but this test cannot run: it needs root, \
             `unshare` (util-linux) and {JOURNALD} (Debian package `systemd`)"
        );
        eprintln!("skipped: needs root, unshare and {JOURNALD}");
    }
    ok
}

/// The journal entries of a `journalctl -o json` output.
fn entries(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A field's value; a field given more than once (the partner by the
/// run's span and by the event) must have one value.
fn field<'a>(entry: &'a serde_json::Value, name: &str) -> &'a str {
    match &entry[name] {
        serde_json::Value::Array(values) => {
            let first = values[0].as_str().unwrap_or("");
            assert!(values.iter().all(|v| v == first), "{name}: {values:?}");
            first
        }
        v => v.as_str().unwrap_or(""),
    }
}

// The README's `journalctl -u unicat UNICAT_PARTNER=anl` and
// `journalctl UNICAT_EVENT=harvest_failed` must find unicat's records: the
// fields exist, carry the partner, the run id and the event, the priority
// follows the level, the message is the log call's own text, and no line
// reaches stderr as well (journald would store it twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_systemd_records_go_to_the_journal_with_fields() {
    if !journald_available() {
        return;
    }
    let servers = demo::start_servers(10).await.unwrap();
    // natlib-uz's endpoint refuses connections: its harvest fails.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/oai", l.local_addr().unwrap())
    };
    let urls = vec![
        servers[0].base_url.clone(),
        refused,
        servers[2].base_url.clone(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = d.join("unicat.toml");
    std::fs::write(
        &config,
        demo::config_text(
            &d.join("state"),
            &d.join("publish"),
            &urls,
            "[harvest]\nmax-retries = 0\n",
        ),
    )
    .unwrap();
    // Two unreadable records: both quarantined.
    std::fs::write(
        d.join("bad.mrc"),
        b"00050nam  2200037   4500001000800000\x1eab\x1e\x1dgarbage-not-marc\x1d",
    )
    .unwrap();
    let script = format!(
        r#"set -u
mount -t tmpfs tmpfs /run
[ -d /var/log/journal ] && mount -t tmpfs tmpfs /var/log/journal
mkdir -p /run/systemd/journal
{JOURNALD} &
journald=$!
# journald must not outlive the script (it would keep the test's pipes open).
trap 'kill $journald 2>/dev/null' EXIT
for i in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
cd "$D"
: > stderr.txt
# What systemd does: stderr is the stream JOURNAL_STREAM names.
export JOURNAL_STREAM=$(stat -c '%d:%i' stderr.txt)
export UNICAT_LOG=info
"$UNICAT" --config unicat.toml harvest --all >stdout.txt 2>>stderr.txt
echo $? > harvest.code
"$UNICAT" --config unicat.toml import --partner anl bad.mrc >>stdout.txt 2>>stderr.txt
"$UNICAT" --config unicat.toml publish >>stdout.txt 2>>stderr.txt
# Everything received is written before it is read back.
journalctl --sync || sleep 1
journalctl --directory=/run/log/journal --no-pager -o json UNICAT_EVENT=harvest_failed > failed.json
journalctl --directory=/run/log/journal --no-pager -o json UNICAT_PARTNER=anl > anl.json
journalctl --directory=/run/log/journal --no-pager -o json SYSLOG_IDENTIFIER=unicat > all.json
# Without a journal socket: lines on stderr, prefixed with the priority.
kill $journald; wait $journald
rm -f /run/systemd/journal/socket
: > fallback.txt
export JOURNAL_STREAM=$(stat -c '%d:%i' fallback.txt)
"$UNICAT" --config unicat.toml harvest --partner anl >/dev/null 2>>fallback.txt
exit 0
"#
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env("D", d)
        .env("UNICAT", env!("CARGO_BIN_EXE_unicat"))
        .output()
        .unwrap();
    let log = format!(
        "script: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    // The harvest of natlib-uz failed, so the command says so (75).
    assert_eq!(
        std::fs::read_to_string(d.join("harvest.code"))
            .unwrap()
            .trim(),
        "75",
        "{log}"
    );

    // journalctl UNICAT_EVENT=harvest_failed: natlib-uz's run, a warning.
    let failed = entries(&d.join("failed.json"));
    assert_eq!(failed.len(), 1, "{failed:#?}");
    let f = &failed[0];
    assert_eq!(field(f, "UNICAT_PARTNER"), "natlib-uz", "{f:#}");
    assert_eq!(field(f, "MESSAGE"), "harvest failed; `from` not advanced");
    assert_eq!(field(f, "PRIORITY"), "4", "{f:#}");
    assert!(field(f, "UNICAT_RUN_ID").parse::<i64>().is_ok(), "{f:#}");
    assert!(field(f, "UNICAT_ERROR").contains("127.0.0.1"), "{f:#}");

    // journalctl UNICAT_PARTNER=anl: its harvest summary and its
    // quarantined import records, and nothing of the other partners.
    let anl = entries(&d.join("anl.json"));
    let complete: Vec<_> = anl
        .iter()
        .filter(|e| field(e, "UNICAT_EVENT") == "harvest_complete")
        .collect();
    assert_eq!(complete.len(), 1, "{anl:#?}");
    let c = complete[0];
    assert_eq!(field(c, "MESSAGE"), "harvest complete");
    assert_eq!(field(c, "PRIORITY"), "6");
    assert_eq!(field(c, "SYSLOG_IDENTIFIER"), "unicat");
    assert!(field(c, "UNICAT_RUN_ID").parse::<i64>().is_ok(), "{c:#}");
    assert!(field(c, "UNICAT_SEEN").parse::<u64>().unwrap() > 0, "{c:#}");
    let quarantined = anl
        .iter()
        .filter(|e| field(e, "UNICAT_EVENT") == "quarantined")
        .count();
    assert_eq!(quarantined, 2, "{anl:#?}");
    assert!(anl.iter().all(|e| field(e, "UNICAT_PARTNER") == "anl"));

    // Every event the issue names is there, once per occasion.
    let all = entries(&d.join("all.json"));
    let count = |event: &str| {
        all.iter()
            .filter(|e| field(e, "UNICAT_EVENT") == event)
            .count()
    };
    assert_eq!(count("harvest_complete"), 2, "anl and tsu: {all:#?}");
    assert_eq!(count("harvest_failed"), 1);
    assert_eq!(count("quarantined"), 2);
    assert_eq!(count("published"), 1);

    // Nothing went to stderr as well but the command's own last word.
    let stderr = std::fs::read_to_string(d.join("stderr.txt")).unwrap();
    assert!(
        stderr.lines().all(|l| l.starts_with("unicat: ")),
        "log lines on stderr under journald: {stderr}"
    );

    // No journal socket: the lines go to stderr with a syslog priority
    // prefix (journald's stream parser reads it) and no timestamp.
    let fallback = std::fs::read_to_string(d.join("fallback.txt")).unwrap();
    let line = fallback
        .lines()
        .find(|l| l.contains("harvest complete"))
        .unwrap_or_else(|| panic!("no summary line: {fallback}"));
    assert!(
        line.starts_with("<6>") && line[3..].trim_start().starts_with("INFO"),
        "{line}"
    );
    assert!(line.contains("event=harvest_complete"), "{line}");
}

// A JOURNAL_STREAM that names another stream (inherited by a command whose
// stderr was redirected) must not switch logging to the journal: the lines
// stay on stderr with their timestamps. Runs anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_stream_of_another_stream_keeps_text_on_stderr() {
    let servers = demo::start_servers(10).await.unwrap();
    let urls: Vec<String> = servers.iter().map(|s| s.base_url.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("unicat.toml");
    std::fs::write(
        &config,
        demo::config_text(
            &dir.path().join("state"),
            &dir.path().join("publish"),
            &urls,
            "",
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_unicat"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "harvest",
            "--partner",
            "anl",
        ])
        .env("JOURNAL_STREAM", "8:12345")
        .env("UNICAT_LOG", "info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("harvest complete"))
        .unwrap_or_else(|| panic!("no summary line on stderr: {stderr}"));
    // An RFC 3339 timestamp first, no priority prefix.
    assert!(
        line.starts_with("20") && line.contains("INFO") && line.contains("event=harvest_complete"),
        "{line}"
    );
}
