//! Match keys and cluster identity. Pure functions, no I/O; the clustering
//! walks the store's key index with them.
//!
//! Two records are candidates for one cluster when they share a match key:
//! a normalised identifier (ISBN-13; ISSN, OCLC number, LCCN, national
//! bibliography and agency numbers, 024 numbers: [`identifier_keys`]) or a
//! title key (title, first author's surname and year; title proper, author
//! and year; title proper and year) or a noise-tolerant key (below). Keys
//! are strings with a type prefix (`isbn:`, `issn:`, `oclc:`, `lccn:`,
//! `nbn:`, `nac:`, `std:`, `tay:`, `tpa:`, `tpy:`, `tw1:`, `aye:`) so that
//! one index serves them all and `explain` can say which one linked two
//! records. A key held by more than
//! [`MAX_KEY_FANOUT`] records (a very common title in one year, a reused
//! ISBN) makes candidates only together with a second shared key (see
//! `cluster`), so a big block is never compared all against all.
//!
//! Two key kinds exist so that cataloguing noise does not keep twins apart
//! when no identifier is shared (issue #17):
//!
//! - `tw1:` the title proper with one word of four or more letters left
//!   out (and once without any left out), first [`TW1_WORDS`] words, with
//!   the first author (empty when there is none) and the year: a one-letter
//!   typo in a word, or a word added or dropped, leaves one of these keys
//!   intact; a title of one word has none;
//! - `aye:` the first author's surname, the year and the main pagination
//!   (`264 p.` = `264 pages` = `264 с.`): catches a one-word title with a
//!   typo, or a title whose spelling differs throughout.
//!
//! Both are at most [`TW1_WORDS`] + 2 keys per title and block on the year
//! (and author) like the other title keys; the pair decision keeps the
//! precision.
//!
//! Title and author go into the key as script-independent skeletons
//! (`translit::key_skeleton`): Cyrillic is transliterated by the record's
//! language (008/35-37 or 041, else guessed from the letters, else the
//! country of publication: `lang::record_language_or_guess`) and Latin
//! romanisations are folded to the same form, so that a Cyrillic record and
//! its Latin twin share a key. The fold never empties a non-Latin title.
//! The year of a title key is the publication year, or for a record
//! without one the date as far as 008/07-10 knows it (`19uu`), so that
//! records dated only to the decade or century meet each other.

use sha2::{Digest, Sha256};
use unicat_marc::{DataField, Record};

use crate::dedup::translit::key_skeleton;
use crate::ident::{normalize_issn, normalize_lccn, oclc_number, parse_isbn};
use crate::lang::{record_language_or_guess, Lang};

/// The version of the match-key algorithm. Stored keys made by an older
/// version are recomputed from the stored records before the next dedup
/// pass (see `pipeline::refresh`), so an upgrade never compares old keys
/// with new ones. Bump it whenever `match_keys` changes its output
/// (5: every romanisation of each Cyrillic alphabet folds to one skeleton,
/// issue #17; 6: Bulgarian ъ, Uzbek/Tajik/Kyrgyz ё, ICAO ie, ISO 9 ǰ, and
/// the noise-tolerant `tw1:` and `aye:` keys).
pub const KEYS_VERSION: i64 = 6;

/// How many leading words of the title proper the `tw1:` keys are made
/// from: a word beyond them changes no key, and a title yields at most this
/// many keys with one word left out (plus one with none).
pub const TW1_WORDS: usize = 4;

/// A key shared by more records than this does not make candidates on its
/// own: it is a very common title in one year, a series ISBN or a
/// placeholder, and comparing its whole block would cost the square of its
/// size. Records in such a block are candidates only if they share a second
/// key.
pub const MAX_KEY_FANOUT: usize = 50;

/// The match keys of a normalised record, sorted and de-duplicated.
pub fn match_keys(record: &Record) -> Vec<String> {
    let mut keys = Vec::new();
    for f in record.data_fields("020") {
        for a in f.subfields_of('a') {
            if let Some(isbn) = parse_isbn(a).and_then(|p| p.isbn13) {
                keys.push(format!("isbn:{isbn}"));
            }
        }
    }
    keys.extend(identifier_keys(record));
    // Year, language and author are worked out once for both kinds of
    // title key (each is a skeleton, and the harvest keys every record).
    if let Some(year) = key_year(record) {
        let lang = key_language(record);
        let author = first_author_surname(record, lang);
        keys.extend(tay_keys(record, &year, lang, author.as_deref()));
        keys.extend(tp_keys(record, &year, lang, author.as_deref()));
        keys.extend(tw1_keys(record, &year, lang, author.as_deref()));
        keys.extend(aye_key(record, &year, author.as_deref()));
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The identifiers other than ISBNs, in match-key form, sorted and
/// de-duplicated:
///
/// - `issn:NNNN-NNNC` from 022 $a and the linking ISSN in 022 $l;
/// - `oclc:N` from 035 $a `(OCoLC)…` and from 019 $a (OCLC numbers the
///   record had before WorldCat merged it, bare digits);
/// - `lccn:…` from 010 $a;
/// - `nbn:SOURCE:NUMBER` from 015 $a (national bibliography number; the
///   source is $2, e.g. `bnb`, or empty);
/// - `nac:AGENCY:NUMBER` from 016 $a (a national bibliographic agency's
///   control number; ind1 blank is Library and Archives Canada, `7` names
///   the agency in $2);
/// - `std:KIND:NUMBER` from 024 $a (ind1 0 ISRC, 1 UPC, 2 ISMN, 3 EAN,
///   4 SICI, 7 the source in $2, 8 unspecified).
///
/// Numbers keep their letters and digits only, upper-cased, so spacing and
/// hyphenation do not matter; a value with fewer than four digits is not
/// taken (placeholders such as `n/a` or `0`).
pub fn identifier_keys(record: &Record) -> Vec<String> {
    let mut keys = Vec::new();
    for f in record.data_fields("022") {
        for v in f.subfields.iter().filter(|s| matches!(s.code, 'a' | 'l')) {
            if let Some(issn) = normalize_issn(&v.value) {
                keys.push(format!("issn:{issn}"));
            }
        }
    }
    for f in record.data_fields("035") {
        for a in f.subfields_of('a') {
            if let Some(n) = oclc_number(a) {
                keys.push(format!("oclc:{n}"));
            }
        }
    }
    for f in record.data_fields("019") {
        for a in f.subfields_of('a') {
            if let Some(n) = oclc_number(&format!("(OCoLC){}", a.trim())) {
                keys.push(format!("oclc:{n}"));
            }
        }
    }
    for f in record.data_fields("010") {
        for a in f.subfields_of('a') {
            if let Some(n) = normalize_lccn(a) {
                keys.push(format!("lccn:{n}"));
            }
        }
    }
    let source = |f: &DataField| source_code(f.subfield('2').unwrap_or(""));
    for f in record.data_fields("015") {
        push_numbers(&mut keys, "nbn", &source(f), f);
    }
    for f in record.data_fields("016") {
        let agency = match f.ind1 {
            '7' => source(f),
            _ => "lac".to_string(),
        };
        push_numbers(&mut keys, "nac", &agency, f);
    }
    for f in record.data_fields("024") {
        let kind = match f.ind1 {
            '0' => "isrc".to_string(),
            '1' => "upc".to_string(),
            '2' => "ismn".to_string(),
            '3' => "ean".to_string(),
            '4' => "sici".to_string(),
            '7' => source(f),
            _ => "other".to_string(),
        };
        push_numbers(&mut keys, "std", &kind, f);
    }
    keys.sort();
    keys.dedup();
    keys
}

/// `PREFIX:SOURCE:NUMBER` keys for the standard numbers in a field's $a.
fn push_numbers(keys: &mut Vec<String>, prefix: &str, source: &str, f: &DataField) {
    for a in f.subfields_of('a') {
        if let Some(n) = standard_number(a) {
            keys.push(format!("{prefix}:{source}:{n}"));
        }
    }
}

/// A standard number's letters and digits, upper-cased; `None` for a value
/// with fewer than four digits (a placeholder, not a number). Anything from
/// the first space after the number on is a qualifier and dropped
/// (`B67-25185 (pbk.)`).
pub fn standard_number(value: &str) -> Option<String> {
    let value = value.trim();
    let number = value.split(" (").next().unwrap_or(value);
    let n: String = number
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (n.chars().filter(char::is_ascii_digit).count() >= 4).then_some(n)
}

/// A $2 source code as it goes into a key: lower case, letters, digits
/// and hyphens only.
pub fn source_code(value: &str) -> String {
    value
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The language the title and author keys are folded in: the record's
/// code, else a guess from the 245's letters, else the country of
/// publication (`lang::record_language_or_guess`). One language for all of
/// a record's keys, because the key fold depends on it (Uzbek o and u,
/// Azerbaijani a and e) and a guess from the author's name alone would
/// often differ from the title's.
fn key_language(record: &Record) -> Option<Lang> {
    record_language_or_guess(record).map(|(lang, _)| lang)
}

/// The title + first author's surname + year keys, when all three exist:
/// one for the 245 and one for each 880 that carries the 245 in another
/// script. Title and surname are script-independent skeletons
/// (`translit::skeleton`), so a Cyrillic record and its Latin twin share
/// the key.
pub fn title_author_year_keys(record: &Record) -> Vec<String> {
    let Some(year) = key_year(record) else {
        return Vec::new();
    };
    let lang = key_language(record);
    let author = first_author_surname(record, lang);
    tay_keys(record, &year, lang, author.as_deref())
}

fn tay_keys(record: &Record, year: &str, lang: Option<Lang>, author: Option<&str>) -> Vec<String> {
    let Some(author) = author else {
        return Vec::new();
    };
    let titles = record.data_fields("245").take(1).chain(
        record
            .data_fields("880")
            .filter(|f| f.subfield('6').is_some_and(|l| l.starts_with("245"))),
    );
    let mut keys: Vec<String> = titles
        .filter_map(|f| title_skeleton(f, lang))
        .map(|t| format!("tay:{t}|{author}|{year}"))
        .collect();
    keys.dedup();
    keys
}

/// Keys from the *title proper* (245 $a up to a `:` `;` `=` or `/`, plus
/// $n and $p, without $b) and the year: once with the first author
/// (`tpa:`), so that a record that lost its subtitle still meets its twin,
/// and once without (`tpy:`), so that a record without 1XX/7XX (a corporate
/// work, a record that lost its 100) does. The authorless key is broad on
/// purpose: it only proposes candidates, and the pair decision (`decision`)
/// and `MAX_KEY_FANOUT` keep it from merging different books.
pub fn title_proper_keys(record: &Record) -> Vec<String> {
    let Some(year) = key_year(record) else {
        return Vec::new();
    };
    let lang = key_language(record);
    let author = first_author_surname(record, lang);
    tp_keys(record, &year, lang, author.as_deref())
}

fn tp_keys(record: &Record, year: &str, lang: Option<Lang>, author: Option<&str>) -> Vec<String> {
    let mut keys = Vec::new();
    for t in title_propers(record, lang) {
        if let Some(a) = author {
            keys.push(format!("tpa:{t}|{a}|{year}"));
        }
        keys.push(format!("tpy:{t}|{year}"));
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The title proper (245 $a up to a `:` `;` `=` or `/`, plus $n and $p) of
/// the 245 and of each 880 linked to a 245, as key skeletons; empty ones
/// left out.
fn title_propers(record: &Record, lang: Option<Lang>) -> Vec<String> {
    let titles = record.data_fields("245").take(1).chain(
        record
            .data_fields("880")
            .filter(|f| f.subfield('6').is_some_and(|l| l.starts_with("245"))),
    );
    let mut out = Vec::new();
    for f in titles {
        let skip = f.ind2.to_digit(10).unwrap_or(0) as usize;
        let mut text = String::new();
        let mut first_a = true;
        for sf in &f.subfields {
            match sf.code {
                'a' if first_a => {
                    first_a = false;
                    let v = sf.value.as_str();
                    let v = match v.char_indices().nth(skip) {
                        Some((i, _)) if skip > 0 => &v[i..],
                        _ => v,
                    };
                    text.push_str(&v[..v.find([':', ';', '=', '/']).unwrap_or(v.len())]);
                }
                'n' | 'p' => text.push_str(&sf.value),
                _ => continue,
            }
            text.push(' ');
        }
        let t = key_skeleton(&text, lang);
        if !t.is_empty() && !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// The `tw1:` keys (see the module documentation): for a title proper of
/// two or more words, its first [`TW1_WORDS`] words, and the same with each
/// of them left out in turn (then cut to [`TW1_WORDS`] again), each with
/// the first author's surname (empty without one) and the year. Two titles
/// that differ in one word (a typo, `Bakı şəhəri` / `Bakı şəhhəri`) share
/// the key that leaves that word out; a title with a word dropped or added
/// shares the other's key that leaves none out. Words of fewer than four
/// letters are not left out: the pair decision forgives no typo in them,
/// and every key costs a look-up in the store's index.
pub fn tw1_keys(
    record: &Record,
    year: &str,
    lang: Option<Lang>,
    author: Option<&str>,
) -> Vec<String> {
    let author = author.unwrap_or("");
    let mut keys = Vec::new();
    for t in title_propers(record, lang) {
        let words: Vec<&str> = t.split(' ').filter(|w| !w.is_empty()).collect();
        if words.len() < 2 {
            continue;
        }
        let head = words.len().min(TW1_WORDS);
        keys.push(format!("tw1:{}|{author}|{year}", words[..head].join(" ")));
        for skip in (0..head).filter(|i| words[*i].chars().count() >= 4) {
            let rest: Vec<&str> = words
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, w)| *w)
                .take(TW1_WORDS)
                .collect();
            keys.push(format!("tw1:{}|{author}|{year}", rest.join(" ")));
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The `aye:` key: first author's surname, year and main pagination (the
/// count of pages that a page word closes, in any cataloguing language:
/// `264 p.`, `264 pages`, `264 с.`, `264 б.`, `264 bet`, `264 səh.`), when
/// all three exist. It does not look at the title at all, so a typo in a
/// one-word title, or a title spelt differently throughout, still meets its
/// twin; the pair decision then weighs the titles.
pub fn aye_key(record: &Record, year: &str, author: Option<&str>) -> Option<String> {
    let author = author?;
    let pages = crate::dedup::decision::main_pages(record)?;
    Some(format!("aye:{author}|{year}|{pages}"))
}

/// The first title key (see `title_author_year_keys`).
pub fn title_author_year_key(record: &Record) -> Option<String> {
    title_author_year_keys(record).into_iter().next()
}

/// The 245's title for keys: $a $b $n $p, the non-filing characters of
/// ind2 skipped, as a skeleton.
pub fn title_for_key(record: &Record) -> Option<String> {
    title_skeleton(record.data_fields("245").next()?, key_language(record))
}

fn title_skeleton(f: &DataField, lang: Option<Lang>) -> Option<String> {
    let skip = f.ind2.to_digit(10).unwrap_or(0) as usize;
    let mut text = String::new();
    let mut first_a = true;
    for sf in &f.subfields {
        if !matches!(sf.code, 'a' | 'b' | 'n' | 'p') {
            continue;
        }
        let mut v = sf.value.as_str();
        if sf.code == 'a' && first_a {
            first_a = false;
            if skip > 0 && skip < v.chars().count() {
                let idx = v.char_indices().nth(skip).map_or(v.len(), |(i, _)| i);
                v = &v[idx..];
            }
        }
        text.push_str(v);
        text.push(' ');
    }
    let t = key_skeleton(&text, lang);
    (!t.is_empty()).then_some(t)
}

/// Surname of the first author: 100/110/111 $a, else the first 700/710 $a;
/// the part before the first comma, as a skeleton.
pub fn first_author_surname(record: &Record, lang: Option<Lang>) -> Option<String> {
    let a = ["100", "110", "111", "700", "710"]
        .iter()
        .find_map(|t| record.data_fields(t).find_map(|f| f.subfield('a')))?;
    let surname = key_skeleton(a.split(',').next().unwrap_or(a), lang);
    (!surname.is_empty()).then_some(surname)
}

/// Year of publication: the first four-digit run in 264 $c (publication,
/// ind2 = 1) or 260 $c, else a year ending an imprint that has no $c, else
/// 008/07-10 when it is four digits.
pub fn publication_year(record: &Record) -> Option<String> {
    let imprints = || {
        record
            .data_fields("264")
            .filter(|f| f.ind2 == '1')
            .chain(record.data_fields("260"))
    };
    let from_c = imprints().find_map(|f| f.subfields_of('c').find_map(four_digits));
    from_c
        .or_else(|| {
            // An imprint without $c whose last subfield ends in a year: the
            // cataloguer left out the $c delimiter (LC 00275474: `$b
            // "LILEI︠a︡", 1997.`).
            imprints()
                .filter(|f| f.subfield('c').is_none())
                .find_map(|f| f.subfields.last().and_then(|sf| trailing_year(&sf.value)))
        })
        .or_else(|| {
            let f008 = record.control("008")?;
            let y = f008.get(7..11)?;
            y.chars().all(|c| c.is_ascii_digit()).then(|| y.to_string())
        })
}

/// The year the title keys carry: [`publication_year`], else a date that
/// 008/07-10 knows to the decade or century only (`19uu`, `199u`: LC
/// 00372666, `[19--]`), kept as written, so that records of one book
/// without a year still share keys with each other (never with a dated
/// record; the pair decision sees no year in them).
fn key_year(record: &Record) -> Option<String> {
    publication_year(record).or_else(|| {
        let y = record.control("008")?.get(7..11)?;
        let b = y.as_bytes();
        (b[0].is_ascii_digit()
            && b[1].is_ascii_digit()
            && b[2..].iter().all(|c| c.is_ascii_digit() || *c == b'u'))
        .then(|| y.to_string())
    })
}

/// Four digits at the end of an imprint value (before closing
/// punctuation), not part of a longer number.
fn trailing_year(value: &str) -> Option<String> {
    let v = value.trim_end_matches(|c: char| c.is_whitespace() || ".,;:])".contains(c));
    let start = v.len().checked_sub(4)?;
    let y = v.get(start..)?;
    let before = v[..start].chars().next_back();
    (y.bytes().all(|b| b.is_ascii_digit()) && !before.is_some_and(|c| c.is_ascii_digit()))
        .then(|| y.to_string())
}

fn four_digits(s: &str) -> Option<String> {
    let digits: Vec<char> = s.chars().collect();
    digits.windows(4).find_map(|w| {
        w.iter()
            .all(|c| c.is_ascii_digit())
            .then(|| w.iter().collect::<String>())
    })
}

/// A new cluster's identifier, derived from its lowest member (partner,
/// OAI identifier), so that clustering the same data from scratch gives the
/// same identifiers. Once given, an id stays with its cluster (see
/// `pipeline::refresh`): a cluster that grows, or loses members, keeps it,
/// and one that splits keeps it on the part holding most of its members.
pub fn cluster_id(partner: &str, oai_id: &str) -> String {
    cluster_id_variant(partner, oai_id, 0)
}

/// The `n`-th candidate id for a new cluster whose lowest member is
/// (partner, oai_id); variant 0 is [`cluster_id`]. A later variant is used
/// only while an earlier one is still held by another cluster (one that
/// kept the id when this record left it).
pub fn cluster_id_variant(partner: &str, oai_id: &str, n: u32) -> String {
    let mut h = Sha256::new();
    h.update(partner.as_bytes());
    h.update([0]);
    h.update(oai_id.as_bytes());
    if n > 0 {
        h.update([0]);
        h.update(n.to_string().as_bytes());
    }
    let digest = h.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("uc{hex}")
}

/// A short content hash used to tell whether a record really changed.
pub fn content_hash(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(text.as_bytes());
    // Called for every harvested and every merged record: no formatting
    // machinery per byte.
    let mut out = String::with_capacity(32);
    for b in &digest[..16] {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicat_marc::{DataField, Field};

    fn rec(fields: Vec<DataField>) -> Record {
        let mut r = Record::new("00000nam a2200000 i 4500");
        for f in fields {
            r.push(Field::Data(f));
        }
        r
    }

    fn with_008(mut r: Record, f008: &str) -> Record {
        r.set_control("008", f008.to_string());
        r
    }

    // Regression (eval2 e2-02656/e2-02657, LC 00275474): the year stands at
    // the end of 260 $b with no $c and 008/07-10 is blank, so the record
    // had no year, no title key, and never met its Cyrillic twin.
    #[test]
    fn year_at_the_end_of_an_imprint_without_c() {
        let lc = with_008(
            rec(vec![
                DataField::new("100", '1', ' ').with('a', "Olenkovsʹkyĭ, M. P."),
                DataField::new("245", '1', '0')
                    .with('a', "T︠S︡ʹoho vy ne znai︠e︡te! :")
                    .with('b', "rozkryti ĭ nerozkryti tai︠e︡mnyt︠s︡i /"),
                DataField::new("260", ' ', ' ')
                    .with('a', "Kherson :")
                    .with('b', "\"LILEI︠a︡\", 1997."),
            ]),
            "000209s        un a     b    000 0 ukr  ",
        );
        assert_eq!(publication_year(&lc).as_deref(), Some("1997"));
        let cyr = with_008(
            rec(vec![
                DataField::new("100", '1', ' ').with('a', "Оленковський, M. П."),
                DataField::new("245", '1', '0')
                    .with('a', "Цього ви не знаєте! :")
                    .with('b', "розкриті й нерозкриті таємниці /"),
                DataField::new("264", ' ', '1')
                    .with('a', "Херсон :")
                    .with('b', "\"ЛІЛЕЯ\", 1997."),
            ]),
            "000209s        un a     b    000 0 ukr  ",
        );
        let (a, b) = (match_keys(&lc), match_keys(&cyr));
        assert!(a.iter().any(|k| b.contains(k)), "{a:?} {b:?}");
        // A number that is not a year at the end (a street number, an ISBN
        // tail) is not taken: four digits, no more.
        assert_eq!(trailing_year("Nauka, 12345."), None);
        assert_eq!(trailing_year("[s.n.], 1995]"), Some("1995".into()));
    }

    // Regression (eval2 e2-01356/e2-01357, LC 00372666): `[19--]` and 008
    // `19uu` give no year; the twins now share keys on the date as far as
    // it is known, and no dated record shares them.
    #[test]
    fn records_dated_to_the_century_share_keys() {
        let f008 = "001023s19uu    mp a          000 0bmono ";
        let cyr = with_008(
            rec(vec![
                DataField::new("100", '1', ' ').with('a', "Галсан, Т."),
                DataField::new("245", '1', '0').with('a', "Эрлийн эзэн /"),
                DataField::new("260", ' ', ' ').with('c', "[19--]"),
            ]),
            f008,
        );
        let lc = with_008(
            rec(vec![
                DataField::new("100", '1', ' ').with('a', "Galsan, T."),
                DataField::new("245", '1', '0').with('a', "Ėrliĭn ėzėn /"),
                DataField::new("260", ' ', ' ').with('c', "[19--]"),
            ]),
            f008,
        );
        assert_eq!(publication_year(&lc), None);
        let (a, b) = (match_keys(&cyr), match_keys(&lc));
        assert!(a.iter().any(|k| b.contains(k)), "{a:?} {b:?}");
        assert!(a.iter().all(|k| k.contains("|19uu")), "{a:?}");
        let dated = with_008(lc.clone(), "001023s1995    mp a          000 0bmono ");
        let d = match_keys(&dated);
        assert!(d.iter().all(|k| !a.contains(k)), "{d:?}");
        // An unknown date (`uuuu`) keys nothing.
        let unknown = with_008(lc, "001023suuuu    mp a          000 0bmono ");
        assert!(match_keys(&unknown).is_empty());
    }

    // The same book catalogued in Uzbek Cyrillic and in Uzbek Latin (with
    // any apostrophe) gets one title key: what lets the catalogue see them.
    #[test]
    fn cyrillic_and_latin_records_share_the_title_key() {
        let cyr = rec(vec![
            DataField::new("100", '0', ' ').with('a', "Қодирий, Абдулла."),
            DataField::new("245", '1', '0')
                .with('a', "Ўтган кунлар :")
                .with('b', "роман /"),
            DataField::new("264", ' ', '1').with('c', "2019."),
        ]);
        let lat = rec(vec![
            DataField::new("100", '0', ' ').with('a', "Qodiriy, Abdulla."),
            DataField::new("245", '1', '0')
                .with('a', "O‘tgan kunlar :")
                .with('b', "roman /"),
            DataField::new("264", ' ', '1').with('c', "2019"),
        ]);
        let k = title_author_year_key(&cyr).unwrap();
        assert_eq!(Some(k.clone()), title_author_year_key(&lat));
        assert!(!k.contains("||"), "{k}");
    }

    // An 880 with the title in another script adds a second key.
    #[test]
    fn parallel_title_in_880_adds_a_key() {
        let r = rec(vec![
            DataField::new("100", '1', ' ').with('a', "Likhachev, D. S."),
            DataField::new("245", '1', '0')
                .with('6', "880-02")
                .with('a', "Poėtika drevnerusskoĭ literatury /"),
            DataField::new("260", ' ', ' ').with('c', "1979."),
            DataField::new("880", '1', '0')
                .with('6', "245-02/(N")
                .with('a', "Поэтика древнерусской литературы /"),
        ]);
        assert!(!title_author_year_keys(&r).is_empty());
        assert!(title_author_year_keys(&r).len() <= 2);
    }

    // Non-filing characters ("The ") are skipped, ISBD punctuation ignored.
    #[test]
    fn title_key_skips_nonfiling_and_punctuation() {
        let a = rec(vec![
            DataField::new("100", '1', ' ').with('a', "Smith, John,"),
            DataField::new("245", '1', '4')
                .with('a', "The silk road :")
                .with('b', "a new history /"),
            DataField::new("260", ' ', ' ').with('c', "c2012."),
        ]);
        assert_eq!(
            title_author_year_key(&a).as_deref(),
            Some("tay:silk road a new xistori|smitx|2012")
        );
    }

    // Every identifier field the issue names becomes a key, in one form
    // whatever the spacing, hyphens or case.
    #[test]
    fn identifier_fields_become_keys() {
        let a = rec(vec![
            DataField::new("015", ' ', ' ')
                .with('a', "b67-25185")
                .with('2', "bnb"),
            DataField::new("016", '7', ' ')
                .with('a', "1234 5678")
                .with('2', "DE-101"),
            DataField::new("016", ' ', ' ').with('a', "20019001234"),
            DataField::new("019", ' ', ' ').with('a', "ocm00054321"),
            DataField::new("022", ' ', ' ')
                .with('a', "0378-5955")
                .with('l', "0264-2875"),
            DataField::new("024", '3', ' ').with('a', "4 006381 333931"),
            DataField::new("024", '2', ' ').with('a', "M-2306-7118-7"),
            DataField::new("024", '8', ' ').with('a', "n/a"),
        ]);
        assert_eq!(
            identifier_keys(&a),
            vec![
                "issn:0264-2875",
                "issn:0378-5955",
                "nac:de-101:12345678",
                "nac:lac:20019001234",
                "nbn:bnb:B6725185",
                "oclc:54321",
                "std:ean:4006381333931",
                "std:ismn:M230671187",
            ]
        );
        // The same numbers written another way give the same keys.
        let b = rec(vec![
            DataField::new("015", ' ', ' ')
                .with('a', "B6725185 (pbk.)")
                .with('2', "BNB"),
            DataField::new("035", ' ', ' ').with('a', "(OCoLC)54321"),
        ]);
        for k in identifier_keys(&b) {
            assert!(identifier_keys(&a).contains(&k), "{k}");
        }
    }

    fn book(title: &str, author: Option<&str>, extent: &str) -> Record {
        let mut fields = Vec::new();
        if let Some(a) = author {
            fields.push(DataField::new("100", '1', ' ').with('a', a));
        }
        fields.push(DataField::new("245", '1', '0').with('a', title));
        fields.push(DataField::new("264", ' ', '1').with('c', "1990."));
        fields.push(DataField::new("300", ' ', ' ').with('a', extent));
        rec(fields)
    }

    fn shared(a: &Record, b: &Record, prefix: &str) -> Vec<String> {
        let kb = match_keys(b);
        match_keys(a)
            .into_iter()
            .filter(|k| k.starts_with(prefix) && kb.contains(k))
            .collect()
    }

    // Regression (issue #17, eval2 e2-00081/e2-00084): a doubled letter in
    // one word of an authorless title ("Бакы шәһәри" / "Baky shaahari") left
    // the twins without a shared key, so the decision never saw them.
    #[test]
    fn typo_in_one_word_still_shares_a_tw1_key() {
        let a = book("Bakı şəhəri /", None, "220 p.");
        let b = book("Bakı şəhhəri", None, "220 pages");
        assert!(shared(&a, &b, "tay:").is_empty() && shared(&a, &b, "tpy:").is_empty());
        assert_eq!(shared(&a, &b, "tw1:"), vec!["tw1:baki||1990"]);
    }

    // A word dropped from (or added to) a title: the shorter title's key
    // with none left out is the longer one's with that word left out.
    #[test]
    fn dropped_word_shares_a_tw1_key() {
        let a = book("Istoriia drevnego Kieva", Some("Tolochko, P."), "300 p.");
        let b = book("Istoriia Kieva", Some("Tolochko, P."), "300 p.");
        assert!(!shared(&a, &b, "tw1:").is_empty());
    }

    // The key count stays bounded however long the title: at most
    // TW1_WORDS + 1 `tw1:` keys per title, and short words are not left out.
    #[test]
    fn tw1_keys_are_bounded() {
        let long = book(
            "Materialy mezhdunarodnoi nauchno-prakticheskoi konferentsii po istorii i kulture",
            Some("Ivanov, I."),
            "300 p.",
        );
        let n = match_keys(&long)
            .iter()
            .filter(|k| k.starts_with("tw1:"))
            .count();
        assert!(n <= TW1_WORDS + 1, "{n}");
        let short = book("Ot i do", Some("Ivanov, I."), "300 p.");
        let keys: Vec<String> = match_keys(&short)
            .into_iter()
            .filter(|k| k.starts_with("tw1:"))
            .collect();
        assert_eq!(keys, vec!["tw1:ot i do|ivanov|1990"]);
        // A one-word title has none.
        let one = book("Olular", Some("Ivanov, I."), "300 p.");
        assert!(!match_keys(&one).iter().any(|k| k.starts_with("tw1:")));
    }

    // Regression (issue #17, eval2 e2-00006/e2-00008): a one-word title
    // with a swapped letter ("Ölülər" / "Ölüələr") shares no title key; the
    // author, year and pages do, in AACR2 and RDA forms alike.
    #[test]
    fn aye_key_links_one_word_titles_with_a_typo() {
        let a = book("Ölülər", Some("Məmmədquluzadə, C."), "212 p.");
        let b = book("Ölüərl", Some("Mammadguluzada, J."), "212 pages");
        assert!(shared(&a, &b, "tw1:").is_empty() && shared(&a, &b, "tay:").is_empty());
        assert_eq!(shared(&a, &b, "aye:").len(), 1);
        // Other extents in the partners' languages count the same pages.
        for extent in ["212 с.", "212 б.", "212 bet", "212 səh."] {
            let c = book("Ölülər", Some("Məmmədquluzadə, C."), extent);
            assert_eq!(shared(&a, &c, "aye:").len(), 1, "{extent}");
        }
        // Another page count, or no author, makes no such key.
        let c = book("Ölülər", Some("Məmmədquluzadə, C."), "461 p.");
        assert!(shared(&a, &c, "aye:").is_empty());
        assert!(!match_keys(&book("Ölülər", None, "212 p."))
            .iter()
            .any(|k| k.starts_with("aye:")));
    }

    // The hash is the first 16 bytes of SHA-256 in lower-case hex.
    #[test]
    fn content_hash_is_sha256_prefix_hex() {
        assert_eq!(content_hash("abc"), "ba7816bf8f01cfea414140de5dae2223");
    }

    // Ids must not change between runs or machines.
    #[test]
    fn cluster_id_is_stable() {
        assert_eq!(
            cluster_id("anl", "oai:anl:1"),
            cluster_id("anl", "oai:anl:1")
        );
        assert_ne!(
            cluster_id("anl", "oai:anl:1"),
            cluster_id("anl", "oai:anl:2")
        );
        assert_eq!(cluster_id("a", "b").len(), 18);
    }
}
