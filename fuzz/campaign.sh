#!/usr/bin/env bash
# The long runs: every target fuzzed to EXECS executions (default 10 million) with AFL++, two at a
# time (one per core), then a table of each target's executions, corpus and findings. Crashing
# and hanging inputs stay in $FUZZ_OUT/TARGET/default/{crashes,hangs} (default fuzz/out); keep
# each as a regression (fuzz/regressions/TARGET/) once fixed. Runs under `nice` so a shared
# machine stays usable:  fuzz/campaign.sh            EXECS=1000000 fuzz/campaign.sh
set -euo pipefail
cd "$(dirname "$0")"

execs=${EXECS:-10000000}
out=${FUZZ_OUT:-$PWD/out}
. ./afl.sh

AFL_BUILD_PREFIX="nice -n 19" afl_build --bins

run() { # run TARGET: to $execs executions, resuming an earlier run of it
    local target=$1 input="$out/$1.in"
    afl_inputs "$target" "$input"
    mkdir -p "$out"
    [ -d "$out/$target/default/queue" ] && input=-
    nice -n 19 cargo afl fuzz -i "$input" -o "$out/$target" -E "$execs" -- \
        "$CARGO_TARGET_DIR/release/$target" >"$out/$target.log" 2>&1
}
# Two lanes, one per core: the verifier (an Ed25519 check per input, the slowest by far) alone,
# the five parsers one after another beside it.
run verifier & verifier=$!
for target in "${targets[@]:1}"; do run "$target"; done
wait "$verifier"


printf '%-14s %14s %10s %8s %8s %8s\n' target execs_done seconds corpus crashes hangs
for target in "${targets[@]}"; do
    stats="$out/$target/default/fuzzer_stats"
    value() { awk -F' *: *' -v k="$1" '$1 == k {print $2}' "$stats"; }
    printf '%-14s %14s %10s %8s %8s %8s\n' "$target" "$(value execs_done)" "$(value run_time)" \
        "$(value corpus_count)" "$(value saved_crashes)" "$(value saved_hangs)"
done
