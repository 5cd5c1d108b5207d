#!/usr/bin/env bash
# Installs every build, run and test dependency of Herald from Debian's packages.
# Idempotent and quiet when everything is already present. Needs root (or sudo).
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build ccache pkg-config
  libboost-dev libcurl4-openssl-dev libssl-dev libyaml-cpp-dev libhiredis-dev
  libspdlog-dev libfmt-dev libsimdjson-dev nlohmann-json3-dev libphonenumber-dev
  libhowardhinnant-date-dev libcli11-dev catch2 tzdata libjemalloc-dev
  # run
  redis-server redis-tools
  # test and benchmark
  python3 python3-aiosmtpd openssl curl wrk nginx-light clang libclang-rt-14-dev nodejs npm
  # the agents' console in a real browser (tests/console_e2e)
  chromium
  # the conversations benchmark's WebSocket clients (ops/bench/conversations.sh)
  python3-websockets
  # the engine benchmark's instruction count of redis-server (ops/bench/engine.sh, IR=1)
  valgrind
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# nodejs may come from another Debian-compatible repository that bundles npm.
if command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]:-}"
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packaged services are not wanted running system-wide: Herald and its tests
# start their own redis-server and nginx on private ports.
for svc in redis-server nginx; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $sudo systemctl stop "$svc" >/dev/null 2>&1 || true
  fi
done
