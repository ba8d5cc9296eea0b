#!/usr/bin/env bash
# playground.sh — set up, build, start, stop and test Lithair Playground.
#
#   tools/playground.sh start   install what is missing, build (Release), start the
#                               playground: 3 nodes + gateway on http://localhost:8080
#   tools/playground.sh test    install what is missing, build with AddressSanitizer +
#                               UndefinedBehaviorSanitizer, run the whole test suite
#   tools/playground.sh stop    stop exactly the processes `start` started (pid files)
#   tools/playground.sh clean   stop, then delete the playground's data
#   tools/playground.sh setup   only install what is missing
#   tools/playground.sh build   set up, then build (Release, into build/); start nothing
#
# Environment: LITHAIR_PORT (8080), LITHAIR_NODE_BASE_PORT (7100: nodes on 7101.., 7201..,
# 7301..), LITHAIR_HOME (.playground/: data, logs, pid files),
# LITHAIR_TEST_ARGS (extra ctest arguments, e.g. "-L unit"); for tests, LITHAIR_PREBUILT
# (a folder holding gateway/lithair-gateway and node/lithair-node: `start` runs those as
# they are, without building).
# Idempotent: a second run installs and builds nothing new; `start` then restarts the
# playground (its data stay) and `test` runs the suite again.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOME_DIR=${LITHAIR_HOME:-$ROOT/.playground}
PORT=${LITHAIR_PORT:-8080}
STOPPED="" # stop_pidfile: what it stopped ("NAME (pid N)" each)
JOBS=$(nproc 2>/dev/null || echo 2)

APT_PACKAGES=(build-essential cmake pkg-config git ca-certificates curl python3
  protobuf-c-compiler libprotobuf-c-dev protobuf-compiler
  libnng-dev libcivetweb-dev libjson-c-dev libcunit1-dev
  liburcu-dev libsodium-dev uuid-dev libjemalloc-dev clang-format clang-tidy
  chromium nodejs npm)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'playground: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root (or sudo) to run: $*"
    fi
}

setup() {
    local missing=()
    for p in "${APT_PACKAGES[@]}"; do
        # A node/npm already on PATH (e.g. from nodesource) stands in for Debian's.
        if [ "$p" = nodejs ] && command -v node >/dev/null; then continue; fi
        if [ "$p" = npm ] && command -v npm >/dev/null; then continue; fi
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    # npm packages: each folder with a package.json gets its node_modules once
    # (again only when its package.json or lock file changes).
    for dir in "$ROOT/frontend" "$ROOT/tests/e2e"; do
        [ -f "$dir/package.json" ] || continue
        local stamp="$dir/node_modules/.lithair-stamp"
        local want
        want=$(cat "$dir/package.json" "$dir/package-lock.json" 2>/dev/null | md5sum | cut -d' ' -f1)
        if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
            say "installing npm packages in ${dir#$ROOT/}"
            if [ -f "$dir/package-lock.json" ]; then
                (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
            else
                (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
            fi
            echo "$want" >"$stamp"
        fi
    done
    if [ -f "$ROOT/frontend/node_modules/uplot/dist/uPlot.iife.min.js" ]; then
        mkdir -p "$ROOT/frontend/vendor"
        cp "$ROOT/frontend/node_modules/uplot/dist/uPlot.iife.min.js" \
           "$ROOT/frontend/node_modules/uplot/dist/uPlot.min.css" "$ROOT/frontend/vendor/"
    fi
}

build() { # build DIR BUILD_TYPE [cmake args...]
    local dir=$1 type=$2
    shift 2
    say "building ($type) in ${dir#$ROOT/}"
    cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null
    cmake --build "$dir" -j"$JOBS"
}

# pid files hold "PID EXE": stop only a process that still runs that executable — or ran
# it before a rebuild replaced the file (the kernel then names it "EXE (deleted)"; missing
# that left a playground running, old code, after every rebuild).
stop_pidfile() {
    local f=$1 pid exe running
    [ -f "$f" ] || return 0
    read -r pid exe <"$f" || true
    running=$(readlink "/proc/${pid:-0}/exe" 2>/dev/null || true)
    if [ -n "${pid:-}" ] && { [ "$running" = "$exe" ] || [ "$running" = "$exe (deleted)" ]; }; then
        STOPPED="$STOPPED $(basename "$f" .pid) (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

start_bg() { # start_bg NAME EXE ARGS... : background process with a pid file and a log
    local name=$1 exe=$2
    shift 2
    mkdir -p "$HOME_DIR/run" "$HOME_DIR/log"
    stop_pidfile "$HOME_DIR/run/$name.pid"
    nohup "$exe" "$@" >>"$HOME_DIR/log/$name.log" 2>&1 </dev/null &
    echo "$! $(readlink -f "$exe")" >"$HOME_DIR/run/$name.pid"
}

start() {
    setup
    local bin=${LITHAIR_PREBUILT:-$ROOT/build}
    [ -n "${LITHAIR_PREBUILT:-}" ] || build "$ROOT/build" Release
    local gw="$bin/gateway/lithair-gateway" log="$HOME_DIR/log/gateway.log"
    [ -x "$gw" ] || die "the build did not produce $gw"
    # Nodes on fixed ports 7101-7103 (raft), 7201-7203 (rpc), 7301-7303 (events), so that
    # lithair-admin's default endpoints reach them. A running playground is restarted
    # (start_bg stops what its pid file names first); its data stay.
    mkdir -p "$HOME_DIR/log"
    local from pid
    from=$(($(stat -c %s "$log" 2>/dev/null || echo 0) + 1))
    start_bg gateway "$gw" --listen "$PORT" --spawn 3 --data-dir "$HOME_DIR/data" \
        --frontend "$ROOT/frontend" --node-base-port "${LITHAIR_NODE_BASE_PORT:-7100}"
    read -r pid _ <"$HOME_DIR/run/gateway.pid"
    # Up when THIS gateway says it listens (another process may answer on the port: the
    # new gateway then cannot listen, says so and exits) and answers.
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        tail -c +"$from" "$log" | grep -q "listening on" &&
            curl -fsS --max-time 2 "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    if ! kill -0 "$pid" 2>/dev/null || ! tail -c +"$from" "$log" | grep -q "listening on"; then
        tail -c +"$from" "$log" | tail -n 5 >&2
        stop_pidfile "$HOME_DIR/run/gateway.pid"
        die "the gateway did not start (above: the end of $log)"
    fi
    curl -fsS --max-time 2 "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 ||
        die "the gateway did not answer; see $log"
    say "Lithair Playground is running: http://localhost:$PORT  (stop: tools/playground.sh stop)"
    local base="${LITHAIR_NODE_BASE_PORT:-7100}"
    if [ "$base" = 7100 ]; then # the CLI's default endpoints
        say "CLI: $bin/tools/admin/lithair-admin status"
    else
        say "CLI: LITHAIR_ENDPOINTS=tcp://127.0.0.1:$((base + 101)),tcp://127.0.0.1:$((base + 102)),tcp://127.0.0.1:$((base + 103)) $bin/tools/admin/lithair-admin status"
    fi
}

stop() {
    STOPPED=""
    for f in "$HOME_DIR"/run/*.pid; do
        [ -e "$f" ] || continue
        stop_pidfile "$f"
    done
    if [ -n "$STOPPED" ]; then
        say "stopped:$STOPPED (the gateway stops its nodes)"
    else # it said "stopped" all the same (QA)
        say "nothing was running (no live process in $HOME_DIR/run)"
    fi
}

run_tests() {
    setup
    build "$ROOT/build-test" Debug -DLITHAIR_SANITIZE=address,undefined
    say "running the test suite"
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    # shellcheck disable=SC2086
    # A test that fails is run once more: real processes on a loaded 2-core machine can
    # miss a timing bound once. Its first failure stays in the output, above the summary.
    ctest --test-dir "$ROOT/build-test" --output-on-failure -j"$JOBS" --repeat until-pass:2 \
        ${LITHAIR_TEST_ARGS:-}
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    clean) stop; rm -rf "$HOME_DIR"; say "removed $HOME_DIR" ;;
    setup) setup ;;
    build) setup; build "$ROOT/build" Release ;;
    test) run_tests ;;
    -h|--help|help|"") sed -n '2,/^[^#]/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
    *) die "unknown command '$1' (try: start, stop, clean, test, setup, build)" ;;
esac
