//! Logging: one `tracing` subscriber writing to stderr, as text or JSON,
//! or, under systemd, structured records to the journal.
//!
//! Under systemd (stderr is the stream `JOURNAL_STREAM` names, see
//! [`under_journald`]) and with the text format, every event goes to
//! journald over its native protocol (`tracing-journald`): the message
//! text as `MESSAGE`, the priority from the level (as [`syslog_prefix`]
//! maps it), and every field of the event and of its spans as
//! `UNICAT_FIELD` (`UNICAT_PARTNER`, `UNICAT_RUN_ID`, and `UNICAT_EVENT` on
//! the events sysadmins filter on, named in [`event`]), so that
//! `journalctl UNICAT_EVENT=harvest_failed` works. Nothing then goes to
//! stderr, so journald never sees a line twice. If the journal's socket
//! cannot be reached, and with the JSON format (whose lines log shippers
//! parse), lines go to stderr as before, with no timestamp, because
//! journald adds its own, and a `<N>` syslog priority prefix, which
//! journald turns into the entry's priority so that `journalctl -p warning`
//! shows warnings and errors only. Nothing is logged to stdout: stdout is
//! for command output (`status`, `explain`, the demo summary).
//!
//! Levels are coloured only when stderr is a terminal and `NO_COLOR` is
//! unset or empty (<https://no-color.org/>): a log redirected to a file
//! (`unicat harvest --all 2>harvest.log`) or read by a program must not be
//! full of escape codes.

use std::ffi::OsStr;
use std::io::IsTerminal;

use tracing::{Event, Level, Subscriber};
use tracing_journald::{Priority, PriorityMappings};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{ChronoUtc, FormatTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The values of the `event` field, which journald stores as
/// `UNICAT_EVENT`: the events a sysadmin looks for, each logged at one
/// place (`journalctl UNICAT_EVENT=harvest_failed`).
pub mod event {
    /// A harvest run ended well (its summary line).
    pub const HARVEST_COMPLETE: &str = "harvest_complete";
    /// A harvest run failed (not an interruption).
    pub const HARVEST_FAILED: &str = "harvest_failed";
    /// A record could not be read and was quarantined.
    pub const QUARANTINED: &str = "quarantined";
    /// The union catalogue, or a sink's share of it, was published.
    pub const PUBLISHED: &str = "published";
}

/// The prefix of every field unicat sends to the journal, so that its
/// fields never collide with journald's own (`UNICAT_PARTNER`).
pub const JOURNAL_FIELD_PREFIX: &str = "UNICAT";

/// Whether stderr is connected to the systemd journal: `JOURNAL_STREAM`
/// is set and names stderr's device and inode, as systemd.exec(5) says to
/// check (a process started from a service with its stderr redirected
/// inherits the variable, but not the stream).
pub fn under_journald() -> bool {
    std::env::var_os("JOURNAL_STREAM")
        .is_some_and(|v| journal_stream_matches(&v, stderr_identity()))
}

/// stderr's (device, inode), if it can be told.
fn stderr_identity() -> Option<(u64, u64)> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

/// Whether a `JOURNAL_STREAM` value (`DEVICE:INODE`, both decimal) names
/// the stream whose (device, inode) is `stderr`.
pub fn journal_stream_matches(value: &OsStr, stderr: Option<(u64, u64)>) -> bool {
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    match (dev.parse::<u64>(), ino.parse::<u64>(), stderr) {
        (Ok(dev), Ok(ino), Some(identity)) => (dev, ino) == identity,
        _ => false,
    }
}

/// The journald layer: fields prefixed `UNICAT_`, `SYSLOG_IDENTIFIER`
/// `unicat`, and the priorities of [`syslog_prefix`] (tracing-journald's
/// own would make info a notice, so `journalctl -p notice` would show every
/// line). Fails if the journal's socket cannot be reached.
pub fn journal_layer() -> std::io::Result<tracing_journald::Layer> {
    Ok(tracing_journald::layer()?
        .with_field_prefix(Some(JOURNAL_FIELD_PREFIX.into()))
        .with_syslog_identifier("unicat".into())
        .with_priority_mappings(PriorityMappings {
            error: Priority::Error,
            warn: Priority::Warning,
            info: Priority::Informational,
            debug: Priority::Debug,
            trace: Priority::Debug,
        }))
}

/// Whether log lines get ANSI colours: only on a terminal, and never when
/// `NO_COLOR` holds a non-empty value.
pub fn use_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// A time format that writes nothing (journald adds its own).
struct NoTime;

impl FormatTime for NoTime {
    fn format_time(&self, _w: &mut Writer<'_>) -> std::fmt::Result {
        Ok(())
    }
}

/// The sd-daemon priority prefix of a level (syslog numbering).
pub fn syslog_prefix(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "<3>",
        Level::WARN => "<4>",
        Level::INFO => "<6>",
        Level::DEBUG | Level::TRACE => "<7>",
    }
}

/// Wraps a formatter to put the syslog priority prefix first.
struct JournalPrefix<F>(F);

impl<S, N, F> FormatEvent<S, N> for JournalPrefix<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        writer.write_str(syslog_prefix(event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

/// Install the global subscriber. The level comes from `UNICAT_LOG`, else
/// `RUST_LOG` (same syntax), else `default_level`. Safe to call more than once:
/// later calls are ignored, which lets tests and the CLI share the code.
pub fn init(format: LogFormat, default_level: &str) {
    let filter = EnvFilter::try_from_env("UNICAT_LOG")
        .or_else(|_| EnvFilter::try_from_env("RUST_LOG"))
        .unwrap_or_else(|_| EnvFilter::new(default_level));
    let journald = under_journald();
    if journald && format == LogFormat::Text {
        // The journal's socket missing (a container without journald) is
        // no reason to lose the logs: they go to stderr below.
        if let Ok(layer) = journal_layer() {
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(layer)
                .try_init();
            return;
        }
    }
    let ansi = use_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi);
    let fmt = tracing_subscriber::fmt::format()
        .with_target(false)
        .with_ansi(ansi);
    let _ = match (format, journald) {
        (LogFormat::Json, true) => builder
            .event_format(JournalPrefix(fmt.json().with_timer(NoTime)))
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .try_init(),
        (LogFormat::Json, false) => builder
            .event_format(fmt.json().with_timer(ChronoUtc::rfc_3339()))
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .try_init(),
        (LogFormat::Text, true) => builder
            .with_ansi(false)
            .event_format(JournalPrefix(fmt.with_ansi(false).with_timer(NoTime)))
            .try_init(),
        (LogFormat::Text, false) => builder
            .event_format(fmt.with_timer(ChronoUtc::rfc_3339()))
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    // Colour on a terminal only, and never when NO_COLOR has a value
    // (an empty NO_COLOR does not count, as no-color.org says).
    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some(OsStr::new(""))));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None));
        assert!(!use_colour(false, Some(OsStr::new(""))));
    }

    // JOURNAL_STREAM counts only when it names stderr itself: a process
    // whose stderr was redirected (`unicat harvest 2>log` run from a
    // service's shell) inherits the variable but must keep its text lines.
    #[test]
    fn journal_stream_must_name_stderr() {
        let s = Some((8, 12345));
        assert!(journal_stream_matches(OsStr::new("8:12345"), s));
        assert!(!journal_stream_matches(OsStr::new("8:12346"), s));
        assert!(!journal_stream_matches(OsStr::new("9:12345"), s));
        assert!(!journal_stream_matches(OsStr::new("8:12345"), None));
        for bad in ["", "8", "8:", ":12345", "x:y", "8:12345:1"] {
            assert!(!journal_stream_matches(OsStr::new(bad), s), "{bad}");
        }
    }
}
