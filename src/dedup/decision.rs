//! The pair decision: do two candidate records describe the same edition?
//!
//! `dedup` finds *candidates*: records that share a match key (an ISBN, an
//! OCLC number, a title + author + year skeleton). A shared key is not proof:
//! publishers reuse ISBNs, volumes of a set share the set ISBN, an e-book
//! record carries the print ISBN, and "Saylanma" by two authors in one year
//! shares a title key with nothing else in common. This module looks at the
//! two records as a cataloguer would and says yes or no, with the reasons.
//!
//! Pure and deterministic: no I/O, no clock, no state between calls. Work is
//! split in two so that a record is read once however many candidates it
//! has: [`features`] extracts what the comparison needs from one normalised
//! record, [`compare`] decides a pair from two [`Features`] and the
//! [`ScoreOptions`].
//!
//! **Architecture invariant:** the decision depends on the two records'
//! content and the options alone, never on the order in which pairs are
//! asked about; `compare(a, b)` and `compare(b, a)` agree.
//!
//! # How a pair is decided
//!
//! 1. An operator override wins: a pair listed in
//!    [`ScoreOptions::never_merge`] is never the same, one listed in
//!    [`ScoreOptions::always_merge`] always is (whatever follows says).
//! 2. Hard **vetoes**, which no shared identifier overrides (a reused ISBN is
//!    exactly the case they exist for):
//!    - different volume or part numbers (245 $n, else a volume named in an
//!      ISBN's qualifier, `978… (2-jild)`);
//!    - a record of a whole multi-volume set (ISBN qualifiers naming two or
//!      more volumes, or `3 v.` in 300 $a) against a record of one volume;
//!    - different edition numbers (250, ordinal words of the four languages
//!      read as numbers, see below);
//!    - different carriers: print, electronic, audio, microform;
//!    - publication years more than [`ScoreOptions::max_year_gap`] apart;
//!    - a reprint and a record of another year (see "Reprints");
//!    - both records have ISBNs of their own and share none;
//!    - different languages of the text (a translation is another record);
//!    - clearly different page counts: both records state a main pagination
//!      and the larger is at least 1.5 times the smaller and at least 20
//!      pages more (`188 p.` vs `413 p.`; see "How values are read");
//!    - clearly different counts of volumes of a set (`2 v.` vs `41 v.`: 1.5
//!      times and at least 2 more, so `2 v.` against `3 v.`, a set
//!      catalogued before its last volume, does not veto; an open entry
//!      `v. <1-3>` is no count);
//!    - different main paginations within those bounds: at least 3 pages
//!      and 5 % apart once the difference between the two records' counts
//!      of preliminary, bracketed and plate pages is allowed for (`xxiv,
//!      775 p.` vs `xxiv, 835 p.` vetoes, `xii, 264 p.` vs `276 p.` and
//!      `264 p., 32 p. of plates` vs `296 p.` do not; the same digits in
//!      another order, `96` vs `69`, are a misprint);
//!    - two or more volumes without pages (`2 v.`) against pages without
//!      volumes (`63 p.`);
//!    - report numbers (088 $a, `GAO/…` in a 500), hearing dates and places
//!      (`Hearing held Feb. 9, 2000, Albany`) or issue dates (a 500 that is
//!      only `"June 19, 2000."`) of one kind on both records, none shared:
//!      two reports or two hearings under one title;
//!    - set ISBNs (020 qualified `set`) on both records and no ISBN of
//!      either shared: two sets (`Physical therapist assistant examination
//!      review` and `Physical therapist examination review`, LC 00026536
//!      and 00027002);
//!    - numbers in one series (490/830 $a alike) on both records, none
//!      shared: two books of the series (`Report ; no. 443` and `no. 444`,
//!      LC 00370206 and 00370214);
//!    - contents notes (505 $a $t) of three content words or more on both
//!      records of which fewer than a quarter of the shorter's are the
//!      other's: other parts under one title (LC 00369925 and 00369934); a
//!      note that lists fewer of the same volumes agrees.
//!
//!    Evidence against that is strong but not unambiguous is a heavy
//!    penalty instead (table below: `title-words`, `part-title-words`,
//!    `edition-words`, `uniform-title`, `oclc`), so that agreement on
//!    everything else and a shared identifier can still keep a pair.
//! 3. Otherwise the **score** decides: the sum over the fields below of
//!    `weight × agreement`, where the agreement is in −1 ..= 1 (1: agree,
//!    −1: disagree, 0: unknown or inconclusive). The pair is the same edition
//!    when the score reaches [`ScoreOptions::threshold`].
//!
//! # Fields and default weights
//!
//! All weights and the threshold are options (the defaults are in
//! [`ScoreOptions::default`] and nowhere else):
//!
//! | field | weight | agreement |
//! |---|---:|---|
//! | `identifier` | 3 | 1 if they share an ISBN of their own or another identifier of `dedup::identifier_keys` (ISSN, OCLC number, LCCN, 015, 016, 024) |
//! | `set-identifier` | 1 | 1 if the only shared ISBN is a set ISBN (qualifier `set`, `toʻplam`, `общ.`, `çoxcildli nəşr`, …) |
//! | `cancelled-isbn` | 1 | 1 if, with no identifier shared, a cancelled/invalid ISBN (020 $z) of one record is among the other's ISBNs or cancelled ISBNs: weak evidence; twice the weight when one number that is no valid ISBN at all (a failing check digit) is on both records: the book's own misprint, copied by both cataloguers |
//! | `title` | 4 | `(sim − 0.7) / 0.3` clamped to −1 ..= 1; `sim` is the best token similarity of any title form of one record with any of the other (below) |
//! | `author` | 3 | 1 if the main entries are one person (same surname, initial and birth year, or the same words in another order); 0.5 if one's main entry is among the other's added entries, or if both have the same birth year under other name forms; −1 if both have one and they are not the same person; else 0 |
//! | `year` | 1 | 1 if equal, −1 if different (but within the gap) |
//! | `edition` | 1 | 1 if both state the same edition number |
//! | `publisher` | 1 | 1 if a name of one record has the distinctive words of a name of the other (below; a co-publisher counts), else `(sim − 0.55) / 0.25` clamped, on 260/264 $b skeletons; `[s.n.]`, `[б. и.]`, `[publisher not identified]` name none: 0 against each other, −1 against a named publisher |
//! | `publisher` (clearly different) | 5 | −1, weighted by `publisher-mismatch-weight` instead, when both records name a publisher and none of their names agree that way, or one says `[s.n.]` and the other names one and a place of publication in another city (both written out, none agreeing): another publisher is another issue, so this outweighs title, author, year and extent agreeing; only a shared identifier as well keeps the pair |
//! | `place` | 1 | 1 if a place of publication (260/264 $a) of one is a place of the other (equal, within the title's edit distance, or another name of the city: `Kyïv`/`Kiev`, `Moscow`/`Moskva`); 0.5 if only a known abbreviation agrees (`M.`, `L.`, `SPb.`, `T.`, `B.`, `K.`, `N.Y.`); −1 if both write their places out and none agree; 0 for `[S.l.]` and the like, or an abbreviation against another place; an agreeing place counts 0 when the publishers disagree. Never a veto |
//! | `extent` | 2 | 1 if the page counts differ by at most 4 or 3 %, −1 if by 10 % or more |
//! | `series` | 1 | 1 if a 490/830 $v number is shared, −1 if both have numbers and share none |
//! | `volume` | 1 | 1 if both state the same volume/part numbers (different numbers are a veto) |
//! | `part-title` | 1 | 1 if the 245 $p part titles agree, −1 if they clearly do not |
//! | `language` | 0.5 | 1 if both state the same language (different ones are a veto) |
//! | `long-title` | 1.5 | 1 when both full titles ($a $b) agree (similarity 0.95 or more) and have [`LONG_TITLE_WORDS`] or more words of four letters or more, no veto applies and no other field counts against the pair: a specific title is evidence where a record has little else (a title and a year) |
//! | `title-words` | 6 | −1 (`subtitle-mismatch-weight`) when the titles clearly differ in words: both have a subtitle (245 $b, not a parallel title after `=`, the addressee of a report or hearing, `report to …`, `hearing before …`, cut) and no title ($a $b together, so a subtitle split off elsewhere agrees) of one has the content words of one of the other; or each title has content words the other lacks (`Christian festival tales` vs `Jewish festival tales`). Words are skeletons without articles, prepositions and conjunctions; a word counts only if no stretch of the other title's unmatched words is within 40 % of its letters (and one edit), so typos, independent romanisations (`sheix`/`shech`) and words run together or split (`N.U.`, `NU`) agree, while numbers must be equal (`1706`/`1707`); a subtitle on one side only is neutral; 880 forms the skeleton leaves in another script (Chinese) are not compared word by word, but when both records have Han titles and none is the other's, romanised titles that each have a word the other lacks count too (pinyin `bin li` / `jia li`, LC 00291313 and 00291316: syllables are short, so the romanisation leeway would forgive them) |
//! | `part-title-words` | 6 | −1 (`subtitle-mismatch-weight`) when each 245 $p has content words the other lacks (`Trentino` vs `Veneto`) |
//! | `edition-words` | 4 | −1 when each 250 $a has content words the other lacks once edition words and numbers are left out (`Secondary school ed.` vs `Elementary and middle school ed.`; `2nd ed.` and `2nd edition` agree) |
//! | `uniform-title` | 6 | −1 when 130/240 $a $n $p $k have content words the other lacks (`Gidule Shemuʼel (Bava ḳama)` vs `(Bava batra)`) |
//! | `oclc` | 4 | −1 when both records have OCLC numbers (035, 019) and share none: one book can have two WorldCat records, so not a veto |
//!
//! The default threshold is 7: a matching title (4) needs three more points
//! of corroboration, such as a matching author or a shared identifier (3
//! each), or the year and the page count; and every contradiction (another
//! year −1, another extent −2, another author −3, another publisher −5) has
//! to be outweighed. The
//! threshold leans to precision, because a wrong merge hides an edition
//! while a missed one only leaves a duplicate. On the evaluation set
//! (`fixtures/eval`) the weakest duplicate scores 8.5 and the strongest
//! non-duplicate that no veto stops 5.5; 7 is the middle of that gap.
//! Examples:
//!
//! - a Cyrillic record and its Latin twin without ISBN: title 4 + author 3 +
//!   year 1 + publisher 1 + extent 2 + language 0.5 = 11.5;
//! - the same when one record lost its 100: title 4 + year 1 + publisher 1 +
//!   extent 2 + language 0.5 = 8.5, still the same; when it lost its 300
//!   too, 6.5: not enough;
//! - two books that print one ISBN: identifier 3 − title 4 − author 3 − …,
//!   far below;
//! - "Избранное" by L. N. and by A. N. Tolstoy, same year and publisher:
//!   title 4 − author 3 (other initial) + year 1 + publisher 1 + language
//!   0.5 = 3.5;
//! - one text issued by two publishers in one year, same extent, no
//!   identifier: title 4 + author 3 + year 1 − publisher 5 + extent 2 +
//!   language 0.5 = 5.5; with a shared ISBN as well, 8.5;
//! - volume 2 of a collected works against a record of volume 3 that lacks
//!   245 $n, a year later: title 4 + author 3 + publisher 1 + language 0.5
//!   − year 1 − extent 2 = 5.5.
//!
//! # Missing values are neutral
//!
//! A value that one record does not have neither helps nor hurts: no veto and
//! agreement 0. In particular a record without 250 is **not** taken to be a
//! first edition (a common convention, but partners often leave 250 out for
//! later editions too); only two *explicit* different numbers veto. The same
//! holds for volume numbers, language (008/35-37 blank, fill, `und`, `mul`
//! or `zxx`, and no 041), year and carrier signals of any kind.
//!
//! # How values are read
//!
//! - Titles: 245 $a $b, and the same from each 880 linked to a 245, as
//!   `translit::skeleton`s with the record's language, the non-filing
//!   characters of ind2 skipped (and a leading English article in English
//!   records, for a wrong indicator). Each record has two forms per 245: the
//!   title proper ($a up to a `:` `;` `=` or `/` in it) and the full title
//!   ($a $b). The similarity of two forms is a token Jaccard index in which
//!   two words match when equal, or (without digits) within edit distance 1
//!   from 4 letters and 2 from 8 (a swap of two neighbouring letters is one
//!   edit, so each typo of a letter swapped, dropped, doubled or changed
//!   is one); a character-level ratio over the text
//!   without spaces counts too when it is 0.9 or more (run-together words),
//!   or when a text of 16 letters or more is within two edits of the other
//!   (as a word of 8 may be: a typo that swaps letters across a digraph,
//!   `Ookhio` typed `Ookiho` against BGN's `Oohio`).
//!   Script differences are gone in the skeleton, so a Cyrillic title and its
//!   Latin transliteration compare as equal. In Han characters (Chinese 880
//!   titles, which the skeleton keeps) each character is a word matched only
//!   by itself, and the character ratio does not apply: 中国历代宾礼 and
//!   中国历代家礼 are two books of a set, not one title with a typo. The title's note says which
//!   noise rule applied: `subtitle on one side only` (the title propers agree
//!   better than the full titles) or `one-letter difference: typo`. Titles
//!   are compared in the match keys' lossier fold too (`key_skeleton`),
//!   so a typo on top of a spelling only that fold reconciles is one edit.
//! - Authors: 100/110/111 (main entry) and 700/710/711 (added) $a, as
//!   skeletons: the part before the first comma is the surname, the first
//!   letter of the rest the forename initial; $d gives the birth year.
//!   Surnames match within edit distance 1 from 5 letters, or when the
//!   match keys' fold makes them one (`Zic`/`Žic`, `Mincz`/`Минц`).
//! - Year: `dedup::publication_year` (264 ind2 1 or 260 $c, else a year
//!   ending an imprint without $c, else 008/07-10).
//! - Edition: the first number in 250 $a: digits (`2-e`, `2nd`, `2-ci`,
//!   `2-nashr`, `Izd. 2-e`; up to three digits, so a year is not an edition)
//!   or an ordinal word in Azerbaijani, Uzbek (both scripts), Russian (any
//!   case ending, Cyrillic or romanised) or English (`ikinci`, `ikkinchi`,
//!   `второе`, `vtoroe`, `second`).
//! - Volume: every 245 $n (digits, a Roman numeral such as `II cild`, or an
//!   ordinal word); when there is none, a 020 $q that names a volume
//!   (`2-jild`, `т. 2`, `v. 2`, `II cild`, `1-kitob`).
//! - Extent: the largest number in 300 $a outside square brackets, so
//!   `1 online resource (384 p.)` is 384 and `[2], 384 p.` is 384. For the
//!   veto only the *main pagination* counts: the largest number outside
//!   square brackets of a sequence that a page word closes (`p.`, `pages`,
//!   `с.`, `стр.`, `б.`, `bet`, `səh.`, `сәһ.`, `s.`, `S.`, `l.`, `leaves`),
//!   so `xii, 264, [4] p.` and `318, [1] p.` count 264 and 318 and AACR2
//!   `264 p.` equals RDA `264 pages`; counts of plates or illustrations
//!   (`16 p. of plates`, `16 л. ил.`) do not count, and a record without a
//!   page word (`2 v.`, an open entry `v. <3>`) has none. The tolerance of
//!   1.5 times and 20 pages leaves room for preliminary pages counted into
//!   the total (`xii, 264 p.` vs `276 p.`), unnumbered pages and misprints.
//! - Publisher: each 260/264 $b (and linked 880) as a skeleton; its
//!   *distinctive words* are those left without the words every publisher
//!   has (publishing house, press, company and printing words in the
//!   partners' languages and English, abbreviated or in full: `izd-vo`,
//!   `izdatelʹstvo`, `vyd-vo`, `nashriyoti`, `nəşriyyatı`, `khevleliin
//!   gazar`, `press`, `publishing house`, `co.`, `company`, `bros.`,
//!   `brothers`, `sons`, `inc.`), single letters and `[s.n.]`. Two names
//!   agree when every distinctive word of the shorter (all but one from
//!   four words) is in the other: equal, within the title's edit distance,
//!   or as its abbreviation (`gos.` for `gosudarstvennyi`). So `Izd-vo
//!   "Nauka"` and `Izdatelʹstvo "Nauka"` agree, `Tomskii gos. universitet`
//!   and `Tomskii politekhnicheskii universitet` do not.
//! - Series numbering: the numbers in 490 $v and 830 $v.
//! - Language: 008/35-37, else the first 041 $a. Without either, the text
//!   is still read in a language (`lang::record_language_or_guess`: the
//!   title's letters, else the country of publication), but a guess never
//!   vetoes and never scores; the title note says when the country chose
//!   the reading.
//! - Carrier: audio if leader/06 is `i` or `j` or 337 $b is `s`; electronic
//!   if leader/06 is `m`, 008 form of item is `o`, `q` or `s`, 007/00 is `c`,
//!   337 $b is `c`, 338 $b starts with `c`, or an 856 (not ind2 2, a related
//!   resource) comes without any print indication (337 $b `n`, 338 $b `n…`,
//!   007/00 `t`, 300 $c dimensions); microform if the form of item is `a`,
//!   `b` or `c`, 007/00 `h` or 337 $b `h`; print otherwise.
//! - Identifiers, in match-key form (`isbn:978…`, `oclc:…`, `lccn:…`,
//!   `issn:…`): valid ISBNs from 020 $a (an invalid one is in $z after
//!   normalisation and counts only as weak evidence, `cancelled-isbn`), and
//!   the other identifiers of `dedup::identifier_keys` (022 $a $l, 035 and
//!   019 OCLC numbers, 010, 015, 016, 024). An ISBN
//!   whose qualifier names a set is a *set* ISBN; one whose qualifier names
//!   another carrier than the record's (`bosma`, `print`, `печ.` in an
//!   e-book record; `elektron kitob`, `ebook` in a print one) belongs to that
//!   other manifestation and is neither evidence for the pair nor counted
//!   for the disjoint-ISBN veto. Identifiers listed in
//!   [`ScoreOptions::ignored_identifiers`] are treated as absent.
//!
//! # Reprints
//!
//! A reprint is a new issue with its own date (the evaluation set's label
//! policy, `fixtures/eval/README.md`): it is not the same as the issue it
//! reprints, even with the same ISBN. A record is a reprint when 008/06 is
//! `r` or a 500 note says so (`Reprint`, `Репринт`, `Перепечатка`, `təkrar
//! çap`, `qayta bosilgan`). When either record is a reprint and both years
//! are known, they must be equal; a one-year gap is not forgiven.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::OnceLock;

use serde::Deserialize;
use unicat_marc::{DataField, Field, Record};

use crate::dedup::keys::publication_year;
use crate::dedup::translit::{key_skeleton, reading, skeleton};
use crate::ident::parse_isbn;
use crate::ident::{normalize_issn, normalize_lccn, oclc_number};
use crate::lang::{record_language_or_guess, Lang, LangSource};

/// Version of the pair decision: raise it whenever [`compare`] may decide
/// a pair differently for the same options, so that existing installations
/// re-examine every cluster once (`pipeline::refresh`). 2: the extent and
/// volume-count vetoes and the publisher mismatch weight (#17); 3: the
/// skeletons' per-language readings (Azerbaijani ə = a, Bulgarian ъ, ё),
/// typos as one edit (transpositions too), `[s.n.]`-style publishers
/// neutral, the place of publication as evidence, and subtitle,
/// pagination, report and hearing, OCLC and uniform-title evidence against
/// (#17 items 3 and 4); 4: Han titles compared character by character,
/// set ISBNs, series numbers, contents notes and `[s.n.]` in another
/// city as evidence against (#17 item 4, LC precision);
/// 5: the `long-title` evidence, a misprinted ISBN on both records
/// counting twice, surnames compared in the key fold too, years at the end
/// of an imprint without $c, and records without language codes read by
/// their letters, else their country of publication (#17 items 1 and 3);
/// 6: titles of 16 letters or more within two edits count as near
/// (a typo across a digraph, #17's last scheme row).
pub const DECISION_VERSION: i64 = 6;

/// How many words of four or more letters both full titles need for the
/// `long-title` evidence: a title of five such words is rarely shared by two
/// books of one year ("Izbrannye proizvedeniia", "Collected poems" are
/// short).
pub const LONG_TITLE_WORDS: usize = 5;

/// Options for [`compare`]: the threshold, the weights and the operator's
/// lists. Every field has a default, so a configuration names only what it
/// changes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ScoreOptions {
    /// The score (sum of weight × agreement) a pair needs to be the same
    /// edition when nothing vetoes it. Default 7.0; any finite number.
    pub threshold: f64,
    /// Publication years further apart than this veto the pair (years;
    /// default 1, which forgives a record that gives the copyright or
    /// printing year). Does not apply to reprints, which must agree exactly.
    pub max_year_gap: u32,
    /// Identifiers known to be wrong or reused, in match-key form
    /// (`isbn:9785…`, `oclc:12345`, `lccn:…`, `issn:NNNN-NNNC`): treated as
    /// if no record had them. Default: empty.
    pub ignored_identifiers: Vec<String>,
    /// Record pairs that are always the same edition, whatever the records
    /// say. A record is named `(003)001`, its provenance 035 (see
    /// [`Features::id`]). Default: empty.
    pub always_merge: Vec<[String; 2]>,
    /// Record pairs that are never the same edition; wins over
    /// `always_merge`. Default: empty.
    pub never_merge: Vec<[String; 2]>,
    /// Weight of a shared ISBN (not a set ISBN), OCLC number, LCCN or ISSN.
    /// Default 3.
    pub identifier_weight: f64,
    /// Weight of a shared set ISBN when nothing else is shared. Default 1.
    pub set_identifier_weight: f64,
    /// Weight of a cancelled or invalid ISBN (020 $z) of one record found
    /// among the other's ISBNs, when nothing stronger is shared. Default 1:
    /// weak evidence, because a $z is often a typo of someone else's number.
    pub cancelled_isbn_weight: f64,
    /// Weight of title similarity. Default 4.
    pub title_weight: f64,
    /// Weight of the authors' agreement. Default 3.
    pub author_weight: f64,
    /// Weight of an equal (1) or nearly equal (−1) publication year.
    /// Default 1.
    pub year_weight: f64,
    /// Weight of an equal explicit edition number. Default 1.
    pub edition_weight: f64,
    /// Weight of publisher similarity. Default 1.
    pub publisher_weight: f64,
    /// Weight of a clear publisher disagreement: both records name a
    /// publisher and no name of one shares its distinctive words with a name
    /// of the other (see the module documentation). Default 5: another
    /// publisher is another issue, so this outweighs the agreement of title,
    /// author, year and extent unless an identifier is shared too.
    pub publisher_mismatch_weight: f64,
    /// Weight of the places of publication: 1 when one is the other's, −1
    /// when both are written out and clearly differ, 0.5 when only an
    /// abbreviation (`M.`, `SPb.`) agrees (see the module documentation).
    /// Default 1.
    pub place_weight: f64,
    /// Weight of agreement of the page counts. Default 2.
    pub extent_weight: f64,
    /// Weight of series numbering (490/830 $v). Default 1.
    pub series_weight: f64,
    /// Weight of equal volume/part numbers. Default 1.
    pub volume_weight: f64,
    /// Weight of part titles (245 $p). Default 1.
    pub part_title_weight: f64,
    /// Weight of an equal language of the text. Default 0.5.
    pub language_weight: f64,
    /// Weight of a long title agreeing in full when nothing else disagrees
    /// (`long-title`: both full titles have [`LONG_TITLE_WORDS`] or more
    /// words of four letters or more). Default 1.5: with the year it lifts
    /// a record that has only a title and a year (LC 00306011: "Narodnai︠a︡
    /// instrumentalʹnai︠a︡ kulʹtura Belaruskaha Paazerʹi︠a︡", 1997) to the
    /// threshold, while a different author, publisher, place, extent or
    /// year takes it away.
    pub long_title_weight: f64,
    /// Weight of titles that clearly differ in words (subtitles, a word put
    /// in another's place, 245 $p). Default 6: another subtitle under one
    /// title proper is another report, hearing or volume, so it outweighs
    /// title, author, year and extent agreeing, and a set ISBN printed in
    /// every volume with them; a shared ISBN and all else agreeing keeps the
    /// pair (a subtitle reworded between CIP and book, LC 00340831).
    pub subtitle_mismatch_weight: f64,
    /// Weight of OCLC numbers on both records, none shared. Default 4: one
    /// book can have two WorldCat records, so it is a penalty, not a veto.
    pub oclc_mismatch_weight: f64,
    /// Weight of different uniform titles (130/240 $a $n $p $k). Default 6 (as much as a different subtitle; with the place of publication also agreeing, 5 let two tractates of one commentary merge).
    pub uniform_title_mismatch_weight: f64,
    /// Weight of edition statements whose words differ on both sides
    /// (`Secondary school ed.` vs `Elementary and middle school ed.`).
    /// Default 4.
    pub edition_mismatch_weight: f64,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            threshold: 7.0,
            max_year_gap: 1,
            ignored_identifiers: Vec::new(),
            always_merge: Vec::new(),
            never_merge: Vec::new(),
            identifier_weight: 3.0,
            set_identifier_weight: 1.0,
            cancelled_isbn_weight: 1.0,
            title_weight: 4.0,
            author_weight: 3.0,
            year_weight: 1.0,
            edition_weight: 1.0,
            publisher_weight: 1.0,
            publisher_mismatch_weight: 5.0,
            place_weight: 1.0,
            extent_weight: 2.0,
            series_weight: 1.0,
            volume_weight: 1.0,
            part_title_weight: 1.0,
            language_weight: 0.5,
            long_title_weight: 1.5,
            subtitle_mismatch_weight: 6.0,
            oclc_mismatch_weight: 4.0,
            uniform_title_mismatch_weight: 6.0,
            edition_mismatch_weight: 4.0,
        }
    }
}

impl ScoreOptions {
    /// Meaning-level problems, for the configuration check: a threshold that
    /// is not a finite number, a negative or non-finite weight, an ignored
    /// identifier that is not in match-key form (it would never match), and
    /// an override pair naming one record twice. Empty if all is well.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.threshold.is_finite() {
            out.push("threshold must be a finite number".to_string());
        }
        for (name, w) in self.weights() {
            if !w.is_finite() || w < 0.0 {
                out.push(format!(
                    "{name} is {w}; weights must be finite and not negative (0 switches a field off)"
                ));
            }
        }
        for id in &self.ignored_identifiers {
            match canonical_identifier(id) {
                Some(c) if &c == id => {}
                Some(c) => out.push(format!(
                    "ignored-identifiers has {id:?}, which never matches; write it as {c:?}"
                )),
                None => out.push(format!(
                    "ignored-identifiers has {id:?}, which is not an identifier; \
                     use the match-key form, e.g. \"isbn:9789943000001\" or \"oclc:12345\""
                )),
            }
        }
        for (list, pairs) in [
            ("always-merge", &self.always_merge),
            ("never-merge", &self.never_merge),
        ] {
            for [a, b] in pairs {
                if a == b {
                    out.push(format!("{list} pairs {a:?} with itself; remove it"));
                }
            }
        }
        out
    }

    fn weights(&self) -> [(&'static str, f64); 20] {
        [
            ("identifier-weight", self.identifier_weight),
            ("set-identifier-weight", self.set_identifier_weight),
            ("cancelled-isbn-weight", self.cancelled_isbn_weight),
            ("title-weight", self.title_weight),
            ("author-weight", self.author_weight),
            ("year-weight", self.year_weight),
            ("edition-weight", self.edition_weight),
            ("publisher-weight", self.publisher_weight),
            ("publisher-mismatch-weight", self.publisher_mismatch_weight),
            ("place-weight", self.place_weight),
            ("extent-weight", self.extent_weight),
            ("series-weight", self.series_weight),
            ("volume-weight", self.volume_weight),
            ("part-title-weight", self.part_title_weight),
            ("language-weight", self.language_weight),
            ("long-title-weight", self.long_title_weight),
            ("subtitle-mismatch-weight", self.subtitle_mismatch_weight),
            ("oclc-mismatch-weight", self.oclc_mismatch_weight),
            (
                "uniform-title-mismatch-weight",
                self.uniform_title_mismatch_weight,
            ),
            ("edition-mismatch-weight", self.edition_mismatch_weight),
        ]
    }

    fn is_ignored(&self, id: &str) -> bool {
        self.ignored_identifiers.iter().any(|i| i == id)
    }

    fn listed(pairs: &[[String; 2]], a: &str, b: &str) -> bool {
        pairs
            .iter()
            .any(|[x, y]| (x == a && y == b) || (x == b && y == a))
    }
}

/// The match-key form of an identifier as a sysadmin might type it
/// (`ISBN 978-5-…`, `oclc:ocm0012345`), or `None` if it is not one.
fn canonical_identifier(id: &str) -> Option<String> {
    let (kind, value) = id.split_once(':')?;
    let value = value.trim();
    match kind.trim().to_ascii_lowercase().as_str() {
        "isbn" => parse_isbn(value)?.isbn13.map(|i| format!("isbn:{i}")),
        "issn" => normalize_issn(value).map(|i| format!("issn:{i}")),
        "lccn" => normalize_lccn(value).map(|i| format!("lccn:{i}")),
        "oclc" => oclc_number(&format!("(OCoLC){value}")).map(|n| format!("oclc:{n}")),
        kind @ ("nbn" | "nac" | "std") => {
            let (source, number) = value.rsplit_once(':')?;
            let number = crate::dedup::keys::standard_number(number)?;
            Some(format!(
                "{kind}:{}:{number}",
                crate::dedup::keys::source_code(source)
            ))
        }
        _ => None,
    }
}

/// The carrier of a record, as far as the pair decision cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Carrier {
    /// Printed text (the default when nothing says otherwise).
    #[default]
    Print,
    /// An online or other computer resource.
    Electronic,
    /// A sound recording.
    Audio,
    /// Microfilm, microfiche, micro-opaque.
    Microform,
}

impl fmt::Display for Carrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Carrier::Print => "print",
            Carrier::Electronic => "electronic",
            Carrier::Audio => "audio",
            Carrier::Microform => "microform",
        })
    }
}

/// A reason two records cannot be the same edition, whatever else they
/// share.
#[derive(Debug, Clone, PartialEq)]
pub enum Veto {
    /// Different volume or part numbers (in order, e.g. `[2, 1]` for
    /// "T. 2, kn. 1").
    Volume {
        /// The first record's numbers.
        a: Vec<u32>,
        /// The second record's numbers.
        b: Vec<u32>,
    },
    /// Different explicit edition numbers.
    Edition {
        /// The first record's edition number.
        a: u32,
        /// The second record's edition number.
        b: u32,
    },
    /// Different carriers.
    Format {
        /// The first record's carrier.
        a: Carrier,
        /// The second record's carrier.
        b: Carrier,
    },
    /// Publication years further apart than the allowed gap.
    Year {
        /// The first record's year.
        a: u16,
        /// The second record's year.
        b: u16,
    },
    /// One record is a reprint and the other has another year: another
    /// issue.
    Reprint {
        /// The first record's year.
        a: u16,
        /// The second record's year.
        b: u16,
    },
    /// Both records have ISBNs of their own and share none.
    DisjointIsbns,
    /// One record describes a multi-volume set as a whole, the other one
    /// volume of it: they share the volumes' ISBNs but are not one item.
    SetAndVolume,
    /// Clearly different page counts: the larger at least 1.5 times the
    /// smaller and at least 20 pages more (see the module documentation).
    Extent {
        /// The first record's pages.
        a: u32,
        /// The second record's pages.
        b: u32,
    },
    /// Clearly different counts of volumes of a set (`2 v.` vs `41 v.`):
    /// the larger at least 1.5 times the smaller and at least 2 more.
    VolumeCount {
        /// The first record's count.
        a: u32,
        /// The second record's count.
        b: u32,
    },
    /// Main paginations that differ beyond what preliminary pages,
    /// unnumbered pages and plates explain: at least 3 pages and 5 %.
    Pagination {
        /// The first record's pages.
        a: u32,
        /// The second record's pages.
        b: u32,
    },
    /// Report numbers (088, `GAO/…` in a note) or hearing dates on both
    /// records, none shared: two reports or two hearings.
    Report {
        /// The first record's identifiers.
        a: String,
        /// The second record's identifiers.
        b: String,
    },
    /// One record counts two or more volumes and no pages (`2 v.`), the
    /// other pages and no volumes (`63 p.`): a set against one book.
    VolumesAndPages,
    /// Different languages of the text (MARC codes).
    Language {
        /// The first record's language.
        a: String,
        /// The second record's language.
        b: String,
    },
    /// Both records have set ISBNs (020 qualified `set`) and share no
    /// ISBN at all: two sets.
    SetIsbns {
        /// The first record's set and own ISBNs.
        a: String,
        /// The second record's.
        b: String,
    },
    /// Numbered in one series (490/830, titles alike) and no number
    /// shared: two books of the series.
    SeriesNumber {
        /// The first record's series numbers.
        a: Vec<u32>,
        /// The second record's.
        b: Vec<u32>,
    },
    /// Contents notes (505) that share hardly a word: other parts.
    Contents {
        /// The first record's first contents words.
        a: String,
        /// The second record's.
        b: String,
    },
}

impl fmt::Display for Veto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nums = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
        match self {
            Veto::Volume { a, b } => write!(f, "different volumes: {} vs {}", nums(a), nums(b)),
            Veto::Edition { a, b } => write!(f, "different editions: {a} vs {b}"),
            Veto::Format { a, b } => write!(f, "different carriers: {a} vs {b}"),
            Veto::Year { a, b } => write!(f, "years too far apart: {a} vs {b}"),
            Veto::Reprint { a, b } => {
                write!(f, "a reprint is its own issue: {a} vs {b}")
            }
            Veto::DisjointIsbns => f.write_str("both have ISBNs and share none"),
            Veto::SetAndVolume => f.write_str("a multi-volume set against one volume"),
            Veto::Extent { a, b } => write!(f, "clearly different extents: {a} vs {b} pages"),
            Veto::VolumeCount { a, b } => {
                write!(f, "clearly different counts of volumes: {a} vs {b}")
            }
            Veto::Language { a, b } => write!(f, "different languages: {a} vs {b}"),
            Veto::Pagination { a, b } => write!(f, "different paginations: {a} vs {b} pages"),
            Veto::Report { a, b } => write!(f, "different reports or hearings: {a} vs {b}"),
            Veto::VolumesAndPages => f.write_str("volumes without pages against pages"),
            Veto::SetIsbns { a, b } => write!(f, "different set ISBNs: {a} vs {b}"),
            Veto::SeriesNumber { a, b } => {
                let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
                write!(f, "other numbers in one series: {} vs {}", list(a), list(b))
            }
            Veto::Contents { a, b } => write!(f, "different contents: {a} … vs {b} …"),
        }
    }
}

/// An operator's decision that replaced the computed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Override {
    /// The pair is in [`ScoreOptions::always_merge`].
    AlwaysMerge,
    /// The pair is in [`ScoreOptions::never_merge`].
    NeverMerge,
}

/// One field's part in the score.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldScore {
    /// The field's name, as in the module documentation's table.
    pub field: &'static str,
    /// Agreement, −1 ..= 1 (0 when unknown); the contribution to the score
    /// is `score × weight`.
    pub score: f64,
    /// The weight from the options.
    pub weight: f64,
    /// What was compared, for `explain` and for people tuning weights.
    pub note: String,
}

/// The decision on one pair, with its reasons.
#[derive(Debug, Clone, PartialEq)]
pub struct PairDecision {
    /// Whether the two records describe the same edition.
    pub same: bool,
    /// The sum of `score × weight` over `fields`.
    pub score: f64,
    /// Each field's part, in a fixed order.
    pub fields: Vec<FieldScore>,
    /// The vetoes that apply (the decision is `false` if there is one,
    /// unless an operator override says otherwise).
    pub vetoes: Vec<Veto>,
    /// Identifiers (match-key form) both records have, ignored ones left
    /// out, sorted.
    pub shared_identifiers: Vec<String>,
    /// Set when an operator's override list decided the pair.
    pub overridden: Option<Override>,
}

/// One author as the comparison sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// The surname (the part before the first comma) as a skeleton.
    pub surname: String,
    /// The first letter of the forename's skeleton, if there is a forename.
    pub initial: Option<char>,
    /// The birth year from $d, if it starts with four digits.
    pub born: Option<u16>,
    /// Every word of $a as a skeleton, sorted: the same person written
    /// forename first ("Alisher Navoiy", 100 ind1 0, usual for Central
    /// Asian classics) or inverted ("Navoiy, Alisher") has the same words.
    pub words: Vec<String>,
    /// The surname as the match keys fold it (`translit::key_skeleton`):
    /// plain ASCII drops the háček (`Zic` for Žić) and GOST 7.79 writes ц
    /// `cz` (`Mincz`), which the key fold reconciles and the skeleton keeps.
    pub key_surname: String,
}

/// The title forms of one 245 (or 880 linked to a 245).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitleForm {
    /// $a up to a `:` `;` `=` or `/` inside it, as a skeleton.
    pub proper: String,
    /// $a and $b, as a skeleton.
    pub full: String,
    /// How the skeleton was reached (`translit::reading` of $a and $b),
    /// named in the title note when two titles meet only as skeletons.
    pub reading: String,
    /// The title proper as the match keys fold it (`translit::key_skeleton`,
    /// lossier): a typo on top of a spelling that only the key fold
    /// reconciles (`šəhhəri` / `шәһәри`) is still one edit there.
    pub key_proper: String,
    /// $a and $b as the match keys fold them.
    pub key_full: String,
    /// How many words of four or more letters `full` has: how specific the
    /// title is (see the `long-title` evidence).
    pub long_words: usize,
}

/// What [`compare`] needs from one record, extracted once by [`features`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Features {
    /// The record's name for the override lists: `(003)001`, or `001` alone
    /// without 003 (the form of the provenance 035 the normaliser adds).
    /// The caller may replace it with another stable name.
    pub id: Option<String>,
    /// Title forms: the 245 first, then 880s linked to a 245.
    pub titles: Vec<TitleForm>,
    /// The main entry (100/110/111).
    pub main_author: Option<Author>,
    /// Added entries (700/710/711).
    pub added_authors: Vec<Author>,
    /// Publication year.
    pub year: Option<u16>,
    /// Whether the record is a reprint (008/06 `r` or a reprint note).
    pub reprint: bool,
    /// Explicit edition number from 250.
    pub edition: Option<u32>,
    /// Publisher names (260/264 $b, and 880s of them) as skeletons.
    pub publishers: Vec<String>,
    /// The distinctive words of each publisher name: its skeleton without
    /// the words every publisher has (`izd-vo`, `press`, `publishing house`,
    /// `co.`, `nashriyoti`, …), single letters and `[s.n.]`; names left
    /// empty are dropped.
    pub publisher_words: Vec<Vec<String>>,
    /// The imprint says no publisher is named (`[s.n.]`, `[б. и.]`): not
    /// a name, so `[s.n.]` and `[б. и.]` do not differ, but weak
    /// disagreement with a record that names one.
    pub publisher_unnamed: bool,
    /// Places of publication (260/264 $a, and 880s of them), `[S.l.]` and
    /// the like left out, known abbreviations written out.
    pub places: Vec<Place>,
    /// Page count (see the module documentation).
    pub extent: Option<u32>,
    /// The main pagination: the largest count of pages in 300 $a that a
    /// page word follows (`264 p.`, `264 pages`, `264 с.`, `264 b.`,
    /// `264 səh.`), outside square brackets and not of plates; `None` when
    /// no number is counted in pages (`v. <3>`, `2 v.`). Only this vetoes.
    pub pages: Option<u32>,
    /// The count of volumes 300 $a starts with (`3 v.`, `2 т.`, `4 jild`);
    /// `None` for an open entry (`v. <1-3>`), which lists the volumes held,
    /// not the set's.
    pub volume_count: Option<u32>,
    /// Series numbers from 490/830 $v.
    pub series_numbers: Vec<u32>,
    /// Volume/part numbers (245 $n, else an ISBN qualifier).
    pub volumes: Vec<u32>,
    /// The record describes a multi-volume set as a whole: its ISBN
    /// qualifiers name two or more volumes, or 300 $a counts two or more
    /// volumes (`3 v.`, `2 т.`, `4 jild`).
    pub whole_set: bool,
    /// Part titles (245 $p) as one skeleton; empty if none.
    pub part_title: String,
    /// Language of the text, a MARC code in lower case.
    pub language: Option<String>,
    /// The carrier.
    pub carrier: Carrier,
    /// ISBNs of this manifestation, `isbn:` + ISBN-13.
    pub isbns: Vec<String>,
    /// ISBNs of the set the record belongs to.
    pub set_isbns: Vec<String>,
    /// ISBNs of another carrier of the same book (e-book vs print).
    pub related_isbns: Vec<String>,
    /// Cancelled or invalid ISBNs (020 $z): `isbn:` + ISBN-13 when the
    /// number is a well-formed ISBN, else `z:` + its letters and digits.
    pub cancelled_isbns: Vec<String>,
    /// OCLC numbers, LCCNs and ISSNs in match-key form.
    pub other_ids: Vec<String>,
    /// Pages outside the main pagination (Roman preliminaries, bracketed
    /// pages, plates): how far two paginations may differ.
    pub extra_pages: u32,
    /// Report numbers and hearing dates, `report:…`, `hearing:…`.
    pub report_ids: Vec<String>,
    /// The uniform title's content words (130/240 $a $n $p $k).
    pub uniform_title: Vec<String>,
    /// Content words of the title ($a $b, no parallel title, the addressee
    /// of a report cut) of each 245 and linked 880 in Latin letters once
    /// skeletonised.
    pub title_words: Vec<Vec<String>>,
    /// For each of `title_words`, whether that title has a subtitle.
    pub subtitled: Vec<bool>,
    /// Content words of 250 $a other than edition words and numbers
    /// (`Secondary school ed.`: `secondary school`).
    pub edition_words: Vec<String>,
    /// The full titles (245 $a $b, or a linked 880) in Han characters, as
    /// skeletons: a character is a word there, so they are compared whole.
    pub han_titles: Vec<String>,
    /// Series titles (490 $a, 830 $a) as skeletons, for the numbers in
    /// `series_numbers`.
    pub series_titles: Vec<String>,
    /// Content words of the contents note (505 $a $t), each once.
    pub contents: Vec<String>,
}

// ---------------------------------------------------------------------------
// Feature extraction.

/// Extract the comparison features of a (normalised) record.
pub fn features(record: &Record) -> Features {
    let language = record_language_code(record);
    // The language code, else a guess (letters, then the country of
    // publication) that reads the text but never vetoes or scores.
    let read_as = record_language_or_guess(record);
    let lang = read_as.map(|(l, _)| l);
    let carrier = carrier(record);
    let (publishers, publisher_unnamed) = publishers(record, lang);
    let (isbns, set_isbns, related_isbns, isbn_volumes) = isbns(record, carrier);
    let whole_set = is_whole_set(record, &isbn_volumes, lang);
    let mut volumes: Vec<u32> = record
        .data_fields("245")
        .take(1)
        .flat_map(|f| f.subfields_of('n'))
        .filter_map(|n| volume_number(n, lang))
        .collect();
    if volumes.is_empty() && isbn_volumes.len() == 1 {
        volumes.extend(isbn_volumes);
    }
    let part_title = record
        .data_fields("245")
        .take(1)
        .flat_map(|f| f.subfields_of('p'))
        .map(|p| skeleton(p, lang))
        .collect::<Vec<_>>()
        .join(" ");
    let titles = titles(record, lang, read_as.map(|(_, s)| s));
    let han_titles = han_titles(&titles);
    Features {
        id: record.control("001").map(|id| match record.control("003") {
            Some(code) if !code.trim().is_empty() => format!("({}){}", code.trim(), id.trim()),
            _ => id.trim().to_string(),
        }),
        titles,
        main_author: ["100", "110", "111"]
            .iter()
            .flat_map(|t| record.data_fields(t))
            .find_map(|f| author(f, lang)),
        added_authors: ["700", "710", "711"]
            .iter()
            .flat_map(|t| record.data_fields(t))
            .filter_map(|f| author(f, lang))
            .collect(),
        year: publication_year(record).and_then(|y| y.parse().ok()),
        reprint: is_reprint(record, lang),
        edition: record
            .data_fields("250")
            .flat_map(|f| f.subfields_of('a'))
            .find_map(|a| edition_number(a, lang)),
        publisher_words: publishers
            .iter()
            .map(|p| publisher_words(p))
            .filter(|w| !w.is_empty())
            .collect(),
        publishers,
        publisher_unnamed,
        places: places(record, lang),
        extent: record
            .data_fields("300")
            .flat_map(|f| f.subfields_of('a'))
            .find_map(page_count),
        pages: record
            .data_fields("300")
            .flat_map(|f| f.subfields_of('a'))
            .find_map(main_pagination),
        volume_count: record
            .data_fields("300")
            .flat_map(|f| f.subfields_of('a'))
            .find_map(|a| volume_count(a, lang)),
        series_numbers: ["490", "830"]
            .iter()
            .flat_map(|t| record.data_fields(t))
            .flat_map(|f| f.subfields_of('v'))
            .filter_map(|v| volume_number(v, lang))
            .collect(),
        volumes,
        whole_set,
        part_title,
        language,
        carrier,
        isbns,
        set_isbns,
        related_isbns,
        cancelled_isbns: cancelled_isbns(record),
        other_ids: crate::dedup::keys::identifier_keys(record),
        extra_pages: extra_pages(record),
        report_ids: report_ids(record),
        uniform_title: uniform_title(record, lang),
        title_words: title_texts(record, lang).into_iter().map(|t| t.0).collect(),
        subtitled: title_texts(record, lang).into_iter().map(|t| t.1).collect(),
        edition_words: edition_words(record, lang),
        han_titles,
        series_titles: series_titles(record, lang),
        contents: contents_words(record, lang),
    }
}

/// Whether the record describes a whole multi-volume set: ISBNs of two
/// or more volumes, or an extent that counts volumes.
fn is_whole_set(record: &Record, isbn_volumes: &BTreeSet<u32>, lang: Option<Lang>) -> bool {
    isbn_volumes.len() >= 2
        || record
            .data_fields("300")
            .flat_map(|f| f.subfields_of('a'))
            .any(|a| counts_volumes(a, lang))
}

/// [`Features::whole_set`] and [`Features::year`] alone, without the rest
/// of the features (the work pass's keys need only these two).
pub(crate) fn whole_set_and_year(record: &Record) -> (bool, Option<u16>) {
    let lang = record_language_or_guess(record).map(|(l, _)| l);
    let (_, _, _, isbn_volumes) = isbns(record, carrier(record));
    (
        is_whole_set(record, &isbn_volumes, lang),
        publication_year(record).and_then(|y| y.parse().ok()),
    )
}

/// 008/35-37, else the first 041 $a, when it names one language.
fn record_language_code(record: &Record) -> Option<String> {
    let valid = |code: &str| {
        let code = code.trim().to_ascii_lowercase();
        (code.len() == 3
            && code.bytes().all(|b| b.is_ascii_lowercase())
            && !matches!(code.as_str(), "und" | "mul" | "zxx"))
        .then_some(code)
    };
    record
        .control("008")
        .and_then(|f| f.get(35..38))
        .and_then(valid)
        .or_else(|| {
            record
                .data_fields("041")
                .find_map(|f| f.subfield('a'))
                .and_then(|a| a.get(..3))
                .and_then(valid)
        })
}

fn titles(record: &Record, lang: Option<Lang>, source: Option<LangSource>) -> Vec<TitleForm> {
    let fields = record.data_fields("245").take(1).chain(
        record
            .data_fields("880")
            .filter(|f| f.subfield('6').is_some_and(|l| l.starts_with("245"))),
    );
    let mut out: Vec<TitleForm> = Vec::new();
    for f in fields {
        if let Some(t) = title_form(f, lang, source) {
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}

fn title_form(f: &DataField, lang: Option<Lang>, source: Option<LangSource>) -> Option<TitleForm> {
    let skip = f.ind2.to_digit(10).unwrap_or(0) as usize;
    let mut proper = String::new();
    let mut full = String::new();
    let mut first_a = true;
    for sf in &f.subfields {
        let mut v = sf.value.as_str();
        match sf.code {
            'a' if first_a => {
                first_a = false;
                if skip > 0 && skip < v.chars().count() {
                    let idx = v.char_indices().nth(skip).map_or(v.len(), |(i, _)| i);
                    v = &v[idx..];
                }
                let cut = v.find([':', ';', '=', '/']).unwrap_or(v.len());
                proper.push_str(&v[..cut]);
            }
            'a' | 'b' => {}
            _ => continue,
        }
        full.push_str(v);
        full.push(' ');
    }
    let english = lang == Some(Lang::English);
    // The reading names how the language was found: a guess from the
    // letters is the text's own (`reading` says so), a country of
    // publication is said here.
    let reading = match (lang, source) {
        (Some(l), Some(LangSource::Country)) => {
            let r = reading(&full, lang);
            let how = format!("read as {} by the country of publication", l.name());
            if r.is_empty() {
                how
            } else {
                format!("{r}; {how}")
            }
        }
        (_, Some(LangSource::Letters)) => reading(&full, None),
        _ => reading(&full, lang),
    };
    let key_proper = strip_article(key_skeleton(&proper, lang), english);
    let key_full = strip_article(key_skeleton(&full, lang), english);
    let proper = strip_article(skeleton(&proper, lang), english);
    let full = strip_article(skeleton(&full, lang), english);
    if full.is_empty() {
        return None;
    }
    let proper = if proper.is_empty() {
        full.clone()
    } else {
        proper
    };
    let key_proper = if key_proper.is_empty() {
        key_full.clone()
    } else {
        key_proper
    };
    let long_words = full.split(' ').filter(|w| w.chars().count() >= 4).count();
    Some(TitleForm {
        proper,
        full,
        key_proper,
        key_full,
        reading,
        long_words,
    })
}

/// A leading English article, for records whose ind2 forgot it.
fn strip_article(s: String, english: bool) -> String {
    if !english {
        return s;
    }
    for art in ["the ", "a ", "an "] {
        if let Some(rest) = s.strip_prefix(art) {
            if !rest.is_empty() {
                return rest.to_string();
            }
        }
    }
    s
}

fn author(f: &DataField, lang: Option<Lang>) -> Option<Author> {
    let a = f.subfield('a')?;
    let (sur, fore) = match a.split_once(',') {
        Some((s, r)) => (s, Some(r)),
        None => (a, None),
    };
    let surname = skeleton(sur, lang);
    if surname.is_empty() {
        return None;
    }
    let initial = fore
        .map(|r| skeleton(r, lang))
        .and_then(|s| s.chars().next());
    let born = f.subfield('d').and_then(|d| {
        let d = d.trim_start_matches(|c: char| !c.is_ascii_digit());
        d.get(..4)
            .filter(|y| y.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|y| y.parse().ok())
    });
    let mut words: Vec<String> = skeleton(a, lang)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    words.sort_unstable();
    let key_surname = key_skeleton(sur, lang);
    Some(Author {
        surname,
        initial,
        born,
        words,
        key_surname,
    })
}

/// The publisher names, and whether the record says it names none
/// (`[s.n.]`, `[б. и.]`, `[publisher not identified]`, and nothing else).
fn publishers(record: &Record, lang: Option<Lang>) -> (Vec<String>, bool) {
    let all = imprint_values(record, lang, 'b');
    let named: Vec<String> = all.iter().filter(|s| !is_unnamed(s)).cloned().collect();
    let unnamed = named.is_empty() && !all.is_empty();
    (named, unnamed)
}

/// The skeletons of one subfield of the imprint (260, 264 ind2 1 and the
/// 880s linked to them), each once.
fn imprint_values(record: &Record, lang: Option<Lang>, code: char) -> Vec<String> {
    let is_imprint = |f: &&DataField| f.tag == "260" || (f.tag == "264" && f.ind2 == '1');
    let linked = |f: &&DataField| {
        f.subfield('6')
            .is_some_and(|l| l.starts_with("260") || (l.starts_with("264") && f.ind2 == '1'))
    };
    let mut out: Vec<String> = Vec::new();
    let fields = record
        .data_fields("260")
        .chain(record.data_fields("264"))
        .filter(is_imprint)
        .chain(record.data_fields("880").filter(linked));
    for f in fields {
        for b in f.subfields_of(code) {
            let s = skeleton(b, lang);
            if !s.is_empty() && !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// RDA's and older cataloguers' words for "no publisher named" and "no
/// place named" (folded to skeletons at first use); AACR2's `[s.n.]`,
/// `[S.l.]`, `[n.p.]` and the Cyrillic `[б. и.]`, `[б. м.]` are single
/// letters, which [`is_unnamed`] knows without a list.
const UNNAMED: &[&str] = &[
    "publisher not identified",
    "place of publication not identified",
    "sine nomine",
    "sine loco",
    "bez izdatelia",
    "izdatel ne ukazan",
    "bez mesta",
    "mesto izdaniia ne ukazano",
];

/// Whether an imprint value names nothing: every word one letter (`[s.n.]`,
/// `[б. и.]`, `[S.l.]`, `[n.p.]`), or one of the phrases given. Two records
/// that both say "no publisher" in different words (`[б. и.]` against
/// `[s.n.]`, one record in Cyrillic and its twin in Latin) must not count
/// as naming two publishers.
fn is_unnamed(skeleton_value: &str) -> bool {
    static PHRASES: OnceLock<Vec<String>> = OnceLock::new();
    let phrases = PHRASES.get_or_init(|| UNNAMED.iter().map(|p| skeleton(p, None)).collect());
    skeleton_value.split(' ').all(|w| w.chars().count() <= 1)
        || phrases.iter().any(|p| p == skeleton_value)
}

/// One place of publication (260/264 $a) as the comparison sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The place's skeleton; for a known abbreviation, its expansion's.
    pub name: String,
    /// The record wrote a known abbreviation (`M.`, `SPb.`, `N.Y.`).
    pub abbreviated: bool,
}

/// Abbreviated places of publication that Soviet-era and AACR2 cataloguing
/// use, with what they stand for (folded to skeletons at first use).
const PLACE_ABBREVIATIONS: &[(&str, &str)] = &[
    ("M.", "Moskva"),
    ("L.", "Leningrad"),
    ("SPb.", "Sankt-Peterburg"),
    ("S.-Peterburg", "Sankt-Peterburg"),
    ("Spb", "Sankt-Peterburg"),
    ("T.", "Tashkent"),
    ("B.", "Baku"),
    ("K.", "Kiev"),
    ("Mn.", "Minsk"),
    ("A.-A.", "Alma-Ata"),
    ("N.Y.", "New York"),
    ("NY", "New York"),
];

/// Other names of one city that are not within a small edit distance of
/// each other (the rest, `Kyïv`/`Kiev`, `Lʹviv`/`Lvov`, `Toshkent`/
/// `Tashkent`, `Bakı`/`Baku`, match as words do in titles).
const PLACE_ALIASES: &[(&str, &str)] = &[
    ("Moscow", "Moskva"),
    ("Saint Petersburg", "Sankt-Peterburg"),
    ("St. Petersburg", "Sankt-Peterburg"),
    ("Petersburg", "Sankt-Peterburg"),
    ("Kyiv", "Kiev"),
    ("Kharkiv", "Kharkov"),
    ("Almaty", "Alma-Ata"),
    ("Bishkek", "Frunze"),
];

/// (form, what it stands for), both as skeletons.
type PlaceTable = Vec<(String, String)>;

fn places(record: &Record, lang: Option<Lang>) -> Vec<Place> {
    static TABLES: OnceLock<(PlaceTable, PlaceTable)> = OnceLock::new();
    let (abbreviations, aliases) = TABLES.get_or_init(|| {
        let fold = |t: &[(&str, &str)]| {
            t.iter()
                .map(|(a, b)| (skeleton(a, None), skeleton(b, None)))
                .collect()
        };
        (fold(PLACE_ABBREVIATIONS), fold(PLACE_ALIASES))
    });
    let mut out: Vec<Place> = Vec::new();
    for s in imprint_values(record, lang, 'a') {
        let place = if let Some((_, full)) = abbreviations.iter().find(|(a, _)| *a == s) {
            Place {
                name: full.clone(),
                abbreviated: true,
            }
        } else if is_unnamed(&s) {
            continue;
        } else {
            let name = aliases
                .iter()
                .find(|(a, _)| *a == s)
                .map_or(s, |(_, full)| full.clone());
            Place {
                name,
                abbreviated: false,
            }
        };
        if !out.contains(&place) {
            out.push(place);
        }
    }
    out
}

/// How the places agree, −1 ..= 1, with a note: 1 when a place of one is a
/// place of the other (equal or within the title's edit distance per
/// word), 0.5 when only an abbreviation (`M.`) agrees with the other's
/// place written out, −1 when both write their places out and none agree,
/// 0 otherwise (a place missing, `[S.l.]`, an abbreviation against another
/// place). Never a veto: a book is often printed in one city and published
/// in another, and cataloguers choose differently.
fn place_agreement(a: &[Place], b: &[Place]) -> Option<(f64, String)> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let same = |x: &Place, y: &Place| x.name == y.name || token_similarity(&x.name, &y.name) >= 0.9;
    let mut best: Option<(f64, String)> = None;
    for x in a {
        for y in b {
            if same(x, y) {
                let (s, note) = if x.abbreviated || y.abbreviated {
                    (0.5, format!("{} (abbreviation)", x.name))
                } else {
                    (1.0, x.name.clone())
                };
                if best.as_ref().is_none_or(|(b, _)| s > *b) {
                    best = Some((s, note));
                }
            }
        }
    }
    if best.is_some() {
        return best;
    }
    let names = |p: &[Place]| {
        p.iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(" ; ")
    };
    let note = format!("{} vs {}", names(a), names(b));
    if a.iter().chain(b).all(|p| !p.abbreviated) {
        Some((-1.0, format!("clearly different: {note}")))
    } else {
        Some((0.0, format!("abbreviated: {note}")))
    }
}

/// Words of publisher names that say what kind of body it is, not which
/// (each folded to a skeleton at first use): publishing house, press,
/// company forms, printing works, "named after", in the partners'
/// languages and English, abbreviated and in full.
const PUBLISHER_GENERIC: &[&str] = &[
    // Russian, Ukrainian, Belarusian, Bulgarian, Serbian, Macedonian.
    "izd",
    "vo",
    "izdatelstvo",
    "izdatelʹstvo",
    "izdatelstva",
    "издательство",
    "изд",
    "izdatelskii",
    "izdatelʹskiĭ",
    "izdatelskiy",
    "dom",
    "дом",
    "izdatelska",
    "izdatelsko",
    "издателство",
    "издателска",
    "kŭshta",
    "kushta",
    "къща",
    "vyd",
    "вид",
    "vydavnytstvo",
    "vydavnyctvo",
    "vidavnictvo",
    "видавництво",
    "vydavnytstva",
    "vydavetstva",
    "vydavetstvo",
    "выдавецтва",
    "izdavačka",
    "izdavacka",
    "izdavač",
    "издавачка",
    "tipografiia",
    "tipografiya",
    "типография",
    "tip",
    "ooo",
    "oao",
    "zao",
    "tov",
    "pp",
    "ik",
    "imeni",
    "im",
    "na",
    "za",
    "i",
    "ta",
    "and",
    "et",
    "und",
    // Turkic.
    "nashriyot",
    "nashriyoti",
    "nashriët",
    "nashriëti",
    "нашриёт",
    "нашриёти",
    "nasriyot",
    "nəşriyyat",
    "nəşriyyatı",
    "нәшрийјат",
    "нәшријјаты",
    "neshriyyat",
    "matbaa",
    "матбаа",
    "kontserni",
    "kontsernining",
    "концерни",
    "bosh",
    "tahririyati",
    "tahririiati",
    "taḣririiati",
    "bas",
    "baspasy",
    "баспасы",
    "baspa",
    "баспа",
    "neşriyat",
    "neşriýaty",
    "nomidagi",
    "номидаги",
    "ва",
    "va",
    "ve",
    // Mongolian.
    "khevleliin",
    "khėvlėliĭn",
    "хэвлэлийн",
    "hevleliyn",
    "hèvlèlijn",
    "gazar",
    "газар",
    "kompani",
    "компани",
    "khkhk",
    "ххк",
    "hhk",
    // English, German, French.
    "press",
    "publishing",
    "publisher",
    "publishers",
    "publ",
    "pub",
    "house",
    "co",
    "company",
    "corp",
    "corporation",
    "inc",
    "ltd",
    "llc",
    "limited",
    "bros",
    "brothers",
    "sons",
    "print",
    "printing",
    "printers",
    "verlag",
    "gmbh",
    "ag",
    "éditions",
    "editions",
    "editeur",
    "éditeur",
    "sa",
    "sn",
    "books",
    "publications",
    "group",
    "editorial",
    "editora",
    "edizioni",
    "yayınları",
    "yayınevi",
    "kitabevi",
    "wydawnictwo",
    "nakladatelství",
    // What a record says when it knows no publisher: `[s.n.]` (single
    // letters go anyway), RDA `[publisher not identified]`, `[sine nomine]`,
    // `[izdatelʹ ne ukazan]`, `[б. и.]`.
    "not",
    "identified",
    "unknown",
    "sine",
    "nomine",
    "distributor",
    "ne",
    "ukazan",
    "izdatelʹ",
    "izdatel",
    "bez",
];

/// The distinctive words of a publisher skeleton (see
/// [`Features::publisher_words`]).
pub fn publisher_words(skeleton_name: &str) -> Vec<String> {
    static GENERIC: OnceLock<BTreeSet<String>> = OnceLock::new();
    let generic = GENERIC.get_or_init(|| {
        PUBLISHER_GENERIC
            .iter()
            .flat_map(|w| {
                [
                    skeleton(w, None),
                    skeleton(w, Some(Lang::Azerbaijani)),
                    skeleton(w, Some(Lang::Uzbek)),
                ]
            })
            .collect()
    });
    skeleton_name
        .split(' ')
        .filter(|w| w.chars().count() >= 2 && !generic.contains(*w))
        .map(str::to_string)
        .collect()
}

/// Whether two publishers' distinctive words are the same body: every word
/// of the shorter name (all but one from four words) is in the other,
/// equal, within the title's edit distance, or as an abbreviation (`gos`
/// for `gosudarstvennyi`, `ped` for `pedagogicheskii`). "Tomskii gos.
/// universitet" and "Tomskii politekhnicheskii universitet" are two bodies.
fn same_publisher(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let hits = short
        .iter()
        .filter(|x| {
            long.iter().any(|y| {
                x == &y
                    || words_match(x, y)
                    || (!x.chars().any(|c| c.is_ascii_digit())
                        && (y.starts_with(x.as_str()) || x.starts_with(y.as_str())))
            })
        })
        .count();
    hits > 0 && (hits == short.len() || (short.len() >= 4 && hits + 1 == short.len()))
}

/// The largest number in a 300 $a outside square brackets.
fn page_count(a: &str) -> Option<u32> {
    let mut depth = 0u32;
    let mut best: Option<u32> = None;
    let mut cur: Option<u32> = None;
    for c in a.chars().chain([' ']) {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if let Some(d) = c.to_digit(10) {
            if depth == 0 {
                cur = Some(cur.unwrap_or(0).saturating_mul(10).saturating_add(d));
            }
        } else if let Some(n) = cur.take() {
            best = best.max(Some(n));
        }
    }
    best.filter(|n| *n > 0)
}

/// The words that count pages after a number in 300 $a, folded to
/// skeletons at first use (so that `səh.`, whose h the skeleton writes x,
/// is found however it is spelt): English (AACR2 `p.`, RDA `pages`),
/// Russian and other Cyrillic `с.`, `стр.`, Uzbek and Kazakh `б.`, `bet`,
/// `бет`, Azerbaijani `səh.`, `сәһ.`, `seh.`, Turkish `s.`, `sayfa`, German
/// `S.`, `Seiten`, French `pages`; leaves (`l.`, `leaves`, `л.`) count too.
const PAGE_WORDS: &[&str] = &[
    "p", "pp", "page", "pages", "s", "str", "stranits", "stranica", "b", "bet", "betlar", "seh",
    "səh", "сәһ", "sehife", "səhifə", "sah", "sahifa", "sayfa", "seiten", "l", "leaves", "leaf",
    "ll", "lis",
];

fn is_page_word(word: &str) -> bool {
    static WORDS: OnceLock<BTreeSet<String>> = OnceLock::new();
    let words = WORDS.get_or_init(|| {
        PAGE_WORDS
            .iter()
            .flat_map(|w| [w.to_string(), skeleton(w, None)])
            .collect()
    });
    words.contains(&skeleton(word, None))
}

/// A record's main pagination (see [`Features::pages`]): what the `aye:`
/// match key counts.
pub(crate) fn main_pages(record: &Record) -> Option<u32> {
    record
        .data_fields("300")
        .flat_map(|f| f.subfields_of('a'))
        .find_map(main_pagination)
}

/// The main pagination of a 300 $a: the largest number outside square
/// brackets in a sequence that a page word closes (`264 p.`, `318, [1] p.`,
/// `xii, 264, [4] p.`), not counting plates (`16 p. of plates`, `16 л.
/// ил.`).
fn main_pagination(a: &str) -> Option<u32> {
    let mut best: Option<u32> = None;
    for clause in a.split([':', ';', '+', '(', ')']) {
        // Numbers of the comma-separated sequences read so far that no page
        // word has closed yet.
        let mut pending: Option<u32> = None;
        for item in clause.split(',') {
            let (number, unit, plates) = pagination_item(item);
            pending = pending.max(number);
            match unit {
                Some(true) if !plates => best = best.max(pending),
                Some(_) => pending = None,
                None if number.is_none() && !is_roman_item(item) => pending = None,
                None => {}
            }
        }
    }
    best.filter(|n| *n > 0)
}

/// One comma-separated item of a pagination: its number outside square
/// brackets, whether a word follows the number (`Some(true)` if it is a
/// page word) and whether the item counts plates or illustrations.
fn pagination_item(item: &str) -> (Option<u32>, Option<bool>, bool) {
    let mut depth = 0u32;
    let mut number: Option<u32> = None;
    let mut unit = None;
    let mut plates = false;
    let mut words = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in item.char_indices().chain([(item.len(), ' ')]) {
        if c.is_alphanumeric() {
            start.get_or_insert(i);
            continue;
        }
        if let Some(s) = start.take() {
            words.push((&item[s..i], depth > 0));
        }
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    for (k, (w, bracketed)) in words.iter().enumerate() {
        if w.bytes().all(|b| b.is_ascii_digit()) {
            if !bracketed {
                number = number.max(w.parse().ok());
            }
            if let Some((next, _)) = words.get(k + 1) {
                if !next.starts_with(|c: char| c.is_ascii_digit()) {
                    unit = Some(is_page_word(next));
                }
            }
        } else {
            let w = skeleton(w, None);
            if w.starts_with("plate") || w == "il" || w == "ill" || w == "tabl" {
                plates = true;
            }
        }
    }
    (number, unit, plates)
}

/// Whether an item is preliminary pages in Roman numerals (`xii`).
fn is_roman_item(item: &str) -> bool {
    let t = item.trim().trim_matches(['[', ']']);
    !t.is_empty() && t.chars().all(|c| "ivxlcdmIVXLCDM".contains(c))
}

/// Whether two page counts clearly differ: the larger at least 1.5 times
/// the smaller and at least 20 pages more. Preliminary pages counted into
/// one record's total (`xii, 264 p.` vs `276 p.`), a few unnumbered pages or
/// a misprint stay well inside it; another extent of the text does not.
pub fn pages_clearly_differ(a: u32, b: u32) -> bool {
    let (small, big) = (a.min(b), a.max(b));
    big - small >= 20 && u64::from(big) * 2 >= u64::from(small) * 3
}

fn is_reprint(record: &Record, lang: Option<Lang>) -> bool {
    if record
        .control("008")
        .is_some_and(|f| f.as_bytes().get(6) == Some(&b'r'))
    {
        return true;
    }
    record
        .data_fields("500")
        .flat_map(|f| f.subfields_of('a'))
        .any(|a| {
            let s = skeleton(a, lang);
            REPRINT_NOTES.iter().any(|w| s.contains(w))
        })
}

/// Skeletons of the words that mark a reprint note: English and Russian
/// `reprint`/`Репринт`, Russian `Перепечатка`, Azerbaijani `təkrar çap`
/// (`тәкрар чап`), Uzbek `qayta bosilgan` (`қайта босилган`).
const REPRINT_NOTES: &[&str] = &["reprint", "perepechat", "tekrar chap", "qaita bosil"];

fn carrier(record: &Record) -> Carrier {
    let leader = record.leader.as_bytes();
    let rtype = leader.get(6).copied().unwrap_or(b' ');
    if matches!(rtype, b'i' | b'j') {
        return Carrier::Audio;
    }
    // Form of item: 008/23 for books, serials, music, mixed materials;
    // 008/29 for maps and visual materials.
    let form_pos = if matches!(rtype, b'e' | b'f' | b'g' | b'k' | b'o' | b'r') {
        29
    } else {
        23
    };
    let form = record
        .control("008")
        .and_then(|f| f.as_bytes().get(form_pos).copied());
    let f007: Vec<u8> = record
        .fields
        .iter()
        .filter_map(|f| match f {
            Field::Control(c) if c.tag == "007" => c.value.bytes().next(),
            _ => None,
        })
        .collect();
    let b337: Vec<String> = record
        .data_fields("337")
        .flat_map(|f| f.subfields_of('b'))
        .map(|b| b.trim().to_ascii_lowercase())
        .collect();
    let b338: Vec<String> = record
        .data_fields("338")
        .flat_map(|f| f.subfields_of('b'))
        .map(|b| b.trim().to_ascii_lowercase())
        .collect();
    if b337.iter().any(|b| b == "s") {
        return Carrier::Audio;
    }
    let electronic = rtype == b'm'
        || matches!(form, Some(b'o' | b'q' | b's'))
        || f007.contains(&b'c')
        || b337.iter().any(|b| b == "c")
        || b338.iter().any(|b| b.starts_with('c'));
    if electronic {
        return Carrier::Electronic;
    }
    let print_indication = b337.iter().any(|b| b == "n")
        || b338.iter().any(|b| b.starts_with('n'))
        || f007.contains(&b't')
        || record
            .data_fields("300")
            .any(|f| f.subfields_of('c').any(|c| !c.trim().is_empty()));
    let online_link = record
        .data_fields("856")
        .any(|f| f.ind2 != '2' && f.subfield('u').is_some());
    if online_link && !print_indication {
        return Carrier::Electronic;
    }
    if matches!(form, Some(b'a' | b'b' | b'c'))
        || f007.contains(&b'h')
        || b337.iter().any(|b| b == "h")
    {
        return Carrier::Microform;
    }
    Carrier::Print
}

/// What an ISBN qualifier says about the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qualified {
    /// The record's own number (no qualifier, a binding, its own carrier).
    Own,
    /// The number of the whole set.
    Set,
    /// The number of the same book on another carrier.
    Other,
}

/// Skeleton words of ISBN qualifiers that name a whole set.
const SET_WORDS: &[&str] = &[
    "set",
    "toplam",
    "obsh",
    "komplekt",
    "choxcildli",
    "coxcildli",
];
/// Skeleton words of qualifiers that name a print carrier (bindings are
/// print too, but they are what print records normally say, so only the
/// words that contrast with electronic are listed).
const PRINT_WORDS: &[&str] = &["print", "bosma", "chap", "pech", "printed"];
/// Skeleton words of qualifiers that name an electronic carrier.
const ELECTRONIC_WORDS: &[&str] = &[
    "ebook",
    "elektron",
    "electronic",
    "online",
    "onlain",
    "pdf",
    "epub",
];

/// The record's own, set and other-carrier ISBNs, and the volume numbers
/// its ISBN qualifiers name (one for a volume's record, several for a
/// record of the whole set that lists every volume's ISBN).
fn isbns(
    record: &Record,
    carrier: Carrier,
) -> (Vec<String>, Vec<String>, Vec<String>, BTreeSet<u32>) {
    let (mut own, mut set, mut related) = (Vec::new(), Vec::new(), Vec::new());
    let mut volumes = BTreeSet::new();
    for f in record.data_fields("020") {
        let qualifiers: Vec<String> = f
            .subfields_of('q')
            .map(str::to_string)
            .chain(f.subfields_of('a').filter_map(|a| parse_isbn(a)?.qualifier))
            .collect();
        let mut kind = Qualified::Own;
        for q in &qualifiers {
            let s = skeleton(q, None);
            let words: Vec<&str> = s.split(' ').collect();
            let has = |list: &[&str]| words.iter().any(|w| list.contains(w));
            let e_book = s.contains("e book") || s.contains("e kitob") || s.contains("e kitab");
            let other_print = carrier != Carrier::Print && has(PRINT_WORDS);
            let other_electronic =
                carrier != Carrier::Electronic && (e_book || has(ELECTRONIC_WORDS));
            if has(SET_WORDS) {
                kind = Qualified::Set;
            } else if other_print || other_electronic {
                kind = Qualified::Other;
            }
            if words.iter().any(|w| VOLUME_WORDS.contains(w)) {
                volumes.extend(volume_number(q, None));
            }
        }
        for a in f.subfields_of('a') {
            let Some(isbn) = parse_isbn(a).and_then(|p| p.isbn13) else {
                continue;
            };
            let key = format!("isbn:{isbn}");
            let list = match kind {
                Qualified::Own => &mut own,
                Qualified::Set => &mut set,
                Qualified::Other => &mut related,
            };
            if !list.contains(&key) {
                list.push(key);
            }
        }
    }
    // A number given both as the record's own and as a set ISBN is the
    // record's own (a one-volume "set").
    set.retain(|s| !own.contains(s));
    (own, set, related, volumes)
}

/// Whether a 300 $a counts two or more volumes (`3 v.`, `2 т.`, `4 jild`):
/// the description of a whole multi-volume set.
fn counts_volumes(extent: &str, lang: Option<Lang>) -> bool {
    let s = skeleton(extent, lang);
    let mut words = s.split(' ');
    let (Some(n), Some(unit)) = (words.next(), words.next()) else {
        return false;
    };
    n.parse::<u32>().is_ok_and(|n| n >= 2) && VOLUME_WORDS.contains(&unit)
}

/// The count of volumes a 300 $a starts with (`3 v.`, `2 т.`, `4 jild`).
fn volume_count(extent: &str, lang: Option<Lang>) -> Option<u32> {
    if !extent
        .trim_start()
        .starts_with(|c: char| c.is_ascii_digit())
    {
        return None;
    }
    let s = skeleton(extent, lang);
    let mut words = s.split(' ');
    let n = words.next()?.parse::<u32>().ok().filter(|n| *n > 0)?;
    VOLUME_WORDS.contains(&words.next()?).then_some(n)
}

/// Skeleton words that name a volume or part in an ISBN qualifier.
const VOLUME_WORDS: &[&str] = &[
    "jild", "cild", "tom", "t", "v", "vol", "volume", "kitob", "kn", "kniga", "chast", "ch",
    "qism", "xisse", "part", "pt", "bd", "band",
];

fn cancelled_isbns(record: &Record) -> Vec<String> {
    let mut out: Vec<String> = record
        .data_fields("020")
        .flat_map(|f| f.subfields_of('z'))
        .filter_map(|z| match parse_isbn(z).and_then(|p| p.isbn13) {
            Some(isbn) => Some(format!("isbn:{isbn}")),
            None => crate::dedup::keys::standard_number(z).map(|n| format!("z:{n}")),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

// ---------------------------------------------------------------------------
// Evidence against (#17 item 4): subtitles, pagination, report and hearing
// identifiers, OCLC numbers, uniform titles.

/// Skeleton words that carry no content in a title: articles, prepositions
/// and conjunctions of English and of the partners' languages (folded).
const TITLE_STOP_WORDS: &[&str] = &[
    "the", "a", "an", "of", "and", "to", "for", "in", "on", "at", "by", "with", "from", "de", "la",
    "le", "les", "el", "los", "las", "del", "des", "di", "da", "do", "du", "und", "der", "die",
    "das", "im", "am", "zu", "y", "e", "et", "i", "o", "ou", "s", "v", "na", "po", "k", "za", "va",
    "ve", "və", "ва", "и", "в", "на", "по", "к", "за",
];

/// Phrases that start the addressee of a report or hearing in a subtitle
/// (`report to the Chairman, …`, `hearing before the Subcommittee …`): they
/// name who asked, not what the text is, and are worded freely.
const ADDRESSEE_PHRASES: &[&str] = &[
    "report to ",
    "reports to ",
    "hearing before ",
    "hearings before ",
    "briefing report to ",
    "testimony before ",
    "forum before ",
    "statement before ",
];

/// The content words of a skeleton: no stop words, each once.
fn content_words(skel: &str) -> Vec<String> {
    let stop = stop_word_skeletons();
    let mut out: Vec<String> = Vec::new();
    for w in skel.split(' ').filter(|w| !w.is_empty()) {
        if !stop.iter().any(|s| s == w) && !out.iter().any(|o| o == w) {
            out.push(w.to_string());
        }
    }
    out
}

fn stop_word_skeletons() -> &'static [String] {
    static TABLE: OnceLock<Vec<String>> = OnceLock::new();
    TABLE.get_or_init(|| {
        TITLE_STOP_WORDS
            .iter()
            .map(|w| skeleton(w, None))
            .filter(|w| !w.is_empty())
            .collect()
    })
}

/// The title of each 245 (and each 880 linked to a 245) as content words,
/// with whether it has a subtitle: $a and $b together, because records
/// split them in different places, without a parallel title (after `=`)
/// and with a subtitle cut where the addressee of a report or hearing
/// starts. Forms whose skeleton keeps letters outside Latin (Chinese in an
/// 880, which the skeleton does not romanise) are left out: they cannot be
/// compared with the romanised form of another record word by word.
fn title_texts(record: &Record, lang: Option<Lang>) -> Vec<(Vec<String>, bool)> {
    let fields = record.data_fields("245").take(1).chain(
        record
            .data_fields("880")
            .filter(|f| f.subfield('6').is_some_and(|l| l.starts_with("245"))),
    );
    let mut out: Vec<(Vec<String>, bool)> = Vec::new();
    for f in fields {
        let mut text = String::new();
        let mut subtitle = false;
        let mut parallel = false;
        for sf in &f.subfields {
            match sf.code {
                'a' => {
                    let v = sf.value.trim_end();
                    parallel = v.ends_with('=');
                    text.push_str(v.split(" = ").next().unwrap_or(v));
                    text.push(' ');
                }
                'b' if !parallel => {
                    let v = sf.value.split(" = ").next().unwrap_or(&sf.value);
                    let lower = v.to_lowercase();
                    let cut = ADDRESSEE_PHRASES
                        .iter()
                        .filter_map(|p| lower.find(p))
                        .min()
                        .unwrap_or(lower.len());
                    // The offset is of the lower-cased text: use it only
                    // when lower-casing kept the byte offsets.
                    let v = if lower.len() == v.len() { &v[..cut] } else { v };
                    if !skeleton(v, lang).is_empty() {
                        subtitle = true;
                    }
                    text.push_str(v);
                    text.push(' ');
                }
                // A part title says which book as a subtitle does, and
                // cataloguers put one region of a guide in $p, another in
                // $b (LC 00047413 and 00047414, Eastern/Western region).
                'p' => {
                    if !skeleton(&sf.value, lang).is_empty() {
                        subtitle = true;
                    }
                    text.push_str(&sf.value);
                    text.push(' ');
                }
                _ => {}
            }
        }
        let words = content_words(&skeleton(&text, lang));
        if !words.is_empty()
            && words.iter().all(|w| w.is_ascii())
            && !out.iter().any(|(w, _)| *w == words)
        {
            out.push((words, subtitle));
        }
    }
    out
}

/// Skeletons of the words an edition statement has whatever edition it
/// names: edition, revised, enlarged, corrected, in the partners'
/// languages and English, abbreviated or in full.
const EDITION_WORDS: &[&str] = &[
    "ed",
    "edition",
    "edn",
    "izd",
    "izdanie",
    "izdaniie",
    "vid",
    "vydannia",
    "nashr",
    "nashri",
    "neshr",
    "nəşr",
    "nəşri",
    "basylym",
    "rev",
    "revised",
    "enl",
    "enlarged",
    "corr",
    "corrected",
    "ispr",
    "dop",
    "pererab",
    "st",
    "nd",
    "rd",
    "th",
    "e",
    "a",
    "ia",
    "oe",
    "ye",
];

/// The content words of 250 $a without edition words and numbers.
fn edition_words(record: &Record, lang: Option<Lang>) -> Vec<String> {
    // Skeletons of the generic words, made once: made per record they were
    // a twentieth of a dedup pass.
    static GENERIC: OnceLock<Vec<String>> = OnceLock::new();
    let generic = GENERIC.get_or_init(|| EDITION_WORDS.iter().map(|w| skeleton(w, None)).collect());
    let text: Vec<&str> = record
        .data_fields("250")
        .take(1)
        .flat_map(|f| f.subfields_of('a'))
        .collect();
    if text.is_empty() {
        return Vec::new();
    }
    content_words(&skeleton(&text.join(" "), lang))
        .into_iter()
        .filter(|w| !generic.contains(w) && !w.starts_with(|c: char| c.is_ascii_digit()))
        .filter(|w| ordinal_word(w).is_none())
        .collect()
}

/// The words of `a` that `b` lacks, run together: equal words and typing
/// errors (`words_match`, or two neighbouring letters swapped) are not
/// lacking.
fn lacking(a: &[String], b: &[String]) -> String {
    a.iter()
        .filter(|w| {
            !b.iter()
                .any(|v| v == *w || words_match(w, v) || swapped(w, v))
        })
        .map(String::as_str)
        .collect()
}

/// Whether two words differ by two neighbouring letters swapped.
fn swapped(a: &str, b: &str) -> bool {
    // Called for every pair of words of two titles: walked in step, without
    // collecting either word.
    let (mut xs, mut ys) = (a.chars(), b.chars());
    let mut n = 0usize;
    // The first differing position and its two letters, and whether the
    // second difference (the swap) came right after it.
    let mut first: Option<(usize, char, char)> = None;
    let mut swap = false;
    loop {
        match (xs.next(), ys.next()) {
            (Some(x), Some(y)) => {
                if x != y {
                    match first {
                        None => first = Some((n, x, y)),
                        Some((i, fx, fy)) if !swap && i + 1 == n && fx == y && fy == x => {
                            swap = true
                        }
                        Some(_) => return false,
                    }
                }
                n += 1;
            }
            (None, None) => break,
            _ => return false,
        }
    }
    n >= 4 && swap
}

/// The words of `a` that `b` lacks and that are not in the text `b` lacks
/// either, spelt otherwise: a word counts unless some stretch of the other
/// title's lacking words run together is within 40 % of its letters
/// (independent romanisations, `sheix` and `shech`, `eserleri` and
/// `asarlari`; words split otherwise, `karpat skoxo` and `karpackoxo`,
/// `N.U.` and `NU`), and always within one edit. Words with digits count
/// unless equal (`1706`, `1707`).
fn other_words(a: &[String], b: &[String]) -> usize {
    let rest: Vec<char> = lacking(b, a).chars().collect();
    a.iter()
        .filter(|w| {
            !b.iter()
                .any(|v| v == *w || words_match(w, v) || swapped(w, v))
        })
        .filter(|w| {
            if w.chars().any(|c| c.is_ascii_digit()) {
                return true;
            }
            // Two words of one length that differ in their first letter and
            // one more are two words, not a typo or a romanisation:
            // `internal`/`external`, `eastern`/`western` (LC 00364789 and
            // 00364911, 00047413 and 00047414).
            if b.iter().any(|v| other_first_letter(w, v)) {
                return true;
            }
            // Short words are often particles, which romanisations spell
            // at will (`със`: `sus`, `ss`): one edit is forgiven them.
            let n = w.chars().count();
            let d = substring_distance(w, &rest);
            5 * d > 2 * n && d >= 2
        })
        .count()
}

/// The edit distance from `w` to the closest stretch of `text` (any start,
/// any end).
fn substring_distance(w: &str, text: &[char]) -> usize {
    let w: Vec<char> = w.chars().collect();
    // prev[j]: distance of w[..i] to the best stretch ending at text[..j];
    // a stretch may start anywhere, so row 0 is all zeros.
    let mut prev = vec![0usize; text.len() + 1];
    for (i, cw) in w.iter().enumerate() {
        let mut cur = vec![i + 1; text.len() + 1];
        for (j, ct) in text.iter().enumerate() {
            let cost = usize::from(cw != ct);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev.into_iter().min().unwrap_or(w.len())
}

/// Whether two titles' content words clearly differ: either has a word
/// that is not the other's (see `other_words`).
fn content_words_differ(a: &[String], b: &[String]) -> bool {
    other_words(a, b) > 0 || other_words(b, a) > 0
}

/// Whether each of two titles has a word that is not the other's (a word
/// put in another's place, not one left out).
fn content_words_replaced(a: &[String], b: &[String]) -> bool {
    other_words(a, b) > 0 && other_words(b, a) > 0
}

/// Whether each of two controlled texts (a uniform title, an edition
/// statement) has content words the other lacks: they are formed by rule
/// or transcribed, so a lacking word is another word, however close.
fn controlled_words_replaced(a: &[String], b: &[String]) -> bool {
    !lacking(a, b).is_empty() && !lacking(b, a).is_empty()
}

/// Whether the titles of two records clearly differ in words: when both
/// have a subtitle, no title with a subtitle of one has the content words of
/// one of the other; in any case, no title of one is the other's but for
/// words left out (each has words the other lacks, in every pair of forms).
fn titles_differ(a: &Features, b: &Features) -> bool {
    fn sub(f: &Features) -> Vec<&Vec<String>> {
        f.title_words
            .iter()
            .zip(&f.subtitled)
            .filter(|(_, s)| **s)
            .map(|(w, _)| w)
            .collect()
    }
    let (sa, sb) = (sub(a), sub(b));
    let subtitles = !sa.is_empty()
        && !sb.is_empty()
        && sa
            .iter()
            .all(|x| sb.iter().all(|y| content_words_differ(x, y)));
    let replaced = !a.title_words.is_empty()
        && !b.title_words.is_empty()
        && a.title_words
            .iter()
            .all(|x| b.title_words.iter().all(|y| content_words_replaced(x, y)));
    subtitles || replaced
}

/// The pages of 300 $a outside the main pagination: preliminary pages in
/// Roman numerals (`xii`), bracketed unnumbered pages (`[4]`) and plates
/// (`16 p. of plates`, `[8] leaves of plates`). One record may count them
/// into its total where the other does not.
fn extra_pages(record: &Record) -> u32 {
    let mut extra = 0u32;
    for a in record
        .data_fields("300")
        .flat_map(|f| f.subfields_of('a'))
        .take(1)
    {
        for clause in a.split([':', ';', '+', '(', ')']) {
            for item in clause.split(',') {
                let t = item.trim();
                let skel = skeleton(t, None);
                if is_roman_item(t) {
                    let r = roman(t.trim_matches(['[', ']'])).unwrap_or(0);
                    extra = extra.saturating_add(r);
                } else if t.starts_with('[') || skel.contains("plate") {
                    let n: String = t
                        .chars()
                        .skip_while(|c| !c.is_ascii_digit())
                        .take_while(char::is_ascii_digit)
                        .collect();
                    extra = extra.saturating_add(n.parse().unwrap_or(0));
                }
            }
        }
    }
    extra
}

/// Whether two main paginations differ beyond what the preliminary pages,
/// unnumbered pages and plates explain: by at least 3 pages and 5 % of the
/// larger once `extra` (how far the two records' counts of such pages
/// differ: one may count its `xii` into the main number) is allowed for.
/// Two numbers of the same digits in another order (`96` and `69`) are
/// taken for a misprint.
pub fn paginations_differ(a: u32, b: u32, extra: u32) -> bool {
    let digits = |n: u32| {
        let mut d: Vec<char> = n.to_string().chars().collect();
        d.sort_unstable();
        d
    };
    if digits(a) == digits(b) {
        return false;
    }
    let (small, big) = (a.min(b), a.max(b));
    let d = (big - small).saturating_sub(extra);
    d >= 3 && u64::from(d) * 20 >= u64::from(big)
}

/// Identifiers of one report or hearing, `kind:value`: report numbers from
/// 088 $a and from notes (`GAO/NSIAD-00-75`), and the date of a hearing
/// (`Hearing held Feb. 9, 2000, Albany`) as its numbers and month. Two
/// records of one kind that share none are two reports or two hearings.
fn report_ids(record: &Record) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    for a in record.data_fields("088").flat_map(|f| f.subfields_of('a')) {
        let n = compact_report_number(a);
        if !n.is_empty() {
            push(format!("report:{n}"));
        }
    }
    for a in record.data_fields("500").flat_map(|f| f.subfields_of('a')) {
        for token in a.split_whitespace() {
            let token = token.trim_start_matches(|c: char| !c.is_alphanumeric());
            if token.len() > 4 && token.starts_with("GAO/") {
                push(format!("report:{}", compact_report_number(token)));
            }
        }
        let lower = a.to_lowercase();
        if let Some(issued) = month_and_year(&lower) {
            push(format!("issued:{issued}"));
        }
        if let Some(rest) = lower
            .strip_prefix("hearing held ")
            .or_else(|| lower.strip_prefix("hearings held "))
        {
            // The date's numbers and month, and the first other word of
            // three letters or more: the place (two hearings one day).
            let mut parts: Vec<String> = Vec::new();
            let mut place = false;
            for w in rest.split(|c: char| !c.is_alphanumeric()) {
                if w.is_empty() {
                    continue;
                }
                if w.chars().all(|c| c.is_ascii_digit()) {
                    parts.push(w.trim_start_matches('0').to_string());
                } else if let Some(m) = month(w) {
                    parts.push(m.to_string());
                } else if !place && w.chars().count() >= 3 && !["and", "the"].contains(&w) {
                    place = true;
                    parts.push(w.to_string());
                }
            }
            if !parts.is_empty() {
                push(format!("hearing:{}", parts.join(" ")));
            }
        }
    }
    out
}

/// A note that is only a date (`"April 2000."`, `"June 19, 2000."`), the
/// issue date of a report: `apr 2000`, `jun 19 2000`.
fn month_and_year(lower: &str) -> Option<String> {
    let t = lower.trim_matches(|c: char| !c.is_alphanumeric());
    let words: Vec<&str> = t.split([' ', ',', '.']).filter(|w| !w.is_empty()).collect();
    let (first, rest) = words.split_first()?;
    let m = month(first)?;
    let numeric = |w: &&str| w.bytes().all(|b| b.is_ascii_digit());
    let fits = match rest {
        [year] => year.len() == 4 && numeric(year),
        [day, year] => day.len() <= 2 && numeric(day) && year.len() == 4 && numeric(year),
        _ => false,
    };
    fits.then(|| format!("{m} {}", rest.join(" ")))
}

/// The month a lower-case word names (`feb`, `february`, `sept`), as its
/// three-letter abbreviation.
fn month(w: &str) -> Option<&'static str> {
    const NAMES: &[&str] = &[
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let i = NAMES
        .iter()
        .position(|n| w.len() >= 3 && n.starts_with(w))?;
    Some(MONTHS[i])
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// A report number's letters and digits, upper-cased (`GAO/NSIAD-00-75.`
/// and `GAO NSIAD 00 75` agree).
fn compact_report_number(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Report or hearing identifiers of one kind on both records, none shared:
/// the kind and the two lists.
fn report_ids_differ(a: &Features, b: &Features) -> Option<(String, String)> {
    for kind in ["report:", "hearing:", "issued:"] {
        let of = |f: &Features| -> Vec<String> {
            f.report_ids
                .iter()
                .filter(|i| i.starts_with(kind))
                .cloned()
                .collect()
        };
        let (x, y) = (of(a), of(b));
        if !x.is_empty() && !y.is_empty() && !x.iter().any(|i| y.contains(i)) {
            return Some((x.join(" "), y.join(" ")));
        }
    }
    None
}

/// The uniform title (130, else 240: $a $n $p $k) as content words; empty
/// if there is none. The language ($l) and date ($f) are left out: a
/// translation is decided by the language of the text.
fn uniform_title(record: &Record, lang: Option<Lang>) -> Vec<String> {
    let text: Vec<&str> = record
        .data_fields("130")
        .chain(record.data_fields("240"))
        .take(1)
        .flat_map(|f| f.subfields.iter())
        .filter(|sf| matches!(sf.code, 'a' | 'n' | 'p' | 'k'))
        .map(|sf| sf.value.as_str())
        .collect();
    content_words(&skeleton(&text.join(" "), lang))
}

/// Whether a character is a Han ideograph (CJK unified ideographs and their
/// extensions, compatibility ideographs): one such character is a word, so
/// two titles that differ in one are two titles, not one with a typo.
fn is_han(c: char) -> bool {
    matches!(c,
        '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2FFFF}')
}

/// The full-title skeletons that are written in Han characters.
fn han_titles(titles: &[TitleForm]) -> Vec<String> {
    titles
        .iter()
        .filter(|t| t.full.chars().any(is_han))
        .map(|t| t.full.clone())
        .collect()
}

/// Whether two records' Han titles are other titles: both have one, none
/// is the other's, and their romanised titles (245 $a $b) each have a word
/// the other lacks (`Zhongguo li dai bin li` / `jia li`: 中国历代宾礼 /
/// 中国历代家礼, LC 00291313 and 00291316, volumes of one set with one
/// ISBN). When the romanisations agree the Han forms differ only in a
/// variant or a homophone typed for another (an input-method slip), which
/// is one title.
fn han_titles_differ(a: &Features, b: &Features) -> bool {
    !a.han_titles.is_empty()
        && !b.han_titles.is_empty()
        && !a.han_titles.iter().any(|x| b.han_titles.contains(x))
        && !a.title_words.is_empty()
        && !b.title_words.is_empty()
        && a.title_words.iter().all(|x| {
            b.title_words
                .iter()
                .all(|y| controlled_words_replaced(x, y))
        })
}

/// The series titles (490 $a, 830 $a; a parallel title after `=` and the
/// numbering after `;` cut) as skeletons, each once.
fn series_titles(record: &Record, lang: Option<Lang>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in record.data_fields("490").chain(record.data_fields("830")) {
        let Some(a) = f.subfield('a') else { continue };
        let cut = a.find([';', '=']).unwrap_or(a.len());
        let s = skeleton(&a[..cut], lang);
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Whether two records are numbered in one series and share no number:
/// each number of a series is another book (LC 00370206 and 00370214,
/// `Report (National Sample Survey Organisation) ; no. 443` and `no. 444`,
/// two volumes of one survey's report with one title).
fn series_numbers_differ(a: &Features, b: &Features) -> bool {
    !a.series_numbers.is_empty()
        && !b.series_numbers.is_empty()
        && !a
            .series_numbers
            .iter()
            .any(|n| b.series_numbers.contains(n))
        && a.series_titles.iter().any(|x| {
            b.series_titles
                .iter()
                .any(|y| x == y || token_similarity(x, y) >= 0.8)
        })
}

/// How much of a contents note is read: its first parts tell two sets
/// apart, and a long note (hundreds of titles) must not make every
/// comparison of the record slow.
const CONTENTS_CHARS: usize = 1000;

/// The content words of the contents note (505 $a, $t; its first
/// [`CONTENTS_CHARS`] characters), without numbers.
fn contents_words(record: &Record, lang: Option<Lang>) -> Vec<String> {
    let mut text = String::new();
    for sf in record
        .data_fields("505")
        .flat_map(|f| f.subfields.iter())
        .filter(|sf| matches!(sf.code, 'a' | 't'))
    {
        text.push_str(&sf.value);
        text.push(' ');
        if text.len() >= CONTENTS_CHARS {
            break;
        }
    }
    if text.is_empty() {
        return Vec::new();
    }
    let end = text
        .char_indices()
        .nth(CONTENTS_CHARS)
        .map_or(text.len(), |(i, _)| i);
    content_words(&skeleton(&text[..end], lang))
        .into_iter()
        .filter(|w| w.chars().any(char::is_alphabetic))
        .collect()
}

/// Whether two contents notes list other parts: each has three content
/// words or more and fewer than a quarter of the shorter's are the other's
/// (equal or a typo apart). A contents note that lists fewer volumes (an
/// open entry catalogued earlier) shares all its words, so it agrees.
fn contents_differ(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.len() < 3 {
        return false;
    }
    // Stop as soon as a quarter is shared: most pairs that get here agree.
    let mut shared = 0usize;
    for w in short {
        if long.iter().any(|v| v == w || words_match(w, v)) {
            shared += 1;
            if shared * 4 >= short.len() {
                return false;
            }
        }
    }
    true
}

/// Evidence against the pair from the elements of #17 item 4; each rule is
/// neutral when either record lacks the element. Vetoes are pushed to
/// `vetoes`, penalties given to `field`.
fn evidence_against(
    a: &Features,
    b: &Features,
    opts: &ScoreOptions,
    vetoes: &mut Vec<Veto>,
    field: &mut impl FnMut(&'static str, f64, f64, String),
) {
    if titles_differ(a, b) {
        let show = |f: &Features| f.title_words[0].join(" ");
        let note = format!("different words: {} vs {}", show(a), show(b));
        field("title-words", -1.0, opts.subtitle_mismatch_weight, note);
    } else if han_titles_differ(a, b) {
        let note = format!(
            "different Han titles: {} vs {} ({} vs {})",
            a.han_titles[0],
            b.han_titles[0],
            a.title_words[0].join(" "),
            b.title_words[0].join(" ")
        );
        field("title-words", -1.0, opts.subtitle_mismatch_weight, note);
    }
    // Set ISBNs (020 qualified `set`) on both records, none of either's
    // ISBNs shared: two sets (LC 00026536 and 00027002, "Physical
    // therapist assistant examination review" and "Physical therapist
    // examination review", 2 v. each, set ISBNs 1556424752 and 1556424744).
    let kept = |f: &Features| -> Vec<String> {
        f.set_isbns
            .iter()
            .chain(&f.isbns)
            .filter(|i| !opts.is_ignored(i))
            .cloned()
            .collect()
    };
    let set_of = |f: &Features| f.set_isbns.iter().any(|i| !opts.is_ignored(i));
    if set_of(a) && set_of(b) {
        let (xa, xb) = (kept(a), kept(b));
        if !xa.iter().any(|i| xb.contains(i)) {
            vetoes.push(Veto::SetIsbns {
                a: xa.join(" "),
                b: xb.join(" "),
            });
        }
    }
    if series_numbers_differ(a, b) {
        let each = |f: &Features| {
            let mut v = f.series_numbers.clone();
            v.sort_unstable();
            v.dedup();
            v
        };
        vetoes.push(Veto::SeriesNumber {
            a: each(a),
            b: each(b),
        });
    }
    if contents_differ(&a.contents, &b.contents) {
        let show = |f: &Features| f.contents.iter().take(6).cloned().collect::<Vec<_>>();
        vetoes.push(Veto::Contents {
            a: show(a).join(" "),
            b: show(b).join(" "),
        });
    }
    if !a.part_title.is_empty() && !b.part_title.is_empty() {
        let (x, y) = (content_words(&a.part_title), content_words(&b.part_title));
        if content_words_replaced(&x, &y) {
            let note = format!("{} vs {}", a.part_title, b.part_title);
            field(
                "part-title-words",
                -1.0,
                opts.subtitle_mismatch_weight,
                note,
            );
        }
    }
    if !a.edition_words.is_empty()
        && !b.edition_words.is_empty()
        && controlled_words_replaced(&a.edition_words, &b.edition_words)
    {
        let note = format!(
            "{} vs {}",
            a.edition_words.join(" "),
            b.edition_words.join(" ")
        );
        field("edition-words", -1.0, opts.edition_mismatch_weight, note);
    }
    let volumes_against_pages = |x: &Features, y: &Features| {
        x.volume_count.is_some_and(|n| n >= 2)
            && x.pages.is_none()
            && y.pages.is_some()
            && y.volume_count.is_none_or(|n| n < 2)
    };
    if volumes_against_pages(a, b) || volumes_against_pages(b, a) {
        vetoes.push(Veto::VolumesAndPages);
    }
    if let (Some(pa), Some(pb)) = (a.pages, b.pages) {
        if !pages_clearly_differ(pa, pb)
            && paginations_differ(pa, pb, a.extra_pages.abs_diff(b.extra_pages))
        {
            vetoes.push(Veto::Pagination { a: pa, b: pb });
        }
    }
    if let Some((x, y)) = report_ids_differ(a, b) {
        vetoes.push(Veto::Report { a: x, b: y });
    }
    let oclc = |f: &Features| -> Vec<String> {
        f.other_ids
            .iter()
            .filter(|i| i.starts_with("oclc:") && !opts.is_ignored(i))
            .cloned()
            .collect()
    };
    let (oa, ob) = (oclc(a), oclc(b));
    if !oa.is_empty() && !ob.is_empty() && !oa.iter().any(|i| ob.contains(i)) {
        let note = format!("{} vs {}", oa.join(" "), ob.join(" "));
        field("oclc", -1.0, opts.oclc_mismatch_weight, note);
    }
    if !a.uniform_title.is_empty()
        && !b.uniform_title.is_empty()
        && controlled_words_replaced(&a.uniform_title, &b.uniform_title)
    {
        let note = format!(
            "{} vs {}",
            a.uniform_title.join(" "),
            b.uniform_title.join(" ")
        );
        field(
            "uniform-title",
            -1.0,
            opts.uniform_title_mismatch_weight,
            note,
        );
    }
}

// ---------------------------------------------------------------------------
// Numbers in words.

/// Ordinal words in Azerbaijani and Uzbek (1-10, Latin and Cyrillic),
/// Russian (1-10, stems that take any case ending: `второе`, `второго`) and
/// English (1-20); romanised Russian comes out of the Cyrillic through the
/// skeleton (`vtoroe`). Each entry is (number, words, language used to fold
/// Cyrillic).
const ORDINALS: &[(u32, &[&str], Option<Lang>)] = &[
    (1, &["birinci", "биринҹи"], Some(Lang::Azerbaijani)),
    (2, &["ikinci", "икинҹи"], Some(Lang::Azerbaijani)),
    (3, &["üçüncü", "үчүнҹү"], Some(Lang::Azerbaijani)),
    (4, &["dördüncü", "дөрдүнҹү"], Some(Lang::Azerbaijani)),
    (5, &["beşinci", "бешинҹи"], Some(Lang::Azerbaijani)),
    (6, &["altıncı", "алтынҹы"], Some(Lang::Azerbaijani)),
    (7, &["yeddinci", "једдинҹи"], Some(Lang::Azerbaijani)),
    (8, &["səkkizinci", "сәккизинҹи"], Some(Lang::Azerbaijani)),
    (9, &["doqquzuncu", "доггузунҹу"], Some(Lang::Azerbaijani)),
    (10, &["onuncu", "онунҹу"], Some(Lang::Azerbaijani)),
    (1, &["birinchi", "биринчи"], Some(Lang::Uzbek)),
    (2, &["ikkinchi", "иккинчи"], Some(Lang::Uzbek)),
    (3, &["uchinchi", "учинчи"], Some(Lang::Uzbek)),
    (4, &["toʻrtinchi", "тўртинчи"], Some(Lang::Uzbek)),
    (5, &["beshinchi", "бешинчи"], Some(Lang::Uzbek)),
    (6, &["oltinchi", "олтинчи"], Some(Lang::Uzbek)),
    (7, &["yettinchi", "еттинчи"], Some(Lang::Uzbek)),
    (8, &["sakkizinchi", "саккизинчи"], Some(Lang::Uzbek)),
    (9, &["toʻqqizinchi", "тўққизинчи"], Some(Lang::Uzbek)),
    (10, &["oʻninchi", "ўнинчи"], Some(Lang::Uzbek)),
    // Russian: stems, matched with any case ending (see `ordinal_table`).
    (1, &["перв"], Some(Lang::Russian)),
    (2, &["втор"], Some(Lang::Russian)),
    (3, &["трет"], Some(Lang::Russian)),
    (4, &["четверт", "четвёрт"], Some(Lang::Russian)),
    (5, &["пят"], Some(Lang::Russian)),
    (6, &["шест"], Some(Lang::Russian)),
    (7, &["седьм"], Some(Lang::Russian)),
    (8, &["восьм"], Some(Lang::Russian)),
    (9, &["девят"], Some(Lang::Russian)),
    (10, &["десят"], Some(Lang::Russian)),
    (1, &["first"], None),
    (2, &["second"], None),
    (3, &["third"], None),
    (4, &["fourth"], None),
    (5, &["fifth"], None),
    (6, &["sixth"], None),
    (7, &["seventh"], None),
    (8, &["eighth"], None),
    (9, &["ninth"], None),
    (10, &["tenth"], None),
    (11, &["eleventh"], None),
    (12, &["twelfth"], None),
    (13, &["thirteenth"], None),
    (14, &["fourteenth"], None),
    (15, &["fifteenth"], None),
    (16, &["sixteenth"], None),
    (17, &["seventeenth"], None),
    (18, &["eighteenth"], None),
    (19, &["nineteenth"], None),
    (20, &["twentieth"], None),
];

/// The ordinal table folded to skeletons: (skeleton, number, whether it is
/// a stem that a case ending of one to four letters must follow).
fn ordinal_table() -> &'static [(String, u32, bool)] {
    static TABLE: OnceLock<Vec<(String, u32, bool)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut out = Vec::new();
        for (n, words, lang) in ORDINALS {
            for w in *words {
                out.push((skeleton(w, *lang), *n, *lang == Some(Lang::Russian)));
            }
        }
        out
    })
}

fn ordinal_word(token: &str) -> Option<u32> {
    ordinal_table().iter().find_map(|(w, n, stem)| {
        let hit = if *stem {
            token.starts_with(w.as_str()) && (1..=4).contains(&(token.len() - w.len()))
        } else {
            token == w
        };
        hit.then_some(*n)
    })
}

/// The edition number a 250 $a states, if it states one.
pub fn edition_number(text: &str, lang: Option<Lang>) -> Option<u32> {
    let s = skeleton(text, lang);
    s.split(' ').find_map(|tok| {
        if tok.starts_with(|c: char| c.is_ascii_digit()) {
            let digits: String = tok.chars().take_while(char::is_ascii_digit).collect();
            (digits.len() <= 3)
                .then(|| digits.parse().ok())
                .flatten()
                .filter(|n| *n > 0)
        } else {
            ordinal_word(tok)
        }
    })
}

/// The volume or part number a 245 $n (or a qualifier, or a 490 $v) states:
/// the first Arabic number, else a Roman numeral, else an ordinal word. A
/// single letter followed by a full stop (`v.`, `c.`) is taken for an
/// abbreviation when another Roman numeral follows (`v. II`), so that
/// `T. I.` is one and `v. II` two.
pub fn volume_number(text: &str, lang: Option<Lang>) -> Option<u32> {
    let mut words: Vec<(&str, bool)> = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        if c.is_alphanumeric() {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            words.push((&text[s..i], c == '.'));
        }
    }
    // A range (`1-3`, `1–3`) names several volumes: a set, not one of them.
    let bytes: Vec<char> = text.chars().collect();
    if bytes
        .windows(3)
        .any(|w| w[0].is_ascii_digit() && matches!(w[1], '-' | '\u{2013}') && w[2].is_ascii_digit())
    {
        return None;
    }
    if let Some(n) = words.iter().find_map(|(w, _)| {
        let digits: String = w.chars().take_while(char::is_ascii_digit).collect();
        (!digits.is_empty() && digits.len() <= 4)
            .then(|| digits.parse().ok())
            .flatten()
    }) {
        return Some(n);
    }
    let romans: Vec<(u32, bool)> = words
        .iter()
        .filter_map(|(w, dot)| roman(w).map(|n| (n, w.len() == 1 && *dot)))
        .collect();
    if let Some((n, _)) = romans
        .iter()
        .find(|(_, abbreviation)| !abbreviation)
        .or(romans.last())
    {
        return Some(*n);
    }
    skeleton(text, lang).split(' ').find_map(ordinal_word)
}

/// The value of a Roman numeral (I to about C), or `None`.
fn roman(w: &str) -> Option<u32> {
    if w.is_empty() || w.len() > 8 {
        return None;
    }
    let upper = w.to_ascii_uppercase();
    let mut total = 0u32;
    let mut prev = 0u32;
    for c in upper.chars().rev() {
        let v = match c {
            'I' => 1,
            'V' => 5,
            'X' => 10,
            'L' => 50,
            'C' => 100,
            _ => return None,
        };
        if v < prev {
            total = total.checked_sub(v)?;
        } else {
            total += v;
            prev = v;
        }
    }
    // Only canonical spellings: "IIII" or "VX" are words, not numbers.
    (to_roman(total) == upper).then_some(total)
}

fn to_roman(mut n: u32) -> String {
    let mut s = String::new();
    for (v, r) in [
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ] {
        while n >= v {
            s.push_str(r);
            n -= v;
        }
    }
    s
}

// ---------------------------------------------------------------------------
// Comparison.

/// Decide whether two records describe the same edition.
pub fn compare(a: &Features, b: &Features, opts: &ScoreOptions) -> PairDecision {
    let mut vetoes = Vec::new();
    let mut fields = Vec::new();
    let mut field = |field: &'static str, score: f64, weight: f64, note: String| {
        fields.push(FieldScore {
            field,
            score,
            weight,
            note,
        });
    };

    // Identifiers.
    let (ia, ib) = (Ids::of(a, opts), Ids::of(b, opts));
    let strong: Vec<&str> = ia
        .strong()
        .filter(|i| ib.strong().any(|j| j == *i))
        .collect();
    let set_level = ia
        .set
        .iter()
        .any(|i| ib.set.contains(i) || ib.own.contains(i))
        || ib.set.iter().any(|i| ia.own.contains(i));
    if !strong.is_empty() {
        field("identifier", 1.0, opts.identifier_weight, strong.join(" "));
    } else {
        let note = "none shared".to_string();
        field("identifier", 0.0, opts.identifier_weight, note);
        if set_level {
            let note = "a set ISBN is shared".to_string();
            field("set-identifier", 1.0, opts.set_identifier_weight, note);
        }
        let weak: Vec<&str> = a
            .cancelled_isbns
            .iter()
            .filter(|z| b.cancelled_isbns.contains(z) || ib.own.contains(z))
            .chain(
                b.cancelled_isbns
                    .iter()
                    .filter(|z| ia.own.contains(z) && !a.cancelled_isbns.contains(z)),
            )
            .filter(|z| !opts.is_ignored(z))
            .map(String::as_str)
            .collect();
        if !weak.is_empty() {
            // One invalid number (not an ISBN at all: a check digit that
            // fails) on both records is the misprint of the book itself,
            // which two cataloguers copied; a $z of one found among the
            // other's ISBNs may be a typo of someone else's number. The
            // first counts twice (LC 00291068: `5709004725` on both).
            let misprint_on_both = weak.iter().any(|z| {
                z.starts_with("z:")
                    && a.cancelled_isbns.iter().any(|c| c == z)
                    && b.cancelled_isbns.iter().any(|c| c == z)
            });
            let (weight, note) = if misprint_on_both {
                (
                    2.0 * opts.cancelled_isbn_weight,
                    format!("{} (the same invalid number on both)", weak.join(" ")),
                )
            } else {
                (opts.cancelled_isbn_weight, weak.join(" "))
            };
            field("cancelled-isbn", 1.0, weight, note);
        }
    }
    if !ia.own.is_empty() && !ib.own.is_empty() && !ia.own.iter().any(|i| ib.own.contains(i)) {
        vetoes.push(Veto::DisjointIsbns);
    }
    let mut shared: Vec<String> = ia
        .all()
        .filter(|i| ib.all().any(|j| j == *i))
        .cloned()
        .collect();
    shared.sort();
    shared.dedup();

    // Title.
    let mut long_title = 0;
    match title_similarity(&a.titles, &b.titles) {
        Some((sim, rule, long)) => {
            long_title = long;
            // What made the titles meet: a noise rule (a typo, a subtitle
            // on one side) and the readings of two differently written
            // titles (the Cyrillic scheme, the romanisation marks dropped).
            let how: Vec<String> = rule
                .into_iter()
                .chain(title_readings(&a.titles, &b.titles))
                .collect();
            let note = if how.is_empty() {
                format!("similarity {sim:.2}")
            } else {
                format!("similarity {sim:.2} ({})", how.join("; "))
            };
            field("title", clamp((sim - 0.7) / 0.3), opts.title_weight, note)
        }
        None => field("title", 0.0, opts.title_weight, "missing".into()),
    }

    // Authors.
    let (s, note) = author_agreement(a, b);
    field("author", s, opts.author_weight, note);

    // Year and reprints.
    match (a.year, b.year) {
        (Some(ya), Some(yb)) => {
            let gap = u32::from(ya.abs_diff(yb));
            if gap > opts.max_year_gap {
                vetoes.push(Veto::Year { a: ya, b: yb });
            } else if gap > 0 && (a.reprint || b.reprint) {
                vetoes.push(Veto::Reprint { a: ya, b: yb });
            }
            let s = if gap == 0 { 1.0 } else { -1.0 };
            field("year", s, opts.year_weight, format!("{ya} vs {yb}"));
        }
        _ => field("year", 0.0, opts.year_weight, "missing".into()),
    }

    // Edition.
    match (a.edition, b.edition) {
        (Some(ea), Some(eb)) if ea != eb => {
            vetoes.push(Veto::Edition { a: ea, b: eb });
            field("edition", 0.0, opts.edition_weight, format!("{ea} vs {eb}"));
        }
        (Some(e), Some(_)) => field("edition", 1.0, opts.edition_weight, format!("{e}")),
        _ => field(
            "edition",
            0.0,
            opts.edition_weight,
            "not stated on both".into(),
        ),
    }

    // Publisher.
    let psim = best_similarity(&a.publishers, &b.publishers);
    let words_agree = a
        .publisher_words
        .iter()
        .any(|x| b.publisher_words.iter().any(|y| same_publisher(x, y)));
    let other_publisher =
        !a.publisher_words.is_empty() && !b.publisher_words.is_empty() && !words_agree;
    let (ps, pw, pnote) = match psim {
        _ if other_publisher => {
            let note = format!(
                "clearly different: {} vs {}",
                a.publishers.join(" ; "),
                b.publishers.join(" ; ")
            );
            (-1.0, opts.publisher_mismatch_weight, note)
        }
        Some(_) if words_agree => (
            1.0,
            opts.publisher_weight,
            "same distinctive words".to_string(),
        ),
        Some(p) => (
            clamp((p - 0.55) / 0.25),
            opts.publisher_weight,
            format!("similarity {p:.2}"),
        ),
        None if a.publisher_unnamed && b.publisher_unnamed => (
            0.0,
            opts.publisher_weight,
            "not named on either ([s.n.])".to_string(),
        ),
        None if (a.publisher_unnamed && !b.publishers.is_empty())
            || (b.publisher_unnamed && !a.publishers.is_empty()) =>
        {
            let named: Vec<&str> = a
                .publishers
                .iter()
                .chain(&b.publishers)
                .map(String::as_str)
                .collect();
            // `[s.n.]` against a name is weak alone (one library may not
            // take the issuing body for the publisher), but with another
            // city of publication as well the imprints are two (eval2
            // e2-00608/e2-03532: `Varna : [s.n.]` against `Veliko Tărnovo :
            // Abagar`, same title, author, year and extent).
            let other_place = place_agreement(&a.places, &b.places).is_some_and(|(s, _)| s < 0.0);
            if other_place {
                let note = format!("[s.n.] and another place: {}", named.join(" ; "));
                (-1.0, opts.publisher_mismatch_weight, note)
            } else {
                let note = format!("named on one side only: {}", named.join(" ; "));
                (-1.0, opts.publisher_weight, note)
            }
        }
        None => (0.0, opts.publisher_weight, "missing".to_string()),
    };
    field("publisher", ps, pw, pnote);
    let publisher_disagrees = ps < 0.0;

    // Place. The same city says little once the publishers disagree (most
    // of a country's publishers sit in its capital), so it is then noted
    // but not counted; a different city still counts against.
    if let Some((mut s, mut note)) = place_agreement(&a.places, &b.places) {
        if s > 0.0 && publisher_disagrees {
            s = 0.0;
            note = format!("{note}, but another publisher");
        }
        field("place", s, opts.place_weight, note);
    }

    // Extent.
    match (a.extent, b.extent) {
        (Some(pa), Some(pb)) => {
            let d = pa.abs_diff(pb);
            let big = pa.max(pb);
            // A count under five is a "1 v." or a single sheet, not a
            // pagination two books could share by chance: it says nothing
            // (LC 00266284/00266285, two editions of a handbook, met on
            // "1 v. (various pagings)" each).
            let s = if big < 5 {
                0.0
            } else if d <= 4 || d * 100 <= big * 3 {
                1.0
            } else if d * 10 >= big {
                -1.0
            } else {
                0.0
            };
            field("extent", s, opts.extent_weight, format!("{pa} vs {pb}"));
        }
        _ => field("extent", 0.0, opts.extent_weight, "missing".into()),
    }
    if let (Some(va), Some(vb)) = (a.volume_count, b.volume_count) {
        let (small, big) = (va.min(vb), va.max(vb));
        if big - small >= 2 && u64::from(big) * 2 >= u64::from(small) * 3 {
            vetoes.push(Veto::VolumeCount { a: va, b: vb });
        }
    }
    if let (Some(pa), Some(pb)) = (a.pages, b.pages) {
        if pages_clearly_differ(pa, pb) {
            vetoes.push(Veto::Extent { a: pa, b: pb });
        }
    }

    // Evidence against (#17 item 4).
    evidence_against(a, b, opts, &mut vetoes, &mut field);

    // Series numbering.
    if !a.series_numbers.is_empty() && !b.series_numbers.is_empty() {
        let s = if a
            .series_numbers
            .iter()
            .any(|n| b.series_numbers.contains(n))
        {
            1.0
        } else {
            -1.0
        };
        field(
            "series",
            s,
            opts.series_weight,
            format!("{:?} vs {:?}", a.series_numbers, b.series_numbers),
        );
    }

    // Volume and part.
    if (a.whole_set && !b.whole_set && !b.volumes.is_empty())
        || (b.whole_set && !a.whole_set && !a.volumes.is_empty())
    {
        vetoes.push(Veto::SetAndVolume);
    }
    if !a.volumes.is_empty() && !b.volumes.is_empty() {
        if a.volumes == b.volumes {
            field(
                "volume",
                1.0,
                opts.volume_weight,
                format!("{:?}", a.volumes),
            );
        } else {
            vetoes.push(Veto::Volume {
                a: a.volumes.clone(),
                b: b.volumes.clone(),
            });
        }
    }
    if !a.part_title.is_empty() && !b.part_title.is_empty() {
        let p = token_similarity(&a.part_title, &b.part_title);
        let s = if p >= 0.8 {
            1.0
        } else if p < 0.5 {
            -1.0
        } else {
            0.0
        };
        field(
            "part-title",
            s,
            opts.part_title_weight,
            format!("similarity {p:.2}"),
        );
    }

    // Language.
    match (&a.language, &b.language) {
        (Some(la), Some(lb)) if la != lb => vetoes.push(Veto::Language {
            a: la.clone(),
            b: lb.clone(),
        }),
        (Some(l), Some(_)) => field("language", 1.0, opts.language_weight, l.clone()),
        _ => {}
    }

    // Carrier.
    if a.carrier != b.carrier {
        vetoes.push(Veto::Format {
            a: a.carrier,
            b: b.carrier,
        });
    }

    // A long title agreeing in full, with nothing in the records against
    // it: the evidence a cataloguer takes from a record that has little
    // else (a title and a year). Any field that disagrees, or a veto, and
    // it does not count (one text from two publishers stays two issues).
    if long_title >= LONG_TITLE_WORDS
        && vetoes.is_empty()
        && fields.iter().all(|f| f.score * f.weight >= 0.0)
    {
        fields.push(FieldScore {
            field: "long-title",
            score: 1.0,
            weight: opts.long_title_weight,
            note: format!("{long_title} words of four or more letters agree; nothing disagrees"),
        });
    }

    let score: f64 = fields.iter().map(|f| f.score * f.weight).sum();
    let mut same = vetoes.is_empty() && score >= opts.threshold;
    let mut overridden = None;
    if let (Some(ia), Some(ib)) = (&a.id, &b.id) {
        if ScoreOptions::listed(&opts.never_merge, ia, ib) {
            same = false;
            overridden = Some(Override::NeverMerge);
        } else if ScoreOptions::listed(&opts.always_merge, ia, ib) {
            same = true;
            overridden = Some(Override::AlwaysMerge);
        }
    }
    PairDecision {
        same,
        score,
        fields,
        vetoes,
        shared_identifiers: shared,
        overridden,
    }
}

/// One record's identifiers without the ignored ones.
struct Ids {
    own: Vec<String>,
    set: Vec<String>,
    related: Vec<String>,
    other: Vec<String>,
}

impl Ids {
    fn of(f: &Features, opts: &ScoreOptions) -> Ids {
        let keep = |ids: &[String]| -> Vec<String> {
            ids.iter()
                .filter(|i| !opts.is_ignored(i))
                .cloned()
                .collect()
        };
        Ids {
            own: keep(&f.isbns),
            set: keep(&f.set_isbns),
            related: keep(&f.related_isbns),
            other: keep(&f.other_ids),
        }
    }

    /// The manifestation's own identifiers: own ISBNs, OCLC, LCCN, ISSN.
    fn strong(&self) -> impl Iterator<Item = &str> {
        self.own.iter().chain(&self.other).map(String::as_str)
    }

    fn all(&self) -> impl Iterator<Item = &String> {
        self.own
            .iter()
            .chain(&self.set)
            .chain(&self.related)
            .chain(&self.other)
    }
}

fn clamp(x: f64) -> f64 {
    x.clamp(-1.0, 1.0)
}

/// How far the authors agree, −1 ..= 1, with a note.
fn author_agreement(a: &Features, b: &Features) -> (f64, String) {
    match (&a.main_author, &b.main_author) {
        (Some(ma), Some(mb)) => {
            if same_person(ma, mb) {
                // Say when only the key fold made the surnames one.
                let how = if ma.surname != mb.surname && ma.key_surname == mb.key_surname {
                    " (as the match keys fold them)"
                } else {
                    ""
                };
                (1.0, format!("{} = {}{how}", ma.surname, mb.surname))
            } else if b.added_authors.iter().any(|x| same_person(ma, x))
                || a.added_authors.iter().any(|x| same_person(mb, x))
            {
                (
                    0.5,
                    "main entry of one is an added entry of the other".into(),
                )
            } else if ma.born.is_some() && ma.born == mb.born {
                // The same birth year under another name form: a classic
                // named by each nation's own spelling (Nizami Gəncəvi /
                // Nizomiy Ganjaviy). Weak agreement, not a contradiction.
                (
                    0.5,
                    format!(
                        "{} and {}: other name forms, same birth year",
                        describe(ma),
                        describe(mb)
                    ),
                )
            } else {
                (-1.0, format!("{} vs {}", describe(ma), describe(mb)))
            }
        }
        (Some(m), None) | (None, Some(m)) => {
            let others = if a.main_author.is_some() {
                &b.added_authors
            } else {
                &a.added_authors
            };
            if others.iter().any(|x| same_person(m, x)) {
                (
                    0.5,
                    "main entry of one is an added entry of the other".into(),
                )
            } else {
                (0.0, "main entry on one side only".into())
            }
        }
        (None, None) => {
            if a.added_authors
                .iter()
                .any(|x| b.added_authors.iter().any(|y| same_person(x, y)))
            {
                (0.5, "shared added entry".into())
            } else {
                (0.0, "no main entries".into())
            }
        }
    }
}

fn describe(a: &Author) -> String {
    let mut s = a.surname.clone();
    if let Some(i) = a.initial {
        s.push_str(&format!(", {i}."));
    }
    if let Some(y) = a.born {
        s.push_str(&format!(" ({y})"));
    }
    s
}

fn same_person(a: &Author, b: &Author) -> bool {
    let born_agrees = match (a.born, b.born) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    // Name order differs between cataloguing traditions; the same words
    // (at least two) are the same name.
    if a.words.len() >= 2 && a.words == b.words && born_agrees {
        return true;
    }
    let surname = a.surname == b.surname
        || (!a.key_surname.is_empty() && a.key_surname == b.key_surname)
        || (a.surname.chars().count() >= 5
            && b.surname.chars().count() >= 5
            && bounded_edit_distance(&a.surname, &b.surname, 1) <= 1);
    let initial = match (a.initial, b.initial) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    let born = match (a.born, b.born) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    surname && initial && born
}

/// The best similarity of any title form of one record with any of the
/// other's, and the noise rule that made it (for `explain`): a subtitle
/// that only one record has (the title propers agree better than the full
/// titles), or a one-letter difference in a word (a typo: a letter
/// swapped, dropped, doubled or changed); `None` when either has no title.
fn title_similarity(a: &[TitleForm], b: &[TitleForm]) -> Option<(f64, Option<String>, usize)> {
    let mut best: Option<(f64, Option<String>)> = None;
    // The most words of 4+ letters of two full titles ($a $b) that agree.
    let mut long = 0;
    for x in a {
        for y in b {
            let best_of = |a: (f64, bool), b: (f64, bool)| if b.0 > a.0 { b } else { a };
            let (sp, typo_p) = best_of(
                similarity_detail(&x.proper, &y.proper),
                similarity_detail(&x.key_proper, &y.key_proper),
            );
            let (sf, typo_f) = best_of(
                similarity_detail(&x.full, &y.full),
                similarity_detail(&x.key_full, &y.key_full),
            );
            if sf >= 0.95 {
                long = long.max(x.long_words.min(y.long_words));
            }
            let subtitle = sp > sf && (x.full == x.proper) != (y.full == y.proper);
            let (s, typo) = if sp >= sf { (sp, typo_p) } else { (sf, typo_f) };
            let rule = match (subtitle, typo) {
                (true, true) => Some("subtitle on one side only; one-letter difference: typo"),
                (true, false) => Some("subtitle on one side only"),
                (false, true) => Some("one-letter difference: typo"),
                (false, false) => None,
            };
            if best.as_ref().is_none_or(|(b, _)| s > *b) {
                best = Some((s, rule.map(str::to_string)));
            }
        }
    }
    best.map(|(s, rule)| (s, rule, long))
}

/// How two titles that are one skeleton but were read differently met
/// (the scheme of the Cyrillic, the romanisation marks dropped), both
/// readings' phrases once each; `None` when no title forms agree so.
fn title_readings(a: &[TitleForm], b: &[TitleForm]) -> Option<String> {
    let (x, y) = a
        .iter()
        .flat_map(|x| b.iter().map(move |y| (x, y)))
        .find(|(x, y)| (x.full == y.full || x.proper == y.proper) && x.reading != y.reading)?;
    let mut parts: Vec<&str> = Vec::new();
    for p in x.reading.split("; ").chain(y.reading.split("; ")) {
        if !p.is_empty() && !parts.contains(&p) {
            parts.push(p);
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn best_similarity(a: &[String], b: &[String]) -> Option<f64> {
    let mut best: Option<f64> = None;
    for x in a {
        for y in b {
            let s = token_similarity(x, y);
            best = Some(best.map_or(s, |b: f64| b.max(s)));
        }
    }
    best
}

/// Similarity of two skeletons, 0 ..= 1: the fuzzy token Jaccard index, or
/// the character ratio of the texts without spaces when that is 0.9 or more
/// (or they are 16 letters or more and within two edits).
pub fn token_similarity(a: &str, b: &str) -> f64 {
    similarity_detail(a, b).0
}

/// [`token_similarity`], and whether it is what it is only thanks to words
/// (or the whole text) within a small edit distance rather than equal: the
/// sign of a typo, for `explain`.
fn similarity_detail(a: &str, b: &str) -> (f64, bool) {
    if a == b {
        return (1.0, false);
    }
    if a.chars().chain(b.chars()).any(is_han) {
        return (han_similarity(a, b), false);
    }
    let ta: Vec<&str> = a.split(' ').filter(|t| !t.is_empty()).collect();
    let tb: Vec<&str> = b.split(' ').filter(|t| !t.is_empty()).collect();
    if ta.is_empty() || tb.is_empty() {
        return (0.0, false);
    }
    let mut used = vec![false; tb.len()];
    let mut matched = 0usize;
    let mut fuzzy = false;
    for x in &ta {
        let hit = tb
            .iter()
            .enumerate()
            .position(|(j, y)| !used[j] && *y == *x)
            .or_else(|| {
                let j = tb
                    .iter()
                    .enumerate()
                    .position(|(j, y)| !used[j] && words_match(x, y));
                fuzzy |= j.is_some();
                j
            });
        if let Some(j) = hit {
            used[j] = true;
            matched += 1;
        }
    }
    let jaccard = matched as f64 / (ta.len() + tb.len() - matched) as f64;
    let ca: String = ta.concat();
    let cb: String = tb.concat();
    let (la, lb) = (ca.chars().count(), cb.chars().count());
    let longest = la.max(lb);
    // As a word of 8 letters may be two edits from its twin, so may a
    // title of 16 (without spaces): a typo that swaps letters across a
    // digraph (`Ookhio` typed `Ookiho`, against BGN's `Oohio`, LC 00372673)
    // is two edits in 18 letters, a ratio just under 0.9.
    let two_edits = longest >= 16;
    // The distance is at least the difference in length, so the ratio is
    // at most this: when that cannot reach 0.9 or two edits (or beat the
    // Jaccard index), the quadratic distance is not computed.
    let bound = 1.0 - la.abs_diff(lb) as f64 / longest as f64;
    if (bound < 0.9 && !(two_edits && la.abs_diff(lb) <= 2)) || bound <= jaccard {
        return (jaccard, fuzzy);
    }
    // Past a tenth of the letters (or two edits where they are allowed)
    // the answer is the Jaccard index whatever the distance, so it is only
    // computed that far.
    let cap = (longest / 10).max(if two_edits { 2 } else { 0 });
    let distance = bounded_edit_distance(&ca, &cb, cap);
    let ratio = 1.0 - distance as f64 / longest as f64;
    if (ratio >= 0.9 || (two_edits && distance <= 2)) && ratio > jaccard {
        (ratio, ca != cb)
    } else {
        (jaccard, fuzzy)
    }
}

/// The similarity of two skeletons with Han characters: the Jaccard index
/// of their words, each Han character a word and matched only by itself.
/// Neither a one-character "typo" nor the character ratio applies, since
/// one character is one word (中国历代宾礼 / 中国历代家礼 are two books of a
/// set, LC 00291313 and 00291316, not one title mistyped).
fn han_similarity(a: &str, b: &str) -> f64 {
    fn units(s: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for t in s.split(' ').filter(|t| !t.is_empty()) {
            if t.chars().any(is_han) {
                out.extend(t.char_indices().map(|(i, c)| &t[i..i + c.len_utf8()]));
            } else {
                out.push(t);
            }
        }
        out
    }
    let (ua, mut ub) = (units(a), units(b));
    let total = ua.len() + ub.len();
    let mut matched = 0usize;
    for x in &ua {
        if let Some(j) = ub.iter().position(|y| y == x) {
            ub.swap_remove(j);
            matched += 1;
        }
    }
    if total == matched {
        return 0.0;
    }
    matched as f64 / (total - matched) as f64
}

/// Whether `w` and `v` have one length, differ in the first letter and in
/// exactly one other.
fn other_first_letter(w: &str, v: &str) -> bool {
    // Called for every pair of words of two titles: walked in step, without
    // collecting either word (collecting them took a tenth of the pass).
    let (mut ws, mut vs) = (w.chars(), v.chars());
    match (ws.next(), vs.next()) {
        (Some(x), Some(y)) if x != y => {}
        _ => return false,
    }
    let (mut n, mut differ) = (1usize, 1usize);
    loop {
        match (ws.next(), vs.next()) {
            (Some(x), Some(y)) => {
                n += 1;
                differ += usize::from(x != y);
                if differ > 2 {
                    return false;
                }
            }
            (None, None) => break,
            _ => return false,
        }
    }
    n >= 4 && differ == 2
}

/// Two different words match when neither has digits and they are within
/// edit distance 1 (from 4 letters) or 2 (from 8).
fn words_match(x: &str, y: &str) -> bool {
    if x.chars().any(|c| c.is_ascii_digit()) || y.chars().any(|c| c.is_ascii_digit()) {
        return false;
    }
    if other_first_letter(x, y) {
        return false;
    }
    let (nx, ny) = (x.chars().count(), y.chars().count());
    let n = nx.min(ny);
    let allowed = if n >= 8 {
        2
    } else if n >= 4 {
        1
    } else {
        0
    };
    // Words whose lengths differ by more than the allowance cannot be
    // within it; most pairs end here without the quadratic distance.
    allowed > 0 && nx.abs_diff(ny) <= allowed && bounded_edit_distance(x, y, allowed) <= allowed
}

/// The edit distance of two skeletons, counting a swap of two neighbouring
/// letters as one edit (optimal string alignment, the distance `strsim`'s
/// `osa_distance` computes: a typo that swaps letters, `kniga` / `kinga`,
/// is one edit like a dropped, doubled or changed letter, not two), exact
/// up to `cap`; above it, some number above `cap` (the rows are given up
/// once one exceeds it). The pair decision asks this for pairs of title
/// words and of whole titles, so unlike `strsim` it allocates nothing up to
/// 64 letters (ASCII compared as bytes), and it stops early on words that
/// are clearly other words.
fn bounded_edit_distance(a: &str, b: &str, cap: usize) -> usize {
    if a.is_ascii() && b.is_ascii() {
        return osa(a.as_bytes(), b.as_bytes(), cap);
    }
    let (mut sa, mut sb) = (['\0'; WORD], ['\0'; WORD]);
    let (ha, hb): (Vec<char>, Vec<char>);
    let a = match fill(&mut sa, a) {
        Some(n) => &sa[..n],
        None => {
            ha = a.chars().collect();
            &ha
        }
    };
    let b = match fill(&mut sb, b) {
        Some(n) => &sb[..n],
        None => {
            hb = b.chars().collect();
            &hb
        }
    };
    osa(a, b, cap)
}

/// The longest text (in letters) whose distance needs no allocation.
const WORD: usize = 64;

/// The letters of `s` into `buf`, or `None` when they do not fit.
fn fill(buf: &mut [char; WORD], s: &str) -> Option<usize> {
    let mut n = 0;
    for c in s.chars() {
        *buf.get_mut(n)? = c;
        n += 1;
    }
    Some(n)
}

/// The optimal string alignment distance, over three rows of the usual
/// table (on the stack when `b` fits in [`WORD`]).
fn osa<T: PartialEq>(a: &[T], b: &[T], cap: usize) -> usize {
    let m = b.len() + 1;
    let mut stack = [0usize; 3 * (WORD + 1)];
    let mut heap: Vec<usize>;
    let rows: &mut [usize] = if m <= WORD + 1 {
        &mut stack[..3 * m]
    } else {
        heap = vec![0; 3 * m];
        &mut heap
    };
    let (mut two, rest) = rows.split_at_mut(m);
    let (mut prev, mut cur) = rest.split_at_mut(m);
    for (j, d) in prev.iter_mut().enumerate() {
        *d = j;
    }
    // The smallest entry of a row never falls in the rows below it (each
    // entry is at least the smaller of the last row's smallest and the one
    // before's plus one, and the last row's smallest is at most the one
    // before's plus one): once a row exceeds `cap`, so does the answer.
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = i;
        for j in 1..m {
            let same = a[i - 1] == b[j - 1];
            let mut d = (prev[j] + 1)
                .min(cur[j - 1] + 1)
                .min(prev[j - 1] + usize::from(!same));
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(two[j - 2] + 1);
            }
            cur[j] = d;
            row_min = row_min.min(d);
        }
        if row_min > cap {
            return row_min;
        }
        // The rows move up one: `two` takes `prev`, `prev` takes `cur`,
        // and the old `two` is written over as the next `cur`.
        std::mem::swap(&mut two, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[m - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words over a small alphabet (so that swaps, repeats and shared
    /// letters are frequent), Latin and Cyrillic, from a fixed seed, and a
    /// few longer than the stack buffers.
    fn words() -> Vec<String> {
        let alphabet: Vec<char> = "abcxyаяжgъ".chars().collect();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut out = vec![String::new(), "kniga".into(), "kinga".into()];
        for _ in 0..600 {
            let len = (next() % 12) as usize;
            let letters: Vec<char> = (0..len).map(|_| alphabet[(next() % 10) as usize]).collect();
            out.push(letters.iter().collect());
            // Typing errors of the word, beside it (the pairs compared are
            // neighbours in the list): two letters swapped, and the first
            // letter and the last changed.
            if len >= 3 {
                let mut swap = letters.clone();
                swap.swap(1, 2);
                out.push(swap.into_iter().collect());
                let mut other = letters;
                other[0] = if other[0] == 'a' { 'я' } else { 'a' };
                other[len - 1] = if other[len - 1] == 'b' { 'ж' } else { 'b' };
                out.push(other.into_iter().collect());
            }
        }
        out.push("ab".repeat(40));
        out.push("ba".repeat(40));
        out.push("аб".repeat(33));
        out.push("ба".repeat(33));
        out
    }

    /// Each word against its neighbours in the list (itself included).
    fn pairs(w: &[String]) -> impl Iterator<Item = (&String, &String)> {
        w.iter().enumerate().flat_map(move |(i, a)| {
            w[i.saturating_sub(8)..(i + 8).min(w.len())]
                .iter()
                .map(move |b| (a, b))
        })
    }

    #[test]
    fn bounded_edit_distance_uncapped_agrees_with_strsim_osa_distance() {
        let w = words();
        for (a, b) in pairs(&w) {
            assert_eq!(
                bounded_edit_distance(a, b, usize::MAX),
                strsim::osa_distance(a, b),
                "{a:?} {b:?}"
            );
        }
    }

    #[test]
    fn bounded_edit_distance_is_exact_up_to_its_cap_and_above_it_beyond() {
        let w = words();
        for (a, b) in pairs(&w) {
            let exact = strsim::osa_distance(a, b);
            for cap in 0..4 {
                let d = bounded_edit_distance(a, b, cap);
                if exact <= cap {
                    assert_eq!(d, exact, "{a:?} {b:?} cap {cap}");
                } else {
                    assert!(d > cap, "{a:?} {b:?} cap {cap}: {d} for {exact}");
                }
            }
        }
    }

    #[test]
    fn walked_word_tests_agree_with_their_definitions_on_letter_lists() {
        // The definitions the walked versions replaced, on letter lists.
        fn swapped_by_lists(a: &str, b: &str) -> bool {
            let (x, y): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
            if x.len() != y.len() || x.len() < 4 {
                return false;
            }
            let diff: Vec<usize> = (0..x.len()).filter(|&i| x[i] != y[i]).collect();
            diff.len() == 2
                && diff[1] == diff[0] + 1
                && x[diff[0]] == y[diff[1]]
                && x[diff[1]] == y[diff[0]]
        }
        fn other_first_letter_by_lists(w: &str, v: &str) -> bool {
            let (w, v): (Vec<char>, Vec<char>) = (w.chars().collect(), v.chars().collect());
            w.len() == v.len()
                && w.len() >= 4
                && w[0] != v[0]
                && w.iter().zip(&v).filter(|(x, y)| x != y).count() == 2
        }
        let mut w = words();
        w.extend(
            [
                "internal", "external", "eastern", "western", "kniga", "knigа",
            ]
            .map(String::from),
        );
        for (a, b) in pairs(&w) {
            assert_eq!(swapped(a, b), swapped_by_lists(a, b), "{a:?} {b:?}");
            assert_eq!(
                other_first_letter(a, b),
                other_first_letter_by_lists(a, b),
                "{a:?} {b:?}"
            );
        }
        assert!(swapped("kniga", "kinga"));
        assert!(!swapped("kniga", "kniga"));
        assert!(other_first_letter("internal", "external"));
        assert!(other_first_letter("eastern", "western"));
    }
}
