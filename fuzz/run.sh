#!/usr/bin/env bash
# Fuzzes one target with AFL++ through cargo-afl (stable Rust): `fuzz/run.sh TARGET [SECONDS]`
# (no SECONDS: until stopped). Targets: verifier cookie_header auth_json exchange_form duration
# key_dir. The run lives in fuzz/out/TARGET/default/ (FUZZ_OUT overrides fuzz/out): fuzzer_stats
# (execs_done …), crashes/ and hangs/. A second run resumes the first.
set -euo pipefail
cd "$(dirname "$0")"

target=${1:?usage: fuzz/run.sh TARGET [SECONDS]}
seconds=${2:-}
out=${FUZZ_OUT:-$PWD/out}/$target
# Instrumented builds get their own directory so they never invalidate the normal build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../target}/afl"

command -v cargo-afl >/dev/null || cargo install --locked cargo-afl
# Builds AFL++ once; says "already built" (and fails) every later time.
if ! built=$(cargo afl config --build 2>&1); then
    grep -q "already built" <<<"$built" || { echo "$built" >&2; exit 1; }
fi
cargo afl build --release --locked --features afl --bin "$target"

# The seeds and every input that ever failed start the run.
# Seeds (a private key among them) are written at run time, never committed.
CARGO_TARGET_DIR="${CARGO_TARGET_DIR%/afl}" cargo run -q --locked --bin seeds
input="$out.in"
rm -rf "$input" && mkdir -p "$input" "$out"
cp corpus/"$target"/* "$input"/
if [ -d regressions/"$target" ]; then cp regressions/"$target"/* "$input"/ 2>/dev/null || true; fi

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
export AFL_AUTORESUME=1
exec cargo afl fuzz -i "$input" -o "$out" ${seconds:+-V "$seconds"} -- "$CARGO_TARGET_DIR/release/$target"
