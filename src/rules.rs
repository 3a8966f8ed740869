//! Per-partner rewrite rules: a small, typed, declarative language in TOML
//! for the fixes sysadmins routinely need on one partner's records (drop
//! local fields, move Koha's 952 to 852, stamp a 003, strip "[electronic
//! resource]").
//!
//! The rules are written in the configuration as `[[partner.rule]]` tables,
//! parsed into [`RuleSpec`]s by serde, and compiled and validated by
//! [`Rules::compile`] when the configuration is loaded, so that a typo or a
//! bad regex is an error at start that names the rule, not a silent no-op on
//! a million records. [`Rules::apply`] then rewrites one record in place and
//! reports which rules changed it, for the data-quality report.
//!
//! The language is modelled on what Catmandu's Fix language (`marc_remove`,
//! `marc_set`, `marc_add`, `marc_replace_all`, `if marc_match`) and
//! MARC::Transform cover, but kept smaller: four actions, conditions that
//! are all and-ed, no variables, no loops, no code.
//!
//! This module must stay pure: no I/O, no clock, no logging. Applying the same
//! rules to the same record always gives the same result.
//!
//! # Syntax
//!
//! Each `[[partner.rule]]` table holds exactly one action key (`drop`,
//! `move`, `add` or `replace`) and optionally a `when` table. Rules run in
//! the order they are written, each on the output of the one before, and a
//! rule's `when` is tested against the record as the earlier rules left it.
//! Rules are counted from 1 in error messages.
//!
//! **Tags and field selectors.** A *tag pattern* is three characters: ASCII
//! digits and letters match themselves, `X` (or `x`) matches any one
//! character, so `9XX` is every 9xx field and `XXX` is every field. A
//! *field selector* is a tag pattern optionally followed by `$` and one or
//! more subfield codes (`a`–`z`, `0`–`9`): `852$x` is subfield x of every
//! 852, `XXX$9` is subfield 9 of every data field, `650$ax` is subfields a
//! and x of every 650. Where an *exact tag* is needed (`move`, `add`), `X`
//! is not allowed. Control fields are 001–009 (tags starting `00`); they
//! have no subfields.
//!
//! **`drop = "SELECTOR"`** removes every field whose tag matches (control
//! or data fields), or, with `$codes`, those subfields of matching data
//! fields; a data field left without subfields is removed as well, since
//! MARC has no empty data fields. `drop = "XXX"` (every field) is refused.
//!
//! ```toml
//! [[partner.rule]]
//! drop = "9XX"          # every local 9xx field
//! [[partner.rule]]
//! drop = "852$x"        # the non-public notes of 852, keeping the 852s
//! ```
//!
//! **`move = { from, to, subfields?, keep-unmapped?, ind1?, ind2? }`**
//! renames every data field `from` (exact tag) to `to` (exact tag). With
//! `subfields`, a table of *source code = target code*, each subfield is
//! renamed by the table and kept in its place; subfields not in the table
//! are dropped unless `keep-unmapped = true` (default false), which keeps
//! them under their own code. Without `subfields` every subfield is kept as
//! it is (a plain rename). `ind1`/`ind2` (one character, a digit, a
//! lower-case letter or a space) set the new field's indicators; by default
//! they are kept. The moved fields leave their place and are inserted in tag
//! order, after any fields that already have the tag `to`, in their original
//! relative order; a moved field left without subfields is dropped.
//!
//! ```toml
//! [[partner.rule]]      # Koha items -> holdings: branch, call number, collection
//! move = { from = "952", to = "852", subfields = { a = "a", o = "h", "8" = "b" } }
//! ```
//!
//! **`add = { tag, value, ind1?, ind2?, subfield?, if-missing?, to-existing? }`**
//! adds fixed content. For a control field (`tag` 001–009, no `subfield`)
//! it sets the value of the first field with that tag, or inserts the field
//! in tag order; with `if-missing = true` an existing field is left alone.
//! For a data field, `subfield` (one code) is required: a new field
//! `tag ind1 ind2 $subfield value` is inserted in tag order (indicators
//! default to blank); with `if-missing = true` only if the record has no
//! field with that tag. With `to-existing = true` no field is created:
//! `$subfield value` is appended to every existing field with that tag, or,
//! with `if-missing = true`, to every such field that has no subfield with
//! that code. `value` must not be empty. Both flags default to false.
//!
//! ```toml
//! [[partner.rule]]
//! add = { tag = "003", value = "UZ-TaNL" }
//! [[partner.rule]]
//! add = { tag = "040", subfield = "a", value = "UZ-TaNL", if-missing = true }
//! [[partner.rule]]
//! add = { tag = "040", subfield = "d", value = "UZ-TaNL", to-existing = true }
//! ```
//!
//! **`replace = { field, pattern, with }`** replaces every match of the
//! regular expression `pattern` (Rust `regex` syntax, see
//! <https://docs.rs/regex/1/regex/#syntax>) in the values selected by
//! `field`: with `$codes`, those subfields of matching data fields; without,
//! the value of matching control fields and every subfield of matching data
//! fields. `with` is the replacement; `$1`, `${1}` and `${name}` insert a
//! capture group and `$$` is a literal `$` (write `${1}a`, not `$1a`, which
//! names a group `1a`; a group the pattern does not have is refused). A
//! value emptied by a replacement is kept, empty; use `drop` to remove
//! subfields. The leader cannot be changed by rules.
//!
//! ```toml
//! [[partner.rule]]
//! replace = { field = "245$h", pattern = '\s*\[electronic resource\]', with = "" }
//! [[partner.rule]]
//! replace = { field = "005", pattern = '\.\d+$', with = ".0" }
//! ```
//!
//! **`when = { ... }`** makes the rule apply only to records for which every
//! condition holds:
//!
//! - `leader-NN = "v"`: the leader, from 0-based position NN (as in the MARC
//!   documentation), reads `v` (as many characters as `v` has, so
//!   `leader-06 = "am"` tests 06 and 07);
//! - `field-TTT-NN = "v"`: the same for control field TTT (001–009); with a
//!   repeated field (006, 007) it is enough that one of them matches;
//! - `has = "SELECTOR"`: the record has a field matching the selector (with
//!   `$codes`: a matching data field holding one of those subfields);
//! - `lacks = "SELECTOR"`: the record has no such field.
//!
//! For positions, a list of values means *any of them* (`leader-06 = ["a",
//! "t"]`); for `has` and `lacks` a list means *each of them* (`has = ["020",
//! "245"]` needs both). Blanks are spaces: `"#"`, the documentation's sign
//! for a blank, is refused. Position ranges are checked against the leader
//! (24 characters), 006 (18) and 008 (40). A record too short to hold the
//! position does not match.
//!
//! ```toml
//! [[partner.rule]]
//! drop = "020$q"
//! when = { leader-06 = ["a", "t"], field-008-35 = "uzb", has = "020" }
//! ```

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use unicat_marc::{ControlField, DataField, Field, Record};

/// One `[[partner.rule]]` table as written; compile it with
/// [`Rules::compile`]. Exactly one of `drop`, `move`, `add`, `replace` must
/// be given; serde does not check that, compile does, so that the error
/// names the rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RuleSpec {
    /// A field selector (`9XX`, `852$x`): the fields or subfields to remove.
    #[serde(default)]
    pub drop: Option<String>,
    /// Rename a data field, mapping its subfield codes.
    #[serde(default, rename = "move")]
    pub move_: Option<MoveSpec>,
    /// Add a control field, a data field, or a subfield to existing fields.
    #[serde(default)]
    pub add: Option<AddSpec>,
    /// Regex replacement in control field values or subfield values.
    #[serde(default)]
    pub replace: Option<ReplaceSpec>,
    /// Conditions, all of which must hold for the rule to run. Keys are
    /// `leader-NN`, `field-TTT-NN`, `has`, `lacks`; checked by compile.
    #[serde(default)]
    pub when: Option<BTreeMap<String, Values>>,
}

/// `move = { ... }`: rename data field `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct MoveSpec {
    /// Exact tag of the fields to move, e.g. `952`.
    pub from: String,
    /// Exact tag they get, e.g. `852`.
    pub to: String,
    /// Source subfield code = target subfield code. Absent: keep every
    /// subfield as it is. Present: must not be empty.
    #[serde(default)]
    pub subfields: Option<BTreeMap<String, String>>,
    /// Keep subfields that `subfields` does not map, under their own code
    /// (default false: they are dropped).
    #[serde(default)]
    pub keep_unmapped: bool,
    /// New first indicator (one character); default: keep the field's own.
    #[serde(default)]
    pub ind1: Option<String>,
    /// New second indicator (one character); default: keep the field's own.
    #[serde(default)]
    pub ind2: Option<String>,
}

/// `add = { ... }`: add fixed content.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AddSpec {
    /// Exact tag of the field, e.g. `003` or `040`.
    pub tag: String,
    /// First indicator of a new data field (one character, default blank).
    #[serde(default)]
    pub ind1: Option<String>,
    /// Second indicator of a new data field (one character, default blank).
    #[serde(default)]
    pub ind2: Option<String>,
    /// Subfield code; required for data fields, refused for control fields.
    #[serde(default)]
    pub subfield: Option<String>,
    /// The value of the control field or subfield; not empty.
    pub value: String,
    /// Only add where nothing is there yet (default false); see the module
    /// documentation for what "there" means in each form.
    #[serde(default)]
    pub if_missing: bool,
    /// Add the subfield to every existing field `tag` instead of adding a
    /// field (default false).
    #[serde(default)]
    pub to_existing: bool,
}

/// `replace = { ... }`: regex replacement.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ReplaceSpec {
    /// Field selector of the values to change, e.g. `245$a` or `005`.
    pub field: String,
    /// Regular expression (Rust `regex` syntax); every match is replaced.
    pub pattern: String,
    /// Replacement; `$1`, `${name}` insert groups, `$$` is a `$`.
    pub with: String,
}

/// A condition's value: one string, or an array of strings (written
/// `"a"` or `["a", "t"]`); one string is an array of one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values(pub Vec<String>);

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Values;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Values, E> {
                Ok(Values(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Values, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<String>()? {
                    out.push(v);
                }
                Ok(Values(out))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A rule that does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// 0-based position of the rule in the list (shown counted from 1).
    pub index: usize,
    /// The rule's action, when it has exactly one.
    pub action: Option<&'static str>,
    /// What is wrong, and where possible how to fix it.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {}", self.index + 1)?;
        if let Some(action) = self.action {
            write!(f, " ({action})")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for RuleError {}

/// A rule that changed a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleHit {
    /// 0-based position of the rule in the list.
    pub index: usize,
    /// The rule's action: `drop`, `move`, `add` or `replace`.
    pub action: &'static str,
}

/// A compiled, validated list of rules, applied in order.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    index: usize,
    when: Vec<Condition>,
    action: Action,
}

#[derive(Debug, Clone)]
enum Action {
    Drop(Selector),
    Move {
        from: String,
        to: String,
        /// Source code -> target code; `None` keeps every subfield.
        map: Option<BTreeMap<char, char>>,
        keep_unmapped: bool,
        ind1: Option<char>,
        ind2: Option<char>,
    },
    AddControl {
        tag: String,
        value: String,
        if_missing: bool,
    },
    AddField {
        tag: String,
        ind1: char,
        ind2: char,
        code: char,
        value: String,
        if_missing: bool,
    },
    AddSubfield {
        tag: String,
        code: char,
        value: String,
        if_missing: bool,
    },
    Replace {
        target: Selector,
        regex: Regex,
        with: String,
    },
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Action::Drop(_) => "drop",
            Action::Move { .. } => "move",
            Action::AddControl { .. } | Action::AddField { .. } | Action::AddSubfield { .. } => {
                "add"
            }
            Action::Replace { .. } => "replace",
        }
    }
}

#[derive(Debug, Clone)]
enum Condition {
    /// The leader from `pos` reads one of the values.
    Leader {
        pos: usize,
        any_of: Vec<String>,
    },
    /// A control field `tag` from `pos` reads one of the values.
    Control {
        tag: String,
        pos: usize,
        any_of: Vec<String>,
    },
    Has(Selector),
    Lacks(Selector),
}

/// A tag pattern: `None` is a wildcard position.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TagPattern([Option<char>; 3]);

/// A tag pattern and the subfield codes it selects (empty: whole fields).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Selector {
    tag: TagPattern,
    codes: Vec<char>,
}

const ACTIONS: &str = "drop, move, add, replace";

impl Rules {
    /// Validate and compile rule specs. Returns every problem found, not
    /// only the first, each naming its rule.
    pub fn compile(specs: &[RuleSpec]) -> Result<Rules, Vec<RuleError>> {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for (index, spec) in specs.iter().enumerate() {
            match compile_rule(spec) {
                Ok((when, action)) => rules.push(Rule {
                    index,
                    when,
                    action,
                }),
                Err((action, messages)) => {
                    errors.extend(messages.into_iter().map(|message| RuleError {
                        index,
                        action,
                        message,
                    }))
                }
            }
        }
        if errors.is_empty() {
            Ok(Rules { rules })
        } else {
            Err(errors)
        }
    }

    /// Apply every rule, in order, to the record. Returns the rules that
    /// changed it, in order; a rule whose conditions do not hold, or that
    /// found nothing to do, is not a hit.
    pub fn apply(&self, record: &mut Record) -> Vec<RuleHit> {
        let mut hits = Vec::new();
        for rule in &self.rules {
            if rule.when.iter().all(|c| c.holds(record)) && rule.action.apply(record) {
                hits.push(RuleHit {
                    index: rule.index,
                    action: rule.action.name(),
                });
            }
        }
        hits
    }

    /// No rules: applying them changes nothing.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// A stable fingerprint of what the rules do: the SHA-256, in lower-case
    /// hex, of a canonical form of the compiled rules. Comments, key order,
    /// inline versus multi-line tables, `9xx` versus `9XX`, the order of
    /// subfield codes in a selector and of conditions, and defaults written
    /// out or left implicit do not change it; any other edit that can change
    /// a result (a value, a pattern, the order of the rules) does. It does
    /// not depend on the Rust version or platform, so it can be stored and
    /// compared across restarts to decide that a partner's records need
    /// normalising again.
    pub fn fingerprint(&self) -> String {
        // Bump the version when what a rule *does* changes in this code, so
        // that every partner with rules is normalised again after upgrading.
        let mut canon = String::from("unicat-rules v1\n");
        for rule in &self.rules {
            rule.canonical(&mut canon);
            canon.push('\n');
        }
        hex(&Sha256::digest(canon.as_bytes()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A compiled rule's conditions and action, or the rule's action (if it
/// has exactly one) and every problem found.
type Compiled = Result<(Vec<Condition>, Action), (Option<&'static str>, Vec<String>)>;

/// Compile one rule.
fn compile_rule(spec: &RuleSpec) -> Compiled {
    let given: Vec<&'static str> = [
        ("drop", spec.drop.is_some()),
        ("move", spec.move_.is_some()),
        ("add", spec.add.is_some()),
        ("replace", spec.replace.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, present)| present.then_some(name))
    .collect();
    let name = match given[..] {
        [] => {
            return Err((
                None,
                vec![format!(
                    "no action: give exactly one of {ACTIONS} (plus an optional `when`)"
                )],
            ))
        }
        [one] => one,
        _ => {
            return Err((
                None,
                vec![format!(
                    "one action per rule, found {}: split it into one rule per action",
                    given.join(" and ")
                )],
            ))
        }
    };
    let mut errors = Vec::new();
    let when = match &spec.when {
        Some(when) => compile_when(when, &mut errors),
        None => Vec::new(),
    };
    let action = if let Some(drop) = &spec.drop {
        compile_drop(drop, &mut errors)
    } else if let Some(m) = &spec.move_ {
        compile_move(m, &mut errors)
    } else if let Some(a) = &spec.add {
        compile_add(a, &mut errors)
    } else if let Some(r) = &spec.replace {
        compile_replace(r, &mut errors)
    } else {
        unreachable!("exactly one action was checked above")
    };
    match action {
        Some(action) if errors.is_empty() => Ok((when, action)),
        _ => Err((Some(name), errors)),
    }
}

fn compile_drop(text: &str, errors: &mut Vec<String>) -> Option<Action> {
    let sel = Selector::parse(text)
        .map_err(|e| errors.push(format!("`{text}`: {e}")))
        .ok()?;
    if sel.codes.is_empty() && sel.tag.0.iter().all(Option::is_none) {
        errors.push(format!(
            "`{text}` would drop every field; name the fields, e.g. `9XX`"
        ));
        return None;
    }
    Some(Action::Drop(sel))
}

fn compile_move(m: &MoveSpec, errors: &mut Vec<String>) -> Option<Action> {
    let before = errors.len();
    for (key, tag) in [("from", &m.from), ("to", &m.to)] {
        match exact_tag(tag) {
            Err(e) => errors.push(format!("{key} `{tag}`: {e}")),
            Ok(()) if is_control_tag(tag) => errors.push(format!(
                "{key} `{tag}`: move works on data fields, not control fields 001-009"
            )),
            Ok(()) => {}
        }
    }
    if m.from == m.to {
        errors.push(format!(
            "from and to are both `{}`; to change subfields in place use replace or drop",
            m.from
        ));
    }
    let map = match &m.subfields {
        None => {
            if m.keep_unmapped {
                errors.push(
                    "keep-unmapped needs a subfields table; without one every subfield is kept"
                        .into(),
                );
            }
            None
        }
        Some(table) if table.is_empty() => {
            errors.push(
                "subfields is empty, which would drop every subfield; map at least one code or leave subfields out to keep them all"
                    .into(),
            );
            None
        }
        Some(table) => {
            let mut map = BTreeMap::new();
            for (from, to) in table {
                match (subfield_code(from), subfield_code(to)) {
                    (Ok(f), Ok(t)) => {
                        map.insert(f, t);
                    }
                    (f, t) => {
                        for e in [f.err(), t.err()].into_iter().flatten() {
                            errors.push(format!("subfields: {e}"));
                        }
                    }
                }
            }
            Some(map)
        }
    };
    let ind1 = optional_indicator("ind1", m.ind1.as_deref(), errors);
    let ind2 = optional_indicator("ind2", m.ind2.as_deref(), errors);
    (errors.len() == before).then(|| Action::Move {
        from: m.from.clone(),
        to: m.to.clone(),
        map,
        keep_unmapped: m.keep_unmapped,
        ind1,
        ind2,
    })
}

fn compile_add(a: &AddSpec, errors: &mut Vec<String>) -> Option<Action> {
    let before = errors.len();
    if let Err(e) = exact_tag(&a.tag) {
        errors.push(format!("tag `{}`: {e}", a.tag));
        return None;
    }
    if a.value.is_empty() {
        errors.push("value is empty; give the text to add".into());
    }
    if is_control_tag(&a.tag) {
        for (key, given) in [
            ("subfield", a.subfield.is_some()),
            ("ind1", a.ind1.is_some()),
            ("ind2", a.ind2.is_some()),
            ("to-existing", a.to_existing),
        ] {
            if given {
                errors.push(format!(
                    "{key} does not apply to control field {}, which has only a value",
                    a.tag
                ));
            }
        }
        return (errors.len() == before).then(|| Action::AddControl {
            tag: a.tag.clone(),
            value: a.value.clone(),
            if_missing: a.if_missing,
        });
    }
    let code = match a.subfield.as_deref().map(subfield_code) {
        None => {
            errors.push(format!(
                "subfield is missing: data field {} needs `subfield = \"a\"` (or another code)",
                a.tag
            ));
            None
        }
        Some(Err(e)) => {
            errors.push(format!("subfield: {e}"));
            None
        }
        Some(Ok(c)) => Some(c),
    };
    if a.to_existing {
        for (key, given) in [("ind1", a.ind1.is_some()), ("ind2", a.ind2.is_some())] {
            if given {
                errors.push(format!(
                    "{key} does not apply with to-existing = true, which adds no field"
                ));
            }
        }
        return code
            .filter(|_| errors.len() == before)
            .map(|code| Action::AddSubfield {
                tag: a.tag.clone(),
                code,
                value: a.value.clone(),
                if_missing: a.if_missing,
            });
    }
    let ind1 = optional_indicator("ind1", a.ind1.as_deref(), errors).unwrap_or(' ');
    let ind2 = optional_indicator("ind2", a.ind2.as_deref(), errors).unwrap_or(' ');
    code.filter(|_| errors.len() == before)
        .map(|code| Action::AddField {
            tag: a.tag.clone(),
            ind1,
            ind2,
            code,
            value: a.value.clone(),
            if_missing: a.if_missing,
        })
}

fn compile_replace(r: &ReplaceSpec, errors: &mut Vec<String>) -> Option<Action> {
    let before = errors.len();
    let target = Selector::parse(&r.field)
        .map_err(|e| errors.push(format!("field `{}`: {e}", r.field)))
        .ok();
    let regex = if r.pattern.is_empty() {
        errors.push("pattern is empty; it would match between every two characters".into());
        None
    } else {
        match Regex::new(&r.pattern) {
            Ok(regex) => Some(regex),
            Err(e) => {
                // The regex crate's message is multi-line, with a caret
                // under the problem; keep it readable on one log line.
                let detail = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                errors.push(format!(
                    "pattern `{}` is not a valid regex: {detail}",
                    r.pattern
                ));
                None
            }
        }
    };
    if let Some(regex) = &regex {
        for group in unknown_groups(regex, &r.with) {
            errors.push(format!(
                "with `{}` refers to group `{group}`, which pattern does not have (write `${{1}}a`, not `$1a`; `$$` is a literal `$`)",
                r.with
            ));
        }
    }
    match (target, regex) {
        (Some(target), Some(regex)) if errors.len() == before => Some(Action::Replace {
            target,
            regex,
            with: r.with.clone(),
        }),
        _ => None,
    }
}

/// The group references in a replacement string that the regex lacks, by
/// the regex crate's own reading of `$name`, `${name}` and `$$`.
fn unknown_groups(regex: &Regex, with: &str) -> Vec<String> {
    let names: Vec<&str> = regex.capture_names().flatten().collect();
    let known = |g: &str| match g.parse::<usize>() {
        Ok(n) => n < regex.captures_len(),
        Err(_) => names.contains(&g),
    };
    let mut unknown = Vec::new();
    let mut rest = with;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let group = if let Some(after) = rest.strip_prefix('$') {
            rest = after;
            continue;
        } else if let Some(braced) = rest.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => {
                    rest = &braced[end + 1..];
                    &braced[..end]
                }
                // The regex crate writes an unclosed `${` literally.
                None => continue,
            }
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..end];
            rest = &rest[end..];
            name
        };
        // A `$` followed by nothing that can name a group is literal.
        if !group.is_empty() && !known(group) {
            unknown.push(group.to_string());
        }
    }
    unknown
}

fn compile_when(when: &BTreeMap<String, Values>, errors: &mut Vec<String>) -> Vec<Condition> {
    let mut out = Vec::new();
    for (key, Values(values)) in when {
        if values.is_empty() {
            errors.push(format!(
                "when: `{key}` is an empty list; give at least one value"
            ));
            continue;
        }
        match key.as_str() {
            "has" | "lacks" => {
                for v in values {
                    match Selector::parse(v) {
                        Ok(sel) if key == "has" => out.push(Condition::Has(sel)),
                        Ok(sel) => out.push(Condition::Lacks(sel)),
                        Err(e) => errors.push(format!("when: {key} `{v}`: {e}")),
                    }
                }
            }
            _ => match position_key(key) {
                Ok((tag, pos, limit)) => {
                    let before = errors.len();
                    for v in values {
                        let len = v.chars().count();
                        if v.is_empty() {
                            errors.push(format!("when: `{key}` has an empty value"));
                        } else if v.contains('#') {
                            errors.push(format!(
                                "when: {key} `{v}`: a blank is written as a space, not `#`"
                            ));
                        } else if limit.is_some_and(|limit| pos + len > limit) {
                            errors.push(format!(
                                "when: {key} `{v}` reaches past the end ({} is {} characters long)",
                                tag.as_deref().unwrap_or("the leader"),
                                limit.unwrap_or(0)
                            ));
                        }
                    }
                    if errors.len() == before {
                        let any_of = values.clone();
                        out.push(match tag {
                            None => Condition::Leader { pos, any_of },
                            Some(tag) => Condition::Control { tag, pos, any_of },
                        });
                    }
                }
                Err(e) => errors.push(format!("when: {e}")),
            },
        }
    }
    out
}

/// Reads `leader-NN` or `field-TTT-NN`: the control tag (none for the
/// leader), the 0-based position and the length of what holds it, if fixed.
fn position_key(key: &str) -> Result<(Option<String>, usize, Option<usize>), String> {
    let unknown = || {
        format!(
            "unknown condition `{key}`; use leader-NN, field-TTT-NN (TTT 001-009), has or lacks"
        )
    };
    let (tag, pos) = if let Some(pos) = key.strip_prefix("leader-") {
        (None, pos)
    } else if let Some(rest) = key.strip_prefix("field-") {
        let (tag, pos) = rest.split_once('-').ok_or_else(unknown)?;
        if exact_tag(tag).is_err() || !is_control_tag(tag) || tag == "000" {
            return Err(format!(
                "`{key}`: positions are only defined for control fields 001-009, not `{tag}`"
            ));
        }
        (Some(tag.to_string()), pos)
    } else {
        return Err(unknown());
    };
    if pos.is_empty() || pos.len() > 2 || !pos.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{key}`: the position must be one or two digits, counted from 0, e.g. leader-06"
        ));
    }
    let pos: usize = pos.parse().map_err(|_| unknown())?;
    let limit = match tag.as_deref() {
        None => Some(unicat_marc::LEADER_LEN),
        Some("006") => Some(18),
        Some("008") => Some(40),
        Some(_) => None,
    };
    Ok((tag, pos, limit))
}

fn is_control_tag(tag: &str) -> bool {
    tag.starts_with("00")
}

/// An exact tag: three ASCII letters or digits, no wildcard.
fn exact_tag(tag: &str) -> Result<(), String> {
    let p = TagPattern::parse(tag)?;
    if p.0.iter().any(Option::is_none) {
        return Err("a wildcard (X) is not allowed here; give the exact tag".into());
    }
    Ok(())
}

fn subfield_code(s: &str) -> Result<char, String> {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_lowercase() || c.is_ascii_digit() => Ok(c),
        (Some(c), None) => Err(format!("unknown subfield code '{c}'; codes are a-z or 0-9")),
        _ => Err(format!(
            "subfield code `{s}` must be a single character, a-z or 0-9"
        )),
    }
}

fn optional_indicator(key: &str, s: Option<&str>, errors: &mut Vec<String>) -> Option<char> {
    let s = s?;
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c == ' ' || c.is_ascii_lowercase() || c.is_ascii_digit() => Some(c),
        _ => {
            errors.push(format!(
                "{key} `{s}` is not an indicator: one character, a digit, a-z or a space (blank)"
            ));
            None
        }
    }
}

impl TagPattern {
    fn parse(s: &str) -> Result<TagPattern, String> {
        let chars: Vec<char> = s.chars().collect();
        let [a, b, c] = chars[..] else {
            return Err("a tag is three characters, e.g. `245` or `9XX`".into());
        };
        let mut out = [None; 3];
        for (slot, ch) in out.iter_mut().zip([a, b, c]) {
            *slot = match ch {
                'X' | 'x' => None,
                c if c.is_ascii_alphanumeric() => Some(c),
                c => {
                    return Err(format!(
                        "'{c}' cannot be in a tag; use digits, letters, and X for any character"
                    ))
                }
            };
        }
        Ok(TagPattern(out))
    }

    fn matches(&self, tag: &str) -> bool {
        let mut chars = tag.chars();
        for p in &self.0 {
            match (p, chars.next()) {
                (_, None) => return false,
                (Some(p), Some(c)) if *p != c => return false,
                _ => {}
            }
        }
        chars.next().is_none()
    }
}

impl fmt::Display for TagPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            write!(f, "{}", p.unwrap_or('X'))?;
        }
        Ok(())
    }
}

impl Selector {
    fn parse(s: &str) -> Result<Selector, String> {
        let (tag, codes) = match s.split_once('$') {
            Some((tag, codes)) => (tag, Some(codes)),
            None => (s, None),
        };
        let tag = TagPattern::parse(tag)?;
        let mut out = Vec::new();
        if let Some(codes) = codes {
            if codes.is_empty() {
                return Err("`$` must be followed by subfield codes, e.g. `852$x`".into());
            }
            if tag.0[..2] == [Some('0'), Some('0')] {
                return Err("control fields 001-009 have no subfields".into());
            }
            for c in codes.chars() {
                let c = subfield_code(&c.to_string())?;
                if !out.contains(&c) {
                    out.push(c);
                }
            }
            out.sort_unstable();
        }
        Ok(Selector { tag, codes: out })
    }

    /// The record has a field this selects (with codes: a data field
    /// holding at least one of them).
    fn present_in(&self, record: &Record) -> bool {
        record.fields.iter().any(|f| {
            self.tag.matches(f.tag())
                && (self.codes.is_empty()
                    || f.as_data()
                        .is_some_and(|d| d.subfields.iter().any(|s| self.codes.contains(&s.code))))
        })
    }

    fn selects_code(&self, code: char) -> bool {
        self.codes.is_empty() || self.codes.contains(&code)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.tag)?;
        if !self.codes.is_empty() {
            f.write_str("$")?;
            for c in &self.codes {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl Condition {
    fn holds(&self, record: &Record) -> bool {
        match self {
            Condition::Leader { pos, any_of } => {
                any_of.iter().any(|v| reads_at(&record.leader, *pos, v))
            }
            Condition::Control { tag, pos, any_of } => record
                .fields
                .iter()
                .filter_map(Field::as_control)
                .filter(|c| c.tag == *tag)
                .any(|c| any_of.iter().any(|v| reads_at(&c.value, *pos, v))),
            Condition::Has(sel) => sel.present_in(record),
            Condition::Lacks(sel) => !sel.present_in(record),
        }
    }
}

/// `text` from character position `pos` starts with `value`.
fn reads_at(text: &str, pos: usize, value: &str) -> bool {
    let mut chars = text.chars().skip(pos);
    value.chars().all(|v| chars.next() == Some(v))
}

impl Action {
    /// Carry out the action; true if the record changed.
    fn apply(&self, record: &mut Record) -> bool {
        match self {
            Action::Drop(sel) => drop_selected(sel, record),
            Action::Move {
                from,
                to,
                map,
                keep_unmapped,
                ind1,
                ind2,
            } => {
                let is_from = |f: &Field| matches!(f, Field::Data(d) if d.tag == *from);
                if !record.fields.iter().any(is_from) {
                    return false;
                }
                let (moved, kept): (Vec<Field>, Vec<Field>) = std::mem::take(&mut record.fields)
                    .into_iter()
                    .partition(is_from);
                record.fields = kept;
                for field in moved {
                    let Field::Data(mut d) = field else {
                        unreachable!("only data fields are partitioned out")
                    };
                    d.tag.clone_from(to);
                    d.ind1 = ind1.unwrap_or(d.ind1);
                    d.ind2 = ind2.unwrap_or(d.ind2);
                    if let Some(map) = map {
                        d.subfields.retain_mut(|s| match map.get(&s.code) {
                            Some(&code) => {
                                s.code = code;
                                true
                            }
                            None => *keep_unmapped,
                        });
                    }
                    if !d.subfields.is_empty() {
                        record.insert_sorted(Field::Data(d));
                    }
                }
                true
            }
            Action::AddControl {
                tag,
                value,
                if_missing,
            } => match record.control(tag) {
                Some(_) if *if_missing => false,
                Some(old) if old == value => false,
                _ => {
                    record.set_control(tag, value.clone());
                    true
                }
            },
            Action::AddField {
                tag,
                ind1,
                ind2,
                code,
                value,
                if_missing,
            } => {
                if *if_missing && record.fields.iter().any(|f| f.tag() == tag) {
                    return false;
                }
                record.insert_sorted(Field::Data(
                    DataField::new(tag.as_str(), *ind1, *ind2).with(*code, value.as_str()),
                ));
                true
            }
            Action::AddSubfield {
                tag,
                code,
                value,
                if_missing,
            } => {
                let mut changed = false;
                for f in &mut record.fields {
                    if let Field::Data(d) = f {
                        if d.tag == *tag && !(*if_missing && d.subfield(*code).is_some()) {
                            d.push(*code, value.as_str());
                            changed = true;
                        }
                    }
                }
                changed
            }
            Action::Replace {
                target,
                regex,
                with,
            } => {
                let mut changed = false;
                let mut edit = |value: &mut String| {
                    if let std::borrow::Cow::Owned(new) = regex.replace_all(value, with.as_str()) {
                        if new != *value {
                            *value = new;
                            changed = true;
                        }
                    }
                };
                for f in &mut record.fields {
                    match f {
                        Field::Control(ControlField { tag, value })
                            if target.codes.is_empty() && target.tag.matches(tag) =>
                        {
                            edit(value)
                        }
                        Field::Data(d) if target.tag.matches(&d.tag) => d
                            .subfields
                            .iter_mut()
                            .filter(|s| target.selects_code(s.code))
                            .for_each(|s| edit(&mut s.value)),
                        _ => {}
                    }
                }
                changed
            }
        }
    }
}

fn drop_selected(sel: &Selector, record: &mut Record) -> bool {
    let before = record.fields.len();
    if sel.codes.is_empty() {
        record.fields.retain(|f| !sel.tag.matches(f.tag()));
        return record.fields.len() != before;
    }
    let mut changed = false;
    record.fields.retain_mut(|f| match f {
        Field::Data(d) if sel.tag.matches(&d.tag) => {
            let n = d.subfields.len();
            d.subfields.retain(|s| !sel.codes.contains(&s.code));
            if d.subfields.len() == n {
                return true;
            }
            changed = true;
            // A field we emptied goes; one that came empty is not ours to judge.
            !d.subfields.is_empty()
        }
        _ => true,
    });
    changed
}

/// Canonical, unambiguous text of a rule for the fingerprint: user text is
/// written length-prefixed (`3:abc`), never through `Debug`, whose escaping
/// may change between Rust versions.
impl Rule {
    fn canonical(&self, out: &mut String) {
        use std::fmt::Write as _;
        let s = |t: &str| format!("{}:{t}", t.len());
        // Conditions in a fixed order, whatever order the map gave them.
        let mut conds: Vec<String> = self
            .when
            .iter()
            .map(|c| match c {
                Condition::Leader { pos, any_of } => format!(
                    "leader-{pos:02}=[{}]",
                    any_of.iter().map(|v| s(v)).collect::<Vec<_>>().join(",")
                ),
                Condition::Control { tag, pos, any_of } => format!(
                    "field-{tag}-{pos:02}=[{}]",
                    any_of.iter().map(|v| s(v)).collect::<Vec<_>>().join(",")
                ),
                Condition::Has(sel) => format!("has={sel}"),
                Condition::Lacks(sel) => format!("lacks={sel}"),
            })
            .collect();
        conds.sort();
        let _ = write!(out, "when({}) ", conds.join(";"));
        let ind = |c: &Option<char>| c.map_or("keep".to_string(), |c| format!("'{c}'"));
        let _ = match &self.action {
            Action::Drop(sel) => write!(out, "drop {sel}"),
            Action::Move {
                from,
                to,
                map,
                keep_unmapped,
                ind1,
                ind2,
            } => {
                let map = map.as_ref().map_or("all".to_string(), |m| {
                    m.iter()
                        .map(|(f, t)| format!("{f}={t}"))
                        .collect::<Vec<_>>()
                        .join(",")
                });
                write!(
                    out,
                    "move {from}->{to} map({map}) keep-unmapped={keep_unmapped} ind1={} ind2={}",
                    ind(ind1),
                    ind(ind2)
                )
            }
            Action::AddControl {
                tag,
                value,
                if_missing,
            } => write!(
                out,
                "add control {tag}={} if-missing={if_missing}",
                s(value)
            ),
            Action::AddField {
                tag,
                ind1,
                ind2,
                code,
                value,
                if_missing,
            } => write!(
                out,
                "add field {tag} '{ind1}' '{ind2}' ${code}={} if-missing={if_missing}",
                s(value)
            ),
            Action::AddSubfield {
                tag,
                code,
                value,
                if_missing,
            } => write!(
                out,
                "add subfield {tag} ${code}={} if-missing={if_missing}",
                s(value)
            ),
            Action::Replace {
                target,
                regex,
                with,
            } => write!(
                out,
                "replace {target} pattern={} with={}",
                s(regex.as_str()),
                s(with)
            ),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(toml_text: &str) -> Vec<RuleSpec> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            rule: Vec<RuleSpec>,
        }
        toml::from_str::<File>(toml_text).expect("valid TOML").rule
    }

    fn compile(toml_text: &str) -> Result<Rules, Vec<RuleError>> {
        Rules::compile(&specs(toml_text))
    }

    fn errors(toml_text: &str) -> Vec<String> {
        compile(toml_text)
            .expect_err("rules should be refused")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn record() -> Record {
        let mut r = Record::new("00000nam a2200000 i 4500");
        r.push(ControlField::new("001", "1").into());
        r.push(DataField::new("245", '1', '0').with('a', "T").into());
        r.push(DataField::new("952", ' ', ' ').with('o', "QA1").into());
        r
    }

    // A typo in an action key must be refused by serde, as in the rest of
    // the config, not ignored.
    #[test]
    fn unknown_key_is_refused() {
        let e = toml::from_str::<RuleSpec>("dorp = \"9XX\"").unwrap_err();
        assert!(e.to_string().contains("unknown field `dorp`"), "{e}");
        let e = toml::from_str::<RuleSpec>("move = { from = \"952\", too = \"852\" }").unwrap_err();
        assert!(e.to_string().contains("unknown field `too`"), "{e}");
    }

    // Errors count rules from 1 and name the action, as the sysadmin sees them.
    #[test]
    fn errors_name_the_rule_and_action() {
        let e = errors(
            "[[rule]]\ndrop = \"9XX\"\n[[rule]]\nmove = { from = \"952\", to = \"852\", subfields = { \"!\" = \"a\" } }\n",
        );
        assert_eq!(
            e,
            ["rule 2 (move): subfields: unknown subfield code '!'; codes are a-z or 0-9"]
        );
    }

    // Every problem is reported at once, so one edit fixes them all.
    #[test]
    fn all_errors_are_reported() {
        let e = errors(
            "[[rule]]\ndrop = \"9X\"\n[[rule]]\n[[rule]]\ndrop = \"1XX\"\nadd = { tag = \"003\", value = \"x\" }\n[[rule]]\nreplace = { field = \"245$a\", pattern = \"(\", with = \"\" }\n",
        );
        assert_eq!(e.len(), 4, "{e:#?}");
        assert!(e[0].starts_with("rule 1 (drop): `9X`: a tag is three"));
        assert!(e[1].starts_with("rule 2: no action"));
        assert!(e[2].starts_with("rule 3: one action per rule, found drop and add"));
        assert!(e[3].starts_with("rule 4 (replace): pattern `(` is not a valid regex"));
        assert!(!e[3].contains('\n'), "{}", e[3]);
    }

    // `$1a` silently means group "1a" in the regex crate; refuse it.
    #[test]
    fn unknown_replacement_groups_are_refused() {
        let e =
            errors("[[rule]]\nreplace = { field = \"245$a\", pattern = \"(x)\", with = \"$1a\" }");
        assert!(e[0].contains("group `1a`"), "{e:?}");
        assert!(compile("[[rule]]\nreplace = { field = \"245$a\", pattern = \"(?<n>x)\", with = \"${1}a${n}$$ $\" }").is_ok());
    }

    // The condition keys are parsed by compile, so their typos must still fail.
    #[test]
    fn unknown_condition_is_refused() {
        let e = errors("[[rule]]\ndrop = \"9XX\"\nwhen = { leadr-06 = \"a\" }");
        assert!(e[0].contains("unknown condition `leadr-06`"), "{e:?}");
        let e = errors("[[rule]]\ndrop = \"9XX\"\nwhen = { leader-23 = \"ab\" }");
        assert!(e[0].contains("reaches past the end"), "{e:?}");
        let e = errors("[[rule]]\ndrop = \"9XX\"\nwhen = { field-245-01 = \"a\" }");
        assert!(e[0].contains("only defined for control fields"), "{e:?}");
    }

    // Hits name the rules that changed the record, and only those.
    #[test]
    fn hits_are_the_rules_that_changed_something() {
        let rules = compile(
            "[[rule]]\ndrop = \"9XX\"\n[[rule]]\ndrop = \"5XX\"\n[[rule]]\nadd = { tag = \"003\", value = \"X\" }\n",
        )
        .unwrap();
        let mut r = record();
        let hits = rules.apply(&mut r);
        assert_eq!(
            hits,
            [
                RuleHit {
                    index: 0,
                    action: "drop"
                },
                RuleHit {
                    index: 2,
                    action: "add"
                }
            ]
        );
        // Setting 003 to the value it already has is no change.
        assert_eq!(rules.apply(&mut r), []);
    }

    // The fingerprint follows meaning, not spelling.
    #[test]
    fn fingerprint_ignores_spelling_but_not_meaning() {
        let a = compile("[[rule]]\ndrop = \"9xx$ba\"\nwhen = { has = \"020\", leader-6 = \"a\" }")
            .unwrap();
        let b = compile(
            "# comment\n[[rule]]\nwhen = { leader-06 = [\"a\"], has = [\"020\"] }\ndrop = \"9XX$ab\"",
        )
        .unwrap();
        let c = compile("[[rule]]\ndrop = \"9XX$ab\"\nwhen = { leader-06 = \"t\", has = \"020\" }")
            .unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_ne!(a.fingerprint(), Rules::default().fingerprint());
        assert_eq!(a.fingerprint().len(), 64);
    }

    // The fingerprint is stored across restarts: pin it so that a change to
    // the canonical form is a deliberate one (it re-normalises everything).
    #[test]
    fn fingerprint_is_stable() {
        let rules =
            compile("[[rule]]\nmove = { from = \"952\", to = \"852\", subfields = { a = \"a\" } }")
                .unwrap();
        assert_eq!(
            rules.fingerprint(),
            "bd335932d04184a7cdcab0bfbfa13bc2cfbc431a67dfabc98284d860dc095de1"
        );
    }

    // The shape the configuration will use: `[[partner.rule]]` tables under
    // each `[[partner]]`, spanned so that a RuleError can be given its line.
    #[test]
    fn partner_rule_tables_parse_with_spans() {
        #[derive(Deserialize)]
        struct Partner {
            #[serde(default, rename = "rule")]
            rules: Vec<toml::Spanned<RuleSpec>>,
        }
        #[derive(Deserialize)]
        struct Config {
            partner: Vec<Partner>,
        }
        let text = "[[partner]]\n[[partner.rule]]\ndrop = \"9XX\"\n[[partner.rule]]\ndrop = \"9\"\n[[partner]]\n";
        let c: Config = toml::from_str(text).unwrap();
        assert_eq!(c.partner[0].rules.len(), 2);
        assert!(c.partner[1].rules.is_empty());
        let specs: Vec<RuleSpec> = c.partner[0]
            .rules
            .iter()
            .map(|r| r.get_ref().clone())
            .collect();
        let err = &Rules::compile(&specs).unwrap_err()[0];
        let line = text[..c.partner[0].rules[err.index].span().start]
            .matches('\n')
            .count()
            + 1;
        assert_eq!((err.index, line), (1, 4));
    }

    // Positions compare as many characters as the value has; a short field fails.
    #[test]
    fn reads_at_compares_the_value_length() {
        assert!(reads_at("abcdef", 2, "cd"));
        assert!(!reads_at("abcdef", 5, "fg"));
        assert!(!reads_at("ab", 5, "x"));
    }
}
