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
. ./afl.sh

afl_build --bin "$target"
# The seeds and every input that ever failed start the run.
input="$out.in"
afl_inputs "$target" "$input"
mkdir -p "$out"

export AFL_AUTORESUME=1
exec cargo afl fuzz -i "$input" -o "$out" ${seconds:+-V "$seconds"} -- "$CARGO_TARGET_DIR/release/$target"
