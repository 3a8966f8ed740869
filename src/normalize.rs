//! Normalisation: makes every partner's record look like one catalogue's.
//!
//! A pipeline of small steps over a parsed record: Unicode NFC, control
//! characters removed, whitespace trimmed and collapsed in subfields, ISBNs
//! checked and converted to ISBN-13, and the partner's own 001/003 kept as a
//! 035 so that provenance survives merging. Pure and deterministic: no I/O,
//! no clock. It never drops a field; what it cannot make sense of it leaves
//! as it found it (or, for a bad ISBN, moves to $z where MARC says invalid
//! numbers belong).

use unicat_marc::{ControlField, DataField, Field, Record, Subfield};
use unicode_normalization::UnicodeNormalization;

/// What normalisation needs to know about the partner.
#[derive(Debug, Clone)]
pub struct PartnerContext<'a> {
    /// The partner's holdings/provenance code, e.g. `AZ-BaNL`.
    pub code: &'a str,
}

/// Normalise a record for the union catalogue.
pub fn normalize(mut record: Record, partner: &PartnerContext<'_>) -> Record {
    for field in &mut record.fields {
        match field {
            // Control fields are positional (008!), so only Unicode form and
            // control characters are touched, never spaces.
            Field::Control(ControlField { value, .. }) => {
                *value = nfc_without_controls(value);
            }
            Field::Data(df) => {
                for sf in &mut df.subfields {
                    sf.value = clean_text(&sf.value);
                }
            }
        }
    }
    normalize_isbns(&mut record);
    add_provenance_035(&mut record, partner.code);
    record
}

/// NFC, with C0/C1 control characters removed (they are invalid in XML
/// 1.0 output and meaningless in MARC data).
fn nfc_without_controls(s: &str) -> String {
    s.nfc().filter(|c| !c.is_control()).collect()
}

/// NFC, controls removed, whitespace trimmed and runs collapsed to a single
/// space (tabs and no-break spaces included: partners paste from Word).
pub fn clean_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.nfc() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else if c.is_control() {
            continue;
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

/// A parsed ISBN from the start of a 020 $a.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsbnParse {
    /// The ISBN-13, if the number was valid.
    pub isbn13: Option<String>,
    /// The digits as written (10 or 13 characters, X allowed in ISBN-10).
    pub raw: String,
    /// Anything after the number, e.g. `(pbk.)`, cleaned of brackets.
    pub qualifier: Option<String>,
}

/// Parse the ISBN at the start of a 020 $a value such as
/// `978-9952-34-123-4 (pbk.)` or `5-02-011354-X`.
pub fn parse_isbn(value: &str) -> Option<IsbnParse> {
    let value = value.trim();
    // Some partners write the label too: "ISBN 978-…", "ISBN: 5-…".
    let value = match value.get(..4) {
        Some(label) if label.eq_ignore_ascii_case("isbn") => {
            value[4..].trim_start_matches([':', ' '])
        }
        _ => value,
    };
    let mut raw = String::new();
    let mut end = value.len();
    for (i, c) in value.char_indices() {
        match c {
            '0'..='9' => raw.push(c),
            'x' | 'X' if raw.len() == 9 => raw.push('X'),
            '-' | ' ' | '\u{2010}' | '\u{2011}' | '\u{2013}' if raw.len() < 13 => {}
            _ => {
                end = i;
                break;
            }
        }
        if raw.len() == 13 || (raw.len() == 10 && raw.ends_with('X')) {
            end = i + c.len_utf8();
            break;
        }
    }
    // A 10-digit ISBN followed by a space and more digits is not 13 digits:
    // the loop above would have swallowed them, so check the count only.
    if raw.len() != 10 && raw.len() != 13 {
        return None;
    }
    let rest = value[end..]
        .trim()
        .trim_start_matches(':')
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(['.', ' '])
        .trim_end_matches(')')
        .trim();
    let qualifier = (!rest.is_empty()).then(|| rest.to_string());
    let isbn13 = if raw.len() == 10 {
        isbn10_valid(&raw).then(|| isbn10_to_13(&raw))
    } else {
        isbn13_valid(&raw).then(|| raw.clone())
    };
    Some(IsbnParse {
        isbn13,
        raw,
        qualifier,
    })
}

/// Check digit of an ISBN-10 (mod 11, `X` = 10).
pub fn isbn10_valid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || !b[..9].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum = 0u32;
    for (i, &c) in b.iter().enumerate() {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'X' if i == 9 => 10,
            _ => return false,
        };
        sum += v * (10 - i as u32);
    }
    sum.is_multiple_of(11)
}

/// Check digit of an ISBN-13 / EAN-13 (weights 1,3).
pub fn isbn13_valid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 13 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b
        .iter()
        .enumerate()
        .map(|(i, &c)| u32::from(c - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    sum.is_multiple_of(10)
}

/// Convert a valid ISBN-10 to ISBN-13 (prefix 978, new check digit).
pub fn isbn10_to_13(s: &str) -> String {
    let body = format!("978{}", &s[..9]);
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, c)| u32::from(c - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// 020 $a: valid numbers become ISBN-13 without hyphens with the qualifier in
/// $q; numbers with a bad check digit move to $z (cancelled/invalid).
fn normalize_isbns(record: &mut Record) {
    for field in &mut record.fields {
        let Field::Data(df) = field else { continue };
        if df.tag != "020" {
            continue;
        }
        let mut out: Vec<Subfield> = Vec::with_capacity(df.subfields.len() + 1);
        let has_q = df.subfields.iter().any(|s| s.code == 'q');
        for sf in df.subfields.drain(..) {
            if sf.code != 'a' {
                out.push(sf);
                continue;
            }
            match parse_isbn(&sf.value) {
                Some(IsbnParse {
                    isbn13: Some(isbn),
                    qualifier,
                    ..
                }) => {
                    out.push(Subfield {
                        code: 'a',
                        value: isbn,
                    });
                    if let (Some(q), false) = (qualifier, has_q) {
                        out.push(Subfield {
                            code: 'q',
                            value: q,
                        });
                    }
                }
                Some(IsbnParse { isbn13: None, .. }) => out.push(Subfield {
                    code: 'z',
                    value: sf.value,
                }),
                None => out.push(sf),
            }
        }
        df.subfields = out;
    }
}

/// Keep the partner's 001 (with 003, or the partner's code) as a 035
/// `(CODE)id`, unless the record already carries exactly that 035.
fn add_provenance_035(record: &mut Record, partner_code: &str) {
    let Some(id) = record
        .control("001")
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return;
    };
    let org = record
        .control("003")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(partner_code);
    let value = format!("({org}){id}");
    let present = record
        .data_fields("035")
        .any(|f| f.subfields_of('a').any(|a| a == value));
    if !present {
        record.insert_sorted(Field::Data(
            DataField::new("035", ' ', ' ').with('a', value),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // ISBN forms that partners really write must all come out as one ISBN-13.
    #[test]
    fn isbn_forms_normalise_to_isbn13() {
        let p = parse_isbn("0-19-479900-x").unwrap();
        assert_eq!(p.isbn13.as_deref(), Some("9780194799003"));
        let p = parse_isbn("978-9943-01-234-6 (pbk.)").unwrap();
        assert_eq!(p.raw, "9789943012346");
        assert_eq!(p.qualifier.as_deref(), Some("pbk."));
        let p = parse_isbn("9780262033848 : $25.00").unwrap();
        assert_eq!(p.isbn13.as_deref(), Some("9780262033848"));
        assert_eq!(p.qualifier.as_deref(), Some("$25.00"));
        assert!(parse_isbn("not an isbn").is_none());
        let p = parse_isbn("ISBN 978-9943-04-031-1").unwrap();
        assert_eq!(p.raw, "9789943040311");
    }

    // A wrong check digit must not become a match key.
    #[test]
    fn bad_check_digit_moves_to_z() {
        let mut r = Record::new("00000nam a2200000 i 4500");
        r.push(Field::Data(
            DataField::new("020", ' ', ' ').with('a', "978-0-262-03384-9"),
        ));
        let r = normalize(r, &PartnerContext { code: "X" });
        let f = r.data_fields("020").next().unwrap();
        assert_eq!(f.subfield('a'), None);
        assert_eq!(f.subfield('z'), Some("978-0-262-03384-9"));
    }

    // NFC and whitespace: decomposed ö and doubled spaces compare equal after.
    #[test]
    fn text_is_nfc_trimmed_and_collapsed() {
        assert_eq!(clean_text("  Go\u{308}zel \t  ko\u{308}l  "), "Gözel köl");
        assert_eq!(clean_text("a\u{0007}b"), "ab");
    }

    // The partner's 001 must survive merging as a 035.
    #[test]
    fn provenance_035_added_once() {
        let mut r = Record::new("00000nam a2200000 i 4500");
        r.push(Field::Control(ControlField {
            tag: "001".into(),
            value: "AZ1".into(),
        }));
        let r = normalize(r, &PartnerContext { code: "AZ-BaNL" });
        let r = normalize(r, &PartnerContext { code: "AZ-BaNL" });
        let v: Vec<_> = r
            .data_fields("035")
            .filter_map(|f| f.subfield('a'))
            .collect();
        assert_eq!(v, vec!["(AZ-BaNL)AZ1"]);
    }
}
