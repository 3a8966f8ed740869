//! The configuration file: TOML parsed into typed sections, then checked for
//! meaning.
//!
//! Parsing refuses unknown keys (`deny_unknown_fields`) so that a typo is an
//! error at start instead of a silently ignored option. [`Config::check`]
//! finds the problems serde cannot see (a cron expression that does not
//! parse, a URL that is not http, two partners with one name). Every error
//! names the file, the key and the line, because the person reading it is a
//! sysadmin with an editor open, not a developer with a debugger.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// Where the daemon looks for its configuration when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/unicat/unicat.toml";

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// Directory holding the SQLite database (created if missing).
    pub state_dir: PathBuf,
    /// The union catalogue's own code: 003 of union records.
    #[serde(default = "default_catalogue_code")]
    pub catalogue_code: String,
    /// Logging options.
    #[serde(default)]
    pub log: LogConfig,
    /// HTTP and retry options shared by every harvest.
    #[serde(default)]
    pub harvest: HarvestConfig,
    /// Where and when the union catalogue is published.
    pub publish: PublishConfig,
    /// Daemon behaviour: shutdown grace, catch-up.
    #[serde(default)]
    pub daemon: DaemonConfig,
    /// Where the store lives: the embedded SQLite file in `state-dir`
    /// (default) or a shared PostgreSQL database.
    #[serde(default)]
    pub store: StoreConfig,
    /// The optional Prometheus metrics endpoint.
    #[serde(default)]
    pub metrics: Option<MetricsConfig>,
    /// How candidate records are judged the same edition (weights,
    /// threshold, vetoes, ignored identifiers, overrides; see `dedup::decision`).
    #[serde(default)]
    pub dedup: crate::dedup::decision::ScoreOptions,
    /// How clusters become union records.
    #[serde(default)]
    pub merge: MergeConfig,
    /// Links between union records of one work (other editions, formats,
    /// translations, volumes; see `works_pass`).
    #[serde(default)]
    pub works: WorksConfig,
    /// The optional OAI-PMH endpoint serving the union catalogue.
    #[serde(default)]
    pub provider: Option<ProviderConfig>,
    /// The partner libraries, one `[[partner]]` table each.
    #[serde(default, rename = "partner")]
    pub partners: Vec<Partner>,
}

/// `[log]`: how log lines look.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (default) or `json`.
    #[serde(default)]
    pub format: LogFormat,
}

/// The log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable lines with `key=value` fields.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[harvest]`: network behaviour of every harvest.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct HarvestConfig {
    /// Timeout of one HTTP request in seconds (1–3600, default 120).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// How many times a failed page request is retried before the run fails
    /// (0–100, default 5).
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// First retry delay in milliseconds; doubles per retry (default 1000).
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
    /// Seconds subtracted from the next incremental `from` so that records
    /// stamped during the previous run are not missed (default 0).
    #[serde(default)]
    pub overlap_secs: u64,
    /// Timeout for establishing a connection, in seconds (1–600, default 30).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// Largest response accepted, in MiB (1–4096, default 256); a larger
    /// one fails the run instead of exhausting memory.
    #[serde(default = "default_max_response")]
    pub max_response_mib: u64,
    /// How many partners are harvested at the same time (1–64, default 4).
    #[serde(default = "default_concurrency")]
    pub max_concurrent: usize,
}

impl Default for HarvestConfig {
    fn default() -> Self {
        Self {
            timeout_secs: default_timeout(),
            max_retries: default_retries(),
            backoff_ms: default_backoff(),
            overlap_secs: 0,
            connect_timeout_secs: default_connect_timeout(),
            max_response_mib: default_max_response(),
            max_concurrent: default_concurrency(),
        }
    }
}

impl HarvestConfig {
    /// The request timeout as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

/// `[daemon]`: how the service starts and stops.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DaemonConfig {
    /// Seconds that running harvests get to commit their page after
    /// SIGTERM before the daemon exits anyway (1–3600, default 30; keep it
    /// below systemd's `TimeoutStopSec`).
    #[serde(default = "default_grace")]
    pub shutdown_grace_secs: u64,
    /// At start, harvest at once every partner whose scheduled run was
    /// missed while the daemon was not running (default true).
    #[serde(default = "default_true")]
    pub catch_up: bool,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            shutdown_grace_secs: default_grace(),
            catch_up: true,
        }
    }
}

/// `[store]`: which database holds the catalogue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite` (default: `unicat.db` in `state-dir`) or `postgres`.
    #[serde(default = "default_backend")]
    pub backend: Spanned<StoreBackend>,
    /// PostgreSQL connection URL without the password, e.g.
    /// `postgres://unicat@db.example.org:5432/unicat`.
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    /// File holding the PostgreSQL password (trailing newline ignored).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the PostgreSQL password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// TLS to PostgreSQL, libpq's `sslmode`: `disable`, `prefer`,
    /// `require`, `verify-ca` or `verify-full` (default: `verify-full` for
    /// a server on another host, `prefer` on this one). Kept as text so
    /// that a bad value is reported with its line by [`Config::check`].
    #[serde(default)]
    pub sslmode: Option<Spanned<String>>,
    /// PEM file of the CA certificate(s) that sign the server's certificate.
    #[serde(default)]
    pub sslrootcert: Option<Spanned<PathBuf>>,
    /// PEM file of the client certificate, for servers that ask for one.
    #[serde(default)]
    pub sslcert: Option<Spanned<PathBuf>>,
    /// PEM file of the client certificate's private key (unencrypted).
    #[serde(default)]
    pub sslkey: Option<Spanned<PathBuf>>,
    /// Connections this daemon keeps open to PostgreSQL (1–100, default 8).
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// Seconds a daemon's claim on a partner's harvest or on the
    /// dedup-and-publish work lasts unless renewed (5–3600, default 60):
    /// after a crash, another daemon takes the work over within this time.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: default_backend(),
            url: None,
            password_file: None,
            password_env: None,
            sslmode: None,
            sslrootcert: None,
            sslcert: None,
            sslkey: None,
            pool_size: default_pool_size(),
            lease_secs: default_lease_secs(),
        }
    }
}

impl StoreConfig {
    /// The TLS keys given, as the connection's parameters; a bad
    /// `sslmode` is an error with its span.
    fn tls_params(&self) -> Result<crate::store::pg::tls::TlsParams, (Range<usize>, String)> {
        let sslmode = match &self.sslmode {
            Some(m) => Some(m.get_ref().parse().map_err(|e| (m.span(), e))?),
            None => None,
        };
        let path = |p: &Option<Spanned<PathBuf>>| p.as_ref().map(|p| p.get_ref().clone());
        Ok(crate::store::pg::tls::TlsParams {
            sslmode,
            sslrootcert: path(&self.sslrootcert),
            sslcert: path(&self.sslcert),
            sslkey: path(&self.sslkey),
        })
    }

    /// The TLS keys given, with their spans.
    fn tls_spans(&self) -> Vec<(&'static str, Range<usize>)> {
        let mut spans = Vec::new();
        if let Some(m) = &self.sslmode {
            spans.push(("sslmode", m.span()));
        }
        for (param, p) in [
            ("sslrootcert", &self.sslrootcert),
            ("sslcert", &self.sslcert),
            ("sslkey", &self.sslkey),
        ] {
            if let Some(p) = p {
                spans.push((param, p.span()));
            }
        }
        spans
    }
}

fn default_backend() -> Spanned<StoreBackend> {
    Spanned::new(0..0, StoreBackend::Sqlite)
}
fn default_pool_size() -> u32 {
    8
}
fn default_lease_secs() -> u64 {
    60
}

/// The store backends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreBackend {
    /// The embedded SQLite database in `state-dir`.
    #[default]
    Sqlite,
    /// A PostgreSQL database shared by one or more daemons.
    Postgres,
}

/// Where the store is, with its secret resolved: what opening it needs.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// The SQLite database in this state directory.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres {
        /// Connection URL (no password in it).
        url: String,
        /// The password from its file or variable, if one is configured.
        password: Option<String>,
        /// Pool size.
        pool_size: u32,
    },
}

impl fmt::Debug for StoreLocation {
    // By hand, so that the password never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(dir) => write!(f, "sqlite:{}", dir.display()),
            StoreLocation::Postgres { url, .. } => write!(f, "postgres:{url}"),
        }
    }
}

impl StoreLocation {
    /// Parse a command-line store address: `sqlite:STATE_DIR` or
    /// `postgres://…` / `postgresql://…` (password from `password_env`).
    pub fn parse(text: &str, password_env: Option<&str>) -> Result<StoreLocation, String> {
        if let Some(dir) = text.strip_prefix("sqlite:") {
            if dir.is_empty() {
                return Err(
                    "sqlite: needs the state directory, e.g. sqlite:/var/lib/unicat".into(),
                );
            }
            return Ok(StoreLocation::Sqlite(PathBuf::from(dir)));
        }
        let url = text
            .strip_prefix("postgres:")
            .filter(|u| u.starts_with("//"));
        let url = match url {
            Some(rest) => format!("postgres:{rest}"),
            None if text.starts_with("postgresql://") => text.to_string(),
            None => {
                return Err(format!(
                    "`{}` is neither sqlite:STATE_DIR nor postgres://USER@HOST:PORT/DATABASE",
                    redact_conninfo(text)
                ))
            }
        };
        check_postgres_url(&url)?;
        let password = match password_env {
            Some(v) => Some(read_secret(None, Some(v))?),
            None => None,
        };
        Ok(StoreLocation::Postgres {
            url,
            password,
            pool_size: default_pool_size(),
        })
    }
}

/// A PostgreSQL URL unicat accepts: the right scheme and no password in it
/// (passwords belong in a file or variable, never in the configuration).
/// No message repeats a password: what is quoted goes through
/// [`redact_conninfo`].
fn check_postgres_url(url: &str) -> Result<(), String> {
    const PASSWORD_HERE: &str =
        "the connection string contains a password: put it in password-file or password-env instead";
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        if conninfo_has_secret(url) {
            return Err(PASSWORD_HERE.into());
        }
        if url.contains('=') {
            return Err(format!(
                "`{}` is a key=value connection string; write it as a URL such as postgres://unicat@db.example.org:5432/unicat",
                redact_conninfo(url)
            ));
        }
        return Err(format!(
            "`{}` is not a PostgreSQL URL such as postgres://unicat@db.example.org:5432/unicat",
            redact_conninfo(url)
        ));
    };
    if conninfo_has_secret(url) {
        return Err(PASSWORD_HERE.into());
    }
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.rsplit('@').next().unwrap_or("").is_empty() {
        return Err(format!("`{}` names no host", redact_conninfo(url)));
    }
    Ok(())
}

/// Whether a connection string option holds a secret: `password`,
/// `sslpassword`, and whatever else a future libpq calls a password.
fn is_secret_key(key: &str) -> bool {
    key.to_ascii_lowercase().contains("password")
}

/// `%XX` escapes decoded, as PostgreSQL's URL parser reads option names
/// (so that `pass%77ord=` is seen for what it is); invalid escapes are
/// kept as they are.
pub(crate) fn percent_decode_lossy(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `scheme://` prefix of a URL, if the text is one.
fn url_scheme(s: &str) -> Option<&str> {
    let (scheme, _) = s.split_once("://")?;
    (!scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// One `key = value` item of a libpq key=value connection string: the
/// key, and the byte ranges of the whole item and of its value. A quoted
/// value (`'…'`, with `\` escapes) that is never closed runs to the end,
/// so that a malformed secret is still covered.
fn conninfo_items(s: &str) -> Vec<(String, Range<usize>, Range<usize>)> {
    let b = s.as_bytes();
    let mut items = Vec::new();
    let mut i = 0;
    let skip_ws = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    loop {
        i = skip_ws(i);
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = s[start..i].to_string();
        let j = skip_ws(i);
        if j >= b.len() || b[j] != b'=' {
            // A word without `=`: not an item; go on after it.
            continue;
        }
        let vstart = skip_ws(j + 1);
        let mut k = vstart;
        if k < b.len() && b[k] == b'\'' {
            k += 1;
            while k < b.len() && b[k] != b'\'' {
                k += if b[k] == b'\\' { 2 } else { 1 };
            }
            k = (k + 1).min(b.len());
        } else {
            while k < b.len() && !b[k].is_ascii_whitespace() {
                k += if b[k] == b'\\' { 2 } else { 1 };
            }
            k = k.min(b.len());
        }
        items.push((key, start..k, vstart..k));
        i = k;
    }
    items
}

/// The `key=value` pairs of a URL's query string, keys decoded, with the
/// byte range (in the whole URL) of each value.
fn url_query_items(url: &str) -> Vec<(String, Range<usize>)> {
    let Some(q) = url.find('?') else {
        return Vec::new();
    };
    let end = url[q..].find('#').map_or(url.len(), |i| q + i);
    let mut items = Vec::new();
    let mut pos = q + 1;
    for part in url[q + 1..end].split('&') {
        if let Some((k, _)) = part.split_once('=') {
            let vstart = pos + k.len() + 1;
            items.push((percent_decode_lossy(k), vstart..pos + part.len()));
        }
        pos += part.len() + 1;
    }
    items
}

/// The byte range of the password in a URL's user info (`user:PASSWORD@`).
fn url_password(url: &str) -> Option<Range<usize>> {
    let scheme = url_scheme(url)?;
    let start = scheme.len() + 3;
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let at = url[start..authority_end].rfind('@')? + start;
    let colon = url[start..at].find(':')? + start;
    Some(colon + 1..at)
}

/// Whether a PostgreSQL connection string (URL or key=value) carries a
/// password or another secret option.
fn conninfo_has_secret(s: &str) -> bool {
    if url_scheme(s).is_some() {
        url_password(s).is_some() || url_query_items(s).iter().any(|(k, _)| is_secret_key(k))
    } else {
        conninfo_items(s).iter().any(|(k, _, _)| is_secret_key(k))
    }
}

/// A connection string (a `postgres://` URL or libpq `key=value` pairs) with
/// every value that can hold a secret replaced by `***`: the password in
/// the user info, and `password`, `sslpassword` (any option named
/// `…password…`) in the query string or the pairs. Everything else stays,
/// so that the message still says which server was meant. Use it wherever
/// a connection string is quoted.
pub fn redact_conninfo(s: &str) -> String {
    let mut secrets: Vec<Range<usize>> = Vec::new();
    if url_scheme(s).is_some() {
        secrets.extend(url_password(s));
        secrets.extend(
            url_query_items(s)
                .into_iter()
                .filter(|(k, _)| is_secret_key(k))
                .map(|(_, v)| v),
        );
    } else {
        secrets.extend(
            conninfo_items(s)
                .into_iter()
                .filter(|(k, _, _)| is_secret_key(k))
                .map(|(_, _, v)| v),
        );
    }
    secrets.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(s.len());
    let mut pos = 0;
    for r in secrets {
        if r.start < pos {
            continue;
        }
        out.push_str(&s[pos..r.start]);
        out.push_str("***");
        pos = r.end;
    }
    out.push_str(&s[pos..]);
    out
}

/// Whether an http(s) URL carries a user name or password (`user@`,
/// `user:password@`): such a URL ends up in logs, in the database and in
/// `status`, so credentials go to an `auth` table instead.
fn url_has_credentials(url: &str) -> bool {
    let Some(scheme) = url_scheme(url) else {
        return false;
    };
    let start = scheme.len() + 3;
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    url[start..authority_end].contains('@')
}

/// `[metrics]`: a Prometheus text endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address to listen on, e.g. `127.0.0.1:9464`; serves `GET /metrics`.
    pub listen: Spanned<String>,
}

impl MetricsConfig {
    /// The listen address (checked by `Config::check`).
    pub fn addr(&self) -> Option<std::net::SocketAddr> {
        self.listen.get_ref().parse().ok()
    }
}

/// `[merge]`: how the base record of a union record is chosen and what is
/// unioned from the other members (see `merge` for the score).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct MergeConfig {
    /// Partner names, most trusted first: their records are preferred as
    /// the base (default: none).
    #[serde(default)]
    pub partner_priority: Vec<String>,
    /// Union the other members' 5XX notes too (default false: notes are
    /// often copy-specific).
    #[serde(default)]
    pub merge_notes: bool,
    /// Cataloguing agencies (040 $a codes, e.g. "DLC") whose records are
    /// preferred as the base (default: none).
    #[serde(default)]
    pub trusted_sources: Vec<String>,
}

impl MergeConfig {
    /// The options the merge functions take.
    pub fn options(&self) -> crate::merge::MergeOptions {
        crate::merge::MergeOptions {
            partner_priority: self.partner_priority.clone(),
            merge_notes: self.merge_notes,
            trusted_sources: self.trusted_sources.clone(),
        }
    }
}

/// `[works]`: links between union records of one work (issue #18): MARC
/// 775/776/765/767/787 fields and the work id in 758.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct WorksConfig {
    /// Link union records of one work (default true). Off for partners
    /// whose systems cannot take linking fields: every link is taken out
    /// of the union records at the next pass.
    pub enabled: bool,
    /// Record pairs, named `(003)001` like `[dedup] never-merge`, whose
    /// union records are never linked. Wins over `always-link`.
    pub never_link: Vec<[String; 2]>,
    /// Record pairs whose union records are always linked (as whatever
    /// relation the records show; another edition when they show none).
    pub always_link: Vec<[String; 2]>,
}

impl Default for WorksConfig {
    fn default() -> Self {
        WorksConfig {
            enabled: true,
            never_link: Vec::new(),
            always_link: Vec::new(),
        }
    }
}

impl WorksConfig {
    /// Meaning-level problems: (key, message) for a pair naming one record
    /// twice or a record not named `(003)001`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (key, pairs) in [
            ("never-link", &self.never_link),
            ("always-link", &self.always_link),
        ] {
            for [a, b] in pairs {
                for id in [a, b] {
                    let named = id
                        .strip_prefix('(')
                        .and_then(|rest| rest.split_once(')'))
                        .is_some_and(|(org, num)| !org.trim().is_empty() && !num.trim().is_empty());
                    if !named {
                        out.push((
                            key,
                            format!(
                                "{id:?} is not a record name; write (003)001, e.g. \"(AZ-BaNL)AZNL000123\""
                            ),
                        ));
                    }
                }
                if a == b {
                    out.push((key, format!("pairs {a:?} with itself; remove it")));
                }
            }
        }
        out
    }
}

/// `[provider]`: the union catalogue as an OAI-PMH 2.0 repository.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ProviderConfig {
    /// Address to listen on (default `127.0.0.1:8080`: local only; put a
    /// reverse proxy in front to publish it).
    #[serde(default = "default_provider_listen")]
    pub listen: Spanned<String>,
    /// repositoryName in Identify (default "unicat union catalogue").
    #[serde(default = "default_repository_name")]
    pub repository_name: String,
    /// The base URL harvesters use, as it appears in responses (default
    /// `http://LISTEN/oai`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// adminEmail in Identify: required, the address harvesters' operators
    /// write to, of the form NAME@HOST.DOMAIN (the OAI-PMH schema's
    /// pattern; `root@localhost` does not match it).
    #[serde(default)]
    pub admin_email: Option<Spanned<String>>,
    /// Records per list response (1–1000, default 100).
    #[serde(default = "default_provider_page")]
    pub page_size: usize,
    /// Seconds a client has to send a whole request head, counted from the
    /// connection's opening or the end of its previous response; so also
    /// how long an idle keep-alive connection is kept (1–3600, default 20).
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
    /// Seconds without a byte moving either way after which a connection
    /// is closed: a client that stopped reading its response or sending
    /// its body (1–3600, default 60).
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
    /// Connections served at once (1–16384, default 256); further ones
    /// wait in the listen queue until one closes.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

impl ProviderConfig {
    /// The listen address (checked by `Config::check`).
    pub fn addr(&self) -> Option<std::net::SocketAddr> {
        self.listen.get_ref().parse().ok()
    }
}

fn default_provider_listen() -> Spanned<String> {
    Spanned::new(0..0, "127.0.0.1:8080".to_string())
}
fn default_repository_name() -> String {
    "unicat union catalogue".to_string()
}
fn default_header_read_timeout() -> u64 {
    20
}
fn default_idle_timeout() -> u64 {
    60
}
fn default_max_connections() -> usize {
    256
}

/// Whether `email` matches the OAI-PMH schema's adminEmail pattern
/// `\S+@(\S+\.)+\S+` (XML Schema patterns match the whole value).
pub fn is_valid_admin_email(email: &str) -> bool {
    static PATTERN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    PATTERN
        .get_or_init(|| regex::Regex::new(r"^\S+@(\S+\.)+\S+$").expect("a valid pattern"))
        .is_match(email)
}

fn default_provider_page() -> usize {
    100
}

/// `[publish]`: the union catalogue's output.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PublishConfig {
    /// Directory the dumps are written to (created if missing).
    pub output_dir: PathBuf,
    /// Cron expression (5 fields, or 6 with seconds first), in UTC, for the
    /// daemon's publish runs. Absent: the daemon publishes after every
    /// harvest that changed something.
    #[serde(default)]
    pub schedule: Option<Spanned<String>>,
    /// More sinks, each with its own progress (`[[publish.sink]]`).
    #[serde(default, rename = "sink")]
    pub sinks: Vec<SinkConfig>,
}

/// `[[publish.sink]]`: one more place the union catalogue goes to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SinkConfig {
    /// Name (its progress is kept under it; letters, digits, `-`, `_`).
    pub name: Spanned<String>,
    /// Directory for dump files (a `files` sink).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// URL to POST changes to (an `http` sink).
    #[serde(default)]
    pub url: Option<String>,
    /// Formats: `marcxml`, `iso2709`, `json` (MARC-in-JSON lines). Files:
    /// default all three; HTTP: the first one given (default `json`).
    #[serde(default)]
    pub formats: Vec<SinkFormat>,
    /// Compress dump files with gzip (files sinks; default false).
    #[serde(default)]
    pub gzip: bool,
    /// Whether a files sink writes a full dump with every publish (default
    /// true). With `false` it writes only the delta and the deletions, which
    /// costs in proportion to the changes, not to the catalogue: for a
    /// frequent feed beside a second sink that keeps full dumps.
    #[serde(default = "default_true")]
    pub full: bool,
    /// How many publishes' files a files sink keeps (default 7, at least 1).
    #[serde(default = "default_retention")]
    pub retention: usize,
    /// Records per HTTP request (1–10000, default 500).
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Retries of a failed HTTP request (default 5).
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// First retry delay in milliseconds, doubling (default 1000).
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
    /// HTTP basic authentication for the push.
    #[serde(default)]
    pub auth: Option<BasicAuth>,
    /// Extra request headers for the push.
    #[serde(default, rename = "header")]
    pub headers: Vec<HeaderSpec>,
}

/// A dump or push format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SinkFormat {
    /// MARCXML collection.
    Marcxml,
    /// ISO 2709 (UTF-8).
    Iso2709,
    /// MARC-in-JSON, one record per line.
    Json,
}

fn default_retention() -> usize {
    7
}
fn default_batch() -> usize {
    500
}

/// One `[[partner]]`: a library whose records are harvested.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Partner {
    /// Short name used on the command line and in logs (letters, digits, `-`, `_`).
    pub name: Spanned<String>,
    /// ISIL-like code written to the holdings (852 $a) and provenance (035).
    pub code: Spanned<String>,
    /// OAI-PMH base URL (http or https).
    pub base_url: Spanned<String>,
    /// OAI-PMH metadataPrefix of MARCXML at this endpoint (default `marc21`).
    #[serde(default = "default_prefix")]
    pub metadata_prefix: String,
    /// Optional OAI-PMH set to harvest.
    #[serde(default)]
    pub set: Option<String>,
    /// Cron expression (5 fields, or 6 with seconds first), in UTC.
    pub schedule: Spanned<String>,
    /// `list-records` (default) or `identifiers`: ListIdentifiers, then
    /// GetRecord for each record, for endpoints whose ListRecords breaks.
    #[serde(default)]
    pub mode: HarvestMode,
    /// Pause between two requests to this endpoint, in milliseconds (default 0).
    #[serde(default)]
    pub request_delay_ms: u64,
    /// Overrides `[harvest] timeout-secs` for this partner.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Overrides `[harvest] max-retries` for this partner.
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// User-Agent header (default `unicat/VERSION (OAI-PMH harvester)`).
    #[serde(default)]
    pub user_agent: Option<String>,
    /// HTTP basic authentication.
    #[serde(default)]
    pub auth: Option<BasicAuth>,
    /// Extra request headers, e.g. an API key.
    #[serde(default, rename = "header")]
    pub headers: Vec<HeaderSpec>,
    /// Other hosts (`host` or `host:port`) that a redirect from this
    /// partner may lead to, or `*` for any host; followed without
    /// `headers` and `auth`, which go to the partner's own origin only.
    /// A link-local or cloud metadata address must be named itself (`*`
    /// does not cover it). Empty (the default): a redirect to another host
    /// fails the run with an error naming both hosts.
    #[serde(default)]
    pub redirect_hosts: Option<Spanned<Vec<String>>>,
    /// Cron expression for reconciliation: a full ListIdentifiers run
    /// compared with the store, for repositories with `deletedRecord` `no`.
    /// Absent: never.
    #[serde(default)]
    pub reconcile_schedule: Option<Spanned<String>>,
    /// Reconciliation refuses to delete anything if the listing holds fewer
    /// than this share of the records we have (0–1, default 0.9): a
    /// near-empty listing is a broken endpoint, not a mass deletion.
    #[serde(default = "default_ratio")]
    pub reconcile_min_ratio: f64,
    /// `[[partner.rule]]`: this partner's local fixes, applied in order to
    /// each record before the built-in normalisation (see `rules`).
    #[serde(default, rename = "rule")]
    pub rules: Vec<Spanned<crate::rules::RuleSpec>>,
    /// `[partner.normalize]`: switch built-in normalisation steps off (all
    /// on by default) or choose NFD.
    #[serde(default)]
    pub normalize: crate::normalize::NormalizeOptions,
}

/// How a partner's records are fetched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HarvestMode {
    /// ListRecords pages.
    #[default]
    ListRecords,
    /// ListIdentifiers pages, then one GetRecord per record.
    Identifiers,
}

/// `[partner.auth]`: HTTP basic authentication. The password comes from a
/// file or an environment variable, never from this file, and is never
/// logged.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BasicAuth {
    /// User name.
    pub user: String,
    /// File holding the password (trailing newline ignored).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
}

impl BasicAuth {
    /// (user, password) with the password read from its file or variable.
    pub fn resolve(&self) -> anyhow::Result<(String, String)> {
        let password = read_secret(self.password_file.as_deref(), self.password_env.as_deref())
            .map_err(|e| anyhow::anyhow!("auth password: {e}"))?;
        Ok((self.user.clone(), password))
    }
}

/// `[[partner.header]]`: one extra request header; give exactly one of
/// `value`, `value-file`, `value-env` (use the last two for secrets).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct HeaderSpec {
    /// Header name.
    pub name: String,
    /// A literal value.
    #[serde(default)]
    pub value: Option<String>,
    /// File holding the value.
    #[serde(default)]
    pub value_file: Option<PathBuf>,
    /// Environment variable holding the value.
    #[serde(default)]
    pub value_env: Option<String>,
}

/// Read a secret from a file or an environment variable. The error names
/// where it looked, never the value.
pub fn read_secret(file: Option<&Path>, env: Option<&str>) -> Result<String, String> {
    match (file, env) {
        (Some(f), None) => std::fs::read_to_string(f)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|e| format!("cannot read secret file {}: {e}", f.display())),
        (None, Some(v)) => {
            std::env::var(v).map_err(|_| format!("environment variable {v} is not set"))
        }
        _ => Err("give exactly one of a file or an environment variable".into()),
    }
}

impl Partner {
    /// The partner's name.
    pub fn name(&self) -> &str {
        self.name.get_ref()
    }
    /// The partner's holdings code.
    pub fn code(&self) -> &str {
        self.code.get_ref()
    }
    /// The partner's OAI-PMH base URL.
    pub fn base_url(&self) -> &str {
        self.base_url.get_ref()
    }

    /// `redirect-hosts` (empty if not set).
    pub fn redirect_hosts(&self) -> &[String] {
        self.redirect_hosts.as_ref().map_or(&[], |h| h.get_ref())
    }

    /// The partner's normalisation options, with the union catalogue's code
    /// (for 040 $d) filled in.
    pub fn normalize_options(&self, catalogue_code: &str) -> crate::normalize::NormalizeOptions {
        crate::normalize::NormalizeOptions {
            union_code: catalogue_code.to_string(),
            ..self.normalize.clone()
        }
    }

    /// The partner's rules, compiled. `Config::check` has refused a config
    /// whose rules do not compile, so an error here cannot happen after a
    /// successful load; it still yields no rules rather than a panic.
    pub fn compiled_rules(&self) -> crate::rules::Rules {
        crate::rules::Rules::compile(&self.rule_specs()).unwrap_or_default()
    }

    fn rule_specs(&self) -> Vec<crate::rules::RuleSpec> {
        self.rules.iter().map(|r| r.get_ref().clone()).collect()
    }
}

fn default_catalogue_code() -> String {
    "UNICAT".to_string()
}
fn default_connect_timeout() -> u64 {
    30
}
fn default_max_response() -> u64 {
    256
}
fn default_concurrency() -> usize {
    4
}
fn default_ratio() -> f64 {
    0.9
}
fn default_grace() -> u64 {
    30
}
fn default_true() -> bool {
    true
}
fn default_timeout() -> u64 {
    120
}
fn default_retries() -> u32 {
    5
}
fn default_backoff() -> u64 {
    1000
}
fn default_prefix() -> String {
    "marc21".to_string()
}

/// A configuration problem, located in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted key path, when known (e.g. `partner.schedule`).
    pub key: Option<String>,
    /// What is wrong, and where possible how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// How far ahead a schedule must have a time at least once. Five years:
/// 29 February comes back within four, and anything that has no time in
/// five years (30 February, 31 April, a year field in the past) is a
/// mistake that would leave a partner silently never harvested.
pub const SCHEDULE_HORIZON_YEARS: u32 = 5;

/// Parse a cron expression as the config accepts it: the usual five fields
/// (minute hour day month weekday), or six with seconds first. The `cron`
/// crate wants seconds, and sysadmins write five fields, so five get a `0`
/// second prepended. An expression that parses but has no time within
/// [`SCHEDULE_HORIZON_YEARS`] from now is refused too.
pub fn parse_schedule(expr: &str) -> Result<cron::Schedule, String> {
    let schedule = parse_cron(expr)?;
    check_fires(expr, &schedule, chrono::Utc::now())?;
    Ok(schedule)
}

/// Refuse a schedule with no time in the [`SCHEDULE_HORIZON_YEARS`] after
/// `now` (a parameter, so that tests can pin the date).
fn check_fires(
    expr: &str,
    schedule: &cron::Schedule,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    let horizon = now
        .checked_add_months(chrono::Months::new(12 * SCHEDULE_HORIZON_YEARS))
        .unwrap_or(now);
    match schedule.after(&now).next() {
        Some(t) if t <= horizon => Ok(()),
        _ => Err(format!(
            "cron expression `{expr}` has no time in the next {SCHEDULE_HORIZON_YEARS} years \
             (a day that does not exist, such as 30 February?), so it would never run"
        )),
    }
}

fn parse_cron(expr: &str) -> Result<cron::Schedule, String> {
    let fields = expr.split_whitespace().count();
    let full = match fields {
        5 => format!("0 {expr}"),
        6 | 7 => expr.to_string(),
        n => {
            return Err(format!(
                "cron expression has {n} fields, expected 5 (min hour day month weekday)"
            ))
        }
    };
    cron::Schedule::from_str(&full).map_err(|e| format!("invalid cron expression `{expr}`: {e}"))
}

impl Config {
    /// Read, parse and check a configuration file.
    pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError {
                file: path.to_path_buf(),
                line: None,
                key: None,
                message: format!("cannot read the file: {e}"),
            }]
        })?;
        let config = Config::parse(path, &text).map_err(|e| vec![e])?;
        config.check(path, &text)?;
        Ok(config)
    }

    /// Parse TOML text; the path is only used in error messages.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        toml::from_str::<Config>(text).map_err(|e| {
            let span = e.span();
            let message = e.message().trim().to_string();
            let key = unknown_field_name(&message)
                .map(|field| {
                    let table = span
                        .clone()
                        .map(|s| table_at(text, s.start))
                        .unwrap_or_default();
                    join_key(&table, &field)
                })
                .or_else(|| span.clone().and_then(|s| key_at(text, s)));
            ConfigError {
                file: path.to_path_buf(),
                line: span.map(|s| line_of(text, s.start)),
                key,
                message,
            }
        })
    }

    /// Meaning-level checks serde cannot do; returns every problem found,
    /// not just the first, so one edit fixes them all.
    pub fn check(&self, path: &Path, text: &str) -> Result<(), Vec<ConfigError>> {
        let mut errors = Vec::new();
        // Problems in keys that carry no span, located by searching the
        // text: (line, key, message).
        let mut errors_at_line: Vec<(Option<usize>, &str, String)> = Vec::new();
        let mut err = |span: Range<usize>, key: &str, message: String| {
            errors.push(ConfigError {
                file: path.to_path_buf(),
                line: Some(line_of(text, span.start)),
                key: Some(key.to_string()),
                message,
            })
        };
        if let Some(schedule) = &self.publish.schedule {
            if let Err(e) = parse_schedule(schedule.get_ref()) {
                err(schedule.span(), "publish.schedule", e);
            }
        }
        let mut names = HashSet::new();
        let mut codes = HashSet::new();
        for p in &self.partners {
            let name = p.name();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                err(
                    p.name.span(),
                    "partner.name",
                    format!(
                        "`{name}` is not a valid partner name: use letters, digits, `-` and `_`"
                    ),
                );
            }
            if !names.insert(name.to_string()) {
                err(
                    p.name.span(),
                    "partner.name",
                    format!("partner `{name}` is defined twice"),
                );
            }
            if p.code().trim().is_empty() || p.code().contains(char::is_whitespace) {
                err(
                    p.code.span(),
                    "partner.code",
                    "code must be non-empty and contain no spaces".into(),
                );
            } else if !codes.insert(p.code().to_string()) {
                err(
                    p.code.span(),
                    "partner.code",
                    format!("code `{}` is used by two partners", p.code()),
                );
            }
            let url = p.base_url();
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
                err(
                    p.base_url.span(),
                    "partner.base-url",
                    format!("`{}` is not an http(s) URL", redact_conninfo(url)),
                );
            }
            if url_has_credentials(url) {
                err(
                    p.base_url.span(),
                    "partner.base-url",
                    format!(
                        "partner `{name}`: the URL holds a user name or password, which would be logged and stored with every run; \
                         remove it and use [partner.auth] (user, with password-file or password-env)"
                    ),
                );
            }
            if let Err(e) = parse_schedule(p.schedule.get_ref()) {
                err(p.schedule.span(), "partner.schedule", e);
            }
            if let Some(r) = &p.reconcile_schedule {
                if let Err(e) = parse_schedule(r.get_ref()) {
                    err(r.span(), "partner.reconcile-schedule", e);
                }
            }
            if !(0.0..=1.0).contains(&p.reconcile_min_ratio) {
                err(
                    p.name.span(),
                    "partner.reconcile-min-ratio",
                    "must be between 0 and 1".into(),
                );
            }
            if let Some(a) = &p.auth {
                if a.password_file.is_some() == a.password_env.is_some() {
                    err(
                        p.name.span(),
                        "partner.auth",
                        "give exactly one of password-file or password-env".into(),
                    );
                }
            }
            if let Err(rule_errors) = crate::rules::Rules::compile(&p.rule_specs()) {
                for e in rule_errors {
                    let span = p.rules.get(e.index).map_or(p.name.span(), |r| r.span());
                    err(span, "partner.rule", format!("partner `{}`: {e}", p.name()));
                }
            }
            for host in p.redirect_hosts() {
                if !valid_redirect_host(host) {
                    let span = p
                        .redirect_hosts
                        .as_ref()
                        .map_or(p.name.span(), |h| h.span());
                    err(
                        span,
                        "partner.redirect-hosts",
                        format!(
                            "`{host}` is not a host name or address, optionally with :port (or `*`)"
                        ),
                    );
                }
            }
            for h in &p.headers {
                let given = [
                    h.value.is_some(),
                    h.value_file.is_some(),
                    h.value_env.is_some(),
                ];
                if given.iter().filter(|g| **g).count() != 1 {
                    err(
                        p.name.span(),
                        "partner.header",
                        format!(
                            "header `{}`: give exactly one of value, value-file, value-env",
                            h.name
                        ),
                    );
                }
                if reqwest::header::HeaderName::from_bytes(h.name.as_bytes()).is_err() {
                    err(
                        p.name.span(),
                        "partner.header",
                        format!("`{}` is not a valid header name", h.name),
                    );
                }
            }
        }
        if let Some(m) = &self.metrics {
            if m.addr().is_none() {
                err(
                    m.listen.span(),
                    "metrics.listen",
                    format!(
                        "`{}` is not an address:port such as 127.0.0.1:9464",
                        m.listen.get_ref()
                    ),
                );
            }
        }
        for problem in self.dedup.problems() {
            err(0..0, "dedup", problem);
        }
        for (key, problem) in self.works.problems() {
            errors_at_line.push((
                find_table_key_line(text, "works", key),
                if key == "never-link" {
                    "works.never-link"
                } else {
                    "works.always-link"
                },
                problem,
            ));
        }
        let partner_names: Vec<&str> = self.partners.iter().map(|p| p.name()).collect();
        for problem in self.merge.options().problems(&partner_names) {
            err(0..0, "merge.partner-priority", problem);
        }
        let mut sink_names = HashSet::new();
        for sink in &self.publish.sinks {
            let name = sink.name.get_ref();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                err(
                    sink.name.span(),
                    "publish.sink.name",
                    format!("`{name}` is not a valid sink name"),
                );
            } else if name == crate::publish::FILE_SINK || !sink_names.insert(name.clone()) {
                err(
                    sink.name.span(),
                    "publish.sink.name",
                    format!("sink name `{name}` is already used"),
                );
            }
            if sink.dir.is_some() == sink.url.is_some() {
                err(
                    sink.name.span(),
                    "publish.sink",
                    format!("sink `{name}`: give exactly one of dir (files) or url (http)"),
                );
            }
            if sink.url.as_deref().is_some_and(url_has_credentials) {
                let line = key_line_after(text, sink.name.span().start, "url");
                errors_at_line.push((
                    line,
                    "publish.sink.url",
                    format!(
                        "sink `{name}`: the URL holds a user name or password, which would be logged; \
                         remove it and use [publish.sink.auth] (user, with password-file or password-env)"
                    ),
                ));
            }
            if sink.retention == 0 {
                err(
                    sink.name.span(),
                    "publish.sink.retention",
                    format!("sink `{name}`: retention must be at least 1"),
                );
            }
            if !(1..=10_000).contains(&sink.batch_size) {
                err(
                    sink.name.span(),
                    "publish.sink.batch-size",
                    format!("sink `{name}`: batch-size must be 1–10000"),
                );
            }
        }
        if let Some(p) = &self.provider {
            if p.addr().is_none() {
                err(
                    p.listen.span(),
                    "provider.listen",
                    format!(
                        "`{}` is not an address:port such as 127.0.0.1:8080",
                        p.listen.get_ref()
                    ),
                );
            }
            if p.base_url.as_deref().is_some_and(url_has_credentials) {
                errors_at_line.push((
                    find_table_key_line(text, "provider", "base-url"),
                    "provider.base-url",
                    "the URL holds a user name or password, which every OAI-PMH response would show to harvesters; remove it"
                        .into(),
                ));
            }
            if !(1..=1000).contains(&p.page_size) {
                err(
                    0..0,
                    "provider.page-size",
                    "must be between 1 and 1000".into(),
                );
            }
            match &p.admin_email {
                None => err(
                    {
                        let at = text.find("[provider]").unwrap_or(0);
                        at..at
                    },
                    "provider.admin-email",
                    "required: Identify must name the address harvesters write to, \
                     e.g. admin-email = \"catalogue@library.example\""
                        .into(),
                ),
                Some(e) if !is_valid_admin_email(e.get_ref()) => err(
                    e.span(),
                    "provider.admin-email",
                    format!(
                        "`{}` is not an address OAI-PMH accepts: it must look like NAME@HOST.DOMAIN",
                        e.get_ref()
                    ),
                ),
                Some(_) => {}
            }
            for (key, secs) in [
                (
                    "provider.header-read-timeout-secs",
                    p.header_read_timeout_secs,
                ),
                ("provider.idle-timeout-secs", p.idle_timeout_secs),
            ] {
                if !(1..=3600).contains(&secs) {
                    err(0..0, key, "must be between 1 and 3600 seconds".into());
                }
            }
            if !(1..=16384).contains(&p.max_connections) {
                err(
                    0..0,
                    "provider.max-connections",
                    "must be between 1 and 16384".into(),
                );
            }
        }
        self.check_store(&mut err);
        if !(1..=3600).contains(&self.daemon.shutdown_grace_secs) {
            err(
                0..0,
                "daemon.shutdown-grace-secs",
                "must be between 1 and 3600 seconds".into(),
            );
        }
        if !(1..=600).contains(&self.harvest.connect_timeout_secs) {
            err(
                0..0,
                "harvest.connect-timeout-secs",
                "must be between 1 and 600 seconds".into(),
            );
        }
        if !(1..=4096).contains(&self.harvest.max_response_mib) {
            err(
                0..0,
                "harvest.max-response-mib",
                "must be between 1 and 4096".into(),
            );
        }
        if !(1..=64).contains(&self.harvest.max_concurrent) {
            err(
                0..0,
                "harvest.max-concurrent",
                "must be between 1 and 64".into(),
            );
        }
        if !(1..=3600).contains(&self.harvest.timeout_secs) {
            err(
                0..0,
                "harvest.timeout-secs",
                "must be between 1 and 3600 seconds".into(),
            );
        }
        if self.harvest.max_retries > 100 {
            err(0..0, "harvest.max-retries", "must be at most 100".into());
        }
        errors.extend(
            errors_at_line
                .into_iter()
                .map(|(line, key, message)| ConfigError {
                    file: path.to_path_buf(),
                    line,
                    key: Some(key.to_string()),
                    message,
                }),
        );
        // Numeric keys are not spanned (span 0..0); find their line by name.
        for e in &mut errors {
            if e.line == Some(1) {
                if let Some((_, k)) = e.key.as_deref().and_then(|k| k.split_once('.')) {
                    e.line = find_key_line(text, k).or(e.line);
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn check_store(&self, err: &mut impl FnMut(Range<usize>, &str, String)) {
        let st = &self.store;
        match (st.backend.get_ref(), &st.url) {
            (StoreBackend::Postgres, None) => err(
                st.backend.span(),
                "store.backend",
                "backend \"postgres\" needs store.url, e.g. postgres://unicat@db.example.org:5432/unicat"
                    .into(),
            ),
            (StoreBackend::Postgres, Some(url)) => {
                if let Err(e) = check_postgres_url(url.get_ref()) {
                    err(url.span(), "store.url", e);
                } else {
                    self.check_store_tls(url, err);
                }
                if st.password_file.is_some() && st.password_env.is_some() {
                    err(
                        url.span(),
                        "store.password-file",
                        "give password-file or password-env, not both".into(),
                    );
                }
            }
            (StoreBackend::Sqlite, Some(url)) => err(
                url.span(),
                "store.url",
                "url applies to backend = \"postgres\" only; the SQLite store is in state-dir".into(),
            ),
            (StoreBackend::Sqlite, None) => {}
        }
        if *st.backend.get_ref() == StoreBackend::Sqlite {
            for (param, span) in st.tls_spans() {
                err(
                    span,
                    &format!("store.{param}"),
                    format!("{param} applies to backend = \"postgres\" only"),
                );
            }
        }
        if !(1..=100).contains(&st.pool_size) {
            err(0..0, "store.pool-size", "must be between 1 and 100".into());
        }
        if !(5..=3600).contains(&st.lease_secs) {
            err(
                0..0,
                "store.lease-secs",
                "must be between 5 and 3600 seconds".into(),
            );
        }
    }

    /// The TLS settings of `[store]` and of its URL, taken together as
    /// the connection will (`store::pg::tls`), so that a bad mode, a file
    /// that cannot be read or holds no certificate or key, a key without
    /// its certificate, a verifying mode without a CA, and a setting the
    /// URL contradicts are refused at start and at reload, each at the key
    /// (or the URL) that set it.
    fn check_store_tls(
        &self,
        url: &Spanned<String>,
        err: &mut impl FnMut(Range<usize>, &str, String),
    ) {
        use crate::store::pg::tls;
        let st = &self.store;
        let keys = match st.tls_params() {
            Ok(keys) => keys,
            Err((span, message)) => return err(span, "store.sslmode", message),
        };
        let spans: Vec<(&str, Range<usize>)> = st.tls_spans();
        let span_of = |param: &str| {
            spans
                .iter()
                .find(|(p, _)| *p == param)
                .map(|(_, s)| s.clone())
        };
        let (plain, in_url) = match tls::split_url(url.get_ref()) {
            Ok(split) => split,
            Err(e) => return err(url.span(), "store.url", e.message),
        };
        for param in tls::PARAMS {
            if let (Some(here), Some(there)) = (keys.value(param), in_url.value(param)) {
                if here != there {
                    let span = span_of(param).unwrap_or(url.span());
                    err(
                        span,
                        &format!("store.{param}"),
                        format!(
                            "store.url sets {param}={there}, this key {here}; give it in one place"
                        ),
                    );
                    return;
                }
            }
        }
        let hosts = match plain.parse::<postgres::Config>() {
            Ok(c) => c.get_hosts().to_vec(),
            Err(e) => return err(url.span(), "store.url", format!("does not parse: {e}")),
        };
        if let Err(e) = keys.or(in_url).connector(&hosts) {
            // At the key that set the parameter; a parameter that is
            // missing (the CA a verifying mode needs) at the line that made
            // it needed, the sslmode key or the URL (whose host chose the
            // default); one from the URL's query string at the URL.
            let (span, key) = match span_of(e.param) {
                Some(span) => (span, format!("store.{}", e.param)),
                None if e.param == "sslrootcert" => (
                    span_of("sslmode").unwrap_or(url.span()),
                    "store.sslrootcert".to_string(),
                ),
                None => (url.span(), "store.url".to_string()),
            };
            err(span, &key, e.message);
        }
    }

    /// Where the store is, with the PostgreSQL password read from its file
    /// or variable.
    pub fn store_location(&self) -> anyhow::Result<StoreLocation> {
        let st = &self.store;
        match (st.backend.get_ref(), &st.url) {
            (StoreBackend::Sqlite, _) => Ok(StoreLocation::Sqlite(self.state_dir.clone())),
            (StoreBackend::Postgres, None) => anyhow::bail!("store.url is not set"),
            (StoreBackend::Postgres, Some(url)) => {
                let password = if st.password_file.is_some() || st.password_env.is_some() {
                    Some(
                        read_secret(st.password_file.as_deref(), st.password_env.as_deref())
                            .map_err(|e| anyhow::anyhow!("store password: {e}"))?,
                    )
                } else {
                    None
                };
                // `[store]`'s TLS keys travel in the URL's query string, as
                // libpq's parameters: one string then says how to reach the
                // database (the pool is kept per URL), for every path that
                // connects.
                let tls = st
                    .tls_params()
                    .map_err(|(_, e)| anyhow::anyhow!("store.sslmode: {e}"))?;
                Ok(StoreLocation::Postgres {
                    url: crate::store::pg::tls::url_with(url.get_ref(), &tls),
                    password,
                    pool_size: st.pool_size,
                })
            }
        }
    }

    /// The lease time of shared-store claims.
    pub fn lease_time(&self) -> Duration {
        Duration::from_secs(self.store.lease_secs)
    }

    /// The partner with this name.
    pub fn partner(&self, name: &str) -> Option<&Partner> {
        self.partners.iter().find(|p| p.name() == name)
    }
}

fn unknown_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// 1-based line number of a byte offset.
/// A `redirect-hosts` entry: `*`, or a host (name, IPv4, `[IPv6]`) with
/// an optional `:port` and nothing else (no scheme, path or user).
fn valid_redirect_host(entry: &str) -> bool {
    if entry == "*" {
        return true;
    }
    if entry.is_empty() || entry.contains(['/', '@', '?', '#']) || entry.contains("://") {
        return false;
    }
    reqwest::Url::parse(&format!("http://{entry}/")).is_ok_and(|u| u.host_str().is_some())
}

fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The dotted name of the table header (`[publish]`, `[[partner]]`) that
/// the byte offset falls under, or an empty string for the top level.
fn table_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    text[..offset]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
        .unwrap_or_default()
}

fn join_key(table: &str, key: &str) -> String {
    if table.is_empty() {
        key.to_string()
    } else {
        format!("{table}.{key}")
    }
}

/// The `key = …` on the line the span starts on, qualified by its table.
fn key_at(text: &str, span: Range<usize>) -> Option<String> {
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || key.starts_with('[') {
        return None;
    }
    Some(join_key(&table_at(text, line_start), key))
}

/// The line of `key = …` inside the table that starts on the line holding
/// `offset` (for keys without a span of their own, e.g. a sink's `url`).
fn key_line_after(text: &str, offset: usize, key: &str) -> Option<usize> {
    let first = line_of(text, offset);
    text.lines()
        .enumerate()
        .skip(first - 1)
        .take_while(|(i, l)| *i + 1 == first || !l.trim_start().starts_with('['))
        .find(|(_, l)| l.split_once('=').is_some_and(|(k, _)| k.trim() == key))
        .map(|(i, _)| i + 1)
        .or(Some(first))
}

/// The line of `key = …` in the table `[table]` (its first occurrence).
fn find_table_key_line(text: &str, table: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            current = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        } else if current == table && t.split_once('=').is_some_and(|(k, _)| k.trim() == key) {
            return Some(i + 1);
        }
    }
    None
}

fn find_key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| l.split_once('=').is_some_and(|(k, _)| k.trim() == key))
        .map(|i| i + 1)
}

/// Every key the parser accepts, found by asking the parser: a table
/// holding only an unknown key makes serde list the table's fields
/// (`unknown field `x`, expected one of ...`), and a field is itself a
/// table (or an array of tables) when `{ x = 1 }` (or `[{ x = 1 }]`)
/// in its place gets the same answer. Nothing is listed by hand, so a
/// field added to any section is found without touching this test.
/// Returns (table path, key, whether the key is a table path itself), in
/// the order serde lists them. The example config and unicat.toml(5)
/// are checked against this list.
pub fn accepted_keys() -> Vec<(Vec<String>, String, bool)> {
    const PROBE: &str = "unicat-probe-key";
    // The fields of the table at `path` (`[]` for an array step), or
    // None if the value there is not a table.
    fn fields_at(path: &[(String, bool)]) -> Option<Vec<String>> {
        let mut value = format!("{{ {PROBE} = 1 }}");
        for (i, (key, array)) in path.iter().enumerate().rev() {
            if *array {
                value = format!("[{value}]");
            }
            value = if i == 0 {
                format!("{key} = {value}")
            } else {
                format!("{{ {key} = {value} }}")
            };
        }
        let text = if path.is_empty() {
            format!("{PROBE} = 1")
        } else {
            value
        };
        let message = match toml::from_str::<Config>(&text) {
            Ok(_) => return None,
            Err(e) => e.message().to_string(),
        };
        let expected = message
            .strip_prefix(&format!("unknown field `{PROBE}`, expected "))?
            .to_string();
        Some(
            expected
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect(),
        )
    }
    let mut out = Vec::new();
    let mut todo: Vec<Vec<(String, bool)>> = vec![Vec::new()];
    while let Some(path) = todo.pop() {
        // Only paths found to be tables are queued, so this holds.
        let fields = fields_at(&path).expect("the path leads to a table");
        for f in fields {
            let mut sub = None;
            for array in [false, true] {
                let mut p = path.clone();
                p.push((f.clone(), array));
                if fields_at(&p).is_some() {
                    sub = Some(p);
                    break;
                }
            }
            let names = path.iter().map(|(k, _)| k.clone()).collect();
            out.push((names, f, sub.is_some()));
            todo.extend(sub);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
state-dir = "/tmp/x"
[publish]
output-dir = "/tmp/out"
schedule = "30 3 * * *"
[[partner]]
name = "anl"
code = "AZ-BaNL"
base-url = "http://127.0.0.1:1/oai"
schedule = "0 2 * * *"
"#;

    // The example must stay parseable: a sysadmin copies it first.
    #[test]
    fn good_config_parses_and_checks() {
        let c = Config::parse(Path::new("u.toml"), GOOD).unwrap();
        c.check(Path::new("u.toml"), GOOD).unwrap();
        assert_eq!(c.partners[0].metadata_prefix, "marc21");
        assert_eq!(c.harvest.max_retries, 5);
    }

    // A typo must be refused with the key and its line, not ignored.
    #[test]
    fn unknown_key_is_refused_with_line_and_key() {
        let text = GOOD.replace("schedule = \"0 2", "shedule = \"0 2");
        let e = Config::parse(Path::new("u.toml"), &text).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("partner.shedule"));
        assert_eq!(e.line, Some(10));
        assert!(
            e.to_string()
                .starts_with("u.toml:10: key `partner.shedule`"),
            "{e}"
        );
    }

    // A wrong type names the key on that line.
    #[test]
    fn wrong_type_names_the_key() {
        let text = format!("{GOOD}\n[harvest]\ntimeout-secs = \"ten\"\n");
        let e = Config::parse(Path::new("u.toml"), &text).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("harvest.timeout-secs"));
        assert_eq!(e.line, Some(13));
    }

    // Meaning-level errors come from check(), all at once, each located.
    #[test]
    fn check_reports_bad_cron_and_url_with_lines() {
        let text = GOOD
            .replace("0 2 * * *", "0 25 * * *")
            .replace("http://127.0.0.1:1/oai", "ftp://x");
        let c = Config::parse(Path::new("u.toml"), &text).unwrap();
        let errs = c.check(Path::new("u.toml"), &text).unwrap_err();
        let keys: Vec<_> = errs
            .iter()
            .map(|e| (e.key.clone().unwrap(), e.line.unwrap()))
            .collect();
        assert!(keys.contains(&("partner.base-url".into(), 9)), "{keys:?}");
        assert!(keys.contains(&("partner.schedule".into(), 10)), "{keys:?}");
    }

    // A redirect-hosts entry that is a URL rather than a host is refused
    // at its line, not silently never matched.
    #[test]
    fn redirect_hosts_must_be_hosts() {
        let text = GOOD.replace(
            "schedule = \"0 2 * * *\"\n",
            "schedule = \"0 2 * * *\"\nredirect-hosts = [\"*\", \"new.example.org:8443\", \"[::1]\", \"https://x/oai\"]\n",
        );
        let c = Config::parse(Path::new("u.toml"), &text).unwrap();
        let errs = c.check(Path::new("u.toml"), &text).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].key.as_deref(), Some("partner.redirect-hosts"));
        assert_eq!(errs[0].line, Some(11));
        assert!(
            errs[0].message.contains("https://x/oai"),
            "{}",
            errs[0].message
        );
    }

    fn store_errors(extra: &str) -> Vec<(String, usize, String)> {
        let text = format!("{GOOD}{extra}");
        let c = Config::parse(Path::new("u.toml"), &text).unwrap();
        match c.check(Path::new("u.toml"), &text) {
            Ok(()) => Vec::new(),
            Err(errs) => errs
                .into_iter()
                .map(|e| (e.key.unwrap(), e.line.unwrap(), e.message))
                .collect(),
        }
    }

    // The store defaults to SQLite in state-dir; a PostgreSQL store needs a
    // URL, refuses one with a password in it, and every mistake is located.
    #[test]
    fn store_section_is_checked_with_keys_and_lines() {
        let c = Config::parse(Path::new("u.toml"), GOOD).unwrap();
        assert_eq!(
            c.store_location().unwrap(),
            StoreLocation::Sqlite(PathBuf::from("/tmp/x"))
        );
        let e = store_errors("[store]\nbackend = \"postgres\"\n");
        assert_eq!((e[0].0.as_str(), e[0].1), ("store.backend", 12), "{e:?}");
        let e = store_errors(
            "[store]\nbackend = \"postgres\"\nurl = \"postgres://u:secret@db/unicat\"\n",
        );
        assert_eq!((e[0].0.as_str(), e[0].1), ("store.url", 13), "{e:?}");
        assert!(e[0].2.contains("password-file"), "{e:?}");
        assert!(
            !e[0].2.contains("secret"),
            "the message repeats the password: {e:?}"
        );
        let e = store_errors("[store]\nurl = \"postgres://u@db/unicat\"\n");
        assert_eq!((e[0].0.as_str(), e[0].1), ("store.url", 12), "{e:?}");
        let e = store_errors(
            "[store]\nbackend = \"postgres\"\nurl = \"postgres://u@localhost/unicat\"\nlease-secs = 1\n",
        );
        assert_eq!((e[0].0.as_str(), e[0].1), ("store.lease-secs", 14), "{e:?}");
        assert!(store_errors(
            "[store]\nbackend = \"postgres\"\nurl = \"postgres://u@localhost:5433/unicat\"\n"
        )
        .is_empty());
    }

    // TLS keys are checked when the file is loaded, so at start and at
    // reload: every mistake at its key and line, files named, and a remote
    // server's default (verify-full) refused without a CA to verify with.
    #[test]
    fn store_tls_keys_are_checked_with_key_line_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let missing = dir.path().join("missing.pem");
        let pg = "[store]\nbackend = \"postgres\"\nurl = \"postgres://u@db.example.org/unicat\"\n";
        let at = |e: &[(String, usize, String)]| (e[0].0.clone(), e[0].1);
        let e = store_errors(pg);
        assert_eq!(at(&e), ("store.sslrootcert".into(), 13), "{e:?}");
        assert!(
            e[0].2.contains("default") && e[0].2.contains("verify-full"),
            "{e:?}"
        );
        let e = store_errors(&format!("{pg}sslmode = \"verify_full\"\n"));
        assert_eq!(at(&e), ("store.sslmode".into(), 14), "{e:?}");
        assert!(e[0].2.contains("verify-full"), "{e:?}");
        let e = store_errors(&format!("{pg}sslmode = \"verify-ca\"\n"));
        assert_eq!(at(&e), ("store.sslrootcert".into(), 14), "{e:?}");
        let e = store_errors(&format!(
            "{pg}sslrootcert = {:?}\n",
            missing.display().to_string()
        ));
        assert_eq!(at(&e), ("store.sslrootcert".into(), 14), "{e:?}");
        assert!(
            e[0].2
                .contains(&format!("cannot read {}", missing.display())),
            "{e:?}"
        );
        let e = store_errors(&format!(
            "{pg}sslrootcert = {:?}\n",
            junk.display().to_string()
        ));
        assert_eq!(at(&e), ("store.sslrootcert".into(), 14), "{e:?}");
        assert!(
            e[0].2
                .contains(&format!("{} holds no PEM certificate", junk.display())),
            "{e:?}"
        );
        let require = format!("{pg}sslmode = \"require\"\n");
        assert!(store_errors(&require).is_empty());
        let e = store_errors(&format!(
            "{require}sslcert = {:?}\n",
            junk.display().to_string()
        ));
        assert_eq!(at(&e), ("store.sslcert".into(), 15), "{e:?}");
        assert!(e[0].2.contains("needs sslkey"), "{e:?}");
        let e = store_errors(&format!(
            "{require}sslkey = {:?}\n",
            junk.display().to_string()
        ));
        assert_eq!(at(&e), ("store.sslkey".into(), 15), "{e:?}");
        let e = store_errors(&format!(
            "{require}sslkey = {:?}\nsslcert = {:?}\n",
            junk.display().to_string(),
            junk.display().to_string()
        ));
        assert!(e[0].2.contains(&junk.display().to_string()), "{e:?}");
        // The URL may carry the parameters too, but must not contradict a key.
        let e = store_errors(&require.replace("/unicat\"", "/unicat?sslmode=disable\""));
        assert_eq!(at(&e), ("store.sslmode".into(), 14), "{e:?}");
        assert!(e[0].2.contains("one place"), "{e:?}");
        let e = store_errors(&pg.replace("/unicat\"", "/unicat?sslmode=verify-fool\""));
        assert_eq!(at(&e), ("store.url".into(), 13), "{e:?}");
        let e = store_errors(&pg.replace("/unicat\"", "/unicat?sslmode=require\""));
        assert!(e.is_empty(), "{e:?}");
        let e = store_errors(&format!(
            "{pg}sslmode = \"disable\"\nsslrootcert = {:?}\n",
            junk.display().to_string()
        ));
        assert_eq!(at(&e), ("store.sslrootcert".into(), 15), "{e:?}");
        // The keys belong to the PostgreSQL store only.
        let e = store_errors("[store]\nsslmode = \"require\"\n");
        assert_eq!(at(&e), ("store.sslmode".into(), 12), "{e:?}");
        // They reach the connection inside the URL.
        let text = format!("{GOOD}{require}");
        let c = Config::parse(Path::new("u.toml"), &text).unwrap();
        let StoreLocation::Postgres { url, .. } = c.store_location().unwrap() else {
            panic!("not postgres")
        };
        assert_eq!(url, "postgres://u@db.example.org/unicat?sslmode=require");
    }

    // The password comes from its variable and never shows in Debug output.
    #[test]
    fn store_password_is_read_and_never_printed() {
        let var = "UNICAT_TEST_STORE_PASSWORD_CONFIG";
        std::env::set_var(var, "s3cr3t");
        let text = format!(
            "{GOOD}[store]\nbackend = \"postgres\"\nurl = \"postgres://u@db/unicat\"\npassword-env = \"{var}\"\n"
        );
        let c = Config::parse(Path::new("u.toml"), &text).unwrap();
        let loc = c.store_location().unwrap();
        let StoreLocation::Postgres { password, .. } = &loc else {
            panic!("not postgres: {loc:?}")
        };
        assert_eq!(password.as_deref(), Some("s3cr3t"));
        assert!(!format!("{loc:?}").contains("s3cr3t"));
    }

    // The addresses `migrate-store` takes on its command line.
    #[test]
    fn store_addresses_parse() {
        assert_eq!(
            StoreLocation::parse("sqlite:/var/lib/unicat", None).unwrap(),
            StoreLocation::Sqlite(PathBuf::from("/var/lib/unicat"))
        );
        let pg = StoreLocation::parse("postgres://unicat@db:5432/unicat", None).unwrap();
        assert!(
            matches!(pg, StoreLocation::Postgres { ref url, .. } if url == "postgres://unicat@db:5432/unicat")
        );
        assert!(StoreLocation::parse("postgres://u:pw@db/x", None).is_err());
        assert!(StoreLocation::parse("mysql://db/x", None).is_err());
        assert!(StoreLocation::parse("sqlite:", None).is_err());
    }

    // Per-partner normalisation switches and rules are read from the file;
    // an unknown step name is refused like any other unknown key.
    #[test]
    fn partner_normalize_and_rules_parse() {
        let text =
            format!("{GOOD}[partner.normalize]\nisbd = false\n[[partner.rule]]\ndrop = \"9XX\"\n");
        let c = Config::parse(Path::new("u.toml"), &text).unwrap();
        c.check(Path::new("u.toml"), &text).unwrap();
        assert!(!c.partners[0].normalize.isbd);
        assert!(c.partners[0].normalize.isbn);
        assert_eq!(c.partners[0].compiled_rules().len(), 1);
        let bad = format!("{GOOD}[partner.normalize]\nisdb = false\n");
        let e = Config::parse(Path::new("u.toml"), &bad).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("partner.normalize.isdb"), "{e}");
    }

    // Every value that can hold a secret is replaced, in both forms of a
    // connection string and however it is quoted or encoded; the rest
    // stays, so the message still names the server.
    #[test]
    fn redact_conninfo_hides_every_secret() {
        for (given, shown) in [
            (
                "host=db password=hunter2 dbname=x",
                "host=db password=*** dbname=x",
            ),
            (
                "host=db password = 'hun ter\\'2' user=u",
                "host=db password = *** user=u",
            ),
            ("dbname=x sslpassword=hunter2", "dbname=x sslpassword=***"),
            ("PASSWORD=hunter2", "PASSWORD=***"),
            ("dbname=x password='hunter2", "dbname=x password=***"),
            (
                "postgres://u:hunter2@db:5432/x",
                "postgres://u:***@db:5432/x",
            ),
            (
                "postgresql://u@db/x?sslmode=require&pass%77ord=hunter2#f",
                "postgresql://u@db/x?sslmode=require&pass%77ord=***#f",
            ),
            (
                "postgres://db/x?sslpassword=hunter2&password=hunter2",
                "postgres://db/x?sslpassword=***&password=***",
            ),
            (
                "postgres://u@db/x?application_name=a",
                "postgres://u@db/x?application_name=a",
            ),
            ("just text", "just text"),
        ] {
            assert_eq!(redact_conninfo(given), shown, "{given}");
            assert!(!redact_conninfo(given).contains("hunter2"));
        }
    }

    // The store URL check sees every password, encoded or not, and its
    // messages quote only redacted text.
    #[test]
    fn postgres_url_check_refuses_any_password_without_echoing_it() {
        for url in [
            "postgres://u:hunter2@db/x",
            "postgres://u@db/x?pass%77ord=hunter2",
            "postgres://u@db/x?sslpassword=hunter2",
            "host=db password=hunter2",
            "host=db sslpassword='hunter2'",
        ] {
            let e = check_postgres_url(url).unwrap_err();
            assert!(e.contains("password-file"), "{url}: {e}");
            assert!(!e.contains("hunter2"), "{url}: {e}");
        }
        let e = check_postgres_url("host=db dbname=x").unwrap_err();
        assert!(e.contains("key=value"), "{e}");
        let e = StoreLocation::parse("host=db password=hunter2", None).unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        check_postgres_url("postgres://u@db:5432/x?sslmode=require").unwrap();
    }

    // A user name or password in an outgoing URL is found wherever the
    // authority ends; an `@` in the path or query is not user info.
    #[test]
    fn credentials_in_urls_are_found() {
        for url in [
            "http://u:p@h/oai",
            "https://u@h:8080/oai",
            "http://u:p@h?x=1",
            "http://u:p@h",
        ] {
            assert!(url_has_credentials(url), "{url}");
        }
        for url in [
            "http://h/oai",
            "http://h/oai?email=a@b",
            "http://h/a@b",
            "not a url",
        ] {
            assert!(!url_has_credentials(url), "{url}");
        }
    }

    // A schedule that never comes round is refused; 29 February, which
    // comes back within four years, is not, whatever the date today.
    #[test]
    fn schedules_that_never_fire_are_refused() {
        let at = |y, m, d| {
            chrono::NaiveDate::from_ymd_opt(y, m, d)
                .unwrap()
                .and_hms_opt(12, 0, 0)
                .unwrap()
                .and_utc()
        };
        for expr in ["0 3 30 2 *", "0 3 31 4 *", "0 0 3 31 11 * 2020"] {
            let s = parse_cron(expr).unwrap();
            let e = check_fires(expr, &s, at(2026, 12, 6)).unwrap_err();
            assert!(e.contains(expr) && e.contains("never run"), "{e}");
        }
        let leap = parse_cron("0 3 29 2 *").unwrap();
        for (y, m, d) in [(2024, 3, 1), (2026, 12, 6), (2027, 3, 1), (2028, 2, 29)] {
            check_fires("0 3 29 2 *", &leap, at(y, m, d)).unwrap();
        }
        // A year field far ahead is as good as never for a harvest.
        let late = parse_cron("0 0 3 1 1 * 2040").unwrap();
        assert!(check_fires("", &late, at(2026, 12, 6)).is_err());
        assert!(parse_schedule("0 3 30 2 *").is_err());
        assert!(parse_schedule("0 3 29 2 *").is_ok());
    }

    // Regression (#19): `[provider]` was missing from the example config.
    // Every key the parser accepts must be documented in
    // config/unicat.example.toml, in its own section: as `key = ...`
    // (commented out or not, inline tables included) between the
    // section's header and the next header, or, for a sub-table, as its
    // `[section.key]` header. A new option without documentation fails.
    #[test]
    fn every_accepted_key_is_in_the_example_config() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/unicat.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let header =
            regex::Regex::new(r"^\s*#?\s*\[\[?\s*([A-Za-z0-9_.-]+)\s*\]\]?\s*(#.*)?$").unwrap();
        // Each header with the text up to the next one.
        let mut sections: Vec<(String, String)> = vec![(String::new(), String::new())];
        for line in text.lines() {
            if let Some(c) = header.captures(line) {
                sections.push((c[1].to_string(), String::new()));
            } else {
                let last = sections.last_mut().unwrap();
                last.1.push_str(line);
                last.1.push('\n');
            }
        }
        let keys = accepted_keys();
        assert!(keys.len() > 50, "too few keys found: {keys:?}");
        let mut missing = Vec::new();
        for (table, key, is_table) in &keys {
            let full = table
                .iter()
                .chain([key])
                .cloned()
                .collect::<Vec<_>>()
                .join(".");
            if *is_table && sections.iter().any(|(h, _)| *h == full) {
                continue;
            }
            // The section of the nearest enclosing table that has a header
            // (`move = { from = ... }` is documented under [[partner.rule]]).
            // A header may come more than once (`[[publish.sink]]`): all
            // of its sections count.
            let mut t = table.clone();
            let body = loop {
                let name = t.join(".");
                let bodies: Vec<&str> = sections
                    .iter()
                    .filter(|(h, _)| *h == name)
                    .map(|(_, b)| b.as_str())
                    .collect();
                if !bodies.is_empty() {
                    break bodies.concat();
                }
                t.pop();
            };
            let assign =
                regex::Regex::new(&format!(r"(^|[\s#{{,]){}\s*=", regex::escape(key))).unwrap();
            if !body.lines().any(|l| assign.is_match(l)) {
                missing.push(full);
            }
        }
        assert!(
            missing.is_empty(),
            "keys the parser accepts but {} does not document: {missing:?}",
            path.display()
        );
    }

    // The example's commented [provider] table, uncommented as a sysadmin
    // would, is a valid configuration: the documentation is not just
    // present but right.
    #[test]
    fn example_provider_section_checks_when_uncommented() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/unicat.example.toml");
        let example = std::fs::read_to_string(&path).unwrap();
        let start = example.find("# [provider]").expect("a [provider] section");
        let mut text = format!("{GOOD}[provider]\n");
        for line in example[start..].lines().skip(1) {
            let Some(body) = line.strip_prefix("# ") else {
                break;
            };
            if body.starts_with('[') {
                break;
            }
            if body.contains(" = ") {
                text.push_str(body);
                text.push('\n');
            }
        }
        let c = Config::parse(Path::new("u.toml"), &text).unwrap();
        c.check(Path::new("u.toml"), &text).unwrap();
        let p = c.provider.expect("the provider table");
        assert_eq!(p.base_url.as_deref(), Some("https://union.example.org/oai"));
        assert_eq!(p.page_size, 100);
    }

    // Five-field cron (what sysadmins write) and six-field both work.
    #[test]
    fn cron_five_and_six_fields() {
        assert!(parse_schedule("0 2 * * *").is_ok());
        assert!(parse_schedule("0 0 2 * * *").is_ok());
        assert!(parse_schedule("0 2 * *").is_err());
    }
}
