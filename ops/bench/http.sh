#!/usr/bin/env bash
# HTTP benchmark: wrk (64 connections) against Herald's /healthz and, in the same run,
# against Debian's nginx serving the same fixed response; prints requests/s, p50/p99
# latency and the ratio. Usage: ops/bench/http.sh [seconds]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-10}
source ops/bench/lib.sh
bench_build
start_nginx
threads=$(nproc)

herald_port=$(free_port)
cat > "$work/herald.yaml" <<YAML
server: { listen: 127.0.0.1:$herald_port, threads: $threads }
data_dir: $work/var
workflows_dir: $PWD/workflows/examples
templates_dir: $PWD/templates/examples
log: { level: warn }
YAML
./$build/gateway/herald serve --config "$work/herald.yaml" 2>"$work/herald.log" &
pids+=($!)

wait_http "http://127.0.0.1:$herald_port/healthz"

# Prints "requests_per_second p50_ms p99_ms".
measure() {
  wrk -t2 -c64 -d"${duration}s" --latency "$1" > "$work/wrk.txt"
  awk '
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    END { printf "%.0f %.3f %.3f\n", rps, ms(p50), ms(p99) }' "$work/wrk.txt"
}

wrk -t2 -c64 -d2s "http://127.0.0.1:$herald_port/healthz" >/dev/null  # warm-up
read -r n_rps n_p50 n_p99 < <(measure "http://127.0.0.1:$nginx_port/healthz")
read -r h_rps h_p50 h_p99 < <(measure "http://127.0.0.1:$herald_port/healthz")
ratio=$(awk -v h="$h_rps" -v n="$n_rps" 'BEGIN { printf "%.0f", 100 * h / n }')

echo "HTTP benchmark: wrk -t2 -c64 -d${duration}s GET /healthz, $(nproc) cores, $(date -u +%Y-%m-%d)"
printf '%-8s %14s %10s %10s\n' server "requests/s" "p50 ms" "p99 ms"
printf '%-8s %14s %10s %10s\n' nginx "$n_rps" "$n_p50" "$n_p99"
printf '%-8s %14s %10s %10s\n' herald "$h_rps" "$h_p50" "$h_p99"
echo "herald/nginx: ${ratio}% (target: at least 70%)"
