#!/usr/bin/env python3
"""Read and score the groups unicat merges within one partner's records.

Built for issue 17 item 4 (precision on real LC records; fixture
fixtures/lc-merges): a single library rarely holds two records of one
manifestation, so nearly every group the matcher forms there is worth a
cataloguer's look. Python with pymarc rather than a Rust example because it
reads the store with plain SQL and the MARC file with a reader that unicat
did not write, so a bug in unicat's own MARC handling cannot hide a pair.

Subcommands (STORE is the unicat.db of a SQLite store, after
`unicat import --partner NAME FILE`):

  pairs   --store STORE [--near-misses]
          the merged pairs (group, id_a, id_b), and with --near-misses also
          the pairs between a group's member and a record that shares one of
          its title keys (tay:/tpa:/tpy:) or identifier keys but was not merged
  groups  --store STORE --marc FILE
          one line per member of every group (245, 250, imprint, 300, 020):
          enough to see whether a group is a set of different titles
  show    --store STORE --marc FILE [--labels TSV] [--unlabelled] [--near-misses]
          every such pair side by side: what a cataloguer needs to decide
  score   --store STORE --labels TSV [--fail-below P]
          merged pairs, labelled same/different/undecidable, precision =
          same/(same+different), per category; merged pairs with no label;
          labelled `same` pairs that were not merged
  elements --store STORE --marc FILE --labels TSV
          for candidate vetoes (245 $b content words, 250 on one side, page
          differences, hearing dates and report numbers in 500, ...): how many
          labelled `different` merged pairs each would separate, and which
          `same` pairs it would wrongly separate
  extract (--store STORE | --labels TSV) --marc FILE --out OUT.mrc
          the records of the groups and near misses (or of every id in
          the labels file), byte for byte as they are in FILE, in file order

Pairs are named by 001, trimmed; id_a < id_b.
"""

import argparse
import collections
import re
import signal
import sqlite3
import sys
import textwrap

TITLE_KEYS = ("tay:", "tpa:", "tpy:")


def trim(s):
    return (s or "").strip()


def open_store(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    return db


def groups(db):
    """{cluster_id: [001, ...]} for every live union record with >1 member."""
    out = collections.defaultdict(list)
    rows = db.execute(
        "SELECT cm.cluster_id, s.local_id FROM cluster_members cm"
        " JOIN union_records u ON u.cluster_id = cm.cluster_id"
        " JOIN source_records s ON s.id = cm.record_id"
        " WHERE u.deleted = 0 AND u.members > 1 AND s.deleted = 0"
    )
    for cid, local in rows:
        out[cid].append(trim(local))
    return {c: sorted(m) for c, m in out.items() if len(m) > 1}


def merged_pairs(db):
    """[(cluster, a, b)] every pair within every group."""
    pairs = []
    for cid, members in sorted(groups(db).items(), key=lambda kv: kv[1][0]):
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                pairs.append((cid, a, b))
    return pairs


def near_miss_pairs(db):
    """[(cluster, member, other, key)]: one pair per group and outside record
    (with the group's first member sharing a key), the pairs the matcher
    had to keep apart."""
    g = {}
    for cid, members in groups(db).items():
        for m in members:
            g[m] = cid
    ids = dict(db.execute("SELECT local_id, id FROM source_records WHERE deleted = 0").fetchall())
    ids = {trim(k): v for k, v in ids.items()}
    back = {v: k for k, v in ids.items()}
    seen = {}
    for local, cid in sorted(g.items()):
        rid = ids[local]
        # Read after a full pass, which merged every key into match_keys;
        # record_keys holds a record's keys whether merged or not.
        for (key,) in db.execute("SELECT key FROM record_keys WHERE record_id = ?", (rid,)):
            for (other,) in db.execute(
                "SELECT record_id FROM match_keys WHERE key = ? AND record_id <> ?", (key, rid)
            ):
                o = back.get(other)
                if o is None or g.get(o) == cid:
                    continue
                k = (cid, o)
                # the first member (in 001 order) that meets the outsider
                if k not in seen:
                    seen[k] = (cid, local, o, key)
                elif key.startswith(TITLE_KEYS) and not seen[k][3].startswith(TITLE_KEYS):
                    seen[k] = (cid, seen[k][1], o, key)
    return sorted(seen.values(), key=lambda t: (t[1], t[2]))


def read_labels(path):
    labels = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if n == 1 and line.startswith("id_a"):
                continue
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 5:
                sys.exit(f"{path}:{n}: expected 5 tab-separated columns, got {len(cols)}")
            a, b, label, cat, reason = cols
            if label not in ("same", "different", "undecidable"):
                sys.exit(f"{path}:{n}: label `{label}` is not same/different/undecidable")
            labels[tuple(sorted((a, b)))] = (label, cat, reason)
    return labels


# ---------------------------------------------------------------- MARC


def scan(path, wanted=None):
    """{001: (offset, bytes)} for the records of FILE (only `wanted` ones if
    given), read from the ISO 2709 directory without decoding."""
    out = {}
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos + 24 <= len(data):
        try:
            length = int(data[pos : pos + 5])
        except ValueError:
            sys.exit(f"{path}: no record length at byte {pos}")
        rec = data[pos : pos + length]
        base = int(rec[12:17])
        d = 24
        cid = None
        while d + 12 <= base - 1 and rec[d : d + 1] != b"\x1e":
            tag = rec[d : d + 3]
            flen = int(rec[d + 3 : d + 7])
            start = int(rec[d + 7 : d + 12])
            if tag == b"001":
                raw = rec[base + start : base + start + flen - 1]
                cid = raw.decode("utf-8", "replace").strip()
                break
            d += 12
        if cid is not None and (wanted is None or cid in wanted):
            out[cid] = (pos, rec)
        pos += length
    return out


def parse(raw):
    import pymarc

    rec = pymarc.Record(data=raw, to_unicode=True, force_utf8=True, utf8_handling="replace")
    return rec


def sub(f, codes=None):
    return " ".join(f"${s.code} {s.value}" for s in f.subfields if codes is None or s.code in codes)


def condensed(rec):
    """[(label, value)] of what decides a pair, in a fixed order."""
    rows = []

    def add(label, fields, fmt):
        vals = [fmt(f) for f in fields]
        rows.append((label, " || ".join(v for v in vals if v)))

    own = "".join(rec["001"].data.split()) if rec["001"] else ""
    # 010 only when it is not the 001 again (LC's own records repeat it)
    add("010", rec.get_fields("010"), lambda f: "" if "".join(sub(f, "a").replace("$a", "").split()) == own else sub(f))
    add("020", rec.get_fields("020"), lambda f: sub(f))
    add("035", rec.get_fields("035"), lambda f: sub(f, "az"))
    f008 = rec.get_fields("008")
    if f008:
        d = f008[0].data
        rows.append(("008", f"type {d[6:7]} date1 {d[7:11]} date2 {d[11:15]} place {d[15:18]} lang {d[35:38]}"))
    else:
        rows.append(("008", ""))
    add("041", rec.get_fields("041"), lambda f: sub(f))
    add("1XX", rec.get_fields("100", "110", "111"), lambda f: f.tag + " " + sub(f))
    add("130/240", rec.get_fields("130", "240"), lambda f: f.tag + " " + sub(f))
    add("245", rec.get_fields("245"), lambda f: sub(f))
    add("246", rec.get_fields("246"), lambda f: sub(f))
    add("250", rec.get_fields("250"), lambda f: sub(f))
    add("254", rec.get_fields("254"), lambda f: sub(f))
    add("260/4", rec.get_fields("260", "264"), lambda f: f.tag + " " + sub(f))
    add("300", rec.get_fields("300"), lambda f: sub(f))
    add("336-8", rec.get_fields("336", "337", "338"), lambda f: sub(f, "a"))
    add("490/8XX", rec.get_fields("490", "800", "810", "811", "830"), lambda f: f.tag + " " + sub(f))
    add("500", rec.get_fields("500"), lambda f: sub(f)[:160])
    add("502", rec.get_fields("502"), lambda f: sub(f)[:120])
    add("505", rec.get_fields("505"), lambda f: sub(f)[:160])
    add("533/4", rec.get_fields("533", "534"), lambda f: f.tag + " " + sub(f))
    add("655", rec.get_fields("655"), lambda f: sub(f, "a"))
    add("7XX", rec.get_fields("700", "710", "711"), lambda f: f.tag + " " + sub(f, "abcdt")[:80])
    add("776/5", rec.get_fields("775", "776"), lambda f: f.tag + " " + sub(f)[:100])
    return rows


def show_pair(out, head, ra, rb):
    out.write(head + "\n")
    ca, cb = condensed(ra), condensed(rb)
    for (label, va), (_, vb) in zip(ca, cb):
        if not va and not vb:
            continue
        if va == vb:
            out.write(f"  = {label:<7} {va}\n")
        else:
            out.write(f"  A {label:<7} {va}\n")
            out.write(f"  B {label:<7} {vb}\n")
    out.write("\n")


# ---------------------------------------------------------------- commands


def cmd_pairs(args):
    db = open_store(args.store)
    for cid, a, b in merged_pairs(db):
        print(f"merged\t{cid}\t{a}\t{b}")
    if args.near_misses:
        for cid, a, b, key in near_miss_pairs(db):
            x, y = sorted((a, b))
            print(f"near-miss\t{cid}\t{x}\t{y}\t{key}")


def cmd_show(args):
    db = open_store(args.store)
    labels = read_labels(args.labels) if args.labels else {}
    todo = [("merged", c, a, b, "") for c, a, b in merged_pairs(db)]
    if args.near_misses:
        todo += [("near-miss", c, *sorted((a, b)), k) for c, a, b, k in near_miss_pairs(db)]
    if args.unlabelled:
        todo = [t for t in todo if (t[2], t[3]) not in labels]
    wanted = {x for t in todo for x in (t[2], t[3])}
    recs = scan(args.marc, wanted)
    parsed = {}
    out = sys.stdout
    sizes = {c: len(m) for c, m in groups(db).items()}
    for kind, cid, a, b, key in todo:
        for x in (a, b):
            if x not in parsed:
                if x not in recs:
                    sys.exit(f"{args.marc}: no record with 001 {x}")
                parsed[x] = parse(recs[x][1])
        lab = labels.get((a, b))
        lab_s = f"  [label: {' '.join(x for x in lab[:2] if x)}: {lab[2]}]" if lab else ""
        head = f"== {kind} {cid} ({sizes[cid]} members) {a} x {b}{(' via ' + key) if key else ''}{lab_s}"
        show_pair(out, head, parsed[a], parsed[b])


def cmd_groups(args):
    """One line per member: enough to see at a glance whether a group is a
    set of different titles (then `show` is needed only for the rest)."""
    db = open_store(args.store)
    gs = sorted(groups(db).items(), key=lambda kv: kv[1][0])
    recs = scan(args.marc, {m for _, ms in gs for m in ms})
    for cid, members in gs:
        print(f"== {cid} ({len(members)} members)")
        for m in members:
            r = parse(recs[m][1])

            def first(tag, codes):
                f = r.get_fields(tag)
                return sub(f[0], codes) if f else ""

            imprint = first("260", "bc") or first("264", "bc")
            print(
                f"  {m:<12} 245 {first('245', 'abnp')[:150]} | 250 {first('250', 'a')}"
                f" | {imprint[:60]} | 300 {first('300', 'a')} | 020 {first('020', 'a')[:16]}"
            )


# ---------------------------------------------------------------- data elements
#
# Candidate evidence against a merge, each a test on two parsed records. The
# `elements` command counts, over the labelled merged pairs, how many
# `different` pairs each test would separate and which `same` pairs it would
# wrongly separate, so that a veto can be judged on both sides before it is
# written into the pair decision. The tests are deliberately plain (no
# transliteration, English and Romance stop words only): they are for
# measuring, not for matching.

STOP = set(
    "the a an of and to for in on at by with from de la le les el los las del des di da do du"
    " und der die das im am zu y e et i o ou s".split()
)


def words(s):
    import unicodedata

    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c))
    s = re.sub(r"[^\w\s]", " ", s.lower())
    return [w for w in s.split() if w not in STOP]


def edit_distance(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def word_match(x, y):
    if x == y:
        return True
    if any(c.isdigit() for c in x + y) or len(x) < 4 or abs(len(x) - len(y)) > 2:
        return False
    return edit_distance(x, y) <= (2 if len(x) >= 8 else 1)


def unmatched(a, b):
    """Content words of a not in b and of b not in a (typos forgiven)."""
    ta, tb = words(a), words(b)
    return [x for x in ta if not any(word_match(x, y) for y in tb)], [
        y for y in tb if not any(word_match(x, y) for x in ta)
    ]


def subfields(rec, tags, codes):
    return " ".join(s.value for f in rec.get_fields(*tags) for s in f.subfields if s.code in codes)


def without_addressee(subtitle):
    # GAO and hearing titles end in "report to ..." / "hearing before ...",
    # which names the requester, not the content
    return re.split(r"\b(?:report|hearing|briefing report|forum) (?:to|before)\b", subtitle)[0]


def main_pages(rec):
    counts = [int(n) for n in re.findall(r"(\d+)\s*(?:p\b|pages|leaves)", subfields(rec, ["300"], "a"))]
    return max(counts) if counts else None


def volume_count(rec):
    m = re.search(r"(\d+)\s*v\.", subfields(rec, ["300"], "a"))
    return int(m.group(1)) if m else None


def quoted_notes(rec):
    # the notes that identify one report or one hearing
    return {
        v
        for f in rec.get_fields("500")
        for v in f.get_subfields("a")
        if re.search(r"Hearing held|GAO/|^\"[A-Z][a-z]+ \d{4}\.?\"", v)
    }


def oclc_numbers(rec):
    return {
        re.sub(r"\D", "", v) for f in rec.get_fields("035") for v in f.get_subfields("a") if v.startswith("(OCoLC)")
    }


def isbn_stems(rec):
    out = set()
    for f in rec.get_fields("020"):
        for v in f.get_subfields("a"):
            digits = re.sub(r"[^0-9Xx]", "", v.split()[0]) if v.split() else ""
            if len(digits) in (10, 13):
                out.add(digits[-10:-1] if len(digits) == 10 else digits[3:12])
    return out


def t_title_words(a, b):
    x, y = unmatched(subfields(a, ["245"], "anp"), subfields(b, ["245"], "anp"))
    return bool(x or y), f"{x[:4]} vs {y[:4]}"


def t_part(a, b):
    x, y = subfields(a, ["245"], "np"), subfields(b, ["245"], "np")
    ux, uy = unmatched(x, y)
    return bool(ux or uy), f"{x!r} vs {y!r}"


def t_subtitle_words(a, b):
    x, y = without_addressee(subfields(a, ["245"], "b")), without_addressee(subfields(b, ["245"], "b"))
    if not x.strip() or not y.strip():
        return False, ""
    ux, uy = unmatched(x, y)
    return bool(ux or uy), f"{ux[:4]} vs {uy[:4]}"


def t_subtitle_one_side(a, b):
    return bool(subfields(a, ["245"], "b").strip()) != bool(subfields(b, ["245"], "b").strip()), ""


def t_uniform_title(a, b):
    x, y = subfields(a, ["130", "240"], "anp"), subfields(b, ["130", "240"], "anp")
    if not x or not y:
        return False, ""
    ux, uy = unmatched(x, y)
    return bool(ux or uy), f"{x} vs {y}"


def t_edition_one_side(a, b):
    return bool(subfields(a, ["250"], "a")) != bool(subfields(b, ["250"], "a")), ""


def t_edition_words(a, b):
    x, y = subfields(a, ["250"], "a"), subfields(b, ["250"], "a")
    if not x or not y:
        return False, ""
    ux, uy = unmatched(x, y)
    return bool(ux or uy), f"{x} vs {y}"


def t_publisher(a, b):
    x, y = subfields(a, ["260", "264"], "b"), subfields(b, ["260", "264"], "b")
    if not x or not y:
        return False, ""
    return not any(word_match(p, q) for p in words(x) for q in words(y)), f"{x} vs {y}"


def pages_test(pct, least):
    def t(a, b):
        x, y = main_pages(a), main_pages(b)
        if x is None or y is None:
            return False, ""
        return abs(x - y) >= least and abs(x - y) >= pct * max(x, y), f"{x} vs {y}"

    return t


def t_volumes(a, b):
    va, vb, pa, pb = volume_count(a), volume_count(b), main_pages(a), main_pages(b)
    # "1 v. (various pagings)" says nothing about the division into volumes
    va, vb = (va if va != 1 else None), (vb if vb != 1 else None)
    hit = (va and vb and va != vb) or (va and pb and not vb) or (vb and pa and not va)
    return bool(hit), f"{va or pa} vs {vb or pb}"


def t_notes(a, b):
    x, y = quoted_notes(a), quoted_notes(b)
    return bool(x and y and x != y), f"{sorted(x)[:2]} vs {sorted(y)[:2]}"


def t_series_number(a, b):
    x, y = subfields(a, ["490", "830"], "v"), subfields(b, ["490", "830"], "v")
    if not x or not y:
        return False, ""
    return re.findall(r"\d+", x)[:1] != re.findall(r"\d+", y)[:1], f"{x} vs {y}"


def t_oclc(a, b):
    x, y = oclc_numbers(a), oclc_numbers(b)
    return bool(x and y and not x & y), f"{sorted(x)} vs {sorted(y)}"


def t_isbn(a, b):
    return bool(isbn_stems(a) & isbn_stems(b)), ""


ELEMENTS = [
    ("245 $a$n$p content words differ", t_title_words),
    ("245 $n/$p differ or on one side only", t_part),
    ("245 $b on both sides, content words differ (addressee cut)", t_subtitle_words),
    ("245 $b on one side only", t_subtitle_one_side),
    ("130/240 on both sides, differ", t_uniform_title),
    ("250 on one side only", t_edition_one_side),
    ("250 on both sides, content words differ", t_edition_words),
    ("260/264 $b share no word", t_publisher),
    ("300 main pages differ >= 5% and >= 3", pages_test(0.05, 3)),
    ("300 main pages differ >= 10% and >= 5", pages_test(0.10, 5)),
    ("300 main pages differ >= 1.5x and >= 20 (about today's veto)", pages_test(1 / 3, 20)),
    ("300 volume count vs pages, or counts differ (not 1 v.)", t_volumes),
    ("500 hearing date / report number / month differ", t_notes),
    ("490/830 $v first number differs", t_series_number),
    ("035 OCLC numbers on both sides, disjoint", t_oclc),
    ("020 an ISBN shared (not a test: how often it misleads)", t_isbn),
]


def cmd_elements(args):
    db = open_store(args.store)
    labels = read_labels(args.labels)
    pairs = [(a, b) for _, a, b in merged_pairs(db) if (a, b) in labels]
    recs = scan(args.marc, {x for p in pairs for x in p})
    parsed = {k: parse(v[1]) for k, v in recs.items()}
    total = collections.Counter(labels[p][0] for p in pairs)
    print(f"over {len(pairs)} labelled merged pairs: {dict(total)}")
    print(f"{'data element':<60} {'different':>9} {'same':>5} {'undec.':>6}")
    wrong = []
    for name, test in ELEMENTS:
        n = collections.Counter()
        for a, b in pairs:
            hit, detail = test(parsed[a], parsed[b])
            if hit:
                n[labels[(a, b)][0]] += 1
                if labels[(a, b)][0] == "same" and "ISBN shared" not in name:
                    wrong.append(f"  [{name}] {a} x {b}: {detail}")
        print(f"{name:<60} {n['different']:>9} {n['same']:>5} {n['undecidable']:>6}")
    if wrong:
        print("`same` pairs a test would separate:")
        print("\n".join(wrong))


def cmd_score(args):
    db = open_store(args.store)
    labels = read_labels(args.labels)
    pairs = merged_pairs(db)
    merged = {(a, b) for _, a, b in pairs}
    counts = collections.Counter()
    cats = collections.Counter()
    unlabelled = []
    for cid, a, b in pairs:
        lab = labels.get((a, b))
        if lab is None:
            unlabelled.append((cid, a, b))
            continue
        counts[lab[0]] += 1
        if lab[0] == "different":
            cats[lab[1]] += 1
    ngroups = len({c for c, _, _ in pairs})
    print(f"merged groups: {ngroups}, merged pairs: {len(pairs)}")
    print(
        f"labelled: same {counts['same']}, different {counts['different']},"
        f" undecidable {counts['undecidable']}, no label {len(unlabelled)}"
    )
    decided = counts["same"] + counts["different"]
    if decided:
        print(f"precision = same/(same+different) = {counts['same']}/{decided} = {counts['same'] / decided:.4f}")
    for cat, n in cats.most_common():
        print(f"  different/{cat}: {n}")
    if unlabelled:
        print(f"merged pairs with no label ({len(unlabelled)}):")
        for cid, a, b in unlabelled:
            print(f"  {cid}\t{a}\t{b}")
    missed = sorted(p for p, lab in labels.items() if lab[0] == "same" and p not in merged)
    kept = sum(1 for p, lab in labels.items() if lab[0] == "different" and p not in merged)
    print(f"labelled `different` pairs kept apart: {kept}")
    if missed:
        print(f"labelled `same` pairs not merged ({len(missed)}):")
        for a, b in missed:
            print(f"  {a}\t{b}\t{labels[(a, b)][2]}")
    if args.fail_below is not None and decided and counts["same"] / decided < args.fail_below:
        sys.exit(1)


def cmd_extract(args):
    if args.labels:
        wanted = {x for p in read_labels(args.labels) for x in p}
    else:
        db = open_store(args.store)
        wanted = {x for _, a, b in merged_pairs(db) for x in (a, b)}
        wanted |= {x for _, a, b, _ in near_miss_pairs(db) for x in (a, b)}
    recs = scan(args.marc, wanted)
    missing = wanted - recs.keys()
    if missing:
        sys.exit(f"{args.marc}: no record with 001 {', '.join(sorted(missing))}")
    with open(args.out, "wb") as f:
        for _, raw in sorted(recs.values(), key=lambda t: t[0]):
            f.write(raw)
    print(f"{args.out}: {len(recs)} records")


def main():
    # `show ... | head` should stop quietly, not with a traceback
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    p = argparse.ArgumentParser(
        description=textwrap.dedent(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter
    )
    s = p.add_subparsers(dest="cmd", required=True)
    a = s.add_parser("pairs", help="list merged (and near-miss) pairs")
    a.add_argument("--store", required=True)
    a.add_argument("--near-misses", action="store_true")
    a.set_defaults(fn=cmd_pairs)
    a = s.add_parser("show", help="print pairs side by side")
    a.add_argument("--store", required=True)
    a.add_argument("--marc", required=True)
    a.add_argument("--labels")
    a.add_argument("--unlabelled", action="store_true", help="only pairs the labels file lacks")
    a.add_argument("--near-misses", action="store_true")
    a.set_defaults(fn=cmd_show)
    a = s.add_parser("groups", help="one line per member of every merged group")
    a.add_argument("--store", required=True)
    a.add_argument("--marc", required=True)
    a.set_defaults(fn=cmd_groups)
    a = s.add_parser("score", help="precision of the merged pairs against a labels file")
    a.add_argument("--store", required=True)
    a.add_argument("--labels", required=True)
    a.add_argument("--fail-below", type=float, help="exit 1 if precision is below this")
    a.set_defaults(fn=cmd_score)
    a = s.add_parser("elements", help="which data elements would separate the labelled merged pairs")
    a.add_argument("--store", required=True)
    a.add_argument("--marc", required=True)
    a.add_argument("--labels", required=True)
    a.set_defaults(fn=cmd_elements)
    a = s.add_parser("extract", help="write the records of the pairs, byte for byte")
    a.add_argument("--store")
    a.add_argument("--marc", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--labels", help="take the ids from this labels file instead of the store")
    a.set_defaults(fn=cmd_extract)
    args = p.parse_args()
    if args.cmd == "extract" and not (args.store or args.labels):
        p.error("extract needs --store or --labels")
    args.fn(args)


if __name__ == "__main__":
    main()
