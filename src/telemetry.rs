//! Logging: one `tracing` subscriber writing to stderr, as text or JSON.
//!
//! Under systemd (detected by `JOURNAL_STREAM`, which systemd sets when
//! stderr goes to the journal) lines carry no timestamp, because journald
//! adds its own, and start with a `<N>` syslog priority prefix, which
//! journald turns into the entry's priority so that `journalctl -p warning`
//! shows warnings and errors only. Nothing is logged to stdout: stdout is
//! for command output (`status`, `explain`, the demo summary).

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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let journald = under_journald();
    let fmt = tracing_subscriber::fmt::format().with_target(false);
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
