# What the bench scripts share, sourced by each (never run on its own): the release build, a
# scratch folder whose services are stopped on exit, the store, waiting for /healthz, and the
# first user's session cookie.

# bench_start: checks for wrk, builds the three release binaries into $bin, makes $work, and
# stops every process in $pids (then removes $work) when the script exits.
bench_start() {
    command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
    cargo build --release --locked -q -p identity -p edge -p core-api
    bin=target/release
    work=$(mktemp -d)
    pids=()
    trap 'bench_stop; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"' EXIT
}

# bench_stop: stops the services started so far.
bench_stop() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pids=()
}

# bench_store NAME: sets identity_db, core_db and store — a fresh PostgreSQL database NAME_<pid>
# on BENCH_DATABASE_URL's server when that is set (bench_drop_store removes it), else SQLite
# files in $work.
bench_store() {
    if [ -n "${BENCH_DATABASE_URL:-}" ]; then
        db="$1_$$"
        psql "$BENCH_DATABASE_URL" -qc "CREATE DATABASE $db"
        local base=${BENCH_DATABASE_URL%/*}
        identity_db="$base/$db"; core_db="$base/$db"; store="PostgreSQL"
    else
        identity_db="sqlite://$work/identity.db"; core_db="sqlite://$work/core-api.db"; store="SQLite"
    fi
}

# bench_drop_store: stops the services and drops bench_store's PostgreSQL database, if any.
bench_drop_store() {
    if [ -n "${BENCH_DATABASE_URL:-}" ]; then
        bench_stop
        psql "$BENCH_DATABASE_URL" -qc "DROP DATABASE $db"
    fi
}

# wait_healthy PORT...: waits (10 s at most each) until 127.0.0.1:PORT answers /healthz.
wait_healthy() {
    local port
    for port in "$@"; do
        for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
    done
}

# sign_up EDGE_PORT EMAIL USER_AGENT [ORIGIN]: signs a new user up through edge with the cookie
# jar $work/jar, and prints the session cookie as `name=value`.
sign_up() {
    local origin=()
    [ -n "${4:-}" ] && origin=(-H "Origin: $4")
    curl -fs -A "$3" -c "$work/jar" -H 'Content-Type: application/json' "${origin[@]}" \
        -d "{\"name\":\"Bench\",\"email\":\"$2\",\"password\":\"correct horse battery\"}" \
        "http://127.0.0.1:$1/api/auth/sign-up/email" >/dev/null
    awk '$6 ~ /session_token/ {print $6"="$7}' "$work/jar"
}

# cpu_ticks PID...: the processes' user + system CPU time so far, in clock ticks (summed).
cpu_ticks() {
    local pid total=0
    for pid in "$@"; do
        # Fields 14 and 15 of /proc/PID/stat (after the parenthesised name, which may hold spaces).
        total=$(( total + $(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}') ))
    done
    echo "$total"
}
