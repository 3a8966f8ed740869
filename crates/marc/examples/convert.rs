//! Streams a MARCXML file into an ISO 2709 file: the conversion the
//! benchmark (`bench/marc.sh`) times against `yaz-marcdump -i marcxml -o
//! marc`.
//!
//! ```text
//! cargo run --release -p unicat-marc --example convert -- IN.xml OUT.mrc
//! ```
//!
//! Records that cannot be read or cannot be written as ISO 2709 are
//! counted and reported on standard error (the first few with their
//! reason), as the daemon would quarantine them; the rest go on. Exits
//! non-zero if any record was refused.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::process::ExitCode;

use unicat_marc::{iso2709, marcxml};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = &args[..] else {
        eprintln!("usage: convert IN.xml OUT.mrc");
        return ExitCode::from(2);
    };
    match convert(input, output) {
        Ok((written, refused)) => {
            eprintln!("convert: {written} records written, {refused} refused");
            if refused == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("convert: {err}");
            ExitCode::FAILURE
        }
    }
}

fn convert(input: &str, output: &str) -> std::io::Result<(u64, u64)> {
    let reader = marcxml::Reader::new(BufReader::with_capacity(1 << 20, File::open(input)?));
    let mut out = BufWriter::with_capacity(1 << 20, File::create(output)?);
    let mut buf = Vec::new();
    let (mut written, mut refused) = (0u64, 0u64);
    for result in reader {
        match result.and_then(|record| iso2709::write_record(&record, &mut buf)) {
            Ok(()) => {
                out.write_all(&buf)?;
                written += 1;
            }
            Err(err) => {
                refused += 1;
                if refused <= 10 {
                    eprintln!("convert: refused: {err}");
                }
            }
        }
    }
    out.flush()?;
    Ok((written, refused))
}
