# Shared by the benchmark scripts (sourced, not run): a work folder cleaned up on exit,
# free ports, waiting for HTTP, and the servers each benchmark starts for itself.
# Expects to be sourced from the repository root.

work=$(mktemp -d "/tmp/herald-bench-XXXXXX")
pids=()
bench_cleanup() {
  # Last started first: Herald stops before the Redis it would otherwise wait for.
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null
  # BENCH_KEEP=1 keeps the work folder (logs, dumps, the append-only file) to look into.
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap bench_cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {  # URL [TRIES, 0.1 s apart; default 100]
  for _ in $(seq "${2:-100}"); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "no answer from $1" >&2
  return 1
}

# Builds TARGET (default herald) in BUILD (HERALD_BUILD_DIR, default build).
bench_build() {
  build=${HERALD_BUILD_DIR:-build}
  ./ops/setup.sh
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C "$build" "${1:-herald}" >/dev/null
}

# Starts Debian's nginx with one worker a core, serving the same fixed /healthz answer as
# Herald's (the baseline measured in the same run) and any further `location` blocks
# given as $1 (the dispatch benchmark's provider sink). Sets nginx_port.
start_nginx() {
  local extra=${1:-}
  nginx_port=$(free_port)
  mkdir -p "$work/nginx"
  cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes $(nproc);
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nginx_port reuseport;
    location = /healthz { default_type application/json; return 200 '{"status":"ok"}'; }
$extra
  }
}
NGINX
  nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
  pids+=($!)
  wait_http "http://127.0.0.1:$nginx_port/healthz"
}

# Starts a redis-server as production would run it (append-only, fsync every second),
# under the command given as arguments if any (a profiler). Sets redis_port and redis_pid;
# rcli runs redis-cli against it.
start_redis() {
  redis_port=$(free_port)
  mkdir -p "$work/redis"
  "$@" redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" --appendonly yes \
    --appendfsync everysec --save "" --daemonize no --logfile "$work/redis/redis.log" \
    2>>"$work/redis/stderr.log" &
  redis_pid=$!
  pids+=($redis_pid)
  for _ in $(seq 600); do [ "$(rcli PING 2>/dev/null)" = PONG ] && break; sleep 0.1; done
}
rcli() { redis-cli -h 127.0.0.1 -p "$redis_port" "$@"; }
