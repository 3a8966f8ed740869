#!/usr/bin/env bash
# MARC conversion benchmark: MARCXML -> model -> ISO 2709 on N synthetic
# records (default 100000), ours against `yaz-marcdump -i marcxml -o marc`
# on the same file, in the same run, interleaved. Prints each run, the
# medians and the ratio. See bench/README-marc.md.
#
# Usage: bench/marc.sh [N]   (RUNS=5 by default; WORK=dir for the files)
set -euo pipefail
cd "$(dirname "$0")/.."

n="${1:-100000}"
runs="${RUNS:-5}"
work="${WORK:-${TMPDIR:-/tmp}/unicat-bench-marc}"
command -v yaz-marcdump >/dev/null || {
  echo "yaz-marcdump not found: apt-get install -y yaz" >&2
  exit 1
}
mkdir -p "$work"

cargo build --release --quiet -p unicat-marc --example gen_marcxml --example convert
bin=target/release/examples
xml="$work/records-$n.xml"
"$bin/gen_marcxml" "$n" "$xml"
echo "input: $xml ($(du -h "$xml" | cut -f1), $n records)"
echo "machine: $(nproc) cores, $(yaz-marcdump -V 2>&1 | head -1)"

# Wall-clock and CPU (user + system, children included) milliseconds of one
# command, as "WALL CPU". CPU time is printed too because on a shared
# machine wall-clock time also measures the neighbours.
measure() {
  local TIMEFORMAT='%R %U %S' t
  t=$( { time "$@" >/dev/null 2>&1; } 2>&1 )
  awk -v t="$t" 'BEGIN { split(t, a, " "); printf "%d %d\n", a[1] * 1000, (a[2] + a[3]) * 1000 }'
}

ours_wall=() ours_cpu=() yaz_wall=() yaz_cpu=()
for i in $(seq "$runs"); do
  # Alternate, so that drift in the machine's load hits both alike.
  read -r wall cpu < <(measure "$bin/convert" "$xml" "$work/ours.mrc")
  ours_wall+=("$wall") ours_cpu+=("$cpu")
  read -r wall cpu < <(measure sh -c 'yaz-marcdump -i marcxml -o marc "$1" > "$2"' sh "$xml" "$work/yaz.mrc")
  yaz_wall+=("$wall") yaz_cpu+=("$cpu")
  echo "run $i: unicat ${ours_wall[-1]} ms (cpu ${ours_cpu[-1]}), yaz-marcdump ${yaz_wall[-1]} ms (cpu ${yaz_cpu[-1]})"
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
m_ours=$(median "${ours_wall[@]}")
m_yaz=$(median "${yaz_wall[@]}")
c_ours_ms=$(median "${ours_cpu[@]}")
c_yaz_ms=$(median "${yaz_cpu[@]}")

# Both outputs must hold every record; say whether they are byte-identical.
count() { tr -cd '\035' < "$1" | wc -c; }
c_ours=$(count "$work/ours.mrc")
c_yaz=$(count "$work/yaz.mrc")
if cmp -s "$work/ours.mrc" "$work/yaz.mrc"; then same="byte-identical"; else same="not byte-identical"; fi

awk -v runs="$runs" -v n="$n" -v o="$m_ours" -v y="$m_yaz" -v oc="$c_ours_ms" -v yc="$c_yaz_ms" \
    -v co="$c_ours" -v cy="$c_yaz" -v same="$same" 'BEGIN {
  printf "median of %d runs (wall-clock; cpu = user + system):\n", runs
  printf "  unicat       %6.0f ms  %7.0f records/s  cpu %6.0f ms  (%d records written)\n", o, n / (o / 1000), oc, co
  printf "  yaz-marcdump %6.0f ms  %7.0f records/s  cpu %6.0f ms  (%d records written)\n", y, n / (y / 1000), yc, cy
  printf "  ratio yaz/unicat: %.2f wall-clock, %.2f cpu (above 1: unicat is faster)\n", y / o, yc / oc
  printf "  outputs: %s\n", same
}'
[ "$c_ours" -eq "$n" ] || { echo "unicat wrote $c_ours of $n records" >&2; exit 1; }
