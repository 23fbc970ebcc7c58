#!/usr/bin/env bash
# Make sure the machine has what the tests and the demo run: PostgreSQL >= 15 and Redis >= 7
# server binaries (they start their own throwaway instances; no running server is ever used),
# promtool (alert rule tests) and Chromium (the Dagster UI test), all from Debian's packages.
set -euo pipefail

pg_ok() {
  local bin
  for bin in /usr/lib/postgresql/*/bin/pg_ctl $(command -v pg_ctl || true); do
    [ -x "$bin" ] || continue
    local major
    major=$("$bin" --version | sed -nE 's/.*\(PostgreSQL\) ([0-9]+).*/\1/p')
    [ -n "$major" ] && [ "$major" -ge 15 ] && [ -x "$(dirname "$bin")/initdb" ] && return 0
  done
  return 1
}

redis_ok() {
  command -v redis-server >/dev/null || return 1
  local major
  major=$(redis-server --version | sed -nE 's/.* v=([0-9]+)\..*/\1/p')
  [ -n "$major" ] && [ "$major" -ge 7 ]
}

missing=()
pg_ok || missing+=(postgresql)
redis_ok || missing+=(redis-server)
command -v promtool >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || missing+=(dnsmasq-base)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing ${missing[*]} from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  pg_ok && redis_ok && command -v promtool >/dev/null && command -v chromium >/dev/null && exit 0
  echo "error: ${missing[*]} installed but still not usable (need PostgreSQL >= 15, Redis >= 7, promtool, chromium)" >&2
  exit 1
fi
echo "error: missing packages: ${missing[*]} (need PostgreSQL >= 15, Redis >= 7, promtool, chromium)." >&2
echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
exit 1
