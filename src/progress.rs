//! Progress bars for on-demand harvests on a terminal: one bar per
//! partner with pages, records and rate, and the total when the endpoint
//! announces `completeListSize`. In a pipe or under systemd there are no
//! bars, only the log lines, so that nothing garbles a log file.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::harvest::Observer;
use crate::telemetry;

/// Bars for the partners being harvested.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    /// Bars if stderr is an interactive terminal (and not the journal).
    pub fn for_terminal() -> Option<Bars> {
        (std::io::stderr().is_terminal() && !telemetry::under_journald()).then(|| Bars {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
        })
    }

    fn with_bar(&self, partner: &str, f: impl FnOnce(&ProgressBar)) {
        if let Ok(mut bars) = self.bars.lock() {
            let bar = bars.entry(partner.to_string()).or_insert_with(|| {
                let b = self.multi.add(ProgressBar::no_length());
                b.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>12} {spinner} {pos} records, {msg} ({per_sec})",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                b.set_prefix(partner.to_string());
                b
            });
            f(bar);
        }
    }
}

impl Observer for Bars {
    fn run_started(&self, partner: &str, _run_id: i64) {
        self.with_bar(partner, |b| b.set_message("starting"));
    }
    fn page(&self, partner: &str, pages: u32, records: u64, size: Option<u64>) {
        self.with_bar(partner, |b| {
            if let Some(total) = size {
                if b.length().is_none() {
                    b.set_style(
                        ProgressStyle::with_template(
                            "{prefix:>12} [{bar:30}] {pos}/{len} records, {msg} ({per_sec}, eta {eta})",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                }
                b.set_length(total);
            }
            b.set_position(records);
            b.set_message(format!("page {pages}"));
        });
    }
    fn run_finished(&self, partner: &str, ok: bool) {
        self.with_bar(partner, |b| {
            b.finish_with_message(if ok { "done" } else { "failed" });
        });
    }
}
