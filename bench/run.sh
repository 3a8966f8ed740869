#!/usr/bin/env bash
# The benchmark of the performance issue, in one command: builds the release
# binaries, prepares the corpora (150,000 Library of Congress records; a
# synthetic four-partner corpus with about 33 % duplicates), runs every
# measurement against its reference tool where there is one, and prints one
# table, also written as Markdown to target/bench/results.md
# (target/bench/results-quick.md in quick mode).
#
# Usage: bench/run.sh [--quick | --dedup]     (UNICAT_BENCH_LC=FILE: the LC corpus;
#        UNICAT_BENCH_SYN=N, UNICAT_BENCH_SYN_SMALL=N: other synthetic sizes)
#   (default) full sizes: LC 150,000; synthetic 1,000,000 and 100,000;
#             5 interleaved runs of the short tasks (3 if a run takes more
#             than a minute), 1 run of the 1,000,000-record tasks; about
#             25 minutes on 2 cores, plus the 1,000,000-record harvest and
#             dedup on PostgreSQL (section 3, also with --dedup)
#   --quick   small sizes (LC 10,000; synthetic 20,000 and 2,000), 1 run:
#             checks that the harness works, figures mean little
#
# Reference tools (bench/setup.sh installs them): yaz-marcdump, curl,
# Python with pymarc, Sickle and pyoai, GNU time. A missing one is reported
# as "n/a (tool missing: ...)" in its row instead of failing the run.
# Every measured stage is a process of its own (bench/suite.rs), so its
# peak RSS is its own; OAI-PMH servers run in separate processes so the
# records they hold do not count. See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# The whole script is one compound command, so bash reads all of it before
# running any: editing this file during a run (which takes half an hour)
# cannot change the run.
{

mode=full
case "${1:-}" in
  --quick) mode=quick ;;
  --dedup) mode=dedup ;;
  "") ;;
  *) echo "usage: bench/run.sh [--quick | --dedup]" >&2; exit 2 ;;
esac
if [ "$mode" = quick ]; then
  LC_N=10000 SYN_N=20000 SYN_SMALL=2000 RUNS=1
elif [ "$mode" = dedup ]; then
  # Section 3 alone (1,000,000 synthetic records: harvest, full dedup +
  # merge, 1,000 changes and the incremental refresh), for a change to the
  # matcher; no LC corpus needed.
  LC_N=0 SYN_N=1000000 SYN_SMALL=0 RUNS=1
else
  LC_N=150000 SYN_N=1000000 SYN_SMALL=100000 RUNS=5
fi
# Sizes of the synthetic corpora for a mid-size check by hand (the table
# then says so in its N column; the targets are for the sizes above).
SYN_N=${UNICAT_BENCH_SYN:-$SYN_N}
[ "$mode" = dedup ] || SYN_SMALL=${UNICAT_BENCH_SYN_SMALL:-$SYN_SMALL}
CHANGES=1000
W=target/bench
RUN=$W/run-$mode
TSV=$RUN/results.tsv
NOTES=$RUN/notes.md
RAW=$RUN/runs.txt
# A quick check never overwrites the last full run's table.
OUT=$W/results.md
[ "$mode" = quick ] && OUT=$W/results-quick.md
[ "$mode" = dedup ] && OUT=$W/results-dedup.md
# The LC corpus stays outside the repository: UNICAT_BENCH_LC names it;
# otherwise the copy bench/prepare-lc.sh makes, or the reference shelf
# beside the clone where there is one (see bench/README.md, "Corpora").
LC_NAME=lc-books-2016-part01-first150000.mrc.xz
if [ -n "${UNICAT_BENCH_LC:-}" ]; then
  LC_XZ=$UNICAT_BENCH_LC
elif [ -s "target/bench/$LC_NAME" ]; then
  LC_XZ=target/bench/$LC_NAME
else
  LC_XZ=../shared/data/lc-books-2016/$LC_NAME
fi
if [ "$mode" != dedup ] && [ ! -s "$LC_XZ" ]; then
  cat >&2 <<MSG
bench/run.sh: the LC corpus is missing (looked for ${UNICAT_BENCH_LC:-target/bench/$LC_NAME and $LC_XZ}).
It is public Library of Congress data, kept outside the repository. Download
BooksAll.2016.part01.utf8.gz from https://www.loc.gov/cds/downloads/MDSConnect/
and run
  bench/prepare-lc.sh BooksAll.2016.part01.utf8.gz
which writes target/bench/$LC_NAME (the first 150,000 records, checked by
sha256), or set UNICAT_BENCH_LC to a copy you already have.
MSG
  exit 2
fi
export UNICAT_LOG=warn
t_start=$(date +%s)
rm -rf "$RUN"
mkdir -p "$RUN"
: >"$TSV"
: >"$NOTES"
: >"$RAW"
note() { echo "$*" | tee -a "$NOTES"; }
log() { echo "== $*" >&2; }

# --- Tools -----------------------------------------------------------------

# bench/setup.sh installs the Python tools into a virtual environment where
# the system Python refuses pip; use it when it is there.
PY=python3
[ -x target/bench/venv/bin/python3 ] && PY=target/bench/venv/bin/python3
have_py() { command -v "$PY" >/dev/null && "$PY" -c "import $1" 2>/dev/null; }
missing() { # prints why a reference tool cannot run, or nothing
  case "$1" in
    yaz) command -v yaz-marcdump >/dev/null || echo "tool missing: yaz-marcdump" ;;
    curl) command -v curl >/dev/null || echo "tool missing: curl" ;;
    pymarc) have_py pymarc || echo "tool missing: python3 pymarc" ;;
    sickle) have_py sickle || echo "tool missing: python3 sickle" ;;
    pyoai) have_py oaipmh || echo "tool missing: python3 pyoai" ;;
  esac
}
GNU_TIME=/usr/bin/time
[ -x "$GNU_TIME" ] && "$GNU_TIME" -f %M true 2>/dev/null || GNU_TIME=""
[ -n "$GNU_TIME" ] || echo "GNU time missing (apt-get install -y time): peak RSS of reference tools will be n/a" >&2

log "building release binaries"
cargo build --release --locked --quiet --example unicat-bench
cargo build --release --locked --quiet -p unicat-marc --example convert
# `unicat convert`, the verb as a user runs it (issue #21), beside the
# library's example.
cargo build --release --locked --quiet --bin unicat
# Where cargo put them (CARGO_TARGET_DIR, as in a worktree of its own).
T=${CARGO_TARGET_DIR:-target}
B=$T/release/examples/unicat-bench
CONVERT=$T/release/examples/convert
UNICAT=$T/release/unicat

# measure NAME CMD...: runs CMD with its stdout in $RUN/NAME.out and stderr
# in $RUN/NAME.err; sets WALL (s), RSS (KiB, or "n/a"), OK (0 or exit code)
# and LINE (the last line of stdout, the stages' key=value report).
measure() {
  local name=$1
  shift
  local t0 t1
  OK=0
  if [ -n "$GNU_TIME" ]; then
    "$GNU_TIME" -f '%e %M' -o "$RUN/$name.time" "$@" >"$RUN/$name.out" 2>"$RUN/$name.err" || OK=$?
    read -r WALL RSS <"$RUN/$name.time" || true
    # GNU time writes "Command exited with non-zero status" first on failure.
    if [ "$OK" -ne 0 ]; then read -r WALL RSS < <(tail -1 "$RUN/$name.time"); fi
  else
    t0=$(date +%s.%N)
    "$@" >"$RUN/$name.out" 2>"$RUN/$name.err" || OK=$?
    t1=$(date +%s.%N)
    WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    RSS=n/a
  fi
  LINE=$(tail -1 "$RUN/$name.out" 2>/dev/null || true)
  echo "$name: wall ${WALL}s peak ${RSS} KiB exit $OK :: $LINE" >>"$RAW"
}
field() { # field KEY LINE: the value of KEY=... in a stage's report line
  echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
max() { printf '%s\n' "$@" | sort -g | tail -1; }
mib() { case "$1" in n/a | "") echo n/a ;; *) awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }' ;; esac; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "n/a" }'; }
ratio() { case "$2" in n/a* | "" | 0) echo "n/a" ;; *) awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' ;; esac; }
# row TASK N RUNS WALL RATE RSS_MIB REF REF_RATE RATIO TARGET
row() { local IFS=$'\t'; echo "$*" >>"$TSV"; }
judge() { # judge CONDITION-AWK-EXPR TEXT: "TEXT: met" / "TEXT: MISSED"
  local v
  v=$(awk "BEGIN { print ($1) ? \"met\" : \"MISSED\" }")
  [ "$mode" = quick ] && v="$v (quick sizes)"
  echo "$2: $v"
}

# --- Servers ---------------------------------------------------------------

# start_server NAME ARGS...: an OAI-PMH server stage in the background,
# its commands on a FIFO; waits for its "ready" line. Sets SERVER_OUT.
declare -A SERVER_PID SERVER_FD
start_server() {
  local name=$1
  shift
  local fifo=$RUN/$name.ctl fd
  rm -f "$fifo"
  mkfifo "$fifo"
  exec {fd}<>"$fifo"
  SERVER_FD[$name]=$fd
  "$B" "$@" <"$fifo" >"$RUN/$name.out" 2>"$RUN/$name.err" {fd}>&- &
  SERVER_PID[$name]=$!
  SERVER_OUT=$RUN/$name.out
  local waited=0
  until grep -qE '^(ready|provider)' "$SERVER_OUT"; do
    if ! kill -0 "${SERVER_PID[$name]}" 2>/dev/null; then
      echo "server $name died:" >&2
      cat "$RUN/$name.err" >&2
      exit 1
    fi
    sleep 0.5
    waited=$((waited + 1))
    [ $waited -lt 2400 ] || { echo "server $name not ready after 20 min" >&2; exit 1; }
  done
}
stop_server() {
  local name=$1 pid=${SERVER_PID[$1]:-}
  [ -n "$pid" ] || return 0
  echo quit >&"${SERVER_FD[$name]}" 2>/dev/null || true
  for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local fd=${SERVER_FD[$name]}
  exec {fd}>&-
  unset "SERVER_PID[$name]"
}
cleanup() {
  for name in "${!SERVER_PID[@]}"; do stop_server "$name"; done
  [ -z "${PG_URL:-}" ] || scripts/pg-cluster.sh stop "$PG_DIR" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# The store on PostgreSQL (the shared-store issue): a throwaway cluster
# (scripts/pg-cluster.sh, Debian's postgresql) for the rows that repeat a
# harvest and a dedup pass on it; n/a rows if it cannot start.
PG_DIR=$RUN/pg
PG_URL=$(scripts/pg-cluster.sh start "$PG_DIR" 2>"$RUN/pg-cluster.err") || PG_URL=""
[ -n "$PG_URL" ] || echo "PostgreSQL rows will be n/a: $(tail -1 "$RUN/pg-cluster.err")" >&2
PG_WHY="n/a (PostgreSQL did not start, see $RUN/pg-cluster.err)"
# pg_fresh DB: a new, empty PostgreSQL database DB (dropped first if a run
# before made one).
pg_fresh() {
  psql "$PG_URL" -qX -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
}
# pg_store DB: the [store] table of a config whose store is database DB.
pg_store() { printf '[store]\nbackend = "postgres"\nurl = "%s/%s"\n' "${PG_URL%/*}" "$1"; }
# pg_sql DB SQL: the result of SQL in database DB, unaligned.
pg_sql() { psql "${PG_URL%/*}/$1" -AtqX -v ON_ERROR_STOP=1 -c "$2"; }
# pg_config SRC DST DB: the config SRC with its store in a new PostgreSQL
# database DB.
pg_config() {
  pg_fresh "$3"
  { cat "$1"; pg_store "$3"; } >"$2"
}

# write_config DIR SERVER_OUT: a unicat config for the partners a server
# printed, with the sinks and provider the later stages use.
write_config() {
  local dir=$1 server_out=$2
  mkdir -p "$dir"
  {
    echo "state-dir = \"$PWD/$dir/state\""
    echo "[publish]"
    echo "output-dir = \"$PWD/$dir/publish\""
    echo "# Changes only, as files (a delta-only sink: no full dump)."
    echo "[[publish.sink]]"
    echo "name = \"delta-files\""
    echo "dir = \"$PWD/$dir/delta-files\""
    echo "formats = [\"marcxml\", \"iso2709\"]"
    echo "full = false"
    echo "# Changes only, pushed (the url is replaced by a local receiver)."
    echo "[[publish.sink]]"
    echo "name = \"delta-push\""
    echo "url = \"http://127.0.0.1:9/replaced\""
    echo "formats = [\"marcxml\"]"
    echo "[provider]"
    echo "admin-email = \"catalogue@example.org\""
    echo "page-size = 500"
    grep '^partner ' "$server_out" | while read -r _ name code url _; do
      printf '[[partner]]\nname = "%s"\ncode = "%s"\nbase-url = "%s"\nschedule = "0 2 * * *"\n' "$name" "$code" "$url"
    done
  } >"$dir/bench.toml"
}

if [ "$mode" != dedup ]; then
# --- Corpora ---------------------------------------------------------------

log "preparing the LC corpus"
mkdir -p "$W/lc"
if [ ! -s "$W/lc/lc.mrc" ]; then
  xz -dc "$LC_XZ" >"$W/lc/lc.mrc.tmp" && mv "$W/lc/lc.mrc.tmp" "$W/lc/lc.mrc"
fi
# MARCXML derived once: yaz-marcdump keeps all 150,000 records; unicat's
# own ISO 2709 reader refuses 3 whose 001 holds a subfield delimiter, so it
# is the fallback only.
if [ ! -s "$W/lc/lc.xml" ]; then
  if [ -z "$(missing yaz)" ]; then
    yaz-marcdump -i marc -o marcxml "$W/lc/lc.mrc" >"$W/lc/lc.xml.tmp"
  else
    "$B" to-xml "$W/lc/lc.mrc" "$W/lc/lc.xml.tmp" >&2
  fi
  mv "$W/lc/lc.xml.tmp" "$W/lc/lc.xml"
fi
lc_total=$(grep -c '<record' "$W/lc/lc.xml" || true)
note "- LC corpus: $W/lc/lc.xml holds $lc_total records (expected 150,000)."
LC_XML=$W/lc/lc.xml
if [ "$LC_N" -lt "$lc_total" ]; then
  # The first LC_N records, through unicat's reader and writer.
  LC_XML=$W/lc/lc-first$LC_N.xml
  [ -s "$LC_XML" ] || "$B" to-xml "$W/lc/lc.mrc" "$LC_XML" "$LC_N" >/dev/null
fi
lc_n=$(grep -c '<record' "$LC_XML" || true)

# --- 1. MARC conversion ----------------------------------------------------

log "1. MARC conversion, $lc_n LC records, MARCXML -> ISO 2709"
conv_tools=(yaz pymarc)
declare -A CW CR
runs=$RUNS
i=0
while [ $i -lt $runs ]; do
  i=$((i + 1))
  # Interleaved, so that drift in the machine's load hits every tool alike.
  measure "conv-unicat-$i" "$CONVERT" "$LC_XML" "$RUN/conv-unicat.mrc"
  CW[unicat]+="$WALL " CR[unicat]+="$RSS "
  first=("$WALL")
  measure "conv-verb-$i" "$UNICAT" convert --from marcxml --to iso2709 "$LC_XML" -o "$RUN/conv-verb.mrc"
  CW[verb]+="$WALL " CR[verb]+="$RSS "
  if [ -z "$(missing yaz)" ]; then
    measure "conv-yaz-$i" sh -c 'yaz-marcdump -i marcxml -o marc "$1" > "$2"' sh "$LC_XML" "$RUN/conv-yaz.mrc"
    CW[yaz]+="$WALL " CR[yaz]+="$RSS "
    first+=("$WALL")
  fi
  if [ -z "$(missing pymarc)" ]; then
    measure "conv-pymarc-$i" "$PY" bench/ref_pymarc.py "$LC_XML" "$RUN/conv-pymarc.mrc"
    [ "$OK" -eq 0 ] && { CW[pymarc]+="$WALL " CR[pymarc]+="$RSS "; }
    first+=("$WALL")
  fi
  # 3 runs instead of 5 when a run takes more than a minute.
  if [ $i -eq 1 ] && [ "$runs" -gt 3 ] && awk -v m="$(max "${first[@]}")" 'BEGIN { exit !(m > 60) }'; then runs=3; fi
done
count_mrc() { tr -cd '\035' <"$1" | wc -c; }
u_wall=$(median ${CW[unicat]})
u_rate=$(rate "$lc_n" "$u_wall")
u_rss=$(mib "$(max ${CR[unicat]})")
note "- MARC conversion: unicat wrote $(count_mrc "$RUN/conv-unicat.mrc") records$([ -f "$RUN/conv-yaz.mrc" ] && { cmp -s "$RUN/conv-unicat.mrc" "$RUN/conv-yaz.mrc" && echo ", byte-identical to yaz-marcdump's" || echo ", not byte-identical to yaz-marcdump's ($(count_mrc "$RUN/conv-yaz.mrc") records)"; })$([ -f "$RUN/conv-pymarc.mrc" ] && { cmp -s "$RUN/conv-unicat.mrc" "$RUN/conv-pymarc.mrc" && echo " and to pymarc's" || echo "; pymarc's differs"; })."
for tool in "${conv_tools[@]}"; do
  label=$([ $tool = yaz ] && echo "yaz-marcdump -i marcxml -o marc" || echo "pymarc (streaming parse_xml, as_marc)")
  why=$(missing $tool)
  if [ -n "$why" ]; then
    row "MARC conversion (LC, MARCXML → ISO 2709)" "$lc_n" "$runs" "$u_wall" "$u_rate" "$u_rss" "$label" "n/a ($why)" "n/a" \
      "$([ $tool = yaz ] && echo "ratio ≥ 1.0 vs yaz: not measured")"
    continue
  fi
  if [ -z "${CW[$tool]:-}" ]; then
    row "MARC conversion (LC, MARCXML → ISO 2709)" "$lc_n" "$runs" "$u_wall" "$u_rate" "$u_rss" "$label" "n/a (failed, see $RUN)" "n/a" ""
    continue
  fi
  r_rate=$(rate "$lc_n" "$(median ${CW[$tool]})")
  rt=$(ratio "$u_rate" "$r_rate")
  tgt=""
  [ $tool = yaz ] && tgt=$(judge "$rt >= 1.0" "ratio ≥ 1.0 vs yaz")
  row "MARC conversion (LC, MARCXML → ISO 2709)" "$lc_n" "$runs" "$u_wall" "$u_rate" "$u_rss" "$label" "$r_rate" "$rt" "$tgt"
  note "- MARC conversion, $label: median $(median ${CW[$tool]}) s, peak $(mib "$(max ${CR[$tool]})") MiB."
done

# The verb itself against yaz-marcdump: the same conversion through the
# shipped binary (argument parsing, format checks, stderr reporting).
v_wall=$(median ${CW[verb]})
v_rate=$(rate "$lc_n" "$v_wall")
v_rss=$(mib "$(max ${CR[verb]})")
note "- unicat convert: wrote $(count_mrc "$RUN/conv-verb.mrc") records$(cmp -s "$RUN/conv-verb.mrc" "$RUN/conv-unicat.mrc" && echo ", byte-identical to the library example's" || echo ", NOT byte-identical to the library example's")."
if [ -n "$(missing yaz)" ] || [ -z "${CW[yaz]:-}" ]; then
  row "unicat convert (LC, MARCXML → ISO 2709)" "$lc_n" "$runs" "$v_wall" "$v_rate" "$v_rss" "yaz-marcdump -i marcxml -o marc" "n/a ($(missing yaz))" "n/a" "ratio ≥ 1.0 vs yaz: not measured"
else
  y_rate=$(rate "$lc_n" "$(median ${CW[yaz]})")
  vt=$(ratio "$v_rate" "$y_rate")
  row "unicat convert (LC, MARCXML → ISO 2709)" "$lc_n" "$runs" "$v_wall" "$v_rate" "$v_rss" "yaz-marcdump -i marcxml -o marc" "$y_rate" "$vt" "$(judge "$vt >= 1.0" "ratio ≥ 1.0 vs yaz")"
fi

# --- 2. Harvest LC ---------------------------------------------------------

log "2. harvest of $lc_n LC records from a local OAI-PMH server (pages of 500)"
start_server lc serve-xml "$LC_XML"
note "- LC server: $(grep '^ready' "$SERVER_OUT")"
write_config "$RUN/lc" "$SERVER_OUT"
lc_url=$(awk '/^partner /{print $4}' "$SERVER_OUT")

# The server alone: every page fetched with curl, following the tokens.
curl_walk() {
  local url=$1 out=$2 tok="" n=0 p=0
  : >"$out"
  while :; do
    if [ -z "$tok" ]; then
      curl -sfG "$url" --data-urlencode verb=ListRecords --data-urlencode metadataPrefix=marc21 -o "$out.page"
    else
      curl -sfG "$url" --data-urlencode verb=ListRecords --data-urlencode "resumptionToken=$tok" -o "$out.page"
    fi
    p=$((p + 1))
    cat "$out.page" >>"$out"
    # The token is at the end of the page: only the tail is searched, and
    # records are counted once at the end, so that the loop's own work
    # (not the server) does not set the figure.
    tok=$(tail -c 2048 "$out.page" | sed -n 's/.*<resumptionToken[^>]*>\([^<]*\)<\/resumptionToken>.*/\1/p' | sed 's/&amp;/\&/g')
    [ -n "$tok" ] || break
  done
  rm -f "$out.page"
  n=$(grep -o '<header' "$out" | wc -l)
  echo "records=$n pages=$p"
}
export -f curl_walk

harvest_refs=(curl sickle pyoai)
declare -A HW HR HN
runs=$RUNS
i=0
while [ $i -lt $runs ]; do
  i=$((i + 1))
  rm -rf "$RUN/lc/state"
  measure "harvest-lc-unicat-$i" "$B" harvest "$RUN/lc/bench.toml"
  [ "$OK" -eq 0 ] || { cat "$RUN/harvest-lc-unicat-$i.err" >&2; exit 1; }
  HW[unicat]+="$WALL " HR[unicat]+="$RSS " HN[unicat]=$(field records "$LINE")
  first=("$WALL")
  for tool in "${harvest_refs[@]}"; do
    [ -z "$(missing $tool)" ] || continue
    case $tool in
      curl) measure "harvest-lc-curl-$i" bash -c 'curl_walk "$1" "$2"' sh "$lc_url" "$RUN/harvest-curl.xml" ;;
      *) measure "harvest-lc-$tool-$i" "$PY" bench/ref_oai.py "$tool" "$lc_url" "$RUN/harvest-$tool.xml" ;;
    esac
    if [ "$OK" -eq 0 ]; then HW[$tool]+="$WALL " HR[$tool]+="$RSS " HN[$tool]=$(field records "$LINE"); fi
    first+=("$WALL")
  done
  if [ $i -eq 1 ] && [ "$runs" -gt 3 ] && awk -v m="$(max "${first[@]}")" 'BEGIN { exit !(m > 60) }'; then runs=3; fi
done
pg_lc=""
if [ -n "$PG_URL" ]; then
  log "2. the same harvest into a PostgreSQL store"
  pg_config "$RUN/lc/bench.toml" "$RUN/lc/bench-pg.toml" bench_lc
  measure harvest-lc-pg "$B" harvest "$RUN/lc/bench-pg.toml"
  [ "$OK" -eq 0 ] || { cat "$RUN/harvest-lc-pg.err" >&2; exit 1; }
  pg_lc="$WALL $RSS $(field records "$LINE")"
fi
# The commands a sysadmin runs, end to end (issue #22): `unicat harvest
# --all` of a new partner (harvest, then dedup, merge and work links) and
# `unicat import` of the same records from a file, each into a fresh
# store, RUNS times interleaved; and the store's size per record after.
log "2. unicat harvest --all and unicat import of $lc_n LC records, end to end"
declare -A EW ER
for i in $(seq "$runs"); do
  rm -rf "$RUN/lc/state"
  measure "e2e-harvest-$i" "$UNICAT" --config "$RUN/lc/bench.toml" harvest --all
  [ "$OK" -eq 0 ] || { cat "$RUN/e2e-harvest-$i.err" >&2; exit 1; }
  EW[harvest]+="$WALL " ER[harvest]+="$RSS "
  # The store as a first load leaves it (log and scratch files included).
  store_bytes=$(du -sb "$RUN/lc/state" | cut -f1)
  rm -rf "$RUN/lc/state"
  measure "e2e-import-$i" "$UNICAT" --config "$RUN/lc/bench.toml" import --partner "$(awk '/^partner /{print $2; exit}' "$SERVER_OUT")" "$LC_XML"
  [ "$OK" -eq 0 ] || { cat "$RUN/e2e-import-$i.err" >&2; exit 1; }
  EW[import]+="$WALL " ER[import]+="$RSS "
done
rm -rf "$RUN/lc/state"
h_wall=$(median ${EW[harvest]})
h_rate=$(rate "$lc_n" "$h_wall")
# The harvest stage's own rate (its row follows): u_rate still holds the
# conversion's here.
stage_rate=$(rate "${HN[unicat]}" "$(median ${HW[unicat]})")
row "unicat harvest --all, end to end (harvest, dedup, merge, work links)" "$lc_n" "$runs" "$h_wall" "$h_rate" "$(mib "$(max ${ER[harvest]})")" "harvest stage alone (median below)" "$stage_rate" "$(ratio "$h_rate" "$stage_rate")" "$(judge "$h_rate >= 15000" "≥ 15,000 rec/s")"
i_wall=$(median ${EW[import]})
i_rate=$(rate "$lc_n" "$i_wall")
row "unicat import (MARCXML file), end to end" "$lc_n" "$runs" "$i_wall" "$i_rate" "$(mib "$(max ${ER[import]})")" "unicat harvest --all (above)" "$h_rate" "$(ratio "$i_rate" "$h_rate")" ""
kb=$(awk -v b="$store_bytes" -v n="$lc_n" 'BEGIN { printf "%.2f", b / n / 1000 }')
row "Store size after harvest --all (KB per record, raw records kept)" "$lc_n" 1 "–" "–" "–" "MARCXML as served (KB per record)" "$(awk -v b="$(stat -c %s "$LC_XML")" -v n="$lc_n" 'BEGIN { printf "%.2f", b / n / 1000 }')" "n/a" "$(judge "$kb <= 5" "≤ 5 KB per record: $kb KB")"
note "- End to end: \`unicat harvest --all\` medians ${h_wall} s ($h_rate rec/s), \`unicat import\` ${i_wall} s; the state directory after a first load: $store_bytes bytes ($kb KB per record)."
stop_server lc
u_wall=$(median ${HW[unicat]})
u_rate=$(rate "${HN[unicat]}" "$u_wall")
u_rss=$(mib "$(max ${HR[unicat]})")
note "- Harvest LC: unicat harvested ${HN[unicat]} records per run (fresh database each run)."
for tool in "${harvest_refs[@]}"; do
  case $tool in
    curl) label="curl loop (server alone)" ;;
    sickle) label="Sickle 0.7 → file" ;;
    pyoai) label="pyoai 2.5 → file" ;;
  esac
  tgt=$([ $tool = curl ] && judge "$u_rate >= 20000" "≥ 20,000 rec/s" || true)
  # curl spawns a curl, sed and tail per page: it measures the loop as much
  # as the server (bench/RESULTS.md); the ratio is kept for continuity.
  why=$(missing $tool)
  if [ -n "$why" ]; then
    row "Harvest LC (HTTP, parse, normalise, store)" "$lc_n" "$runs" "$u_wall" "$u_rate" "$u_rss" "$label" "n/a ($why)" "n/a" "$tgt"
  elif [ -z "${HW[$tool]:-}" ]; then
    row "Harvest LC (HTTP, parse, normalise, store)" "$lc_n" "$runs" "$u_wall" "$u_rate" "$u_rss" "$label" "n/a (failed, see $RUN)" "n/a" "$tgt"
  else
    r_rate=$(rate "${HN[$tool]}" "$(median ${HW[$tool]})")
    row "Harvest LC (HTTP, parse, normalise, store)" "$lc_n" "$runs" "$u_wall" "$u_rate" "$u_rss" "$label" "$r_rate" "$(ratio "$u_rate" "$r_rate")" "$tgt"
    note "- Harvest LC, $label: ${HN[$tool]} records, median $(median ${HW[$tool]}) s, peak $(mib "$(max ${HR[$tool]})") MiB."
  fi
done

if [ -n "$pg_lc" ]; then
  read -r p_wall p_rss p_n <<<"$pg_lc"
  p_rate=$(rate "$p_n" "$p_wall")
  row "Harvest LC, PostgreSQL store" "$p_n" 1 "$p_wall" "$p_rate" "$(mib "$p_rss")" "unicat, SQLite store (median above)" "$u_rate" "$(ratio "$p_rate" "$u_rate")" ""
else
  row "Harvest LC, PostgreSQL store" "$lc_n" 0 "–" "–" "–" "unicat, SQLite store" "$PG_WHY" "n/a" ""
fi

# --- 6 (first half). Memory bound: the small synthetic harvest -------------

log "6. harvest of $SYN_SMALL synthetic records (memory bound, small side)"
start_server syn-small serve-synth "$SYN_SMALL"
write_config "$RUN/syn-small" "$SERVER_OUT"
measure harvest-small "$B" harvest "$RUN/syn-small/bench.toml"
[ "$OK" -eq 0 ] || { cat "$RUN/harvest-small.err" >&2; exit 1; }
small_wall=$WALL small_rss=$RSS small_n=$(field records "$LINE")
small_rate=$(rate "$small_n" "$small_wall")
# The same corpus, SQLite against PostgreSQL: harvest, then a full dedup.
measure refresh-small "$B" refresh "$RUN/syn-small/bench.toml"
[ "$OK" -eq 0 ] || { cat "$RUN/refresh-small.err" >&2; exit 1; }
sq_ref_wall=$WALL sq_ref_rss=$RSS
sq_ref_line=$LINE
if [ -n "$PG_URL" ]; then
  pg_config "$RUN/syn-small/bench.toml" "$RUN/syn-small/bench-pg.toml" bench_syn_small
  measure harvest-small-pg "$B" harvest "$RUN/syn-small/bench-pg.toml"
  [ "$OK" -eq 0 ] || { cat "$RUN/harvest-small-pg.err" >&2; exit 1; }
  ph_rate=$(rate "$(field records "$LINE")" "$WALL")
  row "Harvest synthetic, 4 partners, PostgreSQL store" "$(field records "$LINE")" 1 "$WALL" "$ph_rate" "$(mib "$RSS")" "unicat, SQLite store" "$small_rate" "$(ratio "$ph_rate" "$small_rate")" ""
  measure refresh-small-pg "$B" refresh "$RUN/syn-small/bench-pg.toml"
  [ "$OK" -eq 0 ] || { cat "$RUN/refresh-small-pg.err" >&2; exit 1; }
  if [ "$(field live_unions "$LINE")" != "$(field live_unions "$sq_ref_line")" ]; then
    echo "PostgreSQL made $(field live_unions "$LINE") union records, SQLite $(field live_unions "$sq_ref_line")" >&2
    exit 1
  fi
  sq_rate=$(rate "$small_n" "$sq_ref_wall")
  pr_rate=$(rate "$small_n" "$WALL")
  row "Dedup + merge, full, PostgreSQL store" "$small_n" 1 "$WALL" "$pr_rate" "$(mib "$RSS")" "unicat, SQLite store: $sq_ref_wall s, $(mib "$sq_ref_rss") MiB" "$sq_rate" "$(ratio "$pr_rate" "$sq_rate")" ""
  note "- PostgreSQL store: the same $(field live_unions "$LINE") union records as SQLite from $small_n synthetic records."
else
  row "Harvest synthetic, 4 partners, PostgreSQL store" "$small_n" 0 "–" "–" "–" "unicat, SQLite store" "$PG_WHY" "n/a" ""
  row "Dedup + merge, full, PostgreSQL store" "$small_n" 0 "–" "–" "–" "unicat, SQLite store" "$PG_WHY" "n/a" ""
fi

# --- 7. Scale-out: two daemons on one PostgreSQL database -----------------

# The four partners split across two daemons sharing one database, against
# one daemon harvesting all four into a database of its own: interleaved
# runs, fresh databases each time. A daemon here is a harvest process with
# a state directory of its own (its partner lock files) and its own lease
# holder name, as on two hosts; it claims each partner through a lease in
# the database (`partner:NAME`, see src/lease.rs) before harvesting it.
scale_two_label="Harvest, 4 partners split across two daemons, PostgreSQL store"
# The same with each daemon held to one core of its own (taskset), as two
# hosts would hold them, PostgreSQL and the OAI-PMH servers on any core:
# on one machine, the unpinned daemons share its cores and cannot be
# faster together than one daemon that already uses them all.
scale_setups="one two"
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then scale_setups="one two one-pinned two-pinned"; fi
if [ -n "$PG_URL" ]; then
  log "7. scale-out: $SYN_SMALL synthetic records, two daemons against one"
  S=$RUN/syn-small
  # Partners by size, largest first: one daemon takes the largest and the
  # smallest, the other the two between, so that they have about as much
  # to do.
  grep '^partner ' "$SERVER_OUT" | sort -k5,5nr >"$S/partners"
  awk 'NR == 1 || NR == 4' "$S/partners" >"$S/partners-a"
  awk 'NR == 2 || NR == 3' "$S/partners" >"$S/partners-b"
  for d in one:partners:bench_scale_one two-a:partners-a:bench_scale_two two-b:partners-b:bench_scale_two; do
    IFS=: read -r dir list db <<<"$d"
    write_config "$S/$dir" "$S/$list"
    { cat "$S/$dir/bench.toml"; pg_store "$db"; } >"$S/$dir/bench-pg.toml"
  done
  # Every wait for a heavyweight lock longer than 1 ms goes to the server
  # log, where each setup's waits are counted by kind (page commits are
  # not expected to wait for each other: see the note below).
  psql "$PG_URL" -qX -c "ALTER SYSTEM SET log_lock_waits = on" -c "ALTER SYSTEM SET deadlock_timeout = '1ms'" \
    -c "SELECT pg_reload_conf()" >/dev/null
  lock_waits() { # lock_waits FROM OUT: the server log's lock waits after byte FROM, into OUT
    tail -c +$(($1 + 1)) "$PG_DIR/server.log" | grep -E 'still waiting for|acquired .* after' >"$2" || true
  }
  # waits_by_kind FILE...: "N× MODE on KIND (S s waited in all), ..." or
  # "none" (a wait logged as begun is logged again with its length once
  # it ends).
  waits_by_kind() {
    cat "$@" | sed -n -e 's/.*still waiting for \([A-Za-z]*\) on \([a-z]*\).*/W \1 on \2/p' \
      -e 's/.*acquired \([A-Za-z]*\) on \([a-z]*\).* after \([0-9.]*\) ms.*/A \1 on \2 \3/p' |
      awk '$1 == "W" { k = $2 " " $3 " " $4; n[k]++ } $1 == "A" { t[$2 " " $3 " " $4] += $5 }
        END { for (k in n) s = s (s == "" ? "" : ", ") sprintf("%d× %s (%.2f s waited in all)", n[k], k, t[k] / 1000)
              print (s == "" ? "none" : s) }'
  }
  # daemons UNICAT-BENCH DB-URL SAMPLES CONFIG...: one harvest process per
  # CONFIG, all started at once, while the database is sampled every
  # second into SAMPLES (its backends at work, those waiting for a lock and
  # for which, the partner leases held, by how many daemons, the backends
  # waiting for an internal lock). Prints each
  # process's report line, then the sum: records, the processes' CPU time,
  # their own walls and peaks, and what the samples saw.
  daemons() {
    local b=$1 url=$2 samples=$3 rc=0 pid sampler cfg
    local pids=()
    shift 3
    # The whole machine's CPU (/proc/stat) before and after: busy or idle.
    head -1 /proc/stat >"$samples.cpu"
    # PIN="0 1": the first daemon on core 0, the second on core 1 (a
    # core each, as a host of its own would give it); empty: any core.
    local pin=(${PIN:-}) k=0 run
    for cfg in "$@"; do
      run=("$b")
      [ -z "${pin[$k]:-}" ] || run=(taskset -c "${pin[$k]}" "$b")
      "${run[@]}" harvest "$cfg" >"${cfg%.toml}.out" 2>"${cfg%.toml}.err" &
      pids+=("$!")
      k=$((k + 1))
    done
    while :; do
      psql "$url" -AtqX -F ' ' -c "SELECT count(*) FILTER (WHERE state = 'active'),
          count(*) FILTER (WHERE wait_event_type = 'Lock'),
          (SELECT count(*) FROM leases WHERE name LIKE 'partner:%' AND expires_at > now()),
          (SELECT count(DISTINCT holder) FROM leases WHERE name LIKE 'partner:%' AND expires_at > now()),
          coalesce(string_agg(DISTINCT wait_event, ',') FILTER (WHERE wait_event_type = 'Lock'), '-'),
          count(*) FILTER (WHERE wait_event_type = 'LWLock')
        FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
      sleep 1
    done >"$samples" 2>/dev/null &
    sampler=$!
    for pid in "${pids[@]}"; do wait "$pid" || rc=$?; done
    # The harvest processes' CPU time (the sampler is not waited for yet).
    times >"$samples.times"
    head -1 /proc/stat >>"$samples.cpu"
    kill "$sampler" 2>/dev/null
    wait "$sampler" 2>/dev/null
    for cfg in "$@"; do tail -1 "${cfg%.toml}.out"; done
    {
      for cfg in "$@"; do tail -1 "${cfg%.toml}.out"; done
      tail -1 "$samples.times"
    } | awk -v samples="$samples" -v machine="$(awk '
          { busy = $2 + $3 + $4 + $7 + $8 + $9; all = busy + $5 + $6 }
          NR == 1 { b0 = busy; a0 = all } END { printf "%.0f", (all > a0) ? 100 * (busy - b0) / (all - a0) : 0 }' "$samples.cpu")" '
      function secs(t) { split(t, p, "m"); return p[1] * 60 + p[2] }
      /^records=/ {
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        n += v["records"]; w = w (w == "" ? "" : "/") v["secs"]; k = k (k == "" ? "" : "/") v["peak_kib"]
      }
      /^[0-9]+m/ { cpu = secs($1) + secs($2) }
      END {
        while ((getline line < samples) > 0) {
          split(line, f, " "); s++
          if (f[1] > 0) busy++
          if (f[2] > 0) { waiting++; what[f[5]]++ }
          if (f[6] > 0) lw++
          if (f[3] > leases) leases = f[3]
          if (f[4] > holders) holders = f[4]
        }
        for (x in what) waits = waits (waits == "" ? "" : ",") x
        printf "records=%d cpu_secs=%.1f machine_busy_pct=%d secs_each=%s peak_kib_each=%s samples=%d busy_samples=%d lock_wait_samples=%d lock_waits_on=%s lwlock_wait_samples=%d max_partner_leases=%d max_holders=%d\n",
          n, cpu, machine, w, k, s, busy, waiting, (waits == "" ? "-" : waits), lw, leases, holders
      }'
    return "$rc"
  }
  export -f daemons
  declare -A XW XN
  runs=$RUNS
  i=0
  while [ $i -lt $runs ]; do
    i=$((i + 1))
    first=()
    for setup in $scale_setups; do
      rm -rf "$S"/one/state "$S"/two-a/state "$S"/two-b/state
      db=bench_scale_${setup%-pinned}
      pg_fresh "$db"
      from=$(stat -c %s "$PG_DIR/server.log")
      pin=""
      case $setup in one-pinned) pin="0" ;; two-pinned) pin="0 1" ;; esac
      if [ "${setup%-pinned}" = one ]; then
        export PIN=$pin
        measure "scale-$setup-$i" bash -c 'daemons "$@"' sh "$B" "${PG_URL%/*}/$db" "$RUN/scale-$setup-$i.samples" "$S/one/bench-pg.toml"
      else
        export PIN=$pin
        measure "scale-$setup-$i" bash -c 'daemons "$@"' sh "$B" "${PG_URL%/*}/$db" "$RUN/scale-$setup-$i.samples" "$S/two-a/bench-pg.toml" "$S/two-b/bench-pg.toml"
      fi
      [ "$OK" -eq 0 ] || { cat "$S"/*/bench-pg.err "$RUN/scale-$setup-$i.err" >&2; exit 1; }
      XW[$setup]+="$WALL " XN[$setup]=$(field records "$LINE")
      lock_waits "$from" "$RUN/scale-$setup-$i.lockwaits"
      first+=("$WALL")
    done
    if [ $i -eq 1 ] && [ "$runs" -gt 3 ] && awk -v m="$(max "${first[@]}")" 'BEGIN { exit !(m > 60) }'; then runs=3; fi
  done
  psql "$PG_URL" -qX -c "ALTER SYSTEM RESET log_lock_waits" -c "ALTER SYSTEM RESET deadlock_timeout" \
    -c "SELECT pg_reload_conf()" >/dev/null
  # Both setups must end with the same live records (the last run's).
  live_one=$(pg_sql bench_scale_one "SELECT count(*) FROM source_records WHERE NOT deleted")
  live_two=$(pg_sql bench_scale_two "SELECT count(*) FROM source_records WHERE NOT deleted")
  if [ "$live_one" != "$live_two" ] || [ "${XN[one]}" != "${XN[two]}" ]; then
    echo "two daemons left $live_two live records (harvested ${XN[two]}), one daemon $live_one (harvested ${XN[one]})" >&2
    exit 1
  fi
  one_wall=$(median ${XW[one]})
  two_wall=$(median ${XW[two]})
  one_line=$(tail -1 "$RUN/scale-one-$i.out")
  two_line=$(tail -1 "$RUN/scale-two-$i.out")
  sc=$(ratio "$two_wall" "$one_wall")
  row "$scale_two_label" "${XN[two]}" "$runs" "$two_wall" "$(rate "${XN[two]}" "$two_wall")" \
    "$(field peak_kib_each "$two_line" | awk -F/ '{ for (i = 1; i <= NF; i++) printf "%s%.0f", (i > 1 ? " / " : ""), $i / 1024 }')" \
    "one daemon, 4 partners, PostgreSQL store: $one_wall s, $(mib "$(field peak_kib_each "$one_line")") MiB" \
    "$(rate "${XN[one]}" "$one_wall")" "$sc (wall two / one)" "$(judge "$sc <= 0.65" "≤ 0.65 × one daemon's wall time")"
  note "- Two daemons on one PostgreSQL database: $live_two live source records, as with one daemon ($live_one). Last run: the two processes' own walls $(field secs_each "$two_line") s (partners $(awk '{print $2 " " $5}' "$S/partners-a" | paste -sd' ') / $(awk '{print $2 " " $5}' "$S/partners-b" | paste -sd' ')), together $(field cpu_secs "$two_line") CPU-s, the machine's $(nproc) cores $(field machine_busy_pct "$two_line") % busy; one daemon $(field cpu_secs "$one_line") CPU-s in $(field secs_each "$one_line") s, the cores $(field machine_busy_pct "$one_line") % busy. The daemons, the four OAI-PMH servers and PostgreSQL share those cores (and whatever else runs on the machine). The row is the harvest alone: with a shared store the dedup + merge after it runs in one daemon at a time (the \`pipeline\` lease, src/jobs.rs \`Jobs::refresh\`), so only one of them would run it."
  note "- Do the two daemons' page commits wait for each other? A page commit takes \`LOCK TABLE source_records IN ROW EXCLUSIVE MODE\` (\`lock_for_page\`, src/store/pg.rs), a mode that does not conflict with itself: only a dedup pass (EXCLUSIVE) waits for page commits or makes them wait; and each daemon writes its own partners' rows. Measured (log_lock_waits, deadlock_timeout 1 ms): lock waits over 1 ms in the $runs two-daemon runs: $(waits_by_kind "$RUN"/scale-two-*.lockwaits); in the one-daemon runs: $(waits_by_kind "$RUN"/scale-one-*.lockwaits) (\"relation\": a table lock such as \`lock_for_page\`'s; \"advisory\": the migration lock as both daemons open the new database; \"extension\": a table or index growing by a page, which any two writers of one table take turns at, one daemon's partners too; \"transaction\" or \"tuple\": the same row). One-second samples of pg_stat_activity, last run: $(field lock_wait_samples "$two_line") of $(field samples "$two_line") with a backend waiting for a heavyweight lock ($(field lock_waits_on "$two_line")), $(field lwlock_wait_samples "$two_line") with one waiting for an internal lock (LWLock: WAL, buffers); at most $(field max_partner_leases "$two_line") partner leases held at once, by $(field max_holders "$two_line") lease holder(s)."
  if [ -n "${XW[two-pinned]:-}" ]; then
    p1_wall=$(median ${XW[one-pinned]})
    p2_wall=$(median ${XW[two-pinned]})
    psc=$(ratio "$p2_wall" "$p1_wall")
    row "$scale_two_label, a core per daemon (taskset)" "${XN[two-pinned]}" "$runs" "$p2_wall" "$(rate "${XN[two-pinned]}" "$p2_wall")" \
      "–" "one daemon on one core, 4 partners, PostgreSQL store: $p1_wall s" \
      "$(rate "${XN[one-pinned]}" "$p1_wall")" "$psc (wall two / one)" "$(judge "$psc <= 0.65" "≤ 0.65 × one daemon's wall time")"
    note "- A core per daemon: the same two setups with each harvest process held to a core of its own by taskset (core 0 for the one daemon; cores 0 and 1 for the two), as separate hosts would hold them, while PostgreSQL and the four OAI-PMH servers run on any core: the scale-out the shared store is for, emulated on one machine."
  fi
  for db in bench_scale_one bench_scale_two; do psql "$PG_URL" -qXc "DROP DATABASE $db" >/dev/null; done
else
  row "$scale_two_label" "$small_n" 0 "–" "–" "–" "one daemon, 4 partners, PostgreSQL store" "$PG_WHY" "n/a" "≤ 0.65 × one daemon's wall time: not measured"
fi
stop_server syn-small
rm -rf "$RUN/syn-small/state"

fi # not --dedup

# --- 3. Dedup and merge, large synthetic corpus -----------------------------

log "3. synthetic corpus of $SYN_N records: generating and serving"
start_server syn serve-synth "$SYN_N"
ready=$(grep '^ready' "$SERVER_OUT")
books=$(field books "$ready")
note "- Synthetic server ($SYN_N records, 4 partners): $ready"
write_config "$RUN/syn" "$SERVER_OUT"
CFG=$RUN/syn/bench.toml

log "3. full harvest of $SYN_N records"
measure harvest-syn "$B" harvest "$CFG"
[ "$OK" -eq 0 ] || { cat "$RUN/harvest-syn.err" >&2; exit 1; }
big_wall=$WALL big_rss=$RSS big_n=$(field records "$LINE")
big_rate=$(rate "$big_n" "$big_wall")
row "Harvest synthetic, 4 partners at once" "$big_n" 1 "$big_wall" "$big_rate" "$(mib "$big_rss")" "–" "–" "–" "$(judge "$big_rate >= 20000" "≥ 20,000 rec/s")"

log "3. dedup + merge of $SYN_N records"
measure refresh-full "$B" refresh "$CFG"
[ "$OK" -eq 0 ] || { cat "$RUN/refresh-full.err" >&2; exit 1; }
live=$(field live_unions "$LINE") merged=$(field merged_unions "$LINE")
full_wall=$WALL full_rss=$RSS
full_rate=$(rate "$big_n" "$full_wall")
row "Dedup + merge, full (Jobs::refresh)" "$big_n" 1 "$WALL" "$full_rate" "$(mib "$RSS")" "–" "–" "–" \
  "$(judge "$WALL < 300 && ${RSS/n\/a/0} < 2097152" "< 300 s and < 2 GiB")"
note "- Dedup quality: $big_n records became $live union records; the generator made $books distinct books ($(awk -v n="$big_n" -v b="$books" 'BEGIN { printf "%.1f", 100 * (n - b) / n }') % duplicates), $merged union records merge several partner records."

# The same corpus on the shared store (issues #10 and #20): harvested into
# a fresh PostgreSQL database, then the same full pass over it. It must
# make the same union records as SQLite.
if [ -n "$PG_URL" ]; then
  log "3. the same harvest and dedup + merge of $SYN_N records on PostgreSQL"
  pg_config "$CFG" "$RUN/syn/bench-pg.toml" bench_syn
  measure harvest-syn-pg "$B" harvest "$RUN/syn/bench-pg.toml"
  [ "$OK" -eq 0 ] || { cat "$RUN/harvest-syn-pg.err" >&2; exit 1; }
  pg_n=$(field records "$LINE")
  pg_rate=$(rate "$pg_n" "$WALL")
  row "Harvest synthetic, 4 partners at once, PostgreSQL store" "$pg_n" 1 "$WALL" "$pg_rate" "$(mib "$RSS")" "unicat, SQLite store (above)" "$big_rate" "$(ratio "$pg_rate" "$big_rate")" ""
  measure refresh-full-pg "$B" refresh "$RUN/syn/bench-pg.toml"
  [ "$OK" -eq 0 ] || { cat "$RUN/refresh-full-pg.err" >&2; exit 1; }
  if [ "$(field live_unions "$LINE")" != "$live" ]; then
    echo "PostgreSQL made $(field live_unions "$LINE") union records from the $big_n synthetic records, SQLite $live" >&2
    exit 1
  fi
  pg_rate=$(rate "$big_n" "$WALL")
  row "Dedup + merge, full (Jobs::refresh), PostgreSQL store" "$big_n" 1 "$WALL" "$pg_rate" "$(mib "$RSS")" \
    "unicat, SQLite store: $full_wall s, $(mib "$full_rss") MiB" "$full_rate" "$(ratio "$pg_rate" "$full_rate")" \
    "$(judge "$WALL < 600 && ${RSS/n\/a/0} < 2097152" "< 10 min and < 2 GiB")"
  note "- PostgreSQL store, $big_n synthetic records: the same $live union records as SQLite ($(field merged_unions "$LINE") merging several partner records; SQLite $merged)."
  # Gigabytes on disk that nothing after this reads.
  psql "$PG_URL" -qXc "DROP DATABASE bench_syn" >/dev/null
else
  row "Harvest synthetic, 4 partners at once, PostgreSQL store" "$big_n" 0 "–" "–" "–" "unicat, SQLite store" "$PG_WHY" "n/a" ""
  row "Dedup + merge, full (Jobs::refresh), PostgreSQL store" "$big_n" 0 "–" "–" "–" "unicat, SQLite store" "$PG_WHY" "n/a" "< 10 min and < 2 GiB: not measured"
fi

if [ "$mode" != dedup ]; then
log "3. full publish"
measure publish-full "$B" publish "$CFG"
[ "$OK" -eq 0 ] || { cat "$RUN/publish-full.err" >&2; exit 1; }
pub_n=$(field records "$LINE")
row "Publish full dump (MARCXML + ISO 2709)" "$pub_n" 1 "$WALL" "$(rate "$pub_n" "$WALL")" "$(mib "$RSS")" "–" "–" "–" "$(judge "$WALL < 120" "< 120 s")"
note "- Full dump: $pub_n union records, $(awk -v b="$(field bytes "$LINE")" 'BEGIN { printf "%.0f", b / 1048576 }') MiB written."

# The sinks count as having published everything so far, as they would
# have after the previous night's publish.
"$B" sink-mark "$CFG" >>"$RAW"
fi # not --dedup

log "3. $CHANGES changes on the servers, incremental harvest and refresh"
echo "change $CHANGES" >&"${SERVER_FD[syn]}"
until grep -q '^changed' "$SERVER_OUT"; do
  kill -0 "${SERVER_PID[syn]}" 2>/dev/null || { cat "$RUN/syn.err" >&2; exit 1; }
  sleep 0.2
done
note "- Changes: $(grep '^changed' "$SERVER_OUT" | tail -1)."
measure harvest-incr "$B" harvest "$CFG"
[ "$OK" -eq 0 ] || { cat "$RUN/harvest-incr.err" >&2; exit 1; }
incr_n=$(field records "$LINE")
row "Harvest incremental ($CHANGES changes)" "$incr_n" 1 "$WALL" "$(rate "$incr_n" "$WALL")" "$(mib "$RSS")" "–" "–" "–" ""
# The refresh is a second or two and varies by a fifth between runs: it
# runs INCR_RUNS times, each on a copy of the store as the harvest left it
# (the copy's pages are in the page cache, as the harvest's are), and the
# row gives the median. The last run's store is the one kept.
INCR_RUNS=3
SYN_STATE=$RUN/syn/state
cp -a "$SYN_STATE" "$SYN_STATE.incr"
incr_walls=() incr_rss=()
for r in $(seq "$INCR_RUNS"); do
  if [ "$r" -gt 1 ]; then
    rm -rf "$SYN_STATE" && cp -a "$SYN_STATE.incr" "$SYN_STATE" && sync
  fi
  measure "refresh-incr-$r" "$B" refresh "$CFG"
  [ "$OK" -eq 0 ] || { cat "$RUN/refresh-incr-$r.err" >&2; exit 1; }
  incr_walls+=("$WALL") incr_rss+=("$RSS")
  note "- Incremental refresh, run $r: $LINE"
done
rm -rf "$SYN_STATE.incr"
WALL=$(median "${incr_walls[@]}")
RSS=$(max "${incr_rss[@]}")
row "Dedup + merge, incremental ($CHANGES changes)" "$incr_n" "$INCR_RUNS" "$WALL" "$(rate "$incr_n" "$WALL")" "$(mib "$RSS")" "–" "–" "–" "$(judge "$WALL < 5" "< 5 s"); $(judge "$WALL < 1" "#22's < 1 s")"
stop_server syn

if [ "$mode" != dedup ]; then
# --- 4. Publish the delta --------------------------------------------------

log "4. delta publish"
measure delta-push "$B" delta-push "$CFG"
[ "$OK" -eq 0 ] || { cat "$RUN/delta-push.err" >&2; exit 1; }
d_n=$(field records "$LINE")
row "Publish delta, http push sink (MARCXML)" "$d_n" 1 "$WALL" "$(rate "$d_n" "$WALL")" "$(mib "$RSS")" "–" "–" "–" "$(judge "$WALL < 2" "< 2 s")"
note "- Delta (http push): $LINE"
measure delta-files "$B" delta-files "$CFG"
[ "$OK" -eq 0 ] || { cat "$RUN/delta-files.err" >&2; exit 1; }
d_n=$(field records "$LINE")
row "Publish delta, files sink (delta only)" "$d_n" 1 "$WALL" "$(rate "$d_n" "$WALL")" "$(mib "$RSS")" "–" "–" "–" "$(judge "$WALL < 2" "< 2 s")"
note "- Delta (files sink): $LINE"

# --- 5. Provider -------------------------------------------------------------

log "5. OAI-PMH provider: walking the whole ListRecords list"
start_server provider provide "$CFG"
purl=$(awk '/^provider/{print $2}' "$SERVER_OUT")
measure provider-walk "$B" walk "$purl" "${SERVER_PID[provider]}"
[ "$OK" -eq 0 ] || { cat "$RUN/provider-walk.err" >&2; exit 1; }
stop_server provider
w_n=$(field records "$LINE")
row "Provider: full ListRecords walk (pages of 500)" "$w_n" 1 "$WALL" "$(rate "$w_n" "$WALL")" "$(mib "$(field provider_hwm_kib "$LINE")")" "–" "–" "–" ""
note "- Provider RSS during the walk: start $(mib "$(field rss_start_kib "$LINE")") MiB, middle $(mib "$(field rss_mid_kib "$LINE")") MiB, end $(mib "$(field rss_end_kib "$LINE")") MiB (peak $(mib "$(field provider_hwm_kib "$LINE")") MiB); $(field pages "$LINE") pages, $(awk -v b="$(field bytes "$LINE")" 'BEGIN { printf "%.0f", b / 1048576 }') MiB served; the walking client's own peak $(mib "$RSS") MiB."

# --- 6. Memory bound ---------------------------------------------------------

if [ "$big_rss" != n/a ] && [ "$small_rss" != n/a ]; then
  mem_ratio=$(awk -v a="$big_rss" -v b="$small_rss" 'BEGIN { printf "%.2f", a / b }')
  row "Memory bound: harvest peak RSS $big_n / $small_n" "$big_n / $small_n" 1 "$big_wall / $small_wall" "$big_rate / $(rate "$small_n" "$small_wall")" "$(mib "$big_rss") / $(mib "$small_rss")" "–" "–" "–" "$(judge "$mem_ratio <= 1.5" "ratio $mem_ratio ≤ 1.5")"
else
  row "Memory bound: harvest peak RSS $big_n / $small_n" "$big_n / $small_n" 1 "$big_wall / $small_wall" "–" "n/a (GNU time missing)" "–" "–" "–" ""
fi

fi # not --dedup

# --- The table -------------------------------------------------------------

elapsed=$(($(date +%s) - t_start))
{
  echo "## $(date -u +%Y-%m-%d) bench/run.sh$([ $mode != full ] && echo " --$mode"), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo "+changes")"
  echo
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(yaz-marcdump -V 2>/dev/null | head -1 || echo "no yaz"); $("$PY" --version 2>/dev/null || echo "no python3"). Whole run: $((elapsed / 60)) min $((elapsed % 60)) s."
  echo
  echo "| task | N | runs | median wall s | records/s | peak RSS MiB | reference tool | ref records/s | ratio (unicat/ref speed) | target |"
  echo "|---|---:|---:|---:|---:|---:|---|---:|---:|---|"
  awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }' "$TSV"
  echo
  echo "Targets: MARC conversion ratio ≥ 1.0 vs yaz; harvest ≥ 20,000 records/s; dedup of 1,000,000 < 300 s and < 2 GiB (on PostgreSQL < 10 min and < 2 GiB); two daemons sharing PostgreSQL harvest in ≤ 0.65 × one daemon's wall time; incremental refresh after 1,000 changes < 5 s; publish full < 120 s; delta < 2 s; harvest peak RSS 1,000,000 / 100,000 ≤ 1.5."
  echo "Peak RSS is each stage's own process (GNU time's maximum resident set); OAI-PMH servers run in separate processes and are not counted. \"runs\" is the number of interleaved runs whose median is shown."
  echo
  cat "$NOTES"
} >"$OUT"
echo
# On the terminal: the same table with aligned columns.
sed -n '/^| task/,/^$/p' "$OUT" | grep -v '^|---' | awk -F'|' '
  /^\|/ { rows++; for (i = 2; i < NF; i++) { gsub(/^ +| +$/, "", $i); cell[rows, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NF }
  END { for (r = 1; r <= rows; r++) { line = ""; for (i = 2; i < n; i++) line = line sprintf("%-" w[i] "s | ", cell[r, i]); print line } }'
echo
grep -E '^Targets|^- ' "$OUT"
echo
echo "Markdown table and notes: $OUT (every run: $RAW)"
exit 0
}
