//! Repair of characters that XML 1.0 forbids, before a response is parsed.
//!
//! Real repositories send C0 control characters (a vertical tab pasted
//! from a word processor, U+000B), the non-characters U+FFFE and U+FFFF,
//! and character references to them or to lone UTF-16 surrogates
//! (`&#xD800;`). A strict parser rejects the whole page for one such
//! character; a lenient one passes garbage into the catalogue. Here they
//! are removed (literal control characters and non-characters, which carry
//! no text) or replaced by U+FFFD (references to surrogates or to code
//! points out of range, which stood for *some* character), and counted so
//! the harvest can report what it repaired. Invalid UTF-8 is deliberately
//! left alone: the parser then rejects just the record that holds it, and
//! the harvest quarantines that record with the reason.

use std::borrow::Cow;

/// What `sanitize` changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Repairs {
    /// Literal control characters and U+FFFE/U+FFFF removed.
    pub removed_chars: u64,
    /// Character references to invalid code points removed or replaced.
    pub fixed_references: u64,
}

impl Repairs {
    /// Total number of repairs.
    pub fn total(&self) -> u64 {
        self.removed_chars + self.fixed_references
    }
}

fn is_forbidden_control(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0B | 0x0C | 0x0E..=0x1F)
}

/// What a numeric character reference should become: `None` to keep it,
/// `Some("")` to drop it, `Some("\u{FFFD}")` to mark a lost character.
fn fix_reference(value: u32) -> Option<&'static str> {
    match value {
        0x09 | 0x0A | 0x0D => None,
        0x00..=0x1F | 0xFFFE | 0xFFFF => Some(""),
        0xD800..=0xDFFF => Some("\u{FFFD}"),
        v if v > 0x10FFFF => Some("\u{FFFD}"),
        _ => None,
    }
}

/// Parse `&#123;` / `&#x7B;` at the start of `s`: (code point, length).
fn numeric_reference(s: &[u8]) -> Option<(u32, usize)> {
    let rest = s.strip_prefix(b"&#")?;
    let (hex, digits) = match rest.first() {
        Some(b'x') | Some(b'X') => (true, &rest[1..]),
        _ => (false, rest),
    };
    let end = digits.iter().position(|&b| b == b';')?;
    if end == 0 || end > 10 {
        return None;
    }
    let text = std::str::from_utf8(&digits[..end]).ok()?;
    let value = if hex {
        u32::from_str_radix(text, 16).ok()?
    } else {
        text.parse().ok()?
    };
    Some((value, 2 + usize::from(hex) + end + 1))
}

/// Whether U+FFFE or U+FFFF (UTF-8 `EF BF BE` / `EF BF BF`) starts at `i`.
fn noncharacter_at(body: &[u8], i: usize) -> bool {
    body.get(i) == Some(&0xEF)
        && body.get(i + 1) == Some(&0xBF)
        && matches!(body.get(i + 2), Some(0xBE) | Some(0xBF))
}

/// Whether the byte at `i` starts something `sanitize` must look at: a
/// forbidden control character, U+FFFE or U+FFFF, or a numeric reference.
fn needs_work_at(body: &[u8], i: usize) -> bool {
    let Some(&b) = body.get(i) else {
        return false;
    };
    is_forbidden_control(b)
        || noncharacter_at(body, i)
        || (b == b'&' && body.get(i + 1) == Some(&b'#'))
}

/// Bytes per block of the quick scan.
const BLOCK: usize = 64;

/// Whether any byte of the body needs work. Every response passes here
/// before it is parsed, on the one thread that fetches pages in order, so
/// the common clean page must cost little: each block of 64 bytes is
/// tested at once for bytes that could start a repair (control
/// characters other than tab and line ends, the lead byte of U+FFFE and
/// U+FFFF, '&'), with no branch per byte, which the compiler turns into
/// vector compares; only a block with such a byte is checked exactly.
/// Profiled on LC pages, the byte-by-byte test was a fifth of the fetching
/// thread's work.
fn needs_work(body: &[u8]) -> bool {
    body.chunks(BLOCK).enumerate().any(|(n, block)| {
        let candidates = block.iter().fold(0u8, |acc, &b| {
            let control = (b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r');
            acc | u8::from(control | (b == 0xEF) | (b == b'&'))
        });
        candidates != 0 && (n * BLOCK..n * BLOCK + block.len()).any(|i| needs_work_at(body, i))
    })
}

/// Remove or replace characters XML 1.0 forbids. Returns the body
/// unchanged (borrowed) when there was nothing to repair, which is the
/// common case and costs one quick scan.
pub fn sanitize(body: &[u8]) -> (Cow<'_, [u8]>, Repairs) {
    let mut repairs = Repairs::default();
    if !needs_work(body) {
        return (Cow::Borrowed(body), repairs);
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if is_forbidden_control(b) {
            repairs.removed_chars += 1;
            i += 1;
        } else if noncharacter_at(body, i) {
            repairs.removed_chars += 1;
            i += 3;
        } else if b == b'&' {
            match numeric_reference(&body[i..]) {
                Some((value, len)) => match fix_reference(value) {
                    Some(replacement) => {
                        repairs.fixed_references += 1;
                        out.extend_from_slice(replacement.as_bytes());
                        i += len;
                    }
                    None => {
                        out.extend_from_slice(&body[i..i + len]);
                        i += len;
                    }
                },
                None => {
                    out.push(b);
                    i += 1;
                }
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    if repairs.total() == 0 {
        // Only harmless references: keep the original.
        return (Cow::Borrowed(body), repairs);
    }
    (Cow::Owned(out), repairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A clean body is not copied.
    #[test]
    fn clean_body_is_borrowed() {
        let (out, r) = sanitize(b"<a>ok &amp; &#233;</a>");
        assert!(matches!(out, Cow::Borrowed(_)));
        assert_eq!(r.total(), 0);
    }

    // Each kind of forbidden character is repaired and counted.
    #[test]
    fn forbidden_characters_are_repaired_and_counted() {
        let body = "<a>x\u{0B}y\u{FFFE}z&#11;&#xD800;&#x1F600;&#10;</a>".as_bytes();
        let (out, r) = sanitize(body);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "<a>xyz\u{FFFD}&#x1F600;&#10;</a>"
        );
        assert_eq!(
            r,
            Repairs {
                removed_chars: 2,
                fixed_references: 2
            }
        );
    }

    // Invalid UTF-8 is left for the parser to reject record by record.
    #[test]
    fn invalid_utf8_is_untouched() {
        let body = b"<a>\xC3\x28</a>";
        let (out, r) = sanitize(body);
        assert_eq!(&*out, body);
        assert_eq!(r.total(), 0);
    }

    // The block scan answers as the byte-by-byte test does, wherever the
    // interesting bytes fall (block edges included), on pseudo-random
    // bodies drawn mostly from the bytes that matter.
    #[test]
    fn block_scan_agrees_with_the_exact_test() {
        const ALPHABET: &[u8] = b"aa\n\t\r&#;x\xEF\xBF\xBE\xBB\x0B\x1F\x00<>";
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut flagged = 0;
        for _ in 0..20_000 {
            let len = (next() % 200) as usize;
            let body: Vec<u8> = (0..len)
                .map(|_| {
                    // Mostly plain bytes, so that clean bodies occur too.
                    if next() % 16 == 0 {
                        ALPHABET[(next() % ALPHABET.len() as u64) as usize]
                    } else {
                        b'a'
                    }
                })
                .collect();
            let exact = (0..body.len()).any(|i| needs_work_at(&body, i));
            assert_eq!(needs_work(&body), exact, "{body:?}");
            flagged += usize::from(exact);
        }
        // Both answers occurred, so the comparison meant something.
        assert!(flagged > 1_000 && flagged < 19_000, "{flagged}");
    }

    // Broken references are not mistaken for references.
    #[test]
    fn malformed_references_pass_through() {
        for s in ["&#;", "&#x;", "&#12", "&#xZZ;", "&#99999999999;"] {
            let (out, _) = sanitize(s.as_bytes());
            assert_eq!(&*out, s.as_bytes(), "{s}");
        }
    }
}
