//! Building OAI-PMH request URLs.
//!
//! Arguments are percent-encoded exactly once, here and nowhere else:
//! RFC 3986 unreserved characters are kept and every other byte is
//! encoded, including `+ / : = &` (resumption tokens are often base64, and
//! a raw `+` would reach the repository as a space). A resumption request
//! carries only `verb` and `resumptionToken`, as the protocol requires.
//! No I/O happens here; the shell sends the URL.

use crate::types::Verb;

/// The selective-harvesting arguments of `ListRecords` and
/// `ListIdentifiers`. An empty `set`, `from` or `until` is treated as
/// absent, since sending `from=` is a `badArgument`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListRequest {
    /// `metadataPrefix`, e.g. `marc21`.
    pub metadata_prefix: String,
    /// `set`: restrict to one setSpec.
    pub set: Option<String>,
    /// `from`: lower bound, already formatted in the repository's
    /// granularity (see [`Granularity::format`](crate::Granularity::format)).
    pub from: Option<String>,
    /// `until`: upper bound, in the repository's granularity.
    pub until: Option<String>,
}

impl ListRequest {
    /// A full (non-incremental) request for one metadata format.
    pub fn new(metadata_prefix: impl Into<String>) -> Self {
        ListRequest {
            metadata_prefix: metadata_prefix.into(),
            ..ListRequest::default()
        }
    }
}

/// One OAI-PMH request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `verb=Identify`.
    Identify,
    /// `verb=ListMetadataFormats`, for the whole repository or one item.
    ListMetadataFormats {
        /// Restrict to the formats of this item.
        identifier: Option<String>,
    },
    /// The first request of a `ListRecords` run.
    ListRecords(ListRequest),
    /// The first request of a `ListIdentifiers` run.
    ListIdentifiers(ListRequest),
    /// A follow-up request: only the verb and the token.
    Resume {
        /// The list verb being resumed.
        verb: Verb,
        /// The token from the previous page, unencoded.
        token: String,
    },
    /// `verb=GetRecord`.
    GetRecord {
        /// The record's OAI identifier.
        identifier: String,
        /// The metadata format.
        metadata_prefix: String,
    },
}

impl Request {
    /// The verb this request uses.
    pub fn verb(&self) -> Verb {
        match self {
            Request::Identify => Verb::Identify,
            Request::ListMetadataFormats { .. } => Verb::ListMetadataFormats,
            Request::ListRecords(_) => Verb::ListRecords,
            Request::ListIdentifiers(_) => Verb::ListIdentifiers,
            Request::Resume { verb, .. } => *verb,
            Request::GetRecord { .. } => Verb::GetRecord,
        }
    }

    /// The arguments, unencoded, in the order they are sent.
    pub fn params(&self) -> Vec<(&'static str, &str)> {
        let mut params = vec![("verb", self.verb().as_str())];
        match self {
            Request::Identify => {}
            Request::ListMetadataFormats { identifier } => {
                push_some(&mut params, "identifier", identifier.as_deref());
            }
            Request::ListRecords(req) | Request::ListIdentifiers(req) => {
                params.push(("metadataPrefix", &req.metadata_prefix));
                push_some(&mut params, "set", req.set.as_deref());
                push_some(&mut params, "from", req.from.as_deref());
                push_some(&mut params, "until", req.until.as_deref());
            }
            Request::Resume { token, .. } => params.push(("resumptionToken", token)),
            Request::GetRecord {
                identifier,
                metadata_prefix,
            } => {
                params.push(("identifier", identifier));
                params.push(("metadataPrefix", metadata_prefix));
            }
        }
        params
    }

    /// The full request URL for a repository's base URL.
    ///
    /// A base URL that already has a query (`…/oai?db=books`) gets the
    /// arguments appended with `&`; one ending in `?` or `&` gets them
    /// appended directly.
    pub fn url(&self, base_url: &str) -> String {
        let mut url = base_url.to_owned();
        if !url.ends_with('?') && !url.ends_with('&') {
            url.push(if url.contains('?') { '&' } else { '?' });
        }
        for (i, (key, value)) in self.params().into_iter().enumerate() {
            if i > 0 {
                url.push('&');
            }
            url.push_str(key);
            url.push('=');
            url.push_str(&percent_encode(value));
        }
        url
    }
}

fn push_some<'a>(
    params: &mut Vec<(&'static str, &'a str)>,
    key: &'static str,
    value: Option<&'a str>,
) {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        params.push((key, value));
    }
}

/// Percent-encodes a query argument: RFC 3986 unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`) stay, every other UTF-8 byte becomes `%XX`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(hex_digit(b >> 4));
            out.push(hex_digit(b & 0x0f));
        }
    }
    out
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789ABCDEF"[usize::from(nibble & 0x0f)])
}

/// Decodes a query argument as HTML forms encode it (`+` is a space,
/// `%XX` a byte), the way HTTP servers decode what they receive. Invalid
/// escapes are kept literally and invalid UTF-8 is replaced, because the
/// result is only ever echoed back in a response.
pub(crate) fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|h| char::from(*h).to_digit(16));
                let lo = bytes.get(i + 2).and_then(|l| char::from(*l).to_digit(16));
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    // Two hex digits are at most 0xFF, so this never fails.
                    out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a request URL into its base and decoded query arguments.
pub(crate) fn split_url(url: &str) -> (&str, Vec<(String, String)>) {
    let url = url.trim();
    let Some((base, query)) = url.split_once('?') else {
        return (url, Vec::new());
    };
    let query = query.split('#').next().unwrap_or("");
    let params = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (form_decode(k), form_decode(v))
        })
        .collect();
    (base, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte outside the unreserved set is encoded, once.
    #[test]
    fn encodes_reserved_and_non_ascii() {
        assert_eq!(percent_encode("a+b/c=d&e:f g"), "a%2Bb%2Fc%3Dd%26e%3Af%20g");
        assert_eq!(percent_encode("Az09-._~"), "Az09-._~");
        assert_eq!(percent_encode("ö%"), "%C3%B6%25");
    }

    /// A base URL with a query keeps it; arguments are joined correctly.
    #[test]
    fn base_url_shapes() {
        let r = Request::Identify;
        assert_eq!(r.url("http://x/oai"), "http://x/oai?verb=Identify");
        assert_eq!(
            r.url("http://x/oai?db=a"),
            "http://x/oai?db=a&verb=Identify"
        );
        assert_eq!(r.url("http://x/oai?"), "http://x/oai?verb=Identify");
    }

    /// Each verb carries exactly its own arguments; empty optional ones
    /// are left out rather than sent as `from=`.
    #[test]
    fn arguments_per_verb() {
        let get = Request::GetRecord {
            identifier: "oai:x.org:a/1".into(),
            metadata_prefix: "marc21".into(),
        };
        assert_eq!(
            get.url("http://x/oai"),
            "http://x/oai?verb=GetRecord&identifier=oai%3Ax.org%3Aa%2F1&metadataPrefix=marc21"
        );
        let formats = Request::ListMetadataFormats { identifier: None };
        assert_eq!(
            formats.url("http://x/oai"),
            "http://x/oai?verb=ListMetadataFormats"
        );
        let list = Request::ListRecords(ListRequest {
            from: Some(String::new()),
            until: Some("2024-01-31".into()),
            ..ListRequest::new("marc21")
        });
        assert_eq!(
            list.url("http://x/oai"),
            "http://x/oai?verb=ListRecords&metadataPrefix=marc21&until=2024-01-31"
        );
    }

    /// Decoding undoes encoding, and `+` in a received query is a space.
    #[test]
    fn decoding() {
        let s = "tok+en/=:&ü";
        assert_eq!(form_decode(&percent_encode(s)), s);
        assert_eq!(form_decode("a+b%2"), "a b%2");
        let (base, params) = split_url("http://x/oai?verb=ListRecords&resumptionToken=a%2Bb");
        assert_eq!(base, "http://x/oai");
        assert_eq!(
            params,
            vec![
                ("verb".to_owned(), "ListRecords".to_owned()),
                ("resumptionToken".to_owned(), "a+b".to_owned())
            ]
        );
    }
}
