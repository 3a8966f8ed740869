//! Normalisation: makes every partner's record look like one catalogue's.
//!
//! A pipeline of small steps over a parsed record, each of which a partner's
//! configuration can switch off ([`NormalizeOptions`]), and each of which
//! says what it changed and what it found wrong in a [`NormalizeReport`], so
//! that a data-quality report can count repairs and problems per step. Pure
//! and deterministic: no I/O, no clock. It drops no content (punctuation,
//! blanks and invisible characters aside): what a step cannot make sense of
//! it leaves as it found it and reports; numbers with a bad check digit move
//! to the subfield MARC 21 keeps for invalid numbers ($z, or $y for ISSN).
//! The one field removed is a 035 that became an exact duplicate of another
//! when system numbers were made canonical. Normalising a normalised record
//! changes nothing (the fixture tests check this for every case).
//!
//! # Steps, in the order they run
//!
//! Each step's name is its key in the partner's configuration and its name
//! in the report ([`Step::name`]).
//!
//! - `leader`: leader/05-08 and 17-19 are checked against the values MARC 21
//!   allows; invalid ones are reported as problems and left alone (nothing
//!   can be derived for them). OCLC's own encoding levels (`I`, `K`, `L`,
//!   `M`, `J`, dropped in 2021) are reported too, with their own message.
//! - `control-characters`: C0/C1 control characters, the byte-order mark and
//!   zero-width spaces are removed; in data fields a tab, line break or
//!   other whitespace control becomes a space first, so words do not merge.
//! - `whitespace`: subfields are trimmed and runs of whitespace (no-break
//!   spaces included: partners paste from Word) become one space. Control
//!   fields are positional (008!) and are never touched.
//! - `lookalikes`: a word (a run of letters) that mixes Latin and Cyrillic
//!   letters is repaired when the letters that exist in only one script say
//!   which script it is in: with only Cyrillic ones, its Latin look-alikes
//!   `a c e o p x y A B C E H K M O P T X` become Cyrillic (`Тoшкент` →
//!   `Тошкент`), and the other way round (`Toshkеnt` → `Toshkent`). A word
//!   made of look-alikes only becomes Latin if they are all Roman numerals
//!   (`XХ` with one Cyrillic `Х`, a century), else follows the script of
//!   the subfield's unambiguous letters, then its own majority. Words that are
//!   consistently one script are never touched, and a word with unambiguous
//!   letters of both scripts is reported, not guessed at. Schwas are left to
//!   the next step.
//! - `schwa`: the schwa follows its word's script: Latin `Ə ə` (U+018F,
//!   U+0259) in a Latin word, Cyrillic `Ә ә` (U+04D8, U+04D9) in a Cyrillic
//!   one. The turned `ǝ Ǝ` (U+01DD, U+018E) that some keyboards produce for
//!   the Azerbaijani schwa are taken for schwas in a Cyrillic word, and in a
//!   Latin word only where the field is Azerbaijani (see "Languages" below):
//!   elsewhere they are letters of their own (Kanuri and the other languages
//!   of the Pan-Nigerian alphabet).
//! - `uzbek-apostrophes`: in Uzbek Latin text, the apostrophe of `oʻ`/`gʻ`
//!   becomes U+02BB MODIFIER LETTER TURNED COMMA and the tutuq belgisi
//!   U+02BC MODIFIER LETTER APOSTROPHE, whichever of `'`, `‘`, `’`, `` ` ``,
//!   `ʻ` or `ʼ` the partner typed. A mark right after `o`/`g` (either case)
//!   followed by a letter or a second mark is `ʻ` (`O'zbekiston`,
//!   `moʻʼtabar`); so is one after `g` at the end of a word (`tog'`,
//!   `bog'`) and one in the initial `O'.` (`O'. Sharafiddinov`); a mark
//!   between two other Latin letters is `ʼ` (`san'at`, `ma’no`). Not
//!   touched: quotes at word edges; English contractions and possessives,
//!   that is a mark followed by `s`, `re`, `ll`, `ve` or `d` that ends the
//!   word (`it's`, `we're`, `teacher's`), or by `t` after `n` (`don't`) or
//!   `m` after `I` (`I'm`) — Uzbek `o't` and `so'm` end the same way; and
//!   Irish-style names (`O'Brien`: a straight or right quote between `O`
//!   and a capital followed by a small letter). `ʻ` and `ʼ` typed as such
//!   are never changed: they are letters (ALA-LC writes ayin and alif with
//!   them), so only `'`, `` ` ``, `‘` and `’` are rewritten. The rule applies
//!   only to fields that are Uzbek (see "Languages" below). So an English
//!   record's "don't", a Hebrew romanisation's `Yoʼel` and a pinyin
//!   `Xi'an` stay as they are, while an Uzbek parallel title in an English
//!   record that names Uzbek (041, or 040 $b) is repaired.
//! - `isbn`: 020 $a becomes ISBN-13 without hyphens; a qualifier after the
//!   number goes to a $q of its own (without brackets: `(pbk.)` → `pbk.`,
//!   also for an existing $q), a price (a qualifier that starts with a
//!   currency sign) to $c; a number with a bad check digit moves verbatim
//!   to $z. An $a that is not an ISBN at all is reported.
//! - `issn`: 022 $a and $l become `NNNN-NNNC` (upper-case `X`); an $a with a
//!   bad check digit moves verbatim to $y (incorrect ISSN).
//! - `lccn`: 010 $a normalised as the Library of Congress describes it
//!   (blanks removed, anything from `/` on removed, the part after a hyphen
//!   left-padded to six digits and the hyphen removed: `n78-890351` →
//!   `n78890351`, `85-2` → `85000002`); a result that is not a prefix of up
//!   to three letters and 8 digits (or two letters and 10) is reported and
//!   the value left alone.
//! - `system-numbers`: 035 $a/$z OCLC numbers become `(OCoLC)` + the number
//!   without `ocm`/`ocn`/`on` prefix and without leading zeros
//!   (`(OCoLC)ocm00012345` → `(OCoLC)12345`; a bare `ocm00012345` too);
//!   other system numbers lose the blanks after the `(code)`. A 035 that
//!   then duplicates an earlier one exactly is removed.
//! - `ismn-ean`: 024 with first indicator 3 (EAN) and 2 (ISMN): hyphens and
//!   spaces removed, the check digit verified, a ten-character ISMN
//!   (`M-2306-7118-7`) rewritten as its 13-digit `979-0` form
//!   (`9790230671187`, same check digit); a qualifier goes to $q; a bad
//!   check digit moves the value verbatim to $z.
//! - `fixed-fields`: 008 repaired where the record says what belongs there:
//!   a short 008 is padded to 40 with the fill character `|` ("no attempt
//!   to code"; 00-05, date entered on file, with blanks, as fill is not
//!   allowed there and the date is unknown), blank or fill characters
//!   beyond 40 are cut; when date 1 (07-10) is blank or fill it is taken
//!   from the first year in 264 (second indicator 1) $c, else 260 $c, else
//!   264 (second indicator 4) $c, and a blank type of date (06) becomes `s`
//!   when that $c names exactly one year; when the language (35-37) is blank
//!   or fill it comes from the first 041 $a, and an upper-case code is
//!   lower-cased. A record without 008 gets one when something is derivable.
//!   Authority and holdings records (leader/06 `u v x y z`) are skipped.
//! - `isbd`: one punctuation convention in 245, 250, 260, 264, 300 and 490
//!   (and 880s linked to them), described below, so that records from
//!   different partners display alike.
//! - `provenance`: the partner's 001 (with its 003, or the partner's code)
//!   is kept as a 035 `(CODE)id` unless the record has it already.
//! - `cataloguing-source`: 040 gets a $d with the union catalogue's code
//!   ([`NormalizeOptions::union_code`]) unless it has one; a record without
//!   040 gets `040 ## $a partner $c partner $d union`.
//! - `unicode`: every value in NFC, or NFD for partners whose downstream
//!   systems want it ([`UnicodeForm`]). It runs last so that nothing another
//!   step wrote can leave the chosen form.
//!
//! The script steps (`lookalikes`, `schwa`, `uzbek-apostrophes`) work on
//! text only: fields 100-849 and 880 without their numeric control
//! subfields; call numbers, URIs, codes and identifiers are never touched.
//!
//! # Languages
//!
//! The language-specific repairs (Uzbek apostrophes, the turned `ǝ` as an
//! Azerbaijani schwa) apply field by field, only where the field is in that
//! language:
//!
//! - an 880 whose $6 names a script the repair is not for (`(2` Hebrew,
//!   `(3` Arabic, `$1` CJK, `(S` Greek; `(N` Cyrillic for the Latin
//!   apostrophe rule) is not;
//! - nor is a field with Latin letters the language lacks (`ḳ ā é ŵ ö`...:
//!   ALA-LC romanisation, Turkish, Welsh), or whose letters say another
//!   language (`lang::guess_lang`);
//! - otherwise a record that names its languages decides: 008/35-37, the
//!   041 codes for the item's own content, and 040 $b (the language the
//!   cataloguer wrote notes and headings in) must include the language;
//! - a record that names none (blank, fill, `und`, `mul`) leaves it to the
//!   letters: `oʻ`/`gʻ` for Uzbek, `ə` or another Azerbaijani letter (not
//!   the turned `ǝ` alone) for Azerbaijani.
//!
//! Which cost was chosen: an Uzbek title in a record that names only other
//! languages is not repaired (its apostrophes stay as typed), because the
//! letters cannot tell it from a Welsh `o'r`, a pinyin `Mo'an` or a Hebrew
//! `Moʻed`; about 1.6 in 1,000 LC records were changed by the old guess.
//!
//! # ISBD punctuation
//!
//! The convention is the PCC's for minimally punctuated MARC records
//! (policy of January 2020, the option that keeps leader/18 `i`): ISBD
//! punctuation *between* elements, as LC/PCC practice writes it, and no
//! terminal punctuation at the end of the field. Between elements, the mark
//! ends the subfield before the next one, preceded by a space except for
//! `,` and `.`. A partner's marks at the end of a subfield (with or without
//! the space) or at the start of the next one (`$b : subtitle`) are replaced
//! by the convention's; missing ones are added.
//!
//! | field | between subfields |
//! |---|---|
//! | 245 | `$a Title : $b other title / $c responsibility`; ` =` or ` ;` before $b are kept (parallel title, second title); `.` before $n and $p after $a/$b, and before $s; `,` before $p after $n and before $f; a $h (medium) takes the mark of the place it sits in (`$a Title $h [medium] : $b ...`) |
//! | 250 | `$a Edition / $b responsibility` (` =` kept) |
//! | 260, 264 | `$a Place ; $a Place : $b Publisher : $b Publisher, $c Date`; `$a Place, $c Date` |
//! | 300 | `$a Extent : $b other details ; $c dimensions + $e accompanying material` |
//! | 490 | `$a Series, $x ISSN ; $v number` |
//!
//! At the end of each of these fields, trailing marks and a period that is
//! punctuation are removed; `?`, `!`, `-` (open dates), brackets and
//! periods integral to the data stay. Whether a period is integral cannot
//! be known from the text, so the rule is: a period after a digit, a blank
//! or a closing bracket or quote is punctuation; so is one after a word of
//! four letters or more (`Qodiriy.`, `roman.`) unless it is a known
//! abbreviation (`Calif.`, `Univ.`, `перераб.`, see `LONG_ABBREVIATIONS`);
//! a period after a shorter word (`ed.`, `ill.`, `b.`, `t.`, `М.`), an
//! initial (`J.`) or an initialism (`U.S.A.`) is integral. In 300 a period
//! after a metric symbol (`cm`, `mm`, `sm`, `см`, `мм`: RDA symbols, not
//! abbreviations) is punctuation. The same rule decides whether a period
//! before a mark goes (`Sharq.` → `Sharq,`) or stays (`384 b.` →
//! `384 b. :`, as in LC practice). Subfields not named in the table (`$3`,
//! `$6`, `$e $f $g` of 260, ...) and transitions the table does not name
//! keep the partner's punctuation. A record whose leader/18 says `c` (ISBD
//! punctuation omitted) gets `i`, since it now has it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use unicat_marc::{ControlField, DataField, Field, Record, Subfield};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::{is_nfc_quick, is_nfd_quick, IsNormalized, UnicodeNormalization};

use crate::ident::{isbn13_valid, normalize_issn, normalize_lccn, parse_isbn, IsbnParse};
use crate::lang::{guess_lang, lang_from_marc, Lang};

/// The version of the normalisation algorithm. Records normalised by an
/// older version differ from what this one produces; include it in
/// anything that decides whether stored records must be normalised again,
/// and bump it whenever a step's output changes. (1 was NFC, whitespace,
/// ISBN and provenance only; 2 applied the Uzbek apostrophe rule to any
/// text whose letters looked Uzbek and turned `ǝ` into `ə` in any record.)
pub const NORMALIZE_VERSION: i64 = 3;

/// What normalisation needs to know about the partner.
#[derive(Debug, Clone)]
pub struct PartnerContext<'a> {
    /// The partner's holdings/provenance code, e.g. `AZ-BaNL`.
    pub code: &'a str,
}

/// The Unicode normalisation form records are stored in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnicodeForm {
    /// Composed (`ö` as one code point): what the union catalogue uses.
    #[default]
    Nfc,
    /// Decomposed (`o` + U+0308), for downstream systems that want it.
    Nfd,
}

/// One normalisation step. [`Step::ALL`] lists them in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// Leader/05-08, 17-19 checked (reported, never changed).
    Leader,
    /// Control characters removed.
    ControlCharacters,
    /// Subfields trimmed, whitespace collapsed.
    Whitespace,
    /// Latin/Cyrillic look-alike letters repaired inside one word.
    Lookalikes,
    /// Azerbaijani schwa made consistent with its word's script.
    Schwa,
    /// Uzbek `oʻ`/`gʻ` and tutuq belgisi apostrophes unified.
    UzbekApostrophes,
    /// 020 ISBN.
    Isbn,
    /// 022 ISSN.
    Issn,
    /// 010 LCCN.
    Lccn,
    /// 035 system numbers.
    SystemNumbers,
    /// 024 ISMN (first indicator 2) and EAN (first indicator 3).
    IsmnEan,
    /// 008 repaired where derivable.
    FixedFields,
    /// ISBD punctuation in 245, 250, 260, 264, 300, 490.
    Isbd,
    /// The partner's 001/003 kept in a 035.
    Provenance,
    /// 040 $d with the union catalogue's code.
    CataloguingSource,
    /// NFC or NFD.
    Unicode,
}

impl Step {
    /// Every step, in the order [`normalize_with`] runs them.
    pub const ALL: [Step; 16] = [
        Step::Leader,
        Step::ControlCharacters,
        Step::Whitespace,
        Step::Lookalikes,
        Step::Schwa,
        Step::UzbekApostrophes,
        Step::Isbn,
        Step::Issn,
        Step::Lccn,
        Step::SystemNumbers,
        Step::IsmnEan,
        Step::FixedFields,
        Step::Isbd,
        Step::Provenance,
        Step::CataloguingSource,
        Step::Unicode,
    ];

    /// The step's configuration key and report name, e.g. `uzbek-apostrophes`.
    pub const fn name(self) -> &'static str {
        match self {
            Step::Leader => "leader",
            Step::ControlCharacters => "control-characters",
            Step::Whitespace => "whitespace",
            Step::Lookalikes => "lookalikes",
            Step::Schwa => "schwa",
            Step::UzbekApostrophes => "uzbek-apostrophes",
            Step::Isbn => "isbn",
            Step::Issn => "issn",
            Step::Lccn => "lccn",
            Step::SystemNumbers => "system-numbers",
            Step::IsmnEan => "ismn-ean",
            Step::FixedFields => "fixed-fields",
            Step::Isbd => "isbd",
            Step::Provenance => "provenance",
            Step::CataloguingSource => "cataloguing-source",
            Step::Unicode => "unicode",
        }
    }

    /// The step with this [`Step::name`].
    pub fn from_name(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Which steps run for a partner. Every step is on by default; a partner's
/// configuration switches off what its data does not need or must not get,
/// e.g. `[partners.tsu.normalize]` with `isbd = false`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct NormalizeOptions {
    /// Bring every value to [`NormalizeOptions::unicode_form`].
    pub unicode: bool,
    /// The form the `unicode` step produces: `nfc` (default) or `nfd`.
    pub unicode_form: UnicodeForm,
    /// Remove control characters.
    pub control_characters: bool,
    /// Trim subfields and collapse whitespace.
    pub whitespace: bool,
    /// Repair Latin/Cyrillic look-alike letters inside a word.
    pub lookalikes: bool,
    /// Make Azerbaijani schwas match their word's script.
    pub schwa: bool,
    /// Unify Uzbek `oʻ`/`gʻ` and tutuq belgisi apostrophes.
    pub uzbek_apostrophes: bool,
    /// Normalise 020 ISBNs.
    pub isbn: bool,
    /// Normalise 022 ISSNs.
    pub issn: bool,
    /// Normalise the 010 LCCN.
    pub lccn: bool,
    /// Make 035 system numbers canonical.
    pub system_numbers: bool,
    /// Normalise 024 ISMNs and EANs.
    pub ismn_ean: bool,
    /// Repair the 008 where derivable.
    pub fixed_fields: bool,
    /// Check the leader (reports only).
    pub leader: bool,
    /// Apply the ISBD punctuation convention.
    pub isbd: bool,
    /// Keep the partner's 001/003 in a 035.
    pub provenance: bool,
    /// Add the union catalogue's code to 040 $d.
    pub cataloguing_source: bool,
    /// The union catalogue's MARC organisation code for 040 $d. Not read
    /// from a partner's section (it is the catalogue's, not the partner's);
    /// the caller sets it. Default `UNICAT`; empty adds nothing.
    #[serde(skip)]
    pub union_code: String,
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        NormalizeOptions {
            unicode: true,
            unicode_form: UnicodeForm::Nfc,
            control_characters: true,
            whitespace: true,
            lookalikes: true,
            schwa: true,
            uzbek_apostrophes: true,
            isbn: true,
            issn: true,
            lccn: true,
            system_numbers: true,
            ismn_ean: true,
            fixed_fields: true,
            leader: true,
            isbd: true,
            provenance: true,
            cataloguing_source: true,
            union_code: "UNICAT".to_string(),
        }
    }
}

impl NormalizeOptions {
    /// Every step off (the union code and Unicode form stay at their
    /// defaults): normalising with these returns the record unchanged.
    pub fn none() -> Self {
        let mut o = NormalizeOptions::default();
        for step in Step::ALL {
            o.set(step, false);
        }
        o
    }

    /// Only `step` on.
    pub fn only(step: Step) -> Self {
        let mut o = NormalizeOptions::none();
        o.set(step, true);
        o
    }

    /// Whether `step` runs.
    pub fn enabled(&self, step: Step) -> bool {
        *self.flag(step)
    }

    /// Switch `step` on or off.
    pub fn set(&mut self, step: Step, on: bool) {
        *self.flag_mut(step) = on;
    }

    fn flag(&self, step: Step) -> &bool {
        match step {
            Step::Leader => &self.leader,
            Step::ControlCharacters => &self.control_characters,
            Step::Whitespace => &self.whitespace,
            Step::Lookalikes => &self.lookalikes,
            Step::Schwa => &self.schwa,
            Step::UzbekApostrophes => &self.uzbek_apostrophes,
            Step::Isbn => &self.isbn,
            Step::Issn => &self.issn,
            Step::Lccn => &self.lccn,
            Step::SystemNumbers => &self.system_numbers,
            Step::IsmnEan => &self.ismn_ean,
            Step::FixedFields => &self.fixed_fields,
            Step::Isbd => &self.isbd,
            Step::Provenance => &self.provenance,
            Step::CataloguingSource => &self.cataloguing_source,
            Step::Unicode => &self.unicode,
        }
    }

    fn flag_mut(&mut self, step: Step) -> &mut bool {
        match step {
            Step::Leader => &mut self.leader,
            Step::ControlCharacters => &mut self.control_characters,
            Step::Whitespace => &mut self.whitespace,
            Step::Lookalikes => &mut self.lookalikes,
            Step::Schwa => &mut self.schwa,
            Step::UzbekApostrophes => &mut self.uzbek_apostrophes,
            Step::Isbn => &mut self.isbn,
            Step::Issn => &mut self.issn,
            Step::Lccn => &mut self.lccn,
            Step::SystemNumbers => &mut self.system_numbers,
            Step::IsmnEan => &mut self.ismn_ean,
            Step::FixedFields => &mut self.fixed_fields,
            Step::Isbd => &mut self.isbd,
            Step::Provenance => &mut self.provenance,
            Step::CataloguingSource => &mut self.cataloguing_source,
            Step::Unicode => &mut self.unicode,
        }
    }
}

/// What normalisation did to one record and what it found wrong, for a
/// data-quality report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NormalizeReport {
    /// Each change: the step's [`Step::name`] and what changed, e.g.
    /// `("isbn", "020 $a: \"5-02-011354-X\" → \"9785020113547\"")`.
    pub changes: Vec<(&'static str, String)>,
    /// What a step found wrong and left alone, e.g. `leader/06 is not a
    /// valid type of record: 'z' (allowed: ...)`. The offending value comes
    /// last, after the first quote, so the text before it names the kind of
    /// problem for counting.
    pub problems: Vec<String>,
    /// Record nothing (see [`NormalizeReport::discard`]).
    discard: bool,
}

impl NormalizeReport {
    /// The number of changes per step name.
    pub fn changes_per_step(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for (step, _) in &self.changes {
            *counts.entry(*step).or_insert(0) += 1;
        }
        counts
    }

    /// A report that keeps nothing, for callers that throw it away (the
    /// harvest): the descriptions are then never formatted, which was a
    /// few per cent of a harvest's time.
    pub fn discard() -> NormalizeReport {
        NormalizeReport {
            discard: true,
            ..NormalizeReport::default()
        }
    }

    fn change(&mut self, step: Step, what: impl FnOnce() -> String) {
        if !self.discard {
            self.changes.push((step.name(), what()));
        }
    }

    fn problem(&mut self, what: impl FnOnce() -> String) {
        if !self.discard {
            self.problems.push(what());
        }
    }
}

/// Normalise a record for the union catalogue with every step on.
pub fn normalize(record: Record, partner: &PartnerContext<'_>) -> Record {
    normalize_with(
        record,
        partner,
        &NormalizeOptions::default(),
        &mut NormalizeReport::default(),
    )
}

/// Normalise a record with the steps `options` switches on, recording
/// changes and problems in `report` (which is appended to, not cleared).
pub fn normalize_with(
    mut record: Record,
    partner: &PartnerContext<'_>,
    options: &NormalizeOptions,
    report: &mut NormalizeReport,
) -> Record {
    let on = |step| options.enabled(step);
    if on(Step::Leader) {
        check_leader(&record, report);
    }
    if on(Step::ControlCharacters) {
        remove_control_characters(&mut record, report);
    }
    if on(Step::Whitespace) {
        for_each_subfield(&mut record, Step::Whitespace, report, |_, _, v| {
            if is_collapsed(v) {
                Cow::Borrowed(v)
            } else {
                Cow::Owned(collapse_whitespace(v))
            }
        });
    }
    if on(Step::Lookalikes) {
        repair_lookalikes(&mut record, report);
    }
    if on(Step::Schwa) {
        repair_schwas_by_language(&mut record, report);
    }
    if on(Step::UzbekApostrophes) {
        unify_uzbek_apostrophes(&mut record, report);
    }
    if on(Step::Isbn) {
        normalize_isbns(&mut record, report);
    }
    if on(Step::Issn) {
        normalize_issns(&mut record, report);
    }
    if on(Step::Lccn) {
        normalize_lccns(&mut record, report);
    }
    if on(Step::SystemNumbers) {
        normalize_system_numbers(&mut record, report);
    }
    if on(Step::IsmnEan) {
        normalize_ismn_ean(&mut record, report);
    }
    if on(Step::FixedFields) {
        repair_008(&mut record, report);
    }
    if on(Step::Isbd) {
        punctuate_isbd(&mut record, report);
    }
    if on(Step::Provenance) {
        add_provenance_035(&mut record, partner.code, report);
    }
    if on(Step::CataloguingSource) {
        add_cataloguing_source(&mut record, partner.code, &options.union_code, report);
    }
    if on(Step::Unicode) {
        apply_unicode_form(&mut record, options.unicode_form, report);
    }
    record
}

// ---------------------------------------------------------------------------
// Helpers for walking subfields.

/// `245 $a: "old" → "new"`: how every change to a subfield is reported.
fn describe(tag: &str, code: char, old: &str, new: &str) -> String {
    format!("{tag} ${code}: {old:?} → {new:?}")
}

/// Rewrites every data subfield with `f(tag, code, value)`, reporting each
/// value that changed. `f` borrows the value back when it has nothing to
/// change, so the common case allocates nothing.
fn for_each_subfield(
    record: &mut Record,
    step: Step,
    report: &mut NormalizeReport,
    mut f: impl for<'v> FnMut(&str, char, &'v str) -> Cow<'v, str>,
) {
    for field in &mut record.fields {
        let Field::Data(df) = field else { continue };
        for sf in &mut df.subfields {
            let Cow::Owned(new) = f(&df.tag, sf.code, &sf.value) else {
                continue;
            };
            if new != sf.value {
                report.change(step, || describe(&df.tag, sf.code, &sf.value, &new));
                sf.value = new;
            }
        }
    }
}

/// Whether a subfield holds text in a natural language, which the script
/// steps may touch: data fields 100-849 and 880, except the numeric
/// control subfields ($6 linkage, $0 and $1 identifiers, $2 source, $4
/// relator code, ...; $3 is text). Identifier and code fields (0XX) are
/// left to the identifier steps, and holdings and location fields (85X-87X:
/// call numbers, URIs) and local 9XX fields to the partner.
fn is_text_subfield(tag: &str, code: char) -> bool {
    let numeric = tag.len() == 3 && tag.bytes().all(|b| b.is_ascii_digit());
    if !numeric || !(("100"..="849").contains(&tag) || tag == "880") {
        return false;
    }
    !code.is_ascii_digit() || code == '3'
}

// ---------------------------------------------------------------------------
// Leader.

/// The leader positions checked, what they are called and what MARC 21
/// allows (blank written as a space).
const LEADER_CHECKS: &[(usize, &str, &str)] = &[
    (5, "record status", "acdnp"),
    (6, "type of record", "acdefgijkmoprt"),
    (7, "bibliographic level", "abcdims"),
    (8, "type of control", " a"),
    (17, "encoding level", " 1234578uz"),
    (18, "descriptive cataloguing form", " acinu"),
    (19, "multipart resource record level", " abc"),
];

fn check_leader(record: &Record, report: &mut NormalizeReport) {
    // Counted and indexed in place: collecting the chars allocated for
    // every record, and a leader is only 24 of them.
    let len = record.leader.chars().count();
    if len != unicat_marc::LEADER_LEN {
        report.problem(|| {
            format!(
                "leader is not {} characters long: '{}'",
                unicat_marc::LEADER_LEN,
                len
            )
        });
    }
    for &(pos, name, allowed) in LEADER_CHECKS {
        let Some(c) = record.leader.chars().nth(pos) else {
            continue;
        };
        if allowed.contains(c) {
            continue;
        }
        let shown = |c: char| if c == ' ' { '#' } else { c };
        if pos == 17 && matches!(c, 'I' | 'J' | 'K' | 'L' | 'M') {
            report.problem(|| {
                format!("leader/17 is an OCLC-defined encoding level, not a MARC 21 one: '{c}'")
            });
            continue;
        }
        let list: Vec<String> = allowed.chars().map(|a| shown(a).to_string()).collect();
        report.problem(|| {
            format!(
                "leader/{pos:02} is not a valid {name}: '{}' (allowed: {})",
                shown(c),
                list.join(" ")
            )
        });
    }
}

// ---------------------------------------------------------------------------
// Control characters, whitespace, Unicode form.

/// Invisible characters that are not controls but break matching just the
/// same: the byte-order mark and the zero-width space.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{FEFF}' | '\u{200B}')
}

/// Whether a text holds something [`remove_control_characters`] removes or
/// replaces; almost no text does, and then it need not be rebuilt.
fn has_controls(s: &str) -> bool {
    if s.is_ascii() {
        return s.bytes().any(|b| b < b' ' || b == 0x7f);
    }
    has_controls_by_char(s)
}

/// [`has_controls`] for any text, a char at a time.
fn has_controls_by_char(s: &str) -> bool {
    s.chars().any(|c| c.is_control() || is_invisible(c))
}

fn remove_control_characters(record: &mut Record, report: &mut NormalizeReport) {
    for field in &mut record.fields {
        match field {
            Field::Control(ControlField { value, .. }) if !has_controls(value) => {}
            Field::Control(ControlField { tag, value }) => {
                let new: String = value
                    .chars()
                    .filter(|c| !c.is_control() && !is_invisible(*c))
                    .collect();
                if new != *value {
                    report.change(Step::ControlCharacters, || {
                        format!("{tag}: {value:?} → {new:?}")
                    });
                    *value = new;
                }
            }
            Field::Data(df) => {
                for sf in &mut df.subfields {
                    if !has_controls(&sf.value) {
                        continue;
                    }
                    let new = remove_controls_in_text(&sf.value);
                    if new != sf.value {
                        report.change(Step::ControlCharacters, || {
                            describe(&df.tag, sf.code, &sf.value, &new)
                        });
                        sf.value = new;
                    }
                }
            }
        }
    }
}

/// Controls removed, whitespace controls (tab, line breaks) turned into a
/// space so that the words on either side stay apart.
fn remove_controls_in_text(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_control() {
                c.is_whitespace().then_some(' ')
            } else if is_invisible(c) {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}

/// Trimmed, with every run of whitespace one space.
fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Whether `collapse_whitespace` would return `s` unchanged: no whitespace
/// at either end, and every whitespace character a single space.
fn is_collapsed(s: &str) -> bool {
    if s.is_ascii() {
        // The same test on bytes: ASCII whitespace is space and tab to
        // CR (`char::is_whitespace` adds only non-ASCII ones).
        let b = s.as_bytes();
        let bad = |c: u8| (b'\t'..=b'\r').contains(&c);
        return b.first() != Some(&b' ')
            && b.last() != Some(&b' ')
            && !b.iter().any(|&c| bad(c))
            && !b.windows(2).any(|w| w == b"  ");
    }
    is_collapsed_by_char(s)
}

/// [`is_collapsed`] for any text, a char at a time.
fn is_collapsed_by_char(s: &str) -> bool {
    let mut prev_space = true;
    for c in s.chars() {
        if c.is_whitespace() {
            if c != ' ' || prev_space {
                return false;
            }
            prev_space = true;
        } else {
            prev_space = false;
        }
    }
    !prev_space || s.is_empty()
}

/// NFC, controls removed, whitespace trimmed and runs collapsed to a single
/// space (tabs and no-break spaces included: partners paste from Word).
pub fn clean_text(s: &str) -> String {
    let nfc: String = s.nfc().collect();
    collapse_whitespace(&remove_controls_in_text(&nfc))
}

/// `s` in the Unicode form, or `None` when it already is. The quick check
/// answers for nearly all text (all of ASCII) without composing anything;
/// only a "maybe" pays for the full normaliser.
fn in_form(s: &str, form: UnicodeForm) -> Option<String> {
    // ASCII is in every normalisation form.
    if s.is_ascii() {
        return None;
    }
    match form {
        UnicodeForm::Nfc if is_nfc_quick(s.chars()) == IsNormalized::Yes => None,
        UnicodeForm::Nfd if is_nfd_quick(s.chars()) == IsNormalized::Yes => None,
        UnicodeForm::Nfc => Some(s.nfc().collect()),
        UnicodeForm::Nfd => Some(s.nfd().collect()),
    }
}

fn apply_unicode_form(record: &mut Record, form: UnicodeForm, report: &mut NormalizeReport) {
    let name = match form {
        UnicodeForm::Nfc => "NFC",
        UnicodeForm::Nfd => "NFD",
    };
    for field in &mut record.fields {
        match field {
            Field::Control(ControlField { tag, value }) => {
                let Some(new) = in_form(value, form) else {
                    continue;
                };
                if new != *value {
                    report.change(Step::Unicode, || format!("{tag}: {value:?} to {name}"));
                    *value = new;
                }
            }
            Field::Data(df) => {
                for sf in &mut df.subfields {
                    let Some(new) = in_form(&sf.value, form) else {
                        continue;
                    };
                    if new != sf.value {
                        report.change(Step::Unicode, || {
                            format!("{} ${}: {:?} to {name}", df.tag, sf.code, sf.value)
                        });
                        sf.value = new;
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Scripts: look-alikes and schwas.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Cyrillic,
}

/// Latin letters and the Cyrillic letters that look the same.
const LOOKALIKES: &[(char, char)] = &[
    ('a', 'а'),
    ('c', 'с'),
    ('e', 'е'),
    ('o', 'о'),
    ('p', 'р'),
    ('x', 'х'),
    ('y', 'у'),
    ('A', 'А'),
    ('B', 'В'),
    ('C', 'С'),
    ('E', 'Е'),
    ('H', 'Н'),
    ('K', 'К'),
    ('M', 'М'),
    ('O', 'О'),
    ('P', 'Р'),
    ('T', 'Т'),
    ('X', 'Х'),
];

fn to_cyrillic(c: char) -> Option<char> {
    LOOKALIKES.iter().find(|(l, _)| *l == c).map(|(_, k)| *k)
}

fn to_latin(c: char) -> Option<char> {
    LOOKALIKES.iter().find(|(_, k)| *k == c).map(|(l, _)| *l)
}

fn is_schwa(c: char) -> bool {
    matches!(c, 'ə' | 'Ə' | 'ǝ' | 'Ǝ' | 'ә' | 'Ә')
}

/// The script of a letter, for the two scripts this module reconciles.
fn script_of(c: char) -> Option<Script> {
    match c {
        'a'..='z'
        | 'A'..='Z'
        | '\u{00C0}'..='\u{00D6}'
        | '\u{00D8}'..='\u{00F6}'
        | '\u{00F8}'..='\u{024F}'
        | '\u{0250}'..='\u{02AF}'
        | '\u{1E00}'..='\u{1EFF}' => Some(Script::Latin),
        '\u{0400}'..='\u{052F}' | '\u{1C80}'..='\u{1C8F}' | '\u{A640}'..='\u{A69F}'
            if c.is_alphabetic() =>
        {
            Some(Script::Cyrillic)
        }
        _ => None,
    }
}

/// Letters of each script in a text, schwas not counted; "distinct" ones
/// are those without a look-alike in the other script.
#[derive(Debug, Default, Clone, Copy)]
struct Letters {
    latin: usize,
    cyrillic: usize,
    latin_distinct: usize,
    cyrillic_distinct: usize,
}

impl Letters {
    fn of(text: &str) -> Letters {
        let mut n = Letters::default();
        for c in text.chars().filter(|c| !is_schwa(*c)) {
            match script_of(c) {
                Some(Script::Latin) => {
                    n.latin += 1;
                    if to_cyrillic(c).is_none() {
                        n.latin_distinct += 1;
                    }
                }
                Some(Script::Cyrillic) => {
                    n.cyrillic += 1;
                    if to_latin(c).is_none() {
                        n.cyrillic_distinct += 1;
                    }
                }
                None => {}
            }
        }
        n
    }

    /// The script the unambiguous letters agree on.
    fn distinct_script(&self) -> Option<Script> {
        match (self.latin_distinct > 0, self.cyrillic_distinct > 0) {
            (true, false) => Some(Script::Latin),
            (false, true) => Some(Script::Cyrillic),
            _ => None,
        }
    }

    /// The script of the majority of letters.
    fn majority_script(&self) -> Option<Script> {
        match self.latin.cmp(&self.cyrillic) {
            std::cmp::Ordering::Greater => Some(Script::Latin),
            std::cmp::Ordering::Less => Some(Script::Cyrillic),
            std::cmp::Ordering::Equal => None,
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphabetic() || is_combining_mark(c)
}

/// Rebuilds `s` with every word (run of letters and combining marks)
/// replaced by `f(word)` where that returns `Some`.
fn map_words(s: &str, mut f: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        let start = rest.find(is_word_char).unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(|c| !is_word_char(c)).unwrap_or(rest.len());
        let word = &rest[..end];
        if !word.is_empty() {
            match f(word) {
                Some(new) => out.push_str(&new),
                None => out.push_str(word),
            }
        }
        rest = &rest[end..];
    }
    out
}

/// Letters that are Roman numerals in Latin or look like them in Cyrillic.
fn is_roman_numeral_letter(c: char) -> bool {
    matches!(c, 'I' | 'V' | 'X' | 'L' | 'C' | 'D' | 'M' | 'Х' | 'С' | 'М')
}

fn repair_lookalikes(record: &mut Record, report: &mut NormalizeReport) {
    for field in &mut record.fields {
        let Field::Data(df) = field else { continue };
        for sf in &mut df.subfields {
            // ASCII text has no Cyrillic letter to mix with.
            if sf.value.is_ascii() || !is_text_subfield(&df.tag, sf.code) {
                continue;
            }
            let letters = Letters::of(&sf.value);
            // A word can only mix scripts if the subfield has letters of
            // both: otherwise every word is left as it is.
            if letters.latin == 0 || letters.cyrillic == 0 {
                continue;
            }
            let context = letters.distinct_script();
            let mut ambiguous = Vec::new();
            let new = map_words(&sf.value, |word| {
                let letters = Letters::of(word);
                if letters.latin == 0 || letters.cyrillic == 0 {
                    return None;
                }
                let target = if letters.latin_distinct > 0 && letters.cyrillic_distinct > 0 {
                    None
                } else if let Some(script) = letters.distinct_script() {
                    Some(script)
                } else if word
                    .chars()
                    .filter(|c| script_of(*c).is_some())
                    .all(is_roman_numeral_letter)
                {
                    Some(Script::Latin)
                } else {
                    context.or(letters.majority_script())
                };
                let Some(target) = target else {
                    ambiguous.push(word.to_string());
                    return None;
                };
                let convert = match target {
                    Script::Latin => to_latin,
                    Script::Cyrillic => to_cyrillic,
                };
                Some(word.chars().map(|c| convert(c).unwrap_or(c)).collect())
            });
            for word in ambiguous {
                report.problem(|| format!(
                    "{} ${} has a word that mixes Latin and Cyrillic letters, left as it is: {word:?}",
                    df.tag, sf.code
                ));
            }
            if new != sf.value {
                report.change(Step::Lookalikes, || {
                    describe(&df.tag, sf.code, &sf.value, &new)
                });
                sf.value = new;
            }
        }
    }
}

/// The schwa step. A schwa in the other script than its word's is wrong in
/// any language and is repaired everywhere; the turned `ǝ Ǝ` in a Latin word
/// becomes `ə Ə` only in the fields [`field_in_language`] takes for
/// Azerbaijani, since it is a letter of its own elsewhere (Kanuri and other
/// Pan-Nigerian alphabets).
fn repair_schwas_by_language(record: &mut Record, report: &mut NormalizeReport) {
    let declared = DeclaredLanguages::of(record);
    for field in &mut record.fields {
        let Field::Data(df) = field else { continue };
        let has_schwa =
            |sf: &Subfield| is_text_subfield(&df.tag, sf.code) && sf.value.chars().any(is_schwa);
        if !df.subfields.iter().any(has_schwa) {
            continue;
        }
        let azerbaijani = field_in_language(df, Lang::Azerbaijani, &declared);
        for sf in &mut df.subfields {
            if !is_text_subfield(&df.tag, sf.code) {
                continue;
            }
            if let Cow::Owned(new) = repair_schwas(&sf.value, azerbaijani) {
                if new != sf.value {
                    report.change(Step::Schwa, || describe(&df.tag, sf.code, &sf.value, &new));
                    sf.value = new;
                }
            }
        }
    }
}

/// Every schwa in the script of its word (see the module documentation);
/// a turned `ǝ Ǝ` in a Latin word only when `turned_e_is_schwa`.
fn repair_schwas(s: &str, turned_e_is_schwa: bool) -> Cow<'_, str> {
    if s.is_ascii() || !s.chars().any(is_schwa) {
        return Cow::Borrowed(s);
    }
    let context = {
        let l = Letters::of(s);
        l.distinct_script().or(l.majority_script())
    };
    Cow::Owned(map_words(s, |word| {
        if !word.chars().any(is_schwa) {
            return None;
        }
        let l = Letters::of(word);
        let script = l.distinct_script().or(l.majority_script()).or(context)?;
        Some(
            word.chars()
                .map(|c| match (script, c) {
                    (Script::Latin, 'ә') => 'ə',
                    (Script::Latin, 'Ә') => 'Ə',
                    (Script::Latin, 'ǝ') if turned_e_is_schwa => 'ə',
                    (Script::Latin, 'Ǝ') if turned_e_is_schwa => 'Ə',
                    (Script::Cyrillic, 'ə' | 'ǝ') => 'ә',
                    (Script::Cyrillic, 'Ə' | 'Ǝ') => 'Ә',
                    _ => c,
                })
                .collect(),
        )
    }))
}

// ---------------------------------------------------------------------------
// Which language a field is in, for the language-specific steps.

/// The languages a record says its text is in: 008/35-37, the 041 codes of
/// the item's own content ($a text, $b summary, $d sung or spoken text, $e
/// librettos, $f table of contents, $g accompanying material, $j
/// subtitles; not $h and the other subfields for originals and
/// translations), and 040 $b, the language the cataloguer wrote notes and
/// headings in. Empty when the record names none (no codes, or only blank,
/// fill, `und`, `mul`, `zxx`).
struct DeclaredLanguages(Vec<Lang>);

impl DeclaredLanguages {
    fn of(record: &Record) -> DeclaredLanguages {
        let mut langs = Vec::new();
        if let Some(lang) = record
            .control("008")
            .and_then(|f| f.get(35..38))
            .and_then(lang_from_marc)
        {
            langs.push(lang);
        }
        let codes = record
            .data_fields("041")
            .flat_map(|f| f.subfields.iter())
            .filter(|sf| matches!(sf.code, 'a' | 'b' | 'd' | 'e' | 'f' | 'g' | 'j'))
            .chain(
                record
                    .data_fields("040")
                    .flat_map(|f| f.subfields.iter())
                    .filter(|sf| sf.code == 'b'),
            );
        for sf in codes {
            // Older records run several codes together (`$a engrus`).
            let value = sf.value.trim();
            if value.len() % 3 != 0 || !value.is_ascii() {
                continue;
            }
            for i in (0..value.len()).step_by(3) {
                langs.extend(lang_from_marc(&value[i..i + 3]));
            }
        }
        DeclaredLanguages(langs)
    }

    fn names_any(&self) -> bool {
        !self.0.is_empty()
    }

    fn names(&self, lang: Lang) -> bool {
        self.0.contains(&lang)
    }
}

/// The script an 880's $6 names (`880-01/(N`): `(B` Latin, `(N` Cyrillic;
/// `Some(None)` for any other (`(2` Hebrew, `(3` Arabic, `$1` CJK, `(S`
/// Greek), `None` when the field names none.
fn linked_script(df: &DataField) -> Option<Option<Script>> {
    let linkage = df.subfield('6')?;
    let code = linkage.split('/').nth(1)?;
    Some(match code {
        "(B" => Some(Script::Latin),
        "(N" => Some(Script::Cyrillic),
        _ => None,
    })
}

/// Letters no Uzbek Latin or Azerbaijani Latin word has, or a combining mark
/// on a Latin letter: ALA-LC romanisation (`Yaʻaḳov`, `al-Jabbār`), Turkish
/// (`önsöz`), Welsh (`ŵ`) and the like. Cyrillic letters are not counted
/// (the Latin steps do not touch them).
fn has_foreign_latin(text: &str, lang: Lang) -> bool {
    let mut prev_latin = false;
    for c in text.chars() {
        if is_combining_mark(c) {
            if prev_latin {
                return true;
            }
            continue;
        }
        let latin = script_of(c) == Some(Script::Latin);
        prev_latin = latin;
        if !latin || c.is_ascii() || is_schwa(c) {
            continue;
        }
        let native = match lang {
            Lang::Azerbaijani => "çÇğĞıİöÖşŞüÜ".contains(c),
            _ => false,
        };
        if !native {
            return true;
        }
    }
    false
}

/// Whether a field's text is in `lang` (Uzbek or Azerbaijani), as far as
/// that language's repairs should believe it:
///
/// - an 880 whose $6 names a script the language is not written in here
///   (Hebrew, Arabic, CJK, Greek; Cyrillic for the Uzbek apostrophe rule,
///   which is Latin) is not;
/// - nor is a field with Latin letters the language does not have
///   ([`has_foreign_latin`]), or whose letters say another language
///   (`lang::guess_lang`);
/// - otherwise the record decides when it names languages
///   ([`DeclaredLanguages`]): the field is in `lang` if `lang` is among them;
/// - a record that names none leaves it to the letters: the field is in
///   `lang` if they say so (for Azerbaijani with more than the turned `ǝ`,
///   which is Kanuri's letter as well).
///
/// So a Hebrew romanisation in an English record, a Welsh `o'r` or a pinyin
/// `Xi'an` is never taken for Uzbek, whatever apostrophes it has.
fn field_in_language(df: &DataField, lang: Lang, declared: &DeclaredLanguages) -> bool {
    match linked_script(df) {
        None | Some(Some(Script::Latin)) => {}
        Some(Some(Script::Cyrillic)) if lang == Lang::Azerbaijani => {}
        Some(_) => return false,
    }
    let text: Vec<&str> = df
        .subfields
        .iter()
        .filter(|sf| is_text_subfield(&df.tag, sf.code))
        .map(|sf| sf.value.as_str())
        .collect();
    let text = text.join(" ");
    if has_foreign_latin(&text, lang) {
        return false;
    }
    let guess = guess_lang(&text);
    if guess.is_some_and(|g| g != lang) {
        return false;
    }
    if declared.names_any() {
        return declared.names(lang);
    }
    // The turned ǝ alone is as much Kanuri as Azerbaijani.
    let more_than_turned_e = lang != Lang::Azerbaijani
        || text.chars().any(|c| {
            matches!(
                c,
                'ə' | 'Ə'
                    | 'ә'
                    | 'Ә'
                    | 'ğ'
                    | 'Ğ'
                    | 'ı'
                    | 'ş'
                    | 'Ş'
                    | 'ç'
                    | 'Ç'
                    | 'q'
                    | 'Q'
                    | 'x'
                    | 'X'
                    | 'ҝ'
                    | 'Ҝ'
                    | 'ј'
                    | 'Ј'
                    | 'ҹ'
                    | 'Ҹ'
            )
        });
    guess == Some(lang) && more_than_turned_e
}

// ---------------------------------------------------------------------------
// Uzbek apostrophes.

/// U+02BB MODIFIER LETTER TURNED COMMA: the mark of Uzbek `oʻ` and `gʻ`.
const TURNED_COMMA: char = '\u{02BB}';
/// U+02BC MODIFIER LETTER APOSTROPHE: the Uzbek tutuq belgisi.
const APOSTROPHE: char = '\u{02BC}';

/// Whether `s` holds a character [`is_uzbek_mark`] accepts; on bytes when
/// `s` is ASCII, as most text is.
fn has_uzbek_mark(s: &str) -> bool {
    if s.is_ascii() {
        return s.bytes().any(|b| matches!(b, b'\'' | b'`'));
    }
    s.chars().any(is_uzbek_mark)
}

fn is_uzbek_mark(c: char) -> bool {
    matches!(
        c,
        '\'' | '`' | '\u{2018}' | '\u{2019}' | TURNED_COMMA | APOSTROPHE
    )
}

fn is_latin_letter(c: char) -> bool {
    script_of(c) == Some(Script::Latin)
}

fn unify_uzbek_apostrophes(record: &mut Record, report: &mut NormalizeReport) {
    let declared = DeclaredLanguages::of(record);
    for field in &mut record.fields {
        let Field::Data(df) = field else { continue };
        // Most fields have no mark at all: look before anything else.
        let has_mark =
            |sf: &Subfield| is_text_subfield(&df.tag, sf.code) && has_uzbek_mark(&sf.value);
        if !df.subfields.iter().any(has_mark) {
            continue;
        }
        if !field_in_language(df, Lang::Uzbek, &declared) {
            continue;
        }
        for sf in &mut df.subfields {
            // The rule only ever rewrites marks.
            if !is_text_subfield(&df.tag, sf.code) || !has_uzbek_mark(&sf.value) {
                continue;
            }
            let new = uzbek_apostrophes(&sf.value);
            if new != sf.value {
                report.change(Step::UzbekApostrophes, || {
                    describe(&df.tag, sf.code, &sf.value, &new)
                });
                sf.value = new;
            }
        }
    }
}

/// The Uzbek apostrophe rule (see the module documentation) over a text
/// known to be Uzbek Latin.
fn uzbek_apostrophes(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(chars.len());
    for (i, &c) in chars.iter().enumerate() {
        if !is_uzbek_mark(c) {
            out.push(c);
            continue;
        }
        let before = out.len().checked_sub(2).map(|k| out[k]);
        let mark = uzbek_mark(before, out.last().copied(), c, &chars[i + 1..]);
        out.push(mark.unwrap_or(c));
    }
    out.into_iter().collect()
}

/// What an apostrophe-like `mark` after `before` and `prev` (already
/// rewritten) and before `rest` should be, or `None` to leave it.
fn uzbek_mark(before: Option<char>, prev: Option<char>, mark: char, rest: &[char]) -> Option<char> {
    // ʻ and ʼ are letters, not punctuation: whoever typed one chose it (in
    // ALA-LC romanisation ʻ is ayin and ʼ alif), so neither becomes the other.
    if matches!(mark, TURNED_COMMA | APOSTROPHE) {
        return None;
    }
    let prev = prev?;
    let next = rest.first().copied();
    let next_letter = next.is_some_and(is_latin_letter);
    if next_letter && is_english_contraction(prev, rest) {
        return None;
    }
    if matches!(prev, 'o' | 'g' | 'O' | 'G') {
        let irish = prev == 'O'
            && next.is_some_and(char::is_uppercase)
            && rest.get(1).is_some_and(|c| c.is_lowercase())
            && !matches!(mark, TURNED_COMMA | '\u{2018}');
        if irish {
            return None;
        }
        if next_letter || next.is_some_and(is_uzbek_mark) {
            return Some(TURNED_COMMA);
        }
        let word_end = !next.is_some_and(char::is_alphanumeric);
        // The initial of a name such as Oʻlmas: `O'.` starting a word.
        let initial = prev == 'O' && next == Some('.') && !before.is_some_and(char::is_alphabetic);
        return ((matches!(prev, 'g' | 'G') && word_end) || initial).then_some(TURNED_COMMA);
    }
    ((is_latin_letter(prev) || prev == TURNED_COMMA) && next_letter).then_some(APOSTROPHE)
}

/// Whether a mark after `prev` and before `rest` is an English contraction
/// or possessive that ends the word: `n't`, `I'm`, and `'s`, `'re`, `'ll`,
/// `'ve`, `'d` after any letter. (`t` and `m` need their `n` and `I`, since
/// Uzbek `o't` and `so'm` end the same way.)
fn is_english_contraction(prev: char, rest: &[char]) -> bool {
    let tail: String = rest
        .iter()
        .take_while(|c| c.is_alphabetic())
        .flat_map(|c| c.to_lowercase())
        .collect();
    match tail.as_str() {
        "t" => matches!(prev, 'n' | 'N'),
        "m" => prev == 'I',
        "s" | "re" | "ll" | "ve" | "d" => true,
        _ => false,
    }
}

/// `(pbk.)` → `pbk.`: a qualifier without the brackets around it.
fn unbracket(q: &str) -> String {
    let q = q.trim();
    match q.strip_prefix('(').and_then(|q| q.strip_suffix(')')) {
        Some(inner) if !inner.contains(['(', ')']) => inner.trim().to_string(),
        _ => q.to_string(),
    }
}

/// A qualifier that is a price ("$25.00", "£7.99") belongs in $c.
fn is_price(q: &str) -> bool {
    q.starts_with(['$', '£', '€', '¥', '₽', '₼', '₸'])
}

fn normalize_isbns(record: &mut Record, report: &mut NormalizeReport) {
    for field in &mut record.fields {
        let Field::Data(df) = field else { continue };
        if df.tag != "020" {
            continue;
        }
        let mut has_c = df.subfields.iter().any(|s| s.code == 'c');
        let mut out: Vec<Subfield> = Vec::with_capacity(df.subfields.len() + 1);
        for sf in df.subfields.drain(..) {
            match sf.code {
                'a' => match parse_isbn(&sf.value) {
                    Some(IsbnParse {
                        isbn13: Some(isbn),
                        qualifier,
                        ..
                    }) => {
                        if isbn != sf.value {
                            report.change(Step::Isbn, || describe("020", 'a', &sf.value, &isbn));
                        }
                        out.push(Subfield::new('a', isbn));
                        if let Some(q) = qualifier {
                            let q = unbracket(&q);
                            let code = if is_price(&q) && !has_c {
                                has_c = true;
                                'c'
                            } else {
                                'q'
                            };
                            report.change(Step::Isbn, || format!("020 ${code} {q:?} added"));
                            out.push(Subfield::new(code, q));
                        }
                    }
                    Some(IsbnParse { isbn13: None, .. }) => {
                        report.change(Step::Isbn, || {
                            format!("020 $a {:?} moved to $z: wrong check digit", sf.value)
                        });
                        out.push(Subfield::new('z', sf.value));
                    }
                    None => {
                        report.problem(|| format!("020 $a is not an ISBN: {:?}", sf.value));
                        out.push(sf);
                    }
                },
                'q' => {
                    let q = unbracket(&sf.value);
                    if q != sf.value {
                        report.change(Step::Isbn, || describe("020", 'q', &sf.value, &q));
                    }
                    out.push(Subfield::new('q', q));
                }
                _ => out.push(sf),
            }
        }
        df.subfields = out;
    }
}

/// The eight characters of an ISSN written as `1234-5679`, `1234 5679`,
/// `12345679` or with an `ISSN` label, or `None` if `value` is not shaped
/// like one (the check digit is not looked at here).
fn issn_chars(value: &str) -> Option<String> {
    let v = value.trim();
    let v = match v.get(..4) {
        Some(label) if label.eq_ignore_ascii_case("issn") => v[4..].trim_start_matches([':', ' ']),
        _ => v,
    };
    let v = v.trim_end_matches(['.', ' ']);
    let chars: Vec<char> = v.chars().collect();
    let (first, second) = match chars.len() {
        8 => (&chars[..4], &chars[4..]),
        9 if matches!(chars[4], '-' | ' ' | '\u{2010}' | '\u{2011}' | '\u{2013}') => {
            (&chars[..4], &chars[5..])
        }
        _ => return None,
    };
    let shaped = first.iter().all(char::is_ascii_digit)
        && second[..3].iter().all(char::is_ascii_digit)
        && (second[3].is_ascii_digit() || matches!(second[3], 'x' | 'X'));
    shaped.then(|| {
        first
            .iter()
            .chain(second)
            .map(char::to_ascii_uppercase)
            .collect()
    })
}

fn normalize_issns(record: &mut Record, report: &mut NormalizeReport) {
    for field in &mut record.fields {
        let Field::Data(df) = field else { continue };
        if df.tag != "022" {
            continue;
        }
        for sf in &mut df.subfields {
            if !matches!(sf.code, 'a' | 'l') {
                continue;
            }
            let Some(chars) = issn_chars(&sf.value) else {
                report.problem(|| format!("022 ${} is not an ISSN: {:?}", sf.code, sf.value));
                continue;
            };
            match normalize_issn(&chars) {
                Some(issn) => {
                    if issn != sf.value {
                        report.change(Step::Issn, || describe("022", sf.code, &sf.value, &issn));
                        sf.value = issn;
                    }
                }
                None if sf.code == 'a' => {
                    report.change(Step::Issn, || {
                        format!("022 $a {:?} moved to $y: wrong check digit", sf.value)
                    });
                    sf.code = 'y';
                }
                None => report.problem(|| {
                    format!("022 ${} has a wrong check digit: {:?}", sf.code, sf.value)
                }),
            }
        }
    }
}

/// Whether a normalised LCCN has the structure LC describes: a prefix of
/// up to three letters and eight digits, or up to two letters and ten.
fn lccn_well_formed(n: &str) -> bool {
    let digits_at = n.find(|c: char| c.is_ascii_digit()).unwrap_or(n.len());
    let (prefix, digits) = n.split_at(digits_at);
    prefix.chars().all(|c| c.is_ascii_lowercase())
        && digits.chars().all(|c| c.is_ascii_digit())
        && ((digits.len() == 8 && prefix.len() <= 3) || (digits.len() == 10 && prefix.len() <= 2))
}

fn normalize_lccns(record: &mut Record, report: &mut NormalizeReport) {
    for field in &mut record.fields {
        let Field::Data(df) = field else { continue };
        if df.tag != "010" {
            continue;
        }
        for sf in df.subfields.iter_mut().filter(|s| s.code == 'a') {
            match normalize_lccn(&sf.value).filter(|n| lccn_well_formed(n)) {
                Some(n) => {
                    if n != sf.value {
                        report.change(Step::Lccn, || describe("010", 'a', &sf.value, &n));
                        sf.value = n;
                    }
                }
                None => report.problem(|| format!("010 $a is not an LCCN: {:?}", sf.value)),
            }
        }
    }
}

/// An OCLC number without `ocm`/`ocn`/`on` prefix and leading zeros.
fn oclc_digits(s: &str) -> Option<String> {
    let s = s.trim();
    let s = ["ocm", "ocn", "on"]
        .iter()
        .find_map(|p| s.strip_prefix(p))
        .unwrap_or(s)
        .trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = s.trim_start_matches('0');
    (!n.is_empty()).then(|| n.to_string())
}

/// The canonical form of a 035 system number: `(OCoLC)` + the bare number
/// for OCLC numbers (with or without `(OCoLC)`, any case), `(code)number`
/// without blanks for the others. `Err` with the value when it says OCoLC
/// but holds no number.
fn canonical_system_number(value: &str) -> Result<String, String> {
    let v = value.trim();
    if let Some((org, number)) = v.strip_prefix('(').and_then(|r| r.split_once(')')) {
        if org.trim().eq_ignore_ascii_case("ocolc") {
            return oclc_digits(number)
                .map(|n| format!("(OCoLC){n}"))
                .ok_or_else(|| v.to_string());
        }
        return Ok(format!("({}){}", org.trim(), number.trim()));
    }
    let bare_oclc = ["ocm", "ocn", "on"].iter().any(|p| v.starts_with(p));
    match oclc_digits(v) {
        Some(n) if bare_oclc => Ok(format!("(OCoLC){n}")),
        _ => Ok(v.to_string()),
    }
}

fn normalize_system_numbers(record: &mut Record, report: &mut NormalizeReport) {
    for field in &mut record.fields {
        let Field::Data(df) = field else { continue };
        if df.tag != "035" {
            continue;
        }
        for sf in df
            .subfields
            .iter_mut()
            .filter(|s| matches!(s.code, 'a' | 'z'))
        {
            match canonical_system_number(&sf.value) {
                Ok(n) => {
                    if n != sf.value {
                        report.change(Step::SystemNumbers, || {
                            describe("035", sf.code, &sf.value, &n)
                        });
                        sf.value = n;
                    }
                }
                Err(v) => report.problem(|| {
                    format!(
                        "035 ${} says OCoLC but holds no OCLC number: {v:?}",
                        sf.code
                    )
                }),
            }
        }
    }
    // Two spellings of one number are now one 035 twice.
    let mut seen: Vec<DataField> = Vec::new();
    record.fields.retain(|f| match f {
        Field::Data(df) if df.tag == "035" => {
            if seen.contains(df) {
                let value = df.subfield('a').or(df.subfield('z')).unwrap_or_default();
                report.change(Step::SystemNumbers, || {
                    format!("035 {value:?} removed: a duplicate")
                });
                false
            } else {
                seen.push(df.clone());
                true
            }
        }
        _ => true,
    });
}

/// Digits of a 024 $a (an `M` kept at the start for ISMN-10) and the
/// qualifier after them.
fn split_standard_number(value: &str) -> (String, Option<String>) {
    let v = value.trim();
    let mut number = String::new();
    let mut end = v.len();
    for (i, c) in v.char_indices() {
        match c {
            'M' | 'm' if number.is_empty() => number.push('M'),
            '0'..='9' => number.push(c),
            '-' | ' ' | '\u{2010}' | '\u{2011}' | '\u{2013}' => {}
            _ => {
                end = i;
                break;
            }
        }
    }
    let rest = v[end..].trim().trim_start_matches(':').trim();
    let qualifier = (!rest.is_empty()).then(|| unbracket(rest));
    (number, qualifier)
}

fn normalize_ismn_ean(record: &mut Record, report: &mut NormalizeReport) {
    for field in &mut record.fields {
        let Field::Data(df) = field else { continue };
        if df.tag != "024" || !matches!(df.ind1, '2' | '3') {
            continue;
        }
        let ismn = df.ind1 == '2';
        let kind = if ismn { "ISMN" } else { "EAN" };
        let mut out: Vec<Subfield> = Vec::with_capacity(df.subfields.len() + 1);
        for sf in df.subfields.drain(..) {
            if sf.code != 'a' {
                out.push(sf);
                continue;
            }
            let (number, qualifier) = split_standard_number(&sf.value);
            let thirteen = match (ismn, number.strip_prefix('M')) {
                (true, Some(rest)) if rest.len() == 9 => Some(format!("9790{rest}")),
                (true, None) if number.len() == 13 && number.starts_with("9790") => {
                    Some(number.clone())
                }
                (false, None) if number.len() == 13 => Some(number.clone()),
                _ => None,
            };
            let Some(thirteen) = thirteen else {
                report.problem(|| format!("024 $a is not an {kind}: {:?}", sf.value));
                out.push(sf);
                continue;
            };
            if !isbn13_valid(&thirteen) {
                report.change(Step::IsmnEan, || {
                    format!("024 $a {:?} moved to $z: wrong check digit", sf.value)
                });
                out.push(Subfield::new('z', sf.value));
                continue;
            }
            if thirteen != sf.value {
                report.change(Step::IsmnEan, || describe("024", 'a', &sf.value, &thirteen));
            }
            out.push(Subfield::new('a', thirteen));
            if let Some(q) = qualifier {
                report.change(Step::IsmnEan, || format!("024 $q {q:?} added"));
                out.push(Subfield::new('q', q));
            }
        }
        df.subfields = out;
    }
}

// ---------------------------------------------------------------------------
// 008.

/// The first four-digit run in a text.
fn first_year(s: &str) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    chars.windows(4).enumerate().find_map(|(i, w)| {
        let digits = w.iter().all(char::is_ascii_digit);
        let digit_before = i > 0 && chars[i - 1].is_ascii_digit();
        let digit_after = chars.get(i + 4).is_some_and(char::is_ascii_digit);
        let alone = !digit_before && !digit_after;
        (digits && alone).then(|| w.iter().collect())
    })
}

/// Date 1 for the 008 from 264 _1 $c, 260 $c, 264 _4 $c, in that order,
/// and whether that $c names exactly one year (so type of date is `s`).
fn derivable_date(record: &Record) -> Option<(String, bool)> {
    let sources = record
        .data_fields("264")
        .filter(|f| f.ind2 == '1')
        .chain(record.data_fields("260"))
        .chain(record.data_fields("264").filter(|f| f.ind2 == '4'));
    for f in sources {
        for c in f.subfields_of('c') {
            if let Some(year) = first_year(c) {
                let years = c.matches(|ch: char| ch.is_ascii_digit()).count() / 4;
                let single = years == 1 && !c.trim_end_matches(['.', ' ']).ends_with('-');
                return Some((year, single));
            }
        }
    }
    None
}

/// The language for 008/35-37 from the first 041 $a.
fn derivable_language(record: &Record) -> Option<String> {
    let a = record.data_fields("041").find_map(|f| f.subfield('a'))?;
    let code = a.trim().get(..3)?;
    code.chars()
        .all(|c| c.is_ascii_alphabetic())
        .then(|| code.to_ascii_lowercase())
}

fn uncoded(chars: &[char]) -> bool {
    chars.iter().all(|c| matches!(c, ' ' | '|'))
}

fn repair_008(record: &mut Record, report: &mut NormalizeReport) {
    if matches!(
        record.leader.chars().nth(6),
        Some('u' | 'v' | 'x' | 'y' | 'z')
    ) {
        return;
    }
    let date = derivable_date(record);
    let lang = derivable_language(record);
    let old = record.control("008").map(str::to_string);
    let mut f: Vec<char> = match &old {
        Some(v) => v.chars().collect(),
        None if date.is_none() && lang.is_none() => return,
        None => {
            report.change(Step::FixedFields, || "008 created".to_string());
            let mut f = vec![' '; 6];
            f.resize(40, '|');
            f
        }
    };
    if f.len() < 40 {
        report.change(Step::FixedFields, || {
            format!("008 padded from {} to 40 characters", f.len())
        });
        f.resize(40, '|');
        // Date entered on file may not be fill; blanks say "unknown".
        for c in f.iter_mut().take(6) {
            if *c == '|' {
                *c = ' ';
            }
        }
    } else if f.len() > 40 {
        if uncoded(&f[40..]) {
            report.change(Step::FixedFields, || {
                format!("008 cut from {} to 40 characters", f.len())
            });
            f.truncate(40);
        } else {
            report.problem(|| {
                format!(
                    "008 is longer than 40 characters, positions after 39 left alone: '{}'",
                    f.len()
                )
            });
        }
    }
    if let Some((year, single)) = date.filter(|_| uncoded(&f[7..11])) {
        report.change(Step::FixedFields, || {
            format!("008/07-10 date 1 {year} from 260/264 $c")
        });
        f.splice(7..11, year.chars());
        if single && uncoded(&f[6..7]) {
            f[6] = 's';
            report.change(Step::FixedFields, || "008/06 type of date 's'".to_string());
            if uncoded(&f[11..15]) {
                f[11..15].fill(' ');
            }
        }
    }
    if uncoded(&f[35..38]) {
        if let Some(lang) = lang {
            report.change(Step::FixedFields, || {
                format!("008/35-37 language {lang} from 041")
            });
            f.splice(35..38, lang.chars());
        }
    } else if f[35..38].iter().all(char::is_ascii_uppercase) {
        let lower: Vec<char> = f[35..38].iter().map(char::to_ascii_lowercase).collect();
        report.change(Step::FixedFields, || {
            format!(
                "008/35-37 language lower-cased to {}",
                lower.iter().collect::<String>()
            )
        });
        f.splice(35..38, lower);
    }
    let new: String = f.into_iter().collect();
    if old.as_deref() != Some(new.as_str()) {
        record.set_control("008", new);
    }
}

// ---------------------------------------------------------------------------
// ISBD punctuation.

/// The fields the ISBD step punctuates.
const ISBD_TAGS: [&str; 6] = ["245", "250", "260", "264", "300", "490"];

/// The subfields of a field that take part in its punctuation.
fn isbd_codes(tag: &str) -> &'static [char] {
    match tag {
        "245" => &['a', 'b', 'c', 'f', 'g', 'h', 'k', 'n', 'p', 's'],
        "250" => &['a', 'b'],
        "260" => &['a', 'b', 'c', 'e', 'f', 'g'],
        "264" => &['a', 'b', 'c'],
        "300" => &['a', 'b', 'c', 'e', 'f', 'g'],
        "490" => &['a', 'l', 'v', 'x'],
        _ => &[],
    }
}

/// A mark a partner may have left at the end of a subfield (or the start
/// of the next): the ones the convention replaces. `+` counts only in 300,
/// where it is a separator; elsewhere it may be content (`C++`).
fn is_isbd_mark(c: char, tag: &str) -> bool {
    matches!(c, ':' | '/' | ';' | '=' | ',') || (c == '+' && tag == "300")
}

/// Words that keep their period even though they are four letters or
/// longer: abbreviations common in the partners' descriptions (place
/// names, publishers, 250 and 300 terms in English, Russian, Uzbek and
/// Azerbaijani). Shorter words always keep it (`ed.`, `ill.`, `t.`, `Co.`).
const LONG_ABBREVIATIONS: &[&str] = &[
    "acad",
    "approx",
    "ariz",
    "assoc",
    "bros",
    "calif",
    "colo",
    "comp",
    "conn",
    "corp",
    "dept",
    "facsim",
    "facsims",
    "illus",
    "inst",
    "mass",
    "mich",
    "minn",
    "okla",
    "penn",
    "port",
    "ports",
    "prelim",
    "publ",
    "suppl",
    "tenn",
    "univ",
    "wash",
    "wisc",
    "авториз",
    "граф",
    "дополн",
    "иллюстр",
    "испр",
    "исправл",
    "карт",
    "науч",
    "перераб",
    "портр",
    "прил",
    "сокр",
    "сост",
    "стер",
    "стереотип",
    "табл",
    "факс",
    "худож",
    "rasm",
    "tərc",
    "tuzuv",
    "toʻld",
];

/// Metric symbols, which RDA writes without a period; a period after one
/// in 300 is punctuation.
const METRIC_SYMBOLS: &[&str] = &["cm", "mm", "sm", "см", "мм"];

/// Whether the period `t` ends with is punctuation rather than integral to
/// the data: after a digit, a blank or a closing bracket or quote, and
/// after a word of four letters or more that is not a known abbreviation
/// (in 300 also after a metric symbol). A period after a short word
/// (`ed.`, `b.`), an initial (`J.`), an initialism (`U.S.A.`) or in an
/// ellipsis is kept.
fn period_is_punctuation(t: &str, tag: &str) -> bool {
    let Some(body) = t.strip_suffix('.') else {
        return false;
    };
    let Some(last) = body.chars().last() else {
        return false;
    };
    if last.is_ascii_digit() || last.is_whitespace() || matches!(last, ')' | ']' | '"' | '»' | '”')
    {
        return true;
    }
    let in_word = |c: char| c.is_alphabetic() || is_combining_mark(c);
    if !in_word(last) {
        return false;
    }
    let word_start = body
        .char_indices()
        .rev()
        .find(|(_, c)| !in_word(*c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let word = &body[word_start..];
    if body[..word_start].ends_with('.') {
        return false;
    }
    let lower = word.to_lowercase();
    if tag == "300" && METRIC_SYMBOLS.contains(&lower.as_str()) {
        return true;
    }
    word.chars().filter(|c| c.is_alphabetic()).count() >= 4
        && !LONG_ABBREVIATIONS.contains(&lower.as_str())
}

/// `value` without trailing ISBD marks (and blanks).
fn strip_trailing_marks<'a>(value: &'a str, tag: &str) -> &'a str {
    value
        .trim_end()
        .trim_end_matches(|c: char| is_isbd_mark(c, tag) || c.is_whitespace())
}

/// `value` without leading ISBD marks (and blanks).
fn strip_leading_marks<'a>(value: &'a str, tag: &str) -> &'a str {
    value.trim_start_matches(|c: char| is_isbd_mark(c, tag) || c.is_whitespace())
}

/// `value` ending in `mark` (`""` for none) instead of whatever ISBD mark
/// it ended with.
fn with_mark(value: &str, mark: &str, tag: &str) -> String {
    let mut t = strip_trailing_marks(value, tag);
    if mark != "." && period_is_punctuation(t, tag) {
        t = t[..t.len() - 1].trim_end();
    }
    if t.is_empty() {
        return t.to_string();
    }
    match mark {
        "." if t.ends_with(['.', '?', '!']) => t.to_string(),
        _ => format!("{t}{mark}"),
    }
}

/// The mark between two subfields of a field, or `None` to leave the
/// partner's. `marks` are the marks the partner wrote there (end of the one,
/// start of the other), for the choices the partner's data decides.
fn separator(tag: &str, prev: char, next: char, marks: &str) -> Option<&'static str> {
    match (tag, prev, next) {
        ("245", 'a' | 'b' | 'n' | 'p', 'b') => Some(if marks.contains('=') {
            " ="
        } else if marks.contains(';') {
            " ;"
        } else {
            " :"
        }),
        ("245", 'a' | 'b' | 'n' | 'p' | 'f' | 'g' | 'k' | 's', 'c') => Some(" /"),
        ("245", 'a' | 'b', 'n' | 'p') | ("245", 'a' | 'b' | 'n' | 'p', 's') => Some("."),
        ("245", 'n', 'p') | ("245", 'a' | 'b' | 'n' | 'p', 'f') => Some(","),
        ("250", 'a', 'b') => Some(if marks.contains('=') { " =" } else { " /" }),
        ("260" | "264", 'a' | 'b', 'b') => Some(" :"),
        ("260" | "264", 'a' | 'b', 'a') => Some(" ;"),
        ("260" | "264", 'a' | 'b', 'c') => Some(","),
        ("300", 'a', 'b') => Some(" :"),
        ("300", 'a' | 'b', 'c') => Some(" ;"),
        ("300", 'a' | 'b' | 'c', 'e') => Some(" +"),
        ("490", 'a' | 'x', 'v') => Some(" ;"),
        ("490", 'a', 'x') => Some(","),
        _ => None,
    }
}

/// `value` as the end of a field: no ISBD mark and no period that is not
/// integral to the data (see [`period_is_punctuation`]).
fn with_ending(value: &str, tag: &str) -> String {
    let t = strip_trailing_marks(value, tag);
    if period_is_punctuation(t, tag) {
        t[..t.len() - 1].trim_end().to_string()
    } else {
        t.to_string()
    }
}

/// The tag whose punctuation a field follows: its own, or for an 880 the
/// tag its $6 links it to.
fn isbd_tag(df: &DataField) -> Option<&'static str> {
    let tag = if df.tag == "880" {
        df.subfield('6')?.get(..3)?
    } else {
        df.tag.as_str()
    };
    ISBD_TAGS.into_iter().find(|t| *t == tag)
}

fn punctuate_isbd(record: &mut Record, report: &mut NormalizeReport) {
    let mut punctuated = false;
    for field in &mut record.fields {
        let Field::Data(df) = field else { continue };
        let Some(tag) = isbd_tag(df) else { continue };
        let before = df.subfields.clone();
        punctuate_field(df, tag);
        punctuated = true;
        for (old, new) in before.iter().zip(&df.subfields) {
            if old.value != new.value {
                report.change(Step::Isbd, || {
                    describe(&df.tag, new.code, &old.value, &new.value)
                });
            }
        }
    }
    if punctuated && record.leader.get(18..19) == Some("c") {
        record.leader.replace_range(18..19, "i");
        report.change(Step::Isbd, || {
            "leader/18 'c' → 'i': ISBD punctuation now included".to_string()
        });
    }
}

fn punctuate_field(df: &mut DataField, tag: &str) {
    let codes = isbd_codes(tag);
    let text: Vec<usize> = (0..df.subfields.len())
        .filter(|&i| codes.contains(&df.subfields[i].code))
        .collect();
    let Some(&last) = text.last() else { return };
    // A 245 $h (medium) carries the mark of the transition it sits in.
    let anchors: Vec<usize> = text
        .iter()
        .copied()
        .filter(|&i| !(tag == "245" && df.subfields[i].code == 'h'))
        .collect();
    for pair in anchors.windows(2) {
        let (i, j) = (pair[0], pair[1]);
        let carrier = text.iter().copied().filter(|&k| k < j).max().unwrap_or(i);
        let mut marks = String::new();
        for k in [i, carrier] {
            let v = &df.subfields[k].value;
            marks.push_str(&v[strip_trailing_marks(v, tag).len()..]);
        }
        let next = &df.subfields[j].value;
        marks.push_str(&next[..next.len() - strip_leading_marks(next, tag).len()]);
        let Some(mark) = separator(tag, df.subfields[i].code, df.subfields[j].code, &marks) else {
            continue;
        };
        if carrier != i {
            df.subfields[i].value = with_mark(&df.subfields[i].value, "", tag);
        }
        df.subfields[carrier].value = with_mark(&df.subfields[carrier].value, mark, tag);
        df.subfields[j].value = strip_leading_marks(&df.subfields[j].value, tag).to_string();
    }
    df.subfields[last].value = with_ending(&df.subfields[last].value, tag);
}

// ---------------------------------------------------------------------------
// Provenance and cataloguing source.

/// Keep the partner's 001 (with 003, or the partner's code) as a 035
/// `(CODE)id`, unless the record already carries that number (in any
/// spelling the `system-numbers` step would make canonical).
fn add_provenance_035(record: &mut Record, partner_code: &str, report: &mut NormalizeReport) {
    let Some(id) = record
        .control("001")
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return;
    };
    let org = record
        .control("003")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(partner_code);
    let value = format!("({org}){id}");
    let canonical = |v: &str| canonical_system_number(v).unwrap_or_else(|v| v);
    let wanted = canonical(&value);
    let present = record
        .data_fields("035")
        .any(|f| f.subfields_of('a').any(|a| canonical(a) == wanted));
    if !present {
        report.change(Step::Provenance, || format!("035 $a {value:?} added"));
        record.insert_sorted(Field::Data(
            DataField::new("035", ' ', ' ').with('a', value),
        ));
    }
}

/// 040 $d with the union catalogue's code, once.
fn add_cataloguing_source(
    record: &mut Record,
    partner_code: &str,
    union_code: &str,
    report: &mut NormalizeReport,
) {
    let union_code = union_code.trim();
    if union_code.is_empty() {
        return;
    }
    let existing = record.fields.iter_mut().find_map(|f| match f {
        Field::Data(df) if df.tag == "040" => Some(df),
        _ => None,
    });
    match existing {
        Some(df) => {
            if df.subfields_of('d').any(|d| d.trim() == union_code) {
                return;
            }
            df.push('d', union_code);
            report.change(Step::CataloguingSource, || {
                format!("040 $d {union_code:?} added")
            });
        }
        None => {
            let mut df = DataField::new("040", ' ', ' ');
            let partner_code = partner_code.trim();
            if !partner_code.is_empty() {
                df.push('a', partner_code);
                df.push('c', partner_code);
            }
            df.push('d', union_code);
            report.change(Step::CataloguingSource, || {
                format!("040 created with $d {union_code:?}")
            });
            record.insert_sorted(Field::Data(df));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte tests that [`has_controls`] and [`is_collapsed`] use for
    /// ASCII text answer as their char-by-char rules do, for every string
    /// of up to four characters over the ASCII that matters to them.
    #[test]
    fn ascii_shortcuts_agree_with_the_char_rules() {
        let alphabet = [
            ' ', 'a', '\t', '\n', '\u{b}', '\u{c}', '\r', '\u{1}', '\u{1f}', '\u{7f}', '~',
        ];
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = texts
                .iter()
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            texts.extend(longer);
            texts.sort();
            texts.dedup();
        }
        assert!(texts.len() > 10_000);
        for t in &texts {
            assert_eq!(has_controls(t), has_controls_by_char(t), "{t:?}");
            assert_eq!(is_collapsed(t), is_collapsed_by_char(t), "{t:?}");
        }
    }

    // A wrong check digit must not become a match key.
    #[test]
    fn bad_check_digit_moves_to_z() {
        let mut r = Record::new("00000nam a2200000 i 4500");
        r.push(Field::Data(
            DataField::new("020", ' ', ' ').with('a', "978-0-262-03384-9"),
        ));
        let r = normalize(r, &PartnerContext { code: "X" });
        let f = r.data_fields("020").next().unwrap();
        assert_eq!(f.subfield('a'), None);
        assert_eq!(f.subfield('z'), Some("978-0-262-03384-9"));
    }

    // NFC and whitespace: decomposed ö and doubled spaces compare equal after.
    #[test]
    fn text_is_nfc_trimmed_and_collapsed() {
        assert_eq!(clean_text("  Go\u{308}zel \t  ko\u{308}l  "), "Gözel köl");
        assert_eq!(clean_text("a\u{0007}b"), "ab");
    }

    // The partner's 001 must survive merging as a 035.
    #[test]
    fn provenance_035_added_once() {
        let mut r = Record::new("00000nam a2200000 i 4500");
        r.push(Field::Control(ControlField {
            tag: "001".into(),
            value: "AZ1".into(),
        }));
        let r = normalize(r, &PartnerContext { code: "AZ-BaNL" });
        let r = normalize(r, &PartnerContext { code: "AZ-BaNL" });
        let v: Vec<_> = r
            .data_fields("035")
            .filter_map(|f| f.subfield('a'))
            .collect();
        assert_eq!(v, vec!["(AZ-BaNL)AZ1"]);
    }

    // A partner's config section names steps by Step::name; a typo must be
    // refused, not silently ignored.
    #[test]
    fn options_keys_are_the_step_names_and_unknown_keys_are_refused() {
        for step in Step::ALL {
            let o: NormalizeOptions = toml::from_str(&format!("{} = false", step.name()))
                .unwrap_or_else(|e| panic!("{}: {e}", step.name()));
            for other in Step::ALL {
                assert_eq!(o.enabled(other), other != step, "{}", other.name());
            }
            assert_eq!(Step::from_name(step.name()), Some(step));
        }
        let o: NormalizeOptions = toml::from_str("unicode-form = \"nfd\"").unwrap();
        assert_eq!(o.unicode_form, UnicodeForm::Nfd);
        assert_eq!(o.union_code, "UNICAT");
        assert!(toml::from_str::<NormalizeOptions>("isbd-style = true").is_err());
        assert!(toml::from_str::<NormalizeOptions>("union-code = \"X\"").is_err());
    }

    // With every step off, a messy record comes back exactly as it went in.
    #[test]
    fn all_steps_off_change_nothing() {
        let mut r = Record::new("00000nzm a2200000 c 4500");
        r.push(Field::Data(
            DataField::new("245", '1', '0')
                .with('a', " Тoшкент  O'zbek: ")
                .with('c', "X"),
        ));
        let mut report = NormalizeReport::default();
        let out = normalize_with(
            r.clone(),
            &PartnerContext { code: "X" },
            &NormalizeOptions::none(),
            &mut report,
        );
        assert_eq!(out, r);
        assert_eq!(report, NormalizeReport::default());
    }

    // Periods that belong to the data (abbreviations, initials) survive;
    // periods that are punctuation are replaced or dropped.
    #[test]
    fn marks_replace_marks_but_keep_integral_periods() {
        assert_eq!(with_mark("Title:", " :", "245"), "Title :");
        assert_eq!(with_mark("384 b.", " :", "300"), "384 b. :");
        assert_eq!(
            with_mark("Cambridge, Mass.", " :", "260"),
            "Cambridge, Mass. :"
        );
        assert_eq!(with_mark("2019.", ",", "260"), "2019,");
        assert_eq!(with_mark("Sharq.", ",", "264"), "Sharq,");
        assert_eq!(with_mark("12 sm.", " +", "300"), "12 sm +");
        assert_eq!(with_mark("yeddi cilddə.", ".", "245"), "yeddi cilddə.");
        assert_eq!(with_mark("C++", " :", "245"), "C++ :");
        for kept in [
            "Smith, J.",
            "5th ed.",
            "Изд. 2-е, доп. и перераб.",
            "Washington, D.C.",
            "Nima qilmoq kerak?",
            "Kutish...",
            "416 b.",
            "1958-",
        ] {
            assert_eq!(with_ending(kept, "300"), kept);
        }
        assert_eq!(with_ending("Abdulla Qodiriy.", "245"), "Abdulla Qodiriy");
        assert_eq!(
            with_ending("Thomas H. Cormen ... [et al.].", "245"),
            "Thomas H. Cormen ... [et al.]"
        );
        assert_eq!(with_ending("Title /", "245"), "Title");
        assert_eq!(with_ending("5.", "490"), "5");
        assert_eq!(with_ending("21 sm.", "300"), "21 sm");
        assert_eq!(with_ending("21 sm.", "245"), "21 sm.");
    }

    // The oʻ/gʻ and tutuq rules on their own, without a record.
    #[test]
    fn uzbek_apostrophe_rules() {
        assert_eq!(uzbek_apostrophes("O'zbekiston"), "Oʻzbekiston");
        assert_eq!(uzbek_apostrophes("G`afur G‘ulom"), "Gʻafur Gʻulom");
        assert_eq!(uzbek_apostrophes("san'at ma’no"), "sanʼat maʼno");
        assert_eq!(uzbek_apostrophes("tog' bog'i"), "togʻ bogʻi");
        assert_eq!(uzbek_apostrophes("mo''tabar"), "moʻʼtabar");
        assert_eq!(uzbek_apostrophes("‘Navro'z’"), "‘Navroʻz’");
        assert_eq!(
            uzbek_apostrophes("don't O'Brien it's"),
            "don't O'Brien it's"
        );
        assert_eq!(uzbek_apostrophes("O'ZBEKISTON"), "OʻZBEKISTON");
        assert_eq!(uzbek_apostrophes("so'm o't I'm"), "soʻm oʻt I'm");
        assert_eq!(
            uzbek_apostrophes("O’. Sharafiddinov, PO'."),
            "Oʻ. Sharafiddinov, PO'."
        );
        // Modifier letters are letters: ʼ is never made ʻ nor ʻ made ʼ.
        assert_eq!(
            uzbek_apostrophes("Oʼzbek Yoʼel Yaʻaḳov"),
            "Oʼzbek Yoʼel Yaʻaḳov"
        );
    }

    // Mixed-script words are repaired towards their unambiguous letters.
    #[test]
    fn lookalike_words() {
        let repair = |s: &str| {
            let mut r = Record::new("00000nam a2200000 i 4500");
            r.push(Field::Data(DataField::new("245", '1', '0').with('a', s)));
            let mut report = NormalizeReport::default();
            repair_lookalikes(&mut r, &mut report);
            let v = r.data_fields("245").next().unwrap().subfield('a').unwrap();
            (v.to_string(), report.problems.len())
        };
        assert_eq!(repair("Тoшкент"), ("Тошкент".into(), 0));
        assert_eq!(repair("Bаkı"), ("Bakı".into(), 0));
        assert_eq!(repair("ХIХ аср"), ("XIX аср".into(), 0));
        assert_eq!(repair("XХ век, Сoк"), ("XX век, Сок".into(), 0));
        assert_eq!(repair("Windows учун"), ("Windows учун".into(), 0));
        assert_eq!(repair("Toshкент"), ("Toshкент".into(), 1));
    }
}
