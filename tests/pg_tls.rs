//! TLS to PostgreSQL (issue #20), against the throwaway cluster that
//! `scripts/test.sh` starts with `ssl = on` (`scripts/pg-cluster.sh
//! start-tls`): its pg_hba.conf accepts TCP over TLS only, so a client
//! that fell back to plaintext could not pass, and its server certificate
//! is for `localhost` and 127.0.0.1, signed by a test CA. Each sslmode is
//! checked for what libpq users expect of it, through the same connection
//! code the store's pool uses (`store::pg::connect_client`).

use std::path::PathBuf;

use unicat::store::pg::{connect_client, create_test_database, PgStore};

/// The cluster's directory (`UNICAT_TEST_PG_TLS_DIR`: `port`, `tls/`).
struct Cluster {
    dir: PathBuf,
    port: u16,
}

/// The TLS cluster, or `None` (the test skips, and says so) when the
/// suite runs against a server of one's own. `scripts/test.sh` sets
/// `UNICAT_REQUIRE_PG_TLS=1`, so in CI these tests cannot silently skip.
fn cluster() -> Option<Cluster> {
    match std::env::var("UNICAT_TEST_PG_TLS_DIR") {
        Ok(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            let port = std::fs::read_to_string(dir.join("port"))
                .expect("the cluster's port file")
                .trim()
                .parse()
                .expect("a port number");
            Some(Cluster { dir, port })
        }
        _ if std::env::var("UNICAT_REQUIRE_PG_TLS").as_deref() == Ok("1") => {
            panic!("UNICAT_REQUIRE_PG_TLS=1 but UNICAT_TEST_PG_TLS_DIR is not set")
        }
        _ => {
            println!("skipped: UNICAT_TEST_PG_TLS_DIR not set (scripts/test.sh sets it)");
            None
        }
    }
}

impl Cluster {
    fn file(&self, name: &str) -> String {
        self.dir.join("tls").join(name).display().to_string()
    }

    /// A URL for database `db` at `host` with these query parameters.
    fn url(&self, host: &str, db: &str, query: &str) -> String {
        format!("postgres://unicat@{host}:{}/{db}?{query}", self.port)
    }

    fn ca(&self) -> String {
        format!("sslrootcert={}", self.file("ca.crt"))
    }
}

/// A connection, or the whole error chain as the daemon would log it.
fn connect(url: &str) -> Result<postgres::Client, String> {
    connect_client(url, None).map_err(|e| format!("{e:#}"))
}

/// The error of a connection that must fail.
fn refused(url: &str) -> String {
    match connect(url) {
        Ok(_) => panic!("connected to {url}"),
        Err(e) => e,
    }
}

/// Whether the server sees this session encrypted.
fn encrypted(client: &mut postgres::Client) -> bool {
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0)
}

// require: TLS without a CA to check against, as libpq without a root
// certificate; the server confirms the session is encrypted.
#[test]
fn require_connects_encrypted_without_a_ca() {
    let Some(c) = cluster() else { return };
    let mut client = connect(&c.url("127.0.0.1", "unicat", "sslmode=require")).unwrap();
    assert!(encrypted(&mut client));
}

// verify-full with the CA that signed the server's certificate: the host
// name (a DNS SAN) and the address (an IP SAN) both match.
#[test]
fn verify_full_connects_to_localhost_and_its_address() {
    let Some(c) = cluster() else { return };
    for host in ["localhost", "127.0.0.1"] {
        let url = c.url(host, "unicat", &format!("sslmode=verify-full&{}", c.ca()));
        let mut client = connect(&url).unwrap_or_else(|e| panic!("{host}: {e}"));
        assert!(encrypted(&mut client), "{host}");
    }
}

// With nothing said, a server on this machine gets libpq's prefer: TLS
// since this one offers it.
#[test]
fn default_on_localhost_is_prefer_and_uses_tls_when_offered() {
    let Some(c) = cluster() else { return };
    let mut client = connect(&c.url("localhost", "unicat", "")).unwrap();
    assert!(encrypted(&mut client));
}

// The store's own pool connects through the same settings: every
// connection it holds to its database is encrypted.
#[test]
fn store_pool_connections_are_encrypted() {
    let Some(c) = cluster() else { return };
    let base = c.url(
        "localhost",
        "unicat",
        &format!("sslmode=verify-full&{}", c.ca()),
    );
    let url = create_test_database(&base).unwrap();
    let store = PgStore::open(&url, None).unwrap();
    let db = url
        .split('/')
        .nth(3)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let mut client = connect(&base).unwrap();
    let row = client
        .query_one(
            "SELECT count(*), bool_and(s.ssl) FROM pg_stat_activity a \
             JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1",
            &[&db],
        )
        .unwrap();
    let (n, all): (i64, Option<bool>) = (row.get(0), row.get(1));
    assert!(n >= 1, "the store holds no connection to {db}");
    assert_eq!(
        all,
        Some(true),
        "a pooled connection to {db} is not encrypted"
    );
    drop(store);
}

// A certificate for another host name: verify-full refuses it, naming
// the host; verify-ca, which checks the chain only, accepts it. The
// server is reached at 127.0.0.1 (hostaddr) under a name its certificate
// lacks, as a DNS name pointing at the wrong server would.
#[test]
fn verify_full_refuses_a_certificate_for_another_host_and_verify_ca_accepts_it() {
    let Some(c) = cluster() else { return };
    let query = |mode: &str| format!("hostaddr=127.0.0.1&sslmode={mode}&{}", c.ca());
    let err = refused(&c.url("db.example.org", "unicat", &query("verify-full")));
    assert!(
        err.contains("certificate not valid for host db.example.org"),
        "{err}"
    );
    assert!(err.contains("sslmode verify-full"), "{err}");
    let mut client = connect(&c.url("db.example.org", "unicat", &query("verify-ca"))).unwrap();
    assert!(encrypted(&mut client));
}

// A CA that did not sign the server's certificate: both verifying modes
// refuse, saying so and naming the CA file.
#[test]
fn a_ca_that_did_not_sign_the_server_certificate_is_refused() {
    let Some(c) = cluster() else { return };
    let other = c.file("other-ca.crt");
    for mode in ["verify-ca", "verify-full"] {
        let url = c.url(
            "localhost",
            "unicat",
            &format!("sslmode={mode}&sslrootcert={other}"),
        );
        let err = refused(&url);
        assert!(
            err.contains(&format!("not signed by a CA in sslrootcert {other}")),
            "{mode}: {err}"
        );
    }
}

// disable against a server that accepts TCP over TLS only fails with the
// server's own reason, not by hanging or by some other error.
#[test]
fn disable_is_refused_by_a_tls_only_server() {
    let Some(c) = cluster() else { return };
    let err = refused(&c.url("127.0.0.1", "unicat", "sslmode=disable"));
    assert!(err.contains("no pg_hba.conf entry"), "{err}");
    assert!(err.contains("no encryption"), "{err}");
}

// A database whose pg_hba.conf line says clientcert=verify-full takes a
// connection only with a client certificate the CA signed for the user:
// sslcert/sslkey send it.
#[test]
fn client_certificate_is_sent_when_the_server_requires_one() {
    let Some(c) = cluster() else { return };
    let base = format!("sslmode=verify-full&{}", c.ca());
    let err = refused(&c.url("localhost", "unicat_clientcert", &base));
    assert!(err.contains("certificate"), "{err}");
    let url = c.url(
        "localhost",
        "unicat_clientcert",
        &format!(
            "{base}&sslcert={}&sslkey={}",
            c.file("client.crt"),
            c.file("client.key")
        ),
    );
    let mut client = connect(&url).unwrap();
    let dn: Option<String> = client
        .query_one(
            "SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(dn.as_deref(), Some("/CN=unicat"));
}

// Files that cannot serve are refused before any connection, naming the
// parameter's file: a key that is not the certificate's, a CA file that
// holds no certificate.
#[test]
fn unusable_files_are_refused_before_connecting() {
    let Some(c) = cluster() else { return };
    let url = c.url(
        "localhost",
        "unicat",
        &format!(
            "sslmode=require&sslcert={}&sslkey={}",
            c.file("client.crt"),
            c.file("other-ca.key")
        ),
    );
    let err = refused(&url);
    assert!(err.contains(&c.file("other-ca.key")), "{err}");
    let url = c.url(
        "localhost",
        "unicat",
        &format!("sslmode=verify-ca&sslrootcert={}", c.file("client.key")),
    );
    let err = refused(&url);
    assert!(err.contains("holds no PEM certificate"), "{err}");
    // A key others can read is refused, as libpq does.
    let dir = tempfile::tempdir().unwrap();
    let open_key = dir.path().join("client.key");
    std::fs::copy(c.file("client.key"), &open_key).unwrap();
    std::fs::set_permissions(
        &open_key,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let url = c.url(
        "localhost",
        "unicat",
        &format!(
            "sslmode=require&sslcert={}&sslkey={}",
            c.file("client.crt"),
            open_key.display()
        ),
    );
    let err = refused(&url);
    assert!(
        err.contains("may be read or written by others (mode 0644)"),
        "{err}"
    );
}

// Password login over TLS: SCRAM with channel binding (required here),
// which holds only if the connector hashes the server's certificate the
// way the server does; a wrong password is still refused.
#[test]
fn scram_password_login_is_bound_to_the_tls_channel() {
    let Some(c) = cluster() else { return };
    let url = c.url(
        "localhost",
        "unicat_scram",
        &format!("sslmode=verify-full&{}&channel_binding=require", c.ca()),
    );
    let mut client = connect_client(&url, Some("unicat-test")).unwrap();
    assert!(encrypted(&mut client));
    let Err(err) = connect_client(&url, Some("wrong")) else {
        panic!("a wrong password was taken")
    };
    assert!(format!("{err:#}").contains("password"), "{err:#}");
}
