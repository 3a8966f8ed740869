#!/usr/bin/env bash
# CI for the Debian package (issue #21): builds it (scripts/package.sh),
# runs lintian on it (errors fail), installs it with dpkg on this machine
# (CI has no container or chroot; it runs as root), checks what an
# administrator relies on (the binary, man pages, completions, the unit
# verifying, the unicat user and its directory, the conffile, nothing
# enabled or started), installs it again as an upgrade (an edited
# conffile is kept; postinst migrates the store as the unicat user), and
# purges it, checking the binary is gone.
#
# It refuses to run where unicat is already installed, and leaves the
# machine as it found it: the unicat user and /var/lib/unicat, which a
# purge keeps (they hold a catalogue), are removed if they were not there
# before.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "package-test.sh: run as root (it installs the package)" >&2; exit 1; }
if dpkg-query -W -f='${Status}' unicat 2>/dev/null | grep -q 'ok installed' || [ -e /usr/bin/unicat ]; then
  echo "package-test.sh: unicat is already installed here; not touching it" >&2
  exit 1
fi

deb=$(scripts/package.sh | tail -n 1)
[ -f "$deb" ] || { echo "package-test.sh: no package at '$deb'" >&2; exit 1; }
echo "package: $deb"

# lintian: errors fail; warnings are printed (overrides, each with its
# reason, are in debian/lintian-overrides).
lintian --fail-on error --display-info "$deb"

had_user=0; getent passwd unicat >/dev/null && had_user=1
had_state=0; [ -e /var/lib/unicat ] && had_state=1
cleanup() {
  dpkg --purge unicat >/dev/null 2>&1 || true
  [ "$had_state" = 1 ] || rm -rf /var/lib/unicat
  if [ "$had_user" = 0 ]; then
    userdel unicat 2>/dev/null || true
    groupdel unicat 2>/dev/null || true
  fi
}
trap cleanup EXIT

fail() { echo "package-test.sh: $*" >&2; exit 1; }

dpkg -i "$deb"

version=$(dpkg-deb -f "$deb" Version)
[ "$(command -v unicat)" = /usr/bin/unicat ] || fail "unicat is not /usr/bin/unicat"
[ "$(unicat --version)" = "unicat ${version%-*}" ] || fail "unicat --version says '$(unicat --version)'"
file -L /usr/bin/unicat | grep -q ', stripped' || fail "/usr/bin/unicat is not stripped"

# Man pages: the program's, a subcommand's, the configuration file's.
for page in unicat unicat-harvest 'unicat.toml'; do
  MANPAGER=cat man "$page" 2>&1 | grep -q NAME || fail "man $page does not render"
done
MANPAGER=cat man 5 unicat.toml | grep -q 'timeout-secs' || fail "unicat.toml(5) lacks harvest timeout-secs"

# Completions where bash, zsh and fish look for them.
bash -c 'source /usr/share/bash-completion/completions/unicat && complete -p unicat' >/dev/null \
  || fail "the bash completion does not load"
[ -s /usr/share/zsh/vendor-completions/_unicat ] || fail "no zsh completion"
[ -s /usr/share/fish/vendor_completions.d/unicat.fish ] || fail "no fish completion"

# The unit: verifies as installed (ExecStart's binary and its man pages
# exist), runs /usr/bin/unicat, and is neither enabled nor started.
unit=/lib/systemd/system/unicat.service
systemd-analyze verify "$unit"
grep -q '^ExecStart=/usr/bin/unicat ' "$unit" || fail "ExecStart is not /usr/bin/unicat"
if systemctl is-enabled --quiet unicat.service 2>/dev/null; then fail "installing enabled the service"; fi
if [ -d /run/systemd/system ] && systemctl is-active --quiet unicat.service; then
  fail "installing started the service"
fi

# The user and directories (sysusers.d, tmpfiles.d), the conffile.
getent passwd unicat >/dev/null || fail "no unicat user"
[ "$(stat -c %U /var/lib/unicat)" = unicat ] || fail "/var/lib/unicat is not unicat's"
dpkg-query -W -f='${Conffiles}\n' unicat | grep -q '^ /etc/unicat/unicat.toml ' \
  || fail "/etc/unicat/unicat.toml is not a conffile"
unicat --config /etc/unicat/unicat.toml check-config
[ -f /usr/share/doc/unicat/README.md ] || fail "no README in /usr/share/doc/unicat"
# The dashboard and the alert rules, for the sysadmin's Grafana and
# Prometheus (README "Monitoring").
for f in grafana/unicat.json prometheus/unicat-alerts.yml; do
  [ -s "/usr/share/unicat/monitoring/$f" ] || fail "no /usr/share/unicat/monitoring/$f"
done

# An upgrade (the same package again): the administrator's edit of the
# conffile stays, and postinst migrates the store as the unicat user
# (with systemd running it would then try-restart the service).
echo '# edited by the administrator' >> /etc/unicat/unicat.toml
dpkg -i --force-confdef --force-confold "$deb"
grep -q '^# edited by the administrator' /etc/unicat/unicat.toml || fail "the upgrade replaced the edited conffile"
[ "$(stat -c %U /var/lib/unicat/unicat.db 2>/dev/null)" = unicat ] \
  || fail "the upgrade did not migrate the store as the unicat user"

dpkg --purge unicat
[ ! -e /usr/bin/unicat ] || fail "/usr/bin/unicat is still there after purge"
hash -r
if command -v unicat >/dev/null; then fail "unicat still on PATH after purge"; fi
[ ! -e /etc/unicat/unicat.toml ] || fail "the conffile is still there after purge"
[ ! -e "$unit" ] || fail "the unit is still there after purge"
echo "package-test.sh: ok"
