#!/usr/bin/env bash
# Makes PostGIS available for the benchmark's PostgreSQL baseline (bench/postgis-baseline.ts).
#   bench/setup-postgis.sh [database-url ...]     default: postgres://rxflow:rxflow@127.0.0.1:55432/rxflow_bench
# Installs Debian's postgresql-<major>-postgis-3 when the server's extension directory lacks it (needs
# root), then `create extension if not exists postgis` in each database. Idempotent; touches nothing else.
set -euo pipefail

urls=("$@")
[ ${#urls[@]} -gt 0 ] || urls=("postgres://rxflow:rxflow@127.0.0.1:55432/rxflow_bench")

log() { echo "[setup-postgis] $*"; }
die() { echo "[setup-postgis] error: $*" >&2; exit 1; }

command -v psql >/dev/null || die "psql not found (Debian's postgresql-client)"

# The server's major version and extension directory, asked of the server itself (not the client).
major="$(psql "${urls[0]}" -tAXc "show server_version_num" | cut -c1-2)"
[ -n "$major" ] || die "cannot reach ${urls[0]}"
sharedir="/usr/share/postgresql/$major"
pkg="postgresql-$major-postgis-3"

if [ -f "$sharedir/extension/postgis.control" ]; then
  log "$pkg present"
else
  [ "$(id -u)" = 0 ] || die "$pkg is missing and installing it needs root (apt-get install $pkg)"
  log "installing $pkg (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "$pkg" >/tmp/apt-postgis.log 2>&1 \
    || { apt-get update -q >>/tmp/apt-postgis.log 2>&1 && apt-get install -y -q --no-install-recommends "$pkg" >>/tmp/apt-postgis.log 2>&1; } \
    || die "apt-get install $pkg failed (see /tmp/apt-postgis.log)"
  [ -f "$sharedir/extension/postgis.control" ] || die "$pkg installed but $sharedir/extension/postgis.control is missing"
fi

for url in "${urls[@]}"; do
  PGOPTIONS="-c client_min_messages=warning" psql "$url" -qX -v ON_ERROR_STOP=1 -c "create extension if not exists postgis" >/dev/null \
    || die "create extension postgis failed in $url"
  log "postgis $(psql "$url" -tAXc "select extversion from pg_extension where extname = 'postgis'") in ${url##*/}"
done
