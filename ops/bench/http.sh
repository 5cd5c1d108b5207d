#!/usr/bin/env bash
# HTTP benchmark: wrk (64 connections) against Herald's /healthz and, in the same run,
# against Debian's nginx serving the same fixed response; prints requests/s, p50/p99
# latency and the ratio. Usage: ops/bench/http.sh [seconds]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-10}
./ops/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build herald >/dev/null

work=$(mktemp -d /tmp/herald-bench-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

threads=$(nproc)
nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes $threads;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nginx_port reuseport;
    location = /healthz { default_type application/json; return 200 '{"status":"ok"}'; }
  }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)

herald_port=$(free_port)
cat > "$work/herald.yaml" <<YAML
server: { listen: 127.0.0.1:$herald_port, threads: $threads }
data_dir: $work/var
workflows_dir: $PWD/workflows/examples
templates_dir: $PWD/templates/examples
log: { level: warn }
YAML
./build/gateway/herald serve --config "$work/herald.yaml" 2>"$work/herald.log" &
pids+=($!)

wait_http "http://127.0.0.1:$nginx_port/healthz"
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
