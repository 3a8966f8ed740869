//! `unicat convert`: MARC files from one format to another (MARCXML, ISO
//! 2709 in UTF-8 or MARC-8, MARC-in-JSON lines), for the partner dumps
//! sysadmins receive, with the readers and writers of `unicat_marc` (and
//! the sinks' MARC-in-JSON), so a converted file is byte for byte what the
//! daemon would publish.
//!
//! It streams: one record is held at a time, whatever the size of the
//! input. The input format is read from the first bytes of each file when
//! not given (`<` MARCXML, `{` JSON, a digit ISO 2709). A record that
//! cannot be read (or cannot be written in the output format, such as one
//! over ISO 2709's 99,999 bytes) is reported on stderr with its file,
//! record number and byte offset and skipped; with `--strict` the first one
//! stops the conversion with exit 65 and no output file is left behind
//! (the output is written beside its target and renamed into place only
//! when complete).
//!
//! This module must not touch the store or the configuration: it is a file
//! tool that happens to live in the daemon's binary.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use unicat_marc::{iso2709, marcxml, DataField, Field, Record, Subfield};

/// Buffer size for input and output: large reads and writes are what
/// makes a conversion as fast as yaz-marcdump.
const BUFFER: usize = 1 << 20;

/// A record format `convert` reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// MARCXML (a `<collection>` on output).
    Marcxml,
    /// ISO 2709 (binary MARC, `.mrc`).
    Iso2709,
    /// MARC-in-JSON, one record per line.
    Json,
}

/// The character encoding of ISO 2709 output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Encoding {
    /// UTF-8 (leader/09 `a`).
    Utf8,
    /// MARC-8 (leader/09 blank).
    Marc8,
}

/// What to convert, from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Input format; guessed per file from its first bytes when `None`.
    pub from: Option<Format>,
    /// Output format; from `--encoding marc8` or the output's extension
    /// when `None`, else MARCXML.
    pub to: Option<Format>,
    /// Output encoding (ISO 2709 only).
    pub encoding: Option<Encoding>,
    /// Stop at the first record that cannot be converted.
    pub strict: bool,
    /// Input files; `-` is standard input.
    pub inputs: Vec<PathBuf>,
    /// Output file; `None` or `-` is standard output.
    pub output: Option<PathBuf>,
}

/// How a conversion went.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Records written.
    pub written: u64,
    /// Records reported and skipped.
    pub skipped: u64,
    /// Characters written as `&#xHHHH;` because MARC-8 lacks them.
    pub references: u64,
}

/// Why a conversion stopped, with its sysexits code.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The command line does not make sense (64).
    #[error("{0}")]
    Usage(String),
    /// An input file cannot be opened (66).
    #[error("{0}")]
    NoInput(String),
    /// `--strict` and a record could not be converted (65).
    #[error("{0}")]
    Data(String),
    /// Reading or writing failed (74).
    #[error("{0}")]
    Io(String),
}

impl ConvertError {
    /// The process exit code for this error (sysexits).
    pub fn exit_code(&self) -> u8 {
        match self {
            ConvertError::Usage(_) => 64,
            ConvertError::NoInput(_) => 66,
            ConvertError::Data(_) => 65,
            ConvertError::Io(_) => 74,
        }
    }
}

/// The output format `options` ask for.
fn output_format(options: &Options) -> Format {
    if let Some(f) = options.to {
        return f;
    }
    if options.encoding == Some(Encoding::Marc8) {
        return Format::Iso2709;
    }
    let ext = options
        .output
        .as_deref()
        .and_then(Path::extension)
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("mrc" | "marc" | "iso" | "iso2709") => Format::Iso2709,
        Some("json" | "jsonl" | "ndjson") => Format::Json,
        _ => Format::Marcxml,
    }
}

/// Runs the conversion, reporting skipped records on `report` (stderr).
pub fn run(options: &Options, report: &mut dyn Write) -> Result<Summary, ConvertError> {
    let to = output_format(options);
    let marc8 = options.encoding == Some(Encoding::Marc8);
    if marc8 && to != Format::Iso2709 {
        return Err(ConvertError::Usage(
            "--encoding marc8 is for ISO 2709 output only (MARCXML and JSON are always Unicode)"
                .into(),
        ));
    }
    if options.inputs.iter().filter(|p| is_stdio(p)).count() > 1 {
        return Err(ConvertError::Usage(
            "standard input (-) can be read only once".into(),
        ));
    }
    // Every input can be opened before anything is written, so a mistyped
    // name does not leave a half-written output behind on stdout.
    for input in options.inputs.iter().filter(|p| !is_stdio(p)) {
        File::open(input)
            .map_err(|e| ConvertError::NoInput(format!("cannot open {}: {e}", input.display())))?;
    }
    let output = options.output.as_deref().filter(|p| !is_stdio(p));
    // Into a file beside the target, renamed into place once complete, so
    // a stopped conversion never leaves a half-written file under its name.
    let partial = output.map(|p| {
        let mut name = p.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".partial-{}", std::process::id()));
        p.with_file_name(name)
    });
    let sink: Box<dyn Write> = match &partial {
        Some(path) => Box::new(
            File::create(path)
                .map_err(|e| ConvertError::Io(format!("cannot create {}: {e}", path.display())))?,
        ),
        None => Box::new(io::stdout().lock()),
    };
    let result = convert_all(options, to, marc8, sink, report);
    if let (Some(partial), Some(output)) = (&partial, output) {
        match &result {
            Ok(_) => std::fs::rename(partial, output).map_err(|e| {
                ConvertError::Io(format!("cannot rename into {}: {e}", output.display()))
            })?,
            Err(_) => {
                let _ = std::fs::remove_file(partial);
            }
        }
    }
    result
}

fn is_stdio(p: &Path) -> bool {
    p.as_os_str() == "-"
}

fn convert_all(
    options: &Options,
    to: Format,
    marc8: bool,
    sink: Box<dyn Write>,
    report: &mut dyn Write,
) -> Result<Summary, ConvertError> {
    let mut writer = Writer::new(to, marc8, BufWriter::with_capacity(BUFFER, sink))?;
    let mut summary = Summary::default();
    for input in &options.inputs {
        let name = if is_stdio(input) {
            "standard input".to_string()
        } else {
            input.display().to_string()
        };
        let raw: Box<dyn Read> = if is_stdio(input) {
            Box::new(io::stdin().lock())
        } else {
            Box::new(
                File::open(input)
                    .map_err(|e| ConvertError::NoInput(format!("cannot open {name}: {e}")))?,
            )
        };
        let mut input = BufReader::with_capacity(BUFFER, raw);
        let skipped = skip_blank(&mut input).map_err(|e| read_error(&name, &e))?;
        let from = match options.from {
            Some(f) => f,
            None => match guess(&mut input).map_err(|e| read_error(&name, &e))? {
                Some(f) => f,
                // An empty file holds no records: nothing to convert.
                None => continue,
            },
        };
        let mut source = Source::new(from, input);
        let mut number = 0u64;
        while let Some((start, result)) = source.next_record() {
            number += 1;
            let start = start + skipped;
            let outcome = match result {
                Ok(record) => writer.write(&record),
                Err(reason) => Err(Refusal::Unreadable(reason)),
            };
            match outcome {
                Ok(references) => {
                    summary.written += 1;
                    summary.references += references;
                }
                Err(Refusal::Io(e)) => return Err(write_error(&e)),
                Err(refusal) => {
                    let what = match &refusal {
                        Refusal::Unwritable(r) => format!("cannot be written: {r}"),
                        Refusal::Unreadable(r) | Refusal::Io(r) => r.clone(),
                    };
                    let message = format!("{name}: record {number} at byte {start}: {what}");
                    if options.strict {
                        return Err(ConvertError::Data(message));
                    }
                    summary.skipped += 1;
                    writeln!(report, "unicat convert: {message}; skipped")
                        .map_err(|e| ConvertError::Io(e.to_string()))?;
                }
            }
        }
    }
    writer.finish().map_err(|e| write_error(&e.to_string()))?;
    Ok(summary)
}

fn read_error(name: &str, e: &io::Error) -> ConvertError {
    ConvertError::Io(format!("reading {name}: {e}"))
}

fn write_error(e: &str) -> ConvertError {
    ConvertError::Io(format!("writing the output: {e}"))
}

/// Consumes leading whitespace and a UTF-8 byte order mark (none of the
/// formats gives them meaning), returning how many bytes that was, so that
/// reported offsets still count from the start of the file.
fn skip_blank(input: &mut impl BufRead) -> io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(skipped);
        }
        let n = if skipped == 0 && buf.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            buf.iter().take_while(|b| b.is_ascii_whitespace()).count()
        };
        if n == 0 {
            return Ok(skipped);
        }
        input.consume(n);
        skipped += n as u64;
    }
}

/// The format the input's first byte says (`None` for an empty input).
fn guess(input: &mut impl BufRead) -> io::Result<Option<Format>> {
    let buf = input.fill_buf()?;
    Ok(match buf.first() {
        None => None,
        Some(b'<') => Some(Format::Marcxml),
        Some(b'{') => Some(Format::Json),
        // ISO 2709 starts with the five-digit record length; anything else
        // is given to its reader, which says what is wrong with it.
        Some(_) => Some(Format::Iso2709),
    })
}

/// A record reader of one of the three formats.
enum Source<R: BufRead> {
    Xml(marcxml::Reader<R>),
    Iso(iso2709::Reader<R>),
    Json(JsonLines<R>),
}

impl<R: BufRead> Source<R> {
    fn new(format: Format, input: R) -> Self {
        match format {
            Format::Marcxml => Source::Xml(marcxml::Reader::new(input)),
            Format::Iso2709 => Source::Iso(iso2709::Reader::new(input)),
            Format::Json => Source::Json(JsonLines {
                input,
                line: Vec::new(),
                position: 0,
            }),
        }
    }

    /// The next record, or why it could not be read, with its byte offset.
    fn next_record(&mut self) -> Option<(u64, Result<Record, String>)> {
        match self {
            Source::Xml(r) => {
                let item = r.next()?;
                Some((r.record_start(), item.map_err(|e| e.to_string())))
            }
            Source::Iso(r) => {
                let item = r.next()?;
                Some((r.record_start(), item.map_err(|e| e.to_string())))
            }
            Source::Json(r) => r.next_record(),
        }
    }
}

/// MARC-in-JSON, one record per line (what the JSON sinks write); blank
/// lines are skipped. A line that is not a record is reported and the next
/// line read, so one bad record does not stop the file.
struct JsonLines<R> {
    input: R,
    line: Vec<u8>,
    position: u64,
}

impl<R: BufRead> JsonLines<R> {
    fn next_record(&mut self) -> Option<(u64, Result<Record, String>)> {
        loop {
            self.line.clear();
            let start = self.position;
            match self.input.read_until(b'\n', &mut self.line) {
                Ok(0) => return None,
                Ok(n) => self.position += n as u64,
                Err(e) => return Some((start, Err(format!("read error: {e}")))),
            }
            if self.line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let record = serde_json::from_slice::<serde_json::Value>(&self.line)
                .map_err(|e| format!("not JSON: {e}"))
                .and_then(|v| record_from_json(&v));
            return Some((start, record));
        }
    }
}

/// A record from MARC-in-JSON (the structure `sinks::marc_in_json` writes).
pub fn record_from_json(value: &serde_json::Value) -> Result<Record, String> {
    let leader = value
        .get("leader")
        .and_then(|l| l.as_str())
        .ok_or("MARC-in-JSON record without a \"leader\" string")?;
    let fields = value
        .get("fields")
        .and_then(|f| f.as_array())
        .ok_or("MARC-in-JSON record without a \"fields\" array")?;
    let mut record = Record::new(leader);
    for field in fields {
        let (tag, body) = field
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.iter().next())
            .ok_or("a field must be an object with one tag")?;
        match body {
            serde_json::Value::String(v) => record.push(Field::Control(
                unicat_marc::ControlField::new(tag.clone(), v.clone()),
            )),
            serde_json::Value::Object(o) => {
                let indicator = |name: &str| -> Result<char, String> {
                    let s = o.get(name).and_then(|v| v.as_str()).unwrap_or(" ");
                    let mut chars = s.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => Ok(c),
                        (None, _) => Ok(' '),
                        _ => Err(format!("field {tag}: {name} {s:?} is not one character")),
                    }
                };
                let mut data = DataField::new(tag.clone(), indicator("ind1")?, indicator("ind2")?);
                for sub in o
                    .get("subfields")
                    .and_then(|s| s.as_array())
                    .ok_or_else(|| format!("field {tag}: no \"subfields\" array"))?
                {
                    let (code, v) = sub
                        .as_object()
                        .filter(|s| s.len() == 1)
                        .and_then(|s| s.iter().next())
                        .ok_or_else(|| {
                            format!("field {tag}: a subfield must be {{code: value}}")
                        })?;
                    let mut chars = code.chars();
                    let (Some(c), None) = (chars.next(), chars.next()) else {
                        return Err(format!(
                            "field {tag}: subfield code {code:?} is not one character"
                        ));
                    };
                    let v = v
                        .as_str()
                        .ok_or_else(|| format!("field {tag}: subfield {c} is not a string"))?;
                    data.subfields.push(Subfield::new(c, v));
                }
                record.push(Field::Data(data));
            }
            _ => return Err(format!("field {tag}: neither a string nor an object")),
        }
    }
    Ok(record)
}

/// Why a record was not written.
enum Refusal {
    /// The reader could not read it.
    Unreadable(String),
    /// The output format cannot hold it (ISO 2709's limits).
    Unwritable(String),
    /// The output could not be written: stops everything.
    Io(String),
}

/// The output, in one of the three formats.
enum Writer<W: Write> {
    Xml(marcxml::CollectionWriter<W>),
    Iso { out: W, buf: Vec<u8>, marc8: bool },
    Json(W),
}

impl<W: Write> Writer<W> {
    fn new(format: Format, marc8: bool, out: W) -> Result<Self, ConvertError> {
        Ok(match format {
            Format::Marcxml => Writer::Xml(
                marcxml::CollectionWriter::new(out).map_err(|e| write_error(&e.to_string()))?,
            ),
            Format::Iso2709 => Writer::Iso {
                out,
                buf: Vec::new(),
                marc8,
            },
            Format::Json => Writer::Json(out),
        })
    }

    /// Writes one record; returns the characters written as references.
    fn write(&mut self, record: &Record) -> Result<u64, Refusal> {
        let io = |e: io::Error| {
            // What `head` does to a pipe: the reader has what it wanted,
            // so the conversion just stops, as with any Unix tool.
            if e.kind() == io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            Refusal::Io(e.to_string())
        };
        match self {
            Writer::Xml(w) => w.write(record).map_err(io).map(|()| 0),
            Writer::Iso { out, buf, marc8 } => {
                let references = if *marc8 {
                    iso2709::write_record_marc8(record, buf)
                        .map_err(|e| Refusal::Unwritable(e.to_string()))?
                } else {
                    iso2709::write_record(record, buf)
                        .map_err(|e| Refusal::Unwritable(e.to_string()))?;
                    0
                };
                out.write_all(buf).map_err(io)?;
                Ok(references as u64)
            }
            Writer::Json(out) => {
                serde_json::to_writer(&mut *out, &crate::sinks::marc_in_json(record))
                    .map_err(|e| Refusal::Io(e.to_string()))?;
                out.write_all(b"\n").map_err(io)?;
                Ok(0)
            }
        }
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Writer::Xml(w) => w.finish().map(|_| ()),
            Writer::Iso { mut out, .. } | Writer::Json(mut out) => out.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The JSON reader takes back what the JSON sinks write.
    #[test]
    fn marc_in_json_reads_back_as_the_same_record() {
        let mut r = Record::new("00000nam a2200000 a 4500");
        r.push(Field::Control(unicat_marc::ControlField::new("001", "x1")));
        r.push(Field::Data(
            DataField::new("245", '1', '0')
                .with('a', "Война и мир /")
                .with('c', "Толстой."),
        ));
        let back = record_from_json(&crate::sinks::marc_in_json(&r)).unwrap();
        assert_eq!(back, r);
    }
}
