//! TLS to PostgreSQL (issue #20): libpq's `sslmode` semantics on rustls.
//!
//! The settings are libpq's connection parameters `sslmode`, `sslrootcert`,
//! `sslcert` and `sslkey`, given as `[store]` keys or in the URL's query
//! string (so that one URL, e.g. the tests' `UNICAT_TEST_PG_URL` or
//! `migrate-store --to`, can carry them). rust-postgres itself parses only
//! `sslmode=disable|prefer|require` and refuses the other parameters, so
//! [`split_url`] takes all four out of the URL, and
//! [`TlsParams::connector`] turns them into the mode rust-postgres should
//! use on the wire and a rustls connector whose certificate verifier does
//! what the mode promises: `prefer` and `require` encrypt without checking
//! the certificate (unless `sslrootcert` is given: then the chain is
//! checked, as libpq does), `verify-ca` checks the chain against
//! `sslrootcert`, `verify-full` also that the certificate names the host.
//!
//! It reads the certificate and key files and nothing else: no connection
//! is opened here (`store::pg` does that, always with what this module
//! builds), and no secret passes through it (the password stays with
//! `store::pg`).

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use postgres::config::Host;
use postgres::tls::MakeTlsConnect;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore,
    SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The parameters this module owns, as libpq names them.
pub const PARAMS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// libpq's `sslmode` values that unicat supports. libpq's `allow`
/// (plaintext first, TLS if the server insists) is missing: rust-postgres
/// cannot fall back that way, and nobody should want it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS if the server offers it, else plaintext; certificate unchecked.
    Prefer,
    /// TLS or no connection; certificate unchecked.
    Require,
    /// TLS, and the server's certificate chain verified against the CA.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host connected to.
    VerifyFull,
}

impl SslMode {
    /// The values, for messages.
    pub const ACCEPTED: &'static str = "disable, prefer, require, verify-ca or verify-full";

    /// The value as written in a configuration or URL.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = String;

    fn from_str(s: &str) -> Result<SslMode, String> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            "allow" => {
                return Err(
                    "sslmode \"allow\" is not supported (plaintext first, TLS only if the server insists); use prefer or require"
                        .into(),
                )
            }
            other => {
                return Err(format!(
                    "sslmode \"{other}\" is not one of {}",
                    SslMode::ACCEPTED
                ))
            }
        })
    }
}

/// The TLS parameters of one connection, as libpq names them; `None` is
/// "not given".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsParams {
    /// `sslmode`; when not given, [`TlsParams::mode_for`] decides.
    pub sslmode: Option<SslMode>,
    /// `sslrootcert`: PEM file of the CA certificate(s) to verify against.
    pub sslrootcert: Option<PathBuf>,
    /// `sslcert`: PEM file of the client certificate (and its chain).
    pub sslcert: Option<PathBuf>,
    /// `sslkey`: PEM file of the client certificate's private key.
    pub sslkey: Option<PathBuf>,
}

/// What is wrong with TLS settings, with the parameter it concerns, so
/// that a configuration error can point at the key (or the URL) that set
/// it. The message names the file where a file is at fault.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TlsError {
    /// One of [`PARAMS`].
    pub param: &'static str,
    /// What is wrong, and what to do.
    pub message: String,
}

fn tls_error(param: &'static str, message: String) -> TlsError {
    TlsError { param, message }
}

impl TlsParams {
    /// Whether the parameter (one of [`PARAMS`]) is given.
    pub fn has(&self, param: &str) -> bool {
        match param {
            "sslmode" => self.sslmode.is_some(),
            "sslrootcert" => self.sslrootcert.is_some(),
            "sslcert" => self.sslcert.is_some(),
            "sslkey" => self.sslkey.is_some(),
            _ => false,
        }
    }

    /// The parameter's value as it would be written, if given.
    pub fn value(&self, param: &str) -> Option<String> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        match param {
            "sslmode" => self.sslmode.map(|m| m.as_str().to_string()),
            "sslrootcert" => path(&self.sslrootcert),
            "sslcert" => path(&self.sslcert),
            "sslkey" => path(&self.sslkey),
            _ => None,
        }
    }

    /// These parameters, with `other`'s where these have none.
    pub fn or(self, other: TlsParams) -> TlsParams {
        TlsParams {
            sslmode: self.sslmode.or(other.sslmode),
            sslrootcert: self.sslrootcert.or(other.sslrootcert),
            sslcert: self.sslcert.or(other.sslcert),
            sslkey: self.sslkey.or(other.sslkey),
        }
    }

    /// The mode in force for these hosts: the one given, else `prefer` (as
    /// libpq) when every host is on this machine (a Unix socket, localhost
    /// or a loopback address), where nobody can listen in, and
    /// `verify-full` for a server across the network, where a connection
    /// that an attacker could read or redirect must not be the default.
    pub fn mode_for(&self, hosts: &[Host]) -> SslMode {
        self.sslmode.unwrap_or(if hosts.iter().all(is_local) {
            SslMode::Prefer
        } else {
            SslMode::VerifyFull
        })
    }

    /// Check the parameters and read their files: the mode in force for
    /// `hosts` and the connector to hand rust-postgres. Every problem a
    /// sysadmin can make here (a missing or unreadable file, a file that
    /// holds no certificate or key, a key that does not belong to the
    /// certificate, a verifying mode without a CA, files for a mode that
    /// never uses them) is an error now, not at the first connection.
    pub fn connector(&self, hosts: &[Host]) -> Result<(SslMode, PgTls), TlsError> {
        let mode = self.mode_for(hosts);
        if mode == SslMode::Disable {
            for param in ["sslrootcert", "sslcert", "sslkey"] {
                if self.has(param) {
                    return Err(tls_error(
                        param,
                        format!("{param} is set but sslmode is disable, so it would never be used; remove it or choose another sslmode"),
                    ));
                }
            }
        }
        let roots = match &self.sslrootcert {
            Some(path) => Some(Arc::new(read_roots(path)?)),
            None => None,
        };
        if mode.verifies() && roots.is_none() {
            let why = if self.sslmode.is_none() {
                " (verify-full is the default for a server that is not on this machine)"
            } else {
                ""
            };
            return Err(tls_error(
                "sslrootcert",
                format!("sslmode {mode} needs sslrootcert, the PEM file of the CA that signed the server's certificate{why}; sslmode = \"require\" encrypts without verifying the server"),
            ));
        }
        let client =
            match (&self.sslcert, &self.sslkey) {
                (Some(cert), Some(key)) => {
                    Some((cert, key, read_certs(cert, "sslcert")?, read_key(key)?))
                }
                (Some(_), None) => return Err(tls_error(
                    "sslcert",
                    "sslcert needs sslkey, the PEM file of the client certificate's private key"
                        .into(),
                )),
                (None, Some(_)) => {
                    return Err(tls_error(
                        "sslkey",
                        "sslkey needs sslcert, the PEM file of the client certificate".into(),
                    ))
                }
                (None, None) => None,
            };
        // ring, the provider reqwest's rustls already uses: one crypto
        // library in the binary.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Verifier {
            roots,
            check_name: mode == SslMode::VerifyFull,
            root_file: self.sslrootcert.clone().unwrap_or_default(),
            algs: provider.signature_verification_algorithms,
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("sslmode", format!("rustls refused its defaults: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let mut config = match client {
            Some((cert_path, key_path, certs, key)) => {
                builder.with_client_auth_cert(certs, key).map_err(|e| {
                    tls_error(
                        "sslkey",
                        format!(
                            "{} does not go with the certificate in {}: {e}",
                            key_path.display(),
                            cert_path.display()
                        ),
                    )
                })?
            }
            None => builder.with_no_client_auth(),
        };
        // PostgreSQL 17 checks ALPN when the client sends it, and libpq
        // sends this; older servers ignore it.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok((mode, PgTls(MakeRustlsConnect::new(config))))
    }
}

/// Check the TLS parameters a URL carries as a connection to it would
/// (the files read), without connecting: for addresses given on the
/// command line, which have no configuration check.
pub fn check_url(url: &str) -> Result<(), String> {
    let (plain, params) = split_url(url).map_err(|e| e.message)?;
    let config: postgres::Config = plain
        .parse()
        .map_err(|e| format!("the URL does not parse: {e}"))?;
    params
        .connector(config.get_hosts())
        .map(|_| ())
        .map_err(|e| e.message)
}

/// What rust-postgres should do on the wire for `mode`: it knows only
/// whether TLS is off, tried or required; what is verified is the
/// connector's business. PostgreSQL never speaks TLS over a Unix socket
/// (libpq ignores sslmode there), so a connection to sockets only is
/// plaintext whatever the mode.
pub fn wire_mode(mode: SslMode, hosts: &[Host]) -> postgres::config::SslMode {
    use postgres::config::SslMode as Wire;
    let all_unix = !hosts.is_empty() && hosts.iter().all(|h| !matches!(h, Host::Tcp(_)));
    match mode {
        _ if all_unix => Wire::Disable,
        SslMode::Disable => Wire::Disable,
        SslMode::Prefer => Wire::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => Wire::Require,
    }
}

/// Whether a host is on this machine: a Unix socket, `localhost` or a
/// loopback address.
fn is_local(host: &Host) -> bool {
    match host {
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        _ => true,
    }
}

/// Take libpq's TLS parameters out of a `postgres://` URL's query string:
/// the URL without them (what rust-postgres parses) and the parameters.
/// Values are percent-decoded; an empty path is "not given", as in libpq;
/// a parameter given twice keeps its last value, as in libpq.
pub fn split_url(url: &str) -> Result<(String, TlsParams), TlsError> {
    let mut params = TlsParams::default();
    let Some(q) = url.find('?') else {
        return Ok((url.to_string(), params));
    };
    let (head, rest) = (&url[..q], &url[q + 1..]);
    let (query, fragment) = match rest.find('#') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let mut kept = Vec::new();
    for part in query.split('&') {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let (key, value) = (percent_decode(key), percent_decode(value));
        let path = || (!value.is_empty()).then(|| PathBuf::from(&value));
        match key.as_str() {
            "sslmode" => params.sslmode = Some(value.parse().map_err(|e| tls_error("sslmode", e))?),
            "sslrootcert" => params.sslrootcert = path(),
            "sslcert" => params.sslcert = path(),
            "sslkey" => params.sslkey = path(),
            _ if part.is_empty() => {}
            _ => kept.push(part),
        }
    }
    let mut out = head.to_string();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    out.push_str(fragment);
    Ok((out, params))
}

/// `url` with the parameters of `params` that its query string lacks
/// added (percent-encoded), so that one string names the server and how to
/// reach it: the pool of connections is kept per such string, and
/// [`split_url`] gives the parameters back.
pub fn url_with(url: &str, params: &TlsParams) -> String {
    let (head, fragment) = match url.find('#') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    let present = split_url(url).map(|(_, p)| p).unwrap_or_default();
    let mut out = head.to_string();
    for param in PARAMS {
        if present.has(param) {
            continue;
        }
        if let Some(value) = params.value(param) {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(param);
            out.push('=');
            out.push_str(&percent_encode(&value));
        }
    }
    out.push_str(fragment);
    out
}

fn percent_decode(s: &str) -> String {
    crate::config::percent_decode_lossy(s)
}

/// Everything but unreserved characters and `/` escaped, so that a path
/// holding `&`, `#`, `%`, `+` or a space survives the query string.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn read_file(path: &Path, param: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path)
        .map_err(|e| tls_error(param, format!("cannot read {}: {e}", path.display())))
}

/// Every certificate in a PEM file; at least one.
fn read_certs(path: &Path, param: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_file(path, param)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            tls_error(
                param,
                format!("{} is not a valid PEM file: {e}", path.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(tls_error(
            param,
            format!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            ),
        ));
    }
    Ok(certs)
}

/// The CA certificates of `sslrootcert`, each one checked to be a
/// certificate that can anchor a chain.
fn read_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for (i, cert) in read_certs(path, "sslrootcert")?.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            tls_error(
                "sslrootcert",
                format!(
                    "certificate {} in {} is not a valid CA certificate: {e}",
                    i + 1,
                    path.display()
                ),
            )
        })?;
    }
    Ok(roots)
}

/// The private key of `sslkey`: PKCS#8, PKCS#1 (RSA) or SEC1 (EC), not
/// encrypted (a daemon has nobody to type a passphrase). Like libpq, it
/// refuses a key file that others may read: at most 0640 (owner, and a
/// group such as unicat's for a root-owned file).
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read_file(path, "sslkey")?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| tls_error("sslkey", format!("cannot read {}: {e}", path.display())))?
            .permissions()
            .mode();
        if mode & 0o037 != 0 {
            return Err(tls_error(
                "sslkey",
                format!(
                    "{} may be read or written by others (mode {:04o}); make it 0600, or 0640 for a group",
                    path.display(),
                    mode & 0o7777
                ),
            ));
        }
    }
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        let message = match e {
            pem::Error::NoItemsFound => format!(
                "{} holds no unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1)",
                path.display()
            ),
            e => format!("{} is not a valid PEM file: {e}", path.display()),
        };
        tls_error("sslkey", message)
    })
}

/// The connector handed to rust-postgres: tokio-postgres-rustls's, with
/// our verifier in its configuration. It only steps in for a Unix socket,
/// which has no host name: rust-postgres still asks for a connector there
/// (and the crate refuses an empty name), although it never starts TLS on
/// a socket ([`wire_mode`]), so any valid name will do.
#[derive(Clone)]
pub struct PgTls(MakeRustlsConnect);

impl fmt::Debug for PgTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PgTls")
    }
}

impl<S> MakeTlsConnect<S> for PgTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = <MakeRustlsConnect as MakeTlsConnect<S>>::Stream;
    type TlsConnect = <MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect;
    type Error = <MakeRustlsConnect as MakeTlsConnect<S>>::Error;

    fn make_tls_connect(&mut self, hostname: &str) -> Result<Self::TlsConnect, Self::Error> {
        let name = if hostname.is_empty() {
            "localhost"
        } else {
            hostname
        };
        MakeTlsConnect::<S>::make_tls_connect(&mut self.0, name)
    }
}

/// The server certificate check of every mode. Without roots nothing is
/// checked but the handshake's own signatures (`prefer`, `require`: the
/// connection is encrypted, but to whoever answers); with roots the chain
/// must lead to one of them (`verify-ca`, and `prefer`/`require` given a
/// CA, as libpq); with `check_name` the certificate must also name the
/// host (`verify-full`: a DNS name for a host name, an IP address SAN for
/// an address).
#[derive(Debug)]
struct Verifier {
    roots: Option<Arc<RootCertStore>>,
    check_name: bool,
    root_file: PathBuf,
    algs: WebPkiSupportedAlgorithms,
}

/// Why a certificate was refused, in words for the sysadmin; rustls's own
/// errors say "UnknownIssuer".
#[derive(Debug)]
struct Refused(String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn refused(message: String) -> rustls::Error {
    rustls::Error::Other(OtherError(Arc::new(Refused(message))))
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(roots) = &self.roots else {
            return Ok(ServerCertVerified::assertion());
        };
        let cert = ParsedCertificate::try_from(end_entity)?;
        let root_file = self.root_file.display();
        verify_server_cert_signed_by_trust_anchor(&cert, roots, intermediates, now, self.algs.all)
            .map_err(|e| match e {
                rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer | CertificateError::BadSignature,
                ) => refused(format!(
                    "the server's certificate is not signed by a CA in sslrootcert {root_file}"
                )),
                e => refused(format!(
                    "the server's certificate does not verify against sslrootcert {root_file}: {e}"
                )),
            })?;
        if self.check_name {
            verify_server_name(&cert, server_name).map_err(|e| {
                let names = match &e {
                    rustls::Error::InvalidCertificate(
                        CertificateError::NotValidForNameContext { presented, .. },
                    ) => format!("; it names {}", presented.join(", ")),
                    _ => String::new(),
                };
                refused(format!(
                    "certificate not valid for host {} (sslmode verify-full checks the host name{names})",
                    server_name.to_str()
                ))
            })?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The libpq parameters come out of the URL (rust-postgres would refuse
    // verify-full and sslrootcert), everything else stays, decoded paths.
    #[test]
    fn split_url_takes_out_the_tls_parameters() {
        let (url, p) = split_url(
            "postgres://u@db:5432/x?application_name=a&sslmode=verify-full&sslrootcert=/etc/a%20b/ca.pem&connect_timeout=3#f",
        )
        .unwrap();
        assert_eq!(
            url,
            "postgres://u@db:5432/x?application_name=a&connect_timeout=3#f"
        );
        assert_eq!(p.sslmode, Some(SslMode::VerifyFull));
        assert_eq!(p.sslrootcert.as_deref(), Some(Path::new("/etc/a b/ca.pem")));
        let (url, p) = split_url("postgres://u@db/x?sslmode=require").unwrap();
        assert_eq!(
            (url.as_str(), p.sslmode),
            ("postgres://u@db/x", Some(SslMode::Require))
        );
        let e = split_url("postgres://u@db/x?sslmode=verify_full").unwrap_err();
        assert!(e.message.contains("verify-full"), "{e}");
        assert!(split_url("postgres://u@db/x?sslmode=allow").is_err());
    }

    // Parameters given in the configuration travel in the URL and come
    // back out unchanged, whatever the path holds.
    #[test]
    fn url_with_round_trips_through_split_url() {
        let params = TlsParams {
            sslmode: Some(SslMode::VerifyCa),
            sslrootcert: Some("/etc/unicat/ca & co/#1%.pem".into()),
            sslcert: Some("/c.pem".into()),
            sslkey: Some("/k.pem".into()),
        };
        let url = url_with("postgres://u@db/x?application_name=a", &params);
        let (plain, back) = split_url(&url).unwrap();
        assert_eq!(plain, "postgres://u@db/x?application_name=a");
        assert_eq!(back, params);
        // What the URL already says is not repeated.
        let url = url_with("postgres://u@db/x?sslmode=require", &params);
        assert_eq!(split_url(&url).unwrap().1.sslmode, Some(SslMode::Require));
    }

    // The default is libpq's prefer on this machine, verify-full elsewhere.
    #[test]
    fn default_mode_depends_on_where_the_server_is() {
        let p = TlsParams::default();
        let tcp = |h: &str| Host::Tcp(h.to_string());
        for local in ["localhost", "127.0.0.1", "::1", "127.0.0.2"] {
            assert_eq!(p.mode_for(&[tcp(local)]), SslMode::Prefer, "{local}");
        }
        assert_eq!(
            p.mode_for(&[Host::Unix("/run/postgresql".into())]),
            SslMode::Prefer
        );
        for remote in ["db.example.org", "10.0.0.5", "localhost.example.org"] {
            assert_eq!(p.mode_for(&[tcp(remote)]), SslMode::VerifyFull, "{remote}");
        }
        assert_eq!(
            p.mode_for(&[tcp("localhost"), tcp("db.example.org")]),
            SslMode::VerifyFull
        );
        let e = p.connector(&[tcp("db.example.org")]).unwrap_err();
        assert_eq!(e.param, "sslrootcert");
        assert!(e.message.contains("default"), "{e}");
        assert_eq!(
            wire_mode(SslMode::VerifyFull, &[Host::Unix("/run/postgresql".into())]),
            postgres::config::SslMode::Disable
        );
    }
}
