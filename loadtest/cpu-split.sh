#!/usr/bin/env bash
# Where a server's CPU per request goes (issue 21, items 3 and 4): user and system time apart, and
# optionally system calls per request. Servers pinned to SERVER_CPU, the generator to GEN_CPU, as in
# pinned.sh: Trackstar with the feed off on io_uring and on epoll, the libuv floor, the io_uring floor.
# For every round and server (alternated) and mode (keep-alive, one connection per click), prints
#   MODE SERVER requests/s  user-µs/req  sys-µs/req  total-µs/req
# from /proc/PID/stat utime and stime read around a tsload run without warm-up. STRACE=1 instead
# attaches `strace -c -f` for one run per server and mode and prints system calls per request
# (strace slows the server: only the counts mean anything). Run from the repository root after
# `make release` and `cd loadtest && swift build -c release`.
# A/B runs: `base-uring` / `base-epoll` run the binary BASE (another build, e.g. main's) like Trackstar;
# a name ending in `-without=CUTS` (e.g. `trackstar-uring-without=defer_accept,receive_once`) runs it
# with TRACKSTAR_IO_WITHOUT=CUTS, the per-connection cuts of issue 21 item 3 switched off.
# SINK=sqlite runs the Trackstar servers with the default SQLite feed and counts CPU until the server
# has been idle for half a second (the exporter's catch-up included), e.g. to A/B exporter changes.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-64}
CLOSE_CONNECTIONS=${CLOSE_CONNECTIONS:-16}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
STRACE=${STRACE:-0}
MODES=${MODES:-"keepalive close"}
SINK=${SINK:-none}   # SINK=sqlite: Trackstar in its default configuration, CPU counted until idle again
SERVERS=${SERVERS:-"trackstar-uring trackstar-epoll floor floor-uring"}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRACKSTAR=${TRACKSTAR:-$ROOT/.build/release/trackstar}
BIN=${BIN:-$ROOT/loadtest/.build/release}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/trackstar-split.XXXXXX")
STARTED=()
declare -A PORT PID

LOG_PREFIX=cpu-split
. "$ROOT/loadtest/lib.sh"

# Like lib.sh's, but waits up to 60 s (a fresh data dir's index takes seconds to map on a busy core).
wait_for() {
    local file=$1 pattern=$2
    for _ in $(seq 600); do
        if grep -q "$pattern" "$file" 2>/dev/null; then grep -m1 "$pattern" "$file"; return 0; fi
        sleep 0.1
    done
    log "timed out waiting for '$pattern' in $file:"; cat "$file" >&2; return 1
}

# start_trackstar NAME IO [BINARY [WITHOUT]]
start_trackstar() {
    local name=$1 io=$2 binary=${3:-$TRACKSTAR} without=${4:-} dir=$WORK/$1
    mkdir -p "$dir"
    "$BIN/tsload" trackstar-config --listen 127.0.0.1:0 --data-dir "$dir/data" --extra "[export]
sink = \"$SINK\"" > "$dir/trackstar.toml"
    TRACKSTAR_IO_WITHOUT=$without taskset -c "$SERVER_CPU" "$binary" serve --config "$dir/trackstar.toml" --loops 1 \
        --io "$io" --admin-listen off > "$dir/out.log" 2>&1 &
    PID[$name]=$!; STARTED+=("$!")
    PORT[$name]=$(wait_for "$dir/out.log" "listening on" | port_of)
}

start_floor() {
    local name=$1 binary=$2
    taskset -c "$SERVER_CPU" "$BIN/$binary" --threads 1 > "$WORK/$name.log" 2>&1 &
    PID[$name]=$!; STARTED+=("$!")
    PORT[$name]=$(wait_for "$WORK/$name.log" "listening on" | port_of)
}

# utime and stime (clock ticks) of PID, all threads.
ticks() { awk '{ sub(/^.*\) /, ""); print $12, $13 }' "/proc/$1/stat"; }

# measure MODE SERVER
measure() {
    local mode=$1 server=$2 options=(--scenario clicks --connections "$CONNECTIONS") before after line requests rate
    [ "$mode" = close ] && options=(--scenario clicks --connections "$CLOSE_CONNECTIONS" --close)
    if [ "$STRACE" = 1 ]; then
        strace -c -f -o "$WORK/strace.txt" -p "${PID[$server]}" 2>/dev/null &
        local tracer=$!
        sleep 1
    fi
    before=$(ticks "${PID[$server]}")
    line=$(taskset -c "$GEN_CPU" "$BIN/tsload" --json --url "http://127.0.0.1:${PORT[$server]}" --duration "$DURATION" --warmup 0 \
        --threads 1 "${options[@]}")
    [ "$SINK" = none ] || wait_until_idle "${PID[$server]}"  # the exporter's catch-up counts
    after=$(ticks "${PID[$server]}")
    read -r requests rate < <(python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["requests"], d["perSecond"])' <<< "$line")
    if [ "$STRACE" = 1 ]; then
        kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
        echo "== $mode $server: $requests requests; system calls per request"
        awk -v n="$requests" '$1 ~ /^[0-9.]+$/ && NF >= 5 { name = $NF; calls = $4; printf "  %-18s %8.3f\n", name, calls / n }' "$WORK/strace.txt" \
            | sort -k2 -nr
        return
    fi
    awk -v b="$before" -v a="$after" -v n="$requests" -v r="$rate" -v m="$mode" -v s="$server" -v hz="$(getconf CLK_TCK)" 'BEGIN {
        split(b, x, " "); split(a, y, " ")
        u = (y[1] - x[1]) * 1e6 / hz / n; k = (y[2] - x[2]) * 1e6 / hz / n
        printf "%-9s %-28s %8.0f/s  user %6.2f  sys %6.2f  total %6.2f µs/req\n", m, s, r, u, k, u + k }'
}

for server in $SERVERS; do
    without=
    [[ $server == *-without=* ]] && without=${server#*-without=}
    case ${server%%-without=*} in
        trackstar-uring) start_trackstar "$server" io_uring "$TRACKSTAR" "$without" ;;
        trackstar-epoll) start_trackstar "$server" epoll "$TRACKSTAR" "$without" ;;
        base-uring) start_trackstar "$server" io_uring "${BASE:?BASE=binary to compare with}" "$without" ;;
        base-epoll) start_trackstar "$server" epoll "${BASE:?BASE=binary to compare with}" "$without" ;;
        floor) start_floor floor tsfloor ;;
        floor-uring) start_floor floor-uring tsfloor-uring ;;
    esac
done
read -r -a LIST <<< "$SERVERS"
for round in $(seq "$ROUNDS"); do
    for mode in $MODES; do
        for i in "${!LIST[@]}"; do
            measure "$mode" "${LIST[$(( (i + round) % ${#LIST[@]} ))]}"
        done
    done
done
