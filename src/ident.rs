//! Standard identifiers as catalogues write them: ISBN (10 and 13, with
//! qualifiers), ISSN, LCCN and OCLC numbers, parsed and checked into one
//! canonical form.
//!
//! Normalisation writes these forms back into the record and dedup builds
//! its identifier keys from them; both use this module so that neither
//! depends on the other, and a number compares equal however a partner
//! punctuated it. Pure functions, no I/O.

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

/// Check digit of an ISBN-13 / EAN-13 / ISMN-13 (weights 1,3).
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

/// ISSN as `NNNN-NNNC` if the check digit is right.
pub fn normalize_issn(value: &str) -> Option<String> {
    let chars: String = value
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'x' || *c == 'X')
        .take(8)
        .collect::<String>()
        .to_ascii_uppercase();
    let b = chars.as_bytes();
    if b.len() != 8 || !b[..7].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = b[..7]
        .iter()
        .enumerate()
        .map(|(i, c)| u32::from(c - b'0') * (8 - i as u32))
        .sum();
    let check = (11 - sum % 11) % 11;
    let expected = if check == 10 {
        b'X'
    } else {
        b'0' + check as u8
    };
    (b[7] == expected).then(|| format!("{}-{}", &chars[..4], &chars[4..]))
}

/// The OCLC number of a 035 $a such as `(OCoLC)ocm01234567`, without prefix
/// letters and leading zeros.
pub fn oclc_number(value: &str) -> Option<String> {
    let rest = value.trim().strip_prefix("(OCoLC)")?;
    let rest = rest
        .trim_start_matches("ocm")
        .trim_start_matches("ocn")
        .trim_start_matches("on")
        .trim();
    if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n = rest.trim_start_matches('0');
    (!n.is_empty()).then(|| n.to_string())
}

/// LCCN normalisation as the Library of Congress describes it: remove
/// blanks, drop anything from a `/` on, and if there is a hyphen, left-pad
/// the part after it to six digits and drop the hyphen.
pub fn normalize_lccn(value: &str) -> Option<String> {
    let s: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let s = s.split('/').next().unwrap_or("");
    let s = match s.split_once('-') {
        Some((pre, post)) if post.chars().all(|c| c.is_ascii_digit()) && post.len() <= 6 => {
            format!("{pre}{post:0>6}")
        }
        _ => s.to_string(),
    };
    let s = s.to_ascii_lowercase();
    (s.chars().any(|c| c.is_ascii_digit()) && s.chars().all(|c| c.is_ascii_alphanumeric()))
        .then_some(s)
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

    // LCCN, ISSN and OCLC numbers as LC and OCLC document their normal forms.
    #[test]
    fn identifiers_normalise() {
        assert_eq!(oclc_number("(OCoLC)ocm00012345").as_deref(), Some("12345"));
        assert_eq!(
            oclc_number("(OCoLC)on1234567890").as_deref(),
            Some("1234567890")
        );
        assert_eq!(oclc_number("(DLC)123"), None);
        assert_eq!(normalize_lccn("n78-890351").as_deref(), Some("n78890351"));
        assert_eq!(normalize_lccn("85-2 ").as_deref(), Some("85000002"));
        assert_eq!(
            normalize_lccn("  2001-000002 /AC/r932").as_deref(),
            Some("2001000002")
        );
        assert_eq!(normalize_issn("0378-5955").as_deref(), Some("0378-5955"));
        assert_eq!(normalize_issn("0378-5954"), None);
    }
}
