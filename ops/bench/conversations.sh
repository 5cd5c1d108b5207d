#!/usr/bin/env bash
# Conversations benchmark. Starts its own redis-server (append-only, fsync every second) and
# Herald (threads = nproc) with 100 agents, then (ops/bench/conversations/driver.py):
#   1. claim race: 1,000 escalated conversations; for each, all 100 agents claim at once over
#      keep-alive connections: claims/s, p50/p99 of the answers, and exactly one winner each;
#   2. stream fan-out: 200 sockets on GET /v1/conversations/stream (two per agent); 200
#      transitions (claim, release, ...) one at a time: p50/p99 from the transition's request
#      to each socket's frame.
# The driver is Python (asyncio, Debian's python3-websockets) on the same two cores as Herald
# and Redis: its own time is in the figures.
# Usage: ops/bench/conversations.sh [CONVERSATIONS] [AGENTS] [SOCKETS] [TRANSITIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000}
agents=${2:-100}
sockets=${3:-200}
transitions=${4:-200}
source ops/bench/lib.sh
bench_build
driver() { /usr/bin/python3 ops/bench/conversations/driver.py "$@"; }

start_redis
herald_port=$(free_port)
mkdir -p "$work/templates" "$work/workflows"
{
  echo "server: { listen: 127.0.0.1:$herald_port, threads: $(nproc) }"
  echo "redis: { url: \"redis://127.0.0.1:$redis_port\" }"
  echo "data_dir: $work/var"
  echo "templates_dir: $work/templates"
  echo "workflows_dir: $work/workflows"
  echo "log: { level: warn }"
  echo "auth:"
  echo "  agents:"
  for i in $(seq 0 $((agents - 1))); do
    printf '    - { name: agent%03d, token: bench-agent-%03d }\n' "$i" "$i"
  done
} > "$work/herald.yaml"
"$build/gateway/herald" serve --config "$work/herald.yaml" > "$work/herald.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$herald_port/readyz"

driver seed "$redis_port" "$n" bench
driver seed "$redis_port" 1 fan
echo "== claim race: $n conversations, $agents agents each"
driver claims "$herald_port" "$n" "$agents"
echo "== stream fan-out: $sockets sockets, $transitions transitions"
driver fanout "$herald_port" "$sockets" "$transitions"
