//! Work links (issue #18): which union records are other editions, other
//! physical forms, translations or other volumes of one *work*, so that a
//! reader of the union catalogue sees that they belong together while each
//! edition stays its own union record.
//!
//! Two steps, like the edition dedup. The work keys
//! ([`WorkFeatures::keys`]) propose candidates: records that share a work key, which is the skeleton of a title the work
//! is known by (245 $a, the uniform title 240/130, the original title of a
//! translation in 765 $t or a "Translation of:" note, the 880 twin of each)
//! together with the principal creator's surname. A title without a creator
//! makes no key, unless it is a uniform title main entry (130): "Selected
//! works" by two authors, or by nobody, must never meet. [`relate`] then
//! looks at two candidates and says how they relate, or that they do not:
//! translation (languages differ), other volume of one set, other physical
//! form (print against electronic, same edition), or other edition.
//!
//! Pure and deterministic, like the pair decision: no I/O, no clock, the
//! answer depends on the two records alone and `relate(a, b)` is the mirror
//! of `relate(b, a)`. The fields a link becomes in a union record
//! ([`link_field`], [`work_id_field`]) are made here too; the pass that
//! walks the store and writes them is `crate::works_pass`.

use unicat_marc::{DataField, Record};

use super::decision::{self, Features};
use super::translit::key_skeleton;
use crate::lang::{guess_lang, lang_from_marc, Lang};

/// What [`relate`] needs from one record, extracted once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkFeatures {
    /// The record's work keys: `wk:` title | creator, `wu:` uniform title,
    /// `wv:` title of a part entered under title.
    pub keys: Vec<String>,
    /// The pair decision's features (carrier, volumes, edition, language).
    pub edition: Features,
    /// The language the text was translated from (041 $h), lower case.
    pub original_language: Option<String>,
    /// Whether the record says it is a translation: 041 ind1 `1`, a 041
    /// $h, a 765, a "Translation of" note, or a 240 with a language ($l).
    pub translation: bool,
    /// Surname skeletons of the creators: the main entry and the added
    /// personal and corporate names.
    pub creators: Vec<String>,
    /// The first letter of each creator's surname skeleton, beside its
    /// name key (same order as `creators`): two records in one language
    /// must agree on it too, because the lossy name key alone lets
    /// Soisson and Chaunu meet.
    pub initials: Vec<(String, char)>,
    /// The 245 `$n` and `$p` of the record as plain lower-case words: the
    /// part of a set it is, empty for a whole work or a whole set.
    pub part: String,
    /// The record's names `(003)001` from its 035s (a union record holds
    /// one per member), for the operator's never-link and always-link
    /// lists.
    pub names: Vec<String>,
}

/// How the second record of a pair relates to the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// The same work in the same language: another edition, revision or
    /// issue (MARC 775 both ways).
    OtherEdition,
    /// The same edition on another carrier, print against electronic
    /// (776 both ways).
    OtherFormat,
    /// The second record is a translation of the first (the first gets a
    /// 767, the second a 765).
    TranslationOf,
    /// The first record is a translation of the second.
    TranslatedFrom,
    /// Both are translations of one work, neither the original (787).
    OtherTranslation,
    /// Another volume or part of one set (787 `$i Other volume of:`).
    OtherVolume,
    /// The second record is a part of the first, a record of the whole
    /// set (the set gets a 774 constituent unit entry).
    Constituent,
    /// The second record is the whole set the first is a part of (the
    /// part gets a 773 host item entry).
    Host,
}

impl Relation {
    /// The same relation seen from the other record.
    pub fn mirror(self) -> Relation {
        match self {
            Relation::TranslationOf => Relation::TranslatedFrom,
            Relation::TranslatedFrom => Relation::TranslationOf,
            Relation::Constituent => Relation::Host,
            Relation::Host => Relation::Constituent,
            r => r,
        }
    }

    /// The stored form (`work_links.kind`): how the other record relates
    /// to the one holding the link.
    pub fn code(self) -> &'static str {
        match self {
            Relation::OtherEdition => "other-edition",
            Relation::OtherFormat => "other-format",
            Relation::TranslationOf => "translation",
            Relation::TranslatedFrom => "original",
            Relation::OtherTranslation => "other-translation",
            Relation::OtherVolume => "other-volume",
            Relation::Constituent => "part",
            Relation::Host => "set",
        }
    }

    /// The relation a stored code names.
    pub fn from_code(code: &str) -> Option<Relation> {
        [
            Relation::OtherEdition,
            Relation::OtherFormat,
            Relation::TranslationOf,
            Relation::TranslatedFrom,
            Relation::OtherTranslation,
            Relation::OtherVolume,
            Relation::Constituent,
            Relation::Host,
        ]
        .into_iter()
        .find(|r| r.code() == code)
    }

    /// The MARC 21 linking entry field the record holding the link gets:
    /// 775 other edition, 776 additional physical form, 767 translation
    /// entry (in the original, pointing to a translation), 765 original
    /// language entry (in a translation, pointing to its original), 787
    /// between two translations and between volumes, 773 host item entry
    /// (in a part, pointing to the record of its set) and 774 constituent
    /// unit entry (in the set's record, pointing to a part).
    pub fn tag(self) -> &'static str {
        match self {
            Relation::OtherEdition => "775",
            Relation::OtherFormat => "776",
            Relation::TranslationOf => "767",
            Relation::TranslatedFrom => "765",
            Relation::OtherTranslation | Relation::OtherVolume => "787",
            Relation::Host => "773",
            Relation::Constituent => "774",
        }
    }

    /// The short name `explain` and `report` use.
    pub fn name(self) -> &'static str {
        match self {
            Relation::OtherEdition => "edition",
            Relation::OtherFormat => "format",
            Relation::TranslationOf | Relation::TranslatedFrom | Relation::OtherTranslation => {
                "translation"
            }
            Relation::OtherVolume | Relation::Constituent | Relation::Host => "volume",
        }
    }
}

/// Extract the work features of a (normalised) record.
pub fn work_features(record: &Record) -> WorkFeatures {
    let edition = decision::features(record);
    let original_language = record
        .data_fields("041")
        .flat_map(|f| f.subfields_of('h'))
        .map(|h| h.trim().to_ascii_lowercase())
        .find(|h| h.len() == 3);
    let translation = original_language.is_some()
        || record.data_fields("041").any(|f| f.ind1 == '1')
        || record.data_fields("765").next().is_some()
        || record.data_fields("240").any(|f| f.subfield('l').is_some())
        || translation_note(record).is_some();
    let initials = creators(record);
    let creators: Vec<String> = initials.iter().map(|(k, _)| k.clone()).collect();
    let part = record
        .data_fields("245")
        .take(1)
        .flat_map(|f| f.subfields.iter())
        .filter(|s| matches!(s.code, 'n' | 'p'))
        .flat_map(|s| s.value.split(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ");
    WorkFeatures {
        keys: work_keys(record, &creators, edition.whole_set, edition.year),
        edition,
        original_language,
        translation,
        creators,
        initials,
        part,
        names: override_names(record),
    }
}

/// The names the never-link and always-link lists use for a record: its
/// 035 $a with an organisation code, sorted, without repeats.
fn override_names(record: &Record) -> Vec<String> {
    let mut names: Vec<String> = record
        .data_fields("035")
        .filter_map(|f| f.subfield('a'))
        .map(str::trim)
        .filter(|a| a.starts_with('('))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A record's work keys with the override keys among them, as
/// [`work_features`] and [`Overrides::keys`] give them, without the pair
/// features that relating needs: what the work-key index holds.
pub fn index_keys(record: &Record, overrides: &Overrides<'_>) -> Vec<String> {
    let creators: Vec<String> = creators(record).into_iter().map(|(k, _)| k).collect();
    let (whole_set, year) = decision::whole_set_and_year(record);
    let mut keys = work_keys(record, &creators, whole_set, year);
    keys.extend(overrides.keys_for(&override_names(record)));
    keys.sort();
    keys.dedup();
    keys
}

/// The work keys of a record: `wk:` + title skeleton + `|` + creator, for
/// every title the work is known by and every creator; `wu:` + the
/// skeleton of a 130 uniform title main entry. Sorted, without repeats.
/// `creators`, `whole_set` and `year` are the record's, already extracted
/// by [`work_features`]. A record without a creator that is not a part
/// gets `wf:` + title skeleton + `|` + year instead.
fn work_keys(
    record: &Record,
    creators: &[String],
    whole_set: bool,
    year: Option<u16>,
) -> Vec<String> {
    let lang = record_lang(record);
    let mut keys = Vec::new();
    if !creators.is_empty() {
        for title in work_titles(record, lang) {
            for c in creators {
                keys.push(format!("wk:{title}|{c}"));
            }
        }
    }
    for f in record.data_fields("130") {
        if let Some(t) = uniform_title(f, None) {
            keys.push(format!("wu:{t}"));
        }
    }
    // A volume of a set entered under its title (a regional history, a
    // "Kniga pamiati" volume per province) has no creator to key on; its
    // title proper with the fact that it is a part is enough to meet the
    // other volumes, and `relate` links such records only as volumes.
    let main_entry = ["100", "110", "111"]
        .iter()
        .any(|t| record.data_fields(t).next().is_some());
    if !main_entry && is_part_or_set(record, whole_set) {
        for title in work_titles(record, lang).into_iter().take(2) {
            keys.push(format!("wv:{title}"));
        }
    } else if creators.is_empty() {
        // A book without a creator (a conference, a report entered under
        // title) meets its own reproduction or e-book on title and year;
        // `relate` links such records only as other physical forms.
        if let (Some(title), Some(y)) = (work_titles(record, lang).first(), year) {
            keys.push(format!("wf:{title}|{y}"));
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// How `b` relates to `a`, if they are one work; `None` when they are not
/// (no shared key, or no creator in common). The caller has already kept
/// records of one edition in one union record, so two candidates here are
/// never "the same".
pub fn relate(a: &WorkFeatures, b: &WorkFeatures) -> Option<Relation> {
    if !a.keys.iter().any(|k| b.keys.contains(k)) {
        return None;
    }
    let shared = |prefix: &str| {
        a.keys
            .iter()
            .any(|k| k.starts_with(prefix) && b.keys.contains(k))
    };
    let uniform = shared("wu:");
    let parts = shared("wv:");
    let (ea, eb) = (&a.edition, &b.edition);
    if !uniform && !parts && shared("wf:") {
        // Met on title and year alone: another carrier of the same
        // edition, or nothing.
        return (ea.carrier != eb.carrier
            && ea.edition == eb.edition
            && ea.language == eb.language)
            .then_some(Relation::OtherFormat);
    }
    if !uniform && !parts && !a.creators.iter().any(|c| b.creators.contains(c)) {
        return None;
    }
    if let (Some(la), Some(lb)) = (&ea.language, &eb.language) {
        if la != lb {
            return Some(translation(a, la, b, lb));
        }
    }
    // In one language a creator must agree beyond the lossy name key
    // (which is made for names across languages): the surnames' first
    // letters too.
    let same_creator = a
        .initials
        .iter()
        .any(|(k, i)| b.initials.iter().any(|(kb, ib)| k == kb && i == ib));
    if !uniform && !parts && !same_creator {
        return None;
    }
    let volumes_differ = (!ea.volumes.is_empty() && !eb.volumes.is_empty() && ea.volumes != eb.volumes)
            || (!ea.part_title.is_empty()
                && !eb.part_title.is_empty()
                && ea.part_title != eb.part_title)
            || (ea.whole_set != eb.whole_set && (!ea.volumes.is_empty() || !eb.volumes.is_empty()))
            // Parts named by words (`Grades 3-5`, `The macro view`) or a
            // part against the whole (a set record, `1 v. (various
            // pagings)`): numbers, when both have them, decide above.
            || (a.part != b.part
                && (ea.volumes.is_empty() || eb.volumes.is_empty())
                && ea.carrier == eb.carrier);
    if volumes_differ {
        // A record of the whole set against one of its parts: host and
        // constituent (773/774) rather than two volumes.
        let is_part = |e: &Features, f: &WorkFeatures| {
            !e.whole_set && (!e.volumes.is_empty() || !f.part.is_empty())
        };
        if ea.whole_set && is_part(eb, b) {
            return Some(Relation::Constituent);
        }
        if eb.whole_set && is_part(ea, a) {
            return Some(Relation::Host);
        }
        return Some(Relation::OtherVolume);
    }
    if parts && !uniform && !same_creator {
        // Met only as parts of a set: anything but another volume is a
        // different work that happens to share a title.
        return None;
    }
    // Another carrier of the same edition: print against online,
    // microfiche or an audio reading; a reproduction keeps the original's
    // year in 008, so the years agree too.
    if ea.carrier != eb.carrier
        && ea.edition == eb.edition
        && ea.year.zip(eb.year).is_none_or(|(x, y)| x.abs_diff(y) <= 1)
    {
        return Some(Relation::OtherFormat);
    }
    Some(Relation::OtherEdition)
}

/// The operator's overrides (`[works] never-link`, `always-link`): pairs
/// of records named `(003)001`; a union record answers to the name of any
/// of its members.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides<'a> {
    /// Pairs never linked; wins over `always`.
    pub never: &'a [[String; 2]],
    /// Pairs always linked.
    pub always: &'a [[String; 2]],
}

/// Whether the pair of records named by `pair` is `a` and `b` (either way).
fn names_pair(pair: &[String; 2], a: &WorkFeatures, b: &WorkFeatures) -> bool {
    let [x, y] = pair;
    (a.names.contains(x) && b.names.contains(y)) || (a.names.contains(y) && b.names.contains(x))
}

impl Overrides<'_> {
    /// Extra work keys (`wa:`) that make the two records of an
    /// always-link pair candidates of each other, whatever their titles.
    pub fn keys(&self, f: &WorkFeatures) -> Vec<String> {
        self.keys_for(&f.names)
    }

    /// [`Overrides::keys`] of a record with these override names.
    fn keys_for(&self, names: &[String]) -> Vec<String> {
        self.always
            .iter()
            .filter(|[x, y]| names.contains(x) || names.contains(y))
            .map(|[x, y]| {
                let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
                format!("wa:{lo}|{hi}")
            })
            .collect()
    }

    /// [`relate`] with the overrides applied: a never-link pair is not
    /// related; an always-link pair is related as whatever the records
    /// show, as if they shared a title and a creator (another edition when
    /// nothing else shows). The flag says an override decided.
    pub fn relate(&self, a: &WorkFeatures, b: &WorkFeatures) -> Option<(Relation, bool)> {
        if self.never.iter().any(|p| names_pair(p, a, b)) {
            return None;
        }
        if let Some(r) = relate(a, b) {
            return Some((r, false));
        }
        if self.always.iter().any(|p| names_pair(p, a, b)) {
            let mut forced = b.clone();
            forced.keys.extend(a.keys.iter().cloned());
            forced.creators.extend(a.creators.iter().cloned());
            forced.initials.extend(a.initials.iter().cloned());
            return Some((relate(a, &forced).unwrap_or(Relation::OtherEdition), true));
        }
        None
    }
}

/// A short note, from `a`'s side, on why `a` and `b` were linked as `rel`
/// (how `b` relates to `a`): the work key they share and what told the
/// relation (languages, carriers, volumes, years; `a`'s figure first).
pub fn evidence(a: &WorkFeatures, b: &WorkFeatures, rel: Relation, overridden: bool) -> String {
    let mut out = Vec::new();
    if overridden {
        out.push("always-link".to_string());
    }
    if let Some(k) = a.keys.iter().find(|k| b.keys.contains(k)) {
        out.push(format!("shared work key {k}"));
    }
    let (ea, eb) = (&a.edition, &b.edition);
    let or_none = |s: Option<&str>| s.unwrap_or("?").to_string();
    match rel {
        Relation::TranslationOf | Relation::TranslatedFrom | Relation::OtherTranslation => {
            out.push(format!(
                "languages {}/{}",
                or_none(ea.language.as_deref()),
                or_none(eb.language.as_deref())
            ));
            for (f, side) in [(a, "this record"), (b, "the other")] {
                if let Some(h) = &f.original_language {
                    out.push(format!("{side} translated from {h} (041 $h)"));
                }
            }
        }
        Relation::OtherFormat => out.push(format!("carriers {}/{}", ea.carrier, eb.carrier)),
        Relation::OtherVolume | Relation::Constituent | Relation::Host => out.push(format!(
            "volumes {:?}/{:?}{}",
            ea.volumes,
            eb.volumes,
            if ea.part_title != eb.part_title {
                ", other part titles"
            } else {
                ""
            }
        )),
        Relation::OtherEdition => out.push(format!(
            "same language and carrier, years {}/{}",
            ea.year.map_or("?".to_string(), |y| y.to_string()),
            eb.year.map_or("?".to_string(), |y| y.to_string())
        )),
    }
    out.join("; ")
}

/// What a linking field says about the record it points to.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinkTarget {
    /// The other union record's id (its 001).
    pub union_id: String,
    /// Its title: 245 $a $n $p without the closing punctuation.
    pub title: String,
    /// Its main entry heading (1XX $a), if any.
    pub name: Option<String>,
    /// Its carrier, for the 776 relationship phrase.
    pub carrier: decision::Carrier,
}

impl LinkTarget {
    /// The target description of a union record (links already stripped).
    pub fn of(union_id: &str, record: &Record, carrier: decision::Carrier) -> LinkTarget {
        let title = record
            .data_fields("245")
            .next()
            .map(|f| {
                let parts: Vec<&str> = f
                    .subfields
                    .iter()
                    .filter(|s| matches!(s.code, 'a' | 'n' | 'p'))
                    .map(|s| s.value.trim_end_matches(TRAILING).trim())
                    .filter(|v| !v.is_empty())
                    .collect();
                parts.join(". ")
            })
            .unwrap_or_default();
        let name = ["100", "110", "111"]
            .iter()
            .find_map(|t| record.data_fields(t).next())
            .and_then(|f| f.subfield('a'))
            .map(|a| a.trim_end_matches(TRAILING).trim().to_string())
            .filter(|a| !a.is_empty());
        LinkTarget {
            union_id: union_id.to_string(),
            title,
            name,
            carrier,
        }
    }
}

/// ISBD punctuation that closes a subfield and is not part of the text.
const TRAILING: &[char] = &[' ', '/', ':', ';', ',', '=', '.'];

/// The linking entry field for a link from the record holding it to
/// `target`: `ind1 0` (make a note), `ind2 8` (the display text is $i),
/// then $i the relationship, $a the main entry, $t the title and $w the
/// union id prefixed with the catalogue's code (MARC's "(org)number").
pub fn link_field(rel: Relation, target: &LinkTarget, catalogue_code: &str) -> DataField {
    let phrase = match rel {
        Relation::OtherEdition => "Other edition:",
        Relation::OtherFormat => match target.carrier {
            decision::Carrier::Print => "Print version:",
            decision::Carrier::Electronic => "Online version:",
            decision::Carrier::Microform => "Microform version:",
            decision::Carrier::Audio => "Audio version:",
        },
        Relation::TranslationOf => "Translated as:",
        Relation::TranslatedFrom => "Translation of:",
        Relation::OtherTranslation => "Other translation of the same work:",
        Relation::OtherVolume => "Other volume of:",
        Relation::Host => "Part of:",
        Relation::Constituent => "Contains:",
    };
    let mut f = DataField::new(rel.tag(), '0', '8').with('i', phrase);
    if let Some(n) = &target.name {
        f.push('a', n.clone());
    }
    if !target.title.is_empty() {
        f.push('t', target.title.clone());
    }
    f.push('w', format!("({catalogue_code}){}", target.union_id));
    f
}

/// RDA's "has work manifested" (manifestation to work), the relationship
/// 758 $4 names for the work id.
pub const WORK_MANIFESTED: &str = "http://rdaregistry.info/Elements/m/P30139";

/// The work id field: 758 (resource identifier) with $4 the RDA
/// relationship, $i its label and $0 the work id prefixed with the
/// catalogue's code.
pub fn work_id_field(work_id: &str, catalogue_code: &str) -> DataField {
    DataField::new("758", ' ', ' ')
        .with('4', WORK_MANIFESTED)
        .with('i', "Has work manifested:")
        .with('0', format!("({catalogue_code}){work_id}"))
}

/// Tags of the fields the work pass writes.
const LINK_TAGS: &[&str] = &["758", "765", "767", "773", "774", "775", "776", "787"];

/// Take out of a union record the fields the work pass wrote (recognised
/// by their tag and a $w or $0 in one of the catalogue's `codes`; a
/// partner's own 776 pointing into its catalogue stays); true if any was
/// there.
pub fn strip_links(record: &mut Record, codes: &[&str]) -> bool {
    let before = record.fields.len();
    record.fields.retain(|f| {
        let Some(d) = f.as_data() else {
            return true;
        };
        if !LINK_TAGS.contains(&d.tag.as_str()) {
            return true;
        }
        let ours = d
            .subfields
            .iter()
            .filter(|s| s.code == 'w' || s.code == '0')
            .any(|s| {
                codes.iter().any(|c| {
                    s.value
                        .strip_prefix('(')
                        .and_then(|v| v.strip_prefix(c))
                        .is_some_and(|v| v.starts_with(')'))
                })
            });
        !ours
    });
    record.fields.len() != before
}

/// Put the linking fields and the work id into a (stripped) union record,
/// each in tag order after the fields of its tag; the links are written in
/// the order given (the caller sorts them).
pub fn add_links(
    record: &mut Record,
    links: &[(Relation, LinkTarget)],
    work_id: Option<&str>,
    catalogue_code: &str,
) {
    for (rel, target) in links {
        record.insert_sorted(link_field(*rel, target, catalogue_code).into());
    }
    if let Some(w) = work_id {
        record.insert_sorted(work_id_field(w, catalogue_code).into());
    }
}

/// Two records of one work in different languages: which is the original?
/// The one in the language the other says it was translated from, else the
/// one that does not say it is a translation.
fn translation(a: &WorkFeatures, la: &str, b: &WorkFeatures, lb: &str) -> Relation {
    let a_original =
        b.original_language.as_deref() == Some(la) || (b.translation && !a.translation);
    let b_original =
        a.original_language.as_deref() == Some(lb) || (a.translation && !b.translation);
    match (a_original, b_original) {
        (true, false) => Relation::TranslationOf,
        (false, true) => Relation::TranslatedFrom,
        _ => Relation::OtherTranslation,
    }
}

fn record_lang(record: &Record) -> Option<Lang> {
    crate::lang::record_language(record).filter(|l| *l != Lang::Other)
}

/// The language a translation was made from (041 $h), as far as folding
/// cares: the uniform title and the original title are in it.
fn original_lang(record: &Record) -> Option<Lang> {
    record
        .data_fields("041")
        .flat_map(|f| f.subfields_of('h'))
        .find_map(lang_from_marc)
        .filter(|l| *l != Lang::Other)
}

/// The creators' name keys: the main entry (1XX) when there is one, else
/// the added personal and corporate names (an edited volume). Added entries
/// do not count next to a main entry: two books on Le Corbusier by two
/// authors both have a 700 for him. A name key is the surname's skeleton
/// without vowels after the first letter, because names cross languages
/// with other vowels (Толстой in an Uzbek record is Tolstoy; Қодирий and
/// Qodiriy fold apart under the Kazakh and Uzbek rules) while their
/// consonants stay.
fn creators(record: &Record) -> Vec<(String, char)> {
    let original = original_lang(record);
    let own = record_lang(record);
    let names = |tags: &[&str]| -> Vec<(String, char)> {
        tags.iter()
            .flat_map(|t| record.data_fields(t))
            .filter(|f| f.subfield('t').is_none())
            .filter_map(|f| f.subfield('a'))
            .flat_map(|a| {
                // A name is spelt by its own language's rules, not by the
                // record's: "Tolstoy" in an Uzbek record is the Russian name.
                // Unless the letters say nothing clear: Gligorijević in a
                // Serbian record is read by Serbian rules too (j as ј, not
                // as a Turkic j), so the name gets both keys.
                let surname = a.split(',').next().unwrap_or(a);
                let by_letters = guess_lang(surname).or(original);
                let mut langs = vec![by_letters];
                if own.is_some() && own != by_letters {
                    langs.push(own);
                }
                langs.into_iter().map(move |lang| {
                    let skeleton = key_skeleton(surname, lang);
                    let initial = skeleton.chars().find(|c| c.is_alphanumeric());
                    (name_key(&skeleton), initial.unwrap_or(' '))
                })
            })
            .filter(|(s, _)| !s.is_empty())
            .collect()
    };
    let mut out = names(&["100", "110", "111"]);
    if out.is_empty() {
        out = names(&["700", "710"]);
        out.truncate(3);
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|(s, _)| seen.insert(s.clone()));
    out
}

/// A name's key: its skeleton without spaces and without vowels (and j)
/// after the first letter, with the consonants that languages write for one sound in
/// one class (k q g x h: Гоголь is Qoqol in Azerbaijani, Кадыри and Қодирий
/// are one poet; c s z j; v w) and doubled letters once. Lossy on purpose:
/// it only ever counts together with a shared title.
fn name_key(skeleton: &str) -> String {
    let mut out = String::new();
    for (i, c) in skeleton.chars().filter(|c| !c.is_whitespace()).enumerate() {
        // j is a vowel's glide too after the first letter: Gligorijević
        // is Глигоријевић, whose ј one skeleton writes as j and another
        // as i (fixtures/works w-01264/w-01265).
        if i > 0 && matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y' | 'j') {
            continue;
        }
        let c = match c {
            'k' | 'q' | 'g' | 'x' | 'h' => 'k',
            'c' | 's' | 'z' | 'j' => 's',
            'w' => 'v',
            c => c,
        };
        if !out.ends_with(c) {
            out.push(c);
        }
    }
    out
}

/// The skeletons of the titles a work is known by in this record.
fn work_titles(record: &Record, lang: Option<Lang>) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |text: &str, lang: Option<Lang>| {
        let s = key_skeleton(text, lang);
        if s.chars().filter(|c| c.is_alphanumeric()).count() >= 3 && !out.contains(&s) {
            out.push(s);
        }
    };
    for f in record.data_fields("245").take(1) {
        if let Some(t) = title_proper(f) {
            push(&t, lang);
            // A translation may keep its original's title (Евгений Онегин
            // in an Uzbek record), which its own language folds otherwise
            // than the original's: the letters' language too.
            if let Some(by_letters) = guess_lang(&t).filter(|l| Some(*l) != lang) {
                push(&t, Some(by_letters));
            }
        }
    }
    for f in record.data_fields("880") {
        if f.subfield('6').is_some_and(|s| s.starts_with("245")) {
            if let Some(t) = title_proper(f) {
                push(&t, guess_lang(&t).or(lang));
            }
        }
    }
    // The uniform title of a translation is in the original's language,
    // which the record's own language code does not describe: 041 $h says
    // which, else the letters.
    let original = original_lang(record);
    for f in record.data_fields("240") {
        if let Some(a) = f.subfield('a') {
            push(a, original.or_else(|| guess_lang(a)));
        }
    }
    for f in record.data_fields("765") {
        if let Some(t) = f.subfield('t') {
            push(t, original.or_else(|| guess_lang(t)));
        }
    }
    if let Some(t) = translation_note(record) {
        push(&t, original.or_else(|| guess_lang(&t)));
    }
    out
}

/// Whether a record describes a part of a set (245 $n or $p) or a whole
/// set (`whole_set` of the pair decision's features: 300 counts two or
/// more volumes).
fn is_part_or_set(record: &Record, whole_set: bool) -> bool {
    whole_set
        || record
            .data_fields("245")
            .take(1)
            .any(|f| f.subfield('n').is_some() || f.subfield('p').is_some())
}

/// 245 (or its 880) $a without the non-filing characters, up to a `:`,
/// `;`, `=` or `/` inside it: the title proper, without $n and $p, so that
/// the volumes of a set meet.
fn title_proper(f: &DataField) -> Option<String> {
    let a = f.subfield('a')?;
    let skip = f.ind2.to_digit(10).unwrap_or(0) as usize;
    let a = if skip > 0 && skip < a.chars().count() {
        let idx = a.char_indices().nth(skip).map_or(a.len(), |(i, _)| i);
        &a[idx..]
    } else {
        a
    };
    let end = a.find([':', ';', '=', '/']).unwrap_or(a.len());
    let t = a[..end].trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// A 130 or 240 without its language and form parts: $a, $n, $p.
fn uniform_title(f: &DataField, lang: Option<Lang>) -> Option<String> {
    let text: Vec<&str> = f
        .subfields
        .iter()
        .filter(|s| matches!(s.code, 'a' | 'n' | 'p'))
        .map(|s| s.value.as_str())
        .collect();
    let s = key_skeleton(
        &text.join(" "),
        lang.or_else(|| guess_lang(&text.join(" "))),
    );
    (s.chars().filter(|c| c.is_alphanumeric()).count() >= 3).then_some(s)
}

/// The original title from a note "Translation of: …" (500 $a), in the
/// forms LC and partners write (`Translation of:`, `Translated from`,
/// `Перевод с`/`Пер. изд.:` are left out: they name a language, not a
/// title).
fn translation_note(record: &Record) -> Option<String> {
    record
        .data_fields("500")
        .filter_map(|f| f.subfield('a'))
        .find_map(|a| {
            let lower = a.to_lowercase();
            let at = lower.find("translation of")?;
            let rest = &a[at + "translation of".len()..];
            let rest = rest.trim_start_matches([':', ' ']);
            let end = [" /", ".", ";"]
                .iter()
                .filter_map(|stop| rest.find(stop))
                .min()
                .unwrap_or(rest.len());
            let t = rest[..end]
                .trim()
                .trim_matches(['"', '\u{201C}', '\u{201D}']);
            (!t.is_empty()).then(|| t.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Names cross languages with other vowels and with q/k/g written for
    // one sound: Гоголь is "Qoqol" in an Azerbaijani record, Кадыри and
    // Қодирий are one poet (typed examples of fixtures/works).
    #[test]
    fn name_keys_agree_across_languages() {
        let key = |s: &str| name_key(&key_skeleton(s, guess_lang(s)));
        assert_eq!(key("Гоголь"), key("Qoqol"));
        assert_eq!(key("Кадыри"), key("Қодирий"));
        assert_eq!(key("Tolstoy"), key("Толстой"));
        // Serbian Latin names read by Serbian rules (the record's
        // language), as `creators` also reads them (fixtures/works
        // w-01264/w-01265, w-01272/w-01273).
        let srp = |s: &str| name_key(&key_skeleton(s, Some(Lang::Serbian)));
        assert_eq!(srp("Gligorijević"), key("Глигоријевић"));
        assert_eq!(srp("Velmar-Janković"), key("Велмар-Јанковић"));
        assert_ne!(key("Tolstoy"), key("Dostoevsky"));
    }

    // The relation read from the other side is the mirror image.
    #[test]
    fn relations_mirror() {
        assert_eq!(Relation::TranslationOf.mirror(), Relation::TranslatedFrom);
        assert_eq!(Relation::OtherEdition.mirror(), Relation::OtherEdition);
        assert_eq!(Relation::TranslatedFrom.name(), "translation");
    }

    // A note "Translation of: …" names the original title; other notes
    // name nothing.
    #[test]
    fn translation_note_gives_the_original_title() {
        let mut r = Record::new("00000nam a2200000 i 4500");
        r.push(unicat_marc::Field::Data(
            DataField::new("500", ' ', ' ').with('a', "Translation of: Война и мир."),
        ));
        assert_eq!(translation_note(&r).as_deref(), Some("Война и мир"));
        let mut r = Record::new("00000nam a2200000 i 4500");
        r.push(unicat_marc::Field::Data(
            DataField::new("500", ' ', ' ').with('a', "Translated from the Russian."),
        ));
        assert_eq!(translation_note(&r), None);
    }

    fn rec(fields: &[(&str, &[(char, &str)])], f008: &str) -> Record {
        let mut r = Record::new("00000nam a2200000 i 4500");
        r.push(unicat_marc::Field::Control(unicat_marc::ControlField::new(
            "008", f008,
        )));
        for (tag, subs) in fields {
            let mut f = DataField::new(*tag, '1', '0');
            for (c, v) in *subs {
                f.push(*c, *v);
            }
            r.push(unicat_marc::Field::Data(f));
        }
        r
    }

    const ENG_2000: &str = "000101s2000    fr            000 0 fre d";

    // fixtures/works w-01658/w-01659: two books called "Charles Quint" by
    // Soisson and by Chaunu, whose lossy name keys agree; in one language
    // the surnames' first letters must agree too.
    #[test]
    fn same_title_other_author_in_one_language_is_not_linked() {
        let a = work_features(&rec(
            &[
                ("100", &[('a', "Soisson, Jean-Pierre.")]),
                ("245", &[('a', "Charles Quint /")]),
            ],
            ENG_2000,
        ));
        let b = work_features(&rec(
            &[
                ("100", &[('a', "Chaunu, Pierre.")]),
                ("245", &[('a', "Charles Quint /")]),
            ],
            ENG_2000,
        ));
        assert!(a.keys.iter().any(|k| b.keys.contains(k)), "{a:?} {b:?}");
        assert_eq!(relate(&a, &b), None);
    }

    // fixtures/works w-01525/w-01526: parts named by words in 245 $n
    // (`Grades 3-5`, `Grades 6-8`) are other volumes, not other editions.
    #[test]
    fn parts_named_by_words_are_other_volumes() {
        let part = |n: &str| {
            work_features(&rec(
                &[
                    ("245", &[('a', "Integrating the ESL standards."), ('n', n)]),
                    ("700", &[('a', "Irujo, Suzanne.")]),
                ],
                ENG_2000,
            ))
        };
        assert_eq!(
            relate(&part("Grades 3-5"), &part("Grades 6-8")),
            Some(Relation::OtherVolume)
        );
    }

    // fixtures/works w-01214/w-01215: a conference entered under title and
    // its microfiche reproduction have no creator to key on; title and year
    // make them other forms, and nothing else.
    #[test]
    fn records_without_creator_meet_their_reproduction_only() {
        let print = work_features(&rec(
            &[("245", &[('a', "Proceedings of the water forum.")])],
            ENG_2000,
        ));
        let fiche = work_features(&rec(
            &[(
                "245",
                &[
                    ('a', "Proceedings of the water forum."),
                    ('h', "[microform]"),
                ],
            )],
            "000101s2000    fr      b     000 0 fre d",
        ));
        assert_eq!(fiche.edition.carrier, decision::Carrier::Microform);
        assert_eq!(relate(&print, &fiche), Some(Relation::OtherFormat));
        let later = work_features(&rec(
            &[("245", &[('a', "Proceedings of the water forum.")])],
            ENG_2000,
        ));
        assert_eq!(relate(&print, &later), None);
    }

    // A record of the whole set (300 `5 v.`) and one of its volumes: the
    // set holds a 774 to the volume, the volume a 773 to the set; two
    // volumes stay 787 "Other volume of:".
    #[test]
    fn set_and_part_are_host_and_constituent() {
        let set = work_features(&rec(
            &[
                ("245", &[('a', "Azərbaycan tarixi.")]),
                ("300", &[('a', "5 v.")]),
            ],
            "070101m20072010ai            000 0 aze d",
        ));
        let part = |n: &str| {
            work_features(&rec(
                &[("245", &[('a', "Azərbaycan tarixi."), ('n', n)])],
                "070101s2007    ai            000 0 aze d",
            ))
        };
        assert!(set.edition.whole_set, "{set:?}");
        assert_eq!(
            relate(&set, &part("1-ci cild")),
            Some(Relation::Constituent)
        );
        assert_eq!(relate(&part("1-ci cild"), &set), Some(Relation::Host));
        assert_eq!(Relation::Constituent.tag(), "774");
        assert_eq!(Relation::Host.mirror().tag(), "774");
        assert_eq!(
            relate(&part("1-ci cild"), &part("2-ci cild")),
            Some(Relation::OtherVolume)
        );
    }
}
