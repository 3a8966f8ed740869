//! Merging a cluster into one union record. Pure and deterministic.
//!
//! The most complete member is the base (a documented score, ties broken by
//! partner and identifier so the choice never depends on harvest order). The
//! union record keeps the base's descriptive fields, gathers every member's
//! 035 (provenance, including the `(CODE)001` normalisation added) and
//! ISBNs the base lacks, and gets one 852 per holding partner so a reader
//! sees every library that holds the book. 001/003 carry the union control
//! number and the catalogue's code.

use std::collections::BTreeSet;

use unicat_marc::{ControlField, DataField, Field, Record};

/// One member of a cluster, as merge sees it.
#[derive(Debug, Clone)]
pub struct Member<'a> {
    /// Partner name (for ordering).
    pub partner: &'a str,
    /// Partner holdings code (852 $a).
    pub partner_code: &'a str,
    /// OAI identifier (for ordering).
    pub oai_id: &'a str,
    /// The normalised record.
    pub record: &'a Record,
}

/// Completeness score of a record: more data fields and subfields is more
/// complete, a full encoding level (leader/17 blank or `1`) adds weight.
/// Simple and documented on purpose: a sysadmin must be able to predict it.
pub fn completeness(record: &Record) -> u32 {
    let mut score = 0u32;
    for f in &record.fields {
        if let Field::Data(d) = f {
            score += 2 + d.subfields.len() as u32;
        }
    }
    match record.leader.as_bytes().get(17) {
        Some(b' ') | Some(b'1') => score += 10,
        Some(b'4') | Some(b'7') => score += 4,
        _ => {}
    }
    score
}

/// Fields that are replaced or rebuilt in the union record.
const REBUILT: &[&str] = &["001", "003", "005", "035", "852"];

/// Build the union record for a cluster. `members` may come in any order.
pub fn merge(cluster_id: &str, catalogue_code: &str, members: &[Member<'_>]) -> Option<Record> {
    let mut ordered: Vec<&Member<'_>> = members.iter().collect();
    ordered.sort_by(|a, b| (a.partner, a.oai_id).cmp(&(b.partner, b.oai_id)));
    let base = ordered
        .iter()
        .copied()
        // max_by_key returns the last maximum; iterate in reverse so the
        // lowest (partner, id) wins ties.
        .rev()
        .max_by_key(|m| completeness(m.record))?;

    let mut out = Record::new(base.record.leader.clone());
    out.push(Field::Control(ControlField {
        tag: "001".into(),
        value: cluster_id.into(),
    }));
    out.push(Field::Control(ControlField {
        tag: "003".into(),
        value: catalogue_code.into(),
    }));
    for f in &base.record.fields {
        if !REBUILT.contains(&f.tag()) {
            out.push(f.clone());
        }
    }

    // ISBNs other members have and the base lacks (e.g. the paperback's).
    let mut isbns: BTreeSet<String> = base
        .record
        .data_fields("020")
        .flat_map(|f| f.subfields_of('a').map(str::to_string))
        .collect();
    for m in &ordered {
        if std::ptr::eq(*m, base) {
            continue;
        }
        for f in m.record.data_fields("020") {
            if let Some(a) = f.subfield('a') {
                if isbns.insert(a.to_string()) {
                    out.insert_sorted(Field::Data(f.clone()));
                }
            }
        }
    }

    // Every member's system numbers, each once, in member order.
    let mut seen = BTreeSet::new();
    for m in &ordered {
        for f in m.record.data_fields("035") {
            if let Some(a) = f.subfield('a') {
                if seen.insert(a.to_string()) {
                    out.insert_sorted(Field::Data(DataField::new("035", ' ', ' ').with('a', a)));
                }
            }
        }
    }

    // One holding per partner; location and call number from the partner's
    // own 852 when it has one.
    let mut holders = BTreeSet::new();
    for m in &ordered {
        if !holders.insert(m.partner_code) {
            continue;
        }
        let mut h = DataField::new("852", ' ', ' ').with('a', m.partner_code);
        if let Some(own) = m.record.data_fields("852").next() {
            if let Some(b) = own.subfield('b') {
                h = h.with('b', b);
            }
            if let Some(call) = own.subfield('h') {
                h = h.with('h', call);
            }
        }
        out.insert_sorted(Field::Data(h));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, extra: usize) -> Record {
        let mut r = Record::new("00000nam a2200000 i 4500");
        r.push(Field::Control(ControlField {
            tag: "001".into(),
            value: id.into(),
        }));
        r.push(Field::Data(
            DataField::new("035", ' ', ' ').with('a', format!("(X){id}")),
        ));
        r.push(Field::Data(
            DataField::new("245", '1', '0').with('a', "Title"),
        ));
        for i in 0..extra {
            r.push(Field::Data(
                DataField::new("500", ' ', ' ').with('a', format!("note {i}")),
            ));
        }
        r
    }

    // The richer record is the base; every member's 035 and one 852 per partner survive.
    #[test]
    fn merge_takes_richest_base_and_unions_provenance() {
        let a = rec("a1", 0);
        let b = rec("b1", 3);
        let members = [
            Member {
                partner: "anl",
                partner_code: "AZ",
                oai_id: "a1",
                record: &a,
            },
            Member {
                partner: "tsu",
                partner_code: "UZ",
                oai_id: "b1",
                record: &b,
            },
        ];
        let u = merge("uc1", "UNICAT", &members).unwrap();
        assert_eq!(u.control("001"), Some("uc1"));
        assert_eq!(u.data_fields("500").count(), 3);
        let ids: Vec<_> = u
            .data_fields("035")
            .filter_map(|f| f.subfield('a'))
            .collect();
        assert_eq!(ids, vec!["(X)a1", "(X)b1"]);
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
        let m1 = [
            Member {
                partner: "anl",
                partner_code: "AZ",
                oai_id: "a1",
                record: &a,
            },
            Member {
                partner: "tsu",
                partner_code: "UZ",
                oai_id: "b1",
                record: &b,
            },
        ];
        let m2 = [m1[1].clone(), m1[0].clone()];
        assert_eq!(merge("u", "C", &m1), merge("u", "C", &m2));
    }
}
