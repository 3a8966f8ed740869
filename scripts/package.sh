#!/usr/bin/env bash
# Builds the Debian package in one command: target/debian/unicat_*.deb
# (README, "Running as a service"). cargo-deb (installed with
# `cargo install --locked cargo-deb` if missing) packages what
# [package.metadata.deb] in Cargo.toml lists; this script makes the files
# it lists that are not in the repository: the release binary, its man
# pages and shell completions (`unicat generate-docs`, hidden), and the
# unit with ExecStart in /usr/bin. The binary is built once, here;
# cargo-deb only packages it (--no-build) and strips it.
# Prints the path of the .deb on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-deb >/dev/null || cargo install --locked cargo-deb

cargo build --release --locked
target=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
stage="$target/release/unicat-package"
rm -rf "$stage"
mkdir -p "$stage"
"$target/release/unicat" generate-docs "$stage" >/dev/null
# Debian compresses man pages (cargo-deb leaves files from the target
# directory as they are).
gzip -9n "$stage"/man1/*.1 "$stage"/man5/*.5
# The repository's unit runs /usr/local/bin/unicat (installed from source);
# the package's binary is /usr/bin/unicat.
# Its man pages are installed too, so the unit names them.
sed -e 's#/usr/local/bin/unicat#/usr/bin/unicat#g' \
    -e 's#^Documentation=.*#& man:unicat(1) man:unicat.toml(5)#' \
    systemd/unicat.service > "$stage/unicat.service"
if grep -E '^Exec[A-Za-z]*=.*/usr/local' "$stage/unicat.service" \
   || ! grep -q '^ExecStart=/usr/bin/unicat ' "$stage/unicat.service"; then
  echo "package.sh: the packaged unit's ExecStart is not /usr/bin/unicat" >&2
  exit 1
fi

# --strip: the release profile keeps line tables (for backtraces in
# benchmarks and bug reports), which the package does not ship.
cargo deb --no-build --strip --locked --output "$target/debian/" | tail -n 1
