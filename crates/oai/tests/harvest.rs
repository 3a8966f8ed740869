//! Tests of the list-run state machine, driven by a fake repository that
//! serves real sample responses by token, the way the async shell would
//! drive it with HTTP.

mod common;

use common::sample;
use unicat_oai::{
    percent_encode, ErrorCode, ListHarvest, ListRequest, OaiError, Request, Step, Verb,
    MAX_RESTARTS,
};

const BASE: &str = "https://oai.example.org/provider";

/// A minimal list page with the given identifiers and token element.
fn page(date: &str, ids: &[&str], token: Option<&str>) -> Vec<u8> {
    let mut xml = format!(
        "<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\">\
         <responseDate>{date}</responseDate><request>{BASE}</request><ListIdentifiers>"
    );
    for id in ids {
        xml.push_str(&format!(
            "<header><identifier>{id}</identifier><datestamp>2020-01-01</datestamp></header>"
        ));
    }
    match token {
        Some("") => xml.push_str("<resumptionToken completeListSize=\"3\" cursor=\"2\"/>"),
        Some(t) => xml.push_str(&format!("<resumptionToken>{t}</resumptionToken>")),
        None => {}
    }
    xml.push_str("</ListIdentifiers></OAI-PMH>");
    xml.into_bytes()
}

/// Walks sickle's four-page ListRecords chain, where each token names the
/// next file: every page is delivered, the checkpoint token follows the
/// chain, and the run ends when the last page has no token.
#[test]
fn walks_a_multi_page_chain() {
    let mut run = ListHarvest::new(BASE, Verb::ListRecords, ListRequest::new("oai_dc"));
    assert_eq!(
        run.url().unwrap(),
        format!("{BASE}?verb=ListRecords&metadataPrefix=oai_dc")
    );
    let mut urls = Vec::new();
    let mut records = 0;
    let mut rejected = 0;
    while let Some(request) = run.next_request() {
        urls.push(run.url().unwrap());
        let file = match &request {
            Request::ListRecords(_) => "ListRecords.xml".to_owned(),
            Request::Resume { verb, token } => {
                assert_eq!(*verb, Verb::ListRecords);
                token.clone()
            }
            other => panic!("unexpected request {other:?}"),
        };
        match run.on_response(&sample(&format!("sickle/{file}"))).unwrap() {
            Step::Page(page) => {
                records += page.records.len();
                rejected += page.rejected.len();
                assert_eq!(run.resumption_token(), page.next_token());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(records, 7);
    assert_eq!(rejected, 1);
    assert_eq!(run.pages(), 4);
    assert!(run.is_done());
    assert_eq!(run.resumption_token(), None);
    assert_eq!(run.first_response_date(), Some("2013-02-27T09:10:56Z"));
    assert_eq!(
        urls[1..],
        [
            format!("{BASE}?verb=ListRecords&resumptionToken=ListRecords2.xml"),
            format!("{BASE}?verb=ListRecords&resumptionToken=ListRecords3.xml"),
            format!("{BASE}?verb=ListRecords&resumptionToken=ListRecords4.xml"),
        ]
    );
    assert!(matches!(
        run.on_response(b""),
        Err(OaiError::NoPendingRequest)
    ));
}

/// An empty `<resumptionToken/>` ends the list (traject's final page).
#[test]
fn empty_final_token_ends_the_list() {
    let mut run = ListHarvest::new(BASE, Verb::ListRecords, ListRequest::new("oai_dc"));
    let step = run
        .on_response(&sample("traject/oai-pmh-one-record-first.xml"))
        .unwrap();
    assert!(matches!(step, Step::Page(_)));
    assert_eq!(run.resumption_token(), Some("dummy_resumption"));
    assert_eq!(
        run.url().unwrap(),
        format!("{BASE}?verb=ListRecords&resumptionToken=dummy_resumption")
    );
    let Step::Page(last) = run
        .on_response(&sample("traject/oai-pmh-one-record-2.xml"))
        .unwrap()
    else {
        panic!("expected the final page");
    };
    assert_eq!(last.records.len(), 1);
    assert!(last.resumption_token.unwrap().is_final());
    assert_eq!(run.next_request(), None);
    assert_eq!(run.url(), None);
}

/// A ListIdentifiers run: first page with a token, second without one.
#[test]
fn list_identifiers_run() {
    let req = ListRequest {
        metadata_prefix: "oai_dc".into(),
        set: Some("1:2".into()),
        from: Some("2003-04-10T00:00:00Z".into()),
        until: None,
    };
    let mut run = ListHarvest::new(BASE, Verb::ListIdentifiers, req);
    assert_eq!(
        run.url().unwrap(),
        format!(
            "{BASE}?verb=ListIdentifiers&metadataPrefix=oai_dc&set=1%3A2&from=2003-04-10T00%3A00%3A00Z"
        )
    );
    run.on_response(&sample("sickle/ListIdentifiers.xml"))
        .unwrap();
    assert_eq!(
        run.url().unwrap(),
        format!("{BASE}?verb=ListIdentifiers&resumptionToken=ListIdentifiers2.xml")
    );
    run.on_response(&sample("sickle/ListIdentifiers2.xml"))
        .unwrap();
    assert!(run.is_done());
}

/// A repository that hands back the token it was just given would be
/// followed forever; the run stops with RepeatedToken and keeps its state.
#[test]
fn repeated_token_is_an_error() {
    let mut run = ListHarvest::new(BASE, Verb::ListRecords, ListRequest::new("oai_dc"));
    let body = sample("vufindharvest/list_records_token_response.xml");
    assert!(matches!(run.on_response(&body), Ok(Step::Page(_))));
    assert_eq!(run.resumption_token(), Some("more"));
    let err = run.on_response(&body).unwrap_err();
    assert_eq!(
        err,
        OaiError::RepeatedToken {
            token: "more".into()
        }
    );
    assert!(!err.is_transient());
    assert_eq!(run.resumption_token(), Some("more"));
    assert_eq!(run.pages(), 1);
}

/// A cycle through several tokens (A, B, A) is caught too.
#[test]
fn token_cycle_is_an_error() {
    let mut run = ListHarvest::new(BASE, Verb::ListIdentifiers, ListRequest::new("marc21"));
    run.on_response(&page("d1", &["1"], Some("A"))).unwrap();
    run.on_response(&page("d2", &["2"], Some("B"))).unwrap();
    assert_eq!(
        run.on_response(&page("d3", &["3"], Some("A"))),
        Err(OaiError::RepeatedToken { token: "A".into() })
    );
    assert_eq!(run.resumption_token(), Some("B"));
}

/// noRecordsMatch on the first request is a successful, empty run whose
/// responseDate is still the next incremental `from`.
#[test]
fn no_records_match_is_an_empty_success() {
    let mut run = ListHarvest::new(BASE, Verb::ListIdentifiers, ListRequest::new("olac"));
    let step = run
        .on_response(&sample("sickle/noRecordsMatch.xml"))
        .unwrap();
    assert_eq!(step, Step::Done);
    assert!(run.is_done());
    assert_eq!(run.next_request(), None);
    assert_eq!(run.first_response_date(), Some("2002-02-08T14:27:19Z"));
    assert_eq!(run.pages(), 0);
}

/// Malformed bodies change nothing, so the shell can fetch the same URL
/// again; the run then carries on as if the bad body never came.
#[test]
fn malformed_body_leaves_state_for_a_retry() {
    let mut run = ListHarvest::new(BASE, Verb::ListRecords, ListRequest::new("oai_dc"));
    run.on_response(&sample("sickle/ListRecords.xml")).unwrap();
    let url = run.url();
    let html = b"<html><body><h1>502 Bad Gateway</h1></body></html>";
    let truncated = &sample("sickle/ListRecords2.xml")[..900];
    for body in [
        &html[..],
        truncated,
        b"",
        &sample("sickle/ListRecordsBroken.xml"),
    ] {
        let err = run.on_response(body).unwrap_err();
        assert!(
            matches!(err, OaiError::Malformed(_)) && err.is_transient(),
            "{err}"
        );
        assert_eq!(run.url(), url);
        assert_eq!(run.pages(), 1);
    }
    run.on_response(&sample("sickle/ListRecords2.xml")).unwrap();
    assert_eq!(run.resumption_token(), Some("ListRecords3.xml"));
}

/// Protocol errors other than the handled ones are returned, not retried
/// by the state machine, and leave the state where it was.
#[test]
fn other_protocol_errors_keep_state() {
    let mut run = ListHarvest::new(BASE, Verb::ListRecords, ListRequest::new("foo"));
    let url = run.url();
    let err = run
        .on_response(&sample("melinda/ListRecords/001/response0.xml"))
        .unwrap_err();
    assert!(matches!(
        err,
        OaiError::Protocol {
            code: ErrorCode::CannotDisseminateFormat,
            ..
        }
    ));
    assert!(!err.is_transient());
    assert_eq!(run.url(), url);

    // badResumptionToken on the first request (no token was sent) is not
    // something a restart could fix.
    let err = run
        .on_response(&sample("vufindharvest/token_error_response.xml"))
        .unwrap_err();
    assert!(matches!(
        err,
        OaiError::Protocol {
            code: ErrorCode::BadResumptionToken,
            ..
        }
    ));
    assert_eq!(run.url(), url);
}

/// A checkpointed run resumes with only verb and token; an expired token
/// sends it back to the first request, a bounded number of times.
#[test]
fn resume_and_restart_after_bad_token() {
    let token = "4fCGJ7a5SdRkzHPJj5G7Y3By5r91+0odIXOtYNlgHtLkdAPT2TvuhOEo/n2SsStf+rr2HFR/";
    let req = ListRequest {
        from: Some("2024-01-01".into()),
        ..ListRequest::new("marc21")
    };
    let mut run = ListHarvest::resume_from(BASE, Verb::ListRecords, req.clone(), token.into())
        .with_first_response_date("2024-02-01T00:00:00Z");
    assert_eq!(run.resumption_token(), Some(token));
    assert_eq!(
        run.url().unwrap(),
        format!(
            "{BASE}?verb=ListRecords&resumptionToken={}",
            percent_encode(token)
        )
    );

    let expired = sample("melinda/ListRecords/013/response0.xml");
    assert_eq!(run.on_response(&expired), Ok(Step::Restarted));
    assert_eq!(run.next_request(), Some(Request::ListRecords(req.clone())));
    assert_eq!(run.restarts(), 1);
    // The restart keeps the earlier, safer incremental bound.
    assert_eq!(run.first_response_date(), Some("2024-02-01T00:00:00Z"));

    // The restarted run pages again, and its tokens may be rejected too;
    // after MAX_RESTARTS the error goes to the shell.
    for restart in 2..=MAX_RESTARTS + 1 {
        run.on_response(&sample("melinda/ListRecords/011/response0.xml"))
            .unwrap();
        assert_eq!(run.resumption_token(), Some("foobar"));
        let result = run.on_response(&expired);
        if restart <= MAX_RESTARTS {
            assert_eq!(result, Ok(Step::Restarted));
        } else {
            assert!(matches!(
                result,
                Err(OaiError::Protocol {
                    code: ErrorCode::BadResumptionToken,
                    ..
                })
            ));
            assert_eq!(run.resumption_token(), Some("foobar"));
        }
    }
}

/// A token full of reserved characters is percent-encoded exactly once:
/// decoding the URL's value once gives the token back.
#[test]
fn token_is_encoded_once() {
    let token = "a+b/c=d&e:f g%2B";
    let mut run = ListHarvest::new(BASE, Verb::ListIdentifiers, ListRequest::new("marc21"));
    let escaped = token.replace('&', "&amp;");
    run.on_response(&page("d", &["x"], Some(&escaped))).unwrap();
    assert_eq!(run.resumption_token(), Some(token));
    let url = run.url().unwrap();
    assert_eq!(
        url,
        format!("{BASE}?verb=ListIdentifiers&resumptionToken=a%2Bb%2Fc%3Dd%26e%3Af%20g%252B")
    );
    // Only verb and resumptionToken, even though the first request had more.
    assert_eq!(url.matches('=').count(), 2);
    let value = url.split("resumptionToken=").nth(1).unwrap();
    assert_eq!(percent_decode(value), token);
}

/// A base URL with its own query gets the arguments after `&`.
#[test]
fn base_url_with_query() {
    let run = ListHarvest::new(
        "https://x.example/cgi?db=books",
        Verb::ListRecords,
        ListRequest::new("marc21"),
    );
    assert_eq!(
        run.url().unwrap(),
        "https://x.example/cgi?db=books&verb=ListRecords&metadataPrefix=marc21"
    );
}

/// A plain RFC 3986 decoder, written here so the test does not trust the
/// crate's own.
fn percent_decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}
