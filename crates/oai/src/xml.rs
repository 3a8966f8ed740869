//! A small, forgiving tree of the OAI-PMH envelope, built with quick-xml.
//!
//! Only the envelope is turned into elements; the insides of `metadata`,
//! `about`, `description` and `setDescription` are skipped and remembered
//! as byte ranges, so a page of MARC records costs one node per record
//! rather than one per subfield, and the metadata can be sliced out of the
//! original bytes exactly as written. Names are local names (prefixes
//! dropped) because endpoints use `oai:` prefixes, the default namespace,
//! or no namespace at all. Text is decoded as UTF-8, which OAI-PMH
//! mandates; a decoding problem is recorded on the element rather than
//! failing the document, so one bad record does not sink a page.
//!
//! This module must never panic, whatever the bytes: every index into the
//! body goes through `get`.

use std::ops::Range;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::error::OaiError;

/// Elements whose content is another community's XML: never interpreted.
const OPAQUE: &[&str] = &["metadata", "about", "description", "setDescription"];

/// The deepest envelope nesting we accept. OAI-PMH needs six levels
/// (`OAI-PMH > ListRecords > record > header > identifier`, plus slack for
/// extensions); the cap keeps a hostile body of nested tags from building
/// a tree so deep that dropping it recursively would overflow the stack.
/// Opaque content (the MARC record itself) is only counted, never built,
/// so it is not limited.
const MAX_DEPTH: usize = 32;

/// The UTF-8 byte order mark. quick-xml skips it but then counts offsets
/// from after it, so we strip it ourselves to keep offsets true.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// One element of the envelope.
#[derive(Debug, Clone)]
pub(crate) struct Element {
    /// Local name (prefix dropped).
    pub name: String,
    /// Attributes by local name, values unescaped; namespace declarations
    /// are left out.
    pub attrs: Vec<(String, String)>,
    /// The element's own text (not its children's), unescaped.
    pub text: String,
    /// Why the text could not be decoded, if it could not.
    pub text_error: Option<String>,
    /// Child elements (empty for opaque elements).
    pub children: Vec<Element>,
    /// Byte range of the whole element in the (BOM-stripped) body.
    pub span: Range<usize>,
    /// For opaque elements: byte ranges of their element children.
    pub opaque_children: Vec<Range<usize>>,
}

impl Element {
    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// An attribute value by local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The trimmed text, or why it could not be decoded.
    pub fn trimmed_text(&self) -> Result<&str, String> {
        match &self.text_error {
            Some(err) => Err(err.clone()),
            None => Ok(self.text.trim()),
        }
    }

    /// The trimmed text of the first child with this name; empty if there
    /// is no such child.
    pub fn child_text(&self, name: &str) -> Result<&str, String> {
        match self.child(name) {
            Some(c) => c.trimmed_text().map_err(|e| format!("<{name}>: {e}")),
            None => Ok(""),
        }
    }
}

/// A parsed document: the root element and the bytes its ranges index.
pub(crate) struct Document<'a> {
    /// The body without a leading byte order mark.
    pub body: &'a [u8],
    /// The root element.
    pub root: Element,
}

/// Builds the envelope tree of a response body.
///
/// Fails with [`OaiError::Malformed`] for an empty body, XML that is not
/// well-formed, a truncated document, text or elements outside the root,
/// or names that are not UTF-8.
pub(crate) fn parse(body: &[u8]) -> Result<Document<'_>, OaiError> {
    let body = body.strip_prefix(UTF8_BOM).unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(OaiError::Malformed("empty body".to_owned()));
    }

    let mut reader = Reader::from_reader(body);
    // Keep every text event, including whitespace, so that the position
    // before a start tag is exactly its '<'.
    reader.config_mut().trim_text(false);

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    // Inside an opaque element: how deep below it we are, and where its
    // current child element started.
    let mut opaque_depth: Option<usize> = None;
    let mut opaque_child_start = 0usize;

    loop {
        let before = to_usize(reader.buffer_position());
        let event = reader.read_event().map_err(|e| {
            OaiError::Malformed(format!(
                "not well-formed XML near byte {}: {e}",
                reader.error_position()
            ))
        })?;
        let after = to_usize(reader.buffer_position());

        if let Some(depth) = opaque_depth {
            match event {
                Event::Start(_) => {
                    if depth == 0 {
                        opaque_child_start = before;
                    }
                    opaque_depth = Some(depth + 1);
                    continue;
                }
                Event::Empty(_) => {
                    if depth == 0 {
                        if let Some(top) = stack.last_mut() {
                            top.opaque_children.push(before..after);
                        }
                    }
                    continue;
                }
                Event::End(_) if depth > 0 => {
                    if depth == 1 {
                        if let Some(top) = stack.last_mut() {
                            top.opaque_children.push(opaque_child_start..after);
                        }
                    }
                    opaque_depth = Some(depth - 1);
                    continue;
                }
                Event::Eof => {}
                // The end of the opaque element itself falls through.
                Event::End(_) => opaque_depth = None,
                // Text, comments and the like inside opaque content.
                _ => continue,
            }
        }

        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(after_root(before));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(OaiError::Malformed(format!(
                        "elements nested more than {MAX_DEPTH} deep near byte {before}: \
                         not an OAI-PMH envelope"
                    )));
                }
                let element = new_element(&start, before)?;
                if OPAQUE.contains(&element.name.as_str()) {
                    opaque_depth = Some(0);
                }
                stack.push(element);
            }
            Event::Empty(start) => {
                if root.is_some() {
                    return Err(after_root(before));
                }
                let mut element = new_element(&start, before)?;
                element.span.end = after;
                attach(&mut stack, &mut root, element);
            }
            Event::End(_) => {
                // quick-xml has already checked that the name matches.
                let Some(mut element) = stack.pop() else {
                    return Err(OaiError::Malformed(format!(
                        "end tag without start tag near byte {before}"
                    )));
                };
                element.span.end = after;
                attach(&mut stack, &mut root, element);
            }
            Event::Text(text) => {
                let raw = text.into_inner();
                match stack.last_mut() {
                    Some(top) => push_text(top, &raw, true),
                    None => {
                        if !raw.iter().all(u8::is_ascii_whitespace) {
                            return Err(text_outside_root(&raw, root.is_some()));
                        }
                    }
                }
            }
            Event::CData(cdata) => {
                let raw = cdata.into_inner();
                match stack.last_mut() {
                    Some(top) => push_text(top, &raw, false),
                    None => return Err(text_outside_root(&raw, root.is_some())),
                }
            }
            Event::Eof => break,
            // Declarations, processing instructions (xml-stylesheet),
            // comments and doctypes carry nothing we need.
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }

    if let Some(open) = stack.last() {
        let path: Vec<&str> = stack.iter().map(|e| e.name.as_str()).collect();
        return Err(OaiError::Malformed(format!(
            "truncated: the body ends inside <{}> (open: {})",
            open.name,
            path.join(" > ")
        )));
    }
    match root {
        Some(root) => Ok(Document { body, root }),
        None => Err(OaiError::Malformed("no root element".to_owned())),
    }
}

/// quick-xml counts positions in `u64`; a body in memory always fits in
/// `usize`, and if it somehow did not, `get` on the range fails softly.
fn to_usize(pos: u64) -> usize {
    usize::try_from(pos).unwrap_or(usize::MAX)
}

/// Adds a finished element to its parent, or makes it the root.
fn attach(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

/// Starts an element from its start tag.
fn new_element(start: &BytesStart<'_>, pos: usize) -> Result<Element, OaiError> {
    let name = std::str::from_utf8(start.local_name().as_ref())
        .map_err(|_| OaiError::Malformed(format!("element name is not UTF-8 near byte {pos}")))?
        .to_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| {
            OaiError::Malformed(format!("bad attribute on <{name}> near byte {pos}: {e}"))
        })?;
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        let key = String::from_utf8_lossy(attr.key.local_name().as_ref()).into_owned();
        let value = std::str::from_utf8(&attr.value)
            .ok()
            .and_then(|v| quick_xml::escape::unescape(v).ok())
            .ok_or_else(|| {
                OaiError::Malformed(format!(
                    "attribute {key} on <{name}> near byte {pos} is not valid UTF-8 text"
                ))
            })?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element {
        name,
        attrs,
        text: String::new(),
        text_error: None,
        children: Vec::new(),
        span: pos..pos,
        opaque_children: Vec::new(),
    })
}

/// Appends decoded text to an element, or records why it could not be.
fn push_text(element: &mut Element, raw: &[u8], escaped: bool) {
    if element.text_error.is_some() {
        return;
    }
    let decoded = match std::str::from_utf8(raw) {
        Err(e) => Err(format!("text is not valid UTF-8: {e}")),
        Ok(s) if escaped => quick_xml::escape::unescape(s)
            .map(|c| c.into_owned())
            .map_err(|e| format!("bad character reference: {e}")),
        Ok(s) => Ok(s.to_owned()),
    };
    match decoded {
        Ok(s) => element.text.push_str(&s),
        Err(e) => element.text_error = Some(e),
    }
}

fn after_root(pos: usize) -> OaiError {
    OaiError::Malformed(format!(
        "a second top-level element near byte {pos}: only one root is allowed"
    ))
}

fn text_outside_root(raw: &[u8], after: bool) -> OaiError {
    let snippet: String = String::from_utf8_lossy(raw)
        .trim()
        .chars()
        .take(40)
        .collect();
    let place = if after { "after" } else { "before" };
    OaiError::Malformed(format!("text {place} the root element: {snippet:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opaque children are sliced exactly, and nested same-named elements
    /// (a MARC `record` inside an OAI `record`) do not confuse the depth.
    #[test]
    fn opaque_children_are_exact_slices() {
        let body = "\u{feff}<r><record><metadata>\n <m:record xmlns:m='x'><m:record/>t</m:record>\n</metadata></record></r>";
        let doc = parse(body.as_bytes()).unwrap();
        let metadata = &doc.root.children[0].children[0];
        assert_eq!(metadata.name, "metadata");
        let [range] = metadata.opaque_children.as_slice() else {
            panic!("one child expected");
        };
        assert_eq!(
            &doc.body[range.clone()],
            b"<m:record xmlns:m='x'><m:record/>t</m:record>"
        );
    }

    /// Deep nesting is refused in the envelope but fine inside metadata.
    #[test]
    fn depth_is_bounded_outside_metadata_only() {
        let deep = "<a>".repeat(200_000);
        assert!(matches!(
            parse(deep.as_bytes()),
            Err(OaiError::Malformed(_))
        ));
        let nested = format!("{}{}", "<x>".repeat(1000), "</x>".repeat(1000));
        let body = format!("<r><metadata>{nested}</metadata></r>");
        let doc = parse(body.as_bytes()).unwrap();
        assert_eq!(doc.root.children[0].opaque_children.len(), 1);
    }

    /// Truncation anywhere inside the root is reported, never accepted.
    #[test]
    fn truncation_is_detected() {
        let body = b"<a><b>text</b><c x=\"1\"/></a>";
        for len in 1..body.len() {
            assert!(
                matches!(parse(&body[..len]), Err(OaiError::Malformed(_))),
                "prefix of {len} bytes accepted"
            );
        }
        assert!(parse(body).is_ok());
    }
}
