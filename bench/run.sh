#!/usr/bin/env bash
# Benchmark: N synthetic records (default 100000) served over local OAI-PMH,
# one full harvest + dedup/merge + publish. Prints records/second per stage
# and peak memory. Usage: bench/run.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"
cargo build --release --example pipeline --quiet
UNICAT_LOG=warn ./target/release/examples/pipeline "$n"
