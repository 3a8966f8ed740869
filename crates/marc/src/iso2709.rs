//! ISO 2709 ("binary MARC", `.mrc`) reading and writing of MARC 21 records.
//!
//! Output is always UTF-8 (leader/09 `a`) with MARC 21's fixed structure:
//! two indicators, one-byte subfield codes, a 4-digit field length and a
//! 5-digit starting position in each directory entry (leader/10-11 `22`,
//! leader/20-23 `4500`). The writer recomputes those leader positions and the
//! record length and base address, and builds the directory from the fields,
//! on every write: nothing of a leader or directory read earlier is trusted.
//! Every other leader position is kept.
//! It refuses, with an error naming the field, anything that would not read
//! back as the same record: an over-long field or record, a delimiter
//! character inside a value, a multi-byte indicator or subfield code, or a
//! field whose kind does not match its tag (see [`to_bytes`]). It must never
//! write a record that a reader would take apart differently.
//!
//! # Records too large for the format
//!
//! A field over 9,999 bytes or a record over 99,999 bytes is refused with
//! [`MarcError::FieldTooLong`] or [`MarcError::RecordTooLong`], which name
//! the tag and size, so the caller can quarantine the record or publish it
//! as MARCXML only (which has no such limits). It is never truncated,
//! split behind the caller's back, or written with lengths that overflow
//! their digits. That is what marc4j's `MarcStreamWriter` does by default
//! (it throws unless told to allow oversize records); splitting a field
//! into repeats (solrmarc's `MarcSplitStreamWriter`) changes the record's
//! meaning and is a cataloguing decision, not a writer's. `yaz-marcdump -o
//! marc` is the example to avoid: given a 12,000-byte field it writes a
//! five-digit length into the four-digit directory slot, and then cannot
//! read its own output.
//!
//! # Reading
//!
//! The reader is strict about structure (lengths, offsets, terminators,
//! character coding) and reports the first problem with its byte offset, but
//! one bad record does not stop a file: records are framed by their record
//! terminator (0x1D), so the next record is still found after a bad one.
//! MARC-8 records are converted to Unicode (see [`crate::marc8`]), and a
//! leader/09 that contradicts the bytes is detected in both directions (see
//! [`Reader`]).
//!
//! # Why not the `marc` crate
//!
//! The `marc` crate (3.1) was evaluated for both directions and is not used
//! at run time; it stays a dev-dependency as an independent check of our
//! output in the tests. Its reader indexes slices with offsets taken straight
//! from the input, so a short record, a base address below 24 or a directory
//! entry of length 0 makes it panic instead of returning an error (checked
//! against 3.1.1: `Record::read` on `b"00010abcde"` panics), which a daemon
//! reading partner files cannot accept. Its subfield iterator silently drops
//! bytes between the indicators and the first delimiter and stops at an
//! empty subfield code, losing data without an error. Its `RecordBuilder`
//! re-sorts fields by tag (we must keep the caller's order), fixes
//! leader/10-11 and 20-23 but gives no way to keep the other leader bytes
//! except through per-position setters, and its `FieldTooLarge` error does
//! not say how large the field was. Guarding every one of those cases would
//! mean re-implementing the parsing in front of it, so the format (a few
//! hundred lines) is implemented here instead.
//!
//! This module must not do I/O of its own beyond reading the `Read` it is
//! given, and must not hold more than one record in memory while streaming.

use std::io::{self, BufRead, BufReader, Read};

use crate::record::LEADER_LEN;
use crate::{marc8, ControlField, DataField, Decoded, Field, MarcError, Record, Subfield, Warning};

/// Ends a record.
const RECORD_TERMINATOR: u8 = 0x1D;
/// Ends the directory and each field.
const FIELD_TERMINATOR: u8 = 0x1E;
/// Starts each subfield.
const SUBFIELD_DELIMITER: u8 = 0x1F;
/// Starts a MARC-8 escape sequence; never part of UTF-8 text in a record.
const ESCAPE: u8 = 0x1B;
/// Length of a MARC 21 directory entry: tag (3), length (4), start (5).
const DIRECTORY_ENTRY_LEN: usize = 12;

/// Longest record the 5-digit record length can express, in bytes.
pub const MAX_RECORD_LEN: usize = 99_999;
/// Longest field the 4-digit field length can express, in bytes, field
/// terminator included.
pub const MAX_FIELD_LEN: usize = 9_999;

/// Encodes `record` as one ISO 2709 record in UTF-8.
///
/// Leader/00-04 (record length), 09 (`a`, UTF-8), 10-11 (`22`), 12-16 (base
/// address) and 20-23 (`4500`) are recomputed; the rest of the leader is kept.
/// Fields are written in the record's order.
///
/// # Errors
///
/// - [`MarcError::BadLeader`] if the leader is not 24 ASCII characters, or
///   holds a delimiter in a position that is kept.
/// - [`MarcError::FieldTooLong`] if a field exceeds [`MAX_FIELD_LEN`] bytes,
///   [`MarcError::RecordTooLong`] if the record exceeds [`MAX_RECORD_LEN`].
/// - [`MarcError::BadTag`], [`MarcError::BadIndicator`],
///   [`MarcError::BadSubfieldCode`] if a tag is not 3 ASCII letters or digits,
///   or an indicator or subfield code is not a single ASCII character.
/// - [`MarcError::DelimiterInValue`] if a value contains U+001D, U+001E or
///   U+001F.
/// - [`MarcError::FieldKindMismatch`] if a control field has a numeric tag
///   above 009, a data field has a tag 000-009, or a data field with a
///   non-numeric tag has no subfields: ISO 2709 does not say which fields are
///   control fields, so the reader goes by the tag and such fields would come
///   back as the other kind.
pub fn to_bytes(record: &Record) -> Result<Vec<u8>, MarcError> {
    let mut out = Vec::new();
    write_record(record, &mut out)?;
    Ok(out)
}

/// Encodes `record` as [`to_bytes`] does, into `out` (cleared first), so
/// that a caller writing many records can reuse one buffer.
///
/// # Errors
///
/// As [`to_bytes`]; `out` is left empty on error.
pub fn write_record(record: &Record, out: &mut Vec<u8>) -> Result<(), MarcError> {
    out.clear();
    let result = encode(record, out, false);
    if result.is_err() {
        out.clear();
    }
    result.map(|_| ())
}

/// Encodes `record` as [`write_record`] does, but in MARC-8 (leader/09
/// blank), for systems that read nothing else: every value goes through
/// [`marc8::utf8_to_marc8`], and lengths count the MARC-8 bytes. Returns
/// how many characters MARC-8 has no code for and were written as
/// `&#xHHHH;` references (MARC 21's lossless convention, read back by
/// this crate's reader).
///
/// # Errors
///
/// As [`to_bytes`]; `out` is left empty on error.
pub fn write_record_marc8(record: &Record, out: &mut Vec<u8>) -> Result<usize, MarcError> {
    out.clear();
    let result = encode(record, out, true);
    if result.is_err() {
        out.clear();
    }
    result
}

/// The body of [`write_record`].
///
/// The leader and directory are laid out first as placeholders (their size
/// is known from the number of fields), the data is written after them, and
/// each directory entry and finally the leader are filled in place: one
/// buffer, no copies, no allocation per field.
///
/// With `marc8`, values are converted to MARC-8 and leader/09 is blank;
/// the result is the number of characters written as references.
fn encode(record: &Record, out: &mut Vec<u8>, marc8: bool) -> Result<usize, MarcError> {
    let mut references = 0;
    let leader = record.leader.as_bytes();
    if leader.len() != LEADER_LEN || !leader.is_ascii() {
        return Err(MarcError::BadLeader {
            leader: record.leader.clone(),
            reason: "an iso 2709 leader must be 24 ascii characters",
            position: None,
        });
    }
    // The positions that are kept (05-08, 17-19) must not hold a delimiter,
    // or a reader would end the record inside its own leader. (Found by
    // fuzzing: a MARCXML leader with a raw 0x1D.)
    if leader[5..9]
        .iter()
        .chain(&leader[17..20])
        .any(|&b| is_delimiter(b))
    {
        return Err(MarcError::BadLeader {
            leader: record.leader.clone(),
            reason: "an iso 2709 leader must not hold a delimiter (0x1d, 0x1e, 0x1f)",
            position: None,
        });
    }

    let base_address = LEADER_LEN + record.fields.len() * DIRECTORY_ENTRY_LEN + 1;
    out.resize(base_address, b'0');
    for (i, field) in record.fields.iter().enumerate() {
        let tag = field.tag();
        check_tag(tag)?;
        let start = out.len() - base_address;
        match field {
            Field::Control(control) => {
                if !is_control_tag(tag) && is_numeric(tag) {
                    return Err(kind_mismatch(
                        tag,
                        "control",
                        "a numeric tag above 009 is read back as a data field",
                    ));
                }
                check_value(tag, None, &control.value)?;
                if marc8 {
                    references += marc8::utf8_to_marc8(&control.value, out);
                } else {
                    out.extend_from_slice(control.value.as_bytes());
                }
            }
            Field::Data(field) => {
                if is_control_tag(tag) {
                    return Err(kind_mismatch(
                        tag,
                        "data",
                        "tags 000-009 are read back as control fields",
                    ));
                }
                if field.subfields.is_empty() && !is_numeric(tag) {
                    return Err(kind_mismatch(
                        tag,
                        "data",
                        "a field with a non-numeric tag and no subfields is read back as a control field",
                    ));
                }
                out.push(indicator_byte(tag, 1, field.ind1)?);
                out.push(indicator_byte(tag, 2, field.ind2)?);
                for subfield in &field.subfields {
                    let code = code_byte(tag, subfield.code)?;
                    check_value(tag, Some(subfield.code), &subfield.value)?;
                    out.push(SUBFIELD_DELIMITER);
                    out.push(code);
                    if marc8 {
                        references += marc8::utf8_to_marc8(&subfield.value, out);
                    } else {
                        out.extend_from_slice(subfield.value.as_bytes());
                    }
                }
            }
        }
        out.push(FIELD_TERMINATOR);
        let length = out.len() - base_address - start;
        if length > MAX_FIELD_LEN {
            return Err(MarcError::FieldTooLong {
                tag: tag.to_owned(),
                length,
            });
        }
        // A start beyond five digits means the record is too long, which
        // is reported below; the entry is never written with it.
        if start <= MAX_RECORD_LEN {
            let entry = LEADER_LEN + i * DIRECTORY_ENTRY_LEN;
            let slot = &mut out[entry..entry + DIRECTORY_ENTRY_LEN];
            slot[..3].copy_from_slice(tag.as_bytes());
            put_digits(&mut slot[3..7], length);
            put_digits(&mut slot[7..12], start);
        }
    }
    out[base_address - 1] = FIELD_TERMINATOR;
    out.push(RECORD_TERMINATOR);

    let length = out.len();
    if length > MAX_RECORD_LEN {
        return Err(MarcError::RecordTooLong { length });
    }
    out[..LEADER_LEN].copy_from_slice(leader);
    put_digits(&mut out[0..5], length);
    out[9..12].copy_from_slice(if marc8 { b" 22" } else { b"a22" });
    put_digits(&mut out[12..17], base_address);
    out[20..24].copy_from_slice(b"4500");
    Ok(references)
}

/// Writes `n` as zero-padded decimal filling `slot`; the callers have
/// checked that it fits.
fn put_digits(slot: &mut [u8], mut n: usize) {
    for byte in slot.iter_mut().rev() {
        *byte = b'0' + (n % 10) as u8;
        n /= 10;
    }
    debug_assert_eq!(n, 0, "number does not fit its slot");
}

/// Parses exactly one ISO 2709 record: `bytes` must run from the first byte
/// of the leader to the record terminator, inclusive.
///
/// See [`Reader`] for the character coding rules; the warnings that
/// [`parse_record_checked`] returns are dropped, and the record is the same.
/// Byte offsets in errors count from the start of `bytes`.
pub fn parse_record(bytes: &[u8]) -> Result<Record, MarcError> {
    parse_at(bytes, 0).map(|decoded| decoded.record)
}

/// Like [`parse_record`], but also returns the [`Warning`]s raised while
/// reading the record (a leader/09 that did not match the bytes), for the
/// caller to count.
pub fn parse_record_checked(bytes: &[u8]) -> Result<Decoded, MarcError> {
    parse_at(bytes, 0)
}

/// Streaming reader over a file of ISO 2709 records.
///
/// Yields one `Result` per record. A malformed record yields an error and
/// reading goes on with the next record; an I/O error or input that ends in
/// the middle of a record yields an error and then `None`. Line breaks
/// between records (written by some tools) are skipped. Memory use is
/// bounded by [`MAX_RECORD_LEN`]: a "record" with no terminator in that many
/// bytes is reported as [`MarcError::Unterminated`] and skipped. Use
/// [`Reader::with_warnings`] to get the [`Warning`]s too.
///
/// Character coding starts from leader/09, and the bytes are checked
/// against it in both directions, because partner systems often get it
/// wrong. Records come back with leader/09 `a` whatever they were encoded
/// in, since the model holds Unicode.
/// - `a`: UTF-8, checked strictly. If the bytes are not UTF-8, hold no valid
///   multi-byte UTF-8 sequence at all and convert cleanly from MARC-8, they
///   are taken as MARC-8 ([`Warning::Marc8DespiteUtf8Leader`]); otherwise the
///   record is [`MarcError::InvalidUtf8`], naming the field, subfield and
///   byte offset.
/// - blank: MARC-8, converted by [`crate::marc8`]. If the bytes are valid
///   UTF-8 with multi-byte sequences and either contain no escape (0x1B) or
///   do not convert from MARC-8, they are taken as UTF-8
///   ([`Warning::Utf8DespiteMarc8Leader`]); otherwise a byte MARC-8 does not
///   define is [`MarcError::InvalidMarc8`].
/// - anything else: [`MarcError::UnsupportedEncoding`].
///
/// No byte is ever dropped or replaced: a record is either converted
/// exactly or reported.
pub struct Reader<R: Read> {
    input: BufReader<R>,
    buf: Vec<u8>,
    position: u64,
    /// Where the record (or error) last returned started.
    record_start: u64,
    done: bool,
}

/// What [`Reader::read_frame`] found.
enum Frame {
    /// A record, now in `buf`, starting at the given offset.
    Record(u64),
    /// The input ended in a record starting at the given offset.
    Truncated(u64),
    /// No terminator within the maximum record length.
    Unterminated(u64),
    /// The input ended between records.
    End,
}

impl<R: Read> Reader<R> {
    /// Creates a reader; the input is buffered internally.
    pub fn new(input: R) -> Self {
        Reader {
            input: BufReader::new(input),
            buf: Vec::new(),
            position: 0,
            record_start: 0,
            done: false,
        }
    }

    /// Byte offset in the input up to which the reader has read.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Byte offset at which the record (or the error) that the reader
    /// returned last started, to say where a bad record sits in a file.
    pub fn record_start(&self) -> u64 {
        self.record_start
    }

    /// Reads the next record's bytes, up to and including its terminator,
    /// into `buf`.
    ///
    /// Records are framed by their terminator rather than by the length in
    /// the leader: a wrong length (often a character count written by a tool
    /// that forgot UTF-8 is multi-byte) then spoils only that record, which
    /// is reported, instead of every record after it.
    fn read_frame(&mut self) -> io::Result<Frame> {
        self.buf.clear();
        loop {
            let available = fill_buf(&mut self.input)?;
            if available.is_empty() {
                return Ok(Frame::End);
            }
            let skip = available
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            let only_line_breaks = skip == available.len();
            self.input.consume(skip);
            self.position += skip as u64;
            if !only_line_breaks {
                break;
            }
        }

        let start = self.position;
        let mut oversized = false;
        loop {
            let available = fill_buf(&mut self.input)?;
            if available.is_empty() {
                return Ok(Frame::Truncated(start));
            }
            let (chunk, found) = match available.iter().position(|&b| b == RECORD_TERMINATOR) {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            if !oversized {
                if self.buf.len() + chunk <= MAX_RECORD_LEN {
                    self.buf.extend_from_slice(&available[..chunk]);
                } else {
                    oversized = true;
                    self.buf.clear();
                }
            }
            self.input.consume(chunk);
            self.position += chunk as u64;
            if found {
                return Ok(if oversized {
                    Frame::Unterminated(start)
                } else {
                    Frame::Record(start)
                });
            }
        }
    }
}

/// `fill_buf`, retrying when interrupted by a signal.
fn fill_buf<R: Read>(input: &mut BufReader<R>) -> io::Result<&[u8]> {
    loop {
        match input.fill_buf() {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            // The buffer is re-borrowed here rather than returned from the
            // match above, which the borrow checker cannot see through.
            Err(err) => return Err(err),
            Ok(_) => break,
        }
    }
    input.fill_buf()
}

impl<R: Read> Reader<R> {
    /// Turns the reader into one that also yields each record's warnings.
    pub fn with_warnings(self) -> WithWarnings<R> {
        WithWarnings(self)
    }

    /// The next record with its warnings; the [`Iterator`] implementations
    /// of both reader types are built on this.
    fn next_decoded(&mut self) -> Option<Result<Decoded, MarcError>> {
        if self.done {
            return None;
        }
        let frame = self.read_frame();
        self.record_start = match &frame {
            Ok(Frame::Record(start) | Frame::Unterminated(start) | Frame::Truncated(start)) => {
                *start
            }
            _ => self.position,
        };
        match frame {
            Ok(Frame::Record(start)) => Some(parse_at(&self.buf, start)),
            Ok(Frame::Unterminated(start)) => {
                Some(Err(MarcError::Unterminated { position: start }))
            }
            Ok(Frame::Truncated(start)) => {
                self.done = true;
                Some(Err(MarcError::Truncated { position: start }))
            }
            Ok(Frame::End) => {
                self.done = true;
                None
            }
            Err(source) => {
                self.done = true;
                Some(Err(MarcError::Io {
                    position: self.position,
                    source,
                }))
            }
        }
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Record, MarcError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_decoded()
            .map(|result| result.map(|decoded| decoded.record))
    }
}

impl<R: Read> std::iter::FusedIterator for Reader<R> {}

/// A [`Reader`] that yields each record together with its [`Warning`]s;
/// made by [`Reader::with_warnings`].
#[derive(Debug)]
pub struct WithWarnings<R: Read>(Reader<R>);

impl<R: Read> WithWarnings<R> {
    /// Byte offset in the input up to which the reader has read.
    pub fn position(&self) -> u64 {
        self.0.position()
    }

    /// See [`Reader::record_start`].
    pub fn record_start(&self) -> u64 {
        self.0.record_start()
    }
}

impl<R: Read> Iterator for WithWarnings<R> {
    type Item = Result<Decoded, MarcError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next_decoded()
    }
}

impl<R: Read> std::iter::FusedIterator for WithWarnings<R> {}

impl<R: Read> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("position", &self.position)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// How to turn the bytes of values into text.
#[derive(Clone, Copy)]
enum Coding {
    Utf8,
    Marc8,
}

/// Parses one record occupying all of `bytes`, which start at byte `base` of
/// the input (for error offsets).
///
/// Every offset read from the leader and directory is checked before it is
/// used, with `get` rather than indexing: this is the part the `marc` crate
/// gets wrong (it panics on such input; see the module docs).
fn parse_at(bytes: &[u8], base: u64) -> Result<Decoded, MarcError> {
    let at = |offset: usize| base + offset as u64;
    let structure = |offset: usize, reason: String| MarcError::BadStructure {
        position: at(offset),
        reason,
    };

    let Some(leader) = bytes.get(..LEADER_LEN) else {
        return Err(MarcError::BadLeader {
            leader: String::from_utf8_lossy(bytes).into_owned(),
            reason: "the record is shorter than its 24-byte leader",
            position: Some(base),
        });
    };
    let bad_leader = |reason| MarcError::BadLeader {
        leader: String::from_utf8_lossy(leader).into_owned(),
        reason,
        position: Some(base),
    };
    if !leader.is_ascii() {
        return Err(bad_leader("the leader is not ascii"));
    }
    let declared = decimal(&leader[0..5])
        .ok_or_else(|| bad_leader("leader/00-04 (record length) is not a number"))?;
    if declared != bytes.len() {
        return Err(MarcError::LengthMismatch {
            position: base,
            declared,
            actual: bytes.len(),
        });
    }
    let Some((&last, body)) = bytes.split_last() else {
        return Err(bad_leader("the record is empty"));
    };
    if last != RECORD_TERMINATOR {
        return Err(structure(
            bytes.len() - 1,
            "the record does not end with a record terminator".into(),
        ));
    }
    if let Some(i) = body.iter().position(|&b| b == RECORD_TERMINATOR) {
        return Err(structure(i, "record terminator inside the record".into()));
    }
    let base_address = decimal(&leader[12..17])
        .ok_or_else(|| bad_leader("leader/12-16 (base address of data) is not a number"))?;
    if base_address <= LEADER_LEN || base_address > body.len() {
        return Err(structure(
            12,
            format!("base address of data {base_address} is outside the record"),
        ));
    }
    let declared = leader[9];
    if !matches!(declared, b'a' | b' ') {
        return Err(MarcError::UnsupportedEncoding {
            value: char::from(declared),
            position: base,
        });
    }

    let directory = &body[LEADER_LEN..base_address];
    let Some((&FIELD_TERMINATOR, directory)) = directory.split_last() else {
        return Err(structure(
            base_address - 1,
            "the directory does not end with a field terminator".into(),
        ));
    };
    if directory.len() % DIRECTORY_ENTRY_LEN != 0 {
        return Err(structure(
            LEADER_LEN,
            format!(
                "directory length {} is not a multiple of {DIRECTORY_ENTRY_LEN}",
                directory.len()
            ),
        ));
    }
    let data_area = &body[base_address..];
    let parse = |coding| parse_fields(directory, data_area, base, base_address, coding);

    let mut warnings = Vec::new();
    let fields = if declared == b'a' {
        match parse(Coding::Utf8) {
            Err(err @ MarcError::InvalidUtf8 { .. }) => {
                // Not UTF-8 after all. Real MARC-8 bytes almost never form a
                // valid multi-byte UTF-8 sequence (an ANSEL diacritic is
                // followed by an ASCII letter, not a continuation byte), so
                // MARC-8 is tried only when there is none; a UTF-8 record
                // with a few corrupt bytes is reported, not re-read as
                // MARC-8 mojibake.
                let converted = (!has_utf8_multibyte(data_area))
                    .then(|| parse(Coding::Marc8).ok())
                    .flatten();
                match converted {
                    Some(fields) => {
                        warnings.push(Warning::Marc8DespiteUtf8Leader { position: base });
                        fields
                    }
                    None => return Err(err),
                }
            }
            other => other?,
        }
    } else {
        // Leader/09 blank says MARC-8, but many systems export UTF-8 without
        // setting it. Valid UTF-8 with multi-byte sequences and no MARC-8
        // escape is taken as UTF-8 (see above for why MARC-8 does not look
        // like that); so is valid UTF-8 that MARC-8 cannot convert.
        let utf8 = !data_area.is_ascii() && std::str::from_utf8(data_area).is_ok();
        let as_utf8 = |warnings: &mut Vec<Warning>| {
            warnings.push(Warning::Utf8DespiteMarc8Leader { position: base });
            parse(Coding::Utf8)
        };
        if utf8 && !data_area.contains(&ESCAPE) {
            as_utf8(&mut warnings)?
        } else {
            match parse(Coding::Marc8) {
                Ok(fields) => fields,
                Err(err @ MarcError::InvalidMarc8 { .. }) if utf8 => {
                    as_utf8(&mut warnings).map_err(|_| err)?
                }
                Err(err) => return Err(err),
            }
        }
    };

    // The model holds Unicode, whatever the record was encoded in.
    let leader = leader
        .iter()
        .enumerate()
        .map(|(i, &b)| if i == 9 { 'a' } else { char::from(b) })
        .collect();
    Ok(Decoded {
        record: Record { leader, fields },
        warnings,
    })
}

/// Whether `bytes` hold at least one valid multi-byte UTF-8 sequence.
fn has_utf8_multibyte(bytes: &[u8]) -> bool {
    bytes.utf8_chunks().any(|chunk| !chunk.valid().is_ascii())
}

/// Parses the fields a checked directory describes.
///
/// `directory` excludes its terminator; `data_area` starts at the base
/// address `base_address` of a record at byte `base` of the input.
fn parse_fields(
    directory: &[u8],
    data_area: &[u8],
    base: u64,
    base_address: usize,
    coding: Coding,
) -> Result<Vec<Field>, MarcError> {
    let at = |offset: usize| base + offset as u64;
    let structure = |offset: usize, reason: String| MarcError::BadStructure {
        position: at(offset),
        reason,
    };
    let mut fields = Vec::with_capacity(directory.len() / DIRECTORY_ENTRY_LEN);
    for (i, entry) in directory.chunks_exact(DIRECTORY_ENTRY_LEN).enumerate() {
        let entry_offset = LEADER_LEN + i * DIRECTORY_ENTRY_LEN;
        let tag_bytes = &entry[0..3];
        if !tag_bytes.iter().all(u8::is_ascii_alphanumeric) {
            return Err(MarcError::BadTag {
                tag: String::from_utf8_lossy(tag_bytes).into_owned(),
                position: Some(at(entry_offset)),
            });
        }
        let tag: String = tag_bytes.iter().map(|&b| char::from(b)).collect();
        let (Some(length), Some(start)) = (decimal(&entry[3..7]), decimal(&entry[7..12])) else {
            return Err(structure(
                entry_offset,
                format!("directory entry for {tag} has a non-numeric length or starting position"),
            ));
        };
        let raw = data_area
            .get(start..start + length)
            .and_then(<[u8]>::split_last);
        let Some((&terminator, content)) = raw else {
            return Err(structure(
                entry_offset,
                format!("directory entry for {tag} (length {length}, start {start}) is empty or points outside the data area"),
            ));
        };
        let field_offset = base_address + start;
        if terminator != FIELD_TERMINATOR {
            return Err(MarcError::BadField {
                tag,
                position: at(field_offset + length - 1),
                reason: "the field does not end with a field terminator",
            });
        }
        if let Some(j) = content.iter().position(|&b| b == FIELD_TERMINATOR) {
            return Err(MarcError::BadField {
                tag,
                position: at(field_offset + j),
                reason: "field terminator inside the field",
            });
        }
        fields.push(parse_field(tag, content, at(field_offset), coding)?);
    }
    Ok(fields)
}

/// Parses the content of one field (terminator excluded) found at byte
/// `position` of the input.
fn parse_field(
    tag: String,
    content: &[u8],
    position: u64,
    coding: Coding,
) -> Result<Field, MarcError> {
    if is_control_field(&tag, content) {
        if let Some(i) = content.iter().position(|&b| b == SUBFIELD_DELIMITER) {
            return Err(MarcError::BadField {
                tag,
                position: position + i as u64,
                reason: "subfield delimiter in a control field",
            });
        }
        let value = decode(content, coding, &tag, None, position)?;
        return Ok(Field::Control(ControlField { tag, value }));
    }

    let Some((indicators, rest)) = content.split_first_chunk::<2>() else {
        return Err(MarcError::BadField {
            tag,
            position,
            reason: "the data field is shorter than its two indicators",
        });
    };
    let ind1 = read_indicator(&tag, 1, indicators[0], position)?;
    let ind2 = read_indicator(&tag, 2, indicators[1], position)?;
    let mut field = DataField::new(tag, ind1, ind2);
    let Some((&first, rest)) = rest.split_first() else {
        return Ok(Field::Data(field));
    };
    if first != SUBFIELD_DELIMITER {
        return Err(MarcError::BadField {
            tag: field.tag,
            position: position + 2,
            reason: "text between the indicators and the first subfield delimiter",
        });
    }
    // `offset` is where the current subfield's code sits in the input.
    let mut offset = position + 3;
    for chunk in rest.split(|&b| b == SUBFIELD_DELIMITER) {
        let Some((&code, value)) = chunk.split_first() else {
            return Err(MarcError::BadField {
                tag: field.tag,
                position: offset - 1,
                reason: "a subfield delimiter is not followed by a subfield code",
            });
        };
        if !code.is_ascii() {
            return Err(MarcError::BadSubfieldCode {
                tag: field.tag,
                code: format!("\\x{code:02x}"),
                position: Some(offset),
                iso2709: true,
            });
        }
        let code = char::from(code);
        let value = decode(value, coding, &field.tag, Some(code), offset + 1)?;
        field.subfields.push(Subfield { code, value });
        offset += chunk.len() as u64 + 1;
    }
    Ok(Field::Data(field))
}

/// Checks one indicator byte of a data field found at byte `position`.
fn read_indicator(tag: &str, which: u8, byte: u8, position: u64) -> Result<char, MarcError> {
    if byte.is_ascii() && !is_delimiter(byte) {
        return Ok(char::from(byte));
    }
    Err(MarcError::BadIndicator {
        tag: tag.to_owned(),
        which,
        value: if byte.is_ascii() {
            char::from(byte).to_string()
        } else {
            format!("\\x{byte:02x}")
        },
        position: Some(position),
        iso2709: true,
    })
}

/// Turns value bytes into text according to leader/09.
fn decode(
    bytes: &[u8],
    coding: Coding,
    tag: &str,
    code: Option<char>,
    position: u64,
) -> Result<String, MarcError> {
    match coding {
        Coding::Utf8 => match std::str::from_utf8(bytes) {
            Ok(text) => Ok(text.to_owned()),
            Err(err) => Err(MarcError::InvalidUtf8 {
                tag: tag.to_owned(),
                code,
                position: position + err.valid_up_to() as u64,
            }),
        },
        Coding::Marc8 => marc8::marc8_to_utf8(bytes).map_err(|problem| MarcError::InvalidMarc8 {
            tag: tag.to_owned(),
            code,
            position: position + problem.offset as u64,
            problem,
        }),
    }
}

/// Whether a field read from ISO 2709 is a control field.
///
/// The format itself does not say, so MARC 21's rule decides: 00X tags are
/// control fields and other numeric tags are data fields. Non-numeric local
/// tags (Aleph's `FMT`, `CAT`, ...) can be either; they are data fields when
/// the content has the shape of one (two indicators and a delimiter).
fn is_control_field(tag: &str, content: &[u8]) -> bool {
    if is_control_tag(tag) {
        true
    } else if is_numeric(tag) {
        false
    } else {
        content.get(2) != Some(&SUBFIELD_DELIMITER)
    }
}

fn is_control_tag(tag: &str) -> bool {
    tag.starts_with("00")
}

fn is_numeric(tag: &str) -> bool {
    tag.bytes().all(|b| b.is_ascii_digit())
}

fn is_delimiter(byte: u8) -> bool {
    matches!(
        byte,
        RECORD_TERMINATOR | FIELD_TERMINATOR | SUBFIELD_DELIMITER
    )
}

/// Parses an all-digit ASCII number.
fn decimal(digits: &[u8]) -> Option<usize> {
    digits.iter().try_fold(0usize, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + usize::from(b - b'0'))
    })
}

fn check_tag(tag: &str) -> Result<(), MarcError> {
    if tag.len() == 3 && tag.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(MarcError::BadTag {
            tag: tag.to_owned(),
            position: None,
        })
    }
}

fn check_value(tag: &str, code: Option<char>, value: &str) -> Result<(), MarcError> {
    // The delimiters are ASCII, and in UTF-8 an ASCII byte is always that
    // character, so scanning bytes is exact (and much faster than chars).
    match value.bytes().find(|&b| is_delimiter(b)) {
        Some(byte) => Err(MarcError::DelimiterInValue {
            tag: tag.to_owned(),
            code,
            character: char::from(byte),
        }),
        None => Ok(()),
    }
}

/// An indicator as its single byte, if it is one ASCII non-delimiter.
fn indicator_byte(tag: &str, which: u8, indicator: char) -> Result<u8, MarcError> {
    match u8::try_from(indicator) {
        Ok(byte) if byte.is_ascii() && !is_delimiter(byte) => Ok(byte),
        _ => Err(MarcError::BadIndicator {
            tag: tag.to_owned(),
            which,
            value: indicator.to_string(),
            position: None,
            iso2709: true,
        }),
    }
}

/// A subfield code as its single byte, if it is one ASCII non-delimiter.
fn code_byte(tag: &str, code: char) -> Result<u8, MarcError> {
    match u8::try_from(code) {
        Ok(byte) if byte.is_ascii() && !is_delimiter(byte) => Ok(byte),
        _ => Err(MarcError::BadSubfieldCode {
            tag: tag.to_owned(),
            code: code.to_string(),
            position: None,
            iso2709: true,
        }),
    }
}

fn kind_mismatch(tag: &str, kind: &'static str, reason: &'static str) -> MarcError {
    MarcError::FieldKindMismatch {
        tag: tag.to_owned(),
        kind,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{awkward_record, LEADER};

    fn small_record(leader: &str) -> Record {
        let mut r = Record::new(leader);
        r.push(ControlField::new("001", "1").into());
        r.push(DataField::new("245", '1', '0').with('a', "T").into());
        r
    }

    /// The exact bytes pin the layout and which leader positions are
    /// recomputed (00-04, 09, 10-11, 12-16, 20-23) and which are kept.
    #[test]
    fn writes_the_expected_bytes() {
        let bytes = to_bytes(&small_record("99999nam  3399999 i 9999")).expect("encodes");
        assert_eq!(
            bytes,
            b"00058nam a2200049 i 4500001000200000245000600002\x1e1\x1e10\x1faT\x1e\x1d"
        );
    }

    /// write_record reuses a dirty buffer and leaves it empty on error.
    #[test]
    fn write_record_reuses_the_buffer() {
        let record = awkward_record();
        let mut buf = b"left over".to_vec();
        write_record(&record, &mut buf).expect("encodes");
        assert_eq!(buf, to_bytes(&record).expect("encodes"));
        let mut bad = record.clone();
        bad.push(ControlField::new("005", "\u{1e}").into());
        assert!(write_record(&bad, &mut buf).is_err());
        assert!(buf.is_empty());
    }

    /// Record -> ISO 2709 -> Record is the identity apart from the leader
    /// positions the writer recomputes.
    #[test]
    fn round_trip_is_identity_except_recomputed_leader() {
        let record = awkward_record();
        let bytes = to_bytes(&record).expect("encodes");
        let parsed = parse_record(&bytes).expect("own output parses");
        let mut expected = record.clone();
        expected.leader = format!(
            "{:05}{}a22{:05}{}4500",
            bytes.len(),
            &LEADER[5..9],
            parse_record_base(&bytes),
            &LEADER[17..20]
        );
        assert_eq!(parsed, expected);
        assert_eq!(to_bytes(&parsed).expect("re-encodes"), bytes);

        // Aleph-style local control fields survive as control fields.
        let mut local = small_record(LEADER);
        local.push(ControlField::new("FMT", "BK").into());
        local.push(DataField::new("CAT", ' ', ' ').with('a', "x").into());
        let parsed = parse_record(&to_bytes(&local).expect("encodes")).expect("parses");
        assert_eq!(parsed.fields, local.fields);
    }

    fn parse_record_base(bytes: &[u8]) -> usize {
        decimal(&bytes[12..17]).expect("digits")
    }

    /// The `marc` crate, an independent implementation, must read our output
    /// as the same fields (this is what it is a dev-dependency for).
    #[test]
    fn marc_crate_reads_our_output() {
        let record = awkward_record();
        let bytes = to_bytes(&record).expect("encodes");
        let theirs = marc::Record::parse(&bytes).expect("marc crate parses our output");
        assert!(theirs.is_unicode().expect("valid utf-8"));
        let their_fields: Vec<(String, Vec<u8>)> = theirs
            .fields()
            .map(|f| {
                (
                    f.get_tag().as_str().to_owned(),
                    f.get_data::<[u8]>().to_vec(),
                )
            })
            .collect();
        let ours: Vec<(String, Vec<u8>)> = record
            .fields
            .iter()
            .map(|f| {
                let data = match f {
                    Field::Control(c) => c.value.as_bytes().to_vec(),
                    Field::Data(d) => {
                        let mut v = vec![d.ind1 as u8, d.ind2 as u8];
                        for s in &d.subfields {
                            v.push(SUBFIELD_DELIMITER);
                            v.push(s.code as u8);
                            v.extend_from_slice(s.value.as_bytes());
                        }
                        v
                    }
                };
                (f.tag().to_owned(), data)
            })
            .collect();
        assert_eq!(their_fields, ours);
    }

    /// And we must read what the `marc` crate's builder writes.
    #[test]
    fn reads_marc_crate_output() {
        let mut builder = marc::RecordBuilder::new();
        builder.set_character_coding_scheme(marc::CharacterCodingScheme::UcsUnicode);
        builder
            .add_field((b"001", "000000002"))
            .and_then(|b| b.add_field((b"245", "10\x1faВойна и мир\x1fc\x1f6880-01")))
            .expect("fields fit");
        let theirs = builder.get_record().expect("builds");
        let parsed = parse_record(theirs.as_ref()).expect("we parse marc crate output");
        assert_eq!(parsed.control("001"), Some("000000002"));
        let title = parsed.data_fields("245").next().expect("245");
        assert_eq!(
            title.subfields,
            [
                Subfield::new('a', "Война и мир"),
                Subfield::new('c', ""),
                Subfield::new('6', "880-01")
            ]
        );
    }

    /// Over-long fields and records are refused with the tag and size, never
    /// written corrupt.
    #[test]
    fn refuses_what_iso_2709_cannot_hold() {
        let mut r = small_record(LEADER);
        // 2 indicators + delimiter + code + value + terminator = 9,999: fits.
        r.push(
            DataField::new("520", ' ', ' ')
                .with('a', "x".repeat(9_994))
                .into(),
        );
        to_bytes(&r).expect("a 9,999-byte field fits");
        r.fields.pop();
        r.push(
            DataField::new("520", ' ', ' ')
                .with('a', "x".repeat(9_995))
                .into(),
        );
        let err = to_bytes(&r).expect_err("a 10,000-byte field does not fit");
        assert!(
            matches!(&err, MarcError::FieldTooLong { tag, length: 10_000 } if tag == "520"),
            "{err}"
        );

        let mut big = small_record(LEADER);
        for _ in 0..12 {
            big.push(
                DataField::new("505", '0', ' ')
                    .with('a', "y".repeat(9_000))
                    .into(),
            );
        }
        let result = to_bytes(&big).map(|bytes| bytes.len());
        assert!(
            matches!(result, Err(MarcError::RecordTooLong { length }) if length > MAX_RECORD_LEN),
            "{result:?}"
        );

        let cases: Vec<(Record, &str)> = vec![
            (small_record("short"), "bad leader"),
            (small_record("00000nam a2200000 i 450é"), "bad leader"),
            (
                with(DataField::new("24", ' ', ' ').with('a', "x").into()),
                "invalid tag",
            ),
            (
                with(DataField::new("245", 'é', ' ').with('a', "x").into()),
                "invalid indicator 1",
            ),
            (
                with(DataField::new("245", ' ', '\u{1f}').with('a', "x").into()),
                "invalid indicator 2",
            ),
            (
                with(DataField::new("245", ' ', ' ').with('ß', "x").into()),
                "invalid subfield code",
            ),
            (
                with(DataField::new("245", ' ', ' ').with('a', "x\u{1e}y").into()),
                "U+001E",
            ),
            (with(ControlField::new("005", "\u{1d}").into()), "U+001D"),
            (
                with(ControlField::new("245", "x").into()),
                "numeric tag above 009",
            ),
            (
                with(DataField::new("007", ' ', ' ').with('a', "x").into()),
                "tags 000-009",
            ),
            (with(DataField::new("CAT", ' ', ' ').into()), "no subfields"),
        ];
        for (record, expected) in cases {
            let err = to_bytes(&record).expect_err(expected).to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }

    fn with(field: Field) -> Record {
        let mut r = small_record(LEADER);
        r.push(field);
        r
    }

    /// Malformed records get a specific error with a byte offset.
    #[test]
    fn malformed_records_give_specific_errors() {
        let good = to_bytes(&small_record(LEADER)).expect("encodes");
        let patch = |at: usize, bytes: &[u8]| {
            let mut b = good.clone();
            b[at..at + bytes.len()].copy_from_slice(bytes);
            b
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (good[..20].to_vec(), "shorter than its 24-byte leader"),
            (patch(0, b"0005x"), "record length) is not a number"),
            (
                patch(0, b"00059"),
                "leader says 59 bytes but the record is 58",
            ),
            (
                patch(12, b"00010"),
                "base address of data 10 is outside the record",
            ),
            (
                patch(12, b"00048"),
                "directory does not end with a field terminator",
            ),
            (patch(9, b"z"), "unsupported character coding scheme 'z'"),
            (patch(24, b"0@1"), "invalid tag \"0@1\" at byte 24"),
            (patch(27, b"000x"), "non-numeric length"),
            (
                patch(39, b"0007"),
                "is empty or points outside the data area",
            ),
            (
                patch(36, b"246000500002"),
                "does not end with a field terminator",
            ),
            (patch(51, b"\x1f"), "invalid indicator 1"),
            (patch(54, b"\x1f"), "not followed by a subfield code"),
            (patch(54, b"\xff"), "invalid subfield code \"\\\\xff\""),
            (
                patch(55, b"\xff"),
                "invalid utf-8 in field 245 $a at byte 55",
            ),
            (patch(53, b"x"), "text between the indicators"),
            (patch(49, b"\x1f"), "subfield delimiter in a control field"),
            (patch(56, b"\x1d"), "record terminator inside the record"),
            (patch(55, b"\x1e"), "field terminator inside the field"),
        ];
        for (bytes, expected) in cases {
            let err = parse_record(&bytes).expect_err(expected).to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }

    /// Builds a record from raw field contents (indicators and delimiters
    /// included), with the given leader/09, bypassing the UTF-8 writer.
    fn raw_record(leader09: u8, fields: &[(&str, &[u8])]) -> Vec<u8> {
        let mut directory = Vec::new();
        let mut data = Vec::new();
        for (tag, content) in fields {
            let start = data.len();
            data.extend_from_slice(content);
            data.push(FIELD_TERMINATOR);
            let length = data.len() - start;
            directory.extend_from_slice(format!("{tag}{length:04}{start:05}").as_bytes());
        }
        directory.push(FIELD_TERMINATOR);
        let base = LEADER_LEN + directory.len();
        let length = base + data.len() + 1;
        let mut out =
            format!("{length:05}nam {}22{base:05} i 4500", char::from(leader09)).into_bytes();
        out.extend_from_slice(&directory);
        out.extend_from_slice(&data);
        out.push(RECORD_TERMINATOR);
        out
    }

    fn title(decoded: &Decoded) -> &str {
        decoded
            .record
            .data_fields("245")
            .next()
            .and_then(|d| d.subfield('a'))
            .unwrap_or_default()
    }

    /// Leader/09 blank means MARC-8: converted, with leader/09 set to 'a'
    /// and no warning.
    #[test]
    fn marc8_records_are_converted() {
        let bytes = raw_record(
            b' ',
            &[("001", b"1"), ("245", b"10\x1faV\xE2era \x1B(NwOJNA\x1B(B")],
        );
        let decoded = parse_record_checked(&bytes).expect("converts");
        assert_eq!(title(&decoded), "Ve\u{301}ra Война");
        assert_eq!(&decoded.record.leader[9..10], "a");
        assert!(decoded.warnings.is_empty());
        assert_eq!(parse_record(&bytes).expect("converts"), decoded.record);
    }

    /// A byte MARC-8 does not define is an error naming field, subfield,
    /// offset and byte; never dropped.
    #[test]
    fn unmappable_marc8_is_an_error() {
        let bytes = raw_record(b' ', &[("245", b"10\x1faab\xAF")]);
        let err = parse_record(&bytes).expect_err("0xAF is unassigned in ANSEL");
        assert_eq!(
            err.to_string(),
            "invalid marc-8 in field 245 $a at byte 43: byte 0xAF has no character in Extended Latin (ANSEL)"
        );
        assert_eq!(bytes[43], 0xAF);
    }

    /// Leader/09 wrong in either direction is detected and repaired when the
    /// bytes leave no doubt, with a warning.
    #[test]
    fn wrong_leader_09_is_detected_both_ways() {
        // Blank leader, UTF-8 bytes.
        let bytes = raw_record(b' ', &[("245", "10\x1faƏdəbiyyat".as_bytes())]);
        let decoded = parse_record_checked(&bytes).expect("read as utf-8");
        assert_eq!(title(&decoded), "Ədəbiyyat");
        assert_eq!(
            decoded.warnings,
            [Warning::Utf8DespiteMarc8Leader { position: 0 }]
        );
        assert_eq!(&decoded.record.leader[9..10], "a");

        // Leader 'a', MARC-8 bytes (no UTF-8 sequence anywhere).
        let bytes = raw_record(b'a', &[("245", b"10\x1faV\xE2era")]);
        let decoded = parse_record_checked(&bytes).expect("read as marc-8");
        assert_eq!(title(&decoded), "Ve\u{301}ra");
        assert_eq!(
            decoded.warnings,
            [Warning::Marc8DespiteUtf8Leader { position: 0 }]
        );

        // Leader 'a', mostly UTF-8 with one bad byte: reported, not re-read
        // as MARC-8 (which would "convert" é into ©♭).
        let mut content = "10\x1faé ".as_bytes().to_vec();
        content.push(0xE2);
        let bytes = raw_record(b'a', &[("245", &content)]);
        assert!(matches!(
            parse_record_checked(&bytes),
            Err(MarcError::InvalidUtf8 { .. })
        ));

        // Blank leader, valid UTF-8 but with MARC-8 escapes that convert:
        // MARC-8 (Basic Cyrillic in G1, where 0xD0 0xB0 is valid UTF-8).
        let bytes = raw_record(b' ', &[("245", b"10\x1fa\x1B)N\xD0\xB0")]);
        let decoded = parse_record_checked(&bytes).expect("read as marc-8");
        assert!(decoded.warnings.is_empty(), "{:?}", decoded.warnings);
        assert_eq!(
            title(&decoded),
            marc8::marc8_to_utf8(b"\x1B)N\xD0\xB0").expect("converts")
        );

        // Blank leader, neither valid UTF-8 nor MARC-8: the MARC-8 error.
        let bytes = raw_record(b' ', &[("245", b"10\x1fa\xC3\xA9\x80")]);
        assert!(matches!(
            parse_record(&bytes),
            Err(MarcError::InvalidMarc8 { .. })
        ));
    }

    /// The streaming reader hands out warnings through `with_warnings`.
    #[test]
    fn reader_with_warnings() {
        let mut stream = raw_record(b' ', &[("245", "10\x1faə".as_bytes())]);
        let second_at = stream.len() as u64;
        stream.extend(raw_record(b' ', &[("245", "10\x1faə".as_bytes())]));
        let warnings: Vec<Vec<Warning>> = Reader::new(&stream[..])
            .with_warnings()
            .map(|r| r.expect("reads").warnings)
            .collect();
        assert_eq!(
            warnings,
            [
                vec![Warning::Utf8DespiteMarc8Leader { position: 0 }],
                vec![Warning::Utf8DespiteMarc8Leader {
                    position: second_at
                }]
            ]
        );
        assert_eq!(Reader::new(&stream[..]).filter(Result::is_ok).count(), 2);
    }

    /// The stream reader goes on after a bad record, skips line breaks
    /// between records, and reports a truncated tail once.
    #[test]
    fn reader_recovers_after_bad_records() {
        let good = to_bytes(&awkward_record()).expect("encodes");
        let mut bad = good.clone();
        bad[0..5].copy_from_slice(b"00001");
        let mut stream = Vec::new();
        for part in [&good[..], b"\r\n", &bad, &good, b"\n", &good[..30]] {
            stream.extend_from_slice(part);
        }
        let results: Vec<_> = Reader::new(&stream[..]).collect();
        assert_eq!(results.len(), 4, "{results:?}");
        assert!(results[0].is_ok());
        let second_at = good.len() as u64 + 2;
        assert!(
            matches!(results[1], Err(MarcError::LengthMismatch { position, .. }) if position == second_at)
        );
        assert!(results[2].is_ok());
        let last_at = second_at + 2 * good.len() as u64 + 1;
        assert!(
            matches!(results[3], Err(MarcError::Truncated { position }) if position == last_at)
        );
        assert!(Reader::new(&b""[..]).next().is_none());
        assert!(Reader::new(&b"\n\n"[..]).next().is_none());
    }

    /// Garbage without terminators cannot make the reader buffer without
    /// bound; it is reported and the next record is still found.
    #[test]
    fn reader_bounds_memory_on_missing_terminators() {
        let good = to_bytes(&small_record(LEADER)).expect("encodes");
        let mut stream = vec![b'x'; MAX_RECORD_LEN + 10];
        stream.push(RECORD_TERMINATOR);
        stream.extend_from_slice(&good);
        let results: Vec<_> = Reader::new(&stream[..]).collect();
        assert!(
            matches!(
                results[..],
                [Err(MarcError::Unterminated { position: 0 }), Ok(_)]
            ),
            "{results:?}"
        );
    }

    /// No input, however mangled, may panic (the `marc` crate does).
    #[test]
    fn mangled_input_never_panics() {
        let good = to_bytes(&awkward_record()).expect("encodes");
        for end in 0..good.len() {
            assert!(parse_record(&good[..end]).is_err());
            let _ = Reader::new(&good[..end]).count();
        }
        for at in 0..good.len() {
            for value in [
                0x00,
                b'0',
                b'9',
                b' ',
                RECORD_TERMINATOR,
                FIELD_TERMINATOR,
                SUBFIELD_DELIMITER,
                0xFF,
            ] {
                let mut bytes = good.clone();
                bytes[at] = value;
                let _ = parse_record(&bytes);
                let _ = Reader::new(&bytes[..]).count();
            }
        }
    }
}
