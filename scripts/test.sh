#!/usr/bin/env bash
# The whole test suite, as the README gives it: starts a throwaway
# PostgreSQL cluster (scripts/pg-cluster.sh) so that the store tests and
# the end-to-end tests run against both backends, runs `cargo test` on the
# workspace, and stops the cluster again, also on failure.
#
# The cluster speaks TLS only (start-tls), and the tests' URL asks for
# verify-full against its test CA: every PostgreSQL test runs over
# verified TLS, and tests/pg_tls.rs finds the CA, the other certificates
# and the port in UNICAT_TEST_PG_TLS_DIR.
#
# With UNICAT_TEST_PG_URL already set (a server of your own, the URL of a
# database whose user may CREATE DATABASE), that server is used instead.
# Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export UNICAT_REQUIRE_PG=1
if [ -n "${UNICAT_TEST_PG_URL:-}" ]; then
  exec cargo test --workspace --locked "$@"
fi
dir=$(mktemp -d /tmp/unicat-pg.XXXXXX)
trap 'scripts/pg-cluster.sh stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
UNICAT_TEST_PG_URL=$(scripts/pg-cluster.sh start-tls "$dir")
export UNICAT_TEST_PG_URL
export UNICAT_TEST_PG_TLS_DIR="$dir" UNICAT_REQUIRE_PG_TLS=1
echo "PostgreSQL for the tests: $UNICAT_TEST_PG_URL"
cargo test --workspace --locked "$@"
