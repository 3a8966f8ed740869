//! The in-memory MARC 21 record: a leader and an ordered list of control and
//! data fields.
//!
//! The model is deliberately thin and permissive: it holds whatever a reader
//! found, verbatim and in the order found, so that nothing is lost before the
//! normalisation and deduplication modules see it. It must not validate,
//! normalise, re-sort or interpret values; the readers validate structure on
//! the way in and the writers refuse what their format cannot express on the
//! way out.

/// Length of a MARC 21 leader, in characters (and bytes, in ISO 2709).
pub const LEADER_LEN: usize = 24;

/// One MARC 21 record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The leader. Readers guarantee 24 characters; [`Record::new`] does not
    /// check, and the writers report a leader of the wrong length.
    pub leader: String,
    /// The fields, in record order. Nothing in this crate re-sorts them.
    pub fields: Vec<Field>,
}

/// A control field (001-009) or a data field (010-999 and local tags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// A field holding a single value, without indicators or subfields.
    Control(ControlField),
    /// A field with two indicators and a list of subfields.
    Data(DataField),
}

/// A control field: a tag and an unstructured value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlField {
    /// The three-character tag, e.g. "001".
    pub tag: String,
    /// The value, verbatim (leading and trailing spaces are significant in
    /// fixed-length fields such as 008).
    pub value: String,
}

/// A data field: a tag, two indicators and subfields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataField {
    /// The three-character tag, e.g. "245".
    pub tag: String,
    /// First indicator; a blank indicator is a space.
    pub ind1: char,
    /// Second indicator; a blank indicator is a space.
    pub ind2: char,
    /// The subfields, in field order. Empty values are kept.
    pub subfields: Vec<Subfield>,
}

/// One subfield of a data field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subfield {
    /// The subfield code, e.g. 'a'.
    pub code: char,
    /// The value, verbatim.
    pub value: String,
}

impl Record {
    /// Creates a record with the given leader and no fields.
    ///
    /// The leader is not checked here; a leader that is not 24 characters is
    /// reported when the record is written as ISO 2709, and written as given
    /// to MARCXML.
    pub fn new(leader: impl Into<String>) -> Self {
        Record {
            leader: leader.into(),
            fields: Vec::new(),
        }
    }

    /// The value of the first control field with `tag`, if any.
    pub fn control(&self, tag: &str) -> Option<&str> {
        self.fields.iter().find_map(|f| match f {
            Field::Control(c) if c.tag == tag => Some(c.value.as_str()),
            _ => None,
        })
    }

    /// The data fields with `tag`, in record order.
    pub fn data_fields<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a DataField> + 'a {
        self.fields.iter().filter_map(move |f| match f {
            Field::Data(d) if d.tag == tag => Some(d),
            _ => None,
        })
    }

    /// All fields (control and data) whose tag starts with `prefix`, in
    /// record order; e.g. `"6"` for the subject fields.
    pub fn fields_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = &'a Field> + 'a {
        self.fields
            .iter()
            .filter(move |f| f.tag().starts_with(prefix))
    }

    /// The data fields whose tag starts with `prefix`, in record order.
    pub fn data_fields_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = &'a DataField> + 'a {
        self.fields.iter().filter_map(move |f| match f {
            Field::Data(d) if d.tag.starts_with(prefix) => Some(d),
            _ => None,
        })
    }

    /// Appends a field at the end, whatever its tag.
    pub fn push(&mut self, field: Field) {
        self.fields.push(field);
    }

    /// Sets the value of the control field `tag`.
    ///
    /// If the record has a control field with that tag, the first one gets the
    /// new value and any others are left alone (006 and 007 are repeatable, so
    /// dropping them would lose data). Otherwise a new control field is
    /// inserted as [`Record::insert_sorted`] would.
    pub fn set_control(&mut self, tag: &str, value: String) {
        let existing = self.fields.iter_mut().find_map(|f| match f {
            Field::Control(c) if c.tag == tag => Some(c),
            _ => None,
        });
        match existing {
            Some(c) => c.value = value,
            None => self.insert_sorted(Field::Control(ControlField::new(tag, value))),
        }
    }

    /// Removes every field (control or data) with `tag`.
    pub fn remove_fields(&mut self, tag: &str) {
        self.fields.retain(|f| f.tag() != tag);
    }

    /// Inserts `field` after the last field whose tag sorts at or before its
    /// own, so that it lands in tag order and after any existing fields with
    /// the same tag.
    ///
    /// "After the last such field" rather than "before the first greater one"
    /// keeps the promise about same-tag fields even when the record was not
    /// in tag order to begin with (partner records often are not).
    pub fn insert_sorted(&mut self, field: Field) {
        let tag = field.tag();
        let at = self
            .fields
            .iter()
            .rposition(|f| f.tag() <= tag)
            .map_or(0, |i| i + 1);
        self.fields.insert(at, field);
    }
}

impl Field {
    /// The tag of the field.
    pub fn tag(&self) -> &str {
        match self {
            Field::Control(c) => &c.tag,
            Field::Data(d) => &d.tag,
        }
    }

    /// The control field, if this is one.
    pub fn as_control(&self) -> Option<&ControlField> {
        match self {
            Field::Control(c) => Some(c),
            Field::Data(_) => None,
        }
    }

    /// The data field, if this is one.
    pub fn as_data(&self) -> Option<&DataField> {
        match self {
            Field::Data(d) => Some(d),
            Field::Control(_) => None,
        }
    }
}

impl From<ControlField> for Field {
    fn from(field: ControlField) -> Self {
        Field::Control(field)
    }
}

impl From<DataField> for Field {
    fn from(field: DataField) -> Self {
        Field::Data(field)
    }
}

impl ControlField {
    /// Creates a control field.
    pub fn new(tag: impl Into<String>, value: impl Into<String>) -> Self {
        ControlField {
            tag: tag.into(),
            value: value.into(),
        }
    }
}

impl DataField {
    /// Creates a data field with no subfields.
    pub fn new(tag: impl Into<String>, ind1: char, ind2: char) -> Self {
        DataField {
            tag: tag.into(),
            ind1,
            ind2,
            subfields: Vec::new(),
        }
    }

    /// Builder: appends a subfield and returns the field.
    #[must_use]
    pub fn with(mut self, code: char, value: impl Into<String>) -> Self {
        self.push(code, value);
        self
    }

    /// Appends a subfield.
    pub fn push(&mut self, code: char, value: impl Into<String>) {
        self.subfields.push(Subfield::new(code, value));
    }

    /// The value of the first subfield with `code`, if any.
    pub fn subfield(&self, code: char) -> Option<&str> {
        self.subfields_of(code).next()
    }

    /// The values of all subfields with `code`, in field order.
    pub fn subfields_of<'a>(&'a self, code: char) -> impl Iterator<Item = &'a str> + 'a {
        self.subfields
            .iter()
            .filter(move |s| s.code == code)
            .map(|s| s.value.as_str())
    }
}

impl Subfield {
    /// Creates a subfield.
    pub fn new(code: char, value: impl Into<String>) -> Self {
        Subfield {
            code,
            value: value.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(record: &Record) -> Vec<&str> {
        record.fields.iter().map(Field::tag).collect()
    }

    fn sample() -> Record {
        let mut r = Record::new("00000nam a2200000 i 4500");
        r.push(ControlField::new("001", "abc").into());
        r.push(ControlField::new("008", "x").into());
        r.push(
            DataField::new("245", '1', '0')
                .with('6', "880-01")
                .with('a', "Title")
                .with('a', "")
                .into(),
        );
        r.push(DataField::new("650", ' ', '0').with('a', "A").into());
        r.push(DataField::new("651", ' ', '0').with('a', "B").into());
        r.push(DataField::new("650", ' ', '7').with('a', "C").into());
        r
    }

    /// The accessors are what every other module uses to read records.
    #[test]
    fn accessors_find_fields_and_subfields() {
        let r = sample();
        assert_eq!(r.control("001"), Some("abc"));
        assert_eq!(r.control("005"), None);
        let subjects: Vec<_> = r
            .data_fields("650")
            .filter_map(|d| d.subfield('a'))
            .collect();
        assert_eq!(subjects, ["A", "C"]);
        assert_eq!(r.fields_with_prefix("65").count(), 3);
        assert_eq!(r.data_fields_with_prefix("6").count(), 3);
        let title = r.data_fields("245").next().expect("245 present");
        assert_eq!(title.subfields_of('a').collect::<Vec<_>>(), ["Title", ""]);
        assert_eq!(title.subfield('6'), Some("880-01"));
        assert_eq!(title.subfield('z'), None);
    }

    /// insert_sorted must land after same-tag fields even in unsorted records.
    #[test]
    fn insert_sorted_goes_after_fields_with_the_same_tag() {
        let mut r = sample();
        r.insert_sorted(DataField::new("650", ' ', '4').with('a', "D").into());
        assert_eq!(tags(&r), ["001", "008", "245", "650", "651", "650", "650"]);
        r.insert_sorted(DataField::new("100", '1', ' ').into());
        assert_eq!(
            tags(&r),
            ["001", "008", "100", "245", "650", "651", "650", "650"]
        );
        r.insert_sorted(ControlField::new("000", "").into());
        assert_eq!(tags(&r)[0], "000");
        let mut empty = Record::new("");
        empty.insert_sorted(DataField::new("245", '0', '0').into());
        assert_eq!(tags(&empty), ["245"]);
    }

    /// set_control replaces in place or inserts in tag order.
    #[test]
    fn set_control_replaces_or_inserts() {
        let mut r = sample();
        r.set_control("001", "xyz".into());
        assert_eq!(r.control("001"), Some("xyz"));
        assert_eq!(r.fields.len(), 6);
        r.set_control("005", "20240101000000.0".into());
        assert_eq!(tags(&r)[..3], ["001", "005", "008"]);
    }

    /// remove_fields removes all occurrences, control or data.
    #[test]
    fn remove_fields_removes_every_occurrence() {
        let mut r = sample();
        r.remove_fields("650");
        assert_eq!(tags(&r), ["001", "008", "245", "651"]);
        r.remove_fields("001");
        assert_eq!(r.control("001"), None);
    }
}
