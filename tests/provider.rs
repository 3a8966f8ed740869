//! The union catalogue's OAI-PMH provider against a real catalogue built
//! from the demo fixtures: schema validity of every verb (xmllint), every
//! error code, full, selective and incremental harvests by an independent
//! harvester (Python sickle), resumption across a restart, and unicat
//! harvesting its own provider.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DurationRound, Utc};
use common::Setup;
use rusqlite::{Connection, OpenFlags};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use unicat::config::Config;
use unicat::demo;
use unicat::jobs::Jobs;
use unicat::provider::{self, ProviderState, IDENTIFIER_PREFIX};
use unicat::store::pg::{test_database_from_env, PgStore};
use unicat_marc::marcxml;
use unicat_oai::{parse_list_records, percent_encode, ListPage};

const SCHEMAS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/schemas");

/// A provider served on 127.0.0.1 at an unused port.
struct Provider {
    base_url: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Provider {
    /// Serve the catalogue of `config_text` (a unicat configuration without
    /// `[provider]`), with `page_size` records per list page.
    async fn start(config_text: &str, dir: &Path, page_size: usize) -> Provider {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base_url = format!("http://{addr}/oai");
        let text = format!(
            "{config_text}\n[provider]\nlisten = \"{addr}\"\nbase-url = \"{base_url}\"\n\
             page-size = {page_size}\nadmin-email = \"catalogue@example.org\"\n"
        );
        let path = dir.join(format!("provider-{}.toml", addr.port()));
        std::fs::write(&path, text).unwrap();
        let config = Config::load(&path).unwrap_or_else(|e| panic!("{e:?}"));
        let state = Arc::new(ProviderState::new(&config).expect("[provider] is configured"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(provider::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Provider {
            base_url,
            stop: Some(stop),
            task,
        }
    }

    /// Shut down and wait until the server has stopped.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap();
    }

    async fn get(&self, query: &str) -> String {
        let resp = reqwest::get(format!("{}?{query}", self.base_url))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{query}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert_eq!(ct, "text/xml; charset=utf-8");
        resp.text().await.unwrap()
    }

    async fn post(&self, form: &str) -> String {
        let resp = reqwest::Client::new()
            .post(&self.base_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{form}");
        resp.text().await.unwrap()
    }

    /// Every page of a list: the bodies, first to last.
    async fn list_all(&self, query: &str) -> Vec<String> {
        let verb = if query.contains("verb=ListIdentifiers") {
            "ListIdentifiers"
        } else {
            "ListRecords"
        };
        let mut bodies = vec![self.get(query).await];
        loop {
            let page = parse_page(bodies.last().unwrap());
            let Some(token) = page.next_token() else {
                break;
            };
            let next = format!("verb={verb}&resumptionToken={}", percent_encode(token));
            bodies.push(self.get(&next).await);
            assert!(bodies.len() < 1000, "list does not end");
        }
        bodies
    }
}

fn parse_page(body: &str) -> ListPage {
    // ListIdentifiers pages parse the same way: headers without metadata.
    unicat_oai::parse_list_identifiers(body.as_bytes())
        .or_else(|_| parse_list_records(body.as_bytes()))
        .unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The code of an OAI-PMH error response, if it is one.
fn error_code(body: &str) -> Option<&str> {
    let start = body.find("<error code=\"")? + "<error code=\"".len();
    body[start..].split('"').next()
}

/// The union records of the store: id → (deleted, datestamp, record).
fn union_rows(setup: &Setup) -> BTreeMap<String, (bool, String, Option<String>)> {
    let conn = Connection::open_with_flags(
        setup.jobs.config.state_dir.join(unicat::store::DB_FILE),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = conn
        .prepare("SELECT cluster_id, deleted, updated_at, record FROM union_records")
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            (
                r.get::<_, i64>(1)? != 0,
                r.get(2)?,
                unicat::store::packed::get(r, 3)?,
            ),
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Live clusters with their members as (partner, OAI identifier).
fn clusters(setup: &Setup) -> BTreeMap<String, Vec<(String, String)>> {
    let conn = Connection::open_with_flags(
        setup.jobs.config.state_dir.join(unicat::store::DB_FILE),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT u.cluster_id, s.partner, s.oai_id FROM union_records u
             JOIN cluster_members c ON c.cluster_id = u.cluster_id
             JOIN source_records s ON s.id = c.record_id WHERE u.deleted = 0",
        )
        .unwrap();
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    for row in rows {
        let (c, p, o): (String, String, String) = row.unwrap();
        out.entry(c).or_default().push((p, o));
    }
    out
}

/// A cluster whose only member is from `partner`, with that member's OAI
/// identifier.
fn singleton_of(
    clusters: &BTreeMap<String, Vec<(String, String)>>,
    partner: &str,
) -> (String, String) {
    clusters
        .iter()
        .find(|(_, m)| m.len() == 1 && m[0].0 == partner)
        .map(|(c, m)| (c.clone(), m[0].1.clone()))
        .unwrap_or_else(|| panic!("no single-member cluster of {partner}"))
}

fn server_of(partner: &str) -> usize {
    demo::PARTNERS
        .iter()
        .position(|p| p.name == partner)
        .unwrap()
}

/// Delete a partner's record at its endpoint, stamped now.
fn delete_at_partner(setup: &Setup, partner: &str, oai_id: &str) {
    let mut repo = setup.servers[server_of(partner)].repo.lock().unwrap();
    assert!(repo.delete(oai_id, Utc::now()), "{oai_id}");
}

/// Change a partner's record's title at its endpoint, stamped now.
fn retitle_at_partner(setup: &Setup, partner: &str, oai_id: &str, title: &str) {
    let mut repo = setup.servers[server_of(partner)].repo.lock().unwrap();
    let rec = repo
        .records
        .iter_mut()
        .find(|r| r.identifier == oai_id)
        .unwrap();
    let mut marc = marcxml::parse_record(&rec.metadata).unwrap();
    for f in &mut marc.fields {
        if let unicat_marc::Field::Data(d) = f {
            if d.tag == "245" {
                d.subfields[0].value = title.to_string();
            }
        }
    }
    rec.metadata = marcxml::to_string(&marc);
    rec.datestamp = Utc::now();
}

/// The configuration text the demo setup wrote.
fn config_text(setup: &Setup) -> String {
    std::fs::read_to_string(&setup.config_path).unwrap()
}

/// A catalogue from the demo fixtures with one deleted union record.
async fn catalogue_with_a_deletion() -> (Setup, String) {
    let setup = Setup::new(50).await;
    setup.harvest_all().await;
    let (deleted, oai_id) = singleton_of(&clusters(&setup), "tsu");
    delete_at_partner(&setup, "tsu", &oai_id);
    setup.harvest_all().await;
    assert!(
        union_rows(&setup)[&deleted].0,
        "{deleted} should be deleted"
    );
    (setup, deleted)
}

/// Run xmllint with `schema` over `docs`, failing with its complaints.
fn xmllint(schema: &Path, docs: &[String], dir: &Path, name: &str) {
    assert!(!docs.is_empty(), "nothing to validate for {name}");
    let mut cmd = common::tool("xmllint", "libxml2-utils");
    cmd.args(["--noout", "--nonet", "--schema"]).arg(schema);
    for (i, doc) in docs.iter().enumerate() {
        let path = dir.join(format!("{name}-{i}.xml"));
        std::fs::write(&path, doc).unwrap();
        cmd.arg(path);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "xmllint rejected {name}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every element between `start` (an opening tag prefix) and `end`.
fn payloads(bodies: &[String], start: &str, end: &str) -> Vec<String> {
    let mut out = Vec::new();
    for body in bodies {
        let mut rest = body.as_str();
        while let Some(i) = rest.find(start) {
            let j = rest[i..].find(end).unwrap() + i + end.len();
            out.push(rest[i..j].to_string());
            rest = &rest[j..];
        }
    }
    out
}

/// oai_dc.xsd with its import of Simple DC pointed at a local stand-in,
/// because xmllint must not fetch dublincore.org. The stand-in declares
/// the 15 elements as strings, as simpledc20021212.xsd does, without the
/// `xml:lang` attribute (whose schema would be another download); we never
/// write `xml:lang`, so the check is, if anything, stricter.
fn local_oai_dc_schema(dir: &Path) -> std::path::PathBuf {
    let original = std::fs::read_to_string(format!("{SCHEMAS}/oai_dc.xsd")).unwrap();
    let remote = "http://dublincore.org/schemas/xmls/simpledc20021212.xsd";
    assert!(original.contains(remote));
    let elements = [
        "title",
        "creator",
        "subject",
        "description",
        "publisher",
        "contributor",
        "date",
        "type",
        "format",
        "identifier",
        "source",
        "language",
        "relation",
        "coverage",
        "rights",
    ]
    .map(|e| format!("  <xs:element name=\"{e}\" type=\"xs:string\"/>\n"))
    .concat();
    std::fs::write(
        dir.join("simpledc.xsd"),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" \
             targetNamespace=\"http://purl.org/dc/elements/1.1/\" \
             elementFormDefault=\"qualified\">\n{elements}</xs:schema>\n"
        ),
    )
    .unwrap();
    let path = dir.join("oai_dc.xsd");
    std::fs::write(&path, original.replace(remote, "simpledc.xsd")).unwrap();
    path
}

/// Every verb's response, every page kind (first, middle, last with an
/// empty token), GET and POST, is valid OAI-PMH; so are the oai_dc and
/// MARCXML payloads against their own schemas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verb_validates_against_the_schemas() {
    let (setup, deleted) = catalogue_with_a_deletion().await;
    let p = Provider::start(&config_text(&setup), setup.dir.path(), 10).await;
    let live = union_rows(&setup)
        .into_iter()
        .find(|(_, (d, _, _))| !d)
        .unwrap()
        .0;

    let mut bodies = Vec::new();
    for q in [
        "verb=Identify".to_string(),
        "verb=ListMetadataFormats".to_string(),
        format!("verb=ListMetadataFormats&identifier={IDENTIFIER_PREFIX}{live}"),
        "verb=ListSets".to_string(),
        format!("verb=GetRecord&metadataPrefix=marc21&identifier={IDENTIFIER_PREFIX}{live}"),
        format!("verb=GetRecord&metadataPrefix=oai_dc&identifier={IDENTIFIER_PREFIX}{live}"),
        format!("verb=GetRecord&metadataPrefix=oai_dc&identifier={IDENTIFIER_PREFIX}{deleted}"),
    ] {
        bodies.push(p.get(&q).await);
    }
    for q in [
        "verb=ListIdentifiers&metadataPrefix=marc21",
        "verb=ListRecords&metadataPrefix=marc21",
        "verb=ListRecords&metadataPrefix=oai_dc",
        "verb=ListRecords&metadataPrefix=oai_dc&set=UZ-TaNL&from=2000-01-01",
    ] {
        let pages = p.list_all(q).await;
        assert!(pages.len() > 2, "{q}: want first, middle and last pages");
        assert!(pages.last().unwrap().contains("<resumptionToken"), "{q}");
        bodies.extend(pages);
    }
    bodies.push(p.post("verb=ListRecords&metadataPrefix=marc21").await);
    for body in &bodies {
        assert_eq!(error_code(body), None, "{body}");
    }
    assert!(bodies.iter().any(|b| b.contains("status=\"deleted\"")));
    assert!(bodies[0].contains("<deletedRecord>persistent</deletedRecord>"));
    assert!(bodies[0].contains("<granularity>YYYY-MM-DDThh:mm:ssZ</granularity>"));

    let dir = tempfile::tempdir().unwrap();
    xmllint(
        &Path::new(SCHEMAS).join("OAI-PMH.xsd"),
        &bodies,
        dir.path(),
        "response",
    );
    let dc = payloads(&bodies, "<oai_dc:dc ", "</oai_dc:dc>");
    assert!(dc.iter().any(|d| d.contains("<dc:title>")));
    xmllint(&local_oai_dc_schema(dir.path()), &dc, dir.path(), "oai_dc");
    let marc = payloads(
        &bodies,
        "<record xmlns=\"http://www.loc.gov/MARC21/slim\"",
        "</record>",
    );
    xmllint(
        &Path::new(SCHEMAS).join("MARC21slim.xsd"),
        &marc,
        dir.path(),
        "marc",
    );
    p.stop().await;
}

/// Each OAI-PMH error code comes from a request that must produce it, and
/// every error response is valid against the schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_code() {
    let (setup, deleted) = catalogue_with_a_deletion().await;
    let p = Provider::start(&config_text(&setup), setup.dir.path(), 10).await;
    let live = union_rows(&setup)
        .into_iter()
        .find(|(_, (d, _, _))| !d)
        .unwrap()
        .0;
    let first = p.get("verb=ListIdentifiers&metadataPrefix=marc21").await;
    let token = parse_page(&first).next_token().unwrap().to_string();
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();

    let cases: Vec<(String, &str)> = vec![
        ("".into(), "badVerb"),
        ("verb=Frobnicate".into(), "badVerb"),
        ("verb=identify".into(), "badVerb"),
        ("verb=Identify&verb=ListSets".into(), "badVerb"),
        ("verb=Identify&metadataPrefix=marc21".into(), "badArgument"),
        ("verb=ListRecords".into(), "badArgument"),
        (
            "verb=ListRecords&metadataPrefix=marc21&metadataPrefix=oai_dc".into(),
            "badArgument",
        ),
        (
            format!("verb=ListRecords&metadataPrefix=marc21&resumptionToken={token}"),
            "badArgument",
        ),
        (
            "verb=ListRecords&metadataPrefix=marc21&from=2024-01-01T00:00:00.000Z".into(),
            "badArgument",
        ),
        (
            "verb=ListRecords&metadataPrefix=marc21&from=yesterday".into(),
            "badArgument",
        ),
        (
            "verb=ListRecords&metadataPrefix=marc21&from=2024-02-01&until=2024-01-01".into(),
            "badArgument",
        ),
        (
            "verb=ListRecords&metadataPrefix=marc21&from=2024-01-01&until=2024-02-01T00:00:00Z"
                .into(),
            "badArgument",
        ),
        (
            format!("verb=GetRecord&identifier={IDENTIFIER_PREFIX}{live}"),
            "badArgument",
        ),
        (
            "verb=ListRecords&resumptionToken=bm90LWEtdG9rZW4".into(),
            "badResumptionToken",
        ),
        (
            format!("verb=ListRecords&resumptionToken={tampered}"),
            "badResumptionToken",
        ),
        // A token is only good for the verb it was issued for.
        (
            format!("verb=ListRecords&resumptionToken={token}"),
            "badResumptionToken",
        ),
        (
            "verb=ListSets&resumptionToken=x".into(),
            "badResumptionToken",
        ),
        (
            "verb=ListRecords&metadataPrefix=mods".into(),
            "cannotDisseminateFormat",
        ),
        (
            format!("verb=GetRecord&metadataPrefix=mods&identifier={IDENTIFIER_PREFIX}{live}"),
            "cannotDisseminateFormat",
        ),
        (
            format!("verb=GetRecord&metadataPrefix=marc21&identifier={IDENTIFIER_PREFIX}uc0"),
            "idDoesNotExist",
        ),
        (
            "verb=GetRecord&metadataPrefix=marc21&identifier=oai:other:1".into(),
            "idDoesNotExist",
        ),
        (
            "verb=ListMetadataFormats&identifier=urn:isbn:0000000000".into(),
            "idDoesNotExist",
        ),
        // An identifier that is not a URI was echoed into `<request>`,
        // whose `identifier` is an anyURI, and the response failed the
        // schema: it is illegal syntax, and badArgument echoes nothing.
        (
            "verb=GetRecord&metadataPrefix=marc21&identifier=x%".into(),
            "badArgument",
        ),
        (
            "verb=GetRecord&metadataPrefix=marc21&identifier=x%25".into(),
            "badArgument",
        ),
        (
            "verb=ListMetadataFormats&identifier=not%20an%20identifier".into(),
            "badArgument",
        ),
        (
            "verb=ListRecords&metadataPrefix=marc21&from=2999-01-01".into(),
            "noRecordsMatch",
        ),
        (
            "verb=ListIdentifiers&metadataPrefix=oai_dc&until=1999-12-31".into(),
            "noRecordsMatch",
        ),
        (
            "verb=ListRecords&metadataPrefix=marc21&set=XX-NoSuch".into(),
            "noRecordsMatch",
        ),
        (
            format!("verb=ListMetadataFormats&identifier={IDENTIFIER_PREFIX}{deleted}"),
            "noMetadataFormats",
        ),
    ];
    let mut bodies = Vec::new();
    for (q, code) in &cases {
        let body = p.get(q).await;
        assert_eq!(error_code(&body), Some(*code), "GET {q}:\n{body}");
        let body = p.post(q).await;
        assert_eq!(error_code(&body), Some(*code), "POST {q}:\n{body}");
        bodies.push(body);
    }

    // noSetHierarchy: the same catalogue served with no partner configured.
    let text = format!(
        "state-dir = {:?}\n[publish]\noutput-dir = {:?}\n",
        setup.jobs.config.state_dir.display().to_string(),
        setup.publish_dir().display().to_string()
    );
    let bare = Provider::start(&text, setup.dir.path(), 10).await;
    for q in [
        "verb=ListSets",
        "verb=ListRecords&metadataPrefix=marc21&set=AZ-BaNL",
    ] {
        let body = bare.get(q).await;
        assert_eq!(error_code(&body), Some("noSetHierarchy"), "{q}:\n{body}");
        bodies.push(body);
    }
    let body = bare.get("verb=ListIdentifiers&metadataPrefix=marc21").await;
    assert_eq!(error_code(&body), None, "without sets, lists still work");

    // A POST that is not a form is refused at the HTTP level.
    let resp = reqwest::Client::new()
        .post(&p.base_url)
        .header("content-type", "text/plain")
        .body("verb=Identify")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);

    let dir = tempfile::tempdir().unwrap();
    xmllint(
        &Path::new(SCHEMAS).join("OAI-PMH.xsd"),
        &bodies,
        dir.path(),
        "error",
    );
    bare.stop().await;
    p.stop().await;
}

/// One harvested record as sickle reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
struct Harvested {
    identifier: String,
    deleted: bool,
    datestamp: String,
    sets: Vec<String>,
}

/// Harvest `url` with Python sickle's ListRecords and these arguments.
async fn sickle(url: &str, args: serde_json::Value) -> Vec<Harvested> {
    const SCRIPT: &str = r#"
import json, sys
from sickle import Sickle
from sickle.oaiexceptions import NoRecordsMatch
args = json.loads(sys.argv[2])
s = Sickle(sys.argv[1], http_method=args.pop("_method", "GET"), max_retries=0, timeout=60)
out = []
try:
    for r in s.ListRecords(ignore_deleted=False, **args):
        h = r.header
        out.append({"identifier": h.identifier, "deleted": h.deleted,
                    "datestamp": h.datestamp, "sets": h.setSpecs})
except NoRecordsMatch:
    pass
print(json.dumps(out))
"#;
    let installed = Command::new("python3")
        .args(["-c", "import sickle"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        installed,
        "Python's sickle is needed by this test: `pip install sickle` (.ci/run does)"
    );
    let (url, args) = (url.to_string(), args.to_string());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-c", SCRIPT, &url, &args])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "sickle failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Identifiers and deletion flags, checking there are no duplicates.
fn by_id(records: &[Harvested]) -> BTreeMap<String, bool> {
    let map: BTreeMap<String, bool> = records
        .iter()
        .map(|r| (r.identifier.clone(), r.deleted))
        .collect();
    assert_eq!(map.len(), records.len(), "duplicates in {records:?}");
    map
}

fn expected(rows: impl Iterator<Item = (String, bool)>) -> BTreeMap<String, bool> {
    rows.map(|(id, d)| (format!("{IDENTIFIER_PREFIX}{id}"), d))
        .collect()
}

/// An independent harvester finds exactly the store's union records: all
/// of them, one partner's set (by the records' own 852 holdings), and only
/// what changed after a given time, deletions included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sickle_harvests_exactly_the_catalogue() {
    let setup = Setup::new(50).await;
    setup.harvest_all().await;
    let p = Provider::start(&config_text(&setup), setup.dir.path(), 7).await;

    let all = sickle(&p.base_url, serde_json::json!({"metadataPrefix": "marc21"})).await;
    let rows = union_rows(&setup);
    assert_eq!(rows.len(), common::expected_union_count());
    assert_eq!(
        by_id(&all),
        expected(rows.iter().map(|(id, (d, _, _))| (id.clone(), *d)))
    );
    // Every header names the sets of the partners the record's 852s list.
    for r in &all {
        let id = r.identifier.strip_prefix(IDENTIFIER_PREFIX).unwrap();
        let record = marcxml::parse_record(rows[id].2.as_ref().unwrap()).unwrap();
        let holdings: Vec<String> = common::holdings(&record).into_iter().collect();
        assert_eq!(r.sets, holdings, "{id}");
        assert_eq!(r.datestamp, rows[id].1, "{id}");
    }

    // Changes after T: a retitled record, a record deleted from a
    // single-member cluster, and a member deleted from a shared cluster.
    let now = Utc::now();
    let t =
        now.duration_trunc(chrono::Duration::seconds(1)).unwrap() + chrono::Duration::seconds(1);
    while Utc::now() < t {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let t = t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let cl = clusters(&setup);
    let (retitled, retitled_oai) = singleton_of(&cl, "anl");
    let (gone, gone_oai) = singleton_of(&cl, "natlib-uz");
    let (shared, mut shared_members) = cl
        .iter()
        .find(|(_, m)| m.len() > 1)
        .map(|(c, m)| (c.clone(), m.clone()))
        .expect("a cluster of two");
    // Not the lowest member, which names the cluster: the union record
    // must stay, without this partner's holding.
    shared_members.sort();
    let dropped = shared_members.last().unwrap().clone();
    retitle_at_partner(
        &setup,
        "anl",
        &retitled_oai,
        "A title changed at the partner",
    );
    delete_at_partner(&setup, "natlib-uz", &gone_oai);
    delete_at_partner(&setup, &dropped.0, &dropped.1);
    setup.harvest_all().await;

    let rows = union_rows(&setup);
    let changed = sickle(
        &p.base_url,
        serde_json::json!({"metadataPrefix": "oai_dc", "from": t}),
    )
    .await;
    let want = expected(
        rows.iter()
            .filter(|(_, (_, ts, _))| *ts >= t)
            .map(|(id, (d, _, _))| (id.clone(), *d)),
    );
    assert_eq!(by_id(&changed), want);
    assert_eq!(want.get(&format!("{IDENTIFIER_PREFIX}{gone}")), Some(&true));
    assert_eq!(
        want.get(&format!("{IDENTIFIER_PREFIX}{retitled}")),
        Some(&false)
    );
    assert_eq!(
        want.get(&format!("{IDENTIFIER_PREFIX}{shared}")),
        Some(&false)
    );
    assert!(want.len() < rows.len() / 4, "only the changes: {want:?}");

    // The whole catalogue again, deletions included, by POST this time.
    let all = sickle(
        &p.base_url,
        serde_json::json!({"metadataPrefix": "marc21", "_method": "POST"}),
    )
    .await;
    assert_eq!(
        by_id(&all),
        expected(rows.iter().map(|(id, (d, _, _))| (id.clone(), *d)))
    );

    // One partner's set: the live records it holds, and every deletion.
    let set = sickle(
        &p.base_url,
        serde_json::json!({"metadataPrefix": "marc21", "set": "AZ-BaNL"}),
    )
    .await;
    let want = expected(rows.iter().filter_map(|(id, (d, _, rec))| {
        let holds = rec.as_ref().is_some_and(|x| {
            common::holdings(&marcxml::parse_record(x).unwrap()).contains("AZ-BaNL")
        });
        (*d || holds).then(|| (id.clone(), *d))
    }));
    assert!(want.values().filter(|d| !**d).count() > 5);
    assert_eq!(by_id(&set), want);
    p.stop().await;
}

/// A resumption token handed out by one server process is honoured by the
/// next one on the same store: the rest of the list, no duplicates, no gaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumption_survives_a_restart() {
    let setup = Setup::new(50).await;
    setup.harvest_all().await;
    let text = config_text(&setup);
    let first = Provider::start(&text, setup.dir.path(), 5).await;
    let body = first.get("verb=ListRecords&metadataPrefix=marc21").await;
    // stop() returns once the server task has ended: nothing of the first
    // process is left but the store.
    first.stop().await;

    let page = parse_page(&body);
    let total = union_rows(&setup).len();
    let first_token = page.resumption_token.clone().unwrap();
    assert_eq!(first_token.complete_list_size, Some(total as u64));
    assert_eq!(first_token.cursor, Some(0));
    let mut ids: Vec<String> = page
        .records
        .iter()
        .map(|r| r.header.identifier.clone())
        .collect();
    assert_eq!(ids.len(), 5);

    let second = Provider::start(&text, setup.dir.path(), 5).await;
    let mut token = first_token.token;
    let mut pages = 1;
    loop {
        let body = second
            .get(&format!(
                "verb=ListRecords&resumptionToken={}",
                percent_encode(&token)
            ))
            .await;
        let page = parse_page(&body);
        let rt = page
            .resumption_token
            .clone()
            .expect("every later page has a token element");
        assert_eq!(rt.cursor, Some(ids.len() as u64), "cursor of page {pages}");
        assert_eq!(rt.complete_list_size, Some(total as u64));
        ids.extend(page.records.iter().map(|r| r.header.identifier.clone()));
        pages += 1;
        if rt.is_final() {
            break;
        }
        token = rt.token;
    }
    assert_eq!(pages, total.div_ceil(5));
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "duplicates");
    let want: BTreeSet<String> = union_rows(&setup)
        .keys()
        .map(|id| format!("{IDENTIFIER_PREFIX}{id}"))
        .collect();
    assert_eq!(unique.into_iter().cloned().collect::<BTreeSet<_>>(), want);
    second.stop().await;
}

/// unicat can harvest its own provider as a partner: one source record per
/// union record, 001 and 245 intact, and a deletion travels too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unicat_harvests_its_own_provider() {
    let setup = Setup::new(50).await;
    setup.harvest_all().await;
    let p = Provider::start(&config_text(&setup), setup.dir.path(), 9).await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("second.toml");
    std::fs::write(
        &path,
        format!(
            "state-dir = {:?}\ncatalogue-code = \"SECOND\"\n\
             [harvest]\nmax-retries = 2\nbackoff-ms = 10\ntimeout-secs = 10\n\
             [publish]\noutput-dir = {:?}\n\
             [[partner]]\nname = \"union\"\ncode = \"UNICAT-DEMO\"\nbase-url = {:?}\n\
             schedule = \"0 2 * * *\"\n",
            dir.path().join("state").display().to_string(),
            dir.path().join("publish").display().to_string(),
            p.base_url
        ),
    )
    .unwrap();
    let second = Jobs::new(Arc::new(Config::load(&path).unwrap())).unwrap();
    let partner = second.config.partners[0].clone();
    let (_stop, stop_rx) = watch::channel(false);

    let check = |second: &Jobs| {
        let rows = union_rows(&setup);
        let store = second.open_store().unwrap();
        let live: Vec<_> = rows.iter().filter(|(_, (d, _, _))| !d).collect();
        assert_eq!(
            store.count_live_records("union").unwrap(),
            live.len() as u64
        );
        for (id, (_, _, record)) in live {
            let original = marcxml::parse_record(record.as_ref().unwrap()).unwrap();
            let copy = store
                .find_source("union", id)
                .unwrap()
                .unwrap_or_else(|| panic!("{id} missing from the second catalogue"));
            assert_eq!(copy.oai_id, format!("{IDENTIFIER_PREFIX}{id}"));
            let copy = marcxml::parse_record(&copy.record).unwrap();
            assert_eq!(copy.control("001"), Some(id.as_str()));
            let f245 = |r: &unicat_marc::Record| r.data_fields("245").cloned().collect::<Vec<_>>();
            assert_eq!(f245(&copy), f245(&original), "{id}");
        }
        for (id, _) in rows.iter().filter(|(_, (d, _, _))| *d) {
            assert!(store.find_source("union", id).unwrap().is_none(), "{id}");
        }
    };

    let report = second.harvest(&partner, stop_rx.clone()).await.unwrap();
    assert!(report.harvest.pages > 1);
    check(&second);

    let (gone, oai_id) = singleton_of(&clusters(&setup), "tsu");
    delete_at_partner(&setup, "tsu", &oai_id);
    setup.harvest_all().await;
    let report = second.harvest(&partner, stop_rx).await.unwrap();
    assert_eq!(report.harvest.counts.deleted, 1, "{gone}");
    check(&second);
    p.stop().await;
}

/// A response with what must differ between two servers taken out: the
/// response date and the server's own address.
fn comparable(body: &str, base_url: &str) -> String {
    let body = body.replace(base_url, "BASE");
    match (body.find("<responseDate>"), body.find("</responseDate>")) {
        (Some(a), Some(b)) => format!("{}{}", &body[..a], &body[b..]),
        _ => body,
    }
}

/// Issue #10: the provider reads the store only through `Store`, so it
/// serves a PostgreSQL store too, and answers exactly as over SQLite: the
/// same catalogue copied into a fresh PostgreSQL database gives the same
/// responses byte for byte (but for the date and address) for every verb,
/// lists walked to their end through resumption tokens (with sets and a
/// window), GetRecord of live and deleted records, and errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_answers_like_sqlite() {
    let Some(url) = test_database_from_env().expect("a PostgreSQL test database") else {
        return;
    };
    let (setup, deleted) = catalogue_with_a_deletion().await;
    let db = setup.jobs.config.state_dir.join(unicat::store::DB_FILE);
    // The synchronous PostgreSQL client may not block a runtime thread.
    let url = tokio::task::spawn_blocking(move || {
        let mut pg = PgStore::open(&url, None).unwrap();
        unicat::store::copy::copy_from_sqlite(&db, &mut pg, |_, _| {}).unwrap();
        url
    })
    .await
    .unwrap();
    // Lists without `until` are pinned at their first response's date,
    // which is in their tokens; an `until` in the past (every record was
    // stamped by now) makes the tokens of both servers the same.
    let until = Utc::now()
        .duration_trunc(chrono::Duration::seconds(1))
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let text = config_text(&setup);
    let sqlite = Provider::start(&text, setup.dir.path(), 7).await;
    let pg_text = format!("{text}\n[store]\nbackend = \"postgres\"\nurl = \"{url}\"\n");
    let pg = Provider::start(&pg_text, setup.dir.path(), 7).await;

    let live = union_rows(&setup)
        .into_iter()
        .find(|(_, (d, _, _))| !d)
        .unwrap()
        .0;
    let mut single = vec![
        "verb=Identify".to_string(),
        "verb=ListMetadataFormats".to_string(),
        format!("verb=ListMetadataFormats&identifier={IDENTIFIER_PREFIX}{live}"),
        format!("verb=ListMetadataFormats&identifier={IDENTIFIER_PREFIX}{deleted}"),
        "verb=ListSets".to_string(),
        format!("verb=GetRecord&metadataPrefix=marc21&identifier={IDENTIFIER_PREFIX}{deleted}"),
        format!("verb=GetRecord&metadataPrefix=marc21&identifier={IDENTIFIER_PREFIX}uc0"),
        "verb=ListRecords&metadataPrefix=marc21&from=2999-01-01".to_string(),
    ];
    for (id, _) in clusters(&setup).iter().take(5) {
        for prefix in ["marc21", "oai_dc"] {
            single.push(format!(
                "verb=GetRecord&metadataPrefix={prefix}&identifier={IDENTIFIER_PREFIX}{id}"
            ));
        }
    }
    for q in &single {
        let (a, b) = (sqlite.get(q).await, pg.get(q).await);
        assert_eq!(
            comparable(&b, &pg.base_url),
            comparable(&a, &sqlite.base_url),
            "{q}"
        );
    }
    assert!(sqlite.get(&single[5]).await.contains("status=\"deleted\""));

    for q in [
        format!("verb=ListRecords&metadataPrefix=marc21&until={until}"),
        format!("verb=ListRecords&metadataPrefix=oai_dc&set=UZ-TaNL&until={until}"),
        format!(
            "verb=ListIdentifiers&metadataPrefix=marc21&set=AZ-BaNL&from=2000-01-01T00:00:00Z&until={until}"
        ),
    ] {
        let (a, b) = (sqlite.list_all(&q).await, pg.list_all(&q).await);
        assert!(a.len() > 2, "{q}: want first, middle and last pages");
        let a: Vec<String> = a.iter().map(|x| comparable(x, &sqlite.base_url)).collect();
        let b: Vec<String> = b.iter().map(|x| comparable(x, &pg.base_url)).collect();
        assert_eq!(b, a, "{q}");
    }

    // Without `until` the tokens hold each list's own pin, so only the
    // records are compared: the same headers, in the same order.
    let headers = |pages: &[String]| -> Vec<(String, String, bool, Vec<String>)> {
        pages
            .iter()
            .flat_map(|p| parse_page(p).records)
            .map(|r| {
                let h = r.header;
                (h.identifier, h.datestamp, h.deleted, h.sets)
            })
            .collect()
    };
    let q = "verb=ListIdentifiers&metadataPrefix=marc21";
    let (a, b) = (sqlite.list_all(q).await, pg.list_all(q).await);
    assert_eq!(headers(&b), headers(&a));
    assert_eq!(headers(&a).len(), union_rows(&setup).len());

    // A token issued over one backend resumes the list over the other.
    let first = sqlite.get(q).await;
    let token = parse_page(&first).next_token().unwrap().to_string();
    let next = format!(
        "verb=ListIdentifiers&resumptionToken={}",
        percent_encode(&token)
    );
    assert_eq!(
        comparable(&pg.get(&next).await, &pg.base_url),
        comparable(&sqlite.get(&next).await, &sqlite.base_url)
    );
    pg.stop().await;
    sqlite.stop().await;
}
