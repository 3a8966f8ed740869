//! Reference documentation generated from the program itself, for the
//! Debian package (`unicat generate-docs DIR`, hidden; run by
//! `scripts/package.sh`): man pages for `unicat` and each of its
//! subcommands from the clap definition (clap_mangen), shell completions
//! for bash, zsh and fish (clap_complete), and unicat.toml(5), which
//! describes every configuration key with its unit and default.
//!
//! unicat.toml(5) cannot drift from the configuration types: the keys it
//! lists are the ones the parser accepts ([`config::accepted_keys`] asks
//! serde), and only their descriptions are written here, in [`KEYS`]. A key
//! the parser accepts with no entry in [`KEYS`], or an entry for a key it
//! does not accept, makes generation fail with the key's name, and the
//! tests in `tests/docs.rs` check that every default written as TOML is
//! the one the parser applies. This module writes files and nothing else.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::CommandFactory;
use roff::{bold, italic, roman, Roff};

use crate::config;
use crate::telemetry::event;

/// A key's default, as unicat.toml(5) states it.
#[derive(Debug, Clone, Copy)]
pub enum KeyDefault {
    /// A TOML value: writing it gives the same configuration as leaving
    /// the key out (tested).
    Toml(&'static str),
    /// A default that is not a plain value (derived from another key,
    /// "absent", "never"), in words.
    Text(&'static str),
    /// The key must be given.
    Required,
}

/// The description of one configuration key.
#[derive(Debug, Clone, Copy)]
pub struct KeyDoc {
    /// The key's full path: `harvest.timeout-secs`, `partner.auth.user`.
    pub key: &'static str,
    /// Its unit or kind of value: `seconds`, `boolean`, `cron expression`.
    pub unit: &'static str,
    /// Its default.
    pub default: KeyDefault,
    /// What it does, in one or a few sentences.
    pub text: &'static str,
}

const fn key(
    key: &'static str,
    unit: &'static str,
    default: KeyDefault,
    text: &'static str,
) -> KeyDoc {
    KeyDoc {
        key,
        unit,
        default,
        text,
    }
}

use KeyDefault::{Required, Text, Toml};

/// Every configuration key, in the order unicat.toml(5) gives them. A key
/// whose path is a table (`harvest`, `partner.auth`) opens a section.
pub const KEYS: &[KeyDoc] = &[
    key("state-dir", "path", Required, "Directory of the SQLite database (unicat.db), the lock files and the store's history; created if missing. Under systemd, the unit's StateDirectory, /var/lib/unicat."),
    key("catalogue-code", "string", Toml("\"UNICAT\""), "The union catalogue's own code, written to 003 of every union record and used in the $w and $0 of work links."),
    key("store", "table", Text("SQLite in state-dir"), "Where the catalogue is stored. Changing it needs a restart; unicat migrate-store moves a SQLite installation to PostgreSQL."),
    key("store.backend", "\"sqlite\" or \"postgres\"", Toml("\"sqlite\""), "sqlite: the embedded database in state-dir, for one server. postgres: a PostgreSQL database that several daemons share, each partner's harvest and the dedup and publish work claimed by one daemon at a time."),
    key("store.url", "PostgreSQL URL", Text("none; required with backend = \"postgres\""), "postgres://USER@HOST:PORT/DATABASE, never with a password (check-config refuses one)."),
    key("store.password-file", "path", Text("none"), "File holding the PostgreSQL password (a trailing newline is ignored)."),
    key("store.password-env", "environment variable name", Text("none"), "Environment variable holding the PostgreSQL password."),
    key("store.sslmode", "disable, prefer, require, verify-ca or verify-full", Text("verify-full for a server on another host; prefer for localhost, a loopback address or a Unix socket"), "TLS to PostgreSQL, with libpq's meanings: disable, never; prefer, if the server offers it, unverified; require, always, the certificate unverified (as libpq, its chain is verified when sslrootcert is given); verify-ca, the server's certificate must be signed by a CA in sslrootcert; verify-full, and it must name the host of url (an IP address SAN for an address). May also be given as url's sslmode=, but not differently in both."),
    key("store.sslrootcert", "path (PEM)", Text("none; required by verify-ca and verify-full"), "The CA certificate(s) to verify the PostgreSQL server's certificate against. Read at start (and checked at reload)."),
    key("store.sslcert", "path (PEM)", Text("none"), "Client certificate (and its chain) for a server that asks for one (pg_hba.conf clientcert=verify-full or cert authentication); needs sslkey."),
    key("store.sslkey", "path (PEM)", Text("none"), "The client certificate's private key, unencrypted (PKCS#8, PKCS#1 or SEC1); refused, as by libpq, if others may read it (mode 0600, or 0640 for a group such as unicat's)."),
    key("store.pool-size", "connections (1-100)", Toml("8"), "PostgreSQL connections this daemon keeps."),
    key("store.lease-secs", "seconds (5-3600)", Toml("60"), "How long a daemon's claim on a partner's harvest or on the pipeline lasts unless renewed: a dead daemon's work is taken over after this."),
    key("log", "table", Text("text format"), "How log lines look."),
    key("log.format", "\"text\" or \"json\"", Toml("\"text\""), "Log format on stderr (--log-format overrides it). Under systemd, text logs go to the journal as structured records (UNICAT_PARTNER, UNICAT_RUN_ID, UNICAT_EVENT fields); json lines stay on stderr for log shippers. The level is set with the UNICAT_LOG environment variable (default info)."),
    key("harvest", "table", Text("the defaults below"), "HTTP and retry options shared by every harvest."),
    key("harvest.timeout-secs", "seconds (1-3600)", Toml("120"), "Timeout of one HTTP request."),
    key("harvest.max-retries", "count (0-100)", Toml("5"), "Retries of a failed page (network error, 5xx, 429, HTML error page or truncated XML with status 200) before the run fails."),
    key("harvest.backoff-ms", "milliseconds", Toml("1000"), "First retry delay; doubles with each retry, with jitter, capped at one hour. A server's Retry-After is honoured instead."),
    key("harvest.overlap-secs", "seconds", Toml("0"), "Subtracted from the next incremental from, to cover clock skew between us and a partner."),
    key("harvest.connect-timeout-secs", "seconds (1-600)", Toml("30"), "Timeout for establishing a connection."),
    key("harvest.max-response-mib", "MiB (1-4096)", Toml("256"), "Largest response accepted; a larger one fails the run instead of exhausting memory."),
    key("harvest.max-concurrent", "partners (1-64)", Toml("4"), "How many partners are harvested at the same time; requests to one endpoint are always one at a time."),
    key("dedup", "table", Text("the defaults below"), "The pair decision: records sharing a match key are merged only if their weighted agreement reaches threshold and no veto applies (different volumes or editions, print against electronic, years further apart than max-year-gap, ISBNs that do not meet, different languages, reprints, clearly different page counts). Weights are what each field's agreement (-1 to 1) counts."),
    key("dedup.threshold", "score", Toml("7.0"), "Weighted agreement needed to merge two records."),
    key("dedup.max-year-gap", "years", Toml("1"), "Publication years further apart than this veto a merge."),
    key("dedup.ignored-identifiers", "list of match keys", Toml("[]"), "Identifiers known to be reused by publishers, in match-key form (isbn:, issn:, oclc:, lccn:, nbn:SOURCE:, nac:AGENCY:, std:KIND:); they neither link nor count."),
    key("dedup.never-merge", "list of pairs of (003)001", Toml("[]"), "Pairs of records that are never merged."),
    key("dedup.always-merge", "list of pairs of (003)001", Toml("[]"), "Pairs of records that are always merged."),
    key("dedup.identifier-weight", "weight", Toml("3.0"), "A shared ISBN, ISSN, LCCN or other identifier."),
    key("dedup.set-identifier-weight", "weight", Toml("1.0"), "A shared ISBN of the whole set."),
    key("dedup.cancelled-isbn-weight", "weight", Toml("1.0"), "An ISBN one record has as cancelled or invalid ($z) and the other as valid."),
    key("dedup.title-weight", "weight", Toml("4.0"), "Title agreement, across scripts."),
    key("dedup.author-weight", "weight", Toml("3.0"), "Author agreement."),
    key("dedup.year-weight", "weight", Toml("1.0"), "Publication year agreement."),
    key("dedup.edition-weight", "weight", Toml("1.0"), "Edition statement agreement."),
    key("dedup.publisher-weight", "weight", Toml("1.0"), "Publisher agreement."),
    key("dedup.publisher-mismatch-weight", "weight", Toml("5.0"), "Against: a clearly different publisher."),
    key("dedup.place-weight", "weight", Toml("1.0"), "Place of publication: same city +1, clearly different -1, an abbreviation such as M. +0.5; never a veto."),
    key("dedup.extent-weight", "weight", Toml("2.0"), "Extent (page count) agreement."),
    key("dedup.series-weight", "weight", Toml("1.0"), "Series agreement."),
    key("dedup.volume-weight", "weight", Toml("1.0"), "Volume number agreement."),
    key("dedup.part-title-weight", "weight", Toml("1.0"), "Part title agreement."),
    key("dedup.language-weight", "weight", Toml("0.5"), "Language agreement."),
    key("dedup.long-title-weight", "weight", Toml("1.5"), "Both full titles have five or more words of four or more letters and agree, and nothing disagrees."),
    key("dedup.subtitle-mismatch-weight", "weight", Toml("6.0"), "Against: subtitles, title words or part titles that clearly differ."),
    key("dedup.uniform-title-mismatch-weight", "weight", Toml("6.0"), "Against: different uniform titles."),
    key("dedup.edition-mismatch-weight", "weight", Toml("4.0"), "Against: edition statements (250) in other words."),
    key("dedup.oclc-mismatch-weight", "weight", Toml("4.0"), "Against: OCLC numbers on both records, none shared."),
    key("merge", "table", Text("the defaults below"), "How a cluster becomes a union record. The base is the member with the highest score: 2 per data field + 1 per subfield + encoding level (full 10, minimal 4) + 5 if 040 $a is a trusted source + 20 x (n - i) for the partner at position i of n in partner-priority; the others add identifiers, subjects, added entries, 880s and, with merge-notes, notes. Changing these rebuilds every union record once."),
    key("merge.partner-priority", "list of partner names", Toml("[]"), "Partners whose records are preferred as the base, first the most."),
    key("merge.trusted-sources", "list of 040 $a codes", Toml("[]"), "Cataloguing agencies whose records are preferred as the base."),
    key("merge.merge-notes", "boolean", Toml("false"), "Whether the other members' notes are added to the union record."),
    key("works", "table", Text("the defaults below"), "Links between union records of one work: other editions (775), other carriers of one edition (776), translations and originals (765/767, 787), volumes of a set (787, 773/774), and the work id in 758 $0. Changing anything here rebuilds every link once."),
    key("works.enabled", "boolean", Toml("true"), "false takes every linking field out of the union records."),
    key("works.never-link", "list of pairs of (003)001", Toml("[]"), "Pairs never linked; wins over always-link."),
    key("works.always-link", "list of pairs of (003)001", Toml("[]"), "Pairs always linked as one work."),
    key("publish", "table", Required, "Where and when the union catalogue is published."),
    key("publish.output-dir", "path", Required, "Directory the union catalogue is written to, each file replaced atomically: union.xml (MARCXML), union.mrc (ISO 2709, UTF-8) and deleted.txt (union ids deleted since the previous publish)."),
    key("publish.schedule", "cron expression (UTC)", Text("absent: publish after every harvest that changed something"), "When the daemon publishes."),
    key("publish.sink", "array of tables", Text("none"), "More outputs, each remembering the change it last received: a files sink (dir) writes full and delta dumps, an http sink (url) POSTs changed records in batches, then the deleted ids to url?deleted=true."),
    key("publish.sink.name", "string", Required, "The sink's name, under which its position is kept."),
    key("publish.sink.dir", "path", Text("none; one of dir or url is required"), "Directory of a files sink: full-S.*, delta-L-S.* and deleted-L-S.txt per publish."),
    key("publish.sink.url", "http(s) URL", Text("none; one of dir or url is required"), "Endpoint of an http sink, without user name or password (use auth)."),
    key("publish.sink.formats", "list of \"marcxml\", \"iso2709\", \"json\"", Text("all three for files; [\"json\"] for http"), "Formats written; an http sink uses the first."),
    key("publish.sink.gzip", "boolean", Toml("false"), "Whether a files sink compresses its files."),
    key("publish.sink.full", "boolean", Toml("true"), "false: a files sink writes only deltas and deletions, whose cost follows the changes."),
    key("publish.sink.retention", "publishes", Toml("7"), "How many publishes a files sink keeps."),
    key("publish.sink.batch-size", "records", Toml("500"), "Records per request of an http sink."),
    key("publish.sink.max-retries", "count", Toml("5"), "Retries of a failed push before the publish fails."),
    key("publish.sink.backoff-ms", "milliseconds", Toml("1000"), "First retry delay of a push; doubles with each retry."),
    key("publish.sink.auth", "table", Text("none"), "HTTP basic authentication for the push."),
    key("publish.sink.auth.user", "string", Required, "User name."),
    key("publish.sink.auth.password-file", "path", Text("none; one of password-file or password-env"), "File holding the password."),
    key("publish.sink.auth.password-env", "environment variable name", Text("none; one of password-file or password-env"), "Environment variable holding the password."),
    key("publish.sink.header", "array of tables", Text("none"), "Extra request headers for the push."),
    key("publish.sink.header.name", "HTTP header name", Required, "The header."),
    key("publish.sink.header.value", "string", Text("none; one of value, value-file or value-env"), "Its value, literally."),
    key("publish.sink.header.value-file", "path", Text("none"), "File holding its value."),
    key("publish.sink.header.value-env", "environment variable name", Text("none"), "Environment variable holding its value."),
    key("daemon", "table", Text("the defaults below"), "Daemon behaviour."),
    key("daemon.shutdown-grace-secs", "seconds (1-3600)", Toml("30"), "Time running harvests get to commit their page after SIGTERM before the daemon exits anyway; keep below the unit's TimeoutStopSec (60 s)."),
    key("daemon.catch-up", "boolean", Toml("true"), "At start, harvest at once every partner whose scheduled run was missed while the daemon was not running (or that was never harvested)."),
    key("metrics", "table", Text("absent: no metrics endpoint"), "Prometheus metrics (GET /metrics). A change takes effect at the next restart."),
    key("metrics.listen", "address:port", Required, "Where /metrics is served, e.g. 127.0.0.1:9464."),
    key("provider", "table", Text("absent: no provider"), "The union catalogue as an OAI-PMH 2.0 repository on /oai, served by unicat run. A change takes effect at the next restart."),
    key("provider.listen", "address:port", Toml("\"127.0.0.1:8080\""), "Where the provider listens (this host only by default; put a reverse proxy with TLS in front)."),
    key("provider.base-url", "http(s) URL", Text("http://LISTEN/oai"), "The URL harvesters use, as written into every response; no user name or password."),
    key("provider.repository-name", "string", Toml("\"unicat union catalogue\""), "repositoryName in Identify."),
    key("provider.admin-email", "e-mail address", Required, "adminEmail in Identify (NAME@HOST.DOMAIN; root@localhost is refused)."),
    key("provider.page-size", "records (1-1000)", Toml("100"), "Records or headers per list response, the rest following by resumption token."),
    key("provider.header-read-timeout-secs", "seconds (1-3600)", Toml("20"), "Time a client has to send a request head (also how long an idle keep-alive connection is kept)."),
    key("provider.idle-timeout-secs", "seconds (1-3600)", Toml("60"), "A connection on which nothing moves this long while no request is being answered is closed."),
    key("provider.max-connections", "connections (1-16384)", Toml("256"), "Connections served at once; more wait in the listen queue. Keep well under the unit's LimitNOFILE (8192)."),
    key("partner", "array of tables", Text("none"), "One [[partner]] table per library."),
    key("partner.name", "letters, digits, - and _", Required, "Short name for the command line and logs (UNICAT_PARTNER in the journal)."),
    key("partner.code", "string (ISIL-like)", Required, "Written to the holdings (852 $a) and provenance (035); the partner's set in the provider."),
    key("partner.base-url", "http(s) URL", Required, "OAI-PMH base URL, without user name or password (use partner.auth)."),
    key("partner.metadata-prefix", "string", Toml("\"marc21\""), "metadataPrefix of MARCXML at this endpoint."),
    key("partner.set", "string", Text("the whole repository"), "OAI-PMH set to harvest."),
    key("partner.schedule", "cron expression (UTC)", Required, "When to harvest."),
    key("partner.mode", "\"list-records\" or \"identifiers\"", Toml("\"list-records\""), "identifiers: ListIdentifiers, then one GetRecord per record, for endpoints whose ListRecords pages break."),
    key("partner.request-delay-ms", "milliseconds", Toml("0"), "Pause between two requests to this endpoint."),
    key("partner.timeout-secs", "seconds (1-3600)", Text("harvest.timeout-secs"), "Overrides harvest.timeout-secs for this partner."),
    key("partner.max-retries", "count (0-100)", Text("harvest.max-retries"), "Overrides harvest.max-retries for this partner."),
    key("partner.user-agent", "string", Text("unicat/VERSION (OAI-PMH harvester)"), "User-Agent header."),
    key("partner.redirect-hosts", "list of host or host:port, or \"*\"", Text("[] (no other host)"), "Other hosts a redirect may lead to, followed without the partner's headers and authentication. Link-local and cloud metadata addresses are followed only if listed by name."),
    key("partner.reconcile-schedule", "cron expression (UTC)", Text("never"), "For repositories with deletedRecord no: when to compare a full ListIdentifiers listing with the store and mark vanished records deleted."),
    key("partner.reconcile-min-ratio", "ratio (0-1)", Toml("0.9"), "Reconciliation deletes nothing if the listing holds fewer than this share of the records held."),
    key("partner.auth", "table", Text("none"), "HTTP basic authentication; the password is read at the start of each run and never logged."),
    key("partner.auth.user", "string", Required, "User name."),
    key("partner.auth.password-file", "path", Text("none; one of password-file or password-env"), "File holding the password."),
    key("partner.auth.password-env", "environment variable name", Text("none; one of password-file or password-env"), "Environment variable holding the password."),
    key("partner.header", "array of tables", Text("none"), "Extra request headers, sent to the base-url's host only."),
    key("partner.header.name", "HTTP header name", Required, "The header."),
    key("partner.header.value", "string", Text("none; one of value, value-file or value-env"), "Its value, literally."),
    key("partner.header.value-file", "path", Text("none"), "File holding its value (for secrets)."),
    key("partner.header.value-env", "environment variable name", Text("none"), "Environment variable holding its value (for secrets)."),
    key("partner.normalize", "table", Text("every step on"), "Built-in normalisation steps; changing them rebuilds the partner's records from the raw ones."),
    key("partner.normalize.unicode", "boolean", Toml("true"), "Bring every value to unicode-form."),
    key("partner.normalize.unicode-form", "\"nfc\" or \"nfd\"", Toml("\"nfc\""), "The Unicode normalisation form."),
    key("partner.normalize.control-characters", "boolean", Toml("true"), "Remove control characters."),
    key("partner.normalize.whitespace", "boolean", Toml("true"), "Trim subfields, collapse runs of spaces."),
    key("partner.normalize.lookalikes", "boolean", Toml("true"), "Repair Latin/Cyrillic look-alike letters in a word."),
    key("partner.normalize.schwa", "boolean", Toml("true"), "Azerbaijani schwa in its word's script."),
    key("partner.normalize.uzbek-apostrophes", "boolean", Toml("true"), "One form of the Uzbek o' and g' and the tutuq belgisi."),
    key("partner.normalize.isbn", "boolean", Toml("true"), "Normalise 020 ISBNs."),
    key("partner.normalize.issn", "boolean", Toml("true"), "Normalise 022 ISSNs."),
    key("partner.normalize.lccn", "boolean", Toml("true"), "Normalise the 010 LCCN."),
    key("partner.normalize.system-numbers", "boolean", Toml("true"), "Canonical 035 system numbers."),
    key("partner.normalize.ismn-ean", "boolean", Toml("true"), "Normalise 024 ISMNs and EANs."),
    key("partner.normalize.fixed-fields", "boolean", Toml("true"), "Repair the 008 where derivable."),
    key("partner.normalize.leader", "boolean", Toml("true"), "Check the leader (reports only)."),
    key("partner.normalize.isbd", "boolean", Toml("true"), "Normalise ISBD punctuation; false keeps the partner's own."),
    key("partner.normalize.provenance", "boolean", Toml("true"), "Keep the partner's 001/003 in a 035."),
    key("partner.normalize.cataloguing-source", "boolean", Toml("true"), "Add catalogue-code to 040 $d."),
    key("partner.rule", "array of tables", Text("none"), "Local fixes, applied in order to each record before the built-in normalisation, one action per rule (drop, move, add or replace), optionally under when. Changing them rebuilds the partner's records from the stored raw records."),
    key("partner.rule.drop", "tag pattern", Text("none"), "Drop fields by tag pattern (9XX), or subfields (852$x)."),
    key("partner.rule.move", "inline table", Text("none"), "Move a field to another tag with mapped subfield codes."),
    key("partner.rule.move.from", "tag", Required, "The field moved."),
    key("partner.rule.move.to", "tag", Required, "Its new tag."),
    key("partner.rule.move.subfields", "table of code = code", Required, "Subfield codes mapped from the old field to the new."),
    key("partner.rule.move.keep-unmapped", "boolean", Text("false"), "Keep the subfields that subfields does not map."),
    key("partner.rule.move.ind1", "one character", Text("the field's own"), "New first indicator."),
    key("partner.rule.move.ind2", "one character", Text("the field's own"), "New second indicator."),
    key("partner.rule.add", "inline table", Text("none"), "Add a field or a subfield."),
    key("partner.rule.add.tag", "tag", Required, "The field added, or added to."),
    key("partner.rule.add.subfield", "subfield code", Text("none"), "The subfield added."),
    key("partner.rule.add.value", "string", Required, "The value added."),
    key("partner.rule.add.to-existing", "boolean", Text("false"), "Add the subfield to the existing field instead of a new field."),
    key("partner.rule.add.if-missing", "boolean", Text("false"), "Add only if the record lacks the field (or subfield)."),
    key("partner.rule.add.ind1", "one character", Text("blank"), "First indicator of a new data field."),
    key("partner.rule.add.ind2", "one character", Text("blank"), "Second indicator of a new data field."),
    key("partner.rule.replace", "inline table", Text("none"), "Replace by regular expression in a subfield or control field."),
    key("partner.rule.replace.field", "tag or tag$code", Required, "Where to replace."),
    key("partner.rule.replace.pattern", "regular expression", Required, "What to replace."),
    key("partner.rule.replace.with", "string", Required, "The replacement ($1 for groups)."),
    key("partner.rule.when", "inline table", Text("always"), "Conditions for the rule: leader-NN and 008-NN positions with lists of accepted values, has and lacks (a field the record has or lacks)."),
];

/// Write the man pages to `dir/man1` and `dir/man5` and the completions to
/// `dir/completions`; returns the files written.
pub fn generate(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let man1 = dir.join("man1");
    let man5 = dir.join("man5");
    let completions = dir.join("completions");
    for d in [&man1, &man5, &completions] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let cmd = crate::cli::Cli::command();
    clap_mangen::generate_to(cmd.clone(), &man1)
        .with_context(|| format!("writing man pages to {}", man1.display()))?;
    // unicat(1) gets what a sysadmin looks up in it and clap does not
    // know: exit codes, environment, files, journal fields.
    let top = man1.join("unicat.1");
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone().disable_help_subcommand(true)).render(&mut page)?;
    page.extend_from_slice(program_sections().as_bytes());
    std::fs::write(&top, page).with_context(|| format!("writing {}", top.display()))?;
    for entry in std::fs::read_dir(&man1)? {
        written.push(entry?.path());
    }
    let page = man5.join("unicat.toml.5");
    std::fs::write(&page, config_page()?).with_context(|| format!("writing {}", page.display()))?;
    written.push(page);
    // The completions offer what `--help` lists: clap_complete would also
    // offer hidden subcommands (this one).
    let visible = clap::Command::new("unicat")
        .version(env!("CARGO_PKG_VERSION"))
        .about(cmd.get_about().cloned().unwrap_or_default())
        .args(cmd.get_arguments().cloned())
        .subcommands(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    for (shell, name) in [
        (clap_complete::Shell::Bash, "unicat"),
        (clap_complete::Shell::Zsh, "_unicat"),
        (clap_complete::Shell::Fish, "unicat.fish"),
    ] {
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut visible.clone(), "unicat", &mut text);
        let path = completions.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    written.sort();
    Ok(written)
}

/// The sections of unicat(1) after clap's: exit status, environment,
/// files, journal fields, see also.
fn program_sections() -> String {
    use crate::cli::{
        EXIT_BUSY, EXIT_CONFIG, EXIT_SOFTWARE, EXIT_STORE, EXIT_TEMPFAIL, EXIT_USAGE,
    };
    let mut r = Roff::new();
    r.control("SH", ["EXIT STATUS"]);
    for (code, text) in [
        (0, "success"),
        (EXIT_USAGE, "bad command line"),
        (EXIT_STORE, "the store is damaged or has vanished where its history says the catalogue was (restore it, or start once with run --reinitialise)"),
        (EXIT_BUSY, "another process (the daemon) is harvesting the partner; nothing was changed, try again later"),
        (EXIT_SOFTWARE, "internal error"),
        (EXIT_TEMPFAIL, "temporary failure: a harvest failed or was interrupted, the disk or quota is full"),
        (EXIT_CONFIG, "configuration error (file, line and key are named)"),
    ] {
        r.control("TP", []);
        r.text([bold(code.to_string())]);
        r.text([roman(text)]);
    }
    r.control("SH", ["ENVIRONMENT"]);
    for (name, text) in [
        ("UNICAT_CONFIG", "the configuration file, if --config is not given"),
        ("UNICAT_LOG", "log level or filter (info by default), e.g. debug"),
        ("NO_COLOR", "when not empty, no colours in log lines on a terminal"),
        ("JOURNAL_STREAM", "set by systemd; when it names stderr, log records go to the journal with UNICAT_* fields"),
    ] {
        r.control("TP", []);
        r.text([bold(name)]);
        r.text([roman(text)]);
    }
    r.control("SH", ["FILES"]);
    for (name, text) in [
        (
            config::DEFAULT_PATH,
            "the configuration, see unicat.toml(5)",
        ),
        (
            "/var/lib/unicat",
            "the state directory of the packaged service: unicat.db, locks, history",
        ),
        (
            "/lib/systemd/system/unicat.service",
            "the systemd unit (the service runs as the user unicat)",
        ),
    ] {
        r.control("TP", []);
        r.text([bold(name)]);
        r.text([roman(text)]);
    }
    r.control("SH", ["JOURNAL FIELDS"]);
    r.text([roman(format!(
        "Under systemd every record carries its fields as {JOURNAL}_PARTNER, {JOURNAL}_RUN_ID and so on; \
         {JOURNAL}_EVENT is {}, {}, {} or {} on the records of those events:",
        event::HARVEST_COMPLETE,
        event::HARVEST_FAILED,
        event::QUARANTINED,
        event::PUBLISHED,
        JOURNAL = crate::telemetry::JOURNAL_FIELD_PREFIX,
    ))]);
    r.control("IP", []);
    r.text([roman("journalctl -u unicat UNICAT_PARTNER=anl")]);
    r.control("IP", []);
    r.text([roman("journalctl UNICAT_EVENT=harvest_failed")]);
    r.control("SH", ["SEE ALSO"]);
    r.text([roman(
        "unicat.toml(5), unicat-run(1), unicat-harvest(1), unicat-status(1), systemctl(1), journalctl(1), /usr/share/doc/unicat/README.md",
    )]);
    r.to_roff()
}

/// The keys the parser accepts that [`KEYS`] does not describe, and the
/// keys [`KEYS`] describes that the parser does not accept.
pub fn key_drift() -> (Vec<String>, Vec<String>) {
    let accepted: Vec<String> = config::accepted_keys()
        .into_iter()
        .map(|(table, key, _)| table.into_iter().chain([key]).collect::<Vec<_>>().join("."))
        .collect();
    let undocumented = accepted
        .iter()
        .filter(|k| !KEYS.iter().any(|d| d.key == k.as_str()))
        .cloned()
        .collect();
    let unknown = KEYS
        .iter()
        .filter(|d| !accepted.iter().any(|k| k == d.key))
        .map(|d| d.key.to_string())
        .collect();
    (undocumented, unknown)
}

/// unicat.toml(5) as roff. Fails if [`KEYS`] and the parser disagree.
pub fn config_page() -> Result<String> {
    let (undocumented, unknown) = key_drift();
    if !undocumented.is_empty() {
        bail!(
            "configuration keys without a description in src/docs.rs KEYS: {}",
            undocumented.join(", ")
        );
    }
    if !unknown.is_empty() {
        bail!(
            "src/docs.rs KEYS describes keys the parser does not accept: {}",
            unknown.join(", ")
        );
    }
    let mut page = Roff::new();
    page.control(
        "TH",
        [
            "UNICAT.TOML",
            "5",
            "",
            &format!("unicat {}", env!("CARGO_PKG_VERSION")),
            "File Formats",
        ],
    );
    page.control("SH", ["NAME"]);
    page.text([roman("unicat.toml - configuration file of unicat")]);
    page.control("SH", ["SYNOPSIS"]);
    page.text([bold(config::DEFAULT_PATH)]);
    page.control("SH", ["DESCRIPTION"]);
    page.text([roman(
        "unicat(1) reads a TOML file, /etc/unicat/unicat.toml unless --config or UNICAT_CONFIG \
         names another. Unknown keys are errors, not ignored options; unicat check-config \
         validates a file and names the file, line and key of every error (exit 78). Cron \
         expressions have five fields (minute hour day-of-month month day-of-week), or six \
         with seconds first, and are evaluated in UTC. The daemon rereads the file on \
         systemctl reload unicat (SIGHUP); state-dir, [store], [metrics] and [provider] need \
         a restart. A commented example is installed as /etc/unicat/unicat.toml and in \
         /usr/share/doc/unicat.",
    )]);
    page.text([roman(
        "Each key below is given with its unit or kind of value and its default in brackets.",
    )]);
    page.control("SH", ["TOP-LEVEL KEYS"]);
    for doc in KEYS {
        let depth = doc.key.matches('.').count();
        let is_table = doc.unit.ends_with("table") || doc.unit.ends_with("tables");
        let default = match doc.default {
            Toml(v) | Text(v) => format!("default {v}"),
            Required => "required".to_string(),
        };
        if is_table && depth == 0 && doc.unit != "inline table" {
            let header = if doc.unit == "array of tables" {
                format!("[[{}]]", doc.key)
            } else {
                format!("[{}]", doc.key)
            };
            page.control("SH", [header.as_str()]);
            page.text([italic(format!("{} [{default}]", doc.unit))]);
            page.control("PP", []);
            page.text([roman(doc.text)]);
        } else if is_table && doc.unit != "inline table" {
            let header = if doc.unit == "array of tables" {
                format!("[[{}]]", doc.key)
            } else {
                format!("[{}]", doc.key)
            };
            page.control("SS", [header.as_str()]);
            page.text([italic(format!("{} [{default}]", doc.unit))]);
            page.control("PP", []);
            page.text([roman(doc.text)]);
        } else {
            // A key is shown relative to its table's section (`timeout-secs`
            // under [harvest]); an inline table's own keys keep their parent
            // (`move.from`), since they have no section of their own.
            let name = match KEYS
                .iter()
                .filter(|t| {
                    (t.unit.ends_with("table") || t.unit.ends_with("tables"))
                        && t.unit != "inline table"
                        && doc.key.starts_with(&format!("{}.", t.key))
                })
                .map(|t| t.key.len() + 1)
                .max()
            {
                Some(cut) => &doc.key[cut..],
                None => doc.key,
            };
            page.control("TP", []);
            page.text([
                bold(name),
                roman(" ("),
                italic(doc.unit),
                roman(format!(") [{default}]")),
            ]);
            page.text([roman(doc.text)]);
        }
    }
    page.control("SH", ["SEE ALSO"]);
    page.text([roman(
        "unicat(1), unicat-check-config(1), unicat-run(1), journalctl(1)",
    )]);
    Ok(page.render())
}
