//! The letter tables: what each Cyrillic letter is in the scheme of a
//! language (Uzbek 1995 Latin, Azerbaijani 1991 Latin, and the BGN/PCGN-based
//! reading used for Russian and the other alphabets, with their few own
//! letters), and the skeleton class of Latin letters that are not plain ASCII.
//! Kept apart from the folding machinery in the parent module so that a
//! table can be checked against its published source on its own; the
//! sources are named in `fixtures/translit/README.md`.

use unicode_normalization::UnicodeNormalization;

use super::{Lang, LETTERS};

/// Latin letters that romanise different Cyrillic letters in different
/// languages' tables.
pub(super) fn latin_in(c: char, scheme: Lang) -> Option<&'static str> {
    let turkic = matches!(
        scheme,
        Lang::Azerbaijani
            | Lang::Kazakh
            | Lang::Kyrgyz
            | Lang::Tatar
            | Lang::Bashkir
            | Lang::Turkmen
            | Lang::Uzbek
            | Lang::Tajik
    );
    Some(match c {
        // ALA-LC ә (Romanian ă stays a).
        'ă' if turkic => "e",
        // Bulgarian ъ in cyrtranslit (`Rodăt`), ALA-LC ŭ.
        'ă' if scheme == Lang::Bulgarian => "u",
        // ALA-LC Uzbek ў is oʻ; Belarusian ў and Bulgarian ъ are u.
        'ŭ' if scheme == Lang::Uzbek => "o",
        'ŭ' => "u",
        // ё: e in Russian, Ukrainian, Bulgarian and Mongolian print, yo
        // (io) in the others.
        'ë' if turkic || scheme == Lang::Belarusian => "yo",
        // ң: Kazakh and Tatar ñ, Turkmen ň, ISO 9 ņ; everyone else ng.
        'ñ' | 'ň' | 'ņ' if turkic => "ng",
        // ISO 9 щ, which is sht in Bulgarian.
        'ŝ' if scheme == Lang::Bulgarian => "sht",
        // ISO 9 қ and Bashkir ҡ.
        'ķ' | 'ǩ' if turkic || scheme == Lang::Bashkir => "q",
        // ISO 9 Bulgarian ъ (where the Libris table has ʺ): the vowel,
        // ALA-LC ŭ.
        'ǎ' if scheme == Lang::Bulgarian => "u",
        // ISO 9 Azerbaijani ј, the glide (national y, ALA-LC i̐).
        'ǰ' if scheme == Lang::Azerbaijani => "y",
        _ => return None,
    })
}

/// Latin letters whose diacritic matters, with their folded spelling. Other
/// Latin letters lose their diacritics.
pub(super) fn latin_special(c: char) -> Option<&'static str> {
    Some(match c {
        'ə' | 'ǝ' | 'ä' => "e",
        'ı' | 'ɨ' => "i",
        'ğ' | 'ǧ' => "g",
        'š' | 'ş' | 'ș' => "sh",
        'č' | 'ç' => "ch",
        'ž' => "zh",
        // ISO 9 щ, я, ю, ѕ.
        'ŝ' => "shch",
        'ẑ' => "dz",
        'â' => "ya",
        'û' => "yu",
        // ALA-LC й, and ALA-LC Uzbek and Belarusian ў.
        'ĭ' => "y",
        'ł' => "l",
        'ø' => "o",
        'đ' => "dj",
        'ð' => "d",
        'þ' => "th",
        'æ' => "ae",
        'œ' => "oe",
        'ß' => "ss",
        'ŋ' => "ng",
        'ħ' => "h",
        'ȷ' => "j",
        _ => return None,
    })
}

/// The ASCII letter under a Latin letter's diacritics, if there is one.
pub(super) fn ascii_base(c: char) -> Option<&'static str> {
    let base = base_char(c).to_ascii_lowercase();
    base.is_ascii_lowercase()
        .then(|| LETTERS[usize::from(base as u8 - b'a')])
}

/// The first character of a character's canonical decomposition: the
/// letter without its accents.
pub(super) fn base_char(c: char) -> char {
    std::iter::once(c).nfd().next().unwrap_or(c)
}

/// A lower-case Cyrillic letter in the given scheme, as ASCII letters for
/// the Latin fold (empty for the signs); `None` for a letter no scheme
/// knows, which is then kept as it is.
pub(super) fn cyrillic(c: char, scheme: Lang, after_vowel: bool) -> Option<&'static str> {
    let own = match scheme {
        Lang::Uzbek => uzbek(c, after_vowel),
        Lang::Azerbaijani => azerbaijani(c),
        Lang::Ukrainian => match c {
            'г' => Some("h"),
            'и' => Some("y"),
            'ї' => Some("i"),
            'є' => Some("e"),
            _ => None,
        },
        Lang::Belarusian => match c {
            'г' => Some("h"),
            'ў' => Some("u"),
            'ё' => Some("io"),
            _ => None,
        },
        Lang::Bulgarian => match c {
            'щ' => Some("sht"),
            'ъ' => Some("u"),
            _ => None,
        },
        Lang::Bashkir if c == 'ҡ' => Some("q"),
        Lang::Kazakh | Lang::Kyrgyz | Lang::Tajik | Lang::Tatar | Lang::Bashkir | Lang::Turkmen
            if c == 'ё' =>
        {
            Some("yo")
        }
        _ => None,
    };
    own.or_else(|| russian(c))
}

/// The Uzbek letters whose 1995 Latin spelling differs from the Russian
/// table (ў oʻ, ғ gʻ, қ q, ҳ h fold the same from either).
pub(super) fn uzbek(c: char, after_vowel: bool) -> Option<&'static str> {
    Some(match c {
        'ж' => "j",
        'х' => "x",
        'ц' if after_vowel => "ts",
        'ц' => "s",
        'ы' => "i",
        'ё' => "yo",
        'ю' => "yu",
        'я' => "ya",
        _ => return None,
    })
}

/// The Azerbaijani letters whose Latin spelling differs from the Russian
/// table (ә ə, ҝ g, ҹ c, ј y, һ h, ө ö, ү ü, ч ç, ш ş fold the same from
/// either). The 1939-1958 alphabet wrote g as қ and c as ҷ.
pub(super) fn azerbaijani(c: char) -> Option<&'static str> {
    Some(match c {
        'г' => "q",
        'қ' => "g",
        'ҷ' => "c",
        'ж' => "j",
        'х' => "x",
        'ы' => "i",
        'ё' => "yo",
        'ю' => "yu",
        'я' => "ya",
        _ => return None,
    })
}

/// The Russian table, also used for the letters of other Cyrillic
/// alphabets.
pub(super) fn russian(c: char) -> Option<&'static str> {
    Some(match c {
        'а' => "a",
        'б' => "b",
        'в' => "v",
        'г' => "g",
        'д' => "d",
        'е' | 'ё' | 'э' => "e",
        'ж' => "zh",
        'з' => "z",
        'и' => "i",
        'й' => "y",
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
        'ъ' | 'ь' => "",
        'ы' => "y",
        'ю' => "iu",
        'я' => "ia",
        // Uzbek, Azerbaijani, Kazakh, Kyrgyz, Tajik, Tatar.
        'ў' | 'ө' => "o",
        'қ' => "q",
        'ғ' | 'ҝ' | 'ґ' | 'ѓ' => "g",
        'ҳ' | 'һ' => "h",
        'ә' | 'ӗ' => "e",
        'ҹ' | 'ћ' => "c",
        'ј' => "y",
        'ү' | 'ұ' | 'ӯ' => "u",
        'ң' => "ng",
        'і' | 'ӣ' | 'ѵ' => "i",
        'ҷ' | 'җ' => "j",
        'ҙ' => "z",
        'ҫ' => "s",
        'ӑ' => "a",
        // Ukrainian, Serbian, Macedonian.
        'ї' => "yi",
        'є' => "ye",
        'ђ' => "dj",
        'љ' => "lj",
        'њ' => "nj",
        'џ' => "dzh",
        'ќ' => "k",
        'ѕ' => "dz",
        // Pre-1918 Russian.
        'ѣ' => "e",
        'ѳ' => "f",
        _ => return None,
    })
}
