//! Unicode to MARC-8, for ISO 2709 output that a MARC-8-only system reads
//! (`unicat convert --encoding marc8`): the inverse of [`crate::marc8`],
//! from the same generated tables.
//!
//! - Each character is looked up as it is; one that MARC-8 lacks as such
//!   (a precomposed `é`) is decomposed (NFD) and its parts looked up.
//! - Combining marks, which Unicode writes after their base character, are
//!   written before it, in their order, as MARC-8 requires. A double
//!   diacritic (U+0360, U+0361) becomes its left half before the first
//!   base and its right half before the second.
//! - G1 stays Extended Latin (ANSEL) throughout; other scripts are
//!   designated into G0 when needed (`ESC ( F`, `ESC $ 1` for EACC, the
//!   technique-1 escapes `ESC g`/`ESC b`/`ESC p` for Greek symbols,
//!   subscripts and superscripts), and every value ends in ASCII again,
//!   since MARC 21 starts every field with the default sets.
//! - A character in no MARC-8 set is written as the numeric character
//!   reference `&#xHHHH;` in ASCII, MARC 21's "lossless conversion"
//!   convention, which [`crate::marc8::marc8_to_utf8`] reads back; it is
//!   counted, never dropped. An `&` that would otherwise read as the start
//!   of such a reference is itself written as one.
//!
//! Pure: no I/O, works on the buffer it is given.

use std::collections::HashMap;
use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;

use crate::marc8_tables::{
    Set94, ANSEL, BASIC_LATIN, C1, CHAR_MASK, COMBINING, DOUBLE_DIACRITICS, EACC, GREEK_SYMBOLS,
    RIGHT_HALF, SETS94, SUBSCRIPTS, SUPERSCRIPTS,
};

const ESC: u8 = 0x1B;

/// The EACC codes MARC::Charset adds to LC's tables
/// (`crates/marc/data/additional-iii-characters.xml`: … “ — ’ † ™ as some
/// ILSs write them). The decoder reads them; the encoder never writes
/// them, because LC's tables and other readers (yaz) do not know them: the
/// characters go out as references instead.
const NOT_IN_LC_TABLES: [u32; 6] = [0x21203D, 0x212040, 0x7F2014, 0x7F2019, 0x7F2020, 0x7F2122];

/// Where a character lives in MARC-8.
#[derive(Clone, Copy)]
enum Place {
    /// A G0 set (by its index in `SETS94`) and the G0 code (0x21-0x7E).
    G0(usize, u8),
    /// ANSEL in G1: the byte (0xA1-0xFE).
    Ansel(u8),
    /// One of the C1 codes, the same whatever is designated.
    C1(u8),
    /// EACC in G0: the three bytes.
    Eacc([u8; 3]),
}

/// A character's place and whether it is a combining mark.
#[derive(Clone, Copy)]
struct Entry {
    place: Place,
    combining: bool,
}

/// The reverse of the code tables: the first place each character has, in
/// the order ASCII, ANSEL, C1, the other single-byte sets, EACC (so the
/// default sets win and need no escape).
fn table() -> &'static HashMap<char, Entry> {
    static TABLE: OnceLock<HashMap<char, Entry>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut map = HashMap::new();
        let mut add = |value: u32, place: Place| {
            if let Some(c) = char::from_u32(value & CHAR_MASK) {
                // A lone right half's alternative mapping (U+FE21, U+FE23)
                // is a mark too, written before its base.
                let combining = value & (COMBINING | RIGHT_HALF) != 0;
                map.entry(c).or_insert(Entry { place, combining });
            }
        };
        let index_of = |set: &Set94| SETS94.iter().position(|s| std::ptr::eq(*s, set));
        let ascii = index_of(&BASIC_LATIN).unwrap_or(0);
        for (i, &v) in BASIC_LATIN.chars.iter().enumerate() {
            if v != 0 {
                add(v, Place::G0(ascii, 0x21 + i as u8));
            }
        }
        for (i, &v) in ANSEL.chars.iter().enumerate() {
            if v != 0 {
                add(v, Place::Ansel(0xA1 + i as u8));
            }
        }
        for &(byte, v) in &C1 {
            add(v, Place::C1(byte));
        }
        for (n, set) in SETS94.iter().enumerate() {
            if std::ptr::eq(*set, &BASIC_LATIN) || std::ptr::eq(*set, &ANSEL) {
                continue;
            }
            for (i, &v) in set.chars.iter().enumerate() {
                if v != 0 {
                    add(v, Place::G0(n, 0x21 + i as u8));
                }
            }
        }
        for &(code, v) in EACC
            .iter()
            .filter(|(code, _)| !NOT_IN_LC_TABLES.contains(code))
        {
            let [_, a, b, c] = code.to_be_bytes();
            add(v, Place::Eacc([a, b, c]));
        }
        // LC's alternative mappings of the double diacritics' left halves
        // (`<alt>` in codetables.xml: ANSEL 0xEB is U+0361 or U+FE20, 0xFA
        // U+0360 or U+FE22), which records converted by other tools carry
        // (with U+FE21/U+FE23 as the right halves, already above).
        for (alt, canonical) in [('\u{FE20}', '\u{361}'), ('\u{FE22}', '\u{360}')] {
            if let Some(&e) = map.get(&canonical) {
                map.entry(alt).or_insert(e);
            }
        }
        map
    })
}

/// What G0 holds while encoding.
#[derive(Clone, Copy, PartialEq, Eq)]
enum G0 {
    Set(usize),
    Eacc,
}

/// Appends `value` to `out` in MARC-8 and returns how many characters had
/// no MARC-8 code and were written as `&#xHHHH;` references.
pub fn utf8_to_marc8(value: &str, out: &mut Vec<u8>) -> usize {
    if value.is_ascii() && !value.contains("&#") {
        out.extend_from_slice(value.as_bytes());
        return 0;
    }
    let table = table();
    let ascii = G0::Set(
        SETS94
            .iter()
            .position(|s| std::ptr::eq(*s, &BASIC_LATIN))
            .unwrap_or(0),
    );
    let mut enc = Encoder {
        out,
        g0: ascii,
        ascii,
        references: 0,
        pending: Vec::new(),
        right_half: None,
    };
    let chars: Vec<char> = value.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        // `&#x` in the text would read back as a reference: escape the `&`.
        if c == '&' && chars.get(i + 1) == Some(&'#') {
            enc.flush();
            enc.reference('&');
            continue;
        }
        match table.get(&c) {
            Some(&e) => enc.unit(c, Some(e)),
            None if c <= ' ' || c == '\u{7f}' => enc.unit(c, None),
            None => {
                let parts: Vec<char> = std::iter::once(c).nfd().collect();
                if parts.len() > 1 && parts.iter().all(|p| table.contains_key(p)) {
                    for p in parts {
                        enc.unit(p, table.get(&p).copied());
                    }
                } else {
                    enc.flush();
                    enc.reference(c);
                }
            }
        }
    }
    enc.flush();
    if enc.g0 != enc.ascii {
        enc.designate_ascii();
    }
    enc.references
}

struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    g0: G0,
    ascii: G0,
    references: usize,
    /// The base character waiting for its marks, then the marks.
    pending: Vec<(char, Option<Entry>)>,
    /// The right half of a double diacritic to write before the next base.
    right_half: Option<u8>,
}

impl Encoder<'_> {
    /// Takes one character: a base starts a new cluster, a mark joins the
    /// current one.
    fn unit(&mut self, c: char, entry: Option<Entry>) {
        let combining = entry.is_some_and(|e| e.combining);
        if combining && self.pending.is_empty() {
            // A mark with no base before it in MARC-8 terms (at the start
            // of the value, or after a character written as a reference):
            // written as a mark, a reader would put it on the next letter.
            self.reference(c);
            return;
        }
        if !combining {
            self.flush();
        }
        self.pending.push((c, entry));
    }

    /// Writes the pending cluster: marks first, then the base.
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let cluster = std::mem::take(&mut self.pending);
        let (base, marks) = match cluster.first() {
            Some(&(c, e)) if !e.is_some_and(|e| e.combining) => (Some((c, e)), &cluster[1..]),
            _ => (None, &cluster[..]),
        };
        if base.is_some() {
            if let Some(right) = self.right_half.take() {
                // Unless the text has the right half itself (U+FE21 after
                // U+FE20), which the marks below write.
                let explicit = marks.iter().any(
                    |&(_, e)| matches!(e, Some(Entry { place: Place::Ansel(b), .. }) if b == right),
                );
                if !explicit {
                    self.out.push(right);
                }
            }
        }
        for &(c, e) in marks {
            self.put(c, e);
            if let Some(Entry {
                place: Place::Ansel(byte),
                ..
            }) = e
            {
                if let Some(&(_, right)) = DOUBLE_DIACRITICS
                    .iter()
                    .find(|&&(left, _)| left == byte - 0x80)
                {
                    self.right_half = Some(right + 0x80);
                }
            }
        }
        if let Some((c, e)) = base {
            self.put(c, e);
        }
    }

    /// Writes one character at its place, designating its set first.
    fn put(&mut self, c: char, entry: Option<Entry>) {
        match entry.map(|e| e.place) {
            None => {
                // Space and controls mean the same in every set.
                self.out.push(c as u8);
            }
            Some(Place::Ansel(byte)) | Some(Place::C1(byte)) => self.out.push(byte),
            Some(Place::G0(set, code)) => {
                if self.g0 != G0::Set(set) {
                    self.designate(set);
                }
                self.out.push(code);
            }
            Some(Place::Eacc(bytes)) => {
                if self.g0 != G0::Eacc {
                    self.out.extend_from_slice(&[ESC, b'$', b'1']);
                    self.g0 = G0::Eacc;
                }
                self.out.extend_from_slice(&bytes);
            }
        }
    }

    fn designate(&mut self, set: usize) {
        let s = SETS94[set];
        if G0::Set(set) == self.ascii {
            self.designate_ascii();
            return;
        }
        if [&GREEK_SYMBOLS, &SUBSCRIPTS, &SUPERSCRIPTS]
            .iter()
            .any(|t| std::ptr::eq(*t, s))
        {
            // Technique 1: the final byte straight after ESC.
            self.out.extend_from_slice(&[ESC, s.final_byte]);
        } else {
            self.out.extend_from_slice(&[ESC, b'(', s.final_byte]);
        }
        self.g0 = G0::Set(set);
    }

    fn designate_ascii(&mut self) {
        self.out.extend_from_slice(&[ESC, b'(', b'B']);
        self.g0 = self.ascii;
    }

    /// Writes `&#xHHHH;` in ASCII.
    fn reference(&mut self, c: char) {
        if self.g0 != self.ascii {
            self.designate_ascii();
        }
        if c != '&' {
            self.references += 1;
        }
        self.out
            .extend_from_slice(format!("&#x{:04X};", u32::from(c)).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marc8::marc8_to_utf8;
    use unicode_normalization::UnicodeNormalization;

    fn round_trip(text: &str) -> String {
        let mut out = Vec::new();
        utf8_to_marc8(text, &mut out);
        marc8_to_utf8(&out)
            .expect("our MARC-8 reads back")
            .nfc()
            .collect()
    }

    // The encoder is the decoder's inverse on every script MARC-8 has.
    #[test]
    fn marc8_output_reads_back_as_the_same_text() {
        for text in [
            "plain ascii",
            "Café Müller, Łódź, Ærø",
            "Война и мир ; Ўзбекистон",
            "Ἰλιάς",
            "t͡sar",
            "中國文學 史",
            "H₂O and x²",
            "AT&T &#x41; stays literal",
        ] {
            assert_eq!(round_trip(text), text.nfc().collect::<String>(), "{text}");
        }
    }

    proptest::proptest! {
        // Any text of the scripts partners use, marks anywhere (also first,
        // or after a character MARC-8 lacks), reads back as the same text.
        #[test]
        fn any_text_reads_back(text in "[a-zA-Z0-9 &#;éüçşöğıƏəʻʼ—–‘’“”Ѐ-ӿא-תا-ي\u{3B1}-\u{3C9}中文字\u{300}-\u{36F}☃]{0,24}") {
            proptest::prop_assert_eq!(round_trip(&text), text.nfc().collect::<String>());
        }
    }

    // LC's alternative form of a ligature, left and right halves as two
    // marks (U+FE20, U+FE21, as many converted records have it), is the
    // same MARC-8 as the double diacritic U+0361: the halves once each.
    #[test]
    fn ligature_halves_are_written_once() {
        let (mut alt, mut canonical) = (Vec::new(), Vec::new());
        assert_eq!(utf8_to_marc8("t\u{FE20}s\u{FE21}a", &mut alt), 0);
        assert_eq!(utf8_to_marc8("t\u{361}sa", &mut canonical), 0);
        assert_eq!(alt, [0xEB, b't', 0xEC, b's', b'a']);
        assert_eq!(alt, canonical);
    }

    // Marks come before their base in MARC-8: é is ANSEL's acute (0xE2)
    // then `e`, as LC's tables and every MARC-8 reader expect.
    #[test]
    fn combining_marks_precede_their_base() {
        let mut out = Vec::new();
        assert_eq!(utf8_to_marc8("é", &mut out), 0);
        assert_eq!(out, [0xE2, b'e']);
        out.clear();
        utf8_to_marc8("Ж", &mut out);
        assert_eq!(out, [ESC, b'(', b'N', 0x76, ESC, b'(', b'B']);
    }

    // A character MARC-8 lacks is kept as a reference and counted.
    #[test]
    fn unmappable_characters_become_references() {
        let mut out = Vec::new();
        assert_eq!(utf8_to_marc8("a☃b", &mut out), 1);
        assert_eq!(out, b"a&#x2603;b");
        // Only MARC::Charset has a code for the em dash; yaz has none.
        out.clear();
        assert_eq!(utf8_to_marc8("a—b", &mut out), 1);
        assert_eq!(out, b"a&#x2014;b");
    }
}
