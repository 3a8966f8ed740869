//! The shipped dashboard and alert rules (`monitoring/`, issue #21 item 4)
//! against a running daemon: every metric name their queries use must be
//! exported by `/metrics`, so that a renamed or missing metric cannot leave
//! a panel empty or an alert silent. (The rules' own unit tests are
//! promtool's: `scripts/check-monitoring.sh`.)

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::watched::Watched;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Names of unicat's metrics (`unicat_…`) in a PromQL expression. Every
/// metric the daemon exports has that prefix; the others a query may name
/// (`up`) are Prometheus's own.
fn metric_names(expr: &str, into: &mut BTreeSet<String>) {
    let re = regex::Regex::new(r"\bunicat_[a-zA-Z0-9_:]*").unwrap();
    into.extend(re.find_iter(expr).map(|m| m.as_str().to_string()));
}

/// Every `expr` (panel targets) and variable query of the dashboard.
fn dashboard_exprs() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("monitoring/grafana/unicat.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr" | "definition", serde_json::Value::String(s)) => {
                            out.push(s.clone())
                        }
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dash, &mut exprs);
    exprs
}

/// Every `expr:` of the alert rules: the rest of its line, or the block
/// indented under `expr: |`.
fn rule_exprs() -> Vec<String> {
    let text =
        std::fs::read_to_string(root().join("monitoring/prometheus/unicat-alerts.yml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut exprs = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start().len();
        if let Some(rest) = line.trim_start().strip_prefix("expr:") {
            let rest = rest.trim();
            if rest == "|" || rest == ">" {
                let mut block = String::new();
                i += 1;
                while i < lines.len() {
                    let l = lines[i];
                    let ind = l.len() - l.trim_start().len();
                    if !l.trim().is_empty() && ind <= indent {
                        break;
                    }
                    block.push_str(l);
                    block.push('\n');
                    i += 1;
                }
                exprs.push(block);
                continue;
            }
            exprs.push(rest.to_string());
        }
        i += 1;
    }
    exprs
}

/// Metric names that have at least one sample in a scrape.
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

// A dashboard panel or alert rule that names a metric the daemon does not
// export shows nothing and never fires: compare their names with a scrape
// of a real daemon that has harvested (and failed one partner).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_alerts_use_only_exported_metrics() {
    let (dash, rules) = (dashboard_exprs(), rule_exprs());
    assert!(
        dash.len() >= 15,
        "the dashboard's queries were found: {dash:?}"
    );
    assert_eq!(rules.len(), 5, "one expr per alert: {rules:?}");
    let mut wanted = BTreeSet::new();
    for e in dash.iter().chain(&rules) {
        metric_names(e, &mut wanted);
    }
    for name in [
        "unicat_partner_schedule_interval_seconds",
        "unicat_last_success_timestamp_seconds",
        "unicat_publish_lag",
        "unicat_records_quarantined_total",
        "unicat_provider_requests_total",
    ] {
        assert!(wanted.contains(name), "{name} is used: {wanted:?}");
    }

    let daemon = Watched::start().await;
    daemon.wait_for_runs().await;
    // One request to the provider, counted by verb.
    let identify = reqwest::get(format!("{}/oai?verb=Identify", daemon.provider))
        .await
        .unwrap();
    assert!(identify.status().is_success());
    let text = reqwest::get(format!("{}/metrics", daemon.metrics))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let have = exported(&text);
    let missing: Vec<_> = wanted.difference(&have).collect();
    assert!(
        missing.is_empty(),
        "used by monitoring/ but not exported: {missing:?}\n{text}"
    );
    // The series the "not harvested" alert compares: one per partner, the
    // longest gap of its schedule (demo partners daily, offline 6-hourly).
    for (p, secs) in [("anl", 86400), ("tsu", 86400), ("offline", 21600)] {
        let series = format!("unicat_partner_schedule_interval_seconds{{partner=\"{p}\"}} {secs}");
        assert!(text.lines().any(|l| l == series), "{series} in\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l == "unicat_provider_requests_total{verb=\"Identify\"} 1"),
        "{text}"
    );
}
