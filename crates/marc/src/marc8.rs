//! MARC-8 to Unicode conversion, for records whose leader/09 is blank
//! (the other direction, for MARC-8 output, is [`utf8_to_marc8`], from the
//! same tables).
//!
//! MARC-8 is an ISO 2022-style 8-bit encoding: a G0 set (bytes 0x21-0x7E)
//! and a G1 set (bytes 0xA1-0xFE) are in force at any time, by default
//! Basic Latin (ASCII) and Extended Latin (ANSEL), and escape sequences
//! switch either to Hebrew, Cyrillic, Arabic, Greek, the sub- and
//! superscript sets, or the three-byte East Asian set (EACC). The code
//! tables themselves are generated from the Library of Congress tables (plus
//! the six EACC punctuation codes MARC::Charset and pymarc add to them) into
//! `marc8_tables.rs`; this module holds the rules:
//!
//! - Designations (technique 2): `ESC ( F` and `ESC , F` set G0, `ESC ) F`
//!   and `ESC - F` set G1, `ESC $ F` and `ESC $ , F` set a multibyte G0,
//!   `ESC $ ) F` and `ESC $ - F` a multibyte G1 (F may be `!E` for ANSEL).
//!   Technique 1: `ESC g`, `ESC b`, `ESC p` set G0 to Greek symbols,
//!   subscripts or superscripts, and `ESC s` back to ASCII. Each value starts
//!   with the defaults again, as MARC 21 requires every field to.
//! - Combining marks, which MARC-8 writes *before* their base character, are
//!   moved *after* it, keeping their order. Space counts as a base (a mark
//!   over a space is how MARC-8 writes a spacing accent). Marks left over at
//!   the end of the value are written at the end rather than dropped.
//! - The right half of a double diacritic (ANSEL 0xEC, 0xFB) is absorbed by
//!   its left half, which Unicode writes as one character (U+0361, U+0360),
//!   as LC's table prescribes; a right half with no left half before it is
//!   written as LC's alternative (U+FE21, U+FE23) rather than dropped.
//! - Control bytes (0x00-0x1F other than escape, and 0x7F), space and the C1
//!   codes of ANSEL (0x88, 0x89, 0x8D, 0x8E) mean the same in every set,
//!   except that with EACC in G0 a 0x7F that starts one of those added EACC
//!   codes (0x7F2014 em dash, …) is read as that code, as MARC::Charset does.
//! - `&#xHHHH;` in ASCII text is a numeric character reference, MARC 21's
//!   "lossless conversion" convention for a Unicode character that MARC-8
//!   lacks, and is replaced by that character.
//!
//! **Decisions.** The output is *not* normalised (no NFC): it is the
//! character sequence the MARC-8 bytes spell, decomposed where MARC-8 is
//! (base letter then combining marks), because this crate keeps content
//! verbatim and the normalisation module applies NFC to every record, MARC-8
//! or not. EACC characters that LC maps to the Private Use Area keep that
//! mapping, as LC and MARC::Charset do. A byte or sequence with no mapping
//! (an unassigned code, an unknown or cut-off escape sequence, an incomplete
//! EACC triple) is an error naming its offset, never dropped or guessed at:
//! the reader turns it into a quarantine reason for the record.
//!
//! This module must not do I/O, and must not guess an encoding: which
//! records are MARC-8 is decided by the ISO 2709 reader.

use std::fmt;

pub use crate::marc8_encode::utf8_to_marc8;

use crate::marc8_tables::{
    Set94, ANSEL, BASIC_LATIN, C1, CHAR_MASK, COMBINING, DOUBLE_DIACRITICS, EACC, RIGHT_HALF,
    SETS94,
};

const ESC: u8 = 0x1B;

/// Final byte that designates EACC, the only multibyte set.
const EACC_FINAL: u8 = 0x31;

/// A MARC-8 byte sequence that cannot be converted, and where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {offset} of the value")]
pub struct Marc8Error {
    /// Offset of the offending byte from the start of the converted bytes.
    pub offset: usize,
    /// What is wrong there.
    pub kind: Marc8ErrorKind,
}

/// What made a MARC-8 byte sequence unconvertible.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Marc8ErrorKind {
    /// The byte has no character in the set that is in force for it.
    Unmapped {
        /// The byte as found.
        byte: u8,
        /// Name of the set that was looked in.
        set: &'static str,
    },
    /// The three bytes are not an EACC character.
    UnmappedEacc {
        /// The bytes as found (with the high bit cleared if EACC was in G1).
        code: [u8; 3],
    },
    /// The value ends inside an EACC character.
    TruncatedEacc,
    /// An escape sequence is not one MARC-8 defines.
    UnknownEscape {
        /// The escape sequence, up to 4 bytes.
        sequence: Vec<u8>,
    },
    /// The value ends inside an escape sequence.
    TruncatedEscape,
}

impl fmt::Display for Marc8ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Marc8ErrorKind::Unmapped { byte, set } => {
                write!(f, "byte 0x{byte:02X} has no character in {set}")
            }
            Marc8ErrorKind::UnmappedEacc { code: [a, b, c] } => {
                write!(f, "0x{a:02X}{b:02X}{c:02X} is not an EACC character")
            }
            Marc8ErrorKind::TruncatedEacc => f.write_str("the value ends inside an EACC character"),
            Marc8ErrorKind::UnknownEscape { sequence } => {
                f.write_str("unknown escape sequence ESC")?;
                for byte in sequence.iter().skip(1) {
                    if byte.is_ascii_graphic() {
                        write!(f, " {}", char::from(*byte))?;
                    } else {
                        write!(f, " 0x{byte:02X}")?;
                    }
                }
                Ok(())
            }
            Marc8ErrorKind::TruncatedEscape => {
                f.write_str("the value ends inside an escape sequence")
            }
        }
    }
}

/// A character set that can be designated as G0 or G1.
#[derive(Clone, Copy)]
enum Charset {
    Single(&'static Set94),
    Eacc,
}

impl Charset {
    fn by_final(final_byte: u8) -> Option<Charset> {
        if final_byte == EACC_FINAL {
            return Some(Charset::Eacc);
        }
        SETS94
            .iter()
            .find(|set| set.final_byte == final_byte)
            .map(|set| Charset::Single(set))
    }

    fn is_ascii(self) -> bool {
        matches!(self, Charset::Single(set) if std::ptr::eq(set, &BASIC_LATIN))
    }
}

/// Converts one MARC-8 value (a control field or a subfield, without the
/// ISO 2709 delimiters) to Unicode.
///
/// See the module docs for the rules. Pure ASCII input is returned as is.
///
/// # Errors
///
/// [`Marc8Error`] for the first byte or sequence that has no mapping; the
/// offset counts from the start of `bytes`.
pub fn marc8_to_utf8(bytes: &[u8]) -> Result<String, Marc8Error> {
    if bytes.is_ascii() && !bytes.contains(&ESC) && !bytes.contains(&b'&') {
        // The common case: ASCII means the same in MARC-8 and UTF-8.
        return Ok(bytes.iter().map(|&b| char::from(b)).collect());
    }
    Decoder::new(bytes).run()
}

/// The state of one conversion.
struct Decoder<'a> {
    bytes: &'a [u8],
    at: usize,
    g0: Charset,
    g1: Charset,
    out: String,
    /// Combining marks read but not yet written, waiting for their base.
    marks: Vec<char>,
    /// The right half (G0 code in ANSEL) that would close the double
    /// diacritic whose left half was last written, if any.
    open_right_half: Option<u8>,
}

impl<'a> Decoder<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Decoder {
            bytes,
            at: 0,
            g0: Charset::Single(&BASIC_LATIN),
            g1: Charset::Single(&ANSEL),
            out: String::with_capacity(bytes.len() + bytes.len() / 2),
            marks: Vec::new(),
            open_right_half: None,
        }
    }

    fn fail(&self, offset: usize, kind: Marc8ErrorKind) -> Marc8Error {
        Marc8Error { offset, kind }
    }

    fn run(mut self) -> Result<String, Marc8Error> {
        while let Some(&byte) = self.bytes.get(self.at) {
            match byte {
                ESC => self.escape()?,
                // 0x7F starts three of the EACC codes MARC::Charset adds to
                // LC's table (em dash, right quotes); elsewhere it is DEL.
                0x7F if matches!(self.g0, Charset::Eacc) && self.eacc_char(0).is_ok() => {
                    self.eacc(0)?;
                }
                0x00..=0x20 | 0x7F => {
                    // Controls and space are the same in every set.
                    self.base(char::from(byte));
                    self.at += 1;
                }
                0x21..=0x7E => match self.g0 {
                    Charset::Eacc => self.eacc(0)?,
                    Charset::Single(set) => {
                        if byte == b'&' && self.g0.is_ascii() && self.reference() {
                            continue;
                        }
                        self.single(set, byte, byte)?;
                    }
                },
                0xA1..=0xFE => match self.g1 {
                    Charset::Eacc => self.eacc(0x80)?,
                    Charset::Single(set) => self.single(set, byte - 0x80, byte)?,
                },
                _ => match C1.iter().find(|&&(code, _)| code == byte) {
                    Some(&(_, value)) => {
                        self.entry(value, byte, ANSEL.name)?;
                    }
                    None => {
                        let set = if byte < 0xA0 {
                            "the C1 codes of MARC-8"
                        } else {
                            // 0xA0 and 0xFF lie outside every 94-character set.
                            "any MARC-8 set"
                        };
                        return Err(self.fail(self.at, Marc8ErrorKind::Unmapped { byte, set }));
                    }
                },
            }
        }
        // Marks with no base after them: kept, at the end, rather than lost.
        self.out.extend(self.marks.drain(..));
        Ok(self.out)
    }

    /// Writes a base character followed by the marks waiting for it.
    fn base(&mut self, c: char) {
        self.out.push(c);
        self.out.extend(self.marks.drain(..));
    }

    /// Looks up `code` (0x21-0x7E) of a single-byte set; `byte` is the byte
    /// as found, for the error.
    fn single(&mut self, set: &'static Set94, code: u8, byte: u8) -> Result<(), Marc8Error> {
        let value = set
            .chars
            .get(usize::from(code.wrapping_sub(0x21)))
            .copied()
            .unwrap_or(0);
        if value != 0 && std::ptr::eq(set, &ANSEL) && value & RIGHT_HALF != 0 {
            // The right half of a double diacritic.
            if self.open_right_half == Some(code) {
                self.open_right_half = None;
                self.at += 1;
                return Ok(());
            }
        }
        if value != 0 && std::ptr::eq(set, &ANSEL) {
            if let Some(&(_, right)) = DOUBLE_DIACRITICS.iter().find(|&&(left, _)| left == code) {
                self.open_right_half = Some(right);
            }
        }
        self.entry(value, byte, set.name)
    }

    /// Writes (or holds back, for a mark) one table entry and moves past
    /// its byte.
    fn entry(&mut self, value: u32, byte: u8, set: &'static str) -> Result<(), Marc8Error> {
        let Some(c) = (value != 0)
            .then(|| char::from_u32(value & CHAR_MASK))
            .flatten()
        else {
            return Err(self.fail(self.at, Marc8ErrorKind::Unmapped { byte, set }));
        };
        if value & COMBINING != 0 {
            self.marks.push(c);
        } else {
            self.base(c);
        }
        self.at += 1;
        Ok(())
    }

    /// Reads one EACC character; `high` is 0x80 when EACC is in G1.
    fn eacc(&mut self, high: u8) -> Result<(), Marc8Error> {
        if self.bytes.len() < self.at + 3 {
            return Err(self.fail(self.at, Marc8ErrorKind::TruncatedEacc));
        }
        match self.eacc_char(high) {
            Ok(c) => {
                self.base(c);
                self.at += 3;
                Ok(())
            }
            Err(code) => Err(self.fail(self.at, Marc8ErrorKind::UnmappedEacc { code })),
        }
    }

    /// The EACC character whose three bytes start at the current position,
    /// or the code (high bit cleared) that is not one.
    fn eacc_char(&self, high: u8) -> Result<char, [u8; 3]> {
        let Some(&[a, b, c]) = self.bytes.get(self.at..self.at + 3) else {
            return Err([0; 3]);
        };
        let code = [
            a.wrapping_sub(high),
            b.wrapping_sub(high),
            c.wrapping_sub(high),
        ];
        let key = u32::from_be_bytes([0, code[0], code[1], code[2]]);
        EACC.binary_search_by_key(&key, |&(marc, _)| marc)
            .ok()
            .and_then(|i| EACC.get(i))
            .and_then(|&(_, ucs)| char::from_u32(ucs))
            .ok_or(code)
    }

    /// Reads the escape sequence at the current position and designates
    /// the set it names.
    fn escape(&mut self) -> Result<(), Marc8Error> {
        let start = self.at;
        let rest = &self.bytes[start + 1..];
        let truncated = || Marc8Error {
            offset: start,
            kind: Marc8ErrorKind::TruncatedEscape,
        };
        let Some(&first) = rest.first() else {
            return Err(truncated());
        };
        // (is G1, index of the final byte within `rest`)
        let (g1, final_at) = match first {
            // Technique 1: the final byte comes straight after ESC.
            b'g' | b'b' | b'p' | b's' => (false, 0),
            b'(' | b',' => (false, 1),
            b')' | b'-' => (true, 1),
            b'$' => match rest.get(1) {
                None => return Err(truncated()),
                Some(b',') => (false, 2),
                Some(b')' | b'-') => (true, 2),
                Some(_) => (false, 1),
            },
            _ => return Err(self.unknown_escape(start, 2)),
        };
        let Some(&final_byte) = rest.get(final_at) else {
            return Err(truncated());
        };
        let (charset, len) = match final_byte {
            b's' if final_at == 0 => (Some(Charset::Single(&BASIC_LATIN)), 2),
            // ANSEL's final "byte" is the two bytes `!E`.
            b'!' => match rest.get(final_at + 1) {
                None => return Err(truncated()),
                Some(b'E') => (Some(Charset::Single(&ANSEL)), final_at + 3),
                Some(_) => (None, final_at + 3),
            },
            _ => (Charset::by_final(final_byte), final_at + 2),
        };
        let Some(charset) = charset else {
            return Err(self.unknown_escape(start, len));
        };
        if g1 {
            self.g1 = charset;
        } else {
            self.g0 = charset;
        }
        self.at = start + len;
        Ok(())
    }

    fn unknown_escape(&self, start: usize, len: usize) -> Marc8Error {
        let end = (start + len).min(self.bytes.len());
        self.fail(
            start,
            Marc8ErrorKind::UnknownEscape {
                sequence: self.bytes[start..end].to_vec(),
            },
        )
    }

    /// Replaces a numeric character reference `&#xHHHH;` at the current
    /// position by its character; false (and nothing consumed) if the text
    /// there is not one, or names a character that has no place in a value.
    fn reference(&mut self) -> bool {
        let rest = &self.bytes[self.at..];
        let Some(digits) = rest
            .strip_prefix(b"&#x")
            .or_else(|| rest.strip_prefix(b"&#X"))
        else {
            return false;
        };
        let len = digits
            .iter()
            .take(7)
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if !(1..=6).contains(&len) || digits.get(len) != Some(&b';') {
            return false;
        }
        let value = digits[..len].iter().fold(0u32, |n, &b| {
            n * 16 + char::from(b).to_digit(16).unwrap_or(0)
        });
        match char::from_u32(value) {
            Some(c) if !c.is_control() => {
                self.base(c);
                self.at += 3 + len + 1;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(bytes: &[u8]) -> String {
        marc8_to_utf8(bytes).unwrap_or_else(|err| panic!("{bytes:x?}: {err}"))
    }

    /// ASCII passes through; ANSEL diacritics move after their base letter.
    #[test]
    fn latin_with_diacritics() {
        assert_eq!(convert(b"plain ascii"), "plain ascii");
        // MARC-8 "Ve\xE2ra": acute before the a.
        assert_eq!(convert(b"V\xE2era"), "Ve\u{301}ra");
        // Two marks keep their order; a mark over a space stays on the space.
        assert_eq!(convert(b"\xE3\xE8a \xE2 x"), "a\u{302}\u{308}  \u{301}x");
        // Azerbaijani ə is not in MARC-8 (NCR), but ş and ğ are.
        assert_eq!(convert(b"\xF0s\xE6g &#x259;"), "s\u{327}g\u{306} \u{259}");
        assert_eq!(convert(b"\xA1\xB1\xC7\xC8"), "Łłß€");
    }

    /// MARC-8 spells Cyrillic with escapes to G0 (technique 2).
    #[test]
    fn cyrillic_greek_hebrew_arabic() {
        // "Война" in Basic Cyrillic as G0, then back to ASCII.
        assert_eq!(convert(b"\x1B(NwOJNA\x1B(B ok"), "Война ok");
        // Extended Cyrillic (Uzbek ў, Ў) as G1 with Basic Cyrillic as G0.
        assert_eq!(convert(b"\x1B(N\x1B)QV\xCD\xED"), "жўЎ");
        assert_eq!(convert(b"\x1B(SAB"), "ΑΒ");
        assert_eq!(convert(b"\x1B(2`"), "א");
        assert_eq!(convert(b"\x1B(3G"), "ا");
        // Technique 1 for superscripts, subscripts and Greek symbols.
        assert_eq!(convert(b"x\x1Bp2\x1Bs H\x1Bb2\x1BsO \x1Bga"), "x² H₂O α");
    }

    /// EACC is three bytes per character, designated with ESC $ 1.
    #[test]
    fn eacc() {
        // 0x213021 is 一 (U+4E00) in EACC.
        assert_eq!(convert(b"\x1B$1!0!\x1B(B."), "\u{4E00}.");
        let err = marc8_to_utf8(b"\x1B$1!0").expect_err("cut off");
        assert_eq!(err.kind, Marc8ErrorKind::TruncatedEacc);
        assert_eq!(err.offset, 3);
    }

    /// Issue #19 item 14: a field with the EACC codes for typographic
    /// punctuation that MARC::Charset and pymarc decode (the six codes
    /// MARC::Charset adds to LC's table, written by III's ILS) was
    /// quarantined as "not an EACC character".
    #[test]
    fn eacc_punctuation_marc_charset_adds_is_decoded() {
        let field =
            b"\x1B$1\x21\x20\x3D\x21\x20\x40\x7F\x20\x14\x7F\x20\x19\x7F\x20\x20\x7F\x21\x22\x1B(B";
        assert_eq!(
            convert(field),
            "\u{2026}\u{201C}\u{2014}\u{2019}\u{201D}\u{2122}"
        );
        // A code in neither table is still an error, and DEL outside such a
        // code is still DEL.
        let err = marc8_to_utf8(b"\x1B$1\x21\x20\x3E").expect_err("unmapped");
        assert_eq!(
            err.kind,
            Marc8ErrorKind::UnmappedEacc {
                code: [0x21, 0x20, 0x3E]
            }
        );
        assert_eq!(convert(b"\x1B$1\x7F\x1B(Ba"), "\u{7F}a");
    }

    /// Double diacritics: the right half is absorbed by the left, and kept
    /// (as LC's alternative) when it stands alone.
    #[test]
    fn double_diacritics() {
        assert_eq!(convert(b"\xEBt\xECs"), "t\u{361}s");
        assert_eq!(convert(b"\xFAn\xFBg"), "n\u{360}g");
        assert_eq!(convert(b"\xECs"), "s\u{FE21}");
    }

    /// Unmapped bytes and bad escapes are errors with the offset, not
    /// silently dropped.
    #[test]
    fn problems_are_errors() {
        let err = |bytes: &[u8]| marc8_to_utf8(bytes).expect_err("should fail");
        let e = err(b"ab\xAF");
        assert_eq!(e.offset, 2);
        assert_eq!(
            e.to_string(),
            "byte 0xAF has no character in Extended Latin (ANSEL) at byte 2 of the value"
        );
        assert_eq!(err(b"\x80").offset, 0);
        assert!(matches!(
            err(b"x\x1B").kind,
            Marc8ErrorKind::TruncatedEscape
        ));
        assert!(matches!(
            err(b"\x1B(").kind,
            Marc8ErrorKind::TruncatedEscape
        ));
        assert_eq!(
            err(b"\x1B(Z").to_string(),
            "unknown escape sequence ESC ( Z at byte 0 of the value"
        );
        assert!(matches!(
            err(b"\x1Bz").kind,
            Marc8ErrorKind::UnknownEscape { .. }
        ));
    }

    /// ANSEL can be designated explicitly with its two-byte final `!E`.
    #[test]
    fn ansel_designation() {
        assert_eq!(convert(b"\x1B)!E\xE2a"), "a\u{301}");
        assert_eq!(convert(b"\x1B(!EB"), "\u{2117}");
        assert!(marc8_to_utf8(b"\x1B(!X").is_err());
    }

    /// A trailing mark with no base is kept, and references only count when
    /// well-formed.
    #[test]
    fn edge_cases_keep_every_byte() {
        assert_eq!(convert(b"ab\xE2"), "ab\u{301}");
        assert_eq!(
            convert(b"&#x41 &#xZZ; &amp; &#x110000;"),
            "&#x41 &#xZZ; &amp; &#x110000;"
        );
        assert_eq!(convert(b"&#x1D538;"), "\u{1D538}");
        assert_eq!(convert(b"\x88The\x89 end"), "\u{98}The\u{9C} end");
    }

    /// No input may panic.
    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut bytes = Vec::new();
        for a in 0..=255u8 {
            for b in [0x1B, b'$', b'(', b')', b'1', b'!', b'E', 0xE2, 0xA1, b'&'] {
                bytes.clear();
                bytes.extend_from_slice(&[0x1B, a, b, a, b'#', b'x']);
                for start in 0..bytes.len() {
                    let _ = marc8_to_utf8(&bytes[start..]);
                }
            }
        }
    }
}
