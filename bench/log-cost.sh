#!/usr/bin/env bash
# What JSON access lines cost the proxied call, as a share of the machine's CPU: a system-wide
# `perf record` of bench/run.sh's proxied phase, once with LOG_FORMAT=json RUST_LOG=info and once
# with RUST_LOG=warn, and the share of samples in the logging code (tracing's span bookkeeping,
# the JSON layer and the log writer) for each. Steadier than throughput pairs on a shared machine.
#
#   bench/log-cost.sh            # needs perf (apt-get install linux-perf) and wrk
set -euo pipefail
cd "$(dirname "$0")/.."
command -v perf >/dev/null || { echo "perf is needed: apt-get install linux-perf" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
logging='tracing|telemetry|sharded_slab|escape_into|EnvFilter|BatchWriter|Line::|zmij|format_into|trace_context|write_batches'

for mode in json warn; do
    if [ "$mode" = json ]; then format=json level=info; else format=text level=warn; fi
    LOG_FORMAT=$format RUST_LOG=$level DURATION=14s MINT_DURATION=1s bench/run.sh >"$out/$mode.txt" 2>&1 &
    run=$!
    until grep -q "== 2" "$out/$mode.txt" 2>/dev/null; do sleep 0.2; done
    sleep 2 # into the proxied phase, past its first connections
    perf record -a -F 2000 -o "$out/$mode.data" -- sleep 8 >/dev/null 2>&1
    wait "$run"
    share=$(perf report -i "$out/$mode.data" --no-children --sort symbol --stdio 2>/dev/null |
        grep -E '^ +[0-9]' | grep -iE "$logging" | awk '{s += $1} END {printf "%.1f", s}')
    rate=$(sed -n '/== 2\./,/== 3\./p' "$out/$mode.txt" | awk '/Requests\/sec/ {print $2}')
    echo "$mode: logging code ${share} % of CPU samples; proxied ${rate} req/s"
done
