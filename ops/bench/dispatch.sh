#!/usr/bin/env bash
# Dispatch benchmark. Starts its own redis-server (append-only, fsync every second), Debian's
# nginx as a fast provider sink answering Twilio's and WhatsApp Cloud API's success bodies, an
# SMTP sink (aiosmtpd), and Herald (threads = nproc) with sms → twilio, whatsapp →
# whatsapp_cloud and email → smtp pointed at them. Messages are written to Redis as the
# engine queues them (ops/bench/dispatch/driver.py), then put on the delivery stream at once;
# the clock runs until Herald's herald_messages_total{status="sent"} counts them all.
#   1. wrk POSTing to the nginx sink: the sink's own rate, the baseline of the same run;
#   2. messages/s through twilio and through whatsapp_cloud (N each, default 50,000);
#   3. messages/s through smtp to the local SMTP sink (N/10);
#   4. latency Herald adds: 5,000 messages queued at 1,000/s, time from the stream entry to
#      the `sent` status (the sink answers in well under a millisecond): p50, p99, max;
#   5. the cost of the policy checks: step 2's twilio run again with quiet hours and a
#      frequency cap on (neither holding anything back, so every check runs in full), as the
#      extra time per message; then step 4's latency run with the policies on, and the p50
#      and p99 of the checks' wall time from Herald's histogram.
# Usage: ops/bench/dispatch.sh [N]   (HERALD_BUILD_DIR picks the build tree)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-50000}
source ops/bench/lib.sh
bench_build
threads=$(nproc)
customers=1000
driver() { python3 ops/bench/dispatch/driver.py "$@"; }
now() { date +%s.%N; }

start_redis

# --- the provider sink -----------------------------------------------------------------------
start_nginx "
    location /twilio/ { default_type application/json;
      return 201 '{\"sid\": \"SM0123456789abcdef0123456789abcdef\", \"status\": \"queued\", \"num_segments\": \"1\", \"error_code\": null}'; }
    location /whatsapp/ { default_type application/json;
      return 200 '{\"messaging_product\": \"whatsapp\", \"contacts\": [{\"input\": \"14155550000\", \"wa_id\": \"14155550000\"}], \"messages\": [{\"id\": \"wamid.HBgLMTQxNTU1NTAwMDAVAgARGBI\"}]}'; }"
sink_port=$nginx_port

smtp_dir="$work/smtp"
mkdir -p "$smtp_dir"
/usr/bin/python3 tests/sandbox/smtp_sink.py --port-file "$work/smtp.port" --dir "$smtp_dir" > "$work/smtp.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/smtp.port" ] && break; sleep 0.1; done
smtp_port=$(cat "$work/smtp.port")

# --- Herald ------------------------------------------------------------------------------
herald_port=$(free_port)
start_herald() {  # $1: extra policies YAML
  cat > "$work/herald.yaml" <<YAML
server: { listen: 127.0.0.1:$herald_port, threads: $threads }
redis: { url: "redis://127.0.0.1:$redis_port" }
data_dir: $work/var
workflows_dir: $work/workflows
templates_dir: $work/templates
log: { level: warn }
public_url: http://127.0.0.1:$herald_port
policies: $1
channels:
  sms: { provider: twilio, base_url: "http://127.0.0.1:$sink_port/twilio", account_sid: ACbench, auth_token: bench-token, from: "+14155550000" }
  whatsapp: { provider: whatsapp_cloud, base_url: "http://127.0.0.1:$sink_port/whatsapp", phone_number_id: "1555000111", access_token: bench, app_secret: bench, verify_token: bench }
  email: { provider: smtp, url: "smtp://127.0.0.1:$smtp_port", starttls: false, from: "Bench <bench@example.com>" }
YAML
  mkdir -p "$work/workflows" "$work/templates"
  ./"${HERALD_BUILD_DIR:-build}"/gateway/herald serve --config "$work/herald.yaml" > "$work/herald.log" 2>&1 &
  herald_pid=$!
  pids+=($herald_pid)
  wait_http "http://127.0.0.1:$herald_port/readyz"
}
stop_herald() { kill "$herald_pid"; wait "$herald_pid" 2>/dev/null || true; }
sent_count() {  # $1: channel
  curl -fs "http://127.0.0.1:$herald_port/metrics" |
    awk -v c="channel=\"$1\",status=\"sent\"" 'index($0, "herald_messages_total{" c "}") == 1 { s = $2 } END { print s + 0 }'
}
# Runs N messages of a channel through; prints messages/s.
run_channel() {  # $1 channel, $2 provider, $3 count
  driver prepare "$redis_port" "$1" "$2" "$3" "$customers"
  local before; before=$(sent_count "$1")
  local t0; t0=$(driver trigger "$redis_port" "$1" "$3" "$customers")
  local target=$((before + $3))
  for _ in $(seq 6000); do
    [ "$(sent_count "$1")" -ge "$target" ] && break
    sleep 0.05
  done
  local t1; t1=$(now)
  local got; got=$(sent_count "$1")
  [ "$got" -ge "$target" ] || { echo "only $((got - before)) of $3 $1 messages sent" >&2; exit 1; }
  awk -v n="$3" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }'
}

# 1. The sink's own rate (the baseline).
cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "To=%2B14155550101&From=%2B14155550000&Body=Your+order+has+shipped"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic QUNiZW5jaDpiZW5jaC10b2tlbg=="
LUA
sink_rps=$(wrk -t1 -c64 -d3s -s "$work/post.lua" "http://127.0.0.1:$sink_port/twilio/2010-04-01/Accounts/ACbench/Messages.json" |
  awk '/Requests\/sec/ { printf "%.0f", $2 }')

start_herald "{ quiet_hours: { channels: [] } }"
# CPU seconds a process has used (user + system).
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"; }
redis_pid=$(pgrep -f "redis-server 127.0.0.1:$redis_port" | head -1)
# 2. and 3.
herald_cpu0=$(cpu_of "$herald_pid"); redis_cpu0=$(cpu_of "$redis_pid")
twilio_rate=$(run_channel sms twilio "$n")
herald_us=$(awk -v a="$herald_cpu0" -v b="$(cpu_of "$herald_pid")" -v n="$n" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')
redis_us=$(awk -v a="$redis_cpu0" -v b="$(cpu_of "$redis_pid")" -v n="$n" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')
whatsapp_rate=$(run_channel whatsapp whatsapp_cloud "$n")
smtp_n=$((n / 10))
smtp_rate=$(run_channel email smtp "$smtp_n")
smtp_connections=$(python3 -c 'import glob, json, sys
print(len({json.load(open(f)).get("connection_id") for f in glob.glob(sys.argv[1] + "/*.json")}))' "$smtp_dir")

# 4. Latency at a steady 1,000/s (a fresh batch of message ids).
latency_n=5000
python3 - "$redis_port" "$latency_n" "$customers" <<'PY'
import sys, json
sys.path.insert(0, "ops/bench/dispatch")
import driver
r = driver.Redis(sys.argv[1])
n, customers = int(sys.argv[2]), int(sys.argv[3])
batch = []
for i in range(n):
    mid = f"bench-lat-{i}"
    cust = driver.customer_of(i, customers)
    origin = json.dumps({"id": mid, "customer_id": cust, "template": "bench"}, separators=(",", ":"))
    batch.append(["HSET", f"herald:msg:{driver.tag(cust)}:{mid}", "o", origin, "channel", "sms",
                  "provider", "twilio", "status", "queued",
                  "content", json.dumps(driver.content("sms", i)), "timeline", "[]", "attempts", "0",
                  "fallback", "[]", "transactional", "1"])
r.pipeline(batch)
PY
driver paced "$redis_port" lat "$latency_n" "$customers" 1000 > "$work/lat.times"
sleep 2
read -r lat_p50 lat_p99 lat_max lat_count < <(driver latency "$redis_port" lat "$customers" "$work/lat.times")
stop_herald

# 5. Policies on: quiet hours on every channel with a window that does not hold now, and a
# frequency cap high enough never to bite.
quiet_from=$(date -u -d '+2 hours' +%H:00); quiet_to=$(date -u -d '+3 hours' +%H:00)
start_herald "{ quiet_hours: { from: \"$quiet_from\", to: \"$quiet_to\", channels: [sms] }, frequency_caps: [ { max: 1000000, per: 1h, channels: [sms] } ] }"
rcli EVAL "for _, k in ipairs(redis.call('KEYS', 'herald:msg:*:bench-sms-*')) do redis.call('HSET', k, 'status', 'queued', 'transactional', '0') end return 1" 0 >/dev/null
# Run the sms ids again (they are queued once more, now as marketing messages).
before=$(sent_count sms)
t0=$(driver trigger "$redis_port" sms "$n" "$customers")
for _ in $(seq 6000); do [ "$(sent_count sms)" -ge $((before + n)) ] && break; sleep 0.05; done
t1=$(now)
policy_rate=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
curl -fs "http://127.0.0.1:$herald_port/metrics" > "$work/policy_full.metrics"
# The same checks at a steady 1,000/s: the wall time of each message's checks, p50 and p99
# from Herald's own histogram (herald_delivery_policy_check_seconds, 5 µs buckets at the low end).
rcli EVAL "for _, k in ipairs(redis.call('KEYS', 'herald:msg:*:bench-lat-*')) do redis.call('HSET', k, 'status', 'queued', 'transactional', '0') end return 1" 0 >/dev/null
driver paced "$redis_port" lat "$latency_n" "$customers" 1000 > /dev/null
sleep 2
curl -fs "http://127.0.0.1:$herald_port/metrics" > "$work/policy_paced.metrics"
policy_quantiles() {  # $1 metrics before, $2 after: "p50 p99 count" in µs of the difference
  python3 - "$1" "$2" <<'PY'
import re, sys
def buckets(path):
    out = {}
    for line in open(path):
        m = re.match(r'herald_delivery_policy_check_seconds_bucket\{le="([^"]+)"\} (\d+)', line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out
a = buckets(sys.argv[1]) if sys.argv[1] != "-" else {}
b = buckets(sys.argv[2])
bounds = sorted((k for k in b if k != "+Inf"), key=float) + ["+Inf"]
cum = [(k, b[k] - a.get(k, 0)) for k in bounds]
total = cum[-1][1]
def q(x):
    for k, c in cum:
        if c >= x * total:
            return "inf" if k == "+Inf" else "%g" % (float(k) * 1e6)
    return "inf"
print(q(0.5), q(0.99), total)
PY
}
read -r pol_full_p50 pol_full_p99 pol_full_n < <(policy_quantiles - "$work/policy_full.metrics")
read -r pol_p50 pol_p99 pol_n < <(policy_quantiles "$work/policy_full.metrics" "$work/policy_paced.metrics")
stop_herald
policy_cost_us=$(awk -v on="$policy_rate" -v off="$twilio_rate" 'BEGIN { printf "%.1f", (1e6 / on - 1e6 / off) }')

verdict() { if awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { exit !(op == ">=" ? v >= t : v <= t) }'; then echo met; else echo MISSED; fi; }
echo
echo "Dispatch benchmark: Herald with $threads threads, $(nproc) cores, $(date -u +%Y-%m-%d); nginx sink, aiosmtpd sink, redis-server $(redis-server --version | awk '{ print $3 }' | cut -d= -f2)"
printf '%-52s %14s   %-22s %s\n' measure value target result
printf '%-52s %14s   %-22s %s\n' "nginx sink alone, wrk -c64 POST (baseline)" "$sink_rps/s" "-" "-"
printf '%-52s %14s   %-22s %s\n' "twilio adapter, $n messages" "$twilio_rate/s" ">= 10,000/s" "$(verdict "$twilio_rate" 10000 ">=")"
printf '%-52s %14s   %-22s %s\n' "  as a share of the sink's own rate" "$(awk -v a="$twilio_rate" -v b="$sink_rps" 'BEGIN { printf "%.0f %%", 100 * a / b }')" "-" "-"
printf '%-52s %14s   %-22s %s\n' "  CPU per message: Herald / redis-server" "$herald_us / $redis_us µs" "-" "-"
printf '%-52s %14s   %-22s %s\n' "whatsapp_cloud adapter, $n messages" "$whatsapp_rate/s" ">= 10,000/s" "$(verdict "$whatsapp_rate" 10000 ">=")"
printf '%-52s %14s   %-22s %s\n' "smtp adapter to aiosmtpd, $smtp_n messages" "$smtp_rate/s" "-" "-"
printf '%-52s %14s   %-22s %s\n' "  SMTP connections used" "$smtp_connections" "-" "-"
printf '%-52s %14s   %-22s %s\n' "stream entry -> sent at 1,000/s, p99 (p50 $lat_p50, max $lat_max)" "$lat_p99 ms" "-" "-"
printf '%-52s %14s   %-22s %s\n' "twilio with quiet hours + frequency cap on" "$policy_rate/s" "-" "-"
printf '%-52s %14s   %-22s %s\n' "  policy checks' cost per message (mean, full load)" "$policy_cost_us µs" "-" "-"
printf '%-52s %14s   %-22s %s\n' "  policy checks' wall time at 1,000/s, p99 (p50 $pol_p50)" "<= $pol_p99 µs" "p99 < 50 µs" "$(verdict "$pol_p99" 50 "<=")"
printf '%-52s %14s   %-22s %s\n' "  policy checks' wall time at full load, p99 (p50 $pol_full_p50)" "<= $pol_full_p99 µs" "-" "-"
echo
echo "latency samples: $lat_count; policy samples: $pol_n at 1,000/s, $pol_full_n at full load."
echo "The mean cost is the extra wall time per message at full load (1/rate with policies -"
echo "1/rate without). The p99s are the upper bounds of the histogram buckets holding them; the"
echo "checks' wall time includes one pipelined Redis round trip, and at full load the wait behind"
echo "the other messages in flight on the same connection."
