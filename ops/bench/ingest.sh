#!/usr/bin/env bash
# Ingest benchmark. Starts its own redis-server (append-only, fsync every second) and Herald
# against it (threads = nproc), and Debian's nginx serving /healthz as the baseline of the same
# run; then measures, with wrk -c64:
#   1. Redis memory per customer: used_memory before/after identifying 10,000 customers with
#      10 traits each (batches of 100), divided by 10,000;
#   2. nginx GET /healthz: requests/s, the baseline;
#   3. POST /v1/track, one event a request (userId and messageId distinct per request):
#      requests/s, events/s, p50/p99 latency, and requests/s as a share of nginx's;
#   4. POST /v1/batch of 100 events: requests/s and events/s;
#   5. backlog drain: from the start of step 4 until the herald_ingest_backlog gauge is back at 0,
#      events processed per second (herald_ingest_events_processed_total).
# Prints a table with the targets beside the figures.
# Usage: ops/bench/ingest.sh [seconds]   (default 10; HERALD_BUILD_DIR picks the build tree)
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-10}
source ops/bench/lib.sh
bench_build
now() { date +%s.%N; }

threads=$(nproc)
write_key=bench-write-key
admin_key=bench-admin-key
run_id=$(date +%s)

start_nginx
start_redis

# --- Herald ---------------------------------------------------------------------------------
herald_port=$(free_port)
cat > "$work/herald.yaml" <<YAML
server: { listen: 127.0.0.1:$herald_port, threads: $threads }
redis: { url: "redis://127.0.0.1:$redis_port" }
data_dir: $work/var
workflows_dir: $work/workflows
templates_dir: $work/templates
ingest: { max_backlog: 20000000 }
auth: { write_keys: [$write_key], admin_keys: [$admin_key] }
log: { level: warn }
YAML
mkdir -p "$work/workflows" "$work/templates"
"./$build/gateway/herald" serve --config "$work/herald.yaml" 2>"$work/herald.log" &
pids+=($!)

wait_http "http://127.0.0.1:$nginx_port/healthz"
wait_http "http://127.0.0.1:$herald_port/readyz"
herald="http://127.0.0.1:$herald_port"

# Sum of every sample of a metric (all label sets); "none" when Herald does not expose it.
metric() {
  curl -fs "$herald/metrics" | awk -v name="$1" '
    $1 == name || index($1, name "{") == 1 { sum += $2; seen = 1 }
    END { if (seen) printf "%.0f\n", sum; else print "none" }'
}
# Waits until the ingest backlog is 0 (at most 10 minutes); prints the time it got there.
wait_drained() {
  local backlog
  for _ in $(seq 12000); do
    backlog=$(metric herald_ingest_backlog)
    if [ "$backlog" = none ]; then echo "herald exposes no herald_ingest_backlog" >&2; return 1; fi
    if [ "$backlog" -le 0 ]; then now; return 0; fi
    sleep 0.05
  done
  echo "the backlog did not drain: $backlog" >&2
  return 1
}
used_memory() { rcli INFO memory | awk -F: '$1 == "used_memory" { print $2 + 0 }'; }

# --- 1. Redis memory per customer -----------------------------------------------------------
customers=10000
wait_drained >/dev/null
mem_before=$(used_memory)
python3 ops/bench/ingest/identify_customers.py "$herald_port" "$write_key" "$customers" "mem-$run_id"
wait_drained >/dev/null
for _ in $(seq 200); do  # the last customer is there: every batch has been applied
  curl -fs -o /dev/null -H "Authorization: Bearer $admin_key" "$herald/v1/customers/mem-$run_id-$((customers - 1))" && break
  sleep 0.05
done
sleep 1  # lazy frees and the AOF rewrite buffer settle
mem_after=$(used_memory)
per_customer=$(awk -v a="$mem_after" -v b="$mem_before" -v n="$customers" 'BEGIN { printf "%.0f", (a - b) / n }')

# --- wrk runs -------------------------------------------------------------------------------
# Prints "requests_per_second ok_responses seconds p50_ms p99_ms" from wrk's report.
wrk_figures() {
  awk '
    /requests in/ { total = $1; secs = $4; sub(/s,?$/, "", secs) }
    /Requests\/sec/ { rps = $2 }
    /Non-2xx or 3xx responses/ { bad = $5 }
    $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    END { printf "%.0f %d %.3f %.3f %.3f\n", rps, total - bad, secs, ms(p50), ms(p99) }' "$1"
}

wrk -t2 -c64 -d2s "http://127.0.0.1:$nginx_port/healthz" >/dev/null  # warm-up
wrk -t2 -c64 -d"${duration}s" --latency "http://127.0.0.1:$nginx_port/healthz" > "$work/nginx.txt"
read -r n_rps _ _ n_p50 n_p99 < <(wrk_figures "$work/nginx.txt")

# --- 3. single events -----------------------------------------------------------------------
wrk -t2 -c64 -d2s -s ops/bench/ingest/track.lua "$herald/v1/track" -- "warm-$run_id" "$write_key" >/dev/null
wait_drained >/dev/null
wrk -t2 -c64 -d"${duration}s" --latency -s ops/bench/ingest/track.lua "$herald/v1/track" \
  -- "track-$run_id" "$write_key" > "$work/track.txt"
read -r t_rps t_ok t_secs t_p50 t_p99 < <(wrk_figures "$work/track.txt")
t_eps=$(awk -v ok="$t_ok" -v s="$t_secs" 'BEGIN { printf "%.0f", ok / s }')
t_bad=$(awk '/Non-2xx or 3xx responses/ { print $5 }' "$work/track.txt")
ratio=$(awk -v h="$t_rps" -v n="$n_rps" 'BEGIN { printf "%.0f", 100 * h / n }')
wait_drained >/dev/null

# --- 4. and 5. batches of 100, then the drain -----------------------------------------------
processed_before=$(metric herald_ingest_events_processed_total)
started=$(now)
wrk -t2 -c64 -d"${duration}s" --latency -s ops/bench/ingest/batch.lua "$herald/v1/batch" \
  -- "batch-$run_id" "$write_key" 100 > "$work/batch.txt"
ingest_ended=$(now)
backlog_at_end=$(metric herald_ingest_backlog)
processed_at_end=$(metric herald_ingest_events_processed_total)
read -r b_rps b_ok b_secs b_p50 b_p99 < <(wrk_figures "$work/batch.txt")
b_eps=$(awk -v ok="$b_ok" -v s="$b_secs" 'BEGIN { printf "%.0f", 100 * ok / s }')
b_bad=$(awk '/Non-2xx or 3xx responses/ { print $5 }' "$work/batch.txt")
drained=$(wait_drained)
processed_after=$(metric herald_ingest_events_processed_total)
drain_eps=$(awk -v a="$processed_after" -v b="$processed_before" -v t0="$started" -v t1="$drained" \
  'BEGIN { printf "%.0f", (a - b) / (t1 - t0) }')
drain_secs=$(awk -v t0="$ingest_ended" -v t1="$drained" 'BEGIN { printf "%.1f", t1 - t0 }')
tail_eps=$(awk -v a="$processed_after" -v b="$processed_at_end" -v t0="$ingest_ended" -v t1="$drained" \
  'BEGIN { if (a > b && t1 > t0) printf "%.0f", (a - b) / (t1 - t0); else print "-" }')

verdict() { if awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { exit !(op == ">=" ? v >= t : v <= t) }'; then echo met; else echo MISSED; fi; }

echo
echo "Ingest benchmark: wrk -t2 -c64 -d${duration}s, herald threads $threads, $(nproc) cores, $(date -u +%Y-%m-%d)"
echo "redis-server $(redis-server --version | awk '{ print $3 }' | cut -d= -f2), appendonly yes, appendfsync everysec"
printf '%-34s %14s %12s %9s %9s   %-34s %s\n' measure "requests/s" "events/s" "p50 ms" "p99 ms" target result
printf '%-34s %14s %12s %9s %9s   %-34s %s\n' "nginx GET /healthz (baseline)" "$n_rps" "-" "$n_p50" "$n_p99" "-" "-"
printf '%-34s %14s %12s %9s %9s   %-34s %s\n' "POST /v1/track (1 event)" "$t_rps" "$t_eps" "$t_p50" "$t_p99" \
  ">= 50% of nginx (is ${ratio}%)" "$(verdict "$ratio" 50 ">=")"
printf '%-34s %14s %12s %9s %9s   %-34s %s\n' "" "" "" "" "" "p99 <= 10 ms" "$(verdict "$t_p99" 10 "<=")"
printf '%-34s %14s %12s %9s %9s   %-34s %s\n' "POST /v1/batch (100 events)" "$b_rps" "$b_eps" "$b_p50" "$b_p99" \
  ">= 200,000 events/s" "$(verdict "$b_eps" 200000 ">=")"
printf '%-34s %14s %12s %9s %9s   %-34s %s\n' "backlog drain (processing)" "-" "$drain_eps" "-" "-" \
  ">= 100,000 events/s" "$(verdict "$drain_eps" 100000 ">=")"
printf '%-34s %14s %12s %9s %9s   %-34s %s\n' "Redis memory per customer" "-" "-" "-" "-" \
  "<= 1024 bytes (is $per_customer)" "$(verdict "$per_customer" 1024 "<=")"
echo
echo "non-2xx answers: single ${t_bad:-0}, batch ${b_bad:-0}"
echo "drain: $((processed_after - processed_before)) events processed from the start of the batch run until the"
echo "       backlog was 0; backlog ${backlog_at_end} when wrk stopped, drained ${drain_secs} s later"
echo "       (${tail_eps} events/s once ingest had stopped; the gauge is sampled every 200 ms)"
echo "memory: used_memory $mem_before -> $mem_after bytes for $customers customers with 10 traits"
echo "        (identify without messageId; includes whatever the event streams still hold)"
