#!/usr/bin/env bash
# Runs every fuzz target for a bounded time: fuzz/run.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 120); TARGETs default to all of marcxml,
# iso2709 and oai. Seeds come from the repository's fixtures/ (marc/ and
# oai/; override with UNICAT_FUZZ_DATA=DIR). Findings are saved in
# fuzz/crashes/ (see README.md for turning them into regression tests).
# Exit status: 0 when no target found anything, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-120}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(marcxml iso2709 oai)
fi
data="${UNICAT_FUZZ_DATA:-$(cd .. && pwd)/fixtures}"

cargo build --release --quiet
status=0
for target in "${targets[@]}"; do
  echo "== $target for ${seconds}s"
  ./target/release/unicat-fuzz "$target" "$seconds" --data "$data" || status=1
done
exit "$status"
