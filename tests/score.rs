//! Tests of the pair decision (`unicat::dedup::decision`): each veto, the edition
//! ordinals of the four cataloguing languages, volume designations,
//! cross-script titles, neutral missing values, the operator's lists, the
//! options, and the evaluation set run exactly as `bench/dedup_eval.rs` runs
//! it, so that a regression in precision or recall fails CI.

use std::path::Path;

use unicat::dedup::decision::{
    compare, edition_number, features, volume_number, Carrier, Features, Override, PairDecision,
    ScoreOptions, Veto,
};
use unicat::lang::Lang;
use unicat::normalize::{normalize, PartnerContext};
use unicat_marc::{ControlField, DataField, Field, Record};

#[expect(
    dead_code,
    reason = "the example's `main` and report printing are not used by the test"
)]
#[path = "../bench/dedup_eval.rs"]
mod dedup_eval;

/// A book record: leader/06-07 `am`, the given 008 language and date, and
/// the data fields given.
fn book(id: &str, lang: &str, year: &str, fields: Vec<DataField>) -> Record {
    let mut r = Record::new("00000nam a2200000 i 4500");
    r.push(Field::Control(ControlField::new("001", id)));
    r.push(Field::Control(ControlField::new("003", "UZ-TaNL")));
    let f008 = format!("240101s{year:<4}    uz            000 1 {lang:<3} d");
    assert_eq!(f008.len(), 40);
    r.push(Field::Control(ControlField::new("008", f008)));
    for f in fields {
        r.push(Field::Data(f));
    }
    r
}

fn df(tag: &str, ind1: char, ind2: char, subfields: &[(char, &str)]) -> DataField {
    let mut f = DataField::new(tag, ind1, ind2);
    for (c, v) in subfields {
        f.push(*c, *v);
    }
    f
}

/// "O'tkan kunlar" in Uzbek Latin, 2018: the base record most tests vary.
fn otkan_latin(extra: Vec<DataField>) -> Record {
    let mut fields = vec![
        df(
            "100",
            '1',
            ' ',
            &[('a', "Qodiriy, Abdulla,"), ('d', "1894-1938")],
        ),
        df(
            "245",
            '1',
            '0',
            &[
                ('a', "O'tkan kunlar :"),
                ('b', "roman /"),
                ('c', "Abdulla Qodiriy."),
            ],
        ),
        df(
            "264",
            ' ',
            '1',
            &[
                ('a', "Toshkent :"),
                ('b', "Yangi asr avlodi,"),
                ('c', "2018."),
            ],
        ),
        df("300", ' ', ' ', &[('a', "400 b. ;"), ('c', "21 sm")]),
    ];
    fields.extend(extra);
    book("lat1", "uzb", "2018", fields)
}

/// The same book catalogued in Uzbek Cyrillic by another library.
fn otkan_cyrillic(extra: Vec<DataField>) -> Record {
    let mut fields = vec![
        df("100", '1', ' ', &[('a', "Қодирий, Абдулла.")]),
        df(
            "245",
            '1',
            '0',
            &[
                ('a', "Ўткан кунлар :"),
                ('b', "роман /"),
                ('c', "Абдулла Қодирий."),
            ],
        ),
        df(
            "264",
            ' ',
            '1',
            &[
                ('a', "Тошкент :"),
                ('b', "Янги аср авлоди,"),
                ('c', "2018."),
            ],
        ),
        df("300", ' ', ' ', &[('a', "400 б. ;"), ('c', "21 см")]),
    ];
    fields.extend(extra);
    book("cyr1", "uzb", "2018", fields)
}

fn isbn(value: &str) -> DataField {
    df("020", ' ', ' ', &[('a', value)])
}

fn decide(a: &Record, b: &Record) -> PairDecision {
    decide_with(a, b, &ScoreOptions::default())
}

fn decide_with(a: &Record, b: &Record, opts: &ScoreOptions) -> PairDecision {
    let d = compare(&features(a), &features(b), opts);
    let back = compare(&features(b), &features(a), opts);
    assert_eq!(d.same, back.same, "compare must be symmetric");
    assert!(
        (d.score - back.score).abs() < 1e-9,
        "compare must be symmetric"
    );
    d
}

fn field_score(d: &PairDecision, name: &str) -> Option<f64> {
    d.fields.iter().find(|f| f.field == name).map(|f| f.score)
}

/// Overwrite 008 from position `pos` with `value`.
fn set_008(mut r: Record, pos: usize, value: &str) -> Record {
    let mut f008 = r.control("008").unwrap().to_string();
    f008.replace_range(pos..pos + value.len(), value);
    r.set_control("008", f008);
    r
}

/// Replace the 245 of a record (for volume tests).
fn with_245(mut r: Record, f: DataField) -> Record {
    r.fields.retain(|x| x.tag() != "245");
    r.push(Field::Data(f));
    r
}

// ---------------------------------------------------------------------------
// The positive cases.

// The core case of the catalogue: one book in two scripts, no identifier.
#[test]
fn cyrillic_and_latin_twins_are_the_same_edition() {
    let d = decide(&otkan_latin(vec![]), &otkan_cyrillic(vec![]));
    assert!(d.same, "{d:#?}");
    assert!(d.vetoes.is_empty());
    assert!(d.shared_identifiers.is_empty());
    assert_eq!(field_score(&d, "title"), Some(1.0));
    assert_eq!(field_score(&d, "author"), Some(1.0));
}

// Title similarity must see through Azerbaijani Cyrillic and Russian
// romanisation (ALA-LC with ligature ties, and the simple form).
#[test]
fn cross_script_titles_are_similar() {
    let az = |title: &str, sub: &str, name: &str, publisher: &str| {
        book(
            "az",
            "aze",
            "1983",
            vec![
                df("100", '1', ' ', &[('a', name)]),
                df("245", '1', '0', &[('a', title), ('b', sub)]),
                df(
                    "260",
                    ' ',
                    ' ',
                    &[('a', "Bakı :"), ('b', publisher), ('c', "1983.")],
                ),
                df("300", ' ', ' ', &[('a', "400 səh. ;"), ('c', "21 sm")]),
            ],
        )
    };
    let d = decide(
        &az("Dəli Kür :", "roman /", "Şıxlı, İsmayıl.", "Yazıçı,"),
        &az("Дәли Күр :", "роман /", "Шыхлы, Исмајыл.", "Јазычы,"),
    );
    assert!(d.same, "{d:#?}");
    assert_eq!(field_score(&d, "title"), Some(1.0));

    let ru = |title: &str, name: &str, publisher: &str| {
        book(
            "ru",
            "rus",
            "1979",
            vec![
                df("100", '1', ' ', &[('a', name)]),
                df("245", '1', '0', &[('a', title)]),
                df(
                    "260",
                    ' ',
                    ' ',
                    &[('a', "Moskva :"), ('b', publisher), ('c', "1979.")],
                ),
                df("300", ' ', ' ', &[('a', "360 s. ;"), ('c', "21 cm")]),
            ],
        )
    };
    let cyrillic = ru(
        "Поэтика древнерусской литературы /",
        "Лихачёв, Дмитрий Сергеевич.",
        "Наука,",
    );
    for (title, name) in [
        (
            "Poėtika drevnerusskoĭ literatury /",
            "Likhachev, Dmitriĭ Sergeevich.",
        ),
        (
            "Poetika drevnerusskoi literatury /",
            "Likhachev, Dmitrii Sergeevich.",
        ),
    ] {
        let d = decide(&cyrillic, &ru(title, name, "Nauka,"));
        assert!(d.same, "{title}: {d:#?}");
        assert_eq!(field_score(&d, "title"), Some(1.0), "{title}");
    }
}

// Issue #17 item 4: `explain` names the scheme that made two titles meet.
// Titles from eval2: e2-00001 (typed Azerbaijani Cyrillic) and e2-00002
// (its ALA-LC form by LC's table); e2-00161 and LC's own e2-00162
// (Belarusian, LC 00306011, with ligature ties).
#[test]
fn title_note_names_the_reading_that_met() {
    let rec = |lang: &str, title: &str| {
        book(
            "t",
            lang,
            "1983",
            vec![
                df("245", '1', '0', &[('a', title)]),
                df("300", ' ', ' ', &[('a', "384 p. ;")]),
            ],
        )
    };
    let note = |a: &Record, b: &Record| {
        let d = decide(a, b);
        let f = d.fields.iter().find(|f| f.field == "title").unwrap();
        assert_eq!(f.score, 1.0, "{d:#?}");
        f.note.clone()
    };
    let n = note(
        &rec("aze", "Хосров вә Ширин : поема /"),
        &rec("aze", "Khosrov vă Shirin : poema /"),
    );
    assert!(n.starts_with("similarity 1.00 ("), "{n}");
    assert!(n.contains("Cyrillic read as Azerbaijani"), "{n}");
    assert!(n.contains("ALA-LC diacritics dropped"), "{n}");
    let n = note(
        &rec(
            "bel",
            "Народная інструментальная культура Беларускага Паазерья",
        ),
        &rec(
            "bel",
            "Narodnai︠a︡ instrumentalʹnai︠a︡ kulʹtura Belaruskaha Paazerʹi︠a︡",
        ),
    );
    assert!(n.contains("Cyrillic read as Belarusian"), "{n}");
    assert!(
        n.contains("ALA-LC ligature ties and diacritics dropped"),
        "{n}"
    );
    // Without a language the guess is named.
    let n = note(&rec("   ", "Ўтган кунлар"), &rec("   ", "Oʻtgan kunlar"));
    assert!(
        n.contains("Cyrillic read as Uzbek (language guessed from letters)"),
        "{n}"
    );
    // The same text on both sides needs no explanation.
    let d = decide(
        &rec("aze", "Khosrov vă Shirin"),
        &rec("aze", "Khosrov vă Shirin"),
    );
    let f = d.fields.iter().find(|f| f.field == "title").unwrap();
    assert_eq!(f.note, "similarity 1.00");
}

// A subtitle missing on one side, or typed into $a, costs nothing.
#[test]
fn title_proper_matches_without_subtitle() {
    let bare = with_245(
        otkan_latin(vec![]),
        df(
            "245",
            '1',
            '0',
            &[('a', "O‘tkan kunlar /"), ('c', "A. Qodiriy.")],
        ),
    );
    let d = decide(&bare, &otkan_cyrillic(vec![]));
    assert!(d.same, "{d:#?}");
    assert_eq!(field_score(&d, "title"), Some(1.0));
}

// ---------------------------------------------------------------------------
// Vetoes: each one stops a pair that shares an ISBN and looks alike.

const SHARED: &str = "978-9943-08-042-3";

fn assert_vetoed(d: &PairDecision, veto: &Veto) {
    assert!(!d.same, "{d:#?}");
    assert!(
        d.vetoes.contains(veto),
        "{veto:?} missing from {:?}",
        d.vetoes
    );
    assert!(
        !d.shared_identifiers.is_empty(),
        "the test pair must share an identifier"
    );
}

#[test]
fn different_volumes_veto_even_with_a_shared_isbn() {
    let vol = |n: &str| {
        with_245(
            otkan_latin(vec![isbn(SHARED)]),
            df(
                "245",
                '1',
                '0',
                &[('a', "O'tkan kunlar."), ('n', n), ('c', "A. Qodiriy.")],
            ),
        )
    };
    let d = decide(&vol("1-jild /"), &vol("2-jild /"));
    assert_vetoed(
        &d,
        &Veto::Volume {
            a: vec![1],
            b: vec![2],
        },
    );
    assert_eq!(
        d.vetoes[0].to_string(),
        "different volumes: 1 vs 2",
        "Display names the numbers"
    );
    // The same volume written in Roman numerals and in digits agrees.
    let d = decide(&vol("II cild /"), &vol("2-jild /"));
    assert!(d.same, "{d:#?}");
}

// Volumes that carry only the set ISBN: the set ISBN is not the volume's.
#[test]
fn set_isbn_volumes_veto_and_the_set_isbn_counts_little() {
    let vol = |n: &str, q: &str| {
        with_245(
            book(
                "v",
                "uzb",
                "2006",
                vec![df("020", ' ', ' ', &[('a', "9943-07-042-0"), ('q', q)])],
            ),
            df(
                "245",
                '0',
                '0',
                &[
                    ('a', "Oʻzbek tilining izohli lugʻati."),
                    ('n', n),
                    ('p', "A-D."),
                ],
            ),
        )
    };
    let d = decide(&vol("1-jild,", "toʻplam"), &vol("2-jild,", "тўплам"));
    assert!(d.vetoes.contains(&Veto::Volume {
        a: vec![1],
        b: vec![2]
    }));
    assert_eq!(field_score(&d, "identifier"), Some(0.0));
    assert_eq!(field_score(&d, "set-identifier"), Some(1.0));
}

// A record without 245 $n still says which volume its ISBN is for.
#[test]
fn volume_from_the_isbn_qualifier() {
    let a = otkan_latin(vec![isbn("978-9943-07-043-1 (1-jild)")]);
    let b = otkan_latin(vec![isbn("978-9943-07-044-8 (т. 2)")]);
    assert_eq!(features(&a).volumes, vec![1]);
    let d = decide(&a, &b);
    assert!(d.vetoes.contains(&Veto::Volume {
        a: vec![1],
        b: vec![2]
    }));
}

#[test]
fn different_editions_veto_even_with_a_reused_isbn() {
    let a = otkan_latin(vec![
        isbn(SHARED),
        df("250", ' ', ' ', &[('a', "2-nashr.")]),
    ]);
    let b = otkan_cyrillic(vec![isbn(SHARED), df("250", ' ', ' ', &[('a', "3-нашр.")])]);
    let d = decide(&a, &b);
    assert_vetoed(&d, &Veto::Edition { a: 2, b: 3 });
    assert_eq!(d.vetoes[0].to_string(), "different editions: 2 vs 3");
}

#[test]
fn print_and_ebook_veto_even_with_the_print_isbn() {
    let ebook = {
        let mut r = otkan_latin(vec![
            isbn(SHARED),
            df("856", '4', '0', &[('u', "https://elib.example.org/x")]),
        ]);
        // An e-book record: no dimensions, online carrier.
        r.fields.retain(|f| f.tag() != "300");
        r
    };
    assert_eq!(features(&ebook).carrier, Carrier::Electronic);
    let d = decide(&otkan_latin(vec![isbn(SHARED)]), &ebook);
    assert_vetoed(
        &d,
        &Veto::Format {
            a: Carrier::Print,
            b: Carrier::Electronic,
        },
    );
}

// Every electronic and audio signal of the issue, and a print record with a
// link (to a table of contents) that stays print.
#[test]
fn carrier_signals() {
    let with = |f: DataField| otkan_latin(vec![f]);
    let carrier = |r: &Record| features(r).carrier;
    assert_eq!(carrier(&otkan_latin(vec![])), Carrier::Print);
    assert_eq!(
        carrier(&with(df("338", ' ', ' ', &[('b', "cr")]))),
        Carrier::Electronic
    );
    assert_eq!(
        carrier(&with(df("337", ' ', ' ', &[('b', "c")]))),
        Carrier::Electronic
    );
    // 856 next to 300 $c dimensions: a print book with a link.
    assert_eq!(
        carrier(&with(df(
            "856",
            '4',
            '1',
            &[('u', "https://x.example.org")]
        ))),
        Carrier::Print
    );
    let online = set_008(otkan_latin(vec![]), 23, "o");
    assert_eq!(carrier(&online), Carrier::Electronic);
    let mut cr = otkan_latin(vec![]);
    cr.push(Field::Control(ControlField::new("007", "cr |||||||||||")));
    assert_eq!(carrier(&cr), Carrier::Electronic);
    let mut audio = otkan_latin(vec![]);
    audio.leader = "00000nim a2200000 i 4500".into();
    assert_eq!(carrier(&audio), Carrier::Audio);
}

#[test]
fn years_too_far_apart_veto() {
    let mut b = otkan_cyrillic(vec![isbn(SHARED)]);
    b.fields.retain(|f| f.tag() != "264");
    b.push(Field::Data(df("264", ' ', '1', &[('c', "2021.")])));
    let d = decide(&otkan_latin(vec![isbn(SHARED)]), &b);
    assert_vetoed(&d, &Veto::Year { a: 2018, b: 2021 });
    // The gap is an option.
    let wide = ScoreOptions {
        max_year_gap: 3,
        ..ScoreOptions::default()
    };
    let d = decide_with(&otkan_latin(vec![isbn(SHARED)]), &b, &wide);
    assert!(d.vetoes.is_empty(), "{:?}", d.vetoes);
}

// A one-year gap is forgiven, but not between a reprint and its original.
#[test]
fn reprint_is_its_own_issue() {
    let later = |note: Option<&str>, type_r: bool| {
        let mut r = otkan_cyrillic(vec![isbn(SHARED)]);
        r.fields.retain(|f| !matches!(f.tag(), "264" | "008"));
        let date = if type_r { "r20192018" } else { "s2019    " };
        r.push(Field::Control(ControlField::new(
            "008",
            format!("240101{date}uz            000 1 uzb d"),
        )));
        r.push(Field::Data(df("264", ' ', '1', &[('c', "2019.")])));
        if let Some(n) = note {
            r.push(Field::Data(df("500", ' ', ' ', &[('a', n)])));
        }
        r
    };
    let original = otkan_latin(vec![isbn(SHARED)]);
    // Not a reprint: the one-year gap is forgiven (and costs a point).
    let d = decide(&original, &later(None, false));
    assert!(d.vetoes.is_empty(), "{:?}", d.vetoes);
    for (note, type_r) in [
        (None, true),
        (Some("2018 йилги нашрдан қайта босилган."), false),
        (Some("Reprint. Originally published: 2018."), false),
        (Some("Репринтное воспроизведение издания 2018 г."), false),
        (Some("2018-ci il nəşrindən təkrar çap."), false),
    ] {
        let d = decide(&original, &later(note, type_r));
        assert_vetoed(&d, &Veto::Reprint { a: 2018, b: 2019 });
    }
}

#[test]
fn disjoint_isbns_veto() {
    let d = decide(
        &otkan_latin(vec![isbn(SHARED)]),
        &otkan_cyrillic(vec![isbn("978-9943-08-771-2")]),
    );
    assert!(!d.same);
    assert_eq!(d.vetoes, vec![Veto::DisjointIsbns]);
    // An ISBN on one side only is not a conflict.
    let d = decide(&otkan_latin(vec![isbn(SHARED)]), &otkan_cyrillic(vec![]));
    assert!(d.same && d.vetoes.is_empty(), "{d:#?}");
}

// A translation has the same title, author, year and publisher, and the
// original's ISBN is no reason to merge it.
#[test]
fn different_languages_veto() {
    let russian = set_008(otkan_cyrillic(vec![isbn(SHARED)]), 35, "rus");
    let d = decide(&otkan_latin(vec![isbn(SHARED)]), &russian);
    assert_vetoed(
        &d,
        &Veto::Language {
            a: "uzb".into(),
            b: "rus".into(),
        },
    );
}

// ---------------------------------------------------------------------------
// Reading numbers.

// Edition statements in each cataloguing language, in digits and words.
#[test]
fn edition_ordinals_in_four_languages() {
    let cases: &[(&str, Option<Lang>, u32)] = &[
        // Azerbaijani, Latin and Cyrillic.
        ("2-ci nəşr.", Some(Lang::Azerbaijani), 2),
        ("İkinci nəşr", Some(Lang::Azerbaijani), 2),
        ("3-cü nəşr, düzəlişlərlə", Some(Lang::Azerbaijani), 3),
        ("Үчүнҹү нәшр", Some(Lang::Azerbaijani), 3),
        ("2-ҹи нәшр.", None, 2),
        // Uzbek, Latin and Cyrillic.
        ("2-nashr", Some(Lang::Uzbek), 2),
        ("Ikkinchi nashr", Some(Lang::Uzbek), 2),
        ("To‘rtinchi nashri", Some(Lang::Uzbek), 4),
        ("Иккинчи нашр", Some(Lang::Uzbek), 2),
        ("3-нашр, қайта ишланган", None, 3),
        // Russian, Cyrillic and romanised.
        ("Изд. 2-е, испр.", Some(Lang::Russian), 2),
        ("Второе издание", Some(Lang::Russian), 2),
        ("3-е изд., испр. и доп.", Some(Lang::Russian), 3),
        ("Изд. третье, перераб.", Some(Lang::Russian), 3),
        ("Izd. 2-e, ispr.", Some(Lang::Russian), 2),
        ("Vtoroe izdanie", Some(Lang::Russian), 2),
        // English.
        ("2nd ed.", Some(Lang::English), 2),
        ("Second edition", Some(Lang::English), 2),
        ("Ninth edition.", None, 9),
        ("18th ed.", None, 18),
    ];
    for (text, lang, n) in cases {
        assert_eq!(edition_number(text, *lang), Some(*n), "{text}");
    }
    // No number stated: unknown, not first; a year is not an edition.
    assert_eq!(
        edition_number("Qayta ishlangan nashr", Some(Lang::Uzbek)),
        None
    );
    assert_eq!(edition_number("Reprint of the 1974 ed.", None), None);
}

#[test]
fn volume_designations() {
    let cases: &[(&str, u32)] = &[
        ("1-jild", 1),
        ("2-jild,", 2),
        ("3-жилд", 3),
        ("Т. 1", 1),
        ("том 2", 2),
        ("T. I.", 1),
        ("v. 3", 3),
        ("Vol. V", 5),
        ("Cild 2", 2),
        ("II cild.", 2),
        ("IV ҹилд /", 4),
        ("kitob 1", 1),
        ("2-kitob", 2),
        ("Ikkinchi kitob", 2),
    ];
    for (text, n) in cases {
        assert_eq!(volume_number(text, None), Some(*n), "{text}");
    }
    assert_eq!(volume_number("roman", None), None);
    // A range names a set of volumes, not one.
    assert_eq!(volume_number("v. 1-3", None), None);
}

// ---------------------------------------------------------------------------
// Missing values and the operator's lists.

// A record without 250 is not vetoed against "2-nashr", and a missing 100,
// 300 or 264 $b gives 0, not a penalty.
#[test]
fn missing_values_are_neutral() {
    let second = otkan_latin(vec![df("250", ' ', ' ', &[('a', "2-nashr.")])]);
    let bare = {
        let mut r = otkan_cyrillic(vec![]);
        r.fields
            .retain(|f| !matches!(f.tag(), "100" | "300" | "264"));
        r.push(Field::Data(df("264", ' ', '1', &[('c', "2018")])));
        r
    };
    let d = decide(&second, &bare);
    assert!(d.vetoes.is_empty(), "{:?}", d.vetoes);
    for name in ["edition", "author", "extent", "publisher"] {
        assert_eq!(field_score(&d, name), Some(0.0), "{name}");
    }
    // What is left (title 4, year 1, language 0.5) is below the default
    // threshold: a title and a year alone are not enough.
    assert!(!d.same);
    // Without an 008 language on one side, no language veto either.
    let mut und = otkan_cyrillic(vec![]);
    und.fields.retain(|f| f.tag() != "008");
    let d = decide(&otkan_latin(vec![]), &und);
    assert!(d.same && d.vetoes.is_empty(), "{d:#?}");
}

// "Saylanma" by two poets, same year and publisher: the title alone must not
// merge them, and neither must a shared surname with another initial.
#[test]
fn common_title_other_author() {
    let rec = |id: &str, name: &str, pages: &str| {
        book(
            id,
            "rus",
            "1984",
            vec![
                df("100", '1', ' ', &[('a', name)]),
                df("245", '1', '0', &[('a', "Избранное /")]),
                df(
                    "260",
                    ' ',
                    ' ',
                    &[
                        ('a', "Москва :"),
                        ('b', "Художественная литература,"),
                        ('c', "1984."),
                    ],
                ),
                df("300", ' ', ' ', &[('a', pages)]),
            ],
        )
    };
    let d = decide(
        &rec("a", "Толстой, Лев Николаевич.", "512 с."),
        &rec("b", "Толстой, Алексей Николаевич.", "496 с."),
    );
    assert!(!d.same, "{d:#?}");
    assert_eq!(field_score(&d, "author"), Some(-1.0));
    let d = decide(
        &rec("a", "Пушкин, Александр Сергеевич.", "480 с."),
        &rec("b", "Лермонтов, Михаил Юрьевич.", "480 с."),
    );
    assert!(!d.same, "{d:#?}");
}

// A reused ISBN listed as ignored neither links two records nor saves a pair
// from the disjoint-ISBN veto.
#[test]
fn ignored_identifier_is_treated_as_absent() {
    let reused = "isbn:9789943080423";
    let a = otkan_latin(vec![isbn(SHARED), isbn("978-9943-08-771-2")]);
    let b = otkan_cyrillic(vec![isbn(SHARED), isbn("978-9943-26-285-0")]);
    let d = decide(&a, &b);
    assert!(d.vetoes.is_empty());
    assert_eq!(d.shared_identifiers, vec![reused.to_string()]);
    let opts = ScoreOptions {
        ignored_identifiers: vec![reused.to_string()],
        ..ScoreOptions::default()
    };
    let d = decide_with(&a, &b, &opts);
    assert!(d.shared_identifiers.is_empty());
    assert_eq!(d.vetoes, vec![Veto::DisjointIsbns]);
    assert!(opts.problems().is_empty(), "{:?}", opts.problems());
}

#[test]
fn never_and_always_merge_overrides() {
    let (a, b) = (otkan_latin(vec![]), otkan_cyrillic(vec![]));
    assert_eq!(features(&a).id.as_deref(), Some("(UZ-TaNL)lat1"));
    let pair = ["(UZ-TaNL)cyr1".to_string(), "(UZ-TaNL)lat1".to_string()];
    let never = ScoreOptions {
        never_merge: vec![pair.clone()],
        ..ScoreOptions::default()
    };
    let d = decide_with(&a, &b, &never);
    assert!(!d.same);
    assert_eq!(d.overridden, Some(Override::NeverMerge));

    let other = otkan_cyrillic(vec![df("250", ' ', ' ', &[('a', "2-нашр")])]);
    let mut first = features(&a);
    first.edition = Some(1);
    let always = ScoreOptions {
        always_merge: vec![pair],
        ..ScoreOptions::default()
    };
    let d = compare(&first, &features(&other), &always);
    assert!(d.same, "the sysadmin's word wins over a veto");
    assert_eq!(d.overridden, Some(Override::AlwaysMerge));
    assert!(!d.vetoes.is_empty(), "the veto is still reported");
}

// ---------------------------------------------------------------------------
// Options.

#[test]
fn options_parse_with_defaults_and_refuse_unknown_keys() {
    let o: ScoreOptions = toml::from_str(
        "threshold = 7.5\nmax-year-gap = 0\ntitle-weight = 5\n\
         ignored-identifiers = [\"isbn:9789943080423\"]\n\
         never-merge = [[\"(AZ-BaNL)1\", \"(UZ-TaNL)2\"]]",
    )
    .unwrap();
    assert_eq!(o.threshold, 7.5);
    assert_eq!(o.max_year_gap, 0);
    assert_eq!(o.title_weight, 5.0);
    assert_eq!(o.author_weight, ScoreOptions::default().author_weight);
    assert!(o.problems().is_empty());
    let err = toml::from_str::<ScoreOptions>("treshold = 5").unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn problems_name_the_fix() {
    let o = ScoreOptions {
        title_weight: -1.0,
        threshold: f64::NAN,
        ignored_identifiers: vec!["isbn:978-9943-08-042-3".into(), "9789943080423".into()],
        always_merge: vec![["x".into(), "x".into()]],
        ..ScoreOptions::default()
    };
    let p = o.problems().join("\n");
    assert!(p.contains("title-weight"), "{p}");
    assert!(p.contains("threshold"), "{p}");
    assert!(p.contains("\"isbn:9789943080423\""), "{p}");
    assert!(p.contains("match-key form"), "{p}");
    assert!(p.contains("with itself"), "{p}");
}

// Features come from the normalised record as the pipeline stores it; the
// normaliser's moves (ISBN qualifier to $q, bad check digit to $z) must not
// lose anything.
#[test]
fn features_of_a_normalised_record() {
    let r = otkan_latin(vec![
        isbn("ISBN 9943-08-042-6 (1-jild)"),
        isbn("978-9943-08-771-3"),
    ]);
    let f: Features = features(&normalize(r, &PartnerContext { code: "UZ-TaNL" }));
    assert_eq!(f.volumes, vec![1]);
    // The ISBN-10 is read as its ISBN-13; the second has a bad check digit,
    // went to $z, and is not an identifier of the record.
    assert_eq!(f.isbns, vec!["isbn:9789943080423".to_string()]);
    assert_eq!(f.year, Some(2018));
    assert_eq!(f.extent, Some(400));
    assert_eq!(f.language.as_deref(), Some("uzb"));
}

// ---------------------------------------------------------------------------
// The evaluation set.

// The same computation as `cargo run --example dedup_eval`: the pair
// decision must keep precision at 0.99 or more, lose no duplicate the keys
// find, and beat today's key-only clustering; on its own (every labelled
// pair a candidate) it must meet the issue's targets.
#[test]
fn evaluation_set() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/eval");
    let outcomes = dedup_eval::evaluate(&dir, &ScoreOptions::default()).unwrap();
    assert_eq!(outcomes.len(), 310);
    let base = dedup_eval::metrics(&outcomes, |o| o.candidate);
    let new = dedup_eval::metrics(&outcomes, dedup_eval::Outcome::predicted);
    let alone = dedup_eval::metrics(&outcomes, |o| o.decision.same);
    assert!(new.precision >= 0.99, "{new:?}");
    assert!(new.recall >= base.recall, "new {new:?} baseline {base:?}");
    assert!(
        new.precision > base.precision && new.f1 > base.f1,
        "{new:?} {base:?}"
    );
    assert!(alone.precision >= 0.995, "{alone:?}");
    assert!(alone.recall >= 0.97, "{alone:?}");
    assert!(alone.cross_recall >= 0.95, "{alone:?}");
}

// Found on the demo data: the same classic catalogued forename-first
// ("Alisher Navoiy", 100 ind1 0) by one library and inverted by another is
// one author, not a contradiction.
#[test]
fn name_order_does_not_separate_authors() {
    let a = book(
        "a1",
        "uzb",
        "2019",
        vec![
            df(
                "100",
                '0',
                ' ',
                &[('a', "Alisher Navoiy,"), ('d', "1441-1501.")],
            ),
            df("245", '1', '0', &[('a', "Mahbub ul-qulub /")]),
        ],
    );
    let b = book(
        "b1",
        "uzb",
        "2019",
        vec![
            df("100", '1', ' ', &[('a', "Navoiy, Alisher")]),
            df("245", '1', '0', &[('a', "Mahbub ul-qulub")]),
        ],
    );
    assert_eq!(field_score(&decide(&a, &b), "author"), Some(1.0));
}

// Found on the demo data: Azerbaijani and Uzbek spellings of one classic's
// name (same birth year) agree weakly instead of contradicting.
#[test]
fn same_birth_year_under_other_name_forms_is_weak_agreement() {
    let a = book(
        "a1",
        "aze",
        "2004",
        vec![
            df(
                "100",
                '0',
                ' ',
                &[('a', "Nizami Gəncəvi,"), ('d', "1141-1209.")],
            ),
            df("245", '1', '0', &[('a', "Xəmsə")]),
        ],
    );
    let uzbek = |lang: &str| {
        book(
            "b1",
            lang,
            "2004",
            vec![
                df(
                    "100",
                    '0',
                    ' ',
                    &[('a', "Nizomiy Ganjaviy,"), ('d', "1141-1209.")],
                ),
                df("245", '1', '0', &[('a', "Xəmsə")]),
            ],
        )
    };
    assert_eq!(field_score(&decide(&a, &uzbek("uzb")), "author"), Some(0.5));
    // Read as Azerbaijani (ə and a one letter, c for j) the Uzbek form is
    // one letter from Gəncəvi's: the names agree (issue #17).
    assert_eq!(field_score(&decide(&a, &uzbek("aze")), "author"), Some(1.0));
}

// A record of a whole multi-volume set lists every volume's ISBN; it shares
// an ISBN with each volume's record but is none of them, and must not pull
// them together. Two records of the whole set are the same.
#[test]
fn a_whole_set_is_not_one_of_its_volumes() {
    let whole = |id: &str| {
        let mut r = otkan_latin(vec![
            isbn("978-9943-07-043-1 (1-jild)"),
            isbn("978-9943-07-044-8 (2-jild)"),
        ]);
        r.set_control("001", id.to_string());
        r
    };
    let f = features(&whole("set"));
    assert!(f.whole_set);
    assert!(
        f.volumes.is_empty(),
        "a set is not volume 1: {:?}",
        f.volumes
    );
    let vol2 = with_245(
        otkan_latin(vec![isbn("978-9943-07-044-8")]),
        df(
            "245",
            '1',
            '0',
            &[
                ('a', "O'tkan kunlar."),
                ('n', "2-jild /"),
                ('c', "A. Qodiriy."),
            ],
        ),
    );
    let d = decide(&whole("set"), &vol2);
    assert_vetoed(&d, &Veto::SetAndVolume);
    let d = decide(&whole("set"), &whole("set2"));
    assert!(d.same, "{d:#?}");

    // "3 v." in 300 $a says the same.
    let mut counted = otkan_latin(vec![isbn("978-9943-07-044-8")]);
    counted.fields.retain(|x| x.tag() != "300");
    counted.push(Field::Data(df("300", ' ', ' ', &[('a', "3 jild ;")])));
    assert!(features(&counted).whole_set);
    assert_vetoed(&decide(&counted, &vol2), &Veto::SetAndVolume);
}

// A cancelled or invalid ISBN ($z) is weak evidence: it adds a little when
// it is the other record's ISBN, it never vetoes, and it is not a shared
// identifier.
#[test]
fn cancelled_isbn_is_weak_evidence() {
    let z = |v: &str| df("020", ' ', ' ', &[('z', v)]);
    let a = otkan_latin(vec![z("9789943000001")]);
    let b = otkan_cyrillic(vec![isbn("978-9943-00-000-1")]);
    let d = decide(&a, &b);
    assert_eq!(field_score(&d, "cancelled-isbn"), Some(1.0), "{d:#?}");
    assert_eq!(field_score(&d, "identifier"), Some(0.0));
    assert!(!d.vetoes.contains(&Veto::DisjointIsbns));
    // Two records with the same mistyped number agree weakly too.
    let d = decide(
        &otkan_latin(vec![z("5-8279-0011-X")]),
        &otkan_cyrillic(vec![z("5827900 11x")]),
    );
    assert_eq!(field_score(&d, "cancelled-isbn"), Some(1.0), "{d:#?}");
    // Unrelated $z: nothing.
    let d = decide(&otkan_latin(vec![z("12345")]), &otkan_cyrillic(vec![]));
    assert_eq!(field_score(&d, "cancelled-isbn"), None);
}

// National bibliography numbers (015), agency numbers (016), 024 numbers
// and former OCLC numbers (019) are identifiers like the others.
#[test]
fn other_standard_numbers_are_shared_identifiers() {
    let a = otkan_latin(vec![
        df("015", ' ', ' ', &[('a', "Uzb 2018-123"), ('2', "uzbnb")]),
        df("019", ' ', ' ', &[('a', "987654")]),
    ]);
    let b = otkan_cyrillic(vec![
        df("015", ' ', ' ', &[('a', "UZB2018123"), ('2', "UZBNB")]),
        df("035", ' ', ' ', &[('a', "(OCoLC)ocm00987654")]),
    ]);
    let d = decide(&a, &b);
    assert_eq!(field_score(&d, "identifier"), Some(1.0));
    assert_eq!(
        d.shared_identifiers,
        vec!["nbn:uzbnb:UZB2018123", "oclc:987654"]
    );
    let opts = ScoreOptions {
        ignored_identifiers: vec!["nbn:uzbnb:UZB2018123".into(), "oclc:987654".into()],
        ..ScoreOptions::default()
    };
    assert!(opts.problems().is_empty(), "{:?}", opts.problems());
    let d = decide_with(&a, &b, &opts);
    assert_eq!(field_score(&d, "identifier"), Some(0.0));
}

// ---------------------------------------------------------------------------
// Extent and publisher as evidence against (issue #17, item 4).

/// `otkan_latin` with its 300 $a and 264 $b replaced.
fn otkan_with(extent: &str, publisher: &str) -> Record {
    let mut r = otkan_latin(vec![]);
    r.fields.retain(|f| !matches!(f.tag(), "300" | "264"));
    r.push(Field::Data(df(
        "264",
        ' ',
        '1',
        &[('a', "Toshkent :"), ('b', publisher), ('c', "2018.")],
    )));
    r.push(Field::Data(df("300", ' ', ' ', &[('a', extent)])));
    r
}

// Regression: eval2 merged 51 pairs that agree on everything but a clearly
// different extent. 188 p. is LC 00305851's (fixtures/eval2 e2-01922), 413
// p. its generated twin's (e2-03053); 34 p. is LC 00305749's (e2-00527),
// 105 p. its twin's (e2-03165).
#[test]
fn clearly_different_extent_vetoes() {
    for (x, y, px, py) in [
        ("188 p. :", "413 p. :", 188, 413),
        ("34 p. ;", "105 p. ;", 34, 105),
        ("318, [1] p. :", "673, [1] p. :", 318, 673),
        ("264 pages", "1 online resource (88 p.)", 264, 88),
    ] {
        // Even a shared ISBN does not overrule it (a reused number).
        let mut a = otkan_with(x, "Yangi asr avlodi,");
        let mut b = otkan_with(y, "Yangi asr avlodi,");
        a.push(Field::Data(isbn("978-9943-08-042-3")));
        b.push(Field::Data(isbn("978-9943-08-042-3")));
        let d = decide(&a, &b);
        assert_vetoed(&d, &Veto::Extent { a: px, b: py });
        assert!(d.vetoes[0]
            .to_string()
            .contains("clearly different extents"));
    }
}

// The tolerance: the same book in AACR2 and RDA forms, in the partners'
// page words, with preliminary pages counted in or not, with plates, or
// with a misprint, is not vetoed; a count of volumes or an open entry is
// no page count at all.
#[test]
fn extent_noise_does_not_veto() {
    for (x, y) in [
        (
            "264 p. : ill. ; 21 cm.",
            "264 pages : illustrations ; 21 cm",
        ),
        ("xii, 264 p.", "276 p."),
        ("318, [1] p.", "319 p."),
        ("264 p., 32 p. of plates", "296 p."),
        ("400 b.", "400 б."),
        ("448 səh.", "448 сәһ."),
        ("352 с. ; 20 см", "352 s."),
        ("1 online resource (384 pages)", "384 p."),
        ("96 p.", "69 p."),
        ("v. <3   > :", "v. <43   > :"),
        ("2 v. ;", "41 v. ;"),
    ] {
        let d = decide(
            &otkan_with(x, "Yangi asr avlodi,"),
            &otkan_with(y, "Yangi asr avlodi,"),
        );
        assert!(
            !d.vetoes.iter().any(|v| matches!(v, Veto::Extent { .. })),
            "{x} vs {y}: {:?}",
            d.vetoes
        );
    }
    let pages = |a: &str| features(&otkan_with(a, "x")).pages;
    assert_eq!(pages("xii, 264, [4] p. :"), Some(264));
    assert_eq!(pages("318, [1] p. :"), Some(318));
    assert_eq!(pages("200 с., 16 л. ил."), Some(200));
    assert_eq!(pages("1 online resource (191 pages)"), Some(191));
    assert_eq!(pages("2 v. (814 p.) :"), Some(814));
    assert_eq!(pages("v. <1-3> :"), None);
    assert_eq!(pages("3 v."), None);
}

// Regression: eval2 merged 51 pairs that agree on everything but the
// publisher. "Vyd-vo "Krynytsya"" is LC 00275453's (e2-02638), "Vyd-vo
// "Mystetstvo"" LC 00305575's, given to its twin (e2-03348); the Tomsk pair
// LC 00305140 and 00305192's (e2-01863, e2-03444): two universities of one
// city.
#[test]
fn clearly_different_publisher_outweighs_agreement() {
    for (x, y) in [
        ("Vyd-vo \"Krynytsya\",", "Vyd-vo \"Mystetstvo\","),
        (
            "Tomskiĭ politekhnicheskiĭ universitet,",
            "Tomskii gos. universitet,",
        ),
        ("Miroslav,", "Prosveta,"),
        ("Urlakh Ėrdėm Khėvlėliĭn Gazar,", "Admon Khevleliin Gazar,"),
    ] {
        let d = decide(&otkan_with("400 b.", x), &otkan_with("400 b.", y));
        assert!(!d.same, "{x} vs {y}: {d:#?}");
        let p = d.fields.iter().find(|f| f.field == "publisher").unwrap();
        assert_eq!((p.score, p.weight), (-1.0, 5.0), "{x} vs {y}");
        assert!(p.note.starts_with("clearly different"), "{}", p.note);
    }
    // A shared ISBN still outweighs it: the same book whose publisher one
    // library recorded as the printer.
    let isbn_ = |r: Record| {
        let mut r = r;
        r.push(Field::Data(isbn("978-9943-08-042-3")));
        r
    };
    let d = decide(
        &isbn_(otkan_with("400 b.", "Miroslav,")),
        &isbn_(otkan_with("400 b.", "Prosveta,")),
    );
    assert!(d.same, "{d:#?}");
}

// The forms that must still agree: abbreviated and full publishing-house
// words, company forms, a co-publisher, a name across scripts, and a
// publisher that says nothing ([s.n.]).
#[test]
fn abbreviated_publishers_and_co_publishers_agree() {
    for (x, y) in [
        ("Izdatelʹstvo \"Nauka\",", "Izd-vo \"Nauka\","),
        (
            "Izd-vo Sankt-Peterburgskogo universiteta,",
            "Izdatelstvo Sankt-Peterburgskogo universiteta",
        ),
        (
            "Kaliningradskiĭ gos. universitet,",
            "Kaliningradskii gosudarstvennyi universitet",
        ),
        ("Harper & Brothers,", "Harper & Bros.,"),
        ("The Macmillan Company,", "Macmillan Co.,"),
        ("C. Scribner's Sons,", "Charles Scribner's sons,"),
        ("Oxford University Press,", "Oxford University Press"),
        ("Penguin Books,", "Penguin Group,"),
        ("Remzi Kitabevi,", "Remzi Kitabevi Yayınları"),
        (
            "\"Sharq\" nashriët-matbaa kontserni bosh taḣririi︠a︡ti,",
            "Шарқ,",
        ),
        ("Азәрнәшр,", "Azərnəşr,"),
        (
            "Universitetsko izd-vo \"Sv. Kliment Okhridski\",",
            "Университетско изд-во \"Св. Климент Охридски\",",
        ),
        ("[s.n.],", "Yangi asr avlodi,"),
        ("[publisher not identified],", "Yangi asr avlodi,"),
        ("[izdatelʹ ne ukazan],", "Yangi asr avlodi,"),
    ] {
        let d = decide(&otkan_with("400 b.", x), &otkan_with("400 b.", y));
        assert!(d.same, "{x} vs {y}: {d:#?}");
        assert!(
            field_score(&d, "publisher").unwrap() > -1.0 || x.starts_with('['),
            "{x} vs {y}: {d:#?}"
        );
    }
    // A co-publisher: one of several $b is the other record's publisher
    // (LC 00271843's imprint, given to e2-03332 in fixtures/eval2).
    let mut two = otkan_with("400 b.", "Izd-vo Tilia :");
    two.fields
        .iter_mut()
        .filter_map(|f| match f {
            Field::Data(d) if d.tag == "264" => Some(d),
            _ => None,
        })
        .for_each(|d| d.push('b', "Akademično izd-vo \"Prof. Marin Drinov\","));
    let one = otkan_with("400 b.", "Akademichno izd-vo \"Prof. Marin Drinov\",");
    let d = decide(&two, &one);
    assert!(d.same, "{d:#?}");
    assert_eq!(field_score(&d, "publisher"), Some(1.0));
}

// The independent set (fixtures/eval2): clearly different extents and
// other publishers were half of its false merges; they must stay rare
// without costing duplicates. Since the noise-tolerant keys and decision
// (issue #17 item 3) recall is 0.985 and cross-script recall 0.987 with
// 7 false merges; each kind of noise keeps recall at 0.93 or more (typos
// 0.940, the lowest). Of the 7, 4 were open entries (`v. <1>` vs `v. <39>`)
// and one a twin from its own publisher, wrong labels the generator no
// longer makes; `[s.n.]` against a transcribed publisher took the other 2:
// no false merge is left (recall 0.988, cross-script 0.989).
#[test]
fn evaluation_set_two_extent_and_publisher() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/eval2");
    let outcomes = dedup_eval::evaluate(&dir, &ScoreOptions::default()).unwrap();
    let wrong = |cat: &str| {
        outcomes
            .iter()
            .filter(|o| o.category == cat && o.predicted())
            .count()
    };
    assert!(
        wrong("different-extent") == 0,
        "{}",
        wrong("different-extent")
    );
    assert!(
        wrong("other-publisher-issue") == 0,
        "{}",
        wrong("other-publisher-issue")
    );
    for cat in [
        "other-edition",
        "other-volume",
        "translation",
        "print-vs-ebook",
        "same-title-other-author",
    ] {
        assert_eq!(wrong(cat), 0, "{cat}");
    }
    let new = dedup_eval::metrics(&outcomes, dedup_eval::Outcome::predicted);
    // Issue #17: the per-language readings (translit) and the noise-tolerant
    // keys and decision took recall from 0.9458 and cross-script recall from
    // 0.954; the long-title and misprinted-ISBN evidence, the surnames in
    // the key fold and the years of undated imprints from 0.9882 and 0.9889
    // to 0.9989 and 0.9992; titles of 16 letters within two edits to
    // 0.9995 and 0.9996. Floors sit under the combined figures.
    assert!(new.recall >= 0.999, "{new:?}");
    assert!(new.cross_recall >= 0.999, "{new:?}");
    // No language × scheme row under 0.95 (the last one, Mongolian BGN/PCGN
    // against MNS 5217, was 11 of 12 until a typo across the digraph kh,
    // two edits in 18 letters, counted as near).
    let mut rows: std::collections::BTreeMap<(&str, [&str; 2]), (usize, usize)> =
        Default::default();
    for o in outcomes.iter().filter(|o| o.dup) {
        let e = rows.entry((o.language.as_str(), o.schemes())).or_default();
        e.0 += 1;
        e.1 += usize::from(o.predicted());
    }
    let below: Vec<_> = rows
        .iter()
        .filter(|(_, (n, found))| (*found as f64) < 0.95 * *n as f64)
        .collect();
    assert!(below.is_empty(), "{below:?}");
    assert!(new.precision >= 0.9999, "{new:?}");
    // Per noise kind: a typo or a dropped subtitle no longer hides a twin.
    for kind in [
        "typo",
        "drop-subtitle",
        "extent-form",
        "author-initials",
        "260-264",
    ] {
        let dups: Vec<_> = outcomes
            .iter()
            .filter(|o| o.dup && dedup_eval::noise_kinds(&o.note).contains(&kind))
            .collect();
        let found = dups.iter().filter(|o| o.predicted()).count();
        assert!(
            found as f64 >= 0.93 * dups.len() as f64,
            "{kind}: {found} of {}",
            dups.len()
        );
    }
}

// Regression: eval2 merged "2 v. (814 p.)" with "41 v. (814 p.)" (LC
// 00289939, e2-01172, and its twin e2-03381): sets of clearly different
// sizes. A set catalogued before its last volume (2 v. vs 3 v.) and open
// entries (holdings, not the set's size) do not veto.
#[test]
fn clearly_different_volume_counts_veto() {
    let d = decide(
        &otkan_with("2 v. (814 p.) :", "Yangi asr avlodi,"),
        &otkan_with("41 v. (814 p.) :", "Yangi asr avlodi,"),
    );
    assert!(!d.same, "{d:#?}");
    assert!(
        d.vetoes.contains(&Veto::VolumeCount { a: 2, b: 41 }),
        "{d:?}"
    );
    assert!(d.vetoes[0].to_string().contains("counts of volumes"));
    for (x, y) in [
        ("2 v. ;", "3 v. ;"),
        ("v. <1-3> :", "v. <39-3> :"),
        ("2 т. ;", "2 v. ;"),
    ] {
        let d = decide(
            &otkan_with(x, "Yangi asr avlodi,"),
            &otkan_with(y, "Yangi asr avlodi,"),
        );
        assert!(
            !d.vetoes
                .iter()
                .any(|v| matches!(v, Veto::VolumeCount { .. })),
            "{x} vs {y}: {:?}",
            d.vetoes
        );
    }
}

// ---------------------------------------------------------------------------
// Cataloguing noise (issue #17 item 3): typos, subtitles, unnamed
// publishers and places of publication.

fn field_note(d: &PairDecision, name: &str) -> String {
    d.fields
        .iter()
        .find(|f| f.field == name)
        .map(|f| f.note.clone())
        .unwrap_or_default()
}

fn imprint(place: &str, publisher: &str) -> DataField {
    df(
        "260",
        ' ',
        ' ',
        &[('a', place), ('b', publisher), ('c', "1998.")],
    )
}

// Regression (eval2 e2-02486/e2-02490): "Книга пам'яті" against the typo
// "Kinga pam'âtì", two letters swapped, was two edits and no word match, so
// a set that shares three ISBNs fell below the threshold. A swap is one
// edit, and `explain` says the typo rule applied.
#[test]
fn swapped_letters_are_one_typo() {
    let cyr = book(
        "e2-02486",
        "ukr",
        "1998",
        vec![
            df("245", '0', '0', &[('a', "Книга пам'яті України /")]),
            imprint("Львів :", "Каменяр,"),
            df("300", ' ', ' ', &[('a', "350 p.")]),
        ],
    );
    let lat = book(
        "e2-02490",
        "ukr",
        "1998",
        vec![
            df("245", '0', '0', &[('a', "Kinga pam'âtì Ukraïni /")]),
            imprint("Lʹvìv :", "Kamenâr,"),
            df("300", ' ', ' ', &[('a', "350 p.")]),
        ],
    );
    let d = decide(&cyr, &lat);
    assert!(d.same, "{d:#?}");
    assert_eq!(field_score(&d, "title"), Some(1.0), "{d:#?}");
    assert!(
        field_note(&d, "title").contains("one-letter difference: typo"),
        "{}",
        field_note(&d, "title")
    );
    // Two different words are still two words: "Tarixi" is not "Tarifi" of
    // another book when more than one letter differs.
    let other = book(
        "x",
        "ukr",
        "1998",
        vec![
            df("245", '0', '0', &[('a', "Kniga slavy Ukraïni /")]),
            imprint("Lʹvìv :", "Kamenâr,"),
            df("300", ' ', ' ', &[('a', "350 p.")]),
        ],
    );
    assert!(field_score(&decide(&cyr, &other), "title").unwrap() < 1.0);
}

// `explain` names the rule when only one record has the subtitle.
#[test]
fn subtitle_on_one_side_only_is_named() {
    let bare = with_245(
        otkan_latin(vec![]),
        df("245", '1', '0', &[('a', "O‘tkan kunlar /")]),
    );
    let d = decide(&bare, &otkan_latin(vec![]));
    assert_eq!(field_score(&d, "title"), Some(1.0));
    assert!(
        field_note(&d, "title").contains("subtitle on one side only"),
        "{d:#?}"
    );
}

// Regression (eval2 e2-00221/e2-00222): "[б. и.]" and "[s.n.]" both say
// "no publisher named"; read as two names with nothing in common they cost
// a Belarusian conference volume and its romanised twin the merge. A record
// that names a publisher against one that says "[s.n.]" still disagrees a
// little (another issue is more likely than a cataloguer's omission).
#[test]
fn unnamed_publishers_do_not_disagree() {
    let rec = |id: &str, title: &str, place: &str, publisher: &str| {
        book(
            id,
            "bel",
            "1995",
            vec![
                df("245", '0', '0', &[('a', title)]),
                imprint(place, publisher),
                df("300", ' ', ' ', &[('a', "113 p, 10 leaves of plates :")]),
            ],
        )
    };
    let cyr = rec("e2-00221", "Ашмяншчына :", "Гродна :", "[б. и.],");
    let lat = rec("e2-00222", "Ashmi︠a︡nshchyna :", "Hrodna :", "[s.n.],");
    let d = decide(&cyr, &lat);
    assert!(d.same, "{d:#?}");
    assert_eq!(field_score(&d, "publisher"), Some(0.0), "{d:#?}");
    let named = rec("x", "Ashmi︠a︡nshchyna :", "Hrodna :", "Belarus,");
    assert_eq!(field_score(&decide(&cyr, &named), "publisher"), Some(-1.0));
}

// The place of publication is evidence, never a veto: the same city
// agrees (across scripts and the Russian/Ukrainian forms of a city), an
// abbreviation is weak agreement, `[S.l.]` is nothing, and clearly
// different cities disagree by one point only. Regression for eval2
// e2-00151/e2-03308 and e2-00222/e2-03492 (other-publisher issues that the
// place tells apart).
#[test]
fn place_of_publication_is_evidence_not_a_veto() {
    let with_place = |place: &str| otkan_with_place(place);
    let place = |a: &str, b: &str| {
        let d = decide(&with_place(a), &with_place(b));
        (field_score(&d, "place"), d)
    };
    assert_eq!(place("Toshkent :", "Тошкент :").0, Some(1.0));
    assert_eq!(place("Kyïv :", "Kiev :").0, Some(1.0));
    assert_eq!(place("Tashkent :", "Toshkent :").0, Some(1.0));
    assert_eq!(place("T. :", "Toshkent :").0, Some(0.5));
    assert_eq!(place("М. :", "Moskva :").0, Some(0.5));
    assert_eq!(place("[S.l.] :", "Toshkent :").0, None);
    assert_eq!(
        place("[Place of publication not identified] :", "Toshkent :").0,
        None
    );
    assert_eq!(place("T. :", "Samarqand :").0, Some(0.0));
    let (s, d) = place("Buxoro :", "Samarqand :");
    assert_eq!(s, Some(-1.0));
    assert!(d.vetoes.is_empty(), "{d:#?}");
    assert!(
        d.same,
        "one point against is not enough to part twins: {d:#?}"
    );
}

fn otkan_with_place(place: &str) -> Record {
    let mut r = otkan_latin(vec![]);
    r.fields.retain(|f| !matches!(f.tag(), "260" | "264"));
    r.push(Field::Data(df(
        "264",
        ' ',
        '1',
        &[('a', place), ('b', "Yangi asr avlodi,"), ('c', "2018.")],
    )));
    r
}

// Regression (eval2 e2-00081/e2-00084): "Бакы шәһәри" against "Baky
// shaahari" (a doubled letter in an ASCII romanisation that writes ә as a)
// is two edits apart in the decision's skeleton but one in the match keys'
// lossier fold; the title compares in both, so the typo is forgiven.
#[test]
fn typo_on_top_of_a_romanisation_is_forgiven() {
    let rec = |id: &str, title: &str, place: &str, publisher: &str| {
        book(
            id,
            "aze",
            "1990",
            vec![
                df("245", '0', '0', &[('a', title)]),
                df(
                    "264",
                    ' ',
                    '1',
                    &[('a', place), ('b', publisher), ('c', "1990.")],
                ),
                df("300", ' ', ' ', &[('a', "220 p. ;")]),
            ],
        )
    };
    let cyr = rec("e2-00081", "Бакы шәһәри /", "Бакы :", "Елм,");
    let lat = rec("e2-00084", "Baky shaahari", "Baky", "Elm");
    let d = decide(&cyr, &lat);
    assert!(d.same, "{d:#?}");
    assert_eq!(field_score(&d, "title"), Some(1.0), "{d:#?}");
}

// Evidence against (#17 item 4), each from the labelled LC merges
// (fixtures/lc-merges): pairs the matcher merged that describe other books.

/// A GAO report as LC 00325161 catalogues it: corporate main entry, 245
/// with the title proper every report of the series shares, the subtitle
/// that says which report, the addressee; `extra` adds fields.
fn gao(id: &str, subtitle: &str, extra: Vec<DataField>) -> Record {
    let mut fields = vec![
        df(
            "110",
            '1',
            ' ',
            &[('a', "United States."), ('b', "General Accounting Office.")],
        ),
        df(
            "245",
            '1',
            '0',
            &[
                ('a', "Defense acquisitions :"),
                ('b', subtitle),
                ('c', "United States General Accounting Office."),
            ],
        ),
        df(
            "260",
            ' ',
            ' ',
            &[
                ('a', "Washington, D.C. :"),
                ('b', "The Office,"),
                ('c', "[2000]"),
            ],
        ),
        df("300", ' ', ' ', &[('a', "18 p. ;"), ('c', "28 cm.")]),
    ];
    fields.extend(extra);
    book(id, "eng", "2000", fields)
}

// Regression: LC 00325161 and 00326231 are two GAO reports under one title
// proper ("Defense acquisitions"), told apart only by the subtitle; the
// title similarity took the title proper and merged them.
#[test]
fn different_subtitles_under_one_title_are_other_reports() {
    let a = gao(
        "00325161",
        "need to revise acquisition strategy to reduce risk for joint air-to-surface standoff missile : report to the Chairman, Subcommittee on Defense /",
        vec![],
    );
    let b = gao(
        "00326231",
        "Antiarmor Munitions Master Plan does not identify potential excesses or support planned procurements : report to the Chairman, Subcommittee on Defense /",
        vec![],
    );
    let d = decide(&a, &b);
    assert!(!d.same, "{d:#?}");
    assert_eq!(field_score(&d, "title-words"), Some(-1.0), "{d:#?}");
}

// The same rule must not separate one book: a typo in a subtitle word, $a
// and $b split elsewhere, a parallel title, a subtitle on one side only,
// an initialism spaced otherwise, and a Cyrillic and a romanised twin
// (an otherwise strong pair without identifier, which the penalty of 6
// would push below the threshold).
#[test]
fn subtitle_noise_is_not_a_difference() {
    let strong = |a245: DataField, b245: DataField| {
        let a = with_245(otkan_latin(vec![]), a245);
        let b = with_245(otkan_latin(vec![]), b245);
        decide(&a, &b)
    };
    let t = |parts: &[(char, &str)]| df("245", '1', '0', parts);
    for (x, y) in [
        (
            t(&[('a', "O'tkan kunlar :"), ('b', "tarixiy roman /")]),
            t(&[('a', "O'tkan kunlar :"), ('b', "tarixiy ronam /")]),
        ),
        (
            t(&[('a', "O'tkan kunlar :"), ('b', "tarixiy roman /")]),
            t(&[('a', "O'tkan kunlar tarixiy :"), ('b', "roman /")]),
        ),
        (
            t(&[('a', "O'tkan kunlar ="), ('b', "Days gone by /")]),
            t(&[('a', "O'tkan kunlar ="), ('b', "Минувшие дни /")]),
        ),
        (
            t(&[('a', "O'tkan kunlar :"), ('b', "tarixiy roman /")]),
            t(&[('a', "O'tkan kunlar /")]),
        ),
        (
            t(&[('a', "O'tkan kunlar :"), ('b', "N.U. roman /")]),
            t(&[('a', "O'tkan kunlar :"), ('b', "NU roman /")]),
        ),
    ] {
        let d = strong(x.clone(), y.clone());
        assert!(d.same, "{x:?} vs {y:?}: {d:#?}");
        assert_eq!(field_score(&d, "title-words"), None, "{d:#?}");
    }
    let d = decide(&otkan_latin(vec![]), &otkan_cyrillic(vec![]));
    assert!(d.same && field_score(&d, "title-words").is_none(), "{d:#?}");
}

// Regression: LC 00036936 "Christian festival tales" and 00036938 "Jewish
// festival tales", one author, one publisher, 32 p. each, both printing the
// series ISBN 0739827332: a word put in another's place is another book.
#[test]
fn a_title_word_in_anothers_place_counts_against() {
    let tale = |id: &str, title: &str| {
        book(
            id,
            "eng",
            "2001",
            vec![
                isbn("0739827332"),
                df("100", '1', ' ', &[('a', "Pirotta, Saviour.")]),
                df("245", '1', '0', &[('a', title)]),
                df(
                    "260",
                    ' ',
                    ' ',
                    &[('a', "Austin, TX :"), ('b', "Raintree Steck-Vaughn,")],
                ),
                df("300", ' ', ' ', &[('a', "32 p. :")]),
            ],
        )
    };
    let d = decide(
        &tale("00036936", "Christian festival tales /"),
        &tale("00036938", "Jewish festival tales /"),
    );
    assert!(!d.same, "{d:#?}");
    assert_eq!(field_score(&d, "title-words"), Some(-1.0));
}

// Regression: LC 00268458 and 00269492 (xxiv, 775 p. vs xxiv, 835 p.,
// one the expanded edition) and the GAO reports 00325161 and 00326231
// (18 p. vs 24 p.) are within 1.5 times: another pagination is another
// book once preliminaries and plates are allowed for.
#[test]
fn paginations_a_few_percent_apart_veto() {
    for (x, y, px, py) in [
        ("xxiv, 775 p. :", "xxiv, 835 p. :", 775, 835),
        ("18 p. ;", "24 p. :", 18, 24),
        ("283 p. ;", "237 p. ;", 283, 237),
    ] {
        let d = decide(
            &otkan_with(x, "Yangi asr avlodi,"),
            &otkan_with(y, "Yangi asr avlodi,"),
        );
        assert!(!d.same, "{x} vs {y}");
        assert!(
            d.vetoes.contains(&Veto::Pagination { a: px, b: py }),
            "{x} vs {y}: {:?}",
            d.vetoes
        );
    }
    for (x, y) in [
        ("xii, 264 p.", "276 p."),
        ("264 p., 32 p. of plates", "296 p."),
        ("264 p., [16] p. of plates", "280 p."),
        ("318, [1] p.", "319 p."),
        ("96 p.", "69 p."),
        ("400 p.", "410 p."),
        ("20 p.", "22 p."),
    ] {
        let d = decide(
            &otkan_with(x, "Yangi asr avlodi,"),
            &otkan_with(y, "Yangi asr avlodi,"),
        );
        assert!(d.vetoes.is_empty(), "{x} vs {y}: {:?}", d.vetoes);
    }
}

// Regression: the GAO reports LC 00325161 and 00326231 (088 and note
// GAO/NSIAD-00-75 vs GAO/NSIAD-00-67), the New York Senate hearings
// 00326910 and 00326918 (held Feb. 9, 2000, Albany vs Mar. 16, 2000,
// Warwick) and 00326978 and 00326980 (one day, Huntington vs Oyster Bay),
// and the North Carolina reports 00327741 and 00327743 ("June 19, 2000."
// vs "May 24, 2000.") have identical 245s.
#[test]
fn other_report_numbers_and_hearings_veto() {
    let note = |text: &str| df("500", ' ', ' ', &[('a', text)]);
    let s = "need to revise acquisition strategy /";
    for (x, y) in [
        (
            vec![df("088", ' ', ' ', &[('a', "GAO/NSIAD-00-75")])],
            vec![df("088", ' ', ' ', &[('a', "GAO/NSIAD-00-67")])],
        ),
        (
            vec![note("\"GAO/NSIAD-00-75.\"")],
            vec![note("\"GAO/NSIAD-00-67.\"")],
        ),
        (
            vec![note("Hearing held Feb. 9, 2000, Albany, N.Y.")],
            vec![note("Hearing held Mar. 16, 2000, Warwick, N.Y.")],
        ),
        (
            vec![note("Hearing held March 2, 2000, Huntington, N.Y.")],
            vec![note("Hearing held Mar. 2, 2000, Oyster Bay, N.Y.")],
        ),
        (
            vec![note("\"June 19, 2000.\"")],
            vec![note("\"May 24, 2000.\"")],
        ),
    ] {
        let d = decide(&gao("a", s, x.clone()), &gao("b", s, y.clone()));
        assert!(!d.same, "{x:?} vs {y:?}");
        assert!(
            d.vetoes.iter().any(|v| matches!(v, Veto::Report { .. })),
            "{x:?} vs {y:?}: {:?}",
            d.vetoes
        );
    }
    // The same report or hearing written otherwise is no veto.
    for (x, y) in [
        (
            vec![df("088", ' ', ' ', &[('a', "GAO/NSIAD-00-75")])],
            vec![note("\"GAO/NSIAD-00-75.\"")],
        ),
        (
            vec![note("Hearing held Feb. 9, 2000, Albany, N.Y.")],
            vec![note("Hearing held February 9, 2000, Albany.")],
        ),
        (vec![note("\"April 2000.\"")], vec![]),
    ] {
        let d = decide(&gao("a", s, x.clone()), &gao("b", s, y.clone()));
        assert!(d.same, "{x:?} vs {y:?}: {d:#?}");
    }
}

// Regression: LC 00327741 and 00327743 carry OCLC numbers 44645280 and
// 44645599. Disjoint OCLC numbers count against a pair, but one book can
// have two WorldCat records (partners copy either), so it is a penalty that
// a strong pair survives, not a veto.
#[test]
fn disjoint_oclc_numbers_count_against() {
    let oclc = |n: &str| df("035", ' ', ' ', &[('a', n)]);
    let d = decide(
        &otkan_latin(vec![oclc("(OCoLC)ocm44645280")]),
        &otkan_cyrillic(vec![oclc("(OCoLC)ocm44645599")]),
    );
    assert_eq!(field_score(&d, "oclc"), Some(-1.0), "{d:#?}");
    assert!(d.same && d.vetoes.is_empty(), "{d:#?}");
    // Without the extent's agreement the penalty decides.
    let mut a = otkan_latin(vec![oclc("(OCoLC)ocm44645280")]);
    let mut b = otkan_cyrillic(vec![oclc("(OCoLC)ocm44645599")]);
    a.fields.retain(|f| f.tag() != "300");
    b.fields.retain(|f| f.tag() != "300");
    assert!(!decide(&a, &b).same);
    a.fields.retain(|f| f.tag() != "035");
    assert!(decide(&a, &b).same);
}

// Regression: LC 00311972 and 00311973, one commentary's tractates "Bava
// ḳama" and "Bava batra" (240 Gidule Shemuʼel (Bava ḳama) vs (Bava
// batra)).
#[test]
fn different_uniform_titles_count_against() {
    let u = |t: &str| df("240", '1', '0', &[('a', t)]);
    let d = decide(
        &otkan_latin(vec![u("Gidule Shemuʼel (Bava ḳama)")]),
        &otkan_latin(vec![u("Gidule Shemuʼel (Bava batra)")]),
    );
    assert!(!d.same, "{d:#?}");
    assert_eq!(field_score(&d, "uniform-title"), Some(-1.0));
    let d = decide(
        &otkan_latin(vec![u("Gidule Shemuʼel (Bava ḳama)")]),
        &otkan_latin(vec![u("Gidule Shemuel (Bava kama)")]),
    );
    assert!(d.same, "{d:#?}");
}

// Regression: LC 00266284 and 00266285, "Secondary school ed." and
// "Elementary and middle school ed." of one handbook; "2nd ed." and "2nd
// edition", "1a ed." and "1. ed." (same pairs in the LC labels) are one
// edition.
#[test]
fn edition_statements_in_other_words_count_against() {
    let e = |t: &str| df("250", ' ', ' ', &[('a', t)]);
    let strong = |x: &str, y: &str| {
        let mut a = otkan_latin(vec![e(x)]);
        let mut b = otkan_latin(vec![e(y)]);
        // Without the extent's agreement, as the binders were.
        a.fields.retain(|f| f.tag() != "300");
        b.fields.retain(|f| f.tag() != "300");
        decide(&a, &b)
    };
    let d = strong("Secondary school ed.", "Elementary and middle school ed.");
    assert!(!d.same, "{d:#?}");
    assert_eq!(field_score(&d, "edition-words"), Some(-1.0));
    for (x, y) in [
        ("2nd ed.", "2nd edition"),
        ("1a ed.", "1. ed."),
        ("2-е изд., испр. и доп.", "2-e izd."),
    ] {
        let d = strong(x, y);
        assert!(d.same, "{x} vs {y}: {d:#?}");
    }
}

// Regression: LC 00273752 "Healthy people 2010", Conference ed., 2 v., and
// 00300124, 63 p.: a set of volumes without pages against one book.
#[test]
fn volumes_against_pages_veto() {
    let d = decide(
        &otkan_with("2 v. :", "Yangi asr avlodi,"),
        &otkan_with("63 p. :", "Yangi asr avlodi,"),
    );
    assert!(d.vetoes.contains(&Veto::VolumesAndPages), "{d:?}");
    for (x, y) in [
        ("2 v. (814 p.)", "814 p."),
        ("1 v. (various pagings)", "63 p."),
    ] {
        let d = decide(
            &otkan_with(x, "Yangi asr avlodi,"),
            &otkan_with(y, "Yangi asr avlodi,"),
        );
        assert!(!d.vetoes.contains(&Veto::VolumesAndPages), "{x} vs {y}");
    }
}

// Regression (eval2 e2-00161/e2-00164, LC 00306011): LC's record has a
// title, a year and nothing else, and so have its twins; title 4, year 1
// and language 0.5 stayed under the threshold. A title of five long words
// agreeing in full, with nothing against it, is the evidence a cataloguer
// takes from such a record; a year or an extent that disagrees takes it
// away again, and a short title never has it.
#[test]
fn long_title_agreeing_in_full_lifts_a_thin_record() {
    let cyr = book(
        "e2-00161",
        "bel",
        "1997",
        vec![df(
            "245",
            '0',
            '0',
            &[(
                'a',
                "Народная інструментальная культура Беларускага Паазерья /",
            )],
        )],
    );
    let plain = book(
        "e2-00164",
        "bel",
        "1997",
        vec![df(
            "245",
            '0',
            '0',
            &[(
                'a',
                "Narodnaia instrumentalnaia kultura Belaruskaha Paazeria /",
            )],
        )],
    );
    let d = decide(&cyr, &plain);
    assert!(d.same, "{d:#?}");
    assert_eq!(field_score(&d, "long-title"), Some(1.0));
    // Another year (within the gap): nothing is added, and the pair stays
    // apart.
    let later = set_008(plain.clone(), 7, "1998");
    let d = decide(&cyr, &later);
    assert!(!d.same, "{d:#?}");
    assert_eq!(field_score(&d, "long-title"), None);
    // A title of fewer long words is not specific enough.
    let short = |id: &str, t: &str| book(id, "bel", "1997", vec![df("245", '0', '0', &[('a', t)])]);
    let d = decide(
        &short("a", "Вершы і паэмы /"),
        &short("b", "Vershy i paėmy /"),
    );
    assert!(!d.same, "{d:#?}");
    assert_eq!(field_score(&d, "long-title"), None);
}

// Regression (eval2 e2-00851/e2-00852, LC 00291068): both records carry
// the book's own misprinted ISBN 5709004725 (its check digit fails), and
// nothing else but the title and year. The same invalid number on both is
// the book's misprint, not a typo of someone else's number: it counts
// twice the weight of a $z found among the other's ISBNs.
#[test]
fn the_same_invalid_isbn_on_both_records_counts_twice() {
    let rec = |id: &str, title: &str| {
        book(
            id,
            "kaz",
            "1998",
            vec![
                df("020", ' ', ' ', &[('a', "5709004725")]),
                df("245", '0', '0', &[('a', title)]),
            ],
        )
    };
    let norm = |r: Record| normalize(r, &PartnerContext { code: "nlk" });
    let cyr = norm(rec("e2-00851", "Алматы медицинасынынг тарихы \\"));
    let lc = norm(rec("e2-00852", "Almaty medit︠s︡inasynyng tarikhy \\"));
    let d = decide(&cyr, &lc);
    assert!(d.same, "{d:#?}");
    let f = d
        .fields
        .iter()
        .find(|f| f.field == "cancelled-isbn")
        .unwrap();
    assert_eq!(f.weight, 2.0, "{f:?}");
    assert!(f.note.contains("the same invalid number on both"), "{f:?}");
}

// Regression (eval2 e2-02094/e2-02095, LC 00277316; e2-01686/e2-01689,
// LC 00277344): plain ASCII drops the háček (`Zic` for Žic) and GOST 7.79
// writes ц `cz` (`Mincz` for Минц); the titles met in the key fold, the
// surnames did not and counted as two authors (−3).
#[test]
fn surnames_meet_in_the_key_fold() {
    let rec = |id: &str, lang: &str, year: &str, author: &str, title: &str| {
        book(
            id,
            lang,
            year,
            vec![
                df("100", '1', ' ', &[('a', author)]),
                df("245", '1', '0', &[('a', title)]),
            ],
        )
    };
    let zic = rec(
        "e2-02094",
        "srp",
        "1998",
        "Zic, Igor.",
        "Kratka povijest grada Rijeke",
    );
    let zhic = rec(
        "e2-02095",
        "srp",
        "1998",
        "Žic, Igor.",
        "Kratka poviǰest grada Riǰeke /",
    );
    assert_eq!(field_score(&decide(&zic, &zhic), "author"), Some(1.0));
    let minc = rec(
        "e2-01686",
        "rus",
        "1998",
        "Минц, С. С.",
        "Мемуары и российское дворянство",
    );
    let mincz = rec(
        "e2-01689",
        "rus",
        "1998",
        "Mincz, S. S.",
        "Memury' i rossijskoe dvoryanstvo",
    );
    assert_eq!(field_score(&decide(&minc, &mincz), "author"), Some(1.0));
    // Other surnames stay other people.
    let other = rec(
        "x",
        "rus",
        "1998",
        "Минин, С. С.",
        "Мемуары и российское дворянство",
    );
    assert_eq!(field_score(&decide(&other, &mincz), "author"), Some(-1.0));
}

// Issue #17 item 1: records whose language codes are missing must still
// meet, read by the letters of their titles and, where the letters do not
// decide, by the country of publication. fixtures/eval2 with 008/35-37 and
// 041 taken away as it is read: recall 0.899 before the country was asked
// (0.81 a session earlier), 0.991 since. Precision there falls to 0.980,
// nearly all of it translations, which only the codes tell apart.
#[test]
fn evaluation_set_two_without_language_codes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/eval2");
    let outcomes = dedup_eval::evaluate_with(&dir, &ScoreOptions::default(), true).unwrap();
    let new = dedup_eval::metrics(&outcomes, dedup_eval::Outcome::predicted);
    assert!(new.recall >= 0.99, "{new:?}");
    assert!(new.cross_recall >= 0.99, "{new:?}");
    // Every language keeps 0.9 of its duplicates (Belarusian, the lowest,
    // 0.925: its thin records lose the language code's half point).
    let mut per: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    for o in outcomes.iter().filter(|o| o.dup) {
        let e = per.entry(o.language.as_str()).or_default();
        e.0 += 1;
        e.1 += usize::from(o.predicted());
    }
    for (lang, (n, found)) in per {
        assert!(found as f64 >= 0.9 * n as f64, "{lang}: {found} of {n}");
    }
}

// Regression (eval2 e2-01384/e2-01385, LC 00372673): BGN/PCGN's "Oohio :
// barimtat tuuj" against MNS 5217's "Ookhio" typed "Ookiho": the swap
// crosses the digraph kh, so the title is two edits away in 18 letters, a
// character ratio of 0.89 that fell under the 0.9 for run-together words.
// A text of 16 letters or more may now be two edits away, as a word of 8
// may; 15 letters still need the ratio.
#[test]
fn long_titles_two_edits_apart_are_near() {
    use unicat::dedup::decision::token_similarity;
    let s = token_similarity("oohio barimtat tuuj", "ookiho barimtat tuuj");
    assert!(s > 0.88, "{s}");
    // 15 letters at most, two edits: the word index (2 of 4 words) decides.
    let t = token_similarity("oohio barimtat t", "ookiho barimtat t");
    assert!(t < 0.6, "{t}");
}
