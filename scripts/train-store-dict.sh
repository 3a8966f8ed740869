#!/usr/bin/env bash
# Trains the zstd dictionary with which the SQLite store packs its large
# texts (src/store/packed.rs): records as harvested, normalised records and
# union records, all MARCXML. Kept for the record of how
# src/store/store-dict-1.zdict was made; a dictionary that has shipped is
# never replaced (stored texts name it), a new one gets a new number.
#
# Usage: scripts/train-store-dict.sh [LC_XZ] [OUT]
#   LC_XZ  the benchmark's LC corpus (default: UNICAT_BENCH_LC, else the
#          copy bench/prepare-lc.sh writes)
#   OUT    default target/store-dict/store-dict-1.zdict
#
# Samples: every 75th of the first 150,000 LC records (a US federal
# government work, free of charge) in three forms, as the store holds
# them: yaz-marcdump's MARCXML (a partner's OAI-PMH response), unicat's
# own serialisation (`unicat convert`, the normalised form), and the union
# records `unicat publish` writes for them. Needs yaz-marcdump, zstd,
# python3 and a release build of unicat.
set -euo pipefail
cd "$(dirname "$0")/.."
lc="${1:-${UNICAT_BENCH_LC:-target/bench/lc-books-2016-part01-first150000.mrc.xz}}"
out="${2:-target/store-dict/store-dict-1.zdict}"
unicat=target/release/unicat
[ -x "$unicat" ] || cargo build --release --locked --quiet --bin unicat
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
# Every 75th record (2,000 of 150,000), as ISO 2709.
xz -dc "$lc" | python3 -c '
import sys
data = sys.stdin.buffer.read()
recs = data.split(b"\x1d")[:-1]
sys.stdout.buffer.write(b"".join(r + b"\x1d" for r in recs[::75]))
' >"$w/sample.mrc"
yaz-marcdump -i marc -o marcxml "$w/sample.mrc" >"$w/raw.xml" 2>/dev/null
"$unicat" convert --to marcxml "$w/sample.mrc" -o "$w/normalised.xml"
mkdir -p "$w/state" "$w/publish"
cat >"$w/unicat.toml" <<EOF
state-dir = "$w/state"
[publish]
output-dir = "$w/publish"
[[partner]]
name = "lc"
code = "DLC"
base-url = "http://127.0.0.1:9/oai"
schedule = "0 2 * * *"
EOF
UNICAT_LOG=warn "$unicat" --config "$w/unicat.toml" import --partner lc "$w/sample.mrc" >/dev/null
UNICAT_LOG=warn "$unicat" --config "$w/unicat.toml" publish >/dev/null
# One file per record, each form in its own numbered range.
mkdir -p "$w/samples"
python3 - "$w" <<'PY'
import re, sys, pathlib
w = pathlib.Path(sys.argv[1])
n = 0
for name in ["raw.xml", "normalised.xml", "publish/union.xml"]:
    text = (w / name).read_text(encoding="utf-8")
    for rec in re.findall(r"<record\b.*?</record>", text, re.S):
        (w / "samples" / f"{n:05}.xml").write_text(rec, encoding="utf-8")
        n += 1
print(f"{n} samples", file=sys.stderr)
PY
mkdir -p "$(dirname "$out")"
# dictID 1 is the number src/store/packed.rs gives this dictionary.
zstd -q -f --train "$w"/samples/*.xml --maxdict=65536 --dictID=1 -o "$out"
sha256sum "$out"
