#!/usr/bin/env python3
"""Generate crates/marc/src/marc8_tables.rs from the Library of Congress
MARC-8 code tables (codetables.xml, as shipped with MARC::Charset) and the
EACC codes MARC::Charset adds to them (additional-iii-characters.xml).

Usage:
    python3 crates/marc/tools/gen_marc8_tables.py CODETABLES.xml ADDITIONS.xml [OUT.rs]

Writes to OUT.rs, or to standard output without it. The output depends only
on the input files, so re-running it on the same input gives the same bytes
(the test `marc8_tables_are_up_to_date` relies on that).

What it does with the table, and why:
- Single-byte sets are stored by their G0 code (0x21-0x7E). LC lists the
  extended sets (ANSEL, Extended Cyrillic, Extended Arabic) by their G1 code
  (0xA1-0xFE), so those are moved down by 0x80; the decoder moves G1 bytes
  down the same way, whichever set is in G1.
- The C1 codes 0x88-0x8E (non-sort markers, joiners) are taken from ANSEL;
  Extended Arabic repeats two of them and must agree.
- Basic Latin's C0 entries (escape, delimiters) and space are left out: the
  decoder handles control bytes and space itself, whatever set is in G0.
- A code with no <ucs> but an <alt> (the right halves of ANSEL's double
  diacritics) gets the <alt> value and the RIGHT_HALF flag: the decoder
  drops a right half that closes a left half (LC's rule) and writes the
  <alt> character for a lone one, so no byte disappears silently.
- EACC (CJK) codes are three bytes; they are stored sorted for binary search.
- ADDITIONS.xml holds EACC codes outside LC's table that Innovative
  Interfaces' ILS writes for typographic punctuation (ellipsis, curly
  quotes, em dash, trade mark: 0x21203D, 0x212040, 0x7F2014, 0x7F2019,
  0x7F2020, 0x7F2122). MARC::Charset compiles that file into its table
  after LC's and pymarc has the same six codes, so records from such
  systems decode elsewhere; we decode them too. It may only add EACC codes,
  never change one of LC's.
"""

import hashlib
import sys
import xml.etree.ElementTree as ET

# Final bytes of the escape sequences that designate each set (ISOcode in the
# XML), and the Rust constant name to use for it.
SETS = [
    ("42", "BASIC_LATIN"),
    ("45", "ANSEL"),
    ("67", "GREEK_SYMBOLS"),
    ("62", "SUBSCRIPTS"),
    ("70", "SUPERSCRIPTS"),
    ("32", "BASIC_HEBREW"),
    ("4E", "BASIC_CYRILLIC"),
    ("51", "EXTENDED_CYRILLIC"),
    ("33", "BASIC_ARABIC"),
    ("34", "EXTENDED_ARABIC"),
    ("53", "BASIC_GREEK"),
]
EACC = "31"
G1_LISTED = {"45", "51", "34"}

COMBINING = 1 << 31
RIGHT_HALF = 1 << 30


def text(code, name):
    value = code.findtext(name)
    return " ".join(value.split()) if value is not None else ""


def main(argv):
    if len(argv) not in (3, 4):
        sys.exit(__doc__)
    with open(argv[1], "rb") as f:
        raw = f.read()
    digest = hashlib.sha256(raw).hexdigest()
    root = ET.fromstring(raw)
    sets = {cs.get("ISOcode"): cs for cs in root.iter("characterSet")}
    with open(argv[2], "rb") as f:
        raw_additions = f.read()
    additions_digest = hashlib.sha256(raw_additions).hexdigest()
    additions = ET.fromstring(raw_additions)
    for cs in additions.iter("characterSet"):
        if cs.get("ISOcode") != EACC:
            sys.exit(f"{argv[2]}: set {cs.get('ISOcode')}: only EACC codes may be added")

    out = []
    w = out.append
    w("//! MARC-8 code tables: what each byte (or EACC byte triple) of each MARC-8")
    w("//! character set means in Unicode.")
    w("//!")
    w("//! GENERATED FILE, DO NOT EDIT. It is written by")
    w("//! `crates/marc/tools/gen_marc8_tables.py` from the Library of Congress code")
    w("//! tables (`codetables.xml`, as shipped with MARC::Charset and copied to")
    w(f"//! `crates/marc/data/codetables.xml`; sha256 {digest})")
    w("//! and the EACC codes MARC::Charset adds to them")
    w("//! (`crates/marc/data/additional-iii-characters.xml`; sha256")
    w(f"//! {additions_digest}).")
    w("//! To regenerate, from the repository root:")
    w("//!")
    w("//! ```text")
    w("//! python3 crates/marc/tools/gen_marc8_tables.py \\")
    w("//!     crates/marc/data/codetables.xml \\")
    w("//!     crates/marc/data/additional-iii-characters.xml \\")
    w("//!     crates/marc/src/marc8_tables.rs")
    w("//! ```")
    w("//!")
    w("//! The test `marc8_tables_are_up_to_date` fails when this file and the")
    w("//! generator's output differ. The decoding rules live in `marc8.rs`; this")
    w("//! module holds data only.")
    w("")
    w("/// Flag on a table entry: the character is a combining mark, which MARC-8")
    w("/// writes before its base character and Unicode after it.")
    w(f"pub(crate) const COMBINING: u32 = 0x{COMBINING:08X};")
    w("/// Flag on a table entry: the right half of a double diacritic (ligature,")
    w("/// double tilde); the value is LC's alternative mapping for a lone half.")
    w(f"pub(crate) const RIGHT_HALF: u32 = 0x{RIGHT_HALF:08X};")
    w("/// Mask for the Unicode scalar value of an entry.")
    w("pub(crate) const CHAR_MASK: u32 = 0x001F_FFFF;")
    w("")
    w("/// A 94-character single-byte set, indexed by G0 code minus 0x21; an")
    w("/// entry is 0 where the set has no character, otherwise the code point")
    w("/// with the flags above.")
    w("pub(crate) struct Set94 {")
    w("    /// Final byte of the escape sequence that designates the set.")
    w("    pub(crate) final_byte: u8,")
    w("    /// LC's name of the set, for error messages.")
    w("    pub(crate) name: &'static str,")
    w("    /// The characters, by G0 code minus 0x21.")
    w("    pub(crate) chars: [u32; 94],")
    w("}")
    w("")

    c1 = {}
    pairs = []
    for iso, const in SETS:
        cs = sets[iso]
        chars = [0] * 94
        for code in cs.iter("code"):
            marc = int(text(code, "marc"), 16)
            ucs = text(code, "ucs")
            alt = text(code, "alt")
            flags = 0
            if text(code, "isCombining") == "true":
                flags |= COMBINING
            if not ucs:
                if not alt or not text(code, "marc_left_half"):
                    sys.exit(f"set {iso} code {marc:02X}: no ucs and not a right half")
                ucs = alt
                flags |= RIGHT_HALF
            value = int(ucs, 16)
            if 0x80 <= marc <= 0x9F:
                if iso == "45":
                    c1[marc] = value
                elif c1.get(marc) != value:
                    sys.exit(f"set {iso} code {marc:02X}: C1 code differs from ANSEL's")
                continue
            if iso == "42" and marc <= 0x20:
                continue
            if iso in G1_LISTED and 0xA1 <= marc <= 0xFE:
                marc -= 0x80
            if not 0x21 <= marc <= 0x7E:
                sys.exit(f"set {iso} code {marc:02X}: outside 0x21-0x7E")
            if chars[marc - 0x21]:
                sys.exit(f"set {iso} code {marc:02X}: listed twice")
            right = text(code, "marc_right_half")
            if right:
                pairs.append((marc, int(right, 16) - (0x80 if iso in G1_LISTED else 0)))
            chars[marc - 0x21] = value | flags
        name = cs.get("name").replace('"', "'")
        w(f"/// {cs.get('name')} (ISO code 0x{iso}).")
        w(f"pub(crate) static {const}: Set94 = Set94 {{")
        w(f"    final_byte: 0x{iso},")
        w(f'    name: "{name}",')
        w("    chars: [")
        for row in range(0, 94, 8):
            cells = ", ".join(f"0x{v:08X}" for v in chars[row:row + 8])
            w(f"        {cells},")
        w("    ],")
        w("};")
        w("")

    w("/// Every single-byte set, for looking one up by its final byte.")
    w("pub(crate) static SETS94: [&Set94; %d] = [" % len(SETS))
    for _, const in SETS:
        w(f"    &{const},")
    w("];")
    w("")
    w("/// The C1 codes MARC-8 uses (from ANSEL), whatever sets are designated.")
    w("pub(crate) static C1: [(u8, u32); %d] = [" % len(c1))
    for marc in sorted(c1):
        w(f"    (0x{marc:02X}, 0x{c1[marc]:04X}),")
    w("];")
    w("")
    w("/// Double diacritics as (left half, right half) G0 codes in ANSEL.")
    w("pub(crate) static DOUBLE_DIACRITICS: [(u8, u8); %d] = [" % len(pairs))
    for left, right in sorted(pairs):
        w(f"    (0x{left:02X}, 0x{right:02X}),")
    w("];")
    w("")

    eacc = {}
    for code in sets[EACC].iter("code"):
        marc = int(text(code, "marc"), 16)
        ucs = text(code, "ucs") or text(code, "alt")
        if not ucs:
            sys.exit(f"EACC code {marc:06X}: no ucs")
        if marc in eacc:
            sys.exit(f"EACC code {marc:06X}: listed twice")
        eacc[marc] = int(ucs, 16)
    for cs in additions.iter("characterSet"):
        for code in cs.iter("code"):
            marc = int(text(code, "marc"), 16)
            ucs = text(code, "ucs")
            if not ucs or text(code, "isCombining") == "true":
                sys.exit(f"{argv[2]}: EACC code {marc:06X}: no ucs, or combining")
            if marc in eacc:
                sys.exit(f"{argv[2]}: EACC code {marc:06X} is in LC's table already")
            eacc[marc] = int(ucs, 16)
    w("/// Chinese, Japanese, Korean (EACC, ISO code 0x31): (three-byte code,")
    w("/// code point), sorted by code: LC's table and MARC::Charset's additions.")
    w("pub(crate) static EACC: [(u32, u32); %d] = [" % len(eacc))
    items = sorted(eacc.items())
    for row in range(0, len(items), 4):
        cells = " ".join(f"(0x{m:06X}, 0x{u:05X})," for m, u in items[row:row + 4])
        w(f"    {cells}")
    w("];")

    result = "\n".join(out) + "\n"
    if len(argv) == 4:
        with open(argv[3], "w", encoding="utf-8", newline="\n") as f:
            f.write(result)
    else:
        sys.stdout.write(result)


if __name__ == "__main__":
    main(sys.argv)
