#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs every test (unit, component
# against a real redis-server, end to end against the herald binary).
set -euo pipefail
cd "$(dirname "$0")/.."

./ops/setup.sh
# Segment's Node.js library, for the test that points it at Herald (npm registry).
(cd tests/gateway/segment_library && npm ci --no-audit --no-fund --silent)
# playwright-core, which drives Debian's Chromium for the console test (npm registry).
(cd tests/console_e2e && npm ci --no-audit --no-fund --silent)
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERALD_TESTS=ON >/dev/null
ninja -C build
cd build
ctest --output-on-failure --timeout 600 -j "$(nproc)" "$@"
