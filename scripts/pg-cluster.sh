#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests and benchmarks: initdb in a
# temporary directory, started on a free local port, trust authentication
# for TCP on 127.0.0.1 only.
#
#   scripts/pg-cluster.sh start DIR       prints the URL of database `unicat`
#   scripts/pg-cluster.sh start-tls DIR   the same with ssl = on (see below)
#   scripts/pg-cluster.sh stop DIR        stops it (the directory is left)
#
# start-tls makes a test CA with the openssl command at start (DIR/tls:
# ca.crt; server.crt for localhost and 127.0.0.1; client.crt/client.key
# for the user unicat; other-ca.crt, a CA that signed nothing here), and a
# pg_hba.conf that accepts TCP connections over TLS only (`hostssl`), so
# that a client falling back to plaintext cannot connect. The database
# `unicat_clientcert` also requires a client certificate signed by the CA
# (clientcert=verify-full), and `unicat_scram` a password (`unicat-test`,
# scram-sha-256, so the login is bound to the TLS channel). The URL it prints asks for verify-full
# against the CA, so every test given it runs over verified TLS.
#
# Uses Debian's server binaries (package `postgresql`). initdb refuses to
# run as root, so under root the cluster belongs to the `postgres` user.
set -euo pipefail
cmd=${1:-}
dir=${2:-}
usage="usage: $0 start|start-tls|stop DIR"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "$usage" >&2; exit 2; }
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/pg_ctl" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
mkdir -p "$dir"
# Absolute: the server runs in its data directory and puts its socket here.
dir=$(cd "$dir" && pwd)

# make_certs DIR: the test CA and what it signs, EC P-256 keys, valid for
# a few days (the cluster lives as long as one test run).
make_certs() {
  local d=$1
  command -v openssl >/dev/null || { echo "openssl not found (apt-get install openssl)" >&2; exit 1; }
  mkdir -p "$d"
  local ca_ext='basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash'
  local ca
  for ca in ca other-ca; do
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/$ca.key" 2>/dev/null
    openssl req -new -key "$d/$ca.key" -subj "/CN=unicat test $ca" -out "$d/$ca.csr"
    openssl x509 -req -in "$d/$ca.csr" -signkey "$d/$ca.key" -days 3 -out "$d/$ca.crt" \
      -extfile <(echo "$ca_ext") 2>/dev/null
  done
  # sign NAME SUBJECT EXTENSIONS: NAME.key and NAME.crt signed by the CA.
  sign() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/$1.key" 2>/dev/null
    openssl req -new -key "$d/$1.key" -subj "$2" -out "$d/$1.csr"
    openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
      -set_serial "0x$(openssl rand -hex 8)" -days 3 -out "$d/$1.crt" \
      -extfile <(printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nauthorityKeyIdentifier=keyid\n%s\n' "$3") 2>/dev/null
  }
  sign server "/CN=localhost" "extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1"
  # The server checks a client certificate's CN against the user name.
  sign client "/CN=unicat" "extendedKeyUsage=clientAuth"
  rm -f "$d"/*.csr
  # The server refuses a key others can read; under root it runs as postgres.
  chmod 600 "$d"/*.key
  [ "$(id -u)" = 0 ] && chown postgres "$d/server.key"
  return 0
}

case "$cmd" in
  start|start-tls)
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bin/initdb" -D "$dir/data" -U unicat -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    tls_opts=""
    if [ "$cmd" = start-tls ]; then
      make_certs "$dir/tls"
      tls_opts="-c ssl=on -c ssl_cert_file=$dir/tls/server.crt -c ssl_key_file=$dir/tls/server.key -c ssl_ca_file=$dir/tls/ca.crt"
      # No `host` line: TCP without TLS finds no entry and is refused.
      printf '%s\n' \
        'local all all trust' \
        'hostssl unicat_clientcert all 127.0.0.1/32 trust clientcert=verify-full' \
        'hostssl unicat_scram all 127.0.0.1/32 scram-sha-256' \
        'hostssl all all 127.0.0.1/32 trust' >"$dir/data/pg_hba.conf"
    fi
    # fsync off: a test cluster is thrown away, and durability is what
    # the tests of the store check through the store's own transactions,
    # not through the disk.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 $tls_opts" start >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    # Over the socket: it needs no TLS, whatever pg_hba.conf says of TCP.
    "$bin/createdb" -h "$dir" -p "$port" -U unicat unicat
    echo "$port" >"$dir/port"
    if [ "$cmd" = start-tls ]; then
      "$bin/createdb" -h "$dir" -p "$port" -U unicat unicat_clientcert
      "$bin/createdb" -h "$dir" -p "$port" -U unicat unicat_scram
      "$bin/psql" -q -h "$dir" -p "$port" -U unicat -d unicat \
        -c "ALTER ROLE unicat PASSWORD 'unicat-test'" >/dev/null
      echo "postgres://unicat@127.0.0.1:$port/unicat?sslmode=verify-full&sslrootcert=$dir/tls/ca.crt"
    else
      echo "postgres://unicat@127.0.0.1:$port/unicat"
    fi
    ;;
  stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
