//! The synthetic union-catalogue corpus of the benchmarks: N partner
//! records of books in Uzbek, Azerbaijani, Russian and English, spread over
//! four partner libraries, about a third of them duplicates of another
//! partner's record. Shared by the benchmark examples through
//! `#[path = "synth.rs"] mod synth;`.
//!
//! What the dedup has to get right, and so what the corpus holds:
//!
//! - **copies**: a book is catalogued by one, two or three partners (60 %,
//!   30 %, 10 %), which makes (0.3 + 2 × 0.1) / 1.5 = 33 % of the records
//!   duplicates;
//! - **cross-script copies**: each partner writes Uzbek and Azerbaijani in
//!   its own script (the Uzbek national library in Cyrillic, a university
//!   in Latin, …), with the right 008/35-37 language code, so an Uzbek book
//!   held by both appears once in each script; a university romanises
//!   Russian titles (ALA-LC without diacritics) with an 880 in Cyrillic;
//! - **ISBN-less copies**: a copy drops the ISBN with probability 0.3 (and
//!   books before 1990 have none), so it can only be matched by title,
//!   author and year; copies also lose their subtitle now and then and
//!   count the pages a little differently;
//! - **hard negatives**: about 3 % of the books are the second volume of
//!   the book before them (same title, author, year and publisher, `245 $n`
//!   differs) and 2 % a later edition of it (`250`, another year and ISBN),
//!   which the pair decision must keep apart.
//!
//! The transliteration follows `fixtures/eval/generate.py` (whose cross-
//! script pairs the dedup matches with precision and recall 1.0): Uzbek
//! words are written in Cyrillic and converted to the 1995 Latin alphabet,
//! Azerbaijani words are written in Latin and converted to the 1958
//! Cyrillic alphabet, Russian words are romanised letter by letter.
//!
//! Deterministic and random-access: book `b` and its copies are pure
//! functions of the seed and `b`, and [`Corpus`] yields records one at a
//! time, so nothing here holds more than one record.

use unicat_marc::{ControlField, DataField, Field, Record};

/// The default seed; change it to get another corpus of the same shape.
pub const SEED: u64 = 0x756e_6963_6174_0001;

/// A partner library of the synthetic corpus.
pub struct Partner {
    /// unicat's partner name (config `name`).
    pub name: &'static str,
    /// Holdings code (config `code`, 003, 040 $a).
    pub code: &'static str,
    /// Prefix of its 001 control numbers.
    prefix: &'static str,
    /// Language of cataloguing (040 $b, subject headings).
    cat_lang: &'static str,
    /// Whether it writes Uzbek in Cyrillic.
    uzb_cyrillic: bool,
    /// Whether it writes Azerbaijani in Cyrillic.
    aze_cyrillic: bool,
    /// Whether it romanises Russian (with the Cyrillic in an 880).
    rus_romanised: bool,
}

/// The four partners, in the order their copies of a book are assigned.
pub const PARTNERS: [Partner; 4] = [
    Partner {
        name: "anl",
        code: "AZ-BaNL",
        prefix: "AZNL",
        cat_lang: "aze",
        uzb_cyrillic: false,
        aze_cyrillic: false,
        rus_romanised: false,
    },
    Partner {
        name: "natlib-uz",
        code: "UZ-TaNL",
        prefix: "uznl",
        cat_lang: "uzb",
        uzb_cyrillic: true,
        aze_cyrillic: true,
        rus_romanised: false,
    },
    Partner {
        name: "nuu",
        code: "UZ-TaNUU",
        prefix: "nuu",
        cat_lang: "uzb",
        uzb_cyrillic: false,
        aze_cyrillic: false,
        rus_romanised: true,
    },
    Partner {
        name: "bsu",
        code: "AZ-BaBSU",
        prefix: "bsu",
        cat_lang: "aze",
        uzb_cyrillic: true,
        aze_cyrillic: true,
        rus_romanised: false,
    },
];

/// splitmix64: a hash of a 64-bit value, and the step of [`Rng`].
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A small deterministic generator (splitmix64), so the examples need no
/// dependency and every run sees the same records.
pub struct Rng(u64);

impl Rng {
    /// A generator for one purpose (`salt`) of one item (`n`).
    pub fn new(seed: u64, salt: u64, n: u64) -> Rng {
        Rng(mix(seed ^ mix(salt ^ mix(n))))
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lang {
    Uzb,
    Aze,
    Rus,
    Eng,
}

impl Lang {
    fn code(self) -> &'static str {
        match self {
            Lang::Uzb => "uzb",
            Lang::Aze => "aze",
            Lang::Rus => "rus",
            Lang::Eng => "eng",
        }
    }
}

/// Words of titles, in each language's source script (Uzbek and Russian
/// Cyrillic, Azerbaijani and English Latin).
const UZB_WORDS: &[&str] = &[
    "тарих",
    "адабиёт",
    "китоб",
    "илм",
    "дунё",
    "халқ",
    "тил",
    "маданият",
    "шеърлар",
    "қўшиқлар",
    "ҳикоялар",
    "дарслик",
    "асарлар",
    "ўзбек",
    "миллий",
    "замонавий",
    "иқтисодиёт",
    "фалсафа",
    "табиат",
    "ватан",
    "мерос",
    "ёшлар",
    "оила",
    "мактаб",
    "қишлоқ",
    "шаҳар",
    "баҳор",
    "юлдуз",
    "тонг",
    "сўз",
    "йўл",
    "ҳаёт",
    "инсон",
    "олам",
    "кеча",
    "кундуз",
    "ишқ",
    "муҳаббат",
    "саёҳат",
    "хотира",
];
const AZE_WORDS: &[&str] = &[
    "tarix",
    "ədəbiyyat",
    "kitab",
    "elm",
    "dünya",
    "xalq",
    "dil",
    "mədəniyyət",
    "şeirlər",
    "nağıllar",
    "hekayələr",
    "dərslik",
    "əsərlər",
    "Azərbaycan",
    "milli",
    "müasir",
    "iqtisadiyyat",
    "fəlsəfə",
    "təbiət",
    "vətən",
    "irs",
    "gənclik",
    "ailə",
    "məktəb",
    "kənd",
    "şəhər",
    "bahar",
    "ulduz",
    "səhər",
    "söz",
    "yol",
    "həyat",
    "insan",
    "aləm",
    "gecə",
    "gündüz",
    "eşq",
    "məhəbbət",
    "səyahət",
    "xatirə",
];
const RUS_WORDS: &[&str] = &[
    "история",
    "литература",
    "наука",
    "мир",
    "народ",
    "язык",
    "культура",
    "стихи",
    "рассказы",
    "сказки",
    "учебник",
    "сочинения",
    "русский",
    "современный",
    "экономика",
    "философия",
    "природа",
    "родина",
    "наследие",
    "молодость",
    "семья",
    "школа",
    "деревня",
    "город",
    "весна",
    "звезда",
    "утро",
    "слово",
    "дорога",
    "жизнь",
    "человек",
    "вселенная",
    "ночь",
    "день",
    "любовь",
    "путешествие",
    "память",
    "время",
    "земля",
    "море",
];
const ENG_WORDS: &[&str] = &[
    "history",
    "language",
    "science",
    "world",
    "people",
    "culture",
    "poems",
    "stories",
    "economics",
    "philosophy",
    "nature",
    "heritage",
    "youth",
    "family",
    "school",
    "village",
    "city",
    "spring",
    "star",
    "morning",
    "word",
    "road",
    "life",
    "mind",
    "universe",
    "night",
    "day",
    "love",
    "journey",
    "memory",
    "time",
    "earth",
    "sea",
    "modern",
    "national",
    "introduction",
    "essays",
    "principles",
    "studies",
    "steppe",
];

const UZB_SURNAMES: &[&str] = &[
    "Қодирий",
    "Каримов",
    "Тошматов",
    "Юсупов",
    "Раҳимова",
    "Ғуломов",
    "Ҳасанов",
    "Эргашев",
    "Носиров",
    "Жўраев",
    "Саидова",
    "Умаров",
    "Шукуров",
    "Мирзаев",
    "Йўлдошев",
    "Абдуллаев",
    "Хўжаев",
    "Ёқубов",
    "Назарова",
    "Қосимов",
];
const UZB_GIVEN: &[&str] = &[
    "Абдулла",
    "Эркин",
    "Ойбек",
    "Нигора",
    "Шавкат",
    "Дилноза",
    "Баҳодир",
    "Гулнора",
    "Отабек",
    "Зулфия",
];
const AZE_SURNAMES: &[&str] = &[
    "Əliyev",
    "Məmmədov",
    "Hüseynova",
    "Quliyev",
    "Həsənov",
    "Rzayev",
    "Süleymanov",
    "Cəfərov",
    "Nəbiyeva",
    "İsmayılov",
    "Abbasov",
    "Kərimova",
    "Şıxlı",
    "Orucov",
    "Bağırov",
    "Vəliyev",
    "Qasımov",
    "Zeynalova",
    "Mustafayev",
    "Hacıyev",
];
const AZE_GIVEN: &[&str] = &[
    "Elçin", "Rəşid", "Anar", "Səbinə", "Nizami", "Fuad", "Ləman", "Tofiq", "Günel", "Vüqar",
];
const RUS_SURNAMES: &[&str] = &[
    "Иванов",
    "Петрова",
    "Смирнов",
    "Кузнецов",
    "Соколова",
    "Попов",
    "Лебедев",
    "Козлов",
    "Новикова",
    "Морозов",
    "Волков",
    "Соловьев",
    "Васильев",
    "Зайцева",
    "Павлов",
    "Семенов",
    "Голубев",
    "Виноградов",
    "Богданова",
    "Федоров",
];
const RUS_GIVEN: &[&str] = &[
    "Александр",
    "Мария",
    "Сергей",
    "Елена",
    "Дмитрий",
    "Ольга",
    "Николай",
    "Татьяна",
    "Андрей",
    "Юлия",
];
const ENG_SURNAMES: &[&str] = &[
    "Smith", "Johnson", "Brown", "Taylor", "Wilson", "Davies", "Evans", "Thomas", "Roberts",
    "Walker", "Wright", "Green", "Hall", "Wood", "Clarke", "Hughes", "Edwards", "Turner", "Hill",
    "Moore",
];
const ENG_GIVEN: &[&str] = &[
    "John", "Anna", "Peter", "Sarah", "David", "Emma", "James", "Laura", "Robert", "Helen",
];

const UZB_SUBTITLES: &[&str] = &[
    "роман",
    "қисса",
    "шеърлар",
    "ўқув қўлланма",
    "илмий мақолалар тўплами",
];
const AZE_SUBTITLES: &[&str] = &[
    "roman",
    "povest",
    "şeirlər",
    "dərs vəsaiti",
    "elmi məqalələr toplusu",
];
const RUS_SUBTITLES: &[&str] = &[
    "роман",
    "повесть",
    "стихотворения",
    "учебное пособие",
    "сборник научных статей",
];
const ENG_SUBTITLES: &[&str] = &[
    "a novel",
    "selected poems",
    "a textbook",
    "collected essays",
    "an introduction",
];

/// (place, publisher) in the source script.
const UZB_PUBLISHERS: &[(&str, &str)] = &[
    ("Тошкент", "Шарқ"),
    ("Тошкент", "Фан"),
    ("Тошкент", "Ўзбекистон"),
    ("Тошкент", "Янги аср авлоди"),
    ("Тошкент", "Ўқитувчи"),
    ("Самарқанд", "СамДУ нашриёти"),
];
const AZE_PUBLISHERS: &[(&str, &str)] = &[
    ("Bakı", "Elm"),
    ("Bakı", "Yazıçı"),
    ("Bakı", "Gənclik"),
    ("Bakı", "Maarif"),
    ("Bakı", "Azərnəşr"),
    ("Bakı", "Şərq-Qərb"),
];
const RUS_PUBLISHERS: &[(&str, &str)] = &[
    ("Москва", "Наука"),
    ("Москва", "Эксмо"),
    ("Москва", "АСТ"),
    ("Санкт-Петербург", "Азбука"),
    ("Москва", "Просвещение"),
    ("Москва", "Художественная литература"),
];
const ENG_PUBLISHERS: &[(&str, &str)] = &[
    ("Cambridge", "Cambridge University Press"),
    ("Oxford", "Oxford University Press"),
    ("London", "Routledge"),
    ("Cham", "Springer"),
    ("New York", "Columbia University Press"),
    ("Bloomington", "Indiana University Press"),
];

/// Subject headings: Uzbek (Cyrillic source) and Azerbaijani (Latin).
const UZB_TOPICS: &[&str] = &[
    "Ўзбек адабиёти",
    "Тарих",
    "Тилшунослик",
    "Иқтисодиёт",
    "Фалсафа",
    "Шеърият",
    "Педагогика",
    "Табиатшунослик",
];
const AZE_TOPICS: &[&str] = &[
    "Azərbaycan ədəbiyyatı",
    "Tarix",
    "Dilçilik",
    "İqtisadiyyat",
    "Fəlsəfə",
    "Poeziya",
    "Pedaqogika",
    "Təbiətşünaslıq",
];

// ---------------------------------------------------------------------
// Transliteration (the tables of fixtures/eval/generate.py).

const OKINA: char = '\u{02BB}';
const TUTUQ: char = '\u{02BC}';

/// Uzbek Cyrillic → Uzbek Latin (1995 alphabet, canonical ʻ and ʼ).
fn uz_c2l(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &ch) in chars.iter().enumerate() {
        let lo = ch.to_lowercase().next().unwrap_or(ch);
        let prev = if i > 0 {
            chars[i - 1].to_lowercase().next().unwrap_or(' ')
        } else {
            ' '
        };
        let start = i == 0 || !chars[i - 1].is_alphabetic();
        let t: String = match lo {
            'е' if start || "аеёиоуэюяўъь".contains(prev) => "ye".into(),
            'е' => "e".into(),
            'ц' if !start && "аеёиоуэюяў".contains(prev) => "ts".into(),
            'ц' => "s".into(),
            'ҳ' if prev == 'с' => format!("{TUTUQ}h"),
            'а' => "a".into(),
            'б' => "b".into(),
            'в' => "v".into(),
            'г' => "g".into(),
            'д' => "d".into(),
            'ж' => "j".into(),
            'з' => "z".into(),
            'и' | 'ы' => "i".into(),
            'й' => "y".into(),
            'к' => "k".into(),
            'л' => "l".into(),
            'м' => "m".into(),
            'н' => "n".into(),
            'о' => "o".into(),
            'п' => "p".into(),
            'р' => "r".into(),
            'с' => "s".into(),
            'т' => "t".into(),
            'у' => "u".into(),
            'ф' => "f".into(),
            'х' => "x".into(),
            'ч' => "ch".into(),
            'ш' | 'щ' => "sh".into(),
            'ъ' => TUTUQ.to_string(),
            'ь' => String::new(),
            'э' => "e".into(),
            'ю' => "yu".into(),
            'я' => "ya".into(),
            'ё' => "yo".into(),
            'ў' => format!("o{OKINA}"),
            'қ' => "q".into(),
            'ғ' => format!("g{OKINA}"),
            'ҳ' => "h".into(),
            _ => {
                out.push(ch);
                continue;
            }
        };
        if ch != lo {
            let mut it = t.chars();
            if let Some(first) = it.next() {
                out.extend(first.to_uppercase());
                out.push_str(it.as_str());
            }
        } else {
            out.push_str(&t);
        }
    }
    out
}

/// Azerbaijani Latin → Azerbaijani Cyrillic (1958 alphabet).
fn az_l2c(s: &str) -> String {
    s.chars()
        .map(|ch| {
            if ch == 'İ' {
                return 'И';
            }
            if ch == 'I' {
                return 'Ы';
            }
            let lo = ch.to_lowercase().next().unwrap_or(ch);
            let c = match lo {
                'a' => 'а',
                'b' => 'б',
                'c' => 'ҹ',
                'ç' => 'ч',
                'd' => 'д',
                'e' => 'е',
                'ə' => 'ә',
                'f' => 'ф',
                'g' => 'ҝ',
                'ğ' => 'ғ',
                'h' => 'һ',
                'x' => 'х',
                'ı' => 'ы',
                'i' => 'и',
                'j' => 'ж',
                'k' => 'к',
                'q' => 'г',
                'l' => 'л',
                'm' => 'м',
                'n' => 'н',
                'o' => 'о',
                'ö' => 'ө',
                'p' => 'п',
                'r' => 'р',
                's' => 'с',
                'ş' => 'ш',
                't' => 'т',
                'u' => 'у',
                'ü' => 'ү',
                'v' => 'в',
                'y' => 'ј',
                'z' => 'з',
                _ => return ch,
            };
            if ch != lo {
                c.to_uppercase().next().unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

/// Russian Cyrillic → ALA-LC romanisation as copy cataloguing often
/// types it (no ligature ties, no diacritics).
fn ru_rom(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        let lo = ch.to_lowercase().next().unwrap_or(ch);
        let t = match lo {
            'а' => "a",
            'б' => "b",
            'в' => "v",
            'г' => "g",
            'д' => "d",
            'е' | 'ё' | 'э' => "e",
            'ж' => "zh",
            'з' => "z",
            'и' | 'й' => "i",
            'к' => "k",
            'л' => "l",
            'м' => "m",
            'н' => "n",
            'о' => "o",
            'п' => "p",
            'р' => "r",
            'с' => "s",
            'т' => "t",
            'у' => "u",
            'ф' => "f",
            'х' => "kh",
            'ц' => "ts",
            'ч' => "ch",
            'ш' => "sh",
            'щ' => "shch",
            'ъ' => "\"",
            'ы' => "y",
            'ь' => "'",
            'ю' => "iu",
            'я' => "ia",
            _ => {
                out.push(ch);
                continue;
            }
        };
        if ch != lo {
            let mut it = t.chars();
            if let Some(first) = it.next() {
                out.extend(first.to_uppercase());
                out.push_str(it.as_str());
            }
        } else {
            out.push_str(t);
        }
    }
    out
}

// ---------------------------------------------------------------------
// Books.

/// What distinguishes a book from the one before it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Plain,
    /// Volume 2 of the book before (which is then volume 1).
    SecondVolume,
    /// A later edition of the book before.
    LaterEdition,
}

fn raw_kind(seed: u64, b: u64) -> Kind {
    match Rng::new(seed, 1, b).below(1000) {
        0..=29 => Kind::SecondVolume,
        30..=49 => Kind::LaterEdition,
        _ => Kind::Plain,
    }
}

/// A book's kind; a sibling's parent is always a plain book, so siblings
/// never chain.
fn kind(seed: u64, b: u64) -> Kind {
    if b == 0 || raw_kind(seed, b - 1) != Kind::Plain {
        Kind::Plain
    } else {
        raw_kind(seed, b)
    }
}

/// How many partners hold book `b` (1, 2 or 3).
pub fn copies(seed: u64, b: u64) -> u64 {
    match Rng::new(seed, 2, b).below(100) {
        0..=59 => 1,
        60..=89 => 2,
        _ => 3,
    }
}

/// One manifestation, in its language's source script.
struct Book {
    lang: Lang,
    title: Vec<&'static str>,
    subtitle: &'static str,
    surname: &'static str,
    given: &'static str,
    born: u32,
    year: u32,
    place: &'static str,
    publisher: &'static str,
    pages: u32,
    isbn: Option<u64>,
    volume: Option<u32>,
    edition: Option<u32>,
    topic: usize,
    /// The partner that holds copy 0.
    home: usize,
}

fn base_book(seed: u64, b: u64) -> Book {
    let mut r = Rng::new(seed, 3, b);
    let lang = match r.below(100) {
        0..=34 => Lang::Uzb,
        35..=59 => Lang::Aze,
        60..=84 => Lang::Rus,
        _ => Lang::Eng,
    };
    let (words, surnames, given, subtitles, publishers) = match lang {
        Lang::Uzb => (
            UZB_WORDS,
            UZB_SURNAMES,
            UZB_GIVEN,
            UZB_SUBTITLES,
            UZB_PUBLISHERS,
        ),
        Lang::Aze => (
            AZE_WORDS,
            AZE_SURNAMES,
            AZE_GIVEN,
            AZE_SUBTITLES,
            AZE_PUBLISHERS,
        ),
        Lang::Rus => (
            RUS_WORDS,
            RUS_SURNAMES,
            RUS_GIVEN,
            RUS_SUBTITLES,
            RUS_PUBLISHERS,
        ),
        Lang::Eng => (
            ENG_WORDS,
            ENG_SURNAMES,
            ENG_GIVEN,
            ENG_SUBTITLES,
            ENG_PUBLISHERS,
        ),
    };
    let n_words = 2 + r.below(3) as usize;
    let title = (0..n_words).map(|_| r.pick(words)).collect();
    let (place, publisher) = publishers[r.below(publishers.len() as u64) as usize];
    let year = 1960 + r.below(65) as u32;
    let home = match (lang, r.below(2)) {
        (Lang::Uzb, 0) => 1,
        (Lang::Uzb, _) => 2,
        (Lang::Aze, 0) => 0,
        (Lang::Aze, _) => 3,
        (Lang::Eng, 0) => 2,
        (Lang::Eng, _) => 0,
        (Lang::Rus, _) => r.below(4) as usize,
    };
    Book {
        lang,
        title,
        subtitle: r.pick(subtitles),
        surname: r.pick(surnames),
        given: r.pick(given),
        born: year - 25 - r.below(50) as u32,
        year,
        place,
        publisher,
        pages: 48 + r.below(600) as u32,
        isbn: (year >= 1990).then(|| mix(seed ^ b) % 1_000_000_000),
        volume: None,
        edition: None,
        topic: r.below(UZB_TOPICS.len() as u64) as usize,
        home,
    }
}

fn book(seed: u64, b: u64) -> Book {
    match kind(seed, b) {
        Kind::Plain => {
            let mut book = base_book(seed, b);
            if kind(seed, b + 1) == Kind::SecondVolume {
                book.volume = Some(1);
            }
            book
        }
        Kind::SecondVolume => {
            let mut book = base_book(seed, b - 1);
            book.volume = Some(2);
            book.pages += 20;
            book.isbn = book.isbn.map(|i| (i + 1) % 1_000_000_000);
            book
        }
        Kind::LaterEdition => {
            let mut book = base_book(seed, b - 1);
            book.edition = Some(2);
            book.year = (book.year + 2 + Rng::new(seed, 4, b).below(6) as u32).min(2025);
            book.pages += book.pages / 10 + 12;
            book.isbn = Some(mix(seed ^ b) % 1_000_000_000);
            book
        }
    }
}

/// ISBN-13 with a correct check digit from a 9-digit number.
fn isbn13(n: u64) -> String {
    let body = format!("978{:09}", n % 1_000_000_000);
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, c)| u32::from(c - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// One partner record of the corpus: copy `copy` of book `book`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item {
    /// Book number.
    pub book: u64,
    /// Copy number (0 is the home partner's).
    pub copy: u64,
}

impl Item {
    /// Index into [`PARTNERS`] of the partner holding this copy.
    pub fn partner(&self, seed: u64) -> usize {
        (book(seed, self.book).home + self.copy as usize) % PARTNERS.len()
    }

    /// The record's OAI identifier at its partner.
    pub fn identifier(&self, seed: u64) -> String {
        format!(
            "oai:{}:{}-{}",
            PARTNERS[self.partner(seed)].name,
            self.book,
            self.copy
        )
    }

    /// The item an OAI identifier made by [`Item::identifier`] names.
    #[allow(
        dead_code,
        reason = "the changes of bench/suite.rs need it, bench/pipeline.rs does not"
    )]
    pub fn from_identifier(id: &str) -> Option<Item> {
        let (b, c) = id.rsplit(':').next()?.split_once('-')?;
        Some(Item {
            book: b.parse().ok()?,
            copy: c.parse().ok()?,
        })
    }
}

/// The records of a corpus of `n` records, in book order.
pub struct Corpus {
    seed: u64,
    n: u64,
    emitted: u64,
    book: u64,
    copy: u64,
}

impl Corpus {
    /// The first `n` records of the corpus of `seed`.
    pub fn new(seed: u64, n: u64) -> Corpus {
        Corpus {
            seed,
            n,
            emitted: 0,
            book: 0,
            copy: 0,
        }
    }

    /// Books started so far: after the iteration, the number of distinct
    /// manifestations, which a perfect dedup makes into as many union
    /// records.
    pub fn books(&self) -> u64 {
        self.book + u64::from(self.copy > 0)
    }
}

impl Iterator for Corpus {
    type Item = Item;
    fn next(&mut self) -> Option<Item> {
        if self.emitted == self.n {
            return None;
        }
        let item = Item {
            book: self.book,
            copy: self.copy,
        };
        self.emitted += 1;
        self.copy += 1;
        if self.copy == copies(self.seed, self.book) {
            self.book += 1;
            self.copy = 0;
        }
        Some(item)
    }
}

/// How a record differs from the book as first described.
#[derive(Clone, Copy, Debug, Default)]
pub struct Variant {
    /// The partner corrected the title (the incremental benchmark's edit).
    pub retitled: bool,
}

fn edition_text(lang: Lang, n: u32) -> String {
    match lang {
        Lang::Uzb => format!("{n}-нашр"),
        Lang::Aze => format!("{n}-ci nəşr"),
        Lang::Rus => format!("{n}-е изд."),
        Lang::Eng => format!("{n}nd ed."),
    }
}

fn volume_text(lang: Lang, n: u32) -> String {
    match lang {
        Lang::Uzb => format!("{n}-жилд"),
        Lang::Aze => format!("{n}-ci cild"),
        Lang::Rus => format!("т. {n}"),
        Lang::Eng => format!("v. {n}"),
    }
}

fn country(lang: Lang, place: &str) -> &'static str {
    match lang {
        Lang::Uzb => "uz ",
        Lang::Aze => "aj ",
        Lang::Rus => "ru ",
        Lang::Eng if place == "New York" => "nyu",
        Lang::Eng if place == "Bloomington" => "inu",
        Lang::Eng if place == "Cham" => "sz ",
        Lang::Eng => "enk",
    }
}

fn data(tag: &str, ind1: char, ind2: char, subfields: &[(char, String)]) -> Field {
    let mut f = DataField::new(tag, ind1, ind2);
    for (c, v) in subfields {
        f.push(*c, v.clone());
    }
    Field::Data(f)
}

fn control(tag: &str, value: String) -> Field {
    Field::Control(ControlField {
        tag: tag.into(),
        value,
    })
}

/// The MARC record of `item` as its partner catalogues it.
pub fn record(seed: u64, item: Item, variant: Variant) -> Record {
    let bk = book(seed, item.book);
    let p = &PARTNERS[item.partner(seed)];
    let mut r = Rng::new(seed, 5, item.book.wrapping_mul(8).wrapping_add(item.copy));
    // The script this partner writes the book's language in; `to_script`
    // turns a source-script text into it.
    let (cyrillic, romanised) = match bk.lang {
        Lang::Uzb => (p.uzb_cyrillic, false),
        Lang::Aze => (p.aze_cyrillic, false),
        Lang::Rus => (!p.rus_romanised, p.rus_romanised),
        Lang::Eng => (false, false),
    };
    let to_script = |s: &str| -> String {
        match bk.lang {
            Lang::Uzb if !cyrillic => uz_c2l(s),
            Lang::Aze if cyrillic => az_l2c(s),
            Lang::Rus if romanised => ru_rom(s),
            _ => s.to_string(),
        }
    };
    let cat_uzb = p.cat_lang == "uzb";
    let cat = |uzb_cyr: &str, aze_lat: &str| -> String {
        match (cat_uzb, p.uzb_cyrillic) {
            (true, true) => uzb_cyr.to_string(),
            (true, false) => uz_c2l(uzb_cyr),
            (false, true) => az_l2c(aze_lat),
            (false, false) => aze_lat.to_string(),
        }
    };

    let mut title: Vec<&str> = bk.title.clone();
    if variant.retitled {
        // A corrected title: one word more, so the record leaves its cluster.
        let mut t = Rng::new(seed, 6, item.book);
        let words = match bk.lang {
            Lang::Uzb => UZB_WORDS,
            Lang::Aze => AZE_WORDS,
            Lang::Rus => RUS_WORDS,
            Lang::Eng => ENG_WORDS,
        };
        title.push(t.pick(words));
        title.push(t.pick(words));
    }
    let mut title = title.join(" ");
    if let Some(first) = title.chars().next() {
        let upper: String = first.to_uppercase().collect();
        title.replace_range(..first.len_utf8(), &upper);
    }
    let keep_isbn = item.copy == 0 || !r.chance(30);
    let keep_subtitle = item.copy == 0 || !r.chance(20);
    let pages = bk.pages + if item.copy == 0 { 0 } else { r.below(3) as u32 };
    let with_dates = r.chance(50);

    let mut rec = Record::new("00000nam a2200000 i 4500");
    let id = format!("{}{:09}{}", p.prefix, item.book, item.copy);
    rec.push(control("001", id.clone()));
    rec.push(control("003", p.code.into()));
    rec.push(control(
        "005",
        format!(
            "20{:02}{:02}{:02}1{:05}.0",
            14 + r.below(11),
            1 + r.below(12),
            1 + r.below(28),
            r.below(100_000)
        ),
    ));
    let f008 = format!(
        "{:02}{:02}{:02}s{}    {}a     b    000 {} {} d",
        10 + r.below(15),
        1 + r.below(12),
        1 + r.below(28),
        bk.year,
        country(bk.lang, bk.place),
        if bk.subtitle.contains("ром") || bk.subtitle.contains("rom") {
            '1'
        } else {
            '0'
        },
        bk.lang.code()
    );
    debug_assert_eq!(f008.chars().count(), 40, "{f008}");
    rec.push(control("008", f008));
    if let (Some(isbn), true) = (bk.isbn, keep_isbn) {
        let mut sf = vec![('a', isbn13(isbn))];
        if let Some(v) = bk.volume {
            sf.push(('q', format!("({})", to_script(&volume_text(bk.lang, v)))));
        }
        rec.push(data("020", ' ', ' ', &sf));
    }
    rec.push(data("035", ' ', ' ', &[('a', format!("({}){id}", p.code))]));
    rec.push(data(
        "040",
        ' ',
        ' ',
        &[
            ('a', p.code.into()),
            ('b', p.cat_lang.into()),
            ('e', "rda".into()),
            ('c', p.code.into()),
        ],
    ));
    let author = to_script(&format!("{}, {},", bk.surname, bk.given));
    let mut f100 = vec![('a', author)];
    if with_dates {
        f100.push(('d', format!("{}-", bk.born)));
    }
    f100.push(('e', cat("муаллиф.", "müəllif.")));
    rec.push(data("100", '1', ' ', &f100));

    let statement = to_script(&format!("{} {}", bk.given, bk.surname));
    let mut f245 = Vec::new();
    let title_s = to_script(&title);
    let sub_s = to_script(bk.subtitle);
    let mut a = title_s.clone();
    if keep_subtitle {
        a.push_str(" :");
        f245.push(('a', a));
        f245.push((
            'b',
            format!("{sub_s}{}", if bk.volume.is_some() { "." } else { " /" }),
        ));
    } else {
        a.push_str(if bk.volume.is_some() { "." } else { " /" });
        f245.push(('a', a));
    }
    if let Some(v) = bk.volume {
        f245.push(('n', format!("{} /", to_script(&volume_text(bk.lang, v)))));
    }
    f245.push(('c', format!("{statement}.")));
    if romanised {
        // LC practice: romanised 245, the original script in a linked 880.
        let mut linked = vec![('6', "880-01".to_string())];
        linked.extend(f245.iter().cloned());
        rec.push(data("245", '1', '0', &linked));
    } else {
        rec.push(data("245", '1', '0', &f245));
    }
    if let Some(e) = bk.edition {
        rec.push(data(
            "250",
            ' ',
            ' ',
            &[('a', to_script(&edition_text(bk.lang, e)))],
        ));
    }
    rec.push(data(
        "264",
        ' ',
        '1',
        &[
            ('a', format!("{} :", to_script(bk.place))),
            ('b', format!("{},", to_script(bk.publisher))),
            ('c', format!("{}.", bk.year)),
        ],
    ));
    let pages_word = match (bk.lang, cyrillic) {
        (Lang::Uzb, true) => "б.",
        (Lang::Uzb, false) => "b.",
        (Lang::Aze, true) => "сәһ.",
        (Lang::Aze, false) => "səh.",
        (Lang::Rus, true) => "с.",
        (Lang::Rus, false) => "s.",
        (Lang::Eng, _) => "pages",
    };
    rec.push(data(
        "300",
        ' ',
        ' ',
        &[
            ('a', format!("{pages} {pages_word} ;")),
            ('c', format!("{} sm", 20 + r.below(3))),
        ],
    ));
    rec.push(data(
        "336",
        ' ',
        ' ',
        &[
            ('a', cat("матн", "mətn")),
            ('b', "txt".into()),
            ('2', "rdacontent".into()),
        ],
    ));
    rec.push(data(
        "337",
        ' ',
        ' ',
        &[
            ('a', cat("воситасиз", "vasitəsiz")),
            ('b', "n".into()),
            ('2', "rdamedia".into()),
        ],
    ));
    rec.push(data(
        "338",
        ' ',
        ' ',
        &[
            ('a', cat("жилд", "cild")),
            ('b', "nc".into()),
            ('2', "rdacarrier".into()),
        ],
    ));
    if r.chance(40) {
        rec.push(data(
            "504",
            ' ',
            ' ',
            &[(
                'a',
                cat("Библиография: б. 210-215.", "Biblioqrafiya: s. 210-215."),
            )],
        ));
    }
    rec.push(data(
        "650",
        ' ',
        '7',
        &[
            ('a', cat(UZB_TOPICS[bk.topic], AZE_TOPICS[bk.topic])),
            ('2', "local".into()),
        ],
    ));
    if romanised {
        let mut linked = vec![('6', "245-01/(N".to_string())];
        linked.extend(f245_source(&bk, &title, keep_subtitle));
        rec.push(data("880", '1', '0', &linked));
    }
    rec.push(data(
        "952",
        ' ',
        ' ',
        &[
            ('a', p.code.into()),
            ('o', format!("{}.{}", 80 + r.below(20), r.below(1000))),
            ('p', format!("{:010}", r.below(10_000_000_000))),
        ],
    ));
    rec
}

/// The 245 subfields in the book's source script (for the 880).
fn f245_source(bk: &Book, title: &str, keep_subtitle: bool) -> Vec<(char, String)> {
    let mut out = Vec::new();
    if keep_subtitle {
        out.push(('a', format!("{title} :")));
        out.push(('b', format!("{} /", bk.subtitle)));
    } else {
        out.push(('a', format!("{title} /")));
    }
    out.push(('c', format!("{} {}.", bk.given, bk.surname)));
    out
}

/// Panics if the transliteration has drifted from the hand-checked pairs
/// of the evaluation generator (a corpus whose cross-script copies no
/// longer match would measure the wrong thing). Cheap; run at start.
pub fn self_check() {
    assert_eq!(uz_c2l("Ўзбекистон"), "Oʻzbekiston");
    assert_eq!(uz_c2l("Ғулом"), "Gʻulom");
    assert_eq!(uz_c2l("ёшлар"), "yoshlar");
    assert_eq!(uz_c2l("Ҳикоялар"), "Hikoyalar");
    assert_eq!(az_l2c("Azərbaycan"), "Азәрбајҹан");
    assert_eq!(az_l2c("İsmayılov"), "Исмајылов");
    assert_eq!(ru_rom("Художественная"), "Khudozhestvennaia");
}
