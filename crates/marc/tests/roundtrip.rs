//! Property test: for random valid records, MARCXML → model → ISO 2709 →
//! model → MARCXML is the identity, byte for byte.
//!
//! "Valid" means what both formats can hold: a 24-character ASCII leader,
//! control fields 001-009, data fields 010-999 (880 with $6 linkage and
//! local 9XX included) with indicators from `[0-9a-z ]` and subfield codes
//! from `[a-z0-9]`, and values of any characters but the ISO 2709 delimiters
//! (U+001D-U+001F) and what XML 1.0 cannot carry (other C0 controls,
//! U+FFFE, U+FFFF). Values may be empty, fields repeat, data fields may
//! have no subfields, and characters outside the BMP and combining marks
//! are common. The leader positions the ISO 2709 writer recomputes (record
//! length, leader/09-11, base address, leader/20-23) are set by the
//! generator to what the writer will write, so identity is exact.
//!
//! Cases are few enough (256) to run in a few seconds in a debug build.

use proptest::prelude::*;
use unicat_marc::{iso2709, marcxml, ControlField, DataField, Field, Record, Subfield};

/// A character a value may hold, drawn mostly from the scripts our
/// partners use plus the awkward ones.
fn value_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range(' ', '~'),
        1 => Just('\t'),
        1 => Just('\n'),
        1 => Just('\r'),
        // Latin with diacritics, Azerbaijani ə, Uzbek ʻ ʼ.
        2 => proptest::char::range('\u{C0}', '\u{24F}'),
        1 => prop::sample::select(vec!['\u{259}', '\u{18F}', '\u{2BB}', '\u{2BC}', '\u{2019}']),
        // Combining marks, alone or after anything.
        1 => proptest::char::range('\u{300}', '\u{36F}'),
        2 => proptest::char::range('\u{400}', '\u{4FF}'),
        1 => proptest::char::range('\u{590}', '\u{6FF}'),
        1 => proptest::char::range('\u{4E00}', '\u{9FFF}'),
        // C1 controls and the rest of the BMP are legal XML 1.0 too.
        1 => proptest::char::range('\u{7F}', '\u{9F}'),
        // Outside the BMP.
        2 => proptest::char::range('\u{10000}', '\u{10FFFF}'),
        1 => any::<char>(),
    ]
    .prop_filter("xml 1.0 and iso 2709 can hold it", |&c| {
        (c >= ' ' || matches!(c, '\t' | '\n' | '\r')) && !matches!(c, '\u{FFFE}' | '\u{FFFF}')
    })
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        6 => proptest::collection::vec(value_char(), 1..24).prop_map(String::from_iter),
    ]
}

fn indicator() -> impl Strategy<Value = char> {
    prop::sample::select(
        "0123456789abcdefghijklmnopqrstuvwxyz "
            .chars()
            .collect::<Vec<_>>(),
    )
}

fn code() -> impl Strategy<Value = char> {
    prop::sample::select(
        "abcdefghijklmnopqrstuvwxyz0123456789"
            .chars()
            .collect::<Vec<_>>(),
    )
}

fn subfields() -> impl Strategy<Value = Vec<Subfield>> {
    proptest::collection::vec(
        (code(), value()).prop_map(|(code, value)| Subfield::new(code, value)),
        0..6,
    )
}

fn control_field() -> impl Strategy<Value = Field> {
    (1u8..=9, value()).prop_map(|(n, value)| ControlField::new(format!("00{n}"), value).into())
}

fn data_field() -> impl Strategy<Value = Field> {
    let tag = prop_oneof![
        3 => (10u16..=999).prop_map(|n| format!("{n:03}")),
        1 => (900u16..=999).prop_map(|n| format!("{n:03}")),
        1 => Just("245".to_owned()),
    ];
    let plain =
        (tag, indicator(), indicator(), subfields()).prop_map(|(tag, i1, i2, subfields)| {
            Field::Data(DataField {
                tag,
                ind1: i1,
                ind2: i2,
                subfields,
            })
        });
    // An 880 linked to its field by $6, in another script.
    let linked = (
        10u16..=899,
        1u8..=99,
        prop::sample::select(vec!["(N", "(2", "(3", "$1", "(S"]),
        indicator(),
        indicator(),
        subfields(),
    )
        .prop_map(|(linked, occurrence, script, i1, i2, rest)| {
            let mut subfields = vec![Subfield::new(
                '6',
                format!("{linked:03}-{occurrence:02}/{script}"),
            )];
            subfields.extend(rest);
            Field::Data(DataField {
                tag: "880".to_owned(),
                ind1: i1,
                ind2: i2,
                subfields,
            })
        });
    prop_oneof![4 => plain, 1 => linked]
}

fn leader_part(len: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop::sample::select(
            "abcdefghijklmnopqrstuvwxyz0123456789 "
                .chars()
                .collect::<Vec<_>>(),
        ),
        len,
    )
    .prop_map(String::from_iter)
}

/// A valid record whose leader already holds what the ISO 2709 writer
/// computes.
fn record() -> impl Strategy<Value = Record> {
    (
        leader_part(4),
        leader_part(3),
        proptest::collection::vec(prop_oneof![1 => control_field(), 3 => data_field()], 0..20),
    )
        .prop_map(|(head, tail, fields)| {
            let mut record = Record {
                leader: format!("00000{head}a2200000{tail}4500"),
                fields,
            };
            let bytes = iso2709::to_bytes(&record).expect("generated records fit iso 2709");
            record.leader = String::from_utf8_lossy(&bytes[..24]).into_owned();
            record
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    })]

    /// The round trip: MARCXML → model → ISO 2709 → model → MARCXML.
    #[test]
    fn marcxml_iso2709_marcxml_is_identity(record in record()) {
        let xml = marcxml::to_string(&record);
        let from_xml = marcxml::parse_record(&xml).expect("own marcxml parses");
        prop_assert_eq!(&from_xml, &record);
        let bytes = iso2709::to_bytes(&from_xml).expect("fits iso 2709");
        let decoded = iso2709::parse_record_checked(&bytes).expect("own iso 2709 parses");
        prop_assert!(decoded.warnings.is_empty(), "{:?}", decoded.warnings);
        prop_assert_eq!(&decoded.record, &record);
        prop_assert_eq!(marcxml::to_string(&decoded.record), xml);
    }
}
