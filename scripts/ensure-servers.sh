#!/usr/bin/env bash
# Make sure the machine has what the tests and the demo run: PostgreSQL >= 15 and Redis >= 7
# server binaries (they start their own throwaway instances; no running server is ever used),
# promtool (alert rule tests), Prometheus and the node exporter (the dashboards' query test) and
# Chromium (the Dagster UI test), all from Debian's packages.
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

# Each further command the tests run, and the Debian package that provides it.
tools=(
  promtool:prometheus
  prometheus:prometheus
  prometheus-node-exporter:prometheus-node-exporter
  chromium:chromium
  dnsmasq:dnsmasq-base
)
need="PostgreSQL >= 15, Redis >= 7, ${tools[*]%%:*}"

find_missing() {
  missing=()
  pg_ok || missing+=(postgresql)
  redis_ok || missing+=(redis-server)
  local tool
  for tool in "${tools[@]}"; do
    # Daemons such as dnsmasq live in /usr/sbin, which a non-root PATH may lack.
    command -v "${tool%%:*}" >/dev/null || [ -x "/usr/sbin/${tool%%:*}" ] || missing+=("${tool#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  return 1
}

find_missing && exit 0

# As root, apt-get directly; otherwise (a GitHub-hosted runner, a developer machine) through
# sudo when it works without a password prompt. TENANCY_SUDO overrides the sudo command (tests).
as_root=""
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=${TENANCY_SUDO:-sudo}
  if command -v "$sudo_cmd" >/dev/null && "$sudo_cmd" -n true 2>/dev/null; then
    as_root="$sudo_cmd -n"
  fi
fi
if { [ "$(id -u)" -eq 0 ] || [ -n "$as_root" ]; } && command -v apt-get >/dev/null; then
  echo "installing ${missing[*]} from Debian's packages${as_root:+ (with $as_root)}" >&2
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  find_missing && exit 0
  echo "error: ${missing[*]} installed but still not usable (need $need)" >&2
  exit 1
fi
echo "error: missing packages: ${missing[*]} (need $need)." >&2
echo "not root and no password-less sudo; install them with: sudo apt-get install -y ${missing[*]}" >&2
exit 1
