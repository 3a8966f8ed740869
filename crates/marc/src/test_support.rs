//! Records shared by the unit tests of several modules; compiled for tests
//! only and never part of the public API.

use crate::{ControlField, DataField, Record};

/// A leader as MARC 21 bibliographic records have it (UTF-8, length and base
/// address zeroed as a writer would before computing them).
pub(crate) const LEADER: &str = "00000cam a2200000 i 4500";

/// A record holding the awkward parts every round trip must preserve: 880
/// linked fields with $6, repeated fields, empty subfields, a data field with
/// no subfields, characters outside the BMP, Cyrillic, Uzbek oʻ (U+02BB),
/// Azerbaijani ə (U+0259), significant leading and trailing spaces, and XML
/// special characters.
pub(crate) fn awkward_record() -> Record {
    let mut r = Record::new(LEADER);
    r.push(ControlField::new("001", "  ocm123 ").into());
    r.push(ControlField::new("008", "240101s2024    uz a          000 0 uzb d").into());
    r.push(
        DataField::new("100", '1', ' ')
            .with('6', "880-01")
            .with('a', "Qodiriy, Abdulla,")
            .into(),
    );
    r.push(
        DataField::new("245", '1', '0')
            .with('6', "880-02")
            .with('a', "O\u{2BB}tgan kunlar :")
            .with('b', "roman <tarixiy> & \"boshqa\" 'narsalar'")
            .with('c', "")
            .into(),
    );
    r.push(
        DataField::new("500", ' ', ' ')
            .with(
                'a',
                "\u{259}d\u{259}biyyat: \u{1D538}\u{1D539} \t tab\nline\r\ncrlf",
            )
            .into(),
    );
    r.push(DataField::new("500", ' ', ' ').with('a', "repeated").into());
    r.push(DataField::new("653", ' ', ' ').into());
    r.push(
        DataField::new("880", '1', ' ')
            .with('6', "100-01/(N")
            .with('a', "Қодирий, Абдулла,")
            .into(),
    );
    r.push(
        DataField::new("880", '1', '0')
            .with('6', "245-02/(N")
            .with('a', "Ўтган кунлар")
            .into(),
    );
    r
}
