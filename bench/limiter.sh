#!/usr/bin/env bash
# Does the per-address limit (AUTH_RATE_LIMIT, DESIGN §14) cost the proxied call anything?
# It sits only on the auth endpoints, so it must not: proxied-call throughput with the limit on
# must stay within 3 % of the throughput with it off. Measured with wrk, never asserted in a test.
#
#   bench/limiter.sh                  # ROUNDS=5 DURATION=10s CONNECTIONS=16 by default
#
# Starts identity and core-api (release builds, SQLite) and two edges in front of them, one with
# AUTH_RATE_LIMIT=30 (the default) and one with AUTH_RATE_LIMIT=0, signs a user up, then runs the
# same wrk load against each edge in alternating rounds (so drift on a shared machine hits both)
# and prints each round, the medians and their difference.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

CONNECTIONS=${CONNECTIONS:-16}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-5}
PATH_UNDER_TEST=${PATH_UNDER_TEST:-/api/products}
bench_start

export RUST_LOG=warn METRICS_ADDR=
KEYS_DIR="$work/keys" "$bin/identity" keys init >/dev/null
DEV_MAILBOX=true IDENTITY_ADDR=127.0.0.1:18181 ISSUER=http://127.0.0.1:18181 DATABASE_URL="sqlite://$work/identity.db" \
    KEYS_DIR="$work/keys" "$bin/identity" >"$work/identity.log" 2>&1 & pids+=($!)
wait_healthy 18181
CORE_API_ADDR=127.0.0.1:18182 DATABASE_URL="sqlite://$work/core-api.db" ISSUER=http://127.0.0.1:18181 \
    JWKS_URL=http://127.0.0.1:18181/.well-known/jwks.json \
    "$bin/core-api" >"$work/core.log" 2>&1 & pids+=($!)
# Both edges share one PUBLIC_URL, so one cookie works at both.
for edge in on:18183:30 off:18184:0; do
    IFS=: read -r name port limit <<<"$edge"
    EDGE_ADDR=127.0.0.1:$port PUBLIC_URL=http://127.0.0.1:18183 IDENTITY_URL=http://127.0.0.1:18181 \
        CORE_API_URL=http://127.0.0.1:18182 AUTH_RATE_LIMIT=$limit \
        "$bin/edge" >"$work/edge-$name.log" 2>&1 & pids+=($!)
done
wait_healthy 18182 18183 18184

ua="wrk-bench/1.0"
cookie=$(sign_up 18183 "limiter-$$@example.com" "$ua" http://127.0.0.1:18183)
for port in 18183 18184; do
    status=$(curl -s -o /dev/null -w '%{http_code}' -A "$ua" -H "Cookie: $cookie" "http://127.0.0.1:$port$PATH_UNDER_TEST")
    [ "$status" = 200 ] || { echo "edge on $port answers $status to the proxied call" >&2; exit 1; }
done

rate() {
    wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -H "Cookie: $cookie" -H "User-Agent: $ua" \
        "http://127.0.0.1:$1$PATH_UNDER_TEST" | awk '/Requests\/sec/ {print $2} /Non-2xx/ {print "non-2xx " $NF > "/dev/stderr"}'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "== proxied GET $PATH_UNDER_TEST, wrk -t2 -c$CONNECTIONS -d$DURATION, $ROUNDS rounds, $(nproc) cores"
: >"$work/on"; : >"$work/off"
for round in $(seq "$ROUNDS"); do
    # Alternate which goes first, so neither always runs on a warmer (or busier) machine.
    if (( round % 2 )); then order="on off"; else order="off on"; fi
    for which in $order; do
        port=$([ "$which" = on ] && echo 18183 || echo 18184)
        r=$(rate "$port"); echo "$r" >>"$work/$which"
        printf '   round %d  AUTH_RATE_LIMIT=%-2s %10s req/s\n' "$round" "$([ "$which" = on ] && echo 30 || echo 0)" "$r"
    done
done
on=$(median <"$work/on"); off=$(median <"$work/off")
echo
awk -v on="$on" -v off="$off" 'BEGIN {
    printf "   median with the limit on (30): %.0f req/s\n", on
    printf "   median with the limit off (0): %.0f req/s\n", off
    printf "   difference: %+.1f %% (the budget is 3 %%)\n", (on - off) / off * 100
}'
