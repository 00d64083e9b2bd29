#!/usr/bin/env bash
# User-space instructions per request and per connection (issue 21, item 3), exact under any load:
# each server runs under callgrind with one loop; after a warm-up the counters are zeroed, tsload
# drives DURATION seconds (2 connections: keep-alive, then one connection per click with --close),
# the counters are dumped, and Ir per request = the request loop thread's Ir (inclusive cost of
# `LoopServer.run`; the floor: the whole dump) / requests answered. Background threads (snapshots,
# keeper, timers) cost per second, not per request, so they are left out. The difference
# close − keep-alive is what a connection costs on top of its click. KEEP=DIR keeps the dumps. Prints
#   SERVER MODE requests Ir/request
#   SERVER per connection: Ir
# Run from the repository root after `make release` and `cd loadtest && swift build -c release`.
# TRACKSTAR and BIN override the binaries (to compare builds). Trackstar runs with `--geo off` and a
# 64 Ki-entry first index generation, so that it starts under valgrind in reasonable time.
set -euo pipefail

DURATION=${DURATION:-10}
SERVERS=${SERVERS:-"trackstar-uring trackstar-epoll floor"}
MODES=${MODES:-"keepalive close"}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRACKSTAR=${TRACKSTAR:-$ROOT/.build/release/trackstar}
BIN=${BIN:-$ROOT/loadtest/.build/release}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/trackstar-conn-ir.XXXXXX")
STARTED=()

LOG_PREFIX=conn-ir
. "$ROOT/loadtest/lib.sh"

# Like lib.sh's, but waits up to 10 minutes (valgrind starts the server slowly).
wait_for() {
    local file=$1 pattern=$2
    for _ in $(seq 6000); do
        if grep -q "$pattern" "$file" 2>/dev/null; then grep -m1 "$pattern" "$file"; return 0; fi
        sleep 0.1
    done
    log "timed out waiting for '$pattern' in $file:"; cat "$file" >&2; return 1
}

# run SERVER MODE: prints "SERVER MODE requests Ir/request".
run() {
    local server=$1 mode=$2 dir=$WORK/$1-$2 options=(--connections 2) pid port line requests total
    mkdir -p "$dir"
    [ "$mode" = close ] && options+=(--close)
    case $server in
        trackstar-*)
            local io=epoll
            [ "$server" = trackstar-uring ] && io=io_uring
            cp "$TRACKSTAR" "$dir/trackstar" && strip -g "$dir/trackstar"
            # A small first index generation: mapping and zeroing 16 MiB under valgrind takes minutes.
            "$BIN/tsload" trackstar-config --listen 127.0.0.1:0 --data-dir "$dir/data" --extra "[export]
sink = \"none\"" | sed 's/^max_conversions = .*/&\nindex_initial_capacity = 65536/' > "$dir/trackstar.toml"
            valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" "$dir/trackstar" serve \
                --config "$dir/trackstar.toml" --loops 1 --io "$io" --admin-listen off --geo off \
                > "$dir/out.log" 2>&1 &
            ;;
        floor)
            cp "$BIN/tsfloor" "$dir/tsfloor" && strip -g "$dir/tsfloor"
            valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" "$dir/tsfloor" --threads 1 \
                > "$dir/out.log" 2>&1 &
            ;;
    esac
    pid=$!; STARTED+=("$pid")
    port=$(wait_for "$dir/out.log" "listening on" | port_of)
    "$BIN/tsload" --url "http://127.0.0.1:$port" --duration 3 --warmup 0 "${options[@]}" --json > /dev/null
    callgrind_control -z "$pid" > /dev/null
    line=$("$BIN/tsload" --url "http://127.0.0.1:$port" --duration "$DURATION" --warmup 0 "${options[@]}" --json)
    callgrind_control -d "$pid" > /dev/null
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    requests=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["requests"])' <<< "$line")
    # The dump callgrind_control asked for is the newest numbered file (the exit writes the plain one).
    local dump
    dump=$(ls -t "$dir"/callgrind.out.* 2>/dev/null | head -1)
    dump=${dump:-$dir/callgrind.out}
    if [ "$server" = floor ]; then
        total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ && !f { gsub(",", "", $1); print $1; f = 1 }')
    else
        total=$(callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null | awk '/10LoopServerC3runyyF/ && !f { gsub(",", "", $1); print $1; f = 1 }')
    fi
    if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; cp "$dump" "$KEEP/$server-$mode.callgrind"; fi
    echo "$server $mode $requests $(( total / requests ))"
}

for server in $SERVERS; do
    declare -A IR=()
    for mode in $MODES; do
        run "$server" "$mode" > "$WORK/result"
        read -r _ _ requests ir < "$WORK/result"
        IR[$mode]=$ir
        printf '%-16s %-9s %8d requests  %7d Ir/request\n' "$server" "$mode" "$requests" "$ir"
    done
    if [ -n "${IR[keepalive]:-}" ] && [ -n "${IR[close]:-}" ]; then
        printf '%-16s per connection: %d Ir\n' "$server" $(( IR[close] - IR[keepalive] ))
    fi
    unset IR
done
