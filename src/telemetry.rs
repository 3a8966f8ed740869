//! Logging: one `tracing` subscriber writing to stderr, as text or JSON.
//!
//! Under systemd (detected by `JOURNAL_STREAM`, which systemd sets when
//! stderr goes to the journal) lines carry no timestamp, because journald
//! adds its own, and start with a `<N>` syslog priority prefix, which
//! journald turns into the entry's priority so that `journalctl -p warning`
//! shows warnings and errors only. Nothing is logged to stdout: stdout is
//! for command output (`status`, `explain`, the demo summary).
//!
//! Levels are coloured only when stderr is a terminal and `NO_COLOR` is
//! unset or empty (<https://no-color.org/>): a log redirected to a file
//! (`unicat harvest --all 2>harvest.log`) or read by a program must not be
//! full of escape codes.

use std::io::IsTerminal;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{ChronoUtc, FormatTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Whether stderr is connected to the systemd journal.
pub fn under_journald() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some()
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
    let ansi = use_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi);
    let journald = under_journald();
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
    use std::ffi::OsStr;

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
}
