//! Logging: one `tracing` subscriber writing to stderr, as text or JSON.
//!
//! Under systemd (detected by `JOURNAL_STREAM`, which systemd sets when
//! stderr goes to the journal) lines carry no timestamp, because journald
//! adds its own and a second one is noise. Nothing is logged to stdout:
//! stdout is for command output (`status`, `explain`, the demo summary).

use tracing_subscriber::fmt::time::{ChronoUtc, FormatTime};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Whether stderr is connected to the systemd journal.
pub fn under_journald() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some()
}

/// A time format that writes nothing (journald adds its own).
struct NoTime;

impl FormatTime for NoTime {
    fn format_time(
        &self,
        _w: &mut tracing_subscriber::fmt::format::Writer<'_>,
    ) -> std::fmt::Result {
        Ok(())
    }
}

/// Install the global subscriber. The level comes from `UNICAT_LOG`
/// (`RUST_LOG` syntax), else `default_level`. Safe to call more than once:
/// later calls are ignored, which lets tests and the CLI share the code.
pub fn init(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_env("UNICAT_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let journald = under_journald();
    let _ = match (format, journald) {
        (LogFormat::Json, true) => builder.json().with_timer(NoTime).try_init(),
        (LogFormat::Json, false) => builder.json().with_timer(ChronoUtc::rfc_3339()).try_init(),
        (LogFormat::Text, true) => builder.with_ansi(false).with_timer(NoTime).try_init(),
        (LogFormat::Text, false) => builder.with_timer(ChronoUtc::rfc_3339()).try_init(),
    };
}
