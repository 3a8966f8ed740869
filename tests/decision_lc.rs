//! The pair decision's evidence against from the LC precision work (issue
//! #17 item 4), each on the fields of the real records that the matcher
//! wrongly merged, normalised as the pipeline does. An integration test, so
//! that `dedup` itself never imports `normalize`
//! (`tests/self_contained.rs`).
use unicat::dedup::decision::{compare, features, Features, PairDecision, ScoreOptions, Veto};
use unicat::normalize::{normalize, PartnerContext};
use unicat_marc::{ControlField, DataField, Field, Record};

/// An LC book record, normalised as the pipeline does: 001, 003 `DLC`,
/// the 008 and data fields written `TAG` + two indicators + subfields
/// opened by `‡` (the `$` is in 880 $6 values).
fn lc(id: &str, f008: &str, fields: &[&str]) -> Features {
    let mut r = Record::new("00000nam a2200000 a 4500");
    r.push(Field::Control(ControlField::new("001", id)));
    r.push(Field::Control(ControlField::new("003", "DLC")));
    r.push(Field::Control(ControlField::new("008", f008)));
    for f in fields {
        let (tag, rest) = f.split_at(3);
        let mut chars = rest.chars();
        let (i1, i2) = (chars.next().unwrap(), chars.next().unwrap());
        let mut d = DataField::new(tag, i1, i2);
        for sf in chars.as_str().split('‡').filter(|s| !s.is_empty()) {
            let mut c = sf.chars();
            let code = c.next().unwrap();
            d.push(code, c.as_str());
        }
        r.push(Field::Data(d));
    }
    features(&normalize(r, &PartnerContext { code: "DLC" }))
}

/// The decision both ways round (it must not depend on the order).
fn decide(a: &Features, b: &Features) -> PairDecision {
    let opts = ScoreOptions::default();
    let (d, back) = (compare(a, b, &opts), compare(b, a, &opts));
    assert_eq!(d.same, back.same);
    assert!((d.score - back.score).abs() < 1e-9);
    d
}

const CHI_1999: &str = "010129s1999    cc            000 0 chi  ";

/// LC 00369296: 实用针刺治疗保健手册 (acupuncture), one volume of a set
/// whose volumes print the set's ISBN.
fn lc_00369296() -> Features {
    lc(
        "00369296",
        CHI_1999,
        &[
            "020  ‡a7541612367",
            "24500‡6880-01‡aShi yong zhen ci zhi liao bao jian shou ce /‡czhu bian Xu Tiande.",
            "250  ‡aDi 1 ban.",
            "260  ‡aKunming :‡bYunnan Ke ji chu ban she,‡c1999.",
            "300  ‡a7, 149 p. :‡bill.,‡c19 cm.",
            "440 0‡aChuan tong yi xue zhi liao bao jian cong shu",
            "7001 ‡6880-02‡aXu, Tiande.",
            "88000‡6245-01/$1‡a实用针刺治疗保健手册 /‡c主编许天德.",
            "8801 ‡6700-02/$1‡a许天德.",
        ],
    )
}

/// LC 00369298: 实用指压治疗保健手册 (acupressure), the same set ISBN.
fn lc_00369298(han_title: &str) -> Features {
    let f880 = format!("88000‡6245-01/$1‡a{han_title} /‡c主编许天德.");
    lc(
        "00369298",
        CHI_1999,
        &[
            "020  ‡a7541612367",
            "24500‡6880-01‡aShi yong zhi ya zhi liao bao jian shou ce /‡czhu bian Xu Tiande.",
            "250  ‡6880-02‡aDi 1 ban.",
            "260  ‡6880-03‡aKunming Shi:‡bYunnan Ke ji chu ban she,‡c1999.",
            "300  ‡a6, 151 p. :‡bill. ;‡c20 cm.",
            "4901 ‡6880-04‡aChuan tong yi xue zhi liao bao jian cong shu",
            "830 0‡6880-05‡aChuan tong yi xue zhi liao bao jian cong shu.",
            &f880,
            "880  ‡6250-02/$1‡a第1版.",
            "880  ‡6260-03/$1‡a昆明市 :‡b云南科技出版社,‡c1999.",
        ],
    )
}

/// LC 00369299: 实用灸法治疗保健手册 (moxibustion), the same set ISBN.
fn lc_00369299() -> Features {
    lc(
        "00369299",
        CHI_1999,
        &[
            "020  ‡a7541612367",
            "24500‡6880-01‡aShi yong jiu fa zhi liao bao jian shou ce /‡czhu bian Xu Tiande.",
            "250  ‡aDi 1 ban.",
            "260  ‡aKunming :‡bYunnan Ke ji chu ban she,‡c1999.",
            "300  ‡a7, 149 p. :‡bill. ;‡c19 cm.",
            "440 0‡aChuan tong yi xue zhi liao bao jian cong shu",
            "7001 ‡6880-02‡aXu, Tiande.",
            "88000‡6245-01/$1‡a实用灸法治疗保健手册 /‡c主编许天德.",
            "8801 ‡6700-02/$1‡a许天德.",
        ],
    )
}

// Regression: LC 00369296 and 00369299 (acupuncture and moxibustion
// volumes of one set, one ISBN, one editor, one extent) were merged
// because their Han titles, two characters apart, met as a "typo".
#[test]
fn han_titles_two_characters_apart_are_not_a_typo_lc_00369296_00369299() {
    let d = decide(&lc_00369296(), &lc_00369299());
    let title = d.fields.iter().find(|f| f.field == "title").unwrap();
    assert!(title.score < 0.0, "{title:?}");
    assert!(!title.note.contains("typo"), "{title:?}");
    assert!(!d.same, "{d:?}");
}

// Regression: LC 00369298 and 00369299 (acupressure and moxibustion)
// were merged: Han titles 指压 / 灸法 and pinyin `zhi ya` / `jiu fa`
// differ, but the pinyin syllables are short and were forgiven.
#[test]
fn han_titles_with_other_pinyin_words_differ_lc_00369298_00369299() {
    let d = decide(&lc_00369298("实用指压治疗保健手册"), &lc_00369299());
    let words = d.fields.iter().find(|f| f.field == "title-words");
    assert!(
        words.is_some_and(|f| f.note.starts_with("different Han titles")),
        "{d:?}"
    );
    assert!(!d.same, "{d:?}");
}

// The Han title of LC 00369298 in traditional characters (實用指壓治療
// 保健手冊) with the same pinyin is the same title: the rule needs the
// romanisations to differ too.
#[test]
fn han_variants_with_the_same_pinyin_agree() {
    let simplified = lc_00369298("实用指压治疗保健手册");
    let traditional = lc_00369298("實用指壓治療保健手冊");
    let d = decide(&simplified, &traditional);
    assert!(d.fields.iter().all(|f| f.field != "title-words"), "{d:?}");
    assert!(d.same, "{d:?}");
}

// Regression: LC 00026536 "Physical therapist assistant examination
// review" and 00027002 "Physical therapist examination review" (one
// author, publisher and year, 2 v. each) were merged; their set ISBNs
// 1556424752 and 1556424744 differ.
#[test]
fn different_set_isbns_are_two_sets_lc_00026536_00027002() {
    let a = lc(
        "00026536",
        "000225s2000    nju      bf   000 0 eng  ",
        &[
            "020  ‡a1556424752 (set : alk. paper)",
            "1001 ‡aMeyer, Theresa,‡d1962-",
            "24510‡aPhysical therapist assistant examination review /‡cTheresa Meyer.",
            "250  ‡a4th ed.",
            "260  ‡aThorofare, NJ :‡bSlack,‡c2000.",
            "300  ‡a2 v. ;‡c25 cm.+‡e1 computer disc (3 3/4 in.)",
        ],
    );
    let b = lc(
        "00027002",
        "000224m20009999nju      b    000 0 eng  ",
        &[
            "020  ‡a1556424744 (set : alk. paper)",
            "1001 ‡aMeyer, Theresa,‡d1962-",
            "24510‡aPhysical therapist examination review /‡cTheresa Meyer.",
            "260  ‡aThorofare, NJ :‡bSlack Inc.,‡c2000.",
            "300  ‡a2 v. :‡c26 cm. +‡e2 computer disks (3 1/2 in.)",
        ],
    );
    let d = decide(&a, &b);
    assert!(
        d.vetoes.iter().any(|v| matches!(v, Veto::SetIsbns { .. })),
        "{d:?}"
    );
    assert!(!d.same);
}

// Regression: LC 00370206 and 00370214, two volumes of one NSS report
// catalogued as open entries (`v. <1>`, `v. <2>`) with one title, were
// merged although the series numbers them 443 and 444.
#[test]
fn other_numbers_in_one_series_lc_00370206_00370214() {
    let record = |id: &str, f008: &str, vol: &str, s490: &str, no: &str| {
        let f245 = "24500‡aSmall trading units in India and their basic characteristics, 1997 :‡bNSS 53rd round, January-December 1997.";
        lc(
            id,
            f008,
            &[
                f245,
                "260  ‡a[New Delhi] :‡bNational Sample Survey Organisation, Dept. of Statistics, Govt. of India,‡c1998-",
                &format!("300  ‡av. <{vol}   > ;‡c30 cm."),
                &format!("4901 ‡a{s490} ;‡vno. {no} = 53/2.41.2/{vol}"),
                "7102 ‡aNational Sample Survey Organisation.",
                &format!("830 0‡aReport (National Sample Survey Organisation) ;‡vno. {no}."),
            ],
        )
    };
    let a = record(
        "00370206",
        "000724m19989999ii       s   f000 0 eng  ",
        "1",
        "Report",
        "443",
    );
    let b = record(
        "00370214",
        "000724m19989999ii       s   f000 0 eng  ",
        "2",
        "Revised report",
        "444",
    );
    let d = decide(&a, &b);
    assert!(
        d.vetoes.contains(&Veto::SeriesNumber {
            a: vec![443],
            b: vec![444]
        }),
        "{d:?}"
    );
    assert!(!d.same);
}

// Regression: LC 00369925 and 00369934, two series of the 1998 Cambodian
// census publications under one title (one with the subtitle "analysis
// of census results report"), were merged; their contents notes list
// other volumes.
#[test]
fn contents_notes_of_other_parts_lc_00369925_00369934() {
    let record = |id: &str, f008: &str, f245: &str, f300: &str, f505: &str| {
        lc(
            id,
            f008,
            &[
                f245,
                "260  ‡aPhnom Penh, Cambodia :‡bNational Institute of Statistics, Ministry of Planning,‡c1999-",
                f300,
                f505,
                "7102 ‡aNational Institute of Statistics (Cambodia)",
            ],
        )
    };
    let analysis = "5051 ‡a1. Fertility and mortality -- 2. Nuptiality -- 3. Labour force and employment -- 4. Housing and household amenities -- 5. Spatial distribution and migratory movements -- 6. Population projections, 2001-2021 -- 7. Literacy and education -- 8. Women in Cambodia";
    let a = record(
        "00369925",
        "011010m19999999cb ab    s   f000 0 eng  ",
        "24500‡aGeneral population census of Cambodia, 1998 :‡banalysis of census results report.",
        "300  ‡av. <1-8   > :‡bill., maps (some col.) ;‡c31 cm.",
        analysis,
    );
    let b = record(
        "00369934",
        "011011m19999999cb b     s   f000 0 eng  ",
        "24500‡aGeneral population census of Cambodia, 1998.",
        "300  ‡av. <1-4   > :‡bmaps ;‡c31 cm.",
        "5051 ‡a[1] Final census results -- [2] Census tables at national level Cambodia -- [3] Village gazetteer",
    );
    let d = decide(&a, &b);
    assert!(
        d.vetoes.iter().any(|v| matches!(v, Veto::Contents { .. })),
        "{d:?}"
    );
    assert!(!d.same);
    // The same set catalogued when only its first volumes were in: its
    // contents are part of the other's, and agree.
    let earlier = record(
        "00369925",
        "011010m19999999cb ab    s   f000 0 eng  ",
        "24500‡aGeneral population census of Cambodia, 1998 :‡banalysis of census results report.",
        "300  ‡av. <1-3   > :‡bill., maps (some col.) ;‡c31 cm.",
        "5051 ‡a1. Fertility and mortality -- 2. Nuptiality -- 3. Labour force and employment",
    );
    let d = decide(&a, &earlier);
    assert!(d.vetoes.is_empty() && d.same, "{d:?}");
}

// Regression (eval2 e2-00608/e2-03532, from LC 00331695 with the
// imprint of LC 00331943): `Varna : [s.n.]` and the same title, author,
// edition, year and extent from `Veliko Tărnovo : Abagar` were merged.
#[test]
fn unnamed_publisher_in_another_city_lc_00331695() {
    let record = |id: &str, imprint: &str| {
        lc(
            id,
            "000406s1998    bu            000 1 bul d",
            &[
                "1001 ‡aNikiforov, Galin.",
                "24510‡aPoslednata istina /",
                "250  ‡a1. izd.",
                imprint,
                "300  ‡a181 p. ;‡c20 cm.",
            ],
        )
    };
    let unnamed = record("00331695", "260  ‡aVarna :‡b[s.n.],‡c1998.");
    let elsewhere = record("e2-03532", "260  ‡aVeliko Tărnovo :‡bAbagar,‡c1998.");
    let d = decide(&unnamed, &elsewhere);
    let p = d.fields.iter().find(|f| f.field == "publisher").unwrap();
    assert_eq!((p.score, p.weight), (-1.0, 5.0), "{d:?}");
    assert!(!d.same, "{d:?}");
    // In the same city a name against `[s.n.]` stays weak evidence:
    // one library may not take the issuing body for the publisher.
    let here = record("e2-03532", "260  ‡aVarna :‡bAbagar,‡c1998.");
    assert!(decide(&unnamed, &here).same);
}
