#!/usr/bin/env bash
# Load figures for the hot path, measured with wrk on this machine (never asserted in a test).
#
#   bench/run.sh                      # SQLite (the embedded default)
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/run.sh
#   LOG_FORMAT=json RUST_LOG=info METRICS_ADDR=127.0.0.1:18464 bench/run.sh   # observability on
#   IDENTITY_REPLICAS=2 BENCH_DATABASE_URL=… bench/run.sh   # two identity processes behind haproxy
#
# Tokens are single-use (DESIGN §15), so the direct calls to core-api use tokens minted just
# before (wrk with bench/mint.lua and bench/direct.lua), one per request.
#
# LOG_FORMAT and RUST_LOG (default warn: no access lines) are passed to the three services.
# METRICS_ADDR=host:port serves edge's metrics there, identity's on the next port and core-api's
# on the one after; unset or empty, no metrics listener is opened.
#
# Starts the three release binaries as separate processes on ports 18080-18082 over a fresh
# store, signs a user up, then measures:
#   1. core-api called directly with a valid token (the baseline),
#   2. the proxied call through edge (cookie -> exchange at identity -> core-api verifies),
#   3. the proxied call while a storm of sign-ins (argon2id) runs beside it,
# and prints each service's peak memory (VmHWM).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

CONNECTIONS=${CONNECTIONS:-16}
DURATION=${DURATION:-15s}
PATH_UNDER_TEST=${PATH_UNDER_TEST:-/api/products}
bench_start
bench_store gh_bench

export RUST_LOG=${RUST_LOG:-warn}
export LOG_FORMAT=${LOG_FORMAT:-text}
metrics_base=${METRICS_ADDR:-}
unset METRICS_ADDR
metrics_at() { # metrics_at OFFSET: edge's address plus OFFSET ports, or empty (off)
    [ -n "$metrics_base" ] && echo "${metrics_base%:*}:$(( ${metrics_base##*:} + $1 ))" || true
}
KEYS_DIR="$work/keys" "$bin/identity" keys init >/dev/null
METRICS_ADDR=$(metrics_at 1) DEV_MAILBOX=true IDENTITY_ADDR=127.0.0.1:18081 ISSUER=http://127.0.0.1:18081 DATABASE_URL="$identity_db" KEYS_DIR="$work/keys" \
    "$bin/identity" >"$work/identity.log" 2>&1 & pids+=($!); identity_pid=$!
wait_healthy 18081
identity_url=http://127.0.0.1:18081
if [ "${IDENTITY_REPLICAS:-1}" = 2 ]; then
    [ -n "${BENCH_DATABASE_URL:-}" ] || { echo "IDENTITY_REPLICAS=2 needs BENCH_DATABASE_URL" >&2; exit 1; }
    command -v haproxy >/dev/null || { echo "haproxy is needed: apt-get install haproxy" >&2; exit 1; }
    DEV_MAILBOX=true IDENTITY_ADDR=127.0.0.1:18083 ISSUER=http://127.0.0.1:18081 DATABASE_URL="$identity_db" KEYS_DIR="$work/keys" \
        METRICS_ADDR= "$bin/identity" >"$work/identity2.log" 2>&1 & pids+=($!); identity2_pid=$!
    cat >"$work/haproxy.cfg" <<CFG
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend identity
    bind 127.0.0.1:18085
    default_backend replicas
backend replicas
    balance roundrobin
    server a 127.0.0.1:18081
    server b 127.0.0.1:18083
CFG
    haproxy -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 & pids+=($!)
    wait_healthy 18083 18085
    identity_url=http://127.0.0.1:18085
fi
METRICS_ADDR=$(metrics_at 2) CORE_API_ADDR=127.0.0.1:18082 DATABASE_URL="$core_db" ISSUER=http://127.0.0.1:18081 \
    JWKS_URL=http://127.0.0.1:18081/.well-known/jwks.json \
    "$bin/core-api" >"$work/core.log" 2>&1 & pids+=($!); core_pid=$!
METRICS_ADDR=$(metrics_at 0) EDGE_ADDR=127.0.0.1:18080 PUBLIC_URL=http://127.0.0.1:18080 IDENTITY_URL=$identity_url \
    CORE_API_URL=http://127.0.0.1:18082 AUTH_RATE_LIMIT=${AUTH_RATE_LIMIT:-0} "$bin/edge" >"$work/edge.log" 2>&1 & pids+=($!); edge_pid=$!
wait_healthy 18082 18080

ua="wrk-bench/1.0"
email="bench-$$@example.com"
cookie=$(sign_up 18080 "$email" "$ua")
session=${cookie#*=}

# mint SECONDS: single-use tokens for GET $PATH_UNDER_TEST, minted by wrk at identity, into $work/tokens.
mint() {
    rm -f "$work"/minted.*
    wrk -t2 -c8 -d"$1" -s bench/mint.lua http://127.0.0.1:18081/v1/token -- "$work/minted" "$session" \
        "$PATH_UNDER_TEST" "$ua" >/dev/null
    cat "$work"/minted.* >"$work/tokens"
}
# direct THREADS CONNECTIONS DURATION: core-api called with one fresh token per request.
direct() {
    wrk -t"$1" -c"$2" -d"$3" --latency -s bench/direct.lua "http://127.0.0.1:18082$PATH_UNDER_TEST" \
        -- "$work/tokens" "$1" "$ua"
}

echo "== store: $store, $(nproc) cores, wrk -t2 -c$CONNECTIONS -d$DURATION, GET $PATH_UNDER_TEST"
echo "== logs: LOG_FORMAT=$LOG_FORMAT RUST_LOG=$RUST_LOG; metrics: ${metrics_base:-off}"
echo
echo "== 0. added latency at light load (1 connection): core-api directly, then proxied through edge"
mint 3s
direct 1 1 5s | grep -E '50%|99%|Requests/sec|Non-2xx' | sed 's/^/   direct  /'
wrk -t1 -c1 -d5s --latency -H "Cookie: $cookie" -H "User-Agent: $ua" \
    "http://127.0.0.1:18080$PATH_UNDER_TEST" | grep -E '50%|99%|Requests/sec' | sed 's/^/   proxied /'
echo
echo "== 1. core-api directly (token verified, no exchange)"
echo "   (tokens minted: $(mint "${MINT_DURATION:-20s}"; wc -l <"$work/tokens"); a request past them replays one: Non-2xx)"
direct 2 "$CONNECTIONS" "$DURATION" | grep -E 'Requests/sec|Latency|50%|90%|99%|Non-2xx'
echo
echo "== 2. proxied through edge (cookie -> exchange -> verify)"
declare -A cpu_before
for svc in identity:$identity_pid core-api:$core_pid edge:$edge_pid; do cpu_before[${svc%%:*}]=$(cpu_ticks "${svc##*:}"); done
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Cookie: $cookie" -H "User-Agent: $ua" \
    "http://127.0.0.1:18080$PATH_UNDER_TEST" >"$work/proxied.txt"
grep -E 'Requests/sec|Latency|50%|90%|99%|Non-2xx' "$work/proxied.txt"
# CPU each service spent per proxied call: less noisy than throughput on a shared machine, so
# the figure to compare when a change (logs, metrics, the limiter) should cost little.
requests=$(awk '/requests in/ {print $1}' "$work/proxied.txt")
tick_us=$(( 1000000 / $(getconf CLK_TCK) ))
printf '   CPU per call:'
for svc in edge:$edge_pid identity:$identity_pid core-api:$core_pid; do
    used=$(( $(cpu_ticks "${svc##*:}") - ${cpu_before[${svc%%:*}]} ))
    printf ' %s %s µs' "${svc%%:*}" "$(awk -v t="$used" -v u="$tick_us" -v n="$requests" 'BEGIN {printf "%.1f", t * u / n}')"
done
echo
echo
echo "== 3. proxied through edge while 4 connections sign in as fast as they can"
cat >"$work/signin.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"email":"$email","password":"correct horse battery"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Origin"] = "http://127.0.0.1:18080"
wrk.headers["User-Agent"] = "$ua"
LUA
wrk -t1 -c4 -d"$DURATION" -s "$work/signin.lua" http://127.0.0.1:18080/api/auth/sign-in/email >"$work/storm.txt" &
storm=$!
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Cookie: $cookie" -H "User-Agent: $ua" \
    "http://127.0.0.1:18080$PATH_UNDER_TEST" | grep -E 'Requests/sec|Latency|50%|90%|99%|Non-2xx'
wait $storm
echo "   sign-ins during the storm: $(grep -E 'Requests/sec' "$work/storm.txt")"
echo
echo "== peak memory (VmHWM)"
for svc in identity:$identity_pid ${identity2_pid:+identity-2:$identity2_pid} core-api:$core_pid edge:$edge_pid; do
    printf '   %-9s %s\n' "${svc%%:*}" "$(grep VmHWM /proc/${svc##*:}/status | awk '{printf "%.1f MB", $2/1024}')"
done
bench_drop_store
