//! Prometheus metrics: a text endpoint (`GET /metrics`) with per-partner
//! counters and gauges and the catalogue's size.
//!
//! Most figures are read from the store at scrape time, so they survive
//! restarts and agree with `unicat status`; only the HTTP request and
//! retry counts are kept in memory (Prometheus handles the counter reset
//! when the daemon restarts).

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

/// In-memory request counters per partner.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<String, (u64, u64)>>,
}

impl Metrics {
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

/// The metrics text for these partners, from the store and the counters.
pub fn render(store: &Store, partners: &[String], counters: &Metrics) -> Result<String> {
    let mut out = String::new();
    let mut rows = Vec::new();
    for p in partners {
        rows.push((
            format!("{{partner=\"{p}\"}}"),
            store.partner_totals(p)?,
            counters.get(p),
        ));
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
    let partners: Vec<String> = s
        .jobs
        .borrow()
        .config
        .partners
        .iter()
        .map(|p| p.name().to_string())
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

/// Serve `/metrics` on `listener` until shutdown.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: StoreLocation,
    metrics: Arc<Metrics>,
    jobs: watch::Receiver<Jobs>,
    mut stop: watch::Receiver<bool>,
) {
    let shared = Arc::new(Shared {
        store,
        metrics,
        jobs,
    });
    let app = Router::new()
        .route("/metrics", get(handle))
        .with_state(shared);
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
}
