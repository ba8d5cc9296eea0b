#!/usr/bin/env bash
# http_bench.sh — writes over HTTP, side by side in one run on this machine:
#   lithair:  wrk POST /api/items          (lithair-gateway --spawn 3: 3 nodes, fsync on)
#   etcd:     wrk POST /v3/kv/put          (Debian's etcd 3.4, 3 members on loopback, fsync on)
# both with 64 connections and 256-byte values, N rounds each, interleaved (each round also
# prints the CPU a write cost the servers and wrk); then the gateway's
# /_playground/cluster/status latency while a saturating write load runs.
# Prints figures; asserts nothing. Needs: a Release build, wrk, etcd-server (apt).
#
# Usage: tools/bench/http_bench.sh BUILD_DIR [SECONDS=10] [ROUNDS=3]
set -euo pipefail
BUILD=$(cd "${1:?usage: http_bench.sh BUILD_DIR [SECONDS] [ROUNDS]}" && pwd)
SECS=${2:-10}
ROUNDS=${3:-3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TMP=$(mktemp -d /tmp/lithair-httpbench-XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    # the gateway stops its nodes first (each syncs its WAL): give it up to 10 s
    for _ in $(seq 1 100); do
        alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk"; exit 1; }
command -v etcd >/dev/null || { echo "etcd is missing: apt-get install etcd-server"; exit 1; }

# --- etcd: 3 members on loopback
CLUSTER=""
declare -a EC EP
for i in 1 2 3; do EP[$i]=$(free_port); EC[$i]=$(free_port); done
for i in 1 2 3; do CLUSTER+="e$i=http://127.0.0.1:${EP[$i]},"; done
CLUSTER=${CLUSTER%,}
for i in 1 2 3; do
    etcd --name "e$i" --data-dir "$TMP/etcd$i" \
        --listen-peer-urls "http://127.0.0.1:${EP[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${EP[$i]}" \
        --listen-client-urls "http://127.0.0.1:${EC[$i]}" --advertise-client-urls "http://127.0.0.1:${EC[$i]}" \
        --initial-cluster "$CLUSTER" --initial-cluster-state new --log-level error \
        >"$TMP/etcd$i.log" 2>&1 &
    PIDS+=($!)
done

# --- lithair: the gateway supervising 3 nodes
GWPORT=$(free_port)
"$BUILD/gateway/lithair-gateway" --listen "$GWPORT" --spawn 3 --data-dir "$TMP/lithair" \
    --frontend "$ROOT/frontend" --node-base-port 0 >"$TMP/gateway.log" 2>&1 &
GWPID=$!
PIDS+=("$GWPID")
ETCDPIDS=("${PIDS[@]:0:3}")

for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$GWPORT/healthz" >/dev/null 2>&1 &&
        curl -fsS -X POST "http://127.0.0.1:${EC[1]}/v3/kv/put" -d '{"key":"a2V5","value":"dg=="}' >/dev/null 2>&1 && break
    sleep 0.1
done
# The etcd leader takes the writes (a follower would forward them).
LEADER_URL=""
for i in 1 2 3; do
    if curl -fsS -X POST "http://127.0.0.1:${EC[$i]}/v3/maintenance/status" -d '{}' 2>/dev/null |
        python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["leader"]==d["header"]["member_id"] else 1)'; then
        LEADER_URL="http://127.0.0.1:${EC[$i]}"
    fi
done
[ -n "$LEADER_URL" ] || LEADER_URL="http://127.0.0.1:${EC[1]}"

VAL=$(head -c 256 /dev/zero | tr '\0' 'x')
cat >"$TMP/lithair.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/api/items", nil, '{"name":"w' .. n .. '","description":"$VAL"}')
end
LUA
B64VAL=$(printf '%s' "$VAL" | base64 -w0)
cat >"$TMP/etcd.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
local function b64(s)
  local b = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  return ((s:gsub('.', function(x)
    local r, c = '', x:byte()
    for i = 8, 1, -1 do r = r .. (c % 2 ^ i - c % 2 ^ (i - 1) > 0 and '1' or '0') end
    return r end) .. '0000'):gsub('%d%d%d?%d?%d?%d?', function(x)
      if #x < 6 then return '' end
      local c = 0
      for i = 1, 6 do c = c + (x:sub(i, i) == '1' and 2 ^ (6 - i) or 0) end
      return b:sub(c + 1, c + 1) end) .. ({ '', '==', '=' })[#s % 3 + 1])
end
request = function()
  n = n + 1
  return wrk.format(nil, "/v3/kv/put", nil, '{"key":"' .. b64("k" .. n) .. '","value":"$B64VAL"}')
end
LUA

# CPU seconds (user + system) the given processes have used so far.
cpu_s() {
    local p t=0
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue # gone: counts nothing
        # fields after the ")" that ends the command name: utime is the 12th, stime the 13th
        t=$(sed 's/.*) //' "/proc/$p/stat" | awk -v t="$t" '{print t + $12 + $13}')
    done
    awk -v t="${t:-0}" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.3f", t / hz}'
}
# CPU seconds this shell's finished children (wrk) had used when `times` wrote file $1
# (`times` runs in this shell: in a $(...) subshell it would count that subshell's children).
children_cpu_s() {
    tail -1 "$1" | awk '{t = 0; for (i = 1; i <= 2; i++) {split($i, a, /[ms]/); t += a[1] * 60 + a[2]} printf "%.3f", t}'
}

# run_wrk NAME URL SCRIPT "LABEL PID..." ["LABEL PID..."]: one round, then what each
# write cost in CPU (user + system): each group of server processes (the gateway, its
# nodes; the etcd members) and wrk, in microseconds — their CPU over the round divided by
# the requests wrk made.
run_wrk() {
    local name=$1 url=$2 script=$3
    shift 3
    local -a before after
    local g i cpu
    for g in "$@"; do
        # shellcheck disable=SC2086 # a group is "LABEL PID PID ...": split on purpose
        before+=("$(cpu_s ${g#* })")
    done
    times >"$TMP/times0"
    if ! wrk -t2 -c64 -d"${SECS}s" --latency -s "$script" "$url" >"$TMP/wrk.out" 2>&1; then
        echo "wrk failed against $name:" >&2
        cat "$TMP/wrk.out" >&2
        exit 1
    fi
    times >"$TMP/times1"
    for g in "$@"; do
        # shellcheck disable=SC2086
        after+=("$(cpu_s ${g#* })")
    done
    cpu=""
    i=0
    for g in "$@"; do
        cpu+="${g%% *} $(awk -v a="${before[$i]}" -v b="${after[$i]}" 'BEGIN {print b - a}') "
        i=$((i + 1))
    done
    cpu+="wrk $(awk -v a="$(children_cpu_s "$TMP/times0")" -v b="$(children_cpu_s "$TMP/times1")" 'BEGIN {print b - a}')"
    awk -v name="$name" -v cpu="$cpu" \
        '/Requests\/sec/ {rps=$2} /^ +99%/ {p99=$2} /^ +50%/ {p50=$2}
         / requests in / {n=$1} /Non-2xx/ {bad=$NF}
         END {if (n < 1) n = 1
              k = split(cpu, f, " "); c = ""
              for (i = 1; i < k; i += 2) c = c sprintf("%s%s %.0f", c == "" ? "" : ", ", f[i], f[i + 1] * 1e6 / n)
              printf "  %-8s %10.0f writes/s   p50 %8s   p99 %8s   non-2xx %s   CPU/write (us): %s\n",
                     name, rps, p50, p99, bad+0, c}' "$TMP/wrk.out"
}

echo "http_bench $(date -u +%FT%TZ) $(uname -m) nproc=$(nproc): 64 connections, 256-byte values, ${SECS}s x ${ROUNDS}"
for r in $(seq 1 "$ROUNDS"); do
    echo "round $r"
    run_wrk lithair "http://127.0.0.1:$GWPORT" "$TMP/lithair.lua" \
        "gateway $GWPID" "nodes $(pgrep -P "$GWPID" | tr '\n' ' ')"
    run_wrk etcd "$LEADER_URL" "$TMP/etcd.lua" "members ${ETCDPIDS[*]}"
done

echo "cluster status latency while writes saturate the cluster:"
wrk -t1 -c64 -d"${SECS}s" -s "$TMP/lithair.lua" "http://127.0.0.1:$GWPORT" >/dev/null 2>&1 &
W=$!
sleep 1
wrk -t1 -c2 -d"$((SECS > 3 ? SECS - 2 : 1))s" --latency "http://127.0.0.1:$GWPORT/_playground/cluster/status" 2>&1 |
    awk '/Requests\/sec/ {rps=$2} /^ +99%/ {p99=$2} /^ +50%/ {p50=$2} END {printf "  status: %s req/s, p50 %s, p99 %s\n", rps, p50, p99}'
wait $W || true
