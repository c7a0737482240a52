#!/usr/bin/env bash
# CI: fuzz every target briefly with AFL++ (cargo-afl, stable Rust) — any crash fails — then
# replay every kept input (corpus and regressions) as a normal test. FUZZ_SECONDS per target
# (default 20). A crashing input is left in $FUZZ_OUT (default: a temporary directory) and named.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${FUZZ_SECONDS:-20}
out=${FUZZ_OUT:-$(mktemp -d)}
. ./afl.sh

afl_build --bins
failed=()
for target in "${targets[@]}"; do
    input="$out/$target.in"
    afl_inputs "$target" "$input"
    cargo afl fuzz -i "$input" -o "$out/$target" -V "$seconds" -- "$CARGO_TARGET_DIR/release/$target" >"$out/$target.log" 2>&1 || {
        tail -n 30 "$out/$target.log" >&2
        failed+=("$target (afl-fuzz failed)")
        continue
    }
    stats="$out/$target/default/fuzzer_stats"
    echo "fuzz $target: $(grep -E '^execs_done' "$stats" | tr -s ' ') in ${seconds}s"
    crashes=$(find "$out/$target/default/crashes" -type f -name 'id:*' 2>/dev/null)
    if [ -n "$crashes" ]; then
        echo "fuzz $target: crashing inputs:" >&2
        echo "$crashes" >&2
        failed+=("$target")
    fi
done

export CARGO_TARGET_DIR="$normal_target_dir"
cargo test --locked

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found crashes in: ${failed[*]} (inputs kept in $out)" >&2
    exit 1
fi
