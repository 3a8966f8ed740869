//! MARCXML (the MARC 21 "slim" schema) reading and writing.
//!
//! Reading matches elements and attributes by their *local* names, so
//! `<marc:record>`, `<slim:record>` and `<record>` are all records, and a
//! record cut out of an OAI-PMH response still parses when the `xmlns`
//! declaration stayed behind on an ancestor. Values are taken verbatim, after
//! the decoding XML itself requires (entity and character references, and the
//! XML 1.0 §2.11 line-end rule that turns a literal CR LF into LF): nothing is
//! trimmed or normalised here, because that is the normalisation module's job
//! and it needs to see what the partner sent.
//!
//! Writing produces one fixed layout, byte for byte, so that a record written
//! here, read back and written again comes out identical; the caller decides
//! field order and this module must not re-sort.
//!
//! This module must not do I/O of its own (it reads and writes what it is
//! handed) and must not hold more than one record in memory while streaming.

use std::borrow::Cow;
use std::io::{self, BufRead, Write};

use quick_xml::events::{BytesDecl, BytesStart, Event};

use crate::record::LEADER_LEN;
use crate::{ControlField, DataField, Decoded, Field, MarcError, Record, Subfield, Warning};

/// The MARC 21 slim namespace, declared on everything this module writes.
pub const NAMESPACE: &str = "http://www.loc.gov/MARC21/slim";

/// Parses one MARCXML record.
///
/// `xml` may be a bare `<record>` element, a record embedded in a larger
/// fragment (such as the `<metadata>` of an OAI-PMH record, with or without
/// the enclosing elements and namespace declarations), or a `<collection>`
/// holding exactly one record. End tags of ancestors that were cut off are
/// tolerated. No record is [`MarcError::NoRecord`]; a second one is
/// [`MarcError::MultipleRecords`].
///
/// A blank leader/09 (MARC-8) is set to `a`, since MARCXML text is Unicode
/// whatever the leader says; [`parse_record_checked`] also reports it.
pub fn parse_record(xml: &str) -> Result<Record, MarcError> {
    parse_record_checked(xml).map(|decoded| decoded.record)
}

/// Like [`parse_record`], but also returns the [`Warning`]s raised while
/// reading the record, for the caller to count.
pub fn parse_record_checked(xml: &str) -> Result<Decoded, MarcError> {
    // Events borrowed from the text itself: copying each into a buffer, as
    // a streaming reader must, cost a few per cent of the parse.
    let mut reader = Engine::new(
        Borrowed(quick_xml::Reader::from_reader(xml.as_bytes())),
        Mode::Fragment,
    );
    let record = match reader.step() {
        Step::Record { result, .. } => result?,
        Step::Fatal(err) => return Err(err),
        Step::End => return Err(MarcError::NoRecord),
    };
    match reader.step() {
        Step::End => Ok(record),
        Step::Record { position, .. } => Err(MarcError::MultipleRecords { position }),
        Step::Fatal(err) => Err(err),
    }
}

/// Streaming reader over the MARCXML records in a document of any size.
///
/// Every element whose local name is `record` is read as a record, wherever
/// it sits (in a `<collection>`, in OAI-PMH `<metadata>`, ...); everything
/// outside records is skipped. Memory use is bounded by the largest record,
/// not by the document.
///
/// Errors come in two kinds:
/// - A record that is well-formed XML but not valid MARC (bad leader, bad tag,
///   missing attribute, unknown element, unresolvable entity, ...) yields
///   `Some(Err(..))` and reading goes on with the next record, because the
///   XML tokenizer is still in step with the document.
/// - XML the tokenizer cannot read (mismatched tags, a broken start tag,
///   input ending inside a record or before the document's elements are
///   closed) yields `Some(Err(..))` once and then `None`, because nothing
///   after that point can be trusted.
///
/// Only UTF-8 documents are read; a declaration naming another encoding is
/// [`MarcError::UnsupportedXmlEncoding`]. A UTF-8 byte order mark is skipped.
/// A blank leader/09 (MARC-8, often left behind by a conversion that
/// forgot to update it) is set to `a`, because XML text is Unicode; use
/// [`Reader::with_warnings`] to count those.
/// Control characters that XML 1.0 does not allow (typically left-over
/// MARC-8 escapes written as `&#27;`) are kept as found, since the record is
/// otherwise usable; [`write_record`] replaces them with U+FFFD.
pub struct Reader<R: BufRead> {
    engine: Engine<Buffered<R>>,
    /// Where the record (or error) last returned started.
    record_start: u64,
}

/// Where the XML events come from: a streamed input, each event copied
/// into a buffer, or a string in memory, each event borrowed from it.
trait Events {
    fn next_event(&mut self) -> quick_xml::Result<Event<'_>>;
    fn xml(&self) -> &quick_xml::Reader<impl Sized>;
    fn xml_mut(&mut self) -> &mut quick_xml::Reader<impl Sized>;
}

/// Events of a streamed input, read into a buffer of the reader's own.
struct Buffered<R> {
    xml: quick_xml::Reader<R>,
    buf: Vec<u8>,
}

impl<R: BufRead> Events for Buffered<R> {
    fn next_event(&mut self) -> quick_xml::Result<Event<'_>> {
        self.buf.clear();
        self.xml.read_event_into(&mut self.buf)
    }
    fn xml(&self) -> &quick_xml::Reader<impl Sized> {
        &self.xml
    }
    fn xml_mut(&mut self) -> &mut quick_xml::Reader<impl Sized> {
        &mut self.xml
    }
}

/// Events borrowed from text in memory.
struct Borrowed<'a>(quick_xml::Reader<&'a [u8]>);

impl Events for Borrowed<'_> {
    fn next_event(&mut self) -> quick_xml::Result<Event<'_>> {
        self.0.read_event()
    }
    fn xml(&self) -> &quick_xml::Reader<impl Sized> {
        &self.0
    }
    fn xml_mut(&mut self) -> &mut quick_xml::Reader<impl Sized> {
        &mut self.0
    }
}

/// The record-finding state machine of [`Reader`], over either source of
/// events.
struct Engine<E> {
    events: E,
    mode: Mode,
    /// Depth of open elements outside records, to notice a document that
    /// ends before its root element is closed (a truncated download).
    depth: usize,
    /// Number of fields in the last record, as a capacity hint.
    fields_hint: usize,
    done: bool,
}

/// Whether the input is a whole document or a fragment cut from one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Document,
    Fragment,
}

/// The outcome of looking for the next record.
enum Step {
    Record {
        position: u64,
        result: Result<Decoded, MarcError>,
    },
    Fatal(MarcError),
    End,
}

impl<R: BufRead> Reader<R> {
    /// Creates a reader over a whole MARCXML document.
    pub fn new(input: R) -> Self {
        let xml = quick_xml::Reader::from_reader(input);
        Reader {
            engine: Engine::new(
                Buffered {
                    xml,
                    buf: Vec::new(),
                },
                Mode::Document,
            ),
            record_start: 0,
        }
    }

    /// Byte offset in the input up to which the reader has read.
    pub fn position(&self) -> u64 {
        self.engine.events.xml.buffer_position()
    }

    /// Byte offset of the start tag of the record that the reader returned
    /// last (for an XML error, where reading stopped), to say where a bad
    /// record sits in a file.
    pub fn record_start(&self) -> u64 {
        self.record_start
    }

    /// Gives back the underlying input.
    pub fn into_inner(self) -> R {
        self.engine.events.xml.into_inner()
    }

    fn step(&mut self) -> Step {
        self.engine.step()
    }
}

impl<E: Events> Engine<E> {
    fn new(mut events: E, mode: Mode) -> Self {
        let config = events.xml_mut().config_mut();
        // Values are kept verbatim, so whitespace in text must survive.
        config.trim_text(false);
        config.check_end_names = true;
        config.expand_empty_elements = false;
        // A fragment may contain end tags of ancestors that were cut off.
        config.allow_unmatched_ends = mode == Mode::Fragment;
        Engine {
            events,
            mode,
            depth: 0,
            fields_hint: 0,
            done: false,
        }
    }

    /// Reads up to the start of the next record and then the whole record.
    fn step(&mut self) -> Step {
        if self.done {
            return Step::End;
        }
        loop {
            let position = self.events.xml().buffer_position();
            let event = match self.events.next_event() {
                Ok(event) => event,
                Err(source) => {
                    self.done = true;
                    return Step::Fatal(MarcError::Xml {
                        position: self.events.xml().error_position(),
                        source,
                    });
                }
            };
            match event {
                Event::Start(start) => {
                    if start.local_name().as_ref() == b"record" {
                        if let Some(step) = self.record(position) {
                            return step;
                        }
                    }
                    self.depth += 1;
                }
                Event::Empty(start) if start.local_name().as_ref() == b"record" => {
                    return Step::Record {
                        position,
                        result: Err(MarcError::MissingLeader { position }),
                    };
                }
                Event::End(_) => self.depth = self.depth.saturating_sub(1),
                Event::Decl(decl) => {
                    if let Some(err) = unsupported_encoding(&decl) {
                        self.done = true;
                        return Step::Fatal(err);
                    }
                }
                Event::Eof => {
                    self.done = true;
                    if self.mode == Mode::Document && self.depth > 0 {
                        return Step::Fatal(MarcError::UnexpectedEof {
                            context: "the document",
                            position: 0,
                        });
                    }
                    return Step::End;
                }
                _ => {}
            }
        }
    }

    /// Reads the body of a record whose start tag was at `position`, through
    /// its end tag.
    ///
    /// Returns `None` if the element turns out to be an OAI-PMH `<record>`
    /// (its first child is `<header>`, `<metadata>` or `<about>`): matching
    /// on local names cannot tell the two apart by namespace, and treating the
    /// OAI wrapper as a bad MARC record would hide the MARC record inside it.
    /// The caller then goes on scanning inside it.
    fn record(&mut self, position: u64) -> Option<Step> {
        let mut builder = RecordBuilder::new(position, self.fields_hint);
        loop {
            let at = self.events.xml().buffer_position();
            match self.events.next_event() {
                Err(source) => {
                    self.done = true;
                    return Some(Step::Fatal(MarcError::Xml {
                        position: self.events.xml().error_position(),
                        source,
                    }));
                }
                Ok(Event::Eof) => {
                    self.done = true;
                    return Some(Step::Fatal(MarcError::UnexpectedEof {
                        context: "a record",
                        position,
                    }));
                }
                Ok(event) => {
                    if !builder.seen_child {
                        if let Event::Start(start) | Event::Empty(start) = &event {
                            let local = start.local_name();
                            if matches!(local.as_ref(), b"header" | b"metadata" | b"about") {
                                if matches!(event, Event::Start(_)) {
                                    self.depth += 1;
                                }
                                return None;
                            }
                        }
                    }
                    if builder.handle(event, at) {
                        self.fields_hint = builder.fields.len();
                        return Some(Step::Record {
                            position,
                            result: builder.finish(),
                        });
                    }
                }
            }
        }
    }
}

impl<R: BufRead> Reader<R> {
    /// Turns the reader into one that also yields each record's warnings.
    pub fn with_warnings(self) -> WithWarnings<R> {
        WithWarnings(self)
    }

    fn next_decoded(&mut self) -> Option<Result<Decoded, MarcError>> {
        match self.step() {
            Step::Record { result, position } => {
                self.record_start = position;
                Some(result)
            }
            Step::Fatal(err) => {
                self.record_start = self.engine.events.xml.buffer_position();
                Some(Err(err))
            }
            Step::End => None,
        }
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Record, MarcError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_decoded()
            .map(|result| result.map(|decoded| decoded.record))
    }
}

impl<R: BufRead> std::iter::FusedIterator for Reader<R> {}

/// A [`Reader`] that yields each record together with its [`Warning`]s;
/// made by [`Reader::with_warnings`].
#[derive(Debug)]
pub struct WithWarnings<R: BufRead>(Reader<R>);

impl<R: BufRead> WithWarnings<R> {
    /// Byte offset in the input up to which the reader has read.
    pub fn position(&self) -> u64 {
        self.0.position()
    }

    /// See [`Reader::record_start`].
    pub fn record_start(&self) -> u64 {
        self.0.record_start()
    }
}

impl<R: BufRead> Iterator for WithWarnings<R> {
    type Item = Result<Decoded, MarcError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next_decoded()
    }
}

impl<R: BufRead> std::iter::FusedIterator for WithWarnings<R> {}

impl<R: BufRead> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("position", &self.position())
            .field("done", &self.engine.done)
            .finish_non_exhaustive()
    }
}

/// Where the record builder is inside a record.
enum Frame {
    Record,
    /// Inside `<leader>` that started at the given offset.
    Leader(u64),
    /// Inside `<controlfield>`; `None` when its tag was invalid.
    Control(Option<String>),
    Data,
    /// Inside `<subfield>`; `None` when its code was invalid.
    Subfield(Option<char>),
    /// Inside an element that has already been reported; its content is
    /// ignored until it closes.
    Skip,
}

/// Builds one record from the XML events between `<record>` and `</record>`.
///
/// After the first error it keeps consuming events (without building) so the
/// reader ends up after the record's end tag and can go on with the next.
struct RecordBuilder {
    position: u64,
    stack: Vec<Frame>,
    leader: Option<String>,
    leader_seen: bool,
    /// Whether any child element has been opened yet.
    seen_child: bool,
    fields: Vec<Field>,
    /// The data field being built; `None` when its start tag was invalid.
    data: Option<DataField>,
    text: String,
    error: Option<MarcError>,
}

impl RecordBuilder {
    /// A builder for the record at `position`; `fields` is a guess at how
    /// many fields it has (the previous record's count), to avoid regrowing.
    fn new(position: u64, fields: usize) -> Self {
        RecordBuilder {
            position,
            stack: vec![Frame::Record],
            leader: None,
            leader_seen: false,
            seen_child: false,
            fields: Vec::with_capacity(fields),
            data: None,
            text: String::new(),
            error: None,
        }
    }

    /// Keeps the first error only: later ones are usually consequences.
    fn fail(&mut self, err: MarcError) {
        if self.error.is_none() {
            self.error = Some(err);
        }
    }

    /// Handles one event; true when the record's end tag has been seen.
    fn handle(&mut self, event: Event<'_>, at: u64) -> bool {
        match event {
            Event::Start(start) => self.open(&start, at),
            Event::Empty(start) => {
                self.open(&start, at);
                return self.close();
            }
            Event::End(_) => return self.close(),
            Event::Text(text) => match self.leaf() {
                Some(true) => {
                    if let Err(source) = push_text(&mut self.text, &text) {
                        self.fail(MarcError::Xml {
                            position: at,
                            source,
                        });
                    }
                }
                Some(false)
                    if !text
                        .iter()
                        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) =>
                {
                    self.unexpected_text(&text, at);
                }
                Some(false) | None => {}
            },
            Event::CData(cdata) => match self.leaf() {
                Some(true) => match std::str::from_utf8(&cdata) {
                    Ok(value) => self.text.push_str(&normalize_line_ends(value)),
                    Err(err) => self.fail(MarcError::Xml {
                        position: at,
                        source: quick_xml::Error::Encoding(err.into()),
                    }),
                },
                Some(false) if !cdata.is_empty() => self.unexpected_text(&cdata, at),
                Some(false) | None => {}
            },
            // Comments, processing instructions and the like carry no data.
            Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) | Event::Eof => {}
        }
        false
    }

    /// Whether the current element holds text (`Some(true)`), holds only
    /// elements (`Some(false)`), or is being skipped (`None`).
    fn leaf(&self) -> Option<bool> {
        match self.stack.last() {
            Some(Frame::Leader(_) | Frame::Control(_) | Frame::Subfield(_)) => Some(true),
            Some(Frame::Record | Frame::Data) => Some(false),
            Some(Frame::Skip) | None => None,
        }
    }

    fn parent_name(&self) -> &'static str {
        match self.stack.last() {
            Some(Frame::Record) | None => "record",
            Some(Frame::Leader(_)) => "leader",
            Some(Frame::Control(_)) => "controlfield",
            Some(Frame::Data) => "datafield",
            Some(Frame::Subfield(_)) => "subfield",
            Some(Frame::Skip) => "skipped element",
        }
    }

    fn unexpected_text(&mut self, raw: &[u8], at: u64) {
        let text: String = String::from_utf8_lossy(raw).chars().take(40).collect();
        let parent = self.parent_name();
        self.fail(MarcError::UnexpectedText {
            text,
            parent,
            position: at,
        });
    }

    fn unexpected_element(&mut self, name: &[u8], at: u64) -> Frame {
        let parent = self.parent_name();
        self.fail(MarcError::UnexpectedElement {
            name: String::from_utf8_lossy(name).into_owned(),
            parent,
            position: at,
        });
        Frame::Skip
    }

    fn open(&mut self, start: &BytesStart<'_>, at: u64) {
        self.seen_child = true;
        let local = start.local_name();
        let name = local.as_ref();
        let frame = match self.stack.last() {
            Some(Frame::Record) => match name {
                b"leader" => {
                    if self.leader_seen {
                        self.fail(MarcError::DuplicateLeader { position: at });
                    }
                    self.leader_seen = true;
                    self.text.clear();
                    Frame::Leader(at)
                }
                b"controlfield" => {
                    self.text.clear();
                    match Attributes::of(start, "controlfield", at)
                        .and_then(|attributes| tag_attribute(&attributes, "controlfield", at))
                    {
                        Ok(tag) => Frame::Control(Some(tag)),
                        Err(err) => {
                            self.fail(err);
                            Frame::Control(None)
                        }
                    }
                }
                b"datafield" => {
                    self.data = match data_field(start, at) {
                        Ok(field) => Some(field),
                        Err(err) => {
                            self.fail(err);
                            None
                        }
                    };
                    Frame::Data
                }
                _ => self.unexpected_element(name, at),
            },
            Some(Frame::Data) if name == b"subfield" => {
                self.text.clear();
                let tag = self.data.as_ref().map_or("", |d| d.tag.as_str());
                match subfield_code(start, tag, at) {
                    Ok(code) => Frame::Subfield(Some(code)),
                    Err(err) => {
                        self.fail(err);
                        Frame::Subfield(None)
                    }
                }
            }
            Some(Frame::Skip) | None => Frame::Skip,
            Some(_) => self.unexpected_element(name, at),
        };
        self.stack.push(frame);
    }

    /// Handles an end tag (quick-xml has already checked that it matches the
    /// start tag); true when it closed the record.
    fn close(&mut self) -> bool {
        let Some(frame) = self.stack.pop() else {
            return true;
        };
        match frame {
            Frame::Record => return true,
            Frame::Leader(at) => {
                let leader = std::mem::take(&mut self.text);
                if self.leader.is_none() {
                    // Padding or truncating would silently change leader/05-09
                    // and friends, so a wrong length is an error.
                    if leader.chars().count() == LEADER_LEN {
                        self.leader = Some(leader);
                    } else {
                        self.fail(MarcError::BadLeader {
                            leader,
                            reason: "a leader must be 24 characters",
                            position: Some(at),
                        });
                    }
                }
            }
            Frame::Control(Some(tag)) => {
                let value = std::mem::take(&mut self.text);
                self.fields
                    .push(Field::Control(ControlField { tag, value }));
            }
            Frame::Subfield(Some(code)) => {
                let value = std::mem::take(&mut self.text);
                if let Some(data) = self.data.as_mut() {
                    data.subfields.push(Subfield { code, value });
                }
            }
            Frame::Data => {
                if let Some(data) = self.data.take() {
                    self.fields.push(Field::Data(data));
                }
            }
            Frame::Control(None) | Frame::Subfield(None) | Frame::Skip => {}
        }
        false
    }

    fn finish(self) -> Result<Decoded, MarcError> {
        if let Some(err) = self.error {
            return Err(err);
        }
        let mut leader = self.leader.ok_or(MarcError::MissingLeader {
            position: self.position,
        })?;
        let mut warnings = Vec::new();
        // Leader/09 blank claims MARC-8, but XML text is Unicode by
        // definition: keeping the claim would make the record contradict
        // itself, and a later ISO 2709 writer or reader would act on it.
        if leader
            .get(..10)
            .is_some_and(|head| head.is_ascii() && head.ends_with(' '))
        {
            leader.replace_range(9..10, "a");
            warnings.push(Warning::XmlLeaderCharsetFixed {
                position: self.position,
            });
        }
        Ok(Decoded {
            record: Record {
                leader,
                fields: self.fields,
            },
            warnings,
        })
    }
}

/// The attributes this module reads, as found in one start tag (undecoded).
#[derive(Default)]
struct Attributes<'a> {
    tag: Option<Cow<'a, [u8]>>,
    ind1: Option<Cow<'a, [u8]>>,
    ind2: Option<Cow<'a, [u8]>>,
    code: Option<Cow<'a, [u8]>>,
}

impl<'a> Attributes<'a> {
    /// Reads the attributes of `start` in one pass, so that quick-xml
    /// checks the syntax of the whole tag.
    ///
    /// A repeated `tag`, `ind1`, `ind2` or `code` is a duplicate-attribute
    /// error, as XML requires. quick-xml's own duplicate check is off: it
    /// allocates for every element, which is most of this reader's time on
    /// large files, and a repeated attribute that this module does not
    /// read cannot change the record. Namespace declarations are skipped so
    /// that `xmlns:tag="..."` is never taken for a `tag` attribute.
    fn of(start: &'a BytesStart<'_>, element: &'static str, at: u64) -> Result<Self, MarcError> {
        let mut found = Attributes::default();
        let mut attributes = start.attributes();
        attributes.with_checks(false);
        for attr in attributes {
            let attr = attr.map_err(|err| MarcError::Xml {
                position: at,
                source: err.into(),
            })?;
            if attr.key.as_namespace_binding().is_some() {
                continue;
            }
            let (slot, attribute) = match attr.key.local_name().as_ref() {
                b"tag" => (&mut found.tag, "tag"),
                b"ind1" => (&mut found.ind1, "ind1"),
                b"ind2" => (&mut found.ind2, "ind2"),
                b"code" => (&mut found.code, "code"),
                _ => continue,
            };
            if slot.is_some() {
                return Err(MarcError::DuplicateAttribute {
                    element,
                    attribute,
                    position: at,
                });
            }
            *slot = Some(attr.value);
        }
        Ok(found)
    }
}

/// Decodes an attribute value: UTF-8, whitespace, then references.
///
/// Borrows when there is nothing to decode, which is almost always: this
/// runs for every tag, indicator and subfield code.
fn attribute_text<'v>(raw: &'v [u8], at: u64) -> Result<Cow<'v, str>, MarcError> {
    let xml_error = |source: quick_xml::Error| MarcError::Xml {
        position: at,
        source,
    };
    let text = std::str::from_utf8(raw)
        .map_err(|err| xml_error(quick_xml::Error::Encoding(err.into())))?;
    if !text.contains(['\t', '\n', '\r', '&']) {
        return Ok(Cow::Borrowed(text));
    }
    // XML 1.0 §3.3.3: literal line ends and tabs in attribute values are
    // read as spaces (references such as &#9; are not, which is why the
    // writer uses them).
    let normalized = text.replace("\r\n", " ").replace(['\t', '\n', '\r'], " ");
    let value = quick_xml::escape::unescape(&normalized).map_err(|err| xml_error(err.into()))?;
    Ok(Cow::Owned(value.into_owned()))
}

/// Reads and checks the `tag` attribute of a field element.
fn tag_attribute(
    attributes: &Attributes<'_>,
    element: &'static str,
    at: u64,
) -> Result<String, MarcError> {
    let raw = attributes
        .tag
        .as_deref()
        .ok_or(MarcError::MissingAttribute {
            element,
            attribute: "tag",
            position: at,
        })?;
    let tag = attribute_text(raw, at)?;
    if tag.len() == 3 && tag.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(tag.into_owned())
    } else {
        Err(MarcError::BadTag {
            tag: tag.into_owned(),
            position: Some(at),
        })
    }
}

/// Reads the attributes of a `<datafield>` start tag.
fn data_field(start: &BytesStart<'_>, at: u64) -> Result<DataField, MarcError> {
    let attributes = Attributes::of(start, "datafield", at)?;
    let tag = tag_attribute(&attributes, "datafield", at)?;
    let ind1 = indicator(attributes.ind1.as_deref(), 1, &tag, at)?;
    let ind2 = indicator(attributes.ind2.as_deref(), 2, &tag, at)?;
    Ok(DataField::new(tag, ind1, ind2))
}

/// Reads an indicator attribute; missing or empty means blank.
fn indicator(raw: Option<&[u8]>, which: u8, tag: &str, at: u64) -> Result<char, MarcError> {
    let value = attribute_text(raw.unwrap_or_default(), at)?;
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (None, _) => Ok(' '),
        (Some(c), None) => Ok(c),
        (Some(_), Some(_)) => Err(MarcError::BadIndicator {
            tag: tag.to_owned(),
            which,
            value: value.into_owned(),
            position: Some(at),
            iso2709: false,
        }),
    }
}

/// Reads the `code` attribute of a `<subfield>`.
fn subfield_code(start: &BytesStart<'_>, tag: &str, at: u64) -> Result<char, MarcError> {
    let attributes = Attributes::of(start, "subfield", at)?;
    let raw = attributes
        .code
        .as_deref()
        .ok_or(MarcError::MissingAttribute {
            element: "subfield",
            attribute: "code",
            position: at,
        })?;
    let code = attribute_text(raw, at)?;
    let mut chars = code.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(MarcError::BadSubfieldCode {
            tag: tag.to_owned(),
            code: code.into_owned(),
            position: Some(at),
            iso2709: false,
        }),
    }
}

/// Appends the decoded text of a text node to `out`: UTF-8, line ends, then
/// references; without an intermediate copy when there is nothing to decode.
fn push_text(out: &mut String, raw: &[u8]) -> Result<(), quick_xml::Error> {
    let text = std::str::from_utf8(raw).map_err(|err| quick_xml::Error::Encoding(err.into()))?;
    if !text.contains(['&', '\r']) {
        out.push_str(text);
        return Ok(());
    }
    let text = normalize_line_ends(text);
    out.push_str(&quick_xml::escape::unescape(&text)?);
    Ok(())
}

/// XML 1.0 §2.11: a literal CR LF or lone CR in the document is read as LF.
/// (A CR written as `&#13;` is kept, which is why the writer uses it.)
fn normalize_line_ends(text: &str) -> Cow<'_, str> {
    if text.contains('\r') {
        Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

/// An error if the XML declaration names an encoding other than UTF-8.
///
/// quick-xml is built without its `encoding` feature, so anything else would
/// be misread; refusing up front gives a clearer reason than the UTF-8 error
/// that would follow.
fn unsupported_encoding(decl: &BytesDecl<'_>) -> Option<MarcError> {
    let encoding = decl.encoding()?.ok()?;
    let encoding = String::from_utf8_lossy(&encoding).into_owned();
    let supported = ["utf-8", "utf8", "us-ascii", "ascii"]
        .iter()
        .any(|name| encoding.eq_ignore_ascii_case(name));
    (!supported).then_some(MarcError::UnsupportedXmlEncoding { encoding })
}

/// Writes `record` as a standalone `<record>` element with the MARC 21 slim
/// namespace declared on it.
///
/// The layout is fixed (two-space indentation, one element per line, no
/// trailing newline), so equal records give equal bytes. Fields are written in
/// the record's order, whatever their tags. Characters that XML 1.0 does not
/// allow (C0 controls other than tab, LF and CR, and U+FFFE/U+FFFF) are
/// replaced by U+FFFD REPLACEMENT CHARACTER rather than dropped, so the output
/// shows that something was there; everything else is written as is. The
/// leader is written as given, even if it is not 24 characters.
pub fn write_record<W: Write + ?Sized>(record: &Record, out: &mut W) -> io::Result<()> {
    out.write_all(to_string(record).as_bytes())
}

/// The [`write_record`] output as a string.
pub fn to_string(record: &Record) -> String {
    let mut out = String::with_capacity(rendered_len_estimate(record));
    render(record, &mut out, true);
    out
}

/// Writes a MARCXML `<collection>` one record at a time.
///
/// Call [`CollectionWriter::finish`] to close the collection; dropping the
/// writer without it leaves the document unterminated (and a [`Reader`] will
/// report it as truncated), since errors could not be reported from `drop`.
pub struct CollectionWriter<W: Write> {
    out: W,
    buf: String,
}

impl<W: Write> CollectionWriter<W> {
    /// Writes the XML declaration and the `<collection>` start tag.
    pub fn new(mut out: W) -> io::Result<Self> {
        write!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<collection xmlns=\"{NAMESPACE}\">\n"
        )?;
        Ok(CollectionWriter {
            out,
            buf: String::new(),
        })
    }

    /// Writes one record, laid out as [`write_record`] does but without its
    /// own namespace declaration (the collection's applies).
    pub fn write(&mut self, record: &Record) -> io::Result<()> {
        self.buf.clear();
        render(record, &mut self.buf, false);
        self.buf.push('\n');
        self.out.write_all(self.buf.as_bytes())
    }

    /// Closes the collection, flushes, and gives back the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(b"</collection>\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> std::fmt::Debug for CollectionWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectionWriter").finish_non_exhaustive()
    }
}

/// About how long [`render`] makes `record`: the values plus the markup
/// around each, so that the string is allocated once instead of doubling
/// its way up.
fn rendered_len_estimate(record: &Record) -> usize {
    let values: usize = record
        .fields
        .iter()
        .map(|field| match field {
            Field::Control(control) => control.value.len() + 40,
            Field::Data(data) => {
                data.subfields
                    .iter()
                    .map(|sf| sf.value.len() + 36)
                    .sum::<usize>()
                    + 60
            }
        })
        .sum();
    values + 128
}

/// Appends the fixed MARCXML layout of `record` to `out`.
fn render(record: &Record, out: &mut String, declare_namespace: bool) {
    out.push_str("<record");
    if declare_namespace {
        out.push_str(" xmlns=\"");
        out.push_str(NAMESPACE);
        out.push('"');
    }
    out.push_str(">\n  <leader>");
    escape(out, &record.leader, false);
    out.push_str("</leader>\n");
    for field in &record.fields {
        match field {
            Field::Control(control) => {
                out.push_str("  <controlfield tag=\"");
                escape(out, &control.tag, true);
                out.push_str("\">");
                escape(out, &control.value, false);
                out.push_str("</controlfield>\n");
            }
            Field::Data(data) => {
                out.push_str("  <datafield tag=\"");
                escape(out, &data.tag, true);
                out.push_str("\" ind1=\"");
                escape(out, data.ind1.encode_utf8(&mut [0; 4]), true);
                out.push_str("\" ind2=\"");
                escape(out, data.ind2.encode_utf8(&mut [0; 4]), true);
                out.push_str("\">\n");
                for subfield in &data.subfields {
                    out.push_str("    <subfield code=\"");
                    escape(out, subfield.code.encode_utf8(&mut [0; 4]), true);
                    out.push_str("\">");
                    escape(out, &subfield.value, false);
                    out.push_str("</subfield>\n");
                }
                out.push_str("  </datafield>\n");
            }
        }
    }
    out.push_str("</record>");
}

/// Appends `text` escaped for element content or (if `attribute`) for a
/// double-quoted attribute value.
///
/// CR is always written as a reference, and tab and LF in attributes too,
/// because a conforming parser would otherwise turn them into LF or spaces.
///
/// Almost every value needs nothing escaped, so the text is copied in runs
/// between the bytes that may need work (looked up in a table); going char
/// by char was about 6 % of the harvest's time spent preparing records.
fn escape(out: &mut String, text: &str, attribute: bool) {
    let table = if attribute {
        &ESCAPE_ATTRIBUTE
    } else {
        &ESCAPE_TEXT
    };
    let bytes = text.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !table[b as usize] {
            i += 1;
            continue;
        }
        // Every byte the table marks is ASCII or the lead byte of a
        // three-byte sequence, so `i` is a char boundary.
        let replacement = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\t' if attribute => "&#9;",
            b'\n' if attribute => "&#10;",
            b'\r' => "&#13;",
            b'\t' | b'\n' => {
                i += 1;
                continue;
            }
            // U+FFFE and U+FFFF (EF BF BE, EF BF BF) are not XML
            // characters; any other char starting with EF is copied.
            0xEF => {
                if bytes.get(i + 1) == Some(&0xBF) && matches!(bytes.get(i + 2), Some(0xBE | 0xBF))
                {
                    out.push_str(&text[run..i]);
                    out.push('\u{FFFD}');
                    i += 3;
                    run = i;
                } else {
                    i += 1;
                }
                continue;
            }
            // The other controls below space.
            _ => "\u{FFFD}",
        };
        out.push_str(&text[run..i]);
        out.push_str(replacement);
        i += 1;
        run = i;
    }
    out.push_str(&text[run..]);
}

/// The bytes [`escape`] looks at in element content: controls, `&`, `<`,
/// `>`, and 0xEF (which starts U+FFFE and U+FFFF).
static ESCAPE_TEXT: [bool; 256] = escape_table(false);
/// The same in attribute values, plus `"`.
static ESCAPE_ATTRIBUTE: [bool; 256] = escape_table(true);

const fn escape_table(attribute: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'&' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[0xEF] = true;
    if attribute {
        table[b'"' as usize] = true;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::{awkward_record, LEADER};

    /// Records written here must read back equal, and re-write byte-identical.
    #[test]
    fn round_trip_is_byte_identical() {
        let record = awkward_record();
        let xml = to_string(&record);
        let parsed = parse_record(&xml).expect("own output parses");
        assert_eq!(parsed, record);
        assert_eq!(to_string(&parsed), xml);
    }

    /// The writer's layout is part of the contract (determinism, escaping).
    #[test]
    fn writer_layout_and_escaping() {
        let mut r = Record::new(LEADER);
        r.push(ControlField::new("001", "a&b").into());
        r.push(
            DataField::new("245", '"', '<')
                .with('a', "x<y>&\"z\"\u{1}")
                .into(),
        );
        let expected = "<record xmlns=\"http://www.loc.gov/MARC21/slim\">\n  \
            <leader>00000cam a2200000 i 4500</leader>\n  \
            <controlfield tag=\"001\">a&amp;b</controlfield>\n  \
            <datafield tag=\"245\" ind1=\"&quot;\" ind2=\"&lt;\">\n    \
            <subfield code=\"a\">x&lt;y&gt;&amp;\"z\"\u{FFFD}</subfield>\n  \
            </datafield>\n</record>";
        assert_eq!(to_string(&r), expected);
        let mut bytes = Vec::new();
        write_record(&r, &mut bytes).expect("write to vec");
        assert_eq!(bytes, expected.as_bytes());
    }

    /// The run-copying escape must write exactly what escaping one char
    /// at a time (the rule as documented) writes, for text and attributes,
    /// over strings dense in the characters it treats specially.
    #[test]
    fn escape_agrees_with_the_char_by_char_rule() {
        fn by_char(text: &str, attribute: bool) -> String {
            let mut out = String::new();
            for c in text.chars() {
                match c {
                    '&' => out.push_str("&amp;"),
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '"' if attribute => out.push_str("&quot;"),
                    '\t' if attribute => out.push_str("&#9;"),
                    '\n' if attribute => out.push_str("&#10;"),
                    '\r' => out.push_str("&#13;"),
                    '\t' | '\n' => out.push(c),
                    c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
                    c => out.push(c),
                }
            }
            out
        }
        let alphabet: Vec<char> =
            "ab &<>\"'\t\n\r\u{1}\u{1f}\u{7f}\u{FFFE}\u{FFFF}\u{FFFD}\u{FEFF}\u{F000}\u{EFFF}əЖ€😀"
                .chars()
                .collect();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..5_000 {
            let mut text = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 24) as usize;
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            for attribute in [false, true] {
                let mut out = String::from("x");
                escape(&mut out, &text, attribute);
                assert_eq!(
                    out[1..],
                    by_char(&text, attribute),
                    "{text:?} attribute={attribute}"
                );
            }
        }
    }

    /// Prefixed names, missing namespace declarations and OAI wrappers are
    /// all common in harvested data.
    #[test]
    fn matches_local_names_without_namespace_declarations() {
        let xml = r#"<marc:record><marc:leader>00000nam a2200000 i 4500</marc:leader>
            <marc:controlfield tag="001">1</marc:controlfield>
            <marc:datafield tag="245" ind1="0" ind2="0"><marc:subfield code="a">T</marc:subfield></marc:datafield>
            </marc:record></metadata></record>"#;
        let r = parse_record(xml).expect("prefixed fragment parses");
        assert_eq!(r.control("001"), Some("1"));
        assert_eq!(
            r.data_fields("245").next().and_then(|d| d.subfield('a')),
            Some("T")
        );

        let oai = r#"<?xml version="1.0"?><OAI-PMH><GetRecord><record><header/><metadata>
            <slim:collection xmlns:slim="http://www.loc.gov/MARC21/slim"><slim:record>
            <slim:leader>00000nam a2200000 i 4500</slim:leader></slim:record></slim:collection>
            </metadata></record></GetRecord></OAI-PMH>"#;
        assert_eq!(
            parse_record(oai).expect("oai wrapper skipped").leader,
            "00000nam a2200000 i 4500"
        );
        let inner = &oai[oai.find("<slim:collection").expect("present")
            ..oai.find("</metadata>").expect("present")];
        assert_eq!(
            parse_record(inner).expect("collection of one").leader,
            "00000nam a2200000 i 4500"
        );
    }

    /// Entities and character references are decoded; text is not trimmed.
    #[test]
    fn decodes_references_and_keeps_whitespace() {
        let xml = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><!-- c --><record>\
            <leader>00000nam a2200000 i 4500</leader><?pi x?>\
            <datafield tag=\"245\"><subfield code=\"a\">  &#x1D538;&#601;&amp;&lt;&apos; <![CDATA[<raw>]]> </subfield>\
            <subfield code=\"b\"/><!-- c --></datafield></record>";
        let r = parse_record(xml).expect("parses");
        let f = r.data_fields("245").next().expect("245");
        assert_eq!((f.ind1, f.ind2), (' ', ' '));
        assert_eq!(f.subfields[0].value, "  𝔸ə&<' <raw> ");
        assert_eq!(f.subfields[1], Subfield::new('b', ""));
    }

    /// Literal line ends follow XML 1.0 (CR LF read as LF); &#13; survives.
    #[test]
    fn line_ends_follow_xml_rules() {
        let xml = "<record><leader>00000nam a2200000 i 4500</leader>\
            <controlfield tag=\"001\">a\r\nb\rc&#13;d</controlfield></record>";
        assert_eq!(
            parse_record(xml).expect("parses").control("001"),
            Some("a\nb\nc\rd")
        );
    }

    /// Each malformation gets a specific error naming the problem.
    #[test]
    fn malformed_records_give_specific_errors() {
        let wrap = |body: &str| {
            format!("<record><leader>00000nam a2200000 i 4500</leader>{body}</record>")
        };
        let cases: &[(&str, &str)] = &[
            ("<controlfield>x</controlfield>", "has no tag attribute"),
            (
                "<controlfield tag=\"00\">x</controlfield>",
                "invalid tag \"00\"",
            ),
            ("<datafield tag=\"24a5\"/>", "invalid tag \"24a5\""),
            (
                "<datafield tag=\"245\" ind1=\"10\"/>",
                "invalid indicator 1 \"10\" in field 245",
            ),
            (
                "<datafield tag=\"245\"><subfield>x</subfield></datafield>",
                "<subfield> at byte",
            ),
            (
                "<datafield tag=\"245\"><subfield code=\"\">x</subfield></datafield>",
                "invalid subfield code \"\"",
            ),
            (
                "<datafield tag=\"245\"><subfield code=\"ab\">x</subfield></datafield>",
                "invalid subfield code \"ab\"",
            ),
            (
                "<datafield tag=\"245\">stray<subfield code=\"a\">x</subfield></datafield>",
                "unexpected text \"stray\" inside <datafield>",
            ),
            ("<foo/>", "unexpected element <foo> inside <record>"),
            (
                "<datafield tag=\"245\"><subfield code=\"a\">x<i>y</i></subfield></datafield>",
                "unexpected element <i> inside <subfield>",
            ),
            ("<leader>00000nam a2200000 i 4500</leader>", "second leader"),
            (
                "<controlfield tag=\"001\">&nbsp;</controlfield>",
                "malformed xml",
            ),
            (
                "<datafield tag=\"245\" ind1=\"1\" ind1=\"2\"/>",
                "<datafield> at byte 49 has a second ind1 attribute",
            ),
        ];
        for (body, expected) in cases {
            let err = parse_record(&wrap(body)).expect_err(body).to_string();
            assert!(err.contains(expected), "{body}: {err}");
        }
        for (xml, expected) in [
            (
                "<record><leader>too short</leader></record>",
                "bad leader \"too short\"",
            ),
            ("<record/>", "has no leader"),
            (
                "<record><controlfield tag=\"001\">1</controlfield></record>",
                "has no leader",
            ),
            ("<collection/>", "no marcxml record"),
            (
                "<record><leader>00000nam a2200000 i 4500</leader>",
                "ended inside a record",
            ),
            (
                "<record><leader>00000nam a2200000 i 4500</leader></recor>",
                "malformed xml",
            ),
            (
                "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><record/>",
                "unsupported xml encoding",
            ),
        ] {
            let err = parse_record(xml).expect_err(xml).to_string();
            assert!(err.contains(expected), "{xml}: {err}");
        }
        let two = format!("<collection>{}{}</collection>", wrap(""), wrap(""));
        assert!(matches!(
            parse_record(&two),
            Err(MarcError::MultipleRecords { .. })
        ));
    }

    /// A bad record is reported and reading goes on; broken XML stops it.
    #[test]
    fn reader_continues_after_bad_records_and_stops_on_broken_xml() {
        let good = "<record><leader>00000nam a2200000 i 4500</leader></record>";
        let bad = "<record><leader>short</leader><controlfield tag=\"x\">1</controlfield></record>";
        let doc = format!("<collection>{good}{bad}{good}<record><leader></collection>{good}");
        let results: Vec<_> = Reader::new(doc.as_bytes()).collect();
        assert_eq!(results.len(), 4, "{results:?}");
        assert!(results[0].is_ok());
        assert!(matches!(results[1], Err(MarcError::BadLeader { .. })));
        assert!(results[2].is_ok());
        assert!(matches!(results[3], Err(MarcError::Xml { .. })));

        let truncated = format!("<collection>{good}");
        let results: Vec<_> = Reader::new(truncated.as_bytes()).collect();
        assert!(matches!(
            results[..],
            [Ok(_), Err(MarcError::UnexpectedEof { .. })]
        ));
    }

    /// The collection writer's output reads back with the streaming reader.
    #[test]
    fn collection_writer_round_trips_through_reader() {
        let records = vec![awkward_record(), Record::new(LEADER)];
        let mut writer = CollectionWriter::new(Vec::new()).expect("vec");
        for r in &records {
            writer.write(r).expect("vec");
        }
        let bytes = writer.finish().expect("vec");
        let text = String::from_utf8(bytes.clone()).expect("utf-8");
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<collection xmlns="));
        let read: Vec<Record> = Reader::new(&bytes[..])
            .collect::<Result<_, _>>()
            .expect("reads");
        assert_eq!(read, records);
    }

    /// Indicators written with a tab or newline must not be normalised away.
    #[test]
    fn whitespace_in_attributes_survives() {
        let mut r = Record::new(LEADER);
        r.push(DataField::new("245", '\t', '\n').with('\r', "x").into());
        let xml = to_string(&r);
        assert!(xml.contains("ind1=\"&#9;\" ind2=\"&#10;\""));
        assert_eq!(parse_record(&xml).expect("parses"), r);
    }

    /// A whole OAI-PMH ListRecords page can be streamed: the OAI <record>
    /// wrappers (including deleted ones with only a header) are not taken
    /// for MARC records.
    #[test]
    fn reader_streams_marc_records_out_of_an_oai_page() {
        let page = r#"<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>
<record><header><identifier>a</identifier></header><metadata>
<marc:record xmlns:marc="http://www.loc.gov/MARC21/slim"><marc:leader>00000nam a2200000 i 4500</marc:leader>
<marc:controlfield tag="001">a</marc:controlfield></marc:record></metadata></record>
<record><header status="deleted"><identifier>b</identifier></header></record>
<record><header><identifier>c</identifier></header><metadata>
<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000 i 4500</leader>
<controlfield tag="001">c</controlfield></record></metadata></record>
<resumptionToken>t</resumptionToken></ListRecords></OAI-PMH>"#;
        let ids: Vec<String> = Reader::new(page.as_bytes())
            .map(|r| {
                r.expect("valid")
                    .control("001")
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        assert_eq!(ids, ["a", "c"]);
    }

    /// Leader/09 blank in MARCXML is fixed to 'a' (XML text is Unicode),
    /// and the checked variants say so.
    #[test]
    fn blank_leader_09_is_fixed_with_a_warning() {
        let xml = "<collection><record><leader>00000nam  2200000 i 4500</leader></record>\
            <record><leader>00000nam a2200000 i 4500</leader></record></collection>";
        let first = &xml[12..xml.find("<record><leader>00000nam a").expect("second")];
        let decoded = parse_record_checked(first).expect("parses");
        assert_eq!(decoded.record.leader, "00000nam a2200000 i 4500");
        assert_eq!(
            decoded.warnings,
            [Warning::XmlLeaderCharsetFixed { position: 0 }]
        );
        assert_eq!(
            parse_record(first).expect("parses").leader,
            "00000nam a2200000 i 4500"
        );
        let warnings: Vec<usize> = Reader::new(xml.as_bytes())
            .with_warnings()
            .map(|r| r.expect("parses").warnings.len())
            .collect();
        assert_eq!(warnings, [1, 0]);
        // A leader with non-ASCII before position 9 is left alone rather
        // than patched at the wrong character.
        let odd = "<record><leader>0000ё  a  2200000 i 4500</leader></record>";
        assert!(parse_record_checked(odd)
            .expect("parses")
            .warnings
            .is_empty());
    }

    /// No truncation of a record, however awkward, may panic.
    #[test]
    fn truncated_input_never_panics() {
        let xml = to_string(&awkward_record());
        for (end, _) in xml.char_indices() {
            assert!(parse_record(&xml[..end]).is_err(), "{end}");
            let _ = Reader::new(&xml.as_bytes()[..end]).count();
        }
    }
}
