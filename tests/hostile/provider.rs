//! The daemon's OAI-PMH provider against clients that connect and then
//! send nothing, or half a request: a real `unicat run` process under a
//! small file-descriptor limit, plain TCP connections from the test.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The daemon's file-descriptor limit in these tests: far fewer than the
/// idle connections the test opens.
const FD_LIMIT: u32 = 64;
/// Idle connections opened at once.
const IDLE: usize = 120;

/// A `unicat run` whose provider listens on `port`, with short limits.
struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    fn start(dir: &Path) -> Daemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let tables = format!(
            "[daemon]\ncatch-up = false\n\n[provider]\nlisten = \"127.0.0.1:{port}\"\n\
             admin-email = \"catalogue@example.org\"\nheader-read-timeout-secs = 1\n\
             idle-timeout-secs = 2\nmax-connections = 16\n"
        );
        // The partner is never harvested (no catch-up, a yearly schedule).
        let text = unicat::demo::config_text(
            &dir.join("state"),
            &dir.join("publish"),
            &["http://127.0.0.1:9/oai".to_string()],
            &tables,
        )
        .replace("0 2 * * *", "0 0 1 1 *");
        let cfg = dir.join("unicat.toml");
        std::fs::write(&cfg, text).unwrap();
        let child = Command::new("sh")
            .args([
                "-c",
                &format!("ulimit -n {FD_LIMIT} && exec \"$0\" --config \"$1\" run"),
            ])
            .arg(env!("CARGO_BIN_EXE_unicat"))
            .arg(&cfg)
            .env("UNICAT_LOG", "warn")
            .env_remove("NOTIFY_SOCKET")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let daemon = Daemon { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while identify(port, Duration::from_secs(2)).is_err() {
            assert!(Instant::now() < deadline, "the provider never answered");
            std::thread::sleep(Duration::from_millis(100));
        }
        daemon
    }

    fn stop(mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            assert!(Instant::now() < deadline, "daemon did not stop");
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

/// One Identify over a fresh connection, within `timeout`: the body.
fn identify(port: u16, timeout: Duration) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(b"GET /oai?verb=Identify HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    if body.contains("<Identify>") {
        Ok(body)
    } else {
        Err(std::io::Error::other(format!("not an Identify: {body}")))
    }
}

/// How long until the peer closes `s` (read gives end of file or a reset),
/// or `None` if it is still open after `limit`; what it sent is discarded.
fn closed_after(s: &mut TcpStream, started: Instant, limit: Duration) -> Option<Duration> {
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if started.elapsed() >= limit {
                    return None;
                }
            }
            Err(_) => return Some(started.elapsed()),
        }
    }
}

// 1,100 idle and half-open connections used up the daemon's 1,024 file
// descriptors and Identify stopped answering: connections are capped, and
// one that sends no request within the header-read timeout is closed.
#[test]
fn idle_connections_neither_exhaust_descriptors_nor_stay_open() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    // Far more connections than the daemon has descriptors; they connect
    // (the kernel's listen queue takes them) and send nothing.
    let opened = Instant::now();
    let mut idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| TcpStream::connect(("127.0.0.1", daemon.port)).unwrap())
        .collect();
    // Identify still answers: each wave of 16 idle connections is closed
    // after 1 s, so the request waits at most about IDLE / 16 seconds.
    let asked = Instant::now();
    let answer = identify(daemon.port, Duration::from_secs(25));
    assert!(answer.is_ok(), "Identify did not answer: {answer:?}");
    assert!(asked.elapsed() < Duration::from_secs(25));
    // Every idle connection is closed by the daemon, none kept for ever.
    for (i, s) in idle.iter_mut().enumerate() {
        assert!(
            closed_after(s, opened, Duration::from_secs(40)).is_some(),
            "idle connection {i} still open after 40 s"
        );
    }
    // A client sending half a request head is closed after the header-read
    // timeout (1 s), not served and not kept.
    let mut slow = TcpStream::connect(("127.0.0.1", daemon.port)).unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /oai?verb=Identify HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let closed = closed_after(&mut slow, started, Duration::from_secs(10));
    assert!(
        closed.is_some_and(|t| t < Duration::from_secs(5)),
        "half a request head kept the connection open: {closed:?}"
    );
    // A client that sends a whole head and then stops half-way through its
    // body is closed after the idle timeout (2 s).
    let mut stalled = TcpStream::connect(("127.0.0.1", daemon.port)).unwrap();
    let started = Instant::now();
    stalled
        .write_all(
            b"POST /oai HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 100\r\n\r\nverb=Ident",
        )
        .unwrap();
    let closed = closed_after(&mut stalled, started, Duration::from_secs(10));
    assert!(
        closed.is_some_and(|t| t >= Duration::from_secs(1) && t < Duration::from_secs(6)),
        "a body stalled half-way kept the connection open: {closed:?}"
    );
    // A keep-alive connection that asks once and then idles is closed too.
    let mut kept = TcpStream::connect(("127.0.0.1", daemon.port)).unwrap();
    let started = Instant::now();
    kept.write_all(b"GET /oai?verb=Identify HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let closed = closed_after(&mut kept, started, Duration::from_secs(10));
    assert!(
        closed.is_some_and(|t| t < Duration::from_secs(5)),
        "an idle keep-alive connection was kept: {closed:?}"
    );
    assert!(identify(daemon.port, Duration::from_secs(5)).is_ok());
    assert_eq!(daemon.stop(), Some(0));
}
