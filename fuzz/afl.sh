# What run.sh, ci.sh and campaign.sh share, sourced by each from fuzz/ (never run on its own): the
# targets, the instrumented build in a target directory of its own, the seeds, a run's inputs.

targets=(verifier cookie_header auth_json exchange_form duration key_dir)
# Instrumented builds get their own directory so they never invalidate the normal build.
normal_target_dir="${CARGO_TARGET_DIR:-$PWD/../target}"
export CARGO_TARGET_DIR="$normal_target_dir/afl"
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1

# afl_build CARGO_BUILD_ARGS...: installs cargo-afl and builds AFL++ when missing, builds the
# instrumented binaries (under $AFL_BUILD_PREFIX, e.g. `nice -n 19`) and writes the seeds.
afl_build() {
    command -v cargo-afl >/dev/null || cargo install --locked cargo-afl
    # Builds AFL++ once; says "already built" (and fails) every later time.
    local built
    if ! built=$(cargo afl config --build 2>&1); then
        grep -q "already built" <<<"$built" || { echo "$built" >&2; exit 1; }
    fi
    ${AFL_BUILD_PREFIX:-} cargo afl build --release --locked --features afl "$@"
    # Seeds (a private key among them) are written at run time, never committed.
    CARGO_TARGET_DIR="$normal_target_dir" cargo run -q --locked --bin seeds
}

# afl_inputs TARGET DIR: DIR made afresh with the target's seeds and every input that ever failed.
afl_inputs() {
    rm -rf "$2" && mkdir -p "$2"
    cp corpus/"$1"/* "$2"/
    if [ -d regressions/"$1" ]; then cp regressions/"$1"/* "$2"/ 2>/dev/null || true; fi
}
