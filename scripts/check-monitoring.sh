#!/usr/bin/env bash
# Checks the shipped monitoring files (issue #21): the Prometheus alert
# rules with `promtool check rules` and their unit tests with `promtool
# test rules` (monitoring/prometheus/unicat-alerts.test.yml, one test per
# alert), and every PromQL query of the Grafana dashboard with promtool's
# parser (each becomes a recording rule in a scratch file, Grafana's
# variables replaced by values). Installs Debian's `prometheus` (which
# provides promtool) when promtool is missing. .ci/run calls this; that
# the queries only name metrics the daemon exports is tests/monitoring.rs.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null; then
  echo "promtool not found: installing Debian package prometheus" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus
fi

promtool check rules monitoring/prometheus/unicat-alerts.yml
(cd monitoring/prometheus && promtool test rules unicat-alerts.test.yml)

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
python3 - monitoring/grafana/unicat.json >"$scratch/dashboard-rules.yml" <<'PY'
import json, sys
dash = json.load(open(sys.argv[1]))
exprs = []
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "expr" and isinstance(x, str):
                exprs.append(x)
            else:
                walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
walk(dash)
if len(exprs) < 15:
    sys.exit(f"only {len(exprs)} queries found in the dashboard")
# Grafana's variables, as Grafana would fill them in.
subst = {"$__rate_interval": "5m", "$__range": "7d", "$__interval": "1m",
         "$job": "unicat", "$instance": ".*", "$partner": ".*"}
print("groups:\n  - name: dashboard\n    rules:")
for i, e in enumerate(exprs):
    for k, v in subst.items():
        e = e.replace(k, v)
    if "$" in e:
        sys.exit(f"unknown Grafana variable in: {e}")
    print(f"      - record: unicat:dashboard_query_{i}\n        expr: {json.dumps(e)}")
PY
promtool check rules "$scratch/dashboard-rules.yml"
echo "monitoring: alert rules, their unit tests and the dashboard's queries are valid"
