//! Prometheus metrics: a text endpoint (`GET /metrics`) with per-partner
//! counters and gauges and the catalogue's size; the same listener serves
//! the status page (`crate::status`).
//!
//! Most figures are read from the store at scrape time, so they survive
//! restarts and agree with `unicat status`; only the HTTP request and
//! retry counts (to partners, and to our OAI-PMH provider by verb) are kept
//! in memory (Prometheus handles the counter reset when the daemon
//! restarts). Each partner's schedule is exported as the longest gap
//! between its next runs (`unicat_partner_schedule_interval_seconds`), so
//! that an alert rule can say "no success within twice the interval"
//! without knowing the configuration. The dashboard and alert rules in
//! `monitoring/` use these names; `tests/monitoring.rs` keeps them in step.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::sync::watch;

use crate::config::StoreLocation;
use crate::harvest::Observer;
use crate::jobs::Jobs;
use crate::store::{PartnerTotals, Store};

/// The OAI-PMH verbs, the label values of `unicat_provider_requests_total`;
/// anything else a client sends counts as `other`, so that clients cannot
/// make up label values.
pub const PROVIDER_VERBS: [&str; 7] = [
    "Identify",
    "ListMetadataFormats",
    "ListSets",
    "ListIdentifiers",
    "ListRecords",
    "GetRecord",
    "other",
];

/// In-memory request counters per partner, and of the provider per verb.
pub struct Metrics {
    counters: Mutex<BTreeMap<String, (u64, u64)>>,
    provider: Mutex<BTreeMap<&'static str, u64>>,
    /// When the daemon started (Unix time): a partner never harvested is
    /// late once twice its interval has passed since then.
    started: f64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            counters: Mutex::default(),
            provider: Mutex::default(),
            started: chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
        }
    }
}

impl Metrics {
    /// Count a request to our OAI-PMH provider with this `verb` argument.
    pub fn provider_request(&self, verb: Option<&str>) {
        let verb = PROVIDER_VERBS
            .iter()
            .find(|v| Some(**v) == verb)
            .copied()
            .unwrap_or("other");
        if let Ok(mut c) = self.provider.lock() {
            *c.entry(verb).or_default() += 1;
        }
    }

    fn provider_requests(&self, verb: &str) -> u64 {
        self.provider
            .lock()
            .ok()
            .and_then(|c| c.get(verb).copied())
            .unwrap_or_default()
    }

    /// Count an HTTP request to a partner.
    pub fn request(&self, partner: &str) {
        if let Ok(mut c) = self.counters.lock() {
            c.entry(partner.to_string()).or_default().0 += 1;
        }
    }

    /// Count a retried request to a partner.
    pub fn retry(&self, partner: &str) {
        if let Ok(mut c) = self.counters.lock() {
            c.entry(partner.to_string()).or_default().1 += 1;
        }
    }

    fn get(&self, partner: &str) -> (u64, u64) {
        self.counters
            .lock()
            .ok()
            .and_then(|c| c.get(partner).copied())
            .unwrap_or_default()
    }
}

impl Observer for Metrics {
    fn request(&self, partner: &str) {
        Metrics::request(self, partner);
    }
    fn retry(&self, partner: &str) {
        Metrics::retry(self, partner);
    }
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

/// Picks one figure from a partner's totals and (requests, retries).
type Pick = dyn Fn(&PartnerTotals, (u64, u64)) -> Option<f64>;

/// The longest gap, in seconds, between consecutive runs of a cron
/// schedule over its next [`INTERVAL_RUNS`] runs from `now`: the interval
/// within which a healthy partner succeeds (a weekday schedule's is the
/// weekend's three days, not one). `None` if the expression does not parse.
pub fn schedule_interval(expr: &str, now: chrono::DateTime<chrono::Utc>) -> Option<f64> {
    let schedule = crate::config::parse_schedule(expr).ok()?;
    let times: Vec<_> = schedule.after(&now).take(INTERVAL_RUNS).collect();
    times
        .windows(2)
        .map(|w| (w[1] - w[0]).num_milliseconds() as f64 / 1000.0)
        .reduce(f64::max)
}

/// How many upcoming runs [`schedule_interval`] looks at: enough to cover
/// a week of a daily or weekday schedule.
const INTERVAL_RUNS: usize = 16;

/// One partner for [`render`]: its name and cron schedule.
pub struct PartnerLabel {
    /// The partner's name, the `partner` label.
    pub name: String,
    /// Its harvest schedule (cron).
    pub schedule: String,
}

/// The metrics text for these partners, from the store and the counters.
pub fn render(store: &Store, partners: &[PartnerLabel], counters: &Metrics) -> Result<String> {
    let mut out = String::new();
    let mut rows = Vec::new();
    let now = chrono::Utc::now();
    let mut intervals = Vec::new();
    for p in partners {
        let label = format!("{{partner=\"{}\"}}", p.name);
        if let Some(i) = schedule_interval(&p.schedule, now) {
            intervals.push((label.clone(), i));
        }
        rows.push((label, store.partner_totals(&p.name)?, counters.get(&p.name)));
    }
    let series = |f: &Pick| -> Vec<(String, f64)> {
        rows.iter()
            .filter_map(|(l, t, c)| f(t, *c).map(|v| (l.clone(), v)))
            .collect()
    };
    metric(
        &mut out,
        "unicat_records_harvested_total",
        "counter",
        "Records received (new, updated or unchanged).",
        &series(&|t, _| Some(t.harvested as f64)),
    );
    metric(
        &mut out,
        "unicat_records_deleted_total",
        "counter",
        "Deletions applied.",
        &series(&|t, _| Some(t.deleted as f64)),
    );
    metric(
        &mut out,
        "unicat_records_quarantined_total",
        "counter",
        "Records set aside as unreadable.",
        &series(&|t, _| Some(t.quarantined as f64)),
    );
    metric(
        &mut out,
        "unicat_harvest_runs_total",
        "counter",
        "Harvest runs.",
        &series(&|t, _| Some(t.runs as f64)),
    );
    metric(
        &mut out,
        "unicat_harvest_failures_total",
        "counter",
        "Harvest runs that failed.",
        &series(&|t, _| Some(t.failed_runs as f64)),
    );
    metric(
        &mut out,
        "unicat_requests_total",
        "counter",
        "HTTP requests sent since the daemon started.",
        &series(&|_, c| Some(c.0 as f64)),
    );
    metric(
        &mut out,
        "unicat_retries_total",
        "counter",
        "HTTP requests retried since the daemon started.",
        &series(&|_, c| Some(c.1 as f64)),
    );
    metric(
        &mut out,
        "unicat_last_success_timestamp_seconds",
        "gauge",
        "When the last successful harvest finished (Unix time).",
        &series(&|t, _| t.last_success.map(|v| v as f64)),
    );
    metric(
        &mut out,
        "unicat_last_run_duration_seconds",
        "gauge",
        "Duration of the last successful harvest.",
        &series(&|t, _| t.last_duration_secs),
    );
    metric(
        &mut out,
        "unicat_start_time_seconds",
        "gauge",
        "When the daemon started (Unix time).",
        &[(String::new(), counters.started)],
    );
    metric(
        &mut out,
        "unicat_partner_schedule_interval_seconds",
        "gauge",
        "Longest gap between the partner's next scheduled harvests (the alert rules allow twice this).",
        &intervals,
    );
    metric(
        &mut out,
        "unicat_provider_requests_total",
        "counter",
        "Requests to the OAI-PMH provider since the daemon started, by verb.",
        &PROVIDER_VERBS
            .iter()
            .map(|v| {
                (
                    format!("{{verb=\"{v}\"}}"),
                    counters.provider_requests(v) as f64,
                )
            })
            .collect::<Vec<_>>(),
    );
    let (unions, multi) = store.union_counts()?;
    metric(
        &mut out,
        "unicat_union_records",
        "gauge",
        "Live union records.",
        &[(String::new(), unions as f64)],
    );
    metric(
        &mut out,
        "unicat_clusters_multi",
        "gauge",
        "Union records merged from more than one source record.",
        &[(String::new(), multi as f64)],
    );
    let lag = store.current_seq()? - store.publish_seq(crate::publish::FILE_SINK)?;
    metric(
        &mut out,
        "unicat_publish_lag",
        "gauge",
        "Union record changes not yet published, per sink.",
        &[(
            format!("{{sink=\"{}\"}}", crate::publish::FILE_SINK),
            lag as f64,
        )],
    );
    Ok(out)
}

struct Shared {
    store: StoreLocation,
    metrics: Arc<Metrics>,
    jobs: watch::Receiver<Jobs>,
}

async fn handle(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let partners: Vec<PartnerLabel> = s
        .jobs
        .borrow()
        .config
        .partners
        .iter()
        .map(|p| PartnerLabel {
            name: p.name().to_string(),
            schedule: p.schedule.get_ref().clone(),
        })
        .collect();
    let (at, metrics) = (s.store.clone(), s.metrics.clone());
    let text = tokio::task::spawn_blocking(move || {
        let store = Store::connect(&at)?;
        render(&store, &partners, &metrics)
    })
    .await;
    match text {
        Ok(Ok(t)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            t,
        ),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            format!("{e:#}\n"),
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            format!("{e}\n"),
        ),
    }
}

/// Serve `/metrics` (and the status page, `/status` and `/status.json`)
/// on `listener` until shutdown.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: StoreLocation,
    metrics: Arc<Metrics>,
    jobs: watch::Receiver<Jobs>,
    mut stop: watch::Receiver<bool>,
) {
    let status = crate::status::router(crate::status::StatusSource {
        store: store.clone(),
        jobs: jobs.clone(),
    });
    let shared = Arc::new(Shared {
        store,
        metrics,
        jobs,
    });
    let app = Router::new()
        .route("/metrics", get(handle))
        .with_state(shared)
        .merge(status);
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    // The interval the "not harvested within twice its schedule" alert
    // allows: the longest gap between runs, so a weekday schedule is not
    // late over the weekend.
    #[test]
    fn schedule_interval_is_the_longest_gap_between_runs() {
        let monday = chrono::Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
        assert_eq!(schedule_interval("0 3 * * *", monday), Some(86_400.0));
        assert_eq!(schedule_interval("*/15 * * * *", monday), Some(900.0));
        assert_eq!(
            schedule_interval("0 3 * * 1-5", monday),
            Some(3.0 * 86_400.0)
        );
        assert_eq!(schedule_interval("not cron", monday), None);
    }
}
