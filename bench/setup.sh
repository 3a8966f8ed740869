#!/usr/bin/env bash
# Installs the reference tools of the benchmark (bench/run.sh) that are
# missing: yaz-marcdump, curl, GNU time, xz and PostgreSQL from Debian's packages, and
# pymarc, Sickle and pyoai from PyPI. Safe to run again; run as root or
# with sudo available. Usage: bench/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

debs=()
command -v yaz-marcdump >/dev/null || debs+=(yaz)
command -v curl >/dev/null || debs+=(curl)
[ -x /usr/bin/time ] || debs+=(time)
command -v xz >/dev/null || debs+=(xz-utils)
# The PostgreSQL rows: the server binaries and psql.
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && command -v psql >/dev/null || debs+=(postgresql)
command -v python3 >/dev/null || debs+=(python3 python3-pip python3-venv)
if [ ${#debs[@]} -gt 0 ]; then
  echo "installing Debian packages: ${debs[*]}"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${debs[@]}"
fi

py_ok() { "$1" -c 'import pymarc, sickle, oaipmh' 2>/dev/null; }
if py_ok python3; then
  echo "python3 has pymarc, sickle and pyoai"
else
  # The interpreter's own site-packages first; where the system Python
  # refuses that (PEP 668, Debian 12), a virtual environment that
  # bench/run.sh uses when it exists.
  if ! python3 -m pip install --quiet pymarc sickle pyoai; then
    venv=target/bench/venv
    echo "pip refused the system Python; installing into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet pymarc sickle pyoai
  fi
fi
echo "reference tools ready: $(yaz-marcdump -V 2>/dev/null | head -1), $(curl --version | head -1 | cut -d' ' -f1-2)"
