#!/usr/bin/env bash
# CI: fuzz every target briefly with AFL++ (cargo-afl, stable Rust) — any crash fails — then
# replay every kept input (corpus and regressions) as a normal test. FUZZ_SECONDS per target
# (default 20). A crashing input is left in $FUZZ_OUT (default: a temporary directory) and named.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${FUZZ_SECONDS:-20}
targets=(verifier cookie_header auth_json exchange_form duration key_dir)
normal_target_dir="${CARGO_TARGET_DIR:-$PWD/../target}"
export CARGO_TARGET_DIR="$normal_target_dir/afl"
out=${FUZZ_OUT:-$(mktemp -d)}

command -v cargo-afl >/dev/null || cargo install --locked cargo-afl
if ! built=$(cargo afl config --build 2>&1); then
    grep -q "already built" <<<"$built" || { echo "$built" >&2; exit 1; }
fi
cargo afl build --release --locked --features afl --bins

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
failed=()
# Seeds (a private key among them) are written at run time, never committed.
CARGO_TARGET_DIR="${CARGO_TARGET_DIR%/afl}" cargo run -q --locked --bin seeds
for target in "${targets[@]}"; do
    input="$out/$target.in"
    mkdir -p "$input"
    cp corpus/"$target"/* "$input"/
    if [ -d regressions/"$target" ]; then cp regressions/"$target"/* "$input"/ 2>/dev/null || true; fi
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
