#!/usr/bin/env bash
# Installs what is missing, builds, and starts Herald on its embedded defaults:
# a managed local redis-server (./var/redis), the example workflows and templates,
# and the outbox provider (./var/outbox.jsonl). Extra arguments go to `herald serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

./ops/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build herald
exec ./build/gateway/herald serve --config config/herald.yaml "$@"
