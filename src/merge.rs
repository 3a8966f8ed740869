//! Merging a cluster into one union record.
//!
//! Pure and deterministic: no I/O, no clock, and the order in which the
//! members are handed in never changes the result (everything below walks
//! the members in *rank order*, which is a total order on their content).
//! Partner-specific settings come in as a [`MergeOptions`] value; this module
//! does not read the configuration itself.
//!
//! **Architecture invariant:** merge does no I/O, reads no clock and keeps
//! no state between calls; the union record is a function of the members'
//! content and the options alone.
//!
//! # The base record
//!
//! The member with the highest completeness [`Score`] is the base; the union
//! record starts as a copy of it. The score is simple on purpose, so that a
//! cataloguer can predict which record will win:
//!
//! ```text
//! score = 2 × (data fields, every tag counts, 880s and 852s included)
//!       + 1 × (subfields in those data fields)
//!       + encoding level, leader/17:
//!             10 for full level: ' ', '1' (and OCLC's 'I', 'L')
//!              4 for core or minimal level: '4', '7' (and OCLC's 'K', 'M')
//!              0 for anything else ('2', '3', '5', '8', 'u', 'z', …)
//!       + 5 if the first 040 $a is one of `trusted_sources`
//!       + 20 × (n − i) for the partner at 0-based position i of the n names
//!             in `partner_priority` (0 for a partner not listed)
//! ```
//!
//! Equal scores are broken by the lowest (partner name, OAI identifier), then
//! partner code and record content, so two runs always pick the same base.
//! Rank order is this order: score descending, then those tie-breakers.
//!
//! # What the union record holds
//!
//! - The base's leader and every base field except 001, 003, 005 and 852
//!   (and any 880 linked to an 852), in the base's order.
//! - 001 = the cluster's id and 003 = the catalogue's code, so the control
//!   number is stable across runs (it comes from `dedup::cluster_id`).
//! - From the other members, in rank order, each field the union does not yet
//!   have under the same key (table below): identifiers (020, 022, 024,
//!   035), subject headings (6XX), added entries (700, 710, 711, 730, 740),
//!   and, only with [`MergeOptions::merge_notes`], notes (5XX). The first
//!   form seen wins, so the base's form of a heading or number is kept. Other
//!   fields of other members (titles, imprint, extent, series, …) are never
//!   taken: the base describes the book.
//! - Provenance: for each member, a 035 `(003)001` (the partner code when
//!   the member has no 003) unless the union has that number already. The
//!   normaliser adds the same 035 to every record, so this normally changes
//!   nothing; it makes merge's promise hold for any input.
//! - Holdings: one 852 per partner code, sorted by code: $a the partner code,
//!   then the location ($b, $c) and call number ($k, $h, $i, $m) subfields of
//!   the first 852 of that partner's highest-ranked record that has one (with
//!   that 852's first indicator, the shelving scheme, when a call number is
//!   copied).
//!
//! Added fields go in with [`Record::insert_sorted`]: after the existing
//! fields with the same tag, so the base's order within a tag is kept.
//!
//! # Keys
//!
//! Text is compared *normalised*: NFC, lower case, every character that is
//! not a letter, digit or combining mark taken as a space (so ISBD
//! punctuation and a trailing period do not count), whitespace collapsed.
//!
//! | field | key |
//! |---|---|
//! | 020 | $a as ISBN-13 (10 and 13 digits, hyphens, qualifiers all one); a 020 without $a by its $z, so a distinct cancelled ISBN is kept |
//! | 022 | $a as ISSN `NNNN-NNNC`; without $a the first of $l, $z, $y, $m |
//! | 024 | ind1 (+ $2 when ind1 is 7) + $a without blanks and hyphens; else $z |
//! | 035 | $a; OCLC numbers as the bare number (`(OCoLC)ocm04417356` = `(OCoLC)4417356`), others as `(org)number` with the org in lower case and blanks removed; else $z |
//! | 6XX | tag, ind2, $2 when ind2 is 7, and the heading: the normalised letter subfields except $e (relator; kept in 611 where it is a subordinate unit), $i, $j, $u, $w, joined with `--` |
//! | 700 710 711 730 740 | tag + the name and title: normalised $a $b $t $n $p $k $l (and 711 $e, its subordinate unit) joined with `--`; dates, fuller forms and relators left out |
//! | 5XX | normalised text of the letter subfields and $3, whatever the tag |
//!
//! A field with none of the subfields its key names is keyed by its whole
//! normalised text, so it is still merged once.
//!
//! # 880 alternate graphic representation
//!
//! A member's 880 is linked to its regular field by $6 (`245-02/(N` in the
//! 880, `880-02` in the 245). For each of a member's linked regular fields:
//!
//! - If the regular field itself is copied (its key is new), its 880 comes
//!   with it. The pair gets the lowest occurrence number not used in the
//!   union record, so links stay unique; the base's links are never
//!   renumbered. A copied field whose 880 is missing loses its $6.
//! - If the union already has the field (same key; for fields that are not
//!   unioned, such as 245, the same tag with the same normalised text, or
//!   the only field with that tag on both sides), the 880 is attached to that
//!   union field when it has no 880 yet: the union field gets a new `$6
//!   880-NN` and the 880 the matching `TAG-NN`. When the union field is
//!   already linked to an 880 in the same script (script code after the
//!   first `/`; a missing code matches any), the member's 880 is skipped; in
//!   another script, it is added unlinked (`TAG-00/script`).
//! - Without a union field to link to, the 880 is left out.
//!
//! Unlinked 880s (`TAG-00`, or a number no regular field of the member
//! carries) are added, as `TAG-00`, for the unioned tags only. An 880 whose
//! normalised text the union already has for the same tag is never added
//! twice. 880s linked to 5XX follow [`MergeOptions::merge_notes`].

use std::cmp::Ordering;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use unicat_marc::{ControlField, DataField, Field, Record, Subfield};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::ident::parse_isbn;
use crate::ident::{normalize_issn, oclc_number};

/// The version of the merge rules. The pipeline only re-merges clusters whose
/// members changed, so union records built by older rules (or under other
/// [`MergeOptions`]) stay as they were until something rebuilds every
/// cluster; bump this whenever `merge_with` gives a different record for the
/// same input, so that a stored version can tell when that is needed.
pub const MERGE_VERSION: i64 = 2;

/// Points per data field.
const FIELD_POINTS: u32 = 2;
/// Points per subfield.
const SUBFIELD_POINTS: u32 = 1;
/// Points for a full encoding level.
const FULL_LEVEL_POINTS: u32 = 10;
/// Points for a core or minimal encoding level.
const MINIMAL_LEVEL_POINTS: u32 = 4;
/// Points for a cataloguing source in `trusted_sources`.
const TRUSTED_SOURCE_POINTS: u32 = 5;
/// Points per place in `partner_priority`.
const PRIORITY_STEP: u32 = 20;

/// Base fields that the union record rebuilds rather than copies.
const REBUILT: &[&str] = &["001", "003", "005", "852"];

/// 852 subfields copied into a holding: location, then call number.
const HOLDING_CODES: &[char] = &['b', 'c', 'k', 'h', 'i', 'm'];
/// The call-number subfields of an 852 (their scheme is in ind1).
const CALL_NUMBER_CODES: &[char] = &['k', 'h', 'i', 'm'];

/// How clusters are merged; the merge part of the configuration.
///
/// The default (no priorities, no trusted sources, no notes) chooses the
/// base by completeness alone and unions no notes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeOptions {
    /// Partner names, most trusted first. The partner at 0-based position
    /// `i` of `n` gets `20 × (n − i)` points towards being the base; a
    /// partner not listed gets none. A name is compared exactly with the
    /// partner name of a member. Default: empty.
    pub partner_priority: Vec<String>,
    /// Whether the other members' 5XX notes (and their 880s) are unioned,
    /// de-duplicated by normalised text. Default: false (the base's notes
    /// only), since notes are often copy-specific.
    pub merge_notes: bool,
    /// Cataloguing agencies (MARC organisation codes as in 040 $a, e.g.
    /// `DLC`) whose records get 5 points towards being the base; compared
    /// without regard to ASCII case. Default: empty.
    pub trusted_sources: Vec<String>,
}

impl MergeOptions {
    /// The partner-priority points of `partner`: `20 × (n − i)` for the
    /// partner at position `i` of `n`, 0 if it is not listed.
    pub fn priority_points(&self, partner: &str) -> u32 {
        let n = self.partner_priority.len();
        self.partner_priority
            .iter()
            .position(|p| p == partner)
            .map_or(0, |i| {
                PRIORITY_STEP.saturating_mul(u32::try_from(n - i).unwrap_or(u32::MAX))
            })
    }

    /// Meaning-level problems, for the configuration check: a name in
    /// `partner_priority` that is not one of `partners` (a typo would
    /// silently give that partner no priority) or is listed twice, and an
    /// empty code in `trusted_sources`. Empty if all is well.
    pub fn problems(&self, partners: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        for (i, name) in self.partner_priority.iter().enumerate() {
            if !partners.contains(&name.as_str()) {
                out.push(format!(
                    "partner-priority names {name:?}, which is not a configured partner; \
                     use the partner's `name`"
                ));
            } else if self.partner_priority[..i].contains(name) {
                out.push(format!(
                    "partner-priority lists {name:?} twice; only its first place counts"
                ));
            }
        }
        if self.trusted_sources.iter().any(|t| t.trim().is_empty()) {
            out.push("trusted-sources has an empty code; remove it".to_string());
        }
        out
    }

    /// Whether `code` (an 040 $a) is a trusted cataloguing source.
    pub fn is_trusted_source(&self, code: &str) -> bool {
        let code = code.trim();
        !code.is_empty()
            && self
                .trusted_sources
                .iter()
                .any(|t| t.trim().eq_ignore_ascii_case(code))
    }
}

/// One member of a cluster, as merge sees it.
#[derive(Debug, Clone)]
pub struct Member<'a> {
    /// Partner name (for priority and ordering).
    pub partner: &'a str,
    /// Partner holdings code (852 $a, and the provenance 035 when the
    /// record has no 003).
    pub partner_code: &'a str,
    /// OAI identifier (for ordering).
    pub oai_id: &'a str,
    /// The normalised record.
    pub record: &'a Record,
}

/// A member's completeness score, by component (see the module docs for
/// the formula). Each component is in points.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Score {
    /// 2 per data field.
    pub fields: u32,
    /// 1 per subfield.
    pub subfields: u32,
    /// 10 for a full encoding level, 4 for core or minimal, else 0.
    pub encoding_level: u32,
    /// 5 if the 040 $a is a trusted source.
    pub trusted_source: u32,
    /// The partner's priority points.
    pub partner_priority: u32,
}

impl Score {
    /// The sum of the components.
    pub fn total(&self) -> u32 {
        self.fields
            .saturating_add(self.subfields)
            .saturating_add(self.encoding_level)
            .saturating_add(self.trusted_source)
            .saturating_add(self.partner_priority)
    }
}

/// A member with its score, as ranked by [`rank`].
#[derive(Debug, Clone)]
pub struct Ranked<'m, 'a> {
    /// The member.
    pub member: &'m Member<'a>,
    /// Its score.
    pub score: Score,
}

/// The score of a member under `options`.
pub fn score(member: &Member<'_>, options: &MergeOptions) -> Score {
    let record = member.record;
    let mut fields = 0u32;
    let mut subfields = 0u32;
    for d in record.fields.iter().filter_map(Field::as_data) {
        fields = fields.saturating_add(FIELD_POINTS);
        let n = u32::try_from(d.subfields.len()).unwrap_or(u32::MAX);
        subfields = subfields.saturating_add(SUBFIELD_POINTS.saturating_mul(n));
    }
    let encoding_level = match record.leader.chars().nth(17) {
        Some(' ' | '1' | 'I' | 'L') => FULL_LEVEL_POINTS,
        Some('4' | '7' | 'K' | 'M') => MINIMAL_LEVEL_POINTS,
        _ => 0,
    };
    let source = record.data_fields("040").find_map(|f| f.subfield('a'));
    let trusted_source = if source.is_some_and(|s| options.is_trusted_source(s)) {
        TRUSTED_SOURCE_POINTS
    } else {
        0
    };
    Score {
        fields,
        subfields,
        encoding_level,
        trusted_source,
        partner_priority: options.priority_points(member.partner),
    }
}

/// The record's own part of the score (fields, subfields, encoding level),
/// without anything that depends on the configuration.
pub fn completeness(record: &Record) -> u32 {
    let member = Member {
        partner: "",
        partner_code: "",
        oai_id: "",
        record,
    };
    score(&member, &MergeOptions::default()).total()
}

/// The members in rank order: the base first. See the module docs.
pub fn rank<'m, 'a>(members: &'m [Member<'a>], options: &MergeOptions) -> Vec<Ranked<'m, 'a>> {
    let mut ranked: Vec<Ranked<'m, 'a>> = members
        .iter()
        .map(|member| Ranked {
            member,
            score: score(member, options),
        })
        .collect();
    ranked.sort_by(|x, y| {
        let (a, b) = (x.member, y.member);
        y.score
            .total()
            .cmp(&x.score.total())
            .then_with(|| a.partner.cmp(b.partner))
            .then_with(|| a.oai_id.cmp(b.oai_id))
            .then_with(|| a.partner_code.cmp(b.partner_code))
            .then_with(|| cmp_records(a.record, b.record))
    });
    ranked
}

/// Build the union record for a cluster with the default [`MergeOptions`].
/// `members` may come in any order; `None` if there are none.
pub fn merge(cluster_id: &str, catalogue_code: &str, members: &[Member<'_>]) -> Option<Record> {
    merge_with(
        cluster_id,
        catalogue_code,
        members,
        &MergeOptions::default(),
    )
}

/// Build the union record for a cluster. `members` may come in any order;
/// `None` if there are none. See the module docs for what goes in.
pub fn merge_with(
    cluster_id: &str,
    catalogue_code: &str,
    members: &[Member<'_>],
    options: &MergeOptions,
) -> Option<Record> {
    let ranked = rank(members, options);
    let (base, others) = ranked.split_first()?;
    let mut union = Union::from_base(
        base.member.record,
        cluster_id,
        catalogue_code,
        options,
        !others.is_empty(),
    );
    for other in others {
        union.add_member(other.member.record);
    }
    for r in &ranked {
        union.add_provenance(r.member);
    }
    union.add_holdings(&ranked);
    Some(union.record)
}

/// The union record being built, with what it already holds.
struct Union<'o> {
    record: Record,
    options: &'o MergeOptions,
    /// Keys (see `union_key`) of the fields it has.
    keys: BTreeSet<String>,
    /// Keys (see `alternate_key`) of the 880s it has.
    alternate_keys: BTreeSet<String>,
    /// Occurrence numbers in use in $6 links.
    occurrences: BTreeSet<u32>,
}

impl<'o> Union<'o> {
    fn from_base(
        base: &Record,
        cluster_id: &str,
        catalogue_code: &str,
        options: &'o MergeOptions,
        others: bool,
    ) -> Self {
        let mut record = Record::new(base.leader.clone());
        record.push(ControlField::new("001", cluster_id).into());
        record.push(ControlField::new("003", catalogue_code).into());
        for f in &base.fields {
            let rebuilt = REBUILT.contains(&f.tag())
                || f.as_data()
                    .filter(|d| d.tag == "880")
                    .and_then(link_of)
                    .is_some_and(|l| REBUILT.contains(&l.tag));
            if !rebuilt {
                record.push(f.clone());
            }
        }
        // Registered before the record moves in, as `register` borrows the
        // union mutably and the fields immutably.
        let mut union = Union {
            record: Record::new(""),
            options,
            keys: BTreeSet::new(),
            alternate_keys: BTreeSet::new(),
            occurrences: BTreeSet::new(),
        };
        // Without other members, only the provenance 035 asks what the
        // union holds, and only a 035's key can be a 035's (every key starts
        // with its field's tag, or `note:`): most clusters have one member,
        // and keying every field of theirs was a tenth of the merge.
        for d in record.fields.iter().filter_map(Field::as_data) {
            if others || d.tag == "035" {
                union.register(d);
            }
        }
        union.record = record;
        union
    }

    /// Remember what `field` brings: its key and its link number.
    fn register(&mut self, field: &DataField) {
        if let Some(link) = link_of(field) {
            if link.occurrence > 0 {
                self.occurrences.insert(link.occurrence);
            }
        }
        if field.tag == "880" {
            if let Some(link) = link_of(field) {
                self.alternate_keys.insert(alternate_key(link.tag, field));
            }
        } else if let Some(key) = union_key(field) {
            self.keys.insert(key);
        }
    }

    fn insert(&mut self, field: DataField) {
        self.register(&field);
        self.record.insert_sorted(field.into());
    }

    /// The lowest occurrence number not yet used, now taken.
    fn next_occurrence(&mut self) -> u32 {
        let mut n = 1;
        while self.occurrences.contains(&n) {
            n += 1;
        }
        self.occurrences.insert(n);
        n
    }

    /// Whether fields with `tag` are unioned from other members.
    fn unions(&self, tag: &str) -> bool {
        match kind(tag) {
            Some(Kind::Note) => self.options.merge_notes,
            Some(_) => true,
            None => false,
        }
    }

    /// Union one non-base member's fields into the record.
    fn add_member(&mut self, rec: &Record) {
        let links = Links::of(rec);
        let mut paired = BTreeSet::new();
        for (i, field) in rec.fields.iter().enumerate() {
            let Field::Data(f) = field else { continue };
            if f.tag == "880" || REBUILT.contains(&f.tag.as_str()) {
                continue;
            }
            let alternate = links.alternate_of(rec, i);
            if let Some((j, _)) = alternate {
                paired.insert(j);
            }
            let alternate = alternate.map(|(_, a)| a);
            match kind(&f.tag) {
                Some(Kind::Note) if !self.options.merge_notes => {}
                Some(_) => {
                    let key = union_key(f).unwrap_or_default();
                    if !self.keys.contains(&key) {
                        self.copy(f, alternate);
                    } else if let Some(alternate) = alternate {
                        if let Some(at) = self.find_keyed(&key) {
                            self.attach(at, alternate);
                        }
                    }
                }
                None => {
                    if let Some(alternate) = alternate {
                        if let Some(at) = self.find_counterpart(rec, f) {
                            self.attach(at, alternate);
                        }
                    }
                }
            }
        }
        // 880s not reached through a regular field: unlinked ones, and those
        // whose regular field is missing.
        for (j, field) in rec.fields.iter().enumerate() {
            let Field::Data(f) = field else { continue };
            if f.tag != "880" || paired.contains(&j) {
                continue;
            }
            let Some(link) = link_of(f) else { continue };
            if !self.unions(link.tag) || self.alternate_keys.contains(&alternate_key(link.tag, f)) {
                continue;
            }
            let unlinked = relinked(f, link.tag, 0);
            self.insert(unlinked);
        }
    }

    /// Copy a member's field the union lacks, with its 880 if it has one.
    fn copy(&mut self, field: &DataField, alternate: Option<&DataField>) {
        let mut copy = field.clone();
        let alternate =
            alternate.filter(|a| !self.alternate_keys.contains(&alternate_key(&field.tag, a)));
        match alternate {
            Some(alternate) => {
                let n = self.next_occurrence();
                set_link(&mut copy, "880", n);
                let alternate = relinked(alternate, &field.tag, n);
                self.insert(copy);
                self.insert(alternate);
            }
            None => {
                copy.subfields.retain(|s| s.code != '6');
                self.insert(copy);
            }
        }
    }

    /// Link a member's 880 to the union field at `at` (see the module docs).
    fn attach(&mut self, at: usize, alternate: &DataField) {
        let Some(target) = self.record.fields[at].as_data() else {
            return;
        };
        let tag = target.tag.clone();
        if self
            .alternate_keys
            .contains(&alternate_key(&tag, alternate))
        {
            return;
        }
        match target.subfield('6') {
            None => {
                let n = self.next_occurrence();
                if let Field::Data(target) = &mut self.record.fields[at] {
                    target
                        .subfields
                        .insert(0, Subfield::new('6', format!("880-{n:02}")));
                }
                self.insert(relinked(alternate, &tag, n));
            }
            Some(value) => {
                let Some(link) = parse_link(value).filter(|l| l.tag == "880") else {
                    return;
                };
                let n = link.occurrence;
                match self.alternate(&tag, n) {
                    // A base link to an 880 that is not there: complete it,
                    // unless an 880 of another field holds that number.
                    None if n > 0 && !self.numbered(n) => {
                        self.insert(relinked(alternate, &tag, n));
                    }
                    None => {}
                    Some(existing) if scripts_differ(existing, alternate) => {
                        self.insert(relinked(alternate, &tag, 0));
                    }
                    Some(_) => {}
                }
            }
        }
    }

    /// The 880 of the union linked to `tag` with occurrence `n`.
    fn alternate(&self, tag: &str, n: u32) -> Option<&DataField> {
        self.record
            .data_fields("880")
            .find(|f| link_of(f).is_some_and(|l| l.tag == tag && l.occurrence == n))
    }

    /// Whether any 880 of the union carries occurrence number `n`.
    fn numbered(&self, n: u32) -> bool {
        self.record
            .data_fields("880")
            .any(|f| link_of(f).is_some_and(|l| l.occurrence == n))
    }

    /// Position of the first regular field with the union key `key`.
    fn find_keyed(&self, key: &str) -> Option<usize> {
        self.record.fields.iter().position(|f| {
            f.as_data()
                .filter(|d| d.tag != "880")
                .and_then(union_key)
                .is_some_and(|k| k == key)
        })
    }

    /// Position of the union field that corresponds to a member's field
    /// that is not unioned: same tag and normalised text, else the only
    /// field with that tag on both sides.
    fn find_counterpart(&self, rec: &Record, field: &DataField) -> Option<usize> {
        let same_tag: Vec<usize> = self
            .record
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.tag() == field.tag && f.as_data().is_some())
            .map(|(i, _)| i)
            .collect();
        let text = content_text(field);
        same_tag
            .iter()
            .copied()
            .find(|&i| {
                self.record.fields[i]
                    .as_data()
                    .is_some_and(|d| content_text(d) == text)
            })
            .or_else(|| {
                (same_tag.len() == 1 && rec.data_fields(&field.tag).count() == 1)
                    .then(|| same_tag[0])
            })
    }

    /// A 035 for the member's own 001, unless the union has that number.
    fn add_provenance(&mut self, member: &Member<'_>) {
        let non_empty = |v: &str| !v.trim().is_empty();
        let Some(id) = member.record.control("001").filter(|v| non_empty(v)) else {
            return;
        };
        let org = member
            .record
            .control("003")
            .filter(|v| non_empty(v))
            .unwrap_or(member.partner_code);
        let field =
            DataField::new("035", ' ', ' ').with('a', format!("({}){}", org.trim(), id.trim()));
        if union_key(&field).is_some_and(|k| !self.keys.contains(&k)) {
            self.insert(field);
        }
    }

    /// One 852 per partner code.
    fn add_holdings(&mut self, ranked: &[Ranked<'_, '_>]) {
        let mut holders: BTreeMap<&str, Option<&DataField>> = BTreeMap::new();
        for r in ranked {
            let own = r.member.record.data_fields("852").next();
            match holders.entry(r.member.partner_code) {
                Entry::Vacant(e) => {
                    e.insert(own);
                }
                Entry::Occupied(mut e) => {
                    if e.get().is_none() {
                        e.insert(own);
                    }
                }
            }
        }
        for (code, own) in holders {
            let mut holding = DataField::new("852", ' ', ' ').with('a', code);
            if let Some(own) = own {
                for s in own
                    .subfields
                    .iter()
                    .filter(|s| HOLDING_CODES.contains(&s.code))
                {
                    holding.subfields.push(s.clone());
                }
                if own
                    .subfields
                    .iter()
                    .any(|s| CALL_NUMBER_CODES.contains(&s.code))
                {
                    holding.ind1 = own.ind1;
                }
            }
            self.record.insert_sorted(holding.into());
        }
    }
}

/// The kinds of field unioned from other members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Identifier,
    Subject,
    AddedEntry,
    Note,
}

fn kind(tag: &str) -> Option<Kind> {
    match tag {
        "020" | "022" | "024" | "035" => Some(Kind::Identifier),
        "700" | "710" | "711" | "730" | "740" => Some(Kind::AddedEntry),
        _ if tag.len() == 3 && tag.starts_with('6') => Some(Kind::Subject),
        _ if tag.len() == 3 && tag.starts_with('5') => Some(Kind::Note),
        _ => None,
    }
}

/// The key under which a field is merged once, for the unioned tags.
fn union_key(field: &DataField) -> Option<String> {
    let key = match kind(&field.tag)? {
        Kind::Identifier => identifier_key(field),
        Kind::Subject => subject_key(field),
        Kind::AddedEntry => added_entry_key(field),
        Kind::Note => Some(format!("note:{}", content_text(field))),
    };
    Some(key.unwrap_or_else(|| format!("{}*:{}", field.tag, content_text(field))))
}

fn identifier_key(field: &DataField) -> Option<String> {
    let tag = field.tag.as_str();
    let codes: &[char] = if tag == "022" {
        &['a', 'l', 'z', 'y', 'm']
    } else {
        &['a', 'z']
    };
    let (code, value) = codes
        .iter()
        .find_map(|&c| field.subfield(c).map(|v| (c, v)))?;
    let scope = match (tag, field.ind1) {
        ("024", '7') => format!(
            "{}/{}",
            field.ind1,
            field.subfield('2').map(normalise).unwrap_or_default()
        ),
        ("024", ind1) => ind1.to_string(),
        _ => String::new(),
    };
    let number = match tag {
        "020" => parse_isbn(value)
            .map(|p| p.isbn13.unwrap_or(p.raw))
            .unwrap_or_else(|| compact(value)),
        "022" => normalize_issn(value).unwrap_or_else(|| compact(value)),
        "035" => system_number(value),
        _ => compact(value),
    };
    Some(format!("{tag}{scope}${code}:{number}"))
}

/// A 035 number for comparison: OCLC numbers bare, others `(org)number`.
fn system_number(value: &str) -> String {
    let v = value.trim();
    if let Some((org, number)) = v.strip_prefix('(').and_then(|r| r.split_once(')')) {
        let org = org.trim();
        if org.eq_ignore_ascii_case("ocolc") {
            if let Some(n) = oclc_number(&format!("(OCoLC){}", number.trim())) {
                return format!("oclc:{n}");
            }
        }
        return format!(
            "({}){}",
            org.to_lowercase(),
            number.split_whitespace().collect::<String>()
        );
    }
    v.split_whitespace().collect()
}

/// A number without blanks or hyphens, upper case.
fn compact(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

fn subject_key(field: &DataField) -> Option<String> {
    let thesaurus = if field.ind2 == '7' {
        format!(
            "/{}",
            field.subfield('2').map(normalise).unwrap_or_default()
        )
    } else {
        String::new()
    };
    let heading: Vec<String> = field
        .subfields
        .iter()
        .filter(|s| is_heading_code(&field.tag, s.code))
        .map(|s| normalise(&s.value))
        .filter(|s| !s.is_empty())
        .collect();
    (!heading.is_empty()).then(|| {
        format!(
            "{}{}{thesaurus}:{}",
            field.tag,
            field.ind2,
            heading.join("--")
        )
    })
}

/// Whether a 6XX subfield is part of the heading (not a relator, an
/// identifier, a link or a control subfield).
fn is_heading_code(tag: &str, code: char) -> bool {
    match code {
        'e' => tag == "611",
        'i' | 'j' | 'u' | 'w' => false,
        _ => code.is_ascii_lowercase(),
    }
}

fn added_entry_key(field: &DataField) -> Option<String> {
    let parts: Vec<String> = field
        .subfields
        .iter()
        .filter(|s| is_entry_code(&field.tag, s.code))
        .map(|s| normalise(&s.value))
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| format!("{}:{}", field.tag, parts.join("--")))
}

/// Whether an added-entry subfield names the person, body, meeting or work:
/// $a $b $t $n $p $k $l (and $e in 711, the subordinate unit). Dates,
/// fuller forms and relators stay out, so `Smith, John, 1950- editor` and
/// `Smith, John` are one entry; $b $n $p keep `Bible. N.T.` apart from
/// `Bible. O.T.` and one subordinate body apart from another.
fn is_entry_code(tag: &str, code: char) -> bool {
    match code {
        'a' | 'b' | 't' | 'n' | 'p' | 'k' | 'l' => true,
        'e' => tag == "711",
        _ => false,
    }
}

/// The key of an 880 linked to `tag`: the tag and its normalised text.
fn alternate_key(tag: &str, field: &DataField) -> String {
    format!("{tag}|{}", content_text(field))
}

/// The normalised text of a field's letter subfields and $3.
fn content_text(field: &DataField) -> String {
    let text: Vec<&str> = field
        .subfields
        .iter()
        .filter(|s| s.code.is_ascii_alphabetic() || s.code == '3')
        .map(|s| s.value.as_str())
        .collect();
    normalise(&text.join(" "))
}

/// Text for comparison: NFC, lower case, anything but letters, digits and
/// combining marks as a space, whitespace collapsed.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.nfc().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || is_combining_mark(c) {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.push(c);
        } else {
            gap = true;
        }
    }
    out
}

/// A parsed $6: `TAG-NN` and whatever follows (`/(N`, `/r`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Link<'s> {
    tag: &'s str,
    occurrence: u32,
    rest: &'s str,
}

fn parse_link(value: &str) -> Option<Link<'_>> {
    let value = value.trim();
    let tag = value.get(..3)?;
    let after = value.get(3..)?.strip_prefix('-')?;
    let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    Some(Link {
        tag,
        occurrence: after[..digits].parse().ok()?,
        rest: &after[digits..],
    })
}

fn link_of(field: &DataField) -> Option<Link<'_>> {
    parse_link(field.subfield('6')?)
}

/// The script identification code of an 880 (`(N` in `245-01/(N/r`).
fn script_of(field: &DataField) -> Option<&str> {
    link_of(field)?
        .rest
        .strip_prefix('/')?
        .split('/')
        .next()
        .filter(|s| !s.is_empty())
}

/// Two 880s are in different scripts only when both say so.
fn scripts_differ(a: &DataField, b: &DataField) -> bool {
    matches!((script_of(a), script_of(b)), (Some(x), Some(y)) if x != y)
}

/// Set the first $6 of `field` to `tag-NN` (keeping any `/script` after it),
/// or add one in front.
fn set_link(field: &mut DataField, tag: &str, n: u32) {
    let link = |rest: &str| Subfield::new('6', format!("{tag}-{n:02}{rest}"));
    match field.subfields.iter().position(|s| s.code == '6') {
        Some(i) => {
            let rest = parse_link(&field.subfields[i].value)
                .map(|l| l.rest.to_string())
                .unwrap_or_default();
            field.subfields[i] = link(&rest);
        }
        None => field.subfields.insert(0, link("")),
    }
}

/// A copy of an 880 linked to `tag` with occurrence `n`.
fn relinked(alternate: &DataField, tag: &str, n: u32) -> DataField {
    let mut copy = alternate.clone();
    set_link(&mut copy, tag, n);
    copy
}

/// The $6 links of one record.
struct Links {
    /// Occurrence number → position of the first regular field with it.
    regular: BTreeMap<u32, usize>,
    /// (linked tag, occurrence) → position of the first 880 with it.
    alternate: BTreeMap<(String, u32), usize>,
}

impl Links {
    fn of(rec: &Record) -> Self {
        let mut links = Links {
            regular: BTreeMap::new(),
            alternate: BTreeMap::new(),
        };
        for (i, f) in rec.fields.iter().enumerate() {
            let Some(d) = f.as_data() else { continue };
            let Some(link) = link_of(d).filter(|l| l.occurrence > 0) else {
                continue;
            };
            if d.tag == "880" {
                links
                    .alternate
                    .entry((link.tag.to_string(), link.occurrence))
                    .or_insert(i);
            } else if link.tag == "880" {
                links.regular.entry(link.occurrence).or_insert(i);
            }
        }
        links
    }

    /// The 880 linked to the regular field at `i`, with its position.
    fn alternate_of<'r>(&self, rec: &'r Record, i: usize) -> Option<(usize, &'r DataField)> {
        let field = rec.fields.get(i)?.as_data()?;
        let link = link_of(field).filter(|l| l.tag == "880")?;
        if self.regular.get(&link.occurrence) != Some(&i) {
            return None;
        }
        let j = *self.alternate.get(&(field.tag.clone(), link.occurrence))?;
        Some((j, rec.fields[j].as_data()?))
    }
}

/// A total order on records, for the last tie-break of [`rank`].
fn cmp_records(a: &Record, b: &Record) -> Ordering {
    fn view(f: &Field) -> (&str, char, char, Vec<(char, &str)>) {
        match f {
            Field::Control(c) => (&c.tag, ' ', ' ', vec![(' ', c.value.as_str())]),
            Field::Data(d) => (
                &d.tag,
                d.ind1,
                d.ind2,
                d.subfields
                    .iter()
                    .map(|s| (s.code, s.value.as_str()))
                    .collect(),
            ),
        }
    }
    a.leader
        .cmp(&b.leader)
        .then_with(|| a.fields.iter().map(view).cmp(b.fields.iter().map(view)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, extra: usize) -> Record {
        let mut r = Record::new("00000nam a2200000 i 4500");
        r.push(ControlField::new("001", id).into());
        r.push(
            DataField::new("035", ' ', ' ')
                .with('a', format!("(X){id}"))
                .into(),
        );
        r.push(DataField::new("245", '1', '0').with('a', "Title").into());
        for i in 0..extra {
            r.push(
                DataField::new("500", ' ', ' ')
                    .with('a', format!("note {i}"))
                    .into(),
            );
        }
        r
    }

    fn member<'a>(partner: &'a str, code: &'a str, record: &'a Record) -> Member<'a> {
        Member {
            partner,
            partner_code: code,
            oai_id: record.control("001").unwrap_or(""),
            record,
        }
    }

    // The richer record is the base; every member's 035 and one 852 per partner survive.
    #[test]
    fn merge_takes_richest_base_and_unions_provenance() {
        let a = rec("a1", 0);
        let b = rec("b1", 3);
        let members = [member("anl", "AZ", &a), member("tsu", "UZ", &b)];
        let u = merge("uc1", "UNICAT", &members).unwrap();
        assert_eq!(u.control("001"), Some("uc1"));
        assert_eq!(u.control("003"), Some("UNICAT"));
        assert_eq!(u.data_fields("500").count(), 3);
        let ids: Vec<_> = u
            .data_fields("035")
            .filter_map(|f| f.subfield('a'))
            .collect();
        // The records' own 035s, then the provenance 035s merge adds for
        // their 001s (these records lack them; normalised ones do not).
        assert_eq!(ids, vec!["(X)b1", "(X)a1", "(UZ)b1", "(AZ)a1"]);
        let holders: Vec<_> = u
            .data_fields("852")
            .filter_map(|f| f.subfield('a'))
            .collect();
        assert_eq!(holders, vec!["AZ", "UZ"]);
    }

    // Input order must not change the output (determinism).
    #[test]
    fn merge_is_order_independent() {
        let a = rec("a1", 1);
        let b = rec("b1", 1);
        let m1 = [member("anl", "AZ", &a), member("tsu", "UZ", &b)];
        let m2 = [m1[1].clone(), m1[0].clone()];
        assert_eq!(merge("u", "C", &m1), merge("u", "C", &m2));
    }

    // No members, no union record (the pipeline relies on it).
    #[test]
    fn merge_of_nothing_is_none() {
        assert_eq!(merge("u", "C", &[]), None);
    }

    // The documented formula, component by component, on one record.
    #[test]
    fn score_follows_the_documented_formula() {
        let mut r = Record::new("00000nam a2200000 i 4500");
        r.push(ControlField::new("001", "x").into());
        r.push(
            DataField::new("040", ' ', ' ')
                .with('a', "dlc")
                .with('c', "DLC")
                .into(),
        );
        r.push(DataField::new("245", '1', '0').with('a', "T").into());
        let options = MergeOptions {
            partner_priority: vec!["a".into(), "b".into(), "c".into()],
            merge_notes: false,
            trusted_sources: vec!["DLC".into()],
        };
        let s = score(&member("b", "B", &r), &options);
        assert_eq!(
            s,
            Score {
                fields: 4,
                subfields: 3,
                encoding_level: 10,
                trusted_source: 5,
                partner_priority: 40,
            }
        );
        assert_eq!(s.total(), 62);
        assert_eq!(options.priority_points("a"), 60);
        assert_eq!(options.priority_points("c"), 20);
        assert_eq!(options.priority_points("z"), 0);
        assert_eq!(completeness(&r), 17);
        r.leader.replace_range(17..18, "7");
        assert_eq!(completeness(&r), 11);
        r.leader.replace_range(17..18, "3");
        assert_eq!(completeness(&r), 7);
    }

    // A typo in partner-priority would silently do nothing; the config check must see it.
    #[test]
    fn options_report_unknown_and_repeated_partners() {
        let options = MergeOptions {
            partner_priority: vec!["tsu".into(), "tsuu".into(), "tsu".into()],
            merge_notes: false,
            trusted_sources: vec!["DLC".into(), " ".into()],
        };
        let problems = options.problems(&["tsu", "anl"]);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("\"tsuu\""), "{problems:?}");
        assert!(problems[1].contains("twice"), "{problems:?}");
        assert!(MergeOptions::default().problems(&[]).is_empty());
    }

    // Headings that differ only in punctuation, case and spacing are one.
    #[test]
    fn normalise_ignores_punctuation_case_and_spacing() {
        assert_eq!(
            normalise(" Russian  literature--History, and criticism. "),
            "russian literature history and criticism"
        );
        // Composed and decomposed accents compare equal; marks are kept.
        assert_eq!(normalise("Poe\u{301}tika"), normalise("Poétika"));
        assert_ne!(normalise("Poétika"), normalise("Poetika"));
        assert_eq!(normalise("..."), "");
    }

    // The identifier spellings the issue names count once.
    #[test]
    fn identifier_keys_normalise_numbers() {
        let f = |tag: &str, ind1: char, code: char, v: &str| {
            union_key(&DataField::new(tag, ind1, ' ').with(code, v)).unwrap()
        };
        assert_eq!(
            f("035", ' ', 'a', "(OCoLC)ocm04417356"),
            f("035", ' ', 'a', "(OCoLC)4417356")
        );
        assert_eq!(
            f("035", ' ', 'a', "(ocolc)on4417356"),
            f("035", ' ', 'a', "(OCoLC)4417356")
        );
        assert_ne!(
            f("035", ' ', 'a', "(DLC)4417356"),
            f("035", ' ', 'a', "(OCoLC)4417356")
        );
        assert_eq!(
            f("020", ' ', 'a', "0-306-40615-2"),
            f("020", ' ', 'a', "9780306406157 (pbk.)")
        );
        assert_ne!(
            f("020", ' ', 'a', "9780306406157"),
            f("020", ' ', 'z', "9780306406157")
        );
        assert_eq!(
            f("022", ' ', 'a', "0378-5955"),
            f("022", ' ', 'a', "03785955")
        );
        assert_ne!(f("024", '2', 'a', "123"), f("024", '3', 'a', "123"));
    }

    // $6 values parse into tag, occurrence and script, and relink keeps the script.
    #[test]
    fn links_parse_and_relink() {
        let l = parse_link("245-02/(N/r").unwrap();
        assert_eq!((l.tag, l.occurrence, l.rest), ("245", 2, "/(N/r"));
        assert_eq!(parse_link("880-1").map(|l| l.occurrence), Some(1));
        assert_eq!(parse_link("880"), None);
        assert_eq!(parse_link("880-xx"), None);
        let alt = DataField::new("880", '1', '0')
            .with('6', "245-02/(N")
            .with('a', "Т");
        assert_eq!(script_of(&alt), Some("(N"));
        let moved = relinked(&alt, "246", 7);
        assert_eq!(moved.subfield('6'), Some("246-07/(N"));
        let mut plain = DataField::new("700", '1', ' ').with('a', "X");
        set_link(&mut plain, "880", 12);
        assert_eq!(plain.subfields[0], Subfield::new('6', "880-12"));
    }
}
