#!/usr/bin/env bash
# Prepares the benchmark's LC corpus from Library of Congress open data:
# the first 150,000 records of "Books All" 2016 part 01 (MDSConnect), as
# ISO 2709, xz-compressed. The result is byte for byte the file that
# bench/run.sh expects (sha256 of the uncompressed records below).
#
# Usage: bench/prepare-lc.sh SOURCE [OUT]
#   SOURCE  BooksAll.2016.part01.utf8 or BooksAll.2016.part01.utf8.gz, from
#           https://www.loc.gov/cds/downloads/MDSConnect/ (also shipped,
#           uncompressed, in the PyPI sdist of pymarc 5.4.0)
#   OUT     default target/bench/lc-books-2016-part01-first150000.mrc.xz,
#           where bench/run.sh looks when UNICAT_BENCH_LC is not set
#
# The records are a US federal government work, distributed by LC free of
# charge. They stay outside the repository (24 MB compressed).
set -euo pipefail
cd "$(dirname "$0")/.."
src="${1:?usage: bench/prepare-lc.sh SOURCE [OUT]}"
out="${2:-target/bench/lc-books-2016-part01-first150000.mrc.xz}"
want=a90fcd90e6d9132e18c2f903639b872f72b7af962d3d174c5d569c011b14b5d4
mkdir -p "$(dirname "$out")"
# Records end with the ISO 2709 record terminator 0x1D; keep the first
# 150,000. Python reads the source itself, so nothing is cut off mid-pipe.
python3 - "$src" "$out.mrc.tmp" <<'PY'
import gzip, sys
src, dst = sys.argv[1], sys.argv[2]
opener = gzip.open if src.endswith(".gz") else open
n, want, buf = 0, 150000, b""
with opener(src, "rb") as inp, open(dst, "wb") as out:
    for chunk in iter(lambda: inp.read(1 << 20), b""):
        buf += chunk
        pos = 0
        while n < want:
            end = buf.find(b"\x1d", pos)
            if end < 0:
                break
            pos = end + 1
            n += 1
        out.write(buf[:pos])
        buf = buf[pos:]
        if n == want:
            break
if n < want:
    sys.exit(f"only {n} records in {src}; expected at least {want}")
PY
got=$(sha256sum <"$out.mrc.tmp" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
  rm -f "$out.mrc.tmp"
  echo "the first 150,000 records have sha256 $got, expected $want: not the LC file bench/run.sh was measured on" >&2
  exit 1
fi
xz -6 -T0 -c "$out.mrc.tmp" >"$out.tmp" && mv "$out.tmp" "$out"
rm -f "$out.mrc.tmp"
echo "$out"
