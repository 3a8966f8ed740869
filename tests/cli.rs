//! The command line as a sysadmin uses it: exit codes, one-line reasons,
//! and the demo that the README promises works with one command.

mod common;

use std::path::Path;
use std::process::Command;

fn unicat() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_unicat"));
    c.env_remove("UNICAT_CONFIG").env("UNICAT_LOG", "warn");
    c
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

// A typo in a key is refused with exit 78, naming the file, line and key.
#[test]
fn check_config_refuses_unknown_key_with_exit_78() {
    let out = unicat()
        .args(["--config", &fixture("bad-unknown-key.toml"), "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad-unknown-key.toml:10"), "{err}");
    assert!(err.contains("partner.schedul"), "{err}");
}

// A cron expression that cannot fire is a config error too, with its line.
#[test]
fn check_config_refuses_bad_cron() {
    let out = unicat()
        .args(["--config", &fixture("bad-cron.toml"), "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad-cron.toml:10: key `partner.schedule`"),
        "{err}"
    );
}

// The shipped example config must pass its own check.
#[test]
fn example_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/unicat.example.toml");
    let out = unicat()
        .args(["--config", path.to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// Identify was invalid by default: admin-email defaulted to root@localhost,
// which the OAI-PMH schema's pattern rejects. check-config now requires a
// valid address when [provider] is configured.
#[test]
fn check_config_requires_a_valid_provider_admin_email() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("unicat.toml");
    let base = format!(
        "state-dir = {:?}\n[publish]\noutput-dir = {:?}\n\n[provider]\nlisten = \"127.0.0.1:8080\"\n",
        dir.path().join("state").display().to_string(),
        dir.path().join("out").display().to_string()
    );
    let check = |text: &str| {
        std::fs::write(&cfg, text).unwrap();
        let out = unicat()
            .args(["--config", cfg.to_str().unwrap(), "check-config"])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = check(&base);
    assert_eq!(code, Some(78), "{err}");
    assert!(
        err.contains("unicat.toml:5: key `provider.admin-email`"),
        "{err}"
    );
    assert!(err.contains("required"), "{err}");
    let (code, err) = check(&format!("{base}admin-email = \"root@localhost\"\n"));
    assert_eq!(code, Some(78), "{err}");
    assert!(
        err.contains("unicat.toml:7: key `provider.admin-email`"),
        "{err}"
    );
    assert!(err.contains("root@localhost"), "{err}");
    let (code, err) = check(&format!(
        "{base}admin-email = \"catalogue@library.example\"\n"
    ));
    assert_eq!(code, Some(0), "{err}");
}

// An unreachable partner: non-zero (75, temporary failure) and a one-line reason.
#[test]
fn harvest_of_unreachable_partner_fails_with_reason() {
    let dir = tempfile::tempdir().unwrap();
    // Bind and drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.path().join("u.toml");
    std::fs::write(
        &cfg,
        format!(
            "state-dir = {:?}\n[harvest]\nmax-retries = 1\nbackoff-ms = 10\n[publish]\noutput-dir = {:?}\n\
             [[partner]]\nname = \"gone\"\ncode = \"XX-1\"\nbase-url = \"http://127.0.0.1:{port}/oai\"\nschedule = \"0 2 * * *\"\n",
            dir.path().join("state").display().to_string(),
            dir.path().join("out").display().to_string()
        ),
    )
    .unwrap();
    let out = unicat()
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "harvest",
            "--partner",
            "gone",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(75));
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or("");
    assert!(last.starts_with("unicat: harvest failed: gone:"), "{err}");
    // status shows the failed run.
    let out = unicat()
        .args(["--config", cfg.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("gone") && s.contains("failed"), "{s}");
}

// The README's first command: the demo runs with no setup, prints the
// summary and leaves a usable config for `status` and `explain`.
#[test]
fn demo_runs_and_status_and_explain_work_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let out = unicat()
        .args(["demo", "--dir", demo_dir.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for p in ["anl", "natlib-uz", "tsu"] {
        assert!(stdout.contains(p), "{stdout}");
    }
    assert!(
        stdout.contains("clusters with more than one member"),
        "{stdout}"
    );
    assert!(demo_dir.join("publish/union.mrc").exists());

    let cfg = demo_dir.join("unicat.toml");
    let out = unicat()
        .args(["--config", cfg.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(status.contains("ok"), "{status}");

    // The same facts as JSON, for scripts.
    let out = unicat()
        .args(["--config", cfg.to_str().unwrap(), "status", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    assert_eq!(v["partners"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["partners"][0]["last_harvest"]["outcome"], "ok");
    assert!(v["catalogue"]["union_records"].as_u64().unwrap() > 0);

    // Explain the first `same` group's first member.
    let g = common::answer_key()
        .into_iter()
        .find(|g| g.kind == "same")
        .unwrap();
    let (p, id) = &g.members[0];
    let out = unicat()
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "explain",
            &format!("{p}:{id}"),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("shares "), "{text}");
    for (op, oid) in &g.members[1..] {
        assert!(text.contains(&format!("{op}:{oid}")), "{text}");
    }

    // The same evidence as JSON: every linked pair decided "same edition".
    let out = unicat()
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "explain",
            "--json",
            &format!("{p}:{id}"),
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("explain --json is JSON");
    assert_eq!(v["members"].as_array().map(Vec::len), Some(g.members.len()));
    let pairs = v["pairs"].as_array().unwrap();
    assert!(!pairs.is_empty());
    assert!(
        pairs
            .iter()
            .all(|p| p["same"] == true && p["vetoes"].as_array().unwrap().is_empty()),
        "{v}"
    );

    // Running the demo again into the same directory works (it starts over).
    let out = unicat()
        .args(["demo", "--dir", demo_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
}

// The same partner is never harvested twice at once, even from two
// processes: the second one is refused with a clear reason.
#[test]
fn partner_lock_refuses_a_second_harvester() {
    let dir = tempfile::tempdir().unwrap();
    let held = unicat::jobs::lock_partner(dir.path(), "anl").unwrap();
    let err = unicat::jobs::lock_partner(dir.path(), "anl").unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    // Another partner is not affected.
    unicat::jobs::lock_partner(dir.path(), "tsu").unwrap();
    drop(held);
    unicat::jobs::lock_partner(dir.path(), "anl").unwrap();
}
