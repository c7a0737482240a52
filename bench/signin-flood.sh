#!/usr/bin/env bash
# Legitimate sign-in latency, and the proxied call's p99, while a sign-in flood from many
# addresses hits identity — against the same figures idle (DESIGN §14, bounded work). Figures
# only; nothing here is asserted.
#
#   bench/signin-flood.sh
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/signin-flood.sh
#   FLOOD_CONNECTIONS=512 FLOOD_DURATION=20s bench/signin-flood.sh
#
# The flood goes straight to identity's /v1/sign-in (as edge would send it, no per-address limit
# in front), each request for a new unknown address from a random client_ip with a wrong
# password: every one costs a hash unless the queue is full. The legitimate user signs in
# through edge from the browser that signed up (its device cookie), one request at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

FLOOD_CONNECTIONS=${FLOOD_CONNECTIONS:-256}
FLOOD_DURATION=${FLOOD_DURATION:-30s}
SIGN_INS=${SIGN_INS:-20}
bench_start
bench_store gh_flood

export RUST_LOG=warn
KEYS_DIR="$work/keys" "$bin/identity" keys init >/dev/null
IDENTITY_ADDR=127.0.0.1:18181 ISSUER=http://127.0.0.1:18181 DATABASE_URL="$identity_db" KEYS_DIR="$work/keys" \
    DEV_MAILBOX=true "$bin/identity" >"$work/identity.log" 2>&1 & pids+=($!)
wait_healthy 18181
CORE_API_ADDR=127.0.0.1:18182 DATABASE_URL="$core_db" ISSUER=http://127.0.0.1:18181 \
    JWKS_URL=http://127.0.0.1:18181/.well-known/jwks.json \
    "$bin/core-api" >"$work/core.log" 2>&1 & pids+=($!)
EDGE_ADDR=127.0.0.1:18180 PUBLIC_URL=http://127.0.0.1:18180 IDENTITY_URL=http://127.0.0.1:18181 \
    CORE_API_URL=http://127.0.0.1:18182 AUTH_RATE_LIMIT=0 "$bin/edge" >"$work/edge.log" 2>&1 & pids+=($!)
wait_healthy 18182 18180

ua="flood-bench/1.0"
email="owner-$$@example.com"
password="correct horse battery"
cookie=$(sign_up 18180 "$email" "$ua" http://127.0.0.1:18180)

# SIGN_INS sequential sign-ins through edge from the owner's browser: "status seconds" lines.
sign_ins() {
    for _ in $(seq "$SIGN_INS"); do
        curl -s -o /dev/null -A "$ua" -b "$work/jar" -c "$work/jar" -H 'Content-Type: application/json' \
            -H 'Origin: http://127.0.0.1:18180' -w '%{http_code} %{time_total}\n' \
            -d "{\"email\":\"$email\",\"password\":\"$password\"}" http://127.0.0.1:18180/api/auth/sign-in/email
    done
}

# "ok/total, p50, max" of sign_ins' output, latencies in ms.
summarise() {
    sort -k2 -n | awk '{ n++; if ($1 == 200) ok++; t[n] = $2 * 1000; codes[$1]++ }
        END { printf "%d/%d succeeded, p50 %.0f ms, max %.0f ms (statuses:", ok, n, t[int((n + 1) / 2)], t[n];
              for (c in codes) printf " %s×%d", c, codes[c]; print ")" }'
}

proxied_p99() {
    wrk -t1 -c8 -d"$1" --latency -H "Cookie: $cookie" -H "User-Agent: $ua" http://127.0.0.1:18180/api/products \
        | awk '/99%/ {p99 = $2} /Requests\/sec/ {rps = $2} END {printf "p99 %s, %s req/s", p99, rps}'
}

cat >"$work/flood.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
    n = n + 1
    local ip = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
    local body = string.format(
        '{"email":"flood-%d-%d@example.net","password":"wrong password %d","client_ip":"%s","user_agent":"flood"}',
        math.random(1, 1000000000), n, n, ip, n)
    return wrk.format(nil, nil, nil, body)
end
LUA

# measure LABEL: the owner's sign-ins and the proxied call's p99, at the same time.
measure() {
    sign_ins >"$work/signins-$1.txt" & local signing=$!
    local proxied; proxied=$(proxied_p99 5s)
    wait $signing
    echo "   $1: sign-in $(summarise <"$work/signins-$1.txt")"
    echo "   $1: proxied $proxied"
}

echo "== store: $store, $(nproc) cores; flood: wrk -c$FLOOD_CONNECTIONS -d$FLOOD_DURATION to identity /v1/sign-in"
measure "idle "

wrk -t2 -c"$FLOOD_CONNECTIONS" -d"$FLOOD_DURATION" -s "$work/flood.lua" http://127.0.0.1:18181/v1/sign-in \
    >"$work/flood.txt" 2>&1 & flood=$!
sleep 2 # let the flood fill the queue before measuring
measure flood
kill -0 $flood 2>/dev/null || echo "   the flood ended before the measurements did: raise FLOOD_DURATION"
hashed=$(curl -s http://127.0.0.1:9465/metrics | awk '/^gatehouse_sign_ins_total/ {printf "%s ", $0}')
wait $flood
echo "   flood itself: $(grep -E 'Requests/sec' "$work/flood.txt" | tr -s ' '), $(grep -E 'Non-2xx' "$work/flood.txt" | tr -s ' ')"
echo "   identity's count: $hashed"
bench_drop_store
