//! Writes N synthetic but realistic MARCXML records, for the conversion
//! benchmark (`bench/marc.sh`).
//!
//! ```text
//! cargo run --release -p unicat-marc --example gen_marcxml -- N OUT.xml [SEED]
//! ```
//!
//! The records look like our partners' book records: 001/003/005/008,
//! ISBN, system numbers, language codes, an author, a title with ISBD
//! punctuation, an imprint, physical description, content types, notes,
//! subjects, added entries, 880 fields in Cyrillic linked by $6, and local
//! 9XX holdings; Latin text with Azerbaijani and Uzbek letters. Output is
//! deterministic for a given N and SEED.

use std::fs::File;
use std::io::BufWriter;
use std::process::ExitCode;

use unicat_marc::marcxml::CollectionWriter;
use unicat_marc::{ControlField, DataField, Record};

/// xorshift64*, so the example needs no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const SURNAMES: &[&str] = &[
    "Qodiriy",
    "Nizomiy",
    "Hüseynov",
    "Məmmədova",
    "Əliyev",
    "Karimov",
    "Toʻxtayeva",
    "Smith",
    "Ivanov",
    "Rashidov",
    "Gʻafurov",
    "Şıxlı",
    "Abdullayev",
    "Chen",
    "Müller",
];
const GIVEN: &[&str] = &[
    "Abdulla", "Cholpon", "Elçin", "Nigora", "Rəşid", "Oʻlmas", "John", "Anna", "Timur", "Şahin",
];
const WORDS: &[&str] = &[
    "tarix",
    "adabiyot",
    "ədəbiyyat",
    "kitob",
    "dunyo",
    "xalq",
    "məktəb",
    "oʻzbek",
    "til",
    "history",
    "language",
    "economics",
    "poetry",
    "qoʻshiqlari",
    "şeirlər",
    "roman",
    "ilm",
    "jamiyat",
    "cəmiyyət",
    "madaniyat",
    "mədəniyyət",
    "study",
    "of",
    "the",
    "and",
    "new",
];
const CYRILLIC: &[&str] = &[
    "тарих",
    "адабиёт",
    "китоб",
    "дунё",
    "халқ",
    "мактаб",
    "ўзбек",
    "тил",
    "шеърлар",
    "роман",
    "илм",
    "жамият",
    "маданият",
    "ҳаёт",
    "Қодирий",
    "Абдулла",
    "Тошкент",
    "Боку",
];
const PLACES: &[&str] = &["Toshkent", "Bakı", "Samarqand", "Gəncə", "London", "Moskva"];
const PUBLISHERS: &[&str] = &[
    "Sharq",
    "Yangi asr avlodi",
    "Öndər",
    "Elm",
    "Gʻafur Gʻulom nomidagi nashriyot",
    "Oxford UP",
];
const SUBJECTS: &[&str] = &[
    "Uzbek literature",
    "Azerbaijani poetry",
    "History",
    "Economics",
    "Linguistics",
    "Turkic languages",
    "Education",
    "Folklore",
    "Central Asia",
    "Caucasus",
];

fn words(rng: &mut Rng, list: &[&str], count: usize) -> String {
    let mut out = String::new();
    for i in 0..count {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(rng.pick(list));
    }
    out
}

fn record(rng: &mut Rng, n: usize) -> Record {
    let mut r = Record::new("00000cam a2200000 i 4500");
    let year = 1950 + rng.below(75);
    r.push(ControlField::new("001", format!("uc{n:09}")).into());
    r.push(ControlField::new("003", "UzTaNL").into());
    r.push(
        ControlField::new(
            "005",
            format!(
                "2024{:02}{:02}120000.0",
                1 + rng.below(12),
                1 + rng.below(28)
            ),
        )
        .into(),
    );
    let lang = rng.pick(&["uzb", "aze", "rus", "eng"]);
    r.push(
        ControlField::new(
            "008",
            format!("240101s{year}    uz a          000 0 {lang} d"),
        )
        .into(),
    );
    r.push(
        DataField::new("020", ' ', ' ')
            .with('a', format!("978{:010}", rng.next() % 10_000_000_000))
            .with('q', "(paperback)")
            .into(),
    );
    r.push(
        DataField::new("035", ' ', ' ')
            .with('a', format!("(OCoLC){}", rng.next() % 1_000_000_000))
            .into(),
    );
    r.push(
        DataField::new("040", ' ', ' ')
            .with('a', "UzTaNL")
            .with('b', lang)
            .with('e', "rda")
            .with('c', "UzTaNL")
            .into(),
    );
    r.push(DataField::new("041", '0', ' ').with('a', lang).into());
    let surname = rng.pick(SURNAMES);
    let given = rng.pick(GIVEN);
    r.push(
        DataField::new("100", '1', ' ')
            .with('6', "880-01")
            .with('a', format!("{surname}, {given},"))
            .with('d', format!("{}-", year - 30))
            .with('e', "author.")
            .into(),
    );
    let title_words = 2 + rng.below(6);
    r.push(
        DataField::new("245", '1', '0')
            .with('6', "880-02")
            .with('a', format!("{} :", words(rng, WORDS, title_words)))
            .with('b', format!("{} /", words(rng, WORDS, 3)))
            .with('c', format!("{given} {surname}."))
            .into(),
    );
    r.push(
        DataField::new("250", ' ', ' ')
            .with('a', format!("{}-nashr.", 1 + rng.below(5)))
            .into(),
    );
    r.push(
        DataField::new("264", ' ', '1')
            .with('a', format!("{} :", rng.pick(PLACES)))
            .with('b', format!("{},", rng.pick(PUBLISHERS)))
            .with('c', format!("{year}."))
            .into(),
    );
    r.push(
        DataField::new("300", ' ', ' ')
            .with('a', format!("{} pages :", 50 + rng.below(900)))
            .with('b', "illustrations ;")
            .with('c', "21 cm")
            .into(),
    );
    for (tag, a, b, source) in [
        ("336", "text", "txt", "rdacontent"),
        ("337", "unmediated", "n", "rdamedia"),
        ("338", "volume", "nc", "rdacarrier"),
    ] {
        r.push(
            DataField::new(tag, ' ', ' ')
                .with('a', a)
                .with('b', b)
                .with('2', source)
                .into(),
        );
    }
    for _ in 0..rng.below(3) {
        let count = 5 + rng.below(20);
        r.push(
            DataField::new("500", ' ', ' ')
                .with('a', format!("{}.", words(rng, WORDS, count)))
                .into(),
        );
    }
    for _ in 0..1 + rng.below(4) {
        r.push(
            DataField::new("650", ' ', '0')
                .with('a', rng.pick(SUBJECTS))
                .with('x', "History")
                .with('y', "20th century.")
                .into(),
        );
    }
    if rng.below(2) == 0 {
        r.push(
            DataField::new("700", '1', ' ')
                .with('a', format!("{}, {},", rng.pick(SURNAMES), rng.pick(GIVEN)))
                .with('e', "editor.")
                .into(),
        );
    }
    r.push(
        DataField::new("880", '1', ' ')
            .with('6', "100-01/(N")
            .with(
                'a',
                format!("{}, {},", rng.pick(CYRILLIC), rng.pick(CYRILLIC)),
            )
            .into(),
    );
    r.push(
        DataField::new("880", '1', '0')
            .with('6', "245-02/(N")
            .with('a', format!("{} :", words(rng, CYRILLIC, title_words)))
            .with('b', words(rng, CYRILLIC, 3))
            .into(),
    );
    r.push(
        DataField::new("952", ' ', ' ')
            .with('a', "UzTaNL")
            .with('b', "Main")
            .with('p', format!("{:08}", rng.next() % 100_000_000))
            .with('y', "BK")
            .into(),
    );
    r
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(n), Some(out)) = (
        args.first().and_then(|n| n.parse::<usize>().ok()),
        args.get(1),
    ) else {
        eprintln!("usage: gen_marcxml N OUT.xml [SEED]");
        return ExitCode::from(2);
    };
    let seed = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_u64);
    let mut rng = Rng(seed.max(1));
    let result = File::create(out).and_then(|file| {
        let mut writer = CollectionWriter::new(BufWriter::with_capacity(1 << 20, file))?;
        for i in 0..n {
            writer.write(&record(&mut rng, i))?;
        }
        writer.finish().map(drop)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gen_marcxml: writing {out}: {err}");
            ExitCode::FAILURE
        }
    }
}
