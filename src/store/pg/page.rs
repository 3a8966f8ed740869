//! One harvested page written to PostgreSQL in a handful of set-based
//! statements, whatever its size (issue #20, "round trips, not rows").
//!
//! Written item by item, a page of 500 records cost about a thousand
//! statements (each record's row, then its keys), each a round trip to
//! the server, and the harvest on PostgreSQL ran at a fifth of SQLite's
//! speed. Here the page is first folded, in memory and in page order, into
//! one final change per record and the counts the page reports (`plan`,
//! pure); the changes are then written by kind, each kind in one statement
//! over arrays (`unnest`): new rows, rewritten rows, redelivered rows,
//! deletions, the old keys removed, the new keys, quarantine entries
//! (`write`). The fold replays what writing the items one at a time did —
//! a record listed twice in a page counts twice, in order, and a
//! quarantine entry is resolved only by a readable version listed after
//! it — so the store ends as it did; `tests/store.rs` holds both backends
//! to the same contract.

use std::borrow::Cow;
use std::collections::HashMap;

use anyhow::{Context, Result};
use postgres::Transaction;

use super::{pg_text, prep, Stmts};
use crate::store::{PageCounts, PageItem};

/// What the store held for one of the page's records before the page.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub id: i64,
    pub deleted: bool,
    pub content_hash: Option<String>,
}

/// Every column a page sets on a row it writes whole.
#[derive(Debug, Clone, PartialEq)]
struct Row<'a> {
    local_id: Option<&'a str>,
    datestamp: &'a str,
    deleted: bool,
    raw: &'a str,
    record: Option<&'a str>,
    content_hash: Option<&'a str>,
    keys: &'a [String],
}

/// The page's net change to a row the store already held.
#[derive(Debug, Clone, PartialEq)]
enum Change<'a> {
    /// Listed, but nothing to write (a deletion of a deleted record).
    Nothing,
    /// The same content again: datestamp and raw text only, dedup is not
    /// disturbed.
    Touch { datestamp: &'a str, raw: &'a str },
    /// Every column, the keys replaced.
    Whole(Row<'a>),
    /// Deleted, its keys removed; `raw` when the record was redelivered
    /// earlier in the page, before its deletion.
    Delete {
        datestamp: &'a str,
        raw: Option<&'a str>,
    },
}

/// One record of the page: new to the store, or held by it.
#[derive(Debug, Clone, PartialEq)]
enum Target<'a> {
    New(Row<'a>),
    Held { id: i64, change: Change<'a> },
}

/// A record's state as the fold goes through the page.
#[derive(Debug)]
struct Slot<'a> {
    oai_id: &'a str,
    deleted: bool,
    content_hash: Option<Cow<'a, str>>,
    target: Target<'a>,
}

/// A quarantine entry the page adds.
#[derive(Debug, PartialEq)]
struct Quarantined<'a> {
    oai_id: Cow<'a, str>,
    reason: Cow<'a, str>,
    raw: Option<Cow<'a, str>>,
    /// A readable version of the record comes later in the page.
    resolved: bool,
}

/// A page folded into what it changes.
#[derive(Debug)]
pub(super) struct Plan<'a> {
    pub counts: PageCounts,
    /// The records in the order the page first names them (new rows get
    /// their ids in this order, as when written one at a time).
    slots: Vec<Slot<'a>>,
    /// The OAI identifiers of the page's readable versions: each resolves
    /// the partner's open quarantine entries for it from earlier pages.
    readable: Vec<&'a str>,
    quarantined: Vec<Quarantined<'a>>,
}

/// Fold `items` in order, given what the store `held` for their OAI
/// identifiers. `repaired` is the page's count of repairs outside records.
pub(super) fn plan<'a>(
    items: &'a [PageItem],
    held: &'a HashMap<String, Stored>,
    repaired: u64,
) -> Plan<'a> {
    let mut plan = Plan {
        counts: PageCounts {
            repaired,
            ..PageCounts::default()
        },
        slots: Vec::new(),
        readable: Vec::new(),
        quarantined: Vec::new(),
    };
    let mut index: HashMap<&str, usize> = HashMap::new();
    // The record's slot, made on first mention from what the store held.
    let slot = |slots: &mut Vec<Slot<'a>>, index: &mut HashMap<&'a str, usize>, oai_id: &'a str| {
        if let Some(&i) = index.get(oai_id) {
            return Some(i);
        }
        let s = held.get(oai_id)?;
        slots.push(Slot {
            oai_id,
            deleted: s.deleted,
            content_hash: s.content_hash.as_deref().map(Cow::Borrowed),
            target: Target::Held {
                id: s.id,
                change: Change::Nothing,
            },
        });
        index.insert(oai_id, slots.len() - 1);
        Some(slots.len() - 1)
    };
    for item in items {
        match item {
            PageItem::Upsert {
                oai_id,
                datestamp,
                local_id,
                raw,
                record,
                content_hash,
                keys,
                repairs,
            } => {
                plan.counts.repaired += repairs;
                // A version that reads supersedes the quarantined ones
                // listed before it (kept, marked resolved, for the record).
                plan.readable.push(oai_id);
                for q in &mut plan.quarantined {
                    if q.oai_id == oai_id.as_str() {
                        q.resolved = true;
                    }
                }
                let row = Row {
                    local_id: local_id.as_deref(),
                    datestamp,
                    deleted: false,
                    raw,
                    record: Some(record),
                    content_hash: Some(content_hash),
                    keys,
                };
                let Some(i) = slot(&mut plan.slots, &mut index, oai_id) else {
                    plan.counts.new += 1;
                    plan.slots.push(Slot {
                        oai_id,
                        deleted: false,
                        content_hash: Some(Cow::Borrowed(content_hash)),
                        target: Target::New(row),
                    });
                    index.insert(oai_id, plan.slots.len() - 1);
                    continue;
                };
                let s = &mut plan.slots[i];
                if !s.deleted && s.content_hash.as_deref() == Some(content_hash.as_str()) {
                    plan.counts.unchanged += 1;
                    match &mut s.target {
                        Target::New(whole)
                        | Target::Held {
                            change: Change::Whole(whole),
                            ..
                        } => {
                            whole.datestamp = datestamp;
                            whole.raw = raw;
                        }
                        // A deleted record never has the same content, so
                        // a `Delete` is not met here.
                        Target::Held { change, .. } => *change = Change::Touch { datestamp, raw },
                    }
                    continue;
                }
                if s.deleted {
                    plan.counts.new += 1;
                } else {
                    plan.counts.updated += 1;
                }
                s.deleted = false;
                s.content_hash = Some(Cow::Borrowed(content_hash));
                match &mut s.target {
                    Target::New(whole) => *whole = row,
                    Target::Held { change, .. } => *change = Change::Whole(row),
                }
            }
            PageItem::Delete { oai_id, datestamp } => {
                let Some(i) = slot(&mut plan.slots, &mut index, oai_id) else {
                    continue;
                };
                let s = &mut plan.slots[i];
                if s.deleted {
                    continue;
                }
                plan.counts.deleted += 1;
                s.deleted = true;
                s.content_hash = None;
                match &mut s.target {
                    Target::New(whole)
                    | Target::Held {
                        change: Change::Whole(whole),
                        ..
                    } => {
                        whole.deleted = true;
                        whole.datestamp = datestamp;
                        whole.record = None;
                        whole.content_hash = None;
                        whole.keys = &[];
                    }
                    Target::Held { change, .. } => {
                        let raw = match change {
                            Change::Touch { raw, .. } => Some(*raw),
                            _ => None,
                        };
                        *change = Change::Delete { datestamp, raw };
                    }
                }
            }
            PageItem::Quarantine {
                oai_id,
                reason,
                raw,
            } => {
                plan.counts.quarantined += 1;
                // PostgreSQL text cannot hold NUL; the entry is stored,
                // and later matched, with it replaced.
                plan.quarantined.push(Quarantined {
                    oai_id: pg_text(oai_id),
                    reason: pg_text(reason),
                    raw: raw.as_deref().map(pg_text),
                    resolved: false,
                });
            }
        }
    }
    plan
}

/// The page's OAI identifiers that name a record (upserts and deletions),
/// for the one query that reads what the store holds for them.
pub(super) fn named(items: &[PageItem]) -> Vec<&str> {
    items
        .iter()
        .filter_map(|i| match i {
            PageItem::Upsert { oai_id, .. } | PageItem::Delete { oai_id, .. } => {
                Some(oai_id.as_str())
            }
            PageItem::Quarantine { .. } => None,
        })
        .collect()
}

/// Write the plan in `tx`: one statement per kind of change the page has
/// (nothing is sent for a kind it lacks). `now` is the page's timestamp.
pub(super) fn write(
    tx: &mut Transaction<'_>,
    stmts: &Stmts,
    run_id: i64,
    partner: &str,
    now: &str,
    plan: &Plan<'_>,
) -> Result<()> {
    // The partner's open entries from earlier pages first: the page's own
    // entries are written after, resolved or not as the fold found.
    if !plan.readable.is_empty() {
        let st = prep(
            stmts,
            tx,
            "UPDATE quarantine SET resolved_at = $3
             WHERE partner = $1 AND oai_id = ANY($2) AND resolved_at IS NULL",
        )?;
        tx.execute(&st, &[&partner, &plan.readable, &now])?;
    }
    if !plan.quarantined.is_empty() {
        let q = &plan.quarantined;
        let oai: Vec<&str> = q.iter().map(|q| q.oai_id.as_ref()).collect();
        let reason: Vec<&str> = q.iter().map(|q| q.reason.as_ref()).collect();
        let raw: Vec<Option<&str>> = q.iter().map(|q| q.raw.as_deref()).collect();
        let resolved: Vec<Option<&str>> = q.iter().map(|q| q.resolved.then_some(now)).collect();
        let st = prep(
            stmts,
            tx,
            "INSERT INTO quarantine (partner, oai_id, run_id, reason, raw, at, resolved_at)
             SELECT $1, u.oai_id, $2, u.reason, u.raw, $3, u.resolved_at
             FROM unnest($4::text[], $5::text[], $6::text[], $7::text[])
                 AS u(oai_id, reason, raw, resolved_at)",
        )?;
        tx.execute(
            &st,
            &[&partner, &run_id, &now, &oai, &reason, &raw, &resolved],
        )?;
    }

    // Rows the store held, by kind of change.
    let mut old_keys: Vec<i64> = Vec::new();
    let mut whole: Vec<(i64, &Row<'_>)> = Vec::new();
    let mut touched: (Vec<i64>, Vec<&str>, Vec<&str>) = Default::default();
    let mut deleted: (Vec<i64>, Vec<&str>, Vec<Option<&str>>) = Default::default();
    let mut new: Vec<(&str, &Row<'_>)> = Vec::new();
    for s in &plan.slots {
        match &s.target {
            Target::New(row) => new.push((s.oai_id, row)),
            Target::Held { id, change } => match change {
                Change::Nothing => {}
                Change::Touch { datestamp, raw } => {
                    touched.0.push(*id);
                    touched.1.push(datestamp);
                    touched.2.push(raw);
                }
                Change::Whole(row) => {
                    old_keys.push(*id);
                    whole.push((*id, row));
                }
                Change::Delete { datestamp, raw } => {
                    old_keys.push(*id);
                    deleted.0.push(*id);
                    deleted.1.push(datestamp);
                    deleted.2.push(*raw);
                }
            },
        }
    }
    if !old_keys.is_empty() {
        let st = prep(
            stmts,
            tx,
            "DELETE FROM match_keys WHERE record_id = ANY($1)",
        )?;
        tx.execute(&st, &[&old_keys])?;
    }
    if !whole.is_empty() {
        let c = Columns::of(whole.iter().map(|(_, r)| *r));
        let ids: Vec<i64> = whole.iter().map(|(id, _)| *id).collect();
        let st = prep(
            stmts,
            tx,
            "UPDATE source_records s SET local_id = u.local_id, datestamp = u.datestamp,
                 deleted = u.deleted, raw = u.raw, record = u.record, content_hash = u.content_hash,
                 updated_run = $1, dedup_dirty = true
             FROM unnest($2::bigint[], $3::text[], $4::text[], $5::boolean[], $6::text[], $7::text[],
                         $8::text[])
                 AS u(id, local_id, datestamp, deleted, raw, record, content_hash)
             WHERE s.id = u.id",
        )?;
        tx.execute(
            &st,
            &[
                &run_id,
                &ids,
                &c.local_id,
                &c.datestamp,
                &c.deleted,
                &c.raw,
                &c.record,
                &c.content_hash,
            ],
        )?;
    }
    if !touched.0.is_empty() {
        let st = prep(
            stmts,
            tx,
            "UPDATE source_records s SET datestamp = u.datestamp, raw = u.raw
             FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, datestamp, raw)
             WHERE s.id = u.id",
        )?;
        tx.execute(&st, &[&touched.0, &touched.1, &touched.2])?;
    }
    if !deleted.0.is_empty() {
        // A NULL raw keeps the stored one: only a redelivery earlier in
        // the page set it.
        let st = prep(
            stmts,
            tx,
            "UPDATE source_records s SET deleted = true, datestamp = u.datestamp,
                 raw = coalesce(u.raw, s.raw), record = NULL, content_hash = NULL,
                 updated_run = $1, dedup_dirty = true
             FROM unnest($2::bigint[], $3::text[], $4::text[]) AS u(id, datestamp, raw)
             WHERE s.id = u.id",
        )?;
        tx.execute(&st, &[&run_id, &deleted.0, &deleted.1, &deleted.2])?;
    }

    // The new rows' ids, to key them by.
    let mut new_ids: HashMap<String, i64> = HashMap::new();
    if !new.is_empty() {
        let c = Columns::of(new.iter().map(|(_, r)| *r));
        let oai: Vec<&str> = new.iter().map(|(o, _)| *o).collect();
        // unnest yields its rows in array order, so the identity gives the
        // ids in page order, as inserting one row at a time did.
        let st = prep(
            stmts,
            tx,
            "INSERT INTO source_records (partner, oai_id, local_id, datestamp, deleted, raw, record,
                 content_hash, updated_run)
             SELECT $1, u.oai_id, u.local_id, u.datestamp, u.deleted, u.raw, u.record,
                 u.content_hash, $2
             FROM unnest($3::text[], $4::text[], $5::text[], $6::boolean[], $7::text[], $8::text[],
                         $9::text[])
                 AS u(oai_id, local_id, datestamp, deleted, raw, record, content_hash)
             RETURNING oai_id, id",
        )?;
        for r in tx.query(
            &st,
            &[
                &partner,
                &run_id,
                &oai,
                &c.local_id,
                &c.datestamp,
                &c.deleted,
                &c.raw,
                &c.record,
                &c.content_hash,
            ],
        )? {
            new_ids.insert(r.try_get(0)?, r.try_get(1)?);
        }
    }

    // Every key of the page in one statement, sorted so that the index
    // is walked in order. A plain INSERT: none of these keys can be in the
    // table already (a held record's keys were deleted above, a new row's
    // id is new), so only a record's own duplicate keys could collide, and
    // they are dropped here; ON CONFLICT's check before each row cost
    // three quarters again as much.
    let mut keys: Vec<(&str, i64)> = Vec::new();
    for (id, row) in &whole {
        keys.extend(row.keys.iter().map(|k| (k.as_str(), *id)));
    }
    for (oai_id, row) in &new {
        if row.keys.is_empty() {
            continue;
        }
        let id = *new_ids
            .get(*oai_id)
            .with_context(|| format!("the insert returned no id for {oai_id}"))?;
        keys.extend(row.keys.iter().map(|k| (k.as_str(), id)));
    }
    insert_keys(tx, stmts, keys)
}

/// Insert match keys none of which is in the table (their records' old
/// keys deleted first, or the records new) in one statement, sorted so
/// that the index is walked in order, without a record's own duplicates.
pub(super) fn insert_keys(
    tx: &mut Transaction<'_>,
    stmts: &Stmts,
    mut keys: Vec<(&str, i64)>,
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    keys.sort_unstable();
    keys.dedup();
    let (key, id): (Vec<&str>, Vec<i64>) = keys.into_iter().unzip();
    let st = prep(
        stmts,
        tx,
        "INSERT INTO match_keys (key, record_id) SELECT * FROM unnest($1::text[], $2::bigint[])",
    )?;
    tx.execute(&st, &[&key, &id])?;
    Ok(())
}

/// Rows as the column arrays an `unnest` takes.
struct Columns<'a> {
    local_id: Vec<Option<&'a str>>,
    datestamp: Vec<&'a str>,
    deleted: Vec<bool>,
    raw: Vec<&'a str>,
    record: Vec<Option<&'a str>>,
    content_hash: Vec<Option<&'a str>>,
}

impl<'a> Columns<'a> {
    fn of<'r>(rows: impl Iterator<Item = &'r Row<'a>>) -> Columns<'a>
    where
        'a: 'r,
    {
        let mut c = Columns {
            local_id: Vec::new(),
            datestamp: Vec::new(),
            deleted: Vec::new(),
            raw: Vec::new(),
            record: Vec::new(),
            content_hash: Vec::new(),
        };
        for r in rows {
            c.local_id.push(r.local_id);
            c.datestamp.push(r.datestamp);
            c.deleted.push(r.deleted);
            c.raw.push(r.raw);
            c.record.push(r.record);
            c.content_hash.push(r.content_hash);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(oai: &str, hash: &str, raw: &str, keys: &[&str]) -> PageItem {
        PageItem::Upsert {
            oai_id: oai.into(),
            datestamp: format!("d-{raw}"),
            local_id: Some(format!("L{oai}")),
            raw: raw.into(),
            record: format!("<record>{oai} {hash}</record>"),
            content_hash: hash.into(),
            keys: keys.iter().map(|k| k.to_string()).collect(),
            repairs: 1,
        }
    }

    fn del(oai: &str, datestamp: &str) -> PageItem {
        PageItem::Delete {
            oai_id: oai.into(),
            datestamp: datestamp.into(),
        }
    }

    fn quar(oai: &str) -> PageItem {
        PageItem::Quarantine {
            oai_id: oai.into(),
            reason: "broken".into(),
            raw: None,
        }
    }

    fn held(entries: &[(&str, i64, bool, Option<&str>)]) -> HashMap<String, Stored> {
        entries
            .iter()
            .map(|(oai, id, deleted, hash)| {
                let stored = Stored {
                    id: *id,
                    deleted: *deleted,
                    content_hash: hash.map(String::from),
                };
                (oai.to_string(), stored)
            })
            .collect()
    }

    fn targets<'a>(plan: &'a Plan<'_>) -> Vec<(&'a str, &'a Target<'a>)> {
        plan.slots.iter().map(|s| (s.oai_id, &s.target)).collect()
    }

    // A record new to the store, listed again with the same content, is
    // one new row carrying the second listing's datestamp and raw text and
    // the first listing's keys, counted new then unchanged.
    #[test]
    fn new_then_same_content_is_one_insert_counted_twice() {
        let items = [up("a", "h", "r1", &["k1"]), up("a", "h", "r2", &["k2"])];
        let none = HashMap::new();
        let p = plan(&items, &none, 5);
        assert_eq!(
            (p.counts.new, p.counts.unchanged, p.counts.repaired),
            (1, 1, 7)
        );
        let [(oai, Target::New(row))] = targets(&p)[..] else {
            panic!("{:?}", p.slots)
        };
        assert_eq!(oai, "a");
        assert_eq!((row.datestamp, row.raw), ("d-r2", "r2"));
        assert_eq!(row.keys, ["k1".to_string()]);
    }

    // A held record: the same content is a touch, changed content a whole
    // rewrite, a deletion after a touch keeps the touch's raw text, and a
    // deletion after a rewrite is a whole row, deleted, without keys.
    #[test]
    fn held_records_fold_into_one_change_each() {
        let items = [
            up("same", "h", "r-same", &[]),
            up("changed", "h2", "r-changed", &["k"]),
            up("gone", "h", "r-gone", &[]),
            del("gone", "d-del"),
            up("rewritten-then-gone", "h2", "r-rg", &["k"]),
            del("rewritten-then-gone", "d-del2"),
            del("deleted-already", "d-x"),
            del("unknown", "d-y"),
        ];
        let store = held(&[
            ("same", 1, false, Some("h")),
            ("changed", 2, false, Some("h")),
            ("gone", 3, false, Some("h")),
            ("rewritten-then-gone", 4, false, Some("h")),
            ("deleted-already", 5, true, None),
        ]);
        let p = plan(&items, &store, 0);
        assert_eq!(
            (
                p.counts.unchanged,
                p.counts.updated,
                p.counts.deleted,
                p.counts.new
            ),
            (2, 2, 2, 0)
        );
        let t = targets(&p);
        assert_eq!(t.len(), 5, "the unknown deletion has no slot");
        assert_eq!(
            *t[0].1,
            Target::Held {
                id: 1,
                change: Change::Touch {
                    datestamp: "d-r-same",
                    raw: "r-same"
                }
            }
        );
        let Target::Held {
            id: 2,
            change: Change::Whole(row),
        } = t[1].1
        else {
            panic!("{:?}", t[1])
        };
        assert_eq!((row.deleted, row.content_hash), (false, Some("h2")));
        assert_eq!(
            *t[2].1,
            Target::Held {
                id: 3,
                change: Change::Delete {
                    datestamp: "d-del",
                    raw: Some("r-gone")
                }
            }
        );
        let Target::Held {
            id: 4,
            change: Change::Whole(row),
        } = t[3].1
        else {
            panic!("{:?}", t[3])
        };
        assert_eq!(
            (row.deleted, row.datestamp, row.record, row.content_hash),
            (true, "d-del2", None, None)
        );
        assert!(row.keys.is_empty());
        assert_eq!(
            *t[4].1,
            Target::Held {
                id: 5,
                change: Change::Nothing
            }
        );
    }

    // Deleted and back in one page: both count, and the record is written
    // whole and live again (a deleted record is never "the same content").
    #[test]
    fn deleted_then_back_counts_both() {
        let items = [
            del("a", "d0"),
            up("a", "h", "r", &["k"]),
            del("b", "d1"),
            del("b", "d2"),
        ];
        let store = held(&[("a", 7, false, Some("h")), ("b", 8, false, Some("h"))]);
        let p = plan(&items, &store, 0);
        assert_eq!(
            (p.counts.deleted, p.counts.new, p.counts.unchanged),
            (2, 1, 0)
        );
        let t = targets(&p);
        assert!(matches!(t[0].1, Target::Held { id: 7, change: Change::Whole(r) } if !r.deleted));
        assert_eq!(
            *t[1].1,
            Target::Held {
                id: 8,
                change: Change::Delete {
                    datestamp: "d1",
                    raw: None
                }
            },
            "the second deletion finds it deleted"
        );
    }

    // A readable version resolves the quarantine entries listed before it
    // in the page, not those after it; every readable version is also
    // sent to resolve the entries of earlier pages.
    #[test]
    fn quarantine_is_resolved_only_by_a_later_readable_version() {
        let items = [
            quar("x"),
            up("x", "h", "r", &[]),
            up("y", "h", "r", &[]),
            quar("y"),
            quar("z\0"),
        ];
        let none = HashMap::new();
        let p = plan(&items, &none, 0);
        let q: Vec<(&str, bool)> = p
            .quarantined
            .iter()
            .map(|q| (q.oai_id.as_ref(), q.resolved))
            .collect();
        assert_eq!(q, [("x", true), ("y", false), ("z\u{FFFD}", false)]);
        assert_eq!(p.readable, ["x", "y"]);
        assert_eq!(p.counts.quarantined, 3);
    }
}
