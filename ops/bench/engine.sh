#!/usr/bin/env bash
# Workflow engine benchmark. Starts its own redis-server (append-only, fsync every second),
# loads WORKFLOWS generated workflows (default 100, each an event trigger on its own event
# name with a `where` that half the events pass, a cooldown, an exit_when, a send, a wait,
# an if and a second send; see ops/bench/engine/gen_workflows.py), then:
#   1. fills the partitions' streams with CUSTOMERS x EVENTS track events (default 100,000 x
#      5), as ingest appends them (ops/bench/engine/gen_events.py | redis-cli --pipe): half
#      of them page views that no workflow triggers on, half one of the workflows' events,
#      so that about one event in four starts a run;
#   2. once the fill's own append-only file is compacted (a rewrite Redis would otherwise
#      run as the drain starts), starts Herald (threads = nproc) and measures the drain:
#      events taken from the streams and decided (runs started, entries skipped, messages
#      recorded, timers set) per second, from /readyz until every partition's backlog is 0.
#      The email channel is the outbox with `rate: 1`, which parks the delivery stage, so
#      the figure is the decision stage's;
#   3. where the time goes: Redis INFO commandstats over the drain (top commands by time),
#      and `perf record` of herald during the drain when perf is there (PERF=0 skips it);
#   4. the timer figures, by ops/bench/timers.sh (memory per pending timer for 1,000,000,
#      fired per second, p99 lag).
# Before all this, a baseline from the same run: redis-benchmark's pipelined HSET and LPUSH
# against a redis-server of the same configuration, on its own.
# Prints a table with the targets beside the figures.
#
# IR=1 counts instead of timing: redis-server runs under valgrind's callgrind, and the
# drain's figure is the instructions redis-server's main process ran per event, with where
# they went (reading commands, running them, copying them to the append-only file). Unlike
# events/s on a shared machine, this count repeats within a few per cent from run to run,
# so it shows a change to what Herald sends Redis that timing would lose in noise. The
# drain runs about thirty times slower; use fewer customers (IR=1 defaults to 20,000).
# IR=herald counts Herald's instructions the same way (every thread), Redis running free.
# Usage: ops/bench/engine.sh [CUSTOMERS] [EVENTS]   (WORKFLOWS=100, TIMERS=0 skips step 4,
#        THREADS=nproc Herald's worker threads, PROCESSORS=1 ingest.processors_per_thread,
#        HERALD_BUILD_DIR picks the build tree, IR=1 or IR=herald counts instructions)
set -euo pipefail
cd "$(dirname "$0")/../.."
counted=${IR:-0}  # 1: redis-server's instructions; herald: Herald's
customers=${1:-$([ "$counted" = 0 ] && echo 100000 || echo 20000)}
events=${2:-5}
workflows=${WORKFLOWS:-100}
names=$workflows
partitions=16
threads=${THREADS:-$(nproc)}
processors=${PROCESSORS:-1}  # ingest.processors_per_thread
build=${HERALD_BUILD_DIR:-build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
if ! built=$(ninja -C "$build" herald 2>&1); then echo "$built" | tail -30 >&2; exit 1; fi

source ops/bench/lib.sh
now() { date +%s.%N; }

# --- 0. baseline --------------------------------------------------------------------------
# What this machine's redis-server does in the same run: a redis-server of the same
# configuration, on its own, under redis-benchmark's pipelined HSET and LPUSH (16 commands
# a round trip, random keys among CUSTOMERS), then stopped. The drain's figure over these
# holds better than events/s alone on a machine whose speed varies from run to run.
baseline_rps() {  # prints "HSET-rps LPUSH-rps"
  local port pid
  port=$(free_port)
  mkdir -p "$work/baseline"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$work/baseline" --appendonly yes \
    --appendfsync everysec --save "" --daemonize no --logfile "$work/baseline/redis.log" &
  pid=$!
  for _ in $(seq 100); do [ "$(redis-cli -p "$port" PING 2>/dev/null)" = PONG ] && break; sleep 0.1; done
  redis-benchmark -p "$port" -P 16 -r "$customers" -n 2000000 -t hset,lpush --csv 2>/dev/null |
    tr -d '"' | awk -F, '$1 == "HSET" { h = $2 } $1 == "LPUSH" { l = $2 } END { printf "%.0f %.0f\n", h, l }'
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$work/baseline"
}
# Under IR, the counted process runs under callgrind; its dumps go to $work.
callgrind=(valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.%p")
if [ "$counted" != 0 ]; then
  command -v valgrind >/dev/null || { echo "IR=$counted needs valgrind (ops/setup.sh installs it)" >&2; exit 1; }
  base_hset=0 base_lpush=0
else
  read -r base_hset base_lpush < <(baseline_rps)
fi
if [ "$counted" = 1 ]; then start_redis "${callgrind[@]}"; else start_redis; fi
run_id=e$(date +%s)

python3 ops/bench/engine/gen_workflows.py "$work/workflows" "$work/templates" "$workflows" "$names"
herald_port=$(free_port)
cat > "$work/herald.yaml" <<YAML
server: { listen: 127.0.0.1:$herald_port, threads: $threads }
redis: { url: "redis://127.0.0.1:$redis_port", partitions: $partitions }
data_dir: $work/var
workflows_dir: $work/workflows
templates_dir: $work/templates
ingest: { max_backlog: 100000000, processors_per_thread: $processors }
auth: { write_keys: [bench-write-key], admin_keys: [bench-admin-key] }
channels:
  email: { provider: outbox, path: $work/outbox.jsonl, rate: 1 }
log: { level: warn }
YAML

# --- 1. fill the partitions ---------------------------------------------------------------
total=$((customers * events))
fill_started=$(now)
python3 ops/bench/engine/gen_events.py "$customers" "$events" "$partitions" "$names" "$run_id" |
  rcli --pipe >"$work/pipe.txt"
fill_secs=$(awk -v t0="$fill_started" -v t1="$(now)" 'BEGIN { printf "%.1f", t1 - t0 }')
backlog() {
  rcli EVAL "local n = 0 for p = 0, $((partitions - 1)) do n = n + tonumber(redis.call('GET', 'herald:bl:{p' .. p .. '}') or '0') end return n" 0
}
queued=$(backlog)
[ "$queued" = "$total" ] || { echo "expected $total events in the streams, found $queued" >&2; exit 1; }
mem_streams=$(rcli INFO memory | awk -F: '$1 == "used_memory" { print $2 + 0 }')
# The fill leaves an append-only file of its own, about the size of the streams: Redis
# would compact it (a rewrite, in a forked child) as the drain starts, inside the
# measurement. It is compacted here instead, and the drain starts once that is done: the
# drain's figure holds the rewrites its own writes cause, not the fill's.
settle_started=$(now)
rcli BGREWRITEAOF >/dev/null 2>&1 || true
persistence() {  # the INFO persistence field $1
  rcli INFO persistence | tr -d '\r' | awk -F: -v f="$1" '$1 == f { print $2 + 0 }'
}
for _ in $(seq 6000); do
  [ "$(persistence aof_rewrite_in_progress)$(persistence aof_rewrite_scheduled)" = 00 ] && break
  sleep 0.1
done
settle_secs=$(awk -v t0="$settle_started" -v t1="$(now)" 'BEGIN { printf "%.1f", t1 - t0 }')

# --- 2. start herald, measure the drain -----------------------------------------------------
rcli CONFIG RESETSTAT >/dev/null
herald_wrap=()
[ "$counted" = herald ] && herald_wrap=("${callgrind[@]}")
"${herald_wrap[@]}" "./$build/gateway/herald" serve --config "$work/herald.yaml" 2>"$work/herald.log" &
herald_pid=$!
pids+=($herald_pid)
wait_http "http://127.0.0.1:$herald_port/readyz" 1200  # callgrind takes a while to start it
cpu_of() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }  # utime + stime, s (USER_HZ 100)
redis_cpu() { rcli INFO cpu | tr -d '\r' | awk -F: '$1 == "used_cpu_user" || $1 == "used_cpu_sys" { s += $2 } END { printf "%.2f", s }'; }
# The append-only file's rewrites run in forked children, on the same cores.
redis_children_cpu() { rcli INFO cpu | tr -d '\r' | awk -F: '$1 == "used_cpu_user_children" || $1 == "used_cpu_sys_children" { s += $2 } END { printf "%.2f", s }'; }
herald_cpu0=$(cpu_of "$herald_pid"); redis_cpu0=$(redis_cpu); redis_children0=$(redis_children_cpu)
rewrites0=$(persistence aof_rewrites)
# The process counted, if any. A dump zeroes callgrind's counters: the next one holds the
# drain alone.
counted_pid=""
[ "$counted" = 1 ] && counted_pid=$redis_pid
[ "$counted" = herald ] && counted_pid=$herald_pid
[ -n "$counted_pid" ] && callgrind_control -d "$counted_pid" >/dev/null 2>&1
started=$(now)
perf_pid=""
if [ "${PERF:-1}" = 1 ] && [ "$counted" = 0 ] && command -v perf >/dev/null; then
  perf record -F 499 -p "$herald_pid" -o "$work/perf.data" >/dev/null 2>&1 &
  perf_pid=$!
fi
left=$queued
for _ in $(seq $([ "$counted" = 0 ] && echo 12000 || echo 72000)); do  # at most 10 minutes (1 hour counted)
  left=$(backlog)
  [ "$left" -le 0 ] && break
  sleep 0.05
done
drained=$(now)
counted_out=""
if [ -n "$counted_pid" ]; then
  callgrind_control -d "$counted_pid" >/dev/null 2>&1
  # The drain's dump: the process's file with the highest part number (Redis's rewrite
  # children write files of their own pids).
  counted_out=$(ls "$work/callgrind.$counted_pid".* 2>/dev/null | sort -t. -k3 -n | tail -1)
fi
herald_cpu=$(awk -v a="$(cpu_of "$herald_pid")" -v b="$herald_cpu0" 'BEGIN { printf "%.1f", a - b }')
redis_cpu_drain=$(awk -v a="$(redis_cpu)" -v b="$redis_cpu0" 'BEGIN { printf "%.1f", a - b }')
redis_children_drain=$(awk -v a="$(redis_children_cpu)" -v b="$redis_children0" 'BEGIN { printf "%.1f", a - b }')
rewrites=$(( $(persistence aof_rewrites) - rewrites0 ))
rcli INFO commandstats | tr -d '\r' | awk -F'[:,=]' '/^cmdstat_/ { sub("cmdstat_", "", $1); printf "%s %s %s\n", $1, $3, $5 }' |
  sort -k3 -nr > "$work/commandstats.txt"
[ -n "$perf_pid" ] && { kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; }
[ "$left" -le 0 ] || echo "the backlog did not drain: $left left" >&2
drain_secs=$(awk -v t0="$started" -v t1="$drained" 'BEGIN { printf "%.2f", t1 - t0 }')
eps=$(awk -v n="$((queued - left))" -v s="$drain_secs" 'BEGIN { printf "%.0f", n / s }')

stat_sum() {  # sum of one field over every workflow's stats
  rcli EVAL "local n = 0 for _, k in ipairs(redis.call('KEYS', 'herald:wfstats:*')) do n = n + tonumber(redis.call('HGET', k, ARGV[1]) or '0') end return n" 0 "$1"
}
entered=$(stat_sum entered)
skipped=$(( $(stat_sum skipped_active) + $(stat_sum skipped_cooldown) ))
exited=$(stat_sum exited)
sent=$(stat_sum first:sent)
timers_pending=$(rcli EVAL "local n = 0 for p = 0, $((partitions - 1)) do n = n + tonumber(redis.call('GET', 'herald:tmn:{p' .. p .. '}') or '0') end return n" 0)
redis_usec=$(awk '$1 != "exec" { s += $3 } END { printf "%.0f", s }' "$work/commandstats.txt")

# --- 4. timers ------------------------------------------------------------------------------
timers_out=""
if [ "${TIMERS:-$([ "$counted" = 0 ] && echo 1 || echo 0)}" = 1 ]; then
  kill "$herald_pid" 2>/dev/null || true
  HERALD_BUILD_DIR="$build" ops/bench/timers.sh > "$work/timers.txt" 2>&1 || true
  timers_out="$work/timers.txt"
fi

verdict() { if awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { exit !(op == ">=" ? v >= t : v <= t) }'; then echo met; else echo MISSED; fi; }

echo
echo "Engine benchmark: $workflows workflows, herald threads $threads ($processors processors each), $partitions partitions, $(nproc) cores, $(date -u +%Y-%m-%d)"
echo "redis-server $(redis-server --version | awk '{ print $3 }' | cut -d= -f2), appendonly yes, appendfsync everysec"
printf '%-48s %14s   %-22s %s\n' measure value target result
if [ -n "$counted_out" ]; then
  # callgrind_annotate's inclusive counts: "  1,077,593,024 (14.44%)  ???:NAME [binary]".
  callgrind_annotate --inclusive=yes "$counted_out" 2>/dev/null > "$work/callgrind.txt" || true
  ir_total=$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' "$work/callgrind.txt")
  # The first (outermost) inclusive count of the function named $1 (redis-server's symbols:
  # "???:NAME"), or of the first whose name holds $1 (Herald's, with their signatures).
  ir_of() {
    awk -v f="???:$1" '{ for (i = 2; i <= NF; i++) if ($i == f) { gsub(",", "", $1); print $1; exit } }' \
      "$work/callgrind.txt"
  }
  ir_like() { awk -v f="$1" 'index($0, f) { gsub(",", "", $1); print $1; exit }' "$work/callgrind.txt"; }
  # One row: LABEL and the per-event sum of the counts that follow.
  ir_row() {
    local label=$1 sum=0 c
    shift
    for c in "$@"; do sum=$((sum + ${c:-0})); done
    printf '  %-56s %s\n' "$label" "$(awk -v a="$sum" -v n="$queued" -v t="${ir_total:-1}" \
      'BEGIN { printf "%9.0f  (%4.1f %%)", a / n, 100 * a / t }')"
  }
  who=$([ "$counted" = 1 ] && echo redis-server || echo herald)
  printf '%-48s %14s   %-22s %s\n' "events decided ($queued events)" "$((queued - left))" "-" \
    "($who under valgrind: not a speed)"
  echo "$who instructions per event over the drain ($([ "$counted" = 1 ] && echo "main process" || echo "every thread"); callgrind):" \
    "$(awk -v t="${ir_total:-0}" -v n="$queued" 'BEGIN { printf "%.0f", t / n }')"
  if [ "$counted" = 1 ]; then
    ir_row "reading commands (processMultibulkBuffer)" "$(ir_of processMultibulkBuffer)"
    ir_row "commands run inside transactions and scripts (call'2)" "$(ir_of "call'2")"
    ir_row "copying them to the append-only file" "$(ir_of propagatePendingCommands)"
    ir_row "profile reads (HGETALL, HMGET)" "$(ir_of hgetallCommand)" "$(ir_of hmgetCommand)"
    ir_row "stream reads (XREAD)" "$(ir_of xreadCommand)"
    ir_row "the delivery worker's claims (XCLAIM, XAUTOCLAIM)" "$(ir_of xclaimCommand)" "$(ir_of xautoclaimCommand)"
    echo "  (the claims follow the drain's duration, which callgrind stretches, not its events)"
  else
    ir_row "the workflow engine's decisions (Engine::decide)" "$(ir_like "Engine::decide(")"
    ir_row "the customer's state written back (write_customer)" "$(ir_like "::write_customer(")"
    ir_row "Redis answers parsed (redisReaderGetReply)" "$(ir_like "redisReaderGetReply")"
    ir_row "Redis commands formatted and sent (send_formatted)" "$(ir_like "::send_formatted(")"
  fi
else
  printf '%-48s %14s   %-22s %s\n' "events decided/s ($queued events, ${drain_secs} s)" "$eps" ">= 50,000/s" \
    "$(verdict "$eps" 50000 ">=")"
fi
if [ -n "$timers_out" ]; then
  row() { grep -F "$1" "$timers_out" | head -1 | sed 's/  */ /g'; }
  mem=$(row "Redis memory per pending timer"); fired=$(row "fired/s, "); lag=$(row "lag due -> fired")
  printf '%-48s %14s   %-22s %s\n' "timers: memory per pending timer" "$(echo "$mem" | awk '{ print $(NF-5), $(NF-4) }')" "<= 150 B" "$(echo "$mem" | awk '{ print $NF }')"
  printf '%-48s %14s   %-22s %s\n' "timers: fired/s" "$(echo "$fired" | awk '{ print $(NF-3) }')" ">= 20,000/s" "$(echo "$fired" | awk '{ print $NF }')"
  printf '%-48s %14s   %-22s %s\n' "timers: lag due -> fired, p99" "$(echo "$lag" | awk '{ print $(NF-5), $(NF-4) }')" "<= 1000 ms" "$(echo "$lag" | awk '{ print $NF }')"
fi
if [ "$counted" = 0 ]; then
  echo "baseline, same run: redis-benchmark -P 16 on a redis-server of the same configuration:"
  echo "          HSET $base_hset/s, LPUSH $base_lpush/s; the drain decided one event per" \
    "$(awk -v h="$base_hset" -v e="$eps" 'BEGIN { printf "%.1f", (e > 0 ? h / e : 0) }') HSETs' time"
fi
echo
echo "decisions: $entered runs entered, $skipped triggers skipped (active run or cooldown), $exited runs"
echo "           exited, $sent first sends recorded, $timers_pending timers pending after the drain"
echo "fill: $total events appended in ${fill_secs} s; used_memory with the streams full: $mem_streams bytes;"
echo "      the fill's append-only file rewritten before the drain in ${settle_secs} s"
echo "cpu over the drain (${drain_secs} s, $(nproc) cores): herald ${herald_cpu} s, redis-server ${redis_cpu_drain} s"
echo "     (and ${redis_children_drain} s in its $rewrites append-only file rewrites, not counted below);"
echo "     $(awk -v n="$((queued - left))" -v a="$herald_cpu" -v b="$redis_cpu_drain" 'BEGIN { printf "%.0f", n / (a + b) }') events per CPU second of the two together, $(awk -v n="$((queued - left))" -v a="$herald_cpu" 'BEGIN { printf "%.0f", n / a }') per herald CPU second"
echo "     (a machine shared with other work gives the drain less than its $(nproc) cores: load average $(cut -d' ' -f1 /proc/loadavg))"
echo "redis: ${redis_usec} us in commands over the drain; top commands (calls, usec; exec's time"
echo "       includes the commands run inside it, which are counted again under their own names):"
head -8 "$work/commandstats.txt" | awk '{ printf "  %-14s %10s calls %12s us\n", $1, $2, $3 }'
if [ -f "$work/perf.data" ]; then
  echo "herald, perf top symbols over the drain (self time):"
  perf report -i "$work/perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -15 | sed -E 's/nlohmann::json_abi_v[0-9_]+::/nlohmann::/g; s/basic_json<[^ ]*> *>/json/g' |
    cut -c1-140 | sed 's/^/  /' || true
fi
if [ -n "$timers_out" ]; then
  echo
  echo "timers.sh:"
  sed -n '/Timers benchmark/,$p' "$timers_out" | sed 's/^/  /'
fi
