#!/usr/bin/env bash
# Renders per second of the example cart_reminder SMS and email templates on
# one core, Herald (C++) beside liquidjs (node) on the same sources and context.
#   ops/bench/templates.sh [SECONDS]    (BUILD_DIR defaults to build-templates)
# Targets: >= 500,000 SMS renders/s and >= 10x liquidjs.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/ops/bench/templates"
build="${BUILD_DIR:-$root/build-templates}"
seconds="${1:-3}"
conformance="$root/tests/templates/conformance"

if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" -j2 herald_templates_bench >/dev/null
bench="$(find "$build" -name herald_templates_bench -type f -perm -u+x | head -1)"
[ -d "$conformance/node_modules/liquidjs" ] || (cd "$conformance" && npm ci --no-audit --no-fund >/dev/null)

pin=()
command -v taskset >/dev/null && pin=(taskset -c "${BENCH_CPU:-0}")
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$bench" --dump "$root/templates/examples" >"$tmp/sources.json"

herald="$("${pin[@]}" "$bench" "$root/templates/examples" "$here/context.json" "$seconds")"
liquidjs="$(NODE_PATH="$conformance/node_modules" "${pin[@]}" node "$here/bench.js" "$tmp/sources.json" "$here/context.json" "$seconds")"

python3 - "$herald" "$liquidjs" <<'PY'
import json, sys
h, l = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{'template':<22}{'herald renders/s':>18}{'liquidjs renders/s':>20}{'ratio':>9}")
for key, label in (("sms", "cart_reminder sms"), ("email", "cart_reminder email")):
    print(f"{label:<22}{h[key]:>18,.0f}{l[key]:>20,.0f}{h[key] / l[key]:>8.1f}x")
ok = h["sms"] >= 500_000 and all(h[k] >= 10 * l[k] for k in ("sms", "email"))
print("targets (>= 500,000 SMS/s, >= 10x liquidjs):", "met" if ok else "NOT met")
PY
