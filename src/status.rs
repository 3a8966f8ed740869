//! The catalogue's state for people and scripts: the facts of `unicat
//! status --json` ([`status_json`]), and the status page that the daemon
//! serves beside `/metrics` and `/oai` (`GET /status`, a small HTML page
//! rendered on the server, no script; `GET /status.json`, the same JSON as
//! the command).
//!
//! Both read the store at request time, through a read-only handle, so the
//! page agrees with `unicat status` whether or not a harvest runs. Every
//! string that comes from data (partner names and codes, error texts from a
//! partner's server) is HTML-escaped ([`escape`]) before it reaches the
//! page. This module must not write to the store.

use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::Result;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use serde_json::Value;
use tokio::sync::watch;

use crate::config::{parse_schedule, Config, StoreLocation};
use crate::jobs::Jobs;
use crate::store::Store;

/// The next time a cron expression fires, as RFC 3339 (none if it does not
/// parse or never fires).
pub fn next_run(schedule: &str) -> Option<String> {
    parse_schedule(schedule)
        .ok()?
        .upcoming(Utc)
        .next()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// The `status` facts as JSON, for scripts and the status page.
pub fn status_json(store: &Store, config: &Config) -> Result<Value> {
    let mut partners = Vec::new();
    for p in &config.partners {
        let run = store.last_run(p.name())?.map(|r| {
            serde_json::json!({
                "run_id": r.id,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "outcome": r.outcome,
                "pages": r.pages,
                "new": r.counts.new,
                "updated": r.counts.updated,
                "unchanged": r.counts.unchanged,
                "deleted": r.counts.deleted,
                "quarantined": r.counts.quarantined,
                "next_from": r.next_from,
                "error": r.error,
            })
        });
        partners.push(serde_json::json!({
            "name": p.name(),
            "code": p.code(),
            "records": store.count_live_records(p.name())?,
            "quarantined": store.count_quarantined(p.name())?,
            "repairs": store.count_repaired(p.name())?,
            "merged_with_other_partners": store.count_merged_with_others(p.name())?,
            "last_harvest": run,
            "next_run": next_run(p.schedule.get_ref()),
        }));
    }
    let leases: Vec<Value> = store
        .leases()?
        .into_iter()
        .map(|l| {
            let (host, pid) = holder_parts(&l.holder);
            serde_json::json!({
                "name": l.name,
                "holder": l.holder,
                "host": host,
                "pid": pid,
                "acquired_at": l.acquired_at,
                "expires_at": l.expires_at,
                "expired": l.expired,
            })
        })
        .collect();
    let (unions, multi) = store.union_counts()?;
    Ok(serde_json::json!({
        "partners": partners,
        // Who holds which work on a shared (PostgreSQL) store; always
        // empty with SQLite.
        "leases": leases,
        "catalogue": {
            "union_records": unions,
            "clusters_with_several_members": multi,
            "change_seq": store.current_seq()?,
            "published_seq": store.publish_seq(crate::publish::FILE_SINK)?,
        }
    }))
}

/// The host and pid of a lease holder `host:pid:tag` (see `lease`); a
/// holder written otherwise (by hand) is all host, without a pid.
pub fn holder_parts(holder: &str) -> (&str, Option<u32>) {
    let mut parts = holder.rsplitn(3, ':');
    let (_tag, pid, host) = (parts.next(), parts.next(), parts.next());
    match (host, pid.and_then(|p| p.parse().ok())) {
        (Some(host), Some(pid)) => (host, Some(pid)),
        _ => (holder, None),
    }
}

/// `s` with `&`, `<`, `>`, `"` and `'` as character references, for text
/// and attribute values alike.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON value as table cell text: strings as they are, numbers as
/// numbers, null as a dash; escaped.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "–".into(),
        Value::String(s) => escape(s),
        other => escape(&other.to_string()),
    }
}

/// The status page for the facts of [`status_json`].
pub fn render_html(status: &Value, catalogue_code: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>unicat status: {code}</title>\n<style>\n\
         body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}\n\
         table {{ border-collapse: collapse; margin-bottom: 1.5em; }}\n\
         th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; white-space: nowrap; }}\n\
         td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}\n\
         th {{ background: #f0f0f0; }}\n\
         .ok {{ color: #176117; font-weight: bold; }}\n\
         .failed {{ color: #a4161a; font-weight: bold; }}\n\
         .interrupted, .running {{ color: #8a5a00; font-weight: bold; }}\n\
         .error {{ color: #a4161a; font-size: 0.9em; white-space: normal; }}\n\
         </style>\n</head>\n<body>\n<h1>unicat union catalogue {code}</h1>\n",
        code = escape(catalogue_code)
    );
    let cat = &status["catalogue"];
    let _ = write!(
        out,
        "<h2>Catalogue</h2>\n<table id=\"catalogue\">\n\
         <tr><th>union records</th><td class=\"n\">{}</td></tr>\n\
         <tr><th>with more than one member</th><td class=\"n\">{}</td></tr>\n\
         <tr><th>change sequence</th><td class=\"n\">{}</td></tr>\n\
         <tr><th>published up to</th><td class=\"n\">{}</td></tr>\n</table>\n",
        cell(&cat["union_records"]),
        cell(&cat["clusters_with_several_members"]),
        cell(&cat["change_seq"]),
        cell(&cat["published_seq"]),
    );
    out.push_str(
        "<h2>Partners</h2>\n<table id=\"partners\">\n<tr><th>partner</th><th>code</th>\
         <th>last run</th><th>outcome</th><th>pages</th><th>new</th><th>updated</th>\
         <th>deleted</th><th>quarantined</th><th>records</th><th>next run</th></tr>\n",
    );
    for p in status["partners"].as_array().into_iter().flatten() {
        let run = &p["last_harvest"];
        let (when, outcome) = if run.is_null() {
            ("never harvested".to_string(), String::new())
        } else {
            let when = if run["finished_at"].is_null() {
                &run["started_at"]
            } else {
                &run["finished_at"]
            };
            let outcome = run["outcome"].as_str().unwrap_or("");
            // The class is one of ours, never the data's.
            let class = match outcome {
                "ok" => "ok",
                "failed" => "failed",
                "interrupted" => "interrupted",
                _ => "running",
            };
            (
                cell(when),
                format!("<span class=\"{class}\">{}</span>", escape(outcome)),
            )
        };
        let _ = writeln!(
            out,
            "<tr class=\"partner\"><td>{}</td><td>{}</td><td>{when}</td><td>{outcome}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            cell(&p["name"]),
            cell(&p["code"]),
            cell(&run["pages"]),
            cell(&run["new"]),
            cell(&run["updated"]),
            cell(&run["deleted"]),
            cell(&run["quarantined"]),
            cell(&p["records"]),
            cell(&p["next_run"]),
        );
        if let Some(e) = run["error"].as_str() {
            let _ = writeln!(
                out,
                "<tr><td></td><td colspan=\"10\" class=\"error\">error: {}</td></tr>",
                escape(e)
            );
        }
    }
    out.push_str("</table>\n");
    let leases = status["leases"].as_array().into_iter().flatten();
    let mut leases = leases.peekable();
    if leases.peek().is_some() {
        out.push_str(
            "<h2>Leases (shared store)</h2>\n<table id=\"leases\">\n<tr><th>work</th>\
             <th>host</th><th>pid</th><th>since</th><th>until</th><th>state</th></tr>\n",
        );
        for l in leases {
            let state = if l["expired"].as_bool() == Some(true) {
                "<span class=\"failed\">expired</span>"
            } else {
                "<span class=\"ok\">held</span>"
            };
            let _ = writeln!(
                out,
                "<tr class=\"lease\"><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td>\
                 <td>{}</td><td>{state}</td></tr>",
                cell(&l["name"]),
                cell(&l["host"]),
                cell(&l["pid"]),
                cell(&l["acquired_at"]),
                cell(&l["expires_at"]),
            );
        }
        out.push_str("</table>\n");
    }
    let _ = write!(
        out,
        "<p>As of {} (UTC); the same as JSON: <a href=\"status.json\">status.json</a>; \
         metrics for Prometheus at <code>/metrics</code> when <code>[metrics]</code> listens.</p>\n\
         </body>\n</html>\n",
        Utc::now().format("%Y-%m-%d %H:%M:%S")
    );
    out
}

/// What the status routes read: where the store is, and the configuration
/// in force (it changes on reload).
#[derive(Clone)]
pub struct StatusSource {
    /// The store.
    pub store: StoreLocation,
    /// The daemon's jobs, holding the configuration in force.
    pub jobs: watch::Receiver<Jobs>,
}

/// How many status requests read the store at once: each counts every
/// partner's records, and the provider's listener may face the internet,
/// so clients asking in a loop wait their turn instead of loading the
/// store.
const CONCURRENT_READS: usize = 2;

struct Shared {
    source: StatusSource,
    permits: tokio::sync::Semaphore,
}

/// `GET /status` and `GET /status.json`.
pub fn router(source: StatusSource) -> Router {
    Router::new()
        .route("/status", get(page))
        .route("/status.json", get(json))
        .with_state(Arc::new(Shared {
            source,
            permits: tokio::sync::Semaphore::new(CONCURRENT_READS),
        }))
}

/// The facts, read on the blocking pool through a read-only store handle.
async fn facts(shared: &Shared) -> Result<(Value, String)> {
    // The semaphore is never closed, so acquiring only waits.
    let _permit = shared.permits.acquire().await;
    let source = &shared.source;
    let config = source.jobs.borrow().config.clone();
    let at = source.store.clone();
    tokio::task::spawn_blocking(move || {
        let store = Store::open_reader(&at, std::time::Duration::from_secs(10))?;
        Ok((status_json(&store, &config)?, config.catalogue_code.clone()))
    })
    .await?
}

fn unavailable(e: &anyhow::Error) -> Response {
    tracing::warn!(error = format!("{e:#}"), "status page failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "10")],
        "the catalogue's status could not be read; try again later\n",
    )
        .into_response()
}

async fn page(State(source): State<Arc<Shared>>) -> Response {
    match facts(&source).await {
        Ok((status, code)) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            render_html(&status, &code),
        )
            .into_response(),
        Err(e) => unavailable(&e),
    }
}

async fn json(State(source): State<Arc<Shared>>) -> Response {
    match facts(&source).await {
        Ok((status, _)) => (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string_pretty(&status).unwrap_or_default() + "\n",
        )
            .into_response(),
        Err(e) => unavailable(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Partner names and a partner server's error text go into the page as
    // text, never as markup.
    // On a shared store the facts name every lease: who (host, pid) holds
    // which work until when, and which have run out; the page shows them.
    #[test]
    fn status_lists_the_shared_store_s_leases() {
        let Some(url) = crate::store::pg::test_database_from_env().unwrap() else {
            return;
        };
        let text = format!(
            "state-dir = \"/nonexistent\"\n[publish]\noutput-dir = \"/nonexistent/out\"\n\
             [store]\nbackend = \"postgres\"\nurl = \"{url}\"\n"
        );
        let config = Config::parse(std::path::Path::new("t.toml"), &text).unwrap();
        let mut store = Store::from_config(&config).unwrap();
        let ttl = std::time::Duration::from_secs(60);
        assert_eq!(
            store
                .try_lease("partner:anl", "vm1:1124:f536", ttl)
                .unwrap(),
            None
        );
        assert_eq!(
            store.try_lease("pipeline", "vm2:7:0001", ttl).unwrap(),
            None
        );
        let facts = status_json(&store, &config).unwrap();
        let leases = facts["leases"].as_array().unwrap();
        assert_eq!(leases.len(), 2);
        assert_eq!(leases[0]["name"], "partner:anl");
        assert_eq!(leases[0]["host"], "vm1");
        assert_eq!(leases[0]["pid"], 1124);
        assert_eq!(leases[0]["expired"], false);
        assert_eq!(leases[1]["name"], "pipeline");
        assert_eq!(leases[1]["holder"], "vm2:7:0001");
        let html = render_html(&facts, "UC");
        assert_eq!(html.matches("<tr class=\"lease\">").count(), 2, "{html}");
        let text = crate::cli::status_text(&config).unwrap();
        assert!(
            text.contains("partner:anl") && text.contains("held    by vm1 pid 1124 since"),
            "{text}"
        );
    }

    #[test]
    fn lease_holders_split_into_host_and_pid() {
        assert_eq!(holder_parts("vm:1124:f536"), ("vm", Some(1124)));
        // A host name with colons (an IPv6 literal) keeps them.
        assert_eq!(holder_parts("fe80::1:77:00aa"), ("fe80::1", Some(77)));
        assert_eq!(holder_parts("by-hand"), ("by-hand", None));
        assert_eq!(holder_parts("host:notapid:tag"), ("host:notapid:tag", None));
    }

    #[test]
    fn data_is_escaped_in_the_page() {
        let status = serde_json::json!({
            "partners": [{
                "name": "<script>alert(1)</script>",
                "code": "A&B",
                "records": 3,
                "next_run": null,
                "last_harvest": {
                    "started_at": "x", "finished_at": "y", "outcome": "failed\"><b>",
                    "pages": 1, "new": 1, "updated": 0, "deleted": 0, "quarantined": 0,
                    "error": "HTTP 500: <html><img src=x onerror=alert(2)></html>"
                }
            }],
            "catalogue": {"union_records": 1, "clusters_with_several_members": 0,
                          "change_seq": 1, "published_seq": 0},
            "leases": [{"name": "partner:<i>x</i>", "holder": "h", "host": "<svg onload=alert(3)>",
                        "pid": 7, "acquired_at": "a", "expires_at": "b", "expired": true}]
        });
        let html = render_html(&status, "<UC>");
        assert!(!html.contains("<svg"), "{html}");
        assert!(!html.contains("<i>x"), "{html}");
        assert!(html.contains("<tr class=\"lease\">") && html.contains(">expired<"));
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("\"><b>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("A&amp;B"));
        assert!(html.contains("&lt;UC&gt;"));
    }
}
