#!/usr/bin/env bash
# Timers benchmark. Starts its own redis-server (append-only, fsync every second) and runs
# ops/bench/timers/bench_main.cpp against it, which measures:
#   1. Redis memory per pending timer: used_memory before/after scheduling PENDING timers
#      (default 1,000,000, ids shaped like the workflow engine's, due in a year), / PENDING;
#   2. sustained firing: RATE timers a second (default 25,000) due evenly over SPREAD seconds
#      (default 5), beside the pending ones, fired by WORKERS EventProcessors (default nproc,
#      a thread each, 16 partitions) with a counting sink: timers fired per second and the
#      lag between due time and firing (p50, p99, max);
#   3. burst: BURST timers (default 200,000) due at the same moment: fired per second.
# Prints a table with the targets beside the figures.
# Usage: ops/bench/timers.sh [PENDING] [RATE] [SPREAD] [BURST]   (HERALD_BUILD_DIR picks the build tree)
set -euo pipefail
cd "$(dirname "$0")/../.."
pending=${1:-1000000}
rate=${2:-25000}
spread=${3:-5}
burst=${4:-200000}
workers=${WORKERS:-$(nproc)}
build=${HERALD_BUILD_DIR:-build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" herald_timers_bench >/dev/null

source ops/bench/lib.sh
start_redis

"./$build/gateway/herald_timers_bench" "redis://127.0.0.1:$redis_port" "$pending" "$rate" "$spread" \
  "$burst" "$workers" > "$work/out.txt"
fig() { awk -v k="$1" '$1 == k { print $2 }' "$work/out.txt"; }

per_timer=$(printf '%.0f' "$(fig memory_bytes_per_timer)")
sustained_fired=$(fig sustained_fired_per_second)
p50=$(fig lag_p50_ms); p99=$(fig lag_p99_ms); lag_max=$(fig lag_max_ms)
burst_fired=$(fig burst_fired_per_second)
fired_total=$(fig fired_total); expected_total=$(fig expected_total)
encodings=$( (rcli --scan --pattern 'herald:tm:*:*' || true) | head -200 | while read -r k; do rcli OBJECT ENCODING "$k"; done | sort | uniq -c | tr '\n' ' ' || true)

verdict() { if awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { exit !(op == ">=" ? v >= t : v <= t) }'; then echo met; else echo MISSED; fi; }

echo
echo "Timers benchmark: $workers EventProcessors (a thread each), 16 partitions, $(nproc) cores, $(date -u +%Y-%m-%d)"
echo "redis-server $(redis-server --version | awk '{ print $3 }' | cut -d= -f2), appendonly yes, appendfsync everysec"
printf '%-44s %14s   %-30s %s\n' measure value target result
printf '%-44s %14s   %-30s %s\n' "Redis memory per pending timer ($pending)" "$per_timer B" "<= 150 bytes" \
  "$(verdict "$per_timer" 150 "<=")"
printf '%-44s %14s   %-30s %s\n' "fired/s, $rate/s due over ${spread} s" "$sustained_fired" ">= 20,000/s" \
  "$(verdict "$sustained_fired" 20000 ">=")"
printf '%-44s %14s   %-30s %s\n' "lag due -> fired, p99 (p50 $p50, max $lag_max)" "$p99 ms" "<= 1000 ms" \
  "$(verdict "$p99" 1000 "<=")"
printf '%-44s %14s   %-30s %s\n' "fired/s, $burst due at once" "$burst_fired" "-" "-"
printf '%-44s %14s   %-30s %s\n' "fired exactly once (fired / scheduled)" "$fired_total/$expected_total" "equal" \
  "$( [ "$fired_total" = "$expected_total" ] && echo met || echo MISSED )"
echo
echo "scheduling: $(fig scheduled_per_second) timers/s (pipelines of 5,000 from one connection)"
echo "bucket encodings (a sample of 200 buckets): $encodings"
echo "lag is measured at the sink's call, just before the MULTI/EXEC that removes the timer"
