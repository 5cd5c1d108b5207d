#!/usr/bin/env bash
# Builds the template fuzzer with clang (-fsanitize=fuzzer,address) and runs it
# over the committed corpus for FUZZ_SECONDS (default 20). New inputs go to a
# scratch corpus in the build dir, never into the repo. A crash fails the run;
# turn its input into a case of tests/templates/fuzz_regressions_test.cpp.
#   tests/fuzz/templates/run.sh [BUILD_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../../../build-templates/fuzz-templates}"
seconds="${FUZZ_SECONDS:-20}"
command -v clang++ >/dev/null || { echo "run.sh: clang++ not found" >&2; exit 1; }
mkdir -p "$build"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
    $(command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache) >/dev/null
fi
ninja -C "$build" -j2 fuzz_template >/dev/null
mkdir -p "$build/corpus" "$build/artifacts"
cd "$build"
exec ./fuzz_template -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
  -artifact_prefix="$build/artifacts/" -print_final_stats=1 \
  "$build/corpus" "$here/corpus"
